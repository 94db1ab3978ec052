#include "unit.h"

#include <signal.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "tls.h"

#include "testkit_unit.h"

static p2p_tls_ctx *
ctx_make(enum p2p_tls_role role, X509 *cert, EVP_PKEY *key,
    enum p2p_tls_peer peer, const p2p_tls_limits *lim)
{
	return pki_ctx(role, cert, key, peer, lim, 0);
}

/* ---- logging: keep the last lines for the checks ---- */

static char last_log[8][256];
static int nlog;

static void
test_log(int level, const char *msg, void *arg)
{
	(void)arg;
	(void)level;
	snprintf(last_log[nlog % 8], sizeof(last_log[0]), "%s", msg);
	nlog++;
}

static int
log_has(const char *needle)
{
	int i;

	for (i = 0; i < 8 && i < nlog; i++)
		if (strstr(last_log[i], needle) != NULL)
			return 1;
	return 0;
}

/* ---- an echo server and a client that checks the echo ---- */

struct side {
	int opened, closed;
	char reason[200];
	char peer_cn[64];
	uint8_t *got;
	size_t gotlen, gotcap;
};

struct echo {
	p2p_tls_listener *lis;
	struct side srv, cli;
	const uint8_t *msg;
	size_t msglen;
	int write_early;	/* write before the handshake completes */
};

static void
side_append(struct side *s, const uint8_t *p, size_t n)
{
	if (s->gotlen + n > s->gotcap) {
		s->gotcap = (s->gotlen + n) * 2;
		s->got = realloc(s->got, s->gotcap);
		assert_non_null(s->got);
	}
	memcpy(s->got + s->gotlen, p, n);
	s->gotlen += n;
}

static int
verify_cn(p2p_tls_conn *c, X509 *peer, void *arg, char *why, size_t len)
{
	struct side *s = arg;
	char cn[64] = "";

	assert_non_null(peer);
	assert_ptr_equal(peer, p2p_tls_conn_peer_cert(c));
	X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	    NID_commonName, cn, sizeof(cn));
	snprintf(s->peer_cn, sizeof(s->peer_cn), "%s", cn);
	if (strcmp(cn, "forbidden") == 0) {
		snprintf(why, len, "name %s not allowed", cn);
		return -1;
	}
	return 0;
}

static void
srv_open(p2p_tls_conn *c)
{
	struct echo *e = p2p_tls_conn_data(c);

	e->srv.opened++;
	assert_non_null(p2p_tls_conn_peer_cert(c));
	assert_true(strncmp(p2p_tls_conn_peer(c), "127.0.0.1:", 10) == 0);
	assert_string_equal(p2p_tls_conn_peer_ip(c), "127.0.0.1");
}

static void
srv_read(p2p_tls_conn *c, const uint8_t *p, size_t n)
{
	struct echo *e = p2p_tls_conn_data(c);

	side_append(&e->srv, p, n);
	assert_int_equal(p2p_tls_write(c, p, n), 0);
}

static void
srv_close(p2p_tls_conn *c, const char *reason)
{
	struct echo *e = p2p_tls_conn_data(c);

	e->srv.closed++;
	snprintf(e->srv.reason, sizeof(e->srv.reason), "%s", reason);
	p2p_tls_listener_close(e->lis);
}

static const p2p_tls_cbs srv_cbs = {
	.on_open = srv_open, .on_read = srv_read, .on_close = srv_close,
};

static void
srv_accept(p2p_tls_listener *l, p2p_tls_conn *c, void *arg)
{
	(void)l;
	p2p_tls_conn_set_cbs(c, &srv_cbs, arg);
}

static void
cli_open(p2p_tls_conn *c)
{
	struct echo *e = p2p_tls_conn_data(c);

	e->cli.opened++;
	if (!e->write_early && e->msglen > 0)
		assert_int_equal(p2p_tls_write(c, e->msg, e->msglen), 0);
}

