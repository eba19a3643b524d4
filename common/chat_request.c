/* chat_request.c: POST /v1/chat/completions bodies, parsed and validated as OpenAI does */
#include "chat_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_guard.h"
#include "strbuf.h"
#include "xalloc.h"

/*
 * The schema as data. Each node says which JSON types a value may have and,
 * per type, its bounds: a union of a string and an object (tool_choice) is
 * one node whose enums judge the string and whose props judge the object.
 * The tables mirror CreateChatCompletionRequest in OpenAI's published
 * schema; objects refuse keys the schema does not list, as OpenAI does.
 */
enum {
	T_NULL = 1, T_BOOL = 2, T_INT = 4, T_DEC = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64
};
#define T_NUM (T_INT | T_DEC)

enum {
	F_MIN = 1,    /* numbers: min applies */
	F_MAX = 2,    /* numbers: max applies */
	F_OPEN = 4,   /* objects: any content (JSON Schemas, free-form) */
	F_MAP = 8,    /* objects: any keys, every value judged by items */
	F_NAME = 16   /* strings: ^[a-zA-Z0-9_-]+$ */
};

struct vctx;
struct vnode;

struct vprop {
	const char *name;
	const struct vnode *node;
	bool required;
};

/* One branch of a union of objects told apart by one key ("type", "role"). */
struct vvariant {
	const char *value;
	const struct vnode *node;
};

struct vnode {
	unsigned types;
	unsigned flags;
	double min, max;              /* numbers */
	size_t min_items, max_items;  /* arrays; max 0: unbounded */
	size_t max_len;               /* strings, in characters; 0: unbounded */
	size_t max_props;             /* maps; 0: unbounded */
	const char *const *enums;     /* strings: the allowed values */
	const struct vprop *props;    /* objects */
	const struct vnode *items;    /* array items, map values */
	const char *disc;             /* objects: the key choosing a variant */
	const struct vvariant *variants;
	int (*key_check)(struct vctx *c, const char *key);  /* maps */
};

/* Validation state: where we are, for param and messages. */
struct vctx {
	oa_error *err;
	char path[256];
	size_t len;
};

#define ENUM(...)     ((const char *const[]){ __VA_ARGS__, NULL })
#define PROPS(...)    ((const struct vprop[]){ __VA_ARGS__, { NULL, NULL, false } })
#define VARIANTS(...) ((const struct vvariant[]){ __VA_ARGS__, { NULL, NULL } })
#define NODE(...)     (&(const struct vnode){ __VA_ARGS__ })
#define STR_ENUM(...) NODE(.types = T_STR, .enums = ENUM(__VA_ARGS__))
#define STR_ENUM_NULL(...) NODE(.types = T_STR | T_NULL, .enums = ENUM(__VA_ARGS__))
#define RANGE(t, lo, hi) NODE(.types = (t), .flags = F_MIN | F_MAX, .min = (lo), .max = (hi))
#define REQ true
#define OPT false

static int logit_bias_key(struct vctx *c, const char *key);
static int metadata_key(struct vctx *c, const char *key);

static const struct vnode n_str = { .types = T_STR };
static const struct vnode n_str_null = { .types = T_STR | T_NULL };
static const struct vnode n_bool = { .types = T_BOOL };
static const struct vnode n_bool_null = { .types = T_BOOL | T_NULL };
static const struct vnode n_int_null = { .types = T_INT | T_NULL };
static const struct vnode n_free_obj = { .types = T_OBJ, .flags = F_OPEN };
static const struct vnode n_name = { .types = T_STR, .flags = F_NAME, .max_len = 64 };

/* Content parts. */
static const struct vnode n_cache_bp = { .types = T_OBJ, .props = PROPS(
	{ "mode", STR_ENUM("explicit"), REQ }) };

