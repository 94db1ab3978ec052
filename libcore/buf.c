#include "buf.h"

#include <stdlib.h>
#include <string.h>

void
p2p_r_init(p2p_rbuf *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = p != NULL ? len : 0;
}

size_t
p2p_r_left(const p2p_rbuf *r)
{
	return r->len;
}

static int
r_uint(p2p_rbuf *r, int n, uint64_t *v)
{
	uint64_t x = 0;

	if (r->len < (size_t)n)
		return 0;
	for (int i = 0; i < n; i++)
		x = (x << 8) | r->p[i];
	r->p += n;
	r->len -= n;
	*v = x;
	return 1;
}

int
p2p_r_u8(p2p_rbuf *r, uint8_t *v)
{
	if (r->len < 1)
		return 0;
	*v = r->p[0];
	r->p++;
	r->len--;
	return 1;
}

int
p2p_r_u16(p2p_rbuf *r, uint16_t *v)
{
	uint64_t x;

	if (!r_uint(r, 2, &x))
		return 0;
	*v = (uint16_t)x;
	return 1;
}

int
p2p_r_u24(p2p_rbuf *r, uint32_t *v)
{
	uint64_t x;

	if (!r_uint(r, 3, &x))
		return 0;
	*v = (uint32_t)x;
	return 1;
}

int
p2p_r_u32(p2p_rbuf *r, uint32_t *v)
{
	uint64_t x;

	if (!r_uint(r, 4, &x))
		return 0;
	*v = (uint32_t)x;
	return 1;
}

int
p2p_r_u64(p2p_rbuf *r, uint64_t *v)
{
	return r_uint(r, 8, v);
}

int
p2p_r_bytes(p2p_rbuf *r, size_t n, p2p_bytes *out)
{
	if (r->len < n)
		return 0;
	out->p = r->p;
	out->len = n;
	r->p += n;
	r->len -= n;
	return 1;
}

int
p2p_r_copy(p2p_rbuf *r, void *dst, size_t n)
{
	p2p_bytes b;

	if (!p2p_r_bytes(r, n, &b))
		return 0;
	if (n > 0)
		memcpy(dst, b.p, n);
	return 1;
}

int
p2p_r_skip(p2p_rbuf *r, size_t n)
{
	p2p_bytes b;

	return p2p_r_bytes(r, n, &b);
}

int
p2p_r_vec(p2p_rbuf *r, int width, p2p_bytes *out)
{
	p2p_rbuf save = *r;
	uint64_t n;

	if (width < 1 || width > 4 || !r_uint(r, width, &n))
		return 0;
	if (!p2p_r_bytes(r, (size_t)n, out)) {
		*r = save;
		return 0;
	}
	return 1;
}

int
p2p_r_sub(p2p_rbuf *r, int width, p2p_rbuf *sub)
{
	p2p_bytes b;

	if (!p2p_r_vec(r, width, &b))
		return 0;
	p2p_r_init(sub, b.p, b.len);
	return 1;
}

int
p2p_r_vec_range(p2p_rbuf *r, int width, size_t lo, size_t hi, p2p_bytes *out)
{
	p2p_rbuf save = *r;
	p2p_bytes b;

	if (!p2p_r_vec(r, width, &b))
		return 0;
	if (b.len < lo || b.len > hi) {
		*r = save;
		return 0;
	}
	*out = b;
	return 1;
}

void
p2p_w_init(p2p_wbuf *w, size_t cap)
{
	memset(w, 0, sizeof(*w));
	if (cap > 0) {
		w->p = malloc(cap);
		if (w->p == NULL)
			w->err = P2P_WBUF_NOMEM;
		else
			w->cap = cap;
	}
}

void
p2p_w_init_fixed(p2p_wbuf *w, uint8_t *mem, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->p = mem;
	w->cap = cap;
	w->fixed = 1;
}

void
p2p_w_free(p2p_wbuf *w)
{
	if (!w->fixed)
		free(w->p);
	memset(w, 0, sizeof(*w));
}

void
p2p_w_reset(p2p_wbuf *w)
{
	w->len = 0;
	w->err = 0;
}

int
p2p_w_ok(const p2p_wbuf *w)
{
	return w->err == 0;
}

uint8_t *
p2p_w_space(p2p_wbuf *w, size_t n)
{
	uint8_t *at;

	if (w->err)
		return NULL;
	if (n > SIZE_MAX - w->len) {
		w->err = P2P_WBUF_RANGE;
		return NULL;
	}
	if (w->len + n > w->cap) {
		size_t ncap;
		uint8_t *np;

		if (w->fixed) {
			w->err = P2P_WBUF_FULL;
			return NULL;
		}
		ncap = w->cap < 64 ? 64 : w->cap;
		while (ncap < w->len + n) {
			if (ncap > SIZE_MAX / 2) {
				w->err = P2P_WBUF_NOMEM;
				return NULL;
			}
			ncap *= 2;
		}
		np = realloc(w->p, ncap);
		if (np == NULL) {
			w->err = P2P_WBUF_NOMEM;
			return NULL;
		}
		w->p = np;
		w->cap = ncap;
	}
	at = w->p + w->len;
	w->len += n;
	return at;
}

static void
w_uint(p2p_wbuf *w, int n, uint64_t v)
{
	uint8_t *at = p2p_w_space(w, (size_t)n);

	if (at == NULL)
		return;
	for (int i = n - 1; i >= 0; i--) {
		at[i] = (uint8_t)v;
		v >>= 8;
	}
}

