/*
 * body: dispatch a message body to the codec of its message code.
 */
#include <string.h>

#include "body.h"

static const struct {
	uint16_t code;
	enum p2p_body_type type;
} body_types[] = {
	{ P2P_PROBE_REQ, P2P_BODY_PROBE_REQ },
	{ P2P_PROBE_ANS, P2P_BODY_PROBE_ANS },
	{ P2P_ATTACH_REQ, P2P_BODY_ATTACH },
	{ P2P_ATTACH_ANS, P2P_BODY_ATTACH },
	{ P2P_STORE_REQ, P2P_BODY_STORE_REQ },
	{ P2P_STORE_ANS, P2P_BODY_STORE_ANS },
	{ P2P_FETCH_REQ, P2P_BODY_FETCH_REQ },
	{ P2P_FETCH_ANS, P2P_BODY_FETCH_ANS },
	{ P2P_FIND_REQ, P2P_BODY_FIND_REQ },
	{ P2P_FIND_ANS, P2P_BODY_FIND_ANS },
	{ P2P_JOIN_REQ, P2P_BODY_JOIN_REQ },
	{ P2P_JOIN_ANS, P2P_BODY_JOIN_ANS },
	{ P2P_LEAVE_REQ, P2P_BODY_LEAVE_REQ },
	{ P2P_LEAVE_ANS, P2P_BODY_EMPTY },
	{ P2P_UPDATE_REQ, P2P_BODY_UPDATE_REQ },
	{ P2P_UPDATE_ANS, P2P_BODY_EMPTY },
	{ P2P_ROUTE_QUERY_REQ, P2P_BODY_ROUTE_QUERY_REQ },
	{ P2P_ROUTE_QUERY_ANS, P2P_BODY_ROUTE_QUERY_ANS },
	{ P2P_PING_REQ, P2P_BODY_PING_REQ },
	{ P2P_PING_ANS, P2P_BODY_PING_ANS },
	{ P2P_STAT_REQ, P2P_BODY_STAT_REQ },
	{ P2P_STAT_ANS, P2P_BODY_STAT_ANS },
	{ P2P_APP_ATTACH_REQ, P2P_BODY_APP_ATTACH },
	{ P2P_APP_ATTACH_ANS, P2P_BODY_APP_ATTACH },
	{ P2P_CONFIG_UPDATE_REQ, P2P_BODY_CONFIG_UPDATE_REQ },
	{ P2P_CONFIG_UPDATE_ANS, P2P_BODY_EMPTY },
	{ P2P_PATH_TRACK_REQ, P2P_BODY_PATH_TRACK_REQ },
	{ P2P_PATH_TRACK_ANS, P2P_BODY_PATH_TRACK_ANS },
	{ P2P_ERROR, P2P_BODY_ERROR },
};

enum p2p_body_type
p2p_body_type_of(uint16_t code)
{
	size_t i;

	for (i = 0; i < sizeof(body_types) / sizeof(body_types[0]); i++)
		if (body_types[i].code == code)
			return body_types[i].type;
	return P2P_BODY_NONE;
}

/* The codecs of RFC 6940 s6.4-s6.5 and s6.3.3.1. */
static int
decode_link(enum p2p_body_type t, p2p_bytes in, p2p_arena *a, p2p_body *o,
    p2p_err *err)
{
	switch (t) {
	case P2P_BODY_EMPTY:
		return p2p_empty_body_decode(in, err);
	case P2P_BODY_PROBE_REQ:
		return p2p_probe_req_decode(in, a, &o->u.probe_req, err);
	case P2P_BODY_PROBE_ANS:
		return p2p_probe_ans_decode(in, a, &o->u.probe_ans, err);
	case P2P_BODY_ATTACH:
		return p2p_attach_decode(in, a, &o->u.attach, err);
	case P2P_BODY_APP_ATTACH:
		return p2p_app_attach_decode(in, a, &o->u.app_attach, err);
	case P2P_BODY_PING_REQ:
		return p2p_ping_req_decode(in, a, &o->u.ping_req, err);
	case P2P_BODY_PING_ANS:
		return p2p_ping_ans_decode(in, a, &o->u.ping_ans, err);
	case P2P_BODY_JOIN_REQ:
		return p2p_join_req_decode(in, a, &o->u.join_req, err);
	case P2P_BODY_JOIN_ANS:
		return p2p_join_ans_decode(in, a, &o->u.join_ans, err);
	case P2P_BODY_LEAVE_REQ:
		return p2p_leave_req_decode(in, a, &o->u.leave_req, err);
	case P2P_BODY_UPDATE_REQ:
		return p2p_update_req_decode(in, a, &o->u.update_req, err);
	case P2P_BODY_ROUTE_QUERY_REQ:
		return p2p_route_query_req_decode(in, a,
		    &o->u.route_query_req, err);
	case P2P_BODY_ROUTE_QUERY_ANS:
		return p2p_route_query_ans_decode(in, a,
		    &o->u.route_query_ans, err);
	case P2P_BODY_CONFIG_UPDATE_REQ:
		return p2p_config_update_req_decode(in, a,
		    &o->u.config_update_req, err);
	case P2P_BODY_ERROR:
		return p2p_error_decode(in, a, &o->u.error, err);
	default:
		break;
	}
	p2p_err_set(err, P2P_ERR_INVALID_MESSAGE, "no codec for body", 0);
	return -1;
}

