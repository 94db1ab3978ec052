/*
 * sipreg: AORs, route registrations and GRUUs of the SIP usage
 * (RFC 7904). See sipreg.h for the forms accepted and the choices made
 * where the RFCs leave room.
 *
 * Parsing goes in two steps: uri_split() finds, in a bare AOR, a URI or
 * a name-addr, the user, host, port and parameter spans of the addr-spec
 * without looking at their contents; the callers then check and build
 * from those spans. Every byte is checked for control characters first,
 * so the later steps only see printable ASCII (or UTF-8 in a display
 * name).
 */
#include "sipreg.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The spans of an addr-spec; offsets into the input. */
typedef struct uri_parts {
	size_t user, user_end;
	size_t host, host_end;		/* without the port */
	size_t params, params_end;	/* after the first ';', or empty */
} uri_parts;

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

/* RFC 3261 unreserved and user-unreserved, less ';', '?' and '/'
 * (which would make the end of the user part ambiguous). */
static int
user_char(int c)
{
	return is_alnum(c) || (c != '\0' && strchr("-_.!~*'()&=+$,", c) !=
	    NULL);
}

static int
host_char(int c)
{
	return is_alnum(c) || c == '-' || c == '.';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return 1;
	}
	return 0;
}

static int
is_ws(int c)
{
	return c == ' ' || c == '\t';
}

/* Skip a display name: a quoted string or tokens up to '<'. Returns the
 * offset of '<', or -1 if there is none (no name-addr). */
static long
skip_display(const char *s, size_t b, size_t e)
{
	size_t i = b;

	if (i < e && s[i] == '"') {
		for (i++; i < e && s[i] != '"'; i++)
			if (s[i] == '\\' && ++i == e)
				return -1;
		if (i == e)
			return -1;
		for (i++; i < e && is_ws(s[i]); i++)
			;
		return i < e && s[i] == '<' ? (long)i : -1;
	}
	for (; i < e && s[i] != '<'; i++)
		if (s[i] == '"' || s[i] == '>')
			return -1;
	return i < e ? (long)i : -1;
}

/* The addr-spec of in: inside <...> when there are brackets, else all of
 * it, trimmed. */
static int
addr_span(const char *s, size_t n, size_t *b, size_t *e)
{
	const char *gt;
	size_t i;
	long lt;

	*b = 0;
	*e = n;
	while (*b < *e && is_ws(s[*b]))
		(*b)++;
	while (*e > *b && is_ws(s[*e - 1]))
		(*e)--;
	if (memchr(s + *b, '<', *e - *b) == NULL &&
	    memchr(s + *b, '"', *e - *b) == NULL) {
		return memchr(s + *b, '>', *e - *b) == NULL ? 0 : -1;
	}
	if ((lt = skip_display(s, *b, *e)) < 0)
		return -1;
	gt = memchr(s + lt + 1, '>', *e - (size_t)lt - 1);
	if (gt == NULL)
		return -1;
	/* after the '>' only header parameters: ";name=value..." */
	for (i = (size_t)(gt - s) + 1; i < *e && is_ws(s[i]); i++)
		;
	if ((i < *e && s[i] != ';') || memchr(s + i, '<', *e - i) != NULL)
		return -1;
	*b = (size_t)lt + 1;
	*e = (size_t)(gt - s);
	return memchr(s + *b, '<', *e - *b) == NULL ? 0 : -1;
}

