#include "frame.h"

#include <string.h>

static int
frame_bad(p2p_err *err, uint16_t code, const char *what)
{
	p2p_err_set(err, code, what, 0);
	return P2P_FRAME_BAD;
}

int
p2p_frame_parse(const uint8_t *buf, size_t len, size_t max_msg,
    p2p_frame *out, size_t *used, p2p_err *err)
{
	p2p_rbuf r;
	uint8_t type;
	uint32_t mlen;

	memset(out, 0, sizeof(*out));
	*used = 0;
	p2p_r_init(&r, buf, len);
	if (!p2p_r_u8(&r, &type))
		return P2P_FRAME_MORE;
	switch (type) {
	case P2P_FRAME_ACK:
		if (!p2p_r_u32(&r, &out->seq) || !p2p_r_u32(&r, &out->received))
			return P2P_FRAME_MORE;
		break;
	case P2P_FRAME_DATA:
		if (!p2p_r_u32(&r, &out->seq) || !p2p_r_u24(&r, &mlen))
			return P2P_FRAME_MORE;
		if (max_msg != 0 && mlen > max_msg)
			return frame_bad(err, P2P_ERR_MESSAGE_TOO_LARGE,
			    "framed message exceeds max-message-size");
		if (!p2p_r_bytes(&r, mlen, &out->message))
			return P2P_FRAME_MORE;
		break;
	default:
		return frame_bad(err, P2P_ERR_INVALID_MESSAGE,
		    "unknown FramedMessage type");
	}
	out->type = type;
	*used = len - p2p_r_left(&r);
	return P2P_FRAME_OK;
}

int
p2p_frame_decode(p2p_bytes in, size_t max_msg, p2p_frame *out, p2p_err *err)
{
	size_t used;
	int rc;

	rc = p2p_frame_parse(in.p, in.len, max_msg, out, &used, err);
	if (rc == P2P_FRAME_BAD)
		return -1;
	if (rc == P2P_FRAME_MORE) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE, "frame truncated",
		    in.len);
		return -1;
	}
	if (used != in.len) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "trailing bytes after the frame", used);
		return -1;
	}
	return 0;
}

int
p2p_frame_data_encode(p2p_wbuf *w, uint32_t seq, const void *msg, size_t len)
{
	if (len > P2P_FRAME_MAX_MSG)
		return -1;
	p2p_w_u8(w, P2P_FRAME_DATA);
	p2p_w_u32(w, seq);
	p2p_w_vec(w, 3, msg, len);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_frame_ack_encode(p2p_wbuf *w, uint32_t ack_seq, uint32_t received)
{
	p2p_w_u8(w, P2P_FRAME_ACK);
	p2p_w_u32(w, ack_seq);
	p2p_w_u32(w, received);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_frame_encode(p2p_wbuf *w, const p2p_frame *f)
{
	switch (f->type) {
	case P2P_FRAME_DATA:
		return p2p_frame_data_encode(w, f->seq, f->message.p,
		    f->message.len);
	case P2P_FRAME_ACK:
		return p2p_frame_ack_encode(w, f->seq, f->received);
	default:
		return -1;
	}
}

void
p2p_frame_history_init(p2p_frame_history *h)
{
	memset(h, 0, sizeof(*h));
}

void
p2p_frame_history_add(p2p_frame_history *h, uint32_t seq)
{
	h->seq[h->next] = seq;
	h->next = (h->next + 1) % P2P_FRAME_HISTORY;
	if (h->n < P2P_FRAME_HISTORY)
		h->n++;
}

void
p2p_frame_ack_for(p2p_frame_history *h, uint32_t seq,
    uint8_t out[P2P_FRAME_ACK_LEN])
{
	uint32_t mask;

	p2p_frame_history_add(h, seq);
	mask = p2p_frame_received_mask(h, seq);
	out[0] = P2P_FRAME_ACK;
	for (int i = 0; i < 4; i++) {
		out[1 + i] = (uint8_t)(seq >> (24 - 8 * i));
		out[5 + i] = (uint8_t)(mask >> (24 - 8 * i));
	}
}

uint32_t
p2p_frame_received_mask(const p2p_frame_history *h, uint32_t ack_seq)
{
	uint32_t mask = 0;

	for (unsigned i = 0; i < h->n; i++) {
		uint32_t d = ack_seq - h->seq[i];	/* mod 2^32 */
		if (d >= 1 && d <= 31)
			mask |= (uint32_t)1 << (d - 1);
	}
	return mask;
}

int
p2p_frame_mask_has(uint32_t ack_seq, uint32_t mask, uint32_t seq)
{
	uint32_t d = ack_seq - seq;

	if (d == 0)
		return 1;
	if (d > 31)
		return 0;
	return (mask >> (d - 1)) & 1;
}
