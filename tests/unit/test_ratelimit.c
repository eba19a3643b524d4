/* test_ratelimit.c: the GCRA arithmetic, duration format, file store, repairs and exactness */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ratelimit.h"

#define T0 1700000000000LL  /* a fixed "now": no test reads the clock */

/* ---- arithmetic ---- */

static int64_t ceil_div(int64_t a, int64_t b)
{
	return (a + b - 1) / b;
}

/* A fresh key admits exactly n at once with exact remaining/reset, then
 * denies with retry_after = ceil(60000/n) ms, and admits one at that time. */
static void burst_then_one(long n)
{
	int64_t tat = 0;
	struct rl_result r;

	for (long i = 0; i < n; i++) {
		assert_true(rl_gcra(&tat, T0, n, &r));
		assert_int_equal(r.limit, n);
		assert_int_equal(r.remaining, n - 1 - i);
		assert_int_equal(r.reset_ms, ceil_div((i + 1) * 60000, n));
		assert_int_equal(r.retry_after_ms, 0);
	}
	int64_t before = tat;
	assert_false(rl_gcra(&tat, T0, n, &r));
	assert_int_equal(tat, before);          /* a denial costs nothing */
	assert_int_equal(r.remaining, 0);
	assert_int_equal(r.reset_ms, 60000);
	int64_t wait = ceil_div(60000, n);
	assert_int_equal(r.retry_after_ms, wait);

	if (wait > 1) {
		assert_false(rl_gcra(&tat, T0 + wait - 1, n, &r));
		assert_int_equal(r.retry_after_ms, 1);
	}
	/* wait*n/60000 intervals have passed (more than one when an interval
	 * is under a millisecond) */
	long back = (long)(wait * n / 60000);
	for (long i = 0; i < back; i++) {
		assert_true(rl_gcra(&tat, T0 + wait, n, &r));
		assert_int_equal(r.remaining, back - 1 - i);
	}
	assert_false(rl_gcra(&tat, T0 + wait, n, &r));

	/* a minute after the last admission the key is whole again */
	int64_t later = T0 + wait + 60000;
	assert_true(rl_gcra(&tat, later, n, &r));
	assert_int_equal(r.remaining, n - 1);
}

static void test_gcra_n1(void **state) { (void)state; burst_then_one(1); }
static void test_gcra_n7(void **state) { (void)state; burst_then_one(7); }
static void test_gcra_n10(void **state) { (void)state; burst_then_one(10); }
static void test_gcra_n600(void **state) { (void)state; burst_then_one(600); }
static void test_gcra_n1000000(void **state) { (void)state; burst_then_one(1000000); }

/* 7/min has no whole-ms interval: over 10 minutes of a request every ms,
 * exactly the burst plus 70 are admitted, no drift either way. */
static void test_gcra_seven_per_minute_is_exact(void **state)
{
	(void)state;
	int64_t tat = 0;
	struct rl_result r;
	long admitted = 0;

	for (int64_t t = 0; t <= 600000; t++)
		admitted += rl_gcra(&tat, T0 + t, 7, &r);
	assert_int_equal(admitted, 7 + 70);
	/* the 8th is due at ceil(60000/7) = 8572 ms, not 8571 */
	tat = 0;
	for (int i = 0; i < 7; i++)
		rl_gcra(&tat, T0, 7, &r);
	assert_false(rl_gcra(&tat, T0 + 8571, 7, &r));
	assert_true(rl_gcra(&tat, T0 + 8572, 7, &r));
}

/* Partial refill: remaining grows by one per interval. */
static void test_gcra_partial_refill(void **state)
{
	(void)state;
	int64_t tat = 0;
	struct rl_result r;

	for (int i = 0; i < 10; i++)
		rl_gcra(&tat, T0, 10, &r);
	assert_true(rl_gcra(&tat, T0 + 18000, 10, &r));  /* 3 intervals back, 1 used */
	assert_int_equal(r.remaining, 2);
	assert_int_equal(r.reset_ms, 60000 - 18000 + 6000);
}

/* A tat may hold anything a damaged file gives it. None of these may
 * overflow (UBSan aborts this driver if one does); one beyond what our own
 * writes produce reads as a full key, a negative one as a fresh key. */
