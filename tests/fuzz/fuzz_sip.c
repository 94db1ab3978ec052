/*
 * libFuzzer target: what the SIP front parses from outside (sip.h).
 *
 * Byte 0 picks the chunk size for the stream framing; the rest is the
 * input. It is parsed as one datagram with p2p_sip_parse and, when that
 * succeeds, every accessor the proxy uses is called on it, an answer is
 * built and both are serialized and parsed again. The same bytes are also
 * cut into messages with p2p_sip_frame as a TCP or TLS stream would
 * deliver them, in chunks, and every framed message must lie inside the
 * stream. A request's Authorization and Proxy-Authorization headers go
 * through the Digest check of sipauth.h, a 401 or 407 answer's challenge
 * through the user agent's answer to it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"
#include "sipauth.h"

static p2p_sipauth auth;
static int auth_ready;

static void
use_message(osip_message_t *m)
{
	char host[64], err[96], *s = NULL;
	size_t len = 0;
	uint16_t port;
	osip_route_t *r;
	osip_message_t *resp, *again;

	(void)p2p_sip_top_branch(m);
	if (MSG_IS_REQUEST(m)) {
		if (!auth_ready)
			auth_ready = p2p_sipauth_init(&auth, "test.p2psip",
			    "user1@test.p2psip", "secret") == 0;
		if (auth_ready) {
			(void)p2p_sipauth_check(&auth, m, 0, 1800000000u);
			(void)p2p_sipauth_check(&auth, m, 1, 1800000000u);
		}
		(void)p2p_sip_uri_param(m->req_uri, "gr");
		(void)p2p_sip_uri_hostport(m->req_uri, host, sizeof(host),
		    &port);
	} else if (m->status_code == 401 || m->status_code == 407) {
		char hv[1024];
		int proxy, stale;

		(void)p2p_sipauth_answer(m, "INVITE", "sip:user2@test.p2psip",
		    "user1", "secret", 1, hv, sizeof(hv), &proxy, &stale);
	}
	if ((r = p2p_sip_top_route(m)) != NULL) {
		(void)p2p_sip_uri_param(r->url, "p2pnode");
		(void)p2p_sip_uri_hostport(r->url, host, sizeof(host), &port);
	}
	if (MSG_IS_REQUEST(m) && (resp = p2p_sip_response(m, 404, NULL,
	    "abc")) != NULL) {
		if (p2p_sip_to_str(resp, &s, &len) == 0) {
			again = p2p_sip_parse(s, len, err, sizeof(err));
			if (again != NULL)
				osip_message_free(again);
			osip_free(s);
		}
		osip_message_free(resp);
	}
	if (p2p_sip_push_via(m, "SIP/2.0/TLS 127.0.0.1:5060;branch=z9hG4bK1")
	    == 0)
		(void)p2p_sip_pop_via(m);
	(void)p2p_sip_push_record_route(m, "<sip:127.0.0.1:5060;lr>");
	p2p_sip_pop_route(m);
	if (p2p_sip_to_str(m, &s, &len) == 0)
		osip_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	osip_message_t *m;
	char err[96];
	uint8_t *buf;
	size_t chunk, have = 0, used = 0;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] + 1;
	data++;
	size--;
	m = p2p_sip_parse((const char *)data, size, err, sizeof(err));
	if (m != NULL) {
		use_message(m);
		osip_message_free(m);
	}
	/* As a stream, in chunks. */
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	while (have < size) {
		size_t n = size - have < chunk ? size - have : chunk;
		memcpy(buf + have, data + have, n);
		have += n;
		for (;;) {
			size_t skip = 0;
			long got = p2p_sip_frame(buf + used, have - used,
			    P2P_SIP_MAX_MSG, &skip);
			if (got < 0) {
				have = size;	/* the stream is closed */
				break;
			}
			if (got == 0)
				break;
			if ((size_t)got > have - used || skip > (size_t)got)
				abort();
			used += (size_t)got;
		}
	}
	free(buf);
	return 0;
}
