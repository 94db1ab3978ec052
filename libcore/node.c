/*
 * node: setup and lifetime of a p2p-node (see node_int.h for the map).
 */
#include "node_int.h"
#include "anscache.h"
#include "frag.h"

#include "cfgupd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rand.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };

const char *
node_id_short(const p2p_id *id, char buf[9])
{
	char hex[P2P_ID_HEXLEN + 1];

	p2p_id_hex(id, hex);
	memcpy(buf, hex, 8);
	buf[8] = '\0';
	return buf;
}

void
node_log(p2p_node *n, int level, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (level > n->opts.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n->opts.use_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		    LOG_DEBUG };
		syslog(prio[level], "%s", msg);
		return;
	}
	{
		char id[9];
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld p2p-node[%s] %s: %s\n",
		    tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    node_id_short(&n->ident.node, id), level_names[level], msg);
	}
}

uint64_t
node_now(p2p_node *n)
{
	uv_update_time(n->loop);
	return uv_now(n->loop);
}

uint64_t
node_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
path_join(char *buf, size_t cap, const char *dir, const char *name)
{
	int r = snprintf(buf, cap, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= cap ? -1 : 0;
}

static char *
read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Identity, configuration and trust from the node directory. */
static int
load_dir(p2p_node *n, char *err, size_t errlen)
{
	char path[PATH_MAX];
	p2p_err e = { 0 };
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char *doc;
	size_t len;
	int rc = -1;

	if (path_join(path, sizeof(path), n->opts.dir, "overlay.xml") != 0)
		goto toolong;
	doc = read_file(path, P2P_CONFIG_MAX_SIZE, &len, err, errlen);
	if (doc == NULL)
		return -1;
	if (p2p_config_parse(doc, len, NULL, &n->cfg, &e) != 0) {
		snprintf(err, errlen, "%s: %s", path, e.what);
		free(doc);
		return -1;
	}
	if ((n->trust = p2p_config_trust(&n->cfg, &e)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, e.what);
		free(doc);
		return -1;
	}
	/* The document must be signed by a signer the roots vouch for. */
	if (n->cfg.nroot_certs > 0 && p2p_config_verify(doc, len, n->trust,
	    n->cfg.config_signers, n->cfg.nconfig_signers, NULL, &e) != 0) {
		snprintf(err, errlen, "%s: signature: %s", path, e.what);
		free(doc);
		return -1;
	}
	n->cfg_doc = doc;	/* what ConfigUpdate sends (node_cfg.c) */
	n->cfg_doc_len = len;
	n->overlay = strdup(n->cfg.instance_name);
	if (n->overlay == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n->overlay_hash = p2p_overlay_hash(n->overlay);

	/* A CRL the node was given (p2p-enroll or the operator). */
	if (path_join(path, sizeof(path), n->opts.dir, "crl.pem") != 0)
		goto toolong;
	{
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			X509_CRL *crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
			fclose(f);
			if (crl == NULL || p2p_trust_set_crl(n->trust, crl,
			    &e) != 0) {
				X509_CRL_free(crl);
				snprintf(err, errlen, "%s: unreadable CRL",
				    path);
				return -1;
			}
			X509_CRL_free(crl);
		}
	}

	if (path_join(path, sizeof(path), n->opts.dir, "key.pem") != 0)
		goto toolong;
	if ((key = p2p_key_load(path, &e)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, e.what);
		goto out;
	}
	if (path_join(path, sizeof(path), n->opts.dir, "cert.pem") != 0)
		goto toolong;
	if ((cert = p2p_cert_load(path, &e)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, e.what);
		goto out;
	}
	if (p2p_identity_init(&n->ident, key, cert, NULL, &e) != 0) {
		snprintf(err, errlen, "%s: %s", path, e.what);
		goto out;
	}
	/* Our own certificate must pass what peers will check. */
	if (p2p_cert_verify(n->trust, cert, NULL, &n->ident.node, &e) !=
	    P2P_VERIFY_OK) {
		snprintf(err, errlen, "%s: own certificate refused: %s", path,
		    e.what);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
toolong:
	snprintf(err, errlen, "node directory path too long");
	return -1;
}

static void
tls_log(int level, const char *msg, void *arg)
{
	/* The node reports refused links itself; TLS details are for
	 * debugging. */
	node_log(arg, level <= 1 ? NLOG_DEBUG : level, "tls: %s", msg);
}

/*
 * Timers. The node has one timer for the work of every module (each
 * *_tick), armed for the earliest time any of them has something due
 * (each *_next_due). Anything that happens may add an earlier deadline (a
 * transaction sent, a link opened, a value stored), so the time is
 * computed again before the loop waits for I/O (a uv_prepare handle);
 * an idle node sleeps until its next keepalive or refresh.
 *
 * Some work stays due after the tick that handled it (a link being
 * closed is still open until its TLS close completes): what was already
 * due at the last tick runs again RETRY_MS after it, not in a loop.
 */
#define RETRY_MS 200

static void on_tick(uv_timer_t *t);
static int withdrawing(const p2p_node *n);
static void stop_leave(p2p_node *n);

static uint64_t
next_due(p2p_node *n, uint64_t now)
{
	uint64_t t = p2p_txn_next_due(&n->txns), u;

#define EARLIER(x) do { u = (x); if (u < t) t = u; } while (0)
	if (n->reasm != NULL)
		EARLIER(p2p_reasm_next_due(n->reasm));
	if (n->anscache != NULL)
		EARLIER(p2p_anscache_next_due(n->anscache));
	if (n->stopping)
		return t;
	EARLIER(topo_next_due(n));
	EARLIER(store_next_due(n, now));
	if (!withdrawing(n)) {
		EARLIER(sipreg_next_due(n, now));
		EARLIER(turnsvc_next_due(n));
		EARLIER(sip_next_due(n, now));
		EARLIER(crl_next_due(n));
		EARLIER(cfg_next_due(n));
		EARLIER(stun_next_due(n));
	}
	EARLIER(link_next_due(n));
#undef EARLIER
	return t;
}

static void
arm(p2p_node *n)
{
	uint64_t now = node_now(n), due = next_due(n, now);

	if (due <= n->tick_ms)
		due = n->tick_ms + RETRY_MS;
	if (due == n->tick_due && uv_is_active((uv_handle_t *)&n->tick))
		return;
	n->tick_due = due;
	if (due == UINT64_MAX) {
		uv_timer_stop(&n->tick);
		return;
	}
	uv_timer_start(&n->tick, on_tick, due > now ? due - now : 0, 0);
}

static void
on_tick(uv_timer_t *t)
{
	p2p_node *n = t->data;
	uint64_t now = node_now(n);

	n->tick_due = UINT64_MAX;
	n->tick_ms = now;
	route_tick(n, now);
	if (!n->stopping) {
		topo_tick(n, now);
		store_tick(n, now);
		if (!withdrawing(n)) {
			sipreg_tick(n, now);
			turnsvc_tick(n, now);
			sip_tick(n, now);
			crl_tick(n, now);
			cfg_tick(n, now);
			stun_tick(n, now);
		}
		link_keepalive(n, now);
	}
	n->st.wakeups++;
}

static void
on_prepare(uv_prepare_t *p)
{
	p2p_node *n = p->data;

	if (withdrawing(n) && n->txns.count == 0)
		stop_leave(n);	/* every request out has its answer */
	arm(n);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	p2p_node *n = s->data;

	node_log(n, NLOG_INFO, "signal %d: leaving the overlay", signum);
	node_stop(n, "signal");
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * A clean stop (node_stop) takes three steps.
 *   1. Withdraw what the node published (its TURN-SERVICE values, the
 *      registrations of its SIP front) and let every request it has out
 *      be answered, for WITHDRAW_WAIT_MS at most. The node still routes,
 *      stores and keeps the ring meanwhile, so that the withdrawals are
 *      carried and copied to the replicas; what publishes has stopped.
 *   2. Refuse new requests (n->stopping), send the Leaves and give them
 *      LEAVE_WAIT_MS to go out and be answered.
 *   3. Close everything (on_stop_timer): the loop then ends.
 */
#define WITHDRAW_WAIT_MS	2000
#define LEAVE_WAIT_MS		500

/* Step 1: the stop timer runs and requests still go out. */
static int
withdrawing(const p2p_node *n)
{
	return !n->stopping &&
	    uv_is_active((const uv_handle_t *)&n->stop_timer);
}

static void
on_stop_timer(uv_timer_t *t)
{
	p2p_node *n = t->data;

	link_close_all(n);
	link_udp_close(n);
	ice_stop(n);
	stun_stop(n);
	if (n->listener != NULL) {
		p2p_tls_listener_close(n->listener);
		n->listener = NULL;
	}
	if (n->ctl != NULL) {
		p2p_ctl_server_stop(n->ctl);
		n->ctl = NULL;
	}
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, NULL);
	uv_prepare_stop(&n->prepare);
	uv_close((uv_handle_t *)&n->prepare, NULL);
	uv_close((uv_handle_t *)&n->stop_timer, NULL);
	uv_close((uv_handle_t *)&n->sigint, NULL);
	uv_close((uv_handle_t *)&n->sigterm, NULL);
}

static void
stop_leave(p2p_node *n)
{
	n->stopping = 1;
	if (n->txns.count > 0)
		node_log(n, NLOG_DEBUG, "leaving with %zu requests unanswered",
		    n->txns.count);
	uv_timer_start(&n->stop_timer, on_stop_timer,
	    topo_leave(n) > 0 ? LEAVE_WAIT_MS : 0, 0);
}

static void
on_withdraw_timer(uv_timer_t *t)
{
	stop_leave(t->data);
}

void
node_stop(p2p_node *n, const char *why)
{
	if (n->stopping || withdrawing(n))
		return;
	node_log(n, NLOG_INFO, "stopping (%s)", why);
	(void)turnsvc_stop(n);
	sip_stop(n);
	uv_timer_start(&n->stop_timer, on_withdraw_timer, WITHDRAW_WAIT_MS,
	    0);
}

static void
node_free(p2p_node *n)
{
	sip_free(n);
	route_free(n);
	p2p_txn_table_free(&n->txns);
	ice_free(n);
	sipreg_free(n);
	turnsvc_free(n);
	store_free(n);
	p2p_identity_free(&n->ident);
	p2p_trust_free(n->trust);
	p2p_config_free(&n->cfg);
	cfg_free(n);
	if (n->tls_srv != NULL)
		p2p_tls_ctx_free(n->tls_srv);
	if (n->tls_cli != NULL)
		p2p_tls_ctx_free(n->tls_cli);
	if (n->dtls_srv != NULL)
		p2p_tls_ctx_free(n->dtls_srv);
	if (n->dtls_cli != NULL)
		p2p_tls_ctx_free(n->dtls_cli);
	free(n->overlay);
}

static int
chord_setup(p2p_node *n, char *err, size_t errlen)
{
	p2p_chord_config cc;
	p2p_err e = { 0 };
	unsigned upd = n->opts.update_interval_s, png = n->opts.ping_interval_s;

	p2p_chord_config_default(&cc);
	if (upd == 0)
		upd = n->cfg.chord_update_interval;
	if (png == 0)
		png = n->cfg.chord_ping_interval;
	if (upd > 0)
		cc.update_interval_ms = (uint64_t)upd * 1000;
	if (png > 0)
		cc.ping_interval_ms = (uint64_t)png * 1000;
	if (p2p_chord_init(&n->chord, &n->ident.node, &cc, node_now(n),
	    &e) != 0) {
		snprintf(err, errlen, "chord: %s", e.what);
		return -1;
	}
	return 0;
}

/* A client needs a peer to reach the overlay through, and the overlay's
 * permission. */
static int
client_check(p2p_node *n, char *err, size_t errlen)
{
	size_t nb = n->opts.bootstrap != NULL ? n->opts.nbootstrap :
	    n->cfg.nbootstrap;

	if (!n->opts.client)
		return 0;
	if (!n->cfg.clients_permitted) {
		snprintf(err, errlen, "the overlay's configuration does not "
		    "permit client nodes (clients-permitted is false)");
		return -1;
	}
	if (nb == 0) {
		snprintf(err, errlen, "a client node needs a bootstrap peer "
		    "(--bootstrap or the configuration's bootstrap-node)");
		return -1;
	}
	return 0;
}

int
p2p_node_run(const p2p_node_opts *o, char *err, size_t errlen)
{
	p2p_node *n;
	p2p_txn_params tp;
	int rc = 1;

	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	n->opts = *o;
	n->loop = uv_default_loop();
	n->next_link_id = 1;	/* n->cfg is set up by p2p_config_parse */
	if (n->opts.use_syslog)
		openlog("p2p-node", LOG_PID, LOG_DAEMON);
	p2p_tls_set_log(tls_log, n);
	if (load_dir(n, err, errlen) != 0)
		goto out;
	p2p_txn_params_default(&tp);
	if (n->cfg.overlay_reliability_timer > 0)
		tp.retransmit_ms = n->cfg.overlay_reliability_timer;
	if (p2p_txn_table_init(&n->txns, &tp) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (client_check(n, err, errlen) != 0)
		goto out;
	n->start_ms = node_now(n);
	if (cfg_init(n) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	crl_start(n);
	if (chord_setup(n, err, errlen) != 0)
		goto out;
	if (store_init(n) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (link_listen(n, err, errlen) != 0)
		goto out;
	if (ice_start(n, err, errlen) != 0)
		goto out;
	if (turnsvc_start(n, err, errlen) != 0)
		goto out;
	if (ctl_start(n, err, errlen) != 0)
		goto out;
	if (sip_start(n, err, errlen) != 0)
		goto out;
	uv_timer_init(n->loop, &n->tick);
	n->tick.data = n;
	n->tick_due = UINT64_MAX;
	uv_prepare_init(n->loop, &n->prepare);
	n->prepare.data = n;
	uv_prepare_start(&n->prepare, on_prepare);
	uv_timer_init(n->loop, &n->stop_timer);
	n->stop_timer.data = n;
	uv_signal_init(n->loop, &n->sigint);
	uv_signal_init(n->loop, &n->sigterm);
	n->sigint.data = n->sigterm.data = n;
	uv_signal_start(&n->sigint, on_signal, SIGINT);
	uv_signal_start(&n->sigterm, on_signal, SIGTERM);
	{
		char id[P2P_ID_HEXLEN + 1];
		node_log(n, NLOG_INFO, "node %s listening on %s:%u, overlay %s",
		    p2p_id_hex(&n->ident.node, id), n->listen_ip,
		    n->listen_port, n->overlay);
	}
	topo_start(n);
	if (n->opts.ready_fd >= 0) {
		ssize_t w = write(n->opts.ready_fd, "", 1);
		(void)w;
		close(n->opts.ready_fd);
	}
	uv_run(n->loop, UV_RUN_DEFAULT);
	rc = n->exit_code;
	node_log(n, NLOG_INFO, "stopped");
	p2p_tls_set_log(NULL, NULL);
	node_free(n);
	free(n);
	return rc;
out:
	ice_stop(n);
	p2p_tls_set_log(NULL, NULL);
	if (n->listener != NULL)
		p2p_tls_listener_close(n->listener);
	link_udp_close(n);
	if (n->ctl != NULL)
		p2p_ctl_server_stop(n->ctl);
	uv_walk(n->loop, close_walk, NULL);
	uv_run(n->loop, UV_RUN_DEFAULT);
	node_free(n);
	free(n);
	return 1;
}
