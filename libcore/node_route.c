/*
 * node_route: what happens to a message (RFC 6940 s6.1, s6.2).
 *
 * A received message is looked at through its forwarding header only: the
 * first destination entry decides whether it is for this node (deliver),
 * names this node with more entries after it (pop and look again), or
 * must go on (forward: spend a hop of TTL, append the previous hop to the
 * via list of a request, send on the link the topology picks). Only a
 * delivered message is decoded whole and has its signature checked; an
 * unsigned or badly signed one is dropped silently. A delivered request
 * whose configuration sequence is not ours is answered by node_cfg.c
 * (Error_Config_Too_Old/New) instead of its handler; only a ConfigUpdate
 * request may be larger than max-message-size (cfg_msg_limit).
 *
 * Answers retrace the request: their destination list is the hop the
 * request came from followed by the request's via list reversed.
 *
 * Every answer this node gives to a request delivered to it is kept for
 * the request's lifetime (anscache.h): an end-to-end retransmission of
 * the request (same transaction id, signer and code) gets the same answer
 * bytes again, under a forwarding header that retraces the copy's own
 * path, and is not handled twice; a copy of a request still being
 * answered (an Attach or AppAttach gathering ICE candidates) is ignored.
 *
 * Requests for a Resource-ID (Store, Fetch, Stat, Find) that this node
 * originates go straight to the peer responsible for it when the node
 * knows which peer that is and has a link to it: every successful answer
 * to such a request is signed by the responsible peer, so its signer is
 * kept with the Resource-ID (NODE_DIRECT_ROUTES entries, DIRECT_TTL_MS)
 * and used whenever a link to it is up, unless a peer this node knows of
 * lies between the Resource-ID and it (that peer would own the key, so
 * the signer is not taken for the owner: a peer on the way that answers
 * for a key it does not own is not believed). A peer without a link is attached
 * to once a second answer for the Resource-ID comes from it (a key asked
 * for once is not worth a TLS handshake): a Node-ID destination, no
 * send_update, so the link enters neither routing table and is closed once
 * unused (node_link.c). Chord would send the request to the closest preceding
 * finger, a few hops short of that peer; the peer itself forwards a
 * request for a key it no longer owns, and the answer then names the new
 * one. Retransmissions take the ring's route, and so, once, does a request
 * sent straight that gets an error answer (the route is forgotten): a
 * peer that handed the key over sends it on round the ring, past this
 * node, which refuses it as a loop. A learnt peer is not used either once
 * a peer this node knows of lies between the key and it. Trace and routed
 * Pings are not sent this way: they show the ring's route.
 *
 * A client (node_client.c) sends everything that is not for itself or a
 * node it is linked to over its one link, and forwards nothing it
 * receives: a message it cannot deliver to itself is refused.
 *
 * Fragments (RFC 6940 s6.7) are routed like whole messages, each on its
 * own header, and put together only where they are delivered (frag.h).
 * Only the first fragment carries the message code, so a fragment cannot
 * tell whether it belongs to a request: every fragment gets the previous
 * hop appended to its via list (an answer's via list is not used), and
 * only the first one of a request is answered with an error when it
 * cannot go on. Reassembly is keyed by transaction id and the sender: the
 * first via entry (the originator of a request that came over more than
 * one hop), else the peer of the link it came on.
 */
#include "node_int.h"
#include "anscache.h"
#include "frag.h"

#include <stdlib.h>
#include <string.h>

#define REASM_MAX_MSGS	32		/* messages in progress */
#define REASM_MIN_BYTES	(256 * 1024)	/* held at least this much */
#define ANS_MAX_ENTRIES	1024		/* answers kept (anscache.h) */
#define ANS_MIN_BYTES	(1024 * 1024)	/* their bytes, at least */
#define DIRECT_TTL_MS	300000		/* a learnt responsible peer */

enum { R_NONE = 0, R_LOCAL, R_LINK };

typedef struct req_ctx {
	p2p_node *n;
	node_ans_cb cb;
	void *user;
	p2p_id expect;		/* the Node-ID that must sign the answer */
	int check;
	int learn;		/* a request for res: learn its owner */
	int direct_sent;	/* sent straight to res's owner */
	uint16_t code;
	p2p_id res;
} req_ctx;

/* The signer of the answer being delivered, for txn_done. */
static const p2p_sig_who *cur_who;

static void deliver_local(p2p_node *n, p2p_link *from, const uint8_t *buf,
    size_t len);
static int anscache_seen(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who);
static void anscache_keep(p2p_node *n, p2p_link *from, const p2p_msg *req,
    uint16_t code, const uint8_t *buf, size_t len);
static void answer_decode_error(p2p_node *n, p2p_link *from,
    const uint8_t *buf, size_t len, const p2p_err *e);
static void direct_forget(p2p_node *n, const p2p_id *res);
static void resend(void *ctx, p2p_txn *x);

static size_t
max_msg(const p2p_node *n)
{
	return n->cfg.max_message_size > 0 ? n->cfg.max_message_size :
	    P2P_DEFAULT_MAX_MSG;
}

