#include "unit.h"

#include "body_link.h"

static _Alignas(16) uint8_t arena_mem[1 << 16];
static p2p_arena arena;

static p2p_arena *
fresh_arena(void)
{
	p2p_arena_init(&arena, arena_mem, sizeof(arena_mem));
	return &arena;
}

static p2p_bytes
B(const void *p, size_t len)
{
	p2p_bytes b = { p, len };
	return b;
}

static p2p_bytes
S(const char *s)
{
	return B(s, strlen(s));
}

static void
assert_bytes(p2p_bytes got, p2p_bytes want)
{
	assert_int_equal(got.len, want.len);
	if (want.len > 0)
		assert_memory_equal(got.p, want.p, want.len);
}

static void
assert_bytes_str(p2p_bytes got, const char *want)
{
	assert_bytes(got, S(want));
}

static p2p_id
mkid(uint8_t seed)
{
	p2p_id id;

	for (int i = 0; i < P2P_ID_LEN; i++)
		id.b[i] = (uint8_t)(seed * 17 + i + 1);
	return id;
}

/*
 * Every body codec seen through one signature, so the generic checks
 * (truncation, trailing bytes, decode -> encode) can loop over them. The
 * decoded struct lives in a union owned by the caller.
 */
typedef union any_body {
	p2p_probe_req probe_req;
	p2p_probe_ans probe_ans;
	p2p_attach attach;
	p2p_app_attach app_attach;
	p2p_ping_req ping_req;
	p2p_ping_ans ping_ans;
	p2p_join_req join_req;
	p2p_join_ans join_ans;
	p2p_leave_req leave_req;
	p2p_chord_leave chord_leave;
	p2p_chord_update update;
	p2p_route_query_req rq_req;
	p2p_route_query_ans rq_ans;
	p2p_config_update_req config;
	p2p_error_resp error;
} any_body;

typedef struct codec {
	const char *name;
	int (*decode)(p2p_bytes, p2p_arena *, any_body *, p2p_err *);
	int (*encode)(p2p_wbuf *, const any_body *);
} codec;

#define CODEC(name, field, dec, enc)					\
static int								\
name##_dec(p2p_bytes in, p2p_arena *a, any_body *o, p2p_err *e)	\
{									\
	return dec(in, a, &o->field, e);				\
}									\
static int								\
name##_enc(p2p_wbuf *w, const any_body *o)				\
{									\
	return enc(w, &o->field);					\
}									\
static const codec name = { #name, name##_dec, name##_enc };

CODEC(c_probe_req, probe_req, p2p_probe_req_decode, p2p_probe_req_encode)
CODEC(c_probe_ans, probe_ans, p2p_probe_ans_decode, p2p_probe_ans_encode)
CODEC(c_attach, attach, p2p_attach_decode, p2p_attach_encode)
CODEC(c_app_attach, app_attach, p2p_app_attach_decode, p2p_app_attach_encode)
CODEC(c_ping_req, ping_req, p2p_ping_req_decode, p2p_ping_req_encode)
CODEC(c_ping_ans, ping_ans, p2p_ping_ans_decode, p2p_ping_ans_encode)
CODEC(c_join_req, join_req, p2p_join_req_decode, p2p_join_req_encode)
CODEC(c_join_ans, join_ans, p2p_join_ans_decode, p2p_join_ans_encode)
CODEC(c_leave_req, leave_req, p2p_leave_req_decode, p2p_leave_req_encode)
CODEC(c_chord_leave, chord_leave, p2p_chord_leave_decode,
    p2p_chord_leave_encode)
CODEC(c_update, update, p2p_update_req_decode, p2p_update_req_encode)
CODEC(c_rq_req, rq_req, p2p_route_query_req_decode,
    p2p_route_query_req_encode)
CODEC(c_rq_ans, rq_ans, p2p_route_query_ans_decode,
    p2p_route_query_ans_encode)
CODEC(c_config, config, p2p_config_update_req_decode,
    p2p_config_update_req_encode)
CODEC(c_error, error, p2p_error_decode, p2p_error_encode)

/* Decode into *out; -1 on failure. */
static int
dec(const codec *c, const uint8_t *p, size_t len, any_body *out)
{
	p2p_err err = { 0, NULL, 0 };
	int rc;

	rc = c->decode(B(p, len), fresh_arena(), out, &err);
	if (rc != 0) {
		assert_int_equal(rc, -1);
		assert_non_null(err.what);
		assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
		assert_true(err.offset <= len);
	}
	return rc;
}

/*
 * The checks every valid encoding gets: it decodes; re-encoding the decoded
 * struct gives the same bytes; every strict prefix (in an exactly-sized
 * heap copy, so ASan sees over-reads) and the body plus one byte fail.
 */
static void
check_encoding(const codec *c, const uint8_t *p, size_t len)
{
	any_body d;
	p2p_wbuf w;

	if (dec(c, p, len, &d) != 0)
		fail_msg("%s: valid body refused", c->name);
	p2p_w_init(&w, 0);
	assert_int_equal(c->encode(&w, &d), 0);
	assert_int_equal(w.len, len);
	assert_memory_equal(w.p, p, len);
	p2p_w_free(&w);

	for (size_t n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, p, n);
		if (dec(c, cut, n, &d) != -1)
			fail_msg("%s: prefix of %zu/%zu bytes accepted", c->name,
			    n, len);
		free(cut);
	}

	uint8_t *more = malloc(len + 1);
	assert_non_null(more);
	memcpy(more, p, len);
	more[len] = 0;
	if (dec(c, more, len + 1, &d) != -1)
		fail_msg("%s: trailing byte accepted", c->name);
	free(more);
}

/* Encode in, run check_encoding on the bytes, decode them into *out. The
 * caller frees *w. */
static void
round_trip(const codec *c, const any_body *in, any_body *out, p2p_wbuf *w)
{
	p2p_w_init(w, 0);
	assert_int_equal(c->encode(w, in), 0);
	check_encoding(c, w->p, w->len);
	assert_int_equal(dec(c, w->p, w->len, out), 0);
}

/* A hex string that must fail to decode. */
static void
refuse_hex(const codec *c, const char *hex)
{
	uint8_t buf[512];
	size_t n = unit_hex(hex, buf, sizeof(buf));
	uint8_t *exact = malloc(n ? n : 1);
	any_body d;

	memcpy(exact, buf, n);
	if (dec(c, exact, n, &d) != -1)
		fail_msg("%s: accepted %s", c->name, hex);
	free(exact);
}

