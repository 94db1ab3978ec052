#include "unit.h"

#include "frag.h"
#include "msg.h"

/* ---- fixtures ---- */

/* A message to a node with a body of bodylen pattern bytes. */
static void
make_msg(p2p_wbuf *w, uint64_t tid, size_t bodylen)
{
	static uint8_t body[70000];
	p2p_msg m;
	p2p_dest d[2];
	p2p_id a, b;

	assert_true(bodylen <= sizeof(body));
	for (size_t i = 0; i < bodylen; i++)
		body[i] = (uint8_t)(i * 7 + (i >> 8));
	memset(&a, 0x11, sizeof(a));
	memset(&b, 0x22, sizeof(b));
	p2p_msg_init(&m);
	m.overlay = 0x01020304;
	m.ttl = 100;
	m.transaction_id = tid;
	p2p_dest_node(&d[0], &a);
	p2p_dest_node(&d[1], &b);
	m.dest = d;
	m.ndest = 2;
	m.code = P2P_STORE_REQ;
	m.body.p = body;
	m.body.len = bodylen;
	m.sig.hash_alg = P2P_HASH_SHA256;
	m.sig.sig_alg = P2P_SIGALG_ECDSA;
	m.sig.signer.type = P2P_SIGNER_CERT_HASH;
	m.sig.signer.hash_alg = P2P_HASH_SHA256;
	m.sig.signer.hash.p = body;
	m.sig.signer.hash.len = 32;
	m.sig.value.p = body;
	m.sig.value.len = 64;
	p2p_w_init(w, bodylen + 256);
	assert_int_equal(p2p_msg_encode(w, &m), 0);
}

#define MAX_PIECES 512

typedef struct pieces {
	uint8_t *p[MAX_PIECES];
	size_t len[MAX_PIECES];
	size_t n;
} pieces;

static int
collect(const uint8_t *frag, size_t len, void *arg)
{
	pieces *ps = arg;

	assert_true(ps->n < MAX_PIECES);
	ps->p[ps->n] = malloc(len);
	assert_non_null(ps->p[ps->n]);
	memcpy(ps->p[ps->n], frag, len);
	ps->len[ps->n++] = len;
	return 0;
}

static void
pieces_free(pieces *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->p[i]);
	ps->n = 0;
}

static const p2p_reasm_limits big = { 100000, 1000000, 16, 15000 };

static p2p_id
who(int k)
{
	p2p_id id;

	memset(&id, k, sizeof(id));
	return id;
}

/* A message split at mtu into more than min pieces, and a reassembler. */
typedef struct fx {
	p2p_wbuf w;
	pieces ps;
	p2p_reasm *r;
	const p2p_reasm_stats *st;
} fx;

static void
fx_init(fx *f, uint64_t tid, size_t bodylen, size_t mtu, size_t min,
    const p2p_reasm_limits *lim)
{
	int n;

	make_msg(&f->w, tid, bodylen);
	f->ps.n = 0;
	n = p2p_frag_split(f->w.p, f->w.len, mtu, collect, &f->ps);
	assert_int_equal(n, (int)f->ps.n);
	assert_true(f->ps.n > min);
	f->r = p2p_reasm_new(lim);
	assert_non_null(f->r);
	f->st = p2p_reasm_get_stats(f->r);
}

static void
fx_free(fx *f)
{
	pieces_free(&f->ps);
	p2p_reasm_free(f->r);
	p2p_w_free(&f->w);
}

/* Feed piece i of ps; returns the status and checks the whole message
 * against the original when done. */
static int
feed_from(fx *f, const pieces *ps, size_t i, const p2p_id *s, uint64_t now)
{
	uint8_t *out;
	size_t outlen;
	int st = p2p_reasm_add(f->r, ps->p[i], ps->len[i], s, now, &out,
	    &outlen);

	if (st == P2P_REASM_DONE) {
		assert_int_equal(outlen, f->w.len);
		assert_memory_equal(out, f->w.p, outlen);
		free(out);
	} else {
		assert_null(out);
	}
	return st;
}

static int
feed(fx *f, size_t i, const p2p_id *s, uint64_t now)
{
	return feed_from(f, &f->ps, i, s, now);
}

