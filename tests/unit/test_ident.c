#include "unit.h"

#include <sys/stat.h>

#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ident.h"

#define OVERLAY "overlay.example.org"

static EVP_PKEY *
gen(enum p2p_key_type t)
{
	p2p_err err;
	EVP_PKEY *k = p2p_key_generate(t, &err);

	assert_non_null(k);
	return k;
}

static X509 *
make_ca(EVP_PKEY *k, const char *cn)
{
	p2p_err err;
	X509 *c = p2p_ca_create(k, cn, 30, &err);

	assert_non_null(c);
	return c;
}

/* Issue a certificate for key under the CA with the given window. */
static X509 *
issue_window(EVP_PKEY *cak, X509 *ca, EVP_PKEY *key, const p2p_id *ids,
    size_t n, const char *user, time_t nb, time_t na)
{
	p2p_issue p = { OVERLAY, user, ids, n, nb, na };
	X509_REQ *csr;
	p2p_err err;
	X509 *c;

	csr = p2p_csr_make(key, &err);
	assert_non_null(csr);
	c = p2p_cert_issue(cak, ca, csr, &p, &err);
	if (c == NULL)
		fail_msg("issue: %s", err.what);
	X509_REQ_free(csr);
	return c;
}

static X509 *
issue(EVP_PKEY *cak, X509 *ca, EVP_PKEY *key, const p2p_id *ids, size_t n)
{
	time_t now = time(NULL);

	return issue_window(cak, ca, key, ids, n, "alice@example.org",
	    now - 60, now + 86400);
}

