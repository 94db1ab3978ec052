/*
 * media_rtp: an RTP (RFC 3550) G.711 audio session on one UDP socket.
 *
 * Sending: the play buffer is cut into 20 ms frames of 160 samples (the
 * last one padded with silence). Frame k is due at start + 20k ms on the
 * monotonic clock (uv_hrtime); each timer run sends every frame that is
 * due and sleeps until the next, so a late timer never shifts the frames
 * after it. The first packet carries the marker bit; the sequence number,
 * timestamp and SSRC start at random values (RFC 3550 s5.1).
 *
 * Receiving: see media.h. Packets from any other address than the remote
 * one are dropped and counted as bad, as are invalid ones and those whose
 * timestamp falls outside the record window.
 *
 * Lifetime: the handles live inside the session; p2p_rtp_free closes them
 * and the last close callback frees the memory, so a callback running
 * when free is called (on_play_done may call it) still has a valid r.
 */
#include "media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "dgram.h"
#include "sockaddr.h"

#define RTP_HDR		12
#define FRAME_SAMPLES	160
#define FRAME_NS	20000000ull
#define RTP_RATE	8000u
#define RECV_BUF	2048

struct p2p_rtp {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_timer_t timer;
	int open_handles;
	int freeing;

	struct sockaddr_storage remote;
	p2p_dgram *path;	/* p2p_rtp_start_path: the ICE pair */
	int over_path;		/* started on a path (maybe gone since) */
	int started, sending, receiving;
	int pt;

	int16_t *play;
	size_t nplay;
	void (*on_play_done)(p2p_rtp *, void *);
	void (*on_path_gone)(p2p_rtp *, const char *, void *);
	void *user;
	uint64_t t0;		/* uv_hrtime of frame 0 */
	uint64_t frame;		/* next frame to send */
	uint16_t seq;
	uint32_t ts, ssrc;

	int have_first;
	uint32_t first_ts;
	int16_t *rec;
	size_t nrec, caprec, maxrec;

	p2p_rtp_stats st;
	uint8_t rbuf[RECV_BUF];
};

static void
seterr(char *err, size_t errlen, const char *what, int uverr)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s%s%s", what, uverr ? ": " : "",
		    uverr ? uv_strerror(uverr) : "");
}

static void
on_closed(uv_handle_t *h)
{
	p2p_rtp *r = h->data;

	if (--r->open_handles > 0)
		return;
	free(r->play);
	free(r->rec);
	free(r);
}

p2p_rtp *
p2p_rtp_new(uv_loop_t *loop, const char *bind_ip, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	p2p_rtp *r;
	int e;

	if (p2p_sa_parse(bind_ip, 0, &ss) != 0) {
		seterr(err, errlen, "RTP: bind address is not a numeric IP "
		    "address", 0);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		seterr(err, errlen, "RTP: out of memory", 0);
		return NULL;
	}
	r->loop = loop;
	r->maxrec = 600 * RTP_RATE;
	if ((e = uv_udp_init(loop, &r->udp)) != 0) {
		free(r);
		seterr(err, errlen, "RTP: UDP socket", e);
		return NULL;
	}
	r->udp.data = r;
	r->open_handles = 1;
	if ((e = uv_timer_init(loop, &r->timer)) != 0) {
		seterr(err, errlen, "RTP: timer", e);
		p2p_rtp_free(r);
		return NULL;
	}
	r->timer.data = r;
	r->open_handles++;
	if ((e = uv_udp_bind(&r->udp, (struct sockaddr *)&ss, 0)) != 0) {
		seterr(err, errlen, "RTP: cannot bind the UDP socket", e);
		p2p_rtp_free(r);
		return NULL;
	}
	return r;
}

uint16_t
p2p_rtp_port(const p2p_rtp *r)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), port;

	if (uv_udp_getsockname(&r->udp, (struct sockaddr *)&ss, &len) != 0 ||
	    (port = p2p_sa_port((const struct sockaddr *)&ss)) < 0)
		return 0;
	return (uint16_t)port;
}

