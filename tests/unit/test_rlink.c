#include "unit.h"

#include "frame.h"
#include "rlink.h"

#include "testkit_unit.h"
#include "mempath.h"

#define NMSG 200

/* One end: an rlink whose records travel on one end of a mempath. */
struct rend {
	struct rtest *t;
	p2p_rlink *r;
	struct mp_end *e;
	unsigned got[NMSG];	/* times message i was delivered */
	unsigned ngot;
	int failed;
	char why[128];
};

struct rtest {
	uv_loop_t loop;
	struct mempath mp;
	struct rend a, b;
	uv_timer_t poll;
	unsigned want;		/* messages a sends to b */
	int b_deaf;		/* b never reads (no ACKs) */
	int free_in_deliver;	/* b frees its rlink on the first message */
	int done;
};

static int
r_send(p2p_rlink *r, const uint8_t *rec, size_t len, void *arg)
{
	struct rend *e = arg;

	(void)r;
	return p2p_dgram_send(&e->e->d, rec, len);
}

static void
r_deliver(p2p_rlink *r, const uint8_t *msg, size_t len, void *arg)
{
	struct rend *e = arg;
	unsigned i;

	assert_int_equal(len, 100);
	i = (unsigned)msg[0] << 8 | msg[1];
	assert_true(i < NMSG);
	for (size_t k = 2; k < len; k++)
		assert_int_equal(msg[k], (uint8_t)(i + k));
	e->got[i]++;
	e->ngot++;
	if (e->t->free_in_deliver) {
		p2p_rlink_free(r);
		e->r = NULL;
	}
}

static void
r_failed(p2p_rlink *r, const char *why, void *arg)
{
	struct rend *e = arg;

	(void)r;
	assert_false(e->failed);
	e->failed = 1;
	snprintf(e->why, sizeof(e->why), "%s", why);
	assert_int_equal(p2p_rlink_send(r, (const uint8_t *)"x", 1), -1);
}

static const p2p_rlink_cbs rcbs = { r_send, r_deliver, r_failed };

static void
path_in(p2p_dgram *d, const uint8_t *buf, size_t len, void *arg)
{
	struct rend *e = arg;
	p2p_err err = { 0 };

	(void)d;
	if (e->r == NULL || (e == &e->t->b && e->t->b_deaf))
		return;
	assert_int_equal(p2p_rlink_input(e->r, buf, len, &err), 0);
}

static void
finish(struct rtest *t)
{
	if (t->done)
		return;
	t->done = 1;
	p2p_rlink_free(t->a.r);
	p2p_rlink_free(t->b.r);
	mp_shutdown(&t->mp);
	uv_close((uv_handle_t *)&t->poll, NULL);
}

static void
poll_cb(uv_timer_t *h)
{
	struct rtest *t = h->data;

	if (t->a.failed || (t->b.ngot >= t->want &&
	    p2p_rlink_pending(t->a.r) == 0) ||
	    (t->free_in_deliver && t->b.r == NULL))
		finish(t);
}

static void
rt_init(struct rtest *t, const p2p_rlink_opts *o, uint32_t seed)
{
	memset(t, 0, sizeof(*t));
	uv_loop_init(&t->loop);
	mp_init(&t->mp, &t->loop, 1200, seed);
	t->a.t = t->b.t = t;
	t->a.e = &t->mp.a;
	t->b.e = &t->mp.b;
	t->mp.a.d.on_recv = path_in;
	t->mp.a.d.arg = &t->a;
	t->mp.b.d.on_recv = path_in;
	t->mp.b.d.arg = &t->b;
	t->a.r = p2p_rlink_new(&t->loop, o, &rcbs, &t->a);
	t->b.r = p2p_rlink_new(&t->loop, o, &rcbs, &t->b);
	assert_non_null(t->a.r);
	assert_non_null(t->b.r);
	uv_timer_init(&t->loop, &t->poll);
	t->poll.data = t;
	uv_timer_start(&t->poll, poll_cb, 5, 5);
}

static void
send_msgs(struct rtest *t, unsigned n)
{
	uint8_t msg[100];

	for (unsigned i = 0; i < n; i++) {
		msg[0] = (uint8_t)(i >> 8);
		msg[1] = (uint8_t)i;
		for (size_t k = 2; k < sizeof(msg); k++)
			msg[k] = (uint8_t)(i + k);
		assert_int_equal(p2p_rlink_send(t->a.r, msg, sizeof(msg)), 0);
	}
	t->want = n;
}

static void
rt_run(struct rtest *t)
{
	run_loop(&t->loop);
	assert_int_equal(uv_loop_close(&t->loop), 0);
}

/* ---- tests ---- */

static void
test_lossless(void **state)
{
	struct rtest t;
	p2p_rlink_stats st;

	(void)state;
	rt_init(&t, NULL, 1);
	send_msgs(&t, NMSG);
	p2p_rlink_stats_get(t.a.r, &st);
	assert_int_equal(st.in_flight, 8);	/* the default window */
	assert_int_equal(st.queued, NMSG - 8);
	rt_run(&t);
	for (unsigned i = 0; i < NMSG; i++)
		assert_int_equal(t.b.got[i], 1);
	assert_false(t.a.failed);
}

/* Loss, reordering and duplication: each message arrives exactly once,
 * retransmissions under new numbers, the RTT estimate follows the delay. */
