/*
 * config: the overlay configuration document (RFC 6940 s11.1), with the
 * SIP usage's domain-restriction (RFC 7904 s6) and the diagnostics access
 * rules (RFC 7851).
 *
 * Parsing uses libxml2 without network access, without entity
 * substitution, and refuses any document type declaration, so neither
 * external nor internal entities are ever expanded; the input is capped
 * at P2P_CONFIG_MAX_SIZE bytes. Elements in namespaces this code does not
 * know are ignored; unknown elements in the base and chord namespaces and
 * a mandatory-extension that is not supported are errors.
 *
 * p2psip-specific elements live in their own namespace, P2P_NS_P2PSIP
 * ("urn:x-p2psip:config"); other implementations ignore them, as they
 * ignore any foreign element:
 *   <p2psip:crl-url>  the https URL where the overlay's certificate
 *       authority publishes its CRL (DER)
 *   <p2psip:config-url>  the https URL of the configuration server that
 *       serves this document (RFC 6940 s11.2 finds it at the overlay
 *       name's /.well-known/reload-config; an overlay name need not
 *       resolve, so the document names it): nodes re-fetch the
 *       configuration from there (see cfgupd.h)
 *   <p2psip:stun-server address="IP" port="3478"/>  a STUN server for
 *       server-reflexive ICE candidates (repeatable, at most
 *       P2P_CONFIG_MAX_ICE_SERVERS; libnice uses the first)
 *   <p2psip:turn-server address="IP" port="3478" username="u"
 *       password="p"/>  a TURN server for relayed candidates (repeatable,
 *       at most P2P_CONFIG_MAX_ICE_SERVERS); without username and
 *       password the turn-credentials apply
 *   <p2psip:turn-credentials username="u" password="p"/>  the long-term
 *       credentials (RFC 5389 s10.2) of the overlay's TURN servers: those
 *       above without their own, and those peers advertise in the
 *       TURN-SERVICE kind (RFC 6940 s9), which carries only an address
 * RFC 6940 has turn-density and TURN-SERVICE but no element for a STUN
 * server or for TURN credentials; an overlay whose peers all have public
 * addresses needs none of these.
 *
 * Signatures. <signature> after </configuration> holds the base64 of a
 * SecurityBlock (certificates, then a Signature). RFC 6940 does not spell
 * out the signature input; this code signs, and verifies, the exact bytes
 * from the '<' of the first "<configuration" to the '>' closing the first
 * "</configuration>" after it, followed by the wire bytes of the
 * SignerIdentity (the same shape as the message signature input). No
 * canonicalisation: whitespace and attribute order matter. So that what
 * is verified is what is parsed, a document with a comment, CDATA section
 * or document type declaration before that element is refused by the
 * verifier, and p2p_config_parse reads the first configuration element
 * when no instance name is given.
 */
#ifndef P2P_CONFIG_H
#define P2P_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "body_store.h"
#include "buf.h"
#include "id.h"
#include "ident.h"
#include "msg.h"
#include "sign.h"

#define P2P_NS_CONFIG	"urn:ietf:params:xml:ns:p2p:config-base"
#define P2P_NS_CHORD	"urn:ietf:params:xml:ns:p2p:config-chord"
#define P2P_NS_SIP	"urn:ietf:params:xml:ns:p2p:config-base:sip"
#define P2P_NS_DIAG	"urn:ietf:params:xml:ns:p2p:config-diagnostics"
#define P2P_NS_P2PSIP	"urn:x-p2psip:config"

#define P2P_CONFIG_MAX_SIZE	(1024 * 1024)
#define P2P_DEFAULT_PORT	6084

/* Kind-IDs (P2P_KIND_*) are those of body_store.h. */

enum p2p_access {
	P2P_AC_USER_MATCH = 1,
	P2P_AC_NODE_MATCH,
	P2P_AC_USER_NODE_MATCH,
	P2P_AC_NODE_MULTIPLE,
};

/* The built-in (IANA) kinds. */
typedef struct p2p_kind_info {
	uint32_t id;
	const char *name;
	enum p2p_data_model model;
	enum p2p_access policy;
} p2p_kind_info;

const p2p_kind_info *p2p_kind_by_id(uint32_t id);
const p2p_kind_info *p2p_kind_by_name(const char *name);
/* By name, or by number (decimal or 0x hex). NULL if not built in. */
const p2p_kind_info *p2p_kind_find(const char *name_or_number);
const char *p2p_data_model_name(enum p2p_data_model m);
const char *p2p_access_name(enum p2p_access a);

/* A kind of the configuration's required-kinds. */
typedef struct p2p_kind_def {
	uint32_t id;
	int named;		/* given by name= (an IANA kind), not id= */
	enum p2p_data_model model;
	enum p2p_access policy;
	uint32_t max_count;
	uint32_t max_size;
	uint32_t max_node_multiple;	/* NODE-MULTIPLE only */
	int domain_restriction;	/* a sip:domain-restriction is present */
	int domain_enable;	/* its enable attribute */
	char **patterns;	/* POSIX extended regular expressions */
	size_t npatterns;
	char *signature;	/* kind-signature base64 text, or NULL */
	/* A name for a private kind (id=), from the attribute p2psip:name
	 * of <kind>, so that tools can say --kind single; NULL if none. */
	char *label;
} p2p_kind_def;

/* One diagnostic-kind rule: who may ask for this diagnostic. */
typedef struct p2p_diag_access {
	uint16_t kind;
	p2p_id *nodes;
	size_t nnodes;
} p2p_diag_access;

