/* io_fcgx.c: a request carried by libfcgi's FCGX streams */
#include <limits.h>
#include <poll.h>

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
	io->out.ctx = r;
	io->out.write = fcgx_write;
	io->out.flush = fcgx_flush;
	io->gone = fcgx_gone;
}
