/*
 * Unit tests for the certificate authority (ca.c) and the enrollment
 * request handler (enroll.c): account store, quotas, Node-ID assignment,
 * revocation, and the answers to enrollment requests.
 */
#include <ftw.h>
#include <unistd.h>

#include "unit.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca.h"
#include "config.h"
#include "enroll.h"
#include "ident.h"

#define OVERLAY "unit.test"

struct fx {
	char dir[64];
	char ca[96];
};

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	p2p_ca_init_opts o;
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/p2p-test-ca.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ca, sizeof(f->ca), "%s/ca", f->dir);
	memset(&o, 0, sizeof(o));
	o.dir = f->ca;
	o.overlay = OVERLAY;
	o.enroll_url = "https://127.0.0.1:1/enroll";
	o.max_ids_per_user = 3;
	if (p2p_ca_init(&o, err, sizeof(err)) != 0)
		fail_msg("init: %s", err);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
ca_open(p2p_ca *ca, const struct fx *f, int excl)
{
	char err[256];

	if (p2p_ca_open(ca, f->ca, excl, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
}

static void
add_user(const struct fx *f, const char *name, const char *pw,
    unsigned quota)
{
	char err[256];
	p2p_ca ca;

	ca_open(&ca, f, 1);
	if (p2p_ca_user_add(&ca, name, pw, quota, 0, err, sizeof(err)) != 0)
		fail_msg("user add: %s", err);
	assert_int_equal(p2p_ca_commit(&ca, err, sizeof(err)), 0);
	p2p_ca_close(&ca);
}

static X509_REQ *
make_csr(enum p2p_key_type kt, EVP_PKEY **keyp)
{
	p2p_err e;
	EVP_PKEY *k = p2p_key_generate(kt, &e);
	X509_REQ *r;

	assert_non_null(k);
	r = p2p_csr_make(k, &e);
	assert_non_null(r);
	if (keyp != NULL)
		*keyp = k;
	else
		EVP_PKEY_free(k);
	return r;
}

/* Issue for user and return the certificate's contents. */
static enum p2p_ca_refusal
issue(const struct fx *f, const char *user, unsigned n, p2p_cert_info *ci,
    X509 **out)
{
	X509_REQ *csr = make_csr(P2P_KEY_EC_P256, NULL);
	enum p2p_ca_refusal r;
	char why[256], err[256];
	p2p_ca ca;
	p2p_err e;
	X509 *x;

	ca_open(&ca, f, 1);
	r = p2p_ca_issue(&ca, user, csr, n, &x, why, sizeof(why));
	X509_REQ_free(csr);
	if (r == P2P_CA_ISSUED) {
		assert_int_equal(p2p_ca_commit(&ca, err, sizeof(err)), 0);
		assert_int_equal(p2p_cert_info_get(x, ci, &e), 0);
		if (out != NULL)
			*out = x;
		else
			X509_free(x);
	} else
		assert_null(x);
	p2p_ca_close(&ca);
	return r;
}

static void
test_account_hash(void **state)
{
	struct fx *f = *state;
	char path[160], err[256];
	uint8_t *p;
	size_t n;
	p2p_ca ca;
	json_t *l;

	add_user(f, "alice", "open sesame", 0);
	add_user(f, "bob", "open sesame", 2);
	ca_open(&ca, f, 0);
	assert_true(p2p_ca_user_check(&ca, "alice", "open sesame", 11));
	assert_false(p2p_ca_user_check(&ca, "alice", "open sesamE", 11));
	assert_false(p2p_ca_user_check(&ca, "alice", "open sesame", 10));
	assert_false(p2p_ca_user_check(&ca, "alice", "", 0));
	assert_false(p2p_ca_user_check(&ca, "carol", "open sesame", 11));
	assert_true(p2p_ca_user_check(&ca, "bob", "open sesame", 11));
	/* Salted: the same password hashes differently. */
	assert_string_not_equal(json_string_value(json_object_get(
	    json_object_get(ca.users, "alice"), "hash")),
	    json_string_value(json_object_get(json_object_get(ca.users, "bob"),
	    "hash")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    ca.users, "alice"), "iter")), P2P_CA_PBKDF2_ITER);
	l = p2p_ca_user_list(&ca);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	p2p_ca_close(&ca);
	/* The file holds no password and is private. */
	snprintf(path, sizeof(path), "%s/users.json", f->ca);
	assert_int_equal(p2p_file_read(path, 1 << 20, &p, &n), 0);
	assert_null(strstr((char *)p, "sesame"));
	free(p);
	assert_int_equal(access(path, R_OK), 0);
	/* Existing users are not replaced unless asked; bad names refused. */
	ca_open(&ca, f, 1);
	assert_int_equal(p2p_ca_user_add(&ca, "alice", "x", 0, 0, err,
	    sizeof(err)), -1);
	assert_int_equal(p2p_ca_user_add(&ca, "alice", "new", 0, 1, err,
	    sizeof(err)), 0);
	assert_true(p2p_ca_user_check(&ca, "alice", "new", 3));
	assert_false(p2p_ca_user_check(&ca, "alice", "open sesame", 11));
	assert_int_equal(p2p_ca_user_add(&ca, "a b", "x", 0, 0, err,
	    sizeof(err)), -1);
	assert_int_equal(p2p_ca_user_add(&ca, "c", "", 0, 0, err,
	    sizeof(err)), -1);
	assert_int_equal(p2p_ca_user_del(&ca, "bob", err, sizeof(err)), 0);
	assert_int_equal(p2p_ca_user_del(&ca, "bob", err, sizeof(err)), -1);
	assert_false(p2p_ca_user_check(&ca, "bob", "open sesame", 11));
	p2p_ca_close(&ca);
}

