/* fuzz_config.c: libFuzzer harness: a libconfig file through config_load(), as at start-up */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* memmem */
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "strbuf.h"

static char dir[64], conf[128], state_env[160], py_env[160];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	strcpy(dir, "/dev/shm/fuzz_config.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(conf, sizeof conf, "%s/fuzz.conf", dir);
	snprintf(state_env, sizeof state_env, "STATE_DIR=%s/state", dir);
	snprintf(py_env, sizeof py_env, "PYPROJECT_PATH=%s/pyproject.toml", dir);
	char py[128];
	snprintf(py, sizeof py, "%s/pyproject.toml", dir);
	FILE *f = fopen(py, "w");
	if (!f)
		abort();
	fputs("[project]\nname = \"openai-fcgi\"\nversion = \"1.2.3\"\n", f);
	fclose(f);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* @include reads any file the fuzzer names (a FIFO would block): the
	 * config file is the operator's, not an attacker's, so that is left out. */
	if (memmem(data, size, "@include", 8) || memmem(data, size, "@INCLUDE", 8))
		return 0;
	FILE *f = fopen(conf, "w");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);

	/* The environment pins where state goes (it wins over the file), so
	 * that no input makes the loader create directories elsewhere. Odd
	 * sizes load as production, where the strict rules apply. */
	char *env[8];
	size_t n = 0;
	env[n++] = state_env;
	env[n++] = py_env;
	if (size % 2) {
		env[n++] = (char *)"ENVIRONMENT=production";
		env[n++] = (char *)"API_AUTH_TOKENS=fuzz-production-key-0123456789";
	} else {
		env[n++] = (char *)"ENVIRONMENT=development";
	}
	env[n] = NULL;
	char dotenv[160];
	snprintf(dotenv, sizeof dotenv, "%s/no.env", dir);
	struct config_paths paths = { conf, dotenv, env, NULL };
	struct config cfg;
	struct config_report rep;
	memset(&cfg, 0, sizeof cfg);
	if (config_load(&paths, &cfg, &rep) == 0) {
		strbuf sb = STRBUF_INIT;
		config_describe(&cfg, &sb);
		for (size_t i = 0; i < cfg.n_models; i++)
			if (config_find_model(&cfg, cfg.models[i].id) == NULL)
				abort();
		sb_free(&sb);
		config_free(&cfg);
	} else if (rep.errors.len == 0) {
		abort();  /* a refusal must say why */
	}
	config_report_free(&rep);
	return 0;
}
