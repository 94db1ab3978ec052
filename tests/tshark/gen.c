/*
 * gen: encode one RELOAD message of every message type, with non-trivial
 * forwarding headers and security blocks, for the tshark cross-check.
 *
 *   gen            one line per message on stdout:
 *                  "<name> 0000 <framed message as space-separated hex>"
 *                  (the FramedMessage data frame around the message, in the
 *                  form text2pcap reads)
 *   gen -b DIR     write each body as DIR/<name>: the message code (2
 *                  bytes, big-endian) followed by the body, the input
 *                  format of the fuzz_body target
 *   gen -f         a PingReq split into fragments (frag.h), one framed
 *                  fragment per line: "0000 <hex>"
 *
 * Exit 0 on success, 1 if anything failed to encode or write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "body.h"
#include "certs.h"
#include "frag.h"
#include "frame.h"
#include "msg.h"
#include "samples.h"

static uint8_t signer_hash[SHA256_DIGEST_LENGTH];
static uint8_t opaque_id[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };
static uint8_t fwd_value[] = { 0x01, 0x02, 0x03 };
static p2p_dest via[4], dest[3];
static p2p_fwd_option option;
static p2p_cert certs[2];

/* The forwarding header and security block shared by every message. */
static void
build_envelope(p2p_msg *m, uint32_t n)
{
	static p2p_id r;	/* the resource destination points into it */
	p2p_id a = sample_id(0x01), b = sample_id(0x11), c = sample_id(0x21);

	r = sample_id(0xe0);

	p2p_msg_init(m);
	m->overlay = p2p_overlay_hash("example.org");
	m->config_seq = 3;
	m->ttl = 97;
	m->transaction_id = 0x1111111100000000ull | n;
	m->max_response_length = 5000;
	p2p_dest_node(&via[0], &a);
	p2p_dest_node(&via[1], &b);
	via[2].type = P2P_DEST_OPAQUE;
	via[2].data = sample_mem(opaque_id, sizeof(opaque_id));
	p2p_dest_node(&via[3], &c);
	m->via = via;
	m->nvia = 4;
	p2p_dest_resource(&dest[0], &r);
	p2p_dest_node(&dest[1], &c);
	dest[2].type = P2P_DEST_OPAQUE;
	dest[2].data = sample_mem(opaque_id, 3);
	m->dest = dest;
	m->ndest = 3;
	option.type = 0x7e;
	option.flags = P2P_FWDOPT_RESPONSE_COPY;
	option.value = sample_mem(fwd_value, sizeof(fwd_value));
	m->options = &option;
	m->noptions = 1;
	certs[0].type = P2P_CERT_X509;
	certs[0].der = sample_mem(cert1, cert1_len);
	certs[1].type = P2P_CERT_X509;
	certs[1].der = sample_mem(cert2, cert2_len);
	m->certs = certs;
	m->ncerts = 2;
	/* signed by the holder of the first certificate */
	SHA256(cert1, cert1_len, signer_hash);
	m->sig = sample_signature();
	m->sig.signer.hash = sample_mem(signer_hash, sizeof(signer_hash));
}

/* Encode sample s as a whole framed message into w. */
static int
encode_framed(const struct sample *s, uint32_t n, p2p_wbuf *w)
{
	p2p_wbuf body, msg;
	p2p_msg m;
	int rc = -1;

	p2p_w_init(&body, 0);
	p2p_w_init(&msg, 0);
	if (p2p_body_encode(&body, s->code, &s->body) != 0)
		goto out;
	build_envelope(&m, n);
	m.code = s->code;
	m.body = sample_mem(body.p, body.len);
	if (p2p_msg_encode(&msg, &m) != 0)
		goto out;
	rc = p2p_frame_data_encode(w, n, msg.p, msg.len);
out:
	p2p_w_free(&body);
	p2p_w_free(&msg);
	return rc;
}

static int
print_messages(void)
{
	for (size_t i = 0; i < nsamples; i++) {
		p2p_wbuf w;

		p2p_w_init(&w, 0);
		if (encode_framed(&samples[i], (uint32_t)i + 1, &w) != 0) {
			fprintf(stderr, "gen: cannot encode %s\n",
			    samples[i].name);
			p2p_w_free(&w);
			return 1;
		}
		printf("%s 0000", samples[i].name);
		for (size_t j = 0; j < w.len; j++)
			printf(" %02x", w.p[j]);
		printf("\n");
		p2p_w_free(&w);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
write_body(const char *dir, const struct sample *s)
{
	char path[4096];
	p2p_wbuf w;
	FILE *f;
	int rc = 1;

	p2p_w_init(&w, 0);
	p2p_w_u16(&w, s->code);
	if (p2p_body_encode(&w, s->code, &s->body) != 0) {
		fprintf(stderr, "gen: cannot encode %s\n", s->name);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, s->name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		goto out;
	}
	if (fwrite(w.p, 1, w.len, f) == w.len)
		rc = 0;
	if (fclose(f) != 0)
		rc = 1;
	if (rc != 0)
		fprintf(stderr, "gen: cannot write %s\n", path);
out:
	p2p_w_free(&w);
	return rc;
}

/* One framed fragment per line, as text2pcap reads them. */
static int
print_fragment(const uint8_t *frag, size_t len, void *arg)
{
	uint32_t *seq = arg;
	p2p_wbuf w;
	int rc;

	p2p_w_init(&w, 0);
	rc = p2p_frame_data_encode(&w, (*seq)++, frag, len);
	if (rc == 0) {
		printf("0000");
		for (size_t j = 0; j < w.len; j++)
			printf(" %02x", w.p[j]);
		printf("\n");
	}
	p2p_w_free(&w);
	return rc;
}

/* A PingReq with 3000 bytes of padding, in fragments of at most 1200
 * bytes (frag.h). */
static int
print_fragments(void)
{
	static uint8_t pad[3000];
	p2p_ping_req pr = { { pad, sizeof(pad) } };
	p2p_wbuf body, msg;
	p2p_msg m;
	uint32_t seq = 1;
	int n = -1;

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = (uint8_t)i;
	p2p_w_init(&body, 0);
	p2p_w_init(&msg, 0);
	build_envelope(&m, 1);
	m.code = P2P_PING_REQ;
	if (p2p_ping_req_encode(&body, &pr) == 0) {
		m.body = sample_mem(body.p, body.len);
		if (p2p_msg_encode(&msg, &m) == 0)
			n = p2p_frag_split(msg.p, msg.len, 1200, print_fragment,
			    &seq);
	}
	p2p_w_free(&body);
	p2p_w_free(&msg);
	return n > 1 && fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	samples_init();
	if (argc == 1)
		return print_messages();
	if (argc == 2 && strcmp(argv[1], "-f") == 0)
		return print_fragments();
	if (argc == 3 && strcmp(argv[1], "-b") == 0) {
		for (size_t i = 0; i < nsamples; i++)
			if (write_body(argv[2], &samples[i]) != 0)
				return 1;
		return 0;
	}
	fprintf(stderr, "usage: gen [-b dir | -f]\n");
	return 2;
}
