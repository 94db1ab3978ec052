#include "unit.h"

#include "msg.h"

static _Alignas(16) uint8_t arena_mem[1 << 16];

/* A framed PingReq with a node destination, no certificates, an ECDSA/
 * SHA-256 cert_hash signer; written by hand from RFC 6940 s6.3. */
static const char ping_hex[] =
    "d2454c4f 4e38fc3f 0000 0a 64 c0000000 00000077 1111111111111111"
    "00000000 0000 0012 0000"
    "01 10 0102030405060708090a0b0c0d0e0f10"
    "0017 00000002 0000 00000000"
    "0000"
    "04 03 01 0022 04 20 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "0008 5555555555555555";

static void
test_golden_ping_header(void **state)
{
	uint8_t buf[256];
	size_t n = unit_hex(ping_hex, buf, sizeof(buf));
	p2p_arena a;
	p2p_msg m;
	p2p_err err;

	(void)state;
	assert_int_equal(n, 0x77);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(buf, n, NULL, &a, &m, &err), 0);
	assert_int_equal(m.overlay, 0x4e38fc3f);
	assert_int_equal(m.config_seq, 0);
	assert_int_equal(m.version, 0x0a);
	assert_int_equal(m.ttl, 100);
	assert_int_equal(m.fragment, P2P_FRAG_WHOLE);
	assert_int_equal(m.length, 0x77);
	assert_true(m.transaction_id == 0x1111111111111111ull);
	assert_int_equal(m.nvia, 0);
	assert_int_equal(m.ndest, 1);
	assert_int_equal(m.dest[0].type, P2P_DEST_NODE);
	assert_int_equal(m.dest[0].node.b[0], 0x01);
	assert_int_equal(m.dest[0].node.b[15], 0x10);
	assert_int_equal(m.code, P2P_PING_REQ);
	assert_int_equal(m.body.len, 2);
	assert_int_equal(m.nexts, 0);
	assert_int_equal(m.ncerts, 0);
	assert_int_equal(m.sig.hash_alg, P2P_HASH_SHA256);
	assert_int_equal(m.sig.sig_alg, P2P_SIGALG_ECDSA);
	assert_int_equal(m.sig.signer.type, P2P_SIGNER_CERT_HASH);
	assert_int_equal(m.sig.signer.hash_alg, P2P_HASH_SHA256);
	assert_int_equal(m.sig.signer.hash.len, 32);
	assert_int_equal(m.sig.value.len, 8);
	assert_int_equal(m.raw_contents.len, 2 + 4 + 2 + 4);
	assert_int_equal(m.raw_signer.len, 1 + 2 + 0x22);
}

