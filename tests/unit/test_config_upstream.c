/* test_config_upstream.c: config_upstream.c: upstream models in the config file and from UPSTREAM_*, and what refuses start-up */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char dir[] = "/tmp/oaf-test-config-up-XXXXXX";
static char conf_path[256];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	char path[300];
	snprintf(path, sizeof path, "%s/pyproject.toml", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("[project]\nname = \"openai-fcgi\"\nversion = \"0.1.0\"\n", f);
	return fclose(f);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Loads conf (NULL: no file) with env plus what every run needs. */
static int load(const char *conf, const char *const *env, struct config *cfg, struct config_report *rep)
{
	char *envp[32];
	static char state[300], file_env[300], pyproject[300];
	size_t n = 0;
	snprintf(state, sizeof state, "STATE_DIR=%s", dir);
	envp[n++] = state;
	envp[n++] = (char *)"API_AUTH_TOKENS=unit-key-0123456789abcdef0123";
	snprintf(pyproject, sizeof pyproject, "PYPROJECT_PATH=%s/pyproject.toml", dir);
	envp[n++] = pyproject;
	for (; env && *env; env++)
		envp[n++] = (char *)*env;
	snprintf(conf_path, sizeof conf_path, "%s/test.conf", dir);
	if (conf) {
		FILE *f = fopen(conf_path, "w");
		assert_non_null(f);
		fputs(conf, f);
		fclose(f);
		snprintf(file_env, sizeof file_env, "OPENAI_FCGI_CONFIG=%s", conf_path);
	} else {
		snprintf(file_env, sizeof file_env, "OPENAI_FCGI_CONFIG=%s/none.conf", dir);
		unlink(conf_path);
	}
	envp[n++] = conf ? file_env : (char *)"X=1";
	envp[n] = NULL;
	char dotenv[300];
	snprintf(dotenv, sizeof dotenv, "%s/.env", dir);
	struct config_paths paths = { NULL, dotenv, envp, NULL };
	return config_load(&paths, cfg, rep);
}

static void expect_refusal(const char *conf, const char *const *env, const char *needle)
{
	struct config cfg;
	struct config_report rep;
	assert_int_equal(load(conf, env, &cfg, &rep), -1);
	if (!strstr(sb_str(&rep.errors), needle))
		fail_msg("expected \"%s\" in: %s", needle, sb_str(&rep.errors));
	config_report_free(&rep);
}

static void test_check_url(void **state)
{
	(void)state;
	char why[160];
	assert_int_equal(config_check_url("http://127.0.0.1:8080/v1", why, sizeof why), 0);
	assert_int_equal(config_check_url("https://api.openai.com/v1", why, sizeof why), 0);
	assert_int_equal(config_check_url("https://[::1]:8443/v1", why, sizeof why), 0);
	assert_int_equal(config_check_url("ftp://x/v1", why, sizeof why), -1);
	assert_int_equal(config_check_url("http:///v1", why, sizeof why), -1);
	assert_int_equal(config_check_url("http://host:99999/v1", why, sizeof why), -1);
	assert_int_equal(config_check_url("http://host:/v1", why, sizeof why), -1);
	assert_int_equal(config_check_url("http://u:p@host/v1", why, sizeof why), -1);
	assert_int_equal(config_check_url("http://host/v1?x=1", why, sizeof why), -1);
	assert_int_equal(config_check_url("http://ho st/v1", why, sizeof why), -1);
	assert_int_equal(config_check_url("api.openai.com", why, sizeof why), -1);
}

static const char shared_conf[] =
	"upstreams = ( { name = \"local\"; base_url = \"http://127.0.0.1:8080/v1/\"; api_key_env = \"LOCAL_KEY\";\n"
	"  timeouts = { connect_ms = 500; first_byte_ms = 2000; idle_ms = 1500; total_ms = 9000; };\n"
	"  headers = ( \"X-Team: blue\" ); discover = true; discover_ttl_s = 30; } );\n"
	"models = (\n"
	"  { id = \"fast\"; backend = \"upstream\"; upstream = \"local\"; upstream_model = \"llama-3.1-8b-instruct\"; },\n"
	"  { id = \"big\"; backend = \"upstream\"; upstream = \"local\"; },\n"
	"  { id = \"own\"; backend = \"upstream\"; base_url = \"https://api.example.com/v1\"; },\n"
	"  { id = \"m\"; backend = \"mock\"; }\n"
	");\n";

static void test_shared_upstream(void **state)
{
	(void)state;
	static const char *const env[] = { "LOCAL_KEY=sk-local-123", NULL };
	struct config cfg;
	struct config_report rep;
	assert_int_equal(load(shared_conf, env, &cfg, &rep), 0);
	const struct model_cfg *fast = config_find_model(&cfg, "fast");
	const struct model_cfg *big = config_find_model(&cfg, "big");
	const struct model_cfg *own = config_find_model(&cfg, "own");
	assert_non_null(fast);
	assert_int_equal(fast->backend, BACKEND_UPSTREAM);
	assert_string_equal(fast->upstream.model, "llama-3.1-8b-instruct");
	assert_string_equal(big->upstream.model, "big");
	assert_ptr_equal(fast->upstream.up, big->upstream.up);  /* one upstream, shared */
	const struct upstream_cfg *up = fast->upstream.up;
	assert_string_equal(up->base_url, "http://127.0.0.1:8080/v1");  /* trailing slash gone */
	assert_string_equal(up->api_key, "sk-local-123");
	assert_int_equal(up->connect_ms, 500);
	assert_int_equal(up->first_byte_ms, 2000);
	assert_int_equal(up->idle_ms, 1500);
	assert_int_equal(up->total_ms, 9000);
	assert_int_equal(up->n_headers, 1);
	assert_string_equal(up->headers[0], "X-Team: blue");
	assert_true(up->discover);
	assert_int_equal(up->discover_ttl_s, 30);
	assert_true(own->upstream.up != up);
	assert_string_equal(own->upstream.up->base_url, "https://api.example.com/v1");
	assert_null(own->upstream.up->api_key);
	assert_int_equal(config_find_model(&cfg, "m")->backend, BACKEND_MOCK);
	assert_false(up->responses_native);  /* translate, unless told */
	/* upstream models answer the chat family, unless they say otherwise */
	assert_int_equal(fast->endpoints, EP_CHAT | EP_RESPONSES | EP_COMPLETIONS);
	/* the key is never printed by --check-config */
	strbuf d = STRBUF_INIT;
	config_describe(&cfg, &d);
	assert_null(strstr(sb_str(&d), "sk-local-123"));
	sb_free(&d);
	config_free(&cfg);
	config_report_free(&rep);
}

/* responses = "native" relays /v1/responses; the environment's upstream
 * takes UPSTREAM_RESPONSES. */
static void test_responses_mode(void **state)
{
	(void)state;
	struct config cfg;
	struct config_report rep;
	assert_int_equal(load("upstreams = ( { name = \"u\"; base_url = \"http://h/v1\"; responses = \"native\"; },\n"
			      "  { name = \"t\"; base_url = \"http://h/v1\"; responses = \"translate\"; } );\n"
			      "models = ( { id = \"a\"; backend = \"upstream\"; upstream = \"u\"; },\n"
			      "  { id = \"b\"; backend = \"upstream\"; upstream = \"t\"; } );\n", NULL, &cfg, &rep), 0);
	assert_true(config_find_model(&cfg, "a")->upstream.up->responses_native);
	assert_false(config_find_model(&cfg, "b")->upstream.up->responses_native);
	strbuf d = STRBUF_INIT;
	config_describe(&cfg, &d);
	assert_non_null(strstr(sb_str(&d), "responses native"));
	sb_free(&d);
	config_free(&cfg);
	config_report_free(&rep);
	static const char *const env[] = { "UPSTREAM_BASE_URL=http://x/v1", "UPSTREAM_MODELS=m",
		"UPSTREAM_RESPONSES=native", NULL };
	assert_int_equal(load(NULL, env, &cfg, &rep), 0);
	assert_true(config_find_model(&cfg, "m")->upstream.up->responses_native);
	config_free(&cfg);
	config_report_free(&rep);
	expect_refusal("upstreams = ( { name = \"u\"; base_url = \"http://h/v1\"; responses = \"both\"; } );",
		       NULL, "upstreams[0].responses");
	static const char *const bad[] = { "UPSTREAM_BASE_URL=http://x/v1", "UPSTREAM_MODELS=m",
		"UPSTREAM_RESPONSES=sometimes", NULL };
	expect_refusal(NULL, bad, "UPSTREAM_RESPONSES (environment)");
}

static void test_missing_key_variable(void **state)
{
	(void)state;
	struct config cfg;
	struct config_report rep;
	/* development: a warning, and no key is sent */
	assert_int_equal(load(shared_conf, NULL, &cfg, &rep), 0);
	assert_non_null(strstr(sb_str(&rep.warnings), "LOCAL_KEY is not set"));
	assert_null(config_find_model(&cfg, "fast")->upstream.up->api_key);
	config_free(&cfg);
	config_report_free(&rep);
	/* production: refused */
	static const char *const prod[] = { "ENVIRONMENT=production", "HOST=0.0.0.0", "PORT=8000",
		"LOG_LEVEL=INFO", "RATE_LIMIT_PER_MINUTE=60", NULL };
	expect_refusal(shared_conf, prod, "api_key_env (upstream \"local\"): environment variable LOCAL_KEY is not set");
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refusal("models = ( { id = \"a\"; backend = \"llama\"; } );", NULL, "unknown backend \"llama\"");
	expect_refusal("models = ( { id = \"a\"; backend = \"upstream\"; base_url = \"localhost:8080\"; } );", NULL,
		       "models[0].base_url");
	expect_refusal("models = ( { id = \"a\"; backend = \"upstream\"; upstream = \"nope\"; } );", NULL,
		       "no upstream named \"nope\"");
	expect_refusal("models = ( { id = \"a\"; backend = \"upstream\"; } );", NULL, "needs upstream");
	expect_refusal("upstreams = ( { name = \"u\"; base_url = \"http://h/v1\"; headers = ( \"bad\" ); } );", NULL,
		       "upstreams[0].headers[0]");
	expect_refusal("upstreams = ( { name = \"u\"; base_url = \"http://h/v1\"; timeouts = { idle_ms = -1; }; } );",
		       NULL, "timeouts.idle_ms");
	/* no exchange without an end: total_ms = 0 (once "none") is refused */
	expect_refusal("upstreams = ( { name = \"u\"; base_url = \"http://h/v1\"; timeouts = { total_ms = 0; }; } );",
		       NULL, "upstreams[0].timeouts.total_ms (");
	static const char *const no_total[] = { "UPSTREAM_TOTAL_TIMEOUT_S=0", NULL };
	expect_refusal(NULL, no_total, "UPSTREAM_TOTAL_TIMEOUT_S (environment)");
	static const char *const tiny_event[] = { "UPSTREAM_MAX_EVENT_BYTES=10", NULL };
	expect_refusal(NULL, tiny_event, "UPSTREAM_MAX_EVENT_BYTES (environment)");
	static const char *const huge_body[] = { "UPSTREAM_MAX_BODY_BYTES=99999999999", NULL };
	expect_refusal(NULL, huge_body, "UPSTREAM_MAX_BODY_BYTES (environment)");
	static const char *const bad_url[] = { "UPSTREAM_BASE_URL=htp://x", "UPSTREAM_MODELS=a", NULL };
	expect_refusal(NULL, bad_url, "UPSTREAM_BASE_URL (environment): must start with http");
	static const char *const no_models[] = { "UPSTREAM_BASE_URL=http://x/v1", NULL };
	expect_refusal(NULL, no_models, "needs UPSTREAM_MODELS");
	static const char *const no_url[] = { "UPSTREAM_MODELS=a", NULL };
	expect_refusal(NULL, no_url, "UPSTREAM_MODELS (environment): needs UPSTREAM_BASE_URL");
	static const char *const prod[] = { "ENVIRONMENT=production", "HOST=0.0.0.0", "PORT=8000",
		"LOG_LEVEL=INFO", "RATE_LIMIT_PER_MINUTE=60", "UPSTREAM_BASE_URL=http://x/v1", "UPSTREAM_MODELS=a", NULL };
	expect_refusal(NULL, prod, "UPSTREAM_API_KEY (not set): required in production");
}

static void test_env_only(void **state)
{
	(void)state;
	static const char *const env[] = { "UPSTREAM_BASE_URL=https://api.openai.com/v1",
		"UPSTREAM_API_KEY=sk-env-456", "UPSTREAM_MODELS=gpt-4o-mini, fast=llama-3.1-8b-instruct",
		"UPSTREAM_TIMEOUT_S=7", NULL };
	struct config cfg;
	struct config_report rep;
	assert_int_equal(load(NULL, env, &cfg, &rep), 0);
	assert_int_equal(cfg.n_models, 2);  /* no mock defaults beside them */
	const struct model_cfg *a = config_find_model(&cfg, "gpt-4o-mini");
	const struct model_cfg *b = config_find_model(&cfg, "fast");
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->upstream.model, "gpt-4o-mini");
	assert_string_equal(b->upstream.model, "llama-3.1-8b-instruct");
	assert_ptr_equal(a->upstream.up, b->upstream.up);
	assert_string_equal(a->upstream.up->api_key, "sk-env-456");
	assert_int_equal(a->upstream.up->first_byte_ms, 7000);
	assert_int_equal(a->upstream.up->idle_ms, 7000);
	strbuf d = STRBUF_INIT;
	config_describe(&cfg, &d);
	assert_null(strstr(sb_str(&d), "sk-env-456"));
	sb_free(&d);
	config_free(&cfg);
	config_report_free(&rep);
	/* a name the config file already has is refused */
	static const char *const dup[] = { "UPSTREAM_BASE_URL=http://x/v1", "UPSTREAM_MODELS=m", NULL };
	expect_refusal("models = ( { id = \"m\"; } );", dup, "\"m\" is already a model");
}

