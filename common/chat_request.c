/* chat_request.c: POST /v1/chat/completions bodies, parsed and validated as OpenAI does */
#include "chat_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "strbuf.h"
#include "xalloc.h"

/* CreateChatCompletionRequest, as json_check.h tables: objects refuse keys
 * the schema does not list, as OpenAI does. */

/* Content parts. */
static const struct vnode n_cache_bp = { .types = T_OBJ, .props = PROPS(
	{ "mode", STR_ENUM("explicit"), REQ }) };

static const struct vnode n_part_text = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "text", &jc_n_str, REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_image = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "image_url", NODE(.types = T_OBJ, .props = PROPS(
		{ "url", &jc_n_str, REQ },
		{ "detail", STR_ENUM("auto", "low", "high"), OPT })), REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_audio = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "input_audio", NODE(.types = T_OBJ, .props = PROPS(
		{ "data", &jc_n_str, REQ },
		{ "format", STR_ENUM("wav", "mp3"), REQ })), REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_file = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "file", NODE(.types = T_OBJ, .props = PROPS(
		{ "filename", &jc_n_str, OPT },
		{ "file_data", &jc_n_str, OPT },
		{ "file_id", &jc_n_str, OPT })), REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_refusal = { .types = T_OBJ, .props = PROPS(
	{ "type", &jc_n_str, REQ },
	{ "refusal", &jc_n_str, REQ }) };

/* developer, system, tool messages and predictions: text only */
static const struct vnode n_content_text = { .types = T_STR | T_ARR, .min_items = 1,
	.items = NODE(.types = T_OBJ, .disc = "type", .variants = VARIANTS(
		{ "text", &n_part_text })) };

static const struct vnode n_content_user = { .types = T_STR | T_ARR, .min_items = 1,
	.items = NODE(.types = T_OBJ, .disc = "type", .variants = VARIANTS(
		{ "text", &n_part_text },
		{ "image_url", &n_part_image },
		{ "input_audio", &n_part_audio },
		{ "file", &n_part_file })) };

static const struct vnode n_content_assistant = { .types = T_STR | T_ARR | T_NULL, .min_items = 1,
	.items = NODE(.types = T_OBJ, .disc = "type", .variants = VARIANTS(
		{ "text", &n_part_text },
		{ "refusal", &n_part_refusal })) };

/* Messages. */
static const struct vnode n_tool_calls = { .types = T_ARR,
	.items = NODE(.types = T_OBJ, .disc = "type", .variants = VARIANTS(
		{ "function", NODE(.types = T_OBJ, .props = PROPS(
			{ "id", &jc_n_str, REQ },
			{ "type", &jc_n_str, REQ },
			{ "function", NODE(.types = T_OBJ, .props = PROPS(
				{ "name", &jc_n_str, REQ },
				{ "arguments", &jc_n_str, REQ })), REQ })) },
		{ "custom", NODE(.types = T_OBJ, .props = PROPS(
			{ "id", &jc_n_str, REQ },
			{ "type", &jc_n_str, REQ },
			{ "custom", NODE(.types = T_OBJ, .props = PROPS(
				{ "name", &jc_n_str, REQ },
				{ "input", &jc_n_str, REQ })), REQ })) })) };

static const struct vnode n_msg_text_role = { .types = T_OBJ, .props = PROPS(
	{ "content", &n_content_text, REQ },
	{ "role", &jc_n_str, REQ },
	{ "name", &jc_n_str, OPT }) };

static const struct vnode n_msg_user = { .types = T_OBJ, .props = PROPS(
	{ "content", &n_content_user, REQ },
	{ "role", &jc_n_str, REQ },
	{ "name", &jc_n_str, OPT }) };

/* content may be absent here: check_assistant_content() says when */
static const struct vnode n_msg_assistant = { .types = T_OBJ, .props = PROPS(
	{ "content", &n_content_assistant, OPT },
	{ "refusal", &jc_n_str_null, OPT },
	{ "role", &jc_n_str, REQ },
	{ "name", &jc_n_str, OPT },
	/* Not in OpenAI's request schema, but every answer's message has it, and
	 * the documented tool loop sends that message back as it came. */
	{ "annotations", NODE(.types = T_ARR | T_NULL), OPT },
	{ "audio", NODE(.types = T_OBJ | T_NULL, .props = PROPS({ "id", &jc_n_str, REQ })), OPT },
	{ "tool_calls", &n_tool_calls, OPT },
	{ "function_call", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "arguments", &jc_n_str, REQ },
		{ "name", &jc_n_str, REQ })), OPT }) };

