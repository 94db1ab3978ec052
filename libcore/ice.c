/*
 * ice: RELOAD's ICE agents on libnice.
 *
 * Why libnice: it is the ICE library Debian ships (libnice-dev); libjuice,
 * the smaller alternative, is not packaged in Debian 12. libnice does
 * full ICE (RFC 8445's regular nomination with NICE_AGENT_OPTION_REGULAR_
 * NOMINATION, RFC 7675 consent freshness), STUN and TURN (UDP), which is
 * what an Attach needs; we use its UDP candidates only (RELOAD's ICE
 * overlay links are DTLS over UDP).
 *
 * Two loops. libnice runs its sockets and timers on a GLib main context;
 * the node runs everything else on one libuv loop and is single-threaded.
 * Polling the GLib context's descriptors from libuv would need a
 * prepare/query/check/dispatch cycle glued to uv_prepare/uv_check and a
 * timer per context timeout; instead the context runs in a thread of its
 * own (one for all agents of a p2p_ice_ctx), and the two sides meet at
 * one locked queue:
 *   - Whatever libnice reports (gathering done, a component state, a
 *     received datagram) becomes an event, is appended to the queue under
 *     the mutex and wakes the loop with uv_async_send. Signal handlers do
 *     nothing else, since libnice may emit a signal in whichever thread
 *     released its agent lock: the GLib thread or the loop's thread inside
 *     a nice_agent_* call. Datagrams are copied; the queue is bounded in
 *     bytes and drops datagrams past that, as UDP may.
 *   - The loop's thread takes the events in order and calls the user's
 *     callbacks. It calls libnice directly (gather, credentials, remote
 *     candidates, send): the agent API is thread-safe under libnice's
 *     agent lock.
 *   - An agent is ended in the GLib thread (handlers disconnected, the
 *     receive callback detached, nice_agent_close_async to free TURN
 *     allocations, then unref); the last event for it, RELEASED, tells the
 *     loop to free the memory. Until then the loop ignores its events.
 *     p2p_ice_ctx_free waits a bounded time for releases under way, then
 *     stops and joins the thread.
 * A uv_timer checks the deadline of agents that are neither connected nor
 * failed (libnice reports no failure while, say, no remote candidate was
 * set, or a STUN server does not answer).
 *
 * Datagrams that arrive before the agent reports its pair (the peer
 * reached its selected pair first and already sends) are kept, a few, and
 * delivered after on_connected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nice/agent.h>

#include "ice.h"

#define ICE_MAX_CANDS 16
#define ICE_MAX_EARLY 16
#define ICE_QUEUE_BYTES (4u << 20)
#define ICE_TICK_MS 200
#define ICE_DEFAULT_TIMEOUT_MS 20000
#define ICE_RELEASE_WAIT_US (5 * G_TIME_SPAN_SECOND)
#define ICE_MTU 1200

enum ev_type { EV_GATHERED, EV_STATE, EV_RECV, EV_RELEASED };

typedef struct ice_ev {
	struct ice_ev *next;
	p2p_ice *ice;
	int type;
	guint state;		/* EV_STATE: a NiceComponentState */
	size_t len;		/* EV_RECV */
	uint8_t data[];
} ice_ev;

enum phase {
	PH_NEW = 0, PH_GATHERING, PH_GATHERED, PH_CONNECTED, PH_FAILED,
	PH_DEAD,
};

struct p2p_ice_ctx {
	uv_loop_t *loop;
	uv_async_t async;
	uv_timer_t timer;
	int nclosing;
	GMainContext *gctx;
	GMainLoop *gloop;
	GThread *thread;
	GMutex mu;
	GCond cond;
	ice_ev *head, **tail;	/* under mu */
	size_t qbytes;		/* under mu */
	unsigned releasing;	/* under mu: agents being ended */
	p2p_ice *live;		/* loop side: agents not yet released */
};

