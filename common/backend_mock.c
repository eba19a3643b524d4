/* backend_mock.c: the mock model: canned or echoed text, tool calls and JSON shaped by the request */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* memmem */
#endif
#include "backend.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "chat_response.h"
#include "config.h"
#include "sse.h"
#include "strbuf.h"
#include "tokens.h"

#define CANNED_TEXT "THIS IS THE MOCKED CHAT RESPONSE FROM OPENAI API BLUEPRINT. " \
	"If you see this message, your chat endpoint is working correctly!"
#define SCHEMA_DEPTH 8      /* deeper objects and arrays come out empty */
#define MAX_ARRAY_ITEMS 16  /* minItems beyond this is not honoured */
#define CALL_ID_CHARS 24

/* ---- instances of a JSON Schema, for tool arguments and json_schema ---- */

static void schema_instance(json_object *root, json_object *s, strbuf *out, int depth);

static json_object *member(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void put_json(strbuf *out, json_object *v)
{
	sb_puts(out, json_object_to_json_string_ext(v,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Follows a local reference ("#/$defs/x"); NULL when it leads nowhere. */
static json_object *resolve_ref(json_object *root, const char *ref)
{
	if (ref[0] != '#')
		return NULL;
	json_object *at = root;
	const char *p = ref + 1;
	while (at && *p == '/') {
		p++;
		size_t len = strcspn(p, "/");
		char key[128];
		size_t k = 0;
		for (size_t i = 0; i < len && k + 1 < sizeof(key); i++) {
			/* JSON Pointer escapes: ~1 is '/', ~0 is '~' */
			if (p[i] == '~' && i + 1 < len && (p[i + 1] == '0' || p[i + 1] == '1')) {
				key[k++] = p[i + 1] == '1' ? '/' : '~';
				i++;
			} else {
				key[k++] = p[i];
			}
		}
		key[k] = '\0';
		at = member(at, key);
		p += len;
	}
	return at;
}

/* The schema's type: "type" itself (the first non-null of a list), else
 * what its keywords imply; NULL when it says nothing. */
static const char *schema_type(json_object *s)
{
	json_object *t = member(s, "type");
	if (t && json_object_is_type(t, json_type_string))
		return json_object_get_string(t);
	if (t && json_object_is_type(t, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(t); i++) {
			const char *name = json_object_get_string(json_object_array_get_idx(t, i));
			if (name && strcmp(name, "null") != 0)
				return name;
		}
		return "null";
	}
	if (member(s, "properties"))
		return "object";
	if (member(s, "items"))
		return "array";
	return NULL;
}

static double num_member(json_object *s, const char *key, double dflt, int *found)
{
	json_object *v = member(s, key);
	if (v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))) {
		*found = 1;
		return json_object_get_double(v);
	}
	*found = 0;
	return dflt;
}

/* The least value the bounds allow, or 1 when that is allowed too. */
static double number_value(json_object *s, int integer)
{
	int has_min, has_xmin, has_max;
	double v = 1;
	double min = num_member(s, "minimum", 0, &has_min);
	double xmin = num_member(s, "exclusiveMinimum", 0, &has_xmin);
	double max = num_member(s, "maximum", 0, &has_max);
	if (has_min)
		v = min;
	else if (has_xmin)
		v = integer ? xmin + 1 : xmin + 0.5;
	if (integer && v != (double)(long long)v)
		v = (double)(long long)v + (v > 0 ? 1 : 0);
	if (has_max && v > max)
		v = integer ? (double)(long long)max : max;
	return v;
}

static void string_instance(json_object *s, strbuf *out)
{
	static const struct { const char *format, *example; } formats[] = {
		{ "date-time", "2024-01-01T00:00:00Z" }, { "date", "2024-01-01" },
		{ "time", "00:00:00Z" }, { "email", "user@example.com" },
		{ "uri", "https://example.com/" }, { "url", "https://example.com/" },
		{ "uuid", "00000000-0000-4000-8000-000000000000" },
	};
	const char *format = json_object_get_string(member(s, "format"));
	for (size_t i = 0; format && i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(format, formats[i].format) == 0) {
			sb_json_str(out, formats[i].example, strlen(formats[i].example));
			return;
		}
	}
	char buf[64] = "example";
	int has;
	size_t len = strlen(buf);
	size_t min = (size_t)num_member(s, "minLength", 0, &has);
	size_t max = (size_t)num_member(s, "maxLength", sizeof(buf) - 1, &has);
	while (len < min && len < sizeof(buf) - 1)
		buf[len++] = 'x';
	if (len > max)
		len = max;
	sb_json_str(out, buf, len);
}

static void object_instance(json_object *root, json_object *s, strbuf *out, int depth)
{
	sb_putc(out, '{');
	json_object *props = member(s, "properties");
	if (depth < SCHEMA_DEPTH && props && json_object_is_type(props, json_type_object)) {
		int first = 1;
		json_object_object_foreach(props, key, sub) {
			if (!first)
				sb_putc(out, ',');
			first = 0;
			sb_json_str(out, key, strlen(key));
			sb_putc(out, ':');
			schema_instance(root, sub, out, depth + 1);
		}
	}
	sb_putc(out, '}');
}

static void array_instance(json_object *root, json_object *s, strbuf *out, int depth)
{
	int has;
	long n = (long)num_member(s, "minItems", 1, &has);
	long max = (long)num_member(s, "maxItems", MAX_ARRAY_ITEMS, &has);
	if (n < 1)
		n = 1;
	if (n > MAX_ARRAY_ITEMS)
		n = MAX_ARRAY_ITEMS;
	if (max < n)
		n = max;
	if (depth >= SCHEMA_DEPTH)
		n = 0;
	sb_putc(out, '[');
	for (long i = 0; i < n; i++) {
		if (i)
			sb_putc(out, ',');
		schema_instance(root, member(s, "items"), out, depth + 1);
	}
	sb_putc(out, ']');
}

/* A branch of anyOf/oneOf/allOf to follow: the first that is not "null". */
static json_object *pick_branch(json_object *s)
{
	static const char *const keys[] = { "anyOf", "oneOf", "allOf" };
	for (size_t k = 0; k < 3; k++) {
		json_object *list = member(s, keys[k]);
		if (!list || !json_object_is_type(list, json_type_array))
			continue;
		size_t n = json_object_array_length(list);
		for (size_t i = 0; i < n; i++) {
			json_object *b = json_object_array_get_idx(list, i);
			const char *t = schema_type(b);
			if (!t || strcmp(t, "null") != 0)
				return b;
		}
		if (n)
			return json_object_array_get_idx(list, 0);
	}
	return NULL;
}

/* Appends a JSON value valid for schema s; root resolves "$ref". An absent
 * or empty schema allows anything: {} will do. */
static void schema_instance(json_object *root, json_object *s, strbuf *out, int depth)
{
	json_object *v;
	/* $ref loops end at the depth bound */
	if (depth > 2 * SCHEMA_DEPTH || !s || !json_object_is_type(s, json_type_object)) {
		sb_puts(out, "{}");
		return;
	}
	if ((v = member(s, "const"))) {
		put_json(out, v);
		return;
	}
	if ((v = member(s, "enum")) && json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) > 0) {
		put_json(out, json_object_array_get_idx(v, 0));
		return;
	}
	if ((v = member(s, "$ref")) && json_object_is_type(v, json_type_string)) {
		schema_instance(root, resolve_ref(root, json_object_get_string(v)), out, depth + 1);
		return;
	}
	const char *type = schema_type(s);
	if (!type && (v = pick_branch(s))) {
		schema_instance(root, v, out, depth + 1);
		return;
	}
	if (!type || strcmp(type, "object") == 0)
		object_instance(root, s, out, depth);
	else if (strcmp(type, "array") == 0)
		array_instance(root, s, out, depth);
	else if (strcmp(type, "string") == 0)
		string_instance(s, out);
	else if (strcmp(type, "integer") == 0)
		sb_printf(out, "%lld", (long long)number_value(s, 1));
	else if (strcmp(type, "number") == 0) {
		double d = number_value(s, 0);
		if (d == (double)(long long)d)
			sb_printf(out, "%lld.0", (long long)d);
		else
			sb_printf(out, "%.17g", d);
	} else if (strcmp(type, "boolean") == 0)
		sb_puts(out, "true");
	else if (strcmp(type, "null") == 0)
		sb_puts(out, "null");
	else
		sb_puts(out, "{}");
}

