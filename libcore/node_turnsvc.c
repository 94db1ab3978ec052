/*
 * node_turnsvc: the TURN-SERVICE kind (RFC 6940 s9): a peer advertises a
 * TURN server it offers, and nodes that run ICE discover such servers
 * through the overlay and give them to their ICE agents.
 *
 * Advertising (p2p-node run --turn-service ADDR:PORT, peers only): once
 * the peer is in the ring it stores, for d = 1 .. turn-density (no more
 * than the kind's max-node-multiple), a TurnServer { d, ADDR:PORT } at
 * Resource-ID p2p_id_node_multiple(own Node-ID, d) (NODE-MULTIPLE; the
 * storing peer checks that d is the iteration of that Resource-ID). Each
 * value lives TURNSVC_LIFETIME and is stored again after half of it; a
 * store that fails is retried after 5 s, doubling up to 5 minutes. A
 * turn-density of 0 advertises nothing. On a clean stop the values are
 * replaced by tombstones (exists false, same lifetime). The RFC has a
 * peer offer itself when it sees it has a public address; here the
 * operator names the server (the node's own address, or a TURN server
 * beside it such as coturn), and the node does not second-guess it.
 *
 * Discovery (no-ice false and turn-credentials in the configuration: a
 * discovered server carries only an address, and TURN needs credentials,
 * so without them there is nothing to use it with): once in the ring (a
 * client: once attached) the node picks a random Resource-ID and sends a
 * Find for TURN-SERVICE there, as s9 describes; the peer responsible
 * answers with the nearest Resource-ID it holds such a value at in
 * [target, itself], if any, and the node Fetches it. A value is kept
 * only when its signature and the access policy check out (as p2p-get
 * does) and its address is IPv4 or IPv6. An empty Find goes on at the
 * answering peer's Node-ID + 1, that is to the next peer's whole range,
 * so that a round walks the ring from a random place instead of
 * sampling it: a lone advertisement is found whatever the gaps between
 * peers, and the whole ring of a small overlay is covered in one round
 * (the walk stops when it comes back to its first peer). The first
 * round starts TURNSVC_SETTLE_MS after the node is in, when the values
 * it took over at its join have come from their former owner, and once
 * no Attach it started is under way (at most TURNSVC_SETTLE_MAX_MS
 * after it is in): the Join waited for the neighbors' Attaches, but for
 * 10 s at most, and those to fingers may still run; a Find answered
 * from a view still that partial could miss values.
 * A round sends at most TURNSVC_FIND_TRIES Finds; one that finds nothing is
 * repeated after 5 s, doubling up to 5 minutes; one that finds a server
 * is repeated every TURNSVC_REDISCOVER_MS, to learn of others and let
 * withdrawn ones go. At most P2P_ICE_MAX_TURN servers are kept, each
 * until its value's lifetime ends.
 *
 * Discovered servers come in addition to the configuration's: the ICE
 * agents a node makes (node_ice.c) get the configured TURN servers
 * first and then the discovered ones, with the turn-credentials, up to
 * P2P_ICE_MAX_TURN. The node's first link (to a bootstrap peer) is made
 * before anything can be discovered, and so are Attaches made before
 * the first round ends.
 *
 * Transactions. route_request may call back before it returns (this
 * node answers itself): a request's state is set before the call and
 * its callback owns and frees the op. turnsvc_free runs after the
 * transaction table is freed, so every op has been called back by then.
 *
 * Control method "turn" (p2p-node turn): what is advertised, what was
 * discovered, and the counters.
 */
#include "node_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "ca.h"
#include "ice.h"
#include "store.h"

#define TURNSVC_LIFETIME	3600		/* s */
#define TURNSVC_REFRESH_MS	(TURNSVC_LIFETIME * 1000ull / 2)
#define TURNSVC_RETRY_MIN_MS	5000ull
#define TURNSVC_RETRY_MAX_MS	300000ull
#define TURNSVC_FIND_TRIES	8
#define TURNSVC_SETTLE_MS	2000ull		/* first round after a join */
#define TURNSVC_SETTLE_MAX_MS	12000ull	/* ... once its links are up */
#define TURNSVC_REDISCOVER_MS	600000ull
#define TURNSVC_MAX_ADV		20		/* the kind's iteration cap */

