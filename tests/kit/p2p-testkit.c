/*
 * p2p-testkit: fixtures for the end-to-end tests; not installed.
 *
 *   p2p-testkit overlay --dir DIR --nodes N [--overlay NAME]
 *                       [--bad other-ca|expired|revoked]...
 *                       [--max-message-size N] [--max-value-size N]
 *                       [--link-protocol TLS|DTLS]...
 *       A CA (DIR/ca), a signed configuration and N node directories
 *       DIR/n0 .. DIR/n<N-1> (key.pem, cert.pem, ca.pem, overlay.xml), as
 *       p2p-enroll leaves them. Each --bad adds DIR/<kind>: an identity
 *       from another CA, an expired one, or one the CA revoked (its CRL is
 *       then written as crl.pem into every node directory).
 *       --link-protocol sets the configuration's overlay-link-protocol
 *       list, in the order given (default: TLS).
 *       --max-message-size sets the configuration's max-message-size
 *       (default 5000), --max-value-size the max-size of the private
 *       kinds single, array, dictionary and node (default 4096).
 *       [--ice] [--stun IP:PORT]... [--turn IP:PORT]...
 *       [--turn-credentials USER:PASS] [--turn-density N]
 *       --ice makes an overlay with ICE (no-ice false); --stun, --turn
 *       (up to 4 each, in order) and --turn-credentials write the
 *       p2psip STUN/TURN elements;
 *       --turn-density the configuration's turn-density (default 1).
 *       [--user I:NAME]... node I's certificate names NAME@OVERLAY
 *       instead of userI@OVERLAY (two nodes of one user: --user 3:user2).
 *       The kinds are those of p2p-ca init: SIP-REGISTRATION,
 *       TURN-SERVICE and the private ones.
 *
 *   p2p-testkit send --dir NODEDIR --to IP:PORT
 *                    --msg ping|join-other|store-forged|store-append|
 *                    attach-udp|config-update
 *                    [--dest NODE-ID] [--corrupt-signature] [--timeout S]
 *                    [--pad N] [--resource NAME]
 *                    [--fragment MTU [--drop-last]] [--config FILE]
 *                    [--repeat N]
 *       Open a TLS link with NODEDIR's identity, send one request to the
 *       node at the other end and print what came back: "answer <Code>",
 *       "error <Error_Name> <text>", "closed <reason>" or "timeout".
 *       join-other is a JoinReq naming a Node-ID other than the signer's;
 *       store-forged is a StoreReq of a value under the identity's own
 *       user name (kind "single") whose StoredData signature has one bit
 *       flipped, sent to the Resource-ID; store-append is a valid
 *       StoreReq appending "appended" to the identity's own array (kind
 *       "array", index 0xffffffff), sent to the Resource-ID;
 *       --dest NODE-ID addresses the request to that Node-ID instead
 *       (by default the node at the other end, store-forged the
 *       Resource-ID);
 *       attach-udp is an AttachReq whose one candidate is
 *       DTLS-UDP-SR-NO-ICE (127.0.0.1:9);
 *       config-update is a ConfigUpdateReq (sequence 65535) carrying the
 *       document of --config FILE;
 *       --corrupt-signature flips a bit of the signature value;
 *       --critical-option forward|destination adds a forwarding option of
 *       an unknown type with that critical flag.
 *       --pad N gives a ping N bytes of padding, --resource NAME sends
 *       it to NAME's Resource-ID (through the node) instead of the node; --fragment MTU sends the
 *       message as fragments of at most MTU bytes (frag.h), and with
 *       --drop-last all of them but the last. The number of fragments
 *       sent goes to standard error.
 *       --repeat N sends the same message (same transaction id, same
 *       bytes: an end-to-end retransmission) N times, each once the
 *       answer to the one before came, and prints a line per answer;
 *       each answer line then ends with a digest (SHA-256, 16 hex
 *       digits) of the answer's contents and signature, so that two
 *       answers can be told equal or not.
 *       Exit 0 when an answer (or Error) came, 1 otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "body_link.h"
#include "body_store.h"
#include "ca.h"
#include "config.h"
#include "frag.h"
#include "frame.h"
#include "ident.h"
#include "msg.h"
#include "sign.h"
#include "tls.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/evp.h>

static void
die(const char *what, const p2p_err *e)
{
	fprintf(stderr, "p2p-testkit: %s%s%s\n", what, e != NULL ? ": " : "",
	    e != NULL && e->what != NULL ? e->what : "");
	exit(2);
}

static void
path(char *buf, size_t cap, const char *a, const char *b)
{
	if ((size_t)snprintf(buf, cap, "%s/%s", a, b) >= cap)
		die("path too long", NULL);
}

static X509 *
issue(EVP_PKEY *cak, X509 *ca, EVP_PKEY *key, const char *overlay,
    const char *user, time_t nb, time_t na, p2p_id *id)
{
	p2p_err e = { 0 };
	X509_REQ *r = p2p_csr_make(key, &e);
	p2p_issue is;
	X509 *c;

	if (r == NULL)
		die("CSR", &e);
	if (p2p_id_random(id) != 0)
		die("random", NULL);
	memset(&is, 0, sizeof(is));
	is.overlay = overlay;
	is.user = user;
	is.ids = id;
	is.nids = 1;
	is.not_before = nb;
	is.not_after = na;
	c = p2p_cert_issue(cak, ca, r, &is, &e);
	X509_REQ_free(r);
	if (c == NULL)
		die("issue", &e);
	return c;
}

/* A node directory whose certificate issuer (cak, issuer) may differ from
 * the root it is given as ca.pem (ca). */
