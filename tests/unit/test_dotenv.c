/* test_dotenv.c: the .env reader against the python-dotenv behaviours we rely on */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dotenv.h"

static struct dotenv parse_ok(const char *text, size_t len)
{
	struct dotenv d = { NULL, 0 };
	char err[256] = "";

	if (dotenv_parse(NULL, text, len, &d, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	return d;
}

#define PARSE(s) parse_ok((s), sizeof(s) - 1)

static void assert_value(const struct dotenv *d, const char *key, const char *want)
{
	const struct dotenv_entry *e = dotenv_get(d, key);

	if (!e)
		fail_msg("key %s missing", key);
	assert_string_equal(e->value, want);
}

/* Expects a parse error whose message is exactly want. */
static void assert_error(const char *text, const char *want)
{
	struct dotenv d = { NULL, 0 };
	char err[256] = "";

	assert_int_equal(dotenv_parse(NULL, text, strlen(text), &d, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(d.v);
	assert_int_equal(d.n, 0);
}

static void test_comments_and_blank_lines(void **state)
{
	struct dotenv d = PARSE("# a comment\n\n   \n  # indented comment\nA=1\n\t\nB=2\n");

	(void)state;
	assert_int_equal(d.n, 2);
	assert_value(&d, "A", "1");
	assert_value(&d, "B", "2");
	assert_int_equal(dotenv_get(&d, "B")->line, 7);
	assert_null(dotenv_get(&d, "#"));
	dotenv_free(&d);
}

static void test_inline_comments(void **state)
{
	struct dotenv d = PARSE("A=value # note\nB=a#b\nC=x\t# tab note\nD= # only a comment\n"
				"E=#hash\nF='q' # after quote\nG=\"q\"# tight\n");

	(void)state;
	assert_value(&d, "A", "value");
	assert_value(&d, "B", "a#b");
	assert_value(&d, "C", "x");
	assert_value(&d, "D", "");
	assert_value(&d, "E", "#hash");
	assert_value(&d, "F", "q");
	assert_value(&d, "G", "q");
	dotenv_free(&d);
}

static void test_spaces_trimmed(void **state)
{
	struct dotenv d = PARSE("  A = spaced value  \nB\t=\tx\t\nC=  inner  spaces kept  \n");

	(void)state;
	assert_value(&d, "A", "spaced value");
	assert_value(&d, "B", "x");
	assert_value(&d, "C", "inner  spaces kept");
	dotenv_free(&d);
}

static void test_single_quotes_literal(void **state)
{
	struct dotenv d = PARSE("A='a \\n b # not a comment'\nB='  padded  '\nC='say \"hi\"'\n");

	(void)state;
	assert_value(&d, "A", "a \\n b # not a comment");
	assert_value(&d, "B", "  padded  ");
	assert_value(&d, "C", "say \"hi\"");
	dotenv_free(&d);
}

static void test_double_quotes_escapes(void **state)
{
	struct dotenv d = PARSE("A=\"l1\\nl2\\tt\"\nB=\"q\\\"q\\\\b\"\nC=\"# kept\"\n"
				"D=\"it's\"\nE=\"\\x stays\"\nF=\"  pad  \"\n");

	(void)state;
	assert_value(&d, "A", "l1\nl2\tt");
	assert_value(&d, "B", "q\"q\\b");
	assert_value(&d, "C", "# kept");
	assert_value(&d, "D", "it's");
	assert_value(&d, "E", "\\x stays");
	assert_value(&d, "F", "  pad  ");
	dotenv_free(&d);
}

static void test_export_prefix(void **state)
{
	struct dotenv d = PARSE("export A=1\nexport\tB = 2\nexport=3\nexporter=4\n");

	(void)state;
	assert_value(&d, "A", "1");
	assert_value(&d, "B", "2");
	/* "export" with no blank after it is an ordinary key */
	assert_value(&d, "export", "3");
	assert_value(&d, "exporter", "4");
	assert_null(dotenv_get(&d, "export A"));
	dotenv_free(&d);
}

static void test_crlf(void **state)
{
	struct dotenv d = PARSE("A=1\r\nB='two'\r\nC=\"three\"\r\n# c\r\n\r\nD=4 # n\r\n");

	(void)state;
	assert_int_equal(d.n, 4);
	assert_value(&d, "A", "1");
	assert_value(&d, "B", "two");
	assert_value(&d, "C", "three");
	assert_value(&d, "D", "4");
	assert_int_equal(dotenv_get(&d, "D")->line, 6);
	dotenv_free(&d);
}

static void test_empty_values(void **state)
{
	struct dotenv d = PARSE("A=\nB=\"\"\nC=''\nD=   \n");

	(void)state;
	assert_int_equal(d.n, 4);
	assert_value(&d, "A", "");
	assert_value(&d, "B", "");
	assert_value(&d, "C", "");
	assert_value(&d, "D", "");
	dotenv_free(&d);
}

static void test_missing_final_newline(void **state)
{
	struct dotenv d = PARSE("A=1\nB=last");
	struct dotenv q = PARSE("A=1\nB=\"last\"");

	(void)state;
	assert_value(&d, "B", "last");
	assert_value(&q, "B", "last");
	dotenv_free(&d);
	dotenv_free(&q);
}

static void test_duplicates_later_wins(void **state)
{
	struct dotenv d = PARSE("A=first\nB=b\nA=second\n");

	(void)state;
	assert_int_equal(d.n, 2);
	assert_value(&d, "A", "second");
	assert_int_equal(dotenv_get(&d, "A")->line, 3);
	/* the first position is kept, so iteration order is stable */
	assert_string_equal(d.v[0].key, "A");
	dotenv_free(&d);
}

static void test_bom_skipped(void **state)
{
	struct dotenv d = PARSE("\xef\xbb\xbf" "A=1\n");

	(void)state;
	assert_int_equal(d.n, 1);
	assert_value(&d, "A", "1");
	dotenv_free(&d);
}

static void test_key_charset(void **state)
{
	struct dotenv d = PARSE("_A.b_9=1\n");

	(void)state;
	assert_value(&d, "_A.b_9", "1");
	dotenv_free(&d);
}

static void test_malformed_lines(void **state)
{
	(void)state;
	assert_error("A=1\nB=2\n# c\n\nC=3\nD=4\nNO_EQUALS_sk-secret\n",
		     ".env:7: missing '=' after the key");
	assert_error("1A=x\n", ".env:1: expected a key ([A-Za-z_][A-Za-z0-9_.]*)");
	assert_error("=x\n", ".env:1: expected a key ([A-Za-z_][A-Za-z0-9_.]*)");
	assert_error("A-B=x\n", ".env:1: invalid character in the key");
	assert_error("A B=x\n", ".env:1: invalid character in the key");
	assert_error("sk-live-secret\n", ".env:1: missing '=' after the key");
	assert_error("A=1\nK=\"secret-value\n", ".env:2: unterminated double quote");
	assert_error("K='secret-value", ".env:1: unterminated single quote");
	assert_error("K=\"a\" secret\n", ".env:1: unexpected text after the closing quote");
	/* a quoted value stays on one line */
	assert_error("K=\"a\nb\"\n", ".env:1: unterminated double quote");
	assert_error("A=1\r\nB\r\n", ".env:2: missing '=' after the key");
}

static void test_error_never_shows_value(void **state)
{
	struct dotenv d = { NULL, 0 };
	char err[256] = "";

	(void)state;
	assert_int_equal(dotenv_parse("conf/.env", "TOKEN=\"sk-live-123", 18, &d, err,
				      sizeof(err)), -1);
	assert_null(strstr(err, "sk-live"));
	assert_string_equal(err, "conf/.env:1: unterminated double quote");
}

static void test_nul_byte_rejected(void **state)
{
	struct dotenv d = { NULL, 0 };
	char err[256] = "";

	(void)state;
	assert_int_equal(dotenv_parse(NULL, "A=1\nB=x\0y\n", 10, &d, err, sizeof(err)), -1);
	assert_string_equal(err, ".env:2: NUL byte in line");
}

static void test_missing_file_is_empty(void **state)
{
	struct dotenv d = { NULL, 0 };
	char err[256] = "";

	(void)state;
	assert_int_equal(dotenv_load("/nonexistent-dir-oaf/.env", &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 0);
	assert_null(dotenv_get(&d, "A"));
	dotenv_free(&d);
}

static void test_load_file_and_errors(void **state)
{
	char dir[] = "/tmp/test_dotenv.XXXXXX";
	char path[64];
	struct dotenv d = { NULL, 0 };
	char err[256] = "";
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/.env", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("A=1\nB='x y'\n", f);
	fclose(f);
	assert_int_equal(dotenv_load(path, &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 2);
	assert_value(&d, "B", "x y");
	dotenv_free(&d);

	/* parse errors name the path they came from */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("A=1\nbroken\n", f);
	fclose(f);
	assert_int_equal(dotenv_load(path, &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ".env:2: missing '='"));
	assert_int_equal(strncmp(err, dir, strlen(dir)), 0);
	unlink(path);

	/* a directory exists but cannot be read as a file: an error */
	assert_int_equal(dotenv_load(dir, &d, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, dir, strlen(dir)), 0);
	assert_non_null(strstr(err, "directory"));
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comments_and_blank_lines),
		cmocka_unit_test(test_inline_comments),
		cmocka_unit_test(test_spaces_trimmed),
		cmocka_unit_test(test_single_quotes_literal),
		cmocka_unit_test(test_double_quotes_escapes),
		cmocka_unit_test(test_export_prefix),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_missing_final_newline),
		cmocka_unit_test(test_duplicates_later_wins),
		cmocka_unit_test(test_bom_skipped),
		cmocka_unit_test(test_key_charset),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_error_never_shows_value),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_missing_file_is_empty),
		cmocka_unit_test(test_load_file_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
