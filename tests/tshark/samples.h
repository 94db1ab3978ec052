/*
 * Sample bodies of every message code the codecs know, each with
 * non-trivial contents. Shared by the tshark cross-check generator
 * (tests/tshark/gen.c) and the dispatcher unit test (tests/unit/test_body.c).
 *
 * Everything lives in static storage: call samples_init() once, then read
 * samples[0..nsamples-1]. The kind lookup samples_lookup knows the kinds
 * used here: SIP registration (dictionary), TURN service and 0xf0000001
 * (single value), certificate by node and by user (array).
 */
#ifndef P2P_SAMPLES_H
#define P2P_SAMPLES_H

#include <stdint.h>
#include <string.h>

#include "body.h"
#include "certs.h"

#define SAMPLE_KIND_PRIVATE	0xf0000001u
#define SAMPLE_KIND_UNKNOWN	0x77777777u
#define SAMPLES_MAX		48

struct sample {
	const char *name;	/* e.g. "PingReq", "Error-Not_Found" */
	uint16_t code;
	p2p_body body;
};

static struct sample samples[SAMPLES_MAX];
static size_t nsamples;

static enum p2p_data_model
samples_model(void *arg, uint32_t kind)
{
	(void)arg;
	switch (kind) {
	case P2P_KIND_SIP_REGISTRATION:
		return P2P_MODEL_DICTIONARY;
	case P2P_KIND_TURN_SERVICE:
	case SAMPLE_KIND_PRIVATE:
		return P2P_MODEL_SINGLE;
	case P2P_KIND_CERTIFICATE_BY_NODE:
	case P2P_KIND_CERTIFICATE_BY_USER:
		return P2P_MODEL_ARRAY;
	default:
		return P2P_MODEL_UNKNOWN;
	}
}

static const p2p_kind_lookup samples_lookup = { samples_model, NULL };

static p2p_bytes
sample_str(const char *s)
{
	p2p_bytes b = { (const uint8_t *)s, strlen(s) };
	return b;
}

static p2p_bytes
sample_mem(const void *p, size_t n)
{
	p2p_bytes b = { p, n };
	return b;
}

/* A Node-ID whose 16 bytes are seed, seed + 1, ... */
static p2p_id
sample_id(uint8_t seed)
{
	p2p_id id;

	for (int i = 0; i < P2P_ID_LEN; i++)
		id.b[i] = (uint8_t)(seed + i);
	return id;
}

static struct sample *
sample_add(const char *name, uint16_t code, enum p2p_body_type type)
{
	struct sample *s = &samples[nsamples++];

	memset(s, 0, sizeof(*s));
	s->name = name;
	s->code = code;
	s->body.type = type;
	return s;
}

/* ECDSA/SHA-256 signature by a cert_hash signer identity. */
static uint8_t sample_cert_hash[32];
static uint8_t sample_sig_bytes[71];

static p2p_signature
sample_signature(void)
{
	p2p_signature s;

	memset(&s, 0, sizeof(s));
	s.hash_alg = P2P_HASH_SHA256;
	s.sig_alg = P2P_SIGALG_ECDSA;
	s.signer.type = P2P_SIGNER_CERT_HASH;
	s.signer.hash_alg = P2P_HASH_SHA256;
	s.signer.hash = sample_mem(sample_cert_hash, sizeof(sample_cert_hash));
	s.value = sample_mem(sample_sig_bytes, sizeof(sample_sig_bytes));
	return s;
}

/* ---- link and topology ---- */

static uint8_t sample_probe_types[] = { P2P_PROBE_RESPONSIBLE_SET,
    P2P_PROBE_NUM_RESOURCES, P2P_PROBE_UPTIME };
static p2p_probe_info sample_probe_info[3];
static p2p_ice_ext sample_ice_ext[1];
static p2p_ice_cand sample_cands[2];
static uint8_t sample_v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0x42 };