static void test_gcra_extreme_tat(void **state)
{
	(void)state;
	static const int64_t tats[] = { INT64_MAX, INT64_MAX - 1, INT64_MAX - 59999,
		INT64_MAX / 2, INT64_MIN, INT64_MIN + 1, -1, -60000 };
	static const int64_t nows[] = { 0, 1, T0, RL_MAX_NOW_MS };
	static const long ns[] = { 1, 7, 600, RL_MAX_PER_MINUTE };
	struct rl_result r;

	for (size_t i = 0; i < sizeof tats / sizeof tats[0]; i++)
		for (size_t j = 0; j < sizeof nows / sizeof nows[0]; j++)
			for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
				int64_t tat = tats[i];
				long n = ns[k];
				bool ok = rl_gcra(&tat, nows[j], n, &r);
				assert_int_equal(r.limit, n);
				assert_true(r.reset_ms >= 0 && r.reset_ms <= 60000 + 1);
				assert_true(r.remaining >= 0 && r.remaining < n);
				if (tats[i] < 0) {
					/* fresh: admitted with the whole burst left */
					assert_true(ok);
					assert_int_equal(r.remaining, n - 1);
				} else if (tats[i] > nows[j] * n + 60000 * (int64_t)n) {
					/* full: denied for one interval at most */
					assert_false(ok);
					assert_int_equal(tat, nows[j] * n + 60000 * (int64_t)n);
					assert_true(r.retry_after_ms >= 1 &&
						    r.retry_after_ms <= ceil_div(60000, n));
				}
			}
}

/* ---- duration format ---- */

/* ---- costs and settlement (tokens per minute) ---- */

/* 1000 per minute: costs are admitted while they fit, exactly; a denial
 * says what is used and available and when the cost fits. */
static void test_gcra_cost_admits_exactly(void **state)
{
	(void)state;
	int64_t tat = 0;
	struct rl_result r;

	assert_true(rl_gcra_cost(&tat, T0, 1000, 300, &r));
	assert_int_equal(r.used, 0);
	assert_int_equal(r.remaining, 700);
	assert_int_equal(r.reset_ms, 18000);            /* 300 tokens at 60 ms each */
	assert_true(rl_gcra_cost(&tat, T0, 1000, 699, &r));
	assert_int_equal(r.used, 300);
	assert_int_equal(r.remaining, 1);
	int64_t before = tat;
	assert_false(rl_gcra_cost(&tat, T0, 1000, 2, &r));
	assert_int_equal(tat, before);                  /* a denial costs nothing */
	assert_int_equal(r.used, 999);
	assert_int_equal(r.remaining, 1);
	assert_int_equal(r.retry_after_ms, 60);         /* one more token frees in 60 ms */
	assert_int_equal(r.reset_ms, 59940);
	assert_true(rl_gcra_cost(&tat, T0, 1000, 1, &r));
	assert_int_equal(r.remaining, 0);
	/* the whole limit at once needs a full key: a minute later */
	assert_false(rl_gcra_cost(&tat, T0, 1000, 1000, &r));
	assert_int_equal(r.retry_after_ms, 60000);
	assert_true(rl_gcra_cost(&tat, T0 + 60000, 1000, 1000, &r));
	/* a cost of 0 is always admitted and holds nothing */
	assert_true(rl_gcra_cost(&tat, T0 + 60000, 1000, 0, &r));
	assert_int_equal(r.remaining, 0);
	/* cost 1 is rl_gcra() */
	int64_t a = 0, b = 0;
	struct rl_result ra, rb;
	for (int i = 0; i < 9; i++) {
		assert_int_equal(rl_gcra(&a, T0 + i, 7, &ra), rl_gcra_cost(&b, T0 + i, 7, 1, &rb));
		assert_int_equal(a, b);
		assert_int_equal(ra.remaining, rb.remaining);
		assert_int_equal(ra.retry_after_ms, rb.retry_after_ms);
	}
}

/* A reservation settled with less gives the difference back, with more
 * takes it; never more than full, never more than a minute of debt. */
