/*
 * sipauth: HTTP Digest authentication of SIP requests. See sipauth.h.
 */
#include "sipauth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NONCE_HEX	(16 + 16 + 32)

static const char hexd[] = "0123456789abcdef";

static void
to_hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[b[i] >> 4];
		out[2 * i + 1] = hexd[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A header field value without its quotes, into out; -1 if absent,
 * empty, too long, or holding a quote, backslash or control byte. */
static int
field(const char *v, char *out, size_t cap)
{
	size_t n;

	if (v == NULL)
		return -1;
	n = strlen(v);
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n == 0 || n >= cap)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (v[i] == '"' || v[i] == '\\' || (unsigned char)v[i] < 0x20 ||
		    v[i] == 0x7f)
			return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' ||
		    *s == '\\')
			return 0;
	return 1;
}

int
p2p_sipauth_init(p2p_sipauth *a, const char *realm, const char *aor,
    const char *pass)
{
	const char *at;

	memset(a, 0, sizeof(*a));
	if (realm == NULL || aor == NULL || pass == NULL ||
	    (at = strchr(aor, '@')) == NULL || at == aor ||
	    strlen(realm) >= sizeof(a->realm) ||
	    strlen(aor) >= sizeof(a->aor) ||
	    (size_t)(at - aor) >= sizeof(a->user) ||
	    strlen(pass) > P2P_SIPAUTH_MAX_PASS || pass[0] == '\0' ||
	    !printable(realm) || !printable(aor))
		return -1;
	for (const char *p = pass; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	strcpy(a->realm, realm);
	strcpy(a->aor, aor);
	memcpy(a->user, aor, (size_t)(at - aor));
	strcpy(a->pass, pass);
	return RAND_bytes(a->key, sizeof(a->key)) == 1 ? 0 : -1;
}

int
p2p_sipauth_read_password(const char *path, char *out, size_t cap,
    char *why, size_t whylen)
{
	struct stat st;
	char buf[P2P_SIPAUTH_MAX_PASS + 3];
	ssize_t n;
	size_t len;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, whylen, "%s: readable by others than its owner "
		    "(chmod 600 it)", path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	if (len == (size_t)n && (size_t)n == sizeof(buf) - 1) {
		snprintf(why, whylen, "%s: the password is longer than %d "
		    "bytes", path, P2P_SIPAUTH_MAX_PASS);
		return -1;
	}
	buf[len] = '\0';
	if (len == 0 || len > P2P_SIPAUTH_MAX_PASS || len >= cap) {
		snprintf(why, whylen, "%s: no password on its first line",
		    path);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			snprintf(why, whylen, "%s: control character in the "
			    "password", path);
			return -1;
		}
	memcpy(out, buf, len + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/* MD5 of the parts joined by ':', as 32 hex digits. */
static int
md5_hex(char out[33], const char *const *parts, size_t n)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int ok;

	ok = c != NULL && EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1;
	for (size_t i = 0; ok && i < n; i++)
		ok = (i == 0 || EVP_DigestUpdate(c, ":", 1) == 1) &&
		    EVP_DigestUpdate(c, parts[i], strlen(parts[i])) == 1;
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 16;
	EVP_MD_CTX_free(c);
	if (!ok)
		return -1;
	to_hex(md, 16, out);
	return 0;
}

int
p2p_sipauth_response(const char *user, const char *realm, const char *pass,
    const char *method, const char *uri, const char *nonce, const char *nc,
    const char *cnonce, const char *qop, char out[33])
{
	char ha1[33], ha2[33];
	const char *p1[] = { user, realm, pass };
	const char *p2[] = { method, uri };

	if (md5_hex(ha1, p1, 3) != 0 || md5_hex(ha2, p2, 2) != 0)
		return -1;
	if (qop != NULL && qop[0] != '\0') {
		const char *p3[] = { ha1, nonce, nc, cnonce, qop, ha2 };
		return md5_hex(out, p3, 6);
	}
	{
		const char *p3[] = { ha1, nonce, ha2 };
		return md5_hex(out, p3, 3);
	}
}

int
p2p_sipauth_answer(osip_message_t *r, const char *method, const char *uri,
    const char *user, const char *pass, uint32_t nc, char *out, size_t cap,
    int *proxy, int *stale)
{
	osip_www_authenticate_t *c;
	char realm[256], nonce[256], opaque[256], alg[32], qops[64];
	char resp[33], ncs[9], cnonce[17], *q, *sv = NULL;
	uint8_t rnd[8];
	int use_qop = 0, n;

	*proxy = r->status_code == 407;
	c = osip_list_get(*proxy ? &r->proxy_authenticates :
	    &r->www_authenticates, 0);
	if (c == NULL || c->auth_type == NULL ||
	    strcasecmp(c->auth_type, "Digest") != 0 ||
	    field(c->realm, realm, sizeof(realm)) != 0 ||
	    field(c->nonce, nonce, sizeof(nonce)) != 0 ||
	    !printable(user) || !printable(uri) || !printable(method))
		return -1;
	if (c->algorithm != NULL && (field(c->algorithm, alg,
	    sizeof(alg)) != 0 || strcasecmp(alg, "MD5") != 0))
		return -1;
	if (c->qop_options != NULL && field(c->qop_options, qops,
	    sizeof(qops)) == 0) {
		/* a comma-separated list: is "auth" in it? */
		for (q = strtok_r(qops, ", ", &sv); q != NULL;
		    q = strtok_r(NULL, ", ", &sv))
			if (strcmp(q, "auth") == 0)
				use_qop = 1;
	}
	*stale = c->stale != NULL && field(c->stale, alg, sizeof(alg)) == 0 &&
	    strcasecmp(alg, "true") == 0;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	to_hex(rnd, sizeof(rnd), cnonce);
	snprintf(ncs, sizeof(ncs), "%08x", (unsigned)nc);
	if (p2p_sipauth_response(user, realm, pass, method, uri, nonce,
	    use_qop ? ncs : NULL, use_qop ? cnonce : NULL,
	    use_qop ? "auth" : NULL, resp) != 0)
		return -1;
	n = snprintf(out, cap, "Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"%s\", response=\"%s\", algorithm=MD5",
	    user, realm, nonce, uri, resp);
	if (n > 0 && (size_t)n < cap && use_qop)
		n += snprintf(out + n, cap - (size_t)n, ", qop=auth, nc=%s, "
		    "cnonce=\"%s\"", ncs, cnonce);
	if (n > 0 && (size_t)n < cap && c->opaque != NULL &&
	    field(c->opaque, opaque, sizeof(opaque)) == 0)
		n += snprintf(out + n, cap - (size_t)n, ", opaque=\"%s\"",
		    opaque);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The nonce for time t and 8 random bytes r: 16 hex digits of t, 16 of
 * r, then the first half of HMAC-SHA256(key, t r) in hex. The random
 * part makes every challenge's nonce its own: two user agents challenged
 * in the same second must not share a nonce, or the second one's first
 * nonce count would look like a replay of the first one's. */
static int
make_nonce(const p2p_sipauth *a, uint64_t t, const uint8_t r[8],
    char out[NONCE_HEX + 1])
{
	uint8_t tb[16], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;

	for (int i = 0; i < 8; i++)
		tb[i] = (uint8_t)(t >> (56 - 8 * i));
	memcpy(tb + 8, r, 8);
	if (HMAC(EVP_sha256(), a->key, sizeof(a->key), tb, sizeof(tb), mac,
	    &maclen) == NULL || maclen < 16)
		return -1;
	to_hex(tb, 16, out);
	to_hex(mac, 16, out + 32);
	return 0;
}

/* hex digit value, or -1 */
static int
hexval(char c)
{
	const char *d = c != '\0' ? strchr(hexd, c) : NULL;

	return d != NULL ? (int)(d - hexd) : -1;
}

/* 1: a nonce we made (its time in *t), 0: not. */
static int
nonce_ok(const p2p_sipauth *a, const char *nonce, uint64_t *t)
{
	char want[NONCE_HEX + 1];
	uint64_t v = 0;

	uint8_t r[8];

	if (strlen(nonce) != NONCE_HEX)
		return 0;
	for (int i = 0; i < 16; i++) {
		int d = hexval(nonce[i]);
		if (d < 0)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	for (int i = 0; i < 8; i++) {
		int hi = hexval(nonce[16 + 2 * i]), lo = hexval(nonce[17 +
		    2 * i]);
		if (hi < 0 || lo < 0)
			return 0;
		r[i] = (uint8_t)(hi << 4 | lo);
	}
	if (make_nonce(a, v, r, want) != 0 ||
	    CRYPTO_memcmp(want, nonce, NONCE_HEX) != 0)
		return 0;
	*t = v;
	return 1;
}

/* A count nc (8 hex digits) for nonce: 1 if above every count seen for
 * it, which is then remembered; 0 for a replay. */
static int
count_fresh(p2p_sipauth *a, const char *nonce, const char *nc,
    uint64_t now_s)
{
	unsigned long v;
	char *end;
	size_t i, slot = 0;

	v = strtoul(nc, &end, 16);
	if (*end != '\0' || v == 0 || v > UINT32_MAX)
		return 0;
	for (i = 0; i < P2P_SIPAUTH_SEEN; i++) {
		if (strcmp(a->seen[i].nonce, nonce) == 0) {
			if (v <= a->seen[i].nc)
				return 0;
			a->seen[i].nc = (uint32_t)v;
			a->seen[i].used = now_s;
			return 1;
		}
		if (a->seen[i].used < a->seen[slot].used)
			slot = i;
	}
	snprintf(a->seen[slot].nonce, sizeof(a->seen[slot].nonce), "%s",
	    nonce);
	a->seen[slot].nc = (uint32_t)v;
	a->seen[slot].used = now_s;
	return 1;
}

enum p2p_sipauth_result
p2p_sipauth_check(p2p_sipauth *a, osip_message_t *m, int proxy,
    uint64_t now_s)
{
	osip_authorization_t *h = NULL;
	enum p2p_sipauth_result res = P2P_SIPAUTH_MISSING;

	if (m == NULL || m->sip_method == NULL)
		return P2P_SIPAUTH_BAD;
	for (int i = 0; ; i++) {
		char realm[256], user[256], nonce[NONCE_HEX + 8], uri[1024],
		    resp[64], qop[16] = "", nc[16] = "", cnonce[256] = "",
		    alg[16], want[33];
		uint64_t t;

		h = NULL;
		if ((proxy ? osip_message_get_proxy_authorization(m, i, &h) :
		    osip_message_get_authorization(m, i, &h)) < 0 || h == NULL)
			break;
		if (h->auth_type == NULL || strcasecmp(h->auth_type,
		    "Digest") != 0 || field(h->realm, realm, sizeof(realm)) !=
		    0 || strcmp(realm, a->realm) != 0)
			continue;	/* someone else's credentials */
		res = P2P_SIPAUTH_BAD;
		if (field(h->username, user, sizeof(user)) != 0 ||
		    (strcmp(user, a->user) != 0 &&
		    strcmp(user, a->aor) != 0) ||
		    field(h->nonce, nonce, sizeof(nonce)) != 0 ||
		    field(h->uri, uri, sizeof(uri)) != 0 ||
		    field(h->response, resp, sizeof(resp)) != 0 ||
		    strlen(resp) != 32)
			continue;
		if (h->algorithm != NULL && (field(h->algorithm, alg,
		    sizeof(alg)) != 0 || strcasecmp(alg, "MD5") != 0))
			continue;
		if (h->message_qop != NULL) {
			if (field(h->message_qop, qop, sizeof(qop)) != 0 ||
			    strcmp(qop, "auth") != 0 ||
			    field(h->nonce_count, nc, sizeof(nc)) != 0 ||
			    strlen(nc) != 8 ||
			    field(h->cnonce, cnonce, sizeof(cnonce)) != 0)
				continue;
		}
		if (!nonce_ok(a, nonce, &t))
			continue;
		for (char *p = resp; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		if (p2p_sipauth_response(user, a->realm, a->pass,
		    m->sip_method, uri, nonce, nc, cnonce, qop, want) != 0 ||
		    CRYPTO_memcmp(want, resp, 32) != 0)
			continue;
		if (t > now_s + 5 || now_s - t > P2P_SIPAUTH_NONCE_S)
			return P2P_SIPAUTH_STALE;
		if (qop[0] != '\0' && !count_fresh(a, nonce, nc, now_s))
			continue;	/* a replay */
		return P2P_SIPAUTH_OK;
	}
	return res;
}

int
p2p_sipauth_challenge(const p2p_sipauth *a, osip_message_t *r, int proxy,
    int stale, uint64_t now_s)
{
	char nonce[NONCE_HEX + 1], v[512];
	uint8_t rnd[8];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1 || make_nonce(a, now_s, rnd,
	    nonce) != 0)
		return -1;
	if ((size_t)snprintf(v, sizeof(v), "Digest realm=\"%s\", "
	    "nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s", a->realm, nonce,
	    stale ? ", stale=true" : "") >= sizeof(v))
		return -1;
	return (proxy ? osip_message_set_proxy_authenticate(r, v) :
	    osip_message_set_www_authenticate(r, v)) == 0 ? 0 : -1;
}
