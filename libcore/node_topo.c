/*
 * node_topo: the CHORD-RELOAD side of the node (RFC 6940 s6.4, s6.5,
 * s10): joining, Attach, Update, Leave and the small methods (Ping,
 * Probe, RouteQuery).
 *
 * With ICE (no-ice false) node_ice.c writes and reads the AttachReqAns
 * bodies and opens the link over the selected pair. Without ICE (the
 * configuration's no-ice), links are TLS over TCP: an
 * Attach carries one host candidate, the listening address, and the
 * node that answers an Attach opens the TLS connection to the sender's
 * candidate (the sender is the TLS server, s6.5.1.2). A peer enters the
 * routing table when an Update arrives from it over a direct link, or
 * when it joins through this node.
 *
 * Joining (s10.5, s11.4): connect to a bootstrap node; Attach (with
 * send_update) to our own id + 1, which reaches the admitting peer; it
 * connects to us and sends a full Update; we Attach to the neighbors it
 * names and send Join; on its answer we are in the ring and tell our
 * neighbors with Updates. Fingers are then filled by Attaches to the
 * ids they target.
 *
 * A client (node_client.c) takes the same first steps, to its own id
 * instead of id + 1, and stops there.
 */
#include "node_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define JOIN_TIMEOUT_MS		10000
#define JOIN_NEIGHBORS_MS	10000	/* the Join's wait for neighbors */
#define ATTACH_PENDING_MS	10000
#define FINGER_ATTACHES		16	/* at join, at most this many */
#define UPDATE_ATTACHES		8	/* finger suggestions per Update */
#define LEFT_MS			10000	/* a peer that left stays out */

static int
joined(const p2p_node *n)
{
	return n->join == JOIN_DONE || (n->join == JOIN_ALONE &&
	    !n->opts.client);
}

int
topo_next_hop(p2p_node *n, const p2p_id *k, p2p_id *next)
{
	if (n->opts.client) {
		if (client_uplink(n) == NULL)
			return -1;
		*next = client_uplink(n)->peer;
		return P2P_CHORD_FORWARD;
	}
	return p2p_chord_next_hop(&n->chord, k, next);
}

static void
noop_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	(void)n; (void)user; (void)st; (void)ans; (void)who;
}

static void
random_text(char *buf, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t r[64];

	if (n > sizeof(r))
		n = sizeof(r);
	if (RAND_bytes(r, (int)n) != 1)
		memset(r, 0, n);
	for (size_t i = 0; i < n; i++)
		buf[i] = digits[r[i] & 0xf];
}

/* Our candidates: the listening address once per link protocol the
 * overlay allows, the preferred one first (TLS over TCP with framing,
 * DTLS over UDP on the same port number). */
static size_t
own_candidates(p2p_node *n, p2p_ice_cand *c, size_t max)
{
	enum p2p_link_type types[2];
	size_t nt = 0, k = 0;
	uint8_t a[16];
	int v6;

	if (inet_pton(AF_INET, n->listen_ip, a) == 1)
		v6 = 0;
	else if (inet_pton(AF_INET6, n->listen_ip, a) == 1)
		v6 = 1;
	else
		return 0;
	types[nt++] = n->link_pref;
	if (n->link_pref != P2P_LINK_TLS_TCP_FH_NO_ICE && n->link_tls)
		types[nt++] = P2P_LINK_TLS_TCP_FH_NO_ICE;
	if (n->link_pref != P2P_LINK_DTLS_UDP_SR_NO_ICE && n->link_dtls)
		types[nt++] = P2P_LINK_DTLS_UDP_SR_NO_ICE;
	for (size_t i = 0; i < nt && k < max; i++, k++) {
		uint16_t port = types[i] == P2P_LINK_DTLS_UDP_SR_NO_ICE ?
		    n->udp_port : n->listen_port;

		memset(&c[k], 0, sizeof(c[k]));
		if (v6)
			p2p_addr_port_v6(&c[k].addr, a, port);
		else
			p2p_addr_port_v4(&c[k].addr, a, port);
		c[k].overlay_link = (uint8_t)types[i];
		c[k].foundation.p = (const uint8_t *)(i == 0 ? "1" : "2");
		c[k].foundation.len = 1;
		c[k].priority = ((126u - (uint32_t)i) << 24) | (65535u << 8) |
		    255u;
		c[k].type = P2P_CAND_HOST;
	}
	return k;
}

static int
attach_body(p2p_node *n, p2p_wbuf *w, int request, int send_update)
{
	p2p_attach at;
	p2p_ice_cand c[2];
	size_t nc;
	char ufrag[8], pwd[24];

	if ((nc = own_candidates(n, c, 2)) == 0)
		return -1;
	random_text(ufrag, sizeof(ufrag));
	random_text(pwd, sizeof(pwd));
	memset(&at, 0, sizeof(at));
	at.ufrag.p = (const uint8_t *)ufrag;
	at.ufrag.len = sizeof(ufrag);
	at.password.p = (const uint8_t *)pwd;
	at.password.len = sizeof(pwd);
	at.role.p = (const uint8_t *)(request ? "passive" : "active");
	at.role.len = request ? 7 : 6;
	at.cands = c;
	at.ncands = nc;
	at.send_update = (uint8_t)(send_update != 0);
	return p2p_attach_encode(w, &at);
}