/* Every piece but skip (none when skip >= n) from sender s: all MORE. */
static void
feed_all_but(fx *f, size_t skip, const p2p_id *s, uint64_t now)
{
	for (size_t i = 0; i < f->ps.n; i++)
		if (i != skip)
			assert_int_equal(feed(f, i, s, now), P2P_REASM_MORE);
}

static void
assert_empty(const fx *f)
{
	assert_int_equal(f->st->msgs_held, 0);
	assert_int_equal(f->st->bytes_held, 0);
}

/* ---- splitting ---- */

static void
test_split_layout(void **state)
{
	p2p_wbuf w;
	pieces ps = { .n = 0 };
	p2p_frag_hdr h0, h;
	size_t next = 0, piece0;
	int rc;

	(void)state;
	make_msg(&w, 42, 10000);
	assert_int_equal(p2p_frag_peek(w.p, w.len, &h0), 0);
	assert_int_equal(h0.fragment, P2P_FRAG_WHOLE);
	assert_int_equal(h0.hdrlen, P2P_FWD_FIXED_LEN + 36);
	rc = p2p_frag_split(w.p, w.len, 1200, collect, &ps);
	assert_int_equal(rc, (int)ps.n);
	assert_true(ps.n >= 9);
	piece0 = ps.len[0] - h0.hdrlen;
	for (size_t i = 0; i < ps.n; i++) {
		assert_int_equal(p2p_frag_peek(ps.p[i], ps.len[i], &h), 0);
		assert_true(ps.len[i] <= 1200 - P2P_FRAG_SLACK);
		assert_int_equal(h.hdrlen, h0.hdrlen);
		assert_int_equal(h.tid, 42);
		/* the header is repeated as it was but for two fields */
		assert_memory_equal(ps.p[i], w.p, 12);
		assert_memory_equal(ps.p[i] + 20, w.p + 20, h.hdrlen - 20);
		assert_int_equal(h.fragment & P2P_FRAG_OFFSET_MASK, next);
		assert_int_equal(!!(h.fragment & P2P_FRAG_LAST), i + 1 == ps.n);
		assert_memory_equal(ps.p[i] + h.hdrlen, w.p + h0.hdrlen + next,
		    ps.len[i] - h.hdrlen);
		/* equal pieces, the last one maybe shorter */
		assert_true(ps.len[i] - h.hdrlen <= piece0);
		assert_true(ps.len[i] - h.hdrlen >= P2P_FRAG_MIN_PIECE);
		next += ps.len[i] - h.hdrlen;
	}
	assert_int_equal(next, w.len - h0.hdrlen);
	pieces_free(&ps);

	/* small enough, or no room for 256 bytes a piece: sent whole */
	assert_int_equal(p2p_frag_split(w.p, w.len, w.len, collect, &ps), 1);
	assert_int_equal(ps.len[0], w.len);
	pieces_free(&ps);
	assert_int_equal(p2p_frag_split(w.p, w.len,
	    h0.hdrlen + P2P_FRAG_SLACK + P2P_FRAG_MIN_PIECE - 1, collect, &ps),
	    1);
	assert_int_equal(ps.len[0], w.len);
	pieces_free(&ps);
	/* the smallest MTU that fragments */
	assert_true(p2p_frag_split(w.p, w.len,
	    h0.hdrlen + P2P_FRAG_SLACK + P2P_FRAG_MIN_PIECE, collect, &ps) > 1);
	pieces_free(&ps);
	/* garbage is refused */
	assert_int_equal(p2p_frag_split(w.p, w.len - 1, 600, collect, &ps), -1);
	assert_int_equal(ps.n, 0);
	p2p_w_free(&w);
}

static int
refuse_second(const uint8_t *frag, size_t len, void *arg)
{
	int *calls = arg;

	(void)frag;
	(void)len;
	return ++*calls == 2 ? -1 : 0;
}

static void
test_split_emit_failure(void **state)
{
	p2p_wbuf w;
	int calls = 0;

	(void)state;
	make_msg(&w, 1, 5000);
	assert_int_equal(p2p_frag_split(w.p, w.len, 1000, refuse_second,
	    &calls), -1);
	assert_int_equal(calls, 2);
	p2p_w_free(&w);
}

