/*
 * control: JSON-RPC 2.0 over a Unix socket. The server half runs on the
 * node's libuv loop; the client half is a blocking call for the tools.
 *
 * Lifetimes on the server: a connection (conn) holds one reference for its
 * open handle and one for every request a handler still holds; it is freed
 * when the last one goes. The server holds one reference for its listener
 * and one for every conn alive, so a request answered long after the
 * client left, or after the server stopped, still finds valid memory and
 * its answer is simply dropped.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

#define READ_CHUNK	(64 * 1024)
#define MAX_OUTQ	(16u * 1024 * 1024)	/* unsent bytes per conn */
#define CLIENT_MAX_LINE	(64u * 1024 * 1024)
#define MSG_MAX		200	/* longest text quoted in a reply */

typedef struct ctl_method {
	char *name;
	p2p_ctl_handler fn;
	void *user;
	struct ctl_method *next;
} ctl_method;

typedef struct ctl_conn {
	p2p_ctl_server *srv;
	uv_pipe_t pipe;
	uv_shutdown_t shut;
	struct ctl_conn *prev, *next;
	char *in;
	size_t inlen, incap, scanned;
	unsigned pending;
	unsigned refs;
	int state;		/* CONN_* */
	unsigned long uid;
} ctl_conn;

enum { CONN_OPEN, CONN_DRAINING, CONN_CLOSING };

struct p2p_ctl_server {
	uv_loop_t *loop;
	uv_pipe_t listener;
	char *path;
	int lockfd;
	dev_t dev;
	ino_t ino;
	size_t max_line;
	unsigned max_conns, max_pending;
	void (*log)(void *, int, const char *);
	void *log_user;
	ctl_method *methods;
	ctl_conn *conns;
	unsigned nconns;
	unsigned refs;
	int stopping;
};

struct p2p_ctl_req {
	ctl_conn *c;
	json_t *msg;		/* the request; owns id and params */
	json_t *id;		/* NULL for a notification */
	json_t *own_params;	/* empty object when none was sent */
	const char *method;
};

typedef struct ctl_write {
	uv_write_t w;
	ctl_conn *c;
	char data[];
} ctl_write;

static void conn_close(ctl_conn *c);

/* ---- small helpers ------------------------------------------------------ */

static void
fmt_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
srv_log(p2p_ctl_server *s, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->log != NULL)
		s->log(s->log_user, level, line);
	else
		fprintf(stderr, "control: %s\n", line);
}

/* A JSON string from arbitrary bytes: at most MSG_MAX bytes, non-ASCII and
 * control bytes replaced so the result is always valid UTF-8. */
static json_t *
safe_string(const char *s)
{
	char tmp[MSG_MAX + 4];
	size_t i;
	json_t *j;

	if ((j = json_string(s)) != NULL && strlen(s) <= MSG_MAX)
		return j;
	json_decref(j);
	for (i = 0; s[i] != '\0' && i < MSG_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		tmp[i] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
	}
	if (s[i] != '\0') {
		memcpy(tmp + i, "...", 3);
		i += 3;
	}
	tmp[i] = '\0';
	return json_string(tmp);
}

/* ---- writing ------------------------------------------------------------ */

static void
on_write(uv_write_t *w, int status)
{
	ctl_write *cw = (ctl_write *)w;
	ctl_conn *c = cw->c;

	free(cw);
	if (status < 0 && status != UV_ECANCELED) {
		srv_log(c->srv, P2P_CTL_LOG_DEBUG, "write to client: %s",
		    uv_strerror(status));
		conn_close(c);
	}
}

/* Queue obj (borrowed) as one line. Returns 0, -1 if the connection is
 * unusable (now closed), -2 if obj cannot be encoded. */
static int
conn_send(ctl_conn *c, const json_t *obj)
{
	const size_t flags = JSON_COMPACT;
	uv_buf_t b;
	ctl_write *cw;
	size_t n;
	int rc;

	if (c->state != CONN_OPEN)
		return -1;
	if ((n = json_dumpb(obj, NULL, 0, flags)) == 0)
		return -2;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) + n >
	    MAX_OUTQ) {
		srv_log(c->srv, P2P_CTL_LOG_WARN,
		    "client is not reading its answers; disconnecting it");
		conn_close(c);
		return -1;
	}
	if ((cw = malloc(sizeof(*cw) + n + 1)) == NULL)
		return -2;
	if (json_dumpb(obj, cw->data, n, flags) != n) {
		free(cw);
		return -2;
	}
	cw->data[n] = '\n';
	cw->c = c;
	b = uv_buf_init(cw->data, (unsigned)(n + 1));
	if ((rc = uv_write(&cw->w, (uv_stream_t *)&c->pipe, &b, 1,
	    on_write)) != 0) {
		free(cw);
		srv_log(c->srv, P2P_CTL_LOG_DEBUG, "write: %s",
		    uv_strerror(rc));
		conn_close(c);
		return -1;
	}
	return 0;
}

