/*
 * enroll: the enrollment server's request handler and loop, and the
 * enrollment client. See enroll.h.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "ca.h"
#include "config.h"
#include "enroll.h"
#include "sign.h"

#define CT_CONFIG	"application/p2p-overlay+xml"
#define CT_CERT		"application/pkix-cert"
#define CT_CRL		"application/pkix-crl"
#define CT_CSR		"application/pkcs10"
#define WELL_KNOWN	"/.well-known/reload-config"
#define MAX_PARTS	16

/* ---- answers ---- */

static void
ans_text(p2p_enroll_answer *a, int status, const char *text)
{
	size_t n = strlen(text);

	a->status = status;
	a->ctype = "text/plain";
	if ((a->body = malloc(n + 1)) == NULL) {
		a->len = 0;
		return;
	}
	memcpy(a->body, text, n);
	a->body[n] = '\n';
	a->len = n + 1;
}

static void
ans_log(p2p_enroll_answer *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->log, sizeof(a->log), fmt, ap);
	va_end(ap);
}

void
p2p_enroll_answer_free(p2p_enroll_answer *a)
{
	free(a->body);
	a->body = NULL;
	a->len = 0;
}

static void
ans_file(p2p_enroll_answer *a, const char *dir, const char *name,
    const char *ctype, size_t max)
{
	char path[PATH_MAX];
	uint8_t *p;
	size_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path) || p2p_file_read(path, max, &p, &n) != 0) {
		ans_text(a, 404, "not found");
		ans_log(a, "cannot serve %s: %s", name, strerror(errno));
		return;
	}
	a->status = 200;
	a->ctype = ctype;
	a->body = p;
	a->len = n;
}

/* ---- the enrollment POST ---- */

static int
bytes_is(p2p_bytes b, const char *s)
{
	size_t n = strlen(s);

	return b.len == n && memcmp(b.p, s, n) == 0;
}

/* A copy of a text form field (no NUL or control bytes), or NULL. */
static char *
field_text(const p2p_multipart *m, const char *name, size_t max)
{
	const p2p_http_part *pt = p2p_multipart_get(m, name);
	char *s;

	if (pt == NULL || pt->data.len > max)
		return NULL;
	for (size_t i = 0; i < pt->data.len; i++)
		if (pt->data.p[i] < 0x20 || pt->data.p[i] == 0x7f)
			return NULL;
	if ((s = malloc(pt->data.len + 1)) == NULL)
		return NULL;
	memcpy(s, pt->data.p, pt->data.len);
	s[pt->data.len] = '\0';
	return s;
}

/* Does the request name a Node-ID of its own choosing? */
static int
asks_node_id(const p2p_multipart *m)
{
	for (size_t i = 0; i < m->nparts; i++) {
		p2p_bytes n = m->parts[i].name;
		if (bytes_is(n, "username") || bytes_is(n, "password") ||
		    bytes_is(n, "nodeids") || bytes_is(n, "csr"))
			continue;
		for (size_t j = 0; j + 4 <= n.len; j++)
			if (strncasecmp((const char *)n.p + j, "node", 4) == 0)
				return 1;
	}
	return 0;
}

static X509_REQ *
csr_parse(const p2p_http_part *pt, char *why, size_t whylen)
{
	const char pem[] = "-----BEGIN";
	X509_REQ *csr = NULL;
	STACK_OF(X509_EXTENSION) *ext;
	p2p_err e;

	if (pt == NULL || pt->data.len == 0) {
		snprintf(why, whylen, "no csr field");
		return NULL;
	}
	if (pt->data.len > sizeof(pem) && memcmp(pt->data.p, pem,
	    sizeof(pem) - 1) == 0) {
		BIO *b = BIO_new_mem_buf(pt->data.p, (int)pt->data.len);
		csr = b != NULL ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) :
		    NULL;
		BIO_free(b);
		ERR_clear_error();
		if (csr == NULL) {
			snprintf(why, whylen, "unreadable PEM CSR");
			return NULL;
		}
	} else if ((csr = p2p_csr_from_der(pt->data.p, pt->data.len, &e)) ==
	    NULL) {
		snprintf(why, whylen, "%s", e.what);
		return NULL;
	}
	ext = X509_REQ_get_extensions(csr);
	if (ext != NULL && X509v3_get_ext_by_NID(ext, NID_subject_alt_name,
	    -1) >= 0) {
		snprintf(why, whylen, "CSR asks for its own subjectAltName "
		    "(Node-IDs are assigned by the CA)");
		X509_REQ_free(csr);
		csr = NULL;
	}
	sk_X509_EXTENSION_pop_free(ext, X509_EXTENSION_free);
	ERR_clear_error();
	return csr;
}