void
p2p_rtp_set_max_record(p2p_rtp *r, unsigned seconds)
{
	if (seconds > 24 * 3600)
		seconds = 24 * 3600;
	r->maxrec = (size_t)seconds * RTP_RATE;
}

int
p2p_rtp_parse(const uint8_t *pkt, size_t len, p2p_rtp_hdr *out)
{
	size_t hlen, pad = 0;

	if (pkt == NULL || len < RTP_HDR || (pkt[0] >> 6) != 2)
		return -1;
	hlen = RTP_HDR + 4 * (size_t)(pkt[0] & 0x0f);
	if (len < hlen)
		return -1;
	if (pkt[0] & 0x10) {
		if (len - hlen < 4)
			return -1;
		hlen += 4 + 4 * (size_t)(pkt[hlen + 2] << 8 | pkt[hlen + 3]);
		if (len < hlen)
			return -1;
	}
	if (pkt[0] & 0x20) {
		pad = pkt[len - 1];
		if (pad == 0 || pad > len - hlen)
			return -1;
	}
	out->marker = pkt[1] >> 7;
	out->pt = pkt[1] & 0x7f;
	out->seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
	out->ts = (uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 |
	    (uint32_t)pkt[6] << 8 | pkt[7];
	out->ssrc = (uint32_t)pkt[8] << 24 | (uint32_t)pkt[9] << 16 |
	    (uint32_t)pkt[10] << 8 | pkt[11];
	out->payload = pkt + hlen;
	out->plen = len - hlen - pad;
	return 0;
}

/* Make room for samples [0, upto) in the record buffer, zero-filled. */
static int
rec_reserve(p2p_rtp *r, size_t upto)
{
	size_t cap;
	int16_t *p;

	if (upto <= r->caprec)
		return 0;
	cap = r->caprec > 0 ? r->caprec : 10 * RTP_RATE;
	while (cap < upto)
		cap *= 2;
	if (cap > r->maxrec)
		cap = r->maxrec;
	if ((p = realloc(r->rec, cap * sizeof(*p))) == NULL)
		return -1;
	memset(p + r->caprec, 0, (cap - r->caprec) * sizeof(*p));
	r->rec = p;
	r->caprec = cap;
	return 0;
}

/* One datagram from the peer: decode it into the record buffer. */
static void
take_packet(p2p_rtp *r, const uint8_t *pkt, size_t len)
{
	p2p_rtp_hdr h;
	int64_t off;
	size_t i;

	if (p2p_rtp_parse(pkt, len, &h) != 0) {
		r->st.bad++;
		return;
	}
	if (h.pt != P2P_PT_PCMU && h.pt != P2P_PT_PCMA) {
		r->st.other_pt++;
		return;
	}
	if (!r->have_first) {
		r->have_first = 1;
		r->first_ts = h.ts;
	}
	off = (int32_t)(h.ts - r->first_ts);
	if (off < 0 || (uint64_t)off + h.plen > r->maxrec ||
	    rec_reserve(r, (size_t)off + h.plen) != 0) {
		r->st.bad++;
		return;
	}
	for (i = 0; i < h.plen; i++)
		r->rec[off + i] = h.pt == P2P_PT_PCMU ?
		    p2p_g711_ulaw_dec(h.payload[i]) :
		    p2p_g711_alaw_dec(h.payload[i]);
	if ((size_t)off + h.plen > r->nrec)
		r->nrec = (size_t)off + h.plen;
	r->st.received++;
}

static void
on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *addr, unsigned flags)
{
	p2p_rtp *r = u->data;

	if (nread == 0 || addr == NULL || !r->receiving)
		return;
	if (nread < 0 || (flags & UV_UDP_PARTIAL) ||
	    !p2p_sa_eq(addr, (const struct sockaddr *)&r->remote)) {
		r->st.bad++;
		return;
	}
	take_packet(r, (const uint8_t *)buf->base, (size_t)nread);
}

