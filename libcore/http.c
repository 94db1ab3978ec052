/*
 * http: HTTP/1.1 server over p2p_tls, multipart/form-data, rate limits.
 * See http.h.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "http.h"

#define DEF_MAX_HEADER	8192
#define DEF_MAX_BODY	65536
#define DEF_REQUEST_MS	10000
#define MP_MAX_LINES	16
#define RL_PROBE	8

struct p2p_http_server {
	uv_loop_t *loop;
	p2p_tls_listener *lis;
	p2p_http_opts opts;
	p2p_http_handler handler;
	void *arg;
	unsigned nconns;
	int closing;
};

enum { HS_URL, HS_FIELD, HS_VALUE };

struct p2p_http_conn {
	p2p_http_server *srv;
	p2p_tls_conn *tls;
	http_parser parser;
	char *hbuf;		/* url NUL name NUL value NUL ... */
	size_t hlen, hcap;
	size_t hraw;		/* header bytes received, against the limit */
	size_t url_len;
	struct {
		size_t name, value;
	} hdr[P2P_HTTP_MAX_HEADERS];
	size_t nhdr;
	int hstate;
	uint8_t *body;
	size_t blen, bcap;
	int error;		/* status to answer with, set by a callback */
	const char *why;	/* and the reason, for the log */
	int complete;		/* the whole request is in */
	int answered;		/* handed to the handler or answered */
	p2p_http_req *req;	/* held by the handler */
};

static void server_maybe_free(p2p_http_server *s);

/* ---- status texts and answers ---- */

const char *
p2p_http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static void
w_str(p2p_wbuf *w, const char *s)
{
	p2p_w_raw(w, s, strlen(s));
}

static void
w_fmt(p2p_wbuf *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
w_fmt(p2p_wbuf *w, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		w->err = P2P_WBUF_RANGE;
		return;
	}
	p2p_w_raw(w, line, (size_t)n);
}

/* Send a whole answer on hc and close the connection. */
static int
conn_send(struct p2p_http_conn *hc, int status, const char *ctype,
    const void *body, size_t len, const p2p_wbuf *extra, int head)
{
	char date[64], why[48];
	time_t now = time(NULL);
	struct tm tm;
	p2p_wbuf w;
	int rc;

	if (status < 100 || status > 599)
		status = 500;
	hc->answered = 1;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	p2p_w_init(&w, 256 + len);
	w_fmt(&w, "HTTP/1.1 %d %s\r\n", status, p2p_http_status_text(status));
	w_fmt(&w, "Date: %s\r\n", date);
	if (ctype != NULL)
		w_fmt(&w, "Content-Type: %s\r\n", ctype);
	w_fmt(&w, "Content-Length: %zu\r\nConnection: close\r\n", len);
	if (extra != NULL && extra->len > 0)
		p2p_w_raw(&w, extra->p, extra->len);
	w_str(&w, "\r\n");
	if (!head && len > 0)
		p2p_w_raw(&w, body, len);
	rc = -1;
	if (p2p_w_ok(&w))
		rc = p2p_tls_write(hc->tls, w.p, w.len);
	p2p_w_free(&w);
	snprintf(why, sizeof(why), "answered %d", status);
	p2p_tls_close_reason(hc->tls, why);
	return rc;
}

/* Refuse the request by ourselves, telling the log callback. */
static void
conn_error(struct p2p_http_conn *hc, int status, const char *why)
{
	const p2p_http_opts *o = &hc->srv->opts;
	char body[64];
	p2p_wbuf extra;

	if (hc->answered)
		return;
	if (o->log != NULL)
		o->log(o->log_arg, status, p2p_tls_conn_peer_ip(hc->tls), why);
	p2p_w_init(&extra, 0);
	if (status == 429)
		w_str(&extra, "Retry-After: 1\r\n");
	snprintf(body, sizeof(body), "%d %s\n", status,
	    p2p_http_status_text(status));
	(void)conn_send(hc, status, "text/plain", body, strlen(body), &extra,
	    0);
	p2p_w_free(&extra);
}

/* ---- parser callbacks ---- */

