/*
 * chord: CHORD-RELOAD neighbor lists, finger table, routing decisions and
 * stabilization bookkeeping (RFC 6940 section 10). See chord.h.
 */
#include "chord.h"

#include <string.h>

/* A copy of the tables, to tell what an event changed. */
struct snap {
	size_t nsucc, npred;
	p2p_id succ[P2P_CHORD_MAX_NEIGHBORS];
	p2p_id pred[P2P_CHORD_MAX_NEIGHBORS];
	uint8_t fvalid[P2P_CHORD_FINGERS];
	p2p_id finger[P2P_CHORD_FINGERS];
};

/* Candidate tables built while reading an Update. */
struct scratch {
	size_t nsucc, npred;
	p2p_id succ[P2P_CHORD_MAX_NEIGHBORS];
	p2p_id pred[P2P_CHORD_MAX_NEIGHBORS];
	uint8_t fvalid[P2P_CHORD_FINGERS];
	p2p_id finger[P2P_CHORD_FINGERS];
};

void
p2p_chord_config_default(p2p_chord_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nsucc = P2P_CHORD_DEFAULT_NEIGHBORS;
	cfg->npred = P2P_CHORD_DEFAULT_NEIGHBORS;
	cfg->update_interval_ms = P2P_CHORD_DEFAULT_UPDATE_MS;
	cfg->ping_interval_ms = P2P_CHORD_DEFAULT_PING_MS;
	cfg->hold_down_ms = P2P_CHORD_DEFAULT_HOLD_DOWN_MS;
}

/* ---- small helpers ---- */

static int
id_usable(const p2p_chord *c, const p2p_id *id)
{
	return !p2p_id_is_zero(id) && !p2p_id_is_wildcard(id) &&
	    !p2p_id_eq(id, &c->self);
}

