/* sse.h: Server-Sent Events, framed for sending and parsed incrementally for relaying */
#ifndef OAF_SSE_H
#define OAF_SSE_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/* Appends one event carrying data (n bytes) to out: every line of data
 * becomes "data: <line>\n", then a blank line ends the event. Lines break
 * at LF, CRLF or CR, since a receiver would break there too; the output
 * uses LF only. Empty data is one empty data line. */
void sse_event(strbuf *out, const char *data, size_t n);

/* One parsed event. event is "message" when the stream named none; id is
 * the last event id seen so far ("" if none). All borrowed for the call. */
struct sse_msg {
	const char *event;
	const char *data;      /* data lines joined with "\n", NUL-terminated */
	size_t data_len;
	const char *id;
};

/* Called once per complete event; returns 0 to go on, -1 to stop. */
typedef int (*sse_event_fn)(void *ctx, const struct sse_msg *msg);

/* Why sse_parser_feed() stopped. */
enum sse_failure {
	SSE_OK,
	SSE_STOPPED,         /* the callback returned -1 */
	SSE_LINE_TOO_LONG,   /* a line (comments too) longer than max_line */
	SSE_EVENT_TOO_BIG,   /* an event's data longer than max_event */
};

/* An incremental parser (WHATWG EventSource rules): feed it byte chunks
 * cut anywhere; it handles LF, CRLF and CR line ends (a CRLF split across
 * two chunks included), a leading BOM, comment lines (":..."), the fields
 * data, event and id (retry and unknown fields are ignored), and calls
 * back for every event ended by a blank line that had data. What it keeps
 * is bounded: a line longer than max_line or an event whose data grows
 * past max_event stops it, so a stream that never ends its line or its
 * event cannot grow a worker without end. */
struct sse_parser {
	sse_event_fn cb;
	void *ctx;
	size_t max_line;   /* 0: unbounded (only for trusted input) */
	size_t max_event;
	strbuf line;       /* the incomplete current line */
	strbuf data;
	strbuf event;
	strbuf id;
	bool have_data;
	bool after_cr;     /* last byte was CR: a following LF is the same break */
	bool started;      /* past the BOM check */
	unsigned long comments;       /* complete comment lines so far (keep-alives) */
	enum sse_failure failure;     /* set when feed returned -1 */
};

/* Prepares p, unbounded; cb and ctx are kept. Release with sse_parser_free(). */
void sse_parser_init(struct sse_parser *p, sse_event_fn cb, void *ctx);
/* Bounds what p keeps: a line of more than max_line bytes, or an event
 * with more than max_event bytes of data, stops it (0: no bound). */
void sse_parser_limit(struct sse_parser *p, size_t max_line, size_t max_event);
/* Parses n bytes. Returns 0, or -1 with p->failure saying why as soon as
 * the callback returned -1 or a bound was passed (the rest of buf is then
 * not parsed, and the parser must not be fed again). */
int sse_parser_feed(struct sse_parser *p, const char *buf, size_t n);
/* Frees the parser's buffers; an event still missing its blank line is
 * dropped, as EventSource does at the end of a stream. */
void sse_parser_free(struct sse_parser *p);

/* How long a stream may stay silent towards its client before it gets a
 * keep-alive comment: the shorter of ping_ms (STREAM_PING_S, for the
 * proxies and load balancers that cut an idle connection) and probe_ms
 * (to find out that the client left, where only a write tells); 0 for
 * either means that one is off, and 0 back means never. */
long sse_keepalive_period(long ping_ms, long probe_ms);

#endif