static void
samples_probe(void)
{
	struct sample *s;

	s = sample_add("ProbeReq", P2P_PROBE_REQ, P2P_BODY_PROBE_REQ);
	s->body.u.probe_req.types = sample_mem(sample_probe_types,
	    sizeof(sample_probe_types));
	sample_probe_info[0].type = P2P_PROBE_RESPONSIBLE_SET;
	sample_probe_info[0].value = 0x01000000;
	sample_probe_info[1].type = P2P_PROBE_NUM_RESOURCES;
	sample_probe_info[1].value = 42;
	sample_probe_info[2].type = P2P_PROBE_UPTIME;
	sample_probe_info[2].value = 86400;
	s = sample_add("ProbeAns", P2P_PROBE_ANS, P2P_BODY_PROBE_ANS);
	s->body.u.probe_ans.info = sample_probe_info;
	s->body.u.probe_ans.ninfo = 3;
}

static void
samples_cands(void)
{
	static const uint8_t v4[4] = { 192, 0, 2, 10 };
	static const uint8_t v4b[4] = { 198, 51, 100, 7 };
	p2p_ice_cand *c;

	sample_ice_ext[0].name = sample_str("x-test");
	sample_ice_ext[0].value = sample_str("on");
	c = &sample_cands[0];
	p2p_addr_port_v4(&c->addr, v4, 6084);
	c->overlay_link = P2P_LINK_TLS_TCP_FH_NO_ICE;
	c->foundation = sample_str("f1");
	c->priority = 2130706431u;
	c->type = P2P_CAND_HOST;
	c->exts = sample_ice_ext;
	c->nexts = 1;
	c = &sample_cands[1];
	p2p_addr_port_v6(&c->addr, sample_v6, 40000);
	c->overlay_link = P2P_LINK_DTLS_UDP_SR;
	c->foundation = sample_str("f2");
	c->priority = 1694498815u;
	c->type = P2P_CAND_SRFLX;
	p2p_addr_port_v4(&c->rel_addr, v4b, 6084);
}

static void
samples_attach(void)
{
	struct sample *s;
	p2p_attach *at;
	p2p_app_attach *ap;

	samples_cands();
	s = sample_add("AttachReq", P2P_ATTACH_REQ, P2P_BODY_ATTACH);
	at = &s->body.u.attach;
	at->ufrag = sample_str("uFr4g");
	at->password = sample_str("s3cret-ice-password");
	at->role = sample_str("active");
	at->cands = sample_cands;
	at->ncands = 2;
	at->send_update = 1;
	s = sample_add("AttachAns", P2P_ATTACH_ANS, P2P_BODY_ATTACH);
	at = &s->body.u.attach;
	at->ufrag = sample_str("aNsW");
	at->password = sample_str("another-ice-password");
	at->role = sample_str("passive");
	at->cands = sample_cands;
	at->ncands = 1;
	s = sample_add("AppAttachReq", P2P_APP_ATTACH_REQ,
	    P2P_BODY_APP_ATTACH);
	ap = &s->body.u.app_attach;
	ap->ufrag = sample_str("appU");
	ap->password = sample_str("app-ice-password");
	ap->application = P2P_APP_SIP;
	ap->role = sample_str("active");
	ap->cands = sample_cands;
	ap->ncands = 2;
	s = sample_add("AppAttachAns", P2P_APP_ATTACH_ANS,
	    P2P_BODY_APP_ATTACH);
	ap = &s->body.u.app_attach;
	ap->ufrag = sample_str("appA");
	ap->password = sample_str("app-answer-password");
	ap->application = P2P_APP_SIP;
	ap->role = sample_str("passive");
	ap->cands = sample_cands + 1;
	ap->ncands = 1;
}

static uint8_t sample_padding[24];

static void
samples_ping(void)
{
	struct sample *s;

	memset(sample_padding, 0x5a, sizeof(sample_padding));
	s = sample_add("PingReq", P2P_PING_REQ, P2P_BODY_PING_REQ);
	s->body.u.ping_req.padding = sample_mem(sample_padding,
	    sizeof(sample_padding));
	s = sample_add("PingAns", P2P_PING_ANS, P2P_BODY_PING_ANS);
	s->body.u.ping_ans.response_id = 0x0123456789abcdefull;
	s->body.u.ping_ans.time = 1700000000123ull;
}

