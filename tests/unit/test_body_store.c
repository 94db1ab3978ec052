#include "unit.h"

#include "body_store.h"

static _Alignas(16) uint8_t arena_mem[1 << 16];

#define KIND_UNKNOWN	0x77777777u
#define KIND_PRIVATE	0xf0000001u

static enum p2p_data_model
lookup(void *arg, uint32_t kind)
{
	(void)arg;
	switch (kind) {
	case P2P_KIND_SIP_REGISTRATION:
		return P2P_MODEL_DICTIONARY;
	case P2P_KIND_TURN_SERVICE:
	case KIND_PRIVATE:
		return P2P_MODEL_SINGLE;
	case P2P_KIND_CERTIFICATE_BY_NODE:
	case P2P_KIND_CERTIFICATE_BY_USER:
		return P2P_MODEL_ARRAY;
	default:
		return P2P_MODEL_UNKNOWN;
	}
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

static p2p_arena *
fresh_arena(p2p_arena *a)
{
	p2p_arena_init(a, arena_mem, sizeof(arena_mem));
	return a;
}

static void
assert_bytes(p2p_bytes a, p2p_bytes b)
{
	assert_int_equal(a.len, b.len);
	if (a.len > 0)
		assert_memory_equal(a.p, b.p, a.len);
}

/* ---- checks shared by every structure ---- */

typedef int (*decode_fn)(p2p_bytes in, p2p_arena *a, p2p_err *err);

/*
 * Every strict prefix must fail (each decoded from an exactly sized heap
 * copy so ASan sees over-reads), the whole input must pass, and one byte
 * more must fail.
 */
static void
check_truncation(const uint8_t *p, size_t len, decode_fn f)
{
	p2p_arena a;
	p2p_err err;

	for (size_t n = 0; n <= len + 1; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, p, n <= len ? n : len);
		if (n > len)
			cut[len] = 0;
		memset(&err, 0, sizeof(err));
		fresh_arena(&a);
		if (n == len) {
			assert_int_equal(f(B(cut, n), &a, &err), 0);
		} else {
			assert_int_equal(f(B(cut, n), &a, &err), -1);
			assert_non_null(err.what);
			assert_int_equal(err.reload_code,
			    P2P_ERR_INVALID_MESSAGE);
			assert_true(err.offset <= n);
			assert_int_equal(a.used, 0);
		}
		free(cut);
	}
}

/*
 * Decode into arenas of every size from 0 up: each too small must fail
 * cleanly (the arena is an exact heap block, so ASan sees overruns) and
 * leave nothing allocated, until one is large enough.
 */
static void
check_arena(const uint8_t *p, size_t len, decode_fn f)
{
	size_t failures = 0;

	for (size_t sz = 0; sz < sizeof(arena_mem); sz++) {
		uint8_t *mem = malloc(sz ? sz : 1);
		p2p_arena a;
		p2p_err err;
		int rc;

		assert_non_null(mem);
		p2p_arena_init(&a, mem, sz);
		memset(&err, 0, sizeof(err));
		rc = f(B(p, len), &a, &err);
		free(mem);
		if (rc == 0) {
			assert_true(failures > 0);
			return;
		}
		assert_non_null(err.what);
		assert_int_equal(a.used, 0);
		failures++;
	}
	fail_msg("never decoded");
}

static int
dec_store_req(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_store_req x;
	return p2p_store_req_decode(in, a, &LK, &x, err);
}

static int
dec_store_ans(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_store_ans x;
	return p2p_store_ans_decode(in, a, &x, err);
}

static int
dec_gen_error(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_store_ans x;
	return p2p_gen_error_decode(in, a, &x, err);
}

static int
dec_fetch_req(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_fetch_req x;
	return p2p_fetch_req_decode(in, a, &LK, &x, err);
}

static int
dec_fetch_ans(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_fetch_ans x;
	return p2p_fetch_ans_decode(in, a, &LK, &x, err);
}

static int
dec_stat_req(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_stat_req x;
	return p2p_stat_req_decode(in, a, &LK, &x, err);
}

static int
dec_stat_ans(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_stat_ans x;
	return p2p_stat_ans_decode(in, a, &LK, &x, err);
}

static int
dec_find_req(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_find_req x;
	return p2p_find_req_decode(in, a, &x, err);
}

static int
dec_find_ans(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_find_ans x;
	return p2p_find_ans_decode(in, a, &x, err);
}

static int
dec_sip_reg(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_sip_reg x;
	return p2p_sip_reg_decode(in, a, &x, err);
}

static int
dec_turn_server(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_turn_server x;
	(void)a;
	return p2p_turn_server_decode(in, &x, err);
}

static int
dec_stored_single(p2p_bytes in, p2p_arena *a, p2p_err *err)
{
	p2p_stored_data x;
	(void)a;
	return p2p_stored_data_decode(in, P2P_MODEL_SINGLE, &x, err);
}

/* ---- golden vectors, written from the RFC 6940 s7 layouts ---- */

/* StoreReq: one TURN-SERVICE (single value) kind, one StoredData signed
 * with RSA/SHA-256 and a cert_hash signer. */
static const char store_req_hex[] =
    "10 00112233445566778899aabbccddeeff"	/* resource */
    "00"					/* replica_number */
    "00000055"					/* kind_data length */
    "00000002 0000000000000007"			/* kind, generation */
    "00000045"					/* values length */
    "00000041"					/* StoredData length */
    "0000017f2a3b4c5d"				/* storage_time */
    "00000e10"					/* lifetime 3600 */
    "01 00000003 616263"			/* exists, "abc" */
    "04 01"					/* sha256, rsa */
    "01 0022 04 20"				/* cert_hash, sha256 */
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "0004 deadbeef";				/* signature value */

/* FetchAns: one CERTIFICATE_BY_NODE (array) kind holding two values: a
 * signed one at index 0 and an unsigned nonexistent one at index 1. */
static const char fetch_ans_hex[] =
    "00000076"					/* kind_responses */
    "00000003 0000000000000002"			/* kind, generation */
    "00000066"					/* values length */
    "00000042 0000000000000001 00000064"	/* length, time, life */
    "00000000 01 00000002 3082"			/* index 0, exists */
    "04 03 02 0022 04 20"			/* ecdsa, node-id hash */
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    "0002 0102"
    "0000001c 0000000000000002 00000000"
    "00000001 00 00000000"			/* index 1, absent */
    "00 00 03 0000 0000";			/* no signature */

static void
test_golden_store_req(void **state)
{
	uint8_t buf[256];
	size_t n = unit_hex(store_req_hex, buf, sizeof(buf));
	p2p_store_req req;
	p2p_stored_data *sd;
	p2p_arena a;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	assert_int_equal(n, 107);
	assert_int_equal(p2p_store_req_decode(B(buf, n), fresh_arena(&a), &LK,
	    &req, &err), 0);
	assert_int_equal(req.resource.len, 16);
	assert_int_equal(req.resource.p[0], 0x00);
	assert_int_equal(req.resource.p[15], 0xff);
	assert_int_equal(req.replica_number, 0);
	assert_int_equal(req.nkinds, 1);
	assert_int_equal(req.kinds[0].kind, P2P_KIND_TURN_SERVICE);
	assert_int_equal(req.kinds[0].model, P2P_MODEL_SINGLE);
	assert_true(req.kinds[0].generation == 7);
	assert_int_equal(req.kinds[0].nvalues, 1);
	sd = &req.kinds[0].values[0];
	assert_true(sd->storage_time == 0x17f2a3b4c5dull);
	assert_int_equal(sd->lifetime, 3600);
	assert_int_equal(sd->value.data.exists, 1);
	assert_bytes(sd->value.data.value, S("abc"));
	assert_int_equal(sd->sig.hash_alg, P2P_HASH_SHA256);
	assert_int_equal(sd->sig.sig_alg, P2P_SIGALG_RSA);
	assert_int_equal(sd->sig.signer.type, P2P_SIGNER_CERT_HASH);
	assert_int_equal(sd->sig.signer.hash_alg, P2P_HASH_SHA256);
	assert_int_equal(sd->sig.signer.hash.len, 32);
	assert_int_equal(sd->sig.signer.hash.p[31], 0xaa);
	assert_bytes(sd->sig.value, B("\xde\xad\xbe\xef", 4));
	/* our encoder writes the same bytes */
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_store_req_encode(&w, &req), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	p2p_w_free(&w);
}

