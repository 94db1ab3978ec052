#include "unit.h"

#include <string.h>

#include "sockaddr.h"
#include "stunbind.h"

/* RFC 8489 s5: the magic cookie, in network order. */
static const uint8_t cookie[4] = { 0x21, 0x12, 0xa4, 0x42 };

/* Header (type, length of what follows, cookie, transaction ID) into b. */
static size_t
header(uint8_t *b, uint16_t type, size_t attrs, const uint8_t id[12])
{
	b[0] = (uint8_t)(type >> 8);
	b[1] = (uint8_t)type;
	b[2] = (uint8_t)(attrs >> 8);
	b[3] = (uint8_t)attrs;
	memcpy(b + 4, cookie, 4);
	memcpy(b + 8, id, 12);
	return 20;
}

/* A Binding success with XOR-MAPPED-ADDRESS ip (IPv4) and port. */
static size_t
success(uint8_t *b, const uint8_t id[12], const uint8_t ip[4], uint16_t port)
{
	uint16_t xp = (uint16_t)(port ^ 0x2112);
	size_t n = header(b, 0x0101, 12, id);

	b[n++] = 0x00;		/* XOR-MAPPED-ADDRESS */
	b[n++] = 0x20;
	b[n++] = 0;
	b[n++] = 8;
	b[n++] = 0;
	b[n++] = 0x01;		/* IPv4 */
	b[n++] = (uint8_t)(xp >> 8);
	b[n++] = (uint8_t)xp;
	for (int i = 0; i < 4; i++)
		b[n++] = ip[i] ^ cookie[i];
	return n;
}

/* A Binding error response, ERROR-CODE 400. */
static size_t
error400(uint8_t *b, const uint8_t id[12])
{
	static const char why[] = "Bad Request";	/* 11 bytes, pad 1 */
	size_t n = header(b, 0x0111, 4 + 4 + 12, id);

	b[n++] = 0x00;		/* ERROR-CODE */
	b[n++] = 0x09;
	b[n++] = 0;
	b[n++] = 4 + 11;
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = 4;		/* class */
	b[n++] = 0;		/* number */
	memcpy(b + n, why, 11);
	n += 11;
	b[n++] = 0;
	return n;
}

/* An Allocate error response 401 with REALM "r" and NONCE "n". */
static size_t
error401(uint8_t *b, const uint8_t id[12])
{
	static const char why[] = "Unauthorized";	/* 12 bytes */
	size_t n = header(b, 0x0113, 4 + 4 + 12 + 8 + 8, id);

	b[n++] = 0x00;		/* ERROR-CODE */
	b[n++] = 0x09;
	b[n++] = 0;
	b[n++] = 4 + 12;
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = 4;
	b[n++] = 1;
	memcpy(b + n, why, 12);
	n += 12;
	memcpy(b + n, "\x00\x14\x00\x01r\0\0\0", 8);	/* REALM */
	n += 8;
	memcpy(b + n, "\x00\x15\x00\x01n\0\0\0", 8);	/* NONCE */
	return n + 8;
}

static void
test_request(void **state)
{
	p2p_stunbind *b = p2p_stunbind_new();
	uint8_t req[P2P_STUNBIND_REQ_MAX], id[12], id2[12], zero[12] = { 0 };
	size_t len;

	(void)state;
	assert_non_null(b);
	p2p_stunbind_txid(b, id);
	assert_memory_equal(id, zero, 12);	/* none yet */
	assert_int_equal(p2p_stunbind_request(b, 0, req, 8), 0);	/* no room */
	len = p2p_stunbind_request(b, 0, req, sizeof(req));
	assert_true(len >= 20);
	assert_int_equal(req[0], 0x00);	/* Binding request */
	assert_int_equal(req[1], 0x01);
	assert_int_equal(((size_t)req[2] << 8 | req[3]) + 20, len);
	assert_memory_equal(req + 4, cookie, 4);
	p2p_stunbind_txid(b, id);
	assert_memory_equal(req + 8, id, 12);
	/* a new request, a new transaction */
	assert_true(p2p_stunbind_request(b, 0, req, sizeof(req)) >= 20);
	p2p_stunbind_txid(b, id2);
	assert_memory_not_equal(id, id2, 12);
	p2p_stunbind_free(b);
}

