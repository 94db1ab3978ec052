#include "unit.h"

#include <unistd.h>

#include "config.h"
#include "ident.h"
#include "sign.h"
#include "unit_cfg.h"

#define OVERLAY "overlay.example.org"
#define HEAD "<?xml version=\"1.0\"?>\n" \
    "<overlay xmlns=\"" P2P_NS_CONFIG "\" xmlns:chord=\"" P2P_NS_CHORD "\">\n"
#define CFG "<configuration instance-name=\"" OVERLAY "\" sequence=\"3\">\n"
#define TAIL "</configuration>\n</overlay>\n"

static int
parse_str(const char *doc, p2p_config *c, p2p_err *err)
{
	return p2p_config_parse(doc, strlen(doc), NULL, c, err);
}

static void
test_builtin_kinds(void **state)
{
	const p2p_kind_info *k;

	(void)state;
	k = p2p_kind_find("SIP-REGISTRATION");
	assert_non_null(k);
	assert_int_equal(k->id, 1);
	assert_int_equal(k->model, P2P_MODEL_DICTIONARY);
	assert_int_equal(k->policy, P2P_AC_USER_NODE_MATCH);
	k = p2p_kind_find("2");
	assert_non_null(k);
	assert_string_equal(k->name, "TURN-SERVICE");
	assert_int_equal(k->model, P2P_MODEL_SINGLE);
	assert_int_equal(k->policy, P2P_AC_NODE_MULTIPLE);
	k = p2p_kind_find("CERTIFICATE_BY_NODE");
	assert_non_null(k);
	assert_int_equal(k->id, 3);
	assert_int_equal(k->model, P2P_MODEL_ARRAY);
	assert_int_equal(k->policy, P2P_AC_NODE_MATCH);
	k = p2p_kind_find("0x10");
	assert_non_null(k);
	assert_string_equal(k->name, "CERTIFICATE_BY_USER");
	assert_int_equal(k->policy, P2P_AC_USER_MATCH);
	assert_ptr_equal(p2p_kind_find("16"), k);
	assert_null(p2p_kind_find("4"));
	assert_null(p2p_kind_find("sip-registration"));
	assert_null(p2p_kind_find(""));
	assert_string_equal(p2p_data_model_name(P2P_MODEL_ARRAY), "ARRAY");
	assert_string_equal(p2p_access_name(P2P_AC_NODE_MULTIPLE),
	    "NODE-MULTIPLE");
}

static void
test_defaults(void **state)
{
	p2p_config c;
	p2p_err err;

	(void)state;
	assert_int_equal(parse_str(HEAD CFG TAIL, &c, &err), 0);
	assert_string_equal(c.instance_name, OVERLAY);
	assert_int_equal(c.sequence, 3);
	assert_true(c.expiration == 0);
	assert_string_equal(c.topology_plugin, "CHORD-RELOAD");
	assert_int_equal(c.node_id_length, 16);
	assert_int_equal(c.turn_density, 1);
	assert_true(c.clients_permitted);
	assert_false(c.no_ice);
	assert_false(c.self_signed_permitted);
	assert_int_equal(c.chord_update_interval, 600);
	assert_int_equal(c.chord_ping_interval, 3600);
	assert_true(c.chord_reactive);
	assert_int_equal(c.max_message_size, 5000);
	assert_int_equal(c.initial_ttl, 100);
	assert_int_equal(c.overlay_reliability_timer, 3000);
	assert_int_equal(c.nlink_protocols, 1);
	assert_string_equal(c.link_protocols[0], "TLS");
	assert_int_equal(c.nkinds, 0);
	assert_null(c.crl_url);
	assert_null(c.config_url);
	p2p_config_free(&c);
}

