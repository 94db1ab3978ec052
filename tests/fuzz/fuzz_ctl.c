/*
 * libFuzzer target: the control server's request line parser,
 * p2p_ctl_parse_line.
 *
 * The input is one line (a '\n' inside is passed on as it is: the server
 * splits lines before this point). The line is given in an exact-size heap
 * block, so any over-read is caught. The outcome must be one of those the
 * header promises, with the fields each one sets, and a request taken as
 * well-formed must satisfy every rule of the envelope. Parsing the same
 * bytes with trailing '\r's or leading blanks must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

static int
parse(const uint8_t *data, size_t size, p2p_ctl_line *out)
{
	char *line = malloc(size ? size : 1);
	int rc;

	if (line == NULL)
		abort();
	memcpy(line, data, size);
	rc = p2p_ctl_parse_line(line, size, out);
	free(line);
	return rc;
}

static void
check_request(const p2p_ctl_line *l)
{
	json_t *v;

	if (!json_is_object(l->msg) || l->method == NULL)
		abort();
	v = json_object_get(l->msg, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
		abort();
	if (json_object_get(l->msg, "method") == NULL ||
	    strcmp(json_string_value(json_object_get(l->msg, "method")),
	    l->method) != 0)
		abort();
	if (l->id != json_object_get(l->msg, "id"))
		abort();
	if (l->id != NULL && !json_is_string(l->id) &&
	    !json_is_number(l->id) && !json_is_null(l->id))
		abort();
	if (l->params != json_object_get(l->msg, "params"))
		abort();
	if (l->params != NULL && !json_is_object(l->params) &&
	    !json_is_array(l->params))
		abort();
}

static void
check(int rc, const p2p_ctl_line *l)
{
	switch (rc) {
	case 0:
		check_request(l);
		break;
	case 1:
		if (l->msg != NULL || l->id != NULL)
			abort();
		break;
	case P2P_CTL_PARSE_ERROR:
		if (l->msg != NULL || l->id != NULL || l->error[0] == '\0')
			abort();
		break;
	case P2P_CTL_INVALID_REQUEST:
		if (l->msg == NULL || l->error[0] == '\0' ||
		    memchr(l->error, '\0', sizeof(l->error)) == NULL)
			abort();
		if (l->id != NULL && l->id != json_object_get(l->msg, "id"))
			abort();
		break;
	default:
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_ctl_line l, l2;
	uint8_t *v;
	int rc, rc2;

	rc = parse(data, size, &l);
	check(rc, &l);
	/* the same line with blanks before and "\r\r" after */
	if ((v = malloc(size + 4)) == NULL)
		abort();
	v[0] = ' ';
	v[1] = '\t';
	memcpy(v + 2, data, size);
	memcpy(v + 2 + size, "\r\r", 2);
	rc2 = parse(v, size + 4, &l2);
	check(rc2, &l2);
	free(v);
	if (rc != rc2 || (rc == 0 && (strcmp(l.method, l2.method) != 0 ||
	    !json_equal(l.msg, l2.msg))))
		abort();
	json_decref(l.msg);
	json_decref(l2.msg);
	return 0;
}
