#include "unit.h"

#include "chord.h"

/* ---- deterministic randomness ---- */

static uint64_t
mix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t
test_rand(void *arg)
{
	return (uint32_t)(mix64(arg) >> 32);
}

static void
rand_id(uint64_t *s, p2p_id *out)
{
	uint64_t a = mix64(s), b = mix64(s);

	for (int i = 0; i < 8; i++) {
		out->b[i] = (uint8_t)(a >> (56 - 8 * i));
		out->b[8 + i] = (uint8_t)(b >> (56 - 8 * i));
	}
}

static p2p_id
hex_id(const char *h)
{
	p2p_id id;

	assert_true(p2p_id_from_hex(&id, h));
	return id;
}

static int
cmp_id(const void *a, const void *b)
{
	return p2p_id_cmp(a, b);
}

/* ---- a simulated overlay ---- */

struct msg {
	size_t from, to;
	size_t npred, nsucc;
	p2p_id pred[P2P_CHORD_MAX_NEIGHBORS];
	p2p_id succ[P2P_CHORD_MAX_NEIGHBORS];
};

struct sim {
	size_t n;
	p2p_id *ids;		/* sorted ascending */
	p2p_chord *st;
	int *alive;
	int *joined;
	struct msg *q;
	size_t qhead, qlen, qcap;
	uint64_t now;
	uint64_t seed;
	size_t sent;
};

static void
sim_init(struct sim *s, size_t n, uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->seed = seed;
	s->now = 1000;
	s->ids = calloc(n, sizeof(*s->ids));
	s->st = calloc(n, sizeof(*s->st));
	s->alive = calloc(n, sizeof(*s->alive));
	s->joined = calloc(n, sizeof(*s->joined));
	assert_non_null(s->ids);
	assert_non_null(s->st);
	assert_non_null(s->alive);
	assert_non_null(s->joined);
	for (size_t i = 0; i < n; i++)
		rand_id(&s->seed, &s->ids[i]);
	qsort(s->ids, n, sizeof(*s->ids), cmp_id);
	for (size_t i = 0; i + 1 < n; i++)
		assert_false(p2p_id_eq(&s->ids[i], &s->ids[i + 1]));
	for (size_t i = 0; i < n; i++) {
		p2p_chord_config cfg;
		p2p_chord_config_default(&cfg);
		cfg.rand = test_rand;
		cfg.rand_arg = &s->seed;
		assert_int_equal(p2p_chord_init(&s->st[i], &s->ids[i], &cfg,
		    s->now, NULL), 0);
		s->alive[i] = 1;
	}
}

static void
sim_free(struct sim *s)
{
	free(s->ids);
	free(s->st);
	free(s->alive);
	free(s->joined);
	free(s->q);
}

static size_t
sim_index(const struct sim *s, const p2p_id *id)
{
	const p2p_id *p = bsearch(id, s->ids, s->n, sizeof(*id), cmp_id);

	assert_non_null(p);
	return (size_t)(p - s->ids);
}

/* Brute-force owner of k among the live, joined nodes. */
static size_t
sim_owner(const struct sim *s, const p2p_id *k)
{
	p2p_id d, best;
	size_t owner = SIZE_MAX;

	for (size_t i = 0; i < s->n; i++) {
		if (!s->alive[i] || !s->joined[i])
			continue;
		p2p_id_distance(&d, k, &s->ids[i]);
		if (owner == SIZE_MAX || p2p_id_cmp(&d, &best) < 0) {
			best = d;
			owner = i;
		}
	}
	assert_true(owner != SIZE_MAX);
	return owner;
}

static void
sim_send(struct sim *s, size_t from, size_t to)
{
	const p2p_id *l;
	struct msg *m;

	if (s->qhead + s->qlen == s->qcap) {
		if (s->qhead > 0) {
			memmove(s->q, s->q + s->qhead, s->qlen * sizeof(*s->q));
			s->qhead = 0;
		} else {
			s->qcap = s->qcap ? 2 * s->qcap : 256;
			s->q = realloc(s->q, s->qcap * sizeof(*s->q));
			assert_non_null(s->q);
		}
	}
	m = &s->q[s->qhead + s->qlen++];
	m->from = from;
	m->to = to;
	m->npred = p2p_chord_predecessors(&s->st[from], &l);
	memcpy(m->pred, l, m->npred * sizeof(*l));
	m->nsucc = p2p_chord_successors(&s->st[from], &l);
	memcpy(m->succ, l, m->nsucc * sizeof(*l));
	s->sent++;
}

/* A neighbors Update from node i to every member of its neighbor set. */
static void
sim_update_neighbors(struct sim *s, size_t i)
{
	const p2p_id *l;
	size_t n;

	n = p2p_chord_successors(&s->st[i], &l);
	for (size_t j = 0; j < n; j++)
		sim_send(s, i, sim_index(s, &l[j]));
	n = p2p_chord_predecessors(&s->st[i], &l);
	for (size_t j = 0; j < n; j++) {
		const p2p_id *sl;
		size_t ns = p2p_chord_successors(&s->st[i], &sl);
		int dup = 0;
		for (size_t k = 0; k < ns; k++)
			dup |= p2p_id_eq(&sl[k], &l[j]);
		if (!dup)
			sim_send(s, i, sim_index(s, &l[j]));
	}
}

/* Node i Attaches to the peers res names; the live ones are entered. */
static int
sim_attach_all(struct sim *s, size_t i, const p2p_chord_result *res)
{
	int f = 0;

	for (size_t k = 0; k < res->nattach + res->nfinger; k++) {
		const p2p_id *id = k < res->nattach ? &res->attach[k] :
		    &res->finger[k - res->nattach];
		size_t j = sim_index(s, id);
		int r;
		if (!s->alive[j])
			continue;	/* the Attach fails */
		r = p2p_chord_add_peer(&s->st[i], id, s->now, NULL);
		assert_true(r >= 0);
		f |= r;
	}
	return f;
}

