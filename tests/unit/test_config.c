/* test_config.c: every start-up rule of the blueprint, per environment, and where settings come from */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "config_members.h"
#include "key_policy.h"
#include "xalloc.h"

#define LONG_TOKEN "prod-token-1234567890abcdef"
#define SHA_OF_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* One test's world: a temp dir holding the config file, .env, pyproject
 * and state dir, and an environ array built by hand, never the real one. */
struct world {
	char dir[64];
	char conf[128], dotenv[128], pyproject[128], state[128];
	char *env[64];
	size_t n_env;
	struct config cfg;
	struct config_report rep;
	int rc;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Sets name=value in w->env, replacing an earlier value; NULL unsets. */
static void env_set(struct world *w, const char *name, const char *value)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < w->n_env; i++)
		if (strncmp(w->env[i], name, nl) == 0 && w->env[i][nl] == '=') {
			free(w->env[i]);
			w->env[i] = w->env[--w->n_env];
			w->env[w->n_env] = NULL;
			break;
		}
	if (!value)
		return;
	assert_true(w->n_env + 1 < sizeof w->env / sizeof w->env[0]);
	size_t n = nl + strlen(value) + 2;
	w->env[w->n_env] = xmalloc(n);
	snprintf(w->env[w->n_env], n, "%s=%s", name, value);
	w->env[++w->n_env] = NULL;
}

static int setup(void **state)
{
	struct world *w = xcalloc(1, sizeof *w);
	strcpy(w->dir, "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->conf, sizeof w->conf, "%s/openai-fcgi.conf", w->dir);
	snprintf(w->dotenv, sizeof w->dotenv, "%s/.env", w->dir);
	snprintf(w->pyproject, sizeof w->pyproject, "%s/pyproject.toml", w->dir);
	snprintf(w->state, sizeof w->state, "%s/state", w->dir);
	write_file(w->conf, "# empty\n");
	write_file(w->pyproject, "[project]\nname = \"openai-fcgi\"\nversion = \"9.8.7\"\n");
	/* Every load gets a state dir and a pyproject of its own, so that no
	 * test reads or writes the installed ones. */
	env_set(w, "STATE_DIR", w->state);
	env_set(w, "PYPROJECT_PATH", w->pyproject);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];
	config_free(&w->cfg);
	config_report_free(&w->rep);
	for (size_t i = 0; i < w->n_env; i++)
		free(w->env[i]);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	return 0;
}

/* A valid production setup, which tests then break one way at a time. */
static void production(struct world *w, const char *env)
{
	env_set(w, "ENVIRONMENT", env);
	env_set(w, "HOST", "0.0.0.0");
	env_set(w, "PORT", "8000");
	env_set(w, "LOG_LEVEL", "INFO");
	env_set(w, "RATE_LIMIT_PER_MINUTE", "10");
	env_set(w, "API_AUTH_TOKENS", LONG_TOKEN);
}