static void
cli_read(p2p_tls_conn *c, const uint8_t *p, size_t n)
{
	struct echo *e = p2p_tls_conn_data(c);

	side_append(&e->cli, p, n);
	if (e->cli.gotlen >= e->msglen) {
		p2p_tls_close(c);
		p2p_tls_close(c);	/* idempotent */
	}
}

static void
cli_close(p2p_tls_conn *c, const char *reason)
{
	struct echo *e = p2p_tls_conn_data(c);

	e->cli.closed++;
	snprintf(e->cli.reason, sizeof(e->cli.reason), "%s", reason);
}

static const p2p_tls_cbs cli_cbs = {
	.on_open = cli_open, .on_read = cli_read, .on_close = cli_close,
};

static void
echo_run(struct echo *e, p2p_tls_ctx *sctx, p2p_tls_ctx *cctx)
{
	uv_loop_t loop;
	p2p_tls_conn *c;
	int port;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(p2p_tls_listen(&loop, sctx, "127.0.0.1", 0,
	    srv_accept, e, &e->lis), 0);
	port = p2p_tls_listener_port(e->lis);
	assert_true(port > 0);
	assert_int_equal(p2p_tls_connect(&loop, cctx, "127.0.0.1", port,
	    &cli_cbs, e, &c), 0);
	if (e->write_early)
		assert_int_equal(p2p_tls_write(c, e->msg, e->msglen), 0);
	run_loop(&loop);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void
echo_free(struct echo *e)
{
	free(e->srv.got);
	free(e->cli.got);
}

static void
test_echo_mutual(void **state)
{
	struct echo e = { .msg = (const uint8_t *)"hello, peer",
	    .msglen = 11 };
	p2p_tls_ctx *s, *c;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	c = ctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	p2p_tls_ctx_set_verify(s, verify_cn, &e.srv);
	p2p_tls_ctx_set_verify(c, verify_cn, &e.cli);
	echo_run(&e, s, c);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.srv.opened, 1);
	assert_int_equal(e.cli.opened, 1);
	assert_int_equal(e.srv.closed, 1);
	assert_int_equal(e.cli.closed, 1);
	assert_string_equal(e.srv.peer_cn, "client");
	assert_string_equal(e.cli.peer_cn, "server");
	assert_int_equal(e.cli.gotlen, 11);
	assert_memory_equal(e.cli.got, "hello, peer", 11);
	assert_string_equal(e.cli.reason, "closed locally");
	assert_string_equal(e.srv.reason, "peer sent close_notify");
	echo_free(&e);
}

static void
test_untrusted_client(void **state)
{
	struct echo e = { .msg = (const uint8_t *)"x", .msglen = 0 };
	p2p_tls_ctx *s, *c;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	c = ctx_make(P2P_TLS_CLIENT, pki.rogue, pki.rogue_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	p2p_tls_ctx_set_verify(s, verify_cn, &e.srv);
	echo_run(&e, s, c);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.srv.opened, 0);
	assert_int_equal(e.srv.closed, 1);
	assert_int_equal(e.cli.closed, 1);
	assert_string_equal(e.srv.peer_cn, "");	/* hook never ran */
	assert_non_null(strstr(e.srv.reason, "certificate verify failed"));
	echo_free(&e);
}

static void
test_missing_client_cert(void **state)
{
	struct echo e = { .msg = (const uint8_t *)"x", .msglen = 0 };
	p2p_tls_ctx *s, *c;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	c = ctx_make(P2P_TLS_CLIENT, NULL, NULL, P2P_TLS_PEER_VERIFY, NULL);
	echo_run(&e, s, c);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.srv.opened, 0);
	assert_int_equal(e.srv.closed, 1);
	assert_int_equal(e.cli.closed, 1);
	assert_non_null(strstr(e.srv.reason, "handshake failed"));
	echo_free(&e);
}