static int
parse_count(const char *s, unsigned *out)
{
	char *ep;
	long v;

	if (s == NULL) {
		*out = 1;
		return 0;
	}
	errno = 0;
	v = strtol(s, &ep, 10);
	if (*s == '\0' || *ep != '\0' || errno != 0 || v < 1 || v > 1000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void
refuse(p2p_enroll_answer *a, const char *ip, const char *user,
    enum p2p_ca_refusal r, const char *why)
{
	const char *tok = p2p_ca_refusal_token(r);

	if (r == P2P_CA_INTERNAL)
		ans_text(a, 500, "internal error");
	else
		ans_text(a, 403, tok);
	ans_log(a, "refused %s from %s: %s (%s)", user != NULL ? user : "-",
	    ip, tok, why);
}

static void
issued(p2p_enroll_answer *a, const char *ip, const char *user, X509 *x)
{
	char ids[P2P_CERT_MAX_IDS * (P2P_ID_HEXLEN + 1) + 1] = "";
	char hex[P2P_ID_HEXLEN + 1];
	p2p_cert_info ci;
	p2p_err e;

	if (p2p_cert_info_get(x, &ci, &e) == 0)
		for (size_t i = 0; i < ci.nids; i++) {
			if (i > 0)
				strcat(ids, ",");
			strcat(ids, p2p_id_hex(&ci.ids[i], hex));
		}
	ans_log(a, "issued serial %s to %s from %s: Node-IDs %s", ci.serial,
	    user, ip, ids);
}

/* Authenticate, issue and commit; fills the answer. */
static void
enroll_issue(const char *dir, const char *ip, const char *user,
    const char *pw, unsigned nids, X509_REQ *csr, p2p_enroll_answer *a)
{
	char err[256], why[256];
	enum p2p_ca_refusal r;
	uint8_t *der;
	size_t len;
	p2p_ca ca;
	p2p_err e;
	X509 *x;

	if (p2p_ca_open(&ca, dir, 1, err, sizeof(err)) != 0) {
		refuse(a, ip, user, P2P_CA_INTERNAL, err);
		return;
	}
	if (!p2p_ca_user_check(&ca, user, pw, strlen(pw))) {
		refuse(a, ip, user, P2P_CA_FAILED_AUTH,
		    json_object_get(ca.users, user) == NULL ? "unknown user" :
		    "wrong password");
		p2p_ca_close(&ca);
		return;
	}
	r = p2p_ca_issue(&ca, user, csr, nids, &x, why, sizeof(why));
	if (r != P2P_CA_ISSUED) {
		refuse(a, ip, user, r, why);
		p2p_ca_close(&ca);
		return;
	}
	if (p2p_cert_to_der(x, &der, &len, &e) != 0) {
		refuse(a, ip, user, P2P_CA_INTERNAL, e.what);
	} else if (p2p_ca_commit(&ca, err, sizeof(err)) != 0) {
		free(der);
		refuse(a, ip, user, P2P_CA_INTERNAL, err);
	} else {
		a->status = 200;
		a->ctype = CT_CERT;
		a->body = der;
		a->len = len;
		issued(a, ip, user, x);
	}
	X509_free(x);
	p2p_ca_close(&ca);
}

static void
enroll_post(const char *dir, const p2p_http_req *req, p2p_enroll_answer *a)
{
	union {
		max_align_t align;
		uint8_t b[MAX_PARTS * sizeof(p2p_http_part) + 256];
	} mem;
	const char *ip = req->peer_ip, *ct;
	char *user = NULL, *pw = NULL, *count = NULL, why[256];
	p2p_bytes body = { req->body, req->body_len };
	X509_REQ *csr = NULL;
	p2p_multipart m;
	p2p_arena ar;
	p2p_err e;
	unsigned nids;

	p2p_arena_init(&ar, mem.b, sizeof(mem.b));
	ct = p2p_http_req_header(req, "Content-Type");
	if (ct == NULL || p2p_multipart_parse(body, ct, MAX_PARTS, &ar, &m,
	    &e) != 0) {
		ans_text(a, 400, "want multipart/form-data");
		ans_log(a, "refused - from %s: 400 (%s)", ip, ct == NULL ?
		    "no Content-Type" : e.what);
		return;
	}
	user = field_text(&m, "username", 255);
	pw = field_text(&m, "password", P2P_CA_PASSWORD_MAX);
	count = field_text(&m, "nodeids", 8);
	if (user == NULL || pw == NULL || user[0] == '\0')
		refuse(a, ip, user, P2P_CA_FAILED_AUTH, "no username or "
		    "password");
	else if (asks_node_id(&m))
		refuse(a, ip, user, P2P_CA_NODE_IDS_NA, "asked for a Node-ID "
		    "of its own");
	else if (parse_count(p2p_multipart_get(&m, "nodeids") != NULL &&
	    count == NULL ? "" : count, &nids) != 0)
		refuse(a, ip, user, P2P_CA_NODE_IDS_NA, "bad nodeids count");
	else if ((csr = csr_parse(p2p_multipart_get(&m, "csr"), why,
	    sizeof(why))) == NULL)
		refuse(a, ip, user, P2P_CA_BAD_CSR, why);
	else
		enroll_issue(dir, ip, user, pw, nids, csr, a);
	X509_REQ_free(csr);
	if (pw != NULL)
		OPENSSL_cleanse(pw, strlen(pw));
	free(user);
	free(pw);
	free(count);
}

/* The path of the configured enrollment URL ("/enroll" if none). */
static int
is_enroll_path(const char *dir, const char *path)
{
	char err[128];
	const char *url, *p;
	p2p_ca ca;
	int yes = 0;

	if (strcmp(path, "/enroll") == 0)
		return 1;
	if (p2p_ca_open(&ca, dir, 0, err, sizeof(err)) != 0)
		return 0;
	url = json_string_value(json_object_get(ca.state, "enroll_url"));
	if (url != NULL && strncmp(url, "https://", 8) == 0 &&
	    (p = strchr(url + 8, '/')) != NULL)
		yes = strcmp(p, path) == 0;
	p2p_ca_close(&ca);
	return yes;
}

void
p2p_enroll_handle(const char *dir, p2p_ratelimit *rl, uint64_t now_ms,
    const p2p_http_req *req, p2p_enroll_answer *a)
{
	int get = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0;

	memset(a, 0, sizeof(*a));
	if (strcmp(req->path, WELL_KNOWN) == 0 && get) {
		ans_file(a, dir, "overlay.xml", CT_CONFIG, P2P_CONFIG_MAX_SIZE);
		return;
	}
	if (strcmp(req->path, "/crl") == 0 && get) {
		ans_file(a, dir, "crl.der", CT_CRL, 16 * 1024 * 1024);
		return;
	}
	if (strcmp(req->method, "POST") == 0 && is_enroll_path(dir,
	    req->path)) {
		if (rl != NULL && !p2p_ratelimit_allow(rl, req->peer_ip,
		    now_ms)) {
			ans_text(a, 429, "too many requests");
			ans_log(a, "refused - from %s: 429 (too many "
			    "requests)", req->peer_ip);
			return;
		}
		enroll_post(dir, req, a);
		return;
	}
	if (strcmp(req->path, WELL_KNOWN) == 0 || strcmp(req->path, "/crl") ==
	    0) {
		ans_text(a, 405, "method not allowed");
		return;
	}
	ans_text(a, 404, "not found");
}

/* ---- the server loop ---- */

struct srv {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	p2p_http_server *http;
	p2p_ratelimit *rl;
	const char *dir;
};

static void
log_line(const char *level, const char *fmt, ...)
{
	char ts[32], line[512];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s p2p-ca %s: %s\n", ts, level, line);
	fflush(stderr);
}

static void
tls_log(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level <= 2)
		log_line(level == 0 ? "error" : level == 1 ? "warn" : "info",
		    "tls: %s", msg);
}

/* A request the HTTP layer refused by itself, logged like ours. */
static void
on_http_refusal(void *arg, int status, const char *ip, const char *why)
{
	(void)arg;
	log_line("warn", "refused - from %s: %d (%s)", ip, status, why);
}

static void
on_request(p2p_http_req *req, void *arg)
{
	struct srv *s = arg;
	p2p_enroll_answer a;

	p2p_enroll_handle(s->dir, s->rl, uv_now(&s->loop), req, &a);
	if (a.log[0] != '\0')
		log_line(a.status == 200 ? "info" : "warn", "%s", a.log);
	if (a.status == 429)
		(void)p2p_http_add_header(req, "Retry-After", "1");
	(void)p2p_http_respond(req, a.status, a.ctype, a.body, a.len);
	p2p_enroll_answer_free(&a);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct srv *s = h->data;

	log_line("info", "signal %d: stopping", signum);
	if (s->http != NULL)
		p2p_http_server_close(s->http);
	s->http = NULL;
	uv_close((uv_handle_t *)&s->sigint, NULL);
	uv_close((uv_handle_t *)&s->sigterm, NULL);
}

/* Host of an https URL when it is a name rather than an IP literal. */
static char *
url_dns_host(const char *url)
{
	const char *h, *e;
	unsigned char tmp[16];
	char *s;

	if (url == NULL || strncmp(url, "https://", 8) != 0 || url[8] == '[')
		return NULL;
	h = url + 8;
	e = h + strcspn(h, ":/");
	if (e == h || (s = strndup(h, (size_t)(e - h))) == NULL)
		return NULL;
	if (inet_pton(AF_INET, s, tmp) == 1) {
		free(s);
		return NULL;
	}
	return s;
}

/* Log the enrollment URL, warning when it is not this server's. */
static void
log_url(const char *configured, const char *ours)
{
	size_t n = strcspn(ours + 8, "/") + 8;

	if (configured == NULL)
		return;
	if (strncmp(configured, ours, n) != 0 || (configured[n] != '/' &&
	    configured[n] != '\0'))
		log_line("warn", "the configuration names the enrollment "
		    "server %s, not this one (%.*s)", configured, (int)n, ours);
	else
		log_line("info", "enrollment URL %s", configured);
}

/* Server certificate, then (after binding) the enrollment URL. */
static int
serve_prepare(const char *dir, const char *ip, int port, int after_bind,
    char *err, size_t errlen)
{
	char url[128];
	char *dns;
	p2p_ca ca;
	int rc;

	if (p2p_ca_open(&ca, dir, 1, err, errlen) != 0)
		return -1;
	if (!after_bind) {
		dns = url_dns_host(json_string_value(json_object_get(ca.state,
		    "enroll_url")));
		rc = p2p_ca_server_cert(&ca, ip, dns, err, errlen);
		free(dns);
	} else {
		snprintf(url, sizeof(url), strchr(ip, ':') != NULL ?
		    "https://[%s]:%d/enroll" : "https://%s:%d/enroll", ip, port);
		rc = p2p_ca_set_enroll_url(&ca, url, err, errlen);
		if (rc == 1)
			rc = p2p_ca_commit(&ca, err, errlen);
		if (rc == 0 || rc == 1)
			log_url(json_string_value(json_object_get(ca.state,
			    "enroll_url")), url);
	}
	p2p_ca_close(&ca);
	return rc < 0 ? -1 : 0;
}

static p2p_tls_ctx *
serve_ctx(const char *dir, char *err, size_t errlen)
{
	char cp[PATH_MAX], kp[PATH_MAX];
	p2p_tls_ctx_opts o;

	memset(&o, 0, sizeof(o));
	snprintf(cp, sizeof(cp), "%s/server.pem", dir);
	snprintf(kp, sizeof(kp), "%s/server.key", dir);
	o.role = P2P_TLS_SERVER;
	o.cert_file = cp;
	o.key_file = kp;
	o.peer = P2P_TLS_PEER_NONE;
	return p2p_tls_ctx_new(&o, err, errlen);
}

static int
serve_run(struct srv *s, const p2p_enroll_serve_opts *o, p2p_tls_ctx *ctx,
    const char *ip, int port, char *err, size_t errlen)
{
	p2p_http_opts ho;
	int rc;

	memset(&ho, 0, sizeof(ho));
	ho.max_body = o->max_body ? o->max_body : P2P_ENROLL_MAX_BODY;
	ho.request_ms = o->request_ms ? o->request_ms : P2P_ENROLL_REQUEST_MS;
	ho.log = on_http_refusal;
	ho.log_arg = s;
	rc = p2p_http_server_start(&s->loop, ctx, ip, port, &ho, on_request, s,
	    &s->http);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->listen,
		    uv_strerror(rc));
		return -1;
	}
	port = p2p_http_server_port(s->http);
	if (serve_prepare(o->dir, ip, port, 1, err, errlen) != 0) {
		p2p_http_server_close(s->http);
		s->http = NULL;
		uv_run(&s->loop, UV_RUN_DEFAULT);
		return -1;
	}
	uv_signal_init(&s->loop, &s->sigint);
	uv_signal_init(&s->loop, &s->sigterm);
	s->sigint.data = s->sigterm.data = s;
	uv_signal_start(&s->sigint, on_signal, SIGINT);
	uv_signal_start(&s->sigterm, on_signal, SIGTERM);
	log_line("info", "listening on https://%s%s%s:%d", strchr(ip, ':') ?
	    "[" : "", ip, strchr(ip, ':') ? "]" : "", port);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return 0;
}