/* Stop the parser: answer status, for the reason why. */
static int
hc_fail(struct p2p_http_conn *hc, int status, const char *why)
{
	hc->error = status;
	hc->why = why;
	return -1;
}

static int
hb_append(struct p2p_http_conn *hc, const char *at, size_t len, int status)
{
	size_t max = hc->srv->opts.max_header;

	if (len > max - hc->hraw || hc->hlen + len >= hc->hcap)
		return hc_fail(hc, status, status == 414 ?
		    "request line too long" : "header block too large");
	memcpy(hc->hbuf + hc->hlen, at, len);
	hc->hlen += len;
	hc->hraw += len;
	return 0;
}

static int
hb_nul(struct p2p_http_conn *hc)
{
	if (hc->hlen + 1 >= hc->hcap)
		return hc_fail(hc, 431, "header block too large");
	hc->hbuf[hc->hlen++] = '\0';
	return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct p2p_http_conn *hc = p->data;

	if (hb_append(hc, at, len, 414) != 0)
		return -1;
	hc->url_len += len;
	return 0;
}

/* End what is being collected (url, name or value). */
static int
hb_end_item(struct p2p_http_conn *hc)
{
	if (hc->hstate == HS_FIELD) {
		/* a name with no value */
		if (hb_nul(hc) != 0)
			return -1;
		hc->hdr[hc->nhdr - 1].value = hc->hlen;
	}
	return hb_nul(hc);
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct p2p_http_conn *hc = p->data;

	if (hc->hstate != HS_FIELD) {
		if (hb_nul(hc) != 0)
			return -1;
		if (hc->nhdr == P2P_HTTP_MAX_HEADERS)
			return hc_fail(hc, 431, "too many header fields");
		hc->hdr[hc->nhdr++].name = hc->hlen;
		hc->hstate = HS_FIELD;
	}
	return hb_append(hc, at, len, 431);
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct p2p_http_conn *hc = p->data;

	if (hc->hstate == HS_URL)
		return hc_fail(hc, 400, "header value without a name");
	if (hc->hstate == HS_FIELD) {
		if (hb_nul(hc) != 0)
			return -1;
		hc->hdr[hc->nhdr - 1].value = hc->hlen;
		hc->hstate = HS_VALUE;
	}
	return hb_append(hc, at, len, 431);
}

/* A collected header's value, before trimming; NULL if absent. */
static const char *
hc_header(const struct p2p_http_conn *hc, const char *name)
{
	size_t i;

	for (i = 0; i < hc->nhdr; i++)
		if (strcasecmp(hc->hbuf + hc->hdr[i].name, name) == 0)
			return hc->hbuf + hc->hdr[i].value;
	return NULL;
}

