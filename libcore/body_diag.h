/*
 * body_diag: overlay diagnostics (RFC 7851) on the wire.
 *
 * DiagnosticsRequest and DiagnosticsResponse (s5.1, s5.2), the PathTrack
 * method bodies built on them (s4.3.1, codes 0x27/0x28), the dMFlags bits
 * and Diagnostic Kind IDs (s9.1, s9.2), and typed helpers for the contents
 * of each base diagnostic kind (s5.3). The codecs follow the conventions at
 * the top of msg.h: decoders never touch the heap, lists come from the
 * arena, opaque fields point into the input.
 *
 * ext_length and the list's own length prefix. Both structures declare a
 * u32 ext_length followed by a list written as a <0..2^32-1> vector, which
 * in the presentation language carries its own u32 byte count. The text
 * defines ext_length as the byte length of the data making up the list
 * (not of the whole structure) and requires it to be zero when the list is
 * empty. We therefore write
 *
 *     ext_length = N, u32 N, N bytes of list entries
 *
 * (for an empty list: 00000000 00000000). An ext_length counting the
 * prefix too (4 + N) cannot be right, since an empty list would then have
 * ext_length 4, which the text says means "something is there". Decoders
 * nevertheless accept, because implementations differ here:
 *   - ext_length = N, then u32 N, then the entries (what we write);
 *   - ext_length = 4 + N, then u32 N, then the entries;
 *   - ext_length = 0 with nothing at all after it (no prefix).
 * Anything else is Error_Invalid_Message.
 */
#ifndef P2P_BODY_DIAG_H
#define P2P_BODY_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msg.h"

/* dMFlags bits (s9.1). Bit k requests the Diagnostic Kind ID k. */
#define P2P_DIAG_FLAG_NONE			0x0000000000000000ull
#define P2P_DIAG_FLAG_RESERVED_FIRST		0x0000000000000001ull
#define P2P_DIAG_FLAG_STATUS_INFO		0x0000000000000002ull
#define P2P_DIAG_FLAG_ROUTING_TABLE_SIZE	0x0000000000000004ull
#define P2P_DIAG_FLAG_PROCESS_POWER		0x0000000000000008ull
#define P2P_DIAG_FLAG_UPSTREAM_BANDWIDTH	0x0000000000000010ull
#define P2P_DIAG_FLAG_DOWNSTREAM_BANDWIDTH	0x0000000000000020ull
#define P2P_DIAG_FLAG_SOFTWARE_VERSION		0x0000000000000040ull
#define P2P_DIAG_FLAG_MACHINE_UPTIME		0x0000000000000080ull
#define P2P_DIAG_FLAG_APP_UPTIME		0x0000000000000100ull
#define P2P_DIAG_FLAG_MEMORY_FOOTPRINT		0x0000000000000200ull
#define P2P_DIAG_FLAG_DATASIZE_STORED		0x0000000000000400ull
#define P2P_DIAG_FLAG_INSTANCES_STORED		0x0000000000000800ull
#define P2P_DIAG_FLAG_MESSAGES_SENT_RCVD	0x0000000000001000ull
#define P2P_DIAG_FLAG_EWMA_BYTES_SENT		0x0000000000002000ull
#define P2P_DIAG_FLAG_EWMA_BYTES_RCVD		0x0000000000004000ull
#define P2P_DIAG_FLAG_UNDERLAY_HOP		0x0000000000008000ull
#define P2P_DIAG_FLAG_BATTERY_STATUS		0x0000000000010000ull
#define P2P_DIAG_FLAG_RESERVED_LAST		0x8000000000000000ull
#define P2P_DIAG_FLAG_ALL			0xffffffffffffffffull