static void
test_quota_and_ids(void **state)
{
	struct fx *f = *state;
	p2p_cert_info a, a2, a1, b;
	X509_REQ *csr;
	char why[256];
	p2p_ca ca;
	X509 *x;

	add_user(f, "alice", "pw", 2);
	add_user(f, "bob", "pw", 0);	/* overlay default: 3 */
	assert_int_equal(issue(f, "alice", 3, &a, NULL), P2P_CA_NODE_IDS_NA);
	assert_int_equal(issue(f, "alice", 0, &a, NULL), P2P_CA_NODE_IDS_NA);
	assert_int_equal(issue(f, "bob", 4, &b, NULL), P2P_CA_NODE_IDS_NA);
	assert_int_equal(issue(f, "alice", 2, &a, NULL), P2P_CA_ISSUED);
	assert_int_equal(a.nids, 2);
	assert_string_equal(a.user, "alice");
	assert_string_equal(a.overlay, OVERLAY);
	assert_false(p2p_id_eq(&a.ids[0], &a.ids[1]));
	/* Same user, same Node-IDs, in the same order. */
	assert_int_equal(issue(f, "alice", 2, &a2, NULL), P2P_CA_ISSUED);
	assert_true(p2p_id_eq(&a.ids[0], &a2.ids[0]));
	assert_true(p2p_id_eq(&a.ids[1], &a2.ids[1]));
	assert_string_not_equal(a.serial, a2.serial);
	assert_int_equal(issue(f, "alice", 1, &a1, NULL), P2P_CA_ISSUED);
	assert_true(p2p_id_eq(&a.ids[0], &a1.ids[0]));
	/* Another user: other Node-IDs. */
	assert_int_equal(issue(f, "bob", 3, &b, NULL), P2P_CA_ISSUED);
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < 2; j++)
			assert_false(p2p_id_eq(&b.ids[i], &a.ids[j]));
	assert_int_equal(issue(f, "nobody", 1, &b, NULL), P2P_CA_FAILED_AUTH);
	/* A weak key is a bad CSR. */
	ca_open(&ca, f, 1);
	{
		/* Built by hand: p2p_csr_make itself refuses weak keys. */
		EVP_PKEY *k = EVP_RSA_gen(1024);
		assert_non_null(k);
		csr = X509_REQ_new();
		assert_non_null(csr);
		assert_int_equal(X509_REQ_set_pubkey(csr, k), 1);
		assert_true(X509_REQ_sign(csr, k, EVP_sha256()) > 0);
		EVP_PKEY_free(k);
	}
	assert_non_null(csr);
	assert_int_equal(p2p_ca_issue(&ca, "alice", csr, 1, &x, why,
	    sizeof(why)), P2P_CA_BAD_CSR);
	assert_null(x);
	assert_non_null(strstr(why, "weak"));
	X509_REQ_free(csr);
	/* Four certificates recorded, none revoked. */
	{
		json_t *l = p2p_ca_list(&ca);
		assert_int_equal(json_array_size(l), 4);
		assert_true(json_is_false(json_object_get(json_array_get(l, 0),
		    "revoked")));
		json_decref(l);
	}
	p2p_ca_close(&ca);
}

