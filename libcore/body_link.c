#include "body_link.h"

#include <arpa/inet.h>
#include <string.h>

/*
 * Decoding state shared by the helpers: where the input starts (for error
 * offsets), the arena and the error to fill. With count_only set, lists
 * nested inside an item are checked and counted but not stored, which is
 * how the first pass over a list of candidates sizes its array.
 */
struct dec {
	const uint8_t *base;
	p2p_arena *a;
	p2p_err *err;
	int count_only;
};

static void
dec_init(struct dec *d, const uint8_t *base, p2p_arena *a, p2p_err *err)
{
	d->base = base;
	d->a = a;
	d->err = err;
	d->count_only = 0;
}

static int
bad(const struct dec *d, const p2p_rbuf *at, const char *what)
{
	size_t off = 0;

	if (at != NULL && at->p != NULL && d->base != NULL && at->p >= d->base)
		off = (size_t)(at->p - d->base);
	p2p_err_set(d->err, P2P_ERR_INVALID_MESSAGE, what, off);
	return -1;
}

static int
finish(const struct dec *d, const p2p_rbuf *r, const char *what)
{
	if (p2p_r_left(r) != 0)
		return bad(d, r, what);
	return 0;
}

/* An array of n objects from the arena; NULL when n is 0 or when the arena
 * is exhausted (the caller tells the two apart by n). */
static void *
arena_take(const struct dec *d, size_t n, size_t sz)
{
	if (n == 0 || d->a == NULL)
		return NULL;
	return p2p_arena_array(d->a, n, sz);
}

static int
arena_full(const struct dec *d, const p2p_rbuf *at)
{
	return bad(d, at, "list exceeds the decode arena");
}

static int
bool_parse(const struct dec *d, p2p_rbuf *r, uint8_t *out, const char *what)
{
	p2p_rbuf at = *r;

	if (!p2p_r_u8(r, out))
		return bad(d, &at, what);
	if (*out > 1)
		return bad(d, &at, "Boolean is neither 0 nor 1");
	return 0;
}

static int
id_parse(const struct dec *d, p2p_rbuf *r, p2p_id *out, const char *what)
{
	p2p_rbuf at = *r;

	if (!p2p_r_copy(r, out->b, P2P_ID_LEN))
		return bad(d, &at, what);
	if (p2p_id_is_zero(out))
		return bad(d, &at, "all-zero Node-ID");
	return 0;
}

/* NodeId list<0..2^16-1>: a byte count that must be a multiple of 16. */
static int
ids_parse(const struct dec *d, p2p_rbuf *r, p2p_id **out, size_t *count)
{
	p2p_rbuf at = *r, v;
	size_t n;

	*out = NULL;
	*count = 0;
	if (!p2p_r_sub(r, 2, &v))
		return bad(d, &at, "Node-ID list runs past the end");
	if (p2p_r_left(&v) % P2P_ID_LEN != 0)
		return bad(d, &at, "Node-ID list length is not a multiple of 16");
	n = p2p_r_left(&v) / P2P_ID_LEN;
	*out = arena_take(d, n, sizeof(**out));
	if (n > 0 && *out == NULL)
		return arena_full(d, &at);
	for (size_t i = 0; i < n; i++)
		if (id_parse(d, &v, &(*out)[i], "Node-ID truncated") != 0)
			return -1;
	*count = n;
	return 0;
}

static int
id_write(p2p_wbuf *w, const p2p_id *id)
{
	if (p2p_id_is_zero(id))
		return -1;
	p2p_w_raw(w, id->b, P2P_ID_LEN);
	return 0;
}

static int
ids_write(p2p_wbuf *w, const p2p_id *ids, size_t n)
{
	size_t mark;

	if (n > 0 && ids == NULL)
		return -1;
	mark = p2p_w_begin(w, 2);
	for (size_t i = 0; i < n; i++)
		if (id_write(w, &ids[i]) != 0)
			return -1;
	p2p_w_end(w, mark, 2);
	return 0;
}

static int
writer_result(const p2p_wbuf *w)
{
	return p2p_w_ok(w) ? 0 : -1;
}

/* ---- IpAddressPort ---- */

void
p2p_addr_port_v4(p2p_addr_port *ap, const uint8_t addr[4], uint16_t port)
{
	memset(ap, 0, sizeof(*ap));
	ap->type = P2P_ADDR_IPV4;
	memcpy(ap->addr, addr, 4);
	ap->port = port;
}

