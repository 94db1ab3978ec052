/*
 * node_stun: which of the configuration's STUN servers answer.
 *
 * Every ICE agent of the node (Attach, AppAttach, and p2p-call's media
 * through sip.status) gathers a server-reflexive candidate from one STUN
 * server. A server that does not answer costs each gathering libnice's
 * whole STUN retransmission time (seconds) and yields no candidate; with
 * several servers configured, the first was used whether it answered or
 * not. So the node asks each <stun-server> of the configuration for a
 * Binding (stunbind.h) from a UDP socket of its own, on start and then
 * every STUN_RECHECK_OK_MS (STUN_RECHECK_BAD_MS for one that did not
 * answer), and the agents get the first server that answered; before any
 * answer, the first one not known to be silent; none when every server
 * is silent or refuses. A change is logged (silent: a warning).
 *
 * The sockets are bound to the node's listen address when it names one
 * of the server's family (the path the agents' candidates take), else to
 * the wildcard address. A probe sends at 0, 250, 750 and 1750 ms and
 * gives up at 3750 ms.
 */
#include "node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sockaddr.h"
#include "stunbind.h"

#define STUN_RTO_MS		250
#define STUN_SENDS		4
#define STUN_RECHECK_OK_MS	(300 * 1000)
#define STUN_RECHECK_BAD_MS	(30 * 1000)

enum { SW_UNKNOWN = 0, SW_ANSWERING, SW_SILENT, SW_REFUSED };
static const char *const sw_names[] = { "unknown", "answering", "silent",
    "refused" };

typedef struct stun_watch {
	uv_udp_t udp;		/* first: the close callback frees the watch */
	p2p_node *n;		/* NULL once the node let it go */
	struct sockaddr_storage sa;
	char host[64];		/* as configured */
	uint16_t port;
	char name[P2P_SA_NAMELEN];
	int state;
	p2p_stunbind *b;
	uint8_t req[P2P_STUNBIND_REQ_MAX];
	size_t reqlen;
	int sends;		/* of the probe under way; 0: none */
	uint64_t due;		/* next send, end of the probe, next probe */
	char mapped[P2P_SA_NAMELEN];
} stun_watch;

typedef struct stun_state {
	stun_watch *w[P2P_CONFIG_MAX_ICE_SERVERS];
	size_t n;
	uint64_t retry_at;	/* after a watch could not be made */
} stun_state;

static void
on_closed(uv_handle_t *h)
{
	stun_watch *w = (stun_watch *)h;

	p2p_stunbind_free(w->b);
	free(w);
}

static void
set_state(stun_watch *w, int st, const char *why)
{
	p2p_node *n = w->n;

	if (w->state == st)
		return;
	if (st == SW_ANSWERING)
		node_log(n, w->state == SW_UNKNOWN ? NLOG_DEBUG : NLOG_INFO,
		    "STUN server %s answers (it sees us at %s)", w->name,
		    w->mapped);
	else
		node_log(n, NLOG_WARN, "STUN server %s %s: ICE gathers "
		    "without it", w->name, why);
	w->state = st;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	static char space[P2P_STUNBIND_MAX];

	(void)h;
	(void)hint;
	*buf = uv_buf_init(space, sizeof(space));
}

static void
on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *from, unsigned flags)
{
	stun_watch *w = (stun_watch *)u;
	struct sockaddr_storage mapped;
	socklen_t mlen;

	if (w->n == NULL || nread <= 0 || from == NULL ||
	    (flags & UV_UDP_PARTIAL) || w->sends == 0 ||
	    !p2p_sa_eq(from, (const struct sockaddr *)&w->sa))
		return;
	switch (p2p_stunbind_answer(w->b, (const uint8_t *)buf->base,
	    (size_t)nread, &mapped, &mlen)) {
	case P2P_STUNBIND_MAPPED:
		p2p_sa_name((struct sockaddr *)&mapped, NULL, 0, w->mapped,
		    sizeof(w->mapped));
		w->sends = 0;
		w->due = node_now(w->n) + STUN_RECHECK_OK_MS;
		set_state(w, SW_ANSWERING, NULL);
		break;
	case P2P_STUNBIND_REFUSED:
		w->sends = 0;
		w->due = node_now(w->n) + STUN_RECHECK_BAD_MS;
		set_state(w, SW_REFUSED, "refuses a Binding request");
		break;
	default:
		break;
	}
}

static stun_watch *
watch_new(p2p_node *n, const p2p_ice_server_cfg *c, uint64_t now)
{
	struct sockaddr_storage local;
	const char *any;
	stun_watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->n = n;
	w->port = c->port;
	w->due = now;
	snprintf(w->host, sizeof(w->host), "%s", c->address);
	if (p2p_sa_parse(c->address, c->port, &w->sa) != 0 ||
	    (w->b = p2p_stunbind_new()) == NULL) {
		free(w);
		return NULL;
	}
	p2p_sa_name((struct sockaddr *)&w->sa, NULL, 0, w->name,
	    sizeof(w->name));
	snprintf(w->mapped, sizeof(w->mapped), "?");
	any = w->sa.ss_family == AF_INET6 ? "::" : "0.0.0.0";
	if (p2p_sa_parse(n->listen_ip, 0, &local) != 0 ||
	    local.ss_family != w->sa.ss_family)
		(void)p2p_sa_parse(any, 0, &local);
	if (uv_udp_init(n->loop, &w->udp) != 0) {
		p2p_stunbind_free(w->b);
		free(w);
		return NULL;
	}
	if (uv_udp_bind(&w->udp, (struct sockaddr *)&local, 0) != 0 ||
	    uv_udp_recv_start(&w->udp, on_alloc, on_recv) != 0) {
		node_log(n, NLOG_WARN, "STUN server %s: no socket to ask it "
		    "from", w->name);
		w->n = NULL;
		uv_close((uv_handle_t *)&w->udp, on_closed);
		return NULL;
	}
	return w;
}

