/*
 * body_link: the bodies of the RELOAD link, topology and control methods
 * (RFC 6940 s6.4.2, s6.5, s10.7-s10.9) and of Error responses (s6.3.3.1).
 *
 * Probe, Attach, AppAttach, Ping, Join, Leave, Update, RouteQuery,
 * ConfigUpdate and Error, with the pieces they are made of: IpAddressPort,
 * IceCandidate, IceExtension, the Chord topology contents (ChordUpdate,
 * ChordLeaveData, ChordRouteQueryAns) and the Error_Unknown_Kind list.
 *
 * The codecs follow the conventions at the top of msg.h: decoders take the
 * whole body, fail on trailing bytes and on any length that overruns, never
 * touch the heap (lists come from the arena, opaque fields point into the
 * input) and report P2P_ERR_INVALID_MESSAGE. Encoders append to a p2p_wbuf
 * and return -1 for a struct that cannot be put on the wire (a Boolean not
 * 0 or 1, a type 0, lists that the type does not carry, a vector too long
 * for its length prefix). In every case decode followed by encode gives
 * back the input bytes.
 *
 * LeaveAns, UpdateAns and ConfigUpdateAns have empty bodies: check them
 * with p2p_empty_body_decode; their encoding is zero bytes.
 *
 * Node-IDs are the 16 bytes of CHORD-RELOAD; the all-zero Node-ID is never
 * valid on the wire and is refused wherever a Node-ID is decoded.
 */
#ifndef P2P_BODY_LINK_H
#define P2P_BODY_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "id.h"
#include "msg.h"

/* ---- building blocks ---- */

/* IpAddressPort (RFC 6940; used by IceCandidate, s6.5.1.1). */
enum p2p_addr_type {
	P2P_ADDR_IPV4 = 1,	/* length 6: addr u32, port u16 */
	P2P_ADDR_IPV6 = 2,	/* length 18: addr 16 bytes, port u16 */
};

typedef struct p2p_addr_port {
	uint8_t type;		/* p2p_addr_type, or a later type 3..255 */
	uint8_t addr[16];	/* IPv4: the first 4 bytes, network order */
	uint16_t port;
	p2p_bytes raw;		/* types 3..255: the value as it came (the
				   structure is declared extensible) */
} p2p_addr_port;

void p2p_addr_port_v4(p2p_addr_port *ap, const uint8_t addr[4],
    uint16_t port);
void p2p_addr_port_v6(p2p_addr_port *ap, const uint8_t addr[16],
    uint16_t port);
int p2p_addr_port_decode1(p2p_rbuf *r, p2p_addr_port *out, p2p_err *err);
int p2p_addr_port_encode(p2p_wbuf *w, const p2p_addr_port *ap);
/* The address of an IPv4 or IPv6 IpAddressPort as text (no port, no
 * brackets); -1 for other types or when cap is too small. */
int p2p_addr_port_host(const p2p_addr_port *ap, char *buf, size_t cap);

/* OverlayLinkType (s6.5.1.1, s14.10). */
enum p2p_link_type {
	P2P_LINK_DTLS_UDP_SR = 1,
	P2P_LINK_DTLS_UDP_SR_NO_ICE = 3,
	P2P_LINK_TLS_TCP_FH_NO_ICE = 4,
	P2P_LINK_EXP = 5,
};

/*
 * CandType (s6.5.1.1). Value 3 is reserved in RFC 6940; drafts used it for
 * peer-reflexive candidates, which carried a related address. We parse
 * and write it like srflx (with rel_addr_port), so such a candidate can be
 * decoded and skipped instead of failing the whole Attach.
 */
enum p2p_cand_type {
	P2P_CAND_HOST = 1,
	P2P_CAND_SRFLX = 2,
	P2P_CAND_PRFLX = 3,	/* reserved; see above */
	P2P_CAND_RELAY = 4,
};

/* Does a candidate of this type carry rel_addr_port? */
int p2p_cand_has_rel_addr(uint8_t type);

/* IceExtension (s6.5.1.1). */
typedef struct p2p_ice_ext {
	p2p_bytes name;		/* opaque<0..2^16-1> */
	p2p_bytes value;	/* opaque<0..2^16-1> */
} p2p_ice_ext;

