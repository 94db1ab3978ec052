#include "unit.h"

#include "body.h"
#include "../tshark/samples.h"

static _Alignas(16) uint8_t arena_mem[1 << 16];

/*
 * The codec each message code must use, written out per code (not per
 * body type) so that the dispatcher is checked against an independent
 * table.
 */
static int
direct_encode(p2p_wbuf *w, uint16_t code, const p2p_body *b)
{
	switch (code) {
	case P2P_PROBE_REQ:
		return p2p_probe_req_encode(w, &b->u.probe_req);
	case P2P_PROBE_ANS:
		return p2p_probe_ans_encode(w, &b->u.probe_ans);
	case P2P_ATTACH_REQ:
	case P2P_ATTACH_ANS:
		return p2p_attach_encode(w, &b->u.attach);
	case P2P_STORE_REQ:
		return p2p_store_req_encode(w, &b->u.store_req);
	case P2P_STORE_ANS:
		return p2p_store_ans_encode(w, &b->u.store_ans);
	case P2P_FETCH_REQ:
		return p2p_fetch_req_encode(w, &b->u.fetch_req);
	case P2P_FETCH_ANS:
		return p2p_fetch_ans_encode(w, &b->u.fetch_ans);
	case P2P_FIND_REQ:
		return p2p_find_req_encode(w, &b->u.find_req);
	case P2P_FIND_ANS:
		return p2p_find_ans_encode(w, &b->u.find_ans);
	case P2P_JOIN_REQ:
		return p2p_join_req_encode(w, &b->u.join_req);
	case P2P_JOIN_ANS:
		return p2p_join_ans_encode(w, &b->u.join_ans);
	case P2P_LEAVE_REQ:
		return p2p_leave_req_encode(w, &b->u.leave_req);
	case P2P_UPDATE_REQ:
		return p2p_update_req_encode(w, &b->u.update_req);
	case P2P_ROUTE_QUERY_REQ:
		return p2p_route_query_req_encode(w, &b->u.route_query_req);
	case P2P_ROUTE_QUERY_ANS:
		return p2p_route_query_ans_encode(w, &b->u.route_query_ans);
	case P2P_PING_REQ:
		return p2p_ping_req_encode(w, &b->u.ping_req);
	case P2P_PING_ANS:
		return p2p_ping_ans_encode(w, &b->u.ping_ans);
	case P2P_STAT_REQ:
		return p2p_stat_req_encode(w, &b->u.stat_req);
	case P2P_STAT_ANS:
		return p2p_stat_ans_encode(w, &b->u.stat_ans);
	case P2P_APP_ATTACH_REQ:
	case P2P_APP_ATTACH_ANS:
		return p2p_app_attach_encode(w, &b->u.app_attach);
	case P2P_CONFIG_UPDATE_REQ:
		return p2p_config_update_req_encode(w,
		    &b->u.config_update_req);
	case P2P_PATH_TRACK_REQ:
		return p2p_path_track_req_encode(w, &b->u.path_track_req);
	case P2P_PATH_TRACK_ANS:
		return p2p_path_track_ans_encode(w, &b->u.path_track_ans);
	case P2P_ERROR:
		return p2p_error_encode(w, &b->u.error);
	case P2P_LEAVE_ANS:
	case P2P_UPDATE_ANS:
	case P2P_CONFIG_UPDATE_ANS:
		return 0;
	default:
		fail_msg("no direct codec for code 0x%04x", code);
		return -1;
	}
}

static p2p_arena *
fresh_arena(p2p_arena *a)
{
	p2p_arena_init(a, arena_mem, sizeof(arena_mem));
	return a;
}

/* Encode sample s through the dispatcher into w (growable). */
static void
encode_sample(const struct sample *s, p2p_wbuf *w)
{
	p2p_w_init(w, 0);
	assert_int_equal(p2p_body_encode(w, s->code, &s->body), 0);
	assert_true(p2p_w_ok(w));
}