static void
test_verify_hook_rejects(void **state)
{
	struct echo e = { .msg = (const uint8_t *)"x", .msglen = 1 };
	p2p_tls_ctx *s, *c;
	EVP_PKEY *k = make_key();
	X509 *x = make_cert("forbidden", k, pki.ca, pki.ca_key, 0);

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	c = ctx_make(P2P_TLS_CLIENT, x, k, P2P_TLS_PEER_VERIFY, NULL);
	X509_free(x);
	EVP_PKEY_free(k);
	p2p_tls_ctx_set_verify(s, verify_cn, &e.srv);
	echo_run(&e, s, c);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_string_equal(e.srv.peer_cn, "forbidden");
	assert_int_equal(e.srv.opened, 0);
	assert_int_equal(e.srv.gotlen, 0);
	assert_int_equal(e.cli.closed, 1);
	assert_non_null(strstr(e.srv.reason, "name forbidden not allowed"));
	echo_free(&e);
}

static void
test_large_write(void **state)
{
	const size_t n = 1u << 20;
	struct echo e = { .write_early = 1 };
	p2p_tls_limits lim = { .max_queued = 3u << 20 };
	uint8_t *msg = malloc(n);
	p2p_tls_ctx *s, *c;
	size_t i;

	(void)state;
	assert_non_null(msg);
	for (i = 0; i < n; i++)
		msg[i] = (uint8_t)(i * 7 + (i >> 11));
	e.msg = msg;
	e.msglen = n;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, &lim);
	c = ctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key,
	    P2P_TLS_PEER_VERIFY, &lim);
	echo_run(&e, s, c);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.srv.gotlen, n);
	assert_memory_equal(e.srv.got, msg, n);
	assert_int_equal(e.cli.gotlen, n);
	assert_memory_equal(e.cli.got, msg, n);
	free(msg);
	echo_free(&e);
}

static void
test_write_queue_bound(void **state)
{
	struct echo e = { .msglen = 0 };
	p2p_tls_limits lim = { .max_queued = 1000 };
	p2p_tls_ctx *s, *c;
	p2p_tls_conn *conn;
	uv_loop_t loop;
	uint8_t buf[800];

	(void)state;
	memset(buf, 'q', sizeof(buf));
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	c = ctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key,
	    P2P_TLS_PEER_VERIFY, &lim);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(p2p_tls_listen(&loop, s, "127.0.0.1", 0,
	    srv_accept, &e, &e.lis), 0);
	assert_int_equal(p2p_tls_connect(&loop, c, "127.0.0.1",
	    p2p_tls_listener_port(e.lis), &cli_cbs, &e, &conn), 0);
	assert_int_equal(p2p_tls_write(conn, buf, sizeof(buf)), 0);
	assert_int_equal(p2p_tls_conn_queued(conn), sizeof(buf));
	assert_int_equal(p2p_tls_write(conn, buf, sizeof(buf)), -1);
	assert_int_equal(p2p_tls_write(conn, buf, 1), -1);	/* closing */
	/* the listener stays until the server side of the connection
	 * goes, if it was accepted at all; close it from here too */
	p2p_tls_listener_close(e.lis);
	run_loop(&loop);
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.cli.closed, 1);
	assert_non_null(strstr(e.cli.reason, "write queue full"));
	assert_int_equal(e.cli.opened, 0);
	echo_free(&e);
}

/* ---- raw TCP peers: garbage, silence, over the connection cap ---- */

struct raw {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	const char *send;
	int eof;
	size_t got;
	uint64_t t0, t_eof;
	char buf[4096];
	void (*after)(struct raw *r);
	void *arg;
};

static void
raw_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	struct raw *r = h->data;

	(void)sz;
	*b = uv_buf_init(r->buf, sizeof(r->buf));
}

static void
raw_closed(uv_handle_t *h)
{
	struct raw *r = h->data;

	if (r->after != NULL)
		r->after(r);
}

