/*
 * libFuzzer target: the media parsers, p2p_sdp_parse, p2p_rtp_parse and
 * p2p_wav_parse.
 *
 * Input: byte 0 picks the parser (modulo 3: SDP, RTP, WAV); for WAV byte 1
 * picks the rate asked for. The rest is the input, in a heap block of its
 * exact size so that any over-read is caught. What a parser accepts must
 * be consistent: an SDP's address is a numeric one, its payload types are
 * 0 or 8 and an answer built from it parses back to the same; its ICE
 * attributes are either absent or complete and valid, and an answer that
 * carries them back parses to the same credentials and candidates; an
 * RTP payload lies inside the packet; a WAV decodes to the rate asked for.
 */
#include <arpa/inet.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media.h"

static const unsigned rates[] = { 0, 8000, 16000, 44100 };

/* A NUL-terminated string of min..max ice-chars in f[cap]. */
static int
ice_str(const char *f, size_t cap, size_t min, size_t max)
{
	const char *nul = memchr(f, '\0', cap);
	size_t n;

	if (nul == NULL || (n = (size_t)(nul - f)) < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(f[i] >= 'a' && f[i] <= 'z') &&
		    !(f[i] >= 'A' && f[i] <= 'Z') &&
		    !(f[i] >= '0' && f[i] <= '9') && f[i] != '+' && f[i] != '/')
			return 0;
	return 1;
}

static int
numeric(const char *a, size_t cap)
{
	unsigned char tmp[16];

	return memchr(a, '\0', cap) != NULL &&
	    (inet_pton(AF_INET, a, tmp) == 1 ||
	    inet_pton(AF_INET6, a, tmp) == 1);
}

/* What p2p_sdp_parse gives in a.ice must be empty or valid throughout. */
static void
check_ice(const p2p_sdp_ice *ice)
{
	static const char *const types[] = { "host", "srflx", "prflx",
	    "relay" };
	const p2p_sdp_cand *c;
	size_t k;

	if (ice->ufrag[0] == '\0') {
		if (ice->pwd[0] != '\0' || ice->ncands != 0)
			abort();
		return;
	}
	if (!ice_str(ice->ufrag, sizeof(ice->ufrag), 4, 256) ||
	    !ice_str(ice->pwd, sizeof(ice->pwd), 22, 256) ||
	    ice->ncands > P2P_SDP_MAX_CANDS)
		abort();
	for (size_t i = 0; i < ice->ncands; i++) {
		c = &ice->cands[i];
		for (k = 0; k < 4 && strcmp(c->type, types[k]) != 0; k++)
			;
		if (!ice_str(c->foundation, sizeof(c->foundation), 1, 32) ||
		    c->priority == 0 || c->priority > 0x7fffffffu ||
		    !numeric(c->ip, sizeof(c->ip)) || k == 4 ||
		    memchr(c->raddr, '\0', sizeof(c->raddr)) == NULL ||
		    (c->raddr[0] == '\0' ? c->rport != 0 :
		    !numeric(c->raddr, sizeof(c->raddr))))
			abort();
	}
}

/* b's ICE is a's, field by field. */
static void
same_ice(const p2p_sdp_ice *a, const p2p_sdp_ice *b)
{
	const p2p_sdp_cand *x, *y;

	if (strcmp(a->ufrag, b->ufrag) != 0 || strcmp(a->pwd, b->pwd) != 0 ||
	    a->ncands != b->ncands)
		abort();
	for (size_t i = 0; i < a->ncands; i++) {
		x = &a->cands[i];
		y = &b->cands[i];
		if (strcmp(x->foundation, y->foundation) != 0 ||
		    x->priority != y->priority || strcmp(x->ip, y->ip) != 0 ||
		    x->port != y->port || strcmp(x->type, y->type) != 0 ||
		    strcmp(x->raddr, y->raddr) != 0 || x->rport != y->rport)
			abort();
	}
}

static void
check_sdp(const uint8_t *p, size_t n)
{
	static const int ours[] = { P2P_PT_PCMA, P2P_PT_PCMU };
	p2p_sdp_audio a, b;
	unsigned char tmp[16];
	char ans[4096], plain[1024];
	int pt = -1;

	if (p2p_sdp_parse((const char *)p, n, &a) != 0)
		return;
	if (memchr(a.ip, '\0', sizeof(a.ip)) == NULL ||
	    (inet_pton(AF_INET, a.ip, tmp) != 1 &&
	    inet_pton(AF_INET6, a.ip, tmp) != 1) ||
	    a.npts > sizeof(a.pts) / sizeof(a.pts[0]))
		abort();
	for (size_t i = 0; i < a.npts; i++)
		if (a.pts[i] != P2P_PT_PCMU && a.pts[i] != P2P_PT_PCMA)
			abort();
	check_ice(&a.ice);
	if (p2p_sdp_answer(&a, a.ip, a.port, ours, 2, 1, NULL, plain,
	    sizeof(plain), &pt) != 0) {
		if (a.npts != 0)
			abort();
		return;
	}
	if (p2p_sdp_parse(plain, strlen(plain), &b) != 0 ||
	    strcmp(a.ip, b.ip) != 0 || a.port != b.port || b.npts != 1 ||
	    b.pts[0] != pt || b.ice.ufrag[0] != '\0')
		abort();
	/*
	 * The parsed ICE, given back to the builder, must be taken (the
	 * builder checks as the parser does), survive the trip, and when
	 * empty leave the answer as it is without ICE.
	 */
	if (p2p_sdp_answer(&a, a.ip, a.port, ours, 2, 1, &a.ice, ans,
	    sizeof(ans), &pt) != 0 ||
	    p2p_sdp_parse(ans, strlen(ans), &b) != 0 ||
	    strcmp(a.ip, b.ip) != 0 || a.port != b.port || b.npts != 1 ||
	    b.pts[0] != pt)
		abort();
	same_ice(&a.ice, &b.ice);
	if (a.ice.ufrag[0] == '\0' && strcmp(ans, plain) != 0)
		abort();
}

static void
check_rtp(const uint8_t *p, size_t n)
{
	p2p_rtp_hdr h;

	if (p2p_rtp_parse(p, n, &h) != 0)
		return;
	if (n < 12 || h.payload < p + 12 || h.plen > n ||
	    (size_t)(h.payload - p) > n - h.plen || h.pt > 127 ||
	    h.marker > 1)
		abort();
}

static void
check_wav(const uint8_t *p, size_t n, unsigned want)
{
	p2p_pcm pcm;
	char err[256];
	int64_t sum = 0;

	err[0] = '\0';
	if (p2p_wav_parse(p, n, want, &pcm, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || pcm.s != NULL)
			abort();
		return;
	}
	if (pcm.n > P2P_WAV_MAX_SAMPLES || (want != 0 && pcm.rate != want) ||
	    pcm.s == NULL)
		abort();
	for (size_t i = 0; i < pcm.n; i++)
		sum += pcm.s[i];
	if (sum == INT64_MIN)
		abort();
	p2p_pcm_free(&pcm);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	size_t skip;

	if (size < 2)
		return 0;
	skip = data[0] % 3 == 2 ? 2 : 1;
	if (size <= skip || (copy = malloc(size - skip)) == NULL)
		return 0;
	memcpy(copy, data + skip, size - skip);
	switch (data[0] % 3) {
	case 0:
		check_sdp(copy, size - skip);
		break;
	case 1:
		check_rtp(copy, size - skip);
		break;
	default:
		check_wav(copy, size - skip,
		    rates[data[1] % (sizeof(rates) / sizeof(rates[0]))]);
	}
	free(copy);
	return 0;
}
