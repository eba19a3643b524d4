/* test_usage.c: the usage file: days, exact counts across processes, threads and forks, remembered rows, damage, full windows, gauges (a held slot changes without the lock), the table */
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
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "usage.h"

#define T0 1764547200LL  /* 2025-12-01T00:00:00Z: no test reads the clock */

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test_usage.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/usage", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static um_store *open_fresh(void)
{
	char err[256];
	um_store *s = NULL;
	unlink(path);
	assert_int_equal(um_open(path, &s, err, sizeof err), 0);
	return s;
}

static struct um_event chat_event(const char *key, const char *model, int status, long p, long c, int64_t t)
{
	struct um_event ev = { key, model, "/v1/chat/completions", NULL, status == 429 ? "requests" : NULL,
			       status, p, c, 120000, 30000, t, 0, 0 };
	return ev;
}

/* Sums the detail rows matching key and model (NULL: any). */
static void totals(um_store *s, const char *key, const char *model, uint64_t *req, uint64_t *p, uint64_t *c)
{
	struct um_row *rows;
	size_t n;
	struct um_gauges g;
	*req = *p = *c = 0;
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].kind != UM_DETAIL || (key && strcmp(rows[i].key, key)) ||
		    (model && strcmp(rows[i].model, model)))
			continue;
		*req += rows[i].requests;
		*p += rows[i].prompt_tokens;
		*c += rows[i].completion_tokens;
	}
	free(rows);
}

/* ---- days ---- */

static void test_days(void **state)
{
	(void)state;
	char buf[16];
	int32_t d;
	assert_int_equal(um_day(0), 0);
	assert_int_equal(um_day(86399), 0);
	assert_int_equal(um_day(86400), 1);
	assert_int_equal(um_day(-1), -1);
	um_format_day(um_day(T0), buf, sizeof buf);
	assert_string_equal(buf, "2025-12-01");
	um_format_day(um_day(T0) - 1, buf, sizeof buf);
	assert_string_equal(buf, "2025-11-30");
	assert_int_equal(um_parse_day("2025-12-01", &d), 0);
	assert_int_equal(d, um_day(T0));
	assert_int_equal(um_parse_day("2024-02-29", &d), 0);   /* a leap day */
	um_format_day(d, buf, sizeof buf);
	assert_string_equal(buf, "2024-02-29");
	static const char *const bad[] = { "2025-02-29", "2026-02-30", "2025-13-01", "2025-00-10", "2025-1-01",
					   "2025-01-01x", "20250101", "", "1969-12-31", "2025-04-31", "abcd-ef-gh" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(um_parse_day(bad[i], &d), -1);
	assert_int_equal(um_parse_day(NULL, &d), -1);
	/* months: December and January of the next year are 1 apart */
	assert_int_equal(um_month(um_day(T0)) + 1, um_month(um_day(T0 + 31 * 86400)));
	assert_int_equal(um_month(um_day(T0)), 2025 * 12 + 11);
}

/* ---- counting ---- */

static void test_record_and_budget_totals(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	struct um_event a = chat_event("alice", "m1", 200, 10, 5, T0 + 3600);
	struct um_event b = chat_event("alice", "m2", 200, 7, 3, T0 + 7200);
	struct um_event old = chat_event("alice", "m1", 200, 1000, 1000, T0 - 86400);  /* yesterday, last month */
	struct um_event bob = chat_event("bob", "m1", 429, 0, 0, T0);
	assert_int_equal(um_record(s, &a), 0);
	assert_int_equal(um_record(s, &a), 0);
	assert_int_equal(um_record(s, &b), 0);
	assert_int_equal(um_record(s, &old), 0);
	assert_int_equal(um_record(s, &bob), 0);
	uint64_t day, month;
	assert_int_equal(um_key_tokens(s, "alice", T0 + 80000, &day, &month), 0);
	assert_int_equal(day, 2 * 15 + 10);
	assert_int_equal(month, 2 * 15 + 10);   /* yesterday was November */
	assert_int_equal(um_key_tokens(s, "alice", T0 + 86400 * 5, &day, &month), 0);
	assert_int_equal(day, 0);
	assert_int_equal(month, 40);
	assert_int_equal(um_key_tokens(s, "carol", T0, &day, &month), 0);
	assert_int_equal(day + month, 0);
	uint64_t r, p, c;
	totals(s, "alice", NULL, &r, &p, &c);
	assert_int_equal(r, 4);
	assert_int_equal(p, 1027);
	assert_int_equal(c, 1013);
	/* a fresh handle (another process, a CGI run) reads the same counts */
	char err[256];
	um_store *again;
	assert_int_equal(um_open(path, &again, err, sizeof err), 0);
	totals(again, "bob", "m1", &r, &p, &c);
	assert_int_equal(r, 1);
	um_close(again);
	um_close(s);
}

struct hammer { int rounds; const char *key; };

static void *hammer_thread(void *arg)
{
	const struct hammer *h = arg;
	char err[256];
	um_store *s;
	if (um_open(path, &s, err, sizeof err) != 0)
		return (void *)1;
	for (int i = 0; i < h->rounds; i++) {
		struct um_event ev = chat_event(h->key, i % 2 ? "m1" : "m2", i % 7 ? 200 : 500, 3, 2, T0);
		if (um_record(s, &ev) != 0)
			return (void *)1;
	}
	um_close(s);
	return NULL;
}

/* Runs fn(h) on n threads (n <= 8); 0 when every one succeeded. */
static int run_threads(int n, void *(*fn)(void *), struct hammer *h)
{
	pthread_t t[8];
	int bad = 0;
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, fn, h);
	for (int i = 0; i < n; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		bad |= rv != NULL;
	}
	return bad;
}

