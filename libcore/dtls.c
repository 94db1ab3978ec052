/*
 * dtls: DTLS 1.2 over a p2p_dgram with OpenSSL memory BIOs. See dtls.h.
 *
 * Each datagram from the path is written into the read BIO and processed
 * at once, so the BIO never holds more than one datagram. What the SSL
 * writes is cut at record boundaries and sent one record per datagram.
 * Two timers: the handshake's retransmission timer (whatever
 * DTLSv1_get_timeout asks for) and the deadline of the whole handshake.
 *
 * Cookies (RFC 6347 s4.2.1) are an HMAC-SHA256, under a per-context
 * random key, of the source address and the current minute; a cookie of
 * the minute before is accepted too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "dtls.h"
#include "tls_int.h"

#define REC_HDR		13	/* type, version, epoch, seq48, length */
#define DEF_MTU		1200
#define MIN_MTU		256
#define COOKIE_LEN	16
#define COOKIE_PERIOD	60	/* seconds */
#define READ_MAX	(16384 + 2048)
#define RTX_FIRST_US	250000	/* first handshake retransmission */
#define RTX_MAX_US	2000000	/* doubling up to this */

enum dtls_state {
	ST_HANDSHAKE,
	ST_OPEN,
};

struct p2p_dtls {
	uv_loop_t *loop;
	uv_timer_t rtx;		/* handshake retransmission */
	uv_timer_t deadline;	/* handshake must end by then */
	p2p_tls_ctx *ctx;
	p2p_dgram *path;	/* NULL once closed or gone */
	SSL *ssl;
	BIO *rbio, *wbio;
	p2p_dtls_cbs cbs;
	void *data;
	enum dtls_state state;
	int closing;
	int ssl_dead;		/* fatal error: no close_notify */
	int nhandles;
	size_t path_mtu;
	char source[64];	/* the path's peer, bound into cookies */
	char reason[160];
};

struct p2p_dtls_hello {
	p2p_tls_ctx *ctx;
	SSL *ssl;
	char source[64];
};

static int cookie_idx = -1;

static void dtls_process(p2p_dtls *d);
static void dtls_fail(p2p_dtls *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- cookies ---- */

static int
cookie_make(SSL *ssl, long period, unsigned char *out)
{
	SSL_CTX *sc = SSL_get_SSL_CTX(ssl);
	p2p_tls_ctx *ctx = SSL_CTX_get_app_data(sc);
	const char *src = SSL_get_ex_data(ssl, cookie_idx);
	unsigned char msg[128], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n;

	if (ctx == NULL || src == NULL)
		return -1;
	n = strlen(src);
	if (n > sizeof(msg) - 8)
		n = sizeof(msg) - 8;
	for (int i = 0; i < 8; i++)
		msg[i] = (unsigned char)((unsigned long)period >> (56 - 8 * i));
	memcpy(msg + 8, src, n);
	if (HMAC(EVP_sha256(), ctx->cookie_key, sizeof(ctx->cookie_key),
	    msg, 8 + n, md, &mdlen) == NULL || mdlen < COOKIE_LEN)
		return -1;
	memcpy(out, md, COOKIE_LEN);
	return 0;
}

static int
cookie_gen_cb(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
	if (cookie_make(ssl, (long)(time(NULL) / COOKIE_PERIOD), cookie) != 0)
		return 0;
	*len = COOKIE_LEN;
	return 1;
}

static int
cookie_verify_cb(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
	unsigned char want[COOKIE_LEN];
	long now = (long)(time(NULL) / COOKIE_PERIOD);

	if (len != COOKIE_LEN)
		return 0;
	for (long p = now; p >= now - 1; p--)
		if (cookie_make(ssl, p, want) == 0 &&
		    CRYPTO_memcmp(want, cookie, COOKIE_LEN) == 0)
			return 1;
	return 0;
}

int
tlsi_dtls_ctx_setup(p2p_tls_ctx *ctx)
{
	if (cookie_idx < 0)
		cookie_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (cookie_idx < 0 ||
	    RAND_bytes(ctx->cookie_key, sizeof(ctx->cookie_key)) != 1)
		return -1;
	SSL_CTX_set_cookie_generate_cb(ctx->ssl, cookie_gen_cb);
	SSL_CTX_set_cookie_verify_cb(ctx->ssl, cookie_verify_cb);
	/* Handshake messages are fragmented to the path's MTU: never ask
	 * the (memory) BIO for one. */
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_QUERY_MTU);
	/* Links are not resumed: no NewSessionTicket in the last flight. */
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_TICKET);
	return 0;
}

