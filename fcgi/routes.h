/* routes.h: the route table and the dispatcher that checks its flags once, centrally */
#ifndef OAF_ROUTES_H
#define OAF_ROUTES_H
#include <stdbool.h>
#include <stddef.h>

#include "request.h"

#define R_AUTH         0x1  /* needs a valid Bearer key */
#define R_RATE_LIMITED 0x2  /* counts against the key's (or address's) limit */
#define R_JSON_BODY    0x4  /* reads a JSON body first (415/413/400) */
#define R_MAY_STREAM   0x8  /* may hold its thread for long (a stream, an upstream) */
#define R_DOCS         0x10 /* a documentation page: absent (404) unless DOCS is on */

/* A handler answers through response.h and says how it went: OA_DONE
 * (answered), OA_ERROR (req->err holds the error and its headers, nothing
 * sent: the dispatcher writes it with resp_error(), the one writer of
 * errors), OA_CLIENT_GONE (the client left: nothing more is sent). A
 * handler never writes an error envelope itself; once its stream has
 * begun, a failure is an event of the stream and the handler says OA_DONE. */
typedef enum oa_result (*route_handler)(struct request *req);

struct route {
	const char *method;
	const char *path;      /* a trailing "{}" matches one path segment */
	route_handler handler;
	unsigned flags;
};

/* Finds the route for method and path. The app may be mounted under any
 * prefix (/api/v1/models): the longest suffix of path that starts at a '/'
 * and matches a route wins. Returns the route, or NULL; *path_known tells
 * whether the path matched with another method, and allow (n bytes) then
 * lists the methods it takes. *arg points into path at the {} segment. */
const struct route *route_match(const char *method, const char *path, const char **arg,
				bool *path_known, char *allow, size_t n);

/* Would answering req hold a thread for long (a route with R_MAY_STREAM)?
 * The reserve thread answers the others itself. Reads only the method and
 * path; route_dispatch() then answers req as usual. */
bool route_may_stream(struct request *req);
/* The route table itself, *n rows, for the OpenAPI document's test. */
const struct route *route_table(size_t *n);

/* Answers the request: routing, CORS preflight, auth, rate limit, body,
 * handler, error envelope. Never fails; the answer has been sent after. */
void route_dispatch(struct request *req);

/* The handlers (h_*.c). */
enum oa_result h_health(struct request *req);
enum oa_result h_v1_root(struct request *req);
enum oa_result h_models_list(struct request *req);
enum oa_result h_models_get(struct request *req);
/* The model id names: a configured one, else one a discover upstream
 * lists (then held in req->discovered, valid until the request ends);
 * NULL when neither, or when the key may not use it (its models list). */
const struct model_cfg *models_lookup(struct request *req, const char *id);
enum oa_result h_chat_completions(struct request *req);
enum oa_result h_responses(struct request *req);
enum oa_result h_completions(struct request *req);
enum oa_result h_embeddings(struct request *req);
enum oa_result h_docs(struct request *req);
enum oa_result h_metrics(struct request *req);

#endif
