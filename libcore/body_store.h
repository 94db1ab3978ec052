/*
 * body_store: the storage method bodies of RELOAD (RFC 6940 section 7):
 * Store, Fetch, Stat and Find requests and answers, the StoredData they
 * carry in the three data models, the bytes a StoredData signature covers,
 * the TURN-SERVICE value (RFC 6940 s9) and the SIP registration value of
 * RFC 7904.
 *
 * Codecs follow the conventions at the top of msg.h: decoders take arrays
 * from the arena, leave opaque fields pointing into the input, check every
 * length and reject trailing bytes; encoders append to a p2p_wbuf and
 * return -1 when a field cannot be put on the wire.
 *
 * The data model of a kind is not on the wire. Value-level codecs take it
 * as a parameter; message-level decoders ask a p2p_kind_lookup. A kind the
 * lookup does not know is kept undecoded (model P2P_MODEL_UNKNOWN, bytes in
 * .raw) so the node can still answer Error_Unknown_Kind; encoders write
 * such a kind back from .raw unchanged.
 */
#ifndef P2P_BODY_STORE_H
#define P2P_BODY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "body_link.h"
#include "buf.h"
#include "id.h"
#include "msg.h"

enum p2p_data_model {
	P2P_MODEL_UNKNOWN = 0,	/* kind not known: contents kept raw */
	P2P_MODEL_SINGLE = 1,
	P2P_MODEL_ARRAY,
	P2P_MODEL_DICTIONARY,
};

/* ArrayEntry index meaning "append after the last element". */
#define P2P_ARRAY_APPEND	0xffffffffu
/* ArrayRange bound meaning "the last element". */
#define P2P_ARRAY_LAST		0xffffffffu

/* Well-known kinds (RFC 6940 s14.6, RFC 7904). */
enum {
	P2P_KIND_SIP_REGISTRATION = 1,
	P2P_KIND_TURN_SERVICE = 2,
	P2P_KIND_CERTIFICATE_BY_NODE = 3,
	P2P_KIND_CERTIFICATE_BY_USER = 0x10,
};

/*
 * Kind id -> data model. Returns P2P_MODEL_UNKNOWN for a kind that is not
 * configured (any value outside the enum counts as unknown too).
 */
typedef enum p2p_data_model (*p2p_kind_model_fn)(void *arg, uint32_t kind);

typedef struct p2p_kind_lookup {
	p2p_kind_model_fn model;
	void *arg;
} p2p_kind_lookup;

/* DataValue. */
typedef struct p2p_data_value {
	uint8_t exists;		/* Boolean: 0 or 1 */
	p2p_bytes value;	/* opaque<0..2^32-1> */
} p2p_data_value;

/* StoredDataValue: which of index/key is used depends on the model. */
typedef struct p2p_stored_value {
	uint32_t index;		/* ARRAY */
	p2p_bytes key;		/* DICTIONARY: opaque<0..2^16-1> */
	p2p_data_value data;
} p2p_stored_value;

/* StoredData. The u32 length on the wire is computed by the encoder. */
typedef struct p2p_stored_data {
	uint64_t storage_time;	/* ms since the epoch */
	uint32_t lifetime;	/* s */
	p2p_stored_value value;
	p2p_signature sig;
} p2p_stored_data;

/* StoreKindData (StoreReq) and FetchKindResponse (FetchAns). */
typedef struct p2p_kind_data {
	uint32_t kind;
	enum p2p_data_model model;	/* from the lookup; 0: see raw */
	uint64_t generation;
	p2p_stored_data *values;
	size_t nvalues;
	p2p_bytes raw;		/* decoder: the values vector as received;
				   encoder: written as is when model is
				   P2P_MODEL_UNKNOWN, ignored otherwise */
} p2p_kind_data;

typedef struct p2p_store_req {
	p2p_bytes resource;	/* ResourceId, without its length byte */
	uint8_t replica_number;
	p2p_kind_data *kinds;
	size_t nkinds;
} p2p_store_req;

typedef struct p2p_store_kind_resp {
	uint32_t kind;
	uint64_t generation;
	p2p_id *replicas;
	size_t nreplicas;
} p2p_store_kind_resp;

typedef struct p2p_store_ans {
	p2p_store_kind_resp *kinds;
	size_t nkinds;
} p2p_store_ans;

/* ArrayRange, both bounds inclusive; P2P_ARRAY_LAST is the last element
 * and compares above every other index. */
typedef struct p2p_array_range {
	uint32_t first;
	uint32_t last;
} p2p_array_range;

