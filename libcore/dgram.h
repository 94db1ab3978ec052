/*
 * dgram: a datagram path to one peer, whatever carries it.
 *
 * DTLS links (RFC 6940 s5.6.1 and s6.6.2) run over a p2p_dgram: either a
 * plain UDP 5-tuple (the configuration's no-ice, where the node's one UDP
 * socket demultiplexes by source address) or the selected pair of an ICE
 * stream (RFC 8445 through s6.5.1). The DTLS code knows nothing of which;
 * the path's owner knows nothing of DTLS.
 *
 * Rules:
 *   - The owner (UDP demultiplexer, ICE agent wrapper) fills ops and impl
 *     and calls p2p_dgram_deliver for every datagram that arrives, on the
 *     loop's thread.
 *   - The user (a DTLS link) sets on_recv, on_gone and arg, sends with
 *     p2p_dgram_send and ends the path with p2p_dgram_close. After close
 *     the owner calls nothing more on the path.
 *   - on_gone is called once if the owner loses the path (ICE failed, the
 *     socket closed); the user must not touch the path after that.
 */
#ifndef P2P_DGRAM_H
#define P2P_DGRAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct p2p_dgram p2p_dgram;

typedef struct p2p_dgram_ops {
	/* Send one datagram; 0, or -1 if it could not be queued. */
	int (*send)(p2p_dgram *d, const uint8_t *buf, size_t len);
	/* The user is done with the path; the owner may free it. */
	void (*close)(p2p_dgram *d);
} p2p_dgram_ops;

struct p2p_dgram {
	const p2p_dgram_ops *ops;
	void *impl;		/* the owner's */
	char peer[64];		/* printable remote address, for logs */
	size_t mtu;		/* largest datagram the path should carry */
	/* The user's: */
	void (*on_recv)(p2p_dgram *d, const uint8_t *buf, size_t len,
	    void *arg);
	void (*on_gone)(p2p_dgram *d, const char *why, void *arg);
	void *arg;
};

static inline int
p2p_dgram_send(p2p_dgram *d, const uint8_t *buf, size_t len)
{
	return d->ops->send(d, buf, len);
}

static inline void
p2p_dgram_close(p2p_dgram *d)
{
	d->ops->close(d);
}

static inline void
p2p_dgram_deliver(p2p_dgram *d, const uint8_t *buf, size_t len)
{
	if (d->on_recv != NULL)
		d->on_recv(d, buf, len, d->arg);
}

#endif
