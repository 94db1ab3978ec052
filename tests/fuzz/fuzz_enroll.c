/*
 * libFuzzer target: the enrollment request handler, p2p_enroll_handle, on
 * a POST /enroll whose body is the input.
 *
 * Start-up makes a CA in a fresh temporary directory (p2p_ca_init) with
 * one account, FUZZ_USER. Its stored password record is rewritten with
 * FUZZ_ITER PBKDF2 iterations instead of the production count: the record
 * carries its own count, which p2p_ca_user_check honours, so the library
 * is not changed and its cost for real accounts stays what it is. An
 * unknown user name still costs a full production-strength hash (so that
 * timing does not tell which names exist); inputs that would get that far
 * with another user name (a form that parses with a CSR that parses) are
 * not run, and everything that fails before the password check is.
 *
 * Byte 0 of the input picks the Content-Type: a fixed multipart boundary
 * (the rest is the body), the first line of the rest, or none. Every
 * answer must be a known HTTP status with a body and a log line that fit
 * it; after a certificate is issued the CA files are put back as they were
 * so that runs do not depend on each other.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ca.h"
#include "enroll.h"

#define FUZZ_USER	"alice"
#define FUZZ_PASSWORD	"secret"
#define FUZZ_ITER	1000	/* the least p2p_ca_user_check accepts */
#define FUZZ_BOUNDARY	"----p2psip-fuzz-boundary"
#define FUZZ_CTYPE	"multipart/form-data; boundary=" FUZZ_BOUNDARY

static char top_dir[64], ca_dir[256];
static uint8_t *saved_state, *saved_users;
static size_t saved_state_len, saved_users_len;

static void
die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_enroll: %s: %s\n", what, err);
	exit(1);
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Rewrite the account's record with FUZZ_ITER iterations. */
static void
cheap_password(p2p_ca *ca)
{
	uint8_t salt[16], h[32];
	char sh[33], hh[65];
	json_t *u = json_object_get(ca->users, FUZZ_USER);

	memset(salt, 0x5a, sizeof(salt));
	if (u == NULL || PKCS5_PBKDF2_HMAC(FUZZ_PASSWORD,
	    (int)strlen(FUZZ_PASSWORD), salt, sizeof(salt), FUZZ_ITER,
	    EVP_sha256(), sizeof(h), h) != 1)
		die("account", "cannot hash the password");
	hex(salt, sizeof(salt), sh);
	hex(h, sizeof(h), hh);
	if (json_object_set_new(u, "salt", json_string(sh)) != 0 ||
	    json_object_set_new(u, "hash", json_string(hh)) != 0 ||
	    json_object_set_new(u, "iter", json_integer(FUZZ_ITER)) != 0)
		die("account", "out of memory");
}

static void
read_back(const char *name, uint8_t **p, size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", ca_dir, name);
	if (p2p_file_read(path, 1 << 20, p, len) != 0)
		die(path, "cannot read");
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 ? -1 : 0;
}

