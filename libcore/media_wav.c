/*
 * media_wav: RIFF/WAVE reading and writing, and rate conversion. See
 * media.h for the rules; every size below comes from the file and is
 * checked against what is left before it is used.
 */
#include "media.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAVE_PCM		0x0001
#define WAVE_FLOAT		0x0003
#define WAVE_EXTENSIBLE		0xfffe

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

struct wav_fmt {
	unsigned tag, channels, rate, bits, align;
};

/* The tail shared by the KSDATAFORMAT_SUBTYPE GUIDs of PCM and float. */
static const uint8_t subtype_tail[14] = { 0x00, 0x00, 0x00, 0x00, 0x10,
    0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71 };

static int
parse_fmt(const uint8_t *p, size_t len, struct wav_fmt *f, char *err,
    size_t errlen)
{
	if (len < 16)
		return fail(err, errlen, "fmt chunk of %zu bytes (at least 16)",
		    len);
	f->tag = le16(p);
	f->channels = le16(p + 2);
	f->rate = le32(p + 4);
	f->align = le16(p + 12);
	f->bits = le16(p + 14);
	if (f->tag == WAVE_EXTENSIBLE) {
		if (len < 40 || le16(p + 16) < 22)
			return fail(err, errlen,
			    "WAVE_FORMAT_EXTENSIBLE fmt chunk too short");
		if (memcmp(p + 26, subtype_tail, sizeof(subtype_tail)) != 0)
			return fail(err, errlen, "unknown WAVE sub-format");
		f->tag = le16(p + 24);
	}
	if (f->tag != WAVE_PCM && f->tag != WAVE_FLOAT)
		return fail(err, errlen, "WAVE format 0x%04x is not supported "
		    "(integer PCM or 32-bit float only)", f->tag);
	if (f->channels < 1 || f->channels > P2P_WAV_MAX_CHANNELS)
		return fail(err, errlen, "%u channels (1 to %u)", f->channels,
		    P2P_WAV_MAX_CHANNELS);
	if (f->rate < P2P_WAV_MIN_RATE || f->rate > P2P_WAV_MAX_RATE)
		return fail(err, errlen, "sample rate %u Hz (%u to %u)",
		    f->rate, P2P_WAV_MIN_RATE, P2P_WAV_MAX_RATE);
	if (f->tag == WAVE_FLOAT ? f->bits != 32 :
	    (f->bits != 8 && f->bits != 16 && f->bits != 24 && f->bits != 32))
		return fail(err, errlen, "%u-bit %s samples are not supported",
		    f->bits, f->tag == WAVE_FLOAT ? "float" : "integer");
	if (f->align != f->channels * (f->bits / 8))
		return fail(err, errlen, "block align %u does not match %u "
		    "channels of %u bits", f->align, f->channels, f->bits);
	return 0;
}

