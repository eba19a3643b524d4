/* ratelimit.c: per-key request limits shared by all workers through one file */
#include "ratelimit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
 * repairing), so our own code never shrinks it under a live mapping; if
 * someone else truncates it, the next check that sees the short size (fstat
 * once per second of `now`) grows and rebuilds it before touching the table.
 */

#define RL_MAGIC   0x314c5246414f0aULL /* "\nOAFRL1" little-endian, plus NUL */
#define RL_VERSION 1u
#define RL_NBITS   20                  /* bits of per_minute in a tag */
#define RL_STAT_INTERVAL_MS 1000

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

struct rl_store {
	int fd;
	char *path;
	unsigned char *map;
	struct rl_header *hdr;
	struct rl_slot *slots;
	int64_t next_stat_ms;      /* atomic; when to fstat again */
	pthread_mutex_t repair_lock;
};

_Static_assert(sizeof(struct rl_slot) == 16, "slot is one cmpxchg16b unit");
_Static_assert(sizeof(struct rl_header) <= RL_HEADER_SIZE, "header fits");
_Static_assert((RL_CAPACITY & (RL_CAPACITY - 1)) == 0, "capacity is a power of 2");
_Static_assert(RL_MAX_PER_MINUTE < (1L << RL_NBITS), "per_minute fits a tag");

/* ---- the arithmetic ---- */

static int64_t ticks_to_ms_ceil(int64_t ticks, long n)
{
	return ticks <= 0 ? 0 : (ticks + n - 1) / n;
}

bool rl_gcra(int64_t *tat, int64_t now_ms, long per_minute, struct rl_result *r)
{
	const long n = per_minute;
	const int64_t now = now_ms * n;
	const int64_t interval = 60000;        /* 60000/n ms in ticks */
	const int64_t burst = 60000 * (int64_t)n;  /* n intervals */
	int64_t base = *tat > now ? *tat : now;
	int64_t next = base + interval;
	int64_t allow_at = next - burst;

	r->limit = n;
	if (now < allow_at) {
		r->allowed = false;
		r->remaining = 0;
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

/* How long until the slot's key is fully replenished; <= 0 means free. */
static int64_t slot_left_ms(struct rl_slot s, int64_t now_ms)
{
	long n = tag_limit(s.tag);
	if (s.tag == 0 || n == 0)
		return 0;
	return (s.tat + n - 1) / n - now_ms;
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

static int write_all(int fd, const void *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
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
	if (write_all(fd, &h.magic, sizeof h.magic, 0) < 0 ||
	    write_all(fd, zeros, sizeof zeros, RL_HEADER_SIZE) < 0)
		return -1;
	if (getrandom(h.seed, sizeof h.seed, 0) != (ssize_t)sizeof h.seed)
		return -1;
	h.version = RL_VERSION;
	h.capacity = RL_CAPACITY;
	h.window = RL_WINDOW;
	h.size = RL_FILE_SIZE;
	if (write_all(fd, &h, sizeof h, 0) < 0)
		return -1;
	h.magic = RL_MAGIC;
	return write_all(fd, &h.magic, sizeof h.magic, 0);
}

/* Makes the file behind fd valid, rebuilding it if it is not; under flock so
 * that processes opening a fresh or broken file agree on one build. */
static int file_prepare(int fd, const char *path, char *err, size_t errlen)
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
		if (st.st_size != 0)
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

static int open_checked(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(err, errlen, "rate limit file %s: %s", path,
			 errno == ELOOP ? "is a symlink, refused" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "rate limit file %s: not a regular file", path);
	} else if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "rate limit file %s: owned by uid %ld, not by us (%ld), refused",
			 path, (long)st.st_uid, (long)geteuid());
	} else {
		/* Keys are fingerprints of secrets: nobody else reads them. */
		if ((st.st_mode & 077) && fchmod(fd, 0600) == 0)
			log_warn("rate limit file %s: was readable by others, now 0600", path);
		return fd;
	}
	close(fd);
	return -1;
}

