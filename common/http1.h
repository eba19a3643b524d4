/* http1.h: one HTTP/1.1 exchange's bytes: the request head we write, and the answer read through http-parser */
#ifndef OAF_HTTP1_H
#define OAF_HTTP1_H
#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#include "strbuf.h"

/* libcurl 7.88 prints every line of a request head through its own printf,
 * a byte at a time, and parses every answer's head through its generic
 * header machinery: ~50,000 of the ~73,000 instructions a relayed request
 * cost more than a mock one. A whole answer of a kept connection is
 * written and read here instead; libcurl still makes the connection (DNS,
 * TLS, the connect timeout). */

/* Appends to out the head of a POST of a JSON body to path (with its query)
 * on host (the Host line: the host, and ":port" when not the scheme's own),
 * all but its Content-Length: the request line, Host, Content-Type, then
 * "Authorization: Bearer <key>" when key is not NULL, then the n lines of
 * extra ("Name: value" with no CR or LF, as the config checks); a line
 * with an empty value is not sent (as libcurl reads such a line: no such
 * header). Ends with a CRLF, h1_head_end() completes it. */
void h1_head_start(strbuf *out, const char *path, const char *host, const char *key, char *const *extra,
		   size_t n);

/* Appends the Content-Length line of a body of len bytes and the blank
 * line that ends the head. */
void h1_head_end(strbuf *out, size_t len);

/* The answer's callbacks, in libcurl's shapes, so that one transfer's
 * state reads both ways alike: header() gets each line of a head, the
 * status line first ("HTTP/1.1 NNN"), without its CRLF; body() the
 * answer's body (chunks undone), in pieces. Each returns the bytes it
 * took; fewer than given stops the reading (h1_feed returns -1). */
typedef size_t (*h1_data_fn)(char *p, size_t one, size_t len, void *ctx);

/* The longest header line passed on; a longer one (no header we read is
 * near it) is not passed at all. */
#define H1_LINE_BYTES 512

/* Reads one answer, fed in pieces cut anywhere. Interim answers (1xx)
 * are passed to header() and their end skipped: the final one's head
 * starts over with its own status line. What it keeps is bounded: a head
 * past http-parser's 80 KiB is an error, and a line is at most
 * H1_LINE_BYTES. */
struct h1_reader {
	http_parser p;
	h1_data_fn header, body;
	void *ctx;
	char line[H1_LINE_BYTES];
	size_t line_len;
	bool line_over;    /* the current line outgrew line: dropped */
	bool in_value;     /* the current line is past its field's name */
	bool status_said;  /* the answer's status line has gone to header() */
	bool complete;     /* the final answer read whole */
	bool stopped;      /* a callback took less than it was given */
	bool extra;        /* bytes came after the final answer */
	bool early;        /* the connection ended before the answer did */
};

/* Prepares r for an answer; header, body and ctx are kept. Owns nothing. */
void h1_reader_init(struct h1_reader *r, h1_data_fn header, h1_data_fn body, void *ctx);

/* Feeds len bytes of the answer; len 0 says the connection ended (an
 * answer without a length ends so). 1: the final answer is complete, and
 * nothing is wanted after it; 0: more is; -1: not an HTTP answer, or it
 * ended too early (r->early), or a callback stopped it (r->stopped). */
int h1_feed(struct h1_reader *r, const char *p, size_t len);

/* May the connection carry another exchange after a complete answer? Not
 * when the answer said close, nor when bytes came after it. */
bool h1_keep_alive(const struct h1_reader *r);

/* What went wrong when h1_feed returned -1 without r->stopped
 * (http-parser's description), for the log. */
const char *h1_error(const struct h1_reader *r);

#endif
