#include "body_store.h"

#include <stdlib.h>
#include <string.h>

#ifndef P2P_STORED_SIG_RESOURCE_PREFIXED
#define P2P_STORED_SIG_RESOURCE_PREFIXED 0
#endif

/*
 * Decoding state shared by the functions below: where the input starts
 * (for error offsets), the arena, the kind lookup and the error to fill.
 */
struct dec {
	const uint8_t *base;
	p2p_arena *a;
	const p2p_kind_lookup *lk;
	p2p_err *err;
};

static void
dec_init(struct dec *d, const uint8_t *base, p2p_arena *a,
    const p2p_kind_lookup *lk, p2p_err *err)
{
	d->base = base;
	d->a = a;
	d->lk = lk;
	d->err = err;
}

static size_t
dec_off(const struct dec *d, const p2p_rbuf *r)
{
	if (d->base == NULL || r->p == NULL || r->p < d->base)
		return 0;
	return (size_t)(r->p - d->base);
}

static int
fail(const struct dec *d, const p2p_rbuf *r, const char *what)
{
	p2p_err_set(d->err, P2P_ERR_INVALID_MESSAGE, what, dec_off(d, r));
	return -1;
}

/* A msg.h decoder failed: its message stays, the offset becomes ours. */
static int
fix_off(const struct dec *d, const p2p_rbuf *r)
{
	if (d->err != NULL)
		d->err->offset = dec_off(d, r);
	return -1;
}

static int
model_ok(enum p2p_data_model m)
{
	return m == P2P_MODEL_SINGLE || m == P2P_MODEL_ARRAY ||
	    m == P2P_MODEL_DICTIONARY;
}

static enum p2p_data_model
model_of(const struct dec *d, uint32_t kind)
{
	enum p2p_data_model m;

	if (d->lk == NULL || d->lk->model == NULL)
		return P2P_MODEL_UNKNOWN;
	m = d->lk->model(d->lk->arg, kind);
	return model_ok(m) ? m : P2P_MODEL_UNKNOWN;
}

/* n objects of size sz from the arena; *out is NULL when n is 0. */
static int
take(const struct dec *d, const p2p_rbuf *r, size_t n, size_t sz, void **out)
{
	*out = NULL;
	if (n == 0)
		return 0;
	if (d->a != NULL)
		*out = p2p_arena_array(d->a, n, sz);
	if (*out == NULL)
		return fail(d, r, "list exceeds the decode arena");
	return 0;
}

/* Count the items of a list by skipping each with skip (0 on failure). */
static int
count_items(const struct dec *d, p2p_bytes list, int (*skip)(p2p_rbuf *),
    const char *what, size_t *n)
{
	p2p_rbuf r;

	*n = 0;
	p2p_r_init(&r, list.p, list.len);
	while (p2p_r_left(&r) > 0) {
		if (!skip(&r))
			return fail(d, &r, what);
		(*n)++;
	}
	return 0;
}

/* Run a decoder over the whole input, resetting the arena on failure. */
static int
whole(const struct dec *d, p2p_rbuf *r, int rc, size_t mark)
{
	if (rc == 0 && p2p_r_left(r) != 0)
		rc = fail(d, r, "trailing bytes after the body");
	if (rc != 0 && d->a != NULL)
		d->a->used = mark;
	return rc;
}

static size_t
arena_mark(const p2p_arena *a)
{
	return a != NULL ? a->used : 0;
}

/* ---- skippers used to count list items ---- */

static int
skip_vec4(p2p_rbuf *r)
{
	p2p_bytes b;

	return p2p_r_vec(r, 4, &b);
}

static int
skip_vec2(p2p_rbuf *r)
{
	p2p_bytes b;

	return p2p_r_vec(r, 2, &b);
}

/* kind u32, generation u64, then a vector of the given width */
static int
skip_kind_gen_vec(p2p_rbuf *r, int width)
{
	p2p_rbuf save = *r;
	p2p_bytes b;

	if (!p2p_r_skip(r, 12) || !p2p_r_vec(r, width, &b)) {
		*r = save;
		return 0;
	}
	return 1;
}

static int
skip_kind_data(p2p_rbuf *r)
{
	return skip_kind_gen_vec(r, 4);
}

static int
skip_kind_gen_vec2(p2p_rbuf *r)
{
	return skip_kind_gen_vec(r, 2);
}

static int
skip_find_kind(p2p_rbuf *r)
{
	p2p_rbuf save = *r;
	p2p_bytes b;

	if (!p2p_r_skip(r, 4) || !p2p_r_vec(r, 1, &b)) {
		*r = save;
		return 0;
	}
	return 1;
}

/* ---- values ---- */

