/* test_backend_mock.c: the mock model through both sinks: cuts, choices, tools, JSON, usage */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <limits.h>

#include "backend.h"
#include "backend_mock.h"
#include "chat_response.h"
#include "config.h"
#include "mock_schema.h"
#include "sse.h"
#include "tokens.h"

#define CANNED "THIS IS THE MOCKED CHAT RESPONSE FROM OPENAI API BLUEPRINT. " \
	"If you see this message, your chat endpoint is working correctly!"

/* ---- building requests ---- */

struct fixture {
	struct model_cfg model;
	struct chat_message msgs[4];
	struct chat_tool tools[2];
	struct chat_request req;
	json_object *owned[2];
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->model.id = "blueprint-standard";
	f->model.mock.mode = MOCK_CANNED;
	f->msgs[0] = (struct chat_message){ .role = ROLE_SYSTEM, .text = "Be brief.", .text_len = 9 };
	f->msgs[1] = (struct chat_message){ .role = ROLE_USER, .name = "ann",
					    .text = "Say hi", .text_len = 6 };
	f->req.model = "blueprint-standard";
	f->req.messages = f->msgs;
	f->req.n_messages = 2;
	f->req.n = 1;
	f->req.max_tokens = -1;
	f->req.top_logprobs = -1;
	f->req.parallel_tool_calls = true;
}

static void fixture_free(struct fixture *f)
{
	for (int i = 0; i < 2; i++)
		json_object_put(f->owned[i]);
}

static json_object *parse(const char *s)
{
	json_object *o = json_tokener_parse(s);
	if (!o)
		fail_msg("not JSON: %s", s);
	return o;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;
	if (!o || !json_object_object_get_ex(o, key, &v))
		fail_msg("missing key \"%s\" in %s", key, o ? json_object_to_json_string(o) : "NULL");
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);
	if (!json_object_is_type(v, json_type_string))
		fail_msg("\"%s\" is not a string", key);
	return json_object_get_string(v);
}

/* ---- running the backend into an accumulated body ---- */

struct body {
	json_object *root;
	strbuf text;
};

static void run_accum(struct fixture *f, struct body *b)
{
	struct chat_meta m;
	chat_meta_init(&m, f->req.model, 1700000000);
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, &m, f->req.n, f->req.legacy_functions);
	chat_accum_sink(&acc, &sink);
	oa_error err = { 0 };
	assert_int_equal(backend_mock.chat(&f->model, &f->req, &sink, &err), 0);
	assert_int_equal(err.status, 0);
	b->text = (strbuf)STRBUF_INIT;
	chat_accum_json(&acc, &b->text);
	chat_accum_free(&acc);
	b->root = parse(sb_str(&b->text));
}

static void body_free(struct body *b)
{
	json_object_put(b->root);
	sb_free(&b->text);
}

static json_object *choice(struct body *b, int i)
{
	return json_object_array_get_idx(get(b->root, "choices"), (size_t)i);
}

static const char *content(struct body *b, int i)
{
	return get_str(get(choice(b, i), "message"), "content");
}

static const char *finish(struct body *b, int i)
{
	return get_str(choice(b, i), "finish_reason");
}

static void check_usage(struct fixture *f, json_object *u, long completion)
{
	long prompt = tok_prompt(&f->req);
	assert_int_equal(json_object_get_int64(get(u, "prompt_tokens")), prompt);
	assert_int_equal(json_object_get_int64(get(u, "completion_tokens")), completion);
	assert_int_equal(json_object_get_int64(get(u, "total_tokens")), prompt + completion);
}

/* ---- running it into an SSE stream ---- */

struct mem_writer {
	strbuf out;
};

static int mem_write(void *ctx, const char *p, size_t n)
{
	sb_append(&((struct mem_writer *)ctx)->out, p, n);
	return 0;
}

static int mem_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

#define MAX_CHOICES 4

/* What the client saw, per choice, checking the stream's rules on the way. */
struct seen {
	int events;
	bool done;               /* [DONE] seen, must be last */
	json_object *usage;      /* the usage chunk's usage, if any */
	strbuf text[MAX_CHOICES];
	int deltas[MAX_CHOICES];
	bool finished[MAX_CHOICES];
	char finish[MAX_CHOICES][16];
	json_object *call[MAX_CHOICES];   /* the tool_calls[0] or function_call delta */
};

static int on_event(void *ctx, const struct sse_msg *ev)
{
	struct seen *s = ctx;
	assert_false(s->done);
	s->events++;
	if (strcmp(ev->data, "[DONE]") == 0) {
		s->done = true;
		return 0;
	}
	json_object *o = parse(ev->data);
	assert_string_equal(get_str(o, "object"), "chat.completion.chunk");
	json_object *choices = get(o, "choices");
	if (json_object_array_length(choices) == 0) {
		s->usage = json_object_get(get(o, "usage"));
		json_object_put(o);
		return 0;
	}
	json_object *c = json_object_array_get_idx(choices, 0);
	int i = json_object_get_int(get(c, "index"));
	assert_true(i >= 0 && i < MAX_CHOICES);
	assert_false(s->finished[i]);
	json_object *delta = get(c, "delta");
	json_object *fr = get(c, "finish_reason");
	json_object *v;
	/* the first thing a client sees of a choice carries the role */
	assert_int_equal(json_object_object_get_ex(delta, "role", &v), s->deltas[i] == 0);
	if (s->deltas[i] == 0)
		assert_string_equal(json_object_get_string(v), "assistant");
	if (json_object_object_get_ex(delta, "content", &v) && v)
		sb_puts(&s->text[i], json_object_get_string(v));
	if (json_object_object_get_ex(delta, "tool_calls", &v))
		s->call[i] = json_object_get(json_object_array_get_idx(v, 0));
	if (json_object_object_get_ex(delta, "function_call", &v))
		s->call[i] = json_object_get(v);
	if (fr) {
		assert_int_equal(json_object_object_length(delta), 0);
		snprintf(s->finish[i], sizeof(s->finish[i]), "%s", json_object_get_string(fr));
		s->finished[i] = true;
	}
	s->deltas[i]++;
	json_object_put(o);
	return 0;
}

