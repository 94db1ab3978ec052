#include "unit.h"

#include "sipreg.h"

static _Alignas(16) uint8_t arena_mem[1 << 14];

static p2p_arena *
fresh_arena(p2p_arena *a)
{
	p2p_arena_init(a, arena_mem, sizeof(arena_mem));
	return a;
}

static p2p_bytes
B(const void *p, size_t n)
{
	p2p_bytes b = { p, n };
	return b;
}

/* Every proper prefix of a valid encoding fails, uses no arena and
 * says why; the whole decodes. */
static void
truncations(const uint8_t *p, size_t len)
{
	for (size_t n = 0; n <= len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		p2p_sip_reg r;
		p2p_arena a;
		p2p_err err;

		assert_non_null(cut);
		memcpy(cut, p, n);
		memset(&err, 0, sizeof(err));
		fresh_arena(&a);
		if (n == len) {
			assert_int_equal(p2p_sip_reg_decode(B(cut, n), &a, &r,
			    &err), 0);
		} else {
			assert_int_equal(p2p_sip_reg_decode(B(cut, n), &a, &r,
			    &err), -1);
			assert_non_null(err.what);
			assert_int_equal(err.reload_code,
			    P2P_ERR_INVALID_MESSAGE);
			assert_int_equal(a.used, 0);
		}
		free(cut);
	}
}

/* ---- SipRegistration, laid out by hand from RFC 7904 s3 ---- */

static void
test_route_golden(void **state)
{
	/* type 2, length 0x16: contact_prefs "" (0000), destination list
	 * of 0x12 bytes: one node Destination (01 10 <16 bytes>) */
	const char *hex = "02 0016 0000 0012 01 10"
	    "000102030405060708090a0b0c0d0e0f";
	uint8_t buf[64];
	size_t n = unit_hex(hex, buf, sizeof(buf));
	p2p_sip_reg r, e;
	p2p_dest d;
	p2p_id id;
	p2p_arena a;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	assert_int_equal(n, 1 + 2 + 2 + 2 + 18);
	assert_int_equal(p2p_sip_reg_decode(B(buf, n), fresh_arena(&a), &r,
	    &err), 0);
	assert_int_equal(r.type, P2P_SIPREG_ROUTE);
	assert_int_equal(r.contact_prefs.len, 0);
	assert_int_equal(r.ndests, 1);
	assert_int_equal(r.dests[0].type, P2P_DEST_NODE);
	for (int i = 0; i < 16; i++)
		id.b[i] = (uint8_t)i;
	assert_memory_equal(r.dests[0].node.b, id.b, 16);

	/* the helper builds the same bytes */
	p2p_dest_node(&d, &id);
	p2p_sip_reg_route(&e, &d, 1);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_sip_reg_encode(&w, &e), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	p2p_w_free(&w);
	truncations(buf, n);
}

static void
test_uri_golden(void **state)
{
	/* type 1, length 0x11: uri "bob@example.org" (0x0f bytes) */
	uint8_t buf[64];
	size_t n = unit_hex("01 0011 000f 626f62406578616d706c652e6f7267",
	    buf, sizeof(buf));
	p2p_sip_reg r;
	p2p_arena a;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	assert_int_equal(p2p_sip_reg_decode(B(buf, n), fresh_arena(&a), &r,
	    &err), 0);
	assert_int_equal(r.type, P2P_SIPREG_URI);
	assert_int_equal(r.uri.len, 15);
	assert_memory_equal(r.uri.p, "bob@example.org", 15);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_sip_reg_encode(&w, &r), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	p2p_w_free(&w);
	truncations(buf, n);
}

static void
test_reg_rejects(void **state)
{
	static const char *bad[] = {
		"",				/* nothing */
		"02",				/* no length */
		"02 0004 0000 0000",		/* empty destination list */
		"02 0005 0000 0001 00",		/* list of 1 byte */
		"02 0007 0000 0003 01 10 00",	/* node id cut short */
		"02 0008 0000 0003 01 01 00 ff",/* trailing byte inside */
		"01 0003 0001 41 00",		/* trailing byte outside */
		"01 0002 0003 41",		/* uri longer than the value */
		"02 0009 0000 0005 8001 8002 ff",/* list ends mid-entry */
	};
	uint8_t buf[64];
	p2p_sip_reg r;
	p2p_arena a;
	p2p_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = unit_hex(bad[i], buf, sizeof(buf));
		memset(&err, 0, sizeof(err));
		assert_int_equal(p2p_sip_reg_decode(B(buf, n), fresh_arena(&a),
		    &r, &err), -1);
		assert_non_null(err.what);
		assert_int_equal(a.used, 0);
	}
}

