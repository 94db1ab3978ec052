/*
 * codec: decode and encode rates of whole RELOAD messages with their
 * bodies, on one core, and whether the decode path touches the heap.
 *
 *   codec [-r runs] [-t seconds-per-run]
 *
 * Cases:
 *   PingReq    node destination, ECDSA/SHA-256 cert_hash signature,
 *              8 bytes of padding
 *   StoreReq   one single-value kind, one signed StoredData of 1 KiB
 *   FetchAns   one array kind, 10 signed StoredData of 100 bytes each
 * Decode = p2p_msg_decode + p2p_body_decode into an arena on the stack.
 * Encode = p2p_body_encode + p2p_msg_encode into fixed buffers on the
 * stack. Each run lasts about -t seconds; the median rate of -r runs is
 * printed, with the heap allocations counted per operation by the
 * malloc wrappers below.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "body.h"
#include "msg.h"

/* ---- heap allocation counter (glibc) ---- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static unsigned long long nalloc;

void *
malloc(size_t n)
{
	nalloc++;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t sz)
{
	nalloc++;
	return __libc_calloc(n, sz);
}

void *
realloc(void *p, size_t n)
{
	nalloc++;
	return __libc_realloc(p, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	nalloc++;
	*out = __libc_memalign(align, n);
	return *out == NULL ? 12 /* ENOMEM */ : 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
	nalloc++;
	return __libc_memalign(align, n);
}

/* ---- the messages ---- */

#define KIND_SINGLE	0xf0000001u
#define KIND_ARRAY	0xf0000002u

static enum p2p_data_model
model(void *arg, uint32_t kind)
{
	(void)arg;
	if (kind == KIND_SINGLE)
		return P2P_MODEL_SINGLE;
	if (kind == KIND_ARRAY)
		return P2P_MODEL_ARRAY;
	return P2P_MODEL_UNKNOWN;
}

static const p2p_kind_lookup lookup = { model, NULL };

static uint8_t hash[32], sig[71], padding[8], value1k[1024], value100[100];
static uint8_t resource[16];
static p2p_id dest_id, dest_res;
static p2p_dest dest;
static uint32_t overlay;	/* p2p_overlay_hash("example.org"), once */

static p2p_signature
signature(void)
{
	p2p_signature s;

	memset(&s, 0, sizeof(s));
	s.hash_alg = P2P_HASH_SHA256;
	s.sig_alg = P2P_SIGALG_ECDSA;
	s.signer.type = P2P_SIGNER_CERT_HASH;
	s.signer.hash_alg = P2P_HASH_SHA256;
	s.signer.hash = (p2p_bytes){ hash, sizeof(hash) };
	s.value = (p2p_bytes){ sig, sizeof(sig) };
	return s;
}

static void
envelope(p2p_msg *m, uint16_t code, int to_resource)
{
	p2p_msg_init(m);
	m->overlay = overlay;
	m->transaction_id = 0x0102030405060708ull;
	m->max_response_length = 5000;
	if (to_resource)
		p2p_dest_resource(&dest, &dest_res);
	else
		p2p_dest_node(&dest, &dest_id);
	m->dest = &dest;
	m->ndest = 1;
	m->code = code;
	m->sig = signature();
}

struct bench_case {
	const char *name;
	uint16_t code;
	int to_resource;
	p2p_body body;
	uint8_t wire[16384];	/* the encoded message */
	size_t len;
};

static p2p_stored_data store_values[1], fetch_values[10];
static p2p_kind_data store_kind, fetch_kind;

static void
build_bodies(struct bench_case *c)
{
	memset(c, 0, 3 * sizeof(*c));
	c[0].name = "PingReq";
	c[0].code = P2P_PING_REQ;
	c[0].body.type = P2P_BODY_PING_REQ;
	c[0].body.u.ping_req.padding = (p2p_bytes){ padding, sizeof(padding) };

	store_values[0].storage_time = 1700000000000ull;
	store_values[0].lifetime = 3600;
	store_values[0].value.data.exists = 1;
	store_values[0].value.data.value = (p2p_bytes){ value1k,
	    sizeof(value1k) };
	store_values[0].sig = signature();
	store_kind = (p2p_kind_data){ KIND_SINGLE, P2P_MODEL_SINGLE, 1,
	    store_values, 1, { NULL, 0 } };
	c[1].name = "StoreReq (1 KiB value)";
	c[1].code = P2P_STORE_REQ;
	c[1].to_resource = 1;
	c[1].body.type = P2P_BODY_STORE_REQ;
	c[1].body.u.store_req.resource = (p2p_bytes){ resource,
	    sizeof(resource) };
	c[1].body.u.store_req.kinds = &store_kind;
	c[1].body.u.store_req.nkinds = 1;

	for (uint32_t i = 0; i < 10; i++) {
		fetch_values[i] = store_values[0];
		fetch_values[i].value.index = i;
		fetch_values[i].value.data.value = (p2p_bytes){ value100,
		    sizeof(value100) };
	}
	fetch_kind = (p2p_kind_data){ KIND_ARRAY, P2P_MODEL_ARRAY, 7,
	    fetch_values, 10, { NULL, 0 } };
	c[2].name = "FetchAns (10 values)";
	c[2].code = P2P_FETCH_ANS;
	c[2].body.type = P2P_BODY_FETCH_ANS;
	c[2].body.u.fetch_ans.kinds = &fetch_kind;
	c[2].body.u.fetch_ans.nkinds = 1;
}

