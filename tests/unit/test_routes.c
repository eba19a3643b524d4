/* test_routes.c: the router and its handlers driven through a memory req_io, without a web server */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "app.h"
#include "chat_request.h"
#include "log.h"
#include "request.h"
#include "routes.h"
#include "xalloc.h"

#define KEY        "route-test-key-0123456789"   /* RATE_LIMIT_PER_MINUTE applies */
#define LIMITED    "limited-key-abcdefghijklm"   /* keys[]: 2 requests per minute */
#define AUTH(k)    "Bearer " k

/* ---- a request carried by memory ---- */

/* The CGI variables, the body, and where the answer goes. */
struct fake {
	const char *vars[24][2];
	size_t n_vars;
	const char *body;
	size_t body_len, body_pos;
	bool read_forbidden;   /* a test where reading the body is a bug */
	int writes_allowed;    /* -1: any; else the writer fails after this many */
	int writes, flushes;
	strbuf out;
};

static void fake_set(struct fake *f, const char *name, const char *value)
{
	assert_true(f->n_vars < sizeof f->vars / sizeof f->vars[0]);
	f->vars[f->n_vars][0] = name;
	f->vars[f->n_vars][1] = value;
	f->n_vars++;
}

static const char *fake_param(void *ctx, const char *name)
{
	struct fake *f = ctx;
	for (size_t i = 0; i < f->n_vars; i++)
		if (strcmp(f->vars[i][0], name) == 0)
			return f->vars[i][1];
	return NULL;
}

static long fake_read(void *ctx, char *buf, size_t n)
{
	struct fake *f = ctx;
	if (f->read_forbidden)
		fail_msg("the body was read although it must not be");
	size_t left = f->body_len - f->body_pos;
	if (n > left)
		n = left;
	memcpy(buf, f->body + f->body_pos, n);
	f->body_pos += n;
	return (long)n;
}

static int fake_write(void *ctx, const char *p, size_t n)
{
	struct fake *f = ctx;
	if (f->writes_allowed >= 0 && f->writes >= f->writes_allowed)
		return -1;
	f->writes++;
	sb_append(&f->out, p, n);
	return 0;
}

static int fake_flush(void *ctx)
{
	struct fake *f = ctx;
	f->flushes++;
	return f->writes_allowed >= 0 && f->writes >= f->writes_allowed ? -1 : 0;
}

/* A fresh request: method and REQUEST_URI, lighttpd-style. */
static void fake_init(struct fake *f, const char *method, const char *uri)
{
	memset(f, 0, sizeof *f);
	f->writes_allowed = -1;
	fake_set(f, "REQUEST_METHOD", method);
	if (uri)
		fake_set(f, "REQUEST_URI", uri);
	fake_set(f, "REMOTE_ADDR", "127.0.0.1");
}

static void fake_body(struct fake *f, const char *body)
{
	static char len[24];  /* one request at a time */
	f->body = body;
	f->body_len = strlen(body);
	snprintf(len, sizeof len, "%zu", f->body_len);
	fake_set(f, "CONTENT_LENGTH", len);
	fake_set(f, "CONTENT_TYPE", "application/json");
}

/* ---- the answer, split back into its parts ---- */

struct answer {
	int status;
	char *head;   /* header lines, each ending in \r\n */
	char *body;
	json_object *json;
	bool client_gone;
	char log[1024];
};

static void answer_free(struct answer *a)
{
	free(a->head);
	free(a->body);
	if (a->json)
		json_object_put(a->json);
	memset(a, 0, sizeof *a);
}

/* The value of header name (any case), copied into a static buffer; NULL if absent. */
static const char *header(const struct answer *a, const char *name)
{
	static char val[1024];
	size_t nl = strlen(name);
	for (const char *p = a->head; p && *p; p = strstr(p, "\r\n") + 2) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1 + (p[nl + 1] == ' ');
			size_t n = strcspn(v, "\r");
			snprintf(val, sizeof val, "%.*s", (int)n, v);
			return val;
		}
	}
	return NULL;
}

static void parse_answer(const char *raw, struct answer *a)
{
	const char *end = strstr(raw, "\r\n\r\n");
	if (!end || strncmp(raw, "Status: ", 8) != 0)
		fail_msg("not a CGI answer: %s", raw);
	a->status = atoi(raw + 8);
	a->head = xstrndup(raw, (size_t)(end - raw) + 2);
	a->body = xstrdup(end + 4);
	a->json = a->body[0] ? json_tokener_parse(a->body) : NULL;
}

/* Runs one request through request_begin/route_dispatch/request_end,
 * catching the access-log line that request_end writes to stderr. */
static void run_on(const struct app *app, struct fake *f, struct answer *a)
{
	struct req_io io = { f, fake_param, fake_read, { f, fake_write, fake_flush }, NULL, NULL, NULL };
	struct request req;
	char logpath[] = "/tmp/test_routes_log.XXXXXX";
	int logfd = mkstemp(logpath);
	assert_true(logfd >= 0);
	unlink(logpath);
	int saved = dup(STDERR_FILENO);

	memset(a, 0, sizeof *a);
	memset(&req, 0, sizeof req);
	request_begin(&req, app, &io);
	route_dispatch(&req);
	fflush(stderr);
	dup2(logfd, STDERR_FILENO);
	request_end(&req);
	dup2(saved, STDERR_FILENO);
	close(saved);
	a->client_gone = req.client_gone;
	request_free(&req);

	ssize_t n = pread(logfd, a->log, sizeof a->log - 1, 0);
	a->log[n > 0 ? n : 0] = '\0';
	close(logfd);
	parse_answer(sb_str(&f->out), a);
	sb_free(&f->out);
}

/* ---- the apps under test ---- */

struct world {
	char dir[64];
	struct app app;            /* production, CORS_ORIGINS empty */
};