static void
test_golden_fetch_ans(void **state)
{
	uint8_t buf[256];
	size_t n = unit_hex(fetch_ans_hex, buf, sizeof(buf));
	p2p_fetch_ans ans;
	p2p_stored_data *v0, *v1, nx;
	p2p_arena a;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	assert_int_equal(n, 122);
	assert_int_equal(p2p_fetch_ans_decode(B(buf, n), fresh_arena(&a), &LK,
	    &ans, &err), 0);
	assert_int_equal(ans.nkinds, 1);
	assert_int_equal(ans.kinds[0].kind, P2P_KIND_CERTIFICATE_BY_NODE);
	assert_int_equal(ans.kinds[0].model, P2P_MODEL_ARRAY);
	assert_true(ans.kinds[0].generation == 2);
	assert_int_equal(ans.kinds[0].nvalues, 2);
	v0 = &ans.kinds[0].values[0];
	v1 = &ans.kinds[0].values[1];
	assert_true(v0->storage_time == 1);
	assert_int_equal(v0->lifetime, 100);
	assert_int_equal(v0->value.index, 0);
	assert_int_equal(v0->value.data.exists, 1);
	assert_bytes(v0->value.data.value, B("\x30\x82", 2));
	assert_int_equal(v0->sig.hash_alg, P2P_HASH_SHA256);
	assert_int_equal(v0->sig.sig_alg, P2P_SIGALG_ECDSA);
	assert_int_equal(v0->sig.signer.type, P2P_SIGNER_CERT_HASH_NODE_ID);
	assert_int_equal(v0->sig.signer.hash.len, 32);
	assert_bytes(v0->sig.value, B("\x01\x02", 2));
	assert_true(v1->storage_time == 2);
	assert_int_equal(v1->lifetime, 0);
	assert_int_equal(v1->value.index, 1);
	assert_int_equal(v1->value.data.exists, 0);
	assert_int_equal(v1->value.data.value.len, 0);
	assert_int_equal(v1->sig.hash_alg, 0);
	assert_int_equal(v1->sig.sig_alg, 0);
	assert_int_equal(v1->sig.signer.type, P2P_SIGNER_NONE);
	assert_int_equal(v1->sig.value.len, 0);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_fetch_ans_encode(&w, &ans), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	/* the second value is what the nonexistent helper builds, apart
	 * from its storage time */
	p2p_stored_data_nonexistent(&nx, 1, B(NULL, 0));
	nx.storage_time = 2;
	p2p_w_reset(&w);
	assert_int_equal(p2p_stored_data_encode(&w, P2P_MODEL_ARRAY, &nx), 0);
	assert_int_equal(w.len, 32);
	assert_memory_equal(w.p, buf + 4 + 16 + 70, 32);
	p2p_w_free(&w);
}

static void
test_nonexistent_single(void **state)
{
	uint8_t want[64];
	size_t n = unit_hex("00000018 0000000000000000 00000000 00 00000000"
	    "00 00 03 0000 0000", want, sizeof(want));
	p2p_stored_data nx;
	p2p_wbuf w;

	(void)state;
	p2p_stored_data_nonexistent(&nx, 0, B(NULL, 0));
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_stored_data_encode(&w, P2P_MODEL_SINGLE, &nx), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, want, n);
	check_truncation(w.p, w.len, dec_stored_single);
	p2p_w_free(&w);
}

/* ---- builders for the round trips ---- */

static uint8_t hash32[32], sig64[64], node_a[16], node_b[16];

static void
init_blobs(void)
{
	for (size_t i = 0; i < sizeof(hash32); i++)
		hash32[i] = (uint8_t)(0x40 + i);
	for (size_t i = 0; i < sizeof(sig64); i++)
		sig64[i] = (uint8_t)(0x80 + i);
	for (size_t i = 0; i < sizeof(node_a); i++) {
		node_a[i] = (uint8_t)(0xa0 + i);
		node_b[i] = (uint8_t)(0xb0 + i);
	}
}

static void
mk_sd(p2p_stored_data *sd, uint64_t t, uint32_t life, uint8_t exists,
    p2p_bytes value, uint8_t signer)
{
	memset(sd, 0, sizeof(*sd));
	sd->storage_time = t;
	sd->lifetime = life;
	sd->value.data.exists = exists;
	sd->value.data.value = value;
	sd->sig.hash_alg = P2P_HASH_SHA256;
	sd->sig.sig_alg = P2P_SIGALG_RSA;
	sd->sig.signer.type = signer;
	if (signer != P2P_SIGNER_NONE) {
		sd->sig.signer.hash_alg = P2P_HASH_SHA256;
		sd->sig.signer.hash = B(hash32, sizeof(hash32));
	}
	sd->sig.value = B(sig64, sizeof(sig64));
}

struct rich {
	p2p_stored_data single[1], array[3], dict[3];
	p2p_kind_data kinds[4];
	p2p_wbuf unknown_raw;
};

static void
build_rich(struct rich *r)
{
	p2p_stored_data u;

	init_blobs();
	mk_sd(&r->single[0], 1700000000000ull, 600, 1, S("turn:192.0.2.1"),
	    P2P_SIGNER_CERT_HASH);
	mk_sd(&r->array[0], 1700000000001ull, 86400, 1, S("cert-one"),
	    P2P_SIGNER_CERT_HASH);
	r->array[0].value.index = 0;
	mk_sd(&r->array[1], 1700000000002ull, 86400, 0, B(NULL, 0),
	    P2P_SIGNER_CERT_HASH_NODE_ID);
	r->array[1].value.index = 5;
	mk_sd(&r->array[2], 1700000000003ull, 3600, 1, S("appended"),
	    P2P_SIGNER_CERT_HASH);
	r->array[2].value.index = P2P_ARRAY_APPEND;
	mk_sd(&r->dict[0], 1700000000004ull, 7200, 1, S("route to a"),
	    P2P_SIGNER_CERT_HASH);
	r->dict[0].value.key = B(node_a, sizeof(node_a));
	mk_sd(&r->dict[1], 1700000000005ull, 7200, 0, B(NULL, 0),
	    P2P_SIGNER_CERT_HASH);
	r->dict[1].value.key = B(node_b, sizeof(node_b));
	mk_sd(&r->dict[2], 1700000000006ull, 10, 1, S("v"),
	    P2P_SIGNER_NONE);
	r->dict[2].value.key = S("short key");

	memset(r->kinds, 0, sizeof(r->kinds));
	r->kinds[0] = (p2p_kind_data){ P2P_KIND_TURN_SERVICE,
	    P2P_MODEL_SINGLE, 11, r->single, 1, { NULL, 0 } };
	r->kinds[1] = (p2p_kind_data){ P2P_KIND_CERTIFICATE_BY_NODE,
	    P2P_MODEL_ARRAY, 0, r->array, 3, { NULL, 0 } };
	r->kinds[2] = (p2p_kind_data){ P2P_KIND_SIP_REGISTRATION,
	    P2P_MODEL_DICTIONARY, 0xffffffffffull, r->dict, 3, { NULL, 0 } };
	/* a kind the receiver does not know: its values stay bytes */
	mk_sd(&u, 5, 6, 1, S("opaque"), P2P_SIGNER_CERT_HASH);
	p2p_w_init(&r->unknown_raw, 0);
	assert_int_equal(p2p_stored_data_encode(&r->unknown_raw,
	    P2P_MODEL_SINGLE, &u), 0);
	r->kinds[3] = (p2p_kind_data){ KIND_UNKNOWN, P2P_MODEL_UNKNOWN, 3,
	    NULL, 0, { r->unknown_raw.p, r->unknown_raw.len } };
}

