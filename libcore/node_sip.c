/*
 * node_sip: the SIP front of a node (RFC 7904 s4-5 with RFC 3261 proxy
 * and registrar behaviour) and AppAttach for application 5060 (RFC 6940
 * s6.5.2).
 *
 * The front listens on one address for UDP and TCP (p2p-node --sip), and
 * with --sip-tls on another for TLS (see on_tls_accept). It is:
 *   - a registrar for the user agents next to the node: a REGISTER for
 *     an AOR the node's certificate names (its user name) is accepted,
 *     any other gets 403. The first binding of an AOR publishes a
 *     SIP-REGISTRATION (route type, destination list = this node) in the
 *     overlay before the 200 goes out, so the AOR is callable when the
 *     phone hears 200; the last binding to go withdraws it.
 *   - a transaction-stateful proxy. A request from a local user agent is
 *     sent to a local binding when the target AOR has one, otherwise the
 *     AOR is looked up in the overlay and the request goes to the node
 *     that registered it, over a SIP connection made with AppAttach.
 *     That node delivers it to its local binding. Answers retrace the Via
 *     headers: each hop keeps the branch it added and where the request
 *     came from. An INVITE or MESSAGE forks when the AOR has several
 *     targets: local bindings, or registrations by several nodes (see
 *     "forking" below).
 *
 * In-dialog requests: every node a dialog-forming request crosses adds
 *   Record-Route: <sip:FRONT-IP:FRONT-PORT;lr;p2pnode=NODE-ID-HEX>
 * The address is the node's own front (reachable by its local user
 * agents); p2pnode names the node to the other nodes, which never use
 * the address and reach the node over AppAttach instead. A Route whose
 * p2pnode is ours, or without p2pnode naming our front (a preloaded
 * outbound-proxy route), is removed on arrival. A request is only ever
 * sent to a user agent that registered here or that sent a
 * dialog-forming request or answer through this front: the node is not
 * a relay towards arbitrary addresses.
 *
 * AppAttach without ICE (the configuration's no-ice, as for Attach): the
 * AppAttachReq carries one host candidate, the address of the node's
 * SIP connection listener; the answer carries the answerer's. The sender
 * opens the TCP connection to the answer's candidate and is the TLS
 * server, as the Attach sender is (s6.5.1.2); the answerer's listener
 * acts as TLS client. Both ends present their overlay certificates and
 * check each other's as overlay links do; the sender also checks that
 * the peer holds the Node-ID it AppAttached to. SIP then flows over the
 * connection with the stream framing of RFC 3261 s18.3.
 *
 * AppAttach over ICE (an overlay with ICE, node_ice.c): the AppAttachReq
 * and its answer carry ICE candidates for DTLS-UDP-SR; once ICE selects
 * a pair, the sender (controlling agent) is the DTLS server and the
 * answerer the client, each checking that the other holds the Node-ID
 * of the AppAttach. SIP then flows over DTLS with the reliability layer
 * of overlay links (rlink.h, RFC 6940 s6.6.3): one SIP message per data
 * frame, acknowledged and retransmitted by that layer, never split, so
 * a message is at most a DTLS record (16 KB). A request waits for the
 * pair up to SIP_ICE_MS (ICE's own timeout is 20 s).
 *
 * Connections are reused in both directions and closed after
 * SIP_APP_IDLE_MS unused.
 *
 * Errors sent to a caller: 404 when no registration exists, 480 when the
 * registered node cannot be reached (AppAttach or connection fails, or
 * the registration there is gone), 408 when the overlay or the next hop
 * does not answer in time, 403 for REGISTER of another user's AOR or a
 * Route outside the overlay, 483 when Max-Forwards runs out, 400 for
 * requests that parse but lack what a proxy needs. Datagrams that do
 * not parse are dropped and counted.
 */
#include "node_int.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sip.h"
#include "sipauth.h"
#include "sipreg.h"

#define SIP_T1_MS		500
#define SIP_T2_MS		4000
#define SIP_TXN_MS		32000	/* Timer B/F */
#define SIP_INVITE_MS		180000	/* Timer C */
#define SIP_KEEP_MS		32000	/* a finished transaction lingers */
#define SIP_ATTACH_MS		10000	/* AppAttach + TLS up */
#define SIP_ICE_MS		25000	/* AppAttach over ICE: a pair */
#define SIP_APP_IDLE_MS		300000
#define SIP_UA_MS		(12 * 3600 * 1000ull)
#define SIP_DEFAULT_EXPIRES	3600
#define SIP_MIN_EXPIRES		30
#define SIP_MAX_EXPIRES		7200
#define SIP_MAX_TXNS		16384
#define SIP_MAX_BINDINGS	1024
#define SIP_MAX_CHAL		8	/* challenges merged into a 401/407 */
#define SIP_MAX_UAS		4096
#define SIP_MAX_TCP		256
#define SIP_MAX_QUEUE		(1024 * 1024)
#define SIP_MAX_FORKS		8	/* branches of one forked request */
#define SIP_TIMER_MS		100

enum src_kind { SRC_NONE = 0, SRC_UDP, SRC_TCP, SRC_APP, SRC_CTL, SRC_TLS };

typedef struct sip_src {
	int kind;
	struct sockaddr_storage sa;	/* UDP; TCP, TLS: for the logs */
	uint64_t conn;			/* TCP, TLS: connection id */
	p2p_id node;			/* APP: the peer node */
	uint64_t ctl;			/* CTL: id of the waiting control call */
} sip_src;

/* A stream from a user agent: plain TCP (h), or TLS (tls; h unused). */
typedef struct sip_tcp {
	uv_tcp_t h;
	p2p_tls_conn *tls;
	struct sip_front *f;
	uint64_t id;
	uint8_t *rx;
	size_t rxlen, rxcap;
	int closing;
	struct sip_tcp *next;
} sip_tcp;

typedef struct sip_app {
	struct sip_front *f;
	p2p_tls_conn *conn;	/* TLS over TCP; NULL until connecting */
	p2p_dtls *dtls;		/* or DTLS over an ICE pair */
	p2p_rlink *rl;		/* its reliability: a SIP message a frame */
	p2p_id peer;
	int open;
	int outbound;
	uint64_t id;
	uint64_t until_ms;	/* connecting: give up then */
	uint64_t last_ms;
	uint8_t *rx;
	size_t rxlen, rxcap;
	uint8_t *q;		/* messages waiting for the connection */
	size_t qlen, qcap;
	struct sip_app *next;
} sip_app;

typedef struct sip_bind {
	char aor[128];
	char contact[256];
	char host[64];
	uint16_t port;
	sip_src src;
	uint64_t expires_ms;
	struct sip_bind *next;
} sip_bind;

/* A user agent we may send to: it registered, or its Contact crossed
 * the front in a dialog-forming request or answer. */
typedef struct sip_ua {
	char host[64];
	uint16_t port;
	sip_src src;
	uint64_t expires_ms;
	struct sip_ua *next;
} sip_ua;

typedef struct sip_txn {
	uint64_t id;
	char branch[48];	/* ours, on the forwarded request */
	char in_branch[128];	/* the upstream top Via's */
	char method[24];
	sip_src from, to;
	int has_to;
	osip_message_t *orig;	/* the request as it came */
	char *fwd;		/* what we sent downstream (UDP resends) */
	size_t fwdlen;
	char *last;		/* last answer sent upstream */
	size_t lastlen;
	int got_resp;		/* downstream answered something */
	int final;		/* a final answer went upstream */
	int depth;		/* overlay lookups done (uri chains) */
	int cancelled;
	uint64_t next_rtx_ms, rtx_ms, deadline_ms, expire_ms;
	char call_id[128], from_aor[128], to_aor[128];
	/* Forking (fork_to): the request as it came is the parent; each
	 * target gets a branch of its own, a transaction whose parent is
	 * the parent's id and whose in_branch is empty (no retransmission
	 * from upstream ever matches it). */
	uint64_t parent;	/* a branch: its parent's id; 0 otherwise */
	int nbranch;		/* a parent: branches made */
	int nbranch_final;	/* ... of them finished */
	int answered;		/* a parent: a 2xx went upstream */
	int cancel_due;		/* a branch: CANCEL once it answers 1xx */
	osip_message_t *best;	/* a parent: best final answer so far */
	/* A parent: the challenges of its branches' 401 and 407 answers
	 * (header values; proxy: Proxy-Authenticate), for the one that
	 * goes up (s16.7 step 7). */
	char *chal[SIP_MAX_CHAL];
	uint8_t chal_proxy[SIP_MAX_CHAL];
	size_t nchal;
	struct sip_txn *next;
} sip_txn;

typedef struct sip_ctlw {
	uint64_t id;
	p2p_ctl_req *req;
	struct sip_ctlw *next;
} sip_ctlw;

typedef struct sip_sub {
	p2p_ctl_req *req;
	struct sip_sub *next;
} sip_sub;

typedef struct sip_front {
	p2p_node *n;
	char ip[48];
	uint16_t port;
	char hex[P2P_ID_HEXLEN + 1];
	uv_udp_t udp;
	uv_tcp_t tcp;
	uv_timer_t timer;
	int timer_on;
	int handles;		/* open libuv handles */
	p2p_tls_ctx *app_srv, *app_cli;
	p2p_tls_ctx *app_dsrv, *app_dcli;	/* DTLS, made when needed */
	p2p_tls_listener *app_listener;
	uint16_t app_port;
	p2p_tls_ctx *tls_ctx;	/* --sip-tls: the front's TLS for phones */
	p2p_tls_listener *tls_listener;
	char tls_ip[48];
	uint16_t tls_port;
	sip_tcp *tcps;
	unsigned ntcp;
	sip_app *apps;
	sip_bind *binds;
	unsigned nbinds;
	sip_ua *uas;
	unsigned nuas;
	sip_txn *txns;
	unsigned ntxns;
	sip_ctlw *ctlws;
	sip_sub *subs;
	uint64_t next_id;
	int stopping;
	p2p_sipauth *auth;	/* --sip-password-file; NULL: none */
	struct {
		uint64_t rx, tx, bad, dropped, forwarded, challenged, forked;
	} st;
} sip_front;

static void txn_free(sip_front *f, sip_txn *t);
static void branch_fail(sip_front *f, sip_txn *b, int code);
static void proxy_route(sip_front *f, sip_txn *t);
static void app_send(sip_front *f, const p2p_id *peer, const char *buf,
    size_t len);
static void on_msg(sip_front *f, const sip_src *src, const char *buf,
    size_t len);
static void on_timer(uv_timer_t *h);

/* ---- small things ---------------------------------------------------- */

static uint64_t
now_ms(sip_front *f)
{
	return node_now(f->n);
}

static void
rand_hex(char *out, size_t nbytes)
{
	static const char d[] = "0123456789abcdef";
	uint8_t r[32];

	if (nbytes > sizeof(r))
		nbytes = sizeof(r);
	if (RAND_bytes(r, (int)nbytes) != 1)
		memset(r, 0x5a, nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = d[r[i] >> 4];
		out[2 * i + 1] = d[r[i] & 0xf];
	}
	out[2 * nbytes] = '\0';
}

static const char *
src_name(const sip_src *s, char *buf, size_t len)
{
	char ip[64] = "?", id[9];
	int port = 0;

	switch (s->kind) {
	case SRC_UDP:
	case SRC_TCP:
	case SRC_TLS:
		if (s->sa.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&s->sa;
			inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
			port = ntohs(a->sin_port);
		} else if (s->sa.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)&s->sa;
			inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
			port = ntohs(a->sin6_port);
		}
		snprintf(buf, len, "%s %s:%d", s->kind == SRC_UDP ? "udp" :
		    s->kind == SRC_TCP ? "tcp" : "tls", ip, port);
		break;
	case SRC_APP:
		snprintf(buf, len, "node %s", node_id_short(&s->node, id));
		break;
	case SRC_CTL:
		snprintf(buf, len, "control");
		break;
	default:
		snprintf(buf, len, "-");
	}
	return buf;
}

/* A user agent next to the node (not another node, not a control
 * client)? */
static int
src_is_ua(const sip_src *s)
{
	return s->kind == SRC_UDP || s->kind == SRC_TCP || s->kind == SRC_TLS;
}

static int
src_eq(const sip_src *a, const sip_src *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case SRC_UDP:
		return memcmp(&a->sa, &b->sa, sizeof(a->sa)) == 0;
	case SRC_TCP:
	case SRC_TLS:
		return a->conn == b->conn;
	case SRC_APP:
		return p2p_id_eq(&a->node, &b->node);
	case SRC_CTL:
		return a->ctl == b->ctl;
	}
	return 0;
}

/* "user@host" of a URI, domain lower case, into out. */
static int
uri_aor(osip_uri_t *u, char *out, size_t len)
{
	char tmp[300];

	if (u == NULL || u->username == NULL || u->host == NULL)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%s@%s", u->username, u->host) >=
	    (int)sizeof(tmp))
		return -1;
	return p2p_sip_aor_norm(tmp, out, len) < 0 ? -1 : 0;
}

static void
notify(sip_front *f, const char *event, json_t *extra)
{
	json_t *o = json_pack("{s:s}", "event", event);
	sip_sub *s;

	if (o == NULL) {
		json_decref(extra);
		return;
	}
	if (extra != NULL) {
		json_object_update(o, extra);
		json_decref(extra);
	}
	for (s = f->subs; s != NULL; s = s->next)
		(void)p2p_ctl_notify(s->req, "sip.event", json_incref(o));
	json_decref(o);
}

/* ---- transports ------------------------------------------------------ */

typedef struct udp_send {
	uv_udp_send_t req;
	char *buf;
} udp_send;

static void
on_udp_sent(uv_udp_send_t *r, int status)
{
	udp_send *u = (udp_send *)r;

	(void)status;
	free(u->buf);
	free(u);
}

static void
send_udp(sip_front *f, const struct sockaddr_storage *sa, const char *buf,
    size_t len)
{
	udp_send *u = malloc(sizeof(*u));
	uv_buf_t b;

	if (u == NULL || (u->buf = malloc(len)) == NULL) {
		free(u);
		return;
	}
	memcpy(u->buf, buf, len);
	b = uv_buf_init(u->buf, (unsigned)len);
	if (uv_udp_send(&u->req, &f->udp, &b, 1, (const struct sockaddr *)sa,
	    on_udp_sent) != 0) {
		free(u->buf);
		free(u);
		f->st.dropped++;
	}
}

typedef struct tcp_send {
	uv_write_t req;
	char *buf;
} tcp_send;

static void
on_tcp_sent(uv_write_t *r, int status)
{
	tcp_send *t = (tcp_send *)r;

	(void)status;
	free(t->buf);
	free(t);
}

static sip_tcp *
tcp_by_id(sip_front *f, uint64_t id)
{
	for (sip_tcp *t = f->tcps; t != NULL; t = t->next)
		if (t->id == id && !t->closing)
			return t;
	return NULL;
}

