/* config_members.c: every member of the config file's groups (models, keys, upstreams...) as one table each */
#include "config_members.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "embeddings.h"
#include "ratelimit.h"

/* A member read by cfg_read_members() into field of struct T, and one
 * read by hand (HAND: no field). */
#define INTO(T, field) offsetof(T, field), sizeof(((T *)0)->field)
#define HAND 0, 0
#define INT_M(name, lo, hi, def, T, field, doc) { name, MK_INT, lo, hi, NULL, def, INTO(T, field), NULL, doc }
#define BOOL_M(name, def, T, field, doc) { name, MK_BOOL, 0, 0, NULL, def, INTO(T, field), NULL, doc }
#define CHOICE_M(name, choices, def, T, field, doc) { name, MK_CHOICE, 0, 0, choices, def, INTO(T, field), NULL, doc }
#define GROUP_M(name, members, doc) { name, MK_GROUP, 0, 0, NULL, NULL, HAND, members, doc }
#define HAND_M(name, kind, def, doc) { name, kind, 0, 0, NULL, def, HAND, NULL, doc }
#define END_M { NULL, 0, 0, 0, NULL, NULL, 0, 0, NULL, NULL }

#define TEXT_(x) #x
#define TEXT(x) TEXT_(x)     /* a number's macro as the text of a default */
#define MAX_MS 86400000LL  /* a day: the longest any upstream limit may be */

const struct member cfg_mock_members[] = {
	CHOICE_M("mode", "canned|echo", "canned", struct model_cfg, mock.mode,
		 "canned: a fixed answer; echo: the last user message back"),
	INT_M("delay_ms", 0, 60000, "100", struct model_cfg, mock.delay_ms,
	      "between streamed words (MOCK_STREAM_DELAY_MS overrides)"),
	END_M,
};

/* A model with a base_url of its own may also hold cfg_upstream_members. */
const struct member cfg_model_members[] = {
	HAND_M("id", MK_STRING, NULL, "the name clients send as model; required, once per file"),
	HAND_M("owned_by", MK_STRING, MODEL_DEFAULT_OWNER, "shown by GET /v1/models"),
	INT_M("created", INT64_MIN, INT64_MAX, "0", struct model_cfg, created, "Unix seconds, shown by GET /v1/models"),
	CHOICE_M("backend", "mock|upstream", "mock", struct model_cfg, backend,
		 "mock answers itself; upstream forwards to a server speaking OpenAI's API"),
	GROUP_M("mock", cfg_mock_members, "the mock's answers"),
	HAND_M("upstream", MK_STRING, NULL, "backend upstream: the name of an entry of upstreams"),
	HAND_M("upstream_model", MK_STRING, NULL, "the model's name there; default its id"),
	HAND_M("deployments", MK_LIST, NULL, "several places it is served, by priority and weight"),
	{ "kind", MK_CHOICE, 0, 0, "chat|embedding", "chat", HAND, NULL,
	  "chat: chat, responses and completions; embedding: embeddings" },
	HAND_M("endpoints", MK_LIST, NULL, "instead of kind: the endpoints it answers, by name"),
	INT_M("dimensions", 1, EMB_MAX_DIMENSIONS, NULL, struct model_cfg, dimensions,
	      "an embedding model's vector length"),
	INT_M("max_output_tokens", 1, MODEL_MAX_OUTPUT_TOKENS_LIMIT, TEXT(MODEL_DEFAULT_MAX_OUTPUT_TOKENS),
	      struct model_cfg, max_output_tokens, "per choice: where the mock cuts its answer (finish_reason length)"),
	END_M,
};

const struct member cfg_key_members[] = {
	HAND_M("token", MK_STRING, NULL, "the key, or sha256:<64 hex> of it; required"),
	HAND_M("name", MK_STRING, NULL, "shown in logs instead of the fingerprint; [A-Za-z0-9_.-]"),
	HAND_M("models", MK_LIST, NULL, "the model ids it may use; absent: every model"),
	HAND_M("not_before", MK_STRING, NULL, "ISO 8601: not valid before"),
	HAND_M("expires", MK_STRING, NULL, "ISO 8601: not valid from then on"),
	INT_M("requests_per_minute", 1, RL_MAX_PER_MINUTE, NULL, struct key_cfg, requests_per_minute,
	      "its own request limit; absent: RATE_LIMIT_PER_MINUTE"),
	INT_M("tokens_per_minute", 1, RL_MAX_PER_MINUTE, NULL, struct key_cfg, tokens_per_minute,
	      "its own token limit; absent: RATE_LIMIT_TOKENS_PER_MINUTE"),
	INT_M("max_streams", 1, 10000, NULL, struct key_cfg, max_streams,
	      "concurrent streams across every process; absent: no limit"),
	INT_M("tokens_per_day", 1, 1000000000000LL, NULL, struct key_cfg, tokens_per_day,
	      "budget per UTC day; absent: none"),
	INT_M("tokens_per_month", 1, 1000000000000LL, NULL, struct key_cfg, tokens_per_month,
	      "budget per UTC month; absent: none"),
	END_M,
};

