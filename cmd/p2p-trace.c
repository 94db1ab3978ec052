/*
 * p2p-trace: the route a lookup takes through the overlay, hop by hop,
 * and the diagnostics of one peer.
 *
 *   p2p-trace [--json] [--max-hops N] [--timeout S] [--hop-timeout S]
 *             [--socket PATH | --dir NODEDIR]
 *             (RESOURCE | --node NODE-ID | --resource-id HEX)
 *   p2p-trace --diag NODE-ID [--kind NAME]... [--json] [--timeout S]
 *             [--socket PATH | --dir NODEDIR]
 *
 * The node does the work (control methods "trace" and "diag"); each hop
 * arrives as a "trace.hop" notification and is printed at once.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "id.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: p2p-trace [--json] [--max-hops N] [--timeout S] [--hop-timeout S]\n"
"                 [--socket PATH | --dir NODEDIR]\n"
"                 (RESOURCE | --node NODE-ID | --resource-id HEX)\n"
"       p2p-trace --diag NODE-ID [--kind NAME]... [--json] [--timeout S]\n"
"                 [--socket PATH | --dir NODEDIR]\n"
"See p2p-trace(1).\n");
}

static _Noreturn void
bad_usage(const char *msg)
{
	if (msg != NULL)
		p2p_cli_warn("%s", msg);
	usage(stderr);
	exit(P2P_EXIT_USAGE);
}

static double
seconds_arg(const char *s, const char *opt)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= 0.1 && v <= 600)) {
		p2p_cli_warn("%s: seconds, 0.1 to 600", opt);
		usage(stderr);
		exit(P2P_EXIT_USAGE);
	}
	return v;
}

static const char *
str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---- trace ---- */

static void
print_hop(const json_t *h)
{
	const json_t *rtt = json_object_get(h, "rtt_ms");
	const char *addr = str(h, "addr"), *next = str(h, "next_hop");
	char r[32];

	if (json_is_number(rtt))
		snprintf(r, sizeof(r), "%.1f ms", json_number_value(rtt));
	else
		snprintf(r, sizeof(r), "*");
	printf("%2lld  %s  %-21s  %9s", (long long)json_integer_value(
	    json_object_get(h, "hop")), str(h, "node_id"),
	    addr != NULL ? addr : "-", r);
	if (!json_is_number(rtt))
		printf("  (%s)", str(h, "error") ? str(h, "error") : "no answer");
	else if (next != NULL && strcmp(next, str(h, "node_id")) == 0)
		printf("  responsible");
	else if (next != NULL)
		printf("  -> %s", next);
	printf("\n");
	fflush(stdout);
}

static void
on_notify(const char *method, json_t *params, void *user)
{
	int as_json = *(int *)user;

	if (as_json)
		return;
	if (strcmp(method, "trace.start") == 0) {
		printf("trace from %s to %s, %lld hops max\n",
		    str(params, "origin"), str(params, "target"),
		    (long long)json_integer_value(json_object_get(params,
		    "max_hops")));
		fflush(stdout);
	} else if (strcmp(method, "trace.hop") == 0) {
		print_hop(params);
	} else if (strcmp(method, "trace.reroute") == 0) {
		printf("    %s: asking %s\n", str(params, "reason"),
		    str(params, "asking"));
		fflush(stdout);
	}
}

static int
print_trace_end(const json_t *r)
{
	const char *resp = str(r, "responsible");
	size_t nhops = json_array_size(json_object_get(r, "hops"));

	if (resp != NULL && strcmp(resp, str(r, "origin")) == 0 &&
	    nhops == 0)
		printf("responsible: %s (this node)\n", resp);
	else if (resp != NULL)
		printf("responsible: %s (%zu hop%s)\n", resp, nhops,
		    nhops == 1 ? "" : "s");
	else
		printf("incomplete: %s\n", str(r, "error") ? str(r, "error") :
		    "no responsible peer found");
	return resp != NULL ? P2P_EXIT_OK : P2P_EXIT_FAIL;
}

/* ---- diag ---- */

static void
print_value(FILE *out, const char *name, const json_t *v)
{
	const json_t *x;
	size_t i;

	if (json_is_array(v) && strcmp(name, "MESSAGES_SENT_RCVD") == 0) {
		fprintf(out, "%-21s %-18s %10s %10s\n", name, "message",
		    "sent", "received");
		json_array_foreach(v, i, x)
			fprintf(out, "%-21s %-18s %10lld %10lld\n", "",
			    str(x, "name"), (long long)json_integer_value(
			    json_object_get(x, "sent")),
			    (long long)json_integer_value(json_object_get(x,
			    "rcvd")));
		return;
	}
	if (json_is_integer(v)) {
		fprintf(out, "%-21s %lld\n", name,
		    (long long)json_integer_value(v));
	} else if (json_is_string(v)) {
		fprintf(out, "%-21s %s\n", name, json_string_value(v));
	} else {
		char *s = json_dumps(v, JSON_COMPACT);
		fprintf(out, "%-21s %s\n", name, s != NULL ? s : "?");
		free(s);
	}
}