static int load(struct world *w)
{
	struct config_paths p = { w->conf, w->dotenv, w->env, NULL };
	config_free(&w->cfg);
	config_report_free(&w->rep);
	w->rc = config_load(&p, &w->cfg, &w->rep);
	return w->rc;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* Expects the load to be refused with a line containing want. */
static void assert_refused(struct world *w, const char *want)
{
	if (load(w) == 0)
		fail_msg("accepted; wanted a refusal with \"%s\"; warnings:\n%s", want, sb_str(&w->rep.warnings));
	assert_contains(sb_str(&w->rep.errors), want);
	assert_null(w->cfg.host); /* nothing half-built is handed out */
}

static void assert_loads(struct world *w)
{
	if (load(w) != 0)
		fail_msg("refused:\n%s", sb_str(&w->rep.errors));
	assert_int_equal(w->rep.errors.len, 0);
}

static const char *const strict_envs[] = { "production", "staging" };

/* ---- production and staging ---- */

static void test_strict_valid_loads(void **state)
{
	struct world *w = *state;
	for (size_t i = 0; i < 2; i++) {
		production(w, strict_envs[i]);
		assert_loads(w);
		assert_int_equal(w->cfg.env, i == 0 ? ENV_PRODUCTION : ENV_STAGING);
		assert_true(config_strict(&w->cfg));
		assert_string_equal(w->cfg.host, "0.0.0.0");
		assert_int_equal(w->cfg.port, 8000);
		assert_int_equal(w->cfg.log_level, LOG_INFO);
		assert_int_equal(w->cfg.rate_limit_per_minute, 10);
		assert_int_equal(w->cfg.n_tokens, 1);
		assert_string_equal(w->cfg.tokens[0], LONG_TOKEN);
		assert_string_equal(w->cfg.project_name, "openai-fcgi");
		assert_string_equal(w->cfg.project_version, "9.8.7");
		assert_string_equal(w->rep.warnings.len ? sb_str(&w->rep.warnings) : "", "");
	}
}

static void test_strict_missing_required(void **state)
{
	static const char *const required[] = { "HOST", "PORT", "LOG_LEVEL", "RATE_LIMIT_PER_MINUTE" };
	struct world *w = *state;
	char want[96];
	for (size_t e = 0; e < 2; e++)
		for (size_t i = 0; i < 4; i++) {
			production(w, strict_envs[e]);
			env_set(w, required[i], NULL);
			snprintf(want, sizeof want, "%s (not set): required in %s", required[i], strict_envs[e]);
			assert_refused(w, want);
		}
}

static void test_strict_invalid_port(void **state)
{
	struct world *w = *state;
	for (size_t e = 0; e < 2; e++) {
		production(w, strict_envs[e]);
		env_set(w, "PORT", "abc");
		assert_refused(w, "PORT (environment): must be an integer, got \"abc\"");
		env_set(w, "PORT", "0");
		assert_refused(w, "PORT (environment): must be from 1 to 65535, got 0");
		env_set(w, "PORT", "70000");
		assert_refused(w, "PORT (environment): must be from 1 to 65535, got 70000");
		env_set(w, "PORT", "80x");
		assert_refused(w, "PORT (environment): must be an integer");
		env_set(w, "PORT", "");
		assert_refused(w, "PORT (environment): must be an integer");
	}
}

static void test_strict_invalid_log_level(void **state)
{
	struct world *w = *state;
	for (size_t e = 0; e < 2; e++) {
		production(w, strict_envs[e]);
		env_set(w, "LOG_LEVEL", "LOUD");
		assert_refused(w, "LOG_LEVEL (environment): must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got \"LOUD\"");
		env_set(w, "LOG_LEVEL", "debug"); /* any case is fine */
		assert_loads(w);
		assert_int_equal(w->cfg.log_level, LOG_DEBUG);
	}
}

static void test_strict_invalid_rate_limit(void **state)
{
	struct world *w = *state;
	for (size_t e = 0; e < 2; e++) {
		production(w, strict_envs[e]);
		env_set(w, "RATE_LIMIT_PER_MINUTE", "ten");
		assert_refused(w, "RATE_LIMIT_PER_MINUTE (environment): must be an integer, got \"ten\"");
		env_set(w, "RATE_LIMIT_PER_MINUTE", "0");
		assert_refused(w, "RATE_LIMIT_PER_MINUTE (environment): must be from 1 to 1000000, got 0");
		env_set(w, "RATE_LIMIT_PER_MINUTE", "-5");
		assert_refused(w, "RATE_LIMIT_PER_MINUTE (environment): must be from 1");
	}
}

static void test_strict_no_token(void **state)
{
	struct world *w = *state;
	for (size_t e = 0; e < 2; e++) {
		char want[96];
		production(w, strict_envs[e]);
		env_set(w, "API_AUTH_TOKENS", NULL);
		snprintf(want, sizeof want, "API_AUTH_TOKENS (not set): required in %s", strict_envs[e]);
		assert_refused(w, want);
		env_set(w, "API_AUTH_TOKENS", " , ");
		snprintf(want, sizeof want, "API_AUTH_TOKENS (environment): required in %s", strict_envs[e]);
		assert_refused(w, want);
		/* no dev_ key is made behind the operator's back */
		char path[160];
		snprintf(path, sizeof path, "%s/dev-token", w->state);
		assert_int_not_equal(access(path, F_OK), 0);
	}
}

static void test_strict_short_token(void **state)
{
	struct world *w = *state;
	for (size_t e = 0; e < 2; e++) {
		char want[128];
		production(w, strict_envs[e]);
		env_set(w, "API_AUTH_TOKENS", LONG_TOKEN ",short-15-chars1");
		snprintf(want, sizeof want, "API_AUTH_TOKENS (environment): token 2 is 15 characters; %s requires at least 16",
			 strict_envs[e]);
		assert_refused(w, want);
		/* the message never echoes the token */
		assert_null(strstr(sb_str(&w->rep.errors), "short-15-chars1"));
		env_set(w, "API_AUTH_TOKENS", "exactly-16-chars");
		assert_loads(w);
	}
}

static void test_strict_pyproject(void **state)
{
	struct world *w = *state;
	for (size_t e = 0; e < 2; e++) {
		production(w, strict_envs[e]);
		env_set(w, "PYPROJECT_PATH", "/nonexistent/pyproject.toml");
		assert_refused(w, "PYPROJECT_PATH: ");
		assert_contains(sb_str(&w->rep.errors), "/nonexistent/pyproject.toml");

		env_set(w, "PYPROJECT_PATH", w->pyproject);
		write_file(w->pyproject, "[project]\nname = \"\"\nversion = \"1.0\"\n");
		assert_refused(w, "[project] name and version must both be set and non-empty");
		write_file(w->pyproject, "[project]\nname = \"x\"\nversion = \"\"\n");
		assert_refused(w, "[project] name and version must both be set and non-empty");
		write_file(w->pyproject, "[project]\nname = \"x\"\n");
		assert_refused(w, "[project] name and version must both be set and non-empty");
		write_file(w->pyproject, "[tool.x]\nname = \"x\"\nversion = \"1\"\n");
		assert_refused(w, "[project] name and version must both be set and non-empty");
		write_file(w->pyproject, "[project]\nname = \"openai-fcgi\"\nversion = \"9.8.7\"\n");
	}
}

static void test_strict_every_problem_reported(void **state)
{
	struct world *w = *state;
	production(w, "production");
	env_set(w, "PORT", "abc");
	env_set(w, "HOST", NULL);
	env_set(w, "API_AUTH_TOKENS", NULL);
	assert_refused(w, "PORT (environment)");
	assert_contains(sb_str(&w->rep.errors), "HOST (not set)");
	assert_contains(sb_str(&w->rep.errors), "API_AUTH_TOKENS (not set)");
}

/* ---- development and test ---- */

static void test_development_defaults_and_dev_token(void **state)
{
	struct world *w = *state;
	char path[160], filetok[128] = "";
	assert_loads(w);
	assert_int_equal(w->cfg.env, ENV_DEVELOPMENT);
	assert_false(config_strict(&w->cfg));
	assert_string_equal(w->cfg.host, "127.0.0.1");
	assert_int_equal(w->cfg.port, 8000);
	assert_int_equal(w->cfg.rate_limit_per_minute, 60);
	assert_int_equal(w->cfg.max_body_bytes, 1048576);
	assert_int_equal(w->cfg.n_tokens, 1);
	const char *tok = w->cfg.tokens[0];
	assert_int_equal(strncmp(tok, "dev_", 4), 0);
	assert_true(strlen(tok) >= 20);
	/* the warning shows the key once, so the user can use it */
	assert_contains(sb_str(&w->rep.warnings), "API_AUTH_TOKENS (not set): no token given; development key: ");
	assert_contains(sb_str(&w->rep.warnings), tok);

	snprintf(path, sizeof path, "%s/dev-token", w->state);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(filetok, sizeof filetok, f));
	fclose(f);
	filetok[strcspn(filetok, "\n")] = '\0';
	assert_string_equal(filetok, tok);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0); /* private */

	char *first = xstrdup(tok);
	assert_loads(w); /* a second start (another worker) gets the same key */
	assert_string_equal(w->cfg.tokens[0], first);
	free(first);
}

static void test_development_damaged_dev_token_replaced(void **state)
{
	struct world *w = *state;
	char path[160];
	mkdir(w->state, 0700);
	snprintf(path, sizeof path, "%s/dev-token", w->state);
	write_file(path, "garbage\n");
	assert_loads(w);
	assert_int_equal(strncmp(w->cfg.tokens[0], "dev_", 4), 0);
}

static void test_test_env_uses_test_key(void **state)
{
	struct world *w = *state;
	env_set(w, "ENVIRONMENT", "test");
	assert_loads(w);
	assert_int_equal(w->cfg.env, ENV_TEST);
	assert_int_equal(w->cfg.n_tokens, 1);
	assert_string_equal(w->cfg.tokens[0], "test_key");
	assert_contains(sb_str(&w->rep.warnings), "API_AUTH_TOKENS (not set): no token given; test environment uses \"test_key\"");
}

static void test_short_tokens_only_warn_outside_strict(void **state)
{
	static const char *const envs[] = { "development", "test" };
	struct world *w = *state;
	for (size_t i = 0; i < 2; i++) {
		env_set(w, "ENVIRONMENT", envs[i]);
		env_set(w, "API_AUTH_TOKENS", "short,also-short");
		assert_loads(w);
		assert_int_equal(w->cfg.n_tokens, 2);
		assert_string_equal(w->cfg.tokens[0], "short");
		assert_contains(sb_str(&w->rep.warnings), "API_AUTH_TOKENS (environment): token 1 is 5 characters; "
				"production requires at least 16");
		assert_contains(sb_str(&w->rep.warnings), "token 2 is 10 characters");
	}
}

static void test_unknown_environment_falls_back(void **state)
{
	struct world *w = *state;
	env_set(w, "ENVIRONMENT", "prod");
	assert_loads(w);
	assert_int_equal(w->cfg.env, ENV_DEVELOPMENT);
	assert_contains(sb_str(&w->rep.warnings), "ENVIRONMENT (environment): unknown environment \"prod\"; using development");
	/* and development's rules apply: a dev_ key */
	assert_int_equal(strncmp(w->cfg.tokens[0], "dev_", 4), 0);
	env_set(w, "ENVIRONMENT", "PRODUCTION"); /* case does not matter */
	env_set(w, "API_AUTH_TOKENS", LONG_TOKEN);
	load(w);
	assert_int_equal(w->rc, -1); /* strict now: HOST etc. missing */
	assert_contains(sb_str(&w->rep.errors), "HOST (not set): required in production");
}

