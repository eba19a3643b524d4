/* test_upstream.c: request bodies, error mapping, header values, timers, relayed objects in both sinks */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "chat_response.h"
#include "upstream.h"

static const char *member_str(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ---- the body sent upstream ---- */

static void test_request_body_maps_model_keeps_rest(void **state)
{
	(void)state;
	static const char body[] = "{\"model\":\"fast\",\"messages\":[{\"role\":\"user\",\"content\":\"a/b\"}],"
		"\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0.25,\"user\":\"u1\"}";
	struct chat_request req;
	oa_error err;
	assert_int_equal(chat_request_parse(body, strlen(body), &req, &err), 0);
	strbuf out = STRBUF_INIT;
	up_request_body(&req, "llama-3.1-8b-instruct", &out);
	json_object *sent = json_tokener_parse(sb_str(&out));
	assert_non_null(sent);
	assert_string_equal(member_str(sent, "model"), "llama-3.1-8b-instruct");
	assert_string_equal(member_str(sent, "user"), "u1");
	json_object *v;
	assert_true(json_object_object_get_ex(sent, "temperature", &v));
	assert_true(json_object_get_double(v) == 0.25);
	assert_true(json_object_object_get_ex(sent, "stream_options", &v));
	assert_non_null(strstr(sb_str(&out), "\"content\":\"a/b\""));  /* no "\/" */
	/* the client's request is untouched: its model stays what it asked for */
	assert_string_equal(req.model, "fast");
	json_object_put(sent);
	sb_free(&out);
	chat_request_free(&req);
}

/* Bodies that need no include_usage go as the client wrote them, only the
 * model's value changed: the same object the tree would send, the rest
 * byte for byte; a stream's, or a body with an escaped top-level key, takes
 * the tree. */
static void test_request_body_spliced_same_as_tree(void **state)
{
	(void)state;
	static const char *bodies[] = {
		"{\"model\":\"fast\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
		"{ \"messages\" : [ {\"role\":\"user\",\"content\":\"caf\\u00e9 a\\/b\"} ] ,\"temperature\":1.0E0,"
		"\"model\" : \"fast\" , \"user\":\"u\" }\n",
		"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":\"fast\",\"metadata\":{\"model\":\"keep\"}}",
		"{\"model\":\"fast\",\"stream\":false,\"messages\":[{\"role\":\"user\",\"content\":\"\\\"q\\\"\"}]}",
		"{\"model\":\"fast\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"s\"}]}",
		"{\"mod\\u0065l\":\"fast\",\"messages\":[{\"role\":\"user\",\"content\":\"e\"}]}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		const char *body = bodies[i];
		size_t len = strlen(body);
		struct chat_request req;
		oa_error err;
		assert_int_equal(chat_request_parse(body, len, &req, &err), 0);
		strbuf spliced = STRBUF_INIT, tree = STRBUF_INIT;
		up_request_body(&req, "llama \"3\"", &spliced);
		up_body_with_model(req.root, "llama \"3\"", req.stream, &tree);
		json_object *a = json_tokener_parse(sb_str(&spliced)), *b = json_tokener_parse(sb_str(&tree));
		assert_non_null(a);
		assert_true(json_object_equal(a, b));
		assert_string_equal(member_str(a, "model"), "llama \"3\"");
		if (!req.stream && !strstr(body, "\\u0065"))
			/* everything but the model's value is the client's bytes */
			assert_int_equal(spliced.len, len - strlen("\"fast\"") + strlen("\"llama \\\"3\\\"\""));
		json_object_put(a);
		json_object_put(b);
		sb_free(&spliced);
		sb_free(&tree);
		chat_request_free(&req);
	}
}

/* ---- errors ---- */

static void test_4xx_openai_shaped_is_kept(void **state)
{
	(void)state;
	static const char body[] = "{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens.\","
		"\"type\":\"invalid_request_error\",\"param\":\"messages\",\"code\":\"context_length_exceeded\"}}";
	oa_error err;
	memset(&err, 0, sizeof err);
	assert_int_equal(up_map_status(400, body, strlen(body), &err), -1);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.type, "invalid_request_error");
	assert_string_equal(err.code, "context_length_exceeded");
	assert_string_equal(err.param, "messages");
	assert_string_equal(err.message, "This model's maximum context length is 8192 tokens.");
}