/* ---- the text of the answer ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Where the piece starting at i ends: its leading whitespace, then one
 * word. Pieces concatenate back to the text, and their token counts add up
 * to the text's (see tokens.h). */
static size_t piece_end(const char *s, size_t i, size_t n)
{
	while (i < n && is_space(s[i]))
		i++;
	while (i < n && !is_space(s[i]))
		i++;
	return i;
}

static int is_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* Backs len off to the start of a UTF-8 character, so a cut never splits
 * one; stray continuation bytes (invalid, a token each) are left alone. */
static size_t char_floor(const char *s, size_t len, size_t n)
{
	if (len >= n || !is_continuation(s[len]))
		return len;
	size_t k = len;
	while (k > 0 && len - k < 3 && is_continuation(s[k]))
		k--;
	return is_continuation(s[k]) ? len : k;
}

/* The longest prefix of s[0..n) of at most max tokens, cut between
 * characters. The count only grows with whole characters added, so a
 * binary search finds it without rescanning a long word for each byte. */
static size_t fitting_prefix(const char *s, size_t n, long max)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		if (tok_count(s, char_floor(s, mid, n)) <= max)
			lo = mid;
		else
			hi = mid - 1;
	}
	return char_floor(s, lo, n);
}

/* How much of s fits in max tokens, cut at a word boundary; only when not
 * even the first word fits is a word cut. */