/* Diagnostic Kind IDs (s9.2). */
enum p2p_diag_kind {
	P2P_DIAG_KIND_RESERVED = 0x0000,
	P2P_DIAG_STATUS_INFO = 0x0001,
	P2P_DIAG_ROUTING_TABLE_SIZE = 0x0002,
	P2P_DIAG_PROCESS_POWER = 0x0003,
	P2P_DIAG_UPSTREAM_BANDWIDTH = 0x0004,
	P2P_DIAG_DOWNSTREAM_BANDWIDTH = 0x0005,
	P2P_DIAG_SOFTWARE_VERSION = 0x0006,
	P2P_DIAG_MACHINE_UPTIME = 0x0007,
	P2P_DIAG_APP_UPTIME = 0x0008,
	P2P_DIAG_MEMORY_FOOTPRINT = 0x0009,
	P2P_DIAG_DATASIZE_STORED = 0x000a,
	P2P_DIAG_INSTANCES_STORED = 0x000b,
	P2P_DIAG_MESSAGES_SENT_RCVD = 0x000c,
	P2P_DIAG_EWMA_BYTES_SENT = 0x000d,
	P2P_DIAG_EWMA_BYTES_RCVD = 0x000e,
	P2P_DIAG_UNDERLAY_HOP = 0x000f,
	P2P_DIAG_BATTERY_STATUS = 0x0010,
	/* Kinds 0x0000..0x003f belong to dMFlags bits and never appear in
	 * a request's extension list. */
	P2P_DIAG_KIND_FLAG_MAX = 0x003f,
	P2P_DIAG_KIND_LOCAL_MIN = 0xf000,	/* overlay-local kinds */
	P2P_DIAG_KIND_LOCAL_MAX = 0xfffe,
	P2P_DIAG_KIND_RESERVED_MAX = 0xffff,
};

/* STATUS_INFO: congestion level in the low four bits. */
#define P2P_DIAG_CONGESTION_MAX		0x0f
/* BATTERY_STATUS: top bit clear means running on battery. */
#define P2P_DIAG_BATTERY_NOT_ON_BATTERY	0x80
/* Expiration window of requests and responses (s5.1, s5.2). */
#define P2P_DIAG_MAX_EXPIRATION_MS	600000ull

/* DiagnosticExtension: one extra item asked for in a request. */
typedef struct p2p_diag_ext {
	uint16_t kind;
	p2p_bytes contents;	/* up to 2^32-1 bytes */
} p2p_diag_ext;

typedef struct p2p_diag_req {
	uint64_t expiration;		/* ms since the epoch */
	uint64_t timestamp_initiated;	/* ms since the epoch */
	uint64_t flags;			/* dMFlags */
	p2p_diag_ext *exts;
	size_t nexts;
} p2p_diag_req;

/* DiagnosticInfo: one item returned in a response. */
typedef struct p2p_diag_info {
	uint16_t kind;
	p2p_bytes contents;	/* up to 2^16-1 bytes */
} p2p_diag_info;

typedef struct p2p_diag_resp {
	uint64_t expiration;
	uint64_t timestamp_initiated;	/* copied from the request */
	uint64_t timestamp_received;
	uint8_t hop_counter;		/* TTL of the request as received */
	p2p_diag_info *infos;
	size_t ninfos;
} p2p_diag_resp;

typedef struct p2p_path_track_req {
	p2p_dest dest;
	p2p_diag_req req;
} p2p_path_track_req;

typedef struct p2p_path_track_ans {
	p2p_dest next_hop;
	p2p_diag_resp resp;
} p2p_path_track_ans;

/* Codecs. The diagnostics structures are also the contents of the
 * Diagnostic_Ping message extension, hence the separate entry points. */
int p2p_diag_req_decode(p2p_bytes in, p2p_arena *a, p2p_diag_req *out,
    p2p_err *err);
int p2p_diag_req_encode(p2p_wbuf *w, const p2p_diag_req *in);
int p2p_diag_resp_decode(p2p_bytes in, p2p_arena *a, p2p_diag_resp *out,
    p2p_err *err);
int p2p_diag_resp_encode(p2p_wbuf *w, const p2p_diag_resp *in);
int p2p_path_track_req_decode(p2p_bytes in, p2p_arena *a,
    p2p_path_track_req *out, p2p_err *err);
int p2p_path_track_req_encode(p2p_wbuf *w, const p2p_path_track_req *in);
int p2p_path_track_ans_decode(p2p_bytes in, p2p_arena *a,
    p2p_path_track_ans *out, p2p_err *err);
int p2p_path_track_ans_encode(p2p_wbuf *w, const p2p_path_track_ans *in);

/*
 * dMFlags <-> Diagnostic Kind ID. Kind k (1..62) is requested by bit k.
 * p2p_diag_kind_flag returns 0 for kinds without a bit (0, 63 and up);
 * p2p_diag_flag_kind returns P2P_DIAG_KIND_RESERVED unless flag has
 * exactly one bit set and that bit is neither reserved one.
 */
uint64_t p2p_diag_kind_flag(uint16_t kind);
uint16_t p2p_diag_flag_kind(uint64_t flag);
/* Does a request with these dMFlags ask for this kind? (All ones asks for
 * every kind that has a bit.) */
int p2p_diag_flags_want(uint64_t flags, uint16_t kind);
/* "ROUTING_TABLE_SIZE" etc., or NULL for kinds without a name. */
const char *p2p_diag_kind_name(uint16_t kind);

