/*
 * media_sdp: SDP (RFC 4566) offers and answers (RFC 3264) for one G.711
 * audio stream, and a parser for the offers and answers of others.
 *
 * The parser works line by line over (pointer, length) and never reads
 * past len nor allocates. A line is a lowercase letter, '=' and a value,
 * ended by LF or CRLF (the last line may lack it); the first must be v=0.
 * Lines before the first m= are the session level. Of the media
 * descriptions only the first "audio <port> RTP/AVP ..." is used; its own
 * c= line, if any, wins over the session's. Addresses must be numeric
 * IPv4 or IPv6 (a host name in c= is refused: we would have to resolve
 * it, and nobody sends one). Any line type we do not use is skipped, but
 * the lines we use must be well formed or the whole SDP is refused.
 */
#include "media.h"

#include <arpa/inet.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct span {
	const char *p;
	size_t len;
};

static int
span_eq(struct span s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* Take the next space-separated token of *s (one or more spaces). */
static int
token(struct span *s, struct span *tok)
{
	size_t i = 0, j;

	while (i < s->len && s->p[i] == ' ')
		i++;
	for (j = i; j < s->len && s->p[j] != ' '; j++)
		;
	if (j == i)
		return 0;
	tok->p = s->p + i;
	tok->len = j - i;
	s->p += j;
	s->len -= j;
	return 1;
}

/* A decimal number of at most 5 digits, no sign, no more than max. */
static int
number(struct span t, unsigned max, unsigned *v)
{
	unsigned x = 0;

	if (t.len == 0 || t.len > 5)
		return 0;
	for (size_t i = 0; i < t.len; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return 0;
		x = x * 10 + (unsigned)(t.p[i] - '0');
	}
	if (x > max)
		return 0;
	*v = x;
	return 1;
}

/* "IN IP4 <addr>[/ttl...]" or "IN IP6 <addr>": a numeric address. */
static int
parse_conn(struct span v, char *ip, size_t iplen)
{
	struct span net, type, addr;
	unsigned char tmp[16];
	char a[64];
	size_t n;

	if (!token(&v, &net) || !token(&v, &type) || !token(&v, &addr) ||
	    !span_eq(net, "IN"))
		return -1;
	for (n = 0; n < addr.len && addr.p[n] != '/'; n++)
		;
	if (n == 0 || n >= sizeof(a) || n >= iplen)
		return -1;
	memcpy(a, addr.p, n);
	a[n] = '\0';
	if (span_eq(type, "IP4")) {
		if (inet_pton(AF_INET, a, tmp) != 1)
			return -1;
	} else if (span_eq(type, "IP6")) {
		if (inet_pton(AF_INET6, a, tmp) != 1)
			return -1;
	} else {
		return -1;
	}
	memcpy(ip, a, n + 1);
	return 0;
}

/*
 * "audio <port>[/<count>] RTP/AVP <fmt> ...": 1 if it is ours (out's
 * port and pts filled), 0 if it is another kind of stream, -1 malformed.
 */
static int
parse_media(struct span v, p2p_sdp_audio *out)
{
	struct span media, port, proto, fmt;
	unsigned x, i;
	size_t k, slash;

	if (!token(&v, &media) || !token(&v, &port) || !token(&v, &proto))
		return -1;
	if (!span_eq(media, "audio") || !span_eq(proto, "RTP/AVP"))
		return 0;
	for (slash = 0; slash < port.len && port.p[slash] != '/'; slash++)
		;
	if (slash < port.len) {
		struct span cnt = { port.p + slash + 1, port.len - slash - 1 };
		if (!number(cnt, 65535, &x))
			return -1;
		port.len = slash;
	}
	if (!number(port, 65535, &x))
		return -1;
	out->port = (uint16_t)x;
	out->npts = 0;
	for (i = 0; token(&v, &fmt); i++) {
		if (!number(fmt, 127, &x))
			return -1;
		if (x != P2P_PT_PCMU && x != P2P_PT_PCMA)
			continue;
		for (k = 0; k < out->npts && out->pts[k] != (int)x; k++)
			;
		if (k == out->npts && out->npts < sizeof(out->pts) /
		    sizeof(out->pts[0]))
			out->pts[out->npts++] = (int)x;
	}
	return i > 0 ? 1 : -1;
}

int
p2p_sdp_parse(const char *sdp, size_t len, p2p_sdp_audio *out)
{
	char sess_ip[64] = "", media_ip[64] = "";
	struct span line, val;
	size_t pos = 0, end, n = 0;
	int in_ours = 0, found = 0, rc;

	memset(out, 0, sizeof(*out));
	if (sdp == NULL)
		return -1;
	while (pos < len) {
		for (end = pos; end < len && sdp[end] != '\n'; end++)
			if (sdp[end] == '\0')
				return -1;
		line.p = sdp + pos;
		line.len = end - pos;
		pos = end < len ? end + 1 : end;
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		if (line.len == 0)
			continue;
		if (line.len < 2 || line.p[0] < 'a' || line.p[0] > 'z' ||
		    line.p[1] != '=')
			return -1;
		val.p = line.p + 2;
		val.len = line.len - 2;
		if (n++ == 0 && !(line.p[0] == 'v' && span_eq(val, "0")))
			return -1;
		if (line.p[0] == 'm') {
			if (found)
				break;	/* our description has ended */
			if ((rc = parse_media(val, out)) < 0)
				return -1;
			in_ours = found = rc;
			if (!found)
				in_ours = -1;	/* another stream's lines */
		} else if (line.p[0] == 'c') {
			if (in_ours == 0 && parse_conn(val, sess_ip,
			    sizeof(sess_ip)) != 0)
				return -1;
			if (in_ours == 1 && parse_conn(val, media_ip,
			    sizeof(media_ip)) != 0)
				return -1;
		}
	}
	if (!found)
		return -1;
	if (media_ip[0] != '\0')
		memcpy(out->ip, media_ip, sizeof(out->ip));
	else if (sess_ip[0] != '\0')
		memcpy(out->ip, sess_ip, sizeof(out->ip));
	else
		return -1;
	return 0;
}

static const char *
pt_name(int pt)
{
	return pt == P2P_PT_PCMU ? "PCMU" : pt == P2P_PT_PCMA ? "PCMA" : NULL;
}

/* Append to buf; sets *bad when it does not fit. */
static void
add(char *buf, size_t cap, size_t *len, int *bad, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
add(char *buf, size_t cap, size_t *len, int *bad, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*bad)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len) {
		*bad = 1;
		return;
	}
	*len += (size_t)n;
}

