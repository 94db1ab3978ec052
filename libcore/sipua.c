/*
 * sipua: a small SIP user agent for p2p-call (see sipua.h for what it
 * does and does not do).
 *
 * Choices:
 *   - One call at a time, held in ua->call. Transactions do not point at
 *     the call: a response or a timer finds the call again by its Call-ID,
 *     so a call can end (and be freed) while a BYE or a final response is
 *     still being retransmitted. Client transactions (struct ctx) and
 *     server transactions (struct stx) each own a copy of the bytes they
 *     retransmit and a libuv timer; they are freed from that timer's close
 *     callback.
 *   - Messages are built with libosip2 (osip_message_set_* from header
 *     texts, osip_message_to_str) and sent with uv_udp_try_send: a datagram
 *     the kernel does not take at once is lost like any UDP datagram and
 *     the retransmission timers cover it.
 *   - A response goes to the address the request came from (what rport
 *     asks for, and what works through a NAT or a proxy that answers from
 *     another port than it listens on).
 *   - Out-of-dialog requests go to the outbound proxy without a Route
 *     header naming it: the front is the next hop by configuration, and
 *     it Record-Routes what must come back through it.
 *   - Both loose (;lr) and strict routers in the route set are handled
 *     (RFC 3261 12.2.1.1), although the node's front is always a loose one.
 *   - Events are delivered after the agent's state has been updated, so a
 *     callback may call back into the agent (hang up, dial, shut down).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <openssl/rand.h>
#include <osipparser2/osip_parser.h>

#include "ice.h"
#include "sip.h"
#include "sipauth.h"
#include "sipua.h"
#include "tls.h"
#include "sockaddr.h"

#define T1		P2P_UA_T1
#define T2		P2P_UA_T2
#define T64		(64 * P2P_UA_T1)
#define MAX_DGRAM	65535
#define MAX_STX		512
#define UA_ALLOW		"INVITE, ACK, CANCEL, BYE, MESSAGE, OPTIONS"
#define UA_NAME		"p2psip p2p-call"
#define UA_ICE_TIMEOUT_MS	300000

enum ct_kind { CT_REGISTER, CT_UNREGISTER, CT_INVITE, CT_CANCEL, CT_BYE,
    CT_MESSAGE };
enum ct_state { CS_TRYING, CS_PROCEEDING, CS_COMPLETED };
enum call_state { C_CALLING, C_RINGING_IN, C_TALKING };

/* A client transaction. */
struct ctx {
	struct ctx *next;
	p2p_ua *ua;
	uv_timer_t timer;
	enum ct_kind kind;
	enum ct_state state;
	char branch[48];
	char *call_id;
	char *wire;
	size_t len;
	struct sockaddr_storage dst;
	uint64_t start;
	unsigned interval;
	int heard;		/* some response came back */
	int cancelled;		/* INVITE: CANCEL sent, deadline running */
	unsigned cookie;	/* MESSAGE */
	int auth_tries;		/* challenges answered on the way here */
	char *ack;		/* INVITE: ACK of a non-2xx final */
	size_t acklen;
	int closing;
};

/* A server transaction: the last response to a request. */
struct stx {
	struct stx *next;
	p2p_ua *ua;
	uv_timer_t timer;
	char *key;		/* top Via branch (or Call-ID + CSeq) */
	char method[16];
	char *call_id;
	uint32_t cseq;
	struct sockaddr_storage src;
	char *wire;
	size_t len;
	int status;
	int acked;
	uint64_t final_at;
	unsigned interval;
	int closing;
};

struct call {
	enum call_state state;
	int outgoing;
	char *call_id;
	char *local_tag, *remote_tag;
	char *local_uri, *remote_uri;	/* header values without tag */
	char *ruri;			/* Request-URI of our INVITE */
	char *remote_target;
	char **route;
	size_t nroute;
	struct sockaddr_storage src;	/* where the peer's messages came */
	uint32_t local_cseq, remote_cseq, invite_cseq;
	char invite_branch[48];
	int proceeding, cancel_wanted, ringing_seen;
	char *ack;			/* our ACK for the 2xx */
	size_t acklen;
	struct sockaddr_storage ackdst;
	char peer[256];
	char sdp[2048];			/* our offer or answer */
	int pt;
	char rip[64];
	uint16_t rport;
	p2p_rtp *rtp;
	int media;
	uint64_t sess_id;
	/* Media over ICE (ua->ice_on and, for an incoming call, an offer
	 * with ICE attributes): */
	p2p_ua *ua;
	p2p_ice *ice;			/* until it hands over its path */
	p2p_dgram *path;		/* the selected pair, not yet in rtp */
	int gathered;			/* local candidates are in local_ice */
	int invite_wait;		/* our INVITE waits for them */
	int answer_wait;		/* our 200 waits for them */
	int path_rtp;			/* rtp runs over the pair */
	p2p_sdp_ice local_ice;
	p2p_sdp_audio offer;		/* incoming: the offer (with ICE) */
};

struct p2p_ua {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_timer_t reg_timer, shut_timer;
	char *aor, *user, *domain;
	char *password;		/* Digest; NULL: none */
	int tcp;		/* signalling over a stream to the proxy */
	int tls;		/* ... which is TLS (tlsc), not tcph */
	p2p_tls_conn *tlsc;
	uv_tcp_t tcph;
	uv_connect_t creq;
	int tcp_open, tcp_dead;
	char *tq;		/* written before the connection was up */
	size_t tqlen;
	char *rx;		/* TCP bytes not yet a whole message */
	size_t rxlen, rxcap;
	char tbuf[16384];
	uint32_t auth_nc;	/* nonce count, across all nonces */
	char ip[64];
	uint16_t port;
	char hostport[80];
	char contact[160];
	int have_proxy;
	struct sockaddr_storage proxy;
	unsigned expires;
	int pts[8];
	size_t npts;
	const p2p_pcm *play;
	int ice_on;		/* media over ICE (cfg->ice) */
	p2p_ice_cfg ice_cfg;
	p2p_ice_ctx *icectx;	/* made for the first call that needs it */
	p2p_ua_cb cb;
	void *user_data;
	struct ctx *ctxs;
	struct stx *stxs;
	size_t nstx;
	struct call *call;
	int reg_wanted, registered, reg_reported;
	char reg_call_id[128], reg_tag[24];
	uint32_t reg_cseq;
	unsigned reg_expires;
	unsigned next_cookie;
	p2p_ua_stats st;
	int trace;
	int shutting, closing;
	unsigned nopen;
	void (*done)(p2p_ua *, void *);
	char rbuf[MAX_DGRAM + 1];
};

static void ctx_final(struct ctx *, int, const char *, osip_message_t *,
    const struct sockaddr *);
static void call_free(p2p_ua *, struct call *);
static void routes_free(struct call *);
static void check_idle(p2p_ua *);

/* ---- small helpers ------------------------------------------------------ */

void
p2p_ua_global_init(void)
{
	p2p_sip_init();
}

