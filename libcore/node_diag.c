/*
 * node_diag: overlay diagnostics (RFC 7851) in the node.
 *
 * Answering side
 *   PathTrackReq   the next hop this node would route the destination to
 *                  (itself when it is responsible) and a
 *                  DiagnosticsResponse with the kinds asked for.
 *   PingReq with a Diagnostic_Ping extension: a PingAns whose extension
 *                  of the same type carries the DiagnosticsResponse.
 *
 * Diagnostic kinds answered, and how each value is obtained:
 *   STATUS_INFO          congestion 0..15: the share of the transaction
 *                        table in use (a node near its limit refuses new
 *                        requests, which is what congestion means here)
 *   ROUTING_TABLE_SIZE   distinct peers in the Chord routing table
 *   PROCESS_POWER        the kernel's BogoMIPS of one CPU, from
 *                        /proc/cpuinfo (the node runs on one thread), rounded
 *                        up; not answered when the kernel does not print it
 *   SOFTWARE_VERSION     "p2psip/<version> (<sysname>; <machine>)"
 *   MACHINE_UPTIME       /proc/uptime, whole seconds
 *   APP_UPTIME           seconds since this node started
 *   MEMORY_FOOTPRINT     VmRSS of /proc/self/status, KiB
 *   DATASIZE_STORED      bytes of the values held (as the store counts them)
 *   INSTANCES_STORED     values held per kind of the configuration
 *   MESSAGES_SENT_RCVD   per message code, messages originated or forwarded
 *                        (sent) and received from links
 *   EWMA_BYTES_SENT/RCVD bytes per second over 5 s periods, averaged with
 *                        weight 0.8 for the newest period
 * UPSTREAM/DOWNSTREAM_BANDWIDTH, UNDERLAY_HOP and BATTERY_STATUS are never
 * answered: this node neither measures nor is told them. Extension kinds
 * (0x0040 and up) are unknown here and simply not answered.
 *
 * Access. The configuration may restrict a kind to a list of access
 * nodes (<diagnostic-kind kind=".."><access-node>..). Without such a rule
 * the kinds that only describe the node's place in the overlay
 * (STATUS_INFO, ROUTING_TABLE_SIZE, APP_UPTIME, all three visible to
 * neighbors through Update and Probe anyway) are given to any peer of
 * the overlay, and the sensitive ones are given to nobody else: they
 * describe the machine (PROCESS_POWER, MACHINE_UPTIME, MEMORY_FOOTPRINT,
 * SOFTWARE_VERSION, which tells an attacker what to exploit) or the
 * traffic and data it handles (DATASIZE_STORED, INSTANCES_STORED,
 * MESSAGES_SENT_RCVD, EWMA_BYTES_*). The node itself may read all. A kind
 * not permitted is left out of the answer; a Diagnostic_Ping for which
 * nothing asked may be given gets Error_Forbidden. A PathTrack always
 * names its next hop, with whatever kinds are permitted.
 *
 * Every request is checked: malformed bodies get Error_Invalid_Message, an
 * expiration in the past Error_Message_Expired (s5.1).
 *
 * Control methods
 *   trace {resource | resource_id | node_id, max_hops, timeout_ms,
 *          hop_timeout_ms}
 *       The iterative walk of s4.3: PathTrack to this node's own next
 *       hop toward the target, then to each next_hop named, until a peer
 *       names itself. Each hop is sent as a "trace.hop" notification as
 *       soon as it is known, then the reply is {target, origin, hops,
 *       responsible, complete}.
 *   diag {node_id, kinds, timeout_ms}
 *       A Diagnostic_Ping to that peer; the reply lists what it gave.
 *
 * A hop that does not answer within hop_timeout_ms (or answers with an
 * Error) is reported with rtt_ms null and its reason, and the walk goes
 * around it where it can: the previous hop is asked for its next hop
 * toward the Node-ID just before the silent peer, which names a peer
 * between the two if it knows one, and the walk goes on from there toward
 * the target. When the silent peer is the previous hop's immediate
 * successor no such peer exists: the previous hop is then asked again
 * for the target once a second until it names someone else (its link to
 * the silent peer has failed and the ring has repaired) or the trace's
 * time runs out.
 */
#include "node_int.h"

#include "body_diag.h"
#include "store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include <openssl/rand.h>

#ifndef P2PSIP_VERSION
#define P2PSIP_VERSION "0.1"
#endif

#define EWMA_PERIOD_MS		5000
#define EWMA_WEIGHT		0.8
#define RESP_EXPIRATION_MS	60000	/* lifetime of our responses */
#define REQ_EXPIRATION_MS	60000	/* and of our requests */
#define TRACE_DEFAULT_HOPS	30
#define TRACE_MAX_HOPS		64
#define TRACE_DEFAULT_MS	30000
#define HOP_DEFAULT_MS		3000
#define RETRY_MS		1000
#define MAX_INFOS		32

/* ---- counters ---- */

static size_t
msg_slot(uint16_t code)
{
	if (code == P2P_ERROR)
		return NODE_MSG_SLOTS - 1;
	return code < NODE_MSG_SLOTS - 1 ? code : SIZE_MAX;
}

void
diag_count_msg(p2p_node *n, uint16_t code, int sent)
{
	size_t i = msg_slot(code);

	if (i == SIZE_MAX)
		return;
	if (sent)
		n->st.msg_sent[i]++;
	else
		n->st.msg_rcvd[i]++;
}

/* Close the 5 s periods that ended before now. */
static void
ewma_fold(node_stats *s, uint64_t now)
{
	uint64_t periods;

	if (s->ewma_start_ms == 0) {
		s->ewma_start_ms = now;
		return;
	}
	if (now < s->ewma_start_ms + EWMA_PERIOD_MS)
		return;
	s->ewma_tx = EWMA_WEIGHT * (s->ewma_win_tx * 1000.0 /
	    EWMA_PERIOD_MS) + (1 - EWMA_WEIGHT) * s->ewma_tx;
	s->ewma_rx = EWMA_WEIGHT * (s->ewma_win_rx * 1000.0 /
	    EWMA_PERIOD_MS) + (1 - EWMA_WEIGHT) * s->ewma_rx;
	s->ewma_win_tx = s->ewma_win_rx = 0;
	s->ewma_start_ms += EWMA_PERIOD_MS;
	/* Periods without a byte: the average decays. */
	periods = (now - s->ewma_start_ms) / EWMA_PERIOD_MS;
	s->ewma_start_ms += periods * EWMA_PERIOD_MS;
	for (uint64_t i = 0; i < periods && i < 64; i++) {
		s->ewma_tx *= 1 - EWMA_WEIGHT;
		s->ewma_rx *= 1 - EWMA_WEIGHT;
	}
	if (periods >= 64)
		s->ewma_tx = s->ewma_rx = 0;
}

