#include "msg.h"

#include <string.h>

#include <openssl/sha.h>

void
p2p_err_set(p2p_err *err, uint16_t code, const char *what, size_t off)
{
	if (err == NULL)
		return;
	err->reload_code = code;
	err->what = what;
	err->offset = off;
}

static const struct {
	uint16_t code;
	const char *name;
} code_names[] = {
	{ P2P_PROBE_REQ, "ProbeReq" }, { P2P_PROBE_ANS, "ProbeAns" },
	{ P2P_ATTACH_REQ, "AttachReq" }, { P2P_ATTACH_ANS, "AttachAns" },
	{ P2P_STORE_REQ, "StoreReq" }, { P2P_STORE_ANS, "StoreAns" },
	{ P2P_FETCH_REQ, "FetchReq" }, { P2P_FETCH_ANS, "FetchAns" },
	{ P2P_FIND_REQ, "FindReq" }, { P2P_FIND_ANS, "FindAns" },
	{ P2P_JOIN_REQ, "JoinReq" }, { P2P_JOIN_ANS, "JoinAns" },
	{ P2P_LEAVE_REQ, "LeaveReq" }, { P2P_LEAVE_ANS, "LeaveAns" },
	{ P2P_UPDATE_REQ, "UpdateReq" }, { P2P_UPDATE_ANS, "UpdateAns" },
	{ P2P_ROUTE_QUERY_REQ, "RouteQueryReq" },
	{ P2P_ROUTE_QUERY_ANS, "RouteQueryAns" },
	{ P2P_PING_REQ, "PingReq" }, { P2P_PING_ANS, "PingAns" },
	{ P2P_STAT_REQ, "StatReq" }, { P2P_STAT_ANS, "StatAns" },
	{ P2P_APP_ATTACH_REQ, "AppAttachReq" },
	{ P2P_APP_ATTACH_ANS, "AppAttachAns" },
	{ P2P_CONFIG_UPDATE_REQ, "ConfigUpdateReq" },
	{ P2P_CONFIG_UPDATE_ANS, "ConfigUpdateAns" },
	{ P2P_PATH_TRACK_REQ, "PathTrackReq" },
	{ P2P_PATH_TRACK_ANS, "PathTrackAns" },
	{ P2P_ERROR, "Error" },
};

const char *
p2p_code_name(uint16_t code)
{
	for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++)
		if (code_names[i].code == code)
			return code_names[i].name;
	return NULL;
}

static const char *const error_names[] = {
	[P2P_ERR_FORBIDDEN] = "Error_Forbidden",
	[P2P_ERR_NOT_FOUND] = "Error_Not_Found",
	[P2P_ERR_REQUEST_TIMEOUT] = "Error_Request_Timeout",
	[P2P_ERR_GENERATION_TOO_LOW] = "Error_Generation_Counter_Too_Low",
	[P2P_ERR_INCOMPATIBLE] = "Error_Incompatible_with_Overlay",
	[P2P_ERR_UNSUPPORTED_FWD_OPTION] =
	    "Error_Unsupported_Forwarding_Option",
	[P2P_ERR_DATA_TOO_LARGE] = "Error_Data_Too_Large",
	[P2P_ERR_DATA_TOO_OLD] = "Error_Data_Too_Old",
	[P2P_ERR_TTL_EXCEEDED] = "Error_TTL_Exceeded",
	[P2P_ERR_MESSAGE_TOO_LARGE] = "Error_Message_Too_Large",
	[P2P_ERR_UNKNOWN_KIND] = "Error_Unknown_Kind",
	[P2P_ERR_UNKNOWN_EXTENSION] = "Error_Unknown_Extension",
	[P2P_ERR_RESPONSE_TOO_LARGE] = "Error_Response_Too_Large",
	[P2P_ERR_CONFIG_TOO_OLD] = "Error_Config_Too_Old",
	[P2P_ERR_CONFIG_TOO_NEW] = "Error_Config_Too_New",
	[P2P_ERR_IN_PROGRESS] = "Error_In_Progress",
	[P2P_ERR_EXP_A] = "Error_Exp_A",
	[P2P_ERR_EXP_B] = "Error_Exp_B",
	[P2P_ERR_INVALID_MESSAGE] = "Error_Invalid_Message",
	[P2P_ERR_UNDERLAY_DEST_UNREACHABLE] =
	    "Error_Underlay_Destination_Unreachable",
	[P2P_ERR_UNDERLAY_TIME_EXCEEDED] = "Error_Underlay_Time_Exceeded",
	[P2P_ERR_MESSAGE_EXPIRED] = "Error_Message_Expired",
	[P2P_ERR_UPSTREAM_MISROUTING] = "Error_Upstream_Misrouting",
	[P2P_ERR_LOOP_DETECTED] = "Error_Loop_Detected",
	[P2P_ERR_TTL_HOPS_EXCEEDED] = "Error_TTL_Hops_Exceeded",
};