static const struct vnode n_msg_tool = { .types = T_OBJ, .props = PROPS(
	{ "role", &jc_n_str, REQ },
	{ "content", &n_content_text, REQ },
	{ "tool_call_id", &jc_n_str, REQ }) };

static const struct vnode n_msg_function = { .types = T_OBJ, .props = PROPS(
	{ "role", &jc_n_str, REQ },
	{ "content", &jc_n_str_null, REQ },
	{ "name", &jc_n_str, REQ }) };

/* in the order OpenAI lists them in its error message */
static const struct vnode n_message = { .types = T_OBJ, .disc = "role", .variants = VARIANTS(
	{ "system", &n_msg_text_role },
	{ "assistant", &n_msg_assistant },
	{ "user", &n_msg_user },
	{ "function", &n_msg_function },
	{ "tool", &n_msg_tool },
	{ "developer", &n_msg_text_role }) };

/* Tools. */
static const struct vnode n_function_obj = { .types = T_OBJ, .props = PROPS(
	{ "name", &jc_n_name, REQ },
	{ "description", &jc_n_str, OPT },
	{ "parameters", &jc_n_free_obj, OPT },
	{ "strict", &jc_n_bool_null, OPT }) };

static const struct vnode n_custom_format = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "text", NODE(.types = T_OBJ, .props = PROPS({ "type", &jc_n_str, REQ })) },
	{ "grammar", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "grammar", NODE(.types = T_OBJ, .props = PROPS(
			{ "definition", &jc_n_str, REQ },
			{ "syntax", STR_ENUM("lark", "regex"), REQ })), REQ })) }) };

static const struct vnode n_tool = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "function", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "function", &n_function_obj, REQ })) },
	{ "custom", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "custom", NODE(.types = T_OBJ, .props = PROPS(
			{ "name", &jc_n_str, REQ },
			{ "description", &jc_n_str, OPT },
			{ "format", &n_custom_format, OPT })), REQ })) }) };

static const struct vnode n_tool_choice = { .types = T_STR | T_OBJ,
	.enums = ENUM("none", "auto", "required"),
	.disc = "type", .variants = VARIANTS(
	{ "function", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "function", NODE(.types = T_OBJ, .props = PROPS({ "name", &jc_n_str, REQ })), REQ })) },
	{ "custom", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "custom", NODE(.types = T_OBJ, .props = PROPS({ "name", &jc_n_str, REQ })), REQ })) },
	{ "allowed_tools", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "allowed_tools", NODE(.types = T_OBJ, .props = PROPS(
			{ "mode", STR_ENUM("auto", "required"), REQ },
			{ "tools", NODE(.types = T_ARR, .items = &jc_n_free_obj), REQ })), REQ })) }) };

static const struct vnode n_response_format = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "text", NODE(.types = T_OBJ, .props = PROPS({ "type", &jc_n_str, REQ })) },
	{ "json_schema", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &jc_n_str, REQ },
		{ "json_schema", NODE(.types = T_OBJ, .props = PROPS(
			{ "description", &jc_n_str, OPT },
			{ "name", &jc_n_name, REQ },
			{ "schema", &jc_n_free_obj, OPT },
			{ "strict", &jc_n_bool_null, OPT })), REQ })) },
	{ "json_object", NODE(.types = T_OBJ, .props = PROPS({ "type", &jc_n_str, REQ })) }) };

/* Everything else the request may carry. */
static const struct vnode n_moderation_config = { .types = T_OBJ | T_NULL, .props = PROPS(
	{ "mode", STR_ENUM("score", "block"), REQ }) };

static const struct vnode n_web_search = { .types = T_OBJ, .props = PROPS(
	{ "user_location", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "type", STR_ENUM("approximate"), REQ },
		{ "approximate", NODE(.types = T_OBJ, .props = PROPS(
			{ "country", &jc_n_str, OPT },
			{ "region", &jc_n_str, OPT },
			{ "city", &jc_n_str, OPT },
			{ "timezone", &jc_n_str, OPT })), REQ })), OPT },
	{ "search_context_size", STR_ENUM("low", "medium", "high"), OPT }) };