static void test_4xx_other_body_is_wrapped(void **state)
{
	(void)state;
	static const char body[] = "<html>Not Found</html>";
	oa_error err;
	memset(&err, 0, sizeof err);
	up_map_status(404, body, strlen(body), &err);
	assert_int_equal(err.status, 404);
	assert_string_equal(err.type, OA_INVALID_REQUEST);
	assert_string_equal(err.code, "upstream_rejected");
	assert_non_null(strstr(err.message, "404"));
	/* a JSON body that is not OpenAI's envelope is wrapped too */
	up_map_status(422, "{\"detail\":\"bad\"}", 16, &err);
	assert_int_equal(err.status, 422);
	assert_string_equal(err.code, "upstream_rejected");
}

static void test_429_kept_with_its_own_or_our_error(void **state)
{
	(void)state;
	static const char body[] = "{\"error\":{\"message\":\"slow down\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";
	oa_error err;
	up_map_status(429, body, strlen(body), &err);
	assert_int_equal(err.status, 429);
	assert_string_equal(err.message, "slow down");
	assert_string_equal(err.param, "");
	up_map_status(429, "", 0, &err);
	assert_int_equal(err.status, 429);
	assert_string_equal(err.type, OA_RATE_LIMIT);
	assert_string_equal(err.code, "rate_limit_exceeded");
}

static void test_401_and_5xx_become_502(void **state)
{
	(void)state;
	static const char body[] = "{\"error\":{\"message\":\"Incorrect API key provided: sk-abc\",\"type\":\"invalid_request_error\","
		"\"code\":\"invalid_api_key\"}}";
	oa_error err;
	up_map_status(401, body, strlen(body), &err);
	assert_int_equal(err.status, 502);
	assert_null(strstr(err.message, "sk-abc"));  /* the upstream's detail stays in our log */
	up_map_status(500, "{\"error\":{\"message\":\"boom\"}}", 27, &err);
	assert_int_equal(err.status, 502);
	assert_string_equal(err.type, OA_SERVER);
	assert_null(strstr(err.message, "boom"));
	up_map_status(503, NULL, 0, &err);
	assert_int_equal(err.status, 502);
}

static void test_transport_failures(void **state)
{
	(void)state;
	oa_error err;
	assert_int_equal(up_fail(&err, UP_UNREACHABLE), -1);
	assert_int_equal(err.status, 502);
	up_fail(&err, UP_TIMEOUT);
	assert_int_equal(err.status, 504);
	up_fail(&err, UP_BROKEN);
	assert_int_equal(err.status, 502);
	up_fail(&err, UP_MALFORMED);
	assert_int_equal(err.status, 502);
	assert_string_equal(err.type, OA_SERVER);
}

static void test_error_object_numeric_code_and_absent(void **state)
{
	(void)state;
	oa_error err;
	memset(&err, 0, sizeof err);
	json_object *o = json_tokener_parse("{\"error\":{\"message\":\"m\",\"code\":42}}");
	assert_int_equal(up_error_object(o, 502, &err), -1);
	assert_string_equal(err.code, "42");
	assert_string_equal(err.type, OA_SERVER);  /* none given */
	json_object_put(o);
	o = json_tokener_parse("{\"id\":\"x\",\"choices\":[]}");
	err.status = 0;
	assert_int_equal(up_error_object(o, 502, &err), 0);
	assert_int_equal(err.status, 0);
	json_object_put(o);
}

