/*
 * sipua: a small SIP user agent (RFC 3261) on a libuv loop, for p2p-call.
 *
 * One UDP socket carries all signalling. The agent sends its out-of-dialog
 * requests (REGISTER, INVITE, MESSAGE) to one outbound proxy, normally the
 * local node's SIP front, which is also the registrar; without a proxy
 * they go to the host of the Request-URI, which must then be a numeric
 * address. In-dialog requests follow the dialog's route set (the
 * Record-Route of the dialog-forming exchange) and its remote target.
 *
 * What it does: REGISTER with refresh and a final Expires: 0; one call at
 * a time, outgoing (INVITE, CANCEL, ACK, BYE) or incoming (180, 200 or a
 * refusal, BYE); MESSAGE in and out of a dialog; OPTIONS answered. Calls
 * carry one audio stream, G.711 mu-law or A-law, offered in the INVITE
 * (an INVITE without an offer is refused with 488). A second incoming call
 * while one is in progress gets 486 Busy Here. With a password, a 401 or
 * 407 to a REGISTER, INVITE or MESSAGE is answered once (twice when the
 * nonce was stale) by sending the request again with Digest credentials
 * (RFC 3261 s22.2), as a new transaction: CSeq one higher, a new branch.
 *
 * With tcp, all signalling goes over one TCP connection that the agent
 * opens to its proxy (RFC 3261 s18.3 framing); nothing is retransmitted
 * on it but the 2xx to an INVITE (the UAS core's own, s13.3.1.4), the
 * Contact and Via say TCP, and a connection that fails or ends fails the
 * transactions under way (503) and every later one. With tls the
 * connection is TLS, the proxy's certificate checked (tls_ca). Media
 * stays RTP over UDP.
 *
 * Transactions follow RFC 3261 section 17 for an unreliable transport:
 * requests are retransmitted from T1 (500 ms) doubling (non-INVITE ones
 * capped at T2, 4 s) until a response arrives or 64*T1 have passed;
 * a final response to an INVITE we received is retransmitted the same way
 * until the ACK arrives; a retransmitted request gets the last response
 * again, for 64*T1 after it was sent.
 *
 * Messages are parsed and built with libosip2. A datagram that does not
 * parse, or lacks Via, From, To, Call-ID or CSeq (or a Request-URI, or a
 * CSeq method that agrees with the request's), is dropped and counted.
 *
 * The media of a call (p2p_rtp of media.h) belongs to the agent: it binds
 * the RTP socket on the signalling address's IP, puts it in the SDP,
 * starts sending the configured audio when the call is answered and hands
 * what it received to the P2P_UA_ENDED event. With ice in the
 * configuration, the SDP also carries ICE candidates (host, and
 * server-reflexive and relayed from the STUN and TURN servers given) and
 * the RTP runs over the pair the ICE checks select, so that two agents
 * behind NATs reach each other; a peer whose SDP has no ICE attributes
 * gets plain RTP as before.
 */
#ifndef P2P_SIPUA_H
#define P2P_SIPUA_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ice.h"
#include "media.h"

/* RFC 3261 timer values, milliseconds. */
#define P2P_UA_T1		500
#define P2P_UA_T2		4000
#define P2P_UA_DEFAULT_EXPIRES	600

typedef struct p2p_ua p2p_ua;

enum p2p_ua_event_type {
	P2P_UA_REGISTERED,	/* first successful REGISTER: expires */
	P2P_UA_REGISTER_FAILED,	/* status, reason, unreachable */
	P2P_UA_INCOMING,	/* from: an INVITE is ringing here */
	P2P_UA_RINGING,		/* 180/183 to our INVITE (once) */
	P2P_UA_ANSWERED,	/* pt, remote_ip, remote_port: media flows */
	P2P_UA_MEDIA,		/* reason: the ICE pair the RTP now takes
				   ("TYPE ADDR -> TYPE ADDR", ice.h) */
	P2P_UA_ENDED,		/* reason, ok, stats, rec/nrec */
	P2P_UA_FAILED,		/* our INVITE: status, reason, unreachable */
	P2P_UA_MESSAGE,		/* from, text/textlen, in_dialog */
	P2P_UA_MESSAGE_SENT,	/* our MESSAGE: status, reason, unreachable,
				   cookie */
};

typedef struct p2p_ua_event {
	enum p2p_ua_event_type type;
	int status;		/* SIP status (FAILED, *_SENT, *_FAILED) */
	const char *reason;	/* reason phrase, or why a call ended */
	int unreachable;	/* no response at all came back */
	int ok;			/* ENDED: ended normally by either side */
	int answered;		/* ENDED: the call had been answered */
	const char *from;	/* INCOMING, MESSAGE: user@host of From */
	const char *text;	/* MESSAGE (not NUL-terminated) */
	size_t textlen;
	int in_dialog;		/* MESSAGE: arrived within the call */
	int pt;			/* ANSWERED: P2P_PT_PCMU or P2P_PT_PCMA */
	const char *remote_ip;	/* ANSWERED: where our RTP goes */
	uint16_t remote_port;
	int media_wait;		/* ANSWERED: the RTP starts with the MEDIA
				   event, when ICE has selected a pair */
	unsigned expires;	/* REGISTERED */
	unsigned cookie;	/* MESSAGE_SENT: p2p_ua_message's return */
	p2p_rtp_stats stats;	/* ENDED */
	const int16_t *rec;	/* ENDED: received audio, 8000 Hz, valid */
	size_t nrec;		/* only during the callback */
} p2p_ua_event;

