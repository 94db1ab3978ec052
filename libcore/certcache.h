/*
 * certcache: certificates already parsed and already verified, keyed by
 * the SHA-256 of their DER encoding.
 *
 * Every signed RELOAD message names its signer by certificate hash and
 * carries the certificate; checking it means parsing the DER (in OpenSSL
 * 3 the public key decoder makes that cost about as much as an ECDSA
 * verify) and checking its chain to the overlay's root (one more ECDSA
 * verify). Peers send the same few certificates over and over, so the
 * cache keeps the parsed X509 with its p2p_cert_info, and whether its
 * chain passed, for a bounded number of certificates.
 *
 * Layout: CC_SETS sets of CC_WAYS entries, the set picked by the hash's
 * first bytes, the least recently used entry of a set replaced. A chain
 * result is recorded with the generation of the trust it was checked
 * against and an expiry: it stands only while the trust is unchanged
 * (p2p_trust bumps its generation when a CRL, revoked serial, bad node
 * or root is added) and until the expiry. Not thread-safe: one cache per
 * thread that verifies (the node's loop).
 *
 * It also keeps signatures already verified: a stored value is fetched,
 * replicated and fetched again with the same signature over the same
 * bytes. The key is the SHA-256 of the signer certificate's DER, the
 * algorithms, the signature and the signed bytes (each with its length),
 * so a hit stands for exactly the verification done before; whether the
 * certificate is still trusted is checked apart (the chain result above).
 * CC_SIGS keys, the slot picked by the key's first bytes, a new key
 * taking the slot's place.
 */
#ifndef P2P_CERTCACHE_H
#define P2P_CERTCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "ident.h"

#define CC_SETS 64
#define CC_WAYS 4

typedef struct p2p_certcache p2p_certcache;

p2p_certcache *p2p_certcache_new(void);
void p2p_certcache_free(p2p_certcache *c);

/* SHA-256 of the certificate's DER encoding. -1 on failure. */
int p2p_certcache_hash(p2p_certcache *c, X509 *cert, uint8_t out[32]);

/*
 * The certificate der parses to (a new reference) and its contents in ci:
 * from the cache, or parsed and added. NULL when der is not a certificate
 * or its contents are unreadable (nothing is cached then).
 */
X509 *p2p_certcache_parse(p2p_certcache *c, const uint8_t *der, size_t len,
    p2p_cert_info *ci, p2p_err *err);

/* 1 when a chain check of the certificate with this hash passed against
 * trust generation gen and its result has not expired at now. */
int p2p_certcache_chain_ok(p2p_certcache *c, const uint8_t hash[32],
    uint64_t gen, time_t now);
/* Record that the chain check passed against gen, valid until until. The
 * certificate is added when it is not cached. */
void p2p_certcache_chain_passed(p2p_certcache *c, const uint8_t hash[32],
    X509 *cert, uint64_t gen, time_t until);

#define CC_SIGS 512

/* The key of a signature (see above) in key. -1 on failure. */
int p2p_certcache_sig_key(p2p_certcache *c, const uint8_t *der,
    size_t derlen, uint8_t hash_alg, uint8_t sig_alg, const uint8_t *sig,
    size_t siglen, const void *data, size_t len, uint8_t key[32]);
/* 1 when the signature with this key verified before (counted as a hit,
 * else as a miss). */
int p2p_certcache_sig_ok(p2p_certcache *c, const uint8_t key[32]);
/* Record that the signature with this key verified. */
void p2p_certcache_sig_passed(p2p_certcache *c, const uint8_t key[32]);
void p2p_certcache_sig_stats(const p2p_certcache *c, uint64_t *hits,
    uint64_t *misses);

/* Lookups answered from the cache and not, since it was made. */
void p2p_certcache_stats(const p2p_certcache *c, uint64_t *hits,
    uint64_t *misses);

#endif