struct p2p_ice {
	p2p_ice_ctx *ctx;
	p2p_ice_cfg cfg;
	p2p_ice_cbs cbs;
	void *arg;
	NiceAgent *agent;
	guint stream;
	int phase;
	int remote_set;
	uint64_t deadline;
	char ufrag[256], pwd[256];
	p2p_ice_cand cands[ICE_MAX_CANDS];
	char found[ICE_MAX_CANDS][NICE_CANDIDATE_MAX_FOUNDATION];
	size_t ncands;
	ice_ev *early[ICE_MAX_EARLY];
	size_t nearly;
	p2p_dgram dgram;
	int user_done;		/* the user freed it, closed its dgram or
				   heard on_gone: touches it no more */
	int released;		/* the GLib side is done with it */
	char pair[160];
	p2p_ice *next;
};

static void ice_release(p2p_ice *ice);

/* ---- the GLib side ---- */

static void
ev_push(p2p_ice_ctx *ctx, ice_ev *ev)
{
	g_mutex_lock(&ctx->mu);
	if (ev->type == EV_RECV && ctx->qbytes + ev->len > ICE_QUEUE_BYTES) {
		g_mutex_unlock(&ctx->mu);
		free(ev);
		return;
	}
	ctx->qbytes += ev->len;
	*ctx->tail = ev;
	ctx->tail = &ev->next;
	g_mutex_unlock(&ctx->mu);
	uv_async_send(&ctx->async);
}

static void
ev_post(p2p_ice *ice, int type, guint state)
{
	ice_ev *ev = calloc(1, sizeof(*ev));

	if (ev == NULL)
		return;
	ev->ice = ice;
	ev->type = type;
	ev->state = state;
	ev_push(ice->ctx, ev);
}

static void
on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
	ev_post(data, EV_GATHERED, 0);
}

static void
on_state(NiceAgent *agent, guint stream, guint comp, guint state,
    gpointer data)
{
	ev_post(data, EV_STATE, state);
}

static void
on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
    gpointer data)
{
	p2p_ice *ice = data;
	ice_ev *ev;

	if (len == 0)
		return;
	if ((ev = calloc(1, sizeof(*ev) + len)) == NULL)
		return;
	ev->ice = ice;
	ev->type = EV_RECV;
	ev->len = len;
	memcpy(ev->data, buf, len);
	ev_push(ice->ctx, ev);
}

static void
on_closed(GObject *src, GAsyncResult *res, gpointer data)
{
	p2p_ice *ice = data;
	p2p_ice_ctx *ctx = ice->ctx;

	g_object_unref(ice->agent);
	ice->agent = NULL;
	ev_post(ice, EV_RELEASED, 0);
	g_mutex_lock(&ctx->mu);
	ctx->releasing--;
	g_cond_broadcast(&ctx->cond);
	g_mutex_unlock(&ctx->mu);
}

/* Runs in the GLib thread: no handler of ours runs concurrently. */
static gboolean
glib_release(gpointer data)
{
	p2p_ice *ice = data;

	g_signal_handlers_disconnect_by_data(ice->agent, ice);
	if (ice->stream != 0)
		nice_agent_attach_recv(ice->agent, ice->stream, 1,
		    ice->ctx->gctx, NULL, NULL);
	nice_agent_close_async(ice->agent, on_closed, ice);
	return G_SOURCE_REMOVE;
}

static gpointer
glib_thread(gpointer data)
{
	p2p_ice_ctx *ctx = data;

	g_main_context_push_thread_default(ctx->gctx);
	g_main_loop_run(ctx->gloop);
	g_main_context_pop_thread_default(ctx->gctx);
	return NULL;
}

static gboolean
glib_quit(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

/* ---- candidates ---- */

static int
addr_from_nice(const NiceAddress *na, p2p_addr_port *ap)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	nice_address_copy_to_sockaddr(na, (struct sockaddr *)&ss);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		p2p_addr_port_v4(ap, (const uint8_t *)&s4->sin_addr,
		    ntohs(s4->sin_port));
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		p2p_addr_port_v6(ap, s6->sin6_addr.s6_addr,
		    ntohs(s6->sin6_port));
		return 0;
	}
	return -1;
}