/* splitmix64: the generator used when the caller supplies none. */
static uint32_t
rand32(p2p_chord *c)
{
	uint64_t z;

	if (c->cfg.rand != NULL)
		return c->cfg.rand(c->cfg.rand_arg);
	c->rng += 0x9e3779b97f4a7c15ull;
	z = c->rng;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* interval scaled by a random factor in [0.75, 1.25). */
static uint64_t
jittered(p2p_chord *c, uint64_t interval)
{
	double f = 0.75 + 0.5 * ((double)rand32(c) / 4294967296.0);

	return (uint64_t)((double)interval * f);
}

/* Position of the highest set bit (0..127), or -1 for zero. */
static int
top_bit(const p2p_id *d)
{
	for (int i = 0; i < P2P_ID_LEN; i++) {
		if (d->b[i] == 0)
			continue;
		for (int bit = 7; bit >= 0; bit--)
			if (d->b[i] & (1u << bit))
				return 8 * (P2P_ID_LEN - 1 - i) + bit;
	}
	return -1;
}

/* Clockwise distance from self to id (cw) or from id to self (!cw). */
static void
ring_dist(p2p_id *out, const p2p_id *self, const p2p_id *id, int cw)
{
	if (cw)
		p2p_id_distance(out, self, id);
	else
		p2p_id_distance(out, id, self);
}

static int
list_has(const p2p_id *list, size_t n, const p2p_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (p2p_id_eq(&list[i], id))
			return 1;
	return 0;
}

/*
 * Insert id into a list ordered by distance from self (clockwise for
 * successors, counter-clockwise for predecessors), keeping at most max.
 * Returns 1 if the list changed.
 */
static int
list_insert(p2p_id *list, size_t *n, size_t max, const p2p_id *self,
    const p2p_id *id, int cw)
{
	p2p_id d, di;
	size_t pos;

	if (list_has(list, *n, id))
		return 0;
	ring_dist(&d, self, id, cw);
	for (pos = 0; pos < *n; pos++) {
		ring_dist(&di, self, &list[pos], cw);
		if (p2p_id_cmp(&d, &di) < 0)
			break;
	}
	if (pos >= max)
		return 0;
	if (*n == max)
		(*n)--;
	memmove(&list[pos + 1], &list[pos], (*n - pos) * sizeof(*list));
	list[pos] = *id;
	(*n)++;
	return 1;
}

/* Slot index (1..128) of a peer at clockwise distance d (d != 0). */
static unsigned
slot_of_dist(const p2p_id *d)
{
	return (unsigned)(P2P_CHORD_FINGERS - top_bit(d));
}

/* Offer id for its finger slot: it wins if the slot is empty or id is
 * nearer the slot's target than the current entry. Returns 1 if set. */
static int
finger_offer(uint8_t *fvalid, p2p_id *finger, const p2p_id *self,
    const p2p_id *id)
{
	p2p_id d, dcur;
	unsigned i;

	p2p_id_distance(&d, self, id);
	i = slot_of_dist(&d) - 1;
	if (fvalid[i]) {
		if (p2p_id_eq(&finger[i], id))
			return 0;
		p2p_id_distance(&dcur, self, &finger[i]);
		if (p2p_id_cmp(&d, &dcur) >= 0)
			return 0;
	}
	fvalid[i] = 1;
	finger[i] = *id;
	return 1;
}

static void
snap_take(const p2p_chord *c, struct snap *s)
{
	s->nsucc = c->nsucc;
	s->npred = c->npred;
	memcpy(s->succ, c->succ, sizeof(s->succ));
	memcpy(s->pred, c->pred, sizeof(s->pred));
	memcpy(s->fvalid, c->fvalid, sizeof(s->fvalid));
	memcpy(s->finger, c->finger, sizeof(s->finger));
}

static int
lists_equal(const p2p_id *a, size_t na, const p2p_id *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

static int
fingers_equal(const p2p_chord *c, const struct snap *s)
{
	for (int i = 0; i < P2P_CHORD_FINGERS; i++) {
		if (c->fvalid[i] != s->fvalid[i])
			return 0;
		if (c->fvalid[i] && !p2p_id_eq(&c->finger[i], &s->finger[i]))
			return 0;
	}
	return 1;
}

/* Flags describing the difference between s and the current tables. */
static int
snap_diff(const p2p_chord *c, const struct snap *s)
{
	int f = 0;
	size_t r0 = s->nsucc < P2P_CHORD_REPLICAS ? s->nsucc :
	    P2P_CHORD_REPLICAS;
	size_t r1 = c->nsucc < P2P_CHORD_REPLICAS ? c->nsucc :
	    P2P_CHORD_REPLICAS;

	if (!lists_equal(c->succ, c->nsucc, s->succ, s->nsucc) ||
	    !lists_equal(c->pred, c->npred, s->pred, s->npred))
		f |= P2P_CHORD_NEIGHBORS_CHANGED;
	if (!lists_equal(c->pred, c->npred ? 1 : 0, s->pred,
	    s->npred ? 1 : 0))
		f |= P2P_CHORD_RANGE_CHANGED;
	if (!lists_equal(c->succ, r1, s->succ, r0))
		f |= P2P_CHORD_REPLICAS_CHANGED;
	if (!fingers_equal(c, s))
		f |= P2P_CHORD_FINGERS_CHANGED;
	return f;
}

/* Enter a usable peer in every table it qualifies for. */
static void
enter_peer(p2p_chord *c, const p2p_id *id)
{
	list_insert(c->succ, &c->nsucc, c->cfg.nsucc, &c->self, id, 1);
	list_insert(c->pred, &c->npred, c->cfg.npred, &c->self, id, 0);
	finger_offer(c->fvalid, c->finger, &c->self, id);
}

/* ---- setup ---- */

static int
config_check(const p2p_chord_config *cfg, p2p_err *err)
{
	if (cfg->nsucc < 1 || cfg->nsucc > P2P_CHORD_MAX_NEIGHBORS) {
		p2p_err_set(err, 0, "chord: successor list size out of range", 0);
		return -1;
	}
	if (cfg->npred < 1 || cfg->npred > P2P_CHORD_MAX_NEIGHBORS) {
		p2p_err_set(err, 0, "chord: predecessor list size out of range",
		    0);
		return -1;
	}
	if (cfg->update_interval_ms == 0 || cfg->ping_interval_ms == 0) {
		p2p_err_set(err, 0, "chord: update and ping intervals must be "
		    "positive", 0);
		return -1;
	}
	return 0;
}

int
p2p_chord_init(p2p_chord *c, const p2p_id *self, const p2p_chord_config *cfg,
    uint64_t now_ms, p2p_err *err)
{
	p2p_chord_config def;

	if (cfg == NULL) {
		p2p_chord_config_default(&def);
		cfg = &def;
	}
	if (config_check(cfg, err) == -1)
		return -1;
	if (p2p_id_is_zero(self) || p2p_id_is_wildcard(self)) {
		p2p_err_set(err, 0, "chord: own Node-ID is zero or the wildcard",
		    0);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->self = *self;
	c->cfg = *cfg;
	for (int i = 0; i < 8; i++)
		c->rng = c->rng << 8 | self->b[i];
	c->rng ^= (uint64_t)self->b[15] << 56 ^ now_ms;
	c->start_ms = now_ms;
	c->next_update_ms = now_ms + jittered(c, cfg->update_interval_ms);
	c->next_ping_ms = now_ms + cfg->ping_interval_ms;
	c->hold_until_ms = now_ms;
	return 0;
}

/* ---- queries ---- */

int
p2p_chord_knows(const p2p_chord *c, const p2p_id *id)
{
	p2p_id d;
	unsigned i;

	if (list_has(c->succ, c->nsucc, id) || list_has(c->pred, c->npred, id))
		return 1;
	if (p2p_id_eq(id, &c->self))
		return 0;
	/* A finger sits in the slot its distance gives (finger_offer). */
	p2p_id_distance(&d, &c->self, id);
	i = slot_of_dist(&d) - 1;
	return c->fvalid[i] && p2p_id_eq(&c->finger[i], id);
}

int
p2p_chord_is_responsible(const p2p_chord *c, const p2p_id *k)
{
	if (c->npred == 0)
		return 1;
	return p2p_id_in_oc(k, &c->pred[0], &c->self);
}

/* Append id to out (capacity max) unless already there. */
static void
route_add(p2p_id *out, size_t *n, size_t max, const p2p_id *id)
{
	if (*n < max && !list_has(out, *n, id))
		out[(*n)++] = *id;
}

/* Distinct routing-table ids, unordered. */
static size_t
routes_collect(const p2p_chord *c, p2p_id *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nsucc; i++)
		route_add(out, &n, max, &c->succ[i]);
	for (size_t i = 0; i < c->npred; i++)
		route_add(out, &n, max, &c->pred[i]);
	for (int i = 0; i < P2P_CHORD_FINGERS; i++)
		if (c->fvalid[i])
			route_add(out, &n, max, &c->finger[i]);
	return n;
}

/* The routing entry nearest after k clockwise (k itself counts if
 * with_k). Returns 0 if the table is empty. */
static int
first_after(const p2p_id *rt, size_t n, const p2p_id *k, int with_k,
    p2p_id *out)
{
	p2p_id d, best;
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		p2p_id_distance(&d, k, &rt[i]);
		if (!with_k && p2p_id_is_zero(&d))
			continue;
		if (!found || p2p_id_cmp(&d, &best) < 0) {
			best = d;
			*out = rt[i];
			found = 1;
		}
	}
	return found;
}

/* The entry of rt in (self, k] nearest to k. Returns 0 if none. */
static int
nearest_before(const p2p_chord *c, const p2p_id *rt, size_t n,
    const p2p_id *k, p2p_id *out)
{
	p2p_id d, best;
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		if (!p2p_id_in_oc(&rt[i], &c->self, k))
			continue;
		/* nearest to k = farthest from self */
		p2p_id_distance(&d, &rt[i], k);
		if (!found || p2p_id_cmp(&d, &best) < 0) {
			best = d;
			*out = rt[i];
			found = 1;
		}
	}
	return found;
}