static void
send_tcp(sip_front *f, uint64_t id, const char *buf, size_t len)
{
	sip_tcp *c = tcp_by_id(f, id);
	tcp_send *t;
	uv_buf_t b;

	if (c != NULL && c->tls != NULL) {
		if (p2p_tls_write(c->tls, buf, len) != 0)
			f->st.dropped++;	/* and it is closing */
		return;
	}
	if (c == NULL || (t = malloc(sizeof(*t))) == NULL) {
		f->st.dropped++;
		return;
	}
	if ((t->buf = malloc(len)) == NULL) {
		free(t);
		return;
	}
	memcpy(t->buf, buf, len);
	b = uv_buf_init(t->buf, (unsigned)len);
	if (uv_write(&t->req, (uv_stream_t *)&c->h, &b, 1, on_tcp_sent) != 0) {
		free(t->buf);
		free(t);
	}
}

static void ctl_answer(sip_front *f, uint64_t id, osip_message_t *m);

static void
send_raw(sip_front *f, const sip_src *to, const char *buf, size_t len)
{
	f->st.tx++;
	switch (to->kind) {
	case SRC_UDP:
		send_udp(f, &to->sa, buf, len);
		break;
	case SRC_TCP:
	case SRC_TLS:
		send_tcp(f, to->conn, buf, len);
		break;
	case SRC_APP:
		app_send(f, &to->node, buf, len);
		break;
	default:
		break;
	}
}

/* Send answer m to t's sender (a control client hears only the final
 * one); with keep, remember it for resends of the request; a final
 * answer finishes t. */
static void
to_sender(sip_front *f, sip_txn *t, osip_message_t *m, int keep)
{
	int code = m->status_code;
	char *s;
	size_t len;

	if (t->from.kind == SRC_CTL) {
		if (code >= 200)
			ctl_answer(f, t->from.ctl, m);
	} else if (p2p_sip_to_str(m, &s, &len) == 0) {
		send_raw(f, &t->from, s, len);
		if (keep) {
			free(t->last);
			if ((t->last = malloc(len)) != NULL) {
				memcpy(t->last, s, len);
				t->lastlen = len;
			}
		}
		osip_free(s);
	}
	if (code >= 200 && !t->final) {
		t->final = 1;
		t->expire_ms = now_ms(f) + SIP_KEEP_MS;
	}
}

/* An answer of our own: always remembered. */
static void
answer_up(sip_front *f, sip_txn *t, osip_message_t *r)
{
	to_sender(f, t, r, 1);
}

/* Answer a request we hold with code (and remember it for resends). */
static void
reply(sip_front *f, const sip_src *to, osip_message_t *req, int code,
    const char *reason, sip_txn *t)
{
	osip_message_t *r;
	char tag[17];
	char *s;
	size_t len;

	if (p2p_sip_is(req, "ACK"))
		return;
	rand_hex(tag, 8);
	r = p2p_sip_response(req, code, reason, tag);
	if (r == NULL)
		return;
	if (t != NULL) {
		answer_up(f, t, r);
	} else if (to->kind == SRC_CTL) {
		ctl_answer(f, to->ctl, r);
	} else if (p2p_sip_to_str(r, &s, &len) == 0) {
		send_raw(f, to, s, len);
		osip_free(s);
	}
	osip_message_free(r);
}

/* ---- UDP and TCP front ----------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)h;
	(void)suggested;
	b->base = malloc(P2P_SIP_MAX_MSG + 1);
	b->len = b->base != NULL ? P2P_SIP_MAX_MSG + 1 : 0;
}

static void
on_udp(uv_udp_t *h, ssize_t nread, const uv_buf_t *b,
    const struct sockaddr *addr, unsigned flags)
{
	sip_front *f = h->data;
	sip_src src;

	if (nread <= 0 || addr == NULL)
		goto out;
	if ((flags & UV_UDP_PARTIAL) || nread > P2P_SIP_MAX_MSG) {
		f->st.bad++;
		node_log(f->n, NLOG_DEBUG, "sip: oversized datagram dropped");
		goto out;
	}
	b->base[nread] = '\0';
	memset(&src, 0, sizeof(src));
	src.kind = SRC_UDP;
	memcpy(&src.sa, addr, addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	/* CRLF keep-alives (RFC 5626 s4.4.1) need no answer here. */
	if ((nread == 2 || nread == 4) &&
	    strspn(b->base, "\r\n") >= (size_t)nread)
		goto out;
	on_msg(f, &src, b->base, (size_t)nread);
out:
	free(b->base);
}

/* Feed stream bytes to buf and hand over each whole message. Returns -1
 * when the stream is not SIP (the caller closes it). */
static int
stream_feed(sip_front *f, const sip_src *src, uint8_t **buf, size_t *blen,
    size_t *bcap, const uint8_t *data, size_t len)
{
	if (*blen + len > 2 * (size_t)P2P_SIP_MAX_MSG)
		return -1;
	if (*blen + len > *bcap) {
		size_t cap = *bcap ? *bcap : 4096;
		uint8_t *nb;
		while (cap < *blen + len)
			cap *= 2;
		if ((nb = realloc(*buf, cap)) == NULL)
			return -1;
		*buf = nb;
		*bcap = cap;
	}
	memcpy(*buf + *blen, data, len);
	*blen += len;
	for (;;) {
		size_t skip = 0;
		long n = p2p_sip_frame(*buf, *blen, P2P_SIP_MAX_MSG, &skip);

		if (n < 0)
			return -1;
		if (n == 0) {
			if (skip > 0) {
				memmove(*buf, *buf + skip, *blen - skip);
				*blen -= skip;
			}
			return 0;
		}
		if ((size_t)n > skip)
			on_msg(f, src, (const char *)*buf + skip,
			    (size_t)n - skip);
		memmove(*buf, *buf + n, *blen - (size_t)n);
		*blen -= (size_t)n;
	}
}

/* A stream connection is gone: forget it. */
static void
tcp_forget(sip_tcp *c)
{
	sip_front *f = c->f;

	for (sip_tcp **pp = &f->tcps; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	f->ntcp--;
	free(c->rx);
	free(c);
}

static void
on_tcp_closed(uv_handle_t *h)
{
	tcp_forget(h->data);
}

static void
tcp_close(sip_tcp *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->tls != NULL)
		p2p_tls_close(c->tls);	/* freed in tls_on_close */
	else
		uv_close((uv_handle_t *)&c->h, on_tcp_closed);
}

static void
on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	sip_tcp *c = s->data;
	sip_src src;
	int alen = sizeof(src.sa);

	if (nread < 0) {
		tcp_close(c);
		goto out;
	}
	if (nread == 0 || c->closing)
		goto out;
	memset(&src, 0, sizeof(src));
	src.kind = SRC_TCP;
	src.conn = c->id;
	uv_tcp_getpeername(&c->h, (struct sockaddr *)&src.sa, &alen);
	if (stream_feed(c->f, &src, &c->rx, &c->rxlen, &c->rxcap,
	    (const uint8_t *)b->base, (size_t)nread) != 0) {
		c->f->st.bad++;
		node_log(c->f->n, NLOG_INFO, "sip: tcp stream is not SIP; "
		    "closed");
		tcp_close(c);
	}
out:
	free(b->base);
}

static void
on_tcp_conn(uv_stream_t *ls, int status)
{
	sip_front *f = ls->data;
	sip_tcp *c;

	if (status != 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	uv_tcp_init(f->n->loop, &c->h);
	c->h.data = c;
	c->f = f;
	c->id = ++f->next_id;
	c->next = f->tcps;
	f->tcps = c;
	f->ntcp++;
	if (uv_accept(ls, (uv_stream_t *)&c->h) != 0 || f->stopping ||
	    f->ntcp > SIP_MAX_TCP) {
		tcp_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->h, on_alloc, on_tcp_read);
}

/*
 * --sip-tls: SIP over TLS from user agents (RFC 3261 s26.3.1: the server
 * side of TLS, no client certificate asked for). The front presents the
 * node's own certificate, or the one of --sip-tls-cert; a user agent
 * that checks it needs the overlay CA (ca.pem of the node directory) or
 * the CA of that certificate. The stream framing is TCP's. Requests to
 * a user agent that came over TLS go back over its connection: the
 * front opens no TLS connection to a user agent.
 */
static void
tls_on_read(p2p_tls_conn *tc, const uint8_t *data, size_t len)
{
	sip_tcp *c = p2p_tls_conn_data(tc);
	sip_src src;
	int port = 0;
	const char *peer;
	char ip[64];

	if (c == NULL || c->closing)
		return;
	memset(&src, 0, sizeof(src));
	src.kind = SRC_TLS;
	src.conn = c->id;
	peer = p2p_tls_conn_peer_ip(tc);
	if (peer != NULL && strlen(peer) < sizeof(ip)) {
		const char *hp = p2p_tls_conn_peer(tc), *colon;
		snprintf(ip, sizeof(ip), "%s", peer);
		if (hp != NULL && (colon = strrchr(hp, ':')) != NULL)
			port = atoi(colon + 1);
		if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&src.sa) != 0)
			(void)uv_ip6_addr(ip, port,
			    (struct sockaddr_in6 *)&src.sa);
	}
	if (stream_feed(c->f, &src, &c->rx, &c->rxlen, &c->rxcap, data,
	    len) != 0) {
		c->f->st.bad++;
		node_log(c->f->n, NLOG_INFO, "sip: tls stream is not SIP; "
		    "closed");
		tcp_close(c);
	}
}

static void
tls_on_close(p2p_tls_conn *tc, const char *reason)
{
	sip_tcp *c = p2p_tls_conn_data(tc);

	if (c == NULL)
		return;
	node_log(c->f->n, NLOG_DEBUG, "sip: tls connection from %s closed: "
	    "%s", p2p_tls_conn_peer(tc), reason != NULL ? reason : "-");
	tcp_forget(c);
}

static const p2p_tls_cbs tls_front_cbs = {
	.on_read = tls_on_read,
	.on_close = tls_on_close,
};

static void
on_tls_accept(p2p_tls_listener *l, p2p_tls_conn *tc, void *arg)
{
	sip_front *f = arg;
	sip_tcp *c;

	(void)l;
	if (f->stopping || f->ntcp >= SIP_MAX_TCP ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		p2p_tls_close(tc);
		return;
	}
	c->tls = tc;
	c->f = f;
	c->id = ++f->next_id;
	c->next = f->tcps;
	f->tcps = c;
	f->ntcp++;
	p2p_tls_conn_set_cbs(tc, &tls_front_cbs, c);
}

/* ---- SIP connections between nodes (AppAttach) ----------------------- */

static sip_app *
app_find(sip_front *f, const p2p_id *peer, int open_only)
{
	sip_app *best = NULL;

	for (sip_app *a = f->apps; a != NULL; a = a->next) {
		if (!p2p_id_eq(&a->peer, peer))
			continue;
		if (a->open)
			return a;
		if (!open_only && best == NULL)
			best = a;
	}
	return best;
}

static sip_app *
app_by_id(sip_front *f, uint64_t id)
{
	for (sip_app *a = f->apps; a != NULL; a = a->next)
		if (a->id == id)
			return a;
	return NULL;
}

/* A connection record, to peer when known; given up after wait_ms
 * unless open by then (see sip_tick). */
static sip_app *
app_new(sip_front *f, const p2p_id *peer, int outbound, uint64_t wait_ms)
{
	sip_app *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->f = f;
	if (peer != NULL)
		a->peer = *peer;
	a->outbound = outbound;
	a->id = ++f->next_id;
	a->last_ms = now_ms(f);
	a->until_ms = a->last_ms + wait_ms;
	a->next = f->apps;
	f->apps = a;
	return a;
}

static void
app_unlink(sip_front *f, sip_app *a)
{
	for (sip_app **pp = &f->apps; *pp != NULL; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			return;
		}
}

static void
app_destroy(sip_app *a)
{
	p2p_rlink_free(a->rl);
	free(a->rx);
	free(a->q);
	free(a);
}

static int
app_has_transport(const sip_app *a)
{
	return a->conn != NULL || a->dtls != NULL;
}

static void
app_close(sip_app *a, const char *why)
{
	if (a->conn != NULL)
		p2p_tls_close_reason(a->conn, why);
	else if (a->dtls != NULL)
		p2p_dtls_close(a->dtls, why);
}

/* One SIP message to an open connection: bytes of the TLS stream, or one
 * frame of the DTLS connection's reliability layer. */
static void
app_write(sip_app *a, const uint8_t *buf, size_t len)
{
	a->last_ms = now_ms(a->f);
	if (a->conn != NULL)
		(void)p2p_tls_write(a->conn, buf, len);
	else if (a->rl == NULL || p2p_rlink_send(a->rl, buf, len) != 0)
		a->f->st.dropped++;
}

/* Keep a message until the connection opens, after its length (a
 * uint32_t), so that each goes out whole. */
static void
app_queue(sip_app *a, const uint8_t *buf, size_t len)
{
	size_t need = a->qlen + 4 + len;

	if (need > SIP_MAX_QUEUE) {
		a->f->st.dropped++;
		return;
	}
	if (need > a->qcap) {
		size_t cap = a->qcap ? a->qcap : 4096;
		uint8_t *nq;
		while (cap < need)
			cap *= 2;
		if ((nq = realloc(a->q, cap)) == NULL) {
			a->f->st.dropped++;
			return;
		}
		a->q = nq;
		a->qcap = cap;
	}
	uint32_t l32 = (uint32_t)len;
	memcpy(a->q + a->qlen, &l32, 4);
	memcpy(a->q + a->qlen + 4, buf, len);
	a->qlen = need;
}

static void
app_flush(sip_app *a)
{
	size_t off = 0;

	while (off + 4 <= a->qlen) {
		uint32_t len;
		memcpy(&len, a->q + off, 4);
		app_write(a, a->q + off + 4, len);
		off += 4 + len;
	}
	a->qlen = 0;
}

/* The node peer cannot be reached: every request waiting on it gets 480
 * (or 408 when time ran out). */
static void
app_failed(sip_front *f, const p2p_id *peer, int code, const char *why)
{
	char id[9];

	node_log(f->n, NLOG_INFO, "sip: node %s unreachable: %s",
	    node_id_short(peer, id), why);
	for (sip_txn *t = f->txns; t != NULL; t = t->next) {
		if (t->final || !t->has_to || t->to.kind != SRC_APP ||
		    !p2p_id_eq(&t->to.node, peer) || t->got_resp)
			continue;
		reply(f, &t->from, t->orig, code, NULL, t);
		notify(f, "failed", json_pack("{s:s,s:i}", "call_id",
		    t->call_id, "status", code));
	}
}

