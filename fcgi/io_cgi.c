/* io_cgi.c: a request carried by plain CGI: the environment, stdin and stdout */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io.h"

static char **cgi_vars(void *ctx)
{
	(void)ctx;
	return environ;
}

static long cgi_read(void *ctx, char *buf, size_t n)
{
	(void)ctx;
	size_t k = fread(buf, 1, n, stdin);
	if (k == 0 && ferror(stdin))
		return -1;
	return (long)k;
}

static int cgi_write(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	return fwrite(p, 1, n, stdout) == n ? 0 : -1;
}

static int cgi_flush(void *ctx)
{
	(void)ctx;
	return fflush(stdout) == 0 ? 0 : -1;
}

/* The server closes its end of our stdout (a pipe or a socket) when the
 * client leaves: poll reports an error or a hang-up on the write end. */
static bool cgi_gone(void *ctx)
{
	(void)ctx;
	struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void io_cgi_bind(struct req_io *io)
{
	io->ctx = NULL;
	io->vars = cgi_vars;
	io->read = cgi_read;
	io->body_read = NULL;  /* a CGI's stdin ends when the server closes it */
	io->out.ctx = NULL;
	io->out.write = cgi_write;
	io->out.flush = cgi_flush;
	io->gone = cgi_gone;
}