/* A port after the host: ':' then 1..5 digits, at most 65535. */
static int
port_ok(const char *s, size_t b, size_t e)
{
	unsigned long v = 0;

	if (e - b < 2 || e - b > 6 || s[b] != ':')
		return 0;
	for (size_t i = b + 1; i < e; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

static int
scheme_len(const char *s, size_t b, size_t e)
{
	if (e - b >= 4 && strncasecmp(s + b, "sip:", 4) == 0)
		return 4;
	if (e - b >= 5 && strncasecmp(s + b, "sips:", 5) == 0)
		return 5;
	return 0;
}

static int
uri_split(const char *s, size_t n, uri_parts *p)
{
	size_t b, e, i, pe;
	const char *at;

	if (n == 0 || n > P2P_SIP_URI_MAX || has_ctl(s, n) ||
	    addr_span(s, n, &b, &e) != 0)
		return -1;
	b += (size_t)scheme_len(s, b, e);
	if ((at = memchr(s + b, '@', e - b)) == NULL)
		return -1;
	p->user = b;
	p->user_end = (size_t)(at - s);
	p->host = p->user_end + 1;
	for (i = p->host; i < e && s[i] != ';' && s[i] != '?'; i++)
		;
	pe = i;
	for (i = p->host; i < pe && s[i] != ':'; i++)
		;
	p->host_end = i;
	if (i < pe && !port_ok(s, i, pe))
		return -1;
	p->params = p->params_end = pe;
	if (pe < e && s[pe] == ';') {
		p->params = pe + 1;
		for (i = p->params; i < e && s[i] != '?'; i++)
			;
		p->params_end = i;
	}
	return 0;
}

/* The decoded user part into out; its length or -1. */
static long
user_copy(const char *s, size_t b, size_t e, char *out, size_t cap)
{
	size_t o = 0;

	if (b == e)
		return -1;
	for (size_t i = b; i < e; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;
			if (e - i < 3 || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (!user_char(c) || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	return (long)o;
}

/* Labels of letters, digits and '-', separated by single dots. */
static int
host_ok(const char *s, size_t b, size_t e)
{
	if (b == e || s[b] == '.' || s[e - 1] == '.')
		return 0;
	for (size_t i = b; i < e; i++)
		if (!host_char((unsigned char)s[i]) ||
		    (s[i] == '.' && s[i + 1] == '.'))
			return 0;
	return 1;
}

/* "user@host" of the parts into out; the length or -1. */
static int
aor_build(const char *s, const uri_parts *p, char *out, size_t cap)
{
	size_t limit = cap < P2P_SIP_AOR_MAX + 1 ? cap : P2P_SIP_AOR_MAX + 1;
	long u;
	size_t o;

	if (!host_ok(s, p->host, p->host_end) ||
	    (u = user_copy(s, p->user, p->user_end, out, limit)) < 0)
		return -1;
	o = (size_t)u;
	if (o + 1 + (p->host_end - p->host) + 1 > limit)
		return -1;
	out[o++] = '@';
	for (size_t i = p->host; i < p->host_end; i++)
		out[o++] = (char)lower((unsigned char)s[i]);
	out[o] = '\0';
	return (int)o;
}

int
p2p_sip_aor_norm(const char *in, char *out, size_t cap)
{
	uri_parts p;
	size_t n;

	if (in == NULL || out == NULL || cap == 0)
		return -1;
	n = strnlen(in, P2P_SIP_URI_MAX + 1);
	if (uri_split(in, n, &p) != 0)
		return -1;
	return aor_build(in, &p, out, cap);
}

void
p2p_sip_reg_route(p2p_sip_reg *r, const p2p_dest *dests, size_t ndests)
{
	memset(r, 0, sizeof(*r));
	r->type = P2P_SIPREG_ROUTE;
	r->dests = (p2p_dest *)dests;
	r->ndests = ndests;
}

/* ---- GRUU ---- */

/* The value of the only "gr" parameter: 1 found (*v, *vlen), 0 none,
 * -1 more than one. */
static int
find_gr(const char *s, const uri_parts *p, size_t *v, size_t *vlen)
{
	size_t i = p->params;
	int found = 0;

	while (i < p->params_end) {
		size_t b = i, e;

		while (i < p->params_end && s[i] != ';')
			i++;
		e = i++;
		if (e - b >= 2 && strncasecmp(s + b, "gr", 2) == 0 &&
		    (e - b == 2 || s[b + 2] == '=')) {
			if (found++)
				return -1;
			*v = e - b > 2 ? b + 3 : e;
			*vlen = e - *v;
		}
	}
	return found;
}

static int
b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Base64 with "~" as padding into the arena. Strict: whole quads, padding
 * only at the end, unused bits zero (so that each list has one GRUU).
 */
static int
gr_decode(const char *s, size_t n, p2p_arena *a, p2p_bytes *out)
{
	size_t pad = 0, len;
	uint8_t *p;
	uint32_t acc = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	while (pad < 2 && s[n - 1 - pad] == '~')
		pad++;
	len = n / 4 * 3 - pad;
	if ((p = p2p_arena_alloc(a, len > 0 ? len : 1)) == NULL)
		return -1;
	for (size_t i = 0; i < n - pad; i++) {
		int v = b64_val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			p[i / 4 * 3] = (uint8_t)(acc >> 16);
			p[i / 4 * 3 + 1] = (uint8_t)(acc >> 8);
			p[i / 4 * 3 + 2] = (uint8_t)acc;
		}
	}
	if (pad == 2) {
		if (acc & 0xf)
			return -1;
		p[len - 1] = (uint8_t)(acc >> 4);
	} else if (pad == 1) {
		if (acc & 0x3)
			return -1;
		p[len - 2] = (uint8_t)(acc >> 10);
		p[len - 1] = (uint8_t)(acc >> 2);
	}
	out->p = p;
	out->len = len;
	return 0;
}

int
p2p_sip_is_gruu(const char *in, size_t len)
{
	uri_parts p;
	size_t v, vlen;

	return uri_split(in, len, &p) == 0 && find_gr(in, &p, &v, &vlen) != 0;
}

static int
gruu_fail(p2p_err *err, p2p_arena *a, size_t mark, const char *what)
{
	a->used = mark;
	p2p_err_set(err, P2P_ERR_INVALID_MESSAGE, what, 0);
	return -1;
}

int
p2p_sip_gruu_parse(const char *in, size_t len, p2p_arena *a,
    p2p_sip_gruu *out, p2p_err *err)
{
	size_t mark = a->used, v = 0, vlen = 0;
	uri_parts p;
	p2p_bytes dl;
	p2p_err e2 = { 0 };

	memset(out, 0, sizeof(*out));
	if (uri_split(in, len, &p) != 0 ||
	    aor_build(in, &p, out->aor, sizeof(out->aor)) < 0)
		return gruu_fail(err, a, mark, "not an AOR");
	if (find_gr(in, &p, &v, &vlen) != 1)
		return gruu_fail(err, a, mark, "no single gr parameter");
	if (gr_decode(in + v, vlen, a, &dl) != 0)
		return gruu_fail(err, a, mark, "gr is not base64 of a "
		    "destination list");
	if (p2p_dest_list_decode(dl, a, &out->dests, &out->ndests, &e2) != 0)
		return gruu_fail(err, a, mark, e2.what);
	if (out->ndests == 0 || out->ndests > P2P_SIP_GRUU_MAX_DESTS) {
		out->dests = NULL;
		out->ndests = 0;
		return gruu_fail(err, a, mark, "gr destination list empty or "
		    "too long");
	}
	return 0;
}

int
p2p_sip_gruu_make(char *out, size_t cap, const char *aor,
    const p2p_dest *dests, size_t ndests)
{
	char norm[P2P_SIP_AOR_MAX + 1], *b64;
	p2p_wbuf w;
	size_t alen, blen;
	int rc = -1;

	if (ndests == 0 || ndests > P2P_SIP_GRUU_MAX_DESTS ||
	    p2p_sip_aor_norm(aor, norm, sizeof(norm)) < 0 ||
	    strcmp(norm, aor) != 0)
		return -1;
	p2p_w_init(&w, 64);
	if (p2p_dest_list_encode(&w, dests, ndests) != 0 || !p2p_w_ok(&w) ||
	    (b64 = p2p_base64_encode(w.p, w.len)) == NULL) {
		p2p_w_free(&w);
		return -1;
	}
	alen = strlen(aor);
	blen = strlen(b64);
	if (alen + 4 + blen < cap && alen + 4 + blen <= P2P_SIP_URI_MAX) {
		memcpy(out, aor, alen);
		memcpy(out + alen, ";gr=", 4);
		for (size_t i = 0; i < blen; i++)
			out[alen + 4 + i] = b64[i] == '=' ? '~' : b64[i];
		out[alen + 4 + blen] = '\0';
		rc = (int)(alen + 4 + blen);
	}
	free(b64);
	p2p_w_free(&w);
	return rc;
}