void
p2p_addr_port_v6(p2p_addr_port *ap, const uint8_t addr[16], uint16_t port)
{
	memset(ap, 0, sizeof(*ap));
	ap->type = P2P_ADDR_IPV6;
	memcpy(ap->addr, addr, 16);
	ap->port = port;
}

static int
addr_parse(const struct dec *d, p2p_rbuf *r, p2p_addr_port *out)
{
	p2p_rbuf at = *r, v;
	size_t want;

	memset(out, 0, sizeof(*out));
	if (!p2p_r_u8(r, &out->type))
		return bad(d, &at, "address type truncated");
	if (out->type == 0)
		return bad(d, &at, "invalid address type 0");
	if (!p2p_r_sub(r, 1, &v))
		return bad(d, &at, "address runs past the end");
	switch (out->type) {
	case P2P_ADDR_IPV4:
	case P2P_ADDR_IPV6:
		want = out->type == P2P_ADDR_IPV4 ? 4 : 16;
		if (p2p_r_left(&v) != want + 2)
			return bad(d, &at, out->type == P2P_ADDR_IPV4 ?
			    "IPv4 address length is not 6" :
			    "IPv6 address length is not 18");
		(void)p2p_r_copy(&v, out->addr, want);
		(void)p2p_r_u16(&v, &out->port);
		return 0;
	default:
		out->raw.p = v.p;
		out->raw.len = v.len;
		return 0;
	}
}

int
p2p_addr_port_decode1(p2p_rbuf *r, p2p_addr_port *out, p2p_err *err)
{
	struct dec d;

	dec_init(&d, r->p, NULL, err);
	return addr_parse(&d, r, out);
}

int
p2p_addr_port_encode(p2p_wbuf *w, const p2p_addr_port *ap)
{
	switch (ap->type) {
	case 0:
		return -1;
	case P2P_ADDR_IPV4:
		p2p_w_u8(w, ap->type);
		p2p_w_u8(w, 6);
		p2p_w_raw(w, ap->addr, 4);
		p2p_w_u16(w, ap->port);
		break;
	case P2P_ADDR_IPV6:
		p2p_w_u8(w, ap->type);
		p2p_w_u8(w, 18);
		p2p_w_raw(w, ap->addr, 16);
		p2p_w_u16(w, ap->port);
		break;
	default:
		p2p_w_u8(w, ap->type);
		p2p_w_vec(w, 1, ap->raw.p, ap->raw.len);
		break;
	}
	return writer_result(w);
}

int
p2p_addr_port_host(const p2p_addr_port *ap, char *buf, size_t cap)
{
	int af = ap->type == P2P_ADDR_IPV4 ? AF_INET :
	    ap->type == P2P_ADDR_IPV6 ? AF_INET6 : -1;

	if (af < 0 || inet_ntop(af, ap->addr, buf, (socklen_t)cap) == NULL)
		return -1;
	return 0;
}

/* ---- IceCandidate, IceExtension ---- */

int
p2p_cand_has_rel_addr(uint8_t type)
{
	return type == P2P_CAND_SRFLX || type == P2P_CAND_PRFLX ||
	    type == P2P_CAND_RELAY;
}

static int
ext_list_parse(const struct dec *d, p2p_bytes in, p2p_ice_ext **out,
    size_t *count)
{
	p2p_rbuf r, at;
	p2p_ice_ext e;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	p2p_r_init(&r, in.p, in.len);
	while (p2p_r_left(&r) > 0) {
		at = r;
		if (!p2p_r_vec(&r, 2, &e.name) || !p2p_r_vec(&r, 2, &e.value))
			return bad(d, &at, "ICE extension runs past the end");
		n++;
	}
	if (d->count_only) {
		*count = n;
		return 0;
	}
	p2p_r_init(&r, in.p, in.len);
	*out = arena_take(d, n, sizeof(**out));
	if (n > 0 && *out == NULL)
		return arena_full(d, &r);
	for (size_t i = 0; i < n; i++) {
		(void)p2p_r_vec(&r, 2, &(*out)[i].name);
		(void)p2p_r_vec(&r, 2, &(*out)[i].value);
	}
	*count = n;
	return 0;
}