static void
watches_close(stun_state *s)
{
	for (size_t i = 0; i < s->n; i++) {
		s->w[i]->n = NULL;
		uv_close((uv_handle_t *)&s->w[i]->udp, on_closed);
	}
	s->n = 0;
}

/* Do the watches follow the configuration's list (it may have changed
 * with a ConfigUpdate)? */
static int
watches_current(const p2p_node *n, const stun_state *s)
{
	if (s->n != n->cfg.nstun_servers)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->w[i]->port != n->cfg.stun_servers[i].port ||
		    strcmp(s->w[i]->host, n->cfg.stun_servers[i].address) != 0)
			return 0;
	return 1;
}

static void
send_probe(stun_watch *w)
{
	uv_buf_t b = uv_buf_init((char *)w->req, (unsigned)w->reqlen);

	/* Lost like any datagram when the kernel will not take it now. */
	(void)uv_udp_try_send(&w->udp, &b, 1, (struct sockaddr *)&w->sa);
}

static void
watch_tick(stun_watch *w, uint64_t now)
{
	if (now < w->due)
		return;
	if (w->sends == 0) {
		if ((w->reqlen = p2p_stunbind_request(w->b, w->req,
		    sizeof(w->req))) == 0) {
			w->due = now + STUN_RECHECK_BAD_MS;
			return;
		}
		send_probe(w);
		w->sends = 1;
		w->due = now + STUN_RTO_MS;
	} else if (w->sends < STUN_SENDS) {
		send_probe(w);
		w->due = now + ((uint64_t)STUN_RTO_MS << w->sends);
		w->sends++;
	} else {
		w->sends = 0;
		w->due = now + STUN_RECHECK_BAD_MS;
		set_state(w, SW_SILENT, "does not answer");
	}
}

void
stun_tick(p2p_node *n, uint64_t now)
{
	stun_state *s = n->stun;

	if (n->ice == NULL || n->cfg.nstun_servers == 0) {
		if (s != NULL)
			watches_close(s);
		return;
	}
	if (s == NULL && (s = n->stun = calloc(1, sizeof(*s))) == NULL)
		return;
	if (!watches_current(n, s)) {
		watches_close(s);
		if (now < s->retry_at)
			return;
		for (size_t i = 0; i < n->cfg.nstun_servers &&
		    i < P2P_CONFIG_MAX_ICE_SERVERS; i++) {
			stun_watch *w = watch_new(n, &n->cfg.stun_servers[i],
			    now);
			if (w == NULL) {
				watches_close(s);
				s->retry_at = now + STUN_RECHECK_BAD_MS;
				return;
			}
			s->w[s->n++] = w;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		watch_tick(s->w[i], now);
}

uint64_t
stun_next_due(p2p_node *n)
{
	stun_state *s = n->stun;
	uint64_t t = UINT64_MAX;

	if (n->ice == NULL || n->cfg.nstun_servers == 0)
		return s != NULL && s->n > 0 ? 0 : UINT64_MAX;
	if (s == NULL)
		return 0;
	if (!watches_current(n, s))
		return s->retry_at;
	for (size_t i = 0; i < s->n; i++)
		if (s->w[i]->due < t)
			t = s->w[i]->due;
	return t;
}

/*
 * The STUN server for an agent: the first that answered, else the first
 * not yet known to be silent or refusing, else none (0). Before the
 * watches exist: the configuration's first.
 */
int
stun_server_pick(p2p_node *n, const p2p_ice_server_cfg **out)
{
	stun_state *s = n->stun;

	*out = NULL;
	if (n->cfg.nstun_servers == 0)
		return 0;
	if (s == NULL || !watches_current(n, s)) {
		*out = &n->cfg.stun_servers[0];
		return 1;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->w[i]->state == SW_ANSWERING) {
			*out = &n->cfg.stun_servers[i];
			return 1;
		}
	for (size_t i = 0; i < s->n; i++)
		if (s->w[i]->state == SW_UNKNOWN) {
			*out = &n->cfg.stun_servers[i];
			return 1;
		}
	return 0;
}

json_t *
stun_json(p2p_node *n)
{
	stun_state *s = n->stun;
	const p2p_ice_server_cfg *use = NULL;
	json_t *a;

	if (n->ice == NULL)
		return json_null();
	(void)stun_server_pick(n, &use);
	a = json_array();
	for (size_t i = 0; i < n->cfg.nstun_servers; i++) {
		const p2p_ice_server_cfg *c = &n->cfg.stun_servers[i];
		stun_watch *w = s != NULL && watches_current(n, s) ?
		    s->w[i] : NULL;
		json_array_append_new(a, json_pack("{s:s,s:i,s:s,s:o,s:b}",
		    "address", c->address, "port", (int)c->port,
		    "state", sw_names[w != NULL ? w->state : SW_UNKNOWN],
		    "mapped", w != NULL && w->state == SW_ANSWERING ?
		    json_string(w->mapped) : json_null(),
		    "in_use", use == c));
	}
	return a;
}

void
stun_stop(p2p_node *n)
{
	stun_state *s = n->stun;

	if (s == NULL)
		return;
	watches_close(s);
	free(s);
	n->stun = NULL;
}
