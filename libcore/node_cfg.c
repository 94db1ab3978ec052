/*
 * node_cfg: keeping the overlay configuration current (RFC 6940
 * s6.3.2.1, s6.5.4, s11.2).
 *
 * Every message carries its originator's configuration sequence. Any
 * message received with a newer one makes the node fetch the document
 * from the configuration server (p2psip:config-url) soon, at most once
 * every CFG_FETCH_GAP_MS. At the destination of a request, a sequence
 * other than ours is answered with Error_Config_Too_New (ours is older:
 * fetch) or Error_Config_Too_Old (the requester's is older: it also gets
 * a ConfigUpdate with our document, routed back along the request's via
 * list). An answer from a node whose sequence is older also earns it a
 * ConfigUpdate. ConfigUpdate requests are sent with sequence 65535, which
 * every node takes whatever its own sequence; the same document goes to
 * the same peer at most once every CFG_PUSH_GAP_MS.
 *
 * A document from a ConfigUpdate, from the configuration server or from
 * the control socket ("config.update") passes p2p_config_check_update
 * (cfgupd.h): same overlay, newer sequence, not expired, signed by a
 * configuration-signer of the configuration in use under the roots in
 * use, and loadable on its own as at startup. A refused one is logged and
 * counted and changes nothing. An accepted one is written to
 * NODEDIR/overlay.xml (so a restart keeps it), replaces the configuration
 * in use and is sent to every neighbour the node has a link with (except
 * the one it came from).
 *
 * What takes effect at once: the sequence; bad-node entries (added to the
 * trust store, and links to those nodes closed); bootstrap-node (for the
 * next join); max-message-size, initial-ttl, overlay-reliability-timer;
 * chord-update-interval and chord-ping-interval (unless p2p-node was given
 * its own); the kinds and their limits, diagnostic access rules,
 * crl-url, config-url, configuration-signer (for the next update).
 * What needs a restart (logged when it changes): root-cert,
 * self-signed-permitted, a bad-node removed from the list, no-ice,
 * clients-permitted, overlay-link-protocol, topology-plugin and
 * node-id-length. The instance-name never changes: a document for
 * another overlay is refused.
 *
 * Replaced configurations stay allocated until the node stops, because
 * handlers waiting on the overlay keep pointers into them (kind
 * definitions, say); updates are rare, so this costs little.
 *
 * ConfigUpdate of type kind (RFC 6940 s6.5.4.1) is refused with
 * Error_Forbidden: this overlay changes kinds only through a signed
 * configuration, and no kind-signer is ever listed.
 */
#include "node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "cfgupd.h"

#define CFG_REFRESH_DEFAULT_S	3600
#define CFG_FETCH_GAP_MS	3000
#define CFG_PUSH_GAP_MS		5000
#define CFG_PUSH_SLOTS		32

typedef struct cfg_push {
	p2p_id peer;
	uint32_t seq;
	uint64_t at;
	int used;
} cfg_push;

struct cfg_state {
	p2p_config *retired;
	size_t nretired;
	uint64_t next_fetch_ms, last_fetch_ms;
	int fetch_busy;
	cfg_push push[CFG_PUSH_SLOTS];
	size_t push_next;
	uint64_t applied, refused, same, pushed, too_old_sent, too_new_sent;
	char last_refusal[256];
};

static uint64_t
refresh_ms(const p2p_node *n)
{
	unsigned s = n->opts.config_refresh_s ? n->opts.config_refresh_s :
	    CFG_REFRESH_DEFAULT_S;

	return (uint64_t)s * 1000;
}

int
cfg_init(p2p_node *n)
{
	if ((n->cfgu = calloc(1, sizeof(*n->cfgu))) == NULL)
		return -1;
	/* The first refresh comes soon after startup. */
	n->cfgu->next_fetch_ms = node_now(n) + 1000;
	return 0;
}

void
cfg_free(p2p_node *n)
{
	struct cfg_state *s = n->cfgu;

	free(n->cfg_doc);
	n->cfg_doc = NULL;
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nretired; i++)
		p2p_config_free(&s->retired[i]);
	free(s->retired);
	free(s);
	n->cfgu = NULL;
}

size_t
cfg_msg_limit(const p2p_node *n, uint16_t code)
{
	size_t base = n->cfg.max_message_size > 0 ? n->cfg.max_message_size :
	    P2P_DEFAULT_MAX_MSG;

	if (code == P2P_CONFIG_UPDATE_REQ && base < NODE_CFGUPD_MAX_MSG)
		return NODE_CFGUPD_MAX_MSG;
	return base;
}