static int
cand_parse(const struct dec *d, p2p_rbuf *r, p2p_ice_cand *out)
{
	p2p_rbuf at;
	p2p_bytes exts;

	memset(out, 0, sizeof(*out));
	if (addr_parse(d, r, &out->addr) != 0)
		return -1;
	at = *r;
	if (!p2p_r_u8(r, &out->overlay_link))
		return bad(d, &at, "candidate truncated");
	if (out->overlay_link == 0)
		return bad(d, &at, "invalid overlay link type 0");
	at = *r;
	if (!p2p_r_vec(r, 1, &out->foundation) ||
	    !p2p_r_u32(r, &out->priority))
		return bad(d, &at, "candidate truncated");
	at = *r;
	if (!p2p_r_u8(r, &out->type))
		return bad(d, &at, "candidate type truncated");
	if (out->type == 0 || out->type > P2P_CAND_RELAY)
		return bad(d, &at, "invalid or unknown candidate type");
	if (p2p_cand_has_rel_addr(out->type) &&
	    addr_parse(d, r, &out->rel_addr) != 0)
		return -1;
	at = *r;
	if (!p2p_r_vec(r, 2, &exts))
		return bad(d, &at, "candidate extensions run past the end");
	return ext_list_parse(d, exts, &out->exts, &out->nexts);
}

static int
cand_list_parse(const struct dec *d, p2p_bytes in, p2p_ice_cand **out,
    size_t *count)
{
	struct dec counting = *d;
	p2p_ice_cand tmp;
	p2p_rbuf r;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	counting.count_only = 1;
	p2p_r_init(&r, in.p, in.len);
	while (p2p_r_left(&r) > 0) {
		if (cand_parse(&counting, &r, &tmp) != 0)
			return -1;
		n++;
	}
	p2p_r_init(&r, in.p, in.len);
	*out = arena_take(d, n, sizeof(**out));
	if (n > 0 && *out == NULL)
		return arena_full(d, &r);
	for (size_t i = 0; i < n; i++)
		if (cand_parse(d, &r, &(*out)[i]) != 0)
			return -1;
	*count = n;
	return 0;
}

int
p2p_ice_cand_decode1(p2p_rbuf *r, p2p_arena *a, p2p_ice_cand *out,
    p2p_err *err)
{
	struct dec d;

	dec_init(&d, r->p, a, err);
	return cand_parse(&d, r, out);
}

int
p2p_ice_cand_list_decode(p2p_bytes in, p2p_arena *a, p2p_ice_cand **out,
    size_t *count, p2p_err *err)
{
	struct dec d;

	dec_init(&d, in.p, a, err);
	return cand_list_parse(&d, in, out, count);
}

int
p2p_ice_ext_list_decode(p2p_bytes in, p2p_arena *a, p2p_ice_ext **out,
    size_t *count, p2p_err *err)
{
	struct dec d;

	dec_init(&d, in.p, a, err);
	return ext_list_parse(&d, in, out, count);
}

int
p2p_ice_cand_encode(p2p_wbuf *w, const p2p_ice_cand *c)
{
	size_t mark;

	if (c->overlay_link == 0 || c->type == 0 || c->type > P2P_CAND_RELAY)
		return -1;
	if (p2p_addr_port_encode(w, &c->addr) != 0)
		return -1;
	p2p_w_u8(w, c->overlay_link);
	p2p_w_vec(w, 1, c->foundation.p, c->foundation.len);
	p2p_w_u32(w, c->priority);
	p2p_w_u8(w, c->type);
	if (p2p_cand_has_rel_addr(c->type) &&
	    p2p_addr_port_encode(w, &c->rel_addr) != 0)
		return -1;
	mark = p2p_w_begin(w, 2);
	if (p2p_ice_ext_list_encode(w, c->exts, c->nexts) != 0)
		return -1;
	p2p_w_end(w, mark, 2);
	return writer_result(w);
}

int
p2p_ice_cand_list_encode(p2p_wbuf *w, const p2p_ice_cand *c, size_t count)
{
	if (count > 0 && c == NULL)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (p2p_ice_cand_encode(w, &c[i]) != 0)
			return -1;
	return writer_result(w);
}