static const struct vnode n_part_text = { .types = T_OBJ, .props = PROPS(
	{ "type", &n_str, REQ },
	{ "text", &n_str, REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_image = { .types = T_OBJ, .props = PROPS(
	{ "type", &n_str, REQ },
	{ "image_url", NODE(.types = T_OBJ, .props = PROPS(
		{ "url", &n_str, REQ },
		{ "detail", STR_ENUM("auto", "low", "high"), OPT })), REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_audio = { .types = T_OBJ, .props = PROPS(
	{ "type", &n_str, REQ },
	{ "input_audio", NODE(.types = T_OBJ, .props = PROPS(
		{ "data", &n_str, REQ },
		{ "format", STR_ENUM("wav", "mp3"), REQ })), REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_file = { .types = T_OBJ, .props = PROPS(
	{ "type", &n_str, REQ },
	{ "file", NODE(.types = T_OBJ, .props = PROPS(
		{ "filename", &n_str, OPT },
		{ "file_data", &n_str, OPT },
		{ "file_id", &n_str, OPT })), REQ },
	{ "prompt_cache_breakpoint", &n_cache_bp, OPT }) };

static const struct vnode n_part_refusal = { .types = T_OBJ, .props = PROPS(
	{ "type", &n_str, REQ },
	{ "refusal", &n_str, REQ }) };

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
			{ "id", &n_str, REQ },
			{ "type", &n_str, REQ },
			{ "function", NODE(.types = T_OBJ, .props = PROPS(
				{ "name", &n_str, REQ },
				{ "arguments", &n_str, REQ })), REQ })) },
		{ "custom", NODE(.types = T_OBJ, .props = PROPS(
			{ "id", &n_str, REQ },
			{ "type", &n_str, REQ },
			{ "custom", NODE(.types = T_OBJ, .props = PROPS(
				{ "name", &n_str, REQ },
				{ "input", &n_str, REQ })), REQ })) })) };

static const struct vnode n_msg_text_role = { .types = T_OBJ, .props = PROPS(
	{ "content", &n_content_text, REQ },
	{ "role", &n_str, REQ },
	{ "name", &n_str, OPT }) };

static const struct vnode n_msg_user = { .types = T_OBJ, .props = PROPS(
	{ "content", &n_content_user, REQ },
	{ "role", &n_str, REQ },
	{ "name", &n_str, OPT }) };

/* content may be absent here: check_assistant_content() says when */
static const struct vnode n_msg_assistant = { .types = T_OBJ, .props = PROPS(
	{ "content", &n_content_assistant, OPT },
	{ "refusal", &n_str_null, OPT },
	{ "role", &n_str, REQ },
	{ "name", &n_str, OPT },
	/* Not in OpenAI's request schema, but every answer's message has it, and
	 * the documented tool loop sends that message back as it came. */
	{ "annotations", NODE(.types = T_ARR | T_NULL), OPT },
	{ "audio", NODE(.types = T_OBJ | T_NULL, .props = PROPS({ "id", &n_str, REQ })), OPT },
	{ "tool_calls", &n_tool_calls, OPT },
	{ "function_call", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "arguments", &n_str, REQ },
		{ "name", &n_str, REQ })), OPT }) };

static const struct vnode n_msg_tool = { .types = T_OBJ, .props = PROPS(
	{ "role", &n_str, REQ },
	{ "content", &n_content_text, REQ },
	{ "tool_call_id", &n_str, REQ }) };

static const struct vnode n_msg_function = { .types = T_OBJ, .props = PROPS(
	{ "role", &n_str, REQ },
	{ "content", &n_str_null, REQ },
	{ "name", &n_str, REQ }) };

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
	{ "name", &n_name, REQ },
	{ "description", &n_str, OPT },
	{ "parameters", &n_free_obj, OPT },
	{ "strict", &n_bool_null, OPT }) };

static const struct vnode n_custom_format = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "text", NODE(.types = T_OBJ, .props = PROPS({ "type", &n_str, REQ })) },
	{ "grammar", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &n_str, REQ },
		{ "grammar", NODE(.types = T_OBJ, .props = PROPS(
			{ "definition", &n_str, REQ },
			{ "syntax", STR_ENUM("lark", "regex"), REQ })), REQ })) }) };

static const struct vnode n_tool = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "function", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &n_str, REQ },
		{ "function", &n_function_obj, REQ })) },
	{ "custom", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &n_str, REQ },
		{ "custom", NODE(.types = T_OBJ, .props = PROPS(
			{ "name", &n_str, REQ },
			{ "description", &n_str, OPT },
			{ "format", &n_custom_format, OPT })), REQ })) }) };

