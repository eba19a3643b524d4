/* test_chat_request.c: chat completion bodies are typed right, or refused as OpenAI would */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_request.h"
#include "json_guard.h"

/* Bodies are written with ' for " to stay readable; no test needs a '. */
static char *dq(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static int parse(const char *single_quoted, struct chat_request *req, oa_error *err)
{
	char *body = dq(single_quoted);
	memset(err, 0, sizeof *err);
	int rc = chat_request_parse(body, strlen(body), req, err);
	free(body);
	return rc;
}

#define BASE "'model':'m','messages':[{'role':'user','content':'hi'}]"

static void test_minimal(void **state)
{
	(void)state;
	struct chat_request r;
	oa_error err;
	assert_int_equal(parse("{" BASE "}", &r, &err), 0);
	assert_string_equal(r.model, "m");
	assert_int_equal(r.n_messages, 1);
	assert_int_equal(r.messages[0].role, ROLE_USER);
	assert_string_equal(r.messages[0].text, "hi");
	assert_int_equal(r.messages[0].text_len, 2);
	assert_null(r.messages[0].name);
	assert_null(r.messages[0].tool_call_id);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.max_tokens, -1);
	assert_int_equal(r.n_stop, 0);
	assert_false(r.stream);
	assert_false(r.include_usage);
	assert_false(r.logprobs);
	assert_int_equal(r.top_logprobs, -1);
	assert_true(r.temperature == 1.0);
	assert_true(r.top_p == 1.0);
	assert_false(r.has_seed);
	assert_null(r.user);
	assert_int_equal(r.n_tools, 0);
	assert_false(r.legacy_functions);
	assert_int_equal(r.tool_choice, TOOL_CHOICE_UNSET);
	assert_true(r.parallel_tool_calls);
	assert_int_equal(r.response_format, RF_TEXT);
	assert_null(r.json_schema);
	chat_request_free(&r);
	chat_request_free(&r);  /* safe twice */
}

static const char rich[] = "{"
	"'model':'gpt-4o',"
	"'messages':["
	"{'role':'developer','content':'dev'},"
	"{'role':'system','content':[{'type':'text','text':'sys1'},{'type':'text','text':'sys2'}],'name':'boss'},"
	"{'role':'user','content':[{'type':'text','text':'look'},"
	"{'type':'image_url','image_url':{'url':'https://x/y.png','detail':'low'}},"
	"{'type':'input_audio','input_audio':{'data':'AAAA','format':'wav'}},"
	"{'type':'file','file':{'file_id':'f1'}},{'type':'text','text':'here'}]},"
	"{'role':'assistant','content':null,'tool_calls':[{'id':'c1','type':'function',"
	"'function':{'name':'get_w','arguments':'{}'}},{'id':'c2','type':'function',"
	"'function':{'name':'get_w','arguments':'{}'}}]},"
	"{'role':'tool','tool_call_id':'c1','content':'sunny'},"
	"{'role':'assistant','content':[{'type':'text','text':'ok'},{'type':'refusal','refusal':'no'}]},"
	"{'role':'assistant','content':null,'refusal':'I cannot'},"
	"{'role':'user','content':'q\\u0000r'}],"
	"'n':3,'max_tokens':10,'max_completion_tokens':20,'stop':['a','b','c','d'],"
	"'stream':true,'stream_options':{'include_usage':true},'logprobs':true,'top_logprobs':5,"
	"'temperature':0.5,'top_p':0.25,'seed':-42,'user':'u1',"
	"'frequency_penalty':-2,'presence_penalty':1.5,'logit_bias':{'50256':-100,'1':100},"
	"'metadata':{'k':'v'},'modalities':['text','audio'],'reasoning_effort':'high',"
	"'service_tier':'auto','verbosity':'low','store':false,"
	"'audio':{'voice':'alloy','format':'mp3'},"
	"'prediction':{'type':'content','content':'x'},"
	"'web_search_options':{'search_context_size':'low','user_location':{'type':'approximate',"
	"'approximate':{'city':'Paris'}}},"
	"'tools':[{'type':'function','function':{'name':'get_w','description':'weather',"
	"'parameters':{'type':'object','properties':{'city':{'type':'string'}}},'strict':true}},"
	"{'type':'custom','custom':{'name':'grep','format':{'type':'grammar','grammar':"
	"{'definition':'x','syntax':'lark'}}}},"
	"{'type':'function','function':{'name':'noop'}}],"
	"'tool_choice':{'type':'function','function':{'name':'get_w'}},"
	"'parallel_tool_calls':false,"
	"'response_format':{'type':'json_schema','json_schema':{'name':'out_1','schema':{'type':'object'},'strict':true}},"
	"'safety_identifier':'s','prompt_cache_key':'p','prompt_cache_retention':'24h',"
	"'prompt_cache_options':{'ttl':'30m','mode':'explicit'},"
	"'moderation':{'model':'omni','policy':{'input':{'mode':'block'},'output':null}}"
	"}";

