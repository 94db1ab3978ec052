/*
 * node_ctl: the node's JSON-RPC methods (see control.h for the protocol).
 *
 *   status   this node: id, address, role (peer or client), ring
 *            neighbors, fingers, the clients admitted here (a client:
 *            its admitting peer), counters
 *   peers    the connection table
 *   ping     Ping a Node-ID or the peer responsible for a resource
 *   probe    Probe a peer (responsible share, resources, uptime)
 *   route    where a Node-ID or Resource-ID is routed from here, and which
 *            peer answers for it
 *   stop     leave the overlay and exit
 */
#include "node_int.h"
#include "anscache.h"
#include "frag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const join_names[] = {
	[JOIN_ALONE] = "alone", [JOIN_BOOTSTRAP] = "bootstrapping",
	[JOIN_ATTACH] = "attaching", [JOIN_UPDATE] = "updating",
	[JOIN_NEIGHBORS] = "neighbors", [JOIN_JOIN] = "joining",
	[JOIN_DONE] = "joined",
};

static json_t *
id_json(const p2p_id *id)
{
	char hex[P2P_ID_HEXLEN + 1];

	return json_string(p2p_id_hex(id, hex));
}

static json_t *
id_array(const p2p_id *ids, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, id_json(&ids[i]));
	return a;
}

/* Fragments sent and the reassembly of those received (frag.h). */
static json_t *
frag_json(p2p_node *n)
{
	const p2p_reasm_stats *r = route_reasm_stats(n);

	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "link_mtu", (json_int_t)(n->opts.link_mtu ? n->opts.link_mtu :
	    P2P_LINK_MTU_DEFAULT),
	    "fragments_tx", (json_int_t)n->st.fragments_tx,
	    "fragments_rx", (json_int_t)r->fragments,
	    "reassembled", (json_int_t)r->reassembled,
	    "duplicates", (json_int_t)r->duplicates,
	    "timeouts", (json_int_t)r->timeouts,
	    "overflows", (json_int_t)r->overflows,
	    "contradictions", (json_int_t)r->bad,
	    "pending", (json_int_t)r->msgs_held,
	    "pending_bytes", (json_int_t)r->bytes_held);
}

/* The answers kept for retransmitted requests (anscache.h). */
static json_t *
anscache_json(p2p_node *n)
{
	const p2p_anscache_stats *a = route_anscache_stats(n);

	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "entries", (json_int_t)a->entries,
	    "bytes", (json_int_t)a->bytes,
	    "requests", (json_int_t)a->requests,
	    "answered", (json_int_t)a->answered,
	    "resent", (json_int_t)a->resent,
	    "ignored", (json_int_t)a->ignored,
	    "evicted", (json_int_t)a->evicted,
	    "too_large", (json_int_t)a->too_large);
}

/* The responsible peers learnt for Resource-IDs (node_route.c). */
static json_t *
direct_json(p2p_node *n)
{
	json_t *a = json_array();
	uint64_t now = node_now(n);

	for (size_t i = 0; i < NODE_DIRECT_ROUTES; i++) {
		const direct_route *d = &n->direct[i];
		if (d->until_ms <= now)
			continue;
		json_array_append_new(a, json_pack("{s:o,s:o,s:b,s:I}",
		    "resource_id", id_json(&d->res),
		    "node_id", id_json(&d->owner),
		    "linked", link_by_peer(n, &d->owner) != NULL,
		    "expires_s", (json_int_t)((d->until_ms - now) / 1000)));
	}
	return a;
}