static void
rand_hex(char *out, size_t nbytes)
{
	static const char d[] = "0123456789abcdef";
	unsigned char b[32];
	size_t i;

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	if (RAND_bytes(b, (int)nbytes) != 1) {
		/* Uniqueness, not secrecy, is what tags and branches need. */
		for (i = 0; i < nbytes; i++)
			b[i] = (unsigned char)(random() & 0xff);
	}
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

static void
new_branch(char *out, size_t len)
{
	char h[33];

	rand_hex(h, 10);
	snprintf(out, len, "z9hG4bK%s", h);
}

static char *
xstrdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int
streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void
emit(p2p_ua *ua, p2p_ua_event *ev)
{
	if (ua->closing || ua->cb == NULL)
		return;
	ua->cb(ua, ev, ua->user_data);
}

/* Where a SIP URI points: its host must be a numeric address. */
static int
uri_dest(const osip_uri_t *u, struct sockaddr_storage *ss)
{
	unsigned long port = 5060;
	char *end;

	if (u == NULL || u->host == NULL)
		return -1;
	if (u->port != NULL && *u->port != '\0') {
		errno = 0;
		port = strtoul(u->port, &end, 10);
		if (*end != '\0' || errno != 0 || port == 0 || port > 65535)
			return -1;
	}
	return p2p_sa_parse(u->host, (uint16_t)port, ss);
}

/* The same for a name-addr header value ("<sip:...;lr>"). */
static int
nameaddr_uri(const char *value, osip_from_t **out)
{
	osip_from_t *f;

	if (osip_from_init(&f) != 0)
		return -1;
	if (osip_from_parse(f, value) != 0 || f->url == NULL) {
		osip_from_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

static int
nameaddr_dest(const char *value, struct sockaddr_storage *ss)
{
	osip_from_t *f;
	int r;

	if (nameaddr_uri(value, &f) != 0)
		return -1;
	r = uri_dest(f->url, ss);
	osip_from_free(f);
	return r;
}

static int
nameaddr_is_loose(const char *value)
{
	osip_from_t *f;
	osip_uri_param_t *p = NULL;
	int r;

	if (nameaddr_uri(value, &f) != 0)
		return 1;
	r = osip_uri_uparam_get_byname(f->url, "lr", &p) == 0;
	osip_from_free(f);
	return r;
}

/* "user@host" of a URI into buf. */
static void
uri_aor(const osip_uri_t *u, char *buf, size_t len)
{
	if (u == NULL || u->host == NULL) {
		snprintf(buf, len, "unknown");
		return;
	}
	if (u->username != NULL)
		snprintf(buf, len, "%s@%s", u->username, u->host);
	else
		snprintf(buf, len, "%s", u->host);
}

static char *
uri_string(const osip_uri_t *u)
{
	char *s = NULL, *r;

	if (u == NULL || osip_uri_to_str(u, &s) != 0 || s == NULL)
		return NULL;
	r = strdup(s);
	osip_free(s);
	return r;
}

static const char *
gen_tag(osip_list_t *params)
{
	osip_generic_param_t *p = NULL;

	if (osip_generic_param_get_byname(params, "tag", &p) != 0 ||
	    p == NULL || p->gvalue == NULL || *p->gvalue == '\0')
		return NULL;
	return p->gvalue;
}

static const char *
top_branch(const osip_message_t *m)
{
	osip_via_t *v = osip_list_get(&m->vias, 0);
	osip_generic_param_t *p = NULL;

	if (v == NULL || osip_via_param_get_byname(v, "branch", &p) != 0 ||
	    p == NULL || p->gvalue == NULL || *p->gvalue == '\0')
		return NULL;
	return p->gvalue;
}

static void
callid_str(const osip_message_t *m, char *buf, size_t len)
{
	if (m->call_id->host != NULL)
		snprintf(buf, len, "%s@%s", m->call_id->number,
		    m->call_id->host);
	else
		snprintf(buf, len, "%s", m->call_id->number);
}

static int
cseq_num(const osip_message_t *m, uint32_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(m->cseq->number, &end, 10);
	if (*m->cseq->number == '\0' || *end != '\0' || errno != 0 ||
	    v > 0x7fffffffUL)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static const char *
reason_of(int status)
{
	const char *r = osip_message_get_reason(status);

	return r != NULL ? r : "Unknown";
}

/* ---- sending ------------------------------------------------------------ */

static void
trace(p2p_ua *ua, const char *dir, const struct sockaddr *sa,
    const char *buf, size_t len)
{
	char a[80];

	if (!ua->trace)
		return;
	p2p_sa_name(sa, NULL, 0, a, sizeof(a));
	fprintf(stderr, "%s %s (%zu bytes)\n%.*s\n", dir, a, len, (int)len,
	    buf);
}

static void tcp_write(p2p_ua *ua, const char *buf, size_t len);

static void
send_raw(p2p_ua *ua, const struct sockaddr_storage *dst, const char *buf,
    size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);

	if (ua->closing)
		return;
	trace(ua, "-->", (const struct sockaddr *)dst, buf, len);
	if (ua->tcp) {
		tcp_write(ua, buf, len);	/* to the proxy, always */
		return;
	}
	if (uv_udp_try_send(&ua->udp, &b, 1,
	    (const struct sockaddr *)dst) >= 0)
		ua->st.sent++;
}

/* Serialize m (which is freed) into a malloc'd buffer. */
static char *
serialize(osip_message_t *m, size_t *len)
{
	char *s = NULL, *r = NULL;
	size_t n = 0;

	if (osip_message_to_str(m, &s, &n) == 0 && s != NULL) {
		if ((r = malloc(n + 1)) != NULL) {
			memcpy(r, s, n);
			r[n] = '\0';
			*len = n;
		}
	}
	if (s != NULL)
		osip_free(s);
	osip_message_free(m);
	return r;
}

static int
set_body(osip_message_t *m, const char *type, const char *body, size_t n)
{
	if (osip_message_set_content_type(m, type) != 0)
		return -1;
	return osip_message_set_body(m, body, n);
}

/*
 * A request. from and to are whole header values (tags included), routes
 * the Route header values in order.
 */
static osip_message_t *
req_build(p2p_ua *ua, const char *method, const char *ruri,
    const char *from, const char *to, const char *call_id, uint32_t cseq,
    const char *branch, char *const *routes, size_t nroutes)
{
	osip_message_t *m;
	osip_uri_t *u;
	char v[256];
	size_t i;

	if (osip_message_init(&m) != 0)
		return NULL;
	osip_message_set_method(m, osip_strdup(method));
	osip_message_set_version(m, osip_strdup("SIP/2.0"));
	if (osip_uri_init(&u) != 0)
		goto fail;
	if (osip_uri_parse(u, ruri) != 0) {
		osip_uri_free(u);
		goto fail;
	}
	osip_message_set_uri(m, u);
	snprintf(v, sizeof(v), "SIP/2.0/%s %s;rport;branch=%s",
	    ua->tls ? "TLS" : ua->tcp ? "TCP" : "UDP", ua->hostport, branch);
	if (osip_message_set_via(m, v) != 0)
		goto fail;
	for (i = 0; i < nroutes; i++)
		if (osip_message_set_route(m, routes[i]) != 0)
			goto fail;
	snprintf(v, sizeof(v), "%u %s", cseq, method);
	if (osip_message_set_from(m, from) != 0 ||
	    osip_message_set_to(m, to) != 0 ||
	    osip_message_set_call_id(m, call_id) != 0 ||
	    osip_message_set_cseq(m, v) != 0 ||
	    osip_message_set_max_forwards(m, "70") != 0 ||
	    osip_message_set_header(m, "User-Agent", UA_NAME) != 0)
		goto fail;
	return m;
fail:
	osip_message_free(m);
	return NULL;
}

static void
free_contact(void *p)
{
	osip_contact_free(p);
}

static void
free_rr(void *p)
{
	osip_record_route_free(p);
}

static int
list_clone_via(void *a, void **b)
{
	return osip_via_clone(a, (osip_via_t **)b);
}

static int
list_clone_rr(void *a, void **b)
{
	return osip_record_route_clone(a, (osip_record_route_t **)b);
}

/*
 * A response to req. totag is added to To when it has none; with
 * dialog set (a dialog-forming response) Record-Route is copied and our
 * Contact added.
 */
static osip_message_t *
resp_build(p2p_ua *ua, const osip_message_t *req, int status,
    const char *totag, int dialog)
{
	osip_message_t *r;

	if (osip_message_init(&r) != 0)
		return NULL;
	osip_message_set_version(r, osip_strdup("SIP/2.0"));
	osip_message_set_status_code(r, status);
	osip_message_set_reason_phrase(r, osip_strdup(reason_of(status)));
	if (osip_list_clone(&req->vias, &r->vias, list_clone_via) != 0 ||
	    osip_from_clone(req->from, &r->from) != 0 ||
	    osip_to_clone(req->to, &r->to) != 0 ||
	    osip_call_id_clone(req->call_id, &r->call_id) != 0 ||
	    osip_cseq_clone(req->cseq, &r->cseq) != 0)
		goto fail;
	if (totag != NULL && gen_tag(&r->to->gen_params) == NULL &&
	    osip_to_set_tag(r->to, osip_strdup(totag)) != 0)
		goto fail;
	if (dialog) {
		if (osip_list_clone(&req->record_routes, &r->record_routes,
		    list_clone_rr) != 0 ||
		    osip_message_set_contact(r, ua->contact) != 0)
			goto fail;
	}
	if (osip_message_set_header(r, "User-Agent", UA_NAME) != 0)
		goto fail;
	return r;
fail:
	osip_message_free(r);
	return NULL;
}

/* ---- client transactions ------------------------------------------------ */

static void
ctx_closed(uv_handle_t *h)
{
	struct ctx *c = h->data;
	p2p_ua *ua = c->ua;

	free(c->wire);
	free(c->ack);
	free(c->call_id);
	free(c);
	ua->nopen--;
	check_idle(ua);
}

static void
ctx_free(struct ctx *c)
{
	struct ctx **pp;

	for (pp = &c->ua->ctxs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, ctx_closed);
}

static void
ctx_timer(uv_timer_t *t)
{
	struct ctx *c = t->data;
	p2p_ua *ua = c->ua;
	uint64_t el = uv_now(ua->loop) - c->start;
	unsigned next;

	if (c->state == CS_COMPLETED) {
		ctx_free(c);		/* timer D / K */
		return;
	}
	if (el >= T64) {
		ctx_final(c, 408, c->cancelled ? "Request Terminated" :
		    "Request Timeout", NULL, NULL);
		return;
	}
	if (!ua->tcp && (c->state == CS_TRYING || c->kind != CT_INVITE)) {
		send_raw(ua, &c->dst, c->wire, c->len);
		ua->st.retransmits++;
		if (c->kind == CT_INVITE)
			c->interval *= 2;
		else if (c->state == CS_PROCEEDING)
			c->interval = T2;
		else
			c->interval = c->interval * 2 > T2 ? T2 :
			    c->interval * 2;
	}
	next = c->interval;
	if ((c->kind == CT_INVITE && c->state == CS_PROCEEDING) || ua->tcp)
		next = (unsigned)(T64 - el);	/* only the deadline */
	if (el + next > T64)
		next = (unsigned)(T64 - el);
	uv_timer_start(&c->timer, ctx_timer, next, 0);
}

/* Send m (consumed) as a new client transaction to dst. */
static struct ctx *
ctx_start(p2p_ua *ua, enum ct_kind kind, osip_message_t *m,
    const struct sockaddr_storage *dst, const char *branch,
    const char *call_id)
{
	struct ctx *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		osip_message_free(m);
		return NULL;
	}
	if ((c->wire = serialize(m, &c->len)) == NULL ||
	    (c->call_id = strdup(call_id)) == NULL) {
		free(c->wire);
		free(c);
		return NULL;
	}
	c->ua = ua;
	c->kind = kind;
	c->state = CS_TRYING;
	snprintf(c->branch, sizeof(c->branch), "%s", branch);
	c->dst = *dst;
	c->start = uv_now(ua->loop);
	c->interval = T1;
	uv_timer_init(ua->loop, &c->timer);
	c->timer.data = c;
	ua->nopen++;
	c->next = ua->ctxs;
	ua->ctxs = c;
	send_raw(ua, dst, c->wire, c->len);
	uv_timer_start(&c->timer, ctx_timer, ua->tcp ? T64 : T1, 0);
	return c;
}

static struct ctx *
ctx_find(p2p_ua *ua, const char *branch, const char *method)
{
	static const char *names[] = { "REGISTER", "REGISTER", "INVITE",
	    "CANCEL", "BYE", "MESSAGE" };
	struct ctx *c;

	for (c = ua->ctxs; c != NULL; c = c->next)
		if (!c->closing && strcmp(c->branch, branch) == 0 &&
		    strcmp(names[c->kind], method) == 0)
			return c;
	return NULL;
}

/* ---- server transactions ------------------------------------------------ */

static void
stx_closed(uv_handle_t *h)
{
	struct stx *s = h->data;
	p2p_ua *ua = s->ua;

	free(s->key);
	free(s->call_id);
	free(s->wire);
	free(s);
	ua->nopen--;
	check_idle(ua);
}

static void
stx_free(struct stx *s)
{
	struct stx **pp;

	for (pp = &s->ua->stxs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			s->ua->nstx--;
			break;
		}
	if (s->closing)
		return;
	s->closing = 1;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, stx_closed);
}

static void call_noack(p2p_ua *, const char *);

static void
stx_timer(uv_timer_t *t)
{
	struct stx *s = t->data;
	p2p_ua *ua = s->ua;
	uint64_t el = uv_now(ua->loop) - s->final_at;
	char *cid;

	if (el >= T64) {
		if (strcmp(s->method, "INVITE") == 0 && !s->acked &&
		    s->status >= 200 && s->status < 300 &&
		    (cid = xstrdup(s->call_id)) != NULL) {
			stx_free(s);
			call_noack(ua, cid);	/* timer H */
			free(cid);
			return;
		}
		stx_free(s);
		return;
	}
	if (strcmp(s->method, "INVITE") == 0 && !s->acked) {
		send_raw(ua, &s->src, s->wire, s->len);	/* timer G */
		ua->st.retransmits++;
		s->interval = s->interval * 2 > T2 ? T2 : s->interval * 2;
		uv_timer_start(&s->timer, stx_timer,
		    el + s->interval > T64 ? T64 - el : s->interval, 0);
		return;
	}
	uv_timer_start(&s->timer, stx_timer, T64 - el, 0);
}

static const char *
req_key(const osip_message_t *m, char *buf, size_t len)
{
	const char *b = top_branch(m);
	char cid[256];

	if (b != NULL)
		return b;
	callid_str(m, cid, sizeof(cid));
	snprintf(buf, len, "%s/%s", cid, m->cseq->number);
	return buf;
}

static struct stx *
stx_find(p2p_ua *ua, const char *key, const char *method)
{
	struct stx *s;

	for (s = ua->stxs; s != NULL; s = s->next)
		if (!s->closing && strcmp(s->key, key) == 0 &&
		    strcmp(s->method, method) == 0)
			return s;
	return NULL;
}

/* Create (or find) the server transaction of req. */
static struct stx *
stx_get(p2p_ua *ua, const osip_message_t *req,
    const struct sockaddr_storage *src)
{
	struct stx *s;
	char kb[400], cid[256];
	const char *key = req_key(req, kb, sizeof(kb));

	if ((s = stx_find(ua, key, req->sip_method)) != NULL)
		return s;
	if (ua->nstx >= MAX_STX || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	callid_str(req, cid, sizeof(cid));
	if ((s->key = strdup(key)) == NULL ||
	    (s->call_id = strdup(cid)) == NULL) {
		free(s->key);
		free(s);
		return NULL;
	}
	snprintf(s->method, sizeof(s->method), "%s", req->sip_method);
	(void)cseq_num(req, &s->cseq);
	s->ua = ua;
	s->src = *src;
	s->interval = T1;
	uv_timer_init(ua->loop, &s->timer);
	s->timer.data = s;
	ua->nopen++;
	s->next = ua->stxs;
	ua->stxs = s;
	ua->nstx++;
	return s;
}

/* Send r (consumed) as the response of s; remember it for
 * retransmissions. */
static void
stx_respond(struct stx *s, osip_message_t *r)
{
	p2p_ua *ua = s->ua;
	char *w;
	size_t n;

	s->status = r->status_code;
	if ((w = serialize(r, &n)) == NULL)
		return;
	free(s->wire);
	s->wire = w;
	s->len = n;
	send_raw(ua, &s->src, w, n);
	if (s->status < 200)
		return;
	s->final_at = uv_now(ua->loop);
	uv_timer_start(&s->timer, stx_timer, strcmp(s->method, "INVITE") ==
	    0 ? T1 : T64, 0);
}

/*
 * Answer req with status in a (new or found) server transaction. body and
 * type may be NULL. With dialog the response carries Contact and the
 * Record-Route of the request. Returns the transaction or NULL.
 */
static struct stx *
respond(p2p_ua *ua, const osip_message_t *req,
    const struct sockaddr_storage *src, int status, const char *totag,
    int dialog, const char *type, const char *body)
{
	struct stx *s;
	osip_message_t *r;

	if ((r = resp_build(ua, req, status, totag, dialog)) == NULL)
		return NULL;
	if (status == 405 || (status == 200 &&
	    strcmp(req->sip_method, "OPTIONS") == 0) || (dialog &&
	    strcmp(req->sip_method, "INVITE") == 0))
		(void)osip_message_set_allow(r, UA_ALLOW);
	if (status == 415)
		(void)osip_message_set_accept(r, "text/plain");
	if (body != NULL && set_body(r, type, body, strlen(body)) != 0) {
		osip_message_free(r);
		return NULL;
	}
	if ((s = stx_get(ua, req, src)) == NULL) {
		/* No room to remember it: answer once all the same. */
		char *w;
		size_t n;
		if ((w = serialize(r, &n)) != NULL)
			send_raw(ua, src, w, n);
		free(w);
		return NULL;
	}
	stx_respond(s, r);
	return s;
}

/* ---- calls -------------------------------------------------------------- */

static void
call_free(p2p_ua *ua, struct call *c)
{
	if (c == NULL)
		return;
	if (ua->call == c)
		ua->call = NULL;
	if (c->ice != NULL)
		p2p_ice_free(c->ice);
	if (c->path != NULL) {
		c->path->on_recv = NULL;
		c->path->on_gone = NULL;
		p2p_dgram_close(c->path);
	}
	if (c->rtp != NULL)
		p2p_rtp_free(c->rtp);
	free(c->call_id);
	free(c->local_tag);
	free(c->remote_tag);
	free(c->local_uri);
	free(c->remote_uri);
	free(c->ruri);
	free(c->remote_target);
	routes_free(c);
	free(c->ack);
	free(c);
}

/* End the current call: ENDED with what the media did, then free it. */
static void
call_end(p2p_ua *ua, const char *reason, int ok)
{
	struct call *c = ua->call;
	p2p_ua_event ev;

	if (c == NULL)
		return;
	ua->call = NULL;
	memset(&ev, 0, sizeof(ev));
	ev.type = P2P_UA_ENDED;
	ev.reason = reason;
	ev.ok = ok;
	ev.answered = c->media;
	ev.from = c->peer;
	if (c->rtp != NULL) {
		p2p_rtp_stop(c->rtp);
		p2p_rtp_get_stats(c->rtp, &ev.stats);
		ev.rec = p2p_rtp_recorded(c->rtp, &ev.nrec);
	}
	emit(ua, &ev);
	call_free(ua, c);
}

/* Our INVITE failed: FAILED, then free the call. */
static void
call_fail(p2p_ua *ua, int status, const char *reason, int unreachable)
{
	struct call *c = ua->call;
	p2p_ua_event ev;

	if (c == NULL)
		return;
	ua->call = NULL;
	memset(&ev, 0, sizeof(ev));
	ev.type = P2P_UA_FAILED;
	ev.status = status;
	ev.reason = reason;
	ev.unreachable = unreachable;
	ev.from = c->peer;
	emit(ua, &ev);
	call_free(ua, c);
}

static struct call *
call_new(p2p_ua *ua, int outgoing)
{
	struct call *c;
	char t[33];

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ua = ua;
	c->outgoing = outgoing;
	c->local_cseq = 1;
	c->pt = -1;
	rand_hex(t, 8);
	if ((c->local_tag = strdup(t)) == NULL) {
		free(c);
		return NULL;
	}
	rand_hex(t, 6);
	c->sess_id = strtoull(t, NULL, 16);
	return c;
}

/*
 * A request within the dialog of c: Request-URI, Route headers and next
 * hop from the route set and remote target (RFC 3261 12.2.1.1). ACK
 * reuses the INVITE's CSeq number.
 */
static osip_message_t *
dlg_req(p2p_ua *ua, struct call *c, const char *method, char *branch,
    size_t blen, struct sockaddr_storage *dst)
{
	osip_message_t *m;
	char from[400], to[400], **routes = c->route, *ruri = c->remote_target;
	char *strict[64], *ruri_strict = NULL;
	size_t nr = c->nroute, i;
	osip_from_t *f;
	int have_dst = 0;

	snprintf(from, sizeof(from), "%s;tag=%s", c->local_uri, c->local_tag);
	if (c->remote_tag != NULL)
		snprintf(to, sizeof(to), "%s;tag=%s", c->remote_uri,
		    c->remote_tag);
	else
		snprintf(to, sizeof(to), "%s", c->remote_uri);
	new_branch(branch, blen);
	if (nr > 0 && !nameaddr_is_loose(c->route[0]) && nr < 64 &&
	    nameaddr_uri(c->route[0], &f) == 0) {
		/* A strict router: it becomes the Request-URI and the remote
		 * target the last Route. */
		ruri_strict = uri_string(f->url);
		osip_from_free(f);
		if (ruri_strict != NULL) {
			for (i = 1; i < nr; i++)
				strict[i - 1] = c->route[i];
			strict[nr - 1] = c->remote_target;
			routes = strict;
			ruri = ruri_strict;
			have_dst = nameaddr_dest(c->route[0], dst) == 0;
		}
	} else if (nr > 0)
		have_dst = nameaddr_dest(c->route[0], dst) == 0;
	if (!have_dst && ruri_strict == NULL) {
		osip_uri_t *u;
		if (osip_uri_init(&u) == 0) {
			if (osip_uri_parse(u, c->remote_target) == 0)
				have_dst = uri_dest(u, dst) == 0;
			osip_uri_free(u);
		}
	}
	if (!have_dst) {
		if (ua->have_proxy)
			*dst = ua->proxy;
		else
			*dst = c->src;
	}
	m = req_build(ua, method, ruri, from, to, c->call_id,
	    strcmp(method, "ACK") == 0 ? c->invite_cseq : ++c->local_cseq,
	    branch, routes, ruri_strict != NULL ? nr : c->nroute);
	free(ruri_strict);
	return m;
}

static void
send_bye(p2p_ua *ua, struct call *c)
{
	osip_message_t *m;
	struct sockaddr_storage dst;
	char br[48];

	if ((m = dlg_req(ua, c, "BYE", br, sizeof(br), &dst)) != NULL)
		(void)ctx_start(ua, CT_BYE, m, &dst, br, c->call_id);
}

/* The 2xx of an INVITE never got its ACK (timer H): BYE and end. */
static void
call_noack(p2p_ua *ua, const char *call_id)
{
	struct call *c = ua->call;

	if (c == NULL || !streq(c->call_id, call_id) || c->outgoing)
		return;
	send_bye(ua, c);
	call_end(ua, "no ACK for our 200 OK", 0);
}

static int
choose_pt(p2p_ua *ua, const p2p_sdp_audio *a)
{
	size_t i, j;

	for (i = 0; i < a->npts; i++)
		for (j = 0; j < ua->npts; j++)
			if (a->pts[i] == ua->pts[j])
				return a->pts[i];
	return -1;
}

/* ---- media over ICE ---------------------------------------------------- */

/*
 * With ice_on, a call's RTP runs over an ICE agent's selected pair (ice.h,
 * RFC 8445; candidates in the SDP as RFC 8839 has them) instead of going
 * straight to the address in the peer's SDP, so that two agents behind
 * NATs reach each other through server-reflexive or TURN-relayed
 * candidates. The SDP's c= and m= still name the session's own RTP
 * socket: a peer without ICE sends there and gets plain RTP, as before.
 *
 * Outgoing: the agent (controlling) gathers first, the INVITE goes out
 * with the candidates (invite_wait); the 2xx's candidates start the
 * checks. Incoming, when the offer has ICE attributes: 180 at once, the
 * agent (controlled) gathers and starts its checks with the offer's
 * candidates, and the 200 waits for the local candidates (answer_wait).
 * The RTP starts once the call is answered and a pair is selected, in
 * whichever order the two come. A gathering that fails makes the call go
 * on without ICE; checks that fail end an answered call.
 */
static int media_path(p2p_ua *ua, struct call *c);
static int send_invite(p2p_ua *ua, struct call *c, char *err,
    size_t errlen);
static int answer_now(p2p_ua *ua, struct call *c);

/* RFC 6940's IceCandidate (what ice.h speaks) to an SDP candidate. */
static int
cand_to_sdp(const p2p_ice_cand *in, p2p_sdp_cand *out)
{
	static const char *const types[] = { NULL, "host", "srflx", "prflx",
	    "relay" };

	memset(out, 0, sizeof(*out));
	if (in->type < 1 || in->type > 4 || in->foundation.len == 0 ||
	    in->foundation.len >= sizeof(out->foundation) ||
	    p2p_addr_port_host(&in->addr, out->ip, sizeof(out->ip)) != 0)
		return -1;
	memcpy(out->foundation, in->foundation.p, in->foundation.len);
	out->priority = in->priority;
	out->port = in->addr.port;
	snprintf(out->type, sizeof(out->type), "%s", types[in->type]);
	if (p2p_cand_has_rel_addr(in->type) &&
	    p2p_addr_port_host(&in->rel_addr, out->raddr,
	    sizeof(out->raddr)) == 0)
		out->rport = in->rel_addr.port;
	else
		out->raddr[0] = '\0';
	return 0;
}

static int
addr_from_text(const char *ip, uint16_t port, p2p_addr_port *out)
{
	uint8_t a[16];

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, ip, a) == 1)
		p2p_addr_port_v4(out, a, port);
	else if (inet_pton(AF_INET6, ip, a) == 1)
		p2p_addr_port_v6(out, a, port);
	else
		return -1;
	return 0;
}

