/*
 * tls: TLS over TCP on libuv with OpenSSL memory BIOs. See tls.h.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "sockaddr.h"
#include "tls.h"
#include "tls_int.h"

#define DEF_HANDSHAKE_MS	10000
#define DEF_MAX_QUEUED		(4u << 20)
#define DEF_MAX_CONNS		256
#define DEF_LINGER_MS		2000
#define READ_CHUNK		16384
#define WRITE_CHUNK		(1 << 20)


struct p2p_tls_listener {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	p2p_tls_ctx *ctx;
	p2p_tls_accept_cb on_accept;
	void *arg;
	p2p_tls_conn *conns;
	unsigned nconns;
	int closing;
	int handle_closed;
};

enum conn_state {
	ST_CONNECTING,	/* client waiting for TCP */
	ST_HANDSHAKE,
	ST_OPEN,
};

struct p2p_tls_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	uv_loop_t *loop;
	p2p_tls_ctx *ctx;
	p2p_tls_listener *lis;
	p2p_tls_conn *prev, *next;	/* in lis->conns */
	SSL *ssl;
	BIO *rbio;		/* network -> SSL */
	BIO *wbio;		/* SSL -> network */
	p2p_tls_cbs cbs;
	void *data;
	enum conn_state state;
	int closing;		/* p2p_tls_close began */
	int destroying;		/* uv_close called */
	int silent;		/* never reported: no on_close */
	int eof;		/* read side finished */
	int shut_done;		/* uv_shutdown completed */
	int io_dead;		/* socket unusable: skip the graceful part */
	int ssl_dead;		/* fatal TLS error: no close_notify */
	int nhandles;		/* open uv handles */
	int in_read;		/* delivering input: writes wait for its end */
	unsigned timeout_ms;	/* user timeout, armed after the handshake */
	size_t queued;		/* ciphertext handed to uv_write, not done */
	uint8_t *pend;		/* plaintext written before the handshake */
	size_t pendlen;
	char peer[64];
	char peer_ip[48];
	char reason[160];
	char rbuf[READ_CHUNK];
};

struct wreq {
	uv_write_t req;
	p2p_tls_conn *c;
	size_t len;
	char data[];
};

static p2p_tls_log_fn log_fn;
static void *log_arg;

static void conn_process(p2p_tls_conn *c);
static void conn_flush(p2p_tls_conn *c);
static void conn_timer_cb(uv_timer_t *t);
static void conn_fail(p2p_tls_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void
p2p_tls_set_log(p2p_tls_log_fn fn, void *arg)
{
	log_fn = fn;
	log_arg = arg;
}

void
tlsi_log(int level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_fn != NULL) {
		log_fn(level, msg, log_arg);
		return;
	}
	if (level <= 1)
		fprintf(stderr, "tls: %s\n", msg);
}

const char *
tlsi_errstr(char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0) {
		snprintf(buf, len, "unknown TLS error");
		return buf;
	}
	ERR_error_string_n(last, buf, len);
	return buf;
}

/* ---- context ---- */