static void
m_status(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	const p2p_id *s, *p;
	size_t ns = p2p_chord_successors(&n->chord, &s);
	size_t np = p2p_chord_predecessors(&n->chord, &p);
	json_t *r, *fingers = json_array(), *counters, *clients = json_array();
	char listen[80];
	unsigned open = 0;
	uint64_t cc_hits, cc_misses;

	(void)params;
	for (unsigned i = 1; i <= P2P_CHORD_FINGERS; i++) {
		p2p_id target, entry;
		if (p2p_chord_finger(&n->chord, i, &target, &entry) == 1)
			json_array_append_new(fingers, json_pack("{s:i,s:o}",
			    "slot", (int)i, "node_id", id_json(&entry)));
	}
	for (p2p_link *l = n->links; l != NULL; l = l->next) {
		open += l->open;
		if (l->open && l->has_peer && l->client)
			json_array_append_new(clients, id_json(&l->peer));
	}
	snprintf(listen, sizeof(listen), strchr(n->listen_ip, ':') ?
	    "[%s]:%u" : "%s:%u", n->listen_ip, n->listen_port);
	p2p_trust_cache_stats(n->trust, &cc_hits, &cc_misses);
	counters = json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:I,s:I}",
	    "messages_rx", (json_int_t)n->st.rx,
	    "messages_tx", (json_int_t)n->st.tx,
	    "forwarded", (json_int_t)n->st.forwarded,
	    "sent_direct", (json_int_t)n->st.direct_tx,
	    "delivered", (json_int_t)n->st.delivered,
	    "bad_signature", (json_int_t)n->st.bad_signature,
	    "malformed", (json_int_t)n->st.malformed,
	    "dropped", (json_int_t)n->st.dropped,
	    "errors_sent", (json_int_t)n->st.errors_sent,
	    "links_refused", (json_int_t)n->st.links_refused,
	    "transactions", (int)n->txns.count,
	    "timer_wakeups", (json_int_t)n->st.wakeups,
	    "cert_cache_hits", (json_int_t)cc_hits,
	    "cert_cache_misses", (json_int_t)cc_misses);
	p2p_trust_sig_stats(n->trust, &cc_hits, &cc_misses);
	json_object_set_new(counters, "signature_cache_hits",
	    json_integer((json_int_t)cc_hits));
	json_object_set_new(counters, "signature_cache_misses",
	    json_integer((json_int_t)cc_misses));
	r = json_pack("{s:o,s:s,s:i,s:s,s:s,s:s,s:o,s:o,s:o,s:i,s:I,s:o}",
	    "node_id", id_json(&n->ident.node),
	    "overlay", n->overlay,
	    "config_sequence", (int)n->cfg.sequence,
	    "listen", listen,
	    "role", n->opts.client ? "client" : "peer",
	    "state", n->opts.client && n->join == JOIN_DONE ? "connected" :
	    join_names[n->join],
	    "successors", id_array(s, ns),
	    "predecessors", id_array(p, np),
	    "fingers", fingers,
	    "connections", (int)open,
	    "uptime_s", (json_int_t)((node_now(n) - n->start_ms) / 1000),
	    "counters", counters);
	json_object_set_new(r, "clients", clients);
	if (n->opts.client)
		json_object_set_new(r, "admitting_peer", n->join == JOIN_DONE ?
		    id_json(&n->admitting) : json_null());
	json_object_set_new(r, "fragmentation", frag_json(n));
	json_object_set_new(r, "answer_cache", anscache_json(n));
	json_object_set_new(r, "direct_routes", direct_json(n));
	json_object_set_new(r, "ice_servers", stun_json(n));
	p2p_ctl_reply(req, r);
}

static void
m_peers(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	json_t *a = json_array();

	(void)params;
	for (p2p_link *l = n->links; l != NULL; l = l->next) {
		if (!l->open)
			continue;
		json_array_append_new(a, json_pack("{s:o,s:s,s:s,s:b,s:b,s:s,s:I}",
		    "node_id", id_json(&l->peer), "addr", l->addr,
		    "direction", l->outbound ? "out" : "in",
		    "routable", p2p_chord_knows(&n->chord, &l->peer),
		    "client", l->client,
		    "link_type", link_type_name(l->type),
		    "mtu", (json_int_t)l->mtu));
	}
	p2p_ctl_reply(req, a);
}

/*
 * The destination named by params: "node_id" (hex), "resource_id" (hex)
 * or "resource" (a name, hashed as CHORD-RELOAD does). id gets the ring
 * position. -1 (and the request answered) when none is valid.
 */
static int
target_of(p2p_ctl_req *req, json_t *params, p2p_dest *d, p2p_id *id)
{
	const char *node = json_string_value(json_object_get(params,
	    "node_id"));
	const char *rid = json_string_value(json_object_get(params,
	    "resource_id"));
	const char *name = json_string_value(json_object_get(params,
	    "resource"));

	if ((node != NULL) + (rid != NULL) + (name != NULL) != 1) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "give exactly one of node_id, resource_id, resource", NULL);
		return -1;
	}
	if (node != NULL || rid != NULL) {
		if (!p2p_id_from_hex(id, node != NULL ? node : rid)) {
			p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
			    "an id is 32 hexadecimal digits", NULL);
			return -1;
		}
	} else {
		p2p_id_from_name(id, name, strlen(name));
	}
	if (node != NULL)
		p2p_dest_node(d, id);
	else
		p2p_dest_resource(d, id);
	return 0;
}

