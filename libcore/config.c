#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

/* ---- base64 ---- */

/* ---- built-in kinds ---- */

static const p2p_kind_info builtin_kinds[] = {
	{ P2P_KIND_SIP_REGISTRATION, "SIP-REGISTRATION", P2P_MODEL_DICTIONARY,
	    P2P_AC_USER_NODE_MATCH },
	{ P2P_KIND_TURN_SERVICE, "TURN-SERVICE", P2P_MODEL_SINGLE,
	    P2P_AC_NODE_MULTIPLE },
	{ P2P_KIND_CERTIFICATE_BY_NODE, "CERTIFICATE_BY_NODE", P2P_MODEL_ARRAY,
	    P2P_AC_NODE_MATCH },
	{ P2P_KIND_CERTIFICATE_BY_USER, "CERTIFICATE_BY_USER", P2P_MODEL_ARRAY,
	    P2P_AC_USER_MATCH },
};
#define NBUILTIN (sizeof(builtin_kinds) / sizeof(builtin_kinds[0]))

const p2p_kind_info *
p2p_kind_by_id(uint32_t id)
{
	for (size_t i = 0; i < NBUILTIN; i++)
		if (builtin_kinds[i].id == id)
			return &builtin_kinds[i];
	return NULL;
}

const p2p_kind_info *
p2p_kind_by_name(const char *name)
{
	for (size_t i = 0; i < NBUILTIN; i++)
		if (strcmp(builtin_kinds[i].name, name) == 0)
			return &builtin_kinds[i];
	return NULL;
}

/* Unsigned decimal, or hex with 0x when hex_ok; no sign, no spaces. */
static int
parse_u64(const char *s, int hex_ok, uint64_t max, uint64_t *out)
{
	int base = 10;
	char *end;
	unsigned long long v;

	if (hex_ok && (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)) {
		base = 16;
		s += 2;
	}
	if (!isxdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

const p2p_kind_info *
p2p_kind_find(const char *s)
{
	uint64_t v;

	if (parse_u64(s, 1, UINT32_MAX, &v) == 0)
		return p2p_kind_by_id((uint32_t)v);
	return p2p_kind_by_name(s);
}

static const char *const dm_names[] = {
	[P2P_MODEL_SINGLE] = "SINGLE",
	[P2P_MODEL_ARRAY] = "ARRAY",
	[P2P_MODEL_DICTIONARY] = "DICTIONARY",
};

static const char *const ac_names[] = {
	[P2P_AC_USER_MATCH] = "USER-MATCH",
	[P2P_AC_NODE_MATCH] = "NODE-MATCH",
	[P2P_AC_USER_NODE_MATCH] = "USER-NODE-MATCH",
	[P2P_AC_NODE_MULTIPLE] = "NODE-MULTIPLE",
};

const char *
p2p_data_model_name(enum p2p_data_model m)
{
	if (m < P2P_MODEL_SINGLE || m > P2P_MODEL_DICTIONARY)
		return NULL;
	return dm_names[m];
}

const char *
p2p_access_name(enum p2p_access a)
{
	if (a < P2P_AC_USER_MATCH || a > P2P_AC_NODE_MULTIPLE)
		return NULL;
	return ac_names[a];
}

static int
name_index(const char *const *names, int lo, int hi, const char *s)
{
	for (int i = lo; i <= hi; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return 0;
}

/* ---- the struct ---- */

static void
free_strings(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static void
free_kind(p2p_kind_def *k)
{
	free_strings(k->patterns, k->npatterns);
	free(k->signature);
	free(k->label);
}

static void
free_ice_servers(p2p_ice_server_cfg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].address);
		free(v[i].username);
		free(v[i].password);
	}
	free(v);
}

void
p2p_config_free(p2p_config *c)
{
	if (c == NULL)
		return;
	free(c->instance_name);
	free(c->topology_plugin);
	for (size_t i = 0; i < c->nroot_certs; i++)
		free(c->root_certs[i].p);
	free(c->root_certs);
	free_strings(c->enrollment_servers, c->nenrollment_servers);
	for (size_t i = 0; i < c->nbootstrap; i++)
		free(c->bootstrap[i].address);
	free(c->bootstrap);
	free(c->shared_secret);
	free_strings(c->link_protocols, c->nlink_protocols);
	free(c->config_signers);
	free(c->kind_signers);
	free(c->bad_nodes);
	free_strings(c->mandatory_extensions, c->nmandatory_extensions);
	for (size_t i = 0; i < c->nkinds; i++)
		free_kind(&c->kinds[i]);
	free(c->kinds);
	for (size_t i = 0; i < c->ndiag; i++)
		free(c->diag[i].nodes);
	free(c->diag);
	free(c->crl_url);
	free_ice_servers(c->stun_servers, c->nstun_servers);
	free_ice_servers(c->turn_servers, c->nturn_servers);
	free(c->turn_username);
	free(c->turn_password);
	free(c->config_url);
	/* Keep the error text: err->what may point at it. */
	{
		char keep[sizeof(c->error)];
		memcpy(keep, c->error, sizeof(keep));
		memset(c, 0, sizeof(*c));
		memcpy(c->error, keep, sizeof(keep));
	}
}

int
p2p_config_init(p2p_config *c)
{
	memset(c, 0, sizeof(*c));
	c->topology_plugin = strdup("CHORD-RELOAD");
	c->node_id_length = P2P_ID_LEN;
	c->self_signed_digest = P2P_DIGEST_SHA256;
	c->turn_density = 1;
	c->clients_permitted = 1;
	c->chord_update_interval = 600;
	c->chord_ping_interval = 3600;
	c->chord_reactive = 1;
	c->max_message_size = P2P_DEFAULT_MAX_MSG;
	c->initial_ttl = P2P_DEFAULT_TTL;
	c->overlay_reliability_timer = 3000;
	if (c->topology_plugin == NULL ||
	    p2p_config_add_string(&c->link_protocols, &c->nlink_protocols,
	    "TLS") != 0) {
		p2p_config_free(c);
		return -1;
	}
	return 0;
}

/* Grow an array by one element of size sz; returns the new slot. */
static void *
grow(void *arrp, size_t *n, size_t sz)
{
	void **a = arrp;
	void *p;

	if (*n >= SIZE_MAX / sz - 1)
		return NULL;
	p = realloc(*a, (*n + 1) * sz);
	if (p == NULL)
		return NULL;
	*a = p;
	memset((char *)p + *n * sz, 0, sz);
	return (char *)p + (*n)++ * sz;
}

int
p2p_config_add_string(char ***list, size_t *n, const char *s)
{
	char *d = strdup(s);
	char **slot;

	if (d == NULL)
		return -1;
	if ((slot = grow(list, n, sizeof(*slot))) == NULL) {
		free(d);
		return -1;
	}
	*slot = d;
	return 0;
}

int
p2p_config_add_id(p2p_id **list, size_t *n, const p2p_id *id)
{
	p2p_id *slot = grow(list, n, sizeof(*slot));

	if (slot == NULL)
		return -1;
	*slot = *id;
	return 0;
}

int
p2p_config_add_root_cert(p2p_config *c, const uint8_t *der, size_t len)
{
	uint8_t *d = malloc(len > 0 ? len : 1);
	p2p_blob *slot;

	if (d == NULL)
		return -1;
	if ((slot = grow(&c->root_certs, &c->nroot_certs, sizeof(*slot))) ==
	    NULL) {
		free(d);
		return -1;
	}
	memcpy(d, der, len);
	slot->p = d;
	slot->len = len;
	return 0;
}

int
p2p_config_add_bootstrap(p2p_config *c, const char *address, uint16_t port)
{
	char *d = strdup(address);
	p2p_bootstrap *slot;

	if (d == NULL)
		return -1;
	if ((slot = grow(&c->bootstrap, &c->nbootstrap, sizeof(*slot))) ==
	    NULL) {
		free(d);
		return -1;
	}
	slot->address = d;
	slot->port = port;
	return 0;
}

int
p2p_config_add_ice_server(p2p_config *c, int turn, const char *address,
    uint16_t port, const char *user, const char *pass)
{
	p2p_ice_server_cfg **list = turn ? &c->turn_servers : &c->stun_servers;
	size_t *n = turn ? &c->nturn_servers : &c->nstun_servers;
	p2p_ice_server_cfg v, *slot;

	if (*n >= P2P_CONFIG_MAX_ICE_SERVERS || (user == NULL) != (pass == NULL))
		return -1;
	memset(&v, 0, sizeof(v));
	v.port = port;
	if ((v.address = strdup(address)) == NULL ||
	    (user != NULL && ((v.username = strdup(user)) == NULL ||
	    (v.password = strdup(pass)) == NULL)) ||
	    (slot = grow(list, n, sizeof(*slot))) == NULL) {
		free(v.address);
		free(v.username);
		free(v.password);
		return -1;
	}
	*slot = v;
	return 0;
}

int
p2p_config_add_kind(p2p_config *c, const p2p_kind_def *k)
{
	const p2p_kind_info *bi = p2p_kind_by_id(k->id);
	p2p_kind_def *slot;

	if ((slot = grow(&c->kinds, &c->nkinds, sizeof(*slot))) == NULL)
		return -1;
	*slot = *k;
	slot->patterns = NULL;
	slot->npatterns = 0;
	slot->signature = NULL;
	slot->label = NULL;
	if (k->label != NULL && (slot->label = strdup(k->label)) == NULL)
		return -1;
	if (bi != NULL) {
		slot->model = bi->model;
		slot->policy = bi->policy;
	}
	for (size_t i = 0; i < k->npatterns; i++)
		if (p2p_config_add_string(&slot->patterns, &slot->npatterns,
		    k->patterns[i]) != 0)
			return -1;
	if (k->signature != NULL &&
	    (slot->signature = strdup(k->signature)) == NULL)
		return -1;
	return 0;
}

int
p2p_config_add_builtin_kind(p2p_config *c, uint32_t id, uint32_t max_count,
    uint32_t max_size)
{
	const p2p_kind_info *bi = p2p_kind_by_id(id);
	p2p_kind_def k;

	if (bi == NULL)
		return -1;
	memset(&k, 0, sizeof(k));
	k.id = id;
	k.named = 1;
	k.max_count = max_count;
	k.max_size = max_size;
	if (bi->policy == P2P_AC_NODE_MULTIPLE)
		k.max_node_multiple = 20;
	return p2p_config_add_kind(c, &k);
}

int
p2p_config_add_sip_kind(p2p_config *c, uint32_t max_count,
    uint32_t max_size, int enable, char *const *patterns, size_t npatterns)
{
	p2p_kind_def k;

	memset(&k, 0, sizeof(k));
	k.id = P2P_KIND_SIP_REGISTRATION;
	k.named = 1;
	k.max_count = max_count;
	k.max_size = max_size;
	k.domain_restriction = 1;
	k.domain_enable = enable;
	k.patterns = (char **)patterns;
	k.npatterns = npatterns;
	return p2p_config_add_kind(c, &k);
}

/* ---- parsing ---- */

struct pctx {
	p2p_config *c;
	p2p_err *err;
	unsigned seen;		/* singleton elements met, by bit */
	int link_explicit;
};

static int
perr(struct pctx *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->c->error, sizeof(p->c->error), fmt, ap);
	va_end(ap);
	p2p_err_set(p->err, 0, p->c->error, 0);
	return -1;
}

