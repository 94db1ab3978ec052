/*
 * libFuzzer target: the RELOAD message decoder, in every role, followed by
 * a re-encode that must reproduce the input byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

static _Alignas(16) uint8_t arena_mem[1 << 16];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum p2p_role roles[] = { P2P_ROLE_CODEC,
	    P2P_ROLE_FORWARDER, P2P_ROLE_DESTINATION };
	p2p_arena a;
	p2p_msg m;
	p2p_err err;
	p2p_bytes payload;

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		p2p_decode_opts o = { 0, roles[i] };

		p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
		(void)p2p_fwd_decode(data, size, &o, &a, &m, &payload, &err);
		p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
		if (p2p_msg_decode(data, size, &o, &a, &m, &err) != 0)
			continue;
		if (roles[i] == P2P_ROLE_CODEC) {
			p2p_wbuf w;

			p2p_w_init(&w, size);
			if (p2p_msg_encode(&w, &m) != 0 || w.len != size ||
			    memcmp(w.p, data, size) != 0)
				abort();	/* decode -> encode must be exact */
			p2p_w_free(&w);
		}
	}
	return 0;
}
