/*
 * ident: keys, certificates and the Node-IDs they carry (RFC 6940 s11.3,
 * s13.3, s14.15).
 *
 * A peer certificate issued by an enrollment server has an empty subject
 * and a critical subjectAltName holding one URI per Node-ID in the RELOAD
 * URI form
 *
 *     reload://0110<32 hex digits of the Node-ID>@<overlay>/
 *
 * (the hex of a one-entry destination list of type node) and one
 * rfc822Name, the user name. A self-signed certificate carries Node-IDs
 * derived from the digest of its SubjectPublicKeyInfo instead.
 *
 * Objects are OpenSSL ones (EVP_PKEY, X509, X509_REQ, X509_CRL) and are
 * freed with the OpenSSL free functions. Functions return 0 (or a pointer)
 * on success and -1 (or NULL) on failure with err filled in; failures
 * leave the OpenSSL error queue empty.
 */
#ifndef P2P_IDENT_H
#define P2P_IDENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "id.h"
#include "msg.h"

/* Most Node-IDs one certificate may carry. */
#define P2P_CERT_MAX_IDS	32
/* Longest user name and overlay name kept from a certificate. */
#define P2P_NAME_MAX		255
/* Longest accepted DER certificate (GenericCertificate has a u16 length). */
#define P2P_CERT_DER_MAX	65535

enum p2p_key_type {
	P2P_KEY_EC_P256 = 0,	/* the default */
	P2P_KEY_RSA2048 = 1,
};

/* Digest of self-signed Node-IDs (config self-signed-permitted digest=). */
enum p2p_digest {
	P2P_DIGEST_SHA1 = 1,
	P2P_DIGEST_SHA256 = 2,
};

/* ---- keys ---- */

EVP_PKEY *p2p_key_generate(enum p2p_key_type type, p2p_err *err);
/* Write the private key as PEM, file mode 0600 (replacing any file). */
int p2p_key_save(EVP_PKEY *key, const char *path, p2p_err *err);
/* Read a PEM private key; refuses a file readable by group or others. */
EVP_PKEY *p2p_key_load(const char *path, p2p_err *err);
/*
 * Is the key usable for RELOAD: EC on P-256 or P-384, or RSA of at least
 * 2048 bits? 0 if so.
 */
int p2p_key_check(EVP_PKEY *key, p2p_err *err);
/* DER SubjectPublicKeyInfo of a key; *der is malloc'd, free() it. */
int p2p_key_spki(EVP_PKEY *key, uint8_t **der, size_t *len, p2p_err *err);

/* ---- certificates ---- */

int p2p_cert_save(X509 *cert, const char *path, p2p_err *err);
X509 *p2p_cert_load(const char *path, p2p_err *err);
X509 *p2p_cert_from_der(const uint8_t *der, size_t len, p2p_err *err);
/* *der is malloc'd, free() it. */
int p2p_cert_to_der(X509 *cert, uint8_t **der, size_t *len, p2p_err *err);

/* ---- certificate signing requests ---- */

/* A PKCS#10 request with an empty subject, signed with key (SHA-256). */
X509_REQ *p2p_csr_make(EVP_PKEY *key, p2p_err *err);
X509_REQ *p2p_csr_from_der(const uint8_t *der, size_t len, p2p_err *err);
/* *der is malloc'd, free() it. */
int p2p_csr_to_der(X509_REQ *csr, uint8_t **der, size_t *len, p2p_err *err);
/*
 * Check a request before issuing: its self-signature verifies and its key
 * passes p2p_key_check. Failure messages start with "weak CSR" or
 * "bad CSR".
 */
int p2p_csr_check(X509_REQ *csr, p2p_err *err);

/* ---- issuing ---- */

typedef struct p2p_issue {
	const char *overlay;	/* overlay (instance) name */
	const char *user;	/* rfc822Name; NULL or "" for none */
	const p2p_id *ids;	/* Node-IDs to embed, 1..P2P_CERT_MAX_IDS */
	size_t nids;
	time_t not_before;	/* 0: now */
	time_t not_after;	/* must be after not_before */
} p2p_issue;