static void
write_node(const char *dir, const char *conf, size_t len, X509 *ca,
    X509 *issuer, EVP_PKEY *cak, const char *overlay, const char *user, time_t nb,
    time_t na, char *serial, size_t serialcap)
{
	char p[1024];
	p2p_err e = { 0 };
	EVP_PKEY *k = p2p_key_generate(P2P_KEY_EC_P256, &e);
	p2p_id id;
	X509 *c;
	FILE *f;

	if (k == NULL)
		die("key", &e);
	c = issue(cak, issuer, k, overlay, user, nb, na, &id);
	if (mkdir(dir, 0700) != 0)
		die(dir, NULL);
	path(p, sizeof(p), dir, "overlay.xml");
	if ((f = fopen(p, "w")) == NULL || fwrite(conf, 1, len, f) != len ||
	    fclose(f) != 0)
		die(p, NULL);
	path(p, sizeof(p), dir, "ca.pem");
	if (p2p_cert_save(ca, p, &e) != 0)
		die(p, &e);
	path(p, sizeof(p), dir, "key.pem");
	if (p2p_key_save(k, p, &e) != 0)
		die(p, &e);
	path(p, sizeof(p), dir, "cert.pem");
	if (p2p_cert_save(c, p, &e) != 0)
		die(p, &e);
	if (serial != NULL) {
		p2p_cert_info ci;
		if (p2p_cert_info_get(c, &ci, &e) != 0)
			die("cert info", &e);
		snprintf(serial, serialcap, "%s", ci.serial);
	}
	EVP_PKEY_free(k);
	X509_free(c);
}

/* A STUN (turn 0) or TURN server "IP:PORT" into the configuration. */
static void
ice_server(p2p_config *cf, int turn, const char *spec)
{
	const char *colon = strrchr(spec, ':');
	char ip[64];
	long port;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(ip))
		die("--stun/--turn IP:PORT", NULL);
	memcpy(ip, spec, (size_t)(colon - spec));
	ip[colon - spec] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535 ||
	    p2p_config_add_ice_server(cf, turn, ip, (uint16_t)port, NULL,
	    NULL) != 0)
		die("--stun/--turn IP:PORT", NULL);
}

