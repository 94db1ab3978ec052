/*
 * p2p-node: the peer daemon, and the commands that ask it how it is.
 *
 *   p2p-node run --dir NODEDIR [--listen ADDR:PORT] [--bootstrap HOST:PORT]...
 *                [--client] [--turn-service ADDR:PORT]
 *   p2p-node status|peers|stop|turn [--json]
 *   p2p-node config [--update FILE] [--json]
 *   p2p-node ping|route|probe (NODE-ID | --resource NAME | --resource-id HEX)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca.h"
#include "cli.h"
#include "frame.h"
#include "id.h"
#include "node.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: p2p-node run --dir NODEDIR [--listen ADDR:PORT] [--bootstrap HOST:PORT]...\n"
"                    [--client] [--socket PATH] [--sip [ADDR:]PORT] [--daemon]\n"
"                    [--sip-password-file FILE] [--sip-tls [ADDR:]PORT\n"
"                    [--sip-tls-cert FILE --sip-tls-key FILE]]\n"
"                    [--pid-file FILE]\n"
"                    [--log-level error|warn|info|debug] [--syslog]\n"
"                    [--update-interval S] [--ping-interval S]\n"
"                    [--link-mtu BYTES]\n"
"                    [--config-refresh S] [--turn-service ADDR:PORT]\n"
"       p2p-node status|peers|stop|turn|sip [--json] [--socket PATH | --dir NODEDIR]\n"
"       p2p-node config [--update FILE] [--json] [--socket PATH | --dir NODEDIR]\n"
"       p2p-node ping|probe|route [--json] [--socket PATH | --dir NODEDIR]\n"
"                    (NODE-ID | --resource NAME | --resource-id HEX)\n"
"See p2p-node(8).\n");
}

static int
log_level(const char *s)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/*
 * The node never runs privileged: started as root it becomes the owner of
 * its node directory, and refuses when that is root too.
 */
static void
drop_root(const char *dir)
{
	struct stat st;
	struct passwd *pw;

	if (geteuid() != 0)
		return;
	if (stat(dir, &st) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "%s: %s", dir, strerror(errno));
	if (st.st_uid == 0)
		p2p_cli_die(P2P_EXIT_FAIL, "refusing to run as root: give the "
		    "node directory %s to an unprivileged user (chown -R)", dir);
	pw = getpwuid(st.st_uid);
	if (setgroups(0, NULL) != 0 || setgid(pw != NULL ? pw->pw_gid :
	    st.st_gid) != 0 || setuid(st.st_uid) != 0 || setuid(0) == 0)
		p2p_cli_die(P2P_EXIT_FAIL, "cannot drop root privileges: %s",
		    strerror(errno));
	if (pw != NULL)
		setenv("HOME", pw->pw_dir, 1);
}