/* Every upstream has a total timeout and size bounds: the defaults, the
 * settings for all, a file's own total_ms for one. */
static void test_limits_default_and_override(void **state)
{
	(void)state;
	static const char conf[] =
		"upstreams = ( { name = \"a\"; base_url = \"http://h/v1\"; },\n"
		"  { name = \"b\"; base_url = \"http://h/v1\"; timeouts = { total_ms = 4500; }; } );\n"
		"models = ( { id = \"own\"; backend = \"upstream\"; base_url = \"http://h/v1\"; } );\n";
	struct config cfg;
	struct config_report rep;
	assert_int_equal(load(conf, NULL, &cfg, &rep), 0);
	assert_int_equal(cfg.n_upstreams, 3);
	for (size_t i = 0; i < cfg.n_upstreams; i++) {
		const struct upstream_cfg *up = &cfg.upstreams[i];
		assert_int_equal(up->total_ms, strcmp(up->name, "b") == 0 ? 4500 : 600000);
		assert_int_equal(up->max_event_bytes, 1 << 20);
		assert_int_equal(up->max_body_bytes, 16 << 20);
	}
	config_free(&cfg);
	config_report_free(&rep);
	static const char *const env[] = { "UPSTREAM_TOTAL_TIMEOUT_S=30", "UPSTREAM_MAX_EVENT_BYTES=65536",
		"UPSTREAM_MAX_BODY_BYTES=1048576", "UPSTREAM_BASE_URL=http://x/v1", "UPSTREAM_MODELS=e", NULL };
	assert_int_equal(load(conf, env, &cfg, &rep), 0);
	assert_int_equal(cfg.n_upstreams, 4);
	for (size_t i = 0; i < cfg.n_upstreams; i++) {
		const struct upstream_cfg *up = &cfg.upstreams[i];
		assert_int_equal(up->total_ms, strcmp(up->name, "b") == 0 ? 4500 : 30000);
		assert_int_equal(up->max_event_bytes, 65536);
		assert_int_equal(up->max_body_bytes, 1048576);
	}
	config_free(&cfg);
	config_report_free(&rep);
}