static void test_rich(void **state)
{
	(void)state;
	struct chat_request r;
	oa_error err;
	int rc = parse(rich, &r, &err);
	if (rc)
		fail_msg("%s (%s)", err.message, err.param);
	assert_string_equal(r.model, "gpt-4o");
	assert_int_equal(r.n_messages, 8);
	assert_int_equal(r.messages[0].role, ROLE_DEVELOPER);
	assert_int_equal(r.messages[1].role, ROLE_SYSTEM);
	assert_string_equal(r.messages[1].text, "sys1\nsys2");
	assert_string_equal(r.messages[1].name, "boss");
	assert_string_equal(r.messages[2].text, "look\nhere");
	assert_int_equal(r.messages[3].role, ROLE_ASSISTANT);
	assert_string_equal(r.messages[3].text, "");
	assert_int_equal(r.messages[3].n_tool_calls, 2);
	assert_int_equal(r.messages[4].role, ROLE_TOOL);
	assert_string_equal(r.messages[4].tool_call_id, "c1");
	assert_string_equal(r.messages[4].text, "sunny");
	assert_string_equal(r.messages[5].text, "ok\nno");
	assert_int_equal(r.messages[5].text_len, 5);
	assert_int_equal(r.messages[6].n_tool_calls, 0);
	assert_int_equal(r.messages[7].text_len, 3);
	assert_memory_equal(r.messages[7].text, "q\0r", 3);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.max_tokens, 20);
	assert_int_equal(r.n_stop, 4);
	assert_string_equal(r.stop[3], "d");
	assert_true(r.stream);
	assert_true(r.include_usage);
	assert_true(r.logprobs);
	assert_int_equal(r.top_logprobs, 5);
	assert_true(r.temperature == 0.5);
	assert_true(r.top_p == 0.25);
	assert_true(r.has_seed);
	assert_int_equal(r.seed, -42);
	assert_string_equal(r.user, "u1");
	assert_int_equal(r.n_tools, 2);  /* the custom tool is not a function */
	assert_string_equal(r.tools[0].name, "get_w");
	assert_string_equal(r.tools[0].description, "weather");
	assert_non_null(r.tools[0].parameters);
	assert_string_equal(r.tools[1].name, "noop");
	assert_null(r.tools[1].description);
	assert_null(r.tools[1].parameters);
	assert_false(r.legacy_functions);
	assert_int_equal(r.tool_choice, TOOL_CHOICE_NAMED);
	assert_string_equal(r.tool_choice_name, "get_w");
	assert_false(r.parallel_tool_calls);
	assert_int_equal(r.response_format, RF_JSON_SCHEMA);
	assert_non_null(r.json_schema);
	assert_string_equal(json_object_get_string(json_object_object_get(r.json_schema, "type")),
			    "object");
	chat_request_free(&r);
	assert_null(r.root);
}