static const struct vnode n_tool_choice = { .types = T_STR | T_OBJ,
	.enums = ENUM("none", "auto", "required"),
	.disc = "type", .variants = VARIANTS(
	{ "function", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &n_str, REQ },
		{ "function", NODE(.types = T_OBJ, .props = PROPS({ "name", &n_str, REQ })), REQ })) },
	{ "custom", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &n_str, REQ },
		{ "custom", NODE(.types = T_OBJ, .props = PROPS({ "name", &n_str, REQ })), REQ })) },
	{ "allowed_tools", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &n_str, REQ },
		{ "allowed_tools", NODE(.types = T_OBJ, .props = PROPS(
			{ "mode", STR_ENUM("auto", "required"), REQ },
			{ "tools", NODE(.types = T_ARR, .items = &n_free_obj), REQ })), REQ })) }) };

static const struct vnode n_response_format = { .types = T_OBJ, .disc = "type", .variants = VARIANTS(
	{ "text", NODE(.types = T_OBJ, .props = PROPS({ "type", &n_str, REQ })) },
	{ "json_schema", NODE(.types = T_OBJ, .props = PROPS(
		{ "type", &n_str, REQ },
		{ "json_schema", NODE(.types = T_OBJ, .props = PROPS(
			{ "description", &n_str, OPT },
			{ "name", &n_name, REQ },
			{ "schema", &n_free_obj, OPT },
			{ "strict", &n_bool_null, OPT })), REQ })) },
	{ "json_object", NODE(.types = T_OBJ, .props = PROPS({ "type", &n_str, REQ })) }) };

/* Everything else the request may carry. */
static const struct vnode n_moderation_config = { .types = T_OBJ | T_NULL, .props = PROPS(
	{ "mode", STR_ENUM("score", "block"), REQ }) };

static const struct vnode n_web_search = { .types = T_OBJ, .props = PROPS(
	{ "user_location", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "type", STR_ENUM("approximate"), REQ },
		{ "approximate", NODE(.types = T_OBJ, .props = PROPS(
			{ "country", &n_str, OPT },
			{ "region", &n_str, OPT },
			{ "city", &n_str, OPT },
			{ "timezone", &n_str, OPT })), REQ })), OPT },
	{ "search_context_size", STR_ENUM("low", "medium", "high"), OPT }) };

static const struct vnode n_request = { .types = T_OBJ, .props = PROPS(
	{ "messages", NODE(.types = T_ARR, .min_items = 1, .items = &n_message), REQ },
	{ "model", &n_str, REQ },
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
		{ "voice", NODE(.types = T_STR | T_OBJ, .props = PROPS({ "id", &n_str, REQ })), REQ },
		{ "format", STR_ENUM("wav", "aac", "mp3", "flac", "opus", "pcm16"), REQ })), OPT },
	{ "store", &n_bool_null, OPT },
	{ "moderation", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "model", &n_str, REQ },
		{ "policy", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
			{ "input", &n_moderation_config, OPT },
			{ "output", &n_moderation_config, OPT })), OPT })), OPT },
	{ "stream", &n_bool_null, OPT },
	{ "stop", NODE(.types = T_STR | T_ARR | T_NULL, .min_items = 1, .max_items = 4,
		       .items = &n_str), OPT },
	{ "logit_bias", NODE(.types = T_OBJ | T_NULL, .flags = F_MAP,
			     .items = RANGE(T_INT, -100, 100), .key_check = logit_bias_key), OPT },
	{ "logprobs", &n_bool_null, OPT },
	{ "max_tokens", NODE(.types = T_INT | T_NULL, .flags = F_MIN, .min = 1), OPT },
	{ "n", RANGE(T_INT | T_NULL, 1, 128), OPT },
	{ "prediction", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "type", STR_ENUM("content"), REQ },
		{ "content", &n_content_text, REQ })), OPT },
	{ "seed", &n_int_null, OPT },
	{ "stream_options", NODE(.types = T_OBJ | T_NULL, .props = PROPS(
		{ "include_usage", &n_bool, OPT },
		{ "include_obfuscation", &n_bool, OPT })), OPT },
	{ "tools", NODE(.types = T_ARR, .max_items = 128, .items = &n_tool), OPT },
	{ "tool_choice", &n_tool_choice, OPT },
	{ "parallel_tool_calls", &n_bool, OPT },
	{ "function_call", NODE(.types = T_STR | T_OBJ, .enums = ENUM("none", "auto"),
				.props = PROPS({ "name", &n_str, REQ })), OPT },
	{ "functions", NODE(.types = T_ARR, .min_items = 1, .max_items = 128,
			    .items = NODE(.types = T_OBJ, .props = PROPS(
		{ "name", &n_name, REQ },
		{ "description", &n_str, OPT },
		{ "parameters", &n_free_obj, OPT }))), OPT },
	{ "metadata", NODE(.types = T_OBJ | T_NULL, .flags = F_MAP, .max_props = 16,
			   .items = NODE(.types = T_STR, .max_len = 512),
			   .key_check = metadata_key), OPT },
	{ "temperature", RANGE(T_NUM | T_NULL, 0, 2), OPT },
	{ "top_p", RANGE(T_NUM | T_NULL, 0, 1), OPT },
	{ "user", &n_str, OPT },
	{ "safety_identifier", NODE(.types = T_STR | T_NULL, .max_len = 64), OPT },
	{ "prompt_cache_key", &n_str_null, OPT },
	{ "prompt_cache_retention", STR_ENUM_NULL("in_memory", "24h"), OPT },
	{ "prompt_cache_options", NODE(.types = T_OBJ, .props = PROPS(
		{ "ttl", STR_ENUM("30m"), OPT },
		{ "mode", STR_ENUM("implicit", "explicit"), OPT })), OPT }) };