/* A configuration using every field. */
static void
fill(p2p_config *c, X509 *root, const p2p_id *signer)
{
	p2p_kind_def k;
	char *pats[2] = { "dht\\.example\\.com", ".*\\.my\\.example" };
	uint8_t *der;
	size_t len;
	p2p_id a, b;
	p2p_err err;

	assert_int_equal(p2p_config_init(c), 0);
	c->instance_name = strdup(OVERLAY);
	c->sequence = 22;
	c->expiration = 1893456000;	/* 2030-01-01T00:00:00Z */
	assert_int_equal(p2p_cert_to_der(root, &der, &len, &err), 0);
	assert_int_equal(p2p_config_add_root_cert(c, der, len), 0);
	free(der);
	assert_int_equal(p2p_config_add_string(&c->enrollment_servers,
	    &c->nenrollment_servers, "https://" OVERLAY "/enroll"), 0);
	c->self_signed_permitted = 1;
	c->self_signed_digest = P2P_DIGEST_SHA1;
	assert_int_equal(p2p_config_add_bootstrap(c, "192.0.2.1", 6084), 0);
	assert_int_equal(p2p_config_add_bootstrap(c, "2001:db8::1", 7000), 0);
	c->turn_density = 3;
	c->clients_permitted = 0;
	c->no_ice = 1;
	c->chord_update_interval = 400;
	c->chord_ping_interval = 30;
	c->chord_reactive = 0;
	c->shared_secret = strdup("s3cret <&> \"q\"");
	c->max_message_size = 4000;
	c->initial_ttl = 30;
	c->overlay_reliability_timer = 2500;
	assert_int_equal(p2p_config_add_string(&c->link_protocols,
	    &c->nlink_protocols, "DTLS"), 0);
	assert_int_equal(p2p_config_add_id(&c->config_signers,
	    &c->nconfig_signers, signer), 0);
	assert_int_equal(p2p_id_random(&a), 0);
	assert_int_equal(p2p_id_random(&b), 0);
	assert_int_equal(p2p_config_add_id(&c->kind_signers, &c->nkind_signers,
	    &a), 0);
	assert_int_equal(p2p_config_add_id(&c->bad_nodes, &c->nbad_nodes, &b),
	    0);
	assert_int_equal(p2p_config_add_string(&c->mandatory_extensions,
	    &c->nmandatory_extensions, P2P_NS_DIAG), 0);
	assert_int_equal(p2p_config_add_string(&c->mandatory_extensions,
	    &c->nmandatory_extensions, P2P_NS_SIP), 0);
	c->crl_url = strdup("https://" OVERLAY "/crl");
	assert_int_equal(p2p_config_add_ice_server(c, 0, "192.0.2.7", 3478,
	    NULL, NULL), 0);
	assert_int_equal(p2p_config_add_ice_server(c, 1, "2001:db8::1", 3479,
	    "u<1>", "p\"&'"), 0);
	assert_int_equal(p2p_config_add_ice_server(c, 1, "192.0.2.8", 3478,
	    NULL, NULL), 0);
	c->turn_username = strdup("overlay");
	c->turn_password = strdup("secret");
	c->config_url = strdup("https://" OVERLAY
	    "/.well-known/reload-config");
	/* Kinds: SIP with a domain restriction, TURN, a private kind. */
	memset(&k, 0, sizeof(k));
	k.id = P2P_KIND_SIP_REGISTRATION;
	k.named = 1;
	k.max_count = 10;
	k.max_size = 1000;
	k.domain_restriction = 1;
	k.domain_enable = 1;
	k.patterns = pats;
	k.npatterns = 2;
	k.signature = "QUJD";
	assert_int_equal(p2p_config_add_kind(c, &k), 0);
	assert_int_equal(p2p_config_add_builtin_kind(c, P2P_KIND_TURN_SERVICE,
	    1, 100), 0);
	memset(&k, 0, sizeof(k));
	k.id = 0xf0000001u;
	k.model = P2P_MODEL_ARRAY;
	k.policy = P2P_AC_NODE_MULTIPLE;
	k.max_count = 5;
	k.max_size = 64;
	k.max_node_multiple = 7;
	assert_int_equal(p2p_config_add_kind(c, &k), 0);
	/* Diagnostics access. */
	c->diag = calloc(1, sizeof(*c->diag));
	assert_non_null(c->diag);
	c->ndiag = 1;
	c->diag[0].kind = 0x0006;
	assert_int_equal(p2p_config_add_id(&c->diag[0].nodes,
	    &c->diag[0].nnodes, &a), 0);
	assert_int_equal(p2p_config_add_id(&c->diag[0].nodes,
	    &c->diag[0].nnodes, &b), 0);
}

static void
ids_equal(const p2p_id *a, size_t na, const p2p_id *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_true(p2p_id_eq(&a[i], &b[i]));
}

static void
strings_equal(char **a, size_t na, char **b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

static void
kinds_equal(const p2p_kind_def *a, const p2p_kind_def *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->named, b->named);
	assert_int_equal(a->model, b->model);
	assert_int_equal(a->policy, b->policy);
	assert_int_equal(a->max_count, b->max_count);
	assert_int_equal(a->max_size, b->max_size);
	assert_int_equal(a->max_node_multiple, b->max_node_multiple);
	assert_int_equal(a->domain_restriction, b->domain_restriction);
	assert_int_equal(a->domain_enable, b->domain_enable);
	strings_equal(a->patterns, a->npatterns, b->patterns, b->npatterns);
	if (a->signature == NULL)
		assert_null(b->signature);
	else
		assert_string_equal(a->signature, b->signature);
}

static void
opt_str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_true(a == b);
	else
		assert_string_equal(a, b);
}

static void
ice_servers_equal(const p2p_ice_server_cfg *a, size_t na,
    const p2p_ice_server_cfg *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].address, b[i].address);
		assert_int_equal(a[i].port, b[i].port);
		opt_str_equal(a[i].username, b[i].username);
		opt_str_equal(a[i].password, b[i].password);
	}
}