int
p2p_enroll_serve(const p2p_enroll_serve_opts *o, char *err, size_t errlen)
{
	struct srv s;
	p2p_tls_ctx *ctx;
	char ip[64];
	int port, rc;

	if (p2p_addr_split(o->listen, ip, sizeof(ip), &port) != 0) {
		snprintf(err, errlen, "--listen %s: want IP:PORT or "
		    "[IPv6]:PORT", o->listen);
		return -1;
	}
	if (serve_prepare(o->dir, ip, port, 0, err, errlen) != 0)
		return -1;
	if ((ctx = serve_ctx(o->dir, err, errlen)) == NULL)
		return -1;
	memset(&s, 0, sizeof(s));
	s.dir = o->dir;
	s.rl = p2p_ratelimit_new(o->rate > 0 ? o->rate : P2P_ENROLL_RATE,
	    o->burst > 0 ? o->burst : P2P_ENROLL_BURST, 4096);
	if (s.rl == NULL || uv_loop_init(&s.loop) != 0) {
		snprintf(err, errlen, "out of memory");
		p2p_ratelimit_free(s.rl);
		p2p_tls_ctx_free(ctx);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	p2p_tls_set_log(tls_log, NULL);
	rc = serve_run(&s, o, ctx, ip, port, err, errlen);
	p2p_tls_ctx_free(ctx);
	uv_run(&s.loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&s.loop);
	p2p_tls_set_log(NULL, NULL);
	p2p_ratelimit_free(s.rl);
	return rc;
}

/* ---- client ---- */

static int
rfail(p2p_enroll_result *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return code;
}

int
p2p_fingerprint_parse(const char *s, uint8_t out[32])
{
	size_t n = 0;
	unsigned v;

	if (strncasecmp(s, "SHA256:", 7) == 0)
		s += 7;
	while (*s != '\0') {
		if (*s == ':') {
			s++;
			continue;
		}
		if (n == 32 || strspn(s, "0123456789abcdefABCDEF") < 2 ||
		    sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n == 32 ? 0 : -1;
}

/* How the server's certificate is judged. */
struct peerck {
	const uint8_t *pin;	/* NULL: capture only (and refuse) */
	X509 *anchor;		/* the pinned certificate that matched */
	char top[80];		/* fingerprint of the top of the chain */
	int mismatch;
};

static int
fpr_matches(X509 *x, const uint8_t pin[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	return X509_digest(x, EVP_sha256(), md, &n) && n == 32 &&
	    CRYPTO_memcmp(md, pin, 32) == 0;
}

/* Verify leaf against the one pinned certificate a (a trust anchor, which
 * may be the leaf itself). */
static int
verify_pinned(X509 *leaf, STACK_OF(X509) *chain, X509 *a)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *v = X509_STORE_CTX_new();
	int ok = 0;

	if (st != NULL && v != NULL && X509_STORE_add_cert(st, a) == 1 &&
	    X509_STORE_CTX_init(v, st, leaf, chain) == 1) {
		X509_STORE_CTX_set_flags(v, X509_V_FLAG_PARTIAL_CHAIN);
		ok = X509_verify_cert(v) == 1;
	}
	X509_STORE_CTX_free(v);
	X509_STORE_free(st);
	return ok;
}

static int
verify_cb(X509_STORE_CTX *xs, void *arg)
{
	struct peerck *pc = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs), *top = leaf, *hit = NULL;
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(xs);
	int n = chain != NULL ? sk_X509_num(chain) : 0;

	if (leaf == NULL)
		return 0;
	for (int i = 0; i < n; i++) {
		X509 *c = sk_X509_value(chain, i);
		if (X509_cmp(c, leaf) != 0)
			top = c;
	}
	(void)p2p_cert_fingerprint(top, pc->top, sizeof(pc->top));
	if (pc->pin != NULL) {
		if (fpr_matches(leaf, pc->pin))
			hit = leaf;
		for (int i = 0; hit == NULL && i < n; i++)
			if (fpr_matches(sk_X509_value(chain, i), pc->pin))
				hit = sk_X509_value(chain, i);
	}
	if (hit != NULL && verify_pinned(leaf, chain, hit)) {
		if (pc->anchor == NULL && X509_up_ref(hit) == 1)
			pc->anchor = hit;
		return 1;
	}
	pc->mismatch = pc->pin != NULL;
	X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_UNTRUSTED);
	ERR_clear_error();
	return 0;
}

static CURLcode
ssl_ctx_cb(CURL *c, void *sslctx, void *arg)
{
	(void)c;
	SSL_CTX_set_cert_verify_callback(sslctx, verify_cb, arg);
	return CURLE_OK;
}

struct sink {
	uint8_t *p;
	size_t len, max;
	int over;
};

static size_t
sink_write(char *ptr, size_t sz, size_t nm, void *arg)
{
	struct sink *s = arg;
	size_t n = sz * nm;
	uint8_t *np;

	if (n > s->max - s->len) {
		s->over = 1;
		return 0;
	}
	if ((np = realloc(s->p, s->len + n + 1)) == NULL)
		return 0;
	s->p = np;
	memcpy(s->p + s->len, ptr, n);
	s->len += n;
	s->p[s->len] = '\0';
	return n;
}

struct client {
	const p2p_enroll_opts *o;
	struct peerck pc;
	CURL *curl;
	char cerr[CURL_ERROR_SIZE];
};

static void
client_setup(struct client *cl, const char *url, struct sink *s)
{
	CURL *c = cl->curl;

	curl_easy_reset(c);
	cl->cerr[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cl->cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	if (cl->o->ca_file != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, cl->o->ca_file);
	} else {
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &cl->pc);
	}
}

