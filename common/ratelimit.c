/* ratelimit.c: per-key request limits shared by all workers through one file */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap */
#endif
#include "ratelimit.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "state_file.h"
#include "xalloc.h"

/*
 * Why a lock-free table rather than fcntl locks: a check is a handful of
 * loads and one compare-and-swap, no system call, so it stays far under a
 * microsecond, and a worker killed in the middle of one leaves nothing
 * locked. Each slot is a (tag, tat) pair swapped as one 16-byte unit
 * (cmpxchg16b), so a key and its state always change together and a slot
 * taken over by another key can never receive a stale update.
 *
 * The tag holds 44 bits of a keyed hash (SipHash-2-4 with a random per-file
 * seed, so colliding keys cannot be computed from outside) and the key's
 * per_minute in its low 20 bits, which both tells how to read the tat (ticks
 * of 1/per_minute ms) and keeps 0 free to mean "empty".
 *
 * Eviction: a key is looked for in the RL_WINDOW slots from its home. A slot
 * that is empty or whose key is fully replenished (tat <= now) is free: its
 * key would be treated exactly like a fresh one. When the window holds live
 * keys only, the one closest to replenished is evicted, so the loss is the
 * smallest possible: that key forgets at most the requests of its last
 * reset_ms. Linear probing over a window of 32 at half load (8192 live
 * keys in 16384 slots) loses none in practice; at full load (16384 keys in
 * one minute) about 1 in 13 is forgotten.
 *
 * The file is initialised under flock(), which belongs to the open file
 * description: unlike POSIX record locks it is not dropped when the process
 * closes some other descriptor of the file, and the kernel drops it when a
 * holder dies. The file only ever grows (ftruncate while creating or
 * repairing), so our own code never shrinks it under a live mapping. If
 * someone else truncates it, the first load from a lost page raises SIGBUS,
 * which the check catches (see "surviving a file that shrinks") to rebuild
 * the file in place; if someone deletes or replaces it, the next look at
 * the path (once per second of `now`) moves every process to the file now
 * there, so all of them count in one file again.
 */

#define RL_MAGIC   0x314c5246414f0aULL /* "\nOAFRL1" little-endian, plus NUL */
#define RL_VERSION 1u
#define RL_NBITS   20                  /* bits of per_minute in a tag */

struct rl_header {
	uint64_t magic;
	uint32_t version;
	uint32_t capacity;
	uint64_t size;
	uint64_t seed[2];
	uint32_t window;
	uint32_t pad;
};

struct rl_slot {
	uint64_t tag;
	int64_t tat;
} __attribute__((aligned(16)));

_Static_assert(sizeof(struct rl_slot) == 16, "slot is one cmpxchg16b unit");
_Static_assert(sizeof(struct rl_header) <= RL_HEADER_SIZE, "header fits");
_Static_assert((RL_CAPACITY & (RL_CAPACITY - 1)) == 0, "capacity is a power of 2");
_Static_assert(RL_MAX_PER_MINUTE < (1L << RL_NBITS), "per_minute fits a tag");

/* ---- the arithmetic ---- */

/* ceil(ticks / n) for ticks >= 0, without the ticks + n - 1 that overflows
 * near INT64_MAX; 0 for ticks <= 0. */
static int64_t ticks_to_ms_ceil(int64_t ticks, long n)
{
	return ticks <= 0 ? 0 : ticks / n + (ticks % n != 0);
}

/* The bounds in ratelimit.h keep now + burst + interval within int64. */
_Static_assert(RL_MAX_NOW_MS * RL_MAX_PER_MINUTE + 60000LL * (RL_MAX_PER_MINUTE + 1) < INT64_MAX,
	       "now + burst + interval fits in ticks");

/* The tat comes from a file anyone with our uid can write, so it may hold
 * any value. Our own writes keep it in [0, now + burst] (an admission needs
 * next - burst <= now); a value above means a damaged slot or a clock that
 * stepped back, and is read as "key full": at most one minute to wait, not
 * centuries. Saturating here keeps every sum below within int64. */
