/*
 * Helpers shared by the unit tests of the TLS and DTLS modules: a
 * throwaway PKI made in memory and a loop runner with a watchdog.
 */
#ifndef P2P_TESTKIT_UNIT_H
#define P2P_TESTKIT_UNIT_H

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "tls.h"

/* ---- throwaway PKI, made in memory ---- */

static inline EVP_PKEY *
make_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static inline void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key named cn, signed by issuer (self-signed if NULL). */
static inline X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    int ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *n;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	if (issuer == NULL) {
		issuer = x;
		ikey = key;
	}
	X509_set_issuer_name(x, X509_get_subject_name(issuer));
	add_ext(x, issuer, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (ca)
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign");
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

static struct pki {
	EVP_PKEY *ca_key, *srv_key, *cli_key, *rca_key, *rogue_key;
	X509 *ca, *srv, *cli, *rca, *rogue;
} pki;

static inline int
pki_setup(void **state)
{
	(void)state;
	pki.ca_key = make_key();
	pki.ca = make_cert("test root", pki.ca_key, NULL, NULL, 1);
	pki.srv_key = make_key();
	pki.srv = make_cert("server", pki.srv_key, pki.ca, pki.ca_key, 0);
	pki.cli_key = make_key();
	pki.cli = make_cert("client", pki.cli_key, pki.ca, pki.ca_key, 0);
	pki.rca_key = make_key();
	pki.rca = make_cert("rogue root", pki.rca_key, NULL, NULL, 1);
	pki.rogue_key = make_key();
	pki.rogue = make_cert("client", pki.rogue_key, pki.rca, pki.rca_key,
	    0);
	return 0;
}

static inline int
pki_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(pki.ca_key);
	EVP_PKEY_free(pki.srv_key);
	EVP_PKEY_free(pki.cli_key);
	EVP_PKEY_free(pki.rca_key);
	EVP_PKEY_free(pki.rogue_key);
	X509_free(pki.ca);
	X509_free(pki.srv);
	X509_free(pki.cli);
	X509_free(pki.rca);
	X509_free(pki.rogue);
	return 0;
}

/* A (D)TLS context trusting the test root. */
static inline p2p_tls_ctx *
pki_ctx(enum p2p_tls_role role, X509 *cert, EVP_PKEY *key,
    enum p2p_tls_peer peer, const p2p_tls_limits *lim, int datagram)
{
	p2p_tls_ctx_opts o;
	p2p_tls_ctx *ctx;
	X509 *roots[1] = { pki.ca };
	char err[256];

	memset(&o, 0, sizeof(o));
	o.role = role;
	o.cert = cert;
	o.key = key;
	o.roots = roots;
	o.nroots = 1;
	o.peer = peer;
	o.datagram = datagram;
	if (lim != NULL)
		o.limits = *lim;
	ctx = p2p_tls_ctx_new(&o, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("p2p_tls_ctx_new: %s", err);
	return ctx;
}

/* ---- loop helpers ---- */

static int watchdog_fired;

static inline void
watchdog_cb(uv_timer_t *t)
{
	watchdog_fired = 1;
	uv_stop(t->loop);
}

static inline void
walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Run until every handle is gone; fail if it takes more than 10 s. */
static inline void
run_loop(uv_loop_t *loop)
{
	uv_timer_t wd;

	watchdog_fired = 0;
	uv_timer_init(loop, &wd);
	uv_timer_start(&wd, watchdog_cb, 10000, 0);
	uv_unref((uv_handle_t *)&wd);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&wd, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	if (watchdog_fired) {
		uv_walk(loop, walk_close, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
		fail_msg("the loop did not finish within 10 s");
	}
}

#endif
