#include "unit.h"

#include "id.h"

static p2p_id
idx(const char *hex)
{
	p2p_id id;

	assert_true(p2p_id_from_hex(&id, hex));
	return id;
}

static void
test_hex_round_trip(void **state)
{
	char buf[P2P_ID_HEXLEN + 1];
	p2p_id a = idx("0123456789ABCDEF0123456789abcdef");

	(void)state;
	assert_string_equal(p2p_id_hex(&a, buf),
	    "0123456789abcdef0123456789abcdef");
	assert_false(p2p_id_from_hex(&a, "0123"));
	assert_false(p2p_id_from_hex(&a, "0123456789abcdef0123456789abcdeg"));
	assert_false(p2p_id_from_hex(&a, "0123456789abcdef0123456789abcdef0"));
	assert_false(p2p_id_from_hex(&a, NULL));
}

static void
test_add_and_distance_wrap(void **state)
{
	p2p_id max = idx("ffffffffffffffffffffffffffffffff");
	p2p_id one = idx("00000000000000000000000000000001");
	p2p_id r;

	(void)state;
	p2p_id_add(&r, &max, &one);
	assert_true(p2p_id_is_zero(&r));
	p2p_id_distance(&r, &max, &one);	/* one - max = 2 */
	assert_true(p2p_id_eq(&r, &(p2p_id){ .b = { [15] = 2 } }));
	p2p_id_add_pow2(&r, &one, 127);
	assert_int_equal(r.b[0], 0x80);
	assert_int_equal(r.b[15], 1);
	p2p_id_add_pow2(&r, &max, 0);
	assert_true(p2p_id_is_zero(&r));
	p2p_id_add_u64(&r, &max, 2);
	assert_true(p2p_id_eq(&r, &one));
	assert_true(p2p_id_is_wildcard(&max));
}

static void
test_intervals(void **state)
{
	p2p_id a = idx("10000000000000000000000000000000");
	p2p_id b = idx("20000000000000000000000000000000");
	p2p_id m = idx("18000000000000000000000000000000");
	p2p_id z = idx("00000000000000000000000000000005");

	(void)state;
	assert_true(p2p_id_in_oc(&m, &a, &b));
	assert_true(p2p_id_in_oc(&b, &a, &b));
	assert_false(p2p_id_in_oc(&a, &a, &b));
	assert_false(p2p_id_in_oc(&z, &a, &b));
	/* wrapping interval (b, a] contains z */
	assert_true(p2p_id_in_oc(&z, &b, &a));
	assert_false(p2p_id_in_oc(&m, &b, &a));
	assert_true(p2p_id_in_oo(&m, &a, &b));
	assert_false(p2p_id_in_oo(&b, &a, &b));
	/* a single node owns the whole ring */
	assert_true(p2p_id_in_oc(&z, &a, &a));
	assert_false(p2p_id_in_oo(&a, &a, &a));
	assert_true(p2p_id_in_oo(&z, &a, &a));
}

static void
test_resource_id_is_sha1_prefix(void **state)
{
	p2p_id r;
	char buf[P2P_ID_HEXLEN + 1];

	(void)state;
	/* SHA-1("abc") = a9993e364706816aba3e25717850c26c9cd0d89d */
	p2p_id_from_name(&r, "abc", 3);
	assert_string_equal(p2p_id_hex(&r, buf),
	    "a9993e364706816aba3e25717850c26c");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_round_trip),
		cmocka_unit_test(test_add_and_distance_wrap),
		cmocka_unit_test(test_intervals),
		cmocka_unit_test(test_resource_id_is_sha1_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
