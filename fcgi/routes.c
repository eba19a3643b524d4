/* routes.c: the route table and the dispatcher that checks its flags once, centrally */
#include "routes.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "key_policy.h"
#include "log.h"
#include "response.h"
#include "tpm.h"
#include "usage.h"

static const struct route routes[] = {
	{ "GET",  "/health",              h_health,           0 },
	{ "GET",  "/v1",                  h_v1_root,          R_RATE_LIMITED },
	{ "GET",  "/v1/",                 h_v1_root,          R_RATE_LIMITED },
	{ "GET",  "/v1/models",           h_models_list,      R_AUTH | R_RATE_LIMITED },
	{ "GET",  "/v1/models/{}",        h_models_get,       R_AUTH | R_RATE_LIMITED },
	{ "POST", "/v1/chat/completions", h_chat_completions, R_AUTH | R_RATE_LIMITED | R_JSON_BODY | R_MAY_STREAM },
	{ "POST", "/v1/responses",        h_responses,        R_AUTH | R_RATE_LIMITED | R_JSON_BODY | R_MAY_STREAM },
	{ "POST", "/v1/completions",      h_completions,      R_AUTH | R_RATE_LIMITED | R_JSON_BODY | R_MAY_STREAM },
	{ "POST", "/v1/embeddings",       h_embeddings,       R_AUTH | R_RATE_LIMITED | R_JSON_BODY | R_MAY_STREAM },
	{ "GET",  "/openapi.json",        h_docs,             R_DOCS },
	{ "GET",  "/docs",                h_docs,             R_DOCS },
	{ "GET",  "/docs/{}",             h_docs,             R_DOCS },
	{ "GET",  "/redoc",               h_docs,             R_DOCS },
	{ "GET",  "/playground",          h_docs,             R_DOCS },
	{ "GET",  "/metrics",             h_metrics,          0 },
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

/* Does path match pattern? Sets *arg for a "{}" segment. */
static bool path_matches(const char *pattern, const char *path, const char **arg)
{
	size_t plen = strlen(pattern);
	if (plen >= 2 && strcmp(pattern + plen - 2, "{}") == 0) {
		size_t fixed = plen - 2;
		if (strncmp(pattern, path, fixed) != 0)
			return false;
		const char *seg = path + fixed;
		if (!*seg || strchr(seg, '/'))
			return false;
		*arg = seg;
		return true;
	}
	return strcmp(pattern, path) == 0;
}

const struct route *route_table(size_t *n)
{
	*n = N_ROUTES;
	return routes;
}

/* route_match(), blind to the rows with any of the hidden flags. */
static const struct route *match_visible(const char *method, const char *path, const char **arg,
					 bool *path_known, char *allow, size_t n, unsigned hidden)
{
	*path_known = false;
	if (n)
		allow[0] = '\0';
	for (const char *suffix = path; suffix; suffix = strchr(suffix + 1, '/')) {
		const struct route *found = NULL;
		for (size_t i = 0; i < N_ROUTES; i++) {
			const char *a = NULL;
			if ((routes[i].flags & hidden) || !path_matches(routes[i].path, suffix, &a))
				continue;
			if (!*path_known) {
				*path_known = true;
				snprintf(allow, n, "OPTIONS");
			}
			size_t used = strlen(allow);
			snprintf(allow + used, n - used, ", %s", routes[i].method);
			if (strcmp(routes[i].method, method) == 0) {
				found = &routes[i];
				*arg = a;
			}
		}
		if (*path_known)
			return found;
	}
	return NULL;
}

const struct route *route_match(const char *method, const char *path, const char **arg,
				bool *path_known, char *allow, size_t n)
{
	return match_visible(method, path, arg, path_known, allow, n, 0);
}

bool route_may_stream(struct request *req)
{
	char allow[128];
	bool path_known;
	const char *arg;
	if (request_parse(req) != 0)
		return false; /* answered with its 400 or 431 at once */
	const struct route *r = route_match(req->method, req->path, &arg, &path_known, allow, sizeof allow);
	return r && (r->flags & R_MAY_STREAM);
}

/* Header names a browser asks to send: echoed back only when they are
 * plain tokens, so that nothing the client wrote can break the head. */
static bool header_list_ok(const char *v)
{
	for (; *v; v++)
		if (!((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') ||
		      *v == '-' || *v == '_' || *v == ',' || *v == ' '))
			return false;
	return true;
}

/* CORS preflight: no auth, no limit; say what a browser may send. */
static int preflight(struct request *req, const char *allow)
{
	const char *asked = req_var(req, CGI_HTTP_ACCESS_CONTROL_REQUEST_HEADERS);
	if (asked && !header_list_ok(asked))
		asked = NULL;
	resp_header(req, "Access-Control-Allow-Methods", "%s", allow);
	resp_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type%s%.1024s",
		    asked && *asked ? ", " : "", asked ? asked : "");
	resp_header(req, "Access-Control-Max-Age", "600");
	return resp_no_content(req);
}

/* Counts the request against its key, or its address when no key was
 * accepted. 0, or -1 with a 429 in req->err. */
static int rate_limit(struct request *req)
{
	const struct app *app = req->app;
	char key[96];
	long limit;
	if (req->authenticated) {
		size_t n = strlen(req->key_fp);  /* AUTH_FP_LEN: "k:" and it fit */
		memcpy(key, "k:", 2);
		memcpy(key + 2, req->key_fp, n + 1);
		limit = app_key_limit(app, req->key_index);
	} else {
		const char *addr = req_var(req, CGI_REMOTE_ADDR);
		snprintf(key, sizeof key, "ip:%.80s", addr ? addr : "-");
		limit = app->cfg.rate_limit_per_minute;
	}
	if (!app->limits)
		return 0;
	int outcome = tpm_limit_outcome(req, lim_check(app->limits, key, strlen(key), limit, 1, now_us() / 1000,
						       &req->rl));
	if (outcome != 0)
		return outcome < 0 ? -1 : 0;
	req->has_rl = true;
	tpm_peek(req);  /* a key with a token limit shows it on every answer, this 429 too */
	if (req->rl.allowed)
		return 0;
	char again[32];
	long long retry_ms = (long long)req->rl.retry_after_ms;
	rl_format_duration(req->rl.retry_after_ms, again, sizeof again);
	oa_error_set(&req->err, 429, OA_RATE_LIMIT, "rate_limit_exceeded", NULL,
		     "Rate limit reached for requests per min (RPM) on %s: Limit %ld, Used %ld, "
		     "Requested 1. Please try again in %s.",
		     req->authenticated ? req->key_name : "this address", limit, limit, again);
	oa_error_header(&req->err, "Retry-After", "%lld", (retry_ms + 999) / 1000);
	oa_error_header(&req->err, "retry-after-ms", "%lld", retry_ms);
	return -1;
}

/* A key outside its not_before .. expires is refused as OpenAI refuses a
 * key it no longer accepts, saying which bound and when. Its requests
 * still count against it (the caller's rate limit runs after). */
static int check_key_validity(struct request *req, const struct key_cfg *k)
{
	char when[32];
	switch (kp_validity_at(k->not_before, k->expires, now_us() / 1000000)) {
	case KP_VALID:
		return 0;
	case KP_EXPIRED:
		kp_format_time(k->expires, when, sizeof when);
		return oa_error_set(&req->err, 401, OA_AUTHENTICATION, "key_expired", NULL,
				    "This API key (%s) expired at %s. Ask for a new key.", req->key_name, when);
	case KP_NOT_YET_VALID:
		kp_format_time(k->not_before, when, sizeof when);
		return oa_error_set(&req->err, 401, OA_AUTHENTICATION, "key_not_yet_valid", NULL,
				    "This API key (%s) is not valid before %s.", req->key_name, when);
	}
	return 0;
}

/* A key over its tokens_per_day or tokens_per_month (UTC, from the usage
 * file) is refused as OpenAI refuses an account out of credit. Requests
 * in flight are not counted until they end, so concurrent ones may
 * overshoot a budget by what they use: the tokens of an answer are known
 * only after it (tokens per minute reserves; a day's budget would hold
 * its reservation for as long as the longest stream). 0, or -1 with a 429. */
static int check_budget(struct request *req)
{
	const struct key_cfg *k = app_key(req->app, req->key_index);
	uint64_t day = 0, month = 0;
	if (!req->authenticated || !k || (!k->tokens_per_day && !k->tokens_per_month) || !req->app->usage)
		return 0;
	if (um_key_tokens(req->app->usage, req->key_name, now_us() / 1000000, &day, &month) != 0)
		return 0;  /* logged; serve rather than fail closed on our own fault */
	if ((k->tokens_per_day && day >= (uint64_t)k->tokens_per_day) ||
	    (k->tokens_per_month && month >= (uint64_t)k->tokens_per_month))
		return oa_error_set(&req->err, 429, "insufficient_quota", "insufficient_quota", NULL,
				    "You exceeded your current quota, please check your plan and billing details. "
				    "For more information on this error, read the docs: "
				    "https://platform.openai.com/docs/guides/error-codes/api-errors.");
	return 0;
}

static int authenticate(struct request *req)
{
	const struct app *app = req->app;
	if (auth_check(&app->keys, req_var(req, CGI_HTTP_AUTHORIZATION), config_strict(&app->cfg),
		       &req->key_index, &req->err) != 0)
		return -1;
	req->authenticated = true;
	auth_fingerprint_key(&app->keys, req->key_index, req->key_fp);
	req->key = app_key(app, req->key_index);
	if (req->key && req->key->name)
		req->key_name = req->key->name;
	return req->key ? check_key_validity(req, req->key) : 0;
}

/* The steps before the handler, in order; any may answer instead of it.
 * Not inlined: its frames would stay on the stack of every stream. */
__attribute__((noinline)) static int admit(struct request *req, const char *allow, bool path_known)
{
	if (!req->route) {
		if (path_known) {
			oa_error_set(&req->err, 405, OA_INVALID_REQUEST, "method_not_allowed", NULL,
				     "Invalid method for URL (%s %s).", req->method, req->path);
			oa_error_header(&req->err, "Allow", "%s", allow);
			return -1;
		}
		return oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "unknown_url", NULL,
				    "Invalid URL (%s %s).", req->method, req->path);
	}
	unsigned flags = req->route->flags;
	if ((flags & R_AUTH) && authenticate(req) != 0) {
		/* Failed keys count against the address, so guessing is slowed. */
		oa_error auth_err = req->err;
		if (rate_limit(req) != 0)
			return -1;
		req->err = auth_err;
		return -1;
	}
	if ((flags & R_RATE_LIMITED) && rate_limit(req) != 0)
		return -1;
	/* budgets are of tokens: only the routes that ask a model (a JSON body) spend them */
	if ((flags & R_AUTH) && (flags & R_JSON_BODY) && check_budget(req) != 0)
		return -1;
	if ((flags & R_JSON_BODY) && request_read_json_body(req) != 0)
		return -1;
	return 0;
}