static int
cmd_overlay(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "overlay", required_argument, NULL, 'o' },
		{ "bad", required_argument, NULL, 'b' },
		{ "max-message-size", required_argument, NULL, 'M' },
		{ "max-value-size", required_argument, NULL, 'V' },
		{ "link-protocol", required_argument, NULL, 'l' },
		{ "ice", no_argument, NULL, 'I' },
		{ "stun", required_argument, NULL, 'S' },
		{ "turn", required_argument, NULL, 'U' },
		{ "turn-credentials", required_argument, NULL, 'C' },
		{ "turn-density", required_argument, NULL, 'T' },
		{ "sip-domain", required_argument, NULL, 'R' },
		{ "sip-own-domain", no_argument, NULL, 'O' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *stun[4], *turn[4], *tcred = NULL, *sipdom[4];
	size_t nstun = 0, nturn = 0, nsipdom = 0;
	int sip_own = 0;
	int ice = 0, turn_density = -1;
	const char *uname[8];
	int uidx[8];
	size_t nuser = 0;
	const char *dir = NULL, *overlay = "test.p2psip", *bad[8], *lp[4];
	size_t nbad = 0, nlp = 0;
	unsigned long max_msg = 0, max_value = 4096;
	int nodes = 0, c;
	p2p_err e = { 0 };
	char p[1024], cadir[1024], user[128];
	time_t now = time(NULL);

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n': nodes = atoi(optarg); break;
		case 'o': overlay = optarg; break;
		case 'M': max_msg = strtoul(optarg, NULL, 10); break;
		case 'V': max_value = strtoul(optarg, NULL, 10); break;
		case 'b':
			if (nbad < 8)
				bad[nbad++] = optarg;
			break;
		case 'l':
			if (nlp < 4)
				lp[nlp++] = optarg;
			break;
		case 'I': ice = 1; break;
		case 'S':
			if (nstun < 4)
				stun[nstun++] = optarg;
			break;
		case 'U':
			if (nturn < 4)
				turn[nturn++] = optarg;
			break;
		case 'C': tcred = optarg; break;
		case 'T': turn_density = atoi(optarg); break;
		case 'R':
			if (nsipdom < 4)
				sipdom[nsipdom++] = optarg;
			break;
		case 'O': sip_own = 1; break;
		case 'u': {
			char *colon = strchr(optarg, ':');
			if (nuser == 8 || colon == NULL || colon == optarg ||
			    colon[1] == '\0')
				die("--user I:NAME", NULL);
			uidx[nuser] = atoi(optarg);
			uname[nuser++] = colon + 1;
			break;
		}
		default: return 2;
		}
	}
	if (dir == NULL || nodes < 0 || nodes > 1000)
		die("overlay: --dir DIR --nodes N", NULL);
	mkdir(dir, 0755);
	path(cadir, sizeof(cadir), dir, "ca");
	if (mkdir(cadir, 0700) != 0)
		die(cadir, NULL);

	EVP_PKEY *cak = p2p_key_generate(P2P_KEY_EC_P256, &e);
	X509 *ca = cak != NULL ? p2p_ca_create(cak, "p2psip test CA", 30,
	    &e) : NULL;
	if (ca == NULL)
		die("CA", &e);
	path(p, sizeof(p), cadir, "ca.pem");
	if (p2p_cert_save(ca, p, &e) != 0)
		die(p, &e);
	path(p, sizeof(p), cadir, "ca.key");
	if (p2p_key_save(cak, p, &e) != 0)
		die(p, &e);

	/* The configuration, signed by a CA-issued signer. */
	EVP_PKEY *sk = p2p_key_generate(P2P_KEY_EC_P256, &e);
	p2p_id sid;
	X509 *sc = issue(cak, ca, sk, overlay, "config-signer", 0,
	    now + 30 * 86400, &sid);
	p2p_config cf;
	p2p_identity ident;
	p2p_wbuf w, s;
	uint8_t *der;
	size_t dl;

	p2p_config_init(&cf);
	cf.instance_name = strdup(overlay);
	cf.sequence = 1;
		if (max_msg > 0)
		cf.max_message_size = (uint32_t)max_msg;
	cf.no_ice = !ice;
	if (turn_density >= 0)
		cf.turn_density = (unsigned)turn_density;
	for (size_t i = 0; i < nstun; i++)
		ice_server(&cf, 0, stun[i]);
	for (size_t i = 0; i < nturn; i++)
		ice_server(&cf, 1, turn[i]);
	if (tcred != NULL) {
		const char *colon = strchr(tcred, ':');
		if (colon == NULL ||
		    (cf.turn_username = strndup(tcred, (size_t)(colon - tcred))) ==
		    NULL || (cf.turn_password = strdup(colon + 1)) == NULL)
			die("--turn-credentials USER:PASS", NULL);
	}
	if (nlp > 0) {
		for (size_t i = 0; i < cf.nlink_protocols; i++)
			free(cf.link_protocols[i]);
		free(cf.link_protocols);
		cf.link_protocols = NULL;
		cf.nlink_protocols = 0;
		for (size_t i = 0; i < nlp; i++)
			if (p2p_config_add_string(&cf.link_protocols,
			    &cf.nlink_protocols, lp[i]) != 0)
				die("link protocol", NULL);
	}
	if (p2p_cert_to_der(ca, &der, &dl, &e) != 0 ||
	    p2p_config_add_root_cert(&cf, der, dl) != 0)
		die("root cert", &e);
	free(der);
	p2p_config_add_id(&cf.config_signers, &cf.nconfig_signers, &sid);
	if (nsipdom > 0 || sip_own) {
		/* RFC 7904's domain-restriction, as p2p-ca init writes it */
		if (p2p_config_add_sip_kind(&cf, 10, 4096, nsipdom > 0,
		    (char **)sipdom, nsipdom) != 0)
			die("sip domain-restriction", NULL);
	} else
		p2p_config_add_builtin_kind(&cf, P2P_KIND_SIP_REGISTRATION, 10,
		    4096);
	p2p_config_add_builtin_kind(&cf, P2P_KIND_TURN_SERVICE, 1, 100);
	{
		/* the private kinds p2p-ca init defines */
		static const struct {
			uint32_t id;
			const char *label;
			enum p2p_data_model model;
			uint32_t max_count;
			enum p2p_access policy;
		} own[] = {
			{ 0xf0000001u, "single", P2P_MODEL_SINGLE, 1,
		    P2P_AC_USER_MATCH },
			{ 0xf0000002u, "array", P2P_MODEL_ARRAY, 256,
		    P2P_AC_USER_MATCH },
			{ 0xf0000003u, "dictionary", P2P_MODEL_DICTIONARY, 256,
		    P2P_AC_USER_MATCH },
		{ 0xf0000004u, "node", P2P_MODEL_SINGLE, 1,
		    P2P_AC_NODE_MATCH },
		};
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
			p2p_kind_def k;
			memset(&k, 0, sizeof(k));
			k.id = own[i].id;
			k.label = (char *)own[i].label;
			k.model = own[i].model;
			k.policy = own[i].policy;
			k.max_count = own[i].max_count;
			k.max_size = (uint32_t)max_value;
			if (p2p_config_add_kind(&cf, &k) != 0)
				die("kinds", NULL);
		}
	}
	p2p_w_init(&w, 0);
	p2p_w_init(&s, 0);
	if (p2p_config_write(&cf, &w, &e) != 0)
		die("config", &e);
	if (p2p_identity_init(&ident, sk, sc, NULL, &e) != 0 ||
	    p2p_config_sign((const char *)w.p, w.len, &ident, &s, &e) != 0)
		die("config signature", &e);

	for (int i = 0; i < nodes; i++) {
		char nd[64];
		snprintf(nd, sizeof(nd), "n%d", i);
		path(p, sizeof(p), dir, nd);
		snprintf(user, sizeof(user), "user%d@%s", i, overlay);
		for (size_t k = 0; k < nuser; k++)
			if (uidx[k] == i)
				snprintf(user, sizeof(user), "%s@%s", uname[k],
				    overlay);
		write_node(p, (const char *)s.p, s.len, ca, ca, cak, overlay, user,
		    0, now + 30 * 86400, NULL, 0);
	}
	for (size_t i = 0; i < nbad; i++) {
		path(p, sizeof(p), dir, bad[i]);
		snprintf(user, sizeof(user), "%s@%s", bad[i], overlay);
		if (strcmp(bad[i], "other-ca") == 0) {
			EVP_PKEY *ok = p2p_key_generate(P2P_KEY_EC_P256, &e);
			X509 *oca = p2p_ca_create(ok, "another CA", 30, &e);
			if (oca == NULL)
				die("other CA", &e);
			/* Its ca.pem is the real root: only the cert differs. */
			write_node(p, (const char *)s.p, s.len, ca, oca, ok, overlay,
			    user, 0, now + 30 * 86400, NULL, 0);
			X509_free(oca);
			EVP_PKEY_free(ok);
		} else if (strcmp(bad[i], "expired") == 0) {
			write_node(p, (const char *)s.p, s.len, ca, ca, cak, overlay,
			    user, now - 3 * 86400, now - 86400, NULL, 0);
		} else if (strcmp(bad[i], "revoked") == 0) {
			char serial[64];
			const char *list[1] = { serial };
			X509_CRL *crl;
			write_node(p, (const char *)s.p, s.len, ca, ca, cak, overlay,
			    user, 0, now + 30 * 86400, serial, sizeof(serial));
			crl = p2p_crl_make(cak, ca, list, 1, 7, &e);
			if (crl == NULL)
				die("CRL", &e);
			for (int j = 0; j <= nodes; j++) {
				char nd[64], cp[1024];
				FILE *f;
				if (j < nodes)
					snprintf(nd, sizeof(nd), "n%d", j);
				else
					snprintf(nd, sizeof(nd), "%s", bad[i]);
				path(cp, sizeof(cp), dir, nd);
				strncat(cp, "/crl.pem", sizeof(cp) - strlen(cp) - 1);
				if ((f = fopen(cp, "w")) == NULL ||
				    !PEM_write_X509_CRL(f, crl) || fclose(f) != 0)
					die(cp, NULL);
			}
			X509_CRL_free(crl);
		} else {
			die("--bad: other-ca, expired or revoked", NULL);
		}
	}
	p2p_identity_free(&ident);
	p2p_config_free(&cf);
	p2p_w_free(&w);
	p2p_w_free(&s);
	X509_free(sc);
	EVP_PKEY_free(sk);
	X509_free(ca);
	EVP_PKEY_free(cak);
	return 0;
}

