/* responses_translate.c: pure translation between the Responses API and chat completions, both ways */
#include "responses_translate.h"

#include <string.h>

#include "json_check.h"
#include "responses_response.h"

/* ---- a Responses request as a chat completion request ---- */

static void add_str(json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(s ? s : ""));
}

/* Copies member key of from into to (under to_key), when present and not null. */
static void carry(json_object *to, const char *to_key, json_object *from, const char *key)
{
	json_object *v = jc_field(from, key);
	if (v)
		json_object_object_add(to, to_key, json_object_get(v));
}

static json_object *message(const char *role)
{
	json_object *m = json_object_new_object();
	add_str(m, "role", role);
	return m;
}

/* The text parts of a content list joined with "\n": for roles whose chat
 * content takes text only, and for tool outputs. */
static void join_text(json_object *parts, strbuf *out)
{
	size_t n = json_object_array_length(parts);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(parts, i);
		const char *t = jc_str(p, "text") ? jc_str(p, "text") : jc_str(p, "refusal");
		if (!t)
			continue;
		if (!first)
			sb_putc(out, '\n');
		sb_puts(out, t);
		first = false;
	}
}

/* A user message's parts in chat's shapes; parts chat cannot carry (an
 * image known only by file id) are left out. */
static json_object *user_parts(json_object *parts)
{
	json_object *list = json_object_new_array();
	size_t n = json_object_array_length(parts);
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(parts, i);
		const char *type = jc_str(p, "type");
		json_object *q = json_object_new_object();
		if (strcmp(type, "input_text") == 0) {
			add_str(q, "type", "text");
			add_str(q, "text", jc_str(p, "text"));
		} else if (strcmp(type, "input_image") == 0 && jc_str(p, "image_url")) {
			json_object *img = json_object_new_object();
			add_str(img, "url", jc_str(p, "image_url"));
			const char *detail = jc_str(p, "detail");
			if (detail && strcmp(detail, "original") != 0)
				add_str(img, "detail", detail);
			add_str(q, "type", "image_url");
			json_object_object_add(q, "image_url", img);
		} else if (strcmp(type, "input_file") == 0 && (jc_str(p, "file_id") || jc_str(p, "file_data"))) {
			json_object *file = json_object_new_object();
			carry(file, "file_id", p, "file_id");
			carry(file, "file_data", p, "file_data");
			carry(file, "filename", p, "filename");
			add_str(q, "type", "file");
			json_object_object_add(q, "file", file);
		} else {
			json_object_put(q);
			continue;
		}
		json_object_array_add(list, q);
	}
	return list;
}

static void add_message_item(json_object *messages, json_object *item)
{
	const char *role = jc_str(item, "role");
	json_object *content = jc_field(item, "content");
	bool user = strcmp(role, "user") == 0;
	json_object *m = message(strcmp(role, "developer") == 0 ? "system" : role);
	if (json_object_is_type(content, json_type_string)) {
		json_object_object_add(m, "content", json_object_get(content));
	} else if (user) {
		json_object *parts = user_parts(content);
		if (json_object_array_length(parts) == 0) {
			json_object_put(parts);
			add_str(m, "content", "");
		} else {
			json_object_object_add(m, "content", parts);
		}
	} else {
		strbuf text = STRBUF_INIT;
		join_text(content, &text);
		add_str(m, "content", sb_str(&text));
		sb_free(&text);
	}
	json_object_array_add(messages, m);
}

/* function_call items become tool_calls of one assistant message: the
 * last message when it is the assistant's, else a new one. */
static void add_call_item(json_object *messages, json_object *item)
{
	size_t n = json_object_array_length(messages);
	json_object *last = n ? json_object_array_get_idx(messages, n - 1) : NULL;
	json_object *calls;
	if (!last || strcmp(jc_str(last, "role"), "assistant") != 0) {
		last = message("assistant");
		json_object_object_add(last, "content", NULL);
		json_object_array_add(messages, last);
	}
	if (!json_object_object_get_ex(last, "tool_calls", &calls)) {
		calls = json_object_new_array();
		json_object_object_add(last, "tool_calls", calls);
	}
	json_object *call = json_object_new_object(), *fn = json_object_new_object();
	add_str(call, "id", jc_str(item, "call_id"));
	add_str(call, "type", "function");
	add_str(fn, "name", jc_str(item, "name"));
	add_str(fn, "arguments", jc_str(item, "arguments"));
	json_object_object_add(call, "function", fn);
	json_object_array_add(calls, call);
}