void route_dispatch(struct request *req)
{
	char allow[128] = "";
	bool path_known = false;
	/* In flight from here, not from request_begin(): the reserve thread
	 * begins a request only to see whether it may stream, and a parked
	 * one is begun again by the worker that answers it. */
	if (req->app->usage && um_gauge_add(req->app->usage, 1, 0) == 0)
		req->in_flight_counted = true;
	enum oa_result rc = request_parse(req) == 0 ? OA_DONE : OA_ERROR;
	if (rc == OA_DONE) {
		/* With DOCS off the pages answer exactly as if they did not exist. */
		unsigned hidden = config_docs_enabled(&req->app->cfg) ? 0 : R_DOCS;
		req->route = match_visible(req->method, req->path, &req->path_arg, &path_known, allow,
					   sizeof allow, hidden);
		if (path_known && strcmp(req->method, "OPTIONS") == 0) {
			preflight(req, allow);
			return;
		}
		rc = admit(req, allow, path_known) == 0 ? req->route->handler(req) : OA_ERROR;
	}
	/* whatever the handler did: a reservation is settled, a lease ends */
	tpm_settle(req);
	sl_release(req->stream_lease);
	req->stream_lease = -1;
	/* an error once the head is out travels in the answer (an SSE error
	 * event); a client that left gets nothing */
	if (rc != OA_ERROR || req->head_sent || req->client_gone)
		return;
	if (req->err.status == 0) {
		log_error("handler for %s %s failed without saying why", req->method, req->path);
		oa_error_set(&req->err, 500, OA_SERVER, "internal_server_error", NULL,
			     "The server had an error while processing your request. Sorry about that!");
	}
	resp_error(req, &req->err);
}