static void test_development_refuses_invalid_values(void **state)
{
	struct world *w = *state;
	env_set(w, "PORT", "abc");
	assert_refused(w, "PORT (environment): must be an integer, got \"abc\" (optional here: remove it to use the default)");
	env_set(w, "PORT", NULL);
	env_set(w, "LOG_LEVEL", "chatty");
	assert_refused(w, "LOG_LEVEL (environment): must be DEBUG");
	env_set(w, "LOG_LEVEL", NULL);
	env_set(w, "RATE_LIMIT_PER_MINUTE", "0");
	assert_refused(w, "RATE_LIMIT_PER_MINUTE (environment): must be from 1 to 1000000");
}

static void test_development_pyproject_only_warns(void **state)
{
	struct world *w = *state;
	env_set(w, "PYPROJECT_PATH", "/nonexistent/pyproject.toml");
	assert_loads(w);
	assert_contains(sb_str(&w->rep.warnings), "PYPROJECT_PATH: ");
	assert_non_null(w->cfg.project_name); /* the built-in name stands in */
	assert_non_null(w->cfg.project_version);
}

/* ---- where settings come from ---- */

static void test_precedence(void **state)
{
	struct world *w = *state;
	write_file(w->conf, "# comment\nPORT = 1111;\nHOST = \"file-host\";\nLOG_LEVEL = \"ERROR\";\n");
	write_file(w->dotenv, "PORT=2222\nHOST=dotenv-host\n");
	env_set(w, "PORT", "3333");
	assert_loads(w);
	assert_int_equal(w->cfg.port, 3333);               /* environment beats all */
	assert_string_equal(w->cfg.host, "dotenv-host");   /* .env beats the file */
	assert_int_equal(w->cfg.log_level, LOG_ERROR);     /* the file beats defaults */
	assert_int_equal(w->cfg.rate_limit_per_minute, 60); /* default */
	env_set(w, "PORT", NULL);
	assert_loads(w);
	assert_int_equal(w->cfg.port, 2222);
	write_file(w->dotenv, "# nothing\n");
	assert_loads(w);
	assert_int_equal(w->cfg.port, 1111);
	write_file(w->conf, "\n");
	assert_loads(w);
	assert_int_equal(w->cfg.port, 8000);
}

static void test_origin_named_in_refusals(void **state)
{
	struct world *w = *state;
	char want[256];
	write_file(w->conf, "# line 1\nHOST = \"h\";\nPORT = 70000;\n");
	assert_refused(w, "PORT (");
	snprintf(want, sizeof want, "PORT (%s:3): must be from 1 to 65535, got 70000", w->conf);
	assert_contains(sb_str(&w->rep.errors), want);

	write_file(w->dotenv, "\n# x\nPORT=abc\n");
	load(w);
	snprintf(want, sizeof want, "PORT (%s:3): must be an integer", w->dotenv);
	assert_contains(sb_str(&w->rep.errors), want);
}

static void test_config_file_environment_setting(void **state)
{
	struct world *w = *state;
	/* the environment itself may come from the file, and strictness follows */
	write_file(w->conf, "ENVIRONMENT = \"production\";\nHOST = \"0.0.0.0\";\nPORT = 80;\n"
		   "LOG_LEVEL = \"WARNING\";\nRATE_LIMIT_PER_MINUTE = 5;\n"
		   "API_AUTH_TOKENS = [\"" LONG_TOKEN "\", \"second-token-abcdefgh\"];\n");
	assert_loads(w);
	assert_int_equal(w->cfg.env, ENV_PRODUCTION);
	assert_int_equal(w->cfg.n_tokens, 2);
	assert_string_equal(w->cfg.tokens[1], "second-token-abcdefgh");
}

static void test_unknown_setting_in_file(void **state)
{
	struct world *w = *state;
	char want[256];
	write_file(w->conf, "PORT = 9000;\nPROT = 9001;\n");
	assert_refused(w, "PROT (");
	snprintf(want, sizeof want, "PROT (%s:2): unknown setting", w->conf);
	assert_contains(sb_str(&w->rep.errors), want);
}

static void test_bad_config_file(void **state)
{
	struct world *w = *state;
	write_file(w->conf, "PORT = 9000\nHOST = ;\n");
	assert_refused(w, "config file ");
	assert_contains(sb_str(&w->rep.errors), w->conf);
	/* an explicit file that does not exist is refused, not ignored */
	snprintf(w->conf, sizeof w->conf, "%s/missing.conf", w->dir);
	assert_refused(w, "cannot be read");
}

static void test_config_file_chosen_by_environment(void **state)
{
	struct world *w = *state;
	struct config_paths p = { NULL, w->dotenv, w->env, NULL };
	write_file(w->conf, "PORT = 4321;\n");
	env_set(w, "OPENAI_FCGI_CONFIG", w->conf);
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_int_equal(w->cfg.port, 4321);
}

static void test_models_from_file(void **state)
{
	struct world *w = *state;
	write_file(w->conf,
		   "models = (\n"
		   "  { id = \"m-one\"; owned_by = \"acme\"; created = 1234; backend = \"mock\";\n"
		   "    mock = { mode = \"echo\"; delay_ms = 7; }; },\n"
		   "  { id = \"m-two\"; },\n"
		   "  { id = \"m-three\"; max_output_tokens = 77; }\n"
		   ");\n");
	assert_loads(w);
	assert_int_equal(w->cfg.n_models, 3);
	assert_int_equal(config_find_model(&w->cfg, "m-three")->max_output_tokens, 77);
	assert_int_equal(config_find_model(&w->cfg, "m-one")->max_output_tokens, MODEL_DEFAULT_MAX_OUTPUT_TOKENS);
	const struct model_cfg *m = config_find_model(&w->cfg, "m-one");
	assert_non_null(m);
	assert_string_equal(m->owned_by, "acme");
	assert_int_equal(m->created, 1234);
	assert_int_equal(m->backend, BACKEND_MOCK);
	assert_int_equal(m->mock.mode, MOCK_ECHO);
	assert_int_equal(m->mock.delay_ms, 7);
	m = config_find_model(&w->cfg, "m-two");
	assert_non_null(m);
	assert_string_equal(m->owned_by, "openai-fcgi");
	assert_int_equal(m->mock.mode, MOCK_CANNED);
	assert_null(config_find_model(&w->cfg, "blueprint-standard"));
}

static void test_default_models(void **state)
{
	struct world *w = *state;
	assert_loads(w);
	assert_int_equal(w->cfg.n_models, 4);
	static const char *const chat[] = { "blueprint-standard", "blueprint-advanced", "blueprint-experimental" };
	for (size_t i = 0; i < 3; i++) {
		const struct model_cfg *m = config_find_model(&w->cfg, chat[i]);
		assert_non_null(m);
		assert_int_equal(m->endpoints, EP_CHAT | EP_RESPONSES | EP_COMPLETIONS);
	}
	/* the embedding model answers embeddings only */
	const struct model_cfg *e = config_find_model(&w->cfg, "blueprint-embedding");
	assert_non_null(e);
	assert_int_equal(e->endpoints, EP_EMBEDDINGS);
	assert_null(config_find_model(&w->cfg, "gpt-4"));
	assert_int_equal(config_find_model(&w->cfg, "blueprint-standard")->max_output_tokens, 4096);
}

