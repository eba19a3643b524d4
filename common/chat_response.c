/* chat_response.c: the two chat sinks, one building a chat.completion, one streaming chunks */
#include "chat_response.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_span.h"
#include "rand.h"
#include "xalloc.h"

/* Stable for a given build, so clients comparing fingerprints see one
 * backend configuration; the build may set its own. */
#ifndef CHAT_FINGERPRINT
#define CHAT_FINGERPRINT "fp_6f61666367"
#endif

#define ID_RANDOM_CHARS 29   /* as long as OpenAI's own chatcmpl- ids */
#define MAX_TOOL_CALLS 128

static const char alnum[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

void chat_random_alnum(char *out, size_t n)
{
	size_t done = 0;
	while (done < n) {
		uint64_t r = rand_u64();
		for (int i = 0; i < 8 && done < n; i++, r >>= 8) {
			unsigned char b = (unsigned char)r;
			/* 248 = 4 * 62: rejecting the rest keeps every char equally likely */
			if (b < 248)
				out[done++] = alnum[b % 62];
		}
	}
	out[n] = '\0';
}

void chat_meta_init(struct chat_meta *m, const char *model, long now)
{
	memcpy(m->id, "chatcmpl-", 9);
	chat_random_alnum(m->id + 9, ID_RANDOM_CHARS);
	m->created = now;
	m->model = model;
	m->system_fingerprint = CHAT_FINGERPRINT;
}

static void put_str(strbuf *sb, const char *s)
{
	sb_json_str(sb, s, strlen(s));
}

static void usage_json(strbuf *sb, const struct chat_usage *u)
{
	sb_printf(sb, "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld,"
		  "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
		  "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
		  "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
		  u->prompt_tokens, u->completion_tokens, u->total_tokens);
}

/* The members every chunk and the completion start with. */
static void head_json(strbuf *sb, const struct chat_meta *m, const char *object)
{
	sb_puts(sb, "{\"id\":");
	put_str(sb, m->id);
	sb_puts(sb, ",\"object\":");
	put_str(sb, object);
	sb_printf(sb, ",\"created\":%ld,\"model\":", m->created);
	put_str(sb, m->model ? m->model : "");
	sb_puts(sb, ",\"system_fingerprint\":");
	put_str(sb, m->system_fingerprint);
	sb_puts(sb, ",\"service_tier\":\"default\"");
}

/* {"name":..,"arguments":..}, the function part of both call shapes */
static void function_json(strbuf *sb, const char *name, const char *arguments)
{
	sb_puts(sb, "{\"name\":");
	put_str(sb, name ? name : "");
	sb_puts(sb, ",\"arguments\":");
	put_str(sb, arguments ? arguments : "");
	sb_putc(sb, '}');
}

/* ---- the accumulator ---- */

struct accum_call {
	char *id;
	char *name;
	char *arguments;
};

struct chat_accum_choice {
	strbuf content;
	struct accum_call *calls;
	size_t n_calls;
	char finish[16];
};

void chat_accum_init(struct chat_accum *acc, const struct chat_meta *meta, int n,
		     bool legacy_functions)
{
	memset(acc, 0, sizeof(*acc));
	acc->meta = meta;
	acc->legacy_functions = legacy_functions;
	acc->n = n > 0 ? n : 1;
	acc->choices = xcalloc((size_t)acc->n, sizeof(*acc->choices));
}

void chat_accum_free(struct chat_accum *acc)
{
	for (int i = 0; i < acc->n; i++) {
		struct chat_accum_choice *c = &acc->choices[i];
		sb_free(&c->content);
		for (size_t k = 0; k < c->n_calls; k++) {
			free(c->calls[k].id);
			free(c->calls[k].name);
			free(c->calls[k].arguments);
		}
		free(c->calls);
	}
	free(acc->choices);
	sb_free(&acc->relayed);
	memset(acc, 0, sizeof(*acc));
}

static struct chat_accum_choice *accum_choice(struct chat_accum *acc, int index)
{
	if (index < 0 || index >= acc->n)
		return NULL;
	return &acc->choices[index];
}

static int accum_delta(void *ctx, int index, const char *role, const char *content, size_t len)
{
	(void)role;  /* the message's role is always "assistant" */
	struct chat_accum_choice *c = accum_choice(ctx, index);
	if (!c)
		return -1;
	if (content)
		sb_append(&c->content, content, len);
	return 0;
}

static int accum_tool_call(void *ctx, int index, int tc_index, const char *id,
			   const char *name, const char *arguments)
{
	struct chat_accum_choice *c = accum_choice(ctx, index);
	if (!c || tc_index < 0 || tc_index >= MAX_TOOL_CALLS)
		return -1;
	if ((size_t)tc_index >= c->n_calls) {
		size_t n = (size_t)tc_index + 1;
		c->calls = xrealloc(c->calls, n * sizeof(*c->calls));
		memset(c->calls + c->n_calls, 0, (n - c->n_calls) * sizeof(*c->calls));
		c->n_calls = n;
	}
	struct accum_call *call = &c->calls[tc_index];
	free(call->id);
	free(call->name);
	free(call->arguments);
	call->id = xstrdup(id ? id : "");
	call->name = xstrdup(name ? name : "");
	call->arguments = xstrdup(arguments ? arguments : "");
	return 0;
}

static int accum_finish(void *ctx, int index, const char *reason)
{
	struct chat_accum_choice *c = accum_choice(ctx, index);
	if (!c)
		return -1;
	snprintf(c->finish, sizeof(c->finish), "%s", reason ? reason : "stop");
	return 0;
}

static int accum_usage(void *ctx, const struct chat_usage *u)
{
	struct chat_accum *acc = ctx;
	acc->usage = *u;
	acc->have_usage = true;
	return 0;
}

void chat_relay_json(struct json_object *obj, const char *model, strbuf *out)
{
	if (json_object_is_type(obj, json_type_object) && json_object_object_get_ex(obj, "model", NULL))
		json_object_object_add(obj, "model", json_object_new_string(model ? model : ""));
	/* PLAIN never breaks a line: one "data:" line carries a whole event */
	sb_puts(out, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* The usage an upstream reported in obj (an answer or a chunk), if any. */
static bool relayed_usage(struct json_object *obj, struct chat_usage *u)
{
	struct json_object *usage, *v;
	if (!json_object_object_get_ex(obj, "usage", &usage) || !json_object_is_type(usage, json_type_object))
		return false;
	memset(u, 0, sizeof *u);
	if (json_object_object_get_ex(usage, "prompt_tokens", &v) && json_object_is_type(v, json_type_int))
		u->prompt_tokens = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(usage, "completion_tokens", &v) && json_object_is_type(v, json_type_int))
		u->completion_tokens = (long)json_object_get_int64(v);
	u->total_tokens = u->prompt_tokens + u->completion_tokens;
	return true;
}

static int accum_relay(void *ctx, struct json_object *obj)
{
	struct chat_accum *acc = ctx;
	if (relayed_usage(obj, &acc->usage))
		acc->have_usage = true;
	sb_reset(&acc->relayed);
	chat_relay_json(obj, acc->meta->model, &acc->relayed);
	acc->have_relayed = true;
	return 0;
}

static int accum_relay_bytes(void *ctx, const char *json, size_t len, const struct js_member *ms, int n,
			     const struct chat_usage *usage)
{
	struct chat_accum *acc = ctx;
	if (usage) {
		acc->usage = *usage;
		acc->have_usage = true;
	}
	sb_reset(&acc->relayed);
	js_replace_value(json, len, ms, n, "model", acc->meta->model ? acc->meta->model : "", &acc->relayed);
	acc->have_relayed = true;
	return 0;
}

void chat_accum_sink(struct chat_accum *acc, struct chat_sink *sink)
{
	memset(sink, 0, sizeof(*sink));
	sink->relay = accum_relay;
	sink->relay_bytes = accum_relay_bytes;
	sink->ctx = acc;
	sink->delta = accum_delta;
	sink->tool_call = accum_tool_call;
	sink->finish = accum_finish;
	sink->usage = accum_usage;
}

static void calls_json(strbuf *sb, const struct chat_accum_choice *c, bool legacy)
{
	if (legacy) {
		sb_puts(sb, ",\"function_call\":");
		function_json(sb, c->calls[0].name, c->calls[0].arguments);
		return;
	}
	sb_puts(sb, ",\"tool_calls\":[");
	for (size_t k = 0; k < c->n_calls; k++) {
		if (k)
			sb_putc(sb, ',');
		sb_puts(sb, "{\"id\":");
		put_str(sb, c->calls[k].id ? c->calls[k].id : "");
		sb_puts(sb, ",\"type\":\"function\",\"function\":");
		function_json(sb, c->calls[k].name, c->calls[k].arguments);
		sb_putc(sb, '}');
	}
	sb_putc(sb, ']');
}

static void choice_json(strbuf *sb, const struct chat_accum_choice *c, int index, bool legacy)
{
	sb_printf(sb, "{\"index\":%d,\"message\":{\"role\":\"assistant\",\"content\":", index);
	if (c->n_calls)
		sb_puts(sb, "null");
	else
		sb_json_str(sb, sb_str(&c->content), c->content.len);
	sb_puts(sb, ",\"refusal\":null,\"annotations\":[]");
	if (c->n_calls)
		calls_json(sb, c, legacy);
	sb_puts(sb, "},\"logprobs\":null,\"finish_reason\":");
	put_str(sb, c->finish[0] ? c->finish : "stop");
	sb_putc(sb, '}');
}

void chat_accum_json(const struct chat_accum *acc, strbuf *out)
{
	if (acc->have_relayed) {
		sb_append(out, acc->relayed.buf, acc->relayed.len);
		return;
	}
	head_json(out, acc->meta, "chat.completion");
	sb_puts(out, ",\"choices\":[");
	for (int i = 0; i < acc->n; i++) {
		if (i)
			sb_putc(out, ',');
		choice_json(out, &acc->choices[i], i, acc->legacy_functions);
	}
	sb_puts(out, "],\"usage\":");
	struct chat_usage zero = { 0, 0, 0 };
	usage_json(out, acc->have_usage ? &acc->usage : &zero);
	sb_putc(out, '}');
}

/* ---- the streamer ---- */

void chat_stream_init(struct chat_stream *st, const struct chat_meta *meta,
		      const body_writer *w, bool include_usage, bool legacy_functions)
{
	memset(st, 0, sizeof(*st));
	st->meta = meta;
	st->w = w;
	st->include_usage = include_usage;
	st->legacy_functions = legacy_functions;
}

void chat_stream_free(struct chat_stream *st)
{
	sb_free(&st->ev);
	sb_free(&st->head);
}

/* Sends what is in st->ev and empties it for the next event. */
static int send_event(struct chat_stream *st)
{
	int rc = st->w->write(st->w->ctx, st->ev.buf, st->ev.len);
	if (rc == 0)
		rc = st->w->flush(st->w->ctx);
	sb_reset(&st->ev);
	return rc < 0 ? -1 : 0;
}

/* Starts `data: {chunk...,"choices":[{"index":i,"delta":` in st->ev. The
 * JSON we build never holds a raw line break (sb_json_str escapes them), so
 * a single "data: " line is the whole SSE framing of it (cf. sse_event). */
static void chunk_open(struct chat_stream *st, int index)
{
	/* every chunk of a stream starts the same way up to its index: made
	 * once, it makes a word's event one append and its text */
	if (!st->head.len) {
		sb_puts(&st->head, "data: ");
		head_json(&st->head, st->meta, "chat.completion.chunk");
		sb_puts(&st->head, ",\"choices\":[{\"index\":");
	}
	sb_reset(&st->ev);
	sb_append(&st->ev, st->head.buf, st->head.len);
	sb_put_int(&st->ev, index);
	sb_puts(&st->ev, ",\"delta\":");
}

static int chunk_close(struct chat_stream *st, const char *finish)
{
	static const char open_end[] = ",\"logprobs\":null,\"finish_reason\":null}]}\n\n";
	static const char open_end_usage[] = ",\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
	if (!finish) {
		if (st->include_usage)
			sb_append(&st->ev, open_end_usage, sizeof open_end_usage - 1);
		else
			sb_append(&st->ev, open_end, sizeof open_end - 1);
		return send_event(st);
	}
	sb_puts(&st->ev, ",\"logprobs\":null,\"finish_reason\":");
	put_str(&st->ev, finish);
	sb_puts(&st->ev, "}]");
	if (st->include_usage)
		sb_puts(&st->ev, ",\"usage\":null");
	sb_puts(&st->ev, "}\n\n");
	return send_event(st);
}

static int stream_delta(void *ctx, int index, const char *role, const char *content, size_t len)
{
	struct chat_stream *st = ctx;
	chunk_open(st, index);
	if (role) {
		sb_puts(&st->ev, "{\"role\":");
		put_str(&st->ev, role);
		sb_puts(&st->ev, ",\"content\":");
	} else {
		sb_puts(&st->ev, "{\"content\":");
	}
	/* role alone (before a tool call) says content null, as OpenAI does */
	if (content)
		sb_json_str(&st->ev, content, len);
	else
		sb_puts(&st->ev, "null");
	sb_putc(&st->ev, '}');
	return chunk_close(st, NULL);
}

static int stream_tool_call(void *ctx, int index, int tc_index, const char *id,
			    const char *name, const char *arguments)
{
	struct chat_stream *st = ctx;
	chunk_open(st, index);
	if (st->legacy_functions) {
		sb_puts(&st->ev, "{\"function_call\":");
		function_json(&st->ev, name, arguments);
		sb_putc(&st->ev, '}');
		return chunk_close(st, NULL);
	}
	sb_printf(&st->ev, "{\"tool_calls\":[{\"index\":%d,\"id\":", tc_index);
	put_str(&st->ev, id ? id : "");
	sb_puts(&st->ev, ",\"type\":\"function\",\"function\":");
	function_json(&st->ev, name, arguments);
	sb_puts(&st->ev, "}]}");
	return chunk_close(st, NULL);
}

static int stream_finish(void *ctx, int index, const char *reason)
{
	struct chat_stream *st = ctx;
	chunk_open(st, index);
	sb_puts(&st->ev, "{}");
	return chunk_close(st, reason ? reason : "stop");
}

static int stream_usage(void *ctx, const struct chat_usage *u)
{
	struct chat_stream *st = ctx;
	st->usage = *u;
	st->have_usage = true;
	return 0;
}

/* A chunk with "choices": [] : the one that only carries usage. */
static bool usage_only_chunk(struct json_object *obj)
{
	struct json_object *choices;
	return json_object_object_get_ex(obj, "choices", &choices) &&
	       json_object_is_type(choices, json_type_array) && json_object_array_length(choices) == 0 &&
	       json_object_object_get_ex(obj, "usage", NULL);
}

static int stream_relay(void *ctx, struct json_object *obj)
{
	struct chat_stream *st = ctx;
	st->relayed = true;
	if (relayed_usage(obj, &st->usage))
		st->have_usage = true;
	if (!st->include_usage && json_object_is_type(obj, json_type_object)) {
		/* usage was asked of the upstream for us, not for this client: its
		 * stream stays as OpenAI sends it to a client that did not ask */
		if (usage_only_chunk(obj))
			return 0;
		json_object_object_del(obj, "usage");
	}
	sb_reset(&st->ev);
	sb_puts(&st->ev, "data: ");
	chat_relay_json(obj, st->meta->model, &st->ev);
	sb_puts(&st->ev, "\n\n");
	return send_event(st);
}

/* Is the value (len bytes at val) an empty array? */
static bool empty_array(const char *val, size_t len)
{
	size_t i = 1;
	while (i < len && (val[i] == ' ' || val[i] == '\t' || val[i] == '\n' || val[i] == '\r'))
		i++;
	return len >= 2 && val[0] == '[' && i == len - 1 && val[i] == ']';
}

/* stream_relay() on an event's bytes: the same choices, made on its
 * members, with the model put in and usage left out as the tree has them. */
static int stream_relay_bytes(void *ctx, const char *json, size_t len, const struct js_member *ms, int n,
			      const struct chat_usage *usage)
{
	struct chat_stream *st = ctx;
	st->relayed = true;
	if (usage) {
		st->usage = *usage;
		st->have_usage = true;
	}
	if (!st->include_usage) {
		const struct js_member *choices = NULL;
		bool has_usage = false;
		for (int i = 0; i < n; i++)
			if (js_is(&ms[i], "choices"))
				choices = &ms[i];  /* the last, as a tree keeps it */
			else if (js_is(&ms[i], "usage"))
				has_usage = true;
		if (has_usage && choices && empty_array(choices->val, choices->val_len))
			return 0;
	}
	sb_reset(&st->ev);
	sb_puts(&st->ev, "data: ");
	js_replace_drop(json, len, ms, n, "model", st->meta->model ? st->meta->model : "",
			st->include_usage ? NULL : "usage", &st->ev);
	sb_puts(&st->ev, "\n\n");
	return send_event(st);
}

static int stream_keepalive(void *ctx)
{
	struct chat_stream *st = ctx;
	sb_reset(&st->ev);
	sb_puts(&st->ev, ": keep-alive\n\n");
	return send_event(st);
}

void chat_stream_sink(struct chat_stream *st, struct chat_sink *sink)
{
	memset(sink, 0, sizeof(*sink));
	sink->relay = stream_relay;
	sink->relay_bytes = stream_relay_bytes;
	sink->keepalive = stream_keepalive;
	sink->ctx = st;
	sink->delta = stream_delta;
	sink->tool_call = stream_tool_call;
	sink->finish = stream_finish;
	sink->usage = stream_usage;
}

int chat_stream_end(struct chat_stream *st)
{
	sb_reset(&st->ev);
	if (st->include_usage && !st->relayed) {
		struct chat_usage zero = { 0, 0, 0 };
		sb_puts(&st->ev, "data: ");
		head_json(&st->ev, st->meta, "chat.completion.chunk");
		sb_puts(&st->ev, ",\"choices\":[],\"usage\":");
		usage_json(&st->ev, st->have_usage ? &st->usage : &zero);
		sb_puts(&st->ev, "}\n\n");
	}
	sb_puts(&st->ev, "data: [DONE]\n\n");
	return send_event(st);
}

int chat_stream_error(struct chat_stream *st, const oa_error *e)
{
	sb_reset(&st->ev);
	sb_puts(&st->ev, "data: ");
	oa_error_json(e, &st->ev);
	sb_puts(&st->ev, "\n\n");
	return send_event(st);
}
