/* tpm.c: tokens per minute: a request's reservation before it is answered, its settlement after */
#include "tpm.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "key_policy.h"
#include "response.h"
#include "tokens.h"

/* The limiter's key for the key's tokens: its own namespace beside the
 * "k:" of requests, so each has its own slot. */
static size_t tpm_key(const struct request *req, char *buf, size_t n)
{
	return (size_t)snprintf(buf, n, "t:%s", req->key_fp);
}

/* The key's token limit; 0 when none applies to this request. */
static long tpm_limit(const struct request *req)
{
	if (!req->authenticated || !req->app->limits)
		return 0;
	return app_key_token_limit(req->app, req->key_index);
}

int tpm_limit_outcome(struct request *req, enum lim_outcome o)
{
	switch (o) {
	case LIM_COUNTED:
		return 0;
	case LIM_UNCHECKED:
		/* serve rather than fail closed on our own fault, or as REDIS_ON_FAILURE=open says */
		req->limits_unchecked = true;
		return 1;
	case LIM_UNAVAILABLE:
		break;
	}
	req->limits_unchecked = true;
	return lim_refuse(&req->err);
}

void tpm_peek(struct request *req)
{
	long limit = tpm_limit(req);
	char key[40];
	if (limit <= 0)
		return;
	size_t n = tpm_key(req, key, sizeof key);
	if (lim_check(req->app->limits, key, n, limit, 0, now_us() / 1000, &req->tpm) == LIM_COUNTED)
		req->has_tpm = true;
}

/* The wait, carried by the 429 in req->err. Returns -1 (OA_ERROR). */
static int retry_headers(struct request *req, int64_t retry_ms)
{
	oa_error_header(&req->err, "Retry-After", "%lld", (long long)((retry_ms + 999) / 1000));
	oa_error_header(&req->err, "retry-after-ms", "%lld", (long long)retry_ms);
	return -1;
}

int tpm_reserve(struct request *req, const char *model, long tokens)
{
	long limit = tpm_limit(req);
	char key[40];
	if (limit <= 0)
		return 0;
	if (tokens > limit) {
		/* never admissible: no wait would help, so no Retry-After */
		return oa_error_set(&req->err, 429, "tokens", "rate_limit_exceeded", NULL,
				    "Request too large for %.100s in key %s on tokens per min (TPM): Limit %ld, "
				    "Requested %ld. The input or output tokens must be reduced in order to run "
				    "successfully.", model, req->key_name, limit, tokens);
	}
	size_t n = tpm_key(req, key, sizeof key);
	struct rl_result r;
	int outcome = tpm_limit_outcome(req, lim_check(req->app->limits, key, n, limit, tokens, now_us() / 1000, &r));
	if (outcome != 0)
		return outcome < 0 ? -1 : 0;
	req->tpm = r;
	req->has_tpm = true;
	if (r.allowed) {
		req->tpm_reserved = tokens;
		return 0;
	}
	char again[32];
	rl_format_duration(r.retry_after_ms, again, sizeof again);
	oa_error_set(&req->err, 429, "tokens", "rate_limit_exceeded", NULL,
		     "Rate limit reached for %.100s in key %s on tokens per min (TPM): Limit %ld, "
		     "Used %ld, Requested %ld. Please try again in %s.", model, req->key_name, limit,
		     r.used, tokens, again);
	return retry_headers(req, r.retry_after_ms);
}

int tpm_reserve_chat(struct request *req, const struct chat_request *cr)
{
	if (tpm_limit(req) <= 0)
		return 0;  /* no limit: not even the prompt is counted */
	long tokens = kp_reservation(tok_prompt(cr), cr->max_tokens, cr->n,
				     req->app->cfg.rate_limit_default_max_tokens);
	return tpm_reserve(req, cr->model, tokens);
}

int tpm_reserve_completions(struct request *req, const struct completions_request *cr)
{
	if (tpm_limit(req) <= 0)
		return 0;
	long prompt = 0;
	for (size_t i = 0; i < cr->n_prompts; i++)
		prompt += cr->prompts[i].tokens;
	/* n choices for each prompt, each at most max_tokens (16 unless said) */
	long choices = (long)cr->n * (long)(cr->n_prompts ? cr->n_prompts : 1);
	long tokens = kp_reservation(prompt, cr->max_tokens, choices > 1 << 20 ? 1 << 20 : (int)choices,
				     req->app->cfg.rate_limit_default_max_tokens);
	return tpm_reserve(req, cr->model, tokens);
}

int tpm_reserve_embeddings(struct request *req, const struct emb_request *er)
{
	if (tpm_limit(req) <= 0)
		return 0;
	return tpm_reserve(req, er->model, emb_request_tokens(er));
}

void tpm_record_usage(struct request *req, const struct chat_usage *u)
{
	req->usage = *u;
	if (req->usage.prompt_tokens < 0)
		req->usage.prompt_tokens = 0;
	if (req->usage.completion_tokens < 0)
		req->usage.completion_tokens = 0;
	req->has_usage = true;
}

void tpm_settle(struct request *req)
{
	/* the limit the reservation was made under: its slot is keyed by it,
	 * whatever the key's limit is now */
	long limit = req->tpm.limit;
	char key[40];
	if (req->tpm_settled || req->tpm_reserved == 0 || !req->has_tpm || limit <= 0)
		return;
	req->tpm_settled = true;
	long delta;
	if (req->has_usage) {
		long real = req->usage.prompt_tokens + req->usage.completion_tokens;
		delta = real - req->tpm_reserved;
	} else if (!req->head_sent || req->status >= 400) {
		delta = -req->tpm_reserved;
	} else {
		return;
	}
	size_t n = tpm_key(req, key, sizeof key);
	struct rl_result r;
	if (delta != 0 && lim_settle(req->app->limits, key, n, limit, delta, now_us() / 1000, &r) == LIM_COUNTED)
		req->tpm = r;
}