static const struct vnode n_request = { .types = T_OBJ, .props = PROPS(
	{ "messages", NODE(.types = T_ARR, .min_items = 1, .items = &n_message), REQ },
	{ "model", &jc_n_str, REQ },
	{ "service_tier", STR_ENUM_NULL("auto", "default", "flex", "scale", "priority", "fast"), OPT },
	{ "modalities", NODE(.types = T_ARR | T_NULL, .items = STR_ENUM("text", "audio")), OPT },
	{ "verbosity", STR_ENUM_NULL("low", "medium", "high"), OPT },
	{ "reasoning_effort",
	  STR_ENUM_NULL("none", "minimal", "low", "medium", "high", "xhigh", "max"), OPT },
	{ "max_completion_tokens", NODE(.types = T_INT | T_NULL, .flags = F_MIN, .min = 1), OPT },
	{ "frequency_penalty", RANGE(T_NUM | T_NULL, -2, 2), OPT },
	{ "presence_penalty", RANGE(T_NUM | T_NULL, -2, 2), OPT },
	{ "web_search_options", &n_web_search, OPT },
	{ "top_logprobs", RANGE(T_INT | T_NULL, 0, 20), OPT },
	{ "response_format", &n_response_format, OPT },
	{ "audio", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "voice", NODE(.types = T_STR | T_OBJ, .props = PROPS({ "id", &jc_n_str, REQ })), REQ },
		{ "format", STR_ENUM("wav", "aac", "mp3", "flac", "opus", "pcm16"), REQ })), OPT },
	{ "store", &jc_n_bool_null, OPT },
	{ "moderation", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "model", &jc_n_str, REQ },
		{ "policy", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
			{ "input", &n_moderation_config, OPT },
			{ "output", &n_moderation_config, OPT })), OPT })), OPT },
	{ "stream", &jc_n_bool_null, OPT },
	{ "stop", NODE(.types = T_STR | T_ARR | T_NULL, .min_items = 1, .max_items = 4,
		       .items = &jc_n_str), OPT },
	{ "logit_bias", NODE(.types = T_OBJ | T_NULL, .flags = F_MAP,
			     .items = RANGE(T_INT, -100, 100), .key_check = jc_logit_bias_key), OPT },
	{ "logprobs", &jc_n_bool_null, OPT },
	{ "max_tokens", NODE(.types = T_INT | T_NULL, .flags = F_MIN, .min = 1), OPT },
	{ "n", RANGE(T_INT | T_NULL, 1, 128), OPT },
	{ "prediction", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "type", STR_ENUM("content"), REQ },
		{ "content", &n_content_text, REQ })), OPT },
	{ "seed", &jc_n_int_null, OPT },
	{ "stream_options", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "include_usage", &jc_n_bool, OPT },
		{ "include_obfuscation", &jc_n_bool, OPT })), OPT },
	{ "tools", NODE(.types = T_ARR, .max_items = 128, .items = &n_tool), OPT },
	{ "tool_choice", &n_tool_choice, OPT },
	{ "parallel_tool_calls", &jc_n_bool, OPT },
	{ "function_call", NODE(.types = T_STR | T_OBJ, .enums = ENUM("none", "auto"),
				.props = PROPS({ "name", &jc_n_str, REQ })), OPT },
	{ "functions", NODE(.types = T_ARR, .min_items = 1, .max_items = 128,
			    .items = NODE(.types = T_OBJ, .props = PROPS(
		{ "name", &jc_n_name, REQ },
		{ "description", &jc_n_str, OPT },
		{ "parameters", &jc_n_free_obj, OPT }))), OPT },
	{ "metadata", NODE(.types = T_OBJ | T_NULL, .flags = F_MAP, .max_props = 16,
			   .items = NODE(.types = T_STR, .max_len = 512),
			   .key_check = jc_metadata_key), OPT },
	{ "temperature", RANGE(T_NUM | T_NULL, 0, 2), OPT },
	{ "top_p", RANGE(T_NUM | T_NULL, 0, 1), OPT },
	{ "user", &jc_n_str, OPT },
	{ "safety_identifier", NODE(.types = T_STR | T_NULL, .max_len = 64), OPT },
	{ "prompt_cache_key", &jc_n_str_null, OPT },
	{ "prompt_cache_retention", STR_ENUM_NULL("in_memory", "24h"), OPT },
	{ "prompt_cache_options", NODE(.types = T_OBJ, .props = PROPS(
		{ "ttl", STR_ENUM("30m"), OPT },
		{ "mode", STR_ENUM("implicit", "explicit"), OPT })), OPT }) };