static void test_header_value(void **state)
{
	(void)state;
	char v[32];
	static const char line[] = "Retry-After:  7 \r\n";
	assert_true(up_header_value(line, strlen(line), "retry-after", v, sizeof v));
	assert_string_equal(v, "7");
	static const char ms[] = "retry-after-ms: 1500\r\n";
	assert_false(up_header_value(ms, strlen(ms), "retry-after", v, sizeof v));
	assert_true(up_header_value(ms, strlen(ms), "retry-after-ms", v, sizeof v));
	assert_string_equal(v, "1500");
}

/* Header values with bytes that would split or forge a header are never
 * given out, whole or cut; nor are values too long to hold. */
static void test_header_value_refuses_control_bytes_and_overlong(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		size_t len;   /* 0: strlen */
	} bad[] = {
		{ "Retry-After: 5\rX-Injected: yes\r\n", 0 },   /* CR inside */
		{ "Retry-After: 5\nX-Injected: yes\r\n", 0 },   /* LF inside */
		{ "Retry-After: 5\0X-Injected: yes\r\n", 32 },  /* NUL inside */
		{ "Retry-After: 5\x1b[31m\r\n", 0 },             /* any control byte */
		{ "Retry-After: 5\x7f\r\n", 0 },
		{ "Retry-After: 1234567890123456789012345678901234567890\r\n", 0 },  /* does not fit */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char v[32] = "unchanged";
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].line);
		assert_true(up_header_value(bad[i].line, len, "retry-after", v, sizeof v));
		assert_string_equal(v, "");
	}
	char v[32];
	static const char fits[] = "Retry-After: 1234567890123456789012345678901\r\n";   /* 31: fits */
	assert_true(up_header_value(fits, strlen(fits), "retry-after", v, sizeof v));
	assert_string_equal(v, "1234567890123456789012345678901");
	static const char tab[] = "retry-after:\t9\t\r\n";   /* surrounding blanks are not the value */
	assert_true(up_header_value(tab, strlen(tab), "retry-after", v, sizeof v));
	assert_string_equal(v, "9");
}

/* Retry-After and retry-after-ms as we send them: made from what parses. */
static void test_retry_headers(void **state)
{
	(void)state;
	const time_t now = 784111777;   /* Sun, 06 Nov 1994 08:49:37 GMT */
	static const struct {
		const char *ra, *ms;
		bool ok;
		long secs, msecs;
	} cases[] = {
		{ "3", "2500", true, 3, 2500 },                          /* both valid: each kept */
		{ "7", NULL, true, 7, 7000 },                            /* ms derived */
		{ "", "1500", true, 2, 1500 },                           /* seconds derived, rounded up */
		{ "0", "", true, 0, 0 },
		{ "Sun, 06 Nov 1994 08:50:07 GMT", "", true, 30, 30000 },   /* IMF-fixdate */
		{ "Sunday, 06-Nov-94 08:49:47 GMT", "", true, 10, 10000 },  /* RFC 850 */
		{ "Sun Nov  6 08:49:42 1994", "", true, 5, 5000 },          /* asctime */
		{ "Sat, 05 Nov 1994 08:49:37 GMT", "", true, 0, 0 },        /* in the past: now */
		{ "99999999999999999999999", "", true, UP_RETRY_MAX_S, UP_RETRY_MAX_S * 1000 },  /* saturated */
		{ "", "99999999999999999999999", true, UP_RETRY_MAX_S, UP_RETRY_MAX_S * 1000 },
		{ "5 ", "", false, 0, 0 },                               /* not delta-seconds */
		{ "-5", "-1", false, 0, 0 },
		{ "5s", "2.5e3", false, 0, 0 },
		{ "soon", NULL, false, 0, 0 },
		{ "Sun, 06 Nov 1994 08:50:07 GMT; x=1", "", false, 0, 0 },
		{ "", "", false, 0, 0 },
		{ NULL, NULL, false, 0, 0 },
		{ "oops", "250", true, 1, 250 },                         /* the valid one wins */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long secs = -1, ms = -1;
		bool ok = up_retry_headers(cases[i].ra, cases[i].ms, now, &secs, &ms);
		if (ok != cases[i].ok)
			fail_msg("case %zu (%s | %s): %d", i, cases[i].ra, cases[i].ms, ok);
		if (ok && (secs != cases[i].secs || ms != cases[i].msecs))
			fail_msg("case %zu: %ld s %ld ms", i, secs, ms);
	}
}

