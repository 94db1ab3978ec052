/*
 * node_sipreg: the SIP-REGISTRATION kind (RFC 7904 s3) for the users of
 * this node: publishing, refreshing, withdrawing and looking up
 * registrations.
 *
 * A registration is one dictionary entry under Resource-ID = hash(AOR):
 * key this node's Node-ID, value a sip_registration_route whose
 * destination list is [this node's Node-ID], signed by this node. The
 * storing peer checks USER-NODE-MATCH, so only the node whose
 * certificate carries the AOR as its user name can write it, and each of
 * that user's nodes writes its own key.
 *
 * Choices where the RFCs leave room:
 *   - lifetime: values are stored for SIPREG_LIFETIME (3600 s, the usual
 *     SIP registration interval) and stored again, as a refresh, after
 *     half of it; a refresh that fails is retried after 5 s, doubling up
 *     to 5 minutes, so a registration survives a bad minute of the
 *     overlay. The REGISTER expiry of the phone is the front's business:
 *     it withdraws when its own binding lapses;
 *   - the resource name hashed when storing is the certificate's user
 *     name exactly as written there (USER-NODE-MATCH hashes that);
 *     lookups hash the normalized AOR (sipreg.h). The two agree whenever
 *     the enrollment server wrote the domain in lower case, as ours does;
 *   - withdrawing stores the same key with exists = false (RFC 6940
 *     s7.4.1.1) and the same lifetime, so that the tombstone outlives
 *     any copy of the value still held by a replica;
 *   - a lookup keeps a value only when its signature and the access
 *     policy check out (as p2p-get does), its key is a Node-ID and its
 *     SipRegistration decodes: a route whose entries are all Node-IDs
 *     (at most 8), or a URI (at most 255 bytes of printable text).
 *     Other values are skipped with a log line.
 *
 * Callbacks. The answer to a request can come back inside route_request
 * (this node may be the responsible peer, which answers itself). Such an
 * operation is marked done and its callbacks run from the next
 * sipreg_tick; otherwise they run from the transaction's callback. So a
 * callback never runs inside the call that took it. sipreg_free drops
 * pending operations without calling them back; operations whose
 * transaction is still pending are freed when the transaction ends. A
 * transaction cancelled because the node is going away ends its
 * operation the same way, whichever of the two is freed first.
 */
#include "node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg.h"
#include "store.h"

#define SIPREG_LIFETIME		3600		/* s */
#define SIPREG_REFRESH_MS	(SIPREG_LIFETIME * 1000ull / 2)
#define SIPREG_RETRY_MIN_MS	5000ull
#define SIPREG_RETRY_MAX_MS	300000ull

enum op_kind { OP_STORE, OP_DELETE, OP_FETCH };

typedef struct op_waiter {
	sipreg_done_cb cb;
	void *user;
	struct op_waiter *next;
} op_waiter;

struct sipreg_reg;

typedef struct sipreg_op {
	struct sipreg_state *s;	/* NULL once sipreg_free ran */
	enum op_kind kind;
	struct sipreg_reg *reg;	/* OP_STORE: what it refreshes, or NULL */
	p2p_id rid;
	op_waiter *waiters;	/* OP_STORE, OP_DELETE */
	sipreg_lookup_cb lcb;	/* OP_FETCH */
	void *luser;
	int in_call;		/* route_request has not returned yet */
	int done;		/* finished: callbacks due */
	enum sipreg_status st;
	char why[160];
	sipreg_target *t;	/* OP_FETCH results */
	size_t nt;
	struct sipreg_op *next;
} sipreg_op;

typedef struct sipreg_reg {
	char aor[P2P_SIP_AOR_MAX + 1];
	p2p_id rid;
	uint64_t next_ms;	/* next refresh (node_now) */
	uint64_t retry_ms;	/* back-off after a failed refresh */
	sipreg_op *inflight;
	struct sipreg_reg *next;
} sipreg_reg;

