/* docs_assets.c: the files the documentation pages are made of, by URL, with their types */
#include "docs_assets.h"

#include <string.h>

#define HTML "text/html; charset=utf-8"
#define JS   "text/javascript; charset=utf-8"
#define CSS  "text/css; charset=utf-8"

/* Swagger UI and ReDoc come from npm (www/package-lock.json) and keep the
 * package's own layout, so the source tree after `npm ci` and an installed
 * DOCS_DIR look alike. */
static const struct docs_asset assets[] = {
	{ "/openapi.json",               "openapi.json",     "application/json" },
	{ "/docs",                       "docs.html",        HTML },
	{ "/redoc",                      "redoc.html",       HTML },
	{ "/playground",                 "playground.html",  HTML },
	{ "/docs/docs.js",               "docs.js",          JS },
	{ "/docs/redoc.js",              "redoc.js",         JS },
	{ "/docs/playground.js",         "playground.js",    JS },
	{ "/docs/playground.css",        "playground.css",   CSS },
	{ "/docs/swagger-ui.css",        "node_modules/swagger-ui-dist/swagger-ui.css", CSS },
	{ "/docs/swagger-ui-bundle.js",  "node_modules/swagger-ui-dist/swagger-ui-bundle.js", JS },
	{ "/docs/favicon.png",           "node_modules/swagger-ui-dist/favicon-32x32.png", "image/png" },
	{ "/docs/redoc.standalone.js",   "node_modules/redoc/bundles/redoc.standalone.js", JS },
};

const struct docs_asset *docs_asset_for(const char *route_path, const char *arg)
{
	size_t fixed = strlen(route_path);
	if (fixed >= 2 && strcmp(route_path + fixed - 2, "{}") == 0)
		fixed -= 2;
	else
		arg = "";
	if (!arg)
		return NULL;
	for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
		if (strncmp(assets[i].url, route_path, fixed) == 0 && strcmp(assets[i].url + fixed, arg) == 0)
			return &assets[i];
	return NULL;
}

const struct docs_asset *docs_assets(size_t *n)
{
	*n = sizeof assets / sizeof assets[0];
	return assets;
}