static int
addr_to_nice(const p2p_addr_port *ap, NiceAddress *na)
{
	uint32_t v4;

	nice_address_init(na);
	if (ap->port == 0)
		return -1;
	if (ap->type == P2P_ADDR_IPV4) {
		memcpy(&v4, ap->addr, 4);
		nice_address_set_ipv4(na, ntohl(v4));
	} else if (ap->type == P2P_ADDR_IPV6) {
		nice_address_set_ipv6(na, ap->addr);
	} else
		return -1;
	nice_address_set_port(na, ap->port);
	return 0;
}

static int
type_from_nice(NiceCandidateType t)
{
	switch (t) {
	case NICE_CANDIDATE_TYPE_HOST:
		return P2P_CAND_HOST;
	case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
		return P2P_CAND_SRFLX;
	case NICE_CANDIDATE_TYPE_RELAYED:
		return P2P_CAND_RELAY;
	default:
		return -1;	/* peer-reflexive: learnt, never signalled */
	}
}

static int
type_to_nice(uint8_t t, NiceCandidateType *out)
{
	switch (t) {
	case P2P_CAND_HOST:
		*out = NICE_CANDIDATE_TYPE_HOST;
		return 0;
	case P2P_CAND_SRFLX:
		*out = NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE;
		return 0;
	case P2P_CAND_PRFLX:
		*out = NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;
		return 0;
	case P2P_CAND_RELAY:
		*out = NICE_CANDIDATE_TYPE_RELAYED;
		return 0;
	default:
		return -1;
	}
}

/* Keep one local candidate in RFC 6940 form; 0 if kept. */
static int
cand_keep(p2p_ice *ice, const NiceCandidate *nc)
{
	p2p_ice_cand *c;
	int t;

	if (ice->ncands == ICE_MAX_CANDS ||
	    nc->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
	    (t = type_from_nice(nc->type)) < 0)
		return -1;
	c = &ice->cands[ice->ncands];
	memset(c, 0, sizeof(*c));
	if (addr_from_nice(&nc->addr, &c->addr) < 0)
		return -1;
	c->type = (uint8_t)t;
	if (p2p_cand_has_rel_addr(c->type) &&
	    addr_from_nice(&nc->base_addr, &c->rel_addr) < 0)
		return -1;
	c->overlay_link = ice->cfg.overlay_link;
	c->priority = nc->priority;
	snprintf(ice->found[ice->ncands], sizeof(ice->found[0]), "%s",
	    nc->foundation);
	c->foundation.p = (const uint8_t *)ice->found[ice->ncands];
	c->foundation.len = strlen(ice->found[ice->ncands]);
	ice->ncands++;
	return 0;
}

void
p2p_ice_cand_str(const p2p_ice_cand *c, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (c->addr.type == P2P_ADDR_IPV4)
		inet_ntop(AF_INET, c->addr.addr, ip, sizeof(ip));
	else if (c->addr.type == P2P_ADDR_IPV6)
		inet_ntop(AF_INET6, c->addr.addr, ip, sizeof(ip));
	else
		snprintf(ip, sizeof(ip), "type-%u", c->addr.type);
	snprintf(buf, cap, c->addr.type == P2P_ADDR_IPV6 ? "[%s]:%u" :
	    "%s:%u", ip, c->addr.port);
}

/* ---- the loop side ---- */

static void
ice_fail(p2p_ice *ice, const char *why)
{
	p2p_dgram *d = &ice->dgram;

	if (ice->phase == PH_CONNECTED) {
		/* The dgram's user is told; the owner ends itself. */
		ice_release(ice);
		ice->user_done = 1;
		if (d->on_gone != NULL)
			d->on_gone(d, why, d->arg);
		return;
	}
	ice->phase = PH_FAILED;
	if (ice->cbs.on_failed != NULL)
		ice->cbs.on_failed(ice, why, ice->arg);
}

