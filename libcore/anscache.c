#include "anscache.h"

#include <stdlib.h>
#include <string.h>

#define DEF_ENTRIES	1024
#define DEF_BYTES	(1024 * 1024)
#define DEF_AGE_MS	15000

typedef struct entry {
	p2p_anscache_req r;
	uint64_t born_ms;
	int answered;
	uint8_t *ans;
	size_t len;
	struct entry *prev, *next;	/* oldest first */
	struct entry *hnext;		/* hash chain */
} entry;

struct p2p_anscache {
	p2p_anscache_limits lim;
	entry **buckets;
	size_t nbuckets;
	entry *oldest, *newest;
	p2p_anscache_stats st;
};

p2p_anscache *
p2p_anscache_new(const p2p_anscache_limits *lim)
{
	p2p_anscache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (lim != NULL)
		c->lim = *lim;
	if (c->lim.max_entries == 0)
		c->lim.max_entries = DEF_ENTRIES;
	if (c->lim.max_bytes == 0)
		c->lim.max_bytes = DEF_BYTES;
	if (c->lim.max_age_ms == 0)
		c->lim.max_age_ms = DEF_AGE_MS;
	c->nbuckets = 64;
	while (c->nbuckets < c->lim.max_entries && c->nbuckets < 65536)
		c->nbuckets *= 2;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

static entry **
bucket(const p2p_anscache *c, uint64_t tid)
{
	uint64_t h = tid * 0x9e3779b97f4a7c15ull;

	return &c->buckets[(h >> 32) & (c->nbuckets - 1)];
}

static void
drop(p2p_anscache *c, entry *e)
{
	entry **pp;

	for (pp = bucket(c, e->r.tid); *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->oldest = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->newest = e->prev;
	c->st.entries--;
	c->st.bytes -= e->len;
	free(e->ans);
	free(e);
}

void
p2p_anscache_free(p2p_anscache *c)
{
	if (c == NULL)
		return;
	while (c->oldest != NULL)
		drop(c, c->oldest);
	free(c->buckets);
	free(c);
}

uint64_t
p2p_anscache_fp(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h != 0 ? h : 1;
}

size_t
p2p_anscache_expire(p2p_anscache *c, uint64_t now_ms)
{
	size_t k = 0;

	while (c->oldest != NULL &&
	    now_ms - c->oldest->born_ms >= c->lim.max_age_ms) {
		drop(c, c->oldest);
		k++;
	}
	return k;
}

uint64_t
p2p_anscache_next_due(const p2p_anscache *c)
{
	return c->oldest != NULL ? c->oldest->born_ms + c->lim.max_age_ms :
	    UINT64_MAX;
}

enum p2p_anscache_state
p2p_anscache_request(p2p_anscache *c, const p2p_anscache_req *r,
    uint64_t now_ms, const uint8_t **ans, size_t *len)
{
	entry *e, **b;

	(void)p2p_anscache_expire(c, now_ms);
	b = bucket(c, r->tid);
	for (e = *b; e != NULL; e = e->hnext) {
		if (e->r.tid != r->tid || e->r.code != r->code ||
		    !p2p_id_eq(&e->r.signer, &r->signer))
			continue;
		if (!e->answered) {
			c->st.ignored++;
			return P2P_ANSCACHE_PENDING;
		}
		*ans = e->ans;
		*len = e->len;
		c->st.resent++;
		return P2P_ANSCACHE_ANSWERED;
	}
	if (c->st.entries >= c->lim.max_entries) {
		drop(c, c->oldest);
		c->st.evicted++;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return P2P_ANSCACHE_NEW;
	e->r = *r;
	e->born_ms = now_ms;
	e->hnext = *b;
	*b = e;
	e->prev = c->newest;
	if (c->newest != NULL)
		c->newest->next = e;
	else
		c->oldest = e;
	c->newest = e;
	c->st.entries++;
	c->st.requests++;
	return P2P_ANSCACHE_NEW;
}

static entry *
find_pending(const p2p_anscache *c, uint64_t tid, uint16_t code,
    uint64_t sig_fp, const p2p_id *origin)
{
	entry *e;

	for (e = *bucket(c, tid); e != NULL; e = e->hnext) {
		if (e->answered || e->r.tid != tid ||
		    (code != 0 && e->r.code != code))
			continue;
		if (sig_fp != 0 ? e->r.sig_fp == sig_fp :
		    origin != NULL && p2p_id_eq(&e->r.origin, origin))
			return e;
	}
	return NULL;
}

int
p2p_anscache_pending(const p2p_anscache *c, uint64_t tid, uint16_t code,
    uint64_t sig_fp, const p2p_id *origin)
{
	return find_pending(c, tid, code, sig_fp, origin) != NULL;
}

int
p2p_anscache_answer(p2p_anscache *c, uint64_t tid, uint16_t code,
    uint64_t sig_fp, const p2p_id *origin, const uint8_t *ans, size_t len)
{
	entry *e = find_pending(c, tid, code, sig_fp, origin);

	if (e == NULL)
		return -1;
	if (len > c->lim.max_bytes / 8 || len == 0 ||
	    (e->ans = malloc(len)) == NULL) {
		c->st.too_large += len > 0 && len > c->lim.max_bytes / 8;
		drop(c, e);
		return -1;
	}
	memcpy(e->ans, ans, len);
	e->len = len;
	e->answered = 1;
	c->st.bytes += len;
	c->st.answered++;
	/* Room for it: the oldest others go. */
	for (entry *o = c->oldest, *nx; o != NULL &&
	    c->st.bytes > c->lim.max_bytes; o = nx) {
		nx = o->next;
		if (o != e) {
			drop(c, o);
			c->st.evicted++;
		}
	}
	return 0;
}

const p2p_anscache_stats *
p2p_anscache_get_stats(const p2p_anscache *c)
{
	return &c->st;
}
