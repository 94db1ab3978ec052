/*
 * node_ice: Attach over ICE (RFC 6940 s6.5.1 when the configuration does
 * not say no-ice): the candidates, ufrag, password and role of the
 * AttachReqAns come from an ICE agent (ice.c), and once ICE selects a
 * pair a DTLS-UDP-SR overlay link runs over it (node_link.c).
 *
 * Roles (s6.5.1.2): the Attach sender is the controlling agent and the
 * DTLS server; the answerer is controlled and the DTLS client, and, when
 * the request asked for send_update, sends an Update once the link is
 * open. Role strings are RFC 4145's: "passive" in the request, "active"
 * in the answer.
 *
 * Both sides gather before they can write their body, so both are
 * asynchronous:
 *   - ice_send_attach keeps the destination list and sends the request
 *     when gathering ends; the answer's candidates go to the agent.
 *   - ice_on_attach keeps the request's transaction id, via list and
 *     candidates, and answers when gathering ends. A retransmission of a
 *     request already being answered is ignored. A request from a peer
 *     we already have a link to is answered with no candidates (the
 *     sender's agent then ends; the link is the one in use).
 * Every agent is bounded by the ICE timeout; NODE_MAX_ICE at once.
 *
 * AppAttach (s6.5.2) runs the same agents with the same roles: the
 * AppAttachReq and its answer carry the agents' candidates, and the
 * selected pair is handed to the application's owner (node_path_cb)
 * as a p2p_dgram instead of becoming an overlay link. The sender learns
 * of failure too; the answerer only hears of a pair that connected.
 */
#include "node_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ice.h"

#define NODE_MAX_ICE		64
#define ICE_ATTACH_TIMEOUT_MS	20000
#define ICE_MAX_REMOTE		16

typedef struct ice_attach {
	p2p_node *n;
	p2p_ice *ice;
	int outbound;		/* we sent the Attach */
	p2p_id peer;		/* inbound: the sender; outbound: the answerer */
	int has_peer;
	int send_update;
	int client;		/* inbound: a client's Attach (node_client) */
	uint16_t app;		/* AppAttach: its Application-ID; 0: Attach */
	node_path_cb path_cb;	/* AppAttach: where the pair goes */
	uint64_t path_user;
	int waiting;		/* AppAttach sent: its transaction holds
				   this record until it ends */
	/* outbound: the request, sent once gathered */
	p2p_dest *dest;
	size_t ndest;
	uint8_t *dest_data;	/* the ids RESOURCE and OPAQUE entries use */
	int sent;		/* the request went out: its transaction
				   holds this record until it ends */
	uint64_t via_link;	/* link id, 0: none */
	node_ans_cb cb;
	void *user;
	/* inbound: what the answer needs, sent once gathered */
	uint64_t tid;
	p2p_dest *via;
	size_t nvia;
	uint64_t from_link;	/* link id, 0: delivered locally */
	p2p_id from_peer;
	/* inbound: the sender's side */
	char rufrag[256], rpwd[256];
	size_t rulen, rplen;
	p2p_ice_cand rc[ICE_MAX_REMOTE];
	uint8_t rfound[ICE_MAX_REMOTE][256];
	size_t nrc;
	struct ice_attach *next;
} ice_attach;

typedef struct ice_state {
	p2p_ice_ctx *ctx;
	ice_attach *list;
	unsigned count;
} ice_state;