static int
in_ns(const xmlNode *n, const char *ns)
{
	return n->ns != NULL && n->ns->href != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0;
}

static int
is(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && in_ns(n, ns) &&
	    strcmp((const char *)n->name, name) == 0;
}

/*
 * The text of an element: its text and CDATA children (entity references
 * are never expanded), surrounding whitespace removed. malloc'd.
 */
static char *
text_of(const xmlNode *n)
{
	size_t len = 0, b, e;
	char *s;

	for (const xmlNode *c = n->children; c != NULL; c = c->next)
		if ((c->type == XML_TEXT_NODE ||
		    c->type == XML_CDATA_SECTION_NODE) && c->content != NULL)
			len += strlen((const char *)c->content);
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	s[0] = '\0';
	for (const xmlNode *c = n->children; c != NULL; c = c->next)
		if ((c->type == XML_TEXT_NODE ||
		    c->type == XML_CDATA_SECTION_NODE) && c->content != NULL)
			strcat(s, (const char *)c->content);
	for (b = 0; b < len && isspace((unsigned char)s[b]); b++)
		;
	for (e = len; e > b && isspace((unsigned char)s[e - 1]); e--)
		;
	memmove(s, s + b, e - b);
	s[e - b] = '\0';
	return s;
}

static char *
attr_of(const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
	char *s;

	if (v == NULL)
		return NULL;
	s = strdup((const char *)v);
	xmlFree(v);
	return s;
}

static int
get_text(struct pctx *p, const xmlNode *n, char **out)
{
	if ((*out = text_of(n)) == NULL)
		return perr(p, "out of memory");
	return 0;
}

static int
get_uint(struct pctx *p, const xmlNode *n, uint64_t lo, uint64_t hi,
    uint64_t *out)
{
	char *s;
	int rc;

	if (get_text(p, n, &s) != 0)
		return -1;
	rc = parse_u64(s, 0, hi, out);
	free(s);
	if (rc != 0 || *out < lo)
		return perr(p, "<%s> must be an integer in %llu..%llu",
		    (const char *)n->name, (unsigned long long)lo,
		    (unsigned long long)hi);
	return 0;
}

static int
parse_bool(const char *s, int *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
get_bool(struct pctx *p, const xmlNode *n, int *out)
{
	char *s;
	int rc;

	if (get_text(p, n, &s) != 0)
		return -1;
	rc = parse_bool(s, out);
	free(s);
	if (rc != 0)
		return perr(p, "<%s> must be true, false, 1 or 0",
		    (const char *)n->name);
	return 0;
}

static int
get_id(struct pctx *p, const xmlNode *n, p2p_id **list, size_t *cnt)
{
	p2p_id id;
	char *s;
	int ok;

	if (get_text(p, n, &s) != 0)
		return -1;
	ok = p2p_id_from_hex(&id, s);
	free(s);
	if (!ok)
		return perr(p, "<%s> must be a Node-ID of 32 hex digits",
		    (const char *)n->name);
	if (p2p_config_add_id(list, cnt, &id) != 0)
		return perr(p, "out of memory");
	return 0;
}

static int
get_string_item(struct pctx *p, const xmlNode *n, char ***list, size_t *cnt)
{
	char *s;
	int rc;

	if (get_text(p, n, &s) != 0)
		return -1;
	if (s[0] == '\0') {
		free(s);
		return perr(p, "<%s> is empty", (const char *)n->name);
	}
	rc = p2p_config_add_string(list, cnt, s);
	free(s);
	return rc != 0 ? perr(p, "out of memory") : 0;
}

/* RFC 3339 date-time to seconds since the epoch. */
static int
parse_time(const char *s, time_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
	long off = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2d%*[Tt]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
	    &sec, &n) != 6 || n != 19)
		return -1;
	s += n;
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++)
			;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 ||
		    oh > 23 || om > 59)
			return -1;
		off = (oh * 60L + om) * 60L * (*s == '+' ? 1 : -1);
		s += 6;
	} else
		return -1;
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || y < 1970)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t - off;
	return 0;
}

enum {
	S_TOPO = 1u << 0, S_IDLEN = 1u << 1, S_SELF = 1u << 2,
	S_TURN = 1u << 3, S_CLIENTS = 1u << 4, S_NOICE = 1u << 5,
	S_UPD = 1u << 6, S_PING = 1u << 7, S_REACT = 1u << 8,
	S_SECRET = 1u << 9, S_MAXMSG = 1u << 10, S_TTL = 1u << 11,
	S_TIMER = 1u << 12, S_KINDS = 1u << 13, S_CRL = 1u << 14,
	S_TURNCRED = 1u << 15,
	S_CFGURL = 1u << 16,
};

static int
once(struct pctx *p, const xmlNode *n, unsigned bit)
{
	if (p->seen & bit)
		return perr(p, "<%s> appears more than once",
		    (const char *)n->name);
	p->seen |= bit;
	return 0;
}

static int
do_self_signed(struct pctx *p, const xmlNode *n)
{
	char *d = attr_of(n, "digest");
	int rc = 0;

	if (d == NULL)
		return perr(p, "<self-signed-permitted> needs a digest "
		    "attribute");
	if (strcmp(d, "sha1") == 0)
		p->c->self_signed_digest = P2P_DIGEST_SHA1;
	else if (strcmp(d, "sha256") == 0)
		p->c->self_signed_digest = P2P_DIGEST_SHA256;
	else
		rc = perr(p, "self-signed digest \"%.40s\" is not supported "
		    "(sha1, sha256)", d);
	free(d);
	if (rc != 0)
		return -1;
	return get_bool(p, n, &p->c->self_signed_permitted);
}