/* A model on several deployments: groups, weights, names, and the
 * settings every request and every deployment gets. */
static void test_deployments(void **state)
{
	(void)state;
	static const char conf[] =
		"upstreams = ( { name = \"a\"; base_url = \"http://a/v1\"; }, { name = \"b\"; base_url = \"http://b/v1\"; },\n"
		"  { name = \"c\"; base_url = \"http://c/v1\"; } );\n"
		"models = ( { id = \"chat\"; backend = \"upstream\"; deployments = (\n"
		"  { upstream = \"a\"; model = \"llama\"; weight = 2; }, { upstream = \"b\"; },\n"
		"  { upstream = \"c\"; model = \"gpt-4o-mini\"; priority = 1; } ); } );\n";
	static const char *const env[] = { "UPSTREAM_RETRIES=1", "UPSTREAM_FAILURES=5", "UPSTREAM_COOLDOWN_S=9",
		"STREAM_PING_S=4", NULL };
	struct config cfg;
	struct config_report rep;
	assert_int_equal(load(conf, env, &cfg, &rep), 0);
	const struct model_cfg *m = config_find_model(&cfg, "chat");
	assert_non_null(m);
	assert_int_equal(m->upstream.n_deployments, 3);
	const struct deployment_cfg *d = m->upstream.deployments;
	assert_string_equal(d[0].name, "a/llama");
	assert_int_equal(d[0].weight, 2);
	assert_int_equal(d[0].priority, 0);
	assert_string_equal(d[1].name, "b/chat");  /* the model's id by default */
	assert_int_equal(d[1].weight, 1);
	assert_string_equal(d[2].model, "gpt-4o-mini");
	assert_int_equal(d[2].priority, 1);
	assert_ptr_equal(m->upstream.up, d[0].up);
	assert_string_equal(m->upstream.model, "llama");
	assert_int_equal(m->upstream.retries, 1);
	assert_int_equal(m->ping_ms, 4000);
	assert_int_equal(d[2].up->failures, 5);
	assert_int_equal(d[2].up->cooldown_ms, 9000);
	strbuf out = STRBUF_INIT;
	config_describe(&cfg, &out);
	assert_non_null(strstr(sb_str(&out), "gpt-4o-mini at http://c/v1 (key none, priority 1, weight 1)"));
	sb_free(&out);
	config_free(&cfg);
	config_report_free(&rep);
	/* defaults */
	assert_int_equal(load(conf, NULL, &cfg, &rep), 0);
	m = config_find_model(&cfg, "chat");
	assert_int_equal(m->upstream.retries, 2);
	assert_int_equal(m->ping_ms, 15000);
	assert_int_equal(m->upstream.deployments[0].up->failures, 3);
	assert_int_equal(m->upstream.deployments[0].up->cooldown_ms, 30000);
	assert_int_equal(config_find_model(&cfg, "chat")->ping_ms, 15000);
	config_free(&cfg);
	config_report_free(&rep);
}