/* ---- send ---- */

static struct {
	p2p_identity id;
	const char *msg;
	int corrupt;
	uint8_t option_flags;
	p2p_id dest;		/* --dest: the Node-ID to address */
	int has_dest;
	uint32_t overlay;
	size_t pad, frag_mtu;
	const char *resource;
	int drop_last;
	uint32_t seq;
	uint16_t config_seq;	/* of NODEDIR/overlay.xml */
	const char *config_file;
	unsigned repeat, answers;	/* --repeat; answers printed */
	uint8_t *wire;		/* the encoded message, for --repeat */
	size_t wirelen;
	int done;
	int rc;
	uint8_t rx[1 << 16];
	size_t rxlen;
	uv_timer_t timer;
} S;

/* Send one message or fragment in a frame of its own. */
static int
k_frame(const uint8_t *msg, size_t len, void *arg)
{
	p2p_frag_hdr h;
	p2p_wbuf f;

	if (S.drop_last && p2p_frag_peek(msg, len, &h) == 0 &&
	    (h.fragment & P2P_FRAG_LAST))
		return 0;
	p2p_w_init(&f, 0);
	if (p2p_frame_data_encode(&f, S.seq++, msg, len) != 0) {
		p2p_w_free(&f);
		return -1;
	}
	p2p_tls_write(arg, f.p, f.len);
	p2p_w_free(&f);
	return 0;
}

