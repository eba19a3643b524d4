/* test_completions_response.c: text_completion answers and chunks, and the mock's answers through them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backend.h"
#include "completions_request.h"
#include "completions_response.h"
#include "config.h"

struct mem {
	strbuf out;
	int fail_after;
	int writes;
};

static int mem_write(void *ctx, const char *p, size_t n)
{
	struct mem *m = ctx;
	if (m->fail_after >= 0 && m->writes >= m->fail_after)
		return -1;
	m->writes++;
	sb_append(&m->out, p, n);
	return 0;
}

static int mem_flush(void *ctx)
{
	(void)ctx;
	return 0;
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

static const struct model_cfg canned = { .id = "m", .backend = BACKEND_MOCK, .mock = { MOCK_CANNED, 0 } };
static const struct model_cfg echo = { .id = "m", .backend = BACKEND_MOCK, .mock = { MOCK_ECHO, 0 } };

/* What the handler does: each prompt one mock run, echo first. */
static int run(const char *body, const struct model_cfg *model, const body_writer *w, strbuf *whole)
{
	struct completions_request cr;
	oa_error err;
	assert_int_equal(completions_request_parse(body, strlen(body), &cr, &err), 0);
	struct cmpl_out o;
	struct chat_sink sink;
	cmpl_out_init(&o, "client", 1700000000, cr.n_prompts, cr.n, w, cr.include_usage);
	cmpl_out_sink(&o, &sink);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < cr.n_prompts; i++) {
		o.base = (int)i * o.n;
		cmpl_prompt_tokens(&o, cr.prompts[i].tokens);
		if (cr.echo)
			rc = cmpl_echo(&o, (int)i, cr.prompts[i].text, cr.prompts[i].len);
		if (rc == 0)
			rc = cr.max_tokens == 0 ? cmpl_finish_prompt(&o, (int)i, "length")
						: backend_mock.chat(model, &cr.chat[i], &sink, &err);
	}
	if (rc == 0 && w)
		rc = cmpl_end(&o);
	if (rc == 0 && whole)
		cmpl_json(&o, whole);
	cmpl_out_free(&o);
	completions_request_free(&cr);
	return rc;
}

static json_object *whole(const char *body, const struct model_cfg *model)
{
	strbuf out = STRBUF_INIT;
	assert_int_equal(run(body, model, NULL, &out), 0);
	json_object *j = json_tokener_parse(sb_str(&out));
	assert_non_null(j);
	sb_free(&out);
	return j;
}

static void test_whole(void **state)
{
	(void)state;
	json_object *j = whole("{\"model\":\"m\",\"prompt\":\"Say this\"}", &canned);
	assert_string_equal(at_str(j, "object"), "text_completion");
	assert_true(strncmp(at_str(j, "id"), "cmpl-", 5) == 0);
	assert_string_equal(at_str(j, "model"), "client");
	assert_string_equal(at_str(j, "choices.0.finish_reason"), "length");  /* 16 tokens by default */
	assert_null(at(j, "choices.0.logprobs"));
	assert_int_equal(json_object_get_int(at(j, "usage.prompt_tokens")), 2);
	assert_int_equal(json_object_get_int(at(j, "usage.completion_tokens")), 16);
	assert_int_equal(json_object_get_int(at(j, "usage.total_tokens")), 18);
	json_object_put(j);
	/* echo mode answers the prompt; echo sends it first too; two prompts, n 2 */
	j = whole("{\"model\":\"m\",\"prompt\":[\"ab\",\"cd\"],\"n\":2,\"echo\":true}", &echo);
	assert_int_equal(json_object_array_length(at(j, "choices")), 4);
	assert_string_equal(at_str(j, "choices.0.text"), "abab");
	assert_string_equal(at_str(j, "choices.3.text"), "cdcd");
	assert_int_equal(json_object_get_int(at(j, "choices.3.index")), 3);
	assert_string_equal(at_str(j, "choices.3.finish_reason"), "stop");
	json_object_put(j);
	/* stop cuts; max_tokens 0 answers nothing */
	j = whole("{\"model\":\"m\",\"prompt\":\"x\",\"stop\":\" MOCKED\",\"max_tokens\":100}", &canned);
	assert_string_equal(at_str(j, "choices.0.text"), "THIS IS THE");
	assert_string_equal(at_str(j, "choices.0.finish_reason"), "stop");
	json_object_put(j);
	j = whole("{\"model\":\"m\",\"prompt\":[[5,6]],\"max_tokens\":0}", &canned);
	assert_string_equal(at_str(j, "choices.0.text"), "");
	assert_string_equal(at_str(j, "choices.0.finish_reason"), "length");
	assert_int_equal(json_object_get_int(at(j, "usage.prompt_tokens")), 2);
	assert_int_equal(json_object_get_int(at(j, "usage.completion_tokens")), 0);
	json_object_put(j);
}

static void test_stream(void **state)
{
	(void)state;
	struct mem m = { STRBUF_INIT, -1, 0 };
	body_writer w = { &m, mem_write, mem_flush };
	assert_int_equal(run("{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":100,\"stream\":true,"
			     "\"stream_options\":{\"include_usage\":true}}", &canned, &w, NULL), 0);
	/* data-only events, each a text_completion, finish_reason null until the last */
	const char *s = sb_str(&m.out);
	size_t events = 0, finished = 0;
	strbuf text = STRBUF_INIT;
	json_object *usage = NULL;
	while (*s) {
		const char *end = strstr(s, "\n\n");
		assert_non_null(end);
		assert_true(strncmp(s, "data: ", 6) == 0);
		char *data = strndup(s + 6, (size_t)(end - s - 6));
		s = end + 2;
		if (strcmp(data, "[DONE]") == 0) {
			free(data);
			assert_int_equal(*s, '\0');  /* the last */
			break;
		}
		json_object *c = json_tokener_parse(data);
		free(data);
		assert_non_null(c);
		assert_string_equal(at_str(c, "object"), "text_completion");
		events++;
		if (json_object_array_length(at(c, "choices")) == 0) {
			usage = json_object_get(at(c, "usage"));
		} else {
			assert_null(usage);  /* usage comes last */
			sb_puts(&text, at_str(c, "choices.0.text"));
			if (at(c, "choices.0.finish_reason"))
				finished++;
		}
		json_object_put(c);
	}
	assert_true(events > 5);
	assert_int_equal(finished, 1);
	assert_non_null(strstr(sb_str(&text), "THIS IS THE MOCKED CHAT RESPONSE"));
	assert_non_null(usage);
	assert_true(json_object_get_int(at(usage, "completion_tokens")) > 0);
	json_object_put(usage);
	sb_free(&text);
	/* a client gone mid-stream stops the mock */
	sb_reset(&m.out);
	m.fail_after = 2;
	m.writes = 0;
	assert_int_equal(run("{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":100,\"stream\":true}", &canned, &w, NULL),
			 OA_CLIENT_GONE);
	sb_free(&m.out);
}

static void test_fail_event(void **state)
{
	(void)state;
	struct mem m = { STRBUF_INIT, -1, 0 };
	body_writer w = { &m, mem_write, mem_flush };
	struct cmpl_out o;
	oa_error e;
	cmpl_out_init(&o, "client", 1, 1, 1, &w, false);
	oa_error_set(&e, 502, OA_SERVER, NULL, NULL, "The upstream server broke off.");
	assert_int_equal(cmpl_fail(&o, &e), 0);
	assert_string_equal(sb_str(&m.out), "data: {\"error\":{\"message\":\"The upstream server broke off.\","
			    "\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
	cmpl_out_free(&o);
	sb_free(&m.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_fail_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