static peer_until *
peer_find(peer_until *a, size_t na, const p2p_id *id)
{
	for (size_t i = 0; i < na; i++)
		if (p2p_id_eq(&a[i].peer, id))
			return &a[i];
	return NULL;
}

static void
peer_drop(peer_until *a, size_t *na, const p2p_id *id)
{
	peer_until *e = peer_find(a, *na, id);

	if (e != NULL)
		*e = a[--*na];
}

/*
 * A peer that sent us its Leave (s10.7.2) stays out of our routing table
 * for LEFT_MS, or until a new link with it opens: it keeps its links up
 * a little while after its Leave, and the Updates our other neighbors
 * sent before they took that Leave still name it. Taking it back from
 * them would route to a peer that is going, and spread its Node-ID again
 * in our own Updates (a later Attach to it through a neighbor that has
 * already dropped it then fails with Error_Not_Found).
 */
static void
left_add(p2p_node *n, const p2p_id *id)
{
	uint64_t now = node_now(n);
	peer_until *e = peer_find(n->left, n->nleft, id);

	for (size_t i = 0; e == NULL && i < n->nleft; i++)
		if (n->left[i].until_ms <= now)
			e = &n->left[i];
	if (e == NULL && n->nleft < NODE_MAX_LEFT)
		e = &n->left[n->nleft++];
	if (e == NULL) {	/* full: the oldest goes */
		e = &n->left[0];
		for (size_t i = 1; i < n->nleft; i++)
			if (n->left[i].until_ms < e->until_ms)
				e = &n->left[i];
	}
	e->peer = *id;
	e->until_ms = now + LEFT_MS;
}

static int
left_recently(p2p_node *n, const p2p_id *id)
{
	peer_until *e = peer_find(n->left, n->nleft, id);

	return e != NULL && e->until_ms > node_now(n);
}

typedef struct attach_ctx {
	int for_join;
} attach_ctx;

static void send_join(p2p_node *n);
static void join_after_neighbors(p2p_node *n, const p2p_id *ids,
    size_t nids);

static void
attach_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	attach_ctx *c = user;
	int for_join = c != NULL && c->for_join;
	char id[9];

	free(c);
	if (st != P2P_TXN_ANSWERED || ans == NULL || who == NULL) {
		node_log(n, NLOG_DEBUG, "Attach: no answer");
		return;
	}
	if (n->opts.client && ans->code == P2P_ATTACH_ANS) {
		client_attach_answered(n, &who->node);
		return;
	}
	if (ans->code != P2P_ATTACH_ANS) {
		uint16_t code = 0;
		char text[128] = "";
		(void)route_error_info(ans, &code, text, sizeof(text));
		node_log(n, NLOG_INFO, "Attach refused by %s: %s %s",
		    node_id_short(&who->node, id),
		    p2p_error_name(code) ? p2p_error_name(code) : "?", text);
		return;
	}
	if (for_join && n->join == JOIN_ATTACH) {
		n->admitting = who->node;
		n->join = JOIN_UPDATE;
		n->join_deadline_ms = node_now(n) + JOIN_TIMEOUT_MS;
		node_log(n, NLOG_INFO, "admitting peer is %s",
		    node_id_short(&who->node, id));
		/* Its Update can overtake this answer (it comes straight
		 * over the new link, the answer back along the route): the
		 * Join then waits for the Attaches that Update started. */
		if (p2p_chord_knows(&n->chord, &who->node)) {
			p2p_id ids[NODE_MAX_PENDING_ATTACH];
			for (size_t i = 0; i < n->nattach; i++)
				ids[i] = n->attach[i].peer;
			join_after_neighbors(n, ids, n->nattach);
		}
	}
}