static void
keylog_cb(const SSL *ssl, const char *line)
{
	p2p_tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	size_t n;
	int fd;

	if (ctx == NULL || ctx->keylog == NULL)
		return;
	fd = open(ctx->keylog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return;
	n = strlen(line);
	if (write(fd, line, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		tlsi_log(1, "cannot write key log %s", ctx->keylog);
	close(fd);
}

static int
verify_any_cb(int ok, X509_STORE_CTX *xs)
{
	(void)ok;
	(void)xs;
	return 1;
}

static int
ctx_load_identity(p2p_tls_ctx *ctx, const p2p_tls_ctx_opts *o)
{
	int i;

	if (o->cert_file != NULL &&
	    SSL_CTX_use_certificate_chain_file(ctx->ssl, o->cert_file) != 1)
		return -1;
	if (o->key_file != NULL &&
	    SSL_CTX_use_PrivateKey_file(ctx->ssl, o->key_file,
	    SSL_FILETYPE_PEM) != 1)
		return -1;
	if (o->cert != NULL && SSL_CTX_use_certificate(ctx->ssl, o->cert) != 1)
		return -1;
	if (o->key != NULL && SSL_CTX_use_PrivateKey(ctx->ssl, o->key) != 1)
		return -1;
	for (i = 0; o->chain != NULL && i < sk_X509_num(o->chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx->ssl,
		    sk_X509_value(o->chain, i)) != 1)
			return -1;
	if ((o->cert_file != NULL || o->cert != NULL) &&
	    SSL_CTX_check_private_key(ctx->ssl) != 1)
		return -1;
	return 0;
}

static int
ctx_load_roots(p2p_tls_ctx *ctx, const p2p_tls_ctx_opts *o)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx->ssl);
	size_t i;

	if (o->ca_file != NULL &&
	    SSL_CTX_load_verify_locations(ctx->ssl, o->ca_file, NULL) != 1)
		return -1;
	for (i = 0; i < o->nroots; i++)
		if (o->roots[i] == NULL ||
		    X509_STORE_add_cert(st, o->roots[i]) != 1)
			return -1;
	return 0;
}

static void
ctx_set_peer_mode(p2p_tls_ctx *ctx)
{
	int mode = SSL_VERIFY_NONE;

	if (ctx->peer != P2P_TLS_PEER_NONE) {
		mode = SSL_VERIFY_PEER;
		if (ctx->role == P2P_TLS_SERVER)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	}
	SSL_CTX_set_verify(ctx->ssl, mode,
	    ctx->peer == P2P_TLS_PEER_ANY ? verify_any_cb : NULL);
}

static void
ctx_limits(p2p_tls_limits *l, const p2p_tls_limits *in)
{
	*l = *in;
	if (l->handshake_ms == 0)
		l->handshake_ms = DEF_HANDSHAKE_MS;
	if (l->max_queued == 0)
		l->max_queued = DEF_MAX_QUEUED;
	if (l->max_conns == 0)
		l->max_conns = DEF_MAX_CONNS;
	if (l->linger_ms == 0)
		l->linger_ms = DEF_LINGER_MS;
}

p2p_tls_ctx *
p2p_tls_ctx_new(const p2p_tls_ctx_opts *o, char *err, size_t errlen)
{
	p2p_tls_ctx *ctx;
	const char *kl;
	char es[200];

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctx->refs = 1;
	ctx->role = o->role;
	ctx->peer = o->peer;
	ctx_limits(&ctx->lim, &o->limits);
	ERR_clear_error();
	ctx->datagram = o->datagram;
	if (o->datagram)
		ctx->ssl = SSL_CTX_new(o->role == P2P_TLS_SERVER ?
		    DTLS_server_method() : DTLS_client_method());
	else
		ctx->ssl = SSL_CTX_new(o->role == P2P_TLS_SERVER ?
		    TLS_server_method() : TLS_client_method());
	if (ctx->ssl == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: %s",
		    tlsi_errstr(es, sizeof(es)));
		free(ctx);
		return NULL;
	}
	SSL_CTX_set_app_data(ctx->ssl, ctx);
	SSL_CTX_set_min_proto_version(ctx->ssl, o->datagram ?
	    DTLS1_2_VERSION : TLS1_2_VERSION);
	if (o->datagram && tlsi_dtls_ctx_setup(ctx) != 0) {
		snprintf(err, errlen, "DTLS cookie setup: %s",
		    tlsi_errstr(es, sizeof(es)));
		goto fail;
	}
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	if (ctx_load_identity(ctx, o) != 0) {
		snprintf(err, errlen, "loading certificate or key: %s",
		    tlsi_errstr(es, sizeof(es)));
		goto fail;
	}
	if (ctx_load_roots(ctx, o) != 0) {
		snprintf(err, errlen, "loading trust roots: %s",
		    tlsi_errstr(es, sizeof(es)));
		goto fail;
	}
	ctx_set_peer_mode(ctx);
	if ((kl = getenv("SSLKEYLOGFILE")) != NULL && *kl != '\0') {
		if ((ctx->keylog = strdup(kl)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		SSL_CTX_set_keylog_callback(ctx->ssl, keylog_cb);
		tlsi_log(1, "logging TLS secrets to %s (SSLKEYLOGFILE)", kl);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx->ssl);
	free(ctx);
	return NULL;
}

int
tlsi_peer_missing(const p2p_tls_ctx *ctx, const X509 *peer)
{
	return peer == NULL && ctx->peer != P2P_TLS_PEER_NONE;
}

void
p2p_tls_ctx_set_verify(p2p_tls_ctx *ctx, p2p_tls_verify_cb cb, void *arg)
{
	ctx->verify = cb;
	ctx->verify_arg = arg;
}

SSL_CTX *
p2p_tls_ctx_ssl(p2p_tls_ctx *ctx)
{
	return ctx->ssl;
}

p2p_tls_ctx *
tlsi_ctx_ref(p2p_tls_ctx *ctx)
{
	ctx->refs++;
	return ctx;
}

void
p2p_tls_ctx_free(p2p_tls_ctx *ctx)
{
	if (ctx == NULL || --ctx->refs > 0)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx->keylog);
	free(ctx);
}

/* ---- addresses ---- */

static void
conn_name(p2p_tls_conn *c, const struct sockaddr_storage *ss)
{
	p2p_sa_name((const struct sockaddr *)ss, c->peer_ip, sizeof(c->peer_ip),
	    c->peer, sizeof(c->peer));
}

/* ---- connection teardown ---- */

static void
conn_free(p2p_tls_conn *c)
{
	p2p_tls_listener *l = c->lis;

	if (!c->silent && c->cbs.on_close != NULL)
		c->cbs.on_close(c, c->reason[0] != '\0' ? c->reason :
		    "closed");
	SSL_free(c->ssl);	/* frees both BIOs */
	free(c->pend);
	p2p_tls_ctx_free(c->ctx);
	if (l != NULL) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			l->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		l->nconns--;
		if (l->closing && l->handle_closed && l->nconns == 0) {
			p2p_tls_ctx_free(l->ctx);
			free(l);
		}
	}
	free(c);
}

