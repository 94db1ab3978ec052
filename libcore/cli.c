/*
 * cli: messages, exit codes, output and encodings for the tools.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cli.h"

static char prog[64] = "p2p";

void
p2p_cli_init(const char *argv0)
{
	const char *b;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	b = strrchr(argv0, '/');
	b = b != NULL ? b + 1 : argv0;
	if (*b != '\0')
		snprintf(prog, sizeof(prog), "%s", b);
}

const char *
p2p_cli_name(void)
{
	return prog;
}

static void
vwarn(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fflush(stdout);
	fprintf(stderr, "%s: %s\n", prog, line);
}

void
p2p_cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void
p2p_cli_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(code);
}

/* ---- output -------------------------------------------------------------- */

static void
print_value(FILE *out, const json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), out);
		return;
	}
	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		fputs("?", out);
		return;
	}
	fputs(s, out);
	free(s);
}

void
p2p_cli_print_kv(FILE *out, const json_t *obj, void *user)
{
	const char *key;
	json_t *v;
	size_t w = 0;

	(void)user;
	json_object_foreach((json_t *)obj, key, v)
		if (strlen(key) > w)
			w = strlen(key);
	if (w > 40)
		w = 40;
	json_object_foreach((json_t *)obj, key, v) {
		fprintf(out, "%-*s  ", (int)w, key);
		print_value(out, v);
		fputc('\n', out);
	}
}

int
p2p_cli_print(FILE *out, const json_t *v, int as_json,
    p2p_cli_table_fn table, void *user)
{
	if (as_json || (table == NULL && !json_is_object(v))) {
		if (json_dumpf(v, out, JSON_INDENT(2) | JSON_ENCODE_ANY) == -1)
			return -1;
		fputc('\n', out);
	} else if (table != NULL)
		table(out, v, user);
	else
		p2p_cli_print_kv(out, v, user);
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

/* ---- calling the node --------------------------------------------------- */

int
p2p_cli_call_status(int status, const p2p_ctl_rpcerr *err,
    const char *path)
{
	const char *msg = err != NULL ? err->message : "";

	switch (status) {
	case P2P_CTL_OK:
		return P2P_EXIT_OK;
	case P2P_CTL_ECONNECT:
		p2p_cli_warn("%s (is p2p-node running? see --socket)", msg);
		return P2P_EXIT_UNREACHABLE;
	case P2P_CTL_ETIMEOUT:
		p2p_cli_warn("node at %s: %s", path, msg);
		return P2P_EXIT_UNREACHABLE;
	case P2P_CTL_ERPC:
		p2p_cli_warn("%s", msg);
		if (err != NULL && err->code == P2P_CTL_ERR_DENIED)
			return P2P_EXIT_UNREACHABLE;
		if (err != NULL && err->code == P2P_CTL_INVALID_PARAMS)
			return P2P_EXIT_USAGE;
		return P2P_EXIT_FAIL;
	default:
		p2p_cli_warn("node at %s: %s", path, msg);
		return P2P_EXIT_FAIL;
	}
}

int
p2p_cli_rpc(const char *opt_socket, const char *overlay,
    const char *method, json_t *params, int timeout_ms,
    p2p_ctl_notify_cb notify_cb, void *user, json_t **result)
{
	char path[PATH_MAX];
	p2p_ctl_rpcerr err;
	int st, code;

	*result = NULL;
	if (p2p_ctl_socket_path(opt_socket, overlay, path, sizeof(path)) ==
	    -1) {
		p2p_cli_warn("cannot work out the control socket path; "
		    "give --socket or set P2PSIP_SOCKET");
		return P2P_EXIT_UNREACHABLE;
	}
	st = p2p_ctl_call(path, method, params, timeout_ms, notify_cb, user,
	    result, &err);
	code = p2p_cli_call_status(st, &err, path);
	if (st != P2P_CTL_OK)
		p2p_ctl_rpcerr_free(&err);
	return code;
}

/* ---- encodings ---------------------------------------------------------- */

char *
p2p_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
	return out;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
p2p_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t len = strlen(s), i;
	int hi, lo;

	if (len % 2 != 0 || len / 2 > cap)
		return -1;
	for (i = 0; i < len / 2; i++) {
		if ((hi = hex_digit(s[2 * i])) < 0 ||
		    (lo = hex_digit(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*outlen = len / 2;
	return 0;
}


const char *
p2p_cli_socket(const char *opt_socket, const char *opt_dir, char *buf,
    size_t len)
{
	int r;

	if (opt_socket != NULL || opt_dir == NULL)
		return opt_socket;
	r = snprintf(buf, len, "%s/%s", opt_dir, P2P_CTL_SOCKET_NAME);
	if (r < 0 || (size_t)r >= len)
		p2p_cli_die(P2P_EXIT_USAGE, "--dir: path too long");
	return buf;
}

unsigned long
p2p_cli_number(const char *opt, const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *s == '-' || *s == '+' || *end != '\0' ||
	    errno != 0 || v > max)
		p2p_cli_die(P2P_EXIT_USAGE, "%s: a number from 0 to %lu", opt,
		    max);
	return v;
}