static void *
arena_for(p2p_arena *a, size_t len)
{
	size_t cap = 4 * len + 4096;
	void *mem = malloc(cap);

	p2p_arena_init(a, mem, mem != NULL ? cap : 0);
	return mem;
}

/* While joining, everything not for us goes through the admitting peer
 * (or the bootstrap peer before we know it); a client, always. */
static p2p_link *
join_link(p2p_node *n)
{
	p2p_link *l;

	if (n->opts.client)
		return client_uplink(n);
	if (n->join == JOIN_DONE || n->join == JOIN_ALONE)
		return NULL;
	if ((l = link_by_peer(n, &n->admitting)) != NULL)
		return l;
	for (l = n->links; l != NULL; l = l->next)
		if (l->open && l->bootstrap)
			return l;
	return NULL;
}

static int
peer_linked(void *arg, const p2p_id *peer)
{
	p2p_link *l = link_by_peer(arg, peer);

	return l != NULL && !l->client;
}

static int
route_dest(p2p_node *n, const p2p_dest *d, p2p_link **out)
{
	p2p_id k, next;

	*out = NULL;
	switch (d->type) {
	case P2P_DEST_NODE:
		if (p2p_id_eq(&d->node, &n->ident.node) ||
		    p2p_id_is_wildcard(&d->node))
			return R_LOCAL;
		if ((*out = link_by_peer(n, &d->node)) != NULL)
			return R_LINK;
		k = d->node;
		break;
	case P2P_DEST_RESOURCE:
		if (d->data.len != P2P_ID_LEN)
			return R_NONE;
		memcpy(k.b, d->data.p, P2P_ID_LEN);
		break;
	default:
		return R_NONE;	/* no list compression here */
	}
	if ((*out = join_link(n)) != NULL)
		return R_LINK;
	if (n->opts.client)
		return R_NONE;	/* no uplink now: nowhere to send it */
	if (p2p_chord_next_hop(&n->chord, &k, &next) == P2P_CHORD_LOCAL)
		return d->type == P2P_DEST_RESOURCE ? R_LOCAL : R_NONE;
	if ((*out = link_by_peer(n, &next)) != NULL)
		return R_LINK;
	/* The table's best hop has no link (not yet, or no longer: an
	 * Attach that ICE could not complete, a peer gone): the best peer
	 * a link reaches takes the message on. */
	if (p2p_chord_next_hop_among(&n->chord, &k, peer_linked, n, &next) ==
	    P2P_CHORD_FORWARD)
		*out = link_by_peer(n, &next);
	return *out != NULL ? R_LINK : R_NONE;
}

/* Pop leading entries that name this node while more follow. */
static int
route_decide(p2p_node *n, p2p_msg *m, p2p_link **out)
{
	int r;

	for (;;) {
		r = route_dest(n, &m->dest[0], out);
		if (r == R_LOCAL && m->ndest > 1 &&
		    m->dest[0].type == P2P_DEST_NODE &&
		    !p2p_id_is_wildcard(&m->dest[0].node)) {
			m->dest++;
			m->ndest--;
			continue;
		}
		return r;
	}
}

static uint16_t
peek_code(p2p_bytes payload)
{
	if (payload.len < 2)
		return 0;
	return (uint16_t)(payload.p[0] << 8 | payload.p[1]);
}

static int
via_has(const p2p_msg *m, const p2p_id *id)
{
	for (size_t i = 0; i < m->nvia; i++)
		if (m->via[i].type == P2P_DEST_NODE &&
		    p2p_id_eq(&m->via[i].node, id))
			return 1;
	return 0;
}

/* Send an encoded message whose header is m: to a link, or to ourselves. */
static int
route_out(p2p_node *n, const uint8_t *buf, size_t len, p2p_msg *m,
    p2p_link **used)
{
	p2p_link *l;
	int r = route_decide(n, m, &l);

	if (used != NULL)
		*used = l;
	if (r == R_LOCAL) {
		deliver_local(n, NULL, buf, len);
		return 0;
	}
	if (r == R_LINK)
		return link_send(l, buf, len);
	return -1;
}

