#include "body_diag.h"

#include <string.h>

#define BAD(code, what)							\
	do {								\
		p2p_err_set(err, (code), (what), 0);			\
		return -1;						\
	} while (0)
#define INVALID(what) BAD(P2P_ERR_INVALID_MESSAGE, what)

/* Largest diagnostic_info_contents (a <0..2^16-1> vector). */
#define INFO_MAX	0xffffu

/* ---- the extension / info list after ext_length ---- */

/*
 * Take ext_length and the list that follows it from r, in any of the forms
 * the header comment lists. *list gets the bytes of the entries.
 */
static int
list_take(p2p_rbuf *r, p2p_bytes *list, p2p_err *err)
{
	uint32_t ext_length, n;

	if (!p2p_r_u32(r, &ext_length))
		INVALID("diagnostics ext_length truncated");
	if (ext_length == 0 && p2p_r_left(r) == 0) {
		list->p = NULL;
		list->len = 0;
		return 0;
	}
	if (!p2p_r_u32(r, &n))
		INVALID("diagnostics list length truncated");
	if (ext_length != n && (uint64_t)ext_length != (uint64_t)n + 4)
		INVALID("diagnostics ext_length disagrees with list length");
	if (!p2p_r_bytes(r, n, list))
		INVALID("diagnostics list truncated");
	return 0;
}

/* Write ext_length = N, then the u32 vector prefix N, then the entries
 * produced by fill. */
static size_t
list_begin(p2p_wbuf *w)
{
	size_t mark = w->len;

	p2p_w_u32(w, 0);
	p2p_w_u32(w, 0);
	return mark;
}

static void
list_end(p2p_wbuf *w, size_t mark)
{
	uint64_t n;

	if (!p2p_w_ok(w))
		return;
	n = w->len - mark - 8;
	p2p_w_patch(w, mark, 4, n);
	p2p_w_patch(w, mark + 4, 4, n);
}

/* ---- DiagnosticsRequest ---- */

static int
ext_decode1(p2p_rbuf *r, p2p_diag_ext *out, p2p_err *err)
{
	if (!p2p_r_u16(r, &out->kind) || !p2p_r_vec(r, 4, &out->contents))
		INVALID("diagnostic extension truncated");
	return 0;
}

static int
exts_decode(p2p_bytes list, p2p_arena *a, p2p_diag_ext **out, size_t *count,
    p2p_err *err)
{
	p2p_rbuf r;
	p2p_diag_ext tmp, *arr;
	size_t n = 0;

	p2p_r_init(&r, list.p, list.len);
	while (p2p_r_left(&r) > 0) {
		if (ext_decode1(&r, &tmp, err) != 0)
			return -1;
		n++;
	}
	arr = p2p_arena_array(a, n, sizeof(*arr));
	if (arr == NULL && n > 0)
		INVALID("diagnostic extensions exceed decode arena");
	p2p_r_init(&r, list.p, list.len);
	for (size_t i = 0; i < n; i++)
		(void)ext_decode1(&r, &arr[i], err);
	*out = arr;
	*count = n;
	return 0;
}

static int
req_decode1(p2p_rbuf *r, p2p_arena *a, p2p_diag_req *out, p2p_err *err)
{
	p2p_bytes list;

	memset(out, 0, sizeof(*out));
	if (!p2p_r_u64(r, &out->expiration) ||
	    !p2p_r_u64(r, &out->timestamp_initiated) ||
	    !p2p_r_u64(r, &out->flags))
		INVALID("DiagnosticsRequest truncated");
	if (list_take(r, &list, err) != 0)
		return -1;
	return exts_decode(list, a, &out->exts, &out->nexts, err);
}

int
p2p_diag_req_decode(p2p_bytes in, p2p_arena *a, p2p_diag_req *out,
    p2p_err *err)
{
	p2p_rbuf r;

	p2p_r_init(&r, in.p, in.len);
	if (req_decode1(&r, a, out, err) != 0)
		return -1;
	if (p2p_r_left(&r) != 0)
		INVALID("trailing bytes after DiagnosticsRequest");
	return 0;
}

