/* response.h: status line, headers every answer carries, JSON bodies, SSE streams */
#ifndef OAF_RESPONSE_H
#define OAF_RESPONSE_H
#include <stdbool.h>
#include <stddef.h>

#include "request.h"

/* Every function here returns 0, or -1 when the client has gone away (the
 * caller then stops; nothing else needs doing). */

/* Adds a header to the answer about to be sent. */
void resp_header(struct request *req, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sends a whole answer with Content-Type application/json. */
int resp_json(struct request *req, int status, const char *json, size_t n);
/* Sends e as the OpenAI error envelope with the headers it carries
 * (WWW-Authenticate, Retry-After, Allow): the one writer of errors, which
 * the dispatcher calls for a handler's OA_ERROR. */
int resp_error(struct request *req, const oa_error *e);
/* Sends the head of an answer whose body, exactly length bytes, follows
 * through resp_write() (files too large to hold in memory at once). */
int resp_begin(struct request *req, int status, const char *type, long length);
int resp_write(struct request *req, const char *p, size_t n);
/* Sends 204 with no body (CORS preflight). */
int resp_no_content(struct request *req);
/* Has the client gone away? Known from a failed write, or asked of what
 * carries the request without writing; once true, stays true. */
bool resp_client_gone(struct request *req);
/* Sends the head of a 200 answer of type type whose length is not known yet
 * and returns the writer for its body, for answers written piece by piece
 * (a large embeddings list) rather than built whole in memory. */
const body_writer *resp_body_begin(struct request *req, const char *type);
/* Sends the head of an SSE answer and returns the writer for its events:
 * every event written through it should be flushed (chat_response.c does). */
const body_writer *resp_stream_begin(struct request *req);

#endif
