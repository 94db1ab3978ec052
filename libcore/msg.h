/*
 * msg: RELOAD messages (RFC 6940 section 6.3) to and from C structs.
 *
 * A message is ForwardingHeader || MessageContents || SecurityBlock. The
 * decoder checks every length against what remains, rejects trailing bytes
 * and never allocates from the heap: lists are taken from a caller-provided
 * arena and opaque fields point into the input buffer, which must outlive
 * the decoded struct. The message body is kept as bytes; the per-method
 * codecs (body_*.h) decode it.
 *
 * Conventions shared by every codec in libcore:
 *   int p2p_X_decode(p2p_bytes in, p2p_arena *a, p2p_X *out, p2p_err *err);
 *       0 on success; -1 on failure with err filled in. The whole input
 *       must be consumed.
 *   int p2p_X_encode(p2p_wbuf *w, const p2p_X *in);
 *       appends; 0 on success, -1 if the struct cannot be encoded (a field
 *       out of range) or the writer failed.
 */
#ifndef P2P_MSG_H
#define P2P_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "id.h"

#define P2P_RELO_TOKEN		0xd2454c4fu
#define P2P_VERSION		0x0a
#define P2P_FRAG_MARK		0x80000000u	/* bit 31, always set */
#define P2P_FRAG_LAST		0x40000000u	/* bit 30 */
#define P2P_FRAG_OFFSET_MASK	0x00ffffffu
#define P2P_FRAG_WHOLE		(P2P_FRAG_MARK | P2P_FRAG_LAST)
#define P2P_FWD_FIXED_LEN	38
#define P2P_DEFAULT_TTL		100
#define P2P_DEFAULT_MAX_MSG	5000

/* Message codes: requests are odd, their answers request + 1. */
enum p2p_code {
	P2P_PROBE_REQ = 0x01, P2P_PROBE_ANS,
	P2P_ATTACH_REQ = 0x03, P2P_ATTACH_ANS,
	P2P_STORE_REQ = 0x07, P2P_STORE_ANS,
	P2P_FETCH_REQ = 0x09, P2P_FETCH_ANS,
	P2P_FIND_REQ = 0x0d, P2P_FIND_ANS,
	P2P_JOIN_REQ = 0x0f, P2P_JOIN_ANS,
	P2P_LEAVE_REQ = 0x11, P2P_LEAVE_ANS,
	P2P_UPDATE_REQ = 0x13, P2P_UPDATE_ANS,
	P2P_ROUTE_QUERY_REQ = 0x15, P2P_ROUTE_QUERY_ANS,
	P2P_PING_REQ = 0x17, P2P_PING_ANS,
	P2P_STAT_REQ = 0x19, P2P_STAT_ANS,
	P2P_APP_ATTACH_REQ = 0x1d, P2P_APP_ATTACH_ANS,
	P2P_CONFIG_UPDATE_REQ = 0x21, P2P_CONFIG_UPDATE_ANS,
	P2P_PATH_TRACK_REQ = 0x27, P2P_PATH_TRACK_ANS,	/* RFC 7851 */
	P2P_ERROR = 0xffff,
};

/* Error codes of RFC 6940 s6.3.3.1 and RFC 7851 s9.4. */
enum p2p_error_code {
	P2P_ERR_FORBIDDEN = 0x02,
	P2P_ERR_NOT_FOUND = 0x03,
	P2P_ERR_REQUEST_TIMEOUT = 0x04,
	P2P_ERR_GENERATION_TOO_LOW = 0x05,
	P2P_ERR_INCOMPATIBLE = 0x06,
	P2P_ERR_UNSUPPORTED_FWD_OPTION = 0x07,
	P2P_ERR_DATA_TOO_LARGE = 0x08,
	P2P_ERR_DATA_TOO_OLD = 0x09,
	P2P_ERR_TTL_EXCEEDED = 0x0a,
	P2P_ERR_MESSAGE_TOO_LARGE = 0x0b,
	P2P_ERR_UNKNOWN_KIND = 0x0c,
	P2P_ERR_UNKNOWN_EXTENSION = 0x0d,
	P2P_ERR_RESPONSE_TOO_LARGE = 0x0e,
	P2P_ERR_CONFIG_TOO_OLD = 0x0f,
	P2P_ERR_CONFIG_TOO_NEW = 0x10,
	P2P_ERR_IN_PROGRESS = 0x11,
	P2P_ERR_EXP_A = 0x12,
	P2P_ERR_EXP_B = 0x13,
	P2P_ERR_INVALID_MESSAGE = 0x14,
	P2P_ERR_UNDERLAY_DEST_UNREACHABLE = 0x15,
	P2P_ERR_UNDERLAY_TIME_EXCEEDED = 0x16,
	P2P_ERR_MESSAGE_EXPIRED = 0x17,
	P2P_ERR_UPSTREAM_MISROUTING = 0x18,
	P2P_ERR_LOOP_DETECTED = 0x19,
	P2P_ERR_TTL_HOPS_EXCEEDED = 0x1a,
};