static void run_stream(struct fixture *f, struct seen *s)
{
	f->req.stream = true;
	struct chat_meta m;
	chat_meta_init(&m, f->req.model, 1700000000);
	struct mem_writer mw = { STRBUF_INIT };
	body_writer w = { &mw, mem_write, mem_flush };
	struct chat_stream st;
	struct chat_sink sink;
	chat_stream_init(&st, &m, &w, f->req.include_usage, f->req.legacy_functions);
	chat_stream_sink(&st, &sink);
	oa_error err = { 0 };
	assert_int_equal(backend_mock.chat(&f->model, &f->req, &sink, &err), 0);
	assert_int_equal(chat_stream_end(&st), 0);
	chat_stream_free(&st);

	memset(s, 0, sizeof(*s));
	struct sse_parser p;
	sse_parser_init(&p, on_event, s);
	assert_int_equal(sse_parser_feed(&p, mw.out.buf, mw.out.len), 0);
	sse_parser_free(&p);
	/* everything was a complete event: nothing after the last blank line */
	assert_memory_equal(mw.out.buf + mw.out.len - 2, "\n\n", 2);
	assert_true(s->done);
	sb_free(&mw.out);
}

static void seen_free(struct seen *s)
{
	for (int i = 0; i < MAX_CHOICES; i++) {
		sb_free(&s->text[i]);
		json_object_put(s->call[i]);
	}
	json_object_put(s->usage);
}

/* ---- text ---- */

static void test_canned(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	struct body b;
	run_accum(&f, &b);
	assert_string_equal(content(&b, 0), CANNED);
	assert_string_equal(finish(&b, 0), "stop");
	check_usage(&f, get(b.root, "usage"), tok_count(CANNED, strlen(CANNED)));
	/* 3 + (3 + "Be brief." 4) + (3 + "Say hi" 2 + "ann" 1 + 1) */
	assert_int_equal(tok_prompt(&f.req), 17);
	body_free(&b);
	fixture_free(&f);
}

static void test_echo(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.model.mock.mode = MOCK_ECHO;
	f.msgs[2] = (struct chat_message){ .role = ROLE_ASSISTANT, .text = "hi", .text_len = 2 };
	f.req.n_messages = 3;
	struct body b;
	run_accum(&f, &b);
	assert_string_equal(content(&b, 0), "Say hi");
	check_usage(&f, get(b.root, "usage"), 2);
	body_free(&b);

	struct seen s;
	run_stream(&f, &s);
	assert_string_equal(sb_str(&s.text[0]), "Say hi");
	seen_free(&s);
	fixture_free(&f);
}

static void test_stream_words(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.req.include_usage = true;
	struct seen s;
	run_stream(&f, &s);
	assert_string_equal(sb_str(&s.text[0]), CANNED);
	/* one delta per word, then the finishing chunk */
	int words = 1;
	for (const char *p = CANNED; *p; p++)
		words += *p == ' ';
	assert_int_equal(s.deltas[0], words + 1);
	assert_string_equal(s.finish[0], "stop");
	assert_non_null(s.usage);
	check_usage(&f, s.usage, tok_count(CANNED, strlen(CANNED)));
	/* words + finish + usage + [DONE] */
	assert_int_equal(s.events, words + 3);
	seen_free(&s);
	fixture_free(&f);
}

static void test_n_choices(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.req.n = 3;
	f.req.include_usage = true;
	f.model.mock.delay_ms = 1;  /* goes through the pause between words */
	struct seen s;
	run_stream(&f, &s);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(sb_str(&s.text[i]), CANNED);
		assert_true(s.finished[i]);
		assert_string_equal(s.finish[i], "stop");
	}
	assert_int_equal(s.deltas[3], 0);
	check_usage(&f, s.usage, 3 * tok_count(CANNED, strlen(CANNED)));
	seen_free(&s);

	struct body b;
	run_accum(&f, &b);
	assert_int_equal(json_object_array_length(get(b.root, "choices")), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(json_object_get_int(get(choice(&b, i), "index")), i);
		assert_string_equal(content(&b, i), CANNED);
	}
	check_usage(&f, get(b.root, "usage"), 3 * tok_count(CANNED, strlen(CANNED)));
	body_free(&b);
	fixture_free(&f);
}

static void test_max_tokens(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.req.max_tokens = 5;
	struct body b;
	run_accum(&f, &b);
	const char *c = content(&b, 0);
	long t = tok_count(c, strlen(c));
	assert_true(t <= 5 && t > 0);
	assert_string_equal(finish(&b, 0), "length");
	/* a word-boundary prefix of the full text */
	assert_memory_equal(c, CANNED, strlen(c));
	assert_int_equal(CANNED[strlen(c)], ' ');
	assert_string_equal(c, "THIS IS THE MOCKED");
	check_usage(&f, get(b.root, "usage"), t);
	body_free(&b);

	struct seen s;
	run_stream(&f, &s);
	assert_string_equal(sb_str(&s.text[0]), "THIS IS THE MOCKED");
	assert_string_equal(s.finish[0], "length");
	seen_free(&s);

	/* enough room: no cut, a natural stop */
	f.req.max_tokens = 1000;
	run_accum(&f, &b);
	assert_string_equal(content(&b, 0), CANNED);
	assert_string_equal(finish(&b, 0), "stop");
	body_free(&b);
	fixture_free(&f);
}

static void test_max_tokens_cuts_first_word(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.model.mock.mode = MOCK_ECHO;
	f.msgs[1].text = "Supercalifragilistic \xc3\xa9\xc3\xa9";
	f.msgs[1].text_len = strlen(f.msgs[1].text);
	f.req.max_tokens = 2;
	struct body b;
	run_accum(&f, &b);
	assert_string_equal(content(&b, 0), "Supercal");
	assert_string_equal(finish(&b, 0), "length");
	body_free(&b);

	/* a cut never splits a UTF-8 character */
	f.msgs[1].text = "\xc3\xa9\xc3\xa9\xc3\xa9";
	f.msgs[1].text_len = 6;
	f.req.max_tokens = 2;
	run_accum(&f, &b);
	assert_string_equal(content(&b, 0), "\xc3\xa9\xc3\xa9");
	body_free(&b);
	fixture_free(&f);
}

