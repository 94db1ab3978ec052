/*
 * node: the RELOAD peer behind p2p-node.
 */
#ifndef P2P_NODE_H
#define P2P_NODE_H

#include <stddef.h>

typedef struct p2p_node_opts {
	const char *dir;	/* node directory: key.pem, cert.pem, ca.pem,
				   overlay.xml (as p2p-enroll writes them) */
	const char *listen;	/* "ip:port"; NULL: 127.0.0.1:6084 */
	const char **bootstrap;	/* "ip:port" each; NULL: the configuration's */
	size_t nbootstrap;
	const char *socket;	/* control socket; NULL: see control.h */
	const char *sip;	/* SIP front "ip:port" (UDP and TCP); NULL:
				   none */
	const char *sip_password_file;	/* the front asks its user agents
					   for this password (Digest); NULL:
					   it does not */
	const char *sip_tls;	/* SIP over TLS for user agents "ip:port";
				   NULL: none (needs sip) */
	const char *sip_tls_cert;	/* its certificate (PEM, chain after
					   it) and key; NULL: the node's */
	const char *sip_tls_key;
	int client;		/* a client node (RFC 6940 s3.2): no place on
				   the ring, one link to the peer responsible
				   for its Node-ID; needs a bootstrap node */
	int log_level;		/* 0 error .. 3 debug */
	int use_syslog;
	int ready_fd;		/* >= 0: write one byte when serving */
	/* Timers; 0 takes the configuration's value (or the RFC's). */
	unsigned update_interval_s;	/* chord-update-interval */
	unsigned ping_interval_s;	/* chord-ping-interval */
	/* The MTU of TLS links: the largest RELOAD message (or fragment,
	 * forwarding header included) sent in one framed message; longer
	 * ones are fragmented. 0: P2P_LINK_MTU_DEFAULT. */
	size_t link_mtu;
	/* Re-fetch the configuration from its configuration server this
	 * often (seconds); 0: every hour. */
	unsigned config_refresh_s;
	/* "ip:port" ([ip6]:port) of a TURN server this peer advertises in
	 * the TURN-SERVICE kind (node_turnsvc.c); NULL: none. */
	const char *turn_service;
} p2p_node_opts;

/* One TLS record's worth of plaintext (RFC 8446 s5.1). */
#define P2P_LINK_MTU_DEFAULT	16384
#define P2P_LINK_MTU_MIN	576

/*
 * Run a node until it is stopped (control "stop", SIGINT, SIGTERM).
 * Returns 0 after a clean stop; on a setup failure 1 with a message for
 * a person in err.
 */
int p2p_node_run(const p2p_node_opts *o, char *err, size_t errlen);

#endif