static void
raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct raw *r = s->data;

	(void)b;
	if (n > 0)
		r->got += (size_t)n;
	if (n < 0) {
		r->eof = 1;
		r->t_eof = uv_now(s->loop);
		uv_close((uv_handle_t *)s, raw_closed);
	}
}

static void
raw_connected(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	uv_buf_t b;

	assert_int_equal(status, 0);
	r->t0 = uv_now(req->handle->loop);
	assert_int_equal(uv_read_start((uv_stream_t *)&r->tcp, raw_alloc,
	    raw_read), 0);
	if (r->send != NULL) {
		b = uv_buf_init((char *)r->send, (unsigned)strlen(r->send));
		assert_int_equal(uv_write(&r->wreq, (uv_stream_t *)&r->tcp,
		    &b, 1, NULL), 0);
	}
}

static void
raw_connect(uv_loop_t *loop, struct raw *r, int port)
{
	struct sockaddr_in sa;

	uv_ip4_addr("127.0.0.1", port, &sa);
	uv_tcp_init(loop, &r->tcp);
	r->tcp.data = r;
	r->creq.data = r;
	assert_int_equal(uv_tcp_connect(&r->creq, &r->tcp,
	    (struct sockaddr *)&sa, raw_connected), 0);
}

static p2p_tls_ctx *garbage_cctx;

static void
garbage_then_tls(struct raw *r)
{
	struct echo *e = r->arg;
	p2p_tls_conn *c;

	assert_int_equal(p2p_tls_connect(r->tcp.loop, garbage_cctx,
	    "127.0.0.1", p2p_tls_listener_port(e->lis), &cli_cbs, e, &c), 0);
}

static void
garbage_srv_close(p2p_tls_conn *c, const char *reason)
{
	struct echo *e = p2p_tls_conn_data(c);

	if (strstr(reason, "handshake failed") != NULL) {
		e->srv.reason[0] = 'G';	/* garbage connection seen */
		return;
	}
	srv_close(c, reason);
}

static const p2p_tls_cbs garbage_srv_cbs = {
	.on_open = srv_open, .on_read = srv_read,
	.on_close = garbage_srv_close,
};

static void
garbage_accept(p2p_tls_listener *l, p2p_tls_conn *c, void *arg)
{
	(void)l;
	p2p_tls_conn_set_cbs(c, &garbage_srv_cbs, arg);
}

static void
test_garbage_input(void **state)
{
	struct echo e = { .msg = (const uint8_t *)"after garbage",
	    .msglen = 13 };
	struct raw r = { .send = "GET / HTTP/1.0\r\nHost: x\r\n\r\n"
	    "\x16\x03\x01\xff\xff junk junk junk" };
	p2p_tls_ctx *s;
	uv_loop_t loop;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	garbage_cctx = ctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	nlog = 0;
	p2p_tls_set_log(test_log, NULL);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(p2p_tls_listen(&loop, s, "127.0.0.1", 0,
	    garbage_accept, &e, &e.lis), 0);
	r.after = garbage_then_tls;
	r.arg = &e;
	raw_connect(&loop, &r, p2p_tls_listener_port(e.lis));
	run_loop(&loop);
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_tls_set_log(NULL, NULL);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(garbage_cctx);
	assert_true(r.eof);
	assert_true(log_has("handshake failed"));
	assert_int_equal(e.srv.opened, 1);
	assert_int_equal(e.cli.gotlen, 13);
	assert_memory_equal(e.cli.got, "after garbage", 13);
	echo_free(&e);
}

static void
silent_close(p2p_tls_conn *c, const char *reason)
{
	struct echo *e = p2p_tls_conn_data(c);

	snprintf(e->srv.reason, sizeof(e->srv.reason), "%s", reason);
	e->srv.closed++;
}

static const p2p_tls_cbs silent_cbs = { .on_close = silent_close };

