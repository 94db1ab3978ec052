/*
 * store: the storage engine of a RELOAD peer (RFC 6940 section 7).
 *
 * A p2p_store holds, for each (Resource-ID, Kind-ID), the stored values of
 * the kind's data model (one value; a sparse array by index; a dictionary
 * by key), each with its storage time, lifetime, signature and the DER
 * certificate of its signer, plus the kind's generation counter. It checks
 * and applies StoreReqs, answers Fetch, Stat and Find, expires values and
 * hands out what the node must replicate. It never touches the network:
 * the node decodes the request, verifies the message signature, calls in
 * here and encodes what comes back.
 *
 * Time. now is always milliseconds since the epoch (the unit of
 * storage_time). A value stored with lifetime L at now expires at
 * now + L * 1000; from then on it is as if it had never been stored.
 * Fetch answers and replication report the remaining lifetime, in whole
 * seconds rounded down.
 *
 * Outputs. Every query fills a p2p_store_out, whose arrays are allocated
 * for it and freed by p2p_store_out_free. Byte fields of returned values
 * (value, key, signature, certificates) point into the store: they stay
 * valid until the store is next changed (apply, expire, drop, free).
 *
 * Choices where RFC 6940 leaves room (see also store.c):
 *   - a non-zero generation counter that differs from the stored one, in
 *     either direction, fails with Error_Generation_Counter_Too_Low;
 *   - NODE-MULTIPLE hashes the 16 raw Node-ID bytes followed by i as a
 *     4-byte big-endian integer, for i = 1 .. max-node-multiple (at most
 *     P2P_STORE_NODE_MULTIPLE_MAX tries; p2p_id_node_multiple); a
 *     TURN-SERVICE value must moreover decode as a TurnServer whose
 *     iteration is the i of its Resource-ID (RFC 6940 s9: the iteration
 *     is there for validation), so a peer cannot store at one of its
 *     Resource-IDs a value that claims another;
 *   - a USER-NODE-MATCH dictionary key is the 16 raw Node-ID bytes;
 *   - max-count limits, for an array, its length (highest index + 1, so a
 *     sparse array cannot grow past it), for a dictionary, its number of
 *     keys; tombstones (exists = false) count like other values;
 *   - a replica store that carries exactly the value already held (same
 *     storage time and signature) is accepted and refreshes the lifetime
 *     instead of failing with Error_Data_Too_Old;
 *   - Stat hashes with SHA-256 over the value with its 4-byte length, and
 *     reports only values held (nothing is synthesized);
 *   - the per-store limits count a value's bytes as its value, key,
 *     signer identity and signature, plus the DER of every distinct
 *     certificate kept; going over them fails with Error_Data_Too_Large,
 *     as does running out of memory. Nothing is ever dropped silently.
 */
#ifndef P2P_STORE_H
#define P2P_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "body_store.h"
#include "buf.h"
#include "config.h"
#include "id.h"
#include "msg.h"
#include "sign.h"

/* Most values of i tried for NODE-MULTIPLE. */
#define P2P_STORE_NODE_MULTIPLE_MAX	1024

typedef struct p2p_store p2p_store;

/* Per-store limits; 0 means no limit. */
typedef struct p2p_store_limits {
	size_t max_values;
	size_t max_bytes;
} p2p_store_limits;

/* NULL limits: none. NULL on out of memory. */
p2p_store *p2p_store_new(const p2p_store_limits *limits);
void p2p_store_free(p2p_store *s);

/* The kinds the overlay's configuration defines. */
typedef struct p2p_store_kinds {
	const p2p_kind_def *defs;
	size_t n;
	/* The overlay's instance name: the one domain whose users a kind
	 * with a disabled sip:domain-restriction takes (RFC 7904); NULL
	 * refuses them all. */
	const char *domain;
} p2p_store_kinds;

/* What the node knows of the StoreReq message. */
typedef struct p2p_store_msg {
	const p2p_cert *certs;		/* the message's certificate list */
	size_t ncerts;
	const p2p_sig_who *signer;	/* who signed the message (verified by
					   the node); required unless the store
					   is a replica store */
	const p2p_trust *trust;		/* NULL: certificates are only checked
					   for validity */
} p2p_store_msg;

struct p2p_store_chunk;

/* The results of one call. */
typedef struct p2p_store_out {
	p2p_store_ans store;	/* apply: the current counters, on success
				   and with Error_Generation_Counter_Too_Low;
				   replica lists are left empty */
	p2p_fetch_ans fetch;
	p2p_stat_ans stat;
	p2p_find_ans find;
	p2p_cert *certs;	/* fetch: what the answer's certificate list
				   needs to verify every value */
	size_t ncerts;
	uint32_t *unknown;	/* Error_Unknown_Kind: the kinds not known */
	size_t nunknown;
	struct p2p_store_chunk *mem;	/* private */
} p2p_store_out;

void p2p_store_out_init(p2p_store_out *o);
/* Free what o holds and make it empty again. */
void p2p_store_out_free(p2p_store_out *o);

/*
 * Check and apply a decoded StoreReq (RFC 6940 s7.4.1), all or nothing:
 * on failure the store is unchanged and err carries the RELOAD error:
 * Error_Unknown_Kind (out->unknown), Error_Forbidden (bad signature or
 * access-control policy), Error_Generation_Counter_Too_Low (out->store),
 * Error_Data_Too_Old, Error_Data_Too_Large, Error_Invalid_Message.
 * Whether this peer is responsible, or a plausible replica, is the node's
 * check. A replica store copies the generation counters of the request
 * and does not check the message signer against the policies.
 */
