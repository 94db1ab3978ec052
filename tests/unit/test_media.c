#include "unit.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

#include "media.h"

/* ---- helpers ---- */

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static int16_t *
tone(size_t n, double hz, unsigned rate, double amp)
{
	int16_t *s = malloc(n * sizeof(*s));

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (int16_t)lrint(amp * sin(2 * M_PI * hz * i / rate));
	return s;
}

static size_t
zero_crossings(const int16_t *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i - 1] < 0) != (s[i] < 0))
			c++;
	return c;
}

static double
rms(const int16_t *s, size_t n)
{
	double e = 0;

	for (size_t i = 0; i < n; i++)
		e += (double)s[i] * s[i];
	return n ? sqrt(e / n) : 0;
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

/* A WAV in memory: header for fmt (tag, channels, rate, bits), then
 * data bytes; returns its length. */
static size_t
mkwav(uint8_t *buf, size_t cap, unsigned tag, unsigned ch, unsigned rate,
    unsigned bits, const uint8_t *data, size_t dlen)
{
	size_t len = 44 + dlen + (dlen & 1);

	assert_true(len <= cap);
	memcpy(buf, "RIFF", 4);
	put32(buf + 4, (uint32_t)(len - 8));
	memcpy(buf + 8, "WAVEfmt ", 8);
	put32(buf + 16, 16);
	put16(buf + 20, tag);
	put16(buf + 22, ch);
	put32(buf + 24, rate);
	put32(buf + 28, rate * ch * (bits / 8));
	put16(buf + 32, ch * (bits / 8));
	put16(buf + 34, bits);
	memcpy(buf + 36, "data", 4);
	put32(buf + 40, (uint32_t)dlen);
	memcpy(buf + 44, data, dlen);
	if (dlen & 1)
		buf[44 + dlen] = 0;
	return len;
}

/* ---- G.711 ---- */

static void
test_ulaw_reference(void **state)
{
	/* positive segment boundaries: last value of one, first of next */
	static const struct { int16_t x; uint8_t u; } v[] = {
		{ 0, 0xff }, { 123, 0xf0 }, { 124, 0xef }, { 379, 0xe0 },
		{ 380, 0xdf }, { 891, 0xd0 }, { 892, 0xcf }, { 1915, 0xc0 },
		{ 1916, 0xbf }, { 3963, 0xb0 }, { 3964, 0xaf }, { 8059, 0xa0 },
		{ 8060, 0x9f }, { 16251, 0x90 }, { 16252, 0x8f },
		{ 32767, 0x80 }, { -32767, 0x00 }, { -32768, 0x00 },
		{ -123, 0x70 }, { -124, 0x6f }, { -1, 0x7f },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (p2p_g711_ulaw_enc(v[i].x) != v[i].u)
			fail_msg("ulaw(%d) = 0x%02x, want 0x%02x", v[i].x,
			    p2p_g711_ulaw_enc(v[i].x), v[i].u);
	}
	assert_int_equal(p2p_g711_ulaw_dec(0xff), 0);
	assert_int_equal(p2p_g711_ulaw_dec(0x7f), 0);
	assert_int_equal(p2p_g711_ulaw_dec(0x80), 32124);
	assert_int_equal(p2p_g711_ulaw_dec(0x00), -32124);
	assert_int_equal(p2p_g711_ulaw_dec(0xef), 132);
	assert_int_equal(p2p_g711_ulaw_dec(0xfe), 8);
}

static void
test_alaw_reference(void **state)
{
	static const struct { int16_t x; uint8_t a; } v[] = {
		{ 0, 0xd5 }, { -1, 0x55 }, { 255, 0xda }, { 256, 0xc5 },
		{ -256, 0x5a }, { 511, 0xca }, { 512, 0xf5 }, { 1023, 0xfa },
		{ 1024, 0xe5 }, { 2047, 0xea }, { 2048, 0x95 }, { 4095, 0x9a },
		{ 4096, 0x85 }, { 8191, 0x8a }, { 8192, 0xb5 }, { -8192, 0x0a },
		{ 16383, 0xba }, { 16384, 0xa5 }, { -16384, 0x3a },
		{ 32767, 0xaa }, { -32768, 0x2a },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (p2p_g711_alaw_enc(v[i].x) != v[i].a)
			fail_msg("alaw(%d) = 0x%02x, want 0x%02x", v[i].x,
			    p2p_g711_alaw_enc(v[i].x), v[i].a);
	}
	assert_int_equal(p2p_g711_alaw_dec(0xd5), 8);
	assert_int_equal(p2p_g711_alaw_dec(0x55), -8);
	assert_int_equal(p2p_g711_alaw_dec(0xaa), 32256);
	assert_int_equal(p2p_g711_alaw_dec(0x2a), -32256);
}

static void
test_g711_round_trip(void **state)
{
	int x, e, ax, bu, ba;

	(void)state;
	for (x = -32768; x <= 32767; x++) {
		ax = abs(x);
		/* half a quantization step of the segment, a little slack */
		bu = (ax + 132) / 32 + 2;
		ba = ax / 16 > 8 ? ax / 16 + 1 : 9;
		if (ax <= 32124) {
			e = abs(p2p_g711_ulaw_dec(p2p_g711_ulaw_enc(
			    (int16_t)x)) - x);
			if (e > bu)
				fail_msg("ulaw error %d at %d", e, x);
		}
		if (ax <= 32256) {
			e = abs(p2p_g711_alaw_dec(p2p_g711_alaw_enc(
			    (int16_t)x)) - x);
			if (e > ba)
				fail_msg("alaw error %d at %d", e, x);
		}
	}
	/* decoding then encoding gives every code back (but -0) */
	for (x = 0; x < 256; x++) {
		if (x != 0x7f)
			assert_int_equal(p2p_g711_ulaw_enc(
			    p2p_g711_ulaw_dec((uint8_t)x)), x);
		assert_int_equal(p2p_g711_alaw_enc(
		    p2p_g711_alaw_dec((uint8_t)x)), x);
	}
}

/* ---- WAV ---- */

static void
test_wav_write_read(void **state)
{
	char path[] = "/tmp/test_media.XXXXXX", err[256];
	int16_t *s;
	p2p_pcm p;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	s = tone(8001, 440, 8000, 20000);
	s[0] = -32768;
	s[1] = 32767;
	assert_int_equal(p2p_wav_write(path, s, 8001, 8000, err,
	    sizeof(err)), 0);
	assert_int_equal(p2p_wav_read(path, 8000, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 8001);
	assert_int_equal(p.rate, 8000);
	assert_memory_equal(p.s, s, 8001 * sizeof(*s));
	p2p_pcm_free(&p);
	/* read as it is (want_rate 0), and at 16 kHz */
	assert_int_equal(p2p_wav_read(path, 0, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 8001);
	p2p_pcm_free(&p);
	assert_int_equal(p2p_wav_read(path, 16000, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 16002);
	assert_int_equal(p.rate, 16000);
	assert_true(abs((int)zero_crossings(p.s, p.n) - 880) <= 2);
	p2p_pcm_free(&p);
	unlink(path);
	assert_int_equal(p2p_wav_read(path, 8000, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_null(p.s);
	free(s);
}

/* 1 s of a 44.1 kHz stereo file in each sample format, read at 8 kHz. */
static void
test_wav_resample_formats(void **state)
{
	static const unsigned bits[] = { 8, 16, 24, 32, 32 };
	size_t n = 44100, i, c, len, dlen;
	uint8_t *data, *wav;
	char err[256];
	p2p_pcm p;

	(void)state;
	data = malloc(n * 2 * 4);
	wav = malloc(n * 2 * 4 + 64);
	assert_non_null(data);
	assert_non_null(wav);
	for (size_t f = 0; f < sizeof(bits) / sizeof(bits[0]); f++) {
		unsigned bps = bits[f] / 8, tag = f == 4 ? 3 : 1;
		for (i = 0; i < n; i++) {
			double v = 0.5 * sin(2 * M_PI * 1000.0 * i / 44100);
			for (c = 0; c < 2; c++) {
				uint8_t *q = data + (i * 2 + c) * bps;
				int32_t x = (int32_t)lrint(v * 2147483647.0);
				union { float f; uint32_t u; } cv;
				switch (f) {
				case 0: q[0] = (uint8_t)(128 + (x >> 24)); break;
				case 1: put16(q, (uint16_t)(x >> 16)); break;
				case 2:
					q[0] = (uint8_t)(x >> 8);
					put16(q + 1, (uint16_t)(x >> 16));
					break;
				case 3: put32(q, (uint32_t)x); break;
				default:
					cv.f = (float)v;
					put32(q, cv.u);
				}
			}
		}
		dlen = n * 2 * bps;
		len = mkwav(wav, n * 8 + 64, tag, 2, 44100, bits[f], data, dlen);
		if (p2p_wav_parse(wav, len, 8000, &p, err, sizeof(err)) != 0)
			fail_msg("%u bits: %s", bits[f], err);
		assert_int_equal(p.n, 8000);
		assert_int_equal(p.rate, 8000);
		/* 1 kHz: 2000 zero crossings a second */
		if (abs((int)zero_crossings(p.s, p.n) - 2000) > 4)
			fail_msg("%u bits: %zu crossings", bits[f],
			    zero_crossings(p.s, p.n));
		/* amplitude kept: rms of 0.5 full scale sine ~ 11585 */
		assert_true(fabs(rms(p.s + 100, p.n - 200) - 11585) < 600);
		p2p_pcm_free(&p);
	}
	free(data);
	free(wav);
}

/* Channels are averaged; above the new Nyquist rate is filtered out. */
static void
test_wav_mix_and_lowpass(void **state)
{
	size_t n = 44100, i, len;
	int16_t *t5k, *t1k;
	uint8_t *data, *wav;
	char err[256];
	p2p_pcm p;

	(void)state;
	t5k = tone(n, 5000, 44100, 16000);
	t1k = tone(n, 1000, 44100, 16000);
	data = malloc(n * 4);
	wav = malloc(n * 4 + 64);
	assert_non_null(data);
	assert_non_null(wav);
	/* left = tone, right = -tone: silence */
	for (i = 0; i < n; i++) {
		put16(data + 4 * i, (uint16_t)t1k[i]);
		put16(data + 4 * i + 2, (uint16_t)-t1k[i]);
	}
	len = mkwav(wav, n * 4 + 64, 1, 2, 44100, 16, data, n * 4);
	assert_int_equal(p2p_wav_parse(wav, len, 8000, &p, err, sizeof(err)),
	    0);
	assert_true(rms(p.s, p.n) < 2);
	p2p_pcm_free(&p);
	/* 5 kHz cannot be represented at 8 kHz: it must not alias to 3 kHz */
	len = mkwav(wav, n * 4 + 64, 1, 1, 44100, 16, (uint8_t *)t5k, n * 2);
	assert_int_equal(p2p_wav_parse(wav, len, 8000, &p, err, sizeof(err)),
	    0);
	assert_int_equal(p.n, 8000);
	assert_true(rms(p.s + 200, p.n - 400) < 0.02 * 16000 / sqrt(2));
	p2p_pcm_free(&p);
	free(t5k);
	free(t1k);
	free(data);
	free(wav);
}

/* good with width bytes at off set to v (little-endian) is refused, with
 * an error message containing what (if not NULL). */
static void
patched_refused(const uint8_t *good, size_t len, size_t off, int width,
    uint32_t v, const char *what)
{
	uint8_t bad[256];
	char err[256];
	p2p_pcm p;

	assert_true(len <= sizeof(bad) && off + (size_t)width <= len);
	memcpy(bad, good, len);
	if (width == 2)
		put16(bad + off, v);
	else
		put32(bad + off, v);
	err[0] = '\0';
	assert_int_equal(p2p_wav_parse(bad, len, 8000, &p, err, sizeof(err)),
	    -1);
	assert_null(p.s);
	if (what != NULL && strstr(err, what) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, what);
}

static void
test_wav_malformed(void **state)
{
	uint8_t good[64 + 32], bad[200], d[32];
	char err[256];
	size_t len, i;
	p2p_pcm p;

	(void)state;
	for (i = 0; i < sizeof(d); i++)
		d[i] = (uint8_t)i;
	len = mkwav(good, sizeof(good), 1, 1, 8000, 16, d, sizeof(d));
	assert_int_equal(p2p_wav_parse(good, len, 8000, &p, err,
	    sizeof(err)), 0);
	assert_int_equal(p.n, 16);
	p2p_pcm_free(&p);
	/* every truncation is refused */
	for (i = 0; i < len; i++) {
		err[0] = '\0';
		if (p2p_wav_parse(good, i, 8000, &p, err, sizeof(err)) == 0)
			fail_msg("truncated to %zu accepted", i);
		assert_true(err[0] != '\0');
		assert_null(p.s);
	}
	/* data chunk claims more than there is, by a lot or by a little */
	patched_refused(good, len, 40, 4, 0xfffffff0u, NULL);
	patched_refused(good, len, 40, 4, 34, "runs past");
	/* RIFF size larger than the file */
	patched_refused(good, len, 4, 4, (uint32_t)len, "truncated");
	/* fmt: channels 0, 12 bits, block align wrong, rate 0, ADPCM */
	patched_refused(good, len, 22, 2, 0, "channels");
	patched_refused(good, len, 34, 2, 12, "12-bit");
	patched_refused(good, len, 32, 2, 4, "block align");
	patched_refused(good, len, 24, 4, 0, "rate");
	patched_refused(good, len, 20, 2, 2, "0x0002");
	/* no data chunk, no fmt chunk (renamed), not RIFF, not WAVE */
	patched_refused(good, len, 36, 4, 0x6b6e756a, "no data");
	patched_refused(good, len, 12, 4, 0x6b6e756a, "no fmt");
	patched_refused(good, len, 0, 4, 0x58464952, "RIFF");
	patched_refused(good, len, 8, 4, 0x45564158, "WAVE");
	/* an odd-sized chunk before data, with its pad byte: accepted */
	memcpy(bad, good, 36);
	memcpy(bad + 36, "LIST", 4);
	put32(bad + 40, 3);
	memcpy(bad + 44, "abc", 4);
	memcpy(bad + 48, good + 36, len - 36);
	put32(bad + 4, (uint32_t)(len + 12 - 8));
	assert_int_equal(p2p_wav_parse(bad, len + 12, 8000, &p, err,
	    sizeof(err)), 0);
	assert_int_equal(p.n, 16);
	assert_int_equal(p.s[1], 0x0302);
	p2p_pcm_free(&p);
	/* a rate we cannot convert to */
	assert_int_equal(p2p_wav_parse(good, len, 10, &p, err, sizeof(err)),
	    -1);
}

static void
test_wav_extensible(void **state)
{
	static const uint8_t guid_tail[14] = { 0x00, 0x00, 0x00, 0x00, 0x10,
	    0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71 };
	uint8_t w[68 + 8];
	char err[256];
	p2p_pcm p;

	(void)state;
	memcpy(w, "RIFF", 4);
	put32(w + 4, sizeof(w) - 8);
	memcpy(w + 8, "WAVEfmt ", 8);
	put32(w + 16, 40);
	put16(w + 20, 0xfffe);
	put16(w + 22, 1);
	put32(w + 24, 8000);
	put32(w + 28, 16000);
	put16(w + 32, 2);
	put16(w + 34, 16);
	put16(w + 36, 22);
	put16(w + 38, 16);
	put32(w + 40, 4);
	put16(w + 44, 1);
	memcpy(w + 46, guid_tail, 14);
	memcpy(w + 60, "data", 4);
	put32(w + 64, 8);
	put16(w + 68, 1000);
	put16(w + 70, 2000);
	put16(w + 72, (uint16_t)-3000);
	put16(w + 74, 4000);
	assert_int_equal(p2p_wav_parse(w, sizeof(w), 8000, &p, err,
	    sizeof(err)), 0);
	assert_int_equal(p.n, 4);
	assert_int_equal(p.s[2], -3000);
	p2p_pcm_free(&p);
	w[50] = 0x11;	/* not the standard GUID */
	assert_int_equal(p2p_wav_parse(w, sizeof(w), 8000, &p, err,
	    sizeof(err)), -1);
}

/* ---- SDP ---- */

static void
test_sdp_round_trip(void **state)
{
	static const int both[] = { 0, 8 }, pcma_first[] = { 8, 0 };
	char offer[512], answer[512];
	p2p_sdp_audio a, b;
	int n, pt = -1;

	(void)state;
	n = p2p_sdp_offer(offer, sizeof(offer), "127.0.0.1", 40000, both, 2,
	    1234567890123ull, NULL);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(offer));
	assert_non_null(strstr(offer, "m=audio 40000 RTP/AVP 0 8\r\n"));
	assert_non_null(strstr(offer, "a=rtpmap:8 PCMA/8000\r\n"));
	assert_non_null(strstr(offer, "o=- 1234567890123 1234567890123 IN "
	    "IP4 127.0.0.1\r\n"));
	assert_int_equal(p2p_sdp_parse(offer, (size_t)n, &a), 0);
	assert_string_equal(a.ip, "127.0.0.1");
	assert_int_equal(a.port, 40000);
	assert_int_equal(a.npts, 2);
	assert_int_equal(a.pts[0], 0);
	assert_int_equal(a.pts[1], 8);
	/* the answerer prefers PCMA */
	assert_int_equal(p2p_sdp_answer(&a, "::1", 50000, pcma_first, 2, 7,
	    NULL, answer, sizeof(answer), &pt), 0);
	assert_int_equal(pt, 8);
	assert_int_equal(p2p_sdp_parse(answer, strlen(answer), &b), 0);
	assert_string_equal(b.ip, "::1");
	assert_int_equal(b.port, 50000);
	assert_int_equal(b.npts, 1);
	assert_int_equal(b.pts[0], 8);
	/* too small a buffer, at every size */
	for (size_t cap = 0; cap <= (size_t)n; cap++)
		assert_int_equal(p2p_sdp_offer(offer, cap, "127.0.0.1", 40000,
		    both, 2, 1234567890123ull, NULL), -1);
	/* bad arguments */
	assert_int_equal(p2p_sdp_offer(offer, sizeof(offer), "host", 1, both,
	    2, 1, NULL), -1);
	assert_int_equal(p2p_sdp_offer(offer, sizeof(offer), "127.0.0.1", 1,
	    (const int[]){ 18 }, 1, 1, NULL), -1);
}

static void
test_sdp_pcma_only_and_no_codec(void **state)
{
	static const char pcma[] =
	    "v=0\r\no=bob 1 1 IN IP4 192.0.2.7\r\ns=call\r\n"
	    "c=IN IP4 192.0.2.7\r\nt=0 0\r\n"
	    "m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
	    "a=rtpmap:101 telephone-event/8000\r\n";
	static const char none[] =
	    "v=0\no=- 1 1 IN IP4 192.0.2.7\ns=-\nc=IN IP4 192.0.2.7\nt=0 0\n"
	    "m=audio 6000 RTP/AVP 18 3 9\n";
	static const int ours[] = { 0, 8 };
	char ans[512];
	p2p_sdp_audio a;
	int pt = -1;

	(void)state;
	assert_int_equal(p2p_sdp_parse(pcma, sizeof(pcma) - 1, &a), 0);
	assert_int_equal(a.npts, 1);
	assert_int_equal(a.pts[0], 8);
	assert_int_equal(a.port, 6000);
	assert_int_equal(p2p_sdp_answer(&a, "127.0.0.1", 7000, ours, 2, 9,
	    NULL, ans, sizeof(ans), &pt), 0);
	assert_int_equal(pt, 8);
	assert_non_null(strstr(ans, "m=audio 7000 RTP/AVP 8\r\n"));
	assert_null(strstr(ans, "PCMU"));

	assert_int_equal(p2p_sdp_parse(none, sizeof(none) - 1, &a), 0);
	assert_int_equal(a.npts, 0);
	pt = -1;
	assert_int_equal(p2p_sdp_answer(&a, "127.0.0.1", 7000, ours, 2, 9,
	    NULL, ans, sizeof(ans), &pt), -1);
	assert_int_equal(pt, -1);
}

static void
test_sdp_connection_rules(void **state)
{
	/* video first (its c= does not count), then audio with its own c= */
	static const char media_c[] =
	    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
	    "t=0 0\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP4 10.0.0.9\r\n"
	    "m=audio 5002 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127\r\n"
	    "a=sendrecv\r\nm=audio 5004 RTP/AVP 8\r\nc=IN IP4 10.0.0.3\r\n";
	static const char sess_c[] =
	    "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\n"
	    "t=0 0\r\nm=audio 5002 RTP/SAVP 0\r\nm=audio 5006 RTP/AVP 0\r\n";
	p2p_sdp_audio a;

	(void)state;
	assert_int_equal(p2p_sdp_parse(media_c, sizeof(media_c) - 1, &a), 0);
	assert_string_equal(a.ip, "224.2.1.1");
	assert_int_equal(a.port, 5002);
	assert_int_equal(a.npts, 1);
	assert_int_equal(a.pts[0], 0);
	assert_int_equal(p2p_sdp_parse(sess_c, sizeof(sess_c) - 1, &a), 0);
	assert_string_equal(a.ip, "2001:db8::1");
	assert_int_equal(a.port, 5006);
}

static void
test_sdp_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"v=0\r\n",
		/* no v= first */
		("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\nc=IN IP4 1.2.3.4\r\n"
		    "m=audio 1 RTP/AVP 0\r\n"),
		"v=1\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n",
		/* no connection address */
		"v=0\r\nm=audio 1 RTP/AVP 0\r\n",
		/* host name, bad address, bad network type */
		"v=0\r\nc=IN IP4 example.com\r\nm=audio 1 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP4 1.2.3.400\r\nm=audio 1 RTP/AVP 0\r\n",
		"v=0\r\nc=XX IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP5 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP4\r\nm=audio 1 RTP/AVP 0\r\n",
		/* port */
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 65536 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio -1 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1/ RTP/AVP 0\r\n",
		/* formats */
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0 x\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 128\r\n",
		/* only other streams */
		"v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 1 RTP/AVP 0\r\n",
		/* a line that is not x=... */
		"v=0\r\nc=IN IP4 1.2.3.4\r\nhello\r\nm=audio 1 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP4 1.2.3.4\r\nM=audio 1 RTP/AVP 0\r\n",
	};
	static const char nul[] = "v=0\r\nc=IN IP4 1.2.3.4\r\n\0"
	    "m=audio 1 RTP/AVP 0\r\n";
	p2p_sdp_audio a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (p2p_sdp_parse(bad[i], strlen(bad[i]), &a) != -1)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(p2p_sdp_parse(nul, sizeof(nul) - 1, &a), -1);
	assert_int_equal(p2p_sdp_parse(NULL, 0, &a), -1);
	/* no final newline, multiple spaces, a port count: fine */
	assert_int_equal(p2p_sdp_parse("v=0\nc=IN IP4 1.2.3.4\n"
	    "m=audio  9/2  RTP/AVP  8  0", 48, &a), 0);
	assert_int_equal(a.port, 9);
	assert_int_equal(a.npts, 2);
	assert_int_equal(a.pts[0], 8);
}

/* ---- SDP: ICE ---- */

#define UF	"Uf+/"				/* 4 ice-chars, the least */
#define PW	"0123456789abcdef+/ABCD"	/* 22, the least */
#define SDP_HEAD							\
	"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"	\
	"t=0 0\r\n"
#define CAND_HOST "a=candidate:1 1 UDP 2130706431 192.0.2.1 5000 typ host\r\n"
#define CAND_SRFLX							\
	"a=candidate:2 1 udp 1694498815 198.51.100.7 6000 typ srflx "	\
	"raddr 192.0.2.1 rport 5000 generation 0 network-id 1\r\n"

static void
set_cand(p2p_sdp_cand *c, const char *f, uint32_t prio, const char *ip,
    uint16_t port, const char *type, const char *raddr, uint16_t rport)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->foundation, sizeof(c->foundation), "%s", f);
	c->priority = prio;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->port = port;
	snprintf(c->type, sizeof(c->type), "%s", type);
	snprintf(c->raddr, sizeof(c->raddr), "%s", raddr);
	c->rport = rport;
}

static void
assert_ice_equal(const p2p_sdp_ice *x, const p2p_sdp_ice *y)
{
	assert_string_equal(x->ufrag, y->ufrag);
	assert_string_equal(x->pwd, y->pwd);
	assert_int_equal(x->ncands, y->ncands);
	for (size_t i = 0; i < x->ncands; i++) {
		assert_string_equal(x->cands[i].foundation,
		    y->cands[i].foundation);
		assert_int_equal(x->cands[i].priority, y->cands[i].priority);
		assert_string_equal(x->cands[i].ip, y->cands[i].ip);
		assert_int_equal(x->cands[i].port, y->cands[i].port);
		assert_string_equal(x->cands[i].type, y->cands[i].type);
		assert_string_equal(x->cands[i].raddr, y->cands[i].raddr);
		assert_int_equal(x->cands[i].rport, y->cands[i].rport);
	}
}

static void
assert_no_ice(const p2p_sdp_audio *a)
{
	assert_string_equal(a->ice.ufrag, "");
	assert_string_equal(a->ice.pwd, "");
	assert_int_equal(a->ice.ncands, 0);
}

/* SDP_HEAD, sess, the audio m= line, media: must parse, at 192.0.2.1:5000. */
static void
parse_with(const char *sess, const char *media, p2p_sdp_audio *a)
{
	char sdp[8192];
	int n;

	n = snprintf(sdp, sizeof(sdp), SDP_HEAD "%sm=audio 5000 RTP/AVP 0\r\n"
	    "%s", sess, media);
	assert_true(n > 0 && (size_t)n < sizeof(sdp));
	if (p2p_sdp_parse(sdp, (size_t)n, a) != 0)
		fail_msg("refused: %s", sdp);
	assert_string_equal(a->ip, "192.0.2.1");
	assert_int_equal(a->port, 5000);
	assert_int_equal(a->npts, 1);
}

static void
test_sdp_ice_round_trip(void **state)
{
	static const int both[] = { 0, 8 };
	static p2p_sdp_ice off_ice, ans_ice, empty;
	char offer[4096], answer[4096], plain[512], line[256];
	p2p_sdp_audio a, b;
	int n, pt = -1;

	(void)state;
	snprintf(off_ice.ufrag, sizeof(off_ice.ufrag), "%s", "8hhY");
	snprintf(off_ice.pwd, sizeof(off_ice.pwd), "%s",
	    "asd88fgpdd777uzjYhagZg");
	set_cand(&off_ice.cands[0], "1", 2130706431, "10.0.1.1", 8998,
	    "host", "", 0);
	set_cand(&off_ice.cands[1], "2", 1694498815, "192.0.2.3", 45664,
	    "srflx", "10.0.1.1", 8998);
	set_cand(&off_ice.cands[2], "a+/Z", 16777215, "2001:db8::7", 3478,
	    "relay", "2001:db8::1", 0);
	off_ice.ncands = 3;
	n = p2p_sdp_offer(offer, sizeof(offer), "192.0.2.3", 45664, both, 2,
	    5, &off_ice);
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(offer));
	assert_non_null(strstr(offer, "a=sendrecv\r\na=ice-ufrag:8hhY\r\n"
	    "a=ice-pwd:asd88fgpdd777uzjYhagZg\r\n"));
	assert_non_null(strstr(offer, "a=candidate:1 1 UDP 2130706431 "
	    "10.0.1.1 8998 typ host\r\n"));
	assert_non_null(strstr(offer, "a=candidate:2 1 UDP 1694498815 "
	    "192.0.2.3 45664 typ srflx raddr 10.0.1.1 rport 8998\r\n"));
	assert_non_null(strstr(offer, "a=candidate:a+/Z 1 UDP 16777215 "
	    "2001:db8::7 3478 typ relay raddr 2001:db8::1 rport 0\r\n"));
	assert_non_null(strstr(offer, "a=rtcp-mux\r\n"));
	assert_int_equal(p2p_sdp_parse(offer, (size_t)n, &a), 0);
	assert_string_equal(a.ip, "192.0.2.3");
	assert_int_equal(a.port, 45664);
	assert_ice_equal(&a.ice, &off_ice);

	snprintf(ans_ice.ufrag, sizeof(ans_ice.ufrag), "%s", UF);
	snprintf(ans_ice.pwd, sizeof(ans_ice.pwd), "%s", PW);
	set_cand(&ans_ice.cands[0], "x", 1, "::1", 50000, "prflx", "", 0);
	ans_ice.ncands = 1;
	assert_int_equal(p2p_sdp_answer(&a, "::1", 50000, both, 2, 6,
	    &ans_ice, answer, sizeof(answer), &pt), 0);
	assert_int_equal(pt, 0);
	assert_int_equal(p2p_sdp_parse(answer, strlen(answer), &b), 0);
	assert_string_equal(b.ip, "::1");
	assert_int_equal(b.npts, 1);
	assert_ice_equal(&b.ice, &ans_ice);

	/* no candidates yet (they may trickle): the credentials alone */
	ans_ice.ncands = 0;
	assert_int_equal(p2p_sdp_answer(&a, "::1", 50000, both, 2, 6,
	    &ans_ice, answer, sizeof(answer), &pt), 0);
	assert_null(strstr(answer, "a=candidate"));
	assert_int_equal(p2p_sdp_parse(answer, strlen(answer), &b), 0);
	assert_ice_equal(&b.ice, &ans_ice);

	/* NULL and an empty ufrag write exactly what was written before */
	assert_int_equal(p2p_sdp_answer(&a, "::1", 50000, both, 2, 6, NULL,
	    plain, sizeof(plain), &pt), 0);
	assert_int_equal(p2p_sdp_answer(&a, "::1", 50000, both, 2, 6, &empty,
	    answer, sizeof(answer), &pt), 0);
	assert_string_equal(answer, plain);
	assert_null(strstr(plain, "ice"));
	assert_null(strstr(plain, "rtcp-mux"));
	assert_int_equal(p2p_sdp_parse(plain, strlen(plain), &b), 0);
	assert_no_ice(&b);

	/* too small a buffer, at every size */
	for (size_t cap = 0; cap <= (size_t)n; cap++)
		assert_int_equal(p2p_sdp_offer(offer, cap, "192.0.2.3", 45664,
		    both, 2, 5, &off_ice), -1);

	/* the longest credentials and lines fit and come back */
	memset(off_ice.ufrag, 'u', 256);
	off_ice.ufrag[256] = '\0';
	memset(off_ice.pwd, 'p', 256);
	off_ice.pwd[256] = '\0';
	memset(line, 'f', 32);
	line[32] = '\0';
	for (size_t i = 0; i < P2P_SDP_MAX_CANDS; i++)
		set_cand(&off_ice.cands[i], line, 0x7fffffffu,
		    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535,
		    "relay", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
		    65535);
	off_ice.ncands = P2P_SDP_MAX_CANDS;
	n = p2p_sdp_offer(offer, sizeof(offer), "192.0.2.3", 45664, both, 2,
	    5, &off_ice);
	assert_true(n > 0);
	assert_int_equal(p2p_sdp_parse(offer, (size_t)n, &a), 0);
	assert_ice_equal(&a.ice, &off_ice);
}