typedef void (*p2p_ua_cb)(p2p_ua *ua, const p2p_ua_event *ev, void *user);

typedef struct p2p_ua_config {
	const char *aor;	/* our address of record, user@domain */
	const char *listen_ip;	/* numeric; not 0.0.0.0 or :: */
	uint16_t listen_port;	/* 0: the kernel picks */
	const char *proxy_ip;	/* outbound proxy and registrar, or NULL */
	uint16_t proxy_port;
	unsigned expires;	/* REGISTER; 0: P2P_UA_DEFAULT_EXPIRES */
	const int *pts;		/* codec preference (0 and/or 8) */
	size_t npts;
	const p2p_pcm *play;	/* sent in every call (8000 Hz), or NULL */
	/* Answer Digest challenges (401, 407) to REGISTER, INVITE and
	 * MESSAGE with the user part of aor and this password; NULL: a
	 * challenge is a refusal. */
	const char *password;
	/* Signalling over one TCP connection to the proxy (needs proxy_ip)
	 * instead of UDP; the proxy sends requests for us back over it. */
	int tcp;
	/* The same over TLS (RFC 3261 s26), the proxy's certificate chain
	 * checked against the CA certificates of the PEM file tls_ca (no
	 * host name check: the node's certificate names no host); tls_ca
	 * NULL: no check at all. */
	int tls;
	const char *tls_ca;
	/* Media over ICE (RFC 8445; candidates in the SDP, RFC 8839) with
	 * these STUN and TURN servers, host candidates on local_ip (""
	 * for every interface); NULL: RTP straight to the address of the
	 * peer's SDP. controlling is the agent's own. */
	const p2p_ice_cfg *ice;
	p2p_ua_cb cb;
	void *user;
} p2p_ua_config;

/* Counters for tests and diagnostics. */
typedef struct p2p_ua_stats {
	uint64_t received, dropped, retransmits, sent;
} p2p_ua_stats;

/* Call libosip2's parser_init once per process (done by p2p_ua_new). */
void p2p_ua_global_init(void);

/* Bind the socket and start reading. NULL with a message in err. The
 * strings of cfg are copied; play is borrowed for the agent's life. */
p2p_ua *p2p_ua_new(uv_loop_t *loop, const p2p_ua_config *cfg, char *err,
    size_t errlen);
/* "ip:port" of our socket (for messages). */
const char *p2p_ua_local(const p2p_ua *ua);
void p2p_ua_get_stats(const p2p_ua *ua, p2p_ua_stats *st);

/* Register with the proxy and keep the registration fresh. 0 or -1
 * (no proxy configured). */
int p2p_ua_register(p2p_ua *ua);

/* Call aor (user@domain or sip:user@domain). 0, or -1 with err set (a
 * call in progress, a bad address, no way to reach it, media). */
int p2p_ua_dial(p2p_ua *ua, const char *aor, char *err, size_t errlen);
/* Answer the ringing incoming call. 0 or -1 (none). */
int p2p_ua_answer(p2p_ua *ua);
/* End the call in whatever state: CANCEL an outgoing INVITE, refuse
 * (603) an incoming one, BYE an established one. 0 or -1 (no call). */
int p2p_ua_hangup(p2p_ua *ua);
/* Refuse the ringing incoming call with status (4xx-6xx). */
int p2p_ua_reject(p2p_ua *ua, int status);

enum p2p_ua_call_state {
	P2P_UA_IDLE, P2P_UA_CALLING, P2P_UA_RINGING_IN, P2P_UA_TALKING,
};
int p2p_ua_call_state(const p2p_ua *ua);
/* user@host of the other party of the current call, or NULL. */
const char *p2p_ua_call_peer(const p2p_ua *ua);

/*
 * Send a text/plain MESSAGE: to aor out of any dialog, or, with aor NULL,
 * within the current call. Returns a cookie (> 0) that the
 * P2P_UA_MESSAGE_SENT event repeats, or 0 with err set.
 */
unsigned p2p_ua_message(p2p_ua *ua, const char *aor, const char *text,
    char *err, size_t errlen);

/*
 * Leave: hang up any call, unregister if registered, wait for the
 * requests under way to finish (at most max_ms), then close every handle
 * and call done (may be NULL); the agent is freed after done returns.
 * No events are delivered once done has been called. Calling it twice
 * shortens the wait to nothing.
 */
void p2p_ua_shutdown(p2p_ua *ua, unsigned max_ms,
    void (*done)(p2p_ua *ua, void *user));

/* "alice@example.org" from "alice@example.org" or "sip:alice@...";
 * 0 or -1 (not user@domain). */
int p2p_ua_aor_norm(const char *in, char *out, size_t outlen);

#endif