static void add_output_item(json_object *messages, json_object *item)
{
	json_object *m = message("tool");
	json_object *out = jc_field(item, "output");
	add_str(m, "tool_call_id", jc_str(item, "call_id"));
	if (json_object_is_type(out, json_type_string)) {
		json_object_object_add(m, "content", json_object_get(out));
	} else {
		strbuf text = STRBUF_INIT;
		join_text(out, &text);
		add_str(m, "content", sb_str(&text));
		sb_free(&text);
	}
	json_object_array_add(messages, m);
}

static json_object *chat_messages(json_object *resp)
{
	json_object *messages = json_object_new_array();
	const char *instructions = jc_str(resp, "instructions");
	json_object *input = jc_field(resp, "input");
	if (instructions) {
		json_object *m = message("system");
		add_str(m, "content", instructions);
		json_object_array_add(messages, m);
	}
	if (input && json_object_is_type(input, json_type_string)) {
		json_object *m = message("user");
		json_object_object_add(m, "content", json_object_get(input));
		json_object_array_add(messages, m);
	}
	size_t n = input && json_object_is_type(input, json_type_array) ? json_object_array_length(input) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(input, i);
		const char *type = jc_str(item, "type");
		if (!type || strcmp(type, "message") == 0)
			add_message_item(messages, item);
		else if (strcmp(type, "function_call") == 0)
			add_call_item(messages, item);
		else if (strcmp(type, "function_call_output") == 0)
			add_output_item(messages, item);
		/* reasoning: nothing a chat server takes */
	}
	return messages;
}

static json_object *chat_tools(json_object *tools)
{
	json_object *list = json_object_new_array();
	size_t n = json_object_array_length(tools);
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(tools, i);
		json_object *tool = json_object_new_object(), *fn = json_object_new_object();
		add_str(tool, "type", "function");
		carry(fn, "name", t, "name");
		carry(fn, "description", t, "description");
		carry(fn, "parameters", t, "parameters");
		carry(fn, "strict", t, "strict");
		json_object_object_add(tool, "function", fn);
		json_object_array_add(list, tool);
	}
	return list;
}

static json_object *named_function(const char *name)
{
	json_object *c = json_object_new_object(), *fn = json_object_new_object();
	add_str(c, "type", "function");
	add_str(fn, "name", name);
	json_object_object_add(c, "function", fn);
	return c;
}

static json_object *chat_tool_choice(json_object *choice)
{
	if (json_object_is_type(choice, json_type_string))
		return json_object_get(choice);
	const char *type = jc_str(choice, "type");
	if (strcmp(type, "function") == 0)
		return named_function(jc_str(choice, "name"));
	/* allowed_tools */
	json_object *c = json_object_new_object(), *allowed = json_object_new_object();
	json_object *tools = json_object_new_array(), *given = jc_field(choice, "tools");
	for (size_t i = 0; i < json_object_array_length(given); i++)
		json_object_array_add(tools, named_function(jc_str(json_object_array_get_idx(given, i), "name")));
	add_str(c, "type", "allowed_tools");
	carry(allowed, "mode", choice, "mode");
	json_object_object_add(allowed, "tools", tools);
	json_object_object_add(c, "allowed_tools", allowed);
	return c;
}

static json_object *chat_response_format(json_object *format)
{
	const char *type = jc_str(format, "type");
	json_object *rf = json_object_new_object();
	add_str(rf, "type", type);
	if (strcmp(type, "json_schema") == 0) {
		json_object *js = json_object_new_object();
		carry(js, "name", format, "name");
		carry(js, "description", format, "description");
		carry(js, "schema", format, "schema");
		carry(js, "strict", format, "strict");
		json_object_object_add(rf, "json_schema", js);
	}
	return rf;
}