static int64_t tat_saturate(int64_t tat, int64_t now, int64_t burst)
{
	if (tat < 0)
		return 0;
	return tat > now + burst ? now + burst : tat;
}

/* Units outstanding for a key whose (saturated) state is base >= now:
 * ceil((base - now) / interval), at most n. */
static long gcra_used(int64_t base, int64_t now, long n)
{
	int64_t ticks = base - now;
	return ticks <= 0 ? 0 : (long)(ticks / 60000 + (ticks % 60000 != 0));
}

bool rl_gcra_cost(int64_t *tat, int64_t now_ms, long per_minute, long cost, struct rl_result *r)
{
	const long n = per_minute;
	const int64_t now = now_ms * n;
	const int64_t interval = 60000;        /* 60000/n ms in ticks */
	const int64_t burst = 60000 * (int64_t)n;  /* n intervals */
	int64_t cur = tat_saturate(*tat, now, burst);
	int64_t base = cur > now ? cur : now;
	int64_t next = base + interval * (int64_t)cost;
	int64_t allow_at = next - burst;

	r->limit = n;
	r->used = gcra_used(base, now, n);
	if (now < allow_at) {
		*tat = cur;  /* a repaired value is kept, so the wait really ends */
		r->allowed = false;
		/* what is available, short of the cost (0 for a single request) */
		r->remaining = (long)((now - (base - burst)) / interval);
		r->reset_ms = ticks_to_ms_ceil(base - now, n);
		r->retry_after_ms = ticks_to_ms_ceil(allow_at - now, n);
		return false;
	}
	*tat = next;
	r->allowed = true;
	r->remaining = (long)((now - allow_at) / interval);
	r->reset_ms = ticks_to_ms_ceil(next - now, n);
	r->retry_after_ms = 0;
	return true;
}

bool rl_gcra(int64_t *tat, int64_t now_ms, long per_minute, struct rl_result *r)
{
	return rl_gcra_cost(tat, now_ms, per_minute, 1, r);
}

/* The state is linear in units, so a settlement is one addition: as if
 * the request had cost its real amount from the start. A tat below now
 * means the same as now (full), so a refund cannot make a key more than
 * full; the upper clamp is tat_saturate()'s one minute of debt. */
void rl_gcra_settle(int64_t *tat, int64_t now_ms, long per_minute, long delta, struct rl_result *r)
{
	const long n = per_minute;
	const int64_t now = now_ms * n;
	const int64_t burst = 60000 * (int64_t)n;
	int64_t cur = tat_saturate(*tat, now, burst);
	long d = delta > n ? n : delta < -n ? -n : delta;
	int64_t next = cur + 60000 * (int64_t)d;

	if (next < 0)
		next = 0;
	if (next > now + burst)
		next = now + burst;
	*tat = next;
	int64_t base = next > now ? next : now;
	r->allowed = true;
	r->limit = n;
	r->used = gcra_used(base, now, n);
	r->remaining = (long)((now - (base - burst)) / 60000);
	r->reset_ms = ticks_to_ms_ceil(base - now, n);
	r->retry_after_ms = 0;
}

/* ---- Go's time.Duration String(), millisecond precision ---- */

void rl_format_duration(int64_t ms, char *buf, size_t n)
{
	char tmp[48];
	char *p = tmp;
	uint64_t u = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;

	if (ms < 0)
		*p++ = '-';
	if (u == 0) {
		snprintf(buf, n, "0s");
		return;
	}
	if (u < 1000) {
		snprintf(p, sizeof tmp - 1, "%llums", (unsigned long long)u);
		snprintf(buf, n, "%s", tmp);
		return;
	}
	uint64_t h = u / 3600000, m = u / 60000 % 60, s = u / 1000 % 60, frac = u % 1000;
	if (h)
		p += sprintf(p, "%lluh", (unsigned long long)h);
	if (h || m)
		p += sprintf(p, "%llum", (unsigned long long)m);
	p += sprintf(p, "%llu", (unsigned long long)s);
	if (frac) {
		p += sprintf(p, ".%03llu", (unsigned long long)frac);
		while (p[-1] == '0')
			*--p = '\0';
	}
	strcpy(p, "s");
	snprintf(buf, n, "%s", tmp);
}

