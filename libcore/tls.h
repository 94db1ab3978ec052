/*
 * tls: TLS over TCP on a libuv loop, with OpenSSL driven through a pair of
 * memory BIOs.
 *
 * Everything runs on the loop's thread through callbacks; nothing blocks.
 * Bytes read from the socket are written into the SSL's read BIO, whatever
 * the SSL wants to send is taken from its write BIO and handed to
 * uv_write.
 *
 * Lifetime rules:
 *   - A p2p_tls_ctx is reference counted: listeners and connections hold a
 *     reference, so the caller may drop its own (p2p_tls_ctx_free) at any
 *     time.
 *   - A p2p_tls_conn belongs to the library. It stays valid until its
 *     on_close callback has returned; on_close is called exactly once for
 *     every connection that has callbacks set, always from the loop (never
 *     from inside p2p_tls_close), after which the memory is freed.
 *   - p2p_tls_close may be called any number of times, from any callback.
 *     It sends close_notify, lets the queued bytes drain, shuts the TCP
 *     write side down and closes the socket (after the peer's FIN or after
 *     the linger time).
 */
#ifndef P2P_TLS_H
#define P2P_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

typedef struct p2p_tls_ctx p2p_tls_ctx;
typedef struct p2p_tls_conn p2p_tls_conn;
typedef struct p2p_tls_listener p2p_tls_listener;

enum p2p_tls_role {
	P2P_TLS_SERVER = 0,
	P2P_TLS_CLIENT = 1,
};

/* What is asked of the peer's certificate during the handshake. */
enum p2p_tls_peer {
	/* Server: do not ask for one. Client: accept any server
	 * certificate (the verify hook may still judge it). */
	P2P_TLS_PEER_NONE = 0,
	/* Require a certificate that chains to the trust roots. */
	P2P_TLS_PEER_VERIFY = 1,
	/* Require a certificate but accept any chain (self-signed overlays);
	 * the verify hook makes the decision. */
	P2P_TLS_PEER_ANY = 2,
};

typedef struct p2p_tls_limits {
	unsigned handshake_ms;	/* TCP connect + handshake; 0: 10000 */
	size_t max_queued;	/* unsent bytes per connection; 0: 4 MiB */
	unsigned max_conns;	/* live connections per listener; 0: 256 */
	unsigned linger_ms;	/* wait for the peer's FIN on close; 0: 2000 */
} p2p_tls_limits;

typedef struct p2p_tls_ctx_opts {
	enum p2p_tls_role role;
	/* Our certificate and key: either PEM file names or loaded objects
	 * (the context takes its own references). cert_file may hold the
	 * chain after the leaf. Both may be absent for a client. */
	const char *cert_file;
	const char *key_file;
	X509 *cert;
	EVP_PKEY *key;
	STACK_OF(X509) *chain;	/* intermediates sent after cert */
	/* Trust roots for checking the peer: a PEM file and/or a list. */
	const char *ca_file;
	X509 *const *roots;
	size_t nroots;
	enum p2p_tls_peer peer;
	p2p_tls_limits limits;
	/* DTLS 1.2 instead of TLS: the context is for dtls.h. */
	int datagram;
} p2p_tls_ctx_opts;

/*
 * Called once the handshake is done, before on_open, with the peer's
 * certificate (NULL if it sent none) and the chain it presented
 * (p2p_tls_conn_peer_chain). Return 0 to accept the peer, -1 to close the
 * connection; why (may be left empty) is logged and passed to on_close.
 */
typedef int (*p2p_tls_verify_cb)(p2p_tls_conn *c, X509 *peer, void *arg,
    char *why, size_t whylen);

typedef struct p2p_tls_cbs {
	/* Handshake done and peer accepted. */
	void (*on_open)(p2p_tls_conn *c);
	/* Decrypted application data. */
	void (*on_read)(p2p_tls_conn *c, const uint8_t *data, size_t len);
	/* The timeout set with p2p_tls_conn_set_timeout expired. If NULL
	 * the connection is closed. */
	void (*on_timeout)(p2p_tls_conn *c);
	/* Last call for this connection; reason says why it ended. */
	void (*on_close)(p2p_tls_conn *c, const char *reason);
} p2p_tls_cbs;

/* Called for each accepted TCP connection, before the handshake. The
 * callback sets the connection's callbacks (p2p_tls_conn_set_cbs) or
 * refuses it with p2p_tls_close. */
