/*
 * stunbind: STUN Binding request and answer (stunbind.h) on libnice's
 * STUN usage functions (stun/usages/bind.h). libnice checks the header,
 * the attribute layout and FINGERPRINT where present and matches the
 * transaction ID against the requests its agent made; here the agent
 * makes one request at a time, and an answer to an older one is ignored.
 * MESSAGE-INTEGRITY is not checked: a Binding to a STUN server carries
 * no credentials, and the answer only tells whether the server is there.
 */
#include <stdlib.h>
#include <string.h>

#include <stun/stunagent.h>
#include <stun/stunmessage.h>
#include <stun/usages/bind.h>

#include "stunbind.h"

struct p2p_stunbind {
	StunAgent agent;
	StunMessage req;
	uint8_t buf[P2P_STUNBIND_REQ_MAX];
	int live;		/* a request is out */
};

static const uint16_t known_attrs[] = {
	STUN_ATTRIBUTE_MAPPED_ADDRESS,
	STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
	STUN_ATTRIBUTE_ERROR_CODE,
	STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
	STUN_ATTRIBUTE_SOFTWARE,
	STUN_ATTRIBUTE_ALTERNATE_SERVER,
	STUN_ATTRIBUTE_FINGERPRINT,
	0
};

p2p_stunbind *
p2p_stunbind_new(void)
{
	p2p_stunbind *b = calloc(1, sizeof(*b));

	if (b != NULL)
		stun_agent_init(&b->agent, known_attrs,
		    STUN_COMPATIBILITY_RFC5389,
		    STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
	return b;
}

void
p2p_stunbind_free(p2p_stunbind *b)
{
	free(b);
}

static void
forget(p2p_stunbind *b)
{
	StunTransactionId id;

	if (!b->live)
		return;
	stun_message_id(&b->req, id);
	(void)stun_agent_forget_transaction(&b->agent, id);
	b->live = 0;
}

size_t
p2p_stunbind_request(p2p_stunbind *b, uint8_t *buf, size_t cap)
{
	size_t len;

	forget(b);
	len = stun_usage_bind_create(&b->agent, &b->req, b->buf,
	    sizeof(b->buf));
	if (len == 0 || len > cap)
		return 0;
	memcpy(buf, b->buf, len);
	b->live = 1;
	return len;
}

void
p2p_stunbind_txid(const p2p_stunbind *b, uint8_t out[12])
{
	StunTransactionId id;

	memset(out, 0, 12);
	if (!b->live)
		return;
	/* libnice's ID is the 16 bytes after the type and length: the
	 * magic cookie, then the 12 of RFC 8489's transaction ID. */
	stun_message_id(&b->req, id);
	memcpy(out, id + 4, 12);
}

enum p2p_stunbind_res
p2p_stunbind_answer(p2p_stunbind *b, const uint8_t *buf, size_t len,
    struct sockaddr_storage *mapped, socklen_t *mlen)
{
	StunMessage msg;
	struct sockaddr_storage alt;
	socklen_t altlen = sizeof(alt);
	StunUsageBindReturn r;

	if (!b->live || buf == NULL || len < 20 || len > P2P_STUNBIND_MAX)
		return P2P_STUNBIND_NOT_OURS;
	/* libnice reads the buffer only; its prototype takes it const. */
	if (stun_agent_validate(&b->agent, &msg, buf, len, NULL, NULL) !=
	    STUN_VALIDATION_SUCCESS)
		return P2P_STUNBIND_NOT_OURS;
	*mlen = sizeof(*mapped);
	r = stun_usage_bind_process(&msg, (struct sockaddr *)mapped, mlen,
	    (struct sockaddr *)&alt, &altlen);
	switch (r) {
	case STUN_USAGE_BIND_RETURN_SUCCESS:
		forget(b);
		return P2P_STUNBIND_MAPPED;
	case STUN_USAGE_BIND_RETURN_ERROR:
	case STUN_USAGE_BIND_RETURN_ALTERNATE_SERVER:
		/* an error response, or a success without an address */
		if (stun_message_get_class(&msg) != STUN_ERROR)
			return P2P_STUNBIND_NOT_OURS;
		forget(b);
		return P2P_STUNBIND_REFUSED;
	default:
		return P2P_STUNBIND_NOT_OURS;
	}
}