/* A forwarder splits a fragment further: offsets stay the message's, and
 * only the last piece of the last fragment says it is last. */
static void
test_refragment(void **state)
{
	fx f;
	pieces sub = { .n = 0 };
	p2p_id s = who(1);

	(void)state;
	fx_init(&f, 7, 8000, 3000, 1, &big);
	for (size_t i = 0; i < f.ps.n; i++)
		assert_true(p2p_frag_split(f.ps.p[i], f.ps.len[i], 700, collect,
		    &sub) > 1);
	for (size_t i = 0; i < sub.n; i++) {
		p2p_frag_hdr h;
		assert_int_equal(p2p_frag_peek(sub.p[i], sub.len[i], &h), 0);
		assert_int_equal(!!(h.fragment & P2P_FRAG_LAST), i + 1 == sub.n);
		assert_int_equal(feed_from(&f, &sub, i, &s, 0),
		    i + 1 == sub.n ? P2P_REASM_DONE : P2P_REASM_MORE);
	}
	pieces_free(&sub);
	fx_free(&f);
}

/* ---- reassembly ---- */

static void
test_in_order(void **state)
{
	fx f;
	p2p_id s = who(1);

	(void)state;
	fx_init(&f, 100, 60000, 1400, 40, &big);
	feed_all_but(&f, f.ps.n - 1, &s, 10);
	assert_int_equal(f.st->msgs_held, 1);
	assert_int_equal(feed(&f, f.ps.n - 1, &s, 10), P2P_REASM_DONE);
	assert_int_equal(f.st->reassembled, 1);
	assert_int_equal(f.st->fragments, f.ps.n);
	assert_empty(&f);
	fx_free(&f);
}

static void
test_out_of_order_and_duplicates(void **state)
{
	fx f;
	p2p_id s = who(1);
	size_t order[64], n, k = 1;

	(void)state;
	fx_init(&f, 5, 9000, 800, 10, &big);
	n = f.ps.n;
	assert_true(n < 64);
	/* last first, then odd ones, then even ones, each odd one twice */
	order[0] = n - 1;
	for (size_t i = 1; i + 1 < n; i += 2) {
		order[k++] = i;
		order[k++] = i;
	}
	for (size_t i = 0; i + 1 < n; i += 2)
		order[k++] = i;
	for (size_t i = 0; i < k; i++)
		assert_int_equal(feed(&f, order[i], &s, 0),
		    i + 1 == k ? P2P_REASM_DONE : P2P_REASM_MORE);
	assert_int_equal(f.st->duplicates, (n - 1) / 2);
	assert_empty(&f);
	/* a late duplicate starts a new message, which then times out */
	assert_int_equal(feed(&f, 0, &s, 0), P2P_REASM_MORE);
	assert_int_equal(p2p_reasm_expire(f.r, 14999), 0);
	assert_int_equal(p2p_reasm_next_due(f.r), 15000);
	assert_int_equal(p2p_reasm_expire(f.r, 15000), 1);
	assert_int_equal(f.st->timeouts, 1);
	assert_true(p2p_reasm_next_due(f.r) == UINT64_MAX);
	assert_empty(&f);
	fx_free(&f);
}

/* Overlapping fragments (split at two MTUs) complete the message when
 * they agree and drop it when they do not. */