static int
data_value_dec(const struct dec *d, p2p_rbuf *r, p2p_data_value *v)
{
	if (!p2p_r_u8(r, &v->exists))
		return fail(d, r, "data value truncated");
	if (v->exists > 1)
		return fail(d, r, "'exists' is not a boolean");
	if (!p2p_r_vec(r, 4, &v->value))
		return fail(d, r, "data value runs past the end");
	return 0;
}

static int
value_dec(const struct dec *d, p2p_rbuf *r, enum p2p_data_model m,
    p2p_stored_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (m) {
	case P2P_MODEL_SINGLE:
		break;
	case P2P_MODEL_ARRAY:
		if (!p2p_r_u32(r, &v->index))
			return fail(d, r, "array entry truncated");
		break;
	case P2P_MODEL_DICTIONARY:
		if (!p2p_r_vec(r, 2, &v->key))
			return fail(d, r, "dictionary key runs past the end");
		break;
	default:
		return fail(d, r, "unknown data model");
	}
	return data_value_dec(d, r, &v->data);
}

static int
stored_data_dec(const struct dec *d, p2p_rbuf *r, enum p2p_data_model m,
    p2p_stored_data *sd)
{
	p2p_rbuf in;

	memset(sd, 0, sizeof(*sd));
	if (!p2p_r_sub(r, 4, &in))
		return fail(d, r, "stored data runs past the end");
	if (!p2p_r_u64(&in, &sd->storage_time) ||
	    !p2p_r_u32(&in, &sd->lifetime))
		return fail(d, &in, "stored data truncated");
	if (value_dec(d, &in, m, &sd->value) != 0)
		return -1;
	if (p2p_signature_decode1(&in, &sd->sig, d->err) != 0)
		return fix_off(d, &in);
	if (p2p_r_left(&in) != 0)
		return fail(d, &in,
		    "stored data length does not match its contents");
	return 0;
}

int
p2p_stored_value_decode1(p2p_rbuf *r, enum p2p_data_model m,
    p2p_stored_value *out, p2p_err *err)
{
	struct dec d;

	dec_init(&d, r->p, NULL, NULL, err);
	return value_dec(&d, r, m, out);
}

int
p2p_stored_data_decode1(p2p_rbuf *r, enum p2p_data_model m,
    p2p_stored_data *out, p2p_err *err)
{
	struct dec d;

	dec_init(&d, r->p, NULL, NULL, err);
	return stored_data_dec(&d, r, m, out);
}

int
p2p_stored_data_decode(p2p_bytes in, enum p2p_data_model m,
    p2p_stored_data *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, NULL, NULL, err);
	return whole(&d, &r, stored_data_dec(&d, &r, m, out), 0);
}

