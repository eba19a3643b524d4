/* generate.c: what every endpoint that asks a model shares: finding it, its backend, a stream's lazy head */
#include "generate.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "chat_response.h"
#include "response.h"
#include "routes.h"
#include "stream_lease.h"

const struct model_cfg *gen_model(struct request *req, const char *id, enum model_endpoint ep,
				  int unknown_status)
{
	const struct model_cfg *m = models_lookup(req, id);
	if (!m) {
		oa_error_set(&req->err, unknown_status, OA_INVALID_REQUEST, "model_not_found", "model",
			     "The model '%.200s' does not exist or you do not have access to it.", id);
		return NULL;
	}
	if (!(m->endpoints & ep)) {
		/* OpenAI's words when a model is asked for what it does not do */
		static const struct { enum model_endpoint ep; const char *what, *path; } eps[] = {
			{ EP_CHAT, "a chat model", "v1/chat/completions" },
			{ EP_RESPONSES, "a chat model", "v1/responses" },
			{ EP_COMPLETIONS, "a completions model", "v1/completions" },
			{ EP_EMBEDDINGS, "an embedding model", "v1/embeddings" },
		};
		size_t i = 0;
		while (i + 1 < sizeof eps / sizeof eps[0] && eps[i].ep != ep)
			i++;
		oa_error_set(&req->err, 400, OA_INVALID_REQUEST, NULL, "model",
			     "The model '%.200s' is not %s and thus not supported in the %s endpoint.",
			     id, eps[i].what, eps[i].path);
		return NULL;
	}
	/* labels for usage and /metrics: configured names only, never the client's text */
	req->model_id = m->id;
	req->upstream_name = m->backend == BACKEND_UPSTREAM && m->upstream.up ? m->upstream.up->name : NULL;
	return m;
}

const struct backend_ops *gen_backend(struct request *req, const struct model_cfg *m)
{
	switch (m->backend) {
	case BACKEND_MOCK:
		return &backend_mock;
	case BACKEND_UPSTREAM:
		return &backend_upstream;
	}
	oa_error_set(&req->err, 500, OA_SERVER, "internal_server_error", NULL,
		     "The model '%.200s' has no backend that can serve it.", m->id);
	return NULL;
}

void gen_error_header(void *hctx, const char *name, const char *value)
{
	struct request *req = hctx;
	oa_error_header(&req->err, name, "%s", value);
}

bool gen_client_left(void *hctx)
{
	return resp_client_gone(hctx);
}

/* Which deployment answers: for the access log, and as a header (the
 * backend says it before the answer's first byte). */
static void answered_by(void *hctx, const char *name)
{
	struct request *req = hctx;
	size_t n = strnlen(name, sizeof req->deployment - 1);
	memcpy(req->deployment, name, n);
	req->deployment[n] = '\0';
	resp_header(req, "x-openai-fcgi-deployment", "%s", name);
}

/* How often a silent stream must write to see that its client left:
 * nginx closes the FastCGI connection at once (a poll sees it, no write
 * needed); lighttpd and Apache notice only when a write to the client
 * fails, and a CGI process only when its pipe breaks. */
#define PROBE_MS 500

static long probe_period(const struct request *req)
{
	const char *sw = req_var(req, CGI_SERVER_SOFTWARE);
	return sw && strncmp(sw, "nginx", 5) == 0 ? 0 : PROBE_MS;
}

enum oa_result gen_forward_whole(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
				 const char *endpoint, json_object *root, const char *model)
{
	struct chat_meta meta;
	struct chat_accum acc;
	struct chat_sink sink;
	chat_meta_init(&meta, model, (long)time(NULL));
	chat_accum_init(&acc, &meta, 1, false);
	chat_accum_sink(&acc, &sink);
	gen_sink_init(&sink, req);
	enum oa_result rc = be->forward(m, endpoint, root, false, &sink, &req->err);
	if (rc == OA_DONE) {
		sb_reset(&req->out);
		chat_accum_json(&acc, &req->out);
		resp_json(req, 200, req->out.buf, req->out.len);
	}
	chat_accum_free(&acc);
	return rc;
}

int gen_stream_lease(struct request *req)
{
	const struct key_cfg *k = req->key;
	char key[40];
	if (!k || k->max_streams <= 0 || !req->app->streams)
		return 0;
	int n = snprintf(key, sizeof key, "s:%s", req->key_fp);
	switch (sl_acquire(req->app->streams, key, (size_t)n, k->max_streams, &req->stream_lease)) {
	case SL_HELD:
	case SL_ERROR:  /* logged; serve rather than fail closed on our own fault */
		return 0;
	case SL_FULL:
		break;
	}
	return oa_error_set(&req->err, 429, "streams", "rate_limit_exceeded", NULL,
			    "Too many concurrent streams for key %s: Limit %ld. Please try again when one "
			    "of its streams has ended.", req->key_name, k->max_streams);
}

/* A stream's wait, held by main.c's wait loop when the request runs on a
 * fiber (app.stream_wait); -1: the backend waits on this thread. */
static int gen_wait(void *hctx, int fd, long ms)
{
	struct request *req = hctx;
	return req->fiber && req->app->stream_wait ? req->app->stream_wait(req, fd, ms) : -1;
}

static bool gen_waits_in_loop(void *hctx)
{
	struct request *req = hctx;
	return req->fiber && req->app->waits_in_loop && req->app->waits_in_loop(req);
}

void gen_sink_init(struct chat_sink *sink, struct request *req)
{
	sink->wait = gen_wait;
	sink->waits_in_loop = gen_waits_in_loop;
	sink->header = gen_error_header;
	sink->gone = gen_client_left;
	sink->deployment = answered_by;
	sink->probe_ms = probe_period(req);
	sink->hctx = req;
}

static const body_writer *lazy_begin(struct gen_lazy_stream *ls)
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

void gen_lazy_init(struct gen_lazy_stream *ls, struct request *req)
{
	ls->req = req;
	ls->w = NULL;
	ls->writer = (body_writer){ ls, lazy_write, lazy_flush };
}
