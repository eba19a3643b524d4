/* request.h: the one request context, from the first CGI variable to the access log */
#ifndef OAF_REQUEST_H
#define OAF_REQUEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "backend.h"
#include "backend_upstream.h"
#include "config.h"
#include "openai_error.h"
#include "ratelimit.h"
#include "strbuf.h"
#include "writer.h"

struct app;
struct route;

/* How a request arrived: FastCGI (io_fcgx.c), plain CGI (io_cgi.c) or a
 * unit test. Only these three know what carries the bytes. */
struct req_io {
	void *ctx;
	/* A CGI/FastCGI variable ("REQUEST_METHOD", "HTTP_AUTHORIZATION"),
	 * borrowed until the request ends; NULL when absent. Asked only
	 * when vars (below) is NULL: a unit test's carrier. */
	const char *(*param)(void *ctx, const char *name);
	/* Reads up to n body bytes: the count, 0 at the end, -1 on error. */
	long (*read)(void *ctx, char *buf, size_t n);
	body_writer out;
	/* Has the web server closed our side of the request (its client left)?
	 * Without writing and without blocking; NULL: cannot tell. */
	bool (*gone)(void *ctx);
	/* Every variable as "NAME=value", NULL after the last, borrowed
	 * until the request ends: request_begin() reads the ones it knows in
	 * one walk. NULL: it asks param() for each by name instead. */
	char **(*vars)(void *ctx);
	/* Optional, NULL when unset: the whole body (its Content-Length) has
	 * been read; reads what ends it, which the web server sends with its
	 * last bytes, so that the connection can close at once. */
	void (*body_read)(void *ctx);
};

/* The variables a request is read from, each found once by request_begin(). */
enum cgi_var {
	CGI_REQUEST_METHOD, CGI_REQUEST_URI, CGI_SCRIPT_NAME, CGI_PATH_INFO, CGI_CONTENT_LENGTH,
	CGI_CONTENT_TYPE, CGI_HTTP_AUTHORIZATION, CGI_HTTP_ORIGIN, CGI_HTTP_X_REQUEST_ID,
	CGI_HTTP_ACCESS_CONTROL_REQUEST_HEADERS, CGI_HTTP_USER_AGENT, CGI_REMOTE_ADDR,
	CGI_SERVER_SOFTWARE, CGI_COUNT
};

/* Everything about one request. Set up by request_begin(), released by
 * request_end(); the buffers are kept by the worker thread and reused. */
struct request {
	const struct app *app;
	const struct req_io *io;
	struct fiber *fiber;         /* the stack it runs on, when its waits may leave the thread; NULL: none */

	const char *cgi[CGI_COUNT];  /* each variable's value, borrowed from io; NULL: absent */
	const char *method;          /* borrowed from io */
	char path[1024];             /* decoded request path, any mount prefix kept: route_match() skips it */
	int parsed;                  /* request_parse(): 0 not yet, 1 done, -1 refused (err says why) */
	const char *path_arg;        /* the {id} of /v1/models/{id}, inside path */
	char id[72];                 /* x-request-id */
	char key_fp[24];             /* fingerprint of the key, "-" before auth */
	const char *key_name;        /* keys[].name, else key_fp: what logs show */
	size_t key_index;            /* which configured key authenticated */
	const struct key_cfg *key;   /* its config file entry; NULL: none (or before auth) */
	bool authenticated;
	int64_t start_us;
	const struct route *route;

	struct rl_result rl;         /* valid when has_rl */
	bool has_rl;
	bool limits_unchecked;       /* its limits could not be counted (LIM_UNCHECKED / LIM_UNAVAILABLE) */
	struct rl_result tpm;        /* the key's tokens per minute; valid when has_tpm */
	bool has_tpm;
	long tpm_reserved;           /* tokens reserved for this request, until settled */
	bool tpm_settled;
	struct chat_usage usage;     /* the answer's real token counts; valid when has_usage */
	bool has_usage;
	int stream_lease;            /* a stream_lease.h lease, or -1 */
	const char *model_id;        /* the configured model that answers (borrowed), NULL: none */
	const char *upstream_name;   /* its upstream's name, NULL for the mock */
	int64_t first_byte_us;       /* when the head went out (time to first token); 0: not yet */
	bool in_flight_counted;      /* the in-flight gauge counts this request (from its dispatch) */
	bool stream_counted;         /* the open-streams gauge counts this request */

	strbuf body;                 /* the request body */
	strbuf out;                  /* the response being built */
	strbuf head;                 /* extra response header lines */
	strbuf scratch;              /* where the response head is assembled */
	time_t log_time_s;           /* the second log_time holds; kept across requests */
	char log_time[32];           /* the access log's timestamp of log_time_s; "" before the first */
	body_writer stream;          /* an SSE answer's events go through this */

	int status;                  /* what was sent, for the access log */
	size_t bytes_sent;
	bool head_sent;
	bool client_gone;
	oa_error err;                /* set by a handler that returns -1 */
	char deployment[160];        /* the upstream deployment that answered, "" when none */
	struct {                     /* models_lookup()'s answer for a model an upstream lists */
		struct discovered_model found;
		char deployment_name[200];
		struct deployment_cfg deployment;  /* its one deployment: the upstream that lists it */
		struct model_cfg model;  /* points into the above */
	} discovered;
};

/* Resets req for a new request on io. Never fails: what is wrong with the
 * request (path, headers) is found by the router. */
void request_begin(struct request *req, const struct app *app, const struct req_io *io);
/* The most memory a buffer of the context keeps between requests. */
#define REQUEST_BUFFER_KEEP (64 * 1024)

/* Frees what a large request left in the buffers (beyond
 * REQUEST_BUFFER_KEEP each), then writes the access-log line. */
void request_end(struct request *req);
/* Frees the reusable buffers (at thread exit). */
void request_free(struct request *req);

/* A variable of the request, NULL when absent. */
static inline const char *req_var(const struct request *req, enum cgi_var v)
{
	return req->cgi[v];
}

/* Parses what the CGI variables say of the request, before any dispatch:
 * req->path from REQUEST_URI, else SCRIPT_NAME + PATH_INFO
 * (percent-decoded, query removed; any mount prefix kept), and the bounds
 * of the header values. Done once: later calls return the first's
 * answer. 0, or -1 with req->err set (400 invalid_path, 431). */
int request_parse(struct request *req);

/* Reads the whole body into req->body, honouring MAX_BODY_BYTES and
 * CONTENT_LENGTH. 0, or -1 with req->err set (400, 413). */
int request_read_body(struct request *req);
/* The same for a route that takes JSON (R_JSON_BODY): a Content-Type, when
 * given, must be application/json or +json. 0, or -1 with req->err set
 * (415, 400, 413). The dispatcher calls it once the request is admitted,
 * so that no body is read for a client refused before. */
int request_read_json_body(struct request *req);

int64_t now_us(void);

#endif