static void test_stop_across_words(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.req.stop[0] = "nothing like this";
	f.req.stop[1] = "MOCKED CHAT";
	f.req.stop[2] = "IS THE";
	f.req.n_stop = 3;
	struct body b;
	run_accum(&f, &b);
	/* the earliest match wins, cut right before it */
	assert_string_equal(content(&b, 0), "THIS ");
	assert_string_equal(finish(&b, 0), "stop");
	check_usage(&f, get(b.root, "usage"), tok_count("THIS ", 5));
	body_free(&b);

	struct seen s;
	run_stream(&f, &s);
	assert_string_equal(sb_str(&s.text[0]), "THIS ");
	assert_string_equal(s.finish[0], "stop");
	seen_free(&s);
	fixture_free(&f);
}

/* ---- tools ---- */

static const char weather_schema[] =
	"{\"type\":\"object\",\"properties\":{"
	"\"city\":{\"type\":\"string\"},"
	"\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]},"
	"\"days\":{\"type\":\"integer\",\"minimum\":3},"
	"\"ratio\":{\"type\":\"number\"},"
	"\"hourly\":{\"type\":\"boolean\"},"
	"\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
	"\"where\":{\"type\":\"object\",\"properties\":{\"lat\":{\"type\":\"number\"},"
	"\"ref\":{\"$ref\":\"#/$defs/code\"}},\"required\":[\"lat\"]},"
	"\"kind\":{\"const\":\"forecast\"},"
	"\"note\":{\"type\":[\"string\",\"null\"]},"
	"\"either\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"integer\"}]}"
	"},\"required\":[\"city\",\"unit\",\"days\"],"
	"\"$defs\":{\"code\":{\"type\":\"string\",\"minLength\":10}}}";

static void add_tools(struct fixture *f)
{
	f->owned[0] = parse(weather_schema);
	f->tools[0] = (struct chat_tool){ .name = "get_weather", .parameters = f->owned[0] };
	f->tools[1] = (struct chat_tool){ .name = "no_params", .parameters = NULL };
	f->req.tools = f->tools;
	f->req.n_tools = 2;
	f->req.tool_choice = TOOL_CHOICE_REQUIRED;
}

static json_object *type_check(json_object *o, const char *key, json_type t)
{
	json_object *v = get(o, key);
	if (!json_object_is_type(v, t))
		fail_msg("\"%s\" has the wrong type: %s", key, json_object_to_json_string(v));
	return v;
}

static void check_weather_args(const char *args)
{
	json_object *a = parse(args);
	type_check(a, "city", json_type_string);
	assert_string_equal(json_object_get_string(get(a, "unit")), "celsius");
	assert_int_equal(json_object_get_int(type_check(a, "days", json_type_int)), 3);
	type_check(a, "ratio", json_type_double);
	assert_true(json_object_get_boolean(type_check(a, "hourly", json_type_boolean)));
	json_object *tags = type_check(a, "tags", json_type_array);
	assert_int_equal(json_object_array_length(tags), 1);
	assert_true(json_object_is_type(json_object_array_get_idx(tags, 0), json_type_string));
	json_object *where = type_check(a, "where", json_type_object);
	type_check(where, "lat", json_type_double);
	assert_true(strlen(json_object_get_string(type_check(where, "ref", json_type_string))) >= 10);
	assert_string_equal(json_object_get_string(get(a, "kind")), "forecast");
	type_check(a, "note", json_type_string);
	type_check(a, "either", json_type_int);
	json_object_put(a);
}

static void check_call_id(const char *id)
{
	assert_memory_equal(id, "call_", 5);
	assert_int_equal(strlen(id), 5 + 24);
	for (const char *p = id + 5; *p; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'));
}

static void test_tool_call_required(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	f.req.n = 2;
	struct body b;
	run_accum(&f, &b);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(finish(&b, i), "tool_calls");
		json_object *msg = get(choice(&b, i), "message");
		assert_null(get(msg, "content"));
		json_object *calls = get(msg, "tool_calls");
		assert_int_equal(json_object_array_length(calls), 1);
		json_object *call = json_object_array_get_idx(calls, 0);
		check_call_id(get_str(call, "id"));
		assert_string_equal(get_str(call, "type"), "function");
		assert_string_equal(get_str(get(call, "function"), "name"), "get_weather");
		check_weather_args(get_str(get(call, "function"), "arguments"));
	}
	/* each choice its own call id */
	assert_string_not_equal(
		get_str(json_object_array_get_idx(get(get(choice(&b, 0), "message"), "tool_calls"), 0), "id"),
		get_str(json_object_array_get_idx(get(get(choice(&b, 1), "message"), "tool_calls"), 0), "id"));
	json_object *u = get(b.root, "usage");
	assert_true(json_object_get_int(get(u, "completion_tokens")) > 0);
	check_usage(&f, u, json_object_get_int(get(u, "completion_tokens")));
	body_free(&b);
	fixture_free(&f);
}

static void test_tool_call_named_and_no_schema(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	f.req.tool_choice = TOOL_CHOICE_NAMED;
	f.req.tool_choice_name = "no_params";
	struct body b;
	run_accum(&f, &b);
	json_object *call = json_object_array_get_idx(get(get(choice(&b, 0), "message"), "tool_calls"), 0);
	assert_string_equal(get_str(get(call, "function"), "name"), "no_params");
	assert_string_equal(get_str(get(call, "function"), "arguments"), "{}");
	body_free(&b);
	fixture_free(&f);
}