/* An SDP candidate to an IceCandidate of the media's link type; the
 * foundation points into in. */
static int
cand_from_sdp(const p2p_sdp_cand *in, uint8_t link, p2p_ice_cand *out)
{
	static const char *const types[] = { "host", "srflx", "prflx",
	    "relay" };
	uint8_t t = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < 4; i++)
		if (strcmp(in->type, types[i]) == 0)
			t = (uint8_t)(i + 1);
	if (t == 0 || addr_from_text(in->ip, in->port, &out->addr) != 0)
		return -1;
	out->type = t;
	out->overlay_link = link;
	out->priority = in->priority;
	out->foundation.p = (const uint8_t *)in->foundation;
	out->foundation.len = strlen(in->foundation);
	if (p2p_cand_has_rel_addr(t)) {
		/* the related address is informative; 0.0.0.0 if absent */
		if (in->raddr[0] == '\0' || addr_from_text(in->raddr,
		    in->rport, &out->rel_addr) != 0) {
			uint8_t z[4] = { 0 };
			p2p_addr_port_v4(&out->rel_addr, z, 0);
		}
	}
	return 0;
}

/* The usable candidates of the peer's ICE attributes; none when it has
 * no ICE attributes. */
static size_t
ice_cands(const p2p_sdp_ice *r, uint8_t link,
    p2p_ice_cand cands[P2P_SDP_MAX_CANDS])
{
	size_t n = 0;

	if (r->ufrag[0] == '\0' || r->pwd[0] == '\0')
		return 0;
	for (size_t i = 0; i < r->ncands && i < P2P_SDP_MAX_CANDS; i++)
		if (cand_from_sdp(&r->cands[i], link, &cands[n]) == 0)
			n++;
	return n;
}

/* Hand the peer's ICE attributes to the call's agent: the checks start.
 * 0 or -1 (nothing usable). */
static int
ice_remote(struct call *c, const p2p_sdp_ice *r, uint8_t link)
{
	p2p_ice_cand cands[P2P_SDP_MAX_CANDS];
	size_t n = ice_cands(r, link, cands);

	if (n == 0)
		return -1;
	return p2p_ice_set_remote(c->ice, (const uint8_t *)r->ufrag,
	    strlen(r->ufrag), (const uint8_t *)r->pwd, strlen(r->pwd), cands,
	    n);
}

/*
 * The SDP's c= and m= name the session's own RTP socket (for a peer
 * without ICE), and an ICE peer takes the SDP for an ICE mismatch unless
 * that address is one of the candidates (RFC 8839 s4.2.1, s5.1). So it is
 * listed too, as a host candidate of the lowest priority: an ICE peer's
 * checks to it get no answer (the socket speaks no STUN) and its pairs
 * fail, while the agent's own candidates make the path.
 */
static void
own_socket_cand(p2p_ua *ua, struct call *c, p2p_sdp_cand *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->foundation, sizeof(out->foundation), "rtp");
	out->priority = 255;	/* type and local preference 0, component 1 */
	if (strlen(ua->ip) < sizeof(out->ip))	/* (a numeric address) */
		memcpy(out->ip, ua->ip, strlen(ua->ip) + 1);
	out->port = p2p_rtp_port(c->rtp);
	snprintf(out->type, sizeof(out->type), "host");
}

/*
 * Gathering is over, with candidates (ice: the agent's, in c->local_ice)
 * or without (the call goes on without ICE): an outgoing call sends the
 * INVITE it held back; an incoming one makes its answer, and sends it if
 * the user answered meanwhile. The checks start when the answer goes out
 * (answer_now), as the caller's start when it arrives: started now, they
 * could fail while the phone rings.
 */
static void
gather_done(p2p_ua *ua, struct call *c, int ice)
{
	p2p_ice_cand tmp[P2P_SDP_MAX_CANDS];
	char err[160];
	int pt;

	c->gathered = 1;
	if (c->outgoing) {
		if (c->invite_wait) {
			c->invite_wait = 0;
			if (send_invite(ua, c, err, sizeof(err)) != 0)
				call_fail(ua, 500, err, 0);
		}
		return;
	}
	if (ice && (ice_cands(&c->offer.ice, ua->ice_cfg.overlay_link,
	    tmp) == 0 || p2p_sdp_answer(&c->offer, ua->ip,
	    p2p_rtp_port(c->rtp), ua->pts, ua->npts, c->sess_id,
	    &c->local_ice, c->sdp, sizeof(c->sdp), &pt) != 0)) {
		/* nothing usable among the offer's candidates */
		p2p_ice_free(c->ice);
		c->ice = NULL;
		ice = 0;
	}
	if (!ice && p2p_sdp_answer(&c->offer, ua->ip, p2p_rtp_port(c->rtp),
	    ua->pts, ua->npts, c->sess_id, NULL, c->sdp, sizeof(c->sdp),
	    &pt) != 0)
		c->sdp[0] = '\0';	/* plain RTP, or nothing to answer */
	if (c->answer_wait) {
		c->answer_wait = 0;
		(void)answer_now(ua, c);
	}
}

