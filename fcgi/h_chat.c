/* h_chat.c: POST /v1/chat/completions: validate, pick the model's backend, answer whole or as SSE */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "backend.h"
#include "chat_request.h"
#include "chat_response.h"
#include "response.h"
#include "routes.h"
#include "tokens.h"

static const struct backend_ops *backend_for(const struct model_cfg *m)
{
	switch (m->backend) {
	case BACKEND_MOCK:
		return &backend_mock;
	case BACKEND_UPSTREAM:
		return &backend_upstream;
	default:
		return NULL;
	}
}

/* A header a backend asks for with its error (an upstream's retry-after). */
static void error_header(void *hctx, const char *name, const char *value)
{
	resp_header(hctx, name, "%s", value);
}

static bool client_left(void *hctx)
{
	return resp_client_gone(hctx);
}

/* Which deployment answers: for the access log, and as a header (the
 * backend says it before the answer's first byte). */
static void answered_by(void *hctx, const char *name)
{
	struct request *req = hctx;
	snprintf(req->deployment, sizeof req->deployment, "%s", name);
	resp_header(req, "x-openai-fcgi-deployment", "%s", name);
}

/* How often a silent stream must write to see that its client left:
 * nginx closes the FastCGI connection at once (a poll sees it, no write
 * needed); lighttpd and Apache notice only when a write to the client
 * fails, and a CGI process only when its pipe breaks. */
#define PROBE_MS 500

static long probe_period(const struct request *req)
{
	const char *sw = req_param(req, "SERVER_SOFTWARE");
	return sw && strncmp(sw, "nginx", 5) == 0 ? 0 : PROBE_MS;
}

static void sink_for_request(struct chat_sink *sink, struct request *req)
{
	sink->header = error_header;
	sink->gone = client_left;
	sink->deployment = answered_by;
	sink->probe_ms = probe_period(req);
	sink->hctx = req;
}

/* A client that left: the usage known so far goes to the access log (the
 * prompt by our count; what the backend had reported, else nothing). */
static void note_usage(struct request *req, const struct chat_request *cr, const struct chat_usage *u)
{
	req->prompt_tokens = u ? u->prompt_tokens : tok_prompt(cr);
	req->completion_tokens = u ? u->completion_tokens : 0;
}

static int answer_whole(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
			const struct chat_request *cr, const struct chat_meta *meta)
{
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, meta, cr->n, cr->legacy_functions);
	chat_accum_sink(&acc, &sink);
	sink_for_request(&sink, req);
	int rc = be->chat(m, cr, &sink, &req->err);
	if (rc != 0 && req->client_gone)
		note_usage(req, cr, acc.have_usage ? &acc.usage : NULL);
	if (rc == 0) {
		sb_reset(&req->out);
		chat_accum_json(&acc, &req->out);
		resp_json(req, 200, req->out.buf, req->out.len);
	}
	chat_accum_free(&acc);
	/* a client that left while the backend worked gets nothing more */
	return rc != 0 && req->client_gone ? 0 : rc;
}

/* The stream's head goes out with its first event, not before: a backend
 * that fails before it has anything to say (an upstream's 429, a timeout
 * before the first byte) still gets its own status and headers. */
struct lazy_stream {
	struct request *req;
	const body_writer *w;   /* NULL until the first write */
};

static const body_writer *lazy_begin(struct lazy_stream *ls)
{
	if (!ls->w)
		ls->w = resp_stream_begin(ls->req);
	return ls->w;
}

static int lazy_write(void *ctx, const char *p, size_t n)
{
	const body_writer *w = lazy_begin(ctx);
	return w->write(w->ctx, p, n);
}

static int lazy_flush(void *ctx)
{
	const body_writer *w = lazy_begin(ctx);
	return w->flush(w->ctx);
}

/* Once the head is out, failures travel inside the stream as an error
 * event; a client that went away just ends it. Before, they are ordinary
 * error answers. */
static int answer_stream(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
			 const struct chat_request *cr, const struct chat_meta *meta)
{
	struct chat_stream st;
	struct chat_sink sink;
	struct lazy_stream ls = { req, NULL };
	const body_writer lazy = { &ls, lazy_write, lazy_flush };
	chat_stream_init(&st, meta, &lazy, cr->include_usage, cr->legacy_functions);
	chat_stream_sink(&st, &sink);
	sink_for_request(&sink, req);
	int rc = be->chat(m, cr, &sink, &req->err);
	/* a stream that had not begun knows its prompt; one that had, what it
	 * sent, which is not counted here (the relay would pay for it) */
	if (rc != 0 && req->client_gone && !ls.w)
		note_usage(req, cr, NULL);
	if (rc == 0)
		chat_stream_end(&st);
	else if (ls.w && !req->client_gone)
		chat_stream_error(&st, &req->err);
	chat_stream_free(&st);
	return rc != 0 && !ls.w && !req->client_gone ? -1 : 0;
}

int h_chat_completions(struct request *req)
{
	struct chat_request cr;
	if (chat_request_parse(req->body.buf, req->body.len, &cr, &req->err) != 0)
		return -1;
	const struct model_cfg *m = config_find_model(&req->app->cfg, cr.model);
	const struct backend_ops *be = m ? backend_for(m) : NULL;
	int rc = -1;
	if (!m) {
		oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "model_not_found", "model",
			     "The model '%.200s' does not exist or you do not have access to it.", cr.model);
	} else if (!be) {
		oa_error_set(&req->err, 500, OA_SERVER, "internal_server_error", NULL,
			     "The model '%.200s' has no backend that can serve it.", cr.model);
	} else {
		struct chat_meta meta;
		chat_meta_init(&meta, cr.model, (long)time(NULL));
		rc = cr.stream ? answer_stream(req, be, m, &cr, &meta) : answer_whole(req, be, m, &cr, &meta);
	}
	chat_request_free(&cr);
	return rc;
}