int
p2p_stored_value_encode(p2p_wbuf *w, enum p2p_data_model m,
    const p2p_stored_value *v)
{
	if (v->data.exists > 1)
		return -1;
	switch (m) {
	case P2P_MODEL_SINGLE:
		break;
	case P2P_MODEL_ARRAY:
		p2p_w_u32(w, v->index);
		break;
	case P2P_MODEL_DICTIONARY:
		p2p_w_vec(w, 2, v->key.p, v->key.len);
		break;
	default:
		return -1;
	}
	p2p_w_u8(w, v->data.exists);
	p2p_w_vec(w, 4, v->data.value.p, v->data.value.len);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_stored_data_encode(p2p_wbuf *w, enum p2p_data_model m,
    const p2p_stored_data *sd)
{
	size_t mark;

	mark = p2p_w_begin(w, 4);
	p2p_w_u64(w, sd->storage_time);
	p2p_w_u32(w, sd->lifetime);
	if (p2p_stored_value_encode(w, m, &sd->value) != 0 ||
	    p2p_signature_encode(w, &sd->sig) != 0)
		return -1;
	p2p_w_end(w, mark, 4);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_stored_data_sig_input(p2p_wbuf *w, p2p_bytes resource, uint32_t kind,
    enum p2p_data_model m, const p2p_stored_data *sd)
{
	p2p_stored_value v = sd->value;

	if (m == P2P_MODEL_ARRAY)
		v.index = 0;
#if P2P_STORED_SIG_RESOURCE_PREFIXED
	p2p_w_vec(w, 1, resource.p, resource.len);
#else
	p2p_w_raw(w, resource.p, resource.len);
#endif
	p2p_w_u32(w, kind);
	p2p_w_u64(w, sd->storage_time);
	if (p2p_stored_value_encode(w, m, &v) != 0)
		return -1;
	return p2p_signer_encode(w, &sd->sig.signer);
}

void
p2p_stored_data_nonexistent(p2p_stored_data *out, uint32_t index,
    p2p_bytes key)
{
	memset(out, 0, sizeof(*out));
	out->value.index = index;
	out->value.key = key;
	out->value.data.exists = 0;
	out->sig.hash_alg = P2P_HASH_NONE;
	out->sig.sig_alg = P2P_SIGALG_ANON;
	out->sig.signer.type = P2P_SIGNER_NONE;
}

/* ---- kind data lists (StoreKindData, FetchKindResponse) ---- */

static int
kind_data_dec(const struct dec *d, p2p_rbuf *r, p2p_kind_data *kd)
{
	p2p_rbuf vr;
	size_t n;
	void *arr;

	memset(kd, 0, sizeof(*kd));
	if (!p2p_r_u32(r, &kd->kind) || !p2p_r_u64(r, &kd->generation) ||
	    !p2p_r_vec(r, 4, &kd->raw))
		return fail(d, r, "kind data truncated");
	kd->model = model_of(d, kd->kind);
	/* StoredData carries its own length, so even the values of an
	 * unknown kind can be checked for framing. */
	if (count_items(d, kd->raw, skip_vec4,
	    "stored data runs past the end of its list", &n) != 0)
		return -1;
	if (kd->model == P2P_MODEL_UNKNOWN)
		return 0;
	p2p_r_init(&vr, kd->raw.p, kd->raw.len);
	if (take(d, &vr, n, sizeof(*kd->values), &arr) != 0)
		return -1;
	kd->values = arr;
	kd->nvalues = n;
	for (size_t i = 0; i < n; i++)
		if (stored_data_dec(d, &vr, kd->model, &kd->values[i]) != 0)
			return -1;
	return 0;
}

static int
kind_list_dec(const struct dec *d, p2p_rbuf *r, p2p_kind_data **out,
    size_t *count)
{
	p2p_bytes list;
	p2p_rbuf lr;
	size_t n;
	void *arr;

	*out = NULL;
	*count = 0;
	if (!p2p_r_vec(r, 4, &list))
		return fail(d, r, "kind list runs past the end");
	if (count_items(d, list, skip_kind_data, "kind data truncated",
	    &n) != 0)
		return -1;
	p2p_r_init(&lr, list.p, list.len);
	if (take(d, &lr, n, sizeof(**out), &arr) != 0)
		return -1;
	*out = arr;
	*count = n;
	for (size_t i = 0; i < n; i++)
		if (kind_data_dec(d, &lr, &(*out)[i]) != 0)
			return -1;
	return 0;
}

static int
kind_data_enc(p2p_wbuf *w, const p2p_kind_data *kd)
{
	size_t mark;

	p2p_w_u32(w, kd->kind);
	p2p_w_u64(w, kd->generation);
	if (kd->model == P2P_MODEL_UNKNOWN) {
		p2p_w_vec(w, 4, kd->raw.p, kd->raw.len);
		return p2p_w_ok(w) ? 0 : -1;
	}
	mark = p2p_w_begin(w, 4);
	for (size_t i = 0; i < kd->nvalues; i++)
		if (p2p_stored_data_encode(w, kd->model, &kd->values[i]) != 0)
			return -1;
	p2p_w_end(w, mark, 4);
	return p2p_w_ok(w) ? 0 : -1;
}

static int
kind_list_enc(p2p_wbuf *w, const p2p_kind_data *kd, size_t n)
{
	size_t mark = p2p_w_begin(w, 4);

	for (size_t i = 0; i < n; i++)
		if (kind_data_enc(w, &kd[i]) != 0)
			return -1;
	p2p_w_end(w, mark, 4);
	return p2p_w_ok(w) ? 0 : -1;
}

/* ---- Store ---- */

int
p2p_store_req_decode(p2p_bytes in, p2p_arena *a, const p2p_kind_lookup *lk,
    p2p_store_req *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;
	size_t mark = arena_mark(a);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, lk, err);
	if (!p2p_r_vec(&r, 1, &out->resource) ||
	    !p2p_r_u8(&r, &out->replica_number))
		rc = fail(&d, &r, "StoreReq truncated");
	else
		rc = kind_list_dec(&d, &r, &out->kinds, &out->nkinds);
	return whole(&d, &r, rc, mark);
}

int
p2p_store_req_encode(p2p_wbuf *w, const p2p_store_req *in)
{
	p2p_w_vec(w, 1, in->resource.p, in->resource.len);
	p2p_w_u8(w, in->replica_number);
	return kind_list_enc(w, in->kinds, in->nkinds);
}

static int
store_kind_resp_dec(const struct dec *d, p2p_rbuf *r, p2p_store_kind_resp *k)
{
	p2p_bytes reps;
	p2p_rbuf rr;
	void *arr;

	memset(k, 0, sizeof(*k));
	if (!p2p_r_u32(r, &k->kind) || !p2p_r_u64(r, &k->generation) ||
	    !p2p_r_vec(r, 2, &reps))
		return fail(d, r, "StoreKindResponse truncated");
	p2p_r_init(&rr, reps.p, reps.len);
	if (reps.len % P2P_ID_LEN != 0)
		return fail(d, &rr, "replica list is not a whole number of "
		    "Node-IDs");
	if (take(d, &rr, reps.len / P2P_ID_LEN, sizeof(p2p_id), &arr) != 0)
		return -1;
	k->replicas = arr;
	k->nreplicas = reps.len / P2P_ID_LEN;
	for (size_t i = 0; i < k->nreplicas; i++)
		(void)p2p_r_copy(&rr, k->replicas[i].b, P2P_ID_LEN);
	return 0;
}

static int
store_ans_dec(const struct dec *d, p2p_rbuf *r, p2p_store_ans *out)
{
	p2p_bytes list;
	p2p_rbuf lr;
	size_t n;
	void *arr;

	memset(out, 0, sizeof(*out));
	if (!p2p_r_vec(r, 2, &list))
		return fail(d, r, "StoreAns list runs past the end");
	if (count_items(d, list, skip_kind_gen_vec2,
	    "StoreKindResponse truncated", &n) != 0)
		return -1;
	p2p_r_init(&lr, list.p, list.len);
	if (take(d, &lr, n, sizeof(*out->kinds), &arr) != 0)
		return -1;
	out->kinds = arr;
	out->nkinds = n;
	for (size_t i = 0; i < n; i++)
		if (store_kind_resp_dec(d, &lr, &out->kinds[i]) != 0)
			return -1;
	return 0;
}

int
p2p_store_ans_decode(p2p_bytes in, p2p_arena *a, p2p_store_ans *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;
	size_t mark = arena_mark(a);

	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, NULL, err);
	return whole(&d, &r, store_ans_dec(&d, &r, out), mark);
}