static p2p_id sample_leave_ids[3];
static uint8_t sample_leave_data[64];
static p2p_id sample_preds[2], sample_succs[3], sample_fingers[4];

static void
samples_join_leave(void)
{
	struct sample *s;
	p2p_chord_leave cl;
	p2p_wbuf w;

	s = sample_add("JoinReq", P2P_JOIN_REQ, P2P_BODY_JOIN_REQ);
	s->body.u.join_req.joining_peer_id = sample_id(0x31);
	s = sample_add("JoinAns", P2P_JOIN_ANS, P2P_BODY_JOIN_ANS);
	for (int i = 0; i < 3; i++)
		sample_leave_ids[i] = sample_id((uint8_t)(0x40 + 0x10 * i));
	cl.type = P2P_LEAVE_FROM_SUCC;
	cl.ids = sample_leave_ids;
	cl.nids = 3;
	p2p_w_init_fixed(&w, sample_leave_data, sizeof(sample_leave_data));
	if (p2p_chord_leave_encode(&w, &cl) != 0)
		w.len = 0;
	s = sample_add("LeaveReq", P2P_LEAVE_REQ, P2P_BODY_LEAVE_REQ);
	s->body.u.leave_req.leaving_peer_id = sample_id(0x21);
	s->body.u.leave_req.overlay_data = sample_mem(sample_leave_data, w.len);
	sample_add("LeaveAns", P2P_LEAVE_ANS, P2P_BODY_EMPTY);
}

static void
samples_update(void)
{
	struct sample *s;
	p2p_chord_update *u;

	for (int i = 0; i < 2; i++)
		sample_preds[i] = sample_id((uint8_t)(0x10 + i));
	for (int i = 0; i < 3; i++)
		sample_succs[i] = sample_id((uint8_t)(0x60 + i));
	for (int i = 0; i < 4; i++)
		sample_fingers[i] = sample_id((uint8_t)(0x80 + 0x11 * i));
	s = sample_add("UpdateReq", P2P_UPDATE_REQ, P2P_BODY_UPDATE_REQ);
	u = &s->body.u.update_req;
	u->uptime = 3600;
	u->type = P2P_UPDATE_FULL;
	u->preds = sample_preds;
	u->npreds = 2;
	u->succs = sample_succs;
	u->nsuccs = 3;
	u->fingers = sample_fingers;
	u->nfingers = 4;
	sample_add("UpdateAns", P2P_UPDATE_ANS, P2P_BODY_EMPTY);
}

static uint8_t sample_resource[16];

static void
samples_route_query(void)
{
	static p2p_id rid;	/* the destination points into it */
	struct sample *s;

	s = sample_add("RouteQueryReq", P2P_ROUTE_QUERY_REQ,
	    P2P_BODY_ROUTE_QUERY_REQ);
	s->body.u.route_query_req.send_update = 1;
	memcpy(rid.b, sample_resource, sizeof(rid.b));
	p2p_dest_resource(&s->body.u.route_query_req.dest, &rid);
	s = sample_add("RouteQueryAns", P2P_ROUTE_QUERY_ANS,
	    P2P_BODY_ROUTE_QUERY_ANS);
	s->body.u.route_query_ans.next_peer = sample_id(0x71);
}

static const char sample_config_xml[] =
    "<overlay><configuration instance-name=\"example.org\" sequence=\"2\">"
    "<topology-plugin>CHORD-RELOAD</topology-plugin>"
    "</configuration></overlay>";

static void
samples_config_update(void)
{
	struct sample *s;

	s = sample_add("ConfigUpdateReq", P2P_CONFIG_UPDATE_REQ,
	    P2P_BODY_CONFIG_UPDATE_REQ);
	s->body.u.config_update_req.type = P2P_CONFIG_UPDATE_CONFIG;
	s->body.u.config_update_req.config = sample_str(sample_config_xml);
	sample_add("ConfigUpdateAns", P2P_CONFIG_UPDATE_ANS, P2P_BODY_EMPTY);
}

