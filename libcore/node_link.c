/*
 * node_link: overlay links. Each is a TLS connection (mutually
 * authenticated, the peer's certificate checked against the overlay's
 * roots, revocation data and the Node-ID we expect) carrying
 * FramedMessages. Every data frame is acknowledged at once; the ACKs are
 * only used as a sign of life (TLS over TCP already delivers in order).
 * A message longer than the link's MTU goes out as fragments (frag.h),
 * one frame each.
 */
#include "node_int.h"
#include "frag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPALIVE_IDLE_MS	30000	/* Ping a link quiet this long */
#define KEEPALIVE_DEAD_MS	90000	/* and close it when still quiet */
#define UNUSED_LINK_MS		60000	/* close a link outside the routing
					   table quiet this long */

static void link_on_open(p2p_tls_conn *c);
static void link_on_read(p2p_tls_conn *c, const uint8_t *data, size_t len);
static void link_on_close(p2p_tls_conn *c, const char *reason);

static const p2p_tls_cbs link_cbs = {
	.on_open = link_on_open,
	.on_read = link_on_read,
	.on_close = link_on_close,
};

static size_t
max_frame(const p2p_node *n)
{
	return n->cfg.max_message_size > 0 ? n->cfg.max_message_size :
	    P2P_DEFAULT_MAX_MSG;
}

/* The TLS verify hook: the certificate must chain to the overlay's roots,
 * be valid now, not revoked, and carry the Node-ID we expect (if any). */
static int
link_verify(p2p_tls_conn *c, X509 *peer, void *arg, char *why, size_t whylen)
{
	p2p_node *n = arg;
	p2p_link *l = p2p_tls_conn_data(c);
	p2p_cert_info ci;
	p2p_err e = { 0 };
	enum p2p_verify_result r;

	if (l == NULL || peer == NULL) {
		snprintf(why, whylen, "no peer certificate");
		return -1;
	}
	r = p2p_cert_verify(n->trust, peer, p2p_tls_conn_peer_chain(c),
	    l->has_expect ? &l->expect : NULL, &e);
	if (r != P2P_VERIFY_OK) {
		snprintf(why, whylen, "peer certificate refused (%s): %s",
		    p2p_verify_result_name(r), e.what ? e.what : "");
		n->st.links_refused++;
		return -1;
	}
	if (p2p_cert_info_get(peer, &ci, &e) != 0 || ci.nids == 0) {
		snprintf(why, whylen, "peer certificate has no Node-ID");
		n->st.links_refused++;
		return -1;
	}
	l->peer = l->has_expect ? l->expect : ci.ids[0];
	if (p2p_id_eq(&l->peer, &n->ident.node)) {
		snprintf(why, whylen, "peer claims our own Node-ID");
		n->st.links_refused++;
		return -1;
	}
	l->has_peer = 1;
	return 0;
}

p2p_tls_ctx *
link_ctx_new(p2p_node *n, enum p2p_tls_role role, p2p_tls_verify_cb cb,
    void *arg, char *err, size_t errlen)
{
	p2p_tls_ctx_opts o;
	p2p_tls_ctx *ctx;
	X509 *roots[64];
	size_t nroots = 0;
	p2p_err e = { 0 };

	memset(&o, 0, sizeof(o));
	o.role = role;
	o.cert = n->ident.cert;
	o.key = n->ident.key;
	for (size_t i = 0; i < n->cfg.nroot_certs && nroots < 64; i++) {
		X509 *x = p2p_cert_from_der(n->cfg.root_certs[i].p,
		    n->cfg.root_certs[i].len, &e);
		if (x != NULL)
			roots[nroots++] = x;
	}
	o.roots = roots;
	o.nroots = nroots;
	/* Chains are judged by our own verifier (roots, CRL, bad nodes,
	 * self-signed rules); the handshake only demands a certificate. */
	o.peer = P2P_TLS_PEER_ANY;
	o.limits.max_conns = NODE_MAX_LINKS;
	ctx = p2p_tls_ctx_new(&o, err, errlen);
	for (size_t i = 0; i < nroots; i++)
		X509_free(roots[i]);
	if (ctx != NULL)
		p2p_tls_ctx_set_verify(ctx, cb, arg);
	return ctx;
}