struct sipreg_state {
	sipreg_reg *regs;
	sipreg_op *ops;		/* in flight, or done and due */
};

static struct sipreg_state *
state(p2p_node *n)
{
	if (n->sipreg == NULL)
		n->sipreg = calloc(1, sizeof(*n->sipreg));
	return n->sipreg;
}

static const p2p_kind_def *
sip_kind(const p2p_node *n)
{
	return store_kind_def(n, P2P_KIND_SIP_REGISTRATION);
}

/* Normalize aor into out; log and fail when the overlay cannot hold a
 * registration. */
static int
aor_arg(p2p_node *n, const char *aor, char *out, size_t cap)
{
	if (aor == NULL || p2p_sip_aor_norm(aor, out, cap) < 0) {
		node_log(n, NLOG_WARN, "sip: not an AOR: \"%.80s\"",
		    aor != NULL ? aor : "");
		return -1;
	}
	if (sip_kind(n) == NULL) {
		node_log(n, NLOG_WARN, "sip: this overlay has no "
		    "SIP-REGISTRATION kind");
		return -1;
	}
	return 0;
}

int
sipreg_may_register(p2p_node *n, const char *aor)
{
	char a[P2P_SIP_AOR_MAX + 1], u[P2P_SIP_AOR_MAX + 1];

	if (aor == NULL || p2p_sip_aor_norm(aor, a, sizeof(a)) < 0 ||
	    p2p_sip_aor_norm(n->ident.info.user, u, sizeof(u)) < 0)
		return 0;
	return strcmp(a, u) == 0;
}

/* ---- operations ---- */

