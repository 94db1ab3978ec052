#include "unit.h"

#include "sockaddr.h"

#define SA(ss) ((const struct sockaddr *)(ss))

static void
test_parse_v4(void **state)
{
	struct sockaddr_storage ss;
	char ip[INET6_ADDRSTRLEN], full[P2P_SA_NAMELEN];

	(void)state;
	assert_int_equal(p2p_sa_parse("192.0.2.7", 6084, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(p2p_sa_port(SA(&ss)), 6084);
	assert_int_equal(p2p_sa_len(SA(&ss)), sizeof(struct sockaddr_in));
	p2p_sa_name(SA(&ss), ip, sizeof(ip), full, sizeof(full));
	assert_string_equal(ip, "192.0.2.7");
	assert_string_equal(full, "192.0.2.7:6084");
	assert_int_equal(p2p_sa_parse("0.0.0.0", 0, &ss), 0);
	assert_int_equal(p2p_sa_port(SA(&ss)), 0);
	assert_int_equal(p2p_sa_parse("255.255.255.255", 65535, &ss), 0);
	assert_int_equal(p2p_sa_port(SA(&ss)), 65535);
}

static void
test_parse_v6(void **state)
{
	struct sockaddr_storage ss;
	char full[P2P_SA_NAMELEN];

	(void)state;
	assert_int_equal(p2p_sa_parse("2001:db8::1", 5060, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(p2p_sa_port(SA(&ss)), 5060);
	assert_int_equal(p2p_sa_len(SA(&ss)), sizeof(struct sockaddr_in6));
	p2p_sa_name(SA(&ss), NULL, 0, full, sizeof(full));
	assert_string_equal(full, "[2001:db8::1]:5060");
	/* The longest name fits P2P_SA_NAMELEN. */
	assert_int_equal(p2p_sa_parse("ffff:ffff:ffff:ffff:ffff:ffff:"
	    "ffff:ffff", 65535, &ss), 0);
	p2p_sa_name(SA(&ss), NULL, 0, full, sizeof(full));
	assert_string_equal(full,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	assert_int_equal(p2p_sa_parse("::ffff:192.0.2.1", 1, &ss), 0);
	p2p_sa_name(SA(&ss), NULL, 0, full, sizeof(full));
	assert_string_equal(full, "[::ffff:192.0.2.1]:1");
}

static void
test_parse_bad(void **state)
{
	static const char *bad[] = { "", "localhost", "1.2.3", "1.2.3.4.5",
	    "256.1.1.1", "1.2.3.4:80", "::g", "[::1]", "2001:db8::1::2",
	    " 1.2.3.4" };
	struct sockaddr_storage ss;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ss, 0xa5, sizeof(ss));
		assert_int_equal(p2p_sa_parse(bad[i], 1, &ss), UV_EINVAL);
		assert_int_equal(ss.ss_family, AF_UNSPEC);	/* zeroed */
	}
	assert_int_equal(p2p_sa_parse(NULL, 1, &ss), UV_EINVAL);
	assert_int_equal(p2p_sa_parse("127.0.0.1", -1, &ss), UV_EINVAL);
	assert_int_equal(p2p_sa_parse("127.0.0.1", 65536, &ss), UV_EINVAL);
	assert_int_equal(p2p_sa_parse("::1", 70000, &ss), UV_EINVAL);
}

static void
test_no_address(void **state)
{
	struct sockaddr_storage ss, v4;
	char ip[8], full[8];

	(void)state;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(p2p_sa_port(SA(&ss)), -1);
	p2p_sa_name(SA(&ss), ip, sizeof(ip), full, sizeof(full));
	assert_string_equal(ip, "?");
	assert_string_equal(full, "?");
	assert_false(p2p_sa_eq(SA(&ss), SA(&ss)));
	assert_int_equal(p2p_sa_parse("10.0.0.1", 1, &v4), 0);
	assert_false(p2p_sa_eq(SA(&ss), SA(&v4)));
	/* A short buffer is cut, not overrun. */
	p2p_sa_name(SA(&v4), ip, sizeof(ip), full, sizeof(full));
	assert_string_equal(ip, "10.0.0.");
	assert_string_equal(full, "10.0.0.");
}

static void
test_eq(void **state)
{
	struct sockaddr_storage a, b;

	(void)state;
	assert_int_equal(p2p_sa_parse("127.0.0.1", 6084, &a), 0);
	assert_int_equal(p2p_sa_parse("127.0.0.1", 6084, &b), 0);
	assert_true(p2p_sa_eq(SA(&a), SA(&b)));
	assert_int_equal(p2p_sa_parse("127.0.0.1", 6085, &b), 0);
	assert_false(p2p_sa_eq(SA(&a), SA(&b)));
	assert_int_equal(p2p_sa_parse("127.0.0.2", 6084, &b), 0);
	assert_false(p2p_sa_eq(SA(&a), SA(&b)));
	assert_int_equal(p2p_sa_parse("::ffff:127.0.0.1", 6084, &b), 0);
	assert_false(p2p_sa_eq(SA(&a), SA(&b)));	/* other family */
	assert_int_equal(p2p_sa_parse("::1", 6084, &a), 0);
	assert_int_equal(p2p_sa_parse("0::1", 6084, &b), 0);
	assert_true(p2p_sa_eq(SA(&a), SA(&b)));
	assert_int_equal(p2p_sa_parse("::2", 6084, &b), 0);
	assert_false(p2p_sa_eq(SA(&a), SA(&b)));
	assert_int_equal(p2p_sa_parse("::1", 6085, &b), 0);
	assert_false(p2p_sa_eq(SA(&a), SA(&b)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),
		cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_no_address),
		cmocka_unit_test(test_eq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