const char *
p2p_error_name(uint16_t code)
{
	if (code >= sizeof(error_names) / sizeof(error_names[0]))
		return NULL;
	return error_names[code];
}

int
p2p_code_is_request(uint16_t code)
{
	return code < 0x8000 && (code & 1) == 1;
}

/* ---- destinations ---- */

void
p2p_dest_node(p2p_dest *d, const p2p_id *id)
{
	memset(d, 0, sizeof(*d));
	d->type = P2P_DEST_NODE;
	d->node = *id;
}

void
p2p_dest_resource(p2p_dest *d, const p2p_id *id)
{
	memset(d, 0, sizeof(*d));
	d->type = P2P_DEST_RESOURCE;
	d->data.p = id->b;
	d->data.len = P2P_ID_LEN;
}

#define BAD(code, what)							\
	do {								\
		p2p_err_set(err, (code), (what), 0);			\
		return -1;						\
	} while (0)
#define INVALID(what) BAD(P2P_ERR_INVALID_MESSAGE, what)

int
p2p_dest_decode1(p2p_rbuf *r, p2p_dest *out, p2p_err *err)
{
	uint8_t type;
	p2p_bytes val;
	p2p_rbuf in;

	memset(out, 0, sizeof(*out));
	if (p2p_r_left(r) < 1)
		INVALID("destination truncated");
	if (r->p[0] & 0x80) {
		uint16_t v;
		if (!p2p_r_u16(r, &v))
			INVALID("compressed destination truncated");
		out->type = P2P_DEST_COMPRESSED;
		out->compressed = v;
		return 0;
	}
	if (!p2p_r_u8(r, &type) || !p2p_r_vec(r, 1, &val))
		INVALID("destination truncated");
	out->type = type;
	p2p_r_init(&in, val.p, val.len);
	switch (type) {
	case P2P_DEST_NODE:
		if (val.len != P2P_ID_LEN)
			INVALID("node destination is not 16 bytes");
		memcpy(out->node.b, val.p, P2P_ID_LEN);
		return 0;
	case P2P_DEST_RESOURCE:
	case P2P_DEST_OPAQUE:
		if (!p2p_r_vec(&in, 1, &out->data) || p2p_r_left(&in) != 0)
			INVALID("destination id length mismatch");
		if (type == P2P_DEST_RESOURCE && out->data.len == 0)
			INVALID("empty resource destination");
		return 0;
	case 0:
		INVALID("invalid destination type 0");
	default:
		out->data = val;	/* skippable by its length */
		return 0;
	}
}

