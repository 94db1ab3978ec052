/*
 * sign: RELOAD signatures (RFC 6940 s6.3.4, s7.1) over messages, stored
 * data and configuration documents.
 *
 * Algorithms are SignatureAndHashAlgorithm pairs of the TLS 1.2 registry:
 * ECDSA keys sign as {hash 4 sha256, signature 3 ecdsa} (DER ECDSA-Sig-
 * Value), RSA keys as {4, 1} (RSASSA-PKCS1-v1_5). Verification also takes
 * sha384 (5) and sha512 (6); the signature code must match the key type.
 *
 * A p2p_identity is what a node signs with: its key, its certificate and
 * the Node-ID it speaks for, plus the SignerIdentity naming them
 * (cert_hash when the certificate holds one Node-ID, cert_hash_node_id
 * when it holds several).
 */
#ifndef P2P_SIGN_H
#define P2P_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ident.h"
#include "msg.h"

/* Largest signature value produced or accepted (RSA up to 8192 bits). */
#define P2P_SIG_MAX 1024

typedef struct p2p_identity {
	EVP_PKEY *key;		/* owned reference */
	X509 *cert;		/* owned reference */
	uint8_t *der;		/* the certificate, DER (malloc'd) */
	size_t der_len;
	p2p_cert_info info;
	p2p_id node;		/* the Node-ID this identity signs as */
	uint8_t signer_hash[32];
	p2p_signer signer;	/* points into signer_hash */
} p2p_identity;

/*
 * Take references to key and cert (the caller keeps its own). node picks
 * one of the certificate's Node-IDs (NULL: the first). Fails when the key
 * does not match the certificate or the certificate has no Node-ID.
 */
int p2p_identity_init(p2p_identity *id, EVP_PKEY *key, X509 *cert,
    const p2p_id *node, p2p_err *err);
void p2p_identity_free(p2p_identity *id);
/* The identity's certificate as a GenericCertificate (borrows id). */
void p2p_identity_cert(const p2p_identity *id, p2p_cert *out);

/* Storage for a signature value produced here. */
typedef struct p2p_sigbuf {
	uint8_t b[P2P_SIG_MAX];
} p2p_sigbuf;

/* The algorithm pair a key signs with. */
int p2p_sig_algs(EVP_PKEY *key, uint8_t *hash_alg, uint8_t *sig_alg,
    p2p_err *err);
/* Sign data with key; the value goes to out (cap bytes). */
int p2p_sign_raw(EVP_PKEY *key, const void *data, size_t len, uint8_t *out,
    size_t cap, size_t *outlen, uint8_t *hash_alg, uint8_t *sig_alg,
    p2p_err *err);
/* Verify a value made by p2p_sign_raw (or a peer) with a public key. */
int p2p_verify_raw(EVP_PKEY *pub, uint8_t hash_alg, uint8_t sig_alg,
    const void *data, size_t len, const uint8_t *sig, size_t siglen,
    p2p_err *err);

/*
 * Sign the exact bytes input (built by the caller, SignerIdentity included
 * where the format says so) with id. sig gets the algorithms, id's signer
 * identity (valid while id lives) and the value (in sb).
 */
int p2p_sign_data(const p2p_identity *id, const void *input, size_t len,
    p2p_signature *sig, p2p_sigbuf *sb, p2p_err *err);

/* Who made a verified signature. */
#define P2P_SIG_CERT_HINT ((size_t)-1)
typedef struct p2p_sig_who {
	X509 *cert;		/* new reference, released by
				   p2p_sig_who_clear */
	size_t cert_index;	/* index in certs, or P2P_SIG_CERT_HINT */
	p2p_id node;		/* the Node-ID the SignerIdentity names */
	int has_node;		/* 0 if it names none (cert_hash over a
				   certificate with several Node-IDs) */
	p2p_cert_info info;	/* the signer certificate's contents */
} p2p_sig_who;

void p2p_sig_who_clear(p2p_sig_who *w);

/*
 * Verify sig over input. The signer certificate is hint (if not NULL and
 * named by the SignerIdentity) or the X.509 entry of certs it names. The
 * certificate must be within its validity; with trust it must also pass
 * p2p_cert_verify (claiming the Node-ID named by the SignerIdentity).
 * Unsigned values (algorithm {0,0} or identity none) fail. who may be
 * NULL. Failures carry Error_Forbidden.
 */
int p2p_verify_data(const p2p_signature *sig, const void *input, size_t len,
    const p2p_cert *certs, size_t ncerts, X509 *hint, const p2p_trust *trust,
    p2p_sig_who *who, p2p_err *err);
/*
 * p2p_verify_data for a signature that is likely to come again (a stored
 * value, fetched and replicated many times): with a trust, a signature
 * verified before by the same certificate over the same bytes is taken
 * from the trust's cache (certcache.h) instead of being verified again.
 * The signer certificate is checked against the trust every time.
 */
int p2p_verify_value(const p2p_signature *sig, const void *input, size_t len,
    const p2p_cert *certs, size_t ncerts, X509 *hint, const p2p_trust *trust,
    p2p_sig_who *who, p2p_err *err);

/*
 * Sign a message: m->sig is set over overlay || transaction_id ||
 * MessageContents (encoded from m) || SignerIdentity. The certificate list
 * is left to the caller (see p2p_identity_cert).
 */
int p2p_msg_sign(p2p_msg *m, const p2p_identity *id, p2p_sigbuf *sb,
    p2p_err *err);
/*
 * Verify a decoded message's signature, over its raw_contents (or, when
 * that is empty, the contents encoded from m), finding the signer
 * certificate as p2p_verify_data does among m->certs.
 */
int p2p_msg_verify(const p2p_msg *m, X509 *hint, const p2p_trust *trust,
    p2p_sig_who *who, p2p_err *err);

/* SecurityBlock: GenericCertificate certificates<0..2^16-1>; Signature. */
int p2p_secblock_encode(p2p_wbuf *w, const p2p_cert *certs, size_t ncerts,
    const p2p_signature *sig);
int p2p_secblock_decode(p2p_bytes in, p2p_arena *a, p2p_cert **certs,
    size_t *ncerts, p2p_signature *sig, p2p_err *err);

#endif
