#include "unit.h"

#include "anscache.h"

static p2p_anscache_req
req(uint64_t tid, uint16_t code, uint8_t signer, uint64_t fp)
{
	p2p_anscache_req r;

	memset(&r, 0, sizeof(r));
	r.tid = tid;
	r.code = code;
	r.signer.b[0] = signer;
	r.origin.b[0] = signer;
	r.sig_fp = fp;
	return r;
}

static void
test_answered_once_then_resent(void **state)
{
	p2p_anscache *c = p2p_anscache_new(NULL);
	p2p_anscache_req r = req(7, 1, 0xaa, 99);
	const uint8_t *ans = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(c);
	assert_int_equal(p2p_anscache_request(c, &r, 0, &ans, &len),
	    P2P_ANSCACHE_NEW);
	/* not answered yet: a copy is ignored */
	assert_int_equal(p2p_anscache_request(c, &r, 10, &ans, &len),
	    P2P_ANSCACHE_PENDING);
	assert_true(p2p_anscache_pending(c, 7, 1, 99, NULL));
	assert_int_equal(p2p_anscache_answer(c, 7, 1, 99, NULL,
	    (const uint8_t *)"answer", 6), 0);
	/* answered: the first answer is the one kept */
	assert_false(p2p_anscache_pending(c, 7, 1, 99, NULL));
	assert_int_equal(p2p_anscache_answer(c, 7, 1, 99, NULL,
	    (const uint8_t *)"other", 5), -1);
	assert_int_equal(p2p_anscache_request(c, &r, 3000, &ans, &len),
	    P2P_ANSCACHE_ANSWERED);
	assert_int_equal(len, 6);
	assert_memory_equal(ans, "answer", 6);
	assert_int_equal(p2p_anscache_get_stats(c)->resent, 1);
	assert_int_equal(p2p_anscache_get_stats(c)->ignored, 1);
	assert_int_equal(p2p_anscache_get_stats(c)->bytes, 6);
	p2p_anscache_free(c);
}

static void
test_key_is_tid_signer_code(void **state)
{
	p2p_anscache *c = p2p_anscache_new(NULL);
	p2p_anscache_req r = req(7, 1, 0xaa, 99);
	p2p_anscache_req other_signer = req(7, 1, 0xbb, 98);
	p2p_anscache_req other_code = req(7, 3, 0xaa, 97);
	p2p_anscache_req other_tid = req(8, 1, 0xaa, 96);
	const uint8_t *ans;
	size_t len;

	(void)state;
	assert_int_equal(p2p_anscache_request(c, &r, 0, &ans, &len),
	    P2P_ANSCACHE_NEW);
	assert_int_equal(p2p_anscache_answer(c, 7, 1, 99, NULL,
	    (const uint8_t *)"a", 1), 0);
	/* someone else's request under the same transaction id is new */
	assert_int_equal(p2p_anscache_request(c, &other_signer, 0, &ans, &len),
	    P2P_ANSCACHE_NEW);
	assert_int_equal(p2p_anscache_request(c, &other_code, 0, &ans, &len),
	    P2P_ANSCACHE_NEW);
	assert_int_equal(p2p_anscache_request(c, &other_tid, 0, &ans, &len),
	    P2P_ANSCACHE_NEW);
	/* an answer goes to the request whose signature it names */
	assert_int_equal(p2p_anscache_answer(c, 7, 1, 12345, NULL,
	    (const uint8_t *)"x", 1), -1);
	assert_int_equal(p2p_anscache_answer(c, 7, 1, 98, NULL,
	    (const uint8_t *)"b", 1), 0);
	assert_int_equal(p2p_anscache_request(c, &other_signer, 0, &ans, &len),
	    P2P_ANSCACHE_ANSWERED);
	assert_memory_equal(ans, "b", 1);
	p2p_anscache_free(c);
}

/* An answer built later from kept state: no signature, any code (0), the
 * request found by the node it came from. */
static void
test_answer_by_origin(void **state)
{
	p2p_anscache *c = p2p_anscache_new(NULL);
	p2p_anscache_req r = req(5, 9, 0xaa, 42);
	p2p_id wrong, right;
	const uint8_t *ans;
	size_t len;

	(void)state;
	memset(&wrong, 0, sizeof(wrong));
	wrong.b[0] = 0xcc;
	right = r.origin;
	assert_int_equal(p2p_anscache_request(c, &r, 0, &ans, &len),
	    P2P_ANSCACHE_NEW);
	assert_false(p2p_anscache_pending(c, 5, 0, 0, &wrong));
	assert_false(p2p_anscache_pending(c, 5, 0, 0, NULL));
	assert_true(p2p_anscache_pending(c, 5, 0, 0, &right));
	assert_int_equal(p2p_anscache_answer(c, 5, 9, 0, &right,
	    (const uint8_t *)"late", 4), 0);
	assert_int_equal(p2p_anscache_request(c, &r, 0, &ans, &len),
	    P2P_ANSCACHE_ANSWERED);
	p2p_anscache_free(c);
}