static p2p_tls_ctx *
make_ctx(p2p_node *n, enum p2p_tls_role role, char *err, size_t errlen)
{
	return link_ctx_new(n, role, link_verify, n, err, errlen);
}

static p2p_link *
link_new(p2p_node *n, p2p_tls_conn *c, int outbound)
{
	p2p_link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->node = n;
	l->conn = c;
	l->id = n->next_link_id++;
	l->outbound = outbound;
	l->mtu = n->opts.link_mtu ? n->opts.link_mtu : P2P_LINK_MTU_DEFAULT;
	l->last_rx_ms = node_now(n);
	p2p_frame_history_init(&l->hist);
	l->next = n->links;
	n->links = l;
	n->nlinks++;
	return l;
}

static void
on_accept(p2p_tls_listener *ls, p2p_tls_conn *c, void *arg)
{
	p2p_node *n = arg;
	p2p_link *l;

	(void)ls;
	if (n->stopping || n->nlinks >= NODE_MAX_LINKS) {
		p2p_tls_close(c);
		return;
	}
	l = link_new(n, c, 0);
	if (l == NULL) {
		p2p_tls_close(c);
		return;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", p2p_tls_conn_peer(c));
	p2p_tls_conn_set_cbs(c, &link_cbs, l);
}

int
link_listen(p2p_node *n, char *err, size_t errlen)
{
	const char *addr = n->opts.listen ? n->opts.listen : "127.0.0.1:6084";
	const char *colon = strrchr(addr, ':');
	char ip[48];
	int port, r;
	size_t iplen;

	if (colon == NULL || colon == addr) {
		snprintf(err, errlen, "--listen %s: expected ADDR:PORT", addr);
		return -1;
	}
	iplen = (size_t)(colon - addr);
	if (addr[0] == '[' && iplen >= 2 && addr[iplen - 1] == ']') {
		addr++;
		iplen -= 2;
	}
	if (iplen >= sizeof(ip)) {
		snprintf(err, errlen, "--listen %s: address too long", addr);
		return -1;
	}
	memcpy(ip, addr, iplen);
	ip[iplen] = '\0';
	port = atoi(colon + 1);
	if (port < 0 || port > 65535) {
		snprintf(err, errlen, "--listen: bad port %s", colon + 1);
		return -1;
	}
	n->tls_srv = make_ctx(n, P2P_TLS_SERVER, err, errlen);
	if (n->tls_srv == NULL)
		return -1;
	n->tls_cli = make_ctx(n, P2P_TLS_CLIENT, err, errlen);
	if (n->tls_cli == NULL)
		return -1;
	r = p2p_tls_listen(n->loop, n->tls_srv, ip, port, on_accept, n,
	    &n->listener);
	if (r != 0) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", ip, port,
		    uv_strerror(r));
		return -1;
	}
	snprintf(n->listen_ip, sizeof(n->listen_ip), "%s", ip);
	n->listen_port = (uint16_t)p2p_tls_listener_port(n->listener);
	return 0;
}

p2p_link *
link_connect(p2p_node *n, const char *ip, int port, const p2p_id *expect,
    int bootstrap)
{
	p2p_tls_conn *c;
	p2p_link *l;
	int r;

	if (n->stopping || n->nlinks >= NODE_MAX_LINKS)
		return NULL;
	l = link_new(n, NULL, 1);
	if (l == NULL)
		return NULL;
	if (expect != NULL) {
		l->expect = *expect;
		l->has_expect = 1;
	}
	l->bootstrap = bootstrap;
	snprintf(l->addr, sizeof(l->addr), "%s:%d", ip, port);
	r = p2p_tls_connect(n->loop, n->tls_cli, ip, port, &link_cbs, l, &c);
	if (r != 0) {
		node_log(n, NLOG_WARN, "connect %s:%d: %s", ip, port,
		    uv_strerror(r));
		n->links = l->next;
		n->nlinks--;
		free(l);
		return NULL;
	}
	l->conn = c;
	return l;
}

