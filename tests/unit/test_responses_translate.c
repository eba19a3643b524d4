/* test_responses_translate.c: Responses requests as chat bodies, and chat answers and chunks as Responses */
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
#include "responses_translate.h"

static char *dq(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static json_object *parse_sq(const char *single_quoted)
{
	char *s = dq(single_quoted);
	json_object *o = json_tokener_parse(s);
	free(s);
	assert_non_null(o);
	return o;
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

static bool has(json_object *o, const char *path)
{
	return at(o, path) != NULL;
}

/* The chat body for a Responses body, parsed. */
static json_object *to_chat(const char *single_quoted)
{
	json_object *resp = parse_sq(single_quoted);
	strbuf out = STRBUF_INIT;
	rt_request_to_chat(resp, &out);
	json_object *chat = json_tokener_parse(sb_str(&out));
	assert_non_null(chat);
	sb_free(&out);
	json_object_put(resp);
	return chat;
}

static void test_messages(void **state)
{
	(void)state;
	json_object *c = to_chat("{'model':'m','instructions':'sys','input':["
		"{'role':'developer','content':'dev'},"
		"{'role':'user','content':[{'type':'input_text','text':'a'},"
		"{'type':'input_image','image_url':'https://x/i.png','detail':'high'},"
		"{'type':'input_image','file_id':'file_1'},"
		"{'type':'input_file','file_id':'file_2','filename':'f.pdf'}]},"
		"{'type':'message','role':'assistant','content':[{'type':'output_text','text':'t1'},"
		"{'type':'output_text','text':'t2'}]},"
		"{'type':'function_call','call_id':'c1','name':'f','arguments':'{}'},"
		"{'type':'function_call','call_id':'c2','name':'g','arguments':'{\\u0022x\\u0022:1}'},"
		"{'type':'reasoning','id':'r','summary':[]},"
		"{'type':'function_call_output','call_id':'c1','output':'out1'},"
		"{'type':'function_call_output','call_id':'c2','output':[{'type':'input_text','text':'o'},"
		"{'type':'input_text','text':'2'}]},"
		"{'type':'function_call','call_id':'c3','name':'f','arguments':'{}'}]}");
	assert_string_equal(at_str(c, "model"), "m");
	json_object *m = at(c, "messages");
	assert_int_equal(json_object_array_length(m), 7);
	assert_string_equal(at_str(m, "0.role"), "system");
	assert_string_equal(at_str(m, "0.content"), "sys");
	assert_string_equal(at_str(m, "1.role"), "system");  /* developer: every chat server knows system */
	assert_string_equal(at_str(m, "2.role"), "user");
	assert_string_equal(at_str(m, "2.content.0.type"), "text");
	assert_string_equal(at_str(m, "2.content.1.image_url.url"), "https://x/i.png");
	assert_string_equal(at_str(m, "2.content.1.image_url.detail"), "high");
	/* an image known only by file id has no chat shape: left out */
	assert_string_equal(at_str(m, "2.content.2.type"), "file");
	assert_string_equal(at_str(m, "2.content.2.file.file_id"), "file_2");
	assert_int_equal(json_object_array_length(at(m, "2.content")), 3);
	/* the assistant's text, then both calls in the same message */
	assert_string_equal(at_str(m, "3.role"), "assistant");
	assert_string_equal(at_str(m, "3.content"), "t1\nt2");
	assert_int_equal(json_object_array_length(at(m, "3.tool_calls")), 2);
	assert_string_equal(at_str(m, "3.tool_calls.1.id"), "c2");
	assert_string_equal(at_str(m, "3.tool_calls.1.type"), "function");
	assert_string_equal(at_str(m, "3.tool_calls.1.function.name"), "g");
	assert_string_equal(at_str(m, "3.tool_calls.1.function.arguments"), "{\"x\":1}");
	assert_string_equal(at_str(m, "4.role"), "tool");
	assert_string_equal(at_str(m, "4.tool_call_id"), "c1");
	assert_string_equal(at_str(m, "4.content"), "out1");
	assert_string_equal(at_str(m, "5.content"), "o\n2");
	/* a call after a tool message opens a new assistant message */
	assert_string_equal(at_str(m, "6.role"), "assistant");
	assert_true(json_object_object_get_ex(at(m, "6"), "content", NULL));
	assert_null(at(m, "6.content"));
	assert_string_equal(at_str(m, "6.tool_calls.0.id"), "c3");
	json_object_put(c);
}

static void test_parameters(void **state)
{
	(void)state;
	json_object *c = to_chat("{'model':'m','input':'hi','max_output_tokens':32,'temperature':0.2,"
		"'top_p':0.5,'user':'u','store':true,'metadata':{'a':'b'},'truncation':'auto',"
		"'reasoning':{'effort':'low'},'stream':true,'parallel_tool_calls':false,"
		"'tools':[{'type':'function','name':'f','description':'d','parameters':{'type':'object'},'strict':true}],"
		"'tool_choice':{'type':'function','name':'f'},"
		"'text':{'format':{'type':'json_schema','name':'n','schema':{'type':'object'},'strict':true}}}");
	assert_string_equal(at_str(c, "messages.0.content"), "hi");
	assert_int_equal(json_object_get_int(at(c, "max_completion_tokens")), 32);
	assert_true(json_object_get_double(at(c, "temperature")) == 0.2);
	assert_string_equal(at_str(c, "user"), "u");
	assert_string_equal(at_str(c, "reasoning_effort"), "low");
	assert_true(json_object_get_boolean(at(c, "stream")));
	assert_true(json_object_get_boolean(at(c, "stream_options.include_usage")));
	assert_false(json_object_get_boolean(at(c, "parallel_tool_calls")));
	assert_string_equal(at_str(c, "tools.0.type"), "function");
	assert_string_equal(at_str(c, "tools.0.function.name"), "f");
	assert_string_equal(at_str(c, "tools.0.function.description"), "d");
	assert_string_equal(at_str(c, "tool_choice.function.name"), "f");
	assert_string_equal(at_str(c, "response_format.type"), "json_schema");
	assert_string_equal(at_str(c, "response_format.json_schema.name"), "n");
	assert_string_equal(at_str(c, "response_format.json_schema.schema.type"), "object");
	/* what a chat server would not take is not sent */
	assert_false(has(c, "store"));
	assert_false(has(c, "metadata"));
	assert_false(has(c, "truncation"));
	assert_false(has(c, "max_output_tokens"));
	json_object_put(c);
	c = to_chat("{'model':'m','input':'x','tools':[{'type':'function','name':'f'}],"
		    "'tool_choice':{'type':'allowed_tools','mode':'auto','tools':[{'type':'function','name':'f'}]},"
		    "'text':{'format':{'type':'json_object'}}}");
	assert_string_equal(at_str(c, "tool_choice.type"), "allowed_tools");
	assert_string_equal(at_str(c, "tool_choice.allowed_tools.mode"), "auto");
	assert_string_equal(at_str(c, "tool_choice.allowed_tools.tools.0.function.name"), "f");
	assert_string_equal(at_str(c, "response_format.type"), "json_object");
	assert_false(has(c, "stream"));
	json_object_put(c);
	/* text format "text" and no tools: nothing to say */
	c = to_chat("{'model':'m','input':'x','text':{'format':{'type':'text'}},'tool_choice':'none'}");
	assert_false(has(c, "response_format"));
	assert_false(has(c, "tool_choice"));
	json_object_put(c);
}

struct built {
	json_object *request;
	struct rsp_meta meta;
	struct rsp_builder b;
};

static void build_start(struct built *x, const body_writer *w)
{
	x->request = parse_sq("{'model':'m','input':'hi'}");
	rsp_meta_init(&x->meta, "m", x->request, 1);
	rsp_builder_init(&x->b, &x->meta, w);
}

static json_object *build_end(struct built *x)
{
	strbuf out = STRBUF_INIT;
	rsp_json(&x->b, &out);
	json_object *r = json_tokener_parse(sb_str(&out));
	assert_non_null(r);
	sb_free(&out);
	rsp_builder_free(&x->b);
	json_object_put(x->request);
	return r;
}

static void test_completion_back(void **state)
{
	(void)state;
	struct built x;
	build_start(&x, NULL);
	json_object *cc = parse_sq("{'object':'chat.completion','choices':[{'index':0,'message':{'role':'assistant',"
		"'content':'Let me look.','tool_calls':[{'id':'call_a','type':'function','function':"
		"{'name':'f','arguments':'{}'}},{'id':'call_b','type':'function','function':{'name':'g',"
		"'arguments':'{\\u0022q\\u0022:2}'}}]},'finish_reason':'tool_calls'}],"
		"'usage':{'prompt_tokens':11,'completion_tokens':4,'total_tokens':15}}");
	assert_int_equal(rt_apply_chat_completion(&x.b, cc), 0);
	json_object_put(cc);
	json_object *r = build_end(&x);
	assert_string_equal(at_str(r, "status"), "completed");
	assert_int_equal(json_object_array_length(at(r, "output")), 3);
	assert_string_equal(at_str(r, "output.0.type"), "message");
	assert_string_equal(at_str(r, "output.0.content.0.text"), "Let me look.");
	assert_string_equal(at_str(r, "output.1.type"), "function_call");
	assert_string_equal(at_str(r, "output.1.call_id"), "call_a");
	assert_string_equal(at_str(r, "output.2.name"), "g");
	assert_string_equal(at_str(r, "output.2.arguments"), "{\"q\":2}");
	assert_int_equal(json_object_get_int(at(r, "usage.input_tokens")), 11);
	assert_int_equal(json_object_get_int(at(r, "usage.output_tokens")), 4);
	json_object_put(r);

	build_start(&x, NULL);
	cc = parse_sq("{'object':'chat.completion','choices':[{'index':0,'message':{'role':'assistant',"
		      "'content':'cut'},'finish_reason':'length'}]}");
	assert_int_equal(rt_apply_chat_completion(&x.b, cc), 0);
	json_object_put(cc);
	r = build_end(&x);
	assert_string_equal(at_str(r, "status"), "incomplete");
	assert_string_equal(at_str(r, "incomplete_details.reason"), "max_output_tokens");
	assert_false(has(r, "usage"));  /* not known: left out */
	json_object_put(r);
}

struct mem {
	strbuf out;
};

static int mem_write(void *ctx, const char *p, size_t n)
{
	sb_append(&((struct mem *)ctx)->out, p, n);
	return 0;
}

static int mem_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* A chat stream, pieces of tool calls by index included, as events. */
static void test_chunks_back(void **state)
{
	(void)state;
	struct mem m = { STRBUF_INIT };
	body_writer w = { &m, mem_write, mem_flush };
	struct built x;
	build_start(&x, &w);
	static const char *const chunks[] = {
		"{'object':'chat.completion.chunk','choices':[{'index':0,'delta':{'role':'assistant','content':''},'finish_reason':null}]}",
		"{'object':'chat.completion.chunk','choices':[{'index':0,'delta':{'content':'Hi'},'finish_reason':null}]}",
		"{'object':'chat.completion.chunk','choices':[{'index':0,'delta':{'tool_calls':[{'index':0,'id':'call_1',"
		"'type':'function','function':{'name':'f','arguments':''}}]},'finish_reason':null}]}",
		"{'object':'chat.completion.chunk','choices':[{'index':0,'delta':{'tool_calls':[{'index':0,"
		"'function':{'arguments':'{\\u0022a\\u0022'}}]},'finish_reason':null}]}",
		"{'object':'chat.completion.chunk','choices':[{'index':0,'delta':{'tool_calls':[{'index':0,"
		"'function':{'arguments':':1}'}}]},'finish_reason':null}]}",
		"{'object':'chat.completion.chunk','choices':[{'index':0,'delta':{},'finish_reason':'tool_calls'}]}",
		"{'object':'chat.completion.chunk','choices':[],'usage':{'prompt_tokens':3,'completion_tokens':2,'total_tokens':5}}",
	};
	for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
		json_object *c = parse_sq(chunks[i]);
		assert_int_equal(rt_apply_chat_chunk(&x.b, c), 0);
		json_object_put(c);
	}
	assert_int_equal(rsp_stream_end(&x.b), 0);
	const char *s = sb_str(&m.out);
	assert_int_equal(count(s, "event: response.created\n"), 1);
	assert_int_equal(count(s, "event: response.output_text.delta\n"), 1);
	assert_int_equal(count(s, "event: response.output_item.added\n"), 2);
	assert_int_equal(count(s, "event: response.function_call_arguments.delta\n"), 2);
	assert_int_equal(count(s, "event: response.output_item.done\n"), 2);
	assert_non_null(strstr(s, "\"arguments\":\"{\\\"a\\\":1}\""));
	const char *last = strstr(s, "event: response.completed\n");
	assert_non_null(last);
	assert_non_null(strstr(last, "\"input_tokens\":3"));
	/* the message ends before the call starts */
	assert_true(strstr(s, "response.output_text.done") < strstr(s, "response.function_call_arguments.delta"));
	rsp_builder_free(&x.b);
	json_object_put(x.request);
	sb_free(&m.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_completion_back),
		cmocka_unit_test(test_chunks_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