static void
test_encode_matches_direct_codec(void **state)
{
	(void)state;
	samples_init();
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		p2p_wbuf w, d;

		encode_sample(s, &w);
		p2p_w_init(&d, 0);
		assert_int_equal(direct_encode(&d, s->code, &s->body), 0);
		if (w.len != d.len || (w.len > 0 &&
		    memcmp(w.p, d.p, w.len) != 0))
			fail_msg("%s: dispatcher and codec disagree", s->name);
		p2p_w_free(&w);
		p2p_w_free(&d);
	}
}

static void
test_round_trip_every_sample(void **state)
{
	(void)state;
	samples_init();
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		p2p_wbuf w, again, direct;
		p2p_arena a;
		p2p_body b;
		p2p_err err;
		p2p_bytes in;

		encode_sample(s, &w);
		in.p = w.p;
		in.len = w.len;
		memset(&err, 0, sizeof(err));
		if (p2p_body_decode(s->code, in, &samples_lookup,
		    fresh_arena(&a), &b, &err) != 0)
			fail_msg("%s: decode failed: %s", s->name, err.what);
		assert_int_equal(b.type, p2p_body_type_of(s->code));
		assert_int_equal(b.type, s->body.type);
		/* the member the dispatcher filled is the one the code's own
		 * codec reads */
		p2p_w_init(&direct, 0);
		assert_int_equal(direct_encode(&direct, s->code, &b), 0);
		assert_int_equal(direct.len, w.len);
		if (w.len > 0)
			assert_memory_equal(direct.p, w.p, w.len);
		p2p_w_init(&again, 0);
		assert_int_equal(p2p_body_encode(&again, s->code, &b), 0);
		assert_int_equal(again.len, w.len);
		if (w.len > 0)
			assert_memory_equal(again.p, w.p, w.len);
		p2p_w_free(&w);
		p2p_w_free(&again);
		p2p_w_free(&direct);
	}
}

/* Every code that has a name has a body type and at least one sample;
 * every other code has neither. */
static void
test_every_code_covered(void **state)
{
	(void)state;
	samples_init();
	for (uint32_t c = 0; c <= 0xffff; c++) {
		uint16_t code = (uint16_t)c;
		size_t n = 0;

		for (size_t i = 0; i < nsamples; i++)
			n += samples[i].code == code;
		if (p2p_code_name(code) == NULL) {
			assert_int_equal(p2p_body_type_of(code),
			    P2P_BODY_NONE);
			assert_int_equal(n, 0);
			continue;
		}
		if (p2p_body_type_of(code) == P2P_BODY_NONE || n == 0)
			fail_msg("code 0x%04x (%s) not dispatched or sampled",
			    code, p2p_code_name(code));
	}
}

static void
test_typed_fields(void **state)
{
	static const uint8_t ping_ans[] = { 1, 2, 3, 4, 5, 6, 7, 8,
	    0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0x00 };
	static const uint8_t err[] = { 0x00, 0x03, 0x00, 0x02, 'n', 'o' };
	p2p_bytes in;
	p2p_arena a;
	p2p_body b;
	p2p_err e;

	(void)state;
	in.p = ping_ans;
	in.len = sizeof(ping_ans);
	assert_int_equal(p2p_body_decode(P2P_PING_ANS, in, NULL,
	    fresh_arena(&a), &b, &e), 0);
	assert_int_equal(b.type, P2P_BODY_PING_ANS);
	assert_true(b.u.ping_ans.response_id == 0x0102030405060708ull);
	assert_true(b.u.ping_ans.time == 0x0000018bcfe56800ull);
	/* the same 16 bytes are not a PingReq */
	assert_int_equal(p2p_body_decode(P2P_PING_REQ, in, NULL,
	    fresh_arena(&a), &b, &e), -1);
	assert_int_equal(e.reload_code, P2P_ERR_INVALID_MESSAGE);
	in.p = err;
	in.len = sizeof(err);
	assert_int_equal(p2p_body_decode(P2P_ERROR, in, NULL,
	    fresh_arena(&a), &b, &e), 0);
	assert_int_equal(b.type, P2P_BODY_ERROR);
	assert_int_equal(b.u.error.code, P2P_ERR_NOT_FOUND);
	assert_int_equal(b.u.error.info.len, 2);
	assert_memory_equal(b.u.error.info.p, "no", 2);
}

