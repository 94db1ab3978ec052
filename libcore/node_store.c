/*
 * node_store: the node's share of the overlay's storage (RFC 6940 s7,
 * s10.5 and s10.7.3 for CHORD-RELOAD).
 *
 * Requests: Store, Fetch, Stat and Find are checked and answered by the
 * storage engine (store.h). An original Store (replica_number 0) reaches
 * the peer responsible for the resource; it answers, then stores the same
 * values on its two successors with replica_number 1 and 2.
 *
 * Keeping the copies right as the ring changes: after any change of the
 * neighbor sets (and every chord-update-interval) a sweep walks what this
 * peer holds. What it is responsible for goes to its current replica set;
 * what it holds as a replica goes to its owner too (a peer that just
 * joined may have taken it over from us); what belongs to
 * another peer goes to that peer and is dropped here once accepted and no
 * longer in this peer's replica range. Copies are Stores with a non-zero
 * replica_number, which the receiver accepts from a ring neighbor only.
 * Repeating a copy is harmless: the engine takes a value it already holds
 * as a refresh.
 *
 * Control methods: put, get, stat (see p2p-put(1), p2p-get(1)).
 */
#include "node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define SWEEP_DELAY_MS		500	/* after a ring change */
#define DEFAULT_LIFETIME	3600	/* s, for put */

static enum p2p_data_model
kind_model(void *arg, uint32_t kind)
{
	p2p_node *n = arg;

	for (size_t i = 0; i < n->cfg.nkinds; i++)
		if (n->cfg.kinds[i].id == kind)
			return n->cfg.kinds[i].model;
	return P2P_MODEL_UNKNOWN;
}

const p2p_kind_def *
store_kind_def(const p2p_node *n, uint32_t id)
{
	for (size_t i = 0; i < n->cfg.nkinds; i++)
		if (n->cfg.kinds[i].id == id)
			return &n->cfg.kinds[i];
	return NULL;
}

p2p_kind_lookup
store_kind_lookup(p2p_node *n)
{
	p2p_kind_lookup lk = { kind_model, n };

	return lk;
}

int
store_req_signed(p2p_node *n, const p2p_id *rid, const p2p_kind_def *def,
    p2p_stored_data *sd, uint64_t generation, p2p_wbuf *body)
{
	uint64_t now = node_wall_ms();
	p2p_kind_data kd;
	p2p_store_req sr;
	p2p_sigbuf sb;
	p2p_err e = { 0 };
	p2p_wbuf in;
	int rc;

	if (now <= n->last_storage_time)
		now = n->last_storage_time + 1;	/* newer than the last */
	n->last_storage_time = now;
	sd->storage_time = now;
	sd->sig.signer = n->ident.signer;
	p2p_w_init(&in, sd->value.data.value.len + 128);
	rc = p2p_stored_data_sig_input(&in, (p2p_bytes){ rid->b, P2P_ID_LEN },
	    def->id, def->model, sd);
	if (rc == 0)
		rc = p2p_sign_data(&n->ident, in.p, in.len, &sd->sig, &sb, &e);
	p2p_w_free(&in);
	if (rc != 0)
		return -1;
	memset(&kd, 0, sizeof(kd));
	kd.kind = def->id;
	kd.model = def->model;
	kd.generation = generation;
	kd.values = sd;
	kd.nvalues = 1;
	memset(&sr, 0, sizeof(sr));
	sr.resource.p = rid->b;
	sr.resource.len = P2P_ID_LEN;
	sr.kinds = &kd;
	sr.nkinds = 1;
	rc = p2p_store_req_encode(body, &sr) == 0 ? 0 : -2;
	sd->sig.value.p = NULL;		/* it pointed into sb */
	sd->sig.value.len = 0;
	return rc;
}

size_t
store_fetched_each(p2p_node *n, const p2p_id *rid, const p2p_kind_def *def,
    const p2p_fetch_ans *fa, const p2p_msg *ans, store_value_fn fn,
    void *arg)
{
	size_t refused = 0;

	for (size_t i = 0; i < fa->nkinds; i++) {
		const p2p_kind_data *kd = &fa->kinds[i];

		if (def == NULL || kd->kind != def->id)
			continue;
		for (size_t j = 0; j < kd->nvalues; j++) {
			const p2p_stored_data *sd = &kd->values[j];
			p2p_sig_who sw;
			p2p_err e = { 0 };

			if (!sd->value.data.exists)
				continue;
			memset(&sw, 0, sizeof(sw));
			if (p2p_store_check_value(rid, def, sd, ans->certs,
			    ans->ncerts, n->trust, node_wall_ms(), &sw,
			    &e) != 0) {
				refused++;
				node_log(n, NLOG_WARN, "fetched value of kind %u "
				    "refused: %s", (unsigned)def->id, e.what);
			} else {
				fn(n, arg, sd, &sw);
			}
			p2p_sig_who_clear(&sw);
		}
	}
	return refused;
}