/* IceCandidate (s6.5.1.1); the component id is always 1 and not sent. */
typedef struct p2p_ice_cand {
	p2p_addr_port addr;
	uint8_t overlay_link;	/* p2p_link_type; 0 is refused */
	p2p_bytes foundation;	/* opaque<0..255> */
	uint32_t priority;
	uint8_t type;		/* p2p_cand_type; 0 and 5..255 refused */
	p2p_addr_port rel_addr;	/* only when p2p_cand_has_rel_addr(type) */
	p2p_ice_ext *exts;
	size_t nexts;
} p2p_ice_cand;

int p2p_ice_cand_decode1(p2p_rbuf *r, p2p_arena *a, p2p_ice_cand *out,
    p2p_err *err);
int p2p_ice_cand_encode(p2p_wbuf *w, const p2p_ice_cand *c);
/* The inside of a candidates<0..2^16-1> vector: candidates back to back
 * (encode writes no length prefix either). */
int p2p_ice_cand_list_decode(p2p_bytes in, p2p_arena *a, p2p_ice_cand **out,
    size_t *count, p2p_err *err);
int p2p_ice_cand_list_encode(p2p_wbuf *w, const p2p_ice_cand *c,
    size_t count);
/* The inside of an extensions<0..2^16-1> vector. */
int p2p_ice_ext_list_decode(p2p_bytes in, p2p_arena *a, p2p_ice_ext **out,
    size_t *count, p2p_err *err);
int p2p_ice_ext_list_encode(p2p_wbuf *w, const p2p_ice_ext *e, size_t count);

/* ---- Probe (s6.4.2.5) ---- */

/* ProbeInformationType. */
enum p2p_probe_type {
	P2P_PROBE_RESPONSIBLE_SET = 1,	/* u32 responsible_ppb */
	P2P_PROBE_NUM_RESOURCES = 2,	/* u32 */
	P2P_PROBE_UPTIME = 3,		/* u32 seconds */
	P2P_PROBE_EXP = 4,
};

/* ProbeReq (s6.4.2.5): requested_info<0..2^8-1>, one byte per type. */
typedef struct p2p_probe_req {
	p2p_bytes types;	/* each byte a p2p_probe_type, never 0 */
} p2p_probe_req;

/* ProbeInformation (s6.4.2.5): type, u8 length, value. */
typedef struct p2p_probe_info {
	uint8_t type;
	uint32_t value;		/* known types 1..3 (length 4) */
	p2p_bytes raw;		/* any other type: its value, kept as is */
} p2p_probe_info;

/* ProbeAns (s6.4.2.5): probe_info<0..2^16-1>. */
typedef struct p2p_probe_ans {
	p2p_probe_info *info;
	size_t ninfo;
} p2p_probe_ans;

int p2p_probe_req_decode(p2p_bytes in, p2p_arena *a, p2p_probe_req *out,
    p2p_err *err);
int p2p_probe_req_encode(p2p_wbuf *w, const p2p_probe_req *in);
int p2p_probe_ans_decode(p2p_bytes in, p2p_arena *a, p2p_probe_ans *out,
    p2p_err *err);
int p2p_probe_ans_encode(p2p_wbuf *w, const p2p_probe_ans *in);

/* ---- Attach, AppAttach (s6.5.1, s6.5.2) ---- */

/* AttachReqAns (s6.5.1.1): the same body for request and answer. */
typedef struct p2p_attach {
	p2p_bytes ufrag;	/* opaque<0..2^8-1> */
	p2p_bytes password;	/* opaque<0..2^8-1> */
	p2p_bytes role;		/* opaque<0..2^8-1>: "passive" / "active" */
	p2p_ice_cand *cands;
	size_t ncands;
	uint8_t send_update;	/* Boolean */
} p2p_attach;

int p2p_attach_decode(p2p_bytes in, p2p_arena *a, p2p_attach *out,
    p2p_err *err);
int p2p_attach_encode(p2p_wbuf *w, const p2p_attach *in);

/* Application-IDs (s14.5). */
enum { P2P_APP_SIP = 5060, P2P_APP_SIPS = 5061 };