/* A StoreReq of one value under the identity's own user name, to its
 * Resource-ID; forge flips a bit of the value's signature. */
static void
store_body(p2p_wbuf *body, p2p_msg *m, uint32_t kind,
    enum p2p_data_model model, const char *value, int forge)
{
	static p2p_stored_data sd;
	static p2p_kind_data kd;
	static p2p_store_req sr;
	static p2p_sigbuf vsb;
	static p2p_id rid;
	static p2p_dest rd;
	p2p_err e = { 0 };
	p2p_wbuf in;
	const char *user = S.id.info.user;

	p2p_id_from_name(&rid, user, strlen(user));
	memset(&sd, 0, sizeof(sd));
	sd.storage_time = (uint64_t)time(NULL) * 1000;
	sd.lifetime = 60;
	if (model == P2P_MODEL_ARRAY)
		sd.value.index = P2P_ARRAY_APPEND;
	sd.value.data.exists = 1;
	sd.value.data.value.p = (const uint8_t *)value;
	sd.value.data.value.len = strlen(value);
	sd.sig.signer = S.id.signer;
	p2p_w_init(&in, 256);
	if (p2p_stored_data_sig_input(&in, (p2p_bytes){ rid.b,
	    P2P_ID_LEN }, kind, model, &sd) != 0 ||
	    p2p_sign_data(&S.id, in.p, in.len, &sd.sig, &vsb, &e) != 0)
		die("stored data signature", &e);
	p2p_w_free(&in);
	if (forge)
		vsb.b[sd.sig.value.len / 2] ^= 0x01;
	kd.kind = kind;
	kd.model = model;
	kd.values = &sd;
	kd.nvalues = 1;
	sr.resource.p = rid.b;
	sr.resource.len = P2P_ID_LEN;
	sr.kinds = &kd;
	sr.nkinds = 1;
	m->code = P2P_STORE_REQ;
	p2p_store_req_encode(body, &sr);
	p2p_dest_resource(&rd, &rid);
	m->dest = &rd;
}