static p2p_store_kinds
kinds_of(p2p_node *n)
{
	p2p_store_kinds k = { n->cfg.kinds, n->cfg.nkinds,
	    n->cfg.instance_name };

	return k;
}

int
store_init(p2p_node *n)
{
	p2p_store_limits lim = { 200000, 256u << 20 };

	n->store = p2p_store_new(&lim);
	return n->store != NULL ? 0 : -1;
}

void
store_free(p2p_node *n)
{
	p2p_store_free(n->store);
	n->store = NULL;
}

void
store_ring_changed(p2p_node *n)
{
	uint64_t at = node_now(n) + SWEEP_DELAY_MS;

	if (n->sweep_at == 0 || at < n->sweep_at)
		n->sweep_at = at;
}

static int
resource_id(p2p_bytes b, p2p_id *id)
{
	if (b.len != P2P_ID_LEN)
		return -1;
	memcpy(id->b, b.p, P2P_ID_LEN);
	return 0;
}

static void
answer_store_error(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_err *e, const p2p_store_out *out)
{
	p2p_wbuf w;

	p2p_w_init(&w, 128);
	if (p2p_store_error_encode(&w, e, out) == 0) {
		(void)route_answer(n, from, m, P2P_ERROR, w.p, w.len);
		n->st.errors_sent++;
	}
	p2p_w_free(&w);
}

/* ---- replication ---- */

typedef struct copy_ctx {
	p2p_id resource;
	int drop;		/* drop it here once accepted */
} copy_ctx;

static void
copy_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	copy_ctx *c = user;
	p2p_id owner;

	/* Drop our copy only once the peer that now owns the resource, as
	 * far as we know, has taken it, and we are still outside its
	 * replica range: while the ring is changing, views differ. */
	if (st == P2P_TXN_ANSWERED && ans->code == P2P_STORE_ANS && c->drop &&
	    n->store != NULL && who != NULL &&
	    p2p_chord_stores(&n->chord, &c->resource) == 0 &&
	    p2p_chord_owner(&n->chord, &c->resource, &owner) >= 0 &&
	    p2p_id_eq(&owner, &who->node)) {
		p2p_id lo;
		char r[9], o[9];
		/* the one Resource-ID: the range (id - 1, id] */
		p2p_id_add_u64(&lo, &c->resource, UINT64_MAX);
		(void)p2p_store_drop_range(n->store, &lo, &c->resource);
		node_log(n, NLOG_DEBUG, "handed %s over to %s, dropped here",
		    node_id_short(&c->resource, r), node_id_short(&owner, o));
	}
	free(c);
}

/* Send one held (resource, kind) as a non-original Store. */
static int
send_copy(p2p_node *n, const p2p_store_item *it, const p2p_dest *dest,
    uint8_t replica_number, int drop)
{
	p2p_store_req req;
	p2p_kind_data kd;
	p2p_wbuf w;
	copy_ctx *c;
	int rc;

	memset(&kd, 0, sizeof(kd));
	kd.kind = it->kind;
	kd.model = it->model;
	kd.generation = it->generation;
	kd.values = (p2p_stored_data *)it->values;
	kd.nvalues = it->nvalues;
	memset(&req, 0, sizeof(req));
	req.resource.p = it->resource.b;
	req.resource.len = P2P_ID_LEN;
	req.replica_number = replica_number;
	req.kinds = &kd;
	req.nkinds = 1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->resource = it->resource;
	c->drop = drop;
	p2p_w_init(&w, 512);
	rc = p2p_store_req_encode(&w, &req);
	if (rc == 0)
		rc = route_request_certs(n, dest, 1, P2P_STORE_REQ, &w, NULL, 0,
		    it->certs, it->ncerts, NULL, copy_answer, c);
	if (rc != 0)
		free(c);
	p2p_w_free(&w);
	return rc;
}

static int
sweep_item(void *arg, const p2p_store_item *it)
{
	p2p_node *n = arg;
	p2p_id reps[P2P_CHORD_REPLICAS], owner;
	size_t nr;
	p2p_dest d;

	switch (p2p_chord_stores(&n->chord, &it->resource)) {
	case 2:		/* ours: keep the replica set complete */
		nr = p2p_chord_replicas(&n->chord, reps);
		for (size_t i = 0; i < nr; i++) {
			p2p_dest_node(&d, &reps[i]);
			(void)send_copy(n, it, &d, (uint8_t)(i + 1), 0);
		}
		break;
	case 1:		/* a replica we keep */
		/* Make sure its owner, one of our two nearest predecessors,
		 * has it: we may have owned it before that peer joined
		 * (s10.5 step 6: what a joining peer becomes responsible
		 * for is handed to it). */
		if (p2p_chord_owner(&n->chord, &it->resource, &owner) >= 0 &&
		    !p2p_id_eq(&owner, &n->ident.node)) {
			p2p_dest_node(&d, &owner);
			(void)send_copy(n, it, &d, 1, 0);
		}
		break;
	default:	/* another peer's now: hand it over */
		p2p_dest_resource(&d, &it->resource);
		(void)send_copy(n, it, &d, 1, 1);
		break;
	}
	return 0;
}

