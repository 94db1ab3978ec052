/*
 * rlink: RFC 6940 s6.6.3 simple reliability over an unreliable record
 * transport. See rlink.h.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "rlink.h"

#define DEF_WINDOW	8
#define MAX_WINDOW	64
#define DEF_QUEUE	1024
#define DEF_RTO_MS	500
#define DEF_MIN_RTO_MS	200
#define DEF_MAX_RTO_MS	4000
#define DEF_MAX_TX	5
#define MAX_TX		16
#define DEF_DEDUP_MS	1500
#define DEDUP_N		1024

/* A message on its way: the whole data frame, its sequence number
 * rewritten at each transmission. */
struct rmsg {
	uint8_t *frame;
	size_t len;
	uint32_t seq[MAX_TX];	/* of each transmission */
	uint64_t tx_ms[MAX_TX];
	unsigned ntx;
	uint64_t due_ms;	/* next retransmission */
	struct rmsg *next;	/* in the queue */
};

struct p2p_rlink {
	uv_loop_t *loop;
	uv_timer_t timer;
	p2p_rlink_opts o;
	p2p_rlink_cbs cbs;
	void *arg;
	int dead;		/* freed: call nothing */
	int failed;
	uint32_t tx_seq;
	struct rmsg *fly[MAX_WINDOW];	/* in flight, unordered */
	unsigned nfly;
	struct rmsg *qhead, *qtail;	/* waiting for the window */
	unsigned nq;
	/* RFC 6298 estimator, in ms */
	double srtt, rttvar;
	int have_rtt;
	unsigned rto;
	/* receiver */
	p2p_frame_history hist;
	uint64_t dd_hash[DEDUP_N];
	uint64_t dd_ms[DEDUP_N];
	unsigned dd_next;
	p2p_rlink_stats st;
};

static void rl_arm(p2p_rlink *r);

