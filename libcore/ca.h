/*
 * ca: the overlay's certificate authority, kept in one directory.
 *
 * Files in DIR (every file holding a secret is 0600, DIR itself 0700):
 *
 *   ca.key, ca.pem        the CA key and its self-signed root
 *   signer.key, signer.pem
 *                         the configuration signer: a certificate issued
 *                         by the CA to a random Node-ID that no peer ever
 *                         gets, listed as <configuration-signer>; it signs
 *                         overlay.xml, so the document verifies against
 *                         the root it carries and later documents can be
 *                         checked against the signer named in earlier ones
 *   server.key, server.pem
 *                         the HTTPS certificate of "p2p-ca serve" (leaf,
 *                         then the root), issued for the listen address
 *   overlay.xml           the signed configuration document
 *   crl.der               the CRL, regenerated on every revocation
 *   state.json            overlay settings, configuration sequence and
 *                         every certificate issued (serial, user,
 *                         Node-IDs, expiry, revoked)
 *   users.json            enrollment accounts: PBKDF2-HMAC-SHA256 salted
 *                         password hashes, quotas, assigned Node-IDs
 *   certs/SERIAL.pem      a copy of each issued certificate
 *   lock                  flock()ed: shared to read, exclusive to change
 *
 * JSON files are replaced atomically (write a temporary file, fsync,
 * rename). A revocation regenerates the CRL and publishes a new
 * configuration (the next sequence) listing the revoked Node-IDs as
 * bad-node; so does "p2p-ca config bump", with nothing else changed.
 *
 * Functions return 0 (or a pointer) on success and -1 (or NULL) with a
 * message in err (errlen bytes) on failure. Keys never appear in messages.
 */
#ifndef P2P_CA_H
#define P2P_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "id.h"
#include "ident.h"

/* PBKDF2 iterations for new password hashes. */
#define P2P_CA_PBKDF2_ITER	200000
/* Node-IDs a user may hold unless told otherwise. */
#define P2P_CA_DEFAULT_QUOTA	4
/* Validity of issued peer certificates, in days. */
#define P2P_CA_CERT_DAYS	365
/* Validity of the root, in days. */
#define P2P_CA_ROOT_DAYS	3650
/* Longest password accepted. */
#define P2P_CA_PASSWORD_MAX	1024

typedef struct p2p_ca_init_opts {
	const char *dir;
	const char *overlay;		/* DNS-style overlay name */
	enum p2p_key_type key_type;	/* of the CA key */
	const char *enroll_url;		/* https URL of the enrollment
					   server, or NULL: set by the first
					   "serve" from its listen address */
	const char *const *bootstrap;	/* "ip:port" or "[ip6]:port" */
	size_t nbootstrap;
	int self_signed_permitted;
	unsigned max_ids_per_user;	/* 0: P2P_CA_DEFAULT_QUOTA */
	/* The configuration's max-message-size (0: 5000, the RFC's) and
	 * the max-size of the private kinds (0: 4096): values larger than
	 * a few kilobytes need both raised (messages are then fragmented
	 * on links with a smaller MTU). */
	unsigned max_message_size;
	unsigned max_value_size;
	/* The configuration's overlay-link-protocol list, "TLS" and/or
	 * "DTLS" in order of preference; none: TLS. */
	const char *const *link_protocols;
	size_t nlink_protocols;
	/* ICE (no-ice false) with an optional STUN server "IP:PORT", TURN
	 * servers "IP:PORT" and the TURN credentials "USER:PASS". */
	int ice;
	const char *stun;
	const char *const *turn;
	size_t nturn;
	const char *turn_credentials;
	/* The configuration's turn-density (RFC 6940 s9: how many
	 * Resource-IDs each TURN server is advertised at) when
	 * set_turn_density; otherwise the RFC's default, 1. */
	int set_turn_density;
	unsigned turn_density;
	/* RFC 7904's domain-restriction of the SIP-REGISTRATION kind: AORs
	 * only from domains matching one of sip_domains (POSIX EREs, whole
	 * domain), or, with sip_own_domain, only from the overlay's own
	 * name; neither: any domain. */
	const char *const *sip_domains;
	size_t nsip_domains;
	int sip_own_domain;
} p2p_ca_init_opts;
#define P2P_CA_MAX_SIP_DOMAINS		16
#define P2P_CA_DEFAULT_VALUE_SIZE	4096
/* The TURN-SERVICE kind's max-node-multiple: a larger turn-density would
 * only name Resource-IDs no storing peer accepts. */
#define P2P_CA_MAX_TURN_DENSITY		20

/* An open CA directory. */
typedef struct p2p_ca {
	char *dir;
	int lockfd;
	int exclusive;
	json_t *state;
	json_t *users;
	EVP_PKEY *key;
	X509 *cert;
} p2p_ca;

