/* responses_request.c: POST /v1/responses bodies, parsed and validated as OpenAI does, then made a chat request */
#include "responses_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "log.h"
#include "responses_translate.h"

/*
 * CreateResponse from OpenAI's published schema, as json_check.h tables.
 * Input items, tools and tool choices are the kinds a server without
 * hosted tools can honour: messages, function calls and their outputs,
 * reasoning items (carried, not used), and flat function tools. Any other
 * kind is refused by name with the list of those we take, rather than
 * accepted and silently ignored.
 */

static const struct vnode n_item_status = { .types = T_STR | T_NULL,
	.enums = ENUM("in_progress", "completed", "incomplete") };
static const struct vnode n_cache_bp = { .types = T_OBJ | T_NULL, .props = PROPS(
	{ "mode", STR_ENUM("explicit"), REQ }) };

/* Content parts. */
static const struct vnode n_input_text = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "text", &jc_n_str, REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_input_image = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "image_url", &jc_n_str_null, OPT },
	{ "file_id", &jc_n_str_null, OPT },
	{ "detail", STR_ENUM_NULL("low", "high", "auto", "original"), OPT },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_input_file = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "file_id", &jc_n_str_null, OPT },
	{ "filename", &jc_n_str_null, OPT },
	{ "file_data", &jc_n_str_null, OPT },
	{ "file_url", &jc_n_str_null, OPT },
	{ "detail", STR_ENUM("auto", "low", "high"), OPT },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_output_text = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "text", &jc_n_str, REQ },
	{ "annotations", NODE(.types = T_ARR, .items = &jc_n_free_obj), OPT },
	{ "logprobs", NODE(.types = T_ARR, .items = &jc_n_free_obj), OPT }) };

static const struct vnode n_refusal = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "refusal", &jc_n_str, REQ }) };

static const struct vnode n_content_input = { .types = T_STR | T_ARR,
	.items = NODE(.types = T_OBJ, .disc = "type", .variants = VARIANTS(
		{ "input_text", &n_input_text },
		{ "input_image", &n_input_image },
		{ "input_file", &n_input_file })) };

/* what an answer's message sent back holds, or an easy message's text */
static const struct vnode n_content_assistant = { .types = T_STR | T_ARR,
	.items = NODE(.types = T_OBJ, .disc = "type", .variants = VARIANTS(
		{ "output_text", &n_output_text },
		{ "refusal", &n_refusal },
		{ "input_text", &n_input_text })) };

/* Input items. A message may leave "type" out (EasyInputMessage); one whose
 * content is a list matches both EasyInputMessage and InputMessage, which
 * the spec's oneOf would refuse: judged once, as anyOf means. */
#define MESSAGE_PROPS(content) PROPS( \
	{ "type", STR_ENUM("message"), OPT }, \
	{ "role", &jc_n_str, REQ }, \
	{ "content", (content), REQ }, \
	{ "id", &jc_n_str, OPT }, \
	{ "status", &n_item_status, OPT }, \
	{ "phase", STR_ENUM_NULL("commentary", "final_answer"), OPT })

static const struct vnode n_message = { .types = T_OBJ, .disc = "role", .variants = VARIANTS(
	{ "user", NODE(.types = T_OBJ, .props = MESSAGE_PROPS(&n_content_input)) },
	{ "assistant", NODE(.types = T_OBJ, .props = MESSAGE_PROPS(&n_content_assistant)) },
	{ "system", NODE(.types = T_OBJ, .props = MESSAGE_PROPS(&n_content_input)) },
	{ "developer", NODE(.types = T_OBJ, .props = MESSAGE_PROPS(&n_content_input)) }) };

static const struct vnode n_function_call = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "id", &jc_n_str, OPT },
	{ "call_id", &jc_n_str, REQ },
	{ "name", &jc_n_str, REQ },
	{ "arguments", &jc_n_str, REQ },
	{ "namespace", &jc_n_str, OPT },
	{ "caller", &jc_n_free_obj_null, OPT },
	{ "status", &n_item_status, OPT }) };