static void
test_sdp_ice_levels(void **state)
{
	p2p_sdp_audio a;

	(void)state;
	/* no ICE at all */
	parse_with("", "a=sendrecv\r\n", &a);
	assert_no_ice(&a);

	/* credentials at session level, candidates in the section */
	parse_with("a=ice-ufrag:" UF "\r\na=ice-pwd:" PW "\r\n",
	    CAND_HOST CAND_SRFLX, &a);
	assert_string_equal(a.ice.ufrag, UF);
	assert_string_equal(a.ice.pwd, PW);
	assert_int_equal(a.ice.ncands, 2);
	assert_string_equal(a.ice.cands[0].foundation, "1");
	assert_int_equal(a.ice.cands[0].priority, 2130706431);
	assert_string_equal(a.ice.cands[0].ip, "192.0.2.1");
	assert_int_equal(a.ice.cands[0].port, 5000);
	assert_string_equal(a.ice.cands[0].type, "host");
	assert_string_equal(a.ice.cands[0].raddr, "");
	assert_int_equal(a.ice.cands[0].rport, 0);
	/* lowercase transport, raddr/rport, extensions after them */
	assert_string_equal(a.ice.cands[1].type, "srflx");
	assert_string_equal(a.ice.cands[1].ip, "198.51.100.7");
	assert_int_equal(a.ice.cands[1].port, 6000);
	assert_string_equal(a.ice.cands[1].raddr, "192.0.2.1");
	assert_int_equal(a.ice.cands[1].rport, 5000);

	/* the section's value wins, attribute by attribute */
	parse_with("a=ice-ufrag:sessU\r\na=ice-pwd:" PW "sess\r\n",
	    "a=ice-ufrag:mediaU\r\n" CAND_HOST, &a);
	assert_string_equal(a.ice.ufrag, "mediaU");
	assert_string_equal(a.ice.pwd, PW "sess");
	assert_int_equal(a.ice.ncands, 1);
	parse_with("a=ice-pwd:" PW "sess\r\na=ice-ufrag:sessU\r\n",
	    "a=ice-pwd:" PW "media\r\na=ice-ufrag:mediaU\r\n", &a);
	assert_string_equal(a.ice.ufrag, "mediaU");
	assert_string_equal(a.ice.pwd, PW "media");

	/* candidates at session level, or of another section, do not count;
	 * nor do the other sections' credentials */
	parse_with(CAND_HOST "a=ice-ufrag:" UF "\r\nm=video 6000 RTP/AVP 96\r\n"
	    "a=ice-pwd:" PW "\r\n" CAND_SRFLX, "a=ice-pwd:" PW "\r\n", &a);
	assert_string_equal(a.ice.ufrag, UF);
	assert_int_equal(a.ice.ncands, 0);
	parse_with("", "a=ice-ufrag:" UF "\r\na=ice-pwd:" PW "\r\n"
	    "m=audio 7000 RTP/AVP 0\r\n" CAND_HOST, &a);
	assert_string_equal(a.ice.ufrag, UF);
	assert_int_equal(a.ice.ncands, 0);
	/* ... and the other section's bad ufrag does not drop ours */
	parse_with("", "a=ice-ufrag:" UF "\r\na=ice-pwd:" PW "\r\n" CAND_HOST
	    "m=video 7000 RTP/AVP 96\r\na=ice-ufrag:-\r\n", &a);
	assert_int_equal(a.ice.ncands, 1);
}

