/* test_sse.c: SSE framing, the incremental parser fed chunks cut anywhere, and the keep-alive period */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sse.h"

static void assert_framed(const char *data, size_t n, const char *want)
{
	strbuf out = STRBUF_INIT;
	sse_event(&out, data, n);
	assert_string_equal(sb_str(&out), want);
	sb_free(&out);
}

static void test_event_one_line(void **state)
{
	(void)state;
	assert_framed("{\"a\":1}", 7, "data: {\"a\":1}\n\n");
	assert_framed("", 0, "data: \n\n");
}

static void test_event_lines(void **state)
{
	(void)state;
	assert_framed("a\nb", 3, "data: a\ndata: b\n\n");
	assert_framed("a\n", 2, "data: a\ndata: \n\n");
	/* CR and CRLF would break lines at the receiver: frame them as LF */
	assert_framed("a\r\nb\rc", 6, "data: a\ndata: b\ndata: c\n\n");
}

static void test_event_appends(void **state)
{
	(void)state;
	strbuf out = STRBUF_INIT;
	sse_event(&out, "x", 1);
	sse_event(&out, "y", 1);
	assert_string_equal(sb_str(&out), "data: x\n\ndata: y\n\n");
	sb_free(&out);
}

/* ---- the parser ---- */

struct seen {
	char text[2048];  /* "event|id|data;" per event */
	int n;
	int stop_after;   /* return -1 after this many events; 0: never */
};

static int record(void *ctx, const struct sse_msg *m)
{
	struct seen *s = ctx;
	size_t len = strlen(s->text);
	snprintf(s->text + len, sizeof(s->text) - len, "%s|%s|%.*s;", m->event, m->id,
		 (int)m->data_len, m->data);
	assert_int_equal(strlen(m->data), m->data_len);
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? -1 : 0;
}

static void parse_whole(const char *stream, size_t n, struct seen *s)
{
	struct sse_parser p;
	sse_parser_init(&p, record, s);
	assert_int_equal(sse_parser_feed(&p, stream, n), 0);
	sse_parser_free(&p);
}

static const char sample[] =
	"\xef\xbb\xbf: a comment\r\n"
	"data: one\r\n"
	"\r\n"
	"event: update\n"
	"id: 7\n"
	"data:two\n"
	"data:  three\n"
	"\n"
	"retry: 100\r"
	"data\r"
	"\r"
	"event: lonely\n"
	"\n"
	"data: {\"x\":[1]}\n"
	"\n"
	"data: never ended\n";

static const char sample_want[] =
	"message||one;"
	"update|7|two\n three;"
	"message|7|;"
	"message|7|{\"x\":[1]};";

static void test_parser_whole(void **state)
{
	(void)state;
	struct seen s = { 0 };
	parse_whole(sample, sizeof(sample) - 1, &s);
	assert_string_equal(s.text, sample_want);
	assert_int_equal(s.n, 4);
}

static void test_parser_split_anywhere(void **state)
{
	(void)state;
	size_t n = sizeof(sample) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct seen s = { 0 };
		struct sse_parser p;
		sse_parser_init(&p, record, &s);
		assert_int_equal(sse_parser_feed(&p, sample, cut), 0);
		assert_int_equal(sse_parser_feed(&p, sample + cut, n - cut), 0);
		sse_parser_free(&p);
		assert_string_equal(s.text, sample_want);
	}
}

static void test_parser_byte_by_byte(void **state)
{
	(void)state;
	struct seen s = { 0 };
	struct sse_parser p;
	sse_parser_init(&p, record, &s);
	for (size_t i = 0; i < sizeof(sample) - 1; i++)
		assert_int_equal(sse_parser_feed(&p, sample + i, 1), 0);
	sse_parser_free(&p);
	assert_string_equal(s.text, sample_want);
}