static void test_gcra_settle(void **state)
{
	(void)state;
	int64_t tat = 0;
	struct rl_result r;

	assert_true(rl_gcra_cost(&tat, T0, 1000, 600, &r));
	rl_gcra_settle(&tat, T0, 1000, -450, &r);        /* used 150 of 600 */
	assert_int_equal(r.used, 150);
	assert_int_equal(r.remaining, 850);
	assert_true(rl_gcra_cost(&tat, T0, 1000, 850, &r));
	assert_false(rl_gcra_cost(&tat, T0, 1000, 1, &r));
	rl_gcra_settle(&tat, T0, 1000, 40, &r);          /* an overrun: 40 more */
	assert_int_equal(r.used, 1000);
	assert_int_equal(r.remaining, 0);
	/* debt is capped at one minute: half a minute on, half is free */
	assert_true(rl_gcra_cost(&tat, T0 + 30000, 1000, 500, &r));
	assert_int_equal(r.remaining, 0);
	/* a refund on a key already full leaves it full, not fuller */
	tat = 0;
	rl_gcra_settle(&tat, T0, 1000, -1000, &r);
	assert_int_equal(r.remaining, 1000);
	assert_false(rl_gcra_cost(&tat, T0, 1000, 1000, &r) && rl_gcra_cost(&tat, T0, 1000, 1, &r));
	/* a refund that arrives after the key refilled is a no-op too */
	tat = 0;
	assert_true(rl_gcra_cost(&tat, T0, 1000, 500, &r));
	rl_gcra_settle(&tat, T0 + 120000, 1000, -500, &r);
	assert_int_equal(r.remaining, 1000);
	assert_int_equal(r.used, 0);
	/* damaged state and huge deltas stay in range */
	tat = INT64_MAX;
	rl_gcra_settle(&tat, T0, 1000, 1L << 40, &r);
	assert_int_equal(r.used, 1000);
	tat = INT64_MIN;
	rl_gcra_settle(&tat, T0, 1000, -(1L << 40), &r);
	assert_int_equal(r.remaining, 1000);
}

