/* sse.c: Server-Sent Events, framed for sending and parsed incrementally for relaying */
#include "sse.h"

#include <string.h>

void sse_event(strbuf *out, const char *data, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n' && data[i] != '\r')
			continue;
		sb_puts(out, "data: ");
		sb_append(out, data + start, i - start);
		sb_putc(out, '\n');
		if (data[i] == '\r' && i + 1 < n && data[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	sb_puts(out, "data: ");
	sb_append(out, data + start, n - start);
	sb_puts(out, "\n\n");
}

void sse_parser_init(struct sse_parser *p, sse_event_fn cb, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->cb = cb;
	p->ctx = ctx;
}

void sse_parser_limit(struct sse_parser *p, size_t max_line, size_t max_event)
{
	p->max_line = max_line;
	p->max_event = max_event;
}

void sse_parser_free(struct sse_parser *p)
{
	sb_free(&p->line);
	sb_free(&p->data);
	sb_free(&p->event);
	sb_free(&p->id);
}

static int dispatch(struct sse_parser *p)
{
	int rc = 0;
	if (p->have_data) {
		/* every data line appended a "\n"; the last one is not part of it */
		p->data.len--;
		p->data.buf[p->data.len] = '\0';
		struct sse_msg msg = {
			.event = p->event.len ? p->event.buf : "message",
			.data = p->data.buf,
			.data_len = p->data.len,
			.id = sb_str(&p->id),
		};
		rc = p->cb(p->ctx, &msg);
	}
	sb_reset(&p->data);
	sb_reset(&p->event);
	p->have_data = false;
	return rc;
}

static int stop(struct sse_parser *p, enum sse_failure why)
{
	p->failure = why;
	return -1;
}

static int field(struct sse_parser *p, const char *name, size_t nlen,
		 const char *value, size_t vlen)
{
	if (nlen == 4 && memcmp(name, "data", 4) == 0) {
		/* each line adds its "\n" too: lines of nothing still add up */
		if (p->max_event && p->data.len + vlen > p->max_event)
			return stop(p, SSE_EVENT_TOO_BIG);
		sb_append(&p->data, value, vlen);
		sb_putc(&p->data, '\n');
		p->have_data = true;
	} else if (nlen == 5 && memcmp(name, "event", 5) == 0) {
		sb_reset(&p->event);
		sb_append(&p->event, value, vlen);
	} else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
		/* the spec ignores ids containing NUL */
		if (!memchr(value, '\0', vlen)) {
			sb_reset(&p->id);
			sb_append(&p->id, value, vlen);
		}
	}
	return 0;
}

static int process_line(struct sse_parser *p, const char *s, size_t n)
{
	if (n == 0)
		return dispatch(p) == 0 ? 0 : stop(p, SSE_STOPPED);
	if (s[0] == ':') {
		p->comments++;
		return 0;
	}
	const char *colon = memchr(s, ':', n);
	if (!colon)
		return field(p, s, n, "", 0);
	size_t nlen = (size_t)(colon - s);
	const char *v = colon + 1;
	size_t vlen = n - nlen - 1;
	if (vlen && *v == ' ') {
		v++;
		vlen--;
	}
	return field(p, s, nlen, v, vlen);
}

/* Keeps the start of a line that has not ended yet, within max_line. */
static int keep_partial(struct sse_parser *p, const char *s, size_t n)
{
	if (p->max_line && p->line.len + n > p->max_line)
		return stop(p, SSE_LINE_TOO_LONG);
	sb_append(&p->line, s, n);
	return 0;
}

/* Ends the current line, which is partly in p->line and partly at s. */
static int end_line(struct sse_parser *p, const char *s, size_t n)
{
	if (p->max_line && p->line.len + n > p->max_line)
		return stop(p, SSE_LINE_TOO_LONG);
	if (p->line.len == 0)
		return process_line(p, s, n);
	sb_append(&p->line, s, n);
	int rc = process_line(p, p->line.buf, p->line.len);
	sb_reset(&p->line);
	return rc;
}

int sse_parser_feed(struct sse_parser *p, const char *buf, size_t n)
{
	size_t i = 0;
	if (!p->started) {
		/* the BOM may itself arrive split: wait for 3 bytes or a mismatch */
		static const char bom[] = "\xef\xbb\xbf";
		size_t have = p->line.len;
		while (i < n && have + i < 3 && buf[i] == bom[have + i])
			i++;
		if (have + i < 3 && i == n)
			return keep_partial(p, buf, n);
		p->started = true;
		if (have + i == 3) {
			sb_reset(&p->line);
		} else {
			/* not a BOM after all: those bytes are text */
			i = 0;
		}
	}
	size_t start = i;
	for (; i < n; i++) {
		char c = buf[i];
		if (c == '\n' && p->after_cr) {
			p->after_cr = false;
			start = i + 1;
			continue;
		}
		p->after_cr = false;
		if (c != '\n' && c != '\r')
			continue;
		p->after_cr = c == '\r';
		if (end_line(p, buf + start, i - start) < 0)
			return -1;
		start = i + 1;
	}
	return keep_partial(p, buf + start, n - start);
}

long sse_keepalive_period(long ping_ms, long probe_ms)
{
	if (ping_ms <= 0)
		return probe_ms > 0 ? probe_ms : 0;
	return probe_ms > 0 && probe_ms < ping_ms ? probe_ms : ping_ms;
}