typedef void (*p2p_tls_accept_cb)(p2p_tls_listener *l, p2p_tls_conn *c,
    void *arg);

/* Log hook: level is 0 error, 1 warn, 2 info, 3 debug. The default writes
 * "tls: <msg>" to stderr for levels 0 and 1. NULL restores the default. */
typedef void (*p2p_tls_log_fn)(int level, const char *msg, void *arg);
void p2p_tls_set_log(p2p_tls_log_fn fn, void *arg);

/* NULL on failure, with the reason in err. */
p2p_tls_ctx *p2p_tls_ctx_new(const p2p_tls_ctx_opts *o, char *err,
    size_t errlen);
void p2p_tls_ctx_set_verify(p2p_tls_ctx *ctx, p2p_tls_verify_cb cb,
    void *arg);
/* Drop the caller's reference. */
void p2p_tls_ctx_free(p2p_tls_ctx *ctx);
SSL_CTX *p2p_tls_ctx_ssl(p2p_tls_ctx *ctx);

/*
 * The TLS role comes from the context, independently of who opened the
 * TCP connection: a listener with a client context acts as the TLS client
 * on the connections it accepts, and p2p_tls_connect with a server
 * context waits for a ClientHello (RELOAD makes the Attach sender the
 * TLS server whichever side connects).
 *
 * Listen on ip:port (IPv4 or IPv6 literal; port 0 picks a free one).
 * Returns 0 or a negative libuv error code.
 */
int p2p_tls_listen(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *ip,
    int port, p2p_tls_accept_cb cb, void *arg, p2p_tls_listener **out);
/* Same with "ip:port" or "[ip6]:port". */
int p2p_tls_listen_addr(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *addr,
    p2p_tls_accept_cb cb, void *arg, p2p_tls_listener **out);
/* The bound port, or -1. */
int p2p_tls_listener_port(const p2p_tls_listener *l);
unsigned p2p_tls_listener_count(const p2p_tls_listener *l);
/* Stop accepting, close every connection of this listener; the listener
 * is freed once they are all gone. Idempotent. */
void p2p_tls_listener_close(p2p_tls_listener *l);

/*
 * Connect to ip:port. On success *out is the connection; connect and
 * handshake failures are reported later through on_close. Returns 0 or a
 * negative libuv error code (nothing is called back then).
 */
int p2p_tls_connect(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *ip,
    int port, const p2p_tls_cbs *cbs, void *data, p2p_tls_conn **out);

void p2p_tls_conn_set_cbs(p2p_tls_conn *c, const p2p_tls_cbs *cbs,
    void *data);
void *p2p_tls_conn_data(const p2p_tls_conn *c);
void p2p_tls_conn_set_data(p2p_tls_conn *c, void *data);
/* "ip:port" or "[ip6]:port". */
const char *p2p_tls_conn_peer(const p2p_tls_conn *c);
/* The peer's IP address alone. */
const char *p2p_tls_conn_peer_ip(const p2p_tls_conn *c);
/* After the handshake; borrowed, valid until on_close returns. */
X509 *p2p_tls_conn_peer_cert(const p2p_tls_conn *c);
STACK_OF(X509) *p2p_tls_conn_peer_chain(const p2p_tls_conn *c);
SSL *p2p_tls_conn_ssl(const p2p_tls_conn *c);
int p2p_tls_conn_is_open(const p2p_tls_conn *c);
/* Bytes accepted by p2p_tls_write and not yet handed to the kernel. */
size_t p2p_tls_conn_queued(const p2p_tls_conn *c);

/*
 * Queue data for the peer (before on_open it is kept until the handshake
 * is done). Returns 0, or -1 if the connection is closing or the queue
 * would exceed limits.max_queued, in which case the connection is closed.
 */
int p2p_tls_write(p2p_tls_conn *c, const void *data, size_t len);
/* Arm (ms > 0) or disarm (0) a timer calling on_timeout; replaces the
 * previous one. Before on_open it is armed when the handshake ends. */
void p2p_tls_conn_set_timeout(p2p_tls_conn *c, unsigned ms);
/* Graceful close; see the top of this file. */
void p2p_tls_close(p2p_tls_conn *c);
/* Close with a reason that on_close will receive. */
void p2p_tls_close_reason(p2p_tls_conn *c, const char *reason);

#endif