static void test_tool_auto_answers_text(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	f.req.tool_choice = TOOL_CHOICE_AUTO;
	struct body b;
	run_accum(&f, &b);
	assert_string_equal(content(&b, 0), CANNED);
	assert_string_equal(finish(&b, 0), "stop");
	body_free(&b);
	fixture_free(&f);
}

static void test_tool_result_ends_the_loop(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	f.msgs[2] = (struct chat_message){ .role = ROLE_ASSISTANT, .n_tool_calls = 1 };
	f.msgs[3] = (struct chat_message){ .role = ROLE_TOOL, .tool_call_id = "call_x",
					   .text = "{\"temp\":20}", .text_len = 11 };
	f.req.n_messages = 4;
	struct body b;
	run_accum(&f, &b);
	assert_string_equal(content(&b, 0), CANNED);
	assert_string_equal(finish(&b, 0), "stop");
	body_free(&b);
	fixture_free(&f);
}

static void test_legacy_function_call(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	f.req.legacy_functions = true;
	f.req.tool_choice = TOOL_CHOICE_NAMED;
	f.req.tool_choice_name = "get_weather";
	struct body b;
	run_accum(&f, &b);
	assert_string_equal(finish(&b, 0), "function_call");
	json_object *msg = get(choice(&b, 0), "message");
	assert_false(json_object_object_get_ex(msg, "tool_calls", NULL));
	json_object *fc = get(msg, "function_call");
	assert_string_equal(get_str(fc, "name"), "get_weather");
	check_weather_args(get_str(fc, "arguments"));
	body_free(&b);

	struct seen s;
	run_stream(&f, &s);
	assert_non_null(s.call[0]);
	assert_string_equal(get_str(s.call[0], "name"), "get_weather");
	assert_string_equal(s.finish[0], "function_call");
	seen_free(&s);
	fixture_free(&f);
}

static void test_tool_call_streamed(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	f.req.n = 2;
	struct seen s;
	run_stream(&f, &s);
	for (int i = 0; i < 2; i++) {
		assert_non_null(s.call[i]);
		assert_int_equal(json_object_get_int(get(s.call[i], "index")), 0);
		check_call_id(get_str(s.call[i], "id"));
		assert_string_equal(get_str(s.call[i], "type"), "function");
		check_weather_args(get_str(get(s.call[i], "function"), "arguments"));
		assert_string_equal(s.finish[i], "tool_calls");
	}
	seen_free(&s);
	fixture_free(&f);
}

/* ---- response_format ---- */

static void test_json_object(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.req.response_format = RF_JSON_OBJECT;
	struct body b;
	run_accum(&f, &b);
	json_object *o = parse(content(&b, 0));
	assert_true(json_object_is_type(o, json_type_object));
	assert_string_equal(get_str(o, "message"), CANNED);
	json_object_put(o);
	body_free(&b);

	struct seen s;
	run_stream(&f, &s);
	assert_true(s.deltas[0] > 2);  /* in word-sized pieces */
	o = parse(sb_str(&s.text[0]));
	assert_string_equal(get_str(o, "message"), CANNED);
	json_object_put(o);
	seen_free(&s);
	fixture_free(&f);
}

static void test_json_schema(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.owned[1] = parse(weather_schema);
	f.req.response_format = RF_JSON_SCHEMA;
	f.req.json_schema = f.owned[1];
	struct body b;
	run_accum(&f, &b);
	check_weather_args(content(&b, 0));
	body_free(&b);
	fixture_free(&f);
}

static void test_schema_depth_limited(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	/* a schema that refers to itself would never end without the bound */
	f.owned[1] = parse("{\"type\":\"object\",\"properties\":{\"child\":{\"$ref\":\"#\"},"
			   "\"list\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}");
	f.req.response_format = RF_JSON_SCHEMA;
	f.req.json_schema = f.owned[1];
	struct body b;
	run_accum(&f, &b);
	json_object *o = parse(content(&b, 0));
	int depth = 0;
	for (json_object *at = o; json_object_object_get_ex(at, "child", &at);)
		depth++;
	assert_true(depth >= 1 && depth <= 8);
	json_object_put(o);
	body_free(&b);
	fixture_free(&f);
}

/* ---- the client going away, and not sleeping when not streaming ---- */

struct counting {
	int calls;
	int fail_at;
};

static int count_call(struct counting *c)
{
	return ++c->calls >= c->fail_at ? -1 : 0;
}

static int c_delta(void *ctx, int i, const char *r, const char *s, size_t n)
{
	(void)i; (void)r; (void)s; (void)n;
	return count_call(ctx);
}

static int c_tool(void *ctx, int i, int k, const char *id, const char *name, const char *a)
{
	(void)i; (void)k; (void)id; (void)name; (void)a;
	return count_call(ctx);
}

static int c_finish(void *ctx, int i, const char *r)
{
	(void)i; (void)r;
	return count_call(ctx);
}

static int c_usage(void *ctx, const struct chat_usage *u)
{
	(void)u;
	return count_call(ctx);
}

/* ---- hostile schemas: bounded instances, or a refusal ---- */

/* Parses s deeper than json_tokener_parse() would (its limit is 32). */
static json_object *parse_deep(const char *s)
{
	json_tokener *tok = json_tokener_new_ex(256);
	json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s) + 1);  /* the NUL ends a bare number */
	enum json_tokener_error e = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (e != json_tokener_success)
		fail_msg("not JSON (%s): %.200s", json_tokener_error_desc(e), s);
	return o;
}

/* The instance for schema, checked to be JSON within the bound; NULL when
 * refused. The caller frees the result. */
static char *instance_of(const char *schema)
{
	json_object *s = parse_deep(schema);
	strbuf out = STRBUF_INIT;
	sb_puts(&out, "kept");  /* what was in out before stays */
	int rc = mock_schema_instance(s, MOCK_SCHEMA_MAX_BYTES, &out);
	json_object_put(s);
	assert_memory_equal(out.buf, "kept", 4);
	if (rc != 0) {
		assert_int_equal(rc, -1);
		assert_int_equal(out.len, 4);  /* nothing of a refused attempt left */
		sb_free(&out);
		return NULL;
	}
	assert_true(out.len - 4 <= MOCK_SCHEMA_MAX_BYTES);
	json_object_put(parse_deep(out.buf + 4));
	char *r = strdup(out.buf + 4);
	sb_free(&out);
	return r;
}

