/*
 * libFuzzer target: StoreReq, FetchReq, StatReq and FindReq bodies,
 * decoded and fed to one storage engine (store.h) that lives for the
 * whole run, as the node's request handler does.
 *
 * Input: a control byte, a time byte, then the body.
 *   control & 3     0 StoreReq, 1 FetchReq, 2 StatReq, 3 FindReq
 *   control & 4     StoreReq: apply it as a replica store too
 *   control & 8     StoreReq: sign every value again with the fixed user
 *                   (so that values pass the signature check and reach
 *                   the data models), keeping everything else
 *   control & 16    with 8: store under the fixed user's Resource-ID
 *                   (so that USER-MATCH passes)
 *   time            the clock moves on by this many seconds first
 * The message signer is always the fixed user. Every answer is encoded as
 * the node would send it; every value a Fetch returns is checked as a
 * fetching peer does. The store is emptied every few thousand inputs so
 * that its limits are reached now and then but its size stays bounded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_store.h"
#include "ident.h"
#include "sign.h"
#include "store.h"

#define MAX_RESIGN	32	/* values signed again per input */
#define RESET_EVERY	4096	/* inputs between two emptyings */

static const p2p_kind_def kind_defs[] = {
	{ .id = 0xf0000001u, .model = P2P_MODEL_SINGLE,
	  .policy = P2P_AC_USER_MATCH, .max_count = 1, .max_size = 4096 },
	{ .id = 0xf0000002u, .model = P2P_MODEL_ARRAY,
	  .policy = P2P_AC_USER_MATCH, .max_count = 16, .max_size = 4096 },
	{ .id = 0xf0000003u, .model = P2P_MODEL_DICTIONARY,
	  .policy = P2P_AC_USER_MATCH, .max_count = 16, .max_size = 4096 },
	{ .id = 0xf0000004u, .model = P2P_MODEL_ARRAY,
	  .policy = P2P_AC_NODE_MATCH, .max_count = 16, .max_size = 256 },
	{ .id = P2P_KIND_SIP_REGISTRATION, .model = P2P_MODEL_DICTIONARY,
	  .policy = P2P_AC_USER_NODE_MATCH, .max_count = 16, .max_size = 256 },
	{ .id = P2P_KIND_TURN_SERVICE, .model = P2P_MODEL_SINGLE,
	  .policy = P2P_AC_NODE_MULTIPLE, .max_count = 1, .max_size = 256,
	  .max_node_multiple = 4 },
};
static const p2p_store_kinds kinds = {
	kind_defs, sizeof(kind_defs) / sizeof(kind_defs[0])
};

static _Alignas(16) uint8_t arena_mem[1 << 17];
static _Alignas(16) uint8_t arena2_mem[1 << 17];

static p2p_store *store;
static EVP_PKEY *ca_key, *user_key;
static X509 *ca_cert, *user_cert;
static p2p_identity ident;
static p2p_sig_who signer;
static p2p_id user_rid, self;
static p2p_cert user_certs[1];
static uint64_t now;
static unsigned runs;

static const p2p_kind_def *
kind_def(uint32_t kind)
{
	for (size_t i = 0; i < kinds.n; i++)
		if (kinds.defs[i].id == kind)
			return &kinds.defs[i];
	return NULL;
}

static enum p2p_data_model
model(void *arg, uint32_t kind)
{
	const p2p_kind_def *d = kind_def(kind);

	(void)arg;
	return d != NULL ? d->model : P2P_MODEL_UNKNOWN;
}

static const p2p_kind_lookup lookup = { model, NULL };

