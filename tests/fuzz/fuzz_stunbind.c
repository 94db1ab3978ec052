/*
 * libFuzzer target: the answer to a STUN Binding request (stunbind.h),
 * read from a datagram of the network.
 *
 * Input: byte 0's bit 1 picks the request (Binding or Allocate), its low
 * bit whether bytes 8..19 of the rest are
 * replaced by the transaction ID of the request just made (so that most
 * inputs reach the parsing of attributes rather than stop at the ID
 * check); the rest is the datagram, copied to a heap block of its exact
 * size. A MAPPED answer must name an IPv4 or IPv6 address and end the
 * transaction (the same datagram again is not ours). The parsing itself
 * is libnice's, a shared library built without coverage: the fuzzer is
 * guided by the branches here, and the sanitizers see libnice's reads
 * only as far as they reach the heap block.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "stunbind.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t req[P2P_STUNBIND_REQ_MAX], id[12], *dg;
	struct sockaddr_storage m;
	socklen_t ml;
	p2p_stunbind *b;
	enum p2p_stunbind_res r;
	size_t n;

	if (size < 1)
		return 0;
	if ((b = p2p_stunbind_new()) == NULL)
		return 0;
	if (p2p_stunbind_request(b, (data[0] >> 1) & 1, req, sizeof(req)) == 0)
		abort();
	n = size - 1;
	if ((dg = malloc(n ? n : 1)) == NULL) {
		p2p_stunbind_free(b);
		return 0;
	}
	memcpy(dg, data + 1, n);
	if ((data[0] & 1) && n >= 20) {
		p2p_stunbind_txid(b, id);
		memcpy(dg + 8, id, 12);
	}
	r = p2p_stunbind_answer(b, dg, n, &m, &ml);
	if (r == P2P_STUNBIND_MAPPED) {
		if (m.ss_family != AF_INET && m.ss_family != AF_INET6)
			abort();
		if (p2p_stunbind_answer(b, dg, n, &m, &ml) !=
		    P2P_STUNBIND_NOT_OURS)
			abort();
	}
	free(dg);
	p2p_stunbind_free(b);
	return 0;
}