int
p2p_diag_req_encode(p2p_wbuf *w, const p2p_diag_req *in)
{
	size_t mark;

	if (in->nexts > 0 && in->exts == NULL)
		return -1;
	p2p_w_u64(w, in->expiration);
	p2p_w_u64(w, in->timestamp_initiated);
	p2p_w_u64(w, in->flags);
	mark = list_begin(w);
	for (size_t i = 0; i < in->nexts; i++) {
		p2p_w_u16(w, in->exts[i].kind);
		p2p_w_vec(w, 4, in->exts[i].contents.p,
		    in->exts[i].contents.len);
	}
	list_end(w, mark);
	return p2p_w_ok(w) ? 0 : -1;
}

/* ---- DiagnosticsResponse ---- */

static int
info_decode1(p2p_rbuf *r, p2p_diag_info *out, p2p_err *err)
{
	if (!p2p_r_u16(r, &out->kind) || !p2p_r_vec(r, 2, &out->contents))
		INVALID("diagnostic info truncated");
	return 0;
}

static int
infos_decode(p2p_bytes list, p2p_arena *a, p2p_diag_info **out,
    size_t *count, p2p_err *err)
{
	p2p_rbuf r;
	p2p_diag_info tmp, *arr;
	size_t n = 0;

	p2p_r_init(&r, list.p, list.len);
	while (p2p_r_left(&r) > 0) {
		if (info_decode1(&r, &tmp, err) != 0)
			return -1;
		n++;
	}
	arr = p2p_arena_array(a, n, sizeof(*arr));
	if (arr == NULL && n > 0)
		INVALID("diagnostic infos exceed decode arena");
	p2p_r_init(&r, list.p, list.len);
	for (size_t i = 0; i < n; i++)
		(void)info_decode1(&r, &arr[i], err);
	*out = arr;
	*count = n;
	return 0;
}

static int
resp_decode1(p2p_rbuf *r, p2p_arena *a, p2p_diag_resp *out, p2p_err *err)
{
	p2p_bytes list;

	memset(out, 0, sizeof(*out));
	if (!p2p_r_u64(r, &out->expiration) ||
	    !p2p_r_u64(r, &out->timestamp_initiated) ||
	    !p2p_r_u64(r, &out->timestamp_received) ||
	    !p2p_r_u8(r, &out->hop_counter))
		INVALID("DiagnosticsResponse truncated");
	if (list_take(r, &list, err) != 0)
		return -1;
	return infos_decode(list, a, &out->infos, &out->ninfos, err);
}

int
p2p_diag_resp_decode(p2p_bytes in, p2p_arena *a, p2p_diag_resp *out,
    p2p_err *err)
{
	p2p_rbuf r;

	p2p_r_init(&r, in.p, in.len);
	if (resp_decode1(&r, a, out, err) != 0)
		return -1;
	if (p2p_r_left(&r) != 0)
		INVALID("trailing bytes after DiagnosticsResponse");
	return 0;
}

int
p2p_diag_resp_encode(p2p_wbuf *w, const p2p_diag_resp *in)
{
	size_t mark;

	if (in->ninfos > 0 && in->infos == NULL)
		return -1;
	for (size_t i = 0; i < in->ninfos; i++)
		if (in->infos[i].contents.len > INFO_MAX)
			return -1;
	p2p_w_u64(w, in->expiration);
	p2p_w_u64(w, in->timestamp_initiated);
	p2p_w_u64(w, in->timestamp_received);
	p2p_w_u8(w, in->hop_counter);
	mark = list_begin(w);
	for (size_t i = 0; i < in->ninfos; i++) {
		p2p_w_u16(w, in->infos[i].kind);
		p2p_w_vec(w, 2, in->infos[i].contents.p,
		    in->infos[i].contents.len);
	}
	list_end(w, mark);
	return p2p_w_ok(w) ? 0 : -1;
}

/* ---- PathTrack ---- */

int
p2p_path_track_req_decode(p2p_bytes in, p2p_arena *a,
    p2p_path_track_req *out, p2p_err *err)
{
	p2p_rbuf r;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (p2p_dest_decode1(&r, &out->dest, err) != 0)
		return -1;
	if (req_decode1(&r, a, &out->req, err) != 0)
		return -1;
	if (p2p_r_left(&r) != 0)
		INVALID("trailing bytes after PathTrackReq");
	return 0;
}

int
p2p_path_track_req_encode(p2p_wbuf *w, const p2p_path_track_req *in)
{
	if (p2p_dest_encode(w, &in->dest) != 0)
		return -1;
	return p2p_diag_req_encode(w, &in->req);
}

