/* config.h: the effective settings, from defaults < config file < .env < environment */
#ifndef OAF_CONFIG_H
#define OAF_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "strbuf.h"

enum environment { ENV_DEVELOPMENT, ENV_TEST, ENV_STAGING, ENV_PRODUCTION };

enum backend_kind { BACKEND_MOCK, BACKEND_UPSTREAM };
enum mock_mode { MOCK_CANNED, MOCK_ECHO };

/* A server speaking OpenAI's API that models may forward to: from the
 * config file's upstreams list, a model's own base_url, or UPSTREAM_*. */
struct upstream_cfg {
	char *name;                /* "env" for UPSTREAM_*, the model id for a private one */
	char *base_url;            /* http(s)://host[:port]/path, no trailing slash */
	char *api_key_env;         /* the variable named for the key, or NULL */
	char *api_key;             /* the key itself, read at start; NULL: none sent */
	long connect_ms;           /* TCP (and TLS) connect */
	long first_byte_ms;        /* from the request to the first answer byte */
	long idle_ms;              /* between two events of a stream (or reads of a whole answer) */
	long total_ms;             /* the whole exchange: never unbounded (UPSTREAM_TOTAL_TIMEOUT_S) */
	long max_event_bytes;      /* a stream's longest line or event (UPSTREAM_MAX_EVENT_BYTES) */
	long max_body_bytes;       /* the largest whole answer (UPSTREAM_MAX_BODY_BYTES) */
	char **headers;            /* "Name: value", sent with every request */
	size_t n_headers;
	bool discover;             /* GET /v1/models also lists its /models */
	long discover_ttl_s;       /* how long that list is reused */
};

/* A model clients may name; from the config file's models list. */
struct model_cfg {
	char *id;
	char *owned_by;
	long created;
	enum backend_kind backend;
	struct {
		enum mock_mode mode;
		long delay_ms;     /* between streamed words; MOCK_STREAM_DELAY_MS overrides */
	} mock;
	struct {
		const struct upstream_cfg *up;  /* borrowed from config.upstreams */
		char *model;       /* the upstream's name for it (often the same id) */
	} upstream;
};

/* A key from the config file's keys list: a token (plain or
 * "sha256:<64 hex>") with its own name, models, validity and limits. */
struct key_cfg {
	char *token;
	char *name;                /* shown in logs instead of the fingerprint; NULL: none */
	char **models;             /* the model ids it may use; n_models 0: every model */
	size_t n_models;
	int64_t not_before;        /* Unix seconds; KP_NO_NOT_BEFORE: none */
	int64_t expires;           /* Unix seconds; KP_NO_EXPIRY: none */
	long requests_per_minute;  /* 0: RATE_LIMIT_PER_MINUTE applies */
	long tokens_per_minute;    /* 0: RATE_LIMIT_TOKENS_PER_MINUTE applies */
	long max_streams;          /* concurrent streams across processes; 0: no limit */
};

/* Everything the program was configured with. Built once at start by
 * config_load() and read-only afterwards, so threads share it freely. */
struct config {
	enum environment env;
	char *host;
	long port;
	enum log_level log_level;
	int log_format;                /* LOG_FORMAT: 0 text, 1 json */
	char *log_file;                /* LOG_FILE, or NULL for stderr */
	char **tokens;                 /* API_AUTH_TOKENS, then keys[].token; a key in both only once, as the last */
	size_t n_tokens;
	char **cors_origins;           /* empty list: "*" */
	size_t n_cors_origins;
	long rate_limit_per_minute;
	long rate_limit_tokens_per_minute;  /* 0: no token limit */
	long rate_limit_default_max_tokens; /* reserved per choice when a request sets no bound */
	char *state_dir;
	char *rate_limit_file;
	long max_body_bytes;
	long mock_stream_delay_ms;     /* -1: not set, each model's own delay */
	long threads;
	char *pyproject_path;          /* where name/version were read, or NULL */
	char *project_name;
	char *project_version;
	struct model_cfg *models;
	size_t n_models;
	struct key_cfg *keys;
	size_t n_keys;
	struct upstream_cfg *upstreams;  /* every model's upstream points in here */
	size_t n_upstreams;
	char *upstream_base_url;         /* UPSTREAM_*: one upstream from the environment */
	char *upstream_api_key;
	char **upstream_models;          /* "name" or "alias=upstream-name" */
	size_t n_upstream_models;
	long upstream_timeout_s;         /* first byte and between events; -1: not set */
	long upstream_total_timeout_s;   /* every upstream's total_ms unless its own is set */
	long upstream_max_event_bytes;
	long upstream_max_body_bytes;
};

/* Where config_load() looks. Any field may be NULL. */
struct config_paths {
	const char *config_file;   /* --config; else OPENAI_FCGI_CONFIG; else the installed default */
	const char *dotenv_file;   /* default "./.env" */
	char **environ;            /* the process environment (tests pass their own) */
};

/* What config_load() found: one line per problem ("PORT (environment):
 * must be an integer from 1 to 65535"), each ending in '\n'. The caller
 * prints them and frees both with config_report_free(). */
struct config_report {
	strbuf errors;    /* any line here refuses start-up */
	strbuf warnings;
};

/* Loads and validates. Returns 0 and fills *cfg (release with
 * config_free()), possibly with warnings in *rep. Returns -1 when start-up
 * must be refused: rep->errors names every setting at fault, where it came
 * from (file:line, .env:line or environment) and what is wrong; *cfg is
 * then empty. */
int config_load(const struct config_paths *paths, struct config *cfg, struct config_report *rep);
void config_report_free(struct config_report *rep);
void config_free(struct config *cfg);

/* Appends the effective settings, tokens masked, one per line. */
void config_describe(const struct config *cfg, strbuf *out);

/* Is url a usable upstream base URL (http or https, a host, no query,
 * fragment or credentials)? 0, or -1 with the reason in why. */
int config_check_url(const char *url, char *why, size_t n);

const struct model_cfg *config_find_model(const struct config *cfg, const char *id);
const char *config_env_name(enum environment env);
/* True in staging and production, where the strict rules apply. */
bool config_strict(const struct config *cfg);

#endif
