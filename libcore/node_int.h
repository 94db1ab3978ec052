/*
 * node_int: the inside of p2p-node, shared by node*.c. Not installed.
 *
 * One libuv loop owns everything. Threading rule: every p2p_node field,
 * the trust and its certificate cache (certcache.h, not thread-safe) are
 * touched from the loop thread only; work handed to libuv's pool (the CRL
 * fetch, node_crl.c) gets its inputs copied and returns its result to the
 * loop through the after-work callback. One timer runs the periodic work
 * of every module, armed for the earliest *_next_due (node.c). The pieces:
 *   node.c        setup (identity, configuration, trust, listener), the
 *                 timer armed for the next deadline, logging, stop
 *   node_link.c   overlay links: TLS over TCP or DTLS over UDP (the one
 *                 UDP socket, rlink's reliability), FramedMessage
 *                 framing, the connection table
 *   node_route.c  receiving, forwarding and originating messages: via and
 *                 destination lists, TTL, signatures, transactions,
 *                 reassembly of fragmented messages (frag.h), answers
 *                 kept for retransmitted requests (anscache.h)
 *   node_topo.c   Attach, Join, Update, Leave, Ping, Probe, RouteQuery
 *                 and the Chord events they drive
 *   node_ctl.c    the JSON-RPC methods of the control socket
 *   node_sipreg.c the SIP-REGISTRATION kind of RFC 7904: publishing,
 *                 refreshing, withdrawing and looking up registrations
 *   node_sip.c    the SIP front (registrar and proxy for local user
 *                 agents), AppAttach and the SIP connections between nodes
 *   node_client.c client nodes (RFC 6940 s3.2): the client's one link to
 *                 its admitting peer, and that peer's side of it
 *   node_ice.c    Attach over ICE (no-ice false): gathering, the
 *                 asynchronous request and answer, a DTLS link over the
 *                 selected pair. libnice runs in a thread of its own
 *                 (ice.c); the node sees its events on the loop only.
 *   node_crl.c    the CRL refresh, and the HTTPS GET it shares
 *   node_cfg.c    configuration sequence checks, ConfigUpdate, the
 *                 configuration refresh and its control methods
 *   node_turnsvc.c the TURN-SERVICE kind (RFC 6940 s9): advertising a
 *                 TURN server, discovering others for the ICE agents
 *   node_stun.c   which STUN and TURN servers answer at all, so that
 *                 the ICE agents leave out those that do not
 */
#ifndef P2P_NODE_INT_H
#define P2P_NODE_INT_H

#include <stdarg.h>
#include <stdint.h>

#include <uv.h>

#include "body_link.h"
#include "chord.h"
#include "config.h"
#include "control.h"
#include "dgram.h"
#include "frame.h"
#include "ident.h"
#include "msg.h"
#include "node.h"
#include "sign.h"
#include "tls.h"
#include "txn.h"
#include "dtls.h"
#include "rlink.h"
#include "udpmux.h"

enum { NLOG_ERROR = 0, NLOG_WARN, NLOG_INFO, NLOG_DEBUG };

struct p2p_node;

typedef struct p2p_link {
	struct p2p_node *node;
	/* The transport: a TLS connection, or DTLS with the reliability
	 * layer (dtls set). Only node_link.c looks inside. */
	p2p_tls_conn *conn;
	p2p_dtls *dtls;
	p2p_rlink *rl;
	enum p2p_link_type type;	/* OverlayLinkType of this link */
	uint64_t id;
	p2p_id peer;		/* from the verified certificate */
	int has_peer;
	int open;		/* handshake done, peer verified */
	int outbound;
	int bootstrap;		/* opened to a bootstrap address */
	int update_on_open;	/* send a full Update once open (Attach) */
	int client;		/* the far end is a client admitted here */
	p2p_id expect;		/* Node-ID an Attach told us to expect */
	int has_expect;
	uint32_t tx_seq;
	uint8_t *rx;
	size_t rxlen, rxcap;
	p2p_frame_history hist;
	uint64_t last_rx_ms;
	uint64_t ping_sent_ms;	/* keepalive Ping outstanding since */
	/* The largest message (or fragment) sent whole in one frame;
	 * link_send fragments longer ones. TLS links: the node's
	 * link_mtu; DTLS links: one record on their path (the path's
	 * MTU less the DTLS and framing overhead), set when open. */
	size_t mtu;
	char addr[64];
	struct p2p_link *next;
} p2p_link;