static void
load_config(const struct fx *f, p2p_config *c, p2p_trust *t)
{
	char path[160];
	uint8_t *doc;
	size_t n;
	p2p_err e;

	snprintf(path, sizeof(path), "%s/overlay.xml", f->ca);
	assert_int_equal(p2p_file_read(path, P2P_CONFIG_MAX_SIZE, &doc, &n), 0);
	if (p2p_config_parse((char *)doc, n, OVERLAY, c, &e) != 0)
		fail_msg("parse: %s", e.what);
	assert_int_equal(c->nroot_certs, 1);
	assert_int_equal(p2p_trust_add_root_der(t, c->root_certs[0].p,
	    c->root_certs[0].len, &e), 0);
	/* Signed by the listed configuration signer, under the root. */
	if (p2p_config_verify((char *)doc, n, t, c->config_signers,
	    c->nconfig_signers, NULL, &e) != 0)
		fail_msg("verify: %s", e.what);
	free(doc);
}

static void
test_revoke(void **state)
{
	struct fx *f = *state;
	char path[160], err[256];
	p2p_cert_info a;
	p2p_config c;
	p2p_trust *t = p2p_trust_new(), *t2 = p2p_trust_new();
	X509_CRL *crl;
	uint8_t *der;
	const unsigned char *q;
	size_t n, cnt;
	p2p_ca ca;
	p2p_err e;
	X509 *x;

	assert_non_null(t);
	assert_non_null(t2);
	add_user(f, "alice", "pw", 0);
	assert_int_equal(issue(f, "alice", 1, &a, &x), P2P_CA_ISSUED);
	load_config(f, &c, t);
	assert_int_equal(c.sequence, 1);
	assert_int_equal(c.nbad_nodes, 0);
	assert_int_equal(c.no_ice, 1);
	assert_true(c.clients_permitted);
	assert_string_equal(c.crl_url, "https://127.0.0.1:1/crl");
	assert_int_equal(c.nconfig_signers, 1);
	assert_non_null(p2p_kind_by_id(P2P_KIND_SIP_REGISTRATION));
	assert_true(c.nkinds >= 1);
	assert_int_equal(c.kinds[0].id, P2P_KIND_SIP_REGISTRATION);
	p2p_config_free(&c);
	assert_int_equal(p2p_cert_verify(t, x, NULL, &a.ids[0], &e),
	    P2P_VERIFY_OK);

	ca_open(&ca, f, 1);
	assert_int_equal(p2p_ca_revoke(&ca, "0123", &cnt, err, sizeof(err)),
	    -1);
	assert_int_equal(p2p_ca_revoke(&ca, a.serial, &cnt, err, sizeof(err)),
	    0);
	assert_int_equal(cnt, 1);
	assert_int_equal(p2p_ca_commit(&ca, err, sizeof(err)), 0);
	assert_int_equal(p2p_ca_revoke(&ca, a.serial, &cnt, err, sizeof(err)),
	    0);
	assert_int_equal(cnt, 0);
	p2p_ca_close(&ca);

	/* The CRL names the serial: the libcore check refuses the cert. */
	snprintf(path, sizeof(path), "%s/crl.der", f->ca);
	assert_int_equal(p2p_file_read(path, 1 << 20, &der, &n), 0);
	q = der;
	crl = d2i_X509_CRL(NULL, &q, (long)n);
	free(der);
	assert_non_null(crl);
	assert_int_equal(p2p_trust_set_crl(t, crl, &e), 0);
	X509_CRL_free(crl);
	assert_int_equal(p2p_cert_verify(t, x, NULL, NULL, &e),
	    P2P_VERIFY_REVOKED);
	/* The new configuration lists the Node-ID as a bad node. */
	load_config(f, &c, t2);
	assert_int_equal(c.sequence, 2);
	assert_int_equal(c.nbad_nodes, 1);
	assert_true(p2p_id_eq(&c.bad_nodes[0], &a.ids[0]));
	p2p_config_free(&c);
	/* Re-enrolling gets a fresh Node-ID. */
	{
		p2p_cert_info a2;
		assert_int_equal(issue(f, "alice", 1, &a2, NULL),
		    P2P_CA_ISSUED);
		assert_false(p2p_id_eq(&a2.ids[0], &a.ids[0]));
	}
	X509_free(x);
	p2p_trust_free(t);
	p2p_trust_free(t2);
}

