/* test_tokens.c: the token-count rule of tokens.h, and prompt counting per the cookbook */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