/* ---- the walker ---- */

/* Appends to the path, truncating as snprintf would. The walker pushes a
 * key or an index for every value of every body, so no printf here. */
static void path_put(struct vctx *c, const char *s, size_t n)
{
	size_t room = sizeof c->path - 1 - c->len;
	if (n > room)
		n = room;
	memcpy(c->path + c->len, s, n);
	c->len += n;
	c->path[c->len] = '\0';
}

static size_t path_push_key(struct vctx *c, const char *key)
{
	size_t old = c->len;
	if (c->len)
		path_put(c, ".", 1);
	path_put(c, key, strlen(key));
	return old;
}

static size_t path_push_index(struct vctx *c, size_t i)
{
	size_t old = c->len;
	char d[24];
	size_t k = sizeof d;
	d[--k] = ']';
	do
		d[--k] = (char)('0' + i % 10);
	while ((i /= 10) && k > 1);
	d[--k] = '[';
	path_put(c, d + k, sizeof d - k);
	return old;
}

static void path_pop(struct vctx *c, size_t old)
{
	c->len = old;
	c->path[old] = '\0';
}

static unsigned type_bit(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null: return T_NULL;
	case json_type_boolean: return T_BOOL;
	case json_type_int: return T_INT;
	case json_type_double: return T_DEC;
	case json_type_string: return T_STR;
	case json_type_array: return T_ARR;
	case json_type_object: return T_OBJ;
	}
	return T_NULL;
}

static const char *type_article(unsigned bit)
{
	switch (bit) {
	case T_BOOL: return "a boolean";
	case T_INT: return "an integer";
	case T_DEC: return "a decimal";
	case T_STR: return "a string";
	case T_ARR: return "an array";
	case T_OBJ: return "an object";
	default: return "null";
	}
}

/* "a string", or "one of a string or an array"; null goes unmentioned. */
static void describe_types(unsigned types, strbuf *out)
{
	static const unsigned order[] = { T_STR, T_INT, T_DEC, T_BOOL, T_ARR, T_OBJ };
	unsigned want[6];
	size_t n = 0;
	if (types & T_DEC)
		types &= ~(unsigned)T_INT;  /* an integer is a decimal too */
	for (size_t i = 0; i < 6; i++)
		if (types & order[i])
			want[n++] = order[i];
	if (n > 1)
		sb_puts(out, "one of ");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_puts(out, i + 1 == n ? " or " : ", ");
		sb_puts(out, type_article(want[i]));
	}
}

static int type_error(struct vctx *c, unsigned types, json_object *o)
{
	strbuf want = STRBUF_INIT;
	describe_types(types, &want);
	oa_invalid(c->err, "invalid_type", c->path,
		   "Invalid type for '%s': expected %s, but got %s instead.",
		   c->path, sb_str(&want), type_article(type_bit(o)));
	sb_free(&want);
	return -1;
}

static int missing(struct vctx *c, const char *name)
{
	size_t old = path_push_key(c, name);
	oa_invalid(c->err, "missing_required_parameter", c->path,
		   "Missing required parameter: '%s'.", c->path);
	path_pop(c, old);
	return -1;
}

