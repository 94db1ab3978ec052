/*
 * libFuzzer target: fragmentation and reassembly (frag.h).
 *
 * Input: byte 0 picks the bounds (max_msg, max_bytes, max_msgs), then
 * records of  u16 length, u8 sender, u8 time step, fragment bytes  fed to
 * one reassembler (each fragment copied to a heap block of its exact
 * size, so an over-read is caught). After every call the bounds must
 * hold; a whole message must be well formed, within max_msg, and survive
 * being split at a small MTU and put together again by a second
 * reassembler byte for byte. Every record that is a well-formed header is
 * also split at an MTU of its choosing, and the pieces must cover it
 * exactly. Expiry runs as time passes; at the end the reassembler is
 * freed with whatever it holds (LeakSanitizer checks nothing stays).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frag.h"
#include "msg.h"

static const p2p_reasm_limits bounds[] = {
	{ 5000, 20000, 4, 1000 },
	{ 70000, 200000, 8, 5000 },
	{ 1200, 1500, 1, 100 },
	{ 100000, 100000, 64, 15000 },
};

struct collect {
	p2p_reasm *r;
	const uint8_t *orig;
	size_t len, covered;
	int done;
};

/* Feed each piece of a split whole message to the second reassembler. */
static int
refeed(const uint8_t *frag, size_t len, void *arg)
{
	struct collect *c = arg;
	p2p_id s;
	uint8_t *out;
	size_t outlen;
	int st;

	memset(&s, 0x5a, sizeof(s));
	st = p2p_reasm_add(c->r, frag, len, &s, 0, &out, &outlen);
	if (st == P2P_REASM_DROP || c->done)
		abort();
	if (st == P2P_REASM_DONE) {
		if (outlen != c->len || memcmp(out, c->orig, outlen) != 0)
			abort();
		free(out);
		c->done = 1;
	}
	return 0;
}

static void
check_whole(const uint8_t *msg, size_t len, const p2p_reasm_limits *lim)
{
	p2p_frag_hdr h;
	p2p_reasm_limits big = { len, 4 * len, 1, 0 };
	struct collect c = { NULL, msg, len, 0, 0 };
	int n;

	if (len > lim->max_msg || p2p_frag_peek(msg, len, &h) != 0 ||
	    h.fragment != P2P_FRAG_WHOLE)
		abort();
	if ((c.r = p2p_reasm_new(&big)) == NULL)
		abort();
	n = p2p_frag_split(msg, len, h.hdrlen + P2P_FRAG_SLACK +
	    P2P_FRAG_MIN_PIECE, refeed, &c);
	if (n < 1 || (n > 1 && !c.done))
		abort();
	p2p_reasm_free(c.r);
}

static int
count(const uint8_t *frag, size_t len, void *arg)
{
	struct collect *c = arg;
	p2p_frag_hdr h;

	if (p2p_frag_peek(frag, len, &h) != 0)
		abort();
	c->covered += len - h.hdrlen;
	return 0;
}

/* Split a record that has a good header; the pieces carry its data. */
static void
check_split(const uint8_t *p, size_t len, size_t mtu)
{
	p2p_frag_hdr h;
	struct collect c = { NULL, p, len, 0, 0 };
	int n;

	if (p2p_frag_peek(p, len, &h) != 0)
		return;
	n = p2p_frag_split(p, len, mtu, count, &c);
	if (n >= 1 && c.covered != len - h.hdrlen)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const p2p_reasm_limits *lim;
	p2p_reasm *r;
	const p2p_reasm_stats *st;
	uint64_t now = 0;
	size_t off = 1;

	if (size < 1)
		return 0;
	lim = &bounds[data[0] % (sizeof(bounds) / sizeof(bounds[0]))];
	if ((r = p2p_reasm_new(lim)) == NULL)
		return 0;
	st = p2p_reasm_get_stats(r);
	while (size - off >= 4) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		p2p_id s;
		uint8_t *frag, *out;
		size_t outlen;
		int rc;

		memset(&s, data[off + 2] & 3, sizeof(s));
		now += data[off + 3] * 10u;
		off += 4;
		if (len > size - off)
			len = size - off;
		if ((frag = malloc(len ? len : 1)) == NULL)
			break;
		memcpy(frag, data + off, len);
		off += len;
		check_split(frag, len, 64 + (size_t)data[0] * 16);
		rc = p2p_reasm_add(r, frag, len, &s, now, &out, &outlen);
		free(frag);
		if (rc == P2P_REASM_DONE) {
			check_whole(out, outlen, lim);
			free(out);
		} else if (out != NULL) {
			abort();
		}
		(void)p2p_reasm_expire(r, now);
		if (st->bytes_held > lim->max_bytes ||
		    st->msgs_held > lim->max_msgs)
			abort();
	}
	p2p_reasm_free(r);
	return 0;
}