static sipreg_op *
op_new(p2p_node *n, enum op_kind kind, const p2p_id *rid)
{
	struct sipreg_state *s = state(n);
	sipreg_op *op;

	if (s == NULL || (op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->s = s;
	op->in_call = 1;	/* until the starting function returns */
	op->kind = kind;
	op->rid = *rid;
	op->next = s->ops;
	s->ops = op;
	return op;
}

static void
op_unlink(sipreg_op *op)
{
	sipreg_op **pp;

	if (op->s == NULL)
		return;
	for (pp = &op->s->ops; *pp != NULL; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
}

static void
op_free(sipreg_op *op)
{
	op_waiter *w, *nw;

	for (w = op->waiters; w != NULL; w = nw) {
		nw = w->next;
		free(w);
	}
	free(op->t);
	free(op);
}

/*
 * A transaction that ends because the node is going away (the table is
 * freed: P2P_TXN_CANCELLED), or after sipreg_free: free the operation
 * without calling anyone back, their owners may be gone already.
 */
static int
op_dropped(sipreg_op *op, enum p2p_txn_status st)
{
	if (op->s != NULL && st != P2P_TXN_CANCELLED)
		return 0;
	if (op->reg != NULL)
		op->reg->inflight = NULL;
	op_unlink(op);
	op_free(op);
	return 1;
}

static int
op_wait(sipreg_op *op, sipreg_done_cb cb, void *user)
{
	op_waiter *w;

	if (cb == NULL)
		return 0;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->cb = cb;
	w->user = user;
	w->next = op->waiters;
	op->waiters = w;
	return 0;
}

/* Run the callbacks of a finished operation and free it. */
static void
op_deliver(p2p_node *n, sipreg_op *op)
{
	op_unlink(op);
	if (op->kind == OP_FETCH) {
		if (op->lcb != NULL)
			op->lcb(n, op->luser, op->st, op->t, op->nt);
	} else {
		for (op_waiter *w = op->waiters; w != NULL; w = w->next)
			w->cb(n, w->user, op->st, op->why[0] ? op->why : NULL);
	}
	op_free(op);
}

/* Book-keeping of a finished store: when to store again. */
static void
reg_stored(p2p_node *n, sipreg_reg *r, enum sipreg_status st,
    const char *why)
{
	uint64_t now = node_now(n);

	r->inflight = NULL;
	if (st == SIPREG_OK) {
		r->retry_ms = 0;
		r->next_ms = now + SIPREG_REFRESH_MS;
		return;
	}
	r->retry_ms = r->retry_ms == 0 ? SIPREG_RETRY_MIN_MS :
	    r->retry_ms * 2;
	if (r->retry_ms > SIPREG_RETRY_MAX_MS)
		r->retry_ms = SIPREG_RETRY_MAX_MS;
	r->next_ms = now + r->retry_ms;
	node_log(n, NLOG_WARN, "sip: registration of %s not stored (%s); "
	    "again in %llu s", r->aor, why[0] ? why : "failed",
	    (unsigned long long)(r->retry_ms / 1000));
}

/* The operation has its result: deliver now, or from the next tick when
 * still inside the call that started it. */
static void
op_finish(p2p_node *n, sipreg_op *op, enum sipreg_status st,
    const char *why)
{
	char r[9];

	op->st = st;
	snprintf(op->why, sizeof(op->why), "%s", why != NULL ? why : "");
	node_log(n, NLOG_DEBUG, "sip: %s of %s: %s%s%s%s", op->kind ==
	    OP_FETCH ? "fetch" : op->kind == OP_STORE ? "store" : "delete",
	    node_id_short(&op->rid, r), st == SIPREG_OK ? "ok" : "failed",
	    op->why[0] ? " (" : "", op->why, op->why[0] ? ")" : "");
	if (op->reg != NULL)
		reg_stored(n, op->reg, st, op->why);
	op->reg = NULL;
	op->done = 1;
	if (!op->in_call)
		op_deliver(n, op);
}

/* The status and text of an answer that is not the expected one. */
static enum sipreg_status
failure(enum p2p_txn_status st, const p2p_msg *ans, char *why, size_t cap)
{
	uint16_t code = 0;
	char text[120] = "";

	if (st == P2P_TXN_TIMEOUT) {
		snprintf(why, cap, "no answer from the overlay");
		return SIPREG_TIMEOUT;
	}
	if (st != P2P_TXN_ANSWERED) {
		snprintf(why, cap, "the request could not be delivered");
		return SIPREG_ERROR;
	}
	if (route_error_info(ans, &code, text, sizeof(text)) != 0) {
		snprintf(why, cap, "unexpected answer");
		return SIPREG_ERROR;
	}
	snprintf(why, cap, "%s%s%s", p2p_error_name(code) ?
	    p2p_error_name(code) : "RELOAD error", text[0] ? ": " : "", text);
	if (code == P2P_ERR_FORBIDDEN)
		return SIPREG_FORBIDDEN;
	if (code == P2P_ERR_NOT_FOUND)
		return SIPREG_NOT_FOUND;
	return SIPREG_ERROR;
}

/* Send a request for op; a failure to send finishes op with an error.
 * op->in_call is still set: an answer that comes back at once waits for
 * the next tick. */
static void
op_send(p2p_node *n, sipreg_op *op, uint16_t code, const p2p_wbuf *body,
    node_ans_cb cb)
{
	p2p_dest d;
	int rc;

	p2p_dest_resource(&d, &op->rid);
	rc = p2p_w_ok(body) ? route_request(n, &d, 1, code, body, NULL, 0,
	    NULL, cb, op) : -1;
	if (rc != 0 && !op->done)
		op_finish(n, op, SIPREG_ERROR, "the request could not be sent");
}

/* ---- storing ---- */

static void
store_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	sipreg_op *op = user;
	_Alignas(16) uint8_t mem[1024];
	p2p_arena a;
	p2p_store_ans sa;
	p2p_err e = { 0 };
	char why[160];

	(void)who;
	if (op_dropped(op, st))
		return;
	p2p_arena_init(&a, mem, sizeof(mem));
	if (st == P2P_TXN_ANSWERED && ans->code == P2P_STORE_ANS &&
	    p2p_store_ans_decode(ans->body, &a, &sa, &e) == 0) {
		op_finish(n, op, SIPREG_OK, NULL);
		return;
	}
	op_finish(n, op, failure(st, ans, why, sizeof(why)), why);
}

/* The StoreReq body of our entry under rid: the route registration, or
 * a tombstone. */
static int
store_body(p2p_node *n, const p2p_id *rid, int exists, p2p_wbuf *body)
{
	p2p_stored_data sd;
	p2p_sip_reg reg;
	p2p_dest self;
	p2p_wbuf val;
	int rc = -1;

	p2p_w_init(&val, 64);
	p2p_dest_node(&self, &n->ident.node);
	p2p_sip_reg_route(&reg, &self, 1);
	if (exists && p2p_sip_reg_encode(&val, &reg) != 0)
		goto out;
	memset(&sd, 0, sizeof(sd));
	sd.lifetime = SIPREG_LIFETIME;
	sd.value.key.p = n->ident.node.b;
	sd.value.key.len = P2P_ID_LEN;
	sd.value.data.exists = exists != 0;
	sd.value.data.value.p = val.p;
	sd.value.data.value.len = exists ? val.len : 0;
	rc = store_req_signed(n, rid, sip_kind(n), &sd, 0, body);
out:
	p2p_w_free(&val);
	return rc;
}

/* Store (exists) or delete our entry; the operation is left in s->ops. */
static sipreg_op *
store_start(p2p_node *n, const p2p_id *rid, int exists, sipreg_reg *reg,
    sipreg_done_cb cb, void *user)
{
	sipreg_op *op = op_new(n, exists ? OP_STORE : OP_DELETE, rid);
	p2p_wbuf body;

	if (op == NULL)
		return NULL;
	if (op_wait(op, cb, user) != 0) {
		op_unlink(op);
		op_free(op);
		return NULL;
	}
	op->reg = reg;
	if (reg != NULL)
		reg->inflight = op;
	p2p_w_init(&body, 512);
	if (store_body(n, rid, exists, &body) != 0) {
		op_finish(n, op, SIPREG_ERROR, "the value could not be signed");
	} else {
		op_send(n, op, P2P_STORE_REQ, &body, store_answer);
	}
	p2p_w_free(&body);
	op->in_call = 0;
	return op;
}

static sipreg_reg *
reg_find(struct sipreg_state *s, const char *aor, sipreg_reg ***at)
{
	sipreg_reg **pp;

	for (pp = &s->regs; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->aor, aor) == 0) {
			if (at != NULL)
				*at = pp;
			return *pp;
		}
	return NULL;
}

int
sipreg_publish(p2p_node *n, const char *aor, sipreg_done_cb cb, void *user)
{
	char a[P2P_SIP_AOR_MAX + 1];
	struct sipreg_state *s;
	sipreg_reg *r;

	if (aor_arg(n, aor, a, sizeof(a)) != 0)
		return -1;
	if (!sipreg_may_register(n, a)) {
		node_log(n, NLOG_WARN, "sip: %s is not this node's user (%s)",
		    a, n->ident.info.user[0] ? n->ident.info.user : "none");
		return -1;
	}
	if ((s = state(n)) == NULL)
		return -1;
	if ((r = reg_find(s, a, NULL)) != NULL && r->inflight != NULL)
		return op_wait(r->inflight, cb, user);	/* joins that store */
	if (r != NULL)
		return store_start(n, &r->rid, 1, r, cb, user) != NULL ? 0 : -1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	snprintf(r->aor, sizeof(r->aor), "%s", a);
	/* the name USER-NODE-MATCH hashes: the certificate's */
	p2p_id_from_name(&r->rid, n->ident.info.user,
	    strlen(n->ident.info.user));
	if (store_start(n, &r->rid, 1, r, cb, user) == NULL) {
		free(r);
		return -1;
	}
	r->next = s->regs;
	s->regs = r;
	node_log(n, NLOG_INFO, "sip: publishing %s", a);
	return 0;
}

int
sipreg_withdraw(p2p_node *n, const char *aor, sipreg_done_cb cb, void *user)
{
	char a[P2P_SIP_AOR_MAX + 1];
	struct sipreg_state *s;
	sipreg_reg *r, **at = NULL;
	p2p_id rid;

	if (aor_arg(n, aor, a, sizeof(a)) != 0 || !sipreg_may_register(n, a) ||
	    (s = state(n)) == NULL)
		return -1;
	p2p_id_from_name(&rid, n->ident.info.user, strlen(n->ident.info.user));
	if ((r = reg_find(s, a, &at)) != NULL) {
		*at = r->next;
		if (r->inflight != NULL)
			r->inflight->reg = NULL;
		free(r);
		node_log(n, NLOG_INFO, "sip: withdrawing %s", a);
	}
	return store_start(n, &rid, 0, NULL, cb, user) != NULL ? 0 : -1;
}

/* ---- looking up ---- */

/* One checked value as a target; 0 when it is usable. */
static int
target_of(const p2p_stored_data *sd, sipreg_target *t, const char **why)
{
	_Alignas(16) uint8_t mem[2048];
	p2p_arena a;
	p2p_sip_reg reg;
	p2p_err e = { 0 };

	memset(t, 0, sizeof(*t));
	p2p_arena_init(&a, mem, sizeof(mem));
	*why = "not a SipRegistration";
	if (sd->value.key.len != P2P_ID_LEN ||
	    p2p_sip_reg_decode(sd->value.data.value, &a, &reg, &e) != 0)
		return -1;
	memcpy(t->storer.b, sd->value.key.p, P2P_ID_LEN);
	if (reg.type == P2P_SIPREG_URI) {
		*why = "URI too long or not text";
		if (reg.uri.len == 0 || reg.uri.len >= sizeof(t->uri))
			return -1;
		for (size_t i = 0; i < reg.uri.len; i++)
			if (reg.uri.p[i] < 0x21 || reg.uri.p[i] > 0x7e)
				return -1;
		memcpy(t->uri, reg.uri.p, reg.uri.len);
		t->is_uri = 1;
		return 0;
	}
	*why = "route not made of Node-IDs, or too long";
	if (reg.type != P2P_SIPREG_ROUTE || reg.ndests == 0 ||
	    reg.ndests > sizeof(t->dest) / sizeof(t->dest[0]))
		return -1;
	for (size_t i = 0; i < reg.ndests; i++) {
		if (reg.dests[i].type != P2P_DEST_NODE)
			return -1;
		t->dest[i] = reg.dests[i].node;
	}
	t->ndest = reg.ndests;
	return 0;
}

/* A checked value of the answer: kept in op->t when usable. */
static void
collect_one(p2p_node *n, void *arg, const p2p_stored_data *sd,
    const p2p_sig_who *sw)
{
	sipreg_op *op = arg;
	const char *why;
	char hex[9];

	if (op->nt == SIPREG_MAX_TARGETS)
		return;
	if (target_of(sd, &op->t[op->nt], &why) != 0)
		node_log(n, NLOG_INFO, "sip: registration by %s skipped: %s",
		    node_id_short(&sw->node, hex), why);
	else
		op->nt++;
}

/* Check each value of the answer and keep the usable ones in op->t. */
static void
collect(p2p_node *n, sipreg_op *op, const p2p_fetch_ans *fa,
    const p2p_msg *ans)
{
	(void)store_fetched_each(n, &op->rid, sip_kind(n), fa, ans,
	    collect_one, op);
}

static void
fetch_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	sipreg_op *op = user;
	p2p_kind_lookup lk = store_kind_lookup(n);
	p2p_arena a;
	p2p_fetch_ans fa;
	p2p_err e = { 0 };
	char why[160];
	size_t cap;
	void *mem;

	(void)who;
	if (op_dropped(op, st))
		return;
	cap = st == P2P_TXN_ANSWERED ? 4 * ans->body.len + 4096 : 0;
	mem = cap > 0 ? malloc(cap) : NULL;
	p2p_arena_init(&a, mem, mem != NULL ? cap : 0);
	if (st != P2P_TXN_ANSWERED || ans->code != P2P_FETCH_ANS ||
	    p2p_fetch_ans_decode(ans->body, &a, &lk, &fa, &e) != 0) {
		free(mem);
		op_finish(n, op, failure(st, ans, why, sizeof(why)), why);
		return;
	}
	collect(n, op, &fa, ans);
	free(mem);
	op_finish(n, op, op->nt > 0 ? SIPREG_OK : SIPREG_NOT_FOUND, NULL);
}