/* Encode case c into out (cap bytes); 0 on success. */
static int
encode(const struct bench_case *c, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t bodybuf[8192];
	p2p_wbuf bw, mw;
	p2p_msg m;

	p2p_w_init_fixed(&bw, bodybuf, sizeof(bodybuf));
	if (p2p_body_encode(&bw, c->code, &c->body) != 0)
		return -1;
	envelope(&m, c->code, c->to_resource);
	m.body = (p2p_bytes){ bw.p, bw.len };
	p2p_w_init_fixed(&mw, out, cap);
	if (p2p_msg_encode(&mw, &m) != 0)
		return -1;
	*len = mw.len;
	return 0;
}

/* Decode case c's wire bytes, message and body; 0 on success. */
static int
decode(const struct bench_case *c)
{
	_Alignas(16) uint8_t mem[8192];
	p2p_arena a;
	p2p_msg m;
	p2p_body b;
	p2p_err err;

	p2p_arena_init(&a, mem, sizeof(mem));
	if (p2p_msg_decode(c->wire, c->len, NULL, &a, &m, &err) != 0)
		return -1;
	if (p2p_body_decode(m.code, m.body, &lookup, &a, &b, &err) != 0)
		return -1;
	/* keep the result observable */
	return b.type == P2P_BODY_NONE ? -1 : 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* One run of about secs seconds: operations per second. */
static double
run(const struct bench_case *c, int do_decode, double secs,
    unsigned long long *allocs, unsigned long long *ops)
{
	uint8_t out[16384];
	unsigned long long n = 0, before = nalloc;
	size_t len;
	double t0 = now(), t;

	do {
		for (int i = 0; i < 1000; i++) {
			int rc = do_decode ? decode(c) :
			    encode(c, out, sizeof(out), &len);
			if (rc != 0) {
				fprintf(stderr, "codec: %s failed\n", c->name);
				exit(1);
			}
		}
		n += 1000;
		t = now() - t0;
	} while (t < secs);
	*allocs += nalloc - before;
	*ops += n;
	return (double)n / t;
}

static void
measure(const struct bench_case *c, int do_decode, int runs, double secs)
{
	double rates[64];
	unsigned long long allocs = 0, ops = 0;

	for (int r = 0; r < runs; r++)
		rates[r] = run(c, do_decode, secs, &allocs, &ops);
	qsort(rates, (size_t)runs, sizeof(rates[0]), cmp_double);
	printf("%-24s %-6s %5zu %12.0f %12.0f %12.0f %10.4f\n", c->name,
	    do_decode ? "decode" : "encode", c->len, rates[runs / 2],
	    rates[0], rates[runs - 1], (double)allocs / (double)ops);
}

/* Does the counter see the heap? A growable writer must allocate. */
static int
counter_works(void)
{
	unsigned long long before = nalloc;
	p2p_wbuf w;

	p2p_w_init(&w, 0);
	p2p_w_u64(&w, 1);
	p2p_w_free(&w);
	return nalloc > before;
}

int
main(int argc, char **argv)
{
	static struct bench_case cases[3];
	int runs = 7;
	double secs = 0.5;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-r") == 0)
			runs = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-t") == 0)
			secs = atof(argv[i + 1]);
	}
	if (runs < 1 || runs > 64 || secs <= 0) {
		fprintf(stderr,
		    "usage: codec [-r runs (1..64)] [-t seconds]\n");
		return 2;
	}
	memset(hash, 0xaa, sizeof(hash));
	memset(sig, 0x55, sizeof(sig));
	memset(padding, 0x5a, sizeof(padding));
	memset(value1k, 0x31, sizeof(value1k));
	memset(value100, 0x32, sizeof(value100));
	memset(resource, 0xe0, sizeof(resource));
	memset(dest_id.b, 0x11, sizeof(dest_id.b));
	memset(dest_res.b, 0xe0, sizeof(dest_res.b));
	overlay = p2p_overlay_hash("example.org");
	if (!counter_works()) {
		fprintf(stderr, "codec: the malloc counter does not see "
		    "allocations; allocs/op would be meaningless\n");
		return 1;
	}
	build_bodies(cases);
	for (int i = 0; i < 3; i++)
		if (encode(&cases[i], cases[i].wire, sizeof(cases[i].wire),
		    &cases[i].len) != 0) {
			fprintf(stderr, "codec: cannot encode %s\n",
			    cases[i].name);
			return 1;
		}
	printf("# %d runs of %.2f s each; rates in messages per second\n",
	    runs, secs);
	printf("%-24s %-6s %5s %12s %12s %12s %10s\n", "message", "op",
	    "bytes", "median", "min", "max", "allocs/op");
	for (int i = 0; i < 3; i++) {
		measure(&cases[i], 1, runs, secs);
		measure(&cases[i], 0, runs, secs);
	}
	return 0;
}