static int
on_headers_complete(http_parser *p)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct p2p_http_conn *hc = p->data;
	const char *v;

	if (hb_end_item(hc) != 0)
		return -1;
	if (p->content_length != ULLONG_MAX &&
	    p->content_length > hc->srv->opts.max_body)
		return hc_fail(hc, 413, "Content-Length over the body limit");
	/* a client that waits for permission to send its body gets it */
	if ((v = hc_header(hc, "Expect")) != NULL) {
		while (*v == ' ' || *v == '\t')
			v++;
		if (strncasecmp(v, "100-continue", 12) != 0)
			return hc_fail(hc, 417, "unsupported Expect");
		if (p->http_major == 1 && p->http_minor >= 1 &&
		    p2p_tls_write(hc->tls, cont, sizeof(cont) - 1) != 0)
			return -1;
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct p2p_http_conn *hc = p->data;
	size_t max = hc->srv->opts.max_body, ncap;
	uint8_t *nb;

	if (len > max - hc->blen)
		return hc_fail(hc, 413, "body over the limit");
	if (hc->blen + len > hc->bcap) {
		ncap = hc->bcap == 0 ? 4096 : hc->bcap * 2;
		while (ncap < hc->blen + len)
			ncap *= 2;
		if (ncap > max)
			ncap = max;
		if ((nb = realloc(hc->body, ncap)) == NULL)
			return hc_fail(hc, 500, "out of memory");
		hc->body = nb;
		hc->bcap = ncap;
	}
	memcpy(hc->body + hc->blen, at, len);
	hc->blen += len;
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct p2p_http_conn *hc = p->data;

	hc->complete = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- requests ---- */

static void
trim(const char **s)
{
	const char *v = *s;
	char *e;

	while (*v == ' ' || *v == '\t')
		v++;
	e = (char *)v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	*s = v;
}

static char *
mem_put(char **cur, const char *s, size_t n)
{
	char *start = *cur;

	if (n > 0)
		memcpy(start, s, n);
	start[n] = '\0';
	*cur = start + n + 1;
	return start;
}

/* Build the request from what the parser collected; NULL if the URL is
 * not acceptable (*status set) or out of memory. */
static p2p_http_req *
req_build(struct p2p_http_conn *hc, int *status)
{
	struct http_parser_url u;
	const char *url = hc->hbuf, *peer, *ip;
	const char *path = "/", *query = "";
	size_t plen = 1, qlen = 0, total, i;
	p2p_http_header *h;
	p2p_http_req *req;
	char *cur;

	*status = 400;
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, hc->url_len,
	    hc->parser.method == HTTP_CONNECT, &u) != 0)
		return NULL;
	if (u.field_set & (1 << UF_PATH)) {
		path = url + u.field_data[UF_PATH].off;
		plen = u.field_data[UF_PATH].len;
	}
	if (u.field_set & (1 << UF_QUERY)) {
		query = url + u.field_data[UF_QUERY].off;
		qlen = u.field_data[UF_QUERY].len;
	}
	*status = 500;
	peer = p2p_tls_conn_peer(hc->tls);
	ip = p2p_tls_conn_peer_ip(hc->tls);
	total = hc->hlen + plen + qlen + strlen(peer) + strlen(ip) +
	    hc->blen + 5;
	if ((req = calloc(1, sizeof(*req) +
	    hc->nhdr * sizeof(p2p_http_header))) == NULL)
		return NULL;
	if ((req->mem = malloc(total)) == NULL) {
		free(req);
		return NULL;
	}
	h = (p2p_http_header *)(req + 1);
	memcpy(req->mem, hc->hbuf, hc->hlen);
	cur = req->mem + hc->hlen;
	req->path = mem_put(&cur, path, plen);
	req->query = mem_put(&cur, query, qlen);
	req->peer = mem_put(&cur, peer, strlen(peer));
	req->peer_ip = mem_put(&cur, ip, strlen(ip));
	req->body = (const uint8_t *)mem_put(&cur, (const char *)hc->body,
	    hc->blen);
	req->body_len = hc->blen;
	for (i = 0; i < hc->nhdr; i++) {
		h[i].name = req->mem + hc->hdr[i].name;
		h[i].value = req->mem + hc->hdr[i].value;
		trim(&h[i].value);
	}
	req->headers = h;
	req->nheaders = hc->nhdr;
	req->method = http_method_str(hc->parser.method);
	p2p_w_init(&req->extra, 0);
	return req;
}

static void
req_free(p2p_http_req *req)
{
	p2p_w_free(&req->extra);
	free(req->mem);
	free(req);
}

static void
conn_dispatch(struct p2p_http_conn *hc)
{
	p2p_http_server *s = hc->srv;
	p2p_http_req *req;
	int status;

	p2p_tls_conn_set_timeout(hc->tls, 0);
	if (s->opts.ratelimit != NULL &&
	    !p2p_ratelimit_allow(s->opts.ratelimit,
	    p2p_tls_conn_peer_ip(hc->tls), uv_now(s->loop))) {
		conn_error(hc, 429, "over the rate limit");
		return;
	}
	if ((req = req_build(hc, &status)) == NULL) {
		conn_error(hc, status, status == 400 ? "malformed URL" :
		    "out of memory");
		return;
	}
	hc->answered = 1;
	req->conn = hc;
	hc->req = req;
	free(hc->hbuf);
	free(hc->body);
	hc->hbuf = NULL;
	hc->body = NULL;
	s->handler(req, s->arg);
}

