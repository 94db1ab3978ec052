/*
 * chord: the CHORD-RELOAD topology plug-in (RFC 6940 section 10) as pure
 * state and decisions. No sockets, no timers, no clock: every function
 * that depends on time takes the current time in milliseconds, and every
 * decision (peers to Attach to, ids to probe, peers to Store replicas on)
 * is returned as data for the node to act on.
 *
 * Ring model. A node with id x keeps
 *   - a successor list: the peers closest to x clockwise, nearest first;
 *   - a predecessor list: the peers closest to x counter-clockwise,
 *     nearest first;
 *   - a finger table of 128 slots. Slot i (1 <= i <= 128) targets
 *     x + 2^(128-i); a peer p belongs to slot i iff p lies in
 *     [x + 2^(128-i), x + 2^(129-i) - 1], that is iff the clockwise
 *     distance p - x has its highest set bit at position 128 - i. The
 *     slots therefore partition the ring minus x, and each peer has
 *     exactly one slot. A slot holds the known peer of its interval
 *     nearest to the target, or nothing (the entry is then "invalid").
 * The routing table is the union of both lists and the valid fingers.
 * Self, the all-zero id and the wildcard (all-ones) id are never entered.
 * As long as the node knows any peer, both lists are non-empty (in a ring
 * of two the other node is successor and predecessor at once).
 *
 * Responsibility: x owns k iff pred < k <= x (mod 2^128), pred being the
 * nearest predecessor. A node that knows no peer owns the whole ring.
 *
 * Next hop for a key k that x does not own (s10.3): the routing-table
 * peer with the largest position in (x, k], measured clockwise from x
 * (a peer whose id equals k is that peer). If no peer lies in (x, k],
 * the peer nearest after k clockwise, which is the owner of k as far as
 * x knows. The forwarding layer checks its connection table for an exact
 * match with a Node-ID destination (clients are not in the routing table)
 * before asking this module.
 */
#ifndef P2P_CHORD_H
#define P2P_CHORD_H

#include <stddef.h>
#include <stdint.h>

#include "id.h"
#include "body_link.h"
#include "msg.h"

#define P2P_CHORD_FINGERS		128
#define P2P_CHORD_MAX_NEIGHBORS		16	/* per list */
#define P2P_CHORD_MAX_ROUTES	(2 * P2P_CHORD_MAX_NEIGHBORS + P2P_CHORD_FINGERS)
/* The most ids accepted in one predecessor or successor list of an
 * incoming Update or Leave, and in its finger list. */
#define P2P_CHORD_UPDATE_MAX_NEIGHBORS	64
#define P2P_CHORD_UPDATE_MAX_FINGERS	P2P_CHORD_FINGERS
#define P2P_CHORD_REPLICAS		2
/* The finger table counts at least this many slots (s10.7.4.3). */
#define P2P_CHORD_MIN_FINGERS		16

#define P2P_CHORD_DEFAULT_NEIGHBORS	3
#define P2P_CHORD_DEFAULT_UPDATE_MS	(600u * 1000u)
#define P2P_CHORD_DEFAULT_PING_MS	(3600u * 1000u)
#define P2P_CHORD_DEFAULT_HOLD_DOWN_MS	(30u * 1000u)

/* Update and Leave types are the wire ones of body_link.h:
 * P2P_UPDATE_PEER_READY/NEIGHBORS/FULL, P2P_LEAVE_FROM_SUCC/FROM_PRED. */

/* What an event changed; or-ed together. */
enum p2p_chord_flags {
	P2P_CHORD_NEIGHBORS_CHANGED = 0x01,	/* Update the neighbors */
	P2P_CHORD_RANGE_CHANGED = 0x02,	/* Update the whole connection table */
	P2P_CHORD_REPLICAS_CHANGED = 0x04,	/* one of the next 2 successors */
	P2P_CHORD_FINGERS_CHANGED = 0x08,
	P2P_CHORD_KEPT = 0x10,		/* the peer entered the routing table */
	P2P_CHORD_ALONE = 0x20,		/* no peer left: rejoin (s10.7.1) */
	/* The Update's sender names this node as a neighbor although this
	 * node knows closer peers between them: send it a neighbors Update
	 * so it can Attach to them. */
	P2P_CHORD_REPLY_UPDATE = 0x40,
};

/* Where next_hop sends a message. */
enum p2p_chord_hop {
	P2P_CHORD_LOCAL = 0,		/* this node owns the key */
	P2P_CHORD_FORWARD = 1,		/* forward to the returned peer */
	P2P_CHORD_NO_HOP = 2,		/* no usable peer (next_hop_among) */
};

