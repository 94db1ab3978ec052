#include "unit.h"

#include <openssl/evp.h>

#include "body_link.h"
#include "body_store.h"
#include "config.h"
#include "ident.h"
#include "sign.h"
#include "store.h"

#define OVERLAY		"overlay.example.org"
#define NOW		1700000000000ull	/* ms */

#define K_SINGLE	0xf0000001u	/* SINGLE, USER-MATCH */
#define K_ARRAY		0xf0000002u	/* ARRAY, USER-MATCH, 10 values */
#define K_DICT		0xf0000003u	/* DICTIONARY, USER-MATCH, 5 keys */
#define K_NODE		0xf0000004u	/* ARRAY, NODE-MATCH */
#define K_MULTI		0xf0000005u	/* SINGLE, NODE-MULTIPLE, 20 */
#define K_UNKNOWN	0xf00000ffu

static const p2p_kind_def kind_defs[] = {
	{ .id = K_SINGLE, .model = P2P_MODEL_SINGLE,
	  .policy = P2P_AC_USER_MATCH, .max_count = 1, .max_size = 100 },
	{ .id = K_ARRAY, .model = P2P_MODEL_ARRAY,
	  .policy = P2P_AC_USER_MATCH, .max_count = 10, .max_size = 100 },
	{ .id = K_DICT, .model = P2P_MODEL_DICTIONARY,
	  .policy = P2P_AC_USER_MATCH, .max_count = 5, .max_size = 100 },
	{ .id = K_NODE, .model = P2P_MODEL_ARRAY,
	  .policy = P2P_AC_NODE_MATCH, .max_count = 10, .max_size = 100 },
	{ .id = P2P_KIND_SIP_REGISTRATION, .model = P2P_MODEL_DICTIONARY,
	  .policy = P2P_AC_USER_NODE_MATCH, .max_count = 10, .max_size = 100 },
	{ .id = P2P_KIND_TURN_SERVICE, .model = P2P_MODEL_SINGLE,
	  .policy = P2P_AC_NODE_MULTIPLE, .max_count = 1, .max_size = 100,
	  .max_node_multiple = 20 },
	{ .id = K_MULTI, .model = P2P_MODEL_SINGLE,
	  .policy = P2P_AC_NODE_MULTIPLE, .max_count = 1, .max_size = 100,
	  .max_node_multiple = 20 },
};
static const p2p_store_kinds KINDS = {
	kind_defs, sizeof(kind_defs) / sizeof(kind_defs[0]), "example.org"
};
/* The kinds a store request is applied with (a test may swap them). */
static const p2p_store_kinds *apply_kinds = &KINDS;

static _Alignas(16) uint8_t arena_mem[1 << 18];
static _Alignas(16) uint8_t arena2_mem[1 << 18];

struct user {
	EVP_PKEY *key;
	X509 *cert;
	p2p_identity id;
	p2p_sig_who who;	/* as the node would get it for a message */
	p2p_id rid;		/* Resource-ID of the user name */
};

static EVP_PKEY *ca_key;
static X509 *ca_cert;
static struct user alice, bob;

static enum p2p_data_model
lookup(void *arg, uint32_t kind)
{
	(void)arg;
	for (size_t i = 0; i < KINDS.n; i++)
		if (KINDS.defs[i].id == kind)
			return KINDS.defs[i].model;
	return P2P_MODEL_UNKNOWN;
}

static const p2p_kind_lookup LK = { lookup, NULL };

static p2p_bytes
B(const void *p, size_t n)
{
	p2p_bytes b = { p, n };
	return b;
}

static p2p_bytes
S(const char *s)
{
	return B(s, strlen(s));
}

static void
user_make(struct user *u, const char *name)
{
	p2p_id node;
	p2p_issue p = { OVERLAY, name, &node, 1, 0, 0 };
	X509_REQ *csr;
	p2p_err err;

	memset(u, 0, sizeof(*u));
	assert_int_equal(p2p_id_random(&node), 0);
	p.not_after = time(NULL) + 86400;
	u->key = p2p_key_generate(P2P_KEY_EC_P256, &err);
	assert_non_null(u->key);
	csr = p2p_csr_make(u->key, &err);
	assert_non_null(csr);
	u->cert = p2p_cert_issue(ca_key, ca_cert, csr, &p, &err);
	assert_non_null(u->cert);
	X509_REQ_free(csr);
	assert_int_equal(p2p_identity_init(&u->id, u->key, u->cert, NULL,
	    &err), 0);
	u->who.cert = u->cert;		/* borrowed, never cleared */
	u->who.node = u->id.node;
	u->who.has_node = 1;
	u->who.info = u->id.info;
	p2p_id_from_name(&u->rid, name, strlen(name));
}

static void
user_free(struct user *u)
{
	p2p_identity_free(&u->id);
	X509_free(u->cert);
	EVP_PKEY_free(u->key);
}

static int
group_setup(void **state)
{
	p2p_err err;

	(void)state;
	ca_key = p2p_key_generate(P2P_KEY_EC_P256, &err);
	ca_cert = p2p_ca_create(ca_key, "Test CA", 10, &err);
	if (ca_key == NULL || ca_cert == NULL)
		return -1;
	user_make(&alice, "alice@example.org");
	user_make(&bob, "bob@example.org");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	user_free(&alice);
	user_free(&bob);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	return 0;
}

/* ---- building signed values ---- */

struct val {
	p2p_stored_data sd;
	p2p_sigbuf sb;
};

static void
val_sign(struct val *v, const struct user *u, const p2p_id *rid,
    uint32_t kind, enum p2p_data_model m)
{
	p2p_wbuf in;
	p2p_err err;

	/* The signer identity is part of what is signed. */
	v->sd.sig.signer = u->id.signer;
	p2p_w_init(&in, 256);
	assert_int_equal(p2p_stored_data_sig_input(&in, B(rid->b, P2P_ID_LEN),
	    kind, m, &v->sd), 0);
	assert_int_equal(p2p_sign_data(&u->id, in.p, in.len, &v->sd.sig,
	    &v->sb, &err), 0);
	p2p_w_free(&in);
}

static void
val_make(struct val *v, const struct user *u, const p2p_id *rid,
    uint32_t kind, uint64_t st, uint32_t life, uint32_t index,
    p2p_bytes key, const char *value, int exists)
{
	memset(v, 0, sizeof(*v));
	v->sd.storage_time = st;
	v->sd.lifetime = life;
	v->sd.value.index = index;
	v->sd.value.key = key;
	v->sd.value.data.exists = (uint8_t)exists;
	v->sd.value.data.value = S(value);
	val_sign(v, u, rid, kind, lookup(NULL, kind) != P2P_MODEL_UNKNOWN ?
	    lookup(NULL, kind) : P2P_MODEL_SINGLE);
}

/* ---- driving the store through the wire codecs ---- */

struct ctx {
	p2p_store *s;
	p2p_store_out out;
	p2p_err err;
};

static void
ctx_init(struct ctx *c, const p2p_store_limits *lim)
{
	memset(c, 0, sizeof(*c));
	c->s = p2p_store_new(lim);
	assert_non_null(c->s);
	p2p_store_out_init(&c->out);
}

static void
ctx_free(struct ctx *c)
{
	p2p_store_out_free(&c->out);
	p2p_store_free(c->s);
}