static const struct vnode n_call_output_part = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "input_text", &n_input_text },
	{ "input_image", &n_input_image },
	{ "input_file", &n_input_file }) };

static const struct vnode n_function_call_output = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "id", &jc_n_str_null, OPT },
	{ "call_id", NODE(.types = T_STR, .max_len = 64), REQ },
	{ "output", NODE(.types = T_STR | T_ARR, .items = &n_call_output_part), REQ },
	{ "name", &jc_n_str_null, OPT },
	{ "namespace", &jc_n_str_null, OPT },
	{ "caller", &jc_n_free_obj_null, OPT },
	{ "status", &n_item_status, OPT }) };

static const struct vnode n_reasoning_item = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "id", &jc_n_str, REQ },
	{ "summary", NODE(.types = T_ARR, .items = &jc_n_free_obj), REQ },
	{ "content", NODE(.types = T_ARR, .items = &jc_n_free_obj), OPT },
	{ "encrypted_content", &jc_n_str_null, OPT },
	{ "status", &n_item_status, OPT }) };

static const struct vnode n_item_reference = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "id", &jc_n_str, REQ }) };

static const struct vnode n_input_item = { .types = T_OBJ, .disc = "type", .disc_default = "message",
	.variants = VARIANTS(
	{ "message", &n_message },
	{ "function_call", &n_function_call },
	{ "function_call_output", &n_function_call_output },
	{ "reasoning", &n_reasoning_item },
	{ "item_reference", &n_item_reference }) };

/* Tools: flat, not nested under "function" as in chat. */
static const struct vnode n_function_tool = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "name", &jc_n_name, REQ },
	{ "description", &jc_n_str_null, OPT },
	{ "parameters", &jc_n_free_obj_null, OPT },
	{ "output_schema", &jc_n_free_obj_null, OPT },
	{ "strict", &jc_n_bool_null, OPT },
	{ "defer_loading", &jc_n_bool, OPT },
	{ "allowed_callers", NODE(.types = T_ARR | T_NULL,
				  .items = STR_ENUM("direct", "programmatic")), OPT }) };

static const struct vnode n_tool = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "function", &n_function_tool }) };

static const struct vnode n_tool_choice = { .types = T_STR | T_OBJ,
	.enums = ENUM("none", "auto", "required"),
	.disc = "type", .variants = VARIANTS(
	{ "function", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "name", &jc_n_str, REQ })) },
	{ "allowed_tools", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "mode", STR_ENUM("auto", "required"), REQ },
		{ "tools", NODE(.types = T_ARR, .items = &jc_n_free_obj), REQ })) }) };

static const struct vnode n_text_format = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "text", NODE(.types = T_OBJ, .props = PROPS({ "type", &jc_n_str, REQ })) },
	{ "json_schema", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "name", &jc_n_name, REQ },
		{ "description", &jc_n_str, OPT },
		{ "schema", &jc_n_free_obj, REQ },
		{ "strict", &jc_n_bool_null, OPT })) },
	{ "json_object", NODE(.types = T_OBJ, .props = PROPS({ "type", &jc_n_str, REQ })) }) };

