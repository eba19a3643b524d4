/* chat_request.h: POST /v1/chat/completions bodies, parsed and validated as OpenAI does */
#ifndef OAF_CHAT_REQUEST_H
#define OAF_CHAT_REQUEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "openai_error.h"

enum chat_role {
	ROLE_DEVELOPER, ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, ROLE_TOOL, ROLE_FUNCTION
};

/* One message. Strings point into the request (root or text_store) and live
 * as long as it does. */
struct chat_message {
	enum chat_role role;
	const char *name;          /* NULL when absent */
	const char *text;          /* the text of content: the string, or text/refusal
	                            * parts joined with "\n"; "" for null/no text */
	size_t text_len;
	const char *tool_call_id;  /* tool messages; NULL otherwise */
	size_t n_tool_calls;       /* assistant tool_calls (or 1 for function_call) */
};

/* A function the model may call: from tools[] or the deprecated functions[]. */
struct chat_tool {
	const char *name;
	const char *description;   /* NULL when absent */
	json_object *parameters;   /* JSON Schema, borrowed from root; NULL when absent */
	size_t index;              /* its place in tools[] or functions[], for error params */
};

enum tool_choice {
	TOOL_CHOICE_UNSET,         /* not given: "auto" when tools exist, else "none" */
	TOOL_CHOICE_NONE,
	TOOL_CHOICE_AUTO,
	TOOL_CHOICE_REQUIRED,
	TOOL_CHOICE_NAMED          /* tool_choice_name says which */
};

enum response_format { RF_TEXT, RF_JSON_OBJECT, RF_JSON_SCHEMA };

struct chat_request {
	json_object *root;         /* the parsed body; owned */
	const char *body;          /* the bytes root was parsed from, borrowed from
	                            * chat_request_parse()'s caller, who sets it NULL
	                            * before freeing them; NULL: only root is left */
	size_t body_len;
	char *text_store;          /* joined content texts; owned */

	const char *model;
	struct chat_message *messages;  /* owned array */
	size_t n_messages;

	int n;                     /* choices, 1..128, default 1 */
	long max_tokens;           /* max_completion_tokens, else max_tokens; -1: none */
	const char *stop[4];
	int n_stop;
	bool stream;
	bool include_usage;        /* stream_options.include_usage */
	bool logprobs;
	int top_logprobs;          /* -1 when absent */
	double temperature;        /* 1 when absent */
	double top_p;              /* 1 when absent */
	bool has_seed;
	int64_t seed;
	const char *user;          /* NULL when absent */

	struct chat_tool *tools;   /* owned array */
	size_t n_tools;
	bool legacy_functions;     /* functions/function_call were used: answer
	                            * with message.function_call, not tool_calls */
	enum tool_choice tool_choice;
	const char *tool_choice_name;
	bool parallel_tool_calls;  /* default true */

	enum response_format response_format;
	json_object *json_schema;  /* response_format.json_schema.schema; borrowed */
	const char *json_schema_name;  /* response_format.json_schema.name; NULL when absent */
};

/* Parses and validates body (len bytes, need not be NUL-terminated) into
 * *req. Returns 0 and fills *req, which the caller releases with
 * chat_request_free(); or returns -1, leaves *req empty (nothing to free)
 * and fills err with a 400 invalid_request_error whose param is the path of
 * the offending field (e.g. "messages[1].role"). Whether the model exists is
 * not checked here: the caller knows the configured models. */
int chat_request_parse(const char *body, size_t len, struct chat_request *req, oa_error *err);

/* Releases what *req owns; safe on a zeroed or already freed request. */
void chat_request_free(struct chat_request *req);

const char *chat_role_name(enum chat_role r);

#endif