static void
test_key_save_load(void **state)
{
	char dir[] = "/tmp/p2p_ident_XXXXXX", path[64];
	EVP_PKEY *k = gen(P2P_KEY_EC_P256), *l;
	struct stat st;
	p2p_err err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/node.key", dir);
	assert_int_equal(p2p_key_save(k, path, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	l = p2p_key_load(path, &err);
	assert_non_null(l);
	assert_int_equal(EVP_PKEY_eq(k, l), 1);
	EVP_PKEY_free(l);
	/* A key file others can read is refused. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_null(p2p_key_load(path, &err));
	assert_non_null(strstr(err.what, "readable"));
	unlink(path);
	rmdir(dir);
	EVP_PKEY_free(k);
}

static void
test_cert_save_load_der(void **state)
{
	char dir[] = "/tmp/p2p_ident_XXXXXX", path[64];
	EVP_PKEY *k = gen(P2P_KEY_EC_P256);
	X509 *ca = make_ca(k, "test CA"), *l, *d;
	uint8_t *der;
	size_t len;
	p2p_err err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	assert_int_equal(p2p_cert_save(ca, path, &err), 0);
	l = p2p_cert_load(path, &err);
	assert_non_null(l);
	assert_int_equal(X509_cmp(ca, l), 0);
	assert_int_equal(p2p_cert_to_der(l, &der, &len, &err), 0);
	d = p2p_cert_from_der(der, len, &err);
	assert_non_null(d);
	assert_int_equal(X509_cmp(ca, d), 0);
	/* Trailing garbage and truncation are refused. */
	assert_null(p2p_cert_from_der(der, len - 1, &err));
	free(der);
	X509_free(d);
	X509_free(l);
	unlink(path);
	rmdir(dir);
	X509_free(ca);
	EVP_PKEY_free(k);
}

static void
test_ca_issue_round_trip(void **state)
{
	EVP_PKEY *cak = gen(P2P_KEY_EC_P256), *k = gen(P2P_KEY_EC_P256);
	EVP_PKEY *rk = gen(P2P_KEY_RSA2048);
	X509 *ca = make_ca(cak, "p2psip CA " OVERLAY), *c1, *c2;
	p2p_id ids1[2], ids2[1];
	p2p_cert_info ci, ci2, cai;
	char uri[128], hex[P2P_ID_HEXLEN + 1];
	GENERAL_NAMES *gens;
	p2p_trust *t;
	p2p_err err;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(p2p_id_random(&ids1[0]), 0);
	assert_int_equal(p2p_id_random(&ids1[1]), 0);
	assert_int_equal(p2p_id_random(&ids2[0]), 0);
	assert_false(p2p_id_eq(&ids1[0], &ids2[0]));
	c1 = issue_window(cak, ca, k, ids1, 2, "alice@example.org", now - 60,
	    now + 3600);
	c2 = issue(cak, ca, rk, ids2, 1);

	assert_int_equal(p2p_cert_info_get(c1, &ci, &err), 0);
	assert_int_equal(ci.nids, 2);
	assert_memory_equal(ci.ids[0].b, ids1[0].b, P2P_ID_LEN);
	assert_memory_equal(ci.ids[1].b, ids1[1].b, P2P_ID_LEN);
	assert_string_equal(ci.user, "alice@example.org");
	assert_string_equal(ci.overlay, OVERLAY);
	assert_true(ci.not_before == now - 60);
	assert_true(ci.not_after == now + 3600);
	assert_true(strlen(ci.serial) > 0);
	assert_false(ci.self_signed);
	/* Empty subject; the first SAN entry is the URI, spelled exactly. */
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(c1)), 0);
	gens = X509_get_ext_d2i(c1, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 3);
	snprintf(uri, sizeof(uri), "reload://0110%s@" OVERLAY "/",
	    p2p_id_hex(&ids1[0], hex));
	assert_int_equal(sk_GENERAL_NAME_value(gens, 0)->type, GEN_URI);
	assert_string_equal((const char *)ASN1_STRING_get0_data(
	    sk_GENERAL_NAME_value(gens, 0)->d.uniformResourceIdentifier), uri);
	GENERAL_NAMES_free(gens);
	assert_int_equal(X509_check_ca(c1), 0);

	/* A second issue: other Node-IDs, other serial. */
	assert_int_equal(p2p_cert_info_get(c2, &ci2, &err), 0);
	assert_int_equal(ci2.nids, 1);
	assert_memory_equal(ci2.ids[0].b, ids2[0].b, P2P_ID_LEN);
	assert_false(p2p_id_eq(&ci2.ids[0], &ci.ids[0]));
	assert_string_not_equal(ci.serial, ci2.serial);

	/* The root is a CA and the issued certificates verify against it. */
	assert_int_equal(p2p_cert_info_get(ca, &cai, &err), 0);
	assert_true(cai.self_signed);
	assert_int_equal(X509_check_ca(ca), 1);
	t = p2p_trust_new();
	assert_non_null(t);
	assert_int_equal(p2p_trust_add_root(t, ca, &err), 0);
	assert_int_equal(p2p_cert_verify(t, c1, NULL, &ids1[1], &err),
	    P2P_VERIFY_OK);
	assert_int_equal(p2p_cert_verify(t, c2, NULL, &ids2[0], &err),
	    P2P_VERIFY_OK);
	assert_int_equal(p2p_cert_verify(t, c2, NULL, NULL, &err),
	    P2P_VERIFY_OK);
	p2p_trust_free(t);
	X509_free(c1);
	X509_free(c2);
	X509_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
	EVP_PKEY_free(rk);
}