static void
fetch_soon(p2p_node *n)
{
	struct cfg_state *s = n->cfgu;
	uint64_t now = node_now(n);

	if (s == NULL || n->cfg.config_url == NULL || s->fetch_busy)
		return;
	if (s->last_fetch_ms != 0 && now - s->last_fetch_ms < CFG_FETCH_GAP_MS)
		now = s->last_fetch_ms + CFG_FETCH_GAP_MS;
	if (now < s->next_fetch_ms)
		s->next_fetch_ms = now;
}

/* ---- sending our document ---- */

/* 1 when our document may go to peer now (and note that it does). */
static int
push_due(p2p_node *n, const p2p_id *peer)
{
	struct cfg_state *s = n->cfgu;
	uint64_t now = node_now(n);
	cfg_push *slot;

	for (size_t i = 0; i < CFG_PUSH_SLOTS; i++) {
		slot = &s->push[i];
		if (slot->used && p2p_id_eq(&slot->peer, peer)) {
			if (slot->seq == n->cfg.sequence &&
			    now - slot->at < CFG_PUSH_GAP_MS)
				return 0;
			slot->seq = n->cfg.sequence;
			slot->at = now;
			return 1;
		}
	}
	slot = &s->push[s->push_next];
	s->push_next = (s->push_next + 1) % CFG_PUSH_SLOTS;
	slot->used = 1;
	slot->peer = *peer;
	slot->seq = n->cfg.sequence;
	slot->at = now;
	return 1;
}

static void
push_done(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	char text[128], id[9];
	uint16_t code;

	(void)user;
	if (st != P2P_TXN_ANSWERED || ans == NULL) {
		node_log(n, NLOG_DEBUG, "ConfigUpdate: no answer");
		return;
	}
	if (route_error_info(ans, &code, text, sizeof(text)) == 0)
		node_log(n, NLOG_INFO, "ConfigUpdate refused by %s: error %u "
		    "(%s)", who != NULL ? node_id_short(&who->node, id) : "?",
		    code, text);
}

/* Send our document to the last entry of dest. */
static void
push(p2p_node *n, const p2p_dest *dest, size_t ndest, p2p_link *via,
    const p2p_id *peer)
{
	p2p_config_update_req q;
	p2p_wbuf w;
	char id[9];

	if (n->cfg_doc == NULL || n->stopping || !push_due(n, peer))
		return;
	memset(&q, 0, sizeof(q));
	q.type = P2P_CONFIG_UPDATE_CONFIG;
	q.config.p = (const uint8_t *)n->cfg_doc;
	q.config.len = n->cfg_doc_len;
	p2p_w_init(&w, n->cfg_doc_len + 16);
	if (p2p_config_update_req_encode(&w, &q) == 0 &&
	    route_request(n, dest, ndest, P2P_CONFIG_UPDATE_REQ, &w, NULL, 0,
	    via, push_done, NULL) == 0) {
		n->cfgu->pushed++;
		node_log(n, NLOG_INFO, "ConfigUpdate (sequence %u) sent to %s",
		    (unsigned)n->cfg.sequence, node_id_short(peer, id));
	}
	p2p_w_free(&w);
}

static void
push_to_peer(p2p_node *n, const p2p_id *peer, p2p_link *via)
{
	p2p_dest d;

	p2p_dest_node(&d, peer);
	push(n, &d, 1, via, peer);
}

/* Back to the originator of req, the way its answer goes. */
static void
push_to_requester(p2p_node *n, p2p_link *from, const p2p_msg *req,
    const p2p_sig_who *who)
{
	p2p_dest *dest;
	size_t nd = 0;

	if (from == NULL)
		return;
	if (req->nvia == 0 && p2p_id_eq(&from->peer, &who->node)) {
		push_to_peer(n, &who->node, from);
		return;
	}
	if ((dest = calloc(req->nvia + 1, sizeof(*dest))) == NULL)
		return;
	p2p_dest_node(&dest[nd++], &from->peer);
	for (size_t i = req->nvia; i > 0; i--)
		dest[nd++] = req->via[i - 1];
	push(n, dest, nd, NULL, &who->node);
	free(dest);
}

/* ---- sequence checks ---- */

void
cfg_seen(p2p_node *n, uint16_t seq, uint16_t code)
{
	(void)code;
	if (seq != P2P_CONFIG_SEQ_ANY &&
	    p2p_config_seq_newer(seq, n->cfg.sequence))
		fetch_soon(n);
}

