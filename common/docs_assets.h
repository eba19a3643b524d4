/* docs_assets.h: the files the documentation pages are made of, by URL, with their types and headers */
#ifndef OAF_DOCS_ASSETS_H
#define OAF_DOCS_ASSETS_H
#include <stddef.h>

/* What every documentation answer carries: no script but our own files
 * (no inline script), nothing fetched from another host, never framed.
 * Styles may be inline because Swagger UI and ReDoc set style attributes
 * and ReDoc adds <style> elements; ReDoc's search runs in a blob: worker. */
#define DOCS_CSP "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " \
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; " \
	"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The largest asset served (Swagger UI's bundle is about 1.5 MB). */
#define DOCS_MAX_FILE_BYTES (16L << 20)

struct docs_asset {
	const char *url;    /* below the mount point: "/docs", "/docs/swagger-ui.css" */
	const char *file;   /* below DOCS_DIR, the same in the source tree and installed */
	const char *type;   /* its Content-Type */
};

/* The asset a docs route answers with: route_path is the route's pattern
 * ("/docs" or "/docs/{}"), arg the {} segment (NULL without one). Returns
 * a row of the fixed table, or NULL: no other file is ever opened, so no
 * URL can name a path of its own. Both arguments are borrowed. */
const struct docs_asset *docs_asset_for(const char *route_path, const char *arg);

/* The whole table, for make install and the tests: *n rows. */
const struct docs_asset *docs_assets(size_t *n);

#endif
