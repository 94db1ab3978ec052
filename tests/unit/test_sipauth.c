/* Unit tests for sipauth.c: the Digest computation, challenges and their
 * answers, nonce expiry, password files. */
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sip.h"
#include "sipauth.h"

#define NOW 1800000000ull

/* RFC 2617 s3.5's example (its method and URI, qop auth). */
static void
test_rfc2617_vector(void **state)
{
	char out[33];

	(void)state;
	assert_int_equal(p2p_sipauth_response("Mufasa", "testrealm@host.com",
	    "Circle Of Life", "GET", "/dir/index.html",
	    "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b",
	    "auth", out), 0);
	assert_string_equal(out, "6629fae49393a05397450978507c4ef1");
	/* without qop (RFC 2069): MD5(HA1:nonce:HA2), another value */
	assert_int_equal(p2p_sipauth_response("Mufasa", "testrealm@host.com",
	    "Circle Of Life", "GET", "/dir/index.html",
	    "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", NULL, out), 0);
	assert_string_not_equal(out, "6629fae49393a05397450978507c4ef1");
	assert_int_equal(strlen(out), 32);
}

static const char reg_fmt[] =
    "REGISTER sip:test.p2psip SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@test.p2psip>;tag=1\r\n"
    "To: <sip:alice@test.p2psip>\r\n"
    "Call-ID: r1@x\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:alice@127.0.0.1:5070>\r\n"
    "%s"
    "Content-Length: 0\r\n"
    "\r\n";

static osip_message_t *
parse(const char *hdr)
{
	char buf[2048], err[96];
	int n = snprintf(buf, sizeof(buf), reg_fmt, hdr);

	assert_true(n > 0 && (size_t)n < sizeof(buf));
	return p2p_sip_parse(buf, (size_t)n, err, sizeof(err));
}

/* The nonce of the challenge a sends at time t. */
static void
challenge_nonce(const p2p_sipauth *a, int proxy, uint64_t t, char *nonce,
    size_t cap)
{
	osip_message_t *m = parse(""), *r;
	osip_www_authenticate_t *w = NULL;
	const char *v;
	size_t n;

	assert_non_null(m);
	r = p2p_sip_response(m, proxy ? 407 : 401, NULL, "x");
	assert_non_null(r);
	assert_int_equal(p2p_sipauth_challenge(a, r, proxy, 0, t), 0);
	if (proxy)
		assert_int_equal(osip_message_get_proxy_authenticate(r, 0, &w),
		    0);
	else
		assert_int_equal(osip_message_get_www_authenticate(r, 0, &w),
		    0);
	assert_non_null(w);
	assert_string_equal(w->realm, "\"test.p2psip\"");
	assert_string_equal(w->algorithm, "MD5");
	v = w->nonce;
	n = strlen(v);
	assert_true(n > 2 && n - 2 < cap);
	memcpy(nonce, v + 1, n - 2);
	nonce[n - 2] = '\0';
	osip_message_free(r);
	osip_message_free(m);
}

/* An Authorization header line answering nonce with pass, each with the
 * next nonce count, as a user agent sends them. */
static void
credentials(char *out, size_t cap, const char *hname, const char *user,
    const char *realm, const char *pass, const char *nonce)
{
	static unsigned count;
	char resp[33], nc[9];

	snprintf(nc, sizeof(nc), "%08x", ++count);
	assert_int_equal(p2p_sipauth_response(user, realm, pass, "REGISTER",
	    "sip:test.p2psip", nonce, nc, "c0ffee", "auth", resp), 0);
	snprintf(out, cap, "%s: Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"sip:test.p2psip\", response=\"%s\", "
	    "algorithm=MD5, qop=auth, nc=%s, cnonce=\"c0ffee\"\r\n",
	    hname, user, realm, nonce, resp, nc);
}

static enum p2p_sipauth_result
check_hdr(p2p_sipauth *a, const char *hdr, int proxy, uint64_t now)
{
	osip_message_t *m = parse(hdr);
	enum p2p_sipauth_result r;

	assert_non_null(m);
	r = p2p_sipauth_check(a, m, proxy, now);
	osip_message_free(m);
	return r;
}

/* The check of credentials for nonce made with user, realm and pass. */
static enum p2p_sipauth_result
answer(p2p_sipauth *a, int proxy, const char *user, const char *realm,
    const char *pass, const char *nonce, int check_proxy, uint64_t now)
{
	char hdr[1024];

	credentials(hdr, sizeof(hdr), proxy ? "Proxy-Authorization" :
	    "Authorization", user, realm, pass, nonce);
	return check_hdr(a, hdr, check_proxy, now);
}