int
topo_send_attach(p2p_node *n, const p2p_dest *dest, size_t ndest,
    int send_update, p2p_link *via_link)
{
	const p2p_dest *last = &dest[ndest - 1];
	peer_until *pa;
	attach_ctx *c;
	p2p_wbuf w;
	uint64_t now = node_now(n);
	int rc;

	if (last->type == P2P_DEST_RESOURCE && joined(n) && via_link == NULL &&
	    last->data.len == P2P_ID_LEN) {
		p2p_id k;
		memcpy(k.b, last->data.p, P2P_ID_LEN);
		if (p2p_chord_is_responsible(&n->chord, &k))
			return 0;	/* that would reach ourselves */
	}
	if (last->type == P2P_DEST_NODE) {
		if (p2p_id_eq(&last->node, &n->ident.node) ||
		    link_by_peer(n, &last->node) != NULL)
			return 0;
		pa = peer_find(n->attach, n->nattach, &last->node);
		if (pa != NULL && pa->until_ms > now)
			return 0;
		if (pa == NULL && n->nattach < NODE_MAX_PENDING_ATTACH)
			pa = &n->attach[n->nattach++];
		if (pa != NULL) {
			pa->peer = last->node;
			pa->until_ms = now + ATTACH_PENDING_MS;
		}
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->for_join = n->join == JOIN_ATTACH && via_link != NULL;
	if (n->ice != NULL) {
		/* ICE: the request goes out once candidates are gathered. */
		rc = ice_send_attach(n, dest, ndest, send_update, via_link,
		    attach_answer, c);
		if (rc != 0)
			free(c);
		return rc;
	}
	p2p_w_init(&w, 128);
	rc = attach_body(n, &w, 1, send_update);
	if (rc == 0)
		rc = route_request(n, dest, ndest, P2P_ATTACH_REQ, &w, NULL, 0,
		    via_link, attach_answer, c);
	if (rc != 0)
		free(c);
	p2p_w_free(&w);
	return rc;
}

static void after_change(p2p_node *n, int flags, const p2p_id *from);

/* A peer a ring member told us about: connect to it, or, when a link is
 * already up (a bootstrap link, say), enter it in the routing table. */
static void
attach_node(p2p_node *n, const p2p_id *through, const p2p_id *target)
{
	p2p_dest d[2];
	size_t nd = 0;

	if (client_is_client(n, target))
		return;		/* never in the routing table */
	if (left_recently(n, target))
		return;		/* it is going: see left_add */
	if (link_by_peer(n, target) != NULL) {
		if (!p2p_chord_knows(&n->chord, target))
			after_change(n, p2p_chord_add_peer(&n->chord, target,
			    node_now(n), NULL), NULL);
		return;
	}

	if (through != NULL && link_by_peer(n, through) != NULL &&
	    !p2p_id_eq(through, target))
		p2p_dest_node(&d[nd++], through);
	p2p_dest_node(&d[nd++], target);
	(void)topo_send_attach(n, d, nd, 1, NULL);
}

void
topo_send_update(p2p_node *n, const p2p_id *to, uint8_t type)
{
	p2p_chord_update_buf ub;
	p2p_chord_update u;
	p2p_dest d;
	p2p_wbuf w;

	if (p2p_chord_build_update(&n->chord, type, node_now(n), &ub) != 0)
		return;
	memset(&u, 0, sizeof(u));
	u.uptime = ub.lists.uptime;
	u.type = ub.lists.type;
	u.preds = (p2p_id *)ub.lists.pred;
	u.npreds = ub.lists.npred;
	u.succs = (p2p_id *)ub.lists.succ;
	u.nsuccs = ub.lists.nsucc;
	if (type == P2P_UPDATE_FULL) {
		u.fingers = (p2p_id *)ub.lists.finger;
		u.nfingers = ub.lists.nfinger;
	}
	p2p_dest_node(&d, to);
	p2p_w_init(&w, 512);
	if (p2p_update_req_encode(&w, &u) == 0)
		(void)route_request(n, &d, 1, P2P_UPDATE_REQ, &w, NULL, 0,
		    NULL, noop_answer, NULL);
	p2p_w_free(&w);
}

/* A neighbors Update to every distinct neighbor. */
void
topo_update_neighbors(p2p_node *n)
{
	const p2p_id *s, *p;
	size_t ns = p2p_chord_successors(&n->chord, &s);
	size_t np = p2p_chord_predecessors(&n->chord, &p);

	for (size_t i = 0; i < ns; i++)
		topo_send_update(n, &s[i], P2P_UPDATE_NEIGHBORS);
	for (size_t i = 0; i < np; i++) {
		int dup = 0;
		for (size_t j = 0; j < ns; j++)
			dup |= p2p_id_eq(&p[i], &s[j]);
		if (!dup)
			topo_send_update(n, &p[i], P2P_UPDATE_NEIGHBORS);
	}
	p2p_chord_update_sent(&n->chord, node_now(n));
}

void
topo_bootstrap(p2p_node *n)
{
	size_t nb = n->opts.bootstrap != NULL ? n->opts.nbootstrap :
	    n->cfg.nbootstrap;
	char ip[64];
	int port;

	for (size_t tries = 0; tries < nb; tries++) {
		size_t i = n->next_bootstrap++ % nb;

		if (n->opts.bootstrap != NULL) {
			const char *a = n->opts.bootstrap[i];
			const char *colon = strrchr(a, ':');
			size_t len = colon != NULL ? (size_t)(colon - a) : 0;
			if (len == 0 || len >= sizeof(ip))
				continue;
			memcpy(ip, a, len);
			ip[len] = '\0';
			port = atoi(colon + 1);
		} else {
			snprintf(ip, sizeof(ip), "%s", n->cfg.bootstrap[i].address);
			port = n->cfg.bootstrap[i].port;
		}
		if (port == n->listen_port && strcmp(ip, n->listen_ip) == 0)
			continue;	/* that is us */
		n->join = JOIN_BOOTSTRAP;
		n->join_deadline_ms = node_now(n) + JOIN_TIMEOUT_MS;
		n->join_attempts++;
		node_log(n, NLOG_INFO, "%s through bootstrap %s:%d",
		    n->opts.client ? "connecting" : "joining", ip, port);
		if (link_connect(n, n->link_pref, ip, port, NULL, 1) != NULL)
			return;
	}
	if (n->join_attempts == 0 && n->opts.client) {
		n->join = JOIN_BOOTSTRAP;	/* try again at the deadline */
		n->join_deadline_ms = node_now(n) + JOIN_TIMEOUT_MS;
		node_log(n, NLOG_WARN, "no bootstrap node to reach the "
		    "overlay through");
	} else if (n->join_attempts == 0) {
		n->join = JOIN_ALONE;
		node_log(n, NLOG_INFO, "no bootstrap node: starting a new ring");
	}
}

void
topo_start(p2p_node *n)
{
	size_t nb = n->opts.bootstrap != NULL ? n->opts.nbootstrap :
	    n->cfg.nbootstrap;

	if (nb == 0) {
		n->join = JOIN_ALONE;
		node_log(n, NLOG_INFO, "no bootstrap node: starting a new ring");
		return;
	}
	topo_bootstrap(n);
}

static void
finger_attaches(p2p_node *n, unsigned max)
{
	unsigned slots[P2P_CHORD_FINGERS];
	size_t ns = p2p_chord_fingers_invalid(&n->chord, slots, max);

	for (size_t i = 0; i < ns; i++) {
		p2p_id target, entry;
		p2p_dest d;

		if (p2p_chord_finger(&n->chord, slots[i], &target, &entry) < 0)
			continue;
		p2p_dest_resource(&d, &target);
		(void)topo_send_attach(n, &d, 1, 1, NULL);
	}
}

static void
join_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	char id[P2P_ID_HEXLEN + 1];

	(void)user; (void)who;
	if (n->join != JOIN_JOIN)
		return;
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_JOIN_ANS) {
		node_log(n, NLOG_WARN, "Join %s; retrying",
		    st == P2P_TXN_ANSWERED ? "refused" : "not answered");
		n->join_deadline_ms = node_now(n);	/* retry at once */
		return;
	}
	n->join = JOIN_DONE;
	node_log(n, NLOG_INFO, "joined the overlay through %s",
	    p2p_id_hex(&n->admitting, id));
	topo_update_neighbors(n);
	finger_attaches(n, FINGER_ATTACHES);
	store_ring_changed(n);
}

