#include "ident.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "certcache.h"

/* Record a failure and drop whatever OpenSSL queued about it. */
static int
fail(p2p_err *err, uint16_t code, const char *what)
{
	ERR_clear_error();
	p2p_err_set(err, code, what, 0);
	return -1;
}

static void *
fail_null(p2p_err *err, const char *what)
{
	(void)fail(err, 0, what);
	return NULL;
}

/* Copy an OpenSSL i2d output into malloc'd memory. */
static int
dup_out(const unsigned char *p, int n, uint8_t **der, size_t *len)
{
	if (n <= 0)
		return -1;
	*der = malloc((size_t)n);
	if (*der == NULL)
		return -1;
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
	return 0;
}

/* ---- keys ---- */

EVP_PKEY *
p2p_key_generate(enum p2p_key_type type, p2p_err *err)
{
	EVP_PKEY *k = NULL;

	switch (type) {
	case P2P_KEY_EC_P256:
		k = EVP_EC_gen("P-256");
		break;
	case P2P_KEY_RSA2048:
		k = EVP_RSA_gen(2048);
		break;
	default:
		return fail_null(err, "unknown key type");
	}
	if (k == NULL)
		return fail_null(err, "key generation failed");
	return k;
}

static int
write_file(const char *path, mode_t mode, const void *p, size_t n,
    p2p_err *err)
{
	const uint8_t *b = p;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0)
		return fail(err, 0, "cannot create the file");
	if (fchmod(fd, mode) != 0) {
		close(fd);
		return fail(err, 0, "cannot set the file mode");
	}
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return fail(err, 0, "cannot write the file");
		}
		b += w;
		n -= (size_t)w;
	}
	if (close(fd) != 0)
		return fail(err, 0, "cannot write the file");
	return 0;
}

/* Write what a PEM writer put into a memory BIO. */
static int
write_bio(const char *path, mode_t mode, BIO *b, p2p_err *err)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);

	if (n <= 0)
		return fail(err, 0, "PEM encoding failed");
	return write_file(path, mode, p, (size_t)n, err);
}

int
p2p_key_save(EVP_PKEY *key, const char *path, p2p_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc;

	if (b == NULL)
		return fail(err, 0, "out of memory");
	if (!PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b);
		return fail(err, 0, "PEM encoding of the key failed");
	}
	rc = write_bio(path, 0600, b, err);
	BIO_free(b);
	return rc;
}

EVP_PKEY *
p2p_key_load(const char *path, p2p_err *err)
{
	struct stat st;
	EVP_PKEY *k;
	BIO *b;

	if (stat(path, &st) != 0)
		return fail_null(err, "cannot read the key file");
	if ((st.st_mode & 077) != 0)
		return fail_null(err, "key file is readable by others; "
		    "chmod 600 it");
	b = BIO_new_file(path, "r");
	if (b == NULL)
		return fail_null(err, "cannot open the key file");
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k == NULL)
		return fail_null(err, "key file holds no PEM private key");
	return k;
}

static int
ec_curve_ok(EVP_PKEY *key)
{
	char name[64];
	size_t n = 0;
	int nid;

	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
	    name, sizeof(name), &n))
		return 0;
	nid = OBJ_sn2nid(name);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(name);
	return nid == NID_X9_62_prime256v1 || nid == NID_secp384r1;
}

int
p2p_key_check(EVP_PKEY *key, p2p_err *err)
{
	if (key == NULL)
		return fail(err, 0, "no key");
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		if (!ec_curve_ok(key))
			return fail(err, 0, "weak key: EC keys must be on "
			    "P-256 or P-384");
		return 0;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) < 2048)
			return fail(err, 0, "weak key: RSA keys need at "
			    "least 2048 bits");
		return 0;
	default:
		return fail(err, 0, "weak key: only EC (P-256, P-384) and "
		    "RSA keys are accepted");
	}
}

int
p2p_key_spki(EVP_PKEY *key, uint8_t **der, size_t *len, p2p_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(key, &p);
	int rc = dup_out(p, n, der, len);

	OPENSSL_free(p);
	if (rc != 0)
		return fail(err, 0, "cannot encode the public key");
	return 0;
}

/* ---- certificates ---- */

int
p2p_cert_save(X509 *cert, const char *path, p2p_err *err)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc;

	if (b == NULL)
		return fail(err, 0, "out of memory");
	if (!PEM_write_bio_X509(b, cert)) {
		BIO_free(b);
		return fail(err, 0, "PEM encoding of the certificate failed");
	}
	rc = write_bio(path, 0644, b, err);
	BIO_free(b);
	return rc;
}

X509 *
p2p_cert_load(const char *path, p2p_err *err)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *c;

	if (b == NULL)
		return fail_null(err, "cannot open the certificate file");
	c = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (c == NULL)
		return fail_null(err, "certificate file holds no PEM "
		    "certificate");
	return c;
}

X509 *
p2p_cert_from_der(const uint8_t *der, size_t len, p2p_err *err)
{
	const unsigned char *p = der;
	X509 *c;

	if (len == 0 || len > P2P_CERT_DER_MAX)
		return fail_null(err, "certificate size out of range");
	c = d2i_X509(NULL, &p, (long)len);
	if (c == NULL)
		return fail_null(err, "certificate is not valid DER");
	if (p != der + len) {
		X509_free(c);
		return fail_null(err, "trailing bytes after the certificate");
	}
	return c;
}