int
p2p_chord_next_hop(const p2p_chord *c, const p2p_id *k, p2p_id *next)
{
	p2p_id rt[P2P_CHORD_MAX_ROUTES];
	size_t n;

	if (p2p_chord_is_responsible(c, k))
		return P2P_CHORD_LOCAL;
	n = routes_collect(c, rt, P2P_CHORD_MAX_ROUTES);
	if (nearest_before(c, rt, n, k, next))
		return P2P_CHORD_FORWARD;
	/* Not responsible implies a non-empty table. */
	first_after(rt, n, k, 0, next);
	return P2P_CHORD_FORWARD;
}

int
p2p_chord_next_hop_among(const p2p_chord *c, const p2p_id *k,
    int (*usable)(void *arg, const p2p_id *peer), void *arg, p2p_id *next)
{
	p2p_id rt[P2P_CHORD_MAX_ROUTES], ok[P2P_CHORD_MAX_ROUTES];
	size_t n, nok = 0;

	if (p2p_chord_is_responsible(c, k))
		return P2P_CHORD_LOCAL;
	n = routes_collect(c, rt, P2P_CHORD_MAX_ROUTES);
	for (size_t i = 0; i < n; i++)
		if (usable(arg, &rt[i]))
			ok[nok++] = rt[i];
	if (nearest_before(c, ok, nok, k, next) ||
	    first_after(ok, nok, k, 0, next))
		return P2P_CHORD_FORWARD;
	return P2P_CHORD_NO_HOP;
}