static p2p_link *
link_by_id(p2p_node *n, uint64_t id)
{
	p2p_link *l;

	for (l = n->links; l != NULL && id != 0; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static void
ia_unlink(ice_attach *ia)
{
	ice_state *s = ia->n->ice;
	ice_attach **pp;

	for (pp = &s->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == ia) {
			*pp = ia->next;
			s->count--;
			return;
		}
}

/* Drop the record; the agent, if still ours, ends too. */
static void
ia_free(ice_attach *ia)
{
	ia_unlink(ia);
	if (ia->ice != NULL)
		p2p_ice_free(ia->ice);
	free(ia->dest);
	free(ia->dest_data);
	free(ia->via);
	free(ia);
}

/*
 * End a record: one whose request is out waiting for its answer loses
 * only its agent (the answer callback frees it); one whose request never
 * went out tells the requester.
 */
static void
app_tell(ice_attach *ia, p2p_dgram *d, const char *why)
{
	node_path_cb cb = ia->path_cb;

	ia->path_cb = NULL;
	if (cb != NULL && (d != NULL || ia->outbound))
		cb(ia->n, ia->path_user, &ia->peer, d, why);
	else if (d != NULL)
		p2p_dgram_close(d);
}

static void
ia_end(ice_attach *ia, const char *why)
{
	if (ia->app != 0) {
		app_tell(ia, NULL, why);
		if (ia->waiting) {
			if (ia->ice != NULL)
				p2p_ice_free(ia->ice);
			ia->ice = NULL;
			return;
		}
		ia_free(ia);
		return;
	}
	if (ia->outbound && ia->cb != NULL) {
		if (ia->sent) {
			if (ia->ice != NULL)
				p2p_ice_free(ia->ice);
			ia->ice = NULL;
			return;
		}
		node_ans_cb cb = ia->cb;
		ia->cb = NULL;
		cb(ia->n, ia->user, P2P_TXN_CANCELLED, NULL, NULL);
	}
	ia_free(ia);
}

/* ---- the agent's callbacks ---- */

static int
body_write(ice_attach *ia, p2p_wbuf *w, const char *ufrag, const char *pwd,
    const p2p_ice_cand *c, size_t nc)
{
	p2p_attach at;
	p2p_app_attach aa;

	if (ia->app != 0) {
		memset(&aa, 0, sizeof(aa));
		aa.ufrag.p = (const uint8_t *)ufrag;
		aa.ufrag.len = strlen(ufrag);
		aa.password.p = (const uint8_t *)pwd;
		aa.password.len = strlen(pwd);
		aa.application = ia->app;
		aa.role.p = (const uint8_t *)(ia->outbound ? "passive" :
		    "active");
		aa.role.len = ia->outbound ? 7 : 6;
		aa.cands = (p2p_ice_cand *)c;
		aa.ncands = nc;
		return p2p_app_attach_encode(w, &aa);
	}
	memset(&at, 0, sizeof(at));
	at.ufrag.p = (const uint8_t *)ufrag;
	at.ufrag.len = strlen(ufrag);
	at.password.p = (const uint8_t *)pwd;
	at.password.len = strlen(pwd);
	at.role.p = (const uint8_t *)(ia->outbound ? "passive" : "active");
	at.role.len = ia->outbound ? 7 : 6;
	at.cands = (p2p_ice_cand *)c;
	at.ncands = nc;
	at.send_update = (uint8_t)(ia->outbound && ia->send_update);
	return p2p_attach_encode(w, &at);
}

static void attach_answered(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who);
static void app_answered(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who);

static void
send_request(ice_attach *ia, const p2p_wbuf *w)
{
	p2p_node *n = ia->n;
	p2p_link *via = link_by_id(n, ia->via_link);

	if (ia->app != 0) {
		if (route_request(n, ia->dest, ia->ndest, P2P_APP_ATTACH_REQ,
		    w, NULL, 0, NULL, app_answered, ia) != 0) {
			ia_end(ia, "AppAttach could not be sent");
			return;
		}
		ia->waiting = 1;
		return;
	}
	if (ia->via_link != 0 && via == NULL) {
		node_log(n, NLOG_DEBUG, "ICE Attach: the link to send it on "
		    "went away");
		ia->cb(n, ia->user, P2P_TXN_LINK_FAILED, NULL, NULL);
		ia_free(ia);
		return;
	}
	if (route_request(n, ia->dest, ia->ndest, P2P_ATTACH_REQ, w, NULL, 0,
	    via, attach_answered, ia) != 0) {
		ia->cb(n, ia->user, P2P_TXN_CANCELLED, NULL, NULL);
		ia_free(ia);
		return;
	}
	ia->sent = 1;
}

static void
send_answer(ice_attach *ia, const p2p_wbuf *w)
{
	p2p_node *n = ia->n;
	p2p_link *from = link_by_id(n, ia->from_link), gone;
	p2p_msg req;

	memset(&req, 0, sizeof(req));
	req.transaction_id = ia->tid;
	req.via = ia->via;
	req.nvia = ia->nvia;
	if (from == NULL && ia->from_link != 0) {
		/* Back along the via list through whatever link now leads
		 * to the previous hop. */
		memset(&gone, 0, sizeof(gone));
		gone.peer = ia->from_peer;
		from = &gone;
	}
	(void)route_answer(n, from, &req, ia->app != 0 ? P2P_APP_ATTACH_ANS :
	    P2P_ATTACH_ANS, w->p, w->len);
}

static void
on_gathered(p2p_ice *ice, const char *ufrag, const char *pwd,
    const p2p_ice_cand *c, size_t nc, void *arg)
{
	ice_attach *ia = arg;
	p2p_wbuf w;

	p2p_w_init(&w, 512);
	if (body_write(ia, &w, ufrag, pwd, c, nc) != 0 || !p2p_w_ok(&w)) {
		p2p_w_free(&w);
		node_log(ia->n, NLOG_WARN, "ICE Attach: cannot write the body");
		ia_end(ia, "cannot write the body");
		return;
	}
	if (ia->outbound) {
		send_request(ia, &w);
		p2p_w_free(&w);
		return;
	}
	send_answer(ia, &w);
	p2p_w_free(&w);
	if (p2p_ice_set_remote(ia->ice, (const uint8_t *)ia->rufrag,
	    ia->rulen, (const uint8_t *)ia->rpwd, ia->rplen, ia->rc,
	    ia->nrc) != 0) {
		node_log(ia->n, NLOG_INFO, "ICE Attach: no usable candidate "
		    "from the sender");
		ia_free(ia);
	}
}

static void
on_connected(p2p_ice *ice, p2p_dgram *d, void *arg)
{
	ice_attach *ia = arg;
	p2p_node *n = ia->n;
	p2p_link *l;
	char id[9];

	node_log(n, NLOG_INFO, "%sICE with %s: %s", ia->app != 0 ?
	    "AppAttach " : "", node_id_short(&ia->peer, id),
	    p2p_ice_pair(ice));
	ia->ice = NULL;		/* the dgram owns it now */
	if (ia->app != 0) {
		app_tell(ia, d, NULL);
		ia_free(ia);
		return;
	}
	l = link_ice_open(n, d, ia->outbound, ia->has_peer ? &ia->peer : NULL);
	if (l != NULL && !ia->outbound) {
		l->update_on_open = ia->send_update;
		l->client = ia->client;
	}
	ia_free(ia);
}

static void
on_failed(p2p_ice *ice, const char *why, void *arg)
{
	ice_attach *ia = arg;
	char id[9];

	node_log(ia->n, NLOG_INFO, "%sICE with %s: %s", ia->app != 0 ?
	    "AppAttach " : "", ia->has_peer ? node_id_short(&ia->peer, id) :
	    "?", why);
	ia_end(ia, why);
}

static const p2p_ice_cbs agent_cbs = { on_gathered, on_connected,
    on_failed };

/* ---- setting up an agent ---- */

static int
server_cfg(p2p_ice_server *s, const p2p_ice_server_cfg *c,
    const p2p_config *cfg)
{
	const char *u = c->username ? c->username : cfg->turn_username;
	const char *p = c->password ? c->password : cfg->turn_password;

	memset(s, 0, sizeof(*s));
	if (snprintf(s->host, sizeof(s->host), "%s", c->address) >=
	    (int)sizeof(s->host))
		return -1;
	s->port = c->port;
	if (u != NULL)
		snprintf(s->user, sizeof(s->user), "%s", u);
	if (p != NULL)
		snprintf(s->pass, sizeof(s->pass), "%s", p);
	return 0;
}

static void
agent_cfg(p2p_node *n, p2p_ice_cfg *c, int controlling)
{
	const p2p_config *cfg = &n->cfg;
	const p2p_ice_server_cfg *stun;
	p2p_ice_server found[P2P_ICE_MAX_TURN];
	size_t nf;

	memset(c, 0, sizeof(*c));
	c->controlling = controlling;
	c->overlay_link = P2P_LINK_DTLS_UDP_SR;
	c->timeout_ms = ICE_ATTACH_TIMEOUT_MS;
	if (strcmp(n->listen_ip, "0.0.0.0") != 0 &&
	    strcmp(n->listen_ip, "::") != 0)
		snprintf(c->local_ip, sizeof(c->local_ip), "%s", n->listen_ip);
	if (stun_server_pick(n, &stun))
		(void)server_cfg(&c->stun, stun, cfg);
	for (size_t i = 0; i < cfg->nturn_servers && c->nturn <
	    P2P_ICE_MAX_TURN; i++)
		if (server_cfg(&c->turn[c->nturn], &cfg->turn_servers[i],
		    cfg) == 0 && c->turn[c->nturn].user[0] != '\0' &&
		    stun_turn_usable(n, c->turn[c->nturn].host,
		    c->turn[c->nturn].port))
			c->nturn++;
	/* then those found in the overlay (TURN-SERVICE) */
	nf = turnsvc_ice_servers(n, found, P2P_ICE_MAX_TURN);
	for (size_t i = 0; i < nf && c->nturn < P2P_ICE_MAX_TURN; i++)
		if (stun_turn_usable(n, found[i].host, found[i].port))
			c->turn[c->nturn++] = found[i];
}

void
ice_agent_cfg(p2p_node *n, p2p_ice_cfg *c)
{
	agent_cfg(n, c, 0);
}

json_t *
ice_servers_json(p2p_node *n)
{
	p2p_ice_cfg c;
	json_t *turn, *stun;

	if (n->ice == NULL)
		return json_null();
	agent_cfg(n, &c, 0);
	stun = c.stun.host[0] != '\0' ? json_pack("{s:s,s:i}", "address",
	    c.stun.host, "port", (int)c.stun.port) : json_null();
	turn = json_array();
	for (size_t i = 0; i < c.nturn; i++)
		json_array_append_new(turn, json_pack("{s:s,s:i,s:s,s:s}",
		    "address", c.turn[i].host, "port", (int)c.turn[i].port,
		    "username", c.turn[i].user, "password", c.turn[i].pass));
	return json_pack("{s:o,s:o,s:s}", "stun", stun, "turn", turn,
	    "local_ip", c.local_ip);
}

static ice_attach *
ia_new(p2p_node *n, int outbound)
{
	ice_state *s = n->ice;
	ice_attach *ia;
	p2p_ice_cfg cfg;
	char err[128];

	if (s == NULL || s->ctx == NULL || s->count >= NODE_MAX_ICE ||
	    (ia = calloc(1, sizeof(*ia))) == NULL)
		return NULL;
	ia->n = n;
	ia->outbound = outbound;
	agent_cfg(n, &cfg, outbound);
	if ((ia->ice = p2p_ice_new(s->ctx, &cfg, &agent_cbs, ia, err,
	    sizeof(err))) == NULL) {
		node_log(n, NLOG_WARN, "ICE: %s", err);
		free(ia);
		return NULL;
	}
	ia->next = s->list;
	s->list = ia;
	s->count++;
	return ia;
}

/* -1 (the record freed, no callback) if gathering cannot start. */
static int
ia_gather(ice_attach *ia)
{
	if (p2p_ice_gather(ia->ice) == 0)
		return 0;
	node_log(ia->n, NLOG_WARN, "ICE: cannot gather candidates");
	ia_free(ia);
	return -1;
}

/* Copy a destination list with the ids its entries point to. */
static int
keep_dest(ice_attach *ia, const p2p_dest *dest, size_t ndest)
{
	size_t total = 0, off = 0;

	for (size_t i = 0; i < ndest; i++)
		total += dest[i].data.len;
	if ((ia->dest = calloc(ndest, sizeof(*dest))) == NULL ||
	    (total > 0 && (ia->dest_data = malloc(total)) == NULL))
		return -1;
	for (size_t i = 0; i < ndest; i++) {
		ia->dest[i] = dest[i];
		if (dest[i].data.len > 0) {
			memcpy(ia->dest_data + off, dest[i].data.p,
			    dest[i].data.len);
			ia->dest[i].data.p = ia->dest_data + off;
			off += dest[i].data.len;
		}
	}
	ia->ndest = ndest;
	return 0;
}

/* ---- outbound ---- */

static void
attach_answered(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	ice_attach *ia = user;
	uint8_t mem[8192];
	p2p_arena a;
	p2p_attach at;
	p2p_err e = { 0 };
	node_ans_cb cb = ia->cb;
	void *cbuser = ia->user;

	ia->cb = NULL;
	if (st == P2P_TXN_ANSWERED && ans != NULL && who != NULL &&
	    ans->code == P2P_ATTACH_ANS && who->has_node && ia->ice != NULL) {
		p2p_arena_init(&a, mem, sizeof(mem));
		ia->peer = who->node;
		ia->has_peer = 1;
		if (p2p_attach_decode(ans->body, &a, &at, &e) != 0 ||
		    at.ncands == 0 || p2p_ice_set_remote(ia->ice, at.ufrag.p,
		    at.ufrag.len, at.password.p, at.password.len, at.cands,
		    at.ncands) != 0)
			ia_free(ia);	/* nothing to check, or linked */
	} else
		ia_free(ia);
	cb(n, cbuser, st, ans, who);
}

int
ice_send_attach(p2p_node *n, const p2p_dest *dest, size_t ndest,
    int send_update, p2p_link *via_link, node_ans_cb cb, void *user)
{
	ice_attach *ia = ia_new(n, 1);

	if (ia == NULL)
		return -1;
	ia->send_update = send_update;
	ia->cb = cb;
	ia->user = user;
	ia->via_link = via_link != NULL ? via_link->id : 0;
	if (ndest == 0 || keep_dest(ia, dest, ndest) != 0) {
		ia_free(ia);
		return -1;
	}
	if (ndest > 0 && dest[ndest - 1].type == P2P_DEST_NODE) {
		ia->peer = dest[ndest - 1].node;
		ia->has_peer = 0;	/* known for logs; set on the answer */
	}
	return ia_gather(ia);
}

/* The AppAttach answer: the answerer's candidates go to the agent. */
static void
app_answered(p2p_node *n, void *user, enum p2p_txn_status st,
    const p2p_msg *ans, const p2p_sig_who *who)
{
	ice_attach *ia = user;
	p2p_app_attach aa;
	p2p_arena ar;
	p2p_err e = { 0 };
	void *mem = NULL;
	size_t cap;
	char why[192], text[128] = "";
	uint16_t code = 0;

	ia->waiting = 0;
	if (ia->ice == NULL) {
		snprintf(why, sizeof(why), "ICE ended");
	} else if (st != P2P_TXN_ANSWERED || ans == NULL || who == NULL) {
		snprintf(why, sizeof(why), "AppAttach: %s",
		    st == P2P_TXN_TIMEOUT ? "no answer" : "failed");
	} else if (ans->code != P2P_APP_ATTACH_ANS) {
		(void)route_error_info(ans, &code, text, sizeof(text));
		snprintf(why, sizeof(why), "AppAttach refused: %s %s",
		    p2p_error_name(code) ? p2p_error_name(code) : "?", text);
	} else if (!who->has_node || !p2p_id_eq(&who->node, &ia->peer)) {
		snprintf(why, sizeof(why), "AppAttach answered by another node");
	} else if ((mem = malloc(cap = 4 * ans->body.len + 4096)) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
	} else {
		p2p_arena_init(&ar, mem, cap);
		if (p2p_app_attach_decode(ans->body, &ar, &aa, &e) != 0 ||
		    aa.application != ia->app)
			snprintf(why, sizeof(why), "AppAttach answer unusable: %s",
			    e.what ? e.what : "another application");
		else if (p2p_ice_set_remote(ia->ice, aa.ufrag.p, aa.ufrag.len,
		    aa.password.p, aa.password.len, aa.cands, aa.ncands) != 0)
			snprintf(why, sizeof(why), "no usable ICE candidate in "
			    "the AppAttach answer");
		else {
			free(mem);
			return;		/* the agent checks the pairs */
		}
	}
	free(mem);
	app_tell(ia, NULL, why);
	ia_free(ia);
}

int
ice_send_app_attach(p2p_node *n, const p2p_id *peer, uint16_t app,
    node_path_cb cb, uint64_t user)
{
	ice_attach *ia = ia_new(n, 1);
	p2p_dest d;

	if (ia == NULL)
		return -1;
	ia->app = app;
	ia->path_cb = cb;
	ia->path_user = user;
	ia->peer = *peer;
	ia->has_peer = 1;
	memset(&d, 0, sizeof(d));
	d.type = P2P_DEST_NODE;
	d.node = *peer;
	if (keep_dest(ia, &d, 1) != 0) {
		ia_free(ia);
		return -1;
	}
	return ia_gather(ia);
}

/* ---- inbound ---- */

static int
keep_remote(ice_attach *ia, p2p_bytes ufrag, p2p_bytes pwd,
    const p2p_ice_cand *cands, size_t ncands)
{
	if (ufrag.len >= sizeof(ia->rufrag) || pwd.len >= sizeof(ia->rpwd))
		return -1;
	memcpy(ia->rufrag, ufrag.p, ufrag.len);
	ia->rulen = ufrag.len;
	memcpy(ia->rpwd, pwd.p, pwd.len);
	ia->rplen = pwd.len;
	for (size_t i = 0; i < ncands && ia->nrc < ICE_MAX_REMOTE; i++) {
		p2p_ice_cand *c = &ia->rc[ia->nrc];

		if (cands[i].overlay_link != P2P_LINK_DTLS_UDP_SR)
			continue;
		*c = cands[i];
		c->exts = NULL;
		c->nexts = 0;
		c->rel_addr.raw.p = NULL;
		c->rel_addr.raw.len = 0;
		c->addr.raw.p = NULL;
		c->addr.raw.len = 0;
		memcpy(ia->rfound[ia->nrc], c->foundation.p,
		    c->foundation.len);
		c->foundation.p = ia->rfound[ia->nrc];
		ia->nrc++;
	}
	return ia->nrc > 0 ? 0 : -1;
}

static int
keep_request(ice_attach *ia, p2p_link *from, const p2p_msg *m)
{
	ia->tid = m->transaction_id;
	ia->from_link = from != NULL ? from->id : 0;
	if (from != NULL)
		ia->from_peer = from->peer;
	if (m->nvia == 0)
		return 0;
	for (size_t i = 0; i < m->nvia; i++)
		if (m->via[i].type != P2P_DEST_NODE)
			return -1;	/* other ids point into the message */
	if ((ia->via = calloc(m->nvia, sizeof(*m->via))) == NULL)
		return -1;
	memcpy(ia->via, m->via, m->nvia * sizeof(*m->via));
	ia->nvia = m->nvia;
	return 0;
}

static int
in_progress(p2p_node *n, uint64_t tid)
{
	for (ice_attach *ia = n->ice->list; ia != NULL; ia = ia->next)
		if (!ia->outbound && ia->tid == tid)
			return 1;
	return 0;
}

void
ice_on_attach(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, const p2p_attach *at, int client)
{
	p2p_link *l;
	ice_attach *ia;
	p2p_wbuf w;

	if (in_progress(n, m->transaction_id))
		return;
	if ((l = link_by_peer(n, &who->node)) != NULL) {
		/* Linked already: an answer without candidates. */
		l->client |= client;
		p2p_w_init(&w, 64);
		if (p2p_attach_encode(&w, &(p2p_attach){ .role = {
		    (const uint8_t *)"active", 6 } }) == 0)
			(void)route_answer(n, from, m, P2P_ATTACH_ANS, w.p,
			    w.len);
		p2p_w_free(&w);
		if (at->send_update)
			topo_send_update(n, &who->node, P2P_UPDATE_FULL);
		return;
	}
	if ((ia = ia_new(n, 0)) == NULL) {
		(void)route_error(n, from, m, P2P_ERR_IN_PROGRESS,
		    "too many ICE sessions");
		return;
	}
	ia->peer = who->node;
	ia->has_peer = 1;
	ia->send_update = at->send_update;
	ia->client = client;
	if (keep_remote(ia, at->ufrag, at->password, at->cands,
	    at->ncands) != 0 || keep_request(ia, from, m) != 0) {
		ia_free(ia);
		(void)route_error(n, from, m, P2P_ERR_INCOMPATIBLE,
		    "no usable ICE candidate");
		return;
	}
	(void)ia_gather(ia);
}

void
ice_on_app_attach(p2p_node *n, p2p_link *from, const p2p_msg *m,
    const p2p_sig_who *who, const p2p_app_attach *aa, node_path_cb cb)
{
	ice_attach *ia;

	if (in_progress(n, m->transaction_id))
		return;
	if ((ia = ia_new(n, 0)) == NULL) {
		(void)route_error(n, from, m, P2P_ERR_IN_PROGRESS,
		    "too many ICE sessions");
		return;
	}
	ia->app = aa->application;
	ia->path_cb = cb;
	ia->peer = who->node;
	ia->has_peer = 1;
	if (keep_remote(ia, aa->ufrag, aa->password, aa->cands,
	    aa->ncands) != 0 || keep_request(ia, from, m) != 0) {
		ia_free(ia);
		(void)route_error(n, from, m, P2P_ERR_INCOMPATIBLE,
		    "no usable ICE candidate");
		return;
	}
	(void)ia_gather(ia);
}

/* ---- life ---- */

int
ice_start(p2p_node *n, char *err, size_t errlen)
{
	ice_state *s;

	if (n->cfg.no_ice)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((s->ctx = p2p_ice_ctx_new(n->loop, err, errlen)) == NULL) {
		free(s);
		return -1;
	}
	n->ice = s;
	return 0;
}

/* Stopping, on the loop: end every agent and the GLib side. Records
 * whose request is out stay until their transaction ends
 * (p2p_txn_table_free cancels it); links over ICE pairs close on their
 * own. */
void
ice_stop(p2p_node *n)
{
	ice_state *s = n->ice;
	ice_attach *ia, *next;

	if (s == NULL || s->ctx == NULL)
		return;
	for (ia = s->list; ia != NULL; ia = next) {
		next = ia->next;
		ia_end(ia, "the node is stopping");
	}
	p2p_ice_ctx_free(s->ctx);
	s->ctx = NULL;
}

/* After the transaction table is gone. */
void
ice_free(p2p_node *n)
{
	ice_state *s = n->ice;

	if (s == NULL)
		return;
	while (s->list != NULL) {
		s->list->cb = NULL;
		ia_free(s->list);
	}
	free(s);
	n->ice = NULL;
}