/* The storage codecs (s7) and PathTrack (RFC 7851). */
static int
decode_other(enum p2p_body_type t, p2p_bytes in, const p2p_kind_lookup *lk,
    p2p_arena *a, p2p_body *o, p2p_err *err)
{
	switch (t) {
	case P2P_BODY_STORE_REQ:
		return p2p_store_req_decode(in, a, lk, &o->u.store_req, err);
	case P2P_BODY_STORE_ANS:
		return p2p_store_ans_decode(in, a, &o->u.store_ans, err);
	case P2P_BODY_FETCH_REQ:
		return p2p_fetch_req_decode(in, a, lk, &o->u.fetch_req, err);
	case P2P_BODY_FETCH_ANS:
		return p2p_fetch_ans_decode(in, a, lk, &o->u.fetch_ans, err);
	case P2P_BODY_STAT_REQ:
		return p2p_stat_req_decode(in, a, lk, &o->u.stat_req, err);
	case P2P_BODY_STAT_ANS:
		return p2p_stat_ans_decode(in, a, lk, &o->u.stat_ans, err);
	case P2P_BODY_FIND_REQ:
		return p2p_find_req_decode(in, a, &o->u.find_req, err);
	case P2P_BODY_FIND_ANS:
		return p2p_find_ans_decode(in, a, &o->u.find_ans, err);
	case P2P_BODY_PATH_TRACK_REQ:
		return p2p_path_track_req_decode(in, a, &o->u.path_track_req,
		    err);
	case P2P_BODY_PATH_TRACK_ANS:
		return p2p_path_track_ans_decode(in, a, &o->u.path_track_ans,
		    err);
	default:
		break;
	}
	return decode_link(t, in, a, o, err);
}

int
p2p_body_decode(uint16_t code, p2p_bytes body, const p2p_kind_lookup *kinds,
    p2p_arena *a, p2p_body *out, p2p_err *err)
{
	enum p2p_body_type t = p2p_body_type_of(code);

	memset(out, 0, sizeof(*out));
	if (t == P2P_BODY_NONE) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "unknown message code", 0);
		return -1;
	}
	if (decode_other(t, body, kinds, a, out, err) != 0)
		return -1;
	out->type = t;
	return 0;
}

static int
encode_link(p2p_wbuf *w, const p2p_body *b)
{
	switch (b->type) {
	case P2P_BODY_EMPTY:
		return p2p_w_ok(w) ? 0 : -1;
	case P2P_BODY_PROBE_REQ:
		return p2p_probe_req_encode(w, &b->u.probe_req);
	case P2P_BODY_PROBE_ANS:
		return p2p_probe_ans_encode(w, &b->u.probe_ans);
	case P2P_BODY_ATTACH:
		return p2p_attach_encode(w, &b->u.attach);
	case P2P_BODY_APP_ATTACH:
		return p2p_app_attach_encode(w, &b->u.app_attach);
	case P2P_BODY_PING_REQ:
		return p2p_ping_req_encode(w, &b->u.ping_req);
	case P2P_BODY_PING_ANS:
		return p2p_ping_ans_encode(w, &b->u.ping_ans);
	case P2P_BODY_JOIN_REQ:
		return p2p_join_req_encode(w, &b->u.join_req);
	case P2P_BODY_JOIN_ANS:
		return p2p_join_ans_encode(w, &b->u.join_ans);
	case P2P_BODY_LEAVE_REQ:
		return p2p_leave_req_encode(w, &b->u.leave_req);
	case P2P_BODY_UPDATE_REQ:
		return p2p_update_req_encode(w, &b->u.update_req);
	case P2P_BODY_ROUTE_QUERY_REQ:
		return p2p_route_query_req_encode(w, &b->u.route_query_req);
	case P2P_BODY_ROUTE_QUERY_ANS:
		return p2p_route_query_ans_encode(w, &b->u.route_query_ans);
	case P2P_BODY_CONFIG_UPDATE_REQ:
		return p2p_config_update_req_encode(w,
		    &b->u.config_update_req);
	case P2P_BODY_ERROR:
		return p2p_error_encode(w, &b->u.error);
	default:
		break;
	}
	return -1;
}

static int
encode_other(p2p_wbuf *w, const p2p_body *b)
{
	switch (b->type) {
	case P2P_BODY_STORE_REQ:
		return p2p_store_req_encode(w, &b->u.store_req);
	case P2P_BODY_STORE_ANS:
		return p2p_store_ans_encode(w, &b->u.store_ans);
	case P2P_BODY_FETCH_REQ:
		return p2p_fetch_req_encode(w, &b->u.fetch_req);
	case P2P_BODY_FETCH_ANS:
		return p2p_fetch_ans_encode(w, &b->u.fetch_ans);
	case P2P_BODY_STAT_REQ:
		return p2p_stat_req_encode(w, &b->u.stat_req);
	case P2P_BODY_STAT_ANS:
		return p2p_stat_ans_encode(w, &b->u.stat_ans);
	case P2P_BODY_FIND_REQ:
		return p2p_find_req_encode(w, &b->u.find_req);
	case P2P_BODY_FIND_ANS:
		return p2p_find_ans_encode(w, &b->u.find_ans);
	case P2P_BODY_PATH_TRACK_REQ:
		return p2p_path_track_req_encode(w, &b->u.path_track_req);
	case P2P_BODY_PATH_TRACK_ANS:
		return p2p_path_track_ans_encode(w, &b->u.path_track_ans);
	default:
		break;
	}
	return encode_link(w, b);
}

int
p2p_body_encode(p2p_wbuf *w, uint16_t code, const p2p_body *b)
{
	enum p2p_body_type t = p2p_body_type_of(code);

	if (t == P2P_BODY_NONE || b->type != t)
		return -1;
	return encode_other(w, b);
}