static void
test_overlapping(void **state)
{
	fx f;
	pieces b = { .n = 0 };
	p2p_id s = who(3);
	p2p_frag_hdr h;
	size_t i;

	(void)state;
	fx_init(&f, 9, 6000, 1000, 2, &big);
	assert_true(p2p_frag_split(f.w.p, f.w.len, 1500, collect, &b) > 2);
	/* the first half of a, then all of b but its last piece, then the
	 * rest of a */
	for (i = 0; i < f.ps.n / 2; i++)
		assert_int_equal(feed(&f, i, &s, 0), P2P_REASM_MORE);
	for (size_t j = 0; j + 1 < b.n; j++)
		assert_int_equal(feed_from(&f, &b, j, &s, 0), P2P_REASM_MORE);
	for (; i < f.ps.n; i++)
		assert_int_equal(feed(&f, i, &s, 0), i + 1 == f.ps.n ?
		    P2P_REASM_DONE : P2P_REASM_MORE);
	assert_int_equal(f.st->bad, 0);

	/* the same, with one byte changed in an overlapping piece: b's
	 * second piece starts inside a's second one */
	assert_int_equal(feed(&f, 0, &s, 0), P2P_REASM_MORE);
	assert_int_equal(feed(&f, 1, &s, 0), P2P_REASM_MORE);
	assert_int_equal(p2p_frag_peek(b.p[1], b.len[1], &h), 0);
	b.p[1][h.hdrlen + 10] ^= 0x40;
	assert_int_equal(feed_from(&f, &b, 1, &s, 0), P2P_REASM_DROP);
	assert_int_equal(f.st->bad, 1);
	assert_empty(&f);
	pieces_free(&b);
	fx_free(&f);
}

/* A message with gaps never completes; the timeout frees it. Messages
 * of other senders or transactions are kept apart. */
static void
test_gaps_and_timeout(void **state)
{
	fx f;
	p2p_id s1 = who(1), s2 = who(2);

	(void)state;
	fx_init(&f, 77, 7000, 900, 4, &big);
	feed_all_but(&f, 2, &s1, 1000);
	/* the other sender's copy, complete but for its first piece */
	feed_all_but(&f, 0, &s2, 5000);
	assert_int_equal(f.st->msgs_held, 2);
	assert_true(f.st->bytes_held >= 2 * (f.w.len - 100));
	/* The first message (started at 1000) goes first. */
	assert_int_equal(p2p_reasm_next_due(f.r), 16000);
	assert_int_equal(p2p_reasm_expire(f.r, 15999), 0);
	assert_int_equal(p2p_reasm_expire(f.r, 16000), 1);
	assert_int_equal(p2p_reasm_next_due(f.r), 20000);
	assert_int_equal(f.st->msgs_held, 1);
	assert_int_equal(feed(&f, 0, &s2, 19000), P2P_REASM_DONE);
	assert_int_equal(f.st->timeouts, 1);
	assert_empty(&f);
	/* what is still held when the reassembler goes is freed with it */
	feed_all_but(&f, 1, &s1, 20000);
	fx_free(&f);
}

/* Feed pieces from the first on until one is not MORE; returns it. */
static int
feed_until(fx *f, const p2p_id *s, size_t *i)
{
	int rc = P2P_REASM_MORE;

	for (*i = 0; *i < f->ps.n && rc == P2P_REASM_MORE; (*i)++)
		rc = feed(f, *i, s, 0);
	return rc;
}

static void
test_memory_bounds(void **state)
{
	fx f;
	p2p_reasm_limits lim = { 100000, 20000, 2, 0 };
	p2p_id s[4] = { who(1), who(2), who(3), who(4) };
	size_t i;

	(void)state;
	fx_init(&f, 3, 30000, 1200, 20, &lim);
	/* two messages in progress at most */
	assert_int_equal(feed(&f, 0, &s[1], 0), P2P_REASM_MORE);
	assert_int_equal(feed(&f, 0, &s[2], 0), P2P_REASM_MORE);
	assert_int_equal(feed(&f, 0, &s[3], 0), P2P_REASM_DROP);
	assert_int_equal(f.st->overflows, 1);
	assert_int_equal(f.st->msgs_held, 2);
	p2p_reasm_expire(f.r, 15000);
	/* 20000 bytes over all: the message that needs more is dropped */
	assert_int_equal(feed(&f, 0, &s[2], 20000), P2P_REASM_MORE);
	assert_int_equal(feed_until(&f, &s[0], &i), P2P_REASM_DROP);
	assert_int_equal(f.st->overflows, 2);
	assert_int_equal(f.st->msgs_held, 1);
	assert_true(f.st->bytes_held <= lim.max_bytes);
	/* the last fragment says how big it is: too big for the bound */
	assert_int_equal(feed(&f, f.ps.n - 1, &s[2], 0), P2P_REASM_DROP);
	assert_int_equal(f.st->overflows, 3);
	assert_empty(&f);
	p2p_reasm_free(f.r);

	/* a message larger than max_msg is refused at its first fragment
	 * past the bound, whatever the memory */
	lim.max_msg = 10000;
	lim.max_bytes = 1000000;
	f.r = p2p_reasm_new(&lim);
	f.st = p2p_reasm_get_stats(f.r);
	assert_int_equal(feed_until(&f, &s[3], &i), P2P_REASM_DROP);
	assert_true(i < f.ps.n);
	assert_int_equal(f.st->overflows, 1);
	assert_empty(&f);
	fx_free(&f);
}

