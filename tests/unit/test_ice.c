/*
 * ICE agents on 127.0.0.1: two agents exchange their candidates as an
 * Attach would, connect and carry datagrams both ways through the
 * p2p_dgram each hands over; wrong remote candidates end in on_failed.
 */
#include "unit.h"

#include "ice.h"

typedef struct side {
	p2p_ice *ice;
	struct side *peer;
	int gathered, connected, failed, gone;
	char ufrag[256], pwd[256];
	p2p_ice_cand cands[16];
	size_t ncands;
	p2p_dgram *d;
	uint8_t last[2048];
	size_t lastlen;
	unsigned nrecv;
	char why[128];
} side;

static p2p_ice_cand bad_cand;

static void
d_recv(p2p_dgram *d, const uint8_t *buf, size_t len, void *arg)
{
	side *s = arg;

	assert_true(len <= sizeof(s->last));
	memcpy(s->last, buf, len);
	s->lastlen = len;
	s->nrecv++;
}

static void
d_gone(p2p_dgram *d, const char *why, void *arg)
{
	side *s = arg;

	s->gone = 1;
	s->d = NULL;
}

static void
cb_gathered(p2p_ice *ice, const char *ufrag, const char *pwd,
    const p2p_ice_cand *c, size_t n, void *arg)
{
	side *s = arg;
	size_t i;

	snprintf(s->ufrag, sizeof(s->ufrag), "%s", ufrag);
	snprintf(s->pwd, sizeof(s->pwd), "%s", pwd);
	assert_true(n > 0 && n <= 16);
	for (i = 0; i < n; i++) {
		/* Host candidates on the loopback address only. */
		assert_int_equal(c[i].type, P2P_CAND_HOST);
		assert_int_equal(c[i].addr.type, P2P_ADDR_IPV4);
		assert_int_equal(c[i].addr.addr[0], 127);
		assert_int_equal(c[i].overlay_link, P2P_LINK_DTLS_UDP_SR);
		assert_true(c[i].foundation.len > 0);
		assert_true(c[i].priority > 0);
		assert_true(c[i].addr.port != 0);
	}
	memcpy(s->cands, c, n * sizeof(*c));
	s->ncands = n;
	s->gathered = 1;
}

static void
cb_connected(p2p_ice *ice, p2p_dgram *d, void *arg)
{
	side *s = arg;

	s->connected = 1;
	s->d = d;
	assert_true(d->mtu >= 576);
	assert_non_null(strstr(d->peer, "127.0.0.1:"));
	d->on_recv = d_recv;
	d->on_gone = d_gone;
	d->arg = s;
}

static void
cb_failed(p2p_ice *ice, const char *why, void *arg)
{
	side *s = arg;

	s->failed = 1;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

static const p2p_ice_cbs cbs = { cb_gathered, cb_connected, cb_failed };

/* Run the loop until *flag is set or ms pass. */
static int
run_until(uv_loop_t *loop, const int *a, const int *b, uint64_t ms)
{
	uint64_t end = uv_now(loop) + ms;

	while (!(*a && *b)) {
		uv_run(loop, UV_RUN_ONCE);
		uv_update_time(loop);
		if (uv_now(loop) >= end)
			return -1;
	}
	return 0;
}

static void
make_pair(uv_loop_t *loop, p2p_ice_ctx *ctx, side *a, side *b,
    uint32_t timeout_ms)
{
	p2p_ice_cfg cfg;
	char err[128];

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.local_ip, sizeof(cfg.local_ip), "127.0.0.1");
	cfg.overlay_link = P2P_LINK_DTLS_UDP_SR;
	cfg.timeout_ms = timeout_ms;
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->peer = b;
	b->peer = a;
	cfg.controlling = 1;
	a->ice = p2p_ice_new(ctx, &cfg, &cbs, a, err, sizeof(err));
	assert_non_null(a->ice);
	cfg.controlling = 0;
	b->ice = p2p_ice_new(ctx, &cfg, &cbs, b, err, sizeof(err));
	assert_non_null(b->ice);
	assert_int_equal(p2p_ice_controlling(a->ice), 1);
	assert_int_equal(p2p_ice_controlling(b->ice), 0);
	assert_int_equal(p2p_ice_gather(a->ice), 0);
	assert_int_equal(p2p_ice_gather(b->ice), 0);
	assert_int_equal(p2p_ice_gather(a->ice), -1);	/* only once */
	assert_int_equal(run_until(loop, &a->gathered, &b->gathered, 10000),
	    0);
	assert_string_not_equal(a->ufrag, b->ufrag);
}