void
diag_count_bytes(p2p_node *n, size_t len, int sent)
{
	ewma_fold(&n->st, uv_now(n->loop));
	if (sent) {
		n->st.bytes_tx += len;
		n->st.ewma_win_tx += len;
	} else {
		n->st.bytes_rx += len;
		n->st.ewma_win_rx += len;
	}
}

/* ---- local values ---- */

/* A number after "key" and a colon on a line of a /proc file. */
static int
proc_value(const char *path, const char *key, double *v)
{
	char line[256];
	size_t klen = strlen(key);
	FILE *f = fopen(path, "r");
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *p;

		if (strncasecmp(line, key, klen) != 0)
			continue;
		p = line + klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != ':')
			continue;
		found = sscanf(p, "%lf", v) == 1;
	}
	fclose(f);
	return found ? 0 : -1;
}

static int
process_power(uint64_t *mips)
{
	static int done;
	static uint64_t cached;
	double v;

	if (!done) {
		done = 1;
		if (proc_value("/proc/cpuinfo", "bogomips", &v) == 0 &&
		    v > 0 && v < 1e12)
			cached = (uint64_t)v + ((double)(uint64_t)v < v);
	}
	*mips = cached;
	return cached > 0 ? 0 : -1;
}

static int
machine_uptime(uint64_t *s)
{
	FILE *f = fopen("/proc/uptime", "r");
	double v;
	int ok;

	if (f == NULL)
		return -1;
	ok = fscanf(f, "%lf", &v) == 1 && v >= 0 && v < 1e15;
	fclose(f);
	if (!ok)
		return -1;
	*s = (uint64_t)v;
	return 0;
}

static int
memory_footprint(uint64_t *kib)
{
	double v;

	if (proc_value("/proc/self/status", "VmRSS", &v) != 0 || v < 0)
		return -1;
	*kib = (uint64_t)v;
	return 0;
}

static void
software_version(char *buf, size_t cap)
{
	struct utsname u;

	if (uname(&u) == 0)
		snprintf(buf, cap, "p2psip/%s (%s; %s)", P2PSIP_VERSION,
		    u.sysname, u.machine);
	else
		snprintf(buf, cap, "p2psip/%s", P2PSIP_VERSION);
	for (char *p = buf; *p != '\0'; p++)
		if ((unsigned char)*p > 0x7e || (unsigned char)*p < 0x20)
			*p = '?';
}

/* What this node stores: total bytes, and the values held per kind of
 * the configuration (kinds it holds nothing of are left out). */
static uint64_t
stored_totals(p2p_node *n, p2p_diag_instances *inst, size_t cap,
    size_t *ninst)
{
	p2p_store_stats st;

	*ninst = 0;
	if (n->store == NULL)
		return 0;
	for (size_t i = 0; i < n->cfg.nkinds && *ninst < cap; i++) {
		size_t v = p2p_store_kind_values(n->store, n->cfg.kinds[i].id);

		if (v == 0)
			continue;
		inst[*ninst].kind = n->cfg.kinds[i].id;
		inst[*ninst].count = v;
		(*ninst)++;
	}
	p2p_store_get_stats(n->store, &st);
	return st.bytes;
}

static uint8_t
congestion(const p2p_node *n)
{
	size_t max = n->txns.params.max_pending;
	size_t c;

	if (max == 0)
		return 0;
	c = n->txns.count * (P2P_DIAG_CONGESTION_MAX + 1) / max;
	return (uint8_t)(c > P2P_DIAG_CONGESTION_MAX ?
	    P2P_DIAG_CONGESTION_MAX : c);
}

/* ---- access ---- */

