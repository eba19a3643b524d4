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
#include "tpm.h"

/* What the answer cost: the backend's count when it gave one; for a
 * client that left before anything reached it, the prompt by our count
 * (for the access log, and the key is charged that much). */
static void note_usage(struct request *req, const struct chat_request *cr, const struct chat_usage *u,
		       bool gone_before_answer)
{
	if (u) {
		tpm_record_usage(req, u);
	} else if (gone_before_answer) {
		struct chat_usage prompt = { tok_prompt(cr), 0, tok_prompt(cr) };
		tpm_record_usage(req, &prompt);
	}
}

static enum oa_result answer_whole(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
				   const struct chat_request *cr, const struct chat_meta *meta)
{
	struct chat_accum acc;
	struct chat_sink sink;
	chat_accum_init(&acc, meta, cr->n, cr->legacy_functions);
	chat_accum_sink(&acc, &sink);
	gen_sink_init(&sink, req);
	enum oa_result rc = be->chat(m, cr, &sink, &req->err);
	note_usage(req, cr, acc.have_usage ? &acc.usage : NULL, rc == OA_CLIENT_GONE);
	if (rc == OA_DONE) {
		/* before the head: its x-ratelimit-*-tokens say what is left after */
		tpm_settle(req);
		sb_reset(&req->out);
		chat_accum_json(&acc, &req->out);
		resp_json(req, 200, req->out.buf, req->out.len);
	}
	chat_accum_free(&acc);
	return rc;
}

static enum oa_result answer_stream(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
				    const struct chat_request *cr, const struct chat_meta *meta)
{
	struct chat_stream st;
	struct chat_sink sink;
	struct gen_lazy_stream ls;
	gen_lazy_init(&ls, req);
	chat_stream_init(&st, meta, &ls.writer, cr->include_usage, cr->legacy_functions);
	chat_stream_sink(&st, &sink);
	gen_sink_init(&sink, req);
	enum oa_result rc = be->chat(m, cr, &sink, &req->err);
	/* a stream that had begun and lost its client keeps its reservation:
	 * what it sent is not counted here */
	note_usage(req, cr, st.have_usage ? &st.usage : NULL, rc == OA_CLIENT_GONE && !ls.w);
	if (rc == OA_DONE)
		chat_stream_end(&st);
	else if (rc == OA_ERROR && ls.w)
		chat_stream_error(&st, &req->err);
	chat_stream_free(&st);
	return gen_stream_result(&ls, rc);
}

/* What the key's policy asks before an answer: a stream slot, its tokens. */
static int admit_answer(struct request *req, const struct chat_request *cr)
{
	if (cr->stream && gen_stream_lease(req) != 0)
		return -1;
	return tpm_reserve_chat(req, cr);
}

enum oa_result h_chat_completions(struct request *req)
{
	struct chat_request cr;
	if (chat_request_parse(req->body.buf, req->body.len, &cr, &req->err) != 0)
		return OA_ERROR;
	const struct model_cfg *m = gen_model(req, cr.model, EP_CHAT, 404);
	const struct backend_ops *be = m ? gen_backend(req, m) : NULL;
	enum oa_result rc = OA_ERROR;
	if (be && admit_answer(req, &cr) == 0) {
		struct chat_meta meta;
		chat_meta_init(&meta, cr.model, (long)time(NULL));
		rc = cr.stream ? answer_stream(req, be, m, &cr, &meta) : answer_whole(req, be, m, &cr, &meta);
	}
	chat_request_free(&cr);
	return rc;
}
