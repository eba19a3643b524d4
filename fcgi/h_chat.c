/* h_chat.c: POST /v1/chat/completions: validate, pick the model's backend, answer whole or as SSE */
#include <string.h>
#include <time.h>

#include "app.h"
#include "backend.h"
#include "chat_request.h"
#include "chat_response.h"
#include "key_policy.h"
#include "response.h"
#include "routes.h"
#include "tpm.h"

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

static int answer_whole(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
			const struct chat_request *cr, const struct chat_meta *meta)
{
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, meta, cr->n, cr->legacy_functions);
	chat_accum_sink(&acc, &sink);
	sink.header = error_header;
	sink.gone = client_left;
	sink.hctx = req;
	int rc = be->chat(m, cr, &sink, &req->err);
	if (acc.have_usage)
		tpm_record_usage(req, &acc.usage);
	if (rc == 0) {
		/* before the head: its x-ratelimit-*-tokens say what is left after */
		tpm_settle(req);
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
	sink.header = error_header;
	sink.gone = client_left;
	sink.hctx = req;
	int rc = be->chat(m, cr, &sink, &req->err);
	if (st.have_usage)
		tpm_record_usage(req, &st.usage);
	if (rc == 0)
		chat_stream_end(&st);
	else if (ls.w && !req->client_gone)
		chat_stream_error(&st, &req->err);
	chat_stream_free(&st);
	return rc != 0 && !ls.w && !req->client_gone ? -1 : 0;
}

/* A key with max_streams holds one lease for the whole stream; the
 * dispatcher ends it. 0, or -1 with a 429 when every lease is held. */
static int take_stream_lease(struct request *req)
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

/* The model as the key may see it: one outside its models list is, to this
 * key, a model that does not exist (OpenAI's answer too). */
static const struct model_cfg *model_for_key(const struct request *req, const char *id)
{
	const struct key_cfg *k = req->key;
	if (k && !kp_model_allowed(k->models, k->n_models, id))
		return NULL;
	return config_find_model(&req->app->cfg, id);
}

/* What the key's policy asks before an answer: a stream slot, its tokens. */
static int admit_answer(struct request *req, const struct chat_request *cr)
{
	if (cr->stream && take_stream_lease(req) != 0)
		return -1;
	return tpm_reserve_chat(req, cr);
}

int h_chat_completions(struct request *req)
{
	struct chat_request cr;
	if (chat_request_parse(req->body.buf, req->body.len, &cr, &req->err) != 0)
		return -1;
	const struct model_cfg *m = model_for_key(req, cr.model);
	const struct backend_ops *be = m ? backend_for(m) : NULL;
	int rc = -1;
	if (!m) {
		oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "model_not_found", "model",
			     "The model '%.200s' does not exist or you do not have access to it.", cr.model);
	} else if (!be) {
		oa_error_set(&req->err, 500, OA_SERVER, "internal_server_error", NULL,
			     "The model '%.200s' has no backend that can serve it.", cr.model);
	} else if (admit_answer(req, &cr) == 0) {
		struct chat_meta meta;
		chat_meta_init(&meta, cr.model, (long)time(NULL));
		rc = cr.stream ? answer_stream(req, be, m, &cr, &meta) : answer_whole(req, be, m, &cr, &meta);
	}
	chat_request_free(&cr);
	return rc;
}