/* ---- the request handler ---- */

#define BOUNDARY "XyZzY42"

struct form {
	p2p_wbuf w;
};

static void
form_field(struct form *fm, const char *name, const char *ctype,
    const void *data, size_t len)
{
	char hdr[256];

	snprintf(hdr, sizeof(hdr), "--" BOUNDARY "\r\nContent-Disposition: "
	    "form-data; name=\"%s\"%s\r\n%s%s%s\r\n", name,
	    ctype != NULL ? "; filename=\"f\"" : "", ctype != NULL ?
	    "Content-Type: " : "", ctype != NULL ? ctype : "",
	    ctype != NULL ? "\r\n" : "");
	p2p_w_raw(&fm->w, hdr, strlen(hdr));
	p2p_w_raw(&fm->w, data, len);
	p2p_w_raw(&fm->w, "\r\n", 2);
}

static void
form_end(struct form *fm)
{
	p2p_w_raw(&fm->w, "--" BOUNDARY "--\r\n", strlen(BOUNDARY) + 6);
	assert_true(p2p_w_ok(&fm->w));
}

static const p2p_http_header form_hdr[] = {
	{ "Content-Type", "multipart/form-data; boundary=" BOUNDARY },
	{ "Accept", "application/pkix-cert" },
};

static void
run_req(const struct fx *f, p2p_ratelimit *rl, const char *method,
    const char *path, const struct form *fm, p2p_enroll_answer *a)
{
	p2p_http_req req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.query = "";
	req.peer = "127.0.0.1:5555";
	req.peer_ip = "127.0.0.1";
	if (fm != NULL) {
		req.headers = form_hdr;
		req.nheaders = 2;
		req.body = fm->w.p;
		req.body_len = fm->w.len;
	} else
		req.body = (const uint8_t *)"";
	p2p_enroll_handle(f->ca, rl, 1000, &req, a);
}

