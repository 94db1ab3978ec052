/*
 * sip: SIP messages on libosip2 (see sip.h).
 */
#include "sip.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int sip_inited;

static void
osip_quiet(const char *file, int line, osip_trace_level_t level,
    const char *fmt, va_list ap)
{
	(void)file;
	(void)line;
	(void)level;
	(void)fmt;
	(void)ap;
}

void
p2p_sip_init(void)
{
	if (sip_inited)
		return;
	parser_init();
	/* libosip2 writes its own complaints about bad input to stderr;
	 * the callers count and drop such messages instead. */
	osip_trace_initialize_func(TRACE_LEVEL0, osip_quiet);
	for (int l = TRACE_LEVEL0; l < END_TRACE_LEVEL; l++)
		osip_trace_disable_level((osip_trace_level_t)l);
	sip_inited = 1;
}

static int
has_ctl(const char *buf, size_t len)
{
	/* NUL bytes would cut libosip2's string handling short. */
	return memchr(buf, '\0', len) != NULL;
}

osip_message_t *
p2p_sip_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	osip_message_t *m = NULL;
	osip_via_t *via = NULL;

	p2p_sip_init();
	if (len == 0 || len > P2P_SIP_MAX_MSG) {
		snprintf(err, errlen, "message of %zu bytes", len);
		return NULL;
	}
	if (has_ctl(buf, len)) {
		snprintf(err, errlen, "NUL byte in message");
		return NULL;
	}
	if (osip_message_init(&m) != 0)
		return NULL;
	if (osip_message_parse(m, buf, len) != 0) {
		snprintf(err, errlen, "not a SIP message");
		goto bad;
	}
	if (m->sip_version == NULL || strcmp(m->sip_version, "SIP/2.0") != 0) {
		snprintf(err, errlen, "not SIP/2.0");
		goto bad;
	}
	if (osip_message_get_via(m, 0, &via) < 0 || via == NULL ||
	    via->host == NULL || via->protocol == NULL) {
		snprintf(err, errlen, "no usable Via");
		goto bad;
	}
	if (m->from == NULL || m->from->url == NULL || m->to == NULL ||
	    m->to->url == NULL || m->call_id == NULL ||
	    m->call_id->number == NULL || m->cseq == NULL ||
	    m->cseq->method == NULL || m->cseq->number == NULL) {
		snprintf(err, errlen, "From, To, Call-ID or CSeq missing");
		goto bad;
	}
	if (MSG_IS_REQUEST(m)) {
		if (m->sip_method == NULL || m->req_uri == NULL ||
		    m->req_uri->scheme == NULL) {
			snprintf(err, errlen, "no request line");
			goto bad;
		}
		if (strcmp(m->sip_method, m->cseq->method) != 0) {
			snprintf(err, errlen, "CSeq method differs");
			goto bad;
		}
	} else if (m->status_code < 100 || m->status_code > 699) {
		snprintf(err, errlen, "status code %d", m->status_code);
		goto bad;
	}
	return m;
bad:
	osip_message_free(m);
	return NULL;
}

int
p2p_sip_to_str(osip_message_t *m, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	osip_message_force_update(m);
	if (osip_message_to_str(m, out, len) != 0 || *out == NULL)
		return -1;
	return 0;
}

/* Header name at line start (case-insensitive), followed by optional
 * whitespace and a colon; the value after it, or NULL. */
static const char *
header_value(const char *line, const char *end, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	if ((size_t)(end - line) <= n || strncasecmp(line, name, n) != 0)
		return NULL;
	p = line + n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || *p != ':')
		return NULL;
	return p + 1;
}