static void test_format_duration(void **state)
{
	(void)state;
	static const struct { int64_t ms; const char *want; } cases[] = {
		{ 0, "0s" }, { 1, "1ms" }, { 12, "12ms" }, { 999, "999ms" },
		{ 1000, "1s" }, { 1500, "1.5s" }, { 7660, "7.66s" },
		{ 59999, "59.999s" }, { 60000, "1m0s" }, { 90500, "1m30.5s" },
		{ 360000, "6m0s" }, { 3600000, "1h0m0s" }, { 3723004, "1h2m3.004s" },
		{ 8572, "8.572s" }, { -1500, "-1.5s" }, { -12, "-12ms" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rl_format_duration(cases[i].ms, buf, sizeof buf);
		assert_string_equal(buf, cases[i].want);
	}
	rl_format_duration(90500, buf, 4);
	assert_string_equal(buf, "1m3");
}

/* ---- the store ---- */

static char dir[64];
static char path[128];

static int setup_dir(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/rltest.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/rl.db", dir);
	return 0;
}

static int teardown_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static rl_store *open_ok(void)
{
	char err[256] = "";
	rl_store *s = NULL;
	if (rl_open(path, &s, err, sizeof err) != 0)
		fail_msg("rl_open: %s", err);
	return s;
}

static bool hit(rl_store *s, const char *key, long n, int64_t now)
{
	struct rl_result r;
	assert_int_equal(rl_check(s, key, strlen(key), n, now, &r), 0);
	return r.allowed;
}

static off_t file_size(void)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void test_store_keys_independent(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, RL_FILE_SIZE);
	for (int i = 0; i < 3; i++)
		assert_true(hit(s, "k:a", 3, T0));
	assert_false(hit(s, "k:a", 3, T0));
	assert_true(hit(s, "k:b", 3, T0));
	/* the same key under another limit is another bucket */
	assert_true(hit(s, "k:a", 4, T0));
	/* keys are bytes, not C strings */
	struct rl_result r;
	assert_int_equal(rl_check(s, "k:a\0x", 5, 3, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(r.remaining, 2);
	rl_close(s);
}

static void test_store_cost_and_settle(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	struct rl_result r;

	assert_int_equal(rl_check_cost(s, "t:a", 3, 1000, 800, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(rl_check_cost(s, "t:a", 3, 1000, 300, T0, &r), 0);
	assert_false(r.allowed);
	assert_int_equal(r.used, 800);
	assert_int_equal(rl_settle(s, "t:a", 3, 1000, -500, T0, &r), 0);
	assert_int_equal(r.remaining, 700);
	assert_int_equal(rl_check_cost(s, "t:a", 3, 1000, 300, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(r.remaining, 400);
	/* more than the limit, or negative, is refused */
	assert_int_equal(rl_check_cost(s, "t:a", 3, 1000, 1001, T0, &r), -1);
	assert_int_equal(rl_check_cost(s, "t:a", 3, 1000, -1, T0, &r), -1);
	/* settling a key never seen inserts nothing: it stays full */
	assert_int_equal(rl_settle(s, "t:new", 5, 1000, 300, T0, &r), 0);
	assert_int_equal(r.remaining, 1000);
	assert_int_equal(rl_check_cost(s, "t:new", 5, 1000, 1000, T0, &r), 0);
	assert_true(r.allowed);
	rl_close(s);
}

static void test_store_bad_arguments(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	struct rl_result r;

	assert_int_equal(rl_check(s, "k", 1, 0, T0, &r), -1);
	assert_int_equal(rl_check(s, "k", 1, RL_MAX_PER_MINUTE + 1, T0, &r), -1);
	assert_int_equal(rl_check(s, "k", 1, 10, -1, &r), -1);
	assert_int_equal(rl_check(s, "k", 1, 10, RL_MAX_NOW_MS + 1, &r), -1);
	assert_int_equal(rl_check(s, "k", 1, RL_MAX_PER_MINUTE, RL_MAX_NOW_MS, &r), 0);
	rl_close(s);
}

static void test_store_persists(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	assert_true(hit(s, "ip:10.0.0.1", 2, T0));
	assert_true(hit(s, "ip:10.0.0.1", 2, T0));
	rl_close(s);
	s = open_ok();
	assert_false(hit(s, "ip:10.0.0.1", 2, T0 + 1000));
	assert_true(hit(s, "ip:10.0.0.1", 2, T0 + 30000));
	rl_close(s);
}

/* Far more live keys than slots: the oldest (closest to replenished) are
 * forgotten, the newest are all remembered, and nothing fails. */
static void test_store_eviction(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	enum { KEYS = 40000 };
	char key[32];
	int forgotten_old = 0;

	for (int i = 0; i < KEYS; i++) {
		snprintf(key, sizeof key, "k:%d", i);
		assert_true(hit(s, key, 1, T0 + i));
	}
	for (int i = KEYS - 100; i < KEYS; i++) {
		snprintf(key, sizeof key, "k:%d", i);
		assert_false(hit(s, key, 1, T0 + KEYS));
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "k:%d", i);
		forgotten_old += hit(s, key, 1, T0 + KEYS);
	}
	assert_true(forgotten_old > 900);
	rl_close(s);
}

/* Replenished keys free their slot: after a minute the table takes a full
 * load of new keys without evicting any of them (12000 live keys would lose
 * some, see ratelimit.h). */
static void test_store_expired_slots_are_free(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	char key[32];

	for (int i = 0; i < 6000; i++) {
		snprintf(key, sizeof key, "old:%d", i);
		hit(s, key, 1, T0);
	}
	int64_t later = T0 + 60000;
	for (int i = 0; i < 6000; i++) {
		snprintf(key, sizeof key, "new:%d", i);
		assert_true(hit(s, key, 1, later));
	}
	for (int i = 0; i < 6000; i++) {
		snprintf(key, sizeof key, "new:%d", i);
		assert_false(hit(s, key, 1, later));
	}
	rl_close(s);
}

/* ---- values a damaged file can hold in its slots ---- */

static void write_tats(int64_t tat)
{
	/* every slot of the table: a live tag under each limit and the tat */
	static struct { uint64_t tag; int64_t tat; } slots[RL_CAPACITY];
	for (int i = 0; i < RL_CAPACITY; i++) {
		slots[i].tag = ((uint64_t)(i + 1) << 20) | (uint64_t)(i % 3 == 0 ? 1 : i % 3 == 1 ? 7 : 1000000);
		slots[i].tat = tat;
	}
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, slots, sizeof slots, RL_HEADER_SIZE), (ssize_t)sizeof slots);
	close(fd);
}

/* Returns the offset of the one slot a check of key wrote (the file was
 * empty), so a test can put an extreme tat in the key's own slot. */
static off_t slot_of(rl_store *s, const char *key, long n)
{
	static int64_t before[RL_CAPACITY * 2], after[RL_CAPACITY * 2];
	int fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, before, sizeof before, RL_HEADER_SIZE), (ssize_t)sizeof before);
	hit(s, key, n, T0);
	assert_int_equal(pread(fd, after, sizeof after, RL_HEADER_SIZE), (ssize_t)sizeof after);
	close(fd);
	for (int i = 0; i < RL_CAPACITY; i++)
		if (memcmp(&before[2 * i], &after[2 * i], 16))
			return RL_HEADER_SIZE + (off_t)i * 16;
	fail_msg("no slot changed");
	return -1;
}

static void test_store_extreme_slots(void **state)
{
	(void)state;
	static const int64_t tats[] = { INT64_MAX, INT64_MAX - 1, INT64_MIN, -1, INT64_MIN / 3 };
	rl_store *s = open_ok();
	char key[32];

	/* other keys' slots: looked at by every probe and eviction */
	for (size_t i = 0; i < sizeof tats / sizeof tats[0]; i++) {
		write_tats(tats[i]);
		for (int k = 0; k < 200; k++) {
			snprintf(key, sizeof key, "k:%zu:%d", i, k);
			struct rl_result r;
			assert_int_equal(rl_check(s, key, strlen(key), 5, T0, &r), 0);
			assert_true(r.allowed);
			assert_int_equal(r.remaining, 4);
		}
	}
	rl_close(s);

	/* the key's own slot */
	for (size_t i = 0; i < sizeof tats / sizeof tats[0]; i++) {
		unlink(path);
		s = open_ok();
		off_t off = slot_of(s, "k:mine", 7);
		int fd = open(path, O_WRONLY);
		assert_int_equal(pwrite(fd, &tats[i], 8, off + 8), 8);
		close(fd);
		struct rl_result r;
		assert_int_equal(rl_check(s, "k:mine", 6, 7, T0 + 1, &r), 0);
		assert_int_equal(r.allowed, tats[i] < 0);
		assert_true(r.reset_ms <= 60000);
		assert_true(r.retry_after_ms <= ceil_div(60000, 7));
		/* a full key is whole again a minute later, never locked out for good */
		assert_int_equal(rl_check(s, "k:mine", 6, 7, T0 + 1 + 60000, &r), 0);
		assert_true(r.allowed);
		rl_close(s);
	}
}

/* ---- damaged files ---- */

static void write_file(const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void assert_rebuilt(void)
{
	char magic[8];
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, magic, 8), 8);
	close(fd);
	assert_memory_equal(magic, "\nOAFRL1", 8);
	assert_int_equal(file_size(), RL_FILE_SIZE);
}

