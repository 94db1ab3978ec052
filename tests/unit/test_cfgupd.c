#include "unit.h"

#include "cfgupd.h"
#include "unit_cfg.h"

/* A configuration of OVERLAY (or instance) with this sequence, rooted
 * at s's CA and naming s as its signer; signed by by (NULL: unsigned). */
static void
doc_make(const struct signer *s, const struct signer *by, uint32_t seq,
    const char *instance, time_t expiration, p2p_wbuf *out)
{
	p2p_config c;
	p2p_wbuf w;
	p2p_err err;
	uint8_t *der;
	size_t len;

	assert_int_equal(p2p_config_init(&c), 0);
	c.instance_name = strdup(instance != NULL ? instance : OVERLAY);
	c.sequence = seq;
	c.expiration = expiration;
	c.no_ice = 1;
	assert_int_equal(p2p_cert_to_der(s->ca, &der, &len, &err), 0);
	assert_int_equal(p2p_config_add_root_cert(&c, der, len), 0);
	free(der);
	assert_int_equal(p2p_config_add_id(&c.config_signers,
	    &c.nconfig_signers, &s->id.node), 0);
	p2p_w_init(&w, 0);
	p2p_w_init(out, 0);
	assert_int_equal(p2p_config_write(&c, &w, &err), 0);
	if (by != NULL)
		assert_int_equal(p2p_config_sign((char *)w.p, w.len, &by->id,
		    out, &err), 0);
	else
		p2p_w_raw(out, w.p, w.len);
	p2p_w_free(&w);
	p2p_config_free(&c);
}

/* The configuration in use: s's document with sequence seq. */
struct current {
	p2p_config c;
	p2p_trust *trust;
};

static void
current_make(struct current *cur, const struct signer *s, uint32_t seq)
{
	p2p_wbuf w;
	p2p_err err;

	doc_make(s, s, seq, NULL, 0, &w);
	assert_int_equal(p2p_config_parse((char *)w.p, w.len, NULL, &cur->c,
	    &err), 0);
	cur->trust = p2p_config_trust(&cur->c, &err);
	assert_non_null(cur->trust);
	p2p_w_free(&w);
}

static void
current_free(struct current *cur)
{
	p2p_config_free(&cur->c);
	p2p_trust_free(cur->trust);
}

/* Check w against cur; the result, with err's code in *code. */
static int
check(const struct current *cur, p2p_wbuf *w, uint16_t *code,
    uint32_t *seq)
{
	p2p_config out;
	p2p_err err = { 0 };
	int r;

	r = p2p_config_check_update(&cur->c, cur->trust, (char *)w->p, w->len,
	    time(NULL), &out, &err);
	*code = err.reload_code;
	if (r == P2P_CFGUPD_NEWER) {
		*seq = out.sequence;
		p2p_config_free(&out);
	}
	p2p_w_free(w);
	return r;
}

static void
test_seq_compare(void **state)
{
	(void)state;
	assert_true(p2p_config_seq_newer(1, 0));
	assert_false(p2p_config_seq_newer(0, 1));
	assert_false(p2p_config_seq_newer(5, 5));
	/* across the wrap: 0 follows 65534 */
	assert_true(p2p_config_seq_newer(0, 65534));
	assert_false(p2p_config_seq_newer(65534, 0));
	assert_true(p2p_config_seq_newer(3, 65530));
	/* half the circle: ahead by up to 32767 is newer */
	assert_true(p2p_config_seq_newer(32767, 0));
	assert_false(p2p_config_seq_newer(32768, 0));
	assert_true(p2p_config_seq_newer(0, 32768));
	/* 65535 names no configuration */
	assert_false(p2p_config_seq_newer(65535, 3));
	assert_false(p2p_config_seq_newer(3, 65535));
	assert_int_equal(p2p_config_seq_next(0), 1);
	assert_int_equal(p2p_config_seq_next(65533), 65534);
	assert_int_equal(p2p_config_seq_next(65534), 0);
	assert_int_equal(p2p_config_seq_next(65535), 0);
}

