/* usage.c: usage counters per key, model, route, status and UTC day, shared by every process through one locked file */
#include "usage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis_store.h"
#include "state_file.h"
#include "xalloc.h"

/*
 * Why a lock and pread/pwrite rather than a lock-free mapping as the rate
 * limiter has: a request is recorded once, after its answer, so a few
 * system calls cost little next to the answer; in exchange a truncated
 * file is only a short read (no SIGBUS to catch), and the lock makes the
 * read-modify-write of a row exact across threads, processes and CGI
 * runs. A worker killed while holding the lock releases it with its
 * descriptor.
 *
 * Each process keeps one descriptor open (a forked child opens its own:
 * flock belongs to the open file, which a fork shares) and takes, per
 * operation, a mutex (threads share that descriptor, so flock alone would
 * not exclude them) and then the flock. A request costs one such cycle,
 * at its end: its row counts, with its gauges' -1. Opening, locking and
 * closing the file for each of three steps was half of a mock chat
 * request's system calls (bench/run, BENCH_ONLY=chat).
 *
 * The gauges (requests in flight, open streams) are this process's own
 * counts, kept here; its slot in the file's header is their copy for the
 * other processes to read. Only this process writes its slot once it
 * holds it, so a change of a held slot is one pwrite, without the flock:
 * the +1 at dispatch cost a whole cycle of six system calls, a fifth of a
 * mock request's. A cycle (re)takes the slot whenever it writes it: after
 * the file was replaced, deleted or rebuilt, the next cycle puts the
 * process's true counts in the file now there. One race is left: a file
 * another process rebuilds (damage) frees every slot without telling the
 * holders, so until the holder's next cycle a third process may take the
 * same slot and the two overwrite each other's counts; the next cycle of
 * either moves one of them to a slot of its own.
 */

#define UM_MAGIC   0x314b5355414f0aULL /* "\nOAUSK1" little-endian */
#define UM_VERSION 1u
#define UM_MAX_TRIES 4  /* opens while the path keeps naming another file */
#define UM_HINTS 64     /* rows a process remembers the slot of (a power of 2) */

const double um_buckets[UM_NBUCKETS] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };

struct um_gauge_slot {
	int32_t pid;
	int32_t in_flight;
	int32_t streams;
	int32_t pad;
};

struct um_header {
	uint64_t magic;
	uint32_t version;
	uint32_t capacity;
	uint64_t size;
	uint32_t row_size;
	uint32_t pad;
	struct um_gauge_slot gauges[UM_MAX_PIDS];
};
_Static_assert(sizeof(struct um_header) <= UM_HEADER_SIZE, "header fits");

/* The labels of a row: what finds it, what its home slot is hashed from. */
#define UM_LABELS_SIZE offsetof(struct um_row, requests)
_Static_assert(UM_LABELS_SIZE % 8 == 0, "labels hashed a word at a time");

/* Where a row was last seen: a guess, checked against the row on use (the
 * file may have been rebuilt, replaced or its row recycled since). */
struct um_hint {
	unsigned char labels[UM_LABELS_SIZE];
	uint32_t index;
	bool used;
};

struct um_store {
	char *path;
	rs_store *shared;       /* STATE_BACKEND=redis: the counters live there */
	pthread_mutex_t lock;   /* one operation at a time in this process; guards below */
	int fd;                 /* the file, kept open; -1: open it at the next operation */
	unsigned long forks;    /* um_forks when fd was opened */
	int32_t pid;            /* this process, for its gauge slot */
	int gauge_slot;         /* the slot this process last used, -1 before */
	bool slot_held;         /* gauge_slot is ours in the file fd is open on (as far as we know) */
	int32_t in_flight;      /* this process's gauges: the truth its slot copies */
	int32_t streams;
	struct um_hint *hints;  /* UM_HINTS of them */
	/* The file's header, read by store_lock for the operation that holds
	 * lock: here, not on the stack, where its 3.2 KiB were the deepest
	 * point of every stream's thread, a 4 KiB page each (bench/run,
	 * BENCH_ONLY=sse-upstream). */
	struct um_header header;
};

/* Counts forks in the child, so a store sees it runs in a new process. */
static unsigned long um_forks;
static pthread_once_t um_fork_watch = PTHREAD_ONCE_INIT;