/* "Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'." */
static int enum_error(struct vctx *c, const char *s, size_t len, const char *const *allowed)
{
	strbuf list = STRBUF_INIT;
	size_t n = 0;
	while (allowed[n])
		n++;
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_puts(&list, n == 2 ? " and " : i + 1 == n ? ", and " : ", ");
		sb_printf(&list, "'%s'", allowed[i]);
	}
	oa_invalid(c->err, "invalid_value", c->path,
		   "Invalid value: '%.*s'. Supported values are: %s.",
		   (int)(len > 100 ? 100 : len), s, sb_str(&list));
	sb_free(&list);
	return -1;
}

static bool str_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static bool in_enum(const char *const *allowed, const char *s, size_t len)
{
	for (; *allowed; allowed++)
		if (str_is(s, len, *allowed))
			return true;
	return false;
}

/* Characters, as OpenAI counts string lengths; the guard vouched for UTF-8. */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static bool name_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
		      || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static int v_string(struct vctx *c, json_object *o, const struct vnode *n)
{
	const char *s = json_object_get_string(o);
	size_t len = (size_t)json_object_get_string_len(o);
	if (n->enums && !in_enum(n->enums, s, len))
		return enum_error(c, s, len, n->enums);
	size_t chars = n->max_len ? utf8_chars(s, len) : 0;
	if (chars > n->max_len)
		return oa_invalid(c->err, "string_above_max_length", c->path,
				  "Invalid '%s': string too long. Expected a string with maximum "
				  "length %zu, but got a string with length %zu instead.",
				  c->path, n->max_len, chars);
	if ((n->flags & F_NAME) && !name_ok(s, len))
		return oa_invalid(c->err, "invalid_value", c->path,
				  "Invalid '%s': string does not match pattern. Expected a string "
				  "that matches the pattern '^[a-zA-Z0-9_-]+$'.", c->path);
	return 0;
}

static int v_number(struct vctx *c, json_object *o, const struct vnode *n)
{
	bool dec = n->types & T_DEC;
	const char *kind = dec ? "decimal" : "integer";
	double v = json_object_get_double(o);
	if ((n->flags & F_MAX) && v > n->max)
		return oa_invalid(c->err, dec ? "decimal_above_max_value" : "integer_above_max_value",
				  c->path, "Invalid '%s': %s above maximum value. Expected a value "
				  "<= %g, but got %s instead.",
				  c->path, kind, n->max, json_object_to_json_string(o));
	if ((n->flags & F_MIN) && v < n->min)
		return oa_invalid(c->err, dec ? "decimal_below_min_value" : "integer_below_min_value",
				  c->path, "Invalid '%s': %s below minimum value. Expected a value "
				  ">= %g, but got %s instead.",
				  c->path, kind, n->min, json_object_to_json_string(o));
	return 0;
}

static int v_node(struct vctx *c, json_object *o, const struct vnode *n);

static int v_array(struct vctx *c, json_object *o, const struct vnode *n)
{
	size_t len = json_object_array_length(o);
	if (len == 0 && n->min_items)
		return oa_invalid(c->err, "empty_array", c->path,
				  "Invalid '%s': empty array. Expected an array with minimum length "
				  "%zu, but got an empty array instead.", c->path, n->min_items);
	if (len < n->min_items)
		return oa_invalid(c->err, "array_below_min_length", c->path,
				  "Invalid '%s': array too short. Expected an array with minimum "
				  "length %zu, but got an array with length %zu instead.",
				  c->path, n->min_items, len);
	if (n->max_items && len > n->max_items)
		return oa_invalid(c->err, "array_above_max_length", c->path,
				  "Invalid '%s': array too long. Expected an array with maximum "
				  "length %zu, but got an array with length %zu instead.",
				  c->path, n->max_items, len);
	if (!n->items)
		return 0;
	for (size_t i = 0; i < len; i++) {
		size_t old = path_push_index(c, i);
		int rc = v_node(c, json_object_array_get_idx(o, i), n->items);
		path_pop(c, old);
		if (rc)
			return -1;
	}
	return 0;
}

static int v_map(struct vctx *c, json_object *o, const struct vnode *n)
{
	size_t count = (size_t)json_object_object_length(o);
	if (n->max_props && count > n->max_props)
		return oa_invalid(c->err, "object_above_max_properties", c->path,
				  "Invalid '%s': too many properties. Expected an object with at "
				  "most %zu properties, but got an object with %zu properties instead.",
				  c->path, n->max_props, count);
	json_object_object_foreach(o, key, val) {
		size_t old = path_push_key(c, key);
		int rc = (n->key_check && n->key_check(c, key)) || v_node(c, val, n->items);
		path_pop(c, old);
		if (rc)
			return -1;
	}
	return 0;
}

