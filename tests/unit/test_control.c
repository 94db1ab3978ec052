#include "unit.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"

/*
 * A server running on its own uv loop in a thread; the tests talk to it
 * as clients from the main thread.
 */
typedef struct srv {
	char dir[64];		/* temp dir, removed at the end */
	char path[128];		/* socket: dir/run/node.sock */
	p2p_ctl_opts opts;
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int ready;
	int start_rc;
	char err[256];
	p2p_ctl_server *s;
	_Atomic int replied;	/* "slow" handler has answered */
	_Atomic int reply_rc;	/* what p2p_ctl_reply returned */
	_Atomic int gone;	/* p2p_ctl_req_gone() before answering */
	_Atomic int started;	/* "slow" handler has been called */
} srv;

typedef struct job {
	uv_timer_t t;
	srv *sv;
	p2p_ctl_req *req;
	json_t *value;
	int kind, i, n;
} job;

enum { JOB_LATER, JOB_STREAM, JOB_SLOW };

static void
on_job_closed(uv_handle_t *h)
{
	job *j = h->data;

	json_decref(j->value);
	free(j);
}

static void
on_job_timer(uv_timer_t *t)
{
	job *j = t->data;
	int rc;

	if (j->kind == JOB_STREAM && j->i < j->n) {
		p2p_ctl_notify(j->req, "hop", json_pack("{s:i}", "i", j->i));
		j->i++;
		return;
	}
	if (j->kind == JOB_STREAM) {
		p2p_ctl_reply(j->req, json_pack("{s:i}", "count", j->n));
	} else if (j->kind == JOB_LATER) {
		p2p_ctl_reply(j->req, json_pack("{s:O}", "value", j->value));
	} else {
		j->sv->gone = p2p_ctl_req_gone(j->req);
		rc = p2p_ctl_reply(j->req, json_string("late"));
		j->sv->reply_rc = rc;
		j->sv->replied = 1;
	}
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, on_job_closed);
}

static void
start_job(srv *sv, p2p_ctl_req *req, int kind, int ms, int repeat,
    json_t *value, int n)
{
	job *j = calloc(1, sizeof(*j));

	/* Server thread: cmocka's asserts belong to the main thread. */
	if (j == NULL)
		abort();
	j->sv = sv;
	j->req = req;
	j->kind = kind;
	j->n = n;
	j->value = value != NULL ? json_incref(value) : json_null();
	uv_timer_init(&sv->loop, &j->t);
	j->t.data = j;
	uv_timer_start(&j->t, on_job_timer, (uint64_t)ms, (uint64_t)repeat);
}

static void
m_echo(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_ctl_reply(req, json_incref(params));
}

static void
m_later(p2p_ctl_req *req, json_t *params, void *user)
{
	json_int_t ms = json_integer_value(json_object_get(params, "ms"));

	start_job(user, req, JOB_LATER, (int)ms, 0,
	    json_object_get(params, "value"), 0);
}

static void
m_stream(p2p_ctl_req *req, json_t *params, void *user)
{
	json_int_t n = json_integer_value(json_object_get(params, "n"));

	start_job(user, req, JOB_STREAM, 2, 2, NULL, (int)n);
}

static void
m_slow(p2p_ctl_req *req, json_t *params, void *user)
{
	srv *sv = user;

	sv->started = 1;
	start_job(sv, req, JOB_SLOW, 150, 0, NULL, 0);
}

static void
m_fail(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_ctl_error(req, P2P_CTL_ERR_RELOAD_BASE + 3, "no such resource",
	    json_pack("{s:s}", "key", "alice"));
}

static void
m_needs_x(p2p_ctl_req *req, json_t *params, void *user)
{
	if (!json_is_integer(json_object_get(params, "x"))) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "param x (integer) is required", NULL);
		return;
	}
	p2p_ctl_reply(req, json_pack("{s:I}", "x2",
	    2 * json_integer_value(json_object_get(params, "x"))));
}

static void
quiet_log(void *user, int level, const char *msg)
{
	(void)user;
	(void)level;
	(void)msg;
}

static void
on_stop(uv_async_t *a)
{
	srv *sv = a->data;

	p2p_ctl_server_stop(sv->s);
	uv_close((uv_handle_t *)a, NULL);
}