enum join_state {
	JOIN_ALONE = 0,		/* first node: the ring is just us */
	JOIN_BOOTSTRAP,		/* connecting to a bootstrap node */
	JOIN_ATTACH,		/* Attach to our own id + 1 sent */
	JOIN_UPDATE,		/* waiting for the admitting peer's Update */
	JOIN_NEIGHBORS,		/* Attaching to the neighbors it named */
	JOIN_JOIN,		/* Join sent */
	JOIN_DONE,		/* in the ring */
};

/* Message codes 0x00..0x3f get a slot each, Error the last one. */
#define NODE_MSG_SLOTS 0x41

/* What a message counter counts. */
typedef struct node_stats {
	uint64_t rx, tx, forwarded, delivered;
	uint64_t bad_signature, malformed, dropped, errors_sent;
	uint64_t links_refused;
	uint64_t fragments_tx;	/* fragments sent (and re-fragmented) */
	uint64_t wakeups;	/* runs of the node's timer */
	uint64_t direct_tx;	/* requests sent straight to the peer
				   known to be responsible (node_route.c) */
	/* For the diagnostics (node_diag.c): per message code, framed
	 * bytes, and their averages over 5 s periods. */
	uint64_t msg_sent[NODE_MSG_SLOTS], msg_rcvd[NODE_MSG_SLOTS];
	uint64_t bytes_tx, bytes_rx;
	uint64_t ewma_start_ms, ewma_win_tx, ewma_win_rx;
	double ewma_tx, ewma_rx;	/* bytes per second */
} node_stats;

/* A peer and a deadline: an Attach we sent and whose link is not up
 * yet, or a peer that left (node_topo.c). */
typedef struct peer_until {
	p2p_id peer;
	uint64_t until_ms;
} peer_until;

#define NODE_MAX_PENDING_ATTACH 64
/* Resource-IDs whose responsible peer this node has learnt from its
 * answers (node_route.c). */
typedef struct direct_route {
	p2p_id res, owner;
	uint64_t until_ms;
	unsigned answers;	/* from this owner in a row */
} direct_route;
#define NODE_DIRECT_ROUTES 32
#define NODE_MAX_LEFT 16
/* A ConfigUpdate request carries a whole configuration document, which
 * is larger than the RFC's default max-message-size (5000) already: it
 * alone may be up to this size (other messages keep the overlay's
 * max-message-size). Larger documents travel only by the configuration
 * server. */
#define NODE_CFGUPD_MAX_MSG	(64 * 1024)
#define NODE_MAX_LINKS 512
/* Inbound DTLS handshakes under way at once (after the cookie). */
#define NODE_MAX_HALF_OPEN 32