/* StoredDataSpecifier. */
typedef struct p2p_specifier {
	uint32_t kind;
	enum p2p_data_model model;	/* from the lookup; 0: see raw */
	uint64_t generation;
	p2p_array_range *ranges;	/* ARRAY */
	size_t nranges;
	p2p_bytes *keys;		/* DICTIONARY; none = every key */
	size_t nkeys;
	p2p_bytes raw;		/* decoder: the bytes after the length;
				   encoder: written as is for UNKNOWN */
} p2p_specifier;

/* FetchReq; StatReq has the same layout. */
typedef struct p2p_fetch_req {
	p2p_bytes resource;
	p2p_specifier *specs;
	size_t nspecs;
} p2p_fetch_req;
typedef p2p_fetch_req p2p_stat_req;

typedef struct p2p_fetch_ans {
	p2p_kind_data *kinds;
	size_t nkinds;
} p2p_fetch_ans;

/* MetaData. */
typedef struct p2p_meta_data {
	uint8_t exists;		/* Boolean */
	uint32_t value_length;
	uint8_t hash_alg;
	p2p_bytes hash;		/* opaque<0..255> */
} p2p_meta_data;

/* StoredMetaData with its MetaDataValue. */
typedef struct p2p_stored_meta {
	uint32_t value_length;
	uint64_t storage_time;
	uint32_t lifetime;
	uint32_t index;		/* ARRAY */
	p2p_bytes key;		/* DICTIONARY */
	p2p_meta_data meta;
} p2p_stored_meta;

/* StatKindResponse. */
typedef struct p2p_stat_kind {
	uint32_t kind;
	enum p2p_data_model model;
	uint64_t generation;
	p2p_stored_meta *values;
	size_t nvalues;
	p2p_bytes raw;		/* as in p2p_kind_data */
} p2p_stat_kind;

typedef struct p2p_stat_ans {
	p2p_stat_kind *kinds;
	size_t nkinds;
} p2p_stat_ans;

typedef struct p2p_find_req {
	p2p_bytes resource;
	uint32_t *kinds;	/* each at most once */
	size_t nkinds;
} p2p_find_req;

/* FindKindData; closest may be empty (nothing found). */
typedef struct p2p_find_kind {
	uint32_t kind;
	p2p_bytes closest;
} p2p_find_kind;

typedef struct p2p_find_ans {
	p2p_find_kind *results;
	size_t nresults;
} p2p_find_ans;

/* ---- values ---- */

int p2p_stored_value_decode1(p2p_rbuf *r, enum p2p_data_model m,
    p2p_stored_value *out, p2p_err *err);
int p2p_stored_value_encode(p2p_wbuf *w, enum p2p_data_model m,
    const p2p_stored_value *v);
int p2p_stored_data_decode1(p2p_rbuf *r, enum p2p_data_model m,
    p2p_stored_data *out, p2p_err *err);
/* One StoredData occupying all of in. */
int p2p_stored_data_decode(p2p_bytes in, enum p2p_data_model m,
    p2p_stored_data *out, p2p_err *err);
int p2p_stored_data_encode(p2p_wbuf *w, enum p2p_data_model m,
    const p2p_stored_data *sd);

/*
 * The bytes a StoredData signature covers (RFC 6940 s7.1): resource ||
 * kind || storage_time || StoredDataValue || SignerIdentity, with an array
 * index written as 0 so that a value stored with the append index still
 * verifies once it holds its real index.
 *
 * The resource is written as its raw bytes, without the ResourceId length
 * byte: the specification does not say which, and the raw id is what the
 * access-control checks compare. Build with
 * -DP2P_STORED_SIG_RESOURCE_PREFIXED=1 to write the length byte as well.
 */
int p2p_stored_data_sig_input(p2p_wbuf *w, p2p_bytes resource,
    uint32_t kind, enum p2p_data_model m, const p2p_stored_data *sd);

/*
 * A value the node never stored, as a Fetch answer reports it: exists 0,
 * empty value, storage_time and lifetime 0, algorithm {0,0}, signer type
 * none, empty signature. index / key name the element asked for (ignored
 * by the models that do not use them).
 */
void p2p_stored_data_nonexistent(p2p_stored_data *out, uint32_t index,
    p2p_bytes key);

/* ---- Store ---- */

int p2p_store_req_decode(p2p_bytes in, p2p_arena *a,
    const p2p_kind_lookup *lk, p2p_store_req *out, p2p_err *err);
int p2p_store_req_encode(p2p_wbuf *w, const p2p_store_req *in);
int p2p_store_ans_decode(p2p_bytes in, p2p_arena *a, p2p_store_ans *out,
    p2p_err *err);
