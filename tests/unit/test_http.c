#include "unit.h"

#include <signal.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "http.h"

/* ---- throwaway PKI ---- */

static EVP_PKEY *ca_key, *srv_key;
static X509 *ca, *srv;

static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey)
{
	static long serial = 1;
	X509 *x = X509_new();

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	if (issuer == NULL) {
		X509V3_CTX v3;
		X509_EXTENSION *e;

		X509_set_issuer_name(x, X509_get_subject_name(x));
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
		    "critical,CA:TRUE");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		issuer = x;
		ikey = key;
	}
	X509_set_issuer_name(x, X509_get_subject_name(issuer));
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

static int
pki_setup(void **state)
{
	(void)state;
	ca_key = EVP_EC_gen("P-256");
	srv_key = EVP_EC_gen("P-256");
	assert_non_null(ca_key);
	assert_non_null(srv_key);
	ca = make_cert("http test root", ca_key, NULL, NULL);
	srv = make_cert("localhost", srv_key, ca, ca_key);
	return 0;
}

static int
pki_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	X509_free(ca);
	X509_free(srv);
	return 0;
}

static p2p_tls_ctx *
ctx_make(enum p2p_tls_role role)
{
	p2p_tls_ctx_opts o;
	p2p_tls_ctx *ctx;
	X509 *roots[1] = { ca };
	char err[256];

	memset(&o, 0, sizeof(o));
	o.role = role;
	if (role == P2P_TLS_SERVER) {
		o.cert = srv;
		o.key = srv_key;
		o.peer = P2P_TLS_PEER_NONE;
	} else {
		o.roots = roots;
		o.nroots = 1;
		o.peer = P2P_TLS_PEER_VERIFY;
	}
	ctx = p2p_tls_ctx_new(&o, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("%s", err);
	return ctx;
}

/* ---- what the handler saw ---- */

static struct seen {
	int n;
	char method[16], path[64], query[64], xtest[64], peer_ip[48];
	int has_xempty, xempty_len;
	size_t body_len;
	int mp_rc;
	char mp_err[64];
	char user[32], pass[32], nodeids[128], csr_ct[64];
	uint8_t csr[256];
	size_t csrlen;
} seen;

static void
copy_bytes(char *dst, size_t cap, p2p_bytes b)
{
	size_t n = b.len < cap - 1 ? b.len : cap - 1;

	memcpy(dst, b.p, n);
	dst[n] = '\0';
}

struct world {
	uv_loop_t loop;
	p2p_http_server *srv;
	p2p_tls_ctx *cctx;
	int pending;		/* clients not yet closed */
	p2p_http_req *held;	/* answered later */
	uv_timer_t later;
	int held_rc;
};

static void
answer_held(uv_timer_t *t)
{
	struct world *w = t->data;

	w->held_rc = p2p_http_respond(w->held, 202, "text/plain", "later",
	    5);
	w->held = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

static void
handle_enroll(p2p_http_req *req)
{
	static _Alignas(16) uint8_t mem[4096];
	const p2p_http_part *pt;
	p2p_multipart mp;
	p2p_arena a;
	p2p_err err;

	p2p_arena_init(&a, mem, sizeof(mem));
	memset(&err, 0, sizeof(err));
	seen.mp_rc = p2p_multipart_parse((p2p_bytes){ req->body,
	    req->body_len }, p2p_http_req_header(req, "content-type"), 8, &a,
	    &mp, &err);
	if (seen.mp_rc != 0) {
		snprintf(seen.mp_err, sizeof(seen.mp_err), "%s", err.what);
		p2p_http_respond(req, 400, "text/plain", "bad form", 8);
		return;
	}
	if ((pt = p2p_multipart_get(&mp, "username")) != NULL)
		copy_bytes(seen.user, sizeof(seen.user), pt->data);
	if ((pt = p2p_multipart_get(&mp, "password")) != NULL)
		copy_bytes(seen.pass, sizeof(seen.pass), pt->data);
	if ((pt = p2p_multipart_get(&mp, "nodeids")) != NULL)
		copy_bytes(seen.nodeids, sizeof(seen.nodeids), pt->data);
	if ((pt = p2p_multipart_get(&mp, "csr")) != NULL) {
		assert_true(pt->data.len <= sizeof(seen.csr));
		memcpy(seen.csr, pt->data.p, pt->data.len);
		seen.csrlen = pt->data.len;
		copy_bytes(seen.csr_ct, sizeof(seen.csr_ct),
		    pt->content_type);
	}
	p2p_http_respond(req, 200, "application/pkix-cert", "CERT", 4);
}

static void
handler(p2p_http_req *req, void *arg)
{
	struct world *w = arg;
	const char *v;

	seen.n++;
	snprintf(seen.method, sizeof(seen.method), "%s", req->method);
	snprintf(seen.path, sizeof(seen.path), "%s", req->path);
	snprintf(seen.query, sizeof(seen.query), "%s", req->query);
	snprintf(seen.peer_ip, sizeof(seen.peer_ip), "%s", req->peer_ip);
	if ((v = p2p_http_req_header(req, "x-test")) != NULL)
		snprintf(seen.xtest, sizeof(seen.xtest), "%s", v);
	if ((v = p2p_http_req_header(req, "X-EMPTY")) != NULL) {
		seen.has_xempty = 1;
		seen.xempty_len = (int)strlen(v);
	}
	seen.body_len = req->body_len;
	if (strcmp(req->path, "/enroll") == 0) {
		handle_enroll(req);
		return;
	}
	if (strcmp(req->path, "/async") == 0) {
		w->held = req;
		uv_timer_init(&w->loop, &w->later);
		w->later.data = w;
		uv_timer_start(&w->later, answer_held, 100, 0);
		return;
	}
	assert_int_equal(p2p_http_add_header(req, "X-Bad:", "v"), -1);
	assert_int_equal(p2p_http_add_header(req, "X-Bad", "a\r\nb: c"), -1);
	assert_int_equal(p2p_http_add_header(req, "X-Extra", "1"), 0);
	assert_int_equal(p2p_http_respond(req, 200, "text/plain", "hello",
	    5), 0);
}

/* ---- a TLS client speaking raw HTTP ---- */

struct hcli {
	struct world *w;
	const char *req;
	size_t reqlen;
	size_t piece;		/* write in pieces of this size (0: whole) */
	int hangup;		/* close right after sending */
	char resp[4096];
	size_t rlen;
	int status, closed;
	uint64_t t_open, t_close;
	void (*done)(struct hcli *h);
};

static void
cli_open(p2p_tls_conn *c)
{
	struct hcli *h = p2p_tls_conn_data(c);
	size_t off, n;

	h->t_open = uv_now(&h->w->loop);
	if (h->piece == 0) {
		assert_int_equal(p2p_tls_write(c, h->req, h->reqlen), 0);
	} else {
		for (off = 0; off < h->reqlen; off += n) {
			n = h->reqlen - off < h->piece ? h->reqlen - off :
			    h->piece;
			assert_int_equal(p2p_tls_write(c, h->req + off, n), 0);
		}
	}
	if (h->hangup)
		p2p_tls_close(c);
}

static void
cli_read(p2p_tls_conn *c, const uint8_t *p, size_t n)
{
	struct hcli *h = p2p_tls_conn_data(c);

	assert_true(h->rlen + n < sizeof(h->resp));
	memcpy(h->resp + h->rlen, p, n);
	h->rlen += n;
}

static void
cli_close(p2p_tls_conn *c, const char *reason)
{
	struct hcli *h = p2p_tls_conn_data(c);

	(void)reason;
	h->closed = 1;
	h->t_close = uv_now(&h->w->loop);
	h->resp[h->rlen] = '\0';
	if (h->rlen >= 12 && strncmp(h->resp, "HTTP/1.1 ", 9) == 0)
		h->status = atoi(h->resp + 9);
	if (h->done != NULL)
		h->done(h);
	if (--h->w->pending == 0)
		p2p_http_server_close(h->w->srv);
}

static const p2p_tls_cbs cli_cbs = {
	.on_open = cli_open, .on_read = cli_read, .on_close = cli_close,
};

static void
cli_start(struct hcli *h)
{
	p2p_tls_conn *c;

	h->w->pending++;
	assert_int_equal(p2p_tls_connect(&h->w->loop, h->w->cctx,
	    "127.0.0.1", p2p_http_server_port(h->w->srv), &cli_cbs, h, &c),
	    0);
}

static int watchdog_fired;

static void
watchdog_cb(uv_timer_t *t)
{
	watchdog_fired = 1;
	uv_stop(t->loop);
}

static void
world_start(struct world *w, const p2p_http_opts *o)
{
	p2p_tls_ctx *sctx = ctx_make(P2P_TLS_SERVER);

	memset(w, 0, sizeof(*w));
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(uv_loop_init(&w->loop), 0);
	w->cctx = ctx_make(P2P_TLS_CLIENT);
	assert_int_equal(p2p_http_server_start(&w->loop, sctx, "127.0.0.1",
	    0, o, handler, w, &w->srv), 0);
	p2p_tls_ctx_free(sctx);	/* the listener keeps its reference */
	assert_true(p2p_http_server_port(w->srv) > 0);
}

static void
world_run(struct world *w)
{
	uv_timer_t wd;

	watchdog_fired = 0;
	uv_timer_init(&w->loop, &wd);
	uv_timer_start(&wd, watchdog_cb, 10000, 0);
	uv_unref((uv_handle_t *)&wd);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&wd, NULL);
	uv_run(&w->loop, UV_RUN_NOWAIT);
	assert_false(watchdog_fired);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	p2p_tls_ctx_free(w->cctx);
}

/* One request on a fresh server; the answer is in h. */
static void
one_request(const p2p_http_opts *o, struct hcli *h)
{
	struct world w;

	world_start(&w, o);
	h->w = &w;
	cli_start(h);
	world_run(&w);
	assert_true(h->closed);
	h->w = NULL;
}

#define REQ(h, s) do { (h)->req = (s); (h)->reqlen = sizeof(s) - 1; } \
	while (0)

static void
test_get(void **state)
{
	struct hcli h = { .piece = 5 };

	(void)state;
	REQ(&h, "GET /config?overlay=example.org&x=1 HTTP/1.1\r\n"
	    "Host: localhost\r\nX-Test:   spaced value  \r\nX-Empty:\r\n"
	    "Accept: */*\r\n\r\n");
	one_request(NULL, &h);
	assert_int_equal(h.status, 200);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.method, "GET");
	assert_string_equal(seen.path, "/config");
	assert_string_equal(seen.query, "overlay=example.org&x=1");
	assert_string_equal(seen.xtest, "spaced value");
	assert_true(seen.has_xempty);
	assert_int_equal(seen.xempty_len, 0);
	assert_string_equal(seen.peer_ip, "127.0.0.1");
	assert_int_equal(seen.body_len, 0);
	assert_non_null(strstr(h.resp, "\r\nContent-Length: 5\r\n"));
	assert_non_null(strstr(h.resp, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(h.resp, "\r\nX-Extra: 1\r\n"));
	assert_non_null(strstr(h.resp, "\r\nContent-Type: text/plain\r\n"));
	assert_string_equal(strstr(h.resp, "\r\n\r\n") + 4, "hello");
}

static const uint8_t csr_der[] = {
	0x30, 0x82, 0x01, 0x0a, 0x0d, 0x0a, '-', '-', 0x00, 0xff,
	0x0d, 0x0a, 0x0d, 0x0a, 0x42, '-', '-', 'X', 0x00, 0x01,
};

/* A form with the enrollment fields; returns its length. */
static size_t
build_form(char *buf, size_t cap, const char *boundary)
{
	size_t n;

	n = (size_t)snprintf(buf, cap,
	    "--%s\r\n"
	    "Content-Disposition: form-data; name=\"username\"\r\n\r\n"
	    "alice\r\n--%s\r\n"
	    "Content-Disposition: form-data; name=\"password\"\r\n\r\n"
	    "s3cret; \"quoted\"\r\n--%s\r\n"
	    "content-disposition: form-data; name=nodeids\r\n\r\n"
	    "1,2\r\n--%s\r\n"
	    "Content-Disposition: form-data; name=\"csr\"; "
	    "filename=\"req.der\"\r\n"
	    "Content-Type: application/pkcs10\r\n\r\n",
	    boundary, boundary, boundary, boundary);
	assert_true(n + sizeof(csr_der) + 64 < cap);
	memcpy(buf + n, csr_der, sizeof(csr_der));
	n += sizeof(csr_der);
	n += (size_t)snprintf(buf + n, cap - n, "\r\n--%s--\r\n", boundary);
	return n;
}

static void
test_multipart_post(void **state)
{
	struct hcli h = { .piece = 7 };
	char form[1024], req[2048];
	size_t flen, hlen;

	(void)state;
	flen = build_form(form, sizeof(form), "xYzZY-42");
	hlen = (size_t)snprintf(req, sizeof(req),
	    "POST /enroll HTTP/1.1\r\nHost: localhost\r\n"
	    "Content-Type: multipart/form-data; boundary=\"xYzZY-42\"\r\n"
	    "Content-Length: %zu\r\n\r\n", flen);
	memcpy(req + hlen, form, flen);
	h.req = req;
	h.reqlen = hlen + flen;
	one_request(NULL, &h);
	assert_int_equal(h.status, 200);
	assert_string_equal(seen.method, "POST");
	assert_string_equal(seen.path, "/enroll");
	assert_int_equal(seen.body_len, flen);
	assert_int_equal(seen.mp_rc, 0);
	assert_string_equal(seen.user, "alice");
	assert_string_equal(seen.pass, "s3cret; \"quoted\"");
	assert_string_equal(seen.nodeids, "1,2");
	assert_string_equal(seen.csr_ct, "application/pkcs10");
	assert_int_equal(seen.csrlen, sizeof(csr_der));
	assert_memory_equal(seen.csr, csr_der, sizeof(csr_der));
	assert_non_null(strstr(h.resp,
	    "\r\nContent-Type: application/pkix-cert\r\n"));
	assert_string_equal(strstr(h.resp, "\r\n\r\n") + 4, "CERT");
}

static void
test_expect_continue(void **state)
{
	struct hcli h = { 0 }, h2 = { 0 };

	(void)state;
	REQ(&h, "POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n"
	    "Content-Length: 3\r\n\r\nabc");
	one_request(NULL, &h);
	assert_int_equal(h.status, 100);
	assert_int_equal(strncmp(h.resp, "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200 OK\r\n", 42), 0);
	assert_int_equal(seen.body_len, 3);
	REQ(&h2, "POST /up HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n"
	    "Content-Length: 3\r\n\r\nabc");
	one_request(NULL, &h2);
	assert_int_equal(h2.status, 417);
	assert_int_equal(seen.n, 0);
}

static void
test_chunked_post(void **state)
{
	struct hcli h = { .piece = 3 };

	(void)state;
	REQ(&h, "POST /upload HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
	one_request(NULL, &h);
	assert_int_equal(h.status, 200);
	assert_int_equal(seen.body_len, 11);
}

static void
test_body_too_large(void **state)
{
	p2p_http_opts o = { .max_body = 1024 };
	struct hcli h = { 0 }, h2 = { .piece = 100 };
	char req[4096];
	size_t n, i;

	(void)state;
	REQ(&h, "POST /enroll HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 2000\r\n\r\n0123456789");
	one_request(&o, &h);
	assert_int_equal(h.status, 413);
	assert_int_equal(seen.n, 0);
	/* a chunked body grows past the limit */
	n = (size_t)snprintf(req, sizeof(req), "POST /x HTTP/1.1\r\nHost: x"
	    "\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 6; i++)
		n += (size_t)snprintf(req + n, sizeof(req) - n,
		    "100\r\n%0256d\r\n", 0);
	n += (size_t)snprintf(req + n, sizeof(req) - n, "0\r\n\r\n");
	h2.req = req;
	h2.reqlen = n;
	one_request(&o, &h2);
	assert_int_equal(h2.status, 413);
	assert_int_equal(seen.n, 0);
}

static void
test_slow_request(void **state)
{
	p2p_http_opts o = { .request_ms = 300 };
	struct hcli h = { 0 };

	(void)state;
	REQ(&h, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1");
	one_request(&o, &h);
	assert_int_equal(h.status, 408);
	assert_int_equal(seen.n, 0);
	assert_true(h.t_close - h.t_open >= 250);
	assert_true(h.t_close - h.t_open < 3000);
}

static void
test_bad_request_line(void **state)
{
	struct hcli h = { 0 }, h2 = { 0 }, h3 = { 0 };

	(void)state;
	REQ(&h, "THIS IS NOT HTTP\r\n\r\n");
	one_request(NULL, &h);
	assert_int_equal(h.status, 400);
	REQ(&h2, "GET /a b c HTTP/1.1\r\n\r\n");
	one_request(NULL, &h2);
	assert_int_equal(h2.status, 400);
	REQ(&h3, "GET / HTTP/1.1\r\nNo colon here\r\n\r\n");
	one_request(NULL, &h3);
	assert_int_equal(h3.status, 400);
	assert_int_equal(seen.n, 0);
}

static void
test_headers_too_large(void **state)
{
	p2p_http_opts o = { .max_header = 256 };
	struct hcli h = { .piece = 50 }, h2 = { 0 };
	char req[1024];
	size_t n;

	(void)state;
	n = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Big: "
	    "%0300d\r\n\r\n", 0);
	h.req = req;
	h.reqlen = n;
	one_request(&o, &h);
	assert_int_equal(h.status, 431);
	n = (size_t)snprintf(req, sizeof(req), "GET /%0300d HTTP/1.1\r\n\r\n",
	    0);
	h2.req = req;
	h2.reqlen = n;
	one_request(&o, &h2);
	assert_int_equal(h2.status, 414);
	assert_int_equal(seen.n, 0);
}

/* Requests one after another: over the rate, then again after a pause. */
static struct rl_run {
	struct hcli h[4];
	int next;
	uv_timer_t pause;
} rl_run;

static void
rl_pause_over(uv_timer_t *t)
{
	struct hcli *h = &rl_run.h[rl_run.next++];

	uv_close((uv_handle_t *)t, NULL);
	cli_start(h);
	h->w->pending--;	/* the hold taken in rl_next */
}

static void
rl_next(struct hcli *done)
{
	if (rl_run.next == 4)
		return;
	if (done->status != 429) {
		cli_start(&rl_run.h[rl_run.next++]);
		return;
	}
	done->w->pending++;	/* keep the server until the pause is over */
	uv_timer_init(&done->w->loop, &rl_run.pause);
	uv_timer_start(&rl_run.pause, rl_pause_over, 400, 0);
}

static void
test_rate_limit(void **state)
{
	p2p_ratelimit *rl = p2p_ratelimit_new(5, 2, 64);
	p2p_http_opts o = { .ratelimit = rl };
	struct world w;
	int i;

	(void)state;
	assert_non_null(rl);
	memset(&rl_run, 0, sizeof(rl_run));
	world_start(&w, &o);
	for (i = 0; i < 4; i++) {
		rl_run.h[i].w = &w;
		REQ(&rl_run.h[i], "GET /r HTTP/1.1\r\nHost: x\r\n\r\n");
		rl_run.h[i].done = rl_next;
	}
	rl_run.next = 1;
	cli_start(&rl_run.h[0]);
	world_run(&w);
	p2p_ratelimit_free(rl);
	assert_int_equal(rl_run.h[0].status, 200);
	assert_int_equal(rl_run.h[1].status, 200);
	assert_int_equal(rl_run.h[2].status, 429);
	assert_non_null(strstr(rl_run.h[2].resp, "\r\nRetry-After: 1\r\n"));
	assert_int_equal(rl_run.h[3].status, 200);
	assert_int_equal(seen.n, 3);
}

/* The log callback hears of each refusal the server makes by itself. */
static struct refusals {
	int n;
	int status[8];
	char ip[8][48], why[8][64];
} refusals;

static void
log_refusal(void *arg, int status, const char *ip, const char *why)
{
	struct refusals *r = arg;

	assert_ptr_equal(r, &refusals);
	assert_true(r->n < 8);
	r->status[r->n] = status;
	snprintf(r->ip[r->n], sizeof(r->ip[0]), "%s", ip);
	snprintf(r->why[r->n], sizeof(r->why[0]), "%s", why);
	r->n++;
}

static void
test_refusal_log(void **state)
{
	p2p_ratelimit *rl = p2p_ratelimit_new(0.001, 1, 8);
	p2p_http_opts o = { .max_body = 1024, .ratelimit = rl,
	    .log = log_refusal, .log_arg = &refusals };
	struct hcli h1 = { 0 }, h2 = { 0 }, h3 = { 0 };

	(void)state;
	assert_non_null(rl);
	memset(&refusals, 0, sizeof(refusals));
	REQ(&h1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	one_request(&o, &h1);
	assert_int_equal(h1.status, 200);
	assert_int_equal(refusals.n, 0);	/* answered by the handler */
	REQ(&h2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	one_request(&o, &h2);
	assert_int_equal(h2.status, 429);
	REQ(&h3, "POST /enroll HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 2000\r\n\r\n0123456789");
	one_request(&o, &h3);
	assert_int_equal(h3.status, 413);
	p2p_ratelimit_free(rl);
	assert_int_equal(refusals.n, 2);
	assert_int_equal(refusals.status[0], 429);
	assert_int_equal(refusals.status[1], 413);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(refusals.ip[i], "127.0.0.1");
		assert_true(refusals.why[i][0] != '\0');
	}
	assert_non_null(strstr(refusals.why[0], "rate"));
	assert_non_null(strstr(refusals.why[1], "limit"));
}

static void
test_async_answer(void **state)
{
	struct hcli h = { 0 };
	struct world w;

	(void)state;
	REQ(&h, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
	world_start(&w, NULL);
	h.w = &w;
	cli_start(&h);
	world_run(&w);
	assert_int_equal(h.status, 202);
	assert_int_equal(w.held_rc, 0);
	assert_string_equal(strstr(h.resp, "\r\n\r\n") + 4, "later");
}

/* The client leaves before the answer: the answer is dropped, the request
 * still freed (LeakSanitizer checks). */
static void
test_async_client_gone(void **state)
{
	struct hcli h = { .hangup = 1 };
	struct world w;

	(void)state;
	REQ(&h, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
	world_start(&w, NULL);
	h.w = &w;
	cli_start(&h);
	world_run(&w);
	assert_int_equal(seen.n, 1);
	assert_int_equal(h.status, 0);
	assert_int_equal(w.held_rc, -1);
}

/* ---- multipart parser on its own ---- */

static _Alignas(16) uint8_t arena_mem[8192];

static int
mp(const void *body, size_t len, const char *ctype, p2p_multipart *m,
    p2p_err *err)
{
	p2p_arena a;

	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	memset(err, 0, sizeof(*err));
	return p2p_multipart_parse((p2p_bytes){ body, len }, ctype, 8, &a, m,
	    err);
}

static void
test_multipart_ok(void **state)
{
	char form[1024];
	size_t n = build_form(form, sizeof(form), "b0undary");
	const char *pre = "preamble text\r\n";
	char with_pre[1200];
	const p2p_http_part *pt;
	p2p_multipart m;
	p2p_err err;

	(void)state;
	assert_int_equal(mp(form, n, "Multipart/Form-Data; charset=utf-8; "
	    "boundary=b0undary", &m, &err), 0);
	assert_int_equal(m.nparts, 4);
	pt = p2p_multipart_get(&m, "csr");
	assert_non_null(pt);
	assert_int_equal(pt->data.len, sizeof(csr_der));
	assert_memory_equal(pt->data.p, csr_der, sizeof(csr_der));
	assert_int_equal(pt->filename.len, 7);
	assert_memory_equal(pt->filename.p, "req.der", 7);
	pt = p2p_multipart_get(&m, "username");
	assert_non_null(pt);
	assert_int_equal(pt->content_type.len, 0);
	assert_null(p2p_multipart_get(&m, "nothere"));
	/* a preamble and an epilogue are skipped */
	memcpy(with_pre, pre, strlen(pre));
	memcpy(with_pre + strlen(pre), form, n);
	memcpy(with_pre + strlen(pre) + n, "epilogue", 8);
	assert_int_equal(mp(with_pre, strlen(pre) + n + 8,
	    "multipart/form-data; boundary=\"b0undary\"", &m, &err), 0);
	assert_int_equal(m.nparts, 4);
	/* an empty part */
	pre = "--q\r\nContent-Disposition: form-data; name=e\r\n\r\n"
	    "\r\n--q--";
	assert_int_equal(mp(pre, strlen(pre), "multipart/form-data; "
	    "boundary=q", &m, &err), 0);
	assert_int_equal(m.nparts, 1);
	assert_int_equal(m.parts[0].data.len, 0);
}

static void
test_multipart_malformed(void **state)
{
	static const struct {
		const char *ctype, *body, *why;
	} bad[] = {
		{ "multipart/form-data", "--a\r\n\r\n--a--", "boundary" },
		{ "multipart/form-data; boundary=", "--a--", "parameters" },
		{ "multipart/form-data; boundary=\"a", "--a--", "parameters" },
		{ "text/plain; boundary=a", "--a--", "not multipart" },
		{ NULL, "--a--", "Content-Type" },
		{ "multipart/form-data; boundary=a\x01", "--a--", "boundary" },
		{ "multipart/form-data; boundary=a", "no delimiter here",
		    "no multipart boundary" },
		{ "multipart/form-data; boundary=a", "--a--", "without parts" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nContent-Disposition: form-data; name=x\r\n\r\n"
		    "data without end", "truncated part" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nContent-Disposition: form-data; name=x\r\n",
		    "truncated part headers" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nContent-Type: text/plain\r\n\r\nx\r\n--a--",
		    "disposition" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nContent-Disposition: attachment; name=x\r\n\r\n"
		    "x\r\n--a--", "bad part header" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n"
		    "x\r\n--a--", "bad part header" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nContent-Disposition: form-data; name=x; name=y\r\n"
		    "\r\nx\r\n--a--", "bad part header" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nno colon\r\n\r\nx\r\n--a--", "bad part header" },
		{ "multipart/form-data; boundary=a",
		    "--ab\r\nContent-Disposition: form-data; name=x\r\n\r\n"
		    "x\r\n--a--", "delimiter" },
		{ "multipart/form-data; boundary=a",
		    "--a\r\nContent-Disposition: form-data; name=x\r\n\r\n"
		    "x\r\n--a", "delimiter" },
	};
	p2p_multipart m;
	p2p_err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mp(bad[i].body, strlen(bad[i].body), bad[i].ctype, &m,
		    &err) == 0)
			fail_msg("case %zu was accepted", i);
		assert_non_null(err.what);
		if (strstr(err.what, bad[i].why) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.what,
			    bad[i].why);
		assert_null(m.parts);
		assert_int_equal(m.nparts, 0);
	}
}

static void
test_multipart_limits(void **state)
{
	char body[2048];
	size_t n = 0;
	p2p_multipart m;
	p2p_err err;
	p2p_arena a;
	uint8_t small[64];
	int i;

	(void)state;
	for (i = 0; i < 9; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "--z\r\n"
		    "Content-Disposition: form-data; name=f%d\r\n\r\nv\r\n", i);
	n += (size_t)snprintf(body + n, sizeof(body) - n, "--z--\r\n");
	assert_int_equal(mp(body, n, "multipart/form-data; boundary=z", &m,
	    &err), -1);
	assert_non_null(strstr(err.what, "too many parts"));
	/* an arena too small for the part array */
	p2p_arena_init(&a, small, sizeof(small));
	assert_int_equal(p2p_multipart_parse((p2p_bytes){ (uint8_t *)body,
	    n }, "multipart/form-data; boundary=z", 16, &a, &m, &err), -1);
	assert_non_null(strstr(err.what, "arena"));
	/* a boundary of 71 characters */
	assert_int_equal(mp("--x", 3, "multipart/form-data; boundary="
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaa", &m, &err), -1);
}

/* Every prefix of a valid form, in a buffer of exactly that size so that
 * ASan catches any read past it, is refused unless it already holds the
 * closing delimiter. */
static void
test_multipart_truncation(void **state)
{
	char form[1024];
	const char *ct = "multipart/form-data; boundary=TrUnC";
	size_t n = build_form(form, sizeof(form), "TrUnC"), cut, ok = 0;
	size_t close_end = n - 2;	/* just past "--TrUnC--" */
	p2p_multipart m;
	p2p_err err;
	uint8_t *copy;
	int rc;

	(void)state;
	for (cut = 0; cut <= n; cut++) {
		copy = malloc(cut > 0 ? cut : 1);
		assert_non_null(copy);
		memcpy(copy, form, cut);
		rc = mp(copy, cut, ct, &m, &err);
		free(copy);
		if (rc == 0) {
			assert_true(cut >= close_end);
			assert_int_equal(m.nparts, 4);
			ok++;
		}
	}
	assert_int_equal(ok, 3);	/* "--", "--\r", "--\r\n" */
	/* and with bytes flipped one at a time: never a crash */
	for (cut = 0; cut < n; cut++) {
		copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, form, n);
		copy[cut] ^= 0x5a;
		(void)mp(copy, n, ct, &m, &err);
		free(copy);
	}
}

/* ---- rate limiter on its own ---- */

static void
test_ratelimit_table(void **state)
{
	p2p_ratelimit *rl = p2p_ratelimit_new(2, 3, 4);
	char key[32];
	int i;

	(void)state;
	assert_null(p2p_ratelimit_new(1, 0.5, 4));
	assert_null(p2p_ratelimit_new(1, 1, 0));
	assert_non_null(rl);
	for (i = 0; i < 3; i++)
		assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.1", 1000), 1);
	assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.1", 1000), 0);
	assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.1", 1400), 0);
	assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.1", 1500), 1);
	assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.1", 1500), 0);
	/* another key has its own bucket */
	assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.2", 1500), 1);
	/* a long idle refills only up to the burst */
	for (i = 0; i < 3; i++)
		assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.1", 900000),
		    1);
	assert_int_equal(p2p_ratelimit_allow(rl, "10.0.0.1", 900000), 0);
	/* many keys: the table stays at 4 slots, each new key is served */
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "192.0.2.%d", i);
		assert_int_equal(p2p_ratelimit_allow(rl, key,
		    900000 + (uint64_t)i), 1);
	}
	p2p_ratelimit_free(rl);
	p2p_ratelimit_free(NULL);
}

static void
test_status_text(void **state)
{
	(void)state;
	assert_string_equal(p2p_http_status_text(404), "Not Found");
	assert_string_equal(p2p_http_status_text(429), "Too Many Requests");
	assert_string_equal(p2p_http_status_text(799), "Unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_multipart_post),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_chunked_post),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_slow_request),
		cmocka_unit_test(test_bad_request_line),
		cmocka_unit_test(test_headers_too_large),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_refusal_log),
		cmocka_unit_test(test_async_answer),
		cmocka_unit_test(test_async_client_gone),
		cmocka_unit_test(test_multipart_ok),
		cmocka_unit_test(test_multipart_malformed),
		cmocka_unit_test(test_multipart_limits),
		cmocka_unit_test(test_multipart_truncation),
		cmocka_unit_test(test_ratelimit_table),
		cmocka_unit_test(test_status_text),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