static int
do_bootstrap(struct pctx *p, const xmlNode *n)
{
	char *addr = attr_of(n, "address"), *port = attr_of(n, "port");
	unsigned char tmp[16];
	uint64_t v = P2P_DEFAULT_PORT;
	int rc = 0;

	if (addr == NULL || (inet_pton(AF_INET, addr, tmp) != 1 &&
	    inet_pton(AF_INET6, addr, tmp) != 1))
		rc = perr(p, "<bootstrap-node> needs an IPv4 or IPv6 "
		    "address attribute");
	else if (port != NULL && (parse_u64(port, 0, 65535, &v) != 0 ||
	    v == 0))
		rc = perr(p, "<bootstrap-node> port must be 1..65535");
	else if (p2p_config_add_bootstrap(p->c, addr, (uint16_t)v) != 0)
		rc = perr(p, "out of memory");
	free(addr);
	free(port);
	return rc;
}

/* A TURN username or password: 1..127 printable ASCII characters. */
static int
credential_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 127)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

static int
do_ice_server(struct pctx *p, const xmlNode *n, int turn)
{
	const char *what = turn ? "<turn-server>" : "<stun-server>";
	char *addr = attr_of(n, "address"), *port = attr_of(n, "port");
	char *user = turn ? attr_of(n, "username") : NULL;
	char *pass = turn ? attr_of(n, "password") : NULL;
	unsigned char tmp[16];
	uint64_t v = P2P_STUN_PORT;
	int rc = 0;

	if (addr == NULL || (inet_pton(AF_INET, addr, tmp) != 1 &&
	    inet_pton(AF_INET6, addr, tmp) != 1))
		rc = perr(p, "%s needs an IPv4 or IPv6 address attribute",
		    what);
	else if (port != NULL && (parse_u64(port, 0, 65535, &v) != 0 ||
	    v == 0))
		rc = perr(p, "%s port must be 1..65535", what);
	else if ((user != NULL || pass != NULL) && (!credential_ok(user) ||
	    !credential_ok(pass)))
		rc = perr(p, "%s needs both username and password, 1..127 "
		    "printable characters each", what);
	else if ((turn ? p->c->nturn_servers : p->c->nstun_servers) >=
	    P2P_CONFIG_MAX_ICE_SERVERS)
		rc = perr(p, "more than %d %s elements",
		    P2P_CONFIG_MAX_ICE_SERVERS, what);
	else if (p2p_config_add_ice_server(p->c, turn, addr, (uint16_t)v,
	    user, pass) != 0)
		rc = perr(p, "out of memory");
	free(addr);
	free(port);
	free(user);
	free(pass);
	return rc;
}

static int
do_turn_credentials(struct pctx *p, const xmlNode *n)
{
	char *user, *pass;

	if (once(p, n, S_TURNCRED) != 0)
		return -1;
	user = attr_of(n, "username");
	pass = attr_of(n, "password");
	if (!credential_ok(user) || !credential_ok(pass)) {
		free(user);
		free(pass);
		return perr(p, "<turn-credentials> needs username and "
		    "password, 1..127 printable characters each");
	}
	p->c->turn_username = user;
	p->c->turn_password = pass;
	return 0;
}

static int
do_root_cert(struct pctx *p, const xmlNode *n)
{
	uint8_t *der;
	size_t len;
	X509 *x;
	char *s;
	int rc;

	if (get_text(p, n, &s) != 0)
		return -1;
	rc = p2p_base64_decode(s, strlen(s), &der, &len);
	free(s);
	if (rc != 0)
		return perr(p, "<root-cert> is not valid base64");
	if ((x = p2p_cert_from_der(der, len, NULL)) == NULL) {
		free(der);
		return perr(p, "<root-cert> is not a DER X.509 certificate");
	}
	X509_free(x);
	rc = p2p_config_add_root_cert(p->c, der, len);
	free(der);
	return rc != 0 ? perr(p, "out of memory") : 0;
}

static int
do_enrollment(struct pctx *p, const xmlNode *n)
{
	size_t before = p->c->nenrollment_servers;

	if (get_string_item(p, n, &p->c->enrollment_servers,
	    &p->c->nenrollment_servers) != 0)
		return -1;
	if (strncmp(p->c->enrollment_servers[before], "https://", 8) != 0)
		return perr(p, "<enrollment-server> must be an https URL");
	return 0;
}

static int
ext_supported(const char *ns)
{
	return strcmp(ns, P2P_NS_SIP) == 0 || strcmp(ns, P2P_NS_DIAG) == 0 ||
	    strcmp(ns, P2P_NS_CHORD) == 0 || strcmp(ns, P2P_NS_P2PSIP) == 0;
}

static int
do_mandatory(struct pctx *p, const xmlNode *n)
{
	size_t i = p->c->nmandatory_extensions;

	if (get_string_item(p, n, &p->c->mandatory_extensions,
	    &p->c->nmandatory_extensions) != 0)
		return -1;
	if (!ext_supported(p->c->mandatory_extensions[i]))
		return perr(p, "mandatory-extension %.120s is not supported "
		    "by this implementation", p->c->mandatory_extensions[i]);
	return 0;
}

static int
do_link(struct pctx *p, const xmlNode *n)
{
	if (!p->link_explicit) {
		free_strings(p->c->link_protocols, p->c->nlink_protocols);
		p->c->link_protocols = NULL;
		p->c->nlink_protocols = 0;
		p->link_explicit = 1;
	}
	return get_string_item(p, n, &p->c->link_protocols,
	    &p->c->nlink_protocols);
}

/* <kind-signers>/<configuration-signers> hold <signer>; <bad-nodes>
 * holds <bad-node>. */
static int
do_id_list(struct pctx *p, const xmlNode *n, const char *child,
    p2p_id **list, size_t *cnt)
{
	for (const xmlNode *c = n->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!is(c, P2P_NS_CONFIG, child))
			return perr(p, "<%s> may only hold <%s>",
			    (const char *)n->name, child);
		if (get_id(p, c, list, cnt) != 0)
			return -1;
	}
	return 0;
}

/*
 * Limits on a domain-restriction pattern, checked before regcomp sees it.
 * glibc's regcomp recurses once per level of parentheses (tens of
 * thousands of levels overflow the stack), builds one copy of a
 * subexpression for each repetition a bound {m,n} allows and two for '+'
 * (so ((a{1,255}){1,255}){1,255} takes gigabytes), and takes time cubic
 * in the copies of a repetition of something that can match the empty
 * string ((a*)*{1,300}(b*)*{1,300} takes minutes). So: a bounded length
 * and depth, a bounded count of the nodes regcomp would build, copies
 * included, no repetition of a subexpression that can match nothing,
 * and no back-references (not in POSIX EREs, and exponential to match).
 */
#define PATTERN_MAX_LEN		1024
#define PATTERN_MAX_DEPTH	32
#define PATTERN_MAX_COST	1000

/* Skip a bracket expression starting at s[i] == '['; index past it. */
static size_t
skip_bracket(const char *s, size_t i)
{
	i++;
	if (s[i] == '^')
		i++;
	if (s[i] == ']')
		i++;
	while (s[i] != '\0' && s[i] != ']') {
		if (s[i] == '[' && (s[i + 1] == ':' || s[i + 1] == '.' ||
		    s[i + 1] == '=')) {
			char end = s[i + 1];

			for (i += 2; s[i] != '\0' && !(s[i] == end &&
			    s[i + 1] == ']'); i++)
				;
			if (s[i] == '\0')
				return i;
			i++;
		}
		i++;
	}
	return s[i] == ']' ? i + 1 : i;
}

/* A count in a bound, saturating past PATTERN_MAX_COST; -1 if none. */
static long
bound_count(const char *s, size_t *i)
{
	long v = 0;
	size_t start = *i;

	for (; s[*i] >= '0' && s[*i] <= '9'; (*i)++)
		if ((v = v * 10 + (s[*i] - '0')) > PATTERN_MAX_COST)
			v = PATTERN_MAX_COST + 1;
	return *i > start ? v : -1;
}

/* Parse "{m}", "{m,}" or "{m,n}" at s[i] into *min and *max (m + 1 for
 * "{m,}": the copies regcomp makes); 0 if it is not a bound. *next is
 * past it. */