int
p2p_dest_encode(p2p_wbuf *w, const p2p_dest *d)
{
	size_t mark;

	switch (d->type) {
	case P2P_DEST_COMPRESSED:
		if (!(d->compressed & 0x8000))
			return -1;
		p2p_w_u16(w, d->compressed);
		break;
	case P2P_DEST_NODE:
		p2p_w_u8(w, P2P_DEST_NODE);
		p2p_w_vec(w, 1, d->node.b, P2P_ID_LEN);
		break;
	case P2P_DEST_RESOURCE:
	case P2P_DEST_OPAQUE:
		if (d->data.len > 254)
			return -1;
		p2p_w_u8(w, (uint8_t)d->type);
		mark = p2p_w_begin(w, 1);
		p2p_w_vec(w, 1, d->data.p, d->data.len);
		p2p_w_end(w, mark, 1);
		break;
	default:
		if (d->type == 0 || d->type > 0x7f)
			return -1;
		p2p_w_u8(w, (uint8_t)d->type);
		p2p_w_vec(w, 1, d->data.p, d->data.len);
		break;
	}
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_dest_list_decode(p2p_bytes in, p2p_arena *a, p2p_dest **out,
    size_t *count, p2p_err *err)
{
	p2p_rbuf r;
	p2p_dest tmp, *arr;
	size_t n = 0;

	p2p_r_init(&r, in.p, in.len);
	while (p2p_r_left(&r) > 0) {
		if (p2p_dest_decode1(&r, &tmp, err) != 0)
			return -1;
		n++;
	}
	arr = p2p_arena_array(a, n, sizeof(*arr));
	if (arr == NULL && n > 0)
		INVALID("destination list exceeds decode arena");
	p2p_r_init(&r, in.p, in.len);
	for (size_t i = 0; i < n; i++)
		(void)p2p_dest_decode1(&r, &arr[i], err);
	*out = arr;
	*count = n;
	return 0;
}

int
p2p_dest_list_encode(p2p_wbuf *w, const p2p_dest *d, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (p2p_dest_encode(w, &d[i]) != 0)
			return -1;
	return 0;
}

/* ---- signatures ---- */

int
p2p_signer_decode1(p2p_rbuf *r, p2p_signer *out, p2p_err *err)
{
	p2p_rbuf v;

	memset(out, 0, sizeof(*out));
	if (!p2p_r_u8(r, &out->type) || !p2p_r_sub(r, 2, &v))
		INVALID("signer identity truncated");
	switch (out->type) {
	case P2P_SIGNER_CERT_HASH:
	case P2P_SIGNER_CERT_HASH_NODE_ID:
		if (!p2p_r_u8(&v, &out->hash_alg) ||
		    !p2p_r_vec(&v, 1, &out->hash) || p2p_r_left(&v) != 0)
			INVALID("signer identity value malformed");
		return 0;
	case P2P_SIGNER_NONE:
		if (p2p_r_left(&v) != 0)
			INVALID("signer identity 'none' has a value");
		return 0;
	case 0:
		INVALID("invalid signer identity type 0");
	default:
		out->raw.p = v.p;
		out->raw.len = v.len;
		return 0;
	}
}

int
p2p_signer_encode(p2p_wbuf *w, const p2p_signer *s)
{
	size_t mark;

	if (s->type == 0)
		return -1;
	p2p_w_u8(w, s->type);
	mark = p2p_w_begin(w, 2);
	switch (s->type) {
	case P2P_SIGNER_CERT_HASH:
	case P2P_SIGNER_CERT_HASH_NODE_ID:
		p2p_w_u8(w, s->hash_alg);
		p2p_w_vec(w, 1, s->hash.p, s->hash.len);
		break;
	case P2P_SIGNER_NONE:
		break;
	default:
		p2p_w_raw(w, s->raw.p, s->raw.len);
		break;
	}
	p2p_w_end(w, mark, 2);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_signature_decode1(p2p_rbuf *r, p2p_signature *out, p2p_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!p2p_r_u8(r, &out->hash_alg) || !p2p_r_u8(r, &out->sig_alg))
		INVALID("signature truncated");
	if (p2p_signer_decode1(r, &out->signer, err) != 0)
		return -1;
	if (!p2p_r_vec(r, 2, &out->value))
		INVALID("signature value truncated");
	return 0;
}

int
p2p_signature_encode(p2p_wbuf *w, const p2p_signature *s)
{
	p2p_w_u8(w, s->hash_alg);
	p2p_w_u8(w, s->sig_alg);
	if (p2p_signer_encode(w, &s->signer) != 0)
		return -1;
	p2p_w_vec(w, 2, s->value.p, s->value.len);
	return p2p_w_ok(w) ? 0 : -1;
}

/* ---- whole messages ---- */

void
p2p_msg_init(p2p_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->version = P2P_VERSION;
	m->ttl = P2P_DEFAULT_TTL;
	m->fragment = P2P_FRAG_WHOLE;
}

uint32_t
p2p_overlay_hash(const char *name)
{
	uint8_t md[SHA_DIGEST_LENGTH];

	SHA1((const uint8_t *)name, strlen(name), md);
	return (uint32_t)md[16] << 24 | (uint32_t)md[17] << 16 |
	    (uint32_t)md[18] << 8 | md[19];
}

static size_t
off_of(const uint8_t *buf, const p2p_rbuf *r)
{
	return (size_t)(r->p - buf);
}

#undef BAD
#define BAD(code, what)							\
	do {								\
		p2p_err_set(err, (code), (what), off_of(buf, &r));	\
		return -1;						\
	} while (0)

static int
options_decode(p2p_bytes in, p2p_arena *a, p2p_msg *m, enum p2p_role role,
    p2p_err *err)
{
	p2p_rbuf r;
	size_t n = 0;

	p2p_r_init(&r, in.p, in.len);
	while (p2p_r_left(&r) > 0) {
		p2p_bytes v;
		uint8_t t, f;
		if (!p2p_r_u8(&r, &t) || !p2p_r_u8(&r, &f) ||
		    !p2p_r_vec(&r, 2, &v)) {
			p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
			    "forwarding option truncated", 0);
			return -1;
		}
		if (t == 0) {
			p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
			    "invalid forwarding option type 0", 0);
			return -1;
		}
		/* No forwarding option types are implemented. */
		if ((role == P2P_ROLE_FORWARDER &&
		    (f & P2P_FWDOPT_FORWARD_CRITICAL)) ||
		    (role == P2P_ROLE_DESTINATION &&
		    (f & P2P_FWDOPT_DESTINATION_CRITICAL))) {
			p2p_err_set(err, P2P_ERR_UNSUPPORTED_FWD_OPTION,
			    "unsupported critical forwarding option", 0);
			return -1;
		}
		n++;
	}
	m->noptions = n;
	m->options = p2p_arena_array(a, n, sizeof(*m->options));
	if (m->options == NULL && n > 0) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "forwarding options exceed decode arena", 0);
		return -1;
	}
	p2p_r_init(&r, in.p, in.len);
	for (size_t i = 0; i < n; i++) {
		p2p_fwd_option *o = &m->options[i];
		(void)p2p_r_u8(&r, &o->type);
		(void)p2p_r_u8(&r, &o->flags);
		(void)p2p_r_vec(&r, 2, &o->value);
	}
	return 0;
}