enum op_kind { OP_STORE, OP_FIND, OP_FETCH };

typedef struct ts_op {
	enum op_kind kind;
	size_t idx;		/* OP_STORE: the advertisement */
	int withdraw;		/* OP_STORE: a tombstone */
	p2p_id rid;		/* OP_FIND, OP_FETCH: where */
} ts_op;

/* One advertised value: TurnServer { d, addr } at rid. */
typedef struct ts_adv {
	uint8_t d;
	p2p_id rid;
	int inflight;
	int stored;		/* the last store was accepted */
	uint64_t next_ms;	/* next store (node_now) */
	uint64_t retry_ms;
} ts_adv;

/* One discovered server. */
typedef struct ts_found {
	char host[48];
	uint16_t port;
	p2p_id storer;
	uint64_t until_ms;	/* node_now: its value's lifetime ends */
} ts_found;

struct turnsvc_state {
	/* advertising */
	p2p_addr_port addr;
	char addr_str[64];
	ts_adv adv[TURNSVC_MAX_ADV];
	size_t nadv;
	/* discovery */
	int discover;
	int was_in;		/* in the ring (a client: attached) at the
				 * last tick */
	int settled;		/* the first round since then has started */
	uint64_t in_since;
	int busy;		/* a round is under way */
	unsigned tries;		/* Finds left in this round */
	int walking;		/* next Find at walk_rid, not at random */
	p2p_id walk_rid;
	int have_first;		/* the round's first answering peer */
	p2p_id first;
	size_t round_found;	/* servers this round added or renewed */
	uint64_t disc_next_ms;
	uint64_t disc_retry_ms;
	ts_found found[P2P_ICE_MAX_TURN];
	size_t nfound;
	/* counters */
	uint64_t stores_ok, stores_failed, finds, fetches, refused;
};

static const p2p_kind_def *
turn_kind(const p2p_node *n)
{
	return store_kind_def(n, P2P_KIND_TURN_SERVICE);
}

/* Is the node where it can store and look up? */
static int
in_overlay(const p2p_node *n)
{
	if (n->opts.client)
		return n->join == JOIN_DONE;
	return n->join == JOIN_DONE || n->join == JOIN_ALONE;
}

static uint64_t
backoff(uint64_t *retry_ms)
{
	*retry_ms = *retry_ms == 0 ? TURNSVC_RETRY_MIN_MS : *retry_ms * 2;
	if (*retry_ms > TURNSVC_RETRY_MAX_MS)
		*retry_ms = TURNSVC_RETRY_MAX_MS;
	return *retry_ms;
}

/* "ip:port" (IPv6 in brackets) into an IpAddressPort; port not 0. */
static int
parse_addr(const char *s, p2p_addr_port *ap)
{
	char host[64];
	uint8_t b[16];
	int port;

	if (s == NULL || p2p_addr_split(s, host, sizeof(host), &port) != 0 ||
	    port == 0)
		return -1;
	if (inet_pton(AF_INET, host, b) == 1)
		p2p_addr_port_v4(ap, b, (uint16_t)port);
	else if (inet_pton(AF_INET6, host, b) == 1)
		p2p_addr_port_v6(ap, b, (uint16_t)port);
	else
		return -1;
	return 0;
}

static void
addr_text(const p2p_addr_port *ap, char *buf, size_t cap)
{
	char h[48];

	if (p2p_addr_port_host(ap, h, sizeof(h)) != 0)
		snprintf(buf, cap, "?");
	else
		snprintf(buf, cap, ap->type == P2P_ADDR_IPV6 ? "[%s]:%u" :
		    "%s:%u", h, (unsigned)ap->port);
}

/* Send a request for op toward rid, its body encoded (enc_rc 0) into
 * body, which is freed. On failure op is freed and -1 returned (no
 * callback). */