static void wait_kids(const pid_t *kids, int n)
{
	for (int k = 0; k < n; k++) {
		int st;
		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

/* 4 processes x 4 threads, each with its own handle: every request is
 * counted once. */
static void test_exact_across_processes_and_threads(void **state)
{
	(void)state;
	enum { PROCS = 4, THREADS = 4, ROUNDS = 150 };
	um_store *s = open_fresh();
	pid_t kids[PROCS];
	for (int k = 0; k < PROCS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			struct hammer h = { ROUNDS, "shared" };
			_exit(run_threads(THREADS, hammer_thread, &h));
		}
	}
	wait_kids(kids, PROCS);
	uint64_t r, p, c, day, month;
	totals(s, "shared", NULL, &r, &p, &c);
	assert_int_equal(r, PROCS * THREADS * ROUNDS);
	assert_int_equal(p, 3 * PROCS * THREADS * ROUNDS);
	assert_int_equal(c, 2 * PROCS * THREADS * ROUNDS);
	assert_int_equal(um_key_tokens(s, "shared", T0, &day, &month), 0);
	assert_int_equal(day, 5 * PROCS * THREADS * ROUNDS);
	assert_int_equal(month, day);
	um_close(s);
}

/* Each thread of a child hammers the store the child inherited (opened
 * and used before the fork). */
static um_store *inherited;

static void *inherited_thread(void *arg)
{
	const struct hammer *h = arg;
	for (int i = 0; i < h->rounds; i++) {
		struct um_event ev = chat_event(h->key, i % 2 ? "m1" : "m2", 200, 3, 2, T0);
		if (um_record(inherited, &ev) != 0)
			return (void *)1;
	}
	return NULL;
}

/* One handle kept open across a fork and shared by threads, the parent
 * counting at the same time: a child must not share the parent's open file
 * (whose flock would not exclude it) nor threads their descriptor. */
static void test_one_handle_across_forks_and_threads(void **state)
{
	(void)state;
	enum { PROCS = 3, THREADS = 4, ROUNDS = 150 };
	struct hammer h = { ROUNDS, "inherited" };
	inherited = open_fresh();
	struct um_event first = chat_event("inherited", "m1", 200, 3, 2, T0);
	assert_int_equal(um_record(inherited, &first), 0);
	pid_t kids[PROCS];
	for (int k = 0; k < PROCS; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0)
			_exit(run_threads(THREADS, inherited_thread, &h));
	}
	assert_int_equal(run_threads(THREADS, inherited_thread, &h), 0);
	wait_kids(kids, PROCS);
	uint64_t r, p, c, day, month;
	totals(inherited, "inherited", NULL, &r, &p, &c);
	assert_int_equal(r, 1 + (PROCS + 1) * THREADS * ROUNDS);
	assert_int_equal(um_key_tokens(inherited, "inherited", T0, &day, &month), 0);
	assert_int_equal(day, 5 * r);
	um_close(inherited);
}

