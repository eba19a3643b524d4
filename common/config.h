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
	bool responses_native;     /* responses = "native": it serves /responses itself;
	                            * else ("translate") they become chat completions */
	long failures;             /* in a row before a deployment on it cools down (UPSTREAM_FAILURES) */
	long cooldown_ms;          /* how long it then cools (UPSTREAM_COOLDOWN_S); 0: never */
};

/* One place a model is served: an upstream and the model's name there,
 * in a priority group (lower first) with a weight inside it. */
struct deployment_cfg {
	const struct upstream_cfg *up;  /* borrowed from config.upstreams */
	char *model;               /* the upstream's name for it (often the model's id) */
	char *name;                /* "<upstream>/<model>": the log's and the x-openai-fcgi-deployment header's */
	long priority;             /* 0..1000; every deployment of the lowest is tried first */
	long weight;               /* 1..1000; odds of going first within its group */
};

/* The endpoints a model answers (model_cfg.endpoints). */
enum model_endpoint {
	EP_CHAT = 1, EP_RESPONSES = 2, EP_COMPLETIONS = 4, EP_EMBEDDINGS = 8
};
#define EP_CHAT_FAMILY (EP_CHAT | EP_RESPONSES | EP_COMPLETIONS)  /* kind "chat", the default */
#define MODEL_DEFAULT_MAX_OUTPUT_TOKENS 4096
#define MODEL_DEFAULT_OWNER "openai-fcgi"     /* owned_by when a model says none */
#define MODEL_MAX_OUTPUT_TOKENS_LIMIT 1048576

/* A model clients may name; from the config file's models list. */
struct model_cfg {
	char *id;
	char *owned_by;
	long created;
	unsigned endpoints;        /* EP_* it answers: kind = "chat" | "embedding", or endpoints = [...] */
	enum backend_kind backend;
	long max_output_tokens;  /* per choice: the mock cuts there (finish_reason "length") */
	struct {
		enum mock_mode mode;
		long delay_ms;     /* between streamed words; MOCK_STREAM_DELAY_MS overrides */
	} mock;
	struct {
		const struct upstream_cfg *up;  /* deployments[0]'s, borrowed */
		const char *model;              /* deployments[0]'s, borrowed */
		struct deployment_cfg *deployments;  /* owned; at least one */
		size_t n_deployments;
		long retries;      /* other deployments a request may move on to (UPSTREAM_RETRIES) */
	} upstream;
	long dimensions;       /* an embedding model's vector length; 0: not one */
	long ping_ms;          /* a silent stream's keep-alive period (STREAM_PING_S); 0: none */
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
	long long tokens_per_day;  /* budget per UTC day; 0: none */
	long long tokens_per_month; /* budget per UTC month; 0: none */
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
	char *usage_file;              /* USAGE_FILE, default STATE_DIR/usage */
	char *metrics_token;           /* METRICS_TOKEN; NULL: /metrics from loopback only */
	int state_backend;             /* STATE_BACKEND: enum lim_backend (0 file, 1 redis) */
	char *redis_url;               /* REDIS_URL; NULL unless set */
	char *redis_key_prefix;        /* REDIS_KEY_PREFIX */
	long redis_connect_timeout_ms; /* REDIS_CONNECT_TIMEOUT_MS */
	long redis_timeout_ms;         /* REDIS_TIMEOUT_MS */
	int redis_on_failure;          /* REDIS_ON_FAILURE: 0 closed, 1 open */
	long max_body_bytes;
	long mock_stream_delay_ms;     /* -1: not set, each model's own delay */
	long threads;
	long stream_threads;     /* added while every worker is busy, one per request */
	long loop_streams;       /* waiting streams held by the wait loop (fcgi/main.c) */
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
	char *ca_bundle;                 /* CA_BUNDLE, or NULL: libcurl's default (static: looked up) */
	int upstream_responses;          /* UPSTREAM_RESPONSES: 0 translate, 1 native */
	int docs;                        /* DOCS: enum docs_mode */
	char *docs_dir;                  /* DOCS_DIR: the pages and their assets */
	long upstream_retries;           /* UPSTREAM_RETRIES: a request's budget of further deployments */
	long upstream_failures;          /* UPSTREAM_FAILURES */
	long upstream_cooldown_s;        /* UPSTREAM_COOLDOWN_S */
	long stream_ping_s;              /* STREAM_PING_S; 0: no keep-alive comments */
};

/* Where config_load() looks. Any field may be NULL. */
struct config_paths {
	const char *config_file;   /* --config; else OPENAI_FCGI_CONFIG; else the installed default (or one beside the binary) */
	const char *dotenv_file;   /* default "./.env" */
	char **environ;            /* the process environment (tests pass their own) */
	/* The binary's absolute path in a relocatable build (common/relocate.h):
	 * the config file and STATE_DIR default to places beside it, not under
	 * SYSCONFDIR and LOCALSTATEDIR. NULL: the installed defaults. */
	const char *program_path;
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
/* The endpoint's name in config files and errors ("chat", "responses",
 * "completions", "embeddings"). */
const char *config_endpoint_name(enum model_endpoint ep);
const char *config_env_name(enum environment env);
/* DOCS, in the order of its choices in the settings table. */
enum docs_mode { DOCS_AUTO, DOCS_ON, DOCS_OFF };
/* Are the documentation pages served? DOCS=on/off decides; auto means
 * yes in development and test, no in staging and production. */
bool config_docs_enabled(const struct config *cfg);
/* True in staging and production, where the strict rules apply. */
bool config_strict(const struct config *cfg);

#endif