int rl_open(const char *path, rl_store **out, char *errbuf, size_t errlen)
{
	int fd = open_checked(path, errbuf, errlen);
	void *map;

	if (fd < 0)
		return -1;
	if (file_prepare(fd, path, errbuf, errlen) < 0) {
		close(fd);
		return -1;
	}
	map = mmap(NULL, RL_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(errbuf, errlen, "rate limit file %s: mmap: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	rl_store *s = xcalloc(1, sizeof *s);
	s->fd = fd;
	s->path = xstrdup(path);
	s->map = map;
	s->hdr = map;
	s->slots = (struct rl_slot *)(s->map + RL_HEADER_SIZE);
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

/* Someone else damaged the file under our mapping: rebuild it in place (the
 * mapping stays, so other threads keep running). */
static int store_repair(rl_store *s)
{
	char err[256];
	int rc;

	pthread_mutex_lock(&s->repair_lock);
	rc = file_prepare(s->fd, s->path, err, sizeof err);
	pthread_mutex_unlock(&s->repair_lock);
	if (rc < 0)
		log_error("%s", err);
	return rc;
}

/* Cheap re-validation before touching the table: the header on every call
 * (it is in cache), the file size once per second of now. */
static int store_validate(rl_store *s, int64_t now_ms)
{
	int64_t next = __atomic_load_n(&s->next_stat_ms, __ATOMIC_RELAXED);
	bool stat_due = now_ms >= next &&
		__atomic_compare_exchange_n(&s->next_stat_ms, &next,
					    now_ms + RL_STAT_INTERVAL_MS, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	if (stat_due) {
		struct stat st;
		if (fstat(s->fd, &st) == 0 && st.st_size < RL_FILE_SIZE)
			return store_repair(s);
	}
	if (__atomic_load_n(&s->hdr->magic, __ATOMIC_ACQUIRE) != RL_MAGIC ||
	    !header_ok(s->hdr))
		return store_repair(s);
	return 0;
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

/* One pass over the window; 1 when the request was counted, 0 to retry. */
static int check_once(struct rl_slot *win[], uint64_t tag, long n,
		      int64_t now_ms, struct rl_result *r)
{
	int victim = -1;
	int64_t victim_left = INT64_MAX;
	struct rl_slot victim_old = { 0, 0 };

	for (int i = 0; i < RL_WINDOW; i++) {
		struct rl_slot cur = slot_load(win[i]);
		if (cur.tag == tag) {
			struct rl_slot new = cur;
			rl_gcra(&new.tat, now_ms, n, r);
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
	struct rl_slot new = { tag, 0 };
	rl_gcra(&new.tat, now_ms, n, r);
	return slot_insert(win, victim, victim_old, new);
}

int rl_check(rl_store *s, const char *key, size_t keylen, long per_minute,
	     int64_t now_ms, struct rl_result *r)
{
	struct rl_slot *win[RL_WINDOW];
	struct rl_result res;

	if (per_minute < 1 || per_minute > RL_MAX_PER_MINUTE ||
	    now_ms < 0 || now_ms > RL_MAX_NOW_MS)
		return -1;
	if (store_validate(s, now_ms) < 0)
		return -1;
	/* per_minute is part of the hash key: each limit has its own slot */
	uint64_t k0 = __atomic_load_n(&s->hdr->seed[0], __ATOMIC_RELAXED);
	uint64_t k1 = __atomic_load_n(&s->hdr->seed[1], __ATOMIC_RELAXED);
	uint64_t h = siphash(k0, k1 ^ (uint64_t)per_minute, (const unsigned char *)key, keylen);
	uint64_t tag = (h & ~(uint64_t)((1u << RL_NBITS) - 1)) | (uint64_t)per_minute;
	for (int i = 0; i < RL_WINDOW; i++)
		win[i] = &s->slots[(h + (uint64_t)i) & (RL_CAPACITY - 1)];
	while (!check_once(win, tag, per_minute, now_ms, &res))
		;
	*r = res;
	return 0;
}
