/*
 * node_link: overlay links. Each is a TLS connection over TCP
 * (TLS-TCP-FH-NO-ICE) or a DTLS association over the node's one UDP
 * socket (DTLS-UDP-SR-NO-ICE), mutually authenticated, the peer's
 * certificate checked against the overlay's roots, revocation data and
 * the Node-ID we expect, carrying FramedMessages. Which ones a node makes
 * and takes comes from the configuration's overlay-link-protocol list;
 * the first is the one it offers in Attach and uses to bootstrap.
 *
 * On TLS every data frame is acknowledged at once and the ACKs are only
 * a sign of life (TCP already delivers in order). On DTLS each frame is
 * one record and rlink.c makes delivery reliable (s6.6.3): a link whose
 * peer stops acknowledging is closed. A message longer than the link's
 * MTU goes out as fragments (frag.h), one frame each.
 *
 * The rest of the node sees only p2p_link, link_send and link_close.
 */
#include "node_int.h"
#include "frag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* On a TLS/TCP link a vanished host is noticed by TCP's keepalive (tls.c,
 * about a minute) and the Ping only checks that the peer's node still
 * answers; a DTLS/UDP path has nothing underneath and is pinged sooner. */
#define KEEPALIVE_TCP_IDLE_MS	120000	/* Ping a TLS link quiet this long */
#define KEEPALIVE_UDP_IDLE_MS	30000	/* a DTLS link */
#define KEEPALIVE_DEAD_MS	180000	/* and close it when still quiet */
/* A link outside our routing table may be in the peer's (a finger is
 * not symmetric): the peer keeps it alive with its Pings, so such a link
 * is closed only when quiet for longer than the peer's keepalive interval
 * by this much. */
#define UNUSED_GRACE_MS		30000

static void link_on_open(p2p_tls_conn *c);
static void link_on_read(p2p_tls_conn *c, const uint8_t *data, size_t len);
static void link_on_close(p2p_tls_conn *c, const char *reason);

static const p2p_tls_cbs link_cbs = {
	.on_open = link_on_open,
	.on_read = link_on_read,
	.on_close = link_on_close,
};

/* The largest message of any code: node_route.c holds each code to its
 * own limit. */
static size_t
max_frame(const p2p_node *n)
{
	return cfg_msg_limit(n, P2P_CONFIG_UPDATE_REQ);
}

/* The peer of a link: its certificate must chain to the overlay's roots,
 * be valid now, not revoked, and carry the Node-ID we expect (if any). */
