#include "unit.h"

#include "body_diag.h"

static _Alignas(16) uint8_t arena_mem[1 << 16];

/*
 * PathTrackReq written by hand from RFC 7851 s4.3.1.1 and s5.1: a node
 * destination, then DiagnosticsRequest asking for ROUTING_TABLE_SIZE and
 * SOFTWARE_VERSION through dMFlags plus one overlay-local extension.
 */
static const char ptreq_hex[] =
    "01 10 0102030405060708090a0b0c0d0e0f10"	/* Destination: node */
    "0000018f00093a80"				/* expiration */
    "0000018f00000000"				/* timestamp_initiated */
    "0000000000000044"				/* dMFlags: 0x04 | 0x40 */
    "00000008"					/* ext_length */
    "00000008"					/* list length */
    "f001 00000002 6162";			/* kind 0xf001, "ab" */

/*
 * PathTrackAns from s4.3.1.2 and s5.2: next hop, DiagnosticsResponse with
 * ROUTING_TABLE_SIZE = 17 and SOFTWARE_VERSION = "p2psip/0.1".
 */
static const char ptans_hex[] =
    "01 10 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"	/* next_hop: node */
    "0000018f000927c0"				/* expiration */
    "0000018f00000000"				/* timestamp_initiated */
    "0000018f000003e8"				/* timestamp_received */
    "62"					/* hop_counter 98 */
    "00000017"					/* ext_length 23 */
    "00000017"					/* list length */
    "0002 0004 00000011"			/* ROUTING_TABLE_SIZE 17 */
    "0006 000b 7032707369702f302e3100";		/* SOFTWARE_VERSION */

static p2p_arena *
fresh_arena(void)
{
	static p2p_arena a;

	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	return &a;
}

static p2p_bytes
B(const void *p, size_t len)
{
	p2p_bytes b = { p, len };
	return b;
}

static void
test_golden_path_track_req(void **state)
{
	uint8_t buf[128];
	size_t n = unit_hex(ptreq_hex, buf, sizeof(buf));
	p2p_path_track_req r;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	assert_int_equal(n, 58);
	assert_int_equal(p2p_path_track_req_decode(B(buf, n), fresh_arena(),
	    &r, &err), 0);
	assert_int_equal(r.dest.type, P2P_DEST_NODE);
	assert_int_equal(r.dest.node.b[0], 0x01);
	assert_int_equal(r.dest.node.b[15], 0x10);
	assert_true(r.req.expiration == 0x0000018f00093a80ull);
	assert_true(r.req.timestamp_initiated == 0x0000018f00000000ull);
	assert_true(r.req.flags == (P2P_DIAG_FLAG_ROUTING_TABLE_SIZE |
	    P2P_DIAG_FLAG_SOFTWARE_VERSION));
	assert_true(p2p_diag_flags_want(r.req.flags,
	    P2P_DIAG_ROUTING_TABLE_SIZE));
	assert_true(p2p_diag_flags_want(r.req.flags,
	    P2P_DIAG_SOFTWARE_VERSION));
	assert_false(p2p_diag_flags_want(r.req.flags, P2P_DIAG_STATUS_INFO));
	assert_int_equal(r.req.nexts, 1);
	assert_int_equal(r.req.exts[0].kind, 0xf001);
	assert_int_equal(r.req.exts[0].contents.len, 2);
	assert_memory_equal(r.req.exts[0].contents.p, "ab", 2);
	/* The contents point into the input. */
	assert_ptr_equal(r.req.exts[0].contents.p, buf + n - 2);

	p2p_w_init(&w, 0);
	assert_int_equal(p2p_path_track_req_encode(&w, &r), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	p2p_w_free(&w);
}

static void
test_golden_path_track_ans(void **state)
{
	uint8_t buf[128];
	size_t n = unit_hex(ptans_hex, buf, sizeof(buf));
	p2p_path_track_ans r;
	p2p_err err;
	p2p_wbuf w;
	uint64_t v;
	const char *sw;
	size_t swlen;

	(void)state;
	assert_int_equal(n, 74);
	assert_int_equal(p2p_path_track_ans_decode(B(buf, n), fresh_arena(),
	    &r, &err), 0);
	assert_int_equal(r.next_hop.type, P2P_DEST_NODE);
	assert_int_equal(r.next_hop.node.b[0], 0xa0);
	assert_int_equal(r.next_hop.node.b[15], 0xaf);
	assert_true(r.resp.expiration == 0x0000018f000927c0ull);
	assert_true(r.resp.timestamp_initiated == 0x0000018f00000000ull);
	assert_true(r.resp.timestamp_received == 0x0000018f000003e8ull);
	assert_int_equal(r.resp.hop_counter, 98);
	assert_int_equal(r.resp.ninfos, 2);
	assert_int_equal(r.resp.infos[0].kind, P2P_DIAG_ROUTING_TABLE_SIZE);
	assert_int_equal(p2p_diag_scalar_decode(r.resp.infos[0].kind,
	    r.resp.infos[0].contents, &v, &err), 0);
	assert_true(v == 17);
	assert_int_equal(r.resp.infos[1].kind, P2P_DIAG_SOFTWARE_VERSION);
	assert_int_equal(p2p_diag_software_decode(r.resp.infos[1].contents,
	    &sw, &swlen, &err), 0);
	assert_int_equal(swlen, 10);
	assert_string_equal(sw, "p2psip/0.1");

	p2p_w_init(&w, 0);
	assert_int_equal(p2p_path_track_ans_encode(&w, &r), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	p2p_w_free(&w);
}

/* Decode must fail on every proper prefix; each copy is exactly sized so
 * the sanitizer sees any read past its end. */
static void
assert_truncations_fail(const uint8_t *buf, size_t n,
    int (*decode)(p2p_bytes, p2p_arena *, void *, p2p_err *), void *out)
{
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut > 0 ? cut : 1);
		p2p_err err = { 0, NULL, 0 };

		assert_non_null(copy);
		memcpy(copy, buf, cut);
		if (decode(B(copy, cut), fresh_arena(), out, &err) != -1)
			fail_msg("decode of %zu of %zu bytes succeeded", cut, n);
		assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
		assert_non_null(err.what);
		free(copy);
	}
}