static int
parse_bound(const char *s, size_t i, long *min, long *max, size_t *next)
{
	i++;
	if ((*min = bound_count(s, &i)) < 0)
		return 0;
	*max = *min;
	if (s[i] == ',') {
		i++;
		if ((*max = bound_count(s, &i)) < 0)
			*max = *min + 1;
	}
	if (s[i] != '}')
		return 0;
	if (*max < *min)
		*max = *min;
	*next = i + 1;
	return 1;
}

struct pat_level {
	size_t cost;		/* nodes at this level so far */
	int seq_empty;		/* the current branch can match "" */
	int alt_empty;		/* an earlier branch can */
};

/* The state of the scan: the atom a repetition would apply to. */
struct pat_atom {
	int have;		/* there is one */
	size_t cost;		/* its nodes */
	int empty;		/* it can match "" */
	int before;		/* seq_empty before it */
};

/* A repetition of the atom a by op (min, max copies; max -1: '*'). */
static const char *
pat_repeat(struct pat_level *l, struct pat_atom *a, long min, long max)
{
	size_t add = 1;

	if (a->empty)
		return "repeats a subexpression that can match nothing";
	if (max > PATTERN_MAX_COST)
		return "repeats too much";
	if (max > 1) {
		add = a->cost * (size_t)max;
		a->cost *= (size_t)max;
	}
	if (min == 0) {		/* the item can now be skipped */
		a->empty = 1;
		l->seq_empty = a->before;
	}
	l->cost += add;
	return NULL;
}

/* An atom of cost c (empty: it can match ""). */
static void
pat_atom(struct pat_level *l, struct pat_atom *a, size_t c, int empty)
{
	a->have = 1;
	a->cost = c;
	a->empty = empty;
	a->before = l->seq_empty;
	l->seq_empty &= empty;
	l->cost += c;
}

/* NULL if regcomp may be given s, else why not. */
static const char *
pattern_check(const char *s)
{
	struct pat_level lv[PATTERN_MAX_DEPTH + 1], *l = lv;
	struct pat_atom a = { 0, 0, 0, 1 };
	const char *why = NULL;
	size_t i = 0, next;
	long min, max;
	char ch;

	if (strlen(s) > PATTERN_MAX_LEN)
		return "is too long";
	memset(lv, 0, sizeof(lv));
	lv[0].seq_empty = 1;
	while ((ch = s[i]) != '\0') {
		if (ch == '(') {
			if (l == lv + PATTERN_MAX_DEPTH)
				return "nests parentheses too deep";
			l++;
			memset(l, 0, sizeof(*l));
			l->seq_empty = 1;
			a.have = 0;
			i++;
		} else if (ch == ')' && l > lv) {
			int empty = l->seq_empty || l->alt_empty;
			size_t c = l->cost + 1;

			l--;
			pat_atom(l, &a, c, empty);
			i++;
		} else if (ch == '|') {
			l->alt_empty |= l->seq_empty;
			l->seq_empty = 1;
			l->cost++;
			a.have = 0;
			i++;
		} else if (a.have && (ch == '*' || ch == '?' || ch == '+')) {
			why = pat_repeat(l, &a, ch == '+', ch == '+' ? 2 : 1);
			i++;
		} else if (a.have && ch == '{' &&
		    parse_bound(s, i, &min, &max, &next)) {
			why = pat_repeat(l, &a, min, max);
			i = next;
		} else if (ch == '[') {
			pat_atom(l, &a, 1, 0);
			i = skip_bracket(s, i);
		} else if (ch == '\\' && s[i + 1] != '\0') {
			if (s[i + 1] >= '1' && s[i + 1] <= '9')
				return "uses a back-reference";
			/* \b \B \< \> \` \' match between characters */
			pat_atom(l, &a, 1, strchr("bB<>`'", s[i + 1]) != NULL);
			i += 2;
		} else {
			pat_atom(l, &a, 1, ch == '^' || ch == '$');
			i++;
		}
		if (why != NULL)
			return why;
		if (a.cost > PATTERN_MAX_COST || l->cost > PATTERN_MAX_COST)
			return "repeats too much";
	}
	return NULL;
}

const char *
p2p_config_pattern_check(const char *s)
{
	const char *why = pattern_check(s);
	regex_t re;

	if (why != NULL)
		return why;
	if (regcomp(&re, s, REG_EXTENDED | REG_NOSUB) != 0)
		return "is not a valid regular expression";
	regfree(&re);
	return NULL;
}

static int
do_domain_restriction(struct pctx *p, const xmlNode *n, p2p_kind_def *k)
{
	const char *why;
	char *en = attr_of(n, "enable");
	regex_t re;
	int rc = 0;

	if (k->domain_restriction)
		return perr(p, "<domain-restriction> appears more than once");
	k->domain_restriction = 1;
	if (en != NULL && parse_bool(en, &k->domain_enable) != 0)
		rc = perr(p, "domain-restriction enable must be true or false");
	free(en);
	for (const xmlNode *c = n->children; rc == 0 && c != NULL;
	    c = c->next) {
		if (!is(c, P2P_NS_SIP, "pattern"))
			continue;
		if (get_string_item(p, c, &k->patterns, &k->npatterns) != 0)
			return -1;
		if ((why = pattern_check(k->patterns[k->npatterns - 1])) !=
		    NULL)
			return perr(p, "domain-restriction pattern %.80s %s",
			    k->patterns[k->npatterns - 1], why);
		if (regcomp(&re, k->patterns[k->npatterns - 1],
		    REG_EXTENDED | REG_NOSUB) != 0)
			return perr(p, "domain-restriction pattern %.80s is "
			    "not a valid regular expression",
			    k->patterns[k->npatterns - 1]);
		regfree(&re);
	}
	return rc;
}

static int
kind_enum(struct pctx *p, const xmlNode *n, const char *const *names,
    int hi, int *out)
{
	char *s;

	if (get_text(p, n, &s) != 0)
		return -1;
	*out = name_index(names, 1, hi, s);
	if (*out == 0) {
		perr(p, "<%s> value \"%.40s\" is not supported",
		    (const char *)n->name, s);
		free(s);
		return -1;
	}
	free(s);
	return 0;
}

static int
kind_param(struct pctx *p, const xmlNode *c, p2p_kind_def *k, unsigned *got)
{
	uint64_t v;
	int e;

	if (is(c, P2P_NS_SIP, "domain-restriction"))
		return do_domain_restriction(p, c, k);
	if (!in_ns(c, P2P_NS_CONFIG))
		return 0;		/* foreign parameter */
	if (strcmp((const char *)c->name, "data-model") == 0) {
		if (kind_enum(p, c, dm_names, P2P_MODEL_DICTIONARY, &e) != 0)
			return -1;
		k->model = (enum p2p_data_model)e;
		*got |= 1;
	} else if (strcmp((const char *)c->name, "access-control") == 0) {
		if (kind_enum(p, c, ac_names, P2P_AC_NODE_MULTIPLE, &e) != 0)
			return -1;
		k->policy = (enum p2p_access)e;
		*got |= 2;
	} else if (strcmp((const char *)c->name, "max-count") == 0) {
		if (get_uint(p, c, 1, UINT32_MAX, &v) != 0)
			return -1;
		k->max_count = (uint32_t)v;
		*got |= 4;
	} else if (strcmp((const char *)c->name, "max-size") == 0) {
		if (get_uint(p, c, 1, UINT32_MAX, &v) != 0)
			return -1;
		k->max_size = (uint32_t)v;
		*got |= 8;
	} else if (strcmp((const char *)c->name, "max-node-multiple") == 0) {
		if (get_uint(p, c, 1, UINT32_MAX, &v) != 0)
			return -1;
		k->max_node_multiple = (uint32_t)v;
		*got |= 16;
	} else
		return perr(p, "unknown kind parameter <%.60s>",
		    (const char *)c->name);
	return 0;
}