int
p2p_cert_to_der(X509 *cert, uint8_t **der, size_t *len, p2p_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_X509(cert, &p);
	int rc = dup_out(p, n, der, len);

	OPENSSL_free(p);
	if (rc != 0)
		return fail(err, 0, "cannot encode the certificate");
	return 0;
}

/* ---- certificate signing requests ---- */

X509_REQ *
p2p_csr_make(EVP_PKEY *key, p2p_err *err)
{
	X509_REQ *r;

	if (p2p_key_check(key, err) != 0)
		return NULL;
	r = X509_REQ_new();
	if (r == NULL)
		return fail_null(err, "out of memory");
	if (!X509_REQ_set_version(r, 0) || !X509_REQ_set_pubkey(r, key) ||
	    X509_REQ_sign(r, key, EVP_sha256()) <= 0) {
		X509_REQ_free(r);
		return fail_null(err, "cannot sign the CSR");
	}
	return r;
}

X509_REQ *
p2p_csr_from_der(const uint8_t *der, size_t len, p2p_err *err)
{
	const unsigned char *p = der;
	X509_REQ *r;

	if (len == 0 || len > P2P_CERT_DER_MAX)
		return fail_null(err, "bad CSR: size out of range");
	r = d2i_X509_REQ(NULL, &p, (long)len);
	if (r == NULL)
		return fail_null(err, "bad CSR: not a DER PKCS#10 request");
	if (p != der + len) {
		X509_REQ_free(r);
		return fail_null(err, "bad CSR: trailing bytes");
	}
	return r;
}

int
p2p_csr_to_der(X509_REQ *csr, uint8_t **der, size_t *len, p2p_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_X509_REQ(csr, &p);
	int rc = dup_out(p, n, der, len);

	OPENSSL_free(p);
	if (rc != 0)
		return fail(err, 0, "cannot encode the CSR");
	return 0;
}

int
p2p_csr_check(X509_REQ *csr, p2p_err *err)
{
	EVP_PKEY *k = X509_REQ_get0_pubkey(csr);

	if (k == NULL)
		return fail(err, 0, "bad CSR: no readable public key");
	if (X509_REQ_verify(csr, k) != 1)
		return fail(err, 0, "bad CSR: its signature does not verify");
	if (p2p_key_check(k, NULL) != 0)
		return fail(err, 0, "weak CSR: key must be EC P-256/P-384 or "
		    "RSA of at least 2048 bits");
	return 0;
}

/* ---- issuing ---- */

static int
set_random_serial(X509 *x)
{
	unsigned char b[16];
	ASN1_INTEGER *ai;
	BIGNUM *bn;
	int ok;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return 0;
		b[0] &= 0x7f;	/* positive, at most 20 octets encoded */
	} while (b[0] == 0 && b[1] == 0);
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn == NULL)
		return 0;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	if (ai == NULL)
		return 0;
	ok = X509_set_serialNumber(x, ai);
	ASN1_INTEGER_free(ai);
	return ok;
}

static int
add_ext_conf(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (e == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static int
add_basic_constraints(X509 *x, int ca)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int ok;

	if (bc == NULL)
		return 0;
	bc->ca = ca ? 0xff : 0;
	ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1,
	    X509V3_ADD_DEFAULT) == 1;
	BASIC_CONSTRAINTS_free(bc);
	return ok;
}

static int
push_name(GENERAL_NAMES *gens, int type, const char *s)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

	if (gn == NULL || ia5 == NULL ||
	    !ASN1_STRING_set(ia5, s, (int)strlen(s))) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(ia5);
		return 0;
	}
	GENERAL_NAME_set0_value(gn, type, ia5);
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		return 0;
	}
	return 1;
}

static int
name_ok(const char *s, int allow_at)
{
	size_t n = strlen(s);

	if (n == 0 || n > P2P_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f)
			return 0;
		if (!allow_at && c == '@')
			return 0;
	}
	return 1;
}