int
p2p_fwd_decode(const uint8_t *buf, size_t len, const p2p_decode_opts *o,
    p2p_arena *a, p2p_msg *m, p2p_bytes *payload, p2p_err *err)
{
	static const p2p_decode_opts defaults;
	p2p_rbuf r;
	uint32_t token;
	uint16_t vialen, destlen, optlen;
	p2p_bytes via, dest, opts;

	if (o == NULL)
		o = &defaults;
	p2p_msg_init(m);
	p2p_r_init(&r, buf, len);
	if (!p2p_r_u32(&r, &token) || token != P2P_RELO_TOKEN)
		BAD(0, "not a RELOAD message (bad relo_token)");
	if (o->max_size > 0 && len > o->max_size)
		BAD(P2P_ERR_MESSAGE_TOO_LARGE, "message exceeds max-message-size");
	if (!p2p_r_u32(&r, &m->overlay) || !p2p_r_u16(&r, &m->config_seq) ||
	    !p2p_r_u8(&r, &m->version) || !p2p_r_u8(&r, &m->ttl) ||
	    !p2p_r_u32(&r, &m->fragment) || !p2p_r_u32(&r, &m->length) ||
	    !p2p_r_u64(&r, &m->transaction_id) ||
	    !p2p_r_u32(&r, &m->max_response_length) ||
	    !p2p_r_u16(&r, &vialen) || !p2p_r_u16(&r, &destlen) ||
	    !p2p_r_u16(&r, &optlen))
		BAD(0, "forwarding header truncated");
	if (m->version != P2P_VERSION)
		BAD(P2P_ERR_INCOMPATIBLE, "unsupported protocol version");
	if (!(m->fragment & P2P_FRAG_MARK))
		BAD(0, "fragment field lacks its top bit");
	if (m->fragment & 0x3f000000u)
		BAD(P2P_ERR_INVALID_MESSAGE, "reserved fragment bits set");
	if (m->length != len)
		BAD(P2P_ERR_INVALID_MESSAGE,
		    "length field does not match the message size");
	if (!p2p_r_bytes(&r, vialen, &via) || !p2p_r_bytes(&r, destlen, &dest) ||
	    !p2p_r_bytes(&r, optlen, &opts))
		BAD(P2P_ERR_INVALID_MESSAGE,
		    "header lists run past the end of the message");
	if (p2p_dest_list_decode(via, a, &m->via, &m->nvia, err) != 0 ||
	    p2p_dest_list_decode(dest, a, &m->dest, &m->ndest, err) != 0) {
		err->offset = P2P_FWD_FIXED_LEN;
		return -1;
	}
	if (m->ndest == 0)
		BAD(P2P_ERR_INVALID_MESSAGE, "empty destination list");
	for (size_t i = 0; i < m->nvia; i++)
		if (m->via[i].type == P2P_DEST_RESOURCE)
			BAD(P2P_ERR_INVALID_MESSAGE,
			    "resource entry in the via list");
	for (size_t i = 0; i + 1 < m->ndest; i++)
		if (m->dest[i].type == P2P_DEST_RESOURCE)
			BAD(P2P_ERR_INVALID_MESSAGE,
			    "resource entry before the end of the destination list");
	if (options_decode(opts, a, m, o->role, err) != 0) {
		err->offset = off_of(buf, &r) - optlen;
		return -1;
	}
	payload->p = r.p;
	payload->len = r.len;
	return 0;
}