/* Invalid UTF-8 becomes U+FFFD, byte by byte; valid text is left alone. */
static void test_utf8_repair(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
		size_t bad;
	} cases[] = {
		{ "{\"a\":\"caf\xc3\xa9 \xf0\x9f\x99\x82\"}", NULL, 0 },         /* valid: untouched */
		{ "\xff", "\xef\xbf\xbd", 1 },
		{ "a\xc3(b", "a\xef\xbf\xbd(b", 1 },                           /* a cut sequence */
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", 2 },                 /* overlong */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3 },  /* a surrogate */
		{ "\xf4\x90\x80\x80!", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!", 4 },  /* > U+10FFFF */
		{ "ok\xe2\x82", "ok\xef\xbf\xbd\xef\xbf\xbd", 2 },             /* cut at the end */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strbuf out = STRBUF_INIT;
		assert_int_equal(up_utf8_repair(cases[i].in, strlen(cases[i].in), &out), cases[i].bad);
		if (cases[i].want)
			assert_string_equal(sb_str(&out), cases[i].want);
		else
			assert_int_equal(out.len, 0);
		sb_free(&out);
	}
}

/* ASCII is skipped eight bytes at a time: a bad byte, a good sequence or
 * one cut by the end is still seen at every offset of a long ASCII run,
 * whichever word it falls in or straddles. */
static void test_utf8_repair_in_ascii_runs(void **state)
{
	(void)state;
	static const struct {
		const char *seq, *fixed;
		size_t bad;
	} seqs[] = {
		{ "\xff", "\xef\xbf\xbd", 1 },
		{ "\xc3\xa9", NULL, 0 },
		{ "\xf0\x9f\x99\x82", NULL, 0 },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3 },
	};
	const char *ascii = "abcdefghijklmnopqrstuvwxyz0123456789";
	for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
		for (size_t at = 0; at <= 24; at++) {
			for (size_t tail = 0; tail <= 17; tail += 17) {
				char in[128], want[128];
				snprintf(in, sizeof in, "%.*s%s%.*s", (int)at, ascii, seqs[k].seq, (int)tail, ascii);
				snprintf(want, sizeof want, "%.*s%s%.*s", (int)at, ascii,
					 seqs[k].fixed ? seqs[k].fixed : seqs[k].seq, (int)tail, ascii);
				strbuf out = STRBUF_INIT;
				assert_int_equal(up_utf8_repair(in, strlen(in), &out), seqs[k].bad);
				if (seqs[k].bad)
					assert_string_equal(sb_str(&out), want);
				sb_free(&out);
			}
		}
	}
	/* a sequence cut by the end of a long ASCII run */
	strbuf out = STRBUF_INIT;
	assert_int_equal(up_utf8_repair("abcdefghijklmnop\xe2\x82", 18, &out), 2);
	assert_string_equal(sb_str(&out), "abcdefghijklmnop\xef\xbf\xbd\xef\xbf\xbd");
	sb_free(&out);
}

/* A fake environment for up_env_has_proxy: fake_env_name is the one set. */
static const char *fake_env_name;
static char fake_env_value[] = "http://proxy.example:3128";
static char *fake_getenv(const char *name)
{
	return fake_env_name && strcmp(name, fake_env_name) == 0 ? fake_env_value : NULL;
}

/* Each variable libcurl takes a proxy from counts; HTTP_PROXY (which a CGI
 * request's Proxy: header sets) and NO_PROXY alone do not. */