/* The slot of the detail row of key, found by reading the file. */
static long detail_slot(const char *key)
{
	struct um_row row;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	long found = -1;
	for (long i = 0; i < UM_CAPACITY && found < 0; i++) {
		assert_int_equal(pread(fd, &row, sizeof row, UM_HEADER_SIZE + (off_t)i * UM_ROW_SIZE),
				 (ssize_t)sizeof row);
		if (row.kind == UM_DETAIL && strcmp(row.key, key) == 0)
			found = i;
	}
	close(fd);
	return found;
}

/* A process remembers where its rows are; when another one moved a row
 * (recycled its slot, rebuilt the file), the row is looked for again, not
 * written where it was. */
static void test_remembered_rows_are_checked(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	struct um_event ev = chat_event("moved", "m", 200, 1, 1, T0);
	uint64_t r, p, c;
	assert_int_equal(um_record(s, &ev), 0);
	long was = detail_slot("moved");
	assert_true(was >= 0);
	/* as another process would leave it: the row one slot on, its old slot empty */
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct um_row row, empty;
	memset(&empty, 0, sizeof empty);
	assert_int_equal(pread(fd, &row, sizeof row, UM_HEADER_SIZE + (off_t)was * UM_ROW_SIZE), (ssize_t)sizeof row);
	assert_int_equal(pwrite(fd, &empty, sizeof empty, UM_HEADER_SIZE + (off_t)was * UM_ROW_SIZE),
			 (ssize_t)sizeof empty);
	assert_int_equal(pwrite(fd, &row, sizeof row, UM_HEADER_SIZE + (off_t)(was + 1) * UM_ROW_SIZE),
			 (ssize_t)sizeof row);
	close(fd);
	assert_int_equal(um_record(s, &ev), 0);
	assert_int_equal(detail_slot("moved"), was + 1);
	totals(s, "moved", NULL, &r, &p, &c);
	assert_int_equal(r, 2);
	/* and another key's row in its place: neither is touched by the other */
	struct um_event other = chat_event("other", "m", 200, 5, 5, T0);
	assert_int_equal(um_record(s, &other), 0);
	assert_int_equal(um_record(s, &ev), 0);
	totals(s, "moved", NULL, &r, &p, &c);
	assert_int_equal(r, 3);
	assert_int_equal(p, 3);
	totals(s, "other", NULL, &r, &p, &c);
	assert_int_equal(r, 1);
	assert_int_equal(p, 5);
	um_close(s);
}

/* ---- damage ---- */

static void test_truncated_file_is_rebuilt(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	struct um_event ev = chat_event("k", "m", 200, 1, 1, T0);
	assert_int_equal(um_record(s, &ev), 0);
	static const off_t cuts[] = { 0, 7, 100, UM_HEADER_SIZE, UM_HEADER_SIZE + 1000, UM_FILE_SIZE - 1 };
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		assert_int_equal(truncate(path, cuts[i]), 0);
		uint64_t r, p, c;
		totals(s, "k", NULL, &r, &p, &c);
		assert_int_equal(r, 0);                /* its counts are lost, no crash */
		assert_int_equal(um_record(s, &ev), 0);
		totals(s, "k", NULL, &r, &p, &c);
		assert_int_equal(r, 1);                /* and counting goes on */
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, UM_FILE_SIZE);
	}
	/* a longer file is not ours either */
	assert_int_equal(truncate(path, UM_FILE_SIZE + 4096), 0);
	assert_int_equal(um_record(s, &ev), 0);
	um_close(s);
}