/* The connection ended (its transport is gone or never came). */
static void
app_gone(sip_app *a, const char *reason)
{
	sip_front *f = a->f;
	int was_open = a->open;
	p2p_id peer = a->peer;
	char id[9];

	if (was_open)
		node_log(f->n, a->dtls != NULL ? NLOG_INFO : NLOG_DEBUG,
		    "sip: connection with node %s closed: %s",
		    node_id_short(&peer, id), reason != NULL ? reason : "-");
	app_unlink(f, a);
	app_destroy(a);
	if (f->stopping)
		return;
	if (!was_open && app_find(f, &peer, 0) == NULL)
		app_failed(f, &peer, 480, reason != NULL ? reason :
		    "connection failed");
}

static void
app_opened(sip_app *a)
{
	char id[9];

	a->open = 1;
	a->last_ms = now_ms(a->f);
	node_log(a->f->n, a->dtls != NULL ? NLOG_INFO : NLOG_DEBUG,
	    "sip: connection with node %s open%s",
	    node_id_short(&a->peer, id), a->dtls != NULL ?
	    " (DTLS over ICE)" : "");
	app_flush(a);
}

static sip_src
app_src(const sip_app *a)
{
	sip_src src;

	memset(&src, 0, sizeof(src));
	src.kind = SRC_APP;
	src.node = a->peer;
	return src;
}

/*
 * The peer's certificate, for both transports: one of the overlay (as
 * overlay links judge it), with a Node-ID; when we know whom we meant to
 * reach (the AppAttach's other end), that Node-ID.
 */
static int
app_judge(sip_front *f, sip_app *a, X509 *peer, STACK_OF(X509) *chain,
    int expect, char *why, size_t whylen)
{
	p2p_cert_info ci;
	p2p_err e = { 0 };
	enum p2p_verify_result r;

	if (a == NULL || peer == NULL) {
		snprintf(why, whylen, "no peer certificate");
		return -1;
	}
	r = p2p_cert_verify(f->n->trust, peer, chain, expect ? &a->peer :
	    NULL, &e);
	if (r != P2P_VERIFY_OK) {
		snprintf(why, whylen, "peer certificate refused (%s): %s",
		    p2p_verify_result_name(r), e.what ? e.what : "");
		return -1;
	}
	if (p2p_cert_info_get(peer, &ci, &e) != 0 || ci.nids == 0) {
		snprintf(why, whylen, "peer certificate has no Node-ID");
		return -1;
	}
	if (!expect)
		a->peer = ci.ids[0];
	return 0;
}

/* -- TLS over TCP (no-ice) -- */

static void
app_on_open(p2p_tls_conn *c)
{
	app_opened(p2p_tls_conn_data(c));
}

static void
app_on_read(p2p_tls_conn *c, const uint8_t *data, size_t len)
{
	sip_app *a = p2p_tls_conn_data(c);
	sip_src src = app_src(a);

	a->last_ms = now_ms(a->f);
	if (stream_feed(a->f, &src, &a->rx, &a->rxlen, &a->rxcap, data,
	    len) != 0) {
		a->f->st.bad++;
		p2p_tls_close_reason(c, "not SIP");
	}
}

static void
app_on_close(p2p_tls_conn *c, const char *reason)
{
	sip_app *a = p2p_tls_conn_data(c);

	if (a != NULL)
		app_gone(a, reason);
}

static const p2p_tls_cbs app_cbs = {
	.on_open = app_on_open,
	.on_read = app_on_read,
	.on_close = app_on_close,
};

static int
app_verify(p2p_tls_conn *c, X509 *peer, void *arg, char *why,
    size_t whylen)
{
	sip_app *a = p2p_tls_conn_data(c);

	return app_judge(arg, a, peer, p2p_tls_conn_peer_chain(c),
	    a != NULL && a->outbound, why, whylen);
}

static void
on_app_accept(p2p_tls_listener *l, p2p_tls_conn *c, void *arg)
{
	sip_front *f = arg;
	sip_app *a;

	(void)l;
	/* The handshake has the AppAttach time too (see sip_tick). */
	if (f->stopping || (a = app_new(f, NULL, 0, SIP_ATTACH_MS)) == NULL) {
		p2p_tls_close(c);
		return;
	}
	a->conn = c;
	p2p_tls_conn_set_cbs(c, &app_cbs, a);
}

/* -- DTLS over an ICE pair -- */

static void
app_d_open(p2p_dtls *d)
{
	app_opened(p2p_dtls_data(d));
}

static void
app_d_recv(p2p_dtls *d, const uint8_t *rec, size_t len)
{
	sip_app *a = p2p_dtls_data(d);
	p2p_err e = { 0 };

	if (a == NULL || a->rl == NULL)
		return;
	if (p2p_rlink_input(a->rl, rec, len, &e) != 0) {
		a->f->st.bad++;
		p2p_dtls_close(d, e.what ? e.what : "not a frame");
	}
}

static void
app_d_close(p2p_dtls *d, const char *reason)
{
	sip_app *a = p2p_dtls_data(d);

	if (a == NULL)
		return;
	a->dtls = NULL;
	app_gone(a, reason);
}

static const p2p_dtls_cbs app_dcbs = { app_d_open, app_d_recv,
    app_d_close };

static int
app_dverify(p2p_dtls *d, X509 *peer, STACK_OF(X509) *chain, void *arg,
    char *why, size_t whylen)
{
	/* Both ends know whom they AppAttached with. */
	return app_judge(arg, p2p_dtls_data(d), peer, chain, 1, why, whylen);
}

static int
app_rl_send(p2p_rlink *r, const uint8_t *rec, size_t len, void *arg)
{
	sip_app *a = arg;

	(void)r;
	return a->dtls != NULL && p2p_dtls_send(a->dtls, rec, len) == 0 ?
	    0 : -1;
}

static void
app_rl_deliver(p2p_rlink *r, const uint8_t *msg, size_t len, void *arg)
{
	sip_app *a = arg;
	sip_src src = app_src(a);

	(void)r;
	a->last_ms = now_ms(a->f);
	on_msg(a->f, &src, (const char *)msg, len);
}

static void
app_rl_failed(p2p_rlink *r, const char *why, void *arg)
{
	sip_app *a = arg;

	(void)r;
	if (a->dtls != NULL)
		p2p_dtls_close(a->dtls, why);
}

static const p2p_rlink_cbs app_rlcbs = { app_rl_send, app_rl_deliver,
    app_rl_failed };

/* The DTLS contexts, made the first time a pair comes. */
static int
app_dctx(sip_front *f)
{
	char err[160];

	if (f->app_dsrv == NULL)
		f->app_dsrv = dlink_ctx_new(f->n, P2P_TLS_SERVER, app_dverify,
		    f, err, sizeof(err));
	if (f->app_dcli == NULL)
		f->app_dcli = dlink_ctx_new(f->n, P2P_TLS_CLIENT, app_dverify,
		    f, err, sizeof(err));
	if (f->app_dsrv != NULL && f->app_dcli != NULL)
		return 0;
	node_log(f->n, NLOG_WARN, "sip: no DTLS context: %s", err);
	return -1;
}

/*
 * ICE selected a pair for an AppAttach (or failed: the sender's d is
 * NULL). The sender is the DTLS server, as the Attach sender is.
 */
static void
on_app_path(p2p_node *n, uint64_t user, const p2p_id *peer, p2p_dgram *d,
    const char *why)
{
	sip_front *f = n->sip;
	sip_app *a = NULL;
	p2p_rlink_opts o;

	if (f == NULL || f->stopping || (user != 0 && ((a = app_by_id(f,
	    user)) == NULL || app_has_transport(a)))) {
		if (d != NULL)
			p2p_dgram_close(d);
		return;
	}
	if (d == NULL) {
		if (a != NULL)
			app_gone(a, why != NULL ? why : "AppAttach failed");
		return;
	}
	if (a == NULL && (a = app_new(f, peer, 0, SIP_ATTACH_MS)) == NULL) {
		p2p_dgram_close(d);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.max_msg = P2P_DTLS_MAX_RECORD - P2P_FRAME_DATA_HDR;
	if (app_dctx(f) != 0 || (a->rl = p2p_rlink_new(n->loop, &o,
	    &app_rlcbs, a)) == NULL || (a->dtls = p2p_dtls_new(n->loop,
	    a->outbound ? f->app_dsrv : f->app_dcli, d, &app_dcbs, a)) ==
	    NULL) {
		p2p_dgram_close(d);
		app_gone(a, "cannot start DTLS");
	}
}

/* -- AppAttach without ICE -- */

static int
app_candidate(sip_front *f, p2p_ice_cand *c)
{
	uint8_t a[16];

	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, f->n->listen_ip, a) == 1)
		p2p_addr_port_v4(&c->addr, a, f->app_port);
	else if (inet_pton(AF_INET6, f->n->listen_ip, a) == 1)
		p2p_addr_port_v6(&c->addr, a, f->app_port);
	else
		return -1;
	c->overlay_link = P2P_LINK_TLS_TCP_FH_NO_ICE;
	c->foundation.p = (const uint8_t *)"1";
	c->foundation.len = 1;
	c->priority = (126u << 24) | (65535u << 8) | 255u;
	c->type = P2P_CAND_HOST;
	return 0;
}

static int
app_attach_body(sip_front *f, p2p_wbuf *w, int request)
{
	p2p_app_attach aa;
	p2p_ice_cand c;
	char ufrag[9], pwd[25];

	if (app_candidate(f, &c) != 0)
		return -1;
	rand_hex(ufrag, 4);
	rand_hex(pwd, 12);
	memset(&aa, 0, sizeof(aa));
	aa.ufrag.p = (const uint8_t *)ufrag;
	aa.ufrag.len = 8;
	aa.password.p = (const uint8_t *)pwd;
	aa.password.len = 24;
	aa.application = P2P_APP_SIP;
	aa.role.p = (const uint8_t *)(request ? "passive" : "active");
	aa.role.len = request ? 7 : 6;
	aa.cands = &c;
	aa.ncands = 1;
	return p2p_app_attach_encode(w, &aa);
}

static const p2p_ice_cand *
pick_candidate(const p2p_app_attach *aa, enum p2p_link_type type)
{
	for (size_t i = 0; i < aa->ncands; i++)
		if (aa->cands[i].overlay_link == type &&
		    (aa->cands[i].addr.type == P2P_ADDR_IPV4 ||
		    aa->cands[i].addr.type == P2P_ADDR_IPV6))
			return &aa->cands[i];
	return NULL;
}

static void
on_app_attach_ans(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	sip_front *f = n->sip;
	uint64_t id = (uint64_t)(uintptr_t)user;
	sip_app *a;
	p2p_app_attach aa;
	const p2p_ice_cand *use;
	p2p_arena ar;
	void *mem = NULL;
	p2p_err e = { 0 };
	char ip[64], why[160];
	uint16_t port;

	if (f == NULL || (a = app_by_id(f, id)) == NULL ||
	    app_has_transport(a))
		return;
	if (st != P2P_TXN_ANSWERED || ans == NULL || who == NULL) {
		snprintf(why, sizeof(why), "AppAttach: %s",
		    st == P2P_TXN_TIMEOUT ? "no answer" : "failed");
		goto fail;
	}
	if (ans->code != P2P_APP_ATTACH_ANS) {
		uint16_t code = 0;
		char text[128] = "";
		(void)route_error_info(ans, &code, text, sizeof(text));
		snprintf(why, sizeof(why), "AppAttach refused: %s %s",
		    p2p_error_name(code) ? p2p_error_name(code) : "?", text);
		goto fail;
	}
	if (!p2p_id_eq(&who->node, &a->peer)) {
		snprintf(why, sizeof(why), "AppAttach answered by another node");
		goto fail;
	}
	if ((mem = malloc(4 * ans->body.len + 4096)) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	p2p_arena_init(&ar, mem, 4 * ans->body.len + 4096);
	if (p2p_app_attach_decode(ans->body, &ar, &aa, &e) != 0 ||
	    aa.application != P2P_APP_SIP || (use = pick_candidate(&aa,
	    P2P_LINK_TLS_TCP_FH_NO_ICE)) == NULL ||
	    inet_ntop(use->addr.type == P2P_ADDR_IPV4 ? AF_INET : AF_INET6,
	    use->addr.addr, ip, sizeof(ip)) == NULL) {
		snprintf(why, sizeof(why), "AppAttach answer unusable: %s",
		    e.what ? e.what : "no TLS-TCP-FH-NO-ICE candidate");
		goto fail;
	}
	port = use->addr.port;	/* the arena goes now */
	free(mem);
	mem = NULL;
	/* The AppAttach sender is the TLS server (see the top). */
	if (p2p_tls_connect(n->loop, f->app_srv, ip, port, &app_cbs, a,
	    &a->conn) != 0) {
		snprintf(why, sizeof(why), "cannot connect to %s:%u", ip,
		    port);
		goto fail;
	}
	return;
fail:
	free(mem);
	app_gone(a, why);
}

/* Send an AppAttach for a's peer: over ICE when the overlay uses it. */
static int
app_attach(sip_front *f, sip_app *a)
{
	p2p_dest d;
	p2p_wbuf w;
	int rc;

	if (f->n->ice != NULL)
		return ice_send_app_attach(f->n, &a->peer, P2P_APP_SIP,
		    on_app_path, a->id);
	memset(&d, 0, sizeof(d));
	d.type = P2P_DEST_NODE;
	d.node = a->peer;
	p2p_w_init(&w, 128);
	rc = app_attach_body(f, &w, 1);
	if (rc == 0)
		rc = route_request(f->n, &d, 1, P2P_APP_ATTACH_REQ, &w, NULL, 0,
		    NULL, on_app_attach_ans, (void *)(uintptr_t)a->id);
	p2p_w_free(&w);
	return rc;
}

/* Send a message to peer, AppAttaching first when no connection exists. */
static void
app_send(sip_front *f, const p2p_id *peer, const char *buf, size_t len)
{
	sip_app *a = app_find(f, peer, 0);

	if (a != NULL && a->open) {
		app_write(a, (const uint8_t *)buf, len);
		return;
	}
	if (a == NULL) {
		if ((a = app_new(f, peer, 1, f->n->ice != NULL ? SIP_ICE_MS :
		    SIP_ATTACH_MS)) == NULL)
			return;
		if (app_attach(f, a) != 0) {
			app_unlink(f, a);
			app_destroy(a);
			app_failed(f, peer, 480, "AppAttach could not be sent");
			return;
		}
	}
	app_queue(a, (const uint8_t *)buf, len);
}

void
sip_app_attach(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	sip_front *f = n->sip;
	p2p_app_attach aa;
	p2p_err e = { 0 };
	p2p_wbuf w;

	if (p2p_app_attach_decode(m->body, a, &aa, &e) != 0) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (aa.application != P2P_APP_SIP) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "application not served by this node");
		return;
	}
	if (f == NULL || f->stopping) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "this node has no SIP front");
		return;
	}
	if (p2p_id_eq(&who->node, &n->ident.node)) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE,
		    "AppAttach to oneself");
		return;
	}
	if (n->ice != NULL && pick_candidate(&aa, P2P_LINK_DTLS_UDP_SR) !=
	    NULL) {
		ice_on_app_attach(n, from, m, who, &aa, on_app_path);
		return;
	}
	if (pick_candidate(&aa, P2P_LINK_TLS_TCP_FH_NO_ICE) == NULL) {
		(void)route_error(n, from, m, P2P_ERR_INCOMPATIBLE,
		    "no usable candidate");
		return;
	}
	p2p_w_init(&w, 128);
	if (app_attach_body(f, &w, 0) == 0)
		(void)route_answer(n, from, m, P2P_APP_ATTACH_ANS, w.p, w.len);
	p2p_w_free(&w);
}