static void test_file_bad_magic(void **state)
{
	(void)state;
	static char junk[RL_FILE_SIZE];
	memset(junk, 0xab, sizeof junk);
	write_file(junk, sizeof junk);
	rl_store *s = open_ok();
	assert_rebuilt();
	assert_true(hit(s, "k", 1, T0));
	assert_false(hit(s, "k", 1, T0));
	rl_close(s);
}

static void test_file_truncated_and_empty(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	hit(s, "k", 1, T0);
	rl_close(s);
	assert_int_equal(truncate(path, 1000), 0);
	s = open_ok();
	assert_rebuilt();
	assert_true(hit(s, "k", 1, T0));   /* state was lost with the file */
	rl_close(s);

	write_file("", 0);
	s = open_ok();
	assert_rebuilt();
	assert_true(hit(s, "k", 1, T0));
	rl_close(s);
}

static void test_file_wrong_version(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	hit(s, "k", 1, T0);
	rl_close(s);
	uint32_t v = 99;
	int fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, &v, 4, 8), 4);
	close(fd);
	s = open_ok();
	assert_rebuilt();
	assert_true(hit(s, "k", 1, T0));
	rl_close(s);
}

static void test_file_refused(void **state)
{
	(void)state;
	char err[256];
	rl_store *s = NULL;

	/* a symlink, even to a good file (O_NOFOLLOW) */
	char target[160];
	snprintf(target, sizeof target, "%s/target", dir);
	write_file("", 0);
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(rl_open(path, &s, err, sizeof err), -1);
	assert_non_null(strstr(err, "symlink"));
	unlink(path);

	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(rl_open(path, &s, err, sizeof err), -1);
	rmdir(path);

	/* another user's file: refused, not rebuilt (this test runs as root) */
	assert_int_equal(geteuid(), 0);
	write_file("x", 1);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(rl_open(path, &s, err, sizeof err), -1);
	assert_non_null(strstr(err, "owned by"));
	assert_int_equal(file_size(), 1);
	unlink(path);
	assert_null(s);
}