const char *
p2p_http_req_header(const p2p_http_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

int
p2p_http_req_alive(const p2p_http_req *req)
{
	return req->conn != NULL;
}

static int
header_ok(const char *s, int is_name)
{
	if (*s == '\0' && is_name)
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			if (is_name || ch != '\t')
				return 0;
		if (is_name && (ch == ':' || ch == ' '))
			return 0;
	}
	return 1;
}

int
p2p_http_add_header(p2p_http_req *req, const char *name, const char *value)
{
	if (!header_ok(name, 1) || !header_ok(value, 0))
		return -1;
	w_str(&req->extra, name);
	w_str(&req->extra, ": ");
	w_str(&req->extra, value);
	w_str(&req->extra, "\r\n");
	return p2p_w_ok(&req->extra) ? 0 : -1;
}

int
p2p_http_respond(p2p_http_req *req, int status, const char *content_type,
    const void *body, size_t len)
{
	struct p2p_http_conn *hc = req->conn;
	int rc = -1;

	if (content_type != NULL && !header_ok(content_type, 0))
		content_type = "application/octet-stream";
	if (hc != NULL) {
		hc->req = NULL;
		if (!p2p_w_ok(&req->extra))
			rc = conn_send(hc, 500, NULL, NULL, 0, NULL, 0);
		else
			rc = conn_send(hc, status, content_type, body, len,
			    &req->extra, strcmp(req->method, "HEAD") == 0);
	}
	req_free(req);
	return rc;
}

/* ---- connections ---- */

static void
hc_read(p2p_tls_conn *c, const uint8_t *data, size_t len)
{
	struct p2p_http_conn *hc = p2p_tls_conn_data(c);

	if (hc->answered)
		return;
	(void)http_parser_execute(&hc->parser, &parser_settings,
	    (const char *)data, len);
	if (hc->error != 0)
		conn_error(hc, hc->error, hc->why);
	else if (hc->complete)
		conn_dispatch(hc);
	else if (HTTP_PARSER_ERRNO(&hc->parser) != HPE_OK)
		conn_error(hc, 400, http_errno_description(
		    HTTP_PARSER_ERRNO(&hc->parser)));
}

static void
hc_timeout(p2p_tls_conn *c)
{
	struct p2p_http_conn *hc = p2p_tls_conn_data(c);

	conn_error(hc, 408, "request not complete in time");
}

static void
hc_close(p2p_tls_conn *c, const char *reason)
{
	struct p2p_http_conn *hc = p2p_tls_conn_data(c);
	p2p_http_server *s = hc->srv;

	(void)reason;
	if (hc->req != NULL)
		hc->req->conn = NULL;
	free(hc->hbuf);
	free(hc->body);
	free(hc);
	s->nconns--;
	server_maybe_free(s);
}

static const p2p_tls_cbs hc_cbs = {
	.on_read = hc_read,
	.on_timeout = hc_timeout,
	.on_close = hc_close,
};

static void
server_accept(p2p_tls_listener *l, p2p_tls_conn *c, void *arg)
{
	p2p_http_server *s = arg;
	struct p2p_http_conn *hc;

	(void)l;
	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		p2p_tls_close(c);
		return;
	}
	hc->hcap = s->opts.max_header + 2 * P2P_HTTP_MAX_HEADERS + 4;
	if ((hc->hbuf = malloc(hc->hcap)) == NULL) {
		free(hc);
		p2p_tls_close(c);
		return;
	}
	hc->srv = s;
	hc->tls = c;
	http_parser_init(&hc->parser, HTTP_REQUEST);
	hc->parser.data = hc;
	s->nconns++;
	p2p_tls_conn_set_cbs(c, &hc_cbs, hc);
	p2p_tls_conn_set_timeout(c, s->opts.request_ms);
}