typedef struct p2p_node {
	uv_loop_t *loop;
	p2p_node_opts opts;
	p2p_config cfg;
	char *overlay;
	uint32_t overlay_hash;
	p2p_identity ident;
	p2p_trust *trust;
	p2p_tls_ctx *tls_srv, *tls_cli;
	p2p_tls_listener *listener;
	char listen_ip[48];
	uint16_t listen_port;
	/* DTLS links (overlay-link-protocol DTLS): contexts, the UDP
	 * socket on the listener's port number. */
	p2p_tls_ctx *dtls_srv, *dtls_cli;
	p2p_udpmux *udp;
	uint16_t udp_port;
	int link_tls, link_dtls;	/* link protocols the overlay allows */
	enum p2p_link_type link_pref;	/* the one we offer and use first */
	p2p_chord chord;
	enum join_state join;
	p2p_id admitting;	/* the peer we join through (a client: the
				   peer it stays attached to) */
	uint64_t join_deadline_ms;
	unsigned join_attempts;
	/* JOIN_NEIGHBORS: the neighbors the Join waits for */
	p2p_id join_wait[2 * P2P_CHORD_MAX_NEIGHBORS];
	size_t njoin_wait;
	size_t next_bootstrap;
	p2p_txn_table txns;
	p2p_link *links;
	unsigned nlinks;
	uint64_t next_link_id;
	peer_until attach[NODE_MAX_PENDING_ATTACH];
	size_t nattach;
	direct_route direct[NODE_DIRECT_ROUTES];
	/* Peers whose Leave we took: stale Updates of others may name them
	 * for a while yet; they are not taken back until then. */
	peer_until left[NODE_MAX_LEFT];
	size_t nleft;
	p2p_ctl_server *ctl;
	char socket_path[512];
	uv_timer_t tick;	/* armed for the next deadline (node.c) */
	uint64_t tick_due;	/* what it is armed for (UINT64_MAX: not) */
	uint64_t tick_ms;	/* when it last ran */
	uv_prepare_t prepare;	/* re-arms it before the loop waits */
	uv_signal_t sigint, sigterm;
	uint64_t start_ms;
	int stopping;
	uv_timer_t stop_timer;
	node_stats st;
	int exit_code;
	struct p2p_store *store;	/* data this peer holds */
	uint64_t sweep_at;	/* next replication sweep (0: none due) */
	uint64_t last_storage_time;	/* of the last value put */
	uint64_t crl_next_ms;	/* next CRL refresh */
	int crl_busy;		/* a refresh is under way */
	struct sipreg_state *sipreg;	/* node_sipreg.c */
	struct sip_front *sip;		/* node_sip.c */
	/* A client (opts.client, node_client.c): the peer that answered its
	 * latest Attach, until that peer's link is up too. */
	p2p_id client_cand;
	int client_has_cand;
	uint64_t client_cand_until;
	uint64_t client_check_ms;	/* next check of the admitting peer */
	int client_moving;	/* an Update said another peer owns us */
	struct p2p_reasm *reasm;	/* node_route.c, made on first use */
	struct p2p_anscache *anscache;	/* node_route.c: answers kept */
	struct ice_state *ice;		/* node_ice.c; NULL with no-ice */
	char *cfg_doc;		/* the signed document of cfg */
	size_t cfg_doc_len;
	struct cfg_state *cfgu;		/* node_cfg.c */
	struct turnsvc_state *turnsvc;	/* node_turnsvc.c */
	struct stun_state *stun;	/* node_stun.c, made on first tick */
} p2p_node;

/* node.c */
void node_log(p2p_node *n, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t node_now(p2p_node *n);
/* Milliseconds from then to now, 0 when then is later: node_now moves on
 * during a tick, so a time taken by the tick's own work (a message sent,
 * a link made) can be later than the now the tick started with. */
static inline uint64_t
node_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}
uint64_t node_wall_ms(void);
void node_stop(p2p_node *n, const char *why);
const char *node_id_short(const p2p_id *id, char buf[9]);

/* node_link.c */
int link_listen(p2p_node *n, char *err, size_t errlen);
/* A link of the given OverlayLinkType (TLS-TCP-FH-NO-ICE or
 * DTLS-UDP-SR-NO-ICE) to ip:port. */
p2p_link *link_connect(p2p_node *n, enum p2p_link_type type, const char *ip,
    int port, const p2p_id *expect, int bootstrap);
/* Does this node make and take links of this OverlayLinkType? */
int link_type_ok(const p2p_node *n, uint8_t type);
const char *link_type_name(enum p2p_link_type type);
/* Close the UDP socket and the links over it (stopping). */
void link_udp_close(p2p_node *n);
p2p_link *link_by_peer(p2p_node *n, const p2p_id *id);
/* A DTLS-UDP-SR link over an ICE pair (node_ice.c): DTLS server for the
 * Attach sender, client for the answerer; the peer must be expect when
 * given. The link takes the path (closes it on failure too). */
p2p_link *link_ice_open(p2p_node *n, p2p_dgram *d, int server,
    const p2p_id *expect);
/* A TLS context with this node's certificate and the overlay's roots,
 * whose peers are judged by cb (other connections than overlay links). */
p2p_tls_ctx *link_ctx_new(p2p_node *n, enum p2p_tls_role role,
    p2p_tls_verify_cb cb, void *arg, char *err, size_t errlen);
/* The same for DTLS (datagram) connections. */
p2p_tls_ctx *dlink_ctx_new(p2p_node *n, enum p2p_tls_role role,
    p2p_dtls_verify_cb cb, void *arg, char *err, size_t errlen);