/* ---- rules across fields, which the schema cannot say ---- */

/* The member, or NULL when absent or JSON null (OpenAI treats both alike). */
static json_object *field(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static bool is_true(json_object *o, const char *key)
{
	json_object *v = field(o, key);
	return v && json_object_get_boolean(v);
}

static const char *str_at(json_object *o, const char *key)
{
	json_object *v = field(o, key);
	return v ? json_object_get_string(v) : NULL;
}

/* A tool in tools[] (of type kind) or functions[] (kind NULL) named name. */
static bool tool_named(json_object *list, const char *kind, const char *name)
{
	size_t n = list ? json_object_array_length(list) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(list, i);
		const char *tn = kind ? str_at(field(t, kind), "name") : str_at(t, "name");
		if ((!kind || strcmp(str_at(t, "type"), kind) == 0) && tn && strcmp(tn, name) == 0)
			return true;
	}
	return false;
}

static int check_tool_choice(json_object *root, oa_error *err)
{
	json_object *tools = field(root, "tools");
	json_object *choice = field(root, "tool_choice");
	if (!choice)
		return 0;
	if (!tools || json_object_array_length(tools) == 0)
		return oa_invalid(err, "invalid_value", "tool_choice",
				  "Invalid value for 'tool_choice': 'tool_choice' is only allowed "
				  "when 'tools' are specified.");
	if (!json_object_is_type(choice, json_type_object))
		return 0;
	const char *type = str_at(choice, "type");
	if (strcmp(type, "allowed_tools") == 0)
		return 0;
	const char *name = str_at(field(choice, type), "name");
	if (tool_named(tools, type, name))
		return 0;
	char param[64];
	snprintf(param, sizeof param, "tool_choice.%s.name", type);
	return oa_invalid(err, "invalid_value", param,
			  "Invalid value for 'tool_choice': no %s tool named '%.64s' is specified "
			  "in 'tools'.", type, name);
}

static int check_function_call(json_object *root, oa_error *err)
{
	json_object *functions = field(root, "functions");
	json_object *call = field(root, "function_call");
	if (functions && field(root, "tools"))
		return oa_invalid(err, "invalid_value", "functions",
				  "Invalid value for 'functions': 'functions' and 'tools' cannot "
				  "both be specified; use 'tools'.");
	if (call && field(root, "tool_choice"))
		return oa_invalid(err, "invalid_value", "function_call",
				  "Invalid value for 'function_call': 'function_call' and "
				  "'tool_choice' cannot both be specified; use 'tool_choice'.");
	if (!call)
		return 0;
	if (!functions)
		return oa_invalid(err, "invalid_value", "function_call",
				  "Invalid value for 'function_call': 'function_call' is only "
				  "allowed when 'functions' are specified.");
	if (!json_object_is_type(call, json_type_object)
	    || tool_named(functions, NULL, str_at(call, "name")))
		return 0;
	return oa_invalid(err, "invalid_value", "function_call.name",
			  "Invalid value for 'function_call': no function named '%.64s' is "
			  "specified in 'functions'.", str_at(call, "name"));
}

/* An assistant message may leave content out only when it says something
 * else: tool calls, a function call, or a refusal. */
static int check_assistant_content(json_object *messages, oa_error *err)
{
	size_t n = json_object_array_length(messages);
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(messages, i);
		json_object *calls = field(m, "tool_calls");
		if (strcmp(str_at(m, "role"), "assistant") != 0 || field(m, "content")
		    || (calls && json_object_array_length(calls) > 0)
		    || field(m, "function_call") || field(m, "refusal"))
			continue;
		char param[64];
		snprintf(param, sizeof param, "messages[%zu].content", i);
		if (!json_object_object_get_ex(m, "content", NULL))
			return oa_invalid(err, "missing_required_parameter", param,
					  "Missing required parameter: '%s'.", param);
		return oa_invalid(err, "invalid_type", param,
				  "Invalid type for '%s': expected one of a string or an array, "
				  "but got null instead.", param);
	}
	return 0;
}