static void
configs_equal(const p2p_config *a, const p2p_config *b)
{
	assert_string_equal(a->instance_name, b->instance_name);
	assert_int_equal(a->sequence, b->sequence);
	assert_true(a->expiration == b->expiration);
	assert_string_equal(a->topology_plugin, b->topology_plugin);
	assert_int_equal(a->node_id_length, b->node_id_length);
	assert_int_equal(a->nroot_certs, b->nroot_certs);
	for (size_t i = 0; i < a->nroot_certs; i++) {
		assert_int_equal(a->root_certs[i].len, b->root_certs[i].len);
		assert_memory_equal(a->root_certs[i].p, b->root_certs[i].p,
		    a->root_certs[i].len);
	}
	strings_equal(a->enrollment_servers, a->nenrollment_servers,
	    b->enrollment_servers, b->nenrollment_servers);
	assert_int_equal(a->self_signed_permitted, b->self_signed_permitted);
	assert_int_equal(a->self_signed_digest, b->self_signed_digest);
	assert_int_equal(a->nbootstrap, b->nbootstrap);
	for (size_t i = 0; i < a->nbootstrap; i++) {
		assert_string_equal(a->bootstrap[i].address,
		    b->bootstrap[i].address);
		assert_int_equal(a->bootstrap[i].port, b->bootstrap[i].port);
	}
	assert_int_equal(a->turn_density, b->turn_density);
	assert_int_equal(a->clients_permitted, b->clients_permitted);
	assert_int_equal(a->no_ice, b->no_ice);
	assert_int_equal(a->chord_update_interval, b->chord_update_interval);
	assert_int_equal(a->chord_ping_interval, b->chord_ping_interval);
	assert_int_equal(a->chord_reactive, b->chord_reactive);
	assert_string_equal(a->shared_secret, b->shared_secret);
	assert_int_equal(a->max_message_size, b->max_message_size);
	assert_int_equal(a->initial_ttl, b->initial_ttl);
	assert_int_equal(a->overlay_reliability_timer,
	    b->overlay_reliability_timer);
	strings_equal(a->link_protocols, a->nlink_protocols, b->link_protocols,
	    b->nlink_protocols);
	ids_equal(a->config_signers, a->nconfig_signers, b->config_signers,
	    b->nconfig_signers);
	ids_equal(a->kind_signers, a->nkind_signers, b->kind_signers,
	    b->nkind_signers);
	ids_equal(a->bad_nodes, a->nbad_nodes, b->bad_nodes, b->nbad_nodes);
	strings_equal(a->mandatory_extensions, a->nmandatory_extensions,
	    b->mandatory_extensions, b->nmandatory_extensions);
	assert_int_equal(a->nkinds, b->nkinds);
	for (size_t i = 0; i < a->nkinds; i++)
		kinds_equal(&a->kinds[i], &b->kinds[i]);
	assert_int_equal(a->ndiag, b->ndiag);
	for (size_t i = 0; i < a->ndiag; i++) {
		assert_int_equal(a->diag[i].kind, b->diag[i].kind);
		ids_equal(a->diag[i].nodes, a->diag[i].nnodes,
		    b->diag[i].nodes, b->diag[i].nnodes);
	}
	assert_string_equal(a->crl_url, b->crl_url);
	ice_servers_equal(a->stun_servers, a->nstun_servers, b->stun_servers,
	    b->nstun_servers);
	ice_servers_equal(a->turn_servers, a->nturn_servers, b->turn_servers,
	    b->nturn_servers);
	opt_str_equal(a->turn_username, b->turn_username);
	opt_str_equal(a->turn_password, b->turn_password);
	assert_string_equal(a->config_url, b->config_url);
}

static void
test_write_parse_equal(void **state)
{
	struct signer s;
	p2p_config c, back;
	p2p_wbuf w1, w2;
	p2p_err err;

	(void)state;
	signer_make(&s, "CA");
	fill(&c, s.ca, &s.id.node);
	p2p_w_init(&w1, 0);
	p2p_w_init(&w2, 0);
	assert_int_equal(p2p_config_write(&c, &w1, &err), 0);
	if (p2p_config_parse((char *)w1.p, w1.len, OVERLAY, &back, &err) != 0)
		fail_msg("parse: %s", err.what);
	configs_equal(&c, &back);
	/* Private kind keeps its id form, built-ins their names. */
	assert_true(back.kinds[0].named);
	assert_false(back.kinds[2].named);
	assert_non_null(memmem(w1.p, w1.len, "expiration=\"2030-01-01T00:00:00Z\"",
	    33));
	assert_int_equal(p2p_config_write(&back, &w2, &err), 0);
	assert_int_equal(w1.len, w2.len);
	assert_memory_equal(w1.p, w2.p, w1.len);
	/* An unknown instance name is not found. */
	p2p_config_free(&back);
	assert_int_equal(p2p_config_parse((char *)w1.p, w1.len, "other.org",
	    &back, &err), -1);
	p2p_config_free(&back);
	p2p_config_free(&c);
	p2p_w_free(&w1);
	p2p_w_free(&w2);
	signer_free(&s);
}