/* ---- keyed hash: SipHash-2-4 (libsodium's crypto_shorthash) ---- */

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
	unsigned char key[crypto_shorthash_KEYBYTES], out[crypto_shorthash_BYTES];
	uint64_t h;
	memcpy(key, &k0, 8);
	memcpy(key + 8, &k1, 8);
	crypto_shorthash(out, in, len, key);
	memcpy(&h, out, sizeof h);
	return h;
}

/* ---- slots ---- */

#if defined(__x86_64__)
#define RL_CAS16 __attribute__((target("cx16")))
#elif defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
#define RL_CAS16
#else
#error "ratelimit.c needs a 16-byte compare-and-swap"
#endif

typedef unsigned __int128 rl_u128;

static rl_u128 slot_pack(struct rl_slot s)
{
	rl_u128 v;
	memcpy(&v, &s, sizeof v);
	return v;
}

RL_CAS16 static bool slot_cas(struct rl_slot *p, struct rl_slot old, struct rl_slot new)
{
	return __sync_bool_compare_and_swap((rl_u128 *)p, slot_pack(old), slot_pack(new));
}

/* The two halves may come from different versions; slot_cas() then fails. */
static struct rl_slot slot_load(const struct rl_slot *p)
{
	struct rl_slot s;
	s.tag = __atomic_load_n(&p->tag, __ATOMIC_ACQUIRE);
	s.tat = __atomic_load_n(&p->tat, __ATOMIC_ACQUIRE);
	return s;
}

static long tag_limit(uint64_t tag)
{
	return (long)(tag & ((1u << RL_NBITS) - 1));
}

/* How long until the slot's key is fully replenished; <= 0 means free. Any
 * tat, even INT64_MIN or INT64_MAX from a damaged file, gives a result
 * without overflow. */
static int64_t slot_left_ms(struct rl_slot s, int64_t now_ms)
{
	long n = tag_limit(s.tag);
	if (s.tag == 0 || n == 0 || s.tat <= 0)
		return 0;
	return ticks_to_ms_ceil(s.tat, n) - now_ms;
}

/* ---- the file ---- */

static bool header_ok(const struct rl_header *h)
{
	return h->magic == RL_MAGIC && h->version == RL_VERSION &&
	       h->capacity == RL_CAPACITY && h->window == RL_WINDOW &&
	       h->size == RL_FILE_SIZE;
}

/* Why the file cannot be used as it is, or NULL. */
static const char *file_problem(int fd, const struct stat *st)
{
	struct rl_header h;

	if (st->st_size < RL_FILE_SIZE)
		return "shorter than the table";
	if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		return "unreadable header";
	if (h.magic != RL_MAGIC)
		return "bad magic";
	if (h.version != RL_VERSION)
		return "unknown version";
	if (!header_ok(&h))
		return "unexpected geometry";
	return NULL;
}

/* Empties the table and writes a fresh header, growing the file if needed
 * but never shrinking it (a shrink would SIGBUS live mappings). The magic is
 * written last so a half-built file never looks valid. Caller holds flock. */
static int file_build(int fd, const struct stat *st)
{
	static const unsigned char zeros[RL_CAPACITY * 16];
	struct rl_header h = { 0 };

	if (st->st_size < RL_FILE_SIZE && ftruncate(fd, RL_FILE_SIZE) < 0)
		return -1;
	if (sf_write_all(fd, &h.magic, sizeof h.magic, 0) < 0 ||
	    sf_write_all(fd, zeros, sizeof zeros, RL_HEADER_SIZE) < 0)
		return -1;
	if (getrandom(h.seed, sizeof h.seed, 0) != (ssize_t)sizeof h.seed)
		return -1;
	h.version = RL_VERSION;
	h.capacity = RL_CAPACITY;
	h.window = RL_WINDOW;
	h.size = RL_FILE_SIZE;
	if (sf_write_all(fd, &h, sizeof h, 0) < 0)
		return -1;
	h.magic = RL_MAGIC;
	return sf_write_all(fd, &h.magic, sizeof h.magic, 0);
}

