/* h_embeddings.c: POST /v1/embeddings: validate, check the model, answer the mock's vectors or relay */

#include "app.h"
#include "backend.h"
#include "embeddings.h"
#include "generate.h"
#include "response.h"
#include "routes.h"
#include "tpm.h"

enum oa_result h_embeddings(struct request *req)
{
	struct emb_request er;
	if (emb_request_parse(req->body.buf, req->body.len, &er, &req->err) != 0)
		return OA_ERROR;
	const struct model_cfg *m = gen_model(req, er.model, EP_EMBEDDINGS, 404);
	const struct backend_ops *be = m ? gen_backend(req, m) : NULL;
	enum oa_result rc = OA_ERROR;
	if (!be || tpm_reserve_embeddings(req, &er) != 0) {
		/* gen_model, gen_backend or the key's tokens said why */
	} else if (m->backend == BACKEND_UPSTREAM) {
		rc = gen_forward_whole(req, be, m, "embeddings", er.root, er.model);
	} else if (er.dimensions > m->dimensions) {
		oa_invalid(&req->err, "integer_above_max_value", "dimensions",
			   "Invalid 'dimensions': integer above maximum value. Expected a value <= %ld for "
			   "the model '%.200s', but got %ld instead.", m->dimensions, er.model, er.dimensions);
	} else {
		size_t dims = (size_t)(er.dimensions ? er.dimensions : m->dimensions);
		long tokens = emb_request_tokens(&er);
		const struct chat_usage usage = { tokens, 0, tokens };
		tpm_record_usage(req, &usage);
		tpm_settle(req);  /* before the head, which says what is left */
		const body_writer *w = resp_body_begin(req, "application/json");
		rc = emb_write_mock_answer(&er, er.model, dims, w, &req->out) == 0 ? OA_DONE : OA_CLIENT_GONE;
	}
	emb_request_free(&er);
	return rc;
}
