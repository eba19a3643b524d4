/* h_responses.c: POST /v1/responses: validate, answer through the model's backend as a Response or its events */
#include <string.h>
#include <time.h>

#include "app.h"
#include "backend.h"
#include "generate.h"
#include "log.h"
#include "upstream.h"
#include "response.h"
#include "responses_request.h"
#include "responses_response.h"
#include "responses_translate.h"
#include "routes.h"
#include "tpm.h"

/* The mock, or an upstream asked for a chat completion that comes back
 * translated: either way the builder makes the Response. */
static enum oa_result answer_built(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
				   const struct responses_request *rr, const struct rsp_meta *meta)
{
	struct rsp_builder b;
	struct chat_sink sink;
	struct gen_lazy_stream ls;
	gen_lazy_init(&ls, req);
	rsp_builder_init(&b, meta, rr->stream ? &ls.writer : NULL);
	rsp_builder_sink(&b, &sink);
	gen_sink_init(&sink, req);
	enum oa_result rc = be->chat(m, &rr->chat, &sink, &req->err);
	if (b.have_usage)
		tpm_record_usage(req, &b.usage);
	if (rc != OA_DONE && b.too_big) {
		/* the builder refused what came, as a sink refuses: not the client */
		log_warn("responses: the answer grew past %ld bytes", RSP_MAX_TEXT);
		rc = up_fail(&req->err, UP_MALFORMED);
	}
	if (!rr->stream) {
		if (rc == OA_DONE) {
			sb_reset(&req->out);
			rsp_json(&b, &req->out);
			resp_json(req, 200, req->out.buf, req->out.len);
		}
		rsp_builder_free(&b);
		return rc;
	}
	if (rc == OA_DONE)
		rsp_stream_end(&b);
	else if (rc == OA_ERROR && ls.w)
		rsp_stream_fail(&b, &req->err);
	rsp_builder_free(&b);
	return gen_stream_result(&ls, rc);
}

/* An upstream that speaks the Responses API: its answer passed on. */
static enum oa_result answer_relayed(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
				     const struct responses_request *rr)
{
	struct rsp_relay r;
	struct chat_sink sink;
	struct gen_lazy_stream ls;
	gen_lazy_init(&ls, req);
	rsp_relay_init(&r, rr->model, rr->stream ? &ls.writer : NULL);
	rsp_relay_sink(&r, &sink);
	gen_sink_init(&sink, req);
	enum oa_result rc = be->forward(m, "responses", rr->root, rr->stream, &sink, &req->err);
	if (!rr->stream && rc == OA_DONE)
		resp_json(req, 200, r.whole.buf, r.whole.len);
	if (rr->stream && rc == OA_ERROR && ls.w && !r.terminal) {
		/* the upstream broke off: end the stream as OpenAI ends a failed one */
		struct rsp_meta meta;
		struct rsp_builder b;
		rsp_meta_init(&meta, rr->model, rr->root, (long)time(NULL));
		rsp_builder_init(&b, &meta, &ls.writer);
		b.started = true;  /* its own head came from the upstream */
		b.seq = r.next_seq;
		rsp_stream_fail(&b, &req->err);
		rsp_builder_free(&b);
	}
	rsp_relay_free(&r);
	return rr->stream ? gen_stream_result(&ls, rc) : rc;
}

enum oa_result h_responses(struct request *req)
{
	struct responses_request rr;
	if (responses_request_parse(req->body.buf, req->body.len, &rr, &req->err) != 0)
		return OA_ERROR;
	/* the Responses API answers an unknown model with a 400, not chat's 404 */
	const struct model_cfg *m = gen_model(req, rr.model, EP_RESPONSES, 400);
	const struct backend_ops *be = m ? gen_backend(req, m) : NULL;
	enum oa_result rc = OA_ERROR;
	if (be && ((rr.stream && gen_stream_lease(req) != 0) || tpm_reserve_chat(req, &rr.chat) != 0))
		be = NULL;  /* over the key's streams or tokens: req->err says so */
	if (be && be->forward && m->backend == BACKEND_UPSTREAM && m->upstream.up->responses_native) {
		rc = answer_relayed(req, be, m, &rr);
	} else if (be) {
		struct rsp_meta meta;
		rsp_meta_init(&meta, rr.model, rr.root, (long)time(NULL));
		rc = answer_built(req, be, m, &rr, &meta);
	}
	responses_request_free(&rr);
	return rc;
}