static void
test_node_uri(void **state)
{
	static const char good[] =
	    "reload://01100123456789abcdef0123456789abcdef@overlay.example.org/";
	static const char *const bad[] = {
	    "reload://02100123456789abcdef0123456789abcdef@o.example/",
	    "reload://01140123456789abcdef0123456789abcdef@o.example/",
	    "reload://01100123456789abcdef0123456789abcde@o.example/",
	    "reload://01100123456789abcdef0123456789abcdefaa@o.example/",
	    "reload://01100123456789abcdef0123456789abcdeg@o.example/",
	    "reload://01100123456789abcdef0123456789abcdef@o.example",
	    "reload://01100123456789abcdef0123456789abcdef@o.example/0a",
	    "reload://01100123456789abcdef0123456789abcdef@/",
	    "reload://01100123456789abcdef0123456789abcdef@o_x.example/",
	    "reload://01100123456789abcdef0123456789abcdef/o.example/",
	    "reload://011000000000000000000000000000000000@o.example/",
	    "reload://0110ffffffffffffffffffffffffffffffff@o.example/",
	    "http://01100123456789abcdef0123456789abcdef@o.example/",
	    "reload:/01100123456789abcdef0123456789abcdef@o.example/",
	    "",
	};
	char buf[128], ov[64];
	p2p_id id, back;

	(void)state;
	assert_int_equal(p2p_id_from_hex(&id,
	    "0123456789abcdef0123456789abcdef"), 1);
	assert_int_equal(p2p_node_uri(buf, sizeof(buf), &id,
	    "overlay.example.org"), 0);
	assert_string_equal(buf, good);
	assert_int_equal(p2p_node_uri(buf, 20, &id, "overlay.example.org"), -1);
	assert_int_equal(p2p_node_uri_parse(good, strlen(good), &back, ov,
	    sizeof(ov)), 0);
	assert_true(p2p_id_eq(&id, &back));
	assert_string_equal(ov, "overlay.example.org");
	/* Hex is case-insensitive. */
	assert_int_equal(p2p_node_uri_parse(
	    "reload://01100123456789ABCDEF0123456789abcdef@o.example/", 56,
	    &back, NULL, 0), 0);
	assert_true(p2p_id_eq(&id, &back));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (p2p_node_uri_parse(bad[i], strlen(bad[i]), &back, ov,
		    sizeof(ov)) == 0)
			fail_msg("accepted %s", bad[i]);
	/* Overlay buffer too small. */
	assert_int_equal(p2p_node_uri_parse(good, strlen(good), &back, ov, 5),
	    -1);
}

/* SPKI of a certificate, digested here with EVP_Digest. */
static void
expect_id(X509 *c, const EVP_MD *md, uint32_t k, int with_k, p2p_id *out)
{
	unsigned char *spki = NULL, *buf, h[EVP_MAX_MD_SIZE];
	unsigned hl;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c), &spki);

	assert_true(n > 0);
	buf = malloc((size_t)n + 4);
	assert_non_null(buf);
	buf[0] = (unsigned char)(k >> 24);
	buf[1] = (unsigned char)(k >> 16);
	buf[2] = (unsigned char)(k >> 8);
	buf[3] = (unsigned char)k;
	memcpy(buf + 4, spki, (size_t)n);
	assert_int_equal(EVP_Digest(with_k ? buf : buf + 4,
	    (size_t)n + (with_k ? 4 : 0), h, &hl, md, NULL), 1);
	memcpy(out->b, h, P2P_ID_LEN);
	free(buf);
	OPENSSL_free(spki);
}