static void
conn_handle_closed(uv_handle_t *h)
{
	p2p_tls_conn *c = h->data;

	if (--c->nhandles == 0)
		conn_free(c);
}

/* Close the uv handles; the connection is freed when both are closed. */
static void
conn_destroy(p2p_tls_conn *c)
{
	if (c->destroying)
		return;
	c->destroying = 1;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void
conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	p2p_tls_conn *c = req->data;

	if (c->destroying)
		return;
	c->shut_done = 1;
	if (status < 0 || c->eof)
		conn_destroy(c);
	/* else keep reading (and discarding) until the peer's FIN or the
	 * linger timer, so unread input does not turn into a reset */
}

static void
conn_set_reason(p2p_tls_conn *c, const char *reason)
{
	if (c->reason[0] == '\0' && reason != NULL)
		snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

void
p2p_tls_close_reason(p2p_tls_conn *c, const char *reason)
{
	if (c == NULL)
		return;
	conn_set_reason(c, reason);
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	if (c->state == ST_CONNECTING || c->io_dead) {
		conn_destroy(c);
		return;
	}
	if (c->state == ST_OPEN && !c->ssl_dead) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	conn_flush(c);
	if (c->destroying)
		return;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp,
	    conn_shutdown_cb) != 0) {
		conn_destroy(c);
		return;
	}
	uv_timer_start(&c->timer, conn_timer_cb, c->ctx->lim.linger_ms, 0);
}

void
p2p_tls_close(p2p_tls_conn *c)
{
	p2p_tls_close_reason(c, "closed locally");
}

static void
conn_fail(p2p_tls_conn *c, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->closing)
		tlsi_log(1, "%s: %s", c->peer, msg);
	p2p_tls_close_reason(c, msg);
}

/* ---- writing ---- */

static void
conn_write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	p2p_tls_conn *c = w->c;

	c->queued -= w->len;
	free(w);
	if (status < 0 && status != UV_ECANCELED && !c->closing) {
		c->io_dead = 1;
		conn_fail(c, "write failed: %s", uv_strerror(status));
	}
}