static void
sweep(p2p_node *n, uint64_t now_wall)
{
	n->sweep_at = 0;
	if (n->join != JOIN_DONE)
		return;
	(void)p2p_store_foreach(n->store, NULL, NULL, now_wall, sweep_item, n);
}

void
store_tick(p2p_node *n, uint64_t now)
{
	uint64_t wall = node_wall_ms();

	if (n->store == NULL)
		return;
	(void)p2p_store_expire(n->store, wall);
	if (n->sweep_at != 0 && now >= n->sweep_at)
		sweep(n, wall);
}

/* ---- requests ---- */

static void
on_store(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_kind_lookup lk = { kind_model, n };
	p2p_store_req req;
	p2p_store_msg sm;
	p2p_store_out out;
	p2p_store_kinds kinds = kinds_of(n);
	p2p_err e = { 0 };
	p2p_id rid, reps[P2P_CHORD_REPLICAS];
	size_t nr = 0;
	int replica;
	p2p_wbuf w;

	if (p2p_store_req_decode(m->body, a, &lk, &req, &e) != 0 ||
	    resource_id(req.resource, &rid) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE,
		    e.what ? e.what : "Resource-ID is not 16 bytes");
		return;
	}
	replica = req.replica_number != 0;
	if (!replica && !p2p_chord_is_responsible(&n->chord, &rid)) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "not responsible for this resource");
		return;
	}
	/* Copies come from ring neighbors only (s10.7.3 asks a plausible
	 * responsible peer; a handover comes from the former one). */
	if (replica && (!p2p_chord_knows(&n->chord, &who->node) ||
	    p2p_chord_stores(&n->chord, &rid) == 0)) {
		char r[9], f[9];
		node_log(n, NLOG_DEBUG, "copy of %s from %s refused: %s",
		    node_id_short(&rid, r), node_id_short(&who->node, f),
		    p2p_chord_knows(&n->chord, &who->node) ?
		    "not ours to keep" : "not a neighbor");
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "replica store from a peer that is no neighbor");
		return;
	}
	memset(&sm, 0, sizeof(sm));
	sm.certs = m->certs;
	sm.ncerts = m->ncerts;
	sm.signer = who;
	sm.trust = n->trust;
	p2p_store_out_init(&out);
	if (p2p_store_apply(n->store, &req, &sm, &kinds, replica,
	    node_wall_ms(), &out, &e) != 0) {
		answer_store_error(n, from, m, &e, &out);
		p2p_store_out_free(&out);
		return;
	}
	if (!replica) {
		nr = p2p_chord_replicas(&n->chord, reps);
		for (size_t i = 0; i < out.store.nkinds; i++) {
			out.store.kinds[i].replicas = reps;
			out.store.kinds[i].nreplicas = nr;
		}
	}
	p2p_w_init(&w, 128);
	if (p2p_store_ans_encode(&w, &out.store) == 0)
		(void)route_answer(n, from, m, P2P_STORE_ANS, w.p, w.len);
	p2p_w_free(&w);
	p2p_store_out_free(&out);
	if (!replica) {
		/* The same values, with their signers' certificates, to the
		 * replica set. */
		for (size_t i = 0; i < nr; i++) {
			p2p_dest d;
			p2p_w_init(&w, m->body.len + 16);
			req.replica_number = (uint8_t)(i + 1);
			p2p_dest_node(&d, &reps[i]);
			if (p2p_store_req_encode(&w, &req) == 0)
				(void)route_request_certs(n, &d, 1,
				    P2P_STORE_REQ, &w, NULL, 0, m->certs,
				    m->ncerts, NULL, NULL, NULL);
			p2p_w_free(&w);
		}
	}
}

static int
holds_or_owns(p2p_node *n, p2p_bytes res, p2p_id *rid)
{
	return resource_id(res, rid) == 0 &&
	    p2p_chord_stores(&n->chord, rid) != 0;
}