static void
k_open(p2p_tls_conn *c)
{
	X509 *peer = p2p_tls_conn_peer_cert(c);
	p2p_cert_info ci;
	p2p_err e = { 0 };
	p2p_msg m;
	p2p_dest d;
	p2p_cert cert;
	p2p_sigbuf sb;
	p2p_wbuf body, w;

	if (peer == NULL || p2p_cert_info_get(peer, &ci, &e) != 0 ||
	    ci.nids == 0)
		die("peer certificate", &e);
	p2p_msg_init(&m);
	m.overlay = S.overlay;
	m.config_seq = S.config_seq;
	if (RAND_bytes((unsigned char *)&m.transaction_id, 8) != 1)
		die("random", NULL);
	p2p_dest_node(&d, &ci.ids[0]);
	m.dest = &d;
	m.ndest = 1;
	p2p_w_init(&body, 64);
	if (strcmp(S.msg, "ping") == 0) {
		static uint8_t pad[65535];
		p2p_ping_req pr = { { pad, S.pad } };
		static p2p_id prid;
		static p2p_dest pd;
		for (size_t i = 0; i < S.pad; i++)
			pad[i] = (uint8_t)i;
		if (S.resource != NULL) {
			p2p_id_from_name(&prid, S.resource, strlen(S.resource));
			p2p_dest_resource(&pd, &prid);
			m.dest = &pd;
		}
		m.code = P2P_PING_REQ;
		p2p_ping_req_encode(&body, &pr);
	} else if (strcmp(S.msg, "join-other") == 0) {
		p2p_join_req jr;
		memset(&jr, 0, sizeof(jr));
		p2p_id_random(&jr.joining_peer_id);
		m.code = P2P_JOIN_REQ;
		p2p_join_req_encode(&body, &jr);
	} else if (strcmp(S.msg, "store-forged") == 0) {
		store_body(&body, &m, 0xf0000001u, P2P_MODEL_SINGLE, "forged",
		    1);
	} else if (strcmp(S.msg, "store-append") == 0) {
		store_body(&body, &m, 0xf0000002u, P2P_MODEL_ARRAY, "appended",
		    0);
	} else if (strcmp(S.msg, "attach-udp") == 0) {
		static const uint8_t lo[4] = { 127, 0, 0, 1 };
		static p2p_ice_cand uc;
		p2p_attach at;

		memset(&uc, 0, sizeof(uc));
		p2p_addr_port_v4(&uc.addr, lo, 9);
		uc.overlay_link = P2P_LINK_DTLS_UDP_SR_NO_ICE;
		uc.foundation.p = (const uint8_t *)"1";
		uc.foundation.len = 1;
		uc.priority = 1;
		uc.type = P2P_CAND_HOST;
		memset(&at, 0, sizeof(at));
		at.ufrag.p = (const uint8_t *)"ufrag";
		at.ufrag.len = 5;
		at.password.p = (const uint8_t *)"password";
		at.password.len = 8;
		at.role.p = (const uint8_t *)"passive";
		at.role.len = 7;
		at.cands = &uc;
		at.ncands = 1;
		m.code = P2P_ATTACH_REQ;
		if (p2p_attach_encode(&body, &at) != 0)
			die("attach", NULL);
	} else if (strcmp(S.msg, "config-update") == 0) {
		p2p_config_update_req q;
		uint8_t *doc = NULL;
		size_t len = 0;

		if (S.config_file == NULL || p2p_file_read(S.config_file,
		    P2P_CONFIG_MAX_SIZE, &doc, &len) != 0)
			die("config-update: --config FILE", NULL);
		memset(&q, 0, sizeof(q));
		q.type = P2P_CONFIG_UPDATE_CONFIG;
		q.config.p = doc;
		q.config.len = len;
		m.code = P2P_CONFIG_UPDATE_REQ;
		m.config_seq = 0xffff;
		p2p_config_update_req_encode(&body, &q);
		free(doc);
	} else {
		die("--msg: ping, join-other, store-forged, store-append, "
		    "attach-udp or config-update", NULL);
	}
	if (S.has_dest) {
		p2p_dest_node(&d, &S.dest);
		m.dest = &d;
	}
	m.body.p = body.p;
	m.body.len = body.len;
	if (S.option_flags != 0) {
		static p2p_fwd_option opt;
		opt.type = 0x7e;	/* no such option */
		opt.flags = S.option_flags;
		m.options = &opt;
		m.noptions = 1;
	}
	p2p_identity_cert(&S.id, &cert);
	m.certs = &cert;
	m.ncerts = 1;
	if (p2p_msg_sign(&m, &S.id, &sb, &e) != 0)
		die("sign", &e);
	if (S.corrupt && m.sig.value.len > 0)
		sb.b[m.sig.value.len / 2] ^= 0x01;
	p2p_w_init(&w, 0);
	if (p2p_msg_encode(&w, &m) != 0)
		die("encode", NULL);
	if (S.frag_mtu > 0) {
		int k = p2p_frag_split(w.p, w.len, S.frag_mtu, k_frame, c);
		if (k < 0)
			die("fragment", NULL);
		fprintf(stderr, "p2p-testkit: %d fragments sent\n",
		    k - S.drop_last);
	} else if (k_frame(w.p, w.len, c) != 0) {
		die("encode", NULL);
	}
	if (S.repeat > 1) {
		if ((S.wire = malloc(w.len)) == NULL)
			die("memory", NULL);
		memcpy(S.wire, w.p, w.len);
		S.wirelen = w.len;
	}
	p2p_w_free(&body);
	p2p_w_free(&w);
}