int
p2p_http_server_start(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *ip,
    int port, const p2p_http_opts *opts, p2p_http_handler h, void *arg,
    p2p_http_server **out)
{
	p2p_http_server *s;
	int rc;

	*out = NULL;
	if (h == NULL)
		return UV_EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return UV_ENOMEM;
	if (opts != NULL)
		s->opts = *opts;
	if (s->opts.max_header == 0)
		s->opts.max_header = DEF_MAX_HEADER;
	if (s->opts.max_body == 0)
		s->opts.max_body = DEF_MAX_BODY;
	if (s->opts.request_ms == 0)
		s->opts.request_ms = DEF_REQUEST_MS;
	s->loop = loop;
	s->handler = h;
	s->arg = arg;
	if ((rc = p2p_tls_listen(loop, ctx, ip, port, server_accept, s,
	    &s->lis)) != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int
p2p_http_server_port(const p2p_http_server *s)
{
	return p2p_tls_listener_port(s->lis);
}

static void
server_maybe_free(p2p_http_server *s)
{
	if (s->closing && s->nconns == 0)
		free(s);
}

void
p2p_http_server_close(p2p_http_server *s)
{
	if (s == NULL || s->closing)
		return;
	s->closing = 1;
	p2p_tls_listener_close(s->lis);
	server_maybe_free(s);
}

/* ---- multipart/form-data ---- */

static int
ci_prefix(const uint8_t *p, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp((const char *)p, word, n) == 0;
}

static int
is_bchar(int ch)
{
	return isalnum(ch) || strchr("'()+_,-./:=? ", ch) != NULL;
}

/*
 * Take the next parameter "; key=value" from s (ASCII, NUL-terminated or
 * bounded by end). Returns 1 with key and value set, 0 at the end, -1 on
 * bad syntax. Quoted values are returned without the quotes.
 */
static int
param_next(const uint8_t **sp, const uint8_t *end, p2p_bytes *key,
    p2p_bytes *val)
{
	const uint8_t *s = *sp, *q;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return 0;
	if (*s != ';')
		return -1;
	s++;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	key->p = s;
	while (s < end && *s != '=' && *s != ';' && *s != ' ')
		s++;
	key->len = (size_t)(s - key->p);
	if (key->len == 0 || s == end || *s != '=')
		return -1;
	s++;
	if (s < end && *s == '"') {
		q = memchr(s + 1, '"', (size_t)(end - s - 1));
		if (q == NULL)
			return -1;
		val->p = s + 1;
		val->len = (size_t)(q - s - 1);
		s = q + 1;
	} else {
		val->p = s;
		while (s < end && *s != ';' && *s != ' ' && *s != '\t')
			s++;
		val->len = (size_t)(s - val->p);
		if (val->len == 0)
			return -1;
	}
	*sp = s;
	return 1;
}

static int
key_is(p2p_bytes k, const char *word)
{
	return k.len == strlen(word) &&
	    strncasecmp((const char *)k.p, word, k.len) == 0;
}

static int
mp_boundary(const char *ctype, p2p_bytes *b, p2p_err *err)
{
	const uint8_t *s = (const uint8_t *)ctype, *end;
	p2p_bytes k, v;
	size_t i;
	int r;

	b->p = NULL;
	b->len = 0;
	if (ctype == NULL) {
		p2p_err_set(err, 0, "no Content-Type", 0);
		return -1;
	}
	end = s + strlen(ctype);
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (!ci_prefix(s, (size_t)(end - s), "multipart/form-data")) {
		p2p_err_set(err, 0, "not multipart/form-data", 0);
		return -1;
	}
	s += strlen("multipart/form-data");
	while ((r = param_next(&s, end, &k, &v)) == 1)
		if (key_is(k, "boundary"))
			*b = v;
	if (r < 0) {
		p2p_err_set(err, 0, "bad Content-Type parameters",
		    (size_t)(s - (const uint8_t *)ctype));
		return -1;
	}
	if (b->p == NULL || b->len == 0 || b->len > 70 ||
	    b->p[b->len - 1] == ' ') {
		p2p_err_set(err, 0, "missing or bad multipart boundary", 0);
		return -1;
	}
	for (i = 0; i < b->len; i++)
		if (!is_bchar(b->p[i])) {
			p2p_err_set(err, 0, "bad character in boundary", 0);
			return -1;
		}
	return 0;
}

/* Find "\r\n--boundary" in [p, end); NULL if absent. */
static const uint8_t *
mp_find_delim(const uint8_t *p, const uint8_t *end, p2p_bytes b)
{
	const uint8_t *q;

	while (p < end && (size_t)(end - p) >= b.len + 4) {
		q = memchr(p, '\r', (size_t)(end - p));
		if (q == NULL || (size_t)(end - q) < b.len + 4)
			return NULL;
		if (q[1] == '\n' && q[2] == '-' && q[3] == '-' &&
		    memcmp(q + 4, b.p, b.len) == 0)
			return q;
		p = q + 1;
	}
	return NULL;
}

/* Content-Disposition: form-data; name="..."; filename="..." */
static int
mp_disposition(const uint8_t *v, const uint8_t *end, p2p_http_part *part)
{
	p2p_bytes k, val;
	int r, have_name = 0;

	if (!ci_prefix(v, (size_t)(end - v), "form-data"))
		return -1;
	v += strlen("form-data");
	while ((r = param_next(&v, end, &k, &val)) == 1) {
		if (key_is(k, "name")) {
			if (have_name)
				return -1;
			have_name = 1;
			part->name = val;
		} else if (key_is(k, "filename")) {
			part->filename = val;
		}
	}
	if (r < 0 || !have_name || part->name.len == 0)
		return -1;
	return 0;
}

/* One header line [p, eol) of a part. */
static int
mp_header(const uint8_t *p, const uint8_t *eol, p2p_http_part *part,
    int *have_cd)
{
	const uint8_t *colon = memchr(p, ':', (size_t)(eol - p)), *v;

	if (colon == NULL || colon == p)
		return -1;
	v = colon + 1;
	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
		eol--;
	if (key_is((p2p_bytes){ p, (size_t)(colon - p) },
	    "Content-Disposition")) {
		if (*have_cd || mp_disposition(v, eol, part) != 0)
			return -1;
		*have_cd = 1;
	} else if (key_is((p2p_bytes){ p, (size_t)(colon - p) },
	    "Content-Type")) {
		part->content_type.p = v;
		part->content_type.len = (size_t)(eol - v);
	}
	return 0;
}

/* The part headers from *pp up to and including the empty line. */
static int
mp_headers(const uint8_t **pp, const uint8_t *end, p2p_http_part *part,
    p2p_err *err, const uint8_t *base)
{
	const uint8_t *p = *pp, *eol;
	int lines = 0, have_cd = 0;

	for (;;) {
		eol = NULL;
		if (p < end)
			eol = memchr(p, '\r', (size_t)(end - p));
		if (eol == NULL || end - eol < 2 || eol[1] != '\n') {
			p2p_err_set(err, 0, "truncated part headers",
			    (size_t)(p - base));
			return -1;
		}
		if (eol == p)
			break;
		if (++lines > MP_MAX_LINES ||
		    mp_header(p, eol, part, &have_cd) != 0) {
			p2p_err_set(err, 0, "bad part header",
			    (size_t)(p - base));
			return -1;
		}
		p = eol + 2;
	}
	if (!have_cd) {
		p2p_err_set(err, 0, "part without form-data disposition",
		    (size_t)(p - base));
		return -1;
	}
	*pp = p + 2;
	return 0;
}

/* Walk the body; fill parts when not NULL. Returns the count or -1. */
static long
mp_walk(p2p_bytes body, p2p_bytes b, p2p_http_part *parts, size_t max,
    p2p_err *err)
{
	const uint8_t *base = body.p, *end = body.p + body.len, *p, *d;
	p2p_http_part part;
	size_t n = 0;

	/* the first delimiter opens the body or follows a preamble line */
	if (body.len >= b.len + 2 && base[0] == '-' && base[1] == '-' &&
	    memcmp(base + 2, b.p, b.len) == 0)
		p = base;
	else if ((d = mp_find_delim(base, end, b)) != NULL)
		p = d + 2;
	else {
		p2p_err_set(err, 0, "no multipart boundary in body", 0);
		return -1;
	}
	for (;;) {
		p += 2 + b.len;	/* past "--boundary" */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break;	/* closing delimiter; the rest is epilogue */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
			p2p_err_set(err, 0, "bad or truncated delimiter",
			    (size_t)(p - base));
			return -1;
		}
		p += 2;
		memset(&part, 0, sizeof(part));
		if (mp_headers(&p, end, &part, err, base) != 0)
			return -1;
		/* the CRLF before the next delimiter belongs to it */
		if ((d = mp_find_delim(p, end, b)) == NULL) {
			p2p_err_set(err, 0, "truncated part",
			    (size_t)(p - base));
			return -1;
		}
		part.data.p = p;
		part.data.len = (size_t)(d - p);
		if (n == max) {
			p2p_err_set(err, 0, "too many parts",
			    (size_t)(p - base));
			return -1;
		}
		if (parts != NULL)
			parts[n] = part;
		n++;
		p = d + 2;
	}
	if (n == 0) {
		p2p_err_set(err, 0, "multipart body without parts", 0);
		return -1;
	}
	return (long)n;
}

int
p2p_multipart_parse(p2p_bytes body, const char *content_type,
    size_t max_parts, p2p_arena *a, p2p_multipart *out, p2p_err *err)
{
	p2p_bytes b;
	long n;

	out->parts = NULL;
	out->nparts = 0;
	if (mp_boundary(content_type, &b, err) != 0)
		return -1;
	if (body.p == NULL && body.len > 0) {
		p2p_err_set(err, 0, "no body", 0);
		return -1;
	}
	if ((n = mp_walk(body, b, NULL, max_parts, err)) < 0)
		return -1;
	if ((out->parts = p2p_arena_array(a, (size_t)n,
	    sizeof(p2p_http_part))) == NULL) {
		p2p_err_set(err, 0, "arena exhausted", 0);
		return -1;
	}
	if (mp_walk(body, b, out->parts, max_parts, err) != n) {
		out->parts = NULL;
		return -1;
	}
	out->nparts = (size_t)n;
	return 0;
}

const p2p_http_part *
p2p_multipart_get(const p2p_multipart *m, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].name.len == n &&
		    memcmp(m->parts[i].name.p, name, n) == 0)
			return &m->parts[i];
	return NULL;
}

