/*
 * p2p-ca: the overlay's certificate authority and enrollment server.
 *
 *   p2p-ca init --dir DIR --overlay NAME [--key-type ec|rsa]
 *       [--enroll-url URL] [--bootstrap HOST:PORT]...
 *       [--self-signed-permitted] [--max-ids-per-user N]
 *       [--max-message-size BYTES] [--max-value-size BYTES]
 *       [--link-protocol TLS|DTLS]...
 *       [--ice [--stun-server IP:PORT] [--turn-server IP:PORT]...
 *        [--turn-credentials USER:PASS]] [--turn-density N]
 *       [--sip-domain PATTERN... | --sip-own-domain]
 *   p2p-ca user add|del|list --dir DIR [NAME] [--password-file F]
 *       [--quota N] [--json]
 *   p2p-ca serve --dir DIR --listen ADDR:PORT [--request-timeout S]
 *   p2p-ca issue --dir DIR --csr FILE --user NAME [--ids N] [--out FILE]
 *   p2p-ca revoke --dir DIR SERIAL|NODE-ID
 *   p2p-ca list --dir DIR [--json]
 *   p2p-ca config show|bump --dir DIR [--json]
 *   p2p-ca config set-sequence --dir DIR N [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca.h"
#include "cli.h"
#include "config.h"
#include "enroll.h"
#include "ident.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: p2p-ca init --dir DIR --overlay NAME [--key-type ec|rsa]\n"
"              [--enroll-url URL] [--bootstrap HOST:PORT]...\n"
"              [--self-signed-permitted] [--max-ids-per-user N]\n"
"              [--max-message-size BYTES] [--max-value-size BYTES]\n"
"              [--link-protocol TLS|DTLS]...\n"
"              [--ice [--stun-server IP:PORT] [--turn-server IP:PORT]...\n"
"               [--turn-credentials USER:PASS]] [--turn-density N]\n"
"              [--sip-domain PATTERN... | --sip-own-domain]\n"
"       p2p-ca user add --dir DIR [--password-file F] [--quota N] NAME\n"
"       p2p-ca user del --dir DIR NAME\n"
"       p2p-ca user list --dir DIR [--json]\n"
"       p2p-ca serve --dir DIR --listen ADDR:PORT [--request-timeout S]\n"
"       p2p-ca issue --dir DIR --csr FILE --user NAME [--ids N] [--out FILE]\n"
"       p2p-ca revoke --dir DIR SERIAL|NODE-ID\n"
"       p2p-ca list --dir DIR [--json]\n"
"       p2p-ca config show|bump --dir DIR [--json]\n"
"       p2p-ca config set-sequence --dir DIR N [--json]\n"
"See p2p-ca(1).\n");
}

static _Noreturn void
bad_usage(const char *fmt, const char *arg)
{
	if (fmt != NULL)
		p2p_cli_warn(fmt, arg);
	usage(stderr);
	exit(P2P_EXIT_USAGE);
}

static unsigned
count_arg(const char *s, const char *opt, unsigned max)
{
	char *ep;
	long v;

	errno = 0;
	v = strtol(s, &ep, 10);
	if (*s == '\0' || *ep != '\0' || errno != 0 || v < 1 ||
	    v > (long)max) {
		p2p_cli_warn("%s wants a number from 1 to %u", opt, max);
		exit(P2P_EXIT_USAGE);
	}
	return (unsigned)v;
}

/* Options every subcommand shares; 0 if handled. */
struct common {
	const char *dir;
	int json;
};

enum { O_DIR = 0x100, O_JSON, O_HELP };

#define COMMON_OPTS							\
	{ "dir", required_argument, NULL, O_DIR },			\
	{ "json", no_argument, NULL, O_JSON },				\
	{ "help", no_argument, NULL, O_HELP }

static int
common_opt(int ch, struct common *c)
{
	switch (ch) {
	case O_DIR:
		c->dir = optarg;
		return 0;
	case O_JSON:
		c->json = 1;
		return 0;
	case O_HELP:
		usage(stdout);
		exit(P2P_EXIT_OK);
	default:
		return -1;
	}
}