/*
 * JOIN_NEIGHBORS: the Join goes to the admitting peer once each neighbor
 * its Update named is in the routing table, or its Attach is over
 * without a link (refused, unanswered, expired). Until then this node
 * knows too few peers to tell its own range: with the admitting peer
 * alone it would take itself for the owner of most of the ring.
 */
static void
join_if_neighbors(p2p_node *n)
{
	uint64_t now = node_now(n);

	if (n->join != JOIN_NEIGHBORS)
		return;
	for (size_t i = 0; i < n->njoin_wait; i++) {
		const p2p_id *id = &n->join_wait[i];
		const peer_until *pa;

		if (p2p_chord_knows(&n->chord, id))
			continue;
		if (link_by_peer(n, id) != NULL)
			return;		/* its Update is on the way */
		pa = peer_find(n->attach, n->nattach, id);
		if (pa != NULL && pa->until_ms > now)
			return;		/* still attaching */
	}
	send_join(n);
}

/* Enter JOIN_NEIGHBORS: the Join waits for the Attaches to ids. */
static void
join_after_neighbors(p2p_node *n, const p2p_id *ids, size_t nids)
{
	if (nids > sizeof(n->join_wait) / sizeof(n->join_wait[0]))
		nids = sizeof(n->join_wait) / sizeof(n->join_wait[0]);
	memcpy(n->join_wait, ids, nids * sizeof(ids[0]));
	n->njoin_wait = nids;
	n->join = JOIN_NEIGHBORS;
	n->join_deadline_ms = node_now(n) + JOIN_NEIGHBORS_MS;
	if (nids > 0)
		node_log(n, NLOG_INFO, "Join waits for %zu neighbor Attach%s",
		    nids, nids == 1 ? "" : "es");
	join_if_neighbors(n);
}

static void
send_join(p2p_node *n)
{
	p2p_join_req jr;
	p2p_dest d;
	p2p_wbuf w;

	memset(&jr, 0, sizeof(jr));
	jr.joining_peer_id = n->ident.node;
	p2p_dest_node(&d, &n->admitting);
	p2p_w_init(&w, 32);
	n->join = JOIN_JOIN;
	n->join_deadline_ms = node_now(n) + JOIN_TIMEOUT_MS;
	if (p2p_join_req_encode(&w, &jr) == 0)
		(void)route_request(n, &d, 1, P2P_JOIN_REQ, &w, NULL, 0, NULL,
		    join_answer, NULL);
	p2p_w_free(&w);
}