/* ---- storage ---- */

static uint8_t sample_sipreg[96];
static p2p_stored_data sample_sd_dict[1], sample_sd_array[2],
    sample_sd_single[1];
static p2p_kind_data sample_kind_data[3];
static p2p_id sample_key_ids[2];

/* TURN-SERVICE holds a TurnServer (RFC 6940 s9): iteration 1,
 * 192.0.2.1:3478. */
static uint8_t sample_turn[32];

static size_t
sample_turn_encode(void)
{
	static const uint8_t ip[4] = { 192, 0, 2, 1 };
	p2p_turn_server ts;
	p2p_wbuf w;

	ts.iteration = 1;
	p2p_addr_port_v4(&ts.addr, ip, 3478);
	p2p_w_init_fixed(&w, sample_turn, sizeof(sample_turn));
	if (p2p_turn_server_encode(&w, &ts) != 0)
		return 0;
	return w.len;
}

static size_t
sample_sipreg_encode(void)
{
	p2p_sip_reg r;
	p2p_wbuf w;

	memset(&r, 0, sizeof(r));
	r.type = P2P_SIPREG_URI;
	r.uri = sample_str("sip:bob@example.org");
	p2p_w_init_fixed(&w, sample_sipreg, sizeof(sample_sipreg));
	if (p2p_sip_reg_encode(&w, &r) != 0)
		return 0;
	return w.len;
}

static void
sample_values(void)
{
	size_t reglen = sample_sipreg_encode();
	size_t turnlen = sample_turn_encode();

	sample_key_ids[0] = sample_id(0x31);
	sample_key_ids[1] = sample_id(0x41);

	for (int i = 0; i < 2; i++) {
		sample_sd_array[i].storage_time = 1700000000000ull + i;
		sample_sd_array[i].lifetime = 86400;
		sample_sd_array[i].value.index = (uint32_t)i;
		sample_sd_array[i].value.data.exists = 1;
		/* certificate kinds hold DER certificates */
		sample_sd_array[i].value.data.value = i == 0 ?
		    sample_mem(cert1, cert1_len) : sample_mem(cert2, cert2_len);
		sample_sd_array[i].sig = sample_signature();
	}
	sample_sd_dict[0].storage_time = 1700000000500ull;
	sample_sd_dict[0].lifetime = 3600;
	/* RFC 7904: the dictionary key is the storing node's Node-ID */
	sample_sd_dict[0].value.key = sample_mem(sample_key_ids[0].b,
	    P2P_ID_LEN);
	sample_sd_dict[0].value.data.exists = 1;
	sample_sd_dict[0].value.data.value = sample_mem(sample_sipreg, reglen);
	sample_sd_dict[0].sig = sample_signature();
	sample_sd_single[0].storage_time = 1700000000900ull;
	sample_sd_single[0].lifetime = 600;
	sample_sd_single[0].value.data.exists = 1;
	sample_sd_single[0].value.data.value = sample_mem(sample_turn,
	    turnlen);
	sample_sd_single[0].sig = sample_signature();
	sample_kind_data[0] = (p2p_kind_data){ P2P_KIND_SIP_REGISTRATION,
	    P2P_MODEL_DICTIONARY, 7, sample_sd_dict, 1, { NULL, 0 } };
	sample_kind_data[1] = (p2p_kind_data){ P2P_KIND_CERTIFICATE_BY_NODE,
	    P2P_MODEL_ARRAY, 3, sample_sd_array, 2, { NULL, 0 } };
	sample_kind_data[2] = (p2p_kind_data){ P2P_KIND_TURN_SERVICE,
	    P2P_MODEL_SINGLE, 12, sample_sd_single, 1, { NULL, 0 } };
}

static p2p_store_kind_resp sample_store_resp[2];
static p2p_id sample_replicas[2];