static int
dec_ptreq(p2p_bytes in, p2p_arena *a, void *out, p2p_err *err)
{
	return p2p_path_track_req_decode(in, a, out, err);
}

static int
dec_ptans(p2p_bytes in, p2p_arena *a, void *out, p2p_err *err)
{
	return p2p_path_track_ans_decode(in, a, out, err);
}

static int
dec_req(p2p_bytes in, p2p_arena *a, void *out, p2p_err *err)
{
	return p2p_diag_req_decode(in, a, out, err);
}

static int
dec_resp(p2p_bytes in, p2p_arena *a, void *out, p2p_err *err)
{
	return p2p_diag_resp_decode(in, a, out, err);
}

static void
test_truncation_golden(void **state)
{
	uint8_t buf[128];
	size_t n;
	p2p_path_track_req req;
	p2p_path_track_ans ans;

	(void)state;
	n = unit_hex(ptreq_hex, buf, sizeof(buf));
	assert_truncations_fail(buf, n, dec_ptreq, &req);
	n = unit_hex(ptans_hex, buf, sizeof(buf));
	assert_truncations_fail(buf, n, dec_ptans, &ans);
}

static uint8_t big_ext[70000];

static void
build_req(p2p_diag_req *r, p2p_diag_ext *e)
{
	static const uint8_t c1[] = { 0xde, 0xad, 0xbe, 0xef };

	memset(big_ext, 0x5a, sizeof(big_ext));
	r->expiration = 1700000060000ull;
	r->timestamp_initiated = 1700000000000ull;
	r->flags = P2P_DIAG_FLAG_STATUS_INFO | P2P_DIAG_FLAG_APP_UPTIME |
	    P2P_DIAG_FLAG_BATTERY_STATUS;
	e[0] = (p2p_diag_ext){ 0xf000, { c1, sizeof(c1) } };
	e[1] = (p2p_diag_ext){ 0x0040, { NULL, 0 } };
	/* Longer than 2^16-1: request contents have a 32-bit length. */
	e[2] = (p2p_diag_ext){ 0xfffe, { big_ext, sizeof(big_ext) } };
	r->exts = e;
	r->nexts = 3;
}

static void
assert_req_equal(const p2p_diag_req *a, const p2p_diag_req *b)
{
	assert_true(a->expiration == b->expiration);
	assert_true(a->timestamp_initiated == b->timestamp_initiated);
	assert_true(a->flags == b->flags);
	assert_int_equal(a->nexts, b->nexts);
	for (size_t i = 0; i < a->nexts; i++) {
		assert_int_equal(a->exts[i].kind, b->exts[i].kind);
		assert_true(p2p_bytes_eq(a->exts[i].contents,
		    b->exts[i].contents));
	}
}

static void
test_round_trip_diag_req(void **state)
{
	p2p_diag_req r, d;
	p2p_diag_ext e[3];
	p2p_wbuf w, w2;
	p2p_err err;

	(void)state;
	build_req(&r, e);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_req_encode(&w, &r), 0);
	assert_int_equal(w.len, 24 + 8 + (6 + 4) + (6 + 0) +
	    (6 + sizeof(big_ext)));
	assert_int_equal(p2p_diag_req_decode(B(w.p, w.len), fresh_arena(), &d,
	    &err), 0);
	assert_req_equal(&r, &d);
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_diag_req_encode(&w2, &d), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);
	p2p_w_free(&w2);
	p2p_w_free(&w);
}