#define REFUSED NULL

static const struct { const char *schema, *instance; } schema_cases[] = {
	/* optional recursion: made once more, then left out */
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"},\"b\":{\"$ref\":\"#\"}}}",
	  "{\"a\":{},\"b\":{}}" },
	{ "{\"type\":\"object\",\"properties\":{\"next\":{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]},"
	  "\"v\":{\"type\":\"integer\"}},\"required\":[\"next\",\"v\"]}",
	  "{\"next\":{\"next\":null,\"v\":1},\"v\":1}" },
	{ "{\"type\":[\"object\",\"null\"],\"properties\":{\"n\":{\"$ref\":\"#\"}},\"required\":[\"n\"]}",
	  "{\"n\":null}" },
	{ "{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}",
	  "{\"kids\":[{\"kids\":[]}]}" },
	{ "{\"$defs\":{\"t\":{\"type\":\"object\",\"properties\":{\"up\":{\"$ref\":\"#/$defs/t\"},"
	  "\"id\":{\"type\":\"string\"}},\"required\":[\"id\"]}},\"$ref\":\"#/$defs/t\"}",
	  "{\"up\":{\"id\":\"example\"},\"id\":\"example\"}" },
	/* required recursion never ends: refused */
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}},\"required\":[\"a\"]}", REFUSED },
	{ "{\"$defs\":{\"a\":{\"type\":\"object\",\"properties\":{\"b\":{\"$ref\":\"#/$defs/b\"}},\"required\":[\"b\"]},"
	  "\"b\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/a\"}},\"required\":[\"a\"]}},"
	  "\"$ref\":\"#/$defs/a\"}", REFUSED },
	{ "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"minItems\":1}", REFUSED },
	{ "{\"allOf\":[{\"$ref\":\"#\"}]}", REFUSED },
	{ "false", REFUSED },
	/* counts beyond any bound, negative or fractional ones */
	{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1e300}", REFUSED },
	{ "{\"type\":\"array\",\"minItems\":99999999999999999999999}", REFUSED },
	{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":3,\"maxItems\":3}", "[1,1,1]" },
	{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":-1e300,\"maxItems\":1e300}", "[1]" },
	{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2.5}", "[1,1,1]" },
	{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":4,\"maxItems\":2}", REFUSED },
	{ "{\"type\":\"array\",\"items\":false}", "[]" },
	{ "{\"type\":\"string\",\"minLength\":1e9}", REFUSED },
	{ "{\"type\":\"string\",\"minLength\":70000}", REFUSED },
	{ "{\"type\":\"string\",\"minLength\":-5}", "\"example\"" },
	{ "{\"type\":\"string\",\"maxLength\":3}", "\"exa\"" },
	{ "{\"type\":\"string\",\"minLength\":9,\"maxLength\":-1e300}", REFUSED },
	{ "{\"anyOf\":[{\"type\":\"string\",\"minLength\":1e300},{\"type\":\"integer\"}]}", "1" },
	/* numbers: no conversion beyond long, bounds nothing satisfies refused */
	{ "{\"type\":\"integer\",\"minimum\":9.3e18}", "9300000000000000000" },
	{ "{\"type\":\"number\",\"minimum\":1e300}", "1.0000000000000001e+300" },
	{ "{\"type\":\"number\",\"maximum\":-1e300}", "-1.0000000000000001e+300" },
	{ "{\"type\":\"integer\",\"minimum\":3,\"multipleOf\":5}", "5" },
	{ "{\"type\":\"integer\",\"multipleOf\":0.4}", "2" },
	{ "{\"type\":\"integer\",\"multipleOf\":0.7,\"maximum\":2}", "0" },
	{ "{\"type\":\"integer\",\"multipleOf\":0.7,\"minimum\":0.5,\"maximum\":2}", REFUSED },
	{ "{\"type\":\"number\",\"exclusiveMinimum\":1}", "1.0000000000000002" },
	{ "{\"type\":\"integer\",\"exclusiveMinimum\":1}", "2" },
	{ "{\"type\":\"integer\",\"minimum\":1,\"exclusiveMinimum\":true}", "2" },
	{ "{\"type\":\"integer\",\"exclusiveMaximum\":-1e300,\"minimum\":-1e300}", REFUSED },
	{ "{\"type\":\"integer\",\"minimum\":10,\"maximum\":5}", REFUSED },
	{ "{\"type\":\"integer\",\"exclusiveMinimum\":1.5,\"exclusiveMaximum\":2}", REFUSED },
	{ "{\"type\":\"number\",\"minimum\":1e300,\"multipleOf\":1e-300}", REFUSED },
	{ "{\"type\":\"integer\",\"minimum\":-5,\"maximum\":-7}", REFUSED },
	/* what the schema gives: too large is left out where it may be */
	{ "{\"const\":null}", "null" },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"minLength\":70000}},\"required\":[\"a\"]}",
	  REFUSED },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"minLength\":70000},"
	  "\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}", "{\"b\":true}" },
	{ "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\",\"b\",\"b\"]}",
	  "{\"b\":true}" },
	{ "true", "{}" },
	{ "{}", "{}" },
};

static void test_schema_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof schema_cases / sizeof schema_cases[0]; i++) {
		char *got = instance_of(schema_cases[i].schema);
		if (!got != !schema_cases[i].instance || (got && strcmp(got, schema_cases[i].instance) != 0))
			fail_msg("case %zu %s: got %s, want %s", i, schema_cases[i].schema,
				 got ? got : "refused", schema_cases[i].instance ? schema_cases[i].instance : "refused");
		free(got);
	}
}

/* Schemas of a size no table writes by hand, built here. */
enum shape { WIDE_REFS, WIDE_REFS_REQUIRED, DAG_REQUIRED, DAG_OPTIONAL, REF_CHAIN, BIG_CONSTS,
	     NESTED_MIN_ITEMS, BIG_ENUM_ITEMS };