/* A model says what it answers: a kind, or a list that overrides it. */
static void test_model_endpoints(void **state)
{
	struct world *w = *state;
	write_file(w->conf,
		   "models = (\n"
		   "  { id = \"plain\"; },\n"
		   "  { id = \"emb\"; kind = \"embedding\"; },\n"
		   "  { id = \"chatty\"; kind = \"chat\"; },\n"
		   "  { id = \"legacy\"; endpoints = [\"completions\"]; },\n"
		   "  { id = \"two\"; kind = \"embedding\"; endpoints = [\"chat\", \"embeddings\"]; }\n"
		   ");\n");
	assert_loads(w);
	assert_int_equal(config_find_model(&w->cfg, "plain")->endpoints, EP_CHAT_FAMILY);
	assert_int_equal(config_find_model(&w->cfg, "emb")->endpoints, EP_EMBEDDINGS);
	assert_int_equal(config_find_model(&w->cfg, "chatty")->endpoints, EP_CHAT_FAMILY);
	assert_int_equal(config_find_model(&w->cfg, "legacy")->endpoints, EP_COMPLETIONS);
	assert_int_equal(config_find_model(&w->cfg, "two")->endpoints, EP_CHAT | EP_EMBEDDINGS);
	assert_string_equal(config_endpoint_name(EP_RESPONSES), "responses");
}

static void test_model_endpoint_errors(void **state)
{
	struct world *w = *state;
	char want[256];
	write_file(w->conf, "models = (\n  { id = \"a\"; kind = \"vision\"; }\n);\n");
	assert_refused(w, "models[0].kind (");
	snprintf(want, sizeof want, "models[0].kind (%s:2): must be \"chat\" or \"embedding\"", w->conf);
	assert_contains(sb_str(&w->rep.errors), want);
	write_file(w->conf, "models = (\n  { id = \"a\"; endpoints = [\"chat\", \"images\"]; }\n);\n");
	assert_refused(w, "unknown endpoint \"images\" (known: chat, responses, completions, embeddings)");
	write_file(w->conf, "models = (\n  { id = \"a\"; endpoints = []; }\n);\n");
	assert_refused(w, "models[0].endpoints (");
}

static void test_model_errors(void **state)
{
	struct world *w = *state;
	char want[256];
	write_file(w->conf, "models = (\n  { id = \"a\"; },\n  { id = \"a\"; }\n);\n");
	assert_refused(w, "models[1] (");
	snprintf(want, sizeof want, "models[1] (%s:3): model \"a\" is listed twice", w->conf);
	assert_contains(sb_str(&w->rep.errors), want);

	write_file(w->conf, "models = ( { id = \"a\"; backend = \"openai\"; } );\n");
	assert_refused(w, "models[0].backend (");
	assert_contains(sb_str(&w->rep.errors), "unknown backend \"openai\"");

	write_file(w->conf, "models = ( { owned_by = \"x\"; } );\n");
	assert_refused(w, "models[0] (");
	assert_contains(sb_str(&w->rep.errors), "needs a non-empty string id");

	write_file(w->conf, "models = ( { id = \"a\"; mock = { mode = \"loud\"; }; } );\n");
	assert_refused(w, "models[0].mock.mode (");

	write_file(w->conf, "models = ( { id = \"a\"; mock = { delay_ms = 70000; }; } );\n");
	assert_refused(w, "models[0].mock.delay_ms (");

	static const char *const bad_caps[] = { "0", "-1", "1048577", "9223372036854775807L" };
	for (size_t i = 0; i < sizeof bad_caps / sizeof bad_caps[0]; i++) {
		char conf[160];
		snprintf(conf, sizeof conf, "models = ( { id = \"a\"; max_output_tokens = %s; } );\n", bad_caps[i]);
		write_file(w->conf, conf);
		assert_refused(w, "models[0].max_output_tokens (");
		assert_contains(sb_str(&w->rep.errors), "must be from 1 to 1048576");
	}

	write_file(w->conf, "models = \"a\";\n");
	assert_refused(w, "models (");
}

/* A typo anywhere in the file is refused with its line and the name meant;
 * a member of the wrong kind is refused, not ignored. */
static void test_unknown_members_refused(void **state)
{
	struct world *w = *state;
	static const struct {
		const char *file;   /* the line that matters is line 2 */
		const char *want;   /* after "(<conf>:2): " */
	} cases[] = {
		{ "models = (\n { id = \"a\"; owned_bby = \"me\"; }\n);\n",
		  "unknown setting `owned_bby`; did you mean `owned_by`?" },
		{ "models = (\n { id = \"a\"; mock = { mode = \"echo\"; dellay_ms = 5; }; }\n);\n",
		  "unknown setting `dellay_ms`; did you mean `delay_ms`?" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; requests_per_minit = 3; }\n);\n",
		  "unknown setting `requests_per_minit`; did you mean `requests_per_minute`?" },
		{ "upstreams = (\n { name = \"u\"; base_url = \"http://127.0.0.1:1/v1\"; discovr = true; }\n);\n",
		  "unknown setting `discovr`; did you mean `discover`?" },
		{ "upstreams = ( { name = \"u\"; base_url = \"http://127.0.0.1:1/v1\";\n timeouts = { idle_msec = 5; }; } );\n",
		  "unknown setting `idle_msec`; did you mean `idle_ms`?" },
		{ "PORT = 9000;\nRATE_LIMIT_PER_MINUTES = 5;\n",
		  "unknown setting `RATE_LIMIT_PER_MINUTES`; did you mean `RATE_LIMIT_PER_MINUTE`?" },
		{ "PORT = 9000;\nmodel = ( { id = \"a\"; } );\n", "unknown setting `model`; did you mean `models`?" },
		{ "models = (\n { id = \"a\"; colour = \"blue\"; }\n);\n", "unknown setting `colour`" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; requests_per_minute = \"600\"; }\n);\n",
		  "must be an integer" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; tokens_per_minut = 600; }\n);\n",
		  "unknown setting `tokens_per_minut`; did you mean `tokens_per_minute`?" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; expire = \"2027-01-01\"; }\n);\n",
		  "unknown setting `expire`; did you mean `expires`?" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; model = [ \"a\" ]; }\n);\n",
		  "unknown setting `model`; did you mean `models`?" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; models = \"a\"; }\n);\n",
		  "must be a list" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; max_streams = true; }\n);\n",
		  "must be an integer" },
		{ "keys = (\n { token = \"k-abcdefghijklmnop\"; name = 7; }\n);\n",
		  "must be a string" },
		{ "models = (\n { id = \"a\"; created = \"yesterday\"; }\n);\n", "must be an integer" },
		{ "models = (\n { id = \"a\"; mock = \"echo\"; }\n);\n", "must be a group" },
		{ "upstreams = (\n { name = \"u\"; base_url = \"http://127.0.0.1:1/v1\"; discover = 1; }\n);\n",
		  "must be true or false" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char want[512];
		write_file(w->conf, cases[i].file);
		assert_refused(w, "");
		snprintf(want, sizeof want, "(%s:2): %s", w->conf, cases[i].want);
		if (!strstr(sb_str(&w->rep.errors), want))
			fail_msg("case %zu: wanted \"%s\" in:\n%s", i, want, sb_str(&w->rep.errors));
	}
	/* a name far from every known one gets no suggestion */
	write_file(w->conf, "models = (\n { id = \"a\"; zzzzzzzz = 1; }\n);\n");
	assert_refused(w, "models[0].zzzzzzzz (");
	assert_null(strstr(sb_str(&w->rep.errors), "did you mean"));
}