/* Map a transfer failure to an exit code and message. */
static int
transfer_fail(struct client *cl, CURLcode rc, const char *url,
    p2p_enroll_result *r)
{
	const char *what = cl->cerr[0] != '\0' ? cl->cerr :
	    curl_easy_strerror(rc);

	if (cl->o->ca_file == NULL && cl->o->pin == NULL && cl->pc.top[0]) {
		snprintf(r->fingerprint, sizeof(r->fingerprint), "%s",
		    cl->pc.top);
		return rfail(r, P2P_ENROLL_FAIL, "%s: the server's certificate "
		    "is not pinned. Its root has fingerprint %s; check it "
		    "with the CA's administrator, then pass "
		    "--ca-fingerprint %s (or --ca-cert ca.pem)", url,
		    cl->pc.top, cl->pc.top);
	}
	if (cl->pc.mismatch)
		return rfail(r, P2P_ENROLL_FAIL, "%s: no certificate of the "
		    "server's chain matches --ca-fingerprint (its root is "
		    "%s): refusing to talk to it", url, cl->pc.top);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return rfail(r, P2P_ENROLL_UNREACHABLE, "cannot reach %s: %s",
		    url, what);
	case CURLE_PEER_FAILED_VERIFICATION:
		return rfail(r, P2P_ENROLL_FAIL, "%s: server certificate "
		    "refused: %s", url, what);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return rfail(r, P2P_ENROLL_USAGE, "%s: only https:// URLs "
		    "are accepted", url);
	default:
		return rfail(r, P2P_ENROLL_FAIL, "%s: %s", url, what);
	}
}