/*
 * Encode a StoreReq, decode it as the node would, apply it with the
 * message signed by signer (certificates of alice and bob attached).
 * Returns the RELOAD error code, 0 on success.
 */
static int
put_kinds(struct ctx *c, const struct user *signer, const p2p_id *rid,
    p2p_kind_data *kd, size_t nkd, int replica, uint64_t now)
{
	p2p_store_req req = { B(rid->b, P2P_ID_LEN), 0, kd, nkd }, dec;
	p2p_cert certs[2];
	p2p_store_msg msg;
	p2p_wbuf w;
	p2p_arena a;
	int rc;

	for (size_t i = 0; i < nkd; i++)
		kd[i].model = lookup(NULL, kd[i].kind);
	p2p_w_init(&w, 1024);
	assert_int_equal(p2p_store_req_encode(&w, &req), 0);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_store_req_decode(B(w.p, w.len), &a, &LK, &dec,
	    &c->err), 0);
	p2p_identity_cert(&alice.id, &certs[0]);
	p2p_identity_cert(&bob.id, &certs[1]);
	memset(&msg, 0, sizeof(msg));
	msg.certs = certs;
	msg.ncerts = 2;
	msg.signer = signer != NULL ? &signer->who : NULL;
	p2p_store_out_free(&c->out);
	memset(&c->err, 0, sizeof(c->err));
	rc = p2p_store_apply(c->s, &dec, &msg, apply_kinds, replica, now,
	    &c->out,
	    &c->err);
	/* Everything kept must have been copied out of the message. */
	memset(w.p, 0xa5, w.len);
	p2p_w_free(&w);
	if (rc != 0) {
		assert_int_not_equal(c->err.reload_code, 0);
		return c->err.reload_code;
	}
	return 0;
}

static int
put(struct ctx *c, const struct user *signer, const p2p_id *rid,
    uint32_t kind, uint64_t gen, struct val *vals, size_t n, uint64_t now)
{
	p2p_stored_data sd[16];
	p2p_kind_data kd;

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		sd[i] = vals[i].sd;
	memset(&kd, 0, sizeof(kd));
	kd.kind = kind;
	kd.generation = gen;
	kd.values = sd;
	kd.nvalues = n;
	return put_kinds(c, signer, rid, &kd, 1, 0, now);
}

static int
put_replica(struct ctx *c, const p2p_id *rid, uint32_t kind, uint64_t gen,
    struct val *vals, size_t n, uint64_t now)
{
	p2p_stored_data sd[16];
	p2p_kind_data kd;

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++)
		sd[i] = vals[i].sd;
	memset(&kd, 0, sizeof(kd));
	kd.kind = kind;
	kd.generation = gen;
	kd.values = sd;
	kd.nvalues = n;
	return put_kinds(c, NULL, rid, &kd, 1, 1, now);
}

/* Answer of a fetch, as a requester decodes it. */
struct fetched {
	p2p_fetch_ans ans;
	p2p_cert *certs;
	size_t ncerts;
};

static const p2p_kind_def *
kind_def(uint32_t kind)
{
	for (size_t i = 0; i < KINDS.n; i++)
		if (KINDS.defs[i].id == kind)
			return &KINDS.defs[i];
	fail_msg("kind %u not in the test table", (unsigned)kind);
	return NULL;
}

/* What a fetching peer checks of one value: want is the error code. */
static void
check_value(const p2p_id *rid, uint32_t kind, const p2p_stored_data *sd,
    const p2p_cert *certs, size_t ncerts, int want)
{
	p2p_sig_who who;
	p2p_err err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = p2p_store_check_value(rid, kind_def(kind), sd, certs, ncerts,
	    NULL, NOW, &who, &err);
	if (want == 0) {
		assert_int_equal(rc, 0);
		assert_true(who.cert != NULL);
		p2p_sig_who_clear(&who);
		return;
	}
	assert_int_equal(rc, -1);
	assert_int_equal(err.reload_code, want);
}

/*
 * Fetch through the codecs, then decode the answer as a requester and
 * check every signed value against the certificates handed out.
 */
static int
fetch(struct ctx *c, const p2p_id *rid, p2p_specifier *sp, size_t nsp,
    uint64_t now, struct fetched *f)
{
	p2p_fetch_req req = { B(rid->b, P2P_ID_LEN), sp, nsp }, dec;
	static p2p_wbuf w, ans;
	p2p_arena a, a2;
	int rc;

	for (size_t i = 0; i < nsp; i++)
		sp[i].model = lookup(NULL, sp[i].kind);
	p2p_w_free(&w);
	p2p_w_free(&ans);
	p2p_w_init(&w, 256);
	assert_int_equal(p2p_fetch_req_encode(&w, &req), 0);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_fetch_req_decode(B(w.p, w.len), &a, &LK, &dec,
	    &c->err), 0);
	p2p_store_out_free(&c->out);
	memset(&c->err, 0, sizeof(c->err));
	rc = p2p_store_fetch(c->s, &dec, &KINDS, now, &c->out, &c->err);
	if (rc != 0)
		return c->err.reload_code;
	p2p_w_init(&ans, 1024);
	assert_int_equal(p2p_fetch_ans_encode(&ans, &c->out.fetch), 0);
	p2p_arena_init(&a2, arena2_mem, sizeof(arena2_mem));
	assert_int_equal(p2p_fetch_ans_decode(B(ans.p, ans.len), &a2, &LK,
	    &f->ans, &c->err), 0);
	f->certs = c->out.certs;
	f->ncerts = c->out.ncerts;
	for (size_t k = 0; k < f->ans.nkinds; k++) {
		const p2p_kind_data *kd = &f->ans.kinds[k];
		for (size_t i = 0; i < kd->nvalues; i++) {
			const p2p_stored_data *sd = &kd->values[i];
			p2p_wbuf in;
			p2p_err err;
			if (sd->sig.signer.type == P2P_SIGNER_NONE) {
				assert_int_equal(sd->value.data.exists, 0);
				continue;
			}
			p2p_w_init(&in, 256);
			assert_int_equal(p2p_stored_data_sig_input(&in,
			    B(rid->b, P2P_ID_LEN), kd->kind, kd->model, sd), 0);
			assert_int_equal(p2p_verify_data(&sd->sig, in.p,
			    in.len, f->certs, f->ncerts, NULL, NULL, NULL,
			    &err), 0);
			p2p_w_free(&in);
			check_value(rid, kd->kind, sd, f->certs, f->ncerts, 0);
		}
	}
	return 0;
}

static p2p_specifier
spec(uint32_t kind, uint64_t gen)
{
	p2p_specifier s;

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.generation = gen;
	return s;
}

static void
assert_value(const p2p_stored_data *sd, const char *want, int exists)
{
	assert_int_equal(sd->value.data.exists, exists);
	assert_int_equal(sd->value.data.value.len, strlen(want));
	if (sd->value.data.value.len > 0)
		assert_memory_equal(sd->value.data.value.p, want, strlen(want));
}