static void
build_resp(p2p_diag_resp *r, p2p_diag_info *inf, p2p_wbuf *store)
{
	static const uint8_t local[] = { 1, 2, 3 };
	size_t off[4];

	p2p_w_init(store, 0);
	off[0] = store->len;
	assert_int_equal(p2p_diag_status_encode(store, 0x0c), 0);
	off[1] = store->len;
	assert_int_equal(p2p_diag_scalar_encode(store,
	    P2P_DIAG_MEMORY_FOOTPRINT, 123456789012ull), 0);
	off[2] = store->len;
	assert_int_equal(p2p_diag_software_encode(store,
	    "MyApp/1.0 (Unix; Linux x86_64) libp2psip/0.1 (Example)"), 0);
	off[3] = store->len;
	r->expiration = 1700000100000ull;
	r->timestamp_initiated = 1700000000000ull;
	r->timestamp_received = 1700000000123ull;
	r->hop_counter = 97;
	inf[0] = (p2p_diag_info){ P2P_DIAG_STATUS_INFO,
	    { store->p + off[0], off[1] - off[0] } };
	inf[1] = (p2p_diag_info){ P2P_DIAG_MEMORY_FOOTPRINT,
	    { store->p + off[1], off[2] - off[1] } };
	inf[2] = (p2p_diag_info){ P2P_DIAG_SOFTWARE_VERSION,
	    { store->p + off[2], off[3] - off[2] } };
	inf[3] = (p2p_diag_info){ 0xf123, { local, sizeof(local) } };
	inf[4] = (p2p_diag_info){ 0xf124, { NULL, 0 } };
	r->infos = inf;
	r->ninfos = 5;
}

static void
assert_resp_equal(const p2p_diag_resp *a, const p2p_diag_resp *b)
{
	assert_true(a->expiration == b->expiration);
	assert_true(a->timestamp_initiated == b->timestamp_initiated);
	assert_true(a->timestamp_received == b->timestamp_received);
	assert_int_equal(a->hop_counter, b->hop_counter);
	assert_int_equal(a->ninfos, b->ninfos);
	for (size_t i = 0; i < a->ninfos; i++) {
		assert_int_equal(a->infos[i].kind, b->infos[i].kind);
		assert_true(p2p_bytes_eq(a->infos[i].contents,
		    b->infos[i].contents));
	}
}

static void
test_round_trip_diag_resp(void **state)
{
	p2p_diag_resp r, d;
	p2p_diag_info inf[5];
	p2p_wbuf store, w, w2;
	p2p_err err;
	uint8_t cong;

	(void)state;
	build_resp(&r, inf, &store);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_resp_encode(&w, &r), 0);
	assert_int_equal(p2p_diag_resp_decode(B(w.p, w.len), fresh_arena(),
	    &d, &err), 0);
	assert_resp_equal(&r, &d);
	assert_int_equal(p2p_diag_status_decode(d.infos[0].contents, &cong,
	    &err), 0);
	assert_int_equal(cong, 0x0c);
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_diag_resp_encode(&w2, &d), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);
	assert_truncations_fail(w.p, w.len, dec_resp, &d);
	p2p_w_free(&w2);
	p2p_w_free(&w);
	p2p_w_free(&store);
}

static void
test_round_trip_path_track(void **state)
{
	static const uint8_t rid[16] = { 0x11, 0x22, 0x33 };
	p2p_path_track_req q, dq;
	p2p_path_track_ans s, ds;
	p2p_diag_ext e[3];
	p2p_diag_info inf[5];
	p2p_wbuf store, w, w2;
	p2p_err err;

	(void)state;
	/* Request toward a resource id. */
	memset(&q, 0, sizeof(q));
	q.dest.type = P2P_DEST_RESOURCE;
	q.dest.data = B(rid, sizeof(rid));
	build_req(&q.req, e);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_path_track_req_encode(&w, &q), 0);
	assert_int_equal(p2p_path_track_req_decode(B(w.p, w.len),
	    fresh_arena(), &dq, &err), 0);
	assert_int_equal(dq.dest.type, P2P_DEST_RESOURCE);
	assert_true(p2p_bytes_eq(dq.dest.data, q.dest.data));
	assert_req_equal(&q.req, &dq.req);
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_path_track_req_encode(&w2, &dq), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);
	p2p_w_free(&w2);
	p2p_w_free(&w);

	/* Answer naming the next hop by a compressed destination. */
	memset(&s, 0, sizeof(s));
	s.next_hop.type = P2P_DEST_COMPRESSED;
	s.next_hop.compressed = 0x8abc;
	build_resp(&s.resp, inf, &store);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_path_track_ans_encode(&w, &s), 0);
	assert_int_equal(p2p_path_track_ans_decode(B(w.p, w.len),
	    fresh_arena(), &ds, &err), 0);
	assert_int_equal(ds.next_hop.type, P2P_DEST_COMPRESSED);
	assert_int_equal(ds.next_hop.compressed, 0x8abc);
	assert_resp_equal(&s.resp, &ds.resp);
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_path_track_ans_encode(&w2, &ds), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);
	assert_truncations_fail(w.p, w.len, dec_ptans, &ds);
	p2p_w_free(&w2);
	p2p_w_free(&w);
	p2p_w_free(&store);
}