static int
op_send(p2p_node *n, ts_op *op, const p2p_id *rid, uint16_t code,
    int enc_rc, p2p_wbuf *body, node_ans_cb cb)
{
	p2p_dest d;
	int rc = -1;

	p2p_dest_resource(&d, rid);
	if (enc_rc == 0 && p2p_w_ok(body))
		rc = route_request(n, &d, 1, code, body, NULL, 0, NULL, cb, op);
	p2p_w_free(body);
	if (rc != 0)
		free(op);
	return rc;
}

/* ---- advertising ---- */

static void
adv_done(p2p_node *n, ts_adv *a, int ok, const char *why)
{
	struct turnsvc_state *s = n->turnsvc;
	char r[9];

	a->inflight = 0;
	a->stored = ok;
	if (ok) {
		s->stores_ok++;
		a->retry_ms = 0;
		a->next_ms = node_now(n) + TURNSVC_REFRESH_MS;
		node_log(n, NLOG_DEBUG, "turn: %s advertised at %s (d=%u)",
		    s->addr_str, node_id_short(&a->rid, r), (unsigned)a->d);
		return;
	}
	s->stores_failed++;
	a->next_ms = node_now(n) + backoff(&a->retry_ms);
	node_log(n, NLOG_WARN, "turn: %s not advertised at %s (%s); again "
	    "in %llu s", s->addr_str, node_id_short(&a->rid, r), why,
	    (unsigned long long)(a->retry_ms / 1000));
}

static void
store_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	ts_op *op = user;
	struct turnsvc_state *s = n->turnsvc;
	_Alignas(16) uint8_t mem[1024];
	p2p_arena a;
	p2p_store_ans sa;
	p2p_err e = { 0 };
	char why[160] = "no answer";
	uint16_t code;

	(void)who;
	if (s == NULL || st == P2P_TXN_CANCELLED || op->withdraw) {
		free(op);
		return;
	}
	p2p_arena_init(&a, mem, sizeof(mem));
	if (st == P2P_TXN_ANSWERED && ans->code == P2P_STORE_ANS &&
	    p2p_store_ans_decode(ans->body, &a, &sa, &e) == 0) {
		adv_done(n, &s->adv[op->idx], 1, NULL);
	} else {
		if (st == P2P_TXN_ANSWERED &&
		    route_error_info(ans, &code, why, sizeof(why)) != 0)
			snprintf(why, sizeof(why), "unexpected answer");
		adv_done(n, &s->adv[op->idx], 0, why);
	}
	free(op);
}

/* The StoreReq of advertisement a: the TurnServer, or a tombstone. */
static int
store_body(p2p_node *n, const p2p_kind_def *def, const ts_adv *a, int exists,
    p2p_wbuf *body)
{
	p2p_turn_server ts;
	p2p_stored_data sd;
	p2p_wbuf val;
	int rc = -1;

	p2p_w_init(&val, 32);
	ts.iteration = a->d;
	ts.addr = n->turnsvc->addr;
	if (!exists || p2p_turn_server_encode(&val, &ts) == 0) {
		memset(&sd, 0, sizeof(sd));
		sd.lifetime = TURNSVC_LIFETIME;
		sd.value.data.exists = exists != 0;
		sd.value.data.value.p = val.p;
		sd.value.data.value.len = exists ? val.len : 0;
		rc = store_req_signed(n, &a->rid, def, &sd, 0, body);
	}
	p2p_w_free(&val);
	return rc;
}

/* Store (or withdraw) advertisement i. 0 when the request went out. */
static int
adv_store(p2p_node *n, size_t i, int withdraw)
{
	struct turnsvc_state *s = n->turnsvc;
	const p2p_kind_def *def = turn_kind(n);
	ts_adv *a = &s->adv[i];
	p2p_wbuf body;
	ts_op *op;
	int rc = -1;

	if (def == NULL || (op = calloc(1, sizeof(*op))) == NULL)
		return -1;
	op->kind = OP_STORE;
	op->idx = i;
	op->withdraw = withdraw;
	p2p_w_init(&body, 512);
	if (!withdraw)
		a->inflight = 1;
	rc = op_send(n, op, &a->rid, P2P_STORE_REQ, store_body(n, def, a,
	    !withdraw, &body), &body, store_answer);
	if (rc != 0 && !withdraw)
		adv_done(n, a, 0, "the request could not be signed or sent");
	return rc;
}