typedef struct call_ctx {
	p2p_ctl_req *req;
	uint64_t sent_ms;
	p2p_id target;
	int is_route;
	json_t *extra;		/* members to merge into the reply */
} call_ctx;

/* Answer a control request from the outcome of an overlay transaction
 * that did not bring the expected answer. */
void
ctl_fail(p2p_ctl_req *req, enum p2p_txn_status st, const p2p_msg *ans)
{
	uint16_t code = 0;
	char text[160] = "", msg[256];

	if (st == P2P_TXN_ANSWERED && route_error_info(ans, &code, text,
	    sizeof(text)) == 0) {
		snprintf(msg, sizeof(msg), "%s%s%s", p2p_error_name(code) ?
		    p2p_error_name(code) : "RELOAD error", text[0] ? ": " : "",
		    text);
		p2p_ctl_error(req, P2P_CTL_ERR_RELOAD_BASE + code, msg, NULL);
	} else if (st == P2P_TXN_ANSWERED) {
		p2p_ctl_error(req, P2P_CTL_ERR_FAILED, "unexpected answer",
		    NULL);
	} else if (st == P2P_TXN_TIMEOUT) {
		p2p_ctl_error(req, P2P_CTL_ERR_TIMEOUT,
		    "no answer from the overlay", NULL);
	} else {
		p2p_ctl_error(req, P2P_CTL_ERR_UNREACHABLE,
		    "the request could not be delivered", NULL);
	}
}

static void
ping_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	call_ctx *c = user;
	_Alignas(16) uint8_t mem[64];
	p2p_arena a;
	p2p_ping_ans pa;
	p2p_err e = { 0 };
	json_t *r;

	p2p_arena_init(&a, mem, sizeof(mem));
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_PING_ANS ||
	    p2p_ping_ans_decode(ans->body, &a, &pa, &e) != 0) {
		ctl_fail(c->req, st, ans);
		json_decref(c->extra);
		free(c);
		return;
	}
	r = c->extra != NULL ? c->extra : json_object();
	json_object_set_new(r, "responder", id_json(&who->node));
	json_object_set_new(r, "rtt_ms", json_real((double)(node_now(n) -
	    c->sent_ms)));
	json_object_set_new(r, "time", json_integer((json_int_t)pa.time));
	if (c->is_route)
		json_object_set_new(r, "responsible", id_json(&who->node));
	p2p_ctl_reply(c->req, r);
	free(c);
}

static int
send_ping(p2p_node *n, p2p_ctl_req *req, const p2p_dest *d, call_ctx *c)
{
	p2p_ping_req pr = { { NULL, 0 } };
	p2p_wbuf w;
	int rc;

	c->req = req;
	c->sent_ms = node_now(n);
	p2p_w_init(&w, 8);
	rc = p2p_ping_req_encode(&w, &pr);
	if (rc == 0)
		rc = route_request(n, d, 1, P2P_PING_REQ, &w, NULL, 0, NULL,
		    ping_answer, c);
	p2p_w_free(&w);
	if (rc != 0) {
		p2p_ctl_error(req, P2P_CTL_ERR_UNREACHABLE,
		    "no route towards the destination", NULL);
		json_decref(c->extra);
		free(c);
	}
	return rc;
}

static void
m_ping(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	call_ctx *c;
	p2p_dest d;
	p2p_id id;

	if (target_of(req, params, &d, &id) != 0)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory",
		    NULL);
		return;
	}
	c->target = id;
	(void)send_ping(n, req, &d, c);
}

static void
m_route(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	call_ctx *c;
	p2p_dest d;
	p2p_id id, next, owner;
	int local, certain;
	json_t *r;

	if (target_of(req, params, &d, &id) != 0)
		return;
	local = topo_next_hop(n, &id, &next);
	certain = p2p_chord_owner(&n->chord, &id, &owner);
	r = json_pack("{s:o,s:b,s:o,s:o,s:b,s:s}", "target", id_json(&id),
	    "local", local == P2P_CHORD_LOCAL, "next_hop",
	    local == P2P_CHORD_LOCAL ? id_json(&n->ident.node) : local < 0 ?
	    json_null() : id_json(&next), "owner_guess", n->opts.client ?
	    json_null() : id_json(&owner), "certain", certain &&
	    !n->opts.client, "role", n->opts.client ? "client" : "peer");
	if (json_is_false(json_object_get(params, "query"))) {
		p2p_ctl_reply(req, r);
		return;
	}
	/* Ask the overlay: the peer that answers a Ping routed to the id is
	 * the one responsible for it. */
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(r);
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory",
		    NULL);
		return;
	}
	c->target = id;
	c->is_route = 1;
	c->extra = r;
	if (d.type == P2P_DEST_NODE) {
		/* A Node-ID that is no peer is owned by its successor:
		 * route to it as a Resource-ID to find that peer. */
		p2p_dest_resource(&d, &c->target);
	}
	(void)send_ping(n, req, &d, c);
}