static uint8_t cert_a[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
static uint8_t cert_b[300];
static uint8_t opaque_id[] = { 0xde, 0xad, 0xbe, 0xef };
static uint8_t res_id[16] = { 0xab, 0xcd };

static void
build_rich(p2p_msg *m, p2p_dest *via, p2p_dest *dest, p2p_fwd_option *opt,
    p2p_msg_ext *ext, p2p_cert *certs)
{
	static uint8_t body[] = { 0x00, 0x03, 'a', 'b', 'c' };
	static uint8_t ov[] = { 1, 2, 3 };
	static uint8_t hash[32];
	static uint8_t sig[71];
	p2p_id n1 = { .b = { 1 } }, n2 = { .b = { 2 } };

	memset(cert_b, 0x42, sizeof(cert_b));
	memset(hash, 0x11, sizeof(hash));
	memset(sig, 0x22, sizeof(sig));
	p2p_msg_init(m);
	m->overlay = p2p_overlay_hash("example.org");
	m->config_seq = 7;
	m->ttl = 42;
	m->transaction_id = 0x0102030405060708ull;
	m->max_response_length = 9000;
	p2p_dest_node(&via[0], &n1);
	memset(&via[1], 0, sizeof(via[1]));
	via[1].type = P2P_DEST_COMPRESSED;
	via[1].compressed = 0x8123;
	memset(&via[2], 0, sizeof(via[2]));
	via[2].type = P2P_DEST_OPAQUE;
	via[2].data.p = opaque_id;
	via[2].data.len = sizeof(opaque_id);
	m->via = via;
	m->nvia = 3;
	p2p_dest_node(&dest[0], &n2);
	memset(&dest[1], 0, sizeof(dest[1]));
	dest[1].type = P2P_DEST_RESOURCE;
	dest[1].data.p = res_id;
	dest[1].data.len = sizeof(res_id);
	m->dest = dest;
	m->ndest = 2;
	opt[0] = (p2p_fwd_option){ 1, P2P_FWDOPT_RESPONSE_COPY, { ov, 3 } };
	opt[1] = (p2p_fwd_option){ 9, 0, { NULL, 0 } };
	m->options = opt;
	m->noptions = 2;
	m->code = P2P_PING_REQ;
	m->body.p = body;
	m->body.len = sizeof(body);
	ext[0] = (p2p_msg_ext){ P2P_EXT_DIAGNOSTIC_PING, 1, { ov, 3 } };
	ext[1] = (p2p_msg_ext){ 0x77, 0, { NULL, 0 } };
	m->exts = ext;
	m->nexts = 2;
	certs[0] = (p2p_cert){ P2P_CERT_X509, { cert_a, sizeof(cert_a) } };
	certs[1] = (p2p_cert){ P2P_CERT_X509, { cert_b, sizeof(cert_b) } };
	m->certs = certs;
	m->ncerts = 2;
	m->sig.hash_alg = P2P_HASH_SHA256;
	m->sig.sig_alg = P2P_SIGALG_ECDSA;
	m->sig.signer.type = P2P_SIGNER_CERT_HASH_NODE_ID;
	m->sig.signer.hash_alg = P2P_HASH_SHA256;
	m->sig.signer.hash.p = hash;
	m->sig.signer.hash.len = sizeof(hash);
	m->sig.value.p = sig;
	m->sig.value.len = sizeof(sig);
}

static void
assert_dest_equal(const p2p_dest *a, const p2p_dest *b)
{
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case P2P_DEST_NODE:
		assert_true(p2p_id_eq(&a->node, &b->node));
		break;
	case P2P_DEST_COMPRESSED:
		assert_int_equal(a->compressed, b->compressed);
		break;
	default:
		assert_true(p2p_bytes_eq(a->data, b->data));
	}
}

static void
test_rich_round_trip(void **state)
{
	p2p_msg m, d;
	p2p_dest via[3], dest[2];
	p2p_fwd_option opt[2];
	p2p_msg_ext ext[2];
	p2p_cert certs[2];
	p2p_wbuf w, w2;
	p2p_arena a;
	p2p_err err;

	(void)state;
	build_rich(&m, via, dest, opt, ext, certs);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(w.p, w.len, NULL, &a, &d, &err), 0);
	assert_int_equal(d.length, w.len);
	assert_int_equal(d.overlay, m.overlay);
	assert_int_equal(d.config_seq, 7);
	assert_int_equal(d.ttl, 42);
	assert_true(d.transaction_id == m.transaction_id);
	assert_int_equal(d.max_response_length, 9000);
	assert_int_equal(d.nvia, 3);
	for (size_t i = 0; i < 3; i++)
		assert_dest_equal(&d.via[i], &via[i]);
	assert_int_equal(d.ndest, 2);
	for (size_t i = 0; i < 2; i++)
		assert_dest_equal(&d.dest[i], &dest[i]);
	assert_int_equal(d.noptions, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(d.options[i].type, opt[i].type);
		assert_int_equal(d.options[i].flags, opt[i].flags);
		assert_true(p2p_bytes_eq(d.options[i].value, opt[i].value));
	}
	assert_int_equal(d.code, m.code);
	assert_true(p2p_bytes_eq(d.body, m.body));
	assert_int_equal(d.nexts, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(d.exts[i].type, ext[i].type);
		assert_int_equal(d.exts[i].critical, ext[i].critical);
		assert_true(p2p_bytes_eq(d.exts[i].contents, ext[i].contents));
	}
	assert_int_equal(d.ncerts, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(d.certs[i].type, certs[i].type);
		assert_true(p2p_bytes_eq(d.certs[i].der, certs[i].der));
	}
	assert_int_equal(d.sig.hash_alg, m.sig.hash_alg);
	assert_int_equal(d.sig.sig_alg, m.sig.sig_alg);
	assert_int_equal(d.sig.signer.type, m.sig.signer.type);
	assert_true(p2p_bytes_eq(d.sig.signer.hash, m.sig.signer.hash));
	assert_true(p2p_bytes_eq(d.sig.value, m.sig.value));

	/* decode -> encode gives the same bytes */
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_msg_encode(&w2, &d), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);

	/* the contents bytes the signature covers are the encoder's */
	p2p_w_reset(&w2);
	assert_int_equal(p2p_contents_encode(&w2, &m), 0);
	assert_int_equal(w2.len, d.raw_contents.len);
	assert_memory_equal(w2.p, d.raw_contents.p, w2.len);
	p2p_w_free(&w2);
	p2p_w_free(&w);
}

