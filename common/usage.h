/* usage.h: usage counters per key, model, route, status and UTC day, shared by every process through one locked file */
#ifndef OAF_USAGE_H
#define OAF_USAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/*
 * One file (USAGE_FILE, default STATE_DIR/usage) holds a fixed table of
 * rows: the counts of every (day, key, model, route, status, upstream,
 * 429 kind) seen, plus one total per key and day and one per key and
 * month (what budgets read), plus per-process gauges (requests in flight,
 * open streams). Every process and every CGI run keeps it open, flock()s
 * it for each operation, reads and writes it with pread/pwrite: no
 * mapping, so a truncated file cannot fault a reader, and each operation
 * checks the file it locked is still the one the path names (else opens
 * that one), so counting goes on exactly in one file after a deletion or
 * a replacement.
 *
 * Size bound: UM_FILE_SIZE (4 MiB + 4 KiB), UM_CAPACITY rows. A row lives
 * in one of UM_WINDOW slots after its hashed home; when those are all
 * taken, the row of the oldest day among them is recycled (its counts are
 * dropped, with a warning); when every one is of today, the request is not
 * counted (with a warning). Both need thousands of distinct key x model x
 * route x status combinations in the same days.
 *
 * Functions that can fail return 0 on success and -1 on failure.
 */

#define UM_CAPACITY   8192
#define UM_WINDOW     32
#define UM_ROW_SIZE   512
#define UM_HEADER_SIZE 4096
#define UM_FILE_SIZE  (UM_HEADER_SIZE + (int64_t)UM_CAPACITY * UM_ROW_SIZE)
#define UM_MAX_PIDS   200      /* processes with gauges at once (more: not shown) */
#define UM_NBUCKETS   12       /* histogram buckets, +Inf aside */
#define UM_LABEL      64       /* bytes of a key or model label, NUL included */
#define UM_SHORT      32       /* bytes of a route, upstream or kind label */

/* The upper bounds (seconds) of the histogram buckets. */
extern const double um_buckets[UM_NBUCKETS];

enum um_kind { UM_EMPTY = 0, UM_DETAIL = 1, UM_KEY_DAY = 2, UM_KEY_MONTH = 3 };

/* One row as stored. Strings are NUL-padded; a damaged file may hold any
 * bytes, so readers go through um_snapshot(), which terminates them. */
struct um_row {
	uint32_t kind;           /* enum um_kind */
	int32_t day;             /* days since 1970-01-01 UTC; UM_KEY_MONTH: year * 12 + month - 1 */
	int32_t status;
	uint32_t pad0;
	char key[UM_LABEL];      /* the key's name, else its fingerprint; "" unauthenticated */
	char model[UM_LABEL];    /* a configured model id, "" when none was found */
	char route[UM_SHORT];    /* the route's pattern ("/v1/models/{}"), "" when none matched */
	char upstream[UM_SHORT]; /* the upstream asked, "" for the mock or none */
	char reason[UM_SHORT];   /* the error's type for a 429 ("requests", "insufficient_quota") */
	uint64_t requests, prompt_tokens, completion_tokens;
	uint64_t duration_us_sum, ttft_us_sum, ttft_count;
	uint64_t duration_bucket[UM_NBUCKETS];  /* not cumulative: requests <= bound, > the one before */
	uint64_t ttft_bucket[UM_NBUCKETS];
	char pad1[32];
};
_Static_assert(sizeof(struct um_row) == UM_ROW_SIZE, "a row is UM_ROW_SIZE bytes");

/* What one finished request adds. Strings borrowed, NULL read as "";
 * longer ones are cut to their row field. */
struct um_event {
	const char *key, *model, *route, *upstream, *reason;
	int status;
	long prompt_tokens, completion_tokens;  /* < 0 read as 0 */
	int64_t duration_us;
	int64_t ttft_us;                        /* < 0: no first byte */
	int64_t now_s;                          /* Unix seconds: which UTC day */
	int in_flight_delta, streams_delta;     /* gauge changes made in the same locked step */
};

/* Gauges summed over the live processes of the host. */
struct um_gauges {
	long in_flight;
	long streams;
};

typedef struct um_store um_store;

/* Remembers path and makes the file valid (creating it 0600, or
 * rebuilding it with a log_warn when truncated, foreign or corrupt).
 * Refuses a symlink, a non-regular file and another user's file. *out is
 * released with um_close(); it is shared by all threads. On failure errbuf
 * gets a one-line reason for the log. */
int um_open(const char *path, um_store **out, char *errbuf, size_t errlen);

/* Frees s; NULL is a no-op. */
void um_close(um_store *s);

struct rs_store;
/* STATE_BACKEND=redis: from now on um_record(), um_key_tokens() and the
 * rows of um_snapshot() go to r (borrowed; it outlives s), so every host's
 * usage adds up in --usage, /metrics and budgets. The gauges (requests in
 * flight, open streams) stay the host's own, in the file, and so do the
 * requests recorded while Redis cannot be reached: um_snapshot() adds the
 * file's rows to Redis's (the file's alone during an outage). */
void um_share(um_store *s, struct rs_store *r);

/* Adds ev to its detail row and to its key's day and month totals, and
 * its gauge deltas to this process's gauges, in one locked step. */
int um_record(um_store *s, const struct um_event *ev);

/* The tokens (prompt + completion) key has used on the UTC day and in the
 * UTC month of now_s. */
int um_key_tokens(um_store *s, const char *key, int64_t now_s, uint64_t *day, uint64_t *month);

/* Adds d_in_flight and d_streams to this process's gauges and shows them
 * in its slot of the file. -1: not added (the caller takes nothing back). */
int um_gauge_add(um_store *s, int d_in_flight, int d_streams);

/* Every used row (strings NUL-terminated) into *rows (caller frees; NULL
 * when none) and the gauges of the processes still alive. */
int um_snapshot(um_store *s, struct um_row **rows, size_t *n, struct um_gauges *g);

/* ---- pure helpers (no file, no clock) ---- */

/* Days since 1970-01-01 of the UTC day holding Unix second t. */
int32_t um_day(int64_t t);
/* year * 12 + month - 1 of that day. */
int32_t um_month(int32_t day);
/* "YYYY-MM-DD" of a day (n >= 11). */
void um_format_day(int32_t day, char *buf, size_t n);
/* Parses "YYYY-MM-DD" into *day; -1 when it is not a valid date. */
int um_parse_day(const char *s, int32_t *day);

/* The usage table of rows (n of them) from day since on: one line per
 * day x key x model, sorted, with requests, prompt and completion tokens
 * and errors by status; as aligned text columns, or (json) one JSON array
 * of objects. Appends to out. */
void um_report(const struct um_row *rows, size_t n, int32_t since, bool json, strbuf *out);

#endif
