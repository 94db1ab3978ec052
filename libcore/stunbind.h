/*
 * stunbind: one STUN Binding transaction (RFC 8489 s3) at a time, on the
 * STUN message code of libnice (the library the ICE agents already use,
 * so no second STUN implementation): the request to send and the check
 * of what comes back.
 *
 * A p2p_stunbind remembers the transaction ID of its latest request; an
 * answer counts only when it carries that ID (a success with a mapped
 * address, or an error response). Retransmissions send the same bytes.
 *
 * The request may also be an Allocate with no attributes (RFC 8656
 * s7.2), to learn whether a TURN server is there: any TURN server answers
 * it with an error (401 for want of credentials, or 400), and none
 * allocates anything for it.
 */
#ifndef P2P_STUNBIND_H
#define P2P_STUNBIND_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/* Room for a request; answers longer than P2P_STUNBIND_MAX are not read. */
#define P2P_STUNBIND_REQ_MAX	64
#define P2P_STUNBIND_MAX	1280

typedef struct p2p_stunbind p2p_stunbind;

enum p2p_stunbind_res {
	P2P_STUNBIND_NOT_OURS = 0,	/* not STUN, malformed, another ID */
	P2P_STUNBIND_MAPPED,		/* success: mapped address filled */
	P2P_STUNBIND_REFUSED,		/* an error response to our request */
};

p2p_stunbind *p2p_stunbind_new(void);
void p2p_stunbind_free(p2p_stunbind *b);

/* A new Binding request, or with allocate an Allocate request (a new
 * transaction ID either way), into buf (cap bytes, at least
 * P2P_STUNBIND_REQ_MAX): its length, 0 on failure. */
size_t p2p_stunbind_request(p2p_stunbind *b, int allocate, uint8_t *buf,
    size_t cap);

/* The current transaction ID (12 bytes). */
void p2p_stunbind_txid(const p2p_stunbind *b, uint8_t out[12]);

/* Read a datagram: MAPPED fills mapped (and *mlen) with the reflexive
 * address the server saw; the transaction is then over. */
enum p2p_stunbind_res p2p_stunbind_answer(p2p_stunbind *b,
    const uint8_t *buf, size_t len, struct sockaddr_storage *mapped,
    socklen_t *mlen);

#endif