static void
test_sdp_ice_candidates_skipped(void **state)
{
	/* each between two good candidates: skipped, the others kept */
	static const char *bad[] = {
		/* not ours: component 2, TCP, another transport */
		"a=candidate:1 2 UDP 2130706430 192.0.2.1 5001 typ host",
		"a=candidate:1 1 TCP 2130706431 192.0.2.1 9 typ host "
		    "tcptype active",
		"a=candidate:1 1 tcp 2130706431 192.0.2.1 5000 typ host",
		"a=candidate:1 1 DTLS 2130706431 192.0.2.1 5000 typ host",
		/* component */
		"a=candidate:1 x UDP 2130706431 192.0.2.1 5000 typ host",
		"a=candidate:1 0001 UDP 2130706431 192.0.2.1 5000 typ host",
		"a=candidate:1 0 UDP 2130706431 192.0.2.1 5000 typ host",
		/* priority */
		"a=candidate:1 1 UDP x 192.0.2.1 5000 typ host",
		"a=candidate:1 1 UDP 0 192.0.2.1 5000 typ host",
		"a=candidate:1 1 UDP -5 192.0.2.1 5000 typ host",
		"a=candidate:1 1 UDP 2147483648 192.0.2.1 5000 typ host",
		"a=candidate:1 1 UDP 4294967296 192.0.2.1 5000 typ host",
		"a=candidate:1 1 UDP 00000000001 192.0.2.1 5000 typ host",
		/* address */
		"a=candidate:1 1 UDP 1 host.example.com 5000 typ host",
		"a=candidate:1 1 UDP 1 f81d4fae-7dec.local 5000 typ host",
		"a=candidate:1 1 UDP 1 192.0.2.256 5000 typ host",
		"a=candidate:1 1 UDP 1 fe80::1%eth0 5000 typ host",
		/* port */
		"a=candidate:1 1 UDP 1 192.0.2.1 65536 typ host",
		"a=candidate:1 1 UDP 1 192.0.2.1 100000 typ host",
		"a=candidate:1 1 UDP 1 192.0.2.1 x typ host",
		/* type */
		"a=candidate:1 1 UDP 1 192.0.2.1 5000 typ local",
		"a=candidate:1 1 UDP 1 192.0.2.1 5000 type host",
		"a=candidate:1 1 UDP 1 192.0.2.1 5000 typ",
		"a=candidate:1 1 UDP 1 192.0.2.1 5000 host",
		"a=candidate:1 1 UDP 1 192.0.2.1 5000",
		"a=candidate:1 1 UDP 1",
		"a=candidate:",
		"a=candidate",
		/* raddr and rport: both or none, well formed */
		"a=candidate:1 1 UDP 1 192.0.2.1 5000 typ srflx raddr 10.0.0.1",
		"a=candidate:1 1 UDP 1 192.0.2.1 5000 typ srflx rport 5000",
		("a=candidate:1 1 UDP 1 192.0.2.1 5000 typ srflx raddr 10.0.0.1 "
		    "generation 0"),
		("a=candidate:1 1 UDP 1 192.0.2.1 5000 typ srflx raddr 10.0.0.1 "
		    "rport"),
		("a=candidate:1 1 UDP 1 192.0.2.1 5000 typ srflx raddr 10.0.0.1 "
		    "rport 65536"),
		("a=candidate:1 1 UDP 1 192.0.2.1 5000 typ srflx raddr h.example "
		    "rport 1"),
		/* foundation: ice-chars, 1 to 32 */
		"a=candidate:a-b 1 UDP 1 192.0.2.1 5000 typ host",
		"a=candidate:a_b 1 UDP 1 192.0.2.1 5000 typ host",
		"a=candidate:a=b 1 UDP 1 192.0.2.1 5000 typ host",
		("a=candidate:123456789012345678901234567890123 1 UDP 1 "
		    "192.0.2.1 5000 typ host"),
		/* not separated by spaces */
		"a=candidate:1\t1 UDP 1 192.0.2.1 5000 typ host",
	};
	char media[1024];
	p2p_sdp_audio a;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = snprintf(media, sizeof(media), "a=ice-ufrag:" UF "\r\n"
		    "a=ice-pwd:" PW "\r\n" CAND_HOST "%s\r\n" CAND_SRFLX,
		    bad[i]);
		assert_true(n > 0 && (size_t)n < sizeof(media));
		parse_with("", media, &a);
		if (a.ice.ncands != 2)
			fail_msg("kept %zu: %s", a.ice.ncands, bad[i]);
		assert_string_equal(a.ice.ufrag, UF);
		assert_string_equal(a.ice.cands[0].foundation, "1");
		assert_string_equal(a.ice.cands[1].foundation, "2");
	}

	/* at the edges, and keywords in any case: kept */
	parse_with("a=ice-ufrag:" UF "\r\na=ice-pwd:" PW "\r\n",
	    "a=candidate:12345678901234567890123456789012 001 Udp 2147483647 "
	    "192.0.2.9 65535 TYP RELAY RADDR 0.0.0.0 RPORT 0\r\n"
	    "a=candidate:+/ 1 UDP 1 192.0.2.9 0 typ prflx\r\n"
	    "a=candidate:z  1  UDP  5  2001:db8::9  9  typ  Host  "
	    "network-cost 50\n", &a);
	assert_int_equal(a.ice.ncands, 3);
	assert_int_equal(a.ice.cands[0].priority, 2147483647u);
	assert_int_equal(a.ice.cands[0].port, 65535);
	assert_string_equal(a.ice.cands[0].type, "relay");
	assert_string_equal(a.ice.cands[0].raddr, "0.0.0.0");
	assert_int_equal(a.ice.cands[0].rport, 0);
	assert_int_equal(a.ice.cands[1].port, 0);
	assert_string_equal(a.ice.cands[1].type, "prflx");
	assert_string_equal(a.ice.cands[2].ip, "2001:db8::9");
	assert_string_equal(a.ice.cands[2].type, "host");
	assert_string_equal(a.ice.cands[2].raddr, "");

	/* more than P2P_SDP_MAX_CANDS: the first ones are kept */
	media[0] = '\0';
	n = 0;
	for (int i = 0; i < 12; i++)
		n += snprintf(media + n, sizeof(media) - (size_t)n,
		    "a=candidate:f%d 1 UDP %d 192.0.2.%d %d typ host\r\n",
		    i, 100 + i, i + 1, 4000 + i);
	assert_true((size_t)n < sizeof(media));
	parse_with("a=ice-ufrag:" UF "\r\na=ice-pwd:" PW "\r\n", media, &a);
	assert_int_equal(a.ice.ncands, P2P_SDP_MAX_CANDS);
	assert_string_equal(a.ice.cands[0].foundation, "f0");
	assert_string_equal(a.ice.cands[7].foundation, "f7");
	assert_string_equal(a.ice.cands[7].ip, "192.0.2.8");
	assert_int_equal(a.ice.cands[7].port, 4007);
	assert_int_equal(a.ice.cands[7].priority, 107);
}

