/* test_http1.c: the request head we write, and answers read in pieces cut anywhere: lengths, chunks, the end of the connection, interim answers, what is kept and what is refused */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"

/* What the callbacks saw: each header line with "|" after it, the body. */
struct seen {
	strbuf heads;
	strbuf body;
	size_t body_limit;  /* the body callback stops past this; 0: never */
	size_t header_stop; /* the header callback stops at this line (1: the first); 0: never */
	size_t lines;
};

static size_t on_head(char *p, size_t one, size_t len, void *ctx)
{
	struct seen *s = ctx;
	(void)one;
	if (s->header_stop && ++s->lines == s->header_stop)
		return 0;
	sb_append(&s->heads, p, len);
	sb_putc(&s->heads, '|');
	return len;
}

static size_t on_body(char *p, size_t one, size_t len, void *ctx)
{
	struct seen *s = ctx;
	(void)one;
	if (s->body_limit && s->body.len + len > s->body_limit)
		return 0;
	sb_append(&s->body, p, len);
	return len;
}

static void seen_free(struct seen *s)
{
	sb_free(&s->heads);
	sb_free(&s->body);
}

/* Feeds the whole of text in pieces of cut bytes (0: at once), then the
 * connection's end when eof; returns the last h1_feed's result. */
static int feed(struct h1_reader *r, struct seen *s, const char *text, size_t len, size_t cut, bool eof)
{
	h1_reader_init(r, on_head, on_body, s);
	int rc = 0;
	for (size_t off = 0; off < len && rc == 0;) {
		size_t n = cut && cut < len - off ? cut : len - off;
		rc = h1_feed(r, text + off, n);
		off += n;
	}
	if (rc == 0 && eof)
		rc = h1_feed(r, NULL, 0);
	return rc;
}

static const char whole[] =
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bc\"}\n";

static void test_head(void **state)
{
	(void)state;
	strbuf out = STRBUF_INIT;
	char *extra[] = { "X-One: 1", "X-Empty:", "X-Blank:  \t", "X-Two:2" };
	h1_head_start(&out, "/v1/chat/completions?x=1", "up.example:8080", "sk-k", extra, 4);
	h1_head_end(&out, 42);
	assert_string_equal(sb_str(&out),
			    "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: up.example:8080\r\n"
			    "Content-Type: application/json\r\nAuthorization: Bearer sk-k\r\n"
			    "X-One: 1\r\nX-Two:2\r\nContent-Length: 42\r\n\r\n");
	sb_reset(&out);
	h1_head_start(&out, "/", "h", NULL, NULL, 0);
	h1_head_end(&out, 0);
	assert_string_equal(sb_str(&out), "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
			    "Content-Length: 0\r\n\r\n");
	sb_free(&out);
}

/* Every cut of the same answer reads the same, and the connection is kept. */
static void test_length_cut_anywhere(void **state)
{
	(void)state;
	for (size_t cut = 0; cut <= 9; cut++) {
		struct seen s = { 0 };
		struct h1_reader r;
		assert_int_equal(feed(&r, &s, whole, strlen(whole), cut, false), 1);
		assert_string_equal(sb_str(&s.heads), "HTTP/1.1 200|Content-Type: application/json|Content-Length: 11|");
		assert_string_equal(sb_str(&s.body), "{\"a\":\"bc\"}\n");
		assert_true(h1_keep_alive(&r));
		seen_free(&s);
	}
}