static int
overlay_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > P2P_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!(*s == '.' || *s == '-' || (*s >= '0' && *s <= '9') ||
		    (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

/* subjectAltName: one URI per Node-ID, then the user name. */
static int
add_san(X509 *x, const char *overlay, const char *user, const p2p_id *ids,
    size_t nids, int critical, p2p_err *err)
{
	char uri[P2P_NAME_MAX + 64];
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int ok = gens != NULL;

	for (size_t i = 0; ok && i < nids; i++) {
		if (p2p_node_uri(uri, sizeof(uri), &ids[i], overlay) != 0) {
			sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
			return fail(err, 0, "overlay name unusable in a URI");
		}
		ok = push_name(gens, GEN_URI, uri);
	}
	if (ok && user != NULL && user[0] != '\0')
		ok = push_name(gens, GEN_EMAIL, user);
	if (ok)
		ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens,
		    critical, X509V3_ADD_DEFAULT) == 1;
	sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
	if (!ok)
		return fail(err, 0, "cannot build subjectAltName");
	return 0;
}

static int
set_validity(X509 *x, time_t nb, time_t na)
{
	return ASN1_TIME_set(X509_getm_notBefore(x), nb) != NULL &&
	    ASN1_TIME_set(X509_getm_notAfter(x), na) != NULL;
}

static int
issue_args_ok(const p2p_issue *p, p2p_err *err)
{
	if (p->overlay == NULL || !overlay_ok(p->overlay))
		return fail(err, 0, "overlay name must be a DNS-style name");
	if (p->user != NULL && p->user[0] != '\0' && !name_ok(p->user, 1))
		return fail(err, 0, "user name must be 1..255 printable "
		    "ASCII characters without spaces");
	if (p->nids == 0 || p->nids > P2P_CERT_MAX_IDS || p->ids == NULL)
		return fail(err, 0, "a certificate carries 1..32 Node-IDs");
	for (size_t i = 0; i < p->nids; i++)
		if (p2p_id_is_zero(&p->ids[i]) ||
		    p2p_id_is_wildcard(&p->ids[i]))
			return fail(err, 0, "Node-ID is all-zero or all-ones");
	return 0;
}

X509 *
p2p_cert_issue(EVP_PKEY *ca_key, X509 *ca_cert, X509_REQ *csr,
    const p2p_issue *p, p2p_err *err)
{
	time_t nb = p->not_before != 0 ? p->not_before : time(NULL);
	X509 *x;

	if (issue_args_ok(p, err) != 0 || p2p_csr_check(csr, err) != 0)
		return NULL;
	if (p->not_after <= nb)
		return fail_null(err, "certificate would expire before it "
		    "starts");
	if (X509_check_private_key(ca_cert, ca_key) != 1)
		return fail_null(err, "CA key does not match the CA "
		    "certificate");
	x = X509_new();
	if (x == NULL)
		return fail_null(err, "out of memory");
	if (!X509_set_version(x, 2) || !set_random_serial(x) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) ||
	    !set_validity(x, nb, p->not_after) ||
	    !X509_set_pubkey(x, X509_REQ_get0_pubkey(csr)) ||
	    !add_basic_constraints(x, 0) ||
	    !add_ext_conf(x, ca_cert, NID_subject_key_identifier, "hash") ||
	    !add_ext_conf(x, ca_cert, NID_authority_key_identifier,
	    "keyid:always"))
		goto bad;
	/* Empty subject: RFC 5280 wants the subjectAltName critical. */
	if (add_san(x, p->overlay, p->user, p->ids, p->nids, 1, err) != 0) {
		X509_free(x);
		return NULL;
	}
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		goto bad;
	return x;
bad:
	X509_free(x);
	return fail_null(err, "cannot build the certificate");
}

static int
set_cn(X509_NAME *n, const char *cn)
{
	return X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) == 1;
}

X509 *
p2p_ca_create(EVP_PKEY *key, const char *cn, unsigned days, p2p_err *err)
{
	time_t now = time(NULL);
	X509 *x;

	if (p2p_key_check(key, err) != 0)
		return NULL;
	if (cn == NULL || cn[0] == '\0' || strlen(cn) > 64 || days == 0)
		return fail_null(err, "CA needs a name of 1..64 characters "
		    "and a validity of at least one day");
	x = X509_new();
	if (x == NULL)
		return fail_null(err, "out of memory");
	if (!X509_set_version(x, 2) || !set_random_serial(x) ||
	    !set_cn(X509_get_subject_name(x), cn) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !set_validity(x, now - 60, now + (time_t)days * 86400) ||
	    !X509_set_pubkey(x, key) || !add_basic_constraints(x, 1) ||
	    !add_ext_conf(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext_conf(x, x, NID_subject_key_identifier, "hash") ||
	    !add_ext_conf(x, x, NID_authority_key_identifier, "keyid:always") ||
	    X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		return fail_null(err, "cannot build the CA certificate");
	}
	return x;
}

static ASN1_INTEGER *
serial_from_hex(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;
	size_t n = strlen(hex);

	if (n == 0 || n > 40 || strspn(hex, "0123456789abcdefABCDEF") != n)
		return NULL;
	if (BN_hex2bn(&bn, hex) == 0)
		return NULL;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

static int
crl_add(X509_CRL *crl, const char *hex, ASN1_TIME *when)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *ai = serial_from_hex(hex);
	int ok = rv != NULL && ai != NULL &&
	    X509_REVOKED_set_serialNumber(rv, ai) &&
	    X509_REVOKED_set_revocationDate(rv, when) &&
	    X509_CRL_add0_revoked(crl, rv);

	ASN1_INTEGER_free(ai);
	if (!ok)
		X509_REVOKED_free(rv);
	return ok;
}

X509_CRL *
p2p_crl_make(EVP_PKEY *ca_key, X509 *ca_cert, const char *const *serials,
    size_t nserials, unsigned days, p2p_err *err)
{
	time_t now = time(NULL);
	ASN1_TIME *t = ASN1_TIME_set(NULL, now);
	ASN1_TIME *nu = ASN1_TIME_set(NULL, now + (time_t)days * 86400);
	X509_CRL *crl = X509_CRL_new();
	int ok = t != NULL && nu != NULL && crl != NULL && days > 0 &&
	    X509_CRL_set_version(crl, 1) &&
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert)) &&
	    X509_CRL_set1_lastUpdate(crl, t) &&
	    X509_CRL_set1_nextUpdate(crl, nu);

	for (size_t i = 0; ok && i < nserials; i++)
		ok = crl_add(crl, serials[i], t);
	if (ok)
		ok = X509_CRL_sort(crl) &&
		    X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0;
	ASN1_TIME_free(t);
	ASN1_TIME_free(nu);
	if (!ok) {
		X509_CRL_free(crl);
		return fail_null(err, "cannot build the CRL (bad serial?)");
	}
	return crl;
}