static void
test_sdp_ice_bad_credentials(void **state)
{
	/* each drops ICE, not the SDP */
	static const char *bad[] = {
		"a=ice-ufrag:abc\r\na=ice-pwd:" PW "\r\n",
		"a=ice-ufrag:ab-d\r\na=ice-pwd:" PW "\r\n",
		"a=ice-ufrag:ab d\r\na=ice-pwd:" PW "\r\n",
		"a=ice-ufrag:" UF " \r\na=ice-pwd:" PW "\r\n",
		"a=ice-ufrag:\r\na=ice-pwd:" PW "\r\n",
		"a=ice-ufrag\r\na=ice-pwd:" PW "\r\n",
		"a=ice-ufrag:" UF "\r\na=ice-pwd:0123456789abcdef+/ABC\r\n",
		"a=ice-ufrag:" UF "\r\na=ice-pwd:0123456789abcdef+/ABC=\r\n",
		"a=ice-ufrag:" UF "\r\na=ice-pwd:0123456789abcdef+/ABC\x80\r\n",
		/* one without the other */
		"a=ice-ufrag:" UF "\r\n",
		"a=ice-pwd:" PW "\r\n",
		/* twice at one level */
		"a=ice-ufrag:" UF "\r\na=ice-ufrag:" UF "\r\na=ice-pwd:" PW "\r\n",
		"a=ice-ufrag:" UF "\r\na=ice-pwd:" PW "\r\na=ice-pwd:" PW "\r\n",
	};
	char media[1024], longest[300];
	p2p_sdp_audio a;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = snprintf(media, sizeof(media), "%s" CAND_HOST, bad[i]);
		assert_true(n > 0 && (size_t)n < sizeof(media));
		parse_with("", media, &a);
		assert_no_ice(&a);
		/* the same at session level */
		parse_with(bad[i], CAND_HOST, &a);
		assert_no_ice(&a);
	}
	/* a bad session value drops ICE even if the section overrides it */
	parse_with("a=ice-ufrag:x\r\n", "a=ice-ufrag:" UF "\r\na=ice-pwd:" PW
	    "\r\n" CAND_HOST, &a);
	assert_no_ice(&a);

	/* 256 characters: the most; 257: too many */
	memset(longest, 'A', 256);
	longest[256] = '\0';
	n = snprintf(media, sizeof(media), "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
	    CAND_HOST, longest, longest);
	parse_with("", media, &a);
	assert_string_equal(a.ice.ufrag, longest);
	assert_string_equal(a.ice.pwd, longest);
	assert_int_equal(a.ice.ncands, 1);
	n = snprintf(media, sizeof(media), "a=ice-ufrag:%sA\r\na=ice-pwd:"
	    PW "\r\n" CAND_HOST, longest);
	parse_with("", media, &a);
	assert_no_ice(&a);
	n = snprintf(media, sizeof(media), "a=ice-ufrag:" UF "\r\n"
	    "a=ice-pwd:%sA\r\n" CAND_HOST, longest);
	parse_with("", media, &a);
	assert_no_ice(&a);
	(void)n;
}