void rt_request_to_chat(json_object *resp, strbuf *out)
{
	json_object *chat = json_object_new_object(), *v;
	carry(chat, "model", resp, "model");
	json_object_object_add(chat, "messages", chat_messages(resp));
	carry(chat, "max_completion_tokens", resp, "max_output_tokens");
	carry(chat, "temperature", resp, "temperature");
	carry(chat, "top_p", resp, "top_p");
	carry(chat, "user", resp, "user");
	carry(chat, "safety_identifier", resp, "safety_identifier");
	carry(chat, "prompt_cache_key", resp, "prompt_cache_key");
	carry(chat, "reasoning_effort", jc_field(resp, "reasoning"), "effort");
	json_object *tools = jc_field(resp, "tools");
	if (tools && json_object_array_length(tools) > 0) {
		json_object_object_add(chat, "tools", chat_tools(tools));
		if ((v = jc_field(resp, "tool_choice")))
			json_object_object_add(chat, "tool_choice", chat_tool_choice(v));
		carry(chat, "parallel_tool_calls", resp, "parallel_tool_calls");
	}
	if ((v = jc_field(jc_field(resp, "text"), "format")) && strcmp(jc_str(v, "type"), "text") != 0)
		json_object_object_add(chat, "response_format", chat_response_format(v));
	if (jc_true(resp, "stream")) {
		json_object *so = json_object_new_object();
		json_object_object_add(chat, "stream", json_object_new_boolean(1));
		json_object_object_add(so, "include_usage", json_object_new_boolean(1));
		json_object_object_add(chat, "stream_options", so);
	}
	sb_puts(out, json_object_to_json_string_ext(chat, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(chat);
}

/* ---- a chat answer as a Response ---- */

static void usage_of(json_object *obj, struct rsp_builder *b)
{
	json_object *u = jc_field(obj, "usage");
	if (!u)
		return;
	struct chat_usage cu = { 0, 0, 0 };
	json_object *v;
	if ((v = jc_field(u, "prompt_tokens")))
		cu.prompt_tokens = (long)json_object_get_int64(v);
	if ((v = jc_field(u, "completion_tokens")))
		cu.completion_tokens = (long)json_object_get_int64(v);
	cu.total_tokens = cu.prompt_tokens + cu.completion_tokens;
	rsp_usage(b, &cu);
}

static json_object *first_choice(json_object *obj)
{
	json_object *choices = jc_field(obj, "choices");
	if (!choices || !json_object_is_type(choices, json_type_array) || json_object_array_length(choices) == 0)
		return NULL;
	return json_object_array_get_idx(choices, 0);
}

static int apply_calls(struct rsp_builder *b, json_object *calls)
{
	size_t n = calls && json_object_is_type(calls, json_type_array) ? json_object_array_length(calls) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(calls, i);
		json_object *fn = jc_field(c, "function");
		json_object *idx = jc_field(c, "index");
		int k = idx ? (int)json_object_get_int(idx) : (int)i;
		const char *id = jc_str(c, "id"), *name = jc_str(fn, "name"), *args = jc_str(fn, "arguments");
		if ((id || name) && rsp_call_begin(b, k, id, name) < 0)
			return -1;
		if (args && rsp_call_arguments(b, k, args, strlen(args)) < 0)
			return -1;
	}
	return 0;
}

int rt_apply_chat_completion(struct rsp_builder *b, json_object *completion)
{
	json_object *choice = first_choice(completion);
	json_object *msg = jc_field(choice, "message");
	const char *content = jc_str(msg, "content");
	usage_of(completion, b);
	if (content && rsp_text(b, content, strlen(content)) < 0)
		return -1;
	if (apply_calls(b, jc_field(msg, "tool_calls")) < 0)
		return -1;
	return rsp_finish(b, jc_str(choice, "finish_reason"));
}

int rt_apply_chat_chunk(struct rsp_builder *b, json_object *chunk)
{
	usage_of(chunk, b);
	json_object *choice = first_choice(chunk);
	if (!choice)
		return 0;
	json_object *delta = jc_field(choice, "delta");
	const char *content = jc_str(delta, "content");
	if (content && *content && rsp_text(b, content, strlen(content)) < 0)
		return -1;
	if (apply_calls(b, jc_field(delta, "tool_calls")) < 0)
		return -1;
	const char *finish = jc_str(choice, "finish_reason");
	return finish ? rsp_finish(b, finish) : 0;
}

/* ---- the sink a chat backend answers into ---- */

static int sink_delta(void *ctx, int index, const char *role, const char *content, size_t len)
{
	(void)role;
	if (index != 0)
		return 0;  /* the Responses API has one answer */
	return rsp_text(ctx, content ? content : "", content ? len : 0);
}

static int sink_tool_call(void *ctx, int index, int tc_index, const char *id, const char *name,
			  const char *arguments)
{
	if (index != 0)
		return 0;
	if (rsp_call_begin(ctx, tc_index, id, name) < 0)
		return -1;
	return rsp_call_arguments(ctx, tc_index, arguments, arguments ? strlen(arguments) : 0);
}

static int sink_finish(void *ctx, int index, const char *reason)
{
	return index == 0 ? rsp_finish(ctx, reason) : 0;
}

static int sink_usage(void *ctx, const struct chat_usage *u)
{
	rsp_usage(ctx, u);
	return 0;
}

static int sink_relay(void *ctx, json_object *obj)
{
	const char *object = jc_str(obj, "object");
	if (object && strcmp(object, "chat.completion") == 0)
		return rt_apply_chat_completion(ctx, obj);
	return rt_apply_chat_chunk(ctx, obj);
}

void rsp_builder_sink(struct rsp_builder *b, struct chat_sink *sink)
{
	memset(sink, 0, sizeof *sink);
	sink->ctx = b;
	sink->delta = sink_delta;
	sink->tool_call = sink_tool_call;
	sink->finish = sink_finish;
	sink->usage = sink_usage;
	sink->relay = sink_relay;
}
