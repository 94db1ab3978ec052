/*
 * storage_client: drive a node's put or get control method as fast as it
 * answers, for bench/storage.
 *
 *   storage_client --socket PATH --op put|get --resource NAME
 *                  [--kind KIND] [--size BYTES] [--requests N]
 *                  [--concurrency K] [--latencies]
 *
 * K threads share N requests; each request is one connection to the
 * control socket (p2p_ctl_call), so nothing but the node's own work and a
 * Unix-socket round trip is timed. put stores a fresh value of BYTES bytes
 * each time (its first bytes carry the request number). Prints one line:
 *   op size requests ok failed seconds rps p50_ms p99_ms
 * and, on failures, the first error message on stderr. --latencies adds
 * every request's time in ms, one a line, in increasing order.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "control.h"

typedef struct bench {
	const char *sock, *op, *resource, *kind;
	size_t size;
	unsigned requests, concurrency;
	pthread_mutex_t lock;
	unsigned next;		/* next request number */
	unsigned ok, failed;
	double *lat_ms;		/* per request, by number */
	char first_error[600];
} bench;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* params of request number i (a new reference, NULL on out of memory). */
static json_t *
params_for(const bench *b, unsigned i)
{
	json_t *p = json_pack("{s:s,s:s}", "resource", b->resource, "kind",
	    b->kind);
	unsigned char *v;
	char *enc, num[16];
	size_t nl;

	if (p == NULL || strcmp(b->op, "put") != 0)
		return p;
	v = malloc(b->size + 16);
	enc = malloc(4 * (b->size / 3 + 2) + 1);
	if (v == NULL || enc == NULL) {
		free(v);
		free(enc);
		json_decref(p);
		return NULL;
	}
	for (size_t k = 0; k < b->size; k++)
		v[k] = (unsigned char)('a' + (k + i) % 26);
	nl = (size_t)snprintf(num, sizeof(num), "%u-", i);
	memcpy(v, num, nl < b->size ? nl : b->size);
	EVP_EncodeBlock((unsigned char *)enc, v, (int)b->size);
	json_object_set_new(p, "value_b64", json_string(enc));
	free(v);
	free(enc);
	return p;
}

static void *
worker(void *arg)
{
	bench *b = arg;

	for (;;) {
		unsigned i;
		json_t *params, *result = NULL;
		p2p_ctl_rpcerr err;
		double t0, t1;
		int rc;

		pthread_mutex_lock(&b->lock);
		i = b->next++;
		pthread_mutex_unlock(&b->lock);
		if (i >= b->requests)
			return NULL;
		params = params_for(b, i);
		memset(&err, 0, sizeof(err));
		t0 = now_s();
		rc = params == NULL ? P2P_CTL_EPROTO : p2p_ctl_call(b->sock,
		    b->op, params, 30000, NULL, NULL, &result, &err);
		t1 = now_s();
		json_decref(params);
		json_decref(result);
		pthread_mutex_lock(&b->lock);
		b->lat_ms[i] = (t1 - t0) * 1000.0;
		if (rc == P2P_CTL_OK) {
			b->ok++;
		} else {
			b->failed++;
			if (b->first_error[0] == '\0')
				snprintf(b->first_error, sizeof(b->first_error),
				    "%s: %s", p2p_ctl_status_str(rc),
				    params == NULL ? "out of memory" :
				    err.message);
		}
		pthread_mutex_unlock(&b->lock);
		if (rc != P2P_CTL_OK)
			p2p_ctl_rpcerr_free(&err);
	}
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return a < c ? -1 : a > c;
}

static double
quantile(const double *sorted, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(q * (double)(n - 1) + 0.5);
	return sorted[k < n ? k : n - 1];
}

static void
usage(void)
{
	fprintf(stderr, "usage: storage_client --socket PATH --op put|get "
	    "--resource NAME [--kind KIND]\n"
	    "       [--size BYTES] [--requests N] [--concurrency K] "
	    "[--latencies]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "op", required_argument, NULL, 'o' },
		{ "resource", required_argument, NULL, 'r' },
		{ "kind", required_argument, NULL, 'k' },
		{ "size", required_argument, NULL, 'z' },
		{ "requests", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "latencies", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	bench b;
	pthread_t *th;
	double t0, secs;
	int c, all = 0;

	memset(&b, 0, sizeof(b));
	b.kind = "single";
	b.size = 100;
	b.requests = 1000;
	b.concurrency = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': b.sock = optarg; break;
		case 'o': b.op = optarg; break;
		case 'r': b.resource = optarg; break;
		case 'k': b.kind = optarg; break;
		case 'z': b.size = strtoul(optarg, NULL, 10); break;
		case 'n': b.requests = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': b.concurrency = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'l': all = 1; break;
		default: usage();
		}
	}
	if (b.sock == NULL || b.op == NULL || b.resource == NULL ||
	    (strcmp(b.op, "put") != 0 && strcmp(b.op, "get") != 0) ||
	    b.requests == 0 || b.concurrency == 0 || b.concurrency > 256 ||
	    b.size > 1 << 20)
		usage();
	json_object_seed(0);	/* before any thread makes an object */
	b.lat_ms = calloc(b.requests, sizeof(*b.lat_ms));
	th = calloc(b.concurrency, sizeof(*th));
	if (b.lat_ms == NULL || th == NULL) {
		fprintf(stderr, "storage_client: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&b.lock, NULL);
	t0 = now_s();
	for (unsigned i = 0; i < b.concurrency; i++)
		if (pthread_create(&th[i], NULL, worker, &b) != 0) {
			fprintf(stderr, "storage_client: pthread_create failed\n");
			return 1;
		}
	for (unsigned i = 0; i < b.concurrency; i++)
		pthread_join(th[i], NULL);
	secs = now_s() - t0;
	qsort(b.lat_ms, b.requests, sizeof(*b.lat_ms), cmp_double);
	printf("%s %zu %u %u %u %.3f %.1f %.2f %.2f\n", b.op, b.size,
	    b.requests, b.ok, b.failed, secs, (double)b.ok / secs,
	    quantile(b.lat_ms, b.requests, 0.50),
	    quantile(b.lat_ms, b.requests, 0.99));
	for (unsigned i = 0; all && i < b.requests; i++)
		printf("%.3f\n", b.lat_ms[i]);
	if (b.first_error[0] != '\0')
		fprintf(stderr, "storage_client: %u failed; first: %s\n",
		    b.failed, b.first_error);
	pthread_mutex_destroy(&b.lock);
	free(b.lat_ms);
	free(th);
	return b.failed == 0 ? 0 : 1;
}