static void test_deployment_refusals(void **state)
{
	(void)state;
	static const char ups[] = "upstreams = ( { name = \"a\"; base_url = \"http://a/v1\"; } );\n";
	char conf[1024];
	const struct {
		const char *models, *needle;
	} cases[] = {
		{ "deployments = ( { upstream = \"zz\"; } )", "models[0].deployments[0].upstream (" },
		{ "deployments = ( { model = \"m\"; } )", "models[0].deployments[0].upstream (" },
		{ "deployments = ( { upstream = \"a\"; weight = 0; } )", "models[0].deployments[0].weight (" },
		{ "deployments = ( { upstream = \"a\"; priority = -1; } )", "models[0].deployments[0].priority (" },
		{ "deployments = ( { upstream = \"a\"; wieght = 2; } )", "wieght" },
		{ "deployments = ( )", "models[0].deployments (" },
		{ "deployments = ( \"a\" )", "models[0].deployments[0] (" },
		{ "upstream = \"a\"; deployments = ( { upstream = \"a\"; } )", "not both" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(conf, sizeof conf, "%smodels = ( { id = \"x\"; backend = \"upstream\"; %s; } );\n", ups,
			 cases[i].models);
		expect_refusal(conf, NULL, cases[i].needle);
	}
	static const char *const bad_rt[] = { "UPSTREAM_RETRIES=11", NULL };
	expect_refusal(NULL, bad_rt, "UPSTREAM_RETRIES (environment)");
	static const char *const bad_ping[] = { "STREAM_PING_S=-1", NULL };
	expect_refusal(NULL, bad_ping, "STREAM_PING_S (environment)");
	static const char *const bad_second[] = { "UPSTREAM_BASE_URL=http://x/v1,ftp://y", "UPSTREAM_MODELS=a", NULL };
	expect_refusal(NULL, bad_second, "UPSTREAM_BASE_URL (environment): one of the URLs must start with http");
	static const char *const too_many[] = { "UPSTREAM_BASE_URL=http://a,http://b,http://c,http://d,http://e,"
		"http://f,http://g,http://h,http://i", "UPSTREAM_MODELS=a", NULL };
	expect_refusal(NULL, too_many, "at most 8 URLs");
}

/* UPSTREAM_BASE_URL="u1, u2": every model on both, tried in that order. */
static void test_env_several_urls(void **state)
{
	(void)state;
	static const char *const env[] = { "UPSTREAM_BASE_URL=http://one:8001/v1, http://two:8002/v1/",
		"UPSTREAM_API_KEY=sk-env-1", "UPSTREAM_MODELS=m,alias=real", NULL };
	struct config cfg;
	struct config_report rep;
	assert_int_equal(load(NULL, env, &cfg, &rep), 0);
	const struct model_cfg *a = config_find_model(&cfg, "alias");
	assert_int_equal(a->upstream.n_deployments, 2);
	assert_string_equal(a->upstream.deployments[0].up->base_url, "http://one:8001/v1");
	assert_string_equal(a->upstream.deployments[1].up->base_url, "http://two:8002/v1");
	assert_string_equal(a->upstream.deployments[0].name, "env/real");
	assert_string_equal(a->upstream.deployments[1].name, "env2/real");
	assert_true(a->upstream.deployments[0].priority < a->upstream.deployments[1].priority);
	assert_string_equal(a->upstream.deployments[1].up->api_key, "sk-env-1");
	assert_int_equal(config_find_model(&cfg, "m")->upstream.n_deployments, 2);
	config_free(&cfg);
	config_report_free(&rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_url),
		cmocka_unit_test(test_shared_upstream),
		cmocka_unit_test(test_responses_mode),
		cmocka_unit_test(test_missing_key_variable),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_env_only),
		cmocka_unit_test(test_limits_default_and_override),
		cmocka_unit_test(test_deployments),
		cmocka_unit_test(test_deployment_refusals),
		cmocka_unit_test(test_env_several_urls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