int
cfg_check_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who)
{
	if (m->config_seq == n->cfg.sequence || (m->config_seq ==
	    P2P_CONFIG_SEQ_ANY && m->code == P2P_CONFIG_UPDATE_REQ))
		return 0;
	if (p2p_config_seq_newer(m->config_seq, n->cfg.sequence)) {
		n->cfgu->too_new_sent++;
		(void)route_error(n, from, m, P2P_ERR_CONFIG_TOO_NEW,
		    "the configuration of this node is older");
		fetch_soon(n);
		return 1;
	}
	n->cfgu->too_old_sent++;
	(void)route_error(n, from, m, P2P_ERR_CONFIG_TOO_OLD,
	    "the configuration of the requester is older");
	push_to_requester(n, from, m, who);
	return 1;
}

void
cfg_check_answer(p2p_node *n, const p2p_msg *m, const p2p_sig_who *who)
{
	if (m->config_seq == n->cfg.sequence ||
	    m->config_seq == P2P_CONFIG_SEQ_ANY)
		return;
	if (p2p_config_seq_newer(m->config_seq, n->cfg.sequence))
		fetch_soon(n);
	else if (who != NULL && who->has_node)
		push_to_peer(n, &who->node, link_by_peer(n, &who->node));
}

/* ---- applying a document ---- */

static int
ids_have(const p2p_id *ids, size_t n, const p2p_id *id)
{
	for (size_t i = 0; i < n; i++)
		if (p2p_id_eq(&ids[i], id))
			return 1;
	return 0;
}

static int
roots_differ(const p2p_config *a, const p2p_config *b)
{
	if (a->nroot_certs != b->nroot_certs)
		return 1;
	for (size_t i = 0; i < a->nroot_certs; i++)
		if (a->root_certs[i].len != b->root_certs[i].len ||
		    memcmp(a->root_certs[i].p, b->root_certs[i].p,
		    a->root_certs[i].len) != 0)
			return 1;
	return 0;
}

static int
strings_differ(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return 1;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 1;
	return 0;
}

/* Log what the new configuration changes that only a restart applies. */
static void
note_restart_fields(p2p_node *n, const p2p_config *old)
{
	const p2p_config *c = &n->cfg;
	char what[256] = "";
	int removed = 0;

	for (size_t i = 0; i < old->nbad_nodes; i++)
		removed |= !ids_have(c->bad_nodes, c->nbad_nodes,
		    &old->bad_nodes[i]);
#define NOTE(cond, name) do {						\
	if (cond)							\
		snprintf(what + strlen(what), sizeof(what) - strlen(what),	\
		    "%s%s", what[0] ? ", " : "", name);			\
} while (0)
	NOTE(roots_differ(old, c), "root-cert");
	NOTE(old->self_signed_permitted != c->self_signed_permitted ||
	    old->self_signed_digest != c->self_signed_digest,
	    "self-signed-permitted");
	NOTE(removed, "bad-node removed");
	NOTE(old->no_ice != c->no_ice, "no-ice");
	NOTE(old->clients_permitted != c->clients_permitted,
	    "clients-permitted");
	NOTE(strings_differ(old->link_protocols, old->nlink_protocols,
	    c->link_protocols, c->nlink_protocols), "overlay-link-protocol");
	NOTE((old->topology_plugin == NULL) != (c->topology_plugin == NULL) ||
	    (old->topology_plugin != NULL && strcmp(old->topology_plugin,
	    c->topology_plugin) != 0), "topology-plugin");
	NOTE(old->node_id_length != c->node_id_length, "node-id-length");
#undef NOTE
	if (what[0] != '\0')
		node_log(n, NLOG_WARN, "configuration %u changes %s: takes "
		    "effect after a restart", (unsigned)c->sequence, what);
}

/* What the new n->cfg changes at once. */
static void
apply_live(p2p_node *n)
{
	const p2p_config *c = &n->cfg;
	p2p_err e = { 0 };

	for (size_t i = 0; i < c->nbad_nodes; i++)
		if (p2p_trust_add_bad_node(n->trust, &c->bad_nodes[i], &e) != 0)
			node_log(n, NLOG_WARN, "bad-node: %s", e.what);
	for (p2p_link *l = n->links; l != NULL; l = l->next)
		if (l->has_peer && ids_have(c->bad_nodes, c->nbad_nodes,
		    &l->peer))
			link_close(l, "a bad-node of the configuration");
	if (c->overlay_reliability_timer >= 200)
		n->txns.params.retransmit_ms = c->overlay_reliability_timer;
	if (n->opts.update_interval_s == 0 && c->chord_update_interval > 0)
		n->chord.cfg.update_interval_ms =
		    (uint64_t)c->chord_update_interval * 1000;
	if (n->opts.ping_interval_s == 0 && c->chord_ping_interval > 0)
		n->chord.cfg.ping_interval_ms =
		    (uint64_t)c->chord_ping_interval * 1000;
}