/* A self-signed certificate with a Node-ID unrelated to its key. */
static X509 *
forged_self_signed(EVP_PKEY *k, const p2p_id *id)
{
	char uri[128], val[140];
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(p2p_node_uri(uri, sizeof(uri), id, OVERLAY), 0);
	snprintf(val, sizeof(val), "URI:%s", uri);
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
	assert_true(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"forged", -1, -1, 0));
	assert_true(X509_set_issuer_name(x, X509_get_subject_name(x)));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_true(X509_set_pubkey(x, k));
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, val);
	assert_non_null(e);
	assert_true(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static void
test_self_signed(void **state)
{
	EVP_PKEY *k = gen(P2P_KEY_EC_P256), *rk = gen(P2P_KEY_RSA2048);
	X509 *c1, *c3, *cr, *forged;
	p2p_cert_info ci;
	p2p_id want, other;
	p2p_trust *t = p2p_trust_new();
	p2p_err err;

	(void)state;
	c1 = p2p_selfsigned_make(k, OVERLAY, "bob@example.org", 1,
	    P2P_DIGEST_SHA256, 10, &err);
	assert_non_null(c1);
	assert_int_equal(p2p_cert_info_get(c1, &ci, &err), 0);
	assert_true(ci.self_signed);
	assert_int_equal(ci.nids, 1);
	assert_string_equal(ci.user, "bob@example.org");
	expect_id(c1, EVP_sha256(), 0, 0, &want);
	assert_memory_equal(ci.ids[0].b, want.b, P2P_ID_LEN);
	assert_int_equal(p2p_selfsigned_check(c1, P2P_DIGEST_SHA256, &err), 0);
	/* Checked with the other digest it does not match. */
	assert_int_equal(p2p_selfsigned_check(c1, P2P_DIGEST_SHA1, &err), -1);

	/* Three Node-IDs: the k-th digests uint32_be(k) || SPKI. */
	c3 = p2p_selfsigned_make(k, OVERLAY, "bob@example.org", 3,
	    P2P_DIGEST_SHA1, 10, &err);
	assert_non_null(c3);
	assert_int_equal(p2p_cert_info_get(c3, &ci, &err), 0);
	assert_int_equal(ci.nids, 3);
	for (uint32_t i = 1; i <= 3; i++) {
		expect_id(c3, EVP_sha1(), i, 1, &want);
		assert_memory_equal(ci.ids[i - 1].b, want.b, P2P_ID_LEN);
	}
	assert_int_equal(p2p_selfsigned_check(c3, P2P_DIGEST_SHA1, &err), 0);

	cr = p2p_selfsigned_make(rk, OVERLAY, "carol@example.org", 1,
	    P2P_DIGEST_SHA256, 10, &err);
	assert_non_null(cr);
	assert_int_equal(p2p_selfsigned_check(cr, P2P_DIGEST_SHA256, &err), 0);

	/* A self-signed certificate whose Node-ID is not its key's. */
	assert_int_equal(p2p_id_random(&other), 0);
	forged = forged_self_signed(k, &other);
	assert_int_equal(p2p_selfsigned_check(forged, P2P_DIGEST_SHA256, &err),
	    -1);
	assert_non_null(strstr(err.what, "does not match"));

	/* Through the trust: refused unless self-signed mode is on. */
	assert_non_null(t);
	assert_int_equal(p2p_cert_verify(t, c1, NULL, NULL, &err),
	    P2P_VERIFY_UNTRUSTED);
	p2p_trust_allow_self_signed(t, P2P_DIGEST_SHA256);
	expect_id(c1, EVP_sha256(), 0, 0, &want);
	assert_int_equal(p2p_cert_verify(t, c1, NULL, &want, &err),
	    P2P_VERIFY_OK);
	assert_int_equal(p2p_cert_verify(t, forged, NULL, &other, &err),
	    P2P_VERIFY_SELF_SIGNED_MISMATCH);
	assert_int_equal(p2p_cert_verify(t, c1, NULL, &other, &err),
	    P2P_VERIFY_WRONG_NODE);
	p2p_trust_free(t);
	X509_free(c1);
	X509_free(c3);
	X509_free(cr);
	X509_free(forged);
	EVP_PKEY_free(k);
	EVP_PKEY_free(rk);
}

static void
test_verify_refusals(void **state)
{
	EVP_PKEY *cak = gen(P2P_KEY_EC_P256), *cak2 = gen(P2P_KEY_EC_P256);
	EVP_PKEY *k = gen(P2P_KEY_EC_P256), *k2 = gen(P2P_KEY_EC_P256);
	X509 *ca = make_ca(cak, "CA one"), *ca2 = make_ca(cak2, "CA two");
	X509 *good, *foreign, *expired, *future, *sub;
	STACK_OF(X509) *chain;
	p2p_id id, id2, id3, other;
	p2p_cert_info ci;
	X509_CRL *crl;
	const char *serials[1];
	p2p_trust *t = p2p_trust_new();
	time_t now = time(NULL);
	p2p_err err;

	(void)state;
	assert_non_null(t);
	assert_int_equal(p2p_id_random(&id), 0);
	assert_int_equal(p2p_id_random(&id2), 0);
	assert_int_equal(p2p_id_random(&id3), 0);
	assert_int_equal(p2p_id_random(&other), 0);
	good = issue(cak, ca, k, &id, 1);
	foreign = issue(cak2, ca2, k, &id, 1);
	expired = issue_window(cak, ca, k, &id, 1, "a@b.example",
	    now - 10 * 86400, now - 86400);
	future = issue_window(cak, ca, k, &id, 1, "a@b.example",
	    now + 86400, now + 10 * 86400);
	/* good is not a CA: what it "issues" must not verify. */
	sub = issue(k, good, k2, &id2, 1);
	assert_int_equal(p2p_trust_add_root(t, ca, &err), 0);
	/* A non-CA is not accepted as a root. */
	assert_int_equal(p2p_trust_add_root(t, good, &err), -1);

	assert_int_equal(p2p_cert_verify(t, good, NULL, &id, &err),
	    P2P_VERIFY_OK);
	assert_int_equal(p2p_cert_verify(t, foreign, NULL, &id, &err),
	    P2P_VERIFY_UNTRUSTED);
	assert_int_equal(p2p_cert_verify(t, expired, NULL, &id, &err),
	    P2P_VERIFY_EXPIRED);
	assert_int_equal(p2p_cert_verify(t, future, NULL, &id, &err),
	    P2P_VERIFY_NOT_YET_VALID);
	assert_int_equal(p2p_cert_verify(t, good, NULL, &other, &err),
	    P2P_VERIFY_WRONG_NODE);
	chain = sk_X509_new_null();
	assert_non_null(chain);
	assert_true(sk_X509_push(chain, good));
	assert_int_equal(p2p_cert_verify(t, sub, chain, &id2, &err),
	    P2P_VERIFY_UNTRUSTED);
	sk_X509_free(chain);
	/* Verification time moved past the expiry of good. */
	p2p_trust_set_time(t, now + 2 * 86400);
	assert_int_equal(p2p_cert_verify(t, good, NULL, &id, &err),
	    P2P_VERIFY_EXPIRED);
	p2p_trust_set_time(t, 0);

	/* Revocation by CRL, then by serial, then by bad-node. */
	assert_int_equal(p2p_cert_info_get(good, &ci, &err), 0);
	serials[0] = ci.serial;
	crl = p2p_crl_make(cak, ca, serials, 1, 7, &err);
	assert_non_null(crl);
	assert_int_equal(p2p_trust_set_crl(t, crl, &err), 0);
	assert_int_equal(p2p_cert_verify(t, good, NULL, &id, &err),
	    P2P_VERIFY_REVOKED);
	X509_CRL_free(crl);
	crl = p2p_crl_make(cak, ca, NULL, 0, 7, &err);
	assert_non_null(crl);
	assert_int_equal(p2p_trust_set_crl(t, crl, &err), 0);
	X509_CRL_free(crl);
	assert_int_equal(p2p_cert_verify(t, good, NULL, &id, &err),
	    P2P_VERIFY_OK);
	assert_int_equal(p2p_trust_revoke_serial(t, ci.serial, &err), 0);
	assert_int_equal(p2p_cert_verify(t, good, NULL, &id, &err),
	    P2P_VERIFY_REVOKED);
	assert_int_equal(p2p_trust_revoke_serial(t, "xyz", &err), -1);
	p2p_trust_free(t);

	t = p2p_trust_new();
	assert_non_null(t);
	assert_int_equal(p2p_trust_add_root(t, ca, &err), 0);
	assert_int_equal(p2p_trust_add_bad_node(t, &id, &err), 0);
	assert_int_equal(p2p_cert_verify(t, good, NULL, &id, &err),
	    P2P_VERIFY_BAD_NODE);
	assert_string_equal(p2p_verify_result_name(P2P_VERIFY_BAD_NODE),
	    "bad-node");
	p2p_trust_free(t);

	X509_free(good);
	X509_free(foreign);
	X509_free(expired);
	X509_free(future);
	X509_free(sub);
	X509_free(ca);
	X509_free(ca2);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(cak2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* A CSR over any key, built here so weak keys can be used. */
static X509_REQ *
raw_csr(EVP_PKEY *k, const EVP_MD *md)
{
	X509_REQ *r = X509_REQ_new();

	assert_non_null(r);
	assert_true(X509_REQ_set_pubkey(r, k));
	assert_true(X509_REQ_sign(r, k, md) > 0);
	return r;
}

static void
test_csr_checks(void **state)
{
	EVP_PKEY *k = gen(P2P_KEY_EC_P256), *weak = EVP_RSA_gen(1024);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *p521 = EVP_EC_gen("P-521"), *p384 = EVP_EC_gen("P-384");
	EVP_PKEY *cak = gen(P2P_KEY_EC_P256);
	X509 *ca = make_ca(cak, "CA");
	X509_REQ *r, *back;
	uint8_t *der;
	size_t len;
	p2p_id id;
	p2p_issue p = { OVERLAY, "a@b.example", &id, 1, 0, 0 };
	p2p_err err;

	(void)state;
	assert_non_null(weak);
	assert_non_null(ed);
	assert_non_null(p521);
	assert_non_null(p384);
	p.not_after = time(NULL) + 3600;
	assert_int_equal(p2p_id_random(&id), 0);

	r = p2p_csr_make(k, &err);
	assert_non_null(r);
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(r)), 0);
	assert_int_equal(p2p_csr_to_der(r, &der, &len, &err), 0);
	back = p2p_csr_from_der(der, len, &err);
	assert_non_null(back);
	assert_int_equal(p2p_csr_check(back, &err), 0);
	X509_REQ_free(back);
	/* A flipped bit in the signature. */
	der[len - 3] ^= 0x01;
	back = p2p_csr_from_der(der, len, &err);
	assert_non_null(back);
	assert_int_equal(p2p_csr_check(back, &err), -1);
	assert_non_null(strstr(err.what, "bad CSR"));
	X509_REQ_free(back);
	/* Malformed DER. */
	assert_null(p2p_csr_from_der(der, len / 2, &err));
	assert_null(p2p_csr_from_der((const uint8_t *)"\x30\x03\x02\x01\x01",
	    5, &err));
	free(der);
	X509_REQ_free(r);

	/* Weak keys are refused when building and when checking. */
	assert_null(p2p_csr_make(weak, &err));
	r = raw_csr(weak, EVP_sha256());
	assert_int_equal(p2p_csr_check(r, &err), -1);
	assert_non_null(strstr(err.what, "weak CSR"));
	assert_null(p2p_cert_issue(cak, ca, r, &p, &err));
	X509_REQ_free(r);
	r = raw_csr(ed, NULL);
	assert_int_equal(p2p_csr_check(r, &err), -1);
	assert_non_null(strstr(err.what, "weak CSR"));
	X509_REQ_free(r);
	r = raw_csr(p521, EVP_sha256());
	assert_int_equal(p2p_csr_check(r, &err), -1);
	X509_REQ_free(r);
	r = raw_csr(p384, EVP_sha384());
	assert_int_equal(p2p_csr_check(r, &err), 0);
	X509_REQ_free(r);

	/* Issue parameters are checked too. */
	r = p2p_csr_make(k, &err);
	assert_non_null(r);
	p.overlay = "bad overlay";
	assert_null(p2p_cert_issue(cak, ca, r, &p, &err));
	p.overlay = OVERLAY;
	p.nids = 0;
	assert_null(p2p_cert_issue(cak, ca, r, &p, &err));
	p.nids = 1;
	memset(&id, 0xff, sizeof(id));
	assert_null(p2p_cert_issue(cak, ca, r, &p, &err));
	assert_int_equal(p2p_id_random(&id), 0);
	/* The CA key must match the CA certificate. */
	assert_null(p2p_cert_issue(k, ca, r, &p, &err));
	X509_REQ_free(r);
	assert_int_equal(ERR_peek_error(), 0);

	X509_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(p384);
}

static void
test_random_ids(void **state)
{
	p2p_id ids[256];

	(void)state;
	for (size_t i = 0; i < 256; i++) {
		assert_int_equal(p2p_id_random(&ids[i]), 0);
		assert_false(p2p_id_is_zero(&ids[i]));
		assert_false(p2p_id_is_wildcard(&ids[i]));
		for (size_t j = 0; j < i; j++)
			assert_false(p2p_id_eq(&ids[i], &ids[j]));
	}
}

static void
test_signer_identity(void **state)
{
	EVP_PKEY *cak = gen(P2P_KEY_EC_P256), *k = gen(P2P_KEY_EC_P256);
	X509 *ca = make_ca(cak, "CA"), *c;
	p2p_id ids[2], node;
	uint8_t *der, h[32], want[32], buf[16 + 2048];
	unsigned hl;
	size_t len;
	p2p_signer s;
	p2p_cert_info ci;
	p2p_err err;
	int has;

	(void)state;
	assert_int_equal(p2p_id_random(&ids[0]), 0);
	assert_int_equal(p2p_id_random(&ids[1]), 0);
	c = issue(cak, ca, k, ids, 2);
	assert_int_equal(p2p_cert_to_der(c, &der, &len, &err), 0);
	assert_true(len <= 2048);
	assert_int_equal(p2p_cert_info_get(c, &ci, &err), 0);

	assert_int_equal(p2p_signer_cert_hash(&s, h, der, len), 0);
	assert_int_equal(EVP_Digest(der, len, want, &hl, EVP_sha256(), NULL), 1);
	assert_int_equal(s.type, P2P_SIGNER_CERT_HASH);
	assert_int_equal(s.hash_alg, P2P_HASH_SHA256);
	assert_memory_equal(s.hash.p, want, 32);
	assert_int_equal(p2p_signer_match(&s, der, len, &ci, &node, &has), 1);
	assert_int_equal(has, 0);	/* two Node-IDs: cert_hash names none */

	assert_int_equal(p2p_signer_cert_hash_node_id(&s, h, &ids[1], der, len),
	    0);
	memcpy(buf, ids[1].b, 16);
	memcpy(buf + 16, der, len);
	assert_int_equal(EVP_Digest(buf, 16 + len, want, &hl, EVP_sha256(),
	    NULL), 1);
	assert_int_equal(s.type, P2P_SIGNER_CERT_HASH_NODE_ID);
	assert_memory_equal(s.hash.p, want, 32);
	assert_int_equal(p2p_signer_match(&s, der, len, &ci, &node, &has), 1);
	assert_int_equal(has, 1);
	assert_true(p2p_id_eq(&node, &ids[1]));
	/* Another certificate does not match. */
	h[0] ^= 1;
	assert_int_equal(p2p_signer_match(&s, der, len, &ci, &node, &has), 0);

	free(der);
	X509_free(c);
	X509_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_save_load),
		cmocka_unit_test(test_cert_save_load_der),
		cmocka_unit_test(test_ca_issue_round_trip),
		cmocka_unit_test(test_node_uri),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_verify_refusals),
		cmocka_unit_test(test_csr_checks),
		cmocka_unit_test(test_random_ids),
		cmocka_unit_test(test_signer_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