int
p2p_chord_owner(const p2p_chord *c, const p2p_id *k, p2p_id *owner)
{
	p2p_id rt[P2P_CHORD_MAX_ROUTES];
	size_t n;

	if (p2p_chord_is_responsible(c, k)) {
		*owner = c->self;
		return 1;
	}
	if (p2p_id_in_oc(k, &c->self, &c->succ[0])) {
		*owner = c->succ[0];
		return 1;
	}
	n = routes_collect(c, rt, P2P_CHORD_MAX_ROUTES);
	first_after(rt, n, k, 1, owner);
	return 0;
}

size_t
p2p_chord_replicas(const p2p_chord *c, p2p_id out[P2P_CHORD_REPLICAS])
{
	size_t n = c->nsucc < P2P_CHORD_REPLICAS ? c->nsucc :
	    P2P_CHORD_REPLICAS;

	memcpy(out, c->succ, n * sizeof(*out));
	return n;
}

int
p2p_chord_stores(const p2p_chord *c, const p2p_id *k)
{
	if (p2p_chord_is_responsible(c, k))
		return 2;
	/* With fewer than three known predecessors the ring is too small
	 * (or still forming) to tell: keep everything. */
	if (c->npred < P2P_CHORD_REPLICAS + 1)
		return 1;
	return p2p_id_in_oc(k, &c->pred[P2P_CHORD_REPLICAS], &c->pred[0]);
}

/* ---- accessors ---- */

size_t
p2p_chord_successors(const p2p_chord *c, const p2p_id **out)
{
	*out = c->succ;
	return c->nsucc;
}

size_t
p2p_chord_predecessors(const p2p_chord *c, const p2p_id **out)
{
	*out = c->pred;
	return c->npred;
}

int
p2p_chord_finger(const p2p_chord *c, unsigned i, p2p_id *target,
    p2p_id *entry)
{
	if (i < 1 || i > P2P_CHORD_FINGERS)
		return -1;
	if (target != NULL)
		p2p_id_add_pow2(target, &c->self, P2P_CHORD_FINGERS - i);
	if (!c->fvalid[i - 1])
		return 0;
	if (entry != NULL)
		*entry = c->finger[i - 1];
	return 1;
}

