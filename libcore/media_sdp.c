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
 *
 * ICE (RFC 8839) is the exception to that rule: its attributes only add
 * to a call that can go on without them, so a fault in them never refuses
 * the SDP. a=ice-ufrag and a=ice-pwd are read at the session level and in
 * our audio section (the section's value wins, attribute by attribute);
 * a=candidate only in our audio section. A candidate line that is not
 * for component 1 over UDP, or that is malformed in any way (foundation,
 * component, priority outside 1..2^31-1, an address that is not numeric,
 * port, type, a raddr without its rport or the other way round), is
 * skipped alone: one odd candidate from another agent must not cost the
 * call, and the others may still connect. Only the first
 * P2P_SDP_MAX_CANDS good ones are kept. Whatever follows the type and the
 * related address (extensions such as "generation 0") is ignored. A
 * ufrag or pwd that is malformed (length, characters), given twice at one
 * level, or missing while the other is there, drops ICE as a whole
 * (ufrag and pwd "", no candidates): without both credentials no
 * connectivity check can be answered, and guessing which of two values
 * the other agent meant would only fail later and less clearly. The
 * keywords of a candidate line (transport, "typ", the types, "raddr",
 * "rport") are matched without regard to case, as ABNF strings are.
 *
 * The builder writes the ICE attributes at media level, with a=rtcp-mux
 * since RTCP, if any, goes over the RTP candidate, and checks what it
 * writes with the same helpers the parser uses, so that whatever it
 * writes parses back the same.
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

/* The same, ASCII letters in either case (not strncasecmp: the locale). */
static int
span_caseeq(struct span s, const char *lit)
{
	char a, b;

	if (s.len != strlen(lit))
		return 0;
	for (size_t i = 0; i < s.len; i++) {
		a = s.p[i] >= 'A' && s.p[i] <= 'Z' ? s.p[i] - 'A' + 'a' :
		    s.p[i];
		b = lit[i] >= 'A' && lit[i] <= 'Z' ? lit[i] - 'A' + 'a' :
		    lit[i];
		if (a != b)
			return 0;
	}
	return 1;
}

/* A NUL-terminated field of a fixed array as a span; 0 if unterminated. */
static int
field(const char *f, size_t cap, struct span *s)
{
	const char *nul = memchr(f, '\0', cap);

	if (nul == NULL)
		return 0;
	s->p = f;
	s->len = (size_t)(nul - f);
	return 1;
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

/* A decimal number of 1 to maxdig digits, no sign, no more than max. */
static int
decimal(struct span t, size_t maxdig, uint32_t max, uint32_t *v)
{
	uint64_t x = 0;

	if (t.len == 0 || t.len > maxdig || maxdig > 10)
		return 0;
	for (size_t i = 0; i < t.len; i++) {
		if (t.p[i] < '0' || t.p[i] > '9')
			return 0;
		x = x * 10 + (uint64_t)(t.p[i] - '0');
	}
	if (x > max)
		return 0;
	*v = (uint32_t)x;
	return 1;
}

/* A decimal number of at most 5 digits, no sign, no more than max. */
static int
number(struct span t, unsigned max, unsigned *v)
{
	uint32_t x;

	if (!decimal(t, 5, max, &x))
		return 0;
	*v = x;
	return 1;
}

/* 4 or 6 for a numeric IPv4 or IPv6 address, else 0. */
static int
addr_family(const char *a)
{
	unsigned char tmp[16];

	if (inet_pton(AF_INET, a, tmp) == 1)
		return 4;
	if (inet_pton(AF_INET6, a, tmp) == 1)
		return 6;
	return 0;
}

/* Copy a numeric address into ip (cap bytes); its family, or 0. */
static int
copy_addr(struct span s, char *ip, size_t cap)
{
	char a[64];
	int fam;

	if (s.len == 0 || s.len >= sizeof(a) || s.len >= cap)
		return 0;
	memcpy(a, s.p, s.len);
	a[s.len] = '\0';
	if ((fam = addr_family(a)) == 0)
		return 0;
	memcpy(ip, a, s.len + 1);
	return fam;
}

/* "IN IP4 <addr>[/ttl...]" or "IN IP6 <addr>": a numeric address. */
static int
parse_conn(struct span v, char *ip, size_t iplen)
{
	struct span net, type, tok, addr;
	char a[64];
	int fam;

	if (!token(&v, &net) || !token(&v, &type) || !token(&v, &tok) ||
	    !span_eq(net, "IN"))
		return -1;
	addr.p = tok.p;
	for (addr.len = 0; addr.len < tok.len && tok.p[addr.len] != '/';
	    addr.len++)
		;
	if ((fam = copy_addr(addr, a, sizeof(a))) == 0 || addr.len >= iplen)
		return -1;
	if (!(fam == 4 && span_eq(type, "IP4")) &&
	    !(fam == 6 && span_eq(type, "IP6")))
		return -1;
	memcpy(ip, a, addr.len + 1);
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

/* The lengths RFC 8839 allows the ICE credentials (in ice-chars). */
#define UFRAG_MIN	4
#define PWD_MIN		22
#define CRED_MAX	256
/* A candidate priority is a positive 31-bit number (RFC 8445 s5.1.2). */
#define PRIO_MAX	0x7fffffffu

/* min..max ice-chars: ALPHA / DIGIT / "+" / "/". */
static int
ice_chars(struct span s, size_t min, size_t max)
{
	char c;

	if (s.len < min || s.len > max)
		return 0;
	for (size_t i = 0; i < s.len; i++) {
		c = s.p[i];
		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '+' && c != '/')
			return 0;
	}
	return 1;
}

/* The candidate type named by t, in the lowercase we store, or NULL. */
static const char *
cand_type(struct span t)
{
	static const char *const types[] = { "host", "srflx", "prflx",
	    "relay" };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (span_caseeq(t, types[i]))
			return types[i];
	return NULL;
}

/*
 * The value of an a=candidate line: 1 with *c filled if it is a well
 * formed candidate for component 1 over UDP, 0 otherwise (the caller
 * skips it either way, so the two cases need not be told apart). What
 * follows the type, or the raddr/rport pair, is extensions: ignored.
 */
static int
parse_cand(struct span v, p2p_sdp_cand *c)
{
	struct span f, comp, tr, prio, addr, port, typ, type, t;
	const char *name;
	uint32_t x, p;

	memset(c, 0, sizeof(*c));
	if (!token(&v, &f) || !token(&v, &comp) || !token(&v, &tr) ||
	    !token(&v, &prio) || !token(&v, &addr) || !token(&v, &port) ||
	    !token(&v, &typ) || !token(&v, &type))
		return 0;
	if (!ice_chars(f, 1, sizeof(c->foundation) - 1) ||
	    !decimal(comp, 3, 999, &x) || x != 1 || !span_caseeq(tr, "UDP") ||
	    !decimal(prio, 10, PRIO_MAX, &c->priority) || c->priority == 0 ||
	    copy_addr(addr, c->ip, sizeof(c->ip)) == 0 ||
	    !decimal(port, 5, 65535, &p) || !span_caseeq(typ, "typ") ||
	    (name = cand_type(type)) == NULL)
		return 0;
	memcpy(c->foundation, f.p, f.len);
	c->port = (uint16_t)p;
	memcpy(c->type, name, strlen(name) + 1);
	if (!token(&v, &t))
		return 1;
	if (span_caseeq(t, "rport"))
		return 0;	/* an rport needs its raddr */
	if (!span_caseeq(t, "raddr"))
		return 1;
	if (!token(&v, &addr) ||
	    copy_addr(addr, c->raddr, sizeof(c->raddr)) == 0 ||
	    !token(&v, &t) || !span_caseeq(t, "rport") || !token(&v, &port) ||
	    !decimal(port, 5, 65535, &p))
		return 0;
	c->rport = (uint16_t)p;
	return 1;
}

/*
 * An a= line (its value v) at the session level (media 0) or in our audio
 * section (media 1): an ICE credential goes to cred[0] (ufrag) or cred[1]
 * (pwd) of that level, a good candidate of our section to ice. *bad is
 * set for a malformed or repeated credential. Other attributes: ignored.
 */
static void
parse_ice_attr(struct span v, int media, struct span cred[2], int *bad,
    p2p_sdp_ice *ice)
{
	struct span name, value;
	p2p_sdp_cand c;
	size_t k;
	int which;

	for (k = 0; k < v.len && v.p[k] != ':'; k++)
		;
	name.p = v.p;
	name.len = k;
	/* "a=ice-ufrag" without ':' counts as an empty, malformed value */
	value.p = v.p + k + (k < v.len);
	value.len = v.len - k - (k < v.len);
	if (span_eq(name, "candidate")) {
		if (media && ice->ncands < P2P_SDP_MAX_CANDS &&
		    parse_cand(value, &c))
			ice->cands[ice->ncands++] = c;
		return;
	}
	if (span_eq(name, "ice-ufrag"))
		which = 0;
	else if (span_eq(name, "ice-pwd"))
		which = 1;
	else
		return;
	if (cred[which].p != NULL ||
	    !ice_chars(value, which == 0 ? UFRAG_MIN : PWD_MIN, CRED_MAX))
		*bad = 1;
	else
		cred[which] = value;
}

/* Settle out->ice once every line is read (see the top of the file). */
static void
finish_ice(p2p_sdp_ice *ice, struct span cred[2][2], int bad)
{
	struct span u = cred[1][0].p != NULL ? cred[1][0] : cred[0][0];
	struct span w = cred[1][1].p != NULL ? cred[1][1] : cred[0][1];

	if (bad || u.p == NULL || w.p == NULL) {
		memset(ice, 0, sizeof(*ice));
		return;
	}
	/* ice_chars bounded both to CRED_MAX, below the arrays' size */
	memcpy(ice->ufrag, u.p, u.len);
	ice->ufrag[u.len] = '\0';
	memcpy(ice->pwd, w.p, w.len);
	ice->pwd[w.len] = '\0';
}

int
p2p_sdp_parse(const char *sdp, size_t len, p2p_sdp_audio *out)
{
	char sess_ip[64] = "", media_ip[64] = "";
	struct span line, val, cred[2][2] = { { { NULL, 0 } } };
	size_t pos = 0, end, n = 0;
	int in_ours = 0, found = 0, ice_bad = 0, rc;

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
		} else if (line.p[0] == 'a' && in_ours >= 0) {
			parse_ice_attr(val, in_ours, cred[in_ours], &ice_bad,
			    &out->ice);
		}
	}
	if (!found)
		return -1;
	finish_ice(&out->ice, cred, ice_bad);
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

/*
 * 0 if parse_cand would read c back as it is (its type in *type, in the
 * lowercase it is written in), else -1.
 */
static int
check_cand(const p2p_sdp_cand *c, const char **type)
{
	struct span s;

	if (!field(c->foundation, sizeof(c->foundation), &s) ||
	    !ice_chars(s, 1, sizeof(c->foundation) - 1) ||
	    c->priority == 0 || c->priority > PRIO_MAX ||
	    !field(c->ip, sizeof(c->ip), &s) || addr_family(c->ip) == 0 ||
	    !field(c->type, sizeof(c->type), &s) ||
	    (*type = cand_type(s)) == NULL ||
	    !field(c->raddr, sizeof(c->raddr), &s))
		return -1;
	/* no raddr: no rport either, as the parser gives back */
	if (s.len == 0 ? c->rport != 0 : addr_family(c->raddr) == 0)
		return -1;
	return 0;
}

/* 0 if p2p_sdp_parse would read ice back as it is, else -1. */
static int
check_ice(const p2p_sdp_ice *ice, const char **types)
{
	struct span s;

	if (!field(ice->ufrag, sizeof(ice->ufrag), &s) ||
	    !ice_chars(s, UFRAG_MIN, CRED_MAX) ||
	    !field(ice->pwd, sizeof(ice->pwd), &s) ||
	    !ice_chars(s, PWD_MIN, CRED_MAX) ||
	    ice->ncands > P2P_SDP_MAX_CANDS)
		return -1;
	for (size_t i = 0; i < ice->ncands; i++)
		if (check_cand(&ice->cands[i], &types[i]) != 0)
			return -1;
	return 0;
}

static int
write_sdp(char *buf, size_t cap, const char *ip, uint16_t port,
    const int *pts, size_t npts, uint64_t sess_id, const p2p_sdp_ice *ice)
{
	const char *fam, *types[P2P_SDP_MAX_CANDS];
	const p2p_sdp_cand *c;
	size_t len = 0, i;
	int bad = 0;

	if (buf == NULL || cap == 0 || ip == NULL || (npts > 0 && pts == NULL))
		return -1;
	buf[0] = '\0';
	switch (addr_family(ip)) {
	case 4:
		fam = "IP4";
		break;
	case 6:
		fam = "IP6";
		break;
	default:
		return -1;
	}
	for (i = 0; i < npts; i++)
		if (pt_name(pts[i]) == NULL)
			return -1;
	if (ice != NULL && ice->ufrag[0] == '\0')
		ice = NULL;	/* no ICE: the SDP is what it was without */
	if (ice != NULL && check_ice(ice, types) != 0)
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
	if (ice != NULL) {
		add(buf, cap, &len, &bad, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n",
		    ice->ufrag, ice->pwd);
		for (i = 0; i < ice->ncands; i++) {
			c = &ice->cands[i];
			add(buf, cap, &len, &bad, "a=candidate:%s 1 UDP "
			    "%" PRIu32 " %s %u typ %s", c->foundation,
			    c->priority, c->ip, (unsigned)c->port, types[i]);
			if (c->raddr[0] != '\0')
				add(buf, cap, &len, &bad, " raddr %s rport %u",
				    c->raddr, (unsigned)c->rport);
			add(buf, cap, &len, &bad, "\r\n");
		}
		/* only component 1 is offered: RTCP, if any, shares it */
		add(buf, cap, &len, &bad, "a=rtcp-mux\r\n");
	}
	if (bad) {
		buf[0] = '\0';
		return -1;
	}
	return (int)len;
}

int
p2p_sdp_offer(char *buf, size_t cap, const char *ip, uint16_t port,
    const int *pts, size_t npts, uint64_t sess_id, const p2p_sdp_ice *ice)
{
	if (npts == 0)
		return -1;
	return write_sdp(buf, cap, ip, port, pts, npts, sess_id, ice);
}

int
p2p_sdp_answer(const p2p_sdp_audio *offer, const char *ip, uint16_t port,
    const int *our_pts, size_t nour, uint64_t sess_id, const p2p_sdp_ice *ice,
    char *buf, size_t cap, int *chosen_pt)
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
			    sess_id, ice) < 0)
				return -1;
			if (chosen_pt != NULL)
				*chosen_pt = our_pts[i];
			return 0;
		}
	}
	return -1;
}