/* Loads a production app whose state lives in dir/sub, with extra "K=V"
 * settings on top of the base ones. */
static void app_open(struct app *app, const char *dir, const char *sub, const char *const *extra)
{
	char state[128], py[128], conf[128], dotenv[128], st_env[160], py_env[160];
	char *env[32];
	size_t n = 0;
	char err[256];
	snprintf(state, sizeof state, "STATE_DIR=%s/%s", dir, sub);
	snprintf(py, sizeof py, "%s/pyproject.toml", dir);
	snprintf(py_env, sizeof py_env, "PYPROJECT_PATH=%s", py);
	snprintf(conf, sizeof conf, "%s/%s.conf", dir, sub);
	snprintf(dotenv, sizeof dotenv, "%s/no.env", dir);
	snprintf(st_env, sizeof st_env, "%s", state);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fputs("keys = ( { token = \"" LIMITED "\"; requests_per_minute = 2; } );\n", f);
	fclose(f);

	static const char *const base[] = {
		"ENVIRONMENT=production", "HOST=127.0.0.1", "PORT=8000", "LOG_LEVEL=INFO",
		"RATE_LIMIT_PER_MINUTE=1000", "API_AUTH_TOKENS=" KEY, "MOCK_STREAM_DELAY_MS=0",
	};
	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
		env[n++] = (char *)base[i];
	env[n++] = st_env;
	env[n++] = py_env;
	for (size_t i = 0; extra && extra[i]; i++)
		env[n++] = (char *)extra[i];
	env[n] = NULL;

	struct config_paths paths = { conf, dotenv, env, NULL };
	struct config_report rep;
	memset(app, 0, sizeof *app);
	if (config_load(&paths, &app->cfg, &rep) != 0)
		fail_msg("config refused:\n%s", sb_str(&rep.errors));
	config_report_free(&rep);
	assert_int_equal(auth_keyring_init(&app->keys, app->cfg.tokens, app->cfg.n_tokens, err, sizeof err), 0);
	if (lim_open_config(&app->cfg, &app->limits, err, sizeof err) != 0)
		fail_msg("lim_open_config: %s", err);
}

static void app_close(struct app *app)
{
	lim_close(app->limits);
	auth_keyring_free(&app->keys);
	config_free(&app->cfg);
}

static struct world *W;

static int group_setup(void **state)
{
	(void)state;
	W = xcalloc(1, sizeof *W);
	strcpy(W->dir, "/tmp/test_routes.XXXXXX");
	assert_non_null(mkdtemp(W->dir));
	char py[128];
	snprintf(py, sizeof py, "%s/pyproject.toml", W->dir);
	FILE *f = fopen(py, "w");
	assert_non_null(f);
	fputs("[project]\nname = \"openai-fcgi\"\nversion = \"4.5.6\"\n", f);
	fclose(f);
	app_open(&W->app, W->dir, "main", NULL);
	log_setup(LOG_INFO, false);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	(void)state;
	app_close(&W->app);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", W->dir);
	assert_int_equal(system(cmd), 0);
	free(W);
	return 0;
}

static void run(struct fake *f, struct answer *a)
{
	run_on(&W->app, f, a);
}

/* A GET of uri with the good key. */
static void get(const char *uri, struct answer *a)
{
	struct fake f;
	fake_init(&f, "GET", uri);
	fake_set(&f, "HTTP_AUTHORIZATION", AUTH(KEY));
	run(&f, a);
}

static json_object *jget(json_object *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *k = strtok(buf, "."); k && o; k = strtok(NULL, "."))
		if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	return o;
}

