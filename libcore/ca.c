/*
 * ca: the certificate authority's directory, accounts, issuing and
 * revocation. See ca.h for the files and the design.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "ca.h"
#include "cfgupd.h"
#include "config.h"
#include "frame.h"
#include "sign.h"

#define SALT_LEN	16
#define HASH_LEN	32
#define STATE_MAX	(16 * 1024 * 1024)

static int
efail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return -1;
}

const char *
p2p_ca_refusal_token(enum p2p_ca_refusal r)
{
	switch (r) {
	case P2P_CA_ISSUED: return "issued";
	case P2P_CA_FAILED_AUTH: return "failed_authentication";
	case P2P_CA_USERNAME_NA: return "username_not_available";
	case P2P_CA_NODE_IDS_NA: return "Node-IDs_not_available";
	case P2P_CA_BAD_CSR: return "bad_CSR";
	case P2P_CA_INTERNAL: break;
	}
	return "internal_error";
}

/* ---- files ---- */

int
p2p_file_read(const char *path, size_t max, uint8_t **out, size_t *len)
{
	uint8_t *p = NULL, *np;
	size_t n = 0, cap = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > max) {
				errno = EFBIG;
				goto bad;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if ((np = realloc(p, cap + 1)) == NULL)
				goto bad;
			p = np;
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto bad;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		errno = EFBIG;
		goto bad;
	}
	close(fd);
	p[n] = '\0';
	*out = p;
	*len = n;
	return 0;
bad:
	close(fd);
	free(p);
	return -1;
}

int
p2p_file_write_atomic(const char *path, const void *p, size_t len, int mode)
{
	char tmp[PATH_MAX];
	const uint8_t *b = p;
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0)
		return -1;
	if (fchmod(fd, (mode_t)mode) != 0)
		goto bad;
	while (len > 0) {
		ssize_t w = write(fd, b, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto bad;
		b += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto bad;
	}
	if (rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
bad:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int
p2p_ca_path(const p2p_ca *ca, const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", ca->dir, name);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
dir_path(const char *dir, const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
json_save(const char *path, json_t *v, char *err, size_t errlen)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (s == NULL)
		return efail(err, errlen, "out of memory");
	rc = p2p_file_write_atomic(path, s, strlen(s), 0600);
	free(s);
	if (rc != 0)
		return efail(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
	return 0;
}

static json_t *
json_load(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *v;
	uint8_t *p;
	size_t n;

	if (p2p_file_read(path, STATE_MAX, &p, &n) != 0) {
		efail(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
	free(p);
	if (v == NULL || !json_is_object(v)) {
		json_decref(v);
		efail(err, errlen, "%s is damaged (line %d: %s)", path, je.line,
		    v == NULL ? je.text : "not an object");
		return NULL;
	}
	return v;
}

int
p2p_cert_fingerprint(X509 *cert, char *buf, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (cap < 7 + 64 + 1 || !X509_digest(cert, EVP_sha256(), md, &n) ||
	    n != 32)
		return -1;
	memcpy(buf, "SHA256:", 7);
	for (unsigned i = 0; i < n; i++)
		snprintf(buf + 7 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
p2p_addr_split(const char *s, char *ip, size_t cap, int *port)
{
	const char *colon, *start = s, *end;
	unsigned char tmp[16];
	char *ep;
	long v;

	if (*s == '[') {
		start = s + 1;
		if ((end = strchr(start, ']')) == NULL || end[1] != ':')
			return -1;
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || strchr(s, ':') !=
		    colon)
			return -1;
		end = colon;
	}
	if (end == start || (size_t)(end - start) >= cap)
		return -1;
	memcpy(ip, start, (size_t)(end - start));
	ip[end - start] = '\0';
	if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) !=
	    1)
		return -1;
	errno = 0;
	v = strtol(colon + 1, &ep, 10);
	if (colon[1] == '\0' || *ep != '\0' || errno != 0 || v < 0 ||
	    v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* ---- small JSON accessors ---- */

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_int_t
jint(const json_t *o, const char *k, json_int_t dflt)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

const char *
p2p_ca_overlay(const p2p_ca *ca)
{
	const char *s = jstr(ca->state, "overlay");

	return s != NULL ? s : "";
}

/* ---- opening ---- */

static int
lock_dir(const char *dir, int exclusive, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	if (dir_path(dir, "lock", path, sizeof(path)) != 0)
		return efail(err, errlen, "directory name too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return efail(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		if (errno == EINTR)
			continue;
		close(fd);
		return efail(err, errlen, "cannot lock %s: %s", path,
		    strerror(errno));
	}
	return fd;
}

static int
load_pair(const char *dir, const char *kname, const char *cname,
    EVP_PKEY **key, X509 **cert, char *err, size_t errlen)
{
	char kp[PATH_MAX], cp[PATH_MAX];
	p2p_err e;

	if (dir_path(dir, kname, kp, sizeof(kp)) != 0 ||
	    dir_path(dir, cname, cp, sizeof(cp)) != 0)
		return efail(err, errlen, "directory name too long");
	if ((*key = p2p_key_load(kp, &e)) == NULL)
		return efail(err, errlen, "%s: %s", kp, e.what);
	if ((*cert = p2p_cert_load(cp, &e)) == NULL) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return efail(err, errlen, "%s: %s", cp, e.what);
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
		return efail(err, errlen, "%s does not match %s", kp, cp);
	}
	return 0;
}

int
p2p_ca_open(p2p_ca *ca, const char *dir, int exclusive, char *err,
    size_t errlen)
{
	char path[PATH_MAX];

	memset(ca, 0, sizeof(*ca));
	ca->lockfd = -1;
	if (dir_path(dir, "state.json", path, sizeof(path)) != 0)
		return efail(err, errlen, "directory name too long");
	if (access(path, F_OK) != 0)
		return efail(err, errlen, "%s is not a CA directory (no "
		    "state.json); create one with \"p2p-ca init\"", dir);
	if ((ca->dir = strdup(dir)) == NULL)
		return efail(err, errlen, "out of memory");
	if ((ca->lockfd = lock_dir(dir, exclusive, err, errlen)) < 0)
		goto bad;
	ca->exclusive = exclusive;
	if ((ca->state = json_load(path, err, errlen)) == NULL)
		goto bad;
	if (dir_path(dir, "users.json", path, sizeof(path)) != 0 ||
	    (ca->users = json_load(path, err, errlen)) == NULL)
		goto bad;
	if (jstr(ca->state, "overlay") == NULL ||
	    !json_is_array(json_object_get(ca->state, "certs"))) {
		efail(err, errlen, "%s/state.json lacks overlay or certs", dir);
		goto bad;
	}
	if (load_pair(dir, "ca.key", "ca.pem", &ca->key, &ca->cert, err,
	    errlen) != 0)
		goto bad;
	return 0;
bad:
	p2p_ca_close(ca);
	return -1;
}

int
p2p_ca_commit(p2p_ca *ca, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (!ca->exclusive)
		return efail(err, errlen, "CA opened read-only");
	if (p2p_ca_path(ca, "users.json", path, sizeof(path)) != 0 ||
	    json_save(path, ca->users, err, errlen) != 0)
		return -1;
	if (p2p_ca_path(ca, "state.json", path, sizeof(path)) != 0 ||
	    json_save(path, ca->state, err, errlen) != 0)
		return -1;
	return 0;
}

void
p2p_ca_close(p2p_ca *ca)
{
	json_decref(ca->state);
	json_decref(ca->users);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	if (ca->lockfd >= 0)
		close(ca->lockfd);	/* drops the flock */
	free(ca->dir);
	memset(ca, 0, sizeof(*ca));
	ca->lockfd = -1;
}

/* ---- accounts ---- */

static int
user_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' ||
		    c == '<' || c == '>' || c == '/')
			return 0;
	}
	return 1;
}

static int
pw_hash(const char *pw, size_t pwlen, const uint8_t *salt, int iter,
    uint8_t out[HASH_LEN])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, SALT_LEN, iter,
	    EVP_sha256(), HASH_LEN, out) == 1 ? 0 : -1;
}

int
p2p_ca_user_add(p2p_ca *ca, const char *name, const char *password,
    unsigned quota, int replace, char *err, size_t errlen)
{
	uint8_t salt[SALT_LEN], h[HASH_LEN];
	char sh[2 * SALT_LEN + 1], hh[2 * HASH_LEN + 1];
	json_t *u, *old, *ids;
	size_t pwlen = strlen(password);

	if (!user_name_ok(name))
		return efail(err, errlen, "user name must be 1..64 printable "
		    "characters without spaces, quotes, slashes or <>");
	if (pwlen == 0 || pwlen > P2P_CA_PASSWORD_MAX)
		return efail(err, errlen, "password must be 1..%d bytes",
		    P2P_CA_PASSWORD_MAX);
	if (quota > P2P_CERT_MAX_IDS)
		return efail(err, errlen, "quota must be 1..%d Node-IDs",
		    P2P_CERT_MAX_IDS);
	old = json_object_get(ca->users, name);
	if (old != NULL && !replace)
		return efail(err, errlen, "user %s already exists", name);
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    pw_hash(password, pwlen, salt, P2P_CA_PBKDF2_ITER, h) != 0)
		return efail(err, errlen, "password hashing failed");
	for (size_t i = 0; i < SALT_LEN; i++)
		snprintf(sh + 2 * i, 3, "%02x", salt[i]);
	for (size_t i = 0; i < HASH_LEN; i++)
		snprintf(hh + 2 * i, 3, "%02x", h[i]);
	OPENSSL_cleanse(h, sizeof(h));
	if (quota == 0)
		quota = old != NULL ? (unsigned)jint(old, "quota",
		    P2P_CA_DEFAULT_QUOTA) : (unsigned)jint(ca->state,
		    "max_ids_per_user", P2P_CA_DEFAULT_QUOTA);
	ids = old != NULL ? json_object_get(old, "node_ids") : NULL;
	ids = ids != NULL ? json_incref(ids) : json_array();
	u = json_pack("{s:s, s:s, s:s, s:i, s:i, s:o}", "kdf",
	    "pbkdf2-hmac-sha256", "salt", sh, "hash", hh, "iter",
	    P2P_CA_PBKDF2_ITER, "quota", (int)quota, "node_ids", ids);
	if (u == NULL || json_object_set_new(ca->users, name, u) != 0)
		return efail(err, errlen, "out of memory");
	return 0;
}