void
p2p_dtls_ctx_set_verify(p2p_tls_ctx *ctx, p2p_dtls_verify_cb cb, void *arg)
{
	ctx->dverify = cb;
	ctx->dverify_arg = arg;
}

/* ---- SSL objects ---- */

/* The handshake retransmission timer: RFC 6347 s4.2.4.1 starts at 1 s,
 * too slow for a handshake bounded by limits.handshake_ms (10 s); start
 * at 250 ms and double up to 2 s. */
static unsigned int
rtx_timer_cb(SSL *ssl, unsigned int prev_us)
{
	(void)ssl;
	if (prev_us == 0)
		return RTX_FIRST_US;
	return prev_us >= RTX_MAX_US / 2 ? RTX_MAX_US : prev_us * 2;
}

/* A server or client SSL on a fresh pair of memory BIOs. */
static SSL *
ssl_new(p2p_tls_ctx *ctx, char *source)
{
	SSL *ssl = SSL_new(ctx->ssl);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());

	if (ssl == NULL || r == NULL || w == NULL) {
		SSL_free(ssl);
		BIO_free(r);
		BIO_free(w);
		return NULL;
	}
	BIO_set_mem_eof_return(r, -1);
	BIO_set_mem_eof_return(w, -1);
	SSL_set_bio(ssl, r, w);
	if (SSL_set_ex_data(ssl, cookie_idx, source) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	DTLS_set_timer_cb(ssl, rtx_timer_cb);
	if (ctx->role == P2P_TLS_CLIENT)
		SSL_set_connect_state(ssl);
	else
		SSL_set_accept_state(ssl);
	return ssl;
}

/* ---- teardown ---- */

static void
dtls_handle_closed(uv_handle_t *h)
{
	p2p_dtls *d = h->data;

	if (--d->nhandles > 0)
		return;
	if (d->cbs.on_close != NULL)
		d->cbs.on_close(d, d->reason[0] != '\0' ? d->reason :
		    "closed");
	SSL_free(d->ssl);
	p2p_tls_ctx_free(d->ctx);
	free(d);
}

static void
dtls_release_path(p2p_dtls *d)
{
	p2p_dgram *p = d->path;

	if (p == NULL)
		return;
	d->path = NULL;
	p->on_recv = NULL;
	p->on_gone = NULL;
	p->arg = NULL;
	p2p_dgram_close(p);
}

static void
dtls_flush(p2p_dtls *d);

void
p2p_dtls_close(p2p_dtls *d, const char *reason)
{
	if (d == NULL)
		return;
	if (d->reason[0] == '\0' && reason != NULL)
		snprintf(d->reason, sizeof(d->reason), "%s", reason);
	if (d->closing)
		return;
	d->closing = 1;
	if (d->state == ST_OPEN && !d->ssl_dead && d->path != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(d->ssl);
		ERR_clear_error();
		dtls_flush(d);
	}
	dtls_release_path(d);
	uv_close((uv_handle_t *)&d->rtx, dtls_handle_closed);
	uv_close((uv_handle_t *)&d->deadline, dtls_handle_closed);
}

static void
dtls_fail(p2p_dtls *d, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!d->closing)
		tlsi_log(1, "%s: %s", d->source, msg);
	p2p_dtls_close(d, msg);
}

/* ---- output ---- */

/* Send what the SSL wrote, one record per datagram. */
static void
dtls_flush(p2p_dtls *d)
{
	uint8_t buf[READ_MAX];
	size_t n, off, rl;
	int r;

	while ((n = BIO_ctrl_pending(d->wbio)) > 0) {
		if (n > sizeof(buf))
			n = sizeof(buf);
		r = BIO_read(d->wbio, buf, (int)n);
		if (r <= 0)
			return;
		n = (size_t)r;
		for (off = 0; off < n; off += rl) {
			rl = n - off;
			if (rl >= REC_HDR)
				rl = REC_HDR + ((size_t)buf[off + 11] << 8 |
				    buf[off + 12]);
			if (rl > n - off)
				rl = n - off;
			if (d->path != NULL)
				(void)p2p_dgram_send(d->path, buf + off, rl);
		}
	}
}

