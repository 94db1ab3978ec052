#include "sign.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

static int
fail(p2p_err *err, uint16_t code, const char *what)
{
	ERR_clear_error();
	p2p_err_set(err, code, what, 0);
	return -1;
}

/* ---- identities ---- */

int
p2p_identity_init(p2p_identity *id, EVP_PKEY *key, X509 *cert,
    const p2p_id *node, p2p_err *err)
{
	int rc;

	memset(id, 0, sizeof(*id));
	if (X509_check_private_key(cert, key) != 1)
		return fail(err, 0, "key does not match the certificate");
	if (p2p_sig_algs(key, &(uint8_t){ 0 }, &(uint8_t){ 0 }, err) != 0)
		return -1;
	if (p2p_cert_info_get(cert, &id->info, err) != 0)
		return -1;
	if (id->info.nids == 0)
		return fail(err, 0, "certificate carries no Node-ID");
	if (node != NULL && !p2p_cert_has_node(&id->info, node))
		return fail(err, 0, "certificate does not carry that Node-ID");
	id->node = node != NULL ? *node : id->info.ids[0];
	if (p2p_cert_to_der(cert, &id->der, &id->der_len, err) != 0)
		return -1;
	if (id->info.nids == 1)
		rc = p2p_signer_cert_hash(&id->signer, id->signer_hash,
		    id->der, id->der_len);
	else
		rc = p2p_signer_cert_hash_node_id(&id->signer,
		    id->signer_hash, &id->node, id->der, id->der_len);
	if (rc != 0 || !EVP_PKEY_up_ref(key) || !X509_up_ref(cert)) {
		free(id->der);
		memset(id, 0, sizeof(*id));
		return fail(err, 0, "cannot hash the certificate");
	}
	id->key = key;
	id->cert = cert;
	return 0;
}

void
p2p_identity_free(p2p_identity *id)
{
	if (id == NULL)
		return;
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	free(id->der);
	memset(id, 0, sizeof(*id));
}

void
p2p_identity_cert(const p2p_identity *id, p2p_cert *out)
{
	out->type = P2P_CERT_X509;
	out->der.p = id->der;
	out->der.len = id->der_len;
}

/* ---- raw signatures ---- */

int
p2p_sig_algs(EVP_PKEY *key, uint8_t *hash_alg, uint8_t *sig_alg,
    p2p_err *err)
{
	if (p2p_key_check(key, err) != 0)
		return -1;
	*hash_alg = P2P_HASH_SHA256;
	*sig_alg = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ?
	    P2P_SIGALG_RSA : P2P_SIGALG_ECDSA;
	return 0;
}

static const EVP_MD *
md_for(uint8_t hash_alg)
{
	switch (hash_alg) {
	case P2P_HASH_SHA256:
		return EVP_sha256();
	case 5:
		return EVP_sha384();
	case 6:
		return EVP_sha512();
	default:
		return NULL;
	}
}

int
p2p_sign_raw(EVP_PKEY *key, const void *data, size_t len, uint8_t *out,
    size_t cap, size_t *outlen, uint8_t *hash_alg, uint8_t *sig_alg,
    p2p_err *err)
{
	EVP_MD_CTX *ctx;
	size_t n = cap;
	int ok;

	if (p2p_sig_algs(key, hash_alg, sig_alg, err) != 0)
		return -1;
	if (EVP_PKEY_get_size(key) <= 0 || (size_t)EVP_PKEY_get_size(key) > cap)
		return fail(err, 0, "signature would not fit");
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return fail(err, 0, "out of memory");
	ok = EVP_DigestSignInit(ctx, NULL, md_for(*hash_alg), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, out, &n, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return fail(err, 0, "signing failed");
	*outlen = n;
	return 0;
}

int
p2p_verify_raw(EVP_PKEY *pub, uint8_t hash_alg, uint8_t sig_alg,
    const void *data, size_t len, const uint8_t *sig, size_t siglen,
    p2p_err *err)
{
	const EVP_MD *md = md_for(hash_alg);
	int type = EVP_PKEY_get_base_id(pub);
	EVP_MD_CTX *ctx;
	int ok;

	if (md == NULL)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "signature hash algorithm not supported");
	if (!(sig_alg == P2P_SIGALG_RSA && type == EVP_PKEY_RSA) &&
	    !(sig_alg == P2P_SIGALG_ECDSA && type == EVP_PKEY_EC))
		return fail(err, P2P_ERR_FORBIDDEN,
		    "signature algorithm does not match the signer key");
	if (p2p_key_check(pub, NULL) != 0)
		return fail(err, P2P_ERR_FORBIDDEN, "signer key is too weak");
	if (siglen == 0 || siglen > P2P_SIG_MAX)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "signature value length out of range");
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return fail(err, 0, "out of memory");
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return fail(err, P2P_ERR_FORBIDDEN, "signature does not verify");
	return 0;
}

/* ---- signing and verifying with identities ---- */