/*
 * Expiration check shared by requests and responses: expiration must lie
 * in (now_ms, now_ms + 600 s]. In the past or now: P2P_ERR_MESSAGE_EXPIRED;
 * too far ahead: P2P_ERR_INVALID_MESSAGE.
 */
int p2p_diag_check_expiration(uint64_t expiration, uint64_t now_ms,
    p2p_err *err);
/*
 * Everything a receiver checks beyond the syntax: the expiration window,
 * reserved dMFlags bits (must be clear unless the flags are all zeros or
 * all ones) and the extension kinds (0x0000..0x003f and 0xffff are not
 * allowed in the list). 0 if acceptable, -1 with err set otherwise.
 */
int p2p_diag_req_validate(const p2p_diag_req *r, uint64_t now_ms,
    p2p_err *err);

/*
 * Contents of the base diagnostic kinds (s5.3). The encoders append the
 * diagnostic_info_contents bytes (no kind, no length) and fail with -1 when
 * a value is out of range or the result would not fit the 16-bit length
 * of a DiagnosticInfo; the decoders take exactly those bytes and fail with
 * Error_Invalid_Message on a wrong size or value.
 *
 * Single-value kinds are big-endian unsigned integers whose width depends
 * on the kind: STATUS_INFO, UNDERLAY_HOP, BATTERY_STATUS 1 byte;
 * ROUTING_TABLE_SIZE, EWMA_BYTES_SENT, EWMA_BYTES_RCVD 4 bytes;
 * PROCESS_POWER, UPSTREAM/DOWNSTREAM_BANDWIDTH, MACHINE_UPTIME, APP_UPTIME,
 * MEMORY_FOOTPRINT, DATASIZE_STORED 8 bytes. STATUS_INFO additionally
 * requires the top four bits to be zero.
 */
/* Width in bytes of a single-value kind, 0 for any other kind. */
size_t p2p_diag_scalar_size(uint16_t kind);
int p2p_diag_scalar_encode(p2p_wbuf *w, uint16_t kind, uint64_t v);
int p2p_diag_scalar_decode(uint16_t kind, p2p_bytes in, uint64_t *v,
    p2p_err *err);
/* Typed shortcuts for the kinds that are not plain counters. */
int p2p_diag_status_encode(p2p_wbuf *w, uint8_t congestion);
int p2p_diag_status_decode(p2p_bytes in, uint8_t *congestion, p2p_err *err);
int p2p_diag_battery_encode(p2p_wbuf *w, int on_battery, uint8_t app_bits);
int p2p_diag_battery_decode(p2p_bytes in, int *on_battery,
    uint8_t *app_bits, p2p_err *err);

/*
 * SOFTWARE_VERSION: US-ASCII text followed by one NUL byte, which is the
 * last byte of the contents. The decoder rejects a missing terminator, a
 * NUL inside the text and bytes above 0x7f; on success *s points into the
 * input (a valid C string) and *len is its length without the NUL.
 */
int p2p_diag_software_encode(p2p_wbuf *w, const char *s);
int p2p_diag_software_decode(p2p_bytes in, const char **s, size_t *len,
    p2p_err *err);

/*
 * INSTANCES_STORED: the RFC describes "an array indexed by Kind-ID of
 * 64-bit counts" without a wire layout. We write one entry per kind,
 * { u32 kind; u64 count; } back to back (12 bytes each), with no further
 * prefix since the DiagnosticInfo length already bounds the list.
 */
typedef struct p2p_diag_instances {
	uint32_t kind;
	uint64_t count;
} p2p_diag_instances;

int p2p_diag_instances_encode(p2p_wbuf *w, const p2p_diag_instances *v,
    size_t n);
int p2p_diag_instances_decode(p2p_bytes in, p2p_arena *a,
    p2p_diag_instances **out, size_t *n, p2p_err *err);

/*
 * MESSAGES_SENT_RCVD: likewise "indexed by method code, each entry a pair
 * of 64-bit counters". We write { u16 message_code; u64 sent; u64 rcvd; }
 * back to back (18 bytes each).
 */
typedef struct p2p_diag_msg_count {
	uint16_t code;
	uint64_t sent;
	uint64_t rcvd;
} p2p_diag_msg_count;

int p2p_diag_msg_counts_encode(p2p_wbuf *w, const p2p_diag_msg_count *v,
    size_t n);
int p2p_diag_msg_counts_decode(p2p_bytes in, p2p_arena *a,
    p2p_diag_msg_count **out, size_t *n, p2p_err *err);

#endif
