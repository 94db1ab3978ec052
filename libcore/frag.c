/*
 * frag: fragmentation and reassembly of RELOAD messages. See frag.h.
 */
#include "frag.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "msg.h"

#define OFF_FRAGMENT	12	/* of the fragment field in the header */
#define OFF_LENGTH	16	/* of the length field */

int
p2p_frag_peek(const uint8_t *buf, size_t len, p2p_frag_hdr *h)
{
	p2p_rbuf r;
	uint32_t token, length;
	uint16_t vialen, destlen, optlen;

	p2p_r_init(&r, buf, len);
	if (!p2p_r_u32(&r, &token) || token != P2P_RELO_TOKEN ||
	    !p2p_r_skip(&r, OFF_FRAGMENT - 4) ||
	    !p2p_r_u32(&r, &h->fragment) || !p2p_r_u32(&r, &length) ||
	    !p2p_r_u64(&r, &h->tid) || !p2p_r_skip(&r, 4) ||
	    !p2p_r_u16(&r, &vialen) || !p2p_r_u16(&r, &destlen) ||
	    !p2p_r_u16(&r, &optlen))
		return -1;
	if (length != len || !(h->fragment & P2P_FRAG_MARK) ||
	    (h->fragment & 0x3f000000u) != 0)
		return -1;
	h->hdrlen = P2P_FWD_FIXED_LEN + (size_t)vialen + destlen + optlen;
	return h->hdrlen <= len ? 0 : -1;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int
p2p_frag_split(const uint8_t *msg, size_t len, size_t mtu,
    p2p_frag_emit_cb emit, void *arg)
{
	p2p_frag_hdr h;
	size_t data, room, n, piece, off = 0;
	uint32_t base;
	uint8_t *buf;
	int count = 0;

	if (p2p_frag_peek(msg, len, &h) != 0)
		return -1;
	data = len - h.hdrlen;
	room = mtu > h.hdrlen + P2P_FRAG_SLACK ?
	    mtu - h.hdrlen - P2P_FRAG_SLACK : 0;
	if (len <= mtu || room < P2P_FRAG_MIN_PIECE)
		return emit(msg, len, arg) == 0 ? 1 : -1;
	base = h.fragment & P2P_FRAG_OFFSET_MASK;
	if (data > P2P_FRAG_MAX_OFFSET + 1 - (size_t)base)
		return -1;
	n = (data + room - 1) / room;
	piece = (data + n - 1) / n;
	if ((buf = malloc(h.hdrlen + piece)) == NULL)
		return -1;
	memcpy(buf, msg, h.hdrlen);
	while (off < data) {
		size_t k = data - off < piece ? data - off : piece;
		uint32_t f = P2P_FRAG_MARK | (uint32_t)(base + off);

		if (off + k == data)
			f |= h.fragment & P2P_FRAG_LAST;
		put32(buf + OFF_FRAGMENT, f);
		put32(buf + OFF_LENGTH, (uint32_t)(h.hdrlen + k));
		memcpy(buf + h.hdrlen, msg + h.hdrlen + off, k);
		if (emit(buf, h.hdrlen + k, arg) != 0) {
			free(buf);
			return -1;
		}
		off += k;
		count++;
	}
	free(buf);
	return count;
}

/* ---- reassembly ---- */

typedef struct range {
	size_t lo, hi;		/* [lo, hi) of the data */
} range;

typedef struct rmsg {
	uint64_t tid;
	p2p_id sender;
	uint64_t start_ms;
	uint8_t *hdr;
	size_t hdrlen;
	uint8_t *data;
	size_t cap;
	size_t total;		/* data length, once the last fragment came */
	int has_total;
	range r[P2P_REASM_MAX_RANGES];
	size_t nr;
	struct rmsg *next;
} rmsg;

struct p2p_reasm {
	p2p_reasm_limits lim;
	p2p_reasm_stats st;
	rmsg *msgs;
};

p2p_reasm *
p2p_reasm_new(const p2p_reasm_limits *lim)
{
	p2p_reasm *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->lim = *lim;
	if (r->lim.timeout_ms == 0)
		r->lim.timeout_ms = P2P_REASM_TIMEOUT_MS;
	return r;
}

static size_t
held(const rmsg *m)
{
	return m->hdrlen + m->cap;
}

/* Unlink m (found through pp) and free it. */
static void
drop(p2p_reasm *r, rmsg **pp)
{
	rmsg *m = *pp;

	*pp = m->next;
	r->st.msgs_held--;
	r->st.bytes_held -= held(m);
	free(m->hdr);
	free(m->data);
	free(m);
}

void
p2p_reasm_free(p2p_reasm *r)
{
	if (r == NULL)
		return;
	while (r->msgs != NULL)
		drop(r, &r->msgs);
	free(r);
}

const p2p_reasm_stats *
p2p_reasm_get_stats(const p2p_reasm *r)
{
	return &r->st;
}

uint64_t
p2p_reasm_next_due(const p2p_reasm *r)
{
	uint64_t t = UINT64_MAX;

	for (const rmsg *m = r->msgs; m != NULL; m = m->next)
		if (m->start_ms + r->lim.timeout_ms < t)
			t = m->start_ms + r->lim.timeout_ms;
	return t;
}

size_t
p2p_reasm_expire(p2p_reasm *r, uint64_t now_ms)
{
	size_t k = 0;

	for (rmsg **pp = &r->msgs; *pp != NULL;) {
		if (now_ms - (*pp)->start_ms >= r->lim.timeout_ms) {
			drop(r, pp);
			r->st.timeouts++;
			k++;
		} else {
			pp = &(*pp)->next;
		}
	}
	return k;
}

static rmsg **
find(p2p_reasm *r, uint64_t tid, const p2p_id *sender)
{
	rmsg **pp;

	for (pp = &r->msgs; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->tid == tid && p2p_id_eq(&(*pp)->sender, sender))
			break;
	return pp;
}

/* A new message in progress, holding a copy of the fragment's header. */
static rmsg *
start(p2p_reasm *r, const uint8_t *frag, const p2p_frag_hdr *h,
    const p2p_id *sender, uint64_t now_ms)
{
	rmsg *m;

	if (r->st.msgs_held >= r->lim.max_msgs ||
	    h->hdrlen > r->lim.max_bytes - r->st.bytes_held ||
	    (m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if ((m->hdr = malloc(h->hdrlen)) == NULL) {
		free(m);
		return NULL;
	}
	memcpy(m->hdr, frag, h->hdrlen);
	m->hdrlen = h->hdrlen;
	m->tid = h->tid;
	m->sender = *sender;
	m->start_ms = now_ms;
	m->next = r->msgs;
	r->msgs = m;
	r->st.msgs_held++;
	r->st.bytes_held += h->hdrlen;
	return m;
}

/* Make room for data up to end: 0, or -1 when a bound forbids it. */
static int
grow(p2p_reasm *r, rmsg *m, size_t end)
{
	size_t limit = r->lim.max_msg - m->hdrlen, ncap;
	uint8_t *p;

	if (end <= m->cap)
		return 0;
	if (m->has_total)
		ncap = m->total;
	else {
		ncap = m->cap ? m->cap : 1024;
		while (ncap < end)
			ncap *= 2;
		if (ncap > limit)
			ncap = limit;
	}
	if (ncap - m->cap > r->lim.max_bytes - r->st.bytes_held)
		return -1;
	if ((p = realloc(m->data, ncap)) == NULL)
		return -1;
	r->st.bytes_held += ncap - m->cap;
	m->data = p;
	m->cap = ncap;
	return 0;
}

/* Bytes already held inside [lo, hi) must equal the new ones. */
static int
consistent(const rmsg *m, size_t lo, size_t hi, const uint8_t *src)
{
	for (size_t i = 0; i < m->nr; i++) {
		size_t a = m->r[i].lo > lo ? m->r[i].lo : lo;
		size_t b = m->r[i].hi < hi ? m->r[i].hi : hi;
		if (a < b && memcmp(m->data + a, src + (a - lo), b - a) != 0)
			return 0;
	}
	return 1;
}

/* Is [lo, hi) held already? */
static int
covered(const rmsg *m, size_t lo, size_t hi)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->r[i].lo <= lo && hi <= m->r[i].hi)
			return 1;
	return 0;
}

/* Add [lo, hi) to the sorted, disjoint ranges, merging what touches it:
 * 0, or -1 when that would need more than P2P_REASM_MAX_RANGES. */
static int
add_range(rmsg *m, size_t lo, size_t hi)
{
	size_t i = 0, j;

	while (i < m->nr && m->r[i].hi < lo)
		i++;
	j = i;
	while (j < m->nr && m->r[j].lo <= hi) {
		if (m->r[j].lo < lo)
			lo = m->r[j].lo;
		if (m->r[j].hi > hi)
			hi = m->r[j].hi;
		j++;
	}
	if (i == j) {
		if (m->nr == P2P_REASM_MAX_RANGES)
			return -1;
		memmove(&m->r[i + 1], &m->r[i], (m->nr - i) * sizeof(range));
		m->nr++;
	} else if (j > i + 1) {
		memmove(&m->r[i + 1], &m->r[j], (m->nr - j) * sizeof(range));
		m->nr -= j - i - 1;
	}
	m->r[i].lo = lo;
	m->r[i].hi = hi;
	return 0;
}

/* The whole message: the kept header, patched, and the data. */
static int
finish(p2p_reasm *r, rmsg **pp, uint8_t **out, size_t *outlen)
{
	rmsg *m = *pp;
	size_t len = m->hdrlen + m->total;
	uint8_t *p = malloc(len);

	if (p == NULL) {
		drop(r, pp);
		r->st.overflows++;
		return P2P_REASM_DROP;
	}
	memcpy(p, m->hdr, m->hdrlen);
	memcpy(p + m->hdrlen, m->data, m->total);
	put32(p + OFF_FRAGMENT, P2P_FRAG_WHOLE);
	put32(p + OFF_LENGTH, (uint32_t)len);
	drop(r, pp);
	r->st.reassembled++;
	*out = p;
	*outlen = len;
	return P2P_REASM_DONE;
}

static int
fail(p2p_reasm *r, rmsg **pp, uint64_t *counter)
{
	if (pp != NULL && *pp != NULL)
		drop(r, pp);
	(*counter)++;
	return P2P_REASM_DROP;
}

int
p2p_reasm_add(p2p_reasm *r, const uint8_t *frag, size_t len,
    const p2p_id *sender, uint64_t now_ms, uint8_t **out, size_t *outlen)
{
	p2p_frag_hdr h;
	rmsg **pp, *m;
	size_t lo, hi;
	const uint8_t *src;

	*out = NULL;
	*outlen = 0;
	if (p2p_frag_peek(frag, len, &h) != 0)
		return fail(r, NULL, &r->st.bad);
	r->st.fragments++;
	src = frag + h.hdrlen;
	lo = h.fragment & P2P_FRAG_OFFSET_MASK;
	hi = lo + (len - h.hdrlen);
	pp = find(r, h.tid, sender);
	if (*pp == NULL) {
		if (h.hdrlen > r->lim.max_msg || hi > r->lim.max_msg - h.hdrlen)
			return fail(r, NULL, &r->st.overflows);
		if ((m = start(r, frag, &h, sender, now_ms)) == NULL)
			return fail(r, NULL, &r->st.overflows);
		pp = &r->msgs;
	}
	m = *pp;
	if (hi > r->lim.max_msg - m->hdrlen)
		return fail(r, pp, &r->st.overflows);
	if (lo == hi && !(h.fragment & P2P_FRAG_LAST))
		return fail(r, pp, &r->st.bad);
	if (h.fragment & P2P_FRAG_LAST) {
		/* hi 0: a message of no bytes past its header, none at all */
		if (hi == 0 || (m->has_total && m->total != hi) ||
		    (m->nr > 0 && m->r[m->nr - 1].hi > hi))
			return fail(r, pp, &r->st.bad);
		m->total = hi;
		m->has_total = 1;
	} else if (m->has_total && hi > m->total) {
		return fail(r, pp, &r->st.bad);
	}
	if (grow(r, m, hi) != 0)
		return fail(r, pp, &r->st.overflows);
	if (!consistent(m, lo, hi, src))
		return fail(r, pp, &r->st.bad);
	if (lo < hi && covered(m, lo, hi)) {
		r->st.duplicates++;
	} else if (lo < hi) {
		memcpy(m->data + lo, src, hi - lo);
		if (add_range(m, lo, hi) != 0)
			return fail(r, pp, &r->st.overflows);
	}
	if (m->has_total && m->nr == 1 && m->r[0].lo == 0 &&
	    m->r[0].hi == m->total)
		return finish(r, pp, out, outlen);
	return P2P_REASM_MORE;
}
