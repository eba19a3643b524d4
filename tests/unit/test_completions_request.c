/* test_completions_request.c: legacy completion bodies are refused as OpenAI would, or become chat requests per prompt */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "completions_request.h"
#include "mangle.h"

static char *dq(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static int parse(const char *single_quoted, struct completions_request *req, oa_error *err)
{
	char *body = dq(single_quoted);
	memset(err, 0, sizeof *err);
	int rc = completions_request_parse(body, strlen(body), req, err);
	free(body);
	return rc;
}

static void test_defaults(void **state)
{
	(void)state;
	struct completions_request r;
	oa_error err;
	assert_int_equal(parse("{'model':'m','prompt':'Say this'}", &r, &err), 0);
	assert_string_equal(r.model, "m");
	assert_int_equal(r.max_tokens, 16);  /* OpenAI's default */
	assert_int_equal(r.n, 1);
	assert_false(r.stream);
	assert_false(r.echo);
	assert_int_equal(r.n_prompts, 1);
	assert_string_equal(r.prompts[0].text, "Say this");
	assert_int_equal(r.prompts[0].tokens, 2);  /* tokens.h: "Say" 1, " this" 1 */
	assert_int_equal(r.chat[0].n_messages, 1);
	assert_int_equal(r.chat[0].messages[0].role, ROLE_USER);
	assert_string_equal(r.chat[0].messages[0].text, "Say this");
	assert_int_equal(r.chat[0].max_tokens, 16);
	completions_request_free(&r);
	completions_request_free(&r);
}

static void test_prompts_and_options(void **state)
{
	(void)state;
	struct completions_request r;
	oa_error err;
	assert_int_equal(parse("{'model':'m','prompt':['a','bb'],'n':3,'echo':true,'stop':['x','y'],"
			       "'stream':true,'stream_options':{'include_usage':true},'max_tokens':5,"
			       "'suffix':'s','logprobs':2,'best_of':3,'seed':1,'temperature':0,'user':'u',"
			       "'logit_bias':{'50256':-100},'frequency_penalty':1,'presence_penalty':-1}"
			       , &r, &err), -1);
	/* best_of > 1 cannot stream */
	assert_string_equal(err.param, "stream");
	assert_int_equal(parse("{'model':'m','prompt':['a','bb'],'n':3,'echo':true,'stop':['x','y'],"
			       "'stream':true,'stream_options':{'include_usage':true},'max_tokens':5,"
			       "'suffix':'s','logprobs':2,'seed':1,'temperature':0,'user':'u',"
			       "'logit_bias':{'50256':-100},'frequency_penalty':1,'presence_penalty':-1}", &r, &err), 0);
	assert_int_equal(r.n_prompts, 2);
	assert_string_equal(r.prompts[1].text, "bb");
	assert_int_equal(r.n, 3);
	assert_true(r.echo);
	assert_true(r.stream);
	assert_true(r.include_usage);
	assert_int_equal(r.chat[1].n, 3);
	assert_int_equal(r.chat[1].n_stop, 2);
	assert_true(r.chat[1].stream);
	assert_int_equal(r.chat[1].max_tokens, 5);
	completions_request_free(&r);
	/* token ids: one prompt, counted, no text */
	assert_int_equal(parse("{'model':'m','prompt':[1,2,3,4]}", &r, &err), 0);
	assert_int_equal(r.n_prompts, 1);
	assert_int_equal(r.prompts[0].tokens, 4);
	assert_string_equal(r.prompts[0].text, "");
	completions_request_free(&r);
	assert_int_equal(parse("{'model':'m','prompt':[[1,2],[3]],'max_tokens':0}", &r, &err), 0);
	assert_int_equal(r.n_prompts, 2);
	assert_int_equal(r.prompts[0].tokens, 2);
	assert_null(r.chat);  /* max_tokens 0: nothing to ask */
	completions_request_free(&r);
	assert_int_equal(parse("{'model':'m','prompt':null}", &r, &err), 0);
	assert_int_equal(r.n_prompts, 1);
	completions_request_free(&r);
}

struct bad_case {
	const char *body;
	const char *code;
	const char *param;
	const char *message;
};

#define P "'model':'m','prompt':'x'"

static const struct bad_case bad[] = {
	{ "{'prompt':'x'}", "missing_required_parameter", "model", "Missing required parameter: 'model'." },
	{ "{'model':'m'}", "missing_required_parameter", "prompt", "Missing required parameter: 'prompt'." },
	{ "{" P ",'messages':[]}", "unknown_parameter", "messages", "Unknown parameter: 'messages'." },
	{ "{'model':'m','prompt':5}", "invalid_type", "prompt", NULL },
	{ "{'model':'m','prompt':[]}", "empty_array", "prompt", NULL },
	{ "{'model':'m','prompt':['a',1]}", "invalid_type", "prompt[1]", NULL },
	{ "{'model':'m','prompt':[[]]}", "empty_array", "prompt[0]", NULL },
	{ "{'model':'m','prompt':[[1,'a']]}", "invalid_type", "prompt[0][1]", NULL },
	{ "{'model':'m','prompt':[true]}", "invalid_type", "prompt[0]", NULL },
	{ "{" P ",'max_tokens':-1}", "integer_below_min_value", "max_tokens", NULL },
	{ "{" P ",'max_tokens':1.5}", "invalid_type", "max_tokens", NULL },
	{ "{" P ",'logprobs':6}", "integer_above_max_value", "logprobs",
	  "Invalid 'logprobs': integer above maximum value. Expected a value <= 5, but got 6 instead." },
	{ "{" P ",'n':0}", "integer_below_min_value", "n", NULL },
	{ "{" P ",'best_of':21}", "integer_above_max_value", "best_of", NULL },
	{ "{" P ",'n':3,'best_of':2}", "invalid_value", "best_of", NULL },
	{ "{" P ",'best_of':2,'stream':true}", "invalid_value", "stream", NULL },
	{ "{" P ",'stop':['a','b','c','d','e']}", "array_above_max_length", "stop", NULL },
	{ "{" P ",'temperature':3}", "decimal_above_max_value", "temperature", NULL },
	{ "{" P ",'echo':'yes'}", "invalid_type", "echo", NULL },
	{ "{" P ",'suffix':1}", "invalid_type", "suffix", NULL },
	{ "{" P ",'logit_bias':{'abc':1}}", "invalid_value", "logit_bias.abc", NULL },
	{ "{" P ",'stream_options':{'include_usage':true}}", "invalid_value", "stream_options", NULL },
	{ "{" P ",'stream':true,'stream_options':{'include_usage':1}}", "invalid_type",
	  "stream_options.include_usage", NULL },
	/* one answer stays bounded: prompts x n */
	{ "{'model':'m','prompt':['a','b','c','d','e','f','g','h','i','j','k','l','m','n','o','p','q'],'n':128}",
	  "invalid_value", "n", NULL },
};

static void test_refusals(void **state)
{
	(void)state;
	size_t failures = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct completions_request r;
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
			completions_request_free(&r);
		else
			assert_null(r.root);
	}
	assert_int_equal(failures, 0);
}