static const struct kind_def {
	uint16_t kind;
	int sensitive;
} kinds[] = {
	{ P2P_DIAG_STATUS_INFO, 0 },
	{ P2P_DIAG_ROUTING_TABLE_SIZE, 0 },
	{ P2P_DIAG_PROCESS_POWER, 1 },
	{ P2P_DIAG_SOFTWARE_VERSION, 1 },
	{ P2P_DIAG_MACHINE_UPTIME, 1 },
	{ P2P_DIAG_APP_UPTIME, 0 },
	{ P2P_DIAG_MEMORY_FOOTPRINT, 1 },
	{ P2P_DIAG_DATASIZE_STORED, 1 },
	{ P2P_DIAG_INSTANCES_STORED, 1 },
	{ P2P_DIAG_MESSAGES_SENT_RCVD, 1 },
	{ P2P_DIAG_EWMA_BYTES_SENT, 1 },
	{ P2P_DIAG_EWMA_BYTES_RCVD, 1 },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int
kind_allowed(const p2p_node *n, const struct kind_def *k, const p2p_id *who)
{
	int ruled = 0;

	if (p2p_id_eq(who, &n->ident.node))
		return 1;
	for (size_t i = 0; i < n->cfg.ndiag; i++) {
		const p2p_diag_access *r = &n->cfg.diag[i];

		if (r->kind != k->kind)
			continue;
		ruled = 1;
		for (size_t j = 0; j < r->nnodes; j++)
			if (p2p_id_eq(&r->nodes[j], who))
				return 1;
	}
	return ruled ? 0 : !k->sensitive;
}

/* ---- building a DiagnosticsResponse ---- */

/* Append the contents of kind k; -1 when this node has no value. */
static int
kind_value(p2p_node *n, uint16_t k, p2p_wbuf *w)
{
	p2p_diag_instances inst[64];
	p2p_diag_msg_count mc[NODE_MSG_SLOTS];
	p2p_id routes[P2P_CHORD_MAX_ROUTES];
	char sw[160];
	uint64_t v;
	size_t ni = 0;

	memset(inst, 0, sizeof(inst));

	switch (k) {
	case P2P_DIAG_STATUS_INFO:
		return p2p_diag_status_encode(w, congestion(n));
	case P2P_DIAG_ROUTING_TABLE_SIZE:
		v = p2p_chord_routes(&n->chord, routes, P2P_CHORD_MAX_ROUTES);
		return p2p_diag_scalar_encode(w, k, v);
	case P2P_DIAG_PROCESS_POWER:
		if (process_power(&v) != 0)
			return -1;
		return p2p_diag_scalar_encode(w, k, v);
	case P2P_DIAG_SOFTWARE_VERSION:
		software_version(sw, sizeof(sw));
		return p2p_diag_software_encode(w, sw);
	case P2P_DIAG_MACHINE_UPTIME:
		if (machine_uptime(&v) != 0)
			return -1;
		return p2p_diag_scalar_encode(w, k, v);
	case P2P_DIAG_APP_UPTIME:
		return p2p_diag_scalar_encode(w, k,
		    (node_now(n) - n->start_ms) / 1000);
	case P2P_DIAG_MEMORY_FOOTPRINT:
		if (memory_footprint(&v) != 0)
			return -1;
		return p2p_diag_scalar_encode(w, k, v);
	case P2P_DIAG_DATASIZE_STORED:
		return p2p_diag_scalar_encode(w, k, stored_totals(n, inst, 64,
		    &ni));
	case P2P_DIAG_INSTANCES_STORED:
		(void)stored_totals(n, inst, 64, &ni);
		return p2p_diag_instances_encode(w, inst, ni);
	case P2P_DIAG_MESSAGES_SENT_RCVD:
		for (size_t i = 0; i < NODE_MSG_SLOTS; i++) {
			if (n->st.msg_sent[i] == 0 && n->st.msg_rcvd[i] == 0)
				continue;
			mc[ni].code = i == NODE_MSG_SLOTS - 1 ? P2P_ERROR :
			    (uint16_t)i;
			mc[ni].sent = n->st.msg_sent[i];
			mc[ni].rcvd = n->st.msg_rcvd[i];
			ni++;
		}
		return p2p_diag_msg_counts_encode(w, mc, ni);
	case P2P_DIAG_EWMA_BYTES_SENT:
	case P2P_DIAG_EWMA_BYTES_RCVD:
		ewma_fold(&n->st, node_now(n));
		v = (uint64_t)(k == P2P_DIAG_EWMA_BYTES_SENT ? n->st.ewma_tx :
		    n->st.ewma_rx);
		return p2p_diag_scalar_encode(w, k, v > UINT32_MAX ?
		    UINT32_MAX : v);
	default:
		return -1;
	}
}

/*
 * Fill rs with the DiagnosticsResponse to rq for requester who. The
 * contents live in vals (the caller frees it) and the list in infos.
 * *asked counts the kinds requested that this node knows, of which
 * rs->ninfos were answered. -1 when out of memory.
 */
static int
diag_build(p2p_node *n, const p2p_diag_req *rq, const p2p_id *who,
    uint8_t ttl, p2p_diag_resp *rs, p2p_diag_info infos[MAX_INFOS],
    p2p_wbuf *vals, size_t *asked)
{
	size_t off[MAX_INFOS];

	*asked = 0;
	memset(rs, 0, sizeof(*rs));
	for (size_t i = 0; i < NKINDS && rs->ninfos < MAX_INFOS; i++) {
		size_t mark = vals->len;

		if (!p2p_diag_flags_want(rq->flags, kinds[i].kind))
			continue;
		(*asked)++;
		if (!kind_allowed(n, &kinds[i], who))
			continue;
		if (kind_value(n, kinds[i].kind, vals) != 0 ||
		    vals->len - mark > 0xffff) {
			if (p2p_w_ok(vals))
				vals->len = mark;	/* no value: leave out */
			continue;
		}
		infos[rs->ninfos].kind = kinds[i].kind;
		infos[rs->ninfos].contents.len = vals->len - mark;
		off[rs->ninfos++] = mark;
	}
	if (!p2p_w_ok(vals))
		return -1;
	for (size_t i = 0; i < rs->ninfos; i++)
		infos[i].contents.p = vals->p + off[i];
	rs->timestamp_received = node_wall_ms();
	rs->expiration = rs->timestamp_received + RESP_EXPIRATION_MS;
	rs->timestamp_initiated = rq->timestamp_initiated;
	rs->hop_counter = ttl;
	rs->infos = infos;
	return 0;
}

/* ---- answering ---- */

int
diag_req_parse(p2p_bytes contents, uint64_t now_ms, p2p_arena *a,
    p2p_diag_req *out, p2p_err *err)
{
	if (p2p_diag_req_decode(contents, a, out, err) != 0)
		return -1;
	return p2p_diag_req_validate(out, now_ms, err);
}

int
diag_path_track_parse(p2p_bytes body, uint64_t now_ms, p2p_arena *a,
    p2p_path_track_req *out, p2p_err *err)
{
	if (p2p_path_track_req_decode(body, a, out, err) != 0)
		return -1;
	if (out->dest.type != P2P_DEST_NODE &&
	    (out->dest.type != P2P_DEST_RESOURCE ||
	    out->dest.data.len != P2P_ID_LEN)) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE, "PathTrack "
		    "destination must be a Node-ID or a Resource-ID", 0);
		return -1;
	}
	return p2p_diag_req_validate(&out->req, now_ms, err);
}

static uint16_t
err_code(const p2p_err *e)
{
	return e->reload_code != 0 ? e->reload_code : P2P_ERR_INVALID_MESSAGE;
}

/* Where this node would send a message for d: the peer, or itself. */
static void
next_hop_for(p2p_node *n, const p2p_dest *d, p2p_id *next)
{
	p2p_id k;

	if (d->type == P2P_DEST_NODE) {
		if (p2p_id_eq(&d->node, &n->ident.node) ||
		    link_by_peer(n, &d->node) != NULL) {
			*next = d->node;
			return;
		}
		k = d->node;
	} else {
		memcpy(k.b, d->data.p, P2P_ID_LEN);
	}
	if (topo_next_hop(n, &k, next) != P2P_CHORD_FORWARD)
		*next = n->ident.node;
}