static void
assert_sd_equal(enum p2p_data_model m, const p2p_stored_data *a,
    const p2p_stored_data *b)
{
	assert_true(a->storage_time == b->storage_time);
	assert_int_equal(a->lifetime, b->lifetime);
	if (m == P2P_MODEL_ARRAY)
		assert_int_equal(a->value.index, b->value.index);
	if (m == P2P_MODEL_DICTIONARY)
		assert_bytes(a->value.key, b->value.key);
	assert_int_equal(a->value.data.exists, b->value.data.exists);
	assert_bytes(a->value.data.value, b->value.data.value);
	assert_int_equal(a->sig.hash_alg, b->sig.hash_alg);
	assert_int_equal(a->sig.sig_alg, b->sig.sig_alg);
	assert_int_equal(a->sig.signer.type, b->sig.signer.type);
	assert_int_equal(a->sig.signer.hash_alg, b->sig.signer.hash_alg);
	assert_bytes(a->sig.signer.hash, b->sig.signer.hash);
	assert_bytes(a->sig.value, b->sig.value);
}

static void
assert_kinds_equal(const p2p_kind_data *a, const p2p_kind_data *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].kind, b[i].kind);
		assert_int_equal(a[i].model, b[i].model);
		assert_true(a[i].generation == b[i].generation);
		if (a[i].model == P2P_MODEL_UNKNOWN) {
			assert_int_equal(b[i].nvalues, 0);
			assert_bytes(a[i].raw, b[i].raw);
			continue;
		}
		assert_int_equal(a[i].nvalues, b[i].nvalues);
		for (size_t j = 0; j < a[i].nvalues; j++)
			assert_sd_equal(a[i].model, &a[i].values[j],
			    &b[i].values[j]);
	}
}

/* Encode again what was decoded: the bytes must not change. */
#define REENCODE_SAME(encode, decoded, first)				\
	do {								\
		p2p_wbuf w2_;						\
		p2p_w_init(&w2_, 0);					\
		assert_int_equal(encode(&w2_, (decoded)), 0);		\
		assert_int_equal(w2_.len, (first).len);			\
		assert_memory_equal(w2_.p, (first).p, w2_.len);		\
		p2p_w_free(&w2_);					\
	} while (0)

static void
test_store_req_round_trip(void **state)
{
	struct rich r;
	p2p_store_req req, d;
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;
	uint8_t res[16] = { 0xde, 0xad };

	(void)state;
	build_rich(&r);
	req.resource = B(res, sizeof(res));
	req.replica_number = 2;
	req.kinds = r.kinds;
	req.nkinds = 4;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_store_req_encode(&w, &req), 0);
	assert_int_equal(p2p_store_req_decode(B(w.p, w.len), fresh_arena(&a),
	    &LK, &d, &err), 0);
	assert_bytes(d.resource, req.resource);
	assert_int_equal(d.replica_number, 2);
	assert_int_equal(d.nkinds, 4);
	assert_kinds_equal(req.kinds, d.kinds, 4);
	/* the append index survives as it was sent */
	assert_int_equal(d.kinds[1].values[2].value.index, P2P_ARRAY_APPEND);
	REENCODE_SAME(p2p_store_req_encode, &d, w);
	check_truncation(w.p, w.len, dec_store_req);
	check_arena(w.p, w.len, dec_store_req);
	/* without a lookup every kind is kept raw, and still re-encodes */
	assert_int_equal(p2p_store_req_decode(B(w.p, w.len), fresh_arena(&a),
	    NULL, &d, &err), 0);
	for (size_t i = 0; i < d.nkinds; i++)
		assert_int_equal(d.kinds[i].model, P2P_MODEL_UNKNOWN);
	REENCODE_SAME(p2p_store_req_encode, &d, w);
	p2p_w_free(&w);
	p2p_w_free(&r.unknown_raw);
}

static void
test_fetch_ans_round_trip(void **state)
{
	struct rich r;
	p2p_fetch_ans ans, d;
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;

	(void)state;
	build_rich(&r);
	ans.kinds = r.kinds;
	ans.nkinds = 4;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_fetch_ans_encode(&w, &ans), 0);
	assert_int_equal(p2p_fetch_ans_decode(B(w.p, w.len), fresh_arena(&a),
	    &LK, &d, &err), 0);
	assert_int_equal(d.nkinds, 4);
	assert_kinds_equal(ans.kinds, d.kinds, 4);
	REENCODE_SAME(p2p_fetch_ans_encode, &d, w);
	check_truncation(w.p, w.len, dec_fetch_ans);
	check_arena(w.p, w.len, dec_fetch_ans);
	p2p_w_free(&w);
	p2p_w_free(&r.unknown_raw);
}

static void
test_store_ans_and_gen_error(void **state)
{
	p2p_id reps[3];
	p2p_store_kind_resp k[3];
	p2p_store_ans ans, d;
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;

	(void)state;
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < P2P_ID_LEN; j++)
			reps[i].b[j] = (uint8_t)(i * 16 + j + 1);
	k[0] = (p2p_store_kind_resp){ 1, 12, reps, 2 };
	k[1] = (p2p_store_kind_resp){ 3, 0x0102030405060708ull, &reps[2], 1 };
	k[2] = (p2p_store_kind_resp){ KIND_PRIVATE, 1, NULL, 0 };
	ans.kinds = k;
	ans.nkinds = 3;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_store_ans_encode(&w, &ans), 0);
	assert_int_equal(p2p_store_ans_decode(B(w.p, w.len), fresh_arena(&a),
	    &d, &err), 0);
	assert_int_equal(d.nkinds, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(d.kinds[i].kind, k[i].kind);
		assert_true(d.kinds[i].generation == k[i].generation);
		assert_int_equal(d.kinds[i].nreplicas, k[i].nreplicas);
		for (size_t j = 0; j < k[i].nreplicas; j++)
			assert_true(p2p_id_eq(&d.kinds[i].replicas[j],
			    &k[i].replicas[j]));
	}
	REENCODE_SAME(p2p_store_ans_encode, &d, w);
	check_truncation(w.p, w.len, dec_store_ans);
	check_arena(w.p, w.len, dec_store_ans);

	/* the generation error refuses replica lists ... */
	p2p_w_reset(&w);
	assert_int_equal(p2p_gen_error_encode(&w, &ans), -1);
	/* ... and carries the counters alone */
	k[0].nreplicas = 0;
	k[1].nreplicas = 0;
	p2p_w_reset(&w);
	assert_int_equal(p2p_gen_error_encode(&w, &ans), 0);
	{
		uint8_t want[64];
		size_t n = unit_hex("0005 002c 002a"
		    "00000001 000000000000000c 0000"
		    "00000003 0102030405060708 0000"
		    "f0000001 0000000000000001 0000", want, sizeof(want));
		assert_int_equal(w.len, n);
		assert_memory_equal(w.p, want, n);
	}
	assert_int_equal(p2p_gen_error_decode(B(w.p, w.len), fresh_arena(&a),
	    &d, &err), 0);
	assert_int_equal(d.nkinds, 3);
	assert_true(d.kinds[1].generation == 0x0102030405060708ull);
	assert_int_equal(d.kinds[2].kind, KIND_PRIVATE);
	check_truncation(w.p, w.len, dec_gen_error);
	/* another error code is not a generation error */
	w.p[1] = P2P_ERR_DATA_TOO_OLD;
	assert_int_equal(p2p_gen_error_decode(B(w.p, w.len), fresh_arena(&a),
	    &d, &err), -1);
	p2p_w_free(&w);
}