static void mangled_one(void *ctx, const char *b, size_t len)
{
	struct completions_request r;
	oa_error err;
	memset(&err, 0, sizeof err);
	if (completions_request_parse(b, len, &r, &err) == 0) {
		(*(size_t *)ctx)++;
		completions_request_free(&r);
	} else {
		assert_int_equal(err.status, 400);  /* never our own 500 */
	}
}

/* Cuts and replaced values of a body using every field: refused or taken,
 * never a crash, a leak or a 500. */
static void test_mangled_bodies(void **state)
{
	(void)state;
	char *body = dq("{'model':'m','prompt':['a','bb'],'n':3,'echo':true,'stop':['x','y'],"
			"'stream':false,'max_tokens':5,"
			"'suffix':'s','logprobs':2,'best_of':3,'seed':1,'temperature':0,'user':'u',"
			"'logit_bias':{'50256':-100},'frequency_penalty':1,'presence_penalty':-1,'top_p':1}");
	size_t n = strlen(body), accepted = 0;
	for (size_t cut = 0; cut < n; cut++) {
		struct completions_request r;
		oa_error err;
		assert_int_equal(completions_request_parse(body, cut, &r, &err), -1);
	}
	mangle_each_value(body, mangled_one, &accepted);
	assert_true(accepted > 5);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_prompts_and_options),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mangled_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