/* Fragments that contradict the message's end. */
static void
test_contradictions(void **state)
{
	fx f;
	p2p_id s = who(9);
	p2p_frag_hdr h;
	uint8_t *p, *out;
	size_t outlen;

	(void)state;
	fx_init(&f, 11, 4000, 1000, 3, &big);
	/* the last fragment, then a middle one marked last too */
	assert_int_equal(feed(&f, f.ps.n - 1, &s, 0), P2P_REASM_MORE);
	p = f.ps.p[1];
	p[12] |= 0x40;
	assert_int_equal(feed(&f, 1, &s, 0), P2P_REASM_DROP);
	assert_int_equal(f.st->bad, 1);
	p[12] &= (uint8_t)~0x40;
	/* data held past where a later last fragment ends */
	assert_int_equal(feed(&f, 2, &s, 0), P2P_REASM_MORE);
	p[12] |= 0x40;
	assert_int_equal(feed(&f, 1, &s, 0), P2P_REASM_DROP);
	assert_int_equal(f.st->bad, 2);
	/* an empty piece that is not the last */
	p = f.ps.p[0];
	assert_int_equal(p2p_frag_peek(p, f.ps.len[0], &h), 0);
	p[16] = (uint8_t)(h.hdrlen >> 24);
	p[17] = (uint8_t)(h.hdrlen >> 16);
	p[18] = (uint8_t)(h.hdrlen >> 8);
	p[19] = (uint8_t)h.hdrlen;
	assert_int_equal(p2p_reasm_add(f.r, p, h.hdrlen, &s, 0, &out, &outlen),
	    P2P_REASM_DROP);
	assert_int_equal(f.st->bad, 3);
	/* the same, marked last: a message of no bytes past its header */
	p[12] |= 0x40;
	assert_int_equal(p2p_reasm_add(f.r, p, h.hdrlen, &s, 0, &out, &outlen),
	    P2P_REASM_DROP);
	assert_null(out);
	assert_int_equal(f.st->bad, 4);
	assert_empty(&f);
	fx_free(&f);
}

/* Every truncation of a fragment is refused without reading past it. */
static void
test_peek_truncated(void **state)
{
	p2p_wbuf w;
	p2p_frag_hdr h;
	p2p_reasm *r = p2p_reasm_new(&big);
	p2p_id s = who(1);

	(void)state;
	make_msg(&w, 1, 300);
	for (size_t n = 0; n < w.len; n++) {
		uint8_t *cut = malloc(n ? n : 1), *out;
		size_t outlen;
		memcpy(cut, w.p, n);
		assert_int_equal(p2p_frag_peek(cut, n, &h), -1);
		assert_int_equal(p2p_reasm_add(r, cut, n, &s, 0, &out, &outlen),
		    P2P_REASM_DROP);
		free(cut);
	}
	/* top bit of the fragment field clear, reserved bits set */
	w.p[12] &= 0x7f;
	assert_int_equal(p2p_frag_peek(w.p, w.len, &h), -1);
	w.p[12] |= 0x81;
	assert_int_equal(p2p_frag_peek(w.p, w.len, &h), -1);
	assert_int_equal(p2p_reasm_get_stats(r)->fragments, 0);
	p2p_reasm_free(r);
	p2p_w_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_layout),
		cmocka_unit_test(test_split_emit_failure),
		cmocka_unit_test(test_refragment),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_out_of_order_and_duplicates),
		cmocka_unit_test(test_overlapping),
		cmocka_unit_test(test_gaps_and_timeout),
		cmocka_unit_test(test_memory_bounds),
		cmocka_unit_test(test_contradictions),
		cmocka_unit_test(test_peek_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
