/*
 * node_stun: which of the STUN and TURN servers the ICE agents would use
 * answer at all.
 *
 * Every ICE agent of the node (Attach, AppAttach, and p2p-call's media
 * through sip.status) gathers a server-reflexive candidate from one STUN
 * server and relayed candidates from up to four TURN servers (the
 * configuration's, then those found in the overlay). A server that does
 * not answer costs each gathering libnice's whole retransmission time
 * (seconds) and yields nothing; with several STUN servers configured, the
 * first was used whether it answered or not; a TURN server found in the
 * overlay stays advertised after its host is gone until its value
 * expires. So the node watches each: from a UDP socket of its own it
 * sends a STUN server a Binding request and a TURN server an Allocate
 * request without credentials (stunbind.h; a live TURN server answers it
 * with an error), on first use and then every RECHECK_OK_MS
 * (RECHECK_BAD_MS for one that did not answer). The agents get the first
 * STUN server that answered, before any answer the first one not known
 * to be silent, none when every one is silent or refuses; and every TURN
 * server but those known to be silent. A change is logged (silent: a
 * warning).
 *
 * The set of watches follows the configuration (a ConfigUpdate may
 * change it) and the TURN servers found; it is brought up to date on the
 * timer and whenever agents are configured. The sockets are bound to the
 * node's listen address when it names one of the server's family (the
 * path the agents' candidates take), else to the wildcard address. A
 * probe sends at 0, 250, 750 and 1750 ms and gives up at 3750 ms.
 */
#include "node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ice.h"
#include "sockaddr.h"
#include "stunbind.h"

#define RTO_MS		250
#define SENDS		4
#define RECHECK_OK_MS	(300 * 1000)
#define RECHECK_BAD_MS	(30 * 1000)
#define MAX_WATCHES	(P2P_CONFIG_MAX_ICE_SERVERS + 2 * P2P_ICE_MAX_TURN)

enum { SW_UNKNOWN = 0, SW_ANSWERING, SW_SILENT, SW_REFUSED };
static const char *const sw_names[] = { "unknown", "answering", "silent",
    "refused" };

typedef struct stun_watch {
	uv_udp_t udp;		/* first: the close callback frees the watch */
	p2p_node *n;		/* NULL once the node let it go */
	int turn;		/* a TURN server (Allocate), else STUN */
	struct sockaddr_storage sa;
	char host[64];		/* as the agents get it */
	uint16_t port;
	char name[P2P_SA_NAMELEN];
	int state;
	p2p_stunbind *b;
	uint8_t req[P2P_STUNBIND_REQ_MAX];
	size_t reqlen;
	int sends;		/* of the probe under way; 0: none */
	uint64_t due;		/* next send, end of the probe, next probe */
	char mapped[P2P_SA_NAMELEN];
	int keep;		/* stun_sync's mark */
} stun_watch;

typedef struct stun_state {
	stun_watch *w[MAX_WATCHES];
	size_t n;
	uint64_t retry_at;	/* after a watch could not be made */
} stun_state;

/* One server the agents may be given. */
typedef struct wanted {
	int turn;
	const char *host;
	uint16_t port;
} wanted;

static const char *
kind_name(const stun_watch *w)
{
	return w->turn ? "TURN" : "STUN";
}

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
	if (st == SW_ANSWERING && !w->turn)
		node_log(n, w->state == SW_UNKNOWN ? NLOG_DEBUG : NLOG_INFO,
		    "STUN server %s answers (it sees us at %s)", w->name,
		    w->mapped);
	else if (st == SW_ANSWERING)
		node_log(n, w->state == SW_UNKNOWN ? NLOG_DEBUG : NLOG_INFO,
		    "TURN server %s answers", w->name);
	else
		node_log(n, NLOG_WARN, "%s server %s %s: ICE gathers "
		    "without it", kind_name(w), w->name, why);
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
	enum p2p_stunbind_res r;

	if (w->n == NULL || nread <= 0 || from == NULL ||
	    (flags & UV_UDP_PARTIAL) || w->sends == 0 ||
	    !p2p_sa_eq(from, (const struct sockaddr *)&w->sa))
		return;
	r = p2p_stunbind_answer(w->b, (const uint8_t *)buf->base,
	    (size_t)nread, &mapped, &mlen);
	if (r == P2P_STUNBIND_NOT_OURS)
		return;
	w->sends = 0;
	if (r == P2P_STUNBIND_MAPPED)
		p2p_sa_name((struct sockaddr *)&mapped, NULL, 0, w->mapped,
		    sizeof(w->mapped));
	/* A TURN server answers the Allocate without credentials with an
	 * error: it is there. A STUN server that refuses a Binding is of
	 * no use. */
	if (r == P2P_STUNBIND_MAPPED || w->turn) {
		w->due = node_now(w->n) + RECHECK_OK_MS;
		set_state(w, SW_ANSWERING, NULL);
	} else {
		w->due = node_now(w->n) + RECHECK_BAD_MS;
		set_state(w, SW_REFUSED, "refuses a Binding request");
	}
}