static void
silent_accept(p2p_tls_listener *l, p2p_tls_conn *c, void *arg)
{
	(void)l;
	p2p_tls_conn_set_cbs(c, &silent_cbs, arg);
}

static void
close_listener_after(struct raw *r)
{
	struct echo *e = r->arg;

	p2p_tls_listener_close(e->lis);
}

static void
test_silent_peer_dropped(void **state)
{
	struct echo e = { .msglen = 0 };
	struct raw r = { .send = NULL };
	p2p_tls_limits lim = { .handshake_ms = 200 };
	p2p_tls_ctx *s;
	uv_loop_t loop;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, &lim);
	p2p_tls_set_log(test_log, NULL);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(p2p_tls_listen(&loop, s, "127.0.0.1", 0,
	    silent_accept, &e, &e.lis), 0);
	r.after = close_listener_after;
	r.arg = &e;
	raw_connect(&loop, &r, p2p_tls_listener_port(e.lis));
	run_loop(&loop);
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_tls_set_log(NULL, NULL);
	p2p_tls_ctx_free(s);
	assert_true(r.eof);
	assert_int_equal(r.got, 0);
	assert_true(r.t_eof - r.t0 >= 150);
	assert_true(r.t_eof - r.t0 < 5000);
	assert_int_equal(e.srv.closed, 1);
	assert_non_null(strstr(e.srv.reason, "handshake timeout"));
}

struct cap {
	p2p_tls_listener *lis;
	struct raw r1, r2;
	int closed;
};

static void
cap_close(p2p_tls_conn *c, const char *reason)
{
	struct cap *k = p2p_tls_conn_data(c);

	(void)reason;
	k->closed++;
}

static const p2p_tls_cbs cap_cbs = { .on_close = cap_close };

static void
cap_accept(p2p_tls_listener *l, p2p_tls_conn *c, void *arg)
{
	(void)l;
	p2p_tls_conn_set_cbs(c, &cap_cbs, arg);
}

static void
cap_second_gone(struct raw *r)
{
	struct cap *k = r->arg;

	/* the first is still held open, the second was turned away */
	assert_int_equal(p2p_tls_listener_count(k->lis), 1);
	assert_false(k->r1.eof);
	p2p_tls_listener_close(k->lis);
}

static void
cap_first_connected(uv_timer_t *t)
{
	struct cap *k = t->data;

	raw_connect(t->loop, &k->r2, p2p_tls_listener_port(k->lis));
	uv_close((uv_handle_t *)t, NULL);
}

static void
test_connection_cap(void **state)
{
	struct cap k;
	p2p_tls_limits lim = { .max_conns = 1, .handshake_ms = 3000 };
	p2p_tls_ctx *s;
	uv_loop_t loop;
	uv_timer_t t;

	(void)state;
	memset(&k, 0, sizeof(k));
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, &lim);
	p2p_tls_set_log(test_log, NULL);
	nlog = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(p2p_tls_listen(&loop, s, "127.0.0.1", 0,
	    cap_accept, &k, &k.lis), 0);
	raw_connect(&loop, &k.r1, p2p_tls_listener_port(k.lis));
	k.r2.after = cap_second_gone;
	k.r2.arg = &k;
	uv_timer_init(&loop, &t);
	t.data = &k;
	uv_timer_start(&t, cap_first_connected, 100, 0);
	run_loop(&loop);
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_tls_set_log(NULL, NULL);
	p2p_tls_ctx_free(s);
	assert_true(k.r1.eof);
	assert_true(k.r2.eof);
	assert_int_equal(k.closed, 1);
	assert_true(log_has("listener full"));
}