int
sipreg_lookup(p2p_node *n, const char *aor, sipreg_lookup_cb cb, void *user)
{
	char a[P2P_SIP_AOR_MAX + 1];
	const p2p_kind_def *def;
	p2p_specifier sp;
	p2p_fetch_req fr;
	p2p_wbuf body;
	sipreg_op *op;
	p2p_id rid;

	if (aor_arg(n, aor, a, sizeof(a)) != 0)
		return -1;
	def = sip_kind(n);
	p2p_id_from_name(&rid, a, strlen(a));
	if ((op = op_new(n, OP_FETCH, &rid)) == NULL)
		return -1;
	if ((op->t = calloc(SIPREG_MAX_TARGETS, sizeof(*op->t))) == NULL) {
		op_unlink(op);
		op_free(op);
		return -1;
	}
	op->lcb = cb;
	op->luser = user;
	memset(&sp, 0, sizeof(sp));
	sp.kind = def->id;
	sp.model = def->model;	/* no keys: every entry */
	memset(&fr, 0, sizeof(fr));
	fr.resource.p = rid.b;
	fr.resource.len = P2P_ID_LEN;
	fr.specs = &sp;
	fr.nspecs = 1;
	p2p_w_init(&body, 64);
	if (p2p_fetch_req_encode(&body, &fr) != 0)
		op_finish(n, op, SIPREG_ERROR, "fetch not encodable");
	else
		op_send(n, op, P2P_FETCH_REQ, &body, fetch_answer);
	p2p_w_free(&body);
	op->in_call = 0;
	return 0;
}

