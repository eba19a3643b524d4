/* response.c: status line, headers every answer carries, JSON bodies, SSE streams */
#include "response.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "log.h"

/* Headers a browser client may read (CORS). */
#define EXPOSE_HEADERS "x-request-id, openai-processing-ms, x-ratelimit-limit-requests, " \
	"x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, " \
	"x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, retry-after, retry-after-ms, " \
	"x-openai-fcgi-deployment"

void resp_header(struct request *req, const char *name, const char *fmt, ...)
{
	va_list ap;
	size_t start = req->head.len;
	sb_puts(&req->head, name);
	sb_puts(&req->head, ": ");
	va_start(ap, fmt);
	sb_vprintf(&req->head, fmt, ap);
	va_end(ap);
	/* The last defence for values that came from elsewhere (an upstream):
	 * a CR, LF or other control byte would split or forge a header. */
	for (size_t i = start; i < req->head.len; i++) {
		unsigned char c = (unsigned char)req->head.buf[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			log_warn("header %s dropped: its value holds control bytes", name);
			req->head.len = start;
			req->head.buf[start] = '\0';
			return;
		}
	}
	sb_puts(&req->head, "\r\n");
}

bool resp_client_gone(struct request *req)
{
	if (!req->client_gone && req->io->gone && req->io->gone(req->io->ctx))
		req->client_gone = true;
	return req->client_gone;
}

static int out_write(struct request *req, const char *p, size_t n)
{
	if (req->client_gone)
		return -1;
	if (req->io->out.write(req->io->out.ctx, p, n) != 0) {
		req->client_gone = true;
		return -1;
	}
	req->bytes_sent += n;
	return 0;
}

/* The Access-Control-Allow-Origin value for this request, or NULL. */
static const char *allowed_origin(const struct request *req)
{
	const struct config *cfg = &req->app->cfg;
	if (cfg->n_cors_origins == 0)
		return "*";
	const char *origin = req_var(req, CGI_HTTP_ORIGIN);
	if (!origin)
		return NULL;
	for (size_t i = 0; i < cfg->n_cors_origins; i++)
		if (strcmp(cfg->cors_origins[i], origin) == 0)
			return origin;
	return NULL;
}

/* OpenAI's x-ratelimit-{limit,remaining,reset}-<unit> for one limiter. */
static void ratelimit_headers(strbuf *h, const char *unit, const struct rl_result *r)
{
	char reset[32];
	rl_format_duration(r->reset_ms, reset, sizeof reset);
	sb_printf(h, "x-ratelimit-limit-%s: %ld\r\nx-ratelimit-remaining-%s: %ld\r\n"
		  "x-ratelimit-reset-%s: %s\r\n", unit, r->limit, unit, r->remaining, unit, reset);
}

static void common_headers(struct request *req, strbuf *h)
{
	const char *origin = allowed_origin(req);
	sb_puts(h, "x-request-id: ");
	sb_puts(h, req->id);
	sb_puts(h, "\r\nopenai-processing-ms: ");
	sb_put_int(h, (long)((now_us() - req->start_us) / 1000));
	sb_puts(h, "\r\n");
	if (origin) {
		sb_puts(h, "Access-Control-Allow-Origin: ");
		sb_puts(h, origin);
		sb_puts(h, "\r\nAccess-Control-Expose-Headers: " EXPOSE_HEADERS "\r\n");
	}
	sb_puts(h, "Vary: Origin\r\n");
	if (req->has_rl)
		ratelimit_headers(h, "requests", &req->rl);
	if (req->has_tpm)
		ratelimit_headers(h, "tokens", &req->tpm);
}

/* Builds the head in req->scratch: Status, the common headers, the
 * handler's extra ones, the blank line. */
static void build_head(struct request *req, int status, const char *type, long content_length)
{
	strbuf *h = &req->scratch;
	sb_reset(h);
	sb_puts(h, "Status: ");
	sb_put_int(h, status);
	sb_putc(h, ' ');
	sb_puts(h, http_reason(status));
	sb_puts(h, "\r\n");
	if (type) {
		sb_puts(h, "Content-Type: ");
		sb_puts(h, type);
		sb_puts(h, "\r\n");
	}
	if (content_length >= 0) {
		sb_puts(h, "Content-Length: ");
		sb_put_int(h, content_length);
		sb_puts(h, "\r\n");
	}
	common_headers(req, h);
	sb_append(h, sb_str(&req->head), req->head.len);
	sb_puts(h, "\r\n");
	req->status = status;
	req->head_sent = true;
	req->first_byte_us = now_us();
}

int resp_json(struct request *req, int status, const char *json, size_t n)
{
	build_head(req, status, "application/json", (long)n);
	size_t head_len = req->scratch.len;
	sb_append(&req->scratch, json, n); /* one write for head and body */
	int rc = out_write(req, req->scratch.buf, req->scratch.len);
	if (rc == 0)
		req->bytes_sent -= head_len; /* the access log counts body bytes */
	return rc;
}

int resp_error(struct request *req, const oa_error *e)
{
	int status = e->status ? e->status : 500;
	sb_puts(&req->head, e->headers);  /* checked line by line by oa_error_header() */
	sb_reset(&req->out);
	oa_error_json(e, &req->out);
	return resp_json(req, status, req->out.buf, req->out.len);
}

int resp_begin(struct request *req, int status, const char *type, long length)
{
	build_head(req, status, type, length);
	int rc = out_write(req, req->scratch.buf, req->scratch.len);
	if (rc == 0)
		req->bytes_sent -= req->scratch.len;
	return rc;
}

int resp_write(struct request *req, const char *p, size_t n)
{
	return out_write(req, p, n);
}

int resp_no_content(struct request *req)
{
	build_head(req, 204, NULL, -1);
	size_t head_len = req->scratch.len;
	int rc = out_write(req, req->scratch.buf, req->scratch.len);
	if (rc == 0)
		req->bytes_sent -= head_len;
	return rc;
}

static int stream_write(void *ctx, const char *p, size_t n)
{
	return out_write(ctx, p, n);
}

static int stream_flush(void *ctx)
{
	struct request *req = ctx;
	if (req->client_gone)
		return -1;
	if (req->io->out.flush(req->io->out.ctx) != 0) {
		req->client_gone = true;
		return -1;
	}
	return 0;
}

const body_writer *resp_body_begin(struct request *req, const char *type)
{
	body_writer *w = &req->stream;
	build_head(req, 200, type, -1);
	if (out_write(req, req->scratch.buf, req->scratch.len) == 0)
		req->bytes_sent -= req->scratch.len;
	w->ctx = req;
	w->write = stream_write;
	w->flush = stream_flush;
	return w;
}

const body_writer *resp_stream_begin(struct request *req)
{
	resp_header(req, "Cache-Control", "no-cache");
	resp_header(req, "X-Accel-Buffering", "no");
	const body_writer *w = resp_body_begin(req, "text/event-stream");
	if (req->app->usage && um_gauge_add(req->app->usage, 0, 1) == 0)
		req->stream_counted = true;
	if (req->app->stream_began && !req->fiber)  /* a fiber's waits hold no thread */
		req->app->stream_began();
	stream_flush(req);
	return w;
}
