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

typedef struct crl_job {
	uv_work_t work;
	p2p_node *n;
	char url[1024];
	char ca_file[PATH_MAX];
	uint8_t *body;
	size_t len;
	int over;
	char err[CURL_ERROR_SIZE + 512];
} crl_job;

static size_t
crl_sink(char *p, size_t sz, size_t nm, void *arg)
{
	crl_job *j = arg;
	size_t k = sz * nm;
	uint8_t *nb;

	if (k > CRL_MAX_BYTES - j->len) {
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

/* Blocking: runs before the loop, or in the thread pool. */
static int
crl_download(crl_job *j)
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
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, crl_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (j->over) {
		snprintf(j->err, sizeof(j->err), "%.200s: larger than %d bytes",
		    j->url, CRL_MAX_BYTES);
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
crl_install(p2p_node *n, crl_job *j)
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

static crl_job *
crl_job_new(p2p_node *n)
{
	crl_job *j;

	if (n->cfg.crl_url == NULL || (j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->n = n;
	if ((size_t)snprintf(j->url, sizeof(j->url), "%s", n->cfg.crl_url) >=
	    sizeof(j->url) || (size_t)snprintf(j->ca_file,
	    sizeof(j->ca_file), "%s/ca.pem", n->opts.dir) >=
	    sizeof(j->ca_file)) {
		free(j);
		return NULL;
	}
	return j;
}

static void
crl_job_free(crl_job *j)
{
	free(j->body);
	free(j);
}

void
crl_start(p2p_node *n)
{
	crl_job *j = crl_job_new(n);

	n->crl_next_ms = node_now(n) + CRL_REFRESH_MS;
	if (j == NULL)
		return;
	if (crl_download(j) == 0)
		(void)crl_install(n, j);
	else
		node_log(n, NLOG_WARN, "cannot fetch the CRL: %s", j->err);
	crl_job_free(j);
}

static void
crl_work(uv_work_t *w)
{
	crl_job *j = w->data;

	(void)crl_download(j);
}

static void
crl_after(uv_work_t *w, int status)
{
	crl_job *j = w->data;
	p2p_node *n = j->n;

	n->crl_busy = 0;
	if (status == 0 && !n->stopping) {
		if (j->err[0] != '\0')
			node_log(n, NLOG_WARN, "cannot fetch the CRL: %s",
			    j->err);
		else
			(void)crl_install(n, j);
	}
	crl_job_free(j);
}

void
crl_tick(p2p_node *n, uint64_t now)
{
	crl_job *j;

	if (n->crl_busy || now < n->crl_next_ms)
		return;
	n->crl_next_ms = now + CRL_REFRESH_MS;
	if ((j = crl_job_new(n)) == NULL)
		return;
	j->work.data = j;
	if (uv_queue_work(n->loop, &j->work, crl_work, crl_after) != 0) {
		crl_job_free(j);
		return;
	}
	n->crl_busy = 1;
}

uint64_t
crl_next_due(p2p_node *n)
{
	return n->crl_busy ? UINT64_MAX : n->crl_next_ms;
}