/* The single value of K_SINGLE at alice's resource is want. */
static void
assert_single(struct ctx *c, const char *want)
{
	p2p_specifier sp = spec(K_SINGLE, 0);
	struct fetched f;

	assert_int_equal(fetch(c, &alice.rid, &sp, 1, NOW + 1, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	assert_value(&f.ans.kinds[0].values[0], want, 1);
}

/* ---- tests ---- */

static void
test_single_round_trip(void **state)
{
	struct ctx c;
	struct val v;
	struct fetched f;
	p2p_specifier sp = spec(K_SINGLE, 0);
	p2p_store_stats st;
	p2p_id other;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "hello", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    0);
	assert_int_equal(c.out.store.nkinds, 1);
	assert_int_equal(c.out.store.kinds[0].kind, K_SINGLE);
	assert_int_equal(c.out.store.kinds[0].generation, 1);

	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW + 20500, &f), 0);
	assert_int_equal(f.ans.nkinds, 1);
	assert_int_equal(f.ans.kinds[0].generation, 1);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	assert_value(&f.ans.kinds[0].values[0], "hello", 1);
	assert_int_equal(f.ans.kinds[0].values[0].storage_time, NOW);
	assert_int_equal(f.ans.kinds[0].values[0].lifetime, 39);
	assert_int_equal(f.ncerts, 1);

	/* Up to date: the kind comes back without values. */
	sp = spec(K_SINGLE, 1);
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 0);
	assert_int_equal(f.ans.kinds[0].generation, 1);

	/* A newer value replaces it and moves the counter. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW + 5, 60, 0, B(NULL, 0),
	    "world", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 1, &v, 1, NOW),
	    0);
	assert_int_equal(c.out.store.kinds[0].generation, 2);
	assert_single(&c, "world");
	p2p_store_get_stats(c.s, &st);
	assert_int_equal(st.resources, 1);
	assert_int_equal(st.values, 1);
	assert_int_equal(st.certs, 1);
	assert_true(st.bytes >= 5);

	/* Nothing stored there: a synthesized nonexistent value. */
	p2p_id_from_name(&other, "nobody", 6);
	sp = spec(K_SINGLE, 0);
	assert_int_equal(fetch(&c, &other, &sp, 1, NOW, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	assert_int_equal(f.ans.kinds[0].generation, 0);
	assert_value(&f.ans.kinds[0].values[0], "", 0);
	assert_int_equal(f.ans.kinds[0].values[0].sig.signer.type,
	    P2P_SIGNER_NONE);
	assert_int_equal(f.ncerts, 0);
	ctx_free(&c);
}

static void
test_array_append_and_ranges(void **state)
{
	struct ctx c;
	struct val v[3];
	struct fetched f;
	p2p_array_range r[2];
	p2p_specifier sp = spec(K_ARRAY, 0);
	p2p_fetch_req req;
	const p2p_kind_data *kd;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v[0], &alice, &alice.rid, K_ARRAY, NOW, 60,
	    P2P_ARRAY_APPEND, B(NULL, 0), "a0", 1);
	val_make(&v[1], &alice, &alice.rid, K_ARRAY, NOW, 60,
	    P2P_ARRAY_APPEND, B(NULL, 0), "a1", 1);
	val_make(&v[2], &alice, &alice.rid, K_ARRAY, NOW, 60,
	    P2P_ARRAY_APPEND, B(NULL, 0), "a2", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_ARRAY, 0, v, 3, NOW),
	    0);
	val_make(&v[0], &alice, &alice.rid, K_ARRAY, NOW, 60,
	    P2P_ARRAY_APPEND, B(NULL, 0), "a3", 1);
	val_make(&v[1], &alice, &alice.rid, K_ARRAY, NOW, 60, 6, B(NULL, 0),
	    "a6", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_ARRAY, 1, v, 2, NOW),
	    0);
	assert_int_equal(c.out.store.kinds[0].generation, 2);

	/* Everything: 0..6 with holes 4 and 5 synthesized. */
	r[0].first = 0;
	r[0].last = P2P_ARRAY_LAST;
	sp.ranges = r;
	sp.nranges = 1;
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	kd = &f.ans.kinds[0];
	assert_int_equal(kd->nvalues, 7);
	for (uint32_t i = 0; i < 7; i++)
		assert_int_equal(kd->values[i].value.index, i);
	assert_value(&kd->values[0], "a0", 1);
	assert_value(&kd->values[2], "a2", 1);
	assert_value(&kd->values[3], "a3", 1);
	assert_value(&kd->values[4], "", 0);
	assert_value(&kd->values[5], "", 0);
	assert_value(&kd->values[6], "a6", 1);
	assert_int_equal(f.ncerts, 1);

	/* Two ranges, the second the last element only. */
	r[0].first = 1;
	r[0].last = 2;
	r[1].first = P2P_ARRAY_LAST;
	r[1].last = P2P_ARRAY_LAST;
	sp.nranges = 2;
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	kd = &f.ans.kinds[0];
	assert_int_equal(kd->nvalues, 3);
	assert_value(&kd->values[0], "a1", 1);
	assert_value(&kd->values[1], "a2", 1);
	assert_value(&kd->values[2], "a6", 1);
	assert_int_equal(kd->values[2].value.index, 6);

	/* Past the end: nothing; backwards: refused. */
	r[0].first = 8;
	r[0].last = 20;
	sp.nranges = 1;
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 0);
	/* (The encoder refuses it, so straight to the store.) */
	r[0].first = 5;
	r[0].last = 3;
	req.specs = &sp;
	req.nspecs = 1;
	req.resource = B(alice.rid.b, P2P_ID_LEN);
	p2p_store_out_free(&c.out);
	assert_int_equal(p2p_store_fetch(c.s, &req, &KINDS, NOW, &c.out,
	    &c.err), -1);
	assert_int_equal(c.err.reload_code, P2P_ERR_INVALID_MESSAGE);

	/* Overwrite index 1 with a newer value. */
	val_make(&v[0], &alice, &alice.rid, K_ARRAY, NOW + 1, 60, 1,
	    B(NULL, 0), "b1", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_ARRAY, 0, v, 1, NOW),
	    0);
	r[0].first = 1;
	r[0].last = 1;
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	assert_value(&f.ans.kinds[0].values[0], "b1", 1);
	assert_int_equal(p2p_store_kind_values(c.s, K_ARRAY), 5);
	ctx_free(&c);
}

static void
test_dictionary_keys(void **state)
{
	struct ctx c;
	struct val v[3];
	struct fetched f;
	p2p_bytes keys[2] = { { (const uint8_t *)"b", 1 },
	    { (const uint8_t *)"zz", 2 } };
	p2p_specifier sp = spec(K_DICT, 0);
	const p2p_kind_data *kd;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v[0], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("c"),
	    "vc", 1);
	val_make(&v[1], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("a"),
	    "va", 1);
	val_make(&v[2], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("b"),
	    "vb", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, v, 3, NOW),
	    0);

	/* Wildcard: every key, in key order. */
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	kd = &f.ans.kinds[0];
	assert_int_equal(kd->nvalues, 3);
	assert_int_equal(kd->values[0].value.key.len, 1);
	assert_memory_equal(kd->values[0].value.key.p, "a", 1);
	assert_value(&kd->values[0], "va", 1);
	assert_value(&kd->values[1], "vb", 1);
	assert_value(&kd->values[2], "vc", 1);

	/* Named keys: one held, one never stored. */
	sp.keys = keys;
	sp.nkeys = 2;
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	kd = &f.ans.kinds[0];
	assert_int_equal(kd->nvalues, 2);
	assert_value(&kd->values[0], "vb", 1);
	assert_value(&kd->values[1], "", 0);
	assert_int_equal(kd->values[1].value.key.len, 2);
	assert_memory_equal(kd->values[1].value.key.p, "zz", 2);

	/* Replace a, delete b (a tombstone). */
	val_make(&v[0], &alice, &alice.rid, K_DICT, NOW + 1, 60, 0, S("a"),
	    "va2", 1);
	val_make(&v[1], &alice, &alice.rid, K_DICT, NOW + 1, 60, 0, S("b"),
	    "", 0);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 1, v, 2, NOW),
	    0);
	sp.nkeys = 0;
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	kd = &f.ans.kinds[0];
	assert_int_equal(kd->nvalues, 3);
	assert_value(&kd->values[0], "va2", 1);
	assert_value(&kd->values[1], "", 0);
	assert_int_not_equal(kd->values[1].sig.signer.type, P2P_SIGNER_NONE);
	assert_value(&kd->values[2], "vc", 1);
	ctx_free(&c);
}

