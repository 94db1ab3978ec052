/*
 * stunbind: a STUN Binding or a bare Allocate request and its answer
 * (stunbind.h) on libnice's STUN message code (stun/stunagent.h,
 * stun/usages/bind.h). libnice checks the header, the attribute layout
 * and FINGERPRINT where present and matches the transaction ID against
 * the requests its agent made; here the agent makes one request at a
 * time, and an answer to an older one, or of another method, is ignored.
 * Every attribute libnice knows is accepted in an answer (a TURN server's
 * 401 carries REALM and NONCE, which a Binding answer does not).
 * MESSAGE-INTEGRITY is not checked: the requests carry no credentials,
 * and the answer only tells whether the server is there.
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

p2p_stunbind *
p2p_stunbind_new(void)
{
	p2p_stunbind *b = calloc(1, sizeof(*b));

	if (b != NULL)
		stun_agent_init(&b->agent, STUN_ALL_KNOWN_ATTRIBUTES,
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
p2p_stunbind_request(p2p_stunbind *b, int allocate, uint8_t *buf,
    size_t cap)
{
	size_t len;

	forget(b);
	if (allocate) {
		if (!stun_agent_init_request(&b->agent, &b->req, b->buf,
		    sizeof(b->buf), STUN_ALLOCATE))
			return 0;
		len = stun_agent_finish_message(&b->agent, &b->req, NULL, 0);
	} else {
		len = stun_usage_bind_create(&b->agent, &b->req, b->buf,
		    sizeof(b->buf));
	}
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

	if (!b->live || buf == NULL || len < 20 || len > P2P_STUNBIND_MAX)
		return P2P_STUNBIND_NOT_OURS;
	/* libnice reads the buffer only; its prototype takes it const. */
	if (stun_agent_validate(&b->agent, &msg, buf, len, NULL, NULL) !=
	    STUN_VALIDATION_SUCCESS ||
	    stun_message_get_method(&msg) != stun_message_get_method(&b->req))
		return P2P_STUNBIND_NOT_OURS;
	switch (stun_message_get_class(&msg)) {
	case STUN_ERROR:
		forget(b);
		return P2P_STUNBIND_REFUSED;
	case STUN_RESPONSE:
		*mlen = sizeof(*mapped);
		if (stun_message_find_xor_addr(&msg,
		    STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, mapped, mlen) !=
		    STUN_MESSAGE_RETURN_SUCCESS) {
			*mlen = sizeof(*mapped);
			if (stun_message_find_addr(&msg,
			    STUN_ATTRIBUTE_MAPPED_ADDRESS, mapped, mlen) !=
			    STUN_MESSAGE_RETURN_SUCCESS)
				return P2P_STUNBIND_NOT_OURS;
		}
		forget(b);
		return P2P_STUNBIND_MAPPED;
	default:
		return P2P_STUNBIND_NOT_OURS;
	}
}
