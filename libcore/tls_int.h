/*
 * tls_int: what tls.c and dtls.c share inside the library: the context
 * (identity, trust roots, peer rules, limits, verify hooks), logging and
 * OpenSSL error text. Not installed.
 */
#ifndef P2P_TLS_INT_H
#define P2P_TLS_INT_H

#include "dtls.h"
#include "tls.h"

struct p2p_tls_ctx {
	SSL_CTX *ssl;
	enum p2p_tls_role role;
	enum p2p_tls_peer peer;
	p2p_tls_limits lim;
	p2p_tls_verify_cb verify;
	void *verify_arg;
	/* DTLS contexts (datagram set): the peer hook for p2p_dtls and the
	 * key of the stateless cookies (dtls.c). */
	int datagram;
	p2p_dtls_verify_cb dverify;
	void *dverify_arg;
	unsigned char cookie_key[32];
	char *keylog;
	int refs;
};

/* Level 0 error .. 3 debug, through p2p_tls_set_log's hook. */
void tlsi_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The newest OpenSSL error as text, the queue cleared. */
const char *tlsi_errstr(char *buf, size_t len);
p2p_tls_ctx *tlsi_ctx_ref(p2p_tls_ctx *ctx);
/* The peer sent no certificate where the context demands one. */
int tlsi_peer_missing(const p2p_tls_ctx *ctx, const X509 *peer);
/* dtls.c: cookie callbacks and key for a new DTLS context; 0 or -1. */
int tlsi_dtls_ctx_setup(p2p_tls_ctx *ctx);

#endif