static int
cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "client", no_argument, NULL, 'C' },
		{ "socket", required_argument, NULL, 's' },
		{ "sip", required_argument, NULL, 'I' },
		{ "sip-password-file", required_argument, NULL, 'W' },
		{ "sip-tls", required_argument, NULL, 'X' },
		{ "sip-tls-cert", required_argument, NULL, 'Y' },
		{ "sip-tls-key", required_argument, NULL, 'Z' },
		{ "daemon", no_argument, NULL, 'D' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "update-interval", required_argument, NULL, 'u' },
		{ "ping-interval", required_argument, NULL, 'P' },
		{ "link-mtu", required_argument, NULL, 'M' },
		{ "config-refresh", required_argument, NULL, 'F' },
		{ "turn-service", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	p2p_node_opts o;
	const char **boot = NULL;
	const char *pidfile = NULL;
	int daemonize = 0, c, pipefd[2] = { -1, -1 }, rc;
	char err[512];

	memset(&o, 0, sizeof(o));
	o.log_level = 2;
	o.ready_fd = -1;
	boot = calloc((size_t)argc, sizeof(*boot));
	if (boot == NULL)
		p2p_cli_die(P2P_EXIT_FAIL, "out of memory");
	while ((c = getopt_long(argc, argv, "d:l:b:s:L:h", longopts,
	    NULL)) != -1) {
		char *end;
		switch (c) {
		case 'd': o.dir = optarg; break;
		case 'l': o.listen = optarg; break;
		case 'b': boot[o.nbootstrap++] = optarg; break;
		case 'C': o.client = 1; break;
		case 's': o.socket = optarg; break;
		case 'I': o.sip = optarg; break;
		case 'W': o.sip_password_file = optarg; break;
		case 'X': o.sip_tls = optarg; break;
		case 'Y': o.sip_tls_cert = optarg; break;
		case 'Z': o.sip_tls_key = optarg; break;
		case 'T': o.turn_service = optarg; break;
		case 'D': daemonize = 1; break;
		case 'M':
			o.link_mtu = (size_t)p2p_cli_number("--link-mtu", optarg,
			    P2P_FRAME_MAX_MSG);
			if (o.link_mtu < P2P_LINK_MTU_MIN)
				p2p_cli_die(P2P_EXIT_USAGE, "--link-mtu: at "
				    "least %d bytes", P2P_LINK_MTU_MIN);
			break;
		case 'p': pidfile = optarg; break;
		case 'S': o.use_syslog = 1; break;
		case 'L':
			if ((o.log_level = log_level(optarg)) < 0)
				p2p_cli_die(P2P_EXIT_USAGE, "--log-level: "
				    "one of error, warn, info, debug");
			break;
		case 'u':
		case 'P': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v == 0 ||
			    v > 86400)
				p2p_cli_die(P2P_EXIT_USAGE, "--%s: seconds, "
				    "1 to 86400", c == 'u' ? "update-interval" :
				    "ping-interval");
			if (c == 'u')
				o.update_interval_s = (unsigned)v;
			else
				o.ping_interval_s = (unsigned)v;
			break;
		}
		case 'F': {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v == 0 ||
			    v > 604800)
				p2p_cli_die(P2P_EXIT_USAGE, "--config-refresh: "
				    "seconds, 1 to 604800");
			o.config_refresh_s = (unsigned)v;
			break;
		}
		case 'h': usage(stdout); free(boot); return P2P_EXIT_OK;
		default: usage(stderr); free(boot); return P2P_EXIT_USAGE;
		}
	}
	if (optind != argc || o.dir == NULL) {
		usage(stderr);
		free(boot);
		return P2P_EXIT_USAGE;
	}
	if (o.turn_service != NULL && o.client)
		p2p_cli_die(P2P_EXIT_USAGE, "--turn-service: a client does "
		    "not advertise services; run the node as a peer");
	if (o.sip_password_file != NULL && o.sip == NULL)
		p2p_cli_die(P2P_EXIT_USAGE, "--sip-password-file: only with "
		    "--sip");
	if (o.sip_tls != NULL && o.sip == NULL)
		p2p_cli_die(P2P_EXIT_USAGE, "--sip-tls: only with --sip");
	if ((o.sip_tls_cert != NULL) != (o.sip_tls_key != NULL))
		p2p_cli_die(P2P_EXIT_USAGE, "--sip-tls-cert and --sip-tls-key "
		    "go together");
	if (o.sip_tls_cert != NULL && o.sip_tls == NULL)
		p2p_cli_die(P2P_EXIT_USAGE, "--sip-tls-cert: only with "
		    "--sip-tls");
	if (o.nbootstrap > 0)
		o.bootstrap = boot;
	drop_root(o.dir);
	if (daemonize) {
		pid_t pid;

		if (pipe(pipefd) != 0)
			p2p_cli_die(P2P_EXIT_FAIL, "pipe: %s", strerror(errno));
		if ((pid = fork()) < 0)
			p2p_cli_die(P2P_EXIT_FAIL, "fork: %s", strerror(errno));
		if (pid > 0) {
			struct pollfd pfd = { pipefd[0], POLLIN, 0 };
			char b;

			close(pipefd[1]);
			/* Wait until the child serves, or says why not. */
			if (poll(&pfd, 1, 30000) == 1 &&
			    read(pipefd[0], &b, 1) == 1)
				_exit(P2P_EXIT_OK);
			p2p_cli_warn("the node did not start (see its log)");
			_exit(P2P_EXIT_FAIL);
		}
		close(pipefd[0]);
		if (setsid() < 0)
			p2p_cli_die(P2P_EXIT_FAIL, "setsid: %s",
			    strerror(errno));
		o.ready_fd = pipefd[1];
		if (!o.use_syslog)
			o.use_syslog = 1;
		{
			int nul = open("/dev/null", O_RDWR);
			if (nul >= 0) {
				dup2(nul, 0);
				dup2(nul, 1);
				dup2(nul, 2);
				if (nul > 2)
					close(nul);
			}
		}
	}
	if (pidfile != NULL) {
		FILE *f = fopen(pidfile, "w");
		if (f == NULL)
			p2p_cli_die(P2P_EXIT_FAIL, "%s: %s", pidfile,
			    strerror(errno));
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	rc = p2p_node_run(&o, err, sizeof(err));
	if (rc != 0)
		p2p_cli_warn("%s", err);
	if (pidfile != NULL)
		unlink(pidfile);
	free(boot);
	return rc == 0 ? P2P_EXIT_OK : P2P_EXIT_FAIL;
}