static const struct vprop *find_prop(const struct vprop *p, const char *name)
{
	for (; p && p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static int v_props(struct vctx *c, json_object *o, const struct vprop *props)
{
	json_object_object_foreach(o, key, val) {
		const struct vprop *p = find_prop(props, key);
		size_t old = path_push_key(c, key);
		int rc = p ? v_node(c, val, p->node)
			   : oa_invalid(c->err, "unknown_parameter", c->path,
					"Unknown parameter: '%s'.", c->path);
		path_pop(c, old);
		if (rc)
			return -1;
	}
	for (const struct vprop *p = props; p && p->name; p++)
		if (p->required && !json_object_object_get_ex(o, p->name, NULL))
			return missing(c, p->name);
	return 0;
}

static int v_variant(struct vctx *c, json_object *o, const struct vnode *n)
{
	json_object *d;
	if (!json_object_object_get_ex(o, n->disc, &d))
		return missing(c, n->disc);
	size_t old = path_push_key(c, n->disc);
	if (!json_object_is_type(d, json_type_string)) {
		type_error(c, T_STR, d);
		path_pop(c, old);
		return -1;
	}
	const char *s = json_object_get_string(d);
	size_t len = (size_t)json_object_get_string_len(d);
	const struct vvariant *v;
	for (v = n->variants; v->value; v++)
		if (str_is(s, len, v->value))
			break;
	if (!v->value) {
		const char *names[16];
		size_t k = 0;
		for (const struct vvariant *w = n->variants; w->value && k < 15; w++)
			names[k++] = w->value;
		names[k] = NULL;
		enum_error(c, s, len, names);
		path_pop(c, old);
		return -1;
	}
	path_pop(c, old);
	return v_props(c, o, v->node->props);
}

static int v_object(struct vctx *c, json_object *o, const struct vnode *n)
{
	if (n->flags & F_OPEN)
		return 0;
	if (n->flags & F_MAP)
		return v_map(c, o, n);
	if (n->disc)
		return v_variant(c, o, n);
	return v_props(c, o, n->props);
}

static int v_node(struct vctx *c, json_object *o, const struct vnode *n)
{
	unsigned t = type_bit(o);
	unsigned allowed = n->types;
	if (allowed & T_DEC)
		allowed |= T_INT;
	if (!(allowed & t))
		return type_error(c, n->types, o);
	switch (t) {
	case T_STR: return v_string(c, o, n);
	case T_INT: case T_DEC: return v_number(c, o, n);
	case T_ARR: return v_array(c, o, n);
	case T_OBJ: return v_object(c, o, n);
	default: return 0;
	}
}

/* Token ids are what the tokenizer numbers: decimal digits only. */
static int logit_bias_key(struct vctx *c, const char *key)
{
	size_t len = strlen(key);
	bool ok = len > 0 && len <= 10;
	for (size_t i = 0; ok && i < len; i++)
		ok = key[i] >= '0' && key[i] <= '9';
	if (ok)
		return 0;
	return oa_invalid(c->err, "invalid_value", c->path,
			  "Invalid key in 'logit_bias': '%.64s'. Keys must be token IDs "
			  "(non-negative integers).", key);
}

static int metadata_key(struct vctx *c, const char *key)
{
	size_t chars = utf8_chars(key, strlen(key));
	if (chars <= 64)
		return 0;
	return oa_invalid(c->err, "string_above_max_length", c->path,
			  "Invalid 'metadata': key too long. Expected a key with maximum "
			  "length 64, but got a key with length %zu instead.", chars);
}

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
	if (json_guard_parse(body, len, &root, err))
		return -1;
	if (!json_object_is_type(root, json_type_object)) {
		oa_invalid(err, "invalid_type", NULL,
			   "Invalid type for body: expected an object, but got %s instead.",
			   type_article(type_bit(root)));
		json_object_put(root);
		return -1;
	}
	struct vctx c = { .err = err };
	if (v_node(&c, root, &n_request) || check_rules(root, err)) {
		json_object_put(root);
		return -1;
	}
	req->root = root;
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
