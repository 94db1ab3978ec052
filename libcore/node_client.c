/*
 * node_client: client nodes (RFC 6940 s3.2), both ends of it.
 *
 * A client takes no place on the ring: it never sends Join or Update,
 * holds no data for others and routes nothing for them. It reaches the
 * overlay through one peer, the one responsible for its own Node-ID (the
 * first routing option of s3.2.1), and keeps a single link to it:
 *
 *   - it connects to a bootstrap peer and routes an Attach over that link
 *     to a Resource-ID equal to its own Node-ID; the peer responsible for
 *     that point of the ring answers, connects to the client and sends
 *     its neighbors in an Update (the Attach asks for one);
 *   - every message it originates goes out over that link; the admitting
 *     peer adds the client to the via list as for any request it
 *     forwards, so answers come back the same way;
 *   - a message for the client's Node-ID reaches the admitting peer, the
 *     one responsible for it, which finds the client in its connection
 *     table and forwards over the link (s6.1: a directly connected
 *     Node-ID is delivered before the routing table is looked at).
 *
 * The Attach is sent to a Resource-ID rather than to the Node-ID itself:
 * a peer that is responsible for a Node-ID it is not connected to drops
 * a message for it (s6.1), whereas a Resource-ID reaches the responsible
 * peer.
 *
 * How the admitting peer knows: a node enters a peer's routing table only
 * through Update or Join (s6.4.2.4, s6.4.2.1), and a client sends
 * neither, so it stays in the connection table. A link whose far end
 * routed an Attach to its own Node-ID is marked as a client link: the
 * peer refuses Join and Update over it (nothing can move the client into
 * the routing table), does not close it as unused (the client keeps it
 * alive with Pings), and sends the client a neighbors Update whenever its
 * own neighbors change, so the client learns of a peer that has become
 * responsible for it in its place.
 *
 * The client attaches again when the admitting peer's link goes down
 * (through the bootstrap peers, as at start), when an Update from it
 * shows that a predecessor of the admitting peer now covers the client's
 * Node-ID, and every chord-update-interval as a check. The new peer's
 * link replaces the old one once its Attach answer and its link are both
 * there.
 *
 * Nothing here depends on how links are made: the client path only uses
 * Attach, link_by_peer() and the link table, whatever the transport.
 */
#include "node_int.h"

#include <string.h>

#define CLIENT_ATTACH_MS	10000	/* wait this long for an Attach */
#define CLIENT_RETRY_MS		2000	/* while told to move, attach again
					   this often */

/* The uplink: the admitting peer's link once there, the bootstrap link
 * while connecting. */
p2p_link *
client_uplink(p2p_node *n)
{
	p2p_link *l;

	if (!n->opts.client)
		return NULL;
	if ((l = link_by_peer(n, &n->admitting)) != NULL)
		return l;
	if (n->client_has_cand && (l = link_by_peer(n, &n->client_cand)) !=
	    NULL)
		return l;
	for (l = n->links; l != NULL; l = l->next)
		if (l->open && l->has_peer && l->bootstrap)
			return l;
	return NULL;
}

int
client_is_uplink(p2p_node *n, const p2p_link *l)
{
	return n->opts.client && l->has_peer &&
	    (p2p_id_eq(&l->peer, &n->admitting) || (n->client_has_cand &&
	    p2p_id_eq(&l->peer, &n->client_cand)));
}

/* Route an Attach to the Resource-ID of our own Node-ID over the uplink
 * (or the given link). */
static int
client_attach(p2p_node *n, p2p_link *via)
{
	p2p_dest d;

	if (via == NULL && (via = client_uplink(n)) == NULL)
		return -1;
	p2p_dest_resource(&d, &n->ident.node);
	return topo_send_attach(n, &d, 1, 1, via);
}

static uint64_t
check_interval(const p2p_node *n)
{
	return n->chord.cfg.update_interval_ms;
}

/* The candidate has answered and its link is up: it is the admitting
 * peer from now on; every other link goes. */
static void
client_switch(p2p_node *n)
{
	char id[P2P_ID_HEXLEN + 1];
	int first = n->join != JOIN_DONE;

	n->admitting = n->client_cand;
	n->client_has_cand = 0;
	n->client_moving = 0;
	n->join = JOIN_DONE;
	n->join_attempts = 0;
	n->client_check_ms = node_now(n) + check_interval(n);
	for (p2p_link *l = n->links; l != NULL; l = l->next)
		if (!l->has_peer || !p2p_id_eq(&l->peer, &n->admitting))
			link_close(l, "a client keeps one link, to its "
			    "admitting peer");
	node_log(n, NLOG_INFO, "%s as a client through %s",
	    first ? "connected" : "moved", p2p_id_hex(&n->admitting, id));
}

