/*
 * p2p-enroll: get a certificate for a node from the overlay's enrollment
 * server, or make a self-signed one where the overlay allows it.
 *
 *   p2p-enroll --server URL --user NAME [--password-file F] --dir NODEDIR
 *       [--ca-cert FILE | --ca-fingerprint SHA256:HEX] [--ids N] [--json]
 *   p2p-enroll --self-signed --config overlay.xml --dir NODEDIR
 *       [--user NAME] [--ids N] [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ca.h"
#include "cli.h"
#include "enroll.h"
#include "ident.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: p2p-enroll --server URL --user NAME [--password-file F] --dir NODEDIR\n"
"                  [--ca-cert FILE | --ca-fingerprint SHA256:HEX] [--ids N]\n"
"                  [--key-type ec|rsa] [--json]\n"
"       p2p-enroll --self-signed --config overlay.xml --dir NODEDIR\n"
"                  [--user NAME] [--ids N] [--key-type ec|rsa] [--json]\n"
"See p2p-enroll(1).\n");
}

static _Noreturn void
bad_usage(const char *fmt, const char *arg)
{
	if (fmt != NULL)
		p2p_cli_warn(fmt, arg);
	usage(stderr);
	exit(P2P_EXIT_USAGE);
}

struct args {
	const char *server, *user, *pwfile, *dir, *ca_file, *fpr, *config;
	unsigned nids;
	int self_signed, json;
	enum p2p_key_type kt;
};

static void
parse(int argc, char **argv, struct args *a)
{
	static const struct option lo[] = {
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "dir", required_argument, NULL, 'd' },
		{ "ca-cert", required_argument, NULL, 'c' },
		{ "ca-fingerprint", required_argument, NULL, 'f' },
		{ "ids", required_argument, NULL, 'n' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "self-signed", no_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *ep;
	long v;
	int ch;

	memset(a, 0, sizeof(*a));
	a->nids = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 's': a->server = optarg; break;
		case 'u': a->user = optarg; break;
		case 'p': a->pwfile = optarg; break;
		case 'd': a->dir = optarg; break;
		case 'c': a->ca_file = optarg; break;
		case 'f': a->fpr = optarg; break;
		case 'n':
			errno = 0;
			v = strtol(optarg, &ep, 10);
			if (*optarg == '\0' || *ep != '\0' || errno != 0 ||
			    v < 1 || v > P2P_CERT_MAX_IDS)
				bad_usage("--ids wants 1..32, not %s", optarg);
			a->nids = (unsigned)v;
			break;
		case 'k':
			if (strcmp(optarg, "ec") == 0)
				a->kt = P2P_KEY_EC_P256;
			else if (strcmp(optarg, "rsa") == 0)
				a->kt = P2P_KEY_RSA2048;
			else
				bad_usage("--key-type: ec or rsa, not %s",
				    optarg);
			break;
		case 'j': a->json = 1; break;
		case 'S': a->self_signed = 1; break;
		case 'C': a->config = optarg; break;
		case 'h': usage(stdout); exit(P2P_EXIT_OK);
		default: bad_usage(NULL, NULL);
		}
	}
	if (optind != argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (a->dir == NULL)
		bad_usage("--dir NODEDIR is required", NULL);
}

static void
check_enroll_args(const struct args *a)
{
	if (a->server == NULL || a->user == NULL)
		bad_usage("--server URL and --user NAME are required (or "
		    "--self-signed --config FILE)", NULL);
	if (a->config != NULL)
		bad_usage("--config goes with --self-signed", NULL);
	if (a->ca_file != NULL && a->fpr != NULL)
		bad_usage("give --ca-cert or --ca-fingerprint, not both", NULL);
}

static int
print_result(const p2p_enroll_result *r, int as_json)
{
	char hex[P2P_ID_HEXLEN + 1];
	json_t *ids = json_array(), *o;
	int rc;

	for (size_t i = 0; ids != NULL && i < r->nids; i++)
		json_array_append_new(ids, json_string(p2p_id_hex(&r->ids[i],
		    hex)));
	if (!as_json) {
		for (size_t i = 0; i < r->nids; i++)
			printf("%s\n", p2p_id_hex(&r->ids[i], hex));
		json_decref(ids);
		return fflush(stdout) == 0 ? P2P_EXIT_OK : P2P_EXIT_FAIL;
	}
	o = json_pack("{s:o?, s:s?, s:s, s:s}", "node_ids", ids, "user",
	    r->user[0] != '\0' ? r->user : NULL, "cert", r->cert_path,
	    "overlay", r->overlay);
	if (o == NULL)
		return P2P_EXIT_FAIL;
	rc = p2p_cli_print(stdout, o, 1, NULL, NULL);
	json_decref(o);
	return rc == 0 ? P2P_EXIT_OK : P2P_EXIT_FAIL;
}

static int
self_signed(const struct args *a)
{
	p2p_enroll_result r;
	int rc;

	if (a->config == NULL)
		bad_usage("--self-signed needs --config overlay.xml", NULL);
	if (a->server != NULL || a->ca_file != NULL || a->fpr != NULL ||
	    a->pwfile != NULL)
		bad_usage("--self-signed takes no server, CA or password", NULL);
	rc = p2p_enroll_self_signed(a->config, a->dir, a->user, a->nids, a->kt,
	    &r);
	if (rc != P2P_ENROLL_OK) {
		p2p_cli_warn("%s", r.msg);
		return rc;
	}
	return print_result(&r, a->json);
}

int
main(int argc, char **argv)
{
	char pw[P2P_CA_PASSWORD_MAX + 2], err[256];
	uint8_t pin[32];
	p2p_enroll_opts o;
	p2p_enroll_result r;
	struct args a;
	int rc;

	p2p_cli_init(argv[0]);
	parse(argc, argv, &a);
	if (a.self_signed)
		return self_signed(&a);
	check_enroll_args(&a);
	if (a.fpr != NULL && p2p_fingerprint_parse(a.fpr, pin) != 0)
		bad_usage("--ca-fingerprint wants SHA256: and 64 hex digits, "
		    "not %s", a.fpr);
	if (p2p_password_read(a.pwfile, "Password: ", pw, sizeof(pw), err,
	    sizeof(err)) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "%s", err);
	memset(&o, 0, sizeof(o));
	o.server = a.server;
	o.user = a.user;
	o.password = pw;
	o.dir = a.dir;
	o.ca_file = a.ca_file;
	o.pin = a.fpr != NULL ? pin : NULL;
	o.nids = a.nids;
	o.key_type = a.kt;
	rc = p2p_enroll_run(&o, &r);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc != P2P_ENROLL_OK) {
		p2p_cli_warn("%s", r.msg);
		return rc;
	}
	return print_result(&r, a.json);
}