/* --repeat: the first 16 hex digits of SHA-256(contents || signature). */
static void
answer_digest(const p2p_msg *m, char out[17])
{
	uint8_t h[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *x = EVP_MD_CTX_new();

	if (x == NULL || EVP_DigestInit_ex(x, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(x, m->raw_contents.p, m->raw_contents.len) != 1 ||
	    EVP_DigestUpdate(x, m->sig.value.p, m->sig.value.len) != 1 ||
	    EVP_DigestFinal_ex(x, h, NULL) != 1)
		die("SHA-256", NULL);
	EVP_MD_CTX_free(x);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void
finish(p2p_tls_conn *c, int rc)
{
	S.done = 1;
	S.rc = rc;
	uv_timer_stop(&S.timer);
	uv_close((uv_handle_t *)&S.timer, NULL);
	p2p_tls_close(c);
}

static void
k_read(p2p_tls_conn *c, const uint8_t *data, size_t len)
{
	if (S.done)
		return;
	if (len > sizeof(S.rx) - S.rxlen) {
		printf("closed too much data\n");
		finish(c, 1);
		return;
	}
	memcpy(S.rx + S.rxlen, data, len);
	S.rxlen += len;
	for (;;) {
		p2p_frame fr;
		p2p_err e = { 0 };
		size_t used;
		int st = p2p_frame_parse(S.rx, S.rxlen, 0, &fr, &used, &e);
		if (st != P2P_FRAME_OK)
			return;
		if (fr.type == P2P_FRAME_DATA) {
			_Alignas(16) static uint8_t mem[1 << 16];
			p2p_arena a;
			p2p_msg m;
			p2p_arena_init(&a, mem, sizeof(mem));
			if (p2p_msg_decode(fr.message.p, fr.message.len, NULL, &a,
			    &m, &e) != 0) {
				printf("closed undecodable answer\n");
				finish(c, 1);
				return;
			}
			char dg[17] = "";
			if (S.repeat > 1)
				answer_digest(&m, dg);
			if (m.code == P2P_ERROR) {
				p2p_error_resp er;
				if (p2p_error_decode(m.body, &a, &er, &e) == 0)
					printf("error %s %.*s%s%s\n",
					    p2p_error_name(er.code) ?
					    p2p_error_name(er.code) : "?",
					    (int)er.info.len, er.info.p,
					    *dg ? " " : "", dg);
			} else {
				printf("answer %s%s%s\n", p2p_code_name(m.code) ?
				    p2p_code_name(m.code) : "?",
				    *dg ? " " : "", dg);
			}
			fflush(stdout);
			if (++S.answers < S.repeat) {
				/* the same request again */
				memmove(S.rx, S.rx + used, S.rxlen - used);
				S.rxlen -= used;
				if (k_frame(S.wire, S.wirelen, c) != 0)
					die("encode", NULL);
				continue;
			}
			finish(c, 0);
			return;
		}
		memmove(S.rx, S.rx + used, S.rxlen - used);
		S.rxlen -= used;
	}
}

static void
k_close(p2p_tls_conn *c, const char *reason)
{
	(void)c;
	if (!S.done) {
		printf("closed %s\n", reason != NULL ? reason : "");
		S.done = 1;
		S.rc = 1;
		uv_timer_stop(&S.timer);
		uv_close((uv_handle_t *)&S.timer, NULL);
	}
}

static p2p_tls_conn *S_conn;

static void
k_timeout(uv_timer_t *t)
{
	(void)t;
	if (!S.done) {
		printf("timeout\n");
		finish(S_conn, 1);
	}
}

static int
cmd_send(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "to", required_argument, NULL, 't' },
		{ "msg", required_argument, NULL, 'm' },
		{ "corrupt-signature", no_argument, NULL, 'c' },
		{ "critical-option", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "dest", required_argument, NULL, 'D' },
		{ "pad", required_argument, NULL, 'p' },
		{ "fragment", required_argument, NULL, 'f' },
		{ "drop-last", no_argument, NULL, 'l' },
		{ "resource", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'C' },
		{ "repeat", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *to = NULL;
	char p[1024], ip[64], err[256];
	double timeout = 5;
	p2p_err e = { 0 };
	p2p_config cf;
	p2p_tls_ctx_opts o;
	p2p_tls_ctx *ctx;
	p2p_tls_cbs cbs = { k_open, k_read, NULL, k_close };
	EVP_PKEY *k;
	X509 *c;
	char *doc;
	long dl;
	FILE *f;
	int ch;

	S.msg = "ping";
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 't': to = optarg; break;
		case 'm': S.msg = optarg; break;
		case 'c': S.corrupt = 1; break;
		case 'o':
			if (strcmp(optarg, "forward") == 0)
				S.option_flags = P2P_FWDOPT_FORWARD_CRITICAL;
			else if (strcmp(optarg, "destination") == 0)
				S.option_flags = P2P_FWDOPT_DESTINATION_CRITICAL;
			else
				die("--critical-option: forward or destination",
				    NULL);
			break;
		case 'T': timeout = atof(optarg); break;
		case 'D':
			if (!p2p_id_from_hex(&S.dest, optarg))
				die("--dest: a Node-ID, 32 hex digits", NULL);
			S.has_dest = 1;
			break;
		case 'p': S.pad = strtoul(optarg, NULL, 10) & 0xffff; break;
		case 'f': S.frag_mtu = strtoul(optarg, NULL, 10); break;
		case 'l': S.drop_last = 1; break;
		case 'r': S.resource = optarg; break;
		case 'C': S.config_file = optarg; break;
		case 'R': S.repeat = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (dir == NULL || to == NULL || strchr(to, ':') == NULL)
		die("send: --dir NODEDIR --to IP:PORT", NULL);
	snprintf(ip, sizeof(ip), "%.*s", (int)(strrchr(to, ':') - to), to);
	path(p, sizeof(p), dir, "key.pem");
	if ((k = p2p_key_load(p, &e)) == NULL)
		die(p, &e);
	path(p, sizeof(p), dir, "cert.pem");
	if ((c = p2p_cert_load(p, &e)) == NULL)
		die(p, &e);
	if (p2p_identity_init(&S.id, k, c, NULL, &e) != 0)
		die("identity", &e);
	path(p, sizeof(p), dir, "overlay.xml");
	if ((f = fopen(p, "r")) == NULL)
		die(p, NULL);
	fseek(f, 0, SEEK_END);
	dl = ftell(f);
	rewind(f);
	doc = malloc((size_t)dl + 1);
	if (doc == NULL || fread(doc, 1, (size_t)dl, f) != (size_t)dl)
		die(p, NULL);
	fclose(f);
	if (p2p_config_parse(doc, (size_t)dl, NULL, &cf, &e) != 0)
		die(p, &e);
	S.overlay = p2p_overlay_hash(cf.instance_name);
	S.config_seq = (uint16_t)cf.sequence;
	memset(&o, 0, sizeof(o));
	o.role = P2P_TLS_CLIENT;
	o.cert = c;
	o.key = k;
	o.peer = P2P_TLS_PEER_ANY;
	if ((ctx = p2p_tls_ctx_new(&o, err, sizeof(err))) == NULL)
		die(err, NULL);
	uv_timer_init(uv_default_loop(), &S.timer);
	uv_timer_start(&S.timer, k_timeout, (uint64_t)(timeout * 1000), 0);
	if (p2p_tls_connect(uv_default_loop(), ctx, ip, atoi(strrchr(to,
	    ':') + 1), &cbs, NULL, &S_conn) != 0)
		die("connect", NULL);
	p2p_tls_ctx_free(ctx);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	p2p_identity_free(&S.id);
	p2p_config_free(&cf);
	EVP_PKEY_free(k);
	X509_free(c);
	free(doc);
	free(S.wire);
	return S.rc;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "overlay") == 0)
		return cmd_overlay(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	fprintf(stderr, "usage: p2p-testkit overlay|send ... (see the source)\n");
	return 2;
}