/* ---- RELOAD URIs ---- */

int
p2p_node_uri(char *buf, size_t cap, const p2p_id *id, const char *overlay)
{
	char hex[P2P_ID_HEXLEN + 1];
	int n;

	if (!overlay_ok(overlay))
		return -1;
	n = snprintf(buf, cap, "reload://0110%s@%s/", p2p_id_hex(id, hex),
	    overlay);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
p2p_node_uri_parse(const char *uri, size_t len, p2p_id *id, char *overlay,
    size_t ocap)
{
	static const char scheme[] = "reload://";
	const size_t sl = sizeof(scheme) - 1, hl = 4 + P2P_ID_HEXLEN;
	const char *ov;
	size_t ovlen;
	p2p_id t;

	if (len < sl + hl + 3 || strncasecmp(uri, scheme, sl) != 0)
		return -1;
	uri += sl;
	len -= sl;
	/* Destination list: type 01, length 10, 16 bytes of Node-ID. */
	if (uri[0] != '0' || uri[1] != '1' || uri[2] != '1' || uri[3] != '0')
		return -1;
	for (size_t i = 0; i < P2P_ID_LEN; i++) {
		int hi = hexv(uri[4 + 2 * i]), lo = hexv(uri[5 + 2 * i]);
		if (hi < 0 || lo < 0)
			return -1;
		t.b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (uri[hl] != '@' || uri[len - 1] != '/')
		return -1;
	ov = uri + hl + 1;
	ovlen = len - hl - 2;
	if (ovlen == 0 || ovlen > P2P_NAME_MAX)
		return -1;
	for (size_t i = 0; i < ovlen; i++)
		if (!(ov[i] == '.' || ov[i] == '-' ||
		    (ov[i] >= '0' && ov[i] <= '9') ||
		    (ov[i] >= 'a' && ov[i] <= 'z') ||
		    (ov[i] >= 'A' && ov[i] <= 'Z')))
			return -1;
	if (p2p_id_is_zero(&t) || p2p_id_is_wildcard(&t))
		return -1;
	if (overlay != NULL) {
		if (ocap <= ovlen)
			return -1;
		memcpy(overlay, ov, ovlen);
		overlay[ovlen] = '\0';
	}
	*id = t;
	return 0;
}

/* ---- reading a certificate ---- */

static int
asn1_time_get(const ASN1_TIME *a, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (a == NULL || !ASN1_TIME_to_tm(a, &tm))
		return 0;
	*out = timegm(&tm);
	return 1;
}

static int
serial_hex(X509 *c, char *out, size_t cap)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
	char *h;
	int ok = 0;

	if (bn == NULL)
		return 0;
	h = BN_bn2hex(bn);
	if (h != NULL && strlen(h) < cap) {
		strcpy(out, h);
		ok = 1;
	}
	OPENSSL_free(h);
	BN_free(bn);
	return ok;
}

/* One subjectAltName entry into ci; 0 ok, -1 with err. */
static int
san_entry(const GENERAL_NAME *gn, p2p_cert_info *ci, p2p_err *err)
{
	char ov[P2P_NAME_MAX + 1];
	const ASN1_STRING *s;
	const char *p;
	size_t n;

	if (gn->type != GEN_URI && gn->type != GEN_EMAIL)
		return 0;
	s = gn->type == GEN_URI ? gn->d.uniformResourceIdentifier :
	    gn->d.rfc822Name;
	p = (const char *)ASN1_STRING_get0_data(s);
	n = (size_t)ASN1_STRING_length(s);
	if (memchr(p, '\0', n) != NULL)
		return fail(err, P2P_ERR_FORBIDDEN, "NUL in subjectAltName");
	if (gn->type == GEN_EMAIL) {
		if (ci->user[0] != '\0')
			return fail(err, P2P_ERR_FORBIDDEN,
			    "certificate has more than one user name");
		if (n == 0 || n > P2P_NAME_MAX)
			return fail(err, P2P_ERR_FORBIDDEN,
			    "certificate user name length out of range");
		memcpy(ci->user, p, n);
		ci->user[n] = '\0';
		return 0;
	}
	if (ci->nids == P2P_CERT_MAX_IDS)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "certificate carries too many Node-IDs");
	if (p2p_node_uri_parse(p, n, &ci->ids[ci->nids], ov, sizeof(ov)) != 0)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "subjectAltName URI is not a RELOAD Node-ID URI");
	if (ci->nids > 0 && strcasecmp(ov, ci->overlay) != 0)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "certificate Node-ID URIs name different overlays");
	for (size_t i = 0; i < ci->nids; i++)
		if (p2p_id_eq(&ci->ids[i], &ci->ids[ci->nids]))
			return fail(err, P2P_ERR_FORBIDDEN,
			    "certificate repeats a Node-ID");
	strcpy(ci->overlay, ov);
	ci->nids++;
	return 0;
}