static void
ice_gathered(p2p_ice *ice, const char *ufrag, const char *pwd,
    const p2p_ice_cand *cands, size_t ncands, void *arg)
{
	struct call *c = arg;
	p2p_sdp_ice *l = &c->local_ice;

	memset(l, 0, sizeof(*l));
	snprintf(l->ufrag, sizeof(l->ufrag), "%s", ufrag);
	snprintf(l->pwd, sizeof(l->pwd), "%s", pwd);
	for (size_t i = 0; i < ncands && l->ncands < P2P_SDP_MAX_CANDS - 1;
	    i++)
		if (cand_to_sdp(&cands[i], &l->cands[l->ncands]) == 0)
			l->ncands++;
	own_socket_cand(c->ua, c, &l->cands[l->ncands++]);
	gather_done(c->ua, c, 1);
}

/*
 * The selected pair is lost (ICE consent freshness, RFC 7675: the peer
 * stopped answering its checks). Before the media starts on it the call
 * goes on and the media, once answered, go as plain RTP; a call whose
 * media run on it is over: BYE, and ENDED with the reason.
 */
static void
path_lost_early(p2p_dgram *d, const char *why, void *arg)
{
	struct call *c = arg;

	(void)d; (void)why;
	c->path = NULL;		/* its owner has let it go */
}

static void
media_lost(p2p_rtp *r, const char *why, void *arg)
{
	struct call *c = arg;
	p2p_ua *ua = c->ua;
	char err[160];

	(void)r;
	if (ua->call != c)
		return;
	snprintf(err, sizeof(err), "no media path: %s", why);
	if (c->state == C_TALKING)
		send_bye(ua, c);
	call_end(ua, err, 0);
}

static void
ice_connected(p2p_ice *ice, p2p_dgram *d, void *arg)
{
	struct call *c = arg;
	p2p_ua *ua = c->ua;
	p2p_ua_event ev;
	char pair[160];

	snprintf(pair, sizeof(pair), "%s", p2p_ice_pair(ice));
	c->ice = NULL;		/* the path owns the agent now */
	c->path = d;
	d->on_gone = path_lost_early;
	d->arg = c;
	memset(&ev, 0, sizeof(ev));
	ev.type = P2P_UA_MEDIA;
	ev.reason = pair;
	ev.from = c->peer;
	emit(ua, &ev);
	if (ua->call != c)
		return;		/* the callback ended it */
	if (c->media && media_path(ua, c) != 0) {
		send_bye(ua, c);
		call_end(ua, "cannot start the media", 0);
	}
}

static void
ice_failed(p2p_ice *ice, const char *why, void *arg)
{
	struct call *c = arg;
	p2p_ua *ua = c->ua;
	char err[160];

	p2p_ice_free(c->ice);
	c->ice = NULL;
	if (!c->gathered) {
		gather_done(ua, c, 0);	/* no candidates: no ICE */
		return;
	}
	/* Checks failed: no media path. (Before the answer, only the
	 * deadline can end an agent that gathered: the call then goes on
	 * with plain RTP.) */
	snprintf(err, sizeof(err), "no media path: ICE %s", why);
	if (c->state == C_TALKING) {
		send_bye(ua, c);
		call_end(ua, err, 0);
	}
}

static const p2p_ice_cbs ice_cbs = { ice_gathered, ice_connected,
    ice_failed };

/* Make the call's agent and start gathering. 0, or -1 (no ICE then). */
static int
ice_start(p2p_ua *ua, struct call *c, int controlling)
{
	p2p_ice_cfg cfg = ua->ice_cfg;
	char err[128];

	/* gathering, ringing and checks: a call may ring for minutes */
	if (cfg.timeout_ms == 0)
		cfg.timeout_ms = UA_ICE_TIMEOUT_MS;
	if (ua->icectx == NULL &&
	    (ua->icectx = p2p_ice_ctx_new(ua->loop, err, sizeof(err))) == NULL)
		return -1;
	cfg.controlling = controlling;
	/* (cfg.local_ip as configured: not the signalling address, often
	 * the loopback of the node's front beside the phone, which reaches
	 * neither a STUN server nor the other phone) */
	if ((c->ice = p2p_ice_new(ua->icectx, &cfg, &ice_cbs, c, err,
	    sizeof(err))) == NULL)
		return -1;
	if (p2p_ice_gather(c->ice) != 0) {
		p2p_ice_free(c->ice);
		c->ice = NULL;
		return -1;
	}
	return 0;
}

/* The call is answered and the pair selected: RTP over it. */
static int
media_path(p2p_ua *ua, struct call *c)
{
	if (c->path_rtp)
		return 0;
	if (p2p_rtp_start_path(c->rtp, c->path, c->pt, ua->play, NULL,
	    c) != 0)
		return -1;
	p2p_rtp_on_path_gone(c->rtp, media_lost);
	c->path = NULL;		/* the session owns it now */
	c->path_rtp = 1;
	return 0;
}

static int
media_start(p2p_ua *ua, struct call *c)
{
	p2p_ua_event ev;

	if (c->ice != NULL || c->path != NULL) {
		/* Over ICE: the RTP starts on the selected pair, now or
		 * when the checks have found it (ice_connected). */
		if (c->path != NULL && media_path(ua, c) != 0)
			return -1;
	} else if (p2p_rtp_start(c->rtp, c->rip, c->rport, c->pt, ua->play,
	    NULL, NULL) != 0)
		return -1;
	c->media = 1;
	memset(&ev, 0, sizeof(ev));
	ev.type = P2P_UA_ANSWERED;
	ev.pt = c->pt;
	ev.remote_ip = c->rip;
	ev.remote_port = c->rport;
	ev.media_wait = !c->path_rtp && c->ice != NULL;
	ev.from = c->peer;
	emit(ua, &ev);
	return 0;
}

static const osip_body_t *
first_body(const osip_message_t *m)
{
	osip_body_t *b = NULL;

	if (osip_message_get_body(m, 0, &b) < 0 || b == NULL ||
	    b->body == NULL)
		return NULL;
	return b;
}

static void
routes_free(struct call *c)
{
	size_t i;

	for (i = 0; i < c->nroute; i++)
		free(c->route[i]);
	free(c->route);
	c->route = NULL;
	c->nroute = 0;
}

/* Route set (reversed on the UAC side, RFC 3261 12.1.2) and remote
 * target from a dialog-forming message. On failure the route set is
 * left empty. */
static int
dialog_learn(struct call *c, const osip_message_t *m, int reverse)
{
	osip_record_route_t *rr;
	osip_contact_t *ct = NULL;
	char *s;
	int i, n = osip_list_size(&m->record_routes);
	size_t k;

	if (n > 64)
		return -1;
	if (n > 0) {
		if ((c->route = calloc((size_t)n, sizeof(char *))) == NULL)
			return -1;
		c->nroute = (size_t)n;
		for (i = 0; i < n; i++) {
			k = (size_t)(reverse ? n - 1 - i : i);
			rr = osip_list_get(&m->record_routes, i);
			if (rr == NULL || osip_record_route_to_str(rr, &s) != 0 ||
			    s == NULL) {
				routes_free(c);
				return -1;
			}
			c->route[k] = strdup(s);
			osip_free(s);
			if (c->route[k] == NULL) {
				routes_free(c);
				return -1;
			}
		}
	}
	if (osip_message_get_contact(m, 0, &ct) >= 0 && ct != NULL &&
	    ct->url != NULL)
		c->remote_target = uri_string(ct->url);
	return c->remote_target != NULL ? 0 : -1;
}

/* ---- responses to our requests ------------------------------------------ */

static void reg_send(p2p_ua *, unsigned);

static unsigned
reg_granted(p2p_ua *ua, const osip_message_t *m)
{
	osip_contact_t *ct;
	osip_generic_param_t *p;
	osip_header_t *h = NULL;
	unsigned long v;
	int i;

	for (i = 0; (ct = osip_list_get(&m->contacts, i)) != NULL; i++) {
		if (ct->url == NULL || ct->url->host == NULL ||
		    ct->url->port == NULL ||
		    strcmp(ct->url->host, ua->ip) != 0 ||
		    strtoul(ct->url->port, NULL, 10) != ua->port)
			continue;
		p = NULL;
		if (osip_contact_param_get_byname(ct, "expires", &p) == 0 &&
		    p != NULL && p->gvalue != NULL)
			return (unsigned)strtoul(p->gvalue, NULL, 10);
	}
	if (osip_message_get_expires(m, 0, &h) >= 0 && h != NULL &&
	    h->hvalue != NULL) {
		v = strtoul(h->hvalue, NULL, 10);
		return v > 0xffffffUL ? 0xffffffU : (unsigned)v;
	}
	return ua->reg_expires;
}

static void
reg_timer_cb(uv_timer_t *t)
{
	p2p_ua *ua = t->data;

	if (ua->reg_wanted && !ua->shutting)
		reg_send(ua, ua->reg_expires);
}