/* ---- discovery ---- */

static void round_next(p2p_node *n);

static void
round_end(p2p_node *n)
{
	struct turnsvc_state *s = n->turnsvc;
	uint64_t now = node_now(n);

	s->busy = 0;
	if (s->round_found > 0) {
		s->disc_retry_ms = 0;
		s->disc_next_ms = now + TURNSVC_REDISCOVER_MS;
		return;
	}
	s->disc_next_ms = now + backoff(&s->disc_retry_ms);
	node_log(n, NLOG_INFO, "turn: no TURN server found in the overlay; "
	    "looking again in %llu s",
	    (unsigned long long)(s->disc_retry_ms / 1000));
}

/* Keep a checked TurnServer found at rid, stored by storer. */
static void
found_add(p2p_node *n, const p2p_turn_server *ts, const p2p_id *storer,
    uint32_t lifetime)
{
	struct turnsvc_state *s = n->turnsvc;
	uint64_t now = node_now(n), until = now + lifetime * 1000ull;
	ts_found *f = NULL;
	char host[48], id[9];

	if (p2p_addr_port_host(&ts->addr, host, sizeof(host)) != 0 ||
	    ts->addr.port == 0)
		return;
	for (size_t i = 0; i < s->nfound; i++)
		if (strcmp(s->found[i].host, host) == 0 &&
		    s->found[i].port == ts->addr.port)
			f = &s->found[i];
	if (f == NULL && s->nfound < P2P_ICE_MAX_TURN) {
		f = &s->found[s->nfound++];
		node_log(n, NLOG_INFO, "turn: TURN server %s%s%s:%u found, "
		    "offered by %s", ts->addr.type == P2P_ADDR_IPV6 ? "[" : "",
		    host, ts->addr.type == P2P_ADDR_IPV6 ? "]" : "",
		    (unsigned)ts->addr.port, node_id_short(storer, id));
	}
	if (f == NULL)
		return;		/* full: the ones we have will do */
	snprintf(f->host, sizeof(f->host), "%s", host);
	f->port = ts->addr.port;
	f->storer = *storer;
	f->until_ms = until;
	s->round_found++;
}

/* A checked TURN-SERVICE value: kept when it is a usable TurnServer. */
static void
collect_one(p2p_node *n, void *arg, const p2p_stored_data *sd,
    const p2p_sig_who *sw)
{
	p2p_turn_server ts;
	p2p_err e = { 0 };

	(void)arg;
	if (p2p_turn_server_decode(sd->value.data.value, &ts, &e) == 0)
		found_add(n, &ts, &sw->node, sd->lifetime);
}

static void
fetch_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	ts_op *op = user;
	struct turnsvc_state *s = n->turnsvc;
	p2p_kind_lookup lk = store_kind_lookup(n);
	p2p_arena a;
	p2p_fetch_ans fa;
	p2p_err e = { 0 };
	size_t cap;
	void *mem;

	(void)who;
	if (s == NULL || st == P2P_TXN_CANCELLED) {
		free(op);
		return;
	}
	cap = st == P2P_TXN_ANSWERED ? 4 * ans->body.len + 4096 : 0;
	mem = cap > 0 ? malloc(cap) : NULL;
	p2p_arena_init(&a, mem, mem != NULL ? cap : 0);
	if (st == P2P_TXN_ANSWERED && ans->code == P2P_FETCH_ANS &&
	    p2p_fetch_ans_decode(ans->body, &a, &lk, &fa, &e) == 0)
		s->refused += store_fetched_each(n, &op->rid, turn_kind(n),
		    &fa, ans, collect_one, NULL);
	free(mem);
	{
		char r[9];
		node_log(n, NLOG_DEBUG, "turn: Fetch at %s: %s, %zu found",
		    node_id_short(&op->rid, r), st != P2P_TXN_ANSWERED ?
		    "no answer" : ans->code == P2P_FETCH_ANS ? "answered" :
		    "error answer", s->round_found);
	}
	free(op);
	if (s->round_found > 0)
		round_end(n);
	else
		round_next(n);
}