static void
test_age_bound(void **state)
{
	p2p_anscache_limits lim = { 0, 0, 15000 };
	p2p_anscache *c = p2p_anscache_new(&lim);
	p2p_anscache_req r = req(1, 1, 1, 1), s = req(2, 1, 1, 2);
	const uint8_t *ans;
	size_t len;

	(void)state;
	assert_true(p2p_anscache_next_due(c) == UINT64_MAX);
	assert_int_equal(p2p_anscache_request(c, &r, 1000, &ans, &len),
	    P2P_ANSCACHE_NEW);
	assert_true(p2p_anscache_next_due(c) == 16000);
	assert_int_equal(p2p_anscache_answer(c, 1, 1, 1, NULL,
	    (const uint8_t *)"a", 1), 0);
	assert_int_equal(p2p_anscache_request(c, &s, 9000, &ans, &len),
	    P2P_ANSCACHE_NEW);
	assert_int_equal(p2p_anscache_request(c, &r, 15999, &ans, &len),
	    P2P_ANSCACHE_ANSWERED);
	/* 15 s after the first copy it is forgotten */
	assert_int_equal(p2p_anscache_expire(c, 16000), 1);
	assert_true(p2p_anscache_next_due(c) == 24000);
	assert_int_equal(p2p_anscache_get_stats(c)->entries, 1);
	assert_int_equal(p2p_anscache_get_stats(c)->bytes, 0);
	assert_int_equal(p2p_anscache_request(c, &r, 16000, &ans, &len),
	    P2P_ANSCACHE_NEW);
	/* the request path expires too */
	assert_int_equal(p2p_anscache_request(c, &s, 24000, &ans, &len),
	    P2P_ANSCACHE_NEW);
	p2p_anscache_free(c);
}

static void
test_count_and_byte_bounds(void **state)
{
	p2p_anscache_limits lim = { 4, 800, 15000 };
	p2p_anscache *c = p2p_anscache_new(&lim);
	uint8_t big[100], huge[101];
	const uint8_t *ans;
	size_t len;

	(void)state;
	memset(big, 'b', sizeof(big));
	memset(huge, 'h', sizeof(huge));
	for (uint64_t t = 1; t <= 6; t++) {
		p2p_anscache_req r = req(t, 1, 1, t);
		assert_int_equal(p2p_anscache_request(c, &r, 0, &ans, &len),
		    P2P_ANSCACHE_NEW);
		assert_true(p2p_anscache_get_stats(c)->entries <= 4);
	}
	assert_int_equal(p2p_anscache_get_stats(c)->evicted, 2);
	/* the oldest went */
	assert_false(p2p_anscache_pending(c, 1, 1, 1, NULL));
	assert_true(p2p_anscache_pending(c, 3, 1, 3, NULL));
	/* an answer over an eighth of the bytes is not kept, nor its
	 * entry: a copy is handled again */
	assert_int_equal(p2p_anscache_answer(c, 3, 1, 3, NULL, huge,
	    sizeof(huge)), -1);
	assert_int_equal(p2p_anscache_get_stats(c)->too_large, 1);
	assert_int_equal(p2p_anscache_get_stats(c)->entries, 3);
	for (uint64_t t = 4; t <= 6; t++)
		assert_int_equal(p2p_anscache_answer(c, t, 1, t, NULL, big,
		    sizeof(big)), 0);
	assert_int_equal(p2p_anscache_get_stats(c)->bytes, 300);
	p2p_anscache_free(c);

	/* bytes: the oldest answers make room for a new one */
	lim.max_entries = 100;
	c = p2p_anscache_new(&lim);
	for (uint64_t t = 1; t <= 9; t++) {
		p2p_anscache_req r = req(t, 1, 1, t);
		assert_int_equal(p2p_anscache_request(c, &r, 0, &ans, &len),
		    P2P_ANSCACHE_NEW);
		assert_int_equal(p2p_anscache_answer(c, t, 1, t, NULL, big,
		    sizeof(big)), 0);
		assert_true(p2p_anscache_get_stats(c)->bytes <= 800);
	}
	assert_int_equal(p2p_anscache_get_stats(c)->entries, 8);
	{
		p2p_anscache_req r1 = req(1, 1, 1, 1), r9 = req(9, 1, 1, 9);
		assert_int_equal(p2p_anscache_request(c, &r9, 0, &ans, &len),
		    P2P_ANSCACHE_ANSWERED);
		assert_int_equal(p2p_anscache_request(c, &r1, 0, &ans, &len),
		    P2P_ANSCACHE_NEW);
	}
	p2p_anscache_free(c);
}

static void
test_fp(void **state)
{
	(void)state;
	assert_true(p2p_anscache_fp(NULL, 0) != 0);
	assert_true(p2p_anscache_fp((const uint8_t *)"ab", 2) !=
	    p2p_anscache_fp((const uint8_t *)"ba", 2));
	assert_true(p2p_anscache_fp((const uint8_t *)"ab", 2) ==
	    p2p_anscache_fp((const uint8_t *)"ab", 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answered_once_then_resent),
		cmocka_unit_test(test_key_is_tid_signer_code),
		cmocka_unit_test(test_answer_by_origin),
		cmocka_unit_test(test_age_bound),
		cmocka_unit_test(test_count_and_byte_bounds),
		cmocka_unit_test(test_fp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