static void
sim_drain(struct sim *s)
{
	size_t steps = 0;

	while (s->qlen > 0) {
		struct msg m = s->q[s->qhead++];
		p2p_chord_lists u;
		p2p_chord_result res;
		int f;

		s->qlen--;
		assert_true(++steps < 2000000);
		if (!s->alive[m.to] || !s->alive[m.from])
			continue;
		memset(&u, 0, sizeof(u));
		u.type = P2P_UPDATE_NEIGHBORS;
		u.pred = m.pred;
		u.npred = m.npred;
		u.succ = m.succ;
		u.nsucc = m.nsucc;
		assert_int_equal(p2p_chord_apply_update(&s->st[m.to],
		    &s->ids[m.from], &u, s->now, &res, NULL), 0);
		f = (int)res.flags | sim_attach_all(s, m.to, &res);
		if (f & P2P_CHORD_NEIGHBORS_CHANGED)
			sim_update_neighbors(s, m.to);
		else if (f & P2P_CHORD_REPLY_UPDATE)
			sim_send(s, m.to, m.from);
	}
}

/* Route k from node i with next_hop; returns the node that takes it
 * locally and the hop count. Fails on a loop. */
static size_t
sim_route(struct sim *s, size_t i, const p2p_id *k, size_t *hops)
{
	p2p_id next;
	size_t h = 0;

	for (;;) {
		if (p2p_chord_next_hop(&s->st[i], k, &next) == P2P_CHORD_LOCAL)
			break;
		i = sim_index(s, &next);
		assert_true(s->alive[i]);
		assert_true(++h <= s->n);
	}
	*hops = h;
	return i;
}

/* Node j joins through the first joined node (s10.5). */
static void
sim_join(struct sim *s, size_t j, size_t bootstrap)
{
	p2p_chord_update_buf ub;
	p2p_chord_result res;
	p2p_id k;
	size_t ap, hops;

	p2p_id_add_u64(&k, &s->ids[j], 1);
	ap = sim_route(s, bootstrap, &k, &hops);
	/* Attach to n+1 with send_update: AP sends its full tables. */
	assert_int_equal(p2p_chord_build_update(&s->st[ap], P2P_UPDATE_FULL,
	    s->now, &ub), 0);
	assert_int_equal(p2p_chord_apply_update(&s->st[j], &s->ids[ap],
	    &ub.lists, s->now, &res, NULL), 0);
	sim_attach_all(s, j, &res);
	/* Join: AP enters JN; both tell their neighbors. */
	assert_true(p2p_chord_add_peer(&s->st[ap], &s->ids[j], s->now,
	    NULL) >= 0);
	s->joined[j] = 1;
	sim_update_neighbors(s, ap);
	sim_update_neighbors(s, j);
	sim_drain(s);
}

/* Every live node's lists are the sorted ring's neighbors. */
static void
sim_check_lists(const struct sim *s)
{
	size_t live[256], nl = 0;

	assert_true(s->n <= 256);
	for (size_t i = 0; i < s->n; i++)
		if (s->alive[i] && s->joined[i])
			live[nl++] = i;
	for (size_t a = 0; a < nl; a++) {
		const p2p_chord *c = &s->st[live[a]];
		const p2p_id *l;
		size_t want = nl - 1 < 3 ? nl - 1 : 3;
		size_t n;

		n = p2p_chord_successors(c, &l);
		assert_int_equal(n, want);
		for (size_t j = 0; j < n; j++)
			assert_true(p2p_id_eq(&l[j],
			    &s->ids[live[(a + 1 + j) % nl]]));
		n = p2p_chord_predecessors(c, &l);
		assert_int_equal(n, want);
		for (size_t j = 0; j < n; j++)
			assert_true(p2p_id_eq(&l[j],
			    &s->ids[live[(a + nl - 1 - j) % nl]]));
	}
}

/* Exactly the brute-force owner claims each random key, and routing from
 * a random node reaches it. */
static void
sim_check_keys(struct sim *s, size_t nkeys)
{
	for (size_t t = 0; t < nkeys; t++) {
		p2p_id k;
		size_t owner, claims = 0, from, hops;

		rand_id(&s->seed, &k);
		if (t == 0)
			k = s->ids[0];		/* a key equal to a Node-ID */
		owner = sim_owner(s, &k);
		for (size_t i = 0; i < s->n; i++) {
			if (!s->alive[i] || !s->joined[i])
				continue;
			if (p2p_chord_is_responsible(&s->st[i], &k)) {
				assert_int_equal(i, owner);
				claims++;
			}
		}
		assert_int_equal(claims, 1);
		do
			from = (size_t)(mix64(&s->seed) % s->n);
		while (!s->alive[from] || !s->joined[from]);
		assert_int_equal(sim_route(s, from, &k, &hops), owner);
	}
}