/* ---- Fetch / Stat requests ---- */

static void
build_specs(p2p_specifier *sp, p2p_array_range *rg, p2p_bytes *keys)
{
	static const uint8_t unknown_body[] = { 0xca, 0xfe, 0x00 };

	init_blobs();
	rg[0] = (p2p_array_range){ 0, 2 };
	rg[1] = (p2p_array_range){ 10, 19 };
	rg[2] = (p2p_array_range){ 4, 4 };
	rg[3] = (p2p_array_range){ 20, P2P_ARRAY_LAST };
	keys[0] = B(node_a, sizeof(node_a));
	keys[1] = S("k");
	keys[2] = B(NULL, 0);
	memset(sp, 0, 5 * sizeof(*sp));
	sp[0] = (p2p_specifier){ .kind = P2P_KIND_TURN_SERVICE,
	    .model = P2P_MODEL_SINGLE, .generation = 4 };
	sp[1] = (p2p_specifier){ .kind = P2P_KIND_CERTIFICATE_BY_USER,
	    .model = P2P_MODEL_ARRAY, .generation = 0, .ranges = rg,
	    .nranges = 4 };
	sp[2] = (p2p_specifier){ .kind = P2P_KIND_SIP_REGISTRATION,
	    .model = P2P_MODEL_DICTIONARY, .generation = 9, .keys = keys,
	    .nkeys = 3 };
	/* no keys: the whole dictionary */
	sp[3] = (p2p_specifier){ .kind = P2P_KIND_SIP_REGISTRATION,
	    .model = P2P_MODEL_DICTIONARY, .generation = 0 };
	sp[4] = (p2p_specifier){ .kind = KIND_UNKNOWN,
	    .model = P2P_MODEL_UNKNOWN, .generation = 1,
	    .raw = { unknown_body, sizeof(unknown_body) } };
}

static void
assert_specs_equal(const p2p_specifier *a, const p2p_specifier *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].kind, b[i].kind);
		assert_int_equal(a[i].model, b[i].model);
		assert_true(a[i].generation == b[i].generation);
		assert_int_equal(a[i].nranges, b[i].nranges);
		for (size_t j = 0; j < a[i].nranges; j++) {
			assert_int_equal(a[i].ranges[j].first,
			    b[i].ranges[j].first);
			assert_int_equal(a[i].ranges[j].last,
			    b[i].ranges[j].last);
		}
		assert_int_equal(a[i].nkeys, b[i].nkeys);
		for (size_t j = 0; j < a[i].nkeys; j++)
			assert_bytes(a[i].keys[j], b[i].keys[j]);
		if (a[i].model == P2P_MODEL_UNKNOWN)
			assert_bytes(a[i].raw, b[i].raw);
	}
}

static void
test_fetch_and_stat_req_round_trip(void **state)
{
	p2p_specifier sp[5];
	p2p_array_range rg[4];
	p2p_bytes keys[3];
	p2p_fetch_req req, d;
	p2p_stat_req sd;
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;
	uint8_t res[16] = { 1, 2, 3 };

	(void)state;
	build_specs(sp, rg, keys);
	req.resource = B(res, sizeof(res));
	req.specs = sp;
	req.nspecs = 5;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_fetch_req_encode(&w, &req), 0);
	assert_int_equal(p2p_fetch_req_decode(B(w.p, w.len), fresh_arena(&a),
	    &LK, &d, &err), 0);
	assert_bytes(d.resource, req.resource);
	assert_int_equal(d.nspecs, 5);
	assert_specs_equal(sp, d.specs, 5);
	REENCODE_SAME(p2p_fetch_req_encode, &d, w);
	check_truncation(w.p, w.len, dec_fetch_req);
	check_arena(w.p, w.len, dec_fetch_req);
	/* StatReq has the same layout */
	assert_int_equal(p2p_stat_req_decode(B(w.p, w.len), fresh_arena(&a),
	    &LK, &sd, &err), 0);
	assert_specs_equal(sp, sd.specs, 5);
	REENCODE_SAME(p2p_stat_req_encode, &sd, w);
	check_truncation(w.p, w.len, dec_stat_req);
	p2p_w_free(&w);
}

static void
test_specifier_hand_bytes(void **state)
{
	uint8_t buf[128];
	size_t n;
	p2p_rbuf r;
	p2p_specifier s;
	p2p_arena a;
	p2p_err err;

	(void)state;
	/* array specifier: two ranges, the second ending at "last" */
	n = unit_hex("00000003 0000000000000005 0012 0010"
	    "00000000 00000001 00000005 ffffffff", buf, sizeof(buf));
	p2p_r_init(&r, buf, n);
	assert_int_equal(p2p_specifier_decode1(&r, fresh_arena(&a), &LK, &s,
	    &err), 0);
	assert_int_equal(p2p_r_left(&r), 0);
	assert_int_equal(s.model, P2P_MODEL_ARRAY);
	assert_true(s.generation == 5);
	assert_int_equal(s.nranges, 2);
	assert_int_equal(s.ranges[1].first, 5);
	assert_int_equal(s.ranges[1].last, P2P_ARRAY_LAST);
	/* dictionary specifier with two keys */
	n = unit_hex("00000001 0000000000000000 0009 0007"
	    "0002 6162 0001 63", buf, sizeof(buf));
	p2p_r_init(&r, buf, n);
	assert_int_equal(p2p_specifier_decode1(&r, fresh_arena(&a), &LK, &s,
	    &err), 0);
	assert_int_equal(s.nkeys, 2);
	assert_bytes(s.keys[0], S("ab"));
	assert_bytes(s.keys[1], S("c"));
	/* unknown kind: bytes kept for Error_Unknown_Kind */
	n = unit_hex("12345678 0000000000000000 0003 010203", buf,
	    sizeof(buf));
	p2p_r_init(&r, buf, n);
	assert_int_equal(p2p_specifier_decode1(&r, fresh_arena(&a), &LK, &s,
	    &err), 0);
	assert_int_equal(s.model, P2P_MODEL_UNKNOWN);
	assert_int_equal(s.kind, 0x12345678);
	assert_bytes(s.raw, B("\x01\x02\x03", 3));
}

/* ---- Stat answers ---- */

