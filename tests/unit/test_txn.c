#include "unit.h"

#include "txn.h"

struct seen {
	int calls;
	enum p2p_txn_status st;
};

static void
on_done(void *user, enum p2p_txn_status st, const struct p2p_msg *ans,
    p2p_bytes raw)
{
	struct seen *s = user;

	(void)ans; (void)raw;
	s->calls++;
	s->st = st;
}

static int resends;

static void
count_resend(void *ctx, p2p_txn *x)
{
	(void)ctx;
	assert_int_equal(x->len, 3);
	assert_memory_equal(x->bytes, "abc", 3);
	resends++;
}

static void
test_answer_matches_once(void **state)
{
	p2p_txn_table t;
	struct seen s = { 0 };
	p2p_bytes none = { 0 };
	uint64_t tid;

	(void)state;
	assert_int_equal(p2p_txn_table_init(&t, NULL), 0);
	tid = p2p_txn_new_id(&t);
	assert_non_null(p2p_txn_add(&t, tid, (const uint8_t *)"abc", 3, 0,
	    on_done, &s));
	assert_null(p2p_txn_add(&t, tid, NULL, 0, 0, on_done, &s));
	assert_int_equal(p2p_txn_finish(&t, tid + 1, P2P_TXN_ANSWERED, NULL,
	    none), -1);
	assert_int_equal(p2p_txn_finish(&t, tid, P2P_TXN_ANSWERED, NULL,
	    none), 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.st, P2P_TXN_ANSWERED);
	/* a late duplicate answer is a stray */
	assert_int_equal(p2p_txn_finish(&t, tid, P2P_TXN_ANSWERED, NULL,
	    none), -1);
	assert_int_equal(s.calls, 1);
	p2p_txn_table_free(&t);
}

static void
test_retransmit_schedule_and_timeout(void **state)
{
	p2p_txn_table t;
	struct seen s = { 0 };
	uint64_t next;

	(void)state;
	resends = 0;
	assert_int_equal(p2p_txn_table_init(&t, NULL), 0);
	assert_non_null(p2p_txn_add(&t, 7, (const uint8_t *)"abc", 3, 1000,
	    on_done, &s));
	/* The next due time is known before any tick: the first resend. */
	assert_int_equal(p2p_txn_next_due(&t), 4000);
	next = p2p_txn_tick(&t, 1000, count_resend, NULL);
	assert_int_equal(next, 4000);
	for (uint64_t now = 4000; now < 16000; now += 3000) {
		next = p2p_txn_tick(&t, now, count_resend, NULL);
		assert_int_equal(p2p_txn_next_due(&t), next);
	}
	/* 5 sends in all: the first plus 4 resends, at 4, 7, 10, 13 s */
	assert_int_equal(resends, 4);
	assert_int_equal(s.calls, 0);
	assert_int_equal(next, 16000);
	next = p2p_txn_tick(&t, 16000, count_resend, NULL);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.st, P2P_TXN_TIMEOUT);
	assert_true(next == UINT64_MAX);
	assert_true(p2p_txn_next_due(&t) == UINT64_MAX);
	assert_int_equal(t.count, 0);
	p2p_txn_table_free(&t);
}

static void
test_bounded(void **state)
{
	p2p_txn_params p;
	p2p_txn_table t;
	struct seen s = { 0 };

	(void)state;
	p2p_txn_params_default(&p);
	p.max_pending = 100;
	assert_int_equal(p2p_txn_table_init(&t, &p), 0);
	for (uint64_t i = 1; i <= 100; i++)
		assert_non_null(p2p_txn_add(&t, i, NULL, 0, 0, on_done, &s));
	assert_null(p2p_txn_add(&t, 101, NULL, 0, 0, on_done, &s));
	p2p_txn_table_free(&t);
	assert_int_equal(s.calls, 100);
	assert_int_equal(s.st, P2P_TXN_CANCELLED);
}

static void
test_link_failure(void **state)
{
	p2p_txn_table t;
	struct seen a = { 0 }, b = { 0 };
	p2p_txn *x;

	(void)state;
	assert_int_equal(p2p_txn_table_init(&t, NULL), 0);
	x = p2p_txn_add(&t, 1, NULL, 0, 0, on_done, &a);
	x->link_id = 5;
	x = p2p_txn_add(&t, 2, NULL, 0, 0, on_done, &b);
	x->link_id = 6;
	p2p_txn_fail_link(&t, 5);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.st, P2P_TXN_LINK_FAILED);
	assert_int_equal(b.calls, 0);
	p2p_txn_table_free(&t);
	assert_int_equal(b.st, P2P_TXN_CANCELLED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer_matches_once),
		cmocka_unit_test(test_retransmit_schedule_and_timeout),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_link_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
