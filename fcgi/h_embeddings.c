/* h_embeddings.c: POST /v1/embeddings: validate, check the model, answer the vectors */
#include "app.h"
#include "embeddings.h"
#include "response.h"
#include "routes.h"

int h_embeddings(struct request *req)
{
	struct emb_request er;
	if (emb_request_parse(req->body.buf, req->body.len, &er, &req->err) != 0)
		return -1;
	const struct model_cfg *m = config_find_model(&req->app->cfg, er.model);
	int rc = -1;
	if (!m) {
		oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "model_not_found", "model",
			     "The model '%.200s' does not exist or you do not have access to it.", er.model);
	} else if (!m->dimensions) {
		oa_invalid(&req->err, "invalid_model", "model",
			   "The model '%.200s' does not support embeddings.", er.model);
	} else if (er.dimensions > m->dimensions) {
		oa_invalid(&req->err, "integer_above_max_value", "dimensions",
			   "Invalid 'dimensions': integer above maximum value. Expected a value <= %ld for "
			   "the model '%.200s', but got %ld instead.", m->dimensions, er.model, er.dimensions);
	} else {
		size_t dims = (size_t)(er.dimensions ? er.dimensions : m->dimensions);
		const body_writer *w = resp_body_begin(req, "application/json");
		emb_write_mock_answer(&er, er.model, dims, w, &req->out);
		rc = 0;
	}
	emb_request_free(&er);
	return rc;
}
