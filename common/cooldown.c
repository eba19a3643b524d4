/* cooldown.c: which upstream deployments are cooling down, shared by every process of the host through one file */
#include "cooldown.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis_store.h"
#include "state_file.h"
#include "xalloc.h"

/* ---- the pure rules ---- */

bool cd_cooling(const struct cd_state *s, int64_t now_ms)
{
	return s->until_ms > now_ms;
}

static int64_t capped(int64_t ms)
{
	return ms < 0 ? 0 : ms > CD_MAX_COOL_MS ? CD_MAX_COOL_MS : ms;
}

void cd_fail(struct cd_state *s, int64_t now_ms, long k, int64_t cool_ms, int64_t retry_ms)
{
	if (s->failures < UINT32_MAX)
		s->failures++;
	if (k < 1)
		k = 1;
	int64_t until = s->until_ms > now_ms ? s->until_ms : 0;
	if (cool_ms > 0 && s->failures >= (uint64_t)k && now_ms + capped(cool_ms) > until)
		until = now_ms + capped(cool_ms);
	if (retry_ms >= 0 && now_ms + capped(retry_ms) > until)
		until = now_ms + capped(retry_ms);
	s->until_ms = until;
}

void cd_succeed(struct cd_state *s)
{
	s->failures = 0;
	s->until_ms = 0;
}