static void test_file_mode_tightened(void **state)
{
	(void)state;
	struct stat st;
	write_file("", 0);
	assert_int_equal(chmod(path, 0644), 0);
	rl_store *s = open_ok();
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	rl_close(s);
}

/* Damage under a live mapping: the next check repairs before it touches the
 * table, so no SIGBUS and no crash. */
static void test_file_damaged_while_open(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	assert_true(hit(s, "k", 1, T0));
	assert_int_equal(truncate(path, 100), 0);
	assert_true(hit(s, "k", 1, T0 + 2000));   /* rebuilt: state lost */
	assert_int_equal(file_size(), RL_FILE_SIZE);
	assert_false(hit(s, "k", 1, T0 + 2000));

	int fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "garbage!", 8, 0), 8);
	close(fd);
	assert_true(hit(s, "k", 1, T0 + 2001));   /* noticed at once */
	assert_rebuilt();
	rl_close(s);
}

/* Truncated between the per-second look and the next load (the same `now`,
 * so no fstat is due): the load faults, the check repairs and counts. */
static void test_file_truncated_between_checks(void **state)
{
	(void)state;
	static const off_t sizes[] = { 0, 100, RL_HEADER_SIZE, RL_HEADER_SIZE + 4096, RL_FILE_SIZE - 1 };
	char key[32];

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		rl_store *s = open_ok();
		assert_true(hit(s, "k", 1, T0));
		assert_int_equal(truncate(path, sizes[i]), 0);
		/* many keys, so that some land on the lost pages */
		for (int k = 0; k < 300; k++) {
			snprintf(key, sizeof key, "k:%d", k);
			assert_true(hit(s, key, 1, T0));
		}
		/* The last size loses no whole page, so no load faults: the
		 * look at the size a second later finds it. */
		if (sizes[i] > RL_FILE_SIZE - 4096)
			assert_true(hit(s, "k:late", 1, T0 + 1000));
		assert_int_equal(file_size(), RL_FILE_SIZE);
		assert_rebuilt();
		rl_close(s);
		unlink(path);
	}
}

/* Two stores on one file, as two processes have: one repairs a truncation,
 * the other notices the rebuild (new seed) and both count in that file. */
static void test_file_truncated_two_stores_one_file(void **state)
{
	(void)state;
	rl_store *a = open_ok(), *b = open_ok();
	assert_true(hit(a, "k", 1, T0));
	assert_false(hit(b, "k", 1, T0));
	assert_int_equal(truncate(path, 0), 0);
	assert_true(hit(a, "k", 1, T0));     /* a faults and rebuilds: counts lost */
	assert_false(hit(b, "k", 1, T0));    /* b sees a's rebuild, same table */
	assert_true(hit(b, "k2", 1, T0));
	assert_false(hit(a, "k2", 1, T0));
	rl_close(a);
	rl_close(b);
}

static void *check_forever(void *arg)
{
	rl_store *s = arg;
	struct rl_result r;
	long n = 0;
	char key[32];

	for (long i = 0; i < 200000; i++) {
		snprintf(key, sizeof key, "k:%ld", i % 500);
		if (rl_check(s, key, strlen(key), 100, T0 + i / 1000, &r) == 0)
			n++;
	}
	return (void *)n;
}

/* Truncated again and again while threads check: nobody dies, every check
 * answers, and the file ends whole. */
static void test_file_truncated_under_load(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, check_forever, s);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(truncate(path, (i % 4) * 70000), 0);
		usleep(500);
	}
	long answered = 0;
	for (int i = 0; i < 3; i++) {
		void *n;
		pthread_join(th[i], &n);
		answered += (long)n;
	}
	assert_int_equal(answered, 3 * 200000);
	assert_true(hit(s, "k:after", 1, T0 + 1000));
	assert_int_equal(file_size(), RL_FILE_SIZE);
	assert_rebuilt();
	rl_close(s);
}

/* A SIGBUS that is not from a load of the table still kills the process:
 * the guard catches its own faults only. */