unsigned
p2p_chord_finger_slot(const p2p_chord *c, const p2p_id *id)
{
	p2p_id d;

	p2p_id_distance(&d, &c->self, id);
	if (p2p_id_is_zero(&d))
		return 0;
	return slot_of_dist(&d);
}

unsigned
p2p_chord_finger_size(const p2p_chord *c)
{
	unsigned s;

	if (c->nsucc == 0)
		return P2P_CHORD_MIN_FINGERS;
	s = p2p_chord_finger_slot(c, &c->succ[c->nsucc - 1]);
	return s > P2P_CHORD_MIN_FINGERS ? s : P2P_CHORD_MIN_FINGERS;
}

size_t
p2p_chord_fingers_invalid(const p2p_chord *c, unsigned *slots, size_t max)
{
	unsigned size = p2p_chord_finger_size(c);
	size_t n = 0;

	for (unsigned i = 1; i <= size; i++) {
		if (c->fvalid[i - 1])
			continue;
		if (n < max)
			slots[n] = i;
		n++;
	}
	return n;
}

size_t
p2p_chord_routes(const p2p_chord *c, p2p_id *out, size_t max)
{
	p2p_id rt[P2P_CHORD_MAX_ROUTES];
	size_t n = routes_collect(c, rt, P2P_CHORD_MAX_ROUTES), m = 0;

	/* all ids are distinct, so clockwise insertion sorts them */
	for (size_t i = 0; i < n; i++)
		list_insert(out, &m, max, &c->self, &rt[i], 1);
	return m;
}

uint32_t
p2p_chord_uptime(const p2p_chord *c, uint64_t now_ms)
{
	uint64_t s;

	if (now_ms <= c->start_ms)
		return 0;
	s = (now_ms - c->start_ms) / 1000;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* ---- events ---- */

int
p2p_chord_add_peer(p2p_chord *c, const p2p_id *id, uint64_t now_ms,
    p2p_err *err)
{
	struct snap s;
	int f;

	if (!id_usable(c, id)) {
		p2p_err_set(err, 0, "chord: refusing own, zero or wildcard "
		    "Node-ID as a peer", 0);
		return -1;
	}
	snap_take(c, &s);
	enter_peer(c, id);
	f = snap_diff(c, &s);
	if (p2p_chord_knows(c, id))
		f |= P2P_CHORD_KEPT;
	return f;
}

int
p2p_chord_remove_peer(p2p_chord *c, const p2p_id *id, uint64_t now_ms)
{
	p2p_id rt[P2P_CHORD_MAX_ROUTES];
	struct snap s;
	size_t n;
	int f;

	if (!p2p_chord_knows(c, id))
		return 0;
	snap_take(c, &s);
	n = routes_collect(c, rt, P2P_CHORD_MAX_ROUTES);
	c->nsucc = c->npred = 0;
	memset(c->fvalid, 0, sizeof(c->fvalid));
	/* Refill from the rest of the routing table (s10.7.1, s10.7.2). */
	for (size_t i = 0; i < n; i++)
		if (!p2p_id_eq(&rt[i], id))
			enter_peer(c, &rt[i]);
	f = snap_diff(c, &s);
	if (f & P2P_CHORD_REPLICAS_CHANGED)
		c->hold_until_ms = now_ms + c->cfg.hold_down_ms;
	if (c->nsucc == 0)
		f |= P2P_CHORD_ALONE;
	return f;
}

static int
lists_check(const p2p_chord_lists *u, p2p_err *err)
{
	if (u->npred > P2P_CHORD_UPDATE_MAX_NEIGHBORS ||
	    u->nsucc > P2P_CHORD_UPDATE_MAX_NEIGHBORS) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "chord: too many neighbors in Update or Leave", 0);
		return -1;
	}
	if (u->nfinger > P2P_CHORD_UPDATE_MAX_FINGERS) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "chord: too many fingers in Update", 0);
		return -1;
	}
	if ((u->npred > 0 && u->pred == NULL) ||
	    (u->nsucc > 0 && u->succ == NULL) ||
	    (u->nfinger > 0 && u->finger == NULL)) {
		p2p_err_set(err, 0, "chord: id list missing", 0);
		return -1;
	}
	return 0;
}