void
diag_path_track(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_diag_info infos[MAX_INFOS];
	p2p_path_track_req rq;
	p2p_path_track_ans an;
	p2p_err e = { 0 };
	p2p_wbuf w, vals;
	p2p_id next;
	size_t asked;

	if (diag_path_track_parse(m->body, node_wall_ms(), a, &rq, &e) != 0) {
		(void)route_error(n, from, m, err_code(&e), e.what);
		return;
	}
	next_hop_for(n, &rq.dest, &next);
	memset(&an, 0, sizeof(an));
	p2p_dest_node(&an.next_hop, &next);
	p2p_w_init(&vals, 256);
	p2p_w_init(&w, 256);
	if (diag_build(n, &rq.req, &who->node, m->ttl, &an.resp, infos,
	    &vals, &asked) != 0 || p2p_path_track_ans_encode(&w, &an) != 0)
		(void)route_error(n, from, m, P2P_ERR_RESPONSE_TOO_LARGE,
		    "cannot build the PathTrack answer");
	else
		(void)route_answer(n, from, m, P2P_PATH_TRACK_ANS, w.p, w.len);
	p2p_w_free(&w);
	p2p_w_free(&vals);
}

int
diag_ping(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who)
{
	const p2p_msg_ext *x = NULL;
	p2p_diag_info infos[MAX_INFOS];
	p2p_diag_resp rs;
	p2p_diag_req rq;
	p2p_ping_ans pa;
	p2p_msg_ext ext;
	p2p_err e = { 0 };
	p2p_arena a;
	p2p_wbuf body, resp, vals;
	size_t asked, cap;
	void *mem;

	for (size_t i = 0; i < m->nexts && x == NULL; i++)
		if (m->exts[i].type == P2P_EXT_DIAGNOSTIC_PING)
			x = &m->exts[i];
	if (x == NULL)
		return 0;
	cap = 4 * x->contents.len + 1024;
	if ((mem = malloc(cap)) == NULL)
		return 1;	/* no answer rather than a plain one */
	p2p_arena_init(&a, mem, cap);
	if (diag_req_parse(x->contents, node_wall_ms(), &a, &rq, &e) != 0) {
		(void)route_error(n, from, m, err_code(&e), e.what);
		free(mem);
		return 1;
	}
	p2p_w_init(&resp, 256);
	p2p_w_init(&body, 16);
	p2p_w_init(&vals, 256);
	if (RAND_bytes((unsigned char *)&pa.response_id,
	    sizeof(pa.response_id)) != 1)
		pa.response_id = 0;
	pa.time = node_wall_ms();
	if (diag_build(n, &rq, &who->node, m->ttl, &rs, infos, &vals,
	    &asked) != 0 || p2p_diag_resp_encode(&resp, &rs) != 0 ||
	    p2p_ping_ans_encode(&body, &pa) != 0) {
		(void)route_error(n, from, m, P2P_ERR_RESPONSE_TOO_LARGE,
		    "cannot build the diagnostics answer");
	} else if (asked > 0 && rs.ninfos == 0 &&
	    rq.flags != P2P_DIAG_FLAG_ALL) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN,
		    "no diagnostic kind asked for is permitted to this node");
	} else {
		ext.type = P2P_EXT_DIAGNOSTIC_PING;
		ext.critical = 0;
		ext.contents.p = resp.p;
		ext.contents.len = resp.len;
		(void)route_answer_ext(n, from, m, P2P_PING_ANS, body.p,
		    body.len, &ext, 1);
	}
	p2p_w_free(&body);
	p2p_w_free(&resp);
	p2p_w_free(&vals);
	free(mem);
	return 1;
}

/* ---- control methods ---- */

typedef struct walk walk;

/* One request in flight; it outlives the walk when the walk gave up on
 * it (w is then NULL and the answer is dropped). */
typedef struct walk_req {
	walk *w;
	unsigned seq;
	struct walk_req *next;
} walk_req;

enum walk_mode {
	ASK_TARGET = 0,	/* asking a new hop for the target */
	ASK_DETOUR,	/* asking the previous hop toward a silent peer */
	ASK_AGAIN,	/* asking the previous hop for the target again */
};

struct walk {
	p2p_node *n;
	p2p_ctl_req *req;
	int is_diag;
	int done;
	uv_timer_t timer;
	int timer_closed;
	walk_req *pending;
	unsigned seq;		/* the current request; others are stale */
	uint64_t sent_ns, deadline_ms;
	unsigned hop_ms, max_hops;
	uint64_t flags;		/* dMFlags asked for */
	/* the target */
	p2p_id target;
	p2p_dest tdest;
	/* the walk */
	enum walk_mode mode;
	int waiting;		/* pausing before asking prev again */
	p2p_id asked;		/* peer the current request went to */
	p2p_id prev;		/* last peer that answered for the target */
	int has_prev;
	p2p_id detour_key;
	p2p_id seen[TRACE_MAX_HOPS + 2];
	size_t nseen;
	p2p_id silent[TRACE_MAX_HOPS];
	size_t nsilent;
	unsigned nhops;
	json_t *hops;
};

/* A round-trip time in ms, to 1/64 ms so that it prints short. */
static json_t *
rtt_json(double ms)
{
	return json_real((double)(int64_t)(ms * 64 + 0.5) / 64);
}

static json_t *
hex_json(const p2p_id *id)
{
	char hex[P2P_ID_HEXLEN + 1];

	return json_string(p2p_id_hex(id, hex));
}

static int
in_list(const p2p_id *list, size_t n, const p2p_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (p2p_id_eq(&list[i], id))
			return 1;
	return 0;
}

static void
walk_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Stop everything; the memory goes once the timer handle has closed. */
static void
walk_end(walk *w)
{
	if (w->done)
		return;
	w->done = 1;
	for (walk_req *r = w->pending; r != NULL; r = r->next)
		r->w = NULL;
	w->pending = NULL;
	json_decref(w->hops);
	w->hops = NULL;
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, walk_closed);
}

static void
walk_fail(walk *w, int code, const char *msg)
{
	p2p_ctl_error(w->req, code, msg, NULL);
	walk_end(w);
}