void
topo_link_open(p2p_node *n, p2p_link *l)
{
	peer_drop(n->attach, &n->nattach, &l->peer);
	peer_drop(n->left, &n->nleft, &l->peer);	/* it came back */
	if (client_link_open(n, l))
		return;
	if (l->bootstrap && n->join == JOIN_BOOTSTRAP) {
		p2p_id target;
		p2p_dest d;

		p2p_id_add_u64(&target, &n->ident.node, 1);
		p2p_dest_resource(&d, &target);
		n->join = JOIN_ATTACH;
		n->join_deadline_ms = node_now(n) + JOIN_TIMEOUT_MS;
		if (topo_send_attach(n, &d, 1, 1, l) != 0)
			node_log(n, NLOG_WARN, "cannot send the join Attach");
	}
	if (l->update_on_open) {
		l->update_on_open = 0;
		topo_send_update(n, &l->peer, P2P_UPDATE_FULL);
	}
}

static void
after_change(p2p_node *n, int flags, const p2p_id *from)
{
	if (flags < 0)
		return;
	if (flags & (P2P_CHORD_NEIGHBORS_CHANGED | P2P_CHORD_RANGE_CHANGED |
	    P2P_CHORD_REPLICAS_CHANGED))
		store_ring_changed(n);
	if (flags & (P2P_CHORD_NEIGHBORS_CHANGED | P2P_CHORD_RANGE_CHANGED))
		client_notify_all(n);
	if (joined(n) && (flags & P2P_CHORD_NEIGHBORS_CHANGED))
		topo_update_neighbors(n);
	else if (from != NULL && (flags & P2P_CHORD_REPLY_UPDATE))
		topo_send_update(n, from, P2P_UPDATE_NEIGHBORS);
}

void
topo_link_gone(p2p_node *n, p2p_link *l)
{
	int flags;

	if (n->stopping)
		return;
	if (!l->has_peer || !l->open) {
		/* A bootstrap node that cannot be reached: try the next one
		 * soon, backing off up to the join timeout. */
		if (l->bootstrap && n->join == JOIN_BOOTSTRAP) {
			unsigned k = n->join_attempts < 5 ? n->join_attempts : 5;
			uint64_t wait = (uint64_t)500 << k;
			n->join_deadline_ms = node_now(n) + (wait <
			    JOIN_TIMEOUT_MS ? wait : JOIN_TIMEOUT_MS);
		}
		return;
	}
	if (client_link_gone(n, l))
		return;
	if (link_by_peer(n, &l->peer) != NULL)
		return;		/* another link to it is still up */
	flags = p2p_chord_remove_peer(&n->chord, &l->peer, node_now(n));
	if (!joined(n) && p2p_id_eq(&l->peer, &n->admitting))
		n->join_deadline_ms = node_now(n);	/* restart the join */
	if (flags & P2P_CHORD_ALONE && n->join == JOIN_DONE) {
		node_log(n, NLOG_WARN, "no peer left: rejoining");
		n->join_attempts = 0;
		topo_bootstrap(n);
		if (n->join_attempts == 0)
			n->join = JOIN_DONE;	/* nobody to ask: stay */
		return;
	}
	after_change(n, flags, NULL);
}

/* ---- request handlers ---- */

static void
answer_empty(p2p_node *n, p2p_link *from, const p2p_msg *m, uint16_t code)
{
	(void)route_answer(n, from, m, code, NULL, 0);
}

static void
on_attach(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_attach at;
	p2p_err e = { 0 };
	p2p_wbuf w;
	const p2p_ice_cand *use = NULL;
	p2p_link *l;
	char ip[64];
	int is_client;

	if (p2p_attach_decode(m->body, a, &at, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (p2p_id_eq(&who->node, &n->ident.node)) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE,
		    "Attach to oneself");
		return;
	}
	is_client = client_attach_is_own(m, &who->node);
	if (is_client && !n->cfg.clients_permitted) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "this overlay does not permit clients");
		return;
	}
	/* The first candidate of a link type this overlay allows. */
	if (n->ice != NULL) {
		ice_on_attach(n, from, m, who, &at, is_client);
		return;
	}
	for (size_t i = 0; i < at.ncands && use == NULL; i++)
		if (link_type_ok(n, at.cands[i].overlay_link) &&
		    (at.cands[i].addr.type == P2P_ADDR_IPV4 ||
		    at.cands[i].addr.type == P2P_ADDR_IPV6))
			use = &at.cands[i];
	if (use == NULL) {
		(void)route_error(n, from, m, P2P_ERR_INCOMPATIBLE,
		    "no candidate of an overlay link type this overlay uses");
		return;
	}
	p2p_w_init(&w, 128);
	if (attach_body(n, &w, 0, 0) == 0)
		(void)route_answer(n, from, m, P2P_ATTACH_ANS, w.p, w.len);
	p2p_w_free(&w);
	if ((l = link_by_peer(n, &who->node)) != NULL) {
		l->client |= is_client;
		if (at.send_update)
			topo_send_update(n, &who->node, P2P_UPDATE_FULL);
		return;
	}
	if (inet_ntop(use->addr.type == P2P_ADDR_IPV4 ? AF_INET : AF_INET6,
	    use->addr.addr, ip, sizeof(ip)) == NULL)
		return;
	l = link_connect(n, use->overlay_link, ip, use->addr.port,
	    &who->node, 0);
	if (l != NULL) {
		l->update_on_open = at.send_update;
		l->client = is_client;
	}
}

