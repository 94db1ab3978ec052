/*
 * cfgupd: deciding whether a configuration document may replace the one
 * in use (RFC 6940 s6.3.2.1, s6.5.4, s11.1). No sockets, no node: the
 * node (node_cfg.c) and the tests call the same checks.
 *
 * Sequence numbers. A configuration's sequence is 0..65534; 65535 never
 * names a configuration: it marks a ConfigUpdate request, which every node
 * accepts whatever its own sequence. After 65534 comes 0. Two sequences
 * are compared as serial numbers modulo 65535: a is newer than b when it
 * is 1..32767 steps after b, so a configuration published after a wrap
 * is still newer than the one before it.
 *
 * A candidate document replaces the current configuration only when:
 *   - it parses, and names the same overlay (instance-name);
 *   - its sequence is not 65535 and is newer than the current one;
 *   - it has not expired;
 *   - its signature verifies against the trust in use (the current roots,
 *     CRL and bad nodes) by a signer the current configuration lists as
 *     configuration-signer: only whoever may sign today's configuration
 *     may sign tomorrow's;
 *   - and, as at startup, against its own root-certs by one of its own
 *     configuration-signers, so that the node can load it after a
 *     restart.
 * A document whose sequence equals the current one is "the same" (no
 * signature check, nothing to apply).
 */
#ifndef P2P_CFGUPD_H
#define P2P_CFGUPD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "ident.h"
#include "msg.h"

/* The configuration_sequence of a ConfigUpdate request (s6.3.2.1). */
#define P2P_CONFIG_SEQ_ANY	0xffffu
/* Sequences run 0..P2P_CONFIG_SEQ_MAX, then wrap to 0. */
#define P2P_CONFIG_SEQ_MAX	65534u

/* 1 when sequence a is newer than b (both 0..65534), 0 otherwise. */
int p2p_config_seq_newer(uint32_t a, uint32_t b);
/* The sequence that follows seq: seq + 1, and 0 after 65534. */
uint32_t p2p_config_seq_next(uint32_t seq);

/* A trust store from c: its roots, its bad nodes and, when the
 * configuration permits them, self-signed certificates. NULL with err
 * set on failure. */
p2p_trust *p2p_config_trust(const p2p_config *c, p2p_err *err);

enum p2p_cfgupd_result {
	P2P_CFGUPD_REFUSED = -1,	/* err says why; err->reload_code is
					   the Error code to answer with */
	P2P_CFGUPD_NEWER = 0,		/* *out holds the new configuration */
	P2P_CFGUPD_SAME = 1,		/* same sequence: nothing to do */
};

/*
 * Check doc (len bytes) against the configuration cur in use, whose trust
 * store is trust, at time now. On P2P_CFGUPD_NEWER *out is the parsed
 * document (the caller frees it with p2p_config_free); otherwise *out is
 * left freed. Refusals set err->reload_code to Error_Invalid_Message (not
 * a configuration of this overlay), Error_Config_Too_Old (older than
 * cur), or Error_Forbidden (signature, signer, expiry).
 */
enum p2p_cfgupd_result p2p_config_check_update(const p2p_config *cur,
    const p2p_trust *trust, const char *doc, size_t len, time_t now,
    p2p_config *out, p2p_err *err);

#endif