/* An enrollment form with a fresh CSR (der may be given instead). */
static void
enroll_form(struct form *fm, const char *user, const char *pw,
    const char *count, const uint8_t *der, size_t len)
{
	X509_REQ *csr = NULL;
	uint8_t *own = NULL;
	p2p_err e;

	p2p_w_init(&fm->w, 0);
	if (der == NULL) {
		csr = make_csr(P2P_KEY_EC_P256, NULL);
		assert_int_equal(p2p_csr_to_der(csr, &own, &len, &e), 0);
		der = own;
	}
	form_field(fm, "username", NULL, user, strlen(user));
	form_field(fm, "password", NULL, pw, strlen(pw));
	if (count != NULL)
		form_field(fm, "nodeids", NULL, count, strlen(count));
	form_field(fm, "csr", "application/pkcs10", der, len);
	form_end(fm);
	free(own);
	X509_REQ_free(csr);
}

static void
expect_token(p2p_enroll_answer *a, const char *tok)
{
	assert_int_equal(a->status, 403);
	assert_string_equal(a->ctype, "text/plain");
	assert_int_equal(a->len, strlen(tok) + 1);
	assert_memory_equal(a->body, tok, strlen(tok));
	assert_non_null(strstr(a->log, tok));
	p2p_enroll_answer_free(a);
}

static void
test_handler(void **state)
{
	struct fx *f = *state;
	p2p_enroll_answer a;
	struct form fm;
	p2p_cert_info ci;
	p2p_err e;
	X509 *x;

	add_user(f, "alice", "pw", 2);
	/* The configuration at the well-known URI. */
	run_req(f, NULL, "GET", "/.well-known/reload-config", NULL, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.ctype, "application/p2p-overlay+xml");
	assert_non_null(memmem(a.body, a.len, "instance-name=\"" OVERLAY "\"",
	    15 + strlen(OVERLAY) + 1));
	p2p_enroll_answer_free(&a);
	run_req(f, NULL, "GET", "/crl", NULL, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.ctype, "application/pkix-crl");
	p2p_enroll_answer_free(&a);
	run_req(f, NULL, "GET", "/nothing", NULL, &a);
	assert_int_equal(a.status, 404);
	p2p_enroll_answer_free(&a);
	run_req(f, NULL, "PUT", "/.well-known/reload-config", NULL, &a);
	assert_int_equal(a.status, 405);
	p2p_enroll_answer_free(&a);

	/* A good enrollment. */
	enroll_form(&fm, "alice", "pw", "2", NULL, 0);
	run_req(f, NULL, "POST", "/enroll", &fm, &a);
	p2p_w_free(&fm.w);
	assert_int_equal(a.status, 200);
	assert_string_equal(a.ctype, "application/pkix-cert");
	x = p2p_cert_from_der(a.body, a.len, &e);
	assert_non_null(x);
	assert_int_equal(p2p_cert_info_get(x, &ci, &e), 0);
	assert_int_equal(ci.nids, 2);
	assert_string_equal(ci.user, "alice");
	assert_non_null(strstr(a.log, "issued serial"));
	X509_free(x);
	p2p_enroll_answer_free(&a);

	/* Refusals. */
	enroll_form(&fm, "alice", "wrong", NULL, NULL, 0);
	run_req(f, NULL, "POST", "/enroll", &fm, &a);
	p2p_w_free(&fm.w);
	expect_token(&a, "failed_authentication");
	enroll_form(&fm, "mallory", "pw", NULL, NULL, 0);
	run_req(f, NULL, "POST", "/enroll", &fm, &a);
	p2p_w_free(&fm.w);
	expect_token(&a, "failed_authentication");
	enroll_form(&fm, "alice", "pw", "3", NULL, 0);
	run_req(f, NULL, "POST", "/enroll", &fm, &a);
	p2p_w_free(&fm.w);
	expect_token(&a, "Node-IDs_not_available");
	enroll_form(&fm, "alice", "pw", "two", NULL, 0);
	run_req(f, NULL, "POST", "/enroll", &fm, &a);
	p2p_w_free(&fm.w);
	expect_token(&a, "Node-IDs_not_available");
	enroll_form(&fm, "alice", "pw", NULL, (const uint8_t *)"\x30\x03junk",
	    7);
	run_req(f, NULL, "POST", "/enroll", &fm, &a);
	p2p_w_free(&fm.w);
	expect_token(&a, "bad_CSR");
	/* Asking for a Node-ID of one's own. */
	enroll_form(&fm, "alice", "pw", NULL, NULL, 0);
	fm.w.len -= strlen(BOUNDARY) + 6;
	form_field(&fm, "nodeid", NULL, "00112233445566778899aabbccddeeff", 32);
	form_end(&fm);
	run_req(f, NULL, "POST", "/enroll", &fm, &a);
	p2p_w_free(&fm.w);
	expect_token(&a, "Node-IDs_not_available");
	/* Not a form at all. */
	run_req(f, NULL, "POST", "/enroll", NULL, &a);
	assert_int_equal(a.status, 400);
	p2p_enroll_answer_free(&a);

	/* Still exactly one certificate issued. */
	{
		p2p_ca ca;
		json_t *l;
		ca_open(&ca, f, 0);
		l = p2p_ca_list(&ca);
		assert_int_equal(json_array_size(l), 1);
		json_decref(l);
		p2p_ca_close(&ca);
	}
}