static int
is_self_signed(X509 *c)
{
	EVP_PKEY *k = X509_get0_pubkey(c);

	if (X509_NAME_cmp(X509_get_subject_name(c),
	    X509_get_issuer_name(c)) != 0 || k == NULL)
		return 0;
	return X509_verify(c, k) == 1;
}

int
p2p_cert_info_get(X509 *cert, p2p_cert_info *out, p2p_err *err)
{
	GENERAL_NAMES *gens;
	int crit = -1, rc = 0;

	memset(out, 0, sizeof(*out));
	if (!asn1_time_get(X509_get0_notBefore(cert), &out->not_before) ||
	    !asn1_time_get(X509_get0_notAfter(cert), &out->not_after) ||
	    !serial_hex(cert, out->serial, sizeof(out->serial)))
		return fail(err, P2P_ERR_FORBIDDEN,
		    "certificate validity or serial unreadable");
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL && crit != -1)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "certificate subjectAltName unreadable");
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++)
		if ((rc = san_entry(sk_GENERAL_NAME_value(gens, i), out,
		    err)) != 0)
			break;
	GENERAL_NAMES_free(gens);
	out->self_signed = is_self_signed(cert);
	ERR_clear_error();
	return rc;
}

int
p2p_cert_has_node(const p2p_cert_info *ci, const p2p_id *id)
{
	for (size_t i = 0; i < ci->nids; i++)
		if (p2p_id_eq(&ci->ids[i], id))
			return 1;
	return 0;
}

/* ---- self-signed mode ---- */

