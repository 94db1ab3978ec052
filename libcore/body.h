/*
 * body: one entry point for every RELOAD message body.
 *
 * A message carries its body as bytes (p2p_msg.body) next to its message
 * code. p2p_body_decode picks the codec for the code (body_link, body_store
 * or body_diag) and fills the matching member of a tagged union;
 * p2p_body_encode does the reverse. The per-method codecs keep their own
 * conventions (see msg.h): nothing is taken from the heap, lists come from
 * the arena, opaque fields point into the input, and decode followed by
 * encode gives back the input bytes.
 *
 * LeaveAns, UpdateAns and ConfigUpdateAns have empty bodies
 * (P2P_BODY_EMPTY). An ErrorResponse (code 0xffff) is decoded as such; its
 * error_info is left as bytes, to be read with p2p_error_kinds_decode or
 * p2p_gen_error_decode when the error code calls for it.
 */
#ifndef P2P_BODY_H
#define P2P_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "body_diag.h"
#include "body_link.h"
#include "body_store.h"
#include "buf.h"
#include "msg.h"

/* Which member of p2p_body.u is in use. */
enum p2p_body_type {
	P2P_BODY_NONE = 0,		/* not a known message code */
	P2P_BODY_EMPTY,		/* LeaveAns, UpdateAns, ConfigUpdateAns */
	P2P_BODY_PROBE_REQ,
	P2P_BODY_PROBE_ANS,
	P2P_BODY_ATTACH,		/* AttachReq and AttachAns */
	P2P_BODY_APP_ATTACH,		/* AppAttachReq and AppAttachAns */
	P2P_BODY_PING_REQ,
	P2P_BODY_PING_ANS,
	P2P_BODY_JOIN_REQ,
	P2P_BODY_JOIN_ANS,
	P2P_BODY_LEAVE_REQ,
	P2P_BODY_UPDATE_REQ,
	P2P_BODY_ROUTE_QUERY_REQ,
	P2P_BODY_ROUTE_QUERY_ANS,
	P2P_BODY_CONFIG_UPDATE_REQ,
	P2P_BODY_ERROR,
	P2P_BODY_STORE_REQ,
	P2P_BODY_STORE_ANS,
	P2P_BODY_FETCH_REQ,
	P2P_BODY_FETCH_ANS,
	P2P_BODY_STAT_REQ,
	P2P_BODY_STAT_ANS,
	P2P_BODY_FIND_REQ,
	P2P_BODY_FIND_ANS,
	P2P_BODY_PATH_TRACK_REQ,
	P2P_BODY_PATH_TRACK_ANS,
};

typedef struct p2p_body {
	enum p2p_body_type type;
	union {
		p2p_probe_req probe_req;
		p2p_probe_ans probe_ans;
		p2p_attach attach;
		p2p_app_attach app_attach;
		p2p_ping_req ping_req;
		p2p_ping_ans ping_ans;
		p2p_join_req join_req;
		p2p_join_ans join_ans;
		p2p_leave_req leave_req;
		p2p_chord_update update_req;
		p2p_route_query_req route_query_req;
		p2p_route_query_ans route_query_ans;
		p2p_config_update_req config_update_req;
		p2p_error_resp error;
		p2p_store_req store_req;
		p2p_store_ans store_ans;
		p2p_fetch_req fetch_req;
		p2p_fetch_ans fetch_ans;
		p2p_stat_req stat_req;
		p2p_stat_ans stat_ans;
		p2p_find_req find_req;
		p2p_find_ans find_ans;
		p2p_path_track_req path_track_req;
		p2p_path_track_ans path_track_ans;
	} u;
} p2p_body;

/* The body type a message code carries; P2P_BODY_NONE if the code is not
 * one the codecs know. */
enum p2p_body_type p2p_body_type_of(uint16_t code);

/*
 * Decode the body of a message with this code. kinds tells the storage
 * codecs the data model of each kind (NULL: every kind is kept raw). An
 * unknown code fails with Error_Invalid_Message; a body that its codec
 * refuses fails with that codec's error. 0 on success, -1 on failure.
 */
int p2p_body_decode(uint16_t code, p2p_bytes body,
    const p2p_kind_lookup *kinds, p2p_arena *a, p2p_body *out, p2p_err *err);
/*
 * Encode b as the body of a message with this code. -1 when the code is
 * unknown, b->type is not the type of that code, or the codec fails.
 */
int p2p_body_encode(p2p_wbuf *w, uint16_t code, const p2p_body *b);

#endif