static int
kind_ident(struct pctx *p, const xmlNode *n, p2p_kind_def *k)
{
	char *name = attr_of(n, "name"), *id = attr_of(n, "id");
	const p2p_kind_info *bi = NULL;
	uint64_t v = 0;
	int rc = 0;

	if ((name == NULL) == (id == NULL))
		rc = perr(p, "<kind> needs exactly one of name= and id=");
	else if (name != NULL && (bi = p2p_kind_by_name(name)) == NULL)
		rc = perr(p, "unknown kind name \"%.60s\"", name);
	else if (id != NULL && (parse_u64(id, 0, UINT32_MAX, &v) != 0 ||
	    v == 0 || v == 0x7fffffff || v == 0xfffffffe))
		rc = perr(p, "kind id must be a valid unsigned 32-bit Kind-ID");
	free(name);
	free(id);
	if (rc != 0)
		return -1;
	k->named = bi != NULL;
	k->id = bi != NULL ? bi->id : (uint32_t)v;
	if (bi == NULL) {
		xmlChar *l = xmlGetNsProp(n, (const xmlChar *)"name",
		    (const xmlChar *)P2P_NS_P2PSIP);
		if (l != NULL) {
			size_t len = strlen((const char *)l);
			int ok = len > 0 && len <= 64;
			for (size_t i = 0; ok && i < len; i++)
				ok = (l[i] >= 'a' && l[i] <= 'z') ||
				    (l[i] >= '0' && l[i] <= '9') || l[i] == '-';
			if (ok)
				k->label = strdup((const char *)l);
			xmlFree(l);
			if (!ok)
				return perr(p, "p2psip:name of kind %u: 1 to 64 "
				    "of a-z 0-9 -", (unsigned)k->id);
			if (k->label == NULL)
				return perr(p, "out of memory");
		}
	}
	return 0;
}

const p2p_kind_def *
p2p_config_kind(const p2p_config *c, const char *s)
{
	const p2p_kind_info *bi = p2p_kind_find(s);
	uint64_t v;

	for (size_t i = 0; i < c->nkinds; i++) {
		const p2p_kind_def *k = &c->kinds[i];
		if ((bi != NULL && k->id == bi->id) ||
		    (k->label != NULL && strcmp(k->label, s) == 0))
			return k;
	}
	if (parse_u64(s, 1, UINT32_MAX, &v) == 0)
		for (size_t i = 0; i < c->nkinds; i++)
			if (c->kinds[i].id == v)
				return &c->kinds[i];
	return NULL;
}

static int
kind_finish(struct pctx *p, p2p_kind_def *k, unsigned got)
{
	const p2p_kind_info *bi = p2p_kind_by_id(k->id);

	if ((got & 12) != 12)
		return perr(p, "kind %u needs <max-count> and <max-size>",
		    (unsigned)k->id);
	if (bi != NULL) {
		/* The registered model and policy win. */
		k->model = bi->model;
		k->policy = bi->policy;
	} else if ((got & 3) != 3)
		return perr(p, "kind %u needs <data-model> and "
		    "<access-control>", (unsigned)k->id);
	if (k->policy == P2P_AC_NODE_MULTIPLE && !(got & 16)) {
		if (bi == NULL)
			return perr(p, "NODE-MULTIPLE kind %u needs "
			    "<max-node-multiple>", (unsigned)k->id);
		k->max_node_multiple = 20;
	}
	if (k->policy != P2P_AC_NODE_MULTIPLE && (got & 16))
		return perr(p, "<max-node-multiple> only goes with "
		    "NODE-MULTIPLE");
	for (size_t i = 0; i + 1 < p->c->nkinds; i++)
		if (p->c->kinds[i].id == k->id)
			return perr(p, "kind %u is listed twice",
			    (unsigned)k->id);
	return 0;
}

static int
do_kind_block(struct pctx *p, const xmlNode *n)
{
	const xmlNode *kind = NULL, *sig = NULL;
	p2p_kind_def *k;
	unsigned got = 0;

	for (const xmlNode *c = n->children; c != NULL; c = c->next) {
		if (is(c, P2P_NS_CONFIG, "kind") && kind == NULL)
			kind = c;
		else if (is(c, P2P_NS_CONFIG, "kind-signature") && sig == NULL)
			sig = c;
		else if (c->type == XML_ELEMENT_NODE &&
		    in_ns(c, P2P_NS_CONFIG))
			return perr(p, "unexpected <%.60s> in <kind-block>",
			    (const char *)c->name);
	}
	if (kind == NULL)
		return perr(p, "<kind-block> without <kind>");
	if ((k = grow(&p->c->kinds, &p->c->nkinds, sizeof(*k))) == NULL)
		return perr(p, "out of memory");
	if (kind_ident(p, kind, k) != 0)
		return -1;
	for (const xmlNode *c = kind->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    kind_param(p, c, k, &got) != 0)
			return -1;
	if (sig != NULL && get_text(p, sig, &k->signature) != 0)
		return -1;
	return kind_finish(p, k, got);
}

static int
do_required_kinds(struct pctx *p, const xmlNode *n)
{
	for (const xmlNode *c = n->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!is(c, P2P_NS_CONFIG, "kind-block"))
			return perr(p, "<required-kinds> may only hold "
			    "<kind-block>");
		if (do_kind_block(p, c) != 0)
			return -1;
	}
	return 0;
}

static int
do_diag(struct pctx *p, const xmlNode *n)
{
	char *ks = attr_of(n, "kind");
	p2p_diag_access *d;
	uint64_t v;
	int bad;

	bad = ks == NULL || parse_u64(ks, 1, 0xffff, &v) != 0;
	free(ks);
	if (bad)
		return perr(p, "<diagnostic-kind> needs kind= (0x0000..0xffff)");
	if ((d = grow(&p->c->diag, &p->c->ndiag, sizeof(*d))) == NULL)
		return perr(p, "out of memory");
	d->kind = (uint16_t)v;
	for (const xmlNode *c = n->children; c != NULL; c = c->next)
		if (is(c, P2P_NS_DIAG, "access-node") &&
		    get_id(p, c, &d->nodes, &d->nnodes) != 0)
			return -1;
	return 0;
}

static int
do_chord(struct pctx *p, const xmlNode *n)
{
	const char *name = (const char *)n->name;
	uint64_t v;

	if (strcmp(name, "chord-update-interval") == 0) {
		if (once(p, n, S_UPD) || get_uint(p, n, 1, UINT32_MAX, &v))
			return -1;
		p->c->chord_update_interval = (uint32_t)v;
	} else if (strcmp(name, "chord-ping-interval") == 0) {
		if (once(p, n, S_PING) || get_uint(p, n, 1, UINT32_MAX, &v))
			return -1;
		p->c->chord_ping_interval = (uint32_t)v;
	} else if (strcmp(name, "chord-reactive") == 0) {
		if (once(p, n, S_REACT) || get_bool(p, n, &p->c->chord_reactive))
			return -1;
	} else
		return perr(p, "unknown element <chord:%.60s>", name);
	return 0;
}

static int
do_number(struct pctx *p, const xmlNode *n, const char *name)
{
	uint64_t v;

	if (strcmp(name, "node-id-length") == 0) {
		if (once(p, n, S_IDLEN) || get_uint(p, n, 0, 255, &v))
			return -1;
		if (v != P2P_ID_LEN)
			return perr(p, "node-id-length %u is not supported: "
			    "this implementation is CHORD-RELOAD with 128-bit "
			    "(16-byte) Node-IDs", (unsigned)v);
		p->c->node_id_length = (unsigned)v;
	} else if (strcmp(name, "turn-density") == 0) {
		if (once(p, n, S_TURN) || get_uint(p, n, 0, 255, &v))
			return -1;
		p->c->turn_density = (unsigned)v;
	} else if (strcmp(name, "max-message-size") == 0) {
		if (once(p, n, S_MAXMSG) ||
		    get_uint(p, n, 256, UINT32_MAX, &v))
			return -1;
		p->c->max_message_size = (uint32_t)v;
	} else if (strcmp(name, "initial-ttl") == 0) {
		if (once(p, n, S_TTL) || get_uint(p, n, 1, 255, &v))
			return -1;
		p->c->initial_ttl = (unsigned)v;
	} else if (strcmp(name, "overlay-reliability-timer") == 0) {
		if (once(p, n, S_TIMER) || get_uint(p, n, 200, 3600000, &v))
			return -1;
		p->c->overlay_reliability_timer = (uint32_t)v;
	} else
		return 1;
	return 0;
}

static int
do_flag(struct pctx *p, const xmlNode *n, const char *name)
{
	if (strcmp(name, "clients-permitted") == 0)
		return once(p, n, S_CLIENTS) ||
		    get_bool(p, n, &p->c->clients_permitted) ? -1 : 0;
	if (strcmp(name, "no-ice") == 0)
		return once(p, n, S_NOICE) ||
		    get_bool(p, n, &p->c->no_ice) ? -1 : 0;
	if (strcmp(name, "self-signed-permitted") == 0)
		return once(p, n, S_SELF) || do_self_signed(p, n) ? -1 : 0;
	return 1;
}

