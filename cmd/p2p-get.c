/*
 * p2p-get: fetch (and verify) values from the overlay through the local
 * node, or their metadata with --stat, or with --find the Resource-IDs
 * nearest to a resource that its responsible peer holds.
 *
 *   p2p-get [--kind KIND] [--key KEY | --index N | --range A-B] [--stat]
 *           [--json] RESOURCE
 *   p2p-get --find [--kind KIND]... [--json] RESOURCE
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "id.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: p2p-get [--kind KIND] [--key KEY | --index N | --range A-B] [--stat]\n"
"               [--resource-id] [--json] [--socket PATH | --dir NODEDIR]\n"
"               RESOURCE\n"
"       p2p-get --find [--kind KIND]... [--resource-id] [--json]\n"
"               [--socket PATH | --dir NODEDIR] RESOURCE\n"
"RESOURCE is a name, or with --resource-id a Resource-ID in hex.\n"
"--find asks the peer responsible for RESOURCE, for each KIND (default\n"
"single), the nearest Resource-ID at or after it that it holds.\n"
"Without --json the values are written to standard output as they are\n"
"(raw bytes, one after another). See p2p-get(1).\n");
}


static void
print_stat(FILE *out, const json_t *v, void *user)
{
	const json_t *x;
	size_t i;

	(void)user;
	json_array_foreach(json_object_get(v, "values"), i, x) {
		const json_t *k = json_object_get(x, "key"),
		    *ix = json_object_get(x, "index");
		if (k != NULL)
			fprintf(out, "key %s  ", json_string_value(k));
		else if (ix != NULL)
			fprintf(out, "index %lld  ",
			    (long long)json_integer_value(ix));
		fprintf(out, "%lld bytes  sha256 %s  lifetime %llds\n",
		    (long long)json_integer_value(json_object_get(x, "length")),
		    json_string_value(json_object_get(x, "hash")),
		    (long long)json_integer_value(json_object_get(x,
		    "lifetime")));
	}
}

static void
print_find(FILE *out, const json_t *v, void *user)
{
	const json_t *x;
	size_t i;

	(void)user;
	fprintf(out, "resource %s  answered by %s\n",
	    json_string_value(json_object_get(v, "resource_id")),
	    json_string_value(json_object_get(v, "answered_by")));
	fprintf(out, "%-10s  %-20s  %s\n", "KIND", "NAME", "CLOSEST");
	json_array_foreach(json_object_get(v, "results"), i, x) {
		const char *name = json_string_value(json_object_get(x, "name")),
		    *closest = json_string_value(json_object_get(x, "closest"));
		fprintf(out, "%-10lld  %-20s  %s\n",
		    (long long)json_integer_value(json_object_get(x, "kind")),
		    name != NULL ? name : "-", closest != NULL ? closest : "-");
	}
}

/* Does a find result name at least one Resource-ID? */
static int
found_any(const json_t *result)
{
	const json_t *x;
	size_t i;

	json_array_foreach(json_object_get(result, "results"), i, x)
		if (json_is_string(json_object_get(x, "closest")))
			return 1;
	return 0;
}