int
p2p_store_ans_encode(p2p_wbuf *w, const p2p_store_ans *in)
{
	size_t mark = p2p_w_begin(w, 2), rmark;

	for (size_t i = 0; i < in->nkinds; i++) {
		const p2p_store_kind_resp *k = &in->kinds[i];
		p2p_w_u32(w, k->kind);
		p2p_w_u64(w, k->generation);
		rmark = p2p_w_begin(w, 2);
		for (size_t j = 0; j < k->nreplicas; j++)
			p2p_w_raw(w, k->replicas[j].b, P2P_ID_LEN);
		p2p_w_end(w, rmark, 2);
	}
	p2p_w_end(w, mark, 2);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_gen_error_encode(p2p_wbuf *w, const p2p_store_ans *current)
{
	size_t mark;

	for (size_t i = 0; i < current->nkinds; i++)
		if (current->kinds[i].nreplicas != 0)
			return -1;
	p2p_w_u16(w, P2P_ERR_GENERATION_TOO_LOW);
	mark = p2p_w_begin(w, 2);
	if (p2p_store_ans_encode(w, current) != 0)
		return -1;
	p2p_w_end(w, mark, 2);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_gen_error_decode(p2p_bytes body, p2p_arena *a, p2p_store_ans *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, info;
	uint16_t code;
	size_t mark = arena_mark(a);
	int rc;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, body.p, body.len);
	dec_init(&d, body.p, a, NULL, err);
	if (!p2p_r_u16(&r, &code) || !p2p_r_sub(&r, 2, &info))
		return fail(&d, &r, "ErrorResponse truncated");
	if (code != P2P_ERR_GENERATION_TOO_LOW)
		return fail(&d, &r,
		    "not an Error_Generation_Counter_Too_Low response");
	if (p2p_r_left(&r) != 0)
		return fail(&d, &r, "trailing bytes after the error response");
	rc = store_ans_dec(&d, &info, out);
	return whole(&d, &info, rc, mark);
}

/* ---- specifiers, Fetch, Stat ---- */

static int
range_cmp(const void *x, const void *y)
{
	const p2p_array_range *a = x, *b = y;

	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return 0;
}

/*
 * Every range must have first <= last, and no two may share an index.
 * P2P_ARRAY_LAST is compared as the largest index. With scratch room for
 * a copy the check sorts it (n log n); without, it compares every pair.
 */
static int
ranges_valid(const p2p_array_range *rg, size_t n, p2p_array_range *scratch)
{
	for (size_t i = 0; i < n; i++)
		if (rg[i].first > rg[i].last)
			return 0;
	if (scratch != NULL) {
		memcpy(scratch, rg, n * sizeof(*rg));
		qsort(scratch, n, sizeof(*scratch), range_cmp);
		for (size_t i = 1; i < n; i++)
			if (scratch[i].first <= scratch[i - 1].last)
				return 0;
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (rg[i].first <= rg[j].last &&
			    rg[j].first <= rg[i].last)
				return 0;
	return 1;
}

static int
ranges_dec(const struct dec *d, p2p_rbuf *r, p2p_specifier *s)
{
	p2p_bytes list;
	p2p_rbuf lr;
	size_t n, mark;
	void *arr;
	p2p_array_range *scratch = NULL;
	int ok;

	if (!p2p_r_vec(r, 2, &list))
		return fail(d, r, "array ranges run past the end");
	p2p_r_init(&lr, list.p, list.len);
	if (list.len % 8 != 0)
		return fail(d, &lr, "array range list is not a whole number "
		    "of ranges");
	n = list.len / 8;
	if (take(d, &lr, n, sizeof(*s->ranges), &arr) != 0)
		return -1;
	s->ranges = arr;
	s->nranges = n;
	for (size_t i = 0; i < n; i++) {
		(void)p2p_r_u32(&lr, &s->ranges[i].first);
		(void)p2p_r_u32(&lr, &s->ranges[i].last);
	}
	if (n < 2)
		ok = ranges_valid(s->ranges, n, NULL);
	else {
		/* take() succeeded, so there is an arena; the sorted copy
		 * is only borrowed from it */
		mark = d->a->used;
		scratch = p2p_arena_array(d->a, n, sizeof(*scratch));
		ok = ranges_valid(s->ranges, n, scratch);
		d->a->used = mark;
	}
	if (!ok)
		return fail(d, r, "array ranges inverted or overlapping");
	return 0;
}

static int
keys_dec(const struct dec *d, p2p_rbuf *r, p2p_specifier *s)
{
	p2p_bytes list;
	p2p_rbuf lr;
	size_t n;
	void *arr;

	if (!p2p_r_vec(r, 2, &list))
		return fail(d, r, "dictionary keys run past the end");
	if (count_items(d, list, skip_vec2, "dictionary key truncated",
	    &n) != 0)
		return -1;
	p2p_r_init(&lr, list.p, list.len);
	if (take(d, &lr, n, sizeof(*s->keys), &arr) != 0)
		return -1;
	s->keys = arr;
	s->nkeys = n;
	for (size_t i = 0; i < n; i++)
		(void)p2p_r_vec(&lr, 2, &s->keys[i]);
	return 0;
}

static int
specifier_dec(const struct dec *d, p2p_rbuf *r, p2p_specifier *s)
{
	p2p_rbuf in;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (!p2p_r_u32(r, &s->kind) || !p2p_r_u64(r, &s->generation) ||
	    !p2p_r_vec(r, 2, &s->raw))
		return fail(d, r, "data specifier truncated");
	s->model = model_of(d, s->kind);
	p2p_r_init(&in, s->raw.p, s->raw.len);
	switch (s->model) {
	case P2P_MODEL_SINGLE:
		break;
	case P2P_MODEL_ARRAY:
		rc = ranges_dec(d, &in, s);
		break;
	case P2P_MODEL_DICTIONARY:
		rc = keys_dec(d, &in, s);
		break;
	default:
		return 0;	/* unknown kind: raw only */
	}
	if (rc != 0)
		return -1;
	if (p2p_r_left(&in) != 0)
		return fail(d, &in,
		    "data specifier length does not match its contents");
	return 0;
}

int
p2p_specifier_decode1(p2p_rbuf *r, p2p_arena *a, const p2p_kind_lookup *lk,
    p2p_specifier *out, p2p_err *err)
{
	struct dec d;

	dec_init(&d, r->p, a, lk, err);
	return specifier_dec(&d, r, out);
}

int
p2p_specifier_encode(p2p_wbuf *w, const p2p_specifier *s)
{
	size_t mark, lmark;

	p2p_w_u32(w, s->kind);
	p2p_w_u64(w, s->generation);
	mark = p2p_w_begin(w, 2);
	switch (s->model) {
	case P2P_MODEL_SINGLE:
		break;
	case P2P_MODEL_ARRAY:
		if (!ranges_valid(s->ranges, s->nranges, NULL))
			return -1;
		lmark = p2p_w_begin(w, 2);
		for (size_t i = 0; i < s->nranges; i++) {
			p2p_w_u32(w, s->ranges[i].first);
			p2p_w_u32(w, s->ranges[i].last);
		}
		p2p_w_end(w, lmark, 2);
		break;
	case P2P_MODEL_DICTIONARY:
		lmark = p2p_w_begin(w, 2);
		for (size_t i = 0; i < s->nkeys; i++)
			p2p_w_vec(w, 2, s->keys[i].p, s->keys[i].len);
		p2p_w_end(w, lmark, 2);
		break;
	case P2P_MODEL_UNKNOWN:
		p2p_w_raw(w, s->raw.p, s->raw.len);
		break;
	default:
		return -1;
	}
	p2p_w_end(w, mark, 2);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_fetch_req_decode(p2p_bytes in, p2p_arena *a, const p2p_kind_lookup *lk,
    p2p_fetch_req *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, lr;
	p2p_bytes list;
	size_t n, mark = arena_mark(a);
	void *arr;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, lk, err);
	if (!p2p_r_vec(&r, 1, &out->resource) || !p2p_r_vec(&r, 2, &list))
		return whole(&d, &r, fail(&d, &r, "request truncated"), mark);
	p2p_r_init(&lr, list.p, list.len);
	if (count_items(&d, list, skip_kind_gen_vec2,
	    "data specifier truncated", &n) != 0 ||
	    take(&d, &lr, n, sizeof(*out->specs), &arr) != 0)
		return whole(&d, &r, -1, mark);
	out->specs = arr;
	out->nspecs = n;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = specifier_dec(&d, &lr, &out->specs[i]);
	return whole(&d, &r, rc, mark);
}

int
p2p_fetch_req_encode(p2p_wbuf *w, const p2p_fetch_req *in)
{
	size_t mark;

	p2p_w_vec(w, 1, in->resource.p, in->resource.len);
	mark = p2p_w_begin(w, 2);
	for (size_t i = 0; i < in->nspecs; i++)
		if (p2p_specifier_encode(w, &in->specs[i]) != 0)
			return -1;
	p2p_w_end(w, mark, 2);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_fetch_ans_decode(p2p_bytes in, p2p_arena *a, const p2p_kind_lookup *lk,
    p2p_fetch_ans *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;
	size_t mark = arena_mark(a);

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, lk, err);
	return whole(&d, &r, kind_list_dec(&d, &r, &out->kinds, &out->nkinds),
	    mark);
}

int
p2p_fetch_ans_encode(p2p_wbuf *w, const p2p_fetch_ans *in)
{
	return kind_list_enc(w, in->kinds, in->nkinds);
}

int
p2p_stat_req_decode(p2p_bytes in, p2p_arena *a, const p2p_kind_lookup *lk,
    p2p_stat_req *out, p2p_err *err)
{
	return p2p_fetch_req_decode(in, a, lk, out, err);
}

int
p2p_stat_req_encode(p2p_wbuf *w, const p2p_stat_req *in)
{
	return p2p_fetch_req_encode(w, in);
}

/*
 * StoredMetaData. Its value_length is carried as a plain number: the
 * structure does not need it to be parsed, so a peer that fills it with
 * the value size rather than the size of the rest is still understood.
 */
static int
meta_dec(const struct dec *d, p2p_rbuf *r, enum p2p_data_model m,
    p2p_stored_meta *sm)
{
	p2p_meta_data *md = &sm->meta;

	memset(sm, 0, sizeof(*sm));
	if (!p2p_r_u32(r, &sm->value_length) ||
	    !p2p_r_u64(r, &sm->storage_time) || !p2p_r_u32(r, &sm->lifetime))
		return fail(d, r, "stored metadata truncated");
	if (m == P2P_MODEL_ARRAY && !p2p_r_u32(r, &sm->index))
		return fail(d, r, "array metadata truncated");
	if (m == P2P_MODEL_DICTIONARY && !p2p_r_vec(r, 2, &sm->key))
		return fail(d, r, "dictionary metadata key runs past the end");
	if (!p2p_r_u8(r, &md->exists))
		return fail(d, r, "metadata truncated");
	if (md->exists > 1)
		return fail(d, r, "metadata 'exists' is not a boolean");
	if (!p2p_r_u32(r, &md->value_length) || !p2p_r_u8(r, &md->hash_alg) ||
	    !p2p_r_vec(r, 1, &md->hash))
		return fail(d, r, "metadata truncated");
	return 0;
}

static int
stat_kind_dec(const struct dec *d, p2p_rbuf *r, p2p_stat_kind *k)
{
	p2p_rbuf vr;
	p2p_stored_meta tmp;
	size_t n = 0;
	void *arr;

	memset(k, 0, sizeof(*k));
	if (!p2p_r_u32(r, &k->kind) || !p2p_r_u64(r, &k->generation) ||
	    !p2p_r_vec(r, 4, &k->raw))
		return fail(d, r, "StatKindResponse truncated");
	k->model = model_of(d, k->kind);
	if (k->model == P2P_MODEL_UNKNOWN)
		return 0;
	p2p_r_init(&vr, k->raw.p, k->raw.len);
	while (p2p_r_left(&vr) > 0) {
		if (meta_dec(d, &vr, k->model, &tmp) != 0)
			return -1;
		n++;
	}
	p2p_r_init(&vr, k->raw.p, k->raw.len);
	if (take(d, &vr, n, sizeof(*k->values), &arr) != 0)
		return -1;
	k->values = arr;
	k->nvalues = n;
	for (size_t i = 0; i < n; i++)
		(void)meta_dec(d, &vr, k->model, &k->values[i]);
	return 0;
}

int
p2p_stat_ans_decode(p2p_bytes in, p2p_arena *a, const p2p_kind_lookup *lk,
    p2p_stat_ans *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, lr;
	p2p_bytes list;
	size_t n, mark = arena_mark(a);
	void *arr;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, lk, err);
	if (!p2p_r_vec(&r, 4, &list))
		return whole(&d, &r, fail(&d, &r, "StatAns list runs past "
		    "the end"), mark);
	p2p_r_init(&lr, list.p, list.len);
	if (count_items(&d, list, skip_kind_data,
	    "StatKindResponse truncated", &n) != 0 ||
	    take(&d, &lr, n, sizeof(*out->kinds), &arr) != 0)
		return whole(&d, &r, -1, mark);
	out->kinds = arr;
	out->nkinds = n;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = stat_kind_dec(&d, &lr, &out->kinds[i]);
	return whole(&d, &r, rc, mark);
}

static int
meta_enc(p2p_wbuf *w, enum p2p_data_model m, const p2p_stored_meta *sm)
{
	if (sm->meta.exists > 1)
		return -1;
	p2p_w_u32(w, sm->value_length);
	p2p_w_u64(w, sm->storage_time);
	p2p_w_u32(w, sm->lifetime);
	if (m == P2P_MODEL_ARRAY)
		p2p_w_u32(w, sm->index);
	else if (m == P2P_MODEL_DICTIONARY)
		p2p_w_vec(w, 2, sm->key.p, sm->key.len);
	p2p_w_u8(w, sm->meta.exists);
	p2p_w_u32(w, sm->meta.value_length);
	p2p_w_u8(w, sm->meta.hash_alg);
	p2p_w_vec(w, 1, sm->meta.hash.p, sm->meta.hash.len);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_stat_ans_encode(p2p_wbuf *w, const p2p_stat_ans *in)
{
	size_t mark = p2p_w_begin(w, 4), vmark;

	for (size_t i = 0; i < in->nkinds; i++) {
		const p2p_stat_kind *k = &in->kinds[i];
		p2p_w_u32(w, k->kind);
		p2p_w_u64(w, k->generation);
		if (k->model == P2P_MODEL_UNKNOWN) {
			p2p_w_vec(w, 4, k->raw.p, k->raw.len);
			continue;
		}
		if (!model_ok(k->model))
			return -1;
		vmark = p2p_w_begin(w, 4);
		for (size_t j = 0; j < k->nvalues; j++)
			if (meta_enc(w, k->model, &k->values[j]) != 0)
				return -1;
		p2p_w_end(w, vmark, 4);
	}
	p2p_w_end(w, mark, 4);
	return p2p_w_ok(w) ? 0 : -1;
}

/* ---- Find ---- */

int
p2p_find_req_decode(p2p_bytes in, p2p_arena *a, p2p_find_req *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, lr;
	p2p_bytes list;
	size_t n, mark = arena_mark(a);
	void *arr;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, NULL, err);
	if (!p2p_r_vec(&r, 1, &out->resource) || !p2p_r_vec(&r, 1, &list))
		return whole(&d, &r, fail(&d, &r, "FindReq truncated"), mark);
	p2p_r_init(&lr, list.p, list.len);
	if (list.len % 4 != 0)
		return whole(&d, &r, fail(&d, &lr,
		    "kind list is not a whole number of kinds"), mark);
	n = list.len / 4;
	if (take(&d, &lr, n, sizeof(*out->kinds), &arr) != 0)
		return whole(&d, &r, -1, mark);
	out->kinds = arr;
	out->nkinds = n;
	for (size_t i = 0; i < n; i++) {
		(void)p2p_r_u32(&lr, &out->kinds[i]);
		for (size_t j = 0; j < i; j++)
			if (out->kinds[j] == out->kinds[i])
				return whole(&d, &r, fail(&d, &lr,
				    "kind listed twice in FindReq"), mark);
	}
	return whole(&d, &r, 0, mark);
}

int
p2p_find_req_encode(p2p_wbuf *w, const p2p_find_req *in)
{
	size_t mark;

	for (size_t i = 0; i < in->nkinds; i++)
		for (size_t j = 0; j < i; j++)
			if (in->kinds[j] == in->kinds[i])
				return -1;
	p2p_w_vec(w, 1, in->resource.p, in->resource.len);
	mark = p2p_w_begin(w, 1);
	for (size_t i = 0; i < in->nkinds; i++)
		p2p_w_u32(w, in->kinds[i]);
	p2p_w_end(w, mark, 1);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_find_ans_decode(p2p_bytes in, p2p_arena *a, p2p_find_ans *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, lr;
	p2p_bytes list;
	size_t n, mark = arena_mark(a);
	void *arr;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, NULL, err);
	if (!p2p_r_vec(&r, 2, &list))
		return whole(&d, &r, fail(&d, &r, "FindAns list runs past "
		    "the end"), mark);
	p2p_r_init(&lr, list.p, list.len);
	if (count_items(&d, list, skip_find_kind, "FindKindData truncated",
	    &n) != 0 || take(&d, &lr, n, sizeof(*out->results), &arr) != 0)
		return whole(&d, &r, -1, mark);
	out->results = arr;
	out->nresults = n;
	for (size_t i = 0; i < n; i++) {
		(void)p2p_r_u32(&lr, &out->results[i].kind);
		(void)p2p_r_vec(&lr, 1, &out->results[i].closest);
	}
	return whole(&d, &r, 0, mark);
}

int
p2p_find_ans_encode(p2p_wbuf *w, const p2p_find_ans *in)
{
	size_t mark = p2p_w_begin(w, 2);

	for (size_t i = 0; i < in->nresults; i++) {
		p2p_w_u32(w, in->results[i].kind);
		p2p_w_vec(w, 1, in->results[i].closest.p,
		    in->results[i].closest.len);
	}
	p2p_w_end(w, mark, 2);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_find_kind_is_none(const p2p_find_kind *f)
{
	for (size_t i = 0; i < f->closest.len; i++)
		if (f->closest.p[i] != 0)
			return 0;
	return 1;
}

/* ---- SIP registration ---- */

static int
sip_route_dec(const struct dec *d, p2p_rbuf *r, p2p_sip_reg *out)
{
	p2p_bytes dl;

	if (!p2p_r_vec(r, 2, &out->contact_prefs))
		return fail(d, r, "contact preferences run past the end");
	if (!p2p_r_vec(r, 2, &dl))
		return fail(d, r, "destination list runs past the end");
	if (dl.len < 3)
		return fail(d, r, "destination list shorter than 3 bytes");
	if (p2p_dest_list_decode(dl, d->a, &out->dests, &out->ndests,
	    d->err) != 0)
		return fix_off(d, r);
	return 0;
}

int
p2p_sip_reg_decode(p2p_bytes in, p2p_arena *a, p2p_sip_reg *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, data;
	size_t mark = arena_mark(a);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, a, NULL, err);
	if (!p2p_r_u8(&r, &out->type) || !p2p_r_sub(&r, 2, &data))
		return whole(&d, &r, fail(&d, &r,
		    "SIP registration truncated"), mark);
	switch (out->type) {
	case P2P_SIPREG_URI:
		if (!p2p_r_vec(&data, 2, &out->uri))
			rc = fail(&d, &data, "registration URI runs past "
			    "the end");
		break;
	case P2P_SIPREG_ROUTE:
		rc = sip_route_dec(&d, &data, out);
		break;
	default:
		out->raw.p = data.p;
		out->raw.len = data.len;
		(void)p2p_r_skip(&data, data.len);
		break;
	}
	if (rc == 0 && p2p_r_left(&data) != 0)
		rc = fail(&d, &data,
		    "SIP registration length does not match its contents");
	return whole(&d, &r, rc, mark);
}

int
p2p_sip_reg_encode(p2p_wbuf *w, const p2p_sip_reg *in)
{
	size_t mark, dmark;

	p2p_w_u8(w, in->type);
	mark = p2p_w_begin(w, 2);
	switch (in->type) {
	case P2P_SIPREG_URI:
		p2p_w_vec(w, 2, in->uri.p, in->uri.len);
		break;
	case P2P_SIPREG_ROUTE:
		p2p_w_vec(w, 2, in->contact_prefs.p, in->contact_prefs.len);
		dmark = p2p_w_begin(w, 2);
		if (p2p_dest_list_encode(w, in->dests, in->ndests) != 0)
			return -1;
		if (p2p_w_ok(w) && w->len - dmark - 2 < 3)
			return -1;
		p2p_w_end(w, dmark, 2);
		break;
	default:
		p2p_w_raw(w, in->raw.p, in->raw.len);
		break;
	}
	p2p_w_end(w, mark, 2);
	return p2p_w_ok(w) ? 0 : -1;
}

/* ---- TURN-SERVICE value ---- */

int
p2p_turn_server_decode(p2p_bytes in, p2p_turn_server *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	dec_init(&d, in.p, NULL, NULL, err);
	if (!p2p_r_u8(&r, &out->iteration))
		return fail(&d, &r, "TurnServer truncated");
	if (p2p_addr_port_decode1(&r, &out->addr, err) != 0)
		return fix_off(&d, &r);
	return whole(&d, &r, 0, 0);
}

int
p2p_turn_server_encode(p2p_wbuf *w, const p2p_turn_server *in)
{
	p2p_w_u8(w, in->iteration);
	if (p2p_addr_port_encode(w, &in->addr) != 0)
		return -1;
	return p2p_w_ok(w) ? 0 : -1;
}