static void
on_fetch_stat(p2p_node *n, p2p_link *from, const p2p_msg *m, p2p_arena *a,
    int stat)
{
	p2p_kind_lookup lk = { kind_model, n };
	p2p_store_kinds kinds = kinds_of(n);
	p2p_fetch_req req;
	p2p_store_out out;
	p2p_err e = { 0 };
	p2p_id rid;
	p2p_wbuf w;
	int rc;

	rc = stat ? p2p_stat_req_decode(m->body, a, &lk, &req, &e) :
	    p2p_fetch_req_decode(m->body, a, &lk, &req, &e);
	if (rc != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (!holds_or_owns(n, req.resource, &rid)) {
		(void)route_error(n, from, m, P2P_ERR_NOT_FOUND,
		    "not responsible for this resource");
		return;
	}
	p2p_store_out_init(&out);
	rc = stat ? p2p_store_stat(n->store, &req, &kinds, node_wall_ms(),
	    &out, &e) : p2p_store_fetch(n->store, &req, &kinds,
	    node_wall_ms(), &out, &e);
	if (rc != 0) {
		answer_store_error(n, from, m, &e, &out);
		p2p_store_out_free(&out);
		return;
	}
	p2p_w_init(&w, 1024);
	rc = stat ? p2p_stat_ans_encode(&w, &out.stat) :
	    p2p_fetch_ans_encode(&w, &out.fetch);
	if (rc == 0 && route_answer_full(n, from, m, stat ? P2P_STAT_ANS :
	    P2P_FETCH_ANS, w.p, w.len, NULL, 0, out.certs, out.ncerts) != 0)
		(void)route_error(n, from, m, P2P_ERR_RESPONSE_TOO_LARGE,
		    "the answer does not fit max-message-size");
	p2p_w_free(&w);
	p2p_store_out_free(&out);
}

static void
on_find(p2p_node *n, p2p_link *from, const p2p_msg *m, p2p_arena *a)
{
	p2p_store_kinds kinds = kinds_of(n);
	p2p_find_req req;
	p2p_store_out out;
	p2p_err e = { 0 };
	p2p_id rid;
	p2p_wbuf w;

	if (p2p_find_req_decode(m->body, a, &req, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (resource_id(req.resource, &rid) != 0 ||
	    !p2p_chord_is_responsible(&n->chord, &rid)) {
		(void)route_error(n, from, m, P2P_ERR_NOT_FOUND,
		    "not responsible for this resource");
		return;
	}
	p2p_store_out_init(&out);
	if (p2p_store_find(n->store, &req, &kinds, &n->ident.node,
	    node_wall_ms(), &out, &e) != 0) {
		answer_store_error(n, from, m, &e, &out);
		p2p_store_out_free(&out);
		return;
	}
	p2p_w_init(&w, 128);
	if (p2p_find_ans_encode(&w, &out.find) == 0)
		(void)route_answer(n, from, m, P2P_FIND_ANS, w.p, w.len);
	p2p_w_free(&w);
	p2p_store_out_free(&out);
}

void
store_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	switch (m->code) {
	case P2P_STORE_REQ:
		on_store(n, from, m, who, a);
		break;
	case P2P_FETCH_REQ:
		on_fetch_stat(n, from, m, a, 0);
		break;
	case P2P_STAT_REQ:
		on_fetch_stat(n, from, m, a, 1);
		break;
	case P2P_FIND_REQ:
		on_find(n, from, m, a);
		break;
	}
}

/* ---- control methods ---- */

typedef struct data_call {
	p2p_ctl_req *req;
	p2p_id rid;
	uint32_t kind;
	enum p2p_data_model model;
	const p2p_kind_def *def;
	p2p_kind_def other;	/* a kind the configuration lacks */
} data_call;

static json_t *
hex_json(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	json_t *j;

	if (s == NULL)
		return json_null();
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 0xf];
	}
	s[2 * n] = '\0';
	j = json_string(s);
	free(s);
	return j;
}

/* Well-formed UTF-8 without NUL (jansson checks the finer points). */
static int
utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		uint8_t c = p[i];

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3;
		else
			return 0;
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

static json_t *
bytes_json(const uint8_t *p, size_t n)
{
	char *b = p2p_base64_encode(n > 0 ? p : (const uint8_t *)"", n);
	json_t *j = json_string(b != NULL ? b : "");

	free(b);
	return j;
}

static json_t *
text_or_null(const uint8_t *p, size_t n)
{
	json_t *j = utf8_ok(p, n) ? json_stringn((const char *)p, n) : NULL;

	return j != NULL ? j : json_null();
}

/* A TURN-SERVICE value as {iteration, address, port}; null when it is
 * not a TurnServer with an IPv4 or IPv6 address. */
static json_t *
turn_server_json(const p2p_data_value *dv)
{
	p2p_turn_server ts;
	p2p_err e = { 0 };
	char host[48];

	if (p2p_turn_server_decode(dv->value, &ts, &e) != 0 ||
	    p2p_addr_port_host(&ts.addr, host, sizeof(host)) != 0)
		return json_null();
	return json_pack("{s:i,s:s,s:i}", "iteration", (int)ts.iteration,
	    "address", host, "port", (int)ts.addr.port);
}

