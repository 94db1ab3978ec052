/*
 * libFuzzer target: a ConfigUpdate request body as a node handles it.
 *
 * The input is decoded with p2p_config_update_req_decode. A body that
 * decodes is encoded again and must give back the input byte for byte.
 * The document of a config update then goes through
 * p2p_config_check_update against a configuration in use (sequence 5, one
 * configuration-signer) with an empty trust store: it may be the same
 * sequence or be refused with a reason, but never accepted, since nothing
 * can verify against an empty trust store.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "body_link.h"
#include "cfgupd.h"

static p2p_trust *empty_trust;
static p2p_config current;

static const char current_doc[] =
    "<overlay xmlns=\"" P2P_NS_CONFIG "\">"
    "<configuration instance-name=\"fuzz.example\" sequence=\"5\">"
    "<configuration-signer>000102030405060708090a0b0c0d0e0f"
    "</configuration-signer></configuration></overlay>";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	p2p_err err;

	(void)argc;
	(void)argv;
	if ((empty_trust = p2p_trust_new()) == NULL ||
	    p2p_config_parse(current_doc, sizeof(current_doc) - 1, NULL,
	    &current, &err) != 0)
		abort();
	return 0;
}

static void
check_document(p2p_bytes doc)
{
	p2p_config out;
	p2p_err err;
	enum p2p_cfgupd_result r;

	memset(&err, 0, sizeof(err));
	r = p2p_config_check_update(&current, empty_trust,
	    (const char *)doc.p, doc.len, 0, &out, &err);
	if (r == P2P_CFGUPD_NEWER)
		abort();	/* nothing verifies against an empty store */
	if (r == P2P_CFGUPD_REFUSED && (err.what == NULL ||
	    err.reload_code == 0))
		abort();	/* a refusal says why, with an Error code */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_Alignas(16) uint8_t mem[1 << 16];
	p2p_arena a;
	p2p_config_update_req q;
	p2p_wbuf w;
	p2p_err err;

	memset(&err, 0, sizeof(err));
	p2p_arena_init(&a, mem, sizeof(mem));
	if (p2p_config_update_req_decode((p2p_bytes){ data, size }, &a, &q,
	    &err) != 0) {
		if (err.what == NULL)
			abort();
		return 0;
	}
	p2p_w_init(&w, size + 16);
	if (p2p_config_update_req_encode(&w, &q) != 0 || w.len != size ||
	    memcmp(w.p, data, size) != 0)
		abort();	/* what decodes encodes back the same */
	p2p_w_free(&w);
	if (q.type == P2P_CONFIG_UPDATE_CONFIG)
		check_document(q.config);
	return 0;
}