static void
test_reg_round_trip(void **state)
{
	p2p_dest d[3];
	p2p_id ids[3];
	p2p_sip_reg r, out;
	p2p_arena a;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	for (int i = 0; i < 3; i++) {
		memset(ids[i].b, 0xa0 + i, sizeof(ids[i].b));
		p2p_dest_node(&d[i], &ids[i]);
	}
	p2p_sip_reg_route(&r, d, 3);
	r.contact_prefs = B("(sip.schemes=SIPS)", 18);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_sip_reg_encode(&w, &r), 0);
	assert_int_equal(p2p_sip_reg_decode(B(w.p, w.len), fresh_arena(&a),
	    &out, &err), 0);
	assert_int_equal(out.ndests, 3);
	assert_int_equal(out.contact_prefs.len, 18);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(out.dests[i].node.b, ids[i].b, 16);
	truncations(w.p, w.len);
	p2p_w_free(&w);
}

/* ---- AOR ---- */

static void
test_aor_norm_accepts(void **state)
{
	static const struct { const char *in, *out; } ok[] = {
		{ "alice@example.org", "alice@example.org" },
		{ "sip:alice@example.org", "alice@example.org" },
		{ "SIPS:alice@example.org", "alice@example.org" },
		{ "<sip:alice@Example.ORG;transport=udp>", "alice@example.org" },
		{ "  <sip:alice@example.org>  ", "alice@example.org" },
		{ "Alice <sip:alice@example.org>;tag=1", "alice@example.org" },
		{ "\"Alice <A>\" <sip:alice@example.org>", "alice@example.org" },
		{ "\"q\\\"x\" <sip:alice@example.org>", "alice@example.org" },
		{ "sip:alice@example.org:5060", "alice@example.org" },
		{ "sip:alice@example.org?subject=hi", "alice@example.org" },
		{ "sip:al%69ce@example.org", "alice@example.org" },
		{ "sip:Alice@EXAMPLE.org", "Alice@example.org" },
		{ "sip:a.b-c_d+e@dht.example.com", "a.b-c_d+e@dht.example.com" },
		{ "bob@127.0.0.1", "bob@127.0.0.1" },
	};
	char out[P2P_SIP_AOR_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = p2p_sip_aor_norm(ok[i].in, out, sizeof(out));
		if (rc < 0)
			fail_msg("refused: %s", ok[i].in);
		assert_string_equal(out, ok[i].out);
		assert_int_equal(rc, (int)strlen(ok[i].out));
		/* normalizing again changes nothing */
		assert_int_equal(p2p_sip_aor_norm(ok[i].out, out, sizeof(out)),
		    rc);
		assert_string_equal(out, ok[i].out);
	}
}

