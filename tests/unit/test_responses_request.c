/* test_responses_request.c: /v1/responses bodies are refused as OpenAI would, or become the right chat request */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mangle.h"
#include "responses_request.h"

/* Bodies are written with ' for " to stay readable; no test needs a '. */
static char *dq(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static int parse(const char *single_quoted, struct responses_request *req, oa_error *err)
{
	char *body = dq(single_quoted);
	memset(err, 0, sizeof *err);
	int rc = responses_request_parse(body, strlen(body), req, err);
	free(body);
	return rc;
}

static void test_string_input(void **state)
{
	(void)state;
	struct responses_request r;
	oa_error err;
	assert_int_equal(parse("{'model':'m','input':'hi','instructions':'be brief'}", &r, &err), 0);
	assert_string_equal(r.model, "m");
	assert_false(r.stream);
	/* instructions lead as a system message, the string is the user's */
	assert_int_equal(r.chat.n_messages, 2);
	assert_int_equal(r.chat.messages[0].role, ROLE_SYSTEM);
	assert_string_equal(r.chat.messages[0].text, "be brief");
	assert_int_equal(r.chat.messages[1].role, ROLE_USER);
	assert_string_equal(r.chat.messages[1].text, "hi");
	assert_int_equal(r.chat.max_tokens, -1);
	assert_int_equal(r.chat.n_tools, 0);
	responses_request_free(&r);
	responses_request_free(&r);  /* safe twice */
}

/* Every item kind a client loop sends back, and every documented field. */
static const char rich[] = "{'model':'gpt-4o','input':["
	"{'role':'developer','content':'dev'},"
	"{'type':'message','role':'user','content':[{'type':'input_text','text':'look'},"
	"{'type':'input_image','image_url':'https://x/y.png','detail':'low'},"
	"{'type':'input_file','file_id':'f1'}]},"
	"{'type':'message','id':'msg_1','role':'assistant','status':'completed','content':["
	"{'type':'output_text','text':'calling','annotations':[],'logprobs':[]}]},"
	"{'type':'function_call','id':'fc_1','call_id':'call_1','name':'get','arguments':'{}','status':'completed'},"
	"{'type':'function_call','call_id':'call_2','name':'get','arguments':'{}'},"
	"{'type':'reasoning','id':'rs_1','summary':[]},"
	"{'type':'function_call_output','call_id':'call_1','output':'sunny'},"
	"{'type':'function_call_output','call_id':'call_2','output':[{'type':'input_text','text':'rain'}]}],"
	"'tools':[{'type':'function','name':'get','description':'d','parameters':{'type':'object'},'strict':false}],"
	"'tool_choice':{'type':'function','name':'get'},'parallel_tool_calls':false,"
	"'text':{'format':{'type':'json_schema','name':'out','schema':{'type':'object'},'strict':true},'verbosity':'low'},"
	"'max_output_tokens':16,'temperature':0.5,'top_p':0.9,'metadata':{'k':'v'},'store':false,"
	"'stream':true,'stream_options':{'include_obfuscation':false},'user':'u','safety_identifier':'s',"
	"'reasoning':{'effort':'low','summary':'auto'},'include':['message.output_text.logprobs'],"
	"'truncation':'auto','service_tier':'auto','prompt_cache_key':'p','top_logprobs':2,"
	"'previous_response_id':null,'background':false}";

static void test_rich(void **state)
{
	(void)state;
	struct responses_request r;
	oa_error err;
	if (parse(rich, &r, &err) != 0)
		fail_msg("refused: %s (param %s)", err.message, err.param);
	assert_true(r.stream);
	const struct chat_request *c = &r.chat;
	assert_true(c->stream);
	assert_true(c->include_usage);  /* so that the closing event has usage */
	assert_int_equal(c->n_messages, 5);
	assert_int_equal(c->messages[0].role, ROLE_SYSTEM);     /* developer */
	assert_int_equal(c->messages[1].role, ROLE_USER);
	assert_string_equal(c->messages[1].text, "look");
	assert_int_equal(c->messages[2].role, ROLE_ASSISTANT);  /* its text, then both calls */
	assert_string_equal(c->messages[2].text, "calling");
	assert_int_equal(c->messages[2].n_tool_calls, 2);
	assert_int_equal(c->messages[3].role, ROLE_TOOL);
	assert_string_equal(c->messages[3].tool_call_id, "call_1");
	assert_string_equal(c->messages[3].text, "sunny");
	assert_string_equal(c->messages[4].text, "rain");
	assert_int_equal(c->max_tokens, 16);
	assert_true(c->temperature == 0.5);
	assert_true(c->top_p == 0.9);
	assert_int_equal(c->n_tools, 1);
	assert_string_equal(c->tools[0].name, "get");
	assert_int_equal(c->tool_choice, TOOL_CHOICE_NAMED);
	assert_string_equal(c->tool_choice_name, "get");
	assert_false(c->parallel_tool_calls);
	assert_int_equal(c->response_format, RF_JSON_SCHEMA);
	assert_non_null(c->json_schema);
	assert_string_equal(c->user, "u");
	responses_request_free(&r);
}

static void test_formats_and_choices(void **state)
{
	(void)state;
	struct responses_request r;
	oa_error err;
	assert_int_equal(parse("{'model':'m','input':'x','text':{'format':{'type':'json_object'}}}", &r, &err), 0);
	assert_int_equal(r.chat.response_format, RF_JSON_OBJECT);
	responses_request_free(&r);
	assert_int_equal(parse("{'model':'m','input':'x','tools':[{'type':'function','name':'f'}],"
			       "'tool_choice':'required'}", &r, &err), 0);
	assert_int_equal(r.chat.tool_choice, TOOL_CHOICE_REQUIRED);
	responses_request_free(&r);
	assert_int_equal(parse("{'model':'m','input':'x','tools':[{'type':'function','name':'f'}],"
			       "'tool_choice':{'type':'allowed_tools','mode':'required','tools':[{'type':'function','name':'f'}]}}",
			       &r, &err), 0);
	assert_int_equal(r.chat.tool_choice, TOOL_CHOICE_REQUIRED);
	responses_request_free(&r);
	/* a message with list content matches two schemas: still one valid request */
	assert_int_equal(parse("{'model':'m','input':[{'role':'system','content':[{'type':'input_text','text':'s'}]},"
			       "{'role':'user','content':[]}]}", &r, &err), 0);
	assert_string_equal(r.chat.messages[0].text, "s");
	assert_string_equal(r.chat.messages[1].text, "");
	responses_request_free(&r);
}

struct bad_case {
	const char *body;
	const char *code;   /* NULL: JSON null */
	const char *param;  /* "": JSON null */
	const char *message; /* NULL: not checked */
};

#define IN "'model':'m','input':'x'"
#define FN "'tools':[{'type':'function','name':'f'}]"

static const struct bad_case bad[] = {
	{ "{'model':'m',", NULL, "", NULL },
	{ "[1]", "invalid_type", "", "Invalid type for body: expected an object, but got an array instead." },
	{ "{'input':'x'}", "missing_required_parameter", "model", "Missing required parameter: 'model'." },
	{ "{'model':'m'}", "missing_required_parameter", "input", "Missing required parameter: 'input'." },
	{ "{'model':'m','input':[]}", "missing_required_parameter", "input", NULL },
	{ "{" IN ",'foo':1}", "unknown_parameter", "foo", "Unknown parameter: 'foo'." },
	{ "{'model':7,'input':'x'}", "invalid_type", "model", NULL },
	{ "{'model':'m','input':5}", "invalid_type", "input",
	  "Invalid type for 'input': expected one of a string or an array, but got an integer instead." },
	{ "{" IN ",'max_output_tokens':15}", "integer_below_min_value", "max_output_tokens",
	  "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 15 instead." },
	{ "{" IN ",'max_output_tokens':'16'}", "invalid_type", "max_output_tokens", NULL },
	{ "{" IN ",'temperature':'hot'}", "invalid_type", "temperature",
	  "Invalid type for 'temperature': expected a decimal, but got a string instead." },
	{ "{" IN ",'temperature':2.5}", "decimal_above_max_value", "temperature", NULL },
	{ "{" IN ",'top_p':-0.1}", "decimal_below_min_value", "top_p", NULL },
	/* items and their paths */
	{ "{'model':'m','input':[{'role':'user','content':'a'},{'role':'user','content':[{'type':'text','text':'b'}]}]}",
	  "invalid_value", "input[1].content[0].type",
	  "Invalid value: 'text'. Supported values are: 'input_text', 'input_image', and 'input_file'." },
	{ "{'model':'m','input':[{'role':'robot','content':'a'}]}", "invalid_value", "input[0].role", NULL },
	{ "{'model':'m','input':[{'content':'a'}]}", "missing_required_parameter", "input[0].role", NULL },
	{ "{'model':'m','input':[{'role':'user'}]}", "missing_required_parameter", "input[0].content", NULL },
	{ "{'model':'m','input':[{'type':'message','role':'user','content':'a','extra':1}]}",
	  "unknown_parameter", "input[0].extra", NULL },
	{ "{'model':'m','input':[{'type':'web_search_call','id':'w'}]}", "invalid_value", "input[0].type", NULL },
	{ "{'model':'m','input':[{'type':'function_call','call_id':'c','name':'f'}]}",
	  "missing_required_parameter", "input[0].arguments", NULL },
	{ "{'model':'m','input':[{'type':'function_call_output','output':'o'}]}",
	  "missing_required_parameter", "input[0].call_id", NULL },
	{ "{'model':'m','input':[{'type':'function_call_output','call_id':'c','output':5}]}",
	  "invalid_type", "input[0].output", NULL },
	{ "{'model':'m','input':[{'role':'user','content':[{'type':'input_text'}]}]}",
	  "missing_required_parameter", "input[0].content[0].text", NULL },
	{ "{'model':'m','input':[{'role':'user','content':[{'type':'input_image','detail':'huge'}]}]}",
	  "invalid_value", "input[0].content[0].detail", NULL },
	/* tools are flat */
	/* chat's nested shape: its extra key is what OpenAI names first */
	{ "{" IN ",'tools':[{'type':'function','function':{'name':'f'}}]}", "unknown_parameter", "tools[0].function", NULL },
	{ "{" IN ",'tools':[{'type':'function'}]}", "missing_required_parameter", "tools[0].name", NULL },
	{ "{" IN ",'tools':[{'type':'function','name':'bad name'}]}", "invalid_value", "tools[0].name", NULL },
	{ "{" IN ",'tools':[{'type':'web_search'}]}", "invalid_value", "tools[0].type",
	  "Invalid value: 'web_search'. Supported values are: 'function'." },
	{ "{" IN "," FN ",'tool_choice':'sometimes'}", "invalid_value", "tool_choice", NULL },
	{ "{" IN "," FN ",'tool_choice':{'type':'function','name':'g'}}", "invalid_value", "tool_choice", NULL },
	{ "{" IN ",'text':{'format':{'type':'json_schema','schema':{}}}}", "missing_required_parameter",
	  "text.format.name", NULL },
	{ "{" IN ",'text':{'format':{'type':'yaml'}}}", "invalid_value", "text.format.type", NULL },
	{ "{" IN ",'metadata':{'k':5}}", "invalid_type", "metadata.k", NULL },
	{ "{" IN ",'include':['everything']}", "invalid_value", "include[0]", NULL },
	{ "{" IN ",'truncation':'sometimes'}", "invalid_value", "truncation", NULL },
	{ "{" IN ",'reasoning':{'effort':'huge'}}", "invalid_value", "reasoning.effort", NULL },
	{ "{" IN ",'safety_identifier':'" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "'}",
	  "string_above_max_length", "safety_identifier", NULL },
	{ "{" IN ",'stream_options':{'include_obfuscation':true}}", "invalid_value", "stream_options", NULL },
	/* no state kept: ids we do not have */
	{ "{" IN ",'previous_response_id':'resp_1'}", "previous_response_not_found", "previous_response_id",
	  "Previous response with id 'resp_1' not found." },
	{ "{" IN ",'conversation':'conv_1'}", "invalid_value", "conversation", "Conversation with id 'conv_1' not found." },
	{ "{" IN ",'prompt':{'id':'pmpt_1'}}", "invalid_value", "prompt.id", NULL },
	{ "{'model':'m','input':[{'type':'item_reference','id':'msg_9'}]}", "invalid_value", "input[0].id",
	  "Item with id 'msg_9' not found." },
	{ "{" IN ",'background':true}", "invalid_value", "background", NULL },
};

static void test_refusals(void **state)
{
	(void)state;
	size_t failures = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct responses_request r;
		oa_error err;
		const struct bad_case *b = &bad[i];
		int rc = parse(b->body, &r, &err);
		bool ok = rc == -1 && err.status == 400 && strcmp(err.type, OA_INVALID_REQUEST) == 0
			&& (b->code ? strcmp(err.code, b->code) == 0 : !err.code[0])
			&& strcmp(err.param, b->param) == 0
			&& (!b->message || strcmp(err.message, b->message) == 0);
		if (!ok) {
			failures++;
			print_error("case %zu: %s\n  want code=%s param=%s\n  got rc=%d code=%s param=%s msg=%s\n",
				    i, b->body, b->code ? b->code : "null", b->param, rc,
				    err.code[0] ? err.code : "null", err.param, err.message);
		}
		if (rc == 0)
			responses_request_free(&r);
		else
			assert_null(r.root);
	}
	assert_int_equal(failures, 0);
}

static void mangled_one(void *ctx, const char *b, size_t len)
{
	struct responses_request r;
	oa_error err;
	memset(&err, 0, sizeof err);
	if (responses_request_parse(b, len, &r, &err) == 0) {
		(*(size_t *)ctx)++;
		assert_non_null(r.chat.root);  /* an accepted body always translates */
		responses_request_free(&r);
	} else {
		assert_int_equal(err.status, 400);  /* never our own 500 */
	}
}

/* Every cut of a rich body, and every value in it made null, a number or
 * an empty object in turn: refused or taken, never a crash or a leak (the
 * sanitizers watch). */
static void test_mangled_bodies(void **state)
{
	(void)state;
	char *body = dq(rich);
	size_t n = strlen(body), accepted = 0;
	for (size_t cut = 0; cut < n; cut++) {
		struct responses_request r;
		oa_error err;
		assert_int_equal(responses_request_parse(body, cut, &r, &err), -1);
		assert_int_equal(err.status, 400);
	}
	mangle_each_value(body, mangled_one, &accepted);
	assert_true(accepted > 10);  /* nulls of optional members, empty strings... */
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_input),
		cmocka_unit_test(test_rich),
		cmocka_unit_test(test_formats_and_choices),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mangled_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