/* Makes the file behind fd valid, rebuilding it if it is not; under flock so
 * that processes opening a fresh or broken file agree on one build. Warns
 * about a rebuild when warn is set and the file was not simply new (empty). */
static int file_prepare(int fd, const char *path, bool warn, char *err, size_t errlen)
{
	struct stat st;
	const char *why;
	int rc = 0;

	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "rate limit file %s: flock: %s", path, strerror(errno));
			return -1;
		}
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "rate limit file %s: fstat: %s", path, strerror(errno));
		rc = -1;
	} else if ((why = file_problem(fd, &st)) != NULL) {
		if (warn && st.st_size != 0)
			log_warn("rate limit file %s: %s, rebuilding it", path, why);
		if (file_build(fd, &st) < 0) {
			snprintf(err, errlen, "rate limit file %s: cannot build: %s",
				 path, strerror(errno));
			rc = -1;
		}
	}
	flock(fd, LOCK_UN);
	return rc;
}

/* ---- surviving a file that shrinks under the mapping ----
 *
 * Whoever truncates the file (`: > file`, a partial copy) makes every load
 * from the lost pages raise SIGBUS, and no check beforehand can close the
 * window between "the size is right" and the load. So the loads themselves
 * are guarded: a thread sets a recovery point (sigsetjmp without the signal
 * mask, no system call) before it touches the mapping and clears it after;
 * the handler jumps back there when the fault is in a mapping, and the
 * check repairs the file and tries again. Jumping out of the table code is
 * safe because it holds nothing: no lock, no allocation, only loads and
 * compare-and-swaps. The recovery point is thread-local because a SIGBUS
 * from a load goes to the thread that faulted. Any other SIGBUS goes to the
 * action that was installed before ours. */

struct rl_guard {
	sigjmp_buf env;
	const unsigned char *lo;    /* the mapping touched */
};

static _Thread_local struct rl_guard *volatile rl_active_guard;
static struct sigaction rl_prev_sigbus;
static pthread_mutex_t rl_sigbus_lock = PTHREAD_MUTEX_INITIALIZER;

static void rl_on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct rl_guard *g = rl_active_guard;
	const unsigned char *addr = si ? si->si_addr : NULL;

	if (g && si && si->si_code > 0 && addr >= g->lo && addr < g->lo + RL_FILE_SIZE) {
		rl_active_guard = NULL;
		siglongjmp(g->env, 1);
	}
	/* Not ours: the previous action, or the default one (the load runs
	 * again on return and faults into it; a sent signal is raised again). */
	if ((rl_prev_sigbus.sa_flags & SA_SIGINFO) && rl_prev_sigbus.sa_sigaction) {
		rl_prev_sigbus.sa_sigaction(sig, si, uc);
		return;
	}
	if (rl_prev_sigbus.sa_handler != SIG_DFL && rl_prev_sigbus.sa_handler != SIG_IGN) {
		rl_prev_sigbus.sa_handler(sig);
		return;
	}
	signal(sig, SIG_DFL);
	if (!si || si->si_code <= 0)
		raise(sig);
}

/* Installs the handler unless it is the one in place, keeping the action it
 * replaces for faults that are not ours. At every rl_open(), so that a
 * handler someone installed since (a test framework) does not hide ours. */