static int
exts_decode(p2p_bytes in, p2p_arena *a, p2p_msg *m, enum p2p_role role,
    p2p_err *err)
{
	p2p_rbuf r;
	size_t n = 0;

	p2p_r_init(&r, in.p, in.len);
	while (p2p_r_left(&r) > 0) {
		uint16_t t;
		uint8_t crit;
		p2p_bytes v;
		if (!p2p_r_u16(&r, &t) || !p2p_r_u8(&r, &crit) ||
		    !p2p_r_vec(&r, 4, &v)) {
			p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
			    "message extension truncated", 0);
			return -1;
		}
		if (crit > 1) {
			p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
			    "extension critical flag is not a boolean", 0);
			return -1;
		}
		if (role == P2P_ROLE_DESTINATION && crit &&
		    t != P2P_EXT_DIAGNOSTIC_PING) {
			p2p_err_set(err, P2P_ERR_UNKNOWN_EXTENSION,
			    "unknown critical message extension", 0);
			return -1;
		}
		n++;
	}
	m->nexts = n;
	m->exts = p2p_arena_array(a, n, sizeof(*m->exts));
	if (m->exts == NULL && n > 0) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "extensions exceed decode arena", 0);
		return -1;
	}
	p2p_r_init(&r, in.p, in.len);
	for (size_t i = 0; i < n; i++) {
		(void)p2p_r_u16(&r, &m->exts[i].type);
		(void)p2p_r_u8(&r, &m->exts[i].critical);
		(void)p2p_r_vec(&r, 4, &m->exts[i].contents);
	}
	return 0;
}