static void
test_stat_hashes(void **state)
{
	struct ctx c;
	struct val v[2];
	p2p_specifier sp = spec(K_DICT, 0);
	p2p_stat_req req = { B(alice.rid.b, P2P_ID_LEN), &sp, 1 };
	const p2p_stat_kind *sk;
	uint8_t buf[64], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	p2p_wbuf w;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v[0], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("k1"),
	    "first value", 1);
	val_make(&v[1], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("k2"),
	    "2nd", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, v, 2, NOW),
	    0);
	sp.model = P2P_MODEL_DICTIONARY;
	assert_int_equal(p2p_store_stat(c.s, &req, &KINDS, NOW + 2000,
	    &c.out, &c.err), 0);
	assert_int_equal(c.out.stat.nkinds, 1);
	sk = &c.out.stat.kinds[0];
	assert_int_equal(sk->generation, 1);
	assert_int_equal(sk->nvalues, 2);
	for (size_t i = 0; i < 2; i++) {
		const p2p_stored_meta *sm = &sk->values[i];
		p2p_bytes val = v[i].sd.value.data.value;
		assert_int_equal(sm->key.len, 2);
		assert_memory_equal(sm->key.p, v[i].sd.value.key.p, 2);
		assert_int_equal(sm->meta.exists, 1);
		assert_int_equal(sm->meta.value_length, val.len);
		assert_int_equal(sm->lifetime, 58);
		assert_int_equal(sm->storage_time, NOW);
		/* The hash covers the value with its 4-byte length. */
		buf[0] = buf[1] = buf[2] = 0;
		buf[3] = (uint8_t)val.len;
		memcpy(buf + 4, val.p, val.len);
		assert_int_equal(EVP_Digest(buf, 4 + val.len, md, &mdlen,
		    EVP_sha256(), NULL), 1);
		assert_int_equal(sm->meta.hash_alg, P2P_HASH_SHA256);
		assert_int_equal(sm->meta.hash.len, mdlen);
		assert_memory_equal(sm->meta.hash.p, md, mdlen);
		/* value_length is the StoredData length field. */
		p2p_w_init(&w, 256);
		assert_int_equal(p2p_stored_data_encode(&w,
		    P2P_MODEL_DICTIONARY, &v[i].sd), 0);
		assert_int_equal(sm->value_length, w.len - 4);
		p2p_w_free(&w);
	}
	/* It encodes as a StatAns. */
	p2p_w_init(&w, 256);
	assert_int_equal(p2p_stat_ans_encode(&w, &c.out.stat), 0);
	p2p_w_free(&w);
	ctx_free(&c);
}

static void
test_find(void **state)
{
	struct ctx c;
	struct val v;
	p2p_id ids[2], target;
	uint32_t kinds[2] = { K_SINGLE, K_UNKNOWN };
	p2p_find_req req = { B(target.b, P2P_ID_LEN), kinds, 2 };
	const struct user *lo, *hi;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "a", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    0);
	val_make(&v, &bob, &bob.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0), "b", 1);
	assert_int_equal(put(&c, &bob, &bob.rid, K_SINGLE, 0, &v, 1, NOW), 0);
	lo = p2p_id_cmp(&alice.rid, &bob.rid) < 0 ? &alice : &bob;
	hi = lo == &alice ? &bob : &alice;
	ids[0] = lo->rid;
	ids[1] = hi->rid;

	/* At the lower id: itself. Just after it: the higher one. */
	target = ids[0];
	assert_int_equal(p2p_store_find(c.s, &req, &KINDS, NULL, NOW, &c.out,
	    &c.err), 0);
	assert_int_equal(c.out.find.nresults, 2);
	assert_int_equal(c.out.find.results[0].kind, K_SINGLE);
	assert_int_equal(c.out.find.results[0].closest.len, P2P_ID_LEN);
	assert_memory_equal(c.out.find.results[0].closest.p, ids[0].b,
	    P2P_ID_LEN);
	assert_true(p2p_find_kind_is_none(&c.out.find.results[1]));
	p2p_store_out_free(&c.out);
	p2p_id_add_u64(&target, &ids[0], 1);
	assert_int_equal(p2p_store_find(c.s, &req, &KINDS, NULL, NOW, &c.out,
	    &c.err), 0);
	assert_memory_equal(c.out.find.results[0].closest.p, ids[1].b,
	    P2P_ID_LEN);
	p2p_store_out_free(&c.out);

	/* Bounded by self: nothing between target and self. */
	assert_int_equal(p2p_store_find(c.s, &req, &KINDS, &target, NOW,
	    &c.out, &c.err), 0);
	assert_true(p2p_find_kind_is_none(&c.out.find.results[0]));
	p2p_store_out_free(&c.out);

	/* Past the higher id, the whole ring wraps to the lower one. */
	p2p_id_add_u64(&target, &ids[1], 1);
	assert_int_equal(p2p_store_find(c.s, &req, &KINDS, NULL, NOW, &c.out,
	    &c.err), 0);
	assert_memory_equal(c.out.find.results[0].closest.p, ids[0].b,
	    P2P_ID_LEN);
	p2p_store_out_free(&c.out);

	/* Expired values are not found. */
	assert_int_equal(p2p_store_find(c.s, &req, &KINDS, NULL, NOW + 60000,
	    &c.out, &c.err), 0);
	assert_true(p2p_find_kind_is_none(&c.out.find.results[0]));
	ctx_free(&c);
}