static void
samples_store(void)
{
	struct sample *s;

	sample_values();
	s = sample_add("StoreReq", P2P_STORE_REQ, P2P_BODY_STORE_REQ);
	s->body.u.store_req.resource = sample_mem(sample_resource,
	    sizeof(sample_resource));
	s->body.u.store_req.replica_number = 0;
	s->body.u.store_req.kinds = sample_kind_data;
	s->body.u.store_req.nkinds = 3;
	sample_replicas[0] = sample_id(0x91);
	sample_replicas[1] = sample_id(0xa1);
	sample_store_resp[0] = (p2p_store_kind_resp){
	    P2P_KIND_SIP_REGISTRATION, 7, sample_replicas, 2 };
	sample_store_resp[1] = (p2p_store_kind_resp){
	    P2P_KIND_CERTIFICATE_BY_NODE, 3, sample_replicas, 1 };
	s = sample_add("StoreAns", P2P_STORE_ANS, P2P_BODY_STORE_ANS);
	s->body.u.store_ans.kinds = sample_store_resp;
	s->body.u.store_ans.nkinds = 2;
}

static p2p_array_range sample_ranges[2] = { { 0, 1 }, { 5, P2P_ARRAY_LAST } };
static p2p_bytes sample_keys[2];
static p2p_specifier sample_specs[3];

static void
samples_fetch(void)
{
	struct sample *s;

	sample_keys[0] = sample_mem(sample_key_ids[0].b, P2P_ID_LEN);
	sample_keys[1] = sample_mem(sample_key_ids[1].b, P2P_ID_LEN);
	sample_specs[0] = (p2p_specifier){ P2P_KIND_SIP_REGISTRATION,
	    P2P_MODEL_DICTIONARY, 7, NULL, 0, sample_keys, 2, { NULL, 0 } };
	sample_specs[1] = (p2p_specifier){ P2P_KIND_CERTIFICATE_BY_NODE,
	    P2P_MODEL_ARRAY, 0, sample_ranges, 2, NULL, 0, { NULL, 0 } };
	sample_specs[2] = (p2p_specifier){ P2P_KIND_TURN_SERVICE,
	    P2P_MODEL_SINGLE, 12, NULL, 0, NULL, 0, { NULL, 0 } };
	s = sample_add("FetchReq", P2P_FETCH_REQ, P2P_BODY_FETCH_REQ);
	s->body.u.fetch_req.resource = sample_mem(sample_resource,
	    sizeof(sample_resource));
	s->body.u.fetch_req.specs = sample_specs;
	s->body.u.fetch_req.nspecs = 3;
	s = sample_add("FetchAns", P2P_FETCH_ANS, P2P_BODY_FETCH_ANS);
	s->body.u.fetch_ans.kinds = sample_kind_data;
	s->body.u.fetch_ans.nkinds = 3;
}

static uint8_t sample_meta_hash[32];
static p2p_stored_meta sample_meta_array[2], sample_meta_dict[1];
static p2p_stat_kind sample_stat_kinds[2];

/*
 * StoredMetaData.value_length, like StoredData's length, counts the bytes
 * of the structure after it; the codec carries it as given.
 */
static uint32_t
sample_meta_rest(enum p2p_data_model m, const p2p_stored_meta *sm)
{
	size_t n = 8 + 4 + 1 + 4 + 1 + 1 + sm->meta.hash.len;

	if (m == P2P_MODEL_ARRAY)
		n += 4;
	if (m == P2P_MODEL_DICTIONARY)
		n += 2 + sm->key.len;
	return (uint32_t)n;
}