static void
walk_unlink(walk *w, walk_req *r)
{
	for (walk_req **pp = &w->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

static void walk_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who);
static void walk_timeout(uv_timer_t *t);

/*
 * Send one request (code, body, extensions) to the peer `to` and arm the
 * hop timer. 0 when it went out (its answer may even have come already),
 * -1 when there is no route to it.
 */
static int
walk_send(walk *w, const p2p_id *to, uint16_t code, const p2p_wbuf *body,
    const p2p_msg_ext *ext, size_t next)
{
	p2p_node *n = w->n;
	uint64_t now = node_now(n), left;
	walk_req *r = calloc(1, sizeof(*r));
	p2p_dest d;

	if (r == NULL)
		return -1;
	r->w = w;
	r->seq = ++w->seq;
	r->next = w->pending;
	w->pending = r;
	w->asked = *to;
	w->sent_ns = uv_hrtime();
	left = w->deadline_ms > now ? w->deadline_ms - now : 1;
	uv_timer_start(&w->timer, walk_timeout, left < w->hop_ms ? left :
	    w->hop_ms, 0);
	p2p_dest_node(&d, to);
	if (route_request(n, &d, 1, code, body, ext, next, NULL,
	    walk_answer, r) != 0) {
		/* No callback will come: forget the request. */
		if (r->w != NULL)
			walk_unlink(w, r);
		free(r);
		return -1;
	}
	return 0;
}

static void
diag_req_fill(p2p_diag_req *rq, uint64_t flags)
{
	memset(rq, 0, sizeof(*rq));
	rq->timestamp_initiated = node_wall_ms();
	rq->expiration = rq->timestamp_initiated + REQ_EXPIRATION_MS;
	rq->flags = flags;
}

/* PathTrack to `to` about key (a Resource-ID) or the walk's target. */
static int
trace_send(walk *w, const p2p_id *to, const p2p_id *key)
{
	p2p_path_track_req pt;
	p2p_wbuf body;
	int rc;

	memset(&pt, 0, sizeof(pt));
	if (key != NULL)
		p2p_dest_resource(&pt.dest, key);
	else
		pt.dest = w->tdest;
	diag_req_fill(&pt.req, w->flags);
	p2p_w_init(&body, 128);
	rc = p2p_path_track_req_encode(&body, &pt);
	if (rc == 0)
		rc = walk_send(w, to, P2P_PATH_TRACK_REQ, &body, NULL, 0);
	p2p_w_free(&body);
	return rc;
}

static void
trace_finish(walk *w, const p2p_id *responsible, const char *why)
{
	json_t *r;

	r = json_pack("{s:o,s:o,s:O,s:b}", "target", hex_json(&w->target),
	    "origin", hex_json(&w->n->ident.node), "hops", w->hops,
	    "complete", responsible != NULL);
	json_object_set_new(r, "target_type", json_string(
	    w->tdest.type == P2P_DEST_NODE ? "node" : "resource"));
	json_object_set_new(r, "responsible", responsible != NULL ?
	    hex_json(responsible) : json_null());
	if (why != NULL)
		json_object_set_new(r, "error", json_string(why));
	p2p_ctl_reply(w->req, r);
	walk_end(w);
}

static const char *
link_addr(p2p_node *n, const p2p_id *id)
{
	p2p_link *l = link_by_peer(n, id);

	return l != NULL ? l->addr : NULL;
}

/* Record a hop (answered or not) and stream it. */
static void
trace_hop(walk *w, const p2p_id *id, double rtt, const p2p_id *next,
    const char *status, const char *error, json_t *diag)
{
	const char *addr = link_addr(w->n, id);
	json_t *h;

	h = json_pack("{s:i,s:o,s:o,s:o,s:o,s:s}", "hop", (int)++w->nhops,
	    "node_id", hex_json(id),
	    "addr", addr != NULL ? json_string(addr) : json_null(),
	    "rtt_ms", rtt >= 0 ? rtt_json(rtt) : json_null(),
	    "next_hop", next != NULL ? hex_json(next) : json_null(),
	    "status", status);
	if (error != NULL)
		json_object_set_new(h, "error", json_string(error));
	if (diag != NULL)
		json_object_update(h, diag);
	json_decref(diag);
	json_array_append(w->hops, h);
	(void)p2p_ctl_notify(w->req, "trace.hop", h);
}

static void
trace_note(walk *w, const char *what, const p2p_id *peer)
{
	(void)p2p_ctl_notify(w->req, "trace.reroute", json_pack("{s:s,s:o}",
	    "reason", what, "asking", hex_json(peer)));
}

static void trace_around(walk *w, const p2p_id *silent);

/* Ask the next peer for the target, or finish when that is impossible. */
static void
trace_next(walk *w, const p2p_id *peer)
{
	if (w->nhops >= w->max_hops) {
		trace_finish(w, NULL, "maximum number of hops reached");
		return;
	}
	if (in_list(w->silent, w->nsilent, peer)) {
		trace_around(w, peer);
		return;
	}
	w->mode = ASK_TARGET;
	if (trace_send(w, peer, NULL) != 0) {
		trace_hop(w, peer, -1, NULL, "unreachable",
		    "no route to this peer", NULL);
		if (w->nsilent < TRACE_MAX_HOPS)
			w->silent[w->nsilent++] = *peer;
		trace_around(w, peer);
	}
}

/* The walk cannot go on from prev now: ask again in a while. */
static void
trace_wait(walk *w)
{
	uint64_t now = node_now(w->n);

	if (now + RETRY_MS >= w->deadline_ms) {
		char id[9] = "?", msg[96];

		if (w->nsilent > 0)
			node_id_short(&w->silent[w->nsilent - 1], id);
		snprintf(msg, sizeof(msg), "no route past the silent peer %s",
		    id);
		trace_finish(w, NULL, msg);
		return;
	}
	w->mode = ASK_AGAIN;
	w->waiting = 1;
	w->seq++;		/* nothing in flight counts any more */
	uv_timer_start(&w->timer, walk_timeout, RETRY_MS, 0);
}

/* Go around a silent peer: ask the previous hop (or look ourselves)
 * for a peer between it and the silent one. */
static void
trace_around(walk *w, const p2p_id *silent)
{
	p2p_id key, next;

	p2p_id_add_u64(&key, silent, UINT64_MAX);	/* silent - 1 */
	if (!w->has_prev) {
		if (p2p_chord_next_hop(&w->n->chord, &key, &next) ==
		    P2P_CHORD_FORWARD && !p2p_id_eq(&next, silent) &&
		    !in_list(w->silent, w->nsilent, &next)) {
			trace_note(w, "detour", &next);
			trace_next(w, &next);
			return;
		}
		trace_wait(w);
		return;
	}
	w->mode = ASK_DETOUR;
	w->detour_key = key;
	trace_note(w, "detour", &w->prev);
	if (trace_send(w, &w->prev, &w->detour_key) != 0)
		trace_wait(w);
}

/* The kinds of a DiagnosticsResponse as {"NAME": value}. */
static json_t *kinds_json(const p2p_diag_resp *rs);

static void
trace_answer(walk *w, enum p2p_txn_status st, const p2p_msg *ans,
    const p2p_sig_who *who)
{
	double rtt = (double)(uv_hrtime() - w->sent_ns) / 1e6;
	p2p_path_track_ans pa;
	p2p_err e = { 0 };
	p2p_arena a;
	void *mem = NULL;
	p2p_id from = w->asked, next;
	char why[200] = "";
	int ok = 0;

	if (st == P2P_TXN_ANSWERED && ans->code == P2P_PATH_TRACK_ANS) {
		size_t cap = 4 * ans->body.len + 1024;

		if ((mem = malloc(cap)) != NULL) {
			p2p_arena_init(&a, mem, cap);
			ok = p2p_path_track_ans_decode(ans->body, &a, &pa,
			    &e) == 0 && pa.next_hop.type == P2P_DEST_NODE &&
			    who != NULL && p2p_id_eq(&who->node, &from);
		}
		if (!ok)
			snprintf(why, sizeof(why), "bad PathTrack answer%s%s",
			    e.what ? ": " : "", e.what ? e.what : "");
	} else if (st == P2P_TXN_ANSWERED) {
		uint16_t code = 0;
		char text[128] = "";

		if (route_error_info(ans, &code, text, sizeof(text)) == 0)
			snprintf(why, sizeof(why), "%s%s%s",
			    p2p_error_name(code) ? p2p_error_name(code) :
			    "error", text[0] ? ": " : "", text);
		else
			snprintf(why, sizeof(why), "unexpected answer");
	} else {
		snprintf(why, sizeof(why), st == P2P_TXN_TIMEOUT ?
		    "no answer" : "request could not be delivered");
	}
	if (ok)
		next = pa.next_hop.node;

	switch (w->mode) {
	case ASK_TARGET:
		if (!ok) {
			trace_hop(w, &from, -1, NULL, st == P2P_TXN_ANSWERED ?
			    "error" : "timeout", why, NULL);
			if (w->nsilent < TRACE_MAX_HOPS)
				w->silent[w->nsilent++] = from;
			trace_around(w, &from);
			break;
		}
		trace_hop(w, &from, rtt, &next, "ok", NULL,
		    json_pack("{s:o}", "diagnostics", kinds_json(&pa.resp)));
		if (w->done)
			break;
		if (p2p_id_eq(&next, &from)) {
			trace_finish(w, &from, NULL);
			break;
		}
		if (in_list(w->seen, w->nseen, &next)) {
			/* Past a silent peer the ring is repairing: the
			 * peer after it may send us back until it learns
			 * that it is responsible now. That hop is taken
			 * back and the last good one (or, when the silent
			 * peer was our own first hop, this node's table)
			 * asked again in a while; without a silent peer a
			 * loop is a loop. */
			if (w->nsilent > 0) {
				json_array_remove(w->hops,
				    json_array_size(w->hops) - 1);
				w->nhops--;
				trace_note(w, "loop while the ring repairs",
				    w->has_prev ? &w->prev : &w->n->ident.node);
				trace_wait(w);
				break;
			}
			trace_finish(w, NULL, "routing loop: a peer named a "
			    "hop already visited");
			break;
		}
		if (w->nseen < sizeof(w->seen) / sizeof(w->seen[0]))
			w->seen[w->nseen++] = from;
		w->prev = from;
		w->has_prev = 1;
		trace_next(w, &next);
		break;
	case ASK_DETOUR:
		/* A peer strictly between prev and the silent one? */
		if (ok && !p2p_id_eq(&next, &from) &&
		    !in_list(w->silent, w->nsilent, &next) &&
		    !in_list(w->seen, w->nseen, &next)) {
			trace_next(w, &next);
			break;
		}
		trace_wait(w);
		break;
	case ASK_AGAIN:
		if (ok && !in_list(w->silent, w->nsilent, &next)) {
			if (p2p_id_eq(&next, &from)) {
				/* prev is now responsible itself */
				trace_finish(w, &from, NULL);
				break;
			}
			trace_next(w, &next);
			break;
		}
		trace_wait(w);
		break;
	}
	free(mem);
}

/* The hop timer: the current request took too long, or a retry is due. */
static void
walk_timeout(uv_timer_t *t)
{
	walk *w = t->data;

	if (w->done)
		return;
	if (p2p_ctl_req_gone(w->req)) {
		walk_fail(w, P2P_CTL_ERR_FAILED, "client gone");
		return;
	}
	if (w->is_diag) {
		walk_fail(w, P2P_CTL_ERR_TIMEOUT, "no answer from the peer");
		return;
	}
	if (w->waiting) {
		/* The pause is over: ask the previous hop again, or look
		 * again ourselves when the silent peer was our own hop. */
		w->waiting = 0;
		if (!w->has_prev) {
			p2p_id next;

			next_hop_for(w->n, &w->tdest, &next);
			if (p2p_id_eq(&next, &w->n->ident.node))
				trace_finish(w, &next, NULL);
			else if (in_list(w->silent, w->nsilent, &next))
				trace_wait(w);
			else
				trace_next(w, &next);
			return;
		}
		trace_note(w, "retry", &w->prev);
		if (trace_send(w, &w->prev, NULL) != 0)
			trace_wait(w);
		return;
	}
	w->seq++;	/* a late answer is stale now */
	trace_answer(w, P2P_TXN_TIMEOUT, NULL, NULL);
}

static void diag_answer(walk *w, enum p2p_txn_status st, const p2p_msg *ans,
    const p2p_sig_who *who);

static void
walk_answer(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	walk_req *r = user;
	walk *w = r->w;

	(void)n;
	if (w != NULL)
		walk_unlink(w, r);
	if (w == NULL || w->done || r->seq != w->seq) {
		free(r);
		return;
	}
	free(r);
	uv_timer_stop(&w->timer);
	if (p2p_ctl_req_gone(w->req)) {
		walk_fail(w, P2P_CTL_ERR_FAILED, "client gone");
		return;
	}
	if (w->is_diag)
		diag_answer(w, st, ans, who);
	else
		trace_answer(w, st, ans, who);
}

static json_t *
kind_json(const p2p_diag_info *in)
{
	p2p_err e = { 0 };
	p2p_arena a;
	uint64_t v;
	uint8_t c;
	const char *s;
	size_t len, n;
	json_t *j = NULL;
	void *mem = malloc(2 * in->contents.len + 64);

	if (mem == NULL)
		return json_null();
	p2p_arena_init(&a, mem, 2 * in->contents.len + 64);
	switch (in->kind) {
	case P2P_DIAG_STATUS_INFO:
		if (p2p_diag_status_decode(in->contents, &c, &e) != 0)
			break;
		j = json_pack("{s:i}", "congestion", (int)c);
		break;
	case P2P_DIAG_SOFTWARE_VERSION:
		if (p2p_diag_software_decode(in->contents, &s, &len, &e) != 0)
			break;
		j = json_stringn(s, len);
		break;
	case P2P_DIAG_INSTANCES_STORED: {
		p2p_diag_instances *v2;
		json_t *arr;

		if (p2p_diag_instances_decode(in->contents, &a, &v2, &n,
		    &e) != 0)
			break;
		arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:I,s:I}",
			    "kind", (json_int_t)v2[i].kind,
			    "count", (json_int_t)v2[i].count));
		j = arr;
		break;
	}
	case P2P_DIAG_MESSAGES_SENT_RCVD: {
		p2p_diag_msg_count *v2;
		json_t *arr;

		if (p2p_diag_msg_counts_decode(in->contents, &a, &v2, &n,
		    &e) != 0)
			break;
		arr = json_array();
		for (size_t i = 0; i < n; i++) {
			const char *name = p2p_code_name(v2[i].code);
			json_array_append_new(arr, json_pack("{s:i,s:s,s:I,s:I}",
			    "code", (int)v2[i].code, "name", name ? name : "?",
			    "sent", (json_int_t)v2[i].sent,
			    "rcvd", (json_int_t)v2[i].rcvd));
		}
		j = arr;
		break;
	}
	default:
		if (p2p_diag_scalar_size(in->kind) == 0)
			break;
		if (p2p_diag_scalar_decode(in->kind, in->contents, &v,
		    &e) != 0)
			break;
		j = json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
		break;
	}
	free(mem);
	if (j != NULL)
		return j;
	/* Unknown or undecodable: the bytes in hex. */
	{
		char *hex = malloc(2 * in->contents.len + 1);

		if (hex == NULL)
			return json_null();
		for (size_t i = 0; i < in->contents.len; i++)
			snprintf(hex + 2 * i, 3, "%02x", in->contents.p[i]);
		hex[2 * in->contents.len] = '\0';
		j = json_pack("{s:s}", "hex", hex);
		free(hex);
		return j;
	}
}