static void
rtx_cb(uv_timer_t *t)
{
	p2p_dtls *d = t->data;

	if (d->closing)
		return;
	ERR_clear_error();
	if (DTLSv1_handle_timeout(d->ssl) < 0) {
		d->ssl_dead = 1;
		dtls_fail(d, "handshake: too many retransmissions");
		return;
	}
	dtls_flush(d);
	dtls_process(d);
}

static void
dtls_arm_rtx(p2p_dtls *d)
{
	struct timeval tv;
	uint64_t ms;

	if (d->closing)
		return;
	uv_timer_stop(&d->rtx);
	if (DTLSv1_get_timeout(d->ssl, &tv) != 1)
		return;
	ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	uv_timer_start(&d->rtx, rtx_cb, ms > 0 ? ms : 1, 0);
}

static void
deadline_cb(uv_timer_t *t)
{
	p2p_dtls *d = t->data;

	if (!d->closing && d->state != ST_OPEN)
		dtls_fail(d, "handshake timeout after %u ms",
		    d->ctx->lim.handshake_ms);
}

/* ---- the state machine ---- */

static int
dtls_verify_peer(p2p_dtls *d)
{
	X509 *peer = SSL_get0_peer_certificate(d->ssl);
	char why[128] = "";

	if (tlsi_peer_missing(d->ctx, peer)) {
		dtls_fail(d, "peer sent no certificate");
		return -1;
	}
	if (d->ctx->dverify == NULL)
		return 0;
	if (d->ctx->dverify(d, peer, SSL_get_peer_cert_chain(d->ssl),
	    d->ctx->dverify_arg, why, sizeof(why)) != 0) {
		dtls_fail(d, "peer certificate rejected%s%s",
		    why[0] != '\0' ? ": " : "", why);
		return -1;
	}
	return 0;
}

static void
dtls_error(p2p_dtls *d, int r, const char *what)
{
	char es[200];
	long vr;

	if (SSL_get_error(d->ssl, r) == SSL_ERROR_ZERO_RETURN) {
		p2p_dtls_close(d, "peer sent close_notify");
		return;
	}
	d->ssl_dead = 1;
	tlsi_errstr(es, sizeof(es));
	vr = SSL_get_verify_result(d->ssl);
	dtls_flush(d);	/* the alert, if any */
	if (vr != X509_V_OK)
		dtls_fail(d, "%s failed: %s (%s)", what, es,
		    X509_verify_cert_error_string(vr));
	else
		dtls_fail(d, "%s failed: %s", what, es);
}

static int
dtls_handshake(p2p_dtls *d)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(d->ssl);
	dtls_flush(d);
	if (r != 1) {
		if (SSL_get_error(d->ssl, r) == SSL_ERROR_WANT_READ)
			return 0;
		dtls_error(d, r, "handshake");
		return -1;
	}
	d->state = ST_OPEN;
	uv_timer_stop(&d->deadline);
	tlsi_log(3, "%s: %s established with %s", d->source,
	    SSL_get_version(d->ssl), SSL_get_cipher_name(d->ssl));
	if (dtls_verify_peer(d) != 0)
		return -1;
	if (d->cbs.on_open != NULL)
		d->cbs.on_open(d);
	return d->closing ? -1 : 0;
}

static void
dtls_process(p2p_dtls *d)
{
	uint8_t buf[READ_MAX];
	int r;

	if (d->state == ST_HANDSHAKE && dtls_handshake(d) != 0)
		return;
	while (!d->closing && d->state == ST_OPEN) {
		ERR_clear_error();
		r = SSL_read(d->ssl, buf, sizeof(buf));
		if (r > 0) {
			if (d->cbs.on_recv != NULL)
				d->cbs.on_recv(d, buf, (size_t)r);
			continue;
		}
		if (SSL_get_error(d->ssl, r) == SSL_ERROR_WANT_READ)
			break;
		dtls_error(d, r, "DTLS read");
		return;
	}
	if (d->closing)
		return;
	dtls_flush(d);	/* a retransmitted last flight */
	dtls_arm_rtx(d);
}

