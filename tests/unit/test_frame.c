#include "unit.h"

#include "frame.h"

/* ---- golden frames, written by hand from RFC 6940 s6.6.2 ---- */

static void
test_golden_data_and_ack(void **state)
{
	uint8_t buf[64];
	size_t n, used;
	p2p_frame f;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	/* data frame, sequence 5, a 3-byte message */
	n = unit_hex("80 00000005 000003 aabbcc", buf, sizeof(buf));
	assert_int_equal(p2p_frame_parse(buf, n, 5000, &f, &used, &err),
	    P2P_FRAME_OK);
	assert_int_equal(used, 11);
	assert_int_equal(f.type, P2P_FRAME_DATA);
	assert_int_equal(f.seq, 5);
	assert_int_equal(f.message.len, 3);
	assert_int_equal(f.message.p[0], 0xaa);
	assert_int_equal(f.message.p[2], 0xcc);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_frame_encode(&w, &f), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);

	/* ack of sequence 7 with 5 and 6 received (bits 1 and 0) */
	n = unit_hex("81 00000007 00000003", buf, sizeof(buf));
	assert_int_equal(p2p_frame_parse(buf, n, 5000, &f, &used, &err),
	    P2P_FRAME_OK);
	assert_int_equal(used, P2P_FRAME_ACK_LEN);
	assert_int_equal(f.type, P2P_FRAME_ACK);
	assert_int_equal(f.seq, 7);
	assert_int_equal(f.received, 3);
	assert_true(p2p_frame_mask_has(f.seq, f.received, 6));
	assert_true(p2p_frame_mask_has(f.seq, f.received, 5));
	assert_false(p2p_frame_mask_has(f.seq, f.received, 4));

	p2p_w_reset(&w);
	assert_int_equal(p2p_frame_ack_encode(&w, 7, 3), 0);
	assert_int_equal(w.len, n);
	assert_memory_equal(w.p, buf, n);

	/* an empty data message is a valid frame */
	n = unit_hex("80 ffffffff 000000", buf, sizeof(buf));
	assert_int_equal(p2p_frame_parse(buf, n, 5000, &f, &used, &err),
	    P2P_FRAME_OK);
	assert_int_equal(used, P2P_FRAME_DATA_HDR);
	assert_int_equal(f.seq, 0xffffffffu);
	assert_int_equal(f.message.len, 0);
	p2p_w_free(&w);
}

/* ---- a stream split at every offset ---- */

typedef struct seen {
	uint8_t type;
	uint32_t seq;
	uint32_t received;
	size_t msg_off;		/* where the message sits in the stream */
	size_t msg_len;
} seen;

static uint8_t stream[600];
static size_t stream_len;
static seen want[3];

static void
build_stream(void)
{
	static uint8_t big[300];
	p2p_wbuf w;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ 0x5a);
	p2p_w_init_fixed(&w, stream, sizeof(stream));
	assert_int_equal(p2p_frame_data_encode(&w, 1, "hello", 5), 0);
	want[0] = (seen){ P2P_FRAME_DATA, 1, 0, 8, 5 };
	assert_int_equal(p2p_frame_ack_encode(&w, 99, 0x80000001u), 0);
	want[1] = (seen){ P2P_FRAME_ACK, 99, 0x80000001u, 0, 0 };
	want[2] = (seen){ P2P_FRAME_DATA, 2, 0, w.len + 8, sizeof(big) };
	assert_int_equal(p2p_frame_data_encode(&w, 2, big, sizeof(big)), 0);
	stream_len = w.len;
	assert_int_equal(stream_len, 13 + 9 + 308);
}

/*
 * Parse stream[start, end) the way a link would: as many whole frames as
 * are there, each parse on an exactly-sized heap copy so that ASan sees any
 * read past what has arrived. Returns the new start.
 */
