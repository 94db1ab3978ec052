/* Unit tests for sip.c: parsing, stream framing, Via/Route editing,
 * answers. */
#include "unit.h"

#include "sip.h"

static const char invite[] =
    "INVITE sip:bob@example.org SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc;rport\r\n"
    "Route: <sip:127.0.0.1:5060;lr;p2pnode=00112233445566778899aabbccddeeff>\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.org>;tag=1\r\n"
    "To: <sip:bob@example.org>\r\n"
    "Call-ID: c1@x\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

static void
test_parse_and_edit(void **state)
{
	char err[96], *s;
	size_t len;
	osip_message_t *m, *r;
	osip_route_t *rt;

	(void)state;
	m = p2p_sip_parse(invite, sizeof(invite) - 1, err, sizeof(err));
	assert_non_null(m);
	assert_true(p2p_sip_is(m, "INVITE"));
	assert_string_equal(p2p_sip_top_branch(m), "z9hG4bKabc");
	rt = p2p_sip_top_route(m);
	assert_non_null(rt);
	assert_string_equal(p2p_sip_uri_param(rt->url, "p2pnode"),
	    "00112233445566778899aabbccddeeff");
	assert_string_equal(p2p_sip_uri_param(rt->url, "lr"), "");
	assert_null(p2p_sip_uri_param(rt->url, "gr"));
	p2p_sip_pop_route(m);
	assert_null(p2p_sip_top_route(m));
	assert_int_equal(p2p_sip_push_via(m,
	    "SIP/2.0/TLS 10.0.0.1:5060;branch=z9hG4bKnew"), 0);
	assert_string_equal(p2p_sip_top_branch(m), "z9hG4bKnew");
	assert_int_equal(p2p_sip_push_record_route(m,
	    "<sip:10.0.0.1:5060;lr>"), 0);
	assert_int_equal(p2p_sip_to_str(m, &s, &len), 0);
	assert_non_null(strstr(s, "Record-Route: <sip:10.0.0.1:5060;lr>"));
	assert_null(strstr(s, "Route: <sip:127.0.0.1"));
	osip_free(s);
	assert_int_equal(p2p_sip_pop_via(m), 0);
	assert_string_equal(p2p_sip_top_branch(m), "z9hG4bKabc");
	r = p2p_sip_response(m, 404, NULL, "t1");
	assert_non_null(r);
	assert_int_equal(p2p_sip_to_str(r, &s, &len), 0);
	assert_non_null(strstr(s, "SIP/2.0 404 Not Found\r\n"));
	assert_non_null(strstr(s, "tag=t1"));
	assert_non_null(strstr(s, "branch=z9hG4bKabc"));
	osip_free(s);
	osip_message_free(r);
	osip_message_free(m);
}

static void
test_parse_refuses(void **state)
{
	static const char *bad[] = {
		"",
		"hello world\r\n\r\n",
		/* no Via */
		"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n"
		"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n",
		/* CSeq method differs */
		"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1"
		"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
		"CSeq: 1 INVITE\r\n\r\n",
		/* no Call-ID */
		"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1"
		"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\n"
		"CSeq: 1 OPTIONS\r\n\r\n",
	};
	char err[96];
	char nul[] = "OPTIONS sip:a@b SIP/2.0\r\n\0\r\n";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(p2p_sip_parse(bad[i], strlen(bad[i]), err,
		    sizeof(err)));
	assert_null(p2p_sip_parse(nul, sizeof(nul) - 1, err, sizeof(err)));
	/* Every truncation of a good message that still parses keeps
	 * what a proxy needs; none crashes. */
	for (size_t n = 0; n < sizeof(invite) - 1; n++) {
		osip_message_t *m = p2p_sip_parse(invite, n, err, sizeof(err));
		if (m != NULL) {
			assert_non_null(m->call_id);
			assert_non_null(m->cseq);
			osip_message_free(m);
		}
	}
}

static void
test_frame(void **state)
{
	const uint8_t *in = (const uint8_t *)invite;
	size_t n = sizeof(invite) - 1, skip;
	char two[2 * sizeof(invite) + 8];
	long got;

	(void)state;
	assert_int_equal(p2p_sip_frame(in, n, P2P_SIP_MAX_MSG, &skip),
	    (long)n);
	assert_int_equal(skip, 0);
	/* Every prefix needs more bytes. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(p2p_sip_frame(in, k, P2P_SIP_MAX_MSG, &skip),
		    0);
	/* Keep-alives first, then two messages back to back. */
	snprintf(two, sizeof(two), "\r\n\r\n%s%s", invite, invite);
	got = p2p_sip_frame((const uint8_t *)two, strlen(two),
	    P2P_SIP_MAX_MSG, &skip);
	assert_int_equal(skip, 4);
	assert_int_equal(got, (long)(4 + n));
	/* Too large, not SIP, no or two different Content-Lengths. */
	assert_int_equal(p2p_sip_frame(in, n, 50, &skip), -1);
	assert_int_equal(p2p_sip_frame((const uint8_t *)"A\r\n\r\n", 5,
	    P2P_SIP_MAX_MSG, &skip), -1);
	assert_int_equal(p2p_sip_frame((const uint8_t *)
	    "A\r\nContent-Length: 1\r\nl: 2\r\n\r\nxx", 31, P2P_SIP_MAX_MSG,
	    &skip), -1);
	assert_int_equal(p2p_sip_frame((const uint8_t *)
	    "A\r\nContent-Length: x1\r\n\r\n", 25, P2P_SIP_MAX_MSG, &skip),
	    -1);
	assert_int_equal(p2p_sip_frame((const uint8_t *)
	    "A\r\nl: 2\r\n\r\nxy", 13, P2P_SIP_MAX_MSG, &skip), 13);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_edit),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
