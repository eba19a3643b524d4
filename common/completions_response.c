/* completions_response.c: text_completion answers, whole or as data-only SSE chunks, from a chat backend's calls */
#include "completions_response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_response.h"
#include "sse.h"
#include "xalloc.h"

#define ID_RANDOM_CHARS 29

struct cmpl_choice {
	strbuf text;
	char finish[16];
};

void cmpl_out_init(struct cmpl_out *o, const char *model, long now, size_t n_prompts, int n,
		   const body_writer *w, bool include_usage)
{
	memset(o, 0, sizeof *o);
	memcpy(o->id, "cmpl-", 5);
	chat_random_alnum(o->id + 5, ID_RANDOM_CHARS);
	o->created = now;
	o->model = model;
	o->w = w;
	o->include_usage = include_usage;
	o->n = n > 0 ? n : 1;
	o->n_choices = (int)n_prompts * o->n;
	o->choices = xcalloc((size_t)o->n_choices, sizeof *o->choices);
}

void cmpl_out_free(struct cmpl_out *o)
{
	for (int i = 0; i < o->n_choices; i++)
		sb_free(&o->choices[i].text);
	free(o->choices);
	sb_free(&o->ev);
	memset(o, 0, sizeof *o);
}

static void head_json(const struct cmpl_out *o, strbuf *sb)
{
	sb_puts(sb, "{\"id\":");
	sb_json_str(sb, o->id, strlen(o->id));
	sb_printf(sb, ",\"object\":\"text_completion\",\"created\":%ld,\"model\":", o->created);
	sb_json_str(sb, o->model, strlen(o->model));
	sb_puts(sb, ",\"system_fingerprint\":\"fp_6f61666367\"");
}

static void usage_json(const struct cmpl_out *o, strbuf *sb)
{
	sb_printf(sb, ",\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld}",
		  o->usage.prompt_tokens, o->usage.completion_tokens,
		  o->usage.prompt_tokens + o->usage.completion_tokens);
}

static int send_chunk(struct cmpl_out *o, int index, const char *text, size_t len, const char *finish)
{
	strbuf data = STRBUF_INIT;
	head_json(o, &data);
	sb_puts(&data, ",\"choices\":[{\"text\":");
	sb_json_str(&data, text, len);
	sb_printf(&data, ",\"index\":%d,\"logprobs\":null,\"finish_reason\":", index);
	if (finish)
		sb_json_str(&data, finish, strlen(finish));
	else
		sb_puts(&data, "null");
	sb_puts(&data, "}]}");
	sb_reset(&o->ev);
	sse_event(&o->ev, data.buf, data.len);
	sb_free(&data);
	if (o->w->write(o->w->ctx, o->ev.buf, o->ev.len) < 0)
		return -1;
	return o->w->flush(o->w->ctx);
}

static struct cmpl_choice *choice_at(struct cmpl_out *o, int index)
{
	return index >= 0 && index < o->n_choices ? &o->choices[index] : NULL;
}

static int add_text(struct cmpl_out *o, int index, const char *text, size_t len)
{
	struct cmpl_choice *c = choice_at(o, index);
	if (!c)
		return -1;
	sb_append(&c->text, text, len);
	return o->w && len ? send_chunk(o, index, text, len, NULL) : 0;
}

static int set_finish(struct cmpl_out *o, int index, const char *reason)
{
	struct cmpl_choice *c = choice_at(o, index);
	if (!c)
		return -1;
	/* a tool call cannot happen here: the completions API has no tools */
	snprintf(c->finish, sizeof c->finish, "%s", strcmp(reason, "length") == 0 ? "length" : "stop");
	return o->w ? send_chunk(o, index, "", 0, c->finish) : 0;
}

int cmpl_echo(struct cmpl_out *o, int prompt, const char *text, size_t len)
{
	for (int k = 0; k < o->n; k++)
		if (add_text(o, prompt * o->n + k, text, len) < 0)
			return -1;
	return 0;
}

int cmpl_finish_prompt(struct cmpl_out *o, int prompt, const char *reason)
{
	for (int k = 0; k < o->n; k++)
		if (set_finish(o, prompt * o->n + k, reason) < 0)
			return -1;
	return 0;
}

void cmpl_prompt_tokens(struct cmpl_out *o, long tokens)
{
	o->usage.prompt_tokens += tokens;
}

static int sink_delta(void *ctx, int index, const char *role, const char *content, size_t len)
{
	struct cmpl_out *o = ctx;
	(void)role;
	return add_text(o, o->base + index, content ? content : "", content ? len : 0);
}

static int sink_finish(void *ctx, int index, const char *reason)
{
	struct cmpl_out *o = ctx;
	return set_finish(o, o->base + index, reason);
}

static int sink_usage(void *ctx, const struct chat_usage *u)
{
	struct cmpl_out *o = ctx;
	o->usage.completion_tokens += u->completion_tokens;
	return 0;
}

void cmpl_out_sink(struct cmpl_out *o, struct chat_sink *sink)
{
	memset(sink, 0, sizeof *sink);
	sink->ctx = o;
	sink->delta = sink_delta;
	sink->finish = sink_finish;
	sink->usage = sink_usage;
}

int cmpl_end(struct cmpl_out *o)
{
	if (o->include_usage) {
		strbuf data = STRBUF_INIT;
		head_json(o, &data);
		sb_puts(&data, ",\"choices\":[]");
		usage_json(o, &data);
		sb_putc(&data, '}');
		sb_reset(&o->ev);
		sse_event(&o->ev, data.buf, data.len);
		sb_free(&data);
		if (o->w->write(o->w->ctx, o->ev.buf, o->ev.len) < 0)
			return -1;
	}
	static const char done[] = "data: [DONE]\n\n";
	if (o->w->write(o->w->ctx, done, sizeof done - 1) < 0)
		return -1;
	return o->w->flush(o->w->ctx);
}

int cmpl_fail(struct cmpl_out *o, const oa_error *e)
{
	strbuf data = STRBUF_INIT;
	oa_error_json(e, &data);
	sb_reset(&o->ev);
	sse_event(&o->ev, data.buf, data.len);
	sb_free(&data);
	if (o->w->write(o->w->ctx, o->ev.buf, o->ev.len) < 0)
		return -1;
	return o->w->flush(o->w->ctx);
}

void cmpl_json(const struct cmpl_out *o, strbuf *out)
{
	head_json(o, out);
	sb_puts(out, ",\"choices\":[");
	for (int i = 0; i < o->n_choices; i++) {
		const struct cmpl_choice *c = &o->choices[i];
		if (i)
			sb_putc(out, ',');
		sb_puts(out, "{\"text\":");
		sb_json_str(out, sb_str(&c->text), c->text.len);
		sb_printf(out, ",\"index\":%d,\"logprobs\":null,\"finish_reason\":\"%s\"}", i,
			  c->finish[0] ? c->finish : "stop");
	}
	sb_putc(out, ']');
	usage_json(o, out);
	sb_putc(out, '}');
}