/* ---- time ---- */

void
sipreg_tick(p2p_node *n, uint64_t now)
{
	struct sipreg_state *s = n->sipreg;
	sipreg_op *op;

	if (s == NULL)
		return;
	/* Callbacks may start or finish operations: look again each time. */
	for (;;) {
		for (op = s->ops; op != NULL && !op->done; op = op->next)
			;
		if (op == NULL)
			break;
		op_deliver(n, op);
	}
	for (sipreg_reg *r = s->regs; r != NULL; r = r->next)
		if (r->inflight == NULL && now >= r->next_ms)
			(void)store_start(n, &r->rid, 1, r, NULL, NULL);
}

void
sipreg_free(p2p_node *n)
{
	struct sipreg_state *s = n->sipreg;
	sipreg_op *op, *nop;
	sipreg_reg *r, *nr;

	if (s == NULL)
		return;
	for (op = s->ops; op != NULL; op = nop) {
		nop = op->next;
		op->s = NULL;
		op->reg = NULL;
		if (op->done)
			op_free(op);	/* else its transaction frees it */
	}
	for (r = s->regs; r != NULL; r = nr) {
		nr = r->next;
		free(r);
	}
	free(s);
	n->sipreg = NULL;
}

/* ---- control method ---- */

typedef struct lookup_call {
	p2p_ctl_req *req;
	char aor[P2P_SIP_AOR_MAX + 1];
} lookup_call;

