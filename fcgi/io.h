/* io.h: the two carriers of a request, FastCGI (libfcgi) and plain CGI (stdio) */
#ifndef OAF_IO_H
#define OAF_IO_H
#include "request.h"

struct FCGX_Request;

/* A FastCGI answer written without libfcgi's buffers (8 KiB in, 8 KiB out
 * and 512 err, ~17 KiB a request): for a stream waiting in the wait loop,
 * whose events come a few hundred bytes at a time. */
struct fcgx_lean {
	struct FCGX_Request *r;  /* borrowed */
	strbuf pending;          /* what is written and not yet flushed */
	bool failed;             /* a write failed: the client is gone */
	/* Waits until fd takes more or ms pass (the wait loop's: a client
	 * that reads slowly must not stop every other stream); 0, or -1
	 * when it cannot, and the write waits on this thread. */
	int (*wait_out)(void *ctx, int fd, long ms);
	void *wait_ctx;
};
#define LEAN_STALL_MS 60000  /* a client that takes nothing for this long is gone (nginx's send_timeout) */
#define LEAN_KEEP 4096       /* the most of pending kept between flushes */

/* Fills io so that it reads and writes the FastCGI request r (borrowed). */
void io_fcgx_bind(struct req_io *io, struct FCGX_Request *r);
/* FCGX_Finish_r(r): the answer's end, and the connection closed unless
 * the front keeps it; one whose request was read to its end is closed at
 * once, without libfcgi's wait for the front to close first. */
void io_fcgx_finish(struct FCGX_Request *r);
/* From now on io writes r's answer itself, as FastCGI records to r's
 * connection, never blocking: a full connection waits through wait_out
 * (NULL: poll), at most LEAN_STALL_MS at a time. What libfcgi holds is
 * flushed and its streams freed (the request body must have been read).
 * r's variables stay until the end. */
void io_fcgx_lean(struct req_io *io, struct fcgx_lean *l, struct FCGX_Request *r,
		  int (*wait_out)(void *ctx, int fd, long ms), void *wait_ctx);
/* Ends the answer begun by io_fcgx_lean(): the end of stdout and
 * FCGI_END_REQUEST, then FCGX_Finish_r(r) frees the rest, and the
 * connection is closed as io_fcgx_finish() closes one read to its end. */
void io_fcgx_lean_finish(struct fcgx_lean *l);
/* Fills io for the CGI request of this process: environment, stdin, stdout. */
void io_cgi_bind(struct req_io *io);

#endif
