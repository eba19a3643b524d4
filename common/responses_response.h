/* responses_response.h: the Response object and its stream of events, built from what a backend answers */
#ifndef OAF_RESPONSES_RESPONSE_H
#define OAF_RESPONSES_RESPONSE_H
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "backend.h"
#include "openai_error.h"
#include "strbuf.h"
#include "writer.h"

#define RSP_MAX_ITEMS 130   /* output items of one response: a message and up to 128 calls */
#define RSP_MAX_TEXT (32L << 20)  /* text and arguments kept for one response, as for a whole upstream answer */

/* What every event of one response shares. */
struct rsp_meta {
	char id[56];             /* "resp_" + 48 random alphanumerics */
	long created_at;
	const char *model;       /* the client's name; borrowed */
	json_object *request;    /* the validated body, echoed in the Response; borrowed */
};

/* Fills m; model and request are borrowed and must outlive every use. */
void rsp_meta_init(struct rsp_meta *m, const char *model, json_object *request, long now);

struct rsp_item;

/* Builds one Response from calls in the order a model produces them. With
 * a writer (a stream) every call sends its events at once, each
 * `event: <type>` + `data: <json>` and flushed, sequence_number from 0;
 * response.created and response.in_progress go out before the first
 * other event (or at the end), so that a backend failing before it says
 * anything still gets an ordinary error answer. Without a writer it only
 * records, and rsp_json() renders the whole Response. */
struct rsp_builder {
	const struct rsp_meta *meta;    /* borrowed */
	const body_writer *w;            /* borrowed; NULL: not streaming */
	long seq;                        /* the next event's sequence_number */
	bool started;                    /* created + in_progress were sent */
	bool ended;
	struct rsp_item *items;         /* owned, n_items of them */
	size_t n_items;
	int open_message;                /* index of the message being written, -1: none */
	int call_item[RSP_MAX_ITEMS];   /* a chat tool-call index → its item, -1: none */
	bool cut;                        /* max_output_tokens ended it */
	bool too_big;                    /* more than RSP_MAX_TEXT came: the calls returned -1 */
	size_t kept;                     /* bytes of text and arguments kept */
	struct chat_usage usage;
	bool have_usage;
	strbuf ev;                       /* one event at a time, reused */
};

/* Prepares b; meta and w (NULL for a whole answer) are borrowed. Release
 * with rsp_builder_free(). */
void rsp_builder_init(struct rsp_builder *b, const struct rsp_meta *meta, const body_writer *w);
void rsp_builder_free(struct rsp_builder *b);

/* The calls. Each returns 0, or -1 when the writer failed (client gone) or
 * the response grew past RSP_MAX_TEXT (too_big set); strings are borrowed
 * for the call. */
/* Text of the answer's message (opened on first use). */
int rsp_text(struct rsp_builder *b, const char *text, size_t len);
/* A function call starts: the chat tool-call index it came as (0..127),
 * its call id and name; the message before it, if any, is finished. */
int rsp_call_begin(struct rsp_builder *b, int tc_index, const char *call_id, const char *name);
/* More of that call's arguments. An unknown tc_index is ignored. */
int rsp_call_arguments(struct rsp_builder *b, int tc_index, const char *piece, size_t len);
/* The model stopped: "length" means max_output_tokens cut it. Every open
 * item is finished. */
int rsp_finish(struct rsp_builder *b, const char *finish_reason);
void rsp_usage(struct rsp_builder *b, const struct chat_usage *u);


/* Streaming: finishes what is open and sends response.completed, or
 * response.incomplete when cut. 0 or -1. */
int rsp_stream_end(struct rsp_builder *b);
/* Streaming, after a failure once events went out: an `error` event, then
 * response.failed carrying the error. 0 or -1. */
int rsp_stream_fail(struct rsp_builder *b, const oa_error *e);

/* Appends the whole Response as JSON to out: status completed, or
 * incomplete with incomplete_details.reason "max_output_tokens". */
void rsp_json(struct rsp_builder *b, strbuf *out);

/* An upstream that speaks the Responses API itself: its Response, or each
 * of its events, passed on with the client's model name put back. */
struct rsp_relay {
	const char *model;               /* the client's name; borrowed */
	const body_writer *w;            /* borrowed; NULL: a whole answer */
	strbuf whole;                    /* the Response, model mapped */
	bool have_whole;
	bool terminal;                   /* response.completed/incomplete/failed seen */
	long next_seq;                   /* one past the last sequence_number seen */
	strbuf ev;
};

void rsp_relay_init(struct rsp_relay *r, const char *model, const body_writer *w);
void rsp_relay_sink(struct rsp_relay *r, struct chat_sink *sink);
void rsp_relay_free(struct rsp_relay *r);

#endif