static void test_env_has_proxy(void **state)
{
	(void)state;
	static const char *const proxies[] = { "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
	static const char *const others[] = { "HTTP_PROXY", "no_proxy", "NO_PROXY", "PROXY" };
	fake_env_name = NULL;
	assert_false(up_env_has_proxy(fake_getenv));
	for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) {
		fake_env_name = proxies[i];
		assert_true(up_env_has_proxy(fake_getenv));
	}
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		fake_env_name = others[i];
		assert_false(up_env_has_proxy(fake_getenv));
	}
	fake_env_name = NULL;
}

/* NaN, Infinity and out-of-range numbers anywhere in a tree become null;
 * finite numbers, other types and the order of members stay. */
static void test_json_finite(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
		size_t n;
	} cases[] = {
		{ "{\"a\":1.5,\"b\":[1,2e3,-0.0],\"c\":\"NaN\"}", "{\"a\":1.5,\"b\":[1,2e3,-0.0],\"c\":\"NaN\"}", 0 },
		{ "{\"a\":NaN,\"b\":2}", "{\"a\":null,\"b\":2}", 1 },
		{ "{\"x\":[Infinity,1,-Infinity]}", "{\"x\":[null,1,null]}", 2 },
		{ "{\"d\":{\"e\":[[1e999]]},\"f\":-1e400}", "{\"d\":{\"e\":[[null]]},\"f\":null}", 2 },
		{ "{\"data\":[{\"embedding\":[0.5,nan,0.25]}]}", "{\"data\":[{\"embedding\":[0.5,null,0.25]}]}", 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_object *o = json_tokener_parse(cases[i].in);
		assert_non_null(o);
		assert_int_equal(up_json_finite(o), cases[i].n);
		const char *got = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: %s", i, got);
		json_object_put(o);
	}
	assert_int_equal(up_json_finite(NULL), 0);
}

/* ---- timers, with a clock passed in ---- */

static void test_clock_limits(void **state)
{
	(void)state;
	struct upstream_cfg up;
	memset(&up, 0, sizeof up);
	up.first_byte_ms = 1000;
	up.idle_ms = 300;
	up.total_ms = 5000;
	struct up_clock c;
	up_clock_start(&c, 10000);
	assert_int_equal(up_clock_expired(&c, &up, 10999), UP_LIMIT_NONE);
	assert_int_equal(up_clock_expired(&c, &up, 11000), UP_LIMIT_FIRST_BYTE);
	up_clock_byte(&c, 10900);
	assert_int_equal(up_clock_expired(&c, &up, 11100), UP_LIMIT_NONE);  /* idle, not first byte */
	assert_int_equal(up_clock_expired(&c, &up, 11200), UP_LIMIT_IDLE);
	up_clock_byte(&c, 14990);
	assert_int_equal(up_clock_expired(&c, &up, 15000), UP_LIMIT_TOTAL);
	up.total_ms = 0;   /* 0: no limit */
	up.idle_ms = 0;
	assert_int_equal(up_clock_expired(&c, &up, 99999), UP_LIMIT_NONE);
}

/* The next limit due is the one up_clock_expired() would say first, at
 * the moment it would: a wait until then misses none of them. */