static void
test_user_match_refuses_other_user(void **state)
{
	struct ctx c;
	struct val v;
	p2p_store_stats before, after;
	p2p_cert certs[2];

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "alice's", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    0);
	p2p_store_get_stats(c.s, &before);

	/* Bob signs a value for alice's resource. */
	val_make(&v, &bob, &alice.rid, K_SINGLE, NOW + 10, 60, 0, B(NULL, 0),
	    "bob's", 1);
	p2p_identity_cert(&alice.id, &certs[0]);
	p2p_identity_cert(&bob.id, &certs[1]);
	check_value(&alice.rid, K_SINGLE, &v.sd, certs, 2, P2P_ERR_FORBIDDEN);
	check_value(&alice.rid, K_SINGLE, &v.sd, certs, 1, P2P_ERR_FORBIDDEN);
	assert_int_equal(put(&c, &bob, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* Alice's value sent by bob: the message signer fails the policy. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW + 10, 60, 0,
	    B(NULL, 0), "relayed", 1);
	assert_int_equal(put(&c, &bob, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	assert_single(&c, "alice's");
	p2p_store_get_stats(c.s, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(p2p_store_generation(c.s, &alice.rid, K_SINGLE), 1);

	/* The same value is fine as a replica store. */
	assert_int_equal(put_replica(&c, &alice.rid, K_SINGLE, 4, &v, 1, NOW),
	    0);
	assert_single(&c, "relayed");
	assert_int_equal(p2p_store_generation(c.s, &alice.rid, K_SINGLE), 4);
	ctx_free(&c);
}

static void
test_node_match(void **state)
{
	struct ctx c;
	struct val v;
	struct fetched f;
	p2p_id rid;
	p2p_array_range r = { 0, P2P_ARRAY_LAST };
	p2p_specifier sp = spec(K_NODE, 0);

	(void)state;
	ctx_init(&c, NULL);
	p2p_id_from_name(&rid, alice.id.node.b, P2P_ID_LEN);
	val_make(&v, &alice, &rid, K_NODE, NOW, 60, P2P_ARRAY_APPEND,
	    B(NULL, 0), "cert of alice", 1);
	assert_int_equal(put(&c, &alice, &rid, K_NODE, 0, &v, 1, NOW), 0);
	val_make(&v, &bob, &rid, K_NODE, NOW + 1, 60, 0, B(NULL, 0),
	    "bob was here", 1);
	assert_int_equal(put(&c, &bob, &rid, K_NODE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* Alice at a resource named by her user name, not her Node-ID. */
	val_make(&v, &alice, &alice.rid, K_NODE, NOW, 60, 0, B(NULL, 0),
	    "x", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_NODE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	sp.ranges = &r;
	sp.nranges = 1;
	assert_int_equal(fetch(&c, &rid, &sp, 1, NOW, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	assert_value(&f.ans.kinds[0].values[0], "cert of alice", 1);
	ctx_free(&c);
}

static void
test_user_node_match(void **state)
{
	struct ctx c;
	struct val v;
	struct fetched f;
	p2p_specifier sp = spec(P2P_KIND_SIP_REGISTRATION, 0);
	const uint32_t K = P2P_KIND_SIP_REGISTRATION;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v, &alice, &alice.rid, K, NOW, 60, 0,
	    B(alice.id.node.b, P2P_ID_LEN), "alice at home", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K, 0, &v, 1, NOW), 0);
	/* Alice, but under bob's Node-ID as key. */
	val_make(&v, &alice, &alice.rid, K, NOW, 60, 0,
	    B(bob.id.node.b, P2P_ID_LEN), "elsewhere", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* Bob, with his own Node-ID, at alice's user resource. */
	val_make(&v, &bob, &alice.rid, K, NOW, 60, 0,
	    B(bob.id.node.b, P2P_ID_LEN), "bob posing", 1);
	assert_int_equal(put(&c, &bob, &alice.rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* Bob overwriting alice's entry. */
	val_make(&v, &bob, &alice.rid, K, NOW + 1, 60, 0,
	    B(alice.id.node.b, P2P_ID_LEN), "hijack", 1);
	assert_int_equal(put(&c, &bob, &alice.rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	assert_value(&f.ans.kinds[0].values[0], "alice at home", 1);
	ctx_free(&c);
}

/* RFC 7904's domain-restriction on the SIP-REGISTRATION kind: absent,
 * every domain; disabled, the overlay's own only; enabled, the patterns
 * (whole domain, case ignored). */
static void
test_domain_restriction(void **state)
{
	p2p_kind_def defs[sizeof(kind_defs) / sizeof(kind_defs[0])];
	p2p_store_kinds kinds = { defs, sizeof(defs) / sizeof(defs[0]),
	    "example.org" };
	char *pats[] = { "exa[m]ple\\.org", "other\\.net" };
	char *nomatch[] = { "example", "ample\\.org", "other\\.net" };
	p2p_kind_def *sip = NULL;
	const uint32_t K = P2P_KIND_SIP_REGISTRATION;
	uint64_t st = NOW;
	struct ctx c;
	struct val v;
/* A fresh registration each time (a later storage time). */
#define TRY() (val_make(&v, &alice, &alice.rid, K, ++st, 60, 0, \
	    B(alice.id.node.b, P2P_ID_LEN), "alice at home", 1), \
	    put(&c, &alice, &alice.rid, K, 0, &v, 1, NOW))

	(void)state;
	memcpy(defs, kind_defs, sizeof(defs));
	for (size_t i = 0; i < kinds.n; i++)
		if (defs[i].id == K)
			sip = &defs[i];
	assert_non_null(sip);
	apply_kinds = &kinds;
	ctx_init(&c, NULL);

	/* Disabled: alice@example.org is of the overlay's own domain. */
	sip->domain_restriction = 1;
	sip->domain_enable = 0;
	assert_int_equal(TRY(), 0);
	kinds.domain = "Example.ORG";
	assert_int_equal(TRY(), 0);
	kinds.domain = "other.net";
	assert_int_equal(TRY(), P2P_ERR_FORBIDDEN);
	kinds.domain = NULL;
	assert_int_equal(TRY(), P2P_ERR_FORBIDDEN);

	/* Enabled: a pattern must match the whole domain. */
	sip->domain_enable = 1;
	sip->patterns = pats;
	sip->npatterns = 2;
	assert_int_equal(TRY(), 0);
	sip->patterns = nomatch;
	sip->npatterns = 3;
	assert_int_equal(TRY(), P2P_ERR_FORBIDDEN);
	sip->npatterns = 0;
	assert_int_equal(TRY(), P2P_ERR_FORBIDDEN);

	/* Without the element, every domain. */
	sip->domain_restriction = 0;
	kinds.domain = "other.net";
	assert_int_equal(TRY(), 0);
#undef TRY
	apply_kinds = &KINDS;
	ctx_free(&c);
}

static void
test_node_multiple(void **state)
{
	struct ctx c;
	struct val v;
	p2p_id rid;
	const uint32_t K = K_MULTI;

	(void)state;
	ctx_init(&c, NULL);
	p2p_id_node_multiple(&rid, &alice.id.node, 3);
	val_make(&v, &alice, &rid, K, NOW, 60, 0, B(NULL, 0), "turn", 1);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW), 0);
	val_make(&v, &bob, &rid, K, NOW + 1, 60, 0, B(NULL, 0), "turn", 1);
	assert_int_equal(put(&c, &bob, &rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	p2p_id_node_multiple(&rid, &alice.id.node, 20);
	val_make(&v, &alice, &rid, K, NOW, 60, 0, B(NULL, 0), "turn", 1);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW), 0);
	/* Past max-node-multiple. */
	p2p_id_node_multiple(&rid, &alice.id.node, 21);
	val_make(&v, &alice, &rid, K, NOW, 60, 0, B(NULL, 0), "turn", 1);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	ctx_free(&c);
}

/* A TURN-SERVICE value: TurnServer { iteration, 192.0.2.7:port }. */
static void
turn_val(struct val *v, p2p_wbuf *w, const struct user *u, const p2p_id *rid,
    uint64_t st, uint8_t iteration, uint16_t port)
{
	static const uint8_t ip[4] = { 192, 0, 2, 7 };
	p2p_turn_server ts;

	ts.iteration = iteration;
	p2p_addr_port_v4(&ts.addr, ip, port);
	p2p_w_init(w, 16);
	assert_int_equal(p2p_turn_server_encode(w, &ts), 0);
	memset(v, 0, sizeof(*v));
	v->sd.storage_time = st;
	v->sd.lifetime = 60;
	v->sd.value.data.exists = 1;
	v->sd.value.data.value = B(w->p, w->len);
	val_sign(v, u, rid, P2P_KIND_TURN_SERVICE, P2P_MODEL_SINGLE);
}

/* TURN-SERVICE (RFC 6940 s9): NODE-MULTIPLE, and the value's iteration
 * must be the one its Resource-ID was made with. */
static void
test_turn_service(void **state)
{
	const uint32_t K = P2P_KIND_TURN_SERVICE;
	struct ctx c;
	struct val v;
	p2p_wbuf w;
	p2p_id rid;
	p2p_cert cert;

	(void)state;
	p2p_identity_cert(&alice.id, &cert);
	ctx_init(&c, NULL);
	p2p_id_node_multiple(&rid, &alice.id.node, 3);
	turn_val(&v, &w, &alice, &rid, NOW, 3, 3478);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW), 0);
	/* The fetching side's check agrees. */
	check_value(&rid, K, &v.sd, &cert, 1, 0);
	p2p_w_free(&w);
	/* Another iteration than the Resource-ID's. */
	turn_val(&v, &w, &alice, &rid, NOW + 1, 4, 3478);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	check_value(&rid, K, &v.sd, &cert, 1, P2P_ERR_FORBIDDEN);
	p2p_w_free(&w);
	/* Iteration 0, and one past max-node-multiple. */
	p2p_id_node_multiple(&rid, &alice.id.node, 0);
	turn_val(&v, &w, &alice, &rid, NOW + 2, 0, 3478);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	p2p_w_free(&w);
	p2p_id_node_multiple(&rid, &alice.id.node, 21);
	turn_val(&v, &w, &alice, &rid, NOW + 3, 21, 3478);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	p2p_w_free(&w);
	/* Someone else's Resource-ID, with a matching iteration. */
	p2p_id_node_multiple(&rid, &alice.id.node, 5);
	turn_val(&v, &w, &bob, &rid, NOW + 4, 5, 3478);
	assert_int_equal(put(&c, &bob, &rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	p2p_w_free(&w);
	/* A value that is not a TurnServer. */
	val_make(&v, &alice, &rid, K, NOW + 5, 60, 0, B(NULL, 0), "turn", 1);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* Withdrawing: a tombstone carries no TurnServer. */
	p2p_id_node_multiple(&rid, &alice.id.node, 3);
	val_make(&v, &alice, &rid, K, NOW + 6, 60, 0, B(NULL, 0), "", 0);
	assert_int_equal(put(&c, &alice, &rid, K, 0, &v, 1, NOW), 0);
	ctx_free(&c);
}

static void
test_forged_signature(void **state)
{
	struct ctx c;
	struct val v;
	uint8_t copy[P2P_SIG_MAX];

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "genuine", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    0);
	/* A bit flipped in the signature. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW + 1, 60, 0, B(NULL, 0),
	    "forged", 1);
	memcpy(copy, v.sd.sig.value.p, v.sd.sig.value.len);
	copy[v.sd.sig.value.len / 2] ^= 0x10;
	v.sd.sig.value.p = copy;
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* The signature of another value. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW + 1, 60, 0, B(NULL, 0),
	    "signed", 1);
	v.sd.value.data.value = S("swapped");
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* A later storage time than signed. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW + 1, 60, 0, B(NULL, 0),
	    "signed", 1);
	v.sd.storage_time++;
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	/* Unsigned. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW + 1, 60, 0, B(NULL, 0),
	    "unsigned", 1);
	p2p_stored_data_nonexistent(&v.sd, 0, B(NULL, 0));
	v.sd.storage_time = NOW + 1;
	v.sd.value.data.exists = 1;
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	assert_single(&c, "genuine");
	ctx_free(&c);
}

/* The store holds exactly alice's K_SINGLE "v1" at generation 1. */
static void
assert_untouched(struct ctx *c, const p2p_store_stats *before)
{
	p2p_store_stats now;

	p2p_store_get_stats(c->s, &now);
	assert_memory_equal(before, &now, sizeof(now));
	assert_single(c, "v1");
	assert_int_equal(p2p_store_generation(c->s, &alice.rid, K_SINGLE), 1);
}

static void
test_errors_change_nothing(void **state)
{
	struct ctx c;
	struct val v[11];
	p2p_store_stats before;
	char big[102];
	p2p_kind_data kd[2];
	p2p_wbuf w;
	p2p_error_resp er;
	p2p_arena a;
	p2p_store_ans ga;
	uint32_t *kinds;
	size_t nk;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "v1", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, v, 1, NOW),
	    0);
	p2p_store_get_stats(c.s, &before);

	/* Too large: over max-size. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW + 1, 60, 0,
	    B(NULL, 0), big, 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, v, 1, NOW),
	    P2P_ERR_DATA_TOO_LARGE);
	assert_untouched(&c, &before);

	/* Too many: index 10 of a 10-entry array; 6 keys of 5. */
	val_make(&v[0], &alice, &alice.rid, K_ARRAY, NOW, 60, 10, B(NULL, 0),
	    "x", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_ARRAY, 0, v, 1, NOW),
	    P2P_ERR_DATA_TOO_LARGE);
	for (int i = 0; i < 6; i++) {
		static const char *keys[] = { "1", "2", "3", "4", "5", "6" };
		val_make(&v[i], &alice, &alice.rid, K_DICT, NOW, 60, 0,
		    S(keys[i]), "x", 1);
	}
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, v, 6, NOW),
	    P2P_ERR_DATA_TOO_LARGE);
	assert_untouched(&c, &before);
	/* Eleven appends to a 10-entry array. */
	for (int i = 0; i < 11; i++)
		val_make(&v[i], &alice, &alice.rid, K_ARRAY, NOW, 60,
		    P2P_ARRAY_APPEND, B(NULL, 0), "x", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_ARRAY, 0, v, 11, NOW),
	    P2P_ERR_DATA_TOO_LARGE);
	assert_untouched(&c, &before);

	/* Unknown kind, with the kind in error_info. */
	val_make(&v[0], &alice, &alice.rid, K_UNKNOWN, NOW, 60, 0, B(NULL, 0),
	    "x", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_UNKNOWN, 0, v, 1, NOW),
	    P2P_ERR_UNKNOWN_KIND);
	assert_int_equal(c.out.nunknown, 1);
	assert_int_equal(c.out.unknown[0], K_UNKNOWN);
	p2p_w_init(&w, 64);
	assert_int_equal(p2p_store_error_encode(&w, &c.err, &c.out), 0);
	p2p_arena_init(&a, arena2_mem, sizeof(arena2_mem));
	assert_int_equal(p2p_error_decode(B(w.p, w.len), &a, &er, &c.err), 0);
	assert_int_equal(er.code, P2P_ERR_UNKNOWN_KIND);
	assert_int_equal(p2p_error_kinds_decode(er.info, &a, &kinds, &nk,
	    &c.err), 0);
	assert_int_equal(nk, 1);
	assert_int_equal(kinds[0], K_UNKNOWN);
	p2p_w_free(&w);
	assert_untouched(&c, &before);

	/* Data too old: same storage time, then an older one. */
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "same time", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, v, 1, NOW),
	    P2P_ERR_DATA_TOO_OLD);
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW - 1, 60, 0,
	    B(NULL, 0), "older", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, v, 1, NOW),
	    P2P_ERR_DATA_TOO_OLD);
	assert_untouched(&c, &before);

	/* Generation: move it to 2 then store with 1. */
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW + 1, 60, 0,
	    B(NULL, 0), "v1", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 1, v, 1, NOW),
	    0);
	p2p_store_get_stats(c.s, &before);
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW + 2, 60, 0,
	    B(NULL, 0), "late", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 1, v, 1, NOW),
	    P2P_ERR_GENERATION_TOO_LOW);
	assert_int_equal(c.out.store.nkinds, 1);
	assert_int_equal(c.out.store.kinds[0].generation, 2);
	p2p_w_init(&w, 64);
	assert_int_equal(p2p_store_error_encode(&w, &c.err, &c.out), 0);
	p2p_arena_init(&a, arena2_mem, sizeof(arena2_mem));
	assert_int_equal(p2p_gen_error_decode(B(w.p, w.len), &a, &ga, &c.err),
	    0);
	assert_int_equal(ga.nkinds, 1);
	assert_int_equal(ga.kinds[0].kind, K_SINGLE);
	assert_int_equal(ga.kinds[0].generation, 2);
	p2p_w_free(&w);
	assert_single(&c, "v1");
	assert_int_equal(p2p_store_generation(c.s, &alice.rid, K_SINGLE), 2);

	/* All or nothing: a good kind and a bad one in one request. */
	val_make(&v[0], &alice, &alice.rid, K_ARRAY, NOW, 60, 0, B(NULL, 0),
	    "fine", 1);
	val_make(&v[1], &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "too old", 1);
	memset(kd, 0, sizeof(kd));
	kd[0].kind = K_ARRAY;
	kd[0].values = &v[0].sd;
	kd[0].nvalues = 1;
	kd[1].kind = K_SINGLE;
	kd[1].values = &v[1].sd;
	kd[1].nvalues = 1;
	assert_int_equal(put_kinds(&c, &alice, &alice.rid, kd, 2, 0, NOW),
	    P2P_ERR_DATA_TOO_OLD);
	assert_int_equal(p2p_store_kind_values(c.s, K_ARRAY), 0);
	assert_int_equal(p2p_store_generation(c.s, &alice.rid, K_ARRAY), 0);
	ctx_free(&c);
}