static void
signal_ready(srv *sv, int rc)
{
	pthread_mutex_lock(&sv->mu);
	sv->start_rc = rc;
	sv->ready = 1;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

static void *
srv_main(void *arg)
{
	srv *sv = arg;
	int rc;

	uv_loop_init(&sv->loop);
	uv_async_init(&sv->loop, &sv->stop, on_stop);
	sv->stop.data = sv;
	rc = p2p_ctl_server_start(&sv->loop, sv->path, &sv->opts, &sv->s,
	    sv->err, sizeof(sv->err));
	if (rc == 0) {
		p2p_ctl_register(sv->s, "echo", m_echo, sv);
		p2p_ctl_register(sv->s, "later", m_later, sv);
		p2p_ctl_register(sv->s, "stream", m_stream, sv);
		p2p_ctl_register(sv->s, "slow", m_slow, sv);
		p2p_ctl_register(sv->s, "fail", m_fail, sv);
		p2p_ctl_register(sv->s, "needs_x", m_needs_x, sv);
	} else
		uv_close((uv_handle_t *)&sv->stop, NULL);
	signal_ready(sv, rc);
	uv_run(&sv->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&sv->loop) != 0)
		abort();	/* a handle was left open */
	return NULL;
}

static void
make_tmp(srv *sv)
{
	snprintf(sv->dir, sizeof(sv->dir), "/tmp/p2pctl.XXXXXX");
	assert_non_null(mkdtemp(sv->dir));
	snprintf(sv->path, sizeof(sv->path), "%s/run/node.sock", sv->dir);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void
rm_tmp(srv *sv)
{
	nftw(sv->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run the server thread on sv->path; returns start's result. */
static int
srv_run(srv *sv)
{
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->cv, NULL);
	sv->opts.log = quiet_log;
	assert_int_equal(pthread_create(&sv->th, NULL, srv_main, sv), 0);
	pthread_mutex_lock(&sv->mu);
	while (!sv->ready)
		pthread_cond_wait(&sv->cv, &sv->mu);
	pthread_mutex_unlock(&sv->mu);
	if (sv->start_rc != 0)
		pthread_join(sv->th, NULL);
	return sv->start_rc;
}

static void
srv_begin(srv *sv)
{
	make_tmp(sv);
	if (srv_run(sv) != 0)
		fail_msg("server start: %s", sv->err);
}

static void
srv_end(srv *sv, int remove_dir)
{
	if (sv->start_rc == 0) {
		uv_async_send(&sv->stop);
		pthread_join(sv->th, NULL);
	}
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->cv);
	if (remove_dir)
		rm_tmp(sv);
}

/* ---- raw client ---------------------------------------------------------- */

static int
raw_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	return fd;
}

static void
raw_send(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

static void
raw_str(int fd, const char *s)
{
	raw_send(fd, s, strlen(s));
}

/* Next line from fd as JSON, or NULL at end of stream. Fails the test on
 * a 2 s silence. */
static json_t *
raw_line(int fd)
{
	char buf[8192];
	size_t len = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	json_t *j;
	ssize_t n;

	for (;;) {
		assert_true(len < sizeof(buf));
		assert_int_equal(poll(&p, 1, 2000), 1);
		n = recv(fd, buf + len, 1, 0);
		if (n < 0 && errno == ECONNRESET)
			n = 0;
		assert_true(n >= 0);
		if (n == 0) {
			assert_int_equal(len, 0);
			return NULL;
		}
		if (buf[len] == '\n')
			break;
		len++;
	}
	j = json_loadb(buf, len, 0, NULL);
	assert_non_null(j);
	return j;
}

/* Send line, expect an error answer with code and id (json_t, or NULL
 * for an expected null id). */
static void
expect_error(int fd, const char *line, int code, json_int_t id)
{
	json_t *r, *e, *jid;

	raw_send(fd, line, strlen(line));
	r = raw_line(fd);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "jsonrpc")),
	    "2.0");
	e = json_object_get(r, "error");
	assert_true(json_is_object(e));
	assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
	assert_true(json_is_string(json_object_get(e, "message")));
	assert_null(json_object_get(r, "result"));
	jid = json_object_get(r, "id");
	assert_non_null(jid);
	if (id < 0)
		assert_true(json_is_null(jid));
	else
		assert_int_equal(json_integer_value(jid), id);
	json_decref(r);
}