/* The configuration URL for --server. */
static char *
config_url(const char *server)
{
	size_t n = strlen(server);
	char *u;

	if (n >= strlen(WELL_KNOWN) && strcmp(server + n - strlen(WELL_KNOWN),
	    WELL_KNOWN) == 0)
		return strdup(server);
	while (n > 0 && server[n - 1] == '/')
		n--;
	if ((u = malloc(n + sizeof(WELL_KNOWN))) == NULL)
		return NULL;
	memcpy(u, server, n);
	memcpy(u + n, WELL_KNOWN, sizeof(WELL_KNOWN));
	return u;
}

static int
fetch_config(struct client *cl, struct sink *s, p2p_enroll_result *r)
{
	char *url = config_url(cl->o->server);
	long code = 0;
	CURLcode rc;
	int ret = P2P_ENROLL_OK;

	if (url == NULL)
		return rfail(r, P2P_ENROLL_FAIL, "out of memory");
	s->max = P2P_CONFIG_MAX_SIZE;
	client_setup(cl, url, s);
	rc = curl_easy_perform(cl->curl);
	curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &code);
	if (s->over)
		ret = rfail(r, P2P_ENROLL_FAIL, "%s: configuration larger "
		    "than %d bytes", url, P2P_CONFIG_MAX_SIZE);
	else if (rc != CURLE_OK)
		ret = transfer_fail(cl, rc, url, r);
	else if (code != 200)
		ret = rfail(r, P2P_ENROLL_FAIL, "%s: HTTP status %ld", url,
		    code);
	free(url);
	return ret;
}

/* Load every certificate of a PEM file. */
static STACK_OF(X509) *
load_pem_certs(const char *path)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL || sk == NULL) {
		if (f != NULL)
			fclose(f);
		sk_X509_free(sk);
		return NULL;
	}
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x))
			X509_free(x);
	fclose(f);
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return NULL;
	}
	return sk;
}