static void test_foreign_sigbus_still_kills(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's own handler would carry on with the tests in the child */
		signal(SIGBUS, SIG_DFL);
		rl_store *s = open_ok();
		char other[160];
		snprintf(other, sizeof other, "%s/other", dir);
		int fd = open(other, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || ftruncate(fd, 8192) < 0)
			_exit(2);
		volatile char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED || ftruncate(fd, 0) < 0)
			_exit(3);
		hit(s, "k", 1, T0);
		(void)m[4096];
		_exit(4);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGBUS);
}

/* Deleted, or replaced by rename, while open: once its look at the path is
 * due, the store moves to the file that new processes use, so both count
 * in one file and a key never gets its limit twice. */
static void test_file_deleted_or_replaced_while_open(void **state)
{
	(void)state;
	for (int kind = 0; kind < 3; kind++) {
		rl_store *old = open_ok();
		assert_true(hit(old, "k", 1, T0));
		if (kind == 0) {
			assert_int_equal(unlink(path), 0);
		} else {
			char other[sizeof path];
			snprintf(other, sizeof other, "%s/other", dir);
			int fd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			assert_true(fd >= 0);
			/* kind 1: garbage; kind 2: a whole valid table of another run */
			if (kind == 1)
				assert_int_equal(write(fd, "junk", 4), 4);
			close(fd);
			if (kind == 2) {
				char p2[sizeof path];
				snprintf(p2, sizeof p2, "%s", path);
				snprintf(path, sizeof path, "%s", other);
				rl_store *t = open_ok();
				rl_close(t);
				snprintf(path, sizeof path, "%s", p2);
			}
			assert_int_equal(rename(other, path), 0);
		}
		/* a new process (a CGI run) opens what the path names now */
		rl_store *fresh = open_ok();
		assert_true(hit(fresh, "k", 1, T0 + 10));
		/* the old store's look at the path is due a second later */
		assert_false(hit(old, "k", 1, T0 + 1010));
		assert_false(hit(fresh, "k", 1, T0 + 1010));
		assert_true(hit(old, "k2", 1, T0 + 1010));
		assert_false(hit(fresh, "k2", 1, T0 + 1011));
		rl_close(old);
		rl_close(fresh);
		unlink(path);
	}
}

/* Deleted with nobody else to recreate it: the store creates it itself. */
static void test_file_deleted_and_recreated_by_us(void **state)
{
	(void)state;
	rl_store *s = open_ok();
	assert_true(hit(s, "k", 1, T0));
	assert_int_equal(unlink(path), 0);
	assert_true(hit(s, "k", 1, T0 + 2000));   /* moved: a fresh file */
	assert_rebuilt();
	rl_store *other = open_ok();
	assert_false(hit(other, "k", 1, T0 + 2001));
	rl_close(other);
	rl_close(s);
}

/* ---- exactness across processes and threads ---- */

enum { PROCS = 4, THREADS = 4, TRIES = 250, LIMIT = 1000 };

static void *hammer(void *arg)
{
	rl_store *s = arg;
	struct rl_result r;
	long admitted = 0;

	for (int i = 0; i < TRIES; i++) {
		if (rl_check(s, "k:shared", 8, LIMIT, T0, &r) == 0 && r.allowed)
			admitted++;
	}
	return (void *)admitted;
}

/* A child process: THREADS threads of fn on one store; writes the sum of
 * their admissions to wfd. */
static void hammer_child(int wfd, void *(*fn)(void *))
{
	char err[256];
	rl_store *s;
	pthread_t th[THREADS];
	long total = 0;

	if (rl_open(path, &s, err, sizeof err) != 0)
		_exit(2);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, fn, s);
	for (int i = 0; i < THREADS; i++) {
		void *n;
		pthread_join(th[i], &n);
		total += (long)n;
	}
	rl_close(s);
	_exit(write(wfd, &total, sizeof total) == sizeof total ? 0 : 3);
}

/* PROCS children of THREADS threads of fn, racing to create the file;
 * the sum of their admissions. */
static long run_children(void *(*fn)(void *))
{
	int p[2];
	long total = 0;

	unlink(path);   /* the children race to create it */
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < PROCS; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			hammer_child(p[1], fn);
		}
	}
	close(p[1]);
	for (int i = 0; i < PROCS; i++) {
		int st;
		long n;
		assert_int_equal(read(p[0], &n, sizeof n), sizeof n);
		total += n;
		wait(&st);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	close(p[0]);
	return total;
}

