/* h_chat.c: POST /v1/chat/completions: validate, pick the model's backend, answer whole or as SSE */
#include <string.h>
#include <time.h>

#include "app.h"
#include "backend.h"
#include "chat_request.h"
#include "chat_response.h"
#include "generate.h"
#include "response.h"
#include "routes.h"
#include "tokens.h"

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
	gen_sink_init(&sink, req);
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

static int answer_stream(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
			 const struct chat_request *cr, const struct chat_meta *meta)
{
	struct chat_stream st;
	struct chat_sink sink;
	struct gen_lazy_stream ls;
	gen_lazy_init(&ls, req);
	chat_stream_init(&st, meta, &ls.writer, cr->include_usage, cr->legacy_functions);
	chat_stream_sink(&st, &sink);
	gen_sink_init(&sink, req);
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
	return gen_stream_result(&ls, rc);
}

int h_chat_completions(struct request *req)
{
	struct chat_request cr;
	if (chat_request_parse(req->body.buf, req->body.len, &cr, &req->err) != 0)
		return -1;
	const struct model_cfg *m = gen_model(req, cr.model, EP_CHAT, 404);
	const struct backend_ops *be = m ? gen_backend(req, m) : NULL;
	int rc = -1;
	if (be) {
		struct chat_meta meta;
		chat_meta_init(&meta, cr.model, (long)time(NULL));
		rc = cr.stream ? answer_stream(req, be, m, &cr, &meta) : answer_whole(req, be, m, &cr, &meta);
	}
	chat_request_free(&cr);
	return rc;
}