static int
do_topology(struct pctx *p, const xmlNode *n)
{
	if (once(p, n, S_TOPO) != 0)
		return -1;
	free(p->c->topology_plugin);
	if (get_text(p, n, &p->c->topology_plugin) != 0)
		return -1;
	if (strcmp(p->c->topology_plugin, "CHORD-RELOAD") != 0)
		return perr(p, "topology-plugin %.60s is not supported "
		    "(only CHORD-RELOAD)", p->c->topology_plugin);
	return 0;
}

static int
do_lists(struct pctx *p, const xmlNode *n, const char *name)
{
	p2p_config *c = p->c;

	if (strcmp(name, "root-cert") == 0)
		return do_root_cert(p, n);
	if (strcmp(name, "enrollment-server") == 0)
		return do_enrollment(p, n);
	if (strcmp(name, "bootstrap-node") == 0)
		return do_bootstrap(p, n);
	if (strcmp(name, "overlay-link-protocol") == 0)
		return do_link(p, n);
	if (strcmp(name, "mandatory-extension") == 0)
		return do_mandatory(p, n);
	if (strcmp(name, "configuration-signer") == 0)
		return get_id(p, n, &c->config_signers, &c->nconfig_signers);
	if (strcmp(name, "kind-signer") == 0)
		return get_id(p, n, &c->kind_signers, &c->nkind_signers);
	if (strcmp(name, "bad-node") == 0)
		return get_id(p, n, &c->bad_nodes, &c->nbad_nodes);
	if (strcmp(name, "configuration-signers") == 0)
		return do_id_list(p, n, "signer", &c->config_signers,
		    &c->nconfig_signers);
	if (strcmp(name, "kind-signers") == 0)
		return do_id_list(p, n, "signer", &c->kind_signers,
		    &c->nkind_signers);
	if (strcmp(name, "bad-nodes") == 0)
		return do_id_list(p, n, "bad-node", &c->bad_nodes,
		    &c->nbad_nodes);
	return 1;
}

static int
do_base(struct pctx *p, const xmlNode *n)
{
	const char *name = (const char *)n->name;
	int rc;

	if ((rc = do_number(p, n, name)) <= 0 ||
	    (rc = do_flag(p, n, name)) <= 0 ||
	    (rc = do_lists(p, n, name)) <= 0)
		return rc;
	if (strcmp(name, "topology-plugin") == 0)
		return do_topology(p, n);
	if (strcmp(name, "shared-secret") == 0)
		return once(p, n, S_SECRET) ||
		    get_text(p, n, &p->c->shared_secret) ? -1 : 0;
	if (strcmp(name, "required-kinds") == 0)
		return once(p, n, S_KINDS) || do_required_kinds(p, n) ? -1 : 0;
	return perr(p, "unknown element <%.60s> in the configuration",
	    name);
}

static int
do_param(struct pctx *p, const xmlNode *n)
{
	if (in_ns(n, P2P_NS_CONFIG))
		return do_base(p, n);
	if (in_ns(n, P2P_NS_CHORD))
		return do_chord(p, n);
	if (is(n, P2P_NS_DIAG, "diagnostic-kind"))
		return do_diag(p, n);
	if (is(n, P2P_NS_P2PSIP, "crl-url")) {
		if (once(p, n, S_CRL) || get_text(p, n, &p->c->crl_url))
			return -1;
		if (strncmp(p->c->crl_url, "https://", 8) != 0 &&
		    strncmp(p->c->crl_url, "http://", 7) != 0)
			return perr(p, "<crl-url> must be an http(s) URL");
		return 0;
	}
	if (is(n, P2P_NS_P2PSIP, "stun-server"))
		return do_ice_server(p, n, 0);
	if (is(n, P2P_NS_P2PSIP, "turn-server"))
		return do_ice_server(p, n, 1);
	if (is(n, P2P_NS_P2PSIP, "turn-credentials"))
		return do_turn_credentials(p, n);
	if (is(n, P2P_NS_P2PSIP, "config-url")) {
		if (once(p, n, S_CFGURL) || get_text(p, n,
		    &p->c->config_url))
			return -1;
		if (strncmp(p->c->config_url, "https://", 8) != 0)
			return perr(p, "<config-url> must be an https URL");
		return 0;
	}
	if (n->ns == NULL)
		return perr(p, "element <%.60s> has no namespace",
		    (const char *)n->name);
	return 0;			/* foreign: ignored */
}

static int
do_config_attrs(struct pctx *p, const xmlNode *n)
{
	char *seq = attr_of(n, "sequence"), *exp = attr_of(n, "expiration");
	uint64_t v = 0;
	int rc = 0;

	p->c->instance_name = attr_of(n, "instance-name");
	if (p->c->instance_name == NULL || p->c->instance_name[0] == '\0')
		rc = perr(p, "<configuration> needs an instance-name");
	else if (seq == NULL || parse_u64(seq, 0, 65535, &v) != 0)
		rc = perr(p, "<configuration> needs a sequence in 0..65535");
	else if (exp != NULL && parse_time(exp, &p->c->expiration) != 0)
		rc = perr(p, "expiration must be an RFC 3339 date-time");
	p->c->sequence = (uint32_t)v;
	free(seq);
	free(exp);
	return rc;
}

static const xmlNode *
pick_config(const xmlNode *root, const char *instance)
{
	for (const xmlNode *c = root->children; c != NULL; c = c->next) {
		xmlChar *name;
		int match;
		if (!is(c, P2P_NS_CONFIG, "configuration"))
			continue;
		if (instance == NULL)
			return c;
		name = xmlGetNoNsProp(c, (const xmlChar *)"instance-name");
		match = name != NULL && strcmp((char *)name, instance) == 0;
		xmlFree(name);
		if (match)
			return c;
	}
	return NULL;
}

static int
parse_tree(struct pctx *p, xmlDoc *doc, const char *instance)
{
	const xmlNode *root = xmlDocGetRootElement(doc), *cfg;

	if (doc->intSubset != NULL || doc->extSubset != NULL)
		return perr(p, "document type declarations are not accepted");
	if (root == NULL || !is(root, P2P_NS_CONFIG, "overlay"))
		return perr(p, "root element must be <overlay> in namespace "
		    P2P_NS_CONFIG);
	if ((cfg = pick_config(root, instance)) == NULL)
		return perr(p, instance != NULL ? "no <configuration> for "
		    "that instance-name" : "no <configuration> element");
	if (do_config_attrs(p, cfg) != 0)
		return -1;
	for (const xmlNode *c = cfg->children; c != NULL; c = c->next) {
		if (c->type == XML_ENTITY_REF_NODE)
			return perr(p, "entity references are not accepted");
		if (c->type == XML_ELEMENT_NODE && do_param(p, c) != 0)
			return -1;
	}
	return 0;
}

int
p2p_config_parse(const char *text, size_t len, const char *instance,
    p2p_config *c, p2p_err *err)
{
	struct pctx p = { c, err, 0, 0 };
	xmlDoc *doc;
	int rc;

	if (p2p_config_init(c) != 0) {
		p2p_err_set(err, 0, "out of memory", 0);
		return -1;
	}
	if (len > P2P_CONFIG_MAX_SIZE)
		return perr(&p, "configuration document larger than %d bytes",
		    P2P_CONFIG_MAX_SIZE);
	xmlInitParser();
	doc = xmlReadMemory(text, (int)len, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return perr(&p, "configuration document is not well-formed "
		    "XML");
	rc = parse_tree(&p, doc, instance);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- writing ---- */

static void
put(p2p_wbuf *w, const char *s)
{
	p2p_w_raw(w, s, strlen(s));
}

static void
putf(p2p_wbuf *w, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		w->err = P2P_WBUF_RANGE;
		return;
	}
	p2p_w_raw(w, buf, (size_t)n);
}

static void
put_esc(p2p_wbuf *w, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': put(w, "&amp;"); break;
		case '<': put(w, "&lt;"); break;
		case '>': put(w, "&gt;"); break;
		case '"': put(w, "&quot;"); break;
		case '\'': put(w, "&apos;"); break;
		default: p2p_w_u8(w, (uint8_t)*s); break;
		}
	}
}

/* <name>escaped text</name> on its own line at the given indent. */
static void
put_elem(p2p_wbuf *w, int indent, const char *name, const char *text)
{
	putf(w, "%*s<%s>", indent, "", name);
	put_esc(w, text);
	putf(w, "</%s>\n", name);
}