/* ---- local user agents ----------------------------------------------- */

static sip_bind *
bind_find(sip_front *f, const char *aor, const char *contact)
{
	for (sip_bind *b = f->binds; b != NULL; b = b->next)
		if (strcmp(b->aor, aor) == 0 &&
		    (contact == NULL || strcmp(b->contact, contact) == 0))
			return b;
	return NULL;
}

/* The most recently refreshed binding of aor. */
static sip_bind *
bind_best(sip_front *f, const char *aor)
{
	sip_bind *best = NULL;

	for (sip_bind *b = f->binds; b != NULL; b = b->next)
		if (strcmp(b->aor, aor) == 0 &&
		    (best == NULL || b->expires_ms > best->expires_ms))
			best = b;
	return best;
}

static void
ua_remember(sip_front *f, const char *host, uint16_t port,
    const sip_src *src, uint64_t until)
{
	sip_ua *u;

	if (!src_is_ua(src))
		return;
	for (u = f->uas; u != NULL; u = u->next)
		if (u->port == port && strcasecmp(u->host, host) == 0)
			break;
	if (u == NULL) {
		if (f->nuas >= SIP_MAX_UAS || strlen(host) >= sizeof(u->host) ||
		    (u = calloc(1, sizeof(*u))) == NULL)
			return;
		snprintf(u->host, sizeof(u->host), "%s", host);
		u->port = port;
		u->next = f->uas;
		f->uas = u;
		f->nuas++;
	}
	u->src = *src;
	if (until > u->expires_ms)
		u->expires_ms = until;
}

/* Remember the Contact of a message from a local user agent. */
static void
ua_from_contact(sip_front *f, osip_message_t *m, const sip_src *src)
{
	osip_contact_t *c = NULL;
	char host[64];
	uint16_t port;

	if (osip_message_get_contact(m, 0, &c) < 0 || c == NULL ||
	    p2p_sip_uri_hostport(c->url, host, sizeof(host), &port) != 0)
		return;
	ua_remember(f, host, port, src, now_ms(f) + SIP_UA_MS);
}

static const sip_src *
ua_find(sip_front *f, osip_uri_t *u)
{
	char host[64];
	uint16_t port;

	if (p2p_sip_uri_hostport(u, host, sizeof(host), &port) != 0)
		return NULL;
	for (sip_bind *b = f->binds; b != NULL; b = b->next)
		if (b->port == port && strcasecmp(b->host, host) == 0)
			return &b->src;
	for (sip_ua *a = f->uas; a != NULL; a = a->next)
		if (a->port == port && strcasecmp(a->host, host) == 0)
			return &a->src;
	return NULL;
}

/* ---- transactions ---------------------------------------------------- */

static void
timer_arm(sip_front *f)
{
	if (!f->timer_on && !f->stopping) {
		f->timer_on = 1;
		uv_timer_start(&f->timer, on_timer, SIP_TIMER_MS,
		    SIP_TIMER_MS);
	}
}