int
p2p_path_track_ans_decode(p2p_bytes in, p2p_arena *a,
    p2p_path_track_ans *out, p2p_err *err)
{
	p2p_rbuf r;

	memset(out, 0, sizeof(*out));
	p2p_r_init(&r, in.p, in.len);
	if (p2p_dest_decode1(&r, &out->next_hop, err) != 0)
		return -1;
	if (resp_decode1(&r, a, &out->resp, err) != 0)
		return -1;
	if (p2p_r_left(&r) != 0)
		INVALID("trailing bytes after PathTrackAns");
	return 0;
}

int
p2p_path_track_ans_encode(p2p_wbuf *w, const p2p_path_track_ans *in)
{
	if (p2p_dest_encode(w, &in->next_hop) != 0)
		return -1;
	return p2p_diag_resp_encode(w, &in->resp);
}

/* ---- flags, kinds, validation ---- */

uint64_t
p2p_diag_kind_flag(uint16_t kind)
{
	if (kind == 0 || kind >= 63)
		return 0;
	return 1ull << kind;
}

uint16_t
p2p_diag_flag_kind(uint64_t flag)
{
	uint16_t k = 0;

	if (flag == 0 || (flag & (flag - 1)) != 0)
		return P2P_DIAG_KIND_RESERVED;
	if (flag & (P2P_DIAG_FLAG_RESERVED_FIRST | P2P_DIAG_FLAG_RESERVED_LAST))
		return P2P_DIAG_KIND_RESERVED;
	while ((flag >>= 1) != 0)
		k++;
	return k;
}

int
p2p_diag_flags_want(uint64_t flags, uint16_t kind)
{
	uint64_t bit = p2p_diag_kind_flag(kind);

	if (bit == 0)
		return 0;
	return flags == P2P_DIAG_FLAG_ALL || (flags & bit) != 0;
}

static const char *const kind_names[] = {
	[P2P_DIAG_STATUS_INFO] = "STATUS_INFO",
	[P2P_DIAG_ROUTING_TABLE_SIZE] = "ROUTING_TABLE_SIZE",
	[P2P_DIAG_PROCESS_POWER] = "PROCESS_POWER",
	[P2P_DIAG_UPSTREAM_BANDWIDTH] = "UPSTREAM_BANDWIDTH",
	[P2P_DIAG_DOWNSTREAM_BANDWIDTH] = "DOWNSTREAM_BANDWIDTH",
	[P2P_DIAG_SOFTWARE_VERSION] = "SOFTWARE_VERSION",
	[P2P_DIAG_MACHINE_UPTIME] = "MACHINE_UPTIME",
	[P2P_DIAG_APP_UPTIME] = "APP_UPTIME",
	[P2P_DIAG_MEMORY_FOOTPRINT] = "MEMORY_FOOTPRINT",
	[P2P_DIAG_DATASIZE_STORED] = "DATASIZE_STORED",
	[P2P_DIAG_INSTANCES_STORED] = "INSTANCES_STORED",
	[P2P_DIAG_MESSAGES_SENT_RCVD] = "MESSAGES_SENT_RCVD",
	[P2P_DIAG_EWMA_BYTES_SENT] = "EWMA_BYTES_SENT",
	[P2P_DIAG_EWMA_BYTES_RCVD] = "EWMA_BYTES_RCVD",
	[P2P_DIAG_UNDERLAY_HOP] = "UNDERLAY_HOP",
	[P2P_DIAG_BATTERY_STATUS] = "BATTERY_STATUS",
};

