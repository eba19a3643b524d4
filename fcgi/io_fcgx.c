/* io_fcgx.c: a request carried by libfcgi's FCGX streams */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#include "io.h"

/* Every variable at once: request_begin() takes what it needs in one walk. */
static char **fcgx_vars(void *ctx)
{
	return ((FCGX_Request *)ctx)->envp;
}

static long fcgx_read(void *ctx, char *buf, size_t n)
{
	FCGX_Request *r = ctx;
	int k = FCGX_GetStr(buf, n > INT_MAX ? INT_MAX : (int)n, r->in);
	if (k == 0 && FCGX_GetError(r->in))
		return -1;
	return k;
}

/* The body's end: FCGI_STDIN's empty record, which fronts send with the
 * body's last bytes; read as the body is (a front that closes instead ends
 * the read). A byte more than the body would be a front's error: the
 * stream is then not at its end, and libfcgi closes as it does. */
static void fcgx_body_read(void *ctx)
{
	FCGX_Request *r = ctx;
	(void)FCGX_GetChar(r->in);
}

static int fcgx_write(void *ctx, const char *p, size_t n)
{
	FCGX_Request *r = ctx;
	while (n) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (FCGX_PutStr(p, chunk, r->out) != chunk)
			return -1;
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

static int fcgx_flush(void *ctx)
{
	FCGX_Request *r = ctx;
	return FCGX_FFlush(r->out) == 0 && !FCGX_GetError(r->out) ? 0 : -1;
}

/* The web servers close the FastCGI connection when their client leaves
 * (we never ask them to keep it): a hang-up seen by poll. Readable data
 * alone is not it (the end of stdin may still be unread). */
static bool fcgx_gone(void *ctx)
{
	FCGX_Request *r = ctx;
	struct pollfd p = { .fd = r->ipcFd, .events = POLLRDHUP };
	return r->ipcFd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void io_fcgx_bind(struct req_io *io, struct FCGX_Request *r)
{
	io->ctx = r;
	io->vars = fcgx_vars;
	io->read = fcgx_read;
	io->body_read = fcgx_body_read;
	io->out.ctx = r;
	io->out.write = fcgx_write;
	io->out.flush = fcgx_flush;
	io->gone = fcgx_gone;
}

/* Closes a connection whose request was read to its end, as libfcgi does
 * (shut for writing, then what the front still sent read: unread bytes
 * would reset the connection, and a front could lose the end of the
 * answer) but without its wait of up to 2 s for the front to close: with
 * the whole request read, a front sends nothing more, so what is there now
 * is all there is. That wait held every request's thread until the front
 * had run, and a worker that looked busy meanwhile sent the next
 * connection through the reserve. */
static void close_read_conn(int fd)
{
	if (shutdown(fd, SHUT_WR) == 0) {
		char trash[1024];
		for (int i = 0; i < 64 && recv(fd, trash, sizeof trash, MSG_DONTWAIT) > 0; i++)
			;
	}
	close(fd);
}

/* FCGX_Finish_r(r), and r's connection, read to its end, closed at once. */
static void finish_closing(struct FCGX_Request *r)
{
	r->keepConnection = 1;  /* FCGX_Finish_r closes nothing: we do */
	FCGX_Finish_r(r);
	if (r->ipcFd >= 0)
		close_read_conn(r->ipcFd);
	r->ipcFd = -1;
	r->keepConnection = 0;
}

void io_fcgx_finish(struct FCGX_Request *r)
{
	if (!r->keepConnection && r->in && FCGX_HasSeenEOF(r->in) == EOF)
		finish_closing(r);
	else
		FCGX_Finish_r(r);
}

/* ---- lean: the answer of a stream that waits in the loop ---- */

/* Waits for l's connection to take more: through wait_out, else poll.
 * -1 once it has taken nothing for LEAN_STALL_MS. */
static int wait_out(struct fcgx_lean *l, int64_t *stalled_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (!*stalled_ms)
		*stalled_ms = now;
	long left = (long)(*stalled_ms + LEAN_STALL_MS - now);
	if (left <= 0)
		return -1;
	if (!l->wait_out || l->wait_out(l->wait_ctx, l->r->ipcFd, left) != 0) {
		struct pollfd p = { .fd = l->r->ipcFd, .events = POLLOUT };
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

/* Sends all of iov[0..n) on l's connection without blocking the thread. */
static int send_all(struct fcgx_lean *l, struct iovec *iov, int n)
{
	int64_t stalled_ms = 0;
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t k = sendmsg(l->r->ipcFd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_out(l, &stalled_ms) != 0)
				return -1;
			continue;
		}
		if (k <= 0)
			return -1;
		stalled_ms = 0;
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

static void record_header(FCGI_Header *h, int type, int request_id, size_t len)
{
	h->version = FCGI_VERSION_1;
	h->type = (unsigned char)type;
	h->requestIdB1 = (unsigned char)(request_id >> 8);
	h->requestIdB0 = (unsigned char)request_id;
	h->contentLengthB1 = (unsigned char)(len >> 8);
	h->contentLengthB0 = (unsigned char)len;
	h->paddingLength = 0;
	h->reserved = 0;
}

/* What is pending, as FCGI_STDOUT records of at most FCGI_MAX_LENGTH. */
static int lean_flush(void *ctx)
{
	struct fcgx_lean *l = ctx;
	for (size_t at = 0; !l->failed && at < l->pending.len;) {
		size_t n = l->pending.len - at < FCGI_MAX_LENGTH ? l->pending.len - at : FCGI_MAX_LENGTH;
		FCGI_Header h;
		record_header(&h, FCGI_STDOUT, l->r->requestId, n);
		struct iovec iov[2] = { { &h, sizeof h }, { l->pending.buf + at, n } };
		l->failed = send_all(l, iov, 2) != 0;
		at += n;
	}
	sb_reset(&l->pending);
	if (l->pending.cap > LEAN_KEEP)
		sb_free(&l->pending);  /* a large answer's buffer goes; an event's stays */
	return l->failed ? -1 : 0;
}

static int lean_write(void *ctx, const char *p, size_t n)
{
	struct fcgx_lean *l = ctx;
	if (l->failed)
		return -1;
	sb_append(&l->pending, p, n);
	return l->pending.len >= FCGI_MAX_LENGTH ? lean_flush(l) : 0;
}

static long lean_read(void *ctx, char *buf, size_t n)
{
	(void)ctx; (void)buf; (void)n;
	return 0;  /* the body was read before the first wait */
}

void io_fcgx_lean(struct req_io *io, struct fcgx_lean *l, struct FCGX_Request *r,
		  int (*wait)(void *ctx, int fd, long ms), void *wait_ctx)
{
	l->r = r;
	l->wait_out = wait;
	l->wait_ctx = wait_ctx;
	l->pending = (strbuf)STRBUF_INIT;
	l->failed = FCGX_FFlush(r->out) != 0 || FCGX_GetError(r->out) != 0;
	FCGX_FreeStream(&r->in);
	FCGX_FreeStream(&r->out);
	FCGX_FreeStream(&r->err);
	io->read = lean_read;
	io->out.ctx = l;
	io->out.write = lean_write;
	io->out.flush = lean_flush;
}

void io_fcgx_lean_finish(struct fcgx_lean *l)
{
	lean_flush(l);
	FCGI_Header out, end;
	FCGI_EndRequestBody body;
	memset(&body, 0, sizeof body);
	body.protocolStatus = FCGI_REQUEST_COMPLETE;
	record_header(&out, FCGI_STDOUT, l->r->requestId, 0);  /* the end of stdout */
	record_header(&end, FCGI_END_REQUEST, l->r->requestId, sizeof body);
	struct iovec iov[3] = { { &out, sizeof out }, { &end, sizeof end }, { &body, sizeof body } };
	if (!l->failed)
		send_all(l, iov, 3);
	sb_free(&l->pending);
	finish_closing(l->r);  /* the body was read before the first wait; libfcgi's streams are gone */
}