/* Hand everything the SSL produced to the socket. */
static void
conn_flush(p2p_tls_conn *c)
{
	size_t n;
	struct wreq *w;
	uv_buf_t b;
	int rc;

	while (!c->destroying && !c->io_dead &&
	    (n = BIO_ctrl_pending(c->wbio)) > 0) {
		if ((w = malloc(sizeof(*w) + n)) == NULL) {
			c->io_dead = 1;
			conn_fail(c, "out of memory");
			return;
		}
		if (BIO_read(c->wbio, w->data, (int)n) != (int)n) {
			free(w);
			c->io_dead = 1;
			conn_fail(c, "reading the TLS output failed");
			return;
		}
		w->c = c;
		w->len = n;
		b = uv_buf_init(w->data, (unsigned)n);
		if ((rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1,
		    conn_write_cb)) != 0) {
			free(w);
			c->io_dead = 1;
			conn_fail(c, "write failed: %s", uv_strerror(rc));
			return;
		}
		c->queued += n;
	}
}

static int
conn_ssl_write(p2p_tls_conn *c, const uint8_t *p, size_t len)
{
	char es[200];
	int chunk, r;

	while (len > 0) {
		chunk = len > WRITE_CHUNK ? WRITE_CHUNK : (int)len;
		ERR_clear_error();
		r = SSL_write(c->ssl, p, chunk);
		if (r <= 0) {
			c->ssl_dead = 1;
			conn_fail(c, "TLS write failed: %s",
			    tlsi_errstr(es, sizeof(es)));
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	if (!c->in_read)
		conn_flush(c);
	return c->closing ? -1 : 0;
}

int
p2p_tls_write(p2p_tls_conn *c, const void *data, size_t len)
{
	uint8_t *np;

	if (c == NULL || c->closing)
		return -1;
	if (len == 0)
		return 0;
	if (len > c->ctx->lim.max_queued ||
	    c->queued + c->pendlen > c->ctx->lim.max_queued - len) {
		conn_fail(c, "write queue full (%zu bytes queued)",
		    c->queued + c->pendlen);
		return -1;
	}
	if (c->state == ST_OPEN)
		return conn_ssl_write(c, data, len);
	if ((np = realloc(c->pend, c->pendlen + len)) == NULL) {
		conn_fail(c, "out of memory");
		return -1;
	}
	memcpy(np + c->pendlen, data, len);
	c->pend = np;
	c->pendlen += len;
	return 0;
}

/* ---- reading and the TLS state machine ---- */

static int
conn_verify_peer(p2p_tls_conn *c)
{
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	char why[128] = "";

	if (tlsi_peer_missing(c->ctx, peer)) {
		conn_fail(c, "peer sent no certificate");
		return -1;
	}
	if (c->ctx->verify == NULL)
		return 0;
	if (c->ctx->verify(c, peer, c->ctx->verify_arg, why,
	    sizeof(why)) != 0) {
		conn_fail(c, "peer certificate rejected%s%s",
		    why[0] != '\0' ? ": " : "", why);
		return -1;
	}
	return 0;
}

static void
conn_handshake_done(p2p_tls_conn *c)
{
	uint8_t *p;
	size_t n;

	uv_timer_stop(&c->timer);
	c->state = ST_OPEN;
	tlsi_log(3, "%s: %s established with %s", c->peer,
	    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	if (conn_verify_peer(c) != 0)
		return;
	if (c->timeout_ms > 0)
		p2p_tls_conn_set_timeout(c, c->timeout_ms);
	if (c->cbs.on_open != NULL)
		c->cbs.on_open(c);
	if (c->closing || c->pendlen == 0)
		return;
	p = c->pend;
	n = c->pendlen;
	c->pend = NULL;
	c->pendlen = 0;
	(void)conn_ssl_write(c, p, n);
	free(p);
}

static void
conn_tls_error(p2p_tls_conn *c, int r, const char *what)
{
	char es[200];
	long vr;
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_ZERO_RETURN) {
		p2p_tls_close_reason(c, "peer sent close_notify");
		return;
	}
	c->ssl_dead = 1;
	tlsi_errstr(es, sizeof(es));
	vr = SSL_get_verify_result(c->ssl);
	conn_flush(c);	/* the alert, if any */
	if (vr != X509_V_OK)
		conn_fail(c, "%s failed: %s (%s)", what, es,
		    X509_verify_cert_error_string(vr));
	else
		conn_fail(c, "%s failed: %s", what, es);
}

static void
conn_process(p2p_tls_conn *c)
{
	uint8_t buf[READ_CHUNK];
	int r;

	if (c->state == ST_HANDSHAKE) {
		ERR_clear_error();
		r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) {
				conn_flush(c);
				return;
			}
			conn_tls_error(c, r, "handshake");
			return;
		}
		conn_flush(c);
		conn_handshake_done(c);
	}
	/* What the reader writes back to this connection while input is
	 * delivered (acknowledgements, answers) goes out in one piece after
	 * it; writes to other connections are not held. */
	c->in_read = 1;
	while (!c->closing && c->state == ST_OPEN) {
		ERR_clear_error();
		r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r > 0) {
			if (c->cbs.on_read != NULL)
				c->cbs.on_read(c, buf, (size_t)r);
			continue;
		}
		if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
			break;
		c->in_read = 0;
		conn_tls_error(c, r, "TLS read");
		return;
	}
	c->in_read = 0;
	conn_flush(c);
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	p2p_tls_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	p2p_tls_conn *c = s->data;

	(void)buf;
	if (nread == 0 || c->destroying)
		return;
	if (nread < 0) {
		c->eof = 1;
		uv_read_stop(s);
		if (c->closing) {
			if (c->shut_done)
				conn_destroy(c);
			return;
		}
		if (nread != UV_EOF)
			c->io_dead = 1;
		if (nread != UV_EOF)
			conn_fail(c, "read failed: %s", uv_strerror(nread));
		else if (c->state == ST_OPEN)
			p2p_tls_close_reason(c,
			    "peer closed the connection");
		else
			conn_fail(c, "peer closed during the handshake");
		return;
	}
	if (c->closing)
		return;	/* draining after our close */
	if (BIO_write(c->rbio, buf->base, (int)nread) != (int)nread) {
		conn_fail(c, "buffering TLS input failed");
		return;
	}
	conn_process(c);
}