static void
test_sign_verify(void **state)
{
	struct signer s, other;
	p2p_config c, back;
	p2p_wbuf w, sw;
	p2p_trust *trust, *wrong;
	p2p_sig_who who;
	p2p_err err;
	char *doc, *p;
	size_t n;

	(void)state;
	signer_make(&s, "CA");
	signer_make(&other, "Other CA");
	fill(&c, s.ca, &s.id.node);
	p2p_w_init(&w, 0);
	p2p_w_init(&sw, 0);
	assert_int_equal(p2p_config_write(&c, &w, &err), 0);
	assert_int_equal(p2p_config_sign((char *)w.p, w.len, &s.id, &sw, &err),
	    0);
	doc = (char *)sw.p;
	n = sw.len;
	/* Signing twice is refused. */
	p2p_w_reset(&w);
	assert_int_equal(p2p_config_sign(doc, n, &s.id, &w, &err), -1);

	/* The signed document parses; the roots it names verify it. */
	assert_int_equal(p2p_config_parse(doc, n, NULL, &back, &err), 0);
	trust = p2p_trust_new();
	assert_non_null(trust);
	assert_int_equal(p2p_trust_add_root_der(trust, back.root_certs[0].p,
	    back.root_certs[0].len, &err), 0);
	if (p2p_config_verify(doc, n, trust, back.config_signers,
	    back.nconfig_signers, &who, &err) != 0)
		fail_msg("verify: %s", err.what);
	assert_int_equal(who.has_node, 1);
	assert_true(p2p_id_eq(&who.node, &s.id.node));
	p2p_sig_who_clear(&who);
	/* Signers alone, or the trust alone, suffice; neither does not. */
	assert_int_equal(p2p_config_verify(doc, n, NULL, back.config_signers,
	    back.nconfig_signers, NULL, &err), 0);
	assert_int_equal(p2p_config_verify(doc, n, trust, NULL, 0, NULL, &err),
	    0);
	assert_int_equal(p2p_config_verify(doc, n, NULL, NULL, 0, NULL, &err),
	    -1);
	/* A signer not listed, a root that did not issue the signer. */
	assert_int_equal(p2p_config_verify(doc, n, trust, &other.id.node, 1,
	    NULL, &err), -1);
	assert_non_null(strstr(err.what, "configuration-signer"));
	wrong = p2p_trust_new();
	assert_non_null(wrong);
	assert_int_equal(p2p_trust_add_root(wrong, other.ca, &err), 0);
	assert_int_equal(p2p_config_verify(doc, n, wrong, NULL, 0, NULL, &err),
	    -1);
	p2p_trust_free(wrong);

	/* One byte changed inside <configuration>: refused. */
	p = strstr(doc, "<initial-ttl>30<");
	assert_non_null(p);
	p[14] = '1';
	assert_int_equal(p2p_config_verify(doc, n, trust, back.config_signers,
	    back.nconfig_signers, NULL, &err), -1);
	assert_non_null(strstr(err.what, "does not verify"));
	p[14] = '0';
	assert_int_equal(p2p_config_verify(doc, n, trust, NULL, 0, NULL, &err),
	    0);
	/* Whitespace counts too. */
	p = strstr(doc, "<no-ice>");
	assert_non_null(p);
	p[-1] = '\t';
	assert_int_equal(p2p_config_verify(doc, n, trust, NULL, 0, NULL, &err),
	    -1);
	p[-1] = ' ';
	/* A damaged signature. */
	p = strstr(doc, "<signature>");
	assert_non_null(p);
	p[11 + 40] = p[11 + 40] == 'A' ? 'B' : 'A';
	assert_int_equal(p2p_config_verify(doc, n, trust, NULL, 0, NULL, &err),
	    -1);

	p2p_trust_free(trust);
	p2p_config_free(&back);
	p2p_config_free(&c);
	p2p_w_free(&w);
	p2p_w_free(&sw);
	signer_free(&s);
	signer_free(&other);
}

static void
put_str(p2p_wbuf *w, const char *s)
{
	p2p_w_raw(w, s, strlen(s));
}

static void
test_verify_refuses_decoy(void **state)
{
	struct signer s;
	p2p_config c, c2;
	p2p_wbuf w, sw, evil;
	p2p_err err;
	const char *body;
	size_t off;

	(void)state;
	signer_make(&s, "CA");
	fill(&c, s.ca, &s.id.node);
	p2p_w_init(&w, 0);
	p2p_w_init(&sw, 0);
	p2p_w_init(&evil, 0);
	assert_int_equal(p2p_config_write(&c, &w, &err), 0);
	assert_int_equal(p2p_config_sign((char *)w.p, w.len, &s.id, &sw, &err),
	    0);
	/* The signed element hidden in a comment before an unsigned one. */
	body = memmem(sw.p, sw.len, "<configuration ", 15);
	assert_non_null(body);
	off = (size_t)(body - (char *)sw.p);
	p2p_w_raw(&evil, sw.p, off);
	p2p_w_raw(&evil, "<!-- ", 5);
	p2p_w_raw(&evil, sw.p + off, sw.len - off - strlen("</overlay>\n"));
	p2p_w_raw(&evil, " -->\n", 5);
	put_str(&evil, "<configuration instance-name=\"x\" sequence=\"1\"/>"
	    "</overlay>\n");
	/* libxml2 would read the unsigned element; the verifier refuses. */
	assert_int_equal(p2p_config_parse((char *)evil.p, evil.len, NULL, &c2,
	    &err), 0);
	assert_string_equal(c2.instance_name, "x");
	p2p_config_free(&c2);
	assert_int_equal(p2p_config_verify((char *)evil.p, evil.len, NULL,
	    &s.id.node, 1, NULL, &err), -1);
	assert_non_null(strstr(err.what, "comment"));
	p2p_config_free(&c);
	p2p_w_free(&w);
	p2p_w_free(&sw);
	p2p_w_free(&evil);
	signer_free(&s);
}

