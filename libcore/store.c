/*
 * store: the storage engine (RFC 6940 section 7). See store.h.
 *
 * Layout. The store keeps an array of resources sorted by Resource-ID
 * (binary search for lookups, ordered walks for Find and replication).
 * A resource holds an array of pointers to its kinds; a kind holds an
 * array of pointers to its values, sorted by index (arrays) or key
 * (dictionaries). Each value is one allocation: the struct followed by
 * its key, value, signer identity and signature bytes. Signer
 * certificates live once each in a reference-counted pool.
 *
 * Atomic stores. p2p_store_apply builds, for each kind of the request, the
 * complete new list of values (pointers to the untouched old values plus
 * newly made ones) without changing anything; only once every check has
 * passed and every allocation the commit needs has been made are the new
 * lists swapped in and the replaced values freed.
 */
#include "store.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "body_link.h"

/* Most values one Fetch or Stat answer may carry. */
#define ANSWER_MAX_VALUES	65536
/* Most kinds an Error_Unknown_Kind list can carry (u8 length prefix). */
#define UNKNOWN_MAX		63

struct p2p_store_chunk {
	struct p2p_store_chunk *next;
	max_align_t data[];
};

struct cert {
	struct cert *prev, *next;
	size_t refs;
	uint64_t mark;		/* fetch epoch that listed it last */
	uint64_t hash;		/* FNV-1a of the DER, to compare quickly */
	size_t len;
	uint8_t der[];
};

struct sval {
	uint64_t storage_time;
	uint64_t expires;	/* ms since the epoch */
	uint32_t lifetime;	/* s, as stored */
	uint32_t index;		/* ARRAY */
	uint8_t exists;
	uint8_t hash_alg;
	uint8_t sig_alg;
	uint8_t signer_type;
	uint8_t signer_hash_alg;
	uint8_t keep;		/* commit marker */
	struct cert *cert;
	size_t keylen, vlen, shlen, srawlen, siglen;
	uint8_t data[];		/* key, value, signer hash, signer raw, sig */
};

struct kindrec {
	uint32_t kind;
	enum p2p_data_model model;
	uint64_t gen;
	struct sval **v;
	size_t n;
};

struct resrec {
	p2p_id id;
	struct kindrec **k;
	size_t nk;
};

struct p2p_store {
	p2p_store_limits lim;
	struct resrec **res;
	size_t nres, capres;
	struct cert *certs;
	size_t ncerts;
	size_t cert_bytes;
	size_t nvalues;
	size_t value_bytes;
	uint64_t epoch;
	uint64_t next_expiry;	/* no value expires before (0: none) */
};

static int
fail(p2p_err *err, uint16_t code, const char *what)
{
	p2p_err_set(err, code, what, 0);
	return -1;
}

/* ---- output memory ---- */

void
p2p_store_out_init(p2p_store_out *o)
{
	memset(o, 0, sizeof(*o));
}

