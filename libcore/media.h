/*
 * media: what p2p-call needs to carry a voice call once SIP has set it up.
 *
 * WAV files (media_wav.c). RIFF/WAVE is read chunk by chunk from memory:
 * every chunk size is checked against what is left, odd-sized chunks skip
 * their pad byte, and a file larger than P2P_WAV_MAX_BYTES or a data chunk
 * of more than P2P_WAV_MAX_SAMPLES frames is refused. Integer PCM of 8,
 * 16, 24 and 32 bits and 32-bit IEEE float are read (WAVE_FORMAT_EXTENSIBLE
 * too, by its sub-format), channels are averaged to mono, and the rate is
 * converted by linear interpolation; when going down, a windowed-sinc
 * low-pass at the new Nyquist frequency runs first so that what cannot be
 * represented does not fold back as aliases.
 *
 * G.711 (media.c): mu-law and A-law as ITU-T G.711 specifies them, by the
 * segment arithmetic (no tables), on 16-bit linear samples.
 *
 * SDP (media_sdp.c): a small defensive line parser over (pointer, length),
 * not libosip2's sdp_message_parse. We need four line types (c=, m=, the
 * ICE a= attributes of RFC 8839 and the order between them); the osip
 * parser wants a NUL-terminated copy,
 * allocates a tree for every line, refuses an SDP whose lines come in an
 * order it does not expect instead of skipping what it does not know, and
 * its behaviour on hostile input would be ours to trust rather than ours to
 * guarantee. The parser here never allocates, reads only within len and is
 * fuzzed by tests/fuzz/fuzz_media.c.
 *
 * RTP (media_rtp.c): one UDP socket on a libuv loop, RFC 3550 headers,
 * 20 ms G.711 frames paced against the monotonic clock: frame k is due at
 * start + 20k ms, so timer lateness never accumulates (a late timer sends
 * every frame that is due at once). Received packets are accepted only
 * from the remote address given to p2p_rtp_start (address and port); this
 * is symmetric RTP as both ends bind one socket for sending and receiving.
 * They are placed in the record buffer by their RTP timestamp relative to
 * the first packet received, so reordering and losses leave the timing
 * intact (a loss is silence). The record buffer never grows beyond
 * max_record_s seconds (600 unless p2p_rtp_set_max_record says otherwise);
 * a timestamp jump beyond it, or backwards before the first packet, is
 * counted as bad and dropped.
 */
#ifndef P2P_MEDIA_H
#define P2P_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dgram.h"

/* PCM audio, mono, signed 16-bit. */
typedef struct p2p_pcm {
	int16_t *s;
	size_t n;
	unsigned rate;
} p2p_pcm;

void p2p_pcm_free(p2p_pcm *p);

/* WAV limits: a file of at most 256 MiB, at most 2^26 frames (about 25
 * minutes at 44.1 kHz), rates from 1 kHz to 384 kHz (so that a small file
 * cannot ask for a huge resampled copy), 1 to 64 channels. */
#define P2P_WAV_MIN_RATE	1000u
#define P2P_WAV_MAX_BYTES	(256u << 20)
#define P2P_WAV_MAX_SAMPLES	(1u << 26)
#define P2P_WAV_MAX_RATE	384000u
#define P2P_WAV_MAX_CHANNELS	64u

/*
 * Read a RIFF/WAVE file (PCM 8/16/24/32-bit integer, 32-bit float; any
 * channel count, mixed down to mono; any rate, resampled to want_rate, or
 * kept as it is when want_rate is 0). 0, or -1 with a message in err.
 */
int p2p_wav_read(const char *path, unsigned want_rate, p2p_pcm *out,
    char *err, size_t errlen);
/* The same from memory. */
int p2p_wav_parse(const uint8_t *data, size_t len, unsigned want_rate,
    p2p_pcm *out, char *err, size_t errlen);
/* Write 16-bit mono PCM. 0, or -1 with a message in err. */
int p2p_wav_write(const char *path, const int16_t *s, size_t n,
    unsigned rate, char *err, size_t errlen);
/* Resample in to out_rate (same rules as the reader); 0 or -1 (memory,
 * rates out of range, more than P2P_WAV_MAX_SAMPLES out). out->s is
 * malloc'd. */