static void
test_challenge_and_answer(void **state)
{
	p2p_sipauth a;
	char nonce[128], hdr[1024];
	const char *pw = "s3cret pass", *re = "test.p2psip";

	(void)state;
	assert_int_equal(p2p_sipauth_init(&a, re, "alice@test.p2psip", pw),
	    0);
	challenge_nonce(&a, 0, NOW, nonce, sizeof(nonce));

	assert_int_equal(answer(&a, 0, "alice", re, pw, nonce, 0, NOW + 1),
	    P2P_SIPAUTH_OK);
	/* the whole AOR as username */
	assert_int_equal(answer(&a, 0, "alice@test.p2psip", re, pw, nonce, 0,
	    NOW + 1), P2P_SIPAUTH_OK);
	/* after the nonce's lifetime: stale, not bad */
	assert_int_equal(answer(&a, 0, "alice", re, pw, nonce, 0,
	    NOW + P2P_SIPAUTH_NONCE_S + 1), P2P_SIPAUTH_STALE);
	/* an Authorization is not a Proxy-Authorization, and the reverse */
	assert_int_equal(answer(&a, 0, "alice", re, pw, nonce, 1, NOW + 1),
	    P2P_SIPAUTH_MISSING);
	assert_int_equal(answer(&a, 1, "alice", re, pw, nonce, 0, NOW + 1),
	    P2P_SIPAUTH_MISSING);
	/* wrong password, wrong user */
	assert_int_equal(answer(&a, 0, "alice", re, "guess", nonce, 0,
	    NOW + 1), P2P_SIPAUTH_BAD);
	assert_int_equal(answer(&a, 0, "bob", re, pw, nonce, 0, NOW + 1),
	    P2P_SIPAUTH_BAD);
	/* someone else's realm only: missing; no header: missing */
	assert_int_equal(answer(&a, 0, "alice", "elsewhere", pw, nonce, 0,
	    NOW + 1), P2P_SIPAUTH_MISSING);
	assert_int_equal(check_hdr(&a, "", 0, NOW + 1), P2P_SIPAUTH_MISSING);
	/* a nonce we did not make (one digit changed) */
	nonce[20] = nonce[20] == 'a' ? 'b' : 'a';
	assert_int_equal(answer(&a, 0, "alice", re, pw, nonce, 0, NOW + 1),
	    P2P_SIPAUTH_BAD);

	/* the same credentials again (same nonce count): a replay */
	challenge_nonce(&a, 0, NOW, nonce, sizeof(nonce));
	credentials(hdr, sizeof(hdr), "Authorization", "alice", re, pw,
	    nonce);
	assert_int_equal(check_hdr(&a, hdr, 0, NOW + 1), P2P_SIPAUTH_OK);
	assert_int_equal(check_hdr(&a, hdr, 0, NOW + 2), P2P_SIPAUTH_BAD);
	/* the next count with the same nonce is fine */
	assert_int_equal(answer(&a, 0, "alice", re, pw, nonce, 0, NOW + 3),
	    P2P_SIPAUTH_OK);
	/* without qop (RFC 2069) there is no count: accepted again */
	{
		char resp[33], h2[1024];
		assert_int_equal(p2p_sipauth_response("alice", re, pw,
		    "REGISTER", "sip:test.p2psip", nonce, "", "", NULL,
		    resp), 0);
		snprintf(h2, sizeof(h2), "Authorization: Digest "
		    "username=\"alice\", realm=\"%s\", nonce=\"%s\", "
		    "uri=\"sip:test.p2psip\", response=\"%s\"\r\n", re,
		    nonce, resp);
		assert_int_equal(check_hdr(&a, h2, 0, NOW + 4),
		    P2P_SIPAUTH_OK);
		assert_int_equal(check_hdr(&a, h2, 0, NOW + 5),
		    P2P_SIPAUTH_OK);
	}

	/* a proxy challenge */
	challenge_nonce(&a, 1, NOW, nonce, sizeof(nonce));
	assert_int_equal(answer(&a, 1, "alice", re, pw, nonce, 1, NOW + 1),
	    P2P_SIPAUTH_OK);

	/* malformed fields */
	assert_int_equal(check_hdr(&a, "Authorization: Digest "
	    "username=\"alice\", realm=\"test.p2psip\", nonce=\"\", "
	    "uri=\"sip:x\", response=\"00\"\r\n", 0, NOW),
	    P2P_SIPAUTH_BAD);
	assert_int_equal(check_hdr(&a, "Authorization: Digest "
	    "username=\"alice\", realm=\"test.p2psip\"\r\n", 0, NOW),
	    P2P_SIPAUTH_BAD);
}

