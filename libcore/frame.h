/*
 * frame: the per-hop FramedMessage of RFC 6940 s6.6.2 (framing header),
 * which carries every RELOAD message over a (D)TLS link.
 *
 *   data (0x80): uint32 sequence; opaque message<0..2^24-1>;
 *   ack  (0x81): uint32 ack_sequence; uint32 received;
 *
 * On a TLS/TCP stream frames follow each other with nothing in between;
 * p2p_frame_parse takes whatever has been buffered so far and says whether
 * a whole frame is there. It checks the message length against the
 * caller's maximum as soon as the 24-bit length has arrived, so a peer
 * cannot make us buffer a message we would refuse anyway. On DTLS each
 * record carries one frame: use p2p_frame_decode.
 */
#ifndef P2P_FRAME_H
#define P2P_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msg.h"

enum p2p_frame_type {
	P2P_FRAME_DATA = 0x80,
	P2P_FRAME_ACK = 0x81,
};

#define P2P_FRAME_DATA_HDR	8	/* type, sequence, u24 length */
#define P2P_FRAME_ACK_LEN	9	/* type, ack_sequence, received */
#define P2P_FRAME_MAX_MSG	0xffffffu

/* FramedMessage (RFC 6940 s6.6.2). */
typedef struct p2p_frame {
	uint8_t type;		/* p2p_frame_type */
	uint32_t seq;		/* DATA: sequence; ACK: ack_sequence */
	p2p_bytes message;	/* DATA: the RELOAD message (points into the
				   input) */
	uint32_t received;	/* ACK: see p2p_frame_received_mask */
} p2p_frame;

/* What p2p_frame_parse found. */
enum p2p_frame_status {
	P2P_FRAME_BAD = -1,	/* not a frame; the link should be closed */
	P2P_FRAME_MORE = 0,	/* need more bytes; nothing consumed */
	P2P_FRAME_OK = 1,	/* one whole frame in *out, *used bytes */
};

/*
 * Look at the first bytes of a stream. max_msg bounds the length of a
 * data frame's message (0: only the format's own 2^24-1); a longer one is
 * P2P_FRAME_BAD with err->reload_code P2P_ERR_MESSAGE_TOO_LARGE, decided
 * from the 8-byte header alone. Other bad frames (an unknown type) carry
 * P2P_ERR_INVALID_MESSAGE.
 */
int p2p_frame_parse(const uint8_t *buf, size_t len, size_t max_msg,
    p2p_frame *out, size_t *used, p2p_err *err);
/* Exactly one frame occupying all of in (a DTLS record). */
int p2p_frame_decode(p2p_bytes in, size_t max_msg, p2p_frame *out,
    p2p_err *err);

int p2p_frame_encode(p2p_wbuf *w, const p2p_frame *f);
int p2p_frame_data_encode(p2p_wbuf *w, uint32_t seq, const void *msg,
    size_t len);
int p2p_frame_ack_encode(p2p_wbuf *w, uint32_t ack_seq, uint32_t received);

/*
 * The receiver's memory of the last 32 data sequence numbers it took in,
 * from which it builds the 'received' field of each ACK.
 */
#define P2P_FRAME_HISTORY 32

typedef struct p2p_frame_history {
	uint32_t seq[P2P_FRAME_HISTORY];
	unsigned n;		/* entries in use, <= 32 */
	unsigned next;		/* slot the next entry goes to */
} p2p_frame_history;

void p2p_frame_history_init(p2p_frame_history *h);
void p2p_frame_history_add(p2p_frame_history *h, uint32_t seq);

/*
 * The 'received' mask for an ACK of data frame ack_seq (N). The RFC sets
 * a bit for every remembered M with N-32 < M < N, "the N-M bit", without
 * saying which end bit 1 is at. We count from the least significant bit
 * starting at 1, the reading Wireshark's dissector uses:
 *
 *     M = N - d, 1 <= d <= 31   ->   mask |= 1u << (d - 1)
 *
 * so bit 0 is N-1 and bit 30 is N-31; bit 31 (N-32) is outside the
 * range and always 0. Arithmetic is modulo 2^32. N itself is not in the
 * mask (ack_sequence says it). Peers disagree on the numbering, so the
 * mask is for loss statistics only; reliability rests on ack_sequence.
 */
uint32_t p2p_frame_received_mask(const p2p_frame_history *h,
    uint32_t ack_seq);
/* Remember data frame seq in h and write its ACK (with the received
 * mask) into out. */
void p2p_frame_ack_for(p2p_frame_history *h, uint32_t seq,
    uint8_t out[P2P_FRAME_ACK_LEN]);
/* Does an ACK of ack_seq with this mask say seq was received? */
int p2p_frame_mask_has(uint32_t ack_seq, uint32_t mask, uint32_t seq);

#endif
