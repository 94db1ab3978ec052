/*
 * ice: one ICE agent (RFC 8445) for one stream of one component, as
 * RELOAD's Attach and AppAttach use it (RFC 6940 s6.5.1, s6.5.2), on top
 * of libnice. Host, server-reflexive (STUN) and relayed (TURN, RFC 5766)
 * candidates; regular nomination; consent freshness (RFC 7675).
 *
 * Life of an agent:
 *   p2p_ice_new       role, STUN server, TURN servers, local address
 *   p2p_ice_gather    later on_gathered gives ufrag, password and the
 *                     local candidates as RFC 6940 IceCandidates
 *   p2p_ice_set_remote  the peer's ufrag, password and candidates (from
 *                     its Attach or AppAttach); checks start
 *   on_connected      a pair is selected: the agent hands over a
 *                     p2p_dgram (dgram.h) that carries datagrams on it;
 *                     from then on the dgram owns the agent: close the
 *                     dgram to end it, on_gone says ICE lost the pair
 *   on_failed         gathering or checks failed, or the deadline passed;
 *                     the user then calls p2p_ice_free
 * Before on_connected the user ends the agent with p2p_ice_free. No
 * callback is called from inside the function that was called.
 *
 * All agents of a node share one p2p_ice_ctx (see ice.c for how libnice's
 * GLib main loop meets the node's libuv loop).
 */
#ifndef P2P_ICE_H
#define P2P_ICE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "body_link.h"
#include "dgram.h"

typedef struct p2p_ice_ctx p2p_ice_ctx;
typedef struct p2p_ice p2p_ice;

#define P2P_ICE_MAX_TURN 4

/* A STUN or TURN server: a numeric IPv4 or IPv6 address and a port;
 * TURN servers also take a username and password (long-term
 * credentials, RFC 5389 s10.2). */
typedef struct p2p_ice_server {
	char host[48];
	uint16_t port;
	char user[128];
	char pass[128];
} p2p_ice_server;

typedef struct p2p_ice_cfg {
	int controlling;	/* 1: controlling agent, 0: controlled */
	char local_ip[48];	/* host candidates on this address only;
				   "" for every interface */
	p2p_ice_server stun;	/* host "" for none */
	p2p_ice_server turn[P2P_ICE_MAX_TURN];
	size_t nturn;
	uint8_t overlay_link;	/* the OverlayLinkType put in candidates and
				   expected in the peer's (p2p_link_type) */
	uint32_t timeout_ms;	/* gathering plus checks; 0: 20 s */
	int relay_only;		/* offer and use relayed candidates only
				   (tests, or a policy of hiding addresses) */
} p2p_ice_cfg;

typedef struct p2p_ice_cbs {
	/* ufrag and pwd are NUL-terminated; the candidates, their
	 * foundations and the strings live as long as the agent. */
	void (*on_gathered)(p2p_ice *ice, const char *ufrag, const char *pwd,
	    const p2p_ice_cand *cands, size_t ncands, void *arg);
	void (*on_connected)(p2p_ice *ice, p2p_dgram *d, void *arg);
	void (*on_failed)(p2p_ice *ice, const char *why, void *arg);
} p2p_ice_cbs;

/* The GLib side of every agent of one libuv loop. NULL on failure (err
 * says why). Freeing it ends every agent; one whose dgram is still open
 * carries no more datagrams and is freed when the dgram is closed (or
 * p2p_ice_free is called). The handles it had on the loop close on the
 * loop's next turn. */
p2p_ice_ctx *p2p_ice_ctx_new(uv_loop_t *loop, char *err, size_t errlen);
void p2p_ice_ctx_free(p2p_ice_ctx *ctx);

p2p_ice *p2p_ice_new(p2p_ice_ctx *ctx, const p2p_ice_cfg *cfg,
    const p2p_ice_cbs *cbs, void *arg, char *err, size_t errlen);
/* Start gathering; on_gathered or on_failed follows. 0 or -1. */
int p2p_ice_gather(p2p_ice *ice);
/*
 * The peer's credentials and candidates. Candidates of another overlay
 * link type, of an address type other than IPv4/IPv6 and with a port 0
 * are skipped. 0, or -1 when nothing usable was given (the agent is left
 * as it was).
 */
int p2p_ice_set_remote(p2p_ice *ice, const uint8_t *ufrag, size_t ulen,
    const uint8_t *pwd, size_t plen, const p2p_ice_cand *cands,
    size_t ncands);
int p2p_ice_controlling(const p2p_ice *ice);
/* After on_connected: the selected pair as "TYPE ADDR -> TYPE ADDR"
 * (local, then remote; types host, srflx, prflx, relay), for logs. */
const char *p2p_ice_pair(const p2p_ice *ice);
/* End an agent that has not handed over its dgram. */
void p2p_ice_free(p2p_ice *ice);

/* Printable "ip:port" of an IceCandidate's address, for logs. */
void p2p_ice_cand_str(const p2p_ice_cand *c, char *buf, size_t cap);

#endif