static void
scratch_offer(const p2p_chord *c, struct scratch *s, const p2p_id *id)
{
	p2p_id d;

	if (!id_usable(c, id) || p2p_chord_knows(c, id))
		return;
	list_insert(s->succ, &s->nsucc, c->cfg.nsucc, &c->self, id, 1);
	list_insert(s->pred, &s->npred, c->cfg.npred, &c->self, id, 0);
	/* Only slots that are empty in the real table are to be filled. */
	p2p_id_distance(&d, &c->self, id);
	if (!c->fvalid[slot_of_dist(&d) - 1])
		finger_offer(s->fvalid, s->finger, &c->self, id);
}

static void
scratch_offer_all(const p2p_chord *c, struct scratch *s, const p2p_id *ids,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		scratch_offer(c, s, &ids[i]);
}

/*
 * Compare the ids an Update or Leave names with the tables: those that
 * would enter a neighbor list are to be Attached to, those that would
 * fill an empty finger slot are reported as finger candidates.
 */
static void
candidates(const p2p_chord *c, const p2p_chord_lists *u, int with_fingers,
    p2p_chord_result *res)
{
	struct scratch s;

	s.nsucc = c->nsucc;
	s.npred = c->npred;
	memcpy(s.succ, c->succ, sizeof(s.succ));
	memcpy(s.pred, c->pred, sizeof(s.pred));
	memset(s.fvalid, 0, sizeof(s.fvalid));
	scratch_offer_all(c, &s, u->pred, u->npred);
	scratch_offer_all(c, &s, u->succ, u->nsucc);
	if (with_fingers)
		scratch_offer_all(c, &s, u->finger, u->nfinger);

	res->nattach = 0;
	for (size_t i = 0; i < s.nsucc; i++)
		if (!p2p_chord_knows(c, &s.succ[i]))
			route_add(res->attach, &res->nattach,
			    2 * P2P_CHORD_MAX_NEIGHBORS, &s.succ[i]);
	for (size_t i = 0; i < s.npred; i++)
		if (!p2p_chord_knows(c, &s.pred[i]))
			route_add(res->attach, &res->nattach,
			    2 * P2P_CHORD_MAX_NEIGHBORS, &s.pred[i]);
	res->nfinger = 0;
	for (int i = 0; i < P2P_CHORD_FINGERS; i++)
		if (s.fvalid[i] &&
		    !list_has(res->attach, res->nattach, &s.finger[i]))
			res->finger[res->nfinger++] = s.finger[i];
}

/* Is one of our list entries strictly between a and b and missing from
 * the sender's list? */
static int
missing_between(const p2p_id *list, size_t n, const p2p_id *a,
    const p2p_id *b, const p2p_id *theirs, size_t ntheirs)
{
	for (size_t i = 0; i < n; i++)
		if (p2p_id_in_oo(&list[i], a, b) &&
		    !list_has(theirs, ntheirs, &list[i]))
			return 1;
	return 0;
}

/* The sender counts us among its successors (predecessors) but we know a
 * peer between it and us that its list lacks: its view is stale. */
static int
sender_is_stale(const p2p_chord *c, const p2p_id *from,
    const p2p_chord_lists *u)
{
	if (list_has(u->succ, u->nsucc, &c->self) &&
	    missing_between(c->pred, c->npred, from, &c->self, u->succ,
	    u->nsucc))
		return 1;
	if (list_has(u->pred, u->npred, &c->self) &&
	    missing_between(c->succ, c->nsucc, &c->self, from, u->pred,
	    u->npred))
		return 1;
	return 0;
}