int
p2p_ice_ext_list_encode(p2p_wbuf *w, const p2p_ice_ext *e, size_t count)
{
	if (count > 0 && e == NULL)
		return -1;
	for (size_t i = 0; i < count; i++) {
		p2p_w_vec(w, 2, e[i].name.p, e[i].name.len);
		p2p_w_vec(w, 2, e[i].value.p, e[i].value.len);
	}
	return writer_result(w);
}

/* candidates<0..2^16-1> with its length prefix. */
static int
cands_write(p2p_wbuf *w, const p2p_ice_cand *c, size_t n)
{
	size_t mark;

	mark = p2p_w_begin(w, 2);
	if (p2p_ice_cand_list_encode(w, c, n) != 0)
		return -1;
	p2p_w_end(w, mark, 2);
	return writer_result(w);
}

/* ---- Probe ---- */

int
p2p_probe_req_decode(p2p_bytes in, p2p_arena *a, p2p_probe_req *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, at;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_vec(&r, 1, &out->types))
		return bad(&d, &r, "requested_info runs past the end");
	for (size_t i = 0; i < out->types.len; i++) {
		if (out->types.p[i] != 0)
			continue;
		p2p_r_init(&at, out->types.p + i, 1);
		return bad(&d, &at, "invalid probe information type 0");
	}
	return finish(&d, &r, "trailing bytes after the ProbeReq");
}

int
p2p_probe_req_encode(p2p_wbuf *w, const p2p_probe_req *in)
{
	for (size_t i = 0; i < in->types.len; i++)
		if (in->types.p[i] == 0)
			return -1;
	p2p_w_vec(w, 1, in->types.p, in->types.len);
	return writer_result(w);
}

static int
probe_type_known(uint8_t type)
{
	return type >= P2P_PROBE_RESPONSIBLE_SET && type <= P2P_PROBE_UPTIME;
}

static int
probe_info_parse(const struct dec *d, p2p_rbuf *r, p2p_probe_info *out)
{
	p2p_rbuf at = *r, v;

	memset(out, 0, sizeof(*out));
	if (!p2p_r_u8(r, &out->type) || !p2p_r_sub(r, 1, &v))
		return bad(d, &at, "probe information runs past the end");
	if (out->type == 0)
		return bad(d, &at, "invalid probe information type 0");
	if (!probe_type_known(out->type)) {
		out->raw.p = v.p;
		out->raw.len = v.len;
		return 0;
	}
	if (p2p_r_left(&v) != 4)
		return bad(d, &at, "probe information value is not 4 bytes");
	(void)p2p_r_u32(&v, &out->value);
	return 0;
}

int
p2p_probe_ans_decode(p2p_bytes in, p2p_arena *a, p2p_probe_ans *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, list, first;
	p2p_probe_info tmp;
	size_t n = 0;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_sub(&r, 2, &list))
		return bad(&d, &r, "probe_info runs past the end");
	if (finish(&d, &r, "trailing bytes after the ProbeAns") != 0)
		return -1;
	first = list;
	while (p2p_r_left(&list) > 0) {
		if (probe_info_parse(&d, &list, &tmp) != 0)
			return -1;
		n++;
	}
	list = first;
	out->info = arena_take(&d, n, sizeof(*out->info));
	if (n > 0 && out->info == NULL)
		return arena_full(&d, &list);
	for (size_t i = 0; i < n; i++)
		(void)probe_info_parse(&d, &list, &out->info[i]);
	out->ninfo = n;
	return 0;
}

int
p2p_probe_ans_encode(p2p_wbuf *w, const p2p_probe_ans *in)
{
	size_t mark;

	if (in->ninfo > 0 && in->info == NULL)
		return -1;
	mark = p2p_w_begin(w, 2);
	for (size_t i = 0; i < in->ninfo; i++) {
		const p2p_probe_info *pi = &in->info[i];
		if (pi->type == 0)
			return -1;
		p2p_w_u8(w, pi->type);
		if (probe_type_known(pi->type)) {
			p2p_w_u8(w, 4);
			p2p_w_u32(w, pi->value);
		} else
			p2p_w_vec(w, 1, pi->raw.p, pi->raw.len);
	}
	p2p_w_end(w, mark, 2);
	return writer_result(w);
}

/* ---- Attach, AppAttach ---- */