static void
on_update(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_chord_update u;
	p2p_chord_lists ls;
	p2p_chord_result *res;
	p2p_err e = { 0 };
	int flags;

	if (p2p_update_req_decode(m->body, a, &u, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (n->opts.client) {
		client_update(n, from, m, who, &u);
		return;
	}
	if (client_is_client(n, &who->node)) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "a client takes no place in the ring");
		return;
	}
	answer_empty(n, from, m, P2P_UPDATE_ANS);
	if (left_recently(n, &who->node))
		return;		/* sent before its Leave */
	if (link_by_peer(n, &who->node) == NULL) {
		/* Only a directly connected peer can enter the routing
		 * table: connect first, it will send its Update again. */
		node_log(n, NLOG_DEBUG, "Update from a peer not connected: "
		    "attaching");
		attach_node(n, NULL, &who->node);
		return;
	}
	memset(&ls, 0, sizeof(ls));
	ls.type = u.type;
	ls.uptime = u.uptime;
	ls.pred = u.preds;
	ls.npred = u.npreds;
	ls.succ = u.succs;
	ls.nsucc = u.nsuccs;
	ls.finger = u.fingers;
	ls.nfinger = u.nfingers;
	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return;
	if (p2p_chord_apply_update(&n->chord, &who->node, &ls, node_now(n),
	    res, &e) != 0) {
		node_log(n, NLOG_INFO, "Update refused: %s", e.what);
		free(res);
		return;
	}
	flags = (int)res->flags;
	{
		char id[9];
		node_log(n, NLOG_DEBUG, "Update type %u from %s: flags 0x%x, "
		    "%zu to attach", u.type, node_id_short(&who->node, id),
		    (unsigned)flags, res->nattach);
	}
	for (size_t i = 0; i < res->nattach; i++)
		attach_node(n, &who->node, &res->attach[i]);
	for (size_t i = 0; i < res->nfinger && i < UPDATE_ATTACHES; i++)
		attach_node(n, &who->node, &res->finger[i]);
	if (n->join == JOIN_UPDATE && p2p_id_eq(&who->node, &n->admitting)) {
		/* s10.5: the neighbors it names first, then the Join. */
		join_after_neighbors(n, res->attach, res->nattach);
		free(res);
		return;
	}
	free(res);
	join_if_neighbors(n);
	after_change(n, flags, &who->node);
}

static void
on_join(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_join_req jr;
	p2p_err e = { 0 };
	uint8_t ans[2] = { 0, 0 };	/* JoinAns: empty overlay data */
	char id[9];
	int flags;

	if (p2p_join_req_decode(m->body, a, &jr, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (!p2p_id_eq(&jr.joining_peer_id, &who->node)) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "joining Node-ID differs from the signer");
		return;
	}
	if (!joined(n) || link_by_peer(n, &who->node) == NULL ||
	    client_is_client(n, &who->node)) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    !joined(n) ? "not in the ring yet" :
		    client_is_client(n, &who->node) ? "a client link cannot "
		    "join" : "Attach before Join");
		return;
	}
	flags = p2p_chord_add_peer(&n->chord, &who->node, node_now(n), &e);
	(void)route_answer(n, from, m, P2P_JOIN_ANS, ans, sizeof(ans));
	node_log(n, NLOG_INFO, "%s joined through us",
	    node_id_short(&who->node, id));
	if (n->join == JOIN_ALONE)
		n->join = JOIN_DONE;
	if (flags >= 0) {
		topo_update_neighbors(n);
		client_notify_all(n);	/* the newcomer may own some */
	}
	store_ring_changed(n);	/* hand over what the newcomer owns */
}

static void
on_leave(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_leave_req lr;
	p2p_chord_leave cl;
	p2p_chord_lists ls;
	p2p_chord_result *res;
	p2p_err e = { 0 };
	char id[9];
	int flags;

	if (p2p_leave_req_decode(m->body, a, &lr, &e) != 0 ||
	    p2p_chord_leave_decode(lr.overlay_data, a, &cl, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (!p2p_id_eq(&lr.leaving_peer_id, &who->node)) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "leaving Node-ID differs from the signer");
		return;
	}
	answer_empty(n, from, m, P2P_LEAVE_ANS);
	memset(&ls, 0, sizeof(ls));
	ls.type = cl.type;
	if (cl.type == P2P_LEAVE_FROM_SUCC) {
		ls.succ = cl.ids;
		ls.nsucc = cl.nids;
	} else {
		ls.pred = cl.ids;
		ls.npred = cl.nids;
	}
	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return;
	if (p2p_chord_apply_leave(&n->chord, &who->node, &ls, node_now(n),
	    res, &e) == 0) {
		node_log(n, NLOG_INFO, "%s left", node_id_short(&who->node, id));
		left_add(n, &who->node);
		flags = (int)res->flags;
		for (size_t i = 0; i < res->nattach; i++)
			attach_node(n, NULL, &res->attach[i]);
		after_change(n, flags, NULL);
	}
	free(res);
}