static void
path_recv(p2p_dgram *p, const uint8_t *buf, size_t len, void *arg)
{
	p2p_dtls *d = arg;

	(void)p;
	if (d->closing || len == 0 || len > READ_MAX)
		return;
	/* The BIO is empty between datagrams: this is all it holds. */
	(void)BIO_reset(d->rbio);
	if (BIO_write(d->rbio, buf, (int)len) != (int)len) {
		dtls_fail(d, "buffering DTLS input failed");
		return;
	}
	dtls_process(d);
	(void)BIO_reset(d->rbio);
}

static void
path_gone(p2p_dgram *p, const char *why, void *arg)
{
	p2p_dtls *d = arg;
	char msg[160];

	(void)p;
	d->path = NULL;		/* the owner has let it go already */
	snprintf(msg, sizeof(msg), "path lost: %s", why ? why : "?");
	p2p_dtls_close(d, msg);
}

/* ---- setup ---- */

static p2p_dtls *
dtls_wrap(uv_loop_t *loop, p2p_tls_ctx *ctx, SSL *ssl, p2p_dgram *path,
    const p2p_dtls_cbs *cbs, void *data)
{
	p2p_dtls *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->loop = loop;
	d->ssl = ssl;
	d->rbio = SSL_get_rbio(ssl);
	d->wbio = SSL_get_wbio(ssl);
	d->ctx = tlsi_ctx_ref(ctx);
	d->path = path;
	snprintf(d->source, sizeof(d->source), "%s", path->peer);
	SSL_set_ex_data(ssl, cookie_idx, d->source);
	SSL_set_app_data(ssl, d);
	d->path_mtu = path->mtu >= MIN_MTU ? path->mtu : DEF_MTU;
	DTLS_set_link_mtu(ssl, (long)d->path_mtu);
	p2p_dtls_set_cbs(d, cbs, data);
	uv_timer_init(loop, &d->rtx);
	uv_timer_init(loop, &d->deadline);
	d->rtx.data = d;
	d->deadline.data = d;
	d->nhandles = 2;
	uv_timer_start(&d->deadline, deadline_cb, ctx->lim.handshake_ms, 0);
	path->on_recv = path_recv;
	path->on_gone = path_gone;
	path->arg = d;
	return d;
}

