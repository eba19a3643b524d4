/* test_log.c: every log line stays one line, whatever its values hold, in text and JSON */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "log.h"

/* The log goes to a temp file (log_redirect moves stderr there); each test
 * reads back what was written since it started. cmocka's own reports land
 * there too: the teardown gives the file back to the real stderr. */
static char log_path[] = "/tmp/oaf-test-log-XXXXXX";
static long log_start;
static int real_stderr = -1;

static int setup(void **state)
{
	(void)state;
	int fd = mkstemp(log_path);
	if (fd < 0)
		return -1;
	close(fd);
	real_stderr = dup(STDERR_FILENO);
	return log_redirect(log_path);
}

static int teardown(void **state)
{
	(void)state;
	char buf[4096];
	FILE *f = fopen(log_path, "r");
	dup2(real_stderr, STDERR_FILENO);
	for (size_t k; f && (k = fread(buf, 1, sizeof buf, f)) > 0;)
		(void)!write(STDERR_FILENO, buf, k);
	if (f)
		fclose(f);
	unlink(log_path);
	return 0;
}

static void mark(void)
{
	FILE *f = fopen(log_path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	log_start = ftell(f);
	fclose(f);
}

/* What was logged since mark(), NUL-terminated; free it. */
static char *written(size_t *len)
{
	FILE *f = fopen(log_path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long end = ftell(f);
	fseek(f, log_start, SEEK_SET);
	char *buf = calloc(1, (size_t)(end - log_start) + 1);
	assert_int_equal(fread(buf, 1, (size_t)(end - log_start), f), (size_t)(end - log_start));
	fclose(f);
	*len = (size_t)(end - log_start);
	return buf;
}

static size_t count_lines(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

/* Values that would each forge a line, or garble one, if written as they came. */
static const char *const hostile[] = {
	"upstream body\n2026-12-01T00:00:00.000Z openai-fcgi[1] CRITICAL: forged",
	"GET\r\nFAKE",
	"only a CR\rthen more",
	"a bell \a, an escape \x1b[2J, a DEL \x7f",
	"invalid UTF-8 \xff\xfe and a cut \xe2\x82",
	"a backslash-n that is not one: \\n",
	"\n",
};

static void test_text_lines_stay_one_line(void **state)
{
	(void)state;
	log_setup(LOG_DEBUG, false);
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		mark();
		log_warn("upstream x: HTTP 500: %s", hostile[i]);
		size_t n;
		char *got = written(&n);
		assert_int_equal(count_lines(got, n), 1);
		assert_true(n > 0 && got[n - 1] == '\n');
		for (size_t k = 0; k + 1 < n; k++)
			assert_true((unsigned char)got[k] >= 0x20 && got[k] != 0x7f);
		assert_non_null(strstr(got, " WARNING "));
		free(got);
	}
	log_setup(LOG_INFO, false);
}

static void test_json_lines_are_json_and_keep_the_text(void **state)
{
	(void)state;
	log_setup(LOG_INFO, true);
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		mark();
		log_warn("%s", hostile[i]);
		size_t n;
		char *got = written(&n);
		assert_int_equal(count_lines(got, n), 1);
		json_object *o = json_tokener_parse(got);
		assert_non_null(o);
		json_object *msg;
		assert_true(json_object_object_get_ex(o, "msg", &msg));
		/* valid text comes back exactly; invalid bytes as U+FFFD */
		if (i != 4)
			assert_string_equal(json_object_get_string(msg), hostile[i]);
		else
			assert_non_null(strstr(json_object_get_string(msg), "\xef\xbf\xbd"));
		json_object_put(o);
		free(got);
	}
	log_setup(LOG_INFO, false);
}

static void test_escape_text(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool field;
		const char *want;
	} cases[] = {
		{ "plain text, caf\xc3\xa9", false, "plain text, caf\xc3\xa9" },
		{ "a\nb\rc\td", false, "a\\nb\\rc\\td" },
		{ "back\\slash", false, "back\\\\slash" },
		{ "\x01\x1f\x7f", false, "\\x01\\x1f\\x7f" },
		{ "bad \xff\xc3", false, "bad \\xff\\xc3" },
		{ "GET /x HTTP/1.1", true, "GET\\x20/x\\x20HTTP/1.1" },   /* one field stays one field */
		{ "say \"hi\"", true, "say\\x20\\x22hi\\x22" },
		{ "say \"hi\"", false, "say \"hi\"" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strbuf out = STRBUF_INIT;
		log_escape_text(&out, cases[i].in, strlen(cases[i].in), cases[i].field);
		assert_string_equal(sb_str(&out), cases[i].want);
		sb_free(&out);
	}
}

/* log_raw is for lines built elsewhere (the access log): still one line,
 * with its newline, whatever the caller forgot to escape. */
static void test_raw_lines_are_defended(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		size_t len;
		bool json;
		const char *want;
	} cases[] = {
		{ "t access req_1 GET \"/v1\" 200\n", 0, false, "t access req_1 GET \"/v1\" 200\n" },
		{ "t access req_1 GET\nFAKE \"/v1\" 200\n", 0, false, "t access req_1 GET\\nFAKE \"/v1\" 200\n" },
		{ "no newline", 0, false, "no newline\n" },
		{ "nul\0inside\n", 11, false, "nul\\x00inside\n" },
		{ "{\"method\":\"G\x01\"}\n", 0, true, "{\"method\":\"G\\u0001\"}\n" },
		{ "{\"m\":\"a\r\nb\"}\n", 0, true, "{\"m\":\"a\\r\\nb\"}\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		log_setup(LOG_INFO, cases[i].json);
		mark();
		log_raw(cases[i].line, cases[i].len ? cases[i].len : strlen(cases[i].line));
		size_t n;
		char *got = written(&n);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	log_setup(LOG_INFO, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_lines_stay_one_line),
		cmocka_unit_test(test_json_lines_are_json_and_keep_the_text),
		cmocka_unit_test(test_escape_text),
		cmocka_unit_test(test_raw_lines_are_defended),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
