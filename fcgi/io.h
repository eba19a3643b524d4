/* io.h: the two carriers of a request, FastCGI (libfcgi) and plain CGI (stdio) */
#ifndef OAF_IO_H
#define OAF_IO_H
#include "request.h"

struct FCGX_Request;

/* Fills io so that it reads and writes the FastCGI request r (borrowed). */
void io_fcgx_bind(struct req_io *io, struct FCGX_Request *r);
/* Fills io for the CGI request of this process: environment, stdin, stdout. */
void io_cgi_bind(struct req_io *io);

#endif