p2p_dtls *
p2p_dtls_new(uv_loop_t *loop, p2p_tls_ctx *ctx, p2p_dgram *path,
    const p2p_dtls_cbs *cbs, void *data)
{
	p2p_dtls *d;
	SSL *ssl;

	if (ctx == NULL || !ctx->datagram || path == NULL)
		return NULL;
	if ((ssl = ssl_new(ctx, NULL)) == NULL)
		return NULL;
	if (ctx->role == P2P_TLS_SERVER)
		SSL_set_options(ssl, SSL_OP_COOKIE_EXCHANGE);
	if ((d = dtls_wrap(loop, ctx, ssl, path, cbs, data)) == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	if (ctx->role == P2P_TLS_CLIENT)
		dtls_process(d);	/* the ClientHello */
	return d;
}

int
p2p_dtls_listen(p2p_tls_ctx *ctx, const char *source,
    const uint8_t *dgram, size_t len, uint8_t *reply, size_t replycap,
    size_t *replylen, p2p_dtls_hello **hello)
{
	p2p_dtls_hello *h;
	BIO_ADDR *peer;
	size_t n;
	int r;

	*replylen = 0;
	*hello = NULL;
	/* A handshake record whose first fragment is a ClientHello. */
	if (ctx == NULL || !ctx->datagram || ctx->role != P2P_TLS_SERVER ||
	    len < REC_HDR + 12 || len > READ_MAX || dgram[0] != 22 ||
	    dgram[1] != 0xfe || dgram[REC_HDR] != 1)
		return P2P_DTLS_LISTEN_DROP;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return P2P_DTLS_LISTEN_DROP;
	snprintf(h->source, sizeof(h->source), "%s", source);
	if ((h->ssl = ssl_new(ctx, h->source)) == NULL ||
	    (peer = BIO_ADDR_new()) == NULL) {
		p2p_dtls_hello_free(h);
		return P2P_DTLS_LISTEN_DROP;
	}
	if (BIO_write(SSL_get_rbio(h->ssl), dgram, (int)len) != (int)len) {
		BIO_ADDR_free(peer);
		p2p_dtls_hello_free(h);
		return P2P_DTLS_LISTEN_DROP;
	}
	ERR_clear_error();
	r = DTLSv1_listen(h->ssl, peer);
	ERR_clear_error();
	BIO_ADDR_free(peer);
	if (r == 1) {
		h->ctx = tlsi_ctx_ref(ctx);
		*hello = h;
		return P2P_DTLS_LISTEN_OK;
	}
	n = BIO_ctrl_pending(SSL_get_wbio(h->ssl));
	r = P2P_DTLS_LISTEN_DROP;
	if (n > 0 && n <= replycap &&
	    BIO_read(SSL_get_wbio(h->ssl), reply, (int)n) == (int)n) {
		*replylen = n;
		r = P2P_DTLS_LISTEN_REPLY;
	}
	p2p_dtls_hello_free(h);
	return r;
}

void
p2p_dtls_hello_free(p2p_dtls_hello *h)
{
	if (h == NULL)
		return;
	SSL_free(h->ssl);
	p2p_tls_ctx_free(h->ctx);
	free(h);
}

p2p_dtls *
p2p_dtls_accept(uv_loop_t *loop, p2p_dtls_hello *h, p2p_dgram *path,
    const p2p_dtls_cbs *cbs, void *data)
{
	p2p_dtls *d;

	if (h == NULL)
		return NULL;
	if (path == NULL ||
	    (d = dtls_wrap(loop, h->ctx, h->ssl, path, cbs, data)) == NULL) {
		p2p_dtls_hello_free(h);
		return NULL;
	}
	h->ssl = NULL;		/* now d's */
	p2p_dtls_hello_free(h);
	dtls_process(d);	/* the buffered ClientHello */
	return d;
}

/* ---- data ---- */

size_t
p2p_dtls_mtu(const p2p_dtls *d)
{
	size_t m = 0;

	if (d->state == ST_OPEN)
		m = DTLS_get_data_mtu(d->ssl);
	if (m == 0 || m > d->path_mtu)
		m = d->path_mtu - P2P_DTLS_OVERHEAD;
	return m;
}

int
p2p_dtls_send(p2p_dtls *d, const void *rec, size_t len)
{
	char es[200];
	int r;

	if (d == NULL || d->closing || d->state != ST_OPEN || len == 0 ||
	    len > P2P_DTLS_MAX_RECORD || d->path == NULL)
		return -1;
	ERR_clear_error();
	r = SSL_write(d->ssl, rec, (int)len);
	if (r != (int)len) {
		d->ssl_dead = 1;
		dtls_fail(d, "DTLS write failed: %s",
		    tlsi_errstr(es, sizeof(es)));
		return -1;
	}
	dtls_flush(d);
	return 0;
}

/* ---- accessors ---- */

int
p2p_dtls_is_open(const p2p_dtls *d)
{
	return d->state == ST_OPEN && !d->closing;
}

void *
p2p_dtls_data(const p2p_dtls *d)
{
	return d->data;
}

void
p2p_dtls_set_data(p2p_dtls *d, void *data)
{
	d->data = data;
}

void
p2p_dtls_set_cbs(p2p_dtls *d, const p2p_dtls_cbs *cbs, void *data)
{
	if (cbs != NULL)
		d->cbs = *cbs;
	else
		memset(&d->cbs, 0, sizeof(d->cbs));
	d->data = data;
}

const char *
p2p_dtls_peer(const p2p_dtls *d)
{
	return d->source;
}

X509 *
p2p_dtls_peer_cert(const p2p_dtls *d)
{
	if (d->state != ST_OPEN)
		return NULL;
	return SSL_get0_peer_certificate(d->ssl);
}

STACK_OF(X509) *
p2p_dtls_peer_chain(const p2p_dtls *d)
{
	if (d->state != ST_OPEN)
		return NULL;
	return SSL_get_peer_cert_chain(d->ssl);
}

SSL *
p2p_dtls_ssl(const p2p_dtls *d)
{
	return d->ssl;
}