static int
find(const char *sock, json_t *params, const char *resource, int as_json)
{
	json_t *result = NULL;
	int rc = p2p_cli_rpc(sock, NULL, "find", params, P2P_CLI_TIMEOUT_MS,
	    NULL, NULL, &result);

	json_decref(params);
	if (rc != P2P_EXIT_OK)
		return rc;
	if (p2p_cli_print(stdout, result, as_json, print_find, NULL) != 0)
		rc = P2P_EXIT_FAIL;
	else if (!found_any(result)) {
		p2p_cli_warn("the peer responsible for %s holds nothing of "
		    "these kinds", resource);
		rc = P2P_EXIT_FAIL;
	}
	json_decref(result);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "resource-id", no_argument, NULL, 'R' },
		{ "key", required_argument, NULL, 'K' },
		{ "index", required_argument, NULL, 'i' },
		{ "range", required_argument, NULL, 'r' },
		{ "stat", no_argument, NULL, 'S' },
		{ "find", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *dir = NULL;
	char path[4096];
	json_t *params = json_object(), *result = NULL, *x;
	json_t *kinds = json_array();
	int by_id = 0, findit = 0;
	int c, as_json = 0, addressing = 0, stat = 0, rc;
	size_t i;

	p2p_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "k:K:i:r:Sjs:d:h", lo,
	    NULL)) != -1) {
		switch (c) {
		case 'k':
			json_object_set_new(params, "kind", json_string(optarg));
			json_array_append_new(kinds, json_string(optarg));
			break;
		case 'K':
			json_object_set_new(params, "key", json_string(optarg));
			addressing++;
			break;
		case 'i':
			json_object_set_new(params, "index", json_integer(
			    (json_int_t)p2p_cli_number("--index", optarg, 0xfffffffful)));
			addressing++;
			break;
		case 'r': {
			const char *dash = strchr(optarg, '-');
			char a[16];
			if (dash == NULL || dash == optarg ||
			    (size_t)(dash - optarg) >= sizeof(a))
				p2p_cli_die(P2P_EXIT_USAGE, "--range: A-B");
			memcpy(a, optarg, (size_t)(dash - optarg));
			a[dash - optarg] = '\0';
			json_object_set_new(params, "range", json_pack("[I,I]",
			    (json_int_t)p2p_cli_number("--range", a, 0xfffffffful),
			    (json_int_t)p2p_cli_number("--range", dash + 1, 0xfffffffful)));
			addressing++;
			break;
		}
		case 'S': stat = 1; break;
		case 'F': findit = 1; break;
		case 'R': by_id = 1; break;
		case 'j': as_json = 1; break;
		case 's': sock = optarg; break;
		case 'd': dir = optarg; break;
		case 'h':
			usage(stdout);
			json_decref(params);
			json_decref(kinds);
			return P2P_EXIT_OK;
		default:
			usage(stderr);
			json_decref(params);
			json_decref(kinds);
			return P2P_EXIT_USAGE;
		}
	}
	if (findit && (addressing > 0 || stat))
		p2p_cli_die(P2P_EXIT_USAGE, "--find takes no --key, --index, "
		    "--range or --stat");
	if (!findit && json_array_size(kinds) > 1)
		p2p_cli_die(P2P_EXIT_USAGE, "one --kind, or several with --find");
	if (findit && json_array_size(kinds) > 0) {
		json_object_del(params, "kind");
		json_object_set(params, "kinds", kinds);
	}
	json_decref(kinds);
	if (addressing > 1)
		p2p_cli_die(P2P_EXIT_USAGE, "give at most one of --key, --index, "
		    "--range");
	if (argc - optind != 1) {
		usage(stderr);
		json_decref(params);
		return P2P_EXIT_USAGE;
	}
	if (by_id && !p2p_id_from_hex(&(p2p_id){ 0 }, argv[optind]))
		p2p_cli_die(P2P_EXIT_USAGE, "--resource-id: RESOURCE must be 32 "
		    "hexadecimal digits");
	json_object_set_new(params, by_id ? "resource_id" : "resource",
	    json_string(argv[optind]));
	sock = p2p_cli_socket(sock, dir, path, sizeof(path));
	if (findit)
		return find(sock, params, argv[optind], as_json);
	rc = p2p_cli_rpc(sock, NULL, stat ? "stat" : "get", params,
	    P2P_CLI_TIMEOUT_MS, NULL, NULL, &result);
	json_decref(params);
	if (rc != P2P_EXIT_OK)
		return rc;
	if (json_array_size(json_object_get(result, "values")) == 0) {
		p2p_cli_warn("nothing stored under %s", argv[optind]);
		if (as_json)
			p2p_cli_print(stdout, result, 1, NULL, NULL);
		json_decref(result);
		return P2P_EXIT_FAIL;
	}
	if (as_json || stat) {
		rc = p2p_cli_print(stdout, result, as_json, print_stat, NULL) ?
		    P2P_EXIT_FAIL : P2P_EXIT_OK;
	} else {
		json_array_foreach(json_object_get(result, "values"), i, x) {
			const char *b64 = json_string_value(json_object_get(x,
			    "value_b64"));
			json_t *ts = json_object_get(x, "turn_server");
			size_t n = 0;
			uint8_t *b = NULL;
			if (json_is_object(ts)) {	/* TURN-SERVICE */
				printf("%s port %lld iteration %lld\n",
				    json_string_value(json_object_get(ts,
				    "address")), (long long)json_integer_value(
				    json_object_get(ts, "port")), (long long)
				    json_integer_value(json_object_get(ts,
				    "iteration")));
				continue;
			}
			if (b64 == NULL || p2p_base64_decode(b64, strlen(b64),
			    &b, &n) != 0) {
				rc = P2P_EXIT_FAIL;
				continue;
			}
			if (n > 0 && fwrite(b, 1, n, stdout) != n)
				rc = P2P_EXIT_FAIL;
			free(b);
		}
	}
	json_decref(result);
	return rc;
}
