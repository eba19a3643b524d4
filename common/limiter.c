/* limiter.c: the one place that picks where limits are counted: the host's file or a shared Redis */
#include "limiter.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "xalloc.h"

#define OUTAGE_LOG_INTERVAL_MS 10000

struct lim_store {
	enum lim_backend backend;
	rl_store *file;
	rs_store *redis;
	bool fail_open;
	int64_t next_log_ms;     /* atomic: an outage is logged again from then on */
	bool down;               /* atomic: the last call failed (its end is logged once) */
};

int lim_open(const struct lim_options *o, lim_store **out, char *errbuf, size_t errlen)
{
	lim_store *s = xcalloc(1, sizeof *s);
	s->backend = o->backend;
	s->fail_open = o->fail_open;
	if (o->backend == LIM_FILE) {
		if (rl_open(o->file, &s->file, errbuf, errlen) != 0) {
			free(s);
			return -1;
		}
		*out = s;
		return 0;
	}
	if (rs_open(&o->redis, &s->redis, errbuf, errlen) != 0) {
		free(s);
		return -1;
	}
	char why[256];
	if (rs_ping(s->redis, why, sizeof why) != 0)
		log_warn("STATE_BACKEND=redis: %s; each request tries again (REDIS_ON_FAILURE=%s)", why,
			 s->fail_open ? "open" : "closed");
	*out = s;
	return 0;
}

int lim_open_config(const struct config *cfg, lim_store **out, char *errbuf, size_t errlen)
{
	struct lim_options o = {
		.backend = cfg->state_backend == LIM_REDIS ? LIM_REDIS : LIM_FILE,
		.file = cfg->rate_limit_file,
		.redis = {
			.url = cfg->redis_url,
			.prefix = cfg->redis_key_prefix,
			.connect_ms = cfg->redis_connect_timeout_ms,
			.timeout_ms = cfg->redis_timeout_ms,
		},
		.fail_open = cfg->redis_on_failure == 1,
	};
	return lim_open(&o, out, errbuf, errlen);
}

void lim_close(lim_store *s)
{
	if (!s)
		return;
	rl_close(s->file);
	rs_close(s->redis);
	free(s);
}

rs_store *lim_redis(const lim_store *s)
{
	return s->redis;
}

/* Redis failed: say so (not more than once per interval) and decide. */
static enum lim_outcome outage(lim_store *s, const char *why, int64_t now_ms)
{
	int64_t next = __atomic_load_n(&s->next_log_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&s->down, true, __ATOMIC_RELAXED);
	if (now_ms >= next && __atomic_compare_exchange_n(&s->next_log_ms, &next, now_ms + OUTAGE_LOG_INTERVAL_MS,
							  false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		log_error("STATE_BACKEND=redis: %s; %s", why,
			  s->fail_open ? "requests are admitted without their limits (REDIS_ON_FAILURE=open)"
				       : "requests are refused with 503 (REDIS_ON_FAILURE=closed)");
	return s->fail_open ? LIM_UNCHECKED : LIM_UNAVAILABLE;
}

static void recovered(lim_store *s)
{
	if (__atomic_load_n(&s->down, __ATOMIC_RELAXED) && __atomic_exchange_n(&s->down, false, __ATOMIC_RELAXED)) {
		log_warn("STATE_BACKEND=redis: reachable again; limits are counted exactly");
		__atomic_store_n(&s->next_log_ms, 0, __ATOMIC_RELAXED);
	}
}

static enum lim_outcome redis_apply(lim_store *s, const char *key, size_t keylen, long per_minute,
				    const struct rp_gcra_op *op, int64_t now_ms, struct rl_result *r)
{
	char why[256];
	if (per_minute < 1 || per_minute > RL_MAX_PER_MINUTE ||
	    (!op->settle && (op->amount < 0 || op->amount > per_minute)))
		return LIM_UNCHECKED;  /* as the file refuses it: the caller's own bound failed */
	why[0] = '\0';
	if (rs_gcra(s->redis, key, keylen, per_minute, op, r, why, sizeof why) != 0)
		return outage(s, why, now_ms);
	recovered(s);
	return LIM_COUNTED;
}

enum lim_outcome lim_check(lim_store *s, const char *key, size_t keylen, long per_minute, long cost,
			   int64_t now_ms, struct rl_result *r)
{
	if (s->backend == LIM_REDIS) {
		struct rp_gcra_op op = { .settle = false, .amount = cost };
		return redis_apply(s, key, keylen, per_minute, &op, now_ms, r);
	}
	return rl_check_cost(s->file, key, keylen, per_minute, cost, now_ms, r) == 0 ? LIM_COUNTED
										    : LIM_UNCHECKED;
}

enum lim_outcome lim_settle(lim_store *s, const char *key, size_t keylen, long per_minute, long delta,
			    int64_t now_ms, struct rl_result *r)
{
	if (s->backend == LIM_REDIS) {
		struct rp_gcra_op op = { .settle = true, .amount = delta };
		return redis_apply(s, key, keylen, per_minute, &op, now_ms, r);
	}
	return rl_settle(s->file, key, keylen, per_minute, delta, now_ms, r) == 0 ? LIM_COUNTED : LIM_UNCHECKED;
}

int lim_refuse(oa_error *err)
{
	return oa_error_set(err, 503, OA_SERVER, "limits_unavailable", NULL,
			    "The server cannot check this request's rate limits right now (its shared "
			    "state store is unreachable). Please try again shortly.");
}
