/* test_chat_response.c: chat.completion bodies and chunk streams, checked against OpenAI's schema */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "chat_response.h"

/* ---- helpers ---- */

struct mem_writer {
	strbuf out;
	int flushes;
	int fail_after;   /* writes allowed before -1; <0: never fail */
	int writes;
};

static int mem_write(void *ctx, const char *p, size_t n)
{
	struct mem_writer *w = ctx;
	if (w->fail_after >= 0 && w->writes >= w->fail_after)
		return -1;
	w->writes++;
	sb_append(&w->out, p, n);
	return 0;
}

static int mem_flush(void *ctx)
{
	struct mem_writer *w = ctx;
	w->flushes++;
	return 0;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	assert_non_null(o);
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("missing key \"%s\" in %s", key, json_object_to_json_string(o));
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static void assert_null_member(json_object *o, const char *key)
{
	assert_null(get(o, key));  /* present, and JSON null */
}

static void check_usage(json_object *u, long prompt, long completion)
{
	assert_int_equal(json_object_get_int64(get(u, "prompt_tokens")), prompt);
	assert_int_equal(json_object_get_int64(get(u, "completion_tokens")), completion);
	assert_int_equal(json_object_get_int64(get(u, "total_tokens")), prompt + completion);
	assert_int_equal(json_object_get_int(get(get(u, "prompt_tokens_details"), "cached_tokens")), 0);
	assert_int_equal(json_object_get_int(get(get(u, "completion_tokens_details"), "reasoning_tokens")), 0);
}

/* Required by CreateChatCompletionResponse / CreateChatCompletionStreamResponse. */
static void check_head(json_object *o, const struct chat_meta *m, const char *object)
{
	assert_string_equal(get_str(o, "id"), m->id);
	assert_string_equal(get_str(o, "object"), object);
	assert_int_equal(json_object_get_int64(get(o, "created")), m->created);
	assert_string_equal(get_str(o, "model"), m->model);
	assert_string_equal(get_str(o, "system_fingerprint"), m->system_fingerprint);
	assert_true(json_object_is_type(get(o, "choices"), json_type_array));
}

/* Splits a stream into its events, checking each is `data: ...\n\n`. */
static int split_events(const char *s, char events[][2048], int max)
{
	int n = 0;
	while (*s) {
		assert_true(n < max);
		assert_memory_equal(s, "data: ", 6);
		const char *end = strstr(s, "\n\n");
		assert_non_null(end);
		/* one line per event: no LF inside */
		assert_null(memchr(s, '\n', (size_t)(end - s)));
		size_t len = (size_t)(end - s) - 6;
		assert_true(len < 2048);
		memcpy(events[n], s + 6, len);
		events[n][len] = '\0';
		n++;
		s = end + 2;
	}
	return n;
}

static struct chat_meta meta(void)
{
	struct chat_meta m;
	chat_meta_init(&m, "blueprint-standard", 1700000000);
	return m;
}

/* ---- meta ---- */

static void test_meta_ids(void **state)
{
	(void)state;
	struct chat_meta a = meta(), b = meta();
	assert_memory_equal(a.id, "chatcmpl-", 9);
	assert_true(strlen(a.id) >= 9 + 24);
	for (const char *p = a.id + 9; *p; p++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", *p));
	assert_string_not_equal(a.id, b.id);
	assert_int_equal(a.created, 1700000000);
	assert_memory_equal(a.system_fingerprint, "fp_", 3);
	assert_string_equal(a.system_fingerprint, b.system_fingerprint);

	char call[25];
	chat_random_alnum(call, 24);
	assert_int_equal(strlen(call), 24);
}

/* ---- accumulator ---- */

static void test_accum_text(void **state)
{
	(void)state;
	struct chat_meta m = meta();
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, &m, 1, false);
	chat_accum_sink(&acc, &sink);
	assert_int_equal(sink.delta(sink.ctx, 0, "assistant", "Hello", 5), 0);
	assert_int_equal(sink.delta(sink.ctx, 0, NULL, " \"world\"\n", 9), 0);
	assert_int_equal(sink.finish(sink.ctx, 0, "length"), 0);
	struct chat_usage u = { 10, 3, 13 };
	assert_int_equal(sink.usage(sink.ctx, &u), 0);

	strbuf out = STRBUF_INIT;
	chat_accum_json(&acc, &out);
	json_object *o = json_tokener_parse(sb_str(&out));
	assert_non_null(o);
	check_head(o, &m, "chat.completion");
	json_object *choices = get(o, "choices");
	assert_int_equal(json_object_array_length(choices), 1);
	json_object *c = json_object_array_get_idx(choices, 0);
	assert_int_equal(json_object_get_int(get(c, "index")), 0);
	assert_null_member(c, "logprobs");
	assert_string_equal(get_str(c, "finish_reason"), "length");
	json_object *msg = get(c, "message");
	assert_string_equal(get_str(msg, "role"), "assistant");
	assert_string_equal(get_str(msg, "content"), "Hello \"world\"\n");
	assert_null_member(msg, "refusal");
	assert_false(json_object_object_get_ex(msg, "tool_calls", NULL));
	check_usage(get(o, "usage"), 10, 3);

	json_object_put(o);
	sb_free(&out);
	chat_accum_free(&acc);
}

static void test_accum_n_choices(void **state)
{
	(void)state;
	struct chat_meta m = meta();
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, &m, 3, false);
	chat_accum_sink(&acc, &sink);
	for (int i = 2; i >= 0; i--) {
		char text[16];
		snprintf(text, sizeof(text), "c%d", i);
		assert_int_equal(sink.delta(sink.ctx, i, "assistant", text, strlen(text)), 0);
		assert_int_equal(sink.finish(sink.ctx, i, "stop"), 0);
	}
	assert_int_equal(sink.delta(sink.ctx, 3, NULL, "x", 1), -1);
	assert_int_equal(sink.finish(sink.ctx, -1, "stop"), -1);

	strbuf out = STRBUF_INIT;
	chat_accum_json(&acc, &out);
	json_object *o = json_tokener_parse(sb_str(&out));
	json_object *choices = get(o, "choices");
	assert_int_equal(json_object_array_length(choices), 3);
	for (int i = 0; i < 3; i++) {
		json_object *c = json_object_array_get_idx(choices, (size_t)i);
		char want[16];
		snprintf(want, sizeof(want), "c%d", i);
		assert_int_equal(json_object_get_int(get(c, "index")), i);
		assert_string_equal(get_str(get(c, "message"), "content"), want);
	}
	/* never reported: zeros, but the object is there */
	check_usage(get(o, "usage"), 0, 0);
	json_object_put(o);
	sb_free(&out);
	chat_accum_free(&acc);
}