static void
test_truncation_at_every_offset(void **state)
{
	p2p_msg m, d;
	p2p_dest via[3], dest[2];
	p2p_fwd_option opt[2];
	p2p_msg_ext ext[2];
	p2p_cert certs[2];
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;

	(void)state;
	build_rich(&m, via, dest, opt, ext, certs);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	for (size_t n = 0; n < w.len; n++) {
		/* a copy exactly n bytes long, so ASan sees any over-read */
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, w.p, n);
		p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
		assert_int_equal(p2p_msg_decode(cut, n, NULL, &a, &d, &err), -1);
		/* with a fixed-up length field the error comes from the
		 * structure itself */
		if (n >= 20) {
			cut[16] = (uint8_t)(n >> 24); cut[17] = (uint8_t)(n >> 16);
			cut[18] = (uint8_t)(n >> 8); cut[19] = (uint8_t)n;
			p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
			assert_int_equal(p2p_msg_decode(cut, n, NULL, &a, &d,
			    &err), -1);
			assert_non_null(err.what);
		}
		free(cut);
	}
	p2p_w_free(&w);
}

static void
test_rejects(void **state)
{
	uint8_t buf[512];
	size_t n;
	p2p_arena a;
	p2p_msg m;
	p2p_err err;
	p2p_decode_opts o = { 0 };

	(void)state;
	n = unit_hex(ping_hex, buf, sizeof(buf));
#define DECODE() (p2p_arena_init(&a, arena_mem, sizeof(arena_mem)), \
	p2p_msg_decode(buf, n, &o, &a, &m, &err))
	assert_int_equal(DECODE(), 0);

	/* too large for the configured maximum */
	o.max_size = 100;
	assert_int_equal(DECODE(), -1);
	assert_int_equal(err.reload_code, P2P_ERR_MESSAGE_TOO_LARGE);
	o.max_size = 0;

	/* bad token: dropped silently */
	buf[0] ^= 1;
	assert_int_equal(DECODE(), -1);
	assert_int_equal(err.reload_code, 0);
	buf[0] ^= 1;

	/* wrong version */
	buf[10] = 0x01;
	assert_int_equal(DECODE(), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INCOMPATIBLE);
	buf[10] = 0x0a;

	/* length field says one more byte; then a trailing byte */
	buf[19]++;
	assert_int_equal(DECODE(), -1);
	buf[n++] = 0;
	assert_int_equal(DECODE(), -1);
	assert_string_equal(err.what, "trailing bytes after the message");
	n--;
	buf[19]--;

	/* node destination length 15 */
	buf[39] = 0x0f;
	assert_int_equal(DECODE(), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	buf[39] = 0x10;

	/* message code 0 */
	buf[56] = 0; buf[57] = 0;
	assert_int_equal(DECODE(), -1);
	buf[57] = 0x17;
	assert_int_equal(DECODE(), 0);
#undef DECODE
}

static void
test_critical_options_and_extensions(void **state)
{
	p2p_msg m, d;
	p2p_dest via[3], dest[2];
	p2p_fwd_option opt[2];
	p2p_msg_ext ext[2];
	p2p_cert certs[2];
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;
	p2p_decode_opts o = { 0, P2P_ROLE_FORWARDER };

	(void)state;
	build_rich(&m, via, dest, opt, ext, certs);
	ext[0].type = 0x99;	/* unknown and critical */
	opt[1].flags = P2P_FWDOPT_DESTINATION_CRITICAL;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	/* a forwarder does not care about destination-critical options */
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(w.p, w.len, &o, &a, &d, &err), 0);
	o.role = P2P_ROLE_DESTINATION;
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(w.p, w.len, &o, &a, &d, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_UNSUPPORTED_FWD_OPTION);

	opt[1].flags = 0;
	p2p_w_reset(&w);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(w.p, w.len, &o, &a, &d, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_UNKNOWN_EXTENSION);

	opt[1].flags = P2P_FWDOPT_FORWARD_CRITICAL;
	ext[0].critical = 0;
	p2p_w_reset(&w);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	o.role = P2P_ROLE_FORWARDER;
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(w.p, w.len, &o, &a, &d, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_UNSUPPORTED_FWD_OPTION);
	p2p_w_free(&w);
}