p2p_link *
link_by_peer(p2p_node *n, const p2p_id *id)
{
	for (p2p_link *l = n->links; l != NULL; l = l->next)
		if (l->open && l->has_peer && p2p_id_eq(&l->peer, id))
			return l;
	return NULL;
}

static int
send_frame(const uint8_t *msg, size_t len, void *arg)
{
	p2p_link *l = arg;
	p2p_wbuf w;
	int rc;

	if (!l->open || len > P2P_FRAME_MAX_MSG)
		return -1;
	/* One write, so one TLS record, per frame. */
	p2p_w_init(&w, P2P_FRAME_DATA_HDR + len);
	if (p2p_frame_data_encode(&w, l->tx_seq++, msg, len) != 0) {
		p2p_w_free(&w);
		return -1;
	}
	rc = p2p_tls_write(l->conn, w.p, w.len);
	p2p_w_free(&w);
	if (rc != 0)
		return -1;
	l->node->st.tx++;
	return 0;
}

int
link_send(p2p_link *l, const uint8_t *msg, size_t len)
{
	int k;

	if (len <= l->mtu)
		return send_frame(msg, len, l);
	k = p2p_frag_split(msg, len, l->mtu, send_frame, l);
	if (k > 1)
		l->node->st.fragments_tx += (uint64_t)k;
	return k > 0 ? 0 : -1;
}

void
link_close(p2p_link *l, const char *why)
{
	if (l->conn != NULL)
		p2p_tls_close_reason(l->conn, why);
}

void
link_close_all(p2p_node *n)
{
	for (p2p_link *l = n->links; l != NULL; l = l->next)
		link_close(l, "node stopping");
}

static void
link_on_open(p2p_tls_conn *c)
{
	p2p_link *l = p2p_tls_conn_data(c);
	p2p_node *n = l->node;
	char id[9];

	l->open = 1;
	l->last_rx_ms = node_now(n);
	node_log(n, NLOG_DEBUG, "link %llu %s %s peer %s",
	    (unsigned long long)l->id, l->outbound ? "to" : "from", l->addr,
	    node_id_short(&l->peer, id));
	topo_link_open(n, l);
}

static void
send_ack(p2p_link *l, uint32_t seq)
{
	uint8_t ack[P2P_FRAME_ACK_LEN];

	p2p_frame_ack_for(&l->hist, seq, ack);
	(void)p2p_tls_write(l->conn, ack, sizeof(ack));
}