uint64_t cd_key(const char *base_url, const char *model)
{
	/* FNV-1a: the inputs are our own config, not an attacker's */
	uint64_t h = 14695981039346656037ULL;
	for (const char *p = base_url; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '\n') * 1099511628211ULL;
	for (const char *p = model; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h ? h : 1;
}

/* ---- the file ---- */

/* A slot as stored: check is a mix of the rest, so that a torn read, a
 * foreign file or stray bytes are never taken for a record. */
struct cd_slot {
	uint64_t key;         /* 0: free */
	int64_t until_ms;
	uint32_t failures;
	uint32_t zero;
	uint64_t check;
};

#define CD_HEADER_SIZE 64
#define CD_FILE_SIZE   (CD_HEADER_SIZE + CD_SLOTS * (off_t)sizeof(struct cd_slot))
#define CD_MAGIC       "OAFCOOL1"
#define STAT_EVERY_MS  1000

struct cd_store {
	char *path;
	int fd;                     /* never changes: a new file is dup3()ed onto it */
	dev_t dev;
	ino_t ino;
	pthread_mutex_t lock;       /* writers of this process; the fcntl lock is per process */
	int64_t next_stat_ms;       /* under lock: when a read checks the path again */
	rs_store *shared;           /* STATE_BACKEND=redis: the records live there */
};

static uint64_t slot_check(const struct cd_slot *s)
{
	uint64_t h = s->key * 0x9e3779b97f4a7c15ULL;
	h ^= (uint64_t)s->until_ms * 0xc2b2ae3d27d4eb4fULL;
	h ^= ((uint64_t)s->failures << 32 | s->zero) * 0x165667b19e3779f9ULL;
	return h ^ 0x4f4146434f4f4c31ULL;  /* "OAFCOOL1" */
}

static bool slot_valid(const struct cd_slot *s, int64_t now_ms)
{
	return s->key != 0 && s->zero == 0 && s->check == slot_check(s) && s->until_ms >= 0 &&
	       s->until_ms <= now_ms + CD_MAX_COOL_MS;
}

/* The first of the key's window; windows do not wrap. */
static size_t home(uint64_t key)
{
	return (size_t)(key % (CD_SLOTS - CD_WINDOW + 1));
}

static off_t slot_offset(size_t i)
{
	return CD_HEADER_SIZE + (off_t)i * (off_t)sizeof(struct cd_slot);
}

/* Reads the key's window; what lies past a truncated end reads as free. */
static void read_window(int fd, uint64_t key, struct cd_slot win[CD_WINDOW])
{
	memset(win, 0, CD_WINDOW * sizeof win[0]);
	size_t want = CD_WINDOW * sizeof win[0], got = 0;
	while (got < want) {
		ssize_t r = pread(fd, (char *)win + got, want - got, slot_offset(home(key)) + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	/* a partly read slot is garbage, and slot_valid() will say so */
}

/* Takes or drops the whole-file write lock (per process: the mutex is
 * what keeps this process's threads apart). */
static int file_lock(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	while (fcntl(fd, F_SETLKW, &fl) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Under the lock: makes the header say what the file is and the file as
 * long as the table. A fresh, truncated or foreign file is (re)made
 * empty; a valid one is left alone. */
static int file_prepare(int fd, const char *path)
{
	char magic[8] = { 0 };
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size == CD_FILE_SIZE && pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
	    memcmp(magic, CD_MAGIC, 8) == 0)
		return 0;
	if (st.st_size != 0)
		log_warn("cooldown file %s: %s, emptying it", path,
			 st.st_size < CD_FILE_SIZE ? "truncated" : "not ours");
	static const char zeros[CD_FILE_SIZE];
	if (ftruncate(fd, CD_FILE_SIZE) < 0 || sf_write_all(fd, zeros, sizeof zeros, 0) < 0)
		return -1;
	return sf_write_all(fd, CD_MAGIC, 8, 0);
}

/* The path still names our file? If not (deleted, replaced), opens the
 * one there now. Caller holds s->lock. */
static void follow_path(cd_store *s)
{
	struct stat st;
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		return;
	char err[256];
	int fd = sf_open(s->path, "cooldown file", &st, err, sizeof err);
	if (fd < 0) {
		log_warn("%s; keeping the file already open", err);
		return;
	}
	/* the new file takes the old one's descriptor at once: a thread
	 * reading without the lock sees one file or the other, never a
	 * descriptor closed under it or reused for something else */
	if (dup3(fd, s->fd, O_CLOEXEC) < 0) {
		log_warn("cooldown file %s: deleted or replaced, and cannot be reopened: %s", s->path,
			 strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	log_warn("cooldown file %s: deleted or replaced, reopened", s->path);
	s->dev = st.st_dev;
	s->ino = st.st_ino;
}

int cd_open(const char *path, cd_store **out, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd = sf_open(path, "cooldown file", &st, errbuf, errlen);
	if (fd < 0)
		return -1;
	if (file_lock(fd, F_WRLCK) < 0 || file_prepare(fd, path) < 0) {
		snprintf(errbuf, errlen, "cooldown file %s: cannot be prepared: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	file_lock(fd, F_UNLCK);
	cd_store *s = xcalloc(1, sizeof *s);
	s->path = xstrdup(path);
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void cd_close(cd_store *s)
{
	if (!s)
		return;
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cd_share(cd_store *s, struct rs_store *r)
{
	if (s)
		s->shared = r;
}

/* Redis failed: said at most once a minute per process. */
static void shared_failed(const char *what, const char *why)
{
	static int64_t last;
	int64_t now = mono_ms(), seen = __atomic_load_n(&last, __ATOMIC_RELAXED);
	if ((seen == 0 || now - seen >= 60000) &&
	    __atomic_compare_exchange_n(&last, &seen, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		log_warn("upstream cooldowns in Redis: %s: %s (said once a minute)", what, why);
}

static struct cd_state shared_get(cd_store *s, uint64_t key, int64_t now_ms)
{
	struct cd_state st = { 0, 0 };
	char err[256];
	if (rs_cooldown_get(s->shared, key, &st, err, sizeof err) != 0) {
		shared_failed("not read, so no deployment is left alone", err);
		st = (struct cd_state){ 0, 0 };
	}
	if (st.until_ms > now_ms + CD_MAX_COOL_MS)
		st = (struct cd_state){ 0, 0 };  /* as a slot the file would not trust */
	return st;
}

struct shared_op {
	int64_t now_ms, cool_ms, retry_ms;
	long k;
	bool succeeded;
};

/* cd_record()'s rules on the record Redis holds: a success of a key with
 * no record writes nothing. */
static bool shared_apply(struct cd_state *st, void *arg)
{
	const struct shared_op *op = arg;
	if (st->until_ms > op->now_ms + CD_MAX_COOL_MS)
		*st = (struct cd_state){ 0, 0 };
	if (op->succeeded) {
		bool had = st->failures || st->until_ms;
		cd_succeed(st);
		st->until_ms = 0;
		return had;
	}
	cd_fail(st, op->now_ms, op->k, op->cool_ms, op->retry_ms);
	return true;
}

struct cd_state cd_get(cd_store *s, uint64_t key, int64_t now_ms)
{
	struct cd_state st = { 0, 0 };
	if (!s)
		return st;
	if (s->shared)
		return shared_get(s, key, now_ms);
	/* A reader notices a deleted file within a second, without a stat
	 * per request; a thread that finds the lock taken just reads on. */
	if (pthread_mutex_trylock(&s->lock) == 0) {
		int64_t t = mono_ms();
		if (t >= s->next_stat_ms) {
			s->next_stat_ms = t + STAT_EVERY_MS;
			follow_path(s);
		}
		pthread_mutex_unlock(&s->lock);
	}
	struct cd_slot win[CD_WINDOW];
	read_window(s->fd, key, win);
	for (size_t i = 0; i < CD_WINDOW; i++)
		if (win[i].key == key && slot_valid(&win[i], now_ms)) {
			st.failures = win[i].failures;
			st.until_ms = win[i].until_ms;
			break;
		}
	return st;
}

/* Where key goes in its window: its own slot, else a free or invalid one,
 * else the one of least use (not cooling, fewest failures). */
static size_t pick_slot(const struct cd_slot win[CD_WINDOW], uint64_t key, int64_t now_ms)
{
	size_t best = 0;
	for (size_t i = 0; i < CD_WINDOW; i++)
		if (win[i].key == key && slot_valid(&win[i], now_ms))
			return i;
	for (size_t i = 0; i < CD_WINDOW; i++)
		if (!slot_valid(&win[i], now_ms))
			return i;
	for (size_t i = 1; i < CD_WINDOW; i++) {
		bool cool_i = win[i].until_ms > now_ms, cool_b = win[best].until_ms > now_ms;
		if (cool_i != cool_b ? !cool_i : win[i].failures < win[best].failures)
			best = i;
	}
	return best;
}

int cd_record(cd_store *s, uint64_t key, int64_t now_ms, bool succeeded, long k, int64_t cool_ms,
	      int64_t retry_ms, struct cd_state *out)
{
	if (!s)
		return 0;
	if (s->shared) {
		struct shared_op op = { now_ms, cool_ms, retry_ms, k, succeeded };
		struct cd_state st;
		char err[256];
		/* kept a day past its cooldown, so failures in a row still add up */
		if (rs_cooldown_update(s->shared, key, shared_apply, &op, CD_MAX_COOL_MS, &st, err, sizeof err) != 0) {
			shared_failed("a deployment's failure or success is not remembered", err);
			return -1;
		}
		if (out)
			*out = st;
		return 0;
	}
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	follow_path(s);
	s->next_stat_ms = mono_ms() + STAT_EVERY_MS;
	if (file_lock(s->fd, F_WRLCK) < 0 || file_prepare(s->fd, s->path) < 0) {
		log_warn("cooldown file %s: cannot be written: %s", s->path, strerror(errno));
		file_lock(s->fd, F_UNLCK);
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	struct cd_slot win[CD_WINDOW];
	read_window(s->fd, key, win);
	size_t i = pick_slot(win, key, now_ms);
	struct cd_state st = { 0, 0 };
	bool mine = win[i].key == key && slot_valid(&win[i], now_ms);
	if (mine) {
		st.failures = win[i].failures;
		st.until_ms = win[i].until_ms;
	}
	if (succeeded)
		cd_succeed(&st);
	else
		cd_fail(&st, now_ms, k, cool_ms, retry_ms);
	if (!succeeded || mine) {
		struct cd_slot slot = { key, st.until_ms, st.failures, 0, 0 };
		if (succeeded)
			slot.key = 0;  /* nothing left to remember: the slot is free again */
		slot.check = slot_check(&slot);
		if (sf_write_all(s->fd, &slot, sizeof slot, slot_offset(home(key) + i)) < 0) {
			log_warn("cooldown file %s: cannot be written: %s", s->path, strerror(errno));
			rc = -1;
		}
	}
	file_lock(s->fd, F_UNLCK);
	pthread_mutex_unlock(&s->lock);
	if (out)
		*out = st;
	return rc;
}