static void
test_expiry(void **state)
{
	struct ctx c;
	struct val v[2];
	struct fetched f;
	p2p_specifier sp = spec(K_DICT, 0);
	p2p_store_stats st;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v[0], &alice, &alice.rid, K_DICT, NOW, 10, 0, S("short"),
	    "s", 1);
	val_make(&v[1], &alice, &alice.rid, K_DICT, NOW, 100, 0, S("long"),
	    "l", 1);
	assert_int_equal(p2p_store_next_expiry(c.s), 0);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, v, 2, NOW),
	    0);
	/* The earliest of the two lifetimes. */
	assert_int_equal(p2p_store_next_expiry(c.s), NOW + 10000);
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW + 9999, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 2);
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW + 10000, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	assert_value(&f.ans.kinds[0].values[0], "l", 1);

	assert_int_equal(p2p_store_expire(c.s, NOW + 10000), 1);
	assert_int_equal(p2p_store_next_expiry(c.s), NOW + 100000);
	p2p_store_get_stats(c.s, &st);
	assert_int_equal(st.values, 1);
	assert_int_equal(st.resources, 1);
	assert_int_equal(p2p_store_expire(c.s, NOW + 100000), 1);
	p2p_store_get_stats(c.s, &st);
	assert_int_equal(st.values, 0);
	assert_int_equal(st.resources, 0);
	assert_int_equal(st.certs, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW + 100000, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 0);

	/* An expired value may be replaced by an older storage time. */
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW, 1, 0, B(NULL, 0),
	    "brief", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, v, 1, NOW),
	    0);
	val_make(&v[0], &alice, &alice.rid, K_SINGLE, NOW - 5, 60, 0,
	    B(NULL, 0), "again", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 0, v, 1,
	    NOW + 2000), 0);
	assert_single(&c, "again");
	p2p_store_get_stats(c.s, &st);
	assert_int_equal(st.values, 1);
	ctx_free(&c);
}