static void
save_doc(p2p_node *n)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/overlay.xml",
	    n->opts.dir) >= sizeof(path) || p2p_file_write_atomic(path,
	    n->cfg_doc, n->cfg_doc_len, 0644) != 0)
		node_log(n, NLOG_ERROR, "cannot save the configuration in %s: "
		    "a restart will go back to the old one", n->opts.dir);
}

/* Take nc (checked, newer) and its document; 0, or -1 out of memory. */
static int
install(p2p_node *n, p2p_config *nc, const char *doc, size_t len)
{
	struct cfg_state *s = n->cfgu;
	p2p_config *r;
	char *copy;

	if ((copy = malloc(len + 1)) == NULL)
		return -1;
	r = realloc(s->retired, (s->nretired + 1) * sizeof(*r));
	if (r == NULL) {
		free(copy);
		return -1;
	}
	s->retired = r;
	memcpy(copy, doc, len);
	copy[len] = '\0';
	r[s->nretired++] = n->cfg;
	n->cfg = *nc;
	free(n->cfg_doc);
	n->cfg_doc = copy;
	n->cfg_doc_len = len;
	return 0;
}

/*
 * Check doc and, when it is newer and valid, make it the configuration:
 * save, apply, send to the neighbours except src. source names where it
 * came from, for the log.
 */
static enum p2p_cfgupd_result
cfg_apply(p2p_node *n, const char *doc, size_t len, p2p_link *src,
    const char *source, p2p_err *e)
{
	struct cfg_state *s = n->cfgu;
	p2p_config nc;
	uint32_t was = n->cfg.sequence;
	enum p2p_cfgupd_result r;

	r = p2p_config_check_update(&n->cfg, n->trust, doc, len, time(NULL),
	    &nc, e);
	if (r == P2P_CFGUPD_SAME) {
		s->same++;
		return r;
	}
	if (r == P2P_CFGUPD_NEWER && install(n, &nc, doc, len) != 0) {
		p2p_config_free(&nc);
		p2p_err_set(e, P2P_ERR_FORBIDDEN, "out of memory", 0);
		r = P2P_CFGUPD_REFUSED;
	}
	if (r == P2P_CFGUPD_REFUSED) {
		s->refused++;
		snprintf(s->last_refusal, sizeof(s->last_refusal), "%s: %s",
		    source, e->what != NULL ? e->what : "refused");
		node_log(n, NLOG_WARN, "configuration from %s refused: %s "
		    "(keeping sequence %u)", source, e->what != NULL ?
		    e->what : "?", (unsigned)was);
		return r;
	}
	s->applied++;
	node_log(n, NLOG_INFO, "configuration sequence %u -> %u from %s",
	    (unsigned)was, (unsigned)n->cfg.sequence, source);
	save_doc(n);
	apply_live(n);
	note_restart_fields(n, &s->retired[s->nretired - 1]);
	for (p2p_link *l = n->links; l != NULL; l = l->next)
		if (l->open && l->has_peer && l != src)
			push_to_peer(n, &l->peer, l);
	return r;
}

/* ---- ConfigUpdate ---- */

void
cfg_update_request(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, p2p_arena *a)
{
	p2p_config_update_req q;
	p2p_err e = { 0 };
	char source[64], id[9];

	if (p2p_config_update_req_decode(m->body, a, &q, &e) != 0) {
		n->st.malformed++;
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE, e.what);
		return;
	}
	if (q.type == P2P_CONFIG_UPDATE_KIND) {
		(void)route_error(n, from, m, P2P_ERR_FORBIDDEN, "kinds change "
		    "only with a signed configuration in this overlay");
		return;
	}
	if (q.type != P2P_CONFIG_UPDATE_CONFIG) {
		(void)route_error(n, from, m, P2P_ERR_INVALID_MESSAGE,
		    "unknown ConfigUpdate type");
		return;
	}
	snprintf(source, sizeof(source), "ConfigUpdate of %s",
	    node_id_short(&who->node, id));
	if (cfg_apply(n, (const char *)q.config.p, q.config.len, from, source,
	    &e) == P2P_CFGUPD_REFUSED) {
		(void)route_error(n, from, m, e.reload_code ? e.reload_code :
		    P2P_ERR_FORBIDDEN, e.what);
		if (e.reload_code == P2P_ERR_CONFIG_TOO_OLD)
			push_to_requester(n, from, m, who);
		return;
	}
	(void)route_answer(n, from, m, P2P_CONFIG_UPDATE_ANS, NULL, 0);
}