static int
link_judge(p2p_node *n, p2p_link *l, X509 *peer, STACK_OF(X509) *chain,
    char *why, size_t whylen)
{
	p2p_cert_info ci;
	p2p_err e = { 0 };
	enum p2p_verify_result r;

	if (l == NULL || peer == NULL) {
		snprintf(why, whylen, "no peer certificate");
		return -1;
	}
	r = p2p_cert_verify(n->trust, peer, chain,
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

/* The TLS and DTLS verify hooks. */
static int
link_verify(p2p_tls_conn *c, X509 *peer, void *arg, char *why, size_t whylen)
{
	return link_judge(arg, p2p_tls_conn_data(c), peer,
	    p2p_tls_conn_peer_chain(c), why, whylen);
}

static int
dlink_verify(p2p_dtls *d, X509 *peer, STACK_OF(X509) *chain, void *arg,
    char *why, size_t whylen)
{
	return link_judge(arg, p2p_dtls_data(d), peer, chain, why, whylen);
}

/* A context with this node's certificate and the overlay's roots. */
static p2p_tls_ctx *
node_ctx_new(p2p_node *n, enum p2p_tls_role role, int datagram, char *err,
    size_t errlen)
{
	p2p_tls_ctx_opts o;
	p2p_tls_ctx *ctx;
	X509 *roots[64];
	size_t nroots = 0;
	p2p_err e = { 0 };

	memset(&o, 0, sizeof(o));
	o.role = role;
	o.datagram = datagram;
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
	return ctx;
}

p2p_tls_ctx *
link_ctx_new(p2p_node *n, enum p2p_tls_role role, p2p_tls_verify_cb cb,
    void *arg, char *err, size_t errlen)
{
	p2p_tls_ctx *ctx = node_ctx_new(n, role, 0, err, errlen);

	if (ctx != NULL)
		p2p_tls_ctx_set_verify(ctx, cb, arg);
	return ctx;
}

p2p_tls_ctx *
dlink_ctx_new(p2p_node *n, enum p2p_tls_role role, p2p_dtls_verify_cb cb,
    void *arg, char *err, size_t errlen)
{
	p2p_tls_ctx *ctx = node_ctx_new(n, role, 1, err, errlen);

	if (ctx != NULL)
		p2p_dtls_ctx_set_verify(ctx, cb, arg);
	return ctx;
}

static p2p_tls_ctx *
make_dctx(p2p_node *n, enum p2p_tls_role role, char *err, size_t errlen)
{
	return dlink_ctx_new(n, role, dlink_verify, n, err, errlen);
}

static p2p_tls_ctx *
make_ctx(p2p_node *n, enum p2p_tls_role role, char *err, size_t errlen)
{
	return link_ctx_new(n, role, link_verify, n, err, errlen);
}

static p2p_link *
link_new(p2p_node *n, enum p2p_link_type type, int outbound)
{
	p2p_link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->node = n;
	l->type = type;
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

/* Take a link that never got a transport out of the table. */
static void
link_discard(p2p_link *l)
{
	p2p_node *n = l->node;

	for (p2p_link **pp = &n->links; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			n->nlinks--;
			break;
		}
	}
	p2p_rlink_free(l->rl);
	free(l);
}

const char *
link_type_name(enum p2p_link_type type)
{
	switch (type) {
	case P2P_LINK_DTLS_UDP_SR:
		return "DTLS-UDP-SR";
	case P2P_LINK_DTLS_UDP_SR_NO_ICE:
		return "DTLS-UDP-SR-NO-ICE";
	case P2P_LINK_TLS_TCP_FH_NO_ICE:
		return "TLS-TCP-FH-NO-ICE";
	default:
		return "?";
	}
}

int
link_type_ok(const p2p_node *n, uint8_t type)
{
	return (type == P2P_LINK_TLS_TCP_FH_NO_ICE && n->link_tls) ||
	    (type == P2P_LINK_DTLS_UDP_SR_NO_ICE && n->link_dtls);
}

/* A DTLS link's MTU: one record's plaintext on its path, less the
 * framing header; a smaller --link-mtu wins. */
static void
dlink_set_mtu(p2p_link *l)
{
	size_t m = p2p_dtls_mtu(l->dtls), cap = l->node->opts.link_mtu;

	m = m > P2P_FRAME_DATA_HDR ? m - P2P_FRAME_DATA_HDR : 0;
	l->mtu = cap > 0 && cap < m ? cap : m;
}

/* The link protocols of the configuration, in its order. */
static void
link_protocols(p2p_node *n)
{
	int first = 1;

	for (size_t i = 0; i < n->cfg.nlink_protocols; i++) {
		const char *p = n->cfg.link_protocols[i];
		enum p2p_link_type t;

		if (strcasecmp(p, "TLS") == 0) {
			n->link_tls = 1;
			t = P2P_LINK_TLS_TCP_FH_NO_ICE;
		} else if (strcasecmp(p, "DTLS") == 0) {
			n->link_dtls = 1;
			t = P2P_LINK_DTLS_UDP_SR_NO_ICE;
		} else {
			node_log(n, NLOG_WARN, "overlay-link-protocol %s: not "
			    "supported, ignored", p);
			continue;
		}
		if (first)
			n->link_pref = t;
		first = 0;
	}
	if (first) {
		n->link_tls = 1;
		n->link_pref = P2P_LINK_TLS_TCP_FH_NO_ICE;
	}
}

/* ---- DTLS links: the transport and the reliability layer ---- */

static void dl_on_open(p2p_dtls *d);
static void dl_on_recv(p2p_dtls *d, const uint8_t *rec, size_t len);
static void dl_on_close(p2p_dtls *d, const char *reason);

static const p2p_dtls_cbs dlink_cbs = {
	.on_open = dl_on_open,
	.on_recv = dl_on_recv,
	.on_close = dl_on_close,
};

static int
rl_send(p2p_rlink *r, const uint8_t *rec, size_t len, void *arg)
{
	p2p_link *l = arg;

	(void)r;
	if (l->dtls == NULL || p2p_dtls_send(l->dtls, rec, len) != 0)
		return -1;
	diag_count_bytes(l->node, len, 1);
	return 0;
}

static void
rl_deliver(p2p_rlink *r, const uint8_t *msg, size_t len, void *arg)
{
	p2p_link *l = arg;

	(void)r;
	if (!l->open)
		return;
	l->node->st.rx++;
	route_receive(l, msg, len);
}

static void
rl_failed(p2p_rlink *r, const char *why, void *arg)
{
	(void)r;
	link_close(arg, why);
}

static const p2p_rlink_cbs rlink_cbs = { rl_send, rl_deliver, rl_failed };

/* A DTLS link's reliability layer, before its transport starts. */
static int
dlink_prepare(p2p_link *l)
{
	p2p_node *n = l->node;
	p2p_rlink_opts o;
	size_t maxm = max_frame(n);

	memset(&o, 0, sizeof(o));
	if (maxm > P2P_DTLS_MAX_RECORD - P2P_FRAME_DATA_HDR)
		maxm = P2P_DTLS_MAX_RECORD - P2P_FRAME_DATA_HDR;
	o.max_msg = maxm;
	/* Shorter than the end-to-end retransmission (rlink.h). */
	o.dedup_ms = n->cfg.overlay_reliability_timer / 2;
	if (o.dedup_ms > 1500)
		o.dedup_ms = 1500;
	if (o.dedup_ms == 0)
		o.dedup_ms = 1;
	l->rl = p2p_rlink_new(n->loop, &o, &rlink_cbs, l);
	return l->rl != NULL ? 0 : -1;
}

static void
dl_on_open(p2p_dtls *d)
{
	p2p_link *l = p2p_dtls_data(d);
	char id[9];

	l->open = 1;
	l->last_rx_ms = node_now(l->node);
	dlink_set_mtu(l);
	node_log(l->node, NLOG_DEBUG, "link %llu %s %s peer %s over DTLS, "
	    "MTU %zu", (unsigned long long)l->id, l->outbound ? "to" : "from",
	    l->addr, node_id_short(&l->peer, id), l->mtu);
	topo_link_open(l->node, l);
}

static void
dl_on_recv(p2p_dtls *d, const uint8_t *rec, size_t len)
{
	p2p_link *l = p2p_dtls_data(d);
	p2p_node *n = l->node;
	p2p_err e = { 0 };

	if (!l->open || l->rl == NULL)
		return;
	l->last_rx_ms = node_now(n);
	l->ping_sent_ms = 0;
	diag_count_bytes(n, len, 0);
	if (p2p_rlink_input(l->rl, rec, len, &e) != 0) {
		node_log(n, NLOG_WARN, "link %s: %s; closing", l->addr,
		    e.what ? e.what : "bad frame");
		n->st.malformed++;
		link_close(l, e.what ? e.what : "bad frame");
	}
}

/* Inbound DTLS handshakes not done yet. */
static unsigned
half_open(const p2p_node *n)
{
	unsigned k = 0;

	for (const p2p_link *l = n->links; l != NULL; l = l->next)
		if (l->dtls != NULL && !l->open && !l->outbound)
			k++;
	return k;
}

/* A datagram from an address without a path: a ClientHello gets a
 * cookie; one that returns a valid cookie gets a path and a link. */
static void
on_udp_new(p2p_udpmux *m, const struct sockaddr *from, const char *name,
    const uint8_t *buf, size_t len, void *arg)
{
	p2p_node *n = arg;
	uint8_t reply[256];
	size_t rlen;
	p2p_dtls_hello *h;
	p2p_dgram *path;
	p2p_link *l;

	if (n->stopping || n->nlinks >= NODE_MAX_LINKS ||
	    half_open(n) >= NODE_MAX_HALF_OPEN)
		return;
	switch (p2p_dtls_listen(n->dtls_srv, name, buf, len, reply,
	    sizeof(reply), &rlen, &h)) {
	case P2P_DTLS_LISTEN_REPLY:
		(void)p2p_udpmux_sendto(m, from, reply, rlen);
		return;
	case P2P_DTLS_LISTEN_OK:
		break;
	default:
		return;
	}
	if ((path = p2p_udpmux_path(m, from)) == NULL) {
		p2p_dtls_hello_free(h);
		return;
	}
	if ((l = link_new(n, P2P_LINK_DTLS_UDP_SR_NO_ICE, 0)) == NULL ||
	    dlink_prepare(l) != 0) {
		if (l != NULL)
			link_discard(l);
		p2p_dtls_hello_free(h);
		p2p_dgram_close(path);
		return;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", name);
	l->dtls = p2p_dtls_accept(n->loop, h, path, &dlink_cbs, l);
	if (l->dtls == NULL) {
		link_discard(l);
		p2p_dgram_close(path);
	}
}

static int
dlink_connect(p2p_node *n, p2p_link *l, const char *ip, int port)
{
	p2p_dgram *path;

	if (n->udp == NULL || dlink_prepare(l) != 0)
		return -1;
	if ((path = p2p_udpmux_path_to(n->udp, ip, port)) == NULL) {
		node_log(n, NLOG_DEBUG, "DTLS to %s:%d: a link to that address "
		    "is under way", ip, port);
		return -1;
	}
	l->dtls = p2p_dtls_new(n->loop, n->dtls_cli, path, &dlink_cbs, l);
	if (l->dtls == NULL) {
		p2p_dgram_close(path);
		return -1;
	}
	return 0;
}

static int
udp_listen(p2p_node *n, const char *ip, char *err, size_t errlen)
{
	int r;

	n->dtls_srv = make_dctx(n, P2P_TLS_SERVER, err, errlen);
	if (n->dtls_srv == NULL)
		return -1;
	n->dtls_cli = make_dctx(n, P2P_TLS_CLIENT, err, errlen);
	if (n->dtls_cli == NULL)
		return -1;
	r = p2p_udpmux_open(n->loop, ip, n->listen_port, NODE_MAX_LINKS,
	    on_udp_new, n, &n->udp);
	if (r != 0) {
		snprintf(err, errlen, "cannot bind UDP %s:%u: %s", ip,
		    n->listen_port, uv_strerror(r));
		return -1;
	}
	n->udp_port = (uint16_t)p2p_udpmux_port(n->udp);
	return 0;
}

/* The DTLS contexts an ICE link needs, made on first use (an overlay
 * with ICE may list only TLS among its link protocols for bootstrap). */
static int
ice_dctx(p2p_node *n)
{
	char err[160];

	if (n->dtls_srv == NULL &&
	    (n->dtls_srv = make_dctx(n, P2P_TLS_SERVER, err, sizeof(err))) ==
	    NULL) {
		node_log(n, NLOG_WARN, "DTLS: %s", err);
		return -1;
	}
	if (n->dtls_cli == NULL &&
	    (n->dtls_cli = make_dctx(n, P2P_TLS_CLIENT, err, sizeof(err))) ==
	    NULL) {
		node_log(n, NLOG_WARN, "DTLS: %s", err);
		return -1;
	}
	return 0;
}

p2p_link *
link_ice_open(p2p_node *n, p2p_dgram *d, int server, const p2p_id *expect)
{
	p2p_link *l;

	if (n->stopping || n->nlinks >= NODE_MAX_LINKS || ice_dctx(n) != 0 ||
	    (l = link_new(n, P2P_LINK_DTLS_UDP_SR, server)) == NULL) {
		p2p_dgram_close(d);
		return NULL;
	}
	if (expect != NULL) {
		l->expect = *expect;
		l->has_expect = 1;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", d->peer);
	if (dlink_prepare(l) != 0 || (l->dtls = p2p_dtls_new(n->loop,
	    server ? n->dtls_srv : n->dtls_cli, d, &dlink_cbs, l)) == NULL) {
		link_discard(l);
		p2p_dgram_close(d);
		return NULL;
	}
	return l;
}

void
link_udp_close(p2p_node *n)
{
	if (n->udp != NULL) {
		p2p_udpmux_close(n->udp);
		n->udp = NULL;
	}
}

/* ---- TLS links ---- */

static void
on_accept(p2p_tls_listener *ls, p2p_tls_conn *c, void *arg)
{
	p2p_node *n = arg;
	p2p_link *l;

	(void)ls;
	if (n->stopping || n->nlinks >= NODE_MAX_LINKS || !n->link_tls) {
		p2p_tls_close(c);
		return;
	}
	l = link_new(n, P2P_LINK_TLS_TCP_FH_NO_ICE, 0);
	if (l == NULL) {
		p2p_tls_close(c);
		return;
	}
	l->conn = c;
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
	link_protocols(n);
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
	/* DTLS takes the same port number over UDP. */
	if (n->link_dtls && udp_listen(n, ip, err, errlen) != 0)
		return -1;
	return 0;
}

p2p_link *
link_connect(p2p_node *n, enum p2p_link_type type, const char *ip, int port,
    const p2p_id *expect, int bootstrap)
{
	p2p_link *l;
	int r;

	if (n->stopping || n->nlinks >= NODE_MAX_LINKS ||
	    !link_type_ok(n, type))
		return NULL;
	l = link_new(n, type, 1);
	if (l == NULL)
		return NULL;
	if (expect != NULL) {
		l->expect = *expect;
		l->has_expect = 1;
	}
	l->bootstrap = bootstrap;
	snprintf(l->addr, sizeof(l->addr), "%s:%d", ip, port);
	if (type == P2P_LINK_DTLS_UDP_SR_NO_ICE) {
		if (dlink_connect(n, l, ip, port) != 0) {
			link_discard(l);
			return NULL;
		}
		return l;
	}
	r = p2p_tls_connect(n->loop, n->tls_cli, ip, port, &link_cbs, l,
	    &l->conn);
	if (r != 0) {
		node_log(n, NLOG_WARN, "connect %s:%d: %s", ip, port,
		    uv_strerror(r));
		link_discard(l);
		return NULL;
	}
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
	if (l->dtls != NULL) {
		if (p2p_rlink_send(l->rl, msg, len) != 0)
			return -1;
		l->node->st.tx++;
		return 0;
	}
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
	if (l->dtls != NULL)
		p2p_dtls_close(l->dtls, why);
	else if (l->conn != NULL)
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

/* The transport of l has ended: out of the table, tell the layers. */
static void
link_gone(p2p_link *l, const char *reason)
{
	p2p_node *n = l->node;
	char id[9];

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
	p2p_rlink_free(l->rl);
	free(l->rx);
	free(l);
}

static void
link_on_close(p2p_tls_conn *c, const char *reason)
{
	p2p_link *l = p2p_tls_conn_data(c);

	if (l != NULL)
		link_gone(l, reason);
}

static void
dl_on_close(p2p_dtls *d, const char *reason)
{
	p2p_link *l = p2p_dtls_data(d);

	if (l == NULL)
		return;
	l->dtls = NULL;
	link_gone(l, reason);
}

static void
keepalive_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	(void)n; (void)user; (void)st; (void)ans; (void)who;
}

static uint64_t
keepalive_idle_ms(const p2p_link *l)
{
	return l->type == P2P_LINK_TLS_TCP_FH_NO_ICE ? KEEPALIVE_TCP_IDLE_MS :
	    KEEPALIVE_UDP_IDLE_MS;
}

static uint64_t
unused_link_ms(const p2p_link *l)
{
	return keepalive_idle_ms(l) + UNUSED_GRACE_MS;
}

void
link_keepalive(p2p_node *n, uint64_t now)
{
	for (p2p_link *l = n->links; l != NULL; l = l->next) {
		p2p_dest d;

		if (!l->open || !l->has_peer)
			continue;
		if (node_since(now, l->last_rx_ms) >= KEEPALIVE_DEAD_MS) {
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
			if (node_since(now, l->last_rx_ms) >=
			    unused_link_ms(l) && !l->client &&
			    (n->join == JOIN_DONE || n->join == JOIN_ALONE))
				link_close(l, "not in the routing table, unused");
			continue;
		}
		if (node_since(now, l->last_rx_ms) < keepalive_idle_ms(l) ||
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

uint64_t
link_next_due(p2p_node *n)
{
	uint64_t t = UINT64_MAX, at;

	for (p2p_link *l = n->links; l != NULL; l = l->next) {
		if (!l->open || !l->has_peer)
			continue;
		/* The checks of link_keepalive, as times. */
		at = l->last_rx_ms + KEEPALIVE_DEAD_MS;
		if (!p2p_chord_knows(&n->chord, &l->peer) &&
		    !client_is_uplink(n, l)) {
			if (!l->client)
				at = l->last_rx_ms + unused_link_ms(l);
		} else if (l->ping_sent_ms == 0)
			at = l->last_rx_ms + keepalive_idle_ms(l);
		if (at < t)
			t = at;
	}
	return t;
}