/* Why an issuance was refused (the RFC 6940 s11.3 tokens). */
enum p2p_ca_refusal {
	P2P_CA_ISSUED = 0,
	P2P_CA_FAILED_AUTH,		/* failed_authentication */
	P2P_CA_USERNAME_NA,		/* username_not_available */
	P2P_CA_NODE_IDS_NA,		/* Node-IDs_not_available */
	P2P_CA_BAD_CSR,			/* bad_CSR */
	P2P_CA_INTERNAL,		/* could not issue (500) */
};

const char *p2p_ca_refusal_token(enum p2p_ca_refusal r);

/* Create DIR (0700, must not hold a CA yet) with everything above. */
int p2p_ca_init(const p2p_ca_init_opts *o, char *err, size_t errlen);

/*
 * Open DIR, taking the lock (exclusive when the caller will change
 * anything), and load the state and the CA key and certificate.
 */
int p2p_ca_open(p2p_ca *ca, const char *dir, int exclusive, char *err,
    size_t errlen);
/* Write state.json and users.json back (exclusive opens only). */
int p2p_ca_commit(p2p_ca *ca, char *err, size_t errlen);
/* Free everything and drop the lock. */
void p2p_ca_close(p2p_ca *ca);

/* Path of a file in the CA directory; -1 if it does not fit. */
int p2p_ca_path(const p2p_ca *ca, const char *name, char *buf, size_t cap);
const char *p2p_ca_overlay(const p2p_ca *ca);

/* "SHA256:<64 lower-case hex digits>" of a certificate's DER. */
int p2p_cert_fingerprint(X509 *cert, char *buf, size_t cap);

/* ---- accounts ---- */

/* Add (or replace the password and quota of, when replace) a user.
 * quota 0 keeps the overlay default. */
int p2p_ca_user_add(p2p_ca *ca, const char *name, const char *password,
    unsigned quota, int replace, char *err, size_t errlen);
int p2p_ca_user_del(p2p_ca *ca, const char *name, char *err, size_t errlen);
/* 1 if name exists and password matches, 0 otherwise. */
int p2p_ca_user_check(const p2p_ca *ca, const char *name,
    const char *password, size_t pwlen);
/* [{"user":..,"quota":N,"node_ids":[hex..]}]; new reference. */
json_t *p2p_ca_user_list(const p2p_ca *ca);

/* ---- issuing and revoking ---- */

/*
 * Issue a certificate for csr to user carrying nids Node-IDs: the ones
 * already assigned to user first, then new CSPRNG ones while the user's
 * quota allows. Records it (the caller commits). why gets the reason of a
 * refusal, for the log.
 */
enum p2p_ca_refusal p2p_ca_issue(p2p_ca *ca, const char *user,
    X509_REQ *csr, unsigned nids, X509 **out, char *why, size_t whylen);

/*
 * Revoke the certificate with this serial (hex), or every certificate
 * carrying this Node-ID (32 hex digits), then publish a new CRL and a new
 * configuration. *count gets the number of certificates newly revoked.
 */
int p2p_ca_revoke(p2p_ca *ca, const char *what, size_t *count, char *err,
    size_t errlen);

/* [{"user","node_ids":[hex],"serial","not_after","revoked"}]; new ref. */
json_t *p2p_ca_list(const p2p_ca *ca);

/* ---- configuration and HTTPS certificate ---- */

/* Rebuild, sign and write overlay.xml with the next sequence (that after
 * 65534 is 0: cfgupd.h). The document names the configuration server,
 * "https://HOST:PORT/.well-known/reload-config" of the enrollment URL,
 * as p2psip:config-url, so that nodes re-fetch it (see node_cfg.c). */
int p2p_ca_publish_config(p2p_ca *ca, char *err, size_t errlen);
/* The same with the sequence given (0..65534). */
int p2p_ca_publish_config_at(p2p_ca *ca, uint32_t seq, char *err,
    size_t errlen);
/*
 * Set the enrollment URL (and the CRL URL next to it) if none is set yet,
 * publishing a new configuration. 1 if changed, 0 if already set.
 */
int p2p_ca_set_enroll_url(p2p_ca *ca, const char *url, char *err,
    size_t errlen);
/*
 * Make sure server.pem is valid for ip (and dns, if not NULL), issuing a
 * new one from the CA when it is not.
 */
int p2p_ca_server_cert(p2p_ca *ca, const char *ip, const char *dns,
    char *err, size_t errlen);

/*
 * Split "ip:port" or "[ip6]:port" (the port is required, 0..65535);
 * ip gets the address without brackets. 0 ok, -1 malformed.
 */
int p2p_addr_split(const char *s, char *ip, size_t cap, int *port);

/* Read a whole file (at most max bytes); *out malloc'd, NUL-terminated. */
int p2p_file_read(const char *path, size_t max, uint8_t **out, size_t *len);
/* Write a file atomically (temporary + fsync + rename) with mode. */
int p2p_file_write_atomic(const char *path, const void *p, size_t len,
    int mode);

#endif