static void
test_aor_norm_rejects(void **state)
{
	static const char *bad[] = {
		"", "alice", "@example.org", "alice@", "sip:@example.org",
		"sip:alice@", "<sip:alice@example.org", "sip:alice@example.org>",
		"alice@exa mple.org", "ali ce@example.org", "alice@example.org\n",
		"alice\t@example.org", "alice\x7f@example.org",
		"alice:pw@example.org", "tel:alice@example.org",
		"alice@example..org", "alice@.example.org", "alice@example.org.",
		"alice@[::1]", "alice@example.org:", "alice@example.org:99999",
		"alice@example.org:5x", "ali%4@example.org", "ali%40x@example.org",
		"ali%00@example.org", "ali%20@example.org", "a;b@example.org",
		"a/b@example.org", "alice@exa_mple.org", "alice@b@example.org",
		"\"unterminated <sip:alice@example.org>",
		"<sip:alice@example.org> <sip:bob@example.org>",
		"<<sip:alice@example.org>>", "caf\xc3\xa9@example.org",
	};
	char out[P2P_SIP_AOR_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (p2p_sip_aor_norm(bad[i], out, sizeof(out)) != -1)
			fail_msg("accepted: \"%s\" -> \"%s\"", bad[i], out);
	assert_int_equal(p2p_sip_aor_norm(NULL, out, sizeof(out)), -1);
}

static void
test_aor_norm_lengths(void **state)
{
	char in[P2P_SIP_URI_MAX + 64], out[P2P_SIP_AOR_MAX + 1];
	size_t u;

	(void)state;
	/* exactly the longest AOR, and one more */
	u = P2P_SIP_AOR_MAX - strlen("@example.org");
	memset(in, 'a', u);
	strcpy(in + u, "@example.org");
	assert_int_equal(p2p_sip_aor_norm(in, out, sizeof(out)),
	    P2P_SIP_AOR_MAX);
	memset(in, 'a', u + 1);
	strcpy(in + u + 1, "@example.org");
	assert_int_equal(p2p_sip_aor_norm(in, out, sizeof(out)), -1);
	/* the result must fit the caller's buffer */
	assert_int_equal(p2p_sip_aor_norm("alice@example.org", out, 17), -1);
	assert_int_equal(p2p_sip_aor_norm("alice@example.org", out, 18), 17);
	assert_int_equal(p2p_sip_aor_norm("alice@example.org", out, 0), -1);
	/* over-long input, even when the AOR in it is short */
	strcpy(in, "sip:alice@example.org;x=");
	memset(in + strlen(in), 'x', P2P_SIP_URI_MAX);
	in[P2P_SIP_URI_MAX + 10] = '\0';
	assert_int_equal(p2p_sip_aor_norm(in, out, sizeof(out)), -1);
}

/* ---- GRUU ---- */

static void
test_gruu_golden(void **state)
{
	/* one node entry 01 10 00..0f: 18 bytes, 24 digits, no padding */
	const char *want = "alice@example.org;gr=ARAAAQIDBAUGBwgJCgsMDQ4P";
	char out[256];
	p2p_id id;
	p2p_dest d;
	p2p_sip_gruu g;
	p2p_arena a;
	p2p_err err;

	(void)state;
	for (int i = 0; i < 16; i++)
		id.b[i] = (uint8_t)i;
	p2p_dest_node(&d, &id);
	assert_int_equal(p2p_sip_gruu_make(out, sizeof(out),
	    "alice@example.org", &d, 1), (int)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(p2p_sip_gruu_parse(want, strlen(want),
	    fresh_arena(&a), &g, &err), 0);
	assert_string_equal(g.aor, "alice@example.org");
	assert_int_equal(g.ndests, 1);
	assert_int_equal(g.dests[0].type, P2P_DEST_NODE);
	assert_memory_equal(g.dests[0].node.b, id.b, 16);
	assert_true(p2p_sip_is_gruu(want, strlen(want)));
	assert_false(p2p_sip_is_gruu("alice@example.org", 17));
}

static void
test_gruu_padding(void **state)
{
	/* a compressed entry (2 bytes) pads with one "~", two of them
	 * (4 bytes) with two */
	p2p_dest d[2];
	char out[256];
	p2p_sip_gruu g;
	p2p_arena a;
	p2p_err err;
	int n;

	(void)state;
	memset(d, 0, sizeof(d));
	d[0].type = d[1].type = P2P_DEST_COMPRESSED;
	d[0].compressed = 0x8001;
	d[1].compressed = 0xfffe;
	n = p2p_sip_gruu_make(out, sizeof(out), "bob@example.org", d, 1);
	assert_string_equal(out, "bob@example.org;gr=gAE~");
	assert_int_equal(p2p_sip_gruu_parse(out, (size_t)n, fresh_arena(&a),
	    &g, &err), 0);
	assert_int_equal(g.ndests, 1);
	assert_int_equal(g.dests[0].compressed, 0x8001);
	n = p2p_sip_gruu_make(out, sizeof(out), "bob@example.org", d, 2);
	assert_string_equal(out, "bob@example.org;gr=gAH//g~~");
	assert_int_equal(p2p_sip_gruu_parse(out, (size_t)n, fresh_arena(&a),
	    &g, &err), 0);
	assert_int_equal(g.ndests, 2);
	assert_int_equal(g.dests[1].compressed, 0xfffe);
}

static void
test_gruu_round_trip(void **state)
{
	p2p_dest d[P2P_SIP_GRUU_MAX_DESTS + 1];
	p2p_id ids[P2P_SIP_GRUU_MAX_DESTS + 1];
	char out[1024], uri[1100];
	p2p_sip_gruu g;
	p2p_arena a;
	p2p_err err;

	(void)state;
	for (int i = 0; i <= P2P_SIP_GRUU_MAX_DESTS; i++) {
		memset(ids[i].b, 0x11 * (i + 1), 16);
		ids[i].b[0] = (uint8_t)i;
		p2p_dest_node(&d[i], &ids[i]);
	}
	for (size_t k = 1; k <= 5; k++) {
		int n = p2p_sip_gruu_make(out, sizeof(out), "carol@x.example",
		    d, k);
		assert_true(n > 0);
		/* the forms a SIP message gives it in */
		snprintf(uri, sizeof(uri), "\"C\" <sip:%s;transport=tls>;"
		    "expires=60", out);
		assert_int_equal(p2p_sip_gruu_parse(uri, strlen(uri),
		    fresh_arena(&a), &g, &err), 0);
		assert_string_equal(g.aor, "carol@x.example");
		assert_int_equal(g.ndests, k);
		for (size_t i = 0; i < k; i++)
			assert_memory_equal(g.dests[i].node.b, ids[i].b, 16);
	}
	/* limits of the list */
	assert_true(p2p_sip_gruu_make(out, sizeof(out), "c@x.example", d,
	    P2P_SIP_GRUU_MAX_DESTS) > 0);
	assert_int_equal(p2p_sip_gruu_make(out, sizeof(out), "c@x.example", d,
	    P2P_SIP_GRUU_MAX_DESTS + 1), -1);
	assert_int_equal(p2p_sip_gruu_make(out, sizeof(out), "c@x.example", d,
	    0), -1);
	/* the AOR must be normalized already; the buffer must hold it */
	assert_int_equal(p2p_sip_gruu_make(out, sizeof(out),
	    "sip:c@x.example", d, 1), -1);
	assert_int_equal(p2p_sip_gruu_make(out, 20, "c@x.example", d, 1), -1);
}

static void
test_gruu_rejects(void **state)
{
	static const char *bad[] = {
		"alice@example.org",			/* no gr */
		"alice@example.org;gr",			/* no value */
		"alice@example.org;gr=",		/* empty value */
		"alice@example.org;gr=gAE",		/* not whole quads */
		"alice@example.org;gr=gAE=",		/* '=' padding */
		"alice@example.org;gr=gAF~",		/* unused bits set */
		"alice@example.org;gr=g~E~",		/* padding inside */
		"alice@example.org;gr=gA~~",		/* 1 byte: no entry */
		"alice@example.org;gr=gAE~;gr=gAE~",	/* two gr */
		"alice@example.org;gr=gA%45~",		/* escapes */
		"alice@example.org;gr=ARA~",		/* node id missing */
		"alice@example.org;gr=ARAA",		/* node id cut short */
		"@example.org;gr=gAE~",			/* no user */
		"alice@example.org?gr=gAE~",		/* a header, not a param */
		"<alice@example.org>;gr=gAE~",		/* a header param */
	};
	p2p_sip_gruu g;
	p2p_arena a;
	p2p_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (p2p_sip_gruu_parse(bad[i], strlen(bad[i]),
		    fresh_arena(&a), &g, &err) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(err.what);
		assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
		assert_int_equal(a.used, 0);
	}
	/* the length given is the length used: no NUL is needed */
	assert_int_equal(p2p_sip_gruu_parse("bob@example.org;gr=gAE~xyz", 23,
	    fresh_arena(&a), &g, &err), 0);
}

static void
test_gruu_arena(void **state)
{
	const char *s = "alice@example.org;gr=ARAAAQIDBAUGBwgJCgsMDQ4P";
	uint8_t mem[512];
	size_t fails = 0;

	(void)state;
	for (size_t cap = 0; cap < sizeof(mem); cap++) {
		p2p_sip_gruu g;
		p2p_arena a;
		p2p_err err;

		p2p_arena_init(&a, mem, cap);
		if (p2p_sip_gruu_parse(s, strlen(s), &a, &g, &err) == 0) {
			assert_true(fails > 0);
			return;
		}
		assert_int_equal(a.used, 0);
		fails++;
	}
	fail_msg("never parsed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_golden),
		cmocka_unit_test(test_uri_golden),
		cmocka_unit_test(test_reg_rejects),
		cmocka_unit_test(test_reg_round_trip),
		cmocka_unit_test(test_aor_norm_accepts),
		cmocka_unit_test(test_aor_norm_rejects),
		cmocka_unit_test(test_aor_norm_lengths),
		cmocka_unit_test(test_gruu_golden),
		cmocka_unit_test(test_gruu_padding),
		cmocka_unit_test(test_gruu_round_trip),
		cmocka_unit_test(test_gruu_rejects),
		cmocka_unit_test(test_gruu_arena),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
