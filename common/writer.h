/* writer.h: where a response body goes, without knowing what carries it */
#ifndef OAF_WRITER_H
#define OAF_WRITER_H
#include <stddef.h>

/* The responder gives handlers and streamers a body_writer; fcgi/ backs it
 * with an FCGX stream or stdout (CGI), the unit tests with a strbuf. Both
 * functions return 0, or -1 once the client is gone: the caller then stops
 * producing output and returns. */
typedef struct body_writer {
	void *ctx;
	int (*write)(void *ctx, const char *p, size_t n);
	int (*flush)(void *ctx);
} body_writer;

#endif
