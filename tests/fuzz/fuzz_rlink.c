/*
 * libFuzzer target: the reliability layer of DTLS links (rlink.c), as a
 * peer drives it: records arriving (frames or garbage), ACKs of what was
 * sent, messages to send, time passing.
 *
 * Input: a script of operations, each one byte followed by its operands:
 *   0 LEN BYTES   p2p_rlink_send of LEN (u8) bytes
 *   1 LEN2 BYTES  p2p_rlink_input of a record of LEN2 (u16) raw bytes
 *   2 IDX MASK4   an ACK of the IDX-th data frame sent, with MASK
 *   3 SEQ4 LEN BYTES  a data frame SEQ carrying LEN (u8) bytes
 *   4             let 2 ms pass and run the timers (at most 8 times)
 * Checks: every record the rlink sends is one whole frame; data frames
 * carry new sequence numbers and messages that were sent; every message
 * delivered is one a data frame carried; the counters agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "frame.h"
#include "rlink.h"

#define MAX_SEQS	4096

static struct {
	uint32_t seqs[MAX_SEQS];	/* data frames sent, in order */
	size_t nseqs;
	uint64_t delivered;
	int failed;
	const uint8_t *last_msg;	/* the last data frame's message */
	size_t last_len;
} S;

static int
f_send(p2p_rlink *r, const uint8_t *rec, size_t len, void *arg)
{
	p2p_bytes in = { rec, len };
	p2p_frame f;
	p2p_err e = { 0 };

	(void)r;
	(void)arg;
	if (p2p_frame_decode(in, 0, &f, &e) != 0)
		abort();
	if (f.type == P2P_FRAME_DATA) {
		for (size_t i = 0; i < S.nseqs; i++)
			if (S.seqs[i] == f.seq)
				abort();	/* a number used twice */
		if (f.message.len == 0 || f.message.len > 255)
			abort();
		if (S.nseqs < MAX_SEQS)
			S.seqs[S.nseqs++] = f.seq;
	}
	return 0;
}

static void
f_deliver(p2p_rlink *r, const uint8_t *msg, size_t len, void *arg)
{
	(void)r;
	(void)arg;
	if (S.last_msg == NULL || len != S.last_len ||
	    memcmp(msg, S.last_msg, len) != 0)
		abort();
	S.delivered++;
}

static void
f_failed(p2p_rlink *r, const char *why, void *arg)
{
	(void)r;
	(void)arg;
	if (why == NULL || S.failed)
		abort();
	S.failed = 1;
}

static const p2p_rlink_cbs cbs = { f_send, f_deliver, f_failed };

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uv_loop_t loop;
	static int init;
	p2p_rlink_opts o = { .window = 4, .max_queue = 16, .rto_ms = 1,
	    .min_rto_ms = 1, .max_rto_ms = 4, .max_tx = 3, .max_msg = 200 };
	p2p_rlink_stats st;
	p2p_rlink *r;
	size_t i = 0;
	int sleeps = 0;

	if (!init) {
		uv_loop_init(&loop);
		init = 1;
	}
	memset(&S, 0, sizeof(S));
	if ((r = p2p_rlink_new(&loop, &o, &cbs, NULL)) == NULL)
		return 0;
	while (i < size) {
		uint8_t op = data[i++];
		size_t n;
		p2p_err e = { 0 };

		switch (op % 5) {
		case 0:
			if (i >= size)
				break;
			n = data[i++];
			if (n > size - i)
				n = size - i;
			(void)p2p_rlink_send(r, data + i, n);
			i += n;
			break;
		case 1: {
			uint8_t *rec;
			if (size - i < 2)
				break;
			n = (size_t)data[i] << 8 | data[i + 1];
			i += 2;
			if (n > size - i)
				n = size - i;
			/* an exact-size copy, so over-reads are caught */
			if ((rec = malloc(n > 0 ? n : 1)) == NULL)
				break;
			memcpy(rec, data + i, n);
			S.last_msg = NULL;
			if (n >= P2P_FRAME_DATA_HDR && rec[0] == P2P_FRAME_DATA) {
				S.last_msg = rec + P2P_FRAME_DATA_HDR;
				S.last_len = n - P2P_FRAME_DATA_HDR;
			}
			(void)p2p_rlink_input(r, rec, n, &e);
			free(rec);
			i += n;
			break;
		}
		case 2: {
			uint8_t ack[P2P_FRAME_ACK_LEN];
			p2p_wbuf w;
			if (size - i < 5)
				break;
			p2p_w_init_fixed(&w, ack, sizeof(ack));
			if (p2p_frame_ack_encode(&w, S.nseqs > 0 ?
			    S.seqs[data[i] % S.nseqs] : data[i],
			    be32(data + i + 1)) != 0)
				abort();
			if (p2p_rlink_input(r, ack, sizeof(ack), &e) != 0)
				abort();
			i += 5;
			break;
		}
		case 3: {
			p2p_wbuf w;
			uint32_t seq;
			if (size - i < 5)
				break;
			seq = be32(data + i);
			n = data[i + 4];
			i += 5;
			if (n > size - i)
				n = size - i;
			p2p_w_init(&w, P2P_FRAME_DATA_HDR + n);
			if (p2p_frame_data_encode(&w, seq, data + i, n) != 0)
				abort();
			S.last_msg = w.p + P2P_FRAME_DATA_HDR;
			S.last_len = n;
			if (p2p_rlink_input(r, w.p, w.len, &e) != 0 &&
			    n <= o.max_msg)
				abort();
			p2p_w_free(&w);
			i += n;
			break;
		}
		default:
			if (sleeps++ < 8) {
				usleep(2000);
				uv_run(&loop, UV_RUN_NOWAIT);
			}
			break;
		}
		S.last_msg = NULL;
	}
	p2p_rlink_stats_get(r, &st);
	if (st.delivered != S.delivered || st.acked > st.sent ||
	    st.in_flight > o.window || st.queued > o.max_queue ||
	    (S.nseqs < MAX_SEQS && st.frames != S.nseqs) ||
	    p2p_rlink_pending(r) > st.sent - st.acked ||
	    st.delivered + st.duplicates > st.acks_sent)
		abort();
	p2p_rlink_free(r);
	uv_run(&loop, UV_RUN_NOWAIT);
	return 0;
}