int link_send(p2p_link *l, const uint8_t *msg, size_t len);
void link_close(p2p_link *l, const char *why);
void link_close_all(p2p_node *n);
void link_keepalive(p2p_node *n, uint64_t now);
uint64_t link_next_due(p2p_node *n);

/* node_route.c */
typedef void (*node_ans_cb)(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who);
void route_receive(p2p_link *from, const uint8_t *buf, size_t len);
int route_request(p2p_node *n, const p2p_dest *dest, size_t ndest,
    uint16_t code, const p2p_wbuf *body, const p2p_msg_ext *exts,
    size_t nexts, p2p_link *via_link, node_ans_cb cb, void *user);
/* The same with certificates added to ours in the message (those that
 * stored values need, say). */
int route_request_certs(p2p_node *n, const p2p_dest *dest, size_t ndest,
    uint16_t code, const p2p_wbuf *body, const p2p_msg_ext *exts,
    size_t nexts, const p2p_cert *certs, size_t ncerts, p2p_link *via_link,
    node_ans_cb cb, void *user);
int route_answer_full(p2p_node *n, p2p_link *from, const p2p_msg *req,
    uint16_t code, const uint8_t *body, size_t len, const p2p_msg_ext *exts,
    size_t nexts, const p2p_cert *certs, size_t ncerts);
int route_answer(p2p_node *n, p2p_link *from, const p2p_msg *req,
    uint16_t code, const uint8_t *body, size_t len);
/* The same with message extensions (a Diagnostic_Ping answer, say). */
int route_answer_ext(p2p_node *n, p2p_link *from, const p2p_msg *req,
    uint16_t code, const uint8_t *body, size_t len, const p2p_msg_ext *exts,
    size_t nexts);
int route_error(p2p_node *n, p2p_link *from, const p2p_msg *req,
    uint16_t code, const char *info);
void route_tick(p2p_node *n, uint64_t now);
void route_link_gone(p2p_node *n, p2p_link *l);
/* Reassembly counters (all zero before the first fragment came). */
struct p2p_reasm_stats;
const struct p2p_reasm_stats *route_reasm_stats(p2p_node *n);
/* The answer cache's counters (anscache.h); all zero before the first
 * request. */
const struct p2p_anscache_stats *route_anscache_stats(p2p_node *n);
void route_free(p2p_node *n);
/* The code and printable text of an Error answer; -1 if ans is not one. */
int route_error_info(const p2p_msg *ans, uint16_t *code, char *text,
    size_t cap);

/* node_topo.c */
void topo_start(p2p_node *n);
void topo_link_open(p2p_node *n, p2p_link *l);
void topo_link_gone(p2p_node *n, p2p_link *l);
void topo_tick(p2p_node *n, uint64_t now);
uint64_t topo_next_due(p2p_node *n);
void topo_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who);
int topo_leave(p2p_node *n);
/* Connect to the next bootstrap node (to join, or as a client to find
 * the admitting peer). */
void topo_bootstrap(p2p_node *n);
/* This node's next hop toward k: P2P_CHORD_LOCAL, or P2P_CHORD_FORWARD
 * with *next set (a client: always its admitting peer). -1: a client
 * without one. */
int topo_next_hop(p2p_node *n, const p2p_id *k, p2p_id *next);
int topo_send_attach(p2p_node *n, const p2p_dest *dest, size_t ndest,
    int send_update, p2p_link *via_link);
void topo_send_update(p2p_node *n, const p2p_id *to, uint8_t type);
void topo_update_neighbors(p2p_node *n);

/* node_client.c: client nodes. On a peer, the functions about the
 * client's side do nothing and return 0. */
/* The link a client sends everything over; NULL on a peer. */
p2p_link *client_uplink(p2p_node *n);
/* 1 when l is the client's link to its admitting peer (or to the peer
 * about to become it). */
int client_is_uplink(p2p_node *n, const p2p_link *l);
/* 1 when handled as a client's link event. */
int client_link_open(p2p_node *n, p2p_link *l);
int client_link_gone(p2p_node *n, p2p_link *l);
/* A client's own Attach answered by who. */
void client_attach_answered(p2p_node *n, const p2p_id *who);
/* An Update delivered to a client: answered, and checked for a change
 * of the peer responsible for the client. */