static void
forward(p2p_node *n, p2p_link *from, p2p_link *to, p2p_msg *m,
    p2p_bytes payload, int is_req, p2p_arena *a)
{
	p2p_wbuf w;
	int add_via = is_req || m->fragment != P2P_FRAG_WHOLE;

	if (m->ttl == 0) {
		if (is_req)
			(void)route_error(n, from, m, P2P_ERR_TTL_EXCEEDED,
			    "TTL exhausted");
		n->st.dropped++;
		return;
	}
	if (add_via && from != NULL && from->has_peer) {
		p2p_dest *via;

		if (via_has(m, &n->ident.node)) {
			if (is_req)
				(void)route_error(n, from, m,
				    P2P_ERR_LOOP_DETECTED,
				    "this node is already in the via list");
			n->st.dropped++;
			return;
		}
		via = p2p_arena_array(a, m->nvia + 1, sizeof(*via));
		if (via == NULL) {
			n->st.dropped++;
			return;
		}
		memcpy(via, m->via, m->nvia * sizeof(*via));
		p2p_dest_node(&via[m->nvia], &from->peer);
		m->via = via;
		m->nvia++;
	}
	m->ttl--;
	p2p_w_init(&w, payload.len + 256);
	if (p2p_msg_encode_fwd(&w, m, payload) != 0 ||
	    w.len > cfg_msg_limit(n, (m->fragment & P2P_FRAG_OFFSET_MASK) ==
	    0 ? peek_code(payload) : 0)) {
		if (is_req)
			(void)route_error(n, from, m,
			    P2P_ERR_MESSAGE_TOO_LARGE,
			    "message too large to forward");
		n->st.dropped++;
	} else if (link_send(to, w.p, w.len) == 0) {
		n->st.forwarded++;
		diag_count_msg(n, peek_code(payload), 1);
	} else {
		n->st.dropped++;
	}
	p2p_w_free(&w);
}

static p2p_reasm *
reasm_get(p2p_node *n)
{
	p2p_reasm_limits lim;

	if (n->reasm == NULL) {
		memset(&lim, 0, sizeof(lim));
		lim.max_msg = max_msg(n);
		lim.max_bytes = 4 * lim.max_msg > REASM_MIN_BYTES ?
		    4 * lim.max_msg : REASM_MIN_BYTES;
		lim.max_msgs = REASM_MAX_MSGS;
		lim.timeout_ms = P2P_REASM_TIMEOUT_MS;
		n->reasm = p2p_reasm_new(&lim);
	}
	return n->reasm;
}

const struct p2p_reasm_stats *
route_reasm_stats(p2p_node *n)
{
	static const p2p_reasm_stats none;

	return n->reasm != NULL ? p2p_reasm_get_stats(n->reasm) : &none;
}

const p2p_anscache_stats *
route_anscache_stats(p2p_node *n)
{
	static const p2p_anscache_stats none;

	return n->anscache != NULL ? p2p_anscache_get_stats(n->anscache) :
	    &none;
}

void
route_free(p2p_node *n)
{
	p2p_reasm_free(n->reasm);
	n->reasm = NULL;
	p2p_anscache_free(n->anscache);
	n->anscache = NULL;
}

/* A fragment for this node: hold it, and deliver the message once whole. */
static void
reassemble(p2p_node *n, p2p_link *from, const p2p_msg *m, const uint8_t *buf,
    size_t len)
{
	p2p_reasm *r = reasm_get(n);
	p2p_id sender = from->peer;
	uint8_t *whole;
	size_t wlen;
	int st;

	if (m->nvia > 0 && m->via[0].type == P2P_DEST_NODE)
		sender = m->via[0].node;
	if (r == NULL) {
		n->st.dropped++;
		return;
	}
	st = p2p_reasm_add(r, buf, len, &sender, node_now(n), &whole, &wlen);
	if (st == P2P_REASM_DROP) {
		n->st.dropped++;
		node_log(n, NLOG_DEBUG, "from %s: fragment dropped "
		    "(reassembly bounds or contradiction)", from->addr);
	} else if (st == P2P_REASM_DONE) {
		node_log(n, NLOG_DEBUG, "from %s: message of %zu bytes "
		    "reassembled", from->addr, wlen);
		deliver_local(n, from, whole, wlen);
		free(whole);
	}
}

void
route_receive(p2p_link *from, const uint8_t *buf, size_t len)
{
	p2p_node *n = from->node;
	p2p_decode_opts o = { cfg_msg_limit(n, P2P_CONFIG_UPDATE_REQ),
	    P2P_ROLE_FORWARDER };
	p2p_arena a;
	void *mem;
	p2p_msg m;
	p2p_bytes payload;
	p2p_err e = { 0 };
	p2p_link *to;
	uint16_t code;
	int is_req;

	if ((mem = arena_for(&a, len)) == NULL)
		return;
	if (p2p_fwd_decode(buf, len, &o, &a, &m, &payload, &e) != 0) {
		/* An unsupported forward-critical option (or another error
		 * with a code) is answered when the message is a request. */
		answer_decode_error(n, from, buf, len, &e);
		goto out;
	}
	if (m.overlay != n->overlay_hash) {
		n->st.dropped++;
		node_log(n, NLOG_DEBUG, "from %s: other overlay", from->addr);
		goto out;
	}
	/* Only a first fragment (or a whole message) has the code. */
	code = (m.fragment & P2P_FRAG_OFFSET_MASK) == 0 ? peek_code(payload) : 0;
	is_req = p2p_code_is_request(code);
	if ((m.fragment & P2P_FRAG_OFFSET_MASK) == 0)
		diag_count_msg(n, code, 0);
	cfg_seen(n, m.config_seq, code);
	if (len > cfg_msg_limit(n, code)) {
		/* Only a ConfigUpdate may be larger than max-message-size. */
		if (is_req)
			(void)route_error(n, from, &m,
			    P2P_ERR_MESSAGE_TOO_LARGE,
			    "message exceeds max-message-size");
		n->st.malformed++;
		goto out;
	}
	if (m.ttl > (n->cfg.initial_ttl ? n->cfg.initial_ttl :
	    P2P_DEFAULT_TTL)) {
		if (is_req)
			(void)route_error(n, from, &m, P2P_ERR_TTL_EXCEEDED,
			    "TTL above the overlay's initial-ttl");
		n->st.dropped++;
		goto out;
	}
	switch (route_decide(n, &m, &to)) {
	case R_LOCAL:
		if (m.fragment != P2P_FRAG_WHOLE)
			reassemble(n, from, &m, buf, len);
		else
			deliver_local(n, from, buf, len);
		break;
	case R_LINK:
		if (!n->opts.client) {
			forward(n, from, to, &m, payload, is_req, &a);
			break;
		}
		if (is_req)	/* a client routes nothing for others */
			(void)route_error(n, from, &m, P2P_ERR_FORBIDDEN,
			    "a client node does not route");
		n->st.dropped++;
		break;
	default:
		if (is_req)
			(void)route_error(n, from, &m, P2P_ERR_NOT_FOUND,
			    "no route to the destination");
		n->st.dropped++;
		break;
	}
out:
	free(mem);
}

