#include "txn.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

void
p2p_txn_params_default(p2p_txn_params *p)
{
	p->max_pending = 4096;
	p->retransmit_ms = 3000;
	p->max_sends = 5;
	p->lifetime_ms = 15000;
}

int
p2p_txn_table_init(p2p_txn_table *t, const p2p_txn_params *p)
{
	memset(t, 0, sizeof(*t));
	if (p != NULL)
		t->params = *p;
	else
		p2p_txn_params_default(&t->params);
	if (t->params.retransmit_ms < 200)
		t->params.retransmit_ms = 200;
	if (t->params.max_sends == 0)
		t->params.max_sends = 1;
	if (t->params.max_pending == 0)
		return -1;
	t->nbuckets = 256;
	while (t->nbuckets < t->params.max_pending && t->nbuckets < 65536)
		t->nbuckets *= 2;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	return t->buckets != NULL ? 0 : -1;
}

static p2p_txn **
slot(const p2p_txn_table *t, uint64_t tid)
{
	uint64_t h = tid * 0x9e3779b97f4a7c15ull;

	return &t->buckets[(h >> 32) & (t->nbuckets - 1)];
}

static p2p_txn *
unlink_txn(p2p_txn_table *t, uint64_t tid)
{
	p2p_txn **pp = slot(t, tid), *x;

	for (; (x = *pp) != NULL; pp = &x->next) {
		if (x->tid == tid) {
			*pp = x->next;
			t->count--;
			return x;
		}
	}
	return NULL;
}

static void
finish(p2p_txn *x, enum p2p_txn_status st, const struct p2p_msg *ans,
    p2p_bytes raw)
{
	p2p_txn_cb cb = x->cb;
	void *user = x->user;

	free(x->bytes);
	free(x);
	if (cb != NULL)
		cb(user, st, ans, raw);
}

void
p2p_txn_table_free(p2p_txn_table *t)
{
	static const p2p_bytes none;

	if (t->buckets == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		p2p_txn *x;
		while ((x = t->buckets[i]) != NULL) {
			t->buckets[i] = x->next;
			t->count--;
			finish(x, P2P_TXN_CANCELLED, NULL, none);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

uint64_t
p2p_txn_new_id(const p2p_txn_table *t)
{
	uint64_t tid;

	do {
		if (RAND_bytes((unsigned char *)&tid, sizeof(tid)) != 1)
			abort();	/* no randomness: nothing is safe */
	} while (tid == 0 || p2p_txn_find(t, tid) != NULL);
	return tid;
}

p2p_txn *
p2p_txn_add(p2p_txn_table *t, uint64_t tid, const uint8_t *bytes, size_t len,
    uint64_t now_ms, p2p_txn_cb cb, void *user)
{
	p2p_txn *x, **pp;

	if (t->count >= t->params.max_pending || p2p_txn_find(t, tid) != NULL)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	if (len > 0) {
		x->bytes = malloc(len);
		if (x->bytes == NULL) {
			free(x);
			return NULL;
		}
		memcpy(x->bytes, bytes, len);
	}
	x->len = len;
	x->tid = tid;
	x->first_ms = now_ms;
	x->deadline_ms = now_ms + t->params.lifetime_ms;
	x->sends = 1;
	x->next_ms = x->sends < t->params.max_sends ?
	    now_ms + t->params.retransmit_ms : x->deadline_ms;
	if (x->next_ms > x->deadline_ms)
		x->next_ms = x->deadline_ms;
	x->cb = cb;
	x->user = user;
	pp = slot(t, tid);
	x->next = *pp;
	*pp = x;
	t->count++;
	return x;
}

p2p_txn *
p2p_txn_find(const p2p_txn_table *t, uint64_t tid)
{
	for (p2p_txn *x = *slot(t, tid); x != NULL; x = x->next)
		if (x->tid == tid)
			return x;
	return NULL;
}

int
p2p_txn_finish(p2p_txn_table *t, uint64_t tid, enum p2p_txn_status st,
    const struct p2p_msg *ans, p2p_bytes raw)
{
	p2p_txn *x = unlink_txn(t, tid);

	if (x == NULL)
		return -1;
	finish(x, st, ans, raw);
	return 0;
}

uint64_t
p2p_txn_next_due(const p2p_txn_table *t)
{
	uint64_t next = UINT64_MAX;

	if (t->count == 0)
		return next;
	for (size_t i = 0; i < t->nbuckets; i++)
		for (const p2p_txn *x = t->buckets[i]; x != NULL; x = x->next) {
			if (x->next_ms < next)
				next = x->next_ms;
			if (x->deadline_ms < next)
				next = x->deadline_ms;
		}
	return next;
}

uint64_t
p2p_txn_tick(p2p_txn_table *t, uint64_t now_ms,
    void (*resend)(void *ctx, p2p_txn *x), void *ctx)
{
	static const p2p_bytes none;
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < t->nbuckets; i++) {
		p2p_txn **pp = &t->buckets[i], *x;

		while ((x = *pp) != NULL) {
			if (now_ms >= x->deadline_ms) {
				*pp = x->next;
				t->count--;
				finish(x, P2P_TXN_TIMEOUT, NULL, none);
				continue;
			}
			if (now_ms >= x->next_ms) {
				if (x->sends < t->params.max_sends &&
				    resend != NULL) {
					x->sends++;
					resend(ctx, x);
				}
				x->next_ms = x->sends < t->params.max_sends ?
				    now_ms + t->params.retransmit_ms :
				    x->deadline_ms;
				if (x->next_ms > x->deadline_ms)
					x->next_ms = x->deadline_ms;
			}
			if (x->next_ms < next)
				next = x->next_ms;
			pp = &x->next;
		}
	}
	return next;
}

void
p2p_txn_fail_link(p2p_txn_table *t, uint64_t link_id)
{
	static const p2p_bytes none;

	if (link_id == 0)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		p2p_txn **pp = &t->buckets[i], *x;

		while ((x = *pp) != NULL) {
			if (x->link_id == link_id) {
				*pp = x->next;
				t->count--;
				finish(x, P2P_TXN_LINK_FAILED, NULL, none);
				continue;
			}
			pp = &x->next;
		}
	}
}
