/* h_completions.c: legacy POST /v1/completions: validate, answer text_completion objects whole or as SSE */
#include <string.h>
#include <time.h>

#include "app.h"
#include "backend.h"
#include "chat_response.h"
#include "completions_request.h"
#include "completions_response.h"
#include "generate.h"
#include "response.h"
#include "routes.h"
#include "tpm.h"

/* Each prompt is one run of the backend's chat answer, its choices placed
 * after the previous prompt's. */
static enum oa_result run_prompts(const struct backend_ops *be, const struct model_cfg *m,
				  const struct completions_request *cr, struct cmpl_out *o,
				  const struct chat_sink *sink, oa_error *err)
{
	for (size_t i = 0; i < cr->n_prompts; i++) {
		const struct cmpl_prompt *p = &cr->prompts[i];
		o->base = (int)i * o->n;
		cmpl_prompt_tokens(o, p->tokens);
		/* cmpl_echo() and cmpl_finish_prompt() fail only when the client left */
		if (cr->echo && cmpl_echo(o, (int)i, p->text, p->len) < 0)
			return OA_CLIENT_GONE;
		enum oa_result rc = cr->max_tokens != 0 ? be->chat(m, &cr->chat[i], sink, err)
				  : cmpl_finish_prompt(o, (int)i, "length") < 0 ? OA_CLIENT_GONE : OA_DONE;
		if (rc != OA_DONE)
			return rc;
	}
	return OA_DONE;
}

static enum oa_result answer_mock(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
				  const struct completions_request *cr)
{
	struct cmpl_out o;
	struct chat_sink sink;
	struct gen_lazy_stream ls;
	gen_lazy_init(&ls, req);
	cmpl_out_init(&o, cr->model, (long)time(NULL), cr->n_prompts, cr->n, cr->stream ? &ls.writer : NULL,
		      cr->include_usage);
	cmpl_out_sink(&o, &sink);
	gen_sink_init(&sink, req);
	enum oa_result rc = run_prompts(be, m, cr, &o, &sink, &req->err);
	if (rc == OA_DONE)
		tpm_record_usage(req, &o.usage);
	if (!cr->stream && rc == OA_DONE) {
		sb_reset(&req->out);
		cmpl_json(&o, &req->out);
		resp_json(req, 200, req->out.buf, req->out.len);
	} else if (cr->stream && rc == OA_DONE) {
		cmpl_end(&o);
	} else if (cr->stream && rc == OA_ERROR && ls.w) {
		cmpl_fail(&o, &req->err);
	}
	cmpl_out_free(&o);
	return cr->stream ? gen_stream_result(&ls, rc) : rc;
}

/* An upstream's own /completions, relayed with the model name mapped both
 * ways: chat's sinks pass relayed objects on as they are. */
static enum oa_result answer_forwarded(struct request *req, const struct backend_ops *be,
				       const struct model_cfg *m, const struct completions_request *cr)
{
	struct chat_meta meta;
	struct chat_sink sink;
	chat_meta_init(&meta, cr->model, (long)time(NULL));
	if (!cr->stream)
		return gen_forward_whole(req, be, m, "completions", cr->root, cr->model);
	struct chat_stream st;
	struct gen_lazy_stream ls;
	gen_lazy_init(&ls, req);
	chat_stream_init(&st, &meta, &ls.writer, cr->include_usage, false);
	chat_stream_sink(&st, &sink);
	gen_sink_init(&sink, req);
	enum oa_result rc = be->forward(m, "completions", cr->root, true, &sink, &req->err);
	if (rc == OA_DONE)
		chat_stream_end(&st);
	else if (rc == OA_ERROR && ls.w)
		chat_stream_error(&st, &req->err);
	chat_stream_free(&st);
	return gen_stream_result(&ls, rc);
}

enum oa_result h_completions(struct request *req)
{
	struct completions_request cr;
	if (completions_request_parse(req->body.buf, req->body.len, &cr, &req->err) != 0)
		return OA_ERROR;
	const struct model_cfg *m = gen_model(req, cr.model, EP_COMPLETIONS, 404);
	const struct backend_ops *be = m ? gen_backend(req, m) : NULL;
	enum oa_result rc = OA_ERROR;
	if (be && ((cr.stream && gen_stream_lease(req) != 0) || tpm_reserve_completions(req, &cr) != 0))
		be = NULL;  /* over the key's streams or tokens: req->err says so */
	if (be && be->forward)
		rc = answer_forwarded(req, be, m, &cr);
	else if (be)
		rc = answer_mock(req, be, m, &cr);
	completions_request_free(&cr);
	return rc;
}