static void
answer_decode_error(p2p_node *n, p2p_link *from, const uint8_t *buf,
    size_t len, const p2p_err *e)
{
	p2p_arena a;
	void *mem;
	p2p_msg h;
	p2p_bytes payload;
	p2p_err e2 = { 0 };

	n->st.malformed++;
	node_log(n, e->reload_code != 0 ? NLOG_INFO : NLOG_DEBUG,
	    "%s: refused: %s", from != NULL ? from->addr : "local", e->what);
	if (e->reload_code == 0 || (mem = arena_for(&a, len)) == NULL)
		return;
	if (p2p_fwd_decode(buf, len, NULL, &a, &h, &payload, &e2) == 0 &&
	    p2p_code_is_request(peek_code(payload)))
		(void)route_error(n, from, &h, e->reload_code, e->what);
	free(mem);
}

static void
deliver_local(p2p_node *n, p2p_link *from, const uint8_t *buf, size_t len)
{
	p2p_decode_opts o = { cfg_msg_limit(n, P2P_CONFIG_UPDATE_REQ),
	    P2P_ROLE_DESTINATION };
	p2p_arena a;
	void *mem;
	p2p_msg m;
	p2p_err e = { 0 };
	p2p_sig_who who;
	p2p_bytes raw = { buf, len };

	memset(&who, 0, sizeof(who));
	if ((mem = arena_for(&a, len)) == NULL)
		return;
	if (p2p_msg_decode(buf, len, &o, &a, &m, &e) != 0) {
		answer_decode_error(n, from, buf, len, &e);
		goto out;
	}
	if (p2p_msg_verify(&m, NULL, n->trust, &who, &e) != 0 ||
	    !who.has_node) {
		n->st.bad_signature++;
		node_log(n, NLOG_WARN, "%s: %s dropped: bad signature: %s",
		    from != NULL ? from->addr : "local",
		    p2p_code_name(m.code) ? p2p_code_name(m.code) : "message",
		    e.what ? e.what : "no Node-ID");
		goto out;
	}
	n->st.delivered++;
	if (p2p_code_is_request(m.code)) {
		if (anscache_seen(n, from, &m, &who) == 0 &&
		    cfg_check_request(n, from, &m, &who) == 0)
			topo_request(n, from, &m, &who);
	} else {
		p2p_txn *x = p2p_txn_find(&n->txns, m.transaction_id);
		req_ctx *c = x != NULL ? x->user : NULL;

		if (c != NULL && c->check && !p2p_id_eq(&c->expect, &who.node)) {
			n->st.bad_signature++;
			node_log(n, NLOG_WARN, "answer signed by the wrong node");
			goto out;
		}
		if (c != NULL && c->direct_sent && m.code == P2P_ERROR) {
			/* Sent straight to the peer taken for the owner,
			 * which could not answer it (it may have handed the
			 * key over, and the request come back round the
			 * ring): forget that route and send the same request
			 * the ring's way, once. */
			c->direct_sent = 0;
			direct_forget(n, &c->res);
			resend(n, x);
			goto out;
		}
		cfg_check_answer(n, &m, &who);
		cur_who = &who;
		if (p2p_txn_finish(&n->txns, m.transaction_id,
		    P2P_TXN_ANSWERED, &m, raw) != 0)
			node_log(n, NLOG_DEBUG, "stray answer dropped");
		cur_who = NULL;
	}
out:
	p2p_sig_who_clear(&who);
	free(mem);
}

/* The Resource-ID of a request that may go straight to its responsible
 * peer, or 0 if it may not. */