static void
expect_refused(const char *doc, const char *needle)
{
	p2p_config c;
	p2p_err err;

	if (parse_str(doc, &c, &err) == 0)
		fail_msg("accepted: %s", doc);
	if (needle != NULL && strstr(err.what, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.what, needle);
	p2p_config_free(&c);
}

static void
test_parse_refusals(void **state)
{
	(void)state;
	expect_refused(HEAD CFG "<no-ice>true</no-ice>\n</overlay>",
	    "well-formed");
	expect_refused("", "well-formed");
	expect_refused(HEAD CFG "<node-id-length>20</node-id-length>" TAIL,
	    "128-bit");
	expect_refused(HEAD CFG "<mandatory-extension>urn:example:ext"
	    "</mandatory-extension>" TAIL, "urn:example:ext");
	expect_refused(HEAD CFG "<topology-plugin>EXP-OVERLAY</topology-plugin>"
	    TAIL, "CHORD-RELOAD");
	expect_refused(HEAD CFG "<no-ice>maybe</no-ice>" TAIL, "no-ice");
	expect_refused(HEAD CFG "<initial-ttl>30</initial-ttl>"
	    "<initial-ttl>31</initial-ttl>" TAIL, "more than once");
	expect_refused(HEAD CFG "<overlay-reliability-timer>100"
	    "</overlay-reliability-timer>" TAIL, "200");
	expect_refused(HEAD CFG "<max-message-size>-1</max-message-size>" TAIL,
	    "max-message-size");
	expect_refused(HEAD CFG "<frobnicate/>" TAIL, "frobnicate");
	expect_refused(HEAD CFG "<chord:chord-frob>1</chord:chord-frob>" TAIL,
	    "chord-frob");
	expect_refused(HEAD CFG "<root-cert>AAAA</root-cert>" TAIL,
	    "root-cert");
	expect_refused(HEAD CFG "<root-cert>!!!</root-cert>" TAIL, "base64");
	expect_refused(HEAD CFG "<bootstrap-node address=\"host.example\"/>"
	    TAIL, "bootstrap");
	expect_refused(HEAD CFG "<enrollment-server>http://x/</enrollment-server>"
	    TAIL, "https");
	expect_refused(HEAD CFG "<bad-node>1234</bad-node>" TAIL, "Node-ID");
	expect_refused(HEAD CFG "<self-signed-permitted>true"
	    "</self-signed-permitted>" TAIL, "digest");
	expect_refused(HEAD "<configuration sequence=\"1\"/></overlay>",
	    "instance-name");
	expect_refused(HEAD "<configuration instance-name=\"a\" "
	    "sequence=\"70000\"/></overlay>", "sequence");
	expect_refused(HEAD "<configuration instance-name=\"a\" sequence=\"1\" "
	    "expiration=\"tomorrow\"/></overlay>", "RFC 3339");
	expect_refused("<overlay><configuration instance-name=\"a\" "
	    "sequence=\"1\"/></overlay>", "namespace");
	expect_refused(HEAD "</overlay>", "no <configuration>");
	expect_refused(HEAD CFG "<required-kinds><kind-block>"
	    "<kind name=\"NO-SUCH-KIND\"><max-count>1</max-count>"
	    "<max-size>1</max-size></kind></kind-block></required-kinds>" TAIL,
	    "NO-SUCH-KIND");
	expect_refused(HEAD CFG "<required-kinds><kind-block>"
	    "<kind id=\"4026531841\"><max-count>1</max-count>"
	    "<max-size>1</max-size></kind></kind-block></required-kinds>" TAIL,
	    "data-model");
	expect_refused(HEAD CFG "<required-kinds><kind-block>"
	    "<kind id=\"4026531841\"><data-model>SINGLE</data-model>"
	    "<access-control>NODE-MULTIPLE</access-control>"
	    "<max-count>1</max-count><max-size>1</max-size></kind>"
	    "</kind-block></required-kinds>" TAIL, "max-node-multiple");
	expect_refused(HEAD CFG "<required-kinds><kind-block>"
	    "<kind name=\"TURN-SERVICE\"><max-size>1</max-size></kind>"
	    "</kind-block></required-kinds>" TAIL, "max-count");
	expect_refused(HEAD CFG "<required-kinds><kind-block>"
	    "<kind name=\"SIP-REGISTRATION\"><max-count>1</max-count>"
	    "<max-size>1</max-size><sip:domain-restriction xmlns:sip=\""
	    P2P_NS_SIP "\" enable=\"true\"><sip:pattern>(unclosed"
	    "</sip:pattern></sip:domain-restriction></kind></kind-block>"
	    "</required-kinds>" TAIL, "regular expression");
	expect_refused(HEAD CFG "<required-kinds><kind-block>"
	    "<kind name=\"TURN-SERVICE\"><max-count>1</max-count>"
	    "<max-size>1</max-size></kind></kind-block><kind-block>"
	    "<kind id=\"2\"><max-count>1</max-count><max-size>1</max-size>"
	    "</kind></kind-block></required-kinds>" TAIL, "twice");
}

/* A document whose SIP-REGISTRATION kind has one domain pattern. */
static char *
doc_with_pattern(const char *pattern)
{
	static const char head[] = HEAD CFG "<required-kinds><kind-block>"
	    "<kind name=\"SIP-REGISTRATION\"><max-count>1</max-count>"
	    "<max-size>1</max-size><sip:domain-restriction xmlns:sip=\""
	    P2P_NS_SIP "\" enable=\"true\"><sip:pattern>";
	static const char tail[] = "</sip:pattern></sip:domain-restriction>"
	    "</kind></kind-block></required-kinds>" TAIL;
	char *d = malloc(sizeof(head) + strlen(pattern) + sizeof(tail));

	assert_non_null(d);
	strcpy(d, head);
	strcat(d, pattern);
	strcat(d, tail);
	return d;
}

/* Pattern text made of n copies of open, then mid, then n of close. */
static char *
nested(const char *open, const char *mid, const char *close, size_t n)
{
	size_t lo = strlen(open), lc = strlen(close), i;
	char *s = malloc(n * (lo + lc) + strlen(mid) + 1), *q;

	assert_non_null(s);
	q = s;
	for (i = 0; i < n; i++, q += lo)
		memcpy(q, open, lo);
	strcpy(q, mid);
	q += strlen(mid);
	for (i = 0; i < n; i++, q += lc)
		memcpy(q, close, lc);
	*q = '\0';
	return s;
}

static void
expect_pattern(const char *pattern, const char *needle)
{
	char *d = doc_with_pattern(pattern);
	p2p_config c;
	p2p_err err;

	if (needle == NULL) {
		if (parse_str(d, &c, &err) != 0)
			fail_msg("refused %.60s: %s", pattern, err.what);
		assert_int_equal(c.nkinds, 1);
		assert_int_equal(c.kinds[0].npatterns, 1);
		assert_string_equal(c.kinds[0].patterns[0], pattern);
		p2p_config_free(&c);
	} else {
		expect_refused(d, needle);
	}
	free(d);
}

/* regcomp is never given a pattern that would take it too far. */
static void
test_pattern_limits(void **state)
{
	char *p;

	(void)state;
	expect_pattern("^sip:[^@]+@([a-z0-9-]{1,63}\\.){1,4}example\\.com$",
	    NULL);
	expect_pattern("[]{}()[:alpha:]]+x{2}{3}", NULL);
	/* nesting: the stack of regcomp */
	p = nested("(", "a", ")", 32);
	expect_pattern(p, NULL);
	free(p);
	p = nested("(", "a", ")", 33);
	expect_pattern(p, "too deep");
	free(p);
	p = nested("(", "a", ")", 40000);
	expect_pattern(p, "too long");
	free(p);
	/* repetition: the memory of regcomp */
	expect_pattern("((a{1,255}){1,255}){1,255}", "repeats too much");
	expect_pattern("(a{1,32767}){1,32767}", "repeats too much");
	expect_pattern("a{1,99999999999999999999999}", "repeats too much");
	expect_pattern("a{0}", NULL);
	p = nested("(", "a", "){9}", 4);
	expect_pattern(p, "repeats too much");
	free(p);
	p = nested("(", "a", "){9}", 2);
	expect_pattern(p, NULL);
	free(p);
	/* '+' copies its operand: nested or stacked, it multiplies */
	p = nested("(", "a", ")+", 4);
	expect_pattern(p, NULL);
	free(p);
	p = nested("(", "a", ")+", 8);
	expect_pattern(p, "repeats too much");
	free(p);
	expect_pattern("x)++++++++++++++++++++++++++++++", "repeats too much");
	/* repetitions of what can match nothing: the time of regcomp */
	expect_pattern("(a*)*{1,300}(b*)*{1,300}", "can match nothing");
	expect_pattern("(()*){1,300}(()*){1,300}", "can match nothing");
	expect_pattern("(a?){1,300}", "can match nothing");
	expect_pattern("(a|)+", "can match nothing");
	expect_pattern("(x|(a|b?)c?)*", "can match nothing");
	expect_pattern("a*?", "can match nothing");
	expect_pattern("(\\&lt;)+", "can match nothing");
	expect_pattern("(ab|cd)*x+(www\\.)?a{0}(b{0,3}c)+", NULL);
	expect_pattern("(a)\\1", "back-reference");
	/* still refused by regcomp itself */
	expect_pattern("(unclosed", "regular expression");
}

static void
test_parse_oversize(void **state)
{
	size_t n = P2P_CONFIG_MAX_SIZE + 1;
	char *doc = malloc(n);
	const char *head = HEAD CFG;
	p2p_config c;
	p2p_err err;

	(void)state;
	assert_non_null(doc);
	memset(doc, ' ', n);
	memcpy(doc, head, strlen(head));
	memcpy(doc + n - strlen(TAIL), TAIL, strlen(TAIL));
	assert_int_equal(p2p_config_parse(doc, n, NULL, &c, &err), -1);
	assert_non_null(strstr(err.what, "larger"));
	p2p_config_free(&c);
	/* One byte less (a blank dropped) is within the limit. */
	memmove(doc + strlen(head), doc + strlen(head) + 1,
	    n - strlen(head) - 1);
	assert_int_equal(p2p_config_parse(doc, n - 1, NULL, &c, &err), 0);
	p2p_config_free(&c);
	free(doc);
}

static void
test_entities_not_expanded(void **state)
{
	char dir[] = "/tmp/p2p_cfg_XXXXXX", path[64], doc[1024];
	p2p_config c;
	p2p_err err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/secret.txt", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("SECRETMARKER", f);
	fclose(f);
	snprintf(doc, sizeof(doc), "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE overlay [ <!ENTITY x SYSTEM \"file://%s\"> "
	    "<!ENTITY y \"internal\"> ]>\n"
	    "<overlay xmlns=\"" P2P_NS_CONFIG "\">" CFG
	    "<shared-secret>&x;&y;</shared-secret>" TAIL, path);
	assert_int_equal(parse_str(doc, &c, &err), -1);
	assert_non_null(strstr(err.what, "document type"));
	assert_null(c.shared_secret);
	p2p_config_free(&c);
	unlink(path);
	rmdir(dir);
}

static void
test_parse_variants(void **state)
{
	static const char doc[] = HEAD
	    "<configuration instance-name=\"a.example\" sequence=\"7\" "
	    "expiration=\"2030-01-01T01:00:00.5+01:00\" xmlns:x=\"urn:x\" "
	    "xmlns:diag=\"" P2P_NS_DIAG "\" xmlns:p=\"" P2P_NS_P2PSIP "\">\n"
	    "<x:vendor-thing><x:deep/></x:vendor-thing>\n"
	    "<kind-signers><signer>000102030405060708090a0b0c0d0e0f</signer>"
	    "</kind-signers>\n"
	    "<configuration-signers><signer>"
	    "0F0E0D0C0B0A09080706050403020100</signer></configuration-signers>\n"
	    "<bad-nodes><bad-node>11111111111111111111111111111111</bad-node>"
	    "</bad-nodes>\n"
	    "<bad-node>22222222222222222222222222222222</bad-node>\n"
	    "<clients-permitted> 0 </clients-permitted>\n"
	    "<overlay-link-protocol>DTLS</overlay-link-protocol>\n"
	    "<bootstrap-node address=\"10.0.0.1\"/>\n"
	    "<mandatory-extension>" P2P_NS_DIAG "</mandatory-extension>\n"
	    "<diag:diagnostic-kind kind=\"0x0002\"><diag:access-node>"
	    "33333333333333333333333333333333</diag:access-node>"
	    "</diag:diagnostic-kind>\n"
	    "<p:crl-url>https://a.example/crl</p:crl-url>\n"
	    "<p:config-url>https://a.example/c</p:config-url>\n"
	    "<required-kinds><kind-block><kind name=\"SIP-REGISTRATION\">"
	    "<data-model>SINGLE</data-model><access-control>USER-MATCH"
	    "</access-control><max-count>1</max-count><max-size>100</max-size>"
	    "<sip:domain-restriction xmlns:sip=\"" P2P_NS_SIP "\"/>"
	    "<x:extra/></kind></kind-block></required-kinds>\n"
	    "</configuration>\n"
	    "<configuration instance-name=\"b.example\" sequence=\"8\"/>\n"
	    "</overlay>\n";
	p2p_config c;
	p2p_err err;
	char hex[P2P_ID_HEXLEN + 1];

	(void)state;
	if (parse_str(doc, &c, &err) != 0)
		fail_msg("parse: %s", err.what);
	assert_true(c.expiration == 1893456000);
	assert_int_equal(c.nkind_signers, 1);
	assert_int_equal(c.kind_signers[0].b[15], 0x0f);
	assert_int_equal(c.nconfig_signers, 1);
	assert_string_equal(p2p_id_hex(&c.config_signers[0], hex),
	    "0f0e0d0c0b0a09080706050403020100");
	assert_int_equal(c.nbad_nodes, 2);
	assert_false(c.clients_permitted);
	assert_int_equal(c.nlink_protocols, 1);
	assert_string_equal(c.link_protocols[0], "DTLS");
	assert_int_equal(c.nbootstrap, 1);
	assert_int_equal(c.bootstrap[0].port, 6084);
	assert_int_equal(c.ndiag, 1);
	assert_int_equal(c.diag[0].kind, 2);
	assert_int_equal(c.diag[0].nnodes, 1);
	assert_string_equal(c.crl_url, "https://a.example/crl");
	assert_string_equal(c.config_url, "https://a.example/c");
	/* The registered model and policy win over the document's. */
	assert_int_equal(c.nkinds, 1);
	assert_int_equal(c.kinds[0].model, P2P_MODEL_DICTIONARY);
	assert_int_equal(c.kinds[0].policy, P2P_AC_USER_NODE_MATCH);
	assert_true(c.kinds[0].domain_restriction);
	assert_false(c.kinds[0].domain_enable);
	assert_int_equal(c.kinds[0].npatterns, 0);
	p2p_config_free(&c);
	/* The second instance by name. */
	assert_int_equal(p2p_config_parse(doc, strlen(doc), "b.example", &c,
	    &err), 0);
	assert_int_equal(c.sequence, 8);
	p2p_config_free(&c);
}

/* The STUN/TURN extension elements: parsed, defaults, refusals. */
static void
test_ice_servers(void **state)
{
	static const char head[] =
	    "<overlay xmlns=\"" P2P_NS_CONFIG "\" xmlns:p=\"" P2P_NS_P2PSIP
	    "\"><configuration instance-name=\"a.example\" sequence=\"1\">";
	static const char *bad[] = {
		"<p:stun-server/>",
		"<p:stun-server address=\"stun.example\"/>",
		"<p:stun-server address=\"192.0.2.1\" port=\"0\"/>",
		"<p:turn-server address=\"192.0.2.1\" port=\"65536\"/>",
		"<p:turn-server address=\"192.0.2.1\" username=\"u\"/>",
		"<p:turn-server address=\"192.0.2.1\" username=\"\" "
		    "password=\"p\"/>",
		"<p:turn-server address=\"192.0.2.1\" username=\"u&#9;\" "
		    "password=\"p\"/>",
		"<p:turn-credentials username=\"u\"/>",
		"<p:turn-credentials username=\"u\" password=\"p\"/>"
		    "<p:turn-credentials username=\"u\" password=\"p\"/>",
		"<p:stun-server address=\"192.0.2.1\"/>"
		    "<p:stun-server address=\"192.0.2.2\"/>"
		    "<p:stun-server address=\"192.0.2.3\"/>"
		    "<p:stun-server address=\"192.0.2.4\"/>"
		    "<p:stun-server address=\"192.0.2.5\"/>",
	};
	char doc[1024];
	p2p_config c;
	p2p_err err;

	(void)state;
	snprintf(doc, sizeof(doc), "%s%s</configuration></overlay>", head,
	    "<no-ice>false</no-ice>"
	    "<p:stun-server address=\"198.51.100.1\"/>"
	    "<p:turn-server address=\"198.51.100.2\" port=\"3479\" "
	    "username=\"alice\" password=\"s3cret\"/>"
	    "<p:turn-server address=\"2001:db8::2\"/>"
	    "<p:turn-credentials username=\"ov\" password=\"pw\"/>");
	if (parse_str(doc, &c, &err) != 0)
		fail_msg("parse: %s", err.what);
	assert_false(c.no_ice);
	assert_int_equal(c.nstun_servers, 1);
	assert_string_equal(c.stun_servers[0].address, "198.51.100.1");
	assert_int_equal(c.stun_servers[0].port, P2P_STUN_PORT);
	assert_null(c.stun_servers[0].username);
	assert_int_equal(c.nturn_servers, 2);
	assert_int_equal(c.turn_servers[0].port, 3479);
	assert_string_equal(c.turn_servers[0].username, "alice");
	assert_string_equal(c.turn_servers[0].password, "s3cret");
	assert_null(c.turn_servers[1].username);
	assert_string_equal(c.turn_username, "ov");
	assert_string_equal(c.turn_password, "pw");
	p2p_config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "%s%s</configuration></overlay>",
		    head, bad[i]);
		if (parse_str(doc, &c, &err) == 0)
			fail_msg("accepted: %s", bad[i]);
		p2p_config_free(&c);
	}
}