static void
on_ping(p2p_node *n, p2p_link *from, const p2p_msg *m, p2p_arena *a)
{
	p2p_ping_req pr;
	p2p_ping_ans pa;
	p2p_err e = { 0 };
	p2p_wbuf w;

	if (p2p_ping_req_decode(m->body, a, &pr, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (RAND_bytes((unsigned char *)&pa.response_id,
	    sizeof(pa.response_id)) != 1)
		pa.response_id = 0;
	pa.time = node_wall_ms();
	p2p_w_init(&w, 16);
	if (p2p_ping_ans_encode(&w, &pa) == 0)
		(void)route_answer(n, from, m, P2P_PING_ANS, w.p, w.len);
	p2p_w_free(&w);
}

/* Share of the ring this node owns, in parts per billion. */
static uint32_t
responsible_ppb(const p2p_node *n)
{
	const p2p_id *p;
	p2p_id d;
	uint64_t top = 0;

	if (p2p_chord_predecessors(&n->chord, &p) == 0)
		return 1000000000u;
	p2p_id_distance(&d, &p[0], &n->ident.node);
	for (int i = 0; i < 4; i++)
		top = top << 8 | d.b[i];
	return (uint32_t)((top * 1000000000ull) >> 32);
}

static void
on_probe(p2p_node *n, p2p_link *from, const p2p_msg *m, p2p_arena *a)
{
	p2p_probe_req pr;
	p2p_probe_ans pa;
	p2p_probe_info info[8];
	p2p_err e = { 0 };
	p2p_wbuf w;

	if (p2p_probe_req_decode(m->body, a, &pr, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	memset(&pa, 0, sizeof(pa));
	memset(info, 0, sizeof(info));
	pa.info = info;
	for (size_t i = 0; i < pr.types.len && pa.ninfo < 8; i++) {
		p2p_probe_info *pi = &info[pa.ninfo];

		switch (pr.types.p[i]) {
		case P2P_PROBE_RESPONSIBLE_SET:
			pi->value = responsible_ppb(n);
			break;
		case P2P_PROBE_NUM_RESOURCES:
			pi->value = 0;	/* this node stores no data yet */
			break;
		case P2P_PROBE_UPTIME:
			pi->value = p2p_chord_uptime(&n->chord, node_now(n));
			break;
		default:
			continue;	/* answer only what we know */
		}
		pi->type = pr.types.p[i];
		pa.ninfo++;
	}
	p2p_w_init(&w, 64);
	if (p2p_probe_ans_encode(&w, &pa) == 0)
		(void)route_answer(n, from, m, P2P_PROBE_ANS, w.p, w.len);
	p2p_w_free(&w);
}

static void
on_route_query(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_route_query_req rq;
	p2p_route_query_ans ra;
	p2p_err e = { 0 };
	p2p_wbuf w;
	p2p_id k;

	if (p2p_route_query_req_decode(m->body, a, &rq, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (rq.dest.type == P2P_DEST_NODE)
		k = rq.dest.node;
	else if (rq.dest.type == P2P_DEST_RESOURCE &&
	    rq.dest.data.len == P2P_ID_LEN)
		memcpy(k.b, rq.dest.data.p, P2P_ID_LEN);
	else {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE,
		    "RouteQuery destination must be a Node-ID or Resource-ID");
		return;
	}
	if (p2p_chord_next_hop(&n->chord, &k, &ra.next_peer) ==
	    P2P_CHORD_LOCAL)
		ra.next_peer = n->ident.node;
	p2p_w_init(&w, 16);
	if (p2p_route_query_ans_encode(&w, &ra) == 0)
		(void)route_answer(n, from, m, P2P_ROUTE_QUERY_ANS, w.p, w.len);
	p2p_w_free(&w);
	if (rq.send_update)
		topo_send_update(n, &who->node, P2P_UPDATE_FULL);
}

/* What a client answers: Ping, PathTrack (it is a trace's last hop),
 * AppAttach (its SIP usage) and Update (from its admitting peer). */
static int
client_answers(uint16_t code)
{
	return code == P2P_PING_REQ || code == P2P_PATH_TRACK_REQ ||
	    code == P2P_APP_ATTACH_REQ || code == P2P_UPDATE_REQ;
}

void
topo_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who)
{
	p2p_arena a;
	size_t cap = 4 * m->body.len + 4096;
	void *mem = malloc(cap);

	if (mem == NULL)
		return;
	p2p_arena_init(&a, mem, cap);
	if (n->opts.client && !client_answers(m->code)) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "a client node neither routes nor stores (RFC 6940 s3.2)");
		free(mem);
		return;
	}
	switch (m->code) {
	case P2P_ATTACH_REQ:
		on_attach(n, from, m, who, &a);
		break;
	case P2P_UPDATE_REQ:
		on_update(n, from, m, who, &a);
		break;
	case P2P_JOIN_REQ:
		on_join(n, from, m, who, &a);
		break;
	case P2P_LEAVE_REQ:
		on_leave(n, from, m, who, &a);
		break;
	case P2P_PING_REQ:
		if (diag_ping(n, from, m, who) == 0)
			on_ping(n, from, m, &a);
		break;
	case P2P_PATH_TRACK_REQ:
		diag_path_track(n, from, m, who, &a);
		break;
	case P2P_PROBE_REQ:
		on_probe(n, from, m, &a);
		break;
	case P2P_ROUTE_QUERY_REQ:
		on_route_query(n, from, m, who, &a);
		break;
	case P2P_APP_ATTACH_REQ:
		sip_app_attach(n, from, m, who, &a);
		break;
	case P2P_CONFIG_UPDATE_REQ:
		cfg_update_request(n, from, m, who, &a);
		break;
	case P2P_STORE_REQ:
	case P2P_FETCH_REQ:
	case P2P_STAT_REQ:
	case P2P_FIND_REQ:
		store_request(n, from, m, who, &a);
		break;
	default:
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "method not supported by this node");
		break;
	}
	free(mem);
}

int
topo_leave(p2p_node *n)
{
	const p2p_id *s, *p;
	size_t ns, np;
	int sent = 0;

	if (n->join != JOIN_DONE)
		return 0;
	ns = p2p_chord_successors(&n->chord, &s);
	np = p2p_chord_predecessors(&n->chord, &p);
	for (int side = 0; side < 2; side++) {
		/* our predecessors get our successors, and the reverse */
		const p2p_id *to = side == 0 ? p : s;
		size_t nto = side == 0 ? np : ns;
		p2p_chord_leave cl;
		p2p_leave_req lr;
		p2p_wbuf data, w;

		cl.type = side == 0 ? P2P_LEAVE_FROM_SUCC : P2P_LEAVE_FROM_PRED;
		cl.ids = (p2p_id *)(side == 0 ? s : p);
		cl.nids = side == 0 ? ns : np;
		p2p_w_init(&data, 256);
		if (p2p_chord_leave_encode(&data, &cl) != 0) {
			p2p_w_free(&data);
			continue;
		}
		lr.leaving_peer_id = n->ident.node;
		lr.overlay_data.p = data.p;
		lr.overlay_data.len = data.len;
		p2p_w_init(&w, 256);
		if (p2p_leave_req_encode(&w, &lr) == 0) {
			for (size_t i = 0; i < nto; i++) {
				p2p_dest d;
				p2p_dest_node(&d, &to[i]);
				if (route_request(n, &d, 1, P2P_LEAVE_REQ, &w,
				    NULL, 0, NULL, noop_answer, NULL) == 0)
					sent++;
			}
		}
		p2p_w_free(&w);
		p2p_w_free(&data);
	}
	return sent;
}

void
topo_tick(p2p_node *n, uint64_t now)
{
	p2p_chord_work work;

	for (size_t i = 0; i < n->nattach;) {
		if (n->attach[i].until_ms <= now)
			n->attach[i] = n->attach[--n->nattach];
		else
			i++;
	}
	if (!joined(n)) {
		if (n->join == JOIN_NEIGHBORS) {
			if (now >= n->join_deadline_ms) {
				node_log(n, NLOG_INFO, "neighbor Attaches not "
				    "complete: Join sent without them");
				send_join(n);
			} else
				join_if_neighbors(n);
			return;
		}
		if (now >= n->join_deadline_ms) {
			for (p2p_link *l = n->links; l != NULL; l = l->next)
				if (l->bootstrap)
					link_close(l, "join timed out");
			node_log(n, NLOG_INFO, "join not complete; trying again");
			topo_bootstrap(n);
			n->join_deadline_ms = now + JOIN_TIMEOUT_MS;
		}
		return;
	}
	if (n->opts.client) {
		client_tick(n, now);
		return;
	}
	memset(&work, 0, sizeof(work));
	if (p2p_chord_tick(&n->chord, now, &work) == 0)
		return;
	if (work.send_update) {
		topo_update_neighbors(n);
		store_ring_changed(n);	/* periodic check of the copies */
	}
	if (work.probe) {
		p2p_dest d;
		p2p_dest_resource(&d, &work.probe_id);
		(void)topo_send_attach(n, &d, 1, 1, NULL);
	}
}

uint64_t
topo_next_due(p2p_node *n)
{
	uint64_t t = UINT64_MAX;

	for (size_t i = 0; i < n->nattach; i++)
		if (n->attach[i].until_ms < t)
			t = n->attach[i].until_ms;
	if (!joined(n))
		return n->join_deadline_ms < t ? n->join_deadline_ms : t;
	if (n->opts.client)
		return client_next_due(n, t);
	if (p2p_chord_next_deadline(&n->chord) < t)
		t = p2p_chord_next_deadline(&n->chord);
	return t;
}