static void
need_dir(const struct common *c)
{
	if (c->dir == NULL)
		bad_usage("--dir DIR is required", NULL);
}

static void
open_ca(p2p_ca *ca, const char *dir, int exclusive)
{
	char err[512];

	if (p2p_ca_open(ca, dir, exclusive, err, sizeof(err)) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "%s", err);
}

static void
commit_ca(p2p_ca *ca)
{
	char err[512];

	if (p2p_ca_commit(ca, err, sizeof(err)) != 0) {
		p2p_ca_close(ca);
		p2p_cli_die(P2P_EXIT_FAIL, "%s", err);
	}
}

/* ---- init ---- */

static int
cmd_init(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ "overlay", required_argument, NULL, 'o' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "enroll-url", required_argument, NULL, 'e' },
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "self-signed-permitted", no_argument, NULL, 's' },
		{ "max-ids-per-user", required_argument, NULL, 'm' },
		{ "max-message-size", required_argument, NULL, 'M' },
		{ "max-value-size", required_argument, NULL, 'V' },
		{ "link-protocol", required_argument, NULL, 'l' },
		{ "ice", no_argument, NULL, 'I' },
		{ "stun-server", required_argument, NULL, 'S' },
		{ "turn-server", required_argument, NULL, 'T' },
		{ "turn-credentials", required_argument, NULL, 'C' },
		{ "turn-density", required_argument, NULL, 'D' },
		{ "sip-domain", required_argument, NULL, 'R' },
		{ "sip-own-domain", no_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 }
	};
	const char *boot[64], *lp[2], *turn[P2P_CONFIG_MAX_ICE_SERVERS];
	const char *sipdom[P2P_CA_MAX_SIP_DOMAINS];
	p2p_ca_init_opts o;
	struct common c = { 0 };
	char err[512], path[PATH_MAX], fpr[80];
	p2p_err e;
	X509 *root;
	int ch;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(ch, &c) == 0)
			continue;
		switch (ch) {
		case 'o': o.overlay = optarg; break;
		case 'k':
			if (strcmp(optarg, "ec") == 0)
				o.key_type = P2P_KEY_EC_P256;
			else if (strcmp(optarg, "rsa") == 0)
				o.key_type = P2P_KEY_RSA2048;
			else
				bad_usage("--key-type: ec or rsa, not %s",
				    optarg);
			break;
		case 'e': o.enroll_url = optarg; break;
		case 'b':
			if (o.nbootstrap == 64)
				bad_usage("at most 64 --bootstrap", NULL);
			boot[o.nbootstrap++] = optarg;
			break;
		case 's': o.self_signed_permitted = 1; break;
		case 'm':
			o.max_ids_per_user = count_arg(optarg,
			    "--max-ids-per-user", P2P_CERT_MAX_IDS);
			break;
		case 'M':
			o.max_message_size = count_arg(optarg,
			    "--max-message-size", 0xffffff);
			break;
		case 'V':
			o.max_value_size = count_arg(optarg,
			    "--max-value-size", 0xffffff);
			break;
		case 'l':
			if (strcmp(optarg, "TLS") != 0 &&
			    strcmp(optarg, "DTLS") != 0)
				bad_usage("--link-protocol: TLS or DTLS, not %s",
				    optarg);
			if (o.nlink_protocols == 2 || (o.nlink_protocols == 1 &&
			    strcmp(lp[0], optarg) == 0))
				bad_usage("--link-protocol: TLS and DTLS once "
				    "each", NULL);
			lp[o.nlink_protocols++] = optarg;
			break;
		case 'I': o.ice = 1; break;
		case 'S': o.stun = optarg; break;
		case 'T':
			if (o.nturn == P2P_CONFIG_MAX_ICE_SERVERS)
				bad_usage("too many --turn-server", NULL);
			turn[o.nturn++] = optarg;
			break;
		case 'C': o.turn_credentials = optarg; break;
		case 'D':
			o.set_turn_density = 1;
			o.turn_density = (unsigned)p2p_cli_number(
			    "--turn-density", optarg, P2P_CA_MAX_TURN_DENSITY);
			break;
		case 'R':
			if (o.nsip_domains == P2P_CA_MAX_SIP_DOMAINS)
				bad_usage("at most 16 --sip-domain", NULL);
			sipdom[o.nsip_domains++] = optarg;
			break;
		case 'O': o.sip_own_domain = 1; break;
		default: bad_usage(NULL, NULL);
		}
	}
	if (optind != argc)
		bad_usage("unexpected argument %s", argv[optind]);
	need_dir(&c);
	if (o.overlay == NULL)
		bad_usage("--overlay NAME is required", NULL);
	o.dir = c.dir;
	o.bootstrap = boot;
	o.link_protocols = lp;
	o.turn = turn;
	o.sip_domains = sipdom;
	if (o.sip_own_domain && o.nsip_domains > 0)
		bad_usage("--sip-own-domain and --sip-domain exclude each "
		    "other", NULL);
	if (p2p_ca_init(&o, err, sizeof(err)) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "%s", err);
	snprintf(path, sizeof(path), "%s/ca.pem", c.dir);
	if ((root = p2p_cert_load(path, &e)) == NULL ||
	    p2p_cert_fingerprint(root, fpr, sizeof(fpr)) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "%s: cannot read it back", path);
	X509_free(root);
	printf("overlay      %s\nroot         %s\nfingerprint  %s\n"
	    "config       %s/overlay.xml\n", o.overlay, path, fpr, c.dir);
	return P2P_EXIT_OK;
}