static void
on_register(p2p_ua *ua, int status, const char *reason,
    const osip_message_t *m, int unreachable)
{
	p2p_ua_event ev;
	osip_header_t *h = NULL;
	unsigned g, refresh;

	if (!ua->reg_wanted || ua->shutting)
		return;
	if (status == 423 && m != NULL &&
	    osip_message_header_get_byname(m, "min-expires", 0, &h) >= 0 &&
	    h != NULL && h->hvalue != NULL &&
	    (g = (unsigned)strtoul(h->hvalue, NULL, 10)) > ua->reg_expires &&
	    g < 86400) {
		ua->reg_expires = g;
		reg_send(ua, g);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	if (status >= 200 && status < 300 && m != NULL &&
	    (g = reg_granted(ua, m)) > 0) {
		ua->registered = 1;
		refresh = g > 2 ? g / 2 : 1;
		uv_timer_start(&ua->reg_timer, reg_timer_cb,
		    (uint64_t)refresh * 1000, 0);
		if (ua->reg_reported)
			return;
		ua->reg_reported = 1;
		ev.type = P2P_UA_REGISTERED;
		ev.expires = g;
		emit(ua, &ev);
		return;
	}
	if (status >= 200 && status < 300) {
		status = 500;
		reason = "registrar granted no time";
	}
	/* Try again later if we had been registered (a refresh failed). */
	if (ua->registered)
		uv_timer_start(&ua->reg_timer, reg_timer_cb, 30000, 0);
	ev.type = P2P_UA_REGISTER_FAILED;
	ev.status = status;
	ev.reason = reason;
	ev.unreachable = unreachable;
	emit(ua, &ev);
}

/* A 2xx to our INVITE: the dialog is confirmed. */
static void
on_invite_2xx(p2p_ua *ua, osip_message_t *m, const struct sockaddr *src)
{
	struct call *c = ua->call;
	const osip_body_t *b;
	p2p_sdp_audio ans;
	const char *tag = gen_tag(&m->to->gen_params);
	osip_message_t *ack;
	char br[48];

	c->remote_tag = xstrdup(tag);
	memcpy(&c->src, src, src->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	if (tag == NULL || c->remote_tag == NULL ||
	    dialog_learn(c, m, 1) != 0) {
		/* Without a Contact we still have to ACK: to the proxy or
		 * where it came from. */
		free(c->remote_target);
		c->remote_target = xstrdup(c->ruri);
	}
	if (c->remote_target == NULL ||
	    (ack = dlg_req(ua, c, "ACK", br, sizeof(br), &c->ackdst)) ==
	    NULL || (c->ack = serialize(ack, &c->acklen)) == NULL) {
		call_fail(ua, 500, "cannot build the ACK", 0);
		return;
	}
	send_raw(ua, &c->ackdst, c->ack, c->acklen);
	c->state = C_TALKING;
	if (c->cancel_wanted) {
		send_bye(ua, c);
		call_fail(ua, 487, "Request Terminated", 0);
		return;
	}
	if ((b = first_body(m)) == NULL ||
	    p2p_sdp_parse(b->body, b->length, &ans) != 0 || ans.port == 0 ||
	    (c->pt = choose_pt(ua, &ans)) < 0) {
		send_bye(ua, c);
		call_fail(ua, 488, "no usable audio in the answer", 0);
		return;
	}
	snprintf(c->rip, sizeof(c->rip), "%s", ans.ip);
	c->rport = ans.port;
	if (c->ice != NULL && ice_remote(c, &ans.ice,
	    ua->ice_cfg.overlay_link) != 0) {
		/* an answer without ICE: plain RTP to its address */
		p2p_ice_free(c->ice);
		c->ice = NULL;
	}
	if (media_start(ua, c) != 0) {
		send_bye(ua, c);
		call_fail(ua, 500, "cannot start the media", 0);
	}
}

static void
send_cancel(p2p_ua *ua, struct call *c, struct ctx *inv)
{
	osip_message_t *m;
	char from[400];

	snprintf(from, sizeof(from), "%s;tag=%s", c->local_uri, c->local_tag);
	m = req_build(ua, "CANCEL", c->ruri, from, c->remote_uri, c->call_id,
	    c->invite_cseq, inv->branch, NULL, 0);
	if (m != NULL)
		(void)ctx_start(ua, CT_CANCEL, m, &inv->dst, inv->branch,
		    c->call_id);
	/* RFC 3261 9.1: give the INVITE 64*T1 more for its final answer. */
	inv->cancelled = 1;
	inv->start = uv_now(ua->loop);
	uv_timer_start(&inv->timer, ctx_timer, T64, 0);
}

static void
on_invite_response(p2p_ua *ua, struct ctx *x, int status, const char *reason,
    osip_message_t *m, const struct sockaddr *src)
{
	struct call *c = ua->call;
	p2p_ua_event ev;

	if (c == NULL || !streq(c->call_id, x->call_id) ||
	    c->state != C_CALLING) {
		/* A call given up: a late 2xx still needs ACK and BYE. */
		return;
	}
	if (status < 200) {
		c->proceeding = 1;
		if (c->cancel_wanted && !x->cancelled) {
			send_cancel(ua, c, x);
			return;
		}
		if ((status == 180 || status == 183) && !c->ringing_seen) {
			c->ringing_seen = 1;
			memset(&ev, 0, sizeof(ev));
			ev.type = P2P_UA_RINGING;
			ev.status = status;
			ev.reason = reason;
			emit(ua, &ev);
		}
		return;
	}
	if (status < 300) {
		on_invite_2xx(ua, m, src);
		return;
	}
	call_fail(ua, status, reason, m == NULL && !x->heard);
}

static void
build_ack_non2xx(p2p_ua *ua, struct ctx *x, osip_message_t *m)
{
	struct call *c = ua->call;
	osip_message_t *ack;
	char *w, *to = NULL, from[400];
	size_t n;

	if (c == NULL || !streq(c->call_id, x->call_id))
		return;
	/* To comes from the response: it carries the UAS's tag. */
	if (osip_to_to_str(m->to, &to) != 0 || to == NULL)
		return;
	snprintf(from, sizeof(from), "%s;tag=%s", c->local_uri, c->local_tag);
	ack = req_build(ua, "ACK", c->ruri, from, to, c->call_id,
	    c->invite_cseq, x->branch, NULL, 0);
	osip_free(to);
	if (ack == NULL || (w = serialize(ack, &n)) == NULL)
		return;
	free(x->ack);
	x->ack = w;
	x->acklen = n;
}

/*
 * A 401 or 407 (m) to client transaction x: send x's request again with
 * Digest credentials, as a new transaction (CSeq one higher, a new
 * branch), and keep the call's or the registration's numbers in step.
 * 0 when it went out; -1 when there is nothing to answer with.
 */
static int
ctx_auth_retry(p2p_ua *ua, struct ctx *x, osip_message_t *m)
{
	osip_message_t *req;
	osip_via_t *via;
	osip_generic_param_t *bp = NULL;
	struct call *c = ua->call;
	struct ctx *nx;
	char err[96], hv[1024], br[48], num[16], *uri = NULL;
	int proxy, stale;
	uint32_t cseq;

	if (ua->password == NULL || m == NULL ||
	    (x->kind != CT_REGISTER && x->kind != CT_UNREGISTER &&
	    x->kind != CT_INVITE && x->kind != CT_MESSAGE))
		return -1;
	if ((req = p2p_sip_parse(x->wire, x->len, err, sizeof(err))) == NULL)
		return -1;
	if (osip_uri_to_str(req->req_uri, &uri) != 0 || uri == NULL ||
	    p2p_sipauth_answer(m, req->sip_method, uri, ua->user,
	    ua->password, ++ua->auth_nc, hv, sizeof(hv), &proxy,
	    &stale) != 0 || x->auth_tries >= (stale ? 2 : 1) ||
	    cseq_num(req, &cseq) != 0 ||
	    (via = osip_list_get(&req->vias, 0)) == NULL ||
	    osip_via_param_get_byname(via, "branch", &bp) != 0 ||
	    bp == NULL) {
		osip_free(uri);
		osip_message_free(req);
		return -1;
	}
	osip_free(uri);
	/* Only the credentials for this challenge. */
	osip_list_special_free(proxy ? &req->proxy_authorizations :
	    &req->authorizations, (void (*)(void *))osip_authorization_free);
	if ((proxy ? osip_message_set_proxy_authorization(req, hv) :
	    osip_message_set_authorization(req, hv)) != 0) {
		osip_message_free(req);
		return -1;
	}
	cseq++;
	snprintf(num, sizeof(num), "%u", (unsigned)cseq);
	osip_free(req->cseq->number);
	req->cseq->number = osip_strdup(num);
	new_branch(br, sizeof(br));
	osip_free(bp->gvalue);
	bp->gvalue = osip_strdup(br);
	if ((nx = ctx_start(ua, x->kind, req, &x->dst, br, x->call_id)) ==
	    NULL)
		return -1;
	nx->cookie = x->cookie;
	nx->auth_tries = x->auth_tries + 1;
	switch (x->kind) {
	case CT_REGISTER:
	case CT_UNREGISTER:
		if (cseq > ua->reg_cseq)
			ua->reg_cseq = cseq;
		break;
	case CT_INVITE:
		if (c != NULL && streq(c->call_id, x->call_id)) {
			c->invite_cseq = c->local_cseq = cseq;
			snprintf(c->invite_branch, sizeof(c->invite_branch),
			    "%s", br);
		}
		break;
	default:
		break;
	}
	return 0;
}

/*
 * A final answer (or timeout: m NULL) ends client transaction x. The
 * transaction is out of the way before anyone hears of it.
 */
static void
ctx_final(struct ctx *x, int status, const char *reason, osip_message_t *m,
    const struct sockaddr *src)
{
	p2p_ua *ua = x->ua;
	p2p_ua_event ev;
	int unreachable = m == NULL && !x->heard;

	if ((status == 401 || status == 407) && m != NULL &&
	    !(x->kind == CT_INVITE && (ua->call == NULL ||
	    !streq(ua->call->call_id, x->call_id) ||
	    ua->call->cancel_wanted))) {
		if (x->kind == CT_INVITE) {
			/* the challenge is a final answer: ACK it, with the
			 * numbers of the INVITE it answers */
			build_ack_non2xx(ua, x, m);
			if (x->ack != NULL)
				send_raw(ua, &x->dst, x->ack, x->acklen);
		}
		if (ctx_auth_retry(ua, x, m) == 0) {
			if (x->kind == CT_INVITE) {
				x->state = CS_COMPLETED;
				uv_timer_start(&x->timer, ctx_timer, T64, 0);
			} else {
				ctx_free(x);
			}
			return;
		}
	}
	switch (x->kind) {
	case CT_INVITE:
		if (m != NULL && status >= 300) {
			/* Completed: our ACK answers every retransmission of
			 * this final response for 32 s (timer D). (A challenge
			 * that could not be answered has had its ACK.) */
			if (x->ack == NULL) {
				build_ack_non2xx(ua, x, m);
				if (x->ack != NULL)
					send_raw(ua, &x->dst, x->ack,
					    x->acklen);
			}
			x->state = CS_COMPLETED;
			uv_timer_start(&x->timer, ctx_timer, T64, 0);
		} else
			ctx_free(x);
		on_invite_response(ua, x, status, reason, m, src);
		return;
	case CT_REGISTER:
		ctx_free(x);
		on_register(ua, status, reason, m, unreachable);
		return;
	case CT_MESSAGE:
		memset(&ev, 0, sizeof(ev));
		ev.type = P2P_UA_MESSAGE_SENT;
		ev.status = status;
		ev.reason = reason;
		ev.unreachable = unreachable;
		ev.cookie = x->cookie;
		ctx_free(x);
		emit(ua, &ev);
		return;
	default:
		ctx_free(x);
		return;
	}
}

static void
on_response(p2p_ua *ua, osip_message_t *m, const struct sockaddr *src)
{
	const char *b = top_branch(m);
	struct ctx *x;
	struct call *c = ua->call;
	int st = m->status_code;
	char cid[256];
	uint32_t n;

	if (b == NULL || (x = ctx_find(ua, b, m->cseq->method)) == NULL) {
		/* A retransmitted 2xx of our INVITE: ACK it again. */
		callid_str(m, cid, sizeof(cid));
		if (st >= 200 && st < 300 && streq(m->cseq->method, "INVITE") &&
		    c != NULL && c->ack != NULL && streq(c->call_id, cid) &&
		    cseq_num(m, &n) == 0 && n == c->invite_cseq &&
		    streq(gen_tag(&m->to->gen_params), c->remote_tag)) {
			send_raw(ua, &c->ackdst, c->ack, c->acklen);
			ua->st.retransmits++;
			return;
		}
		ua->st.dropped++;
		return;
	}
	x->heard = 1;
	if (x->state == CS_COMPLETED) {
		if (st >= 300 && x->ack != NULL)
			send_raw(ua, &x->dst, x->ack, x->acklen);
		return;
	}
	if (st < 200) {
		if (x->state == CS_TRYING) {
			x->state = CS_PROCEEDING;
			if (x->kind == CT_INVITE && !x->cancelled)
				uv_timer_stop(&x->timer);
			else if (x->kind != CT_INVITE) {
				x->interval = T2;
				uv_timer_start(&x->timer, ctx_timer, T2, 0);
			}
		}
		if (x->kind == CT_INVITE)
			on_invite_response(ua, x, st, m->reason_phrase != NULL ?
			    m->reason_phrase : reason_of(st), m, src);
		return;
	}
	ctx_final(x, st, m->reason_phrase != NULL ? m->reason_phrase :
	    reason_of(st), m, src);
}

/* ---- requests to us ----------------------------------------------------- */

/* Is m a request within the current call's dialog? */
static int
in_dialog(p2p_ua *ua, const osip_message_t *m)
{
	struct call *c = ua->call;
	char cid[256];

	if (c == NULL || c->remote_tag == NULL)
		return 0;
	callid_str(m, cid, sizeof(cid));
	return streq(c->call_id, cid) &&
	    streq(gen_tag(&m->to->gen_params), c->local_tag) &&
	    streq(gen_tag(&m->from->gen_params), c->remote_tag);
}

/* CSeq order within the dialog (RFC 3261 12.2.2); 0 to go on. */
static int
dialog_cseq(p2p_ua *ua, const osip_message_t *m,
    const struct sockaddr_storage *src)
{
	struct call *c = ua->call;
	uint32_t n;

	if (cseq_num(m, &n) != 0 || n < c->remote_cseq) {
		respond(ua, m, src, 500, NULL, 0, NULL, NULL);
		return -1;
	}
	c->remote_cseq = n;
	return 0;
}

static void
on_invite(p2p_ua *ua, osip_message_t *m, const struct sockaddr_storage *src)
{
	struct call *c;
	const osip_body_t *b;
	char cid[256], err[128];
	p2p_ua_event ev;
	struct stx *s;
	p2p_sdp_audio off;
	int pt;

	if (gen_tag(&m->to->gen_params) != NULL) {
		if (!in_dialog(ua, m)) {
			respond(ua, m, src, 481, NULL, 0, NULL, NULL);
			return;
		}
		if (dialog_cseq(ua, m, src) != 0)
			return;
		/* A re-INVITE (a session refresh): the same session again. */
		c = ua->call;
		if (c->state != C_TALKING || c->sdp[0] == '\0') {
			respond(ua, m, src, 491, NULL, 0, NULL, NULL);
			return;
		}
		respond(ua, m, src, 200, c->local_tag, 1, "application/sdp",
		    c->sdp);
		return;
	}
	if (ua->shutting) {
		respond(ua, m, src, 480, NULL, 0, NULL, NULL);
		return;
	}
	if (ua->call != NULL) {
		respond(ua, m, src, 486, NULL, 0, NULL, NULL);
		return;
	}
	if (osip_list_size(&m->contacts) < 1) {
		respond(ua, m, src, 400, NULL, 0, NULL, NULL);
		return;
	}
	if ((b = first_body(m)) == NULL ||
	    p2p_sdp_parse(b->body, b->length, &off) != 0 || off.port == 0) {
		respond(ua, m, src, 488, NULL, 0, NULL, NULL);
		return;
	}
	if ((c = call_new(ua, 0)) == NULL) {
		respond(ua, m, src, 500, NULL, 0, NULL, NULL);
		return;
	}
	callid_str(m, cid, sizeof(cid));
	c->state = C_RINGING_IN;
	c->call_id = strdup(cid);
	c->remote_tag = xstrdup(gen_tag(&m->from->gen_params));
	c->src = *src;
	uri_aor(m->from->url, c->peer, sizeof(c->peer));
	if (cseq_num(m, &c->remote_cseq) != 0 || c->call_id == NULL ||
	    c->remote_tag == NULL || (c->local_uri = malloc(300)) == NULL ||
	    (c->remote_uri = malloc(300)) == NULL ||
	    dialog_learn(c, m, 0) != 0) {
		call_free(ua, c);
		respond(ua, m, src, 400, NULL, 0, NULL, NULL);
		return;
	}
	c->invite_cseq = c->remote_cseq;
	{
		char *u1 = uri_string(m->to->url), *u2 = uri_string(
		    m->from->url);
		snprintf(c->local_uri, 300, "<%s>", u1 != NULL ? u1 :
		    "sip:invalid");
		snprintf(c->remote_uri, 300, "<%s>", u2 != NULL ? u2 :
		    "sip:invalid");
		free(u1);
		free(u2);
	}
	if ((c->rtp = p2p_rtp_new(ua->loop, ua->ip, err, sizeof(err))) ==
	    NULL) {
		call_free(ua, c);
		respond(ua, m, src, 500, NULL, 0, NULL, NULL);
		return;
	}
	if (p2p_sdp_answer(&off, ua->ip, p2p_rtp_port(c->rtp), ua->pts,
	    ua->npts, c->sess_id, NULL, c->sdp, sizeof(c->sdp), &pt) != 0) {
		call_free(ua, c);
		respond(ua, m, src, 488, NULL, 0, NULL, NULL);
		return;
	}
	c->pt = pt;
	snprintf(c->rip, sizeof(c->rip), "%s", off.ip);
	c->rport = off.port;
	ua->call = c;
	if (ua->ice_on && off.ice.ufrag[0] != '\0') {
		/* answered with our candidates once they are gathered */
		c->offer = off;
		(void)ice_start(ua, c, 0);
	}
	if ((s = respond(ua, m, src, 180, c->local_tag, 1, NULL, NULL)) ==
	    NULL) {
		call_free(ua, c);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = P2P_UA_INCOMING;
	ev.from = c->peer;
	emit(ua, &ev);
}

/* The INVITE server transaction of the current incoming call. */
static struct stx *
call_stx(p2p_ua *ua, struct call *c)
{
	struct stx *s;

	for (s = ua->stxs; s != NULL; s = s->next)
		if (!s->closing && strcmp(s->method, "INVITE") == 0 &&
		    streq(s->call_id, c->call_id) && s->cseq == c->invite_cseq)
			return s;
	return NULL;
}

/* The final answer to the ringing incoming INVITE, rebuilt from the 180
 * this transaction holds (the request itself is not kept). */
static int
answer_invite(p2p_ua *ua, struct call *c, int status)
{
	struct stx *s = call_stx(ua, c);
	osip_message_t *r;

	if (s == NULL || s->wire == NULL || s->status >= 200)
		return -1;
	if (osip_message_init(&r) != 0)
		return -1;
	if (osip_message_parse(r, s->wire, s->len) != 0) {
		osip_message_free(r);
		return -1;
	}
	osip_message_set_status_code(r, status);
	osip_free(r->reason_phrase);
	r->reason_phrase = osip_strdup(reason_of(status));
	if (status >= 300) {
		/* Only a dialog-forming answer carries Contact. */
		osip_list_special_free(&r->contacts, free_contact);
		osip_list_special_free(&r->record_routes, free_rr);
	} else if (set_body(r, "application/sdp", c->sdp,
	    strlen(c->sdp)) != 0) {
		osip_message_free(r);
		return -1;
	}
	osip_message_force_update(r);
	stx_respond(s, r);
	return 0;
}

static void
on_cancel(p2p_ua *ua, osip_message_t *m, const struct sockaddr_storage *src)
{
	char kb[400];
	const char *key = req_key(m, kb, sizeof(kb));
	struct stx *inv = stx_find(ua, key, "INVITE");
	struct call *c = ua->call;

	if (inv == NULL) {
		respond(ua, m, src, 481, NULL, 0, NULL, NULL);
		return;
	}
	respond(ua, m, src, 200, NULL, 0, NULL, NULL);
	if (inv->status >= 200 || c == NULL || c->state != C_RINGING_IN ||
	    !streq(c->call_id, inv->call_id))
		return;
	(void)answer_invite(ua, c, 487);
	call_end(ua, "cancelled by the caller", 0);
}

static void
on_ack(p2p_ua *ua, osip_message_t *m)
{
	struct stx *s;
	char cid[256];
	uint32_t n;

	callid_str(m, cid, sizeof(cid));
	if (cseq_num(m, &n) != 0)
		return;
	for (s = ua->stxs; s != NULL; s = s->next)
		if (!s->closing && strcmp(s->method, "INVITE") == 0 &&
		    streq(s->call_id, cid) && s->cseq == n && s->status >= 200) {
			if (!s->acked) {
				s->acked = 1;
				/* Keep absorbing retransmitted INVITEs
				 * until 64*T1 after the answer. */
				uv_timer_start(&s->timer, stx_timer, T64 -
				    (uv_now(ua->loop) - s->final_at), 0);
			}
			return;
		}
}

static void
on_bye(p2p_ua *ua, osip_message_t *m, const struct sockaddr_storage *src)
{
	struct call *c = ua->call;

	if (!in_dialog(ua, m)) {
		respond(ua, m, src, 481, NULL, 0, NULL, NULL);
		return;
	}
	if (dialog_cseq(ua, m, src) != 0)
		return;
	respond(ua, m, src, 200, NULL, 0, NULL, NULL);
	if (c->state == C_RINGING_IN)
		(void)answer_invite(ua, c, 487);
	call_end(ua, "remote hangup", 1);
}

static int
is_text_plain(const osip_message_t *m)
{
	const osip_content_type_t *ct = m->content_type;

	if (ct == NULL || ct->type == NULL)
		return first_body(m) == NULL;
	return strcasecmp(ct->type, "text") == 0 && ct->subtype != NULL &&
	    strcasecmp(ct->subtype, "plain") == 0;
}

static void
on_message(p2p_ua *ua, osip_message_t *m, const struct sockaddr_storage *src)
{
	const osip_body_t *b = first_body(m);
	p2p_ua_event ev;
	char from[256], t[33];
	int dlg = gen_tag(&m->to->gen_params) != NULL;

	if (dlg && !in_dialog(ua, m)) {
		respond(ua, m, src, 481, NULL, 0, NULL, NULL);
		return;
	}
	if (dlg && dialog_cseq(ua, m, src) != 0)
		return;
	if (!is_text_plain(m)) {
		respond(ua, m, src, 415, NULL, 0, NULL, NULL);
		return;
	}
	rand_hex(t, 8);
	respond(ua, m, src, 200, dlg ? NULL : t, 0, NULL, NULL);
	uri_aor(m->from->url, from, sizeof(from));
	memset(&ev, 0, sizeof(ev));
	ev.type = P2P_UA_MESSAGE;
	ev.from = from;
	ev.text = b != NULL ? b->body : "";
	ev.textlen = b != NULL ? b->length : 0;
	ev.in_dialog = dlg;
	emit(ua, &ev);
}

static void
on_request(p2p_ua *ua, osip_message_t *m, const struct sockaddr_storage *src)
{
	char kb[400], t[33];
	struct stx *s;
	const char *meth = m->sip_method;

	if (strcmp(meth, "ACK") == 0) {
		on_ack(ua, m);
		return;
	}
	if ((s = stx_find(ua, req_key(m, kb, sizeof(kb)), meth)) != NULL) {
		/* A retransmission: the last answer again. */
		if (s->wire != NULL)
			send_raw(ua, &s->src, s->wire, s->len);
		ua->st.retransmits++;
		return;
	}
	if (strcmp(meth, "INVITE") == 0)
		on_invite(ua, m, src);
	else if (strcmp(meth, "CANCEL") == 0)
		on_cancel(ua, m, src);
	else if (strcmp(meth, "BYE") == 0)
		on_bye(ua, m, src);
	else if (strcmp(meth, "MESSAGE") == 0)
		on_message(ua, m, src);
	else if (strcmp(meth, "OPTIONS") == 0) {
		rand_hex(t, 8);
		respond(ua, m, src, 200, t, 0, NULL, NULL);
	} else
		respond(ua, m, src, 405, NULL, 0, NULL, NULL);
}

/* Everything a message must have before anything looks at it. */
static int
usable(const osip_message_t *m)
{
	uint32_t n;

	if (m->from == NULL || m->from->url == NULL || m->to == NULL ||
	    m->to->url == NULL || m->call_id == NULL ||
	    m->call_id->number == NULL || m->cseq == NULL ||
	    m->cseq->number == NULL || m->cseq->method == NULL ||
	    osip_list_size(&m->vias) < 1 || cseq_num(m, &n) != 0)
		return 0;
	if (MSG_IS_RESPONSE(m))
		return m->status_code >= 100 && m->status_code <= 699;
	return m->sip_method != NULL && m->req_uri != NULL &&
	    strcmp(m->sip_method, m->cseq->method) == 0;
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	p2p_ua *ua = h->data;

	(void)suggested;
	buf->base = ua->rbuf;
	buf->len = MAX_DGRAM;
}

static void on_bytes(p2p_ua *ua, char *data, ssize_t nread,
    const struct sockaddr *addr);

static void
recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *addr, unsigned flags)
{
	p2p_ua *ua = u->data;

	if (nread <= 0 || addr == NULL || ua->closing)
		return;
	ua->st.received++;
	if ((flags & UV_UDP_PARTIAL) != 0) {
		ua->st.dropped++;
		return;
	}
	on_bytes(ua, buf->base, nread, addr);
}

/* One message from addr in data[0..nread) (data[nread] may be written). */
static void
on_bytes(p2p_ua *ua, char *data, ssize_t nread, const struct sockaddr *addr)
{
	osip_message_t *m;
	struct sockaddr_storage src;
	size_t i;
	uv_buf_t bb = uv_buf_init(data, (unsigned)nread), *buf = &bb;

	/* Keep-alives (CRLF) are not messages. */
	for (i = 0; i < (size_t)nread; i++)
		if (buf->base[i] != '\r' && buf->base[i] != '\n')
			break;
	if (i == (size_t)nread)
		return;
	buf->base[nread] = '\0';
	trace(ua, "<--", addr, buf->base, (size_t)nread);
	if (osip_message_init(&m) != 0)
		return;
	if (osip_message_parse(m, buf->base, (size_t)nread) != 0 ||
	    !usable(m)) {
		osip_message_free(m);
		ua->st.dropped++;
		return;
	}
	memset(&src, 0, sizeof(src));
	memcpy(&src, addr, addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	if (MSG_IS_RESPONSE(m))
		on_response(ua, m, addr);
	else
		on_request(ua, m, &src);
	osip_message_free(m);
}

/* ---- TCP to the proxy ---------------------------------------------------- */

#define TCP_MAX_QUEUE	(1024 * 1024)

typedef struct tcp_wr {
	uv_write_t req;
	char data[];
} tcp_wr;

static void
tcp_written(uv_write_t *r, int status)
{
	(void)status;
	free(r);
}

/* The connection failed or ended: so do the transactions under way. */
static void
tcp_gone(p2p_ua *ua, const char *why)
{
	struct ctx *x;

	ua->tcp_open = 0;
	ua->tcp_dead = 1;
	free(ua->tq);
	ua->tq = NULL;
	ua->tqlen = 0;
	if (ua->trace)
		fprintf(stderr, "tcp to the proxy: %s\n", why);
	for (;;) {
		for (x = ua->ctxs; x != NULL && (x->closing ||
		    x->state == CS_COMPLETED); x = x->next)
			;
		if (x == NULL)
			break;
		ctx_final(x, 503, "no connection to the proxy", NULL, NULL);
	}
}

static void
tcp_write(p2p_ua *ua, const char *buf, size_t len)
{
	tcp_wr *w;
	uv_buf_t b;
	char *nq;

	if (ua->tcp_dead)
		return;
	if (ua->tls) {
		if (ua->tlsc != NULL && p2p_tls_write(ua->tlsc, buf, len) == 0)
			ua->st.sent++;
		return;
	}
	if (!ua->tcp_open) {
		/* still connecting: keep it for then */
		if (ua->tqlen + len > TCP_MAX_QUEUE ||
		    (nq = realloc(ua->tq, ua->tqlen + len)) == NULL)
			return;
		memcpy(nq + ua->tqlen, buf, len);
		ua->tq = nq;
		ua->tqlen += len;
		return;
	}
	if ((w = malloc(sizeof(*w) + len)) == NULL)
		return;
	memcpy(w->data, buf, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&ua->tcph, &b, 1,
	    tcp_written) != 0) {
		free(w);
		return;
	}
	ua->st.sent++;
}

static void
tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	p2p_ua *ua = h->data;

	(void)suggested;
	buf->base = ua->tbuf;
	buf->len = sizeof(ua->tbuf);
}

/* Bytes from the proxy's stream (TCP or TLS): cut them into messages. */
static void
stream_in(p2p_ua *ua, const char *data, size_t nread)
{
	size_t skip;
	long n;

	if (ua->closing || ua->tcp_dead || nread == 0)
		return;
	if (ua->rxlen + (size_t)nread > 2 * (size_t)MAX_DGRAM) {
		tcp_gone(ua, "too much without a whole message");
		return;
	}
	if (ua->rxlen + (size_t)nread > ua->rxcap) {
		size_t cap = ua->rxcap ? ua->rxcap : 8192;
		char *nb;
		while (cap < ua->rxlen + (size_t)nread)
			cap *= 2;
		if ((nb = realloc(ua->rx, cap)) == NULL) {
			tcp_gone(ua, "out of memory");
			return;
		}
		ua->rx = nb;
		ua->rxcap = cap;
	}
	memcpy(ua->rx + ua->rxlen, data, (size_t)nread);
	ua->rxlen += (size_t)nread;
	while (!ua->closing && !ua->tcp_dead) {
		skip = 0;
		n = p2p_sip_frame((const uint8_t *)ua->rx, ua->rxlen, MAX_DGRAM,
		    &skip);
		if (n < 0) {
			tcp_gone(ua, "the proxy's stream is not SIP");
			return;
		}
		if (n == 0) {
			if (skip > 0) {
				memmove(ua->rx, ua->rx + skip, ua->rxlen - skip);
				ua->rxlen -= skip;
			}
			return;
		}
		ua->st.received++;
		if ((size_t)n > skip) {
			/* a copy with room for the parser's NUL */
			memcpy(ua->rbuf, ua->rx + skip, (size_t)n - skip);
			on_bytes(ua, ua->rbuf, (ssize_t)((size_t)n - skip),
			    (const struct sockaddr *)&ua->proxy);
		}
		if (ua->closing || ua->rx == NULL)
			return;
		memmove(ua->rx, ua->rx + n, ua->rxlen - (size_t)n);
		ua->rxlen -= (size_t)n;
	}
}

static void
tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	p2p_ua *ua = s->data;

	if (ua->closing || nread == 0)
		return;
	if (nread < 0) {
		tcp_gone(ua, uv_strerror((int)nread));
		return;
	}
	stream_in(ua, buf->base, (size_t)nread);
}