static const struct vnode n_request = { .types = T_OBJ, .props = PROPS(
	{ "model", &jc_n_str, REQ },
	{ "input", NODE(.types = T_STR | T_ARR, .items = &n_input_item), OPT },
	{ "instructions", &jc_n_str_null, OPT },
	{ "max_output_tokens", NODE(.types = T_INT | T_NULL, .flags = F_MIN,
				    .min = RESPONSES_MIN_OUTPUT_TOKENS), OPT },
	{ "max_tool_calls", &jc_n_int_null, OPT },
	{ "temperature", RANGE(T_NUM | T_NULL, 0, 2), OPT },
	{ "top_p", RANGE(T_NUM | T_NULL, 0, 1), OPT },
	{ "top_logprobs", RANGE(T_INT | T_NULL, 0, 20), OPT },
	{ "tools", NODE(.types = T_ARR, .max_items = 128, .items = &n_tool), OPT },
	{ "tool_choice", &n_tool_choice, OPT },
	{ "parallel_tool_calls", &jc_n_bool_null, OPT },
	{ "text", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "format", &n_text_format, OPT },
		{ "verbosity", STR_ENUM_NULL("low", "medium", "high"), OPT })), OPT },
	{ "metadata", NODE(.types = T_OBJ | T_NULL, .flags = F_MAP, .max_props = 16,
			   .items = NODE(.types = T_STR, .max_len = 512),
			   .key_check = jc_metadata_key), OPT },
	{ "store", &jc_n_bool_null, OPT },
	{ "stream", &jc_n_bool_null, OPT },
	{ "stream_options", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "include_obfuscation", &jc_n_bool, OPT })), OPT },
	{ "background", &jc_n_bool_null, OPT },
	{ "user", &jc_n_str, OPT },
	{ "safety_identifier", NODE(.types = T_STR | T_NULL, .max_len = 64), OPT },
	{ "prompt_cache_key", &jc_n_str_null, OPT },
	{ "prompt_cache_retention", STR_ENUM_NULL("in_memory", "24h"), OPT },
	{ "prompt_cache_options", NODE(.types = T_OBJ, .props = PROPS(
		{ "ttl", STR_ENUM("30m"), OPT },
		{ "mode", STR_ENUM("implicit", "explicit"), OPT })), OPT },
	{ "service_tier", STR_ENUM_NULL("auto", "default", "flex", "scale", "priority", "fast",
					"ultrafast"), OPT },
	{ "reasoning", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "mode", &jc_n_str, OPT },
		{ "effort", STR_ENUM_NULL("none", "minimal", "low", "medium", "high", "xhigh", "max"), OPT },
		{ "summary", STR_ENUM_NULL("auto", "concise", "detailed"), OPT },
		{ "context", STR_ENUM_NULL("auto", "current_turn", "all_turns"), OPT },
		{ "generate_summary", STR_ENUM_NULL("auto", "concise", "detailed"), OPT })), OPT },
	{ "include", NODE(.types = T_ARR | T_NULL, .items = STR_ENUM(
		"file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
		"message.input_image.image_url", "computer_call_output.output.image_url",
		"code_interpreter_call.outputs", "reasoning.encrypted_content",
		"message.output_text.logprobs")), OPT },
	{ "truncation", STR_ENUM_NULL("auto", "disabled"), OPT },
	{ "previous_response_id", &jc_n_str_null, OPT },
	{ "conversation", NODE(.types = T_STR | T_OBJ | T_NULL, .props = PROPS(
		{ "id", &jc_n_str, REQ })), OPT },
	{ "prompt", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "id", &jc_n_str, REQ },
		{ "version", &jc_n_str_null, OPT },
		{ "variables", &jc_n_free_obj_null, OPT })), OPT },
	{ "context_management", NODE(.types = T_ARR | T_NULL, .min_items = 1, .items = &jc_n_free_obj), OPT },
	{ "moderation", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "model", &jc_n_str, REQ },
		{ "policy", &jc_n_free_obj_null, OPT })), OPT }) };

/* ---- rules across fields, and what a stateless server cannot honour ---- */