static void
expect_echo_works(const char *path)
{
	json_t *params = json_pack("{s:s}", "ping", "pong"), *res;
	p2p_ctl_rpcerr err;

	assert_int_equal(p2p_ctl_call(path, "echo", params, 2000, NULL, NULL,
	    &res, &err), P2P_CTL_OK);
	assert_true(json_equal(res, params));
	json_decref(res);
	json_decref(params);
}

/* ---- tests --------------------------------------------------------------- */

static void
test_round_trip(void **state)
{
	srv sv = { 0 };
	json_t *params, *res;
	p2p_ctl_rpcerr err;

	srv_begin(&sv);
	params = json_pack("{s:i,s:[s,b],s:s}", "a", 1, "list", "x", 1,
	    "utf8", "\xc3\xa9t\xc3\xa9");
	assert_int_equal(p2p_ctl_call(sv.path, "echo", params, 2000, NULL,
	    NULL, &res, &err), P2P_CTL_OK);
	assert_true(json_equal(res, params));
	json_decref(res);
	json_decref(params);

	/* No params: the handler sees an empty object. */
	assert_int_equal(p2p_ctl_call(sv.path, "echo", NULL, 2000, NULL,
	    NULL, &res, &err), P2P_CTL_OK);
	assert_true(json_is_object(res));
	assert_int_equal(json_object_size(res), 0);
	json_decref(res);

	/* An application error comes back with code, message and data. */
	assert_int_equal(p2p_ctl_call(sv.path, "fail", NULL, 2000, NULL,
	    NULL, &res, &err), P2P_CTL_ERPC);
	assert_null(res);
	assert_int_equal(err.code, 1003);
	assert_string_equal(err.message, "no such resource");
	assert_string_equal(json_string_value(json_object_get(err.data,
	    "key")), "alice");
	p2p_ctl_rpcerr_free(&err);

	/* Invalid params from a handler. */
	params = json_pack("{s:s}", "x", "nope");
	assert_int_equal(p2p_ctl_call(sv.path, "needs_x", params, 2000, NULL,
	    NULL, &res, &err), P2P_CTL_ERPC);
	assert_int_equal(err.code, P2P_CTL_INVALID_PARAMS);
	assert_int_equal(p2p_cli_call_status(P2P_CTL_ERPC, &err, sv.path),
	    P2P_EXIT_USAGE);
	p2p_ctl_rpcerr_free(&err);
	json_decref(params);
	params = json_pack("{s:i}", "x", 21);
	assert_int_equal(p2p_ctl_call(sv.path, "needs_x", params, 2000, NULL,
	    NULL, &res, &err), P2P_CTL_OK);
	assert_int_equal(json_integer_value(json_object_get(res, "x2")), 42);
	json_decref(res);
	json_decref(params);

	/* Unknown method through the client. */
	assert_int_equal(p2p_ctl_call(sv.path, "no_such", NULL, 2000, NULL,
	    NULL, &res, &err), P2P_CTL_ERPC);
	assert_int_equal(err.code, P2P_CTL_METHOD_NOT_FOUND);
	p2p_ctl_rpcerr_free(&err);
	srv_end(&sv, 1);
}

static void
test_async_timer(void **state)
{
	srv sv = { 0 };
	json_t *params, *res;
	p2p_ctl_rpcerr err;

	srv_begin(&sv);
	params = json_pack("{s:i,s:s}", "ms", 60, "value", "later-value");
	assert_int_equal(p2p_ctl_call(sv.path, "later", params, 3000, NULL,
	    NULL, &res, &err), P2P_CTL_OK);
	assert_string_equal(json_string_value(json_object_get(res, "value")),
	    "later-value");
	json_decref(res);
	json_decref(params);

	/* The client gives up first: a timeout, and the server survives. */
	params = json_pack("{s:i,s:s}", "ms", 400, "value", "x");
	assert_int_equal(p2p_ctl_call(sv.path, "later", params, 80, NULL,
	    NULL, &res, &err), P2P_CTL_ETIMEOUT);
	assert_null(res);
	assert_int_equal(p2p_cli_call_status(P2P_CTL_ETIMEOUT, &err,
	    sv.path), P2P_EXIT_UNREACHABLE);
	json_decref(params);
	expect_echo_works(sv.path);
	srv_end(&sv, 1);
}