void client_update(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, const p2p_chord_update *u);
void client_tick(p2p_node *n, uint64_t now);
/* The earlier of t and the next time client_tick has work. */
uint64_t client_next_due(p2p_node *n, uint64_t t);
/* A peer's side: does this Attach come from a node attaching to its own
 * Node-ID (a client)? Is id a client admitted here? A neighbors Update
 * to every client admitted here. */
int client_attach_is_own(const p2p_msg *m, const p2p_id *signer);
int client_is_client(p2p_node *n, const p2p_id *id);
void client_notify_all(p2p_node *n);
/* node_ice.c: Attach over ICE, used when the configuration does not say
 * no-ice (n->ice is then set). */
int ice_start(p2p_node *n, char *err, size_t errlen);
/* Stopping: end the agents and the ICE thread (on the loop). */
void ice_stop(p2p_node *n);
/* After the transaction table is freed. */
void ice_free(p2p_node *n);
/* Gather, then send the AttachReq along dest (via_link as
 * route_request); cb is called as route_request's would be. -1 (and no
 * callback) if it cannot start. */
int ice_send_attach(p2p_node *n, const p2p_dest *dest, size_t ndest,
    int send_update, p2p_link *via_link, node_ans_cb cb, void *user);
/* An AttachReq delivered here (decoded, not from ourselves); client: it
 * is a client's Attach to its admitting peer (the link is marked so). */
void ice_on_attach(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, const p2p_attach *at, int client);
/*
 * AppAttach over ICE (s6.5.2). The pair ICE selects goes to cb as a
 * datagram path (the callee owns it from then on), or, for the sender
 * only, d is NULL and why says what failed. Sender: cb gets user;
 * -1 if no agent could start (cb is not called then). Answerer: the
 * request is answered once gathered (or with an error); cb gets user 0
 * and the sender's Node-ID.
 */
typedef void (*node_path_cb)(p2p_node *n, uint64_t user, const p2p_id *peer,
    p2p_dgram *d, const char *why);
int ice_send_app_attach(p2p_node *n, const p2p_id *peer, uint16_t app,
    node_path_cb cb, uint64_t user);
void ice_on_app_attach(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, const p2p_app_attach *aa, node_path_cb cb);
/* The STUN and TURN servers (with credentials) this node's agents use,
 * for the SIP front's status: what p2p-call's media agents use too. A
 * JSON object, or JSON null when the overlay does not use ICE. */
struct json_t *ice_servers_json(p2p_node *n);
/* What this node's ICE agents are given now (as the answering side). */
struct p2p_ice_cfg;
void ice_agent_cfg(p2p_node *n, struct p2p_ice_cfg *c);

/* node_stun.c: the STUN and TURN servers the agents may use, each asked
 * now and then whether it is there. stun_server_pick sets *out to the
 * STUN server the ICE agents should use (1), or finds none usable (0);
 * stun_turn_usable: is that TURN server not known to be silent?
 * stun_json: the servers and what is known of them for status (null
 * with no ICE). */
void stun_tick(p2p_node *n, uint64_t now);
uint64_t stun_next_due(p2p_node *n);
int stun_server_pick(p2p_node *n, const p2p_ice_server_cfg **out);
int stun_turn_usable(p2p_node *n, const char *host, uint16_t port);
struct json_t *stun_json(p2p_node *n);
void stun_stop(p2p_node *n);

/* node_turnsvc.c: the TURN-SERVICE kind. turnsvc_stop withdraws what
 * is advertised (call it while requests may still be sent) and returns
 * how many requests went out. turnsvc_ice_servers fills out with up to
 * cap discovered TURN servers, with the configuration's
 * turn-credentials, and returns how many. */
struct p2p_ice_server;
int turnsvc_start(p2p_node *n, char *err, size_t errlen);
void turnsvc_tick(p2p_node *n, uint64_t now);
uint64_t turnsvc_next_due(p2p_node *n);
int turnsvc_stop(p2p_node *n);
void turnsvc_free(p2p_node *n);
size_t turnsvc_ice_servers(p2p_node *n, struct p2p_ice_server *out,
    size_t cap);