static void
print_status(FILE *out, const json_t *v, void *user)
{
	const json_t *x;
	size_t i;

	(void)user;
	fprintf(out, "node_id      %s\n", json_string_value(json_object_get(v,
	    "node_id")));
	fprintf(out, "overlay      %s\n", json_string_value(json_object_get(v,
	    "overlay")));
	fprintf(out, "listen       %s\n", json_string_value(json_object_get(v,
	    "listen")));
	fprintf(out, "state        %s\n", json_string_value(json_object_get(v,
	    "state")));
	fprintf(out, "config seq   %lld\n", (long long)json_integer_value(
	    json_object_get(v, "config_sequence")));
	fprintf(out, "uptime       %llds\n", (long long)json_integer_value(
	    json_object_get(v, "uptime_s")));
	fprintf(out, "connections  %lld\n", (long long)json_integer_value(
	    json_object_get(v, "connections")));
	json_array_foreach(json_object_get(v, "predecessors"), i, x)
		fprintf(out, "predecessor  %s\n", json_string_value(x));
	json_array_foreach(json_object_get(v, "successors"), i, x)
		fprintf(out, "successor    %s\n", json_string_value(x));
	json_array_foreach(json_object_get(v, "fingers"), i, x)
		fprintf(out, "finger %-5lld %s\n", (long long)json_integer_value(
		    json_object_get(x, "slot")), json_string_value(
		    json_object_get(x, "node_id")));
	json_array_foreach(json_object_get(v, "ice_servers"), i, x) {
		const char *m = json_string_value(json_object_get(x,
		    "mapped"));
		fprintf(out, "%-12s %s:%lld %s", json_string_value(
		    json_object_get(x, "kind")), json_string_value(
		    json_object_get(x, "address")), (long long)
		    json_integer_value(json_object_get(x, "port")),
		    json_string_value(json_object_get(x, "state")));
		if (m != NULL)
			fprintf(out, ", sees us at %s", m);
		fprintf(out, "%s\n", json_is_true(json_object_get(x,
		    "in_use")) ? ", in use" : "");
	}
	json_array_foreach(json_object_get(v, "direct_routes"), i, x)
		fprintf(out, "direct       %s -> %s (%s, %llds)\n",
		    json_string_value(json_object_get(x, "resource_id")),
		    json_string_value(json_object_get(x, "node_id")),
		    json_is_true(json_object_get(x, "linked")) ? "linked" :
		    "no link", (long long)json_integer_value(json_object_get(x,
		    "expires_s")));
	{
		const char *k;
		json_t *val;
		json_object_foreach((json_t *)json_object_get(v, "counters"),
		    k, val)
			fprintf(out, "%-12s %lld\n", k,
			    (long long)json_integer_value(val));
		json_object_foreach((json_t *)json_object_get(v,
		    "fragmentation"), k, val)
			fprintf(out, "frag.%-7s %lld\n", k,
			    (long long)json_integer_value(val));
		json_object_foreach((json_t *)json_object_get(v,
		    "answer_cache"), k, val)
			fprintf(out, "anscache.%-3s %lld\n", k,
			    (long long)json_integer_value(val));
	}
}

static void
print_peers(FILE *out, const json_t *v, void *user)
{
	const json_t *x;
	size_t i;

	(void)user;
	fprintf(out, "%-32s  %-3s  %-8s  %s\n", "NODE-ID", "DIR", "ROUTABLE",
	    "ADDRESS");
	json_array_foreach(v, i, x)
		fprintf(out, "%-32s  %-3s  %-8s  %s\n",
		    json_string_value(json_object_get(x, "node_id")),
		    json_string_value(json_object_get(x, "direction")),
		    json_is_true(json_object_get(x, "routable")) ? "yes" : "no",
		    json_string_value(json_object_get(x, "addr")));
}