static void test_clock_next_limit(void **state)
{
	(void)state;
	struct upstream_cfg up;
	memset(&up, 0, sizeof up);
	struct up_clock c;
	up_clock_start(&c, 10000);
	assert_true(up_clock_next_ms(&c, &up) == INT64_MAX);  /* no limit at all */
	up.first_byte_ms = 1000;
	up.idle_ms = 300;
	up.total_ms = 5000;
	assert_int_equal(up_clock_next_ms(&c, &up), 11000);
	assert_int_equal(up_clock_expired(&c, &up, up_clock_next_ms(&c, &up) - 1), UP_LIMIT_NONE);
	assert_int_equal(up_clock_expired(&c, &up, up_clock_next_ms(&c, &up)), UP_LIMIT_FIRST_BYTE);
	up_clock_byte(&c, 10900);
	assert_int_equal(up_clock_next_ms(&c, &up), 11200);  /* idle now */
	up_clock_progress(&c, 14800);
	assert_int_equal(up_clock_next_ms(&c, &up), 15000);  /* total comes first */
	assert_int_equal(up_clock_expired(&c, &up, 15000), UP_LIMIT_TOTAL);
	up.total_ms = 0;
	assert_int_equal(up_clock_next_ms(&c, &up), 15100);
	up.idle_ms = 0;
	assert_true(up_clock_next_ms(&c, &up) == INT64_MAX);
	up.first_byte_ms = 0;
	up_clock_start(&c, 20000);
	assert_true(up_clock_next_ms(&c, &up) == INT64_MAX);
}

/* Idle is time without progress: bytes that end nothing (a line dripped
 * byte by byte) do not hold it off; events and keep-alives do, up to the
 * total limit. */
static void test_clock_bytes_are_not_progress(void **state)
{
	(void)state;
	struct upstream_cfg up;
	memset(&up, 0, sizeof up);
	up.first_byte_ms = 1000;
	up.idle_ms = 500;
	up.total_ms = 3000;
	struct up_clock c;
	up_clock_start(&c, 0);
	up_clock_byte(&c, 100);          /* the first byte: idle counts from here */
	int64_t t = 100;
	for (; t < 600; t += 50)          /* one byte every 50 ms, no line ended */
		up_clock_byte(&c, t);
	assert_int_equal(up_clock_expired(&c, &up, 599), UP_LIMIT_NONE);
	assert_int_equal(up_clock_expired(&c, &up, 600), UP_LIMIT_IDLE);
	/* events (or keep-alives) every 400 ms: never idle, but the total ends it */
	up_clock_start(&c, 0);
	for (t = 0; t <= 2600; t += 400) {
		up_clock_progress(&c, t);
		assert_int_equal(up_clock_expired(&c, &up, t + 399), UP_LIMIT_NONE);
	}
	assert_int_equal(up_clock_expired(&c, &up, 3000), UP_LIMIT_TOTAL);
}

/* ---- relayed objects in both sinks ---- */

struct mem_writer {
	strbuf out;
	int fail;
};

static int mem_write(void *ctx, const char *p, size_t n)
{
	struct mem_writer *w = ctx;
	if (w->fail)
		return -1;
	sb_append(&w->out, p, n);
	return 0;
}

static int mem_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static void test_accum_relays_whole_answer_model_mapped(void **state)
{
	(void)state;
	struct chat_meta meta;
	chat_meta_init(&meta, "fast", 1700000000);
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, &meta, 1, false);
	chat_accum_sink(&acc, &sink);
	json_object *o = json_tokener_parse("{\"id\":\"chatcmpl-up\",\"object\":\"chat.completion\",\"model\":\"llama-3\","
		"\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\\nthere\"},\"finish_reason\":\"stop\"}],"
		"\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}");
	assert_int_equal(sink.relay(sink.ctx, o), 0);
	json_object_put(o);
	strbuf out = STRBUF_INIT;
	chat_accum_json(&acc, &out);
	json_object *got = json_tokener_parse(sb_str(&out));
	assert_string_equal(member_str(got, "model"), "fast");
	assert_string_equal(member_str(got, "id"), "chatcmpl-up");  /* the upstream's own */
	assert_non_null(strstr(sb_str(&out), "\"total_tokens\":5"));
	json_object_put(got);
	sb_free(&out);
	chat_accum_free(&acc);
}