/* ---- user ---- */

static void
print_users(FILE *out, const json_t *v, void *arg)
{
	size_t i, j;
	json_t *u, *id;

	(void)arg;
	fprintf(out, "%-24s %5s  %s\n", "USER", "QUOTA", "NODE-IDS");
	json_array_foreach(v, i, u) {
		fprintf(out, "%-24s %5lld ", json_string_value(json_object_get(u,
		    "user")), (long long)json_integer_value(json_object_get(u,
		    "quota")));
		json_array_foreach(json_object_get(u, "node_ids"), j, id)
			fprintf(out, " %s", json_string_value(id));
		fputc('\n', out);
	}
}

static int
user_add(p2p_ca *ca, const char *name, const char *pwfile, unsigned quota)
{
	char pw[P2P_CA_PASSWORD_MAX + 2], again[P2P_CA_PASSWORD_MAX + 2];
	char err[512];
	int rc;

	if (p2p_password_read(pwfile, "New password: ", pw, sizeof(pw), err,
	    sizeof(err)) != 0)
		return p2p_cli_warn("%s", err), P2P_EXIT_FAIL;
	if (pwfile == NULL) {
		if (p2p_password_read(NULL, "Again: ", again, sizeof(again),
		    err, sizeof(err)) != 0 || strcmp(pw, again) != 0) {
			OPENSSL_cleanse(pw, sizeof(pw));
			return p2p_cli_warn("passwords do not match"),
			    P2P_EXIT_FAIL;
		}
		OPENSSL_cleanse(again, sizeof(again));
	}
	rc = p2p_ca_user_add(ca, name, pw, quota, 0, err, sizeof(err));
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc != 0)
		return p2p_cli_warn("%s", err), P2P_EXIT_FAIL;
	commit_ca(ca);
	printf("added user %s\n", name);
	return P2P_EXIT_OK;
}