static void
accept_hex(const codec *c, const char *hex, any_body *out, uint8_t *buf,
    size_t cap)
{
	size_t n = unit_hex(hex, buf, cap);

	if (dec(c, buf, n, out) != 0)
		fail_msg("%s: refused %s", c->name, hex);
	check_encoding(c, buf, n);
	assert_int_equal(dec(c, buf, n, out), 0);
}

/* ---- sample candidates ---- */

static const uint8_t v4a[4] = { 192, 0, 2, 1 };
static const uint8_t v4b[4] = { 198, 51, 100, 7 };
static const uint8_t v6a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t v6b[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xee, 0, 0,
    0, 0, 0, 0, 0xab, 0xcd, 0, 0x42 };

static p2p_ice_ext exts_a[1];
static p2p_ice_ext exts_c[2];

static void
sample_cands(p2p_ice_cand *c)
{
	exts_a[0].name = S("network-id");
	exts_a[0].value = S("3");
	exts_c[0].name = S("generation");
	exts_c[0].value = S("0");
	exts_c[1].name = S("empty-value");
	exts_c[1].value = B(NULL, 0);

	memset(c, 0, 3 * sizeof(*c));
	p2p_addr_port_v4(&c[0].addr, v4a, 6084);
	c[0].overlay_link = P2P_LINK_DTLS_UDP_SR;
	c[0].foundation = S("1");
	c[0].priority = 0x7effffff;
	c[0].type = P2P_CAND_HOST;
	c[0].exts = exts_a;
	c[0].nexts = 1;

	p2p_addr_port_v6(&c[1].addr, v6a, 40000);
	c[1].overlay_link = P2P_LINK_DTLS_UDP_SR;
	c[1].foundation = S("srflx-2");
	c[1].priority = 0x64ffffff;
	c[1].type = P2P_CAND_SRFLX;
	p2p_addr_port_v4(&c[1].rel_addr, v4b, 5555);

	p2p_addr_port_v6(&c[2].addr, v6b, 3478);
	c[2].overlay_link = P2P_LINK_DTLS_UDP_SR;
	c[2].foundation = B(NULL, 0);
	c[2].priority = 0x00ffffff;
	c[2].type = P2P_CAND_RELAY;
	p2p_addr_port_v6(&c[2].rel_addr, v6a, 1);
	c[2].exts = exts_c;
	c[2].nexts = 2;
}

static void
assert_addr_equal(const p2p_addr_port *a, const p2p_addr_port *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->port, b->port);
	assert_memory_equal(a->addr, b->addr, sizeof(a->addr));
	assert_bytes(a->raw, b->raw);
}

static void
assert_cand_equal(const p2p_ice_cand *a, const p2p_ice_cand *b)
{
	assert_addr_equal(&a->addr, &b->addr);
	assert_int_equal(a->overlay_link, b->overlay_link);
	assert_bytes(a->foundation, b->foundation);
	assert_int_equal(a->priority, b->priority);
	assert_int_equal(a->type, b->type);
	if (p2p_cand_has_rel_addr(a->type))
		assert_addr_equal(&a->rel_addr, &b->rel_addr);
	assert_int_equal(a->nexts, b->nexts);
	for (size_t i = 0; i < a->nexts; i++) {
		assert_bytes(a->exts[i].name, b->exts[i].name);
		assert_bytes(a->exts[i].value, b->exts[i].value);
	}
}

/* ---- round trips ---- */

static void
test_attach_round_trip(void **state)
{
	p2p_ice_cand c[3];
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	sample_cands(c);
	memset(&in, 0, sizeof(in));
	in.attach.ufrag = S("8hhY");
	in.attach.password = S("asd88fgpdd777uzjYhagZg");
	in.attach.role = S("passive");
	in.attach.cands = c;
	in.attach.ncands = 3;
	in.attach.send_update = 1;
	round_trip(&c_attach, &in, &out, &w);
	assert_bytes_str(out.attach.ufrag, "8hhY");
	assert_bytes_str(out.attach.password, "asd88fgpdd777uzjYhagZg");
	assert_bytes_str(out.attach.role, "passive");
	assert_int_equal(out.attach.send_update, 1);
	assert_int_equal(out.attach.ncands, 3);
	for (size_t i = 0; i < 3; i++)
		assert_cand_equal(&out.attach.cands[i], &c[i]);
	p2p_w_free(&w);

	/* no candidates at all is allowed */
	in.attach.ncands = 0;
	in.attach.send_update = 0;
	round_trip(&c_attach, &in, &out, &w);
	assert_int_equal(out.attach.ncands, 0);
	assert_int_equal(out.attach.send_update, 0);
	p2p_w_free(&w);
}

static void
test_app_attach_round_trip(void **state)
{
	p2p_ice_cand c[3];
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	sample_cands(c);
	memset(&in, 0, sizeof(in));
	in.app_attach.ufrag = S("uf");
	in.app_attach.password = S("pw-0123456789abcdef012345");
	in.app_attach.application = P2P_APP_SIP;
	in.app_attach.role = S("active");
	in.app_attach.cands = c;
	in.app_attach.ncands = 3;
	round_trip(&c_app_attach, &in, &out, &w);
	assert_bytes_str(out.app_attach.ufrag, "uf");
	assert_bytes_str(out.app_attach.password, "pw-0123456789abcdef012345");
	assert_int_equal(out.app_attach.application, 5060);
	assert_bytes_str(out.app_attach.role, "active");
	assert_int_equal(out.app_attach.ncands, 3);
	for (size_t i = 0; i < 3; i++)
		assert_cand_equal(&out.app_attach.cands[i], &c[i]);
	p2p_w_free(&w);
}

static void
test_reserved_cand_type_3(void **state)
{
	p2p_ice_cand c[3];
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	sample_cands(c);
	c[1].type = P2P_CAND_PRFLX;	/* reserved 3: carries a rel addr */
	memset(&in, 0, sizeof(in));
	in.attach.cands = c;
	in.attach.ncands = 3;
	round_trip(&c_attach, &in, &out, &w);
	assert_int_equal(out.attach.cands[1].type, 3);
	assert_addr_equal(&out.attach.cands[1].rel_addr, &c[1].rel_addr);
	p2p_w_free(&w);
}

