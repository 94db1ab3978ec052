#include "unit.h"

#include "certcache.h"
#include "ident.h"

#define OVERLAY "overlay.example.org"

/* A CA and a certificate it issued (one Node-ID), as DER too. */
struct fixture {
	EVP_PKEY *cak, *key;
	X509 *ca, *cert;
	uint8_t *der;
	size_t len;
	p2p_id id;
};

static void
fixture_make(struct fixture *f)
{
	p2p_issue p = { OVERLAY, "alice@example.org", &f->id, 1, 0, 0 };
	X509_REQ *csr;
	p2p_err err;

	memset(f, 0, sizeof(*f));
	assert_non_null(f->cak = p2p_key_generate(P2P_KEY_EC_P256, &err));
	assert_non_null(f->ca = p2p_ca_create(f->cak, "CA", 10, &err));
	assert_non_null(f->key = p2p_key_generate(P2P_KEY_EC_P256, &err));
	assert_int_equal(p2p_id_random(&f->id), 0);
	p.not_after = time(NULL) + 86400;
	assert_non_null(csr = p2p_csr_make(f->key, &err));
	assert_non_null(f->cert = p2p_cert_issue(f->cak, f->ca, csr, &p,
	    &err));
	X509_REQ_free(csr);
	assert_int_equal(p2p_cert_to_der(f->cert, &f->der, &f->len, &err), 0);
}

static void
fixture_free(struct fixture *f)
{
	free(f->der);
	X509_free(f->cert);
	X509_free(f->ca);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->cak);
}

static void
test_parse(void **state)
{
	struct fixture f;
	p2p_certcache *c = p2p_certcache_new();
	p2p_cert_info ci, ci2;
	uint64_t hits, misses;
	uint8_t bad[16] = { 0x30, 0x82, 0x01 };
	uint8_t h1[32], h2[32];
	X509 *x, *y;
	p2p_err err;

	(void)state;
	assert_non_null(c);
	fixture_make(&f);
	x = p2p_certcache_parse(c, f.der, f.len, &ci, &err);
	assert_non_null(x);
	assert_int_equal(ci.nids, 1);
	assert_memory_equal(&ci.ids[0], &f.id, sizeof(f.id));
	assert_string_equal(ci.user, "alice@example.org");
	/* The second time: the same certificate object, from the cache. */
	y = p2p_certcache_parse(c, f.der, f.len, &ci2, &err);
	assert_ptr_equal(x, y);
	assert_memory_equal(&ci, &ci2, sizeof(ci));
	p2p_certcache_stats(c, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 1);
	/* The caller's references outlive the cache. */
	assert_int_equal(p2p_certcache_hash(c, x, h1), 0);
	assert_int_equal(p2p_certcache_hash(c, f.cert, h2), 0);
	assert_memory_equal(h1, h2, 32);
	/* Garbage and a truncated certificate are refused, never cached. */
	assert_null(p2p_certcache_parse(c, bad, sizeof(bad), &ci, &err));
	assert_null(p2p_certcache_parse(c, f.der, f.len - 1, &ci, &err));
	assert_null(p2p_certcache_parse(c, f.der, f.len - 1, &ci, &err));
	p2p_certcache_stats(c, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 4);
	p2p_certcache_free(c);
	X509_free(x);
	X509_free(y);
	fixture_free(&f);
}

static void
test_chain_results(void **state)
{
	struct fixture f;
	p2p_certcache *c = p2p_certcache_new();
	time_t now = time(NULL);
	uint8_t h[32];

	(void)state;
	assert_non_null(c);
	fixture_make(&f);
	assert_int_equal(p2p_certcache_hash(c, f.cert, h), 0);
	assert_false(p2p_certcache_chain_ok(c, h, 1, now));
	p2p_certcache_chain_passed(c, h, f.cert, 1, now + 10);
	assert_true(p2p_certcache_chain_ok(c, h, 1, now));
	assert_true(p2p_certcache_chain_ok(c, h, 1, now + 10));
	/* Expired, or checked against another generation of the trust. */
	assert_false(p2p_certcache_chain_ok(c, h, 1, now + 11));
	assert_false(p2p_certcache_chain_ok(c, h, 2, now));
	/* Generation 0 never counts as checked. */
	p2p_certcache_chain_passed(c, h, f.cert, 0, now + 10);
	assert_false(p2p_certcache_chain_ok(c, h, 0, now));
	p2p_certcache_free(c);
	fixture_free(&f);
}