static void
ev_gathered(p2p_ice *ice)
{
	gchar *u = NULL, *p = NULL;
	GSList *l, *it;

	if (ice->phase != PH_GATHERING)
		return;
	if (!nice_agent_get_local_credentials(ice->agent, ice->stream, &u,
	    &p)) {
		ice_fail(ice, "no local ICE credentials");
		return;
	}
	snprintf(ice->ufrag, sizeof(ice->ufrag), "%s", u);
	snprintf(ice->pwd, sizeof(ice->pwd), "%s", p);
	g_free(u);
	g_free(p);
	l = nice_agent_get_local_candidates(ice->agent, ice->stream, 1);
	for (it = l; it != NULL; it = it->next)
		cand_keep(ice, it->data);
	g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
	if (ice->ncands == 0) {
		ice_fail(ice, "no ICE candidate gathered");
		return;
	}
	ice->phase = PH_GATHERED;
	if (ice->cbs.on_gathered != NULL)
		ice->cbs.on_gathered(ice, ice->ufrag, ice->pwd, ice->cands,
		    ice->ncands, ice->arg);
}

static const char *
type_name(NiceCandidateType t)
{
	switch (t) {
	case NICE_CANDIDATE_TYPE_HOST:
		return "host";
	case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
		return "srflx";
	case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
		return "prflx";
	default:
		return "relay";
	}
}

static void
cand_text(const NiceCandidate *c, char *buf, size_t cap)
{
	char ip[NICE_ADDRESS_STRING_LEN];

	nice_address_to_string(&c->addr, ip);
	snprintf(buf, cap, strchr(ip, ':') != NULL ? "[%s]:%u" : "%s:%u", ip,
	    nice_address_get_port(&c->addr));
}

static void
ice_connected(p2p_ice *ice)
{
	NiceCandidate *lc = NULL, *rc = NULL;
	char l[64], r[64];
	size_t i;

	ice->phase = PH_CONNECTED;
	if (nice_agent_get_selected_pair(ice->agent, ice->stream, 1, &lc,
	    &rc) && lc != NULL && rc != NULL) {
		cand_text(lc, l, sizeof(l));
		cand_text(rc, r, sizeof(r));
		snprintf(ice->dgram.peer, sizeof(ice->dgram.peer), "%s", r);
		snprintf(ice->pair, sizeof(ice->pair), "%s %s -> %s %s",
		    type_name(lc->type), l, type_name(rc->type), r);
	} else {
		snprintf(ice->dgram.peer, sizeof(ice->dgram.peer), "ice");
		snprintf(ice->pair, sizeof(ice->pair), "?");
	}
	if (ice->cbs.on_connected != NULL)
		ice->cbs.on_connected(ice, &ice->dgram, ice->arg);
	for (i = 0; i < ice->nearly; i++) {
		if (ice->phase == PH_CONNECTED)
			p2p_dgram_deliver(&ice->dgram, ice->early[i]->data,
			    ice->early[i]->len);
		free(ice->early[i]);
	}
	ice->nearly = 0;
}

static void
ev_state(p2p_ice *ice, guint state)
{
	if (state == NICE_COMPONENT_STATE_FAILED) {
		if (ice->phase == PH_CONNECTED || ice->phase == PH_GATHERED)
			ice_fail(ice, ice->phase == PH_CONNECTED ?
			    "ICE consent lost" : "ICE checks failed");
		return;
	}
	if (state == NICE_COMPONENT_STATE_READY &&
	    ice->phase == PH_GATHERED && ice->remote_set)
		ice_connected(ice);
}

/* Returns 1 when ev was kept (an early datagram). */
static int
ev_recv(p2p_ice *ice, ice_ev *ev)
{
	if (ice->phase == PH_CONNECTED) {
		p2p_dgram_deliver(&ice->dgram, ev->data, ev->len);
		return 0;
	}
	if (ice->phase != PH_GATHERED || ice->nearly == ICE_MAX_EARLY)
		return 0;
	ice->early[ice->nearly++] = ev;
	return 1;
}

static void
ice_destroy(p2p_ice *ice)
{
	size_t i;

	for (i = 0; i < ice->nearly; i++)
		free(ice->early[i]);
	free(ice);
}

static void
ev_run(ice_ev *ev)
{
	p2p_ice *ice = ev->ice;

	if (ev->type == EV_RELEASED) {
		ice->released = 1;
		if (ice->user_done)
			ice_destroy(ice);
	} else if (ice->phase != PH_DEAD) {
		if (ev->type == EV_GATHERED)
			ev_gathered(ice);
		else if (ev->type == EV_STATE)
			ev_state(ice, ev->state);
		else if (ev_recv(ice, ev))
			return;
	}
	free(ev);
}