static void test_accum_tool_calls(void **state)
{
	(void)state;
	struct chat_meta m = meta();
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, &m, 1, false);
	chat_accum_sink(&acc, &sink);
	assert_int_equal(sink.delta(sink.ctx, 0, "assistant", NULL, 0), 0);
	assert_int_equal(sink.tool_call(sink.ctx, 0, 0, "call_A", "get_weather", "{\"city\":\"Paris\"}"), 0);
	assert_int_equal(sink.tool_call(sink.ctx, 0, 1, "call_B", "get_time", "{}"), 0);
	assert_int_equal(sink.finish(sink.ctx, 0, "tool_calls"), 0);

	strbuf out = STRBUF_INIT;
	chat_accum_json(&acc, &out);
	json_object *o = json_tokener_parse(sb_str(&out));
	json_object *c = json_object_array_get_idx(get(o, "choices"), 0);
	assert_string_equal(get_str(c, "finish_reason"), "tool_calls");
	json_object *msg = get(c, "message");
	assert_null_member(msg, "content");
	json_object *calls = get(msg, "tool_calls");
	assert_int_equal(json_object_array_length(calls), 2);
	json_object *call = json_object_array_get_idx(calls, 0);
	assert_string_equal(get_str(call, "id"), "call_A");
	assert_string_equal(get_str(call, "type"), "function");
	assert_string_equal(get_str(get(call, "function"), "name"), "get_weather");
	assert_string_equal(get_str(get(call, "function"), "arguments"), "{\"city\":\"Paris\"}");
	call = json_object_array_get_idx(calls, 1);
	assert_string_equal(get_str(call, "id"), "call_B");
	json_object_put(o);
	sb_free(&out);
	chat_accum_free(&acc);
}