static void build_shape(strbuf *sb, enum shape shape, int n)
{
	switch (shape) {
	case WIDE_REFS:
	case WIDE_REFS_REQUIRED:
		sb_puts(sb, "{\"type\":\"object\",\"properties\":{");
		for (int i = 0; i < n; i++)
			sb_printf(sb, "%s\"p%d\":{\"$ref\":\"#\"}", i ? "," : "", i);
		sb_puts(sb, "}");
		if (shape == WIDE_REFS_REQUIRED) {
			sb_puts(sb, ",\"required\":[");
			for (int i = 0; i < n; i++)
				sb_printf(sb, "%s\"p%d\"", i ? "," : "", i);
			sb_puts(sb, "]");
		}
		sb_puts(sb, "}");
		break;
	case DAG_REQUIRED:
	case DAG_OPTIONAL:  /* each level refers to the next twice: 2^n leaves */
		sb_puts(sb, "{\"$ref\":\"#/$defs/a0\",\"$defs\":{");
		for (int i = 0; i < n; i++)
			sb_printf(sb, "\"a%d\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/a%d\"},"
				  "\"y\":{\"$ref\":\"#/$defs/a%d\"}}%s},", i, i + 1, i + 1,
				  shape == DAG_REQUIRED ? ",\"required\":[\"x\",\"y\"]" : "");
		sb_printf(sb, "\"a%d\":{\"type\":\"string\"}}}", n);
		break;
	case REF_CHAIN:
		sb_puts(sb, "{\"$ref\":\"#/$defs/c0\",\"$defs\":{");
		for (int i = 0; i < n; i++)
			sb_printf(sb, "\"c%d\":{\"$ref\":\"#/$defs/c%d\"},", i, i + 1);
		sb_printf(sb, "\"c%d\":{\"type\":\"integer\"}}}", n);
		break;
	case BIG_CONSTS:  /* n properties, each a 30000-byte const */
		sb_puts(sb, "{\"type\":\"object\",\"properties\":{");
		for (int i = 0; i < n; i++) {
			sb_printf(sb, "%s\"k%d\":{\"const\":\"", i ? "," : "", i);
			for (int k = 0; k < 30000; k++)
				sb_putc(sb, (char)('a' + i % 26));
			sb_puts(sb, "\"}");
		}
		sb_puts(sb, "}}");
		break;
	case NESTED_MIN_ITEMS:  /* n arrays deep, 100 items each */
		for (int i = 0; i < n; i++)
			sb_puts(sb, "{\"type\":\"array\",\"minItems\":100,\"items\":");
		sb_puts(sb, "{\"type\":\"string\",\"minLength\":100}");
		for (int i = 0; i < n; i++)
			sb_puts(sb, "}");
		break;
	case BIG_ENUM_ITEMS:  /* minItems n of a 1000-byte enum value */
		sb_printf(sb, "{\"type\":\"array\",\"minItems\":%d,\"items\":{\"enum\":[\"", n);
		for (int k = 0; k < 1000; k++)
			sb_putc(sb, 'q');
		sb_puts(sb, "\"]}}");
		break;
	}
}

static void test_schema_shapes(void **state)
{
	(void)state;
	static const struct { enum shape shape; int n; const char *instance; size_t min_len; } cases[] = {
		{ WIDE_REFS, 150, NULL, 1000 },         /* every p_i once more, inside it nothing */
		{ WIDE_REFS, 3000, "{}", 0 },           /* too many for that: the minimal instance */
		{ WIDE_REFS_REQUIRED, 40, REFUSED, 0 },
		{ WIDE_REFS_REQUIRED, 1, REFUSED, 0 },
		{ DAG_REQUIRED, 30, REFUSED, 0 },       /* 2^30 strings required */
		{ DAG_REQUIRED, 10, NULL, 10000 },      /* 2^10 of them fit */
		{ DAG_OPTIONAL, 30, "{}", 0 },
		{ REF_CHAIN, 30, "1", 0 },
		{ REF_CHAIN, 1000, REFUSED, 0 },        /* deeper than MOCK_SCHEMA_MAX_DEPTH */
		{ BIG_CONSTS, 3, "{}", 0 },             /* 90 KB of optional consts */
		{ BIG_CONSTS, 1, NULL, 30000 },
		{ NESTED_MIN_ITEMS, 3, REFUSED, 0 },    /* 100^3 strings of 100 */
		{ NESTED_MIN_ITEMS, 1, NULL, 10000 },
		{ BIG_ENUM_ITEMS, 60, NULL, 60000 },
		{ BIG_ENUM_ITEMS, 70, REFUSED, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strbuf sb = STRBUF_INIT;
		build_shape(&sb, cases[i].shape, cases[i].n);
		char *got = instance_of(sb.buf);
		if (cases[i].instance == REFUSED && cases[i].min_len == 0) {
			if (got)
				fail_msg("shape case %zu: not refused: %.200s", i, got);
		} else if (!got) {
			fail_msg("shape case %zu refused", i);
		} else if (cases[i].instance) {
			assert_string_equal(got, cases[i].instance);
		} else {
			assert_true(strlen(got) >= cases[i].min_len);
		}
		free(got);
		sb_free(&sb);
	}
}

/* A schema refused is a 400 naming it, before anything is sent. */
static const char required_loop[] =
	"{\"type\":\"object\",\"properties\":{\"self\":{\"$ref\":\"#\"}},\"required\":[\"self\"]}";

static void expect_refusal(struct fixture *f, const char *code, const char *param, const char *named)
{
	for (int stream = 0; stream < 2; stream++) {
		f->req.stream = stream;
		struct counting c = { 0, INT_MAX };
		struct chat_sink sink = { .ctx = &c, .delta = c_delta, .tool_call = c_tool,
					  .finish = c_finish, .usage = c_usage };
		oa_error err = { 0 };
		assert_int_equal(backend_mock.chat(&f->model, &f->req, &sink, &err), -1);
		assert_int_equal(c.calls, 0);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.type, "invalid_request_error");
		assert_string_equal(err.code, code);
		assert_string_equal(err.param, param);
		if (!strstr(err.message, named))
			fail_msg("message does not name %s: %s", named, err.message);
	}
}