static void
die(const char *what, const p2p_err *e)
{
	fprintf(stderr, "fuzz_store: %s: %s\n", what,
	    e != NULL && e->what != NULL ? e->what : "failed");
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char user[] = "fuzz@fuzz.test";
	p2p_issue is;
	p2p_err e = { 0 };
	X509_REQ *csr = NULL;

	(void)argc;
	(void)argv;
	if ((ca_key = p2p_key_generate(P2P_KEY_EC_P256, &e)) == NULL ||
	    (ca_cert = p2p_ca_create(ca_key, "Fuzz CA", 10, &e)) == NULL ||
	    (user_key = p2p_key_generate(P2P_KEY_EC_P256, &e)) == NULL ||
	    (csr = p2p_csr_make(user_key, &e)) == NULL)
		die("keys", &e);
	memset(&self, 0x80, sizeof(self));
	memset(&is, 0, sizeof(is));
	is.overlay = "fuzz.test";
	is.user = user;
	is.ids = &self;
	is.nids = 1;
	is.not_after = 4102444800;	/* 2100 */
	user_cert = p2p_cert_issue(ca_key, ca_cert, csr, &is, &e);
	X509_REQ_free(csr);
	if (user_cert == NULL ||
	    p2p_identity_init(&ident, user_key, user_cert, NULL, &e) != 0)
		die("identity", &e);
	signer.cert = user_cert;
	signer.cert_index = 0;
	signer.node = ident.node;
	signer.has_node = 1;
	signer.info = ident.info;
	p2p_identity_cert(&ident, &user_certs[0]);
	p2p_id_from_name(&user_rid, user, strlen(user));
	if ((store = p2p_store_new(&(p2p_store_limits){ 2048, 1u << 20 })) ==
	    NULL)
		die("store", NULL);
	now = 1700000000000ull;
	return 0;
}

static int
drop_all(void *arg, const p2p_id *resource)
{
	(void)arg;
	(void)resource;
	return 1;
}

/* Encode one held item as the node's sweep does. */
static int
visit(void *arg, const p2p_store_item *it)
{
	p2p_kind_data kd;
	p2p_store_req req;
	p2p_wbuf w;

	(void)arg;
	memset(&kd, 0, sizeof(kd));
	kd.kind = it->kind;
	kd.model = it->model;
	kd.generation = it->generation;
	kd.values = (p2p_stored_data *)it->values;
	kd.nvalues = it->nvalues;
	memset(&req, 0, sizeof(req));
	req.resource.p = it->resource.b;
	req.resource.len = P2P_ID_LEN;
	req.replica_number = 1;
	req.kinds = &kd;
	req.nkinds = 1;
	p2p_w_init(&w, 256);
	(void)p2p_store_req_encode(&w, &req);
	p2p_w_free(&w);
	return 0;
}

/* The ErrorResponse body a failure is answered with. */
static void
encode_error(const p2p_err *e, const p2p_store_out *out)
{
	p2p_wbuf w;

	p2p_w_init(&w, 128);
	(void)p2p_store_error_encode(&w, e, out);
	p2p_w_free(&w);
}

/* Sign the values of req again with the fixed user. sb holds the
 * signature values; returns how many values were signed. */
static size_t
resign(p2p_store_req *req, p2p_sigbuf *sb, size_t cap)
{
	size_t n = 0;
	p2p_wbuf in;
	p2p_err e = { 0 };

	for (size_t i = 0; i < req->nkinds; i++) {
		p2p_kind_data *kd = &req->kinds[i];
		enum p2p_data_model m = kd->model != P2P_MODEL_UNKNOWN ?
		    kd->model : P2P_MODEL_SINGLE;

		for (size_t j = 0; j < kd->nvalues && n < cap; j++) {
			p2p_stored_data *sd = &kd->values[j];

			sd->sig.signer = ident.signer;
			p2p_w_init(&in, 256);
			if (p2p_stored_data_sig_input(&in, req->resource,
			    kd->kind, m, sd) == 0)
				(void)p2p_sign_data(&ident, in.p, in.len,
				    &sd->sig, &sb[n++], &e);
			p2p_w_free(&in);
		}
	}
	return n;
}

static void
apply(const uint8_t *body, size_t len, int flags)
{
	p2p_store_req req;
	p2p_store_msg msg;
	p2p_store_out out;
	p2p_arena a;
	p2p_err e = { 0 };
	p2p_wbuf w;
	static p2p_sigbuf sb[MAX_RESIGN];

	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	if (p2p_store_req_decode((p2p_bytes){ body, len }, &a, &lookup, &req,
	    &e) != 0)
		return;
	if (flags & 8) {
		if (flags & 16) {
			req.resource.p = user_rid.b;
			req.resource.len = P2P_ID_LEN;
		}
		(void)resign(&req, sb, MAX_RESIGN);
	}
	memset(&msg, 0, sizeof(msg));
	msg.certs = user_certs;
	msg.ncerts = 1;
	msg.signer = &signer;
	for (int replica = 0; replica <= ((flags & 4) != 0); replica++) {
		p2p_store_out_init(&out);
		memset(&e, 0, sizeof(e));
		if (p2p_store_apply(store, &req, &msg, &kinds, replica, now,
		    &out, &e) != 0) {
			if (e.reload_code == 0)
				die("apply failed without a RELOAD error", &e);
			encode_error(&e, &out);
		} else {
			p2p_w_init(&w, 128);
			if (p2p_store_ans_encode(&w, &out.store) != 0)
				die("StoreAns encode", NULL);
			p2p_w_free(&w);
		}
		p2p_store_out_free(&out);
	}
}