static void test_accum_legacy_function_call(void **state)
{
	(void)state;
	struct chat_meta m = meta();
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, &m, 1, true);
	chat_accum_sink(&acc, &sink);
	assert_int_equal(sink.tool_call(sink.ctx, 0, 0, "call_A", "f", "{\"a\":1}"), 0);
	assert_int_equal(sink.finish(sink.ctx, 0, "function_call"), 0);
	strbuf out = STRBUF_INIT;
	chat_accum_json(&acc, &out);
	json_object *o = json_tokener_parse(sb_str(&out));
	json_object *c = json_object_array_get_idx(get(o, "choices"), 0);
	assert_string_equal(get_str(c, "finish_reason"), "function_call");
	json_object *msg = get(c, "message");
	assert_false(json_object_object_get_ex(msg, "tool_calls", NULL));
	assert_string_equal(get_str(get(msg, "function_call"), "name"), "f");
	assert_string_equal(get_str(get(msg, "function_call"), "arguments"), "{\"a\":1}");
	json_object_put(o);
	sb_free(&out);
	chat_accum_free(&acc);
}

/* ---- streamer ---- */

struct stream_fixture {
	struct chat_meta m;
	struct mem_writer mw;
	body_writer w;
	struct chat_stream st;
	struct chat_sink sink;
};

static void stream_setup(struct stream_fixture *f, bool include_usage, bool legacy)
{
	memset(f, 0, sizeof(*f));
	f->m = meta();
	f->mw.fail_after = -1;
	f->w = (body_writer){ &f->mw, mem_write, mem_flush };
	chat_stream_init(&f->st, &f->m, &f->w, include_usage, legacy);
	chat_stream_sink(&f->st, &f->sink);
}

static void stream_teardown(struct stream_fixture *f)
{
	chat_stream_free(&f->st);
	sb_free(&f->mw.out);
}

static json_object *choice0(json_object *chunk)
{
	json_object *choices = get(chunk, "choices");
	assert_int_equal(json_object_array_length(choices), 1);
	json_object *c = json_object_array_get_idx(choices, 0);
	assert_null_member(c, "logprobs");
	return c;
}

static void test_stream_text(void **state)
{
	(void)state;
	struct stream_fixture f;
	stream_setup(&f, false, false);
	assert_int_equal(f.sink.delta(f.sink.ctx, 0, "assistant", "Hi", 2), 0);
	assert_int_equal(f.sink.delta(f.sink.ctx, 0, NULL, " there", 6), 0);
	assert_int_equal(f.sink.finish(f.sink.ctx, 0, "stop"), 0);
	struct chat_usage u = { 5, 2, 7 };
	assert_int_equal(f.sink.usage(f.sink.ctx, &u), 0);
	assert_int_equal(chat_stream_end(&f.st), 0);
	/* every event flushed on its own */
	assert_int_equal(f.mw.flushes, 4);

	static char ev[8][2048];
	int n = split_events(sb_str(&f.mw.out), ev, 8);
	assert_int_equal(n, 4);
	assert_string_equal(ev[3], "[DONE]");

	json_object *o = json_tokener_parse(ev[0]);
	check_head(o, &f.m, "chat.completion.chunk");
	assert_false(json_object_object_get_ex(o, "usage", NULL));
	json_object *c = choice0(o);
	assert_int_equal(json_object_get_int(get(c, "index")), 0);
	assert_null_member(c, "finish_reason");
	assert_string_equal(get_str(get(c, "delta"), "role"), "assistant");
	assert_string_equal(get_str(get(c, "delta"), "content"), "Hi");
	json_object_put(o);

	o = json_tokener_parse(ev[1]);
	c = choice0(o);
	assert_false(json_object_object_get_ex(get(c, "delta"), "role", NULL));
	assert_string_equal(get_str(get(c, "delta"), "content"), " there");
	assert_null_member(c, "finish_reason");
	json_object_put(o);

	o = json_tokener_parse(ev[2]);
	c = choice0(o);
	assert_int_equal(json_object_object_length(get(c, "delta")), 0);
	assert_string_equal(get_str(c, "finish_reason"), "stop");
	json_object_put(o);
	stream_teardown(&f);
}