static int check_rules(json_object *root, oa_error *err)
{
	if (field(root, "stream_options") && !is_true(root, "stream"))
		return oa_invalid(err, "invalid_value", "stream_options",
				  "The 'stream_options' parameter is only allowed when 'stream' "
				  "is enabled.");
	if (field(root, "top_logprobs") && !is_true(root, "logprobs"))
		return oa_invalid(err, "invalid_value", "top_logprobs",
				  "The 'top_logprobs' parameter is only allowed when 'logprobs' "
				  "is enabled.");
	if (check_function_call(root, err) || check_tool_choice(root, err))
		return -1;
	return check_assistant_content(field(root, "messages"), err);
}

/* ---- the typed request ---- */

static const char *const role_names[] = {
	[ROLE_DEVELOPER] = "developer", [ROLE_SYSTEM] = "system", [ROLE_USER] = "user",
	[ROLE_ASSISTANT] = "assistant", [ROLE_TOOL] = "tool", [ROLE_FUNCTION] = "function",
};

const char *chat_role_name(enum chat_role r)
{
	if ((unsigned)r >= sizeof role_names / sizeof *role_names)
		return "unknown";
	return role_names[r];
}

static enum chat_role role_of(const char *s)
{
	for (size_t r = 0; r < sizeof role_names / sizeof *role_names; r++)
		if (strcmp(s, role_names[r]) == 0)
			return (enum chat_role)r;
	return ROLE_USER;  /* unreachable: validation allowed only these */
}

/* Joins the text and refusal parts of content into store, NUL-terminated,
 * and returns where the text starts there; its length goes to *len. */
static size_t join_parts(json_object *parts, strbuf *store, size_t *len)
{
	size_t start = store->len, n = json_object_array_length(parts);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(parts, i);
		json_object *t = field(p, "text") ? field(p, "text") : field(p, "refusal");
		const char *type = str_at(p, "type");
		if (!t || (strcmp(type, "text") != 0 && strcmp(type, "refusal") != 0))
			continue;
		if (!first)
			sb_putc(store, '\n');
		sb_append(store, json_object_get_string(t), (size_t)json_object_get_string_len(t));
		first = false;
	}
	*len = store->len - start;
	sb_append(store, "", 1);  /* each text is a C string too */
	return start;
}

/* Texts joined from parts live in one buffer that may move while it grows,
 * so they are placed as offsets first and made pointers at the end. */
static void fill_messages(struct chat_request *r, json_object *messages)
{
	size_t n = json_object_array_length(messages);
	size_t *joined = xcalloc(n, sizeof *joined);  /* offset + 1; 0: not joined */
	strbuf store = STRBUF_INIT;
	r->messages = xcalloc(n, sizeof *r->messages);
	r->n_messages = n;
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(messages, i);
		struct chat_message *cm = &r->messages[i];
		json_object *content = field(m, "content");
		json_object *calls = field(m, "tool_calls");
		cm->role = role_of(str_at(m, "role"));
		cm->name = str_at(m, "name");
		cm->tool_call_id = str_at(m, "tool_call_id");
		cm->text = "";
		if (content && json_object_is_type(content, json_type_string)) {
			cm->text = json_object_get_string(content);
			cm->text_len = (size_t)json_object_get_string_len(content);
		} else if (content) {
			joined[i] = join_parts(content, &store, &cm->text_len) + 1;
		}
		cm->n_tool_calls = calls ? json_object_array_length(calls)
				 : field(m, "function_call") ? 1 : 0;
	}
	for (size_t i = 0; i < n; i++)
		if (joined[i] && r->messages[i].text_len)
			r->messages[i].text = store.buf + joined[i] - 1;
	r->text_store = store.buf;
	free(joined);
}

static void add_tool(struct chat_request *r, json_object *fn, size_t index)
{
	struct chat_tool *t = &r->tools[r->n_tools++];
	t->index = index;
	t->name = str_at(fn, "name");
	t->description = str_at(fn, "description");
	t->parameters = field(fn, "parameters");
}

/* Function tools only: custom tools are validated and stay in root. */
static void fill_tools(struct chat_request *r, json_object *root)
{
	json_object *list = field(root, "tools");
	if (!list) {
		list = field(root, "functions");
		r->legacy_functions = list || field(root, "function_call");
	}
	size_t n = list ? json_object_array_length(list) : 0;
	r->tools = n ? xcalloc(n, sizeof *r->tools) : NULL;
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(list, i);
		if (r->legacy_functions)
			add_tool(r, t, i);
		else if (strcmp(str_at(t, "type"), "function") == 0)
			add_tool(r, field(t, "function"), i);
	}
}

