/* completions_request.h: legacy POST /v1/completions bodies, validated as OpenAI does, each prompt made a chat request */
#ifndef OAF_COMPLETIONS_REQUEST_H
#define OAF_COMPLETIONS_REQUEST_H
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "chat_request.h"
#include "openai_error.h"

#define COMPLETIONS_DEFAULT_MAX_TOKENS 16   /* OpenAI's default, unlike chat's none */
#define COMPLETIONS_MAX_PROMPTS 2048
#define COMPLETIONS_MAX_CHOICES 2048  /* prompts x n, so that one answer stays bounded */

/* One prompt: its text (token-id prompts have none the mock could read,
 * so their text is empty) and its token count. */
struct cmpl_prompt {
	char *text;                /* owned, NUL-terminated */
	size_t len;
	long tokens;
};

struct completions_request {
	json_object *root;         /* the client's body; owned */
	const char *model;         /* borrowed from root */
	bool stream;
	bool include_usage;        /* stream_options.include_usage */
	bool echo;                 /* the prompt comes back before each text */
	int n;                     /* choices per prompt */
	long max_tokens;           /* default 16; 0: no text at all */
	struct cmpl_prompt *prompts;  /* owned; a string prompt is one */
	size_t n_prompts;
	/* The chat request the mock answers for each prompt, its text as the
	 * user message (owned, n_prompts of them; none when max_tokens is 0). */
	struct chat_request *chat;
};

/* Parses and validates body (len bytes) into *req: 0 (release with
 * completions_request_free()), or -1, *req empty, and a 400 in err with
 * OpenAI's param path. */
int completions_request_parse(const char *body, size_t len, struct completions_request *req, oa_error *err);

/* Releases what *req owns; safe on a zeroed or already freed request. */
void completions_request_free(struct completions_request *req);

#endif
