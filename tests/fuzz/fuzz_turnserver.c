/*
 * libFuzzer target: the TURN-SERVICE value (TurnServer, RFC 6940 s9).
 *
 * A failure must say what and where (within the input); a TurnServer
 * that decodes must have an address type and encode back to the same
 * bytes. The Resource-ID the storing peer's access check derives from
 * the decoded iteration (p2p_id_node_multiple, with a Node-ID taken from
 * the input) must be the same each time and differ for the next
 * iteration.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "body_store.h"
#include "id.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_turn_server ts;
	p2p_err err;
	p2p_wbuf w;
	p2p_id node, rid, again;

	memset(&err, 0, sizeof(err));
	if (p2p_turn_server_decode((p2p_bytes){ data, size }, &ts,
	    &err) != 0) {
		if (err.what == NULL || err.offset > size)
			abort();
		return 0;
	}
	if (ts.addr.type == 0 || size < 3)
		abort();
	p2p_w_init(&w, size);
	if (p2p_turn_server_encode(&w, &ts) != 0 || w.len != size ||
	    memcmp(w.p, data, size) != 0)
		abort();
	p2p_w_free(&w);
	/* The Resource-ID of the value depends on the iteration only
	 * through p2p_id_node_multiple, and differs between iterations. */
	memset(&node, 0, sizeof(node));
	memcpy(node.b, data, size < P2P_ID_LEN ? size : P2P_ID_LEN);
	p2p_id_node_multiple(&rid, &node, ts.iteration);
	p2p_id_node_multiple(&again, &node, ts.iteration);
	if (!p2p_id_eq(&rid, &again))
		abort();
	p2p_id_node_multiple(&again, &node, (uint32_t)ts.iteration + 1);
	if (p2p_id_eq(&rid, &again))
		abort();
	return 0;
}
