/*
 * An in-memory p2p_dgram pair for the unit tests of DTLS and the
 * reliability layer: two ends on one loop, datagrams delivered from a
 * timer (never from inside the sender), with loss, duplication and
 * reordering injected by a seeded generator.
 */
#ifndef P2P_MEMPATH_H
#define P2P_MEMPATH_H

#include <uv.h>

#include "dgram.h"

#define MP_MAXQ 256

struct mp_pkt {
	uint8_t *buf;
	size_t len;
	uint64_t due;		/* loop time at which to deliver */
};

struct mp_end {
	p2p_dgram d;
	struct mempath *mp;
	struct mp_end *other;
	int closed;		/* the user called close */
	unsigned sent, dropped;
	struct mp_pkt q[MP_MAXQ];	/* datagrams on their way here */
	size_t nq;
};

struct mempath {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct mp_end a, b;
	unsigned loss_pct;	/* each datagram lost with this chance */
	unsigned reorder_pct;	/* delayed by 1..20 ms with this chance */
	unsigned dup_pct;	/* delivered twice with this chance */
	unsigned delay_ms;	/* base one-way delay */
	unsigned drop_first;	/* the first N datagrams of a are lost */
	uint32_t seed;
	int closing;
};

static inline uint32_t
mp_rand(struct mempath *mp)
{
	uint32_t x = mp->seed;		/* xorshift32 */

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	mp->seed = x;
	return x % 100;
}

static void mp_timer_cb(uv_timer_t *t);

static inline void
mp_arm(struct mempath *mp)
{
	uint64_t next = UINT64_MAX, now = uv_now(mp->loop);
	struct mp_end *ends[2] = { &mp->a, &mp->b };

	for (int e = 0; e < 2; e++)
		for (size_t i = 0; i < ends[e]->nq; i++)
			if (ends[e]->q[i].due < next)
				next = ends[e]->q[i].due;
	if (next == UINT64_MAX || mp->closing) {
		uv_timer_stop(&mp->timer);
		return;
	}
	uv_timer_start(&mp->timer, mp_timer_cb, next > now ? next - now : 0,
	    0);
}

static inline void
mp_queue(struct mp_end *to, const uint8_t *buf, size_t len, uint64_t due)
{
	struct mp_pkt *p;

	if (to->nq == MP_MAXQ)
		return;		/* a full queue loses the datagram */
	p = &to->q[to->nq++];
	p->buf = malloc(len);
	assert_non_null(p->buf);
	memcpy(p->buf, buf, len);
	p->len = len;
	p->due = due;
}

static inline int
mp_send(p2p_dgram *d, const uint8_t *buf, size_t len)
{
	struct mp_end *from = d->impl;
	struct mempath *mp = from->mp;
	uint64_t due = uv_now(mp->loop) + mp->delay_ms;

	assert_false(from->closed);
	assert_true(len <= 65507);	/* what UDP carries */
	from->sent++;
	if ((from == &mp->a && from->sent <= mp->drop_first) ||
	    mp_rand(mp) < mp->loss_pct) {
		from->dropped++;
		return 0;
	}

	if (mp_rand(mp) < mp->reorder_pct)
		due += 1 + mp_rand(mp) % 20;
	mp_queue(from->other, buf, len, due);
	if (mp_rand(mp) < mp->dup_pct)
		mp_queue(from->other, buf, len, due + 1);
	mp_arm(mp);
	return 0;
}

static inline void
mp_close(p2p_dgram *d)
{
	struct mp_end *e = d->impl;

	e->closed = 1;
}

static const p2p_dgram_ops mp_ops = { mp_send, mp_close };

/* Deliver every datagram that is due, oldest due first per end. */
static void
mp_timer_cb(uv_timer_t *t)
{
	struct mempath *mp = t->data;
	uint64_t now = uv_now(mp->loop);
	struct mp_end *ends[2] = { &mp->a, &mp->b };

	for (int e = 0; e < 2; e++) {
		struct mp_end *to = ends[e];
		size_t i = 0;

		while (i < to->nq) {
			struct mp_pkt p = to->q[i];

			if (p.due > now) {
				i++;
				continue;
			}
			memmove(&to->q[i], &to->q[i + 1],
			    (to->nq - i - 1) * sizeof(to->q[0]));
			to->nq--;
			if (!to->closed && !mp->closing)
				p2p_dgram_deliver(&to->d, p.buf, p.len);
			free(p.buf);
		}
	}
	mp_arm(mp);
}

static inline void
mp_init(struct mempath *mp, uv_loop_t *loop, size_t mtu, uint32_t seed)
{
	memset(mp, 0, sizeof(*mp));
	mp->loop = loop;
	mp->seed = seed * 2654435761u + 1;
	uv_timer_init(loop, &mp->timer);
	mp->timer.data = mp;
	mp->a.mp = mp->b.mp = mp;
	mp->a.other = &mp->b;
	mp->b.other = &mp->a;
	mp->a.d.ops = mp->b.d.ops = &mp_ops;
	mp->a.d.impl = &mp->a;
	mp->b.d.impl = &mp->b;
	mp->a.d.mtu = mp->b.d.mtu = mtu;
	snprintf(mp->a.d.peer, sizeof(mp->a.d.peer), "192.0.2.2:4000");
	snprintf(mp->b.d.peer, sizeof(mp->b.d.peer), "192.0.2.1:4000");
}

/* Stop delivering and free what is queued; the timer handle closes. */
static inline void
mp_shutdown(struct mempath *mp)
{
	struct mp_end *ends[2] = { &mp->a, &mp->b };

	mp->closing = 1;
	for (int e = 0; e < 2; e++) {
		for (size_t i = 0; i < ends[e]->nq; i++)
			free(ends[e]->q[i].buf);
		ends[e]->nq = 0;
	}
	if (!uv_is_closing((uv_handle_t *)&mp->timer))
		uv_close((uv_handle_t *)&mp->timer, NULL);
}

#endif