static json_t *
kinds_json(const p2p_diag_resp *rs)
{
	json_t *o = json_object();

	for (size_t i = 0; i < rs->ninfos; i++) {
		const char *name = p2p_diag_kind_name(rs->infos[i].kind);
		char buf[16];

		if (name == NULL) {
			snprintf(buf, sizeof(buf), "0x%04x",
			    (unsigned)rs->infos[i].kind);
			name = buf;
		}
		json_object_set_new(o, name, kind_json(&rs->infos[i]));
	}
	return o;
}

static void
diag_answer(walk *w, enum p2p_txn_status st, const p2p_msg *ans,
    const p2p_sig_who *who)
{
	double rtt = (double)(uv_hrtime() - w->sent_ns) / 1e6;
	const p2p_msg_ext *x = NULL;
	p2p_diag_resp rs;
	p2p_err e = { 0 };
	p2p_arena a;
	void *mem;
	size_t cap;
	json_t *r;
	char msg[256];

	if (st != P2P_TXN_ANSWERED || ans->code != P2P_PING_ANS ||
	    who == NULL) {
		uint16_t code = 0;
		char text[160] = "";

		if (st == P2P_TXN_ANSWERED && route_error_info(ans, &code,
		    text, sizeof(text)) == 0) {
			snprintf(msg, sizeof(msg), "%s%s%s",
			    p2p_error_name(code) ? p2p_error_name(code) :
			    "RELOAD error", text[0] ? ": " : "", text);
			walk_fail(w, P2P_CTL_ERR_RELOAD_BASE + code, msg);
		} else if (st == P2P_TXN_ANSWERED) {
			walk_fail(w, P2P_CTL_ERR_FAILED, "unexpected answer");
		} else if (st == P2P_TXN_TIMEOUT) {
			walk_fail(w, P2P_CTL_ERR_TIMEOUT,
			    "no answer from the peer");
		} else {
			walk_fail(w, P2P_CTL_ERR_UNREACHABLE,
			    "the request could not be delivered");
		}
		return;
	}
	for (size_t i = 0; i < ans->nexts && x == NULL; i++)
		if (ans->exts[i].type == P2P_EXT_DIAGNOSTIC_PING)
			x = &ans->exts[i];
	if (x == NULL) {
		walk_fail(w, P2P_CTL_ERR_FAILED, "the peer answered a plain "
		    "Ping: it does not support Diagnostic_Ping");
		return;
	}
	cap = 4 * x->contents.len + 1024;
	if ((mem = malloc(cap)) == NULL) {
		walk_fail(w, P2P_CTL_INTERNAL_ERROR, "out of memory");
		return;
	}
	p2p_arena_init(&a, mem, cap);
	if (p2p_diag_resp_decode(x->contents, &a, &rs, &e) != 0) {
		snprintf(msg, sizeof(msg), "bad DiagnosticsResponse: %s",
		    e.what);
		free(mem);
		walk_fail(w, P2P_CTL_ERR_FAILED, msg);
		return;
	}
	r = json_pack("{s:o,s:o,s:I,s:I,s:I,s:i,s:o}",
	    "node_id", hex_json(&who->node), "rtt_ms", rtt_json(rtt),
	    "timestamp_initiated", (json_int_t)rs.timestamp_initiated,
	    "timestamp_received", (json_int_t)rs.timestamp_received,
	    "expiration", (json_int_t)rs.expiration,
	    "hop_counter", (int)rs.hop_counter,
	    "kinds", kinds_json(&rs));
	free(mem);
	p2p_ctl_reply(w->req, r);
	walk_end(w);
}