static void test_deleted_or_replaced_file(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	struct um_event ev = chat_event("k", "m", 200, 1, 1, T0);
	uint64_t r, p, c;
	assert_int_equal(um_record(s, &ev), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(um_record(s, &ev), 0);
	totals(s, "k", NULL, &r, &p, &c);
	assert_int_equal(r, 1);      /* in the new file */
	/* replaced by some other file */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a usage file\n", 17), 17);
	close(fd);
	assert_int_equal(um_record(s, &ev), 0);
	totals(s, "k", NULL, &r, &p, &c);
	assert_int_equal(r, 1);
	/* a symlink at the path is refused, not followed */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(um_record(s, &ev), -1);
	assert_int_equal(unlink(path), 0);
	um_close(s);
}

/* Made readable by others while kept open: taken back to 0600 by the
 * next operation, as reopening the file each time did. */
static void test_mode_kept_private(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	struct um_event ev = chat_event("k", "m", 200, 1, 1, T0);
	struct stat st;
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(um_record(s, &ev), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	um_close(s);
}

/* Garbage in every row: reading terminates every label and counting still works. */
static void test_corrupt_rows(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	unsigned char junk[UM_ROW_SIZE];
	for (int i = 0; i < UM_CAPACITY; i++) {
		for (size_t j = 0; j < sizeof junk; j++)
			junk[j] = (unsigned char)(i * 31 + j * 7 + 1);
		uint32_t kind = (uint32_t)(i % 5);   /* real kinds and others */
		memcpy(junk, &kind, sizeof kind);
		assert_int_equal(pwrite(fd, junk, sizeof junk, UM_HEADER_SIZE + (off_t)i * UM_ROW_SIZE),
				 (ssize_t)sizeof junk);
	}
	close(fd);
	struct um_row *rows;
	size_t n;
	struct um_gauges g;
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(strlen(rows[i].key) < UM_LABEL);
		assert_true(strlen(rows[i].reason) < UM_SHORT);
	}
	strbuf sb = STRBUF_INIT;
	um_report(rows, n, INT32_MIN, true, &sb);
	um_report(rows, n, INT32_MIN, false, &sb);
	sb_free(&sb);
	free(rows);
	/* the garbage rows are of no day worth keeping: recycled for new ones */
	struct um_event ev = chat_event("k", "m", 200, 1, 1, T0);
	assert_int_equal(um_record(s, &ev), 0);
	uint64_t r, p, c;
	totals(s, "k", "m", &r, &p, &c);
	assert_int_equal(r, 1);
	um_close(s);
}

/* ---- full ---- */

/* Far more distinct rows than the table holds: old days are recycled for
 * today's rows; once a window holds only today's rows, a request goes
 * uncounted (with a warning) rather than evicting today's counts. */
static void test_full_table(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	char key[32];
	for (int i = 0; i < UM_CAPACITY; i++) {
		snprintf(key, sizeof key, "old%d", i);
		struct um_event ev = chat_event(key, "m", 200, 1, 1, T0 - 40 * 86400);
		assert_int_equal(um_record(s, &ev), 0);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "new%d", i);
		struct um_event ev = chat_event(key, "m", 200, 1, 1, T0);
		assert_int_equal(um_record(s, &ev), 0);
		uint64_t r, p, c, day, month;
		totals(s, key, NULL, &r, &p, &c);
		assert_int_equal(r, 1);
		assert_int_equal(um_key_tokens(s, key, T0, &day, &month), 0);
		assert_int_equal(day, 2);
	}
	/* overfill today: never more rows than the capacity, never a failure */
	for (int i = 0; i < UM_CAPACITY; i++) {
		snprintf(key, sizeof key, "today%d", i);
		struct um_event ev = chat_event(key, "m", 200, 1, 1, T0);
		assert_int_equal(um_record(s, &ev), 0);
	}
	struct um_row *rows;
	size_t n;
	struct um_gauges g;
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	assert_true(n <= UM_CAPACITY);
	free(rows);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, UM_FILE_SIZE);
	um_close(s);
}

/* ---- gauges ---- */

static struct um_gauges gauges_now(um_store *s)
{
	struct um_row *rows;
	size_t n;
	struct um_gauges g;
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	free(rows);
	return g;
}

/* The host's gauges are in_flight and streams now. */
static void assert_gauges(um_store *s, long in_flight, long streams)
{
	struct um_gauges g = gauges_now(s);
	assert_int_equal(g.in_flight, in_flight);
	assert_int_equal(g.streams, streams);
}

static void test_gauges_of_live_processes_only(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	assert_int_equal(um_gauge_add(s, 2, 1), 0);
	pid_t kid = fork();
	if (kid == 0)
		_exit(um_gauge_add(s, 5, 5) == 0 ? 0 : 1);   /* dies holding counts */
	int st;
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_gauges(s, 2, 1);
	assert_int_equal(um_gauge_add(s, -2, -1), 0);
	assert_gauges(s, 0, 0);
	um_close(s);
}