int p2p_store_ans_encode(p2p_wbuf *w, const p2p_store_ans *in);

/*
 * The ErrorResponse body of Error_Generation_Counter_Too_Low: error code
 * 0x05 and, as error_info, a StoreAns holding the current generation
 * counters with empty replica lists. The encoder fails when a replica
 * list is not empty or the StoreAns does not fit error_info; the decoder
 * takes the whole ErrorResponse body and fails on another error code.
 */
int p2p_gen_error_encode(p2p_wbuf *w, const p2p_store_ans *current);
int p2p_gen_error_decode(p2p_bytes body, p2p_arena *a, p2p_store_ans *out,
    p2p_err *err);

/* ---- Fetch and Stat ---- */

int p2p_specifier_decode1(p2p_rbuf *r, p2p_arena *a,
    const p2p_kind_lookup *lk, p2p_specifier *out, p2p_err *err);
int p2p_specifier_encode(p2p_wbuf *w, const p2p_specifier *s);
int p2p_fetch_req_decode(p2p_bytes in, p2p_arena *a,
    const p2p_kind_lookup *lk, p2p_fetch_req *out, p2p_err *err);
int p2p_fetch_req_encode(p2p_wbuf *w, const p2p_fetch_req *in);
int p2p_fetch_ans_decode(p2p_bytes in, p2p_arena *a,
    const p2p_kind_lookup *lk, p2p_fetch_ans *out, p2p_err *err);
int p2p_fetch_ans_encode(p2p_wbuf *w, const p2p_fetch_ans *in);
int p2p_stat_req_decode(p2p_bytes in, p2p_arena *a,
    const p2p_kind_lookup *lk, p2p_stat_req *out, p2p_err *err);
int p2p_stat_req_encode(p2p_wbuf *w, const p2p_stat_req *in);
int p2p_stat_ans_decode(p2p_bytes in, p2p_arena *a,
    const p2p_kind_lookup *lk, p2p_stat_ans *out, p2p_err *err);
int p2p_stat_ans_encode(p2p_wbuf *w, const p2p_stat_ans *in);

/* ---- Find ---- */

int p2p_find_req_decode(p2p_bytes in, p2p_arena *a, p2p_find_req *out,
    p2p_err *err);
int p2p_find_req_encode(p2p_wbuf *w, const p2p_find_req *in);
int p2p_find_ans_decode(p2p_bytes in, p2p_arena *a, p2p_find_ans *out,
    p2p_err *err);
int p2p_find_ans_encode(p2p_wbuf *w, const p2p_find_ans *in);
/* Does a FindKindData say "none" (empty, or all zero bytes)? */
int p2p_find_kind_is_none(const p2p_find_kind *f);

/* ---- SIP registration value (RFC 7904 s3) ---- */

enum {
	P2P_SIPREG_URI = 1,
	P2P_SIPREG_ROUTE = 2,
};

typedef struct p2p_sip_reg {
	uint8_t type;
	p2p_bytes uri;			/* URI: another AOR */
	p2p_bytes contact_prefs;	/* ROUTE: feature parameters */
	p2p_dest *dests;		/* ROUTE: at least 3 bytes of them */
	size_t ndests;
	p2p_bytes raw;			/* other types: the data as is */
} p2p_sip_reg;

/* One SipRegistration occupying all of in (a DataValue's value). */
int p2p_sip_reg_decode(p2p_bytes in, p2p_arena *a, p2p_sip_reg *out,
    p2p_err *err);
int p2p_sip_reg_encode(p2p_wbuf *w, const p2p_sip_reg *in);

/* ---- TURN-SERVICE value (RFC 6940 s9) ---- */

/*
 * TurnServer { uint8 iteration; IpAddressPort server_address; }: a TURN
 * server a peer offers, stored (SINGLE, NODE-MULTIPLE) at the Resource-ID
 * p2p_id_node_multiple(storer, iteration) for iteration = 1 .. the
 * overlay's turn-density. The decoder takes one TurnServer occupying all
 * of in (a DataValue's value); an address type other than IPv4 and IPv6
 * decodes (IpAddressPort is extensible) with its bytes in addr.raw, for
 * the user to skip.
 */
typedef struct p2p_turn_server {
	uint8_t iteration;
	p2p_addr_port addr;
} p2p_turn_server;

int p2p_turn_server_decode(p2p_bytes in, p2p_turn_server *out, p2p_err *err);
int p2p_turn_server_encode(p2p_wbuf *w, const p2p_turn_server *in);

#endif