static void
print_config(FILE *out, const json_t *v, void *user)
{
	const json_t *x = json_object_get(v, "config_url");
	const char *k;
	json_t *val;

	(void)user;
	if (json_object_get(v, "applied") != NULL) {
		fprintf(out, "sequence     %lld (%s)\n", (long long)
		    json_integer_value(json_object_get(v, "sequence")),
		    json_is_true(json_object_get(v, "applied")) ? "applied" :
		    "already in use");
		return;
	}
	fprintf(out, "overlay      %s\n", json_string_value(json_object_get(v,
	    "overlay")));
	fprintf(out, "sequence     %lld\n", (long long)json_integer_value(
	    json_object_get(v, "sequence")));
	fprintf(out, "config_url   %s\n", x != NULL ? json_string_value(x) :
	    "(none)");
	fprintf(out, "refresh      %llds (next in %llds)\n", (long long)
	    json_integer_value(json_object_get(v, "refresh_s")), (long long)
	    json_integer_value(json_object_get(v, "next_fetch_s")));
	json_object_foreach((json_t *)json_object_get(v, "counters"), k, val)
		fprintf(out, "%-20s %lld\n", k,
		    (long long)json_integer_value(val));
	if ((x = json_object_get(v, "last_refusal")) != NULL)
		fprintf(out, "last refusal %s\n", json_string_value(x));
}

/* "config --update FILE": the file's text as the params of
 * config.update. */
static const char *
config_update_params(const char *file, json_t *params)
{
	uint8_t *doc;
	size_t len;

	if (p2p_file_read(file, 1024 * 1024, &doc, &len) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "%s: %s", file, strerror(errno));
	json_object_set_new(params, "document",
	    json_stringn((const char *)doc, len));
	free(doc);
	if (json_object_get(params, "document") == NULL)
		p2p_cli_die(P2P_EXIT_FAIL, "%s: not UTF-8 text", file);
	return "config.update";
}

/* p2p-node turn: the TURN-SERVICE kind as this node sees it. */
static void
print_turn(FILE *out, const json_t *v, void *user)
{
	const json_t *x, *ts = json_object_get(v, "turn_service");
	size_t i;

	(void)user;
	fprintf(out, "turn_service %s\n", json_is_string(ts) ?
	    json_string_value(ts) : "(none)");
	json_array_foreach(json_object_get(v, "advertised"), i, x)
		fprintf(out, "advertised   d=%-2lld %s %s\n", (long long)
		    json_integer_value(json_object_get(x, "iteration")),
		    json_string_value(json_object_get(x, "resource_id")),
		    json_is_true(json_object_get(x, "stored")) ? "stored" :
		    "not stored");
	fprintf(out, "discovery    %s\n", json_is_true(json_object_get(v,
	    "discovery")) ? "on" : "off");
	json_array_foreach(json_object_get(v, "discovered"), i, x)
		fprintf(out, "discovered   %s port %lld from %s\n",
		    json_string_value(json_object_get(x, "address")),
		    (long long)json_integer_value(json_object_get(x, "port")),
		    json_string_value(json_object_get(x, "offered_by")));
}

/* sip.status: the front's addresses, the user, the bindings, counters. */
static void
print_sip(FILE *out, const json_t *v, void *user)
{
	const json_t *x, *st = json_object_get(v, "stats"), *tls;
	const char *k;
	size_t i;

	(void)user;
	tls = json_object_get(v, "tls");
	fprintf(out, "front          udp and tcp %s%s%s\n",
	    json_string_value(json_object_get(v, "udp")),
	    json_is_string(tls) ? ", tls " : "",
	    json_is_string(tls) ? json_string_value(tls) : "");
	json_array_foreach(json_object_get(v, "aors"), i, x)
		fprintf(out, "user           %s\n", json_string_value(x));
	fprintf(out, "authentication %s\n", json_is_true(json_object_get(v,
	    "authentication")) ? "Digest (--sip-password-file)" : "none");
	json_array_foreach(json_object_get(v, "bindings"), i, x)
		fprintf(out, "binding        %s %s, %lld s left\n",
		    json_string_value(json_object_get(x, "aor")),
		    json_string_value(json_object_get(x, "contact")),
		    (long long)json_integer_value(json_object_get(x,
		    "expires")));
	json_object_foreach((json_t *)st, k, x)
		fprintf(out, "%-14s %lld\n", k,
		    (long long)json_integer_value(x));
}

