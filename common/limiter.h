/* limiter.h: the one place that picks where limits are counted: the host's file or a shared Redis */
#ifndef OAF_LIMITER_H
#define OAF_LIMITER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openai_error.h"
#include "ratelimit.h"
#include "redis_store.h"

/*
 * Request and token limits go through here, whatever holds them: the
 * host's state file (ratelimit.c: exact across the host's processes) or
 * Redis (redis_store.c: exact across every host that names the same one).
 * Both run the same GCRA, with the same reservation and settlement, so a
 * caller never knows which it has.
 *
 * lim_open() returns 0 or -1; the counting functions return an outcome.
 */

enum lim_backend { LIM_FILE = 0, LIM_REDIS = 1 };  /* STATE_BACKEND's choices, in order */

enum lim_outcome {
	LIM_COUNTED,     /* counted: *r says what was decided */
	LIM_UNCHECKED,   /* not counted, and the request goes on: the file could not be
			  * repaired, or Redis is unreachable with REDIS_ON_FAILURE=open */
	LIM_UNAVAILABLE, /* Redis is unreachable with REDIS_ON_FAILURE=closed: refuse (lim_refuse) */
};

struct lim_options {
	enum lim_backend backend;
	const char *file;             /* LIM_FILE: RATE_LIMIT_FILE */
	struct rs_options redis;      /* LIM_REDIS */
	bool fail_open;               /* REDIS_ON_FAILURE=open */
};

typedef struct lim_store lim_store;

/* Opens the backend o names (strings borrowed during the call). Redis is
 * not required to be up: a PING says in the log whether it is, and each
 * request tries again. *out is shared by every thread; release with
 * lim_close(). On failure errbuf gets a one-line reason for the log. */
int lim_open(const struct lim_options *o, lim_store **out, char *errbuf, size_t errlen);

struct config;
/* lim_open() with the options cfg's settings say (STATE_BACKEND,
 * RATE_LIMIT_FILE, REDIS_*); cfg is borrowed during the call. */
int lim_open_config(const struct config *cfg, lim_store **out, char *errbuf, size_t errlen);

/* Frees s; NULL is a no-op. No other thread may be using s. */
void lim_close(lim_store *s);

/* rl_check_cost() on the backend: cost units (0: only look) of key
 * (keylen opaque bytes) against per_minute. now_ms is the file's clock;
 * Redis uses its own, so hosts' clocks need not agree. An outage is
 * logged at most once per 10 s, and its end once. */
enum lim_outcome lim_check(lim_store *s, const char *key, size_t keylen, long per_minute, long cost,
			   int64_t now_ms, struct rl_result *r);

/* rl_settle() on the backend, likewise. */
enum lim_outcome lim_settle(lim_store *s, const char *key, size_t keylen, long per_minute, long delta,
			    int64_t now_ms, struct rl_result *r);

/* The Redis store s counts in (borrowed, lives as long as s), so the
 * usage counters can go there too; NULL for the file. */
rs_store *lim_redis(const lim_store *s);

/* The 503 a request gets when LIM_UNAVAILABLE: type server_error, code
 * limits_unavailable, a message that says why without internals. -1. */
int lim_refuse(oa_error *err);

#endif
