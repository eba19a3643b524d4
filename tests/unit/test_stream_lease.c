/* test_stream_lease.c: stream leases: exact per key, freed on release and when their process dies */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stream_lease.h"

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/oaf-sl-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/streams", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static sl_store *open_ok(void)
{
	char err[256] = "";
	sl_store *s = NULL;
	if (sl_open(path, &s, err, sizeof err) != 0)
		fail_msg("sl_open: %s", err);
	return s;
}

static void test_exact_per_key(void **state)
{
	(void)state;
	sl_store *s = open_ok();
	int lease[3], other;

	for (int i = 0; i < 3; i++)
		assert_int_equal(sl_acquire(s, "k:a", 3, 3, &lease[i]), SL_HELD);
	assert_int_equal(sl_count(s, "k:a", 3, 3), 3);
	int none = -1;
	assert_int_equal(sl_acquire(s, "k:a", 3, 3, &none), SL_FULL);
	assert_int_equal(none, -1);
	/* another key has its own leases; the same key under a larger limit
	 * shares the first ones */
	assert_int_equal(sl_acquire(s, "k:b", 3, 1, &other), SL_HELD);
	int fourth;
	assert_int_equal(sl_acquire(s, "k:a", 3, 4, &fourth), SL_HELD);
	sl_release(fourth);
	/* a release frees exactly one */
	sl_release(lease[1]);
	assert_int_equal(sl_count(s, "k:a", 3, 3), 2);
	assert_int_equal(sl_acquire(s, "k:a", 3, 3, &lease[1]), SL_HELD);
	assert_int_equal(sl_acquire(s, "k:a", 3, 3, &none), SL_FULL);
	for (int i = 0; i < 3; i++)
		sl_release(lease[i]);
	sl_release(other);
	sl_release(-1);
	assert_int_equal(sl_count(s, "k:a", 3, 3), 0);
	assert_int_equal(sl_acquire(s, "k:a", 3, 0, &none), SL_ERROR);
	assert_int_equal(sl_acquire(s, "k:a", 3, SL_MAX_STREAMS + 1, &none), SL_ERROR);
	sl_close(s);
}

/* Two stores (two processes' view) of one file agree: same seed, same bytes. */
static void test_stores_share_the_file(void **state)
{
	(void)state;
	sl_store *a = open_ok(), *b = open_ok();
	int l1, l2, l3;
	struct stat st;

	assert_int_equal(sl_acquire(a, "k:x", 3, 2, &l1), SL_HELD);
	assert_int_equal(sl_acquire(b, "k:x", 3, 2, &l2), SL_HELD);
	assert_int_equal(sl_acquire(a, "k:x", 3, 2, &l3), SL_FULL);
	assert_int_equal(sl_acquire(b, "k:x", 3, 2, &l3), SL_FULL);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 16);
	assert_int_equal(st.st_mode & 0777, 0600);
	sl_release(l1);
	sl_release(l2);
	sl_close(a);
	sl_close(b);
}

/* A process killed while it holds leases loses them: nothing leaks. */
static void test_killed_holder_frees(void **state)
{
	(void)state;
	sl_store *s = open_ok();
	int p[2], l;
	char c;

	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int a, b;
		if (sl_acquire(s, "k:dead", 6, 2, &a) != SL_HELD || sl_acquire(s, "k:dead", 6, 2, &b) != SL_HELD)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(sl_count(s, "k:dead", 6, 2), 2);
	assert_int_equal(sl_acquire(s, "k:dead", 6, 2, &l), SL_FULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(sl_count(s, "k:dead", 6, 2), 0);
	assert_int_equal(sl_acquire(s, "k:dead", 6, 2, &l), SL_HELD);
	sl_release(l);
	close(p[0]);
	close(p[1]);
	sl_close(s);
}

static void test_refused_files(void **state)
{
	(void)state;
	char err[256], link[160];
	sl_store *s = NULL;
	snprintf(link, sizeof link, "%s/link", dir);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	assert_int_equal(sl_open(link, &s, err, sizeof err), -1);
	assert_non_null(strstr(err, "symlink"));
	assert_int_equal(sl_open(dir, &s, err, sizeof err), -1);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exact_per_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stores_share_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_holder_frees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