static void test_exact_across_processes(void **state)
{
	(void)state;
	assert_int_equal(run_children(hammer), LIMIT);

	rl_store *s = open_ok();
	struct rl_result r;
	assert_int_equal(rl_check(s, "k:shared", 8, LIMIT, T0, &r), 0);
	assert_false(r.allowed);
	assert_int_equal(rl_check(s, "k:other", 7, LIMIT, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(r.remaining, LIMIT - 1);
	rl_close(s);
}

/* Tokens: 4 processes x 4 threads reserve 7 tokens each against 1000 per
 * minute and settle half of what they got back at once. Exactly: every
 * admission but the last few holds 7 - 3 = 4, refunds included. */
enum { COST = 7, REFUND = 3 };

static void *hammer_cost(void *arg)
{
	rl_store *s = arg;
	struct rl_result r;
	long admitted = 0;

	for (int i = 0; i < TRIES; i++) {
		if (rl_check_cost(s, "t:shared", 8, LIMIT, COST, T0, &r) == 0 && r.allowed) {
			admitted++;
			/* no cmocka assert in a child's thread: a failure poisons the sum */
			if (rl_settle(s, "t:shared", 8, LIMIT, -REFUND, T0, &r) != 0)
				return (void *)(long)(-LIMIT * 100);
		}
	}
	return (void *)admitted;
}

static void test_cost_exact_across_processes(void **state)
{
	(void)state;
	long total = run_children(hammer_cost);
	assert_true(total > 0);
	/* No update was lost: the key holds exactly 4 per admission. */
	rl_store *s = open_ok();
	struct rl_result r;
	assert_int_equal(rl_check_cost(s, "t:shared", 8, LIMIT, 0, T0, &r), 0);
	assert_int_equal(r.used, (COST - REFUND) * total);
	/* A thread may have stopped while others held unsettled reservations,
	 * so what is left is topped up alone: the total is then exactly the
	 * greatest k with 4 * (k - 1) + 7 <= 1000. */
	while (rl_check_cost(s, "t:shared", 8, LIMIT, COST, T0, &r) == 0 && r.allowed) {
		total++;
		assert_int_equal(rl_settle(s, "t:shared", 8, LIMIT, -REFUND, T0, &r), 0);
	}
	assert_int_equal(total, (LIMIT - COST) / (COST - REFUND) + 1);
	rl_close(s);
}

#define STORE_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcra_n1),
		cmocka_unit_test(test_gcra_n7),
		cmocka_unit_test(test_gcra_n10),
		cmocka_unit_test(test_gcra_n600),
		cmocka_unit_test(test_gcra_n1000000),
		cmocka_unit_test(test_gcra_seven_per_minute_is_exact),
		cmocka_unit_test(test_gcra_partial_refill),
		cmocka_unit_test(test_gcra_extreme_tat),
		cmocka_unit_test(test_gcra_cost_admits_exactly),
		cmocka_unit_test(test_gcra_settle),
		cmocka_unit_test(test_format_duration),
		STORE_TEST(test_store_keys_independent),
		STORE_TEST(test_store_cost_and_settle),
		STORE_TEST(test_store_bad_arguments),
		STORE_TEST(test_store_persists),
		STORE_TEST(test_store_eviction),
		STORE_TEST(test_store_expired_slots_are_free),
		STORE_TEST(test_store_extreme_slots),
		STORE_TEST(test_file_bad_magic),
		STORE_TEST(test_file_truncated_and_empty),
		STORE_TEST(test_file_wrong_version),
		STORE_TEST(test_file_refused),
		STORE_TEST(test_file_mode_tightened),
		STORE_TEST(test_file_damaged_while_open),
		STORE_TEST(test_file_truncated_between_checks),
		STORE_TEST(test_file_truncated_two_stores_one_file),
		STORE_TEST(test_file_truncated_under_load),
		STORE_TEST(test_foreign_sigbus_still_kills),
		STORE_TEST(test_file_deleted_or_replaced_while_open),
		STORE_TEST(test_file_deleted_and_recreated_by_us),
		STORE_TEST(test_exact_across_processes),
		STORE_TEST(test_cost_exact_across_processes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
