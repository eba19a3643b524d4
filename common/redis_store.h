/* redis_store.h: the Redis half of the shared state: a pool of connections, timeouts, backoff */
#ifndef OAF_REDIS_STORE_H
#define OAF_REDIS_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cooldown.h"
#include "ratelimit.h"
#include "redis_proto.h"

/*
 * The store owns its connections: a call takes an idle one (or makes one)
 * and gives it back, so no lock is held across a round trip and there are
 * never more connections than calls at once. A connection gets connect_ms
 * to connect (and authenticate, and select its database) and timeout_ms
 * per command; one that fails or times out is closed (a late answer must
 * not be read as the next one's) and the store waits before connecting
 * again, 50 ms doubling to 1 s, failing every call at once meanwhile, so a
 * Redis that is down costs each request nothing and the process one
 * attempt per backoff. A connection found closed when reused (Redis
 * restarted) is replaced at once, within the same call, the other idle
 * ones closed with it: so no call waits longer than connect_ms +
 * timeout_ms.
 *
 * Functions return 0 on success and -1 on failure; a failing call fills
 * errbuf with a one-line reason for the log (never a password).
 */

struct rs_options {
	const char *url;        /* REDIS_URL (borrowed during rs_open) */
	const char *prefix;     /* REDIS_KEY_PREFIX, put before every key name */
	long connect_ms;        /* REDIS_CONNECT_TIMEOUT_MS */
	long timeout_ms;        /* REDIS_TIMEOUT_MS */
};

typedef struct rs_store rs_store;

/* Checks the options (rp_parse_url) and remembers them; connects nothing
 * (the first call connects). *out is shared by every
 * thread and released with rs_close(). Built without hiredis
 * (configure --without-redis), it always fails and says so. */
int rs_open(const struct rs_options *o, rs_store **out, char *errbuf, size_t errlen);

/* Closes s's connections and frees s; NULL is a no-op. No call on s may
 * be running. */
void rs_close(rs_store *s);

/* One GCRA round trip (rp_gcra_script) for (key, per_minute): a check of
 * op->amount units or a settlement. Fills *r. Loads the script with
 * SCRIPT LOAD the first time and again when Redis answers NOSCRIPT (it
 * restarted, or SCRIPT FLUSH). */
int rs_gcra(rs_store *s, const char *key, size_t keylen, long per_minute,
	    const struct rp_gcra_op *op, struct rl_result *r, char *errbuf, size_t errlen);

/* Usage counters (usage.h's rows; redis_proto.h says how they are kept).
 * rs_usage_add adds each of the n rows' counters to its hash in one
 * MULTI/EXEC round trip, so a snapshot never sees half a request. */
int rs_usage_add(rs_store *s, const struct um_row *rows, size_t n, char *errbuf, size_t errlen);

/* Fills the counters of the n rows (their labels given) from Redis;
 * a row Redis does not have reads as zeros. */
int rs_usage_read(rs_store *s, struct um_row *rows, size_t n, char *errbuf, size_t errlen);

/* Every row of every host (at most RS_USAGE_MAX_ROWS) into *rows, which
 * the caller frees (NULL when none). Names of rows that expired are
 * dropped from the index on the way. */
#define RS_USAGE_MAX_ROWS (4 * UM_CAPACITY)
int rs_usage_all(rs_store *s, struct um_row **rows, size_t *n, char *errbuf, size_t errlen);

/* Upstream cooldowns (cooldown.h's records) in the hash prefix "cd:" key.
 * rs_cooldown_get reads key's record (zeros when none). */
int rs_cooldown_get(rs_store *s, uint64_t key, struct cd_state *out, char *errbuf, size_t errlen);

/* Applies apply(state, arg) to key's record atomically across hosts
 * (WATCH, then MULTI/EXEC, again when another host wrote between): apply
 * returns false to write nothing. The record expires ttl_ms after it is
 * written. The state written (or read, when nothing was) goes to *out. */
int rs_cooldown_update(rs_store *s, uint64_t key, bool (*apply)(struct cd_state *st, void *arg), void *arg,
		       int64_t ttl_ms, struct cd_state *out, char *errbuf, size_t errlen);

/* PING through one of s's connections (start-up's reachability check). */
int rs_ping(rs_store *s, char *errbuf, size_t errlen);

#endif