static void
conn_timer_cb(uv_timer_t *t)
{
	p2p_tls_conn *c = t->data;

	if (c->closing) {
		conn_destroy(c);	/* linger time over */
		return;
	}
	if (c->state != ST_OPEN) {
		conn_fail(c, "handshake timeout after %u ms",
		    c->ctx->lim.handshake_ms);
		return;
	}
	if (c->cbs.on_timeout != NULL)
		c->cbs.on_timeout(c);
	else
		p2p_tls_close_reason(c, "idle timeout");
}

/* ---- connection setup ---- */

static p2p_tls_conn *
conn_new(uv_loop_t *loop, p2p_tls_ctx *ctx)
{
	p2p_tls_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
	c->ssl = SSL_new(ctx->ssl);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		SSL_free(c->ssl);
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		free(c);
		return NULL;
	}
	BIO_set_mem_eof_return(c->rbio, -1);
	BIO_set_mem_eof_return(c->wbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);
	if (ctx->role == P2P_TLS_CLIENT)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	c->ctx = tlsi_ctx_ref(ctx);
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->nhandles = 2;
	snprintf(c->peer, sizeof(c->peer), "?");
	snprintf(c->peer_ip, sizeof(c->peer_ip), "?");
	return c;
}

/*
 * TCP keepalive: the kernel probes a connection idle KEEPALIVE_IDLE_S and
 * resets it after KEEPALIVE_PROBES unanswered probes KEEPALIVE_INTVL_S
 * apart, so a peer whose host vanished is noticed in about a minute
 * without any work in user space. Best effort: a failure is ignored.
 *
 * Each connection adds its own random part to both times. Connections
 * opened together (a node joining, many nodes started at once) would
 * otherwise probe together, every probe of a burst at the same moment;
 * a burst larger than the receiving host's input queue (1000 packets by
 * default on Linux, net.core.netdev_max_backlog) is partly dropped, and
 * the retries, 10 s apart for all of them, meet again. On one host with
 * hundreds of nodes that closed healthy links by the thousand.
 */
#define KEEPALIVE_IDLE_S	30
#define KEEPALIVE_IDLE_JITTER_S	30	/* idle 30..59 s */
#define KEEPALIVE_INTVL_S	10
#define KEEPALIVE_INTVL_JITTER_S 5	/* interval 10..14 s */
#define KEEPALIVE_PROBES	3