void turnsvc_ctl_register(p2p_node *n);

/* node_ctl.c */
int ctl_start(p2p_node *n, char *err, size_t errlen);
/* Answer a control request from a transaction that brought no usable
 * answer (timeout, Error answer, ...). */
void ctl_fail(p2p_ctl_req *req, enum p2p_txn_status st, const p2p_msg *ans);

/* node_crl.c */
void crl_start(p2p_node *n);
void crl_tick(p2p_node *n, uint64_t now);
uint64_t crl_next_due(p2p_node *n);
/* An HTTPS GET of url, the server checked against NODEDIR/ca.pem, at most
 * max bytes. node_https_get blocks: call it before the loop runs, or
 * queue work with node_https_work (j->work.data is j). */
typedef struct node_https_job {
	uv_work_t work;
	p2p_node *n;
	char url[1024];
	char ca_file[4096];
	size_t max;
	uint8_t *body;
	size_t len;
	int over;
	char err[1024];		/* empty after a success */
} node_https_job;
node_https_job *node_https_job_new(p2p_node *n, const char *url,
    size_t max);
void node_https_job_free(node_https_job *j);
int node_https_get(node_https_job *j);
void node_https_work(uv_work_t *w);

/* node_cfg.c: the configuration sequence (RFC 6940 s6.3.2.1), the
 * ConfigUpdate method (s6.5.4) and the configuration refresh (s11.2). */
int cfg_init(p2p_node *n);
void cfg_free(p2p_node *n);
void cfg_tick(p2p_node *n, uint64_t now);
/* When the next configuration fetch is due (UINT64_MAX: none). */
uint64_t cfg_next_due(p2p_node *n);
/* The largest message of this code a node sends or takes. */
size_t cfg_msg_limit(const p2p_node *n, uint16_t code);
/* Any message received on a link: a newer sequence starts a fetch. */
void cfg_seen(p2p_node *n, uint16_t seq, uint16_t code);
/* A request delivered here: 1 when its sequence differs from ours and
 * it was answered with Error_Config_Too_Old/New (and the sender, when
 * older, sent our configuration), 0 when it goes on to its handler. */
int cfg_check_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who);
/* An answer delivered here: an older answerer gets our configuration. */
void cfg_check_answer(p2p_node *n, const p2p_msg *m, const p2p_sig_who *who);
void cfg_update_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a);
/* Control methods: "config", "config.update". */
void cfg_ctl_register(p2p_node *n);

/* node_store.c */
int store_init(p2p_node *n);
void store_free(p2p_node *n);
void store_tick(p2p_node *n, uint64_t now);
uint64_t store_next_due(p2p_node *n, uint64_t now);
void store_ring_changed(p2p_node *n);
void store_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a);
void store_ctl_register(p2p_node *n);
/* The configuration's kind of this id; NULL if it has none. */
const p2p_kind_def *store_kind_def(const p2p_node *n, uint32_t id);
/* A lookup of the configuration's kinds, for the storage decoders. */
p2p_kind_lookup store_kind_lookup(p2p_node *n);
/* Sign sd as this node's value of kind def at rid (storage_time set to
 * now, later than any value this node stored before; signer us) and
 * append to body the StoreReq that carries it alone. 0; -1 when it
 * cannot be signed, -2 when the request cannot be encoded. */
int store_req_signed(p2p_node *n, const p2p_id *rid, const p2p_kind_def *def,
    p2p_stored_data *sd, uint64_t generation, p2p_wbuf *body);
/* Call fn for each existing value of kind def in a FetchAns from rid
 * whose signature and access policy check out, as a fetching peer
 * checks them (RFC 6940 s7.4.2.2); who names its signer. Returns how
 * many were refused (each is logged). */
typedef void (*store_value_fn)(p2p_node *n, void *arg,
    const p2p_stored_data *sd, const p2p_sig_who *who);
size_t store_fetched_each(p2p_node *n, const p2p_id *rid,
    const p2p_kind_def *def, const p2p_fetch_ans *fa, const p2p_msg *ans,
    store_value_fn fn, void *arg);