/*
 * Why a decode failed. reload_code is the RELOAD error to answer with, or 0
 * when the input is to be dropped silently (not RELOAD at all, say). what is
 * a static description; offset is where in the input the problem was seen.
 */
typedef struct p2p_err {
	uint16_t reload_code;
	const char *what;
	size_t offset;
} p2p_err;

void p2p_err_set(p2p_err *err, uint16_t code, const char *what, size_t off);
/* Name of a message code ("PingReq", "Error", ...) or NULL if unknown. */
const char *p2p_code_name(uint16_t code);
/* Name of an error code ("Error_Forbidden", ...) or NULL if unknown. */
const char *p2p_error_name(uint16_t code);

/* Destination (s6.3.2.2). */
enum p2p_dest_type {
	P2P_DEST_NODE = 1,
	P2P_DEST_RESOURCE = 2,
	P2P_DEST_OPAQUE = 3,
	P2P_DEST_COMPRESSED = 0x100,	/* the bare 16-bit form (top bit set) */
};

typedef struct p2p_dest {
	uint16_t type;		/* p2p_dest_type, or another TLV type 4..127 */
	p2p_id node;		/* NODE */
	p2p_bytes data;		/* RESOURCE, OPAQUE: the id without its length
				   byte; other TLV types: the raw value */
	uint16_t compressed;	/* COMPRESSED: the whole 16 bits, top bit set */
} p2p_dest;

int p2p_dest_decode1(p2p_rbuf *r, p2p_dest *out, p2p_err *err);
int p2p_dest_encode(p2p_wbuf *w, const p2p_dest *d);
/* Decode a byte run holding Destinations back to back. */
int p2p_dest_list_decode(p2p_bytes in, p2p_arena *a, p2p_dest **out,
    size_t *count, p2p_err *err);
int p2p_dest_list_encode(p2p_wbuf *w, const p2p_dest *d, size_t count);
void p2p_dest_node(p2p_dest *d, const p2p_id *id);
void p2p_dest_resource(p2p_dest *d, const p2p_id *id);

/* ForwardingOption (s6.3.2.3). */
enum {
	P2P_FWDOPT_FORWARD_CRITICAL = 0x01,
	P2P_FWDOPT_DESTINATION_CRITICAL = 0x02,
	P2P_FWDOPT_RESPONSE_COPY = 0x04,
};

typedef struct p2p_fwd_option {
	uint8_t type;
	uint8_t flags;
	p2p_bytes value;
} p2p_fwd_option;

/* MessageExtension (s6.3.3). */
enum { P2P_EXT_DIAGNOSTIC_PING = 2 };	/* RFC 7851 */

typedef struct p2p_msg_ext {
	uint16_t type;
	uint8_t critical;
	p2p_bytes contents;
} p2p_msg_ext;

/* SecurityBlock (s6.3.4). */
enum { P2P_CERT_X509 = 0, P2P_CERT_OPENPGP = 1 };
enum { P2P_HASH_NONE = 0, P2P_HASH_SHA1 = 2, P2P_HASH_SHA256 = 4 };
enum { P2P_SIGALG_ANON = 0, P2P_SIGALG_RSA = 1, P2P_SIGALG_ECDSA = 3 };
enum {
	P2P_SIGNER_CERT_HASH = 1,
	P2P_SIGNER_CERT_HASH_NODE_ID = 2,
	P2P_SIGNER_NONE = 3,
};

typedef struct p2p_cert {
	uint8_t type;
	p2p_bytes der;
} p2p_cert;