static json_t *
make_error(const json_t *id, int code, const char *message, json_t *data)
{
	json_t *resp, *e;

	resp = json_object();
	e = json_object();
	if (resp == NULL || e == NULL) {
		json_decref(resp);
		json_decref(e);
		json_decref(data);
		return NULL;
	}
	json_object_set_new(e, "code", json_integer(code));
	json_object_set_new(e, "message", safe_string(message));
	if (data != NULL)
		json_object_set_new(e, "data", data);
	json_object_set_new(resp, "jsonrpc", json_string("2.0"));
	json_object_set_new(resp, "id",
	    id != NULL ? json_incref((json_t *)id) : json_null());
	json_object_set_new(resp, "error", e);
	return resp;
}

static int
send_error(ctl_conn *c, const json_t *id, int code, const char *message,
    json_t *data)
{
	json_t *resp;
	int rc;

	if ((resp = make_error(id, code, message, data)) == NULL)
		return -1;
	rc = conn_send(c, resp);
	json_decref(resp);
	return rc;
}

/* ---- connections --------------------------------------------------------- */

static void
server_unref(p2p_ctl_server *s)
{
	ctl_method *m;

	if (--s->refs > 0)
		return;
	while ((m = s->methods) != NULL) {
		s->methods = m->next;
		free(m->name);
		free(m);
	}
	free(s->path);
	free(s);
}

static void
conn_unref(ctl_conn *c)
{
	p2p_ctl_server *s = c->srv;

	if (--c->refs > 0)
		return;
	free(c->in);
	free(c);
	server_unref(s);
}

static void
conn_unlink(ctl_conn *c)
{
	p2p_ctl_server *s = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (s->conns == c)
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->nconns--;
}

static void
on_conn_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void
conn_close(ctl_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	conn_unlink(c);
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void
on_shutdown(uv_shutdown_t *sh, int status)
{
	conn_close(sh->data);
}

/* Stop taking requests, send the answers queued so far, then close. */
static void
conn_drain(ctl_conn *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_DRAINING;
	uv_read_stop((uv_stream_t *)&c->pipe);
	c->shut.data = c;
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->pipe, on_shutdown) != 0)
		conn_close(c);
}

static void
conn_refuse(ctl_conn *c, int code, const char *message)
{
	send_error(c, NULL, code, message, NULL);
	conn_drain(c);
}

/* ---- requests ------------------------------------------------------------ */