static void
fetch_start(p2p_node *n, const p2p_id *rid)
{
	const p2p_kind_def *def = turn_kind(n);
	p2p_specifier sp;
	p2p_fetch_req fr;
	p2p_wbuf body;
	ts_op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		round_next(n);
		return;
	}
	op->kind = OP_FETCH;
	op->rid = *rid;
	memset(&sp, 0, sizeof(sp));
	sp.kind = def->id;
	sp.model = def->model;
	memset(&fr, 0, sizeof(fr));
	fr.resource.p = rid->b;
	fr.resource.len = P2P_ID_LEN;
	fr.specs = &sp;
	fr.nspecs = 1;
	p2p_w_init(&body, 64);
	n->turnsvc->fetches++;
	if (op_send(n, op, rid, P2P_FETCH_REQ, p2p_fetch_req_encode(&body,
	    &fr), &body, fetch_answer) != 0)
		round_next(n);
}

/* An empty Find answered by peer: the next one goes to the peer after
 * it. -1 when peer is the round's first one again: the walk has covered
 * the whole ring. */
static int
walk_on(p2p_node *n, const p2p_id *peer)
{
	struct turnsvc_state *s = n->turnsvc;

	if (s->have_first && p2p_id_eq(peer, &s->first))
		return -1;
	if (!s->have_first) {
		s->first = *peer;
		s->have_first = 1;
	}
	p2p_id_add_u64(&s->walk_rid, peer, 1);
	s->walking = 1;
	return 0;
}

static void
find_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	ts_op *op = user;
	struct turnsvc_state *s = n->turnsvc;
	_Alignas(16) uint8_t mem[2048];
	p2p_arena a;
	p2p_find_ans fa;
	p2p_err e = { 0 };
	p2p_id rid = op->rid;
	char r[9], w[9];

	free(op);
	if (s == NULL || st == P2P_TXN_CANCELLED)
		return;
	node_log(n, NLOG_DEBUG, "turn: Find at %s: %s%s", node_id_short(&rid,
	    r), st != P2P_TXN_ANSWERED ? "no answer" : ans->code !=
	    P2P_FIND_ANS ? "error answer" : "answered by ", st ==
	    P2P_TXN_ANSWERED && ans->code == P2P_FIND_ANS && who != NULL ?
	    node_id_short(&who->node, w) : "");
	p2p_arena_init(&a, mem, sizeof(mem));
	if (st == P2P_TXN_ANSWERED && ans->code == P2P_FIND_ANS &&
	    p2p_find_ans_decode(ans->body, &a, &fa, &e) == 0) {
		for (size_t i = 0; i < fa.nresults; i++) {
			const p2p_find_kind *fk = &fa.results[i];

			if (fk->kind != P2P_KIND_TURN_SERVICE ||
			    p2p_find_kind_is_none(fk) ||
			    fk->closest.len != P2P_ID_LEN)
				continue;
			memcpy(rid.b, fk->closest.p, P2P_ID_LEN);
			/* (should the value be gone, the walk goes on
			 * after it) */
			p2p_id_add_u64(&s->walk_rid, &rid, 1);
			s->walking = 1;
			fetch_start(n, &rid);
			return;
		}
		if (who != NULL && walk_on(n, &who->node) != 0) {
			round_end(n);	/* the walk went round the ring */
			return;
		}
	} else
		s->walking = 0;	/* no answer: a fresh random place */
	round_next(n);
}