static sip_txn *
txn_new(sip_front *f, osip_message_t *req, const sip_src *from)
{
	sip_txn *t;
	const char *b = p2p_sip_top_branch(req);

	if (f->ntxns >= SIP_MAX_TXNS || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->id = ++f->next_id;
	snprintf(t->branch, sizeof(t->branch), "z9hG4bK-p2p-");
	rand_hex(t->branch + strlen(t->branch), 12);
	snprintf(t->in_branch, sizeof(t->in_branch), "%s", b ? b : "");
	snprintf(t->method, sizeof(t->method), "%s", req->sip_method);
	snprintf(t->call_id, sizeof(t->call_id), "%s", req->call_id->number);
	if (uri_aor(req->from->url, t->from_aor, sizeof(t->from_aor)) != 0)
		t->from_aor[0] = '\0';
	if (uri_aor(req->to->url, t->to_aor, sizeof(t->to_aor)) != 0)
		t->to_aor[0] = '\0';
	t->from = *from;
	t->orig = req;
	t->deadline_ms = now_ms(f) + SIP_TXN_MS;
	t->next = f->txns;
	f->txns = t;
	f->ntxns++;
	timer_arm(f);
	return t;
}

static void
txn_free(sip_front *f, sip_txn *t)
{
	for (sip_txn **pp = &f->txns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	f->ntxns--;
	if (t->orig != NULL)
		osip_message_free(t->orig);
	if (t->best != NULL)
		osip_message_free(t->best);
	for (size_t i = 0; i < t->nchal; i++)
		osip_free(t->chal[i]);
	free(t->fwd);
	free(t->last);
	free(t);
}

static sip_txn *
txn_by_id(sip_front *f, uint64_t id)
{
	for (sip_txn *t = f->txns; t != NULL; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

/* The transaction a request retransmits (or an ACK/CANCEL belongs to). */
static sip_txn *
txn_by_in(sip_front *f, const char *branch, const char *method,
    const sip_src *from)
{
	if (branch == NULL || branch[0] == '\0')
		return NULL;
	for (sip_txn *t = f->txns; t != NULL; t = t->next)
		if (strcmp(t->in_branch, branch) == 0 &&
		    strcmp(t->method, method) == 0 && src_eq(&t->from, from))
			return t;
	return NULL;
}

static sip_txn *
txn_by_branch(sip_front *f, const char *branch)
{
	if (branch == NULL)
		return NULL;
	for (sip_txn *t = f->txns; t != NULL; t = t->next)
		if (strcmp(t->branch, branch) == 0)
			return t;
	return NULL;
}

static const char *
via_transport(const sip_src *to)
{
	switch (to->kind) {
	case SRC_TCP:
		return "TCP";
	case SRC_APP:
	case SRC_TLS:
		return "TLS";
	default:
		return "UDP";
	}
}

/* Build what goes downstream from t->orig: Max-Forwards, our Via, our
 * Record-Route; send it to t->to. */
static void
forward(sip_front *f, sip_txn *t, const char *branch)
{
	osip_message_t *m = NULL;
	osip_header_t *mf = NULL;
	char via[160], rr[200], num[12];
	char *s;
	size_t len;
	long hops = 70;

	if (osip_message_clone(t->orig, &m) != 0)
		goto fail;
	if (osip_message_header_get_byname(m, "max-forwards", 0, &mf) >= 0 &&
	    mf != NULL && mf->hvalue != NULL) {
		char *ep;
		hops = strtol(mf->hvalue, &ep, 10);
		if (*ep != '\0' || hops < 0 || hops > 255)
			hops = 70;
	}
	if (hops <= 0 && !p2p_sip_is(m, "ACK")) {
		osip_message_free(m);
		if (t->parent != 0)
			branch_fail(f, t, 483);
		else
			reply(f, &t->from, t->orig, 483, NULL, t);
		return;
	}
	snprintf(num, sizeof(num), "%ld", hops > 0 ? hops - 1 : 0);
	if (mf != NULL) {
		osip_free(mf->hvalue);
		mf->hvalue = osip_strdup(num);
	} else {
		osip_message_set_header(m, "Max-Forwards", num);
	}
	if (t->to.kind == SRC_TLS)
		snprintf(via, sizeof(via), "SIP/2.0/TLS %s:%u;branch=%s",
		    f->tls_ip, f->tls_port, branch);
	else
		snprintf(via, sizeof(via), "SIP/2.0/%s %s:%u;branch=%s",
		    via_transport(&t->to), f->ip, f->port, branch);
	if (p2p_sip_push_via(m, via) != 0)
		goto fail;
	if (p2p_sip_is(m, "INVITE") || p2p_sip_is(m, "SUBSCRIBE")) {
		/* The entry is for this node's own user agent of the
		 * dialog (the other nodes go by p2pnode): over TLS when
		 * that one came over TLS. */
		const sip_src *ua = src_is_ua(&t->from) ? &t->from : &t->to;
		if (ua->kind == SRC_TLS && f->tls_port != 0)
			snprintf(rr, sizeof(rr), "<sip:%s:%u;transport=tls;lr;"
			    "p2pnode=%s>", f->tls_ip, f->tls_port, f->hex);
		else
			snprintf(rr, sizeof(rr), "<sip:%s:%u;lr;p2pnode=%s>",
			    f->ip, f->port, f->hex);
		if (p2p_sip_push_record_route(m, rr) != 0)
			goto fail;
	}
	if (p2p_sip_to_str(m, &s, &len) != 0)
		goto fail;
	osip_message_free(m);
	f->st.forwarded++;
	send_raw(f, &t->to, s, len);
	if (t->to.kind == SRC_UDP && !p2p_sip_is(t->orig, "ACK")) {
		free(t->fwd);
		t->fwd = malloc(len);
		if (t->fwd != NULL) {
			memcpy(t->fwd, s, len);
			t->fwdlen = len;
			t->rtx_ms = SIP_T1_MS;
			t->next_rtx_ms = now_ms(f) + SIP_T1_MS;
		}
	}
	osip_free(s);
	return;
fail:
	if (m != NULL)
		osip_message_free(m);
	if (t->parent != 0)
		branch_fail(f, t, 500);
	else
		reply(f, &t->from, t->orig, 500, NULL, t);
}

/* Log where t goes and tell the event subscribers about a call or a
 * message. */
static void
target_notify(sip_front *f, sip_txn *t, const sip_src *to, int nto)
{
	char a[64], b[64];

	node_log(f->n, NLOG_DEBUG, "sip: %s %s from %s to %s%s", t->method,
	    t->to_aor, src_name(&t->from, a, sizeof(a)),
	    src_name(to, b, sizeof(b)), nto > 1 ? " and other bindings" : "");
	if (strcmp(t->method, "INVITE") == 0)
		notify(f, "call", json_pack("{s:s,s:s,s:s,s:s}", "call_id",
		    t->call_id, "from", t->from_aor, "to", t->to_aor,
		    "direction", to->kind == SRC_APP ? "out" : "in"));
	else if (strcmp(t->method, "MESSAGE") == 0) {
		osip_body_t *body = NULL;
		json_t *o = json_pack("{s:s,s:s}", "from", t->from_aor, "to",
		    t->to_aor);
		if (o != NULL && osip_message_get_body(t->orig, 0, &body) >= 0 &&
		    body != NULL && body->body != NULL)
			json_object_set_new(o, "text", json_stringn(body->body,
			    body->length < 1024 ? body->length : 1024));
		notify(f, "message", o);
	}
}

static void
set_target(sip_front *f, sip_txn *t, const sip_src *to)
{
	t->to = *to;
	t->has_to = 1;
	target_notify(f, t, to, 1);
	forward(f, t, t->branch);
}

/* ---- forking ---------------------------------------------------------- */

/*
 * An INVITE or MESSAGE for an AOR with several local bindings (a desk
 * phone and a softphone registered under one AOR) rings all of them at
 * once (RFC 3261 s16.6, parallel search), at most SIP_MAX_FORKS, one per
 * user agent address; so does one for an AOR that several nodes
 * registered in the overlay (a user enrolled on two machines), one
 * branch per node. The request as it came stays the parent; each target
 * gets a branch transaction with its own Via branch. Answers are
 * collected as s16.7 says: provisional answers go upstream as they come;
 * a 2xx goes upstream at once (every 2xx of an INVITE does) and the
 * INVITE's other branches are cancelled; a 6xx cancels them too; other
 * final answers are kept, and when every branch has finished the best
 * one (6xx first, then the lowest class) goes upstream. The front ACKs a
 * non-2xx final answer of a branch itself: the caller's ACK answers only
 * what went upstream, and is absorbed here. A CANCEL from upstream
 * cancels every branch still ringing. A branch waits for its first
 * answer SIP_TXN_MS (Timer B), then, an INVITE, SIP_INVITE_MS (Timer C)
 * before it counts as 408. Among 4xx answers, those that tell how to
 * send the request again (401, 407, 415, 420, 484) are preferred
 * (s16.7 step 6); when a 401 or 407 goes up it carries the challenges
 * of every 401 and 407 its branches got, as they came (step 7: a user
 * called on two phones that each ask for credentials of their own
 * learns both, up to SIP_MAX_CHAL).
 */

/* Send answer m upstream, to p's sender (p is a parent when forking);
 * remember it for resends of the request; a final one finishes p. A 503
 * from downstream goes up as 500 (RFC 3261 s16.7 step 6): the caller
 * should not take this front for the one that is unavailable. */
static void
up_send(sip_front *f, sip_txn *p, osip_message_t *m)
{
	if (m->status_code == 503) {
		osip_message_set_status_code(m, 500);
		osip_free(m->reason_phrase);
		m->reason_phrase = osip_strdup(p2p_sip_reason(500));
	}
	/* An INVITE's final answer from downstream is not kept: a 2xx is
	 * the user agents' business, end to end. */
	to_sender(f, p, m, strcmp(p->method, "INVITE") != 0 ||
	    m->status_code < 200);
}

/* An ACK (to resp, a non-2xx final answer) or a CANCEL (resp NULL) of
 * branch b's INVITE, built from the request as RFC 3261 s17.1.1.3 and
 * s9.1 say: Request-URI, Call-ID, From, CSeq number and Route of the
 * request, To of the answer, the branch's own Via alone. */
static void
branch_request(sip_front *f, sip_txn *b, const char *method,
    osip_message_t *resp)
{
	osip_message_t *m = NULL;
	osip_to_t *to = NULL;
	sip_txn fake;

	if (b->orig == NULL || osip_message_clone(b->orig, &m) != 0)
		return;
	while (p2p_sip_pop_via(m) == 0)
		;
	osip_list_special_free(&m->record_routes,
	    (void (*)(void *))osip_record_route_free);
	osip_list_special_free(&m->bodies, (void (*)(void *))osip_body_free);
	osip_content_type_free(m->content_type);
	m->content_type = NULL;
	osip_content_length_free(m->content_length);
	m->content_length = NULL;
	osip_free(m->sip_method);
	m->sip_method = osip_strdup(method);
	osip_free(m->cseq->method);
	m->cseq->method = osip_strdup(method);
	if (resp != NULL && resp->to != NULL &&
	    osip_to_clone(resp->to, &to) == 0) {
		osip_to_free(m->to);
		m->to = to;
	}
	memset(&fake, 0, sizeof(fake));
	snprintf(fake.method, sizeof(fake.method), "%s", method);
	fake.orig = m;
	fake.to = b->to;
	fake.has_to = 1;
	forward(f, &fake, b->branch);
	free(fake.fwd);
	free(fake.last);
	osip_message_free(m);
}

static void
branch_cancel(sip_front *f, sip_txn *b)
{
	if (b->final || b->cancelled || strcmp(b->method, "INVITE") != 0)
		return;
	if (!b->got_resp) {
		/* s9.1: not before a provisional answer */
		b->cancel_due = 1;
		return;
	}
	b->cancel_due = 0;
	b->cancelled = 1;
	branch_request(f, b, "CANCEL", NULL);
}

static void
fork_cancel(sip_front *f, sip_txn *p, const sip_txn *except)
{
	for (sip_txn *b = f->txns; b != NULL; b = b->next)
		if (b->parent == p->id && b != except)
			branch_cancel(f, b);
}

/* 0 for 6xx, else the class: the lower, the better (s16.7 step 6). */
static int
answer_rank(int code)
{
	if (code >= 600)
		return 0;
	if (code / 100 == 4)
		return code == 401 || code == 407 || code == 415 ||
		    code == 420 || code == 484 ? 8 : 9;
	return code / 100 * 2;
}

/* Keep the challenges of a branch's 401 or 407 answer m in parent p. */
static void
chal_collect(sip_txn *p, osip_message_t *m)
{
	osip_list_t *lists[2] = { &m->www_authenticates,
	    &m->proxy_authenticates };

	for (int proxy = 0; proxy < 2; proxy++) {
		osip_list_iterator_t it;
		osip_www_authenticate_t *h;

		h = osip_list_get_first(lists[proxy], &it);
		for (; h != NULL; h = osip_list_get_next(&it)) {
			char *v = NULL;

			if (p->nchal == SIP_MAX_CHAL)
				return;
			if (osip_www_authenticate_to_str(h, &v) != 0 ||
			    v == NULL)
				continue;
			p->chal_proxy[p->nchal] = (uint8_t)proxy;
			p->chal[p->nchal++] = v;
		}
	}
}

/* The 401 or 407 m goes up with every challenge collected in p instead of
 * its own (which are among them). */
static void
chal_merge(sip_txn *p, osip_message_t *m)
{
	if (p->nchal == 0 || (m->status_code != 401 && m->status_code != 407))
		return;
	osip_list_special_free(&m->www_authenticates,
	    (void (*)(void *))osip_www_authenticate_free);
	osip_list_special_free(&m->proxy_authenticates,
	    (void (*)(void *))osip_proxy_authenticate_free);
	for (size_t i = 0; i < p->nchal; i++)
		(void)(p->chal_proxy[i] ?
		    osip_message_set_proxy_authenticate(m, p->chal[i]) :
		    osip_message_set_www_authenticate(m, p->chal[i]));
	m->message_property = 2;	/* to be written again */
}

/* Every branch of p has finished: the best answer goes upstream. */
static void
fork_settle(sip_front *f, sip_txn *p)
{
	if (p->final || p->nbranch_final < p->nbranch)
		return;
	if (p->best == NULL) {
		reply(f, &p->from, p->orig, 408, NULL, p);
		return;
	}
	if (strcmp(p->method, "INVITE") == 0)
		notify(f, "failed", json_pack("{s:s,s:i}", "call_id",
		    p->call_id, "status", p->best->status_code));
	chal_merge(p, p->best);
	up_send(f, p, p->best);
	osip_message_free(p->best);
	p->best = NULL;
}

/* Branch b (of parent p, NULL when gone) has finished, if not before. */
static void
branch_finish(sip_front *f, sip_txn *b, sip_txn *p)
{
	if (b->final)
		return;
	b->final = 1;
	b->expire_ms = now_ms(f) + SIP_KEEP_MS;
	free(b->fwd);
	b->fwd = NULL;
	if (p != NULL)
		p->nbranch_final++;
}

/* Branch b has a final answer m (a non-2xx one, its Via popped, or one
 * of our own): keep it when it is the best so far. Takes m. */
static void
branch_final(sip_front *f, sip_txn *b, osip_message_t *m)
{
	sip_txn *p = txn_by_id(f, b->parent);
	int code = m->status_code;

	branch_finish(f, b, p);
	if (p == NULL || p->final) {
		osip_message_free(m);
		return;
	}
	if (code == 401 || code == 407)
		chal_collect(p, m);
	if (p->best == NULL ||
	    answer_rank(code) < answer_rank(p->best->status_code)) {
		if (p->best != NULL)
			osip_message_free(p->best);
		p->best = m;
	} else {
		osip_message_free(m);
	}
	if (code >= 600)
		fork_cancel(f, p, b);
	fork_settle(f, p);
}

/* Branch b cannot go on (no answer in time, forwarding failed): it ends
 * with an answer of our own, code. */
static void
branch_fail(sip_front *f, sip_txn *b, int code)
{
	sip_txn *p = txn_by_id(f, b->parent);
	osip_message_t *r;
	char tag[17];

	if (b->final)
		return;
	if (b->got_resp && strcmp(b->method, "INVITE") == 0)
		branch_request(f, b, "CANCEL", NULL);	/* Timer C */
	rand_hex(tag, 8);
	r = p2p_sip_response(p != NULL ? p->orig : b->orig, code, NULL, tag);
	if (r == NULL) {
		/* out of memory: the branch still finishes */
		branch_finish(f, b, p);
		if (p != NULL)
			fork_settle(f, p);
		return;
	}
	branch_final(f, b, r);
}

/* An answer from downstream to branch b. Takes m. */
static void
branch_response(sip_front *f, sip_txn *b, const sip_src *src,
    osip_message_t *m)
{
	sip_txn *p = txn_by_id(f, b->parent);
	int code = m->status_code;
	int invite = strcmp(b->method, "INVITE") == 0;

	if (code == 100 || (b->final && code < 200)) {
		b->got_resp = 1;
		osip_message_free(m);
		return;
	}
	if (!b->got_resp && invite && code < 200)
		b->deadline_ms = now_ms(f) + SIP_INVITE_MS;	/* Timer C */
	b->got_resp = 1;
	if (invite && code >= 300) {
		/* ours to ACK, each time it comes (a lost ACK) */
		branch_request(f, b, "ACK", m);
		if (b->final) {
			osip_message_free(m);
			return;
		}
	}
	if (code >= 200 && code < 300 && invite &&
	    src_is_ua(src))
		ua_from_contact(f, m, src);
	(void)p2p_sip_pop_via(m);
	if (code < 200) {
		if (b->cancel_due)
			branch_cancel(f, b);
		else if (p != NULL && !p->final) {
			if (invite)
				notify(f, "ringing", json_pack("{s:s,s:i}",
				    "call_id", p->call_id, "status", code));
			up_send(f, p, m);
		}
		osip_message_free(m);
		return;
	}
	if (code >= 300) {
		branch_final(f, b, m);
		return;
	}
	/* 2xx */
	branch_finish(f, b, p);
	if (p != NULL && (invite || !p->final)) {
		if (!p->answered && invite)
			notify(f, "answered", json_pack("{s:s}", "call_id",
			    p->call_id));
		p->answered = 1;
		up_send(f, p, m);
		if (invite)
			fork_cancel(f, p, b);
	}
	osip_message_free(m);
}

static int
forkable(const sip_txn *t)
{
	return strcmp(t->method, "INVITE") == 0 ||
	    strcmp(t->method, "MESSAGE") == 0;
}

/* Add *s to the nt targets in to[] unless it is there or to[] is full. */
static void
target_add(sip_src *to, size_t *nt, const sip_src *s)
{
	for (size_t j = 0; j < *nt; j++)
		if (src_eq(&to[j], s))
			return;
	if (*nt < SIP_MAX_FORKS)
		to[(*nt)++] = *s;
}

/* Send t to the nt (2 or more) targets to[] at once, a branch each. */
static void
fork_to(sip_front *f, sip_txn *t, const sip_src *to, size_t nt)
{
	if (f->ntxns + nt > SIP_MAX_TXNS) {
		reply(f, &t->from, t->orig, 503, NULL, t);
		return;
	}
	f->st.forked++;
	t->has_to = 1;		/* its branches go downstream, not it */
	t->to.kind = SRC_NONE;
	target_notify(f, t, &to[0], (int)nt);
	for (size_t i = 0; i < nt; i++) {
		osip_message_t *c = NULL;
		sip_txn *b;

		if (osip_message_clone(t->orig, &c) != 0)
			continue;
		if ((b = txn_new(f, c, &t->from)) == NULL) {
			osip_message_free(c);
			continue;
		}
		b->in_branch[0] = '\0';
		b->parent = t->id;
		b->to = to[i];
		b->has_to = 1;
		t->nbranch++;
	}
	if (t->nbranch == 0) {
		reply(f, &t->from, t->orig, 500, NULL, t);
		return;
	}
	/* Forward only once all branches exist: an answer of our own to
	 * one (a failure) must not settle the parent early. */
	for (sip_txn *b = f->txns; b != NULL; b = b->next)
		if (b->parent == t->id && !b->final)
			forward(f, b, b->branch);
}

/* Fork t to every local binding of aor when there are several; 0 when
 * there is one (the caller sends it there). */
static int
fork_local(sip_front *f, sip_txn *t, const char *aor)
{
	sip_src to[SIP_MAX_FORKS];
	size_t nt = 0;

	if (!forkable(t))
		return 0;
	for (sip_bind *b = f->binds; b != NULL; b = b->next)
		if (strcmp(b->aor, aor) == 0)
			target_add(to, &nt, &b->src);
	if (nt < 2)
		return 0;
	fork_to(f, t, to, nt);
	return 1;
}

/* ---- lookups --------------------------------------------------------- */

static void
on_lookup(p2p_node *n, void *user, enum sipreg_status st,
    const sipreg_target *tg, size_t nt)
{
	sip_front *f = n->sip;
	sip_txn *t;
	sip_src to, nodes[SIP_MAX_FORKS];
	size_t nnodes = 0;
	const p2p_id *dest = NULL;

	if (f == NULL || (t = txn_by_id(f, (uint64_t)(uintptr_t)user)) ==
	    NULL || t->final || t->has_to)
		return;
	if (st == SIPREG_TIMEOUT) {
		reply(f, &t->from, t->orig, 408, "Overlay lookup timed out", t);
		return;
	}
	if (st != SIPREG_OK && st != SIPREG_NOT_FOUND) {
		reply(f, &t->from, t->orig, 480, "Overlay lookup failed", t);
		return;
	}
	for (size_t i = 0; i < nt; i++) {
		const p2p_id *d;

		if (tg[i].is_uri || tg[i].ndest == 0)
			continue;
		d = &tg[i].dest[tg[i].ndest - 1];
		if (dest == NULL)
			dest = d;
		if (p2p_id_eq(d, &n->ident.node))
			continue;	/* ours: its bindings are gone */
		memset(&to, 0, sizeof(to));
		to.kind = SRC_APP;
		to.node = *d;
		target_add(nodes, &nnodes, &to);
	}
	if (nnodes > 1 && forkable(t)) {
		/* One AOR registered by several nodes (a user enrolled on
		 * more than one machine): all of them at once. */
		fork_to(f, t, nodes, nnodes);
		return;
	}
	if (nnodes > 0) {
		set_target(f, t, &nodes[0]);
		return;
	}
	if (dest == NULL) {
		/* A uri registration names another AOR: follow it. */
		for (size_t i = 0; i < nt; i++) {
			char aor[128];
			if (!tg[i].is_uri || t->depth >= 3 ||
			    p2p_sip_aor_norm(tg[i].uri, aor, sizeof(aor)) < 0)
				continue;
			t->depth++;
			if (sipreg_lookup(n, aor, on_lookup,
			    (void *)(uintptr_t)t->id) == 0)
				return;
		}
		reply(f, &t->from, t->orig, 404, NULL, t);
		notify(f, "failed", json_pack("{s:s,s:i}", "call_id",
		    t->call_id, "status", 404));
		return;
	}
	/* Registered here alone, but no binding left. */
	reply(f, &t->from, t->orig, 480, NULL, t);
}

static void
reply_options(sip_front *f, sip_txn *t)
{
	osip_message_t *r;
	char tag[17];

	rand_hex(tag, 8);
	if ((r = p2p_sip_response(t->orig, 200, NULL, tag)) == NULL)
		return;
	osip_message_set_header(r, "Allow",
	    "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, REGISTER");
	answer_up(f, t, r);
	osip_message_free(r);
}

/* Remove the Routes that name this node (our Record-Route, or a
 * preloaded route to our front); the first other Route, or NULL. */
static osip_route_t *
pop_own_routes(sip_front *f, osip_message_t *m)
{
	osip_route_t *r;
	const char *p;
	char host[64];
	uint16_t port;

	while ((r = p2p_sip_top_route(m)) != NULL) {
		p = p2p_sip_uri_param(r->url, "p2pnode");
		if (p != NULL && strcasecmp(p, f->hex) == 0) {
			p2p_sip_pop_route(m);
			continue;
		}
		if (p == NULL && p2p_sip_uri_hostport(r->url, host,
		    sizeof(host), &port) == 0 &&
		    ((port == f->port && (strcmp(host, f->ip) == 0 ||
		    strcasecmp(host, "localhost") == 0)) ||
		    (f->tls_port != 0 && port == f->tls_port &&
		    (strcmp(host, f->tls_ip) == 0 || strcasecmp(host,
		    "localhost") == 0)))) {
			p2p_sip_pop_route(m);
			continue;
		}
		return r;
	}
	return NULL;
}

/* Decide where t goes: Route, GRUU, local binding, or the overlay. */
static void
proxy_route(sip_front *f, sip_txn *t)
{
	osip_message_t *m = t->orig;
	osip_route_t *r;
	const sip_src *local;
	sip_bind *b;
	char aor[128];
	const char *p;

	r = pop_own_routes(f, m);
	if (r != NULL) {
		p2p_id node;
		sip_src to;

		p = p2p_sip_uri_param(r->url, "p2pnode");
		if (p == NULL || !p2p_id_from_hex(&node, p)) {
			reply(f, &t->from, m, 403, "Route outside the overlay",
			    t);
			return;
		}
		memset(&to, 0, sizeof(to));
		to.kind = SRC_APP;
		to.node = node;
		set_target(f, t, &to);
		return;
	}
	if (m->req_uri->scheme == NULL || (strcasecmp(m->req_uri->scheme,
	    "sip") != 0 && strcasecmp(m->req_uri->scheme, "sips") != 0)) {
		reply(f, &t->from, m, 416, NULL, t);
		return;
	}
	/* A GRUU names the node itself (RFC 7904 s4.2). */
	if (p2p_sip_uri_param(m->req_uri, "gr") != NULL) {
		char *u = NULL;
		p2p_arena ar;
		uint8_t mem[2048];
		p2p_sip_gruu g;
		p2p_err e = { 0 };

		p2p_arena_init(&ar, mem, sizeof(mem));
		if (osip_uri_to_str(m->req_uri, &u) == 0 && u != NULL &&
		    p2p_sip_gruu_parse(u, strlen(u), &ar, &g, &e) == 0 &&
		    g.ndests > 0 && g.dests[g.ndests - 1].type == P2P_DEST_NODE) {
			const p2p_id *node = &g.dests[g.ndests - 1].node;
			osip_free(u);
			if (!p2p_id_eq(node, &f->n->ident.node)) {
				sip_src to;
				memset(&to, 0, sizeof(to));
				to.kind = SRC_APP;
				to.node = *node;
				set_target(f, t, &to);
				return;
			}
		} else {
			osip_free(u);
			reply(f, &t->from, m, 404, "Bad GRUU", t);
			return;
		}
	}
	if ((local = ua_find(f, m->req_uri)) != NULL) {
		set_target(f, t, local);
		return;
	}
	if (m->req_uri->username == NULL) {
		/* Addressed to the front itself (RFC 3261 s11). */
		if (p2p_sip_is(m, "OPTIONS")) {
			reply_options(f, t);
			return;
		}
		reply(f, &t->from, m, 404, "No user in the Request-URI", t);
		return;
	}
	if (uri_aor(m->req_uri, aor, sizeof(aor)) != 0) {
		reply(f, &t->from, m, 404, "Not an address of record", t);
		return;
	}
	if ((b = bind_best(f, aor)) != NULL) {
		if (!fork_local(f, t, aor))
			set_target(f, t, &b->src);
		return;
	}
	if (t->from.kind == SRC_APP) {
		/* The overlay sent it here, but nobody is registered any
		 * more. */
		reply(f, &t->from, m, 480, NULL, t);
		return;
	}
	if (sipreg_lookup(f->n, aor, on_lookup, (void *)(uintptr_t)t->id) !=
	    0)
		reply(f, &t->from, m, 404, NULL, t);
}

/* ---- registrar ------------------------------------------------------- */

static unsigned
contact_expires(osip_contact_t *c, long dflt)
{
	osip_generic_param_t *p = NULL;
	long v = dflt;

	if (osip_contact_param_get_byname(c, "expires", &p) == 0 &&
	    p != NULL && p->gvalue != NULL) {
		char *ep;
		v = strtol(p->gvalue, &ep, 10);
		if (*ep != '\0' || v < 0)
			v = dflt;
	}
	if (v == 0)
		return 0;
	if (v < SIP_MIN_EXPIRES)
		v = SIP_MIN_EXPIRES;
	if (v > SIP_MAX_EXPIRES)
		v = SIP_MAX_EXPIRES;
	return (unsigned)v;
}

static void
bind_remove(sip_front *f, sip_bind *b)
{
	for (sip_bind **pp = &f->binds; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	f->nbinds--;
	notify(f, "unregistered", json_pack("{s:s,s:s}", "aor", b->aor,
	    "contact", b->contact));
	free(b);
}

/* Set (expires > 0) or remove a binding. 0, or a SIP status code. */
static int
bind_set(sip_front *f, const char *aor, osip_uri_t *uri, unsigned expires,
    const sip_src *src)
{
	sip_bind *b;
	char *s = NULL;
	char host[64];
	uint16_t port;

	sip_src udp;

	if (osip_uri_to_str(uri, &s) != 0 || s == NULL)
		return 400;
	if (strlen(s) >= sizeof(b->contact) ||
	    p2p_sip_uri_hostport(uri, host, sizeof(host), &port) != 0) {
		osip_free(s);
		return 400;
	}
	if (src == NULL) {
		/* Registered from the control socket: the contact is sent
		 * to over UDP, so it must be an IP address. */
		memset(&udp, 0, sizeof(udp));
		udp.kind = SRC_UDP;
		if (uv_ip4_addr(host, port, (struct sockaddr_in *)&udp.sa) !=
		    0 && uv_ip6_addr(host, port,
		    (struct sockaddr_in6 *)&udp.sa) != 0) {
			osip_free(s);
			return 400;
		}
		src = &udp;
	}
	b = bind_find(f, aor, s);
	if (expires == 0) {
		if (b != NULL)
			bind_remove(f, b);
		osip_free(s);
		return 0;
	}
	if (b == NULL) {
		if (f->nbinds >= SIP_MAX_BINDINGS ||
		    (b = calloc(1, sizeof(*b))) == NULL) {
			osip_free(s);
			return 503;
		}
		snprintf(b->aor, sizeof(b->aor), "%s", aor);
		snprintf(b->contact, sizeof(b->contact), "%s", s);
		b->next = f->binds;
		f->binds = b;
		f->nbinds++;
		notify(f, "registered", json_pack("{s:s,s:s,s:i}", "aor", aor,
		    "contact", s, "expires", (int)expires));
	}
	osip_free(s);
	snprintf(b->host, sizeof(b->host), "%s", host);
	b->port = port;
	b->src = *src;
	b->expires_ms = now_ms(f) + (uint64_t)expires * 1000;
	return 0;
}

static void
register_ok(sip_front *f, sip_txn *t)
{
	osip_message_t *r;
	char tag[17], v[1024], gruu[400], aor[128];
	uint64_t now = now_ms(f);
	osip_header_t *sup = NULL;
	int want_gruu = 0;

	if (uri_aor(t->orig->to->url, aor, sizeof(aor)) != 0)
		aor[0] = '\0';
	for (int i = 0; osip_message_header_get_byname(t->orig, "supported",
	    i, &sup) >= 0 && sup != NULL; i++, sup = NULL)
		if (sup->hvalue != NULL && strcasestr(sup->hvalue, "gruu"))
			want_gruu = 1;
	rand_hex(tag, 8);
	if ((r = p2p_sip_response(t->orig, 200, NULL, tag)) == NULL)
		return;
	gruu[0] = '\0';
	if (want_gruu) {
		p2p_dest d;
		memset(&d, 0, sizeof(d));
		d.type = P2P_DEST_NODE;
		d.node = f->n->ident.node;
		if (p2p_sip_gruu_make(gruu, sizeof(gruu), aor, &d, 1) < 0)
			gruu[0] = '\0';
	}
	for (sip_bind *b = f->binds; b != NULL; b = b->next) {
		if (strcmp(b->aor, aor) != 0)
			continue;
		if (gruu[0] != '\0')
			snprintf(v, sizeof(v), "<%s>;expires=%" PRIu64
			    ";pub-gruu=\"sip:%s\"", b->contact,
			    (b->expires_ms - now + 999) / 1000, gruu);
		else
			snprintf(v, sizeof(v), "<%s>;expires=%" PRIu64,
			    b->contact, (b->expires_ms - now + 999) / 1000);
		osip_message_set_contact(r, v);
	}
	if (gruu[0] != '\0')
		osip_message_set_header(r, "Require", "gruu");
	answer_up(f, t, r);
	osip_message_free(r);
}

static void
on_published(p2p_node *n, void *user, enum sipreg_status st,
    const char *why)
{
	sip_front *f = n->sip;
	sip_txn *t;
	char aor[128];

	if (f == NULL || (t = txn_by_id(f, (uint64_t)(uintptr_t)user)) ==
	    NULL || t->final)
		return;
	if (st != SIPREG_OK) {
		node_log(n, NLOG_WARN, "sip: registration not stored in the "
		    "overlay: %s", why != NULL ? why : "failed");
		if (uri_aor(t->orig->to->url, aor, sizeof(aor)) == 0)
			for (sip_bind *b = f->binds, *nx; b != NULL; b = nx) {
				nx = b->next;
				if (strcmp(b->aor, aor) == 0)
					bind_remove(f, b);
			}
		/* The storing peer's refusal (its access policy, or the
		 * configuration's domain-restriction) will not change on a
		 * retry: 403. */
		if (st == SIPREG_FORBIDDEN)
			reply(f, &t->from, t->orig, 403,
			    "Registration refused by the overlay", t);
		else
			reply(f, &t->from, t->orig, st == SIPREG_TIMEOUT ?
			    504 : 500, "Registration not stored in the overlay",
			    t);
		return;
	}
	register_ok(f, t);
}

static void
registrar(sip_front *f, sip_txn *t)
{
	osip_message_t *m = t->orig;
	osip_header_t *eh = NULL;
	osip_contact_t *c = NULL;
	char aor[128];
	long dflt = SIP_DEFAULT_EXPIRES;
	int had, has, rc;

	if (!src_is_ua(&t->from) && t->from.kind != SRC_CTL) {
		reply(f, &t->from, m, 403, "Register at your own node", t);
		return;
	}
	if (uri_aor(m->to->url, aor, sizeof(aor)) != 0) {
		reply(f, &t->from, m, 400, "Bad To", t);
		return;
	}
	if (!sipreg_may_register(f->n, aor)) {
		node_log(f->n, NLOG_INFO, "sip: REGISTER for %s refused: not "
		    "this node's user", aor);
		reply(f, &t->from, m, 403, "Not this node's user", t);
		return;
	}
	if (osip_message_get_expires(m, 0, &eh) >= 0 && eh != NULL &&
	    eh->hvalue != NULL) {
		char *ep;
		dflt = strtol(eh->hvalue, &ep, 10);
		if (*ep != '\0' || dflt < 0)
			dflt = SIP_DEFAULT_EXPIRES;
	}
	had = bind_find(f, aor, NULL) != NULL;
	for (int i = 0; osip_message_get_contact(m, i, &c) >= 0 && c != NULL;
	    i++, c = NULL) {
		if (c->displayname != NULL && strcmp(c->displayname, "*") ==
		    0) {
			if (dflt != 0) {
				reply(f, &t->from, m, 400, "* needs Expires: 0",
				    t);
				return;
			}
			for (sip_bind *b = f->binds, *nx; b != NULL; b = nx) {
				nx = b->next;
				if (strcmp(b->aor, aor) == 0)
					bind_remove(f, b);
			}
			continue;
		}
		if (c->url == NULL) {
			reply(f, &t->from, m, 400, "Bad Contact", t);
			return;
		}
		rc = bind_set(f, aor, c->url, contact_expires(c, dflt),
		    t->from.kind == SRC_CTL ? NULL : &t->from);
		if (rc != 0) {
			reply(f, &t->from, m, rc, NULL, t);
			return;
		}
	}
	has = bind_find(f, aor, NULL) != NULL;
	if (!had && has) {
		if (sipreg_publish(f->n, aor, on_published,
		    (void *)(uintptr_t)t->id) != 0)
			reply(f, &t->from, m, 500, "Cannot publish", t);
		return;		/* 200 once stored */
	}
	if (had && !has)
		(void)sipreg_withdraw(f->n, aor, NULL, NULL);
	register_ok(f, t);
}

/* ---- dispatch -------------------------------------------------------- */

static void
on_response(sip_front *f, const sip_src *src, osip_message_t *m)
{
	sip_txn *t = txn_by_branch(f, p2p_sip_top_branch(m));
	int code = m->status_code;
	char a[64];

	if (t == NULL || strcmp(m->cseq->method, t->method) != 0 ||
	    !t->has_to) {
		/* Stray, or the answer to a CANCEL we passed on. */
		node_log(f->n, NLOG_DEBUG, "sip: %d to %s from %s: no "
		    "transaction of ours", code, m->cseq->method,
		    src_name(src, a, sizeof(a)));
		osip_message_free(m);
		return;
	}
	node_log(f->n, NLOG_DEBUG, "sip: %d to %s %s from %s", code,
	    t->method, t->to_aor, src_name(src, a, sizeof(a)));
	if (t->parent != 0) {
		branch_response(f, t, src, m);
		return;
	}
	t->got_resp = 1;
	if (code == 100) {
		osip_message_free(m);
		return;
	}
	if (src_is_ua(src)) {
		if (code >= 200 && code < 300 && strcmp(t->method, "INVITE") ==
		    0)
			ua_from_contact(f, m, src);
	}
	(void)p2p_sip_pop_via(m);
	if (strcmp(t->method, "INVITE") == 0) {
		if (code < 200)
			notify(f, "ringing", json_pack("{s:s,s:i}", "call_id",
			    t->call_id, "status", code));
		else if (!t->final && code < 300)
			notify(f, "answered", json_pack("{s:s}", "call_id",
			    t->call_id));
		else if (!t->final)
			notify(f, "failed", json_pack("{s:s,s:i}", "call_id",
			    t->call_id, "status", code));
	} else if (strcmp(t->method, "BYE") == 0 && code < 300 && !t->final) {
		notify(f, "ended", json_pack("{s:s}", "call_id", t->call_id));
	}
	if (code >= 200) {
		free(t->fwd);	/* stop resending */
		t->fwd = NULL;
	}
	up_send(f, t, m);
	osip_message_free(m);
}

/* ACK and CANCEL of an INVITE this front passed on, and ACK of 2xx. */
static void
on_ack_cancel(sip_front *f, const sip_src *src, osip_message_t *m)
{
	sip_txn *inv = txn_by_in(f, p2p_sip_top_branch(m), "INVITE", src);
	sip_txn tmp;
	osip_route_t *r;
	const sip_src *local;

	if (p2p_sip_is(m, "CANCEL")) {
		reply(f, src, m, inv != NULL ? 200 : 481, NULL, NULL);
		if (inv == NULL || inv->final) {
			osip_message_free(m);
			return;
		}
		inv->cancelled = 1;
		if (!inv->has_to) {
			reply(f, &inv->from, inv->orig, 487, NULL, inv);
			osip_message_free(m);
			return;
		}
		if (inv->nbranch > 0) {
			fork_cancel(f, inv, NULL);
			osip_message_free(m);
			return;
		}
	} else if (inv != NULL && inv->nbranch > 0 && !inv->answered) {
		/* The ACK of the forked INVITE's non-2xx answer: its
		 * branches were ACKed here. */
		osip_message_free(m);
		return;
	} else if (inv == NULL || inv->nbranch > 0) {
		/* ACK of a 2xx: its own transaction, routed like any
		 * request, never answered. (Some user agents reuse the
		 * INVITE's branch for it; after a fork it is still this.) */
		memset(&tmp, 0, sizeof(tmp));
		tmp.id = 0;
		snprintf(tmp.method, sizeof(tmp.method), "ACK");
		tmp.from = *src;
		tmp.orig = m;
		snprintf(tmp.branch, sizeof(tmp.branch), "z9hG4bK-p2p-");
		rand_hex(tmp.branch + strlen(tmp.branch), 12);
		r = pop_own_routes(f, m);
		if (r != NULL) {
			p2p_id node;
			const char *p = p2p_sip_uri_param(r->url, "p2pnode");
			if (p != NULL && p2p_id_from_hex(&node, p)) {
				tmp.to.kind = SRC_APP;
				tmp.to.node = node;
				tmp.has_to = 1;
			}
		} else if ((local = ua_find(f, m->req_uri)) != NULL) {
			tmp.to = *local;
			tmp.has_to = 1;
		}
		if (tmp.has_to)
			forward(f, &tmp, tmp.branch);
		free(tmp.fwd);
		free(tmp.last);
		osip_message_free(m);
		return;
	}
	if (inv->has_to) {
		sip_txn fake = *inv;
		fake.orig = m;
		fake.fwd = NULL;
		fake.last = NULL;
		forward(f, &fake, inv->branch);
		free(fake.fwd);
		free(fake.last);
	}
	osip_message_free(m);
}

/*
 * Digest authentication (--sip-password-file): a REGISTER from a user
 * agent needs an Authorization for the node's user (401 otherwise), and
 * so does, as a Proxy-Authorization (407), a request it starts outside a
 * dialog (INVITE, MESSAGE, ...; not OPTIONS, which the front answers
 * itself, nor ACK and CANCEL, which cannot be challenged). Requests from
 * other nodes (AppAttach, certificates checked) and from the control
 * socket are not challenged.
 */
static int
needs_proxy_auth(const sip_txn *t)
{
	osip_generic_param_t *tag = NULL;
	osip_message_t *m = t->orig;

	if (!src_is_ua(&t->from))
		return 0;
	if (p2p_sip_is(m, "OPTIONS"))
		return 0;
	return !(osip_to_get_tag(m->to, &tag) == 0 && tag != NULL &&
	    tag->gvalue != NULL);
}

static int
authorized(sip_front *f, sip_txn *t, int proxy)
{
	enum p2p_sipauth_result r;
	osip_message_t *resp;
	uint64_t now_s = (uint64_t)time(NULL);
	char tag[17], who[96];

	if (f->auth == NULL || !src_is_ua(&t->from))
		return 1;
	r = p2p_sipauth_check(f->auth, t->orig, proxy, now_s);
	if (r == P2P_SIPAUTH_OK)
		return 1;
	f->st.challenged++;
	node_log(f->n, r == P2P_SIPAUTH_BAD ? NLOG_WARN : NLOG_DEBUG,
	    "sip: %s from %s: %s", t->orig->sip_method,
	    src_name(&t->from, who, sizeof(who)),
	    r == P2P_SIPAUTH_BAD ? "wrong credentials, challenged again" :
	    r == P2P_SIPAUTH_STALE ? "stale nonce, challenged" :
	    "no credentials, challenged");
	rand_hex(tag, 8);
	resp = p2p_sip_response(t->orig, proxy ? 407 : 401, NULL, tag);
	if (resp == NULL)
		return 0;
	if (p2p_sipauth_challenge(f->auth, resp, proxy,
	    r == P2P_SIPAUTH_STALE, now_s) != 0) {
		osip_message_free(resp);
		reply(f, &t->from, t->orig, 500, "Cannot challenge", t);
		return 0;
	}
	answer_up(f, t, resp);
	osip_message_free(resp);
	return 0;
}

static void
on_request(sip_front *f, const sip_src *src, osip_message_t *m)
{
	sip_txn *t;
	const char *br = p2p_sip_top_branch(m);

	if (p2p_sip_is(m, "ACK") || p2p_sip_is(m, "CANCEL")) {
		on_ack_cancel(f, src, m);
		return;
	}
	if ((t = txn_by_in(f, br, m->sip_method, src)) != NULL) {
		/* A retransmission: say again what we said. */
		if (t->last != NULL)
			send_raw(f, src, t->last, t->lastlen);
		osip_message_free(m);
		return;
	}
	if ((t = txn_new(f, m, src)) == NULL) {
		reply(f, src, m, 503, NULL, NULL);
		osip_message_free(m);
		return;
	}
	if (p2p_sip_is(m, "REGISTER")) {
		if (authorized(f, t, 0))
			registrar(f, t);
		return;
	}
	if (needs_proxy_auth(t) && !authorized(f, t, 1))
		return;
	if (p2p_sip_is(m, "INVITE")) {
		t->deadline_ms = now_ms(f) + SIP_INVITE_MS;
		reply(f, src, m, 100, NULL, t);
		if (src_is_ua(src))
			ua_from_contact(f, m, src);
	}
	proxy_route(f, t);
}

static void
on_msg(sip_front *f, const sip_src *src, const char *buf, size_t len)
{
	osip_message_t *m;
	char err[96], who[96];

	f->st.rx++;
	m = p2p_sip_parse(buf, len, err, sizeof(err));
	if (m == NULL) {
		f->st.bad++;
		node_log(f->n, NLOG_DEBUG, "sip: %s: dropped: %s",
		    src_name(src, who, sizeof(who)), err);
		return;
	}
	if (f->stopping) {
		if (MSG_IS_REQUEST(m))
			reply(f, src, m, 503, NULL, NULL);
		osip_message_free(m);
		return;
	}
	if (MSG_IS_REQUEST(m))
		on_request(f, src, m);
	else
		on_response(f, src, m);
}

/* ---- time ------------------------------------------------------------ */

static void
txn_timeout(sip_front *f, sip_txn *t)
{
	int code = 408;

	if (!t->has_to && t->to.kind == SRC_NONE)
		code = 408;
	reply(f, &t->from, t->orig, code, t->has_to && t->to.kind ==
	    SRC_APP && !t->got_resp ? "No answer from the callee's node" :
	    NULL, t);
	if (strcmp(t->method, "INVITE") == 0)
		notify(f, "failed", json_pack("{s:s,s:i}", "call_id",
		    t->call_id, "status", code));
}

static void
on_timer(uv_timer_t *h)
{
	sip_front *f = h->data;
	uint64_t now = now_ms(f);
	sip_txn *t, *nx;

	for (t = f->txns; t != NULL; t = nx) {
		nx = t->next;
		if (t->final) {
			/* Only UDP senders retransmit: answers to others
			 * need not be kept (Timer J/K of RFC 3261). Nor
			 * those to a REGISTER: the registrar's work is
			 * idempotent (the same REGISTER sets the same
			 * bindings and gets the same answer), so a
			 * retransmission is simply served again, as a
			 * stateless UAS would (s8.2.7). */
			if (now >= t->expire_ms || (t->from.kind != SRC_UDP &&
			    strcmp(t->method, "INVITE") != 0) ||
			    strcmp(t->method, "REGISTER") == 0)
				txn_free(f, t);
			continue;
		}
		if (t->nbranch > 0)
			continue;	/* its branches keep the time */
		if (now >= t->deadline_ms) {
			if (t->parent != 0)
				branch_fail(f, t, 408);
			else
				txn_timeout(f, t);
			continue;
		}
		if (t->fwd != NULL && now >= t->next_rtx_ms &&
		    !(strcmp(t->method, "INVITE") == 0 && t->got_resp)) {
			send_raw(f, &t->to, t->fwd, t->fwdlen);
			t->rtx_ms *= 2;
			if (strcmp(t->method, "INVITE") != 0 &&
			    t->rtx_ms > SIP_T2_MS)
				t->rtx_ms = SIP_T2_MS;
			t->next_rtx_ms = now + t->rtx_ms;
		}
	}
	if (f->txns == NULL) {
		uv_timer_stop(&f->timer);
		f->timer_on = 0;
	}
}

void
sip_tick(p2p_node *n, uint64_t now)
{
	sip_front *f = n->sip;

	if (f == NULL)
		return;
	for (sip_bind *b = f->binds, *nx; b != NULL; b = nx) {
		nx = b->next;
		if (now >= b->expires_ms) {
			char aor[128];
			snprintf(aor, sizeof(aor), "%s", b->aor);
			bind_remove(f, b);
			if (bind_find(f, aor, NULL) == NULL)
				(void)sipreg_withdraw(n, aor, NULL, NULL);
		}
	}
	for (sip_ua **pp = &f->uas; *pp != NULL;) {
		sip_ua *u = *pp;
		if (now >= u->expires_ms) {
			*pp = u->next;
			f->nuas--;
			free(u);
		} else {
			pp = &u->next;
		}
	}
	for (sip_app *a = f->apps, *nx; a != NULL; a = nx) {
		nx = a->next;
		if (a->open && app_has_transport(a) &&
		    node_since(now, a->last_ms) > SIP_APP_IDLE_MS) {
			app_close(a, "idle");
		} else if (!a->open && !app_has_transport(a) &&
		    now >= a->until_ms) {
			app_gone(a, "AppAttach timed out");
		} else if (!a->open && app_has_transport(a) && now >=
		    a->until_ms + SIP_ATTACH_MS) {
			app_close(a, "not up in time");
		}
	}
	for (sip_sub **pp = &f->subs; *pp != NULL;) {
		sip_sub *s = *pp;
		if (p2p_ctl_req_gone(s->req)) {
			*pp = s->next;
			(void)p2p_ctl_reply(s->req, NULL);
			free(s);
		} else {
			pp = &s->next;
		}
	}
}

/* ---- control methods ------------------------------------------------- */

static void
ctl_answer(sip_front *f, uint64_t id, osip_message_t *m)
{
	sip_ctlw *w = NULL;
	int code = m->status_code;
	const char *reason = m->reason_phrase ? m->reason_phrase : "";
	char text[160];
	int ecode;

	for (sip_ctlw **pp = &f->ctlws; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			w = *pp;
			*pp = w->next;
			break;
		}
	if (w == NULL)
		return;
	if (code >= 200 && code < 300) {
		(void)p2p_ctl_reply(w->req, json_pack("{s:i,s:s}", "status",
		    code, "reason", reason));
	} else {
		snprintf(text, sizeof(text), "%d %s", code, reason);
		ecode = code == 404 ? P2P_CTL_ERR_NOT_FOUND :
		    code == 408 || code == 504 ? P2P_CTL_ERR_TIMEOUT :
		    code == 480 ? P2P_CTL_ERR_UNREACHABLE : P2P_CTL_ERR_FAILED;
		(void)p2p_ctl_error(w->req, ecode, text, json_pack("{s:i,s:s}",
		    "status", code, "reason", reason));
	}
	free(w);
}

static void
ctl_drop(sip_front *f, uint64_t id, const char *why)
{
	for (sip_ctlw **pp = &f->ctlws; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			sip_ctlw *w = *pp;
			*pp = w->next;
			(void)p2p_ctl_error(w->req, P2P_CTL_ERR_FAILED, why,
			    NULL);
			free(w);
			return;
		}
}

/* Feed a request made here to the proxy as if a user agent sent it; the
 * final answer completes req. */
static void
ctl_inject(sip_front *f, p2p_ctl_req *req, const char *text)
{
	sip_ctlw *w = calloc(1, sizeof(*w));
	sip_src src;

	if (w == NULL) {
		(void)p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR,
		    "out of memory", NULL);
		return;
	}
	w->id = ++f->next_id;
	w->req = req;
	w->next = f->ctlws;
	f->ctlws = w;
	memset(&src, 0, sizeof(src));
	src.kind = SRC_CTL;
	src.ctl = w->id;
	on_msg(f, &src, text, strlen(text));
	/* Neither answered nor in a transaction: it did not parse. */
	for (sip_ctlw *x = f->ctlws; x != NULL; x = x->next) {
		if (x->id != src.ctl)
			continue;
		for (sip_txn *t = f->txns; t != NULL; t = t->next)
			if (src_eq(&t->from, &src))
				return;
		ctl_drop(f, x->id, "the request could not be built");
		return;
	}
}

static int
ctl_front(p2p_ctl_req *req, sip_front *f)
{
	if (f == NULL) {
		(void)p2p_ctl_error(req, P2P_CTL_ERR_NOT_FOUND, "this node has "
		    "no SIP front: start p2p-node with --sip [ADDR:]PORT",
		    NULL);
		return -1;
	}
	return 0;
}

static const char *
param_str(json_t *params, const char *key)
{
	json_t *v = json_is_object(params) ? json_object_get(params, key) :
	    NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
safe_text(const char *s, int allow_space)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || *s == '<' || *s == '>' ||
		    *s == '"' || (!allow_space && *s == ' '))
			return 0;
	return 1;
}

static void
m_status(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	sip_front *f = n->sip;
	json_t *o, *bs, *aors;
	char addr[80], hex[P2P_ID_HEXLEN + 1];
	uint64_t now = node_now(n);

	(void)params;
	if (ctl_front(req, f) != 0)
		return;
	snprintf(addr, sizeof(addr), strchr(f->ip, ':') ? "[%s]:%u" :
	    "%s:%u", f->ip, f->port);
	bs = json_array();
	for (sip_bind *b = f->binds; b != NULL; b = b->next)
		json_array_append_new(bs, json_pack("{s:s,s:s,s:I}", "aor",
		    b->aor, "contact", b->contact, "expires",
		    (json_int_t)((b->expires_ms - now + 999) / 1000)));
	aors = json_array();
	if (n->ident.info.user[0] != '\0')
		json_array_append_new(aors, json_string(n->ident.info.user));
	o = json_pack("{s:s,s:s,s:o,s:s,s:o,s:b,"
	    "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i}}",
	    "udp", addr, "tcp", addr, "aors", aors, "node_id",
	    p2p_id_hex(&n->ident.node, hex), "bindings", bs,
	    "authentication", f->auth != NULL, "stats",
	    "received", (json_int_t)f->st.rx, "sent", (json_int_t)f->st.tx,
	    "forwarded", (json_int_t)f->st.forwarded,
	    "forked", (json_int_t)f->st.forked,
	    "malformed", (json_int_t)f->st.bad,
	    "dropped", (json_int_t)f->st.dropped,
	    "challenged", (json_int_t)f->st.challenged,
	    "transactions", (int)f->ntxns);
	if (o != NULL && f->tls_port != 0) {
		snprintf(addr, sizeof(addr), strchr(f->tls_ip, ':') ?
		    "[%s]:%u" : "%s:%u", f->tls_ip, f->tls_port);
		json_object_set_new(o, "tls", json_string(addr));
	}
	if (o != NULL)
		json_object_set_new(o, "media_ice", ice_servers_json(n));
	(void)p2p_ctl_reply(req, o);
}

static void
make_request(sip_front *f, char *buf, size_t cap, const char *method,
    const char *ruri, const char *from, const char *to, const char *extra,
    const char *body)
{
	char branch[25], tag[17], cid[25];

	rand_hex(branch, 12);
	rand_hex(tag, 8);
	rand_hex(cid, 12);
	snprintf(buf, cap,
	    "%s %s SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP %s:%u;branch=z9hG4bK-ctl-%s\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:%s>;tag=%s\r\n"
	    "To: <sip:%s>\r\n"
	    "Call-ID: %s@%s\r\n"
	    "CSeq: 1 %s\r\n"
	    "%s"
	    "Content-Length: %zu\r\n\r\n%s",
	    method, ruri, f->ip, f->port, branch, from, tag, to, cid, f->ip,
	    method, extra, strlen(body), body);
}

static void
m_register(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	sip_front *f = n->sip;
	const char *aor = param_str(params, "aor");
	const char *contact = param_str(params, "contact");
	json_t *ev = json_object_get(params, "expires");
	json_int_t expires = json_is_integer(ev) ? json_integer_value(ev) :
	    SIP_DEFAULT_EXPIRES;
	char norm[128], ruri[200], extra[400], buf[1200];
	const char *at;

	if (ctl_front(req, f) != 0)
		return;
	if (aor == NULL)
		aor = n->ident.info.user;
	if (contact == NULL || p2p_sip_aor_norm(aor, norm, sizeof(norm)) < 0 ||
	    !safe_text(contact, 0) || strlen(contact) > 250 || expires < 0 ||
	    expires > SIP_MAX_EXPIRES) {
		(void)p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, "expected "
		    "{\"aor\": \"user@domain\", \"contact\": \"sip:...\", "
		    "\"expires\": seconds}", NULL);
		return;
	}
	at = strchr(norm, '@');
	snprintf(ruri, sizeof(ruri), "sip:%s", at + 1);
	snprintf(extra, sizeof(extra), "Contact: <%s%s>;expires=%d\r\n",
	    strncasecmp(contact, "sip:", 4) == 0 ? "" : "sip:", contact,
	    (int)expires);
	make_request(f, buf, sizeof(buf), "REGISTER", ruri, norm, norm, extra,
	    "");
	ctl_inject(f, req, buf);
}

static void
m_message(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	sip_front *f = n->sip;
	const char *to = param_str(params, "to");
	const char *text = param_str(params, "text");
	char norm[128], ruri[200], *buf;
	size_t cap;

	if (ctl_front(req, f) != 0)
		return;
	if (to == NULL || text == NULL || p2p_sip_aor_norm(to, norm,
	    sizeof(norm)) < 0 || strlen(text) > 8000) {
		(void)p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, "expected "
		    "{\"to\": \"user@domain\", \"text\": \"...\"} (text up to "
		    "8000 bytes)", NULL);
		return;
	}
	if (n->ident.info.user[0] == '\0') {
		(void)p2p_ctl_error(req, P2P_CTL_ERR_FAILED, "this node's "
		    "certificate names no user", NULL);
		return;
	}
	snprintf(ruri, sizeof(ruri), "sip:%s", norm);
	cap = strlen(text) + 1200;
	if ((buf = malloc(cap)) == NULL) {
		(void)p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR,
		    "out of memory", NULL);
		return;
	}
	make_request(f, buf, cap, "MESSAGE", ruri, n->ident.info.user, norm,
	    "Content-Type: text/plain\r\n", text);
	ctl_inject(f, req, buf);
	free(buf);
}

