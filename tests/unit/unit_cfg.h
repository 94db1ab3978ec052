/* A CA and a configuration signer for the configuration unit tests. */
#ifndef P2P_UNIT_CFG_H
#define P2P_UNIT_CFG_H

#include <time.h>

#include "config.h"
#include "ident.h"
#include "sign.h"

#ifndef OVERLAY
#define OVERLAY "overlay.example.org"
#endif

/* A CA and a configuration signer identity it issued. */
struct signer {
	EVP_PKEY *cak, *key;
	X509 *ca, *cert;
	p2p_identity id;
};

static void
signer_make(struct signer *s, const char *cn)
{
	p2p_id nid;
	p2p_issue p = { OVERLAY, "admin@" OVERLAY, &nid, 1, 0, 0 };
	X509_REQ *csr;
	p2p_err err;

	assert_int_equal(p2p_id_random(&nid), 0);
	p.not_after = time(NULL) + 86400;
	s->cak = p2p_key_generate(P2P_KEY_EC_P256, &err);
	s->key = p2p_key_generate(P2P_KEY_EC_P256, &err);
	assert_non_null(s->cak);
	assert_non_null(s->key);
	s->ca = p2p_ca_create(s->cak, cn, 10, &err);
	assert_non_null(s->ca);
	csr = p2p_csr_make(s->key, &err);
	assert_non_null(csr);
	s->cert = p2p_cert_issue(s->cak, s->ca, csr, &p, &err);
	assert_non_null(s->cert);
	X509_REQ_free(csr);
	assert_int_equal(p2p_identity_init(&s->id, s->key, s->cert, NULL,
	    &err), 0);
}

static void
signer_free(struct signer *s)
{
	p2p_identity_free(&s->id);
	X509_free(s->cert);
	X509_free(s->ca);
	EVP_PKEY_free(s->key);
	EVP_PKEY_free(s->cak);
}

#endif
