/*
 * node_crl: the overlay's certificate revocation list.
 *
 * The configuration names where the certificate authority publishes it
 * (p2psip:crl-url, see config.h). A node fetches it over HTTPS, checking
 * the server against the overlay's root (NODEDIR/ca.pem), once before it
 * starts serving and then every hour; the fetch runs in libuv's thread
 * pool so the loop never waits on the network. A CRL is taken only when
 * it is signed by one of the overlay's roots, and replaces the one in use;
 * a failed fetch keeps the last good one (or the node directory's
 * crl.pem). Peers whose certificates it lists are refused from then on.
 *
 * The HTTPS GET (node_https_*) also serves the configuration refresh of
 * node_cfg.c.
 */
#include "node_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/pem.h>

#define CRL_MAX_BYTES	(1024 * 1024)
#define CRL_REFRESH_MS	(3600u * 1000u)

static size_t
https_sink(char *p, size_t sz, size_t nm, void *arg)
{
	node_https_job *j = arg;
	size_t k = sz * nm;
	uint8_t *nb;

	if (k > j->max - j->len) {
		j->over = 1;
		return 0;
	}
	if ((nb = realloc(j->body, j->len + k)) == NULL)
		return 0;
	j->body = nb;
	memcpy(j->body + j->len, p, k);
	j->len += k;
	return k;
}

int
node_https_get(node_https_job *j)
{
	char cerr[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	CURLcode rc;
	long status = 0;

	if (c == NULL) {
		snprintf(j->err, sizeof(j->err), "cannot start libcurl");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, j->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(c, CURLOPT_CAINFO, j->ca_file);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, https_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (j->over) {
		snprintf(j->err, sizeof(j->err), "%.200s: larger than %zu bytes",
		    j->url, j->max);
		return -1;
	}
	if (rc != CURLE_OK || status != 200) {
		snprintf(j->err, sizeof(j->err), "%.200s: %.200s", j->url,
		    rc != CURLE_OK ? (cerr[0] ? cerr : curl_easy_strerror(rc)) :
		    "HTTP status other than 200");
		return -1;
	}
	return 0;
}

node_https_job *
node_https_job_new(p2p_node *n, const char *url, size_t max)
{
	node_https_job *j;

	if (url == NULL || (j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->n = n;
	j->max = max;
	j->work.data = j;
	if ((size_t)snprintf(j->url, sizeof(j->url), "%s", url) >=
	    sizeof(j->url) || (size_t)snprintf(j->ca_file,
	    sizeof(j->ca_file), "%s/ca.pem", n->opts.dir) >=
	    sizeof(j->ca_file)) {
		free(j);
		return NULL;
	}
	return j;
}

void
node_https_job_free(node_https_job *j)
{
	free(j->body);
	free(j);
}

/* Parse (DER, or PEM) and check the signature against a root. */
static X509_CRL *
crl_accept(p2p_node *n, const uint8_t *p, size_t len, char *err,
    size_t errlen)
{
	const unsigned char *q = p;
	X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);
	p2p_err e = { 0 };

	if (crl == NULL || q != p + len) {
		BIO *b = BIO_new_mem_buf(p, (int)len);
		X509_CRL_free(crl);
		crl = b != NULL ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) :
		    NULL;
		BIO_free(b);
	}
	if (crl == NULL) {
		snprintf(err, errlen, "not a CRL");
		return NULL;
	}
	for (size_t i = 0; i < n->cfg.nroot_certs; i++) {
		X509 *root = p2p_cert_from_der(n->cfg.root_certs[i].p,
		    n->cfg.root_certs[i].len, &e);
		EVP_PKEY *pk = root != NULL ? X509_get0_pubkey(root) : NULL;
		int ok = pk != NULL && X509_CRL_verify(crl, pk) == 1;

		X509_free(root);
		if (ok)
			return crl;
	}
	X509_CRL_free(crl);
	snprintf(err, errlen, "CRL not signed by the overlay's root");
	return NULL;
}

static int
crl_install(p2p_node *n, node_https_job *j)
{
	char err[128];
	p2p_err e = { 0 };
	X509_CRL *crl = crl_accept(n, j->body, j->len, err, sizeof(err));

	if (crl == NULL) {
		node_log(n, NLOG_WARN, "CRL from %s refused: %s", j->url, err);
		return -1;
	}
	if (p2p_trust_set_crl(n->trust, crl, &e) != 0) {
		X509_CRL_free(crl);
		node_log(n, NLOG_WARN, "CRL from %s: %s", j->url, e.what);
		return -1;
	}
	node_log(n, NLOG_INFO, "CRL from %s: %d revoked certificate(s)",
	    j->url, sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)));
	X509_CRL_free(crl);
	return 0;
}

static node_https_job *
crl_job_new(p2p_node *n)
{
	return node_https_job_new(n, n->cfg.crl_url, CRL_MAX_BYTES);
}

void
crl_start(p2p_node *n)
{
	node_https_job *j = crl_job_new(n);

	n->crl_next_ms = node_now(n) + CRL_REFRESH_MS;
	if (j == NULL)
		return;
	if (node_https_get(j) == 0)
		(void)crl_install(n, j);
	else
		node_log(n, NLOG_WARN, "cannot fetch the CRL: %s", j->err);
	node_https_job_free(j);
}

void
node_https_work(uv_work_t *w)
{
	node_https_job *j = w->data;

	(void)node_https_get(j);
}

static void
crl_after(uv_work_t *w, int status)
{
	node_https_job *j = w->data;
	p2p_node *n = j->n;

	n->crl_busy = 0;
	if (status == 0 && !n->stopping) {
		if (j->err[0] != '\0')
			node_log(n, NLOG_WARN, "cannot fetch the CRL: %s",
			    j->err);
		else
			(void)crl_install(n, j);
	}
	node_https_job_free(j);
}

void
crl_tick(p2p_node *n, uint64_t now)
{
	node_https_job *j;

	if (n->crl_busy || now < n->crl_next_ms)
		return;
	n->crl_next_ms = now + CRL_REFRESH_MS;
	if ((j = crl_job_new(n)) == NULL)
		return;
	if (uv_queue_work(n->loop, &j->work, node_https_work, crl_after) != 0) {
		node_https_job_free(j);
		return;
	}
	n->crl_busy = 1;
}

uint64_t
crl_next_due(p2p_node *n)
{
	return n->crl_busy ? UINT64_MAX : n->crl_next_ms;
}