static void
test_stat_ans_round_trip(void **state)
{
	p2p_stored_meta m1[1], m2[2], m3[2];
	p2p_stat_kind k[4];
	p2p_stat_ans ans, d;
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;
	static const uint8_t raw[] = { 9, 9, 9 };

	(void)state;
	init_blobs();
	memset(m1, 0, sizeof(m1));
	memset(m2, 0, sizeof(m2));
	memset(m3, 0, sizeof(m3));
	m1[0] = (p2p_stored_meta){ 120, 1000, 60, 0, { NULL, 0 },
	    { 1, 14, P2P_HASH_SHA256, { hash32, 32 } } };
	m2[0] = (p2p_stored_meta){ 100, 1001, 61, 0, { NULL, 0 },
	    { 1, 8, P2P_HASH_SHA1, { hash32, 20 } } };
	m2[1] = (p2p_stored_meta){ 90, 1002, 62, 7, { NULL, 0 },
	    { 0, 0, P2P_HASH_NONE, { NULL, 0 } } };
	m3[0] = (p2p_stored_meta){ 130, 1003, 63, 0, { node_a, 16 },
	    { 1, 10, P2P_HASH_SHA256, { hash32, 32 } } };
	m3[1] = (p2p_stored_meta){ 131, 1004, 64, 0, S("x"),
	    { 0, 0, P2P_HASH_SHA256, { hash32, 32 } } };
	k[0] = (p2p_stat_kind){ P2P_KIND_TURN_SERVICE, P2P_MODEL_SINGLE, 2,
	    m1, 1, { NULL, 0 } };
	k[1] = (p2p_stat_kind){ P2P_KIND_CERTIFICATE_BY_NODE, P2P_MODEL_ARRAY,
	    3, m2, 2, { NULL, 0 } };
	k[2] = (p2p_stat_kind){ P2P_KIND_SIP_REGISTRATION,
	    P2P_MODEL_DICTIONARY, 4, m3, 2, { NULL, 0 } };
	k[3] = (p2p_stat_kind){ KIND_UNKNOWN, P2P_MODEL_UNKNOWN, 5, NULL, 0,
	    { raw, sizeof(raw) } };
	ans.kinds = k;
	ans.nkinds = 4;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_stat_ans_encode(&w, &ans), 0);
	assert_int_equal(p2p_stat_ans_decode(B(w.p, w.len), fresh_arena(&a),
	    &LK, &d, &err), 0);
	assert_int_equal(d.nkinds, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(d.kinds[i].kind, k[i].kind);
		assert_int_equal(d.kinds[i].model, k[i].model);
		assert_true(d.kinds[i].generation == k[i].generation);
		assert_int_equal(d.kinds[i].nvalues, k[i].nvalues);
		for (size_t j = 0; j < k[i].nvalues; j++) {
			const p2p_stored_meta *x = &k[i].values[j];
			const p2p_stored_meta *y = &d.kinds[i].values[j];
			assert_int_equal(x->value_length, y->value_length);
			assert_true(x->storage_time == y->storage_time);
			assert_int_equal(x->lifetime, y->lifetime);
			assert_int_equal(x->index, y->index);
			assert_bytes(x->key, y->key);
			assert_int_equal(x->meta.exists, y->meta.exists);
			assert_int_equal(x->meta.value_length,
			    y->meta.value_length);
			assert_int_equal(x->meta.hash_alg, y->meta.hash_alg);
			assert_bytes(x->meta.hash, y->meta.hash);
		}
	}
	assert_bytes(d.kinds[3].raw, B(raw, sizeof(raw)));
	REENCODE_SAME(p2p_stat_ans_encode, &d, w);
	check_truncation(w.p, w.len, dec_stat_ans);
	check_arena(w.p, w.len, dec_stat_ans);
	/* a bad 'exists' in metadata */
	{
		uint8_t buf[128];
		size_t n = unit_hex("00000027 00000002 0000000000000001"
		    "00000017 00000001 0000000000000002 00000003"
		    "02 00000004 04 00", buf, sizeof(buf));
		assert_int_equal(p2p_stat_ans_decode(B(buf, n),
		    fresh_arena(&a), &LK, &d, &err), -1);
		buf[n - 7] = 1;
		assert_int_equal(p2p_stat_ans_decode(B(buf, n),
		    fresh_arena(&a), &LK, &d, &err), 0);
		assert_int_equal(d.kinds[0].values[0].meta.value_length, 4);
	}
	p2p_w_free(&w);
}

/* ---- Find ---- */

static void
test_find_round_trip(void **state)
{
	uint32_t kinds[3] = { 1, 3, KIND_PRIVATE };
	p2p_find_req req, d;
	p2p_find_kind res[3];
	p2p_find_ans ans, da;
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;
	uint8_t rid[16] = { 0x55, 0x66 }, zero[16] = { 0 };

	(void)state;
	req.resource = B(rid, sizeof(rid));
	req.kinds = kinds;
	req.nkinds = 3;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_find_req_encode(&w, &req), 0);
	assert_int_equal(p2p_find_req_decode(B(w.p, w.len), fresh_arena(&a),
	    &d, &err), 0);
	assert_bytes(d.resource, req.resource);
	assert_int_equal(d.nkinds, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(d.kinds[i], kinds[i]);
	REENCODE_SAME(p2p_find_req_encode, &d, w);
	check_truncation(w.p, w.len, dec_find_req);
	check_arena(w.p, w.len, dec_find_req);

	res[0] = (p2p_find_kind){ 1, { rid, 16 } };
	res[1] = (p2p_find_kind){ 3, { NULL, 0 } };
	res[2] = (p2p_find_kind){ KIND_PRIVATE, { zero, 16 } };
	ans.results = res;
	ans.nresults = 3;
	p2p_w_reset(&w);
	assert_int_equal(p2p_find_ans_encode(&w, &ans), 0);
	assert_int_equal(p2p_find_ans_decode(B(w.p, w.len), fresh_arena(&a),
	    &da, &err), 0);
	assert_int_equal(da.nresults, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(da.results[i].kind, res[i].kind);
		assert_bytes(da.results[i].closest, res[i].closest);
	}
	assert_false(p2p_find_kind_is_none(&da.results[0]));
	assert_true(p2p_find_kind_is_none(&da.results[1]));
	assert_true(p2p_find_kind_is_none(&da.results[2]));
	REENCODE_SAME(p2p_find_ans_encode, &da, w);
	check_truncation(w.p, w.len, dec_find_ans);
	check_arena(w.p, w.len, dec_find_ans);
	p2p_w_free(&w);
}

/* ---- StoredData signature input ---- */