/* The user agent's answer (p2p_sipauth_answer) to the front's challenge
 * passes the front's check; for 401 and 407, stale passed on, counts
 * used once. */
static void
test_agent_answer(void **state)
{
	p2p_sipauth a;
	const char *pw = "s3cret pass", *re = "test.p2psip";
	char val[1024], hdr[1100];
	int proxy, stale;

	(void)state;
	assert_int_equal(p2p_sipauth_init(&a, re, "alice@test.p2psip", pw),
	    0);
	for (int px = 0; px < 2; px++) {
		osip_message_t *m = parse(""), *r;

		assert_non_null(m);
		r = p2p_sip_response(m, px ? 407 : 401, NULL, "x");
		assert_non_null(r);
		/* each its own nonce (another time) */
		assert_int_equal(p2p_sipauth_challenge(&a, r, px, 1,
		    NOW + 10 * (uint64_t)px), 0);
		assert_int_equal(p2p_sipauth_answer(r, "REGISTER",
		    "sip:test.p2psip", "alice", pw, 1, val, sizeof(val),
		    &proxy, &stale), 0);
		assert_int_equal(proxy, px);
		assert_int_equal(stale, 1);
		assert_non_null(strstr(val, "qop=auth, nc=00000001"));
		snprintf(hdr, sizeof(hdr), "%s: %s\r\n",
		    px ? "Proxy-Authorization" : "Authorization", val);
		assert_int_equal(check_hdr(&a, hdr, px, NOW + 11),
		    P2P_SIPAUTH_OK);
		/* the same count again is a replay */
		assert_int_equal(check_hdr(&a, hdr, px, NOW + 12),
		    P2P_SIPAUTH_BAD);
		/* the wrong password is refused */
		assert_int_equal(p2p_sipauth_answer(r, "REGISTER",
		    "sip:test.p2psip", "alice", "guess", 2, val, sizeof(val),
		    &proxy, &stale), 0);
		snprintf(hdr, sizeof(hdr), "%s: %s\r\n",
		    px ? "Proxy-Authorization" : "Authorization", val);
		assert_int_equal(check_hdr(&a, hdr, px, NOW + 11),
		    P2P_SIPAUTH_BAD);
		/* too small a buffer */
		assert_int_equal(p2p_sipauth_answer(r, "REGISTER",
		    "sip:test.p2psip", "alice", pw, 3, val, 40, &proxy,
		    &stale), -1);
		osip_message_free(r);
		/* no challenge at all */
		r = p2p_sip_response(m, 401, NULL, "x");
		assert_int_equal(p2p_sipauth_answer(r, "REGISTER",
		    "sip:test.p2psip", "alice", pw, 1, val, sizeof(val),
		    &proxy, &stale), -1);
		osip_message_free(r);
		osip_message_free(m);
	}
}

static void
test_init_refuses(void **state)
{
	p2p_sipauth a;

	(void)state;
	assert_int_equal(p2p_sipauth_init(&a, "r", "noat", "p"), -1);
	assert_int_equal(p2p_sipauth_init(&a, "r", "@x", "p"), -1);
	assert_int_equal(p2p_sipauth_init(&a, "r", "a@x", ""), -1);
	assert_int_equal(p2p_sipauth_init(&a, "r\"", "a@x", "p"), -1);
	assert_int_equal(p2p_sipauth_init(&a, "r", "a@x", "p\n"), -1);
	assert_int_equal(p2p_sipauth_init(&a, "r", "a@x", "p"), 0);
}

static void
test_password_file(void **state)
{
	char dir[] = "/tmp/p2p-sipauth-XXXXXX", path[64], pass[300], why[200];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pw", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "open sesame\nsecond line\n", 24), 24);
	close(fd);
	assert_int_equal(p2p_sipauth_read_password(path, pass, sizeof(pass),
	    why, sizeof(why)), 0);
	assert_string_equal(pass, "open sesame");
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(p2p_sipauth_read_password(path, pass, sizeof(pass),
	    why, sizeof(why)), -1);
	assert_non_null(strstr(why, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	assert_int_equal(p2p_sipauth_read_password(path, pass, sizeof(pass),
	    why, sizeof(why)), -1);
	unlink(path);
	assert_int_equal(p2p_sipauth_read_password(path, pass, sizeof(pass),
	    why, sizeof(why)), -1);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc2617_vector),
		cmocka_unit_test(test_challenge_and_answer),
		cmocka_unit_test(test_agent_answer),
		cmocka_unit_test(test_init_refuses),
		cmocka_unit_test(test_password_file),
	};

	p2p_sip_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