static ctl_method *
find_method(p2p_ctl_server *s, const char *name)
{
	ctl_method *m;

	for (m = s->methods; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static void
req_free(p2p_ctl_req *req)
{
	ctl_conn *c = req->c;

	json_decref(req->own_params);
	json_decref(req->msg);
	free(req);
	c->pending--;
	conn_unref(c);
}

/* Send the answer built around member key (value stolen) and free req. */
static int
req_finish(p2p_ctl_req *req, const char *key, json_t *value)
{
	ctl_conn *c = req->c;
	json_t *resp;
	int rc = -1;

	if (req->id == NULL || c->state != CONN_OPEN) {
		json_decref(value);
		req_free(req);
		return -1;
	}
	if ((resp = json_object()) != NULL) {
		json_object_set_new(resp, "jsonrpc", json_string("2.0"));
		json_object_set_new(resp, "id", json_incref(req->id));
		json_object_set_new(resp, key, value);
		rc = conn_send(c, resp);
		json_decref(resp);
	} else
		json_decref(value);
	if (rc == -2) {
		srv_log(c->srv, P2P_CTL_LOG_ERROR,
		    "%s: answer cannot be encoded as JSON", req->method);
		rc = send_error(c, req->id, P2P_CTL_INTERNAL_ERROR,
		    "internal error: answer cannot be encoded", NULL);
		rc = rc == 0 ? 0 : -1;
	}
	req_free(req);
	return rc;
}

int
p2p_ctl_reply(p2p_ctl_req *req, json_t *result)
{
	if (result == NULL)
		result = json_null();
	return req_finish(req, "result", result);
}

int
p2p_ctl_error(p2p_ctl_req *req, int code, const char *message,
    json_t *data)
{
	json_t *e;

	if ((e = json_object()) == NULL) {
		json_decref(data);
		req_free(req);
		return -1;
	}
	json_object_set_new(e, "code", json_integer(code));
	json_object_set_new(e, "message",
	    safe_string(message != NULL ? message : "error"));
	if (data != NULL)
		json_object_set_new(e, "data", data);
	return req_finish(req, "error", e);
}

int
p2p_ctl_notify(p2p_ctl_req *req, const char *method, json_t *params)
{
	json_t *n;
	int rc;

	if (req->c->state != CONN_OPEN || (n = json_object()) == NULL) {
		json_decref(params);
		return -1;
	}
	json_object_set_new(n, "jsonrpc", json_string("2.0"));
	json_object_set_new(n, "method", safe_string(method));
	if (params != NULL)
		json_object_set_new(n, "params", params);
	rc = conn_send(req->c, n);
	json_decref(n);
	return rc == 0 ? 0 : -1;
}

int
p2p_ctl_req_gone(const p2p_ctl_req *req)
{
	return req->c->state != CONN_OPEN;
}

const char *
p2p_ctl_req_method(const p2p_ctl_req *req)
{
	return req->method;
}

unsigned long
p2p_ctl_req_uid(const p2p_ctl_req *req)
{
	return req->c->uid;
}

/* Check the envelope of out->msg: 0, or the error code with out->error. */
static int
line_check(p2p_ctl_line *out)
{
	json_t *msg = out->msg, *id = NULL, *v;
	const char *why = NULL;

	if (json_is_array(msg))
		why = "batch requests are not supported";
	else if (!json_is_object(msg))
		why = "request is not a JSON object";
	else if ((id = json_object_get(msg, "id")) != NULL &&
	    !json_is_string(id) && !json_is_number(id) && !json_is_null(id))
		why = "id must be a string, a number or null";
	if (why != NULL)
		goto bad;
	out->id = id;
	v = json_object_get(msg, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
		why = "member \"jsonrpc\" must be \"2.0\"";
	else if (!json_is_string(json_object_get(msg, "method")))
		why = "member \"method\" must be a string";
	else if ((v = json_object_get(msg, "params")) != NULL &&
	    !json_is_object(v) && !json_is_array(v))
		why = "member \"params\" must be an object or an array";
	if (why != NULL)
		goto bad;
	out->method = json_string_value(json_object_get(msg, "method"));
	out->params = v;
	return 0;
bad:
	snprintf(out->error, sizeof(out->error), "%s", why);
	return P2P_CTL_INVALID_REQUEST;
}

int
p2p_ctl_parse_line(const char *p, size_t len, p2p_ctl_line *out)
{
	json_error_t je;
	size_t i;

	memset(out, 0, sizeof(*out));
	while (len > 0 && p[len - 1] == '\r')
		len--;
	for (i = 0; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	if (i == len)
		return 1;
	out->msg = json_loadb(p, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    &je);
	if (out->msg == NULL) {
		snprintf(out->error, sizeof(out->error),
		    "parse error at column %d: %s", je.column, je.text);
		return P2P_CTL_PARSE_ERROR;
	}
	return line_check(out);
}

/* Run the handler of a well-formed request; takes pl->msg. */
static void
dispatch(ctl_conn *c, p2p_ctl_line *pl)
{
	p2p_ctl_server *s = c->srv;
	json_t *msg = pl->msg, *id = pl->id, *params = pl->params;
	const char *name = pl->method;
	p2p_ctl_req *req;
	ctl_method *m;
	char text[MSG_MAX + 64];

	if ((m = find_method(s, name)) == NULL) {
		if (id != NULL) {
			snprintf(text, sizeof(text), "unknown method \"%.*s\"",
			    MSG_MAX, name);
			send_error(c, id, P2P_CTL_METHOD_NOT_FOUND, text,
			    NULL);
		}
		json_decref(msg);
		return;
	}
	if (c->pending >= s->max_pending) {
		if (id != NULL)
			send_error(c, id, P2P_CTL_ERR_BUSY,
			    "too many requests in progress on this connection",
			    NULL);
		json_decref(msg);
		return;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		send_error(c, id, P2P_CTL_INTERNAL_ERROR, "out of memory",
		    NULL);
		json_decref(msg);
		return;
	}
	req->c = c;
	req->msg = msg;
	req->id = id;
	req->method = m->name;
	c->refs++;
	c->pending++;
	if (params == NULL) {
		if ((params = req->own_params = json_object()) == NULL) {
			p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR,
			    "out of memory", NULL);
			return;
		}
	}
	m->fn(req, params, m->user);
}

static void
handle_line(ctl_conn *c, const char *p, size_t len)
{
	p2p_ctl_line pl;
	int rc;

	if ((rc = p2p_ctl_parse_line(p, len, &pl)) == 1)
		return;
	if (rc < 0) {
		send_error(c, pl.id, rc, pl.error, NULL);
		json_decref(pl.msg);
		return;
	}
	dispatch(c, &pl);
}

static void
line_too_long(ctl_conn *c)
{
	p2p_ctl_server *s = c->srv;
	char text[128];

	srv_log(s, P2P_CTL_LOG_WARN,
	    "request longer than %zu bytes; closing the connection",
	    s->max_line);
	snprintf(text, sizeof(text), "request longer than %zu bytes",
	    s->max_line);
	send_error(c, NULL, P2P_CTL_INVALID_REQUEST, text,
	    json_pack("{s:I}", "max_line", (json_int_t)s->max_line));
	conn_drain(c);
}

/* Handle every complete line in the input buffer. */
static void
conn_process(ctl_conn *c)
{
	size_t start = 0, scan = c->scanned, end;
	char *nl;

	while (c->state == CONN_OPEN) {
		nl = memchr(c->in + scan, '\n', c->inlen - scan);
		if (nl == NULL)
			break;
		end = (size_t)(nl - c->in);
		if (end - start > c->srv->max_line) {
			line_too_long(c);
			return;
		}
		handle_line(c, c->in + start, end - start);
		start = scan = end + 1;
	}
	if (c->state != CONN_OPEN)
		return;
	memmove(c->in, c->in + start, c->inlen - start);
	c->inlen -= start;
	c->scanned = c->inlen;
	if (c->inlen > c->srv->max_line)
		line_too_long(c);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	ctl_conn *c = h->data;
	char *p;

	if (c->incap - c->inlen < READ_CHUNK) {
		if ((p = realloc(c->in, c->inlen + READ_CHUNK)) == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->in = p;
		c->incap = c->inlen + READ_CHUNK;
	}
	*buf = uv_buf_init(c->in + c->inlen,
	    (unsigned)(c->incap - c->inlen));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	ctl_conn *c = st->data;

	if (nread < 0) {
		if (nread != UV_EOF)
			srv_log(c->srv, P2P_CTL_LOG_DEBUG, "read: %s",
			    uv_strerror((int)nread));
		conn_close(c);
		return;
	}
	if (nread == 0 || c->state != CONN_OPEN)
		return;
	c->inlen += (size_t)nread;
	conn_process(c);
	/* Keep an idle connection from pinning a large buffer. */
	if (c->inlen == 0 && c->incap > 4 * READ_CHUNK) {
		free(c->in);
		c->in = NULL;
		c->incap = 0;
	}
}

/* ---- accepting ----------------------------------------------------------- */

static int
peer_uid(uv_pipe_t *p, unsigned long *uid)
{
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)p, &fd) != 0)
		return -1;
#ifdef SO_PEERCRED
	{
		struct ucred cr;
		socklen_t len = sizeof(cr);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
			return -1;
		*uid = cr.uid;
	}
#else
	{
		uid_t u;
		gid_t g;

		if (getpeereid(fd, &u, &g) == -1)
			return -1;
		*uid = u;
	}
#endif
	return 0;
}

static void
on_connection(uv_stream_t *l, int status)
{
	p2p_ctl_server *s = l->data;
	ctl_conn *c;
	unsigned long me = (unsigned long)geteuid();
	int full, rc;

	if (status < 0) {
		srv_log(s, P2P_CTL_LOG_WARN, "accept: %s", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		srv_log(s, P2P_CTL_LOG_ERROR, "accept: out of memory");
		return;
	}
	c->srv = s;
	c->refs = 1;
	c->state = CONN_OPEN;
	uv_pipe_init(s->loop, &c->pipe, 0);
	c->pipe.data = c;
	s->refs++;
	full = s->nconns >= s->max_conns;
	s->nconns++;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	if ((rc = uv_accept(l, (uv_stream_t *)&c->pipe)) != 0) {
		srv_log(s, P2P_CTL_LOG_WARN, "accept: %s", uv_strerror(rc));
		conn_close(c);
		return;
	}
	if (peer_uid(&c->pipe, &c->uid) == -1) {
		srv_log(s, P2P_CTL_LOG_WARN,
		    "cannot read the credentials of a client: %s",
		    strerror(errno));
		conn_close(c);
		return;
	}
	/* root may always: it can do anything to the node anyway */
	if (c->uid != me && c->uid != 0) {
		srv_log(s, P2P_CTL_LOG_WARN,
		    "refused a client running as uid %lu (only uid %lu and "
		    "root may control this node)", c->uid, me);
		conn_refuse(c, P2P_CTL_ERR_DENIED,
		    "permission denied: the node accepts only its own user");
		return;
	}
	if (full) {
		srv_log(s, P2P_CTL_LOG_WARN,
		    "refused a client: %u connections already open",
		    s->max_conns);
		conn_refuse(c, P2P_CTL_ERR_BUSY,
		    "too many control connections");
		return;
	}
	if ((rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc,
	    on_read)) != 0) {
		srv_log(s, P2P_CTL_LOG_WARN, "read: %s", uv_strerror(rc));
		conn_close(c);
	}
}

/* ---- starting and stopping ---------------------------------------------- */

/* mkdir -p with mode 0700 for every directory made. */
static int
make_dirs(const char *dir)
{
	char *p, *q, save;
	int rc = 0;

	if ((p = strdup(dir)) == NULL)
		return -1;
	for (q = p + 1; rc == 0; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		save = *q;
		*q = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			rc = -1;
		*q = save;
		if (save == '\0')
			break;
	}
	free(p);
	return rc;
}

static int
check_dir(const char *dir, char *errbuf, size_t errlen)
{
	struct stat st;
	uid_t me = geteuid();

	if (stat(dir, &st) == -1) {
		if (errno != ENOENT) {
			fmt_err(errbuf, errlen, "control directory %s: %s",
			    dir, strerror(errno));
			return -1;
		}
		if (make_dirs(dir) == -1 || chmod(dir, 0700) == -1 ||
		    stat(dir, &st) == -1) {
			fmt_err(errbuf, errlen,
			    "cannot create control directory %s: %s", dir,
			    strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		fmt_err(errbuf, errlen, "%s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != me) {
		fmt_err(errbuf, errlen,
		    "control directory %s is owned by uid %lu, not by this "
		    "user (uid %lu)", dir, (unsigned long)st.st_uid,
		    (unsigned long)me);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		fmt_err(errbuf, errlen,
		    "control directory %s has mode %04o, open to group or "
		    "others; run: chmod 700 %s", dir,
		    (unsigned)(st.st_mode & 07777), dir);
		return -1;
	}
	return 0;
}

static int
take_lock(const char *path, char *errbuf, size_t errlen)
{
	char lock[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int fd;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		fmt_err(errbuf, errlen, "cannot open %s: %s", lock,
		    strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			fmt_err(errbuf, errlen,
			    "another node is already serving %s", path);
		else
			fmt_err(errbuf, errlen, "cannot lock %s: %s", lock,
			    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
fill_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Remove a socket left behind by a node that is gone. */
static int
clear_stale(const char *path, char *errbuf, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		fmt_err(errbuf, errlen,
		    "%s exists and is not a socket; remove it", path);
		return -1;
	}
	if (fill_addr(&sun, path) == -1 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		fmt_err(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	/* EAGAIN: a listener whose backlog is full. */
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		fmt_err(errbuf, errlen,
		    "another process is listening on %s", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		fmt_err(errbuf, errlen, "cannot probe %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		fmt_err(errbuf, errlen, "cannot remove stale socket %s: %s",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
listen_socket(const char *path, struct stat *st, char *errbuf,
    size_t errlen)
{
	struct sockaddr_un sun;
	int fd;

	if (fill_addr(&sun, path) == -1 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		fmt_err(errbuf, errlen, "socket %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fmt_err(errbuf, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* The directory is private, so nobody can reach the socket before
	 * its mode is narrowed. */
	if (chmod(path, 0600) == -1 || lstat(path, st) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		fmt_err(errbuf, errlen, "listen %s: %s", path,
		    strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

static void
on_listener_closed(uv_handle_t *h)
{
	server_unref(h->data);
}

static void
remove_socket(p2p_ctl_server *s)
{
	struct stat st;

	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
	if (s->lockfd != -1)
		close(s->lockfd);
	s->lockfd = -1;
}

static void
apply_opts(p2p_ctl_server *s, const p2p_ctl_opts *o)
{
	s->max_line = P2P_CTL_DEFAULT_MAX_LINE;
	s->max_conns = P2P_CTL_DEFAULT_MAX_CONNS;
	s->max_pending = P2P_CTL_DEFAULT_MAX_PENDING;
	if (o == NULL)
		return;
	if (o->max_line != 0)
		s->max_line = o->max_line;
	if (o->max_conns != 0)
		s->max_conns = o->max_conns;
	if (o->max_pending != 0)
		s->max_pending = o->max_pending;
	s->log = o->log;
	s->log_user = o->log_user;
}

static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	if ((d = malloc((size_t)(slash - path) + 1)) == NULL)
		return NULL;
	memcpy(d, path, (size_t)(slash - path));
	d[slash - path] = '\0';
	return d;
}

static int
prepare_path(const char *path, char *errbuf, size_t errlen)
{
	struct sockaddr_un sun;
	char *dir;
	int rc;

	if (path == NULL || *path == '\0' ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		fmt_err(errbuf, errlen,
		    "control socket path is empty or longer than %zu bytes",
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	if ((dir = dir_of(path)) == NULL) {
		fmt_err(errbuf, errlen, "out of memory");
		return -1;
	}
	rc = check_dir(dir, errbuf, errlen);
	free(dir);
	return rc;
}

/* A client that hangs up while its answer is being written must cost the
 * node an EPIPE, not its life. A handler the program installed is kept. */
static void
ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGPIPE, &sa, NULL);
	}
}

int
p2p_ctl_server_start(uv_loop_t *loop, const char *path,
    const p2p_ctl_opts *opts, p2p_ctl_server **out, char *errbuf,
    size_t errlen)
{
	p2p_ctl_server *s;
	struct stat st;
	int lockfd, fd, rc;

	*out = NULL;
	ignore_sigpipe();
	if (prepare_path(path, errbuf, errlen) == -1)
		return -1;
	if ((lockfd = take_lock(path, errbuf, errlen)) == -1)
		return -1;
	if (clear_stale(path, errbuf, errlen) == -1 ||
	    (fd = listen_socket(path, &st, errbuf, errlen)) == -1) {
		close(lockfd);
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->path = strdup(path)) == NULL) {
		fmt_err(errbuf, errlen, "out of memory");
		free(s);
		unlink(path);
		close(fd);
		close(lockfd);
		return -1;
	}
	apply_opts(s, opts);
	s->loop = loop;
	s->lockfd = lockfd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->refs = 1;
	uv_pipe_init(loop, &s->listener, 0);
	s->listener.data = s;
	if ((rc = uv_pipe_open(&s->listener, fd)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN,
	    on_connection)) != 0) {
		fmt_err(errbuf, errlen, "listen %s: %s", path,
		    uv_strerror(rc));
		s->stopping = 1;
		remove_socket(s);
		uv_close((uv_handle_t *)&s->listener, on_listener_closed);
		return -1;
	}
	*out = s;
	return 0;
}

int
p2p_ctl_register(p2p_ctl_server *s, const char *method,
    p2p_ctl_handler handler, void *user)
{
	ctl_method *m;

	if ((m = find_method(s, method)) != NULL) {
		m->fn = handler;
		m->user = user;
		return 0;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->name = strdup(method)) == NULL) {
		free(m);
		return -1;
	}
	m->fn = handler;
	m->user = user;
	m->next = s->methods;
	s->methods = m;
	return 0;
}

void
p2p_ctl_server_stop(p2p_ctl_server *s)
{
	if (s == NULL || s->stopping)
		return;
	s->stopping = 1;
	while (s->conns != NULL)
		conn_close(s->conns);
	remove_socket(s);
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

unsigned
p2p_ctl_server_nconns(const p2p_ctl_server *s)
{
	return s->nconns;
}

/* ---- client -------------------------------------------------------------- */

typedef struct ctl_call {
	int fd;
	int64_t deadline;	/* ms on the monotonic clock, -1: none */
	int timeout_ms;
	json_int_t id;
	p2p_ctl_notify_cb cb;
	void *user;
	json_t **result;
	p2p_ctl_rpcerr *err;
} ctl_call;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
time_left(const ctl_call *k)
{
	int64_t left;

	if (k->deadline < 0)
		return -1;
	left = k->deadline - now_ms();
	return left < 0 ? 0 : (int)left;
}

static int
call_fail(ctl_call *k, int status, int code, const char *fmt, ...)
{
	va_list ap;

	if (k->err == NULL)
		return status;
	k->err->code = code;
	va_start(ap, fmt);
	vsnprintf(k->err->message, sizeof(k->err->message), fmt, ap);
	va_end(ap);
	return status;
}

static int
timed_out(ctl_call *k)
{
	return call_fail(k, P2P_CTL_ETIMEOUT, ETIMEDOUT,
	    "no answer from the node within %d ms", k->timeout_ms);
}

/* Finish a connect that is in progress (systems where Unix sockets can
 * report EINPROGRESS). */
static int
connect_wait(ctl_call *k, const char *path)
{
	struct pollfd pfd = { .fd = k->fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int rc, e = 0;

	while ((rc = poll(&pfd, 1, time_left(k))) == -1 && errno == EINTR)
		;
	if (rc == 0)
		return timed_out(k);
	if (rc == -1)
		e = errno;
	else if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e == 0)
		return 0;
	return call_fail(k, P2P_CTL_ECONNECT, e, "cannot connect to %s: %s",
	    path, strerror(e));
}

static int
client_connect(ctl_call *k, const char *path)
{
	struct sockaddr_un sun;
	int e;

	if (fill_addr(&sun, path) == -1)
		return call_fail(k, P2P_CTL_ECONNECT, ENAMETOOLONG,
		    "cannot connect to %s: socket path too long", path);
	k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (k->fd == -1)
		return call_fail(k, P2P_CTL_ECONNECT, errno, "socket: %s",
		    strerror(errno));
	for (;;) {
		if (connect(k->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return 0;
		e = errno;
		if (e == EINTR)
			continue;
		if (e == EINPROGRESS)
			return connect_wait(k, path);
		if (e != EAGAIN)
			break;
		/* The node's backlog is full: try again shortly. */
		if (time_left(k) == 0)
			return timed_out(k);
		poll(NULL, 0, 10);
	}
	return call_fail(k, P2P_CTL_ECONNECT, e, "cannot connect to %s: %s",
	    path, strerror(e));
}

/* Send everything; a peer that already hung up is not an error here, as
 * its parting answer may still be waiting to be read. */
static int
send_all(ctl_call *k, const char *p, size_t len)
{
	struct pollfd pfd = { .fd = k->fd, .events = POLLOUT };
	ssize_t n;
	int rc;

	while (len > 0) {
		n = send(k->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			return 0;
		if (n == -1 && errno != EAGAIN)
			return call_fail(k, P2P_CTL_EPROTO, errno,
			    "send to node: %s", strerror(errno));
		rc = poll(&pfd, 1, time_left(k));
		if (rc == 0)
			return timed_out(k);
		if (rc == -1 && errno != EINTR)
			return call_fail(k, P2P_CTL_EPROTO, errno, "poll: %s",
			    strerror(errno));
	}
	return 0;
}

static int
take_error(ctl_call *k, json_t *e)
{
	json_t *code = json_object_get(e, "code");
	json_t *msg = json_object_get(e, "message");

	if (!json_is_integer(code) || !json_is_string(msg))
		return call_fail(k, P2P_CTL_EPROTO, 0,
		    "malformed error object from node");
	if (k->err != NULL) {
		json_t *d = json_object_get(e, "data");
		k->err->data = d != NULL ? json_incref(d) : NULL;
	}
	return call_fail(k, P2P_CTL_ERPC, (int)json_integer_value(code), "%s",
	    json_string_value(msg));
}

/* Handle one line from the node: 1 = keep reading, else a final status. */
static int
client_line(ctl_call *k, const char *p, size_t len)
{
	json_t *m, *id, *v, *res, *e;
	int rc;

	if (len == 0 || (len == 1 && p[0] == '\r'))
		return 1;
	if ((m = json_loadb(p, len, 0, NULL)) == NULL)
		return call_fail(k, P2P_CTL_EPROTO, 0,
		    "node sent a line that is not a JSON object");
	v = json_object_get(m, "jsonrpc");
	id = json_object_get(m, "id");
	res = json_object_get(m, "result");
	e = json_object_get(m, "error");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
		rc = call_fail(k, P2P_CTL_EPROTO, 0,
		    "node sent a message without \"jsonrpc\": \"2.0\"");
	else if (id == NULL && json_is_string(json_object_get(m, "method"))) {
		if (k->cb != NULL)
			k->cb(json_string_value(json_object_get(m, "method")),
			    json_object_get(m, "params"), k->user);
		rc = 1;
	} else if ((res == NULL) == (e == NULL))
		rc = call_fail(k, P2P_CTL_EPROTO, 0,
		    "node sent a message that is neither an answer nor a "
		    "notification");
	else if (e != NULL && json_is_object(e) &&
	    (json_is_null(id) || (json_is_integer(id) &&
	    json_integer_value(id) == k->id)))
		rc = take_error(k, e);
	else if (res != NULL && json_is_integer(id) &&
	    json_integer_value(id) == k->id) {
		*k->result = json_incref(res);
		rc = P2P_CTL_OK;
	} else
		rc = call_fail(k, P2P_CTL_EPROTO, 0,
		    "node answered a request that was not sent");
	json_decref(m);
	return rc;
}

static int
client_read(ctl_call *k)
{
	struct pollfd pfd = { .fd = k->fd, .events = POLLIN };
	char *buf = NULL, *nl, *q;
	size_t len = 0, cap = 0, start;
	ssize_t n;
	int rc = 1, pr;

	while (rc == 1) {
		if (cap - len < READ_CHUNK) {
			if (cap >= CLIENT_MAX_LINE) {
				rc = call_fail(k, P2P_CTL_EPROTO, 0,
				    "answer from node longer than %u bytes",
				    CLIENT_MAX_LINE);
				break;
			}
			if ((q = realloc(buf, cap + READ_CHUNK)) == NULL) {
				rc = call_fail(k, P2P_CTL_EPROTO, ENOMEM,
				    "out of memory");
				break;
			}
			buf = q;
			cap += READ_CHUNK;
		}
		n = recv(k->fd, buf + len, cap - len, 0);
		if (n == 0 || (n == -1 && errno == ECONNRESET)) {
			rc = call_fail(k, P2P_CTL_EPROTO, ECONNRESET,
			    "node closed the connection without answering");
			break;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				rc = call_fail(k, P2P_CTL_EPROTO, errno,
				    "read from node: %s", strerror(errno));
				break;
			}
			pr = poll(&pfd, 1, time_left(k));
			if (pr == 0)
				rc = timed_out(k);
			else if (pr == -1 && errno != EINTR)
				rc = call_fail(k, P2P_CTL_EPROTO, errno,
				    "poll: %s", strerror(errno));
			continue;
		}
		start = 0;
		len += (size_t)n;
		while (rc == 1 &&
		    (nl = memchr(buf + start, '\n', len - start)) != NULL) {
			rc = client_line(k, buf + start,
			    (size_t)(nl - (buf + start)));
			start = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
	}
	free(buf);
	return rc;
}

int
p2p_ctl_call(const char *path, const char *method, json_t *params,
    int timeout_ms, p2p_ctl_notify_cb notify_cb, void *user,
    json_t **result, p2p_ctl_rpcerr *err)
{
	static json_int_t next_id = 1;
	ctl_call k = { .fd = -1, .cb = notify_cb, .user = user,
	    .result = result, .err = err, .timeout_ms = timeout_ms };
	json_t *req;
	char *line = NULL;
	size_t n;
	int rc;

	*result = NULL;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	k.deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
	k.id = next_id++;
	req = json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", k.id,
	    "method", method);
	if (req == NULL || (params != NULL &&
	    json_object_set(req, "params", params) == -1) ||
	    (n = json_dumpb(req, NULL, 0, JSON_COMPACT)) == 0 ||
	    (line = malloc(n + 1)) == NULL ||
	    json_dumpb(req, line, n, JSON_COMPACT) != n) {
		json_decref(req);
		free(line);
		return call_fail(&k, P2P_CTL_EPROTO, EINVAL,
		    "cannot encode the request");
	}
	json_decref(req);
	line[n] = '\n';
	if ((rc = client_connect(&k, path)) == 0 &&
	    (rc = send_all(&k, line, n + 1)) == 0)
		rc = client_read(&k);
	free(line);
	if (k.fd != -1)
		close(k.fd);
	return rc;
}

void
p2p_ctl_rpcerr_free(p2p_ctl_rpcerr *err)
{
	if (err == NULL)
		return;
	json_decref(err->data);
	err->data = NULL;
}

const char *
p2p_ctl_status_str(int status)
{
	switch (status) {
	case P2P_CTL_OK:
		return "ok";
	case P2P_CTL_ECONNECT:
		return "cannot connect";
	case P2P_CTL_ETIMEOUT:
		return "timeout";
	case P2P_CTL_ERPC:
		return "error from node";
	case P2P_CTL_EPROTO:
		return "protocol error";
	}
	return "unknown status";
}

/* ---- discovery ----------------------------------------------------------- */

static int
put_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && *h != '\0')
		return h;
	if ((pw = getpwuid(geteuid())) != NULL && pw->pw_dir != NULL &&
	    *pw->pw_dir != '\0')
		return pw->pw_dir;
	return NULL;
}

int
p2p_ctl_socket_path(const char *opt_socket, const char *overlay,
    char *buf, size_t len)
{
	const char *e, *home;
	size_t n;

	if (opt_socket != NULL && *opt_socket != '\0')
		return put_path(buf, len, "%s", opt_socket);
	if ((e = getenv("P2PSIP_SOCKET")) != NULL && *e != '\0')
		return put_path(buf, len, "%s", e);
	if ((e = getenv("P2PSIP_HOME")) != NULL && *e != '\0') {
		n = strlen(e);
		while (n > 1 && e[n - 1] == '/')
			n--;
		return put_path(buf, len, "%.*s/%s", (int)n, e,
		    P2P_CTL_SOCKET_NAME);
	}
	if ((home = home_dir()) == NULL)
		return -1;
	if (overlay == NULL || *overlay == '\0')
		return put_path(buf, len, "%s/.local/share/p2psip/%s", home,
		    P2P_CTL_SOCKET_NAME);
	if (strchr(overlay, '/') != NULL || strcmp(overlay, ".") == 0 ||
	    strcmp(overlay, "..") == 0)
		return -1;
	return put_path(buf, len, "%s/.local/share/p2psip/%s/%s", home,
	    overlay, P2P_CTL_SOCKET_NAME);
}