/* ---- the configuration server ---- */

static void
fetch_after(uv_work_t *w, int status)
{
	node_https_job *j = w->data;
	p2p_node *n = j->n;
	p2p_err e = { 0 };

	n->cfgu->fetch_busy = 0;
	if (status == 0 && !n->stopping) {
		if (j->err[0] != '\0')
			node_log(n, NLOG_WARN, "cannot fetch the "
			    "configuration: %s", j->err);
		else
			(void)cfg_apply(n, (const char *)j->body, j->len, NULL,
			    "the configuration server", &e);
	}
	node_https_job_free(j);
}

void
cfg_tick(p2p_node *n, uint64_t now)
{
	struct cfg_state *s = n->cfgu;
	node_https_job *j;

	if (s == NULL || s->fetch_busy || now < s->next_fetch_ms)
		return;
	s->next_fetch_ms = now + refresh_ms(n);
	if (n->cfg.config_url == NULL)
		return;
	s->last_fetch_ms = now;
	j = node_https_job_new(n, n->cfg.config_url, P2P_CONFIG_MAX_SIZE);
	if (j == NULL)
		return;
	if (uv_queue_work(n->loop, &j->work, node_https_work,
	    fetch_after) != 0) {
		node_https_job_free(j);
		return;
	}
	s->fetch_busy = 1;
}

uint64_t
cfg_next_due(p2p_node *n)
{
	struct cfg_state *s = n->cfgu;

	if (s == NULL || s->fetch_busy || n->cfg.config_url == NULL)
		return UINT64_MAX;
	return s->next_fetch_ms;
}

/* ---- control methods ---- */

static void
m_config(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	struct cfg_state *s = n->cfgu;
	uint64_t now = node_now(n);

	(void)params;
	p2p_ctl_reply(req, json_pack("{s:s,s:i,s:s?,s:i,s:I,s:{s:I,s:I,s:I,"
	    "s:I,s:I,s:I},s:s?}",
	    "overlay", n->overlay,
	    "sequence", (int)n->cfg.sequence,
	    "config_url", n->cfg.config_url,
	    "refresh_s", (int)(refresh_ms(n) / 1000),
	    "next_fetch_s", (json_int_t)(s->next_fetch_ms > now ?
	    (s->next_fetch_ms - now) / 1000 : 0),
	    "counters",
	    "applied", (json_int_t)s->applied,
	    "refused", (json_int_t)s->refused,
	    "same", (json_int_t)s->same,
	    "pushed", (json_int_t)s->pushed,
	    "config_too_old_sent", (json_int_t)s->too_old_sent,
	    "config_too_new_sent", (json_int_t)s->too_new_sent,
	    "last_refusal", s->last_refusal[0] ? s->last_refusal : NULL));
}

static void
m_config_update(p2p_ctl_req *req, json_t *params, void *user)
{
	p2p_node *n = user;
	json_t *d = json_object_get(params, "document");
	p2p_err e = { 0 };
	enum p2p_cfgupd_result r;
	char msg[300];

	if (!json_is_string(d)) {
		p2p_ctl_error(req, P2P_CTL_INVALID_PARAMS, "give document: the "
		    "signed configuration document", NULL);
		return;
	}
	r = cfg_apply(n, json_string_value(d), json_string_length(d), NULL,
	    "the control socket", &e);
	if (r == P2P_CFGUPD_REFUSED) {
		snprintf(msg, sizeof(msg), "configuration refused: %s",
		    e.what != NULL ? e.what : "?");
		p2p_ctl_error(req, P2P_CTL_ERR_FAILED, msg, NULL);
		return;
	}
	p2p_ctl_reply(req, json_pack("{s:i,s:b}", "sequence",
	    (int)n->cfg.sequence, "applied", r == P2P_CFGUPD_NEWER));
}

void
cfg_ctl_register(p2p_node *n)
{
	p2p_ctl_register(n->ctl, "config", m_config, n);
	p2p_ctl_register(n->ctl, "config.update", m_config_update, n);
}
