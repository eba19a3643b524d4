/* settings_list.h: every setting the program reads, one row each, in the order --check-config prints them */
/*
 * Included with SETTING(id, type, min, max, choices, default, flags,
 * offset, count_offset, doc) defined: settings.h makes the ids (S_<id>),
 * settings.c the table (settings_table[S_<id>], named "<id>"). The same
 * names work in the config file, in .env and in the environment. A new
 * setting is one row here (and its line in the README's table and in
 * conf/openai-fcgi.conf: test_settings checks both).
 */
SETTING(ENVIRONMENT, ST_CHOICE, 0, 0, "development|test|staging|production", "development", 0,
	F(env), 0, "development, test, staging or production; anything else means development")
SETTING(API_AUTH_TOKENS, ST_LIST, 0, 0, NULL, NULL, SET_REQUIRED_STRICT | SET_SECRET | SET_OPTIONAL,
	F(tokens), F(n_tokens), "comma-separated API keys (or sha256:<hex> of a key)")
SETTING(HOST, ST_STRING, 0, 0, NULL, "127.0.0.1", SET_REQUIRED_STRICT,
	F(host), 0, "address for --listen when no socket is handed over")
SETTING(PORT, ST_INT, 1, 65535, NULL, "8000", SET_REQUIRED_STRICT,
	F(port), 0, "port for --listen when no socket is handed over")