/* One sample as a double in [-32768, 32767]. */
static double
sample_at(const uint8_t *p, const struct wav_fmt *f)
{
	union { uint32_t u; float f; } cv;
	double v;

	switch (f->bits) {
	case 8:
		return ((int)p[0] - 128) * 256.0;
	case 16:
		return (int16_t)le16(p);
	case 24:
		/* sign-extend through the top of a 32-bit word */
		return (double)(int32_t)((uint32_t)p[0] << 8 |
		    (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) / 65536.0;
	default:
		cv.u = le32(p);
		if (f->tag != WAVE_FLOAT)
			return (double)(int32_t)cv.u / 65536.0;
		v = cv.f;
		if (!(v == v))		/* NaN */
			return 0;
		if (v > 1)
			v = 1;
		if (v < -1)
			v = -1;
		return v * 32767.0;
	}
}

static int16_t
clamp16(double v)
{
	v = v < 0 ? v - 0.5 : v + 0.5;
	if (v >= 32767)
		return 32767;
	if (v <= -32768)
		return -32768;
	return (int16_t)v;
}

/* Decode n frames of interleaved samples, averaging the channels. */
static int16_t *
decode_mono(const uint8_t *p, size_t n, const struct wav_fmt *f)
{
	int16_t *s;
	size_t i, c, bps = f->bits / 8;
	double sum;

	if ((s = malloc(n > 0 ? n * sizeof(*s) : 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		sum = 0;
		for (c = 0; c < f->channels; c++)
			sum += sample_at(p + i * f->align + c * bps, f);
		s[i] = clamp16(sum / f->channels);
	}
	return s;
}

/* The low-pass filter run at input position i (centred, zero outside). */
static double
filtered_at(const int16_t *in, size_t n, long i, const double *h, long half)
{
	double acc = 0;
	long k, lo, hi;

	lo = i - half < 0 ? -(i - half) : 0;
	hi = i + half >= (long)n ? (long)n - 1 - (i - half) : 2 * half;
	for (k = lo; k <= hi; k++)
		acc += h[k] * in[i - half + k];
	return acc;
}

int
p2p_pcm_resample(const int16_t *in, size_t n, unsigned in_rate,
    unsigned out_rate, p2p_pcm *out)
{
	double *h = NULL, ratio, fc, x, w, sum, y0, y1, frac;
	uint64_t on, j, num;
	long half = 0, k, i0;

	memset(out, 0, sizeof(*out));
	if (in_rate < P2P_WAV_MIN_RATE || in_rate > P2P_WAV_MAX_RATE ||
	    out_rate < P2P_WAV_MIN_RATE || out_rate > P2P_WAV_MAX_RATE)
		return -1;
	on = (uint64_t)n * out_rate / in_rate;
	if (on > P2P_WAV_MAX_SAMPLES)
		return -1;
	if ((out->s = malloc(on > 0 ? on * sizeof(*out->s) : 1)) == NULL)
		return -1;
	out->n = (size_t)on;
	out->rate = out_rate;
	if (in_rate == out_rate) {
		if (n > 0)
			memcpy(out->s, in, n * sizeof(*in));
		return 0;
	}
	if (out_rate < in_rate) {
		/*
		 * Windowed-sinc (Blackman) low-pass, cut-off at 0.42 of the
		 * new rate, 32 taps per input sample of the output period
		 * on each side: stop band from about the new Nyquist rate.
		 */
		ratio = (double)in_rate / out_rate;
		half = (long)ceil(16 * ratio);
		fc = 0.42 / ratio;
		if ((h = malloc((size_t)(2 * half + 1) * sizeof(*h))) == NULL) {
			p2p_pcm_free(out);
			return -1;
		}
		sum = 0;
		for (k = -half; k <= half; k++) {
			x = k == 0 ? 2 * fc :
			    sin(2 * M_PI * fc * k) / (M_PI * k);
			w = 0.42 + 0.5 * cos(M_PI * k / half) +
			    0.08 * cos(2 * M_PI * k / half);
			h[k + half] = x * w;
			sum += x * w;
		}
		for (k = 0; k <= 2 * half; k++)
			h[k] /= sum;
	}
	for (j = 0; j < on; j++) {
		num = j * in_rate;
		i0 = (long)(num / out_rate);
		frac = (double)(num % out_rate) / out_rate;
		if (h != NULL) {
			y0 = filtered_at(in, n, i0, h, half);
			y1 = (size_t)i0 + 1 < n && frac > 0 ?
			    filtered_at(in, n, i0 + 1, h, half) : y0;
		} else {
			y0 = in[i0];
			y1 = (size_t)i0 + 1 < n ? in[i0 + 1] : y0;
		}
		out->s[j] = clamp16(y0 + (y1 - y0) * frac);
	}
	free(h);
	return 0;
}

int
p2p_wav_parse(const uint8_t *data, size_t len, unsigned want_rate,
    p2p_pcm *out, char *err, size_t errlen)
{
	struct wav_fmt f = { 0, 0, 0, 0, 0 };
	const uint8_t *p, *pcm = NULL;
	size_t left, csize, frames = 0;
	uint32_t riff;
	int16_t *mono;
	int have_fmt = 0, rc;

	memset(out, 0, sizeof(*out));
	if (data == NULL || len < 12)
		return fail(err, errlen, "not a WAV file (too short)");
	if (len > P2P_WAV_MAX_BYTES)
		return fail(err, errlen, "WAV file of %zu bytes is too large "
		    "(at most %u)", len, P2P_WAV_MAX_BYTES);
	if (memcmp(data, "RIFF", 4) != 0 || memcmp(data + 8, "WAVE", 4) != 0)
		return fail(err, errlen, "not a RIFF/WAVE file");
	riff = le32(data + 4);
	if (riff < 4 || riff > len - 8)
		return fail(err, errlen, "RIFF size %u does not match the %zu "
		    "bytes of the file (truncated?)", riff, len);
	p = data + 12;
	left = riff - 4;
	while (left > 0) {
		if (left < 8)
			return fail(err, errlen, "truncated chunk header");
		csize = le32(p + 4);
		if (csize > left - 8)
			return fail(err, errlen, "chunk '%.4s' of %zu bytes runs "
			    "past the end of the file", (const char *)p, csize);
		if (memcmp(p, "fmt ", 4) == 0) {
			if (have_fmt)
				return fail(err, errlen, "two fmt chunks");
			if (parse_fmt(p + 8, csize, &f, err, errlen) != 0)
				return -1;
			have_fmt = 1;
		} else if (memcmp(p, "data", 4) == 0 && pcm == NULL) {
			pcm = p + 8;
			frames = csize;	/* bytes until fmt is known */
		}
		p += 8 + csize;
		left -= 8 + csize;
		/* odd sizes are padded; a pad missing at the end is tolerated */
		if ((csize & 1) != 0 && left > 0) {
			p++;
			left--;
		}
	}
	if (!have_fmt)
		return fail(err, errlen, "no fmt chunk");
	if (pcm == NULL)
		return fail(err, errlen, "no data chunk");
	frames /= f.align;	/* a trailing partial frame is dropped */
	if (frames > P2P_WAV_MAX_SAMPLES)
		return fail(err, errlen, "%zu sample frames (at most %u)",
		    frames, P2P_WAV_MAX_SAMPLES);
	if ((mono = decode_mono(pcm, frames, &f)) == NULL)
		return fail(err, errlen, "out of memory");
	if (want_rate == 0 || want_rate == f.rate) {
		out->s = mono;
		out->n = frames;
		out->rate = f.rate;
		return 0;
	}
	rc = p2p_pcm_resample(mono, frames, f.rate, want_rate, out);
	free(mono);
	if (rc != 0)
		return fail(err, errlen, "cannot convert %u Hz to %u Hz",
		    f.rate, want_rate);
	return 0;
}

int
p2p_wav_read(const char *path, unsigned want_rate, p2p_pcm *out, char *err,
    size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	ssize_t r;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > P2P_WAV_MAX_BYTES) {
		close(fd);
		return fail(err, errlen, "%s: too large for a WAV file we read "
		    "(at most %u bytes)", path, P2P_WAV_MAX_BYTES);
	}
	if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL) {
		close(fd);
		return fail(err, errlen, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	rc = p2p_wav_parse(buf, got, want_rate, out, err, errlen);
	free(buf);
	if (rc != 0 && err != NULL && errlen > 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
	return rc;
}

int
p2p_wav_write(const char *path, const int16_t *s, size_t n, unsigned rate,
    char *err, size_t errlen)
{
	uint8_t hdr[44], b[2];
	uint32_t dbytes;
	FILE *fp;
	size_t i;
	int bad;

	if (n > (0xffffffffu - 36) / 2 || rate < P2P_WAV_MIN_RATE ||
	    rate > P2P_WAV_MAX_RATE)
		return fail(err, errlen, "%s: cannot write %zu samples at %u Hz",
		    path, n, rate);
	dbytes = (uint32_t)n * 2;
	memcpy(hdr, "RIFF", 4);
	hdr[4] = (uint8_t)(dbytes + 36);
	hdr[5] = (uint8_t)((dbytes + 36) >> 8);
	hdr[6] = (uint8_t)((dbytes + 36) >> 16);
	hdr[7] = (uint8_t)((dbytes + 36) >> 24);
	memcpy(hdr + 8, "WAVEfmt ", 8);
	memcpy(hdr + 16, (const uint8_t[]){ 16, 0, 0, 0, 1, 0, 1, 0 }, 8);
	for (i = 0; i < 4; i++) {
		hdr[24 + i] = (uint8_t)(rate >> (8 * i));
		hdr[28 + i] = (uint8_t)((rate * 2u) >> (8 * i));
		hdr[40 + i] = (uint8_t)(dbytes >> (8 * i));
	}
	memcpy(hdr + 32, (const uint8_t[]){ 2, 0, 16, 0 }, 4);
	memcpy(hdr + 36, "data", 4);
	if ((fp = fopen(path, "wb")) == NULL)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	bad = fwrite(hdr, 1, sizeof(hdr), fp) != sizeof(hdr);
	for (i = 0; i < n && !bad; i++) {
		b[0] = (uint8_t)((uint16_t)s[i] & 0xff);
		b[1] = (uint8_t)((uint16_t)s[i] >> 8);
		bad = fwrite(b, 1, 2, fp) != 2;
	}
	if (fclose(fp) != 0)
		bad = 1;
	if (bad)
		return fail(err, errlen, "%s: write failed: %s", path,
		    strerror(errno));
	return 0;
}
