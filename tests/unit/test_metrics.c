/* test_metrics.c: the Prometheus text exposition of usage rows: families, sums over days, buckets, escaping */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static struct um_row row(int day, const char *route, const char *model, int status, const char *key)
{
	struct um_row r;
	memset(&r, 0, sizeof r);
	r.kind = UM_DETAIL;
	r.day = day;
	r.status = status;
	snprintf(r.route, sizeof r.route, "%s", route);
	snprintf(r.model, sizeof r.model, "%s", model);
	snprintf(r.key, sizeof r.key, "%s", key);
	return r;
}

static void assert_line(const strbuf *sb, const char *line)
{
	char want[512];
	snprintf(want, sizeof want, "\n%s\n", line);
	if (!strstr(sb_str(sb), want))
		fail_msg("missing line: %s\nin:\n%s", line, sb_str(sb));
}

static void test_empty(void **state)
{
	(void)state;
	strbuf sb = STRBUF_INIT;
	struct um_gauges g = { 0, 0 };
	metrics_render(NULL, 0, &g, &sb);
	static const char *const families[] = {
		"openai_fcgi_requests_total counter", "openai_fcgi_prompt_tokens_total counter",
		"openai_fcgi_completion_tokens_total counter", "openai_fcgi_request_duration_seconds histogram",
		"openai_fcgi_time_to_first_token_seconds histogram", "openai_fcgi_requests_in_flight gauge",
		"openai_fcgi_open_streams gauge", "openai_fcgi_rate_limited_total counter",
		"openai_fcgi_upstream_errors_total counter",
	};
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		char line[128];
		snprintf(line, sizeof line, "# TYPE %s", families[i]);
		assert_non_null(strstr(sb_str(&sb), line));
	}
	assert_line(&sb, "openai_fcgi_requests_in_flight 0");
	/* every line ends with a newline, the last one too */
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	sb_free(&sb);
}

static void test_sums_over_days_and_routes(void **state)
{
	(void)state;
	struct um_row rows[6];
	rows[0] = row(100, "/v1/chat/completions", "m1", 200, "alice");
	rows[0].requests = 3, rows[0].prompt_tokens = 30, rows[0].completion_tokens = 9;
	rows[1] = row(101, "/v1/chat/completions", "m1", 200, "alice");   /* the next day */
	rows[1].requests = 2, rows[1].prompt_tokens = 20, rows[1].completion_tokens = 6;
	rows[2] = row(101, "/v1/responses", "m1", 200, "alice");           /* another route */
	rows[2].requests = 1, rows[2].prompt_tokens = 5, rows[2].completion_tokens = 1;
	rows[3] = row(101, "/v1/chat/completions", "m1", 429, "alice");
	rows[3].requests = 4;
	snprintf(rows[3].reason, sizeof rows[3].reason, "insufficient_quota");
	rows[4] = row(101, "/v1/chat/completions", "up1", 502, "bob");
	rows[4].requests = 2;
	snprintf(rows[4].upstream, sizeof rows[4].upstream, "private-1");
	rows[5] = rows[4];
	rows[5].kind = UM_KEY_DAY;   /* totals rows are not series */
	rows[5].requests = 1000;
	struct um_gauges g = { 3, 1 };
	strbuf sb = STRBUF_INIT;
	metrics_render(rows, 6, &g, &sb);
	assert_line(&sb, "openai_fcgi_requests_total{route=\"/v1/chat/completions\",model=\"m1\",status=\"200\",key=\"alice\"} 5");
	assert_line(&sb, "openai_fcgi_requests_total{route=\"/v1/responses\",model=\"m1\",status=\"200\",key=\"alice\"} 1");
	assert_line(&sb, "openai_fcgi_requests_total{route=\"/v1/chat/completions\",model=\"m1\",status=\"429\",key=\"alice\"} 4");
	assert_line(&sb, "openai_fcgi_requests_total{route=\"/v1/chat/completions\",model=\"up1\",status=\"502\",key=\"bob\"} 2");
	assert_line(&sb, "openai_fcgi_prompt_tokens_total{model=\"m1\",key=\"alice\"} 55");
	assert_line(&sb, "openai_fcgi_completion_tokens_total{model=\"m1\",key=\"alice\"} 16");
	assert_line(&sb, "openai_fcgi_rate_limited_total{kind=\"insufficient_quota\"} 4");
	assert_line(&sb, "openai_fcgi_upstream_errors_total{upstream=\"private-1\"} 2");
	assert_line(&sb, "openai_fcgi_requests_in_flight 3");
	assert_line(&sb, "openai_fcgi_open_streams 1");
	assert_null(strstr(sb_str(&sb), "} 1000\n"));
	assert_line(&sb, "openai_fcgi_request_duration_seconds_count{route=\"/v1/chat/completions\"} 11");
	sb_free(&sb);
}

/* Buckets are cumulative, +Inf equals _count, _sum in seconds. */
static void test_histogram(void **state)
{
	(void)state;
	struct um_row r = row(1, "/v1/chat/completions", "m", 200, "k");
	r.requests = 10;
	r.duration_bucket[0] = 2;   /* <= 0.05 */
	r.duration_bucket[4] = 3;   /* <= 1 */
	r.duration_bucket[11] = 1;  /* <= 300; 4 took longer */
	r.duration_us_sum = 12345678;
	r.ttft_count = 2;
	r.ttft_bucket[1] = 2;
	r.ttft_us_sum = 150000;
	struct um_gauges g = { 0, 0 };
	strbuf sb = STRBUF_INIT;
	metrics_render(&r, 1, &g, &sb);
	assert_line(&sb, "openai_fcgi_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"0.05\"} 2");
	assert_line(&sb, "openai_fcgi_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"0.5\"} 2");
	assert_line(&sb, "openai_fcgi_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"1\"} 5");
	assert_line(&sb, "openai_fcgi_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"300\"} 6");
	assert_line(&sb, "openai_fcgi_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"+Inf\"} 10");
	assert_line(&sb, "openai_fcgi_request_duration_seconds_sum{route=\"/v1/chat/completions\"} 12.345678");
	assert_line(&sb, "openai_fcgi_request_duration_seconds_count{route=\"/v1/chat/completions\"} 10");
	assert_line(&sb, "openai_fcgi_time_to_first_token_seconds_bucket{route=\"/v1/chat/completions\",le=\"0.1\"} 2");
	assert_line(&sb, "openai_fcgi_time_to_first_token_seconds_bucket{route=\"/v1/chat/completions\",le=\"+Inf\"} 2");
	assert_line(&sb, "openai_fcgi_time_to_first_token_seconds_sum{route=\"/v1/chat/completions\"} 0.150000");
	sb_free(&sb);
}

static void test_label_escaping(void **state)
{
	(void)state;
	struct um_row r = row(1, "/v1/models/{}", "a\"b\\c\nd", 200, "k\\");
	r.requests = 1;
	struct um_gauges g = { 0, 0 };
	strbuf sb = STRBUF_INIT;
	metrics_render(&r, 1, &g, &sb);
	assert_line(&sb, "openai_fcgi_requests_total{route=\"/v1/models/{}\",model=\"a\\\"b\\\\c\\nd\",status=\"200\",key=\"k\\\\\"} 1");
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_sums_over_days_and_routes),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_label_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