static int
cmd_user(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ "password-file", required_argument, NULL, 'p' },
		{ "quota", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	const char *pwfile = NULL, *verb;
	char err[512];
	unsigned quota = 0;
	p2p_ca ca;
	json_t *v;
	int ch, rc = P2P_EXIT_OK;

	if (argc < 2 || argv[1][0] == '-')
		bad_usage("user: add, del or list?", NULL);
	verb = argv[1];
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(ch, &c) == 0)
			continue;
		if (ch == 'p')
			pwfile = optarg;
		else if (ch == 'q')
			quota = count_arg(optarg, "--quota", P2P_CERT_MAX_IDS);
		else
			bad_usage(NULL, NULL);
	}
	need_dir(&c);
	if (strcmp(verb, "list") == 0) {
		if (optind != argc)
			bad_usage("unexpected argument %s", argv[optind]);
		open_ca(&ca, c.dir, 0);
		if ((v = p2p_ca_user_list(&ca)) == NULL ||
		    p2p_cli_print(stdout, v, c.json, print_users, NULL) != 0)
			rc = P2P_EXIT_FAIL;
		json_decref(v);
		p2p_ca_close(&ca);
		return rc;
	}
	if (strcmp(verb, "add") != 0 && strcmp(verb, "del") != 0)
		bad_usage("user: unknown action %s", verb);
	if (optind + 1 != argc)
		bad_usage("user %s: one user NAME expected", verb);
	open_ca(&ca, c.dir, 1);
	if (strcmp(verb, "add") == 0)
		rc = user_add(&ca, argv[optind], pwfile, quota);
	else if (p2p_ca_user_del(&ca, argv[optind], err, sizeof(err)) != 0) {
		p2p_cli_warn("%s", err);
		rc = P2P_EXIT_FAIL;
	} else {
		commit_ca(&ca);
		printf("deleted user %s\n", argv[optind]);
	}
	p2p_ca_close(&ca);
	return rc;
}

/* ---- serve ---- */

static int
cmd_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ "listen", required_argument, NULL, 'l' },
		{ "request-timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	p2p_enroll_serve_opts o;
	struct common c = { 0 };
	char err[512];
	int ch;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(ch, &c) == 0)
			continue;
		if (ch == 'l')
			o.listen = optarg;
		else if (ch == 't')
			o.request_ms = 1000 * count_arg(optarg,
			    "--request-timeout", 3600);
		else
			bad_usage(NULL, NULL);
	}
	if (optind != argc)
		bad_usage("unexpected argument %s", argv[optind]);
	need_dir(&c);
	if (o.listen == NULL)
		bad_usage("--listen ADDR:PORT is required", NULL);
	o.dir = c.dir;
	if (p2p_enroll_serve(&o, err, sizeof(err)) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "%s", err);
	return P2P_EXIT_OK;
}

/* ---- issue ---- */

static X509_REQ *
read_csr(const char *path)
{
	uint8_t *p;
	size_t n;
	X509_REQ *csr = NULL;
	p2p_err e;
	BIO *b;

	if (p2p_file_read(path, 65536, &p, &n) != 0)
		p2p_cli_die(P2P_EXIT_FAIL, "cannot read %s: %s", path,
		    strerror(errno));
	if (n > 10 && memcmp(p, "-----BEGIN", 10) == 0) {
		if ((b = BIO_new_mem_buf(p, (int)n)) != NULL)
			csr = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
		ERR_clear_error();
	} else
		csr = p2p_csr_from_der(p, n, &e);
	free(p);
	if (csr == NULL)
		p2p_cli_die(P2P_EXIT_FAIL, "%s: not a PKCS#10 request (PEM or "
		    "DER)", path);
	return csr;
}