static int
direct_res(p2p_node *n, const p2p_dest *dest, size_t ndest, uint16_t code,
    p2p_id *res)
{
	if (code != P2P_STORE_REQ && code != P2P_FETCH_REQ &&
	    code != P2P_STAT_REQ && code != P2P_FIND_REQ)
		return 0;
	if (ndest != 1 || dest[0].type != P2P_DEST_RESOURCE ||
	    dest[0].data.len != P2P_ID_LEN || n->opts.client ||
	    (n->join != JOIN_DONE && n->join != JOIN_ALONE))
		return 0;
	memcpy(res->b, dest[0].data.p, P2P_ID_LEN);
	return !p2p_chord_is_responsible(&n->chord, res);
}

static direct_route *
direct_find(p2p_node *n, const p2p_id *res)
{
	for (size_t i = 0; i < NODE_DIRECT_ROUTES; i++)
		if (n->direct[i].until_ms != 0 &&
		    p2p_id_eq(&n->direct[i].res, res))
			return &n->direct[i];
	return NULL;
}

/* Can owner be responsible for res, as far as this node knows? Not when a
 * peer in its routing table, or itself, lies in [res, owner): that one
 * would be. An answer from a peer that fails this is not learnt. */
static int
direct_plausible(p2p_node *n, const p2p_id *res, const p2p_id *owner)
{
	p2p_id r[P2P_CHORD_MAX_ROUTES + 1];
	size_t nr = p2p_chord_routes(&n->chord, r, P2P_CHORD_MAX_ROUTES);

	r[nr++] = n->ident.node;
	for (size_t i = 0; i < nr; i++)
		if (!p2p_id_eq(&r[i], owner) && (p2p_id_eq(&r[i], res) ||
		    p2p_id_in_oo(&r[i], res, owner)))
			return 0;
	return 1;
}

static void
direct_forget(p2p_node *n, const p2p_id *res)
{
	direct_route *d = direct_find(n, res);

	if (d != NULL)
		d->until_ms = 0;
}

/* The link to res's responsible peer, if known, still plausible (a peer
 * that joined between the key and it owns the key now) and up. */
static p2p_link *
direct_link(p2p_node *n, const p2p_id *res)
{
	direct_route *d = direct_find(n, res);
	p2p_link *l;

	if (d == NULL || d->until_ms <= node_now(n))
		return NULL;
	if (!direct_plausible(n, res, &d->owner)) {
		d->until_ms = 0;
		return NULL;
	}
	if ((l = link_by_peer(n, &d->owner)) == NULL || l->client)
		return NULL;
	return l;
}

static void
direct_learn(p2p_node *n, const p2p_id *res, const p2p_id *owner)
{
	direct_route *d = direct_find(n, res);
	uint64_t now = node_now(n);
	p2p_dest dest;

	if (p2p_id_eq(owner, &n->ident.node) || client_is_client(n, owner))
		return;
	if (!direct_plausible(n, res, owner)) {
		if (d != NULL)
			d->until_ms = 0;
		return;
	}
	if (d == NULL) {
		/* A free slot, else the one that expires first. */
		d = &n->direct[0];
		for (size_t i = 1; i < NODE_DIRECT_ROUTES && d->until_ms != 0;
		    i++)
			if (n->direct[i].until_ms < d->until_ms)
				d = &n->direct[i];
		d->res = *res;
		d->answers = 0;
	} else if (d->until_ms <= now || !p2p_id_eq(&d->owner, owner)) {
		d->answers = 0;
	}
	if (d->answers < UINT32_MAX)
		d->answers++;
	d->owner = *owner;
	d->until_ms = now + DIRECT_TTL_MS;
	if (d->answers >= 2 && link_by_peer(n, owner) == NULL) {
		p2p_dest_node(&dest, owner);
		(void)topo_send_attach(n, &dest, 1, 0, NULL);
	}
}

static void
txn_done(void *user, enum p2p_txn_status st, const struct p2p_msg *ans,
    p2p_bytes raw)
{
	req_ctx *c = user;

	(void)raw;
	if (c->learn && st == P2P_TXN_ANSWERED && ans != NULL &&
	    ans->code == c->code + 1 && cur_who != NULL && cur_who->has_node)
		direct_learn(c->n, &c->res, &cur_who->node);
	else if (c->direct_sent && st != P2P_TXN_ANSWERED)
		direct_forget(c->n, &c->res);	/* no answer at all */
	if (c->cb != NULL)
		c->cb(c->n, c->user, st, ans, st == P2P_TXN_ANSWERED ?
		    cur_who : NULL);
	free(c);
}

/* Sign and encode m (contents set by the caller) into w. The certificate
 * list is ours followed by extra (those the message's contents need). */
