/*
 * p2p-icepeer: one ICE agent (libcore/ice.c) for the NAT lab; not
 * installed.
 *
 *   p2p-icepeer --out FILE --in FILE [--controlling] [--local IP]
 *               [--stun IP:PORT] [--turn IP:PORT --user U --pass P]
 *               [--relay-only] [--timeout S] [--name TEXT]
 *
 * Gathers, writes its side of the offer/answer as the hex of an RFC 6940
 * AttachReqAns body (ufrag, password, role, candidates) to --out, waits
 * for the other side's in --in (the files stand in for the overlay that
 * carries Attach), runs the checks, then sends "hello from NAME" over the
 * selected pair until the other side's greeting arrived and a second
 * passed. Prints "candidate TYPE ADDR" per local candidate, "connected
 * PAIR", "received TEXT"; exit 0 on success, 1 on failure ("failed WHY"),
 * 2 on a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "body_link.h"
#include "ice.h"

static struct {
	uv_loop_t *loop;
	p2p_ice_ctx *ctx;
	p2p_ice *ice;
	p2p_dgram *d;
	const char *out, *in, *name;
	uv_timer_t poll, deadline;
	int controlling, gathered, remote_set, got, done, rc;
	uint64_t got_at;
} S;

static void
finish(int rc)
{
	if (S.done)
		return;
	S.done = 1;
	S.rc = rc;
	uv_timer_stop(&S.poll);
	uv_timer_stop(&S.deadline);
	if (S.d != NULL)
		p2p_dgram_close(S.d);
	else if (S.ice != NULL)
		p2p_ice_free(S.ice);
	S.d = NULL;
	S.ice = NULL;
	uv_close((uv_handle_t *)&S.poll, NULL);
	uv_close((uv_handle_t *)&S.deadline, NULL);
	p2p_ice_ctx_free(S.ctx);
}

static const char *
cand_type(uint8_t t)
{
	return t == P2P_CAND_HOST ? "host" : t == P2P_CAND_SRFLX ? "srflx" :
	    t == P2P_CAND_RELAY ? "relay" : "other";
}

static void
on_gathered(p2p_ice *ice, const char *ufrag, const char *pwd,
    const p2p_ice_cand *c, size_t n, void *arg)
{
	p2p_attach at;
	p2p_wbuf w;
	char tmp[1024], addr[64];
	FILE *f;

	memset(&at, 0, sizeof(at));
	at.ufrag.p = (const uint8_t *)ufrag;
	at.ufrag.len = strlen(ufrag);
	at.password.p = (const uint8_t *)pwd;
	at.password.len = strlen(pwd);
	at.role.p = (const uint8_t *)(S.controlling ? "passive" : "active");
	at.role.len = strlen((const char *)at.role.p);
	at.cands = (p2p_ice_cand *)c;
	at.ncands = n;
	S.gathered = 1;
	for (size_t i = 0; i < n; i++) {
		p2p_ice_cand_str(&c[i], addr, sizeof(addr));
		printf("candidate %s %s\n", cand_type(c[i].type), addr);
	}
	p2p_w_init(&w, 512);
	snprintf(tmp, sizeof(tmp), "%s.tmp", S.out);
	if (p2p_attach_encode(&w, &at) != 0 || !p2p_w_ok(&w) ||
	    (f = fopen(tmp, "w")) == NULL) {
		p2p_w_free(&w);
		printf("failed cannot write the offer\n");
		finish(1);
		return;
	}
	for (size_t i = 0; i < w.len; i++)
		fprintf(f, "%02x", w.p[i]);
	fprintf(f, "\n");
	p2p_w_free(&w);
	if (fclose(f) != 0 || rename(tmp, S.out) != 0) {
		printf("failed cannot write the offer\n");
		finish(1);
	}
	fflush(stdout);
}

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	*n = 0;
	while (s[0] != '\0' && s[0] != '\n') {
		unsigned v;
		if (s[1] == '\0' || *n == cap || sscanf(s, "%2x", &v) != 1)
			return -1;
		out[(*n)++] = (uint8_t)v;
		s += 2;
	}
	return 0;
}

static void
send_hello(void)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "hello from %s", S.name);
	(void)p2p_dgram_send(S.d, (const uint8_t *)msg, strlen(msg));
}

/* Once connected, every poll: greet until answered, then a second more. */
static void
on_tick(uv_timer_t *t)
{
	if (S.d == NULL)
		return;
	send_hello();
	if (S.got && uv_now(S.loop) >= S.got_at + 1000)
		finish(0);
}

