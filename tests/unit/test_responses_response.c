/* test_responses_response.c: the Response object and its event stream, in OpenAI's order and numbering */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "responses_response.h"

struct mem_writer {
	strbuf out;
	int fail_after;   /* writes allowed before -1; <0: never fail */
	int writes;
	int flushes;
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
	((struct mem_writer *)ctx)->flushes++;
	return 0;
}

/* The events of a stream: each "event: <type>\ndata: <json>\n\n", parsed;
 * fails the test on any other framing or a name that is not the type. */
struct events {
	char types[64][64];
	json_object *data[64];
	size_t n;
};

static void split_events(const char *s, struct events *ev)
{
	memset(ev, 0, sizeof *ev);
	while (*s) {
		const char *end = strstr(s, "\n\n");
		assert_non_null(end);
		assert_true(strncmp(s, "event: ", 7) == 0);
		const char *nl = strchr(s, '\n');
		assert_true(ev->n < 64);
		snprintf(ev->types[ev->n], sizeof ev->types[0], "%.*s", (int)(nl - s - 7), s + 7);
		assert_true(strncmp(nl + 1, "data: ", 6) == 0);
		char *json = strndup(nl + 7, (size_t)(end - nl - 7));
		assert_null(strchr(json, '\n'));
		ev->data[ev->n] = json_tokener_parse(json);
		free(json);
		assert_non_null(ev->data[ev->n]);
		json_object *t;
		assert_true(json_object_object_get_ex(ev->data[ev->n], "type", &t));
		assert_string_equal(json_object_get_string(t), ev->types[ev->n]);
		json_object *seq;
		assert_true(json_object_object_get_ex(ev->data[ev->n], "sequence_number", &seq));
		assert_int_equal(json_object_get_int(seq), (int)ev->n);  /* from 0, one more each */
		ev->n++;
		s = end + 2;
	}
}

static void events_free(struct events *ev)
{
	for (size_t i = 0; i < ev->n; i++)
		json_object_put(ev->data[i]);
}