static void
test_newer_same_older(void **state)
{
	struct signer s;
	struct current cur;
	p2p_wbuf w;
	uint16_t code;
	uint32_t seq = 0;

	(void)state;
	signer_make(&s, "CA");
	current_make(&cur, &s, 3);
	doc_make(&s, &s, 4, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_NEWER);
	assert_int_equal(seq, 4);
	doc_make(&s, &s, 3, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_SAME);
	doc_make(&s, &s, 2, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_CONFIG_TOO_OLD);
	current_free(&cur);
	/* After 65534 comes 0, and it is newer. */
	current_make(&cur, &s, 65534);
	doc_make(&s, &s, 0, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_NEWER);
	assert_int_equal(seq, 0);
	doc_make(&s, &s, 65535, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_INVALID_MESSAGE);
	current_free(&cur);
	signer_free(&s);
}

static void
test_refusals(void **state)
{
	struct signer s, other;
	struct current cur;
	p2p_wbuf w;
	uint16_t code;
	uint32_t seq = 0;
	uint8_t *p;

	(void)state;
	signer_make(&s, "CA");
	signer_make(&other, "Other CA");
	current_make(&cur, &s, 3);
	/* another CA's document for the same overlay */
	doc_make(&other, &other, 9, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_FORBIDDEN);
	/* ours, signed by the other signer */
	doc_make(&s, &other, 9, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_FORBIDDEN);
	/* unsigned */
	doc_make(&s, NULL, 9, NULL, 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_FORBIDDEN);
	/* tampered after signing: no-ice true -> false */
	doc_make(&s, &s, 9, NULL, 0, &w);
	p = memmem(w.p, w.len, "<no-ice>true", 12);
	assert_non_null(p);
	memcpy(p + 8, "1   ", 4);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_FORBIDDEN);
	/* expired */
	doc_make(&s, &s, 9, NULL, time(NULL) - 60, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_FORBIDDEN);
	/* another overlay */
	doc_make(&s, &s, 9, "other.example.org", 0, &w);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_INVALID_MESSAGE);
	/* not a configuration at all */
	p2p_w_init(&w, 0);
	p2p_w_raw(&w, "<overlay/>", 10);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_INVALID_MESSAGE);
	current_free(&cur);
	signer_free(&other);
	signer_free(&s);
}

/* A document that verifies under today's roots but not under the roots it
 * lists itself would not load after a restart: refused. */
static void
test_own_roots_needed(void **state)
{
	struct signer s, other;
	struct current cur;
	p2p_wbuf w;
	uint16_t code;
	uint32_t seq = 0;
	p2p_config c;
	p2p_wbuf body;
	p2p_err err;
	uint8_t *der;
	size_t len;

	(void)state;
	signer_make(&s, "CA");
	signer_make(&other, "Other CA");
	current_make(&cur, &s, 3);
	assert_int_equal(p2p_config_init(&c), 0);
	c.instance_name = strdup(OVERLAY);
	c.sequence = 4;
	assert_int_equal(p2p_cert_to_der(other.ca, &der, &len, &err), 0);
	assert_int_equal(p2p_config_add_root_cert(&c, der, len), 0);
	free(der);
	assert_int_equal(p2p_config_add_id(&c.config_signers,
	    &c.nconfig_signers, &s.id.node), 0);
	p2p_w_init(&body, 0);
	p2p_w_init(&w, 0);
	assert_int_equal(p2p_config_write(&c, &body, &err), 0);
	assert_int_equal(p2p_config_sign((char *)body.p, body.len, &s.id, &w,
	    &err), 0);
	assert_int_equal(check(&cur, &w, &code, &seq), P2P_CFGUPD_REFUSED);
	assert_int_equal(code, P2P_ERR_FORBIDDEN);
	p2p_w_free(&body);
	p2p_config_free(&c);
	current_free(&cur);
	signer_free(&other);
	signer_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_compare),
		cmocka_unit_test(test_newer_same_older),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_own_roots_needed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