/* The other side's offer, once its file is there. */
static void
on_poll(uv_timer_t *t)
{
	static char line[16384];
	uint8_t buf[8192], mem[16384];
	p2p_arena a;
	p2p_attach at;
	p2p_err e = { 0 };
	size_t n;
	FILE *f;

	if (S.d != NULL) {
		on_tick(t);
		return;
	}
	if (!S.gathered || S.remote_set || S.ice == NULL ||
	    (f = fopen(S.in, "r")) == NULL)
		return;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return;
	}
	fclose(f);
	p2p_arena_init(&a, mem, sizeof(mem));
	if (unhex(line, buf, sizeof(buf), &n) != 0 ||
	    p2p_attach_decode((p2p_bytes){ buf, n }, &a, &at, &e) != 0) {
		printf("failed bad offer in %s\n", S.in);
		finish(1);
		return;
	}
	S.remote_set = 1;
	if (p2p_ice_set_remote(S.ice, at.ufrag.p, at.ufrag.len, at.password.p,
	    at.password.len, at.cands, at.ncands) != 0) {
		printf("failed no usable remote candidate\n");
		finish(1);
	}
}

static void
d_recv(p2p_dgram *d, const uint8_t *buf, size_t len, void *arg)
{
	if (S.got || len > 200)
		return;
	S.got = 1;
	S.got_at = uv_now(S.loop);
	printf("received %.*s\n", (int)len, (const char *)buf);
	fflush(stdout);
	send_hello();
}

static void
d_gone(p2p_dgram *d, const char *why, void *arg)
{
	S.d = NULL;
	S.ice = NULL;
	printf("failed %s\n", why);
	finish(1);
}

static void
on_connected(p2p_ice *ice, p2p_dgram *d, void *arg)
{
	S.d = d;
	d->on_recv = d_recv;
	d->on_gone = d_gone;
	printf("connected %s\n", p2p_ice_pair(ice));
	fflush(stdout);
}

static void
on_failed(p2p_ice *ice, const char *why, void *arg)
{
	printf("failed %s\n", why);
	finish(1);
}

static void
on_deadline(uv_timer_t *t)
{
	printf("failed no greeting in time\n");
	finish(1);
}

static int
split(const char *s, char *ip, size_t cap, uint16_t *port)
{
	const char *c = strrchr(s, ':');
	long p;

	if (c == NULL || (size_t)(c - s) >= cap)
		return -1;
	memcpy(ip, s, (size_t)(c - s));
	ip[c - s] = '\0';
	p = strtol(c + 1, NULL, 10);
	if (p <= 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: p2p-icepeer --out FILE --in FILE "
	    "[--controlling] [--local IP] [--stun IP:PORT] [--turn IP:PORT "
	    "--user U --pass P] [--relay-only] [--timeout S] [--name TEXT]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "in", required_argument, NULL, 'i' },
		{ "controlling", no_argument, NULL, 'c' },
		{ "local", required_argument, NULL, 'l' },
		{ "stun", required_argument, NULL, 's' },
		{ "turn", required_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "pass", required_argument, NULL, 'p' },
		{ "relay-only", no_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	p2p_ice_cbs cbs = { on_gathered, on_connected, on_failed };
	p2p_ice_cfg cfg;
	double timeout = 30;
	char err[160];
	int ch;

	memset(&cfg, 0, sizeof(cfg));
	cfg.overlay_link = P2P_LINK_DTLS_UDP_SR;
	S.name = "peer";
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'o': S.out = optarg; break;
		case 'i': S.in = optarg; break;
		case 'c': S.controlling = 1; break;
		case 'l':
			snprintf(cfg.local_ip, sizeof(cfg.local_ip), "%s",
			    optarg);
			break;
		case 's':
			if (split(optarg, cfg.stun.host, sizeof(cfg.stun.host),
			    &cfg.stun.port) != 0)
				return usage();
			break;
		case 't':
			if (split(optarg, cfg.turn[0].host,
			    sizeof(cfg.turn[0].host), &cfg.turn[0].port) != 0)
				return usage();
			cfg.nturn = 1;
			break;
		case 'u':
			snprintf(cfg.turn[0].user, sizeof(cfg.turn[0].user),
			    "%s", optarg);
			break;
		case 'p':
			snprintf(cfg.turn[0].pass, sizeof(cfg.turn[0].pass),
			    "%s", optarg);
			break;
		case 'r': cfg.relay_only = 1; break;
		case 'T': timeout = atof(optarg); break;
		case 'n': S.name = optarg; break;
		default: return usage();
		}
	}
	if (S.out == NULL || S.in == NULL || timeout <= 0 || timeout > 600)
		return usage();
	cfg.controlling = S.controlling;
	cfg.timeout_ms = (uint32_t)(timeout * 1000);
	S.loop = uv_default_loop();
	if ((S.ctx = p2p_ice_ctx_new(S.loop, err, sizeof(err))) == NULL ||
	    (S.ice = p2p_ice_new(S.ctx, &cfg, &cbs, NULL, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "p2p-icepeer: %s\n", err);
		return 1;
	}
	uv_timer_init(S.loop, &S.poll);
	uv_timer_init(S.loop, &S.deadline);
	uv_timer_start(&S.poll, on_poll, 100, 100);
	uv_timer_start(&S.deadline, on_deadline, (uint64_t)(timeout * 1000),
	    0);
	if (p2p_ice_gather(S.ice) != 0) {
		printf("failed cannot gather\n");
		finish(1);
	}
	uv_run(S.loop, UV_RUN_DEFAULT);
	uv_loop_close(S.loop);
	return S.rc;
}