static int
seal(p2p_node *n, p2p_msg *m, p2p_wbuf *w, const p2p_cert *extra,
    size_t nextra)
{
	p2p_sigbuf sb;
	p2p_cert *certs;
	p2p_err e = { 0 };
	size_t nc = 0;
	int rc;

	if ((certs = calloc(nextra + 1, sizeof(*certs))) == NULL)
		return -1;
	p2p_identity_cert(&n->ident, &certs[nc++]);
	for (size_t i = 0; i < nextra; i++)
		if (!p2p_bytes_eq(extra[i].der, certs[0].der))
			certs[nc++] = extra[i];
	m->certs = certs;
	m->ncerts = nc;
	if (p2p_msg_sign(m, &n->ident, &sb, &e) != 0) {
		node_log(n, NLOG_ERROR, "signing failed: %s", e.what);
		free(certs);
		return -1;
	}
	rc = p2p_msg_encode(w, m);
	free(certs);
	m->certs = NULL;
	m->ncerts = 0;
	return rc;
}

static void
msg_base(p2p_node *n, p2p_msg *m)
{
	p2p_msg_init(m);
	m->overlay = n->overlay_hash;
	m->config_seq = (uint16_t)n->cfg.sequence;
	m->ttl = (uint8_t)(n->cfg.initial_ttl ? n->cfg.initial_ttl :
	    P2P_DEFAULT_TTL);
}

int
route_request(p2p_node *n, const p2p_dest *dest, size_t ndest,
    uint16_t code, const p2p_wbuf *body, const p2p_msg_ext *exts,
    size_t nexts, p2p_link *via_link, node_ans_cb cb, void *user)
{
	return route_request_certs(n, dest, ndest, code, body, exts, nexts,
	    NULL, 0, via_link, cb, user);
}

int
route_request_certs(p2p_node *n, const p2p_dest *dest, size_t ndest,
    uint16_t code, const p2p_wbuf *body, const p2p_msg_ext *exts,
    size_t nexts, const p2p_cert *certs, size_t ncerts, p2p_link *via_link,
    node_ans_cb cb, void *user)
{
	p2p_msg m;
	p2p_wbuf w;
	p2p_txn *x;
	req_ctx *c;
	p2p_link *direct = NULL;
	uint64_t tid;
	int rc = -1;

	if (ndest == 0 || (n->stopping && code != P2P_LEAVE_REQ))
		return -1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->n = n;
	c->cb = cb;
	c->user = user;
	if (ndest == 1 && dest[0].type == P2P_DEST_NODE &&
	    !p2p_id_is_wildcard(&dest[0].node)) {
		c->expect = dest[ndest - 1].node;
		c->check = 1;
	}
	if (via_link == NULL && direct_res(n, dest, ndest, code, &c->res)) {
		c->learn = 1;
		c->code = code;
		direct = direct_link(n, &c->res);
	}
	msg_base(n, &m);
	if (code == P2P_CONFIG_UPDATE_REQ)	/* taken whatever the sequence */
		m.config_seq = 0xffff;
	tid = p2p_txn_new_id(&n->txns);
	m.transaction_id = tid;
	m.dest = (p2p_dest *)dest;
	m.ndest = ndest;
	m.code = code;
	m.body.p = body->p;
	m.body.len = body->len;
	m.exts = (p2p_msg_ext *)exts;
	m.nexts = nexts;
	p2p_w_init(&w, body->len + 1024);
	if (seal(n, &m, &w, certs, ncerts) != 0 ||
	    w.len > cfg_msg_limit(n, code)) {
		if (w.len > cfg_msg_limit(n, code))
			node_log(n, NLOG_WARN, "%s of %zu bytes exceeds "
			    "max-message-size", p2p_code_name(code) ?
			    p2p_code_name(code) : "request", w.len);
		free(c);
		goto out;
	}
	x = p2p_txn_add(&n->txns, tid, w.p, w.len, node_now(n), txn_done, c);
	if (x == NULL) {
		node_log(n, NLOG_WARN, "transaction table full");
		free(c);
		goto out;
	}
	if (via_link != NULL) {
		x->link_id = via_link->id;
		rc = link_send(via_link, w.p, w.len);
	} else if (direct != NULL && link_send(direct, w.p, w.len) == 0) {
		n->st.direct_tx++;
		c->direct_sent = 1;
		rc = 0;
	} else {
		rc = route_out(n, w.p, w.len, &m, NULL);
	}
	if (rc == 0)
		diag_count_msg(n, code, 1);
	if (rc != 0 && (x = p2p_txn_find(&n->txns, tid)) != NULL) {
		/* Nowhere to send it: forget it without a callback. */
		x->cb = NULL;
		(void)p2p_txn_finish(&n->txns, tid, P2P_TXN_CANCELLED, NULL,
		    (p2p_bytes){ NULL, 0 });
		free(c);
	}
out:
	p2p_w_free(&w);
	return rc;
}

int
route_answer(p2p_node *n, p2p_link *from, const p2p_msg *req, uint16_t code,
    const uint8_t *body, size_t len)
{
	return route_answer_full(n, from, req, code, body, len, NULL, 0,
	    NULL, 0);
}

int
route_answer_ext(p2p_node *n, p2p_link *from, const p2p_msg *req,
    uint16_t code, const uint8_t *body, size_t len, const p2p_msg_ext *exts,
    size_t nexts)
{
	return route_answer_full(n, from, req, code, body, len, exts, nexts,
	    NULL, 0);
}

