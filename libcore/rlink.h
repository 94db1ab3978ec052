/*
 * rlink: the simple reliability of RFC 6940 s6.6.3 for the FramedMessages
 * of an overlay link over an unreliable transport (DTLS over UDP).
 *
 * Sender: every message goes out as a data frame with the next sequence
 * number and waits in a bounded window for the ACK of that number. A
 * message not acknowledged within the retransmission timeout is sent
 * again under a new sequence number (s6.6.3.1), the timeout doubling each
 * time; after max_tx transmissions the link is given up (failed). The
 * timeout comes from an RFC 6298 estimator fed by the ACKs: since every
 * transmission has its own number, each ACK is an unambiguous sample, and
 * an ACK of any earlier transmission of a message acknowledges it too.
 * Messages beyond the window wait in a bounded queue.
 *
 * Receiver: every data frame is acknowledged at once with its sequence
 * number and the received mask of the 32 numbers before it (frame.h).
 * Because a retransmission carries a new number, the receiver cannot tell
 * it by number from new data: it drops a message whose bytes it delivered
 * within the last dedup_ms (a 64-bit hash of each of the last 1024 messages).
 * RELOAD messages carry transaction ids and signatures, so two equal
 * messages so close together are copies; the window is kept shorter than
 * the end-to-end retransmission timer so those still get through.
 *
 * The transport (send callback) carries each frame in one record; the
 * rlink never sees addresses, keys or sockets. Time is the loop's.
 *
 * Lifetime: p2p_rlink_free may be called at any time, from its own
 * callbacks too; nothing is called back after it and the memory goes
 * when the loop has closed the timer.
 */
#ifndef P2P_RLINK_H
#define P2P_RLINK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "msg.h"

typedef struct p2p_rlink p2p_rlink;

typedef struct p2p_rlink_cbs {
	/* Send one record (a whole frame); 0, or -1 if it could not be
	 * queued (treated as a loss). */
	int (*send)(p2p_rlink *r, const uint8_t *rec, size_t len, void *arg);
	/* One message received, at most once each. */
	void (*deliver)(p2p_rlink *r, const uint8_t *msg, size_t len,
	    void *arg);
	/* The peer stopped acknowledging: called once, after which nothing
	 * is sent or delivered; the owner closes the link. */
	void (*failed)(p2p_rlink *r, const char *why, void *arg);
} p2p_rlink_cbs;

typedef struct p2p_rlink_opts {
	unsigned window;	/* messages unacknowledged at once; 0: 8 */
	unsigned max_queue;	/* messages waiting for the window; 0: 1024 */
	unsigned rto_ms;	/* before the first RTT sample; 0: 500 */
	unsigned min_rto_ms;	/* 0: 200 */
	unsigned max_rto_ms;	/* 0: 4000 */
	unsigned max_tx;	/* transmissions before giving up; 0: 5 */
	unsigned dedup_ms;	/* duplicate window; 0: 1500 */
	size_t max_msg;		/* largest message; 0: P2P_FRAME_MAX_MSG */
} p2p_rlink_opts;

typedef struct p2p_rlink_stats {
	uint64_t sent;		/* messages handed to p2p_rlink_send */
	uint64_t frames;	/* data frames sent, retransmissions too */
	uint64_t retransmits;
	uint64_t acked;		/* messages acknowledged */
	uint64_t acks_sent, acks_rcvd, acks_stale;
	uint64_t delivered, duplicates;
	unsigned srtt_ms, rto_ms;	/* srtt 0: no sample yet */
	unsigned in_flight, queued;
} p2p_rlink_stats;

/* NULL if out of memory. */
p2p_rlink *p2p_rlink_new(uv_loop_t *loop, const p2p_rlink_opts *o,
    const p2p_rlink_cbs *cbs, void *arg);
void p2p_rlink_free(p2p_rlink *r);

/*
 * Send a message (copied). 0, or -1 if the link has failed, the message
 * is empty or larger than max_msg, or the queue is full.
 */
int p2p_rlink_send(p2p_rlink *r, const uint8_t *msg, size_t len);
/*
 * A record from the peer: one frame (p2p_frame_decode). 0, or -1 with
 * err set for a record that is no frame or whose message is larger than
 * max_msg (err->reload_code P2P_ERR_MESSAGE_TOO_LARGE); the owner should
 * close the link then.
 */
int p2p_rlink_input(p2p_rlink *r, const uint8_t *rec, size_t len,
    p2p_err *err);
void p2p_rlink_stats_get(const p2p_rlink *r, p2p_rlink_stats *st);
/* Messages sent and not yet acknowledged, queued ones included. */
unsigned p2p_rlink_pending(const p2p_rlink *r);

#endif