static void
test_listen_addr(void **state)
{
	p2p_tls_ctx *s, *c;
	p2p_tls_listener *l;
	uv_loop_t loop;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_NONE, NULL);
	c = ctx_make(P2P_TLS_CLIENT, NULL, NULL, P2P_TLS_PEER_VERIFY, NULL);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(p2p_tls_listen_addr(&loop, s, "127.0.0.1", NULL,
	    NULL, &l), UV_EINVAL);
	assert_null(l);
	assert_int_equal(p2p_tls_listen_addr(&loop, s, "127.0.0.1:99999",
	    NULL, NULL, &l), UV_EINVAL);
	assert_int_equal(p2p_tls_listen_addr(&loop, s, "127.0.0.1:x", NULL,
	    NULL, &l), UV_EINVAL);
	assert_int_equal(p2p_tls_listen_addr(&loop, s, "[::1:0", NULL,
	    NULL, &l), UV_EINVAL);
	assert_int_equal(p2p_tls_listen_addr(&loop, s, "not-an-ip:0", NULL,
	    NULL, &l), UV_EINVAL);
	assert_int_equal(p2p_tls_listen_addr(&loop, s, "127.0.0.1:0", NULL,
	    NULL, &l), 0);
	assert_true(p2p_tls_listener_port(l) > 0);
	p2p_tls_listener_close(l);
	p2p_tls_listener_close(l);
	run_loop(&loop);
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
}

static void
test_ctx_errors(void **state)
{
	p2p_tls_ctx_opts o;
	char err[256];

	(void)state;
	memset(&o, 0, sizeof(o));
	o.role = P2P_TLS_SERVER;
	o.cert_file = "/nonexistent/cert.pem";
	o.key_file = "/nonexistent/key.pem";
	assert_null(p2p_tls_ctx_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "certificate or key"));
	/* a key that does not match the certificate */
	memset(&o, 0, sizeof(o));
	o.cert = pki.srv;
	o.key = pki.cli_key;
	assert_null(p2p_tls_ctx_new(&o, err, sizeof(err)));
	memset(&o, 0, sizeof(o));
	o.role = P2P_TLS_CLIENT;
	o.ca_file = "/nonexistent/ca.pem";
	assert_null(p2p_tls_ctx_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "trust roots"));
}

/* Identity and roots from PEM files, and the key log. */
static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (x != NULL)
		assert_int_equal(PEM_write_X509(f, x), 1);
	if (k != NULL)
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0,
		    NULL, NULL), 1);
	fclose(f);
}

static void
test_pem_files_and_keylog(void **state)
{
	char dir[] = "/tmp/p2p-tls-XXXXXX";
	char cert[64], key[64], ca[64], kl[64], line[512];
	struct echo e = { .msg = (const uint8_t *)"pem", .msglen = 3 };
	p2p_tls_ctx_opts o;
	p2p_tls_ctx *s, *c;
	char err[256];
	int client_lines = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(kl, sizeof(kl), "%s/keys.log", dir);
	write_pem(cert, pki.srv, NULL);
	write_pem(key, NULL, pki.srv_key);
	write_pem(ca, pki.ca, NULL);
	memset(&o, 0, sizeof(o));
	o.role = P2P_TLS_SERVER;
	o.cert_file = cert;
	o.key_file = key;
	o.ca_file = ca;
	o.peer = P2P_TLS_PEER_VERIFY;
	setenv("SSLKEYLOGFILE", kl, 1);
	p2p_tls_set_log(test_log, NULL);
	s = p2p_tls_ctx_new(&o, err, sizeof(err));
	unsetenv("SSLKEYLOGFILE");
	p2p_tls_set_log(NULL, NULL);
	if (s == NULL)
		fail_msg("%s", err);
	c = ctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	echo_run(&e, s, c);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.cli.gotlen, 3);
	f = fopen(kl, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "CLIENT_", 7) == 0)
			client_lines++;
	fclose(f);
	assert_true(client_lines > 0);
	unlink(cert);
	unlink(key);
	unlink(ca);
	unlink(kl);
	rmdir(dir);
	echo_free(&e);
}