static int
cands_field_parse(const struct dec *d, p2p_rbuf *r, p2p_ice_cand **out,
    size_t *count)
{
	p2p_bytes v;

	if (!p2p_r_vec(r, 2, &v))
		return bad(d, r, "candidate list runs past the end");
	return cand_list_parse(d, v, out, count);
}

int
p2p_attach_decode(p2p_bytes in, p2p_arena *a, p2p_attach *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_vec(&r, 1, &out->ufrag) ||
	    !p2p_r_vec(&r, 1, &out->password) ||
	    !p2p_r_vec(&r, 1, &out->role))
		return bad(&d, &r, "Attach ICE parameters run past the end");
	if (cands_field_parse(&d, &r, &out->cands, &out->ncands) != 0)
		return -1;
	if (bool_parse(&d, &r, &out->send_update, "send_update missing") != 0)
		return -1;
	return finish(&d, &r, "trailing bytes after the Attach body");
}

int
p2p_attach_encode(p2p_wbuf *w, const p2p_attach *in)
{
	if (in->send_update > 1)
		return -1;
	p2p_w_vec(w, 1, in->ufrag.p, in->ufrag.len);
	p2p_w_vec(w, 1, in->password.p, in->password.len);
	p2p_w_vec(w, 1, in->role.p, in->role.len);
	if (cands_write(w, in->cands, in->ncands) != 0)
		return -1;
	p2p_w_u8(w, in->send_update);
	return writer_result(w);
}

int
p2p_app_attach_decode(p2p_bytes in, p2p_arena *a, p2p_app_attach *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, at;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_vec(&r, 1, &out->ufrag) ||
	    !p2p_r_vec(&r, 1, &out->password))
		return bad(&d, &r, "AppAttach ICE parameters run past the end");
	at = r;
	if (!p2p_r_u16(&r, &out->application))
		return bad(&d, &at, "application truncated");
	if (out->application == 0)
		return bad(&d, &at, "invalid application 0");
	if (!p2p_r_vec(&r, 1, &out->role))
		return bad(&d, &r, "role runs past the end");
	if (cands_field_parse(&d, &r, &out->cands, &out->ncands) != 0)
		return -1;
	return finish(&d, &r, "trailing bytes after the AppAttach body");
}

int
p2p_app_attach_encode(p2p_wbuf *w, const p2p_app_attach *in)
{
	if (in->application == 0)
		return -1;
	p2p_w_vec(w, 1, in->ufrag.p, in->ufrag.len);
	p2p_w_vec(w, 1, in->password.p, in->password.len);
	p2p_w_u16(w, in->application);
	p2p_w_vec(w, 1, in->role.p, in->role.len);
	return cands_write(w, in->cands, in->ncands);
}

/* ---- Ping ---- */

int
p2p_ping_req_decode(p2p_bytes in, p2p_arena *a, p2p_ping_req *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_vec(&r, 2, &out->padding))
		return bad(&d, &r, "padding runs past the end");
	return finish(&d, &r, "trailing bytes after the PingReq");
}

int
p2p_ping_req_encode(p2p_wbuf *w, const p2p_ping_req *in)
{
	p2p_w_vec(w, 2, in->padding.p, in->padding.len);
	return writer_result(w);
}

int
p2p_ping_ans_decode(p2p_bytes in, p2p_arena *a, p2p_ping_ans *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_u64(&r, &out->response_id) || !p2p_r_u64(&r, &out->time))
		return bad(&d, &r, "PingAns truncated");
	return finish(&d, &r, "trailing bytes after the PingAns");
}

int
p2p_ping_ans_encode(p2p_wbuf *w, const p2p_ping_ans *in)
{
	p2p_w_u64(w, in->response_id);
	p2p_w_u64(w, in->time);
	return writer_result(w);
}

/* ---- Join, Leave ---- */

/* NodeId followed by opaque overlay_specific_data<0..2^16-1>. */
static int
id_and_data_parse(p2p_bytes in, p2p_arena *a, p2p_id *id, p2p_bytes *data,
    p2p_err *err, const char *trailing)
{
	struct dec d;
	p2p_rbuf r;

	dec_init(&d, in.p, a, err);
	p2p_r_init(&r, in.p, in.len);
	if (id_parse(&d, &r, id, "Node-ID truncated") != 0)
		return -1;
	if (!p2p_r_vec(&r, 2, data))
		return bad(&d, &r, "overlay_specific_data runs past the end");
	return finish(&d, &r, trailing);
}