/* A request's end takes its gauges down in the step that counts it. */
static void test_record_takes_gauges_down(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	assert_int_equal(um_gauge_add(s, 1, 0), 0);
	assert_int_equal(um_gauge_add(s, 1, 0), 0);
	assert_int_equal(um_gauge_add(s, 0, 1), 0);
	struct um_event ev = chat_event("k", "m", 200, 1, 1, T0);
	ev.in_flight_delta = -1;
	ev.streams_delta = -1;
	assert_int_equal(um_record(s, &ev), 0);
	assert_gauges(s, 1, 0);
	ev.streams_delta = 0;
	assert_int_equal(um_record(s, &ev), 0);
	uint64_t r, p, c;
	totals(s, "k", NULL, &r, &p, &c);
	assert_int_equal(r, 2);
	assert_gauges(s, 0, 0);
	/* the file replaced while in flight: the -1 does not go below zero */
	assert_int_equal(um_gauge_add(s, 1, 0), 0);
	assert_int_equal(unlink(path), 0);
	ev.in_flight_delta = -1;
	assert_int_equal(um_record(s, &ev), 0);
	assert_int_equal(um_gauge_add(s, 1, 0), 0);
	assert_int_equal(gauges_now(s).in_flight, 1);
	um_close(s);
}

/* A process whose gauge slot lies behind 40 live ones finds it again and
 * does not take a second; the slots of processes that died are taken
 * again and count nothing. */
static void test_gauges_past_the_first_blocks(void **state)
{
	(void)state;
	enum { OTHERS = 40 };  /* more than two blocks of UM_GAUGE_BLOCK */
	um_store *s = open_fresh();
	struct um_row *rows;
	size_t n;
	struct um_gauges g;
	pid_t kids[OTHERS];
	int hold[2];
	assert_int_equal(pipe(hold), 0);
	for (int i = 0; i < OTHERS; i++) {
		int ready[2];
		char c;
		assert_int_equal(pipe(ready), 0);
		kids[i] = fork();
		if (kids[i] == 0) {
			close(hold[1]);
			int rc = um_gauge_add(s, 1, 0);
			(void)!write(ready[1], "x", 1);
			(void)!read(hold[0], &c, 1);  /* alive until the parent closes it */
			_exit(rc == 0 ? 0 : 1);
		}
		assert_int_equal(read(ready[0], &c, 1), 1);
		close(ready[0]);
		close(ready[1]);
	}
	assert_int_equal(um_gauge_add(s, 2, 1), 0);
	assert_int_equal(um_gauge_add(s, 1, 0), 0);
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	free(rows);
	assert_int_equal(g.in_flight, OTHERS + 3);
	assert_int_equal(g.streams, 1);
	assert_int_equal(um_gauge_add(s, -3, -1), 0);
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	free(rows);
	assert_int_equal(g.in_flight, OTHERS);
	assert_int_equal(g.streams, 0);
	close(hold[1]);
	for (int i = 0; i < OTHERS; i++) {
		int st;
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	close(hold[0]);
	/* their slots, dead now, count nothing and are taken again */
	assert_int_equal(um_gauge_add(s, 1, 1), 0);
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	free(rows);
	assert_int_equal(g.in_flight, 1);
	assert_int_equal(g.streams, 1);
	assert_int_equal(um_gauge_add(s, -1, -1), 0);
	um_close(s);
}

/* A process that holds its slot changes its gauges with one write and no
 * lock: here while another process holds the file's flock, which a cycle
 * would wait for until that process ends. */
static void test_held_slot_changes_without_the_lock(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	int locked[2], release[2];
	char c;
	assert_int_equal(um_gauge_add(s, 1, 0), 0);  /* takes the slot, in a cycle */
	assert_int_equal(pipe(locked), 0);
	assert_int_equal(pipe(release), 0);
	pid_t kid = fork();
	if (kid == 0) {
		int fd = open(path, O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX) != 0)
			_exit(1);
		(void)!write(locked[1], "x", 1);
		struct pollfd p = { release[0], POLLIN, 0 };
		(void)poll(&p, 1, 5000);  /* at most 5 s: a cycle waits that long */
		_exit(0);
	}
	assert_int_equal(read(locked[0], &c, 1), 1);
	assert_int_equal(um_gauge_add(s, 1, 1), 0);
	assert_int_equal(um_gauge_add(s, -1, 0), 0);
	int st;
	assert_int_equal(waitpid(kid, &st, WNOHANG), 0);  /* still holding the lock */
	(void)!write(release[1], "x", 1);
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_gauges(s, 1, 1);
	close(locked[0]);
	close(locked[1]);
	close(release[0]);
	close(release[1]);
	um_close(s);
}

/* The gauges are the process's own counts: a file rebuilt by another
 * process (damage) or replaced shows them again at the next change,
 * not counts begun from nothing. */