static void
conn_keepalive(p2p_tls_conn *c)
{
	unsigned char r[2] = { 0, 0 };
	int idle, intvl, cnt = KEEPALIVE_PROBES;
	uv_os_fd_t fd;

	if (RAND_bytes(r, sizeof(r)) != 1)
		r[0] = r[1] = 0;
	idle = KEEPALIVE_IDLE_S + r[0] % KEEPALIVE_IDLE_JITTER_S;
	intvl = KEEPALIVE_INTVL_S + r[1] % KEEPALIVE_INTVL_JITTER_S;
	if (uv_tcp_keepalive(&c->tcp, 1, (unsigned)idle) != 0 ||
	    uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static int
conn_start(p2p_tls_conn *c)
{
	int rc;

	c->state = ST_HANDSHAKE;
	uv_tcp_nodelay(&c->tcp, 1);
	conn_keepalive(c);
	if ((rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
	    conn_read_cb)) != 0) {
		conn_fail(c, "cannot read: %s", uv_strerror(rc));
		return -1;
	}
	if (c->ctx->role == P2P_TLS_CLIENT) {
		/* send the ClientHello */
		conn_process(c);
	}
	return 0;
}

static void
conn_connect_cb(uv_connect_t *req, int status)
{
	p2p_tls_conn *c = req->data;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (c->closing)
		return;
	if (status < 0) {
		c->io_dead = 1;
		conn_fail(c, "connect failed: %s", uv_strerror(status));
		return;
	}
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		conn_name(c, &ss);
	(void)conn_start(c);
}

int
p2p_tls_connect(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *ip,
    int port, const p2p_tls_cbs *cbs, void *data, p2p_tls_conn **out)
{
	struct sockaddr_storage ss;
	p2p_tls_conn *c;
	int rc;

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	if ((rc = p2p_sa_parse(ip, port, &ss)) != 0)
		return rc;
	if ((c = conn_new(loop, ctx)) == NULL)
		return UV_ENOMEM;
	conn_name(c, &ss);
	p2p_tls_conn_set_cbs(c, cbs, data);
	c->state = ST_CONNECTING;
	c->creq.data = c;
	if ((rc = uv_tcp_connect(&c->creq, &c->tcp,
	    (const struct sockaddr *)&ss, conn_connect_cb)) != 0) {
		c->silent = 1;
		conn_destroy(c);
		return rc;
	}
	uv_timer_start(&c->timer, conn_timer_cb, ctx->lim.handshake_ms, 0);
	*out = c;
	return 0;
}

/* ---- listener ---- */

static void
refuse_closed(uv_handle_t *h)
{
	free(h);
}

static void
lis_refuse(p2p_tls_listener *l)
{
	uv_tcp_t *t;

	if ((t = malloc(sizeof(*t))) == NULL)
		return;
	uv_tcp_init(l->loop, t);
	if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t) == 0)
		tlsi_log(1, "listener full (%u connections): refusing one",
		    l->nconns);
	uv_close((uv_handle_t *)t, refuse_closed);
}

static void
lis_connection_cb(uv_stream_t *s, int status)
{
	p2p_tls_listener *l = s->data;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	p2p_tls_conn *c;

	if (status < 0) {
		tlsi_log(1, "accept failed: %s", uv_strerror(status));
		return;
	}
	if (l->closing)
		return;
	if (l->nconns >= l->ctx->lim.max_conns ||
	    (c = conn_new(l->loop, l->ctx)) == NULL) {
		lis_refuse(l);
		return;
	}
	c->lis = l;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	if (uv_accept(s, (uv_stream_t *)&c->tcp) != 0) {
		c->silent = 1;
		conn_destroy(c);
		return;
	}
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		conn_name(c, &ss);
	uv_timer_start(&c->timer, conn_timer_cb, l->ctx->lim.handshake_ms, 0);
	c->state = ST_HANDSHAKE;
	if (l->on_accept != NULL)
		l->on_accept(l, c, l->arg);
	if (!c->closing)
		(void)conn_start(c);
}

int
p2p_tls_listen(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *ip,
    int port, p2p_tls_accept_cb cb, void *arg, p2p_tls_listener **out)
{
	struct sockaddr_storage ss;
	p2p_tls_listener *l;
	int rc;

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	if ((rc = p2p_sa_parse(ip, port, &ss)) != 0)
		return rc;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return UV_ENOMEM;
	l->loop = loop;
	l->on_accept = cb;
	l->arg = arg;
	uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	if ((rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&l->tcp, 128,
	    lis_connection_cb)) != 0) {
		uv_close((uv_handle_t *)&l->tcp, refuse_closed);
		return rc;
	}
	l->ctx = tlsi_ctx_ref(ctx);
	*out = l;
	return 0;
}