const char *
p2p_diag_kind_name(uint16_t kind)
{
	if (kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return NULL;
	return kind_names[kind];
}

int
p2p_diag_check_expiration(uint64_t expiration, uint64_t now_ms,
    p2p_err *err)
{
	if (expiration <= now_ms)
		BAD(P2P_ERR_MESSAGE_EXPIRED, "diagnostics message expired");
	if (expiration - now_ms > P2P_DIAG_MAX_EXPIRATION_MS)
		INVALID("diagnostics expiration more than 600 s ahead");
	return 0;
}

int
p2p_diag_req_validate(const p2p_diag_req *r, uint64_t now_ms, p2p_err *err)
{
	const uint64_t reserved =
	    P2P_DIAG_FLAG_RESERVED_FIRST | P2P_DIAG_FLAG_RESERVED_LAST;

	if (p2p_diag_check_expiration(r->expiration, now_ms, err) != 0)
		return -1;
	if (r->flags != P2P_DIAG_FLAG_ALL && (r->flags & reserved) != 0)
		INVALID("reserved dMFlags bit set");
	for (size_t i = 0; i < r->nexts; i++) {
		if (r->exts[i].kind <= P2P_DIAG_KIND_FLAG_MAX)
			INVALID("diagnostic extension kind belongs to dMFlags");
		if (r->exts[i].kind == P2P_DIAG_KIND_RESERVED_MAX)
			INVALID("diagnostic extension kind 0xffff reserved");
	}
	return 0;
}

/* ---- contents of the base kinds ---- */

size_t
p2p_diag_scalar_size(uint16_t kind)
{
	switch (kind) {
	case P2P_DIAG_STATUS_INFO:
	case P2P_DIAG_UNDERLAY_HOP:
	case P2P_DIAG_BATTERY_STATUS:
		return 1;
	case P2P_DIAG_ROUTING_TABLE_SIZE:
	case P2P_DIAG_EWMA_BYTES_SENT:
	case P2P_DIAG_EWMA_BYTES_RCVD:
		return 4;
	case P2P_DIAG_PROCESS_POWER:
	case P2P_DIAG_UPSTREAM_BANDWIDTH:
	case P2P_DIAG_DOWNSTREAM_BANDWIDTH:
	case P2P_DIAG_MACHINE_UPTIME:
	case P2P_DIAG_APP_UPTIME:
	case P2P_DIAG_MEMORY_FOOTPRINT:
	case P2P_DIAG_DATASIZE_STORED:
		return 8;
	default:
		return 0;
	}
}

int
p2p_diag_scalar_encode(p2p_wbuf *w, uint16_t kind, uint64_t v)
{
	switch (p2p_diag_scalar_size(kind)) {
	case 1:
		if (v > 0xff)
			return -1;
		if (kind == P2P_DIAG_STATUS_INFO && v > P2P_DIAG_CONGESTION_MAX)
			return -1;
		p2p_w_u8(w, (uint8_t)v);
		break;
	case 4:
		if (v > 0xffffffffu)
			return -1;
		p2p_w_u32(w, (uint32_t)v);
		break;
	case 8:
		p2p_w_u64(w, v);
		break;
	default:
		return -1;
	}
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_diag_scalar_decode(uint16_t kind, p2p_bytes in, uint64_t *v,
    p2p_err *err)
{
	size_t size = p2p_diag_scalar_size(kind);
	p2p_rbuf r;
	uint8_t u8;
	uint32_t u32;

	if (size == 0)
		INVALID("diagnostic kind is not a single value");
	if (in.len != size)
		INVALID("diagnostic value has the wrong size");
	p2p_r_init(&r, in.p, in.len);
	switch (size) {
	case 1:
		(void)p2p_r_u8(&r, &u8);
		if (kind == P2P_DIAG_STATUS_INFO && u8 > P2P_DIAG_CONGESTION_MAX)
			INVALID("STATUS_INFO reserved bits set");
		*v = u8;
		break;
	case 4:
		(void)p2p_r_u32(&r, &u32);
		*v = u32;
		break;
	default:
		(void)p2p_r_u64(&r, v);
		break;
	}
	return 0;
}

int
p2p_diag_status_encode(p2p_wbuf *w, uint8_t congestion)
{
	return p2p_diag_scalar_encode(w, P2P_DIAG_STATUS_INFO, congestion);
}

int
p2p_diag_status_decode(p2p_bytes in, uint8_t *congestion, p2p_err *err)
{
	uint64_t v;

	if (p2p_diag_scalar_decode(P2P_DIAG_STATUS_INFO, in, &v, err) != 0)
		return -1;
	*congestion = (uint8_t)v;
	return 0;
}

int
p2p_diag_battery_encode(p2p_wbuf *w, int on_battery, uint8_t app_bits)
{
	if (app_bits & P2P_DIAG_BATTERY_NOT_ON_BATTERY)
		return -1;
	if (!on_battery)
		app_bits |= P2P_DIAG_BATTERY_NOT_ON_BATTERY;
	return p2p_diag_scalar_encode(w, P2P_DIAG_BATTERY_STATUS, app_bits);
}

int
p2p_diag_battery_decode(p2p_bytes in, int *on_battery, uint8_t *app_bits,
    p2p_err *err)
{
	uint64_t v;

	if (p2p_diag_scalar_decode(P2P_DIAG_BATTERY_STATUS, in, &v, err) != 0)
		return -1;
	*on_battery = (v & P2P_DIAG_BATTERY_NOT_ON_BATTERY) == 0;
	*app_bits = (uint8_t)(v & ~P2P_DIAG_BATTERY_NOT_ON_BATTERY);
	return 0;
}

int
p2p_diag_software_encode(p2p_wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (n + 1 > INFO_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] > 0x7f)
			return -1;
	p2p_w_raw(w, s, n + 1);
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_diag_software_decode(p2p_bytes in, const char **s, size_t *len,
    p2p_err *err)
{
	if (in.len == 0 || in.p[in.len - 1] != '\0')
		INVALID("SOFTWARE_VERSION not NUL-terminated");
	for (size_t i = 0; i + 1 < in.len; i++) {
		if (in.p[i] == '\0')
			INVALID("SOFTWARE_VERSION has an embedded NUL");
		if (in.p[i] > 0x7f)
			INVALID("SOFTWARE_VERSION is not US-ASCII");
	}
	*s = (const char *)in.p;
	*len = in.len - 1;
	return 0;
}

#define INSTANCES_ENTRY	12	/* u32 kind, u64 count */
#define MSG_COUNT_ENTRY	18	/* u16 code, u64 sent, u64 rcvd */

int
p2p_diag_instances_encode(p2p_wbuf *w, const p2p_diag_instances *v,
    size_t n)
{
	if (n > INFO_MAX / INSTANCES_ENTRY || (n > 0 && v == NULL))
		return -1;
	for (size_t i = 0; i < n; i++) {
		p2p_w_u32(w, v[i].kind);
		p2p_w_u64(w, v[i].count);
	}
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_diag_instances_decode(p2p_bytes in, p2p_arena *a,
    p2p_diag_instances **out, size_t *n, p2p_err *err)
{
	p2p_diag_instances *arr;
	size_t count;
	p2p_rbuf r;

	if (in.len % INSTANCES_ENTRY != 0)
		INVALID("INSTANCES_STORED length not a multiple of 12");
	count = in.len / INSTANCES_ENTRY;
	arr = p2p_arena_array(a, count, sizeof(*arr));
	if (arr == NULL && count > 0)
		INVALID("INSTANCES_STORED exceeds decode arena");
	p2p_r_init(&r, in.p, in.len);
	for (size_t i = 0; i < count; i++) {
		if (!p2p_r_u32(&r, &arr[i].kind) ||
		    !p2p_r_u64(&r, &arr[i].count))
			INVALID("INSTANCES_STORED truncated");
	}
	*out = arr;
	*n = count;
	return 0;
}

int
p2p_diag_msg_counts_encode(p2p_wbuf *w, const p2p_diag_msg_count *v,
    size_t n)
{
	if (n > INFO_MAX / MSG_COUNT_ENTRY || (n > 0 && v == NULL))
		return -1;
	for (size_t i = 0; i < n; i++) {
		p2p_w_u16(w, v[i].code);
		p2p_w_u64(w, v[i].sent);
		p2p_w_u64(w, v[i].rcvd);
	}
	return p2p_w_ok(w) ? 0 : -1;
}

int
p2p_diag_msg_counts_decode(p2p_bytes in, p2p_arena *a,
    p2p_diag_msg_count **out, size_t *n, p2p_err *err)
{
	p2p_diag_msg_count *arr;
	size_t count;
	p2p_rbuf r;

	if (in.len % MSG_COUNT_ENTRY != 0)
		INVALID("MESSAGES_SENT_RCVD length not a multiple of 18");
	count = in.len / MSG_COUNT_ENTRY;
	arr = p2p_arena_array(a, count, sizeof(*arr));
	if (arr == NULL && count > 0)
		INVALID("MESSAGES_SENT_RCVD exceeds decode arena");
	p2p_r_init(&r, in.p, in.len);
	for (size_t i = 0; i < count; i++) {
		if (!p2p_r_u16(&r, &arr[i].code) ||
		    !p2p_r_u64(&r, &arr[i].sent) ||
		    !p2p_r_u64(&r, &arr[i].rcvd))
			INVALID("MESSAGES_SENT_RCVD truncated");
	}
	*out = arr;
	*n = count;
	return 0;
}