static void
test_replica_copies_counters(void **state)
{
	struct ctx c;
	struct val v;

	(void)state;
	ctx_init(&c, NULL);
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW, 60, 0, B(NULL, 0),
	    "v1", 1);
	assert_int_equal(put_replica(&c, &alice.rid, K_SINGLE, 7, &v, 1, NOW),
	    0);
	assert_int_equal(c.out.store.kinds[0].generation, 7);
	assert_int_equal(p2p_store_generation(c.s, &alice.rid, K_SINGLE), 7);
	/* The same value again (a repeated replication) is accepted. */
	assert_int_equal(put_replica(&c, &alice.rid, K_SINGLE, 9, &v, 1, NOW),
	    0);
	assert_int_equal(p2p_store_generation(c.s, &alice.rid, K_SINGLE), 9);
	/* An older one is not; a forged one neither. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW - 1, 60, 0, B(NULL, 0),
	    "v0", 1);
	assert_int_equal(put_replica(&c, &alice.rid, K_SINGLE, 10, &v, 1, NOW),
	    P2P_ERR_DATA_TOO_OLD);
	val_make(&v, &bob, &alice.rid, K_SINGLE, NOW + 1, 60, 0, B(NULL, 0),
	    "bob", 1);
	assert_int_equal(put_replica(&c, &alice.rid, K_SINGLE, 10, &v, 1, NOW),
	    P2P_ERR_FORBIDDEN);
	assert_single(&c, "v1");
	assert_int_equal(p2p_store_generation(c.s, &alice.rid, K_SINGLE), 9);
	/* An original store then counts on from the copied counter. */
	val_make(&v, &alice, &alice.rid, K_SINGLE, NOW + 1, 60, 0, B(NULL, 0),
	    "v2", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_SINGLE, 9, &v, 1, NOW),
	    0);
	assert_int_equal(c.out.store.kinds[0].generation, 10);
	ctx_free(&c);
}

/* Replays every visited item into another store as replica stores. */
struct replay {
	struct ctx *to;
	size_t items, values;
	uint32_t lifetime;
	p2p_id seen[8];
};

static int
replay_item(void *arg, const p2p_store_item *it)
{
	struct replay *rp = arg;
	p2p_kind_data kd;
	p2p_store_req req;
	p2p_store_msg msg;
	p2p_store_out out;
	p2p_err err;
	int rc;

	assert_true(rp->items < 8);
	rp->seen[rp->items++] = it->resource;
	rp->values += it->nvalues;
	rp->lifetime = it->values[0].lifetime;
	assert_int_equal(it->ncerts, 1);
	memset(&kd, 0, sizeof(kd));
	kd.kind = it->kind;
	kd.model = it->model;
	kd.generation = it->generation;
	kd.values = (p2p_stored_data *)it->values;
	kd.nvalues = it->nvalues;
	req.resource = B(it->resource.b, P2P_ID_LEN);
	req.replica_number = 1;
	req.kinds = &kd;
	req.nkinds = 1;
	memset(&msg, 0, sizeof(msg));
	msg.certs = it->certs;
	msg.ncerts = it->ncerts;
	p2p_store_out_init(&out);
	rc = p2p_store_apply(rp->to->s, &req, &msg, &KINDS, 1, NOW + 30000,
	    &out, &err);
	p2p_store_out_free(&out);
	assert_int_equal(rc, 0);
	return 0;
}

