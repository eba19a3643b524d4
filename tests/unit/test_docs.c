/* test_docs.c: the docs asset table, and the route table against www/openapi.json in both directions */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "config.h"
#include "docs_assets.h"
#include "routes.h"

static const char *srcdir(void)
{
	const char *top = getenv("top_srcdir");
	return top && *top ? top : "..";
}

static void test_asset_lookup(void **state)
{
	(void)state;
	const struct docs_asset *a = docs_asset_for("/docs", NULL);
	assert_non_null(a);
	assert_string_equal(a->file, "docs.html");
	assert_string_equal(a->type, "text/html; charset=utf-8");
	a = docs_asset_for("/docs/{}", "swagger-ui-bundle.js");
	assert_non_null(a);
	assert_string_equal(a->file, "node_modules/swagger-ui-dist/swagger-ui-bundle.js");
	assert_string_equal(a->type, "text/javascript; charset=utf-8");
	assert_string_equal(docs_asset_for("/docs/{}", "playground.css")->type, "text/css; charset=utf-8");
	assert_string_equal(docs_asset_for("/openapi.json", NULL)->type, "application/json");
	assert_string_equal(docs_asset_for("/playground", NULL)->file, "playground.html");
}

/* Whatever the segment says, only the table's own rows come back. */
static void test_asset_refusals(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "..", "../openapi.json", "..%2fopenapi.json", "docs.js/", "DOCS.JS", "docs.js.map",
		"swagger-ui-bundle.js.map", "node_modules", "package.json", "openapi.json", "docs",
		"/etc/passwd", "docs.js\n", "index.html", "swagger-ui.css ",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (docs_asset_for("/docs/{}", bad[i]))
			fail_msg("/docs/%s was served", bad[i]);
	assert_null(docs_asset_for("/docs/{}", NULL));
	assert_null(docs_asset_for("/v1/models", NULL));
	assert_null(docs_asset_for("/v1/models/{}", "docs.js"));
}

/* Every file the table names is in the source tree's www/ (the npm ones
 * once `npm ci` has run there, as scripts/test does first). */
static void test_asset_files_exist(void **state)
{
	(void)state;
	char dir[4096], path[4096];
	struct stat st;
	snprintf(dir, sizeof dir, "%s/www/node_modules", srcdir());
	bool have_npm = stat(dir, &st) == 0;
	if (!have_npm)
		fprintf(stderr, "# www/node_modules is missing: the npm assets are not checked (npm ci in www/)\n");
	size_t n;
	const struct docs_asset *assets = docs_assets(&n);
	for (size_t i = 0; i < n; i++) {
		if (!have_npm && strncmp(assets[i].file, "node_modules/", 13) == 0)
			continue;
		snprintf(path, sizeof path, "%s/www/%s", srcdir(), assets[i].file);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > DOCS_MAX_FILE_BYTES)
			fail_msg("%s (asset %s) is missing or too large", path, assets[i].url);
	}
}

/* Is name in text as a whole word of a make variable (space or tab before;
 * space, tab, backslash or newline after)? */
static bool mentions(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; (p = strstr(p, name)) != NULL; p++)
		if (p > text && strchr(" \t", p[-1]) && p[n] && strchr(" \t\\\n", p[n]))
			return true;
	return false;
}

/* make install installs every file the table names (Makefile.am lists
 * ours in dist_www_DATA as www/<file>, npm's in WWW_NPM_FILES). */
static void test_assets_are_installed(void **state)
{
	(void)state;
	char path[4096];
	snprintf(path, sizeof path, "%s/Makefile.am", srcdir());
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char text[1 << 17];
	size_t len = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[len] = '\0';
	size_t n;
	const struct docs_asset *assets = docs_assets(&n);
	for (size_t i = 0; i < n; i++) {
		char want[512];
		bool npm = strncmp(assets[i].file, "node_modules/", 13) == 0;
		snprintf(want, sizeof want, "%s%s", npm ? "" : "www/", assets[i].file);
		if (!mentions(text, want))
			fail_msg("Makefile.am does not install %s (asset %s)", want, assets[i].url);
	}
}

/* "/v1/models/{model}" -> "/v1/models/{}", the route table's spelling. */
static void table_spelling(const char *openapi_path, char *out, size_t n)
{
	size_t o = 0;
	for (const char *p = openapi_path; *p && o + 3 < n; p++) {
		out[o++] = *p;
		if (*p == '{') {
			p = strchr(p, '}');
			assert_non_null(p);
			out[o++] = '}';
		}
	}
	out[o] = '\0';
}

static json_object *load_document(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/www/openapi.json", srcdir());
	json_object *doc = json_object_from_file(path);
	if (!doc)
		fail_msg("cannot read %s", path);
	return doc;
}

static const struct route *find_row(const char *method, const char *path)
{
	size_t n;
	const struct route *t = route_table(&n);
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(t[i].method, method) == 0 && strcmp(t[i].path, path) == 0)
			return &t[i];
	return NULL;
}

/* Every operation of the document is a row of the table, and what it says
 * of auth, limits and bodies is what the row's flags do. */
