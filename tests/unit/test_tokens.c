/* test_tokens.c: the token-count rule of tokens.h, and prompt counting per the cookbook */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tokens.h"

static long count(const char *s)
{
	return tok_count(s, strlen(s));
}

static void test_letter_runs(void **state)
{
	(void)state;
	assert_int_equal(count(""), 0);
	assert_int_equal(count("a"), 1);
	assert_int_equal(count("the"), 1);
	assert_int_equal(count("mock"), 1);
	assert_int_equal(count("token"), 2);
	assert_int_equal(count("mocked"), 2);
	assert_int_equal(count("abcdefgh"), 2);
	assert_int_equal(count("abcdefghi"), 3);
}

static void test_digit_runs(void **state)
{
	(void)state;
	assert_int_equal(count("7"), 1);
	assert_int_equal(count("123"), 1);
	assert_int_equal(count("2024"), 2);
	/* letters and digits are separate runs */
	assert_int_equal(count("abc123"), 2);
}

static void test_punctuation_each_one(void **state)
{
	(void)state;
	assert_int_equal(count("!"), 1);
	assert_int_equal(count("{}"), 2);
	assert_int_equal(count("hello, world!"), 6);
}

static void test_whitespace_folds_forward(void **state)
{
	(void)state;
	assert_int_equal(count(" a"), 1);
	assert_int_equal(count("a b"), 2);
	assert_int_equal(count("a \t\n b"), 2);
	/* nothing follows: the whitespace is a token of its own */
	assert_int_equal(count("a "), 2);
	assert_int_equal(count("   "), 1);
}

static void test_non_ascii(void **state)
{
	(void)state;
	assert_int_equal(count("\xc3\xa9"), 1);              /* é */
	assert_int_equal(count("\xe6\x97\xa5\xe6\x9c\xac"), 2);  /* 日本 */
	assert_int_equal(count("\xf0\x9f\x98\x80"), 1);      /* 😀 */
	assert_int_equal(count("\xff\xfe"), 2);              /* invalid: per byte */
	/* only n bytes are read: a NUL in the middle counts as a symbol */
	assert_int_equal(tok_count("a\0b", 3), 3);
}

static void test_additive_over_words(void **state)
{
	(void)state;
	const char *s = "THIS IS THE MOCKED CHAT RESPONSE. It costs 12345 tokens, \xc3\xa9t\xc3\xa9!";
	size_t n = strlen(s);
	long sum = 0;
	size_t i = 0;
	while (i < n) {
		size_t e = i;
		while (e < n && s[e] == ' ')
			e++;
		while (e < n && s[e] != ' ')
			e++;
		sum += tok_count(s + i, e - i);
		i = e;
	}
	assert_int_equal(sum, tok_count(s, n));
}

static void test_prompt_cookbook(void **state)
{
	(void)state;
	struct chat_message msgs[2] = {
		{ .role = ROLE_SYSTEM, .text = "You are", .text_len = 7 },
		{ .role = ROLE_USER, .name = "bob", .text = "hi", .text_len = 2 },
	};
	struct chat_request req = { .messages = msgs, .n_messages = 2 };
	/* 3 priming + (3 + 2) + (3 + 1 + (1 + 1)) */
	assert_int_equal(tok_prompt(&req), 3 + 5 + 6);

	struct chat_request empty = { 0 };
	assert_int_equal(tok_prompt(&empty), 3);

	struct chat_message nulltext = { .role = ROLE_ASSISTANT, .text = NULL };
	struct chat_request r2 = { .messages = &nulltext, .n_messages = 1 };
	assert_int_equal(tok_prompt(&r2), 6);
}

/* Never more tokens than bytes, whatever the bytes (the mock skips
 * counting an answer shorter in bytes than its token limit): every kind of
 * run, lone and mixed, and 20,000 random texts of every byte value. */
static void test_never_more_tokens_than_bytes(void **state)
{
	(void)state;
	static const char *const texts[] = { "", " ", "  \t\n", "a", "ab", "abcde", "1", "12", "1234",
		"!", "!?.,", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3", "a b  c\n" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		assert_true(tok_count(texts[i], strlen(texts[i])) <= (long)strlen(texts[i]));
	unsigned seed = 12345;
	char buf[64];
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof buf);
		for (size_t k = 0; k < n; k++)
			buf[k] = (char)(rand_r(&seed) & 0xff);
		assert_true(tok_count(buf, n) <= (long)n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_letter_runs),
		cmocka_unit_test(test_digit_runs),
		cmocka_unit_test(test_punctuation_each_one),
		cmocka_unit_test(test_whitespace_folds_forward),
		cmocka_unit_test(test_non_ascii),
		cmocka_unit_test(test_additive_over_words),
		cmocka_unit_test(test_prompt_cookbook),
		cmocka_unit_test(test_never_more_tokens_than_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
