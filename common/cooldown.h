/* cooldown.h: which upstream deployments are cooling down, shared by every process of the host through one file */
#ifndef OAF_COOLDOWN_H
#define OAF_COOLDOWN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A deployment (an upstream and the model name there) that failed K times
 * in a row, or that answered 429 with a Retry-After, is left alone for a
 * while. Every process and thread of the host sees the same record: a
 * small file in STATE_DIR of CD_SLOTS fixed slots, read without a lock
 * (a slot carries a check word, so a torn or foreign read is just "no
 * record") and written under a pthread mutex plus an fcntl write lock.
 * Times are wall-clock milliseconds (CLOCK_REALTIME), passed in, so that
 * the pure part is tested without a clock and a record outlives nothing
 * it should not: one older than CD_MAX_COOL_MS from now is ignored.
 *
 * Functions that can fail return 0 on success and -1 on failure.
 */

#define CD_SLOTS        512
#define CD_WINDOW       8          /* slots a key may live in after its home */
#define CD_MAX_COOL_MS  86400000LL /* no record says longer than a day */

/* One deployment's record. */
struct cd_state {
	uint32_t failures;    /* in a row, reset by a success */
	int64_t until_ms;     /* cooling until then; 0: not */
};

/* ---- the pure rules ---- */

/* Is the deployment cooling at now_ms? */
bool cd_cooling(const struct cd_state *s, int64_t now_ms);

/* A failure at now_ms: counts it, and cools the deployment for cool_ms
 * once k failures are in a row (cool_ms 0: counts never cool it). A
 * failure of a deployment that had already reached k (the one try after
 * its cooldown ended) cools it again at once. retry_ms >= 0 is the wait
 * an upstream asked for (its 429's Retry-After): the deployment cools at
 * least that long, whatever k says. Waits are capped at CD_MAX_COOL_MS. */
void cd_fail(struct cd_state *s, int64_t now_ms, long k, int64_t cool_ms, int64_t retry_ms);

/* A success: the failures in a row start again from 0. */
void cd_succeed(struct cd_state *s);

/* The key of a deployment: 64 bits of its base URL and model (name the
 * same upstream differently in two configs and they still share). Never 0. */
uint64_t cd_key(const char *base_url, const char *model);

/* ---- the shared file ---- */

typedef struct cd_store cd_store;

/* Opens (creating, mode 0600) the file at path. Refuses a symlink, a
 * non-regular file and a file another user owns. A file that is later
 * deleted, replaced or truncated is reopened or rewritten by the next
 * write (and a read notices within a second): a record may be lost then,
 * never the process. On success *out is shared by every thread; release
 * with cd_close(). On failure errbuf gets a one-line reason for the log. */
int cd_open(const char *path, cd_store **out, char *errbuf, size_t errlen);

/* Closes and frees s; NULL is a no-op. No other thread may be using s. */
void cd_close(cd_store *s);

struct rs_store;
/* STATE_BACKEND=redis: from now on cd_get() and cd_record() keep the
 * records in r (borrowed; it outlives s), so every host leaves a failing
 * deployment alone, not only the one that saw it fail. Redis unreachable:
 * a read finds no record, a write is lost (logged once a minute). */
void cd_share(cd_store *s, struct rs_store *r);

/* The record of key at now_ms (all zeros when there is none, it is
 * unreadable, or s is NULL). Lock-free: one pread. */
struct cd_state cd_get(cd_store *s, uint64_t key, int64_t now_ms);

/* Applies cd_fail() (or cd_succeed(), when succeeded) to key's record
 * under the lock and writes it back; the state written goes to *out when
 * out is not NULL. A success of a key with no record writes nothing.
 * Returns -1 (logged) when the file cannot be written; s NULL is a no-op. */
int cd_record(cd_store *s, uint64_t key, int64_t now_ms, bool succeeded, long k, int64_t cool_ms,
	      int64_t retry_ms, struct cd_state *out);

#endif