static void test_stream_include_usage(void **state)
{
	(void)state;
	struct stream_fixture f;
	stream_setup(&f, true, false);
	assert_int_equal(f.sink.delta(f.sink.ctx, 0, "assistant", "Hi", 2), 0);
	assert_int_equal(f.sink.finish(f.sink.ctx, 0, "stop"), 0);
	struct chat_usage u = { 5, 1, 6 };
	assert_int_equal(f.sink.usage(f.sink.ctx, &u), 0);
	assert_int_equal(chat_stream_end(&f.st), 0);

	static char ev[8][2048];
	int n = split_events(sb_str(&f.mw.out), ev, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < 2; i++) {
		json_object *o = json_tokener_parse(ev[i]);
		assert_null_member(o, "usage");
		json_object_put(o);
	}
	json_object *o = json_tokener_parse(ev[2]);
	check_head(o, &f.m, "chat.completion.chunk");
	assert_int_equal(json_object_array_length(get(o, "choices")), 0);
	check_usage(get(o, "usage"), 5, 1);
	json_object_put(o);
	assert_string_equal(ev[3], "[DONE]");
	stream_teardown(&f);
}

/* The chunk's head is made once a stream: every later chunk, whatever its
 * choice's index and kind, still carries the whole head and its own index. */
static void test_stream_head_made_once(void **state)
{
	(void)state;
	static const int index[] = { 0, 1, 12, 0, 1 };
	for (int usage = 0; usage < 2; usage++) {
		struct stream_fixture f;
		stream_setup(&f, usage, false);
		assert_int_equal(f.sink.delta(f.sink.ctx, 0, "assistant", "a", 1), 0);
		assert_int_equal(f.sink.delta(f.sink.ctx, 1, "assistant", "b\"", 2), 0);
		assert_int_equal(f.sink.delta(f.sink.ctx, 12, NULL, "c", 1), 0);
		assert_int_equal(f.sink.finish(f.sink.ctx, 0, "length"), 0);
		assert_int_equal(f.sink.tool_call(f.sink.ctx, 1, 0, "call_1", "f", "{}"), 0);
		static char ev[8][2048];
		assert_int_equal(split_events(sb_str(&f.mw.out), ev, 8), 5);
		for (int i = 0; i < 5; i++) {
			json_object *o = json_tokener_parse(ev[i]);
			assert_non_null(o);
			check_head(o, &f.m, "chat.completion.chunk");
			assert_int_equal(json_object_object_get_ex(o, "usage", NULL), usage);
			json_object *c = choice0(o);
			assert_int_equal(json_object_get_int(get(c, "index")), index[i]);
			if (i == 1)
				assert_string_equal(get_str(get(c, "delta"), "content"), "b\"");
			if (i == 3)
				assert_string_equal(get_str(c, "finish_reason"), "length");
			else
				assert_null_member(c, "finish_reason");
			json_object_put(o);
		}
		stream_teardown(&f);
	}
}

static void test_stream_tool_call(void **state)
{
	(void)state;
	struct stream_fixture f;
	stream_setup(&f, false, false);
	assert_int_equal(f.sink.delta(f.sink.ctx, 1, "assistant", NULL, 0), 0);
	assert_int_equal(f.sink.tool_call(f.sink.ctx, 1, 0, "call_X", "lookup", "{\"q\":\"a\\\"b\"}"), 0);
	static char ev[4][2048];
	assert_int_equal(split_events(sb_str(&f.mw.out), ev, 4), 2);
	json_object *o = json_tokener_parse(ev[0]);
	json_object *c = choice0(o);
	assert_string_equal(get_str(get(c, "delta"), "role"), "assistant");
	assert_null_member(get(c, "delta"), "content");
	json_object_put(o);
	o = json_tokener_parse(ev[1]);
	c = choice0(o);
	assert_int_equal(json_object_get_int(get(c, "index")), 1);
	json_object *calls = get(get(c, "delta"), "tool_calls");
	json_object *call = json_object_array_get_idx(calls, 0);
	assert_int_equal(json_object_get_int(get(call, "index")), 0);
	assert_string_equal(get_str(call, "id"), "call_X");
	assert_string_equal(get_str(call, "type"), "function");
	assert_string_equal(get_str(get(call, "function"), "name"), "lookup");
	assert_string_equal(get_str(get(call, "function"), "arguments"), "{\"q\":\"a\\\"b\"}");
	json_object_put(o);
	stream_teardown(&f);
}

