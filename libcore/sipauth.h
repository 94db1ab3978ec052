/*
 * sipauth: HTTP Digest authentication of SIP requests (RFC 3261 s22,
 * with the computation of RFC 2617: MD5, qop "auth" or none), for the
 * node's SIP front when it has a password (p2p-node --sip-password-file).
 *
 * The front has one user, the node's certificate user; a user agent
 * proves it knows the password. Nonces are stateless: the issue time, 8
 * random bytes (each challenge its own nonce) and an HMAC-SHA256 of both
 * under a key the front draws at start, so a nonce is checked without a
 * table and stops being accepted after
 * P2P_SIPAUTH_NONCE_S (the challenge then says stale=true and the user
 * agent retries with the new nonce, without asking its user). With qop
 * "auth" a nonce serves several requests, each with a higher nonce count
 * (nc): the highest count seen is kept for the P2P_SIPAUTH_SEEN most
 * recently used nonces, and a request whose count is not above it is a
 * replay and refused. Credentials without qop (RFC 2069) carry no count
 * and are accepted again within the nonce's lifetime.
 *
 * libosip2 parses the Authorization and Proxy-Authorization headers;
 * this module reads the fields (removing their quotes) and checks every
 * one it uses.
 */
#ifndef P2P_SIPAUTH_H
#define P2P_SIPAUTH_H

#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_parser.h>

#define P2P_SIPAUTH_NONCE_S	300
#define P2P_SIPAUTH_KEY_LEN	32
/* The longest password accepted. */
#define P2P_SIPAUTH_MAX_PASS	256

#define P2P_SIPAUTH_SEEN	64

typedef struct p2p_sipauth {
	struct {
		char nonce[72];		/* "" : free */
		uint32_t nc;		/* highest count accepted */
		uint64_t used;		/* when, for reuse of the slot */
	} seen[P2P_SIPAUTH_SEEN];
	char realm[256];
	char user[128];		/* the user part of the AOR */
	char aor[256];		/* user@domain: also accepted as username */
	char pass[P2P_SIPAUTH_MAX_PASS + 1];
	uint8_t key[P2P_SIPAUTH_KEY_LEN];
} p2p_sipauth;

enum p2p_sipauth_result {
	P2P_SIPAUTH_OK = 0,
	P2P_SIPAUTH_MISSING,	/* no credentials for our realm */
	P2P_SIPAUTH_STALE,	/* right password, nonce too old */
	P2P_SIPAUTH_BAD,	/* wrong user, password, or malformed; or a
				   nonce count already used (a replay) */
};

/* Set up for realm and the AOR user@domain with password pass (no
 * control characters); a fresh random key. 0 or -1. */
int p2p_sipauth_init(p2p_sipauth *a, const char *realm, const char *aor,
    const char *pass);

/* Read a password file: its first line, without the line end; the file
 * must not be readable by group or others. 0, or -1 with why. */
int p2p_sipauth_read_password(const char *path, char *out, size_t cap,
    char *why, size_t whylen);

/* Check the credentials of request m (Proxy-Authorization when proxy,
 * else Authorization) at time now_s. */
enum p2p_sipauth_result p2p_sipauth_check(p2p_sipauth *a,
    osip_message_t *m, int proxy, uint64_t now_s);

/* Add a challenge (Proxy-Authenticate when proxy, else WWW-Authenticate)
 * with a fresh nonce to response r. 0 or -1. */
int p2p_sipauth_challenge(const p2p_sipauth *a, osip_message_t *r,
    int proxy, int stale, uint64_t now_s);

/* The Digest response (32 hex digits and a NUL in out) for the given
 * fields (RFC 2617 s3.2.2, MD5); qop NULL or "" for the RFC 2069 form
 * without nc and cnonce. 0 or -1. */
int p2p_sipauth_response(const char *user, const char *realm,
    const char *pass, const char *method, const char *uri,
    const char *nonce, const char *nc, const char *cnonce, const char *qop,
    char out[33]);

/*
 * The user agent's side: the value of an Authorization (for a 401) or
 * Proxy-Authorization (407: *proxy set) header answering the first
 * Digest challenge of response r to a request of method for uri, as user
 * with pass; qop "auth" when the challenge offers it (nonce count nc,
 * a fresh cnonce), else the RFC 2069 form. The challenge's stale flag
 * goes to *stale. 0, or -1 when r carries no usable MD5 challenge or out
 * is too small.
 */
int p2p_sipauth_answer(osip_message_t *r, const char *method,
    const char *uri, const char *user, const char *pass, uint32_t nc,
    char *out, size_t cap, int *proxy, int *stale);

#endif