static void
test_unknown_codes(void **state)
{
	static const uint16_t bad[] = { 0x0000, 0x0005, 0x0006, 0x000b,
	    0x001b, 0x001f, 0x0023, 0x0029, 0x7fff, 0x8000, 0xfffe };
	static const uint8_t two[] = { 0, 0 };
	p2p_bytes in = { two, sizeof(two) };
	p2p_arena a;
	p2p_body b;
	p2p_err e;
	p2p_wbuf w;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(p2p_body_decode(bad[i], in, NULL,
		    fresh_arena(&a), &b, &e), -1);
		assert_int_equal(e.reload_code, P2P_ERR_INVALID_MESSAGE);
		assert_non_null(e.what);
		assert_int_equal(b.type, P2P_BODY_NONE);
		memset(&b, 0, sizeof(b));
		b.type = P2P_BODY_PING_REQ;
		p2p_w_init(&w, 0);
		assert_int_equal(p2p_body_encode(&w, bad[i], &b), -1);
		assert_int_equal(w.len, 0);
		p2p_w_free(&w);
	}
}

/* A body whose type is not the code's type is refused, not misread. */
static void
test_type_mismatch(void **state)
{
	p2p_wbuf w;

	(void)state;
	samples_init();
	for (size_t i = 0; i < nsamples; i++) {
		for (size_t j = 0; j < nsamples; j++) {
			if (samples[i].body.type == samples[j].body.type)
				continue;
			p2p_w_init(&w, 0);
			assert_int_equal(p2p_body_encode(&w, samples[j].code,
			    &samples[i].body), -1);
			assert_int_equal(w.len, 0);
			p2p_w_free(&w);
		}
	}
}

/* Every strict prefix and one extra byte fail, for every sample. */
static void
test_truncation(void **state)
{
	(void)state;
	samples_init();
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		p2p_wbuf w;

		encode_sample(s, &w);
		for (size_t n = 0; n <= w.len + 1; n++) {
			uint8_t *cut = malloc(n ? n : 1);
			p2p_bytes in = { cut, n };
			p2p_arena a;
			p2p_body b;
			p2p_err e;
			int rc;

			assert_non_null(cut);
			if (w.len > 0)
				memcpy(cut, w.p, n <= w.len ? n : w.len);
			if (n > w.len)
				cut[w.len] = 0;
			rc = p2p_body_decode(s->code, in, &samples_lookup,
			    fresh_arena(&a), &b, &e);
			free(cut);
			if (n == w.len) {
				assert_int_equal(rc, 0);
				continue;
			}
			if (rc != -1)
				fail_msg("%s: %zu of %zu bytes decoded",
				    s->name, n, w.len);
			assert_int_equal(e.reload_code,
			    P2P_ERR_INVALID_MESSAGE);
		}
		p2p_w_free(&w);
	}
}

/* Without a kind lookup the storage bodies keep kinds raw and still
 * re-encode byte for byte. */
static void
test_no_lookup(void **state)
{
	(void)state;
	samples_init();
	for (size_t i = 0; i < nsamples; i++) {
		const struct sample *s = &samples[i];
		p2p_wbuf w, again;
		p2p_arena a;
		p2p_body b;
		p2p_err e;
		p2p_bytes in;

		encode_sample(s, &w);
		in.p = w.p;
		in.len = w.len;
		assert_int_equal(p2p_body_decode(s->code, in, NULL,
		    fresh_arena(&a), &b, &e), 0);
		if (b.type == P2P_BODY_STORE_REQ)
			assert_int_equal(b.u.store_req.kinds[0].model,
			    P2P_MODEL_UNKNOWN);
		p2p_w_init(&again, 0);
		assert_int_equal(p2p_body_encode(&again, s->code, &b), 0);
		assert_int_equal(again.len, w.len);
		if (w.len > 0)
			assert_memory_equal(again.p, w.p, w.len);
		p2p_w_free(&w);
		p2p_w_free(&again);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_direct_codec),
		cmocka_unit_test(test_round_trip_every_sample),
		cmocka_unit_test(test_every_code_covered),
		cmocka_unit_test(test_typed_fields),
		cmocka_unit_test(test_unknown_codes),
		cmocka_unit_test(test_type_mismatch),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_no_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