static void test_document_only_has_real_routes(void **state)
{
	(void)state;
	json_object *doc = load_document(), *paths;
	assert_true(json_object_object_get_ex(doc, "paths", &paths));
	int ops = 0;
	json_object_object_foreach(paths, p, item) {
		json_object_object_foreach(item, method, op) {
			char spelled[256];
			table_spelling(p, spelled, sizeof spelled);
			const struct route *row = find_row(method, spelled);
			if (!row)
				fail_msg("the document has %s %s, the route table has no such row", method, p);
			ops++;
			json_object *sec, *responses, *body;
			assert_true(json_object_object_get_ex(op, "security", &sec));
			bool doc_auth = json_object_array_length(sec) > 0;
			if (doc_auth != !!(row->flags & R_AUTH))
				fail_msg("%s %s: the document says %s, the route table says %s", method, p,
					 doc_auth ? "a key is needed" : "no key", row->flags & R_AUTH ? "R_AUTH" : "no R_AUTH");
			assert_true(json_object_object_get_ex(op, "responses", &responses));
			bool doc_429 = json_object_object_get_ex(responses, "429", NULL);
			if (doc_429 != !!(row->flags & R_RATE_LIMITED))
				fail_msg("%s %s: 429 %s in the document, R_RATE_LIMITED %s in the table", method, p,
					 doc_429 ? "is" : "is not", row->flags & R_RATE_LIMITED ? "set" : "not set");
			bool doc_body = json_object_object_get_ex(op, "requestBody", &body);
			if (doc_body != !!(row->flags & R_JSON_BODY))
				fail_msg("%s %s: requestBody %s in the document, R_JSON_BODY %s in the table", method, p,
					 doc_body ? "is" : "is not", row->flags & R_JSON_BODY ? "set" : "not set");
			if (row->flags & R_AUTH)
				assert_true(json_object_object_get_ex(responses, "401", NULL));
		}
	}
	assert_true(ops > 0);
	json_object_put(doc);
}

/* Every row of the table is documented: a new route fails here until its
 * entry is added to openapi/routes.mjs and www/openapi.json is rebuilt. */
static void test_every_route_is_documented(void **state)
{
	(void)state;
	json_object *doc = load_document(), *paths;
	assert_true(json_object_object_get_ex(doc, "paths", &paths));
	size_t n;
	const struct route *t = route_table(&n);
	for (size_t i = 0; i < n; i++) {
		bool found = false;
		json_object_object_foreach(paths, p, item) {
			char spelled[256], lower[16];
			table_spelling(p, spelled, sizeof spelled);
			snprintf(lower, sizeof lower, "%s", t[i].method);
			for (char *c = lower; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
			if (strcmp(spelled, t[i].path) == 0 && json_object_object_get_ex(item, lower, NULL))
				found = true;
		}
		if (!found)
			fail_msg("%s %s is in the route table but not in www/openapi.json: add it to "
				 "openapi/routes.mjs and run node openapi/build.mjs", t[i].method, t[i].path);
	}
	json_object_put(doc);
}

/* The pages are never behind a key or a limit: they make no API call of
 * their own, and the calls made from them are counted as any other. */
static void test_docs_rows_are_public(void **state)
{
	(void)state;
	size_t n, docs = 0;
	const struct route *t = route_table(&n);
	for (size_t i = 0; i < n; i++) {
		if (!(t[i].flags & R_DOCS))
			continue;
		docs++;
		assert_int_equal(t[i].flags, R_DOCS);
		assert_ptr_equal(t[i].handler, h_docs);
		if (!strchr(t[i].path, '{'))
			assert_non_null(docs_asset_for(t[i].path, NULL));
	}
	assert_int_equal(docs, 5);
}

/* DOCS=auto follows the environment; on and off decide in every one. */
static void test_docs_enabled(void **state)
{
	(void)state;
	static const struct { enum environment env; enum docs_mode mode; bool on; } cases[] = {
		{ ENV_DEVELOPMENT, DOCS_AUTO, true },  { ENV_TEST, DOCS_AUTO, true },
		{ ENV_STAGING, DOCS_AUTO, false },     { ENV_PRODUCTION, DOCS_AUTO, false },
		{ ENV_DEVELOPMENT, DOCS_OFF, false },  { ENV_TEST, DOCS_OFF, false },
		{ ENV_STAGING, DOCS_ON, true },        { ENV_PRODUCTION, DOCS_ON, true },
		{ ENV_PRODUCTION, DOCS_OFF, false },   { ENV_DEVELOPMENT, DOCS_ON, true },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg = { .env = cases[i].env, .docs = cases[i].mode };
		if (config_docs_enabled(&cfg) != cases[i].on)
			fail_msg("case %zu: %s with DOCS=%d", i, config_env_name(cases[i].env), cases[i].mode);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docs_enabled),
		cmocka_unit_test(test_asset_lookup),
		cmocka_unit_test(test_asset_refusals),
		cmocka_unit_test(test_asset_files_exist),
		cmocka_unit_test(test_assets_are_installed),
		cmocka_unit_test(test_document_only_has_real_routes),
		cmocka_unit_test(test_every_route_is_documented),
		cmocka_unit_test(test_docs_rows_are_public),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