typedef struct seen {
	int n;
	int order_ok;
	int other;
} seen;

static void
on_hop(const char *method, json_t *params, void *user)
{
	seen *s = user;

	if (strcmp(method, "hop") != 0) {
		s->other++;
		return;
	}
	if (json_integer_value(json_object_get(params, "i")) != s->n)
		s->order_ok = 0;
	s->n++;
}

static void
test_notifications(void **state)
{
	srv sv = { 0 };
	seen s = { .order_ok = 1 };
	json_t *params, *res;
	p2p_ctl_rpcerr err;

	srv_begin(&sv);
	params = json_pack("{s:i}", "n", 25);
	assert_int_equal(p2p_ctl_call(sv.path, "stream", params, 3000,
	    on_hop, &s, &res, &err), P2P_CTL_OK);
	assert_int_equal(s.n, 25);
	assert_true(s.order_ok);
	assert_int_equal(s.other, 0);
	assert_int_equal(json_integer_value(json_object_get(res, "count")),
	    25);
	json_decref(res);
	json_decref(params);
	srv_end(&sv, 1);
}

static void
test_bad_requests(void **state)
{
	srv sv = { 0 };
	json_t *r;
	int fd;

	srv_begin(&sv);
	fd = raw_connect(sv.path);
	expect_error(fd, "{\"jsonrpc\": \"2.0\", \"id\": 1,\n",
	    P2P_CTL_PARSE_ERROR, -1);
	expect_error(fd, "\x01\xff garbage\n", P2P_CTL_PARSE_ERROR, -1);
	expect_error(fd, "42\n", P2P_CTL_INVALID_REQUEST, -1);
	expect_error(fd, "\"str\"\n", P2P_CTL_INVALID_REQUEST, -1);
	expect_error(fd,
	    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}]\n",
	    P2P_CTL_INVALID_REQUEST, -1);
	expect_error(fd, "{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"echo\"}\n",
	    P2P_CTL_INVALID_REQUEST, 2);
	expect_error(fd, "{\"id\":3,\"method\":\"echo\"}\n",
	    P2P_CTL_INVALID_REQUEST, 3);
	expect_error(fd, "{\"jsonrpc\":\"2.0\",\"id\":4}\n",
	    P2P_CTL_INVALID_REQUEST, 4);
	expect_error(fd, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":7}\n",
	    P2P_CTL_INVALID_REQUEST, 5);
	expect_error(fd,
	    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"echo\",\"params\":3}\n",
	    P2P_CTL_INVALID_REQUEST, 6);
	expect_error(fd,
	    "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"echo\"}\n",
	    P2P_CTL_INVALID_REQUEST, -1);
	expect_error(fd, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"nope\"}\n",
	    P2P_CTL_METHOD_NOT_FOUND, 7);
	expect_error(fd,
	    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"needs_x\","
	    "\"params\":{}}\n",
	    P2P_CTL_INVALID_PARAMS, 8);

	/* Notifications (valid or for an unknown method) get no answer:
	 * the next line read answers the request sent after them. Blank
	 * lines and CRLF are fine. */
	raw_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}\n");
	raw_str(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}\n\n");
	raw_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":\"s9\",\"method\":\"echo\","
	    "\"params\":[1,2]}\r\n");
	r = raw_line(fd);
	assert_string_equal(json_string_value(json_object_get(r, "id")),
	    "s9");
	assert_int_equal(json_array_size(json_object_get(r, "result")), 2);
	json_decref(r);
	close(fd);

	/* The server answers the next client. */
	expect_echo_works(sv.path);
	srv_end(&sv, 1);
}

