#include "unit.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "dtls.h"

#include "testkit_unit.h"
#include "mempath.h"

static p2p_tls_ctx *
dctx_make(enum p2p_tls_role role, X509 *cert, EVP_PKEY *key,
    unsigned handshake_ms)
{
	p2p_tls_limits lim = { .handshake_ms = handshake_ms };

	return pki_ctx(role, cert, key, P2P_TLS_PEER_VERIFY, &lim, 1);
}

/* ---- one side of a test connection ---- */

struct dside {
	struct pair *pr;
	p2p_dtls *d;
	int opened, closed, verified;
	char reason[200];
	char peer_cn[64];
	unsigned nrecs;		/* records received */
	unsigned sum;		/* of their first bytes */
	unsigned big;		/* records longer than the path MTU */
};

struct pair {
	uv_loop_t *loop;
	struct mempath mp;
	struct dside cli, srv;
	unsigned want;		/* records the client sends once open */
	unsigned sent;
	unsigned idle;		/* pump ticks since the last record */
	uv_timer_t pump;	/* sends the client's records with loss */
	int close_after;	/* the client closes when srv has them all */
};

static void
pair_maybe_done(struct pair *pr)
{
	if (pr->cli.closed && pr->srv.closed) {
		mp_shutdown(&pr->mp);
		if (!uv_is_closing((uv_handle_t *)&pr->pump))
			uv_close((uv_handle_t *)&pr->pump, NULL);
	}
}

static int
verify_cn(p2p_dtls *d, X509 *peer, STACK_OF(X509) *chain, void *arg,
    char *why, size_t len)
{
	struct dside *s = p2p_dtls_data(d);

	(void)chain;
	(void)arg;
	if (peer == NULL) {
		snprintf(why, len, "no certificate");
		return -1;
	}
	X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	    NID_commonName, s->peer_cn, sizeof(s->peer_cn));
	s->verified = 1;
	return 0;
}

static void
on_open(p2p_dtls *d)
{
	struct dside *s = p2p_dtls_data(d);

	s->opened = 1;
	assert_non_null(p2p_dtls_peer_cert(d));
	assert_true(p2p_dtls_is_open(d));
}

static void
on_recv(p2p_dtls *d, const uint8_t *rec, size_t len)
{
	struct dside *s = p2p_dtls_data(d);
	struct pair *pr = s->pr;

	assert_true(len > 0);
	if (len > 1000) {
		s->big++;
		return;
	}
	s->nrecs++;
	s->sum += rec[0];
	if (s == &pr->srv && pr->close_after && s->nrecs == pr->want)
		p2p_dtls_close(pr->cli.d, "test done");
}

static void
on_close(p2p_dtls *d, const char *reason)
{
	struct dside *s = p2p_dtls_data(d);

	assert_false(s->closed);
	s->closed = 1;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	pair_maybe_done(s->pr);
}

static const p2p_dtls_cbs cbs = { on_open, on_recv, on_close };

/* Once both are open the client sends one record every 2 ms. */
static void
pump_cb(uv_timer_t *t)
{
	struct pair *pr = t->data;
	uint8_t rec[300];

	if (pr->cli.closed || pr->srv.closed)
		return;
	if (!pr->cli.opened || !pr->srv.opened)
		return;
	if (pr->sent == 0 && pr->mp.a.d.mtu < 1000) {
		/* On a small MTU: one record larger than a datagram may be,
		 * one larger than a record may be. */
		uint8_t big[P2P_DTLS_MAX_RECORD + 1];

		memset(big, 0xab, sizeof(big));
		assert_true(p2p_dtls_mtu(pr->cli.d) < 400 - 13);
		assert_int_equal(p2p_dtls_send(pr->cli.d, big, 5000), 0);
		assert_int_equal(p2p_dtls_send(pr->cli.d, big, sizeof(big)),
		    -1);
	}
	if (pr->sent >= pr->want) {
		/* Without close_after (lossy runs) both sides close a
		 * while after the last record. */
		if (!pr->close_after && ++pr->idle == 50) {
			p2p_dtls_close(pr->cli.d, "test done");
			p2p_dtls_close(pr->srv.d, "test done");
		}
		return;
	}
	memset(rec, 0, sizeof(rec));
	rec[0] = (uint8_t)(pr->sent + 1);
	assert_int_equal(p2p_dtls_send(pr->cli.d, rec, sizeof(rec)), 0);
	pr->sent++;
}

static void
pair_init(struct pair *pr, uv_loop_t *loop, size_t mtu, uint32_t seed)
{
	memset(pr, 0, sizeof(*pr));
	pr->loop = loop;
	pr->cli.pr = pr->srv.pr = pr;
	mp_init(&pr->mp, loop, mtu, seed);
	uv_timer_init(loop, &pr->pump);
	pr->pump.data = pr;
	uv_timer_start(&pr->pump, pump_cb, 2, 2);
}

