/* responses_response.c: the Response object and its stream of events, built from what a backend answers */
#include "responses_response.h"

#include <stdlib.h>
#include <string.h>

#include "chat_response.h"
#include "json_check.h"
#include "responses_translate.h"
#include "sse.h"
#include "xalloc.h"

#define ID_RANDOM_CHARS 48   /* as long as OpenAI's rsp_/msg_/fc_ ids */

enum item_kind { ITEM_MESSAGE, ITEM_CALL };

struct rsp_item {
	enum item_kind kind;
	char id[56];
	char *call_id;           /* calls */
	char *name;
	strbuf text;             /* a message's text, a call's arguments */
	bool done;
};

void rsp_meta_init(struct rsp_meta *m, const char *model, json_object *request, long now)
{
	memcpy(m->id, "resp_", 5);
	chat_random_alnum(m->id + 5, ID_RANDOM_CHARS);
	m->created_at = now;
	m->model = model;
	m->request = request;
}

void rsp_builder_init(struct rsp_builder *b, const struct rsp_meta *meta, const body_writer *w)
{
	memset(b, 0, sizeof *b);
	b->meta = meta;
	b->w = w;
	b->open_message = -1;
	for (size_t i = 0; i < RSP_MAX_ITEMS; i++)
		b->call_item[i] = -1;
	b->items = xcalloc(RSP_MAX_ITEMS, sizeof *b->items);
}

void rsp_builder_free(struct rsp_builder *b)
{
	for (size_t i = 0; i < b->n_items; i++) {
		free(b->items[i].call_id);
		free(b->items[i].name);
		sb_free(&b->items[i].text);
	}
	free(b->items);
	sb_free(&b->ev);
	memset(b, 0, sizeof *b);
}

/* ---- JSON ---- */

static void put_str(strbuf *sb, const char *s)
{
	sb_json_str(sb, s ? s : "", s ? strlen(s) : 0);
}