static void test_schema_refused_is_400(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	f.owned[1] = parse(required_loop);
	f.tools[1] = (struct chat_tool){ .name = "loop", .parameters = f.owned[1], .index = 3 };
	f.req.tool_choice = TOOL_CHOICE_NAMED;
	f.req.tool_choice_name = "loop";
	expect_refusal(&f, "invalid_function_parameters", "tools[3].function.parameters",
		       "Invalid schema for function 'loop'");
	f.req.legacy_functions = true;
	expect_refusal(&f, "invalid_function_parameters", "functions[3].parameters",
		       "Invalid schema for function 'loop'");

	f.req.legacy_functions = false;
	f.req.tool_choice = TOOL_CHOICE_AUTO;
	f.req.response_format = RF_JSON_SCHEMA;
	f.req.json_schema = f.owned[1];
	f.req.json_schema_name = "answer";
	expect_refusal(&f, "invalid_json_schema", "response_format.json_schema.schema",
		       "Invalid schema for response_format 'answer'");
	fixture_free(&f);
}

/* ---- the output's bounds ---- */

static void test_model_max_output_tokens(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	static const struct { long model_cap, max_tokens; const char *content, *finish; } cases[] = {
		{ 5, -1, "THIS IS THE MOCKED", "length" },
		{ 5, 1000, "THIS IS THE MOCKED", "length" },   /* the model's cap wins */
		{ 5, 2, "THIS IS", "length" },                  /* the request's, when lower */
		{ 0, -1, CANNED, "stop" },                      /* unset: the default, 4096 */
		{ 1000, -1, CANNED, "stop" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		f.model.max_output_tokens = cases[i].model_cap;
		f.req.max_tokens = cases[i].max_tokens;
		struct body b;
		run_accum(&f, &b);
		assert_string_equal(content(&b, 0), cases[i].content);
		assert_string_equal(finish(&b, 0), cases[i].finish);
		body_free(&b);
		struct seen s;
		run_stream(&f, &s);
		assert_string_equal(sb_str(&s.text[0]), cases[i].content);
		assert_string_equal(s.finish[0], cases[i].finish);
		seen_free(&s);
		f.req.stream = false;
	}
	fixture_free(&f);
}

/* Text of `words` copies of word, each after `spaces` spaces (whitespace
 * costs no tokens: only bytes bound such a text). */
static void spaced_words(strbuf *sb, size_t words, const char *word, size_t spaces)
{
	for (size_t i = 0; i < words; i++) {
		sb_grow(sb, spaces);
		memset(sb->buf + sb->len, ' ', spaces);
		sb->len += spaces;
		sb_puts(sb, word);
	}
}

static void test_echo_bounded(void **state)
{
	(void)state;
	static const struct { size_t words; const char *word; size_t spaces; int n; long cap; } cases[] = {
		{ 100000, "word", 1, 1, 4096 },       /* 500 KB: the token cap cuts it */
		{ 100000, "word", 1, 4, 4096 },
		{ 3000, "a", 1000, 1, 4096 },         /* 3 MB that is 3000 tokens: bytes cut it */
		{ 3000, "a", 1000, 4, 1000000 },
		{ 1, "x", 2u << 20, 3, 4096 },        /* one word after 2 MiB of spaces */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fixture f;
		fixture_init(&f);
		strbuf text = STRBUF_INIT;
		spaced_words(&text, cases[i].words, cases[i].word, cases[i].spaces);
		f.model.mock.mode = MOCK_ECHO;
		f.model.max_output_tokens = cases[i].cap;
		f.msgs[1].text = text.buf;
		f.msgs[1].text_len = text.len;
		f.req.n = cases[i].n;
		struct body b;
		run_accum(&f, &b);
		size_t total = 0;
		for (int c = 0; c < cases[i].n; c++) {
			const char *got = content(&b, c);
			size_t len = strlen(got);
			total += len;
			assert_true(len < text.len);
			assert_memory_equal(got, text.buf, len);
			assert_true(tok_count(got, len) <= cases[i].cap);
			assert_true(len <= (size_t)MOCK_MAX_ANSWER_BYTES / (size_t)cases[i].n);
			assert_string_equal(finish(&b, c), "length");
		}
		assert_true(total <= (size_t)MOCK_MAX_ANSWER_BYTES);
		body_free(&b);
		sb_free(&text);
		fixture_free(&f);
	}
}

/* What a stream sent, counted without parsing it. */
struct tally {
	size_t deltas, bytes, finishes;
};

static int t_delta(void *ctx, int i, const char *r, const char *s, size_t n)
{
	struct tally *t = ctx;
	(void)i; (void)r; (void)s;
	t->deltas++;
	t->bytes += n;
	return 0;
}

static int t_finish(void *ctx, int i, const char *r)
{
	(void)i;
	assert_string_equal(r, "length");
	((struct tally *)ctx)->finishes++;
	return 0;
}

static int t_usage(void *ctx, const struct chat_usage *u)
{
	(void)ctx; (void)u;
	return 0;
}

/* A const of 10,000 words answered to n: 128 choices: a few words per
 * event, the events and bytes within the bounds. */
static void test_stream_bounded(void **state)
{
	(void)state;
	static const int ns[] = { 1, 2, 7, 128 };
	strbuf schema = STRBUF_INIT;
	sb_puts(&schema, "{\"const\":\"");
	spaced_words(&schema, 10000, "word", 1);
	sb_puts(&schema, "\"}");
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		struct fixture f;
		fixture_init(&f);
		f.owned[1] = parse(schema.buf);
		f.req.response_format = RF_JSON_SCHEMA;
		f.req.json_schema = f.owned[1];
		f.req.n = ns[i];
		f.req.stream = true;
		struct tally t = { 0 };
		struct chat_sink sink = { .ctx = &t, .delta = t_delta, .finish = t_finish, .usage = t_usage };
		oa_error err = { 0 };
		assert_int_equal(backend_mock.chat(&f.model, &f.req, &sink, &err), 0);
		assert_int_equal(t.finishes, (size_t)ns[i]);
		assert_true(t.deltas <= MOCK_MAX_STREAM_EVENTS + (size_t)ns[i]);
		assert_true(t.deltas >= (size_t)ns[i]);
		assert_true(t.bytes <= (size_t)MOCK_MAX_ANSWER_BYTES);
		fixture_free(&f);
	}
	sb_free(&schema);
}

