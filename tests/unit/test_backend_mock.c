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

#include "backend.h"
#include "chat_response.h"
#include "config.h"
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
		assert_int_equal(backend_mock.chat(&f.model, &f.req, &sink, &err), -1);
		assert_int_equal(c.calls, fail_at);
		assert_int_equal(err.status, 0);
	}
	add_tools(&f);
	struct counting c = { 0, 2 };
	struct chat_sink sink = { .ctx = &c, .delta = c_delta, .tool_call = c_tool, .finish = c_finish, .usage = c_usage };
	oa_error err = { 0 };
	assert_int_equal(backend_mock.chat(&f.model, &f.req, &sink, &err), -1);
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
		cmocka_unit_test(test_sink_failure_stops_at_once),
		cmocka_unit_test(test_no_sleep_unless_streaming),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
