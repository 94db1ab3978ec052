/*
 * certcache: see certcache.h.
 */
#include "certcache.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

typedef struct cc_entry {
	uint8_t hash[32];
	X509 *cert;		/* NULL: the slot is free */
	p2p_cert_info info;
	int has_info;
	uint64_t chain_gen;	/* 0: no chain check recorded */
	time_t chain_until;
	uint64_t used;		/* LRU stamp */
} cc_entry;

struct p2p_certcache {
	EVP_MD *sha256;		/* fetched once: no provider lookup per hash */
	uint64_t clock;
	uint64_t hits, misses;
	cc_entry e[CC_SETS][CC_WAYS];
	uint8_t sig[CC_SIGS][32];	/* keys of verified signatures */
	uint8_t sig_set[CC_SIGS];
	uint64_t sig_hits, sig_misses;
};

p2p_certcache *
p2p_certcache_new(void)
{
	p2p_certcache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if ((c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
p2p_certcache_free(p2p_certcache *c)
{
	if (c == NULL)
		return;
	for (size_t s = 0; s < CC_SETS; s++)
		for (size_t w = 0; w < CC_WAYS; w++)
			X509_free(c->e[s][w].cert);
	EVP_MD_free(c->sha256);
	free(c);
}

static int
digest(p2p_certcache *c, const uint8_t *der, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	return EVP_Digest(der, len, out, &n, c->sha256, NULL) == 1 &&
	    n == 32 ? 0 : -1;
}

int
p2p_certcache_hash(p2p_certcache *c, X509 *cert, uint8_t out[32])
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);
	int rc;

	if (len <= 0)
		return -1;
	rc = digest(c, der, (size_t)len, out);
	OPENSSL_free(der);
	return rc;
}

static cc_entry *
find(p2p_certcache *c, const uint8_t hash[32])
{
	cc_entry *set = c->e[hash[0] % CC_SETS];

	for (size_t w = 0; w < CC_WAYS; w++)
		if (set[w].cert != NULL && memcmp(set[w].hash, hash, 32) == 0) {
			set[w].used = ++c->clock;
			return &set[w];
		}
	return NULL;
}

/* The slot for a new entry: a free one, else the least recently used. */
static cc_entry *
victim(p2p_certcache *c, const uint8_t hash[32])
{
	cc_entry *set = c->e[hash[0] % CC_SETS], *v = &set[0];

	for (size_t w = 0; w < CC_WAYS; w++) {
		if (set[w].cert == NULL)
			return &set[w];
		if (set[w].used < v->used)
			v = &set[w];
	}
	X509_free(v->cert);
	memset(v, 0, sizeof(*v));
	return v;
}

/* Add cert (taking a new reference) under hash. NULL on failure. */
static cc_entry *
add(p2p_certcache *c, const uint8_t hash[32], X509 *cert)
{
	cc_entry *v;

	if (!X509_up_ref(cert))
		return NULL;
	v = victim(c, hash);
	memcpy(v->hash, hash, 32);
	v->cert = cert;
	v->used = ++c->clock;
	return v;
}

X509 *
p2p_certcache_parse(p2p_certcache *c, const uint8_t *der, size_t len,
    p2p_cert_info *ci, p2p_err *err)
{
	uint8_t hash[32];
	cc_entry *v;
	X509 *x;

	if (digest(c, der, len, hash) != 0) {
		p2p_err_set(err, 0, "cannot hash the certificate", 0);
		return NULL;
	}
	if ((v = find(c, hash)) != NULL && v->has_info &&
	    X509_up_ref(v->cert)) {
		c->hits++;
		*ci = v->info;
		return v->cert;
	}
	c->misses++;
	if ((x = p2p_cert_from_der(der, len, err)) == NULL)
		return NULL;
	if (p2p_cert_info_get(x, ci, err) != 0) {
		X509_free(x);
		return NULL;
	}
	if (v == NULL)
		v = add(c, hash, x);
	if (v != NULL) {
		v->info = *ci;
		v->has_info = 1;
	}
	return x;
}

int
p2p_certcache_chain_ok(p2p_certcache *c, const uint8_t hash[32],
    uint64_t gen, time_t now)
{
	cc_entry *v = find(c, hash);
	int ok = v != NULL && v->chain_gen == gen && gen != 0 &&
	    now <= v->chain_until;

	if (ok)
		c->hits++;
	else
		c->misses++;
	return ok;
}

void
p2p_certcache_chain_passed(p2p_certcache *c, const uint8_t hash[32],
    X509 *cert, uint64_t gen, time_t until)
{
	cc_entry *v = find(c, hash);

	if (v == NULL && (v = add(c, hash, cert)) == NULL)
		return;
	v->chain_gen = gen;
	v->chain_until = until;
}

void
p2p_certcache_stats(const p2p_certcache *c, uint64_t *hits,
    uint64_t *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}

static int
put_len(EVP_MD_CTX *x, size_t len)
{
	uint8_t b[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len };

	return EVP_DigestUpdate(x, b, sizeof(b));
}

int
p2p_certcache_sig_key(p2p_certcache *c, const uint8_t *der, size_t derlen,
    uint8_t hash_alg, uint8_t sig_alg, const uint8_t *sig, size_t siglen,
    const void *data, size_t len, uint8_t key[32])
{
	uint8_t algs[2] = { hash_alg, sig_alg };
	unsigned int n = 0;
	EVP_MD_CTX *x;
	int ok;

	if (derlen > UINT32_MAX || siglen > UINT32_MAX || len > UINT32_MAX ||
	    (x = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(x, c->sha256, NULL) == 1 &&
	    put_len(x, derlen) == 1 && EVP_DigestUpdate(x, der, derlen) == 1 &&
	    EVP_DigestUpdate(x, algs, sizeof(algs)) == 1 &&
	    put_len(x, siglen) == 1 && EVP_DigestUpdate(x, sig, siglen) == 1 &&
	    put_len(x, len) == 1 && EVP_DigestUpdate(x, data, len) == 1 &&
	    EVP_DigestFinal_ex(x, key, &n) == 1 && n == 32;
	EVP_MD_CTX_free(x);
	return ok ? 0 : -1;
}

static size_t
sig_slot(const uint8_t key[32])
{
	return ((size_t)key[0] << 8 | key[1]) % CC_SIGS;
}

int
p2p_certcache_sig_ok(p2p_certcache *c, const uint8_t key[32])
{
	size_t i = sig_slot(key);

	if (c->sig_set[i] && memcmp(c->sig[i], key, 32) == 0) {
		c->sig_hits++;
		return 1;
	}
	c->sig_misses++;
	return 0;
}

void
p2p_certcache_sig_passed(p2p_certcache *c, const uint8_t key[32])
{
	size_t i = sig_slot(key);

	memcpy(c->sig[i], key, 32);
	c->sig_set[i] = 1;
}

void
p2p_certcache_sig_stats(const p2p_certcache *c, uint64_t *hits,
    uint64_t *misses)
{
	*hits = c->sig_hits;
	*misses = c->sig_misses;
}