static stun_watch *
watch_new(p2p_node *n, const wanted *x, uint64_t now)
{
	struct sockaddr_storage local;
	const char *any;
	stun_watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->n = n;
	w->turn = x->turn;
	w->port = x->port;
	w->due = now;
	snprintf(w->host, sizeof(w->host), "%s", x->host);
	if (p2p_sa_parse(x->host, x->port, &w->sa) != 0 ||
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
		node_log(n, NLOG_WARN, "%s server %s: no socket to ask it "
		    "from", kind_name(w), w->name);
		w->n = NULL;
		uv_close((uv_handle_t *)&w->udp, on_closed);
		return NULL;
	}
	return w;
}

static void
watch_close(stun_watch *w)
{
	w->n = NULL;
	uv_close((uv_handle_t *)&w->udp, on_closed);
}

static int
watch_is(const stun_watch *w, int turn, const char *host, uint16_t port)
{
	return w->turn == turn && w->port == port &&
	    strcmp(w->host, host) == 0;
}

/* The servers the agents may be given, in the order they are tried:
 * the configuration's STUN servers, its TURN servers with credentials,
 * the TURN servers found in the overlay. */
static size_t
wanted_list(p2p_node *n, wanted *out, p2p_ice_server *found)
{
	const p2p_config *cfg = &n->cfg;
	size_t k = 0, nf;

	if (n->ice == NULL)
		return 0;
	for (size_t i = 0; i < cfg->nstun_servers && k < MAX_WATCHES; i++)
		out[k++] = (wanted){ 0, cfg->stun_servers[i].address,
		    cfg->stun_servers[i].port };
	for (size_t i = 0; i < cfg->nturn_servers && k < MAX_WATCHES; i++) {
		const p2p_ice_server_cfg *c = &cfg->turn_servers[i];
		if ((c->username != NULL ? c->username :
		    cfg->turn_username) != NULL)
			out[k++] = (wanted){ 1, c->address, c->port };
	}
	nf = turnsvc_ice_servers(n, found, P2P_ICE_MAX_TURN);
	for (size_t i = 0; i < nf && k < MAX_WATCHES; i++)
		out[k++] = (wanted){ 1, found[i].host, found[i].port };
	return k;
}

/* Bring the watches in line with the servers wanted: keep those still
 * wanted, close the others, make the new ones. */
