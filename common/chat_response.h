/* chat_response.h: the two chat sinks, one building a chat.completion, one streaming chunks */
#ifndef OAF_CHAT_RESPONSE_H
#define OAF_CHAT_RESPONSE_H
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "openai_error.h"
#include "strbuf.h"
#include "writer.h"

/* What every object of one response shares. */
struct chat_meta {
	char id[64];                     /* "chatcmpl-" + 29 random alphanumerics */
	long created;
	const char *model;               /* borrowed: must outlive the response */
	const char *system_fingerprint;  /* static */
};

/* Fills m for a new response created at now (unix seconds); model is
 * borrowed. The id comes from rand_u64() (rand.h: unique, not secret). */
void chat_meta_init(struct chat_meta *m, const char *model, long now);

/* Fills out[0..n) with random [A-Za-z0-9] (rand.h: unique, not secret) and writes a
 * NUL at out[n]; out must hold n + 1 bytes. For ids ("call_...") too. */
void chat_random_alnum(char *out, size_t n);

/* The non-streaming sink: collects every choice, then renders one body. */
struct chat_accum_choice;
struct chat_accum {
	const struct chat_meta *meta;    /* borrowed */
	bool legacy_functions;           /* message.function_call, not tool_calls */
	int n;
	struct chat_accum_choice *choices;  /* owned, n of them */
	struct chat_usage usage;
	bool have_usage;
	strbuf relayed;                  /* an upstream's whole answer, model mapped */
	bool have_relayed;
};

/* Prepares acc for n choices (1..128); meta is borrowed and must outlive
 * acc. Release with chat_accum_free(). */
void chat_accum_init(struct chat_accum *acc, const struct chat_meta *meta, int n,
		     bool legacy_functions);
/* Fills *sink with callbacks that record into acc (borrowed). They return
 * -1 only for a choice index outside 0..n-1, a backend bug. */
void chat_accum_sink(struct chat_accum *acc, struct chat_sink *sink);
/* Appends the chat.completion JSON to out. A choice that never finished
 * says "stop"; usage is all zeros if the backend never reported it. An
 * answer relayed from an upstream is given as it came, model mapped. */
void chat_accum_json(const struct chat_accum *acc, strbuf *out);
void chat_accum_free(struct chat_accum *acc);

/* The streaming sink: every callback sends one SSE event through w and
 * flushes it; a -1 from the writer is returned as is (client gone). */
struct chat_stream {
	const struct chat_meta *meta;    /* borrowed */
	const body_writer *w;            /* borrowed */
	bool include_usage;              /* stream_options.include_usage */
	bool legacy_functions;
	struct chat_usage usage;
	bool have_usage;
	bool relayed;                    /* events came from an upstream, usage chunk too */
	strbuf ev;                       /* one event at a time, reused */
	strbuf head;                     /* `data: {"id":...,"choices":[{"index":`, made once a stream */
};

/* Prepares st; meta and w are borrowed and must outlive it. Release with
 * chat_stream_free(). */
void chat_stream_init(struct chat_stream *st, const struct chat_meta *meta,
		      const body_writer *w, bool include_usage, bool legacy_functions);
void chat_stream_sink(struct chat_stream *st, struct chat_sink *sink);
/* Ends the stream: the usage chunk ("choices":[]) when include_usage and
 * the events were not relayed (an upstream sends its own), then
 * "data: [DONE]". Returns 0, or -1 when the writer failed. */
int chat_stream_end(struct chat_stream *st);
/* Sends e as a `data: {"error":{...}}` event, for failures after the
 * stream has started (its status can no longer change). Returns 0 or -1. */
int chat_stream_error(struct chat_stream *st, const oa_error *e);
void chat_stream_free(struct chat_stream *st);

/* Puts model in obj's "model" member when it has one, and appends obj to
 * out as JSON on one line (what both sinks do with a relayed object). */
void chat_relay_json(struct json_object *obj, const char *model, strbuf *out);

#endif
