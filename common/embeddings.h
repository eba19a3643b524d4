/* embeddings.h: POST /v1/embeddings: the body as OpenAI validates it, the mock's vectors, the answer */
#ifndef OAF_EMBEDDINGS_H
#define OAF_EMBEDDINGS_H
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "openai_error.h"
#include "strbuf.h"
#include "writer.h"

#define EMB_MAX_INPUTS        2048    /* strings or token arrays in one request, as OpenAI */
#define EMB_MAX_INPUT_TOKENS  8192    /* per input, as OpenAI's embedding models */
#define EMB_MAX_TOTAL_TOKENS  300000  /* summed over a request's inputs, as OpenAI */
#define EMB_MAX_DIMENSIONS    8192    /* the most a model may be configured with */
#define EMB_DEFAULT_DIMENSIONS 1536   /* an embedding model's, unless it says (text-embedding-3-small's) */

enum emb_encoding { EMB_FLOAT, EMB_BASE64 };

/* One input: a text, or a list of token ids (JSON integers in the body).
 * Both borrowed from the request's root. */
struct emb_input {
	const char *text;          /* NULL for token ids */
	size_t len;
	json_object *tokens;       /* array of integers; NULL for a text */
};

struct emb_request {
	json_object *root;         /* the parsed body; owned */
	const char *model;
	struct emb_input *inputs;  /* owned array */
	size_t n_inputs;
	enum emb_encoding encoding;
	long dimensions;           /* 0: the model's own */
	const char *user;          /* NULL when absent */
};

/* Parses and validates body (len bytes) into *req as OpenAI does:
 * CreateEmbeddingRequest's fields and types, unknown ones refused, `input`
 * a non-empty string, or 1..2048 non-empty strings, or 1..2048 token ids,
 * or 1..2048 non-empty arrays of token ids, never a mix; no input over
 * EMB_MAX_INPUT_TOKENS, all together at most EMB_MAX_TOTAL_TOKENS.
 * Returns 0 and fills *req (release with emb_request_free()), or -1 with a
 * 400 in err and *req empty. Whether the model exists, and its dimensions,
 * are the caller's to check. */
int emb_request_parse(const char *body, size_t len, struct emb_request *req, oa_error *err);

/* Releases what *req owns; safe on a zeroed or freed request. */
void emb_request_free(struct emb_request *req);

/* Token count of one input, by the rule of tokens.h for a text and one per
 * id for token ids; and of them all (usage.prompt_tokens). */
long emb_input_tokens(const struct emb_input *in);
long emb_request_tokens(const struct emb_request *req);

/* The mock's vector for in: dims floats into out, of length 1, the same
 * for the same input every time and on every host, different for
 * different inputs. Component i does not depend on dims, so a shorter
 * vector is the longer one cut and scaled back to length 1, as OpenAI's
 * `dimensions` shortens its vectors. Pure. */
void emb_mock_vector(const struct emb_input *in, size_t dims, float *out);

/* Writes the CreateEmbeddingResponse for req through w, vector by vector,
 * so memory stays at one vector whatever the request's size: {"object":
 * "list","data":[{"object":"embedding","index":i,"embedding":...}],
 * "model":model,"usage":{"prompt_tokens":n,"total_tokens":n}}. Each
 * embedding is a float array, or for EMB_BASE64 the base64 of its
 * little-endian float32 bytes. scratch is the caller's buffer, reused.
 * Returns 0, or -1 when w says the client is gone. */
int emb_write_mock_answer(const struct emb_request *req, const char *model, size_t dims,
			  const body_writer *w, strbuf *scratch);

#endif