static void test_parser_crlf_split(void **state)
{
	(void)state;
	/* a CRLF cut between CR and LF is one line end, not two (which would
	 * dispatch an event early and then see an empty line) */
	struct seen s = { 0 };
	struct sse_parser p;
	sse_parser_init(&p, record, &s);
	assert_int_equal(sse_parser_feed(&p, "data: a\r", 8), 0);
	assert_int_equal(sse_parser_feed(&p, "\ndata: b\r", 9), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(sse_parser_feed(&p, "\n\r\n", 3), 0);
	sse_parser_free(&p);
	assert_string_equal(s.text, "message||a\nb;");
}

static void test_parser_not_a_bom(void **state)
{
	(void)state;
	struct seen s = { 0 };
	parse_whole("\xef" "data: x\n\n", 10, &s);
	assert_int_equal(s.n, 0);   /* the field is "\xef" "data", unknown */
	struct seen s2 = { 0 };
	parse_whole("data: x\n\n", 9, &s2);
	assert_string_equal(s2.text, "message||x;");
}

static void test_parser_stop(void **state)
{
	(void)state;
	struct seen s = { .stop_after = 1 };
	struct sse_parser p;
	sse_parser_init(&p, record, &s);
	assert_int_equal(sse_parser_feed(&p, "data: 1\n\ndata: 2\n\n", 18), -1);
	sse_parser_free(&p);
	assert_int_equal(s.n, 1);
}

/* ---- the parser's bounds: what an upstream that never ends a line or
 * an event can make it keep ---- */

/* Feeds prefix once, then chunk until the parser stops (or 64 MiB went
 * in); returns how many bytes it took and checks what it kept. */
static size_t feed_until_stop(struct sse_parser *p, const char *prefix, const char *chunk)
{
	size_t fed = strlen(prefix);
	if (sse_parser_feed(p, prefix, fed) != 0)
		return fed;
	size_t n = strlen(chunk);
	while (fed < (64u << 20) && sse_parser_feed(p, chunk, n) == 0) {
		fed += n;
		assert_true(p->line.len <= p->max_line);
		assert_true(p->data.len <= p->max_event + 1);
	}
	return fed;
}

static void test_parser_bounds_stop_endless_input(void **state)
{
	(void)state;
	static const struct {
		const char *prefix, *chunk;
		enum sse_failure want;
	} cases[] = {
		{ "data: ", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", SSE_LINE_TOO_LONG },   /* no newline ever */
		{ ": ping", "................................", SSE_LINE_TOO_LONG },      /* an endless comment */
		{ "", "event: e", SSE_LINE_TOO_LONG },                                   /* a field without end */
		{ "", "data: {\"choices\":[]}\n", SSE_EVENT_TOO_BIG },                  /* no blank line ever */
		{ "", "data\r\n", SSE_EVENT_TOO_BIG },                                    /* empty data lines add up */
		{ "\xef\xbb\xbf", "data:y\rdata:z\r", SSE_EVENT_TOO_BIG },               /* CR line ends, after a BOM */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct seen s = { 0 };
		struct sse_parser p;
		sse_parser_init(&p, record, &s);
		sse_parser_limit(&p, 4096, 16384);
		size_t fed = feed_until_stop(&p, cases[i].prefix, cases[i].chunk);
		assert_true(fed < (64u << 20));
		assert_int_equal(p.failure, cases[i].want);
		/* what went in before it stopped: no more than one event's worth */
		assert_true(fed <= strlen(cases[i].prefix) + (16384 + 1) * strlen(cases[i].chunk) + 4096);
		assert_int_equal(s.n, 0);
		sse_parser_free(&p);
	}
}

static void test_parser_bounds_are_inclusive(void **state)
{
	(void)state;
	/* a line of exactly max_line bytes and an event of exactly max_event
	 * bytes of data pass, split anywhere; one byte more does not */
	char big[64];
	memset(big, 'a', sizeof big);
	memcpy(big, "data: ", 6);
	big[sizeof big - 1] = '\n';   /* 63 bytes of line, 57 of data */
	for (size_t cut = 0; cut < sizeof big; cut++) {
		struct seen s = { 0 };
		struct sse_parser p;
		sse_parser_init(&p, record, &s);
		sse_parser_limit(&p, 63, 57);
		assert_int_equal(sse_parser_feed(&p, big, cut), 0);
		assert_int_equal(sse_parser_feed(&p, big + cut, sizeof big - cut), 0);
		assert_int_equal(sse_parser_feed(&p, "\n", 1), 0);
		assert_int_equal(s.n, 1);
		sse_parser_free(&p);
	}
	struct seen s = { 0 };
	struct sse_parser p;
	sse_parser_init(&p, record, &s);
	sse_parser_limit(&p, 62, 1000);
	assert_int_equal(sse_parser_feed(&p, big, sizeof big), -1);
	assert_int_equal(p.failure, SSE_LINE_TOO_LONG);
	sse_parser_free(&p);
	sse_parser_init(&p, record, &s);
	sse_parser_limit(&p, 1000, 56);
	assert_int_equal(sse_parser_feed(&p, big, sizeof big), -1);
	assert_int_equal(p.failure, SSE_EVENT_TOO_BIG);
	sse_parser_free(&p);
	assert_int_equal(s.n, 0);
}

static void test_parser_counts_comments_and_says_stopped(void **state)
{
	(void)state;
	struct seen s = { .stop_after = 1 };
	struct sse_parser p;
	sse_parser_init(&p, record, &s);
	sse_parser_limit(&p, 100, 100);
	static const char comments[] = ": keep-alive\n\n:\r\n: x";
	assert_int_equal(sse_parser_feed(&p, comments, strlen(comments)), 0);
	assert_int_equal(p.comments, 2);   /* the third has not ended yet */
	assert_int_equal(sse_parser_feed(&p, "\ndata: 1\n\n", 10), -1);
	assert_int_equal(p.comments, 3);
	assert_int_equal(p.failure, SSE_STOPPED);
	sse_parser_free(&p);
}

static void test_round_trip(void **state)
{
	(void)state;
	const char *data = "line one\nline two\n\nafter a blank";
	strbuf out = STRBUF_INIT;
	sse_event(&out, data, strlen(data));
	struct seen s = { 0 };
	parse_whole(out.buf, out.len, &s);
	sb_free(&out);
	assert_string_equal(s.text, "message||line one\nline two\n\nafter a blank;");
}

/* One keep-alive period: STREAM_PING_S for idle-cutting proxies, the
 * probe where only a write tells that a client left; the shorter wins. */
static void test_keepalive_period(void **state)
{
	(void)state;
	assert_int_equal(sse_keepalive_period(15000, 500), 500);
	assert_int_equal(sse_keepalive_period(15000, 0), 15000);
	assert_int_equal(sse_keepalive_period(0, 500), 500);
	assert_int_equal(sse_keepalive_period(0, 0), 0);
	assert_int_equal(sse_keepalive_period(200, 500), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_one_line),
		cmocka_unit_test(test_event_lines),
		cmocka_unit_test(test_event_appends),
		cmocka_unit_test(test_parser_whole),
		cmocka_unit_test(test_parser_split_anywhere),
		cmocka_unit_test(test_parser_byte_by_byte),
		cmocka_unit_test(test_parser_crlf_split),
		cmocka_unit_test(test_parser_not_a_bom),
		cmocka_unit_test(test_parser_stop),
		cmocka_unit_test(test_parser_bounds_stop_endless_input),
		cmocka_unit_test(test_parser_bounds_are_inclusive),
		cmocka_unit_test(test_parser_counts_comments_and_says_stopped),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_keepalive_period),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