static void rl_install_sigbus(void)
{
	struct sigaction sa, cur;

	pthread_mutex_lock(&rl_sigbus_lock);
	if (sigaction(SIGBUS, NULL, &cur) == 0 &&
	    !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == rl_on_sigbus)) {
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = rl_on_sigbus;
		sigemptyset(&sa.sa_mask);
		/* SA_NODEFER: leaving the handler by siglongjmp without restoring
		 * the mask must not leave SIGBUS blocked, or the next fault kills. */
		sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
		if (sigaction(SIGBUS, &sa, &rl_prev_sigbus) < 0)
			log_warn("rate limit: cannot catch SIGBUS: %s", strerror(errno));
	}
	pthread_mutex_unlock(&rl_sigbus_lock);
}

/* ---- the store ---- */

#ifndef RL_STAT_INTERVAL_MS
/* How often (in the caller's ms) the store checks that path still names the
 * file it maps and that the file kept its size. Measured with
 * bench/rl_bench.c (built with -DRL_STAT_INTERVAL_MS=0 for the per-check
 * variant): fstat + lstat on every check gave 0.6-1.1 M checks/s, once a
 * second 8-9 M/s, as fast as without them. Truncation does not wait for
 * it: the SIGBUS guard catches it on the first load. */
#define RL_STAT_INTERVAL_MS 1000
#endif
/* Repairs one check may attempt before it gives up and returns -1. */
#define RL_MAX_REPAIRS 3

struct rl_store {
	int fd;                    /* dup2'd over when path names a new file */
	char *path;
	unsigned char *map;        /* fixed address: mremap puts a new file there */
	struct rl_header *hdr;
	struct rl_slot *slots;
	int64_t next_stat_ms;      /* atomic; when to stat again */
	pthread_mutex_t repair_lock;  /* one repair or move at a time; guards below */
	dev_t dev;                 /* the file mapped */
	ino_t ino;
	int64_t refused_until_ms;  /* a move was refused: not retried before */
	bool refusal_logged;       /* ... and said so, once until a move succeeds */
	uint64_t seed;             /* atomic; header seed[0] of the table we last built or saw */
};

/* The table's seed as the file holds it now, read without the mapping;
 * a rebuild draws a new one, which is how a process learns that another
 * one rebuilt the file. */
static uint64_t file_seed(int fd)
{
	uint64_t seed = 0;
	if (pread(fd, &seed, sizeof seed, offsetof(struct rl_header, seed)) != (ssize_t)sizeof seed)
		return 0;
	return seed;
}

static int map_file(int fd, void **map, const char *path, char *err, size_t errlen)
{
	void *m = mmap(NULL, RL_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "rate limit file %s: mmap: %s", path, strerror(errno));
		return -1;
	}
	*map = m;
	return 0;
}