static void
test_sig_input(void **state)
{
	p2p_stored_data sd;
	p2p_wbuf w, w2;
	uint8_t res[16], want[256];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(res); i++)
		res[i] = (uint8_t)(0x10 + i);
	memset(&sd, 0, sizeof(sd));
	sd.storage_time = 0x0102030405060708ull;
	sd.lifetime = 99;		/* not covered */
	sd.value.index = 7;		/* written as 0 */
	sd.value.data.exists = 1;
	sd.value.data.value = S("xy");
	sd.sig.hash_alg = P2P_HASH_SHA256;
	sd.sig.sig_alg = P2P_SIGALG_RSA;
	sd.sig.signer.type = P2P_SIGNER_CERT_HASH;
	sd.sig.signer.hash_alg = P2P_HASH_SHA256;
	sd.sig.signer.hash = B("\x11\x22\x33", 3);
	sd.sig.value = S("not covered");
	n = unit_hex(
#if P2P_STORED_SIG_RESOURCE_PREFIXED
	    "10"
#endif
	    "101112131415161718191a1b1c1d1e1f"	/* resource, raw */
	    "00000003"				/* kind */
	    "0102030405060708"			/* storage_time */
	    "00000000 01 00000002 7879"		/* ArrayEntry, index 0 */
	    "01 0005 04 03 112233",		/* SignerIdentity */
	    want, sizeof(want));
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_stored_data_sig_input(&w, B(res, 16),
	    P2P_KIND_CERTIFICATE_BY_NODE, P2P_MODEL_ARRAY, &sd), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, want, n);
	/* stored with the append index, verified with the real one */
	sd.value.index = P2P_ARRAY_APPEND;
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_stored_data_sig_input(&w2, B(res, 16),
	    P2P_KIND_CERTIFICATE_BY_NODE, P2P_MODEL_ARRAY, &sd), 0);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);
	/* dictionary keys are covered */
	sd.value.key = S("key");
	p2p_w_reset(&w2);
	assert_int_equal(p2p_stored_data_sig_input(&w2, B(res, 16), 1,
	    P2P_MODEL_DICTIONARY, &sd), 0);
	n = unit_hex("101112131415161718191a1b1c1d1e1f 00000001"
	    "0102030405060708 0003 6b6579 01 00000002 7879"
	    "01 0005 04 03 112233", want, sizeof(want));
#if !P2P_STORED_SIG_RESOURCE_PREFIXED
	assert_int_equal(w2.len, n);
	assert_memory_equal(w2.p, want, n);
#endif
	p2p_w_free(&w);
	p2p_w_free(&w2);
}

/* ---- TURN-SERVICE ---- */