static int
cmd_issue(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ "csr", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "ids", required_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	const char *csrf = NULL, *user = NULL, *out = NULL;
	char why[256], hex[P2P_ID_HEXLEN + 1];
	enum p2p_ca_refusal r;
	unsigned nids = 1;
	p2p_cert_info ci;
	X509_REQ *csr;
	X509 *x;
	p2p_ca ca;
	p2p_err e;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (common_opt(ch, &c) == 0)
			continue;
		switch (ch) {
		case 'c': csrf = optarg; break;
		case 'u': user = optarg; break;
		case 'n': nids = count_arg(optarg, "--ids", P2P_CERT_MAX_IDS);
			break;
		case 'O': out = optarg; break;
		default: bad_usage(NULL, NULL);
		}
	}
	if (optind != argc)
		bad_usage("unexpected argument %s", argv[optind]);
	need_dir(&c);
	if (csrf == NULL || user == NULL)
		bad_usage("--csr FILE and --user NAME are required", NULL);
	csr = read_csr(csrf);
	open_ca(&ca, c.dir, 1);
	r = p2p_ca_issue(&ca, user, csr, nids, &x, why, sizeof(why));
	X509_REQ_free(csr);
	if (r != P2P_CA_ISSUED) {
		p2p_ca_close(&ca);
		p2p_cli_die(P2P_EXIT_FAIL, "refused: %s (%s)",
		    p2p_ca_refusal_token(r), why);
	}
	if (out != NULL && p2p_cert_save(x, out, &e) != 0) {
		X509_free(x);
		p2p_ca_close(&ca);
		p2p_cli_die(P2P_EXIT_FAIL, "%s: %s", out, e.what);
	}
	if (p2p_ca_commit(&ca, why, sizeof(why)) != 0) {
		X509_free(x);
		p2p_ca_close(&ca);
		p2p_cli_die(P2P_EXIT_FAIL, "%s", why);
	}
	p2p_ca_close(&ca);
	if (out == NULL)
		PEM_write_X509(stdout, x);
	if (p2p_cert_info_get(x, &ci, &e) == 0) {
		fprintf(stderr, "issued serial %s to %s:", ci.serial, user);
		for (size_t i = 0; i < ci.nids; i++)
			fprintf(stderr, " %s", p2p_id_hex(&ci.ids[i], hex));
		fputc('\n', stderr);
	}
	X509_free(x);
	return P2P_EXIT_OK;
}

/* ---- revoke ---- */

static int
cmd_revoke(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	char err[512];
	size_t n;
	p2p_ca ca;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		if (common_opt(ch, &c) != 0)
			bad_usage(NULL, NULL);
	need_dir(&c);
	if (optind + 1 != argc)
		bad_usage("revoke: one SERIAL or NODE-ID expected", NULL);
	open_ca(&ca, c.dir, 1);
	if (p2p_ca_revoke(&ca, argv[optind], &n, err, sizeof(err)) != 0) {
		p2p_ca_close(&ca);
		p2p_cli_die(P2P_EXIT_FAIL, "%s", err);
	}
	if (n > 0)
		commit_ca(&ca);
	printf(n > 0 ? "revoked %zu certificate(s); CRL and configuration "
	    "(sequence %lld) published\n" : "already revoked\n", n,
	    (long long)json_integer_value(json_object_get(ca.state,
	    "sequence")));
	p2p_ca_close(&ca);
	return P2P_EXIT_OK;
}

/* ---- list ---- */

static void
print_certs(FILE *out, const json_t *v, void *arg)
{
	size_t i, j;
	json_t *c, *id;

	(void)arg;
	fprintf(out, "%-34s %-16s %-20s %-7s %s\n", "SERIAL", "USER",
	    "EXPIRES", "REVOKED", "NODE-IDS");
	json_array_foreach(v, i, c) {
		fprintf(out, "%-34s %-16s %-20s %-7s",
		    json_string_value(json_object_get(c, "serial")),
		    json_string_value(json_object_get(c, "user")),
		    json_string_value(json_object_get(c, "not_after")),
		    json_is_true(json_object_get(c, "revoked")) ? "yes" : "no");
		json_array_foreach(json_object_get(c, "node_ids"), j, id)
			fprintf(out, " %s", json_string_value(id));
		fputc('\n', out);
	}
}

static int
cmd_list(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	p2p_ca ca;
	json_t *v;
	int ch, rc = P2P_EXIT_OK;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		if (common_opt(ch, &c) != 0)
			bad_usage(NULL, NULL);
	if (optind != argc)
		bad_usage("unexpected argument %s", argv[optind]);
	need_dir(&c);
	open_ca(&ca, c.dir, 0);
	if ((v = p2p_ca_list(&ca)) == NULL ||
	    p2p_cli_print(stdout, v, c.json, print_certs, NULL) != 0)
		rc = P2P_EXIT_FAIL;
	json_decref(v);
	p2p_ca_close(&ca);
	return rc;
}

/* ---- config ---- */