static void
put_id(p2p_wbuf *w, int indent, const char *name, const p2p_id *id)
{
	char hex[P2P_ID_HEXLEN + 1];

	put_elem(w, indent, name, p2p_id_hex(id, hex));
}

static void
put_uint(p2p_wbuf *w, const char *name, unsigned long v)
{
	putf(w, "    <%s>%lu</%s>\n", name, v, name);
}

static void
put_bool(p2p_wbuf *w, const char *name, int v)
{
	putf(w, "    <%s>%s</%s>\n", name, v ? "true" : "false", name);
}

static int
write_root_certs(const p2p_config *c, p2p_wbuf *w)
{
	for (size_t i = 0; i < c->nroot_certs; i++) {
		char *b = p2p_base64_encode(c->root_certs[i].p,
		    c->root_certs[i].len);
		if (b == NULL)
			return -1;
		put_elem(w, 4, "root-cert", b);
		free(b);
	}
	return 0;
}

static void
write_kind(const p2p_kind_def *k, p2p_wbuf *w)
{
	const p2p_kind_info *bi = p2p_kind_by_id(k->id);

	put(w, "      <kind-block>\n");
	if (k->named && bi != NULL)
		putf(w, "        <kind name=\"%s\">\n", bi->name);
	else if (k->label != NULL)
		putf(w, "        <kind id=\"%lu\" p2psip:name=\"%s\">\n",
		    (unsigned long)k->id, k->label);
	else
		putf(w, "        <kind id=\"%lu\">\n", (unsigned long)k->id);
	put_elem(w, 10, "data-model", p2p_data_model_name(k->model) ?
	    p2p_data_model_name(k->model) : "SINGLE");
	put_elem(w, 10, "access-control", p2p_access_name(k->policy) ?
	    p2p_access_name(k->policy) : "USER-MATCH");
	putf(w, "          <max-count>%lu</max-count>\n",
	    (unsigned long)k->max_count);
	putf(w, "          <max-size>%lu</max-size>\n",
	    (unsigned long)k->max_size);
	if (k->policy == P2P_AC_NODE_MULTIPLE)
		putf(w, "          <max-node-multiple>%lu</max-node-multiple>\n",
		    (unsigned long)k->max_node_multiple);
	if (k->domain_restriction) {
		putf(w, "          <sip:domain-restriction enable=\"%s\">\n",
		    k->domain_enable ? "true" : "false");
		for (size_t i = 0; i < k->npatterns; i++)
			put_elem(w, 12, "sip:pattern", k->patterns[i]);
		put(w, "          </sip:domain-restriction>\n");
	}
	put(w, "        </kind>\n");
	if (k->signature != NULL)
		put_elem(w, 8, "kind-signature", k->signature);
	put(w, "      </kind-block>\n");
}

static void
write_diag(const p2p_config *c, p2p_wbuf *w)
{
	for (size_t i = 0; i < c->ndiag; i++) {
		putf(w, "    <diag:diagnostic-kind kind=\"0x%04x\">\n",
		    (unsigned)c->diag[i].kind);
		for (size_t j = 0; j < c->diag[i].nnodes; j++)
			put_id(w, 6, "diag:access-node", &c->diag[i].nodes[j]);
		put(w, "    </diag:diagnostic-kind>\n");
	}
}

