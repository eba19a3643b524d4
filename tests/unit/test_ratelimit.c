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

/* ---- duration format ---- */

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

static void hammer_child(int wfd)
{
	char err[256];
	rl_store *s;
	pthread_t th[THREADS];
	long total = 0;

	if (rl_open(path, &s, err, sizeof err) != 0)
		_exit(2);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, hammer, s);
	for (int i = 0; i < THREADS; i++) {
		void *n;
		pthread_join(th[i], &n);
		total += (long)n;
	}
	rl_close(s);
	_exit(write(wfd, &total, sizeof total) == sizeof total ? 0 : 3);
}

static void test_exact_across_processes(void **state)
{
	(void)state;
	int p[2];
	long total = 0;

	unlink(path);   /* the children race to create it */
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i < PROCS; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			hammer_child(p[1]);
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
	assert_int_equal(total, LIMIT);

	rl_store *s = open_ok();
	struct rl_result r;
	assert_int_equal(rl_check(s, "k:shared", 8, LIMIT, T0, &r), 0);
	assert_false(r.allowed);
	assert_int_equal(rl_check(s, "k:other", 7, LIMIT, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(r.remaining, LIMIT - 1);
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
		cmocka_unit_test(test_format_duration),
		STORE_TEST(test_store_keys_independent),
		STORE_TEST(test_store_bad_arguments),
		STORE_TEST(test_store_persists),
		STORE_TEST(test_store_eviction),
		STORE_TEST(test_store_expired_slots_are_free),
		STORE_TEST(test_file_bad_magic),
		STORE_TEST(test_file_truncated_and_empty),
		STORE_TEST(test_file_wrong_version),
		STORE_TEST(test_file_refused),
		STORE_TEST(test_file_mode_tightened),
		STORE_TEST(test_file_damaged_while_open),
		STORE_TEST(test_exact_across_processes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