static int
certs_decode(p2p_bytes in, p2p_arena *a, p2p_msg *m, p2p_err *err)
{
	p2p_rbuf r;
	size_t n = 0;

	p2p_r_init(&r, in.p, in.len);
	while (p2p_r_left(&r) > 0) {
		uint8_t t;
		p2p_bytes v;
		if (!p2p_r_u8(&r, &t) || !p2p_r_vec(&r, 2, &v)) {
			p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
			    "certificate truncated", 0);
			return -1;
		}
		n++;
	}
	m->ncerts = n;
	m->certs = p2p_arena_array(a, n, sizeof(*m->certs));
	if (m->certs == NULL && n > 0) {
		p2p_err_set(err, P2P_ERR_INVALID_MESSAGE,
		    "certificates exceed decode arena", 0);
		return -1;
	}
	p2p_r_init(&r, in.p, in.len);
	for (size_t i = 0; i < n; i++) {
		(void)p2p_r_u8(&r, &m->certs[i].type);
		(void)p2p_r_vec(&r, 2, &m->certs[i].der);
	}
	return 0;
}

int
p2p_msg_decode(const uint8_t *buf, size_t len, const p2p_decode_opts *o,
    p2p_arena *a, p2p_msg *m, p2p_err *err)
{
	static const p2p_decode_opts defaults;
	p2p_bytes payload, exts, certs;
	p2p_rbuf r;
	const uint8_t *start, *sstart;

	if (o == NULL)
		o = &defaults;
	if (p2p_fwd_decode(buf, len, o, a, m, &payload, err) != 0)
		return -1;
	p2p_r_init(&r, payload.p, payload.len);
	if (m->fragment != P2P_FRAG_WHOLE)
		BAD(P2P_ERR_INVALID_MESSAGE,
		    "message is a fragment; reassemble it first");
	start = r.p;
	if (!p2p_r_u16(&r, &m->code))
		BAD(P2P_ERR_INVALID_MESSAGE, "message code truncated");
	if (m->code == 0 || (m->code >= 0x8000 && m->code != P2P_ERROR))
		BAD(P2P_ERR_INVALID_MESSAGE, "invalid or reserved message code");
	if (!p2p_r_vec(&r, 4, &m->body))
		BAD(P2P_ERR_INVALID_MESSAGE, "message body runs past the end");
	if (!p2p_r_vec(&r, 4, &exts))
		BAD(P2P_ERR_INVALID_MESSAGE, "extensions run past the end");
	m->raw_contents.p = start;
	m->raw_contents.len = (size_t)(r.p - start);
	if (exts_decode(exts, a, m, o->role, err) != 0) {
		err->offset = (size_t)(exts.p - buf);
		return -1;
	}
	if (!p2p_r_vec(&r, 2, &certs))
		BAD(P2P_ERR_INVALID_MESSAGE, "certificate list runs past the end");
	if (certs_decode(certs, a, m, err) != 0) {
		err->offset = (size_t)(certs.p - buf);
		return -1;
	}
	if (!p2p_r_u8(&r, &m->sig.hash_alg) || !p2p_r_u8(&r, &m->sig.sig_alg))
		BAD(P2P_ERR_INVALID_MESSAGE, "signature truncated");
	sstart = r.p;
	if (p2p_signer_decode1(&r, &m->sig.signer, err) != 0) {
		err->offset = off_of(buf, &r);
		return -1;
	}
	m->raw_signer.p = sstart;
	m->raw_signer.len = (size_t)(r.p - sstart);
	if (!p2p_r_vec(&r, 2, &m->sig.value))
		BAD(P2P_ERR_INVALID_MESSAGE, "signature value runs past the end");
	if (p2p_r_left(&r) != 0)
		BAD(P2P_ERR_INVALID_MESSAGE, "trailing bytes after the message");
	return 0;
}