/* An embedding model says its vector length; 1..EMB_MAX_DIMENSIONS. */
static void test_model_dimensions(void **state)
{
	struct world *w = *state;
	write_file(w->conf, "models = ( { id = \"e\"; dimensions = 256; }, { id = \"c\"; } );\n");
	assert_loads(w);
	assert_int_equal(config_find_model(&w->cfg, "e")->dimensions, 256);
	assert_int_equal(config_find_model(&w->cfg, "c")->dimensions, 0);
	write_file(w->conf, "models = ( { id = \"e\"; dimensions = 0; } );\n");
	assert_refused(w, "models[0].dimensions (");
	write_file(w->conf, "models = ( { id = \"e\"; dimensions = 8193; } );\n");
	assert_refused(w, "must be from 1 to 8192");
}

static void test_keys_from_file(void **state)
{
	struct world *w = *state;
	write_file(w->conf, "keys = (\n  { token = \"file-key-abcdefghijkl\"; requests_per_minute = 3; },\n"
		   "  { token = \"" SHA_OF_ABC "\"; }\n);\n");
	env_set(w, "API_AUTH_TOKENS", "env-key-abcdefghijklm");
	assert_loads(w);
	assert_int_equal(w->cfg.n_keys, 2);
	assert_int_equal(w->cfg.keys[0].requests_per_minute, 3);
	assert_int_equal(w->cfg.keys[1].requests_per_minute, 0);
	/* API_AUTH_TOKENS first, then the keys, in order */
	assert_int_equal(w->cfg.n_tokens, 3);
	assert_string_equal(w->cfg.tokens[0], "env-key-abcdefghijklm");
	assert_string_equal(w->cfg.tokens[1], "file-key-abcdefghijkl");
	assert_string_equal(w->cfg.tokens[2], SHA_OF_ABC);
}

/* The per-key policy members, read into key_cfg; every bad value refused
 * with its member, file and line. */
