#include "id.h"

#include <string.h>

#include <openssl/sha.h>

int
p2p_id_cmp(const p2p_id *a, const p2p_id *b)
{
	return memcmp(a->b, b->b, P2P_ID_LEN);
}

int
p2p_id_eq(const p2p_id *a, const p2p_id *b)
{
	return memcmp(a->b, b->b, P2P_ID_LEN) == 0;
}

static int
all_bytes(const p2p_id *a, uint8_t v)
{
	for (int i = 0; i < P2P_ID_LEN; i++)
		if (a->b[i] != v)
			return 0;
	return 1;
}

int p2p_id_is_zero(const p2p_id *a) { return all_bytes(a, 0); }
int p2p_id_is_wildcard(const p2p_id *a) { return all_bytes(a, 0xff); }

void
p2p_id_wildcard(p2p_id *out)
{
	memset(out->b, 0xff, P2P_ID_LEN);
}

void
p2p_id_add(p2p_id *out, const p2p_id *a, const p2p_id *b)
{
	unsigned carry = 0;

	for (int i = P2P_ID_LEN - 1; i >= 0; i--) {
		unsigned s = (unsigned)a->b[i] + b->b[i] + carry;
		out->b[i] = (uint8_t)s;
		carry = s >> 8;
	}
}

void
p2p_id_distance(p2p_id *out, const p2p_id *a, const p2p_id *b)
{
	int borrow = 0;

	for (int i = P2P_ID_LEN - 1; i >= 0; i--) {
		int d = (int)b->b[i] - a->b[i] - borrow;
		borrow = d < 0;
		out->b[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

void
p2p_id_add_pow2(p2p_id *out, const p2p_id *a, unsigned bit)
{
	p2p_id p;

	memset(&p, 0, sizeof(p));
	if (bit < 8 * P2P_ID_LEN)
		p.b[P2P_ID_LEN - 1 - bit / 8] = (uint8_t)(1u << (bit % 8));
	p2p_id_add(out, a, &p);
}

void
p2p_id_add_u64(p2p_id *out, const p2p_id *a, uint64_t n)
{
	p2p_id p;

	memset(&p, 0, sizeof(p));
	for (int i = P2P_ID_LEN - 1; i >= P2P_ID_LEN - 8; i--) {
		p.b[i] = (uint8_t)n;
		n >>= 8;
	}
	p2p_id_add(out, a, &p);
}

int
p2p_id_in_oc(const p2p_id *x, const p2p_id *a, const p2p_id *b)
{
	p2p_id dx, db;

	if (p2p_id_eq(a, b))
		return 1;
	p2p_id_distance(&dx, a, x);
	p2p_id_distance(&db, a, b);
	return !p2p_id_is_zero(&dx) && p2p_id_cmp(&dx, &db) <= 0;
}

int
p2p_id_in_oo(const p2p_id *x, const p2p_id *a, const p2p_id *b)
{
	p2p_id dx, db;

	if (p2p_id_eq(a, b))
		return !p2p_id_eq(x, a);
	p2p_id_distance(&dx, a, x);
	p2p_id_distance(&db, a, b);
	return !p2p_id_is_zero(&dx) && p2p_id_cmp(&dx, &db) < 0;
}

char *
p2p_id_hex(const p2p_id *a, char *buf)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < P2P_ID_LEN; i++) {
		buf[2 * i] = digits[a->b[i] >> 4];
		buf[2 * i + 1] = digits[a->b[i] & 0xf];
	}
	buf[P2P_ID_HEXLEN] = '\0';
	return buf;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
p2p_id_from_hex(p2p_id *out, const char *s)
{
	p2p_id t;

	if (s == NULL || strlen(s) != P2P_ID_HEXLEN)
		return 0;
	for (int i = 0; i < P2P_ID_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		t.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = t;
	return 1;
}

void
p2p_id_from_name(p2p_id *out, const void *name, size_t len)
{
	uint8_t md[SHA_DIGEST_LENGTH];

	SHA1(name, len, md);
	memcpy(out->b, md, P2P_ID_LEN);
}

void
p2p_id_node_multiple(p2p_id *out, const p2p_id *node, uint32_t i)
{
	uint8_t name[P2P_ID_LEN + 4];

	memcpy(name, node->b, P2P_ID_LEN);
	name[P2P_ID_LEN] = (uint8_t)(i >> 24);
	name[P2P_ID_LEN + 1] = (uint8_t)(i >> 16);
	name[P2P_ID_LEN + 2] = (uint8_t)(i >> 8);
	name[P2P_ID_LEN + 3] = (uint8_t)i;
	p2p_id_from_name(out, name, sizeof(name));
}