int
p2p_contents_encode(p2p_wbuf *w, const p2p_msg *m)
{
	size_t mark;

	p2p_w_u16(w, m->code);
	p2p_w_vec(w, 4, m->body.p, m->body.len);
	mark = p2p_w_begin(w, 4);
	for (size_t i = 0; i < m->nexts; i++) {
		if (m->exts[i].critical > 1)
			return -1;
		p2p_w_u16(w, m->exts[i].type);
		p2p_w_u8(w, m->exts[i].critical);
		p2p_w_vec(w, 4, m->exts[i].contents.p, m->exts[i].contents.len);
	}
	p2p_w_end(w, mark, 4);
	return p2p_w_ok(w) ? 0 : -1;
}

static int
header_encode(p2p_wbuf *w, const p2p_msg *m)
{
	size_t mark, cmark;

	p2p_w_u32(w, P2P_RELO_TOKEN);
	p2p_w_u32(w, m->overlay);
	p2p_w_u16(w, m->config_seq);
	p2p_w_u8(w, m->version);
	p2p_w_u8(w, m->ttl);
	p2p_w_u32(w, m->fragment);
	p2p_w_u32(w, 0);		/* length, patched by the caller */
	p2p_w_u64(w, m->transaction_id);
	p2p_w_u32(w, m->max_response_length);
	mark = w->len;
	p2p_w_u16(w, 0);
	p2p_w_u16(w, 0);
	p2p_w_u16(w, 0);
	cmark = w->len;
	if (p2p_dest_list_encode(w, m->via, m->nvia) != 0)
		return -1;
	p2p_w_patch(w, mark, 2, w->len - cmark);
	cmark = w->len;
	if (p2p_dest_list_encode(w, m->dest, m->ndest) != 0)
		return -1;
	p2p_w_patch(w, mark + 2, 2, w->len - cmark);
	cmark = w->len;
	for (size_t i = 0; i < m->noptions; i++) {
		p2p_w_u8(w, m->options[i].type);
		p2p_w_u8(w, m->options[i].flags);
		p2p_w_vec(w, 2, m->options[i].value.p, m->options[i].value.len);
	}
	p2p_w_patch(w, mark + 4, 2, w->len - cmark);
	return p2p_w_ok(w) ? 0 : -1;
}

static int
patch_length(p2p_wbuf *w, size_t start)
{
	if (!p2p_w_ok(w) || w->len - start > UINT32_MAX)
		return -1;
	p2p_w_patch(w, start + 16, 4, w->len - start);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_msg_encode(p2p_wbuf *w, const p2p_msg *m)
{
	size_t start = w->len, mark;

	if (header_encode(w, m) != 0 || p2p_contents_encode(w, m) != 0)
		return -1;
	mark = p2p_w_begin(w, 2);
	for (size_t i = 0; i < m->ncerts; i++) {
		p2p_w_u8(w, m->certs[i].type);
		p2p_w_vec(w, 2, m->certs[i].der.p, m->certs[i].der.len);
	}
	p2p_w_end(w, mark, 2);
	if (p2p_signature_encode(w, &m->sig) != 0)
		return -1;
	return patch_length(w, start);
}

int
p2p_msg_encode_fwd(p2p_wbuf *w, const p2p_msg *m, p2p_bytes payload)
{
	size_t start = w->len;

	if (header_encode(w, m) != 0)
		return -1;
	p2p_w_raw(w, payload.p, payload.len);
	return patch_length(w, start);
}

int
p2p_msg_sig_input(p2p_wbuf *w, uint32_t overlay, uint64_t tid,
    p2p_bytes contents, const p2p_signer *signer)
{
	p2p_w_u32(w, overlay);
	p2p_w_u64(w, tid);
	p2p_w_raw(w, contents.p, contents.len);
	return p2p_signer_encode(w, signer);
}
