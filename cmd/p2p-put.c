/*
 * p2p-put: store a value in the overlay through the local node.
 *
 *   p2p-put [--kind KIND] [--key KEY | --index N | --append]
 *           [--lifetime SECONDS] [--json] RESOURCE [VALUE|-]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "id.h"

#define MAX_VALUE (1024 * 1024)

static void
usage(FILE *f)
{
	fprintf(f,
"usage: p2p-put [--kind KIND] [--key KEY | --index N | --append]\n"
"               [--lifetime SECONDS] [--generation N] [--resource-id] [--json]\n"
"               [--socket PATH | --dir NODEDIR]\n"
"               RESOURCE [VALUE | -]\n"
"Stores VALUE (or standard input with -, binary-safe; no VALUE: an empty\n"
"value) under RESOURCE (a name, or with --resource-id a Resource-ID in\n"
"hex). KIND is a kind name of the overlay configuration or\n"
"a number (default: single). With --generation the store succeeds only if\n"
"the kind's generation counter is N. See p2p-put(1).\n");
}

static uint8_t *
read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0, r;
	uint8_t *buf = malloc(cap), *nb;

	if (buf == NULL)
		return NULL;
	while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n > MAX_VALUE) {
			free(buf);
			p2p_cli_die(P2P_EXIT_USAGE, "value larger than %d bytes",
			    MAX_VALUE);
		}
		if (n == cap) {
			cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
	}
	if (ferror(stdin)) {
		free(buf);
		p2p_cli_die(P2P_EXIT_FAIL, "reading standard input failed");
	}
	*len = n;
	return buf;
}


static void
print_put(FILE *out, const json_t *v, void *user)
{
	(void)user;
	fprintf(out, "resource_id  %s\nkind         %lld\nstored_at    %s\n"
	    "replicas     %lld\ngeneration   %lld\n",
	    json_string_value(json_object_get(v, "resource_id")),
	    (long long)json_integer_value(json_object_get(v, "kind")),
	    json_string_value(json_object_get(v, "stored_at")),
	    (long long)json_integer_value(json_object_get(v, "replicas")),
	    (long long)json_integer_value(json_object_get(v, "generation")));
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "resource-id", no_argument, NULL, 'R' },
		{ "key", required_argument, NULL, 'K' },
		{ "index", required_argument, NULL, 'i' },
		{ "append", no_argument, NULL, 'a' },
		{ "lifetime", required_argument, NULL, 'l' },
		{ "generation", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *dir = NULL;
	char path[4096];
	json_t *params = json_object(), *result = NULL;
	int by_id = 0;
	int c, as_json = 0, addressing = 0, rc;
	uint8_t *val = NULL;
	size_t vlen = 0;
	char *b64;

	p2p_cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "k:K:i:al:g:js:d:h", lo,
	    NULL)) != -1) {
		switch (c) {
		case 'k':
			json_object_set_new(params, "kind", json_string(optarg));
			break;
		case 'K':
			json_object_set_new(params, "key", json_string(optarg));
			addressing++;
			break;
		case 'i':
			json_object_set_new(params, "index", json_integer(
			    (json_int_t)p2p_cli_number("--index", optarg, 0xfffffffeul)));
			addressing++;
			break;
		case 'a':
			json_object_set_new(params, "append", json_true());
			addressing++;
			break;
		case 'l':
			json_object_set_new(params, "lifetime", json_integer(
			    (json_int_t)p2p_cli_number("--lifetime", optarg,
			    0xfffffffful)));
			break;
		case 'g':
			json_object_set_new(params, "generation", json_integer(
			    (json_int_t)p2p_cli_number("--generation", optarg,
			    0x7ffffffffffffffful)));
			break;
		case 'R': by_id = 1; break;
		case 'j': as_json = 1; break;
		case 's': sock = optarg; break;
		case 'd': dir = optarg; break;
		case 'h':
			usage(stdout);
			json_decref(params);
			return P2P_EXIT_OK;
		default:
			usage(stderr);
			json_decref(params);
			return P2P_EXIT_USAGE;
		}
	}
	if (addressing > 1)
		p2p_cli_die(P2P_EXIT_USAGE, "give at most one of --key, --index, "
		    "--append");
	if (argc - optind < 1 || argc - optind > 2) {
		usage(stderr);
		json_decref(params);
		return P2P_EXIT_USAGE;
	}
	if (by_id && !p2p_id_from_hex(&(p2p_id){ 0 }, argv[optind]))
		p2p_cli_die(P2P_EXIT_USAGE, "--resource-id: RESOURCE must be 32 "
		    "hexadecimal digits");
	json_object_set_new(params, by_id ? "resource_id" : "resource",
	    json_string(argv[optind]));
	if (argc - optind == 2 && strcmp(argv[optind + 1], "-") == 0) {
		if ((val = read_stdin(&vlen)) == NULL)
			p2p_cli_die(P2P_EXIT_FAIL, "out of memory");
	} else if (argc - optind == 2) {
		vlen = strlen(argv[optind + 1]);
		if ((val = malloc(vlen + 1)) == NULL)
			p2p_cli_die(P2P_EXIT_FAIL, "out of memory");
		memcpy(val, argv[optind + 1], vlen);
	}
	if ((b64 = p2p_base64_encode(val != NULL ? val : (const uint8_t *)"",
	    vlen)) == NULL)
		p2p_cli_die(P2P_EXIT_FAIL, "out of memory");
	json_object_set_new(params, "value_b64", json_string(b64));
	free(b64);
	free(val);
	sock = p2p_cli_socket(sock, dir, path, sizeof(path));
	rc = p2p_cli_rpc(sock, NULL, "put", params, P2P_CLI_TIMEOUT_MS, NULL,
	    NULL, &result);
	json_decref(params);
	if (rc != P2P_EXIT_OK)
		return rc;
	if (p2p_cli_print(stdout, result, as_json, print_put, NULL) != 0)
		rc = P2P_EXIT_FAIL;
	json_decref(result);
	return rc;
}