static json_object *at(json_object *o, const char *path)
{
	char key[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof key, "%.*s", (int)n, path);
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *at_str(json_object *o, const char *path)
{
	json_object *v = at(o, path);
	if (!v)
		fail_msg("no %s in %s", path, json_object_to_json_string(o));
	return json_object_get_string(v);
}

struct fixture {
	json_object *request;
	struct rsp_meta meta;
	struct mem_writer mw;
	body_writer w;
	struct rsp_builder b;
};

static void setup_with(struct fixture *f, const char *request, bool stream)
{
	memset(f, 0, sizeof *f);
	f->request = json_tokener_parse(request);
	assert_non_null(f->request);
	rsp_meta_init(&f->meta, "client-model", f->request, 1700000000);
	f->mw.fail_after = -1;
	f->w = (body_writer){ &f->mw, mem_write, mem_flush };
	rsp_builder_init(&f->b, &f->meta, stream ? &f->w : NULL);
}

static void teardown_fixture(struct fixture *f)
{
	rsp_builder_free(&f->b);
	sb_free(&f->mw.out);
	json_object_put(f->request);
}

static const struct chat_usage usage = { 7, 5, 12 };

static void test_text_stream(void **state)
{
	(void)state;
	struct fixture f;
	struct events ev;
	setup_with(&f, "{\"model\":\"m\",\"input\":\"hi\"}", true);
	assert_int_equal(rsp_text(&f.b, "", 0), 0);  /* a role alone: nothing yet opened */
	assert_int_equal(rsp_text(&f.b, "Hello", 5), 0);
	assert_int_equal(rsp_text(&f.b, " world", 6), 0);
	assert_int_equal(rsp_finish(&f.b, "stop"), 0);
	rsp_usage(&f.b, &usage);
	assert_int_equal(rsp_stream_end(&f.b), 0);
	split_events(sb_str(&f.mw.out), &ev);
	static const char *const want[] = {
		"response.created", "response.in_progress", "response.output_item.added",
		"response.content_part.added", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed",
	};
	assert_int_equal(ev.n, sizeof want / sizeof *want);
	for (size_t i = 0; i < ev.n; i++)
		assert_string_equal(ev.types[i], want[i]);
	assert_int_equal(f.mw.flushes, (int)ev.n);  /* flushed one by one */
	/* the head: in progress, no usage yet (OpenAI's null is not in the schema) */
	assert_string_equal(at_str(ev.data[0], "response.status"), "in_progress");
	assert_null(at(ev.data[0], "response.usage"));
	assert_null(at(ev.data[0], "response.user"));
	assert_string_equal(at_str(ev.data[0], "response.model"), "client-model");
	assert_int_equal(json_object_array_length(at(ev.data[0], "response.output")), 0);
	const char *item = at_str(ev.data[2], "item.id");
	assert_true(strncmp(item, "msg_", 4) == 0);
	assert_string_equal(at_str(ev.data[3], "item_id"), item);
	assert_string_equal(at_str(ev.data[4], "delta"), "Hello");
	assert_string_equal(at_str(ev.data[6], "text"), "Hello world");
	assert_string_equal(at_str(ev.data[7], "part.text"), "Hello world");
	assert_string_equal(at_str(ev.data[8], "item.status"), "completed");
	json_object *done = at(ev.data[9], "response");
	assert_string_equal(at_str(done, "status"), "completed");
	assert_string_equal(at_str(done, "output.0.content.0.text"), "Hello world");
	assert_int_equal(json_object_array_length(at(done, "output.0.content.0.annotations")), 0);
	assert_int_equal(json_object_get_int(at(done, "usage.input_tokens")), 7);
	assert_int_equal(json_object_get_int(at(done, "usage.output_tokens")), 5);
	assert_int_equal(json_object_get_int(at(done, "usage.total_tokens")), 12);
	assert_string_equal(at_str(done, "id"), at_str(ev.data[0], "response.id"));
	events_free(&ev);
	teardown_fixture(&f);
}

static void test_call_stream(void **state)
{
	(void)state;
	struct fixture f;
	struct events ev;
	setup_with(&f, "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[{\"type\":\"function\",\"name\":\"get\"}]}", true);
	assert_int_equal(rsp_call_begin(&f.b, 0, "call_1", "get"), 0);
	assert_int_equal(rsp_call_arguments(&f.b, 0, "{\"a\":", 5), 0);
	assert_int_equal(rsp_call_arguments(&f.b, 0, "1}", 2), 0);
	assert_int_equal(rsp_call_arguments(&f.b, 5, "x", 1), 0);  /* an unknown call: ignored */
	assert_int_equal(rsp_finish(&f.b, "tool_calls"), 0);
	assert_int_equal(rsp_stream_end(&f.b), 0);
	split_events(sb_str(&f.mw.out), &ev);
	static const char *const want[] = {
		"response.created", "response.in_progress", "response.output_item.added",
		"response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done", "response.completed",
	};
	assert_int_equal(ev.n, sizeof want / sizeof *want);
	for (size_t i = 0; i < ev.n; i++)
		assert_string_equal(ev.types[i], want[i]);
	assert_string_equal(at_str(ev.data[2], "item.type"), "function_call");
	assert_string_equal(at_str(ev.data[2], "item.arguments"), "");
	assert_string_equal(at_str(ev.data[5], "arguments"), "{\"a\":1}");
	assert_string_equal(at_str(ev.data[5], "name"), "get");
	json_object *done = at(ev.data[7], "response");
	assert_string_equal(at_str(done, "output.0.call_id"), "call_1");
	assert_string_equal(at_str(done, "output.0.arguments"), "{\"a\":1}");
	/* the echoed tool has every member the Response schema requires */
	assert_string_equal(at_str(done, "tools.0.name"), "get");
	assert_true(json_object_get_boolean(at(done, "tools.0.strict")));
	assert_non_null(at(done, "tools.0"));
	events_free(&ev);
	teardown_fixture(&f);
}

static void test_cut_and_whole(void **state)
{
	(void)state;
	struct fixture f;
	setup_with(&f, "{\"model\":\"m\",\"input\":\"hi\",\"instructions\":\"be brief\",\"max_output_tokens\":16,"
		   "\"metadata\":{\"k\":\"v\"},\"temperature\":0.5}", false);
	assert_int_equal(rsp_text(&f.b, "Hel", 3), 0);
	assert_int_equal(rsp_finish(&f.b, "length"), 0);
	rsp_usage(&f.b, &usage);
	assert_int_equal(f.mw.writes, 0);  /* no writer: nothing sent */
	strbuf out = STRBUF_INIT;
	rsp_json(&f.b, &out);
	json_object *r = json_tokener_parse(sb_str(&out));
	assert_non_null(r);
	assert_string_equal(at_str(r, "object"), "response");
	assert_true(strncmp(at_str(r, "id"), "resp_", 5) == 0);
	assert_int_equal(strlen(at_str(r, "id")), 5 + 48);
	assert_string_equal(at_str(r, "status"), "incomplete");
	assert_string_equal(at_str(r, "incomplete_details.reason"), "max_output_tokens");
	assert_string_equal(at_str(r, "output.0.status"), "incomplete");
	assert_string_equal(at_str(r, "output.0.content.0.text"), "Hel");
	assert_string_equal(at_str(r, "instructions"), "be brief");
	assert_int_equal(json_object_get_int(at(r, "max_output_tokens")), 16);
	assert_string_equal(at_str(r, "metadata.k"), "v");
	assert_true(json_object_get_double(at(r, "temperature")) == 0.5);
	assert_true(json_object_get_double(at(r, "top_p")) == 1.0);
	assert_string_equal(at_str(r, "tool_choice"), "auto");
	assert_true(json_object_get_boolean(at(r, "parallel_tool_calls")));
	assert_string_equal(at_str(r, "text.format.type"), "text");
	assert_null(at(r, "error"));
	assert_null(at(r, "user"));
	json_object_put(r);
	sb_free(&out);
	teardown_fixture(&f);
}

static void test_failure_after_head(void **state)
{
	(void)state;
	struct fixture f;
	struct events ev;
	oa_error e;
	setup_with(&f, "{\"model\":\"m\",\"input\":\"hi\"}", true);
	assert_int_equal(rsp_text(&f.b, "Hi", 2), 0);
	oa_error_set(&e, 502, OA_SERVER, "upstream_error", NULL, "The upstream server broke off.");
	assert_int_equal(rsp_stream_fail(&f.b, &e), 0);
	split_events(sb_str(&f.mw.out), &ev);
	assert_string_equal(ev.types[ev.n - 2], "error");
	assert_string_equal(at_str(ev.data[ev.n - 2], "code"), "upstream_error");
	assert_string_equal(at_str(ev.data[ev.n - 2], "message"), "The upstream server broke off.");
	assert_null(at(ev.data[ev.n - 2], "param"));
	assert_string_equal(ev.types[ev.n - 1], "response.failed");
	assert_string_equal(at_str(ev.data[ev.n - 1], "response.status"), "failed");
	assert_string_equal(at_str(ev.data[ev.n - 1], "response.error.code"), "server_error");
	events_free(&ev);
	teardown_fixture(&f);
}

static void test_client_gone(void **state)
{
	(void)state;
	struct fixture f;
	setup_with(&f, "{\"model\":\"m\",\"input\":\"hi\"}", true);
	f.mw.fail_after = 3;  /* created, in_progress, item added */
	assert_int_equal(rsp_text(&f.b, "Hi", 2), -1);
	teardown_fixture(&f);
}

/* An upstream that never stops talking cannot make us keep it all. */
static void test_bounded(void **state)
{
	(void)state;
	struct fixture f;
	setup_with(&f, "{\"model\":\"m\",\"input\":\"hi\"}", false);
	size_t piece = 1 << 20;
	char *mb = malloc(piece);
	memset(mb, 'a', piece);
	int rc = 0;
	size_t sent = 0;
	while (rc == 0 && sent <= (size_t)RSP_MAX_TEXT + piece) {
		rc = sent % 2 ? rsp_text(&f.b, mb, piece) : 0;
		if (sent % 2 == 0 && rc == 0) {
			rc = rsp_call_begin(&f.b, (int)(sent / 2 % 100), "c", "f");
			if (rc == 0)
				rc = rsp_call_arguments(&f.b, (int)(sent / 2 % 100), mb, piece);
		}
		sent++;
	}
	assert_int_equal(rc, -1);
	assert_true(f.b.too_big);
	assert_true(f.b.kept <= (size_t)RSP_MAX_TEXT);
	free(mb);
	teardown_fixture(&f);
}

/* A native upstream's events: passed on, the client's model put back. */
static void test_relay(void **state)
{
	(void)state;
	struct mem_writer mw = { STRBUF_INIT, -1, 0, 0 };
	body_writer w = { &mw, mem_write, mem_flush };
	struct rsp_relay r;
	struct chat_sink sink;
	struct events ev;
	rsp_relay_init(&r, "alias", &w);
	rsp_relay_sink(&r, &sink);
	json_object *e0 = json_tokener_parse("{\"type\":\"response.created\",\"sequence_number\":0,"
					     "\"response\":{\"id\":\"resp_x\",\"model\":\"upstream-name\"}}");
	json_object *e1 = json_tokener_parse("{\"type\":\"response.completed\",\"sequence_number\":1,"
					     "\"response\":{\"id\":\"resp_x\",\"model\":\"upstream-name\"}}");
	assert_int_equal(sink.relay(sink.ctx, e0), 0);
	assert_false(r.terminal);
	assert_int_equal(sink.relay(sink.ctx, e1), 0);
	assert_true(r.terminal);
	assert_int_equal(r.next_seq, 2);
	split_events(sb_str(&mw.out), &ev);
	assert_int_equal(ev.n, 2);
	assert_string_equal(at_str(ev.data[1], "response.model"), "alias");
	events_free(&ev);
	json_object_put(e0);
	json_object_put(e1);
	rsp_relay_free(&r);
	/* a whole Response */
	rsp_relay_init(&r, "alias", NULL);
	rsp_relay_sink(&r, &sink);
	e0 = json_tokener_parse("{\"object\":\"response\",\"model\":\"upstream-name\",\"output\":[]}");
	assert_int_equal(sink.relay(sink.ctx, e0), 0);
	assert_true(r.have_whole);
	assert_non_null(strstr(sb_str(&r.whole), "\"model\":\"alias\""));
	json_object_put(e0);
	rsp_relay_free(&r);
	sb_free(&mw.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_stream),
		cmocka_unit_test(test_call_stream),
		cmocka_unit_test(test_cut_and_whole),
		cmocka_unit_test(test_failure_after_head),
		cmocka_unit_test(test_client_gone),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_relay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