static void test_gauges_come_back_to_a_new_file(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	struct um_event ev = chat_event("k", "m", 200, 1, 1, T0);
	assert_int_equal(um_gauge_add(s, 3, 2), 0);
	assert_int_equal(truncate(path, 100), 0);
	pid_t kid = fork();
	if (kid == 0)
		_exit(um_record(s, &ev) == 0 ? 0 : 1);  /* rebuilds it, slots and all */
	int st;
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(gauges_now(s).in_flight, 0);  /* lost with the file */
	assert_int_equal(um_gauge_add(s, -1, 0), 0);
	assert_gauges(s, 2, 2);
	/* replaced: the next cycle (a request's end) writes them there */
	assert_int_equal(unlink(path), 0);
	ev.in_flight_delta = -1;
	assert_int_equal(um_record(s, &ev), 0);
	assert_gauges(s, 1, 2);
	um_close(s);
}

/* A store closed (a CGI run's end) gives its slot back empty. */
static void test_close_frees_the_slot(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	assert_int_equal(um_gauge_add(s, 1, 0), 0);
	assert_int_equal(um_gauge_add(s, -1, 0), 0);
	um_close(s);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	int32_t pid = -1;
	/* the first slot: the header's magic, version, capacity, size, row size and pad come first */
	assert_int_equal(pread(fd, &pid, sizeof pid, 32), (ssize_t)sizeof pid);
	close(fd);
	assert_int_equal(pid, 0);
}

/* ---- the table ---- */

static void test_report(void **state)
{
	(void)state;
	um_store *s = open_fresh();
	struct um_event evs[] = {
		chat_event("alice", "m1", 200, 10, 5, T0),
		chat_event("alice", "m1", 200, 10, 5, T0),
		chat_event("alice", "m1", 429, 0, 0, T0),
		chat_event("alice", "m1", 502, 0, 0, T0),
		chat_event("bob \"q\"", "m2", 200, 1, 2, T0 - 86400),
	};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		assert_int_equal(um_record(s, &evs[i]), 0);
	evs[2].route = "/v1/responses";   /* the same status from another route: one entry */
	assert_int_equal(um_record(s, &evs[2]), 0);
	struct um_row *rows;
	size_t n;
	struct um_gauges g;
	assert_int_equal(um_snapshot(s, &rows, &n, &g), 0);
	strbuf sb = STRBUF_INIT;
	um_report(rows, n, INT32_MIN, true, &sb);
	assert_string_equal(sb_str(&sb),
			    "[\n{\"day\":\"2025-11-30\",\"key\":\"bob \\\"q\\\"\",\"model\":\"m2\",\"requests\":1,"
			    "\"prompt_tokens\":1,\"completion_tokens\":2,\"errors\":{}},\n"
			    "{\"day\":\"2025-12-01\",\"key\":\"alice\",\"model\":\"m1\",\"requests\":5,"
			    "\"prompt_tokens\":20,\"completion_tokens\":10,\"errors\":{\"429\":2,\"502\":1}}\n]\n");
	sb_reset(&sb);
	um_report(rows, n, um_day(T0), false, &sb);
	assert_non_null(strstr(sb_str(&sb), "DAY"));
	assert_non_null(strstr(sb_str(&sb), "2025-12-01  alice"));
	assert_non_null(strstr(sb_str(&sb), "429:2 502:1"));
	assert_null(strstr(sb_str(&sb), "bob"));          /* before --since */
	sb_reset(&sb);
	um_report(NULL, 0, INT32_MIN, true, &sb);
	assert_string_equal(sb_str(&sb), "[]\n");
	sb_free(&sb);
	free(rows);
	um_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_record_and_budget_totals),
		cmocka_unit_test(test_exact_across_processes_and_threads),
		cmocka_unit_test(test_one_handle_across_forks_and_threads),
		cmocka_unit_test(test_remembered_rows_are_checked),
		cmocka_unit_test(test_truncated_file_is_rebuilt),
		cmocka_unit_test(test_deleted_or_replaced_file),
		cmocka_unit_test(test_mode_kept_private),
		cmocka_unit_test(test_corrupt_rows),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_gauges_of_live_processes_only),
		cmocka_unit_test(test_record_takes_gauges_down),
		cmocka_unit_test(test_gauges_past_the_first_blocks),
		cmocka_unit_test(test_held_slot_changes_without_the_lock),
		cmocka_unit_test(test_gauges_come_back_to_a_new_file),
		cmocka_unit_test(test_close_frees_the_slot),
		cmocka_unit_test(test_report),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