/* Random source: returns 32 uniformly random bits. */
typedef uint32_t (*p2p_chord_rand_fn)(void *arg);

typedef struct p2p_chord_config {
	size_t nsucc;			/* successors kept, 1..MAX_NEIGHBORS */
	size_t npred;			/* predecessors kept, 1..MAX_NEIGHBORS */
	uint64_t update_interval_ms;	/* chord-update-interval */
	uint64_t ping_interval_ms;	/* chord-ping-interval */
	uint64_t hold_down_ms;		/* successor replacement hold-down */
	p2p_chord_rand_fn rand;		/* NULL: a generator seeded by the id */
	void *rand_arg;
} p2p_chord_config;

/*
 * The id lists of a ChordUpdate (or of a ChordLeaveData, with only one of
 * pred/succ set). The arrays are the caller's (a decoded message, say).
 */
typedef struct p2p_chord_lists {
	uint8_t type;			/* enum p2p_chord_update_type */
	uint32_t uptime;		/* seconds */
	const p2p_id *pred;
	size_t npred;
	const p2p_id *succ;
	size_t nsucc;
	const p2p_id *finger;
	size_t nfinger;
} p2p_chord_lists;

/* Storage for an outgoing Update; lists points into the arrays. */
typedef struct p2p_chord_update_buf {
	p2p_chord_lists lists;
	p2p_id pred[P2P_CHORD_MAX_NEIGHBORS];
	p2p_id succ[P2P_CHORD_MAX_NEIGHBORS];
	p2p_id finger[P2P_CHORD_FINGERS];
} p2p_chord_update_buf;

/* What an incoming Update or Leave asks the node to do. */
typedef struct p2p_chord_result {
	unsigned flags;			/* enum p2p_chord_flags */
	/* Peers that belong in the neighbor lists: Attach to each (through
	 * the peer that named it, s10.6), then p2p_chord_add_peer(). */
	size_t nattach;
	p2p_id attach[2 * P2P_CHORD_MAX_NEIGHBORS];
	/* Peers that would fill an invalid finger slot. */
	size_t nfinger;
	p2p_id finger[P2P_CHORD_FINGERS];
} p2p_chord_result;

/* Periodic work that p2p_chord_tick() found due. */
typedef struct p2p_chord_work {
	int send_update;		/* send a neighbors Update to each neighbor */
	int probe;			/* Ping probe_id to refill finger probe_slot */
	unsigned probe_slot;
	p2p_id probe_id;
	size_t nreplica;		/* new replica-set members to Store to */
	p2p_id replica[P2P_CHORD_REPLICAS];
} p2p_chord_work;

typedef struct p2p_chord {
	p2p_id self;
	p2p_chord_config cfg;
	uint64_t rng;			/* state of the fallback generator */
	uint64_t start_ms;

	size_t nsucc, npred;
	p2p_id succ[P2P_CHORD_MAX_NEIGHBORS];
	p2p_id pred[P2P_CHORD_MAX_NEIGHBORS];
	uint8_t fvalid[P2P_CHORD_FINGERS];	/* index i - 1 */
	p2p_id finger[P2P_CHORD_FINGERS];

	uint64_t next_update_ms;
	uint64_t next_ping_ms;
	uint64_t hold_until_ms;		/* replicas wait until then */
	size_t nreplica;		/* replica set last handed out */
	p2p_id replica[P2P_CHORD_REPLICAS];
} p2p_chord;

/* Fill cfg with the defaults (3 + 3 neighbors, RFC timer values). */
void p2p_chord_config_default(p2p_chord_config *cfg);
/* Start alone on the ring. cfg may be NULL for the defaults. -1 if self
 * is zero or the wildcard, or a list size is out of range. */
int p2p_chord_init(p2p_chord *c, const p2p_id *self,
    const p2p_chord_config *cfg, uint64_t now_ms, p2p_err *err);

/* ---- queries ---- */

int p2p_chord_is_responsible(const p2p_chord *c, const p2p_id *k);
/* P2P_CHORD_LOCAL, or P2P_CHORD_FORWARD with *next set (see top). */
int p2p_chord_next_hop(const p2p_chord *c, const p2p_id *k, p2p_id *next);
/* As next_hop, among the routing-table peers for which usable(arg, peer)
 * is true (those a link reaches, say): the usable one nearest before k,
 * or, with none in (self, k], the usable one nearest after k, which
 * routes on from there. P2P_CHORD_NO_HOP when no entry is usable. */
int p2p_chord_next_hop_among(const p2p_chord *c, const p2p_id *k,
    int (*usable)(void *arg, const p2p_id *peer), void *arg, p2p_id *next);