/* More certificates in one set than it has ways: the least recently used
 * one goes, the others stay. */
static void
test_eviction(void **state)
{
	struct fixture f;
	p2p_certcache *c = p2p_certcache_new();
	uint8_t h[CC_WAYS + 1][32];
	time_t now = time(NULL);

	(void)state;
	assert_non_null(c);
	fixture_make(&f);
	for (size_t i = 0; i <= CC_WAYS; i++) {
		memset(h[i], 0, 32);
		h[i][0] = 7;		/* all in one set */
		h[i][31] = (uint8_t)(i + 1);
	}
	for (size_t i = 0; i < CC_WAYS; i++)
		p2p_certcache_chain_passed(c, h[i], f.cert, 1, now + 60);
	/* Touch entry 0: entry 1 is now the least recently used. */
	assert_true(p2p_certcache_chain_ok(c, h[0], 1, now));
	p2p_certcache_chain_passed(c, h[CC_WAYS], f.cert, 1, now + 60);
	assert_false(p2p_certcache_chain_ok(c, h[1], 1, now));
	assert_true(p2p_certcache_chain_ok(c, h[0], 1, now));
	for (size_t i = 2; i <= CC_WAYS; i++)
		assert_true(p2p_certcache_chain_ok(c, h[i], 1, now));
	/* Filling every set keeps the cache at its bound (ASan checks that
	 * nothing leaks when entries are replaced). */
	for (unsigned i = 0; i < 4 * CC_SETS * CC_WAYS; i++) {
		uint8_t k[32] = { 0 };

		k[0] = (uint8_t)i;
		k[1] = (uint8_t)(i >> 8);
		p2p_certcache_chain_passed(c, k, f.cert, 1, now + 60);
	}
	p2p_certcache_free(c);
	fixture_free(&f);
}

/* Through a trust: a certificate whose chain passed once is taken from
 * the cache, and any change to the trust (a CRL revoking it) is seen. */
static void
test_trust(void **state)
{
	struct fixture f;
	p2p_trust *t = p2p_trust_new();
	const char *serials[1];
	uint64_t hits, misses, h0;
	p2p_cert_info ci;
	X509_CRL *crl;
	X509 *x;
	p2p_err err;

	(void)state;
	assert_non_null(t);
	fixture_make(&f);
	assert_int_equal(p2p_trust_add_root(t, f.ca, &err), 0);
	assert_non_null(x = p2p_trust_cert(t, f.der, f.len, &ci, &err));
	assert_int_equal(p2p_cert_verify(t, x, NULL, &f.id, &err),
	    P2P_VERIFY_OK);
	p2p_trust_cache_stats(t, &h0, &misses);
	assert_int_equal(p2p_cert_verify(t, x, NULL, &f.id, &err),
	    P2P_VERIFY_OK);
	p2p_trust_cache_stats(t, &hits, &misses);
	assert_int_equal(hits, h0 + 1);
	/* The claimed Node-ID is still checked on a cached chain. */
	{
		p2p_id other;

		assert_int_equal(p2p_id_random(&other), 0);
		assert_int_equal(p2p_cert_verify(t, x, NULL, &other, &err),
		    P2P_VERIFY_WRONG_NODE);
	}
	serials[0] = ci.serial;
	assert_non_null(crl = p2p_crl_make(f.cak, f.ca, serials, 1, 7, &err));
	assert_int_equal(p2p_trust_set_crl(t, crl, &err), 0);
	X509_CRL_free(crl);
	assert_int_equal(p2p_cert_verify(t, x, NULL, &f.id, &err),
	    P2P_VERIFY_REVOKED);
	assert_int_equal(p2p_cert_verify(t, x, NULL, &f.id, &err),
	    P2P_VERIFY_REVOKED);
	X509_free(x);
	p2p_trust_free(t);
	fixture_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_chain_results),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_trust),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