int p2p_store_apply(p2p_store *s, const p2p_store_req *req,
    const p2p_store_msg *msg, const p2p_store_kinds *kinds, int is_replica,
    uint64_t now, p2p_store_out *out, p2p_err *err);

/*
 * Fetch (s7.4.2): one FetchKindResponse per specifier in out->fetch and,
 * in out->certs, the certificates of the values returned. Values never
 * stored (or expired) that a specifier names by index or key come back
 * as nonexistent. A specifier whose generation equals the stored counter
 * gets its kind with no values. Unknown kinds: Error_Unknown_Kind.
 */
int p2p_store_fetch(p2p_store *s, const p2p_fetch_req *req,
    const p2p_store_kinds *kinds, uint64_t now, p2p_store_out *out,
    p2p_err *err);

/* Stat (s7.4.3): like Fetch, metadata of the values held in out->stat. */
int p2p_store_stat(p2p_store *s, const p2p_stat_req *req,
    const p2p_store_kinds *kinds, uint64_t now, p2p_store_out *out,
    p2p_err *err);

/*
 * Find (s7.4.4): for each kind, the Resource-ID held with live values of
 * that kind that comes first going clockwise from the requested one, up
 * to and including self (the end of the range this peer answers for;
 * NULL: the whole ring). An empty closest says there is none, as it does
 * for an unknown kind.
 */
int p2p_store_find(p2p_store *s, const p2p_find_req *req,
    const p2p_store_kinds *kinds, const p2p_id *self, uint64_t now,
    p2p_store_out *out, p2p_err *err);

/*
 * The ErrorResponse body (code and error_info) for a failure of the calls
 * above: the StoreAns of Error_Generation_Counter_Too_Low, the kind list
 * of Error_Unknown_Kind, err->what as text otherwise.
 */
int p2p_store_error_encode(p2p_wbuf *w, const p2p_err *err,
    const p2p_store_out *out);

/*
 * Check one value as a fetching peer does (RFC 6940 s7.4.2.2): its
 * signature verifies, with a certificate among certs that passes trust
 * (when given), and its signer may write it at rid under the kind's
 * access policy. who (cleared with p2p_sig_who_clear) names the signer.
 * Failures carry Error_Forbidden.
 */
int p2p_store_check_value(const p2p_id *rid, const p2p_kind_def *def,
    const p2p_stored_data *sd, const p2p_cert *certs, size_t ncerts,
    const p2p_trust *trust, uint64_t now, p2p_sig_who *who, p2p_err *err);

/* Remove values expired at now, and resources left empty. Returns how
 * many values were removed. */
size_t p2p_store_expire(p2p_store *s, uint64_t now);
/* No value expires before this time (0: the store holds none). The bound
 * may be early (a value replaced or removed since), never late. */
uint64_t p2p_store_next_expiry(const p2p_store *s);

/*
 * One (resource, kind) with its live values, ready to be sent in a
 * StoreReq: lifetimes are the remaining ones, certs are those the values
 * need. Pointers are valid during the callback only.
 */
typedef struct p2p_store_item {
	p2p_id resource;
	uint32_t kind;
	enum p2p_data_model model;
	uint64_t generation;
	const p2p_stored_data *values;
	size_t nvalues;
	const p2p_cert *certs;
	size_t ncerts;
} p2p_store_item;

/* Does a Resource-ID belong to the set being visited or dropped? */
typedef int (*p2p_store_pred_fn)(void *arg, const p2p_id *resource);
/* Called for each item; non-zero stops the walk (and is returned). The
 * callback must not change the store. */
typedef int (*p2p_store_visit_fn)(void *arg, const p2p_store_item *item);

/*
 * Visit every (resource, kind) with live values whose Resource-ID pred
 * accepts (pred NULL: all), in Resource-ID order. Returns 0, the
 * callback's non-zero value, or -1 on out of memory.
 */
int p2p_store_foreach(p2p_store *s, p2p_store_pred_fn pred, void *parg,
    uint64_t now, p2p_store_visit_fn fn, void *arg);
/* The same for the Resource-IDs in the ring interval (lo, hi]. */
int p2p_store_foreach_range(p2p_store *s, const p2p_id *lo,
    const p2p_id *hi, uint64_t now, p2p_store_visit_fn fn, void *arg);
/* Remove every resource pred accepts, or in (lo, hi]; returns how many
 * values went. */
size_t p2p_store_drop(p2p_store *s, p2p_store_pred_fn pred, void *arg);
size_t p2p_store_drop_range(p2p_store *s, const p2p_id *lo,
    const p2p_id *hi);

/* Counters for diagnostics; expired values count until expired. */
typedef struct p2p_store_stats {
	size_t resources;
	size_t values;		/* tombstones included */
	size_t bytes;		/* as the limits count them */
	size_t certs;		/* distinct certificates kept */
} p2p_store_stats;

void p2p_store_get_stats(const p2p_store *s, p2p_store_stats *st);
/* Values held for one kind, over every resource. */
size_t p2p_store_kind_values(const p2p_store *s, uint32_t kind);
/* The generation counter of (resource, kind); 0 when nothing is held. */
uint64_t p2p_store_generation(const p2p_store *s, const p2p_id *resource,
    uint32_t kind);

#endif
