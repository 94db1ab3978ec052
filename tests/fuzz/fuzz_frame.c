/*
 * libFuzzer target: the stream framing parser, p2p_frame_parse.
 *
 * Input: byte 0 picks the max-message-size, bytes 1-2 seed the chunking,
 * the rest is the stream. The stream is parsed once as a whole and once
 * as a receiver would see it, in chunks of pseudo-random sizes appended
 * to a buffer (every chunk copied to a heap block of its exact size, so
 * any over-read is caught). Both must find the same frames and end the
 * same way. Every frame found is re-encoded and must give back its bytes,
 * and p2p_frame_decode must accept those bytes alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define MAX_FRAMES	4096

struct found {
	uint8_t type;
	uint32_t seq, received;
	size_t off, len;	/* of the whole frame in the stream */
};

struct run {
	struct found f[MAX_FRAMES];
	size_t n;
	int end;		/* P2P_FRAME_BAD or P2P_FRAME_MORE */
	uint16_t code;		/* reload_code of a BAD end */
	size_t end_off;		/* stream offset of the frame that ended */
};

static struct run whole, chunked;

static const size_t max_msgs[] = { 0, 1, 16, 100, 1024, 65535,
    P2P_FRAME_MAX_MSG };

/* Check one frame found at stream offset off and record it. */
static void
record(struct run *r, const p2p_frame *f, const uint8_t *p, size_t used,
    size_t off, size_t max_msg)
{
	p2p_frame g;
	p2p_wbuf w;
	p2p_err err;

	if (used == 0 || r->n == MAX_FRAMES)
		abort();
	if (f->type == P2P_FRAME_DATA) {
		if (used != P2P_FRAME_DATA_HDR + f->message.len ||
		    f->message.p != p + P2P_FRAME_DATA_HDR ||
		    (max_msg != 0 && f->message.len > max_msg))
			abort();
	} else if (f->type != P2P_FRAME_ACK || used != P2P_FRAME_ACK_LEN) {
		abort();
	}
	p2p_w_init(&w, used);
	if (p2p_frame_encode(&w, f) != 0 || w.len != used ||
	    memcmp(w.p, p, used) != 0)
		abort();
	p2p_w_free(&w);
	if (p2p_frame_decode((p2p_bytes){ p, used }, max_msg, &g, &err) != 0 ||
	    g.type != f->type || g.seq != f->seq || g.received != f->received)
		abort();
	r->f[r->n++] = (struct found){ f->type, f->seq, f->received, off,
	    used };
}

/* Parse what buf holds from *pos; returns 1 once the stream went bad. */
static int
drain(struct run *r, const uint8_t *buf, size_t len, size_t *pos,
    size_t base, size_t max_msg)
{
	p2p_frame f;
	p2p_err err;
	size_t used;
	int rc;

	for (;;) {
		memset(&err, 0, sizeof(err));
		rc = p2p_frame_parse(buf + *pos, len - *pos, max_msg, &f, &used,
		    &err);
		if (rc == P2P_FRAME_MORE) {
			if (used != 0)
				abort();
			return 0;
		}
		if (rc == P2P_FRAME_BAD) {
			if (err.reload_code != P2P_ERR_MESSAGE_TOO_LARGE &&
			    err.reload_code != P2P_ERR_INVALID_MESSAGE)
				abort();
			r->end = P2P_FRAME_BAD;
			r->code = err.reload_code;
			r->end_off = base + *pos;
			return 1;
		}
		if (rc != P2P_FRAME_OK || used > len - *pos)
			abort();
		record(r, &f, buf + *pos, used, base + *pos, max_msg);
		*pos += used;
	}
}

static void
parse_whole(const uint8_t *s, size_t n, size_t max_msg)
{
	size_t pos = 0;

	memset(&whole, 0, sizeof(whole));
	whole.end = P2P_FRAME_MORE;
	if (drain(&whole, s, n, &pos, 0, max_msg) == 0)
		whole.end_off = pos;
}

/* A receiver: append chunks, parse, drop what was consumed. */
static void
parse_chunked(const uint8_t *s, size_t n, size_t max_msg, uint32_t seed)
{
	uint8_t *buf = NULL, *chunk, *nb;
	size_t have = 0, pos, base = 0, off = 0, k;

	memset(&chunked, 0, sizeof(chunked));
	chunked.end = P2P_FRAME_MORE;
	while (off < n) {
		seed = seed * 1103515245u + 12345u;
		k = 1 + (seed >> 16) % ((seed & 1) ? 9 : 300);
		if (k > n - off)
			k = n - off;
		/* the new bytes in a block of their own, then appended */
		if ((chunk = malloc(k)) == NULL ||
		    (nb = realloc(buf, have + k)) == NULL)
			abort();
		memcpy(chunk, s + off, k);
		buf = nb;
		memcpy(buf + have, chunk, k);
		free(chunk);
		have += k;
		off += k;
		/* parse from an exact-size copy of what is buffered */
		if ((chunk = malloc(have ? have : 1)) == NULL)
			abort();
		memcpy(chunk, buf, have);
		pos = 0;
		k = (size_t)drain(&chunked, chunk, have, &pos, base, max_msg);
		free(chunk);
		if (k != 0)
			break;
		memmove(buf, buf + pos, have - pos);
		have -= pos;
		base += pos;
	}
	if (chunked.end == P2P_FRAME_MORE)
		chunked.end_off = base;
	free(buf);
}

static int
same(const struct found *x, const struct found *y)
{
	return x->type == y->type && x->seq == y->seq &&
	    x->received == y->received && x->off == y->off && x->len == y->len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max_msg;
	uint32_t seed;

	if (size < 3)
		return 0;
	max_msg = max_msgs[data[0] % (sizeof(max_msgs) / sizeof(max_msgs[0]))];
	seed = (uint32_t)data[1] << 8 | data[2];
	parse_whole(data + 3, size - 3, max_msg);
	parse_chunked(data + 3, size - 3, max_msg, seed);
	if (whole.n != chunked.n || whole.end != chunked.end ||
	    whole.code != chunked.code || whole.end_off != chunked.end_off)
		abort();	/* the chunking changed what was found */
	for (size_t i = 0; i < whole.n; i++)
		if (!same(&whole.f[i], &chunked.f[i]))
			abort();
	return 0;
}