static void test_chunked(void **state)
{
	(void)state;
	static const char text[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nTrailer: x\r\n\r\n";
	for (size_t cut = 0; cut <= 5; cut++) {
		struct seen s = { 0 };
		struct h1_reader r;
		assert_int_equal(feed(&r, &s, text, strlen(text), cut, false), 1);
		assert_string_equal(sb_str(&s.body), "{\"a\":1}");
		assert_true(h1_keep_alive(&r));
		seen_free(&s);
	}
}

/* No length: the body is what comes until the connection ends, which is
 * then not kept; a close asked for is not kept either. */
static void test_until_close(void **state)
{
	(void)state;
	static const char text[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
	struct seen s = { 0 };
	struct h1_reader r;
	assert_int_equal(feed(&r, &s, text, strlen(text), 3, false), 0);
	assert_int_equal(h1_feed(&r, NULL, 0), 1);
	assert_string_equal(sb_str(&s.body), "{\"a\":1}");
	assert_false(h1_keep_alive(&r));
	seen_free(&s);

	static const char closing[] = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
	struct seen c = { 0 };
	assert_int_equal(feed(&r, &c, closing, strlen(closing), 0, false), 1);
	assert_false(h1_keep_alive(&r));
	seen_free(&c);

	static const char old[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	struct seen o = { 0 };
	assert_int_equal(feed(&r, &o, old, strlen(old), 0, false), 1);
	assert_false(h1_keep_alive(&r));
	seen_free(&o);
}

/* An answer cut short by the end of the connection, anywhere. */
static void test_ended_early(void **state)
{
	(void)state;
	for (size_t len = 0; len < strlen(whole); len++) {
		struct seen s = { 0 };
		struct h1_reader r;
		assert_int_equal(feed(&r, &s, whole, len, 0, true), -1);
		assert_true(r.early);
		assert_false(r.stopped);
		assert_false(h1_keep_alive(&r));
		seen_free(&s);
	}
}

/* An interim answer's head is passed on, then the final one's from its
 * own status line. */
static void test_interim(void **state)
{
	(void)state;
	static const char text[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
				   "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nContent-Length: 2\r\n\r\n{}";
	struct seen s = { 0 };
	struct h1_reader r;
	assert_int_equal(feed(&r, &s, text, strlen(text), 7, false), 1);
	assert_string_equal(sb_str(&s.heads), "HTTP/1.1 100|HTTP/1.1 103|Link: </a>|HTTP/1.1 429|Retry-After: 5|"
			    "Content-Length: 2|");
	assert_string_equal(sb_str(&s.body), "{}");
	seen_free(&s);
}

/* Bytes after the answer: it is complete, the connection not kept. */
static void test_extra_bytes(void **state)
{
	(void)state;
	strbuf t = STRBUF_INIT;
	sb_puts(&t, whole);
	sb_puts(&t, "HTTP/1.1 200 OK\r\n");
	struct seen s = { 0 };
	struct h1_reader r;
	assert_int_equal(feed(&r, &s, t.buf, t.len, 0, false), 1);
	assert_true(r.extra);
	assert_false(h1_keep_alive(&r));
	seen_free(&s);
	/* the same, the rest in a later piece */
	struct seen s2 = { 0 };
	assert_int_equal(feed(&r, &s2, whole, strlen(whole), 0, false), 1);
	assert_int_equal(h1_feed(&r, "H", 1), 1);
	assert_false(h1_keep_alive(&r));
	seen_free(&s2);
	sb_free(&t);
}

/* A header line longer than H1_LINE_BYTES is not passed; the others are. */
static void test_long_line_dropped(void **state)
{
	(void)state;
	strbuf t = STRBUF_INIT;
	sb_puts(&t, "HTTP/1.1 429 x\r\nRetry-After: ");
	for (int i = 0; i < H1_LINE_BYTES; i++)
		sb_putc(&t, '9');
	sb_puts(&t, "\r\nX-After: 1\r\nContent-Length: 0\r\n\r\n");
	for (size_t cut = 0; cut <= 100; cut += 50) {
		struct seen s = { 0 };
		struct h1_reader r;
		assert_int_equal(feed(&r, &s, t.buf, t.len, cut, false), 1);
		assert_string_equal(sb_str(&s.heads), "HTTP/1.1 429|X-After: 1|Content-Length: 0|");
		seen_free(&s);
	}
	sb_free(&t);
}

/* What is not an HTTP/1.1 answer, or a head past http-parser's bound, is
 * refused, not read on. */
static void test_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nRetry-After: 5\rX-Injected: yes\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct seen s = { 0 };
		struct h1_reader r;
		assert_int_equal(feed(&r, &s, bad[i], strlen(bad[i]), 0, true), -1);
		assert_false(r.early);
		assert_false(r.stopped);
		assert_non_null(h1_error(&r));
		seen_free(&s);
	}
	strbuf t = STRBUF_INIT;
	sb_puts(&t, "HTTP/1.1 200 OK\r\n");
	while (t.len < (100u << 10))
		sb_puts(&t, "X-Flood: 0123456789012345678901234567890123456789\r\n");
	struct seen s = { 0 };
	struct h1_reader r;
	assert_int_equal(feed(&r, &s, t.buf, t.len, 4096, false), -1);
	seen_free(&s);
	sb_free(&t);
}

/* A callback that takes less stops the reading, said as stopped. */
static void test_callback_stops(void **state)
{
	(void)state;
	struct seen s = { .body_limit = 4 };
	struct h1_reader r;
	assert_int_equal(feed(&r, &s, whole, strlen(whole), 0, false), -1);
	assert_true(r.stopped);
	assert_false(h1_keep_alive(&r));
	seen_free(&s);
	struct seen h = { .header_stop = 2 };
	assert_int_equal(feed(&r, &h, whole, strlen(whole), 0, false), -1);
	assert_true(r.stopped);
	assert_string_equal(sb_str(&h.heads), "HTTP/1.1 200|");
	seen_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_length_cut_anywhere),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_until_close),
		cmocka_unit_test(test_ended_early),
		cmocka_unit_test(test_interim),
		cmocka_unit_test(test_extra_bytes),
		cmocka_unit_test(test_long_line_dropped),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
