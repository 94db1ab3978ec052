#include "unit.h"

#include "buf.h"

static void
test_read_ints(void **state)
{
	static const uint8_t in[] = { 1, 0, 2, 0, 0, 3, 0, 0, 0, 4,
	    0, 0, 0, 0, 0, 0, 0, 5 };
	p2p_rbuf r;
	uint8_t a; uint16_t b; uint32_t c, d; uint64_t e;

	(void)state;
	p2p_r_init(&r, in, sizeof(in));
	assert_true(p2p_r_u8(&r, &a) && a == 1);
	assert_true(p2p_r_u16(&r, &b) && b == 2);
	assert_true(p2p_r_u24(&r, &c) && c == 3);
	assert_true(p2p_r_u32(&r, &d) && d == 4);
	assert_true(p2p_r_u64(&r, &e) && e == 5);
	assert_int_equal(p2p_r_left(&r), 0);
	assert_false(p2p_r_u8(&r, &a));
}

static void
test_short_reads_fail_untouched(void **state)
{
	static const uint8_t in[] = { 0xaa, 0xbb, 0xcc };
	p2p_rbuf r;
	uint32_t v = 77;
	uint64_t w = 99;

	(void)state;
	p2p_r_init(&r, in, sizeof(in));
	assert_false(p2p_r_u32(&r, &v));
	assert_int_equal(v, 77);
	assert_false(p2p_r_u64(&r, &w));
	assert_int_equal(w, 99);
	assert_int_equal(p2p_r_left(&r), 3);
	assert_true(p2p_r_u24(&r, &v) && v == 0xaabbcc);
}

static void
test_vectors(void **state)
{
	static const uint8_t in[] = { 0x00, 0x02, 'h', 'i', 0x05, 'x' };
	p2p_rbuf r;
	p2p_bytes b;

	(void)state;
	p2p_r_init(&r, in, sizeof(in));
	assert_true(p2p_r_vec(&r, 2, &b));
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.p, "hi", 2);
	/* length 5 but only 1 byte left: fails, reader unchanged */
	assert_false(p2p_r_vec(&r, 1, &b));
	assert_int_equal(p2p_r_left(&r), 2);
	assert_false(p2p_r_vec(&r, 5, &b));
	assert_false(p2p_r_vec(&r, 0, &b));
	p2p_r_init(&r, in, 4);
	assert_false(p2p_r_vec_range(&r, 2, 3, 10, &b));
	assert_int_equal(p2p_r_left(&r), 4);
	assert_true(p2p_r_vec_range(&r, 2, 1, 2, &b));
}

static void
test_writer_grows_and_patches(void **state)
{
	p2p_wbuf w;
	size_t m, m2;

	(void)state;
	p2p_w_init(&w, 0);
	p2p_w_u8(&w, 1);
	m = p2p_w_begin(&w, 3);
	for (int i = 0; i < 1000; i++)
		p2p_w_u32(&w, (uint32_t)i);
	m2 = p2p_w_begin(&w, 1);
	p2p_w_raw(&w, "abc", 3);
	p2p_w_end(&w, m2, 1);
	p2p_w_end(&w, m, 3);
	assert_true(p2p_w_ok(&w));
	assert_int_equal(w.len, 1 + 3 + 4000 + 1 + 3);
	assert_int_equal(w.p[1], 0);
	assert_int_equal(w.p[2], (4004 >> 8) & 0xff);
	assert_int_equal(w.p[3], 4004 & 0xff);
	assert_int_equal(w.p[4 + 4000], 3);
	p2p_w_free(&w);
}

static void
test_writer_errors_are_sticky(void **state)
{
	uint8_t mem[4];
	uint8_t big[300];
	p2p_wbuf w;
	size_t m;

	(void)state;
	p2p_w_init_fixed(&w, mem, sizeof(mem));
	p2p_w_u32(&w, 1);
	assert_true(p2p_w_ok(&w));
	p2p_w_u8(&w, 1);
	assert_false(p2p_w_ok(&w));
	assert_int_equal(w.err, P2P_WBUF_FULL);
	assert_int_equal(w.len, 4);
	p2p_w_u8(&w, 2);
	assert_int_equal(w.len, 4);

	memset(big, 0, sizeof(big));
	p2p_w_init(&w, 0);
	p2p_w_vec(&w, 1, big, sizeof(big));	/* 300 > 255 */
	assert_int_equal(w.err, P2P_WBUF_RANGE);
	p2p_w_free(&w);

	p2p_w_init(&w, 0);
	m = p2p_w_begin(&w, 1);
	p2p_w_raw(&w, big, sizeof(big));
	p2p_w_end(&w, m, 1);
	assert_int_equal(w.err, P2P_WBUF_RANGE);
	p2p_w_free(&w);

	p2p_w_init(&w, 0);
	p2p_w_u24(&w, 0x1000000);
	assert_false(p2p_w_ok(&w));
	p2p_w_free(&w);
}

static void
test_arena(void **state)
{
	_Alignas(16) uint8_t mem[64];
	p2p_arena a;
	void *p, *q;

	(void)state;
	p2p_arena_init(&a, mem, sizeof(mem));
	p = p2p_arena_alloc(&a, 3);
	q = p2p_arena_alloc(&a, 8);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)q % _Alignof(max_align_t), 0);
	assert_null(p2p_arena_alloc(&a, 64));
	assert_null(p2p_arena_array(&a, SIZE_MAX / 2, 4));
	p2p_arena_reset(&a);
	assert_non_null(p2p_arena_alloc(&a, 64));
	p2p_arena_init(&a, NULL, 100);
	assert_null(p2p_arena_alloc(&a, 1));
}

static void
test_base64(void **state)
{
	const uint8_t bytes[] = { 0x00, 0x01, 0xab, 0xff, 0x7f, 0xfe };
	char *s;
	uint8_t *d;
	size_t m;

	(void)state;
	for (size_t n = 0; n <= sizeof(bytes); n++) {
		s = p2p_base64_encode(bytes, n);
		assert_non_null(s);
		assert_int_equal(strlen(s), 4 * ((n + 2) / 3));
		assert_int_equal(p2p_base64_decode(s, strlen(s), &d, &m), 0);
		assert_int_equal(m, n);
		if (n > 0)
			assert_memory_equal(d, bytes, n);
		free(d);
		free(s);
	}
	s = p2p_base64_encode((const uint8_t *)"hi!", 3);
	assert_string_equal(s, "aGkh");
	free(s);
	assert_int_equal(p2p_base64_decode("aGVs\nbG8=", 9, &d, &m), 0);
	assert_int_equal(m, 5);
	assert_memory_equal(d, "hello", 5);
	free(d);
	assert_int_equal(p2p_base64_decode("aGk", 3, &d, &m), -1);
	assert_int_equal(p2p_base64_decode("a*kh", 4, &d, &m), -1);
	assert_int_equal(p2p_base64_decode("a=kh", 4, &d, &m), -1);
	assert_int_equal(p2p_base64_decode("a===", 4, &d, &m), -1);
	assert_int_equal(p2p_base64_decode("aGk=aGk=", 8, &d, &m), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_ints),
		cmocka_unit_test(test_short_reads_fail_untouched),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_writer_grows_and_patches),
		cmocka_unit_test(test_writer_errors_are_sticky),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
