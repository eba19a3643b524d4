/* responses_request.h: POST /v1/responses bodies, parsed and validated as OpenAI does, then made a chat request */
#ifndef OAF_RESPONSES_REQUEST_H
#define OAF_RESPONSES_REQUEST_H
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "chat_request.h"
#include "openai_error.h"

#define RESPONSES_MIN_OUTPUT_TOKENS 16

struct responses_request {
	json_object *root;          /* the client's body; owned */
	const char *model;          /* borrowed from root */
	bool stream;
	/* The same request as a chat completion (responses_translate.h): what
	 * the mock answers and what a translating upstream is sent. Owned. */
	struct chat_request chat;
};

/* Parses and validates body (len bytes) into *req, then translates it. 0
 * and *req filled (release with responses_request_free()); or -1, *req
 * empty, and err a 400 invalid_request_error with OpenAI's param path
 * ("input[1].content[0].type"). openai-fcgi keeps no state, so a
 * previous_response_id, a conversation, a stored prompt or an item
 * reference is refused as OpenAI refuses an id it does not have. Whether
 * the model exists is the caller's business. */
int responses_request_parse(const char *body, size_t len, struct responses_request *req, oa_error *err);

/* Releases what *req owns; safe on a zeroed or already freed request. */
void responses_request_free(struct responses_request *req);

#endif
