/*
 * http: a small HTTP/1.1 server over p2p_tls, with a multipart/form-data
 * parser and a per-address rate limiter.
 *
 * Requests are parsed with http_parser. Each connection carries one
 * request: the answer always says "Connection: close" and the connection
 * is closed once it is sent. The server answers by itself, without calling
 * the handler, on a malformed request (400), a URL or header block over
 * the limit (414, 431), a body over the limit (413), a request not
 * complete within the time limit (408) and a client over its rate (429).
 *
 * The handler owns the request it is given until it answers it with
 * p2p_http_respond, which it must do exactly once, at once or later from
 * the loop. If the client went away in the meantime the answer is dropped
 * and the request freed all the same.
 */
#ifndef P2P_HTTP_H
#define P2P_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "msg.h"
#include "tls.h"

#define P2P_HTTP_MAX_HEADERS	64

typedef struct p2p_http_server p2p_http_server;
typedef struct p2p_ratelimit p2p_ratelimit;
struct p2p_http_conn;

typedef struct p2p_http_header {
	const char *name;	/* as sent */
	const char *value;	/* leading and trailing blanks removed */
} p2p_http_header;

typedef struct p2p_http_req {
	const char *method;	/* "GET", "POST", ... */
	const char *path;	/* without the query; not percent-decoded */
	const char *query;	/* after '?', "" if none */
	const p2p_http_header *headers;
	size_t nheaders;
	const uint8_t *body;	/* body bytes (NUL-terminated past len) */
	size_t body_len;
	const char *peer;	/* client "ip:port" */
	const char *peer_ip;
	/* private */
	struct p2p_http_conn *conn;	/* NULL once the client is gone */
	p2p_wbuf extra;		/* headers added by p2p_http_add_header */
	char *mem;
} p2p_http_req;

typedef void (*p2p_http_handler)(p2p_http_req *req, void *arg);

/*
 * Told once of each request the server refuses by itself (400, 408, 413,
 * 414, 417, 429, 431, and 500 when it runs out of memory), as the answer
 * goes out: the status, the client's IP address and a short reason.
 */
typedef void (*p2p_http_log_cb)(void *arg, int status, const char *peer_ip,
    const char *reason);

typedef struct p2p_http_opts {
	size_t max_header;	/* request line + headers; 0: 8 KiB */
	size_t max_body;	/* 0: 64 KiB */
	unsigned request_ms;	/* whole request, after the handshake;
				   0: 10000 */
	p2p_ratelimit *ratelimit;	/* optional, borrowed */
	p2p_http_log_cb log;	/* optional */
	void *log_arg;
} p2p_http_opts;

/*
 * Serve HTTPS on ip:port with ctx (a server context). Returns 0 or a
 * negative libuv error code.
 */
int p2p_http_server_start(uv_loop_t *loop, p2p_tls_ctx *ctx, const char *ip,
    int port, const p2p_http_opts *opts, p2p_http_handler h, void *arg,
    p2p_http_server **out);
int p2p_http_server_port(const p2p_http_server *s);
/* Stop listening and close every connection; the server is freed once
 * they are gone. Requests still held by the handler stay valid. */
void p2p_http_server_close(p2p_http_server *s);

/* Case-insensitive header lookup; NULL if absent. */
const char *p2p_http_req_header(const p2p_http_req *req, const char *name);
/* Whether the client is still there to be answered. */
int p2p_http_req_alive(const p2p_http_req *req);
/* Add a header to the coming answer; -1 if name or value is not
 * acceptable (control characters, ':' in the name). */
int p2p_http_add_header(p2p_http_req *req, const char *name,
    const char *value);
/* Answer and free the request. content_type may be NULL when len is 0.
 * Returns 0, or -1 if the answer could not be sent (the request is freed
 * either way). */
int p2p_http_respond(p2p_http_req *req, int status, const char *content_type,
    const void *body, size_t len);
/* Standard reason phrase for status ("Not Found"), "Unknown" otherwise. */
const char *p2p_http_status_text(int status);

/*
 * multipart/form-data (RFC 7578). The boundary is taken from the
 * Content-Type header value. Parts point into body, which must outlive
 * them; the array comes from the arena. Fails on a missing or bad
 * boundary, a part without a form-data Content-Disposition and name, a
 * missing closing delimiter, or more than max_parts parts.
 */
typedef struct p2p_http_part {
	p2p_bytes name;
	p2p_bytes filename;	/* len 0 if none */
	p2p_bytes content_type;	/* len 0 if none (text/plain) */
	p2p_bytes data;
} p2p_http_part;

typedef struct p2p_multipart {
	p2p_http_part *parts;
	size_t nparts;
} p2p_multipart;

int p2p_multipart_parse(p2p_bytes body, const char *content_type,
    size_t max_parts, p2p_arena *a, p2p_multipart *out, p2p_err *err);
/* The first part called name, or NULL. */
const p2p_http_part *p2p_multipart_get(const p2p_multipart *m,
    const char *name);

/*
 * Token buckets keyed by client address: each key may spend burst
 * requests at once and gets rate new ones a second. The table holds at
 * most slots keys; when it is full the least recently seen key nearby is
 * forgotten.
 */
p2p_ratelimit *p2p_ratelimit_new(double rate, double burst, size_t slots);
void p2p_ratelimit_free(p2p_ratelimit *rl);
/* 1 if key may go ahead now (a token is spent), 0 if over its rate. */
int p2p_ratelimit_allow(p2p_ratelimit *rl, const char *key, uint64_t now_ms);

#endif