/*
 * Issue a peer certificate for the key of csr (checked with
 * p2p_csr_check): random 127-bit serial, empty subject, critical
 * subjectAltName (Node-ID URIs and the user name), CA:FALSE.
 */
X509 *p2p_cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, X509_REQ *csr,
    const p2p_issue *p, p2p_err *err);
/* A self-signed CA root (CA:TRUE) with subject CN=cn, valid for days. */
X509 *p2p_ca_create(EVP_PKEY *key, const char *cn, unsigned days,
    p2p_err *err);
/*
 * A CRL signed by the CA listing the given serials (hex, as
 * p2p_cert_info.serial), next update in days.
 */
X509_CRL *p2p_crl_make(EVP_PKEY *ca_key, X509 *ca_cert,
    const char *const *serials, size_t nserials, unsigned days,
    p2p_err *err);

/* ---- RELOAD URIs ---- */

/* "reload://0110<hex>@overlay/"; -1 if it does not fit in cap. */
int p2p_node_uri(char *buf, size_t cap, const p2p_id *id,
    const char *overlay);
/*
 * Parse a Node-ID URI strictly: scheme reload, a destination list of
 * exactly one node entry of 16 bytes, a DNS-style overlay name, a final
 * "/" with no specifier. overlay gets at most ocap - 1 bytes (may be NULL).
 */
int p2p_node_uri_parse(const char *uri, size_t len, p2p_id *id,
    char *overlay, size_t ocap);

/* ---- reading a certificate ---- */

typedef struct p2p_cert_info {
	p2p_id ids[P2P_CERT_MAX_IDS];
	size_t nids;
	char overlay[P2P_NAME_MAX + 1];	/* from the URIs ("" if none) */
	char user[P2P_NAME_MAX + 1];	/* rfc822Name ("" if none) */
	time_t not_before;
	time_t not_after;
	char serial[2 * 20 + 2];	/* upper-case hex */
	int self_signed;		/* issuer == subject and it verifies
					   with its own key */
} p2p_cert_info;

/*
 * Read the Node-IDs, user name, validity and serial. Fails on a URI that
 * is not a valid RELOAD Node-ID URI, on URIs naming different overlays,
 * on more than one rfc822Name or on an unreadable field.
 */
int p2p_cert_info_get(X509 *cert, p2p_cert_info *out, p2p_err *err);
int p2p_cert_has_node(const p2p_cert_info *ci, const p2p_id *id);

/* ---- self-signed mode (s11.3.1) ---- */

/*
 * Node-IDs of a self-signed identity: with n == 1 the top 16 bytes of
 * digest(spki); with n > 1 the k-th (k = 1..n) is the top 16 bytes of
 * digest(uint32_be(k) || spki).
 */
int p2p_selfsigned_ids(const uint8_t *spki, size_t spki_len,
    enum p2p_digest d, size_t n, p2p_id *out, p2p_err *err);
/* A self-signed certificate carrying those n Node-IDs and user. */
X509 *p2p_selfsigned_make(EVP_PKEY *key, const char *overlay,
    const char *user, size_t n, enum p2p_digest d, unsigned days,
    p2p_err *err);
/*
 * Check a self-signed certificate: it verifies with its own key, and its
 * Node-IDs are exactly those recomputed from its SubjectPublicKeyInfo.
 */
int p2p_selfsigned_check(X509 *cert, enum p2p_digest d, p2p_err *err);

/* ---- verifying peer certificates ---- */

enum p2p_verify_result {
	P2P_VERIFY_OK = 0,
	P2P_VERIFY_MALFORMED,		/* unreadable fields, bad URIs */
	P2P_VERIFY_UNTRUSTED,		/* does not chain to a root */
	P2P_VERIFY_EXPIRED,
	P2P_VERIFY_NOT_YET_VALID,
	P2P_VERIFY_REVOKED,		/* CRL or revoked serial */
	P2P_VERIFY_BAD_NODE,		/* carries a bad-node Node-ID */
	P2P_VERIFY_WRONG_NODE,		/* lacks the claimed Node-ID */
	P2P_VERIFY_SELF_SIGNED_MISMATCH,/* Node-IDs not derived from key */
	P2P_VERIFY_NO_NODE_ID,		/* carries no Node-ID at all */
	P2P_VERIFY_INTERNAL,		/* out of memory and the like */
};

