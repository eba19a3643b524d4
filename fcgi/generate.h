/* generate.h: what every endpoint that asks a model shares: finding it, its backend, a stream's lazy head */
#ifndef OAF_GENERATE_H
#define OAF_GENERATE_H
#include <stdbool.h>

#include "backend.h"
#include "config.h"
#include "request.h"
#include "writer.h"

/* The model id names, for endpoint ep. NULL with req->err set when there
 * is none (unknown_status: 404 as chat completions answer, 400 as the
 * Responses API does; code model_not_found, param model) or when the model
 * does not answer ep (400 naming the model and the endpoint). */
const struct model_cfg *gen_model(struct request *req, const char *id, enum model_endpoint ep,
				  int unknown_status);

/* The backend serving m, or NULL with a 500 in req->err. */
const struct backend_ops *gen_backend(struct request *req, const struct model_cfg *m);

/* A sink's header callback: a header the client gets with the error the
 * backend is about to return (an upstream's retry-after), carried by
 * req->err. hctx is req. */
void gen_error_header(void *hctx, const char *name, const char *value);
/* A sink's gone callback: has the client left (the front closed the
 * request)? hctx is req. */
bool gen_client_left(void *hctx);
/* Gives a backend's sink what every endpoint's has: the error headers, the
 * client-gone check, which deployment answered (the x-openai-fcgi-deployment
 * header and the access log), and how often a silent stream must write to
 * notice a client that left. */
void gen_sink_init(struct chat_sink *sink, struct request *req);
/* A whole answer from the model's upstream's own endpoint ("completions",
 * "embeddings"): root (borrowed) is sent with the model name mapped, and the
 * answer is relayed with the client's name (model) back in it, as one JSON
 * answer. Returns as a handler does (routes.h). */
enum oa_result gen_forward_whole(struct request *req, const struct backend_ops *be, const struct model_cfg *m,
		      const char *endpoint, json_object *root, const char *model);
/* A key with max_streams holds one lease for each stream it has open, in
 * any process; the dispatcher ends it with the request. 0, or -1 with a
 * 429 (type streams) when every one is held. */
int gen_stream_lease(struct request *req);

/* A stream whose head goes out with its first byte, not before: a backend
 * that fails before it has anything to say (an upstream's 429, a timeout
 * before the first byte) still gets its own status and headers. */
struct gen_lazy_stream {
	struct request *req;
	const body_writer *w;   /* NULL until the first write */
	body_writer writer;     /* what the sinks write to */
};

/* Prepares ls for req (borrowed); ls->writer is then the stream. */
void gen_lazy_init(struct gen_lazy_stream *ls, struct request *req);

/* What the handler of a stream returns after the backend returned rc:
 * once the head is out a failure travels inside the stream (the handler
 * sent it as an event), so the request is answered; before, OA_ERROR lets
 * the dispatcher answer it with its status and headers. */
static inline enum oa_result gen_stream_result(const struct gen_lazy_stream *ls, enum oa_result rc)
{
	return rc == OA_ERROR && ls->w ? OA_DONE : rc;
}

#endif