int
p2p_tls_listen_addr(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *addr,
    p2p_tls_accept_cb cb, void *arg, p2p_tls_listener **out)
{
	char ip[64];
	const char *colon, *start = addr, *end;
	char *ep;
	long port;

	*out = NULL;
	if (addr == NULL || (colon = strrchr(addr, ':')) == NULL)
		return UV_EINVAL;
	end = colon;
	if (addr[0] == '[') {
		start = addr + 1;
		if (colon == addr || colon[-1] != ']')
			return UV_EINVAL;
		end = colon - 1;
	}
	if (end <= start || (size_t)(end - start) >= sizeof(ip))
		return UV_EINVAL;
	memcpy(ip, start, (size_t)(end - start));
	ip[end - start] = '\0';
	errno = 0;
	port = strtol(colon + 1, &ep, 10);
	if (colon[1] == '\0' || *ep != '\0' || errno != 0 || port < 0 ||
	    port > 65535)
		return UV_EINVAL;
	return p2p_tls_listen(loop, ctx, ip, (int)port, cb, arg, out);
}

int
p2p_tls_listener_port(const p2p_tls_listener *l)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	return p2p_sa_port((const struct sockaddr *)&ss);
}

unsigned
p2p_tls_listener_count(const p2p_tls_listener *l)
{
	return l->nconns;
}

static void
lis_closed(uv_handle_t *h)
{
	p2p_tls_listener *l = h->data;

	l->handle_closed = 1;
	if (l->nconns == 0) {
		p2p_tls_ctx_free(l->ctx);
		free(l);
	}
}

void
p2p_tls_listener_close(p2p_tls_listener *l)
{
	p2p_tls_conn *c;

	if (l == NULL || l->closing)
		return;
	l->closing = 1;
	for (c = l->conns; c != NULL; c = c->next)
		p2p_tls_close_reason(c, "listener closed");
	uv_close((uv_handle_t *)&l->tcp, lis_closed);
}

/* ---- accessors ---- */

void
p2p_tls_conn_set_cbs(p2p_tls_conn *c, const p2p_tls_cbs *cbs, void *data)
{
	if (cbs != NULL)
		c->cbs = *cbs;
	else
		memset(&c->cbs, 0, sizeof(c->cbs));
	c->data = data;
}

void *
p2p_tls_conn_data(const p2p_tls_conn *c)
{
	return c->data;
}

void
p2p_tls_conn_set_data(p2p_tls_conn *c, void *data)
{
	c->data = data;
}

const char *
p2p_tls_conn_peer(const p2p_tls_conn *c)
{
	return c->peer;
}

const char *
p2p_tls_conn_peer_ip(const p2p_tls_conn *c)
{
	return c->peer_ip;
}

X509 *
p2p_tls_conn_peer_cert(const p2p_tls_conn *c)
{
	if (c->state != ST_OPEN)
		return NULL;
	return SSL_get0_peer_certificate(c->ssl);
}

STACK_OF(X509) *
p2p_tls_conn_peer_chain(const p2p_tls_conn *c)
{
	if (c->state != ST_OPEN)
		return NULL;
	return SSL_get_peer_cert_chain(c->ssl);
}

SSL *
p2p_tls_conn_ssl(const p2p_tls_conn *c)
{
	return c->ssl;
}

int
p2p_tls_conn_is_open(const p2p_tls_conn *c)
{
	return c->state == ST_OPEN && !c->closing;
}

size_t
p2p_tls_conn_queued(const p2p_tls_conn *c)
{
	return c->queued + c->pendlen;
}

void
p2p_tls_conn_set_timeout(p2p_tls_conn *c, unsigned ms)
{
	c->timeout_ms = ms;
	if (c->closing || c->state != ST_OPEN)
		return;
	uv_timer_stop(&c->timer);
	if (ms > 0)
		uv_timer_start(&c->timer, conn_timer_cb, ms, 0);
}