int
p2p_sign_data(const p2p_identity *id, const void *input, size_t len,
    p2p_signature *sig, p2p_sigbuf *sb, p2p_err *err)
{
	size_t n;

	memset(sig, 0, sizeof(*sig));
	if (p2p_sign_raw(id->key, input, len, sb->b, sizeof(sb->b), &n,
	    &sig->hash_alg, &sig->sig_alg, err) != 0)
		return -1;
	sig->signer = id->signer;
	sig->value.p = sb->b;
	sig->value.len = n;
	return 0;
}

void
p2p_sig_who_clear(p2p_sig_who *w)
{
	if (w == NULL)
		return;
	X509_free(w->cert);
	memset(w, 0, sizeof(*w));
}

/*
 * Does cert (DER) carry the signer named by s? Fills who on a match. x is
 * the parsed certificate when the caller has it; otherwise der is parsed
 * through trust's cache when there is a trust.
 */
static int
try_cert(const p2p_signer *s, const uint8_t *der, size_t len, X509 *x,
    const p2p_trust *trust, p2p_sig_who *who)
{
	p2p_cert_info ci;
	X509 *own = NULL;

	if (x == NULL && trust != NULL) {
		if ((x = own = p2p_trust_cert(trust, der, len, &ci, NULL)) ==
		    NULL)
			return 0;
	} else if (x == NULL) {
		if ((x = own = p2p_cert_from_der(der, len, NULL)) == NULL ||
		    p2p_cert_info_get(x, &ci, NULL) != 0) {
			X509_free(own);
			return 0;
		}
	} else if (p2p_cert_info_get(x, &ci, NULL) != 0)
		return 0;
	if (!p2p_signer_match(s, der, len, &ci, &who->node, &who->has_node)) {
		X509_free(own);
		return 0;
	}
	if (own == NULL && !X509_up_ref(x))
		return 0;
	who->cert = x;
	who->info = ci;
	return 1;
}

/* On a match *der is the hint's DER encoding, which the caller frees. */
static int
hint_matches(const p2p_signer *s, X509 *hint, p2p_sig_who *who,
    uint8_t **der, size_t *len)
{
	if (p2p_cert_to_der(hint, der, len, NULL) != 0)
		return 0;
	if (try_cert(s, *der, *len, hint, NULL, who))
		return 1;
	free(*der);
	*der = NULL;
	return 0;
}

/* The signer's certificate into who, its DER encoding into *der (owned
 * by certs, or by *own when not NULL). */
static int
find_signer(const p2p_signature *sig, const p2p_cert *certs, size_t ncerts,
    X509 *hint, const p2p_trust *trust, p2p_sig_who *who, p2p_bytes *der,
    uint8_t **own, p2p_err *err)
{
	*own = NULL;
	if (hint != NULL && hint_matches(&sig->signer, hint, who, own,
	    &der->len)) {
		der->p = *own;
		who->cert_index = P2P_SIG_CERT_HINT;
		return 0;
	}
	for (size_t i = 0; i < ncerts; i++) {
		if (certs[i].type != P2P_CERT_X509)
			continue;
		if (try_cert(&sig->signer, certs[i].der.p, certs[i].der.len,
		    NULL, trust, who)) {
			*der = certs[i].der;
			who->cert_index = i;
			return 0;
		}
	}
	return fail(err, P2P_ERR_FORBIDDEN,
	    "no certificate matches the signer identity");
}

static int
check_signer_cert(const p2p_trust *trust, p2p_sig_who *w, p2p_err *err)
{
	time_t now = time(NULL);

	if (trust != NULL) {
		if (p2p_cert_verify(trust, w->cert, NULL,
		    w->has_node ? &w->node : NULL, err) != P2P_VERIFY_OK)
			return -1;
		return 0;
	}
	if (now < w->info.not_before || now > w->info.not_after)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "signer certificate is outside its validity");
	return 0;
}

/* cached: look the signature up in trust's cache of verified ones, and
 * record it there once verified. */
static int
verify_data(const p2p_signature *sig, const void *input, size_t len,
    const p2p_cert *certs, size_t ncerts, X509 *hint, const p2p_trust *trust,
    int cached, p2p_sig_who *who, p2p_err *err)
{
	p2p_sig_who w;
	p2p_bytes der;
	uint8_t *own, key[32];
	int keyed = 0, known = 0;

	memset(&w, 0, sizeof(w));
	if (who != NULL)
		memset(who, 0, sizeof(*who));
	if ((sig->hash_alg == 0 && sig->sig_alg == 0) ||
	    sig->signer.type == P2P_SIGNER_NONE)
		return fail(err, P2P_ERR_FORBIDDEN, "value is not signed");
	if (find_signer(sig, certs, ncerts, hint, trust, &w, &der, &own,
	    err) != 0)
		return -1;
	if (cached && trust != NULL &&
	    p2p_trust_sig_key(trust, der.p, der.len, sig->hash_alg,
	    sig->sig_alg, sig->value.p, sig->value.len, input, len, key) == 0) {
		keyed = 1;
		known = p2p_trust_sig_ok(trust, key);
	}
	free(own);
	if ((!known && p2p_verify_raw(X509_get0_pubkey(w.cert),
	    sig->hash_alg, sig->sig_alg, input, len, sig->value.p,
	    sig->value.len, err) != 0) ||
	    check_signer_cert(trust, &w, err) != 0) {
		p2p_sig_who_clear(&w);
		return -1;
	}
	if (keyed && !known)
		p2p_trust_sig_passed(trust, key);
	if (who != NULL)
		*who = w;
	else
		p2p_sig_who_clear(&w);
	return 0;
}