void p2p_w_u8(p2p_wbuf *w, uint8_t v) { w_uint(w, 1, v); }
void p2p_w_u16(p2p_wbuf *w, uint16_t v) { w_uint(w, 2, v); }
void p2p_w_u32(p2p_wbuf *w, uint32_t v) { w_uint(w, 4, v); }
void p2p_w_u64(p2p_wbuf *w, uint64_t v) { w_uint(w, 8, v); }

void
p2p_w_u24(p2p_wbuf *w, uint32_t v)
{
	if (v > 0xffffff) {
		if (!w->err)
			w->err = P2P_WBUF_RANGE;
		return;
	}
	w_uint(w, 3, v);
}

void
p2p_w_raw(p2p_wbuf *w, const void *src, size_t n)
{
	uint8_t *at = p2p_w_space(w, n);

	if (at != NULL && n > 0)
		memcpy(at, src, n);
}

static uint64_t
width_max(int width)
{
	return width >= 8 ? UINT64_MAX : (((uint64_t)1 << (8 * width)) - 1);
}

void
p2p_w_vec(p2p_wbuf *w, int width, const void *src, size_t n)
{
	if (width < 1 || width > 4 || (uint64_t)n > width_max(width)) {
		if (!w->err)
			w->err = P2P_WBUF_RANGE;
		return;
	}
	w_uint(w, width, n);
	p2p_w_raw(w, src, n);
}

size_t
p2p_w_begin(p2p_wbuf *w, int width)
{
	size_t mark = w->len;

	if (width < 1 || width > 4) {
		if (!w->err)
			w->err = P2P_WBUF_RANGE;
		return mark;
	}
	w_uint(w, width, 0);
	return mark;
}

void
p2p_w_patch(p2p_wbuf *w, size_t off, int width, uint64_t value)
{
	if (w->err)
		return;
	if (width < 1 || width > 8 || off > w->len ||
	    (size_t)width > w->len - off || value > width_max(width)) {
		w->err = P2P_WBUF_RANGE;
		return;
	}
	for (int i = width - 1; i >= 0; i--) {
		w->p[off + i] = (uint8_t)value;
		value >>= 8;
	}
}

void
p2p_w_end(p2p_wbuf *w, size_t mark, int width)
{
	if (w->err)
		return;
	p2p_w_patch(w, mark, width, w->len - mark - (size_t)width);
}

void
p2p_arena_init(p2p_arena *a, void *mem, size_t cap)
{
	a->base = mem;
	a->cap = mem != NULL ? cap : 0;
	a->used = 0;
}

void
p2p_arena_reset(p2p_arena *a)
{
	a->used = 0;
}

void *
p2p_arena_alloc(p2p_arena *a, size_t n)
{
	const size_t align = _Alignof(max_align_t);
	uintptr_t start = (uintptr_t)(a->base + a->used);
	size_t pad = (align - start % align) % align;

	if (a->base == NULL || pad > a->cap - a->used ||
	    n > a->cap - a->used - pad)
		return NULL;
	a->used += pad;
	start = (uintptr_t)(a->base + a->used);
	a->used += n;
	return (void *)start;
}

void *
p2p_arena_array(p2p_arena *a, size_t count, size_t sz)
{
	if (sz != 0 && count > SIZE_MAX / sz)
		return NULL;
	return p2p_arena_alloc(a, count * sz);
}

int
p2p_bytes_eq(p2p_bytes a, p2p_bytes b)
{
	if (a.len != b.len)
		return 0;
	return a.len == 0 || memcmp(a.p, b.p, a.len) == 0;
}

static const char b64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
p2p_base64_encode(const uint8_t *p, size_t len)
{
	size_t n, o = 0;
	char *s;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	n = 4 * ((len + 2) / 3);
	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t k = len - i < 3 ? len - i : 3;

		if (k > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (k > 2)
			v |= p[i + 2];
		s[o++] = b64_digits[v >> 18 & 63];
		s[o++] = b64_digits[v >> 12 & 63];
		s[o++] = k > 1 ? b64_digits[v >> 6 & 63] : '=';
		s[o++] = k > 2 ? b64_digits[v & 63] : '=';
	}
	s[o] = '\0';
	return s;
}

static int
b64_value(char c)
{
	const char *at;

	if (c == '\0' || (at = strchr(b64_digits, c)) == NULL)
		return -1;
	return (int)(at - b64_digits);
}

int
p2p_base64_decode(const char *s, size_t n, uint8_t **out, size_t *len)
{
	uint8_t *b;
	size_t m = 0, o = 0, pad = 0;
	uint32_t acc = 0;
	int q = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' &&
		    s[i] != '\r')
			m++;
	if (m % 4 != 0 || (b = malloc(m / 4 * 3 + 1)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == '=') {
			pad++;
			v = 0;
		} else if (pad > 0 || (v = b64_value(c)) < 0) {
			free(b);
			return -1;	/* bad character, or data after '=' */
		}
		acc = acc << 6 | (uint32_t)v;
		if (++q == 4) {
			b[o++] = (uint8_t)(acc >> 16);
			b[o++] = (uint8_t)(acc >> 8);
			b[o++] = (uint8_t)acc;
			acc = 0;
			q = 0;
		}
	}
	if (pad > 2) {
		free(b);
		return -1;
	}
	*out = b;
	*len = o - pad;
	return 0;
}