/* A client and a server on the two ends; run until both closed. */
static void
run_pair(struct pair *pr, X509 *ccert, EVP_PKEY *ckey)
{
	p2p_tls_ctx *sc = dctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key, 0);
	p2p_tls_ctx *cc = dctx_make(P2P_TLS_CLIENT, ccert, ckey, 0);

	p2p_dtls_ctx_set_verify(sc, verify_cn, NULL);
	p2p_dtls_ctx_set_verify(cc, verify_cn, NULL);
	pr->srv.d = p2p_dtls_new(pr->loop, sc, &pr->mp.b.d, &cbs, &pr->srv);
	pr->cli.d = p2p_dtls_new(pr->loop, cc, &pr->mp.a.d, &cbs, &pr->cli);
	assert_non_null(pr->srv.d);
	assert_non_null(pr->cli.d);
	p2p_tls_ctx_free(sc);
	p2p_tls_ctx_free(cc);
	run_loop(pr->loop);
	assert_true(pr->mp.a.closed);
	assert_true(pr->mp.b.closed);
}

/* ---- tests ---- */

static void
test_exchange(void **state)
{
	uv_loop_t loop;
	struct pair pr;

	(void)state;
	uv_loop_init(&loop);
	pair_init(&pr, &loop, 1200, 1);
	pr.want = 20;
	pr.close_after = 1;
	run_pair(&pr, pki.cli, pki.cli_key);
	assert_true(pr.cli.opened && pr.srv.opened);
	assert_string_equal(pr.cli.peer_cn, "server");
	assert_string_equal(pr.srv.peer_cn, "client");
	assert_int_equal(pr.srv.nrecs, 20);
	assert_int_equal(pr.srv.sum, 20 * 21 / 2);
	assert_string_equal(pr.cli.reason, "test done");
	assert_string_equal(pr.srv.reason, "peer sent close_notify");
	uv_loop_close(&loop);
}

/* Datagrams lost, duplicated and reordered: the handshake retransmits
 * until done; records arrive at most once each (the DTLS replay check). */
static void
test_lossy(void **state)
{
	uv_loop_t loop;
	struct pair pr;

	(void)state;
	for (uint32_t seed = 1; seed <= 8; seed++) {
		uv_loop_init(&loop);
		pair_init(&pr, &loop, 1200, seed);
		pr.mp.loss_pct = 15;
		pr.mp.reorder_pct = 30;
		pr.mp.dup_pct = 20;
		pr.mp.delay_ms = 2;
		pr.mp.drop_first = 2;	/* the first ClientHello and its
					   retry are lost for sure */
		pr.want = 40;
		pr.close_after = 0;
		run_pair(&pr, pki.cli, pki.cli_key);
		assert_true(pr.cli.opened && pr.srv.opened);
		assert_true(pr.srv.nrecs <= 40);
		assert_true(pr.srv.nrecs >= 10);
		assert_true(pr.mp.a.dropped >= 2);
		uv_loop_close(&loop);
	}
}

/* A small MTU: the certificate flights are fragmented to it. */
static void
test_small_mtu(void **state)
{
	uv_loop_t loop;
	struct pair pr;

	(void)state;
	uv_loop_init(&loop);
	pair_init(&pr, &loop, 400, 7);
	pr.want = 5;
	pr.close_after = 1;
	run_pair(&pr, pki.cli, pki.cli_key);
	assert_true(pr.cli.opened && pr.srv.opened);
	assert_int_equal(pr.srv.nrecs, 5);
	assert_int_equal(pr.srv.big, 1);
	uv_loop_close(&loop);
}

/* A client certificate from another root is refused; both sides close
 * and neither opens. */
static void
test_bad_cert(void **state)
{
	uv_loop_t loop;
	struct pair pr;

	(void)state;
	uv_loop_init(&loop);
	pair_init(&pr, &loop, 1200, 3);
	run_pair(&pr, pki.rogue, pki.rogue_key);
	assert_false(pr.srv.opened);
	assert_false(pr.srv.verified);
	assert_true(pr.srv.closed && pr.cli.closed);
	assert_non_null(strstr(pr.srv.reason, "handshake failed"));
	uv_loop_close(&loop);
}

/* ---- the stateless cookie guard ---- */

struct lstn {
	p2p_tls_ctx *sc;
	struct pair *pr;
	unsigned replies, oks, drops;
	int accepted;
};

static struct lstn *cur_lstn;

/* The server end of the path before any p2p_dtls owns it: each datagram
 * goes through p2p_dtls_listen as a shared socket's would. */