static size_t cut_to_tokens(const char *s, size_t n, long max)
{
	long used = 0;
	size_t i = 0;
	while (i < n) {
		size_t e = piece_end(s, i, n);
		long t = tok_count(s + i, e - i);
		if (used + t > max)
			return i ? i : fitting_prefix(s, e, max);
		used += t;
		i = e;
	}
	return n;
}

/* Where the first occurrence of any stop string begins, or n. */
static size_t stop_at(const struct chat_request *req, const char *s, size_t n)
{
	size_t cut = n;
	for (int k = 0; k < req->n_stop; k++) {
		const char *stop = req->stop[k];
		if (!stop || !*stop)
			continue;
		const char *hit = memmem(s, n, stop, strlen(stop));
		if (hit && (size_t)(hit - s) < cut)
			cut = (size_t)(hit - s);
	}
	return cut;
}

static void last_user_text(const struct chat_request *req, strbuf *out)
{
	for (size_t i = req->n_messages; i-- > 0;) {
		const struct chat_message *m = &req->messages[i];
		if (m->role == ROLE_USER) {
			if (m->text)
				sb_append(out, m->text, m->text_len);
			return;
		}
	}
}

/* The whole answer before any cut: the model's text, shaped by
 * response_format. */
static void answer_text(const struct model_cfg *model, const struct chat_request *req,
			strbuf *out)
{
	strbuf text = STRBUF_INIT;
	if (model && model->mock.mode == MOCK_ECHO)
		last_user_text(req, &text);
	else
		sb_puts(&text, CANNED_TEXT);
	switch (req->response_format) {
	case RF_JSON_OBJECT:
		sb_puts(out, "{\"message\":");
		sb_json_str(out, sb_str(&text), text.len);
		sb_putc(out, '}');
		break;
	case RF_JSON_SCHEMA:
		schema_instance(req->json_schema, req->json_schema, out, 0);
		break;
	default:
		sb_append(out, sb_str(&text), text.len);
	}
	sb_free(&text);
}

/* ---- sending it ---- */

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The pause between two words, with a keep-alive comment to the client
 * every STREAM_PING_S of it (a long delay is a silence like any other).
 * The probe period is not used: the mock's silence is its own and ends
 * with the next word, whose write finds a departed client. 0, or -1 when
 * the client is gone. */
static int pause_pinging(const struct model_cfg *model, const struct chat_sink *sink, long ms)
{
	long every = sink->keepalive ? sse_keepalive_period(model->ping_ms, 0) : 0;
	while (every > 0 && ms > every) {
		pause_ms(every);
		ms -= every;
		if (sink->keepalive(sink->ctx) < 0)
			return -1;
	}
	pause_ms(ms);
	return 0;
}

static int choices(const struct chat_request *req)
{
	return req->n > 0 ? req->n : 1;
}

/* Every choice gets the same text: word by word when streaming, pausing
 * between words as a model would, else in one piece. */