static ice_ev *
ev_take_all(p2p_ice_ctx *ctx)
{
	ice_ev *l;

	g_mutex_lock(&ctx->mu);
	l = ctx->head;
	ctx->head = NULL;
	ctx->tail = &ctx->head;
	ctx->qbytes = 0;
	g_mutex_unlock(&ctx->mu);
	return l;
}

static void
ev_drain(p2p_ice_ctx *ctx)
{
	ice_ev *l, *next;

	while ((l = ev_take_all(ctx)) != NULL) {
		for (; l != NULL; l = next) {
			next = l->next;
			ev_run(l);
		}
	}
}

static void
on_async(uv_async_t *h)
{
	ev_drain(h->data);
}

static void
on_tick(uv_timer_t *t)
{
	p2p_ice_ctx *ctx = t->data;
	uint64_t now = uv_now(ctx->loop);
	p2p_ice *ice, *next;

	for (ice = ctx->live; ice != NULL; ice = next) {
		next = ice->next;
		if ((ice->phase == PH_GATHERING || ice->phase == PH_GATHERED) &&
		    now >= ice->deadline)
			ice_fail(ice, ice->phase == PH_GATHERING ?
			    "ICE gathering timed out" :
			    "ICE checks timed out");
	}
}

/* Take the agent off the live list and end it in the GLib thread. */
static void
ice_release(p2p_ice *ice)
{
	p2p_ice_ctx *ctx = ice->ctx;
	p2p_ice **pp;

	if (ice->phase == PH_DEAD)
		return;
	ice->phase = PH_DEAD;
	for (pp = &ctx->live; *pp != NULL; pp = &(*pp)->next)
		if (*pp == ice) {
			*pp = ice->next;
			break;
		}
	g_mutex_lock(&ctx->mu);
	ctx->releasing++;
	g_mutex_unlock(&ctx->mu);
	g_main_context_invoke(ctx->gctx, glib_release, ice);
}

/* ---- p2p_dgram over the selected pair ---- */

static int
dg_send(p2p_dgram *d, const uint8_t *buf, size_t len)
{
	p2p_ice *ice = d->impl;

	if (ice->phase != PH_CONNECTED || len > G_MAXUINT)
		return -1;
	if (nice_agent_send(ice->agent, ice->stream, 1, (guint)len,
	    (const gchar *)buf) < 0)
		return -1;
	return 0;
}

/* The user is done: free now if the GLib side is done too (the context
 * was freed first), else once it is. */
static void
ice_user_done(p2p_ice *ice)
{
	ice->user_done = 1;
	if (ice->released)
		ice_destroy(ice);
	else
		ice_release(ice);
}

static void
dg_close(p2p_dgram *d)
{
	ice_user_done(d->impl);
}

static const p2p_dgram_ops dg_ops = { dg_send, dg_close };

/* ---- API ---- */

p2p_ice_ctx *
p2p_ice_ctx_new(uv_loop_t *loop, char *err, size_t errlen)
{
	p2p_ice_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctx->loop = loop;
	ctx->tail = &ctx->head;
	g_mutex_init(&ctx->mu);
	g_cond_init(&ctx->cond);
	if (uv_async_init(loop, &ctx->async, on_async) != 0) {
		snprintf(err, errlen, "cannot make the ICE wake-up handle");
		g_mutex_clear(&ctx->mu);
		g_cond_clear(&ctx->cond);
		free(ctx);
		return NULL;
	}
	ctx->async.data = ctx;
	uv_timer_init(loop, &ctx->timer);
	ctx->timer.data = ctx;
	uv_timer_start(&ctx->timer, on_tick, ICE_TICK_MS, ICE_TICK_MS);
	ctx->gctx = g_main_context_new();
	ctx->gloop = g_main_loop_new(ctx->gctx, FALSE);
	ctx->thread = g_thread_new("p2p-ice", glib_thread, ctx);
	return ctx;
}

static void
ctx_closed(uv_handle_t *h)
{
	p2p_ice_ctx *ctx = h->data;

	if (--ctx->nclosing == 0) {
		g_mutex_clear(&ctx->mu);
		g_cond_clear(&ctx->cond);
		free(ctx);
	}
}