/* Index of the configuration root that is the certificate the server was
 * authenticated with, or -1. */
static int
root_index(const p2p_config *c, const struct client *cl)
{
	STACK_OF(X509) *sk = NULL;
	int found = -1;

	if (cl->o->ca_file != NULL && (sk = load_pem_certs(
	    cl->o->ca_file)) == NULL)
		return -1;
	for (size_t i = 0; found < 0 && i < c->nroot_certs; i++) {
		p2p_err e;
		X509 *x = p2p_cert_from_der(c->root_certs[i].p,
		    c->root_certs[i].len, &e);
		if (x == NULL)
			continue;
		if (sk == NULL && cl->pc.anchor != NULL &&
		    X509_cmp(x, cl->pc.anchor) == 0)
			found = (int)i;
		for (int j = 0; sk != NULL && j < sk_X509_num(sk); j++)
			if (X509_cmp(x, sk_X509_value(sk, j)) == 0)
				found = (int)i;
		X509_free(x);
	}
	sk_X509_pop_free(sk, X509_free);
	return found;
}

static int
check_config(struct client *cl, const struct sink *s, p2p_config *c,
    p2p_trust **trust, int *root, p2p_enroll_result *r)
{
	p2p_err e;

	if (p2p_config_parse((const char *)s->p, s->len, NULL, c, &e) != 0)
		return rfail(r, P2P_ENROLL_FAIL, "configuration: %s", e.what);
	if (c->nroot_certs == 0)
		return rfail(r, P2P_ENROLL_FAIL, "configuration of %s names "
		    "no root certificate", c->instance_name);
	if ((*root = root_index(c, cl)) < 0)
		return rfail(r, P2P_ENROLL_FAIL, "configuration of %s: its "
		    "root certificate is not the one that authenticated the "
		    "server", c->instance_name);
	if ((*trust = p2p_trust_new()) == NULL)
		return rfail(r, P2P_ENROLL_FAIL, "out of memory");
	for (size_t i = 0; i < c->nroot_certs; i++)
		if (p2p_trust_add_root_der(*trust, c->root_certs[i].p,
		    c->root_certs[i].len, &e) != 0)
			return rfail(r, P2P_ENROLL_FAIL, "configuration root: "
			    "%s", e.what);
	if (p2p_config_verify((const char *)s->p, s->len, *trust,
	    c->config_signers, c->nconfig_signers, NULL, &e) != 0)
		return rfail(r, P2P_ENROLL_FAIL, "configuration of %s: "
		    "signature: %s", c->instance_name, e.what);
	if (c->nenrollment_servers == 0)
		return rfail(r, P2P_ENROLL_FAIL, "configuration of %s names "
		    "no enrollment server", c->instance_name);
	snprintf(r->overlay, sizeof(r->overlay), "%s", c->instance_name);
	return P2P_ENROLL_OK;
}

