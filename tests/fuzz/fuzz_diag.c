/*
 * libFuzzer target: the diagnostics (RFC 7851) decoders and the checks the
 * node applies to a PathTrack or Diagnostic_Ping before answering.
 *
 * Input: one selector byte, then the bytes to decode.
 *   0  PathTrackReq body, through diag_path_track_parse (the node's own
 *      entry point: decode, destination type, expiration, dMFlags and
 *      extension kinds)
 *   1  DiagnosticsRequest (Diagnostic_Ping contents), diag_req_parse
 *   2  DiagnosticsResponse
 *   3  PathTrackAns
 *   4  the contents of one diagnostic kind: a second byte picks the kind
 * Requests are checked against a fixed clock, so that the expiration
 * window is reached by some inputs and missed by others. Whatever decodes
 * is encoded again and decoded a second time: the result must be the same
 * values (the decoders accept several ext_length forms, the encoder writes
 * one, so bytes may differ but values may not). A failure must come with a
 * RELOAD error code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "body_diag.h"
#include "node_int.h"

#define NOW_MS 1700000000000ull

static _Alignas(16) uint8_t mem1[1 << 18], mem2[1 << 18];

static void
need(int cond)
{
	if (!cond)
		abort();
}

static void
failed(const p2p_err *e)
{
	need(e->reload_code != 0 && e->what != NULL);
}

static int
bytes_same(p2p_bytes x, p2p_bytes y)
{
	return x.len == y.len && (x.len == 0 || memcmp(x.p, y.p, x.len) == 0);
}

static void
req_same(const p2p_diag_req *a, const p2p_diag_req *b)
{
	need(a->expiration == b->expiration);
	need(a->timestamp_initiated == b->timestamp_initiated);
	need(a->flags == b->flags && a->nexts == b->nexts);
	for (size_t i = 0; i < a->nexts; i++)
		need(a->exts[i].kind == b->exts[i].kind &&
		    bytes_same(a->exts[i].contents, b->exts[i].contents));
}

static void
resp_same(const p2p_diag_resp *a, const p2p_diag_resp *b)
{
	need(a->expiration == b->expiration);
	need(a->timestamp_initiated == b->timestamp_initiated);
	need(a->timestamp_received == b->timestamp_received);
	need(a->hop_counter == b->hop_counter && a->ninfos == b->ninfos);
	for (size_t i = 0; i < a->ninfos; i++)
		need(a->infos[i].kind == b->infos[i].kind &&
		    bytes_same(a->infos[i].contents, b->infos[i].contents));
}

static void
dest_same(const p2p_dest *a, const p2p_dest *b)
{
	need(a->type == b->type && p2p_id_eq(&a->node, &b->node) &&
	    bytes_same(a->data, b->data) && a->compressed == b->compressed);
}

static void
path_track_req(p2p_bytes in)
{
	p2p_arena a1, a2;
	p2p_path_track_req r1, r2;
	p2p_err e = { 0 };
	p2p_wbuf w;

	p2p_arena_init(&a1, mem1, sizeof(mem1));
	if (diag_path_track_parse(in, NOW_MS, &a1, &r1, &e) != 0) {
		failed(&e);
		return;
	}
	need(r1.dest.type == P2P_DEST_NODE ||
	    (r1.dest.type == P2P_DEST_RESOURCE && r1.dest.data.len == 16));
	need(r1.req.expiration > NOW_MS &&
	    r1.req.expiration - NOW_MS <= P2P_DIAG_MAX_EXPIRATION_MS);
	p2p_w_init(&w, in.len + 16);
	need(p2p_path_track_req_encode(&w, &r1) == 0);
	p2p_arena_init(&a2, mem2, sizeof(mem2));
	need(diag_path_track_parse((p2p_bytes){ w.p, w.len }, NOW_MS, &a2,
	    &r2, &e) == 0);
	dest_same(&r1.dest, &r2.dest);
	req_same(&r1.req, &r2.req);
	p2p_w_free(&w);
}

static void
diag_req(p2p_bytes in)
{
	p2p_arena a1, a2;
	p2p_diag_req r1, r2;
	p2p_err e = { 0 };
	p2p_wbuf w;

	p2p_arena_init(&a1, mem1, sizeof(mem1));
	if (diag_req_parse(in, NOW_MS, &a1, &r1, &e) != 0) {
		failed(&e);
		return;
	}
	p2p_w_init(&w, in.len + 16);
	need(p2p_diag_req_encode(&w, &r1) == 0);
	p2p_arena_init(&a2, mem2, sizeof(mem2));
	need(diag_req_parse((p2p_bytes){ w.p, w.len }, NOW_MS, &a2, &r2,
	    &e) == 0);
	req_same(&r1, &r2);
	p2p_w_free(&w);
}

static void
diag_resp(p2p_bytes in)
{
	p2p_arena a1, a2;
	p2p_diag_resp r1, r2;
	p2p_err e = { 0 };
	p2p_wbuf w;

	p2p_arena_init(&a1, mem1, sizeof(mem1));
	if (p2p_diag_resp_decode(in, &a1, &r1, &e) != 0) {
		failed(&e);
		return;
	}
	(void)p2p_diag_check_expiration(r1.expiration, NOW_MS, &e);
	p2p_w_init(&w, in.len + 16);
	need(p2p_diag_resp_encode(&w, &r1) == 0);
	p2p_arena_init(&a2, mem2, sizeof(mem2));
	need(p2p_diag_resp_decode((p2p_bytes){ w.p, w.len }, &a2, &r2,
	    &e) == 0);
	resp_same(&r1, &r2);
	p2p_w_free(&w);
}

static void
path_track_ans(p2p_bytes in)
{
	p2p_arena a1, a2;
	p2p_path_track_ans r1, r2;
	p2p_err e = { 0 };
	p2p_wbuf w;

	p2p_arena_init(&a1, mem1, sizeof(mem1));
	if (p2p_path_track_ans_decode(in, &a1, &r1, &e) != 0) {
		failed(&e);
		return;
	}
	p2p_w_init(&w, in.len + 16);
	need(p2p_path_track_ans_encode(&w, &r1) == 0);
	p2p_arena_init(&a2, mem2, sizeof(mem2));
	need(p2p_path_track_ans_decode((p2p_bytes){ w.p, w.len }, &a2, &r2,
	    &e) == 0);
	dest_same(&r1.next_hop, &r2.next_hop);
	resp_same(&r1.resp, &r2.resp);
	p2p_w_free(&w);
}

/* The contents decoders of the kinds whose layout is defined. */
static void
kind_contents(uint16_t kind, p2p_bytes in)
{
	p2p_arena a;
	p2p_err e = { 0 };
	p2p_wbuf w;
	uint64_t v;
	uint8_t c, bits;
	int on;
	const char *s;
	size_t len, n;
	p2p_diag_instances *inst;
	p2p_diag_msg_count *mc;

	p2p_arena_init(&a, mem1, sizeof(mem1));
	p2p_w_init(&w, in.len + 16);
	switch (kind) {
	case P2P_DIAG_STATUS_INFO:
		if (p2p_diag_status_decode(in, &c, &e) == 0) {
			need(p2p_diag_status_encode(&w, c) == 0);
			need(bytes_same(in, (p2p_bytes){ w.p, w.len }));
		}
		break;
	case P2P_DIAG_BATTERY_STATUS:
		if (p2p_diag_battery_decode(in, &on, &bits, &e) == 0)
			need(p2p_diag_battery_encode(&w, on, bits) == 0);
		break;
	case P2P_DIAG_SOFTWARE_VERSION:
		if (p2p_diag_software_decode(in, &s, &len, &e) == 0) {
			need(strlen(s) == len);
			need(p2p_diag_software_encode(&w, s) == 0);
			need(bytes_same(in, (p2p_bytes){ w.p, w.len }));
		}
		break;
	case P2P_DIAG_INSTANCES_STORED:
		if (p2p_diag_instances_decode(in, &a, &inst, &n, &e) == 0) {
			need(p2p_diag_instances_encode(&w, inst, n) == 0);
			need(bytes_same(in, (p2p_bytes){ w.p, w.len }));
		}
		break;
	case P2P_DIAG_MESSAGES_SENT_RCVD:
		if (p2p_diag_msg_counts_decode(in, &a, &mc, &n, &e) == 0) {
			need(p2p_diag_msg_counts_encode(&w, mc, n) == 0);
			need(bytes_same(in, (p2p_bytes){ w.p, w.len }));
		}
		break;
	default:
		if (p2p_diag_scalar_size(kind) == 0)
			break;
		if (p2p_diag_scalar_decode(kind, in, &v, &e) == 0) {
			need(p2p_diag_scalar_encode(&w, kind, v) == 0);
			need(bytes_same(in, (p2p_bytes){ w.p, w.len }));
		}
		break;
	}
	p2p_w_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p2p_bytes in;

	if (size < 1)
		return 0;
	in.p = data + 1;
	in.len = size - 1;
	switch (data[0] % 5) {
	case 0: path_track_req(in); break;
	case 1: diag_req(in); break;
	case 2: diag_resp(in); break;
	case 3: path_track_ans(in); break;
	default:
		if (in.len < 1)
			return 0;
		kind_contents((uint16_t)(data[1] % (P2P_DIAG_BATTERY_STATUS +
		    1)), (p2p_bytes){ data + 2, size - 2 });
		break;
	}
	return 0;
}