static unsigned
clamp(unsigned v, unsigned lo, unsigned hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void
opts_fill(p2p_rlink_opts *o, const p2p_rlink_opts *in)
{
	if (in != NULL)
		*o = *in;
	else
		memset(o, 0, sizeof(*o));
	if (o->window == 0)
		o->window = DEF_WINDOW;
	if (o->window > MAX_WINDOW)
		o->window = MAX_WINDOW;
	if (o->max_queue == 0)
		o->max_queue = DEF_QUEUE;
	if (o->rto_ms == 0)
		o->rto_ms = DEF_RTO_MS;
	if (o->min_rto_ms == 0)
		o->min_rto_ms = DEF_MIN_RTO_MS;
	if (o->max_rto_ms == 0)
		o->max_rto_ms = DEF_MAX_RTO_MS;
	if (o->max_rto_ms < o->min_rto_ms)
		o->max_rto_ms = o->min_rto_ms;
	if (o->max_tx == 0)
		o->max_tx = DEF_MAX_TX;
	if (o->max_tx > MAX_TX)
		o->max_tx = MAX_TX;
	if (o->dedup_ms == 0)
		o->dedup_ms = DEF_DEDUP_MS;
	if (o->max_msg == 0 || o->max_msg > P2P_FRAME_MAX_MSG)
		o->max_msg = P2P_FRAME_MAX_MSG;
}

p2p_rlink *
p2p_rlink_new(uv_loop_t *loop, const p2p_rlink_opts *o,
    const p2p_rlink_cbs *cbs, void *arg)
{
	p2p_rlink *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->loop = loop;
	opts_fill(&r->o, o);
	r->cbs = *cbs;
	r->arg = arg;
	r->rto = clamp(r->o.rto_ms, r->o.min_rto_ms, r->o.max_rto_ms);
	p2p_frame_history_init(&r->hist);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	return r;
}

static void
rmsg_free(struct rmsg *m)
{
	if (m == NULL)
		return;
	free(m->frame);
	free(m);
}

static void
rl_drop_all(p2p_rlink *r)
{
	struct rmsg *m;

	for (unsigned i = 0; i < r->nfly; i++)
		rmsg_free(r->fly[i]);
	r->nfly = 0;
	while ((m = r->qhead) != NULL) {
		r->qhead = m->next;
		rmsg_free(m);
	}
	r->qtail = NULL;
	r->nq = 0;
}

static void
rl_closed(uv_handle_t *h)
{
	free(h->data);
}

void
p2p_rlink_free(p2p_rlink *r)
{
	if (r == NULL || r->dead)
		return;
	r->dead = 1;
	rl_drop_all(r);
	uv_close((uv_handle_t *)&r->timer, rl_closed);
}

static void
rl_fail(p2p_rlink *r, const char *why)
{
	if (r->failed || r->dead)
		return;
	r->failed = 1;
	rl_drop_all(r);
	uv_timer_stop(&r->timer);
	if (r->cbs.failed != NULL)
		r->cbs.failed(r, why, r->arg);
}

/* ---- sending ---- */

static unsigned
rl_backoff(const p2p_rlink *r, unsigned ntx)
{
	uint64_t t = r->rto;

	for (unsigned i = 1; i < ntx && t < r->o.max_rto_ms; i++)
		t *= 2;
	return t > r->o.max_rto_ms ? r->o.max_rto_ms : (unsigned)t;
}

/* One more transmission of m under a new sequence number. */
static void
rl_transmit(p2p_rlink *r, struct rmsg *m)
{
	uint64_t now = uv_now(r->loop);
	uint32_t seq = r->tx_seq++;

	m->frame[1] = (uint8_t)(seq >> 24);
	m->frame[2] = (uint8_t)(seq >> 16);
	m->frame[3] = (uint8_t)(seq >> 8);
	m->frame[4] = (uint8_t)seq;
	m->seq[m->ntx] = seq;
	m->tx_ms[m->ntx] = now;
	m->ntx++;
	m->due_ms = now + rl_backoff(r, m->ntx);
	r->st.frames++;
	if (m->ntx > 1)
		r->st.retransmits++;
	(void)r->cbs.send(r, m->frame, m->len, r->arg);
}

/* Move queued messages into the window. */
static void
rl_fill(p2p_rlink *r)
{
	struct rmsg *m;

	while (!r->dead && !r->failed && r->nfly < r->o.window &&
	    (m = r->qhead) != NULL) {
		r->qhead = m->next;
		if (r->qhead == NULL)
			r->qtail = NULL;
		r->nq--;
		m->next = NULL;
		r->fly[r->nfly++] = m;
		rl_transmit(r, m);
	}
	rl_arm(r);
}

int
p2p_rlink_send(p2p_rlink *r, const uint8_t *msg, size_t len)
{
	struct rmsg *m;
	p2p_wbuf w;

	if (r == NULL || r->dead || r->failed || len == 0 ||
	    len > r->o.max_msg || r->nq >= r->o.max_queue)
		return -1;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -1;
	p2p_w_init(&w, P2P_FRAME_DATA_HDR + len);
	if (p2p_frame_data_encode(&w, 0, msg, len) != 0) {
		p2p_w_free(&w);
		free(m);
		return -1;
	}
	m->frame = w.p;		/* the buffer is m's now */
	m->len = w.len;
	if (r->qtail != NULL)
		r->qtail->next = m;
	else
		r->qhead = m;
	r->qtail = m;
	r->nq++;
	r->st.sent++;
	rl_fill(r);
	return 0;
}

static void
rl_timer_cb(uv_timer_t *t)
{
	p2p_rlink *r = t->data;
	uint64_t now = uv_now(r->loop);

	for (unsigned i = 0; i < r->nfly && !r->dead && !r->failed; i++) {
		struct rmsg *m = r->fly[i];

		if (m->due_ms > now)
			continue;
		if (m->ntx >= r->o.max_tx) {
			rl_fail(r, "no acknowledgement after the last "
			    "retransmission");
			return;
		}
		/* RFC 6298 s5.5: back the timer off. */
		r->rto = clamp(r->rto * 2, r->o.min_rto_ms, r->o.max_rto_ms);
		rl_transmit(r, m);
	}
	if (!r->dead && !r->failed)
		rl_arm(r);
}

static void
rl_arm(p2p_rlink *r)
{
	uint64_t next = UINT64_MAX, now;

	if (r->dead || r->failed)
		return;
	for (unsigned i = 0; i < r->nfly; i++)
		if (r->fly[i]->due_ms < next)
			next = r->fly[i]->due_ms;
	if (next == UINT64_MAX) {
		uv_timer_stop(&r->timer);
		return;
	}
	now = uv_now(r->loop);
	uv_timer_start(&r->timer, rl_timer_cb, next > now ? next - now : 0,
	    0);
}

/* ---- acknowledgements ---- */

static void
rl_rtt_sample(p2p_rlink *r, uint64_t sample_ms)
{
	double s = (double)sample_ms, rto;

	if (!r->have_rtt) {
		r->srtt = s;
		r->rttvar = s / 2;
		r->have_rtt = 1;
	} else {
		double d = r->srtt > s ? r->srtt - s : s - r->srtt;
		r->rttvar = 0.75 * r->rttvar + 0.25 * d;
		r->srtt = 0.875 * r->srtt + 0.125 * s;
	}
	rto = r->srtt + (4 * r->rttvar > 1 ? 4 * r->rttvar : 1);
	r->rto = clamp((unsigned)(rto + 0.5), r->o.min_rto_ms,
	    r->o.max_rto_ms);
}

static void
rl_ack(p2p_rlink *r, uint32_t ack_seq)
{
	r->st.acks_rcvd++;
	for (unsigned i = 0; i < r->nfly; i++) {
		struct rmsg *m = r->fly[i];

		for (unsigned k = 0; k < m->ntx; k++) {
			if (m->seq[k] != ack_seq)
				continue;
			rl_rtt_sample(r, uv_now(r->loop) - m->tx_ms[k]);
			r->fly[i] = r->fly[--r->nfly];
			rmsg_free(m);
			r->st.acked++;
			rl_fill(r);
			return;
		}
	}
	r->st.acks_stale++;	/* a second ACK, or of something given up */
}

/* ---- receiving ---- */

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h ^ n;
}