static size_t
drain(size_t start, size_t end, size_t *ngot)
{
	for (;;) {
		size_t n = end - start, used;
		uint8_t *cp = malloc(n ? n : 1);
		p2p_frame f;
		p2p_err err;
		int rc;

		memcpy(cp, stream + start, n);
		rc = p2p_frame_parse(cp, n, 5000, &f, &used, &err);
		if (rc == P2P_FRAME_MORE) {
			assert_int_equal(used, 0);
			free(cp);
			return start;
		}
		assert_int_equal(rc, P2P_FRAME_OK);
		assert_true(*ngot < 3);
		const seen *s = &want[*ngot];
		assert_int_equal(f.type, s->type);
		assert_int_equal(f.seq, s->seq);
		if (s->type == P2P_FRAME_ACK)
			assert_int_equal(f.received, s->received);
		else {
			assert_int_equal(f.message.len, s->msg_len);
			assert_memory_equal(f.message.p, stream + s->msg_off,
			    s->msg_len);
		}
		assert_true(used > 0 && used <= n);
		start += used;
		(*ngot)++;
		free(cp);
	}
}

static void
test_stream_split_everywhere(void **state)
{
	size_t start, got;

	(void)state;
	build_stream();
	for (size_t k = 0; k <= stream_len; k++) {
		got = 0;
		start = drain(0, k, &got);
		start = drain(start, stream_len, &got);
		assert_int_equal(got, 3);
		assert_int_equal(start, stream_len);
	}
	/* one byte at a time */
	got = 0;
	start = 0;
	for (size_t e = 0; e <= stream_len; e++)
		start = drain(start, e, &got);
	assert_int_equal(got, 3);
	assert_int_equal(start, stream_len);
}

/* ---- limits and bad frames ---- */

static void
test_oversize_rejected_early(void **state)
{
	uint8_t buf[16];
	size_t n, used;
	p2p_frame f;
	p2p_err err;

	(void)state;
	/* only the 8-byte header of a 5001-byte message has arrived */
	n = unit_hex("80 00000001 001389", buf, sizeof(buf));
	assert_int_equal(p2p_frame_parse(buf, n, 5000, &f, &used, &err),
	    P2P_FRAME_BAD);
	assert_int_equal(err.reload_code, P2P_ERR_MESSAGE_TOO_LARGE);
	assert_int_equal(used, 0);
	/* 7 bytes: the length is not known yet */
	assert_int_equal(p2p_frame_parse(buf, 7, 5000, &f, &used, &err),
	    P2P_FRAME_MORE);
	/* exactly the maximum is fine: wait for the body */
	n = unit_hex("80 00000001 001388", buf, sizeof(buf));
	assert_int_equal(p2p_frame_parse(buf, n, 5000, &f, &used, &err),
	    P2P_FRAME_MORE);
	/* without a configured maximum even 2^24-1 is only "need more" */
	n = unit_hex("80 00000001 ffffff", buf, sizeof(buf));
	assert_int_equal(p2p_frame_parse(buf, n, 0, &f, &used, &err),
	    P2P_FRAME_MORE);
	/* a 2^24 byte message cannot be framed */
	{
		p2p_wbuf w;
		p2p_w_init(&w, 0);
		assert_int_equal(p2p_frame_data_encode(&w, 1, NULL,
		    P2P_FRAME_MAX_MSG + 1), -1);
		p2p_w_free(&w);
	}
}

static void
test_bad_frames(void **state)
{
	static const uint8_t types[] = { 0x00, 0x01, 0x7f, 0x82, 0xff };
	uint8_t buf[16];
	size_t n, used;
	p2p_frame f;
	p2p_err err;
	p2p_wbuf w;

	(void)state;
	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < sizeof(types); i++) {
		buf[0] = types[i];
		/* decided from the first byte alone */
		assert_int_equal(p2p_frame_parse(buf, 1, 5000, &f, &used,
		    &err), P2P_FRAME_BAD);
		assert_int_equal(err.reload_code, P2P_ERR_INVALID_MESSAGE);
	}
	/* nothing buffered yet */
	assert_int_equal(p2p_frame_parse(buf, 0, 5000, &f, &used, &err),
	    P2P_FRAME_MORE);

	/* exact decoding (one frame per DTLS record) */
	n = unit_hex("81 00000007 00000003 00", buf, sizeof(buf));
	assert_int_equal(p2p_frame_decode((p2p_bytes){ buf, n - 1 }, 0, &f,
	    &err), 0);
	assert_int_equal(f.seq, 7);
	assert_int_equal(p2p_frame_decode((p2p_bytes){ buf, n }, 0, &f,
	    &err), -1);
	assert_string_equal(err.what, "trailing bytes after the frame");
	assert_int_equal(p2p_frame_decode((p2p_bytes){ buf, n - 2 }, 0, &f,
	    &err), -1);
	n = unit_hex("80 00000001 000002 aa", buf, sizeof(buf));
	assert_int_equal(p2p_frame_decode((p2p_bytes){ buf, n }, 0, &f,
	    &err), -1);

	/* unknown type cannot be encoded */
	memset(&f, 0, sizeof(f));
	f.type = 0x82;
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_frame_encode(&w, &f), -1);
	p2p_w_free(&w);
}