static void
test_lossy(void **state)
{
	p2p_rlink_opts o = { .min_rto_ms = 40, .rto_ms = 100,
	    .max_rto_ms = 400, .dedup_ms = 60000, .max_tx = 12 };
	struct rtest t;
	p2p_rlink_stats st;

	(void)state;
	for (uint32_t seed = 1; seed <= 3; seed++) {
		rt_init(&t, &o, seed);
		t.mp.loss_pct = 20;
		t.mp.reorder_pct = 20;
		t.mp.dup_pct = 10;
		t.mp.delay_ms = 5;
		send_msgs(&t, NMSG);
		rt_run(&t);
		for (unsigned i = 0; i < NMSG; i++)
			assert_int_equal(t.b.got[i], 1);
		assert_false(t.a.failed);
		assert_true(t.mp.a.dropped > 0);
	}
	/* The estimator, on a path without loss and a 20 ms delay. */
	rt_init(&t, &o, 9);
	t.mp.delay_ms = 20;
	send_msgs(&t, 20);
	t.want = 1000;		/* keep running; stopped below */
	for (int i = 0; i < 2000 && p2p_rlink_pending(t.a.r) > 0; i++)
		uv_run(&t.loop, UV_RUN_ONCE);
	p2p_rlink_stats_get(t.a.r, &st);
	assert_int_equal(st.acked, 20);
	assert_int_equal(st.retransmits, 0);
	assert_true(st.srtt_ms >= 35 && st.srtt_ms < 500);
	assert_true(st.rto_ms >= st.srtt_ms);
	finish(&t);
	rt_run(&t);
}

/* Nobody acknowledges: max_tx transmissions with the timeout doubling,
 * then failed once; the window holds, the queue is bounded. */
static void
test_give_up(void **state)
{
	p2p_rlink_opts o = { .window = 4, .max_queue = 10, .rto_ms = 50,
	    .min_rto_ms = 50, .max_rto_ms = 1000, .max_tx = 4 };
	struct rtest t;
	p2p_rlink_stats st;
	uint64_t t0;
	uint8_t m[8] = { 0 };

	(void)state;
	rt_init(&t, &o, 1);
	t.b_deaf = 1;
	for (int i = 0; i < 14; i++)
		assert_int_equal(p2p_rlink_send(t.a.r, m, sizeof(m)), 0);
	assert_int_equal(p2p_rlink_send(t.a.r, m, sizeof(m)), -1);
	assert_int_equal(p2p_rlink_pending(t.a.r), 14);
	p2p_rlink_stats_get(t.a.r, &st);
	assert_int_equal(st.in_flight, 4);
	assert_int_equal(st.queued, 10);
	t0 = uv_now(&t.loop);
	while (!t.a.failed)
		uv_run(&t.loop, UV_RUN_ONCE);
	/* 50 + 100 + 200 + 400 ms at least */
	assert_true(uv_now(&t.loop) - t0 >= 700);
	p2p_rlink_stats_get(t.a.r, &st);
	assert_int_equal(st.frames, 4 * 4);
	assert_int_equal(st.retransmits, 4 * 3);
	assert_non_null(strstr(t.a.why, "no acknowledgement"));
	assert_int_equal(p2p_rlink_pending(t.a.r), 0);
	finish(&t);
	rt_run(&t);
}

static void
test_bad_input(void **state)
{
	p2p_rlink_opts o = { .max_msg = 50 };
	struct rtest t;
	p2p_err err = { 0 };
	uint8_t rec[200];
	p2p_wbuf w;

	(void)state;
	rt_init(&t, &o, 1);
	memset(rec, 0, sizeof(rec));
	rec[0] = 0x42;
	assert_int_equal(p2p_rlink_input(t.a.r, rec, 20, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	p2p_w_init_fixed(&w, rec, sizeof(rec));
	assert_int_equal(p2p_frame_data_encode(&w, 7, rec + 150, 40), 0);
	assert_int_equal(p2p_rlink_input(t.a.r, rec, w.len - 1, &err), -1);
	assert_int_equal(p2p_rlink_input(t.a.r, rec, w.len + 1, &err), -1);
	p2p_w_init_fixed(&w, rec, sizeof(rec));
	assert_int_equal(p2p_frame_data_encode(&w, 7, rec + 100, 60), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(p2p_rlink_input(t.a.r, rec, w.len, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_MESSAGE_TOO_LARGE);
	assert_int_equal(p2p_rlink_send(t.a.r, rec, 51), -1);
	assert_int_equal(p2p_rlink_send(t.a.r, rec, 0), -1);
	/* An ACK of something never sent is counted and ignored. */
	p2p_w_init_fixed(&w, rec, sizeof(rec));
	assert_int_equal(p2p_frame_ack_encode(&w, 99, 0), 0);
	assert_int_equal(p2p_rlink_input(t.a.r, rec, w.len, &err), 0);
	finish(&t);
	rt_run(&t);
}

/* Freeing from inside the deliver callback is safe. */
static void
test_free_in_callback(void **state)
{
	struct rtest t;

	(void)state;
	rt_init(&t, NULL, 1);
	t.free_in_deliver = 1;
	send_msgs(&t, 5);
	rt_run(&t);
	assert_int_equal(t.b.ngot, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lossless),
		cmocka_unit_test(test_lossy),
		cmocka_unit_test(test_give_up),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_free_in_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