static void test_stream_pace(void **state)
{
	(void)state;
	static const struct { size_t words; int choices; long delay; } cases[] = {
		{ 23, 1, 100 }, { 4096, 1, 100 }, { 4096, 128, 100 }, { 10000, 1, 100 },
		{ 10000, 128, 60000 }, { 1, 128, 60000 }, { 0, 1, 100 }, { 300, 1, 0 },
		{ 8192, 1, 3600000 }, { (size_t)1 << 40, 128, 60000 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mock_pace p = mock_stream_pace(cases[i].words, cases[i].choices, cases[i].delay);
		assert_true(p.words_per_event >= 1);
		size_t events = (cases[i].words + p.words_per_event - 1) / p.words_per_event;
		assert_true(events * (size_t)cases[i].choices <= MOCK_MAX_STREAM_EVENTS);
		assert_true(p.pause_ms >= 0 && p.pause_ms <= cases[i].delay);
		if (events > 1)
			assert_true((long long)p.pause_ms * (long long)(events - 1) <= MOCK_MAX_STREAM_MS);
	}
	/* within the bounds nothing changes: a word per event, the model's delay */
	struct mock_pace p = mock_stream_pace(23, 1, 100);
	assert_int_equal(p.words_per_event, 1);
	assert_int_equal(p.pause_ms, 100);
}

static void test_tool_arguments_bounded(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	add_tools(&f);
	/* 60 KB of arguments: within the schema's bound, beyond the model's tokens */
	f.owned[1] = parse("{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"minLength\":60000}},"
			   "\"required\":[\"s\"]}");
	f.tools[1] = (struct chat_tool){ .name = "big", .parameters = f.owned[1] };
	f.req.tool_choice = TOOL_CHOICE_NAMED;
	f.req.tool_choice_name = "big";
	f.model.max_output_tokens = 100;
	f.req.n = 2;
	struct body b;
	run_accum(&f, &b);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(finish(&b, i), "length");
		json_object *call = json_object_array_get_idx(get(get(choice(&b, i), "message"), "tool_calls"), 0);
		const char *args = get_str(get(call, "function"), "arguments");
		assert_true(tok_count(args, strlen(args)) <= 100);
		assert_memory_equal(args, "{\"s\":\"examplex", 14);
	}
	body_free(&b);
	fixture_free(&f);
}

static void test_sink_failure_stops_at_once(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	f.req.stream = true;
	f.req.n = 2;
	/* a delay would make each extra step visible as a hang, not just a count */
	f.model.mock.delay_ms = 0;
	for (int fail_at = 1; fail_at <= 4; fail_at++) {
		struct counting c = { 0, fail_at };
		struct chat_sink sink = { .ctx = &c, .delta = c_delta, .tool_call = c_tool, .finish = c_finish, .usage = c_usage };
		oa_error err = { 0 };
		/* a sink's -1 is a client gone: said as such, err untouched */
		assert_int_equal(backend_mock.chat(&f.model, &f.req, &sink, &err), OA_CLIENT_GONE);
		assert_int_equal(c.calls, fail_at);
		assert_int_equal(err.status, 0);
	}
	add_tools(&f);
	struct counting c = { 0, 2 };
	struct chat_sink sink = { .ctx = &c, .delta = c_delta, .tool_call = c_tool, .finish = c_finish, .usage = c_usage };
	oa_error err = { 0 };
	assert_int_equal(backend_mock.chat(&f.model, &f.req, &sink, &err), OA_CLIENT_GONE);
	assert_int_equal(c.calls, 2);
	fixture_free(&f);
}

static void test_no_sleep_unless_streaming(void **state)
{
	(void)state;
	struct fixture f;
	fixture_init(&f);
	/* an hour per word: if the mock slept here, the alarm would kill us */
	f.model.mock.delay_ms = 3600L * 1000;
	alarm(20);
	struct body b;
	run_accum(&f, &b);
	alarm(0);
	assert_string_equal(content(&b, 0), CANNED);
	body_free(&b);
	fixture_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canned),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_stream_words),
		cmocka_unit_test(test_n_choices),
		cmocka_unit_test(test_max_tokens),
		cmocka_unit_test(test_max_tokens_cuts_first_word),
		cmocka_unit_test(test_stop_across_words),
		cmocka_unit_test(test_tool_call_required),
		cmocka_unit_test(test_tool_call_named_and_no_schema),
		cmocka_unit_test(test_tool_auto_answers_text),
		cmocka_unit_test(test_tool_result_ends_the_loop),
		cmocka_unit_test(test_legacy_function_call),
		cmocka_unit_test(test_tool_call_streamed),
		cmocka_unit_test(test_json_object),
		cmocka_unit_test(test_json_schema),
		cmocka_unit_test(test_schema_depth_limited),
		cmocka_unit_test(test_schema_cases),
		cmocka_unit_test(test_schema_shapes),
		cmocka_unit_test(test_schema_refused_is_400),
		cmocka_unit_test(test_model_max_output_tokens),
		cmocka_unit_test(test_echo_bounded),
		cmocka_unit_test(test_stream_bounded),
		cmocka_unit_test(test_stream_pace),
		cmocka_unit_test(test_tool_arguments_bounded),
		cmocka_unit_test(test_sink_failure_stops_at_once),
		cmocka_unit_test(test_no_sleep_unless_streaming),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