static void um_on_fork_child(void)
{
	um_forks++;
}

static void um_watch_forks(void)
{
	pthread_atfork(NULL, NULL, um_on_fork_child);
}

/* ---- days ---- */

int32_t um_day(int64_t t)
{
	return (int32_t)(t >= 0 ? t / 86400 : -((-t + 86399) / 86400));
}

/* Howard Hinnant's civil_from_days / days_from_civil. */
static void civil(int32_t day, int *y, int *m, int *d)
{
	int64_t z = (int64_t)day + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int32_t um_month(int32_t day)
{
	int y, m, d;
	civil(day, &y, &m, &d);
	return y * 12 + m - 1;
}

void um_format_day(int32_t day, char *buf, size_t n)
{
	int y, m, d;
	civil(day, &y, &m, &d);
	snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
}

int um_parse_day(const char *s, int32_t *day)
{
	int y, m, d, used = 0;
	if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10 ||
	    s[4] != '-' || s[7] != '-' || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	int64_t t = days_from_civil(y, m, d);
	int cy, cm, cd;
	civil((int32_t)t, &cy, &cm, &cd);
	if (cy != y || cm != m || cd != d)
		return -1;  /* 2026-02-30 */
	*day = (int32_t)t;
	return 0;
}

/* ---- rows ---- */

static void put_label(char *dst, size_t cap, const char *s)
{
	memset(dst, 0, cap);
	if (s)
		memcpy(dst, s, strnlen(s, cap - 1));
}

static bool same_labels(const struct um_row *a, const struct um_row *b)
{
	return a->kind == b->kind && a->day == b->day && a->status == b->status &&
	       memcmp(a->key, b->key, sizeof a->key) == 0 && memcmp(a->model, b->model, sizeof a->model) == 0 &&
	       memcmp(a->route, b->route, sizeof a->route) == 0 &&
	       memcmp(a->upstream, b->upstream, sizeof a->upstream) == 0 &&
	       memcmp(a->reason, b->reason, sizeof a->reason) == 0;
}

/* FNV-1a over the labels: the names come from the config and the route
 * table, not from clients, so a keyed hash buys nothing here. */
static uint64_t labels_hash(const struct um_row *r)
{
	uint64_t h = 1469598103934665603ULL;
	const unsigned char *p = (const unsigned char *)r;
	size_t end = offsetof(struct um_row, requests);
	for (size_t i = 0; i < end; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* The last day a row can still grow: older rows are recycled first. */
static int64_t row_last_day(const struct um_row *r)
{
	if (r->kind == UM_KEY_MONTH) {
		int64_t y = r->day / 12, m = r->day % 12 + 1;
		return days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : (int)m + 1, 1) - 1;
	}
	if (r->kind == UM_DETAIL || r->kind == UM_KEY_DAY)
		return r->day;
	return INT64_MIN;  /* not a kind we write: damage, recycled first */
}

/* ---- the file ---- */

/* What is wrong with the file, NULL when nothing; *h is its header (the
 * gauges with it), read once for the whole operation. */
static const char *file_problem(int fd, const struct stat *st, struct um_header *h)
{
	if (st->st_size != UM_FILE_SIZE)
		return st->st_size < UM_FILE_SIZE ? "shorter than the table" : "longer than the table";
	if (sf_read_all(fd, h, sizeof *h, 0) < 0)
		return "unreadable header";
	if (h->magic != UM_MAGIC)
		return "bad magic";
	if (h->version != UM_VERSION || h->capacity != UM_CAPACITY || h->size != (uint64_t)UM_FILE_SIZE ||
	    h->row_size != UM_ROW_SIZE)
		return "unexpected geometry";
	return NULL;
}

/* Empties the file and writes a fresh header *h, magic last. Caller holds the lock. */
static int file_build(int fd, struct um_header *h)
{
	memset(h, 0, sizeof *h);
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, UM_FILE_SIZE) < 0)
		return -1;
	h->version = UM_VERSION;
	h->capacity = UM_CAPACITY;
	h->size = (uint64_t)UM_FILE_SIZE;
	h->row_size = UM_ROW_SIZE;
	if (sf_write_all(fd, h, sizeof *h, 0) < 0)
		return -1;
	h->magic = UM_MAGIC;
	return sf_write_all(fd, &h->magic, sizeof h->magic, 0);
}