typedef struct p2p_bootstrap {
	char *address;		/* IPv4 or IPv6 literal */
	uint16_t port;
} p2p_bootstrap;

/* A STUN or TURN server of the p2psip extension elements. */
typedef struct p2p_ice_server_cfg {
	char *address;		/* IPv4 or IPv6 literal */
	uint16_t port;		/* 3478 when not given */
	char *username;		/* TURN only; NULL: the turn-credentials */
	char *password;
} p2p_ice_server_cfg;

#define P2P_CONFIG_MAX_ICE_SERVERS	4
#define P2P_STUN_PORT			3478

typedef struct p2p_blob {
	uint8_t *p;
	size_t len;
} p2p_blob;

typedef struct p2p_config {
	char *instance_name;
	uint32_t sequence;		/* 0..65535 */
	time_t expiration;		/* 0: none given */
	char *topology_plugin;		/* CHORD-RELOAD */
	unsigned node_id_length;	/* always 16 */
	p2p_blob *root_certs;		/* DER */
	size_t nroot_certs;
	char **enrollment_servers;
	size_t nenrollment_servers;
	int self_signed_permitted;
	enum p2p_digest self_signed_digest;
	p2p_bootstrap *bootstrap;
	size_t nbootstrap;
	unsigned turn_density;
	int clients_permitted;
	int no_ice;
	uint32_t chord_update_interval;	/* seconds */
	uint32_t chord_ping_interval;	/* seconds */
	int chord_reactive;
	char *shared_secret;
	uint32_t max_message_size;
	unsigned initial_ttl;
	uint32_t overlay_reliability_timer;	/* ms */
	char **link_protocols;
	size_t nlink_protocols;
	p2p_id *config_signers;
	size_t nconfig_signers;
	p2p_id *kind_signers;
	size_t nkind_signers;
	p2p_id *bad_nodes;
	size_t nbad_nodes;
	char **mandatory_extensions;
	size_t nmandatory_extensions;
	p2p_kind_def *kinds;
	size_t nkinds;
	p2p_diag_access *diag;
	size_t ndiag;
	char *crl_url;
	p2p_ice_server_cfg *stun_servers;
	size_t nstun_servers;
	p2p_ice_server_cfg *turn_servers;
	size_t nturn_servers;
	char *turn_username;	/* <p2psip:turn-credentials>, or NULL */
	char *turn_password;
	char *config_url;	/* p2psip:config-url */
	/* The message of the last failure (err->what points here). */
	char error[192];
} p2p_config;

/* Defaults of RFC 6940 s11.1 (and link protocol "TLS"); no lists. */
int p2p_config_init(p2p_config *c);
void p2p_config_free(p2p_config *c);

/*
 * Parse a document into c (which is initialised here; free it with
 * p2p_config_free even on failure). instance picks the configuration
 * element with that instance-name; NULL takes the first.
 */
int p2p_config_parse(const char *doc, size_t len, const char *instance,
    p2p_config *c, p2p_err *err);

/*
 * The kind of c that s names: an IANA kind name, the p2psip:name of a
 * private kind, or a number (decimal or 0x hex). NULL if c has none.
 */
const p2p_kind_def *p2p_config_kind(const p2p_config *c, const char *s);

/* Append the document for c (without a signature) to w. */
int p2p_config_write(const p2p_config *c, p2p_wbuf *w, p2p_err *err);

/* Append to out the document with a <signature> by id inserted. */
int p2p_config_sign(const char *doc, size_t len, const p2p_identity *id,
    p2p_wbuf *out, p2p_err *err);

/*
 * Verify the signature of the first configuration element. The signer
 * certificate (from the SecurityBlock) must pass p2p_cert_verify against
 * trust when trust is given, and name one of signers when nsigners > 0
 * (at least one of the two is required). who may be NULL.
 */
int p2p_config_verify(const char *doc, size_t len, const p2p_trust *trust,
    const p2p_id *signers, size_t nsigners, p2p_sig_who *who, p2p_err *err);

/* Helpers to fill a p2p_config before writing it (copies are made). */
int p2p_config_add_root_cert(p2p_config *c, const uint8_t *der, size_t len);
int p2p_config_add_string(char ***list, size_t *n, const char *s);
int p2p_config_add_id(p2p_id **list, size_t *n, const p2p_id *id);
int p2p_config_add_bootstrap(p2p_config *c, const char *address,
    uint16_t port);
/* A STUN server (user and pass NULL) or a TURN server (user and pass
 * NULL for the overlay's turn-credentials). -1: too many, out of memory. */
int p2p_config_add_ice_server(p2p_config *c, int turn, const char *address,
    uint16_t port, const char *user, const char *pass);
/* Add a kind: built-in ones take their registered model and policy. */
int p2p_config_add_kind(p2p_config *c, const p2p_kind_def *k);
/* Add a built-in kind with its registered model and policy. */
int p2p_config_add_builtin_kind(p2p_config *c, uint32_t id,
    uint32_t max_count, uint32_t max_size);
/* The SIP-REGISTRATION kind with RFC 7904's domain-restriction: enable
 * 1 takes the AORs of domains matching one of patterns (copied), 0 only
 * the overlay's own name. */
int p2p_config_add_sip_kind(p2p_config *c, uint32_t max_count,
    uint32_t max_size, int enable, char *const *patterns, size_t npatterns);

/* Base64: p2p_base64_encode / p2p_base64_decode of buf.h. */

/* NULL if s may be a domain-restriction pattern (a POSIX ERE within the
 * bounds the parser sets on them), else why not ("is too long"...). */
const char *p2p_config_pattern_check(const char *s);

#endif