static void
test_probe_round_trip(void **state)
{
	static const uint8_t types[] = { 1, 3, 2, 4 };
	static const uint8_t raw[] = { 0xaa, 0xbb, 0xcc };
	p2p_probe_info info[4] = {
		{ P2P_PROBE_RESPONSIBLE_SET, 250000000, { NULL, 0 } },
		{ P2P_PROBE_UPTIME, 86400, { NULL, 0 } },
		{ P2P_PROBE_NUM_RESOURCES, 17, { NULL, 0 } },
		{ 0x42, 0, { raw, sizeof(raw) } },
	};
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.probe_req.types = B(types, sizeof(types));
	round_trip(&c_probe_req, &in, &out, &w);
	assert_bytes(out.probe_req.types, B(types, sizeof(types)));
	p2p_w_free(&w);

	memset(&in, 0, sizeof(in));
	in.probe_ans.info = info;
	in.probe_ans.ninfo = 4;
	round_trip(&c_probe_ans, &in, &out, &w);
	assert_int_equal(out.probe_ans.ninfo, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(out.probe_ans.info[i].type, info[i].type);
		assert_int_equal(out.probe_ans.info[i].value, info[i].value);
		assert_bytes(out.probe_ans.info[i].raw, info[i].raw);
	}
	p2p_w_free(&w);
}

static void
test_ping_round_trip(void **state)
{
	uint8_t pad[1000];
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = (uint8_t)(i * 7);
	memset(&in, 0, sizeof(in));
	in.ping_req.padding = B(pad, sizeof(pad));
	round_trip(&c_ping_req, &in, &out, &w);
	assert_bytes(out.ping_req.padding, B(pad, sizeof(pad)));
	p2p_w_free(&w);

	in.ping_ans.response_id = 0xfedcba9876543210ull;
	in.ping_ans.time = 1700000000123ull;
	round_trip(&c_ping_ans, &in, &out, &w);
	assert_true(out.ping_ans.response_id == 0xfedcba9876543210ull);
	assert_true(out.ping_ans.time == 1700000000123ull);
	p2p_w_free(&w);
}