static void
print_diag(FILE *out, const json_t *v, void *user)
{
	static const char *const units[][2] = {
		{ "ROUTING_TABLE_SIZE", "peers" },
		{ "PROCESS_POWER", "MIPS (BogoMIPS)" },
		{ "MACHINE_UPTIME", "s" }, { "APP_UPTIME", "s" },
		{ "MEMORY_FOOTPRINT", "KiB" }, { "DATASIZE_STORED", "bytes" },
		{ "EWMA_BYTES_SENT", "bytes/s" },
		{ "EWMA_BYTES_RCVD", "bytes/s" },
	};
	const char *k;
	json_t *val;

	(void)user;
	fprintf(out, "%-21s %s\n", "node_id", str(v, "node_id"));
	fprintf(out, "%-21s %.1f ms\n", "rtt", json_number_value(
	    json_object_get(v, "rtt_ms")));
	json_object_foreach((json_t *)json_object_get(v, "kinds"), k, val) {
		const char *unit = NULL;

		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(units[i][0], k) == 0)
				unit = units[i][1];
		if (strcmp(k, "STATUS_INFO") == 0 && json_is_integer(
		    json_object_get(val, "congestion")))
			fprintf(out, "%-21s congestion %lld of 15\n", k,
			    (long long)json_integer_value(json_object_get(val,
			    "congestion")));
		else if (unit != NULL && json_is_integer(val))
			fprintf(out, "%-21s %lld %s\n", k,
			    (long long)json_integer_value(val), unit);
		else
			print_value(out, k, val);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "max-hops", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "hop-timeout", required_argument, NULL, 'H' },
		{ "socket", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "node", required_argument, NULL, 'n' },
		{ "resource-id", required_argument, NULL, 'R' },
		{ "diag", required_argument, NULL, 'D' },
		{ "kind", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *dir = NULL, *node = NULL, *rid = NULL;
	const char *diag = NULL;
	char path[PATH_MAX];
	int as_json = 0, c, rc, max_hops = 0;
	double timeout = 30, hop_timeout = 0;
	json_t *params = json_object(), *kinds = json_array(), *result = NULL;
	p2p_id id;

	p2p_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "jm:t:s:d:h", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'j': as_json = 1; break;
		case 'm': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 64)
				bad_usage("--max-hops: 1 to 64");
			max_hops = (int)v;
			break;
		}
		case 't': timeout = seconds_arg(optarg, "--timeout"); break;
		case 'H':
			hop_timeout = seconds_arg(optarg, "--hop-timeout");
			break;
		case 's': sock = optarg; break;
		case 'd': dir = optarg; break;
		case 'n': node = optarg; break;
		case 'R': rid = optarg; break;
		case 'D': diag = optarg; break;
		case 'k': json_array_append_new(kinds, json_string(optarg));
			break;
		case 'h':
			usage(stdout);
			json_decref(params);
			json_decref(kinds);
			return P2P_EXIT_OK;
		default:
			bad_usage(NULL);
		}
	}
	sock = p2p_cli_socket(sock, dir, path, sizeof(path));
	json_object_set_new(params, "timeout_ms",
	    json_integer((json_int_t)(timeout * 1000)));
	if (diag != NULL) {
		if (node != NULL || rid != NULL || optind != argc ||
		    max_hops != 0 || hop_timeout != 0)
			bad_usage("--diag takes one NODE-ID and no target");
		if (!p2p_id_from_hex(&id, diag))
			bad_usage("--diag: a Node-ID is 32 hexadecimal digits");
		json_object_set_new(params, "node_id", json_string(diag));
		if (json_array_size(kinds) > 0)
			json_object_set(params, "kinds", kinds);
		rc = p2p_cli_rpc(sock, NULL, "diag", params,
		    (int)(timeout * 1000) + 5000, NULL, NULL, &result);
		if (rc == P2P_EXIT_OK && p2p_cli_print(stdout, result,
		    as_json, print_diag, NULL) != 0)
			rc = P2P_EXIT_FAIL;
		goto out;
	}
	if (json_array_size(kinds) > 0)
		bad_usage("--kind goes with --diag");
	if ((node != NULL) + (rid != NULL) + (optind < argc) != 1 ||
	    optind + (node == NULL && rid == NULL) != argc)
		bad_usage("give one RESOURCE, or --node NODE-ID, or "
		    "--resource-id HEX");
	if ((node != NULL || rid != NULL) &&
	    !p2p_id_from_hex(&id, node != NULL ? node : rid))
		bad_usage("an id is 32 hexadecimal digits");
	if (node != NULL)
		json_object_set_new(params, "node_id", json_string(node));
	else if (rid != NULL)
		json_object_set_new(params, "resource_id", json_string(rid));
	else
		json_object_set_new(params, "resource",
		    json_string(argv[optind]));
	if (max_hops != 0)
		json_object_set_new(params, "max_hops", json_integer(max_hops));
	if (hop_timeout != 0)
		json_object_set_new(params, "hop_timeout_ms",
		    json_integer((json_int_t)(hop_timeout * 1000)));
	rc = p2p_cli_rpc(sock, NULL, "trace", params,
	    (int)(timeout * 1000) + 5000, on_notify, &as_json, &result);
	if (rc != P2P_EXIT_OK)
		goto out;
	if (as_json) {
		if (p2p_cli_print(stdout, result, 1, NULL, NULL) != 0)
			rc = P2P_EXIT_FAIL;
		else if (!json_is_true(json_object_get(result, "complete")))
			rc = P2P_EXIT_FAIL;
	} else {
		rc = print_trace_end(result);
	}
out:
	json_decref(result);
	json_decref(params);
	json_decref(kinds);
	return rc;
}