static void
sim_build(struct sim *s, size_t n, uint64_t seed)
{
	size_t order[256] = { 0 };

	assert_true(n >= 1 && n <= 256);
	sim_init(s, n, seed);
	/* join in a random order */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(mix64(&s->seed) % i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	s->joined[order[0]] = 1;
	for (size_t i = 1; i < n; i++)
		sim_join(s, order[i], order[0]);
}

static void
test_rings_by_updates(void **state)
{
	static const size_t sizes[] = { 1, 2, 5, 25, 200 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct sim s;

		sim_build(&s, sizes[i], 0x5eed0000u + i);
		sim_check_lists(&s);
		sim_check_keys(&s, 500);
		sim_free(&s);
	}
}

static void
test_alone(void **state)
{
	p2p_chord c;
	p2p_id self = hex_id("0123456789abcdef0123456789abcdef"), k, next;
	p2p_chord_update_buf ub;
	unsigned slots[P2P_CHORD_FINGERS];
	uint64_t seed = 7;

	(void)state;
	assert_int_equal(p2p_chord_init(&c, &self, NULL, 0, NULL), 0);
	for (int t = 0; t < 100; t++) {
		rand_id(&seed, &k);
		assert_true(p2p_chord_is_responsible(&c, &k));
		assert_int_equal(p2p_chord_next_hop(&c, &k, &next),
		    P2P_CHORD_LOCAL);
		assert_int_equal(p2p_chord_stores(&c, &k), 2);
	}
	{ p2p_id r2[P2P_CHORD_REPLICAS]; assert_int_equal(p2p_chord_replicas(&c, r2), 0); }
	assert_int_equal(p2p_chord_routes(&c, &k, 1), 0);
	assert_int_equal(p2p_chord_finger_size(&c), 16);
	assert_int_equal(p2p_chord_fingers_invalid(&c, slots, 128), 16);
	assert_int_equal(slots[0], 1);
	assert_int_equal(slots[15], 16);
	assert_int_equal(p2p_chord_build_update(&c, P2P_UPDATE_FULL, 5000, &ub),
	    0);
	assert_int_equal(ub.lists.npred + ub.lists.nsucc + ub.lists.nfinger,
	    0);
	assert_int_equal(ub.lists.uptime, 5);
	assert_int_equal(p2p_chord_build_update(&c, 0, 0, &ub), -1);
	assert_int_equal(p2p_chord_build_update(&c, 4, 0, &ub), -1);
	/* removing an unknown peer changes nothing */
	assert_int_equal(p2p_chord_remove_peer(&c, &k, 0), 0);
}

static void
test_init_rejects(void **state)
{
	p2p_chord c;
	p2p_chord_config cfg;
	p2p_id id;
	p2p_err err;

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_int_equal(p2p_chord_init(&c, &id, NULL, 0, &err), -1);
	assert_non_null(err.what);
	p2p_id_wildcard(&id);
	assert_int_equal(p2p_chord_init(&c, &id, NULL, 0, &err), -1);
	id.b[0] = 1;
	p2p_chord_config_default(&cfg);
	cfg.nsucc = 0;
	assert_int_equal(p2p_chord_init(&c, &id, &cfg, 0, &err), -1);
	cfg.nsucc = P2P_CHORD_MAX_NEIGHBORS + 1;
	assert_int_equal(p2p_chord_init(&c, &id, &cfg, 0, &err), -1);
	p2p_chord_config_default(&cfg);
	cfg.npred = 0;
	assert_int_equal(p2p_chord_init(&c, &id, &cfg, 0, &err), -1);
	p2p_chord_config_default(&cfg);
	cfg.ping_interval_ms = 0;
	assert_int_equal(p2p_chord_init(&c, &id, &cfg, 0, &err), -1);
	p2p_chord_config_default(&cfg);
	assert_int_equal(p2p_chord_init(&c, &id, &cfg, 0, &err), 0);
	/* self, zero and wildcard are never peers */
	assert_int_equal(p2p_chord_add_peer(&c, &id, 0, &err), -1);
	memset(&id, 0, sizeof(id));
	assert_int_equal(p2p_chord_add_peer(&c, &id, 0, &err), -1);
	p2p_id_wildcard(&id);
	assert_int_equal(p2p_chord_add_peer(&c, &id, 0, &err), -1);
	assert_int_equal(p2p_chord_routes(&c, &id, 1), 0);
}

/* Routing on a 200-node ring where every node knows every peer, so each
 * finger slot holds the first node at or after its target. */
static void
test_routing_full_fingers(void **state)
{
	struct sim s;
	size_t n = 200, maxhops = 0, bound = 9;	/* ceil(log2 200) + 1 */
	size_t total = 0, count = 0;

	(void)state;
	sim_init(&s, n, 0xf1f1f1f1u);
	for (size_t i = 0; i < n; i++) {
		s.joined[i] = 1;
		for (size_t j = 0; j < n; j++)
			if (j != i)
				assert_true(p2p_chord_add_peer(&s.st[i],
				    &s.ids[j], 0, NULL) >= 0);
	}
	sim_check_lists(&s);
	/* fingers are exact */
	for (size_t i = 0; i < n; i++) {
		for (unsigned f = 1; f <= P2P_CHORD_FINGERS; f++) {
			p2p_id target, entry, end;
			int v = p2p_chord_finger(&s.st[i], f, &target, &entry);
			size_t o = sim_owner(&s, &target);
			p2p_id_add_pow2(&end, &s.ids[i], 129 - f);
			if (f == 1)
				end = s.ids[i];
			/* valid iff the first node at/after target is
			 * before the next slot's target */
			int inside = p2p_id_in_oo(&s.ids[o], &target, &end) ||
			    p2p_id_eq(&s.ids[o], &target);
			if (p2p_id_eq(&s.ids[o], &s.ids[i]))
				inside = 0;
			assert_int_equal(v, inside);
			if (v)
				assert_true(p2p_id_eq(&entry, &s.ids[o]));
		}
	}
	for (size_t i = 0; i < n; i++) {
		for (int t = 0; t < 50; t++) {
			p2p_id k;
			size_t hops;
			rand_id(&s.seed, &k);
			if (t == 0)
				k = s.ids[(i + n / 2) % n];
			assert_int_equal(sim_route(&s, i, &k, &hops),
			    sim_owner(&s, &k));
			if (hops > maxhops)
				maxhops = hops;
			total += hops;
			count++;
		}
	}
	print_message("# 200 nodes: max %zu hops, mean %.2f\n", maxhops,
	    (double)total / (double)count);
	assert_true(maxhops <= bound);
	sim_free(&s);
}

/* Kill nodes, let the survivors notice and exchange Updates. */
static void
sim_kill(struct sim *s, const size_t *dead, size_t ndead)
{
	for (size_t d = 0; d < ndead; d++)
		s->alive[dead[d]] = 0;
	for (size_t d = 0; d < ndead; d++) {
		for (size_t i = 0; i < s->n; i++) {
			int f;
			if (!s->alive[i])
				continue;
			f = p2p_chord_remove_peer(&s->st[i], &s->ids[dead[d]],
			    s->now);
			if (f & P2P_CHORD_NEIGHBORS_CHANGED)
				sim_update_neighbors(s, i);
		}
	}
	sim_drain(s);
}

static void
test_repair(void **state)
{
	(void)state;
	/* three random nodes */
	for (int round = 0; round < 4; round++) {
		struct sim s;
		size_t dead[3];

		sim_build(&s, 25, 0xdeadu + (uint64_t)round);
		for (int d = 0; d < 3; d++) {
			int again;
			do {
				dead[d] = (size_t)(mix64(&s.seed) % 25);
				again = 0;
				for (int e = 0; e < d; e++)
					again |= dead[e] == dead[d];
			} while (again);
		}
		sim_kill(&s, dead, 3);
		sim_check_lists(&s);
		sim_check_keys(&s, 300);
		sim_free(&s);
	}
	/* three consecutive nodes: their neighbors lose every successor or
	 * every predecessor at once */
	{
		struct sim s;
		size_t dead[3] = { 10, 11, 12 };

		sim_build(&s, 25, 0xc0ffee);
		sim_kill(&s, dead, 3);
		sim_check_lists(&s);
		sim_check_keys(&s, 300);
		sim_free(&s);
	}
}

static void
test_hostile_update(void **state)
{
	p2p_chord c;
	p2p_id self = hex_id("80000000000000000000000000000000");
	p2p_id a = hex_id("90000000000000000000000000000000");
	p2p_id b = hex_id("a0000000000000000000000000000000");
	p2p_id zero, ones, big[P2P_CHORD_UPDATE_MAX_NEIGHBORS + 1];
	p2p_id list[6];
	p2p_chord_lists u;
	p2p_chord_result res;
	p2p_err err;
	const p2p_id *l;

	(void)state;
	memset(&zero, 0, sizeof(zero));
	p2p_id_wildcard(&ones);
	assert_int_equal(p2p_chord_init(&c, &self, NULL, 0, NULL), 0);

	/* a list of self, zero, wildcard and a duplicated real peer */
	list[0] = self;
	list[1] = zero;
	list[2] = ones;
	list[3] = b;
	list[4] = b;
	list[5] = a;		/* the sender itself */
	memset(&u, 0, sizeof(u));
	u.type = P2P_UPDATE_FULL;
	u.pred = list;
	u.npred = 6;
	u.succ = list;
	u.nsucc = 6;
	u.finger = list;
	u.nfinger = 6;
	assert_int_equal(p2p_chord_apply_update(&c, &a, &u, 0, &res, &err), 0);
	assert_true(res.flags & P2P_CHORD_NEIGHBORS_CHANGED);
	assert_true(res.flags & P2P_CHORD_RANGE_CHANGED);
	assert_true(res.flags & P2P_CHORD_KEPT);
	assert_int_equal(res.nattach, 1);
	assert_true(p2p_id_eq(&res.attach[0], &b));
	assert_int_equal(res.nfinger, 0);	/* b is already to attach */
	assert_int_equal(p2p_chord_successors(&c, &l), 1);	/* only a */
	assert_true(p2p_id_eq(&l[0], &a));
	assert_false(p2p_chord_knows(&c, &self));
	assert_false(p2p_chord_knows(&c, &zero));
	assert_false(p2p_chord_knows(&c, &ones));

	/* bad senders */
	assert_int_equal(p2p_chord_apply_update(&c, &self, &u, 0, &res, &err),
	    -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	assert_int_equal(p2p_chord_apply_update(&c, &zero, &u, 0, &res, &err),
	    -1);
	assert_int_equal(p2p_chord_apply_update(&c, &ones, &u, 0, &res, &err),
	    -1);

	/* oversize lists: refused whole, state unchanged */
	for (size_t i = 0; i < P2P_CHORD_UPDATE_MAX_NEIGHBORS + 1; i++) {
		big[i] = self;
		big[i].b[15] = (uint8_t)(i + 1);
	}
	memset(&u, 0, sizeof(u));
	u.type = P2P_UPDATE_NEIGHBORS;
	u.succ = big;
	u.nsucc = P2P_CHORD_UPDATE_MAX_NEIGHBORS + 1;
	assert_int_equal(p2p_chord_apply_update(&c, &b, &u, 0, &res, &err),
	    -1);
	assert_false(p2p_chord_knows(&c, &b));
	u.nsucc = 0;
	u.pred = big;
	u.npred = P2P_CHORD_UPDATE_MAX_NEIGHBORS + 1;
	assert_int_equal(p2p_chord_apply_update(&c, &b, &u, 0, &res, &err),
	    -1);
	u.npred = 0;
	u.type = P2P_UPDATE_FULL;
	u.finger = big;
	u.nfinger = P2P_CHORD_UPDATE_MAX_FINGERS + 1;
	assert_true(P2P_CHORD_UPDATE_MAX_FINGERS + 1 <=
	    P2P_CHORD_UPDATE_MAX_NEIGHBORS + 1 ||
	    P2P_CHORD_UPDATE_MAX_FINGERS > 0);
	{
		p2p_id many[P2P_CHORD_UPDATE_MAX_FINGERS + 1];
		for (size_t i = 0; i < P2P_CHORD_UPDATE_MAX_FINGERS + 1; i++)
			many[i] = big[i % (P2P_CHORD_UPDATE_MAX_NEIGHBORS + 1)];
		u.finger = many;
		assert_int_equal(p2p_chord_apply_update(&c, &b, &u, 0, &res,
		    &err), -1);
	}
	assert_false(p2p_chord_knows(&c, &b));
	/* at the bound it is accepted */
	u.type = P2P_UPDATE_NEIGHBORS;
	u.nfinger = 0;
	u.finger = NULL;
	u.succ = big;
	u.nsucc = P2P_CHORD_UPDATE_MAX_NEIGHBORS;
	assert_int_equal(p2p_chord_apply_update(&c, &b, &u, 0, &res, &err), 0);
	assert_true(p2p_chord_knows(&c, &b));
	/* the three nearest after self, and the farthest one as the third
	 * predecessor (the lists had a and b only) */
	assert_int_equal(res.nattach, 3 + 1);
	assert_true(p2p_id_eq(&res.attach[0], &big[0]));
	assert_true(p2p_id_eq(&res.attach[2], &big[2]));
	assert_true(p2p_id_eq(&res.attach[3],
	    &big[P2P_CHORD_UPDATE_MAX_NEIGHBORS - 1]));
	/* unknown types, missing arrays */
	u.type = 0;
	assert_int_equal(p2p_chord_apply_update(&c, &a, &u, 0, &res, &err),
	    -1);
	u.type = 4;
	assert_int_equal(p2p_chord_apply_update(&c, &a, &u, 0, &res, &err),
	    -1);
	u.type = P2P_UPDATE_NEIGHBORS;
	u.succ = NULL;
	assert_int_equal(p2p_chord_apply_update(&c, &a, &u, 0, &res, &err),
	    -1);
	/* peer_ready enters the sender and looks at nothing else */
	memset(&u, 0, sizeof(u));
	u.type = P2P_UPDATE_PEER_READY;
	u.succ = big;
	u.nsucc = 3;
	assert_int_equal(p2p_chord_apply_update(&c, &a, &u, 0, &res, &err), 0);
	assert_int_equal(res.nattach, 0);
}

static void
sim_full_mesh(struct sim *s)
{
	for (size_t i = 0; i < s->n; i++) {
		s->joined[i] = 1;
		for (size_t j = 0; j < s->n; j++)
			if (j != i)
				assert_true(p2p_chord_add_peer(&s->st[i],
				    &s->ids[j], s->now, NULL) >= 0);
	}
}

static void
test_replicas(void **state)
{
	struct sim s;
	p2p_id r[P2P_CHORD_REPLICAS], k;
	p2p_chord_work t;
	p2p_chord *c;
	size_t n = 5;

	(void)state;
	sim_build(&s, n, 0x4e9);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(p2p_chord_replicas(&s.st[i], r), 2);
		assert_true(p2p_id_eq(&r[0], &s.ids[(i + 1) % n]));
		assert_true(p2p_id_eq(&r[1], &s.ids[(i + 2) % n]));
	}
	/* owner, replica, neither */
	for (int t2 = 0; t2 < 300; t2++) {
		size_t o;
		rand_id(&s.seed, &k);
		o = sim_owner(&s, &k);
		for (size_t i = 0; i < n; i++) {
			int want = i == o ? 2 :
			    (i == (o + 1) % n || i == (o + 2) % n) ? 1 : 0;
			assert_int_equal(p2p_chord_stores(&s.st[i], &k), want);
		}
	}
	/* the first tick hands out the whole set, then nothing */
	c = &s.st[0];
	assert_int_equal(p2p_chord_tick(c, s.now, &t), 1);
	assert_int_equal(t.nreplica, 2);
	assert_int_equal(p2p_chord_tick(c, s.now, &t), 0);
	/* losing successor 1 starts the hold-down */
	assert_true(p2p_chord_remove_peer(c, &s.ids[1], s.now) &
	    P2P_CHORD_REPLICAS_CHANGED);
	assert_int_equal(p2p_chord_next_deadline(c),
	    s.now + P2P_CHORD_DEFAULT_HOLD_DOWN_MS);
	assert_int_equal(p2p_chord_tick(c, s.now + 29999, &t), 0);
	assert_int_equal(p2p_chord_tick(c, s.now + 30000, &t), 1);
	assert_int_equal(t.nreplica, 1);
	assert_true(p2p_id_eq(&t.replica[0], &s.ids[3]));
	assert_int_equal(p2p_chord_replicas(c, r), 2);
	assert_true(p2p_id_eq(&r[0], &s.ids[2]));
	assert_true(p2p_id_eq(&r[1], &s.ids[3]));
	/* a joining successor gets replicas without a hold-down */
	assert_true(p2p_chord_add_peer(c, &s.ids[1], s.now + 30001, NULL) &
	    P2P_CHORD_REPLICAS_CHANGED);
	assert_int_equal(p2p_chord_tick(c, s.now + 30001, &t), 1);
	assert_int_equal(t.nreplica, 1);
	assert_true(p2p_id_eq(&t.replica[0], &s.ids[1]));
	sim_free(&s);

	/* a two-node ring: one replica, and the peer is both neighbors */
	sim_build(&s, 2, 0x22);
	assert_int_equal(p2p_chord_replicas(&s.st[0], r), 1);
	assert_true(p2p_id_eq(&r[0], &s.ids[1]));
	sim_free(&s);
}

/* Finger slots at the 2^127 and 2^0 edges, with self near the top of the
 * ring so that the intervals wrap through zero. */
static void
test_finger_edges(void **state)
{
	p2p_chord c;
	p2p_id self = hex_id("fffffffffffffffffffffffffffffff0");
	p2p_id p, t, e, half, one;
	const p2p_id *l;

	(void)state;
	assert_int_equal(p2p_chord_init(&c, &self, NULL, 0, NULL), 0);
	memset(&half, 0, sizeof(half));
	half.b[0] = 0x80;
	memset(&one, 0, sizeof(one));
	one.b[15] = 1;

	/* targets */
	assert_int_equal(p2p_chord_finger(&c, 1, &t, &e), 0);
	assert_true(p2p_id_eq(&t, &(p2p_id){ .b = { 0x7f, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xf0 } }));
	assert_int_equal(p2p_chord_finger(&c, 128, &t, &e), 0);
	assert_true(p2p_id_eq(&t, &(p2p_id){ .b = { 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xf1 } }));
	assert_int_equal(p2p_chord_finger(&c, 0, &t, &e), -1);
	assert_int_equal(p2p_chord_finger(&c, 129, &t, &e), -1);

	/* self + 2^127 is slot 1; one less is slot 2 */
	p2p_id_add(&p, &self, &half);
	assert_int_equal(p2p_chord_finger_slot(&c, &p), 1);
	p2p_id_distance(&t, &one, &p);	/* p - 1 */
	assert_int_equal(p2p_chord_finger_slot(&c, &t), 2);
	/* self - 1 = self + 2^128 - 1: still slot 1 (the end of it) */
	p2p_id_distance(&t, &one, &self);
	assert_int_equal(p2p_chord_finger_slot(&c, &t), 1);
	/* self + 1 is slot 128, self + 2 and + 3 slot 127, + 4 slot 126 */
	p2p_id_add_u64(&t, &self, 1);
	assert_int_equal(p2p_chord_finger_slot(&c, &t), 128);
	p2p_id_add_u64(&t, &self, 2);
	assert_int_equal(p2p_chord_finger_slot(&c, &t), 127);
	p2p_id_add_u64(&t, &self, 3);
	assert_int_equal(p2p_chord_finger_slot(&c, &t), 127);
	p2p_id_add_u64(&t, &self, 4);
	assert_int_equal(p2p_chord_finger_slot(&c, &t), 126);
	/* across zero: self + 16 = 0 (not usable), + 17 = 1 is slot 124 */
	p2p_id_add_u64(&t, &self, 17);
	assert_int_equal(t.b[15], 1);
	assert_int_equal(p2p_chord_finger_slot(&c, &t), 124);
	assert_int_equal(p2p_chord_finger_slot(&c, &self), 0);

	/* the slot keeps the peer nearest its target */
	p2p_id_add_u64(&t, &p, 5);
	assert_true(p2p_chord_add_peer(&c, &t, 0, NULL) &
	    P2P_CHORD_FINGERS_CHANGED);
	p2p_id_add_u64(&t, &p, 1);
	assert_true(p2p_chord_add_peer(&c, &t, 0, NULL) &
	    P2P_CHORD_FINGERS_CHANGED);
	assert_int_equal(p2p_chord_finger(&c, 1, NULL, &e), 1);
	assert_true(p2p_id_eq(&e, &t));
	assert_true(p2p_chord_add_peer(&c, &p, 0, NULL) &
	    P2P_CHORD_FINGERS_CHANGED);
	assert_int_equal(p2p_chord_finger(&c, 1, NULL, &e), 1);
	assert_true(p2p_id_eq(&e, &p));
	/* self + 1 (wrapped: ...f1) fills slot 128 and is successor 1 */
	p2p_id_add_u64(&t, &self, 1);
	assert_true(p2p_chord_add_peer(&c, &t, 0, NULL) >= 0);
	assert_int_equal(p2p_chord_finger(&c, 128, NULL, &e), 1);
	assert_true(p2p_id_eq(&e, &t));
	assert_int_equal(p2p_chord_successors(&c, &l), 3);
	assert_true(p2p_id_eq(&l[0], &t));
	/* the peer at self + 2^127 + 5 left slot 1 but stays as the
	 * nearest predecessor */
	p2p_id_add_u64(&t, &p, 5);
	assert_true(p2p_chord_knows(&c, &t));
	assert_int_equal(p2p_chord_predecessors(&c, &l), 3);
	assert_true(p2p_id_eq(&l[0], &t));
	/* a failed finger is replaced by the next best known peer */
	assert_true(p2p_chord_remove_peer(&c, &p, 0) &
	    P2P_CHORD_FINGERS_CHANGED);
	p2p_id_add_u64(&t, &p, 1);
	assert_int_equal(p2p_chord_finger(&c, 1, NULL, &e), 1);
	assert_true(p2p_id_eq(&e, &t));
}

/* Responsibility and routing across 0 / 2^128. */
static void
test_wraparound(void **state)
{
	p2p_chord c;
	p2p_id self = hex_id("00000000000000000000000000000010");
	p2p_id pred = hex_id("fffffffffffffffffffffffffffffff0");
	p2p_id succ = hex_id("00000000000000000000000000000100");
	p2p_id far = hex_id("70000000000000000000000000000000");
	p2p_id k, next, owner, ones;

	(void)state;
	assert_int_equal(p2p_chord_init(&c, &self, NULL, 0, NULL), 0);
	assert_true(p2p_chord_add_peer(&c, &pred, 0, NULL) >= 0);
	assert_true(p2p_chord_add_peer(&c, &succ, 0, NULL) >= 0);
	assert_true(p2p_chord_add_peer(&c, &far, 0, NULL) >= 0);
	p2p_id_wildcard(&ones);
	memset(&k, 0, sizeof(k));
	assert_true(p2p_chord_is_responsible(&c, &k));	/* 0 */
	assert_true(p2p_chord_is_responsible(&c, &ones));	/* 2^128-1 */
	assert_true(p2p_chord_is_responsible(&c, &self));
	assert_false(p2p_chord_is_responsible(&c, &pred));
	p2p_id_add_u64(&k, &self, 1);
	assert_false(p2p_chord_is_responsible(&c, &k));
	/* self + 1 belongs to the successor: no peer in (self, k] */
	assert_int_equal(p2p_chord_next_hop(&c, &k, &next), P2P_CHORD_FORWARD);
	assert_true(p2p_id_eq(&next, &succ));
	assert_int_equal(p2p_chord_owner(&c, &k, &owner), 1);
	assert_true(p2p_id_eq(&owner, &succ));
	/* the predecessor's own id: the largest peer in (self, pred] */
	assert_int_equal(p2p_chord_next_hop(&c, &pred, &next),
	    P2P_CHORD_FORWARD);
	assert_true(p2p_id_eq(&next, &pred));
	/* just below pred: far is the closest preceding peer */
	p2p_id_add_u64(&k, &far, 5);
	assert_int_equal(p2p_chord_next_hop(&c, &k, &next), P2P_CHORD_FORWARD);
	assert_true(p2p_id_eq(&next, &far));
	assert_int_equal(p2p_chord_owner(&c, &k, &owner), 0);
	assert_true(p2p_id_eq(&owner, &pred));
	/* routes are listed clockwise from self */
	{
		p2p_id rt[4];
		assert_int_equal(p2p_chord_routes(&c, rt, 4), 3);
		assert_true(p2p_id_eq(&rt[0], &succ));
		assert_true(p2p_id_eq(&rt[1], &far));
		assert_true(p2p_id_eq(&rt[2], &pred));
	}
}

/* usable(): every peer but the one arg points at. */
static int
all_but(void *arg, const p2p_id *peer)
{
	return !p2p_id_eq(arg, peer);
}

static int
none_usable(void *arg, const p2p_id *peer)
{
	(void)arg; (void)peer;
	return 0;
}

/* Routing among usable peers: the best one before the key, else the
 * nearest one after it; none, no hop. */
static void
test_next_hop_among(void **state)
{
	p2p_chord c;
	p2p_id self = hex_id("10000000000000000000000000000000");
	p2p_id succ = hex_id("20000000000000000000000000000000");
	p2p_id mid = hex_id("60000000000000000000000000000000");
	p2p_id pred = hex_id("c0000000000000000000000000000000");
	p2p_id k, next;

	(void)state;
	assert_int_equal(p2p_chord_init(&c, &self, NULL, 0, NULL), 0);
	assert_true(p2p_chord_add_peer(&c, &succ, 0, NULL) >= 0);
	assert_true(p2p_chord_add_peer(&c, &mid, 0, NULL) >= 0);
	assert_true(p2p_chord_add_peer(&c, &pred, 0, NULL) >= 0);
	/* ours: local whatever is usable */
	assert_int_equal(p2p_chord_next_hop_among(&c, &self, none_usable,
	    NULL, &next), P2P_CHORD_LOCAL);
	/* k in mid's range, mid usable: as next_hop */
	k = hex_id("50000000000000000000000000000000");
	assert_int_equal(p2p_chord_next_hop_among(&c, &k, all_but, &pred,
	    &next), P2P_CHORD_FORWARD);
	assert_true(p2p_id_eq(&next, &succ));
	/* the successor unusable: nobody usable in (self, k], so the
	 * nearest usable peer after k */
	k = hex_id("18000000000000000000000000000000");
	assert_int_equal(p2p_chord_next_hop(&c, &k, &next),
	    P2P_CHORD_FORWARD);
	assert_true(p2p_id_eq(&next, &succ));
	assert_int_equal(p2p_chord_next_hop_among(&c, &k, all_but, &succ,
	    &next), P2P_CHORD_FORWARD);
	assert_true(p2p_id_eq(&next, &mid));
	/* mid unusable on the way to k past it: succ before k still is */
	k = hex_id("70000000000000000000000000000000");
	assert_int_equal(p2p_chord_next_hop_among(&c, &k, all_but, &mid,
	    &next), P2P_CHORD_FORWARD);
	assert_true(p2p_id_eq(&next, &succ));
	assert_int_equal(p2p_chord_next_hop_among(&c, &k, none_usable, NULL,
	    &next), P2P_CHORD_NO_HOP);
}

static void
test_build_and_leave(void **state)
{
	struct sim s;
	p2p_chord_update_buf ub;
	p2p_chord_result res;
	p2p_chord_lists l;
	size_t n = 25;
	const p2p_id *sl;
	p2p_chord *c;

	(void)state;
	sim_init(&s, n, 0xb11d);
	sim_full_mesh(&s);
	c = &s.st[0];
	assert_int_equal(p2p_chord_build_update(c, P2P_UPDATE_FULL, s.now,
	    &ub), 0);
	assert_int_equal(ub.lists.type, P2P_UPDATE_FULL);
	assert_int_equal(ub.lists.nsucc, 3);
	assert_int_equal(ub.lists.npred, 3);
	assert_true(ub.lists.nfinger > 0);
	for (size_t i = 1; i < ub.lists.nfinger; i++)
		assert_true(p2p_id_cmp(&ub.lists.finger[i - 1],
		    &ub.lists.finger[i]) < 0);
	for (size_t i = 0; i < ub.lists.nsucc; i++)
		assert_true(p2p_id_eq(&ub.lists.succ[i], &s.ids[1 + i]));
	for (size_t i = 0; i < ub.lists.npred; i++)
		assert_true(p2p_id_eq(&ub.lists.pred[i], &s.ids[n - 1 - i]));
	assert_int_equal(p2p_chord_build_update(c, P2P_UPDATE_NEIGHBORS, s.now,
	    &ub), 0);
	assert_int_equal(ub.lists.nfinger, 0);
	assert_int_equal(p2p_chord_build_update(c, P2P_UPDATE_PEER_READY, s.now,
	    &ub), 0);
	assert_int_equal(ub.lists.nsucc + ub.lists.npred, 0);

	/* node 1 leaves; node 0 gets its successor list */
	{
		p2p_id succs[3] = { s.ids[2], s.ids[3], s.ids[4] };
		p2p_chord fresh;
		memset(&l, 0, sizeof(l));
		l.type = P2P_LEAVE_FROM_SUCC;
		l.succ = succs;
		l.nsucc = 3;
		assert_int_equal(p2p_chord_apply_leave(c, &s.ids[1], &l, s.now,
		    &res, NULL), 0);
		assert_true(res.flags & P2P_CHORD_NEIGHBORS_CHANGED);
		assert_true(res.flags & P2P_CHORD_REPLICAS_CHANGED);
		assert_false(res.flags & P2P_CHORD_RANGE_CHANGED);
		assert_false(p2p_chord_knows(c, &s.ids[1]));
		/* the list refilled from the routing table; node 4 is
		 * either there (as a finger) or offered to attach */
		assert_int_equal(p2p_chord_successors(c, &sl), 3);
		assert_true(p2p_id_eq(&sl[0], &s.ids[2]));
		assert_true(p2p_id_eq(&sl[1], &s.ids[3]));
		if (p2p_id_eq(&sl[2], &s.ids[4])) {
			assert_int_equal(res.nattach, 0);
		} else {
			assert_int_equal(res.nattach, 1);
			assert_true(p2p_id_eq(&res.attach[0], &s.ids[4]));
		}
		/* a node knowing only the leaver learns whom to attach */
		assert_int_equal(p2p_chord_init(&fresh, &s.ids[0], NULL, 0,
		    NULL), 0);
		assert_true(p2p_chord_add_peer(&fresh, &s.ids[1], 0, NULL) >=
		    0);
		assert_int_equal(p2p_chord_apply_leave(&fresh, &s.ids[1], &l,
		    0, &res, NULL), 0);
		assert_true(res.flags & P2P_CHORD_ALONE);
		assert_int_equal(res.nattach, 3);
		l.type = 3;
		assert_int_equal(p2p_chord_apply_leave(&fresh, &s.ids[2], &l,
		    0, &res, NULL), -1);
	}
	sim_free(&s);
}

/* A stale sender is told to refresh. */
static void
test_reply_stale(void **state)
{
	p2p_chord c;
	p2p_id self = hex_id("50000000000000000000000000000000");
	p2p_id between = hex_id("40000000000000000000000000000000");
	p2p_id from = hex_id("30000000000000000000000000000000");
	p2p_id list[1] = { self };
	p2p_chord_lists u;
	p2p_chord_result res;

	(void)state;
	assert_int_equal(p2p_chord_init(&c, &self, NULL, 0, NULL), 0);
	assert_true(p2p_chord_add_peer(&c, &between, 0, NULL) >= 0);
	memset(&u, 0, sizeof(u));
	u.type = P2P_UPDATE_NEIGHBORS;
	u.succ = list;
	u.nsucc = 1;
	assert_int_equal(p2p_chord_apply_update(&c, &from, &u, 0, &res, NULL),
	    0);
	assert_true(res.flags & P2P_CHORD_REPLY_UPDATE);
	/* the sender names us correctly as its successor's successor only
	 * when nobody sits between: no reply for a correct view */
	assert_int_equal(p2p_chord_apply_update(&c, &between, &u, 0, &res,
	    NULL), 0);
	assert_false(res.flags & P2P_CHORD_REPLY_UPDATE);
}

static void
test_tick_schedule(void **state)
{
	p2p_chord c;
	p2p_chord_config cfg;
	p2p_chord_work t;
	p2p_id self = hex_id("11111111111111111111111111111111");
	p2p_id peer = hex_id("91111111111111111111111111111111");
	uint64_t seed = 42, now = 0;
	unsigned hist[P2P_CHORD_FINGERS + 1] = { 0 };
	unsigned probes = 0;

	(void)state;
	p2p_chord_config_default(&cfg);
	cfg.rand = test_rand;
	cfg.rand_arg = &seed;
	assert_int_equal(p2p_chord_init(&c, &self, &cfg, 0, NULL), 0);
	assert_true(p2p_chord_add_peer(&c, &peer, 0, NULL) >= 0);
	/* the first Update is due in 450..750 s */
	assert_int_equal(p2p_chord_tick(&c, 0, &t) && t.send_update, 0);
	for (int round = 0; round < 200; round++) {
		uint64_t due = c.next_update_ms;
		assert_true(due - now >= 450000 && due - now < 750000);
		assert_int_equal(p2p_chord_tick(&c, due - 1, &t) &&
		    t.send_update, 0);
		p2p_chord_tick(&c, due, &t);
		assert_true(t.send_update);
		now = due;
	}
	/* probes: once per ping interval, at a random id of an invalid
	 * slot; slot 1 holds peer (self + 2^127), so it is never probed */
	now = c.next_ping_ms;
	for (int round = 0; round < 2000; round++) {
		unsigned slot;
		p2p_id target, end, e;

		assert_true(p2p_chord_next_deadline(&c) <= now);
		p2p_chord_tick(&c, now, &t);
		assert_true(t.probe);
		probes++;
		slot = t.probe_slot;
		assert_true(slot >= 2 && slot <= p2p_chord_finger_size(&c));
		assert_int_equal(p2p_chord_finger(&c, slot, &target, &e), 0);
		assert_int_equal(p2p_chord_finger_slot(&c, &t.probe_id), slot);
		p2p_id_add_pow2(&end, &self, 129 - slot);
		assert_true(p2p_id_in_oo(&t.probe_id, &target, &end) ||
		    p2p_id_eq(&t.probe_id, &target));
		hist[slot]++;
		/* not again within the interval */
		p2p_chord_tick(&c, now + P2P_CHORD_DEFAULT_PING_MS - 1, &t);
		assert_false(t.probe);
		now += P2P_CHORD_DEFAULT_PING_MS;
	}
	/* exponentially weighted toward low slots */
	assert_true(hist[2] > probes / 3 && hist[2] < 2 * probes / 3);
	assert_true(hist[3] > probes / 8 && hist[3] < 3 * probes / 8);
	assert_true(hist[2] > hist[3] && hist[3] > hist[5]);
	assert_int_equal(p2p_chord_uptime(&c, 3500), 3);
}

/* p2p_chord_knows looks a finger up in the one slot its distance gives;
 * it must agree with a scan of the neighbor lists and every slot, for
 * peers that were added, removed, or never seen. */
static void
test_knows_matches_tables(void **state)
{
	p2p_chord c;
	p2p_id self, ids[300];
	const p2p_id *succ, *pred;
	uint64_t seed = 11;

	(void)state;
	rand_id(&seed, &self);
	assert_int_equal(p2p_chord_init(&c, &self, NULL, 0, NULL), 0);
	for (size_t i = 0; i < 300; i++) {
		rand_id(&seed, &ids[i]);
		if (i < 200)
			(void)p2p_chord_add_peer(&c, &ids[i], 0, NULL);
	}
	for (size_t i = 0; i < 50; i++)
		(void)p2p_chord_remove_peer(&c, &ids[i * 3], 0);
	for (size_t i = 0; i < 300; i++) {
		size_t ns = p2p_chord_successors(&c, &succ);
		size_t np = p2p_chord_predecessors(&c, &pred);
		int want = 0;

		for (size_t j = 0; j < ns; j++)
			want |= p2p_id_eq(&succ[j], &ids[i]);
		for (size_t j = 0; j < np; j++)
			want |= p2p_id_eq(&pred[j], &ids[i]);
		for (unsigned slot = 1; slot <= P2P_CHORD_FINGERS; slot++) {
			p2p_id target, entry;

			if (p2p_chord_finger(&c, slot, &target, &entry) == 1 &&
			    p2p_id_eq(&entry, &ids[i]))
				want = 1;
		}
		assert_int_equal(p2p_chord_knows(&c, &ids[i]), want);
	}
	assert_false(p2p_chord_knows(&c, &self));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alone),
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_finger_edges),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_next_hop_among),
		cmocka_unit_test(test_hostile_update),
		cmocka_unit_test(test_reply_stale),
		cmocka_unit_test(test_build_and_leave),
		cmocka_unit_test(test_replicas),
		cmocka_unit_test(test_tick_schedule),
		cmocka_unit_test(test_rings_by_updates),
		cmocka_unit_test(test_routing_full_fingers),
		cmocka_unit_test(test_repair),
		cmocka_unit_test(test_knows_matches_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