static void
test_success(void **state)
{
	static const uint8_t ip[4] = { 192, 0, 2, 7 };
	p2p_stunbind *b = p2p_stunbind_new();
	uint8_t req[P2P_STUNBIND_REQ_MAX], id[12], other[12], ans[64];
	struct sockaddr_storage m;
	char name[P2P_SA_NAMELEN];
	socklen_t ml;
	size_t n;

	(void)state;
	assert_true(p2p_stunbind_request(b, 0, req, sizeof(req)) >= 20);
	p2p_stunbind_txid(b, id);
	memcpy(other, id, 12);
	other[11] ^= 1;
	/* another transaction's answer, or a cut one: not ours */
	n = success(ans, other, ip, 6084);
	assert_int_equal(p2p_stunbind_answer(b, ans, n, &m, &ml),
	    P2P_STUNBIND_NOT_OURS);
	n = success(ans, id, ip, 6084);
	assert_int_equal(p2p_stunbind_answer(b, ans, n - 1, &m, &ml),
	    P2P_STUNBIND_NOT_OURS);
	assert_int_equal(p2p_stunbind_answer(b, ans, 19, &m, &ml),
	    P2P_STUNBIND_NOT_OURS);
	assert_int_equal(p2p_stunbind_answer(b, ans, n, &m, &ml),
	    P2P_STUNBIND_MAPPED);
	p2p_sa_name((struct sockaddr *)&m, NULL, 0, name, sizeof(name));
	assert_string_equal(name, "192.0.2.7:6084");
	/* the transaction is over: the same answer again is not taken */
	assert_int_equal(p2p_stunbind_answer(b, ans, n, &m, &ml),
	    P2P_STUNBIND_NOT_OURS);
	p2p_stunbind_free(b);
}

static void
test_stale_and_error(void **state)
{
	static const uint8_t ip[4] = { 127, 0, 0, 1 };
	p2p_stunbind *b = p2p_stunbind_new();
	uint8_t req[P2P_STUNBIND_REQ_MAX], old[12], id[12], ans[64];
	uint8_t junk[40];
	struct sockaddr_storage m;
	socklen_t ml;
	size_t n;

	(void)state;
	assert_true(p2p_stunbind_request(b, 0, req, sizeof(req)) >= 20);
	p2p_stunbind_txid(b, old);
	assert_true(p2p_stunbind_request(b, 0, req, sizeof(req)) >= 20);
	p2p_stunbind_txid(b, id);
	/* the answer to the request before: ignored */
	n = success(ans, old, ip, 3478);
	assert_int_equal(p2p_stunbind_answer(b, ans, n, &m, &ml),
	    P2P_STUNBIND_NOT_OURS);
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(p2p_stunbind_answer(b, junk, sizeof(junk), &m, &ml),
	    P2P_STUNBIND_NOT_OURS);
	assert_int_equal(p2p_stunbind_answer(b, NULL, 0, &m, &ml),
	    P2P_STUNBIND_NOT_OURS);
	n = error400(ans, id);
	assert_int_equal(p2p_stunbind_answer(b, ans, n, &m, &ml),
	    P2P_STUNBIND_REFUSED);
	p2p_stunbind_free(b);
}

static void
test_allocate(void **state)
{
	p2p_stunbind *b = p2p_stunbind_new();
	uint8_t req[P2P_STUNBIND_REQ_MAX], id[12], ans[80];
	struct sockaddr_storage m;
	socklen_t ml;
	size_t len, n;

	(void)state;
	len = p2p_stunbind_request(b, 1, req, sizeof(req));
	assert_true(len >= 20);
	assert_int_equal(req[0], 0x00);	/* Allocate request */
	assert_int_equal(req[1], 0x03);
	assert_memory_equal(req + 4, cookie, 4);
	p2p_stunbind_txid(b, id);
	assert_memory_equal(req + 8, id, 12);
	/* the usual answer of a TURN server with credentials */
	n = error401(ans, id);
	assert_int_equal(p2p_stunbind_answer(b, ans, n, &m, &ml),
	    P2P_STUNBIND_REFUSED);
	p2p_stunbind_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_stale_and_error),
		cmocka_unit_test(test_allocate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