static int
id_and_data_write(p2p_wbuf *w, const p2p_id *id, p2p_bytes data)
{
	if (id_write(w, id) != 0)
		return -1;
	p2p_w_vec(w, 2, data.p, data.len);
	return writer_result(w);
}

int
p2p_join_req_decode(p2p_bytes in, p2p_arena *a, p2p_join_req *out,
    p2p_err *err)
{
	memset(out, 0, sizeof(*out));
	return id_and_data_parse(in, a, &out->joining_peer_id,
	    &out->overlay_data, err, "trailing bytes after the JoinReq");
}

int
p2p_join_req_encode(p2p_wbuf *w, const p2p_join_req *in)
{
	return id_and_data_write(w, &in->joining_peer_id, in->overlay_data);
}

int
p2p_join_ans_decode(p2p_bytes in, p2p_arena *a, p2p_join_ans *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_vec(&r, 2, &out->overlay_data))
		return bad(&d, &r, "overlay_specific_data runs past the end");
	return finish(&d, &r, "trailing bytes after the JoinAns");
}

int
p2p_join_ans_encode(p2p_wbuf *w, const p2p_join_ans *in)
{
	p2p_w_vec(w, 2, in->overlay_data.p, in->overlay_data.len);
	return writer_result(w);
}

int
p2p_leave_req_decode(p2p_bytes in, p2p_arena *a, p2p_leave_req *out,
    p2p_err *err)
{
	memset(out, 0, sizeof(*out));
	return id_and_data_parse(in, a, &out->leaving_peer_id,
	    &out->overlay_data, err, "trailing bytes after the LeaveReq");
}

int
p2p_leave_req_encode(p2p_wbuf *w, const p2p_leave_req *in)
{
	return id_and_data_write(w, &in->leaving_peer_id, in->overlay_data);
}

int
p2p_chord_leave_decode(p2p_bytes in, p2p_arena *a, p2p_chord_leave *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, at;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	at = r;
	if (!p2p_r_u8(&r, &out->type))
		return bad(&d, &at, "ChordLeaveData type missing");
	if (out->type != P2P_LEAVE_FROM_SUCC && out->type != P2P_LEAVE_FROM_PRED)
		return bad(&d, &at, "invalid or unknown ChordLeaveType");
	if (ids_parse(&d, &r, &out->ids, &out->nids) != 0)
		return -1;
	return finish(&d, &r, "trailing bytes after the ChordLeaveData");
}

int
p2p_chord_leave_encode(p2p_wbuf *w, const p2p_chord_leave *in)
{
	if (in->type != P2P_LEAVE_FROM_SUCC && in->type != P2P_LEAVE_FROM_PRED)
		return -1;
	p2p_w_u8(w, in->type);
	if (ids_write(w, in->ids, in->nids) != 0)
		return -1;
	return writer_result(w);
}

/* ---- Update ---- */

int
p2p_update_req_decode(p2p_bytes in, p2p_arena *a, p2p_chord_update *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, at;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (!p2p_r_u32(&r, &out->uptime))
		return bad(&d, &r, "ChordUpdate uptime truncated");
	at = r;
	if (!p2p_r_u8(&r, &out->type))
		return bad(&d, &at, "ChordUpdate type missing");
	switch (out->type) {
	case P2P_UPDATE_PEER_READY:
		break;
	case P2P_UPDATE_NEIGHBORS:
	case P2P_UPDATE_FULL:
		if (ids_parse(&d, &r, &out->preds, &out->npreds) != 0 ||
		    ids_parse(&d, &r, &out->succs, &out->nsuccs) != 0)
			return -1;
		if (out->type == P2P_UPDATE_FULL &&
		    ids_parse(&d, &r, &out->fingers, &out->nfingers) != 0)
			return -1;
		break;
	default:
		return bad(&d, &at, "invalid or unknown ChordUpdateType");
	}
	return finish(&d, &r, "trailing bytes after the ChordUpdate");
}