/* The next Find of the round, or its end. */
static void
round_next(p2p_node *n)
{
	struct turnsvc_state *s = n->turnsvc;
	uint32_t kind = P2P_KIND_TURN_SERVICE;
	p2p_find_req fr;
	p2p_wbuf body;
	p2p_id rid;
	ts_op *op;

	while (s->tries > 0 && !n->stopping) {
		s->tries--;
		if (s->walking)
			rid = s->walk_rid;
		else if (RAND_bytes(rid.b, P2P_ID_LEN) != 1)
			break;
		if ((op = calloc(1, sizeof(*op))) == NULL)
			break;
		op->kind = OP_FIND;
		op->rid = rid;
		memset(&fr, 0, sizeof(fr));
		fr.resource.p = rid.b;
		fr.resource.len = P2P_ID_LEN;
		fr.kinds = &kind;
		fr.nkinds = 1;
		p2p_w_init(&body, 64);
		s->finds++;
		if (op_send(n, op, &rid, P2P_FIND_REQ, p2p_find_req_encode(
		    &body, &fr), &body, find_answer) == 0)
			return;		/* its answer goes on */
		s->walking = 0;	/* no way there: a fresh random place */
	}
	round_end(n);
}

static void
round_start(p2p_node *n)
{
	struct turnsvc_state *s = n->turnsvc;

	s->busy = 1;
	s->tries = TURNSVC_FIND_TRIES;
	s->round_found = 0;
	s->walking = 0;
	s->have_first = 0;
	round_next(n);
}

/* ---- life ---- */

int
turnsvc_start(p2p_node *n, char *err, size_t errlen)
{
	const p2p_kind_def *def = turn_kind(n);
	struct turnsvc_state *s;
	unsigned dens;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n->turnsvc = s;
	if (n->opts.turn_service != NULL) {
		if (n->opts.client) {
			snprintf(err, errlen, "--turn-service: a client "
			    "does not advertise services; run it as a peer");
			return -1;
		}
		if (parse_addr(n->opts.turn_service, &s->addr) != 0) {
			snprintf(err, errlen, "--turn-service %.80s: an IPv4 "
			    "or [IPv6] address and a port", n->opts.turn_service);
			return -1;
		}
		if (def == NULL) {
			snprintf(err, errlen, "--turn-service: this overlay "
			    "has no TURN-SERVICE kind");
			return -1;
		}
		addr_text(&s->addr, s->addr_str, sizeof(s->addr_str));
		dens = n->cfg.turn_density;
		if (dens > def->max_node_multiple)
			dens = def->max_node_multiple;
		if (dens > TURNSVC_MAX_ADV)
			dens = TURNSVC_MAX_ADV;
		for (unsigned d = 1; d <= dens; d++) {
			ts_adv *a = &s->adv[s->nadv++];
			a->d = (uint8_t)d;
			p2p_id_node_multiple(&a->rid, &n->ident.node, d);
		}
		node_log(n, NLOG_INFO, "turn: advertising TURN server %s at "
		    "%zu Resource-IDs", s->addr_str, s->nadv);
	}
	s->discover = !n->cfg.no_ice && def != NULL &&
	    n->cfg.turn_username != NULL && n->cfg.turn_password != NULL;
	return 0;
}

void
turnsvc_tick(p2p_node *n, uint64_t now)
{
	struct turnsvc_state *s = n->turnsvc;

	if (s == NULL)
		return;
	if (!in_overlay(n)) {
		s->was_in = s->settled = 0;
		return;
	}
	if (!s->was_in) {
		/* Just in: the values this node now owns are on their way
		 * from their former owner. */
		s->was_in = 1;
		s->in_since = now;
		if (s->disc_next_ms < now + TURNSVC_SETTLE_MS)
			s->disc_next_ms = now + TURNSVC_SETTLE_MS;
	}
	if (s->discover && !s->busy && !s->settled &&
	    now >= s->disc_next_ms && n->nattach > 0 &&
	    now < s->in_since + TURNSVC_SETTLE_MAX_MS) {
		/* Attaches are under way (with ICE they take a while):
		 * until they are up its view of who owns what may still
		 * lack peers. */
		s->disc_next_ms = now + 250;
		return;
	}
	for (size_t i = 0; i < s->nadv; i++)
		if (!s->adv[i].inflight && now >= s->adv[i].next_ms)
			(void)adv_store(n, i, 0);
	if (s->discover && !s->busy && now >= s->disc_next_ms) {
		s->settled = 1;
		round_start(n);
	}
}

