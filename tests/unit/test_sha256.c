/* test_sha256.c: FIPS 180-4 vectors and incremental hashing for sha256.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sha256.h"

static void assert_digest(const uint8_t d[SHA256_DIGEST_LEN], const char *want)
{
	char hex[2 * SHA256_DIGEST_LEN + 1];
	sha256_hex(d, hex);
	assert_string_equal(hex, want);
}

static void assert_sha256(const void *data, size_t n, const char *want)
{
	uint8_t d[SHA256_DIGEST_LEN];
	sha256(data, n, d);
	assert_digest(d, want);
}

static void test_empty(void **state)
{
	(void)state;
	assert_sha256("", 0,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* NULL with length 0 is allowed, and the same message. */
	assert_sha256(NULL, 0,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void **state)
{
	(void)state;
	assert_sha256("abc", 3,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_448_bits(void **state)
{
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	(void)state;
	assert_int_equal(strlen(m) * 8, 448);
	assert_sha256(m, strlen(m),
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896_bits(void **state)
{
	const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
			"hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	(void)state;
	assert_int_equal(strlen(m) * 8, 896);
	assert_sha256(m, strlen(m),
		"cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
	char chunk[1000];
	uint8_t d[SHA256_DIGEST_LEN];
	sha256_ctx c;
	int i;
	(void)state;
	memset(chunk, 'a', sizeof chunk);
	sha256_init(&c);
	for (i = 0; i < 1000; i++)
		sha256_update(&c, chunk, sizeof chunk);
	sha256_final(&c, d);
	assert_digest(d,
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* 55, 56 and 64 bytes are where the length field stops fitting in the
 * last block, so padding takes a different path at each. */
static void test_padding_edges(void **state)
{
	uint8_t zeros[64] = { 0 };
	(void)state;
	assert_sha256(zeros, 55,
		"02779466cdec163811d078815c633f21901413081449002f24aa3e80f0b88ef7");
	assert_sha256(zeros, 56,
		"d4817aa5497628e7c77e6b606107042bbba3130888c5f47a375e6179be789fbb");
	assert_sha256(zeros, 64,
		"f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b");
}

#define INCR_LEN 200
#define INCR_DIGEST "2c7e18c942ef065b526a2d4e5546283749cd3ddfb51d8fc71f42717363685f46"

static void fill_incr(uint8_t *buf)
{
	int i;
	for (i = 0; i < INCR_LEN; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
}

static void test_split_every_offset(void **state)
{
	uint8_t buf[INCR_LEN], d[SHA256_DIGEST_LEN];
	sha256_ctx c;
	size_t cut;
	(void)state;
	fill_incr(buf);
	assert_sha256(buf, INCR_LEN, INCR_DIGEST);
	for (cut = 0; cut <= INCR_LEN; cut++) {
		sha256_init(&c);
		sha256_update(&c, buf, cut);
		sha256_update(&c, buf + cut, INCR_LEN - cut);
		sha256_final(&c, d);
		assert_digest(d, INCR_DIGEST);
	}
}

static void test_byte_at_a_time(void **state)
{
	uint8_t buf[INCR_LEN], d[SHA256_DIGEST_LEN];
	sha256_ctx c;
	size_t i;
	(void)state;
	fill_incr(buf);
	sha256_init(&c);
	for (i = 0; i < INCR_LEN; i++)
		sha256_update(&c, buf + i, 1);
	sha256_update(&c, NULL, 0);
	sha256_final(&c, d);
	assert_digest(d, INCR_DIGEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_abc),
		cmocka_unit_test(test_448_bits),
		cmocka_unit_test(test_896_bits),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_padding_edges),
		cmocka_unit_test(test_split_every_offset),
		cmocka_unit_test(test_byte_at_a_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