static int
cmd_client(const char *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "resource", required_argument, NULL, 'r' },
		{ "resource-id", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "update", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *dir = NULL, *res = NULL, *rid = NULL;
	const char *update = NULL, *method = cmd;
	char path[PATH_MAX];
	int as_json = 0, c, rc, timeout_ms = P2P_CLI_TIMEOUT_MS;
	int needs_target = strcmp(cmd, "ping") == 0 ||
	    strcmp(cmd, "probe") == 0 || strcmp(cmd, "route") == 0;
	json_t *params = json_object(), *result = NULL;
	p2p_cli_table_fn table = NULL;

	while ((c = getopt_long(argc, argv, "js:d:r:R:t:h", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'j': as_json = 1; break;
		case 's': sock = optarg; break;
		case 'd': dir = optarg; break;
		case 'r': res = optarg; break;
		case 'R': rid = optarg; break;
		case 'U': update = optarg; break;
		case 't': {
			char *end;
			double s = strtod(optarg, &end);
			if (*end != '\0' || s <= 0 || s > 3600)
				p2p_cli_die(P2P_EXIT_USAGE,
				    "--timeout: seconds, up to 3600");
			timeout_ms = (int)(s * 1000);
			break;
		}
		case 'h': usage(stdout); json_decref(params); return 0;
		default: usage(stderr); json_decref(params); return 2;
		}
	}
	sock = p2p_cli_socket(sock, dir, path, sizeof(path));
	if (needs_target) {
		int given = (res != NULL) + (rid != NULL) + (optind < argc);
		if (given != 1 || optind + (res == NULL && rid == NULL) != argc)
			p2p_cli_die(P2P_EXIT_USAGE, "%s: give one NODE-ID, or "
			    "--resource NAME, or --resource-id HEX", cmd);
		if (res != NULL)
			json_object_set_new(params, "resource",
			    json_string(res));
		else if (rid != NULL)
			json_object_set_new(params, "resource_id",
			    json_string(rid));
		else
			json_object_set_new(params, "node_id",
			    json_string(argv[optind]));
		if ((rid != NULL || optind < argc) && !p2p_id_from_hex(
		    &(p2p_id){ 0 }, rid != NULL ? rid : argv[optind]))
			p2p_cli_die(P2P_EXIT_USAGE, "an id is 32 hexadecimal "
			    "digits");
	} else if (optind != argc || res != NULL || rid != NULL ||
	    (update != NULL && strcmp(cmd, "config") != 0)) {
		usage(stderr);
		json_decref(params);
		return P2P_EXIT_USAGE;
	}
	if (strcmp(cmd, "status") == 0)
		table = print_status;
	else if (strcmp(cmd, "peers") == 0)
		table = print_peers;
	else if (strcmp(cmd, "config") == 0)
		table = print_config;
	else if (strcmp(cmd, "turn") == 0)
		table = print_turn;
	else if (strcmp(cmd, "sip") == 0) {
		table = print_sip;
		method = "sip.status";
	}
	if (update != NULL)
		method = config_update_params(update, params);
	rc = p2p_cli_rpc(sock, NULL, method, params, timeout_ms, NULL, NULL,
	    &result);
	json_decref(params);
	if (rc != P2P_EXIT_OK)
		return rc;
	if (p2p_cli_print(stdout, result, as_json, table, NULL) != 0)
		rc = P2P_EXIT_FAIL;
	json_decref(result);
	return rc;
}

int
main(int argc, char **argv)
{
	static const char *const client_cmds[] = { "status", "peers", "stop",
	    "ping", "probe", "route", "config", "turn", "sip" };

	p2p_cli_init(argv[0]);
	if (argc < 2) {
		usage(stderr);
		return P2P_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return P2P_EXIT_OK;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(client_cmds) / sizeof(*client_cmds); i++)
		if (strcmp(argv[1], client_cmds[i]) == 0)
			return cmd_client(argv[1], argc - 1, argv + 1);
	p2p_cli_warn("unknown command '%s'", argv[1]);
	usage(stderr);
	return P2P_EXIT_USAGE;
}