/* TLS (p2p_ua_config.tls): the library queues what is written before
 * the handshake ends, and tells us once when the connection is over. */
static void
tls_on_read(p2p_tls_conn *c, const uint8_t *data, size_t len)
{
	p2p_ua *ua = p2p_tls_conn_data(c);

	stream_in(ua, (const char *)data, len);
}

static void
tls_on_close(p2p_tls_conn *c, const char *reason)
{
	p2p_ua *ua = p2p_tls_conn_data(c);

	ua->tlsc = NULL;
	if (!ua->closing) {
		char why[160];
		snprintf(why, sizeof(why), "TLS: %s", reason != NULL ? reason :
		    "closed");
		tcp_gone(ua, why);
	}
	ua->nopen--;
	check_idle(ua);
}

static const p2p_tls_cbs tls_ua_cbs = {
	.on_read = tls_on_read,
	.on_close = tls_on_close,
};

static void
tcp_connected(uv_connect_t *req, int status)
{
	p2p_ua *ua = req->data;
	char *q;
	size_t qlen;

	if (ua->closing)
		return;
	if (status != 0 || uv_read_start((uv_stream_t *)&ua->tcph, tcp_alloc,
	    tcp_read) != 0) {
		tcp_gone(ua, status != 0 ? uv_strerror(status) :
		    "cannot read");
		return;
	}
	ua->tcp_open = 1;
	q = ua->tq;
	qlen = ua->tqlen;
	ua->tq = NULL;
	ua->tqlen = 0;
	if (q != NULL) {
		tcp_write(ua, q, qlen);
		free(q);
	}
}