/* Empty lists: written as ext_length 0 plus a zero list prefix. */
static void
test_empty_lists(void **state)
{
	static const char req_hex[] =
	    "0000000000000064 0000000000000000 0000000000000000"
	    "00000000 00000000";
	uint8_t buf[64];
	size_t n = unit_hex(req_hex, buf, sizeof(buf));
	p2p_diag_req r, d;
	p2p_diag_resp s;
	p2p_wbuf w;
	p2p_err err;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.expiration = 100;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_req_encode(&w, &r), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	assert_int_equal(p2p_diag_req_decode(B(buf, n), fresh_arena(), &d,
	    &err), 0);
	assert_int_equal(d.nexts, 0);
	p2p_w_free(&w);

	memset(&s, 0, sizeof(s));
	s.hop_counter = 1;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_resp_encode(&w, &s), 0);
	assert_int_equal(w.len, 24 + 1 + 8);
	assert_memory_equal(w.p + 25, "\0\0\0\0\0\0\0\0", 8);
	/* Every shorter prefix fails except the one ending right after
	 * ext_length = 0, which is the accepted prefix-less empty form. */
	for (size_t cut = 0; cut < w.len; cut++) {
		uint8_t *copy = malloc(cut > 0 ? cut : 1);
		int rc;

		assert_non_null(copy);
		memcpy(copy, w.p, cut);
		rc = p2p_diag_resp_decode(B(copy, cut), fresh_arena(), &s,
		    &err);
		assert_int_equal(rc, cut == 29 ? 0 : -1);
		free(copy);
	}
	p2p_w_free(&w);
}

/* The other ext_length layouts found in the wild decode to the same
 * struct; inconsistent ones are rejected. */
static void
test_ext_length_forms(void **state)
{
	/* ext_length counts the 4-byte list prefix too. */
	static const char with_prefix_hex[] =
	    "0000000000000064 0000000000000001 0000000000000002"
	    "0000000c 00000008 f001 00000002 6162";
	/* Empty list, no prefix at all. */
	static const char bare_hex[] =
	    "0000000000000064 0000000000000001 0000000000000002 00000000";
	static const char *const bad[] = {
		/* ext_length neither N nor N + 4 */
		"0000000000000064 0000000000000001 0000000000000002"
		"00000009 00000008 f001 00000002 6162",
		"0000000000000064 0000000000000001 0000000000000002"
		"00000004 00000008 f001 00000002 6162",
		/* ext_length 0 but a non-empty list follows */
		"0000000000000064 0000000000000001 0000000000000002"
		"00000000 00000008 f001 00000002 6162",
		/* list length beyond the data */
		"0000000000000064 0000000000000001 0000000000000002"
		"00000009 00000009 f001 00000002 6162",
		/* extension contents length beyond the list */
		"0000000000000064 0000000000000001 0000000000000002"
		"00000008 00000008 f001 00000003 6162",
		/* prefix-less with a list: not a form we accept */
		"0000000000000064 0000000000000001 0000000000000002"
		"00000008 f001 00000002 6162",
		/* trailing byte */
		"0000000000000064 0000000000000001 0000000000000002"
		"00000008 00000008 f001 00000002 6162 00",
		/* ext_length 0, prefix 0, trailing byte */
		"0000000000000064 0000000000000001 0000000000000002"
		"00000000 00000000 00",
	};
	uint8_t buf[128];
	size_t n;
	p2p_diag_req d;
	p2p_wbuf w;
	p2p_err err;

	(void)state;
	n = unit_hex(with_prefix_hex, buf, sizeof(buf));
	assert_int_equal(p2p_diag_req_decode(B(buf, n), fresh_arena(), &d,
	    &err), 0);
	assert_true(d.expiration == 100 && d.timestamp_initiated == 1 &&
	    d.flags == 2);
	assert_int_equal(d.nexts, 1);
	assert_int_equal(d.exts[0].kind, 0xf001);
	assert_memory_equal(d.exts[0].contents.p, "ab", 2);
	/* Re-encoding gives our canonical form: ext_length = 8. */
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_req_encode(&w, &d), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p + 24, "\0\0\0\x08\0\0\0\x08", 8);
	assert_memory_equal(w.p + 32, buf + 32, n - 32);
	p2p_w_free(&w);

	n = unit_hex(bare_hex, buf, sizeof(buf));
	assert_int_equal(p2p_diag_req_decode(B(buf, n), fresh_arena(), &d,
	    &err), 0);
	assert_int_equal(d.nexts, 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = unit_hex(bad[i], buf, sizeof(buf));
		err.reload_code = 0;
		if (p2p_diag_req_decode(B(buf, n), fresh_arena(), &d,
		    &err) != -1)
			fail_msg("bad input %zu accepted", i);
		assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	}
}