/* What OpenAI answers for ids it does not have: we have none at all. */
static int check_stored(json_object *root, oa_error *err)
{
	const char *id = jc_str(root, "previous_response_id");
	if (id)
		return oa_invalid(err, "previous_response_not_found", "previous_response_id",
				  "Previous response with id '%.100s' not found.", id);
	json_object *conv = jc_field(root, "conversation");
	if (conv) {
		id = json_object_is_type(conv, json_type_string) ? json_object_get_string(conv)
								  : jc_str(conv, "id");
		return oa_invalid(err, "invalid_value", "conversation",
				  "Conversation with id '%.100s' not found.", id ? id : "");
	}
	if (jc_field(root, "prompt"))
		return oa_invalid(err, "invalid_value", "prompt.id",
				  "Prompt with id '%.100s' not found.", jc_str(jc_field(root, "prompt"), "id"));
	if (jc_true(root, "background"))
		return oa_invalid(err, "invalid_value", "background",
				  "Background responses are not supported: this server keeps no "
				  "responses to retrieve later.");
	json_object *input = jc_field(root, "input");
	size_t n = input && json_object_is_type(input, json_type_array) ? json_object_array_length(input) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(input, i);
		const char *type = jc_str(item, "type");
		if (type && strcmp(type, "item_reference") == 0) {
			char param[48];
			snprintf(param, sizeof param, "input[%zu].id", i);
			return oa_invalid(err, "invalid_value", param, "Item with id '%.100s' not found.",
					  jc_str(item, "id"));
		}
	}
	return 0;
}

static bool tool_named(json_object *tools, const char *name)
{
	size_t n = tools ? json_object_array_length(tools) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *tn = jc_str(json_object_array_get_idx(tools, i), "name");
		if (tn && name && strcmp(tn, name) == 0)
			return true;
	}
	return false;
}

static int check_tool_choice(json_object *root, oa_error *err)
{
	json_object *choice = jc_field(root, "tool_choice");
	json_object *tools = jc_field(root, "tools");
	if (!choice || !json_object_is_type(choice, json_type_object))
		return 0;
	if (strcmp(jc_str(choice, "type"), "function") != 0)
		return 0;
	const char *name = jc_str(choice, "name");
	if (tool_named(tools, name))
		return 0;
	return oa_invalid(err, "invalid_value", "tool_choice",
			  "Tool choice 'function' with name '%.64s' not found in 'tools' parameter.", name);
}

static int check_rules(json_object *root, oa_error *err)
{
	json_object *input = jc_field(root, "input");
	if (!jc_str(root, "instructions") &&
	    (!input || (json_object_is_type(input, json_type_array) && json_object_array_length(input) == 0)))
		return oa_invalid(err, "missing_required_parameter", "input",
				  "Missing required parameter: 'input'.");
	if (jc_field(root, "stream_options") && !jc_true(root, "stream"))
		return oa_invalid(err, "invalid_value", "stream_options",
				  "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
	if (check_stored(root, err) || check_tool_choice(root, err))
		return -1;
	return 0;
}

int responses_request_parse(const char *body, size_t len, struct responses_request *req, oa_error *err)
{
	json_object *root;
	memset(req, 0, sizeof *req);
	if (jc_parse_body(body, len, &n_request, &root, err))
		return -1;
	if (check_rules(root, err)) {
		json_object_put(root);
		return -1;
	}
	strbuf chat_body = STRBUF_INIT;
	rt_request_to_chat(root, &chat_body);
	int rc = chat_request_parse(chat_body.buf, chat_body.len, &req->chat, err);
	sb_free(&chat_body);
	req->chat.body = NULL;  /* its bytes are gone: the tree is what is left */
	if (rc != 0) {
		/* a translation the chat rules refuse is our bug, not the client's */
		log_error("responses: the chat translation was refused (%s: %s)", err->param, err->message);
		oa_error_set(err, 500, OA_SERVER, "internal_server_error", NULL,
			     "The server had an error while processing your request. Sorry about that!");
		json_object_put(root);
		return -1;
	}
	req->root = root;
	req->model = jc_str(root, "model");
	req->stream = jc_true(root, "stream");
	return 0;
}

void responses_request_free(struct responses_request *req)
{
	json_object_put(req->root);
	chat_request_free(&req->chat);
	memset(req, 0, sizeof *req);
}