static void
path_recv(p2p_dgram *d, const uint8_t *buf, size_t len, void *arg)
{
	p2p_rtp *r = arg;

	if (r->receiving)
		take_packet(r, buf, len);
}

static void
path_gone(p2p_dgram *d, const char *why, void *arg)
{
	p2p_rtp *r = arg;

	r->path = NULL;		/* the owner has ended it */
	if (r->on_path_gone != NULL && !r->freeing)
		r->on_path_gone(r, why, r->user);	/* may free r */
}

void
p2p_rtp_on_path_gone(p2p_rtp *r,
    void (*on_gone)(p2p_rtp *r, const char *why, void *user))
{
	r->on_path_gone = on_gone;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	p2p_rtp *r = h->data;

	buf->base = (char *)r->rbuf;
	buf->len = sizeof(r->rbuf);
}

static void
send_frame(p2p_rtp *r)
{
	uint8_t pkt[RTP_HDR + FRAME_SAMPLES];
	size_t i, at = (size_t)r->frame * FRAME_SAMPLES;
	uint32_t ts = r->ts + (uint32_t)(r->frame * FRAME_SAMPLES);
	uint16_t seq = (uint16_t)(r->seq + r->frame);
	int16_t s;
	uv_buf_t b;

	pkt[0] = 0x80;
	pkt[1] = (uint8_t)((r->frame == 0 ? 0x80 : 0) | r->pt);
	pkt[2] = (uint8_t)(seq >> 8);
	pkt[3] = (uint8_t)seq;
	for (i = 0; i < 4; i++) {
		pkt[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		pkt[8 + i] = (uint8_t)(r->ssrc >> (24 - 8 * i));
	}
	for (i = 0; i < FRAME_SAMPLES; i++) {
		s = at + i < r->nplay ? r->play[at + i] : 0;
		pkt[RTP_HDR + i] = r->pt == P2P_PT_PCMU ?
		    p2p_g711_ulaw_enc(s) : p2p_g711_alaw_enc(s);
	}
	if (r->over_path) {
		if (r->path != NULL &&
		    p2p_dgram_send(r->path, pkt, sizeof(pkt)) == 0)
			r->st.sent++;
		return;
	}
	b = uv_buf_init((char *)pkt, sizeof(pkt));
	if (uv_udp_try_send(&r->udp, &b, 1, (struct sockaddr *)&r->remote) ==
	    (int)sizeof(pkt))
		r->st.sent++;
}

static void
on_timer(uv_timer_t *t)
{
	p2p_rtp *r = t->data;
	uint64_t now, nframes, due;

	if (!r->sending)
		return;
	nframes = (r->nplay + FRAME_SAMPLES - 1) / FRAME_SAMPLES;
	now = uv_hrtime();
	while (r->frame < nframes && r->t0 + r->frame * FRAME_NS <= now) {
		send_frame(r);
		r->frame++;
	}
	if (r->frame >= nframes) {
		r->sending = 0;
		if (r->on_play_done != NULL)
			r->on_play_done(r, r->user);
		return;	/* r may be freeing now */
	}
	due = r->t0 + r->frame * FRAME_NS;
	uv_timer_start(&r->timer, on_timer, (due - now + 999999) / 1000000, 0);
}

/* What both ways of starting share: random sequence, timestamp and
 * SSRC, a copy of what to play, the send timer. */
static int
start_common(p2p_rtp *r, int pt, const p2p_pcm *play,
    void (*on_play_done)(p2p_rtp *r, void *user), void *user)
{
	uint8_t rnd[10];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	r->seq = (uint16_t)(rnd[0] << 8 | rnd[1]);
	r->ts = (uint32_t)rnd[2] << 24 | (uint32_t)rnd[3] << 16 |
	    (uint32_t)rnd[4] << 8 | rnd[5];
	r->ssrc = (uint32_t)rnd[6] << 24 | (uint32_t)rnd[7] << 16 |
	    (uint32_t)rnd[8] << 8 | rnd[9];
	if (play != NULL && play->n > 0) {
		if ((r->play = malloc(play->n * sizeof(*r->play))) == NULL)
			return -1;
		memcpy(r->play, play->s, play->n * sizeof(*r->play));
		r->nplay = play->n;
	}
	r->started = r->receiving = 1;
	r->pt = pt;
	r->user = user;
	if (play != NULL) {
		r->on_play_done = on_play_done;
		r->sending = 1;
		r->t0 = uv_hrtime();
		r->frame = 0;
		uv_timer_start(&r->timer, on_timer, 0, 0);
	}
	return 0;
}

static int
start_ok(const p2p_rtp *r, int pt, const p2p_pcm *play)
{
	return r != NULL && !r->freeing && !r->started &&
	    (pt == P2P_PT_PCMU || pt == P2P_PT_PCMA) &&
	    (play == NULL || play->rate == RTP_RATE) &&
	    (play == NULL || play->n == 0 || play->s != NULL);
}

int
p2p_rtp_start(p2p_rtp *r, const char *remote_ip, uint16_t remote_port,
    int pt, const p2p_pcm *play, void (*on_play_done)(p2p_rtp *r, void *user),
    void *user)
{
	struct sockaddr_storage local;
	int len = sizeof(local);

	if (!start_ok(r, pt, play) ||
	    p2p_sa_parse(remote_ip, remote_port, &r->remote) != 0 ||
	    remote_port == 0)
		return -1;
	if (uv_udp_getsockname(&r->udp, (struct sockaddr *)&local, &len) != 0 ||
	    local.ss_family != r->remote.ss_family)
		return -1;
	if (uv_udp_recv_start(&r->udp, on_alloc, on_recv) != 0)
		return -1;
	if (start_common(r, pt, play, on_play_done, user) != 0) {
		uv_udp_recv_stop(&r->udp);
		return -1;
	}
	return 0;
}

int
p2p_rtp_start_path(p2p_rtp *r, p2p_dgram *path, int pt, const p2p_pcm *play,
    void (*on_play_done)(p2p_rtp *r, void *user), void *user)
{
	if (!start_ok(r, pt, play) || path == NULL)
		return -1;
	if (start_common(r, pt, play, on_play_done, user) != 0)
		return -1;
	r->path = path;
	r->over_path = 1;
	path->on_recv = path_recv;
	path->on_gone = path_gone;
	path->arg = r;
	return 0;
}

const int16_t *
p2p_rtp_recorded(const p2p_rtp *r, size_t *n)
{
	*n = r->nrec;
	return r->rec;
}

void
p2p_rtp_get_stats(const p2p_rtp *r, p2p_rtp_stats *st)
{
	*st = r->st;
}

void
p2p_rtp_stop(p2p_rtp *r)
{
	if (r == NULL)
		return;
	r->sending = 0;
	if (r->receiving && !r->over_path)
		uv_udp_recv_stop(&r->udp);
	r->receiving = 0;
	if (!r->freeing)
		uv_timer_stop(&r->timer);
}

void
p2p_rtp_free(p2p_rtp *r)
{
	if (r == NULL || r->freeing)
		return;
	p2p_rtp_stop(r);
	r->freeing = 1;
	if (r->path != NULL) {
		r->path->on_recv = NULL;
		r->path->on_gone = NULL;
		p2p_dgram_close(r->path);	/* ends the ICE agent too */
		r->path = NULL;
	}
	if (r->open_handles == 2)
		uv_close((uv_handle_t *)&r->timer, on_closed);
	uv_close((uv_handle_t *)&r->udp, on_closed);
}
