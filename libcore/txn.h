/*
 * txn: end-to-end request transactions (RFC 6940 s6.2.1, s6.3.2).
 *
 * Each request this node originates is kept, with its encoded bytes, until
 * its answer arrives, until it has been sent the configured number of times
 * without one, or until the request lifetime passes. The table is bounded:
 * when it is full a new request is refused rather than an old one dropped.
 * Time is passed in by the caller (milliseconds, monotonic).
 */
#ifndef P2P_TXN_H
#define P2P_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum p2p_txn_status {
	P2P_TXN_ANSWERED = 0,	/* the answer (or an Error answer) came */
	P2P_TXN_TIMEOUT,	/* no answer within the request lifetime */
	P2P_TXN_CANCELLED,	/* the table was destroyed, or cancelled */
	P2P_TXN_LINK_FAILED,	/* the link it was sent on went away */
};

struct p2p_msg;
struct p2p_txn;

/* Called exactly once per transaction. ans and raw are valid only for the
 * call and only with P2P_TXN_ANSWERED. */
typedef void (*p2p_txn_cb)(void *user, enum p2p_txn_status st,
    const struct p2p_msg *ans, p2p_bytes raw);

typedef struct p2p_txn {
	uint64_t tid;
	uint64_t first_ms;	/* when it was first sent */
	uint64_t next_ms;	/* next retransmission, or the deadline */
	uint64_t deadline_ms;
	uint32_t sends;		/* how many times sent so far */
	uint8_t *bytes;		/* encoded request, for retransmission */
	size_t len;
	uint64_t link_id;	/* link it last went out on (0: none) */
	p2p_txn_cb cb;
	void *user;
	struct p2p_txn *next;	/* hash chain */
} p2p_txn;

typedef struct p2p_txn_params {
	uint32_t max_pending;	/* bound on live transactions */
	uint32_t retransmit_ms;	/* overlay-reliability-timer, >= 200 */
	uint32_t max_sends;	/* total transmissions, 5 by default */
	uint32_t lifetime_ms;	/* max request lifetime, 15000 by default */
} p2p_txn_params;

typedef struct p2p_txn_table {
	p2p_txn_params params;
	p2p_txn **buckets;
	size_t nbuckets;
	size_t count;
} p2p_txn_table;

void p2p_txn_params_default(p2p_txn_params *p);
int p2p_txn_table_init(p2p_txn_table *t, const p2p_txn_params *p);
/* Cancels every pending transaction (callbacks run) and frees the table. */
void p2p_txn_table_free(p2p_txn_table *t);
/* A random transaction id not in use (never 0). */
uint64_t p2p_txn_new_id(const p2p_txn_table *t);
/*
 * Record a request just sent at now_ms; the table keeps a copy of bytes.
 * NULL when the table is full or memory is short (the caller reports it);
 * tid must not be in use.
 */
p2p_txn *p2p_txn_add(p2p_txn_table *t, uint64_t tid, const uint8_t *bytes,
    size_t len, uint64_t now_ms, p2p_txn_cb cb, void *user);
p2p_txn *p2p_txn_find(const p2p_txn_table *t, uint64_t tid);
/* Finish the transaction tid with st (and the answer, if any). Returns 0,
 * or -1 when no such transaction is pending (a stray or late answer). */
int p2p_txn_finish(p2p_txn_table *t, uint64_t tid, enum p2p_txn_status st,
    const struct p2p_msg *ans, p2p_bytes raw);
/*
 * Advance time: transactions past their deadline or out of sends finish
 * with P2P_TXN_TIMEOUT; those due for a retransmission are passed to
 * resend (which sends x->bytes again) and rescheduled. Returns the time of
 * the next event, or UINT64_MAX when nothing is pending.
 */
uint64_t p2p_txn_tick(p2p_txn_table *t, uint64_t now_ms,
    void (*resend)(void *ctx, p2p_txn *x), void *ctx);
/* The time p2p_txn_tick has something to do next (UINT64_MAX: never). */
uint64_t p2p_txn_next_due(const p2p_txn_table *t);
/* Finish with P2P_TXN_LINK_FAILED every transaction last sent on link. */
void p2p_txn_fail_link(p2p_txn_table *t, uint64_t link_id);

#endif