static void
test_join_leave_round_trip(void **state)
{
	p2p_id ids[3] = { mkid(1), mkid(2), mkid(3) };
	static const uint8_t osd[] = { 9, 8, 7, 6, 5 };
	any_body in, out;
	p2p_wbuf w, cl;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.join_req.joining_peer_id = mkid(9);
	in.join_req.overlay_data = B(osd, sizeof(osd));
	round_trip(&c_join_req, &in, &out, &w);
	assert_true(p2p_id_eq(&out.join_req.joining_peer_id, &in.join_req.joining_peer_id));
	assert_bytes(out.join_req.overlay_data, B(osd, sizeof(osd)));
	p2p_w_free(&w);

	memset(&in, 0, sizeof(in));
	in.join_ans.overlay_data = B(osd, 3);
	round_trip(&c_join_ans, &in, &out, &w);
	assert_bytes(out.join_ans.overlay_data, B(osd, 3));
	p2p_w_free(&w);

	/* LeaveReq carrying a ChordLeaveData with three successors */
	memset(&in, 0, sizeof(in));
	in.chord_leave.type = P2P_LEAVE_FROM_SUCC;
	in.chord_leave.ids = ids;
	in.chord_leave.nids = 3;
	round_trip(&c_chord_leave, &in, &out, &cl);
	assert_int_equal(out.chord_leave.type, P2P_LEAVE_FROM_SUCC);
	assert_int_equal(out.chord_leave.nids, 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(p2p_id_eq(&out.chord_leave.ids[i], &ids[i]));

	memset(&in, 0, sizeof(in));
	in.leave_req.leaving_peer_id = mkid(7);
	in.leave_req.overlay_data = B(cl.p, cl.len);
	round_trip(&c_leave_req, &in, &out, &w);
	assert_true(p2p_id_eq(&out.leave_req.leaving_peer_id, &in.leave_req.leaving_peer_id));
	assert_bytes(out.leave_req.overlay_data, B(cl.p, cl.len));
	/* and the inner data decodes again from the decoded LeaveReq */
	{
		p2p_chord_leave lv;
		p2p_err err;
		assert_int_equal(p2p_chord_leave_decode(
		    out.leave_req.overlay_data, fresh_arena(), &lv, &err), 0);
		assert_int_equal(lv.nids, 3);
		assert_true(p2p_id_eq(&lv.ids[2], &ids[2]));
	}
	p2p_w_free(&w);
	p2p_w_free(&cl);

	memset(&in, 0, sizeof(in));
	in.chord_leave.type = P2P_LEAVE_FROM_PRED;
	in.chord_leave.ids = ids + 1;
	in.chord_leave.nids = 2;
	round_trip(&c_chord_leave, &in, &out, &cl);
	assert_int_equal(out.chord_leave.type, P2P_LEAVE_FROM_PRED);
	assert_int_equal(out.chord_leave.nids, 2);
	assert_true(p2p_id_eq(&out.chord_leave.ids[1], &ids[2]));
	p2p_w_free(&cl);
}

static void
test_update_round_trip(void **state)
{
	p2p_id preds[2] = { mkid(10), mkid(11) };
	p2p_id succs[3] = { mkid(20), mkid(21), mkid(22) };
	p2p_id fingers[5] = { mkid(30), mkid(31), mkid(32), mkid(33),
	    mkid(34) };
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.update.uptime = 3600;
	in.update.type = P2P_UPDATE_FULL;
	in.update.preds = preds;
	in.update.npreds = 2;
	in.update.succs = succs;
	in.update.nsuccs = 3;
	in.update.fingers = fingers;
	in.update.nfingers = 5;
	round_trip(&c_update, &in, &out, &w);
	assert_int_equal(out.update.uptime, 3600);
	assert_int_equal(out.update.type, P2P_UPDATE_FULL);
	assert_int_equal(out.update.npreds, 2);
	assert_int_equal(out.update.nsuccs, 3);
	assert_int_equal(out.update.nfingers, 5);
	for (size_t i = 0; i < 2; i++)
		assert_true(p2p_id_eq(&out.update.preds[i], &preds[i]));
	for (size_t i = 0; i < 3; i++)
		assert_true(p2p_id_eq(&out.update.succs[i], &succs[i]));
	for (size_t i = 0; i < 5; i++)
		assert_true(p2p_id_eq(&out.update.fingers[i], &fingers[i]));
	assert_int_equal(w.len, 4 + 1 + 3 * 2 + 10 * 16);
	p2p_w_free(&w);

	in.update.type = P2P_UPDATE_NEIGHBORS;
	in.update.nfingers = 0;
	round_trip(&c_update, &in, &out, &w);
	assert_int_equal(out.update.type, P2P_UPDATE_NEIGHBORS);
	assert_int_equal(out.update.npreds, 2);
	assert_int_equal(out.update.nsuccs, 3);
	assert_int_equal(out.update.nfingers, 0);
	assert_true(p2p_id_eq(&out.update.succs[2], &succs[2]));
	p2p_w_free(&w);

	memset(&in, 0, sizeof(in));
	in.update.uptime = 5;
	in.update.type = P2P_UPDATE_PEER_READY;
	round_trip(&c_update, &in, &out, &w);
	assert_int_equal(out.update.type, P2P_UPDATE_PEER_READY);
	assert_int_equal(w.len, 5);
	p2p_w_free(&w);
}

static void
test_route_query_round_trip(void **state)
{
	p2p_id rid = mkid(40);
	static const uint8_t osd[] = { 1, 2 };
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.rq_req.send_update = 1;
	p2p_dest_resource(&in.rq_req.dest, &rid);
	in.rq_req.overlay_data = B(osd, sizeof(osd));
	round_trip(&c_rq_req, &in, &out, &w);
	assert_int_equal(out.rq_req.send_update, 1);
	assert_int_equal(out.rq_req.dest.type, P2P_DEST_RESOURCE);
	assert_bytes(out.rq_req.dest.data, B(rid.b, 16));
	assert_bytes(out.rq_req.overlay_data, B(osd, sizeof(osd)));
	p2p_w_free(&w);

	memset(&in, 0, sizeof(in));
	p2p_dest_node(&in.rq_req.dest, &rid);
	round_trip(&c_rq_req, &in, &out, &w);
	assert_int_equal(out.rq_req.send_update, 0);
	assert_int_equal(out.rq_req.dest.type, P2P_DEST_NODE);
	assert_true(p2p_id_eq(&out.rq_req.dest.node, &rid));
	p2p_w_free(&w);

	memset(&in, 0, sizeof(in));
	in.rq_req.dest.type = P2P_DEST_COMPRESSED;
	in.rq_req.dest.compressed = 0x8abc;
	round_trip(&c_rq_req, &in, &out, &w);
	assert_int_equal(out.rq_req.dest.compressed, 0x8abc);
	p2p_w_free(&w);

	memset(&in, 0, sizeof(in));
	in.rq_ans.next_peer = mkid(41);
	round_trip(&c_rq_ans, &in, &out, &w);
	assert_int_equal(w.len, 16);
	assert_true(p2p_id_eq(&out.rq_ans.next_peer, &in.rq_ans.next_peer));
	p2p_w_free(&w);
}

static void
test_config_update_round_trip(void **state)
{
	const char *xml = "<overlay><configuration instance-name=\"x\" "
	    "sequence=\"2\"/></overlay>";
	p2p_bytes kinds[3];
	any_body in, out;
	p2p_wbuf w;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.config.type = P2P_CONFIG_UPDATE_CONFIG;
	in.config.config = S(xml);
	round_trip(&c_config, &in, &out, &w);
	assert_int_equal(out.config.type, P2P_CONFIG_UPDATE_CONFIG);
	assert_bytes_str(out.config.config, xml);
	assert_int_equal(w.len, 1 + 4 + 3 + strlen(xml));
	p2p_w_free(&w);

	kinds[0] = S("<kind name=\"A\"><data-model>SINGLE</data-model></kind>");
	kinds[1] = B(NULL, 0);
	kinds[2] = S("<kind id=\"4026531841\"/>");
	memset(&in, 0, sizeof(in));
	in.config.type = P2P_CONFIG_UPDATE_KIND;
	in.config.kinds = kinds;
	in.config.nkinds = 3;
	round_trip(&c_config, &in, &out, &w);
	assert_int_equal(out.config.type, P2P_CONFIG_UPDATE_KIND);
	assert_int_equal(out.config.nkinds, 3);
	for (size_t i = 0; i < 3; i++)
		assert_bytes(out.config.kinds[i], kinds[i]);
	p2p_w_free(&w);

	/* a later type is kept as raw bytes */
	memset(&in, 0, sizeof(in));
	in.config.type = 7;
	in.config.raw = S("future");
	round_trip(&c_config, &in, &out, &w);
	assert_int_equal(out.config.type, 7);
	assert_bytes_str(out.config.raw, "future");
	p2p_w_free(&w);
}

static void
test_error_round_trip(void **state)
{
	uint32_t kinds[3] = { 1, 0x10, 0xf0000001u };
	uint32_t *got;
	size_t n;
	any_body in, out;
	p2p_wbuf w, info;
	p2p_err err;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.error.code = P2P_ERR_INVALID_MESSAGE;
	in.error.info = S("candidate list runs past the end");
	round_trip(&c_error, &in, &out, &w);
	assert_int_equal(out.error.code, P2P_ERR_INVALID_MESSAGE);
	assert_bytes_str(out.error.info, "candidate list runs past the end");
	p2p_w_free(&w);

	/* Error_Unknown_Kind with a KindId list as error_info */
	p2p_w_init(&info, 0);
	assert_int_equal(p2p_error_kinds_encode(&info, kinds, 3), 0);
	assert_int_equal(info.len, 1 + 12);
	in.error.code = P2P_ERR_UNKNOWN_KIND;
	in.error.info = B(info.p, info.len);
	round_trip(&c_error, &in, &out, &w);
	assert_int_equal(out.error.code, P2P_ERR_UNKNOWN_KIND);
	assert_int_equal(p2p_error_kinds_decode(out.error.info, fresh_arena(),
	    &got, &n, &err), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(got[i], kinds[i]);
	p2p_w_free(&w);

	/* every prefix of the kind list fails, so does a trailing byte */
	for (size_t k = 0; k < info.len; k++) {
		uint8_t *cut = malloc(k ? k : 1);
		memcpy(cut, info.p, k);
		assert_int_equal(p2p_error_kinds_decode(B(cut, k),
		    fresh_arena(), &got, &n, &err), -1);
		free(cut);
	}
	p2p_w_u8(&info, 0);
	assert_int_equal(p2p_error_kinds_decode(B(info.p, info.len),
	    fresh_arena(), &got, &n, &err), -1);
	p2p_w_free(&info);
}

static void
test_cand_and_ext_lists(void **state)
{
	p2p_ice_cand c[3], one, *got;
	p2p_ice_ext *exts;
	size_t n;
	p2p_wbuf w, w2;
	p2p_rbuf r;
	p2p_err err;

	(void)state;
	sample_cands(c);
	p2p_w_init(&w, 0);
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_ice_cand_list_encode(&w, c, 3), 0);
	assert_int_equal(p2p_ice_cand_list_decode(B(w.p, w.len),
	    fresh_arena(), &got, &n, &err), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_cand_equal(&got[i], &c[i]);
	assert_int_equal(p2p_ice_cand_list_encode(&w2, got, n), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);

	/* one at a time from a reader */
	p2p_r_init(&r, w.p, w.len);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(p2p_ice_cand_decode1(&r, fresh_arena(), &one,
		    &err), 0);
		assert_cand_equal(&one, &c[i]);
	}
	assert_int_equal(p2p_r_left(&r), 0);

	p2p_w_reset(&w);
	assert_int_equal(p2p_ice_ext_list_encode(&w, exts_c, 2), 0);
	assert_int_equal(p2p_ice_ext_list_decode(B(w.p, w.len),
	    fresh_arena(), &exts, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_bytes_str(exts[0].name, "generation");
	assert_bytes_str(exts[0].value, "0");
	assert_bytes_str(exts[1].name, "empty-value");
	assert_int_equal(exts[1].value.len, 0);
	/* a cut list fails */
	assert_int_equal(p2p_ice_ext_list_decode(B(w.p, w.len - 1),
	    fresh_arena(), &exts, &n, &err), -1);
	p2p_w_free(&w);
	p2p_w_free(&w2);
}

/* ---- golden vectors, written by hand from the RFC 6940 layouts ---- */

static void
test_golden_ping(void **state)
{
	uint8_t buf[64];
	any_body d;

	(void)state;
	/* PingReq: padding<0..2^16-1> = 4 bytes */
	accept_hex(&c_ping_req, "0004 deadbeef", &d, buf, sizeof(buf));
	assert_int_equal(d.ping_req.padding.len, 4);
	assert_int_equal(d.ping_req.padding.p[0], 0xde);
	assert_int_equal(d.ping_req.padding.p[3], 0xef);

	/* empty padding */
	accept_hex(&c_ping_req, "0000", &d, buf, sizeof(buf));
	assert_int_equal(d.ping_req.padding.len, 0);

	/* PingAns: response_id u64, time u64 (ms) */
	accept_hex(&c_ping_ans, "0123456789abcdef 0000018bcfe56800", &d,
	    buf, sizeof(buf));
	assert_true(d.ping_ans.response_id == 0x0123456789abcdefull);
	assert_true(d.ping_ans.time == 0x0000018bcfe56800ull);
}

/* AttachReq: ufrag "abcd", password "0123456789", role "passive", one host
 * candidate 192.0.2.1:6084 over DTLS-UDP-SR, foundation "1", priority
 * 0x7effffff, no extensions; send_update false. */
static const char attach_hex[] =
    "04 61626364"
    "0a 30313233343536373839"
    "07 70617373697665"
    "0012"
    "  01 06 c0000201 17c4"		/* IpAddressPort */
    "  01"				/* overlay_link */
    "  01 31"				/* foundation */
    "  7effffff"			/* priority */
    "  01"				/* type host */
    "  0000"				/* extensions */
    "00";

static void
test_golden_attach(void **state)
{
	uint8_t buf[128];
	const p2p_ice_cand *c;
	any_body d;

	(void)state;
	accept_hex(&c_attach, attach_hex, &d, buf, sizeof(buf));
	assert_bytes_str(d.attach.ufrag, "abcd");
	assert_bytes_str(d.attach.password, "0123456789");
	assert_bytes_str(d.attach.role, "passive");
	assert_int_equal(d.attach.send_update, 0);
	assert_int_equal(d.attach.ncands, 1);
	c = &d.attach.cands[0];
	assert_int_equal(c->addr.type, P2P_ADDR_IPV4);
	assert_memory_equal(c->addr.addr, v4a, 4);
	assert_int_equal(c->addr.port, 6084);
	assert_int_equal(c->overlay_link, P2P_LINK_DTLS_UDP_SR);
	assert_bytes_str(c->foundation, "1");
	assert_int_equal(c->priority, 0x7effffff);
	assert_int_equal(c->type, P2P_CAND_HOST);
	assert_int_equal(c->nexts, 0);
}

static void
test_golden_srflx_ipv6(void **state)
{
	uint8_t buf[256];
	const p2p_ice_cand *c;
	any_body d;

	(void)state;
	/* AppAttachAns for SIP: one srflx candidate on [2001:db8::1]:8080
	 * related to 192.0.2.1:6084, one extension "a"="bc" */
	accept_hex(&c_app_attach,
	    "00 00 13c4 06 616374697665"
	    "002c"
	    "  02 12 20010db8000000000000000000000001 1f90"
	    "  04 00 64ffffff 02"
	    "  01 06 c0000201 17c4"
	    "  0007 0001 61 0002 6263",
	    &d, buf, sizeof(buf));
	assert_int_equal(d.app_attach.ufrag.len, 0);
	assert_int_equal(d.app_attach.password.len, 0);
	assert_int_equal(d.app_attach.application, P2P_APP_SIP);
	assert_bytes_str(d.app_attach.role, "active");
	assert_int_equal(d.app_attach.ncands, 1);
	c = &d.app_attach.cands[0];
	assert_int_equal(c->addr.type, P2P_ADDR_IPV6);
	assert_memory_equal(c->addr.addr, v6a, 16);
	assert_int_equal(c->addr.port, 8080);
	assert_int_equal(c->overlay_link, P2P_LINK_TLS_TCP_FH_NO_ICE);
	assert_int_equal(c->foundation.len, 0);
	assert_int_equal(c->type, P2P_CAND_SRFLX);
	assert_int_equal(c->rel_addr.type, P2P_ADDR_IPV4);
	assert_memory_equal(c->rel_addr.addr, v4a, 4);
	assert_int_equal(c->rel_addr.port, 6084);
	assert_int_equal(c->nexts, 1);
	assert_bytes_str(c->exts[0].name, "a");
	assert_bytes_str(c->exts[0].value, "bc");
}

static void
test_golden_error(void **state)
{
	uint8_t buf[64];
	uint32_t *kinds;
	size_t n;
	p2p_err err;
	any_body d;

	(void)state;
	/* Error_Forbidden, error_info "denied" */
	accept_hex(&c_error, "0002 0006 64656e696564", &d, buf, sizeof(buf));
	assert_int_equal(d.error.code, P2P_ERR_FORBIDDEN);
	assert_bytes_str(d.error.info, "denied");

	/* Error_Unknown_Kind: unknown_kinds = [1, 0xf0000001] */
	accept_hex(&c_error, "000c 0009 08 00000001 f0000001", &d, buf,
	    sizeof(buf));
	assert_int_equal(d.error.code, P2P_ERR_UNKNOWN_KIND);
	assert_int_equal(p2p_error_kinds_decode(d.error.info, fresh_arena(),
	    &kinds, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(kinds[0], 1);
	assert_int_equal(kinds[1], 0xf0000001u);
}

static void
test_golden_topology(void **state)
{
	uint8_t buf[256];
	any_body d;

	(void)state;
	/* ProbeReq asking for uptime and responsible_set */
	accept_hex(&c_probe_req, "02 03 01", &d, buf, sizeof(buf));
	assert_int_equal(d.probe_req.types.len, 2);
	assert_int_equal(d.probe_req.types.p[0], P2P_PROBE_UPTIME);

	/* ProbeAns: uptime 600 s, then an unknown type 9 with 2 bytes */
	accept_hex(&c_probe_ans, "000a 03 04 00000258 09 02 abcd", &d, buf,
	    sizeof(buf));
	assert_int_equal(d.probe_ans.ninfo, 2);
	assert_int_equal(d.probe_ans.info[0].type, P2P_PROBE_UPTIME);
	assert_int_equal(d.probe_ans.info[0].value, 600);
	assert_int_equal(d.probe_ans.info[1].type, 9);
	assert_int_equal(d.probe_ans.info[1].raw.len, 2);

	/* ChordUpdate neighbors: uptime 1, one predecessor, no successor */
	accept_hex(&c_update,
	    "00000001 02 0010 0102030405060708090a0b0c0d0e0f10 0000",
	    &d, buf, sizeof(buf));
	assert_int_equal(d.update.type, P2P_UPDATE_NEIGHBORS);
	assert_int_equal(d.update.npreds, 1);
	assert_int_equal(d.update.preds[0].b[15], 0x10);
	assert_int_equal(d.update.nsuccs, 0);

	/* RouteQueryReq: send_update, node destination, no overlay data */
	accept_hex(&c_rq_req,
	    "01 01 10 0102030405060708090a0b0c0d0e0f10 0000",
	    &d, buf, sizeof(buf));
	assert_int_equal(d.rq_req.send_update, 1);
	assert_int_equal(d.rq_req.dest.type, P2P_DEST_NODE);
	assert_int_equal(d.rq_req.dest.node.b[0], 0x01);

	/* ConfigUpdateReq kind: one KindDescription "<k/>" */
	accept_hex(&c_config, "02 00000009 000006 0004 3c6b2f3e", &d, buf,
	    sizeof(buf));
	assert_int_equal(d.config.nkinds, 1);
	assert_bytes_str(d.config.kinds[0], "<k/>");

	/* JoinReq with no overlay data */
	accept_hex(&c_join_req, "0102030405060708090a0b0c0d0e0f10 0000", &d,
	    buf, sizeof(buf));
	assert_int_equal(d.join_req.joining_peer_id.b[1], 0x02);
	assert_int_equal(d.join_req.overlay_data.len, 0);

	/* ChordLeaveData from_pred with one predecessor */
	accept_hex(&c_chord_leave,
	    "02 0010 0102030405060708090a0b0c0d0e0f10", &d, buf, sizeof(buf));
	assert_int_equal(d.chord_leave.type, P2P_LEAVE_FROM_PRED);
	assert_int_equal(d.chord_leave.nids, 1);
}

/* ---- rejections ---- */

static void
test_bad_addr_port(void **state)
{
	static const char *bad[] = {
		"00 06 c0000201 17c4",			/* type 0 */
		"01 05 c0000201 17",			/* IPv4, length 5 */
		"01 07 c0000201 17c4 00",		/* IPv4, length 7 */
		"01 12 20010db8000000000000000000000001 1f90", /* v4 len 18 */
		"02 06 c0000201 17c4",			/* IPv6, length 6 */
		"02 11 20010db80000000000000000000000 1f90", /* IPv6, 17 */
		"01 00",				/* zero length */
		"01 06 c0000201",			/* overruns */
		"01",
	};
	uint8_t buf[64];
	p2p_addr_port ap;
	p2p_rbuf r;
	p2p_err err;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = unit_hex(bad[i], buf, sizeof(buf));
		uint8_t *exact = malloc(n);
		memcpy(exact, buf, n);
		p2p_r_init(&r, exact, n);
		if (p2p_addr_port_decode1(&r, &ap, &err) != -1)
			fail_msg("accepted address %s", bad[i]);
		free(exact);
	}
	/* a later address type is kept raw and written back */
	n = unit_hex("07 02 abcd", buf, sizeof(buf));
	p2p_r_init(&r, buf, n);
	assert_int_equal(p2p_addr_port_decode1(&r, &ap, &err), 0);
	assert_int_equal(p2p_r_left(&r), 0);
	assert_int_equal(ap.type, 7);
	assert_int_equal(ap.raw.len, 2);

	/* inside an Attach: IPv4 address length 7 */
	refuse_hex(&c_attach,
	    "00 00 00 0012 01 07 c0000201 17c4 01 01 31 7effffff 01 0000 00");
	/* rel_addr_port length wrong */
	refuse_hex(&c_app_attach,
	    "00 00 13c4 00 0018 01 06 c0000201 17c4 01 00 64ffffff 02"
	    "01 05 c0000201 17 0000");
}

static void
test_bad_attach(void **state)
{
	uint8_t buf[128];
	size_t n;

	(void)state;
	/* the same vectors with correct values are accepted */
	{
		any_body d;
		accept_hex(&c_attach, "00 00 00 0011 01 06 c0000201 17c4 01 00"
		    " 7effffff 01 0000 00", &d, buf, sizeof(buf));
		accept_hex(&c_attach, "00 00 00 0015 01 06 c0000201 17c4 01 00"
		    " 7effffff 01 0004 0000 0000 00", &d, buf, sizeof(buf));
		assert_int_equal(d.attach.cands[0].nexts, 1);
	}
	/* send_update 2 */
	n = unit_hex(attach_hex, buf, sizeof(buf));
	buf[n - 1] = 2;
	{
		uint8_t *exact = malloc(n);
		any_body d;
		memcpy(exact, buf, n);
		assert_int_equal(dec(&c_attach, exact, n, &d), -1);
		free(exact);
	}
	/* candidate type 0, then 5 (unknown), overlay_link 0 */
	refuse_hex(&c_attach,
	    "00 00 00 0011 01 06 c0000201 17c4 01 00 7effffff 00 0000 00");
	refuse_hex(&c_attach,
	    "00 00 00 0011 01 06 c0000201 17c4 01 00 7effffff 05 0000 00");
	refuse_hex(&c_attach,
	    "00 00 00 0011 01 06 c0000201 17c4 00 00 7effffff 01 0000 00");
	/* candidate list length one short, one long */
	refuse_hex(&c_attach,
	    "00 00 00 0010 01 06 c0000201 17c4 01 00 7effffff 01 0000 00");
	refuse_hex(&c_attach,
	    "00 00 00 0012 01 06 c0000201 17c4 01 00 7effffff 01 0000 00");
	/* extension list with a truncated value */
	refuse_hex(&c_attach,
	    "00 00 00 0015 01 06 c0000201 17c4 01 00 7effffff 01"
	    "0004 0000 0003 00");
	/* srflx without a related address */
	refuse_hex(&c_attach,
	    "00 00 00 0011 01 06 c0000201 17c4 01 00 7effffff 02 0000 00");
	/* application 0 */
	refuse_hex(&c_app_attach, "00 00 0000 00 0000");
	/* empty body */
	refuse_hex(&c_attach, "");
}

static void
test_bad_lengths_and_enums(void **state)
{
	(void)state;
	/* ProbeReq: type 0; vector overruns */
	refuse_hex(&c_probe_req, "02 01 00");
	refuse_hex(&c_probe_req, "03 01 02");
	/* ProbeAns: known type with length 0 or 5; type 0; list overrun */
	refuse_hex(&c_probe_ans, "0002 01 00");
	refuse_hex(&c_probe_ans, "0007 01 05 0000000000");
	refuse_hex(&c_probe_ans, "0006 00 04 00000001");
	refuse_hex(&c_probe_ans, "0007 01 04 00000001");
	refuse_hex(&c_probe_ans, "0006 09 05 00000001");
	/* PingAns: empty, short, long */
	refuse_hex(&c_ping_ans, "");
	refuse_hex(&c_ping_ans, "0123456789abcdef 0000018bcfe568");
	refuse_hex(&c_ping_ans, "0123456789abcdef 0000018bcfe56800 00");
	/* PingReq: length says 5, 4 present */
	refuse_hex(&c_ping_req, "0005 deadbeef");
	/* JoinReq: empty; all-zero Node-ID; short Node-ID */
	refuse_hex(&c_join_req, "");
	refuse_hex(&c_join_req, "00000000000000000000000000000000 0000");
	refuse_hex(&c_join_req, "0102030405060708090a0b0c0d0e0f 0000");
	refuse_hex(&c_leave_req, "0102030405060708090a0b0c0d0e0f10");
	/* JoinAns: empty body (the length prefix is required) */
	refuse_hex(&c_join_ans, "");
	/* ChordLeaveData: type 0, 3; list of 15 and 17 bytes; zero id */
	refuse_hex(&c_chord_leave, "00 0000");
	refuse_hex(&c_chord_leave, "03 0000");
	refuse_hex(&c_chord_leave, "01 000f 0102030405060708090a0b0c0d0e0f");
	refuse_hex(&c_chord_leave,
	    "01 0011 0102030405060708090a0b0c0d0e0f1011");
	refuse_hex(&c_chord_leave,
	    "01 0010 00000000000000000000000000000000");
	refuse_hex(&c_chord_leave, "");
	/* ChordUpdate: type 0 and 4; peer_ready with a list; neighbors
	 * without its second list; full without fingers; list of 20 */
	refuse_hex(&c_update, "00000001 00");
	refuse_hex(&c_update, "00000001 04");
	refuse_hex(&c_update, "00000001 01 0000");
	refuse_hex(&c_update, "00000001 02 0000");
	refuse_hex(&c_update, "00000001 03 0000 0000");
	refuse_hex(&c_update,
	    "00000001 02 0014 0102030405060708090a0b0c0d0e0f1011121314 0000");
	/* RouteQueryReq: Boolean 2; destination type 0; no overlay data */
	refuse_hex(&c_rq_req,
	    "02 01 10 0102030405060708090a0b0c0d0e0f10 0000");
	refuse_hex(&c_rq_req, "00 00 00 0000");
	refuse_hex(&c_rq_req, "00 01 10 0102030405060708090a0b0c0d0e0f10");
	/* RouteQueryAns: empty, 15 bytes, 17 bytes, all-zero */
	refuse_hex(&c_rq_ans, "");
	refuse_hex(&c_rq_ans, "0102030405060708090a0b0c0d0e0f");
	refuse_hex(&c_rq_ans, "0102030405060708090a0b0c0d0e0f1011");
	refuse_hex(&c_rq_ans, "00000000000000000000000000000000");
	/* ConfigUpdate: type 0; u32 length one short / one long; inner u24
	 * too long; KindDescription overrun; no data at all */
	refuse_hex(&c_config, "00 00000003 000000");
	refuse_hex(&c_config, "01 00000004 000002 6162");
	refuse_hex(&c_config, "01 00000006 000002 6162");
	refuse_hex(&c_config, "01 00000005 000003 6162");
	refuse_hex(&c_config, "01 00000005 000002 616263");
	/* u32 length larger than the data it announces */
	refuse_hex(&c_config, "01 00000006 000002 616263");
	refuse_hex(&c_config, "02 00000008 000004 0002 6162 00");
	refuse_hex(&c_config, "02 00000007 000004 0003 6162");
	refuse_hex(&c_config, "02 00000008 000005 0002 616263");
	refuse_hex(&c_config, "02");
	/* Error: code 0; info overruns; too short */
	refuse_hex(&c_error, "0000 0000");
	refuse_hex(&c_error, "0002 0007 64656e696564");
	refuse_hex(&c_error, "0002 00");
}

static void
test_bad_error_kinds(void **state)
{
	static const char *bad[] = {
		"",
		"03 000000",			/* not a multiple of 4 */
		"04 00000000",			/* Kind 0 */
		"08 00000001",			/* overruns */
		"04 00000001 00",		/* trailing */
	};
	uint8_t buf[32];
	uint32_t *kinds;
	size_t n, count;
	p2p_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = unit_hex(bad[i], buf, sizeof(buf));
		if (p2p_error_kinds_decode(B(buf, n), fresh_arena(), &kinds,
		    &count, &err) != -1)
			fail_msg("accepted kinds %s", bad[i]);
	}
	n = unit_hex("00", buf, sizeof(buf));
	assert_int_equal(p2p_error_kinds_decode(B(buf, n), fresh_arena(),
	    &kinds, &count, &err), 0);
	assert_int_equal(count, 0);
}

static void
test_empty_bodies(void **state)
{
	static const uint8_t one = 0;
	p2p_err err;

	(void)state;
	assert_int_equal(p2p_empty_body_decode(B(NULL, 0), &err), 0);
	assert_int_equal(p2p_empty_body_decode(B(&one, 1), &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
}

static void
test_encoder_refusals(void **state)
{
	p2p_ice_cand c[3];
	p2p_id ids[2] = { mkid(1), mkid(2) };
	p2p_id zero;
	uint32_t kind0 = 0;
	any_body in;
	p2p_wbuf w;

	(void)state;
	sample_cands(c);
	memset(&zero, 0, sizeof(zero));
	p2p_w_init(&w, 0);

	memset(&in, 0, sizeof(in));
	in.attach.send_update = 2;
	assert_int_equal(p2p_attach_encode(&w, &in.attach), -1);
	in.attach.send_update = 0;
	in.attach.cands = c;
	in.attach.ncands = 1;
	c[0].type = 0;
	assert_int_equal(p2p_attach_encode(&w, &in.attach), -1);
	c[0].type = 5;
	assert_int_equal(p2p_attach_encode(&w, &in.attach), -1);
	c[0].type = P2P_CAND_HOST;
	c[0].addr.type = 0;
	assert_int_equal(p2p_attach_encode(&w, &in.attach), -1);

	memset(&in, 0, sizeof(in));
	in.update.type = P2P_UPDATE_PEER_READY;
	in.update.preds = ids;
	in.update.npreds = 2;
	assert_int_equal(p2p_update_req_encode(&w, &in.update), -1);
	in.update.type = P2P_UPDATE_NEIGHBORS;
	in.update.fingers = ids;
	in.update.nfingers = 1;
	assert_int_equal(p2p_update_req_encode(&w, &in.update), -1);
	in.update.type = 0;
	assert_int_equal(p2p_update_req_encode(&w, &in.update), -1);

	memset(&in, 0, sizeof(in));
	in.rq_req.send_update = 3;
	p2p_dest_node(&in.rq_req.dest, &ids[0]);
	assert_int_equal(p2p_route_query_req_encode(&w, &in.rq_req), -1);
	memset(&in, 0, sizeof(in));
	assert_int_equal(p2p_route_query_ans_encode(&w, &in.rq_ans), -1);
	in.join_req.joining_peer_id = zero;
	assert_int_equal(p2p_join_req_encode(&w, &in.join_req), -1);

	memset(&in, 0, sizeof(in));
	in.chord_leave.type = 3;
	assert_int_equal(p2p_chord_leave_encode(&w, &in.chord_leave), -1);
	in.error.code = 0;
	assert_int_equal(p2p_error_encode(&w, &in.error), -1);
	assert_int_equal(p2p_error_kinds_encode(&w, &kind0, 1), -1);
	memset(&in, 0, sizeof(in));
	assert_int_equal(p2p_config_update_req_encode(&w, &in.config), -1);
	in.app_attach.application = 0;
	assert_int_equal(p2p_app_attach_encode(&w, &in.app_attach), -1);

	/* a vector too long for its prefix */
	{
		static uint8_t big[70000];
		p2p_wbuf w2;
		memset(&in, 0, sizeof(in));
		in.ping_req.padding = B(big, sizeof(big));
		p2p_w_init(&w2, 0);
		assert_int_equal(p2p_ping_req_encode(&w2, &in.ping_req), -1);
		p2p_w_free(&w2);
	}
	p2p_w_free(&w);
}

static void
test_arena_too_small(void **state)
{
	p2p_ice_cand c[3];
	_Alignas(16) uint8_t small[64];
	p2p_attach in, out;
	p2p_arena a;
	p2p_wbuf w;
	p2p_err err;

	(void)state;
	sample_cands(c);
	memset(&in, 0, sizeof(in));
	in.cands = c;
	in.ncands = 3;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_attach_encode(&w, &in), 0);
	p2p_arena_init(&a, small, sizeof(small));
	assert_int_equal(p2p_attach_decode(B(w.p, w.len), &a, &out, &err), -1);
	assert_non_null(err.what);
	/* a NULL arena fails cleanly too */
	assert_int_equal(p2p_attach_decode(B(w.p, w.len), NULL, &out, &err),
	    -1);
	p2p_w_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_round_trip),
		cmocka_unit_test(test_app_attach_round_trip),
		cmocka_unit_test(test_reserved_cand_type_3),
		cmocka_unit_test(test_probe_round_trip),
		cmocka_unit_test(test_ping_round_trip),
		cmocka_unit_test(test_join_leave_round_trip),
		cmocka_unit_test(test_update_round_trip),
		cmocka_unit_test(test_route_query_round_trip),
		cmocka_unit_test(test_config_update_round_trip),
		cmocka_unit_test(test_error_round_trip),
		cmocka_unit_test(test_cand_and_ext_lists),
		cmocka_unit_test(test_golden_ping),
		cmocka_unit_test(test_golden_attach),
		cmocka_unit_test(test_golden_srflx_ipv6),
		cmocka_unit_test(test_golden_error),
		cmocka_unit_test(test_golden_topology),
		cmocka_unit_test(test_bad_addr_port),
		cmocka_unit_test(test_bad_attach),
		cmocka_unit_test(test_bad_lengths_and_enums),
		cmocka_unit_test(test_bad_error_kinds),
		cmocka_unit_test(test_empty_bodies),
		cmocka_unit_test(test_encoder_refusals),
		cmocka_unit_test(test_arena_too_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