typedef struct p2p_signer {
	uint8_t type;		/* P2P_SIGNER_* or unknown */
	uint8_t hash_alg;	/* CERT_HASH, CERT_HASH_NODE_ID */
	p2p_bytes hash;		/* CERT_HASH, CERT_HASH_NODE_ID */
	p2p_bytes raw;		/* unknown types: the value as it came */
} p2p_signer;

typedef struct p2p_signature {
	uint8_t hash_alg;
	uint8_t sig_alg;
	p2p_signer signer;
	p2p_bytes value;
} p2p_signature;

int p2p_signer_decode1(p2p_rbuf *r, p2p_signer *out, p2p_err *err);
int p2p_signer_encode(p2p_wbuf *w, const p2p_signer *s);
int p2p_signature_decode1(p2p_rbuf *r, p2p_signature *out, p2p_err *err);
int p2p_signature_encode(p2p_wbuf *w, const p2p_signature *s);

typedef struct p2p_msg {
	/* ForwardingHeader */
	uint32_t overlay;
	uint16_t config_seq;
	uint8_t version;
	uint8_t ttl;
	uint32_t fragment;
	uint32_t length;	/* decoded value; the encoder computes it */
	uint64_t transaction_id;
	uint32_t max_response_length;
	p2p_dest *via;
	size_t nvia;
	p2p_dest *dest;
	size_t ndest;
	p2p_fwd_option *options;
	size_t noptions;
	/* MessageContents */
	uint16_t code;
	p2p_bytes body;
	p2p_msg_ext *exts;
	size_t nexts;
	/* SecurityBlock */
	p2p_cert *certs;
	size_t ncerts;
	p2p_signature sig;
	/* Filled by the decoder: the exact MessageContents bytes and the
	 * SignerIdentity bytes, the inputs of the message signature. */
	p2p_bytes raw_contents;
	p2p_bytes raw_signer;
} p2p_msg;

/* What the decoder checks beyond the syntax. */
enum p2p_role {
	P2P_ROLE_CODEC = 0,	/* syntax only */
	P2P_ROLE_FORWARDER,	/* unknown FORWARD_CRITICAL options fail */
	P2P_ROLE_DESTINATION,	/* unknown DESTINATION_CRITICAL options and
				   unknown critical extensions fail */
};

typedef struct p2p_decode_opts {
	size_t max_size;	/* 0: no limit beyond the format's own */
	enum p2p_role role;
} p2p_decode_opts;

/*
 * Decode the forwarding header only, e.g. to forward without looking
 * further. *payload gets the bytes after the header and its lists, bounded
 * by the header's length field.
 */
int p2p_fwd_decode(const uint8_t *buf, size_t len, const p2p_decode_opts *o,
    p2p_arena *a, p2p_msg *m, p2p_bytes *payload, p2p_err *err);
/* Decode one whole, unfragmented message occupying exactly len bytes. */
int p2p_msg_decode(const uint8_t *buf, size_t len, const p2p_decode_opts *o,
    p2p_arena *a, p2p_msg *m, p2p_err *err);
/*
 * Encode a message. The length field is computed; version, fragment and
 * raw_* fields are written as they are in m (p2p_msg_init sets defaults).
 */
int p2p_msg_encode(p2p_wbuf *w, const p2p_msg *m);
/*
 * Encode the forwarding header of m (with its current TTL, via and
 * destination lists and options) followed by payload, the bytes that came
 * after the header of a received message. This is how a forwarder re-sends
 * a message without touching what the signature covers.
 */
int p2p_msg_encode_fwd(p2p_wbuf *w, const p2p_msg *m, p2p_bytes payload);
/* Encode MessageContents alone (the bytes the signature covers). */
int p2p_contents_encode(p2p_wbuf *w, const p2p_msg *m);
/*
 * The message signature input: overlay || transaction_id || contents ||
 * SignerIdentity.
 */
int p2p_msg_sig_input(p2p_wbuf *w, uint32_t overlay, uint64_t tid,
    p2p_bytes contents, const p2p_signer *signer);
void p2p_msg_init(p2p_msg *m);
/* Lower 32 bits of SHA-1(overlay name). */
uint32_t p2p_overlay_hash(const char *name);
/* Is a message code a request (odd, below 0x8000)? */
int p2p_code_is_request(uint16_t code);

#endif