static void
test_turn_server(void **state)
{
	static const uint8_t v4[4] = { 192, 0, 2, 1 };
	p2p_turn_server ts, d;
	p2p_wbuf w;
	p2p_err err;
	uint8_t buf[64];
	size_t n;

	(void)state;
	/* by hand: iteration 3, 192.0.2.1:3478 */
	n = unit_hex("03 01 06 c0000201 0d96", buf, sizeof(buf));
	assert_int_equal(p2p_turn_server_decode(B(buf, n), &d, &err), 0);
	assert_int_equal(d.iteration, 3);
	assert_int_equal(d.addr.type, P2P_ADDR_IPV4);
	assert_memory_equal(d.addr.addr, v4, 4);
	assert_int_equal(d.addr.port, 3478);
	ts.iteration = 3;
	p2p_addr_port_v4(&ts.addr, v4, 3478);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_turn_server_encode(&w, &ts), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	check_truncation(buf, n, dec_turn_server);

	/* IPv6 */
	n = unit_hex("14 02 12 20010db8000000000000000000000001 0d97", buf,
	    sizeof(buf));
	assert_int_equal(p2p_turn_server_decode(B(buf, n), &d, &err), 0);
	assert_int_equal(d.iteration, 20);
	assert_int_equal(d.addr.type, P2P_ADDR_IPV6);
	assert_int_equal(d.addr.port, 3479);
	p2p_w_reset(&w);
	assert_int_equal(p2p_turn_server_encode(&w, &d), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	check_truncation(buf, n, dec_turn_server);

	/* a later address type is kept by its length */
	n = unit_hex("01 07 03 616263", buf, sizeof(buf));
	assert_int_equal(p2p_turn_server_decode(B(buf, n), &d, &err), 0);
	assert_int_equal(d.addr.type, 7);
	assert_int_equal(d.addr.raw.len, 3);

	/* rejected: address type 0, a wrong IPv4 length, nothing at all */
	n = unit_hex("01 00 00", buf, sizeof(buf));
	assert_int_equal(p2p_turn_server_decode(B(buf, n), &d, &err), -1);
	n = unit_hex("01 01 05 c0000201 0d", buf, sizeof(buf));
	assert_int_equal(p2p_turn_server_decode(B(buf, n), &d, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	assert_int_equal(p2p_turn_server_decode(B(NULL, 0), &d, &err), -1);
	/* an address of no type cannot be written */
	memset(&ts, 0, sizeof(ts));
	p2p_w_reset(&w);
	assert_int_equal(p2p_turn_server_encode(&w, &ts), -1);
	p2p_w_free(&w);
}

/* ---- SIP registrations ---- */

static void
test_sip_reg(void **state)
{
	p2p_sip_reg reg, d;
	p2p_dest dests[2];
	p2p_id n1, n2;
	p2p_wbuf w;
	p2p_arena a;
	p2p_err err;
	uint8_t buf[128];
	size_t n;

	(void)state;
	/* by hand: a URI registration */
	n = unit_hex("01 0017 0015 616c69636540646874 2e6578616d706c652e636f6d",
	    buf, sizeof(buf));
	assert_int_equal(p2p_sip_reg_decode(B(buf, n), fresh_arena(&a), &d,
	    &err), 0);
	assert_int_equal(d.type, P2P_SIPREG_URI);
	assert_bytes(d.uri, S("alice@dht.example.com"));
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_sip_reg_encode(&w, &d), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);
	check_truncation(buf, n, dec_sip_reg);

	/* a route through two nodes, with contact preferences */
	memset(&n1, 0x31, sizeof(n1));
	memset(&n2, 0x32, sizeof(n2));
	p2p_dest_node(&dests[0], &n1);
	p2p_dest_node(&dests[1], &n2);
	memset(&reg, 0, sizeof(reg));
	reg.type = P2P_SIPREG_ROUTE;
	reg.contact_prefs = S("sip.schemes=SIPS");
	reg.dests = dests;
	reg.ndests = 2;
	p2p_w_reset(&w);
	assert_int_equal(p2p_sip_reg_encode(&w, &reg), 0);
	assert_int_equal(w.len, 1 + 2 + 2 + 16 + 2 + 36);
	assert_int_equal(p2p_sip_reg_decode(B(w.p, w.len), fresh_arena(&a), &d,
	    &err), 0);
	assert_int_equal(d.type, P2P_SIPREG_ROUTE);
	assert_bytes(d.contact_prefs, reg.contact_prefs);
	assert_int_equal(d.ndests, 2);
	assert_int_equal(d.dests[0].type, P2P_DEST_NODE);
	assert_true(p2p_id_eq(&d.dests[0].node, &n1));
	assert_true(p2p_id_eq(&d.dests[1].node, &n2));
	REENCODE_SAME(p2p_sip_reg_encode, &d, w);
	check_truncation(w.p, w.len, dec_sip_reg);
	check_arena(w.p, w.len, dec_sip_reg);

	/* an unknown type is kept by its length */
	n = unit_hex("07 0004 01020304", buf, sizeof(buf));
	assert_int_equal(p2p_sip_reg_decode(B(buf, n), fresh_arena(&a), &d,
	    &err), 0);
	assert_int_equal(d.type, 7);
	assert_bytes(d.raw, B("\x01\x02\x03\x04", 4));
	p2p_w_reset(&w);
	assert_int_equal(p2p_sip_reg_encode(&w, &d), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);

	/* a destination list under 3 bytes (one compressed id) is refused */
	n = unit_hex("02 0006 0000 0002 8001", buf, sizeof(buf));
	assert_int_equal(p2p_sip_reg_decode(B(buf, n), fresh_arena(&a), &d,
	    &err), -1);
	memset(&dests[0], 0, sizeof(dests[0]));
	dests[0].type = P2P_DEST_COMPRESSED;
	dests[0].compressed = 0x8001;
	reg.contact_prefs = B(NULL, 0);
	reg.ndests = 1;
	p2p_w_reset(&w);
	assert_int_equal(p2p_sip_reg_encode(&w, &reg), -1);
	/* inner lengths that disagree with the outer one */
	n = unit_hex("01 0004 0001 61 00", buf, sizeof(buf));
	assert_int_equal(p2p_sip_reg_decode(B(buf, n), fresh_arena(&a), &d,
	    &err), -1);
	p2p_w_free(&w);
}

/* ---- rejections ---- */

static int
decode_hex_store_req(const char *hex)
{
	uint8_t buf[256];
	size_t n = unit_hex(hex, buf, sizeof(buf));
	p2p_store_req req;
	p2p_arena a;
	p2p_err err;

	return p2p_store_req_decode(B(buf, n), fresh_arena(&a), &LK, &req,
	    &err);
}

static void
test_stored_data_length_mismatch(void **state)
{
	uint8_t buf[256];
	size_t n;
	p2p_store_req req;
	p2p_arena a;
	p2p_err err;
	const char *sig = "04 01 01 0022 04 20"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "0004 deadbeef";
	char hex[1024];

	(void)state;
	assert_int_equal(decode_hex_store_req(store_req_hex), 0);
	/* StoredData length one too large, with a spare byte inside it and
	 * every enclosing length adjusted: still refused */
	snprintf(hex, sizeof(hex), "10 00112233445566778899aabbccddeeff 00"
	    "00000056 00000002 0000000000000007 00000046"
	    "00000042 0000017f2a3b4c5d 00000e10 01 00000003 616263 %s 00",
	    sig);
	assert_int_equal(decode_hex_store_req(hex), -1);
	/* one too small: the signature runs out of the StoredData */
	snprintf(hex, sizeof(hex), "10 00112233445566778899aabbccddeeff 00"
	    "00000055 00000002 0000000000000007 00000045"
	    "00000040 0000017f2a3b4c5d 00000e10 01 00000003 616263 %s",
	    sig);
	assert_int_equal(decode_hex_store_req(hex), -1);
	/* the values list one byte longer than its StoredData */
	snprintf(hex, sizeof(hex), "10 00112233445566778899aabbccddeeff 00"
	    "00000056 00000002 0000000000000007 00000046"
	    "00000041 0000017f2a3b4c5d 00000e10 01 00000003 616263 %s 00",
	    sig);
	assert_int_equal(decode_hex_store_req(hex), -1);
	/* a DataValue length that overruns the StoredData */
	snprintf(hex, sizeof(hex), "10 00112233445566778899aabbccddeeff 00"
	    "00000055 00000002 0000000000000007 00000045"
	    "00000041 0000017f2a3b4c5d 00000e10 01 00000004 616263 %s",
	    sig);
	assert_int_equal(decode_hex_store_req(hex), -1);
	/* a trailing byte after the body */
	n = unit_hex(store_req_hex, buf, sizeof(buf));
	buf[n] = 0;
	assert_int_equal(p2p_store_req_decode(B(buf, n + 1), fresh_arena(&a),
	    &LK, &req, &err), -1);
	/* the framing of an unknown kind's values is still checked */
	n = unit_hex("00 00 00000014 12345678 0000000000000000 00000004"
	    "00000001", buf, sizeof(buf));
	assert_int_equal(p2p_store_req_decode(B(buf, n), fresh_arena(&a),
	    &LK, &req, &err), -1);
	n = unit_hex("00 00 00000015 12345678 0000000000000000 00000005"
	    "00000001 ff", buf, sizeof(buf));
	assert_int_equal(p2p_store_req_decode(B(buf, n), fresh_arena(&a),
	    &LK, &req, &err), 0);
	assert_int_equal(req.kinds[0].model, P2P_MODEL_UNKNOWN);
	assert_int_equal(req.kinds[0].raw.len, 5);
}

static void
test_bad_booleans(void **state)
{
	uint8_t buf[256];
	size_t n;
	p2p_store_req req;
	p2p_fetch_ans ans;
	p2p_arena a;
	p2p_err err;
	p2p_stored_data sd;
	p2p_wbuf w;

	(void)state;
	n = unit_hex(store_req_hex, buf, sizeof(buf));
	/* 'exists' sits after resource(17) replica(1) list len(4) kind(4)
	 * generation(8) values len(4) length(4) time(8) lifetime(4) */
	assert_int_equal(buf[54], 0x01);
	buf[54] = 0x00;
	assert_int_equal(p2p_store_req_decode(B(buf, n), fresh_arena(&a), &LK,
	    &req, &err), 0);
	buf[54] = 0x02;
	assert_int_equal(p2p_store_req_decode(B(buf, n), fresh_arena(&a), &LK,
	    &req, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	assert_int_equal(err.offset, 55);
	buf[54] = 0xff;
	assert_int_equal(p2p_store_req_decode(B(buf, n), fresh_arena(&a), &LK,
	    &req, &err), -1);

	n = unit_hex(fetch_ans_hex, buf, sizeof(buf));
	assert_int_equal(buf[110], 0x00);	/* second value's 'exists' */
	buf[110] = 0x02;
	assert_int_equal(p2p_fetch_ans_decode(B(buf, n), fresh_arena(&a), &LK,
	    &ans, &err), -1);

	/* and the encoder will not write one */
	mk_sd(&sd, 1, 1, 2, S("x"), P2P_SIGNER_CERT_HASH);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_stored_data_encode(&w, P2P_MODEL_SINGLE, &sd), -1);
	/* nor a value in a model that does not exist */
	sd.value.data.exists = 1;
	p2p_w_reset(&w);
	assert_int_equal(p2p_stored_data_encode(&w, P2P_MODEL_UNKNOWN, &sd),
	    -1);
	p2p_w_reset(&w);
	assert_int_equal(p2p_stored_data_encode(&w, (enum p2p_data_model)9,
	    &sd), -1);
	p2p_w_free(&w);
}

static int
decode_array_spec(const char *ranges_hex, size_t nranges)
{
	char hex[512];
	uint8_t buf[256];
	size_t n;
	p2p_fetch_req req;
	p2p_arena a;
	p2p_err err;

	/* FetchReq: empty resource, one array specifier */
	snprintf(hex, sizeof(hex), "00 %04zx 00000003 0000000000000000"
	    "%04zx %04zx %s", 12 + 2 + 2 + 8 * nranges, 2 + 8 * nranges,
	    8 * nranges, ranges_hex);
	n = unit_hex(hex, buf, sizeof(buf));
	return p2p_fetch_req_decode(B(buf, n), fresh_arena(&a), &LK, &req,
	    &err);
}

static void
test_ranges(void **state)
{
	p2p_specifier s;
	p2p_array_range rg[2];
	p2p_wbuf w;

	(void)state;
	assert_int_equal(decode_array_spec("", 0), 0);
	assert_int_equal(decode_array_spec("00000003 00000003", 1), 0);
	assert_int_equal(decode_array_spec("00000000 ffffffff", 1), 0);
	/* adjacent ranges, in either order */
	assert_int_equal(decode_array_spec("00000000 00000004"
	    "00000005 00000009", 2), 0);
	assert_int_equal(decode_array_spec("00000005 00000009"
	    "00000000 00000004", 2), 0);
	/* inverted */
	assert_int_equal(decode_array_spec("00000005 00000003", 1), -1);
	assert_int_equal(decode_array_spec("ffffffff 00000000", 1), -1);
	/* overlapping */
	assert_int_equal(decode_array_spec("00000000 00000005"
	    "00000005 00000009", 2), -1);
	assert_int_equal(decode_array_spec("00000002 00000003"
	    "00000000 00000009", 2), -1);
	assert_int_equal(decode_array_spec("00000001 00000001"
	    "00000007 00000008 00000001 00000001", 3), -1);
	/* "last" reaches past every index */
	assert_int_equal(decode_array_spec("00000003 ffffffff"
	    "00000010 00000012", 2), -1);
	/* a range list that is not a whole number of ranges */
	{
		uint8_t buf[64];
		size_t n = unit_hex("00 0013 00000003 0000000000000000"
		    "0005 0003 000000", buf, sizeof(buf));
		p2p_fetch_req req;
		p2p_arena a;
		p2p_err err;
		assert_int_equal(p2p_fetch_req_decode(B(buf, n),
		    fresh_arena(&a), &LK, &req, &err), -1);
	}
	/* the encoder refuses the same */
	memset(&s, 0, sizeof(s));
	s.kind = 3;
	s.model = P2P_MODEL_ARRAY;
	s.ranges = rg;
	s.nranges = 2;
	rg[0] = (p2p_array_range){ 0, 4 };
	rg[1] = (p2p_array_range){ 5, P2P_ARRAY_LAST };
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_specifier_encode(&w, &s), 0);
	rg[1].first = 4;
	p2p_w_reset(&w);
	assert_int_equal(p2p_specifier_encode(&w, &s), -1);
	rg[1] = (p2p_array_range){ 9, 8 };
	p2p_w_reset(&w);
	assert_int_equal(p2p_specifier_encode(&w, &s), -1);
	p2p_w_free(&w);
}

static void
test_specifier_rejects(void **state)
{
	uint8_t buf[128];
	size_t n;
	p2p_fetch_req req;
	p2p_arena a;
	p2p_err err;

	(void)state;
#define FETCH(hex) (n = unit_hex((hex), buf, sizeof(buf)),		\
	p2p_fetch_req_decode(B(buf, n), fresh_arena(&a), &LK, &req, &err))
	/* a single-value specifier carries nothing */
	assert_int_equal(FETCH("00 000e 00000002 0000000000000000 0000"), 0);
	assert_int_equal(FETCH("00 000f 00000002 0000000000000000 0001 00"),
	    -1);
	/* the specifier length must cover the keys exactly */
	assert_int_equal(FETCH("00 0013 00000001 0000000000000000 0005"
	    "0003 0001 61"), 0);
	assert_int_equal(FETCH("00 0014 00000001 0000000000000000 0006"
	    "0003 0001 61 00"), -1);
	assert_int_equal(FETCH("00 0013 00000001 0000000000000000 0005"
	    "0004 0001 61"), -1);
	/* a key running past its list */
	assert_int_equal(FETCH("00 0013 00000001 0000000000000000 0005"
	    "0003 0002 61"), -1);
	/* specifier list longer than its contents */
	assert_int_equal(FETCH("00 000f 00000002 0000000000000000 0000"), -1);
#undef FETCH
}

static void
test_find_rejects(void **state)
{
	uint8_t buf[64];
	size_t n;
	p2p_find_req req;
	p2p_find_ans ans;
	p2p_arena a;
	p2p_err err;
	uint32_t kinds[3] = { 1, 2, 1 };
	p2p_wbuf w;

	(void)state;
	n = unit_hex("00 08 00000001 00000002", buf, sizeof(buf));
	assert_int_equal(p2p_find_req_decode(B(buf, n), fresh_arena(&a), &req,
	    &err), 0);
	n = unit_hex("00 0c 00000001 00000002 00000001", buf, sizeof(buf));
	assert_int_equal(p2p_find_req_decode(B(buf, n), fresh_arena(&a), &req,
	    &err), -1);
	assert_non_null(strstr(err.what, "twice"));
	n = unit_hex("00 06 00000001 0002", buf, sizeof(buf));
	assert_int_equal(p2p_find_req_decode(B(buf, n), fresh_arena(&a), &req,
	    &err), -1);
	req.resource = B(NULL, 0);
	req.kinds = kinds;
	req.nkinds = 3;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_find_req_encode(&w, &req), -1);
	p2p_w_free(&w);
	/* FindAns: empty and 16-byte Resource-IDs, then one overrunning */
	n = unit_hex("001a 00000001 00 00000002 10"
	    "000102030405060708090a0b0c0d0e0f", buf, sizeof(buf));
	assert_int_equal(p2p_find_ans_decode(B(buf, n), fresh_arena(&a), &ans,
	    &err), 0);
	assert_int_equal(ans.nresults, 2);
	assert_int_equal(ans.results[0].closest.len, 0);
	assert_int_equal(ans.results[1].closest.len, 16);
	assert_int_equal(ans.results[1].closest.p[15], 0x0f);
	n = unit_hex("0006 00000001 02 00", buf, sizeof(buf));
	assert_int_equal(p2p_find_ans_decode(B(buf, n), fresh_arena(&a), &ans,
	    &err), -1);
}

