/* completions_request.c: legacy POST /v1/completions bodies, validated as OpenAI does, each prompt made a chat request */
#include "completions_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "log.h"
#include "strbuf.h"
#include "tokens.h"
#include "xalloc.h"

/* CreateCompletionRequest, as json_check.h tables. */

static const struct vnode n_request = { .types = T_OBJ, .props = PROPS(
	{ "model", &jc_n_str, REQ },
	/* a string, strings, token ids or arrays of token ids: which of them,
	 * check_prompt() says, since items may not mix */
	{ "prompt", NODE(.types = T_STR | T_ARR | T_NULL, .max_items = COMPLETIONS_MAX_PROMPTS,
			 .items = NODE(.types = T_STR | T_INT | T_ARR, .min_items = 1,
				       .items = NODE(.types = T_INT))), REQ },
	{ "best_of", RANGE(T_INT | T_NULL, 0, 20), OPT },
	{ "echo", &jc_n_bool_null, OPT },
	{ "frequency_penalty", RANGE(T_NUM | T_NULL, -2, 2), OPT },
	{ "logit_bias", NODE(.types = T_OBJ | T_NULL, .flags = F_MAP,
			     .items = RANGE(T_INT, -100, 100), .key_check = jc_logit_bias_key), OPT },
	{ "logprobs", RANGE(T_INT | T_NULL, 0, 5), OPT },
	{ "max_tokens", NODE(.types = T_INT | T_NULL, .flags = F_MIN, .min = 0), OPT },
	{ "n", RANGE(T_INT | T_NULL, 1, 128), OPT },
	{ "presence_penalty", RANGE(T_NUM | T_NULL, -2, 2), OPT },
	{ "seed", &jc_n_int_null, OPT },
	{ "stop", NODE(.types = T_STR | T_ARR | T_NULL, .min_items = 1, .max_items = 4, .items = &jc_n_str), OPT },
	{ "stream", &jc_n_bool_null, OPT },
	{ "stream_options", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "include_usage", &jc_n_bool, OPT },
		{ "include_obfuscation", &jc_n_bool, OPT })), OPT },
	{ "suffix", &jc_n_str_null, OPT },
	{ "temperature", RANGE(T_NUM | T_NULL, 0, 2), OPT },
	{ "top_p", RANGE(T_NUM | T_NULL, 0, 1), OPT },
	{ "user", &jc_n_str, OPT }) };

/* The items of an array prompt must all be of one kind. */
static int check_prompt(json_object *prompt, oa_error *err)
{
	if (!prompt || !json_object_is_type(prompt, json_type_array))
		return 0;
	size_t n = json_object_array_length(prompt);
	if (n == 0)
		return oa_invalid(err, "empty_array", "prompt",
				  "Invalid 'prompt': empty array. Expected an array with minimum length 1, "
				  "but got an empty array instead.");
	json_type kind = json_object_get_type(json_object_array_get_idx(prompt, 0));
	for (size_t i = 1; i < n; i++) {
		if (json_object_get_type(json_object_array_get_idx(prompt, i)) == kind)
			continue;
		char param[32];
		snprintf(param, sizeof param, "prompt[%zu]", i);
		return oa_invalid(err, "invalid_type", param,
				  "Invalid type for '%s': 'prompt' must be a string, an array of strings, "
				  "an array of tokens or an array of token arrays, not a mix.", param);
	}
	return 0;
}