/* Common parameters: resource, kind. -1 when the request was answered. */
static int
data_target(p2p_node *n, p2p_ctl_req *req, json_t *params, data_call *c)
{
	const char *res = json_string_value(json_object_get(params,
	    "resource"));
	const char *rid = json_string_value(json_object_get(params,
	    "resource_id"));
	const char *kind = json_string_value(json_object_get(params, "kind"));

	if ((res == NULL || *res == '\0') == (rid == NULL)) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, "give resource (a "
		    "non-empty name) or resource_id (32 hex digits)", NULL);
		return -1;
	}
	if (rid != NULL && !p2p_id_from_hex(&c->rid, rid)) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "resource_id: 32 hexadecimal digits", NULL);
		return -1;
	}
	if (kind == NULL)
		kind = "single";
	c->def = p2p_config_kind(&n->cfg, kind);
	if (c->def == NULL && kind[0] >= '0' && kind[0] <= '9') {
		/* A number this overlay does not define: sent as a single
		 * value, for the storing peer to refuse (Error_Unknown_Kind). */
		char *end;
		unsigned long v = strtoul(kind, &end, 0);
		if (*end == '\0' && v > 0 && v <= UINT32_MAX) {
			memset(&c->other, 0, sizeof(c->other));
			c->other.id = (uint32_t)v;
			c->other.model = P2P_MODEL_SINGLE;
			c->other.policy = P2P_AC_USER_MATCH;
			c->def = &c->other;
		}
	}
	if (c->def == NULL) {
		char msg[200];
		snprintf(msg, sizeof(msg), "this overlay has no kind \"%.64s\"",
		    kind);
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, msg, NULL);
		return -1;
	}
	c->req = req;
	c->kind = c->def->id;
	c->model = c->def->model;
	if (rid == NULL)
		p2p_id_from_name(&c->rid, res, strlen(res));
	return 0;
}

static void
put_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	data_call *c = user;
	_Alignas(16) uint8_t mem[2048];
	p2p_arena a;
	p2p_store_ans sa;
	p2p_err e = { 0 };
	char hex[P2P_ID_HEXLEN + 1], at[P2P_ID_HEXLEN + 1];

	(void)n;
	p2p_arena_init(&a, mem, sizeof(mem));
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_STORE_ANS ||
	    p2p_store_ans_decode(ans->body, &a, &sa, &e) != 0 ||
	    sa.nkinds < 1) {
		ctl_fail(c->req, st, ans);
		free(c);
		return;
	}
	p2p_ctl_reply(c->req, json_pack("{s:s,s:I,s:s,s:I,s:I}",
	    "resource_id", p2p_id_hex(&c->rid, hex),
	    "kind", (json_int_t)c->kind,
	    "stored_at", p2p_id_hex(&who->node, at),
	    "replicas", (json_int_t)sa.kinds[0].nreplicas,
	    "generation", (json_int_t)sa.kinds[0].generation));
	free(c);
}

static void
m_put(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	data_call *c = calloc(1, sizeof(*c));
	const char *b64 = json_string_value(json_object_get(params,
	    "value_b64"));
	const char *key = json_string_value(json_object_get(params, "key"));
	json_t *jindex = json_object_get(params, "index");
	json_t *jlife = json_object_get(params, "lifetime");
	json_t *jgen = json_object_get(params, "generation");
	int append = json_is_true(json_object_get(params, "append"));
	p2p_stored_data sd;
	p2p_wbuf body;
	p2p_dest d;
	uint8_t *val = NULL;
	size_t vlen = 0;
	const char *bad = NULL;
	int rc;

	if (c == NULL) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	if (data_target(n, req, params, c) != 0) {
		free(c);
		return;
	}
	if (b64 == NULL || (*b64 != '\0' && p2p_base64_decode(b64,
	    strlen(b64), &val, &vlen) != 0))
		bad = "value_b64 (base64) is required";
	else if (jlife != NULL && (!json_is_integer(jlife) ||
	    json_integer_value(jlife) < 0 ||
	    json_integer_value(jlife) > UINT32_MAX))
		bad = "lifetime: seconds, 0 to 4294967295";
	else if (jgen != NULL && (!json_is_integer(jgen) ||
	    json_integer_value(jgen) < 0))
		bad = "generation: a counter, 0 for none";
	else if (jindex != NULL && (!json_is_integer(jindex) ||
	    json_integer_value(jindex) < 0 ||
	    json_integer_value(jindex) >= (json_int_t)P2P_ARRAY_LAST))
		bad = "index: 0 to 4294967294";
	else if (c->model != P2P_MODEL_ARRAY && (jindex != NULL || append))
		bad = "index and append apply to array kinds";
	else if (c->model != P2P_MODEL_DICTIONARY && key != NULL)
		bad = "key applies to dictionary kinds";
	else if (c->model == P2P_MODEL_DICTIONARY && key == NULL &&
	    c->def->policy != P2P_AC_USER_NODE_MATCH)
		bad = "a dictionary kind needs a key";
	if (bad != NULL) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, bad, NULL);
		free(val);
		free(c);
		return;
	}
	memset(&sd, 0, sizeof(sd));
	sd.lifetime = jlife != NULL ? (uint32_t)json_integer_value(jlife) :
	    DEFAULT_LIFETIME;
	sd.value.data.exists = 1;
	sd.value.data.value.p = val;
	sd.value.data.value.len = vlen;
	if (c->model == P2P_MODEL_ARRAY)
		sd.value.index = jindex != NULL ?
		    (uint32_t)json_integer_value(jindex) : P2P_ARRAY_LAST;
	if (c->model == P2P_MODEL_DICTIONARY) {
		if (key != NULL) {
			sd.value.key.p = (const uint8_t *)key;
			sd.value.key.len = strlen(key);
		} else {	/* USER-NODE-MATCH: the key is our Node-ID */
			sd.value.key.p = n->ident.node.b;
			sd.value.key.len = P2P_ID_LEN;
		}
	}
	p2p_w_init(&body, vlen + 256);
	rc = store_req_signed(n, &c->rid, c->def, &sd, jgen != NULL ?
	    (uint64_t)json_integer_value(jgen) : 0, &body);
	p2p_dest_resource(&d, &c->rid);
	if (rc == -1) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "signing failed",
		    NULL);
		free(c);
	} else if (rc != 0 || route_request(n, &d, 1, P2P_STORE_REQ, &body,
	    NULL, 0, NULL, put_answer, c) != 0) {
		p2p_ctl_error(req, P2P_CTL_ERR_UNREACHABLE,
		    "the Store could not be sent (too large, or no route)",
		    NULL);
		free(c);
	}
	p2p_w_free(&body);
	free(val);
}