int
p2p_selfsigned_ids(const uint8_t *spki, size_t spki_len, enum p2p_digest d,
    size_t n, p2p_id *out, p2p_err *err)
{
	const EVP_MD *md = d == P2P_DIGEST_SHA1 ? EVP_sha1() :
	    d == P2P_DIGEST_SHA256 ? EVP_sha256() : NULL;
	unsigned char h[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx;
	unsigned hl = 0;

	if (md == NULL)
		return fail(err, 0, "unknown self-signed digest");
	if (n == 0 || n > P2P_CERT_MAX_IDS)
		return fail(err, 0, "a certificate carries 1..32 Node-IDs");
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return fail(err, 0, "out of memory");
	for (size_t k = 1; k <= n; k++) {
		unsigned char kb[4] = { (unsigned char)(k >> 24),
		    (unsigned char)(k >> 16), (unsigned char)(k >> 8),
		    (unsigned char)k };
		if (!EVP_DigestInit_ex(ctx, md, NULL) ||
		    (n > 1 && !EVP_DigestUpdate(ctx, kb, 4)) ||
		    !EVP_DigestUpdate(ctx, spki, spki_len) ||
		    !EVP_DigestFinal_ex(ctx, h, &hl) || hl < P2P_ID_LEN) {
			EVP_MD_CTX_free(ctx);
			return fail(err, 0, "digest failed");
		}
		memcpy(out[k - 1].b, h, P2P_ID_LEN);
	}
	EVP_MD_CTX_free(ctx);
	return 0;
}

X509 *
p2p_selfsigned_make(EVP_PKEY *key, const char *overlay, const char *user,
    size_t n, enum p2p_digest d, unsigned days, p2p_err *err)
{
	p2p_id ids[P2P_CERT_MAX_IDS];
	char cn[P2P_ID_HEXLEN + 1];
	p2p_issue p = { overlay, user, ids, n, 0, 0 };
	time_t now = time(NULL);
	uint8_t *spki;
	size_t spki_len;
	X509 *x;

	if (p2p_key_check(key, err) != 0)
		return NULL;
	if (days == 0)
		return fail_null(err, "validity must be at least one day");
	if (p2p_key_spki(key, &spki, &spki_len, err) != 0)
		return NULL;
	if (p2p_selfsigned_ids(spki, spki_len, d, n, ids, err) != 0) {
		free(spki);
		return NULL;
	}
	free(spki);
	if (issue_args_ok(&p, err) != 0)
		return NULL;
	if ((x = X509_new()) == NULL)
		return fail_null(err, "out of memory");
	if (!X509_set_version(x, 2) || !set_random_serial(x) ||
	    !set_cn(X509_get_subject_name(x), p2p_id_hex(&ids[0], cn)) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !set_validity(x, now - 60, now + (time_t)days * 86400) ||
	    !X509_set_pubkey(x, key) || !add_basic_constraints(x, 0))
		goto bad;
	if (add_san(x, overlay, user, ids, n, 0, err) != 0) {
		X509_free(x);
		return NULL;
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto bad;
	return x;
bad:
	X509_free(x);
	return fail_null(err, "cannot build the self-signed certificate");
}

int
p2p_selfsigned_check(X509 *cert, enum p2p_digest d, p2p_err *err)
{
	p2p_id want[P2P_CERT_MAX_IDS];
	p2p_cert_info ci;
	uint8_t *spki;
	size_t spki_len;
	int rc;

	if (p2p_cert_info_get(cert, &ci, err) != 0)
		return -1;
	if (!ci.self_signed)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "certificate is not validly self-signed");
	if (ci.nids == 0)
		return fail(err, P2P_ERR_FORBIDDEN,
		    "self-signed certificate carries no Node-ID");
	if (p2p_key_spki(X509_get0_pubkey(cert), &spki, &spki_len, err) != 0)
		return -1;
	rc = p2p_selfsigned_ids(spki, spki_len, d, ci.nids, want, err);
	free(spki);
	if (rc != 0)
		return -1;
	/* info_get refused duplicates, so matching each is a bijection. */
	for (size_t i = 0; i < ci.nids; i++) {
		size_t j;
		for (j = 0; j < ci.nids; j++)
			if (p2p_id_eq(&ci.ids[i], &want[j]))
				break;
		if (j == ci.nids)
			return fail(err, P2P_ERR_FORBIDDEN,
			    "self-signed Node-ID does not match its key");
	}
	return 0;
}

/* ---- verifying peer certificates ---- */

struct p2p_trust {
	X509_STORE *store;
	int nroots;
	X509_CRL *crl;
	char (*serials)[2 * 20 + 2];
	size_t nserials;
	p2p_id *bad;
	size_t nbad;
	int self_signed;
	enum p2p_digest digest;
	time_t when;
	/* Parsed and chain-checked certificates (certcache.h). gen changes
	 * with anything that can change a chain check's outcome. */
	p2p_certcache *cache;
	uint64_t gen;
};

/* A chain check that passed stands at most this long, so that a CRL
 * reaching its nextUpdate is seen within that time. */
#define TRUST_CACHE_SECS 300

p2p_trust *
p2p_trust_new(void)
{
	p2p_trust *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	if ((t->store = X509_STORE_new()) == NULL ||
	    (t->cache = p2p_certcache_new()) == NULL) {
		X509_STORE_free(t->store);
		free(t);
		return NULL;
	}
	t->gen = 1;
	return t;
}

void
p2p_trust_free(p2p_trust *t)
{
	if (t == NULL)
		return;
	X509_STORE_free(t->store);
	p2p_certcache_free(t->cache);
	X509_CRL_free(t->crl);
	free(t->serials);
	free(t->bad);
	free(t);
}

int
p2p_trust_add_root(p2p_trust *t, X509 *root, p2p_err *err)
{
	if (X509_check_ca(root) == 0)
		return fail(err, 0, "root certificate is not a CA");
	if (X509_STORE_add_cert(t->store, root) != 1)
		return fail(err, 0, "cannot add the root certificate");
	t->nroots++;
	t->gen++;
	return 0;
}

int
p2p_trust_add_root_der(p2p_trust *t, const uint8_t *der, size_t len,
    p2p_err *err)
{
	X509 *c = p2p_cert_from_der(der, len, err);
	int rc;

	if (c == NULL)
		return -1;
	rc = p2p_trust_add_root(t, c, err);
	X509_free(c);
	return rc;
}

int
p2p_trust_set_crl(p2p_trust *t, X509_CRL *crl, p2p_err *err)
{
	if (!X509_CRL_up_ref(crl))
		return fail(err, 0, "cannot keep the CRL");
	X509_CRL_free(t->crl);
	t->crl = crl;
	t->gen++;
	return 0;
}

int
p2p_trust_revoke_serial(p2p_trust *t, const char *hex, p2p_err *err)
{
	ASN1_INTEGER *ai = serial_from_hex(hex);
	BIGNUM *bn = ai != NULL ? ASN1_INTEGER_to_BN(ai, NULL) : NULL;
	char *h = bn != NULL ? BN_bn2hex(bn) : NULL;
	void *n = NULL;

	if (h != NULL && strlen(h) < sizeof(t->serials[0]))
		n = realloc(t->serials, (t->nserials + 1) *
		    sizeof(t->serials[0]));
	if (n != NULL) {
		t->serials = n;
		strcpy(t->serials[t->nserials++], h);
		t->gen++;
	}
	OPENSSL_free(h);
	BN_free(bn);
	ASN1_INTEGER_free(ai);
	return n != NULL ? 0 : fail(err, 0, "serial must be 1..40 hex digits");
}

int
p2p_trust_add_bad_node(p2p_trust *t, const p2p_id *id, p2p_err *err)
{
	p2p_id *n = realloc(t->bad, (t->nbad + 1) * sizeof(*n));

	if (n == NULL)
		return fail(err, 0, "out of memory");
	t->bad = n;
	t->bad[t->nbad++] = *id;
	t->gen++;
	return 0;
}

void
p2p_trust_allow_self_signed(p2p_trust *t, enum p2p_digest d)
{
	t->self_signed = 1;
	t->digest = d;
	t->gen++;
}

void
p2p_trust_set_time(p2p_trust *t, time_t when)
{
	t->when = when;
	t->gen++;
}

X509 *
p2p_trust_cert(const p2p_trust *t, const uint8_t *der, size_t len,
    p2p_cert_info *ci, p2p_err *err)
{
	return p2p_certcache_parse(t->cache, der, len, ci, err);
}

void
p2p_trust_cache_stats(const p2p_trust *t, uint64_t *hits, uint64_t *misses)
{
	p2p_certcache_stats(t->cache, hits, misses);
}

int
p2p_trust_sig_key(const p2p_trust *t, const uint8_t *der, size_t derlen,
    uint8_t hash_alg, uint8_t sig_alg, const uint8_t *sig, size_t siglen,
    const void *data, size_t len, uint8_t key[32])
{
	return p2p_certcache_sig_key(t->cache, der, derlen, hash_alg, sig_alg,
	    sig, siglen, data, len, key);
}

int
p2p_trust_sig_ok(const p2p_trust *t, const uint8_t key[32])
{
	return p2p_certcache_sig_ok(t->cache, key);
}

void
p2p_trust_sig_passed(const p2p_trust *t, const uint8_t key[32])
{
	p2p_certcache_sig_passed(t->cache, key);
}

void
p2p_trust_sig_stats(const p2p_trust *t, uint64_t *hits, uint64_t *misses)
{
	p2p_certcache_sig_stats(t->cache, hits, misses);
}

static enum p2p_verify_result
vfail(p2p_err *err, enum p2p_verify_result r, const char *what)
{
	(void)fail(err, P2P_ERR_FORBIDDEN, what);
	return r;
}

static enum p2p_verify_result
map_x509_error(int e, p2p_err *err)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return vfail(err, P2P_VERIFY_EXPIRED, "certificate expired");
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return vfail(err, P2P_VERIFY_NOT_YET_VALID,
		    "certificate not yet valid");
	case X509_V_ERR_CERT_REVOKED:
		return vfail(err, P2P_VERIFY_REVOKED,
		    "certificate revoked by the CRL");
	case X509_V_ERR_OUT_OF_MEM:
		return vfail(err, P2P_VERIFY_INTERNAL, "out of memory");
	default:
		/* A static string from OpenSSL: what went wrong in the chain. */
		return vfail(err, P2P_VERIFY_UNTRUSTED,
		    X509_verify_cert_error_string(e));
	}
}

