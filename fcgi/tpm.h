/* tpm.h: tokens per minute: a request's reservation before it is answered, its settlement after */
#ifndef OAF_TPM_H
#define OAF_TPM_H
#include "chat_request.h"
#include "completions_request.h"
#include "embeddings.h"
#include "limiter.h"
#include "request.h"

/*
 * A request that may produce tokens reserves what it could cost (its
 * prompt's estimate plus its output bound) before the backend is asked,
 * and is settled with its real usage when the answer ends, so that
 * concurrent requests of a key, from any process, never hold more than its
 * limit. Each endpoint family computes its reservation in one function
 * (tpm_reserve_chat) and calls tpm_reserve(); the dispatcher settles.
 *
 * Functions returning int return 0, or -1 with a 429 in req->err. Without
 * a token limit for the key (or without the limiter) they do nothing and
 * return 0.
 */

/* What a request does with the limiter's outcome o (limiter.h): 0 when
 * counted (the caller reads its result), 1 when not counted and served
 * (logged by the limiter; /metrics counts it), -1 with a 503 in req->err
 * when it must be refused (Redis unreachable, REDIS_ON_FAILURE=closed). */
int tpm_limit_outcome(struct request *req, enum lim_outcome o);

/* The key's state without spending any, so that every answer of a key
 * with a token limit carries the x-ratelimit-*-tokens headers. */
void tpm_peek(struct request *req);

/* Reserves tokens for a request naming model (borrowed, for the message).
 * More than the whole limit is refused at once (it could never pass);
 * more than is free now is refused with the time until it fits. */
int tpm_reserve(struct request *req, const char *model, long tokens);

/* POST /v1/chat/completions: the prompt's estimate (tok_prompt) plus
 * max_completion_tokens / max_tokens, or RATE_LIMIT_DEFAULT_MAX_TOKENS,
 * for each of its n choices. cr is borrowed. */
int tpm_reserve_chat(struct request *req, const struct chat_request *cr);

/* POST /v1/responses reserves as the chat request it becomes
 * (tpm_reserve_chat of responses_request.chat: max_output_tokens is its
 * max_completion_tokens). POST /v1/completions: its prompts' tokens plus
 * max_tokens (16 unless said) for each of n choices of each prompt. POST
 * /v1/embeddings: its inputs' tokens (it answers no others). */
int tpm_reserve_completions(struct request *req, const struct completions_request *cr);
int tpm_reserve_embeddings(struct request *req, const struct emb_request *er);

/* Records the answer's real counts in req->usage (for settlement, the
 * access log and whoever accounts for usage). */
void tpm_record_usage(struct request *req, const struct chat_usage *u);

/* Settles the reservation, once; later calls do nothing. With the real
 * usage: charges it instead of the reservation. Without, an answer that
 * failed before its head was sent produced nothing and gives all back; one
 * cut short (a client gone mid-stream) keeps the reservation, the most it
 * could have cost. Updates req->tpm for headers not sent yet. */
void tpm_settle(struct request *req);

#endif