static json_t *
target_json(const sipreg_target *t)
{
	char hex[P2P_ID_HEXLEN + 1];
	json_t *j = json_object(), *d;

	json_object_set_new(j, "storer", json_string(p2p_id_hex(&t->storer,
	    hex)));
	if (t->is_uri) {
		json_object_set_new(j, "type", json_string("uri"));
		json_object_set_new(j, "uri", json_string(t->uri));
		return j;
	}
	json_object_set_new(j, "type", json_string("route"));
	d = json_array();
	for (size_t i = 0; i < t->ndest; i++)
		json_array_append_new(d, json_string(p2p_id_hex(&t->dest[i],
		    hex)));
	json_object_set_new(j, "destinations", d);
	return j;
}

static void
lookup_done(p2p_node *n, void *user, enum sipreg_status st,
    const sipreg_target *t, size_t nt)
{
	lookup_call *c = user;
	char msg[P2P_SIP_AOR_MAX + 64], hex[P2P_ID_HEXLEN + 1];
	json_t *regs;
	p2p_id rid;

	(void)n;
	switch (st) {
	case SIPREG_OK:
		regs = json_array();
		for (size_t i = 0; i < nt; i++)
			json_array_append_new(regs, target_json(&t[i]));
		p2p_id_from_name(&rid, c->aor, strlen(c->aor));
		p2p_ctl_reply(c->req, json_pack("{s:s,s:s,s:o}", "aor",
		    c->aor, "resource_id", p2p_id_hex(&rid, hex),
		    "registrations", regs));
		break;
	case SIPREG_NOT_FOUND:
		snprintf(msg, sizeof(msg), "no registration of %s", c->aor);
		p2p_ctl_error(c->req, P2P_CTL_ERR_NOT_FOUND, msg, NULL);
		break;
	case SIPREG_TIMEOUT:
		p2p_ctl_error(c->req, P2P_CTL_ERR_TIMEOUT,
		    "no answer from the overlay", NULL);
		break;
	case SIPREG_FORBIDDEN:
		p2p_ctl_error(c->req, P2P_CTL_ERR_RELOAD_BASE +
		    P2P_ERR_FORBIDDEN, "Error_Forbidden", NULL);
		break;
	default:
		p2p_ctl_error(c->req, P2P_CTL_ERR_FAILED,
		    "the lookup failed", NULL);
		break;
	}
	free(c);
}