static void
test_sdp_ice_builder_refuses(void **state)
{
	static const int pcmu[] = { 0 };
	static p2p_sdp_ice good, ice;
	static p2p_sdp_audio off;
	char buf[4096];
	int pt;

	(void)state;
	snprintf(good.ufrag, sizeof(good.ufrag), "%s", UF);
	snprintf(good.pwd, sizeof(good.pwd), "%s", PW);
	set_cand(&good.cands[0], "1", 1, "192.0.2.1", 5000, "host", "", 0);
	good.ncands = 1;
	off.npts = 1;
	off.pts[0] = 0;
	assert_true(p2p_sdp_offer(buf, sizeof(buf), "192.0.2.1", 5000, pcmu,
	    1, 1, &good) > 0);
	assert_int_equal(p2p_sdp_answer(&off, "192.0.2.1", 5000, pcmu, 1, 1,
	    &good, buf, sizeof(buf), &pt), 0);

#define REFUSED(change) do {						\
	ice = good;							\
	change;								\
	assert_int_equal(p2p_sdp_offer(buf, sizeof(buf), "192.0.2.1",	\
	    5000, pcmu, 1, 1, &ice), -1);				\
	assert_string_equal(buf, "");					\
	assert_int_equal(p2p_sdp_answer(&off, "192.0.2.1", 5000, pcmu,	\
	    1, 1, &ice, buf, sizeof(buf), &pt), -1);			\
} while (0)
	/* credentials */
	REFUSED(strcpy(ice.ufrag, "abc"));
	REFUSED(strcpy(ice.ufrag, "ab-d"));
	REFUSED(memset(ice.ufrag, 'a', sizeof(ice.ufrag)));
	REFUSED(ice.pwd[0] = '\0');
	REFUSED(strcpy(ice.pwd, "0123456789abcdef+/ABC"));
	REFUSED(ice.pwd[5] = '=');
	REFUSED(memset(ice.pwd, 'a', sizeof(ice.pwd)));
	REFUSED(ice.ncands = P2P_SDP_MAX_CANDS + 1);
	/* candidates */
	REFUSED(ice.cands[0].foundation[0] = '\0');
	REFUSED(strcpy(ice.cands[0].foundation, "a b"));
	REFUSED(memset(ice.cands[0].foundation, 'f',
	    sizeof(ice.cands[0].foundation)));
	REFUSED(ice.cands[0].priority = 0);
	REFUSED(ice.cands[0].priority = 0x80000000u);
	REFUSED(strcpy(ice.cands[0].ip, "localhost"));
	REFUSED(strcpy(ice.cands[0].ip, ""));
	REFUSED(memset(ice.cands[0].ip, '1', sizeof(ice.cands[0].ip)));
	REFUSED(strcpy(ice.cands[0].type, "local"));
	REFUSED(strcpy(ice.cands[0].type, ""));
	REFUSED(memset(ice.cands[0].type, 'h', sizeof(ice.cands[0].type)));
	REFUSED(strcpy(ice.cands[0].raddr, "h.example"));
	REFUSED(memset(ice.cands[0].raddr, '1', sizeof(ice.cands[0].raddr)));
	REFUSED(ice.cands[0].rport = 9);
	/* a bad candidate beyond the first */
	REFUSED((ice.cands[1] = good.cands[0], ice.cands[1].port = 1,
	    strcpy(ice.cands[1].type, "hst"), ice.ncands = 2));
