/*
 * wavcmp: how well a recording matches what was played (a test fixture,
 * not installed).
 *
 *	wavcmp PLAYED.wav RECORDED.wav
 *
 * Both files are read at 8000 Hz mono and compared with p2p_pcm_xcorr over
 * lags of up to +-2 s. Prints one line, "correlation 0.987 offset_ms 40"
 * (offset_ms > 0: the recording is late), and exits 0; 2 on a usage
 * error, 1 when a file cannot be read.
 */
#include <stdio.h>

#include "media.h"

#define RATE	8000u

int
main(int argc, char **argv)
{
	p2p_pcm a = { NULL, 0, 0 }, b = { NULL, 0, 0 };
	char err[512];
	long lag;
	double c;

	if (argc != 3) {
		fprintf(stderr, "usage: wavcmp PLAYED.wav RECORDED.wav\n");
		return 2;
	}
	if (p2p_wav_read(argv[1], RATE, &a, err, sizeof(err)) != 0 ||
	    p2p_wav_read(argv[2], RATE, &b, err, sizeof(err)) != 0) {
		fprintf(stderr, "wavcmp: %s\n", err);
		p2p_pcm_free(&a);
		return 1;
	}
	c = p2p_pcm_xcorr(a.s, a.n, b.s, b.n, 2 * RATE, &lag);
	printf("correlation %.3f offset_ms %ld\n", c, lag * 1000 / (long)RATE);
	p2p_pcm_free(&a);
	p2p_pcm_free(&b);
	return 0;
}