static void
samples_stat(void)
{
	struct sample *s;

	memset(sample_meta_hash, 0xc4, sizeof(sample_meta_hash));
	for (int i = 0; i < 2; i++) {
		p2p_stored_meta *m = &sample_meta_array[i];
		m->storage_time = 1700000000000ull + i;
		m->lifetime = 86400;
		m->index = (uint32_t)i;
		m->meta.exists = 1;
		m->meta.value_length = (uint32_t)cert1_len;
		m->meta.hash_alg = P2P_HASH_SHA256;
		m->meta.hash = sample_mem(sample_meta_hash,
		    sizeof(sample_meta_hash));
		m->value_length = sample_meta_rest(P2P_MODEL_ARRAY, m);
	}
	sample_meta_dict[0] = sample_meta_array[0];
	sample_meta_dict[0].key = sample_mem(sample_key_ids[0].b, P2P_ID_LEN);
	sample_meta_dict[0].value_length = sample_meta_rest(
	    P2P_MODEL_DICTIONARY, &sample_meta_dict[0]);
	sample_stat_kinds[0] = (p2p_stat_kind){ P2P_KIND_CERTIFICATE_BY_NODE,
	    P2P_MODEL_ARRAY, 3, sample_meta_array, 2, { NULL, 0 } };
	sample_stat_kinds[1] = (p2p_stat_kind){ P2P_KIND_SIP_REGISTRATION,
	    P2P_MODEL_DICTIONARY, 7, sample_meta_dict, 1, { NULL, 0 } };
	s = sample_add("StatReq", P2P_STAT_REQ, P2P_BODY_STAT_REQ);
	s->body.u.stat_req.resource = sample_mem(sample_resource,
	    sizeof(sample_resource));
	s->body.u.stat_req.specs = sample_specs;
	s->body.u.stat_req.nspecs = 2;
	s = sample_add("StatAns", P2P_STAT_ANS, P2P_BODY_STAT_ANS);
	s->body.u.stat_ans.kinds = sample_stat_kinds;
	s->body.u.stat_ans.nkinds = 2;
}

static uint32_t sample_find_kinds[2] = { P2P_KIND_SIP_REGISTRATION,
    P2P_KIND_TURN_SERVICE };
static p2p_find_kind sample_find_results[2];
static uint8_t sample_closest[16];

static void
samples_find(void)
{
	struct sample *s;

	s = sample_add("FindReq", P2P_FIND_REQ, P2P_BODY_FIND_REQ);
	s->body.u.find_req.resource = sample_mem(sample_resource,
	    sizeof(sample_resource));
	s->body.u.find_req.kinds = sample_find_kinds;
	s->body.u.find_req.nkinds = 2;
	memcpy(sample_closest, sample_resource, sizeof(sample_closest));
	sample_closest[15] ^= 0x01;
	sample_find_results[0].kind = P2P_KIND_SIP_REGISTRATION;
	sample_find_results[0].closest = sample_mem(sample_closest,
	    sizeof(sample_closest));
	sample_find_results[1].kind = P2P_KIND_TURN_SERVICE;
	s = sample_add("FindAns", P2P_FIND_ANS, P2P_BODY_FIND_ANS);
	s->body.u.find_ans.results = sample_find_results;
	s->body.u.find_ans.nresults = 2;
}

/* ---- errors ---- */

static uint8_t sample_err_kinds[16];
static uint8_t sample_err_gen[64];

static void
sample_error(const char *name, uint16_t code, p2p_bytes info)
{
	struct sample *s = sample_add(name, P2P_ERROR, P2P_BODY_ERROR);

	s->body.u.error.code = code;
	s->body.u.error.info = info;
}