/* The specifier of get and stat from their parameters. */
static int
data_spec(p2p_ctl_req *req, json_t *params, const data_call *c,
    p2p_specifier *sp, p2p_array_range *range, p2p_bytes *key)
{
	const char *k = json_string_value(json_object_get(params, "key"));
	json_t *ji = json_object_get(params, "index");
	json_t *jr = json_object_get(params, "range");

	memset(sp, 0, sizeof(*sp));
	sp->kind = c->kind;
	sp->model = c->model;
	if (c->model == P2P_MODEL_ARRAY) {
		range->first = 0;
		range->last = P2P_ARRAY_LAST;
		if (json_is_integer(ji)) {
			range->first = range->last =
			    (uint32_t)json_integer_value(ji);
		} else if (json_is_array(jr) && json_array_size(jr) == 2) {
			json_int_t a = json_integer_value(json_array_get(jr, 0));
			json_int_t b = json_integer_value(json_array_get(jr, 1));
			if (a < 0 || b < a || b > (json_int_t)P2P_ARRAY_LAST) {
				p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
				    "range: [first, last], first <= last", NULL);
				return -1;
			}
			range->first = (uint32_t)a;
			range->last = (uint32_t)b;
		}
		sp->ranges = range;
		sp->nranges = 1;
	} else if (ji != NULL || jr != NULL) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "index and range apply to array kinds", NULL);
		return -1;
	}
	if (c->model == P2P_MODEL_DICTIONARY && k != NULL) {
		key->p = (const uint8_t *)k;
		key->len = strlen(k);
		sp->keys = key;
		sp->nkeys = 1;
	} else if (k != NULL) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "key applies to dictionary kinds", NULL);
		return -1;
	}
	return 0;
}

static void
get_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	data_call *c = user;
	p2p_kind_lookup lk = { kind_model, n };
	p2p_arena a;
	p2p_fetch_ans fa;
	p2p_err e = { 0 };
	json_t *values = json_array();
	char hex[P2P_ID_HEXLEN + 1];
	size_t cap, rejected = 0;
	uint64_t gen = 0;
	void *mem;

	(void)who;
	cap = st == P2P_TXN_ANSWERED ? 4 * ans->body.len + 4096 : 0;
	mem = cap > 0 ? malloc(cap) : NULL;
	p2p_arena_init(&a, mem, cap);
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_FETCH_ANS ||
	    p2p_fetch_ans_decode(ans->body, &a, &lk, &fa, &e) != 0) {
		ctl_fail(c->req, st, ans);
		json_decref(values);
		free(mem);
		free(c);
		return;
	}
	for (size_t i = 0; i < fa.nkinds; i++) {
		const p2p_kind_data *kd = &fa.kinds[i];

		if (kd->kind != c->kind)
			continue;
		gen = kd->generation;
		for (size_t j = 0; j < kd->nvalues; j++) {
			const p2p_stored_data *sd = &kd->values[j];
			p2p_sig_who sw;
			json_t *v;

			if (!sd->value.data.exists)
				continue;
			memset(&sw, 0, sizeof(sw));
			/* Signature and access policy, as the storing peer
			 * checked them: a peer cannot hand us forged data. */
			if (p2p_store_check_value(&c->rid, c->def, sd,
			    ans->certs, ans->ncerts, n->trust, node_wall_ms(),
			    &sw, &e) != 0) {
				rejected++;
				node_log(n, NLOG_WARN, "fetched value refused: %s",
				    e.what);
				p2p_sig_who_clear(&sw);
				continue;
			}
			v = json_pack("{s:o,s:o,s:s,s:I,s:I}",
			    "value", text_or_null(sd->value.data.value.p,
			    sd->value.data.value.len),
			    "value_b64", bytes_json(sd->value.data.value.p,
			    sd->value.data.value.len),
			    "storer", sw.info.user,
			    "lifetime", (json_int_t)sd->lifetime,
			    "storage_time", (json_int_t)sd->storage_time);
			if (c->kind == P2P_KIND_TURN_SERVICE)
				json_object_set_new(v, "turn_server",
				    turn_server_json(&sd->value.data));
			if (c->model == P2P_MODEL_ARRAY)
				json_object_set_new(v, "index",
				    json_integer(sd->value.index));
			if (c->model == P2P_MODEL_DICTIONARY) {
				json_object_set_new(v, "key", text_or_null(
				    sd->value.key.p, sd->value.key.len));
				json_object_set_new(v, "key_b64", bytes_json(
				    sd->value.key.p, sd->value.key.len));
			}
			json_array_append_new(values, v);
			p2p_sig_who_clear(&sw);
		}
	}
	p2p_ctl_reply(c->req, json_pack("{s:s,s:I,s:I,s:o,s:I}",
	    "resource_id", p2p_id_hex(&c->rid, hex),
	    "kind", (json_int_t)c->kind, "generation", (json_int_t)gen,
	    "values", values, "rejected", (json_int_t)rejected));
	free(mem);
	free(c);
}