static int
write_sdp(char *buf, size_t cap, const char *ip, uint16_t port,
    const int *pts, size_t npts, uint64_t sess_id)
{
	unsigned char tmp[16];
	const char *fam;
	size_t len = 0, i;
	int bad = 0;

	if (buf == NULL || cap == 0 || ip == NULL || (npts > 0 && pts == NULL))
		return -1;
	buf[0] = '\0';
	if (inet_pton(AF_INET, ip, tmp) == 1)
		fam = "IP4";
	else if (inet_pton(AF_INET6, ip, tmp) == 1)
		fam = "IP6";
	else
		return -1;
	for (i = 0; i < npts; i++)
		if (pt_name(pts[i]) == NULL)
			return -1;
	add(buf, cap, &len, &bad, "v=0\r\no=- %" PRIu64 " %" PRIu64
	    " IN %s %s\r\ns=-\r\nc=IN %s %s\r\nt=0 0\r\nm=audio %u RTP/AVP",
	    sess_id, sess_id, fam, ip, fam, ip, (unsigned)port);
	for (i = 0; i < npts; i++)
		add(buf, cap, &len, &bad, " %d", pts[i]);
	add(buf, cap, &len, &bad, "\r\n");
	for (i = 0; i < npts; i++)
		add(buf, cap, &len, &bad, "a=rtpmap:%d %s/8000\r\n", pts[i],
		    pt_name(pts[i]));
	add(buf, cap, &len, &bad, "a=ptime:20\r\na=sendrecv\r\n");
	if (bad) {
		buf[0] = '\0';
		return -1;
	}
	return (int)len;
}

int
p2p_sdp_offer(char *buf, size_t cap, const char *ip, uint16_t port,
    const int *pts, size_t npts, uint64_t sess_id)
{
	if (npts == 0)
		return -1;
	return write_sdp(buf, cap, ip, port, pts, npts, sess_id);
}

int
p2p_sdp_answer(const p2p_sdp_audio *offer, const char *ip, uint16_t port,
    const int *our_pts, size_t nour, uint64_t sess_id, char *buf, size_t cap,
    int *chosen_pt)
{
	size_t i, k;

	if (offer == NULL || (nour > 0 && our_pts == NULL))
		return -1;
	for (i = 0; i < nour; i++) {
		if (pt_name(our_pts[i]) == NULL)
			continue;
		for (k = 0; k < offer->npts && k < sizeof(offer->pts) /
		    sizeof(offer->pts[0]); k++) {
			if (offer->pts[k] != our_pts[i])
				continue;
			if (write_sdp(buf, cap, ip, port, &our_pts[i], 1,
			    sess_id) < 0)
				return -1;
			if (chosen_pt != NULL)
				*chosen_pt = our_pts[i];
			return 0;
		}
	}
	return -1;
}