/* Self-signed peers (PEER_ANY): no chain check, the hook decides. */
static void
test_peer_any(void **state)
{
	struct echo e = { .msg = (const uint8_t *)"self", .msglen = 4 };
	p2p_tls_ctx *s, *c;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key, P2P_TLS_PEER_ANY,
	    NULL);
	c = ctx_make(P2P_TLS_CLIENT, pki.rogue, pki.rogue_key,
	    P2P_TLS_PEER_ANY, NULL);
	p2p_tls_ctx_set_verify(s, verify_cn, &e.srv);
	echo_run(&e, s, c);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.srv.opened, 1);
	assert_string_equal(e.srv.peer_cn, "client");
	assert_int_equal(e.cli.gotlen, 4);
	echo_free(&e);
}

/* The side that connects is the TLS server, the side that accepts the
 * TLS client. */
static void
test_reversed_roles(void **state)
{
	struct echo e = { .msg = (const uint8_t *)"turned", .msglen = 6 };
	p2p_tls_ctx *s, *c;

	(void)state;
	s = ctx_make(P2P_TLS_SERVER, pki.srv, pki.srv_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	c = ctx_make(P2P_TLS_CLIENT, pki.cli, pki.cli_key,
	    P2P_TLS_PEER_VERIFY, NULL);
	p2p_tls_ctx_set_verify(s, verify_cn, &e.cli);
	p2p_tls_ctx_set_verify(c, verify_cn, &e.srv);
	echo_run(&e, c, s);
	p2p_tls_ctx_free(s);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.srv.opened, 1);
	assert_int_equal(e.cli.opened, 1);
	assert_string_equal(e.srv.peer_cn, "server");
	assert_string_equal(e.cli.peer_cn, "client");
	assert_int_equal(e.cli.gotlen, 6);
	assert_memory_equal(e.cli.got, "turned", 6);
	assert_int_equal(e.srv.gotlen, 6);
	echo_free(&e);
}

static void
test_connect_refused(void **state)
{
	struct echo e = { .msglen = 0 };
	p2p_tls_ctx *c;
	p2p_tls_conn *conn;
	uv_loop_t loop;
	uv_tcp_t t;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss), port;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	/* find a port nobody listens on */
	uv_tcp_init(&loop, &t);
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&t, (struct sockaddr *)&sa, 0), 0);
	uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	uv_close((uv_handle_t *)&t, NULL);
	c = ctx_make(P2P_TLS_CLIENT, NULL, NULL, P2P_TLS_PEER_VERIFY, NULL);
	p2p_tls_set_log(test_log, NULL);
	assert_int_equal(p2p_tls_connect(&loop, c, "127.0.0.1", port,
	    &cli_cbs, &e, &conn), 0);
	assert_int_equal(p2p_tls_connect(&loop, c, "bogus", port,
	    &cli_cbs, &e, &conn), UV_EINVAL);
	run_loop(&loop);
	p2p_tls_set_log(NULL, NULL);
	assert_int_equal(uv_loop_close(&loop), 0);
	p2p_tls_ctx_free(c);
	assert_int_equal(e.cli.closed, 1);
	assert_non_null(strstr(e.cli.reason, "connect failed"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_mutual),
		cmocka_unit_test(test_untrusted_client),
		cmocka_unit_test(test_missing_client_cert),
		cmocka_unit_test(test_verify_hook_rejects),
		cmocka_unit_test(test_large_write),
		cmocka_unit_test(test_write_queue_bound),
		cmocka_unit_test(test_garbage_input),
		cmocka_unit_test(test_silent_peer_dropped),
		cmocka_unit_test(test_connection_cap),
		cmocka_unit_test(test_listen_addr),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_pem_files_and_keylog),
		cmocka_unit_test(test_peer_any),
		cmocka_unit_test(test_reversed_roles),
		cmocka_unit_test(test_connect_refused),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