const struct member cfg_timeout_members[] = {
	INT_M("connect_ms", 0, MAX_MS, "10000", struct upstream_cfg, connect_ms, "TCP (and TLS) connect"),
	INT_M("first_byte_ms", 0, MAX_MS, "60000", struct upstream_cfg, first_byte_ms,
	      "from the request to the first byte of the answer"),
	INT_M("idle_ms", 0, MAX_MS, "60000", struct upstream_cfg, idle_ms, "between two events of a stream"),
	/* no default here: UPSTREAM_TOTAL_TIMEOUT_S, known once the settings are */
	INT_M("total_ms", 1, MAX_MS, NULL, struct upstream_cfg, total_ms,
	      "the whole exchange; absent: UPSTREAM_TOTAL_TIMEOUT_S"),
	END_M,
};

const struct member cfg_upstream_members[] = {
	HAND_M("base_url", MK_STRING, NULL, "http(s)://host[:port]/path; required"),
	HAND_M("api_key_env", MK_STRING, NULL, "the environment variable holding its key; absent: none sent"),
	GROUP_M("timeouts", cfg_timeout_members, "its limits, in milliseconds"),
	HAND_M("headers", MK_LIST, NULL, "\"Name: value\" strings sent with every request"),
	BOOL_M("discover", "false", struct upstream_cfg, discover, "GET /v1/models also lists its own /models"),
	INT_M("discover_ttl_s", 0, 86400, "300", struct upstream_cfg, discover_ttl_s,
	      "how long that list is reused"),
	CHOICE_M("responses", "translate|native", "translate", struct upstream_cfg, responses_native,
		 "native: it serves /responses itself; translate: they become chat completions"),
	END_M,
};

const struct member cfg_upstream_list_members[] = {
	HAND_M("name", MK_STRING, NULL, "what models and deployments call it; required, once per file"),
	END_M,
};

const struct member cfg_deployment_members[] = {
	HAND_M("upstream", MK_STRING, NULL, "the name of an entry of upstreams; required"),
	HAND_M("model", MK_STRING, NULL, "the model's name there; default the model's id"),
	INT_M("priority", 0, 1000, "0", struct deployment_cfg, priority, "lower first"),
	INT_M("weight", 1, 1000, "1", struct deployment_cfg, weight, "odds of going first within its priority"),
	END_M,
};

const struct member_table cfg_member_tables[] = {
	{ "models[]", cfg_model_members }, { "models[].mock", cfg_mock_members },
	{ "models[].deployments[]", cfg_deployment_members }, { "keys[]", cfg_key_members },
	{ "upstreams[]", cfg_upstream_list_members }, { "upstreams[]", cfg_upstream_members },
	{ "upstreams[].timeouts", cfg_timeout_members }, { NULL, NULL },
};

int cfg_member_choice(const char *choices, const char *v)
{
	size_t vl = strlen(v);
	int idx = 0;
	for (const char *p = choices;; idx++) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);
		if (l == vl && strncmp(p, v, l) == 0)
			return idx;
		if (!bar)
			return -1;
		p = bar + 1;
	}
}

void cfg_member_store(void *target, const struct member *m, long long v)
{
	char *field = (char *)target + m->offset;
	if (m->size == sizeof(bool) && m->kind != MK_INT) {
		bool b = v != 0;
		memcpy(field, &b, sizeof b);
	} else if (m->size == sizeof(int32_t)) {
		int32_t x = (int32_t)v;
		memcpy(field, &x, sizeof x);
	} else if (m->size == sizeof(int64_t)) {
		int64_t x = (int64_t)v;
		memcpy(field, &x, sizeof x);
	}
}

void cfg_member_defaults(const struct member *t, void *target)
{
	for (; t->name; t++) {
		if (t->group)
			cfg_member_defaults(t->group, target);
		if (!t->size || !t->def)
			continue;
		if (t->kind == MK_INT)
			cfg_member_store(target, t, strtoll(t->def, NULL, 10));
		else if (t->kind == MK_BOOL)
			cfg_member_store(target, t, strcmp(t->def, "true") == 0);
		else if (t->kind == MK_CHOICE)
			cfg_member_store(target, t, cfg_member_choice(t->choices, t->def));
	}
}
