/*
 * buf: bounds-checked reading and writing of TLS presentation-language data.
 *
 * The reader (p2p_rbuf) is a view of bytes that shrinks from the front as
 * values are taken; every getter returns 1 on success and 0, leaving the
 * output untouched, when the value would run past the end.
 *
 * The writer (p2p_wbuf) appends big-endian values to a growable or fixed
 * buffer. Errors are sticky: after the first failure (out of memory, fixed
 * buffer full, vector too long for its prefix) every call is a no-op and
 * p2p_w_ok() reports it, so encoders check once at the end.
 */
#ifndef P2P_BUF_H
#define P2P_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed run of bytes (never owned). */
typedef struct p2p_bytes {
	const uint8_t *p;
	size_t len;
} p2p_bytes;

typedef struct p2p_rbuf {
	const uint8_t *p;
	size_t len;
} p2p_rbuf;

void p2p_r_init(p2p_rbuf *r, const uint8_t *p, size_t len);
size_t p2p_r_left(const p2p_rbuf *r);
int p2p_r_u8(p2p_rbuf *r, uint8_t *v);
int p2p_r_u16(p2p_rbuf *r, uint16_t *v);
int p2p_r_u24(p2p_rbuf *r, uint32_t *v);
int p2p_r_u32(p2p_rbuf *r, uint32_t *v);
int p2p_r_u64(p2p_rbuf *r, uint64_t *v);
/* Take n raw bytes. */
int p2p_r_bytes(p2p_rbuf *r, size_t n, p2p_bytes *out);
int p2p_r_copy(p2p_rbuf *r, void *dst, size_t n);
int p2p_r_skip(p2p_rbuf *r, size_t n);
/* Take a vector with a width-byte (1..4) length prefix, as bytes or as a
 * sub-reader. */
int p2p_r_vec(p2p_rbuf *r, int width, p2p_bytes *out);
int p2p_r_sub(p2p_rbuf *r, int width, p2p_rbuf *sub);
/* Like p2p_r_vec but also requires lo <= length <= hi. */
int p2p_r_vec_range(p2p_rbuf *r, int width, size_t lo, size_t hi,
    p2p_bytes *out);

enum { P2P_WBUF_NOMEM = 1, P2P_WBUF_FULL = 2, P2P_WBUF_RANGE = 3 };

typedef struct p2p_wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	int fixed;	/* memory is the caller's: never grown or freed */
	int err;	/* sticky P2P_WBUF_* */
} p2p_wbuf;

/* Growable buffer; start with cap bytes (0 is fine). */
void p2p_w_init(p2p_wbuf *w, size_t cap);
/* Fixed buffer owned by the caller. */
void p2p_w_init_fixed(p2p_wbuf *w, uint8_t *mem, size_t cap);
void p2p_w_free(p2p_wbuf *w);
void p2p_w_reset(p2p_wbuf *w);
int p2p_w_ok(const p2p_wbuf *w);
void p2p_w_u8(p2p_wbuf *w, uint8_t v);
void p2p_w_u16(p2p_wbuf *w, uint16_t v);
void p2p_w_u24(p2p_wbuf *w, uint32_t v);
void p2p_w_u32(p2p_wbuf *w, uint32_t v);
void p2p_w_u64(p2p_wbuf *w, uint64_t v);
void p2p_w_raw(p2p_wbuf *w, const void *src, size_t n);
/* Reserve n bytes and return a pointer to them (NULL after an error). */
uint8_t *p2p_w_space(p2p_wbuf *w, size_t n);
/* A whole vector: width-byte length then the bytes. */
void p2p_w_vec(p2p_wbuf *w, int width, const void *src, size_t n);
/* Open a vector whose length is patched in by p2p_w_end; returns a mark. */
size_t p2p_w_begin(p2p_wbuf *w, int width);
void p2p_w_end(p2p_wbuf *w, size_t mark, int width);
/* Store value into an already-written width-byte slot at offset off. */
void p2p_w_patch(p2p_wbuf *w, size_t off, int width, uint64_t value);

/*
 * Arena: a bump allocator over caller-provided memory. Decoders take their
 * arrays from it, so a decode into a large enough arena allocates nothing;
 * when it is exhausted allocation fails (the decode fails cleanly).
 */
typedef struct p2p_arena {
	uint8_t *base;
	size_t cap;
	size_t used;
} p2p_arena;

void p2p_arena_init(p2p_arena *a, void *mem, size_t cap);
void p2p_arena_reset(p2p_arena *a);
/* n bytes aligned for any object; NULL when exhausted. */
void *p2p_arena_alloc(p2p_arena *a, size_t n);
/* count objects of size sz, with overflow checking. */
void *p2p_arena_array(p2p_arena *a, size_t count, size_t sz);

int p2p_bytes_eq(p2p_bytes a, p2p_bytes b);

/*
 * Base64 (RFC 4648, standard alphabet, padded). encode returns a malloc'd
 * NUL-terminated string (NULL when out of memory). decode skips white
 * space, refuses any other character outside the alphabet, padding
 * anywhere but at the end and a length that is not a multiple of 4; on
 * success *out is malloc'd (free it; never NULL, even for no bytes).
 */
char *p2p_base64_encode(const uint8_t *p, size_t len);
int p2p_base64_decode(const char *s, size_t n, uint8_t **out, size_t *len);

#endif