/* AppAttachReq and AppAttachAns (s6.5.2.1, s6.5.2.2): the same layout. */
typedef struct p2p_app_attach {
	p2p_bytes ufrag;	/* opaque<0..2^8-1> */
	p2p_bytes password;	/* opaque<0..2^8-1> */
	uint16_t application;	/* 0 is refused */
	p2p_bytes role;		/* opaque<0..2^8-1> */
	p2p_ice_cand *cands;
	size_t ncands;
} p2p_app_attach;

int p2p_app_attach_decode(p2p_bytes in, p2p_arena *a, p2p_app_attach *out,
    p2p_err *err);
int p2p_app_attach_encode(p2p_wbuf *w, const p2p_app_attach *in);

/* ---- Ping (s6.5.3) ---- */

/* PingReq (s6.5.3.1). */
typedef struct p2p_ping_req {
	p2p_bytes padding;	/* opaque<0..2^16-1> */
} p2p_ping_req;

/* PingAns (s6.5.3.2). */
typedef struct p2p_ping_ans {
	uint64_t response_id;
	uint64_t time;		/* ms since 1970-01-01 */
} p2p_ping_ans;

int p2p_ping_req_decode(p2p_bytes in, p2p_arena *a, p2p_ping_req *out,
    p2p_err *err);
int p2p_ping_req_encode(p2p_wbuf *w, const p2p_ping_req *in);
int p2p_ping_ans_decode(p2p_bytes in, p2p_arena *a, p2p_ping_ans *out,
    p2p_err *err);
int p2p_ping_ans_encode(p2p_wbuf *w, const p2p_ping_ans *in);

/* ---- Join, Leave (s6.4.2.1, s6.4.2.2, s10.9) ---- */

/* JoinReq (s6.4.2.1); CHORD-RELOAD sends no overlay data. */
typedef struct p2p_join_req {
	p2p_id joining_peer_id;
	p2p_bytes overlay_data;	/* opaque<0..2^16-1> */
} p2p_join_req;

/* JoinAns (s6.4.2.1). */
typedef struct p2p_join_ans {
	p2p_bytes overlay_data;	/* opaque<0..2^16-1> */
} p2p_join_ans;

/* LeaveReq (s6.4.2.2); for Chord overlay_data holds a ChordLeaveData. */
typedef struct p2p_leave_req {
	p2p_id leaving_peer_id;
	p2p_bytes overlay_data;	/* opaque<0..2^16-1> */
} p2p_leave_req;

int p2p_join_req_decode(p2p_bytes in, p2p_arena *a, p2p_join_req *out,
    p2p_err *err);
int p2p_join_req_encode(p2p_wbuf *w, const p2p_join_req *in);
int p2p_join_ans_decode(p2p_bytes in, p2p_arena *a, p2p_join_ans *out,
    p2p_err *err);
int p2p_join_ans_encode(p2p_wbuf *w, const p2p_join_ans *in);
int p2p_leave_req_decode(p2p_bytes in, p2p_arena *a, p2p_leave_req *out,
    p2p_err *err);
int p2p_leave_req_encode(p2p_wbuf *w, const p2p_leave_req *in);

/* ChordLeaveType (s10.9). */
enum p2p_chord_leave_type {
	P2P_LEAVE_FROM_SUCC = 1,	/* the sender's successor list */
	P2P_LEAVE_FROM_PRED = 2,	/* the sender's predecessor list */
};

/* ChordLeaveData (s10.9): the overlay_data of a Chord LeaveReq. */
typedef struct p2p_chord_leave {
	uint8_t type;		/* p2p_chord_leave_type */
	p2p_id *ids;		/* successors or predecessors */
	size_t nids;
} p2p_chord_leave;

/* in = the LeaveReq's overlay_data; encode writes those bytes. */
int p2p_chord_leave_decode(p2p_bytes in, p2p_arena *a, p2p_chord_leave *out,
    p2p_err *err);
int p2p_chord_leave_encode(p2p_wbuf *w, const p2p_chord_leave *in);

/* ---- Update (s6.4.2.3, s10.7) ---- */

/* ChordUpdateType (s10.7). */
enum p2p_chord_update_type {
	P2P_UPDATE_PEER_READY = 1,	/* no lists */
	P2P_UPDATE_NEIGHBORS = 2,	/* predecessors, successors */
	P2P_UPDATE_FULL = 3,		/* predecessors, successors, fingers */
};