static void
maybe_switch(p2p_node *n)
{
	if (n->client_has_cand && link_by_peer(n, &n->client_cand) != NULL)
		client_switch(n);
}

void
client_attach_answered(p2p_node *n, const p2p_id *who)
{
	if (n->join == JOIN_DONE && p2p_id_eq(who, &n->admitting)) {
		n->client_moving = 0;	/* still the responsible peer */
		return;
	}
	n->client_cand = *who;
	n->client_has_cand = 1;
	n->client_cand_until = node_now(n) + CLIENT_ATTACH_MS;
	if (n->join != JOIN_DONE)
		n->join = JOIN_UPDATE;
	maybe_switch(n);
}

int
client_link_open(p2p_node *n, p2p_link *l)
{
	if (!n->opts.client)
		return 0;
	if (l->bootstrap && n->join == JOIN_BOOTSTRAP) {
		n->join = JOIN_ATTACH;
		n->join_deadline_ms = node_now(n) + CLIENT_ATTACH_MS;
		n->client_has_cand = 0;
		if (client_attach(n, l) != 0)
			node_log(n, NLOG_WARN, "cannot send the client Attach");
	}
	maybe_switch(n);
	return 1;
}

/* Start over through the bootstrap peers. */
static void
client_restart(p2p_node *n, const char *why)
{
	node_log(n, NLOG_INFO, "%s: attaching again", why);
	n->join_attempts = 0;
	n->client_has_cand = 0;
	n->client_moving = 0;
	topo_bootstrap(n);
}

int
client_link_gone(p2p_node *n, p2p_link *l)
{
	if (!n->opts.client)
		return 0;
	if (link_by_peer(n, &l->peer) != NULL)
		return 1;
	if (n->client_has_cand && p2p_id_eq(&l->peer, &n->client_cand))
		n->client_has_cand = 0;
	if (n->join == JOIN_DONE && p2p_id_eq(&l->peer, &n->admitting))
		client_restart(n, "admitting peer gone");
	return 1;
}

void
client_tick(p2p_node *n, uint64_t now)
{
	if (n->client_has_cand && now >= n->client_cand_until)
		n->client_has_cand = 0;	/* the new peer never connected */
	if (now >= n->client_check_ms) {
		/* Told to move, the Attach may meet a ring still settling
		 * around the new peer: try again soon until it answers. */
		n->client_check_ms = now + (n->client_moving ?
		    CLIENT_RETRY_MS : check_interval(n));
		(void)client_attach(n, NULL);
	}
}

uint64_t
client_next_due(p2p_node *n, uint64_t t)
{
	if (n->client_has_cand && n->client_cand_until < t)
		t = n->client_cand_until;
	return n->client_check_ms < t ? n->client_check_ms : t;
}

void
client_update(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, const p2p_chord_update *u)
{
	char id[9];

	(void)route_answer(n, from, m, P2P_UPDATE_ANS, NULL, 0);
	if (n->join != JOIN_DONE || !p2p_id_eq(&who->node, &n->admitting) ||
	    u->npreds == 0)
		return;
	/* The admitting peer is responsible for (its predecessor, itself]. */
	if (p2p_id_in_oc(&n->ident.node, &u->preds[0], &who->node)) {
		n->client_moving = 0;
		return;
	}
	node_log(n, NLOG_INFO, "%s is no longer responsible for us: "
	    "attaching again", node_id_short(&who->node, id));
	n->client_moving = 1;
	n->client_check_ms = node_now(n);
}

/* ---- the admitting peer's side ---- */

int
client_attach_is_own(const p2p_msg *m, const p2p_id *signer)
{
	const p2p_dest *d;

	if (m->ndest == 0)
		return 0;
	d = &m->dest[m->ndest - 1];
	return d->type == P2P_DEST_RESOURCE && d->data.len == P2P_ID_LEN &&
	    memcmp(d->data.p, signer->b, P2P_ID_LEN) == 0;
}

int
client_is_client(p2p_node *n, const p2p_id *id)
{
	for (p2p_link *l = n->links; l != NULL; l = l->next)
		if (l->open && l->has_peer && l->client &&
		    p2p_id_eq(&l->peer, id))
			return 1;
	return 0;
}

void
client_notify_all(p2p_node *n)
{
	if (n->opts.client)
		return;
	for (p2p_link *l = n->links; l != NULL; l = l->next)
		if (l->open && l->has_peer && l->client)
			topo_send_update(n, &l->peer, P2P_UPDATE_NEIGHBORS);
}
