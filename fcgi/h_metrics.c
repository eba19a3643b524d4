/* h_metrics.c: GET /metrics: the usage counters of every process of the host, in Prometheus' text format */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "metrics.h"
#include "response.h"
#include "routes.h"

/* 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a dual-stack front). */
static bool is_loopback(const char *addr)
{
	if (!addr)
		return false;
	if (strncmp(addr, "::ffff:", 7) == 0)
		addr += 7;
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

/* Not behind R_AUTH: the API keys are not what opens it, and a scrape must
 * never count against a key's limits. With METRICS_TOKEN, that bearer
 * token from anywhere; without, loopback clients only (REMOTE_ADDR, which
 * the web server sets, not the client). */
static int metrics_allowed(struct request *req)
{
	const struct app *app = req->app;
	if (app->cfg.metrics_token)
		return auth_check(&app->metrics_keys, req_var(req, CGI_HTTP_AUTHORIZATION), true, NULL, &req->err);
	if (is_loopback(req_var(req, CGI_REMOTE_ADDR)))
		return 0;
	return oa_error_set(&req->err, 403, OA_PERMISSION, "metrics_forbidden", NULL,
			    "/metrics answers loopback clients only unless METRICS_TOKEN is set.");
}

enum oa_result h_metrics(struct request *req)
{
	struct um_row *rows = NULL;
	size_t n = 0;
	struct um_gauges g = { 0, 0 };
	if (metrics_allowed(req) != 0)
		return OA_ERROR;
	if (!req->app->usage || um_snapshot(req->app->usage, &rows, &n, &g) != 0)
		return oa_error_set(&req->err, 503, OA_SERVER, "metrics_unavailable", NULL,
				    "The usage counters cannot be read right now.");
	sb_reset(&req->out);
	metrics_render(rows, n, &g, &req->out);
	free(rows);
	const body_writer *w = resp_body_begin(req, METRICS_CONTENT_TYPE);
	w->write(w->ctx, req->out.buf, req->out.len);
	return OA_DONE;
}