static void
test_arena_too_small_fails_cleanly(void **state)
{
	p2p_msg m, d;
	p2p_dest via[3], dest[2];
	p2p_fwd_option opt[2];
	p2p_msg_ext ext[2];
	p2p_cert certs[2];
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;
	_Alignas(16) uint8_t small[64];

	(void)state;
	build_rich(&m, via, dest, opt, ext, certs);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	p2p_arena_init(&a, small, sizeof(small));
	assert_int_equal(p2p_msg_decode(w.p, w.len, NULL, &a, &d, &err), -1);
	p2p_w_free(&w);
}

static void
test_misplaced_resource_destination(void **state)
{
	p2p_msg m, d;
	p2p_dest via[3], dest[2], tmp;
	p2p_fwd_option opt[2];
	p2p_msg_ext ext[2];
	p2p_cert certs[2];
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;

	(void)state;
	build_rich(&m, via, dest, opt, ext, certs);
	tmp = dest[0]; dest[0] = dest[1]; dest[1] = tmp;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(w.p, w.len, NULL, &a, &d, &err), -1);
	p2p_w_free(&w);
}

static void
test_forward_rewrite_keeps_payload(void **state)
{
	p2p_msg m, d, d2;
	p2p_dest via[3], dest[2], nvia[4];
	p2p_fwd_option opt[2];
	p2p_msg_ext ext[2];
	p2p_cert certs[2];
	p2p_wbuf w, w2;
	p2p_arena a;
	p2p_err err;
	p2p_bytes payload;
	p2p_id hop = { .b = { 9, 9 } };

	(void)state;
	build_rich(&m, via, dest, opt, ext, certs);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_fwd_decode(w.p, w.len, NULL, &a, &d, &payload,
	    &err), 0);
	/* a forwarder pops nothing here, appends a via entry, spends a hop */
	memcpy(nvia, d.via, d.nvia * sizeof(*nvia));
	p2p_dest_node(&nvia[d.nvia], &hop);
	d.via = nvia;
	d.nvia++;
	d.ttl--;
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_msg_encode_fwd(&w2, &d, payload), 0);
	assert_int_equal(w2.len, w.len + 18);
	assert_int_equal(p2p_msg_decode(w2.p, w2.len, NULL, &a, &d2, &err), 0);
	assert_int_equal(d2.ttl, 41);
	assert_int_equal(d2.nvia, 4);
	assert_true(p2p_id_eq(&d2.via[3].node, &hop));
	assert_int_equal(d2.code, P2P_PING_REQ);
	assert_int_equal(d2.ncerts, 2);
	p2p_w_free(&w2);
	p2p_w_free(&w);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(p2p_code_name(P2P_PATH_TRACK_ANS), "PathTrackAns");
	assert_null(p2p_code_name(0x05));
	assert_string_equal(p2p_error_name(P2P_ERR_TTL_HOPS_EXCEEDED),
	    "Error_TTL_Hops_Exceeded");
	assert_null(p2p_error_name(0x1b));
	assert_true(p2p_code_is_request(P2P_STORE_REQ));
	assert_false(p2p_code_is_request(P2P_STORE_ANS));
	assert_false(p2p_code_is_request(P2P_ERROR));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_ping_header),
		cmocka_unit_test(test_rich_round_trip),
		cmocka_unit_test(test_truncation_at_every_offset),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_critical_options_and_extensions),
		cmocka_unit_test(test_arena_too_small_fails_cleanly),
		cmocka_unit_test(test_misplaced_resource_destination),
		cmocka_unit_test(test_forward_rewrite_keeps_payload),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
