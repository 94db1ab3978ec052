/*
 * frag: fragmentation and reassembly of RELOAD messages (RFC 6940 s6.7).
 *
 * A message longer than a link's MTU leaves as several fragments. Each
 * repeats the whole forwarding header (via and destination lists,
 * options) with its own length field and a fragment field of
 *
 *     bit 31 always set | bit 30 last fragment | bits 23..0 offset
 *
 * where the offset counts the bytes that follow the forwarding header.
 * The signature covers only what follows the header, so a message is
 * signed once, before it is split, and verified once, after the final
 * destination put it together again. Forwarders pass fragments on as
 * they are and split them further for a link with a smaller MTU (the
 * offsets stay those of the original message).
 *
 * Splitting: pieces of equal size (the last may be shorter), each
 * fragment at most mtu - P2P_FRAG_SLACK bytes with its header (the slack
 * leaves room for the via list to grow on later hops), and at least
 * P2P_FRAG_MIN_PIECE bytes of message per fragment. A message whose
 * header leaves no room for that is sent whole: the link copes or not.
 *
 * Reassembly: messages in progress are keyed by transaction id and the
 * sending node (the caller names it: the first via entry of a request,
 * the previous hop otherwise). Received byte ranges are kept merged;
 * bytes that arrive twice must be the same (a fragment that contradicts
 * one already held drops the whole message, as does one past the end the
 * last fragment set). Bounds, all counted and never exceeded:
 *   - a reassembled message is at most max_msg bytes with its header;
 *   - max_msgs messages in progress at once, and max_bytes of buffers
 *     (headers and data) over all of them: a fragment that would need
 *     more is dropped together with what is held of its message;
 *   - a message not complete timeout_ms after its first fragment is
 *     dropped by p2p_reasm_expire (15 s by default, the RFC's figure).
 * The whole message gets the header of the first fragment that arrived,
 * with the fragment field of an unfragmented message and its real length.
 */
#ifndef P2P_FRAG_H
#define P2P_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "id.h"

#define P2P_FRAG_SLACK		32	/* room for via growth, bytes */
#define P2P_FRAG_MIN_PIECE	256	/* message bytes per fragment, least */
#define P2P_FRAG_MAX_OFFSET	0xffffffu
#define P2P_REASM_TIMEOUT_MS	15000
#define P2P_REASM_MAX_RANGES	64	/* disjoint pieces held per message */

/* The forwarding header of an encoded message or fragment. */
typedef struct p2p_frag_hdr {
	size_t hdrlen;		/* fixed part and the three lists */
	uint32_t fragment;	/* the fragment field */
	uint64_t tid;		/* transaction id */
} p2p_frag_hdr;

/* Read the header of buf (len bytes, whose length field must say len):
 * 0, or -1 when it is not a well-formed RELOAD forwarding header. */
int p2p_frag_peek(const uint8_t *buf, size_t len, p2p_frag_hdr *h);

/* Called for every fragment, in order; nonzero stops the split. */
typedef int (*p2p_frag_emit_cb)(const uint8_t *frag, size_t len, void *arg);

/*
 * Send msg (a whole message or a fragment) through emit in pieces of at
 * most mtu bytes. Returns the number of pieces emitted (1: msg went
 * whole, as it is), or -1: msg is malformed, an offset would not fit in
 * 24 bits, memory ran out, or emit failed.
 */
int p2p_frag_split(const uint8_t *msg, size_t len, size_t mtu,
    p2p_frag_emit_cb emit, void *arg);

typedef struct p2p_reasm_limits {
	size_t max_msg;		/* a whole message, header included */
	size_t max_bytes;	/* held over all messages in progress */
	size_t max_msgs;	/* messages in progress */
	uint64_t timeout_ms;	/* 0: P2P_REASM_TIMEOUT_MS */
} p2p_reasm_limits;

typedef struct p2p_reasm_stats {
	uint64_t fragments;	/* fragments taken in */
	uint64_t reassembled;	/* whole messages handed out */
	uint64_t duplicates;	/* fragments that brought nothing new */
	uint64_t timeouts;	/* messages dropped incomplete, too old */
	uint64_t overflows;	/* messages dropped for the bounds */
	uint64_t bad;		/* messages dropped for contradictions */
	size_t msgs_held;	/* in progress now */
	size_t bytes_held;	/* their buffers now */
} p2p_reasm_stats;

enum p2p_reasm_status {
	P2P_REASM_DROP = -1,	/* the fragment (and maybe its message) was
				   dropped: see the stats for why */
	P2P_REASM_MORE = 0,	/* held; the message is not complete yet */
	P2P_REASM_DONE = 1,	/* the message is whole in *out */
};

typedef struct p2p_reasm p2p_reasm;

p2p_reasm *p2p_reasm_new(const p2p_reasm_limits *lim);
void p2p_reasm_free(p2p_reasm *r);
/*
 * Take in one fragment (frag, len bytes, as p2p_frag_peek accepts it)
 * sent by sender. On P2P_REASM_DONE *out is the whole message (malloc'd,
 * the caller frees it) of *outlen bytes.
 */
int p2p_reasm_add(p2p_reasm *r, const uint8_t *frag, size_t len,
    const p2p_id *sender, uint64_t now_ms, uint8_t **out, size_t *outlen);
/* Drop the messages whose time is up; returns how many. */
size_t p2p_reasm_expire(p2p_reasm *r, uint64_t now_ms);
/* When p2p_reasm_expire drops the next message (UINT64_MAX: none held). */
uint64_t p2p_reasm_next_due(const p2p_reasm *r);
const p2p_reasm_stats *p2p_reasm_get_stats(const p2p_reasm *r);

#endif