/* ChordUpdate (s10.7): the UpdateReq body of CHORD-RELOAD. */
typedef struct p2p_chord_update {
	uint32_t uptime;	/* seconds */
	uint8_t type;		/* p2p_chord_update_type */
	p2p_id *preds;
	size_t npreds;
	p2p_id *succs;
	size_t nsuccs;
	p2p_id *fingers;	/* FULL only */
	size_t nfingers;
} p2p_chord_update;

int p2p_update_req_decode(p2p_bytes in, p2p_arena *a, p2p_chord_update *out,
    p2p_err *err);
int p2p_update_req_encode(p2p_wbuf *w, const p2p_chord_update *in);

/* ---- RouteQuery (s6.4.2.4, s10.8) ---- */

/* RouteQueryReq (s6.4.2.4); CHORD-RELOAD sends no overlay data. */
typedef struct p2p_route_query_req {
	uint8_t send_update;	/* Boolean */
	p2p_dest dest;
	p2p_bytes overlay_data;	/* opaque<0..2^16-1> */
} p2p_route_query_req;

/* ChordRouteQueryAns (s10.8): the whole RouteQueryAns body. */
typedef struct p2p_route_query_ans {
	p2p_id next_peer;
} p2p_route_query_ans;

int p2p_route_query_req_decode(p2p_bytes in, p2p_arena *a,
    p2p_route_query_req *out, p2p_err *err);
int p2p_route_query_req_encode(p2p_wbuf *w, const p2p_route_query_req *in);
int p2p_route_query_ans_decode(p2p_bytes in, p2p_arena *a,
    p2p_route_query_ans *out, p2p_err *err);
int p2p_route_query_ans_encode(p2p_wbuf *w, const p2p_route_query_ans *in);

/* ---- ConfigUpdate (s6.5.4) ---- */

/* ConfigUpdateType (s6.5.4.1). */
enum p2p_config_update_type {
	P2P_CONFIG_UPDATE_CONFIG = 1,
	P2P_CONFIG_UPDATE_KIND = 2,
};

/* ConfigUpdateReq (s6.5.4.1): type, u32 length of the rest, then data. */
typedef struct p2p_config_update_req {
	uint8_t type;		/* p2p_config_update_type or later */
	p2p_bytes config;	/* CONFIG: the XML document, opaque<0..2^24-1> */
	p2p_bytes *kinds;	/* KIND: one <kind> block each, opaque<0..2^16-1>,
				   listed in a <0..2^24-1> vector */
	size_t nkinds;
	p2p_bytes raw;		/* types 3..255: the data after the length */
} p2p_config_update_req;

int p2p_config_update_req_decode(p2p_bytes in, p2p_arena *a,
    p2p_config_update_req *out, p2p_err *err);
int p2p_config_update_req_encode(p2p_wbuf *w,
    const p2p_config_update_req *in);

/* ---- empty answers ---- */

/* LeaveAns, UpdateAns, ConfigUpdateAns: the body must be empty. */
int p2p_empty_body_decode(p2p_bytes in, p2p_err *err);

/* ---- Error (s6.3.3.1) ---- */

/* ErrorResponse (s6.3.3.1): the body of a message with code 0xffff. */
typedef struct p2p_error_resp {
	uint16_t code;		/* p2p_error_code; 0 is refused */
	p2p_bytes info;		/* opaque<0..2^16-1>: UTF-8 text, or one of
				   the structured forms below */
} p2p_error_resp;

int p2p_error_decode(p2p_bytes in, p2p_arena *a, p2p_error_resp *out,
    p2p_err *err);
int p2p_error_encode(p2p_wbuf *w, const p2p_error_resp *in);

/*
 * error_info of Error_Unknown_Kind (s6.3.3.1, s7.4.1.2):
 * KindId unknown_kinds<0..2^8-1>. Kind 0 is refused. (The StoreAns form of
 * Error_Generation_Counter_Too_Low belongs to the storage codec.)
 */
int p2p_error_kinds_decode(p2p_bytes info, p2p_arena *a, uint32_t **kinds,
    size_t *count, p2p_err *err);
int p2p_error_kinds_encode(p2p_wbuf *w, const uint32_t *kinds, size_t count);

#endif