static void
test_replication_range(void **state)
{
	struct ctx c, d;
	struct val v[2];
	struct replay rp;
	p2p_id lo, hi;
	const struct user *first;
	p2p_store_stats st;

	(void)state;
	ctx_init(&c, NULL);
	ctx_init(&d, NULL);
	val_make(&v[0], &alice, &alice.rid, K_DICT, NOW, 100, 0, S("a"),
	    "1", 1);
	val_make(&v[1], &alice, &alice.rid, K_DICT, NOW, 100, 0, S("b"),
	    "2", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, v, 2, NOW),
	    0);
	val_make(&v[0], &bob, &bob.rid, K_SINGLE, NOW, 100, 0, B(NULL, 0),
	    "3", 1);
	assert_int_equal(put(&c, &bob, &bob.rid, K_SINGLE, 0, v, 1, NOW), 0);
	assert_int_equal(put(&c, &bob, &bob.rid, K_SINGLE, 0, v, 1, NOW),
	    P2P_ERR_DATA_TOO_OLD);
	val_make(&v[0], &bob, &bob.rid, K_SINGLE, NOW + 1, 100, 0, B(NULL, 0),
	    "4", 1);
	assert_int_equal(put(&c, &bob, &bob.rid, K_SINGLE, 0, v, 1, NOW), 0);

	/* The range (x - 1, x] holds exactly resource x. */
	first = p2p_id_cmp(&alice.rid, &bob.rid) < 0 ? &alice : &bob;
	hi = first->rid;
	memset(&lo, 0xff, sizeof(lo));
	p2p_id_add(&lo, &hi, &lo);	/* hi - 1 */
	memset(&rp, 0, sizeof(rp));
	rp.to = &d;
	assert_int_equal(p2p_store_foreach_range(c.s, &lo, &hi, NOW + 30000,
	    replay_item, &rp), 0);
	assert_int_equal(rp.items, 1);
	assert_true(p2p_id_eq(&rp.seen[0], &first->rid));
	assert_int_equal(rp.lifetime, 70);
	assert_int_equal(p2p_store_generation(d.s, &first->rid,
	    first == &alice ? K_DICT : K_SINGLE),
	    p2p_store_generation(c.s, &first->rid,
	    first == &alice ? K_DICT : K_SINGLE));

	/* Everything, then the copy has every value and its counters. */
	memset(&rp, 0, sizeof(rp));
	rp.to = &d;
	assert_int_equal(p2p_store_foreach(c.s, NULL, NULL, NOW + 30000,
	    replay_item, &rp), 0);
	assert_int_equal(rp.items, 2);
	assert_int_equal(rp.values, 3);
	assert_true(p2p_id_cmp(&rp.seen[0], &rp.seen[1]) < 0);
	assert_int_equal(p2p_store_generation(d.s, &bob.rid, K_SINGLE), 2);
	assert_int_equal(p2p_store_generation(d.s, &alice.rid, K_DICT), 1);
	p2p_store_get_stats(d.s, &st);
	assert_int_equal(st.values, 3);
	assert_int_equal(st.certs, 2);
	/* The copy expires on the original schedule (70 s left at +30 s). */
	assert_int_equal(p2p_store_expire(d.s, NOW + 99999), 0);
	assert_int_equal(p2p_store_next_expiry(d.s), NOW + 100000);
	assert_int_equal(p2p_store_expire(d.s, NOW + 100000), 3);
	assert_int_equal(p2p_store_next_expiry(d.s), 0);

	/* Drop the first resource's range from the original. */
	assert_int_equal(p2p_store_drop_range(c.s, &lo, &hi),
	    first == &alice ? 2 : 1);
	p2p_store_get_stats(c.s, &st);
	assert_int_equal(st.resources, 1);
	assert_int_equal(p2p_store_generation(c.s, &first->rid,
	    first == &alice ? K_DICT : K_SINGLE), 0);
	ctx_free(&c);
	ctx_free(&d);
}

static void
test_store_limits(void **state)
{
	struct ctx c;
	struct val v[3];
	p2p_store_limits lim = { 2, 0 };
	p2p_store_stats before, st;
	struct fetched f;
	p2p_specifier sp = spec(K_DICT, 0);

	(void)state;
	ctx_init(&c, &lim);
	val_make(&v[0], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("a"), "1",
	    1);
	val_make(&v[1], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("b"), "2",
	    1);
	val_make(&v[2], &alice, &alice.rid, K_DICT, NOW, 60, 0, S("c"), "3",
	    1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, v, 2, NOW),
	    0);
	p2p_store_get_stats(c.s, &before);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, &v[2], 1, NOW),
	    P2P_ERR_DATA_TOO_LARGE);
	p2p_store_get_stats(c.s, &st);
	assert_memory_equal(&before, &st, sizeof(st));
	/* Replacing within the limit is fine. */
	val_make(&v[0], &alice, &alice.rid, K_DICT, NOW + 1, 60, 0, S("a"),
	    "1b", 1);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, v, 1, NOW),
	    0);
	ctx_free(&c);

	/* Bytes: the first value fits, the second does not. */
	lim.max_values = 0;
	lim.max_bytes = 0;
	ctx_init(&c, &lim);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, &v[1], 1, NOW),
	    0);
	p2p_store_get_stats(c.s, &st);
	ctx_free(&c);
	lim.max_bytes = st.bytes + 10;
	ctx_init(&c, &lim);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, &v[1], 1, NOW),
	    0);
	p2p_store_get_stats(c.s, &before);
	assert_int_equal(put(&c, &alice, &alice.rid, K_DICT, 0, &v[2], 1, NOW),
	    P2P_ERR_DATA_TOO_LARGE);
	p2p_store_get_stats(c.s, &st);
	assert_memory_equal(&before, &st, sizeof(st));
	assert_int_equal(fetch(&c, &alice.rid, &sp, 1, NOW, &f), 0);
	assert_int_equal(f.ans.kinds[0].nvalues, 1);
	ctx_free(&c);
}

static void
test_fetch_unknown_kind(void **state)
{
	struct ctx c;
	p2p_specifier sp[2] = { spec(K_SINGLE, 0), spec(K_UNKNOWN, 0) };
	struct fetched f;

	(void)state;
	ctx_init(&c, NULL);
	assert_int_equal(fetch(&c, &alice.rid, sp, 2, NOW, &f),
	    P2P_ERR_UNKNOWN_KIND);
	assert_int_equal(c.out.nunknown, 1);
	assert_int_equal(c.out.unknown[0], K_UNKNOWN);
	ctx_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_round_trip),
		cmocka_unit_test(test_array_append_and_ranges),
		cmocka_unit_test(test_dictionary_keys),
		cmocka_unit_test(test_stat_hashes),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_user_match_refuses_other_user),
		cmocka_unit_test(test_node_match),
		cmocka_unit_test(test_user_node_match),
		cmocka_unit_test(test_domain_restriction),
		cmocka_unit_test(test_node_multiple),
		cmocka_unit_test(test_turn_service),
		cmocka_unit_test(test_forged_signature),
		cmocka_unit_test(test_errors_change_nothing),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_replica_copies_counters),
		cmocka_unit_test(test_replication_range),
		cmocka_unit_test(test_store_limits),
		cmocka_unit_test(test_fetch_unknown_kind),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
