/*
 * sockaddr: IPv4 and IPv6 socket address helpers. See sockaddr.h.
 */
#include <stdio.h>
#include <string.h>

#include "sockaddr.h"

int
p2p_sa_parse(const char *ip, int port, struct sockaddr_storage *ss)
{
	int rc;

	memset(ss, 0, sizeof(*ss));
	if (ip == NULL || port < 0 || port > 65535)
		return UV_EINVAL;
	if (strchr(ip, ':') != NULL)
		rc = uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss);
	else
		rc = uv_ip4_addr(ip, port, (struct sockaddr_in *)ss);
	if (rc != 0) {
		memset(ss, 0, sizeof(*ss));
		return UV_EINVAL;
	}
	return 0;
}

void
p2p_sa_name(const struct sockaddr *sa, char *ip, size_t iplen, char *full,
    size_t fulllen)
{
	char a[INET6_ADDRSTRLEN] = "?";
	int port = p2p_sa_port(sa), rc = -1;

	if (sa->sa_family == AF_INET6)
		rc = uv_ip6_name((const struct sockaddr_in6 *)sa, a, sizeof(a));
	else if (sa->sa_family == AF_INET)
		rc = uv_ip4_name((const struct sockaddr_in *)sa, a, sizeof(a));
	if (rc != 0) {
		snprintf(a, sizeof(a), "?");
		port = -1;
	}
	if (ip != NULL)
		snprintf(ip, iplen, "%s", a);
	if (full == NULL)
		return;
	if (port < 0)
		snprintf(full, fulllen, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(full, fulllen, "[%s]:%d", a, port);
	else
		snprintf(full, fulllen, "%s:%d", a, port);
}

int
p2p_sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

int
p2p_sa_eq(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a;
		const struct sockaddr_in *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a;
		const struct sockaddr_in6 *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

socklen_t
p2p_sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}