static void
write_head(const p2p_config *c, p2p_wbuf *w)
{
	char when[32];
	struct tm tm;

	put(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	put(w, "<overlay xmlns=\"" P2P_NS_CONFIG "\"\n"
	    "    xmlns:chord=\"" P2P_NS_CHORD "\"\n"
	    "    xmlns:sip=\"" P2P_NS_SIP "\"\n"
	    "    xmlns:diag=\"" P2P_NS_DIAG "\"\n"
	    "    xmlns:p2psip=\"" P2P_NS_P2PSIP "\">\n");
	put(w, "  <configuration instance-name=\"");
	put_esc(w, c->instance_name);
	putf(w, "\" sequence=\"%lu\"", (unsigned long)c->sequence);
	if (c->expiration != 0 && gmtime_r(&c->expiration, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		putf(w, " expiration=\"%s\"", when);
	put(w, ">\n");
}

static void
write_ice_server(p2p_wbuf *w, const char *elem, const p2p_ice_server_cfg *v)
{
	putf(w, "    <p2psip:%s address=\"", elem);
	put_esc(w, v->address);
	putf(w, "\" port=\"%u\"", (unsigned)v->port);
	if (v->username != NULL) {
		put(w, " username=\"");
		put_esc(w, v->username);
		put(w, "\" password=\"");
		put_esc(w, v->password);
		put(w, "\"");
	}
	put(w, "/>\n");
}

static void
write_ice_servers(const p2p_config *c, p2p_wbuf *w)
{
	for (size_t i = 0; i < c->nstun_servers; i++)
		write_ice_server(w, "stun-server", &c->stun_servers[i]);
	for (size_t i = 0; i < c->nturn_servers; i++)
		write_ice_server(w, "turn-server", &c->turn_servers[i]);
	if (c->turn_username != NULL) {
		put(w, "    <p2psip:turn-credentials username=\"");
		put_esc(w, c->turn_username);
		put(w, "\" password=\"");
		put_esc(w, c->turn_password);
		put(w, "\"/>\n");
	}
}

static void
write_body(const p2p_config *c, p2p_wbuf *w)
{
	put_elem(w, 4, "topology-plugin", c->topology_plugin != NULL ?
	    c->topology_plugin : "CHORD-RELOAD");
	put_uint(w, "node-id-length", P2P_ID_LEN);
	for (size_t i = 0; i < c->nenrollment_servers; i++)
		put_elem(w, 4, "enrollment-server", c->enrollment_servers[i]);
	putf(w, "    <self-signed-permitted digest=\"%s\">%s"
	    "</self-signed-permitted>\n",
	    c->self_signed_digest == P2P_DIGEST_SHA1 ? "sha1" : "sha256",
	    c->self_signed_permitted ? "true" : "false");
	for (size_t i = 0; i < c->nbootstrap; i++) {
		put(w, "    <bootstrap-node address=\"");
		put_esc(w, c->bootstrap[i].address);
		putf(w, "\" port=\"%u\"/>\n", (unsigned)c->bootstrap[i].port);
	}
	put_uint(w, "turn-density", c->turn_density);
	put_bool(w, "clients-permitted", c->clients_permitted);
	put_bool(w, "no-ice", c->no_ice);
	put_uint(w, "chord:chord-update-interval", c->chord_update_interval);
	put_uint(w, "chord:chord-ping-interval", c->chord_ping_interval);
	put_bool(w, "chord:chord-reactive", c->chord_reactive);
	if (c->shared_secret != NULL)
		put_elem(w, 4, "shared-secret", c->shared_secret);
	put_uint(w, "max-message-size", c->max_message_size);
	put_uint(w, "initial-ttl", c->initial_ttl);
	put_uint(w, "overlay-reliability-timer", c->overlay_reliability_timer);
	for (size_t i = 0; i < c->nlink_protocols; i++)
		put_elem(w, 4, "overlay-link-protocol", c->link_protocols[i]);
	for (size_t i = 0; i < c->nconfig_signers; i++)
		put_id(w, 4, "configuration-signer", &c->config_signers[i]);
	for (size_t i = 0; i < c->nkind_signers; i++)
		put_id(w, 4, "kind-signer", &c->kind_signers[i]);
	for (size_t i = 0; i < c->nbad_nodes; i++)
		put_id(w, 4, "bad-node", &c->bad_nodes[i]);
	for (size_t i = 0; i < c->nmandatory_extensions; i++)
		put_elem(w, 4, "mandatory-extension",
		    c->mandatory_extensions[i]);
	if (c->crl_url != NULL)
		put_elem(w, 4, "p2psip:crl-url", c->crl_url);
	write_ice_servers(c, w);
	if (c->config_url != NULL)
		put_elem(w, 4, "p2psip:config-url", c->config_url);
	write_diag(c, w);
}

int
p2p_config_write(const p2p_config *c, p2p_wbuf *w, p2p_err *err)
{
	if (c->instance_name == NULL || c->instance_name[0] == '\0') {
		p2p_err_set(err, 0, "configuration needs an instance name", 0);
		return -1;
	}
	if (c->sequence > 65535) {
		p2p_err_set(err, 0, "sequence must be 0..65535", 0);
		return -1;
	}
	write_head(c, w);
	if (write_root_certs(c, w) != 0) {
		p2p_err_set(err, 0, "out of memory", 0);
		return -1;
	}
	write_body(c, w);
	if (c->nkinds > 0) {
		put(w, "    <required-kinds>\n");
		for (size_t i = 0; i < c->nkinds; i++)
			write_kind(&c->kinds[i], w);
		put(w, "    </required-kinds>\n");
	}
	put(w, "  </configuration>\n</overlay>\n");
	if (!p2p_w_ok(w)) {
		p2p_err_set(err, 0, "cannot write the configuration", 0);
		return -1;
	}
	return 0;
}

/* ---- signing ---- */

static const char *
find_mem(const char *h, size_t hn, const char *needle)
{
	return memmem(h, hn, needle, strlen(needle));
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The signed span: from the first "<configuration" start tag to the '>'
 * of the first "</configuration" end tag after it. *end is one past it.
 */
static int
find_span(const char *d, size_t n, size_t *start, size_t *end, p2p_err *err)
{
	static const char open[] = "<configuration", close[] =
	    "</configuration";
	const char *s = d, *e;
	size_t off;

	for (;;) {
		s = find_mem(s, n - (size_t)(s - d), open);
		if (s == NULL) {
			p2p_err_set(err, 0, "no <configuration> element", 0);
			return -1;
		}
		off = (size_t)(s - d) + sizeof(open) - 1;
		if (off < n && (is_ws(d[off]) || d[off] == '>' ||
		    d[off] == '/'))
			break;
		s++;
	}
	*start = (size_t)(s - d);
	if (find_mem(d, *start, "<!--") != NULL ||
	    find_mem(d, *start, "<![CDATA[") != NULL ||
	    find_mem(d, *start, "<!DOCTYPE") != NULL) {
		p2p_err_set(err, 0, "comment, CDATA or DOCTYPE before the "
		    "signed configuration", 0);
		return -1;
	}
	for (e = s;; e++) {
		e = find_mem(e, n - (size_t)(e - d), close);
		if (e == NULL) {
			p2p_err_set(err, 0, "no </configuration> end tag", 0);
			return -1;
		}
		off = (size_t)(e - d) + sizeof(close) - 1;
		if (off < n && (is_ws(d[off]) || d[off] == '>'))
			break;
	}
	while (off < n && is_ws(d[off]))
		off++;
	if (off >= n || d[off] != '>') {
		p2p_err_set(err, 0, "malformed </configuration> end tag", 0);
		return -1;
	}
	*end = off + 1;
	return 0;
}

/* Offset of the first non-blank byte at or after off. */
static size_t
skip_ws(const char *d, size_t n, size_t off)
{
	while (off < n && is_ws(d[off]))
		off++;
	return off;
}

static int
starts_signature(const char *d, size_t n, size_t off)
{
	return n - off > 10 && memcmp(d + off, "<signature", 10) == 0 &&
	    (is_ws(d[off + 10]) || d[off + 10] == '>');
}

/* span || SignerIdentity. */
static int
config_sig_input(p2p_wbuf *in, const char *span, size_t len,
    const p2p_signer *s)
{
	p2p_w_raw(in, span, len);
	return p2p_signer_encode(in, s);
}

int
p2p_config_sign(const char *doc, size_t len, const p2p_identity *id,
    p2p_wbuf *out, p2p_err *err)
{
	size_t start, end;
	p2p_signature sig;
	p2p_sigbuf sb;
	p2p_cert cert;
	p2p_wbuf in, sec;
	char *b64 = NULL;
	int rc = -1;

	if (find_span(doc, len, &start, &end, err) != 0)
		return -1;
	if (starts_signature(doc, len, skip_ws(doc, len, end))) {
		p2p_err_set(err, 0, "configuration is already signed", 0);
		return -1;
	}
	p2p_w_init(&in, len + 64);
	p2p_w_init(&sec, 1024);
	if (config_sig_input(&in, doc + start, end - start, &id->signer) != 0 ||
	    p2p_sign_data(id, in.p, in.len, &sig, &sb, err) != 0)
		goto out;
	p2p_identity_cert(id, &cert);
	if (p2p_secblock_encode(&sec, &cert, 1, &sig) != 0 ||
	    (b64 = p2p_base64_encode(sec.p, sec.len)) == NULL) {
		p2p_err_set(err, 0, "cannot encode the signature", 0);
		goto out;
	}
	p2p_w_raw(out, doc, end);
	put(out, "\n  <signature>");
	put(out, b64);
	put(out, "</signature>");
	p2p_w_raw(out, doc + end, len - end);
	rc = p2p_w_ok(out) ? 0 : -1;
	if (rc != 0)
		p2p_err_set(err, 0, "out of memory", 0);
out:
	free(b64);
	p2p_w_free(&in);
	p2p_w_free(&sec);
	return rc;
}

/* Find and decode the <signature> right after end. */
static int
signature_blob(const char *d, size_t n, size_t end, uint8_t **blob,
    size_t *blen, p2p_err *err)
{
	size_t off = skip_ws(d, n, end);
	const char *gt, *close;

	if (!starts_signature(d, n, off)) {
		p2p_err_set(err, P2P_ERR_FORBIDDEN,
		    "no <signature> after </configuration>", 0);
		return -1;
	}
	gt = memchr(d + off, '>', n - off);
	if (gt == NULL || gt[-1] == '/' ||
	    (close = find_mem(gt, n - (size_t)(gt - d), "</signature>")) ==
	    NULL || p2p_base64_decode(gt + 1, (size_t)(close - gt - 1), blob,
	    blen) != 0) {
		p2p_err_set(err, P2P_ERR_FORBIDDEN,
		    "<signature> is not base64 text", 0);
		return -1;
	}
	return 0;
}

static int
signer_listed(const p2p_sig_who *w, const p2p_id *signers, size_t n)
{
	if (!w->has_node)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p2p_id_eq(&signers[i], &w->node))
			return 1;
	return 0;
}

static int
verify_blob(const char *span, size_t slen, const uint8_t *blob,
    size_t blen, const p2p_trust *trust, p2p_sig_who *w, p2p_err *err)
{
	size_t acap = blen / 3 * sizeof(p2p_cert) + 64;
	void *amem = malloc(acap);
	p2p_bytes b = { blob, blen };
	p2p_signature sig;
	p2p_cert *certs;
	size_t ncerts;
	p2p_arena a;
	p2p_wbuf in;
	int rc = -1;

	if (amem == NULL) {
		p2p_err_set(err, 0, "out of memory", 0);
		return -1;
	}
	p2p_arena_init(&a, amem, acap);
	p2p_w_init(&in, slen + 64);
	if (p2p_secblock_decode(b, &a, &certs, &ncerts, &sig, err) != 0)
		goto out;
	if (sig.signer.type == 0 ||
	    config_sig_input(&in, span, slen, &sig.signer) != 0) {
		p2p_err_set(err, P2P_ERR_FORBIDDEN, "bad signer identity", 0);
		goto out;
	}
	rc = p2p_verify_data(&sig, in.p, in.len, certs, ncerts, NULL, trust,
	    w, err);
out:
	p2p_w_free(&in);
	free(amem);
	return rc;
}

int
p2p_config_verify(const char *doc, size_t len, const p2p_trust *trust,
    const p2p_id *signers, size_t nsigners, p2p_sig_who *who, p2p_err *err)
{
	size_t start, end, blen;
	uint8_t *blob;
	p2p_sig_who w;
	int rc;

	if (who != NULL)
		memset(who, 0, sizeof(*who));
	if (trust == NULL && nsigners == 0) {
		p2p_err_set(err, 0, "nothing to verify the configuration "
		    "against: give root certificates or signers", 0);
		return -1;
	}
	if (len > P2P_CONFIG_MAX_SIZE) {
		p2p_err_set(err, 0, "configuration document too large", 0);
		return -1;
	}
	if (find_span(doc, len, &start, &end, err) != 0 ||
	    signature_blob(doc, len, end, &blob, &blen, err) != 0)
		return -1;
	rc = verify_blob(doc + start, end - start, blob, blen, trust, &w, err);
	free(blob);
	if (rc != 0)
		return -1;
	if (nsigners > 0 && !signer_listed(&w, signers, nsigners)) {
		p2p_sig_who_clear(&w);
		p2p_err_set(err, P2P_ERR_FORBIDDEN,
		    "configuration signer is not a configuration-signer", 0);
		return -1;
	}
	if (who != NULL)
		*who = w;
	else
		p2p_sig_who_clear(&w);
	return 0;
}