static void
test_store_ans_rejects(void **state)
{
	uint8_t buf[64];
	size_t n;
	p2p_store_ans ans;
	p2p_arena a;
	p2p_err err;

	(void)state;
	/* a replica list that is not a whole number of Node-IDs */
	n = unit_hex("0011 00000001 0000000000000001 0003 010203", buf,
	    sizeof(buf));
	assert_int_equal(p2p_store_ans_decode(B(buf, n), fresh_arena(&a), &ans,
	    &err), -1);
	/* error_info longer than the StoreAns inside it */
	n = unit_hex("0005 0011 000e 00000001 0000000000000001 0000 00", buf,
	    sizeof(buf));
	assert_int_equal(p2p_gen_error_decode(B(buf, n), fresh_arena(&a), &ans,
	    &err), -1);
	n = unit_hex("0005 0010 000e 00000001 0000000000000001 0000", buf,
	    sizeof(buf));
	assert_int_equal(p2p_gen_error_decode(B(buf, n), fresh_arena(&a), &ans,
	    &err), 0);
	assert_int_equal(ans.nkinds, 1);
}

static void
test_tiny_arena_golden(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = unit_hex(store_req_hex, buf, sizeof(buf));
	check_arena(buf, n, dec_store_req);
	check_truncation(buf, n, dec_store_req);
	n = unit_hex(fetch_ans_hex, buf, sizeof(buf));
	check_arena(buf, n, dec_fetch_ans);
	check_truncation(buf, n, dec_fetch_ans);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_store_req),
		cmocka_unit_test(test_golden_fetch_ans),
		cmocka_unit_test(test_nonexistent_single),
		cmocka_unit_test(test_store_req_round_trip),
		cmocka_unit_test(test_fetch_ans_round_trip),
		cmocka_unit_test(test_store_ans_and_gen_error),
		cmocka_unit_test(test_fetch_and_stat_req_round_trip),
		cmocka_unit_test(test_specifier_hand_bytes),
		cmocka_unit_test(test_stat_ans_round_trip),
		cmocka_unit_test(test_find_round_trip),
		cmocka_unit_test(test_sig_input),
		cmocka_unit_test(test_turn_server),
		cmocka_unit_test(test_sip_reg),
		cmocka_unit_test(test_stored_data_length_mismatch),
		cmocka_unit_test(test_bad_booleans),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_specifier_rejects),
		cmocka_unit_test(test_find_rejects),
		cmocka_unit_test(test_store_ans_rejects),
		cmocka_unit_test(test_tiny_arena_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