static void
test_malformed_bodies(void **state)
{
	uint8_t buf[160];
	size_t n;
	p2p_path_track_req q;
	p2p_path_track_ans s;
	p2p_diag_resp r;
	p2p_err err;

	(void)state;
	/* Trailing byte after a PathTrackReq / PathTrackAns. */
	n = unit_hex(ptreq_hex, buf, sizeof(buf));
	buf[n++] = 0;
	assert_int_equal(p2p_path_track_req_decode(B(buf, n), fresh_arena(),
	    &q, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	n = unit_hex(ptans_hex, buf, sizeof(buf));
	buf[n++] = 0;
	assert_int_equal(p2p_path_track_ans_decode(B(buf, n), fresh_arena(),
	    &s, &err), -1);
	/* Destination of invalid type 0. */
	n = unit_hex(ptreq_hex, buf, sizeof(buf));
	buf[0] = 0;
	assert_int_equal(p2p_path_track_req_decode(B(buf, n), fresh_arena(),
	    &q, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	/* DiagnosticInfo length running past the list. */
	n = unit_hex("0000000000000001 0000000000000002 0000000000000003 05"
	    "00000005 00000005 0001 0003 0a", buf, sizeof(buf));
	assert_int_equal(p2p_diag_resp_decode(B(buf, n), fresh_arena(), &r,
	    &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	/* A DiagnosticInfo header cut inside the list. */
	n = unit_hex("0000000000000001 0000000000000002 0000000000000003 05"
	    "00000003 00000003 0001 00", buf, sizeof(buf));
	assert_int_equal(p2p_diag_resp_decode(B(buf, n), fresh_arena(), &r,
	    &err), -1);
}

static void
test_arena_too_small(void **state)
{
	static _Alignas(16) uint8_t tiny[sizeof(p2p_diag_info)];
	p2p_diag_resp r, d;
	p2p_diag_info inf[5];
	p2p_wbuf store, w;
	p2p_arena a;
	p2p_err err;

	(void)state;
	build_resp(&r, inf, &store);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_resp_encode(&w, &r), 0);
	p2p_arena_init(&a, tiny, sizeof(tiny));
	assert_int_equal(p2p_diag_resp_decode(B(w.p, w.len), &a, &d, &err),
	    -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	p2p_w_free(&w);
	p2p_w_free(&store);
}

static void
test_encode_limits(void **state)
{
	static uint8_t big[0x10000];
	p2p_diag_resp r;
	p2p_diag_info inf;
	p2p_path_track_req q;
	p2p_wbuf w;

	(void)state;
	memset(&r, 0, sizeof(r));
	inf = (p2p_diag_info){ 0xf000, { big, sizeof(big) } };
	r.infos = &inf;
	r.ninfos = 1;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_resp_encode(&w, &r), -1);
	inf.contents.len = 0xffff;
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_resp_encode(&w, &r), 0);
	assert_int_equal(w.len, 25 + 8 + 4 + 0xffff);
	/* A destination that cannot be encoded. */
	memset(&q, 0, sizeof(q));
	q.dest.type = P2P_DEST_COMPRESSED;
	q.dest.compressed = 0x1234;
	p2p_w_reset(&w);
	assert_int_equal(p2p_path_track_req_encode(&w, &q), -1);
	p2p_w_free(&w);
}

static void
test_flag_kind_mapping(void **state)
{
	(void)state;
	assert_true(p2p_diag_kind_flag(P2P_DIAG_STATUS_INFO) ==
	    P2P_DIAG_FLAG_STATUS_INFO);
	assert_true(p2p_diag_kind_flag(P2P_DIAG_DOWNSTREAM_BANDWIDTH) ==
	    P2P_DIAG_FLAG_DOWNSTREAM_BANDWIDTH);
	assert_true(p2p_diag_kind_flag(P2P_DIAG_SOFTWARE_VERSION) ==
	    P2P_DIAG_FLAG_SOFTWARE_VERSION);
	assert_true(p2p_diag_kind_flag(P2P_DIAG_BATTERY_STATUS) ==
	    P2P_DIAG_FLAG_BATTERY_STATUS);
	assert_int_equal(p2p_diag_flag_kind(P2P_DIAG_FLAG_UNDERLAY_HOP),
	    P2P_DIAG_UNDERLAY_HOP);
	assert_int_equal(p2p_diag_flag_kind(0x0000000000000800ull),
	    P2P_DIAG_INSTANCES_STORED);
	for (uint16_t k = 1; k <= 62; k++) {
		uint64_t f = p2p_diag_kind_flag(k);
		assert_true(f != 0);
		assert_int_equal(p2p_diag_flag_kind(f), k);
	}
	assert_true(p2p_diag_kind_flag(0) == 0);
	assert_true(p2p_diag_kind_flag(63) == 0);
	assert_true(p2p_diag_kind_flag(0xf000) == 0);
	assert_int_equal(p2p_diag_flag_kind(0), P2P_DIAG_KIND_RESERVED);
	assert_int_equal(p2p_diag_flag_kind(P2P_DIAG_FLAG_RESERVED_FIRST),
	    P2P_DIAG_KIND_RESERVED);
	assert_int_equal(p2p_diag_flag_kind(P2P_DIAG_FLAG_RESERVED_LAST),
	    P2P_DIAG_KIND_RESERVED);
	assert_int_equal(p2p_diag_flag_kind(P2P_DIAG_FLAG_ALL),
	    P2P_DIAG_KIND_RESERVED);
	assert_int_equal(p2p_diag_flag_kind(0x6), P2P_DIAG_KIND_RESERVED);

	assert_true(p2p_diag_flags_want(P2P_DIAG_FLAG_ALL,
	    P2P_DIAG_BATTERY_STATUS));
	assert_true(p2p_diag_flags_want(P2P_DIAG_FLAG_ALL, 62));
	assert_false(p2p_diag_flags_want(P2P_DIAG_FLAG_ALL, 0xf000));
	assert_false(p2p_diag_flags_want(P2P_DIAG_FLAG_NONE,
	    P2P_DIAG_STATUS_INFO));
	assert_string_equal(p2p_diag_kind_name(P2P_DIAG_EWMA_BYTES_RCVD),
	    "EWMA_BYTES_RCVD");
	assert_null(p2p_diag_kind_name(0));
	assert_null(p2p_diag_kind_name(0x11));
}

static void
test_validate(void **state)
{
	const uint64_t now = 1700000000000ull;
	p2p_diag_ext e[2];
	p2p_diag_req r;
	p2p_err err;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.flags = P2P_DIAG_FLAG_STATUS_INFO;
	r.expiration = now + 1;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), 0);
	r.expiration = now + 600000;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), 0);
	r.expiration = now + 600001;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	r.expiration = now;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_MESSAGE_EXPIRED);
	r.expiration = now - 5000;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_MESSAGE_EXPIRED);
	r.expiration = 0;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_MESSAGE_EXPIRED);
	/* No overflow near the top of the range. */
	assert_int_equal(p2p_diag_check_expiration(UINT64_MAX,
	    UINT64_MAX - 600000, &err), 0);
	assert_int_equal(p2p_diag_check_expiration(UINT64_MAX, 0, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);

	/* dMFlags: all zeros and all ones are fine; otherwise the reserved
	 * first and last bits must be clear. */
	r.expiration = now + 1000;
	r.flags = P2P_DIAG_FLAG_NONE;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), 0);
	r.flags = P2P_DIAG_FLAG_ALL;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), 0);
	r.flags = P2P_DIAG_FLAG_STATUS_INFO | P2P_DIAG_FLAG_RESERVED_FIRST;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	r.flags = P2P_DIAG_FLAG_STATUS_INFO | P2P_DIAG_FLAG_RESERVED_LAST;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	r.flags = P2P_DIAG_FLAG_RESERVED_FIRST;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	r.flags = P2P_DIAG_FLAG_ALL & ~P2P_DIAG_FLAG_RESERVED_LAST;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);

	/* Extension kinds. */
	r.flags = P2P_DIAG_FLAG_NONE;
	r.exts = e;
	r.nexts = 2;
	e[0] = (p2p_diag_ext){ 0xf000, { NULL, 0 } };
	e[1] = (p2p_diag_ext){ 0x0040, { NULL, 0 } };
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), 0);
	e[1].kind = P2P_DIAG_KIND_FLAG_MAX;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	e[1].kind = P2P_DIAG_ROUTING_TABLE_SIZE;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	e[1].kind = 0;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	e[1].kind = 0xffff;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	e[1].kind = 0xfffe;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), 0);
	/* An expired request reports expiry first. */
	r.expiration = now;
	e[1].kind = 0x0001;
	assert_int_equal(p2p_diag_req_validate(&r, now, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_MESSAGE_EXPIRED);
}