int
p2p_verify_data(const p2p_signature *sig, const void *input, size_t len,
    const p2p_cert *certs, size_t ncerts, X509 *hint, const p2p_trust *trust,
    p2p_sig_who *who, p2p_err *err)
{
	return verify_data(sig, input, len, certs, ncerts, hint, trust, 0, who,
	    err);
}

int
p2p_verify_value(const p2p_signature *sig, const void *input, size_t len,
    const p2p_cert *certs, size_t ncerts, X509 *hint, const p2p_trust *trust,
    p2p_sig_who *who, p2p_err *err)
{
	return verify_data(sig, input, len, certs, ncerts, hint, trust, 1, who,
	    err);
}

/* ---- messages ---- */

int
p2p_msg_sign(p2p_msg *m, const p2p_identity *id, p2p_sigbuf *sb,
    p2p_err *err)
{
	p2p_wbuf c, in;
	p2p_bytes contents;
	int rc = -1;

	p2p_w_init(&c, 256);
	p2p_w_init(&in, 256);
	if (p2p_contents_encode(&c, m) != 0) {
		fail(err, 0, "cannot encode the message contents");
		goto out;
	}
	contents.p = c.p;
	contents.len = c.len;
	if (p2p_msg_sig_input(&in, m->overlay, m->transaction_id, contents,
	    &id->signer) != 0) {
		fail(err, 0, "cannot build the signature input");
		goto out;
	}
	rc = p2p_sign_data(id, in.p, in.len, &m->sig, sb, err);
out:
	p2p_w_free(&c);
	p2p_w_free(&in);
	return rc;
}

int
p2p_msg_verify(const p2p_msg *m, X509 *hint, const p2p_trust *trust,
    p2p_sig_who *who, p2p_err *err)
{
	p2p_wbuf c, in;
	p2p_bytes contents = m->raw_contents;
	int rc = -1;

	if (who != NULL)
		memset(who, 0, sizeof(*who));
	p2p_w_init(&c, 0);
	p2p_w_init(&in, 256);
	if (contents.len == 0) {
		if (p2p_contents_encode(&c, m) != 0) {
			fail(err, P2P_ERR_INVALID_MESSAGE,
			    "cannot encode the message contents");
			goto out;
		}
		contents.p = c.p;
		contents.len = c.len;
	}
	if (m->sig.signer.type == 0 || p2p_msg_sig_input(&in, m->overlay,
	    m->transaction_id, contents, &m->sig.signer) != 0) {
		fail(err, P2P_ERR_FORBIDDEN, "message signer identity invalid");
		goto out;
	}
	rc = p2p_verify_data(&m->sig, in.p, in.len, m->certs, m->ncerts, hint,
	    trust, who, err);
out:
	p2p_w_free(&c);
	p2p_w_free(&in);
	return rc;
}

/* ---- SecurityBlock ---- */

int
p2p_secblock_encode(p2p_wbuf *w, const p2p_cert *certs, size_t ncerts,
    const p2p_signature *sig)
{
	size_t mark = p2p_w_begin(w, 2);

	for (size_t i = 0; i < ncerts; i++) {
		p2p_w_u8(w, certs[i].type);
		p2p_w_vec(w, 2, certs[i].der.p, certs[i].der.len);
	}
	p2p_w_end(w, mark, 2);
	if (p2p_signature_encode(w, sig) != 0)
		return -1;
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_secblock_decode(p2p_bytes in, p2p_arena *a, p2p_cert **certs,
    size_t *ncerts, p2p_signature *sig, p2p_err *err)
{
	p2p_rbuf r, l;
	size_t n = 0;

	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_sub(&r, 2, &l))
		return fail(err, P2P_ERR_INVALID_MESSAGE,
		    "certificate list runs past the end");
	for (p2p_rbuf c = l; p2p_r_left(&c) > 0; n++) {
		uint8_t t;
		p2p_bytes v;
		if (!p2p_r_u8(&c, &t) || !p2p_r_vec(&c, 2, &v))
			return fail(err, P2P_ERR_INVALID_MESSAGE,
			    "certificate truncated");
	}
	*certs = p2p_arena_array(a, n, sizeof(**certs));
	if (*certs == NULL && n > 0)
		return fail(err, P2P_ERR_INVALID_MESSAGE,
		    "certificates exceed decode arena");
	for (size_t i = 0; i < n; i++) {
		(void)p2p_r_u8(&l, &(*certs)[i].type);
		(void)p2p_r_vec(&l, 2, &(*certs)[i].der);
	}
	*ncerts = n;
	if (p2p_signature_decode1(&r, sig, err) != 0)
		return -1;
	if (p2p_r_left(&r) != 0)
		return fail(err, P2P_ERR_INVALID_MESSAGE,
		    "trailing bytes after the security block");
	return 0;
}