static enum p2p_verify_result
verify_chain(const p2p_trust *t, X509 *cert, STACK_OF(X509) *chain,
    p2p_err *err)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509_CRL) *crls = NULL;
	enum p2p_verify_result r = P2P_VERIFY_OK;
	int ok;

	if (ctx == NULL || !X509_STORE_CTX_init(ctx, t->store, cert, chain)) {
		X509_STORE_CTX_free(ctx);
		return vfail(err, P2P_VERIFY_INTERNAL, "out of memory");
	}
	if (t->when != 0)
		X509_STORE_CTX_set_time(ctx, 0, t->when);
	if (t->crl != NULL) {
		if ((crls = sk_X509_CRL_new_null()) == NULL ||
		    !sk_X509_CRL_push(crls, t->crl)) {
			sk_X509_CRL_free(crls);
			X509_STORE_CTX_free(ctx);
			return vfail(err, P2P_VERIFY_INTERNAL, "out of memory");
		}
		X509_STORE_CTX_set0_crls(ctx, crls);
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK);
	}
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		r = map_x509_error(X509_STORE_CTX_get_error(ctx), err);
	X509_STORE_CTX_free(ctx);
	sk_X509_CRL_free(crls);
	return r;
}

static enum p2p_verify_result
check_time(const p2p_trust *t, const p2p_cert_info *ci, p2p_err *err)
{
	time_t now = t->when != 0 ? t->when : time(NULL);

	if (now < ci->not_before)
		return vfail(err, P2P_VERIFY_NOT_YET_VALID,
		    "certificate not yet valid");
	if (now > ci->not_after)
		return vfail(err, P2P_VERIFY_EXPIRED, "certificate expired");
	return P2P_VERIFY_OK;
}

/*
 * verify_chain through the cache: a certificate without intermediates
 * whose chain passed against this very trust is not checked again (its
 * validity period is, the caller checks revocation lists itself).
 */
static enum p2p_verify_result
verify_chain_cached(const p2p_trust *t, X509 *cert, STACK_OF(X509) *chain,
    const p2p_cert_info *ci, p2p_err *err)
{
	time_t now = t->when != 0 ? t->when : time(NULL), until;
	enum p2p_verify_result r;
	uint8_t hash[32];

	if (chain != NULL || p2p_certcache_hash(t->cache, cert, hash) != 0)
		return verify_chain(t, cert, chain, err);
	if (p2p_certcache_chain_ok(t->cache, hash, t->gen, now))
		return check_time(t, ci, err);
	if ((r = verify_chain(t, cert, chain, err)) != P2P_VERIFY_OK)
		return r;
	until = now + TRUST_CACHE_SECS;
	if (until > ci->not_after)
		until = ci->not_after;
	p2p_certcache_chain_passed(t->cache, hash, cert, t->gen, until);
	return P2P_VERIFY_OK;
}

static enum p2p_verify_result
check_revocation(const p2p_trust *t, const p2p_cert_info *ci, p2p_err *err)
{
	for (size_t i = 0; i < t->nserials; i++)
		if (strcmp(t->serials[i], ci->serial) == 0)
			return vfail(err, P2P_VERIFY_REVOKED,
			    "certificate serial is revoked");
	for (size_t i = 0; i < t->nbad; i++)
		if (p2p_cert_has_node(ci, &t->bad[i]))
			return vfail(err, P2P_VERIFY_BAD_NODE,
			    "certificate carries a bad-node Node-ID");
	return P2P_VERIFY_OK;
}

