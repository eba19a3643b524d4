/* redis_proto.h: the pure half of the Redis store: REDIS_URL, key names, the GCRA script and its answer */
#ifndef OAF_REDIS_PROTO_H
#define OAF_REDIS_PROTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"
#include "usage.h"

/*
 * Nothing here does I/O or knows hiredis: common/redis_store.c sends what
 * these functions build and hands back what Redis answered as plain
 * integers, so cmocka tests every rule without a server.
 *
 * Functions that can fail return 0 on success and -1 on failure.
 */

#define RP_MAX_URL   1024   /* bytes of a REDIS_URL */
#define RP_MAX_KEY   256    /* bytes of a Redis key name we build */
#define RP_MAX_PREFIX 64    /* bytes of REDIS_KEY_PREFIX: a prefix, an "ip:" key and a limit fit RP_MAX_KEY */

/* A parsed REDIS_URL. Strings point into the struct's own storage. */
struct rp_url {
	char host[256];      /* "" for a unix socket */
	int port;            /* 6379 unless said */
	char path[108];      /* unix socket path (sun_path's size), "" for TCP */
	char user[128];      /* "" when none: AUTH password alone */
	char password[256];  /* "" when none: no AUTH */
	int db;              /* SELECT db; 0 unless said */
};

/* Parses redis://[[user]:password@]host[:port][/db] (host may be
 * [ipv6]) or unix:///path/to/socket[?db=N] (a password there as
 * unix://:password@/path), percent-decoding user and password. On failure
 * err gets a reason that never quotes the password. */
int rp_parse_url(const char *url, struct rp_url *out, char *err, size_t errlen);

/* The Lua script that runs rl_gcra_cost() / rl_gcra_settle() on one key
 * atomically with Redis's own clock (TIME), so hosts whose clocks differ
 * still share one limit. Its reply: { admitted 0|1, the key's tat minus
 * now before the call (in ticks of 1/per_minute ms, within +-one minute),
 * now in ms }. */
extern const char rp_gcra_script[];

/* What one call does: count a cost (a check), or settle one. */
struct rp_gcra_op {
	bool settle;
	long amount;         /* check: the cost (0: only look); settle: real - admitted */
};

/* The key name of (key, per_minute): prefix "rl:" per_minute ":" key, so
 * that, as in the file, changing a key's limit starts it fresh. key is
 * keylen opaque bytes. Returns the length, or -1 when it does not fit n. */
int rp_gcra_key(const char *prefix, const char *key, size_t keylen, long per_minute,
		char *buf, size_t n);

/* The arguments after EVALSHA <sha> 1 <key>: per_minute, "c" or "s", the
 * amount, as decimal text into the three buffers of 24 bytes. */
void rp_gcra_args(long per_minute, const struct rp_gcra_op *op, char args[3][24]);

/* Turns the script's reply (n integers in v) into *r, computing remaining,
 * reset and retry-after with ratelimit.c's own functions from the state
 * before the call, so both stores answer the same headers. -1 when the
 * reply is not the script's (wrong count, values out of range). */
int rp_gcra_decode(const long long *v, size_t n, long per_minute, const struct rp_gcra_op *op,
		   struct rl_result *r);

/* ---- usage counters ---- */

/* A usage row (usage.h) lives in a hash named prefix "u:" and its labels,
 * each length-prefixed so any byte may appear: kind, day, status, key,
 * model, route, upstream, reason. Its counters are hash fields
 * (RP_USAGE_FIELDS of them). The names are listed in the set prefix
 * "u:index", so a snapshot finds them. */
#define RP_USAGE_FIELDS (6 + 2 * UM_NBUCKETS)
#define RP_MAX_USAGE_NAME 512

/* The hash name of row's labels; its length, or -1 when it does not fit. */
int rp_usage_name(const char *prefix, const struct um_row *row, char *buf, size_t n);

/* The labels of a hash name (counters zeroed); -1 when it is not one of
 * rp_usage_name()'s. */
int rp_usage_parse_name(const char *prefix, const char *name, size_t len, struct um_row *row);

/* The name of counter i (0 <= i < RP_USAGE_FIELDS) and its value in row. */
const char *rp_usage_field(size_t i);
uint64_t rp_usage_get(const struct um_row *row, size_t i);

/* Sets the counter named field (len bytes) of row from a hash value
 * (decimal text); unknown fields and values that are not counters are
 * ignored. */
void rp_usage_set(struct um_row *row, const char *field, size_t flen, const char *value, size_t vlen);

/* How long (seconds) a row is kept: day rows 62 days, month rows 400, so
 * budgets and a --since of two months see them. */
long rp_usage_ttl(const struct um_row *row);

#endif
