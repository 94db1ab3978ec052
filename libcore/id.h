/*
 * id: 128-bit Node-IDs and Resource-IDs of the CHORD-RELOAD ring.
 *
 * Byte 0 is the most significant. Arithmetic is modulo 2^128.
 */
#ifndef P2P_ID_H
#define P2P_ID_H

#include <stddef.h>
#include <stdint.h>

#define P2P_ID_LEN 16
#define P2P_ID_HEXLEN (2 * P2P_ID_LEN)

typedef struct p2p_id {
	uint8_t b[P2P_ID_LEN];
} p2p_id;

int p2p_id_cmp(const p2p_id *a, const p2p_id *b);
int p2p_id_eq(const p2p_id *a, const p2p_id *b);
int p2p_id_is_zero(const p2p_id *a);
int p2p_id_is_wildcard(const p2p_id *a);
void p2p_id_wildcard(p2p_id *out);
/* out = a + b (mod 2^128). */
void p2p_id_add(p2p_id *out, const p2p_id *a, const p2p_id *b);
/* out = b - a (mod 2^128): the clockwise distance from a to b. */
void p2p_id_distance(p2p_id *out, const p2p_id *a, const p2p_id *b);
/* out = a + 2^bit (mod 2^128), 0 <= bit < 128. */
void p2p_id_add_pow2(p2p_id *out, const p2p_id *a, unsigned bit);
/* out = a + n (mod 2^128). */
void p2p_id_add_u64(p2p_id *out, const p2p_id *a, uint64_t n);
/* Is x in the ring interval (a, b]? When a == b the interval is the
 * whole ring. */
int p2p_id_in_oc(const p2p_id *x, const p2p_id *a, const p2p_id *b);
/* Is x in the open interval (a, b)? When a == b: every x except a. */
int p2p_id_in_oo(const p2p_id *x, const p2p_id *a, const p2p_id *b);
/* Lower-case hex, NUL-terminated; buf has P2P_ID_HEXLEN + 1 bytes. */
char *p2p_id_hex(const p2p_id *a, char *buf);
/* Parse exactly 32 hex digits (either case). 0 on error. */
int p2p_id_from_hex(p2p_id *out, const char *s);
/* Resource-ID of a name: the top 128 bits of SHA-1(name). */
void p2p_id_from_name(p2p_id *out, const void *name, size_t len);
/* Resource-ID of a NODE-MULTIPLE value (RFC 6940 s7.3.4): the name is the
 * 16 raw bytes of the Node-ID followed by i as a 4-byte big-endian
 * integer (the RFC says "concatenated" without a width; this is the
 * choice of store.h). */
void p2p_id_node_multiple(p2p_id *out, const p2p_id *node, uint32_t i);

#endif