#undef REFUSED

	/* a type in capitals is written as it is parsed back */
	ice = good;
	strcpy(ice.cands[0].type, "HOST");
	assert_true(p2p_sdp_offer(buf, sizeof(buf), "192.0.2.1", 5000, pcmu,
	    1, 1, &ice) > 0);
	assert_non_null(strstr(buf, " typ host\r\n"));
}

/* ---- RTP ---- */

static void
test_rtp_parse(void **state)
{
	uint8_t pkt[64];
	p2p_rtp_hdr h;
	size_t n, i;

	(void)state;
	/* plain: V=2, M=1, PT=8, seq 0x1234, ts, ssrc, 3 bytes payload */
	n = unit_hex("80 88 1234 00010203 a1b2c3d4 55 66 77", pkt,
	    sizeof(pkt));
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), 0);
	assert_int_equal(h.pt, 8);
	assert_int_equal(h.marker, 1);
	assert_int_equal(h.seq, 0x1234);
	assert_int_equal(h.ts, 0x00010203);
	assert_int_equal(h.ssrc, 0xa1b2c3d4);
	assert_int_equal(h.plen, 3);
	assert_ptr_equal(h.payload, pkt + 12);
	for (i = 0; i < 12; i++)
		assert_int_equal(p2p_rtp_parse(pkt, i, &h), -1);
	/* version 1 and 3 */
	pkt[0] = 0x40;
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), -1);
	pkt[0] = 0xc0;
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), -1);

	/* 2 CSRCs, an extension of 1 word, 2 payload bytes, 3 of padding */
	n = unit_hex("b2 00 0001 00000002 00000003"
	    " 11111111 22222222"
	    " bede 0001 01020304"
	    " aa bb"
	    " 00 00 03", pkt, sizeof(pkt));
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), 0);
	assert_int_equal(h.pt, 0);
	assert_int_equal(h.marker, 0);
	assert_int_equal(h.plen, 2);
	assert_ptr_equal(h.payload, pkt + 12 + 8 + 8);
	assert_int_equal(h.payload[0], 0xaa);
	/* every truncation fails (the padding count is the last byte) */
	for (i = 0; i < n; i++)
		if (p2p_rtp_parse(pkt, i, &h) != -1)
			fail_msg("truncated at %zu accepted", i);
	/* padding count 0, or larger than what follows the header */
	pkt[n - 1] = 0;
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), -1);
	pkt[n - 1] = 6;
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), -1);
	pkt[n - 1] = 5;	/* all of payload and padding: empty payload */
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), 0);
	assert_int_equal(h.plen, 0);
	/* extension length running past the end */
	pkt[n - 1] = 3;
	pkt[23] = 3;
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), -1);
	/* 15 CSRCs claimed in a short packet */
	pkt[0] = 0x8f;
	assert_int_equal(p2p_rtp_parse(pkt, n, &h), -1);
	assert_int_equal(p2p_rtp_parse(NULL, 0, &h), -1);
}

/* ---- cross-correlation ---- */

static void
test_xcorr(void **state)
{
	size_t n = 5 * 8000, i, shift = 800;
	int16_t *sweep, *rt, *noise;
	clock_t t0;
	double c, secs;
	long lag;

	(void)state;
	sweep = malloc(n * sizeof(*sweep));
	noise = malloc(n * sizeof(*noise));
	rt = calloc(n + shift, sizeof(*rt));
	assert_non_null(sweep);
	assert_non_null(noise);
	assert_non_null(rt);
	for (i = 0; i < n; i++) {
		double t = (double)i / 8000;
		/* 200 Hz to 3400 Hz over 5 s */
		sweep[i] = (int16_t)lrint(12000 * sin(2 * M_PI *
		    (200 * t + 320 * t * t)));
		noise[i] = (int16_t)((int)(rng() % 20001) - 10000);
		rt[shift + i] = p2p_g711_ulaw_dec(p2p_g711_ulaw_enc(sweep[i]));
	}
	t0 = clock();
	c = p2p_pcm_xcorr(sweep, n, rt, n + shift, 16000, &lag);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	assert_true(c > 0.99);
	assert_int_equal(lag, 800);
	assert_true(secs < 5);	/* about 0.05 s unsanitized */
	/* the other way round: a negative lag */
	c = p2p_pcm_xcorr(rt, n + shift, sweep, n, 16000, &lag);
	assert_true(c > 0.99);
	assert_int_equal(lag, -800);
	/* unrelated */
	c = p2p_pcm_xcorr(noise, n, sweep, n, 16000, &lag);
	assert_true(c < 0.3);
	/* silence and empty inputs */
	memset(noise, 0, n * sizeof(*noise));
	assert_true(p2p_pcm_xcorr(noise, n, sweep, n, 16000, &lag) == 0);
	assert_true(p2p_pcm_xcorr(sweep, 0, sweep, n, 16000, &lag) == 0);
	/* a lag beyond the search is not found */
	c = p2p_pcm_xcorr(sweep, n, rt, n + shift, 100, &lag);
	assert_true(c < 0.3);
	free(sweep);
	free(noise);
	free(rt);
}