static void
test_base64(void **state)
{
	static const uint8_t in[] = { 0, 1, 2, 0xfe, 0xff };
	uint8_t *out;
	size_t n;
	char *s;

	(void)state;
	for (size_t len = 0; len <= sizeof(in); len++) {
		s = p2p_base64_encode(in, len);
		assert_non_null(s);
		if (len == 0) {
			assert_string_equal(s, "");
			free(s);
			continue;
		}
		assert_int_equal(p2p_base64_decode(s, strlen(s), &out, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(out, in, len);
		free(out);
		free(s);
	}
	assert_int_equal(p2p_base64_decode(" AA\nEC\n", 7, &out, &n), 0);
	assert_int_equal(n, 3);
	free(out);
	assert_int_equal(p2p_base64_decode("AAE", 3, &out, &n), -1);
	assert_int_equal(p2p_base64_decode("A*E=", 4, &out, &n), -1);
}

static void
test_private_kind_names(void **state)
{
	p2p_config c, d;
	p2p_kind_def k;
	p2p_wbuf w;
	p2p_err e = { 0 };

	(void)state;
	assert_int_equal(p2p_config_init(&c), 0);
	c.instance_name = strdup("k.example");
	memset(&k, 0, sizeof(k));
	k.id = 0xf0000001u;
	k.model = P2P_MODEL_DICTIONARY;
	k.policy = P2P_AC_USER_MATCH;
	k.max_count = 5;
	k.max_size = 100;
	k.label = "dict";
	assert_int_equal(p2p_config_add_kind(&c, &k), 0);
	assert_int_equal(p2p_config_add_builtin_kind(&c,
	    P2P_KIND_SIP_REGISTRATION, 10, 1000), 0);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_config_write(&c, &w, &e), 0);
	assert_int_equal(p2p_config_parse((const char *)w.p, w.len, NULL, &d,
	    &e), 0);
	assert_non_null(p2p_config_kind(&d, "dict"));
	assert_int_equal(p2p_config_kind(&d, "dict")->id, 0xf0000001u);
	assert_int_equal(p2p_config_kind(&d, "dict")->model,
	    P2P_MODEL_DICTIONARY);
	assert_ptr_equal(p2p_config_kind(&d, "0xf0000001"),
	    p2p_config_kind(&d, "dict"));
	assert_ptr_equal(p2p_config_kind(&d, "4026531841"),
	    p2p_config_kind(&d, "dict"));
	assert_int_equal(p2p_config_kind(&d, "SIP-REGISTRATION")->id, 1);
	assert_null(p2p_config_kind(&d, "nope"));
	assert_null(p2p_config_kind(&d, "2"));	/* not in this overlay */
	p2p_w_free(&w);
	p2p_config_free(&c);
	p2p_config_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_kind_names),
		cmocka_unit_test(test_builtin_kinds),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_write_parse_equal),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_verify_refuses_decoy),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_parse_oversize),
		cmocka_unit_test(test_pattern_limits),
		cmocka_unit_test(test_entities_not_expanded),
		cmocka_unit_test(test_parse_variants),
		cmocka_unit_test(test_ice_servers),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