static void
listen_recv(p2p_dgram *d, const uint8_t *buf, size_t len, void *arg)
{
	struct lstn *ls = arg;
	uint8_t reply[256];
	size_t rlen;
	p2p_dtls_hello *h;
	int r;

	r = p2p_dtls_listen(ls->sc, d->peer, buf, len, reply, sizeof(reply),
	    &rlen, &h);
	if (r == P2P_DTLS_LISTEN_REPLY) {
		ls->replies++;
		assert_true(rlen > 13);
		assert_int_equal(reply[13], 3);	/* HelloVerifyRequest */
		assert_int_equal(p2p_dgram_send(d, reply, rlen), 0);
		return;
	}
	if (r == P2P_DTLS_LISTEN_DROP) {
		ls->drops++;
		return;
	}
	ls->oks++;
	assert_non_null(h);
	/* The same ClientHello from another address needs a new cookie. */
	{
		p2p_dtls_hello *h2;
		assert_int_equal(p2p_dtls_listen(ls->sc, "198.51.100.9:1",
		    buf, len, reply, sizeof(reply), &rlen, &h2),
		    P2P_DTLS_LISTEN_REPLY);
		assert_null(h2);
	}
	ls->pr->srv.d = p2p_dtls_accept(ls->pr->loop, h, d, &cbs,
	    &ls->pr->srv);
	assert_non_null(ls->pr->srv.d);
	ls->accepted = 1;
}

static void
test_listen(void **state)
{
	uv_loop_t loop;
	struct pair pr;
	struct lstn ls;
	p2p_tls_ctx *cc;
	uint8_t junk[64], reply[256];
	size_t rlen;
	p2p_dtls_hello *h;

	(void)state;
	uv_loop_init(&loop);
	pair_init(&pr, &loop, 1200, 5);
	pr.want = 3;
	pr.close_after = 1;
	memset(&ls, 0, sizeof(ls));
	ls.pr = &pr;
	ls.sc = dctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key, 0);
	p2p_dtls_ctx_set_verify(ls.sc, verify_cn, NULL);
	cur_lstn = &ls;
	/* Not a ClientHello: dropped without a reply. */
	memset(junk, 0x16, sizeof(junk));
	assert_int_equal(p2p_dtls_listen(ls.sc, "192.0.2.1:1", junk,
	    sizeof(junk), reply, sizeof(reply), &rlen, &h),
	    P2P_DTLS_LISTEN_DROP);
	assert_int_equal(rlen, 0);
	assert_int_equal(p2p_dtls_listen(ls.sc, "192.0.2.1:1", junk, 5,
	    reply, sizeof(reply), &rlen, &h), P2P_DTLS_LISTEN_DROP);
	pr.mp.b.d.on_recv = listen_recv;
	pr.mp.b.d.arg = &ls;
	cc = dctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key, 0);
	p2p_dtls_ctx_set_verify(cc, verify_cn, NULL);
	pr.cli.d = p2p_dtls_new(&loop, cc, &pr.mp.a.d, &cbs, &pr.cli);
	assert_non_null(pr.cli.d);
	p2p_tls_ctx_free(cc);
	run_loop(&loop);
	assert_int_equal(ls.replies, 1);
	assert_int_equal(ls.oks, 1);
	assert_true(ls.accepted);
	assert_true(pr.cli.opened && pr.srv.opened);
	assert_int_equal(pr.srv.nrecs, 3);
	assert_string_equal(pr.srv.peer_cn, "client");
	p2p_tls_ctx_free(ls.sc);
	uv_loop_close(&loop);
}

/* ---- the handshake deadline and the record size bound ---- */

static void
test_timeout(void **state)
{
	uv_loop_t loop;
	struct pair pr;
	p2p_tls_ctx *cc;

	(void)state;
	uv_loop_init(&loop);
	pair_init(&pr, &loop, 1200, 9);
	cc = dctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key, 300);
	/* Nobody at the other end. */
	pr.srv.closed = 1;
	pr.cli.d = p2p_dtls_new(&loop, cc, &pr.mp.a.d, &cbs, &pr.cli);
	assert_non_null(pr.cli.d);
	assert_true(p2p_dtls_mtu(pr.cli.d) <= 1200 - P2P_DTLS_OVERHEAD);
	assert_int_equal(p2p_dtls_send(pr.cli.d, "x", 1), -1);
	p2p_tls_ctx_free(cc);
	run_loop(&loop);
	assert_false(pr.cli.opened);
	assert_non_null(strstr(pr.cli.reason, "handshake timeout"));
	uv_loop_close(&loop);
}

static void
test_not_dtls_ctx(void **state)
{
	p2p_tls_ctx_opts o;
	p2p_tls_ctx *ctx;
	char err[256];
	struct mempath mp;
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	mp_init(&mp, &loop, 1200, 1);
	memset(&o, 0, sizeof(o));
	o.role = P2P_TLS_CLIENT;
	ctx = p2p_tls_ctx_new(&o, err, sizeof(err));
	assert_non_null(ctx);
	assert_null(p2p_dtls_new(&loop, ctx, &mp.a.d, &cbs, NULL));
	assert_null(mp.a.d.on_recv);
	p2p_tls_ctx_free(ctx);
	mp_shutdown(&mp);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_lossy),
		cmocka_unit_test(test_small_mtu),
		cmocka_unit_test(test_bad_cert),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_not_dtls_ctx),
	};

	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