uint64_t
turnsvc_next_due(p2p_node *n)
{
	struct turnsvc_state *s = n->turnsvc;
	uint64_t t = UINT64_MAX;

	if (s == NULL || !in_overlay(n))
		return t;
	if (!s->was_in)
		return 0;	/* turnsvc_tick notes the join */
	for (size_t i = 0; i < s->nadv; i++)
		if (!s->adv[i].inflight && s->adv[i].next_ms < t)
			t = s->adv[i].next_ms;
	if (s->discover && !s->busy && s->disc_next_ms < t)
		t = s->disc_next_ms;
	return t;
}

int
turnsvc_stop(p2p_node *n)
{
	struct turnsvc_state *s = n->turnsvc;
	int sent = 0;

	if (s == NULL)
		return 0;
	s->tries = 0;		/* a discovery round under way ends */
	if (!in_overlay(n))
		return 0;
	for (size_t i = 0; i < s->nadv; i++)
		if ((s->adv[i].stored || s->adv[i].inflight) &&
		    adv_store(n, i, 1) == 0)
			sent++;
	if (sent > 0)
		node_log(n, NLOG_INFO, "turn: withdrawing %s from %d "
		    "Resource-IDs", s->addr_str, sent);
	return sent;
}

void
turnsvc_free(p2p_node *n)
{
	free(n->turnsvc);
	n->turnsvc = NULL;
}

size_t
turnsvc_ice_servers(p2p_node *n, p2p_ice_server *out, size_t cap)
{
	struct turnsvc_state *s = n->turnsvc;
	uint64_t now = node_now(n);
	size_t k = 0;

	if (s == NULL || !s->discover)
		return 0;
	for (size_t i = 0; i < s->nfound && k < cap; i++) {
		if (now >= s->found[i].until_ms)
			continue;
		memset(&out[k], 0, sizeof(out[k]));
		snprintf(out[k].host, sizeof(out[k].host), "%s",
		    s->found[i].host);
		out[k].port = s->found[i].port;
		snprintf(out[k].user, sizeof(out[k].user), "%s",
		    n->cfg.turn_username);
		snprintf(out[k].pass, sizeof(out[k].pass), "%s",
		    n->cfg.turn_password);
		k++;
	}
	return k;
}

/* ---- control method ---- */

/* turn: {"advertising": ..., "advertised": [{iteration, resource_id,
 * stored}], "discovery": bool, "discovered": [{address, port, offered_by,
 * expires_in}], counters}. */
static void
m_turn(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	struct turnsvc_state *s = n->turnsvc;
	uint64_t now = node_now(n);
	char hex[P2P_ID_HEXLEN + 1];
	json_t *adv = json_array(), *found = json_array();

	(void)params;
	for (size_t i = 0; i < s->nadv; i++)
		json_array_append_new(adv, json_pack("{s:i,s:s,s:b}",
		    "iteration", (int)s->adv[i].d, "resource_id",
		    p2p_id_hex(&s->adv[i].rid, hex), "stored",
		    s->adv[i].stored));
	for (size_t i = 0; i < s->nfound; i++) {
		if (now >= s->found[i].until_ms)
			continue;
		json_array_append_new(found, json_pack("{s:s,s:i,s:s,s:I}",
		    "address", s->found[i].host, "port",
		    (int)s->found[i].port, "offered_by",
		    p2p_id_hex(&s->found[i].storer, hex), "expires_in",
		    (json_int_t)((s->found[i].until_ms - now) / 1000)));
	}
	p2p_ctl_reply(req, json_pack("{s:o,s:o,s:b,s:o,s:I,s:I,s:I,s:I,s:I}",
	    "turn_service", n->opts.turn_service != NULL ?
	    json_string(s->addr_str) : json_null(), "advertised", adv,
	    "discovery", s->discover, "discovered", found,
	    "stores_ok", (json_int_t)s->stores_ok,
	    "stores_failed", (json_int_t)s->stores_failed,
	    "finds", (json_int_t)s->finds,
	    "fetches", (json_int_t)s->fetches,
	    "refused", (json_int_t)s->refused));
}

void
turnsvc_ctl_register(p2p_node *n)
{
	p2p_ctl_register(n->ctl, "turn", m_turn, n);
}