/* The node that owns k as far as this node knows (itself included).
 * Returns 1 when that is certain (k is ours or our successor's), 0 when
 * it is only the best guess from the routing table. */
int p2p_chord_owner(const p2p_chord *c, const p2p_id *k, p2p_id *owner);
/* The replica set of the keys this node owns: its next two successors.
 * Returns how many (0..2). */
size_t p2p_chord_replicas(const p2p_chord *c, p2p_id out[P2P_CHORD_REPLICAS]);
/* Does this node keep data for k: 2 as owner, 1 as replica (k is owned
 * by one of its two nearest predecessors), 0 not (s10.7.3). */
int p2p_chord_stores(const p2p_chord *c, const p2p_id *k);
/* Is id in the routing table? */
int p2p_chord_knows(const p2p_chord *c, const p2p_id *id);

/* ---- accessors for status output ---- */

size_t p2p_chord_successors(const p2p_chord *c, const p2p_id **out);
size_t p2p_chord_predecessors(const p2p_chord *c, const p2p_id **out);
/* Slot i (1..128): *target = x + 2^(128-i); returns 1 and sets *entry if
 * the slot is valid, 0 if empty, -1 if i is out of range. */
int p2p_chord_finger(const p2p_chord *c, unsigned i, p2p_id *target,
    p2p_id *entry);
/* The slot (1..128) a peer id falls in; 0 for self. */
unsigned p2p_chord_finger_slot(const p2p_chord *c, const p2p_id *id);
/* Slots counted as the finger table: at least 16, and enough to reach
 * the farthest successor (s10.7.4.3). */
unsigned p2p_chord_finger_size(const p2p_chord *c);
/* The empty slots among 1..finger_size, ascending; returns the count
 * (at most max written). */
size_t p2p_chord_fingers_invalid(const p2p_chord *c, unsigned *slots,
    size_t max);
/* The routing table, distinct ids ordered clockwise from self. */
size_t p2p_chord_routes(const p2p_chord *c, p2p_id *out, size_t max);
uint32_t p2p_chord_uptime(const p2p_chord *c, uint64_t now_ms);

/* ---- events ---- */

/* A peer is connected and routable. Returns flags, or -1 (with err) if
 * the id is self, zero or the wildcard. */
int p2p_chord_add_peer(p2p_chord *c, const p2p_id *id, uint64_t now_ms,
    p2p_err *err);
/* A peer failed or left. Returns flags (0 if it was not known). */
int p2p_chord_remove_peer(p2p_chord *c, const p2p_id *id, uint64_t now_ms);
/*
 * An Update arrived from `from` over a connection. The sender is entered
 * as a routable peer; the ids it names are checked (self, zero, wildcard
 * and known peers dropped) and only reported in res, never entered.
 * Returns 0, or -1 (state unchanged) if from is invalid, the type is
 * unknown or a list is longer than the bounds above.
 */
int p2p_chord_apply_update(p2p_chord *c, const p2p_id *from,
    const p2p_chord_lists *u, uint64_t now_ms, p2p_chord_result *res,
    p2p_err *err);
/* A Leave arrived from `from`: remove it as after a failure and report
 * the replacements its lists offer (type is enum p2p_chord_leave_type). */
int p2p_chord_apply_leave(p2p_chord *c, const p2p_id *from,
    const p2p_chord_lists *l, uint64_t now_ms, p2p_chord_result *res,
    p2p_err *err);
/* Fill an outgoing Update of the given type; fingers are the distinct
 * valid fingers in ascending numeric order. -1 on an unknown type. */
int p2p_chord_build_update(const p2p_chord *c, uint8_t type,
    uint64_t now_ms, p2p_chord_update_buf *out);

/* ---- stabilization ---- */

/* Periodic work due at now_ms (s10.7.4): a neighbors Update (the next one
 * is then scheduled one chord-update-interval later, jittered to 75%..125%),
 * a finger probe (at most one per chord-ping-interval: invalid slots are
 * walked from slot 1, each picked with probability 1/2, and a random id
 * of the picked slot's interval is returned), and the members that
 * joined the replica set once the successor hold-down has passed.
 * Returns 1 if anything is due, 0 otherwise. */
int p2p_chord_tick(p2p_chord *c, uint64_t now_ms, p2p_chord_work *out);
/* Restart the periodic Update timer (after a triggered Update). */
void p2p_chord_update_sent(p2p_chord *c, uint64_t now_ms);
/* When p2p_chord_tick() should run next. */
uint64_t p2p_chord_next_deadline(const p2p_chord *c);

#endif