static int check_rules(json_object *root, oa_error *err)
{
	json_object *best = jc_field(root, "best_of"), *n = jc_field(root, "n");
	long best_of = best ? (long)json_object_get_int64(best) : 1;
	if (best && n && best_of < json_object_get_int64(n))
		return oa_invalid(err, "invalid_value", "best_of",
				  "Invalid value for 'best_of': must be greater than or equal to 'n'.");
	if (best_of > 1 && jc_true(root, "stream"))
		return oa_invalid(err, "invalid_value", "stream",
				  "Invalid value for 'stream': cannot stream results with best_of > 1.");
	if (jc_field(root, "stream_options") && !jc_true(root, "stream"))
		return oa_invalid(err, "invalid_value", "stream_options",
				  "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
	return check_prompt(jc_field(root, "prompt"), err);
}

static void set_prompt(struct cmpl_prompt *p, json_object *v)
{
	if (json_object_is_type(v, json_type_string)) {
		p->len = (size_t)json_object_get_string_len(v);
		p->text = xstrndup(json_object_get_string(v), p->len);
		p->tokens = tok_count(p->text, p->len);
	} else {
		/* token ids: counted, not read */
		p->text = xstrdup("");
		p->tokens = json_object_is_type(v, json_type_array) ? (long)json_object_array_length(v) : 1;
	}
}

/* A null prompt is OpenAI's default, <|endoftext|>: one empty prompt. */
static void fill_prompts(struct completions_request *r, json_object *prompt)
{
	bool list = prompt && json_object_is_type(prompt, json_type_array)
		&& !json_object_is_type(json_object_array_get_idx(prompt, 0), json_type_int);
	r->n_prompts = list ? json_object_array_length(prompt) : 1;
	r->prompts = xcalloc(r->n_prompts, sizeof *r->prompts);
	if (!prompt) {
		r->prompts[0].text = xstrdup("");
		r->prompts[0].tokens = 1;
	} else if (!list) {
		set_prompt(&r->prompts[0], prompt);
	} else {
		for (size_t i = 0; i < r->n_prompts; i++)
			set_prompt(&r->prompts[i], json_object_array_get_idx(prompt, i));
	}
}

/* The chat body the mock answers for one prompt. */
static void chat_body(json_object *root, const struct completions_request *r, size_t i, strbuf *out)
{
	json_object *chat = json_object_new_object(), *msgs = json_object_new_array(), *m = json_object_new_object();
	static const char *const carried[] = { "n", "stop", "temperature", "top_p", "seed", "user", "stream" };
	json_object_object_add(chat, "model", json_object_new_string(r->model));
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_new_string_len(r->prompts[i].text, (int)r->prompts[i].len));
	json_object_array_add(msgs, m);
	json_object_object_add(chat, "messages", msgs);
	json_object_object_add(chat, "max_completion_tokens", json_object_new_int64(r->max_tokens));
	for (size_t k = 0; k < sizeof carried / sizeof *carried; k++) {
		json_object *v = jc_field(root, carried[k]);
		if (v)
			json_object_object_add(chat, carried[k], json_object_get(v));
	}
	sb_puts(out, json_object_to_json_string_ext(chat, JSON_C_TO_STRING_PLAIN));
	json_object_put(chat);
}

int completions_request_parse(const char *body, size_t len, struct completions_request *req, oa_error *err)
{
	json_object *root;
	memset(req, 0, sizeof *req);
	if (jc_parse_body(body, len, &n_request, &root, err))
		return -1;
	if (check_rules(root, err)) {
		json_object_put(root);
		return -1;
	}
	json_object *v;
	req->root = root;
	req->model = jc_str(root, "model");
	req->stream = jc_true(root, "stream");
	req->include_usage = jc_true(jc_field(root, "stream_options"), "include_usage");
	req->echo = jc_true(root, "echo");
	req->n = (v = jc_field(root, "n")) ? (int)json_object_get_int(v) : 1;
	req->max_tokens = (v = jc_field(root, "max_tokens")) ? (long)json_object_get_int64(v)
							   : COMPLETIONS_DEFAULT_MAX_TOKENS;
	fill_prompts(req, jc_field(root, "prompt"));
	if (req->n_prompts * (size_t)req->n > COMPLETIONS_MAX_CHOICES) {
		oa_invalid(err, "invalid_value", "n",
			   "Invalid value for 'n': %zu prompts with n=%d ask for more than %d choices.",
			   req->n_prompts, req->n, COMPLETIONS_MAX_CHOICES);
		completions_request_free(req);
		return -1;
	}
	if (req->max_tokens == 0)
		return 0;
	req->chat = xcalloc(req->n_prompts, sizeof *req->chat);
	for (size_t i = 0; i < req->n_prompts; i++) {
		strbuf b = STRBUF_INIT;
		chat_body(root, req, i, &b);
		int rc = chat_request_parse(b.buf, b.len, &req->chat[i], err);
		sb_free(&b);
		req->chat[i].body = NULL;  /* its bytes are gone: the tree is what is left */
		if (rc != 0) {
			/* our translation, refused by chat's rules: a bug of ours */
			log_error("completions: the chat translation was refused (%s: %s)", err->param, err->message);
			completions_request_free(req);
			return oa_error_set(err, 500, OA_SERVER, "internal_server_error", NULL,
					    "The server had an error while processing your request. Sorry about that!");
		}
	}
	return 0;
}

void completions_request_free(struct completions_request *req)
{
	for (size_t i = 0; i < req->n_prompts; i++) {
		free(req->prompts[i].text);
		if (req->chat)
			chat_request_free(&req->chat[i]);
	}
	free(req->prompts);
	free(req->chat);
	json_object_put(req->root);
	memset(req, 0, sizeof *req);
}
