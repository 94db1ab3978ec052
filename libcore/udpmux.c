/*
 * udpmux: one UDP socket, many paths told apart by source address. See
 * udpmux.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockaddr.h"
#include "udpmux.h"

#define DEF_MAX_PATHS	512
#define RECV_MAX	65536

struct mux_path {
	p2p_dgram d;
	p2p_udpmux *m;
	struct sockaddr_storage addr;
	struct mux_path *next;
};

struct p2p_udpmux {
	uv_udp_t udp;
	uv_loop_t *loop;
	p2p_udpmux_new_cb on_new;
	void *arg;
	struct mux_path *paths;
	unsigned npaths, max_paths;
	int closing;
	uint8_t rbuf[RECV_MAX];
};

int
p2p_udpmux_sendto(p2p_udpmux *m, const struct sockaddr *to,
    const uint8_t *buf, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);

	if (m->closing || len == 0 || len > RECV_MAX)
		return -1;
	return uv_udp_try_send(&m->udp, &b, 1, to) == (int)len ? 0 : -1;
}

/* ---- paths ---- */

static int
path_send(p2p_dgram *d, const uint8_t *buf, size_t len)
{
	struct mux_path *p = d->impl;

	return p2p_udpmux_sendto(p->m, (const struct sockaddr *)&p->addr, buf,
	    len);
}

static void
path_unlink(struct mux_path *p)
{
	p2p_udpmux *m = p->m;

	for (struct mux_path **pp = &m->paths; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			m->npaths--;
			return;
		}
	}
}

static void
path_close(p2p_dgram *d)
{
	struct mux_path *p = d->impl;

	path_unlink(p);
	free(p);
}

static const p2p_dgram_ops path_ops = { path_send, path_close };

static struct mux_path *
path_find(p2p_udpmux *m, const struct sockaddr *sa)
{
	for (struct mux_path *p = m->paths; p != NULL; p = p->next)
		if (p2p_sa_eq((const struct sockaddr *)&p->addr, sa))
			return p;
	return NULL;
}

p2p_dgram *
p2p_udpmux_path(p2p_udpmux *m, const struct sockaddr *to)
{
	struct mux_path *p;

	if (m->closing || m->npaths >= m->max_paths ||
	    (to->sa_family != AF_INET && to->sa_family != AF_INET6) ||
	    path_find(m, to) != NULL)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	memcpy(&p->addr, to, p2p_sa_len(to));
	p->m = m;
	p->d.ops = &path_ops;
	p->d.impl = p;
	p->d.mtu = P2P_UDPMUX_MTU;
	p2p_sa_name(to, NULL, 0, p->d.peer, sizeof(p->d.peer));
	p->next = m->paths;
	m->paths = p;
	m->npaths++;
	return &p->d;
}

p2p_dgram *
p2p_udpmux_path_to(p2p_udpmux *m, const char *ip, int port)
{
	struct sockaddr_storage ss;

	if (p2p_sa_parse(ip, port, &ss) != 0)
		return NULL;
	return p2p_udpmux_path(m, (const struct sockaddr *)&ss);
}

/* ---- the socket ---- */

static void
mux_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	p2p_udpmux *m = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)m->rbuf, sizeof(m->rbuf));
}

static void
mux_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *from, unsigned flags)
{
	p2p_udpmux *m = u->data;
	struct mux_path *p;
	char name[P2P_SA_NAMELEN];

	(void)buf;
	if (nread <= 0 || from == NULL || m->closing ||
	    (flags & UV_UDP_PARTIAL))
		return;
	if ((p = path_find(m, from)) != NULL) {
		p2p_dgram_deliver(&p->d, m->rbuf, (size_t)nread);
		return;
	}
	if (m->on_new == NULL)
		return;
	p2p_sa_name(from, NULL, 0, name, sizeof(name));
	m->on_new(m, from, name, m->rbuf, (size_t)nread, m->arg);
}

static void
mux_closed(uv_handle_t *h)
{
	free(h->data);
}

int
p2p_udpmux_open(uv_loop_t *loop, const char *ip, int port,
    unsigned max_paths, p2p_udpmux_new_cb cb, void *arg, p2p_udpmux **out)
{
	struct sockaddr_storage ss;
	p2p_udpmux *m;
	int rc;

	*out = NULL;
	if ((rc = p2p_sa_parse(ip, port, &ss)) != 0)
		return rc;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return UV_ENOMEM;
	m->loop = loop;
	m->on_new = cb;
	m->arg = arg;
	m->max_paths = max_paths > 0 ? max_paths : DEF_MAX_PATHS;
	uv_udp_init(loop, &m->udp);
	m->udp.data = m;
	if ((rc = uv_udp_bind(&m->udp, (const struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_udp_recv_start(&m->udp, mux_alloc, mux_recv)) != 0) {
		m->closing = 1;
		uv_close((uv_handle_t *)&m->udp, mux_closed);
		return rc;
	}
	*out = m;
	return 0;
}

int
p2p_udpmux_port(const p2p_udpmux *m)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_udp_getsockname(&m->udp, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	return p2p_sa_port((const struct sockaddr *)&ss);
}

unsigned
p2p_udpmux_count(const p2p_udpmux *m)
{
	return m->npaths;
}

void
p2p_udpmux_close(p2p_udpmux *m)
{
	struct mux_path *p;

	if (m == NULL || m->closing)
		return;
	m->closing = 1;
	uv_udp_recv_stop(&m->udp);
	while ((p = m->paths) != NULL) {
		m->paths = p->next;
		m->npaths--;
		if (p->d.on_gone != NULL)
			p->d.on_gone(&p->d, "socket closed", p->d.arg);
		free(p);
	}
	uv_close((uv_handle_t *)&m->udp, mux_closed);
}