/* The line parser alone, as the server and the fuzzer use it. */
static void
expect_line(const char *text, int want, int want_id)
{
	p2p_ctl_line l;
	int rc;

	rc = p2p_ctl_parse_line(text, strlen(text), &l);
	if (rc != want)
		fail_msg("%s: got %d, want %d (%s)", text, rc, want, l.error);
	if (want < 0)
		assert_true(l.error[0] != '\0');
	if (want_id < 0)
		assert_null(l.id);
	else
		assert_int_equal(json_integer_value(l.id), want_id);
	json_decref(l.msg);
}

static void
test_parse_line(void **state)
{
	p2p_ctl_line l;

	(void)state;
	expect_line("", 1, -1);
	expect_line(" \t\r\r", 1, -1);
	expect_line("{\"jsonrpc\": \"2.0\", \"id\": 1,", P2P_CTL_PARSE_ERROR,
	    -1);
	expect_line("\n", P2P_CTL_PARSE_ERROR, -1);
	expect_line("42", P2P_CTL_INVALID_REQUEST, -1);
	expect_line("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}]",
	    P2P_CTL_INVALID_REQUEST, -1);
	expect_line("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}",
	    P2P_CTL_INVALID_REQUEST, -1);
	expect_line("{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"m\"}",
	    P2P_CTL_INVALID_REQUEST, 2);
	expect_line("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":7}",
	    P2P_CTL_INVALID_REQUEST, 3);
	expect_line("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"m\","
	    "\"params\":\"x\"}", P2P_CTL_INVALID_REQUEST, 4);
	expect_line("{\"jsonrpc\":\"2.0\",\"id\":5,\"id\":6,\"method\":\"m\"}",
	    P2P_CTL_PARSE_ERROR, -1);
	expect_line("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}\r", 0, -1);

	assert_int_equal(p2p_ctl_parse_line(" {\"jsonrpc\":\"2.0\",\"id\":\"a\","
	    "\"method\":\"put\",\"params\":[1]}\r\n", 56, &l), 0);
	assert_string_equal(l.method, "put");
	assert_string_equal(json_string_value(l.id), "a");
	assert_int_equal(json_array_size(l.params), 1);
	json_decref(l.msg);
	/* the length bounds the line: what follows is not read */
	assert_int_equal(p2p_ctl_parse_line("{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"m\"}garbage", 30, &l), 0);
	assert_null(l.params);
	assert_null(l.id);
	json_decref(l.msg);
}

static void
test_oversized_line(void **state)
{
	srv sv = { .opts = { .max_line = 4096 } };
	char *big;
	json_t *r;
	int fd;

	srv_begin(&sv);
	big = malloc(20000);
	assert_non_null(big);

	/* No newline at all: refused once the limit is passed. */
	memset(big, 'a', 20000);
	fd = raw_connect(sv.path);
	raw_send(fd, big, 6000);
	r = raw_line(fd);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r,
	    "error"), "code")), P2P_CTL_INVALID_REQUEST);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    json_object_get(r, "error"), "data"), "max_line")), 4096);
	json_decref(r);
	assert_null(raw_line(fd));	/* and the connection is closed */
	close(fd);

	/* A complete line one byte too long, preceded by a good request. */
	fd = raw_connect(sv.path);
	memset(big, ' ', 4097);
	big[4097] = '\n';
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}\n", 41);
	memcpy(big + 41, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}",
	    40);
	memset(big + 41 + 40, ' ', 4097 - 40);
	big[41 + 4097] = '\n';
	raw_send(fd, big, 41 + 4098);
	r = raw_line(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	r = raw_line(fd);
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r,
	    "error"), "code")), P2P_CTL_INVALID_REQUEST);
	json_decref(r);
	assert_null(raw_line(fd));
	close(fd);

	/* Exactly at the limit is fine. */
	fd = raw_connect(sv.path);
	memset(big, ' ', 4096);
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}", 40);
	big[4096] = '\n';
	raw_send(fd, big, 4097);
	r = raw_line(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	close(fd);

	free(big);
	expect_echo_works(sv.path);
	srv_end(&sv, 1);
}

static void
wait_flag(_Atomic int *flag)
{
	int i;

	for (i = 0; i < 300 && !*flag; i++)
		usleep(10000);
	assert_true(*flag);
}