long
p2p_sip_frame(const uint8_t *buf, size_t len, size_t max, size_t *skip)
{
	const char *s = (const char *)buf, *hend = NULL, *line, *end;
	size_t i = 0, hlen;
	long clen = -1;

	while (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n')
		i += 2;
	*skip = i;
	if (i == len)
		return i > 0 ? (long)i : 0;
	if (i + 1 == len && s[i] == '\r')
		return 0;
	for (size_t j = i; j + 3 < len; j++) {
		if (s[j] == '\r' && s[j + 1] == '\n' && s[j + 2] == '\r' &&
		    s[j + 3] == '\n') {
			hend = s + j + 4;
			break;
		}
		if (s[j] == '\0')
			return -1;
	}
	if (hend == NULL)
		return len - i > max ? -1 : 0;
	hlen = (size_t)(hend - (s + i));
	if (hlen > max)
		return -1;
	for (line = s + i; line < hend; line = end + 2) {
		const char *v;
		end = memchr(line, '\r', (size_t)(hend - line));
		if (end == NULL || end + 1 >= hend)
			break;
		v = header_value(line, end, "Content-Length");
		if (v == NULL)
			v = header_value(line, end, "l");
		if (v != NULL) {
			char num[16];
			size_t k = 0;
			char *ep;
			unsigned long val;

			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (v < end && k + 1 < sizeof(num) &&
			    isdigit((unsigned char)*v))
				num[k++] = *v++;
			num[k] = '\0';
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (k == 0 || v != end)
				return -1;
			val = strtoul(num, &ep, 10);
			if (val > max || (clen >= 0 && (long)val != clen))
				return -1;
			clen = (long)val;
		}
	}
	/* A stream message must say how long its body is (s18.3). */
	if (clen < 0)
		return -1;
	if (hlen + (size_t)clen > max)
		return -1;
	if (len - i < hlen + (size_t)clen)
		return 0;
	return (long)(i + hlen + (size_t)clen);
}

const char *
p2p_sip_top_branch(osip_message_t *m)
{
	osip_via_t *via = NULL;
	osip_generic_param_t *b = NULL;

	if (osip_message_get_via(m, 0, &via) < 0 || via == NULL)
		return NULL;
	if (osip_via_param_get_byname(via, "branch", &b) != 0 || b == NULL ||
	    b->gvalue == NULL)
		return NULL;
	return b->gvalue;
}

int
p2p_sip_push_via(osip_message_t *m, const char *value)
{
	osip_via_t *via;

	if (osip_via_init(&via) != 0)
		return -1;
	if (osip_via_parse(via, value) != 0 ||
	    osip_list_add(&m->vias, via, 0) < 0) {
		osip_via_free(via);
		return -1;
	}
	osip_message_force_update(m);
	return 0;
}

int
p2p_sip_pop_via(osip_message_t *m)
{
	osip_via_t *via = osip_list_get(&m->vias, 0);

	if (via == NULL)
		return -1;
	osip_list_remove(&m->vias, 0);
	osip_via_free(via);
	osip_message_force_update(m);
	return 0;
}

int
p2p_sip_push_record_route(osip_message_t *m, const char *value)
{
	osip_record_route_t *rr;

	if (osip_record_route_init(&rr) != 0)
		return -1;
	if (osip_record_route_parse(rr, value) != 0 ||
	    osip_list_add(&m->record_routes, rr, 0) < 0) {
		osip_record_route_free(rr);
		return -1;
	}
	osip_message_force_update(m);
	return 0;
}

osip_route_t *
p2p_sip_top_route(osip_message_t *m)
{
	return osip_list_get(&m->routes, 0);
}

void
p2p_sip_pop_route(osip_message_t *m)
{
	osip_route_t *r = osip_list_get(&m->routes, 0);

	if (r == NULL)
		return;
	osip_list_remove(&m->routes, 0);
	osip_route_free(r);
	osip_message_force_update(m);
}

const char *
p2p_sip_uri_param(osip_uri_t *u, const char *name)
{
	osip_uri_param_t *p = NULL;

	if (u == NULL || osip_uri_uparam_get_byname(u, (char *)name, &p) != 0 ||
	    p == NULL)
		return NULL;
	return p->gvalue != NULL ? p->gvalue : "";
}

int
p2p_sip_uri_hostport(osip_uri_t *u, char *host, size_t hostlen,
    uint16_t *port)
{
	unsigned long p = 5060;
	char *ep;

	if (u == NULL || u->host == NULL || strlen(u->host) >= hostlen)
		return -1;
	snprintf(host, hostlen, "%s", u->host);
	if (u->port != NULL && u->port[0] != '\0') {
		p = strtoul(u->port, &ep, 10);
		if (*ep != '\0' || p == 0 || p > 65535)
			return -1;
	}
	*port = (uint16_t)p;
	return 0;
}

osip_message_t *
p2p_sip_response(osip_message_t *req, int code, const char *reason,
    const char *to_tag)
{
	osip_message_t *r;
	osip_generic_param_t *tag = NULL;

	if (req == NULL || req->from == NULL || req->to == NULL ||
	    req->call_id == NULL || req->cseq == NULL)
		return NULL;
	if (osip_message_init(&r) != 0)
		return NULL;
	osip_message_set_version(r, osip_strdup("SIP/2.0"));
	osip_message_set_status_code(r, code);
	osip_message_set_reason_phrase(r, osip_strdup(reason != NULL ?
	    reason : p2p_sip_reason(code)));
	if (osip_list_clone(&req->vias, &r->vias,
	    (int (*)(void *, void **))osip_via_clone) < 0 ||
	    osip_from_clone(req->from, &r->from) != 0 ||
	    osip_to_clone(req->to, &r->to) != 0 ||
	    osip_call_id_clone(req->call_id, &r->call_id) != 0 ||
	    osip_cseq_clone(req->cseq, &r->cseq) != 0)
		goto bad;
	if (code > 100 && to_tag != NULL &&
	    (osip_to_get_tag(r->to, &tag) != 0 || tag == NULL))
		osip_to_set_tag(r->to, osip_strdup(to_tag));
	osip_message_set_content_length(r, "0");
	return r;
bad:
	osip_message_free(r);
	return NULL;
}

const char *
p2p_sip_reason(int code)
{
	static const struct { int code; const char *text; } t[] = {
		{ 100, "Trying" }, { 180, "Ringing" }, { 183, "Session Progress" },
		{ 200, "OK" }, { 400, "Bad Request" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 408, "Request Timeout" }, { 413, "Request Entity Too Large" },
		{ 416, "Unsupported URI Scheme" },
		{ 480, "Temporarily Unavailable" },
		{ 481, "Call/Transaction Does Not Exist" },
		{ 482, "Loop Detected" }, { 483, "Too Many Hops" },
		{ 486, "Busy Here" }, { 487, "Request Terminated" },
		{ 488, "Not Acceptable Here" }, { 500, "Server Internal Error" },
		{ 501, "Not Implemented" }, { 503, "Service Unavailable" },
		{ 504, "Server Time-out" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].code == code)
			return t[i].text;
	return "";
}

int
p2p_sip_is(osip_message_t *m, const char *method)
{
	return m != NULL && MSG_IS_REQUEST(m) && m->sip_method != NULL &&
	    strcmp(m->sip_method, method) == 0;
}