int
p2p_chord_apply_update(p2p_chord *c, const p2p_id *from,
    const p2p_chord_lists *u, uint64_t now_ms, p2p_chord_result *res,
    p2p_err *err)
{
	int f;

	memset(res, 0, sizeof(*res));
	if (!id_usable(c, from)) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "chord: Update from own, zero or wildcard Node-ID", 0);
		return -1;
	}
	if (u->type < P2P_UPDATE_PEER_READY || u->type > P2P_UPDATE_FULL) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "chord: unknown ChordUpdateType", 0);
		return -1;
	}
	if (lists_check(u, err) == -1)
		return -1;
	f = p2p_chord_add_peer(c, from, now_ms, err);
	if (f == -1)
		return -1;
	res->flags = (unsigned)f;
	if (u->type == P2P_UPDATE_PEER_READY)
		return 0;
	candidates(c, u, u->type == P2P_UPDATE_FULL, res);
	if (sender_is_stale(c, from, u))
		res->flags |= P2P_CHORD_REPLY_UPDATE;
	return 0;
}

int
p2p_chord_apply_leave(p2p_chord *c, const p2p_id *from,
    const p2p_chord_lists *l, uint64_t now_ms, p2p_chord_result *res,
    p2p_err *err)
{
	memset(res, 0, sizeof(*res));
	if (!id_usable(c, from)) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "chord: Leave from own, zero or wildcard Node-ID", 0);
		return -1;
	}
	if (l->type != P2P_LEAVE_FROM_SUCC && l->type != P2P_LEAVE_FROM_PRED) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "chord: unknown ChordLeaveType", 0);
		return -1;
	}
	if (lists_check(l, err) == -1)
		return -1;
	res->flags = (unsigned)p2p_chord_remove_peer(c, from, now_ms);
	candidates(c, l, 0, res);
	return 0;
}

/* Insert id into a numerically ascending array of distinct ids. */
static void
sorted_insert(p2p_id *a, size_t *n, const p2p_id *id)
{
	size_t pos = 0;

	while (pos < *n && p2p_id_cmp(&a[pos], id) < 0)
		pos++;
	if (pos < *n && p2p_id_eq(&a[pos], id))
		return;
	memmove(&a[pos + 1], &a[pos], (*n - pos) * sizeof(*a));
	a[pos] = *id;
	(*n)++;
}

int
p2p_chord_build_update(const p2p_chord *c, uint8_t type, uint64_t now_ms,
    p2p_chord_update_buf *out)
{
	p2p_chord_lists *l = &out->lists;
	size_t nf = 0;

	if (type < P2P_UPDATE_PEER_READY || type > P2P_UPDATE_FULL)
		return -1;
	memset(l, 0, sizeof(*l));
	l->type = type;
	l->uptime = p2p_chord_uptime(c, now_ms);
	l->pred = out->pred;
	l->succ = out->succ;
	l->finger = out->finger;
	if (type == P2P_UPDATE_PEER_READY)
		return 0;
	memcpy(out->pred, c->pred, c->npred * sizeof(*c->pred));
	l->npred = c->npred;
	memcpy(out->succ, c->succ, c->nsucc * sizeof(*c->succ));
	l->nsucc = c->nsucc;
	if (type != P2P_UPDATE_FULL)
		return 0;
	for (int i = 0; i < P2P_CHORD_FINGERS; i++)
		if (c->fvalid[i])
			sorted_insert(out->finger, &nf, &c->finger[i]);
	l->nfinger = nf;
	return 0;
}

/* ---- stabilization ---- */

void
p2p_chord_update_sent(p2p_chord *c, uint64_t now_ms)
{
	c->next_update_ms = now_ms + jittered(c, c->cfg.update_interval_ms);
}