static void test_stream_relays_events_and_no_second_usage(void **state)
{
	(void)state;
	struct chat_meta meta;
	chat_meta_init(&meta, "fast", 1700000000);
	struct mem_writer mw = { STRBUF_INIT, 0 };
	body_writer w = { &mw, mem_write, mem_flush };
	struct chat_stream st;
	struct chat_sink sink;
	chat_stream_init(&st, &meta, &w, true, false);
	chat_stream_sink(&st, &sink);
	json_object *o = json_tokener_parse("{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3\","
		"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\nb\"},\"finish_reason\":null}]}");
	assert_int_equal(sink.relay(sink.ctx, o), 0);
	json_object_put(o);
	assert_int_equal(chat_stream_end(&st), 0);
	const char *s = sb_str(&mw.out);
	/* one data line per event: the newline inside content stays escaped */
	assert_non_null(strstr(s, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"fast\","));
	assert_non_null(strstr(s, "\"a\\nb\""));
	assert_null(strstr(s, "\"choices\":[]"));  /* the upstream sends its own usage chunk */
	assert_non_null(strstr(s, "}\n\ndata: [DONE]\n\n"));
	/* an object without a model member (an error event) keeps its shape */
	sb_reset(&mw.out);
	o = json_tokener_parse("{\"error\":{\"message\":\"x\"}}");
	assert_int_equal(sink.relay(sink.ctx, o), 0);
	json_object_put(o);
	assert_null(strstr(sb_str(&mw.out), "model"));
	/* a client that went away: the relay says so */
	mw.fail = 1;
	o = json_tokener_parse("{\"model\":\"m\"}");
	assert_int_equal(sink.relay(sink.ctx, o), -1);
	json_object_put(o);
	chat_stream_free(&st);
	sb_free(&mw.out);
}

/* A stream's keep-alive is a comment the client's parser skips; a whole
 * answer has none to give. */
static void test_keepalive_only_in_streams(void **state)
{
	(void)state;
	struct chat_meta meta;
	chat_meta_init(&meta, "fast", 1700000000);
	struct mem_writer mw = { STRBUF_INIT, 0 };
	body_writer w = { &mw, mem_write, mem_flush };
	struct chat_stream st;
	struct chat_sink sink;
	chat_stream_init(&st, &meta, &w, false, false);
	chat_stream_sink(&st, &sink);
	assert_int_equal(sink.keepalive(sink.ctx), 0);
	assert_string_equal(sb_str(&mw.out), ": keep-alive\n\n");
	mw.fail = 1;
	assert_int_equal(sink.keepalive(sink.ctx), -1);
	chat_stream_free(&st);
	sb_free(&mw.out);
	struct chat_accum acc;
	chat_accum_init(&acc, &meta, 1, false);
	chat_accum_sink(&acc, &sink);
	assert_null(sink.keepalive);
	chat_accum_free(&acc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_body_maps_model_keeps_rest),
		cmocka_unit_test(test_request_body_spliced_same_as_tree),
		cmocka_unit_test(test_4xx_openai_shaped_is_kept),
		cmocka_unit_test(test_4xx_other_body_is_wrapped),
		cmocka_unit_test(test_429_kept_with_its_own_or_our_error),
		cmocka_unit_test(test_401_and_5xx_become_502),
		cmocka_unit_test(test_transport_failures),
		cmocka_unit_test(test_error_object_numeric_code_and_absent),
		cmocka_unit_test(test_header_value),
		cmocka_unit_test(test_header_value_refuses_control_bytes_and_overlong),
		cmocka_unit_test(test_retry_headers),
		cmocka_unit_test(test_utf8_repair),
		cmocka_unit_test(test_utf8_repair_in_ascii_runs),
		cmocka_unit_test(test_env_has_proxy),
		cmocka_unit_test(test_json_finite),
		cmocka_unit_test(test_clock_limits),
		cmocka_unit_test(test_clock_next_limit),
		cmocka_unit_test(test_clock_bytes_are_not_progress),
		cmocka_unit_test(test_accum_relays_whole_answer_model_mapped),
		cmocka_unit_test(test_stream_relays_events_and_no_second_usage),
		cmocka_unit_test(test_keepalive_only_in_streams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