static void
test_scalar_kinds(void **state)
{
	static const struct {
		uint16_t kind;
		size_t size;
		uint64_t value;
	} cases[] = {
		{ P2P_DIAG_STATUS_INFO, 1, 0x0f },
		{ P2P_DIAG_ROUTING_TABLE_SIZE, 4, 0xfedcba98u },
		{ P2P_DIAG_PROCESS_POWER, 8, 0x0102030405060708ull },
		{ P2P_DIAG_UPSTREAM_BANDWIDTH, 8, 100000 },
		{ P2P_DIAG_DOWNSTREAM_BANDWIDTH, 8, UINT64_MAX },
		{ P2P_DIAG_MACHINE_UPTIME, 8, 86400 },
		{ P2P_DIAG_APP_UPTIME, 8, 3600 },
		{ P2P_DIAG_MEMORY_FOOTPRINT, 8, 4096 },
		{ P2P_DIAG_DATASIZE_STORED, 8, 1ull << 40 },
		{ P2P_DIAG_EWMA_BYTES_SENT, 4, 12345 },
		{ P2P_DIAG_EWMA_BYTES_RCVD, 4, 0xffffffffu },
		{ P2P_DIAG_UNDERLAY_HOP, 1, 0xff },
		{ P2P_DIAG_BATTERY_STATUS, 1, 0x80 },
	};
	uint8_t zeros[16] = { 0 };
	p2p_wbuf w;
	p2p_err err;
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t k = cases[i].kind;
		size_t sz = cases[i].size;

		assert_int_equal(p2p_diag_scalar_size(k), sz);
		p2p_w_init(&w, 0);
		assert_int_equal(p2p_diag_scalar_encode(&w, k, cases[i].value),
		    0);
		assert_int_equal(w.len, sz);
		/* Big-endian: the last byte is the low byte. */
		assert_int_equal(w.p[sz - 1], cases[i].value & 0xff);
		v = 0;
		assert_int_equal(p2p_diag_scalar_decode(k, B(w.p, w.len), &v,
		    &err), 0);
		assert_true(v == cases[i].value);
		/* One byte short, one byte long, empty. */
		assert_int_equal(p2p_diag_scalar_decode(k, B(w.p, sz - 1), &v,
		    &err), -1);
		assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
		assert_int_equal(p2p_diag_scalar_decode(k, B(zeros, sz + 1),
		    &v, &err), -1);
		assert_int_equal(p2p_diag_scalar_decode(k, B(NULL, 0), &v,
		    &err), -1);
		/* Value too wide for the kind. */
		if (sz < 8) {
			p2p_w_reset(&w);
			assert_int_equal(p2p_diag_scalar_encode(&w, k,
			    1ull << (8 * sz)), -1);
		}
		p2p_w_free(&w);
	}
	/* Not single-value kinds. */
	assert_int_equal(p2p_diag_scalar_size(P2P_DIAG_SOFTWARE_VERSION), 0);
	assert_int_equal(p2p_diag_scalar_size(P2P_DIAG_INSTANCES_STORED), 0);
	assert_int_equal(p2p_diag_scalar_size(0xf000), 0);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_scalar_encode(&w, P2P_DIAG_MESSAGES_SENT_RCVD,
	    1), -1);
	assert_int_equal(p2p_diag_scalar_decode(P2P_DIAG_SOFTWARE_VERSION,
	    B(zeros, 8), &v, &err), -1);
	p2p_w_free(&w);
}