/* The forwarding header of an answer to req (dest has room for
 * req->nvia + 1 entries). */
static void
answer_header(p2p_node *n, p2p_link *from, const p2p_msg *req, p2p_msg *m,
    p2p_dest *dest)
{
	size_t nd = 0;

	if (from == NULL)
		p2p_dest_node(&dest[nd++], &n->ident.node);
	else
		p2p_dest_node(&dest[nd++], &from->peer);
	for (size_t i = req->nvia; i > 0; i--)
		dest[nd++] = req->via[i - 1];
	msg_base(n, m);
	m->transaction_id = req->transaction_id;
	m->dest = dest;
	m->ndest = nd;
}

/* Send an encoded answer whose header is m back the way it must go. */
static int
answer_send(p2p_node *n, p2p_link *from, const uint8_t *buf, size_t len,
    p2p_msg *m)
{
	if (from == NULL) {
		deliver_local(n, NULL, buf, len);
		return 0;
	}
	return from->open ? link_send(from, buf, len) :
	    route_out(n, buf, len, m, NULL);
}

int
route_answer_full(p2p_node *n, p2p_link *from, const p2p_msg *req,
    uint16_t code, const uint8_t *body, size_t len, const p2p_msg_ext *exts,
    size_t nexts, const p2p_cert *certs, size_t ncerts)
{
	p2p_msg m;
	p2p_wbuf w;
	p2p_dest *dest;
	int rc = -1;

	dest = calloc(req->nvia + 1, sizeof(*dest));
	if (dest == NULL)
		return -1;
	answer_header(n, from, req, &m, dest);
	m.code = code;
	m.body.p = body;
	m.body.len = len;
	m.exts = (p2p_msg_ext *)exts;
	m.nexts = nexts;
	p2p_w_init(&w, len + 1024);
	if (seal(n, &m, &w, certs, ncerts) == 0 && w.len > max_msg(n)) {
		/* The peer would drop the link over it: the caller answers
		 * with an error instead. */
		node_log(n, NLOG_INFO, "%s of %zu bytes exceeds max-message-size",
		    p2p_code_name(code) ? p2p_code_name(code) : "answer", w.len);
	} else if (p2p_w_ok(&w) && w.len > 0) {
		anscache_keep(n, from, req, code, w.p, w.len);
		rc = answer_send(n, from, w.p, w.len, &m);
		if (rc == 0)
			diag_count_msg(n, code, 1);
	}
	p2p_w_free(&w);
	free(dest);
	return rc;
}

int
route_error(p2p_node *n, p2p_link *from, const p2p_msg *req, uint16_t code,
    const char *info)
{
	p2p_error_resp er;
	p2p_wbuf w;
	int rc = -1;

	er.code = code;
	er.info.p = (const uint8_t *)info;
	er.info.len = info != NULL ? strlen(info) : 0;
	p2p_w_init(&w, 64 + er.info.len);
	if (p2p_error_encode(&w, &er) == 0)
		rc = route_answer(n, from, req, P2P_ERROR, w.p, w.len);
	p2p_w_free(&w);
	n->st.errors_sent++;
	return rc;
}

static void
resend(void *ctx, p2p_txn *x)
{
	p2p_node *n = ctx;
	p2p_arena a;
	void *mem;
	p2p_msg m;
	p2p_bytes payload;
	p2p_err e = { 0 };

	if (x->link_id != 0)
		return;		/* pinned to a link: TCP already retries */
	if ((mem = arena_for(&a, x->len)) == NULL)
		return;
	if (p2p_fwd_decode(x->bytes, x->len, NULL, &a, &m, &payload, &e) == 0)
		(void)route_out(n, x->bytes, x->len, &m, NULL);
	free(mem);
}

void
route_tick(p2p_node *n, uint64_t now)
{
	size_t k;

	(void)p2p_txn_tick(&n->txns, now, resend, n);
	if (n->anscache != NULL)
		(void)p2p_anscache_expire(n->anscache, now);
	if (n->reasm != NULL &&
	    (k = p2p_reasm_expire(n->reasm, now)) > 0)
		node_log(n, NLOG_INFO, "%zu fragmented message%s dropped "
		    "incomplete after %u s", k, k == 1 ? "" : "s",
		    P2P_REASM_TIMEOUT_MS / 1000);
}

void
route_link_gone(p2p_node *n, p2p_link *l)
{
	p2p_txn_fail_link(&n->txns, l->id);
}

int
route_error_info(const p2p_msg *ans, uint16_t *code, char *text, size_t cap)
{
	_Alignas(16) uint8_t mem[256];
	p2p_arena a;
	p2p_error_resp er;
	p2p_err e = { 0 };
	size_t k;

	p2p_arena_init(&a, mem, sizeof(mem));
	if (ans->code != P2P_ERROR ||
	    p2p_error_decode(ans->body, &a, &er, &e) != 0)
		return -1;
	*code = er.code;
	if (er.code == P2P_ERR_GENERATION_TOO_LOW ||
	    er.code == P2P_ERR_UNKNOWN_KIND)
		er.info.len = 0;	/* structured, not text */
	k = er.info.len < cap - 1 ? er.info.len : cap - 1;
	for (size_t i = 0; i < k; i++)
		text[i] = (er.info.p[i] >= 0x20 && er.info.p[i] < 0x7f) ?
		    (char)er.info.p[i] : '?';
	text[k] = '\0';
	return 0;
}

