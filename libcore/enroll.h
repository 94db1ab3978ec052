/*
 * enroll: the enrollment and configuration server of a CA directory
 * (RFC 6940 s11.2, s11.3) and the client that enrolls a node with it.
 *
 * Server. Over HTTPS (p2p_http on p2p_tls):
 *   GET  /.well-known/reload-config   overlay.xml,
 *                                     application/p2p-overlay+xml
 *   GET  /crl                         crl.der, application/pkix-crl
 *   POST /enroll (or the path of the configured enrollment URL)
 *        multipart/form-data with username, password, nodeids (count,
 *        default 1) and csr (application/pkcs10, DER or PEM); answers 200
 *        application/pkix-cert with one DER certificate, or 403 text/plain
 *        with one token: failed_authentication, username_not_available,
 *        Node-IDs_not_available, bad_CSR.
 * A CSR that asks for its own subjectAltName, or a form field naming a
 * Node-ID, is refused: Node-IDs come only from the CA's random generator.
 * Too many requests from one address get 429; the HTTP layer cuts off
 * bodies over the limit (413) and requests that take too long (408).
 *
 * Client. Fetches the configuration over HTTPS (libcurl, OpenSSL), with
 * the server authenticated by a root certificate file or by a pinned
 * SHA-256 fingerprint of a certificate of its chain (normally the root);
 * checks the configuration's signature against the root it carries (which
 * must be the pinned one); makes a key and a CSR, enrolls, checks the
 * certificate and writes NODEDIR/{key.pem,cert.pem,ca.pem,overlay.xml}.
 */
#ifndef P2P_ENROLL_H
#define P2P_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "ident.h"

#define P2P_ENROLL_MAX_BODY	(16 * 1024)
#define P2P_ENROLL_REQUEST_MS	10000
#define P2P_ENROLL_RATE		2.0	/* requests a second, per address */
#define P2P_ENROLL_BURST	10.0

/* Outcomes, equal to the tools' exit codes. */
enum {
	P2P_ENROLL_OK = 0,
	P2P_ENROLL_FAIL = 1,
	P2P_ENROLL_USAGE = 2,
	P2P_ENROLL_UNREACHABLE = 3,
};

/* ---- server ---- */

typedef struct p2p_enroll_answer {
	int status;
	const char *ctype;
	uint8_t *body;		/* malloc'd */
	size_t len;
	char log[384];		/* the line to log ("" for nothing) */
} p2p_enroll_answer;

/*
 * Answer one request for the CA in dir. rl (may be NULL) limits POSTs per
 * client address as of now_ms. Never fails: errors become answers.
 */
void p2p_enroll_handle(const char *dir, p2p_ratelimit *rl, uint64_t now_ms,
    const p2p_http_req *req, p2p_enroll_answer *ans);
void p2p_enroll_answer_free(p2p_enroll_answer *ans);

typedef struct p2p_enroll_serve_opts {
	const char *dir;
	const char *listen;	/* "ip:port" or "[ip6]:port" */
	double rate, burst;	/* 0: the defaults above */
	size_t max_body;	/* 0: P2P_ENROLL_MAX_BODY */
	unsigned request_ms;	/* 0: P2P_ENROLL_REQUEST_MS */
} p2p_enroll_serve_opts;

/* Serve until SIGINT or SIGTERM. Logs one line an event on stderr. */
int p2p_enroll_serve(const p2p_enroll_serve_opts *o, char *err,
    size_t errlen);

/* ---- client ---- */

typedef struct p2p_enroll_opts {
	const char *server;	/* https://host[:port][/path] */
	const char *user;
	const char *password;
	const char *dir;	/* node directory */
	const char *ca_file;	/* PEM root(s), or NULL */
	const uint8_t *pin;	/* 32-byte SHA-256 of a certificate, or NULL */
	unsigned nids;		/* 0: 1 */
	enum p2p_key_type key_type;
} p2p_enroll_opts;

typedef struct p2p_enroll_result {
	p2p_id ids[P2P_CERT_MAX_IDS];
	size_t nids;
	char overlay[P2P_NAME_MAX + 1];
	char user[P2P_NAME_MAX + 1];
	char cert_path[4096];
	/* When the server could not be authenticated without a pin: the
	 * SHA-256 fingerprint of the top certificate it presented. */
	char fingerprint[80];
	char token[64];		/* the server's refusal token, if any */
	char msg[512];		/* why it failed */
} p2p_enroll_result;

int p2p_enroll_run(const p2p_enroll_opts *o, p2p_enroll_result *r);

/*
 * Make a self-signed identity for the overlay of the configuration file
 * config (refused unless it says self-signed-permitted) in dir.
 */
int p2p_enroll_self_signed(const char *config, const char *dir,
    const char *user, unsigned nids, enum p2p_key_type kt,
    p2p_enroll_result *r);

/* Parse "SHA256:hex" (colons between bytes allowed); 0 ok, -1 bad. */
int p2p_fingerprint_parse(const char *s, uint8_t out[32]);

/*
 * A password: the first line of file (when not NULL; "-" is stdin), else
 * read from the terminal without echo after prompt. -1 with a message in
 * err when there is no terminal or the file cannot be read.
 */
int p2p_password_read(const char *file, const char *prompt, char *buf,
    size_t cap, char *err, size_t errlen);

#endif