static walk *
walk_new(p2p_node *n, p2p_ctl_req *req, json_t *params, int is_diag)
{
	json_t *t = json_object_get(params, "timeout_ms");
	json_t *h = json_object_get(params, "hop_timeout_ms");
	json_t *m = json_object_get(params, "max_hops");
	json_int_t total = TRACE_DEFAULT_MS, hop = HOP_DEFAULT_MS;
	json_int_t hops = TRACE_DEFAULT_HOPS;
	walk *w;

	if ((t != NULL && (!json_is_integer(t) ||
	    (total = json_integer_value(t)) < 100 || total > 600000)) ||
	    (h != NULL && (!json_is_integer(h) ||
	    (hop = json_integer_value(h)) < 100 || hop > 600000)) ||
	    (m != NULL && (!json_is_integer(m) ||
	    (hops = json_integer_value(m)) < 1 || hops > TRACE_MAX_HOPS))) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, "timeout_ms and "
		    "hop_timeout_ms: 100..600000; max_hops: 1..64", NULL);
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		p2p_ctl_error(req, P2P_CTL_INTERNAL_ERROR, "out of memory",
		    NULL);
		return NULL;
	}
	w->n = n;
	w->req = req;
	w->is_diag = is_diag;
	w->deadline_ms = node_now(n) + (uint64_t)total;
	w->hop_ms = (unsigned)(is_diag ? total : (hop < total ? hop : total));
	w->max_hops = (unsigned)hops;
	uv_timer_init(n->loop, &w->timer);
	w->timer.data = w;
	return w;
}

