/* fuzz_routes.c: libFuzzer harness: the router and its handlers driven through a memory request */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "request.h"
#include "routes.h"
#include "strbuf.h"
#include "usage.h"

/*
 * An input is a request: CGI variables, one "NAME=value" per line, then an
 * empty line, then the body. For example
 *   REQUEST_METHOD=POST
 *   REQUEST_URI=/v1/chat/completions
 *   HTTP_AUTHORIZATION=Bearer fuzz-key-0123456789abcdef
 *   CONTENT_TYPE=application/json
 *   CONTENT_LENGTH=12
 *
 *   {"model":1}
 * The variables are the fuzzer's to choose, CONTENT_LENGTH too, so that it
 * may disagree with the body.
 */

#define KEY      "fuzz-key-0123456789abcdef"  /* RATE_LIMIT_PER_MINUTE applies */
#define LIMITED  "fuzz-limited-0123456789ab"  /* keys[]: 2 requests a minute: 429s */
#define MAX_VARS 32
/* A client that reads this much and leaves: the mock's output is not yet
 * bounded (issue 12), and a run must stay fast whatever it asks for. */
#define OUTPUT_CAP (512 * 1024)

struct fake {
	char *env[MAX_VARS + 1];   /* "NAME=value" lines, as libfcgi's envp; NULL-terminated */
	size_t n_vars;
	const char *body;
	size_t body_len, body_pos;
	size_t written;
};

static char dir[64];
static struct app app;

/* The variables as the FastCGI and CGI carriers give them: request_begin's
 * one walk (request.c read_vars) takes them apart, any line included. */
static char **fake_vars(void *ctx)
{
	return ((struct fake *)ctx)->env;
}

static long fake_read(void *ctx, char *buf, size_t n)
{
	struct fake *f = ctx;
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
	(void)p;
	f->written += n;
	return f->written > OUTPUT_CAP ? -1 : 0;
}

static int fake_flush(void *ctx)
{
	struct fake *f = ctx;
	return f->written > OUTPUT_CAP ? -1 : 0;
}

static void cleanup(void)
{
	char cmd[128];
	lim_close(app.limits);
	um_close(app.usage);
	auth_keyring_free(&app.keys);
	config_free(&app.cfg);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A production app, as test_routes.c builds it: one key with the global
 * limit, one with its own tiny limit, the mock at full speed. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char conf[128], py[128], dotenv[128], state[160], py_env[160], err[256];
	strcpy(dir, "/tmp/fuzz_routes.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(conf, sizeof conf, "%s/fuzz.conf", dir);
	snprintf(py, sizeof py, "%s/pyproject.toml", dir);
	snprintf(dotenv, sizeof dotenv, "%s/no.env", dir);
	snprintf(state, sizeof state, "STATE_DIR=%s/state", dir);
	snprintf(py_env, sizeof py_env, "PYPROJECT_PATH=%s", py);
	FILE *f = fopen(conf, "w");
	if (!f)
		abort();
	fputs("keys = ( { token = \"" LIMITED "\"; requests_per_minute = 2; } );\n", f);
	fclose(f);
	f = fopen(py, "w");
	if (!f)
		abort();
	fputs("[project]\nname = \"openai-fcgi\"\nversion = \"1.2.3\"\n", f);
	fclose(f);
	char *env[] = {
		(char *)"ENVIRONMENT=production", (char *)"HOST=127.0.0.1", (char *)"PORT=8000",
		(char *)"LOG_LEVEL=ERROR", (char *)"RATE_LIMIT_PER_MINUTE=1000000",
		(char *)"API_AUTH_TOKENS=" KEY, (char *)"MOCK_STREAM_DELAY_MS=0",
		(char *)"CORS_ORIGINS=https://a.example", state, py_env, NULL,
	};
	struct config_paths paths = { conf, dotenv, env, NULL };
	struct config_report rep;
	if (config_load(&paths, &app.cfg, &rep) != 0) {
		fprintf(stderr, "fuzz_routes: config refused:\n%s", sb_str(&rep.errors));
		abort();
	}
	config_report_free(&rep);
	/* the usage file too, as main.c opens it: without it GET /metrics from
	 * loopback is a 503 (the counters cannot be read), which this harness
	 * would take for a fault */
	if (auth_keyring_init(&app.keys, app.cfg.tokens, app.cfg.n_tokens, err, sizeof err) != 0 ||
	    lim_open_config(&app.cfg, &app.limits, err, sizeof err) != 0 ||
	    um_open(app.cfg.usage_file, &app.usage, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_routes: %s\n", err);
		abort();
	}
	/* Only errors: an access-log line per input would drown the fuzzer's output. */
	log_setup(LOG_ERROR, false);
	atexit(cleanup);
	return 0;
}

/* Splits the input into variables and body; the strings are copies. */
static char *parse_input(const uint8_t *data, size_t size, struct fake *f)
{
	char *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *p = copy, *end = copy + size;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line_end = nl ? nl : end;
		if (line_end == p) {   /* the empty line: the body follows */
			p++;
			break;
		}
		*line_end = '\0';
		if (f->n_vars < MAX_VARS)
			f->env[f->n_vars++] = p;
		p = line_end + (nl != NULL);
	}
	f->body = p < end ? p : end;
	f->body_len = (size_t)(end - f->body);
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct request req;   /* a worker thread's, reused as in fcgi/main.c */
	struct fake f;
	memset(&f, 0, sizeof f);
	char *copy = parse_input(data, size, &f);
	struct req_io io = { &f, NULL, fake_read, { &f, fake_write, fake_flush }, NULL, fake_vars, NULL };
	request_begin(&req, &app, &io);
	route_dispatch(&req);
	request_end(&req);
	/* Every answer has a status, and never a 5xx of our making. */
	if (req.status < 200 || (req.status >= 500 && !req.client_gone))
		abort();
	free(copy);
	return 0;
}