static void
stat_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	data_call *c = user;
	p2p_kind_lookup lk = { kind_model, n };
	p2p_arena a;
	p2p_stat_ans sa;
	p2p_err e = { 0 };
	json_t *values = json_array();
	char hex[P2P_ID_HEXLEN + 1];
	size_t cap;
	uint64_t gen = 0;
	void *mem;

	(void)who;
	cap = st == P2P_TXN_ANSWERED ? 4 * ans->body.len + 4096 : 0;
	mem = cap > 0 ? malloc(cap) : NULL;
	p2p_arena_init(&a, mem, cap);
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_STAT_ANS ||
	    p2p_stat_ans_decode(ans->body, &a, &lk, &sa, &e) != 0) {
		ctl_fail(c->req, st, ans);
		json_decref(values);
		free(mem);
		free(c);
		return;
	}
	for (size_t i = 0; i < sa.nkinds; i++) {
		if (sa.kinds[i].kind != c->kind)
			continue;
		gen = sa.kinds[i].generation;
		for (size_t j = 0; j < sa.kinds[i].nvalues; j++) {
			const p2p_stored_meta *m = &sa.kinds[i].values[j];
			json_t *v = json_pack("{s:b,s:I,s:o,s:I,s:I}",
			    "exists", m->meta.exists,
			    "length", (json_int_t)m->meta.value_length,
			    "hash", hex_json(m->meta.hash.p, m->meta.hash.len),
			    "storage_time", (json_int_t)m->storage_time,
			    "lifetime", (json_int_t)m->lifetime);
			if (c->model == P2P_MODEL_ARRAY)
				json_object_set_new(v, "index",
				    json_integer(m->index));
			if (c->model == P2P_MODEL_DICTIONARY) {
				json_object_set_new(v, "key", text_or_null(
				    m->key.p, m->key.len));
				json_object_set_new(v, "key_b64", bytes_json(
				    m->key.p, m->key.len));
			}
			json_array_append_new(values, v);
		}
	}
	p2p_ctl_reply(c->req, json_pack("{s:s,s:I,s:I,s:o}",
	    "resource_id", p2p_id_hex(&c->rid, hex),
	    "kind", (json_int_t)c->kind, "generation", (json_int_t)gen,
	    "values", values));
	free(mem);
	free(c);
}

static void
fetch_or_stat(p2p_node *n, p2p_ctl_req *req, json_t *params, int stat)
{
	data_call *c = calloc(1, sizeof(*c));
	p2p_specifier sp;
	p2p_array_range range;
	p2p_bytes key;
	p2p_fetch_req fr;
	p2p_wbuf body;
	p2p_dest d;
	int rc;

	if (c == NULL) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	if (data_target(n, req, params, c) != 0 ||
	    data_spec(req, params, c, &sp, &range, &key) != 0) {
		free(c);
		return;
	}
	memset(&fr, 0, sizeof(fr));
	fr.resource.p = c->rid.b;
	fr.resource.len = P2P_ID_LEN;
	fr.specs = &sp;
	fr.nspecs = 1;
	p2p_dest_resource(&d, &c->rid);
	p2p_w_init(&body, 128);
	rc = stat ? p2p_stat_req_encode(&body, &fr) :
	    p2p_fetch_req_encode(&body, &fr);
	if (rc == 0)
		rc = route_request(n, &d, 1, stat ? P2P_STAT_REQ :
		    P2P_FETCH_REQ, &body, NULL, 0, NULL, stat ? stat_answer :
		    get_answer, c);
	if (rc != 0) {
		p2p_ctl_error(req, P2P_CTL_ERR_UNREACHABLE,
		    "the request could not be sent", NULL);
		free(c);
	}
	p2p_w_free(&body);
}

