/*
 * media: PCM buffers, G.711 and the cross-correlation used to compare what
 * was played with what was recorded. See media.h.
 */
#include "media.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
p2p_pcm_free(p2p_pcm *p)
{
	if (p == NULL)
		return;
	free(p->s);
	p->s = NULL;
	p->n = 0;
}

/*
 * G.711 mu-law. The 16-bit sample is taken as a 14-bit magnitude (the two
 * low bits are below the law's resolution), clipped, biased by 33 (132 on
 * the 16-bit scale) so that every segment starts at a power of two, and
 * coded as sign, segment (the position of the leading one) and the four
 * bits after it; the code is sent inverted.
 */
#define ULAW_BIAS	0x84
#define ULAW_CLIP	32635

uint8_t
p2p_g711_ulaw_enc(int16_t s)
{
	int v = s, sign = 0, seg, mant;

	if (v < 0) {
		v = -v;
		sign = 0x80;
	}
	if (v > ULAW_CLIP)
		v = ULAW_CLIP;
	v += ULAW_BIAS;
	for (seg = 7; seg > 0 && (v & (0x80 << seg)) == 0; seg--)
		;
	mant = (v >> (seg + 3)) & 0x0f;
	return (uint8_t)~(sign | seg << 4 | mant);
}

int16_t
p2p_g711_ulaw_dec(uint8_t u)
{
	int seg, mant, v;

	u = (uint8_t)~u;
	seg = (u >> 4) & 0x07;
	mant = u & 0x0f;
	v = ((mant << 3) + ULAW_BIAS) << seg;
	v -= ULAW_BIAS;
	return (int16_t)((u & 0x80) ? -v : v);
}

/*
 * G.711 A-law, on the 13-bit magnitude: segments 0 and 1 share one step
 * size, every later segment doubles it. Even bits are inverted on the
 * wire (the 0x55 mask); the sign bit is 1 for positive values.
 */
uint8_t
p2p_g711_alaw_enc(int16_t s)
{
	int v = s >> 3, mask, seg, code;

	if (v >= 0) {
		mask = 0xd5;
	} else {
		mask = 0x55;
		v = -v - 1;
	}
	if (v > 0xfff)
		v = 0xfff;
	for (seg = 7; seg > 0 && (v & (0x10 << seg)) == 0; seg--)
		;
	if (seg < 2)
		code = seg << 4 | ((v >> 1) & 0x0f);
	else
		code = seg << 4 | ((v >> seg) & 0x0f);
	return (uint8_t)(code ^ mask);
}

int16_t
p2p_g711_alaw_dec(uint8_t a)
{
	int seg, v;

	a ^= 0x55;
	seg = (a >> 4) & 0x07;
	v = (a & 0x0f) << 4;
	if (seg == 0)
		v += 8;
	else
		v = (v + 0x108) << (seg - 1);
	return (int16_t)((a & 0x80) ? v : -v);
}

/*
 * Cross-correlation by FFT: both signals are zero-padded to a power of two
 * at least na + nb long (so that no lag wraps around), packed into one
 * complex sequence (a real, b imaginary) and transformed once; their
 * spectra are separated by symmetry, multiplied (conj(A) B) and
 * transformed back, which gives sum a[i] b[i + lag] for every lag at once.
 * Each lag is then normalized by the energies of the two signals over the
 * overlap, from prefix sums.
 */
#define XCORR_MAX_IN	(1u << 20)	/* samples of each signal used */

static void
fft(double *re, double *im, size_t n, const double *cs, const double *sn)
{
	size_t i, j, len, half, step, k, t;
	double tr, ti, wr, wi;

	/* bit-reversal permutation */
	for (i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j |= bit;
		if (i < j) {
			tr = re[i]; re[i] = re[j]; re[j] = tr;
			ti = im[i]; im[i] = im[j]; im[j] = ti;
		}
	}
	for (len = 2; len <= n; len <<= 1) {
		half = len >> 1;
		step = n / len;
		for (i = 0; i < n; i += len) {
			for (k = 0, t = 0; k < half; k++, t += step) {
				wr = cs[t];
				wi = sn[t];
				tr = re[i + k + half] * wr - im[i + k + half] * wi;
				ti = re[i + k + half] * wi + im[i + k + half] * wr;
				re[i + k + half] = re[i + k] - tr;
				im[i + k + half] = im[i + k] - ti;
				re[i + k] += tr;
				im[i + k] += ti;
			}
		}
	}
}