/* ---- RTP sessions on a loop ---- */

struct call {
	p2p_rtp *a, *b;
	int done;
	uv_timer_t grace, guard;
};

static void
on_grace(uv_timer_t *t)
{
	struct call *c = t->data;

	p2p_rtp_stop(c->a);
	p2p_rtp_stop(c->b);
	uv_timer_stop(&c->guard);
}

static void
on_guard(uv_timer_t *t)
{
	struct call *c = t->data;

	p2p_rtp_stop(c->a);
	p2p_rtp_stop(c->b);
	uv_timer_stop(&c->grace);
	fail_msg("the call did not end in time");
}

static void
on_done(p2p_rtp *r, void *user)
{
	struct call *c = user;

	if (++c->done == 2)
		uv_timer_start(&c->grace, on_grace, 200, 0);
}

static void
check_leg(p2p_rtp *rx, const int16_t *played, size_t n)
{
	p2p_rtp_stats st;
	const int16_t *rec;
	size_t nrec;
	long lag;
	double c;

	rec = p2p_rtp_recorded(rx, &nrec);
	p2p_rtp_get_stats(rx, &st);
	assert_int_equal(st.received, 50);
	assert_int_equal(st.bad, 0);
	assert_int_equal(nrec, n);
	/* a pure tone matches itself at every whole number of periods: the
	 * recording must line up with what was played exactly (lag 0) */
	c = p2p_pcm_xcorr(played, n, rec, nrec, 0, &lag);
	if (c < 0.99 || lag != 0)
		fail_msg("correlation %.3f at lag %ld", c, lag);
}

/* Two sessions on 127.0.0.1 of a new loop, the signals each will play,
 * and the call's timers (a 5 s guard running). */
static void
call_init(uv_loop_t *loop, struct call *c, p2p_pcm *pa, p2p_pcm *pb)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	assert_int_equal(uv_loop_init(loop), 0);
	*pa = (p2p_pcm){ tone(8000, 440, 8000, 10000), 8000, 8000 };
	*pb = (p2p_pcm){ tone(8000, 1234, 8000, 8000), 8000, 8000 };
	c->a = p2p_rtp_new(loop, "127.0.0.1", err, sizeof(err));
	c->b = p2p_rtp_new(loop, "127.0.0.1", err, sizeof(err));
	assert_non_null(c->a);
	assert_non_null(c->b);
	uv_timer_init(loop, &c->grace);
	uv_timer_init(loop, &c->guard);
	c->grace.data = c->guard.data = c;
	uv_timer_start(&c->guard, on_guard, 5000, 0);
}

/* After both sessions are freed: the timers, the loop, the signals. */
static void
call_close(uv_loop_t *loop, struct call *c, p2p_pcm *pa, p2p_pcm *pb)
{
	uv_close((uv_handle_t *)&c->grace, NULL);
	uv_close((uv_handle_t *)&c->guard, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
	p2p_pcm_free(pa);
	p2p_pcm_free(pb);
}

static void
test_rtp_session(void **state)
{
	static const int pts[] = { P2P_PT_PCMU, P2P_PT_PCMA };
	uv_loop_t loop;
	struct call c;
	p2p_pcm pa, pb;
	p2p_rtp_stats st;
	uint64_t t0, ms;

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		call_init(&loop, &c, &pa, &pb);
		assert_true(p2p_rtp_port(c.a) != 0);
		/* wrong payload type, wrong rate, bad address */
		assert_int_equal(p2p_rtp_start(c.a, "127.0.0.1", 9, 3, &pa,
		    NULL, NULL), -1);
		pa.rate = 16000;
		assert_int_equal(p2p_rtp_start(c.a, "127.0.0.1", 9, 0, &pa,
		    NULL, NULL), -1);
		pa.rate = 8000;
		assert_int_equal(p2p_rtp_start(c.a, "::1", 9, 0, &pa, NULL,
		    NULL), -1);
		assert_int_equal(p2p_rtp_start(c.a, "127.0.0.1",
		    p2p_rtp_port(c.b), pts[k], &pa, on_done, &c), 0);
		assert_int_equal(p2p_rtp_start(c.b, "127.0.0.1",
		    p2p_rtp_port(c.a), pts[k], &pb, on_done, &c), 0);
		assert_int_equal(p2p_rtp_start(c.a, "127.0.0.1", 9, 0, &pa,
		    NULL, NULL), -1);	/* already started */
		/* the session has its copy */
		p2p_pcm_free(&pa);
		pa = (p2p_pcm){ tone(8000, 440, 8000, 10000), 8000, 8000 };
		t0 = uv_hrtime();
		uv_run(&loop, UV_RUN_DEFAULT);
		ms = (uv_hrtime() - t0) / 1000000;
		/* 50 frames of 20 ms, paced: ~980 ms + 200 ms grace */
		assert_true(ms >= 1150 && ms < 4500);
		assert_int_equal(c.done, 2);
		p2p_rtp_get_stats(c.a, &st);
		assert_int_equal(st.sent, 50);
		check_leg(c.b, pa.s, pa.n);
		check_leg(c.a, pb.s, pb.n);
		p2p_rtp_free(c.a);
		p2p_rtp_free(c.b);
		call_close(&loop, &c, &pa, &pb);
	}
}

/* Two datagram paths joined back to back, as an ICE pair would be: what
 * one sends the other delivers; closing counts. */
struct twin {
	p2p_dgram d;
	struct twin *other;
	int closed;
	int gone;		/* its owner lost it: it delivers no more */
	size_t sent;
};

static int
twin_send(p2p_dgram *d, const uint8_t *buf, size_t len)
{
	struct twin *t = d->impl;

	t->sent++;
	if (t->other->closed || t->other->gone || t->gone)
		return -1;
	p2p_dgram_deliver(&t->other->d, buf, len);
	return 0;
}

static void
twin_close(p2p_dgram *d)
{
	((struct twin *)d->impl)->closed++;
}

static const p2p_dgram_ops twin_ops = { twin_send, twin_close };

static void
twins(struct twin *a, struct twin *b)
{
	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	a->d.ops = b->d.ops = &twin_ops;
	a->d.impl = a;
	b->d.impl = b;
	a->other = b;
	b->other = a;
}

/* RTP over a path (p2p_rtp_start_path): the same call as above, over
 * the twins instead of the sessions' sockets; free closes the paths. */
static void
test_rtp_path(void **state)
{
	uv_loop_t loop;
	struct call c;
	struct twin ta, tb;
	p2p_pcm pa, pb;

	(void)state;
	call_init(&loop, &c, &pa, &pb);
	twins(&ta, &tb);
	assert_int_equal(p2p_rtp_start_path(c.a, NULL, P2P_PT_PCMU, &pa,
	    NULL, NULL), -1);
	assert_int_equal(p2p_rtp_start_path(c.a, &ta.d, 3, &pa, NULL, NULL),
	    -1);
	assert_int_equal(p2p_rtp_start_path(c.a, &ta.d, P2P_PT_PCMU, &pa,
	    on_done, &c), 0);
	assert_int_equal(p2p_rtp_start_path(c.b, &tb.d, P2P_PT_PCMA, &pb,
	    on_done, &c), 0);
	assert_int_equal(p2p_rtp_start(c.a, "127.0.0.1", 9, 0, &pa, NULL,
	    NULL), -1);	/* already started */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(c.done, 2);
	assert_int_equal(ta.sent, 50);
	assert_int_equal(tb.sent, 50);
	check_leg(c.b, pa.s, pa.n);
	check_leg(c.a, pb.s, pb.n);
	assert_int_equal(ta.closed + tb.closed, 0);
	p2p_rtp_free(c.a);
	p2p_rtp_free(c.b);
	assert_int_equal(ta.closed, 1);
	assert_int_equal(tb.closed, 1);
	call_close(&loop, &c, &pa, &pb);
}