static void
link_on_read(p2p_tls_conn *c, const uint8_t *data, size_t len)
{
	p2p_link *l = p2p_tls_conn_data(c);
	p2p_node *n = l->node;
	size_t limit = max_frame(n) + P2P_FRAME_DATA_HDR, off = 0;

	if (!l->open)
		return;
	if (len > limit || l->rxlen + len > limit) {
		/* More than one whole frame can be pending only in small
		 * pieces; grow to hold what came, but never beyond two
		 * frames' worth. */
		if (l->rxlen + len > 2 * limit) {
			link_close(l, "peer sent more than it may");
			return;
		}
	}
	if (l->rxlen + len > l->rxcap) {
		size_t ncap = l->rxcap ? l->rxcap : 4096;
		uint8_t *p;
		while (ncap < l->rxlen + len)
			ncap *= 2;
		p = realloc(l->rx, ncap);
		if (p == NULL) {
			link_close(l, "out of memory");
			return;
		}
		l->rx = p;
		l->rxcap = ncap;
	}
	memcpy(l->rx + l->rxlen, data, len);
	l->rxlen += len;
	l->last_rx_ms = node_now(n);
	l->ping_sent_ms = 0;
	diag_count_bytes(n, len, 0);
	while (l->open && off < l->rxlen) {
		p2p_frame f;
		p2p_err e = { 0 };
		size_t used = 0;
		int st = p2p_frame_parse(l->rx + off, l->rxlen - off,
		    max_frame(n), &f, &used, &e);

		if (st == P2P_FRAME_MORE)
			break;
		if (st == P2P_FRAME_BAD) {
			node_log(n, NLOG_WARN, "link %s: %s; closing", l->addr,
			    e.what ? e.what : "bad frame");
			n->st.malformed++;
			link_close(l, e.what ? e.what : "bad frame");
			return;
		}
		off += used;
		if (f.type == P2P_FRAME_DATA) {
			send_ack(l, f.seq);
			n->st.rx++;
			route_receive(l, f.message.p, f.message.len);
		}
	}
	if (off > 0) {
		memmove(l->rx, l->rx + off, l->rxlen - off);
		l->rxlen -= off;
	}
}

static void
link_on_close(p2p_tls_conn *c, const char *reason)
{
	p2p_link *l = p2p_tls_conn_data(c);
	p2p_node *n;
	char id[9];

	if (l == NULL)
		return;
	n = l->node;
	for (p2p_link **pp = &n->links; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			n->nlinks--;
			break;
		}
	}
	if (l->open || l->has_peer)
		node_log(n, l->open ? NLOG_INFO : NLOG_WARN,
		    "link %s peer %s closed: %s", l->addr,
		    l->has_peer ? node_id_short(&l->peer, id) : "?",
		    reason ? reason : "");
	else
		node_log(n, NLOG_WARN, "link %s failed: %s", l->addr,
		    reason ? reason : "");
	/* l is out of the table already, so link_by_peer() only finds
	 * other links to the same peer. */
	route_link_gone(n, l);
	topo_link_gone(n, l);
	l->open = 0;
	free(l->rx);
	free(l);
}

static void
keepalive_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	(void)n; (void)user; (void)st; (void)ans; (void)who;
}

void
link_keepalive(p2p_node *n, uint64_t now)
{
	for (p2p_link *l = n->links; l != NULL; l = l->next) {
		p2p_dest d;

		if (!l->open || !l->has_peer)
			continue;
		if (now - l->last_rx_ms >= KEEPALIVE_DEAD_MS) {
			link_close(l, "keepalive: peer silent");
			continue;
		}
		/* Links to peers outside our routing table (the bootstrap
		 * link, one that answered an Attach, a peer that left our
		 * neighborhood) are kept while the other side uses them, not
		 * kept alive by us: closed once quiet. A client's link to
		 * its admitting peer is kept alive by the client, with Pings
		 * like a routing table peer's; the peer leaves it open. */
		if (!p2p_chord_knows(&n->chord, &l->peer) &&
		    !client_is_uplink(n, l)) {
			if (now - l->last_rx_ms >= UNUSED_LINK_MS && !l->client &&
			    (n->join == JOIN_DONE || n->join == JOIN_ALONE))
				link_close(l, "not in the routing table, unused");
			continue;
		}
		if (now - l->last_rx_ms < KEEPALIVE_IDLE_MS ||
		    l->ping_sent_ms != 0)
			continue;
		l->ping_sent_ms = now;
		p2p_dest_node(&d, &l->peer);
		{
			p2p_wbuf body;
			p2p_ping_req pr = { { NULL, 0 } };
			p2p_w_init(&body, 8);
			if (p2p_ping_req_encode(&body, &pr) == 0)
				(void)route_request(n, &d, 1, P2P_PING_REQ,
				    &body, NULL, 0, l, keepalive_answer, NULL);
			p2p_w_free(&body);
		}
	}
}