static void
remove_ca(void)
{
	if (top_dir[0] != '\0')
		(void)nftw(top_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(saved_state);
	free(saved_users);
}

static void
make_ca(void)
{
	char tmpl[64], err[256];
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	p2p_ca_init_opts o;
	p2p_ca ca;

	/* tmpfs where there is one: every commit fsyncs */
	snprintf(tmpl, sizeof(tmpl), "%s/p2p-fuzz-enroll.XXXXXX", shm);
	if (mkdtemp(tmpl) == NULL)
		die(tmpl, "mkdtemp failed");
	snprintf(top_dir, sizeof(top_dir), "%s", tmpl);
	atexit(remove_ca);
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", tmpl);
	memset(&o, 0, sizeof(o));
	o.dir = ca_dir;
	o.overlay = "fuzz.example";
	o.key_type = P2P_KEY_EC_P256;
	o.enroll_url = "https://127.0.0.1:8443/enroll";
	if (p2p_ca_init(&o, err, sizeof(err)) != 0)
		die("p2p_ca_init", err);
	if (p2p_ca_open(&ca, ca_dir, 1, err, sizeof(err)) != 0)
		die("p2p_ca_open", err);
	if (p2p_ca_user_add(&ca, FUZZ_USER, FUZZ_PASSWORD, 0, 0, err,
	    sizeof(err)) != 0)
		die("p2p_ca_user_add", err);
	cheap_password(&ca);
	if (p2p_ca_commit(&ca, err, sizeof(err)) != 0)
		die("p2p_ca_commit", err);
	p2p_ca_close(&ca);
	read_back("state.json", &saved_state, &saved_state_len);
	read_back("users.json", &saved_users, &saved_users_len);
}

/* Put the CA back as make_ca left it (after an issuance). */
static void
restore_ca(void)
{
	char path[512], cdir[512];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/state.json", ca_dir);
	if (p2p_file_write_atomic(path, saved_state, saved_state_len,
	    0600) != 0)
		die(path, "cannot restore");
	snprintf(path, sizeof(path), "%s/users.json", ca_dir);
	if (p2p_file_write_atomic(path, saved_users, saved_users_len,
	    0600) != 0)
		die(path, "cannot restore");
	snprintf(cdir, sizeof(cdir), "%s/certs", ca_dir);
	if ((d = opendir(cdir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", cdir, e->d_name);
		(void)unlink(path);
	}
	closedir(d);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	make_ca();
	return 0;
}

/*
 * Would this request reach the password check under another user name
 * than FUZZ_USER? Conservative: a form that parses, with a csr part that
 * parses as a CSR, and a first username part that is not FUZZ_USER.
 */
static int
costly(const uint8_t *body, size_t len, const char *ctype)
{
	static _Alignas(16) uint8_t mem[64 * sizeof(p2p_http_part)];
	const p2p_http_part *csr, *user;
	X509_REQ *r = NULL;
	p2p_multipart m;
	p2p_arena a;
	p2p_err e;

	p2p_arena_init(&a, mem, sizeof(mem));
	if (ctype == NULL || p2p_multipart_parse((p2p_bytes){ body, len },
	    ctype, 64, &a, &m, &e) != 0 ||
	    (csr = p2p_multipart_get(&m, "csr")) == NULL)
		return 0;
	user = p2p_multipart_get(&m, "username");
	if (user != NULL && user->data.len == strlen(FUZZ_USER) &&
	    memcmp(user->data.p, FUZZ_USER, user->data.len) == 0)
		return 0;
	if (csr->data.len > 10 && memcmp(csr->data.p, "-----BEGIN", 10) ==
	    0) {
		BIO *b = BIO_new_mem_buf(csr->data.p, (int)csr->data.len);

		r = b != NULL ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) :
		    NULL;
		BIO_free(b);
		ERR_clear_error();
	} else {
		r = p2p_csr_from_der(csr->data.p, csr->data.len, &e);
	}
	X509_REQ_free(r);
	return r != NULL;
}

static const char *const tokens[] = { "failed_authentication",
    "username_not_available", "Node-IDs_not_available", "bad_CSR" };

static int
body_is(const p2p_enroll_answer *a, const char *text)
{
	size_t n = strlen(text);

	return a->len == n + 1 && memcmp(a->body, text, n) == 0 &&
	    a->body[n] == '\n';
}

/* The answer must be well-formed for the status it carries. */
static void
check_answer(const p2p_enroll_answer *a)
{
	const uint8_t *p = a->body;
	X509 *x;
	size_t i;
	int ok = 0;

	if (strcmp(p2p_http_status_text(a->status), "Unknown") == 0 ||
	    a->ctype == NULL || a->body == NULL || a->len == 0 ||
	    memchr(a->log, '\0', sizeof(a->log)) == NULL)
		abort();
	switch (a->status) {
	case 200:
		if (strcmp(a->ctype, "application/pkix-cert") != 0 ||
		    (x = d2i_X509(NULL, &p, (long)a->len)) == NULL ||
		    p != a->body + a->len || a->log[0] == '\0')
			abort();
		X509_free(x);
		return;
	case 400:
		ok = body_is(a, "want multipart/form-data");
		break;
	case 403:
		for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
			ok |= body_is(a, tokens[i]);
		break;
	case 500:
		ok = body_is(a, "internal error");
		break;
	}
	if (!ok || strcmp(a->ctype, "text/plain") != 0 || a->log[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_http_header hdr = { "Content-Type", NULL };
	p2p_http_req req;
	p2p_enroll_answer ans;
	const uint8_t *body, *nl;
	char *ctype = NULL;
	uint8_t *copy;
	size_t len;

	if (size < 1)
		return 0;
	body = data + 1;
	len = size - 1;
	switch (data[0] % 3) {
	case 0:
		hdr.value = FUZZ_CTYPE;
		break;
	case 1:
		if ((nl = memchr(body, '\n', len)) == NULL)
			return 0;
		if ((ctype = strndup((const char *)body, (size_t)(nl -
		    body))) == NULL)
			abort();
		hdr.value = ctype;
		len -= (size_t)(nl + 1 - body);
		body = nl + 1;
		break;
	default:
		break;
	}
	if (costly(body, len, hdr.value)) {
		free(ctype);
		return -1;	/* keep it out of the corpus */
	}
	/* the server hands the body NUL-terminated past its length */
	if ((copy = malloc(len + 1)) == NULL)
		abort();
	memcpy(copy, body, len);
	copy[len] = '\0';
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/enroll";
	req.query = "";
	req.headers = &hdr;
	req.nheaders = hdr.value != NULL ? 1 : 0;
	req.body = copy;
	req.body_len = len;
	req.peer = "127.0.0.1:40000";
	req.peer_ip = "127.0.0.1";
	p2p_enroll_handle(ca_dir, NULL, 0, &req, &ans);
	check_answer(&ans);
	if (ans.status == 200)
		restore_ca();
	p2p_enroll_answer_free(&ans);
	free(copy);
	free(ctype);
	return 0;
}