/* sip.lookup {"aor": "alice@example.org"}: the live registrations. */
static void
m_lookup(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	const char *aor = json_string_value(json_object_get(params, "aor"));
	lookup_call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	c->req = req;
	if (aor == NULL || p2p_sip_aor_norm(aor, c->aor, sizeof(c->aor)) < 0) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "aor: an address of record, user@domain", NULL);
		free(c);
		return;
	}
	if (sipreg_lookup(n, c->aor, lookup_done, c) != 0) {
		p2p_ctl_error(req, P2P_CTL_ERR_FAILED, sip_kind(n) == NULL ?
		    "this overlay has no SIP-REGISTRATION kind" :
		    "the lookup could not be started", NULL);
		free(c);
	}
}

void
sipreg_ctl_register(p2p_node *n)
{
	p2p_ctl_register(n->ctl, "sip.lookup", m_lookup, n);
}

uint64_t
sipreg_next_due(p2p_node *n, uint64_t now)
{
	struct sipreg_state *s = n->sipreg;
	uint64_t t = UINT64_MAX;

	if (s == NULL)
		return t;
	for (sipreg_op *op = s->ops; op != NULL; op = op->next)
		if (op->done)
			return now;
	for (sipreg_reg *r = s->regs; r != NULL; r = r->next)
		if (r->inflight == NULL && r->next_ms < t)
			t = r->next_ms;
	return t;
}
