/* ratelimit.h: per-key request limits shared by all workers through one file */
#ifndef OAF_RATELIMIT_H
#define OAF_RATELIMIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The limit is N requests per minute per key, enforced with the generic
 * cell rate algorithm: a fresh key admits N requests at once, then one every
 * 60000/N ms. Its state, one "theoretical arrival time" per key, lives in a
 * file that every process maps, so the limit holds exactly across FastCGI
 * processes, their threads and one-shot CGI processes.
 *
 * Functions that can fail return 0 on success and -1 on failure.
 */

/* Bounds of per_minute, so that ms * per_minute fits in 63 bits until
 * RL_MAX_NOW_MS (year 2255). */
#define RL_MAX_PER_MINUTE 1000000L
#define RL_MAX_NOW_MS     9000000000000LL

/* The table: RL_CAPACITY slots of 16 bytes after a 4 KiB header, so the
 * file is 260 KiB. A key lives in one of RL_WINDOW slots after its hashed
 * home. Up to about 8000 keys active within the same minute are all
 * remembered (measured: no loss at half load); beyond that the keys closest
 * to replenished are forgotten first, see ratelimit.c. */
#define RL_CAPACITY 16384
#define RL_WINDOW   32
#define RL_HEADER_SIZE 4096
#define RL_FILE_SIZE (RL_HEADER_SIZE + RL_CAPACITY * 16)

struct rl_result {
	bool allowed;
	long limit;             /* per_minute */
	long remaining;         /* units (requests, tokens) still admitted right now, after this one */
	long used;              /* units outstanding before this check: limit - available */
	int64_t reset_ms;       /* until remaining == limit again */
	int64_t retry_after_ms; /* denied: until one request is admitted; 0 if allowed */
};

/* The arithmetic alone, with the clock passed in. tat is the key's state in
 * ticks of 1/per_minute ms (so 60000/N ms is a whole number of ticks: 7/min
 * is exact); 0 is a fresh key. It is meaningful only with the per_minute that
 * wrote it. Requires 1 <= per_minute <= RL_MAX_PER_MINUTE and
 * 0 <= now_ms <= RL_MAX_NOW_MS. Fills *r; advances *tat only when the request
 * is admitted, except that any *tat no admission could have left (negative,
 * or more than a minute's burst ahead: a damaged file, a clock that stepped
 * back) is first saturated into range, so no value overflows and no key
 * waits more than a minute. Returns r->allowed. */
bool rl_gcra(int64_t *tat, int64_t now_ms, long per_minute, struct rl_result *r);

/* rl_gcra() for a request that costs `cost` units at once (tokens): admitted
 * when the key has cost units available, and then it holds them all; a
 * denial costs nothing. rl_gcra() is this with cost 1. Requires
 * 0 <= cost <= per_minute: a request larger than the whole limit could never
 * be admitted, so the caller refuses it before asking. Returns r->allowed. */
bool rl_gcra_cost(int64_t *tat, int64_t now_ms, long per_minute, long cost, struct rl_result *r);

/* Settles an admitted cost with what it really cost: delta = real - admitted
 * units, negative for a refund. The refund returns units to the key (never
 * past full); an overrun is charged (never past one minute of debt). Fills
 * *r with the key's state afterwards (allowed true, used = units held).
 * Same requirements on per_minute and now_ms as rl_gcra(); |delta| is
 * clamped to per_minute. */
void rl_gcra_settle(int64_t *tat, int64_t now_ms, long per_minute, long delta, struct rl_result *r);

typedef struct rl_store rl_store;

/* Opens path, creating it (mode 0600) or rebuilding it with a log_warn when
 * it is truncated, foreign or corrupt. Refuses a symlink, a non-regular file
 * and a file another user owns. On success *out is a store the caller
 * releases with rl_close(); it is shared by all threads of the process. On
 * failure errbuf gets a one-line reason for the log (it may hold errno text,
 * so it is not for the client). */
int rl_open(const char *path, rl_store **out, char *errbuf, size_t errlen);

/* Unmaps and frees s; NULL is a no-op. No other thread may be using s. */
void rl_close(rl_store *s);

/* Counts one request of key (keylen opaque bytes, e.g. "k:<fingerprint>"
 * or "ip:<addr>") against per_minute at now_ms, and fills *r. A key is
 * tracked per (key, per_minute), so changing a key's limit starts it fresh.
 * Returns -1 (r untouched) only for per_minute or now_ms out of bounds or a
 * store that could not be repaired; the caller decides whether that admits. */
int rl_check(rl_store *s, const char *key, size_t keylen, long per_minute,
	     int64_t now_ms, struct rl_result *r);

/* rl_check() with a cost (rl_gcra_cost()): concurrent checks of one key,
 * from any process, never admit more than per_minute units a minute.
 * Returns -1 also for a cost outside 0..per_minute. */
int rl_check_cost(rl_store *s, const char *key, size_t keylen, long per_minute, long cost,
		  int64_t now_ms, struct rl_result *r);

/* Settles a cost rl_check_cost() admitted for (key, per_minute):
 * rl_gcra_settle() on its slot, in the same exact, lock-free way. A key
 * evicted meanwhile (see RL_CAPACITY) is not re-inserted: its refund or
 * overrun is forgotten with the rest of its state, and *r says the key is
 * full. Returns -1 (r untouched) as rl_check() does. */
int rl_settle(rl_store *s, const char *key, size_t keylen, long per_minute, long delta,
	      int64_t now_ms, struct rl_result *r);

/* Writes ms as Go's time.Duration String() does ("0s", "12ms", "7.66s",
 * "1m30.5s", "6m0s", "1h0m0s"), the format of OpenAI's
 * x-ratelimit-reset-requests. Truncates to fit n bytes (n >= 1). */
void rl_format_duration(int64_t ms, char *buf, size_t n);

#endif