void
p2p_store_out_free(p2p_store_out *o)
{
	struct p2p_store_chunk *c, *next;

	for (c = o->mem; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	memset(o, 0, sizeof(*o));
}

/* count objects of sz bytes, zeroed, owned by o; NULL on failure. */
static void *
out_alloc(p2p_store_out *o, size_t count, size_t sz)
{
	struct p2p_store_chunk *c;

	if (count == 0)
		count = 1;
	if (sz != 0 && count > (SIZE_MAX - sizeof(*c)) / sz)
		return NULL;
	if ((c = calloc(1, sizeof(*c) + count * sz)) == NULL)
		return NULL;
	c->next = o->mem;
	o->mem = c;
	return c->data;
}

/* ---- values and certificates ---- */

static const uint8_t *
sv_key(const struct sval *sv)
{
	return sv->data;
}

static const uint8_t *
sv_value(const struct sval *sv)
{
	return sv->data + sv->keylen;
}

static size_t
sv_bytes(const struct sval *sv)
{
	return sv->keylen + sv->vlen + sv->shlen + sv->srawlen + sv->siglen;
}

static int
sv_live(const struct sval *sv, uint64_t now)
{
	return sv->expires > now;
}

static uint32_t
sv_remaining(const struct sval *sv, uint64_t now)
{
	if (sv->expires <= now)
		return 0;
	return (uint32_t)((sv->expires - now) / 1000);
}

static uint64_t
fnv1a(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static struct cert *
cert_intern(p2p_store *s, const uint8_t *der, size_t len)
{
	uint64_t h = fnv1a(der, len);
	struct cert *c;

	for (c = s->certs; c != NULL; c = c->next)
		if (c->hash == h && c->len == len &&
		    memcmp(c->der, der, len) == 0) {
			c->refs++;
			return c;
		}
	if ((c = malloc(sizeof(*c) + len)) == NULL)
		return NULL;
	memcpy(c->der, der, len);
	c->hash = h;
	c->len = len;
	c->refs = 1;
	c->mark = 0;
	c->prev = NULL;
	c->next = s->certs;
	if (s->certs != NULL)
		s->certs->prev = c;
	s->certs = c;
	s->ncerts++;
	s->cert_bytes += len;
	return c;
}

static void
cert_release(p2p_store *s, struct cert *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->certs = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->ncerts--;
	s->cert_bytes -= c->len;
	free(c);
}

/* Free a value that is not (or no longer) counted in the store totals. */
static void
sval_free(p2p_store *s, struct sval *sv)
{
	if (sv == NULL)
		return;
	cert_release(s, sv->cert);
	free(sv);
}

/* Take a value out of the store totals and free it. */
static void
sval_remove(p2p_store *s, struct sval *sv)
{
	s->nvalues--;
	s->value_bytes -= sv_bytes(sv);
	sval_free(s, sv);
}

/* A copy of sd (with its certificate) as a value held from now on. */
static struct sval *
sval_make(p2p_store *s, enum p2p_data_model m, const p2p_stored_data *sd,
    const uint8_t *der, size_t derlen, uint64_t now)
{
	const p2p_signature *sig = &sd->sig;
	p2p_bytes key = m == P2P_MODEL_DICTIONARY ? sd->value.key :
	    (p2p_bytes){ NULL, 0 };
	struct sval *sv;
	size_t total;
	uint8_t *p;

	total = key.len + sd->value.data.value.len +
	    sig->signer.hash.len + sig->signer.raw.len + sig->value.len;
	if ((sv = calloc(1, sizeof(*sv) + total)) == NULL)
		return NULL;
	sv->storage_time = sd->storage_time;
	sv->lifetime = sd->lifetime;
	sv->expires = now + (uint64_t)sd->lifetime * 1000;
	if (s->next_expiry == 0 || sv->expires < s->next_expiry)
		s->next_expiry = sv->expires;
	sv->index = m == P2P_MODEL_ARRAY ? sd->value.index : 0;
	sv->exists = sd->value.data.exists;
	sv->hash_alg = sig->hash_alg;
	sv->sig_alg = sig->sig_alg;
	sv->signer_type = sig->signer.type;
	sv->signer_hash_alg = sig->signer.hash_alg;
	sv->keylen = key.len;
	sv->vlen = sd->value.data.value.len;
	sv->shlen = sig->signer.hash.len;
	sv->srawlen = sig->signer.raw.len;
	sv->siglen = sig->value.len;
	p = sv->data;
	if (sv->keylen > 0)
		memcpy(p, key.p, sv->keylen);
	p += sv->keylen;
	if (sv->vlen > 0)
		memcpy(p, sd->value.data.value.p, sv->vlen);
	p += sv->vlen;
	if (sv->shlen > 0)
		memcpy(p, sig->signer.hash.p, sv->shlen);
	p += sv->shlen;
	if (sv->srawlen > 0)
		memcpy(p, sig->signer.raw.p, sv->srawlen);
	p += sv->srawlen;
	if (sv->siglen > 0)
		memcpy(p, sig->value.p, sv->siglen);
	if ((sv->cert = cert_intern(s, der, derlen)) == NULL) {
		free(sv);
		return NULL;
	}
	return sv;
}

/* The value as a StoredData borrowing the store's bytes. */
static void
sval_export(const struct sval *sv, uint64_t now, p2p_stored_data *sd)
{
	const uint8_t *p = sv->data;

	memset(sd, 0, sizeof(*sd));
	sd->storage_time = sv->storage_time;
	sd->lifetime = sv_remaining(sv, now);
	sd->value.index = sv->index;
	sd->value.key.p = p;
	sd->value.key.len = sv->keylen;
	p += sv->keylen;
	sd->value.data.exists = sv->exists;
	sd->value.data.value.p = p;
	sd->value.data.value.len = sv->vlen;
	p += sv->vlen;
	sd->sig.hash_alg = sv->hash_alg;
	sd->sig.sig_alg = sv->sig_alg;
	sd->sig.signer.type = sv->signer_type;
	sd->sig.signer.hash_alg = sv->signer_hash_alg;
	sd->sig.signer.hash.p = p;
	sd->sig.signer.hash.len = sv->shlen;
	p += sv->shlen;
	sd->sig.signer.raw.p = p;
	sd->sig.signer.raw.len = sv->srawlen;
	p += sv->srawlen;
	sd->sig.value.p = p;
	sd->sig.value.len = sv->siglen;
}

/* Same storage time and the same signature: the very same value. */
static int
sval_same(const struct sval *a, const struct sval *b)
{
	return a->storage_time == b->storage_time && a->siglen == b->siglen &&
	    a->keylen == b->keylen && a->vlen == b->vlen &&
	    memcmp(a->data + a->keylen + a->vlen + a->shlen + a->srawlen,
	    b->data + b->keylen + b->vlen + b->shlen + b->srawlen,
	    a->siglen) == 0;
}

/* Dictionary order: bytes, then length. */
static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
sval_cmp(enum p2p_data_model m, const struct sval *a, uint32_t index,
    p2p_bytes key)
{
	if (m == P2P_MODEL_ARRAY)
		return a->index < index ? -1 : a->index > index;
	if (m == P2P_MODEL_DICTIONARY)
		return key_cmp(sv_key(a), a->keylen, key.p, key.len);
	return 0;
}

/* Position of (index, key) in v, or where it would go; *found set. */
static size_t
vals_find(struct sval *const *v, size_t n, enum p2p_data_model m,
    uint32_t index, p2p_bytes key, int *found)
{
	size_t lo = 0, hi = n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sval_cmp(m, v[mid], index, key);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- resources and kinds ---- */

static size_t
res_find(const p2p_store *s, const p2p_id *id, int *found)
{
	size_t lo = 0, hi = s->nres;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = p2p_id_cmp(&s->res[mid]->id, id);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct resrec *
res_get(const p2p_store *s, const p2p_id *id)
{
	int found;
	size_t i = res_find(s, id, &found);

	return found ? s->res[i] : NULL;
}

static struct kindrec *
kind_get(const struct resrec *r, uint32_t kind)
{
	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < r->nk; i++)
		if (r->k[i]->kind == kind)
			return r->k[i];
	return NULL;
}

static void
kind_free(p2p_store *s, struct kindrec *k, size_t *removed)
{
	for (size_t i = 0; i < k->n; i++)
		sval_remove(s, k->v[i]);
	if (removed != NULL)
		*removed += k->n;
	free(k->v);
	free(k);
}

static void
res_free(p2p_store *s, struct resrec *r, size_t *removed)
{
	for (size_t i = 0; i < r->nk; i++)
		kind_free(s, r->k[i], removed);
	free(r->k);
	free(r);
}

static const p2p_kind_def *
def_find(const p2p_store_kinds *kinds, uint32_t kind)
{
	if (kinds == NULL)
		return NULL;
	for (size_t i = 0; i < kinds->n; i++)
		if (kinds->defs[i].id == kind)
			return &kinds->defs[i];
	return NULL;
}

/* ---- store lifecycle ---- */

p2p_store *
p2p_store_new(const p2p_store_limits *limits)
{
	p2p_store *s = calloc(1, sizeof(*s));

	if (s != NULL && limits != NULL)
		s->lim = *limits;
	return s;
}

void
p2p_store_free(p2p_store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nres; i++)
		res_free(s, s->res[i], NULL);
	free(s->res);
	free(s);
}

/* ---- access control ---- */

static int
hash_is(const p2p_id *rid, const void *name, size_t len)
{
	p2p_id h;

	p2p_id_from_name(&h, name, len);
	return p2p_id_eq(&h, rid);
}

static int
user_matches(const p2p_id *rid, const p2p_cert_info *ci)
{
	size_t n = strlen(ci->user);

	return n > 0 && hash_is(rid, ci->user, n);
}

static int
node_multiple_matches(const p2p_id *rid, const p2p_id *node, uint32_t max)
{
	p2p_id h;

	if (max > P2P_STORE_NODE_MULTIPLE_MAX)
		max = P2P_STORE_NODE_MULTIPLE_MAX;
	for (uint32_t i = 1; i <= max; i++) {
		p2p_id_node_multiple(&h, node, i);
		if (p2p_id_eq(&h, rid))
			return 1;
	}
	return 0;
}

/*
 * A TURN-SERVICE value names the iteration its Resource-ID was made with
 * (RFC 6940 s9): it must decode as a TurnServer whose iteration, within
 * max-node-multiple, gives rid with the signer's Node-ID. A tombstone
 * (exists false) carries no value and passes on the policy alone.
 */
static int
turn_server_matches(const p2p_id *rid, const p2p_id *node, uint32_t max,
    const p2p_data_value *dv)
{
	p2p_turn_server ts;
	p2p_err e = { 0 };
	p2p_id h;

	if (!dv->exists)
		return 1;
	if (p2p_turn_server_decode(dv->value, &ts, &e) != 0 ||
	    ts.iteration == 0 || ts.iteration > max)
		return 0;
	p2p_id_node_multiple(&h, node, ts.iteration);
	return p2p_id_eq(&h, rid);
}

/*
 * RFC 7904's domain-restriction of a kind (the SIP-REGISTRATION kind): the
 * AOR is the value signer's user name (USER-NODE-MATCH binds the two), and
 * its domain must be the overlay's own when the restriction is disabled,
 * or match one of the patterns (POSIX EREs, the whole domain, case
 * ignored) when it is enabled. Without the element every domain passes.
 */
static int
domain_allowed(const p2p_kind_def *def, const char *overlay,
    const p2p_cert_info *ci)
{
	const char *at = strrchr(ci->user, '@'), *dom;
	size_t len;

	if (!def->domain_restriction)
		return 1;
	if (at == NULL || at[1] == '\0')
		return 0;
	dom = at + 1;
	if (!def->domain_enable)
		return overlay != NULL && strcasecmp(dom, overlay) == 0;
	len = strlen(dom);
	for (size_t i = 0; i < def->npatterns; i++) {
		regex_t re;
		regmatch_t m;
		int hit;

		if (regcomp(&re, def->patterns[i], REG_EXTENDED | REG_ICASE) !=
		    0)
			continue;	/* the configuration checked them */
		hit = regexec(&re, dom, 1, &m, 0) == 0 && m.rm_so == 0 &&
		    (size_t)m.rm_eo == len;
		regfree(&re);
		if (hit)
			return 1;
	}
	return 0;
}

/* May the signer who write the value v at rid? */
static int
policy_allows(const p2p_kind_def *def, const p2p_id *rid,
    const p2p_sig_who *who, const p2p_stored_value *v)
{
	p2p_bytes key = v->key;

	switch (def->policy) {
	case P2P_AC_USER_MATCH:
		return user_matches(rid, &who->info);
	case P2P_AC_NODE_MATCH:
		return who->has_node &&
		    hash_is(rid, who->node.b, P2P_ID_LEN);
	case P2P_AC_USER_NODE_MATCH:
		return def->model == P2P_MODEL_DICTIONARY && who->has_node &&
		    user_matches(rid, &who->info) && key.len == P2P_ID_LEN &&
		    memcmp(key.p, who->node.b, P2P_ID_LEN) == 0;
	case P2P_AC_NODE_MULTIPLE:
		if (def->id == P2P_KIND_TURN_SERVICE)
			return who->has_node && turn_server_matches(rid,
			    &who->node, def->max_node_multiple, &v->data);
		return who->has_node && node_multiple_matches(rid, &who->node,
		    def->max_node_multiple);
	}
	return 0;
}

int
p2p_store_check_value(const p2p_id *rid, const p2p_kind_def *def,
    const p2p_stored_data *sd, const p2p_cert *certs, size_t ncerts,
    const p2p_trust *trust, uint64_t now, p2p_sig_who *who, p2p_err *err)
{
	p2p_wbuf in;
	int rc;

	(void)now;
	memset(who, 0, sizeof(*who));
	p2p_w_init(&in, 256);
	rc = p2p_stored_data_sig_input(&in, (p2p_bytes){ rid->b, P2P_ID_LEN },
	    def->id, def->model, sd);
	if (rc != 0 || !p2p_w_ok(&in)) {
		p2p_w_free(&in);
		return fail(err, P2P_ERR_FORBIDDEN,
		    "cannot build the stored data signature input");
	}
	rc = p2p_verify_value(&sd->sig, in.p, in.len, certs, ncerts, NULL,
	    trust, who, err);
	p2p_w_free(&in);
	if (rc != 0)
		return -1;
	if (!policy_allows(def, rid, who, &sd->value)) {
		p2p_sig_who_clear(who);
		return fail(err, P2P_ERR_FORBIDDEN,
		    "value signer not allowed by the kind's access policy");
	}
	return 0;
}

/* ---- Store ---- */

/* One kind of a StoreReq while it is being checked. */
struct stage {
	const p2p_kind_data *kd;
	const p2p_kind_def *def;
	struct kindrec *old;
	struct sval **fresh;	/* made for this request, in its order */
	size_t nfresh;
	struct sval **v;	/* the kind's values after the request */
	size_t n, cap;
	uint64_t gen;
};

struct apply {
	p2p_store *s;
	const p2p_store_req *req;
	const p2p_store_msg *msg;
	int replica;
	uint64_t now;
	p2p_id rid;
	struct resrec *res;	/* NULL: not held yet */
	struct stage *st;
	size_t nst;
	const char *domain;	/* the overlay's, for domain-restriction */
};

static void
apply_abort(struct apply *ap)
{
	for (size_t i = 0; i < ap->nst; i++) {
		struct stage *g = &ap->st[i];
		for (size_t j = 0; j < g->nfresh; j++)
			sval_free(ap->s, g->fresh[j]);
		free(g->fresh);
		free(g->v);
	}
	free(ap->st);
	ap->st = NULL;
	ap->nst = 0;
}

static int
check_kinds(struct apply *ap, const p2p_store_kinds *kinds,
    p2p_store_out *out, p2p_err *err)
{
	const p2p_store_req *req = ap->req;
	size_t nunknown = 0;

	for (size_t i = 0; i < req->nkinds; i++) {
		if (req->kinds[i].kind == 0)
			return fail(err, P2P_ERR_INVALID_MESSAGE,
			    "store request names kind 0");
		for (size_t j = 0; j < i; j++)
			if (req->kinds[j].kind == req->kinds[i].kind)
				return fail(err, P2P_ERR_INVALID_MESSAGE,
				    "store request lists a kind twice");
		if (def_find(kinds, req->kinds[i].kind) == NULL)
			nunknown++;
	}
	if (nunknown == 0)
		return 0;
	if (nunknown > UNKNOWN_MAX)
		nunknown = UNKNOWN_MAX;
	if ((out->unknown = out_alloc(out, nunknown, sizeof(uint32_t))) ==
	    NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	for (size_t i = 0; i < req->nkinds && out->nunknown < nunknown; i++)
		if (def_find(kinds, req->kinds[i].kind) == NULL)
			out->unknown[out->nunknown++] = req->kinds[i].kind;
	return fail(err, P2P_ERR_UNKNOWN_KIND, "unknown kind in store request");
}

/* Verify one StoredData and who made it; make the value to hold. */
static int
stage_value(struct apply *ap, struct stage *g, const p2p_stored_data *sd,
    p2p_err *err)
{
	const p2p_store_msg *msg = ap->msg;
	p2p_sig_who who;
	p2p_wbuf in;
	const uint8_t *der;
	uint8_t *own = NULL;
	size_t derlen;
	struct sval *sv = NULL;
	int rc;

	p2p_w_init(&in, 256);
	rc = p2p_stored_data_sig_input(&in, ap->req->resource, g->kd->kind,
	    g->def->model, sd);
	if (rc != 0 || !p2p_w_ok(&in)) {
		p2p_w_free(&in);
		return fail(err, P2P_ERR_FORBIDDEN,
		    "cannot build the stored data signature input");
	}
	rc = p2p_verify_value(&sd->sig, in.p, in.len, msg->certs, msg->ncerts,
	    msg->signer != NULL ? msg->signer->cert : NULL, msg->trust, &who,
	    err);
	p2p_w_free(&in);
	if (rc != 0)
		return -1;
	if (!policy_allows(g->def, &ap->rid, &who, &sd->value)) {
		p2p_sig_who_clear(&who);
		return fail(err, P2P_ERR_FORBIDDEN,
		    "value signer not allowed by the kind's access policy");
	}
	if (!domain_allowed(g->def, ap->domain, &who.info)) {
		p2p_sig_who_clear(&who);
		return fail(err, P2P_ERR_FORBIDDEN,
		    "the signer's domain is not one this overlay takes for "
		    "the kind (domain-restriction)");
	}
	if (!ap->replica && !policy_allows(g->def, &ap->rid, msg->signer,
	    &sd->value)) {
		p2p_sig_who_clear(&who);
		return fail(err, P2P_ERR_FORBIDDEN,
		    "request signer not allowed by the kind's access policy");
	}
	if (who.cert_index == P2P_SIG_CERT_HINT) {
		if (p2p_cert_to_der(who.cert, &own, &derlen, NULL) != 0) {
			p2p_sig_who_clear(&who);
			return fail(err, P2P_ERR_DATA_TOO_LARGE,
			    "out of memory");
		}
		der = own;
	} else {
		der = msg->certs[who.cert_index].der.p;
		derlen = msg->certs[who.cert_index].der.len;
	}
	sv = sval_make(ap->s, g->def->model, sd, der, derlen, ap->now);
	free(own);
	p2p_sig_who_clear(&who);
	if (sv == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	g->fresh[g->nfresh++] = sv;
	return 0;
}

/* Known kinds, then every signature and policy. */
static int
stage_verify(struct apply *ap, const p2p_store_kinds *kinds, p2p_err *err)
{
	const p2p_store_req *req = ap->req;

	if (req->nkinds == 0)
		return 0;
	if ((ap->st = calloc(req->nkinds, sizeof(*ap->st))) == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	ap->nst = req->nkinds;
	for (size_t i = 0; i < req->nkinds; i++) {
		struct stage *g = &ap->st[i];
		g->kd = &req->kinds[i];
		g->def = def_find(kinds, g->kd->kind);
		g->old = kind_get(ap->res, g->kd->kind);
		if (g->kd->model != g->def->model)
			return fail(err, P2P_ERR_INVALID_MESSAGE,
			    "store request decoded with another data model");
		if (g->kd->nvalues > 0 && (g->fresh = calloc(g->kd->nvalues,
		    sizeof(*g->fresh))) == NULL)
			return fail(err, P2P_ERR_DATA_TOO_LARGE,
			    "out of memory");
	}
	for (size_t i = 0; i < ap->nst; i++) {
		struct stage *g = &ap->st[i];
		for (size_t j = 0; j < g->kd->nvalues; j++)
			if (stage_value(ap, g, &g->kd->values[j], err) != 0)
				return -1;
	}
	return 0;
}

/* Original stores: a non-zero counter must be the stored one. */
static int
check_generations(struct apply *ap, p2p_store_out *out, p2p_err *err)
{
	int bad = 0;

	if (ap->replica)
		return 0;
	for (size_t i = 0; i < ap->nst; i++) {
		struct stage *g = &ap->st[i];
		uint64_t cur = g->old != NULL ? g->old->gen : 0;
		if (g->kd->generation != 0 && g->kd->generation != cur)
			bad = 1;
	}
	if (!bad)
		return 0;
	out->store.kinds = out_alloc(out, ap->nst, sizeof(p2p_store_kind_resp));
	if (out->store.kinds == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	out->store.nkinds = ap->nst;
	for (size_t i = 0; i < ap->nst; i++) {
		out->store.kinds[i].kind = ap->st[i].kd->kind;
		out->store.kinds[i].generation = ap->st[i].old != NULL ?
		    ap->st[i].old->gen : 0;
	}
	return fail(err, P2P_ERR_GENERATION_TOO_LOW,
	    "generation counter does not match the stored one");
}

static int
stage_insert(struct stage *g, size_t at, struct sval *sv)
{
	if (g->n == g->cap) {
		size_t cap = g->cap == 0 ? 8 : 2 * g->cap;
		struct sval **v = realloc(g->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		g->v = v;
		g->cap = cap;
	}
	memmove(&g->v[at + 1], &g->v[at], (g->n - at) * sizeof(*g->v));
	g->v[at] = sv;
	g->n++;
	return 0;
}

/* Put one new value in the staged list of its kind. */
static int
stage_place(struct apply *ap, struct stage *g, struct sval *sv,
    p2p_err *err)
{
	enum p2p_data_model m = g->def->model;
	p2p_bytes key = { sv_key(sv), sv->keylen };
	size_t at;
	int found;

	if (g->def->max_size != 0 && sv->vlen > g->def->max_size)
		return fail(err, P2P_ERR_DATA_TOO_LARGE,
		    "value larger than the kind's max-size");
	if (m == P2P_MODEL_ARRAY && sv->index == P2P_ARRAY_APPEND) {
		if (g->n > 0 && g->v[g->n - 1]->index >= P2P_ARRAY_APPEND - 1)
			return fail(err, P2P_ERR_DATA_TOO_LARGE,
			    "array has no index left to append at");
		sv->index = g->n > 0 ? g->v[g->n - 1]->index + 1 : 0;
	}
	if (m == P2P_MODEL_SINGLE) {
		found = g->n > 0;
		at = 0;
	} else
		at = vals_find(g->v, g->n, m, sv->index, key, &found);
	if (!found) {
		if (stage_insert(g, at, sv) != 0)
			return fail(err, P2P_ERR_DATA_TOO_LARGE,
			    "out of memory");
		return 0;
	}
	if (sv->storage_time <= g->v[at]->storage_time &&
	    !(ap->replica && sval_same(sv, g->v[at])))
		return fail(err, P2P_ERR_DATA_TOO_OLD,
		    "storage time not newer than the stored value's");
	g->v[at] = sv;
	return 0;
}

static size_t
stage_count(const struct stage *g)
{
	if (g->def->model == P2P_MODEL_ARRAY && g->n > 0)
		return (size_t)g->v[g->n - 1]->index + 1;
	return g->n;
}

/* Build each kind's new value list and check it against the limits. */
static int
stage_build(struct apply *ap, p2p_err *err)
{
	p2p_store *s = ap->s;
	size_t nvalues = s->nvalues, bytes = s->value_bytes;
	int grows = 0;

	for (size_t i = 0; i < ap->nst; i++) {
		struct stage *g = &ap->st[i];
		size_t oldn = g->old != NULL ? g->old->n : 0;
		for (size_t j = 0; j < oldn; j++) {
			struct sval *o = g->old->v[j];
			if (sv_live(o, ap->now) &&
			    stage_insert(g, g->n, o) != 0)
				return fail(err, P2P_ERR_DATA_TOO_LARGE,
				    "out of memory");
		}
		for (size_t j = 0; j < g->nfresh; j++)
			if (stage_place(ap, g, g->fresh[j], err) != 0)
				return -1;
		if (g->def->max_count != 0 &&
		    stage_count(g) > g->def->max_count)
			return fail(err, P2P_ERR_DATA_TOO_LARGE,
			    "more values than the kind's max-count");
		for (size_t j = 0; j < oldn; j++) {
			nvalues--;
			bytes -= sv_bytes(g->old->v[j]);
		}
		for (size_t j = 0; j < g->n; j++) {
			nvalues++;
			bytes += sv_bytes(g->v[j]);
		}
		if (g->n > oldn)
			grows = 1;
	}
	if (grows && s->lim.max_values != 0 && nvalues > s->lim.max_values)
		return fail(err, P2P_ERR_DATA_TOO_LARGE,
		    "store is full (too many values)");
	if (bytes > s->value_bytes && s->lim.max_bytes != 0 &&
	    bytes + s->cert_bytes > s->lim.max_bytes)
		return fail(err, P2P_ERR_DATA_TOO_LARGE,
		    "store is full (too many bytes)");
	return 0;
}

static void
stage_generations(struct apply *ap)
{
	for (size_t i = 0; i < ap->nst; i++) {
		struct stage *g = &ap->st[i];
		uint64_t cur = g->old != NULL ? g->old->gen : 0;
		if (ap->replica && g->kd->generation != 0)
			g->gen = g->kd->generation;
		else if (g->nfresh > 0)
			g->gen = cur + 1;
		else
			g->gen = cur;
	}
}

/* Every allocation the commit needs, before anything changes. */
static int
commit_prepare(struct apply *ap, struct kindrec ***newk, p2p_err *err)
{
	p2p_store *s = ap->s;
	size_t add = 0;

	*newk = NULL;
	for (size_t i = 0; i < ap->nst; i++)
		if (ap->st[i].old == NULL && ap->st[i].n > 0)
			add++;
	if (add == 0)
		return 0;
	if ((*newk = calloc(add, sizeof(**newk))) == NULL)
		goto nomem;
	for (size_t i = 0; i < add; i++)
		if (((*newk)[i] = calloc(1, sizeof(struct kindrec))) == NULL)
			goto nomem;
	if (ap->res == NULL) {
		if ((ap->res = calloc(1, sizeof(*ap->res))) == NULL)
			goto nomem;
		ap->res->id = ap->rid;
		if (s->nres == s->capres) {
			size_t cap = s->capres == 0 ? 64 : 2 * s->capres;
			struct resrec **r = realloc(s->res, cap * sizeof(*r));
			if (r == NULL)
				goto nomem;
			s->res = r;
			s->capres = cap;
		}
	}
	{
		struct kindrec **k = realloc(ap->res->k,
		    (ap->res->nk + add) * sizeof(*k));
		if (k == NULL)
			goto nomem;
		ap->res->k = k;
	}
	return 0;
nomem:
	if (*newk != NULL)
		for (size_t i = 0; i < add; i++)
			free((*newk)[i]);
	free(*newk);
	*newk = NULL;
	if (ap->res != NULL && ap->res->nk == 0) {
		free(ap->res->k);
		free(ap->res);
		ap->res = NULL;
	}
	return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
}

/* Swap one staged list in; free what it replaced. */
static void
commit_kind(struct apply *ap, struct stage *g, struct kindrec *kr)
{
	p2p_store *s = ap->s;

	for (size_t j = 0; j < g->n; j++)
		g->v[j]->keep = 1;
	for (size_t j = 0; j < kr->n; j++) {
		if (!kr->v[j]->keep) {
			sval_remove(s, kr->v[j]);
			continue;
		}
		s->nvalues--;
		s->value_bytes -= sv_bytes(kr->v[j]);
	}
	for (size_t j = 0; j < g->nfresh; j++)
		if (!g->fresh[j]->keep)
			sval_free(s, g->fresh[j]);
	for (size_t j = 0; j < g->n; j++) {
		g->v[j]->keep = 0;
		s->nvalues++;
		s->value_bytes += sv_bytes(g->v[j]);
	}
	free(kr->v);
	kr->v = g->v;
	kr->n = g->n;
	kr->gen = g->gen;
	kr->kind = g->kd->kind;
	kr->model = g->def->model;
	g->v = NULL;
	g->n = g->cap = 0;
	free(g->fresh);
	g->fresh = NULL;
	g->nfresh = 0;
}

/* Drop the kinds left empty, and the resource if nothing is left. */
static void
commit_tidy(p2p_store *s, struct resrec *r)
{
	size_t j = 0;
	int found;
	size_t at;

	for (size_t i = 0; i < r->nk; i++) {
		if (r->k[i]->n == 0) {
			free(r->k[i]->v);
			free(r->k[i]);
		} else
			r->k[j++] = r->k[i];
	}
	r->nk = j;
	at = res_find(s, &r->id, &found);
	if (r->nk == 0) {
		if (found) {
			memmove(&s->res[at], &s->res[at + 1],
			    (s->nres - at - 1) * sizeof(*s->res));
			s->nres--;
		}
		free(r->k);
		free(r);
		return;
	}
	if (!found) {
		memmove(&s->res[at + 1], &s->res[at],
		    (s->nres - at) * sizeof(*s->res));
		s->res[at] = r;
		s->nres++;
	}
}

static int
apply_commit(struct apply *ap, p2p_store_out *out, p2p_err *err)
{
	struct kindrec **newk;
	size_t used = 0;

	out->store.kinds = out_alloc(out, ap->nst, sizeof(p2p_store_kind_resp));
	if (out->store.kinds == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	if (commit_prepare(ap, &newk, err) != 0)
		return -1;
	for (size_t i = 0; i < ap->nst; i++) {
		struct stage *g = &ap->st[i];
		out->store.kinds[i].kind = g->kd->kind;
		out->store.kinds[i].generation = g->gen;
		if (g->old != NULL)
			commit_kind(ap, g, g->old);
		else if (g->n > 0) {
			struct kindrec *kr = newk[used++];
			ap->res->k[ap->res->nk++] = kr;
			commit_kind(ap, g, kr);
		}
	}
	out->store.nkinds = ap->nst;
	free(newk);
	if (ap->res != NULL)
		commit_tidy(ap->s, ap->res);
	return 0;
}

int
p2p_store_apply(p2p_store *s, const p2p_store_req *req,
    const p2p_store_msg *msg, const p2p_store_kinds *kinds, int is_replica,
    uint64_t now, p2p_store_out *out, p2p_err *err)
{
	struct apply ap;

	memset(&ap, 0, sizeof(ap));
	ap.s = s;
	ap.req = req;
	ap.msg = msg;
	ap.replica = is_replica;
	ap.now = now;
	ap.domain = kinds->domain;
	if (req->resource.len != P2P_ID_LEN)
		return fail(err, P2P_ERR_INVALID_MESSAGE,
		    "Resource-ID is not 16 bytes");
	memcpy(ap.rid.b, req->resource.p, P2P_ID_LEN);
	ap.res = res_get(s, &ap.rid);
	if (check_kinds(&ap, kinds, out, err) != 0)
		return -1;
	if (!is_replica && msg->signer == NULL)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "store request signer unknown");
	if (stage_verify(&ap, kinds, err) != 0 ||
	    check_generations(&ap, out, err) != 0 ||
	    stage_build(&ap, err) != 0) {
		apply_abort(&ap);
		return -1;
	}
	stage_generations(&ap);
	if (apply_commit(&ap, out, err) != 0) {
		apply_abort(&ap);
		return -1;
	}
	apply_abort(&ap);	/* frees the now empty stages */
	return 0;
}

/* ---- selecting values for Fetch and Stat ---- */

/* sv NULL: a value never stored, named by index / key. */
typedef int (*sel_fn)(void *arg, const struct sval *sv, uint32_t index,
    p2p_bytes key);

/* Holes index from .. to (inclusive), while synthesizing. */
static int
select_holes(uint64_t from, uint64_t to, sel_fn fn, void *arg)
{
	p2p_bytes none = { NULL, 0 };

	for (uint64_t i = from; i <= to; i++)
		if (fn(arg, NULL, (uint32_t)i, none) != 0)
			return -1;
	return 0;
}

static int
select_range(const struct kindrec *kr, uint32_t first, uint32_t last,
    uint64_t now, int synth, sel_fn fn, void *arg)
{
	p2p_bytes none = { NULL, 0 };
	uint64_t next = first;
	size_t at;
	int found;

	at = vals_find(kr->v, kr->n, P2P_MODEL_ARRAY, first, none, &found);
	for (; at < kr->n && kr->v[at]->index <= last; at++) {
		const struct sval *sv = kr->v[at];
		if (!sv_live(sv, now))
			continue;
		if (synth && sv->index > next &&
		    select_holes(next, sv->index - 1, fn, arg) != 0)
			return -1;
		if (fn(arg, sv, sv->index, none) != 0)
			return -1;
		next = (uint64_t)sv->index + 1;
	}
	if (synth && next <= last)
		return select_holes(next, last, fn, arg);
	return 0;
}

/*
 * Array ranges, clipped to the array's length (highest live index + 1);
 * holes inside it are synthesized when asked.
 */
static int
select_array(const struct kindrec *kr, const p2p_specifier *sp,
    uint64_t now, int synth, sel_fn fn, void *arg, p2p_err *err)
{
	uint32_t top = 0;
	int any = 0;

	for (size_t i = kr != NULL ? kr->n : 0; i > 0; i--)
		if (sv_live(kr->v[i - 1], now)) {
			top = kr->v[i - 1]->index;
			any = 1;
			break;
		}
	for (size_t r = 0; r < sp->nranges; r++) {
		uint32_t first = sp->ranges[r].first, last = sp->ranges[r].last;
		if (first != P2P_ARRAY_LAST && last != P2P_ARRAY_LAST &&
		    first > last)
			return fail(err, P2P_ERR_INVALID_MESSAGE,
			    "array range with first after last");
		if (!any)
			continue;
		if (first == P2P_ARRAY_LAST)
			first = top;
		if (last == P2P_ARRAY_LAST || last > top)
			last = top;
		if (first > last)
			continue;
		if (select_range(kr, first, last, now, synth, fn, arg) != 0)
			return -1;
	}
	return 0;
}

static int
select_dict(const struct kindrec *kr, const p2p_specifier *sp,
    uint64_t now, int synth, sel_fn fn, void *arg)
{
	p2p_bytes none = { NULL, 0 };
	size_t n = kr != NULL ? kr->n : 0;
	int found;

	if (sp->nkeys == 0) {
		for (size_t i = 0; i < n; i++)
			if (sv_live(kr->v[i], now) &&
			    fn(arg, kr->v[i], 0, none) != 0)
				return -1;
		return 0;
	}
	for (size_t k = 0; k < sp->nkeys; k++) {
		const struct sval *sv = NULL;
		size_t at = n > 0 ? vals_find(kr->v, n, P2P_MODEL_DICTIONARY,
		    0, sp->keys[k], &found) : 0;
		if (n > 0 && found && sv_live(kr->v[at], now))
			sv = kr->v[at];
		if ((sv != NULL || synth) && fn(arg, sv, 0, sp->keys[k]) != 0)
			return -1;
	}
	return 0;
}

/* Call fn for each value the specifier asks for. */
static int
select_values(const struct kindrec *kr, enum p2p_data_model m,
    const p2p_specifier *sp, uint64_t now, int synth, sel_fn fn, void *arg,
    p2p_err *err)
{
	p2p_bytes none = { NULL, 0 };
	const struct sval *sv;

	switch (m) {
	case P2P_MODEL_ARRAY:
		return select_array(kr, sp, now, synth, fn, arg, err);
	case P2P_MODEL_DICTIONARY:
		return select_dict(kr, sp, now, synth, fn, arg);
	case P2P_MODEL_SINGLE:
		sv = kr != NULL && kr->n > 0 && sv_live(kr->v[0], now) ?
		    kr->v[0] : NULL;
		if (sv == NULL && !synth)
			return 0;
		return fn(arg, sv, 0, none);
	default:
		return fail(err, P2P_ERR_UNKNOWN_KIND,
		    "kind has no data model");
	}
}

/* Fetch and Stat: known kinds with the right model, and where they are. */
static int
check_specs(const p2p_fetch_req *req, const p2p_store_kinds *kinds,
    p2p_store_out *out, p2p_err *err)
{
	size_t nunknown = 0;

	if (req->resource.len != P2P_ID_LEN)
		return fail(err, P2P_ERR_INVALID_MESSAGE,
		    "Resource-ID is not 16 bytes");
	for (size_t i = 0; i < req->nspecs; i++) {
		const p2p_kind_def *def = def_find(kinds, req->specs[i].kind);
		if (req->specs[i].kind == 0)
			return fail(err, P2P_ERR_INVALID_MESSAGE,
			    "specifier names kind 0");
		if (def == NULL)
			nunknown++;
		else if (req->specs[i].model != def->model)
			return fail(err, P2P_ERR_INVALID_MESSAGE,
			    "specifier decoded with another data model");
	}
	if (nunknown == 0)
		return 0;
	if (nunknown > UNKNOWN_MAX)
		nunknown = UNKNOWN_MAX;
	if ((out->unknown = out_alloc(out, nunknown, sizeof(uint32_t))) ==
	    NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	for (size_t i = 0; i < req->nspecs && out->nunknown < nunknown; i++)
		if (def_find(kinds, req->specs[i].kind) == NULL)
			out->unknown[out->nunknown++] = req->specs[i].kind;
	return fail(err, P2P_ERR_UNKNOWN_KIND, "unknown kind requested");
}

/* Does the specifier's generation say the requester is up to date? */
static int
spec_current(const p2p_specifier *sp, const struct kindrec *kr)
{
	return kr != NULL && sp->generation != 0 && sp->generation == kr->gen;
}

/* ---- Fetch ---- */

struct fetch_sel {
	p2p_store *s;
	p2p_store_out *out;
	uint64_t now;
	p2p_stored_data *v;	/* NULL: count only */
	size_t n;
	size_t total;
};

static int
fetch_one(void *arg, const struct sval *sv, uint32_t index, p2p_bytes key)
{
	struct fetch_sel *f = arg;
	p2p_store_out *out = f->out;

	if (++f->total > ANSWER_MAX_VALUES)
		return -1;
	if (f->v == NULL) {
		f->n++;
		return 0;
	}
	if (sv == NULL) {
		p2p_stored_data_nonexistent(&f->v[f->n++], index, key);
		return 0;
	}
	sval_export(sv, f->now, &f->v[f->n++]);
	if (sv->cert != NULL && sv->cert->mark != f->s->epoch) {
		sv->cert->mark = f->s->epoch;
		out->certs[out->ncerts].type = P2P_CERT_X509;
		out->certs[out->ncerts].der.p = sv->cert->der;
		out->certs[out->ncerts].der.len = sv->cert->len;
		out->ncerts++;
	}
	return 0;
}

static int
fetch_kind(struct fetch_sel *f, const p2p_kind_def *def,
    const p2p_specifier *sp, const struct kindrec *kr, p2p_kind_data *kd,
    p2p_err *err)
{
	size_t want;

	kd->kind = sp->kind;
	kd->model = def->model;
	kd->generation = kr != NULL ? kr->gen : 0;
	if (spec_current(sp, kr))
		return 0;
	f->v = NULL;
	f->n = 0;
	if (select_values(kr, def->model, sp, f->now, 1, fetch_one, f,
	    err) != 0)
		goto toobig;
	want = f->n;
	f->total -= want;
	if ((f->v = out_alloc(f->out, want, sizeof(*f->v))) == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	f->n = 0;
	if (select_values(kr, def->model, sp, f->now, 1, fetch_one, f,
	    err) != 0)
		goto toobig;
	kd->values = f->v;
	kd->nvalues = f->n;
	return 0;
toobig:
	if (f->total > ANSWER_MAX_VALUES)
		return fail(err, P2P_ERR_RESPONSE_TOO_LARGE,
		    "fetch answer would hold too many values");
	return -1;
}

int
p2p_store_fetch(p2p_store *s, const p2p_fetch_req *req,
    const p2p_store_kinds *kinds, uint64_t now, p2p_store_out *out,
    p2p_err *err)
{
	struct fetch_sel f;
	const struct resrec *r;
	p2p_id rid;
	size_t nvalues = 0;

	if (check_specs(req, kinds, out, err) != 0)
		return -1;
	memcpy(rid.b, req->resource.p, P2P_ID_LEN);
	r = res_get(s, &rid);
	for (size_t i = 0; r != NULL && i < r->nk; i++)
		nvalues += r->k[i]->n;
	out->fetch.kinds = out_alloc(out, req->nspecs, sizeof(p2p_kind_data));
	out->certs = out_alloc(out, nvalues, sizeof(p2p_cert));
	if (out->fetch.kinds == NULL || out->certs == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	memset(&f, 0, sizeof(f));
	f.s = s;
	f.out = out;
	f.now = now;
	s->epoch++;
	for (size_t i = 0; i < req->nspecs; i++) {
		const p2p_specifier *sp = &req->specs[i];
		if (fetch_kind(&f, def_find(kinds, sp->kind), sp,
		    kind_get(r, sp->kind), &out->fetch.kinds[i], err) != 0)
			return -1;
	}
	out->fetch.nkinds = req->nspecs;
	return 0;
}

/* ---- Stat ---- */

struct stat_sel {
	p2p_store_out *out;
	enum p2p_data_model model;
	uint64_t now;
	p2p_stored_meta *v;	/* NULL: count only */
	size_t n;
	size_t total;
	int oom;
};

/* SHA-256 over the value with its 4-byte length. */
static int
meta_hash(p2p_store_out *out, const struct sval *sv, p2p_meta_data *md)
{
	uint8_t len[4], *h;
	unsigned int hl = 0;
	EVP_MD_CTX *ctx;
	int ok;

	if ((h = out_alloc(out, 1, EVP_MAX_MD_SIZE)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	len[0] = (uint8_t)(sv->vlen >> 24);
	len[1] = (uint8_t)(sv->vlen >> 16);
	len[2] = (uint8_t)(sv->vlen >> 8);
	len[3] = (uint8_t)sv->vlen;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, len, sizeof(len)) == 1 &&
	    EVP_DigestUpdate(ctx, sv_value(sv), sv->vlen) == 1 &&
	    EVP_DigestFinal_ex(ctx, h, &hl) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	md->hash_alg = P2P_HASH_SHA256;
	md->hash.p = h;
	md->hash.len = hl;
	return 0;
}

static int
stat_one(void *arg, const struct sval *sv, uint32_t index, p2p_bytes key)
{
	struct stat_sel *f = arg;
	p2p_stored_meta *sm;
	p2p_stored_data sd;
	p2p_wbuf w;

	(void)index;
	(void)key;
	if (++f->total > ANSWER_MAX_VALUES)
		return -1;
	if (f->v == NULL) {
		f->n++;
		return 0;
	}
	sm = &f->v[f->n++];
	sval_export(sv, f->now, &sd);
	p2p_w_init(&w, 64 + sv_bytes(sv));
	if (p2p_stored_data_encode(&w, f->model, &sd) != 0 || w.len < 4) {
		p2p_w_free(&w);
		f->oom = 1;
		return -1;
	}
	sm->value_length = (uint32_t)(w.len - 4);
	p2p_w_free(&w);
	sm->storage_time = sv->storage_time;
	sm->lifetime = sd.lifetime;
	sm->index = sv->index;
	sm->key = sd.value.key;
	sm->meta.exists = sv->exists;
	sm->meta.value_length = (uint32_t)sv->vlen;
	if (meta_hash(f->out, sv, &sm->meta) != 0) {
		f->oom = 1;
		return -1;
	}
	return 0;
}

static int
stat_kind(struct stat_sel *f, const p2p_kind_def *def,
    const p2p_specifier *sp, const struct kindrec *kr, p2p_stat_kind *sk,
    p2p_err *err)
{
	size_t want;

	sk->kind = sp->kind;
	sk->model = def->model;
	sk->generation = kr != NULL ? kr->gen : 0;
	if (spec_current(sp, kr))
		return 0;
	f->model = def->model;
	f->v = NULL;
	f->n = 0;
	if (select_values(kr, def->model, sp, f->now, 0, stat_one, f,
	    err) != 0)
		goto failed;
	want = f->n;
	f->total -= want;
	if ((f->v = out_alloc(f->out, want, sizeof(*f->v))) == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	f->n = 0;
	if (select_values(kr, def->model, sp, f->now, 0, stat_one, f,
	    err) != 0)
		goto failed;
	sk->values = f->v;
	sk->nvalues = f->n;
	return 0;
failed:
	if (f->oom)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	if (f->total > ANSWER_MAX_VALUES)
		return fail(err, P2P_ERR_RESPONSE_TOO_LARGE,
		    "stat answer would hold too many values");
	return -1;
}

int
p2p_store_stat(p2p_store *s, const p2p_stat_req *req,
    const p2p_store_kinds *kinds, uint64_t now, p2p_store_out *out,
    p2p_err *err)
{
	struct stat_sel f;
	const struct resrec *r;
	p2p_id rid;

	if (check_specs(req, kinds, out, err) != 0)
		return -1;
	memcpy(rid.b, req->resource.p, P2P_ID_LEN);
	r = res_get(s, &rid);
	out->stat.kinds = out_alloc(out, req->nspecs, sizeof(p2p_stat_kind));
	if (out->stat.kinds == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	memset(&f, 0, sizeof(f));
	f.out = out;
	f.now = now;
	for (size_t i = 0; i < req->nspecs; i++) {
		const p2p_specifier *sp = &req->specs[i];
		if (stat_kind(&f, def_find(kinds, sp->kind), sp,
		    kind_get(r, sp->kind), &out->stat.kinds[i], err) != 0)
			return -1;
	}
	out->stat.nkinds = req->nspecs;
	return 0;
}

/* ---- Find ---- */

static int
kind_live(const struct kindrec *kr, uint64_t now)
{
	if (kr == NULL)
		return 0;
	for (size_t i = 0; i < kr->n; i++)
		if (sv_live(kr->v[i], now))
			return 1;
	return 0;
}

/* Is x in [from, to] going clockwise? */
static int
in_cc(const p2p_id *x, const p2p_id *from, const p2p_id *to)
{
	if (p2p_id_eq(x, from))
		return 1;
	if (p2p_id_eq(from, to))
		return 0;
	return p2p_id_in_oc(x, from, to);
}

static const struct resrec *
find_closest(const p2p_store *s, const p2p_id *target, const p2p_id *self,
    uint32_t kind, uint64_t now)
{
	int found;
	size_t start;

	if (s->nres == 0)
		return NULL;
	start = res_find(s, target, &found);
	for (size_t j = 0; j < s->nres; j++) {
		const struct resrec *r = s->res[(start + j) % s->nres];
		if (self != NULL && !in_cc(&r->id, target, self))
			return NULL;
		if (kind_live(kind_get(r, kind), now))
			return r;
	}
	return NULL;
}

int
p2p_store_find(p2p_store *s, const p2p_find_req *req,
    const p2p_store_kinds *kinds, const p2p_id *self, uint64_t now,
    p2p_store_out *out, p2p_err *err)
{
	p2p_id target;

	if (req->resource.len != P2P_ID_LEN)
		return fail(err, P2P_ERR_INVALID_MESSAGE,
		    "Resource-ID is not 16 bytes");
	memcpy(target.b, req->resource.p, P2P_ID_LEN);
	for (size_t i = 0; i < req->nkinds; i++)
		for (size_t j = 0; j < i; j++)
			if (req->kinds[i] == req->kinds[j])
				return fail(err, P2P_ERR_INVALID_MESSAGE,
				    "find request lists a kind twice");
	out->find.results = out_alloc(out, req->nkinds, sizeof(p2p_find_kind));
	if (out->find.results == NULL)
		return fail(err, P2P_ERR_DATA_TOO_LARGE, "out of memory");
	for (size_t i = 0; i < req->nkinds; i++) {
		p2p_find_kind *fk = &out->find.results[i];
		const struct resrec *r = NULL;
		fk->kind = req->kinds[i];
		if (def_find(kinds, req->kinds[i]) != NULL)
			r = find_closest(s, &target, self, req->kinds[i], now);
		if (r != NULL) {
			fk->closest.p = r->id.b;
			fk->closest.len = P2P_ID_LEN;
		}
	}
	out->find.nresults = req->nkinds;
	return 0;
}

/* ---- errors ---- */

int
p2p_store_error_encode(p2p_wbuf *w, const p2p_err *err,
    const p2p_store_out *out)
{
	p2p_error_resp er;
	p2p_wbuf info;
	const char *what;
	int rc;

	if (err->reload_code == P2P_ERR_GENERATION_TOO_LOW)
		return p2p_gen_error_encode(w, &out->store);
	er.code = err->reload_code != 0 ? err->reload_code :
	    P2P_ERR_INVALID_MESSAGE;
	p2p_w_init(&info, 64);
	if (er.code == P2P_ERR_UNKNOWN_KIND)
		rc = p2p_error_kinds_encode(&info, out->unknown,
		    out->nunknown);
	else {
		what = err->what != NULL ? err->what : "";
		p2p_w_raw(&info, what, strlen(what));
		rc = p2p_w_ok(&info) ? 0 : -1;
	}
	er.info.p = info.p;
	er.info.len = info.len;
	if (rc == 0)
		rc = p2p_error_encode(w, &er);
	p2p_w_free(&info);
	return rc;
}

/* ---- expiry, replication, removal ---- */

static size_t
kind_expire(p2p_store *s, struct kindrec *kr, uint64_t now)
{
	size_t j = 0, removed = 0;

	for (size_t i = 0; i < kr->n; i++) {
		if (sv_live(kr->v[i], now)) {
			if (s->next_expiry == 0 ||
			    kr->v[i]->expires < s->next_expiry)
				s->next_expiry = kr->v[i]->expires;
			kr->v[j++] = kr->v[i];
		} else {
			sval_remove(s, kr->v[i]);
			removed++;
		}
	}
	kr->n = j;
	return removed;
}

uint64_t
p2p_store_next_expiry(const p2p_store *s)
{
	return s->next_expiry;
}

size_t
p2p_store_expire(p2p_store *s, uint64_t now)
{
	size_t removed = 0, keep = 0;

	s->next_expiry = 0;	/* recomputed over the values kept */
	for (size_t i = 0; i < s->nres; i++) {
		struct resrec *r = s->res[i];
		size_t kk = 0;
		for (size_t k = 0; k < r->nk; k++) {
			removed += kind_expire(s, r->k[k], now);
			if (r->k[k]->n > 0)
				r->k[kk++] = r->k[k];
			else
				kind_free(s, r->k[k], NULL);
		}
		r->nk = kk;
		if (r->nk > 0)
			s->res[keep++] = r;
		else
			res_free(s, r, NULL);
	}
	s->nres = keep;
	return removed;
}

/* Hand one kind of a resource, with its live values, to fn. */
static int
visit_kind(p2p_store *s, const struct resrec *r, const struct kindrec *kr,
    uint64_t now, p2p_store_visit_fn fn, void *arg)
{
	p2p_store_item it;
	p2p_stored_data *v;
	p2p_cert *c;
	size_t n = 0, nc = 0;
	int rc;

	if (!kind_live(kr, now))
		return 0;
	v = calloc(kr->n, sizeof(*v));
	c = calloc(kr->n, sizeof(*c));
	if (v == NULL || c == NULL) {
		free(v);
		free(c);
		return -1;
	}
	s->epoch++;
	for (size_t i = 0; i < kr->n; i++) {
		const struct sval *sv = kr->v[i];
		if (!sv_live(sv, now) || sv_remaining(sv, now) == 0)
			continue;
		sval_export(sv, now, &v[n++]);
		if (sv->cert->mark != s->epoch) {
			sv->cert->mark = s->epoch;
			c[nc].type = P2P_CERT_X509;
			c[nc].der.p = sv->cert->der;
			c[nc].der.len = sv->cert->len;
			nc++;
		}
	}
	memset(&it, 0, sizeof(it));
	it.resource = r->id;
	it.kind = kr->kind;
	it.model = kr->model;
	it.generation = kr->gen;
	it.values = v;
	it.nvalues = n;
	it.certs = c;
	it.ncerts = nc;
	rc = n > 0 ? fn(arg, &it) : 0;
	free(v);
	free(c);
	return rc;
}

int
p2p_store_foreach(p2p_store *s, p2p_store_pred_fn pred, void *parg,
    uint64_t now, p2p_store_visit_fn fn, void *arg)
{
	for (size_t i = 0; i < s->nres; i++) {
		const struct resrec *r = s->res[i];
		if (pred != NULL && !pred(parg, &r->id))
			continue;
		for (size_t k = 0; k < r->nk; k++) {
			int rc = visit_kind(s, r, r->k[k], now, fn, arg);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

struct range {
	const p2p_id *lo, *hi;
};

static int
in_range(void *arg, const p2p_id *id)
{
	const struct range *rg = arg;

	return p2p_id_in_oc(id, rg->lo, rg->hi);
}

int
p2p_store_foreach_range(p2p_store *s, const p2p_id *lo, const p2p_id *hi,
    uint64_t now, p2p_store_visit_fn fn, void *arg)
{
	struct range rg = { lo, hi };

	return p2p_store_foreach(s, in_range, &rg, now, fn, arg);
}

size_t
p2p_store_drop(p2p_store *s, p2p_store_pred_fn pred, void *arg)
{
	size_t removed = 0, keep = 0;

	for (size_t i = 0; i < s->nres; i++) {
		struct resrec *r = s->res[i];
		if (pred == NULL || pred(arg, &r->id))
			res_free(s, r, &removed);
		else
			s->res[keep++] = r;
	}
	s->nres = keep;
	return removed;
}

size_t
p2p_store_drop_range(p2p_store *s, const p2p_id *lo, const p2p_id *hi)
{
	struct range rg = { lo, hi };

	return p2p_store_drop(s, in_range, &rg);
}

/* ---- counters ---- */

void
p2p_store_get_stats(const p2p_store *s, p2p_store_stats *st)
{
	st->resources = s->nres;
	st->values = s->nvalues;
	st->bytes = s->value_bytes + s->cert_bytes;
	st->certs = s->ncerts;
}

size_t
p2p_store_kind_values(const p2p_store *s, uint32_t kind)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nres; i++) {
		const struct kindrec *kr = kind_get(s->res[i], kind);
		if (kr != NULL)
			n += kr->n;
	}
	return n;
}

uint64_t
p2p_store_generation(const p2p_store *s, const p2p_id *resource,
    uint32_t kind)
{
	const struct kindrec *kr = kind_get(res_get(s, resource), kind);

	return kr != NULL ? kr->gen : 0;
}