static void test_stream_legacy_function_call(void **state)
{
	(void)state;
	struct stream_fixture f;
	stream_setup(&f, false, true);
	assert_int_equal(f.sink.tool_call(f.sink.ctx, 0, 0, "call_X", "f", "{}"), 0);
	static char ev[4][2048];
	assert_int_equal(split_events(sb_str(&f.mw.out), ev, 4), 1);
	json_object *o = json_tokener_parse(ev[0]);
	json_object *d = get(choice0(o), "delta");
	assert_false(json_object_object_get_ex(d, "tool_calls", NULL));
	assert_string_equal(get_str(get(d, "function_call"), "name"), "f");
	assert_string_equal(get_str(get(d, "function_call"), "arguments"), "{}");
	json_object_put(o);
	stream_teardown(&f);
}

static void test_stream_error_event(void **state)
{
	(void)state;
	struct stream_fixture f;
	stream_setup(&f, false, false);
	oa_error e = { 0 };
	oa_error_set(&e, 502, OA_SERVER, "upstream_error", NULL, "upstream went away");
	assert_int_equal(chat_stream_error(&f.st, &e), 0);
	static char ev[4][2048];
	assert_int_equal(split_events(sb_str(&f.mw.out), ev, 4), 1);
	json_object *o = json_tokener_parse(ev[0]);
	json_object *err = get(o, "error");
	assert_string_equal(get_str(err, "message"), "upstream went away");
	assert_string_equal(get_str(err, "type"), OA_SERVER);
	assert_null_member(err, "param");
	assert_string_equal(get_str(err, "code"), "upstream_error");
	json_object_put(o);
	stream_teardown(&f);
}

static void test_stream_client_gone(void **state)
{
	(void)state;
	struct stream_fixture f;
	stream_setup(&f, true, false);
	f.mw.fail_after = 1;
	assert_int_equal(f.sink.delta(f.sink.ctx, 0, "assistant", "a", 1), 0);
	assert_int_equal(f.sink.delta(f.sink.ctx, 0, NULL, " b", 2), -1);
	assert_int_equal(f.sink.tool_call(f.sink.ctx, 0, 0, "i", "n", "{}"), -1);
	assert_int_equal(f.sink.finish(f.sink.ctx, 0, "stop"), -1);
	assert_int_equal(chat_stream_end(&f.st), -1);
	stream_teardown(&f);
}

static void test_stream_reuses_buffer(void **state)
{
	(void)state;
	struct stream_fixture f;
	stream_setup(&f, false, false);
	assert_int_equal(f.sink.delta(f.sink.ctx, 0, "assistant", "word", 4), 0);
	const char *buf = f.st.ev.buf;
	size_t cap = f.st.ev.cap;
	for (int i = 0; i < 50; i++)
		assert_int_equal(f.sink.delta(f.sink.ctx, 0, NULL, " word", 5), 0);
	assert_ptr_equal(f.st.ev.buf, buf);
	assert_int_equal(f.st.ev.cap, cap);
	stream_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_ids),
		cmocka_unit_test(test_accum_text),
		cmocka_unit_test(test_accum_n_choices),
		cmocka_unit_test(test_accum_tool_calls),
		cmocka_unit_test(test_accum_legacy_function_call),
		cmocka_unit_test(test_stream_text),
		cmocka_unit_test(test_stream_include_usage),
		cmocka_unit_test(test_stream_head_made_once),
		cmocka_unit_test(test_stream_tool_call),
		cmocka_unit_test(test_stream_legacy_function_call),
		cmocka_unit_test(test_stream_error_event),
		cmocka_unit_test(test_stream_client_gone),
		cmocka_unit_test(test_stream_reuses_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