static void
test_disconnect_before_reply(void **state)
{
	srv sv = { 0 };
	const char *req =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"slow\"}\n";
	int fd;

	srv_begin(&sv);
	fd = raw_connect(sv.path);
	raw_send(fd, req, strlen(req));
	wait_flag(&sv.started);
	close(fd);
	wait_flag(&sv.replied);
	assert_true(sv.gone);
	assert_int_equal(sv.reply_rc, -1);
	expect_echo_works(sv.path);

	/* A request still held when the server stops: its later answer is
	 * dropped and everything is freed (ASan checks). */
	sv.replied = sv.started = 0;
	fd = raw_connect(sv.path);
	raw_send(fd, req, strlen(req));
	wait_flag(&sv.started);
	srv_end(&sv, 0);
	assert_true(sv.replied);
	assert_int_equal(sv.reply_rc, -1);
	assert_null(raw_line(fd));
	close(fd);
	rm_tmp(&sv);
}

/* Clients that vanish right after asking: the answer is written to a dead
 * socket, which must not raise SIGPIPE in the node. */
static void
test_hangup_during_reply(void **state)
{
	srv sv = { 0 };
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\","
	    "\"params\":{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}\n";
	int fd, i;

	srv_begin(&sv);
	for (i = 0; i < 50; i++) {
		fd = raw_connect(sv.path);
		raw_send(fd, req, strlen(req));
		close(fd);
	}
	usleep(50000);
	expect_echo_works(sv.path);
	srv_end(&sv, 1);
}

static void
test_limits(void **state)
{
	srv sv = { .opts = { .max_pending = 2, .max_conns = 2 } };
	const char *three =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"later\",\"params\":"
	    "{\"ms\":80,\"value\":1}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"later\",\"params\":"
	    "{\"ms\":80,\"value\":2}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"later\",\"params\":"
	    "{\"ms\":80,\"value\":3}}\n";
	p2p_ctl_rpcerr err;
	json_t *r;
	int fd, fd2, i, got = 0;

	srv_begin(&sv);
	fd = raw_connect(sv.path);
	raw_send(fd, three, strlen(three));
	/* The third is refused at once, before the others are answered. */
	r = raw_line(fd);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r,
	    "error"), "code")), P2P_CTL_ERR_BUSY);
	json_decref(r);
	for (i = 0; i < 2; i++) {
		r = raw_line(fd);
		assert_non_null(json_object_get(r, "result"));
		got |= 1 << json_integer_value(json_object_get(r, "id"));
		json_decref(r);
	}
	assert_int_equal(got, 6);

	/* Two connections open: a third is turned away. */
	fd2 = raw_connect(sv.path);
	raw_send(fd2, "\n", 1);
	usleep(20000);
	assert_int_equal(p2p_ctl_call(sv.path, "echo", NULL, 2000, NULL, NULL,
	    &r, &err), P2P_CTL_ERPC);
	assert_int_equal(err.code, P2P_CTL_ERR_BUSY);
	close(fd2);
	close(fd);
	/* Once the server has seen both hang up, calls go through again. */
	for (i = 0; i < 200; i++) {
		if (p2p_ctl_call(sv.path, "echo", NULL, 2000, NULL, NULL, &r,
		    &err) == P2P_CTL_OK)
			break;
		usleep(10000);
	}
	assert_true(i < 200);
	json_decref(r);
	srv_end(&sv, 1);
}