void
p2p_ice_ctx_free(p2p_ice_ctx *ctx)
{
	gint64 until;

	if (ctx == NULL)
		return;
	/* Agents still in use (a dgram not yet closed) are ended here and
	 * freed when their user lets go. */
	while (ctx->live != NULL)
		ice_release(ctx->live);
	until = g_get_monotonic_time() + ICE_RELEASE_WAIT_US;
	g_mutex_lock(&ctx->mu);
	while (ctx->releasing > 0)
		if (!g_cond_wait_until(&ctx->cond, &ctx->mu, until))
			break;
	g_mutex_unlock(&ctx->mu);
	g_main_context_invoke(ctx->gctx, glib_quit, ctx->gloop);
	g_thread_join(ctx->thread);
	g_main_loop_unref(ctx->gloop);
	g_main_context_unref(ctx->gctx);
	ev_drain(ctx);
	ctx->nclosing = 2;
	uv_close((uv_handle_t *)&ctx->async, ctx_closed);
	uv_close((uv_handle_t *)&ctx->timer, ctx_closed);
}

static int
ice_setup(p2p_ice *ice, char *err, size_t errlen)
{
	const p2p_ice_cfg *c = &ice->cfg;
	NiceAddress la;
	size_t i;

	g_object_set(ice->agent, "controlling-mode", c->controlling ? TRUE :
	    FALSE, "upnp", FALSE, "ice-tcp", FALSE, "ice-udp", TRUE,
	    "force-relay", c->relay_only ? TRUE : FALSE, NULL);
	if (c->stun.host[0] != '\0')
		g_object_set(ice->agent, "stun-server", c->stun.host,
		    "stun-server-port", (guint)c->stun.port, NULL);
	if (c->local_ip[0] != '\0') {
		nice_address_init(&la);
		if (!nice_address_set_from_string(&la, c->local_ip) ||
		    !nice_agent_add_local_address(ice->agent, &la)) {
			snprintf(err, errlen, "bad local address %s",
			    c->local_ip);
			return -1;
		}
	}
	if ((ice->stream = nice_agent_add_stream(ice->agent, 1)) == 0) {
		snprintf(err, errlen, "cannot add an ICE stream");
		return -1;
	}
	for (i = 0; i < c->nturn && i < P2P_ICE_MAX_TURN; i++)
		if (!nice_agent_set_relay_info(ice->agent, ice->stream, 1,
		    c->turn[i].host, c->turn[i].port, c->turn[i].user,
		    c->turn[i].pass, NICE_RELAY_TYPE_TURN_UDP)) {
			snprintf(err, errlen, "bad TURN server %s:%u",
			    c->turn[i].host, c->turn[i].port);
			return -1;
		}
	g_signal_connect(ice->agent, "candidate-gathering-done",
	    G_CALLBACK(on_gathering_done), ice);
	g_signal_connect(ice->agent, "component-state-changed",
	    G_CALLBACK(on_state), ice);
	if (!nice_agent_attach_recv(ice->agent, ice->stream, 1,
	    ice->ctx->gctx, on_recv, ice)) {
		snprintf(err, errlen, "cannot attach the ICE receiver");
		return -1;
	}
	return 0;
}