static void test_legacy_functions(void **state)
{
	(void)state;
	struct chat_request r;
	oa_error err;
	assert_int_equal(parse("{" BASE ",'functions':[{'name':'f','description':'d'},{'name':'g'}],"
			       "'function_call':{'name':'g'}}", &r, &err), 0);
	assert_true(r.legacy_functions);
	assert_int_equal(r.n_tools, 2);
	assert_string_equal(r.tools[0].description, "d");
	assert_int_equal(r.tool_choice, TOOL_CHOICE_NAMED);
	assert_string_equal(r.tool_choice_name, "g");
	chat_request_free(&r);

	assert_int_equal(parse("{'model':'m','messages':[{'role':'assistant','function_call':"
			       "{'name':'f','arguments':'{}'}},{'role':'function','name':'f',"
			       "'content':null}],'functions':[{'name':'f'}],'function_call':'none'}",
			       &r, &err), 0);
	assert_int_equal(r.messages[0].n_tool_calls, 1);
	assert_int_equal(r.messages[1].role, ROLE_FUNCTION);
	assert_string_equal(r.messages[1].name, "f");
	assert_int_equal(r.tool_choice, TOOL_CHOICE_NONE);
	chat_request_free(&r);
}

static void test_defaults_and_nulls(void **state)
{
	(void)state;
	struct chat_request r;
	oa_error err;
	assert_int_equal(parse("{" BASE ",'n':null,'temperature':null,'top_p':null,'stop':'END',"
			       "'max_tokens':7,'seed':null,'stream':null,'stream_options':null,"
			       "'tools':[{'type':'function','function':{'name':'f'}}],"
			       "'tool_choice':'required','response_format':{'type':'json_object'},"
			       "'temperature':2}", &r, &err), -1);
	/* a duplicate key is refused even when both values would pass */
	assert_string_equal(err.code, "invalid_value");
	assert_int_equal(parse("{" BASE ",'n':null,'temperature':null,'top_p':null,'stop':'END',"
			       "'max_tokens':7,'seed':null,'stream':null,'stream_options':null,"
			       "'tools':[{'type':'function','function':{'name':'f'}}],"
			       "'tool_choice':'required','response_format':{'type':'json_object'},"
			       "'metadata':null,'logit_bias':null,'top_logprobs':null}", &r, &err), 0);
	assert_int_equal(r.n, 1);
	assert_true(r.temperature == 1.0);
	assert_int_equal(r.n_stop, 1);
	assert_string_equal(r.stop[0], "END");
	assert_int_equal(r.max_tokens, 7);
	assert_false(r.has_seed);
	assert_int_equal(r.tool_choice, TOOL_CHOICE_REQUIRED);
	assert_int_equal(r.response_format, RF_JSON_OBJECT);
	assert_int_equal(r.top_logprobs, -1);
	chat_request_free(&r);

	assert_int_equal(parse("{" BASE ",'tools':[{'type':'function','function':{'name':'f'}}],"
			       "'tool_choice':{'type':'allowed_tools','allowed_tools':{'mode':'required',"
			       "'tools':[{'type':'function','function':{'name':'f'}}]}}}", &r, &err), 0);
	assert_int_equal(r.tool_choice, TOOL_CHOICE_REQUIRED);
	chat_request_free(&r);
}

/* The ends of int64 are integers like any other: kept exactly. */
static void test_int64_bounds_kept(void **state)
{
	(void)state;
	struct chat_request r;
	oa_error err;
	assert_int_equal(parse("{" BASE ",'seed':9223372036854775807}", &r, &err), 0);
	assert_true(r.seed == INT64_MAX);
	chat_request_free(&r);
	assert_int_equal(parse("{" BASE ",'seed':-9223372036854775808,'max_tokens':9223372036854775807}",
			       &r, &err), 0);
	assert_true(r.seed == INT64_MIN);
	assert_true(r.max_tokens == INT64_MAX);
	chat_request_free(&r);
}

/* One refused body per rule: the code and param OpenAI would send. */
struct bad_case {
	const char *body;
	const char *code;   /* NULL: JSON null */
	const char *param;  /* "": JSON null */
	const char *message; /* NULL: not checked */
};

#define TOOLS "'tools':[{'type':'function','function':{'name':'f'}}]"