struct gone_seen {
	struct call *c;
	int n;
	char why[64];
	uint64_t received;	/* by the session when it heard */
};

/* The user's answer to a lost path: note it, end the session. */
static void
seen_gone(p2p_rtp *r, const char *why, void *user)
{
	struct gone_seen *g = user;
	p2p_rtp_stats st;

	g->n++;
	snprintf(g->why, sizeof(g->why), "%s", why);
	p2p_rtp_get_stats(r, &st);
	g->received = st.received;
	p2p_rtp_free(r);
	g->c->a = NULL;
	g->c->done++;	/* as if it had played out */
}

/* The owner of a's path loses it 200 ms in (as ICE does when consent is
 * lost): it says so once, and does not hear from the path again. */
static void
lose_path(uv_timer_t *t)
{
	struct twin *tw = t->data;

	tw->gone = 1;
	tw->d.on_gone(&tw->d, "ICE consent lost", tw->d.arg);
}

/* A path lost under a session (one that only listens): the callback of
 * p2p_rtp_on_path_gone runs once with the reason and the start's user,
 * and may free the session, which then does not close the lost path;
 * the other side plays on into nothing. */
static void
test_rtp_path_gone(void **state)
{
	uv_loop_t loop;
	struct call c;
	struct twin ta, tb;
	struct gone_seen g;
	uv_timer_t lose;
	p2p_pcm pa, pb;
	p2p_rtp_stats st;

	(void)state;
	call_init(&loop, &c, &pa, &pb);
	twins(&ta, &tb);
	memset(&g, 0, sizeof(g));
	g.c = &c;
	assert_int_equal(p2p_rtp_start_path(c.a, &ta.d, P2P_PT_PCMU, NULL,
	    NULL, &g), 0);
	p2p_rtp_on_path_gone(c.a, seen_gone);
	assert_int_equal(p2p_rtp_start_path(c.b, &tb.d, P2P_PT_PCMA, &pb,
	    on_done, &c), 0);
	uv_timer_init(&loop, &lose);
	lose.data = &ta;
	uv_timer_start(&lose, lose_path, 200, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.why, "ICE consent lost");
	assert_null(c.a);
	assert_int_equal(ta.closed, 0);
	assert_int_equal(c.done, 2);
	/* a heard b for about 200 ms; b played on into nothing. */
	assert_true(g.received >= 2 && g.received < 40);
	assert_int_equal(ta.sent, 0);
	assert_int_equal(tb.sent, 50);
	p2p_rtp_get_stats(c.b, &st);
	assert_int_equal(st.received, 0);
	p2p_rtp_free(c.b);
	assert_int_equal(tb.closed, 1);
	uv_close((uv_handle_t *)&lose, NULL);
	call_close(&loop, &c, &pa, &pb);
}

/* A raw UDP socket on 127.0.0.1 (kernel-chosen port). */
static uint16_t
raw_socket(uv_loop_t *loop, uv_udp_t *u)
{
	struct sockaddr_in sin;
	int len = sizeof(sin);

	assert_int_equal(uv_udp_init(loop, u), 0);
	uv_ip4_addr("127.0.0.1", 0, &sin);
	assert_int_equal(uv_udp_bind(u, (struct sockaddr *)&sin, 0), 0);
	assert_int_equal(uv_udp_getsockname(u, (struct sockaddr *)&sin, &len),
	    0);
	return ntohs(sin.sin_port);
}

/* Send one RTP packet of n payload bytes (all 'fill'). */
static void
send_rtp(uv_udp_t *u, uint16_t port, uint8_t b0, uint8_t pt, uint32_t ts,
    size_t n, uint8_t fill)
{
	struct sockaddr_in to;
	uint8_t pkt[12 + 400];
	uv_buf_t b;

	assert_true(n <= 400);
	memset(pkt, fill, sizeof(pkt));
	pkt[0] = b0;
	pkt[1] = pt;
	pkt[2] = 0;
	pkt[3] = 1;
	pkt[4] = (uint8_t)(ts >> 24);
	pkt[5] = (uint8_t)(ts >> 16);
	pkt[6] = (uint8_t)(ts >> 8);
	pkt[7] = (uint8_t)ts;
	memcpy(pkt + 8, "\x01\x02\x03\x04", 4);
	uv_ip4_addr("127.0.0.1", port, &to);
	b = uv_buf_init((char *)pkt, (unsigned)(12 + n));
	assert_int_equal(uv_udp_try_send(u, &b, 1, (struct sockaddr *)&to),
	    (int)(12 + n));
}

static void
on_settle(uv_timer_t *t)
{
	p2p_rtp_stop(t->data);
}

/* Gaps stay silent; strangers, bad packets, other payload types and
 * timestamps outside the window are counted, not recorded. */
static void
test_rtp_receive_rules(void **state)
{
	uv_loop_t loop;
	uv_udp_t peer, stranger;
	uv_timer_t settle;
	p2p_rtp *r;
	p2p_rtp_stats st;
	const int16_t *rec;
	char err[256];
	uint16_t pport, rport;
	size_t n, i;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_null(p2p_rtp_new(&loop, "localhost", err, sizeof(err)));
	assert_true(err[0] != '\0');
	r = p2p_rtp_new(&loop, "127.0.0.1", err, sizeof(err));
	assert_non_null(r);
	rport = p2p_rtp_port(r);
	pport = raw_socket(&loop, &peer);
	raw_socket(&loop, &stranger);
	p2p_rtp_set_max_record(r, 1);
	assert_int_equal(p2p_rtp_start(r, "127.0.0.1", pport, 0, NULL, NULL,
	    NULL), 0);
	send_rtp(&peer, rport, 0x80, 0, 1000, 160, 0x80);	/* first */
	send_rtp(&peer, rport, 0x80, 8, 1320, 160, 0xaa);	/* a gap */
	send_rtp(&peer, rport, 0x80, 18, 1480, 20, 0);		/* G.729 */
	send_rtp(&peer, rport, 0x40, 0, 1480, 160, 0);		/* version */
	send_rtp(&peer, rport, 0x80, 0, 900, 160, 0);		/* early */
	send_rtp(&peer, rport, 0x80, 0, 1000 + 7900, 160, 0);	/* > 1 s */
	send_rtp(&stranger, rport, 0x80, 0, 1160, 160, 0x80);	/* stranger */
	uv_timer_init(&loop, &settle);
	settle.data = r;
	uv_timer_start(&settle, on_settle, 300, 0);
	uv_run(&loop, UV_RUN_DEFAULT);	/* the closes below end it */
	(void)0;
	p2p_rtp_get_stats(r, &st);
	assert_int_equal(st.received, 2);
	assert_int_equal(st.other_pt, 1);
	assert_int_equal(st.bad, 4);
	assert_int_equal(st.sent, 0);
	rec = p2p_rtp_recorded(r, &n);
	assert_int_equal(n, 480);
	for (i = 0; i < 160; i++)
		assert_int_equal(rec[i], p2p_g711_ulaw_dec(0x80));
	for (; i < 320; i++)
		assert_int_equal(rec[i], 0);
	for (; i < 480; i++)
		assert_int_equal(rec[i], p2p_g711_alaw_dec(0xaa));
	p2p_rtp_free(r);
	uv_close((uv_handle_t *)&settle, NULL);
	uv_close((uv_handle_t *)&peer, NULL);
	uv_close((uv_handle_t *)&stranger, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ulaw_reference),
		cmocka_unit_test(test_alaw_reference),
		cmocka_unit_test(test_g711_round_trip),
		cmocka_unit_test(test_wav_write_read),
		cmocka_unit_test(test_wav_resample_formats),
		cmocka_unit_test(test_wav_mix_and_lowpass),
		cmocka_unit_test(test_wav_malformed),
		cmocka_unit_test(test_wav_extensible),
		cmocka_unit_test(test_sdp_round_trip),
		cmocka_unit_test(test_sdp_pcma_only_and_no_codec),
		cmocka_unit_test(test_sdp_connection_rules),
		cmocka_unit_test(test_sdp_malformed),
		cmocka_unit_test(test_sdp_ice_round_trip),
		cmocka_unit_test(test_sdp_ice_levels),
		cmocka_unit_test(test_sdp_ice_candidates_skipped),
		cmocka_unit_test(test_sdp_ice_bad_credentials),
		cmocka_unit_test(test_sdp_ice_builder_refuses),
		cmocka_unit_test(test_rtp_parse),
		cmocka_unit_test(test_xcorr),
		cmocka_unit_test(test_rtp_session),
		cmocka_unit_test(test_rtp_path),
		cmocka_unit_test(test_rtp_path_gone),
		cmocka_unit_test(test_rtp_receive_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