static void put_json(strbuf *sb, json_object *v)
{
	sb_puts(sb, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ,"key": the request's member key, or dflt (raw JSON) when absent or null. */
static void echo_member(strbuf *sb, json_object *req, const char *key, const char *dflt)
{
	json_object *v = jc_field(req, key);
	sb_putc(sb, ',');
	put_str(sb, key);
	sb_putc(sb, ':');
	if (v)
		put_json(sb, v);
	else
		sb_puts(sb, dflt);
}

/* Function tools as the Response lists them: every member present, strict
 * defaulting to true as the Responses API does. */
static void tools_json(strbuf *sb, json_object *req)
{
	json_object *tools = jc_field(req, "tools");
	size_t n = tools ? json_object_array_length(tools) : 0;
	sb_puts(sb, ",\"tools\":[");
	for (size_t i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(tools, i), *v;
		if (i)
			sb_putc(sb, ',');
		sb_puts(sb, "{\"type\":\"function\",\"name\":");
		put_str(sb, jc_str(t, "name"));
		sb_puts(sb, ",\"description\":");
		if ((v = jc_field(t, "description")))
			put_json(sb, v);
		else
			sb_puts(sb, "null");
		sb_puts(sb, ",\"parameters\":");
		if ((v = jc_field(t, "parameters")))
			put_json(sb, v);
		else
			sb_puts(sb, "null");
		sb_printf(sb, ",\"strict\":%s}", jc_field(t, "strict") && !jc_true(t, "strict") ? "false" : "true");
	}
	sb_putc(sb, ']');
}

static void text_json(strbuf *sb, json_object *req)
{
	json_object *text = jc_field(req, "text");
	sb_puts(sb, ",\"text\":");
	if (text && jc_field(text, "format"))
		put_json(sb, text);
	else
		sb_puts(sb, "{\"format\":{\"type\":\"text\"}}");
}

static void item_json(strbuf *sb, const struct rsp_item *it, bool whole, bool cut)
{
	const char *status = !it->done ? "in_progress" : cut ? "incomplete" : "completed";
	sb_puts(sb, "{\"id\":");
	put_str(sb, it->id);
	if (it->kind == ITEM_MESSAGE) {
		sb_printf(sb, ",\"type\":\"message\",\"status\":\"%s\",\"role\":\"assistant\",\"content\":[", status);
		if (whole) {
			sb_puts(sb, "{\"type\":\"output_text\",\"text\":");
			sb_json_str(sb, sb_str(&it->text), it->text.len);
			sb_puts(sb, ",\"annotations\":[],\"logprobs\":[]}");
		}
		sb_puts(sb, "]}");
		return;
	}
	sb_printf(sb, ",\"type\":\"function_call\",\"status\":\"%s\",\"arguments\":", it->done ? "completed" : status);
	if (whole)
		sb_json_str(sb, sb_str(&it->text), it->text.len);
	else
		sb_puts(sb, "\"\"");
	sb_puts(sb, ",\"call_id\":");
	put_str(sb, it->call_id);
	sb_puts(sb, ",\"name\":");
	put_str(sb, it->name);
	sb_putc(sb, '}');
}

static void usage_json(strbuf *sb, const struct chat_usage *u)
{
	sb_printf(sb, ",\"usage\":{\"input_tokens\":%ld,\"input_tokens_details\":{\"cached_tokens\":0,"
		  "\"cache_write_tokens\":0},\"output_tokens\":%ld,\"output_tokens_details\":"
		  "{\"reasoning_tokens\":0},\"total_tokens\":%ld}",
		  u->prompt_tokens, u->completion_tokens, u->prompt_tokens + u->completion_tokens);
}

/* The Response in the given status; usage only once it is known (OpenAI's
 * "usage": null until then is not what its schema allows). */
static void response_json(const struct rsp_builder *b, const char *status, const oa_error *e, strbuf *sb)
{
	const struct rsp_meta *m = b->meta;
	json_object *req = m->request;
	bool final = strcmp(status, "in_progress") != 0;
	sb_puts(sb, "{\"id\":");
	put_str(sb, m->id);
	sb_printf(sb, ",\"object\":\"response\",\"created_at\":%ld,\"status\":\"%s\",\"background\":false",
		  m->created_at, status);
	if (final && !e)
		sb_printf(sb, ",\"completed_at\":%ld", m->created_at);
	sb_puts(sb, ",\"error\":");
	if (e) {
		/* Response errors have their own short list of codes */
		sb_printf(sb, "{\"code\":\"%s\",\"message\":", e->status == 429 ? "rate_limit_exceeded" : "server_error");
		put_str(sb, e->message);
		sb_putc(sb, '}');
	} else {
		sb_puts(sb, "null");
	}
	sb_printf(sb, ",\"incomplete_details\":%s",
		  strcmp(status, "incomplete") == 0 ? "{\"reason\":\"max_output_tokens\"}" : "null");
	echo_member(sb, req, "instructions", "null");
	echo_member(sb, req, "max_output_tokens", "null");
	sb_puts(sb, ",\"max_tool_calls\":null,\"model\":");
	put_str(sb, m->model);
	sb_puts(sb, ",\"output\":[");
	for (size_t i = 0; final && i < b->n_items; i++) {
		if (i)
			sb_putc(sb, ',');
		item_json(sb, &b->items[i], true, b->cut);
	}
	sb_putc(sb, ']');
	echo_member(sb, req, "parallel_tool_calls", "true");
	sb_puts(sb, ",\"previous_response_id\":null");
	echo_member(sb, req, "reasoning", "{\"effort\":null,\"summary\":null}");
	sb_puts(sb, ",\"service_tier\":\"default\"");
	echo_member(sb, req, "store", "true");
	echo_member(sb, req, "temperature", "1.0");
	text_json(sb, req);
	echo_member(sb, req, "tool_choice", "\"auto\"");
	tools_json(sb, req);
	echo_member(sb, req, "top_logprobs", "0");
	echo_member(sb, req, "top_p", "1.0");
	echo_member(sb, req, "truncation", "\"disabled\"");
	if (final && b->have_usage)
		usage_json(sb, &b->usage);
	echo_member(sb, req, "metadata", "{}");
	sb_putc(sb, '}');
}

void rsp_json(struct rsp_builder *b, strbuf *out)
{
	for (size_t i = 0; i < b->n_items; i++)
		b->items[i].done = true;
	response_json(b, b->cut ? "incomplete" : "completed", NULL, out);
}

/* ---- events ---- */

/* Starts an event of type: "event: <type>", then the data object opened
 * with its type and sequence_number; the caller adds members and sends. */
static strbuf *event_open(struct rsp_builder *b, const char *type)
{
	sb_reset(&b->ev);
	sb_printf(&b->ev, "{\"type\":\"%s\",\"sequence_number\":%ld", type, b->seq++);
	return &b->ev;
}

static int event_send(struct rsp_builder *b, const char *type)
{
	sb_putc(&b->ev, '}');
	strbuf frame = STRBUF_INIT;
	sb_printf(&frame, "event: %s\n", type);
	sse_event(&frame, b->ev.buf, b->ev.len);
	int rc = b->w->write(b->w->ctx, frame.buf, frame.len);
	if (rc == 0)
		rc = b->w->flush(b->w->ctx);
	sb_free(&frame);
	return rc;
}

static int response_event(struct rsp_builder *b, const char *type, const char *status, const oa_error *e)
{
	strbuf *ev = event_open(b, type);
	sb_puts(ev, ",\"response\":");
	response_json(b, status, e, ev);
	return event_send(b, type);
}

static int ensure_started(struct rsp_builder *b)
{
	if (!b->w || b->started)
		return 0;
	b->started = true;
	if (response_event(b, "response.created", "in_progress", NULL) < 0)
		return -1;
	return response_event(b, "response.in_progress", "in_progress", NULL);
}

static int item_event(struct rsp_builder *b, const char *type, size_t index)
{
	strbuf *ev = event_open(b, type);
	sb_printf(ev, ",\"output_index\":%zu,\"item\":", index);
	item_json(ev, &b->items[index], b->items[index].done, b->cut);
	return event_send(b, type);
}

static int part_event(struct rsp_builder *b, const char *type, size_t index)
{
	const struct rsp_item *it = &b->items[index];
	strbuf *ev = event_open(b, type);
	sb_puts(ev, ",\"item_id\":");
	put_str(ev, it->id);
	sb_printf(ev, ",\"output_index\":%zu,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":", index);
	if (it->done)
		sb_json_str(ev, sb_str(&it->text), it->text.len);
	else
		sb_puts(ev, "\"\"");
	sb_puts(ev, ",\"annotations\":[],\"logprobs\":[]}");
	return event_send(b, type);
}

/* A text delta or done, or a call's arguments delta or done. */
static int piece_event(struct rsp_builder *b, const char *type, size_t index, const char *key,
		       const char *s, size_t len)
{
	const struct rsp_item *it = &b->items[index];
	strbuf *ev = event_open(b, type);
	sb_puts(ev, ",\"item_id\":");
	put_str(ev, it->id);
	sb_printf(ev, ",\"output_index\":%zu", index);
	if (it->kind == ITEM_MESSAGE)
		sb_puts(ev, ",\"content_index\":0,\"logprobs\":[]");
	else if (strcmp(key, "arguments") == 0) {
		sb_puts(ev, ",\"name\":");
		put_str(ev, it->name);
	}
	sb_printf(ev, ",\"%s\":", key);
	sb_json_str(ev, s, len);
	return event_send(b, type);
}

/* Keeps len more bytes of the response, unless that makes it too big. */
static bool room_for(struct rsp_builder *b, size_t len)
{
	if (b->kept + len > RSP_MAX_TEXT) {
		b->too_big = true;
		return false;
	}
	b->kept += len;
	return true;
}

static struct rsp_item *new_item(struct rsp_builder *b, enum item_kind kind, const char *prefix)
{
	if (b->n_items >= RSP_MAX_ITEMS)
		return NULL;
	struct rsp_item *it = &b->items[b->n_items++];
	size_t p = strlen(prefix);
	memcpy(it->id, prefix, p);
	chat_random_alnum(it->id + p, ID_RANDOM_CHARS);
	it->kind = kind;
	return it;
}

static int finish_item(struct rsp_builder *b, size_t index)
{
	struct rsp_item *it = &b->items[index];
	if (it->done)
		return 0;
	it->done = true;
	if (!b->w)
		return 0;
	if (it->kind == ITEM_MESSAGE) {
		if (piece_event(b, "response.output_text.done", index, "text", sb_str(&it->text), it->text.len) < 0 ||
		    part_event(b, "response.content_part.done", index) < 0)
			return -1;
	} else if (piece_event(b, "response.function_call_arguments.done", index, "arguments",
			       sb_str(&it->text), it->text.len) < 0) {
		return -1;
	}
	return item_event(b, "response.output_item.done", index);
}

static int finish_open(struct rsp_builder *b)
{
	for (size_t i = 0; i < b->n_items; i++)
		if (finish_item(b, i) < 0)
			return -1;
	b->open_message = -1;
	return 0;
}

int rsp_text(struct rsp_builder *b, const char *text, size_t len)
{
	if (ensure_started(b) < 0)
		return -1;
	if (b->open_message < 0) {
		if (len == 0)
			return 0;  /* a role alone opens nothing: a call may follow */
		struct rsp_item *it = new_item(b, ITEM_MESSAGE, "msg_");
		if (!it)
			return 0;
		b->open_message = (int)(b->n_items - 1);
		if (b->w && (item_event(b, "response.output_item.added", (size_t)b->open_message) < 0 ||
			     part_event(b, "response.content_part.added", (size_t)b->open_message) < 0))
			return -1;
	}
	struct rsp_item *it = &b->items[b->open_message];
	if (!room_for(b, len))
		return -1;
	sb_append(&it->text, text, len);
	if (!b->w || len == 0)
		return 0;
	return piece_event(b, "response.output_text.delta", (size_t)b->open_message, "delta", text, len);
}

int rsp_call_begin(struct rsp_builder *b, int tc_index, const char *call_id, const char *name)
{
	if (ensure_started(b) < 0)
		return -1;
	if (b->open_message >= 0) {
		if (finish_item(b, (size_t)b->open_message) < 0)
			return -1;
		b->open_message = -1;
	}
	if (tc_index < 0 || tc_index >= RSP_MAX_ITEMS || b->call_item[tc_index] >= 0)
		return 0;
	struct rsp_item *it = new_item(b, ITEM_CALL, "fc_");
	if (!it)
		return 0;
	it->call_id = xstrdup(call_id ? call_id : "");
	it->name = xstrdup(name ? name : "");
	b->call_item[tc_index] = (int)(b->n_items - 1);
	return b->w ? item_event(b, "response.output_item.added", b->n_items - 1) : 0;
}

int rsp_call_arguments(struct rsp_builder *b, int tc_index, const char *piece, size_t len)
{
	if (tc_index < 0 || tc_index >= RSP_MAX_ITEMS || b->call_item[tc_index] < 0 || len == 0)
		return 0;
	size_t index = (size_t)b->call_item[tc_index];
	if (!room_for(b, len))
		return -1;
	sb_append(&b->items[index].text, piece, len);
	if (!b->w)
		return 0;
	return piece_event(b, "response.function_call_arguments.delta", index, "delta", piece, len);
}

int rsp_finish(struct rsp_builder *b, const char *finish_reason)
{
	if (finish_reason && strcmp(finish_reason, "length") == 0)
		b->cut = true;
	if (ensure_started(b) < 0)
		return -1;
	return finish_open(b);
}

void rsp_usage(struct rsp_builder *b, const struct chat_usage *u)
{
	b->usage = *u;
	b->have_usage = true;
}

int rsp_stream_end(struct rsp_builder *b)
{
	if (ensure_started(b) < 0 || finish_open(b) < 0)
		return -1;
	b->ended = true;
	return response_event(b, b->cut ? "response.incomplete" : "response.completed",
			      b->cut ? "incomplete" : "completed", NULL);
}

int rsp_stream_fail(struct rsp_builder *b, const oa_error *e)
{
	if (ensure_started(b) < 0)
		return -1;
	strbuf *ev = event_open(b, "error");
	sb_puts(ev, ",\"code\":");
	if (e->code[0])
		put_str(ev, e->code);
	else
		sb_puts(ev, "null");
	sb_puts(ev, ",\"message\":");
	put_str(ev, e->message);
	sb_puts(ev, ",\"param\":");
	if (e->param[0])
		put_str(ev, e->param);
	else
		sb_puts(ev, "null");
	if (event_send(b, "error") < 0)
		return -1;
	b->ended = true;
	return response_event(b, "response.failed", "failed", e);
}

/* ---- an upstream's own Responses API, passed on ---- */

void rsp_relay_init(struct rsp_relay *r, const char *model, const body_writer *w)
{
	memset(r, 0, sizeof *r);
	r->model = model;
	r->w = w;
}

void rsp_relay_free(struct rsp_relay *r)
{
	sb_free(&r->whole);
	sb_free(&r->ev);
}

static void map_model(json_object *o, const char *model)
{
	if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "model", NULL))
		json_object_object_add(o, "model", json_object_new_string(model));
}

static int relay_event(void *ctx, json_object *obj)
{
	struct rsp_relay *r = ctx;
	const char *type = jc_str(obj, "type");
	if (!r->w) {  /* a whole Response */
		map_model(obj, r->model);
		sb_reset(&r->whole);
		put_json(&r->whole, obj);
		r->have_whole = true;
		return 0;
	}
	json_object *resp = jc_field(obj, "response"), *seq = jc_field(obj, "sequence_number");
	map_model(resp, r->model);
	if (seq && json_object_is_type(seq, json_type_int))
		r->next_seq = (long)json_object_get_int64(seq) + 1;
	if (type && (strcmp(type, "response.completed") == 0 || strcmp(type, "response.incomplete") == 0 ||
		     strcmp(type, "response.failed") == 0))
		r->terminal = true;
	sb_reset(&r->ev);
	sb_printf(&r->ev, "event: %s\n", type ? type : "message");
	const char *data = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	sse_event(&r->ev, data, strlen(data));
	if (r->w->write(r->w->ctx, r->ev.buf, r->ev.len) < 0)
		return -1;
	return r->w->flush(r->w->ctx);
}

void rsp_relay_sink(struct rsp_relay *r, struct chat_sink *sink)
{
	memset(sink, 0, sizeof *sink);
	sink->ctx = r;
	sink->relay = relay_event;
}
