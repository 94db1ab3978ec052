/*
 * dtls: DTLS 1.2 over a datagram path (dgram.h) on a libuv loop, OpenSSL
 * driven through memory BIOs as in tls.c.
 *
 * The transport is only a p2p_dgram: a plain UDP 5-tuple or the selected
 * pair of an ICE stream; this module never sees a socket. The context is
 * a p2p_tls_ctx made with opts.datagram = 1, so identity, trust roots and
 * the peer rules (enum p2p_tls_peer) are those of tls.h; the context's
 * role says who sends the ClientHello.
 *
 * Datagrams and records:
 *   - Every datagram the path delivers is one or more DTLS records; each
 *     datagram is processed as it arrives, so nothing is ever merged.
 *   - Everything sent goes out one record per datagram. Handshake
 *     messages are fragmented to the path's MTU (p2p_dgram.mtu).
 *   - p2p_dtls_send writes one application record; p2p_dtls_mtu says the
 *     largest plaintext a record may carry on this path without IP
 *     fragmentation. A larger record (up to P2P_DTLS_MAX_RECORD) still
 *     goes out as one datagram, which IP fragments. Records may be
 *     lost, duplicated or reordered: reliability belongs to the caller
 *     (RFC 6940 s6.6.3, rlink.h). on_recv gets each record whole.
 *
 * Handshake: the retransmission timer of RFC 6347 s4.2.4 runs on the loop
 * (DTLSv1_get_timeout / DTLSv1_handle_timeout); the whole handshake is
 * bounded by the context's limits.handshake_ms. A server on a socket
 * shared by many sources answers an unknown source statelessly with
 * p2p_dtls_listen (HelloVerifyRequest cookies, RFC 6347 s4.2.1) and makes
 * a path only for a ClientHello that returns a valid cookie; a server on
 * a path that is already proof of the peer's address (an ICE pair after
 * its connectivity checks) uses p2p_dtls_new directly.
 *
 * Lifetime (as tls.h):
 *   - A p2p_dtls takes over its path: it sets the path's on_recv, on_gone
 *     and arg and calls p2p_dgram_close when it is freed. The path's owner
 *     reports its loss with on_gone (the connection then closes without
 *     close_notify).
 *   - on_close is called exactly once, always from the loop (never from
 *     inside p2p_dtls_close or p2p_dtls_send), after which the object is
 *     freed. p2p_dtls_close may be called any number of times from any
 *     callback; it sends close_notify if the connection was open.
 */
#ifndef P2P_DTLS_H
#define P2P_DTLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "dgram.h"
#include "tls.h"

typedef struct p2p_dtls p2p_dtls;
/* A ClientHello that passed the cookie check, waiting for its path. */
typedef struct p2p_dtls_hello p2p_dtls_hello;

/* DTLS record header (13) + the largest AEAD expansion of the cipher
 * suites we allow (explicit nonce 8 + tag 16); a bound for planning
 * before the handshake, p2p_dtls_mtu is exact once open. */
#define P2P_DTLS_OVERHEAD	37
/* The largest record plaintext (RFC 6347 s4.1 / RFC 5246 s6.2.1). */
#define P2P_DTLS_MAX_RECORD	16384

/*
 * Called once the handshake is done, before on_open, with the peer's
 * certificate (NULL if it sent none) and the chain it presented. Return 0
 * to accept, -1 to close; why (may be left empty) goes to on_close.
 */
typedef int (*p2p_dtls_verify_cb)(p2p_dtls *d, X509 *peer,
    STACK_OF(X509) *chain, void *arg, char *why, size_t whylen);

typedef struct p2p_dtls_cbs {
	/* Handshake done and peer accepted. */
	void (*on_open)(p2p_dtls *d);
	/* One decrypted record. */
	void (*on_recv)(p2p_dtls *d, const uint8_t *rec, size_t len);
	/* Last call for this connection. */
	void (*on_close)(p2p_dtls *d, const char *reason);
} p2p_dtls_cbs;

/* The peer hook of every connection made with this (DTLS) context. */
void p2p_dtls_ctx_set_verify(p2p_tls_ctx *ctx, p2p_dtls_verify_cb cb,
    void *arg);

/*
 * Start a connection over path in the context's role (a client sends its
 * ClientHello at once; a server waits for one and, if it receives no
 * cookie, asks for one). NULL if out of memory or ctx is not a DTLS
 * context; the path is then untouched (still the caller's).
 */
p2p_dtls *p2p_dtls_new(uv_loop_t *loop, p2p_tls_ctx *ctx, p2p_dgram *path,
    const p2p_dtls_cbs *cbs, void *data);

/* What p2p_dtls_listen decided about a datagram from an unknown source. */
enum p2p_dtls_listen_result {
	P2P_DTLS_LISTEN_DROP = -1,	/* not a ClientHello: ignore it */
	P2P_DTLS_LISTEN_REPLY = 0,	/* no valid cookie: send reply back
					   to the source, keep no state */
	P2P_DTLS_LISTEN_OK = 1,		/* valid cookie: *hello is set */
};

/*
 * The stateless guard of a server context on a shared socket. source
 * names the sender's address (the cookie is bound to it, so it must be
 * the address the reply goes to, e.g. "192.0.2.1:5000"). reply must hold
 * at least replycap bytes (256 is enough for a HelloVerifyRequest). On
 * P2P_DTLS_LISTEN_OK the caller makes a path to source and passes *hello
 * to p2p_dtls_accept (or frees it with p2p_dtls_hello_free).
 */
int p2p_dtls_listen(p2p_tls_ctx *ctx, const char *source,
    const uint8_t *dgram, size_t len, uint8_t *reply, size_t replycap,
    size_t *replylen, p2p_dtls_hello **hello);
/* Continue the handshake a p2p_dtls_listen hello began; the hello is
 * consumed whatever the result (NULL: out of memory, path untouched). */
p2p_dtls *p2p_dtls_accept(uv_loop_t *loop, p2p_dtls_hello *hello,
    p2p_dgram *path, const p2p_dtls_cbs *cbs, void *data);
void p2p_dtls_hello_free(p2p_dtls_hello *hello);

/*
 * Send one record of len bytes (1 <= len <= P2P_DTLS_MAX_RECORD; more
 * than p2p_dtls_mtu makes a datagram larger than the path's MTU). 0, or
 * -1 if the connection is not open, the record is too large, or the path
 * refused the datagram (a lost datagram is not an error).
 */
int p2p_dtls_send(p2p_dtls *d, const void *rec, size_t len);
/* The largest record plaintext this path carries: the path's MTU minus
 * the DTLS record overhead of the negotiated cipher (an estimate with
 * P2P_DTLS_OVERHEAD before the handshake ends). */
size_t p2p_dtls_mtu(const p2p_dtls *d);
void p2p_dtls_close(p2p_dtls *d, const char *reason);

int p2p_dtls_is_open(const p2p_dtls *d);
void *p2p_dtls_data(const p2p_dtls *d);
void p2p_dtls_set_data(p2p_dtls *d, void *data);
void p2p_dtls_set_cbs(p2p_dtls *d, const p2p_dtls_cbs *cbs, void *data);
/* The path's printable remote address. */
const char *p2p_dtls_peer(const p2p_dtls *d);
/* After the handshake; borrowed, valid until on_close returns. */
X509 *p2p_dtls_peer_cert(const p2p_dtls *d);
STACK_OF(X509) *p2p_dtls_peer_chain(const p2p_dtls *d);
SSL *p2p_dtls_ssl(const p2p_dtls *d);

#endif