typedef struct p2p_trust p2p_trust;

p2p_trust *p2p_trust_new(void);
void p2p_trust_free(p2p_trust *t);
int p2p_trust_add_root(p2p_trust *t, X509 *root, p2p_err *err);
int p2p_trust_add_root_der(p2p_trust *t, const uint8_t *der, size_t len,
    p2p_err *err);
/* Revocation data: a CRL (checked for the leaf), revoked serials (hex),
 * bad-node Node-IDs. */
int p2p_trust_set_crl(p2p_trust *t, X509_CRL *crl, p2p_err *err);
int p2p_trust_revoke_serial(p2p_trust *t, const char *hex, p2p_err *err);
int p2p_trust_add_bad_node(p2p_trust *t, const p2p_id *id, p2p_err *err);
/* Accept self-signed certificates whose Node-IDs derive from their key. */
void p2p_trust_allow_self_signed(p2p_trust *t, enum p2p_digest d);
/* Verify as of this time instead of now (0: now). */
void p2p_trust_set_time(p2p_trust *t, time_t when);
/*
 * The certificate der parses to (a new reference) and its contents, from
 * the trust's cache of certificates seen before (certcache.h). A chain
 * check that passed is remembered there too, until the trust changes
 * (any of the calls above) or 5 minutes pass. NULL when der is not a
 * readable certificate.
 */
X509 *p2p_trust_cert(const p2p_trust *t, const uint8_t *der, size_t len,
    p2p_cert_info *ci, p2p_err *err);
/* Lookups of that cache answered from it and not. */
void p2p_trust_cache_stats(const p2p_trust *t, uint64_t *hits,
    uint64_t *misses);
/* Signatures verified before, in the same cache (p2p_certcache_sig_*):
 * the key of one, whether it verified before, record that it did, and
 * the lookups answered from the cache and not. */
int p2p_trust_sig_key(const p2p_trust *t, const uint8_t *der, size_t derlen,
    uint8_t hash_alg, uint8_t sig_alg, const uint8_t *sig, size_t siglen,
    const void *data, size_t len, uint8_t key[32]);
int p2p_trust_sig_ok(const p2p_trust *t, const uint8_t key[32]);
void p2p_trust_sig_passed(const p2p_trust *t, const uint8_t key[32]);
void p2p_trust_sig_stats(const p2p_trust *t, uint64_t *hits,
    uint64_t *misses);

/*
 * Verify a peer certificate: it chains (with basicConstraints) to a root,
 * through intermediates in chain (may be NULL), or is an acceptable
 * self-signed one; it is within its validity; it is not revoked; none of
 * its Node-IDs is a bad node; it carries claimed (if not NULL). Returns
 * P2P_VERIFY_OK or the reason, with err->what describing it.
 */
enum p2p_verify_result p2p_cert_verify(const p2p_trust *t, X509 *cert,
    STACK_OF(X509) *chain, const p2p_id *claimed, p2p_err *err);
const char *p2p_verify_result_name(enum p2p_verify_result r);

/* ---- Node-IDs and signer identities ---- */

/* A random Node-ID from the CSPRNG, never all-zero nor all-ones. */
int p2p_id_random(p2p_id *out);

/*
 * SignerIdentity values (s6.3.4). hash (32 bytes, caller's storage) gets
 * SHA-256(der) for cert_hash, SHA-256(node || der) for cert_hash_node_id;
 * s->hash points into it.
 */
int p2p_signer_cert_hash(p2p_signer *s, uint8_t hash[32],
    const uint8_t *der, size_t len);
int p2p_signer_cert_hash_node_id(p2p_signer *s, uint8_t hash[32],
    const p2p_id *node, const uint8_t *der, size_t len);
/*
 * Does the signer identity name this certificate? On a match *node gets
 * the Node-ID it names (cert_hash: the certificate's only Node-ID) and
 * *has_node says whether there is one. 1 match, 0 no match.
 */
int p2p_signer_match(const p2p_signer *s, const uint8_t *der, size_t len,
    const p2p_cert_info *ci, p2p_id *node, int *has_node);

#endif