int p2p_pcm_resample(const int16_t *in, size_t n, unsigned in_rate,
    unsigned out_rate, p2p_pcm *out);

/*
 * Normalized cross-correlation of a and b: the largest, over lags in
 * [-max_lag, max_lag], of sum(a[i] b[i+lag]) / sqrt(sum a^2 sum b^2) with
 * both sums over the overlap at that lag (overlaps shorter than a quarter
 * of the shorter signal, or 100 samples, are not considered). a[i] lines
 * up with b[i + lag]: a positive lag means b is a delayed by lag samples.
 * Every lag is computed exactly, by FFT (O(n log n)); only the first 2^20
 * samples of each signal are used. Returns the correlation (-1..1; 0 if
 * there is no usable overlap or a signal is silent) and the lag in
 * *best_lag (may be NULL).
 */
double p2p_pcm_xcorr(const int16_t *a, size_t na, const int16_t *b,
    size_t nb, unsigned max_lag, long *best_lag);

/* G.711 (ITU-T G.711 mu-law and A-law), payload types 0 and 8. */
#define P2P_PT_PCMU	0
#define P2P_PT_PCMA	8
uint8_t p2p_g711_ulaw_enc(int16_t s);
int16_t p2p_g711_ulaw_dec(uint8_t u);
uint8_t p2p_g711_alaw_enc(int16_t s);
int16_t p2p_g711_alaw_dec(uint8_t a);

/* SDP (RFC 4566/3264) for one audio stream. */
#define P2P_SDP_MAX_CANDS 8

/* One a=candidate line (RFC 8839 s5.1) of component 1 over UDP. */
typedef struct p2p_sdp_cand {
	char foundation[33];	/* 1..32 ice-chars */
	uint32_t priority;
	char ip[48];		/* numeric IPv4 or IPv6 */
	uint16_t port;
	char type[8];		/* "host", "srflx", "prflx" or "relay" */
	char raddr[48];		/* "" when the line has no raddr */
	uint16_t rport;
} p2p_sdp_cand;

/* The ICE attributes of the audio stream; ufrag[0] == '\0' when the SDP
 * has none. */
typedef struct p2p_sdp_ice {
	char ufrag[257];	/* 4..256 ice-chars */
	char pwd[257];		/* 22..256 ice-chars */
	p2p_sdp_cand cands[P2P_SDP_MAX_CANDS];
	size_t ncands;
} p2p_sdp_ice;

typedef struct p2p_sdp_audio {
	char ip[64];
	uint16_t port;
	int pts[8];
	size_t npts;
	p2p_sdp_ice ice;
} p2p_sdp_audio;

/*
 * Build an offer for one RTP/AVP audio stream at ip:port listing the
 * payload types pts (0 and/or 8; others are refused) in that order, with
 * their rtpmap lines, o= from sess_id (session id and version). With ice
 * non-NULL and ice->ufrag not empty, the media section also carries
 * a=ice-ufrag, a=ice-pwd, one a=candidate per ice->cands (component 1,
 * UDP) and a=rtcp-mux; ip:port should then be the default candidate.
 * Returns the length written (buf NUL-terminated), -1 if it does not fit
 * or an argument is bad (ICE included: a ufrag, pwd or candidate that
 * p2p_sdp_parse would not accept).
 */
int p2p_sdp_offer(char *buf, size_t cap, const char *ip, uint16_t port,
    const int *pts, size_t npts, uint64_t sess_id, const p2p_sdp_ice *ice);
/*
 * Parse the first audio m= line with transport RTP/AVP, its connection
 * address (a media-level c= overrides the session-level one; IN IP4 or
 * IN IP6) and its payload types (only 0 and 8 are kept, in order). A port
 * of 0 (a refused stream) is returned as such. 0, or -1 (no usable audio
 * stream, no connection address, malformed).
 *
 * ICE (out->ice): a=ice-ufrag and a=ice-pwd of the audio section, else of
 * the session level, and the a=candidate lines of the audio section for
 * component 1 over UDP (the first P2P_SDP_MAX_CANDS of them). A candidate
 * line that is malformed or of another component or transport is
 * skipped; a malformed, repeated or missing ufrag or pwd leaves out->ice
 * empty (ufrag "", no candidates). Neither makes the parse fail.
 */