/* 1 if these bytes were delivered within dedup_ms; else remember them. */
static int
rl_seen(p2p_rlink *r, const uint8_t *msg, size_t len)
{
	uint64_t h = fnv1a(msg, len), now = uv_now(r->loop);

	for (unsigned i = 0; i < DEDUP_N; i++)
		if (r->dd_ms[i] != 0 && r->dd_hash[i] == h &&
		    now - r->dd_ms[i] < r->o.dedup_ms)
			return 1;
	r->dd_hash[r->dd_next] = h;
	r->dd_ms[r->dd_next] = now > 0 ? now : 1;
	r->dd_next = (r->dd_next + 1) % DEDUP_N;
	return 0;
}

static void
rl_send_ack(p2p_rlink *r, uint32_t seq)
{
	uint8_t ack[P2P_FRAME_ACK_LEN];

	p2p_frame_ack_for(&r->hist, seq, ack);
	r->st.acks_sent++;
	(void)r->cbs.send(r, ack, sizeof(ack), r->arg);
}

int
p2p_rlink_input(p2p_rlink *r, const uint8_t *rec, size_t len, p2p_err *err)
{
	p2p_bytes in = { rec, len };
	p2p_frame f;

	if (r->dead || r->failed)
		return 0;
	if (p2p_frame_decode(in, r->o.max_msg, &f, err) != 0)
		return -1;
	if (f.type == P2P_FRAME_ACK) {
		rl_ack(r, f.seq);
		return 0;
	}
	rl_send_ack(r, f.seq);
	if (r->dead || r->failed)
		return 0;
	if (rl_seen(r, f.message.p, f.message.len)) {
		r->st.duplicates++;
		return 0;
	}
	r->st.delivered++;
	if (r->cbs.deliver != NULL)
		r->cbs.deliver(r, f.message.p, f.message.len, r->arg);
	return 0;
}

/* ---- state ---- */

void
p2p_rlink_stats_get(const p2p_rlink *r, p2p_rlink_stats *st)
{
	*st = r->st;
	st->srtt_ms = r->have_rtt ? (unsigned)(r->srtt + 0.5) : 0;
	if (r->have_rtt && st->srtt_ms == 0)
		st->srtt_ms = 1;
	st->rto_ms = r->rto;
	st->in_flight = r->nfly;
	st->queued = r->nq;
}

unsigned
p2p_rlink_pending(const p2p_rlink *r)
{
	return r->nfly + r->nq;
}
