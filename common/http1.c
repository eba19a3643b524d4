/* http1.c: one HTTP/1.1 exchange's bytes: the request head we write, and the answer read through http-parser */
#include <stdio.h>
#include <string.h>

#include "http1.h"

void h1_head_start(strbuf *out, const char *path, const char *host, const char *key, char *const *extra,
		   size_t n)
{
	sb_puts(out, "POST ");
	sb_puts(out, path);
	sb_puts(out, " HTTP/1.1\r\nHost: ");
	sb_puts(out, host);
	sb_puts(out, "\r\nContent-Type: application/json\r\n");
	if (key) {
		sb_puts(out, "Authorization: Bearer ");
		sb_puts(out, key);
		sb_puts(out, "\r\n");
	}
	for (size_t i = 0; i < n; i++) {
		const char *v = strchr(extra[i], ':');
		if (!v || !v[1 + strspn(v + 1, " \t")])
			continue;
		sb_puts(out, extra[i]);
		sb_puts(out, "\r\n");
	}
}

void h1_head_end(strbuf *out, size_t len)
{
	sb_puts(out, "Content-Length: ");
	sb_put_int(out, (long long)len);
	sb_puts(out, "\r\n\r\n");
}

/* ---- the answer ---- */

static struct h1_reader *reader(http_parser *p)
{
	return p->data;
}

/* Hands one piece to cb: 0, or -1 (r->stopped) when it took less. */
static int hand(struct h1_reader *r, h1_data_fn cb, const char *p, size_t len)
{
	if (cb(p ? (char *)p : (char *)"", 1, len, r->ctx) == len)
		return 0;
	r->stopped = true;
	return -1;
}

/* The status line, once, before the answer's first header line. */
static int say_status(struct h1_reader *r)
{
	if (r->status_said)
		return 0;
	r->status_said = true;
	char s[32];
	int n = snprintf(s, sizeof s, "HTTP/%u.%u %u", r->p.http_major, r->p.http_minor, r->p.status_code);
	return hand(r, r->header, s, (size_t)n);
}

/* The header line gathered so far, when there is one that fitted. */
static int flush_line(struct h1_reader *r)
{
	int rc = 0;
	if (r->line_len && !r->line_over)
		rc = hand(r, r->header, r->line, r->line_len);
	r->line_len = 0;
	r->line_over = false;
	r->in_value = false;
	return rc;
}

static void gather(struct h1_reader *r, const char *p, size_t len)
{
	if (r->line_over || len > sizeof r->line - r->line_len) {
		r->line_over = true;
		return;
	}
	memcpy(r->line + r->line_len, p, len);
	r->line_len += len;
}

static int on_begin(http_parser *p)
{
	struct h1_reader *r = reader(p);
	r->status_said = false;
	r->line_len = 0;
	r->line_over = r->in_value = false;
	return 0;
}

static int on_field(http_parser *p, const char *at, size_t len)
{
	struct h1_reader *r = reader(p);
	if (say_status(r) != 0 || (r->in_value && flush_line(r) != 0))
		return -1;
	gather(r, at, len);
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
	struct h1_reader *r = reader(p);
	if (!r->in_value) {
		r->in_value = true;
		gather(r, ": ", 2);
	}
	gather(r, at, len);
	return 0;
}

static int on_headers_done(http_parser *p)
{
	struct h1_reader *r = reader(p);
	if (say_status(r) != 0 || flush_line(r) != 0)
		return -1;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	return hand(reader(p), reader(p)->body, at, len);
}

static int on_complete(http_parser *p)
{
	struct h1_reader *r = reader(p);
	if (p->status_code / 100 == 1)
		return 0;  /* an interim answer: the final one follows */
	r->complete = true;
	http_parser_pause(p, 1);  /* so that h1_feed sees what came after it */
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_begin,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_done,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

void h1_reader_init(struct h1_reader *r, h1_data_fn header, h1_data_fn body, void *ctx)
{
	memset(r, 0, sizeof *r);
	http_parser_init(&r->p, HTTP_RESPONSE);
	r->p.data = r;
	r->header = header;
	r->body = body;
	r->ctx = ctx;
}

int h1_feed(struct h1_reader *r, const char *p, size_t len)
{
	if (r->complete) {
		r->extra |= len > 0;
		return 1;
	}
	size_t n = http_parser_execute(&r->p, &settings, p, len);
	if (r->stopped)
		return -1;
	if (r->complete) {
		r->extra |= n < len;
		return 1;
	}
	enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
	if (len == 0 && (e == HPE_OK || e == HPE_INVALID_EOF_STATE)) {
		r->early = true;
		return -1;
	}
	if (e != HPE_OK || r->p.upgrade)
		return -1;  /* not HTTP, or a 101 switching to what we did not ask for */
	return 0;
}

bool h1_keep_alive(const struct h1_reader *r)
{
	return r->complete && !r->extra && http_should_keep_alive(&r->p);
}

const char *h1_error(const struct h1_reader *r)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
	if (r->early)
		return "the connection ended before the answer did";
	if (e == HPE_OK)
		return "an upgrade nobody asked for";
	return http_errno_description(e);
}
