/*
 * libFuzzer target: the names and values of the SIP usage (sipreg.h).
 *
 * Each input goes through three parsers:
 *   - the SipRegistration decoder: a value that decodes must encode back
 *     to the same bytes;
 *   - the GRUU parser (the input as text of its own length): a GRUU that
 *     parses is built again from its AOR and destination list, and that
 *     GRUU must parse to the same AOR and the same list;
 *   - the AOR normalizer (the input up to its first NUL): a result is
 *     printable, not longer than P2P_SIP_AOR_MAX, and normalizing it
 *     again gives it back unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg.h"

static _Alignas(16) uint8_t arena_mem[1 << 16];
static _Alignas(16) uint8_t arena_mem2[1 << 16];

static void
check_reg(const uint8_t *data, size_t size)
{
	p2p_sip_reg r;
	p2p_arena a;
	p2p_err err;
	p2p_wbuf w;

	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	if (p2p_sip_reg_decode((p2p_bytes){ data, size }, &a, &r, &err) != 0)
		return;
	p2p_w_init(&w, size);
	if (p2p_sip_reg_encode(&w, &r) != 0 || w.len != size ||
	    memcmp(w.p, data, size) != 0)
		abort();
	p2p_w_free(&w);
}

static void
list_bytes(const p2p_dest *d, size_t n, p2p_wbuf *w)
{
	if (p2p_dest_list_encode(w, d, n) != 0 || !p2p_w_ok(w))
		abort();
}

static void
check_gruu(const uint8_t *data, size_t size)
{
	char again[P2P_SIP_URI_MAX + 1];
	p2p_sip_gruu g, g2;
	p2p_arena a, a2;
	p2p_err err;
	p2p_wbuf w1, w2;
	int n;

	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	if (p2p_sip_gruu_parse((const char *)data, size, &a, &g, &err) != 0) {
		if (a.used != 0 || err.what == NULL)
			abort();
		return;
	}
	if (!p2p_sip_is_gruu((const char *)data, size))
		abort();
	n = p2p_sip_gruu_make(again, sizeof(again), g.aor, g.dests, g.ndests);
	if (n < 0)
		return;		/* the AOR and list do not fit one URI */
	p2p_arena_init(&a2, arena_mem2, sizeof(arena_mem2));
	if (p2p_sip_gruu_parse(again, (size_t)n, &a2, &g2, &err) != 0 ||
	    strcmp(g.aor, g2.aor) != 0 || g.ndests != g2.ndests)
		abort();
	p2p_w_init(&w1, 64);
	p2p_w_init(&w2, 64);
	list_bytes(g.dests, g.ndests, &w1);
	list_bytes(g2.dests, g2.ndests, &w2);
	if (w1.len != w2.len || memcmp(w1.p, w2.p, w1.len) != 0)
		abort();
	p2p_w_free(&w1);
	p2p_w_free(&w2);
}

static void
check_aor(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	char out[P2P_SIP_AOR_MAX + 1], out2[P2P_SIP_AOR_MAX + 1];
	int n;

	if (in == NULL)
		return;
	memcpy(in, data, size);
	in[size] = '\0';
	n = p2p_sip_aor_norm(in, out, sizeof(out));
	if (n >= 0) {
		if ((size_t)n != strlen(out) || n > P2P_SIP_AOR_MAX ||
		    strchr(out, '@') == NULL)
			abort();
		for (int i = 0; i < n; i++)
			if (out[i] <= 0x20 || out[i] >= 0x7f)
				abort();
		if (p2p_sip_aor_norm(out, out2, sizeof(out2)) != n ||
		    strcmp(out, out2) != 0)
			abort();
	}
	free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_reg(data, size);
	check_gruu(data, size);
	check_aor(data, size);
	return 0;
}