int
p2p_ca_user_del(p2p_ca *ca, const char *name, char *err, size_t errlen)
{
	if (json_object_get(ca->users, name) == NULL)
		return efail(err, errlen, "no user %s", name);
	json_object_del(ca->users, name);
	return 0;
}

static int
unhex(const char *s, uint8_t *out, size_t n)
{
	unsigned v;

	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int
p2p_ca_user_check(const p2p_ca *ca, const char *name, const char *password,
    size_t pwlen)
{
	/* Unknown users cost one hash too, so timing tells nothing. */
	static const uint8_t dummy_salt[SALT_LEN];
	uint8_t salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	json_t *u = json_object_get(ca->users, name);
	json_int_t iter = u != NULL ? jint(u, "iter", 0) : 0;
	int ok = u != NULL;

	if (ok && (unhex(jstr(u, "salt"), salt, SALT_LEN) != 0 ||
	    unhex(jstr(u, "hash"), want, HASH_LEN) != 0 || iter < 1000 ||
	    iter > 100000000))
		ok = 0;
	if (!ok) {
		memcpy(salt, dummy_salt, SALT_LEN);
		memset(want, 0, sizeof(want));
		iter = P2P_CA_PBKDF2_ITER;
	}
	if (pwlen > P2P_CA_PASSWORD_MAX ||
	    pw_hash(password, pwlen, salt, (int)iter, got) != 0)
		ok = 0;
	if (CRYPTO_memcmp(got, want, HASH_LEN) != 0)
		ok = 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

json_t *
p2p_ca_user_list(const p2p_ca *ca)
{
	json_t *out = json_array(), *u;
	const char *name;

	if (out == NULL)
		return NULL;
	json_object_foreach(ca->users, name, u) {
		json_t *e = json_pack("{s:s, s:I, s:O}", "user", name, "quota",
		    jint(u, "quota", 0), "node_ids",
		    json_object_get(u, "node_ids"));
		if (e == NULL || json_array_append_new(out, e) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* ---- configuration ---- */

/*
 * The SIP-REGISTRATION kind, with the domain-restriction the CA state
 * holds ({"enable": bool, "patterns": [ERE...]}) when it holds one.
 */
static int
add_sip_kind(p2p_config *c, const json_t *sipdom)
{
	const json_t *pats = json_object_get(sipdom, "patterns");
	const char *p[P2P_CA_MAX_SIP_DOMAINS];
	size_t n = json_array_size(pats);

	if (!json_is_object(sipdom))
		return p2p_config_add_builtin_kind(c,
		    P2P_KIND_SIP_REGISTRATION, 10, 1000);
	if (n > P2P_CA_MAX_SIP_DOMAINS)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((p[i] = json_string_value(json_array_get(pats, i))) ==
		    NULL)
			return -1;
	return p2p_config_add_sip_kind(c, 10, 1000,
	    json_is_true(json_object_get(sipdom, "enable")), (char **)p, n);
}

/*
 * The kinds of a new overlay: the IANA ones, three private kinds, one per
 * data model, that a user may write under its own user name (USER-MATCH):
 * what p2p-put stores by default ("single"), "array" and "dictionary";
 * and "node", a single value a peer may write at the Resource-ID of its
 * own Node-ID (NODE-MATCH).
 */
static int
add_kinds(p2p_config *c, uint32_t max_size, const json_t *sipdom)
{
	static const struct {
		uint32_t id;
		const char *label;
		enum p2p_data_model model;
		uint32_t max_count;
		enum p2p_access policy;
	} own[] = {
		{ 0xf0000001u, "single", P2P_MODEL_SINGLE, 1,
		    P2P_AC_USER_MATCH },
		{ 0xf0000002u, "array", P2P_MODEL_ARRAY, 256,
		    P2P_AC_USER_MATCH },
		{ 0xf0000003u, "dictionary", P2P_MODEL_DICTIONARY, 256,
		    P2P_AC_USER_MATCH },
		{ 0xf0000004u, "node", P2P_MODEL_SINGLE, 1,
		    P2P_AC_NODE_MATCH },
	};

	if (add_sip_kind(c, sipdom) != 0 ||
	    p2p_config_add_builtin_kind(c, P2P_KIND_TURN_SERVICE, 1, 100) != 0 ||
	    p2p_config_add_builtin_kind(c, P2P_KIND_CERTIFICATE_BY_NODE, 2,
	    4096) != 0 ||
	    p2p_config_add_builtin_kind(c, P2P_KIND_CERTIFICATE_BY_USER, 2,
	    4096) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		p2p_kind_def k;

		memset(&k, 0, sizeof(k));
		k.id = own[i].id;
		k.label = (char *)own[i].label;
		k.model = own[i].model;
		k.policy = own[i].policy;
		k.max_count = own[i].max_count;
		k.max_size = max_size;
		if (p2p_config_add_kind(c, &k) != 0)
			return -1;
	}
	return 0;
}

/* The configuration's link protocols from the state (default: TLS). */
static int
add_link_protocols(p2p_config *c, const json_t *list)
{
	size_t i;
	json_t *v;

	if (json_array_size(list) == 0)
		return 0;
	for (i = 0; i < c->nlink_protocols; i++)
		free(c->link_protocols[i]);
	free(c->link_protocols);
	c->link_protocols = NULL;
	c->nlink_protocols = 0;
	json_array_foreach(list, i, v)
		if (!json_is_string(v) || p2p_config_add_string(
		    &c->link_protocols, &c->nlink_protocols,
		    json_string_value(v)) != 0)
			return -1;
	return 0;
}

static int
add_bootstrap(p2p_config *c, const json_t *list)
{
	char ip[64];
	size_t i;
	json_t *v;
	int port;

	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		if (s == NULL || p2p_addr_split(s, ip, sizeof(ip), &port) != 0 ||
		    port == 0 ||
		    p2p_config_add_bootstrap(c, ip, (uint16_t)port) != 0)
			return -1;
	}
	return 0;
}

static int
add_ids(p2p_id **list, size_t *n, const json_t *hexes)
{
	size_t i;
	json_t *v;
	p2p_id id;

	json_array_foreach(hexes, i, v)
		if (!p2p_id_from_hex(&id, json_string_value(v) != NULL ?
		    json_string_value(v) : "") || p2p_config_add_id(list, n,
		    &id) != 0)
			return -1;
	return 0;
}

/* The ICE settings from the state: STUN and TURN servers, credentials. */
static int
add_ice(p2p_config *c, const json_t *st)
{
	const char *stun = jstr(st, "stun"), *cred = jstr(st, "turn_credentials");
	const char *colon;
	json_t *v;
	size_t i;
	char ip[64];
	int port;

	c->no_ice = !json_is_true(json_object_get(st, "ice"));
	if (stun != NULL && (p2p_addr_split(stun, ip, sizeof(ip), &port) != 0 ||
	    p2p_config_add_ice_server(c, 0, ip, (uint16_t)port, NULL,
	    NULL) != 0))
		return -1;
	json_array_foreach(json_object_get(st, "turn"), i, v)
		if (!json_is_string(v) || p2p_addr_split(json_string_value(v),
		    ip, sizeof(ip), &port) != 0 || p2p_config_add_ice_server(c,
		    1, ip, (uint16_t)port, NULL, NULL) != 0)
			return -1;
	if (cred == NULL)
		return 0;
	if ((colon = strchr(cred, ':')) == NULL ||
	    (c->turn_username = strndup(cred, (size_t)(colon - cred))) ==
	    NULL || (c->turn_password = strdup(colon + 1)) == NULL)
		return -1;
	return 0;
}

static char *url_with_path(const char *url, const char *path);

/* Fill c from the state. */
static int
build_config(p2p_ca *ca, p2p_config *c, uint32_t seq, char *err,
    size_t errlen)
{
	const char *url = jstr(ca->state, "enroll_url");
	const char *crl = jstr(ca->state, "crl_url");
	json_t *signer = json_object_get(ca->state, "signer_node_id");
	json_t *signers = json_array();
	uint8_t *der = NULL;
	size_t len;
	p2p_err e;
	uint32_t value_size;
	int rc = 0;

	if (p2p_config_init(c) != 0 || signers == NULL ||
	    (json_is_string(signer) && json_array_append(signers, signer))) {
		json_decref(signers);
		return efail(err, errlen, "out of memory");
	}
	c->sequence = seq;
	c->self_signed_permitted = json_is_true(json_object_get(ca->state,
	    "self_signed_permitted"));
	c->self_signed_digest = P2P_DIGEST_SHA256;
	c->clients_permitted = 1;
	if (json_integer_value(json_object_get(ca->state,
	    "max_message_size")) > 0)
		c->max_message_size = (uint32_t)json_integer_value(
		    json_object_get(ca->state, "max_message_size"));
	value_size = (uint32_t)json_integer_value(json_object_get(ca->state,
	    "max_value_size"));
	if (json_is_integer(json_object_get(ca->state, "turn_density")))
		c->turn_density = (unsigned)json_integer_value(
		    json_object_get(ca->state, "turn_density"));
	if ((c->instance_name = strdup(p2p_ca_overlay(ca))) == NULL ||
	    p2p_cert_to_der(ca->cert, &der, &len, &e) != 0 ||
	    p2p_config_add_root_cert(c, der, len) != 0 ||
	    (url != NULL && p2p_config_add_string(&c->enrollment_servers,
	    &c->nenrollment_servers, url) != 0) ||
	    (crl != NULL && (c->crl_url = strdup(crl)) == NULL) ||
	    (url != NULL && (c->config_url = url_with_path(url,
	    "/.well-known/reload-config")) == NULL) ||
	    add_bootstrap(c, json_object_get(ca->state, "bootstrap")) != 0 ||
	    add_link_protocols(c, json_object_get(ca->state,
	    "link_protocols")) != 0 || add_ice(c, ca->state) != 0 ||
	    add_ids(&c->config_signers, &c->nconfig_signers, signers) != 0 ||
	    add_ids(&c->bad_nodes, &c->nbad_nodes,
	    json_object_get(ca->state, "bad_nodes")) != 0 ||
	    add_kinds(c, value_size > 0 ? value_size :
	    P2P_CA_DEFAULT_VALUE_SIZE, json_object_get(ca->state,
	    "sip_domains")) != 0)
		rc = efail(err, errlen, "cannot build the configuration");
	json_decref(signers);
	free(der);
	return rc;
}

static int
sign_and_write(p2p_ca *ca, const p2p_config *c, char *err, size_t errlen)
{
	char path[PATH_MAX];
	EVP_PKEY *skey = NULL;
	X509 *scert = NULL;
	p2p_identity id;
	p2p_wbuf w, sw;
	p2p_err e;
	int rc = -1;

	if (load_pair(ca->dir, "signer.key", "signer.pem", &skey, &scert, err,
	    errlen) != 0)
		return -1;
	p2p_w_init(&w, 0);
	p2p_w_init(&sw, 0);
	if (p2p_identity_init(&id, skey, scert, NULL, &e) != 0) {
		efail(err, errlen, "configuration signer: %s", e.what);
		goto out;
	}
	if (p2p_config_write(c, &w, &e) != 0 ||
	    p2p_config_sign((const char *)w.p, w.len, &id, &sw, &e) != 0)
		efail(err, errlen, "configuration: %s", e.what);
	else if (p2p_ca_path(ca, "overlay.xml", path, sizeof(path)) != 0 ||
	    p2p_file_write_atomic(path, sw.p, sw.len, 0644) != 0)
		efail(err, errlen, "cannot write overlay.xml: %s",
		    strerror(errno));
	else
		rc = 0;
	p2p_identity_free(&id);
out:
	p2p_w_free(&w);
	p2p_w_free(&sw);
	EVP_PKEY_free(skey);
	X509_free(scert);
	return rc;
}

int
p2p_ca_publish_config(p2p_ca *ca, char *err, size_t errlen)
{
	json_int_t cur = jint(ca->state, "sequence", 0);

	/* 0..65534, then 0 again: 65535 is never a configuration's. */
	return p2p_ca_publish_config_at(ca, cur < 0 || cur > 65534 ? 0 :
	    p2p_config_seq_next((uint32_t)cur), err, errlen);
}

int
p2p_ca_publish_config_at(p2p_ca *ca, uint32_t seq, char *err,
    size_t errlen)
{
	p2p_config c;
	int rc;

	if (seq > P2P_CONFIG_SEQ_MAX)
		return efail(err, errlen, "a sequence is 0 to 65534");
	if (build_config(ca, &c, seq, err, errlen) != 0) {
		p2p_config_free(&c);
		return -1;
	}
	rc = sign_and_write(ca, &c, err, errlen);
	p2p_config_free(&c);
	if (rc != 0)
		return -1;
	if (json_object_set_new(ca->state, "sequence",
	    json_integer((json_int_t)seq)) != 0)
		return efail(err, errlen, "out of memory");
	return 0;
}

/* "https://host:port/any" -> "https://host:port" + path. */
static char *
url_with_path(const char *url, const char *path)
{
	const char *p = url + 8, *slash;
	char *out;
	size_t n, k = strlen(path);

	if (strncmp(url, "https://", 8) != 0)
		return NULL;
	slash = strchr(p, '/');
	n = slash != NULL ? (size_t)(slash - url) : strlen(url);
	if ((out = malloc(n + k + 1)) == NULL)
		return NULL;
	memcpy(out, url, n);
	memcpy(out + n, path, k + 1);
	return out;
}

static int
set_urls(json_t *state, const char *url)
{
	char *crl = url_with_path(url, "/crl");
	int rc;

	if (crl == NULL)
		return -1;
	rc = json_object_set_new(state, "enroll_url", json_string(url)) ||
	    json_object_set_new(state, "crl_url", json_string(crl)) ? -1 : 0;
	free(crl);
	return rc;
}

int
p2p_ca_set_enroll_url(p2p_ca *ca, const char *url, char *err, size_t errlen)
{
	if (jstr(ca->state, "enroll_url") != NULL)
		return 0;
	if (set_urls(ca->state, url) != 0)
		return efail(err, errlen, "enrollment URL must be https://");
	if (p2p_ca_publish_config(ca, err, errlen) != 0)
		return -1;
	return 1;
}

/* ---- CRL ---- */

static int
publish_crl(p2p_ca *ca, char *err, size_t errlen)
{
	json_t *certs = json_object_get(ca->state, "certs"), *c;
	const char **serials;
	char path[PATH_MAX];
	size_t i, n = 0;
	X509_CRL *crl;
	unsigned char *der = NULL;
	int len, rc = -1;
	p2p_err e;

	if ((serials = calloc(json_array_size(certs) + 1,
	    sizeof(*serials))) == NULL)
		return efail(err, errlen, "out of memory");
	json_array_foreach(certs, i, c)
		if (json_is_true(json_object_get(c, "revoked")) &&
		    jstr(c, "serial") != NULL)
			serials[n++] = jstr(c, "serial");
	crl = p2p_crl_make(ca->key, ca->cert, serials, n, 30, &e);
	free(serials);
	if (crl == NULL)
		return efail(err, errlen, "CRL: %s", e.what);
	if ((len = i2d_X509_CRL(crl, &der)) <= 0)
		efail(err, errlen, "cannot encode the CRL");
	else if (p2p_ca_path(ca, "crl.der", path, sizeof(path)) != 0 ||
	    p2p_file_write_atomic(path, der, (size_t)len, 0644) != 0)
		efail(err, errlen, "cannot write crl.der: %s", strerror(errno));
	else
		rc = 0;
	OPENSSL_free(der);
	X509_CRL_free(crl);
	return rc;
}

/* ---- init ---- */

static int
make_signer(const char *dir, const char *overlay, EVP_PKEY *cakey,
    X509 *ca, p2p_id *node, char *err, size_t errlen)
{
	char kp[PATH_MAX], cp[PATH_MAX];
	p2p_issue p = { overlay, NULL, node, 1, 0, 0 };
	EVP_PKEY *k;
	X509_REQ *csr = NULL;
	X509 *x = NULL;
	p2p_err e;
	int rc = -1;

	if (p2p_id_random(node) != 0)
		return efail(err, errlen, "random number generator failed");
	p.not_after = time(NULL) + (time_t)P2P_CA_ROOT_DAYS * 86400;
	if (dir_path(dir, "signer.key", kp, sizeof(kp)) != 0 ||
	    dir_path(dir, "signer.pem", cp, sizeof(cp)) != 0)
		return efail(err, errlen, "directory name too long");
	if ((k = p2p_key_generate(P2P_KEY_EC_P256, &e)) == NULL)
		return efail(err, errlen, "signer key: %s", e.what);
	if ((csr = p2p_csr_make(k, &e)) == NULL ||
	    (x = p2p_cert_issue(cakey, ca, csr, &p, &e)) == NULL ||
	    p2p_key_save(k, kp, &e) != 0 || p2p_cert_save(x, cp, &e) != 0)
		efail(err, errlen, "configuration signer: %s", e.what);
	else
		rc = 0;
	X509_REQ_free(csr);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* The link protocols, checked: TLS or DTLS, each once. */
static int
set_link_protocols(json_t *st, const p2p_ca_init_opts *o)
{
	json_t *a = json_array();

	if (a == NULL)
		return -1;
	for (size_t i = 0; i < o->nlink_protocols; i++) {
		const char *p = o->link_protocols[i];
		int seen = 0;

		for (size_t j = 0; j < i; j++)
			seen |= strcmp(o->link_protocols[j], p) == 0;
		if ((strcmp(p, "TLS") != 0 && strcmp(p, "DTLS") != 0) || seen ||
		    json_array_append_new(a, json_string(p)) != 0) {
			json_decref(a);
			return -1;
		}
	}
	return json_object_set_new(st, "link_protocols", a);
}

/* The ICE settings into the state (checked by init_check). */
static int
set_ice(json_t *st, const p2p_ca_init_opts *o)
{
	json_t *a;

	if (!o->ice)
		return 0;
	if ((a = json_array()) == NULL)
		return -1;
	for (size_t i = 0; i < o->nturn; i++)
		if (json_array_append_new(a, json_string(o->turn[i])) != 0) {
			json_decref(a);
			return -1;
		}
	if (json_object_set_new(st, "turn", a) != 0 ||
	    json_object_set_new(st, "ice", json_true()) != 0 ||
	    (o->stun != NULL && json_object_set_new(st, "stun",
	    json_string(o->stun)) != 0) || (o->turn_credentials != NULL &&
	    json_object_set_new(st, "turn_credentials",
	    json_string(o->turn_credentials)) != 0))
		return -1;
	return 0;
}

/* The SIP domain-restriction into the state (checked by init_check). */
static int
set_sip_domains(json_t *st, const p2p_ca_init_opts *o)
{
	json_t *a;

	if (!o->sip_own_domain && o->nsip_domains == 0)
		return 0;
	if ((a = json_array()) == NULL)
		return -1;
	for (size_t i = 0; i < o->nsip_domains; i++)
		if (json_array_append_new(a, json_string(o->sip_domains[i])) !=
		    0) {
			json_decref(a);
			return -1;
		}
	return json_object_set_new(st, "sip_domains", json_pack("{s:b, s:o}",
	    "enable", o->nsip_domains > 0, "patterns", a));
}

static json_t *
init_state(const p2p_ca_init_opts *o, const p2p_id *signer)
{
	char hex[P2P_ID_HEXLEN + 1], ip[64];
	json_t *st, *bs;
	int port;

	if ((bs = json_array()) == NULL)
		return NULL;
	for (size_t i = 0; i < o->nbootstrap; i++)
		if (p2p_addr_split(o->bootstrap[i], ip, sizeof(ip), &port) !=
		    0 || port == 0 || json_array_append_new(bs,
		    json_string(o->bootstrap[i])) != 0) {
			json_decref(bs);
			return NULL;
		}
	st = json_pack("{s:s, s:i, s:i, s:b, s:o, s:s, s:[], s:[], s:s}",
	    "overlay", o->overlay, "sequence", 0, "max_ids_per_user",
	    (int)(o->max_ids_per_user ? o->max_ids_per_user :
	    P2P_CA_DEFAULT_QUOTA), "self_signed_permitted",
	    o->self_signed_permitted, "bootstrap", bs, "signer_node_id",
	    p2p_id_hex(signer, hex), "certs", "bad_nodes", "key_type",
	    o->key_type == P2P_KEY_RSA2048 ? "rsa" : "ec");
	if (st != NULL && ((o->max_message_size > 0 && json_object_set_new(st,
	    "max_message_size", json_integer(o->max_message_size)) != 0) ||
	    (o->set_turn_density && json_object_set_new(st, "turn_density",
	    json_integer(o->turn_density)) != 0) ||
	    (o->max_value_size > 0 && json_object_set_new(st,
	    "max_value_size", json_integer(o->max_value_size)) != 0))) {
		json_decref(st);
		return NULL;
	}
	if (st != NULL && ((o->nlink_protocols > 0 &&
	    set_link_protocols(st, o) != 0) || set_ice(st, o) != 0 ||
	    set_sip_domains(st, o) != 0)) {
		json_decref(st);
		return NULL;
	}
	if (st != NULL && o->enroll_url != NULL &&
	    set_urls(st, o->enroll_url) != 0) {
		json_decref(st);
		return NULL;
	}
	return st;
}

/* USER:PASS, each part 1..127 printable characters (as config.c wants). */
static int
credentials_ok(const char *cred)
{
	const char *colon = strchr(cred, ':');
	size_t ul, pl;

	if (colon == NULL)
		return 0;
	ul = (size_t)(colon - cred);
	pl = strlen(colon + 1);
	if (ul == 0 || ul > 127 || pl == 0 || pl > 127)
		return 0;
	for (const char *p = cred; *p != '\0'; p++)
		if (!isprint((unsigned char)*p))
			return 0;
	return 1;
}

/* STUN and TURN servers are numeric IP:PORT, credentials USER:PASS, and
 * all of them only with ICE. */
static int
ice_check(const p2p_ca_init_opts *o, char *err, size_t errlen)
{
	const char *cred = o->turn_credentials;
	char ip[64];
	int port;

	if (!o->ice && (o->stun != NULL || o->nturn > 0 || cred != NULL))
		return efail(err, errlen, "STUN and TURN servers need --ice");
	if (o->nturn > P2P_CONFIG_MAX_ICE_SERVERS)
		return efail(err, errlen, "at most %d TURN servers",
		    P2P_CONFIG_MAX_ICE_SERVERS);
	for (size_t i = 0; i <= o->nturn; i++) {
		const char *a = i < o->nturn ? o->turn[i] : o->stun;
		struct in6_addr bin;

		if (a == NULL)
			continue;
		if (p2p_addr_split(a, ip, sizeof(ip), &port) != 0 ||
		    port == 0 || (inet_pton(AF_INET, ip, &bin) != 1 &&
		    inet_pton(AF_INET6, ip, &bin) != 1))
			return efail(err, errlen, "STUN/TURN server %s: want a "
			    "numeric IP:PORT", a);
	}
	if (cred != NULL && !credentials_ok(cred))
		return efail(err, errlen, "--turn-credentials: want USER:PASS, "
		    "1..127 printable characters each");
	return 0;
}

static int
init_check(const p2p_ca_init_opts *o, char *err, size_t errlen)
{
	char ip[64], uri[P2P_NAME_MAX + 64];
	p2p_id probe;
	int port;

	memset(&probe, 1, sizeof(probe));
	if (o->overlay == NULL || p2p_node_uri(uri, sizeof(uri), &probe,
	    o->overlay) != 0)
		return efail(err, errlen, "overlay name must be a DNS-style "
		    "name (letters, digits, '-' and '.')");
	if (o->max_ids_per_user > P2P_CERT_MAX_IDS)
		return efail(err, errlen, "--max-ids-per-user must be 1..%d",
		    P2P_CERT_MAX_IDS);
	if (o->max_message_size > 0 && (o->max_message_size <
	    P2P_DEFAULT_MAX_MSG || o->max_message_size > P2P_FRAME_MAX_MSG))
		return efail(err, errlen, "--max-message-size must be %d..%u",
		    P2P_DEFAULT_MAX_MSG, P2P_FRAME_MAX_MSG);
	if (o->set_turn_density && o->turn_density > P2P_CA_MAX_TURN_DENSITY)
		return efail(err, errlen, "--turn-density must be 0..%d",
		    P2P_CA_MAX_TURN_DENSITY);
	if (o->sip_own_domain && o->nsip_domains > 0)
		return efail(err, errlen, "--sip-own-domain and --sip-domain "
		    "exclude each other");
	if (o->nsip_domains > P2P_CA_MAX_SIP_DOMAINS)
		return efail(err, errlen, "at most %d --sip-domain",
		    P2P_CA_MAX_SIP_DOMAINS);
	for (size_t i = 0; i < o->nsip_domains; i++) {
		const char *why = p2p_config_pattern_check(o->sip_domains[i]);

		if (why != NULL)
			return efail(err, errlen, "--sip-domain %.80s %s",
			    o->sip_domains[i], why);
	}
	if (o->max_value_size > (o->max_message_size > 0 ?
	    o->max_message_size : P2P_DEFAULT_MAX_MSG))
		return efail(err, errlen, "--max-value-size must not exceed "
		    "the max-message-size");
	if (o->enroll_url != NULL && (strncmp(o->enroll_url, "https://", 8) !=
	    0 || strlen(o->enroll_url) < 9 || strpbrk(o->enroll_url,
	    " \t\r\n<>\"&'") != NULL))
		return efail(err, errlen, "enrollment URL must be an https:// "
		    "URL");
	for (size_t i = 0; i < o->nbootstrap; i++)
		if (p2p_addr_split(o->bootstrap[i], ip, sizeof(ip), &port) !=
		    0 || port == 0)
			return efail(err, errlen, "bootstrap %s: want IP:PORT or "
			    "[IPv6]:PORT", o->bootstrap[i]);
	return ice_check(o, err, errlen);
}

static int
init_dir(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return efail(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return efail(err, errlen, "%s is not a directory", dir);
	if (chmod(dir, 0700) != 0)
		return efail(err, errlen, "cannot chmod %s: %s", dir,
		    strerror(errno));
	if (dir_path(dir, "state.json", path, sizeof(path)) != 0)
		return efail(err, errlen, "directory name too long");
	if (access(path, F_OK) == 0)
		return efail(err, errlen, "%s already holds a CA", dir);
	if (dir_path(dir, "certs", path, sizeof(path)) != 0 ||
	    (mkdir(path, 0700) != 0 && errno != EEXIST))
		return efail(err, errlen, "cannot create %s/certs", dir);
	return 0;
}

static int
init_files(p2p_ca *ca, const p2p_ca_init_opts *o, char *err, size_t errlen)
{
	char kp[PATH_MAX], cp[PATH_MAX];
	p2p_id signer;
	p2p_err e;

	if (p2p_ca_path(ca, "ca.key", kp, sizeof(kp)) != 0 ||
	    p2p_ca_path(ca, "ca.pem", cp, sizeof(cp)) != 0)
		return efail(err, errlen, "directory name too long");
	if ((ca->key = p2p_key_generate(o->key_type, &e)) == NULL ||
	    (ca->cert = p2p_ca_create(ca->key, o->overlay, P2P_CA_ROOT_DAYS,
	    &e)) == NULL || p2p_key_save(ca->key, kp, &e) != 0 ||
	    p2p_cert_save(ca->cert, cp, &e) != 0)
		return efail(err, errlen, "CA: %s", e.what);
	if (make_signer(ca->dir, o->overlay, ca->key, ca->cert, &signer, err,
	    errlen) != 0)
		return -1;
	if ((ca->state = init_state(o, &signer)) == NULL ||
	    (ca->users = json_object()) == NULL)
		return efail(err, errlen, "out of memory");
	if (publish_crl(ca, err, errlen) != 0 ||
	    p2p_ca_publish_config(ca, err, errlen) != 0)
		return -1;
	/* state.json last: its presence marks a complete CA. */
	return p2p_ca_commit(ca, err, errlen);
}

int
p2p_ca_init(const p2p_ca_init_opts *o, char *err, size_t errlen)
{
	p2p_ca ca;
	int rc;

	if (init_check(o, err, errlen) != 0 || init_dir(o->dir, err,
	    errlen) != 0)
		return -1;
	memset(&ca, 0, sizeof(ca));
	ca.lockfd = -1;
	if ((ca.dir = strdup(o->dir)) == NULL)
		return efail(err, errlen, "out of memory");
	if ((ca.lockfd = lock_dir(o->dir, 1, err, errlen)) < 0) {
		p2p_ca_close(&ca);
		return -1;
	}
	ca.exclusive = 1;
	rc = init_files(&ca, o, err, errlen);
	p2p_ca_close(&ca);
	return rc;
}

/* ---- issuing ---- */

static int
id_in_use(const p2p_ca *ca, const p2p_id *id)
{
	const char *name;
	char hex[P2P_ID_HEXLEN + 1];
	json_t *u, *v;
	size_t i;

	p2p_id_hex(id, hex);
	json_object_foreach(ca->users, name, u)
		json_array_foreach(json_object_get(u, "node_ids"), i, v)
			if (strcasecmp(json_string_value(v), hex) == 0)
				return 1;
	json_array_foreach(json_object_get(ca->state, "bad_nodes"), i, v)
		if (strcasecmp(json_string_value(v), hex) == 0)
			return 1;
	return strcasecmp(jstr(ca->state, "signer_node_id") ?
	    jstr(ca->state, "signer_node_id") : "", hex) == 0;
}

/* Make sure the user has at least n Node-IDs; fill ids with the first n. */
static enum p2p_ca_refusal
assign_ids(p2p_ca *ca, json_t *u, unsigned n, p2p_id *ids, char *why,
    size_t whylen)
{
	json_t *list = json_object_get(u, "node_ids");
	json_int_t quota = jint(u, "quota", P2P_CA_DEFAULT_QUOTA);
	char hex[P2P_ID_HEXLEN + 1];
	size_t i;

	if (!json_is_array(list)) {
		list = json_array();
		if (list == NULL || json_object_set_new(u, "node_ids", list))
			return P2P_CA_INTERNAL;
	}
	if (n > quota) {
		snprintf(why, whylen, "asked for %u Node-IDs, quota is %lld",
		    n, (long long)quota);
		return P2P_CA_NODE_IDS_NA;
	}
	while (json_array_size(list) < n) {
		p2p_id id;
		do {
			if (p2p_id_random(&id) != 0)
				return P2P_CA_INTERNAL;
		} while (id_in_use(ca, &id));
		if (json_array_append_new(list, json_string(p2p_id_hex(&id,
		    hex))) != 0)
			return P2P_CA_INTERNAL;
	}
	for (i = 0; i < n; i++)
		if (!p2p_id_from_hex(&ids[i], json_string_value(
		    json_array_get(list, i))))
			return P2P_CA_INTERNAL;
	return P2P_CA_ISSUED;
}

static int
record_cert(p2p_ca *ca, const char *user, X509 *x)
{
	char hex[P2P_ID_HEXLEN + 1], path[PATH_MAX], name[64];
	p2p_cert_info ci;
	json_t *ids, *e;
	p2p_err err;

	if (p2p_cert_info_get(x, &ci, &err) != 0 || (ids = json_array()) ==
	    NULL)
		return -1;
	for (size_t i = 0; i < ci.nids; i++)
		if (json_array_append_new(ids, json_string(p2p_id_hex(
		    &ci.ids[i], hex))) != 0) {
			json_decref(ids);
			return -1;
		}
	e = json_pack("{s:s, s:s, s:o, s:I, s:I, s:b}", "serial", ci.serial,
	    "user", user, "node_ids", ids, "not_after",
	    (json_int_t)ci.not_after, "issued", (json_int_t)time(NULL),
	    "revoked", 0);
	if (e == NULL || json_array_append_new(json_object_get(ca->state,
	    "certs"), e) != 0)
		return -1;
	snprintf(name, sizeof(name), "certs/%s.pem", ci.serial);
	if (p2p_ca_path(ca, name, path, sizeof(path)) == 0)
		(void)p2p_cert_save(x, path, &err);	/* a copy only */
	return 0;
}

enum p2p_ca_refusal
p2p_ca_issue(p2p_ca *ca, const char *user, X509_REQ *csr, unsigned nids,
    X509 **out, char *why, size_t whylen)
{
	p2p_id ids[P2P_CERT_MAX_IDS];
	p2p_issue p = { p2p_ca_overlay(ca), user, ids, nids, 0, 0 };
	enum p2p_ca_refusal r;
	json_t *u = json_object_get(ca->users, user);
	p2p_err e;
	X509 *x;

	*out = NULL;
	if (u == NULL) {
		snprintf(why, whylen, "no user %s", user);
		return P2P_CA_FAILED_AUTH;
	}
	if (p2p_csr_check(csr, &e) != 0) {
		snprintf(why, whylen, "%s", e.what);
		return P2P_CA_BAD_CSR;
	}
	if (nids == 0 || nids > P2P_CERT_MAX_IDS) {
		snprintf(why, whylen, "asked for %u Node-IDs", nids);
		return P2P_CA_NODE_IDS_NA;
	}
	if ((r = assign_ids(ca, u, nids, ids, why, whylen)) != P2P_CA_ISSUED)
		return r;
	p.not_after = time(NULL) + (time_t)P2P_CA_CERT_DAYS * 86400;
	if ((x = p2p_cert_issue(ca->key, ca->cert, csr, &p, &e)) == NULL) {
		snprintf(why, whylen, "%s", e.what);
		return strncmp(e.what, "user name", 9) == 0 ?
		    P2P_CA_USERNAME_NA : P2P_CA_INTERNAL;
	}
	if (record_cert(ca, user, x) != 0) {
		X509_free(x);
		snprintf(why, whylen, "cannot record the certificate");
		return P2P_CA_INTERNAL;
	}
	*out = x;
	return P2P_CA_ISSUED;
}

/* ---- revoking ---- */

static int
cert_has_id(const json_t *c, const char *hex)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(c, "node_ids"), i, v)
		if (strcasecmp(json_string_value(v), hex) == 0)
			return 1;
	return 0;
}

static void
retire_ids(p2p_ca *ca, const json_t *c)
{
	json_t *bad = json_object_get(ca->state, "bad_nodes"), *v, *w;
	json_t *u = json_object_get(ca->users, jstr(c, "user") ?
	    jstr(c, "user") : "");
	json_t *list = u != NULL ? json_object_get(u, "node_ids") : NULL;
	size_t i, j;

	json_array_foreach(json_object_get(c, "node_ids"), i, v) {
		const char *h = json_string_value(v);
		int seen = 0;
		json_array_foreach(bad, j, w)
			seen |= strcasecmp(json_string_value(w), h) == 0;
		if (!seen)
			json_array_append(bad, v);
		for (j = 0; list != NULL && j < json_array_size(list); j++)
			if (strcasecmp(json_string_value(json_array_get(list,
			    j)), h) == 0)
				json_array_remove(list, j--);
	}
}

int
p2p_ca_revoke(p2p_ca *ca, const char *what, size_t *count, char *err,
    size_t errlen)
{
	json_t *certs = json_object_get(ca->state, "certs"), *c;
	size_t i, matched = 0;
	int by_serial = 0;

	*count = 0;
	json_array_foreach(certs, i, c)
		if (strcasecmp(jstr(c, "serial") ? jstr(c, "serial") : "",
		    what) == 0)
			by_serial = 1;
	json_array_foreach(certs, i, c) {
		int hit = by_serial ? strcasecmp(jstr(c, "serial"), what) == 0 :
		    strlen(what) == P2P_ID_HEXLEN && cert_has_id(c, what);
		if (!hit)
			continue;
		matched++;
		if (json_is_true(json_object_get(c, "revoked")))
			continue;
		if (json_object_set_new(c, "revoked", json_true()) != 0 ||
		    json_object_set_new(c, "revoked_at",
		    json_integer(time(NULL))) != 0)
			return efail(err, errlen, "out of memory");
		retire_ids(ca, c);
		(*count)++;
	}
	if (matched == 0)
		return efail(err, errlen, "no certificate with serial or "
		    "Node-ID %s", what);
	if (*count == 0)
		return 0;
	if (publish_crl(ca, err, errlen) != 0 ||
	    p2p_ca_publish_config(ca, err, errlen) != 0)
		return -1;
	return 0;
}

json_t *
p2p_ca_list(const p2p_ca *ca)
{
	json_t *out = json_array(), *c;
	char when[32];
	size_t i;

	if (out == NULL)
		return NULL;
	json_array_foreach(json_object_get(ca->state, "certs"), i, c) {
		time_t t = (time_t)jint(c, "not_after", 0);
		struct tm tm;
		json_t *e;

		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) ==
		    0)
			snprintf(when, sizeof(when), "?");
		e = json_pack("{s:s?, s:O, s:s?, s:s, s:b}", "user",
		    jstr(c, "user"), "node_ids", json_object_get(c, "node_ids"),
		    "serial", jstr(c, "serial"), "not_after", when, "revoked",
		    json_is_true(json_object_get(c, "revoked")));
		if (e == NULL || json_array_append_new(out, e) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* ---- the HTTPS server certificate ---- */

static int
server_ext(X509 *x, X509 *ca, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static int
random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	ASN1_INTEGER *ai;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x01);
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
		return 0;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	ok = ai != NULL && X509_set_serialNumber(x, ai);
	ASN1_INTEGER_free(ai);
	return ok;
}

static X509 *
server_cert_make(p2p_ca *ca, EVP_PKEY *key, const char *ip, const char *dns)
{
	char san[600];
	time_t now = time(NULL);
	X509 *x = X509_new();

	if (x == NULL)
		return NULL;
	if (dns != NULL)
		snprintf(san, sizeof(san), "IP:%s,DNS:%s", ip, dns);
	else
		snprintf(san, sizeof(san), "IP:%s", ip);
	if (!X509_set_version(x, 2) || !random_serial(x) ||
	    !X509_NAME_add_entry_by_NID(X509_get_subject_name(x),
	    NID_commonName, MBSTRING_UTF8, (const unsigned char *)ip, -1, -1,
	    0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), now - 60) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), now + 365 * 86400) ||
	    !X509_set_pubkey(x, key) ||
	    !server_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE")
	    || !server_ext(x, ca->cert, NID_key_usage,
	    "critical,digitalSignature,keyEncipherment") ||
	    !server_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") ||
	    !server_ext(x, ca->cert, NID_subject_alt_name, san) ||
	    !server_ext(x, ca->cert, NID_subject_key_identifier, "hash") ||
	    !server_ext(x, ca->cert, NID_authority_key_identifier,
	    "keyid:always") || X509_sign(x, ca->key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Is the current server.pem good for ip/dns, issued by this CA, and
 * valid for at least a day? */
static int
server_cert_ok(p2p_ca *ca, const char *path, const char *ip, const char *dns)
{
	p2p_err e;
	X509 *x = p2p_cert_load(path, &e);
	time_t soon = time(NULL) + 86400;
	int ok;

	if (x == NULL)
		return 0;
	ok = X509_check_ip_asc(x, ip, 0) == 1 &&
	    (dns == NULL || X509_check_host(x, dns, 0, 0, NULL) == 1) &&
	    X509_verify(x, ca->key) == 1 &&
	    X509_cmp_time(X509_get0_notAfter(x), &soon) > 0;
	X509_free(x);
	ERR_clear_error();
	return ok;
}

static int
pem_append(BIO *b, X509 *x)
{
	return PEM_write_bio_X509(b, x) == 1;
}

int
p2p_ca_server_cert(p2p_ca *ca, const char *ip, const char *dns, char *err,
    size_t errlen)
{
	char kp[PATH_MAX], cp[PATH_MAX];
	EVP_PKEY *key;
	X509 *x;
	BIO *b;
	char *pem;
	long n;
	p2p_err e;
	int rc = -1;

	if (p2p_ca_path(ca, "server.key", kp, sizeof(kp)) != 0 ||
	    p2p_ca_path(ca, "server.pem", cp, sizeof(cp)) != 0)
		return efail(err, errlen, "directory name too long");
	if (server_cert_ok(ca, cp, ip, dns))
		return 0;
	if ((key = p2p_key_load(kp, &e)) == NULL) {
		if ((key = p2p_key_generate(P2P_KEY_EC_P256, &e)) == NULL ||
		    p2p_key_save(key, kp, &e) != 0) {
			EVP_PKEY_free(key);
			return efail(err, errlen, "server key: %s", e.what);
		}
	}
	x = server_cert_make(ca, key, ip, dns);
	EVP_PKEY_free(key);
	if (x == NULL)
		return efail(err, errlen, "cannot issue the server certificate");
	if ((b = BIO_new(BIO_s_mem())) != NULL && pem_append(b, x) &&
	    pem_append(b, ca->cert) && (n = BIO_get_mem_data(b, &pem)) > 0 &&
	    p2p_file_write_atomic(cp, pem, (size_t)n, 0644) == 0)
		rc = 0;
	else
		efail(err, errlen, "cannot write %s", cp);
	BIO_free(b);
	X509_free(x);
	return rc;
}