/* Check every value of a Fetch answer as a fetching peer would. */
static void
check_fetched(const p2p_fetch_req *req, const p2p_store_out *out)
{
	p2p_id rid;
	size_t checked = 0;

	if (req->resource.len != P2P_ID_LEN)
		return;
	memcpy(rid.b, req->resource.p, P2P_ID_LEN);
	for (size_t i = 0; i < out->fetch.nkinds; i++) {
		const p2p_kind_data *kd = &out->fetch.kinds[i];
		const p2p_kind_def *def = kind_def(kd->kind);

		for (size_t j = 0; def != NULL && j < kd->nvalues &&
		    checked < 8; j++) {
			p2p_sig_who who;
			p2p_err e = { 0 };

			if (!kd->values[j].value.data.exists)
				continue;
			memset(&who, 0, sizeof(who));
			(void)p2p_store_check_value(&rid, def, &kd->values[j],
			    out->certs, out->ncerts, NULL, now, &who, &e);
			p2p_sig_who_clear(&who);
			checked++;
		}
	}
}

static void
query(const uint8_t *body, size_t len, int op)
{
	p2p_fetch_req req;
	p2p_find_req freq;
	p2p_store_out out;
	p2p_arena a;
	p2p_err e = { 0 };
	p2p_wbuf w;
	p2p_bytes in = { body, len };
	int rc;

	p2p_arena_init(&a, arena_mem, sizeof(arena_mem));
	switch (op) {
	case 1:
		rc = p2p_fetch_req_decode(in, &a, &lookup, &req, &e);
		break;
	case 2:
		rc = p2p_stat_req_decode(in, &a, &lookup, &req, &e);
		break;
	default:
		rc = p2p_find_req_decode(in, &a, &freq, &e);
		break;
	}
	if (rc != 0)
		return;
	p2p_store_out_init(&out);
	switch (op) {
	case 1:
		rc = p2p_store_fetch(store, &req, &kinds, now, &out, &e);
		break;
	case 2:
		rc = p2p_store_stat(store, &req, &kinds, now, &out, &e);
		break;
	default:
		rc = p2p_store_find(store, &freq, &kinds,
		    (runs & 1) ? &self : NULL, now, &out, &e);
		break;
	}
	if (rc != 0) {
		if (e.reload_code == 0)
			die("query failed without a RELOAD error", &e);
		encode_error(&e, &out);
		p2p_store_out_free(&out);
		return;
	}
	p2p_w_init(&w, 1024);
	if (op == 1) {
		p2p_fetch_ans dec;
		p2p_arena a2;

		if (p2p_fetch_ans_encode(&w, &out.fetch) != 0)
			die("FetchAns encode", NULL);
		/* What goes out must decode again. */
		p2p_arena_init(&a2, arena2_mem, sizeof(arena2_mem));
		if (p2p_fetch_ans_decode((p2p_bytes){ w.p, w.len }, &a2,
		    &lookup, &dec, &e) != 0 && w.len < sizeof(arena2_mem) / 8)
			die("FetchAns does not decode", &e);
		check_fetched(&req, &out);
	} else if (op == 2) {
		if (p2p_stat_ans_encode(&w, &out.stat) != 0)
			die("StatAns encode", NULL);
	} else {
		if (p2p_find_ans_encode(&w, &out.find) != 0)
			die("FindAns encode", NULL);
	}
	p2p_w_free(&w);
	p2p_store_out_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int ctl;

	if (size < 2)
		return 0;
	ctl = data[0];
	now += (uint64_t)data[1] * 1000;
	if (++runs % RESET_EVERY == 0)
		(void)p2p_store_drop(store, drop_all, NULL);
	(void)p2p_store_expire(store, now);
	if ((ctl & 3) == 0)
		apply(data + 2, size - 2, ctl);
	else
		query(data + 2, size - 2, ctl & 3);
	if (runs % 64 == 0)
		(void)p2p_store_foreach(store, NULL, NULL, now, visit, NULL);
	return 0;
}
