#include "unit.h"

#include <openssl/err.h>

#include "ident.h"
#include "sign.h"

#define OVERLAY "overlay.example.org"

static _Alignas(16) uint8_t arena_mem[1 << 16];

/* A CA and one identity issued by it with n Node-IDs. */
struct fixture {
	EVP_PKEY *cak;
	X509 *ca;
	EVP_PKEY *key;
	X509 *cert;
	p2p_id ids[3];
};

static void
fixture_make(struct fixture *f, enum p2p_key_type t, size_t n)
{
	p2p_issue p = { OVERLAY, "alice@example.org", f->ids, n, 0, 0 };
	X509_REQ *csr;
	p2p_err err;

	memset(f, 0, sizeof(*f));
	f->cak = p2p_key_generate(P2P_KEY_EC_P256, &err);
	assert_non_null(f->cak);
	f->ca = p2p_ca_create(f->cak, "CA", 10, &err);
	assert_non_null(f->ca);
	f->key = p2p_key_generate(t, &err);
	assert_non_null(f->key);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p2p_id_random(&f->ids[i]), 0);
	p.not_after = time(NULL) + 86400;
	csr = p2p_csr_make(f->key, &err);
	assert_non_null(csr);
	f->cert = p2p_cert_issue(f->cak, f->ca, csr, &p, &err);
	assert_non_null(f->cert);
	X509_REQ_free(csr);
}

static void
fixture_free(struct fixture *f)
{
	X509_free(f->cert);
	X509_free(f->ca);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->cak);
}