SETTING(LOG_LEVEL, ST_LOGLEVEL, 0, 0, NULL, "INFO", SET_REQUIRED_STRICT,
	F(log_level), 0, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
SETTING(LOG_FORMAT, ST_CHOICE, 0, 0, "text|json", "text", 0,
	F(log_format), 0, "text, or json for one JSON object per line")
SETTING(LOG_FILE, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL,
	F(log_file), 0, "append the log here instead of stderr (spawn-fcgi sends stderr to /dev/null)")
SETTING(CORS_ORIGINS, ST_LIST, 0, 0, NULL, "", 0,
	F(cors_origins), F(n_cors_origins), "comma-separated allowed origins; empty means *")
SETTING(RATE_LIMIT_PER_MINUTE, ST_INT, 1, 1000000, NULL, "60", SET_REQUIRED_STRICT,
	F(rate_limit_per_minute), 0, "requests per minute per API key")
SETTING(RATE_LIMIT_TOKENS_PER_MINUTE, ST_INT, 0, 1000000, NULL, "0", 0,
	F(rate_limit_tokens_per_minute), 0, "tokens per minute per API key (prompt + completion); 0: no token limit")
SETTING(RATE_LIMIT_DEFAULT_MAX_TOKENS, ST_INT, 0, 1000000, NULL, "256", 0,
	F(rate_limit_default_max_tokens), 0, "completion tokens reserved per choice for a request that sets no max_tokens")
SETTING(STATE_DIR, ST_STRING, 0, 0, NULL, LOCALSTATEDIR "/lib/openai-fcgi", 0,
	F(state_dir), 0, "directory for the shared rate-limit file (and the development key)")
SETTING(RATE_LIMIT_FILE, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL,
	F(rate_limit_file), 0, "the rate limiter's state file, shared by every worker; default STATE_DIR/ratelimit")
SETTING(USAGE_FILE, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL,
	F(usage_file), 0, "the usage counters (--usage, /metrics, budgets), shared by every worker; default STATE_DIR/usage")
SETTING(STATE_BACKEND, ST_CHOICE, 0, 0, "file|redis", "file", 0,
	F(state_backend), 0, "file: limits and usage in STATE_DIR, exact across this host; redis: in REDIS_URL, shared by every host")
SETTING(REDIS_URL, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL | SET_SECRET,
	F(redis_url), 0, "with STATE_BACKEND=redis: redis://[user:password@]host:port/db or unix:///path.sock")
SETTING(REDIS_KEY_PREFIX, ST_STRING, 0, 0, NULL, "openai-fcgi:", 0,
	F(redis_key_prefix), 0, "put before every Redis key name, so deployments can share one Redis apart")
SETTING(REDIS_CONNECT_TIMEOUT_MS, ST_INT, 1, 10000, NULL, "50", 0,
	F(redis_connect_timeout_ms), 0, "ms allowed to connect to Redis (and authenticate)")
SETTING(REDIS_TIMEOUT_MS, ST_INT, 1, 10000, NULL, "50", 0,
	F(redis_timeout_ms), 0, "ms allowed for each Redis command's answer")
SETTING(REDIS_ON_FAILURE, ST_CHOICE, 0, 0, "closed|open", "closed", 0,
	F(redis_on_failure), 0, "Redis unreachable: closed refuses with 503; open admits without limits (logged, counted in /metrics)")
SETTING(METRICS_TOKEN, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL | SET_SECRET,
	F(metrics_token), 0, "bearer token GET /metrics requires; unset: /metrics answers loopback clients only")
SETTING(MAX_BODY_BYTES, ST_INT, 1024, 64L << 20, NULL, "1048576", 0,
	F(max_body_bytes), 0, "largest request body accepted (413 above)")
SETTING(MOCK_STREAM_DELAY_MS, ST_INT, 0, 60000, NULL, NULL, SET_OPTIONAL,
	F(mock_stream_delay_ms), 0, "overrides every mock model's delay between streamed words")
SETTING(THREADS, ST_INT, 1, 256, NULL, "4", 0,
	F(threads), 0, "worker threads per process (--threads overrides)")
SETTING(STREAM_THREADS, ST_INT, 0, 4096, NULL, "256", 0,
	F(stream_threads), 0, "threads a process adds, one per request, while all THREADS are busy (streams); THREADS + this bounds its concurrent requests")
SETTING(LOOP_STREAMS, ST_INT, 0, 65536, NULL, "4096", 0,
	F(loop_streams), 0, "streams (and requests waiting on a slow upstream) a process holds in its wait loop, without a thread each, while they wait; 0: each holds a thread")
SETTING(PYPROJECT_PATH, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL,
	F(pyproject_path), 0, "pyproject.toml to read name and version from")
SETTING(UPSTREAM_BASE_URL, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL,
	F(upstream_base_url), 0, "an OpenAI-compatible server (\"https://api.openai.com/v1\") serving UPSTREAM_MODELS")
SETTING(UPSTREAM_API_KEY, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL | SET_SECRET,
	F(upstream_api_key), 0, "the key sent to UPSTREAM_BASE_URL (never a client's key)")
SETTING(UPSTREAM_MODELS, ST_LIST, 0, 0, NULL, NULL, SET_OPTIONAL,
	F(upstream_models), F(n_upstream_models), "comma-separated: name, or alias=upstream-name")
SETTING(UPSTREAM_TIMEOUT_S, ST_INT, 1, 3600, NULL, NULL, SET_OPTIONAL,
	F(upstream_timeout_s), 0, "seconds allowed before the upstream's first byte and between its events (default 60)")
SETTING(UPSTREAM_TOTAL_TIMEOUT_S, ST_INT, 1, 86400, NULL, "600", 0,
	F(upstream_total_timeout_s), 0, "seconds an upstream exchange may last, streams included, unless its timeouts.total_ms says")
SETTING(UPSTREAM_MAX_EVENT_BYTES, ST_INT, 1024, 64L << 20, NULL, "1048576", 0,
	F(upstream_max_event_bytes), 0, "largest line or event of an upstream's stream (502, or an error event, above)")
SETTING(UPSTREAM_MAX_BODY_BYTES, ST_INT, 4096, 1L << 30, NULL, "16777216", 0,
	F(upstream_max_body_bytes), 0, "largest whole answer from an upstream (502 above)")
SETTING(CA_BUNDLE, ST_STRING, 0, 0, NULL, NULL, SET_OPTIONAL,
	F(ca_bundle), 0, "PEM file of the CAs HTTPS upstreams are checked against; default: libcurl's own (static build: the host's usual bundle)")
SETTING(UPSTREAM_RESPONSES, ST_CHOICE, 0, 0, "translate|native", "translate", 0,
	F(upstream_responses), 0, "translate: /v1/responses become chat completions upstream; native: relayed as they are")
SETTING(DOCS, ST_CHOICE, 0, 0, "auto|on|off", "auto", 0,
	F(docs), 0, "/docs, /redoc, /playground and /openapi.json: auto is on in development and test, off in staging and production")
SETTING(DOCS_DIR, ST_STRING, 0, 0, NULL, PKGDATADIR "/www", 0,
	F(docs_dir), 0, "where the documentation pages and their assets are read from")
SETTING(UPSTREAM_RETRIES, ST_INT, 0, 10, NULL, "2", 0,
	F(upstream_retries), 0, "further deployments a request may move on to after a connect failure, a timeout before the first byte, a 429 or a 5xx")
SETTING(UPSTREAM_FAILURES, ST_INT, 1, 1000, NULL, "3", 0,
	F(upstream_failures), 0, "failures in a row that make a deployment cool down")
SETTING(UPSTREAM_COOLDOWN_S, ST_INT, 0, 86400, NULL, "30", 0,
	F(upstream_cooldown_s), 0, "seconds a deployment is left alone after those failures (0: never); an upstream 429's Retry-After is its own")
SETTING(STREAM_PING_S, ST_INT, 0, 3600, NULL, "15", 0,
	F(stream_ping_s), 0, "seconds of silence after which a stream gets a keep-alive comment (0: none)")