int
p2p_update_req_encode(p2p_wbuf *w, const p2p_chord_update *in)
{
	switch (in->type) {
	case P2P_UPDATE_PEER_READY:
		if (in->npreds != 0 || in->nsuccs != 0 || in->nfingers != 0)
			return -1;
		break;
	case P2P_UPDATE_NEIGHBORS:
		if (in->nfingers != 0)
			return -1;
		break;
	case P2P_UPDATE_FULL:
		break;
	default:
		return -1;
	}
	p2p_w_u32(w, in->uptime);
	p2p_w_u8(w, in->type);
	if (in->type == P2P_UPDATE_PEER_READY)
		return writer_result(w);
	if (ids_write(w, in->preds, in->npreds) != 0 ||
	    ids_write(w, in->succs, in->nsuccs) != 0)
		return -1;
	if (in->type == P2P_UPDATE_FULL &&
	    ids_write(w, in->fingers, in->nfingers) != 0)
		return -1;
	return writer_result(w);
}

/* ---- RouteQuery ---- */

int
p2p_route_query_req_decode(p2p_bytes in, p2p_arena *a,
    p2p_route_query_req *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, at;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (bool_parse(&d, &r, &out->send_update, "send_update missing") != 0)
		return -1;
	at = r;
	if (p2p_dest_decode1(&r, &out->dest, err) != 0) {
		/* keep the destination codec's message, fix the offset */
		if (err != NULL)
			err->offset = (size_t)(at.p - in.p);
		return -1;
	}
	if (!p2p_r_vec(&r, 2, &out->overlay_data))
		return bad(&d, &r, "overlay_specific_data runs past the end");
	return finish(&d, &r, "trailing bytes after the RouteQueryReq");
}

int
p2p_route_query_req_encode(p2p_wbuf *w, const p2p_route_query_req *in)
{
	if (in->send_update > 1)
		return -1;
	p2p_w_u8(w, in->send_update);
	if (p2p_dest_encode(w, &in->dest) != 0)
		return -1;
	p2p_w_vec(w, 2, in->overlay_data.p, in->overlay_data.len);
	return writer_result(w);
}

int
p2p_route_query_ans_decode(p2p_bytes in, p2p_arena *a,
    p2p_route_query_ans *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (id_parse(&d, &r, &out->next_peer, "next_peer truncated") != 0)
		return -1;
	return finish(&d, &r, "trailing bytes after the RouteQueryAns");
}

int
p2p_route_query_ans_encode(p2p_wbuf *w, const p2p_route_query_ans *in)
{
	if (id_write(w, &in->next_peer) != 0)
		return -1;
	return writer_result(w);
}

/* ---- ConfigUpdate ---- */

/* KindDescription kinds<0..2^24-1>, each opaque<0..2^16-1>. */
static int
kinds_parse(const struct dec *d, p2p_rbuf *r, p2p_config_update_req *out)
{
	p2p_rbuf at = *r, list, first;
	p2p_bytes k;
	size_t n = 0;

	if (!p2p_r_sub(r, 3, &list))
		return bad(d, &at, "kind list runs past the end");
	first = list;
	while (p2p_r_left(&list) > 0) {
		at = list;
		if (!p2p_r_vec(&list, 2, &k))
			return bad(d, &at, "KindDescription runs past the end");
		n++;
	}
	list = first;
	out->kinds = arena_take(d, n, sizeof(*out->kinds));
	if (n > 0 && out->kinds == NULL)
		return arena_full(d, &list);
	for (size_t i = 0; i < n; i++)
		(void)p2p_r_vec(&list, 2, &out->kinds[i]);
	out->nkinds = n;
	return 0;
}

int
p2p_config_update_req_decode(p2p_bytes in, p2p_arena *a,
    p2p_config_update_req *out, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, at, rest;
	uint32_t len;
	p2p_bytes b;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	at = r;
	if (!p2p_r_u8(&r, &out->type))
		return bad(&d, &at, "ConfigUpdate type missing");
	if (out->type == 0)
		return bad(&d, &at, "invalid ConfigUpdate type 0");
	at = r;
	if (!p2p_r_u32(&r, &len) || !p2p_r_bytes(&r, len, &b))
		return bad(&d, &at, "ConfigUpdate length runs past the end");
	if (finish(&d, &r, "trailing bytes after the ConfigUpdateReq") != 0)
		return -1;
	p2p_r_init(&rest, b.p, b.len);
	switch (out->type) {
	case P2P_CONFIG_UPDATE_CONFIG:
		if (!p2p_r_vec(&rest, 3, &out->config))
			return bad(&d, &rest, "config_data runs past the end");
		break;
	case P2P_CONFIG_UPDATE_KIND:
		if (kinds_parse(&d, &rest, out) != 0)
			return -1;
		break;
	default:
		out->raw = b;
		return 0;
	}
	return finish(&d, &rest, "ConfigUpdate length does not match its data");
}