/* Drops the descriptor (and with it the flock). Caller holds s->lock. */
static void store_drop(um_store *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->slot_held = false;
}

/* In a child of a fork, the store starts over as the child's: the
 * inherited descriptor is the parent's open file, whose flock would not
 * exclude the parent, and the parent's gauges are not the child's.
 * Caller holds s->lock. */
static void note_fork(um_store *s)
{
	unsigned long forks = __atomic_load_n(&um_forks, __ATOMIC_RELAXED);
	if (s->forks == forks)
		return;
	store_drop(s);
	s->forks = forks;
	s->pid = (int32_t)getpid();
	s->gauge_slot = -1;
	s->in_flight = s->streams = 0;
}

/* Starts one operation: takes s->lock, then the flock of the file path
 * names now (a deleted or replaced file is left for the one now there, so
 * all processes count in one file), valid (rebuilt with a warning when it
 * is not: its counts are lost); s->header gets its header. 0, the caller ending
 * with store_unlock(); -1 with a reason in err, nothing held. */
static int store_lock(um_store *s, char *err, size_t errlen)
{
	struct um_header *h = &s->header;
	pthread_mutex_lock(&s->lock);
	note_fork(s);
	int tries;
	for (tries = 0; tries < UM_MAX_TRIES; tries++) {
		struct stat st, at;
		const char *why;
		if (s->fd < 0 && (s->fd = sf_open(s->path, "usage file", NULL, err, errlen)) < 0)
			break;
		int rc;
		while ((rc = flock(s->fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		if (rc < 0) {
			snprintf(err, errlen, "usage file %s: flock: %s", s->path, strerror(errno));
			store_drop(s);
			break;
		}
		if (fstat(s->fd, &st) < 0 || st.st_nlink == 0 || lstat(s->path, &at) < 0 ||
		    at.st_dev != st.st_dev || at.st_ino != st.st_ino) {
			store_drop(s);  /* deleted or replaced: the new one */
			continue;
		}
		sf_keep_private(s->fd, &st, "usage file", s->path);  /* as a fresh open would */
		if ((why = file_problem(s->fd, &st, h)) != NULL) {
			if (st.st_size != 0)
				log_warn("usage file %s: %s, rebuilding it (its counts are lost)", s->path, why);
			s->slot_held = false;  /* every slot is free in the new table */
			if (file_build(s->fd, h) < 0) {
				snprintf(err, errlen, "usage file %s: cannot build: %s", s->path, strerror(errno));
				store_drop(s);
				break;
			}
		}
		return 0;
	}
	if (tries == UM_MAX_TRIES)
		snprintf(err, errlen, "usage file %s: keeps being replaced", s->path);
	pthread_mutex_unlock(&s->lock);
	return -1;
}

static void store_unlock(um_store *s)
{
	if (flock(s->fd, LOCK_UN) < 0)
		store_drop(s);  /* cannot happen on a valid descriptor; closing unlocks */
	pthread_mutex_unlock(&s->lock);
}

int um_open(const char *path, um_store **out, char *errbuf, size_t errlen)
{
	pthread_once(&um_fork_watch, um_watch_forks);
	um_store *s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	s->fd = -1;
	s->forks = __atomic_load_n(&um_forks, __ATOMIC_RELAXED);
	s->pid = (int32_t)getpid();
	s->gauge_slot = -1;
	s->hints = xcalloc(UM_HINTS, sizeof *s->hints);
	pthread_mutex_init(&s->lock, NULL);
	if (store_lock(s, errbuf, errlen) != 0) {
		um_close(s);
		return -1;
	}
	store_unlock(s);
	*out = s;
	return 0;
}

static void gauge_release(um_store *s);

void um_close(um_store *s)
{
	if (!s)
		return;
	gauge_release(s);
	store_drop(s);
	pthread_mutex_destroy(&s->lock);
	free(s->hints);
	free(s->path);
	free(s);
}

/* ---- rows in the file ---- */

static off_t row_offset(size_t i)
{
	return (off_t)UM_HEADER_SIZE + (off_t)i * UM_ROW_SIZE;
}

/* A full table is said once a minute per process, not once per request. */
static bool warn_due(void)
{
	static int64_t last_warned;
	int64_t now = (int64_t)time(NULL), last = __atomic_load_n(&last_warned, __ATOMIC_RELAXED);
	return now - last >= 60 &&
	       __atomic_compare_exchange_n(&last_warned, &last, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* Finds the row labelled as want in its window, or the slot it takes (an
 * empty one, else the oldest recyclable one, reset to want). *index is its
 * slot, *row its contents. 0; 1 when the window holds only rows of today
 * or later (nothing to recycle); -1 on a read error. */
static int row_window(const struct um_row *want, int32_t today, size_t *index, struct um_row *row,
		      const struct um_row *win, size_t home);

/* The hint slot of labels want: a cheap hash, a word at a time (the home
 * slot's FNV-1a stays as it is: it places rows in files already written). */
static struct um_hint *hint_for(um_store *s, const struct um_row *want)
{
	const unsigned char *p = (const unsigned char *)want;
	uint64_t h = 0, w;
	for (size_t i = 0; i < UM_LABELS_SIZE; i += 8) {
		memcpy(&w, p + i, sizeof w);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	}
	return &s->hints[h >> 58 & (UM_HINTS - 1)];
}

/* Caller holds the store's locks. The remembered slot first: one row read
 * and compared instead of a window of UM_WINDOW hashed and scanned. */
static int row_find(um_store *s, const struct um_row *want, int32_t today, size_t *index, struct um_row *row)
{
	struct um_hint *hint = hint_for(s, want);
	if (hint->used && memcmp(hint->labels, want, UM_LABELS_SIZE) == 0 &&
	    sf_read_all(s->fd, row, sizeof *row, row_offset(hint->index)) == 0 && same_labels(row, want)) {
		*index = hint->index;
		return 0;
	}
	/* 16 KiB: from the heap, not thread-local storage, which every thread
	 * (one per stream) would carry from its start to its end */
	struct um_row *win = malloc(UM_WINDOW * sizeof *win);
	if (!win)
		return -1;
	size_t home = (size_t)(labels_hash(want) % (UM_CAPACITY - UM_WINDOW + 1));
	int rc = sf_read_all(s->fd, win, UM_WINDOW * sizeof *win, row_offset(home)) < 0 ? -1 :
		 row_window(want, today, index, row, win, home);
	free(win);
	if (rc == 0) {
		memcpy(hint->labels, want, UM_LABELS_SIZE);
		hint->index = (uint32_t)*index;
		hint->used = true;
	}
	return rc;
}

/* row_find's look through the window win read from its home slot. */
static int row_window(const struct um_row *want, int32_t today, size_t *index, struct um_row *row,
		      const struct um_row *win, size_t home)
{
	int empty = -1, victim = -1;
	int64_t victim_day = INT64_MAX;
	for (int i = 0; i < UM_WINDOW; i++) {
		if (win[i].kind == UM_EMPTY) {
			if (empty < 0)
				empty = i;
			continue;
		}
		if (same_labels(&win[i], want)) {
			*index = home + (size_t)i;
			*row = win[i];
			return 0;
		}
		int64_t last = row_last_day(&win[i]);
		if (last < victim_day) {
			victim_day = last;
			victim = i;
		}
	}
	if (empty < 0 && (victim < 0 || victim_day >= today))
		return 1;
	int take = empty >= 0 ? empty : victim;
	if (empty < 0 && warn_due())
		log_warn("usage file: full around a row of day %ld, recycling a row of day %ld "
			 "(its counts are dropped; said once a minute)", (long)today, (long)victim_day);
	*index = home + (size_t)take;
	*row = *want;
	return 0;
}

static void row_add(struct um_row *r, const struct um_event *ev)
{
	uint64_t prompt = ev->prompt_tokens > 0 ? (uint64_t)ev->prompt_tokens : 0;
	uint64_t completion = ev->completion_tokens > 0 ? (uint64_t)ev->completion_tokens : 0;
	r->requests++;
	r->prompt_tokens += prompt;
	r->completion_tokens += completion;
	if (r->kind != UM_DETAIL)
		return;
	int64_t dur = ev->duration_us > 0 ? ev->duration_us : 0;
	r->duration_us_sum += (uint64_t)dur;
	for (int i = 0; i < UM_NBUCKETS; i++)
		if ((double)dur <= um_buckets[i] * 1e6) {
			r->duration_bucket[i]++;
			break;
		}
	if (ev->ttft_us >= 0) {
		r->ttft_us_sum += (uint64_t)ev->ttft_us;
		r->ttft_count++;
		for (int i = 0; i < UM_NBUCKETS; i++)
			if ((double)ev->ttft_us <= um_buckets[i] * 1e6) {
				r->ttft_bucket[i]++;
				break;
			}
	}
}

static int add_to(um_store *s, const struct um_row *want, const struct um_event *ev, int32_t today)
{
	struct um_row row;
	size_t i;
	int rc = row_find(s, want, today, &i, &row);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		if (warn_due())
			log_warn("usage file: no room for key '%s' model '%s' today; requests are not counted "
				 "(said once a minute)", want->key, want->model);
		return 0;
	}
	row_add(&row, ev);
	return sf_write_all(s->fd, &row, sizeof row, row_offset(i));
}

void um_share(um_store *s, struct rs_store *r)
{
	s->shared = r;
}

/* Redis failed: said once a minute, like a full table. */
static void shared_failed(const char *what, const char *why)
{
	if (warn_due())
		log_error("usage in Redis: %s: %s (said once a minute)", what, why);
}

/* um_record() in Redis: the same three rows, as deltas. */
static int record_shared(um_store *s, const struct um_event *ev, int32_t today)
{
	struct um_row rows[3];
	size_t n = 1;
	char err[256];
	memset(rows, 0, sizeof rows);
	rows[0].kind = UM_DETAIL;
	rows[0].day = today;
	rows[0].status = ev->status;
	put_label(rows[0].key, sizeof rows[0].key, ev->key);
	put_label(rows[0].model, sizeof rows[0].model, ev->model);
	put_label(rows[0].route, sizeof rows[0].route, ev->route);
	put_label(rows[0].upstream, sizeof rows[0].upstream, ev->upstream);
	put_label(rows[0].reason, sizeof rows[0].reason, ev->reason);
	if (ev->key && *ev->key) {
		rows[1].kind = UM_KEY_DAY;
		rows[1].day = today;
		put_label(rows[1].key, sizeof rows[1].key, ev->key);
		rows[2] = rows[1];
		rows[2].kind = UM_KEY_MONTH;
		rows[2].day = um_month(today);
		n = 3;
	}
	for (size_t i = 0; i < n; i++)
		row_add(&rows[i], ev);
	if (rs_usage_add(s->shared, rows, n, err, sizeof err) != 0) {
		shared_failed("counting in this host's usage file meanwhile", err);
		return 1;
	}
	return 0;
}

static bool pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* This process's gauges moved by the deltas. Caller holds s->lock. */
static void gauges_add(um_store *s, int d_in_flight, int d_streams)
{
	s->in_flight += d_in_flight;
	s->streams += d_streams;
}

static off_t gauge_offset(int slot)
{
	return (off_t)offsetof(struct um_header, gauges) + (off_t)slot * (off_t)sizeof(struct um_gauge_slot);
}

/* This process's slot as its gauges say it now (never below zero: the
 * counts of a file replaced in flight may take them there). */
static struct um_gauge_slot gauge_now(const um_store *s)
{
	return (struct um_gauge_slot){ s->pid, s->in_flight > 0 ? s->in_flight : 0, s->streams > 0 ? s->streams : 0,
				       0 };
}

/* Writes this process's gauges to its slot in h (the header read by
 * store_lock()), taking one first when it holds none there: the slot used
 * last while it is still ours or free (no scan: only this process writes
 * its pid), else the first that is free or whose process died. Caller
 * holds the store's locks. */
static int gauge_write(um_store *s, struct um_header *h)
{
	struct um_gauge_slot *g = h->gauges;
	int32_t me = s->pid;
	int mine = -1, spare = -1;
	if (s->gauge_slot >= 0 && (g[s->gauge_slot].pid == me || g[s->gauge_slot].pid == 0))
		mine = s->gauge_slot;
	for (int i = 0; i < UM_MAX_PIDS && mine < 0; i++) {
		if (g[i].pid == me)
			mine = i;
		else if (spare < 0 && !pid_alive(g[i].pid))
			spare = i;  /* free, or its process died holding counts */
	}
	if (mine < 0)
		mine = spare;
	s->slot_held = false;
	if (mine < 0)
		return 0;  /* UM_MAX_PIDS processes already: not shown */
	s->gauge_slot = mine;
	g[mine] = gauge_now(s);
	if (sf_write_all(s->fd, &g[mine], sizeof g[mine], gauge_offset(mine)) < 0)
		return -1;
	s->slot_held = true;
	return 0;
}

/* At um_close(): the slot goes back, empty (a CGI run leaves no trace). */
static void gauge_release(um_store *s)
{
	char err[300];
	if (!s->slot_held || store_lock(s, err, sizeof err) != 0)
		return;
	if (s->gauge_slot >= 0 && s->header.gauges[s->gauge_slot].pid == s->pid) {
		static const struct um_gauge_slot none;
		(void)sf_write_all(s->fd, &none, sizeof none, gauge_offset(s->gauge_slot));
	}
	s->slot_held = false;
	store_unlock(s);
}

int um_record(um_store *s, const struct um_event *ev)
{
	char err[300];
	struct um_row detail, total;
	int32_t today = um_day(ev->now_s);
	bool gauges = ev->in_flight_delta || ev->streams_delta;
	/* Redis unreachable: this host's file keeps the request, so what
	 * happened during an outage (REDIS_ON_FAILURE=open's admissions) is
	 * still counted; um_snapshot() adds both. */
	if (s->shared && record_shared(s, ev, today) == 0)
		return gauges ? um_gauge_add(s, ev->in_flight_delta, ev->streams_delta) : 0;
	if (store_lock(s, err, sizeof err) != 0) {
		log_error("%s; this request is not counted", err);
		if (gauges) {
			/* it ended all the same: the next write of the slot says so */
			pthread_mutex_lock(&s->lock);
			note_fork(s);
			gauges_add(s, ev->in_flight_delta, ev->streams_delta);
			pthread_mutex_unlock(&s->lock);
		}
		return -1;
	}
	gauges_add(s, ev->in_flight_delta, ev->streams_delta);
	int rc = gauges ? gauge_write(s, &s->header) : 0;
	memset(&detail, 0, sizeof detail);
	detail.kind = UM_DETAIL;
	detail.day = today;
	detail.status = ev->status;
	put_label(detail.key, sizeof detail.key, ev->key);
	put_label(detail.model, sizeof detail.model, ev->model);
	put_label(detail.route, sizeof detail.route, ev->route);
	put_label(detail.upstream, sizeof detail.upstream, ev->upstream);
	put_label(detail.reason, sizeof detail.reason, ev->reason);
	if (rc == 0)
		rc = add_to(s, &detail, ev, today);
	if (rc == 0 && ev->key && *ev->key) {
		memset(&total, 0, sizeof total);
		total.kind = UM_KEY_DAY;
		total.day = today;
		put_label(total.key, sizeof total.key, ev->key);
		rc = add_to(s, &total, ev, today);
		total.kind = UM_KEY_MONTH;
		total.day = um_month(today);
		if (rc == 0)
			rc = add_to(s, &total, ev, today);
	}
	if (rc < 0)
		log_error("usage file %s: %s; this request is not fully counted", s->path, strerror(errno));
	store_unlock(s);
	return rc;
}

int um_key_tokens(um_store *s, const char *key, int64_t now_s, uint64_t *day, uint64_t *month)
{
	char err[300];
	struct um_row want, row;
	size_t i;
	int32_t today = um_day(now_s);
	if (s->shared) {
		struct um_row rows[2];
		memset(rows, 0, sizeof rows);
		rows[0].kind = UM_KEY_DAY;
		rows[0].day = today;
		put_label(rows[0].key, sizeof rows[0].key, key);
		rows[1] = rows[0];
		rows[1].kind = UM_KEY_MONTH;
		rows[1].day = um_month(today);
		if (rs_usage_read(s->shared, rows, 2, err, sizeof err) != 0) {
			shared_failed("a key's budget cannot be read", err);
			return -1;
		}
		*day = rows[0].prompt_tokens + rows[0].completion_tokens;
		*month = rows[1].prompt_tokens + rows[1].completion_tokens;
		return 0;
	}
	if (store_lock(s, err, sizeof err) != 0) {
		log_error("%s", err);
		return -1;
	}
	*day = *month = 0;
	memset(&want, 0, sizeof want);
	want.kind = UM_KEY_DAY;
	want.day = today;
	put_label(want.key, sizeof want.key, key);
	int rc = row_find(s, &want, today, &i, &row);
	if (rc == 0)
		*day = row.prompt_tokens + row.completion_tokens;
	want.kind = UM_KEY_MONTH;
	want.day = um_month(today);
	int rc2 = row_find(s, &want, today, &i, &row);
	if (rc2 == 0)
		*month = row.prompt_tokens + row.completion_tokens;
	store_unlock(s);
	return rc < 0 || rc2 < 0 ? -1 : 0;
}

int um_gauge_add(um_store *s, int d_in_flight, int d_streams)
{
	char err[300];
	pthread_mutex_lock(&s->lock);
	note_fork(s);
	gauges_add(s, d_in_flight, d_streams);
	if (s->slot_held) {
		/* ours: one write, no flock (see the top of this file) */
		struct um_gauge_slot g = gauge_now(s);
		int rc = sf_write_all(s->fd, &g, sizeof g, gauge_offset(s->gauge_slot));
		if (rc != 0)
			s->slot_held = false;  /* the cycle below takes it again */
		pthread_mutex_unlock(&s->lock);
		if (rc == 0)
			return 0;
	} else {
		pthread_mutex_unlock(&s->lock);
	}
	if (store_lock(s, err, sizeof err) != 0) {
		log_error("%s", err);
		/* not counted: the caller will not take it back */
		pthread_mutex_lock(&s->lock);
		gauges_add(s, -d_in_flight, -d_streams);
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	int rc = gauge_write(s, &s->header);
	if (rc != 0)
		gauges_add(s, -d_in_flight, -d_streams);  /* as above */
	store_unlock(s);
	return rc;
}

int um_snapshot(um_store *s, struct um_row **rows, size_t *n, struct um_gauges *gauges)
{
	char err[300];
	*rows = NULL;
	*n = 0;
	gauges->in_flight = gauges->streams = 0;
	if (store_lock(s, err, sizeof err) != 0) {
		log_error("%s", err);
		return -1;
	}
	struct um_row *all = xmalloc((size_t)UM_CAPACITY * sizeof *all);
	int rc = sf_read_all(s->fd, all, (size_t)UM_CAPACITY * sizeof *all, UM_HEADER_SIZE) < 0 ? -1 : 0;
	store_unlock(s);
	if (rc < 0) {
		free(all);
		return -1;
	}
	for (int i = 0; i < UM_MAX_PIDS; i++)
		if (pid_alive(s->header.gauges[i].pid)) {
			gauges->in_flight += s->header.gauges[i].in_flight > 0 ? s->header.gauges[i].in_flight : 0;
			gauges->streams += s->header.gauges[i].streams > 0 ? s->header.gauges[i].streams : 0;
		}
	size_t used = 0;
	for (size_t i = 0; i < UM_CAPACITY; i++) {
		struct um_row *r = &all[i];
		if (r->kind != UM_DETAIL && r->kind != UM_KEY_DAY && r->kind != UM_KEY_MONTH)
			continue;
		r->key[UM_LABEL - 1] = r->model[UM_LABEL - 1] = '\0';
		r->route[UM_SHORT - 1] = r->upstream[UM_SHORT - 1] = r->reason[UM_SHORT - 1] = '\0';
		all[used++] = *r;
	}
	if (s->shared) {
		/* every host's counters, plus what this host kept during outages */
		struct um_row *more = NULL;
		size_t extra = 0;
		if (rs_usage_all(s->shared, &more, &extra, err, sizeof err) != 0)
			shared_failed("showing this host's file alone", err);
		if (extra) {
			all = xrealloc(all, (used + extra) * sizeof *all);
			memcpy(all + used, more, extra * sizeof *more);
			used += extra;
		}
		free(more);
	}
	if (used == 0) {
		free(all);
		return 0;
	}
	*rows = all;
	*n = used;
	return 0;
}

/* ---- the usage table ---- */

static int by_day_key_model(const void *a, const void *b)
{
	const struct um_row *x = *(const struct um_row *const *)a, *y = *(const struct um_row *const *)b;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	int c = strcmp(x->key, y->key);
	if (c == 0)
		c = strcmp(x->model, y->model);
	if (c == 0)
		c = x->status < y->status ? -1 : x->status > y->status;
	return c;
}

struct report_line {
	const struct um_row *first;
	uint64_t requests, prompt, completion;
	strbuf errors;     /* "429:3 502:1", or JSON members */
};

static void line_flush(const struct report_line *l, bool json, bool *first_out, strbuf *out)
{
	char day[16];
	um_format_day(l->first->day, day, sizeof day);
	if (json) {
		sb_puts(out, *first_out ? "\n" : ",\n");
		sb_printf(out, "{\"day\":\"%s\",\"key\":", day);
		sb_json_str(out, l->first->key, strlen(l->first->key));
		sb_puts(out, ",\"model\":");
		sb_json_str(out, l->first->model, strlen(l->first->model));
		sb_printf(out, ",\"requests\":%llu,\"prompt_tokens\":%llu,\"completion_tokens\":%llu,\"errors\":{%s}}",
			  (unsigned long long)l->requests, (unsigned long long)l->prompt,
			  (unsigned long long)l->completion, sb_str(&l->errors));
	} else {
		sb_printf(out, "%-10s  %-24s  %-24s  %9llu  %12llu  %12llu  %s\n", day,
			  *l->first->key ? l->first->key : "-", *l->first->model ? l->first->model : "-",
			  (unsigned long long)l->requests, (unsigned long long)l->prompt,
			  (unsigned long long)l->completion, l->errors.len ? sb_str(&l->errors) : "-");
	}
	*first_out = false;
}

void um_report(const struct um_row *rows, size_t n, int32_t since, bool json, strbuf *out)
{
	const struct um_row **sel = xmalloc((n ? n : 1) * sizeof *sel);
	size_t k = 0;
	bool first = true;
	for (size_t i = 0; i < n; i++)
		if (rows[i].kind == UM_DETAIL && rows[i].day >= since)
			sel[k++] = &rows[i];
	qsort(sel, k, sizeof *sel, by_day_key_model);
	if (json)
		sb_putc(out, '[');
	else
		sb_printf(out, "%-10s  %-24s  %-24s  %9s  %12s  %12s  %s\n", "DAY", "KEY", "MODEL", "REQUESTS",
			  "PROMPT", "COMPLETION", "ERRORS");
	struct report_line l = { NULL, 0, 0, 0, STRBUF_INIT };
	for (size_t i = 0; i <= k; i++) {
		const struct um_row *r = i < k ? sel[i] : NULL;
		if (l.first && (!r || r->day != l.first->day || strcmp(r->key, l.first->key) != 0 ||
				strcmp(r->model, l.first->model) != 0)) {
			line_flush(&l, json, &first, out);
			l.first = NULL;
		}
		if (!r)
			break;
		if (!l.first) {
			l.first = r;
			l.requests = l.prompt = l.completion = 0;
			sb_reset(&l.errors);
		}
		l.requests += r->requests;
		l.prompt += r->prompt_tokens;
		l.completion += r->completion_tokens;
		if (r->status >= 400) {
			/* rows of one status are adjacent (sorted), but the same status
			 * may come from several routes: sum them into one entry */
			uint64_t count = r->requests;
			while (i + 1 < k && sel[i + 1]->status == r->status && sel[i + 1]->day == r->day &&
			       strcmp(sel[i + 1]->key, r->key) == 0 && strcmp(sel[i + 1]->model, r->model) == 0) {
				i++;
				count += sel[i]->requests;
				l.requests += sel[i]->requests;
				l.prompt += sel[i]->prompt_tokens;
				l.completion += sel[i]->completion_tokens;
			}
			if (json)
				sb_printf(&l.errors, "%s\"%d\":%llu", l.errors.len ? "," : "",
					  r->status, (unsigned long long)count);
			else
				sb_printf(&l.errors, "%s%d:%llu", l.errors.len ? " " : "", r->status,
					  (unsigned long long)count);
		}
	}
	if (json)
		sb_puts(out, first ? "]\n" : "\n]\n");
	sb_free(&l.errors);
	free(sel);
}
