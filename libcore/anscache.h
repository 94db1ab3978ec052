/*
 * anscache: the answers a node gave to the requests delivered to it, kept
 * for the requests' end-to-end retransmissions (RFC 6940 s6.2.1, s6.3.2).
 *
 * An originator that hears no answer sends its request again with the
 * same transaction id, every overlay-reliability-timer until the request
 * lifetime (15 s) ends; the answer may just have been lost, or crossed the
 * retransmission. The link layer cannot catch these copies (a DTLS
 * retransmission has a new sequence number, s6.6.3, and an end-to-end
 * one may come along another path), so the destination does: a request
 * is known by its transaction id, the Node-ID that signed it and its
 * message code. The first copy is handled and its entry holds the answer
 * once one is sent; a later copy gets those same answer bytes (contents
 * and signature) again and is not handled a second time, or is ignored
 * while the first one is still being answered (asynchronous handlers).
 * A Store is thus applied once: a second pass would refuse the value as
 * not newer than itself, append to an array again or count its generation
 * up twice, and send the copies to the replicas twice.
 *
 * Every request delivered is kept, not only Stores: Attach, Join, Update,
 * Leave and AppAttach change links and the routing table, and the answers
 * to reads cost work to build; an answer to a retransmission that differs
 * from the lost one serves nobody. Error answers are kept too: the
 * retransmission gets the outcome the first copy had.
 *
 * An answer is matched to its entry by transaction id, request code and
 * either a fingerprint of the request's signature (the request itself is
 * at hand) or, for an answer built later from kept state that has no
 * signature, the node the request came from (the first via entry, else
 * the previous hop).
 *
 * Bounds: max_entries entries, max_bytes of answers over all of them,
 * and max_age_ms after the first copy came (the request lifetime: the
 * originator stops sending copies that long after its first one, which
 * left before ours arrived). The oldest entry goes first when a bound is
 * reached; an answer larger than max_bytes / 8 is not kept (its entry is
 * dropped: a retransmission is handled again, as for a request never
 * seen). Time is the caller's, in milliseconds.
 */
#ifndef P2P_ANSCACHE_H
#define P2P_ANSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "id.h"

typedef struct p2p_anscache p2p_anscache;

typedef struct p2p_anscache_limits {
	size_t max_entries;
	size_t max_bytes;
	uint64_t max_age_ms;
} p2p_anscache_limits;

typedef struct p2p_anscache_stats {
	uint64_t requests;	/* first copies recorded */
	uint64_t answered;	/* answers kept */
	uint64_t resent;	/* copies answered from the cache */
	uint64_t ignored;	/* copies of a request still unanswered */
	uint64_t evicted;	/* entries dropped for room */
	uint64_t too_large;	/* answers too large to keep */
	size_t entries, bytes;	/* held now */
} p2p_anscache_stats;

/* A request as the cache knows it. */
typedef struct p2p_anscache_req {
	uint64_t tid;
	uint16_t code;		/* the request's message code */
	p2p_id signer;		/* Node-ID of its signature */
	p2p_id origin;		/* first via entry, else the previous hop */
	uint64_t sig_fp;	/* p2p_anscache_fp of its signature value */
} p2p_anscache_req;

enum p2p_anscache_state {
	P2P_ANSCACHE_NEW = 0,	/* first copy: handle it (now recorded) */
	P2P_ANSCACHE_PENDING,	/* a copy of a request not answered yet */
	P2P_ANSCACHE_ANSWERED,	/* a copy of an answered request */
};

/* NULL when memory is short; zero limits take 1024 entries, 1 MiB and
 * 15 s. */
p2p_anscache *p2p_anscache_new(const p2p_anscache_limits *lim);
void p2p_anscache_free(p2p_anscache *c);
/* A 64-bit fingerprint of a signature value (never 0). */
uint64_t p2p_anscache_fp(const uint8_t *p, size_t len);
/*
 * A request delivered at now_ms. NEW: it was not known and is recorded as
 * pending (unless memory is short: then it simply goes unrecorded).
 * ANSWERED: *ans and *len give the answer kept (the bytes after the
 * forwarding header), valid until the next call on c.
 */
enum p2p_anscache_state p2p_anscache_request(p2p_anscache *c,
    const p2p_anscache_req *r, uint64_t now_ms, const uint8_t **ans,
    size_t *len);
/*
 * Is an answer to (tid, code) from this request pending? code 0 matches
 * any code; sig_fp 0 means the request's signature is not known, and
 * origin is compared instead. Cheap: call it before building what
 * p2p_anscache_answer needs.
 */
int p2p_anscache_pending(const p2p_anscache *c, uint64_t tid, uint16_t code,
    uint64_t sig_fp, const p2p_id *origin);
/* Keep ans as the answer of that pending request. 0 kept; -1 none
 * pending, too large (the entry is dropped) or no memory. */
int p2p_anscache_answer(p2p_anscache *c, uint64_t tid, uint16_t code,
    uint64_t sig_fp, const p2p_id *origin, const uint8_t *ans, size_t len);
/* Drop entries older than max_age_ms (p2p_anscache_request does too);
 * returns how many. */
size_t p2p_anscache_expire(p2p_anscache *c, uint64_t now_ms);
/* When the oldest entry expires (UINT64_MAX: none held). */
uint64_t p2p_anscache_next_due(const p2p_anscache *c);
const p2p_anscache_stats *p2p_anscache_get_stats(const p2p_anscache *c);

#endif