static const char *jstr(json_object *o, const char *path)
{
	json_object *v = jget(o, path);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The answer is the OpenAI envelope with this status, type and code (NULL: null). */
static void assert_error(const struct answer *a, int status, const char *type, const char *code)
{
	if (a->status != status)
		fail_msg("status %d, wanted %d; body %s", a->status, status, a->body);
	assert_non_null(a->json);
	json_object *e = jget(a->json, "error");
	assert_non_null(e);
	assert_int_equal(json_object_object_length(e), 4);
	assert_non_null(jstr(e, "message"));
	assert_string_equal(jstr(e, "type"), type);
	assert_true(json_object_object_get_ex(e, "param", NULL));
	if (code)
		assert_string_equal(jstr(e, "code"), code);
	else
		assert_null(jget(e, "code"));
	assert_string_equal(header(a, "Content-Type"), "application/json");
	assert_int_equal(atoi(header(a, "Content-Length")), strlen(a->body));
	assert_non_null(header(a, "x-request-id"));
}

/* ---- routing ---- */

static void test_route_match(void **state)
{
	const char *arg = NULL;
	bool known;
	char allow[128];
	(void)state;
	const struct route *r = route_match("GET", "/v1/models", &arg, &known, allow, sizeof allow);
	assert_non_null(r);
	assert_ptr_equal(r->handler, h_models_list);
	assert_true(r->flags & R_AUTH);
	r = route_match("GET", "/api/v1/models/abc", &arg, &known, allow, sizeof allow);
	assert_ptr_equal(r->handler, h_models_get);
	assert_string_equal(arg, "abc");
	r = route_match("GET", "/v1/models/a/b", &arg, &known, allow, sizeof allow);
	assert_null(r);
	assert_false(known);
	r = route_match("DELETE", "/v1/models", &arg, &known, allow, sizeof allow);
	assert_null(r);
	assert_true(known);
	assert_string_equal(allow, "OPTIONS, GET");
	r = route_match("GET", "/v1/chat/completions", &arg, &known, allow, sizeof allow);
	assert_null(r);
	assert_true(known);
	assert_string_equal(allow, "OPTIONS, POST");
	r = route_match("GET", "/cgi-bin/openai-fcgi.cgi/health", &arg, &known, allow, sizeof allow);
	assert_ptr_equal(r->handler, h_health);
	r = route_match("GET", "/v1/", &arg, &known, allow, sizeof allow);
	assert_ptr_equal(r->handler, h_v1_root);
	r = route_match("GET", "/healthz", &arg, &known, allow, sizeof allow);
	assert_null(r);
	assert_false(known);
}

/* How each front splits the URL of GET /v1/models (or the mount's). */
struct front {
	const char *name, *script_name, *path_info, *request_uri;
};

static const struct front fronts[] = {
	{ "lighttpd at /", "/v1/models", NULL, "/v1/models?limit=1" },
	{ "lighttpd at /api", "/api", "/v1/models", "/api/v1/models" },
	{ "nginx", "/v1/models", NULL, "/v1/models" },
	{ "nginx with split_path_info", "", "/v1/models", "/v1/models" },
	{ "apache mod_proxy_fcgi", "/v1/models", "", "/v1/models" },
	{ "apache mod_fcgid", "/fcgi-bin/openai-fcgi.fcgi", "/v1/models", "/fcgi-bin/openai-fcgi.fcgi/v1/models" },
	{ "apache mod_cgi", "/cgi-bin/openai-fcgi.cgi", "/v1/models", "/cgi-bin/openai-fcgi.cgi/v1/models" },
	{ "mod_cgi, no REQUEST_URI", "/cgi-bin/openai-fcgi.cgi", "/v1/models", NULL },
	{ "no REQUEST_URI, no PATH_INFO", "/v1/models", NULL, NULL },
	{ "encoded path", "/api", "/v1/models", "/api/v1/%6dodels" },
};

static void test_fronts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof fronts / sizeof fronts[0]; i++) {
		const struct front *fr = &fronts[i];
		struct fake f;
		struct answer a;
		fake_init(&f, "GET", fr->request_uri);
		if (fr->script_name)
			fake_set(&f, "SCRIPT_NAME", fr->script_name);
		if (fr->path_info)
			fake_set(&f, "PATH_INFO", fr->path_info);
		fake_set(&f, "HTTP_AUTHORIZATION", AUTH(KEY));
		run(&f, &a);
		if (a.status != 200)
			fail_msg("%s: status %d: %s", fr->name, a.status, a.body);
		assert_string_equal(jstr(a.json, "object"), "list");
		answer_free(&a);
	}
}

