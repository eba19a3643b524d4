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

static int answer_whole(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
			const struct chat_request *cr, const struct chat_meta *meta)
{
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, meta, cr->n, cr->legacy_functions);
	chat_accum_sink(&acc, &sink);
	sink.header = gen_error_header;
	sink.gone = gen_client_left;
	sink.hctx = req;
	int rc = be->chat(m, cr, &sink, &req->err);
	if (acc.have_usage)
		gen_note_usage(req, &acc.usage);
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
	sink.header = gen_error_header;
	sink.gone = gen_client_left;
	sink.hctx = req;
	int rc = be->chat(m, cr, &sink, &req->err);
	if (st.have_usage)
		gen_note_usage(req, &st.usage);
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
