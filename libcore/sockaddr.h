/*
 * sockaddr: the few things the socket modules (tls, udpmux, media_rtp)
 * do with IPv4 and IPv6 socket addresses: make one from a numeric IP and
 * a port, print it as "ip:port" or "[ip]:port", read its port, compare
 * two, and give the length the kernel expects.
 *
 * Only numeric addresses: an IPv6 literal is told from an IPv4 one by its
 * colon, and nothing is looked up in DNS. A family other than AF_INET and
 * AF_INET6 is "no address": it prints as "?", has no port, equals nothing.
 */
#ifndef P2P_SOCKADDR_H
#define P2P_SOCKADDR_H

#include <stddef.h>

#include <uv.h>

/* Longest "[ip]:port" p2p_sa_name writes, with the NUL. */
#define P2P_SA_NAMELEN	(INET6_ADDRSTRLEN + 8)

/*
 * Fill ss (zeroed first) with ip:port. 0, or UV_EINVAL for a NULL or
 * non-numeric ip or a port outside 0..65535.
 */
int p2p_sa_parse(const char *ip, int port, struct sockaddr_storage *ss);

/*
 * The address alone into ip (iplen bytes, "?" when sa is no address) and
 * "ip:port" or "[ip]:port" into full ("?" too); either may be NULL.
 */
void p2p_sa_name(const struct sockaddr *sa, char *ip, size_t iplen,
    char *full, size_t fulllen);

/* The port (host order), or -1 when sa is no address. */
int p2p_sa_port(const struct sockaddr *sa);

/* Same family, address and port? */
int p2p_sa_eq(const struct sockaddr *a, const struct sockaddr *b);

/* The length of sa's family's structure (sockaddr_in for no address). */
socklen_t p2p_sa_len(const struct sockaddr *sa);

#endif