static void test_mounted_model_get(void **state)
{
	struct answer a;
	(void)state;
	get("/api/v1/models/blueprint-advanced", &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(jstr(a.json, "id"), "blueprint-advanced");
	assert_string_equal(jstr(a.json, "object"), "model");
	assert_string_equal(jstr(a.json, "owned_by"), "openai-fcgi");
	assert_non_null(jget(a.json, "created"));
	answer_free(&a);

	get("/v1/models/no-such-model", &a);
	assert_error(&a, 404, "invalid_request_error", "model_not_found");
	assert_string_equal(jstr(a.json, "error.param"), "model");
	answer_free(&a);
}

static void test_models_list(void **state)
{
	struct answer a;
	(void)state;
	get("/v1/models", &a);
	assert_int_equal(a.status, 200);
	json_object *data = jget(a.json, "data");
	assert_non_null(data);
	assert_int_equal(json_object_array_length(data), 4);
	assert_string_equal(jstr(json_object_array_get_idx(data, 0), "id"), "blueprint-standard");
	assert_string_equal(header(&a, "Content-Type"), "application/json");
	assert_int_equal(atoi(header(&a, "Content-Length")), strlen(a.body));
	assert_non_null(header(&a, "openai-processing-ms"));
	assert_string_equal(header(&a, "x-ratelimit-limit-requests"), "1000");
	answer_free(&a);
}

static void test_health_and_root(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	fake_init(&f, "GET", "/health");
	run(&f, &a);  /* no key needed */
	assert_int_equal(a.status, 200);
	assert_string_equal(a.body, "{\"status\":\"ok\"}");
	assert_null(header(&a, "x-ratelimit-limit-requests")); /* not rate-limited */
	answer_free(&a);

	fake_init(&f, "GET", "/v1");
	run(&f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(jstr(a.json, "message"), "Welcome to openai-fcgi 4.5.6 - Version 1");
	answer_free(&a);
}

static void test_not_found(void **state)
{
	struct answer a;
	(void)state;
	get("/v2/models", &a);
	assert_error(&a, 404, "invalid_request_error", "unknown_url");
	assert_null(header(&a, "Allow"));
	answer_free(&a);
	get("/", &a);
	assert_error(&a, 404, "invalid_request_error", "unknown_url");
	answer_free(&a);
}

static void test_method_not_allowed(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	fake_init(&f, "DELETE", "/v1/models");
	fake_set(&f, "HTTP_AUTHORIZATION", AUTH(KEY));
	run(&f, &a);
	assert_error(&a, 405, "invalid_request_error", "method_not_allowed");
	assert_string_equal(header(&a, "Allow"), "OPTIONS, GET");
	answer_free(&a);

	fake_init(&f, "GET", "/v1/chat/completions");
	run(&f, &a);
	assert_error(&a, 405, "invalid_request_error", "method_not_allowed");
	assert_string_equal(header(&a, "Allow"), "OPTIONS, POST");
	answer_free(&a);
}

static void test_preflight(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	fake_init(&f, "OPTIONS", "/v1/chat/completions");  /* no Authorization */
	fake_set(&f, "HTTP_ORIGIN", "https://app.example");
	fake_set(&f, "HTTP_ACCESS_CONTROL_REQUEST_METHOD", "POST");
	fake_set(&f, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "x-stainless-os");
	run(&f, &a);
	assert_int_equal(a.status, 204);
	assert_string_equal(a.body, "");
	assert_string_equal(header(&a, "Access-Control-Allow-Origin"), "*");
	assert_string_equal(header(&a, "Access-Control-Allow-Methods"), "OPTIONS, POST");
	assert_string_equal(header(&a, "Access-Control-Allow-Headers"), "Authorization, Content-Type, x-stainless-os");
	assert_string_equal(header(&a, "Access-Control-Max-Age"), "600");
	assert_null(header(&a, "WWW-Authenticate"));
	answer_free(&a);

	/* Requested names that are not plain tokens are not echoed into the head. */
	fake_init(&f, "OPTIONS", "/v1/models");
	fake_set(&f, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "x-a\r\nSet-Cookie: evil=1");
	run(&f, &a);
	assert_int_equal(a.status, 204);
	assert_string_equal(header(&a, "Access-Control-Allow-Headers"), "Authorization, Content-Type");
	assert_null(header(&a, "Set-Cookie"));
	answer_free(&a);

	fake_init(&f, "OPTIONS", "/nowhere");
	run(&f, &a);
	assert_error(&a, 404, "invalid_request_error", "unknown_url");
	answer_free(&a);
}

/* ---- auth ---- */

static void test_auth_failures(void **state)
{
	static const struct { const char *header, *code; } rows[] = {
		{ NULL, "missing_api_key" },
		{ "", "missing_api_key" },
		{ "Basic dXNlcjpwYXNz", "invalid_auth_format" },
		{ "Bearer", "invalid_auth_format" },
		{ "Bearer bad key!", "invalid_auth_format" },
		{ "Bearer bad!key-0123456789abcdef", "invalid_key_format" },
		{ "Bearer short-key", "invalid_key_length" },  /* production: 16 at least */
		{ "Bearer wrong-key-0123456789abcdef", "invalid_key" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct fake f;
		struct answer a;
		fake_init(&f, "GET", "/v1/models");
		fake_set(&f, "REMOTE_ADDR", "10.0.0.1");
		if (rows[i].header)
			fake_set(&f, "HTTP_AUTHORIZATION", rows[i].header);
		run(&f, &a);
		if (a.status != 401 || !jstr(a.json, "error.code") || strcmp(jstr(a.json, "error.code"), rows[i].code))
			fail_msg("row %zu (%s): %d %s", i, rows[i].header ? rows[i].header : "(none)", a.status, a.body);
		assert_error(&a, 401, "authentication_error", rows[i].code);
		assert_string_equal(header(&a, "WWW-Authenticate"), "Bearer");
		/* the access log never holds the token, only "-" before auth */
		assert_null(strstr(a.log, "wrong-key"));
		assert_non_null(strstr(a.log, " 401 "));
		answer_free(&a);
	}
}

static void test_auth_ok_logs_fingerprint(void **state)
{
	struct answer a;
	(void)state;
	get("/v1/models", &a);
	assert_int_equal(a.status, 200);
	assert_null(strstr(a.log, KEY));
	assert_non_null(strstr(a.log, "key=key_"));
	assert_non_null(strstr(a.log, " access "));
	assert_non_null(strstr(a.log, "\"/v1/models\" 200 "));
	answer_free(&a);
}

/* ---- request ids ---- */

static void test_request_id(void **state)
{
	struct fake f;
	struct answer a;
	char first[80];
	(void)state;
	fake_init(&f, "GET", "/health");
	fake_set(&f, "HTTP_X_REQUEST_ID", "client-id_1.2");
	run(&f, &a);
	assert_string_equal(header(&a, "x-request-id"), "client-id_1.2");
	assert_non_null(strstr(a.log, "client-id_1.2"));
	answer_free(&a);

	fake_init(&f, "GET", "/health");
	fake_set(&f, "HTTP_X_REQUEST_ID", "bad id\r\nX-Evil: 1");
	run(&f, &a);
	assert_int_equal(strncmp(header(&a, "x-request-id"), "req_", 4), 0);
	assert_null(header(&a, "X-Evil"));
	snprintf(first, sizeof first, "%s", header(&a, "x-request-id"));
	answer_free(&a);

	fake_init(&f, "GET", "/health");
	run(&f, &a);
	assert_int_equal(strncmp(header(&a, "x-request-id"), "req_", 4), 0);
	assert_string_not_equal(header(&a, "x-request-id"), first); /* a new one each time */
	answer_free(&a);
}

/* ---- bad input ---- */

static void test_bad_paths(void **state)
{
	static const char *const uris[] = { "/v1/models%ff", "/v1/%00models", "/v1/models%2", "/v1/mo%zzdels" };
	(void)state;
	for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
		struct answer a;
		get(uris[i], &a);
		if (a.status != 400)
			fail_msg("%s: %d", uris[i], a.status);
		assert_error(&a, 400, "invalid_request_error", "invalid_path");
		answer_free(&a);
	}
}

static void test_huge_header(void **state)
{
	struct fake f;
	struct answer a;
	char *big = xmalloc(9001);
	(void)state;
	memset(big, 'a', 9000);
	big[9000] = '\0';
	fake_init(&f, "GET", "/v1/models");
	fake_set(&f, "HTTP_AUTHORIZATION", AUTH(KEY));
	fake_set(&f, "HTTP_USER_AGENT", big);
	run(&f, &a);
	assert_error(&a, 431, "invalid_request_error", "header_too_large");
	answer_free(&a);
	free(big);
}

static const char chat_body[] =
	"{\"model\":\"blueprint-standard\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

/* A POST to the chat endpoint with the good key and no body yet. */
static void chat_post(struct fake *f)
{
	fake_init(f, "POST", "/v1/chat/completions");
	fake_set(f, "HTTP_AUTHORIZATION", AUTH(KEY));
}

static void test_body_too_large_not_read(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_set(&f, "CONTENT_TYPE", "application/json");
	fake_set(&f, "CONTENT_LENGTH", "1048577");
	f.read_forbidden = true;
	run(&f, &a);
	assert_error(&a, 413, "invalid_request_error", "request_too_large");
	answer_free(&a);
}

static void test_unsupported_media_type(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_set(&f, "CONTENT_TYPE", "text/plain");
	fake_set(&f, "CONTENT_LENGTH", "2");
	f.read_forbidden = true;
	run(&f, &a);
	assert_error(&a, 415, "invalid_request_error", "unsupported_media_type");
	answer_free(&a);

	/* JSON with parameters, and +json types, are JSON */
	chat_post(&f);
	f.body = chat_body;
	f.body_len = strlen(chat_body);
	char len[16];
	snprintf(len, sizeof len, "%zu", f.body_len);
	fake_set(&f, "CONTENT_LENGTH", len);
	fake_set(&f, "CONTENT_TYPE", "Application/JSON; charset=utf-8");
	run(&f, &a);
	assert_int_equal(a.status, 200);
	answer_free(&a);
}

static void test_content_length(void **state)
{
	static const struct { const char *cl; int status; const char *code; } rows[] = {
		{ NULL, 400, "missing_content_length" },
		{ "", 400, "missing_content_length" },
		{ "abc", 400, "invalid_content_length" },
		{ "12abc", 400, "invalid_content_length" },
		{ "-5", 400, "invalid_content_length" },
		{ " 12", 400, "invalid_content_length" },
		{ "+12", 400, "invalid_content_length" },
		{ "99999999999999999999999", 400, "invalid_content_length" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct fake f;
		struct answer a;
		chat_post(&f);
		fake_set(&f, "CONTENT_TYPE", "application/json");
		if (rows[i].cl)
			fake_set(&f, "CONTENT_LENGTH", rows[i].cl);
		f.read_forbidden = true;
		run(&f, &a);
		if (a.status != rows[i].status)
			fail_msg("CONTENT_LENGTH %s: %d", rows[i].cl ? rows[i].cl : "(none)", a.status);
		assert_error(&a, rows[i].status, "invalid_request_error", rows[i].code);
		answer_free(&a);
	}
}

static void test_short_body(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_set(&f, "CONTENT_TYPE", "application/json");
	fake_set(&f, "CONTENT_LENGTH", "500");
	f.body = chat_body;
	f.body_len = strlen(chat_body);
	run(&f, &a);
	assert_error(&a, 400, "invalid_request_error", "incomplete_body");
	answer_free(&a);
}

static void test_empty_body(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_body(&f, "");
	run(&f, &a);
	assert_int_equal(a.status, 400);
	assert_string_equal(jstr(a.json, "error.type"), "invalid_request_error");
	answer_free(&a);
}

static void test_bad_json(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_body(&f, "{\"model\": \"x\xff\"}");
	run(&f, &a);
	assert_int_equal(a.status, 400);
	assert_error(&a, 400, "invalid_request_error", jstr(a.json, "error.code"));
	answer_free(&a);

	chat_post(&f);
	fake_body(&f, "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
	run(&f, &a);
	assert_error(&a, 404, "invalid_request_error", "model_not_found");
	answer_free(&a);
}

/* ---- a handler that fails without saying why ---- */

static bool parse_fails_silently;

int __real_chat_request_parse(const char *body, size_t len, struct chat_request *req, oa_error *err);
int __wrap_chat_request_parse(const char *body, size_t len, struct chat_request *req, oa_error *err);
int __wrap_chat_request_parse(const char *body, size_t len, struct chat_request *req, oa_error *err)
{
	if (parse_fails_silently)
		return -1;
	return __real_chat_request_parse(body, len, req, err);
}

static void test_handler_failure_is_500(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_body(&f, chat_body);
	parse_fails_silently = true;
	run(&f, &a);
	parse_fails_silently = false;
	assert_error(&a, 500, "server_error", "internal_server_error");
	assert_null(strstr(a.body, "h_chat")); /* nothing internal leaks */
	answer_free(&a);

	/* and the next request is served as usual */
	chat_post(&f);
	fake_body(&f, chat_body);
	run(&f, &a);
	assert_int_equal(a.status, 200);
	answer_free(&a);
}

static void test_model_without_backend_is_500(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	struct model_cfg *m = (struct model_cfg *)config_find_model(&W->app.cfg, "blueprint-standard");
	m->backend = (enum backend_kind)99;  /* a kind no backend serves */
	chat_post(&f);
	fake_body(&f, chat_body);
	run(&f, &a);
	m->backend = BACKEND_MOCK;
	assert_error(&a, 500, "server_error", "internal_server_error");
	answer_free(&a);
}

/* ---- CORS ---- */

static void test_cors_any_origin(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	fake_init(&f, "GET", "/health");
	fake_set(&f, "HTTP_ORIGIN", "https://anywhere.example");
	run(&f, &a);
	assert_string_equal(header(&a, "Access-Control-Allow-Origin"), "*");
	assert_non_null(strstr(header(&a, "Access-Control-Expose-Headers"), "x-request-id"));
	assert_non_null(strstr(header(&a, "Access-Control-Expose-Headers"), "x-ratelimit-remaining-requests"));
	assert_non_null(strstr(header(&a, "Access-Control-Expose-Headers"), "x-openai-fcgi-deployment"));
	assert_string_equal(header(&a, "Vary"), "Origin");
	answer_free(&a);
}

static void test_cors_listed_origins(void **state)
{
	static const char *const extra[] = { "CORS_ORIGINS=https://a.example,https://b.example", NULL };
	struct app app;
	struct fake f;
	struct answer a;
	(void)state;
	app_open(&app, W->dir, "cors", extra);

	fake_init(&f, "GET", "/v1/models");
	fake_set(&f, "HTTP_AUTHORIZATION", AUTH(KEY));
	fake_set(&f, "HTTP_ORIGIN", "https://b.example");
	run_on(&app, &f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(header(&a, "Access-Control-Allow-Origin"), "https://b.example");
	assert_string_equal(header(&a, "Vary"), "Origin");
	answer_free(&a);

	fake_init(&f, "GET", "/v1/models");
	fake_set(&f, "HTTP_AUTHORIZATION", AUTH(KEY));
	fake_set(&f, "HTTP_ORIGIN", "https://evil.example");
	run_on(&app, &f, &a);
	assert_int_equal(a.status, 200);
	assert_null(header(&a, "Access-Control-Allow-Origin"));
	assert_null(header(&a, "Access-Control-Expose-Headers"));
	assert_string_equal(header(&a, "Vary"), "Origin");
	answer_free(&a);

	fake_init(&f, "OPTIONS", "/v1/models");
	fake_set(&f, "HTTP_ORIGIN", "https://a.example");
	run_on(&app, &f, &a);
	assert_int_equal(a.status, 204);
	assert_string_equal(header(&a, "Access-Control-Allow-Origin"), "https://a.example");
	answer_free(&a);

	app_close(&app);
}

/* ---- rate limits ---- */

static void test_rate_limit(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	/* LIMITED has 2 per minute of its own (the config file's keys[]) */
	for (int i = 0; i < 2; i++) {
		fake_init(&f, "GET", "/v1/models");
		fake_set(&f, "HTTP_AUTHORIZATION", AUTH(LIMITED));
		run(&f, &a);
		assert_int_equal(a.status, 200);
		assert_string_equal(header(&a, "x-ratelimit-limit-requests"), "2");
		assert_int_equal(atoi(header(&a, "x-ratelimit-remaining-requests")), 1 - i);
		assert_non_null(header(&a, "x-ratelimit-reset-requests"));
		answer_free(&a);
	}
	fake_init(&f, "GET", "/v1/models");
	fake_set(&f, "HTTP_AUTHORIZATION", AUTH(LIMITED));
	run(&f, &a);
	assert_error(&a, 429, "requests", "rate_limit_exceeded");
	long retry = atol(header(&a, "Retry-After"));
	long retry_ms = atol(header(&a, "retry-after-ms"));
	assert_true(retry_ms > 0 && retry_ms <= 30000);
	assert_int_equal(retry, (retry_ms + 999) / 1000);
	assert_string_equal(header(&a, "x-ratelimit-remaining-requests"), "0");
	assert_null(strstr(a.body, LIMITED));
	answer_free(&a);

	/* another key is not affected */
	get("/v1/models", &a);
	assert_int_equal(a.status, 200);
	answer_free(&a);
}

static void test_failed_auth_limited_by_address(void **state)
{
	static const char *const extra[] = { "RATE_LIMIT_PER_MINUTE=2", NULL };
	struct app app;
	struct fake f;
	struct answer a;
	(void)state;
	app_open(&app, W->dir, "guess", extra);
	for (int i = 0; i < 3; i++) {
		fake_init(&f, "GET", "/v1/models");
		fake_set(&f, "REMOTE_ADDR", "192.0.2.9");
		fake_set(&f, "HTTP_AUTHORIZATION", "Bearer guess-0123456789abcdefgh");
		run_on(&app, &f, &a);
		assert_int_equal(a.status, i < 2 ? 401 : 429);
		answer_free(&a);
	}
	app_close(&app);
}

/* ---- chat ---- */

static void test_chat_whole(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_body(&f, chat_body);
	run(&f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(header(&a, "Content-Type"), "application/json");
	assert_string_equal(jstr(a.json, "object"), "chat.completion");
	assert_string_equal(jstr(a.json, "model"), "blueprint-standard");
	json_object *c0 = json_object_array_get_idx(jget(a.json, "choices"), 0);
	assert_non_null(c0);
	assert_string_equal(jstr(c0, "message.role"), "assistant");
	assert_true(strlen(jstr(c0, "message.content")) > 0);
	assert_non_null(jget(a.json, "usage"));
	assert_int_equal(f.body_pos, strlen(chat_body));
	answer_free(&a);
}

static void post_to(struct fake *f, const char *uri, const char *body)
{
	fake_init(f, "POST", uri);
	fake_set(f, "HTTP_AUTHORIZATION", AUTH(KEY));
	fake_body(f, body);
}

/* The Responses and legacy completions rows: the same dispatcher, their own answers. */
static void test_responses_and_completions(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	post_to(&f, "/v1/responses", "{\"model\":\"blueprint-standard\",\"input\":\"Hi\"}");
	run(&f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(jstr(a.json, "object"), "response");
	assert_string_equal(jstr(a.json, "status"), "completed");
	assert_string_equal(header(&a, "Content-Type"), "application/json");
	answer_free(&a);

	post_to(&f, "/v1/responses", "{\"model\":\"blueprint-standard\",\"input\":\"Hi\",\"stream\":true}");
	run(&f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(header(&a, "Content-Type"), "text/event-stream");
	assert_int_equal(strncmp(a.body, "event: response.created\ndata: {", 31), 0);
	assert_non_null(strstr(a.body, "event: response.completed\n"));
	assert_true(f.flushes > 4);
	answer_free(&a);

	/* the Responses API answers an unknown model with a 400, chat and completions with a 404 */
	post_to(&f, "/v1/responses", "{\"model\":\"nope\",\"input\":\"Hi\"}");
	run(&f, &a);
	assert_error(&a, 400, "invalid_request_error", "model_not_found");
	answer_free(&a);
	post_to(&f, "/v1/completions", "{\"model\":\"nope\",\"prompt\":\"Hi\"}");
	run(&f, &a);
	assert_error(&a, 404, "invalid_request_error", "model_not_found");
	answer_free(&a);

	post_to(&f, "/v1/completions", "{\"model\":\"blueprint-standard\",\"prompt\":\"Hi\"}");
	run(&f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(jstr(a.json, "object"), "text_completion");
	answer_free(&a);

	/* a model asked for what it does not serve: a 400 that names it */
	static const char *const asks[][2] = {
		{ "/v1/chat/completions", "{\"model\":\"blueprint-embedding\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}" },
		{ "/v1/responses", "{\"model\":\"blueprint-embedding\",\"input\":\"Hi\"}" },
		{ "/v1/completions", "{\"model\":\"blueprint-embedding\",\"prompt\":\"Hi\"}" },
	};
	for (size_t i = 0; i < 3; i++) {
		post_to(&f, asks[i][0], asks[i][1]);
		run(&f, &a);
		assert_int_equal(a.status, 400);
		assert_string_equal(jstr(a.json, "error.param"), "model");
		assert_non_null(strstr(jstr(a.json, "error.message"), "'blueprint-embedding'"));
		assert_non_null(strstr(jstr(a.json, "error.message"), asks[i][0] + 1));
		answer_free(&a);
	}
}

static void test_chat_stream(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_body(&f, "{\"model\":\"blueprint-standard\",\"stream\":true,"
		  "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
	run(&f, &a);
	assert_int_equal(a.status, 200);
	assert_string_equal(header(&a, "Content-Type"), "text/event-stream");
	assert_string_equal(header(&a, "Cache-Control"), "no-cache");
	assert_null(header(&a, "Content-Length"));
	assert_non_null(header(&a, "x-request-id"));
	assert_true(f.flushes > 2);

	/* every event is "data: <json>\n\n", the last "data: [DONE]\n\n" */
	size_t events = 0;
	bool done = false;
	char *body = xstrdup(a.body);
	for (char *p = body; *p; events++) {
		char *end = strstr(p, "\n\n");
		assert_non_null(end);
		*end = '\0';
		assert_int_equal(strncmp(p, "data: ", 6), 0);
		assert_false(done);
		if (strcmp(p + 6, "[DONE]") == 0) {
			done = true;
		} else {
			json_object *chunk = json_tokener_parse(p + 6);
			assert_non_null(chunk);
			assert_string_equal(jstr(chunk, "object"), "chat.completion.chunk");
			json_object_put(chunk);
		}
		p = end + 2;
	}
	free(body);
	assert_true(done);
	assert_true(events >= 4);
	answer_free(&a);
}

static void test_chat_stream_client_gone(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	chat_post(&f);
	fake_body(&f, "{\"model\":\"blueprint-standard\",\"stream\":true,"
		  "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
	f.writes_allowed = 2; /* the head and one event, then the client is gone */
	run(&f, &a);
	assert_true(a.client_gone);
	assert_int_equal(a.status, 200);
	assert_int_equal(f.writes, 2);
	assert_null(strstr(a.body, "[DONE]"));
	assert_non_null(strstr(a.log, " 200 "));
	assert_non_null(strstr(a.log, "client_gone"));
	answer_free(&a);

	/* the writer failing on the very first write: a whole answer */
	fake_init(&f, "GET", "/health");
	f.writes_allowed = 0;
	struct req_io io = { &f, fake_param, fake_read, { &f, fake_write, fake_flush }, NULL, NULL, NULL };
	struct request req;
	memset(&req, 0, sizeof req);
	request_begin(&req, &W->app, &io);
	route_dispatch(&req);
	assert_true(req.client_gone);
	assert_int_equal(req.bytes_sent, 0);
	request_free(&req);
	sb_free(&f.out);
}

/* A large body and answer leave no large buffer with the thread's context:
 * it is reused for every later request of the worker. */
static void test_large_request_buffers_released(void **state)
{
	(void)state;
	strbuf body = STRBUF_INIT;
	sb_puts(&body, "{\"model\":\"blueprint-standard\",\"n\":8,\"messages\":[{\"role\":\"user\",\"content\":\"");
	for (int i = 0; i < 40000; i++)  /* 200 KB of body */
		sb_puts(&body, "word ");
	/* 8 choices of a 60 KB const, each cut at 4096 tokens: 160 KB of answer */
	sb_puts(&body, "\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"big\","
		"\"schema\":{\"const\":\"");
	for (int i = 0; i < 12000; i++)
		sb_puts(&body, "word ");
	sb_puts(&body, "\"}}}}");
	struct fake f;
	chat_post(&f);
	fake_body(&f, body.buf);
	struct req_io io = { &f, fake_param, fake_read, { &f, fake_write, fake_flush }, NULL, NULL, NULL };
	struct request req;
	memset(&req, 0, sizeof req);
	request_begin(&req, &W->app, &io);
	route_dispatch(&req);
	assert_int_equal(req.status, 200);
	assert_true(req.body.cap > REQUEST_BUFFER_KEEP);
	assert_true(req.out.cap > REQUEST_BUFFER_KEEP);
	request_end(&req);
	assert_true(req.body.cap <= REQUEST_BUFFER_KEEP);
	assert_true(req.out.cap <= REQUEST_BUFFER_KEEP);
	assert_true(req.head.cap <= REQUEST_BUFFER_KEEP);
	assert_true(req.scratch.cap <= REQUEST_BUFFER_KEEP);
	/* and the context still serves the next request */
	sb_free(&f.out);
	fake_init(&f, "GET", "/health");
	request_begin(&req, &W->app, &io);
	route_dispatch(&req);
	assert_int_equal(req.status, 200);
	request_end(&req);
	request_free(&req);
	sb_free(&f.out);
	sb_free(&body);
}

static void test_json_access_log(void **state)
{
	struct fake f;
	struct answer a;
	(void)state;
	log_setup(LOG_INFO, true);
	fake_init(&f, "GET", "/v1/nope\"x");
	run(&f, &a);
	log_setup(LOG_INFO, false);
	json_object *line = json_tokener_parse(a.log);
	assert_non_null(line);
	assert_string_equal(jstr(line, "type"), "access");
	assert_string_equal(jstr(line, "path"), "/v1/nope\"x");
	assert_int_equal(json_object_get_int(jget(line, "status")), 404);
	json_object_put(line);
	answer_free(&a);
}

/* What the reserve thread answers itself (false) and what it parks for a
 * worker (true): only the routes that may hold their thread. */
static void test_may_stream(void **state)
{
	(void)state;
	static const struct { const char *method, *uri; bool parks; } cases[] = {
		{ "POST", "/v1/chat/completions", true },
		{ "POST", "/api/v1/chat/completions?x=1", true },
		{ "GET", "/health", false },
		{ "GET", "/api/health", false },
		{ "GET", "/v1", false },
		{ "GET", "/v1/models", false },
		{ "GET", "/v1/models/blueprint-standard", false },
		{ "GET", "/v1/chat/completions", false },      /* a 405 */
		{ "OPTIONS", "/v1/chat/completions", false },  /* a preflight */
		{ "GET", "/nope", false },
		{ "GET", "/%zz", false },                      /* a 400 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f;
		struct request req;
		fake_init(&f, cases[i].method, cases[i].uri);
		struct req_io io = { .ctx = &f, .param = fake_param, .read = fake_read,
				     .out = { &f, fake_write, fake_flush } };
		memset(&req, 0, sizeof req);
		request_begin(&req, &W->app, &io);
		if (route_may_stream(&req) != cases[i].parks)
			fail_msg("%s %s", cases[i].method, cases[i].uri);
		assert_int_equal(f.writes, 0);  /* only looked, answered nothing */
		request_free(&req);
		sb_free(&f.out);
	}
}

/* The carriers hand over every variable at once (io->vars): request_begin
 * finds each it knows in one walk, and finds what asking param() by name
 * finds: exact names only (not a longer one it begins, not one it begins),
 * the first of a name given twice, an empty value as empty. */
static char *const walked_env[] = {
	"HTTP_ORIGIN_EXTRA=no", "HTTP_ORIGI=no", "REQUEST_METHOD=POST", "HTTP_ORIGIN=https://a.example",
	"HTTP_ORIGIN=https://second.example", "CONTENT_TYPE=", "REQUEST_URI=/v1/models?x=1",
	"HTTP_X_REQUEST_ID=req-walked", "SERVER_SOFTWARE=lighttpd/1.4.69", "UNRELATED=1", NULL,
};

static char **walked_vars(void *ctx)
{
	(void)ctx;
	return (char **)walked_env;
}

static const char *walked_param(void *ctx, const char *name)
{
	(void)ctx;
	for (char *const *v = walked_env; *v; v++) {
		size_t n = strlen(name);
		if (strncmp(*v, name, n) == 0 && (*v)[n] == '=')
			return *v + n + 1;
	}
	return NULL;
}

static void test_vars_walked_once_as_param_finds_them(void **state)
{
	(void)state;
	struct req_io by_walk = { NULL, NULL, NULL, { NULL, NULL, NULL }, NULL, walked_vars, NULL };
	struct req_io by_name = { NULL, walked_param, NULL, { NULL, NULL, NULL }, NULL, NULL, NULL };
	struct request a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	static struct app no_app;  /* request_begin only keeps the pointer */
	request_begin(&a, &no_app, &by_walk);
	request_begin(&b, &no_app, &by_name);
	for (int i = 0; i < CGI_COUNT; i++) {
		if (!b.cgi[i])
			assert_null(a.cgi[i]);
		else
			assert_string_equal(a.cgi[i], b.cgi[i]);
	}
	assert_string_equal(req_var(&a, CGI_HTTP_ORIGIN), "https://a.example");
	assert_string_equal(req_var(&a, CGI_CONTENT_TYPE), "");
	assert_string_equal(req_var(&a, CGI_REQUEST_METHOD), "POST");
	assert_string_equal(a.method, "POST");
	assert_string_equal(a.id, "req-walked");
	assert_null(req_var(&a, CGI_HTTP_AUTHORIZATION));
	assert_null(req_var(&a, CGI_SCRIPT_NAME));
	request_free(&a);
	request_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_match),
		cmocka_unit_test(test_fronts),
		cmocka_unit_test(test_mounted_model_get),
		cmocka_unit_test(test_models_list),
		cmocka_unit_test(test_health_and_root),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_preflight),
		cmocka_unit_test(test_auth_failures),
		cmocka_unit_test(test_auth_ok_logs_fingerprint),
		cmocka_unit_test(test_request_id),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_huge_header),
		cmocka_unit_test(test_body_too_large_not_read),
		cmocka_unit_test(test_unsupported_media_type),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_short_body),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_handler_failure_is_500),
		cmocka_unit_test(test_model_without_backend_is_500),
		cmocka_unit_test(test_cors_any_origin),
		cmocka_unit_test(test_cors_listed_origins),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_failed_auth_limited_by_address),
		cmocka_unit_test(test_chat_whole),
		cmocka_unit_test(test_chat_stream),
		cmocka_unit_test(test_responses_and_completions),
		cmocka_unit_test(test_chat_stream_client_gone),
		cmocka_unit_test(test_json_access_log),
		cmocka_unit_test(test_may_stream),
		cmocka_unit_test(test_large_request_buffers_released),
		cmocka_unit_test(test_vars_walked_once_as_param_finds_them),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