static int
post_csr(struct client *cl, const char *url, EVP_PKEY *key, struct sink *s,
    p2p_enroll_result *r)
{
	struct curl_slist *h = NULL;
	curl_mime *mime;
	curl_mimepart *p;
	uint8_t *der = NULL;
	size_t len;
	char count[16];
	X509_REQ *csr;
	long code = 0;
	CURLcode rc;
	p2p_err e;
	int ret = P2P_ENROLL_OK;

	if ((csr = p2p_csr_make(key, &e)) == NULL ||
	    p2p_csr_to_der(csr, &der, &len, &e) != 0) {
		X509_REQ_free(csr);
		return rfail(r, P2P_ENROLL_FAIL, "CSR: %s", e.what);
	}
	X509_REQ_free(csr);
	s->max = P2P_CERT_DER_MAX;
	client_setup(cl, url, s);
	snprintf(count, sizeof(count), "%u", cl->o->nids ? cl->o->nids : 1);
	mime = curl_mime_init(cl->curl);
	p = curl_mime_addpart(mime);
	curl_mime_name(p, "username");
	curl_mime_data(p, cl->o->user, CURL_ZERO_TERMINATED);
	p = curl_mime_addpart(mime);
	curl_mime_name(p, "password");
	curl_mime_data(p, cl->o->password, CURL_ZERO_TERMINATED);
	p = curl_mime_addpart(mime);
	curl_mime_name(p, "nodeids");
	curl_mime_data(p, count, CURL_ZERO_TERMINATED);
	p = curl_mime_addpart(mime);
	curl_mime_name(p, "csr");
	curl_mime_data(p, (const char *)der, len);
	curl_mime_type(p, CT_CSR);
	curl_mime_filename(p, "csr.der");
	h = curl_slist_append(h, "Accept: " CT_CERT);
	curl_easy_setopt(cl->curl, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(cl->curl, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(cl->curl);
	curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK)
		ret = s->over ? rfail(r, P2P_ENROLL_FAIL, "%s: answer too "
		    "large", url) : transfer_fail(cl, rc, url, r);
	else if (code == 403) {
		size_t n = strcspn(s->p != NULL ? (char *)s->p : "", "\r\n");
		snprintf(r->token, sizeof(r->token), "%.*s", (int)n,
		    s->p != NULL ? (char *)s->p : "");
		ret = rfail(r, P2P_ENROLL_FAIL, "enrollment refused: %s%s",
		    r->token, strcmp(r->token, "failed_authentication") == 0 ?
		    " (wrong user name or password)" : strcmp(r->token,
		    "Node-IDs_not_available") == 0 ? " (over this user's "
		    "quota of Node-IDs)" : "");
	} else if (code == 429)
		ret = rfail(r, P2P_ENROLL_FAIL, "enrollment refused: too many "
		    "requests; try again later");
	else if (code != 200)
		ret = rfail(r, P2P_ENROLL_FAIL, "enrollment refused: HTTP "
		    "status %ld", code);
	curl_slist_free_all(h);
	curl_mime_free(mime);
	OPENSSL_cleanse(der, len);
	free(der);
	return ret;
}

/* Check the issued certificate; fills r->ids. */
static int
check_cert(X509 *x, EVP_PKEY *key, const p2p_trust *t, const p2p_config *c,
    const p2p_enroll_opts *o, p2p_enroll_result *r)
{
	enum p2p_verify_result v;
	p2p_cert_info ci;
	p2p_err e;

	if ((v = p2p_cert_verify(t, x, NULL, NULL, &e)) != P2P_VERIFY_OK)
		return rfail(r, P2P_ENROLL_FAIL, "issued certificate does not "
		    "verify against the overlay root: %s", e.what);
	if (X509_check_private_key(x, key) != 1)
		return rfail(r, P2P_ENROLL_FAIL, "issued certificate is not "
		    "for our key");
	if (p2p_cert_info_get(x, &ci, &e) != 0)
		return rfail(r, P2P_ENROLL_FAIL, "issued certificate: %s",
		    e.what);
	if (ci.nids != (o->nids ? o->nids : 1) ||
	    strcasecmp(ci.overlay, c->instance_name) != 0 ||
	    strcmp(ci.user, o->user) != 0)
		return rfail(r, P2P_ENROLL_FAIL, "issued certificate carries "
		    "%zu Node-IDs for user %s on %s, not what was asked",
		    ci.nids, ci.user, ci.overlay);
	memcpy(r->ids, ci.ids, sizeof(r->ids));
	r->nids = ci.nids;
	snprintf(r->user, sizeof(r->user), "%s", ci.user);
	return P2P_ENROLL_OK;
}

static int
node_dir(const char *dir, p2p_enroll_result *r)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return rfail(r, P2P_ENROLL_FAIL, "cannot create %s: %s", dir,
		    strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return rfail(r, P2P_ENROLL_FAIL, "%s is not a directory", dir);
	if (chmod(dir, 0700) != 0)
		return rfail(r, P2P_ENROLL_FAIL, "cannot chmod %s: %s", dir,
		    strerror(errno));
	return P2P_ENROLL_OK;
}

/* Write key.pem, cert.pem, ca.pem (if root) and overlay.xml. */
static int
write_node(const char *dir, EVP_PKEY *key, X509 *cert, X509 *root,
    const void *doc, size_t doclen, p2p_enroll_result *r)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	p2p_err e;

	if (node_dir(dir, r) != P2P_ENROLL_OK)
		return P2P_ENROLL_FAIL;
#define NODE_FILE(name, save)						\
	do {								\
		snprintf(tmp, sizeof(tmp), "%s/." name ".tmp", dir);	\
		snprintf(dst, sizeof(dst), "%s/" name, dir);		\
		unlink(tmp);						\
		if ((save) != 0 || rename(tmp, dst) != 0) {		\
			unlink(tmp);					\
			return rfail(r, P2P_ENROLL_FAIL, "cannot write %s", \
			    dst);					\
		}							\
	} while (0)
	NODE_FILE("key.pem", p2p_key_save(key, tmp, &e));
	NODE_FILE("cert.pem", p2p_cert_save(cert, tmp, &e));
	if (root != NULL)
		NODE_FILE("ca.pem", p2p_cert_save(root, tmp, &e));
#undef NODE_FILE
	snprintf(dst, sizeof(dst), "%s/overlay.xml", dir);
	if (p2p_file_write_atomic(dst, doc, doclen, 0644) != 0)
		return rfail(r, P2P_ENROLL_FAIL, "cannot write %s", dst);
	snprintf(r->cert_path, sizeof(r->cert_path), "%s/cert.pem", dir);
	return P2P_ENROLL_OK;
}

static int
enroll_steps(struct client *cl, p2p_enroll_result *r)
{
	const p2p_enroll_opts *o = cl->o;
	struct sink cfg = { 0 }, ans = { 0 };
	p2p_trust *trust = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL, *root = NULL;
	p2p_config c;
	p2p_err e;
	int rc, ri = -1;

	memset(&c, 0, sizeof(c));
	if ((rc = fetch_config(cl, &cfg, r)) != P2P_ENROLL_OK ||
	    (rc = check_config(cl, &cfg, &c, &trust, &ri, r)) != P2P_ENROLL_OK)
		goto out;
	if ((key = p2p_key_generate(o->key_type, &e)) == NULL) {
		rc = rfail(r, P2P_ENROLL_FAIL, "key: %s", e.what);
		goto out;
	}
	if ((rc = post_csr(cl, c.enrollment_servers[0], key, &ans, r)) !=
	    P2P_ENROLL_OK)
		goto out;
	if ((x = p2p_cert_from_der(ans.p, ans.len, &e)) == NULL) {
		rc = rfail(r, P2P_ENROLL_FAIL, "answer is not a certificate: "
		    "%s", e.what);
		goto out;
	}
	if ((rc = check_cert(x, key, trust, &c, o, r)) != P2P_ENROLL_OK)
		goto out;
	if ((root = p2p_cert_from_der(c.root_certs[ri].p, c.root_certs[ri].len,
	    &e)) == NULL) {
		rc = rfail(r, P2P_ENROLL_FAIL, "root: %s", e.what);
		goto out;
	}
	rc = write_node(o->dir, key, x, root, cfg.p, cfg.len, r);
out:
	X509_free(root);
	X509_free(x);
	EVP_PKEY_free(key);
	p2p_trust_free(trust);
	p2p_config_free(&c);
	free(cfg.p);
	free(ans.p);
	return rc;
}