/* ---- the agent ---------------------------------------------------------- */

int
p2p_ua_aor_norm(const char *in, char *out, size_t outlen)
{
	const char *at, *p;
	osip_uri_t *u;
	char tmp[512];
	int ok;

	if (in == NULL)
		return -1;
	if (strncasecmp(in, "sip:", 4) == 0)
		in += 4;
	if ((at = strchr(in, '@')) == NULL || at == in || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL)
		return -1;
	for (p = in; *p != '\0'; p++)
		if (!isgraph((unsigned char)*p) || strchr("<>\"; ?", *p) != NULL)
			return -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "sip:%s", in) >= sizeof(tmp) ||
	    strlen(in) >= outlen)
		return -1;
	if (osip_uri_init(&u) != 0)
		return -1;
	ok = osip_uri_parse(u, tmp) == 0 && u->username != NULL &&
	    u->host != NULL && *u->host != '\0';
	osip_uri_free(u);
	if (!ok)
		return -1;
	snprintf(out, outlen, "%s", in);
	return 0;
}

p2p_ua *
p2p_ua_new(uv_loop_t *loop, const p2p_ua_config *cfg, char *err,
    size_t errlen)
{
	p2p_ua *ua;
	struct sockaddr_storage ss;
	int namelen = sizeof(ss), r;
	char aor[256], *at;
	size_t i;

	p2p_ua_global_init();
	if (p2p_ua_aor_norm(cfg->aor, aor, sizeof(aor)) != 0) {
		snprintf(err, errlen, "%s: not an address of record "
		    "(user@domain)", cfg->aor != NULL ? cfg->aor : "(none)");
		return NULL;
	}
	if (cfg->listen_ip == NULL || p2p_sa_parse(cfg->listen_ip,
	    cfg->listen_port, &ss) != 0) {
		snprintf(err, errlen, "%s: not a numeric IP address",
		    cfg->listen_ip != NULL ? cfg->listen_ip : "(none)");
		return NULL;
	}
	if ((ua = calloc(1, sizeof(*ua))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ua->loop = loop;
	ua->aor = strdup(aor);
	at = strchr(aor, '@');
	*at = '\0';
	ua->user = strdup(aor);
	ua->domain = strdup(at + 1);
	if (ua->aor == NULL || ua->user == NULL || ua->domain == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(ua->ip, sizeof(ua->ip), "%s", cfg->listen_ip);
	if (cfg->proxy_ip != NULL) {
		if (p2p_sa_parse(cfg->proxy_ip, cfg->proxy_port, &ua->proxy) !=
		    0) {
			snprintf(err, errlen, "%s: not a numeric IP address",
			    cfg->proxy_ip);
			goto fail;
		}
		ua->have_proxy = 1;
	}
	ua->expires = cfg->expires > 0 ? cfg->expires :
	    P2P_UA_DEFAULT_EXPIRES;
	ua->reg_expires = ua->expires;
	for (i = 0; i < cfg->npts && ua->npts < 8; i++)
		if (cfg->pts[i] == P2P_PT_PCMU || cfg->pts[i] == P2P_PT_PCMA)
			ua->pts[ua->npts++] = cfg->pts[i];
	if (ua->npts == 0) {
		ua->pts[ua->npts++] = P2P_PT_PCMU;
		ua->pts[ua->npts++] = P2P_PT_PCMA;
	}
	ua->play = cfg->play;
	if (cfg->ice != NULL) {
		ua->ice_on = 1;
		ua->ice_cfg = *cfg->ice;
		if (ua->ice_cfg.overlay_link == 0)	/* (any non-zero one) */
			ua->ice_cfg.overlay_link = P2P_LINK_DTLS_UDP_SR;
	}
	if (cfg->password != NULL &&
	    (ua->password = strdup(cfg->password)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ua->cb = cfg->cb;
	ua->user_data = cfg->user;
	ua->next_cookie = 1;
	ua->trace = getenv("P2PSIP_SIP_TRACE") != NULL &&
	    *getenv("P2PSIP_SIP_TRACE") != '\0';
	if ((r = uv_udp_init(loop, &ua->udp)) != 0) {
		snprintf(err, errlen, "UDP socket: %s", uv_strerror(r));
		goto fail;
	}
	ua->udp.data = ua;
	if ((r = uv_udp_bind(&ua->udp, (const struct sockaddr *)&ss, 0)) !=
	    0 || (r = uv_udp_getsockname(&ua->udp, (struct sockaddr *)&ss,
	    &namelen)) != 0) {
		snprintf(err, errlen, "cannot bind %s port %u: %s",
		    cfg->listen_ip, cfg->listen_port, uv_strerror(r));
		/* The handle was initialised: close it on the loop. */
		uv_close((uv_handle_t *)&ua->udp, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
		goto fail;
	}
	ua->port = (uint16_t)p2p_sa_port((const struct sockaddr *)&ss);
	if (strchr(ua->ip, ':') != NULL)
		snprintf(ua->hostport, sizeof(ua->hostport), "[%s]:%u", ua->ip,
		    ua->port);
	else
		snprintf(ua->hostport, sizeof(ua->hostport), "%s:%u", ua->ip,
		    ua->port);
	snprintf(ua->contact, sizeof(ua->contact), "<sip:%s@%s%s>", ua->user,
	    ua->hostport, cfg->tls ? ";transport=tls" : cfg->tcp ?
	    ";transport=tcp" : "");
	ua->nopen = 3;
	uv_timer_init(loop, &ua->reg_timer);
	uv_timer_init(loop, &ua->shut_timer);
	ua->reg_timer.data = ua;
	ua->shut_timer.data = ua;
	if ((r = uv_udp_recv_start(&ua->udp, alloc_cb, recv_cb)) != 0) {
		snprintf(err, errlen, "UDP receive: %s", uv_strerror(r));
		p2p_ua_shutdown(ua, 0, NULL);
		p2p_ua_shutdown(ua, 0, NULL);
		return NULL;
	}
	if (cfg->tls) {
		/* The same over TLS, the proxy's certificate checked
		 * against tls_ca. */
		p2p_tls_ctx_opts o;
		p2p_tls_ctx *ctx;

		ua->tcp = ua->tls = 1;
		memset(&o, 0, sizeof(o));
		o.role = P2P_TLS_CLIENT;
		o.ca_file = cfg->tls_ca;
		o.peer = cfg->tls_ca != NULL ? P2P_TLS_PEER_VERIFY :
		    P2P_TLS_PEER_NONE;
		if (!ua->have_proxy || cfg->proxy_ip == NULL ||
		    (ctx = p2p_tls_ctx_new(&o, err, errlen)) == NULL) {
			if (!ua->have_proxy)
				snprintf(err, errlen, "TLS needs a proxy");
			p2p_ua_shutdown(ua, 0, NULL);
			p2p_ua_shutdown(ua, 0, NULL);
			return NULL;
		}
		r = p2p_tls_connect(loop, ctx, cfg->proxy_ip, cfg->proxy_port,
		    &tls_ua_cbs, ua, &ua->tlsc);
		p2p_tls_ctx_free(ctx);	/* the connection holds it */
		if (r != 0) {
			snprintf(err, errlen, "TLS to the proxy: %s",
			    uv_strerror(r));
			ua->tlsc = NULL;
			p2p_ua_shutdown(ua, 0, NULL);
			p2p_ua_shutdown(ua, 0, NULL);
			return NULL;
		}
		ua->nopen++;	/* until tls_on_close */
	} else if (cfg->tcp) {
		/* One connection to the proxy carries all signalling; what
		 * is sent before it is up waits in tq. */
		ua->tcp = 1;
		uv_tcp_init(loop, &ua->tcph);
		ua->tcph.data = ua;
		ua->creq.data = ua;
		ua->nopen++;
		if (!ua->have_proxy || (r = uv_tcp_connect(&ua->creq,
		    &ua->tcph, (const struct sockaddr *)&ua->proxy,
		    tcp_connected)) != 0) {
			snprintf(err, errlen, "TCP to the proxy: %s",
			    ua->have_proxy ? uv_strerror(r) : "no proxy");
			p2p_ua_shutdown(ua, 0, NULL);
			p2p_ua_shutdown(ua, 0, NULL);
			return NULL;
		}
	}
	rand_hex(ua->reg_tag, 8);
	{
		char h[33];
		rand_hex(h, 12);
		snprintf(ua->reg_call_id, sizeof(ua->reg_call_id), "%s@%s", h,
		    ua->ip);
	}
	return ua;
fail:
	free(ua->aor);
	free(ua->user);
	free(ua->domain);
	free(ua->password);
	free(ua);
	return NULL;
}

const char *
p2p_ua_local(const p2p_ua *ua)
{
	return ua->hostport;
}

void
p2p_ua_get_stats(const p2p_ua *ua, p2p_ua_stats *st)
{
	*st = ua->st;
}

static void
reg_send(p2p_ua *ua, unsigned expires)
{
	osip_message_t *m;
	char ruri[300], from[400], to[300], br[48], ex[16], ct[200];

	snprintf(ruri, sizeof(ruri), "sip:%s", ua->domain);
	snprintf(to, sizeof(to), "<sip:%s>", ua->aor);
	snprintf(from, sizeof(from), "<sip:%s>;tag=%s", ua->aor, ua->reg_tag);
	snprintf(ex, sizeof(ex), "%u", expires);
	snprintf(ct, sizeof(ct), "%s;expires=%u", ua->contact, expires);
	new_branch(br, sizeof(br));
	if ((m = req_build(ua, "REGISTER", ruri, from, to, ua->reg_call_id,
	    ++ua->reg_cseq, br, NULL, 0)) == NULL)
		return;
	if (osip_message_set_contact(m, ct) != 0 ||
	    osip_message_set_expires(m, ex) != 0) {
		osip_message_free(m);
		return;
	}
	(void)ctx_start(ua, expires > 0 ? CT_REGISTER : CT_UNREGISTER, m,
	    &ua->proxy, br, ua->reg_call_id);
}

int
p2p_ua_register(p2p_ua *ua)
{
	if (!ua->have_proxy || ua->shutting)
		return -1;
	ua->reg_wanted = 1;
	reg_send(ua, ua->reg_expires);
	return 0;
}

/* Where an out-of-dialog request for uri goes. */
static int
first_hop(p2p_ua *ua, const char *uri, struct sockaddr_storage *dst)
{
	osip_uri_t *u;
	int r;

	if (ua->have_proxy) {
		*dst = ua->proxy;
		return 0;
	}
	if (osip_uri_init(&u) != 0)
		return -1;
	r = osip_uri_parse(u, uri) == 0 ? uri_dest(u, dst) : -1;
	osip_uri_free(u);
	return r;
}

int
p2p_ua_dial(p2p_ua *ua, const char *aor, char *err, size_t errlen)
{
	struct call *c;
	struct sockaddr_storage dst;
	char norm[256], ruri[300], from[400], cid[128], h[33], e2[128];

	if (ua->shutting) {
		snprintf(err, errlen, "leaving");
		return -1;
	}
	if (ua->call != NULL) {
		snprintf(err, errlen, "a call is in progress");
		return -1;
	}
	if (p2p_ua_aor_norm(aor, norm, sizeof(norm)) != 0) {
		snprintf(err, errlen, "%s: not user@domain", aor);
		return -1;
	}
	snprintf(ruri, sizeof(ruri), "sip:%s", norm);
	if (first_hop(ua, ruri, &dst) != 0) {
		snprintf(err, errlen, "no proxy, and %s is not a numeric "
		    "address to send to", strchr(norm, '@') + 1);
		return -1;
	}
	if ((c = call_new(ua, 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rand_hex(h, 12);
	snprintf(cid, sizeof(cid), "%s@%s", h, ua->ip);
	c->call_id = strdup(cid);
	c->ruri = strdup(ruri);
	c->state = C_CALLING;
	c->invite_cseq = c->local_cseq;
	c->src = dst;
	snprintf(c->peer, sizeof(c->peer), "%s", norm);
	snprintf(from, sizeof(from), "<sip:%s>", ua->aor);
	c->local_uri = strdup(from);
	snprintf(from, sizeof(from), "<%s>", ruri);
	c->remote_uri = strdup(from);
	if (c->call_id == NULL || c->ruri == NULL || c->local_uri == NULL ||
	    c->remote_uri == NULL) {
		snprintf(err, errlen, "out of memory");
		call_free(ua, c);
		return -1;
	}
	if ((c->rtp = p2p_rtp_new(ua->loop, ua->ip, e2, sizeof(e2))) ==
	    NULL) {
		snprintf(err, errlen, "RTP: %s", e2);
		call_free(ua, c);
		return -1;
	}
	ua->call = c;
	if (ua->ice_on && ice_start(ua, c, 1) == 0) {
		c->invite_wait = 1;	/* ice_gathered sends it */
		return 0;
	}
	if (send_invite(ua, c, err, errlen) != 0) {
		call_free(ua, c);
		return -1;
	}
	return 0;
}

/* Our INVITE for the new outgoing call c, with the offer (and our ICE
 * candidates, once gathered). 0, or -1 with err set. */
static int
send_invite(p2p_ua *ua, struct call *c, char *err, size_t errlen)
{
	osip_message_t *m;
	char from[400];
	int n;

	if ((n = p2p_sdp_offer(c->sdp, sizeof(c->sdp), ua->ip,
	    p2p_rtp_port(c->rtp), ua->pts, ua->npts, c->sess_id,
	    c->ice != NULL && c->gathered ? &c->local_ice : NULL)) < 0) {
		snprintf(err, errlen, "cannot build the SDP offer");
		return -1;
	}
	snprintf(from, sizeof(from), "%s;tag=%s", c->local_uri, c->local_tag);
	new_branch(c->invite_branch, sizeof(c->invite_branch));
	m = req_build(ua, "INVITE", c->ruri, from, c->remote_uri, c->call_id,
	    c->invite_cseq, c->invite_branch, NULL, 0);
	if (m == NULL || osip_message_set_contact(m, ua->contact) != 0 ||
	    osip_message_set_allow(m, UA_ALLOW) != 0 ||
	    set_body(m, "application/sdp", c->sdp, (size_t)n) != 0) {
		if (m != NULL)
			osip_message_free(m);
		snprintf(err, errlen, "cannot build the INVITE");
		return -1;
	}
	if (ctx_start(ua, CT_INVITE, m, &c->src, c->invite_branch,
	    c->call_id) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
p2p_ua_answer(p2p_ua *ua)
{
	struct call *c = ua->call;

	if (c == NULL || c->state != C_RINGING_IN || c->answer_wait)
		return -1;
	if (c->ice != NULL && !c->gathered) {
		c->answer_wait = 1;	/* ice_gathered answers */
		return 0;
	}
	return answer_now(ua, c);
}

static int
answer_now(p2p_ua *ua, struct call *c)
{
	if (c->ice != NULL && ice_remote(c, &c->offer.ice,
	    ua->ice_cfg.overlay_link) != 0) {
		/* (ice_gathered found usable candidates: not expected) */
		(void)answer_invite(ua, c, 500);
		call_end(ua, "cannot start ICE", 0);
		return -1;
	}
	if (answer_invite(ua, c, 200) != 0) {
		(void)answer_invite(ua, c, 500);
		call_end(ua, "cannot answer", 0);
		return -1;
	}
	c->state = C_TALKING;
	if (media_start(ua, c) != 0) {
		send_bye(ua, c);
		call_end(ua, "cannot start the media", 0);
		return -1;
	}
	return 0;
}

int
p2p_ua_reject(p2p_ua *ua, int status)
{
	struct call *c = ua->call;

	if (c == NULL || c->state != C_RINGING_IN || status < 300 ||
	    status > 699)
		return -1;
	(void)answer_invite(ua, c, status);
	call_end(ua, reason_of(status), 1);
	return 0;
}

int
p2p_ua_hangup(p2p_ua *ua)
{
	struct call *c = ua->call;
	struct ctx *x;

	if (c == NULL)
		return -1;
	switch (c->state) {
	case C_RINGING_IN:
		return p2p_ua_reject(ua, 603);
	case C_CALLING:
		if (c->invite_wait) {
			/* still gathering ICE candidates: nothing was sent */
			call_fail(ua, 487, "Request Terminated", 0);
			return 0;
		}
		if (c->cancel_wanted)
			return 0;
		c->cancel_wanted = 1;
		for (x = ua->ctxs; x != NULL; x = x->next)
			if (x->kind == CT_INVITE && !x->closing &&
			    streq(x->call_id, c->call_id))
				break;
		if (x != NULL && c->proceeding)
			send_cancel(ua, c, x);
		return 0;
	case C_TALKING:
		send_bye(ua, c);
		call_end(ua, "local hangup", 1);
		return 0;
	}
	return -1;
}

int
p2p_ua_call_state(const p2p_ua *ua)
{
	if (ua->call == NULL)
		return P2P_UA_IDLE;
	switch (ua->call->state) {
	case C_CALLING:
		return P2P_UA_CALLING;
	case C_RINGING_IN:
		return P2P_UA_RINGING_IN;
	default:
		return P2P_UA_TALKING;
	}
}

const char *
p2p_ua_call_peer(const p2p_ua *ua)
{
	return ua->call != NULL ? ua->call->peer : NULL;
}

unsigned
p2p_ua_message(p2p_ua *ua, const char *aor, const char *text, char *err,
    size_t errlen)
{
	osip_message_t *m;
	struct sockaddr_storage dst;
	char norm[256], ruri[300], from[400], to[310], cid[128], h[33], t[33];
	char br[48];
	struct ctx *x;
	struct call *c = ua->call;

	if (ua->shutting) {
		snprintf(err, errlen, "leaving");
		return 0;
	}
	if (aor == NULL) {
		if (c == NULL || c->state != C_TALKING ||
		    c->remote_tag == NULL) {
			snprintf(err, errlen, "no call in progress");
			return 0;
		}
		if ((m = dlg_req(ua, c, "MESSAGE", br, sizeof(br), &dst)) ==
		    NULL) {
			snprintf(err, errlen, "cannot build the MESSAGE");
			return 0;
		}
		snprintf(cid, sizeof(cid), "%s", c->call_id);
	} else {
		if (p2p_ua_aor_norm(aor, norm, sizeof(norm)) != 0) {
			snprintf(err, errlen, "%s: not user@domain", aor);
			return 0;
		}
		snprintf(ruri, sizeof(ruri), "sip:%s", norm);
		if (first_hop(ua, ruri, &dst) != 0) {
			snprintf(err, errlen, "no proxy, and %s is not a "
			    "numeric address to send to",
			    strchr(norm, '@') + 1);
			return 0;
		}
		rand_hex(h, 12);
		rand_hex(t, 8);
		snprintf(cid, sizeof(cid), "%s@%s", h, ua->ip);
		snprintf(from, sizeof(from), "<sip:%s>;tag=%s", ua->aor, t);
		snprintf(to, sizeof(to), "<%s>", ruri);
		new_branch(br, sizeof(br));
		m = req_build(ua, "MESSAGE", ruri, from, to, cid, 1, br, NULL,
		    0);
		if (m == NULL) {
			snprintf(err, errlen, "cannot build the MESSAGE");
			return 0;
		}
	}
	if (set_body(m, "text/plain", text, strlen(text)) != 0) {
		osip_message_free(m);
		snprintf(err, errlen, "cannot build the MESSAGE");
		return 0;
	}
	if ((x = ctx_start(ua, CT_MESSAGE, m, &dst, br, cid)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	x->cookie = ua->next_cookie++;
	if (ua->next_cookie == 0)
		ua->next_cookie = 1;
	return x->cookie;
}

/* ---- leaving ------------------------------------------------------------ */

static void
ua_closed(uv_handle_t *h)
{
	p2p_ua *ua = h->data;

	ua->nopen--;
	check_idle(ua);
}

static void
close_all(p2p_ua *ua)
{
	struct ctx *x;
	struct stx *s;

	if (ua->closing)
		return;
	ua->closing = 1;
	if (ua->call != NULL)
		call_free(ua, ua->call);
	if (ua->icectx != NULL) {
		p2p_ice_ctx_free(ua->icectx);
		ua->icectx = NULL;
	}
	while ((x = ua->ctxs) != NULL)
		ctx_free(x);
	while ((s = ua->stxs) != NULL)
		stx_free(s);
	uv_udp_recv_stop(&ua->udp);
	uv_close((uv_handle_t *)&ua->udp, ua_closed);
	if (ua->tls) {
		if (ua->tlsc != NULL)
			p2p_tls_close(ua->tlsc);	/* tls_on_close */
	} else if (ua->tcp) {
		uv_close((uv_handle_t *)&ua->tcph, ua_closed);
	}
	uv_close((uv_handle_t *)&ua->reg_timer, ua_closed);
	uv_close((uv_handle_t *)&ua->shut_timer, ua_closed);
}

static void
check_idle(p2p_ua *ua)
{
	struct ctx *x;
	void (*done)(p2p_ua *, void *);

	if (ua->closing) {
		if (ua->nopen > 0)
			return;
		done = ua->done;
		ua->done = NULL;
		if (done != NULL)
			done(ua, ua->user_data);
		free(ua->aor);
		free(ua->user);
		free(ua->domain);
		free(ua->tq);
		free(ua->rx);
		if (ua->password != NULL) {
			OPENSSL_cleanse(ua->password, strlen(ua->password));
			free(ua->password);
		}
		free(ua);
		return;
	}
	if (!ua->shutting)
		return;
	/* Leave once nothing but absorbing transactions is left. */
	for (x = ua->ctxs; x != NULL; x = x->next)
		if (!x->closing && x->state != CS_COMPLETED)
			return;
	close_all(ua);
}

static void
shut_timer_cb(uv_timer_t *t)
{
	close_all(t->data);
}

void
p2p_ua_shutdown(p2p_ua *ua, unsigned max_ms,
    void (*done)(p2p_ua *ua, void *user))
{
	if (ua->closing)
		return;
	if (done != NULL)
		ua->done = done;
	if (ua->shutting) {
		close_all(ua);
		return;
	}
	ua->shutting = 1;
	uv_timer_stop(&ua->reg_timer);
	if (ua->call != NULL)
		(void)p2p_ua_hangup(ua);
	if (ua->closing)
		return;
	if (ua->registered)
		reg_send(ua, 0);
	ua->reg_wanted = 0;
	uv_timer_start(&ua->shut_timer, shut_timer_cb, max_ms, 0);
	check_idle(ua);
}