static void
test_handler_ratelimit(void **state)
{
	struct fx *f = *state;
	p2p_ratelimit *rl = p2p_ratelimit_new(0.001, 2, 16);
	p2p_enroll_answer a;
	int got429 = 0;

	assert_non_null(rl);
	for (int i = 0; i < 4; i++) {
		run_req(f, rl, "POST", "/enroll", NULL, &a);
		if (i < 2)
			assert_int_equal(a.status, 400);
		else {
			assert_int_equal(a.status, 429);
			assert_non_null(strstr(a.log, "429"));
			got429++;
		}
		p2p_enroll_answer_free(&a);
	}
	assert_int_equal(got429, 2);
	/* GETs are not limited. */
	run_req(f, rl, "GET", "/.well-known/reload-config", NULL, &a);
	assert_int_equal(a.status, 200);
	p2p_enroll_answer_free(&a);
	p2p_ratelimit_free(rl);
}

static void
test_helpers(void **state)
{
	uint8_t fp[32];
	char ip[64];
	int port;

	(void)state;
	assert_int_equal(p2p_addr_split("127.0.0.1:443", ip, sizeof(ip),
	    &port), 0);
	assert_string_equal(ip, "127.0.0.1");
	assert_int_equal(port, 443);
	assert_int_equal(p2p_addr_split("[::1]:0", ip, sizeof(ip), &port), 0);
	assert_string_equal(ip, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(p2p_addr_split("::1:80", ip, sizeof(ip), &port), -1);
	assert_int_equal(p2p_addr_split("host:80", ip, sizeof(ip), &port), -1);
	assert_int_equal(p2p_addr_split("1.2.3.4:65536", ip, sizeof(ip),
	    &port), -1);
	assert_int_equal(p2p_addr_split("1.2.3.4:", ip, sizeof(ip), &port), -1);
	assert_int_equal(p2p_fingerprint_parse("SHA256:"
	    "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF",
	    fp), 0);
	assert_int_equal(fp[31], 0xff);
	assert_int_equal(p2p_fingerprint_parse("00:11:22:33:44:55:66:77:88:99:"
	    "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:"
	    "ff", fp), 0);
	assert_int_equal(p2p_fingerprint_parse("SHA256:0011", fp), -1);
	assert_int_equal(p2p_fingerprint_parse("SHA256:zz112233445566778899"
	    "aabbccddeeff00112233445566778899aabbccddeeff", fp), -1);
	assert_string_equal(p2p_ca_refusal_token(P2P_CA_BAD_CSR), "bad_CSR");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_account_hash, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_quota_and_ids, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_revoke, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_handler, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_handler_ratelimit,
		    fx_setup, fx_teardown),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