static void
samples_errors(void)
{
	static const uint32_t kinds[2] = { SAMPLE_KIND_UNKNOWN, 0x1234 };
	static p2p_store_kind_resp gen[1] = { { P2P_KIND_SIP_REGISTRATION,
	    9, NULL, 0 } };
	p2p_store_ans cur = { gen, 1 };
	p2p_wbuf w;
	size_t klen = 0, glen = 0;

	p2p_w_init_fixed(&w, sample_err_kinds, sizeof(sample_err_kinds));
	if (p2p_error_kinds_encode(&w, kinds, 2) == 0)
		klen = w.len;
	p2p_w_init_fixed(&w, sample_err_gen, sizeof(sample_err_gen));
	if (p2p_store_ans_encode(&w, &cur) == 0)
		glen = w.len;
	sample_error("Error-Forbidden", P2P_ERR_FORBIDDEN,
	    sample_str("signer not allowed to write this resource"));
	sample_error("Error-Not_Found", P2P_ERR_NOT_FOUND,
	    sample_str("no such resource"));
	sample_error("Error-Generation_Counter_Too_Low",
	    P2P_ERR_GENERATION_TOO_LOW, sample_mem(sample_err_gen, glen));
	sample_error("Error-Unknown_Kind", P2P_ERR_UNKNOWN_KIND,
	    sample_mem(sample_err_kinds, klen));
	sample_error("Error-TTL_Exceeded", P2P_ERR_TTL_EXCEEDED,
	    sample_str("ttl reached zero"));
	sample_error("Error-Invalid_Message", P2P_ERR_INVALID_MESSAGE,
	    sample_str("truncated destination list"));
	sample_error("Error-Config_Too_Old", P2P_ERR_CONFIG_TOO_OLD,
	    sample_str(""));
}

/* ---- diagnostics (RFC 7851) ---- */

static p2p_diag_ext sample_diag_ext[1];
static p2p_diag_info sample_diag_info[2];
static uint8_t sample_diag_rts[4] = { 0, 0, 0, 0x17 };
static uint8_t sample_diag_local[6] = { 'l', 'o', 'c', 'a', 'l', 0 };

static void
samples_diag(void)
{
	struct sample *s;
	p2p_path_track_req *rq;
	p2p_path_track_ans *an;
	p2p_id target = sample_id(0xb1), hop = sample_id(0xc1);

	sample_diag_ext[0].kind = 0xf001;
	sample_diag_ext[0].contents = sample_mem(sample_diag_local,
	    sizeof(sample_diag_local));
	s = sample_add("PathTrackReq", P2P_PATH_TRACK_REQ,
	    P2P_BODY_PATH_TRACK_REQ);
	rq = &s->body.u.path_track_req;
	p2p_dest_node(&rq->dest, &target);
	rq->req.expiration = 1700000060000ull;
	rq->req.timestamp_initiated = 1700000000000ull;
	rq->req.flags = P2P_DIAG_FLAG_ROUTING_TABLE_SIZE |
	    P2P_DIAG_FLAG_STATUS_INFO;
	rq->req.exts = sample_diag_ext;
	rq->req.nexts = 1;
	sample_diag_info[0].kind = P2P_DIAG_ROUTING_TABLE_SIZE;
	sample_diag_info[0].contents = sample_mem(sample_diag_rts,
	    sizeof(sample_diag_rts));
	sample_diag_info[1].kind = 0xf001;
	sample_diag_info[1].contents = sample_mem(sample_diag_local,
	    sizeof(sample_diag_local));
	s = sample_add("PathTrackAns", P2P_PATH_TRACK_ANS,
	    P2P_BODY_PATH_TRACK_ANS);
	an = &s->body.u.path_track_ans;
	p2p_dest_node(&an->next_hop, &hop);
	an->resp.expiration = 1700000060000ull;
	an->resp.timestamp_initiated = 1700000000000ull;
	an->resp.timestamp_received = 1700000000042ull;
	an->resp.hop_counter = 97;
	an->resp.infos = sample_diag_info;
	an->resp.ninfos = 2;
}

/* Fill samples[]; idempotent. */
static void
samples_init(void)
{
	nsamples = 0;
	memset(sample_cert_hash, 0xaa, sizeof(sample_cert_hash));
	memset(sample_sig_bytes, 0x55, sizeof(sample_sig_bytes));
	sample_sig_bytes[0] = 0x30;
	sample_sig_bytes[1] = 0x45;
	for (size_t i = 0; i < sizeof(sample_resource); i++)
		sample_resource[i] = (uint8_t)(0xe0 ^ i);
	samples_probe();
	samples_attach();
	samples_store();
	samples_fetch();
	samples_find();
	samples_join_leave();
	samples_update();
	samples_route_query();
	samples_ping();
	samples_stat();
	samples_config_update();
	samples_diag();
	samples_errors();
}

#endif
