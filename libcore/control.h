/*
 * control: the JSON-RPC 2.0 control plane between p2p-node and the tools.
 *
 * Transport: a Unix stream socket. Each request is one JSON object on one
 * line (terminated by '\n'); each response and each notification from the
 * node is one JSON object on one line. A trailing '\r' and blank lines are
 * ignored.
 *
 * Server (in the node, on a libuv loop, never blocking):
 *   - The socket is created 0600 inside a directory that must be owned by
 *     the node's effective uid and have no group/other permission bits
 *     (it is created 0700 when missing). A lock file "<socket>.lock" held
 *     with flock() keeps a second node from taking over the socket; a
 *     leftover socket that nobody listens on is removed.
 *   - Every accepted connection is checked with SO_PEERCRED: a peer whose
 *     uid is neither the node's euid nor root (which can do anything to
 *     the node in any case) gets one P2P_CTL_ERR_DENIED error
 *     (id null) and is disconnected.
 *   - Requests: "jsonrpc":"2.0", "method" (string), optional "params"
 *     (object or array; an absent params is passed to the handler as an
 *     empty object) and "id" (string, number or null). A request without
 *     "id" is a notification: its handler runs, its answer is dropped.
 *   - Batch requests (a top-level array) are refused with -32600.
 *   - Errors: -32700 unparsable line, -32600 invalid request (not an
 *     object, wrong "jsonrpc", missing method, bad id or params, batch,
 *     line longer than the limit; in the last case the connection is
 *     closed after the answer), -32601 unknown method, -32602 invalid
 *     params (returned by handlers), -32603 internal error, and the
 *     P2P_CTL_ERR_* codes below. Errors about a request whose id could
 *     not be read carry "id": null.
 *   - While a request is being handled the node may send notifications
 *     (no "id") on the same connection; they belong to the connection's
 *     request in progress. Tools send one request per connection.
 *
 * Application errors: handlers use positive codes. A failure that comes
 * from a RELOAD Error response uses P2P_CTL_ERR_RELOAD_BASE + the RELOAD
 * error code (1003 for Error_Not_Found); P2P_CTL_ERR_FAILED and friends
 * cover the rest.
 *
 * Socket discovery (p2p_ctl_socket_path), first match wins:
 *   1. the path given with the tool's --socket option;
 *   2. $P2PSIP_SOCKET, when set and not empty;
 *   3. $P2PSIP_HOME/node.sock, when P2PSIP_HOME is set and not empty;
 *   4. ~/.local/share/p2psip/<overlay>/node.sock when an overlay name is
 *      known;
 *   5. ~/.local/share/p2psip/node.sock.
 * "~" is $HOME, or the home directory of the effective uid when HOME is
 * unset. The node uses the same function to decide where to listen.
 */
#ifndef P2P_CONTROL_H
#define P2P_CONTROL_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

/* JSON-RPC 2.0 error codes. */
#define P2P_CTL_PARSE_ERROR		(-32700)
#define P2P_CTL_INVALID_REQUEST		(-32600)
#define P2P_CTL_METHOD_NOT_FOUND	(-32601)
#define P2P_CTL_INVALID_PARAMS		(-32602)
#define P2P_CTL_INTERNAL_ERROR		(-32603)
/* Server errors of this implementation (-32000..-32099). */
#define P2P_CTL_ERR_BUSY		(-32000)	/* too many requests
							   or connections */
#define P2P_CTL_ERR_DENIED		(-32001)	/* peer uid refused */
/* Application errors (positive). */
#define P2P_CTL_ERR_FAILED	1	/* operation failed */
#define P2P_CTL_ERR_NOT_FOUND	2
#define P2P_CTL_ERR_UNREACHABLE	3	/* overlay peer unreachable */
#define P2P_CTL_ERR_TIMEOUT	4	/* overlay transaction timed out */
#define P2P_CTL_ERR_RELOAD_BASE	1000	/* + RELOAD error code */

#define P2P_CTL_DEFAULT_MAX_LINE	(1024 * 1024)
#define P2P_CTL_DEFAULT_MAX_CONNS	32
#define P2P_CTL_DEFAULT_MAX_PENDING	16
#define P2P_CTL_SOCKET_NAME		"node.sock"

/* ---- server ------------------------------------------------------------ */

typedef struct p2p_ctl_server p2p_ctl_server;
typedef struct p2p_ctl_req p2p_ctl_req;

enum p2p_ctl_log_level {
	P2P_CTL_LOG_ERROR, P2P_CTL_LOG_WARN, P2P_CTL_LOG_INFO, P2P_CTL_LOG_DEBUG
};

/* Server limits; a zero field takes its default. */
typedef struct p2p_ctl_opts {
	size_t max_line;	/* longest request line, bytes */
	unsigned max_conns;	/* simultaneous connections */
	unsigned max_pending;	/* unanswered requests per connection */
	/* One line of log; NULL writes "control: msg" to stderr. */
	void (*log)(void *user, int level, const char *msg);
	void *log_user;
} p2p_ctl_opts;

/*
 * A method handler. params is borrowed and stays valid until the request
 * is answered. The handler, or any later callback, must call exactly one
 * of p2p_ctl_reply() / p2p_ctl_error() on req; that frees req.
 */
typedef void (*p2p_ctl_handler)(p2p_ctl_req *req, json_t *params,
    void *user);

