/* completions_response.h: text_completion answers, whole or as data-only SSE chunks, from a chat backend's calls */
#ifndef OAF_COMPLETIONS_RESPONSE_H
#define OAF_COMPLETIONS_RESPONSE_H
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "openai_error.h"
#include "strbuf.h"
#include "writer.h"

struct cmpl_choice;

/* One text_completion answer over every prompt: choice prompt * n + k for
 * the k-th answer to a prompt. With a writer each text piece goes out at
 * once as a chunk ("finish_reason": null until its choice ends), then
 * cmpl_end() sends the usage chunk (include_usage) and "data: [DONE]";
 * without one, cmpl_json() renders the whole answer. */
struct cmpl_out {
	char id[40];                 /* "cmpl-" + 29 random alphanumerics */
	long created;
	const char *model;           /* the client's name; borrowed */
	const body_writer *w;        /* borrowed; NULL: whole */
	bool include_usage;
	int n;                       /* choices per prompt */
	int base;                    /* index of the current prompt's first choice */
	int n_choices;
	struct cmpl_choice *choices; /* owned */
	struct chat_usage usage;     /* summed over the prompts' runs */
	strbuf ev;
};

/* Prepares o for n_prompts prompts of n choices each; model and w are
 * borrowed. Release with cmpl_out_free(). */
void cmpl_out_init(struct cmpl_out *o, const char *model, long now, size_t n_prompts, int n,
		   const body_writer *w, bool include_usage);
void cmpl_out_free(struct cmpl_out *o);

/* Fills *sink with callbacks into o; the choice indexes a backend gives
 * are offset by o->base, which the caller sets before each prompt's run.
 * Only the usage's completion tokens are kept: the prompt's count is the
 * completions rule (cmpl_prompt_tokens()), not chat's message framing. */
void cmpl_out_sink(struct cmpl_out *o, struct chat_sink *sink);

/* The prompt text that echo sends before every choice of prompt p (the
 * choices' first text, and a chunk of its own when streaming). 0 or -1. */
int cmpl_echo(struct cmpl_out *o, int prompt, const char *text, size_t len);
/* Every choice of prompt p finished without a run (max_tokens 0). */
int cmpl_finish_prompt(struct cmpl_out *o, int prompt, const char *reason);
void cmpl_prompt_tokens(struct cmpl_out *o, long tokens);

/* Streaming: the usage chunk when asked for, then data: [DONE]. 0 or -1. */
int cmpl_end(struct cmpl_out *o);
/* Streaming, after a failure once chunks went out: data: {"error":...}. */
int cmpl_fail(struct cmpl_out *o, const oa_error *e);
/* Appends the whole text_completion to out. */
void cmpl_json(const struct cmpl_out *o, strbuf *out);

#endif