static void
test_status_and_battery(void **state)
{
	static const uint8_t high = 0x10, ok = 0x07, on = 0x05, off = 0x85;
	p2p_wbuf w;
	p2p_err err;
	uint8_t c, app;
	int bat;

	(void)state;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_status_encode(&w, 0x10), -1);
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_status_encode(&w, 0x0f), 0);
	assert_int_equal(w.len, 1);
	assert_int_equal(w.p[0], 0x0f);
	assert_int_equal(p2p_diag_status_decode(B(&high, 1), &c, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	assert_int_equal(p2p_diag_status_decode(B(&ok, 1), &c, &err), 0);
	assert_int_equal(c, 7);
	assert_int_equal(p2p_diag_status_decode(B(NULL, 0), &c, &err), -1);

	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_battery_encode(&w, 1, 0x05), 0);
	assert_int_equal(w.p[0], 0x05);
	assert_int_equal(p2p_diag_battery_encode(&w, 0, 0x05), 0);
	assert_int_equal(w.p[1], 0x85);
	assert_int_equal(p2p_diag_battery_encode(&w, 1, 0x80), -1);
	assert_int_equal(p2p_diag_battery_decode(B(&on, 1), &bat, &app, &err),
	    0);
	assert_true(bat);
	assert_int_equal(app, 5);
	assert_int_equal(p2p_diag_battery_decode(B(&off, 1), &bat, &app,
	    &err), 0);
	assert_false(bat);
	assert_int_equal(app, 5);
	assert_int_equal(p2p_diag_battery_decode(B(w.p, 2), &bat, &app, &err),
	    -1);
	p2p_w_free(&w);
}

static void
test_software_version(void **state)
{
	static const uint8_t no_nul[] = { 'a', 'b' };
	static const uint8_t inner_nul[] = { 'a', 0, 'b', 0 };
	static const uint8_t high[] = { 'a', 0xc3, 0xa9, 0 };
	static const uint8_t del[] = { 0x7f, 0 };
	static const uint8_t only_nul[] = { 0 };
	static char longest[0xffff];
	p2p_wbuf w;
	p2p_err err;
	const char *s;
	size_t len;

	(void)state;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_software_encode(&w, "node/2.0 (Unix)"), 0);
	assert_int_equal(w.len, 16);
	assert_int_equal(w.p[15], 0);
	assert_int_equal(p2p_diag_software_decode(B(w.p, w.len), &s, &len,
	    &err), 0);
	assert_int_equal(len, 15);
	assert_string_equal(s, "node/2.0 (Unix)");
	/* Each rejected form, with the cut copy exactly sized. */
	assert_int_equal(p2p_diag_software_decode(B(w.p, w.len - 1), &s, &len,
	    &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	assert_int_equal(p2p_diag_software_decode(B(no_nul, 2), &s, &len,
	    &err), -1);
	assert_int_equal(p2p_diag_software_decode(B(inner_nul, 4), &s, &len,
	    &err), -1);
	assert_int_equal(p2p_diag_software_decode(B(high, 4), &s, &len,
	    &err), -1);
	assert_int_equal(p2p_diag_software_decode(B(NULL, 0), &s, &len,
	    &err), -1);
	assert_int_equal(p2p_diag_software_decode(B(del, 2), &s, &len, &err),
	    0);
	assert_int_equal(p2p_diag_software_decode(B(only_nul, 1), &s, &len,
	    &err), 0);
	assert_int_equal(len, 0);
	assert_string_equal(s, "");
	/* Encoder: non-ASCII refused; the longest string that fits a
	 * DiagnosticInfo is 65534 characters. */
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_software_encode(&w, "caf\xc3\xa9"), -1);
	memset(longest, 'x', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_software_encode(&w, longest), 0);
	assert_int_equal(w.len, 0xffff);
	/* 65535 characters and the NUL do not fit. */
	{
		char *s2 = malloc(0x10000 + 1);
		assert_non_null(s2);
		memset(s2, 'x', 0x10000 - 1);
		s2[0x10000 - 1] = '\0';
		p2p_w_reset(&w);
		assert_int_equal(p2p_diag_software_encode(&w, s2), -1);
		free(s2);
	}
	p2p_w_free(&w);
}