/* ---- answers kept for retransmitted requests (anscache.h) ---- */

static p2p_anscache *
anscache_get(p2p_node *n)
{
	p2p_anscache_limits lim;

	if (n->anscache == NULL) {
		memset(&lim, 0, sizeof(lim));
		lim.max_entries = ANS_MAX_ENTRIES;
		/* Room for answers of max-message-size (anscache keeps
		 * none over an eighth of the whole). */
		lim.max_bytes = 8 * max_msg(n) > ANS_MIN_BYTES ?
		    8 * max_msg(n) : ANS_MIN_BYTES;
		lim.max_age_ms = n->txns.params.lifetime_ms;
		n->anscache = p2p_anscache_new(&lim);
	}
	return n->anscache;
}

/* The node a request came from as its answer's header sees it: the first
 * via entry, else the previous hop (this node for its own request). */
static void
req_origin(p2p_node *n, p2p_link *from, const p2p_msg *m, p2p_id *o)
{
	if (m->nvia > 0 && m->via[0].type == P2P_DEST_NODE)
		*o = m->via[0].node;
	else if (from != NULL)
		*o = from->peer;
	else
		*o = n->ident.node;
}

/* The kept answer again, to a copy m of the request it answered. */
static void
answer_again(p2p_node *n, p2p_link *from, const p2p_msg *m, p2p_bytes ans)
{
	p2p_msg h;
	p2p_wbuf w;
	p2p_dest *dest;

	if ((dest = calloc(m->nvia + 1, sizeof(*dest))) == NULL)
		return;
	answer_header(n, from, m, &h, dest);
	p2p_w_init(&w, ans.len + 256);
	if (p2p_msg_encode_fwd(&w, &h, ans) == 0 &&
	    answer_send(n, from, w.p, w.len, &h) == 0)
		diag_count_msg(n, peek_code(ans), 1);
	p2p_w_free(&w);
	free(dest);
}

/* A request delivered here: 0 when it is to be handled; 1 when it is a
 * copy of one already answered (answered again) or still being answered
 * (ignored). */
static int
anscache_seen(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who)
{
	p2p_anscache *c = anscache_get(n);
	p2p_anscache_req r;
	const uint8_t *kept;
	size_t len;
	uint8_t *copy;
	const char *name = p2p_code_name(m->code) ? p2p_code_name(m->code) :
	    "request";

	if (c == NULL)
		return 0;
	memset(&r, 0, sizeof(r));
	r.tid = m->transaction_id;
	r.code = m->code;
	r.signer = who->node;
	req_origin(n, from, m, &r.origin);
	r.sig_fp = p2p_anscache_fp(m->sig.value.p, m->sig.value.len);
	switch (p2p_anscache_request(c, &r, node_now(n), &kept, &len)) {
	case P2P_ANSCACHE_NEW:
		return 0;
	case P2P_ANSCACHE_PENDING:
		node_log(n, NLOG_DEBUG, "%s retransmitted while being "
		    "answered: ignored", name);
		return 1;
	default:
		break;
	}
	node_log(n, NLOG_DEBUG, "%s retransmitted: answered again", name);
	/* Sending may deliver here and change the cache: send a copy. */
	if ((copy = malloc(len)) != NULL) {
		memcpy(copy, kept, len);
		answer_again(n, from, m, (p2p_bytes){ copy, len });
		free(copy);
	}
	return 1;
}

/* An answer (encoded in buf) about to go to req: kept when req is a
 * request delivered here whose answer is pending. req may be one a
 * handler rebuilt from kept state (no code, no signature). */
static void
anscache_keep(p2p_node *n, p2p_link *from, const p2p_msg *req, uint16_t code,
    const uint8_t *buf, size_t len)
{
	p2p_anscache *c = n->anscache;
	uint16_t rcode = req->code != 0 ? req->code :
	    code != P2P_ERROR ? (uint16_t)(code - 1) : 0;
	uint64_t fp = req->sig.value.len > 0 ?
	    p2p_anscache_fp(req->sig.value.p, req->sig.value.len) : 0;
	p2p_arena a;
	void *mem;
	p2p_msg h;
	p2p_bytes payload;
	p2p_err e = { 0 };
	p2p_id origin;

	req_origin(n, from, req, &origin);
	if (c == NULL || !p2p_anscache_pending(c, req->transaction_id, rcode,
	    fp, &origin) || (mem = arena_for(&a, len)) == NULL)
		return;
	if (p2p_fwd_decode(buf, len, NULL, &a, &h, &payload, &e) == 0)
		(void)p2p_anscache_answer(c, req->transaction_id, rcode, fp,
		    &origin, payload.p, payload.len);
	free(mem);
}