static enum tool_choice choice_word(const char *s)
{
	if (strcmp(s, "none") == 0)
		return TOOL_CHOICE_NONE;
	if (strcmp(s, "required") == 0)
		return TOOL_CHOICE_REQUIRED;
	return TOOL_CHOICE_AUTO;
}

/* allowed_tools cannot narrow the list here: its mode is what remains. */
static void fill_tool_choice(struct chat_request *r, json_object *root)
{
	json_object *c = field(root, "tool_choice");
	if (!c)
		c = field(root, "function_call");
	if (!c)
		return;
	if (json_object_is_type(c, json_type_string)) {
		r->tool_choice = choice_word(json_object_get_string(c));
		return;
	}
	const char *type = str_at(c, "type");
	if (!type) {  /* function_call: {"name": ...} */
		r->tool_choice = TOOL_CHOICE_NAMED;
		r->tool_choice_name = str_at(c, "name");
	} else if (strcmp(type, "allowed_tools") == 0) {
		r->tool_choice = choice_word(str_at(field(c, "allowed_tools"), "mode"));
	} else {
		r->tool_choice = TOOL_CHOICE_NAMED;
		r->tool_choice_name = str_at(field(c, type), "name");
	}
}

static void fill_stop(struct chat_request *r, json_object *stop)
{
	if (!stop)
		return;
	if (json_object_is_type(stop, json_type_string)) {
		r->stop[0] = json_object_get_string(stop);
		r->n_stop = 1;
		return;
	}
	size_t n = json_object_array_length(stop);
	for (size_t i = 0; i < n && i < 4; i++)
		r->stop[r->n_stop++] = json_object_get_string(json_object_array_get_idx(stop, i));
}

static double number_or(json_object *o, const char *key, double dflt)
{
	json_object *v = field(o, key);
	return v ? json_object_get_double(v) : dflt;
}

static void fill_response_format(struct chat_request *r, json_object *rf)
{
	const char *type = rf ? str_at(rf, "type") : "text";
	if (strcmp(type, "json_object") == 0) {
		r->response_format = RF_JSON_OBJECT;
	} else if (strcmp(type, "json_schema") == 0) {
		r->response_format = RF_JSON_SCHEMA;
		r->json_schema = field(field(rf, "json_schema"), "schema");
		r->json_schema_name = str_at(field(rf, "json_schema"), "name");
	} else {
		r->response_format = RF_TEXT;
	}
}

static void fill(struct chat_request *r, json_object *root)
{
	json_object *v;
	r->model = str_at(root, "model");
	fill_messages(r, field(root, "messages"));
	r->n = (int)number_or(root, "n", 1);
	v = field(root, "max_completion_tokens");
	if (!v)
		v = field(root, "max_tokens");
	r->max_tokens = v ? (long)json_object_get_int64(v) : -1;
	fill_stop(r, field(root, "stop"));
	r->stream = is_true(root, "stream");
	r->include_usage = is_true(field(root, "stream_options"), "include_usage");
	r->logprobs = is_true(root, "logprobs");
	r->top_logprobs = (int)number_or(root, "top_logprobs", -1);
	r->temperature = number_or(root, "temperature", 1);
	r->top_p = number_or(root, "top_p", 1);
	v = field(root, "seed");
	r->has_seed = v != NULL;
	r->seed = v ? json_object_get_int64(v) : 0;
	r->user = str_at(root, "user");
	fill_tools(r, root);
	fill_tool_choice(r, root);
	r->parallel_tool_calls = field(root, "parallel_tool_calls") == NULL
		|| is_true(root, "parallel_tool_calls");
	fill_response_format(r, field(root, "response_format"));
}

int chat_request_parse(const char *body, size_t len, struct chat_request *req, oa_error *err)
{
	json_object *root;
	memset(req, 0, sizeof *req);
	if (jc_parse_body(body, len, &n_request, &root, err))
		return -1;
	if (check_rules(root, err)) {
		json_object_put(root);
		return -1;
	}
	req->root = root;
	req->body = body;
	req->body_len = len;
	fill(req, root);
	return 0;
}

void chat_request_free(struct chat_request *req)
{
	json_object_put(req->root);
	free(req->text_store);
	free(req->messages);
	free(req->tools);
	memset(req, 0, sizeof *req);
}