static const struct bad_case bad[] = {
	/* the body itself */
	{ "{'model':'m',", NULL, "",
	  "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
	  "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
	  "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
	  "contact us through our help center at help.openai.com.)" },
	{ "[1]", "invalid_type", "",
	  "Invalid type for body: expected an object, but got an array instead." },
	{ "{" BASE ",'foo':1}", "unknown_parameter", "foo", "Unknown parameter: 'foo'." },
	/* required, and nested required */
	{ "{'model':'m'}", "missing_required_parameter", "messages",
	  "Missing required parameter: 'messages'." },
	{ "{'messages':[{'role':'user','content':'x'}]}", "missing_required_parameter", "model", NULL },
	{ "{'model':'m','messages':[{'content':'x'}]}", "missing_required_parameter",
	  "messages[0].role", "Missing required parameter: 'messages[0].role'." },
	{ "{'model':'m','messages':[{'role':'user'}]}", "missing_required_parameter",
	  "messages[0].content", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':'a'},{'role':'user','content':'b'},"
	  "{'role':'tool','content':'r'}]}", "missing_required_parameter", "messages[2].tool_call_id",
	  "Missing required parameter: 'messages[2].tool_call_id'." },
	{ "{'model':'m','messages':[{'role':'function','content':'r'}]}",
	  "missing_required_parameter", "messages[0].name", NULL },
	/* types */
	{ "{" BASE ",'temperature':'hot'}", "invalid_type", "temperature",
	  "Invalid type for 'temperature': expected a decimal, but got a string instead." },
	{ "{" BASE ",'n':1.5}", "invalid_type", "n",
	  "Invalid type for 'n': expected an integer, but got a decimal instead." },
	{ "{" BASE ",'stream':1}", "invalid_type", "stream",
	  "Invalid type for 'stream': expected a boolean, but got an integer instead." },
	{ "{'model':5,'messages':[{'role':'user','content':'x'}]}", "invalid_type", "model", NULL },
	{ "{'model':'m','messages':{}}", "invalid_type", "messages",
	  "Invalid type for 'messages': expected an array, but got an object instead." },
	{ "{'model':'m','messages':[{'role':'user','content':7}]}", "invalid_type",
	  "messages[0].content",
	  "Invalid type for 'messages[0].content': expected one of a string or an array, but got "
	  "an integer instead." },
	{ "{'model':'m','messages':['hi']}", "invalid_type", "messages[0]", NULL },
	{ "{'model':'m','messages':[{'role':null,'content':'x'}]}", "invalid_type",
	  "messages[0].role", NULL },
	{ "{" BASE ",'user':null}", "invalid_type", "user",
	  "Invalid type for 'user': expected a string, but got null instead." },
	{ "{" BASE ",'parallel_tool_calls':'yes'}", "invalid_type", "parallel_tool_calls", NULL },
	{ "{" BASE ",'store':'no'}", "invalid_type", "store", NULL },
	{ "{" BASE ",'seed':1.5}", "invalid_type", "seed", NULL },
	{ "{" BASE ",'logprobs':'true'}", "invalid_type", "logprobs", NULL },
	{ "{" BASE ",'stream':true,'stream_options':{'include_usage':1}}", "invalid_type",
	  "stream_options.include_usage", NULL },
	{ "{" BASE ",'metadata':{'k':1}}", "invalid_type", "metadata.k", NULL },
	{ "{" BASE ",'audio':{'voice':1,'format':'mp3'}}", "invalid_type", "audio.voice", NULL },
	{ "{" BASE ",'tools':[{'type':'function','function':{'name':'f','parameters':[]}}]}",
	  "invalid_type", "tools[0].function.parameters", NULL },
	/* ranges */
	{ "{" BASE ",'temperature':3.5}", "decimal_above_max_value", "temperature",
	  "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3.5 "
	  "instead." },
	{ "{" BASE ",'temperature':-0.1}", "decimal_below_min_value", "temperature", NULL },
	{ "{" BASE ",'top_p':1.01}", "decimal_above_max_value", "top_p", NULL },
	{ "{" BASE ",'presence_penalty':-3}", "decimal_below_min_value", "presence_penalty",
	  "Invalid 'presence_penalty': decimal below minimum value. Expected a value >= -2, but got "
	  "-3 instead." },
	{ "{" BASE ",'frequency_penalty':2.5}", "decimal_above_max_value", "frequency_penalty", NULL },
	{ "{" BASE ",'n':0}", "integer_below_min_value", "n",
	  "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead." },
	{ "{" BASE ",'n':129}", "integer_above_max_value", "n", NULL },
	{ "{" BASE ",'max_tokens':0}", "integer_below_min_value", "max_tokens", NULL },
	{ "{" BASE ",'max_completion_tokens':-5}", "integer_below_min_value",
	  "max_completion_tokens", NULL },
	{ "{" BASE ",'logprobs':true,'top_logprobs':21}", "integer_above_max_value", "top_logprobs",
	  NULL },
	{ "{" BASE ",'logprobs':true,'top_logprobs':-1}", "integer_below_min_value", "top_logprobs",
	  NULL },
	/* integers beyond int64, which json-c would clamp: every integer param */
	{ "{" BASE ",'seed':9223372036854775808}", "integer_above_max_value", "seed",
	  "Invalid 'seed': integer above maximum value. Expected a value <= 9223372036854775807, "
	  "but got 9223372036854775808 instead." },
	{ "{" BASE ",'seed':-9223372036854775809}", "integer_below_min_value", "seed",
	  "Invalid 'seed': integer below minimum value. Expected a value >= -9223372036854775808, "
	  "but got -9223372036854775809 instead." },
	{ "{" BASE ",'seed':18446744073709551616}", "integer_above_max_value", "seed", NULL },
	{ "{" BASE ",'seed':99999999999999999999999999999999}", "integer_above_max_value", "seed", NULL },
	{ "{" BASE ",'max_tokens':9223372036854775808}", "integer_above_max_value", "max_tokens", NULL },
	{ "{" BASE ",'max_completion_tokens':10000000000000000000}", "integer_above_max_value",
	  "max_completion_tokens", NULL },
	{ "{" BASE ",'n':9300000000000000000}", "integer_above_max_value", "n", NULL },
	{ "{" BASE ",'logprobs':true,'top_logprobs':-99999999999999999999}", "integer_below_min_value",
	  "top_logprobs", NULL },
	{ "{" BASE ",'logit_bias':{'50256':9223372036854775808}}", "integer_above_max_value",
	  "logit_bias.50256", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function',"
	  "'function':{'name':'f','parameters':{'type':'object','maxProperties':9223372036854775808}}}]}",
	  "integer_above_max_value", "tools[0].function.parameters.maxProperties", NULL },
	{ "{" BASE ",'logit_bias':{'50256':101}}", "integer_above_max_value", "logit_bias.50256",
	  "Invalid 'logit_bias.50256': integer above maximum value. Expected a value <= 100, but "
	  "got 101 instead." },
	{ "{" BASE ",'logit_bias':{'50256':-101}}", "integer_below_min_value", "logit_bias.50256",
	  NULL },
	{ "{" BASE ",'logit_bias':{'abc':1}}", "invalid_value", "logit_bias.abc", NULL },
	{ "{" BASE ",'logit_bias':{'5':0.5}}", "invalid_type", "logit_bias.5", NULL },
	/* enums */
	{ "{'model':'m','messages':[{'role':'robot','content':'x'}]}", "invalid_value",
	  "messages[0].role",
	  "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', "
	  "'function', 'tool', and 'developer'." },
	{ "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a'},"
	  "{'type':'text','text':'b'},{'type':'video','video':1}]}]}", "invalid_value",
	  "messages[0].content[2].type", NULL },
	{ "{'model':'m','messages':[{'role':'system','content':[{'type':'image_url',"
	  "'image_url':{'url':'u'}}]}]}", "invalid_value", "messages[0].content[0].type",
	  "Invalid value: 'image_url'. Supported values are: 'text'." },
	{ "{'model':'m','messages':[{'role':'assistant','content':[{'type':'image_url',"
	  "'image_url':{'url':'u'}}]}]}", "invalid_value", "messages[0].content[0].type",
	  "Invalid value: 'image_url'. Supported values are: 'text' and 'refusal'." },
	{ "{'model':'m','messages':[{'role':'user','content':[{'type':'refusal','refusal':'r'}]}]}",
	  "invalid_value", "messages[0].content[0].type", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':[{'type':'input_audio',"
	  "'input_audio':{'data':'x','format':'ogg'}}]}]}", "invalid_value",
	  "messages[0].content[0].input_audio.format", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
	  "'image_url':{'url':'u','detail':'max'}}]}]}", "invalid_value",
	  "messages[0].content[0].image_url.detail", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':[{'type':'image_url',"
	  "'image_url':{}}]}]}", "missing_required_parameter",
	  "messages[0].content[0].image_url.url", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':[{'text':'a'}]}]}",
	  "missing_required_parameter", "messages[0].content[0].type", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':[{'type':'text','text':'a','x':1}]}]}",
	  "unknown_parameter", "messages[0].content[0].x", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':'a','tool_call_id':'c'}]}",
	  "unknown_parameter", "messages[0].tool_call_id", NULL },
	{ "{" BASE ",'reasoning_effort':'extreme'}", "invalid_value", "reasoning_effort", NULL },
	{ "{" BASE ",'modalities':['text','video']}", "invalid_value", "modalities[1]", NULL },
	{ "{" BASE ",'service_tier':'gold'}", "invalid_value", "service_tier", NULL },
	{ "{" BASE ",'verbosity':'loud'}", "invalid_value", "verbosity", NULL },
	{ "{" BASE ",'audio':{'voice':'alloy','format':'ogg'}}", "invalid_value", "audio.format",
	  NULL },
	{ "{" BASE ",'audio':{'voice':'alloy'}}", "missing_required_parameter", "audio.format", NULL },
	{ "{" BASE ",'prediction':{'type':'content'}}", "missing_required_parameter",
	  "prediction.content", NULL },
	{ "{" BASE ",'web_search_options':{'search_context_size':'huge'}}", "invalid_value",
	  "web_search_options.search_context_size", NULL },
	{ "{" BASE ",'moderation':{'policy':null}}", "missing_required_parameter", "moderation.model",
	  NULL },
	{ "{" BASE ",'prompt_cache_retention':'1y'}", "invalid_value", "prompt_cache_retention",
	  NULL },
	/* arrays and strings */
	{ "{'model':'m','messages':[]}", "empty_array", "messages",
	  "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
	  "empty array instead." },
	{ "{'model':'m','messages':[{'role':'user','content':[]}]}", "empty_array",
	  "messages[0].content", NULL },
	{ "{" BASE ",'stop':['a','b','c','d','e']}", "array_above_max_length", "stop",
	  "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array "
	  "with length 5 instead." },
	{ "{" BASE ",'stop':['a',2]}", "invalid_type", "stop[1]", NULL },
	{ "{" BASE ",'stop':[]}", "empty_array", "stop", NULL },
	{ "{" BASE ",'stop':5}", "invalid_type", "stop", NULL },
	{ "{" BASE ",'safety_identifier':'0123456789012345678901234567890123456789012345678901234567"
	  "890123456789'}", "string_above_max_length", "safety_identifier", NULL },
	/* metadata */
	{ "{" BASE ",'metadata':{'a':'1','b':'2','c':'3','d':'4','e':'5','f':'6','g':'7','h':'8',"
	  "'i':'9','j':'10','k':'11','l':'12','m':'13','n':'14','o':'15','p':'16','q':'17'}}",
	  "object_above_max_properties", "metadata", NULL },
	{ "{" BASE ",'metadata':{'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk':'v'}}",
	  "string_above_max_length", "metadata.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
	  NULL },
	/* response_format */
	{ "{" BASE ",'response_format':{'type':'xml'}}", "invalid_value", "response_format.type",
	  "Invalid value: 'xml'. Supported values are: 'text', 'json_schema', and 'json_object'." },
	{ "{" BASE ",'response_format':{'type':'json_schema'}}", "missing_required_parameter",
	  "response_format.json_schema", NULL },
	{ "{" BASE ",'response_format':{'type':'json_schema','json_schema':{'schema':{}}}}",
	  "missing_required_parameter", "response_format.json_schema.name", NULL },
	{ "{" BASE ",'response_format':{'type':'json_schema','json_schema':{'name':'a b'}}}",
	  "invalid_value", "response_format.json_schema.name", NULL },
	{ "{" BASE ",'response_format':{'type':'json_schema','json_schema':{'name':'a','schema':'s'}}}",
	  "invalid_type", "response_format.json_schema.schema", NULL },
	{ "{" BASE ",'response_format':{'type':'json_object','json_schema':{}}}", "unknown_parameter",
	  "response_format.json_schema", NULL },
	/* tools */
	{ "{" BASE ",'tools':[{'type':'function','function':{'name':'bad name'}}]}", "invalid_value",
	  "tools[0].function.name", NULL },
	{ "{" BASE ",'tools':[{'type':'function','function':{'name':''}}]}", "invalid_value",
	  "tools[0].function.name", NULL },
	{ "{" BASE ",'tools':[{'type':'function','function':{'name':"
	  "'x1234567890123456789012345678901234567890123456789012345678901234'}}]}",
	  "string_above_max_length", "tools[0].function.name", NULL },
	{ "{" BASE ",'tools':[{'type':'function'}]}", "missing_required_parameter", "tools[0].function",
	  NULL },
	{ "{" BASE ",'tools':[{'type':'retrieval'}]}", "invalid_value", "tools[0].type", NULL },
	{ "{" BASE ",'tools':[{'type':'custom','custom':{'name':'c','format':{'type':'grammar'}}}]}",
	  "missing_required_parameter", "tools[0].custom.format.grammar", NULL },
	{ "{" BASE ",'tools':[{'type':'function','function':{'name':'f','strict':'yes'}}]}",
	  "invalid_type", "tools[0].function.strict", NULL },
	{ "{" BASE "," TOOLS ",'tool_choice':'any'}", "invalid_value", "tool_choice",
	  "Invalid value: 'any'. Supported values are: 'none', 'auto', and 'required'." },
	{ "{" BASE "," TOOLS ",'tool_choice':{'type':'function'}}", "missing_required_parameter",
	  "tool_choice.function", NULL },
	{ "{" BASE "," TOOLS ",'tool_choice':{'type':'allowed_tools','allowed_tools':{'mode':'none',"
	  "'tools':[]}}}", "invalid_value", "tool_choice.allowed_tools.mode", NULL },
	{ "{" BASE ",'functions':[]}", "empty_array", "functions", NULL },
	{ "{" BASE ",'functions':[{'description':'d'}]}", "missing_required_parameter",
	  "functions[0].name", NULL },
	{ "{" BASE ",'functions':[{'name':'f'}],'function_call':'required'}", "invalid_value",
	  "function_call", NULL },
	/* assistant messages */
	{ "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c','type':'function',"
	  "'function':{'name':'f'}}]}]}", "missing_required_parameter",
	  "messages[0].tool_calls[0].function.arguments", NULL },
	{ "{'model':'m','messages':[{'role':'assistant','tool_calls':[{'id':'c','type':'code'}]}]}",
	  "invalid_value", "messages[0].tool_calls[0].type", NULL },
	{ "{'model':'m','messages':[{'role':'user','content':'a'},{'role':'assistant'}]}",
	  "missing_required_parameter", "messages[1].content",
	  "Missing required parameter: 'messages[1].content'." },
	{ "{'model':'m','messages':[{'role':'user','content':'a'},{'role':'assistant','content':null,"
	  "'tool_calls':[]}]}", "invalid_type", "messages[1].content", NULL },
	/* rules across fields */
	{ "{" BASE ",'stream_options':{'include_usage':true}}", "invalid_value", "stream_options",
	  "The 'stream_options' parameter is only allowed when 'stream' is enabled." },
	{ "{" BASE ",'stream':false,'stream_options':{'include_usage':true}}", "invalid_value",
	  "stream_options", NULL },
	{ "{" BASE ",'top_logprobs':2}", "invalid_value", "top_logprobs", NULL },
	{ "{" BASE ",'tool_choice':'auto'}", "invalid_value", "tool_choice",
	  "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
	  "specified." },
	{ "{" BASE ",'tools':[],'tool_choice':'none'}", "invalid_value", "tool_choice", NULL },
	{ "{" BASE "," TOOLS ",'tool_choice':{'type':'function','function':{'name':'g'}}}",
	  "invalid_value", "tool_choice.function.name", NULL },
	{ "{" BASE "," TOOLS ",'tool_choice':{'type':'custom','custom':{'name':'f'}}}",
	  "invalid_value", "tool_choice.custom.name", NULL },
	{ "{" BASE ",'function_call':'auto'}", "invalid_value", "function_call", NULL },
	{ "{" BASE ",'functions':[{'name':'f'}],'function_call':{'name':'g'}}", "invalid_value",
	  "function_call.name", NULL },
	{ "{" BASE ",'functions':[{'name':'f'}]," TOOLS "}", "invalid_value", "functions", NULL },
	/* what the guard refuses reaches the client too */
	{ "{" BASE ",'model':'n'}", "invalid_value", "", NULL },
	{ "{'model':'m\\ud800','messages':[]}", NULL, "", NULL },
	{ "{" BASE "} x", NULL, "", NULL },
};