/*
 * Create the socket at path and start listening on loop. opts may be NULL.
 * Returns 0 and *out, or -1 with a message for a person in errbuf.
 * SIGPIPE is set to be ignored if it still has its default action (libuv
 * writes would otherwise kill the node when a client hangs up early).
 */
int p2p_ctl_server_start(uv_loop_t *loop, const char *path,
    const p2p_ctl_opts *opts, p2p_ctl_server **out, char *errbuf,
    size_t errlen);

/* Add a method; a later registration of the same name replaces it.
 * Returns 0, or -1 when out of memory. */
int p2p_ctl_register(p2p_ctl_server *s, const char *method,
    p2p_ctl_handler handler, void *user);

/*
 * Close the listener and every connection and remove the socket file.
 * The server's memory is released once every handle has closed and every
 * request still held by a handler has been answered (those answers are
 * dropped). Do not use s afterwards.
 */
void p2p_ctl_server_stop(p2p_ctl_server *s);

/* Number of open connections (for tests and status output). */
unsigned p2p_ctl_server_nconns(const p2p_ctl_server *s);

/*
 * Answer req with result (the reference is stolen; NULL sends null) and
 * free req. Returns 0 when the answer was queued, -1 when it was dropped
 * (client gone, request was a notification, or encoding failed).
 */
int p2p_ctl_reply(p2p_ctl_req *req, json_t *result);

/* Answer req with an error; data (stolen) may be NULL. Frees req. Same
 * return value as p2p_ctl_reply(). */
int p2p_ctl_error(p2p_ctl_req *req, int code, const char *message,
    json_t *data);

/* Send a notification to the client of req before the answer; params is
 * stolen (NULL: none). Returns 0 if queued, -1 if dropped. */
int p2p_ctl_notify(p2p_ctl_req *req, const char *method, json_t *params);

/*
 * One request line as the server reads it (exposed for tests and
 * fuzzing). p2p_ctl_parse_line takes a line without its '\n' and returns:
 *   0   a well-formed request: msg holds it (release it with json_decref;
 *       id, method and params point into it);
 *   1   nothing to do (an empty or blank line, trailing '\r' ignored);
 *   < 0 the JSON-RPC error code to answer with (P2P_CTL_PARSE_ERROR or
 *       P2P_CTL_INVALID_REQUEST), error says why, and id is the request's
 *       id when it could be read (NULL: answer with id null); msg may be
 *       set then too and must be released.
 */
typedef struct p2p_ctl_line {
	json_t *msg;		/* the request, owned */
	json_t *id;		/* borrowed; NULL: notification or unknown */
	const char *method;	/* borrowed */
	json_t *params;		/* borrowed; NULL when absent */
	char error[256];
} p2p_ctl_line;

int p2p_ctl_parse_line(const char *line, size_t len, p2p_ctl_line *out);

/* Has the client disconnected (so the work may be abandoned)? */
int p2p_ctl_req_gone(const p2p_ctl_req *req);
const char *p2p_ctl_req_method(const p2p_ctl_req *req);
/* Effective uid of the client (already checked to be the node's). */
unsigned long p2p_ctl_req_uid(const p2p_ctl_req *req);

/* ---- client ------------------------------------------------------------ */

enum p2p_ctl_status {
	P2P_CTL_OK = 0,
	P2P_CTL_ECONNECT = -1,	/* no socket / nobody listening */
	P2P_CTL_ETIMEOUT = -2,	/* no answer in time */
	P2P_CTL_ERPC = -3,	/* the node answered with an error */
	P2P_CTL_EPROTO = -4,	/* bad answer, connection lost, bad args */
};

/* What went wrong in a call. code is the JSON-RPC error code for
 * P2P_CTL_ERPC, an errno value otherwise (0 if none applies); message is
 * always set; data is the error's data member or NULL. */
typedef struct p2p_ctl_rpcerr {
	int code;
	char message[512];
	json_t *data;
} p2p_ctl_rpcerr;

/* Called for each notification received before the answer; both
 * arguments are borrowed. */
typedef void (*p2p_ctl_notify_cb)(const char *method, json_t *params,
    void *user);

/*
 * Connect to path, send one request and wait for its answer, passing
 * notifications to notify_cb (may be NULL). params is borrowed (NULL: no
 * params). timeout_ms <= 0 waits forever. Blocking; no signals raised.
 * On P2P_CTL_OK *result holds a new reference (json null if the result
 * was null). On failure err (may be NULL) is filled; release it with
 * p2p_ctl_rpcerr_free().
 */
int p2p_ctl_call(const char *path, const char *method, json_t *params,
    int timeout_ms, p2p_ctl_notify_cb notify_cb, void *user,
    json_t **result, p2p_ctl_rpcerr *err);

void p2p_ctl_rpcerr_free(p2p_ctl_rpcerr *err);

/* Short name of a status ("cannot connect", ...). */
const char *p2p_ctl_status_str(int status);

/*
 * Choose the control socket path as described at the top of this file.
 * opt_socket is the --socket value or NULL; overlay is NULL when unknown.
 * Returns 0, or -1 if the result does not fit in len bytes, the overlay
 * name is not usable as a directory name, or no home directory is known.
 */
int p2p_ctl_socket_path(const char *opt_socket, const char *overlay,
    char *buf, size_t len);

#endif