/* The target of a trace: exactly one of node_id, resource_id, resource. */
static int
trace_target(p2p_ctl_req *req, json_t *params, walk *w)
{
	const char *node = json_string_value(json_object_get(params,
	    "node_id"));
	const char *rid = json_string_value(json_object_get(params,
	    "resource_id"));
	const char *name = json_string_value(json_object_get(params,
	    "resource"));

	if ((node != NULL) + (rid != NULL) + (name != NULL) != 1) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "give exactly one of node_id, resource_id, resource", NULL);
		return -1;
	}
	if (name != NULL) {
		p2p_id_from_name(&w->target, name, strlen(name));
	} else if (!p2p_id_from_hex(&w->target, node != NULL ? node : rid)) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "an id is 32 hexadecimal digits", NULL);
		return -1;
	}
	if (node != NULL)
		p2p_dest_node(&w->tdest, &w->target);
	else
		p2p_dest_resource(&w->tdest, &w->target);
	return 0;
}

static void
m_trace(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	walk *w = walk_new(n, req, params, 0);
	p2p_id first;

	if (w == NULL)
		return;
	w->hops = json_array();
	if (trace_target(req, params, w) != 0) {
		walk_end(w);	/* answered already */
		return;
	}
	w->flags = P2P_DIAG_FLAG_STATUS_INFO | P2P_DIAG_FLAG_ROUTING_TABLE_SIZE;
	w->seen[w->nseen++] = n->ident.node;
	(void)p2p_ctl_notify(req, "trace.start", json_pack("{s:o,s:o,s:i}",
	    "target", hex_json(&w->target), "origin",
	    hex_json(&n->ident.node), "max_hops", (int)w->max_hops));
	next_hop_for(n, &w->tdest, &first);
	if (p2p_id_eq(&first, &n->ident.node)) {
		trace_finish(w, &n->ident.node, NULL);
		return;
	}
	trace_next(w, &first);
}

/* dMFlags for a "kinds" parameter: names (any case) or numbers 1..62;
 * absent: every kind. -1 on an unknown entry. */
static int
kinds_flags(json_t *list, uint64_t *flags)
{
	json_t *k;
	size_t i;

	if (list == NULL) {
		*flags = P2P_DIAG_FLAG_ALL;
		return 0;
	}
	if (!json_is_array(list) || json_array_size(list) == 0)
		return -1;
	*flags = 0;
	json_array_foreach(list, i, k) {
		uint64_t bit = 0;

		if (json_is_integer(k) && json_integer_value(k) > 0 &&
		    json_integer_value(k) <= P2P_DIAG_KIND_FLAG_MAX)
			bit = p2p_diag_kind_flag((uint16_t)
			    json_integer_value(k));
		else if (json_is_string(k))
			for (uint16_t c = 1; c <= P2P_DIAG_KIND_FLAG_MAX; c++)
				if (p2p_diag_kind_name(c) != NULL &&
				    strcasecmp(p2p_diag_kind_name(c),
				    json_string_value(k)) == 0)
					bit = p2p_diag_kind_flag(c);
		if (bit == 0)
			return -1;
		*flags |= bit;
	}
	return 0;
}

static void
m_diag(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	const char *node = json_string_value(json_object_get(params,
	    "node_id"));
	p2p_ping_req pr = { { NULL, 0 } };
	p2p_diag_req rq;
	p2p_msg_ext ext;
	p2p_wbuf body, dr;
	uint64_t flags;
	p2p_id id;
	walk *w;

	if (node == NULL || !p2p_id_from_hex(&id, node)) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS,
		    "node_id: 32 hexadecimal digits", NULL);
		return;
	}
	if (kinds_flags(json_object_get(params, "kinds"), &flags) != 0) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, "kinds: an array "
		    "of diagnostic kind names or numbers (1..63)", NULL);
		return;
	}
	if ((w = walk_new(n, req, params, 1)) == NULL)
		return;
	diag_req_fill(&rq, flags);
	p2p_w_init(&dr, 64);
	p2p_w_init(&body, 8);
	if (p2p_diag_req_encode(&dr, &rq) != 0 ||
	    p2p_ping_req_encode(&body, &pr) != 0) {
		walk_fail(w, P2P_CTL_INTERNAL_ERROR, "cannot encode");
	} else {
		ext.type = P2P_EXT_DIAGNOSTIC_PING;
		ext.critical = 0;
		ext.contents.p = dr.p;
		ext.contents.len = dr.len;
		if (walk_send(w, &id, P2P_PING_REQ, &body, &ext, 1) != 0)
			walk_fail(w, P2P_CTL_ERR_UNREACHABLE,
			    "no route towards the peer");
	}
	p2p_w_free(&dr);
	p2p_w_free(&body);
}

void
diag_ctl_register(p2p_node *n)
{
	p2p_ctl_register(n->ctl, "trace", m_trace, n);
	p2p_ctl_register(n->ctl, "diag", m_diag, n);
}