static void
test_instances_stored(void **state)
{
	static const p2p_diag_instances in[] = {
		{ 1, 10 }, { 0x0000f00d, 0 }, { 0xffffffffu, UINT64_MAX },
	};
	static const char hex[] =
	    "00000001 000000000000000a"
	    "0000f00d 0000000000000000"
	    "ffffffff ffffffffffffffff";
	uint8_t want[64];
	size_t wn = unit_hex(hex, want, sizeof(want));
	static p2p_diag_instances many[0xffff / 12 + 1];
	p2p_diag_instances *out;
	size_t n;
	p2p_wbuf w;
	p2p_err err;

	(void)state;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_instances_encode(&w, in, 3), 0);
	assert_int_equal(w.len, wn);
	assert_memory_equal(w.p, want, wn);
	assert_int_equal(p2p_diag_instances_decode(B(w.p, w.len),
	    fresh_arena(), &out, &n, &err), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(out[i].kind, in[i].kind);
		assert_true(out[i].count == in[i].count);
	}
	for (size_t cut = 1; cut < 12; cut++)
		assert_int_equal(p2p_diag_instances_decode(B(w.p, w.len - cut),
		    fresh_arena(), &out, &n, &err), -1);
	assert_int_equal(p2p_diag_instances_decode(B(NULL, 0), fresh_arena(),
	    &out, &n, &err), 0);
	assert_int_equal(n, 0);
	/* At most 5461 entries fit a DiagnosticInfo. */
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_instances_encode(&w, many, 0xffff / 12), 0);
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_instances_encode(&w, many,
	    0xffff / 12 + 1), -1);
	p2p_w_free(&w);
}

static void
test_messages_sent_rcvd(void **state)
{
	static const p2p_diag_msg_count in[] = {
		{ P2P_PING_REQ, 5, 6 }, { P2P_PATH_TRACK_ANS, 0, 1ull << 63 },
	};
	static const char hex[] =
	    "0017 0000000000000005 0000000000000006"
	    "0028 0000000000000000 8000000000000000";
	uint8_t want[64];
	size_t wn = unit_hex(hex, want, sizeof(want));
	static p2p_diag_msg_count many[0xffff / 18 + 1];
	static _Alignas(16) uint8_t tiny[sizeof(p2p_diag_msg_count)];
	p2p_diag_msg_count *out;
	p2p_arena a;
	size_t n;
	p2p_wbuf w;
	p2p_err err;

	(void)state;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_msg_counts_encode(&w, in, 2), 0);
	assert_int_equal(w.len, wn);
	assert_memory_equal(w.p, want, wn);
	assert_int_equal(p2p_diag_msg_counts_decode(B(w.p, w.len),
	    fresh_arena(), &out, &n, &err), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(out[i].code, in[i].code);
		assert_true(out[i].sent == in[i].sent);
		assert_true(out[i].rcvd == in[i].rcvd);
	}
	for (size_t cut = 1; cut < 18; cut++)
		assert_int_equal(p2p_diag_msg_counts_decode(B(w.p,
		    w.len - cut), fresh_arena(), &out, &n, &err), -1);
	/* Two entries do not fit an arena sized for one. */
	p2p_arena_init(&a, tiny, sizeof(tiny));
	assert_int_equal(p2p_diag_msg_counts_decode(B(w.p, w.len), &a, &out,
	    &n, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_msg_counts_encode(&w, many, 0xffff / 18), 0);
	p2p_w_reset(&w);
	assert_int_equal(p2p_diag_msg_counts_encode(&w, many,
	    0xffff / 18 + 1), -1);
	p2p_w_free(&w);
}

static void
test_req_truncation(void **state)
{
	static const uint8_t c[] = { 9, 8, 7 };
	p2p_diag_req r, d;
	p2p_diag_ext e[2];
	p2p_wbuf w;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.expiration = 42;
	r.flags = P2P_DIAG_FLAG_ALL;
	e[0] = (p2p_diag_ext){ 0x1234, { c, sizeof(c) } };
	e[1] = (p2p_diag_ext){ 0xf00f, { NULL, 0 } };
	r.exts = e;
	r.nexts = 2;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_diag_req_encode(&w, &r), 0);
	assert_truncations_fail(w.p, w.len, dec_req, &d);
	p2p_w_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_path_track_req),
		cmocka_unit_test(test_golden_path_track_ans),
		cmocka_unit_test(test_truncation_golden),
		cmocka_unit_test(test_round_trip_diag_req),
		cmocka_unit_test(test_round_trip_diag_resp),
		cmocka_unit_test(test_round_trip_path_track),
		cmocka_unit_test(test_empty_lists),
		cmocka_unit_test(test_ext_length_forms),
		cmocka_unit_test(test_malformed_bodies),
		cmocka_unit_test(test_arena_too_small),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_flag_kind_mapping),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_scalar_kinds),
		cmocka_unit_test(test_status_and_battery),
		cmocka_unit_test(test_software_version),
		cmocka_unit_test(test_instances_stored),
		cmocka_unit_test(test_messages_sent_rcvd),
		cmocka_unit_test(test_req_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