/* ---- rate limiting ---- */

struct rl_slot {
	char key[48];
	double tokens;
	uint64_t last_ms;
	int used;
};

struct p2p_ratelimit {
	double rate;	/* tokens per millisecond */
	double burst;
	size_t nslots;
	struct rl_slot *slots;
};

p2p_ratelimit *
p2p_ratelimit_new(double rate, double burst, size_t slots)
{
	p2p_ratelimit *rl;

	if (!(rate >= 0) || !(burst >= 1) || slots == 0)
		return NULL;
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	if ((rl->slots = calloc(slots, sizeof(*rl->slots))) == NULL) {
		free(rl);
		return NULL;
	}
	rl->rate = rate / 1000.0;
	rl->burst = burst;
	rl->nslots = slots;
	return rl;
}

void
p2p_ratelimit_free(p2p_ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slots);
	free(rl);
}

static size_t
rl_hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key != '\0'; key++)
		h = (h ^ (uint8_t)*key) * 16777619u;
	return h;
}

int
p2p_ratelimit_allow(p2p_ratelimit *rl, const char *key, uint64_t now_ms)
{
	struct rl_slot *s, *victim = NULL;
	size_t i, h = rl_hash(key), probe;

	probe = rl->nslots < RL_PROBE ? rl->nslots : RL_PROBE;
	for (i = 0; i < probe; i++) {
		s = &rl->slots[(h + i) % rl->nslots];
		if (s->used && strncmp(s->key, key, sizeof(s->key) - 1) == 0)
			break;
		if (victim == NULL || !s->used ||
		    (victim->used && s->last_ms < victim->last_ms))
			victim = s;
	}
	if (i == probe) {
		s = victim;
		s->used = 1;
		snprintf(s->key, sizeof(s->key), "%s", key);
		s->tokens = rl->burst;
		s->last_ms = now_ms;
	}
	if (now_ms > s->last_ms) {
		s->tokens += (double)(now_ms - s->last_ms) * rl->rate;
		if (s->tokens > rl->burst)
			s->tokens = rl->burst;
	}
	s->last_ms = now_ms > s->last_ms ? now_ms : s->last_ms;
	if (s->tokens < 1)
		return 0;
	s->tokens -= 1;
	return 1;
}