/* The name of a kind of this overlay, for people; NULL if it has none. */
static const char *
kind_name(p2p_node *n, uint32_t id)
{
	char num[16];
	const p2p_kind_def *d;
	const p2p_kind_info *b = p2p_kind_by_id(id);

	snprintf(num, sizeof(num), "%lu", (unsigned long)id);
	d = p2p_config_kind(&n->cfg, num);
	if (d != NULL && d->label != NULL)
		return d->label;
	return b != NULL ? b->name : NULL;
}

static void
find_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	data_call *c = user;
	_Alignas(16) uint8_t mem[4096];
	p2p_arena a;
	p2p_find_ans fa;
	p2p_err e = { 0 };
	json_t *res = json_array();
	char hex[P2P_ID_HEXLEN + 1], at[P2P_ID_HEXLEN + 1];

	p2p_arena_init(&a, mem, sizeof(mem));
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_FIND_ANS ||
	    p2p_find_ans_decode(ans->body, &a, &fa, &e) != 0) {
		ctl_fail(c->req, st, ans);
		json_decref(res);
		free(c);
		return;
	}
	for (size_t i = 0; i < fa.nresults; i++) {
		const p2p_find_kind *f = &fa.results[i];
		const char *name = kind_name(n, f->kind);
		json_array_append_new(res, json_pack("{s:I,s:o,s:o}", "kind",
		    (json_int_t)f->kind, "name", name != NULL ?
		    json_string(name) : json_null(), "closest",
		    p2p_find_kind_is_none(f) ? json_null() :
		    hex_json(f->closest.p, f->closest.len)));
	}
	p2p_ctl_reply(c->req, json_pack("{s:s,s:s,s:o}",
	    "resource_id", p2p_id_hex(&c->rid, hex),
	    "answered_by", p2p_id_hex(&who->node, at), "results", res));
	free(c);
}

/*
 * find: for each kind, the Resource-ID nearest at or after the given one
 * that the responsible peer holds (RFC 6940 s7.4.4).
 */
static void
m_find(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	data_call *c = calloc(1, sizeof(*c));
	json_t *kinds = json_object_get(params, "kinds"), *k;
	uint32_t ids[64];
	p2p_find_req fr;
	p2p_wbuf body;
	p2p_dest d;
	size_t i, nk = 0;

	if (c == NULL) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	if (data_target(n, req, params, c) != 0) {
		free(c);
		return;
	}
	if (kinds == NULL)
		ids[nk++] = c->kind;
	json_array_foreach(kinds, i, k) {
		const char *name = json_string_value(k);
		const p2p_kind_def *def = name != NULL ?
		    p2p_config_kind(&n->cfg, name) : NULL;
		if (def == NULL || nk == 64) {
			p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
			    "kinds: names or numbers of this overlay's kinds",
			    NULL);
			free(c);
			return;
		}
		for (size_t j = 0; j < nk; j++)
			if (ids[j] == def->id)
				goto dup;
		ids[nk++] = def->id;
dup:		;
	}
	memset(&fr, 0, sizeof(fr));
	fr.resource.p = c->rid.b;
	fr.resource.len = P2P_ID_LEN;
	fr.kinds = ids;
	fr.nkinds = nk;
	p2p_dest_resource(&d, &c->rid);
	p2p_w_init(&body, 64);
	if (p2p_find_req_encode(&body, &fr) != 0 ||
	    route_request(n, &d, 1, P2P_FIND_REQ, &body, NULL, 0, NULL,
	    find_answer, c) != 0) {
		p2p_ctl_error(req, P2P_CTL_ERR_UNREACHABLE,
		    "the request could not be sent", NULL);
		free(c);
	}
	p2p_w_free(&body);
}

static void
m_get(p2p_ctl_req *req, json_t *params, void *user)
{
	fetch_or_stat(user, req, params, 0);
}

static void
m_stat(p2p_ctl_req *req, json_t *params, void *user)
{
	fetch_or_stat(user, req, params, 1);
}

void
store_ctl_register(p2p_node *n)
{
	p2p_ctl_register(n->ctl, "put", m_put, n);
	p2p_ctl_register(n->ctl, "get", m_get, n);
	p2p_ctl_register(n->ctl, "stat", m_stat, n);
	p2p_ctl_register(n->ctl, "find", m_find, n);
}

uint64_t
store_next_due(p2p_node *n, uint64_t now)
{
	uint64_t t = n->sweep_at != 0 ? n->sweep_at : UINT64_MAX;
	uint64_t exp, wall;

	if (n->store == NULL ||
	    (exp = p2p_store_next_expiry(n->store)) == 0)
		return t;
	/* Expiry is wall-clock time; the loop's clock is another. */
	wall = node_wall_ms();
	exp = exp <= wall ? now : now + (exp - wall);
	return exp < t ? exp : t;
}