static void
test_modes(void **state)
{
	srv sv = { 0 };
	struct stat st;
	char dir[160];

	/* Socket two levels below a missing directory. */
	make_tmp(&sv);
	snprintf(sv.path, sizeof(sv.path), "%s/a/b/node.sock", sv.dir);
	if (srv_run(&sv) != 0)
		fail_msg("server start: %s", sv.err);
	assert_int_equal(lstat(sv.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(dir, sizeof(dir), "%s/a/b", sv.dir);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	expect_echo_works(sv.path);
	srv_end(&sv, 0);
	/* Stopping removes the socket. */
	assert_int_equal(lstat(sv.path, &st), -1);
	rm_tmp(&sv);
}

static int
try_start(const char *path, char *err, size_t errlen)
{
	uv_loop_t loop;
	p2p_ctl_server *s = NULL;
	int rc;

	uv_loop_init(&loop);
	rc = p2p_ctl_server_start(&loop, path, NULL, &s, err, errlen);
	if (rc == 0)
		p2p_ctl_server_stop(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	return rc;
}

static void
test_bad_directory(void **state)
{
	srv sv = { 0 };
	char run[128], err[256], longp[200];

	make_tmp(&sv);
	snprintf(run, sizeof(run), "%s/run", sv.dir);
	assert_int_equal(mkdir(run, 0700), 0);

	assert_int_equal(chmod(run, 0770), 0);
	assert_int_equal(try_start(sv.path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 700"));

	assert_int_equal(chmod(run, 0705), 0);
	assert_int_equal(try_start(sv.path, err, sizeof(err)), -1);

	assert_int_equal(chmod(run, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(run, 65534, 65534), 0);
		assert_int_equal(try_start(sv.path, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "owned by uid 65534"));
		assert_int_equal(chown(run, 0, 0), 0);
	}

	/* Something that is not a socket sits at the path. */
	assert_int_equal(close(open(sv.path, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(try_start(sv.path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(unlink(sv.path), 0);

	/* Path too long for a Unix socket. */
	memset(longp, 'x', sizeof(longp));
	memcpy(longp, run, strlen(run));
	longp[strlen(run)] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(try_start(longp, err, sizeof(err)), -1);

	/* The good case in the same place still works. */
	assert_int_equal(try_start(sv.path, err, sizeof(err)), 0);
	rm_tmp(&sv);
}

static void
test_second_server(void **state)
{
	srv sv = { 0 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char err[256];
	int fd;

	srv_begin(&sv);
	assert_int_equal(try_start(sv.path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already"));
	/* The first server still owns and serves the socket. */
	expect_echo_works(sv.path);
	srv_end(&sv, 0);

	/* A stale socket (nobody listening) is replaced. */
	assert_true(strlen(sv.path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, sv.path, strlen(sv.path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	sv.ready = 0;
	if (srv_run(&sv) != 0)
		fail_msg("server start over a stale socket: %s", sv.err);
	expect_echo_works(sv.path);
	srv_end(&sv, 1);
}

/* In a child running as nobody: call echo, exit with the status code
 * (as a positive number) or 100 + 1 for a denial seen as P2P_CTL_ERPC. */
static int
call_as_nobody(const char *path)
{
	p2p_ctl_rpcerr err;
	json_t *res;
	pid_t pid;
	int st, rc;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(65534) == -1 ||
		    setuid(65534) == -1 || getuid() != 65534)
			_exit(99);
		rc = p2p_ctl_call(path, "echo", NULL, 2000, NULL, NULL, &res,
		    &err);
		if (rc == P2P_CTL_ERPC && err.code == P2P_CTL_ERR_DENIED)
			_exit(101);
		_exit(-rc);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_wrong_uid(void **state)
{
	srv sv = { 0 };
	char run[128];

	if (geteuid() != 0)
		skip();
	srv_begin(&sv);
	snprintf(run, sizeof(run), "%s/run", sv.dir);
	/* The private directory alone keeps other users out. */
	assert_int_equal(call_as_nobody(sv.path), -P2P_CTL_ECONNECT);
	/* With the file system opened up, the uid check still refuses. */
	assert_int_equal(chmod(sv.dir, 0711), 0);
	assert_int_equal(chmod(run, 0711), 0);
	assert_int_equal(chmod(sv.path, 0666), 0);
	assert_int_equal(call_as_nobody(sv.path), 101);
	assert_int_equal(chmod(run, 0700), 0);
	assert_int_equal(chmod(sv.path, 0600), 0);
	assert_int_equal(chmod(sv.dir, 0700), 0);
	/* The owner is still served. */
	expect_echo_works(sv.path);
	srv_end(&sv, 1);
}

static void
test_discovery(void **state)
{
	char buf[256], saved_home[256] = "";
	const char *h = getenv("HOME");
	int had_home = h != NULL;

	if (had_home)
		snprintf(saved_home, sizeof(saved_home), "%s", h);
	unsetenv("P2PSIP_SOCKET");
	unsetenv("P2PSIP_HOME");
	setenv("HOME", "/home/u", 1);

	assert_int_equal(p2p_ctl_socket_path(NULL, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/u/.local/share/p2psip/node.sock");
	assert_int_equal(p2p_ctl_socket_path(NULL, "example.org", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf,
	    "/home/u/.local/share/p2psip/example.org/node.sock");
	assert_int_equal(p2p_ctl_socket_path(NULL, "../etc", buf,
	    sizeof(buf)), -1);
	assert_int_equal(p2p_ctl_socket_path(NULL, "..", buf, sizeof(buf)),
	    -1);

	setenv("P2PSIP_HOME", "/srv/p2p/", 1);
	assert_int_equal(p2p_ctl_socket_path(NULL, "example.org", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "/srv/p2p/node.sock");

	setenv("P2PSIP_SOCKET", "/run/x.sock", 1);
	assert_int_equal(p2p_ctl_socket_path(NULL, "example.org", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "/run/x.sock");
	/* An empty variable counts as unset. */
	setenv("P2PSIP_SOCKET", "", 1);
	assert_int_equal(p2p_ctl_socket_path(NULL, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/srv/p2p/node.sock");
	setenv("P2PSIP_SOCKET", "/run/x.sock", 1);

	assert_int_equal(p2p_ctl_socket_path("/opt/given.sock", NULL, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "/opt/given.sock");
	assert_int_equal(p2p_ctl_socket_path("/opt/given.sock", NULL, buf,
	    8), -1);

	unsetenv("P2PSIP_SOCKET");
	unsetenv("P2PSIP_HOME");
	if (had_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
}

static void
test_cannot_connect(void **state)
{
	p2p_ctl_rpcerr err;
	json_t *res;
	int rc;

	rc = p2p_ctl_call("/tmp/p2pctl-no-such-dir/node.sock", "echo", NULL,
	    500, NULL, NULL, &res, &err);
	assert_int_equal(rc, P2P_CTL_ECONNECT);
	assert_null(res);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.message, "cannot connect"));
	assert_int_equal(p2p_cli_call_status(rc, &err, "x"),
	    P2P_EXIT_UNREACHABLE);
}

static void
test_cli_helpers(void **state)
{
	const uint8_t bytes[] = { 0x00, 0x01, 0xab, 0xff, 0x7f };
	char hex[11], out[512];
	uint8_t back[8];
	size_t n;
	FILE *f;
	json_t *v;

	assert_string_equal(p2p_hex_encode(bytes, 5, hex), "0001abff7f");
	assert_int_equal(p2p_hex_decode("0001ABff7f", back, sizeof(back), &n),
	    0);
	assert_int_equal(n, 5);
	assert_memory_equal(back, bytes, 5);
	assert_int_equal(p2p_hex_decode("abc", back, sizeof(back), &n), -1);
	assert_int_equal(p2p_hex_decode("zz", back, sizeof(back), &n), -1);
	assert_int_equal(p2p_hex_decode("000102030405060708", back,
	    sizeof(back), &n), -1);

	p2p_cli_init("/usr/bin/p2p-get");
	assert_string_equal(p2p_cli_name(), "p2p-get");

	v = json_pack("{s:s,s:i,s:[i]}", "name", "alice", "n", 2, "l", 1);
	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(p2p_cli_print(f, v, 0, NULL, NULL), 0);
	assert_int_equal(p2p_cli_print(f, v, 1, NULL, NULL), 0);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	assert_non_null(strstr(out, "name  alice\nn     2\nl     [1]\n"));
	assert_non_null(strstr(out, "{\n  \"name\": \"alice\",\n"));
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_async_timer),
		cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_oversized_line),
		cmocka_unit_test(test_disconnect_before_reply),
		cmocka_unit_test(test_hangup_during_reply),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_bad_directory),
		cmocka_unit_test(test_second_server),
		cmocka_unit_test(test_wrong_uid),
		cmocka_unit_test(test_discovery),
		cmocka_unit_test(test_cannot_connect),
		cmocka_unit_test(test_cli_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
