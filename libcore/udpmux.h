/*
 * udpmux: one UDP socket shared by many datagram paths (dgram.h), told
 * apart by the source address: the no-ICE transport of DTLS links
 * (DTLS-UDP-SR-NO-ICE, RFC 6940 s6.6.2).
 *
 * A datagram from an address that has a path goes to that path. One from
 * an unknown address goes to the new-source callback, which decides
 * (for DTLS: p2p_dtls_listen's cookie check) whether to make a path for
 * it with p2p_udpmux_path, answer it with p2p_udpmux_sendto, or ignore
 * it. The number of paths is bounded.
 *
 * Sending never blocks and never queues: a datagram the kernel will not
 * take at once is lost, as it could be on the way.
 */
#ifndef P2P_UDPMUX_H
#define P2P_UDPMUX_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dgram.h"

/* What the paths report as their MTU: fits IPv6's 1280 with headers. */
#define P2P_UDPMUX_MTU	1200

typedef struct p2p_udpmux p2p_udpmux;

/* from is valid for the call only; name is its printable form. */
typedef void (*p2p_udpmux_new_cb)(p2p_udpmux *m, const struct sockaddr *from,
    const char *name, const uint8_t *buf, size_t len, void *arg);

/*
 * Bind ip:port (port 0 picks one) and start receiving. max_paths bounds
 * the live paths (0: 512). 0 or a negative libuv error code.
 */
int p2p_udpmux_open(uv_loop_t *loop, const char *ip, int port,
    unsigned max_paths, p2p_udpmux_new_cb cb, void *arg, p2p_udpmux **out);
int p2p_udpmux_port(const p2p_udpmux *m);
unsigned p2p_udpmux_count(const p2p_udpmux *m);

/*
 * A path to addr. NULL if there is one to that address already, the
 * bound is reached or memory is short. The path is the caller's until it
 * calls p2p_dgram_close (or on_gone says the socket closed).
 */
p2p_dgram *p2p_udpmux_path(p2p_udpmux *m, const struct sockaddr *to);
/* The same with a literal address; NULL also for a bad address. */
p2p_dgram *p2p_udpmux_path_to(p2p_udpmux *m, const char *ip, int port);
/* One datagram to any address (a HelloVerifyRequest); 0 or -1. */
int p2p_udpmux_sendto(p2p_udpmux *m, const struct sockaddr *to,
    const uint8_t *buf, size_t len);
/* Close the socket: every path gets on_gone; freed from the loop. */
void p2p_udpmux_close(p2p_udpmux *m);

#endif