/* node_diag.c: PathTrack, Diagnostic_Ping, the "trace" and "diag"
 * control methods. */
void diag_path_track(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a);
/* A PingReq: 1 when it carried a Diagnostic_Ping and was answered here,
 * 0 when it is a plain Ping for on_ping. */
int diag_ping(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who);
/* Count a message of this code sent (sent = 1) or received. */
void diag_count_msg(p2p_node *n, uint16_t code, int sent);
/* Count framed bytes sent or received on a link. */
void diag_count_bytes(p2p_node *n, size_t len, int sent);
void diag_ctl_register(p2p_node *n);
/* What a PathTrack or Diagnostic_Ping handler checks before answering
 * (also used by the fuzz target): 0, or -1 with err->reload_code set. */
struct p2p_path_track_req;
struct p2p_diag_req;
int diag_path_track_parse(p2p_bytes body, uint64_t now_ms, p2p_arena *a,
    struct p2p_path_track_req *out, p2p_err *err);
int diag_req_parse(p2p_bytes contents, uint64_t now_ms, p2p_arena *a,
    struct p2p_diag_req *out, p2p_err *err);

/* node_sipreg.c: the SIP-REGISTRATION kind (RFC 7904 s3) for the users
 * of this node. AORs are "user@domain" (no "sip:", no parameters, the
 * domain in lower case). Callbacks (may be NULL) are never called from
 * inside the function that takes them; a function that returns -1 calls
 * nothing back. */
enum sipreg_status {
	SIPREG_OK = 0,
	SIPREG_NOT_FOUND,	/* no live registration under the AOR */
	SIPREG_FORBIDDEN,	/* the responsible peer refused the value */
	SIPREG_TIMEOUT,		/* no answer from the overlay */
	SIPREG_ERROR,		/* anything else (why says what) */
};
typedef void (*sipreg_done_cb)(p2p_node *n, void *user,
    enum sipreg_status st, const char *why);
/* One registration found under an AOR. */
typedef struct sipreg_target {
	p2p_id storer;		/* the dictionary key: who registered */
	int is_uri;		/* sip_registration_uri: uri is set */
	char uri[256];
	/* sip_registration_route: the destination list; the last entry
	 * is the node to AppAttach to. */
	p2p_id dest[8];
	size_t ndest;
} sipreg_target;
#define SIPREG_MAX_TARGETS 16
typedef void (*sipreg_lookup_cb)(p2p_node *n, void *user,
    enum sipreg_status st, const sipreg_target *t, size_t nt);
/* 1 when this node's certificate lets it register aor (its user name),
 * 0 otherwise. */
int sipreg_may_register(p2p_node *n, const char *aor);
/* Store (and keep refreshed until withdrawn) a route registration of
 * aor whose destination list is this node's Node-ID. A second publish of
 * the same AOR only refreshes it. -1: bad AOR, not ours, no memory. */
int sipreg_publish(p2p_node *n, const char *aor, sipreg_done_cb cb,
    void *user);
/* Stop refreshing and delete the value from the overlay. */
int sipreg_withdraw(p2p_node *n, const char *aor, sipreg_done_cb cb,
    void *user);
/* Fetch every registration under aor and check each one (signature,
 * access policy) as p2p-get does. */
int sipreg_lookup(p2p_node *n, const char *aor, sipreg_lookup_cb cb,
    void *user);
void sipreg_tick(p2p_node *n, uint64_t now);
uint64_t sipreg_next_due(p2p_node *n, uint64_t now);
void sipreg_free(p2p_node *n);
/* Control methods: "sip.lookup". */
void sipreg_ctl_register(p2p_node *n);

/* node_sip.c: the SIP front and AppAttach (application 5060). */
int sip_start(p2p_node *n, char *err, size_t errlen);
void sip_tick(p2p_node *n, uint64_t now);
uint64_t sip_next_due(p2p_node *n, uint64_t now);
/* Withdraw registrations, close the front and the SIP connections. */
void sip_stop(p2p_node *n);
void sip_free(p2p_node *n);
/* An AppAttachReq delivered here. */
void sip_app_attach(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a);
/* Control methods: "sip.status", "sip.register", "sip.events",
 * "sip.message". */
void sip_ctl_register(p2p_node *n);

#endif