static void
m_events(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	sip_front *f = n->sip;
	sip_sub *s;

	(void)params;
	if (ctl_front(req, f) != 0)
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		(void)p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR,
		    "out of memory", NULL);
		return;
	}
	s->req = req;
	s->next = f->subs;
	f->subs = s;
}

void
sip_ctl_register(p2p_node *n)
{
	p2p_ctl_register(n->ctl, "sip.status", m_status, n);
	p2p_ctl_register(n->ctl, "sip.register", m_register, n);
	p2p_ctl_register(n->ctl, "sip.message", m_message, n);
	p2p_ctl_register(n->ctl, "sip.events", m_events, n);
}

/* ---- start and stop -------------------------------------------------- */

static void
on_handle_closed(uv_handle_t *h)
{
	sip_front *f = h->data;

	f->handles--;
}

static int
parse_addr(const char *spec, char *ip, size_t iplen, int *port)
{
	const char *colon = strrchr(spec, ':');
	char *ep;
	long p;

	if (colon == NULL || (spec[0] != '[' && strchr(spec, ':') != colon)) {
		snprintf(ip, iplen, "127.0.0.1");
		colon = spec - 1;
	} else {
		size_t len = (size_t)(colon - spec);
		if (spec[0] == '[' && len >= 2 && spec[len - 1] == ']') {
			spec++;
			len -= 2;
		}
		if (len == 0 || len >= iplen)
			return -1;
		memcpy(ip, spec, len);
		ip[len] = '\0';
	}
	p = strtol(colon + 1, &ep, 10);
	if (colon[1] == '\0' || *ep != '\0' || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* One port for UDP and TCP. With port 0 the kernel picks the TCP port;
 * when that port is taken for UDP, try another. 0 or a libuv error. */
static int
bind_pair(sip_front *f, struct sockaddr_storage *sa, int port)
{
	socklen_t alen = sa->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, err = UV_EADDRINUSE;

	for (int tries = 0; tries < 32; tries++) {
		int tfd, ufd;
		struct sockaddr_storage got = *sa;
		socklen_t glen = alen;

		tfd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ufd = socket(sa->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (tfd < 0 || ufd < 0) {
			err = uv_translate_sys_error(errno);
			if (tfd >= 0)
				close(tfd);
			if (ufd >= 0)
				close(ufd);
			return err;
		}
		(void)setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(tfd, (struct sockaddr *)sa, alen) == 0 &&
		    getsockname(tfd, (struct sockaddr *)&got, &glen) == 0 &&
		    bind(ufd, (struct sockaddr *)&got, glen) == 0 &&
		    uv_tcp_open(&f->tcp, tfd) == 0 &&
		    uv_udp_open(&f->udp, ufd) == 0) {
			f->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
			return 0;
		}
		err = uv_translate_sys_error(errno);
		close(tfd);
		close(ufd);
		if (port != 0)
			break;
	}
	return err;
}

/* --sip-password-file: the password of the node's user, the overlay's
 * name as realm. */
static int
auth_start(sip_front *f, char *err, size_t errlen)
{
	p2p_node *n = f->n;
	char pass[P2P_SIPAUTH_MAX_PASS + 1], why[256];
	int rc;

	if (p2p_sipauth_read_password(n->opts.sip_password_file, pass,
	    sizeof(pass), why, sizeof(why)) != 0) {
		snprintf(err, errlen, "--sip-password-file %s", why);
		return -1;
	}
	if ((f->auth = malloc(sizeof(*f->auth))) == NULL) {
		OPENSSL_cleanse(pass, sizeof(pass));
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = p2p_sipauth_init(f->auth, n->cfg.instance_name,
	    n->ident.info.user, pass);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (rc != 0) {
		snprintf(err, errlen, "--sip-password-file: the node's "
		    "certificate has no user name to authenticate");
		return -1;
	}
	return 0;
}

/* --sip-tls [ADDR:]PORT, with the node's certificate or --sip-tls-cert
 * and --sip-tls-key. */
static int
tls_start(sip_front *f, char *err, size_t errlen)
{
	p2p_node *n = f->n;
	p2p_tls_ctx_opts o;
	int port, r;

	if (parse_addr(n->opts.sip_tls, f->tls_ip, sizeof(f->tls_ip),
	    &port) != 0) {
		snprintf(err, errlen, "--sip-tls %s: expected [ADDR:]PORT",
		    n->opts.sip_tls);
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.role = P2P_TLS_SERVER;
	o.peer = P2P_TLS_PEER_NONE;
	if (n->opts.sip_tls_cert != NULL) {
		o.cert_file = n->opts.sip_tls_cert;
		o.key_file = n->opts.sip_tls_key;
	} else {
		o.cert = n->ident.cert;
		o.key = n->ident.key;
	}
	o.limits.max_conns = SIP_MAX_TCP;
	if ((f->tls_ctx = p2p_tls_ctx_new(&o, err, errlen)) == NULL)
		return -1;
	r = p2p_tls_listen(n->loop, f->tls_ctx, f->tls_ip, port,
	    on_tls_accept, f, &f->tls_listener);
	if (r != 0) {
		snprintf(err, errlen, "--sip-tls: cannot listen on %s:%d: %s",
		    f->tls_ip, port, uv_strerror(r));
		return -1;
	}
	f->tls_port = (uint16_t)p2p_tls_listener_port(f->tls_listener);
	return 0;
}

int
sip_start(p2p_node *n, char *err, size_t errlen)
{
	sip_front *f;
	struct sockaddr_storage sa;
	int port, r;
	char ip[48];

	if (n->opts.sip == NULL)
		return 0;
	if (parse_addr(n->opts.sip, ip, sizeof(ip), &port) != 0) {
		snprintf(err, errlen, "--sip %s: expected [ADDR:]PORT",
		    n->opts.sip);
		return -1;
	}
	if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&sa) != 0) {
		snprintf(err, errlen, "--sip %s: not an IP address", ip);
		return -1;
	}
	p2p_sip_init();
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->n = n;
	n->sip = f;
	snprintf(f->ip, sizeof(f->ip), "%s", ip);
	p2p_id_hex(&n->ident.node, f->hex);
	uv_udp_init(n->loop, &f->udp);
	uv_tcp_init(n->loop, &f->tcp);
	uv_timer_init(n->loop, &f->timer);
	f->udp.data = f->tcp.data = f->timer.data = f;
	f->handles = 3;
	r = bind_pair(f, &sa, port);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&f->tcp, 64, on_tcp_conn);
	if (r != 0) {
		snprintf(err, errlen, "--sip: cannot listen on %s:%d: %s", ip,
		    port, uv_strerror(r));
		return -1;
	}
	r = uv_udp_recv_start(&f->udp, on_alloc, on_udp);
	f->app_srv = link_ctx_new(n, P2P_TLS_SERVER, app_verify, f, err,
	    errlen);
	f->app_cli = link_ctx_new(n, P2P_TLS_CLIENT, app_verify, f, err,
	    errlen);
	if (r != 0 || f->app_srv == NULL || f->app_cli == NULL)
		return -1;
	r = p2p_tls_listen(n->loop, f->app_cli, n->listen_ip, 0, on_app_accept,
	    f, &f->app_listener);
	if (r != 0) {
		snprintf(err, errlen, "cannot listen for SIP connections on "
		    "%s: %s", n->listen_ip, uv_strerror(r));
		return -1;
	}
	f->app_port = (uint16_t)p2p_tls_listener_port(f->app_listener);
	if (n->opts.sip_password_file != NULL && auth_start(f, err,
	    errlen) != 0)
		return -1;
	if (n->opts.sip_tls != NULL && tls_start(f, err, errlen) != 0)
		return -1;
	if (f->tls_port != 0)
		node_log(n, NLOG_INFO, "sip: front on %s:%u (udp, tcp) and "
		    "%s:%u (tls), SIP connections on %s:%u%s", f->ip, f->port,
		    f->tls_ip, f->tls_port, n->listen_ip, f->app_port,
		    f->auth != NULL ? ", Digest authentication" : "");
	else
		node_log(n, NLOG_INFO, "sip: front on %s:%u (udp, tcp), SIP "
		    "connections on %s:%u%s", f->ip, f->port, n->listen_ip,
		    f->app_port, f->auth != NULL ?
		    ", Digest authentication" : "");
	return 0;
}

void
sip_stop(p2p_node *n)
{
	sip_front *f = n->sip;

	if (f == NULL || f->stopping)
		return;
	/* Withdraw what we published, while the overlay links are up. */
	for (sip_bind *b = f->binds; b != NULL; b = b->next) {
		int first = 1;
		for (sip_bind *c = f->binds; c != b; c = c->next)
			if (strcmp(c->aor, b->aor) == 0)
				first = 0;
		if (first)
			(void)sipreg_withdraw(n, b->aor, NULL, NULL);
	}
	f->stopping = 1;
	uv_timer_stop(&f->timer);
	uv_close((uv_handle_t *)&f->udp, on_handle_closed);
	uv_close((uv_handle_t *)&f->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&f->timer, on_handle_closed);
	for (sip_tcp *c = f->tcps; c != NULL; c = c->next)
		tcp_close(c);
	if (f->tls_listener != NULL)
		p2p_tls_listener_close(f->tls_listener);
	f->tls_listener = NULL;
	if (f->app_listener != NULL)
		p2p_tls_listener_close(f->app_listener);
	f->app_listener = NULL;
	for (sip_app *a = f->apps, *nx; a != NULL; a = nx) {
		nx = a->next;
		if (app_has_transport(a)) {
			app_close(a, "the node is stopping");
		} else {
			app_unlink(f, a);
			app_destroy(a);
		}
	}
	while (f->subs != NULL) {
		sip_sub *s = f->subs;
		f->subs = s->next;
		(void)p2p_ctl_reply(s->req, NULL);
		free(s);
	}
	while (f->ctlws != NULL) {
		sip_ctlw *w = f->ctlws;
		f->ctlws = w->next;
		(void)p2p_ctl_error(w->req, P2P_CTL_ERR_FAILED,
		    "the node is stopping", NULL);
		free(w);
	}
}

void
sip_free(p2p_node *n)
{
	sip_front *f = n->sip;

	if (f == NULL)
		return;
	while (f->txns != NULL)
		txn_free(f, f->txns);
	while (f->binds != NULL) {
		sip_bind *b = f->binds;
		f->binds = b->next;
		free(b);
	}
	while (f->uas != NULL) {
		sip_ua *u = f->uas;
		f->uas = u->next;
		free(u);
	}
	while (f->apps != NULL) {
		sip_app *a = f->apps;
		f->apps = a->next;
		app_destroy(a);
	}
	while (f->ctlws != NULL) {
		sip_ctlw *w = f->ctlws;
		f->ctlws = w->next;
		free(w);
	}
	if (f->tls_ctx != NULL)
		p2p_tls_ctx_free(f->tls_ctx);
	if (f->app_srv != NULL)
		p2p_tls_ctx_free(f->app_srv);
	if (f->app_cli != NULL)
		p2p_tls_ctx_free(f->app_cli);
	if (f->app_dsrv != NULL)
		p2p_tls_ctx_free(f->app_dsrv);
	if (f->app_dcli != NULL)
		p2p_tls_ctx_free(f->app_dcli);
	if (f->auth != NULL) {
		OPENSSL_cleanse(f->auth, sizeof(*f->auth));
		free(f->auth);
	}
	free(f);
	n->sip = NULL;
}

/* When sip_tick has something to do next: the checks it makes, as times.
 * Event subscriptions are polled for a control client gone away. */
#define SIP_SUB_POLL_MS 200

uint64_t
sip_next_due(p2p_node *n, uint64_t now)
{
	sip_front *f = n->sip;
	uint64_t t = UINT64_MAX, at;

	if (f == NULL)
		return t;
	for (sip_bind *b = f->binds; b != NULL; b = b->next)
		if (b->expires_ms < t)
			t = b->expires_ms;
	for (sip_ua *u = f->uas; u != NULL; u = u->next)
		if (u->expires_ms < t)
			t = u->expires_ms;
	for (sip_app *a = f->apps; a != NULL; a = a->next) {
		if (a->open && app_has_transport(a))
			at = a->last_ms + SIP_APP_IDLE_MS + 1;
		else if (!a->open && !app_has_transport(a))
			at = a->until_ms;
		else if (!a->open)
			at = a->until_ms + SIP_ATTACH_MS;
		else
			continue;
		if (at < t)
			t = at;
	}
	if (f->subs != NULL && now + SIP_SUB_POLL_MS < t)
		t = now + SIP_SUB_POLL_MS;
	return t;
}