int rl_open(const char *path, rl_store **out, char *errbuf, size_t errlen)
{
	int fd = sf_open(path, "rate limit file", NULL, errbuf, errlen);
	struct stat st;
	void *map;

	if (fd < 0)
		return -1;
	if (file_prepare(fd, path, true, errbuf, errlen) < 0 ||
	    map_file(fd, &map, path, errbuf, errlen) < 0) {
		close(fd);
		return -1;
	}
	rl_install_sigbus();
	rl_store *s = xcalloc(1, sizeof *s);
	s->fd = fd;
	s->path = xstrdup(path);
	s->map = map;
	s->hdr = map;
	s->slots = (struct rl_slot *)(s->map + RL_HEADER_SIZE);
	if (fstat(fd, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	s->seed = file_seed(fd);
	pthread_mutex_init(&s->repair_lock, NULL);
	*out = s;
	return 0;
}

void rl_close(rl_store *s)
{
	if (!s)
		return;
	munmap(s->map, RL_FILE_SIZE);
	close(s->fd);
	pthread_mutex_destroy(&s->repair_lock);
	free(s->path);
	free(s);
}

/* Maps the file path names now in place of the old one, at the same address
 * and under the same descriptor number (mremap, dup2), so threads in the middle of a check
 * need no lock: their next load reads the new file (a compare-and-swap
 * prepared from the old one fails, or counts the request in the new file).
 * The old file was deleted or replaced: its counts are gone for every new
 * process, so they must be gone for us too, or a key gets its limit twice.
 * Caller holds repair_lock. */
static int store_move(rl_store *s, int64_t now_ms)
{
	char err[256];
	struct stat st;
	void *map;
	int fd;

	if (now_ms < s->refused_until_ms)
		return -1;
	fd = sf_open(s->path, "rate limit file", NULL, err, sizeof err);
	if (fd >= 0 && (fstat(fd, &st) < 0 || file_prepare(fd, s->path, true, err, sizeof err) < 0 ||
			map_file(fd, &map, s->path, err, sizeof err) < 0)) {
		close(fd);
		fd = -1;
	}
	/* Mapped elsewhere first, then moved over the old mapping in one call:
	 * on failure the old one is still there, never a hole. */
	if (fd >= 0 && mremap(map, RL_FILE_SIZE, RL_FILE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
			      s->map) == MAP_FAILED) {
		snprintf(err, sizeof err, "rate limit file %s: mremap: %s", s->path, strerror(errno));
		munmap(map, RL_FILE_SIZE);
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		/* Keep counting in the old file; retry once a second, say so once. */
		s->refused_until_ms = now_ms + RL_STAT_INTERVAL_MS;
		if (!s->refusal_logged)
			log_error("%s; still counting in the file that was there", err);
		s->refusal_logged = true;
		return -1;
	}
	s->refusal_logged = false;
	__atomic_store_n(&s->seed, file_seed(fd), __ATOMIC_RELAXED);
	if (dup2(fd, s->fd) < 0) {
		/* Cannot happen with a valid s->fd; the mapping is the new file's
		 * anyway, so only later size checks would look at the old one. */
		log_error("rate limit file %s: dup2: %s", s->path, strerror(errno));
	}
	close(fd);
	log_warn("rate limit file %s: deleted or replaced while in use; counting "
		 "continues in the file now at that path", s->path);
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
}

/* Whether the file is still the one path names, at its full size. Without
 * a lock: a stale answer only brings the locked recheck in store_sync(). */
static bool store_intact(rl_store *s, const struct stat *fd_st, const struct stat *path_st,
			 int path_rc)
{
	return fd_st->st_nlink > 0 && path_rc == 0 &&
	       path_st->st_dev == s->dev && path_st->st_ino == s->ino &&
	       fd_st->st_size >= RL_FILE_SIZE;
}

/* Looks at the file behind the mapping (when due, or now when force) and
 * repairs or moves: a shrunk file is rebuilt in place (every process maps
 * that inode, so counting goes on in one file), a deleted or replaced one
 * is left for the file at path. A damaged header is repaired too. Each
 * process logs a warning the first time it sees a given damage. */
static int store_sync(rl_store *s, int64_t now_ms, bool force)
{
	int64_t next = __atomic_load_n(&s->next_stat_ms, __ATOMIC_RELAXED);
	struct stat fd_st, path_st;
	int rc = 0;

	if (!force && !(now_ms >= next &&
			__atomic_compare_exchange_n(&s->next_stat_ms, &next,
						    now_ms + RL_STAT_INTERVAL_MS, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED)))
		return 0;
	if (fstat(s->fd, &fd_st) < 0) {
		log_error("rate limit file %s: fstat: %s", s->path, strerror(errno));
		return -1;
	}
	int path_rc = lstat(s->path, &path_st);
	if (!force && store_intact(s, &fd_st, &path_st, path_rc))
		return 0;

	pthread_mutex_lock(&s->repair_lock);
	/* Again under the lock: another thread may have fixed it meanwhile. */
	if (fstat(s->fd, &fd_st) < 0) {
		rc = -1;
	} else if ((path_rc = lstat(s->path, &path_st)) != 0 || fd_st.st_nlink == 0 ||
		   path_st.st_dev != s->dev || path_st.st_ino != s->ino) {
		rc = store_move(s, now_ms);
	} else {
		const char *why = file_problem(s->fd, &fd_st);
		char err[256];
		if (why) {
			log_warn("rate limit file %s: %s while in use, rebuilding it "
				 "(its counts are lost)", s->path, why);
			rc = file_prepare(s->fd, s->path, false, err, sizeof err);
			if (rc < 0)
				log_error("%s", err);
			else
				__atomic_store_n(&s->seed, file_seed(s->fd), __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&s->repair_lock);
	return rc;
}

/* ---- the check ---- */

/* Takes slot i (holding old) for tag, unless a copy of the key appeared
 * earlier in the window meanwhile (two processes inserting the same key at
 * once): then ours is withdrawn and the caller retries, so one copy counts.
 * Returns 1 when done, 0 to retry. */
static int slot_insert(struct rl_slot *win[], int i, struct rl_slot old,
		       struct rl_slot new)
{
	if (!slot_cas(win[i], old, new))
		return 0;
	for (int j = 0; j < i; j++) {
		if (__atomic_load_n(&win[j]->tag, __ATOMIC_ACQUIRE) == new.tag)
			return slot_cas(win[i], new, old) ? 0 : 1;
	}
	return 1;
}

/* What one pass does to the key's slot: count a cost, or settle one. */
struct rl_op {
	long cost;      /* check: units asked for */
	long delta;     /* settle: real - admitted units */
	bool settle;
};

static void op_apply(const struct rl_op *op, int64_t *tat, int64_t now_ms, long n, struct rl_result *r)
{
	if (op->settle)
		rl_gcra_settle(tat, now_ms, n, op->delta, r);
	else
		rl_gcra_cost(tat, now_ms, n, op->cost, r);
}

/* One pass over the window; 1 when the request was counted, 0 to retry. */
static int check_once(struct rl_slot *win[], uint64_t tag, long n,
		      int64_t now_ms, const struct rl_op *op, struct rl_result *r)
{
	int victim = -1;
	int64_t victim_left = INT64_MAX;
	struct rl_slot victim_old = { 0, 0 };

	for (int i = 0; i < RL_WINDOW; i++) {
		struct rl_slot cur = slot_load(win[i]);
		if (cur.tag == tag) {
			struct rl_slot new = cur;
			op_apply(op, &new.tat, now_ms, n, r);
			/* also when denied: it proves tag and tat were read together */
			return slot_cas(win[i], cur, new);
		}
		/* the first free slot, else the live key closest to replenished */
		int64_t left = slot_left_ms(cur, now_ms);
		if (left < 0)
			left = 0;
		if (left < victim_left) {
			victim = i;
			victim_left = left;
			victim_old = cur;
		}
	}
	if (op->settle) {
		/* evicted: its state is gone, a fresh key is full */
		int64_t fresh = 0;
		rl_gcra_settle(&fresh, now_ms, n, 0, r);
		return 1;
	}
	struct rl_slot new = { tag, 0 };
	op_apply(op, &new.tat, now_ms, n, r);
	return slot_insert(win, victim, victim_old, new);
}

enum mapped_outcome { MAPPED_COUNTED, MAPPED_DAMAGED, MAPPED_REBUILT };

/* The part of a check that touches the mapping, run under the SIGBUS guard:
 * nothing here may lock, allocate or log. MAPPED_COUNTED: *r is filled;
 * MAPPED_DAMAGED: the header is not ours (the caller repairs it);
 * MAPPED_REBUILT: another process rebuilt the file, a new seed in *seed. */
static enum mapped_outcome check_mapped(rl_store *s, const char *key, size_t keylen,
					long per_minute, int64_t now_ms, const struct rl_op *op,
					struct rl_result *r, uint64_t *seed)
{
	struct rl_slot *win[RL_WINDOW];

	if (__atomic_load_n(&s->hdr->magic, __ATOMIC_ACQUIRE) != RL_MAGIC || !header_ok(s->hdr))
		return MAPPED_DAMAGED;
	/* per_minute is part of the hash key: each limit has its own slot */
	uint64_t k0 = __atomic_load_n(&s->hdr->seed[0], __ATOMIC_RELAXED);
	if (k0 != __atomic_load_n(&s->seed, __ATOMIC_RELAXED)) {
		*seed = k0;
		return MAPPED_REBUILT;
	}
	uint64_t k1 = __atomic_load_n(&s->hdr->seed[1], __ATOMIC_RELAXED);
	uint64_t h = siphash(k0, k1 ^ (uint64_t)per_minute, (const unsigned char *)key, keylen);
	uint64_t tag = (h & ~(uint64_t)((1u << RL_NBITS) - 1)) | (uint64_t)per_minute;
	for (int i = 0; i < RL_WINDOW; i++)
		win[i] = &s->slots[(h + (uint64_t)i) & (RL_CAPACITY - 1)];
	while (!check_once(win, tag, per_minute, now_ms, op, r))
		;
	return MAPPED_COUNTED;
}

/* Every process says once that its counts were lost, not only the one
 * that happened to rebuild: the first thread to see the new seed. */
static void note_rebuilt_elsewhere(rl_store *s, uint64_t seed)
{
	uint64_t old = __atomic_load_n(&s->seed, __ATOMIC_RELAXED);
	if (old != seed && __atomic_compare_exchange_n(&s->seed, &old, seed, false,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		log_warn("rate limit file %s: rebuilt by another process while in use "
			 "(its counts are lost)", s->path);
}

/* Someone keeps damaging the file faster than one check can repair it. */
static bool give_up(rl_store *s, int repairs)
{
	if (repairs <= RL_MAX_REPAIRS)
		return false;
	log_error("rate limit file %s: still damaged after %d repairs; this request is not counted",
		  s->path, RL_MAX_REPAIRS);
	return true;
}

/* rl_check(), rl_check_cost() and rl_settle(): the guarded pass over the
 * mapping, repairing the file when it needs it. */
static int store_apply(rl_store *s, const char *key, size_t keylen, long per_minute,
		       const struct rl_op *op, int64_t now_ms, struct rl_result *r)
{
	struct rl_guard guard = { .lo = s->map };
	struct rl_result res;
	volatile int repairs = 0;  /* kept across the jump back */
	enum mapped_outcome got;
	uint64_t seed = 0;

	if (per_minute < 1 || per_minute > RL_MAX_PER_MINUTE ||
	    now_ms < 0 || now_ms > RL_MAX_NOW_MS)
		return -1;
	if (store_sync(s, now_ms, false) < 0)
		return -1;
	if (sigsetjmp(guard.env, 0) != 0) {
		/* A load hit a page the file no longer has. */
		if (give_up(s, ++repairs) || store_sync(s, now_ms, true) < 0)
			return -1;
	}
	for (;;) {
		rl_active_guard = &guard;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		got = check_mapped(s, key, keylen, per_minute, now_ms, op, &res, &seed);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		rl_active_guard = NULL;
		if (got == MAPPED_COUNTED)
			break;
		if (give_up(s, ++repairs))
			return -1;
		if (got == MAPPED_REBUILT)
			note_rebuilt_elsewhere(s, seed);
		else if (store_sync(s, now_ms, true) < 0)
			return -1;
	}
	*r = res;
	return 0;
}

int rl_check(rl_store *s, const char *key, size_t keylen, long per_minute,
	     int64_t now_ms, struct rl_result *r)
{
	return rl_check_cost(s, key, keylen, per_minute, 1, now_ms, r);
}

int rl_check_cost(rl_store *s, const char *key, size_t keylen, long per_minute, long cost,
		  int64_t now_ms, struct rl_result *r)
{
	struct rl_op op = { .cost = cost };
	if (cost < 0 || cost > per_minute)
		return -1;
	return store_apply(s, key, keylen, per_minute, &op, now_ms, r);
}

int rl_settle(rl_store *s, const char *key, size_t keylen, long per_minute, long delta,
	      int64_t now_ms, struct rl_result *r)
{
	struct rl_op op = { .delta = delta, .settle = true };
	return store_apply(s, key, keylen, per_minute, &op, now_ms, r);
}
