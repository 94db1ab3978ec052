/*
 * cfgupd: whether a configuration document may replace the one in use
 * (see cfgupd.h).
 */
#include "cfgupd.h"

#include <string.h>

#define SEQ_MOD		(P2P_CONFIG_SEQ_MAX + 1)	/* 65535 */

int
p2p_config_seq_newer(uint32_t a, uint32_t b)
{
	uint32_t d;

	if (a > P2P_CONFIG_SEQ_MAX || b > P2P_CONFIG_SEQ_MAX)
		return 0;
	d = (a + SEQ_MOD - b) % SEQ_MOD;
	return d != 0 && d <= SEQ_MOD / 2;
}

uint32_t
p2p_config_seq_next(uint32_t seq)
{
	return seq >= P2P_CONFIG_SEQ_MAX ? 0 : seq + 1;
}

p2p_trust *
p2p_config_trust(const p2p_config *c, p2p_err *err)
{
	p2p_trust *t = p2p_trust_new();

	if (t == NULL) {
		p2p_err_set(err, 0, "out of memory", 0);
		return NULL;
	}
	for (size_t i = 0; i < c->nroot_certs; i++)
		if (p2p_trust_add_root_der(t, c->root_certs[i].p,
		    c->root_certs[i].len, err) != 0) {
			p2p_trust_free(t);
			return NULL;
		}
	if (c->self_signed_permitted)
		p2p_trust_allow_self_signed(t, c->self_signed_digest);
	for (size_t i = 0; i < c->nbad_nodes; i++)
		if (p2p_trust_add_bad_node(t, &c->bad_nodes[i], err) != 0) {
			p2p_trust_free(t);
			return NULL;
		}
	return t;
}

static enum p2p_cfgupd_result
refuse(p2p_config *out, p2p_err *err, uint16_t code, const char *what)
{
	p2p_config_free(out);
	if (what != NULL)
		p2p_err_set(err, code, what, 0);
	else
		err->reload_code = code;
	return P2P_CFGUPD_REFUSED;
}

/* As at startup: signed by one of its own signers under its own roots. */
static int
verify_own(const char *doc, size_t len, const p2p_config *c, p2p_err *err)
{
	p2p_trust *t;
	int rc;

	if (c->nroot_certs == 0 && c->nconfig_signers == 0) {
		p2p_err_set(err, 0, "the new configuration has neither "
		    "root-cert nor configuration-signer", 0);
		return -1;
	}
	if ((t = c->nroot_certs > 0 ? p2p_config_trust(c, err) : NULL) ==
	    NULL && c->nroot_certs > 0)
		return -1;
	rc = p2p_config_verify(doc, len, t, c->config_signers,
	    c->nconfig_signers, NULL, err);
	p2p_trust_free(t);
	return rc;
}

enum p2p_cfgupd_result
p2p_config_check_update(const p2p_config *cur, const p2p_trust *trust,
    const char *doc, size_t len, time_t now, p2p_config *out, p2p_err *err)
{
	if (p2p_config_parse(doc, len, NULL, out, err) != 0)
		return refuse(out, err, P2P_ERR_INVALID_MESSAGE, NULL);
	if (cur->instance_name == NULL || out->instance_name == NULL ||
	    strcmp(cur->instance_name, out->instance_name) != 0)
		return refuse(out, err, P2P_ERR_INVALID_MESSAGE,
		    "the configuration is for another overlay");
	if (out->sequence > P2P_CONFIG_SEQ_MAX)
		return refuse(out, err, P2P_ERR_INVALID_MESSAGE,
		    "sequence 65535 is reserved");
	if (out->sequence == cur->sequence) {
		p2p_config_free(out);
		return P2P_CFGUPD_SAME;
	}
	if (!p2p_config_seq_newer(out->sequence, cur->sequence))
		return refuse(out, err, P2P_ERR_CONFIG_TOO_OLD,
		    "the configuration is older than the one in use");
	if (out->expiration != 0 && out->expiration <= now)
		return refuse(out, err, P2P_ERR_FORBIDDEN,
		    "the configuration has expired");
	if (trust == NULL && cur->nconfig_signers == 0)
		return refuse(out, err, P2P_ERR_FORBIDDEN,
		    "no signer to check the configuration against");
	if (p2p_config_verify(doc, len, trust, cur->config_signers,
	    cur->nconfig_signers, NULL, err) != 0)
		return refuse(out, err, P2P_ERR_FORBIDDEN, NULL);
	if (verify_own(doc, len, out, err) != 0)
		return refuse(out, err, P2P_ERR_FORBIDDEN, NULL);
	return P2P_CFGUPD_NEWER;
}