int
p2p_enroll_run(const p2p_enroll_opts *o, p2p_enroll_result *r)
{
	struct client cl;
	int rc;

	memset(r, 0, sizeof(*r));
	if (o->server == NULL || strncmp(o->server, "https://", 8) != 0)
		return rfail(r, P2P_ENROLL_USAGE, "--server must be an "
		    "https:// URL");
	if (o->nids > P2P_CERT_MAX_IDS)
		return rfail(r, P2P_ENROLL_USAGE, "--ids must be 1..%d",
		    P2P_CERT_MAX_IDS);
	memset(&cl, 0, sizeof(cl));
	cl.o = o;
	cl.pc.pin = o->pin;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (cl.curl = curl_easy_init()) == NULL) {
		curl_global_cleanup();
		return rfail(r, P2P_ENROLL_FAIL, "cannot start libcurl");
	}
	rc = enroll_steps(&cl, r);
	curl_easy_cleanup(cl.curl);
	X509_free(cl.pc.anchor);
	curl_global_cleanup();
	return rc;
}

int
p2p_enroll_self_signed(const char *config, const char *dir,
    const char *user, unsigned nids, enum p2p_key_type kt,
    p2p_enroll_result *r)
{
	uint8_t *doc = NULL;
	size_t len;
	p2p_config c;
	p2p_err e;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	p2p_cert_info ci;
	int rc;

	memset(r, 0, sizeof(*r));
	if (nids == 0)
		nids = 1;
	if (nids > P2P_CERT_MAX_IDS)
		return rfail(r, P2P_ENROLL_USAGE, "--ids must be 1..%d",
		    P2P_CERT_MAX_IDS);
	if (p2p_file_read(config, P2P_CONFIG_MAX_SIZE, &doc, &len) != 0)
		return rfail(r, P2P_ENROLL_FAIL, "cannot read %s: %s", config,
		    strerror(errno));
	if (p2p_config_parse((const char *)doc, len, NULL, &c, &e) != 0) {
		rc = rfail(r, P2P_ENROLL_FAIL, "%s: %s", config, e.what);
		goto out;
	}
	if (!c.self_signed_permitted) {
		rc = rfail(r, P2P_ENROLL_FAIL, "the configuration of overlay "
		    "%s does not permit self-signed certificates "
		    "(self-signed-permitted is false); enroll with its CA "
		    "instead: p2p-enroll --server URL --user NAME --dir DIR",
		    c.instance_name);
		goto out;
	}
	if ((key = p2p_key_generate(kt, &e)) == NULL ||
	    (x = p2p_selfsigned_make(key, c.instance_name, user, nids,
	    c.self_signed_digest, P2P_CA_CERT_DAYS, &e)) == NULL ||
	    p2p_selfsigned_check(x, c.self_signed_digest, &e) != 0 ||
	    p2p_cert_info_get(x, &ci, &e) != 0) {
		rc = rfail(r, P2P_ENROLL_FAIL, "self-signed certificate: %s",
		    e.what);
		goto out;
	}
	memcpy(r->ids, ci.ids, sizeof(r->ids));
	r->nids = ci.nids;
	snprintf(r->user, sizeof(r->user), "%s", ci.user);
	snprintf(r->overlay, sizeof(r->overlay), "%s", c.instance_name);
	rc = write_node(dir, key, x, NULL, doc, len, r);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	p2p_config_free(&c);
	free(doc);
	return rc;
}

/* ---- passwords ---- */

static int
read_line_fd(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	char ch;
	ssize_t r;

	for (;;) {
		r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || ch == '\n')
			break;
		if (n + 1 >= cap)
			return -1;
		buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return r < 0 ? -1 : 0;
}

static int
read_tty(const char *prompt, char *buf, size_t cap, char *err, size_t errlen)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), rc;

	if (fd < 0 || tcgetattr(fd, &old) != 0) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "no terminal to ask for the password; "
		    "pass --password-file FILE");
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	(void)write(fd, prompt, strlen(prompt));
	(void)tcsetattr(fd, TCSAFLUSH, &quiet);
	rc = read_line_fd(fd, buf, cap);
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	(void)write(fd, "\n", 1);
	close(fd);
	if (rc != 0)
		snprintf(err, errlen, "cannot read the password");
	return rc;
}

int
p2p_password_read(const char *file, const char *prompt, char *buf,
    size_t cap, char *err, size_t errlen)
{
	int fd, rc;

	if (file == NULL)
		rc = read_tty(prompt, buf, cap, err, errlen);
	else {
		fd = strcmp(file, "-") == 0 ? 0 : open(file,
		    O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "cannot open %s: %s", file,
			    strerror(errno));
			return -1;
		}
		rc = read_line_fd(fd, buf, cap);
		if (fd != 0)
			close(fd);
		if (rc != 0)
			snprintf(err, errlen, "cannot read the password from "
			    "%s (or longer than %zu bytes)", file, cap - 1);
	}
	if (rc == 0 && buf[0] == '\0') {
		snprintf(err, errlen, "empty password");
		rc = -1;
	}
	return rc;
}
