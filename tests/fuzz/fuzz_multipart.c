/*
 * libFuzzer target: the multipart/form-data parser, p2p_multipart_parse.
 *
 * Each input is parsed twice: whole, as a body under a fixed boundary
 * content type; and split at its first '\n', the first line being the
 * Content-Type value and the rest the body. The body is copied to a heap
 * block of its exact size so that any over-read is caught. On success the
 * parts must lie inside the body, have a name, and not contain the
 * delimiter; p2p_multipart_get must find the first part of each name; and
 * the same body must fail cleanly with one part fewer allowed or with an
 * arena too small for the parts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_PARTS	16
#define FIXED_BOUNDARY	"----p2psip-fuzz-boundary"
#define FIXED_CTYPE	"multipart/form-data; boundary=" FIXED_BOUNDARY

static _Alignas(16) uint8_t arena_mem[MAX_PARTS * sizeof(p2p_http_part) + 64];

static int
inside(p2p_bytes b, const uint8_t *base, size_t len)
{
	if (b.len == 0)
		return 1;
	return b.p >= base && b.p <= base + len && b.len <= len &&
	    (size_t)(b.p - base) <= len - b.len;
}

/* Does b contain "\r\n--" boundary? */
static int
has_delim(p2p_bytes b, const char *boundary)
{
	size_t n = strlen(boundary);

	for (size_t i = 0; i + 4 + n <= b.len; i++)
		if (memcmp(b.p + i, "\r\n--", 4) == 0 &&
		    memcmp(b.p + i + 4, boundary, n) == 0)
			return 1;
	return 0;
}

/* p2p_multipart_get must give the first part of this name. */
static void
check_get(const p2p_multipart *m, size_t i)
{
	const p2p_http_part *pt = &m->parts[i];
	char name[128];
	size_t j;

	if (pt->name.len >= sizeof(name) || memchr(pt->name.p, '\0',
	    pt->name.len) != NULL)
		return;
	memcpy(name, pt->name.p, pt->name.len);
	name[pt->name.len] = '\0';
	for (j = 0; j < i; j++)
		if (p2p_bytes_eq(m->parts[j].name, pt->name))
			break;
	if (p2p_multipart_get(m, name) != &m->parts[j])
		abort();
}

static void
check_parts(const p2p_multipart *m, const uint8_t *body, size_t len,
    const char *boundary)
{
	if (m->nparts == 0 || m->nparts > MAX_PARTS || m->parts == NULL)
		abort();
	for (size_t i = 0; i < m->nparts; i++) {
		const p2p_http_part *pt = &m->parts[i];

		if (pt->name.len == 0 || !inside(pt->name, body, len) ||
		    !inside(pt->filename, body, len) ||
		    !inside(pt->content_type, body, len) ||
		    !inside(pt->data, body, len))
			abort();
		if (boundary != NULL && has_delim(pt->data, boundary))
			abort();
		check_get(m, i);
	}
}

static void
parse(const uint8_t *src, size_t len, const char *ctype,
    const char *boundary)
{
	uint8_t *body = malloc(len ? len : 1);
	p2p_multipart m, m2;
	p2p_arena a;
	p2p_err err;
	size_t n;

	if (body == NULL)
		abort();
	memcpy(body, src, len);
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	memset(&err, 0, sizeof(err));
	if (p2p_multipart_parse((p2p_bytes){ body, len }, ctype, MAX_PARTS,
	    &a, &m, &err) != 0) {
		if (err.what == NULL || m.parts != NULL || m.nparts != 0)
			abort();
		free(body);
		return;
	}
	check_parts(&m, body, len, boundary);
	n = m.nparts;
	/* one part fewer allowed */
	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	if (p2p_multipart_parse((p2p_bytes){ body, len }, ctype, n - 1, &a,
	    &m2, &err) == 0 || m2.parts != NULL || m2.nparts != 0)
		abort();
	/* an arena one part short */
	p2p_arena_init(&a, arena_mem, (n - 1) * sizeof(p2p_http_part));
	if (p2p_multipart_parse((p2p_bytes){ body, len }, ctype, MAX_PARTS,
	    &a, &m2, &err) == 0)
		abort();
	free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	char *ctype;
	size_t n;

	parse(data, size, FIXED_CTYPE, FIXED_BOUNDARY);
	if ((nl = memchr(data, '\n', size)) == NULL)
		return 0;
	n = (size_t)(nl - data);
	if (n > 0 && data[n - 1] == '\r')
		n--;
	if ((ctype = malloc(n + 1)) == NULL)
		abort();
	memcpy(ctype, data, n);
	ctype[n] = '\0';
	nl++;
	parse(nl, size - (size_t)(nl - data), ctype, NULL);
	free(ctype);
	return 0;
}