static void
print_config(FILE *out, const json_t *v, void *arg)
{
	const json_t *u = json_object_get(v, "config_url");

	(void)arg;
	fprintf(out, "overlay     %s\n", json_string_value(json_object_get(v,
	    "overlay")));
	fprintf(out, "sequence    %lld\n", (long long)json_integer_value(
	    json_object_get(v, "sequence")));
	fprintf(out, "file        %s\n", json_string_value(json_object_get(v,
	    "file")));
	fprintf(out, "config_url  %s\n", u != NULL ? json_string_value(u) :
	    "(none until the first serve)");
}

static uint32_t
sequence_arg(const char *s)
{
	char *ep;
	long v;

	errno = 0;
	v = strtol(s, &ep, 10);
	if (*s == '\0' || *ep != '\0' || errno != 0 || v < 0 || v > 65534)
		bad_usage("set-sequence wants a number from 0 to 65534, not "
		    "%s", s);
	return (uint32_t)v;
}

/* The configuration in DIR/overlay.xml, as JSON. */
static json_t *
config_json(p2p_ca *ca)
{
	char path[PATH_MAX], err[256];
	uint8_t *doc;
	size_t len;
	p2p_config c;
	p2p_err e = { 0 };
	json_t *v = NULL;

	if (p2p_ca_path(ca, "overlay.xml", path, sizeof(path)) != 0 ||
	    p2p_file_read(path, P2P_CONFIG_MAX_SIZE, &doc, &len) != 0) {
		p2p_cli_warn("cannot read the configuration of %s", ca->dir);
		return NULL;
	}
	if (p2p_config_parse((const char *)doc, len, NULL, &c, &e) != 0) {
		snprintf(err, sizeof(err), "%s", e.what);
		p2p_cli_warn("%s: %s", path, err);
	} else {
		v = json_pack("{s:s,s:i,s:s,s:s?}", "overlay",
		    c.instance_name, "sequence", (int)c.sequence, "file", path,
		    "config_url", c.config_url);
	}
	p2p_config_free(&c);
	free(doc);
	return v;
}

static int
cmd_config(int argc, char **argv)
{
	static const struct option lo[] = {
		COMMON_OPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct common c = { 0 };
	char err[512];
	const char *what;
	p2p_ca ca;
	json_t *v;
	int ch, rc = P2P_EXIT_OK, change;

	if (argc < 2)
		bad_usage("config: show, bump or set-sequence", NULL);
	what = argv[1];
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		if (common_opt(ch, &c) != 0)
			bad_usage(NULL, NULL);
	need_dir(&c);
	change = strcmp(what, "show") != 0;
	if (strcmp(what, "set-sequence") == 0 ? optind + 1 != argc :
	    optind != argc)
		bad_usage("config: unexpected or missing argument", NULL);
	if (change && strcmp(what, "bump") != 0 &&
	    strcmp(what, "set-sequence") != 0)
		bad_usage("config: show, bump or set-sequence, not %s", what);
	open_ca(&ca, c.dir, change);
	if (change && (strcmp(what, "bump") == 0 ?
	    p2p_ca_publish_config(&ca, err, sizeof(err)) :
	    p2p_ca_publish_config_at(&ca, sequence_arg(argv[optind]), err,
	    sizeof(err))) != 0) {
		p2p_ca_close(&ca);
		p2p_cli_die(P2P_EXIT_FAIL, "%s", err);
	}
	if (change)
		commit_ca(&ca);
	if ((v = config_json(&ca)) == NULL ||
	    p2p_cli_print(stdout, v, c.json, print_config, NULL) != 0)
		rc = P2P_EXIT_FAIL;
	json_decref(v);
	p2p_ca_close(&ca);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} cmds[] = {
	{ "init", cmd_init },
	{ "user", cmd_user },
	{ "serve", cmd_serve },
	{ "issue", cmd_issue },
	{ "revoke", cmd_revoke },
	{ "list", cmd_list },
	{ "config", cmd_config },
};

int
main(int argc, char **argv)
{
	p2p_cli_init(argv[0]);
	if (argc < 2)
		bad_usage(NULL, NULL);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return P2P_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	bad_usage("unknown command %s", argv[1]);
}