static void test_key_policy_members(void **state)
{
	struct world *w = *state;
	write_file(w->conf, "keys = (\n  { token = \"file-key-abcdefghijkl\"; name = \"team-blue\";\n"
		   "    models = [ \"a\", \"b\" ]; not_before = \"2027-01-01\"; expires = \"2027-07-01T12:00:00+02:00\";\n"
		   "    tokens_per_minute = 1000; max_streams = 2; },\n"
		   "  { token = \"" SHA_OF_ABC "\"; }\n);\n");
	assert_loads(w);
	const struct key_cfg *k = &w->cfg.keys[0];
	assert_string_equal(k->name, "team-blue");
	assert_int_equal(k->n_models, 2);
	assert_string_equal(k->models[1], "b");
	assert_int_equal(k->not_before, 1798761600);
	assert_int_equal(k->expires, 1814436000);
	assert_int_equal(k->tokens_per_minute, 1000);
	assert_int_equal(k->max_streams, 2);
	assert_int_equal(k->requests_per_minute, 0);
	/* neither "a" nor "b" is a configured model: said at start */
	assert_contains(sb_str(&w->rep.warnings), "keys[0].models (config file keys): no model \"b\" is configured");
	strbuf desc = STRBUF_INIT;
	config_describe(&w->cfg, &desc);
	assert_contains(sb_str(&desc), "key 0: name team-blue, 1000 tokens/min, 2 streams, from "
			"2027-01-01T00:00:00Z, until 2027-07-01T10:00:00Z, models a,b\n");
	assert_contains(sb_str(&desc), "key 1: name -\n");
	sb_free(&desc);
	k = &w->cfg.keys[1];
	assert_null(k->name);
	assert_int_equal(k->n_models, 0);
	assert_true(k->not_before == KP_NO_NOT_BEFORE && k->expires == KP_NO_EXPIRY);
	assert_int_equal(k->tokens_per_minute + k->max_streams, 0);

	static const struct { const char *member, *where, *want; } bad[] = {
		{ "tokens_per_minute = 0;", "keys[0].tokens_per_minute", "must be from 1 to 1000000" },
		{ "tokens_per_minute = 1000001;", "keys[0].tokens_per_minute", "must be from 1 to 1000000" },
		{ "max_streams = 0;", "keys[0].max_streams", "must be from 1 to 10000" },
		{ "expires = \"2027-02-30\";", "keys[0].expires", "\"2027-02-30\" is not an ISO 8601 time" },
		{ "not_before = \"2027-01-01T10:00\";", "keys[0].not_before", "\"2027-01-01T10:00\" is not an ISO 8601" },
		{ "not_before = \"2027-01-02\"; expires = \"2027-01-01\";", "keys[0].expires", "must be after its not_before" },
		{ "models = [ ];", "keys[0].models", "an empty list would allow no model" },
		{ "models = [ \"a\", \"\" ];", "keys[0].models[1]", "must be a non-empty string" },
		{ "models = [ \"a\", \"a\" ];", "keys[0].models", "\"a\" is listed twice" },
		{ "name = \"team blue\";", "keys[0].name", "must be 1 to 512 characters of [A-Za-z0-9_.-]" },
		{ "name = \"\";", "keys[0].name", "must be 1 to 512 characters" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char file[256], want[512];
		snprintf(file, sizeof file, "keys = (\n  { token = \"file-key-abcdefghijkl\"; %s }\n);\n", bad[i].member);
		write_file(w->conf, file);
		assert_refused(w, "");
		snprintf(want, sizeof want, "%s (%s:2): %s", bad[i].where, w->conf, bad[i].want);
		if (!strstr(sb_str(&w->rep.errors), want))
			fail_msg("case %zu: wanted \"%s\" in:\n%s", i, want, sb_str(&w->rep.errors));
	}
}

/* A key in API_AUTH_TOKENS and in keys: the keys entry wins (its own limit),
 * one warning names its fingerprint and never the key, and the key is in
 * the token list once, among the keys, so auth finds it there. A "sha256:"
 * entry and its plain token are the same key. The same key twice in keys
 * is refused. */
static void test_key_listed_twice(void **state)
{
	struct world *w = *state;
	char fp[AUTH_FP_LEN + 1];
	auth_fingerprint("file-key-abcdefghijkl", strlen("file-key-abcdefghijkl"), fp);

	write_file(w->conf, "keys = (\n  { token = \"file-key-abcdefghijkl\"; requests_per_minute = 3; },\n"
		   "  { token = \"" SHA_OF_ABC "\"; requests_per_minute = 5; }\n);\n");
	env_set(w, "API_AUTH_TOKENS", "env-key-abcdefghijklm,file-key-abcdefghijkl,other-key-abcdefghij,"
		"file-key-abcdefghijkl,abc");
	assert_loads(w);
	assert_int_equal(w->cfg.n_tokens, 4);
	assert_string_equal(w->cfg.tokens[0], "env-key-abcdefghijklm");
	assert_string_equal(w->cfg.tokens[1], "other-key-abcdefghij");
	assert_string_equal(w->cfg.tokens[2], "file-key-abcdefghijkl");
	assert_string_equal(w->cfg.tokens[3], SHA_OF_ABC);
	const char *warn = sb_str(&w->rep.warnings);
	char want[200];
	snprintf(want, sizeof want, "key %s is also in the config file's keys[0]; that entry applies "
		 "(3 requests per minute)", fp);
	assert_contains(warn, want);
	assert_null(strstr(strstr(warn, want) + 1, want));  /* once, though listed twice */
	assert_contains(warn, "is also in the config file's keys[1]; that entry applies (5 requests");
	assert_null(strstr(warn, "file-key-abcdefghijkl"));

	/* auth now finds the keys entry, whose limit is the key's own */
	struct auth_keyring kr;
	char err[200];
	size_t idx = 99;
	oa_error e = { 0 };
	assert_int_equal(auth_keyring_init(&kr, w->cfg.tokens, w->cfg.n_tokens, err, sizeof err), 0);
	assert_int_equal(auth_check(&kr, "Bearer file-key-abcdefghijkl", false, &idx, &e), 0);
	assert_int_equal(idx, w->cfg.n_tokens - w->cfg.n_keys);
	assert_int_equal(auth_check(&kr, "Bearer abc", false, &idx, &e), 0);
	assert_int_equal(idx, w->cfg.n_tokens - w->cfg.n_keys + 1);
	auth_keyring_free(&kr);

	write_file(w->conf, "keys = (\n  { token = \"file-key-abcdefghijkl\"; requests_per_minute = 3; },\n"
		   "  { token = \"file-key-abcdefghijkl\"; requests_per_minute = 4; }\n);\n");
	assert_refused(w, "keys[0] and keys[1] (config file keys): the same key");
	assert_contains(sb_str(&w->rep.errors), fp);
}

static void test_keys_alone_satisfy_production(void **state)
{
	struct world *w = *state;
	production(w, "production");
	env_set(w, "API_AUTH_TOKENS", NULL);
	write_file(w->conf, "keys = ( { token = \"file-key-abcdefghijkl\"; } );\n");
	assert_loads(w);
	assert_int_equal(w->cfg.n_tokens, 1);
	write_file(w->conf, "keys = ( { token = \"short\"; } );\n");
	assert_refused(w, "API_AUTH_TOKENS (config file keys): token 1 is 5 characters");
}

static void test_key_errors(void **state)
{
	struct world *w = *state;
	char want[256];
	write_file(w->conf, "keys = (\n  { token = \"k-abcdefghijklmnop\"; requests_per_minute = 0; }\n);\n");
	assert_refused(w, "keys[0].requests_per_minute (");
	snprintf(want, sizeof want, "keys[0].requests_per_minute (%s:2): must be from 1 to 1000000", w->conf);
	assert_contains(sb_str(&w->rep.errors), want);
	write_file(w->conf, "keys = ( { token = \"k-abcdefghijklmnop\"; requests_per_minute = 2000000; } );\n");
	assert_refused(w, "keys[0].requests_per_minute (");
	write_file(w->conf, "keys = ( { requests_per_minute = 5; } );\n");
	assert_refused(w, "keys[0] (");
	assert_contains(sb_str(&w->rep.errors), "needs a non-empty string token");
}

/* tokens_per_day and tokens_per_month: 1 to 10^12 each, either or both, integers only. */
static void test_key_budgets(void **state)
{
	struct world *w = *state;
	char want[256];
	write_file(w->conf, "keys = (\n  { token = \"k-abcdefghijklmnop\"; tokens_per_day = 1000; },\n"
		   "  { token = \"k-bcdefghijklmnopq\"; tokens_per_month = 1000000000000L; tokens_per_day = 1; },\n"
		   "  { token = \"k-cdefghijklmnopqr\"; }\n);\n");
	assert_loads(w);
	assert_int_equal(w->cfg.keys[0].tokens_per_day, 1000);
	assert_int_equal(w->cfg.keys[0].tokens_per_month, 0);
	assert_int_equal(w->cfg.keys[1].tokens_per_month, 1000000000000LL);
	assert_int_equal(w->cfg.keys[1].tokens_per_day, 1);
	assert_int_equal(w->cfg.keys[2].tokens_per_day + w->cfg.keys[2].tokens_per_month, 0);
	static const char *const bad[] = {
		"tokens_per_day = 0;", "tokens_per_day = -5;", "tokens_per_month = 1000000000001L;",
		"tokens_per_month = 0;", "tokens_per_month = -3000000000L;",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char file[256];
		snprintf(file, sizeof file, "keys = (\n  { token = \"k-abcdefghijklmnop\"; %s }\n);\n", bad[i]);
		write_file(w->conf, file);
		assert_refused(w, "keys[0].tokens_per_");
		snprintf(want, sizeof want, "(%s:2): must be from 1 to 1000000000000", w->conf);
		assert_contains(sb_str(&w->rep.errors), want);
	}
	/* libconfig wraps a literal past 32 bits without its L: refused, never a wrong budget */
	static const char *const wrapped[] = { "5000000000", "2147483648", "4294967296", "1000000000000",
					       "0x100000000" };
	for (size_t i = 0; i < sizeof wrapped / sizeof wrapped[0]; i++) {
		char file[256];
		snprintf(file, sizeof file, "keys = (\n  { token = \"k-abcdefghijklmnop\"; tokens_per_month = %s; }\n);\n",
			 wrapped[i]);
		write_file(w->conf, file);
		assert_refused(w, "keys[0].tokens_per_month (");
		snprintf(want, sizeof want, "does not fit libconfig's 32-bit integers; write it with an L: %lldL",
			 strtoll(wrapped[i], NULL, 0));
		assert_contains(sb_str(&w->rep.errors), want);
	}
	write_file(w->conf, "keys = (\n  { token = \"k-abcdefghijklmnop\"; tokens_per_day = 2147483647; }\n);\n");
	assert_loads(w);
	assert_int_equal(w->cfg.keys[0].tokens_per_day, 2147483647);
	write_file(w->conf, "keys = (\n  { token = \"k-abcdefghijklmnop\"; tokens_per_day = \"1000\"; }\n);\n");
	assert_refused(w, "must be an integer");
	write_file(w->conf, "keys = (\n  { token = \"k-abcdefghijklmnop\"; tokens_per_dya = 5; }\n);\n");
	assert_refused(w, "did you mean `tokens_per_day`?");
}

static void test_sha256_tokens(void **state)
{
	struct world *w = *state;
	production(w, "production");
	/* a digest is 71 characters of its own: the 16-character rule is for
	 * the token it stands for, which the config never sees */
	env_set(w, "API_AUTH_TOKENS", SHA_OF_ABC);
	assert_loads(w);
	assert_string_equal(w->cfg.tokens[0], SHA_OF_ABC);
	env_set(w, "API_AUTH_TOKENS", "sha256:abcd");
	assert_refused(w, "API_AUTH_TOKENS (environment): ");
	assert_null(strstr(sb_str(&w->rep.errors), "sha256:abcd"));
	env_set(w, "API_AUTH_TOKENS", "sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_refused(w, "API_AUTH_TOKENS (environment): ");
}

static void test_token_charset(void **state)
{
	struct world *w = *state;
	production(w, "production");
	env_set(w, "API_AUTH_TOKENS", "has space inside 1234567890");
	assert_refused(w, "token 1 has characters outside [A-Za-z0-9_.-]");
}

static void test_mock_stream_delay_overrides(void **state)
{
	struct world *w = *state;
	write_file(w->conf, "models = ( { id = \"a\"; mock = { delay_ms = 250; }; }, { id = \"b\"; } );\n");
	env_set(w, "MOCK_STREAM_DELAY_MS", "0");
	assert_loads(w);
	assert_int_equal(w->cfg.mock_stream_delay_ms, 0);
	assert_int_equal(config_find_model(&w->cfg, "a")->mock.delay_ms, 0);
	assert_int_equal(config_find_model(&w->cfg, "b")->mock.delay_ms, 0);
	env_set(w, "MOCK_STREAM_DELAY_MS", NULL);
	assert_loads(w);
	assert_int_equal(w->cfg.mock_stream_delay_ms, -1);
	assert_int_equal(config_find_model(&w->cfg, "a")->mock.delay_ms, 250);
	assert_int_equal(config_find_model(&w->cfg, "b")->mock.delay_ms, 100);
	env_set(w, "MOCK_STREAM_DELAY_MS", "60001");
	assert_refused(w, "MOCK_STREAM_DELAY_MS (environment): must be from 0 to 60000");
}

static void test_cors_and_limits(void **state)
{
	struct world *w = *state;
	env_set(w, "CORS_ORIGINS", " https://a.example , ,http://b.example:3000 ");
	env_set(w, "MAX_BODY_BYTES", "4096");
	assert_loads(w);
	assert_int_equal(w->cfg.n_cors_origins, 2);
	assert_string_equal(w->cfg.cors_origins[0], "https://a.example");
	assert_string_equal(w->cfg.cors_origins[1], "http://b.example:3000");
	assert_int_equal(w->cfg.max_body_bytes, 4096);
	env_set(w, "CORS_ORIGINS", "");
	env_set(w, "MAX_BODY_BYTES", "10");
	assert_refused(w, "MAX_BODY_BYTES (environment): must be from 1024");
}

static void test_rate_limit_file_default(void **state)
{
	struct world *w = *state;
	char want[160];
	assert_loads(w);
	snprintf(want, sizeof want, "%s/ratelimit", w->state);
	assert_string_equal(w->cfg.rate_limit_file, want);
	env_set(w, "RATE_LIMIT_FILE", "/somewhere/rl");
	assert_loads(w);
	assert_string_equal(w->cfg.rate_limit_file, "/somewhere/rl");
}

/* A relocatable build (the static file uploaded to cgi-bin) keeps its
 * state in home/openai-fcgi-state and reads home/openai-fcgi.conf, else
 * openai-fcgi.conf beside the binary; home is outside the web root
 * (common/relocate.h). OPENAI_FCGI_CONFIG and STATE_DIR still win. */
static void test_relocatable_defaults(void **state)
{
	struct world *w = *state;
	char home[96], docroot[128], cgibin[160], exe[192], beside[192], in_home[192], elsewhere[192], want[192];
	snprintf(home, sizeof home, "%s/home", w->dir);
	snprintf(docroot, sizeof docroot, "%s/public_html", home);
	snprintf(cgibin, sizeof cgibin, "%s/cgi-bin", docroot);
	snprintf(exe, sizeof exe, "%s/openai-fcgi", cgibin);
	snprintf(beside, sizeof beside, "%s/openai-fcgi.conf", cgibin);
	snprintf(in_home, sizeof in_home, "%s/openai-fcgi.conf", home);
	snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere.conf", w->dir);
	assert_int_equal(mkdir(home, 0755), 0);
	assert_int_equal(mkdir(docroot, 0755), 0);
	assert_int_equal(mkdir(cgibin, 0755), 0);
	env_set(w, "STATE_DIR", NULL);
	env_set(w, "DOCUMENT_ROOT", docroot);
	struct config_paths p = { NULL, w->dotenv, w->env, exe };
	config_free(&w->cfg);

	/* no config file anywhere: defaults, state beside the web root */
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	snprintf(want, sizeof want, "%s/openai-fcgi-state", home);
	assert_string_equal(w->cfg.state_dir, want);
	struct stat st;
	assert_int_equal(stat(want, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(w->cfg.port, 8000);
	config_free(&w->cfg);
	config_report_free(&w->rep);

	/* the same home without DOCUMENT_ROOT (FastCGI) when cgi-bin is beside the web root */
	env_set(w, "DOCUMENT_ROOT", NULL);
	char outside[192];
	snprintf(outside, sizeof outside, "%s/cgi-bin/openai-fcgi", home);
	p.program_path = outside;
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_string_equal(w->cfg.state_dir, want);
	config_free(&w->cfg);
	config_report_free(&w->rep);
	p.program_path = exe;
	env_set(w, "DOCUMENT_ROOT", docroot);

	/* a web root named through a link: compared by where it leads */
	char link[160];
	snprintf(link, sizeof link, "%s/www-link", w->dir);
	assert_int_equal(symlink(docroot, link), 0);
	env_set(w, "DOCUMENT_ROOT", link);
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_string_equal(w->cfg.state_dir, want);
	config_free(&w->cfg);
	config_report_free(&w->rep);
	env_set(w, "DOCUMENT_ROOT", docroot);

	/* a config file beside the binary */
	write_file(beside, "PORT = 1111;\n");
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_int_equal(w->cfg.port, 1111);
	config_free(&w->cfg);
	config_report_free(&w->rep);

	/* one in home, outside the web root, comes first */
	write_file(in_home, "PORT = 2222;\n");
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_int_equal(w->cfg.port, 2222);
	config_free(&w->cfg);
	config_report_free(&w->rep);

	/* OPENAI_FCGI_CONFIG (an .htaccess SetEnv) and STATE_DIR win */
	write_file(elsewhere, "PORT = 3333;\n");
	env_set(w, "OPENAI_FCGI_CONFIG", elsewhere);
	env_set(w, "STATE_DIR", w->state);
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_int_equal(w->cfg.port, 3333);
	assert_string_equal(w->cfg.state_dir, w->state);
	config_free(&w->cfg);
	config_report_free(&w->rep);

	/* production needs no pyproject.toml beside the one file: the compiled-in name and version */
	production(w, "production");
	env_set(w, "PYPROJECT_PATH", NULL);
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_string_equal(w->cfg.project_name, PACKAGE_NAME);
	assert_string_equal(w->cfg.project_version, PACKAGE_VERSION);
	assert_int_equal(w->rep.warnings.len, 0);
	config_free(&w->cfg);
	config_report_free(&w->rep);
	env_set(w, "PYPROJECT_PATH", w->pyproject);

	/* not relocatable (no program_path): neither file beside it is read */
	env_set(w, "OPENAI_FCGI_CONFIG", NULL);
	p.program_path = NULL;
	assert_int_equal(config_load(&p, &w->cfg, &w->rep), 0);
	assert_int_not_equal(w->cfg.port, 1111);
	assert_int_not_equal(w->cfg.port, 2222);
}

static void test_describe_masks_tokens(void **state)
{
	struct world *w = *state;
	strbuf sb = STRBUF_INIT;
	production(w, "production");
	env_set(w, "API_AUTH_TOKENS", LONG_TOKEN "," SHA_OF_ABC);
	assert_loads(w);
	config_describe(&w->cfg, &sb);
	const char *d = sb_str(&sb);
	assert_null(strstr(d, LONG_TOKEN));
	assert_null(strstr(d, SHA_OF_ABC));
	assert_contains(d, "API_AUTH_TOKENS=prod…(27 chars),sha256:ba7816bf…\n");
	assert_contains(d, "ENVIRONMENT=production\n");
	assert_contains(d, "PORT=8000\n");
	assert_contains(d, "LOG_LEVEL=INFO\n");
	assert_contains(d, "project: openai-fcgi 9.8.7");
	assert_contains(d, "model blueprint-standard: backend mock");
	sb_free(&sb);

	/* short (development) tokens show nothing of themselves */
	env_set(w, "ENVIRONMENT", "development");
	env_set(w, "API_AUTH_TOKENS", "tiny-secret");
	assert_loads(w);
	config_describe(&w->cfg, &sb);
	assert_null(strstr(sb_str(&sb), "tiny"));
	assert_contains(sb_str(&sb), "API_AUTH_TOKENS=****(11 chars)\n");
	sb_free(&sb);
}

static void test_env_names(void **state)
{
	(void)state;
	assert_string_equal(config_env_name(ENV_DEVELOPMENT), "development");
	assert_string_equal(config_env_name(ENV_TEST), "test");
	assert_string_equal(config_env_name(ENV_STAGING), "staging");
	assert_string_equal(config_env_name(ENV_PRODUCTION), "production");
}

/* Every row of every member table is enforced as the table says: each
 * integer just past either bound, each choice off its list, each member
 * of the wrong kind, is refused naming the member; each bound itself and
 * each choice loads. The rows are walked, so a member added to a table is
 * tested here without a line more. */
static void test_member_tables_enforced(void **state)
{
	struct world *w = *state;
	static const struct {
		const char *group;      /* cfg_member_tables' name */
		const char *what;       /* the prefix its errors have */
		const char *before, *after;  /* the file around the member's line */
	} at[] = {
		{ "models[]", "models[0]", "models = ( { id = \"a\"; ", " } );\n" },
		{ "models[].mock", "models[0].mock", "models = ( { id = \"a\"; mock = { ", " }; } );\n" },
		{ "keys[]", "keys[0]", "keys = ( { token = \"k-abcdefghijklmnop\"; ", " } );\n" },
		{ "upstreams[]", "upstreams[0]", "upstreams = ( { name = \"u\"; base_url = \"http://h/v1\"; ", " } );\n" },
		{ "upstreams[].timeouts", "upstreams[0].timeouts",
		  "upstreams = ( { name = \"u\"; base_url = \"http://h/v1\"; timeouts = { ", " }; } );\n" },
		{ "models[].deployments[]", "models[0].deployments[0]",
		  "upstreams = ( { name = \"a\"; base_url = \"http://a/v1\"; } );\n"
		  "models = ( { id = \"x\"; backend = \"upstream\"; deployments = ( { upstream = \"a\"; ", " } ); } );\n" },
	};
	size_t tried = 0;
	for (const struct member_table *t = cfg_member_tables; t->members; t++) {
		size_t g = 0;
		while (g < sizeof at / sizeof at[0] && strcmp(at[g].group, t->group) != 0)
			g++;
		if (g == sizeof at / sizeof at[0])
			continue;  /* upstreams[]' name: the list's own, judged before its members */
		for (const struct member *m = t->members; m->name; m++) {
			char line[160], file[640], want[200];
			snprintf(want, sizeof want, " %s = ", m->name);
			if (strstr(at[g].before, want))
				continue;  /* what the template itself sets (id, token, base_url...) */
			if (m->kind == MK_INT || m->kind == MK_CHOICE) {
				for (int side = 0; side < 4; side++) {
					bool ok = side >= 2;
					if (m->kind == MK_INT) {
						if ((side == 0 && m->min == INT64_MIN) || (side == 1 && m->max == INT64_MAX))
							continue;
						long long v = side == 0 ? m->min - 1 : side == 1 ? m->max + 1 : side == 2 ? m->min : m->max;
						snprintf(line, sizeof line, "%s = %lldL;", m->name, v);
					} else {
						size_t l = strcspn(m->choices, "|");
						snprintf(line, sizeof line, "%s = \"%.*s\";", m->name,
							 ok ? (int)l : 5, ok ? m->choices : "bogus");
						if (side == 3)
							snprintf(line, sizeof line, "%s = \"%s\";", m->name,
								 strrchr(m->choices, '|') + 1);
					}
					snprintf(file, sizeof file, "%s%s%s", at[g].before, line, at[g].after);
					write_file(w->conf, file);
					tried++;
					if (ok) {
						if (strcmp(m->name, "backend") == 0 && side == 3)
							continue;  /* upstream: needs an upstream, tested apart */
						if (load(w) != 0)
							fail_msg("%s (%s) refused:\n%s", line, t->group, sb_str(&w->rep.errors));
						continue;
					}
					snprintf(want, sizeof want, "%s.%s (", at[g].what, m->name);
					assert_refused(w, want);
					assert_contains(sb_str(&w->rep.errors), m->kind == MK_INT ? "must be from" : "must be \"");
				}
			}
			if (m->kind == MK_GROUP || m->kind == MK_LIST)
				snprintf(line, sizeof line, "%s = 5;", m->name);
			else
				snprintf(line, sizeof line, "%s = { };", m->name);
			snprintf(file, sizeof file, "%s%s%s", at[g].before, line, at[g].after);
			write_file(w->conf, file);
			snprintf(want, sizeof want, "%s.%s (", at[g].what, m->name);
			assert_refused(w, want);
			assert_contains(strstr(sb_str(&w->rep.errors), want), "must be ");
			tried++;
		}
	}
	assert_true(tried > 60);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_strict_valid_loads),
		T(test_strict_missing_required),
		T(test_strict_invalid_port),
		T(test_strict_invalid_log_level),
		T(test_strict_invalid_rate_limit),
		T(test_strict_no_token),
		T(test_strict_short_token),
		T(test_strict_pyproject),
		T(test_strict_every_problem_reported),
		T(test_development_defaults_and_dev_token),
		T(test_development_damaged_dev_token_replaced),
		T(test_test_env_uses_test_key),
		T(test_short_tokens_only_warn_outside_strict),
		T(test_unknown_environment_falls_back),
		T(test_development_refuses_invalid_values),
		T(test_development_pyproject_only_warns),
		T(test_precedence),
		T(test_origin_named_in_refusals),
		T(test_config_file_environment_setting),
		T(test_unknown_setting_in_file),
		T(test_bad_config_file),
		T(test_config_file_chosen_by_environment),
		T(test_models_from_file),
		T(test_default_models),
		T(test_model_endpoints),
		T(test_model_endpoint_errors),
		T(test_model_errors),
		T(test_unknown_members_refused),
		T(test_member_tables_enforced),
		T(test_model_dimensions),
		T(test_key_policy_members),
		T(test_keys_from_file),
		T(test_key_listed_twice),
		T(test_keys_alone_satisfy_production),
		T(test_key_errors),
		T(test_key_budgets),
		T(test_sha256_tokens),
		T(test_token_charset),
		T(test_mock_stream_delay_overrides),
		T(test_cors_and_limits),
		T(test_rate_limit_file_default),
		T(test_relocatable_defaults),
		T(test_describe_masks_tokens),
		T(test_env_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