/* A uniformly random id in slot i's interval [x + 2^b, x + 2^(b+1) - 1],
 * b = 128 - i. */
static void
random_in_slot(p2p_chord *c, unsigned i, p2p_id *out)
{
	unsigned b = P2P_CHORD_FINGERS - i;
	p2p_id off;
	uint32_t r = 0;

	for (int j = 0; j < P2P_ID_LEN; j++) {
		if (j % 4 == 0)
			r = rand32(c);
		off.b[j] = (uint8_t)(r >> (8 * (j % 4)));
	}
	/* keep bits 0..b-1, then set bit b */
	for (unsigned byte = 0; byte < P2P_ID_LEN; byte++) {
		unsigned lo = 8 * (P2P_ID_LEN - 1 - byte);	/* lowest bit */
		if (lo >= b)
			off.b[byte] = 0;
		else if (lo + 8 > b)
			off.b[byte] &= (uint8_t)((1u << (b - lo)) - 1);
	}
	off.b[P2P_ID_LEN - 1 - b / 8] |= (uint8_t)(1u << (b % 8));
	p2p_id_add(out, &c->self, &off);
}

/* Pick an invalid slot: walk them from slot 1, taking each with
 * probability 1/2 (s10.7.4.2, alternative 1). 0 if none is invalid. */
static unsigned
pick_invalid_slot(p2p_chord *c)
{
	unsigned slots[P2P_CHORD_FINGERS];
	size_t n = p2p_chord_fingers_invalid(c, slots, P2P_CHORD_FINGERS);

	if (n == 0)
		return 0;
	for (int pass = 0; pass < 32; pass++)
		for (size_t i = 0; i < n; i++)
			if (rand32(c) & 1)
				return slots[i];
	return slots[0];
}

static int
replica_set_changed(const p2p_chord *c)
{
	size_t n = c->nsucc < P2P_CHORD_REPLICAS ? c->nsucc :
	    P2P_CHORD_REPLICAS;

	return !lists_equal(c->succ, n, c->replica, c->nreplica);
}

/* Hand out the members new to the replica set once the hold-down is
 * over, and remember the set. */
static void
tick_replicas(p2p_chord *c, uint64_t now_ms, p2p_chord_work *out)
{
	p2p_id cur[P2P_CHORD_REPLICAS];
	size_t n;

	if (!replica_set_changed(c) || now_ms < c->hold_until_ms)
		return;
	n = p2p_chord_replicas(c, cur);
	for (size_t i = 0; i < n; i++)
		if (!list_has(c->replica, c->nreplica, &cur[i]))
			out->replica[out->nreplica++] = cur[i];
	memcpy(c->replica, cur, sizeof(cur));
	c->nreplica = n;
}

int
p2p_chord_tick(p2p_chord *c, uint64_t now_ms, p2p_chord_work *out)
{
	memset(out, 0, sizeof(*out));
	if (now_ms >= c->next_update_ms) {
		out->send_update = c->nsucc + c->npred > 0;
		p2p_chord_update_sent(c, now_ms);
	}
	if (now_ms >= c->next_ping_ms) {
		c->next_ping_ms = now_ms + c->cfg.ping_interval_ms;
		out->probe_slot = pick_invalid_slot(c);
		if (out->probe_slot != 0) {
			out->probe = 1;
			random_in_slot(c, out->probe_slot, &out->probe_id);
		}
	}
	tick_replicas(c, now_ms, out);
	return out->send_update || out->probe || out->nreplica > 0;
}

uint64_t
p2p_chord_next_deadline(const p2p_chord *c)
{
	uint64_t t = c->next_update_ms;

	if (c->next_ping_ms < t)
		t = c->next_ping_ms;
	if (replica_set_changed(c) && c->hold_until_ms < t)
		t = c->hold_until_ms;
	return t;
}