enum p2p_verify_result
p2p_cert_verify(const p2p_trust *t, X509 *cert, STACK_OF(X509) *chain,
    const p2p_id *claimed, p2p_err *err)
{
	enum p2p_verify_result r;
	p2p_cert_info ci;

	if (p2p_cert_info_get(cert, &ci, err) != 0)
		return P2P_VERIFY_MALFORMED;
	if (ci.self_signed && t->self_signed) {
		if ((r = check_time(t, &ci, err)) != P2P_VERIFY_OK)
			return r;
		if (p2p_selfsigned_check(cert, t->digest, err) != 0)
			return P2P_VERIFY_SELF_SIGNED_MISMATCH;
	} else if ((r = verify_chain_cached(t, cert, chain, &ci, err)) !=
	    P2P_VERIFY_OK)
		return r;
	if ((r = check_revocation(t, &ci, err)) != P2P_VERIFY_OK)
		return r;
	if (ci.nids == 0)
		return vfail(err, P2P_VERIFY_NO_NODE_ID,
		    "certificate carries no Node-ID");
	if (claimed != NULL && !p2p_cert_has_node(&ci, claimed))
		return vfail(err, P2P_VERIFY_WRONG_NODE,
		    "certificate does not carry the claimed Node-ID");
	return P2P_VERIFY_OK;
}

const char *
p2p_verify_result_name(enum p2p_verify_result r)
{
	static const char *const names[] = {
		[P2P_VERIFY_OK] = "ok",
		[P2P_VERIFY_MALFORMED] = "malformed",
		[P2P_VERIFY_UNTRUSTED] = "untrusted",
		[P2P_VERIFY_EXPIRED] = "expired",
		[P2P_VERIFY_NOT_YET_VALID] = "not-yet-valid",
		[P2P_VERIFY_REVOKED] = "revoked",
		[P2P_VERIFY_BAD_NODE] = "bad-node",
		[P2P_VERIFY_WRONG_NODE] = "wrong-node-id",
		[P2P_VERIFY_SELF_SIGNED_MISMATCH] = "self-signed-mismatch",
		[P2P_VERIFY_NO_NODE_ID] = "no-node-id",
		[P2P_VERIFY_INTERNAL] = "internal",
	};

	if ((size_t)r >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[r];
}

/* ---- Node-IDs and signer identities ---- */

int
p2p_id_random(p2p_id *out)
{
	for (int tries = 0; tries < 16; tries++) {
		if (RAND_bytes(out->b, P2P_ID_LEN) != 1) {
			ERR_clear_error();
			return -1;
		}
		if (!p2p_id_is_zero(out) && !p2p_id_is_wildcard(out))
			return 0;
	}
	return -1;
}

static int
sha256_2(uint8_t out[32], const void *a, size_t alen, const void *b,
    size_t blen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    (alen == 0 || EVP_DigestUpdate(ctx, a, alen)) &&
	    EVP_DigestUpdate(ctx, b, blen) &&
	    EVP_DigestFinal_ex(ctx, out, &n) && n == 32;

	EVP_MD_CTX_free(ctx);
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}

int
p2p_signer_cert_hash(p2p_signer *s, uint8_t hash[32], const uint8_t *der,
    size_t len)
{
	memset(s, 0, sizeof(*s));
	if (sha256_2(hash, NULL, 0, der, len) != 0)
		return -1;
	s->type = P2P_SIGNER_CERT_HASH;
	s->hash_alg = P2P_HASH_SHA256;
	s->hash.p = hash;
	s->hash.len = 32;
	return 0;
}

int
p2p_signer_cert_hash_node_id(p2p_signer *s, uint8_t hash[32],
    const p2p_id *node, const uint8_t *der, size_t len)
{
	memset(s, 0, sizeof(*s));
	if (sha256_2(hash, node->b, P2P_ID_LEN, der, len) != 0)
		return -1;
	s->type = P2P_SIGNER_CERT_HASH_NODE_ID;
	s->hash_alg = P2P_HASH_SHA256;
	s->hash.p = hash;
	s->hash.len = 32;
	return 0;
}

static int
hash_eq(const p2p_signer *s, const uint8_t h[32])
{
	return s->hash.len == 32 && CRYPTO_memcmp(s->hash.p, h, 32) == 0;
}

int
p2p_signer_match(const p2p_signer *s, const uint8_t *der, size_t len,
    const p2p_cert_info *ci, p2p_id *node, int *has_node)
{
	uint8_t h[32];

	*has_node = 0;
	if (s->hash_alg != P2P_HASH_SHA256)
		return 0;
	if (s->type == P2P_SIGNER_CERT_HASH) {
		if (sha256_2(h, NULL, 0, der, len) != 0 || !hash_eq(s, h))
			return 0;
		if (ci->nids == 1) {
			*node = ci->ids[0];
			*has_node = 1;
		}
		return 1;
	}
	if (s->type != P2P_SIGNER_CERT_HASH_NODE_ID)
		return 0;
	for (size_t i = 0; i < ci->nids; i++) {
		if (sha256_2(h, ci->ids[i].b, P2P_ID_LEN, der, len) != 0)
			return 0;
		if (hash_eq(s, h)) {
			*node = ci->ids[i];
			*has_node = 1;
			return 1;
		}
	}
	return 0;
}