int
p2p_config_update_req_encode(p2p_wbuf *w, const p2p_config_update_req *in)
{
	size_t mark, inner;

	if (in->type == 0)
		return -1;
	if (in->type != P2P_CONFIG_UPDATE_KIND && in->nkinds != 0)
		return -1;
	if (in->nkinds > 0 && in->kinds == NULL)
		return -1;
	p2p_w_u8(w, in->type);
	mark = p2p_w_begin(w, 4);
	switch (in->type) {
	case P2P_CONFIG_UPDATE_CONFIG:
		p2p_w_vec(w, 3, in->config.p, in->config.len);
		break;
	case P2P_CONFIG_UPDATE_KIND:
		inner = p2p_w_begin(w, 3);
		for (size_t i = 0; i < in->nkinds; i++)
			p2p_w_vec(w, 2, in->kinds[i].p, in->kinds[i].len);
		p2p_w_end(w, inner, 3);
		break;
	default:
		p2p_w_raw(w, in->raw.p, in->raw.len);
		break;
	}
	p2p_w_end(w, mark, 4);
	return writer_result(w);
}

/* ---- empty answers ---- */

int
p2p_empty_body_decode(p2p_bytes in, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r;

	dec_init(&d, in.p, NULL, err);
	p2p_r_init(&r, in.p, in.len);
	return finish(&d, &r, "answer body should be empty");
}

/* ---- Error ---- */

int
p2p_error_decode(p2p_bytes in, p2p_arena *a, p2p_error_resp *out,
    p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, at;

	dec_init(&d, in.p, a, err);
	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	at = r;
	if (!p2p_r_u16(&r, &out->code))
		return bad(&d, &at, "error_code truncated");
	if (out->code == 0)
		return bad(&d, &at, "invalid error code 0");
	if (!p2p_r_vec(&r, 2, &out->info))
		return bad(&d, &r, "error_info runs past the end");
	return finish(&d, &r, "trailing bytes after the ErrorResponse");
}

int
p2p_error_encode(p2p_wbuf *w, const p2p_error_resp *in)
{
	if (in->code == 0)
		return -1;
	p2p_w_u16(w, in->code);
	p2p_w_vec(w, 2, in->info.p, in->info.len);
	return writer_result(w);
}

int
p2p_error_kinds_decode(p2p_bytes info, p2p_arena *a, uint32_t **kinds,
    size_t *count, p2p_err *err)
{
	struct dec d;
	p2p_rbuf r, list, at;
	size_t n;

	dec_init(&d, info.p, a, err);
	*kinds = NULL;
	*count = 0;
	p2p_r_init(&r, info.p, info.len);
	if (!p2p_r_sub(&r, 1, &list))
		return bad(&d, &r, "unknown_kinds runs past the end");
	if (p2p_r_left(&list) % 4 != 0)
		return bad(&d, &r, "unknown_kinds length is not a multiple of 4");
	if (finish(&d, &r, "trailing bytes after unknown_kinds") != 0)
		return -1;
	n = p2p_r_left(&list) / 4;
	*kinds = arena_take(&d, n, sizeof(**kinds));
	if (n > 0 && *kinds == NULL)
		return arena_full(&d, &list);
	for (size_t i = 0; i < n; i++) {
		at = list;
		(void)p2p_r_u32(&list, &(*kinds)[i]);
		if ((*kinds)[i] == 0)
			return bad(&d, &at, "invalid Kind-ID 0");
	}
	*count = n;
	return 0;
}

int
p2p_error_kinds_encode(p2p_wbuf *w, const uint32_t *kinds, size_t count)
{
	size_t mark;

	if (count > 0 && kinds == NULL)
		return -1;
	mark = p2p_w_begin(w, 1);
	for (size_t i = 0; i < count; i++) {
		if (kinds[i] == 0)
			return -1;
		p2p_w_u32(w, kinds[i]);
	}
	p2p_w_end(w, mark, 1);
	return writer_result(w);
}