int p2p_sdp_parse(const char *sdp, size_t len, p2p_sdp_audio *out);
/*
 * Answer an offer: pick the first of our_pts that the offer lists, write
 * the answer SDP (that one payload type, and ice as p2p_sdp_offer does)
 * into buf; 0 with *chosen_pt set, or -1 (no common codec, the caller
 * answers 488; it does not fit; ice is bad).
 */
int p2p_sdp_answer(const p2p_sdp_audio *offer, const char *ip,
    uint16_t port, const int *our_pts, size_t nour, uint64_t sess_id,
    const p2p_sdp_ice *ice, char *buf, size_t cap, int *chosen_pt);

/* RTP (RFC 3550) audio session on a libuv loop: one UDP socket. */
typedef struct p2p_rtp p2p_rtp;

/* Bind a UDP socket on bind_ip, port 0 (the kernel picks). NULL with err. */
p2p_rtp *p2p_rtp_new(uv_loop_t *loop, const char *bind_ip, char *err,
    size_t errlen);
uint16_t p2p_rtp_port(const p2p_rtp *r);
/* Bound the record buffer to seconds (default 600; call before start). */
void p2p_rtp_set_max_record(p2p_rtp *r, unsigned seconds);
/*
 * Start sending to remote_ip:remote_port with payload type pt (0 or 8) and
 * receiving from there. play (may be NULL: only receive) must be 8000 Hz;
 * the session keeps a copy. When play ends on_play_done (may be NULL) is
 * called once and sending stops. 0, or -1 (bad address, pt or rate,
 * memory, already started).
 */
int p2p_rtp_start(p2p_rtp *r, const char *remote_ip, uint16_t remote_port,
    int pt, const p2p_pcm *play,
    void (*on_play_done)(p2p_rtp *r, void *user), void *user);
/*
 * As p2p_rtp_start, over path (an ICE agent's selected pair, dgram.h)
 * instead of the session's own socket, which then stays unused. The
 * session becomes the path's user and closes it in p2p_rtp_free; if the
 * path's owner loses it, sending and receiving stop carrying anything
 * (see p2p_rtp_on_path_gone). 0, or -1 (bad pt or rate, memory, already
 * started).
 */
int p2p_rtp_start_path(p2p_rtp *r, p2p_dgram *path, int pt,
    const p2p_pcm *play, void (*on_play_done)(p2p_rtp *r, void *user),
    void *user);
/* After p2p_rtp_start_path: on_gone (with the start's user) is called
 * once if the path's owner loses the path (ICE consent lost, say); the
 * session then carries nothing more. It may call p2p_rtp_free. */
void p2p_rtp_on_path_gone(p2p_rtp *r,
    void (*on_gone)(p2p_rtp *r, const char *why, void *user));
/* The samples received so far (8000 Hz); valid until the next loop
 * iteration (a packet may grow the buffer) or, after p2p_rtp_stop, until
 * p2p_rtp_free. */
const int16_t *p2p_rtp_recorded(const p2p_rtp *r, size_t *n);

typedef struct p2p_rtp_stats {
	uint64_t sent, received, bad, other_pt;
} p2p_rtp_stats;

void p2p_rtp_get_stats(const p2p_rtp *r, p2p_rtp_stats *st);
/* Stop sending and receiving (recorded samples stay available). */
void p2p_rtp_stop(p2p_rtp *r);
/* Close the socket; memory is released from the loop once the handles
 * are closed. r must not be used afterwards. */
void p2p_rtp_free(p2p_rtp *r);

/* One parsed RTP packet; payload points into the packet. */
typedef struct p2p_rtp_hdr {
	uint8_t pt, marker;
	uint16_t seq;
	uint32_t ts, ssrc;
	const uint8_t *payload;
	size_t plen;
} p2p_rtp_hdr;

/* Parse and validate an RTP packet (version 2, CSRC list, extension and
 * padding all within len). 0, or -1. */
int p2p_rtp_parse(const uint8_t *pkt, size_t len, p2p_rtp_hdr *out);

#endif