/* conj(A[k]) B[k] for the spectra packed in Z = A + iB, at k and m = -k. */
static void
cross_spectrum(double *re, double *im, size_t k, size_t m)
{
	double zr = re[k], zi = im[k], yr = re[m], yi = im[m];
	double ar, ai, br, bi, pr, pi;

	/* A[k] = (Z[k] + conj(Z[m])) / 2, B[k] = (Z[k] - conj(Z[m])) / 2i */
	ar = (zr + yr) / 2;
	ai = (zi - yi) / 2;
	br = (zi + yi) / 2;
	bi = -(zr - yr) / 2;
	pr = ar * br + ai * bi;
	pi = ar * bi - ai * br;
	if (k != m) {
		/* A[m] = conj(A[k]), B[m] = conj(B[k]): P[m] = conj(P[k]) */
		re[m] = pr;
		im[m] = -pi;
	}
	re[k] = pr;
	im[k] = pi;
}

double
p2p_pcm_xcorr(const int16_t *a, size_t na, const int16_t *b, size_t nb,
    unsigned max_lag, long *best_lag)
{
	double *re = NULL, *im = NULL, *cs = NULL, *sn = NULL;
	double *pa = NULL, *pb = NULL, best = 0, c, ea, eb;
	size_t n, i, minov, shorter;
	long lag, lo, hi, found = 0;

	if (best_lag != NULL)
		*best_lag = 0;
	if (a == NULL || b == NULL || na == 0 || nb == 0)
		return 0;
	if (na > XCORR_MAX_IN)
		na = XCORR_MAX_IN;
	if (nb > XCORR_MAX_IN)
		nb = XCORR_MAX_IN;
	for (n = 2; n < na + nb; n <<= 1)
		;
	re = calloc(n, sizeof(*re));
	im = calloc(n, sizeof(*im));
	cs = malloc(n / 2 * sizeof(*cs));
	sn = malloc(n / 2 * sizeof(*sn));
	pa = malloc((na + 1) * sizeof(*pa));
	pb = malloc((nb + 1) * sizeof(*pb));
	if (re == NULL || im == NULL || cs == NULL || sn == NULL ||
	    pa == NULL || pb == NULL)
		goto out;
	for (i = 0; i < n / 2; i++) {
		cs[i] = cos(2 * M_PI * (double)i / (double)n);
		sn[i] = -sin(2 * M_PI * (double)i / (double)n);
	}
	pa[0] = pb[0] = 0;
	for (i = 0; i < na; i++) {
		re[i] = a[i];
		pa[i + 1] = pa[i] + (double)a[i] * a[i];
	}
	for (i = 0; i < nb; i++) {
		im[i] = b[i];
		pb[i + 1] = pb[i] + (double)b[i] * b[i];
	}
	fft(re, im, n, cs, sn);
	for (i = 0; i <= n / 2; i++)
		cross_spectrum(re, im, i, (n - i) & (n - 1));
	/* inverse: conjugate, forward transform; the result is real */
	for (i = 0; i < n; i++)
		im[i] = -im[i];
	fft(re, im, n, cs, sn);

	shorter = na < nb ? na : nb;
	minov = shorter / 4;
	if (minov < 100)
		minov = shorter < 100 ? shorter : 100;
	for (lag = -(long)max_lag; lag <= (long)max_lag; lag++) {
		lo = lag < 0 ? -lag : 0;
		hi = (long)nb - lag < (long)na ? (long)nb - lag : (long)na;
		if (hi - lo < (long)minov || hi - lo <= 0)
			continue;
		ea = pa[hi] - pa[lo];
		eb = pb[hi + lag] - pb[lo + lag];
		if (ea <= 0 || eb <= 0)
			continue;
		c = re[(size_t)lag & (n - 1)] / (double)n / sqrt(ea * eb);
		if (!found || c > best) {
			best = c;
			found = 1;
			if (best_lag != NULL)
				*best_lag = lag;
		}
	}
	if (best > 1)
		best = 1;
	if (best < -1)
		best = -1;
out:
	free(re);
	free(im);
	free(cs);
	free(sn);
	free(pa);
	free(pb);
	return best;
}