static void
probe_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	call_ctx *c = user;
	_Alignas(16) uint8_t mem[1024];
	p2p_arena a;
	p2p_probe_ans pa;
	p2p_err e = { 0 };
	json_t *r;

	(void)n;
	p2p_arena_init(&a, mem, sizeof(mem));
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_PROBE_ANS ||
	    p2p_probe_ans_decode(ans->body, &a, &pa, &e) != 0) {
		ctl_fail(c->req, st, ans);
		free(c);
		return;
	}
	r = json_pack("{s:o}", "node_id", id_json(&who->node));
	for (size_t i = 0; i < pa.ninfo; i++) {
		static const char *const names[] = { NULL, "responsible_ppb",
		    "num_resources", "uptime_s" };
		if (pa.info[i].type >= 1 && pa.info[i].type <= 3)
			json_object_set_new(r, names[pa.info[i].type],
			    json_integer(pa.info[i].value));
	}
	p2p_ctl_reply(c->req, r);
	free(c);
}

static void
m_probe(p2p_ctl_req *req, json_t *params, void *user)
{
	static const uint8_t all[] = { P2P_PROBE_RESPONSIBLE_SET,
	    P2P_PROBE_NUM_RESOURCES, P2P_PROBE_UPTIME };
	p2p_node *n = user;
	p2p_probe_req pr = { { all, sizeof(all) } };
	call_ctx *c;
	p2p_dest d;
	p2p_id id;
	p2p_wbuf w;
	int rc;

	if (target_of(req, params, &d, &id) != 0)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory",
		    NULL);
		return;
	}
	c->req = req;
	p2p_w_init(&w, 8);
	rc = p2p_probe_req_encode(&w, &pr);
	if (rc == 0)
		rc = route_request(n, &d, 1, P2P_PROBE_REQ, &w, NULL, 0, NULL,
		    probe_answer, c);
	p2p_w_free(&w);
	if (rc != 0) {
		p2p_ctl_error(req, P2P_CTL_ERR_UNREACHABLE,
		    "no route towards the destination", NULL);
		free(c);
	}
}

static void
m_stop(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;

	(void)params;
	p2p_ctl_reply(req, json_pack("{s:b}", "stopping", 1));
	node_stop(n, "stop requested");
}

static void
ctl_log(void *user, int level, const char *msg)
{
	node_log(user, level, "control: %s", msg);
}

int
ctl_start(p2p_node *n, char *err, size_t errlen)
{
	p2p_ctl_opts o;

	if (n->opts.socket != NULL) {
		snprintf(n->socket_path, sizeof(n->socket_path), "%s",
		    n->opts.socket);
	} else if (snprintf(n->socket_path, sizeof(n->socket_path), "%s/%s",
	    n->opts.dir, P2P_CTL_SOCKET_NAME) >= (int)sizeof(n->socket_path)) {
		snprintf(err, errlen, "control socket path too long");
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.log = ctl_log;
	o.log_user = n;
	if (p2p_ctl_server_start(n->loop, n->socket_path, &o, &n->ctl, err,
	    errlen) != 0)
		return -1;
	p2p_ctl_register(n->ctl, "status", m_status, n);
	p2p_ctl_register(n->ctl, "peers", m_peers, n);
	p2p_ctl_register(n->ctl, "ping", m_ping, n);
	p2p_ctl_register(n->ctl, "probe", m_probe, n);
	p2p_ctl_register(n->ctl, "route", m_route, n);
	p2p_ctl_register(n->ctl, "stop", m_stop, n);
	store_ctl_register(n);
	diag_ctl_register(n);
	sipreg_ctl_register(n);
	sip_ctl_register(n);
	cfg_ctl_register(n);
	turnsvc_ctl_register(n);
	return 0;
}