static void
stun_sync(p2p_node *n, uint64_t now)
{
	stun_state *s = n->stun;
	p2p_ice_server found[P2P_ICE_MAX_TURN];
	wanted want[MAX_WATCHES];
	stun_watch *next[MAX_WATCHES];
	size_t nw, k = 0;

	if (n->stopping)
		return;
	nw = wanted_list(n, want, found);
	if (s == NULL && (n->ice == NULL ||
	    (s = n->stun = calloc(1, sizeof(*s))) == NULL))
		return;
	for (size_t i = 0; i < s->n; i++)
		s->w[i]->keep = 0;
	for (size_t j = 0; j < nw; j++) {
		stun_watch *w = NULL;
		int dup = 0;
		for (size_t i = 0; i < j; i++)
			dup |= want[i].turn == want[j].turn &&
			    want[i].port == want[j].port &&
			    strcmp(want[i].host, want[j].host) == 0;
		if (dup)
			continue;
		for (size_t i = 0; i < s->n && w == NULL; i++)
			if (!s->w[i]->keep && watch_is(s->w[i], want[j].turn,
			    want[j].host, want[j].port))
				w = s->w[i];
		if (w == NULL && now >= s->retry_at &&
		    (w = watch_new(n, &want[j], now)) == NULL)
			s->retry_at = now + RECHECK_BAD_MS;
		if (w != NULL) {
			w->keep = 1;
			next[k++] = w;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		if (!s->w[i]->keep)
			watch_close(s->w[i]);
	memcpy(s->w, next, k * sizeof(next[0]));
	s->n = k;
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
		if ((w->reqlen = p2p_stunbind_request(w->b, w->turn, w->req,
		    sizeof(w->req))) == 0) {
			w->due = now + RECHECK_BAD_MS;
			return;
		}
		send_probe(w);
		w->sends = 1;
		w->due = now + RTO_MS;
	} else if (w->sends < SENDS) {
		send_probe(w);
		w->due = now + ((uint64_t)RTO_MS << w->sends);
		w->sends++;
	} else {
		w->sends = 0;
		w->due = now + RECHECK_BAD_MS;
		set_state(w, SW_SILENT, "does not answer");
	}
}

void
stun_tick(p2p_node *n, uint64_t now)
{
	stun_sync(n, now);
	if (n->stun == NULL)
		return;
	for (size_t i = 0; i < n->stun->n; i++)
		watch_tick(n->stun->w[i], now);
}

uint64_t
stun_next_due(p2p_node *n)
{
	stun_state *s = n->stun;
	uint64_t t = UINT64_MAX;

	if (s == NULL)		/* the first tick makes the state */
		return n->ice != NULL ? 0 : UINT64_MAX;
	for (size_t i = 0; i < s->n; i++)
		if (s->w[i]->due < t)
			t = s->w[i]->due;
	return t;
}

static stun_watch *
find(p2p_node *n, int turn, const char *host, uint16_t port)
{
	stun_state *s = n->stun;

	for (size_t i = 0; s != NULL && i < s->n; i++)
		if (watch_is(s->w[i], turn, host, port))
			return s->w[i];
	return NULL;
}

int
stun_server_pick(p2p_node *n, const p2p_ice_server_cfg **out)
{
	const p2p_config *cfg = &n->cfg;
	stun_watch *w;

	*out = NULL;
	stun_sync(n, node_now(n));
	for (int want = SW_ANSWERING; *out == NULL && want >= SW_UNKNOWN;
	    want--)
		for (size_t i = 0; i < cfg->nstun_servers && *out == NULL;
		    i++) {
			w = find(n, 0, cfg->stun_servers[i].address,
			    cfg->stun_servers[i].port);
			if ((w != NULL ? w->state : SW_UNKNOWN) == want)
				*out = &cfg->stun_servers[i];
		}
	return *out != NULL;
}

int
stun_turn_usable(p2p_node *n, const char *host, uint16_t port)
{
	stun_watch *w = find(n, 1, host, port);

	return w == NULL || w->state != SW_SILENT;
}

json_t *
stun_json(p2p_node *n)
{
	stun_state *s;
	const p2p_ice_server_cfg *use = NULL;
	p2p_ice_cfg c;
	json_t *a;

	if (n->ice == NULL)
		return json_null();
	ice_agent_cfg(n, &c);
	(void)stun_server_pick(n, &use);
	s = n->stun;
	a = json_array();
	for (size_t i = 0; s != NULL && i < s->n; i++) {
		stun_watch *w = s->w[i];
		int in_use = 0;
		if (!w->turn)
			in_use = use != NULL && use->port == w->port &&
			    strcmp(use->address, w->host) == 0;
		for (size_t j = 0; w->turn && j < c.nturn; j++)
			if (c.turn[j].port == w->port &&
			    strcmp(c.turn[j].host, w->host) == 0)
				in_use = 1;
		json_array_append_new(a, json_pack(
		    "{s:s,s:s,s:i,s:s,s:o,s:b}", "kind", w->turn ? "turn" :
		    "stun", "address", w->host, "port", (int)w->port,
		    "state", sw_names[w->state], "mapped",
		    !w->turn && w->state == SW_ANSWERING ?
		    json_string(w->mapped) : json_null(), "in_use", in_use));
	}
	return a;
}

void
stun_stop(p2p_node *n)
{
	stun_state *s = n->stun;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		watch_close(s->w[i]);
	free(s);
	n->stun = NULL;
}
