/* h_docs.c: GET /openapi.json, /docs, /redoc, /playground and their assets, read from DOCS_DIR */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "docs_assets.h"
#include "log.h"
#include "response.h"
#include "routes.h"

/* A file the table names but DOCS_DIR lacks is an installation fault: the
 * log says which file and how to get it, the client gets a plain 404. */
static int missing(struct request *req, const char *file, const char *why)
{
	log_error("docs: %s/%s: %s (npm ci in www/, or make install, puts it there)",
		  req->app->cfg.docs_dir, file, why);
	return oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "unknown_url", NULL,
			    "Invalid URL (%s %s).", req->method, req->path);
}

static void page_headers(struct request *req)
{
	resp_header(req, "Content-Security-Policy", "%s", DOCS_CSP);
	resp_header(req, "X-Content-Type-Options", "nosniff");
	resp_header(req, "X-Frame-Options", "DENY");
	resp_header(req, "Referrer-Policy", "no-referrer");
	/* Pages and assets change with each install; revalidating is cheap. */
	resp_header(req, "Cache-Control", "no-cache");
}

enum oa_result h_docs(struct request *req)
{
	const struct docs_asset *asset = docs_asset_for(req->route->path, req->path_arg);
	if (!asset)
		return oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "unknown_url", NULL,
				    "Invalid URL (%s %s).", req->method, req->path);
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", req->app->cfg.docs_dir, asset->file) >= (int)sizeof path)
		return missing(req, asset->file, "path too long");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return missing(req, asset->file, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > DOCS_MAX_FILE_BYTES) {
		close(fd);
		return missing(req, asset->file, "not a regular file of at most 16 MiB");
	}
	page_headers(req);
	long left = (long)st.st_size;
	int rc = resp_begin(req, 200, asset->type, left);
	char buf[16384];
	while (rc == 0 && left > 0) {
		ssize_t got = read(fd, buf, (size_t)left < sizeof buf ? (size_t)left : sizeof buf);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			/* The head promised more: the front sees a short answer. */
			log_error("docs: reading %s: %s", path, got < 0 ? strerror(errno) : "file shrank");
			break;
		}
		rc = resp_write(req, buf, (size_t)got);
		left -= got;
	}
	close(fd);
	return rc == 0 ? OA_DONE : OA_CLIENT_GONE;
}