static void
raw_round_trip(enum p2p_key_type t, uint8_t want_sig)
{
	static const char data[] = "some bytes to sign";
	EVP_PKEY *k, *other;
	uint8_t sig[P2P_SIG_MAX], ha, sa;
	size_t n;
	p2p_err err;

	k = p2p_key_generate(t, &err);
	other = p2p_key_generate(t, &err);
	assert_non_null(k);
	assert_non_null(other);
	assert_int_equal(p2p_sign_raw(k, data, sizeof(data), sig, sizeof(sig),
	    &n, &ha, &sa, &err), 0);
	assert_int_equal(ha, P2P_HASH_SHA256);
	assert_int_equal(sa, want_sig);
	assert_int_equal(p2p_verify_raw(k, ha, sa, data, sizeof(data), sig, n,
	    &err), 0);
	/* A flipped bit anywhere in the data, and in the signature. */
	for (size_t i = 0; i < sizeof(data); i++) {
		char d[sizeof(data)];
		memcpy(d, data, sizeof(d));
		d[i] ^= 0x10;
		assert_int_equal(p2p_verify_raw(k, ha, sa, d, sizeof(d), sig,
		    n, &err), -1);
	}
	sig[n / 2] ^= 0x01;
	assert_int_equal(p2p_verify_raw(k, ha, sa, data, sizeof(data), sig, n,
	    &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_FORBIDDEN);
	sig[n / 2] ^= 0x01;
	/* Wrong key, wrong algorithm codes. */
	assert_int_equal(p2p_verify_raw(other, ha, sa, data, sizeof(data), sig,
	    n, &err), -1);
	assert_int_equal(p2p_verify_raw(k, ha,
	    sa == P2P_SIGALG_RSA ? P2P_SIGALG_ECDSA : P2P_SIGALG_RSA, data,
	    sizeof(data), sig, n, &err), -1);
	assert_int_equal(p2p_verify_raw(k, P2P_HASH_SHA1, sa, data,
	    sizeof(data), sig, n, &err), -1);
	assert_int_equal(p2p_verify_raw(k, 5, sa, data, sizeof(data), sig, n,
	    &err), -1);
	/* Too small an output buffer. */
	assert_int_equal(p2p_sign_raw(k, data, sizeof(data), sig, 8, &n, &ha,
	    &sa, &err), -1);
	assert_int_equal(ERR_peek_error(), 0);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void
test_raw_ec(void **state)
{
	(void)state;
	raw_round_trip(P2P_KEY_EC_P256, P2P_SIGALG_ECDSA);
}

static void
test_raw_rsa(void **state)
{
	(void)state;
	raw_round_trip(P2P_KEY_RSA2048, P2P_SIGALG_RSA);
}

static void
test_identity(void **state)
{
	struct fixture f;
	p2p_identity id;
	p2p_id stranger;
	EVP_PKEY *k2;
	p2p_err err;

	(void)state;
	fixture_make(&f, P2P_KEY_EC_P256, 2);
	assert_int_equal(p2p_identity_init(&id, f.key, f.cert, NULL, &err), 0);
	assert_true(p2p_id_eq(&id.node, &f.ids[0]));
	assert_int_equal(id.signer.type, P2P_SIGNER_CERT_HASH_NODE_ID);
	p2p_identity_free(&id);
	assert_int_equal(p2p_identity_init(&id, f.key, f.cert, &f.ids[1], &err),
	    0);
	assert_true(p2p_id_eq(&id.node, &f.ids[1]));
	p2p_identity_free(&id);
	assert_int_equal(p2p_id_random(&stranger), 0);
	assert_int_equal(p2p_identity_init(&id, f.key, f.cert, &stranger, &err),
	    -1);
	k2 = p2p_key_generate(P2P_KEY_EC_P256, &err);
	assert_int_equal(p2p_identity_init(&id, k2, f.cert, NULL, &err), -1);
	assert_non_null(strstr(err.what, "does not match"));
	EVP_PKEY_free(k2);
	fixture_free(&f);
}

static void
data_round_trip(enum p2p_key_type t)
{
	static const uint8_t input[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct fixture f, g;
	p2p_identity id;
	p2p_signature sig;
	p2p_sigbuf sb;
	p2p_sig_who who;
	p2p_cert certs[2];
	p2p_trust *trust;
	p2p_err err;
	uint8_t bad[sizeof(input)];

	fixture_make(&f, t, 1);
	fixture_make(&g, P2P_KEY_EC_P256, 1);
	assert_int_equal(p2p_identity_init(&id, f.key, f.cert, NULL, &err), 0);
	assert_int_equal(id.signer.type, P2P_SIGNER_CERT_HASH);
	assert_int_equal(p2p_sign_data(&id, input, sizeof(input), &sig, &sb,
	    &err), 0);
	/* The signer certificate is found in the list, not at index 0. */
	certs[0].type = P2P_CERT_X509;
	assert_int_equal(p2p_cert_to_der(g.cert, (uint8_t **)&certs[0].der.p,
	    &certs[0].der.len, &err), 0);
	p2p_identity_cert(&id, &certs[1]);
	assert_int_equal(p2p_verify_data(&sig, input, sizeof(input), certs, 2,
	    NULL, NULL, &who, &err), 0);
	assert_int_equal(who.cert_index, 1);
	assert_int_equal(who.has_node, 1);
	assert_true(p2p_id_eq(&who.node, &f.ids[0]));
	assert_string_equal(who.info.user, "alice@example.org");
	assert_int_equal(X509_cmp(who.cert, f.cert), 0);
	p2p_sig_who_clear(&who);
	/* Through a trust with the right root, and one without. */
	trust = p2p_trust_new();
	assert_non_null(trust);
	assert_int_equal(p2p_trust_add_root(trust, g.ca, &err), 0);
	assert_int_equal(p2p_verify_data(&sig, input, sizeof(input), certs, 2,
	    NULL, trust, NULL, &err), -1);
	assert_int_equal(p2p_trust_add_root(trust, f.ca, &err), 0);
	assert_int_equal(p2p_verify_data(&sig, input, sizeof(input), certs, 2,
	    NULL, trust, NULL, &err), 0);
	p2p_trust_free(trust);
	/* The hint alone is enough. */
	assert_int_equal(p2p_verify_data(&sig, input, sizeof(input), NULL, 0,
	    f.cert, NULL, &who, &err), 0);
	assert_int_equal(who.cert_index, P2P_SIG_CERT_HINT);
	p2p_sig_who_clear(&who);
	/* Only the other certificate: no signer. */
	assert_int_equal(p2p_verify_data(&sig, input, sizeof(input), certs, 1,
	    g.cert, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.what, "no certificate"));
	/* A flipped bit. */
	memcpy(bad, input, sizeof(bad));
	bad[4] ^= 0x80;
	assert_int_equal(p2p_verify_data(&sig, bad, sizeof(bad), certs, 2,
	    NULL, NULL, NULL, &err), -1);
	/* Unsigned values are refused. */
	sig.hash_alg = sig.sig_alg = 0;
	assert_int_equal(p2p_verify_data(&sig, input, sizeof(input), certs, 2,
	    NULL, NULL, NULL, &err), -1);
	free((void *)certs[0].der.p);
	p2p_identity_free(&id);
	fixture_free(&f);
	fixture_free(&g);
}

static void
test_data_ec(void **state)
{
	(void)state;
	data_round_trip(P2P_KEY_EC_P256);
}

static void
test_data_rsa(void **state)
{
	(void)state;
	data_round_trip(P2P_KEY_RSA2048);
}

/* p2p_verify_value: a signature verified once is found in the trust's
 * cache the next time, by the hint as by the certificate list; other
 * bytes, another signature and a signer the trust no longer accepts are
 * not. */
static void
test_value_cache(void **state)
{
	static const uint8_t input[] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	struct fixture f;
	p2p_identity id;
	p2p_signature sig, sig2;
	p2p_sigbuf sb, sb2;
	p2p_cert cert;
	p2p_trust *trust;
	p2p_err err;
	uint64_t hits, misses;
	uint8_t bad[sizeof(input)];

	(void)state;
	fixture_make(&f, P2P_KEY_EC_P256, 1);
	assert_int_equal(p2p_identity_init(&id, f.key, f.cert, NULL, &err), 0);
	assert_int_equal(p2p_sign_data(&id, input, sizeof(input), &sig, &sb,
	    &err), 0);
	p2p_identity_cert(&id, &cert);
	assert_non_null(trust = p2p_trust_new());
	assert_int_equal(p2p_trust_add_root(trust, f.ca, &err), 0);

	assert_int_equal(p2p_verify_value(&sig, input, sizeof(input), &cert, 1,
	    NULL, trust, NULL, &err), 0);
	p2p_trust_sig_stats(trust, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 1);
	assert_int_equal(p2p_verify_value(&sig, input, sizeof(input), &cert, 1,
	    NULL, trust, NULL, &err), 0);
	assert_int_equal(p2p_verify_value(&sig, input, sizeof(input), NULL, 0,
	    f.cert, trust, NULL, &err), 0);
	p2p_trust_sig_stats(trust, &hits, &misses);
	assert_int_equal(hits, 2);
	assert_int_equal(misses, 1);

	/* A flipped bit under the same signature: looked up, not found,
	 * verified, refused; and still refused the second time. */
	memcpy(bad, input, sizeof(bad));
	bad[0] ^= 1;
	for (int i = 0; i < 2; i++)
		assert_int_equal(p2p_verify_value(&sig, bad, sizeof(bad), &cert,
		    1, NULL, trust, NULL, &err), -1);
	p2p_trust_sig_stats(trust, &hits, &misses);
	assert_int_equal(hits, 2);
	assert_int_equal(misses, 3);
	/* Another signature over the same bytes is a new entry. */
	assert_int_equal(p2p_sign_data(&id, input, sizeof(input), &sig2, &sb2,
	    &err), 0);
	assert_int_equal(p2p_verify_value(&sig2, input, sizeof(input), &cert, 1,
	    NULL, trust, NULL, &err), 0);
	p2p_trust_sig_stats(trust, &hits, &misses);
	assert_int_equal(misses, 4);
	/* p2p_verify_data does not use the cache. */
	assert_int_equal(p2p_verify_data(&sig, input, sizeof(input), &cert, 1,
	    NULL, trust, NULL, &err), 0);
	p2p_trust_sig_stats(trust, &hits, &misses);
	assert_int_equal(hits, 2);
	assert_int_equal(misses, 4);
	/* The signer becomes a bad node: the cached signature no longer
	 * passes. */
	assert_int_equal(p2p_trust_add_bad_node(trust, &f.ids[0], &err), 0);
	assert_int_equal(p2p_verify_value(&sig, input, sizeof(input), &cert, 1,
	    NULL, trust, NULL, &err), -1);
	p2p_trust_sig_stats(trust, &hits, &misses);
	assert_int_equal(hits, 3);
	p2p_trust_free(trust);
	p2p_identity_free(&id);
	fixture_free(&f);
}

/* Build, sign, encode and decode a PingReq from id. */
static size_t
signed_ping(const p2p_identity *id, int with_cert, uint8_t *out, size_t cap)
{
	static const uint8_t body[] = { 0x00, 0x02, 0xab, 0xcd };
	p2p_msg m;
	p2p_dest d;
	p2p_cert c;
	p2p_sigbuf sb;
	p2p_wbuf w;
	p2p_err err;
	size_t n;

	p2p_msg_init(&m);
	m.overlay = p2p_overlay_hash(OVERLAY);
	m.transaction_id = 0x0123456789abcdefull;
	p2p_dest_node(&d, &id->node);
	m.dest = &d;
	m.ndest = 1;
	m.code = P2P_PING_REQ;
	m.body.p = body;
	m.body.len = sizeof(body);
	if (with_cert) {
		p2p_identity_cert(id, &c);
		m.certs = &c;
		m.ncerts = 1;
	}
	assert_int_equal(p2p_msg_sign(&m, id, &sb, &err), 0);
	p2p_w_init_fixed(&w, out, cap);
	assert_int_equal(p2p_msg_encode(&w, &m), 0);
	n = w.len;
	return n;
}

static void
msg_round_trip(enum p2p_key_type t, size_t nids)
{
	static uint8_t buf[8192];
	struct fixture f;
	p2p_identity id;
	p2p_arena a;
	p2p_msg m;
	p2p_sig_who who;
	p2p_trust *trust;
	p2p_err err;
	size_t n;

	fixture_make(&f, t, nids);
	assert_int_equal(p2p_identity_init(&id, f.key, f.cert,
	    &f.ids[nids - 1], &err), 0);
	n = signed_ping(&id, 1, buf, sizeof(buf));
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	assert_int_equal(p2p_msg_decode(buf, n, NULL, &a, &m, &err), 0);
	assert_int_equal(m.ncerts, 1);
	assert_int_equal(p2p_msg_verify(&m, NULL, NULL, &who, &err), 0);
	assert_int_equal(who.cert_index, 0);
	assert_int_equal(who.has_node, 1);
	assert_true(p2p_id_eq(&who.node, &f.ids[nids - 1]));
	p2p_sig_who_clear(&who);
	trust = p2p_trust_new();
	assert_non_null(trust);
	assert_int_equal(p2p_trust_add_root(trust, f.ca, &err), 0);
	assert_int_equal(p2p_msg_verify(&m, NULL, trust, NULL, &err), 0);
	p2p_trust_free(trust);

	/* TTL is not covered; the body is. */
	buf[11] = 7;
	assert_int_equal(p2p_msg_decode(buf, n, NULL, &a, &m, &err), 0);
	assert_int_equal(p2p_msg_verify(&m, NULL, NULL, NULL, &err), 0);
	buf[38 + 18 + 2 + 4 + 1] ^= 0x01;	/* a body byte */
	assert_int_equal(p2p_msg_decode(buf, n, NULL, &a, &m, &err), 0);
	assert_int_equal(p2p_msg_verify(&m, NULL, NULL, NULL, &err), -1);
	assert_int_equal(err.reload_code, P2P_ERR_FORBIDDEN);
	buf[38 + 18 + 2 + 4 + 1] ^= 0x01;
	buf[20] ^= 0x01;			/* the transaction id */
	assert_int_equal(p2p_msg_decode(buf, n, NULL, &a, &m, &err), 0);
	assert_int_equal(p2p_msg_verify(&m, NULL, NULL, NULL, &err), -1);

	/* Without the certificate in the message: needs the hint. */
	n = signed_ping(&id, 0, buf, sizeof(buf));
	assert_int_equal(p2p_msg_decode(buf, n, NULL, &a, &m, &err), 0);
	assert_int_equal(p2p_msg_verify(&m, NULL, NULL, NULL, &err), -1);
	assert_int_equal(p2p_msg_verify(&m, f.cert, NULL, &who, &err), 0);
	assert_int_equal(who.cert_index, P2P_SIG_CERT_HINT);
	p2p_sig_who_clear(&who);
	p2p_identity_free(&id);
	fixture_free(&f);
}

static void
test_msg_ec(void **state)
{
	(void)state;
	msg_round_trip(P2P_KEY_EC_P256, 1);
}

static void
test_msg_rsa_multi_node(void **state)
{
	(void)state;
	msg_round_trip(P2P_KEY_RSA2048, 3);
}

static void
test_secblock(void **state)
{
	static const uint8_t der1[] = { 0x30, 0x00 }, der2[300] = { 0x30 };
	static const uint8_t hash[32] = { 9 }, val[70] = { 7 };
	p2p_cert in[2] = { { P2P_CERT_X509, { der1, sizeof(der1) } },
	    { P2P_CERT_X509, { der2, sizeof(der2) } } };
	p2p_signature sig = { P2P_HASH_SHA256, P2P_SIGALG_ECDSA,
	    { P2P_SIGNER_CERT_HASH, P2P_HASH_SHA256, { hash, 32 }, { 0 } },
	    { val, sizeof(val) } }, back;
	p2p_cert *out;
	size_t n;
	p2p_arena a;
	p2p_wbuf w;
	p2p_bytes b;
	p2p_err err;

	(void)state;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_secblock_encode(&w, in, 2, &sig), 0);
	assert_int_equal(w.len, 2 + (1 + 2 + 2) + (1 + 2 + 300) + 2 +
	    (1 + 2 + 1 + 1 + 32) + 2 + 70);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	b.p = w.p;
	b.len = w.len;
	assert_int_equal(p2p_secblock_decode(b, &a, &out, &n, &back, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[1].der.len, 300);
	assert_int_equal(back.signer.type, P2P_SIGNER_CERT_HASH);
	assert_memory_equal(back.value.p, val, sizeof(val));
	/* Every truncation fails; a trailing byte fails. */
	for (size_t i = 0; i < w.len; i++) {
		b.len = i;
		assert_int_equal(p2p_secblock_decode(b, &a, &out, &n, &back,
		    &err), -1);
	}
	p2p_w_u8(&w, 0);
	b.p = w.p;
	b.len = w.len;
	assert_int_equal(p2p_secblock_decode(b, &a, &out, &n, &back, &err), -1);
	p2p_w_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_ec),
		cmocka_unit_test(test_raw_rsa),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_data_ec),
		cmocka_unit_test(test_data_rsa),
		cmocka_unit_test(test_value_cache),
		cmocka_unit_test(test_msg_ec),
		cmocka_unit_test(test_msg_rsa_multi_node),
		cmocka_unit_test(test_secblock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