static int send_text(const struct model_cfg *model, const struct chat_request *req,
		     const struct chat_sink *sink, const char *s, size_t n)
{
	int nc = choices(req);
	if (!req->stream || n == 0) {
		for (int c = 0; c < nc; c++)
			if (sink->delta(sink->ctx, c, "assistant", s, n) < 0)
				return -1;
		return 0;
	}
	long delay = model ? model->mock.delay_ms : 0;
	for (size_t i = 0; i < n;) {
		size_t e = piece_end(s, i, n);
		for (int c = 0; c < nc; c++)
			if (sink->delta(sink->ctx, c, i == 0 ? "assistant" : NULL, s + i, e - i) < 0)
				return -1;
		i = e;
		if (i < n && delay > 0 && pause_pinging(model, sink, delay) < 0)
			return -1;
	}
	return 0;
}

static int answer_with_text(const struct model_cfg *model, const struct chat_request *req,
			    const struct chat_sink *sink, long *completion)
{
	strbuf text = STRBUF_INIT;
	answer_text(model, req, &text);
	size_t n = stop_at(req, sb_str(&text), text.len);
	const char *finish = "stop";
	if (req->max_tokens >= 1) {
		size_t fit = cut_to_tokens(sb_str(&text), n, req->max_tokens);
		if (fit < n) {
			n = fit;
			finish = "length";
		}
	}
	int rc = send_text(model, req, sink, sb_str(&text), n);
	for (int c = 0; rc == 0 && c < choices(req); c++)
		rc = sink->finish(sink->ctx, c, finish);
	*completion = tok_count(sb_str(&text), n) * choices(req);
	sb_free(&text);
	return rc;
}

/* A tool call is the answer when the client demands one, unless the last
 * message is a tool's result: then the call was made, and answering it with
 * another would never let a client's tool loop end. */
static const struct chat_tool *tool_to_call(const struct chat_request *req)
{
	if (req->n_tools == 0)
		return NULL;
	if (req->tool_choice != TOOL_CHOICE_REQUIRED && req->tool_choice != TOOL_CHOICE_NAMED)
		return NULL;
	if (req->n_messages > 0) {
		enum chat_role last = req->messages[req->n_messages - 1].role;
		if (last == ROLE_TOOL || last == ROLE_FUNCTION)
			return NULL;
	}
	if (req->tool_choice == TOOL_CHOICE_NAMED && req->tool_choice_name) {
		for (size_t i = 0; i < req->n_tools; i++)
			if (req->tools[i].name && strcmp(req->tools[i].name, req->tool_choice_name) == 0)
				return &req->tools[i];
	}
	return &req->tools[0];
}

static int answer_with_call(const struct chat_request *req, const struct chat_tool *tool,
			    const struct chat_sink *sink, long *completion)
{
	strbuf args = STRBUF_INIT;
	schema_instance(tool->parameters, tool->parameters, &args, 0);
	const char *name = tool->name ? tool->name : "";
	const char *finish = req->legacy_functions ? "function_call" : "tool_calls";
	int rc = 0;
	*completion = 0;
	for (int c = 0; rc == 0 && c < choices(req); c++) {
		char id[5 + CALL_ID_CHARS + 1] = "call_";
		chat_random_alnum(id + 5, CALL_ID_CHARS);
		rc = sink->delta(sink->ctx, c, "assistant", NULL, 0);
		if (rc == 0)
			rc = sink->tool_call(sink->ctx, c, 0, id, name, sb_str(&args));
		if (rc == 0)
			rc = sink->finish(sink->ctx, c, finish);
		*completion += tok_count(name, strlen(name)) + tok_count(sb_str(&args), args.len);
	}
	sb_free(&args);
	return rc;
}

static int mock_chat(const struct model_cfg *model, const struct chat_request *req,
		     const struct chat_sink *sink, oa_error *err)
{
	(void)err;  /* the mock cannot fail; only the client can go away */
	long completion = 0;
	const struct chat_tool *tool = tool_to_call(req);
	int rc = tool ? answer_with_call(req, tool, sink, &completion)
		      : answer_with_text(model, req, sink, &completion);
	if (rc < 0)
		return -1;
	struct chat_usage u = { tok_prompt(req), completion, 0 };
	u.total_tokens = u.prompt_tokens + u.completion_tokens;
	return sink->usage(sink->ctx, &u) < 0 ? -1 : 0;
}

const struct backend_ops backend_mock = {
	.name = "mock",
	.chat = mock_chat,
};