static void
set_remote(side *s, const side *from)
{
	assert_int_equal(p2p_ice_set_remote(s->ice,
	    (const uint8_t *)from->ufrag, strlen(from->ufrag),
	    (const uint8_t *)from->pwd, strlen(from->pwd), from->cands,
	    from->ncands), 0);
}

static void
finish(uv_loop_t *loop, p2p_ice_ctx *ctx)
{
	p2p_ice_ctx_free(ctx);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void
test_connect_and_exchange(void **state)
{
	uv_loop_t loop;
	p2p_ice_ctx *ctx;
	side a, b;
	char err[128];
	uint8_t big[1200];
	unsigned i, before;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	ctx = p2p_ice_ctx_new(&loop, err, sizeof(err));
	assert_non_null(ctx);
	make_pair(&loop, ctx, &a, &b, 20000);

	/* Nothing usable: another overlay link type, and no credentials. */
	bad_cand = a.cands[0];
	bad_cand.overlay_link = P2P_LINK_TLS_TCP_FH_NO_ICE;
	assert_int_equal(p2p_ice_set_remote(b.ice, (const uint8_t *)a.ufrag,
	    strlen(a.ufrag), (const uint8_t *)a.pwd, strlen(a.pwd),
	    &bad_cand, 1), -1);
	assert_int_equal(p2p_ice_set_remote(b.ice, (const uint8_t *)"", 0,
	    (const uint8_t *)a.pwd, strlen(a.pwd), a.cands, a.ncands), -1);

	set_remote(&a, &b);
	set_remote(&b, &a);
	assert_int_equal(run_until(&loop, &a.connected, &b.connected, 20000),
	    0);
	assert_false(a.failed || b.failed);

	/* Both ways, a small and a full-MTU datagram. */
	assert_int_equal(p2p_dgram_send(a.d, (const uint8_t *)"ping", 4), 0);
	before = b.nrecv;
	for (i = 0; i < 200 && b.nrecv == before; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(b.lastlen, 4);
	assert_memory_equal(b.last, "ping", 4);
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(p2p_dgram_send(b.d, big, sizeof(big)), 0);
	before = a.nrecv;
	for (i = 0; i < 200 && a.nrecv == before; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(a.lastlen, sizeof(big));
	assert_memory_equal(a.last, big, sizeof(big));

	p2p_dgram_close(b.d);
	assert_false(a.gone || b.gone);
	/* The context may go first: a's path then carries nothing and is
	 * freed when closed. */
	p2p_ice_ctx_free(ctx);
	assert_int_equal(p2p_dgram_send(a.d, (const uint8_t *)"x", 1), -1);
	p2p_dgram_close(a.d);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_wrong_candidates_fail(void **state)
{
	uv_loop_t loop;
	p2p_ice_ctx *ctx;
	side a, b;
	char err[128];
	size_t i;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	ctx = p2p_ice_ctx_new(&loop, err, sizeof(err));
	assert_non_null(ctx);
	make_pair(&loop, ctx, &a, &b, 3000);

	/* Each side gets the other's credentials but candidates whose ports
	 * nobody listens on (the other's port + 1, on the other side of the
	 * range when that is the last port). */
	for (i = 0; i < b.ncands; i++)
		b.cands[i].addr.port = b.cands[i].addr.port == 65535 ? 1 :
		    (uint16_t)(b.cands[i].addr.port + 1);
	for (i = 0; i < a.ncands; i++)
		a.cands[i].addr.port = a.cands[i].addr.port == 65535 ? 1 :
		    (uint16_t)(a.cands[i].addr.port + 1);
	set_remote(&a, &b);
	set_remote(&b, &a);
	assert_int_equal(run_until(&loop, &a.failed, &b.failed, 30000), 0);
	assert_false(a.connected || b.connected);
	assert_true(strstr(a.why, "ICE") != NULL);
	p2p_ice_free(a.ice);
	p2p_ice_free(b.ice);
	finish(&loop, ctx);
}

static void
test_no_remote_times_out(void **state)
{
	uv_loop_t loop;
	p2p_ice_ctx *ctx;
	side a, b;
	char err[128];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	ctx = p2p_ice_ctx_new(&loop, err, sizeof(err));
	assert_non_null(ctx);
	make_pair(&loop, ctx, &a, &b, 1000);
	/* The answer never comes: the deadline fails both agents. */
	assert_int_equal(run_until(&loop, &a.failed, &b.failed, 10000), 0);
	assert_string_equal(a.why, "ICE checks timed out");
	p2p_ice_free(a.ice);
	p2p_ice_free(b.ice);
	finish(&loop, ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_and_exchange),
		cmocka_unit_test(test_wrong_candidates_fail),
		cmocka_unit_test(test_no_remote_times_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