static void test_refusals(void **state)
{
	(void)state;
	size_t failures = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct chat_request r;
		oa_error err;
		const struct bad_case *b = &bad[i];
		int rc = parse(b->body, &r, &err);
		bool ok = rc == -1 && err.status == 400
			&& strcmp(err.type, OA_INVALID_REQUEST) == 0
			&& (b->code ? strcmp(err.code, b->code) == 0 : !err.code[0])
			&& strcmp(err.param, b->param) == 0
			&& (!b->message || strcmp(err.message, b->message) == 0);
		if (!ok) {
			failures++;
			print_error("case %zu: %s\n  want code=%s param=%s\n  got rc=%d code=%s "
				    "param=%s msg=%s\n", i, b->body, b->code ? b->code : "null",
				    b->param, rc, err.code[0] ? err.code : "null", err.param, err.message);
		}
		if (rc == 0)
			chat_request_free(&r);
		else
			assert_null(r.root);  /* nothing to free */
	}
	assert_int_equal(failures, 0);
}

/* The SDK's tool loop sends the answer's message back as it came: with
 * refusal and annotations, which OpenAI's request schema does not list. */
static void test_answer_message_sent_back(void **state)
{
	(void)state;
	struct chat_request r;
	oa_error err;
	assert_int_equal(parse("{'model':'m','messages':[{'role':'user','content':'hi'},"
		"{'role':'assistant','content':null,'refusal':null,'annotations':[],"
		"'tool_calls':[{'id':'c1','type':'function','function':{'name':'f','arguments':'{}'}}]},"
		"{'role':'tool','tool_call_id':'c1','content':'ok'}]}", &r, &err), 0);
	assert_int_equal(r.messages[1].n_tool_calls, 1);
	chat_request_free(&r);
	assert_int_equal(parse("{'model':'m','messages':[{'role':'assistant','content':'a',"
		"'annotations':{}}]}", &r, &err), -1);
	assert_string_equal(err.param, "messages[0].annotations");
}

static void test_role_names(void **state)
{
	(void)state;
	assert_string_equal(chat_role_name(ROLE_DEVELOPER), "developer");
	assert_string_equal(chat_role_name(ROLE_FUNCTION), "function");
	assert_string_equal(chat_role_name(ROLE_TOOL), "tool");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_rich),
		cmocka_unit_test(test_legacy_functions),
		cmocka_unit_test(test_defaults_and_nulls),
		cmocka_unit_test(test_int64_bounds_kept),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_answer_message_sent_back),
		cmocka_unit_test(test_role_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