p2p_ice *
p2p_ice_new(p2p_ice_ctx *ctx, const p2p_ice_cfg *cfg,
    const p2p_ice_cbs *cbs, void *arg, char *err, size_t errlen)
{
	p2p_ice *ice = calloc(1, sizeof(*ice));

	if (ice == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ice->ctx = ctx;
	ice->cfg = *cfg;
	ice->cbs = *cbs;
	ice->arg = arg;
	ice->dgram.ops = &dg_ops;
	ice->dgram.impl = ice;
	ice->dgram.mtu = ICE_MTU;
	ice->agent = nice_agent_new_full(ctx->gctx, NICE_COMPATIBILITY_RFC5245,
	    NICE_AGENT_OPTION_REGULAR_NOMINATION |
	    NICE_AGENT_OPTION_CONSENT_FRESHNESS);
	if (ice->agent == NULL) {
		snprintf(err, errlen, "cannot make an ICE agent");
		free(ice);
		return NULL;
	}
	ice->next = ctx->live;
	ctx->live = ice;
	if (ice_setup(ice, err, errlen) < 0) {
		p2p_ice_free(ice);
		return NULL;
	}
	return ice;
}

int
p2p_ice_gather(p2p_ice *ice)
{
	uint32_t t = ice->cfg.timeout_ms ? ice->cfg.timeout_ms :
	    ICE_DEFAULT_TIMEOUT_MS;

	if (ice->phase != PH_NEW)
		return -1;
	ice->phase = PH_GATHERING;
	ice->deadline = uv_now(ice->ctx->loop) + t;
	if (!nice_agent_gather_candidates(ice->agent, ice->stream)) {
		ice->phase = PH_NEW;
		return -1;
	}
	return 0;
}

/* One remote candidate for libnice; NULL if it is not for us. */
static NiceCandidate *
cand_to_nice(p2p_ice *ice, const p2p_ice_cand *c)
{
	NiceCandidateType t;
	NiceCandidate *nc;
	size_t n;

	if (c->overlay_link != ice->cfg.overlay_link ||
	    type_to_nice(c->type, &t) < 0 ||
	    (nc = nice_candidate_new(t)) == NULL)
		return NULL;
	if (addr_to_nice(&c->addr, &nc->addr) < 0) {
		nice_candidate_free(nc);
		return NULL;
	}
	if (p2p_cand_has_rel_addr(c->type))
		addr_to_nice(&c->rel_addr, &nc->base_addr);
	nc->transport = NICE_CANDIDATE_TRANSPORT_UDP;
	nc->priority = c->priority;
	nc->stream_id = ice->stream;
	nc->component_id = 1;
	n = c->foundation.len < sizeof(nc->foundation) - 1 ?
	    c->foundation.len : sizeof(nc->foundation) - 1;
	memcpy(nc->foundation, c->foundation.p, n);
	nc->foundation[n] = '\0';
	return nc;
}

static void
copy_str(char *dst, size_t cap, const uint8_t *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

int
p2p_ice_set_remote(p2p_ice *ice, const uint8_t *ufrag, size_t ulen,
    const uint8_t *pwd, size_t plen, const p2p_ice_cand *cands,
    size_t ncands)
{
	char u[256], p[256];
	GSList *l = NULL;
	NiceCandidate *nc;
	size_t i;
	int added;

	if (ice->phase != PH_GATHERED || ice->remote_set || ulen == 0 ||
	    plen == 0 || memchr(ufrag, 0, ulen) != NULL ||
	    memchr(pwd, 0, plen) != NULL)
		return -1;
	copy_str(u, sizeof(u), ufrag, ulen);
	copy_str(p, sizeof(p), pwd, plen);
	for (i = 0; i < ncands; i++)
		if ((nc = cand_to_nice(ice, &cands[i])) != NULL)
			l = g_slist_prepend(l, nc);
	if (l == NULL)
		return -1;
	l = g_slist_reverse(l);
	if (!nice_agent_set_remote_credentials(ice->agent, ice->stream, u,
	    p)) {
		g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
		return -1;
	}
	added = nice_agent_set_remote_candidates(ice->agent, ice->stream, 1, l);
	g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
	if (added <= 0)
		return -1;
	ice->remote_set = 1;
	/* A component already READY (the peer's checks ran first) reports
	 * no new state: look. */
	if (nice_agent_get_component_state(ice->agent, ice->stream, 1) ==
	    NICE_COMPONENT_STATE_READY)
		ev_post(ice, EV_STATE, NICE_COMPONENT_STATE_READY);
	return 0;
}

int
p2p_ice_controlling(const p2p_ice *ice)
{
	gboolean c = FALSE;

	g_object_get(ice->agent, "controlling-mode", &c, NULL);
	return c ? 1 : 0;
}

const char *
p2p_ice_pair(const p2p_ice *ice)
{
	return ice->pair;
}

void
p2p_ice_free(p2p_ice *ice)
{
	if (ice != NULL)
		ice_user_done(ice);
}
