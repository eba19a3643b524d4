/* test_strbuf.c: the growable buffer and its JSON string escaping, with the UTF-8 checks under it */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "strbuf.h"
#include "utf8.h"

/* Leaves in sb only the JSON literal of the n bytes at s. */
static void json_of(strbuf *sb, const char *s, size_t n)
{
	sb_reset(sb);
	sb_json_str(sb, s, n);
}

#define ASSERT_JSON(in, want) do { \
	strbuf sb_ = STRBUF_INIT; \
	json_of(&sb_, (in), sizeof(in) - 1); \
	assert_string_equal(sb_str(&sb_), (want)); \
	assert_int_equal(sb_.len, strlen(want)); \
	sb_free(&sb_); \
} while (0)

static void test_empty_buffer(void **state)
{
	strbuf sb = STRBUF_INIT;
	(void)state;
	assert_string_equal(sb_str(&sb), "");
	assert_null(sb.buf);
	sb_reset(&sb); /* allowed on a never-used buffer */
	assert_int_equal(sb.len, 0);
	sb_free(&sb);
	assert_null(sb.buf);
}

static void test_append_and_growth(void **state)
{
	strbuf sb = STRBUF_INIT;
	(void)state;
	for (int i = 0; i < 10000; i++)
		sb_putc(&sb, (char)('a' + i % 26));
	assert_int_equal(sb.len, 10000);
	assert_true(sb.cap > sb.len);
	assert_int_equal(sb.buf[10000], '\0');
	assert_int_equal(sb.buf[9999], 'a' + 9999 % 26);
	sb_puts(&sb, "xyz");
	sb_append(&sb, "12\0" "34", 5); /* embedded NUL kept, length counted */
	assert_int_equal(sb.len, 10008);
	assert_memory_equal(sb.buf + 10003, "12\0" "34", 5);
	sb_free(&sb);
}

static void test_printf(void **state)
{
	strbuf sb = STRBUF_INIT;
	char big[5000];
	(void)state;
	sb_printf(&sb, "%d-%s", 42, "x");
	assert_string_equal(sb_str(&sb), "42-x");
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	sb_printf(&sb, "[%s]", big); /* longer than any first guess of the size */
	assert_int_equal(sb.len, 4 + 2 + sizeof big - 1);
	assert_int_equal(sb.buf[5], 'q');
	assert_int_equal(sb.buf[sb.len - 1], ']');
	/* "%s" alone is appended without vsnprintf: the same bytes */
	sb_printf(&sb, "%s", big);
	sb_printf(&sb, "%s", "");
	assert_int_equal(sb.len, 4 + 2 + 2 * (sizeof big - 1));
	assert_int_equal(sb.buf[sb.len - 1], 'q');
	sb_free(&sb);
}

static void test_reset_capped(void **state)
{
	(void)state;
	static const struct { size_t fill, keep; int freed; } cases[] = {
		{ 0, 0, 0 }, { 10, 64, 0 }, { 100, 64, 1 }, { 1 << 20, 64 << 10, 1 }, { 1000, 1 << 20, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strbuf sb = STRBUF_INIT;
		for (size_t k = 0; k < cases[i].fill; k++)
			sb_putc(&sb, 'x');
		assert_int_equal(sb_reset_capped(&sb, cases[i].keep), cases[i].freed);
		assert_int_equal(sb.len, 0);
		assert_string_equal(sb_str(&sb), "");
		assert_true(sb.cap <= cases[i].keep);
		sb_puts(&sb, "again");  /* usable afterwards either way */
		assert_string_equal(sb_str(&sb), "again");
		sb_free(&sb);
	}
}

static void test_reset_keeps_memory(void **state)
{
	strbuf sb = STRBUF_INIT;
	(void)state;
	sb_puts(&sb, "hello world, hello world");
	char *mem = sb.buf;
	size_t cap = sb.cap;
	sb_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb_str(&sb), "");
	assert_ptr_equal(sb.buf, mem);
	assert_int_equal(sb.cap, cap);
	sb_puts(&sb, "again");
	assert_string_equal(sb_str(&sb), "again");
	sb_free(&sb);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 0);
}

static void test_json_plain_and_escapes(void **state)
{
	(void)state;
	ASSERT_JSON("", "\"\"");
	ASSERT_JSON("hello", "\"hello\"");
	ASSERT_JSON("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	ASSERT_JSON("l1\nl2\r\tx", "\"l1\\nl2\\r\\tx\"");
}

static void test_json_control_chars(void **state)
{
	(void)state;
	ASSERT_JSON("\x01\x08\x0c\x1f", "\"\\u0001\\u0008\\u000c\\u001f\"");
	ASSERT_JSON("a\0b", "\"a\\u0000b\"");
	ASSERT_JSON("\x7f", "\"\x7f\""); /* DEL is allowed raw in JSON */
}

static void test_json_valid_utf8_kept(void **state)
{
	(void)state;
	ASSERT_JSON("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

static void test_json_invalid_utf8_replaced(void **state)
{
	(void)state;
	/* a lone continuation byte, a truncated sequence, an overlong '/',
	 * a surrogate, a code point above U+10FFFF, 0xff */
	ASSERT_JSON("a\x80z", "\"a\xef\xbf\xbdz\"");
	ASSERT_JSON("\xe2\x82", "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_JSON("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_JSON("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_JSON("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	ASSERT_JSON("\xff", "\"\xef\xbf\xbd\"");
}

static void test_json_appends(void **state)
{
	strbuf sb = STRBUF_INIT;
	(void)state;
	sb_puts(&sb, "{\"k\":");
	sb_json_str(&sb, "v\n", 2);
	sb_putc(&sb, '}');
	assert_string_equal(sb_str(&sb), "{\"k\":\"v\\n\"}");
	sb_free(&sb);
}

static void test_utf8_seq_len(void **state)
{
	(void)state;
	assert_int_equal(utf8_seq_len("a", 1), 1);
	assert_int_equal(utf8_seq_len("\xc3\xa9", 2), 2);
	assert_int_equal(utf8_seq_len("\xc3\xa9", 1), 0);      /* cut short */
	assert_int_equal(utf8_seq_len("\xe2\x82\xac", 3), 3);
	assert_int_equal(utf8_seq_len("\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(utf8_seq_len("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
	assert_int_equal(utf8_seq_len("\xf4\x90\x80\x80", 4), 0); /* above it */
	assert_int_equal(utf8_seq_len("\xc1\xbf", 2), 0);      /* overlong */
	assert_int_equal(utf8_seq_len("\xe0\x80\xaf", 3), 0);  /* overlong */
	assert_int_equal(utf8_seq_len("\xed\xbf\xbf", 3), 0);  /* surrogate */
	assert_int_equal(utf8_seq_len("\x80", 1), 0);
	assert_int_equal(utf8_seq_len("\xc3(", 2), 0);
}

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid("plain /v1/models", 16));
	assert_true(utf8_valid("\xe2\x82\xac" "x", 4));
	assert_false(utf8_valid("ab\xff", 3));
	assert_false(utf8_valid("\xe2\x82", 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_buffer),
		cmocka_unit_test(test_append_and_growth),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_reset_capped),
		cmocka_unit_test(test_json_plain_and_escapes),
		cmocka_unit_test(test_json_control_chars),
		cmocka_unit_test(test_json_valid_utf8_kept),
		cmocka_unit_test(test_json_invalid_utf8_replaced),
		cmocka_unit_test(test_json_appends),
		cmocka_unit_test(test_utf8_seq_len),
		cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
