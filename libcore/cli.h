/*
 * cli: helpers shared by the command-line tools (cmd/p2p-*.c).
 *
 * Messages go to stderr as "p2p-xxx: message" where p2p-xxx is the name
 * given to p2p_cli_init() (the basename of argv[0]). Results go to stdout,
 * as indented JSON with --json or through a table printer for people.
 */
#ifndef P2P_CLI_H
#define P2P_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "buf.h"
#include "control.h"

/* Exit codes of every tool. */
enum p2p_exit {
	P2P_EXIT_OK = 0,
	P2P_EXIT_FAIL = 1,		/* the operation failed */
	P2P_EXIT_USAGE = 2,		/* bad command line */
	P2P_EXIT_UNREACHABLE = 3,	/* cannot reach the node or server */
};

/* Default time a tool waits for the node, in milliseconds. */
#define P2P_CLI_TIMEOUT_MS	30000

#if defined(__GNUC__)
#define P2P_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#else
#define P2P_PRINTF(f, a)
#endif

/* Remember the program name for messages (basename of argv0). */
void p2p_cli_init(const char *argv0);
const char *p2p_cli_name(void);

/* "p2p-xxx: message\n" on stderr. */
void p2p_cli_warn(const char *fmt, ...) P2P_PRINTF(1, 2);
/* Same, then exit(code). */
_Noreturn void p2p_cli_die(int code, const char *fmt, ...) P2P_PRINTF(2, 3);

/* Prints v in a form for people. */
typedef void (*p2p_cli_table_fn)(FILE *out, const json_t *v, void *user);

/*
 * Print v: as indented JSON when as_json (or when table is NULL and v is
 * not an object), through table when given, else as "key  value" lines.
 * Returns 0, or -1 if writing failed.
 */
int p2p_cli_print(FILE *out, const json_t *v, int as_json,
    p2p_cli_table_fn table, void *user);

/* One "key  value" line per member of an object, keys padded to the
 * longest; nested values as compact JSON, strings without quotes. */
void p2p_cli_print_kv(FILE *out, const json_t *obj, void *user);

/*
 * Exit code for the outcome of p2p_ctl_call(), after printing a message
 * about any failure: 3 when the node cannot be reached, answers nothing in
 * time or refuses this user; 2 for invalid params; 1 otherwise.
 * path is the socket path tried (used in the message).
 */
int p2p_cli_call_status(int status, const p2p_ctl_rpcerr *err,
    const char *path);

/*
 * The usual tool round trip: find the socket (see p2p_ctl_socket_path),
 * call method, print a failure. Returns an exit code; on P2P_EXIT_OK
 * *result holds a new reference.
 */
int p2p_cli_rpc(const char *opt_socket, const char *overlay,
    const char *method, json_t *params, int timeout_ms,
    p2p_ctl_notify_cb notify_cb, void *user, json_t **result);

/*
 * The control socket a tool uses: opt_socket (--socket) if given, else
 * the node.sock of opt_dir (--dir) if given (into buf), else NULL, which
 * lets p2p_cli_rpc look it up. Exits with a usage error when the path is
 * too long.
 */
const char *p2p_cli_socket(const char *opt_socket, const char *opt_dir,
    char *buf, size_t len);
/* A decimal number for option opt, 0..max; exits with a usage error
 * otherwise. */
unsigned long p2p_cli_number(const char *opt, const char *s,
    unsigned long max);

/* Lower-case hex of n bytes into out (2n + 1 bytes). Returns out. */
char *p2p_hex_encode(const uint8_t *p, size_t n, char *out);
/* Decode hex (either case, even length) into out; *outlen gets the byte
 * count. Returns 0, or -1 on a bad digit, odd length or overflow. */
int p2p_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen);
/* Base64: p2p_base64_encode / p2p_base64_decode of buf.h. */

#endif