/* ---- the received mask ---- */

static void
test_received_mask(void **state)
{
	p2p_frame_history h;
	uint32_t m;

	(void)state;
	p2p_frame_history_init(&h);
	assert_int_equal(p2p_frame_received_mask(&h, 10), 0);

	/* 1, 2, 3, 5 arrived (4 lost); ack of 6: d = 1, 3, 4, 5 */
	p2p_frame_history_add(&h, 1);
	p2p_frame_history_add(&h, 2);
	p2p_frame_history_add(&h, 3);
	p2p_frame_history_add(&h, 5);
	m = p2p_frame_received_mask(&h, 6);
	assert_int_equal(m, 0x1d);
	assert_true(p2p_frame_mask_has(6, m, 5));
	assert_false(p2p_frame_mask_has(6, m, 4));
	assert_true(p2p_frame_mask_has(6, m, 1));
	assert_true(p2p_frame_mask_has(6, m, 6));
	assert_false(p2p_frame_mask_has(6, m, 7));

	/* 32 in a row, 10..41, ack of 42: N-31..N-1 set, N-32 outside */
	p2p_frame_history_init(&h);
	for (uint32_t s = 10; s <= 41; s++)
		p2p_frame_history_add(&h, s);
	assert_int_equal(h.n, 32);
	assert_int_equal(p2p_frame_received_mask(&h, 42), 0x7fffffffu);
	assert_false(p2p_frame_mask_has(42, 0xffffffffu, 10));

	/* history keeps only the last 32: after 40 adds, 0..7 are gone */
	p2p_frame_history_init(&h);
	for (uint32_t s = 0; s < 40; s++)
		p2p_frame_history_add(&h, s);
	assert_int_equal(h.n, 32);
	m = p2p_frame_received_mask(&h, 9);	/* 8 is remembered, d = 1 */
	assert_int_equal(m, 1);

	/* sequence numbers wrap modulo 2^32 */
	p2p_frame_history_init(&h);
	p2p_frame_history_add(&h, 0xfffffffeu);
	p2p_frame_history_add(&h, 0xffffffffu);
	m = p2p_frame_received_mask(&h, 0);
	assert_int_equal(m, 0x3);
	assert_true(p2p_frame_mask_has(0, m, 0xfffffffeu));
	/* frames newer than the ack are not in its mask */
	p2p_frame_history_add(&h, 1);
	assert_int_equal(p2p_frame_received_mask(&h, 0), 0x3);
}

/* An ACK built from the history decodes to the same numbers. */
static void
test_ack_for(void **state)
{
	p2p_frame_history h;
	uint8_t ack[P2P_FRAME_ACK_LEN];
	p2p_frame f;
	p2p_err e = { 0 };
	p2p_bytes in = { ack, sizeof(ack) };

	(void)state;
	p2p_frame_history_init(&h);
	p2p_frame_ack_for(&h, 0x01020304u, ack);
	p2p_frame_ack_for(&h, 0x01020306u, ack);
	assert_int_equal(h.n, 2);
	assert_int_equal(p2p_frame_decode(in, 0, &f, &e), 0);
	assert_int_equal(f.type, P2P_FRAME_ACK);
	assert_int_equal(f.seq, 0x01020306u);
	assert_int_equal(f.received, 0x2);	/* N-2 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_data_and_ack),
		cmocka_unit_test(test_stream_split_everywhere),
		cmocka_unit_test(test_oversize_rejected_early),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_received_mask),
		cmocka_unit_test(test_ack_for),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
