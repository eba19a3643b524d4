/* test_cooldown.c: cooldown.c: K failures in a row, Retry-After, and a shared file that survives deletion, truncation and garbage */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cooldown.h"

static void test_k_failures_in_a_row_cool(void **state)
{
	(void)state;
	struct cd_state s = { 0, 0 };
	cd_fail(&s, 1000, 3, 30000, -1);
	cd_fail(&s, 1100, 3, 30000, -1);
	assert_false(cd_cooling(&s, 1100));
	cd_fail(&s, 1200, 3, 30000, -1);
	assert_true(cd_cooling(&s, 1200));
	assert_int_equal(s.until_ms, 31200);
	assert_false(cd_cooling(&s, 31200));
	/* the one try after the cooldown fails: cooled again at once */
	cd_fail(&s, 31300, 3, 30000, -1);
	assert_int_equal(s.until_ms, 61300);
	cd_succeed(&s);
	assert_false(cd_cooling(&s, 31400));
	assert_int_equal(s.failures, 0);
	/* a success in between starts the count again */
	cd_fail(&s, 1000, 2, 500, -1);
	cd_succeed(&s);
	cd_fail(&s, 1000, 2, 500, -1);
	assert_false(cd_cooling(&s, 1000));
}

static void test_retry_after_is_the_cooldown(void **state)
{
	(void)state;
	struct cd_state s = { 0, 0 };
	cd_fail(&s, 1000, 3, 30000, 7000);  /* first failure, but the upstream said 7 s */
	assert_true(cd_cooling(&s, 7999));
	assert_false(cd_cooling(&s, 8000));
	cd_fail(&s, 2000, 1, 0, 0);         /* cooldowns off, Retry-After 0: nothing */
	assert_false(cd_cooling(&s, 8000));
	struct cd_state t = { 0, 0 };
	cd_fail(&t, 1000, 1, 1000, CD_MAX_COOL_MS * 10);  /* capped */
	assert_int_equal(t.until_ms, 1000 + CD_MAX_COOL_MS);
	struct cd_state u = { 0, 0 };
	cd_fail(&u, 1000, 1, 5000, 100);    /* the longer of the two */
	assert_int_equal(u.until_ms, 6000);
}

static void test_keys_differ_and_are_never_zero(void **state)
{
	(void)state;
	assert_true(cd_key("http://a/v1", "m") != cd_key("http://b/v1", "m"));
	assert_true(cd_key("http://a/v1", "m") != cd_key("http://a/v1", "n"));
	assert_true(cd_key("http://a/v1m", "") != cd_key("http://a/v1", "m"));
	assert_true(cd_key("", "") != 0);
}

static char path[256];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof path, "/tmp/oaf-cooldown-test-%ld", (long)getpid());
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

/* Two stores on one file are two processes: what one records, the other reads. */
static void test_file_shared_between_stores(void **state)
{
	(void)state;
	cd_store *a, *b;
	char err[256];
	assert_int_equal(cd_open(path, &a, err, sizeof err), 0);
	assert_int_equal(cd_open(path, &b, err, sizeof err), 0);
	uint64_t k = cd_key("http://x/v1", "m");
	struct cd_state st;
	assert_int_equal(cd_record(a, k, 1000, false, 2, 5000, -1, &st), 0);
	assert_int_equal(cd_get(b, k, 1000).failures, 1);
	assert_int_equal(cd_record(b, k, 1001, false, 2, 5000, -1, &st), 0);
	assert_int_equal(st.until_ms, 6001);
	assert_int_equal(cd_get(a, k, 2000).until_ms, 6001);
	/* many keys: each keeps its own record */
	for (int i = 0; i < 100; i++) {
		char m[16];
		snprintf(m, sizeof m, "m%d", i);
		cd_record(a, cd_key("http://y/v1", m), 1000, false, 1, 1000 + i, -1, NULL);
	}
	for (int i = 0; i < 100; i++) {
		char m[16];
		snprintf(m, sizeof m, "m%d", i);
		assert_int_equal(cd_get(b, cd_key("http://y/v1", m), 1000).until_ms, 2000 + i);
	}
	assert_int_equal(cd_record(a, k, 3000, true, 2, 5000, -1, &st), 0);
	assert_int_equal(cd_get(b, k, 3000).failures, 0);
	assert_int_equal(cd_get(b, k, 3000).until_ms, 0);
	cd_close(a);
	cd_close(b);
}

/* Deleted, truncated or overwritten with garbage: records are lost, the
 * store keeps working and writes a good file again. */
static void test_file_survives_deletion_truncation_garbage(void **state)
{
	(void)state;
	cd_store *a;
	char err[256];
	assert_int_equal(cd_open(path, &a, err, sizeof err), 0);
	uint64_t k = cd_key("http://x/v1", "m");
	cd_record(a, k, 1000, false, 1, 5000, -1, NULL);
	assert_int_equal(unlink(path), 0);
	cd_record(a, k, 1000, false, 1, 5000, -1, NULL);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);  /* made again */
	assert_true(cd_get(a, k, 1000).until_ms > 0);

	assert_int_equal(truncate(path, 10), 0);
	assert_int_equal(cd_get(a, k, 1000).until_ms, 0);  /* nothing there, no crash */
	cd_record(a, k, 1000, false, 1, 5000, -1, NULL);
	assert_int_equal(cd_get(a, k, 1000).until_ms, 6000);

	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	for (int i = 0; i < 20000; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	assert_int_equal(cd_get(a, k, 1000).until_ms, 0);   /* garbage is no record */
	cd_record(a, k, 1000, false, 1, 5000, -1, NULL);
	assert_int_equal(cd_get(a, k, 1000).until_ms, 6000);
	/* a record further than a day ahead is not believed */
	assert_int_equal(cd_get(a, k, 6000 - CD_MAX_COOL_MS - 1).until_ms, 0);
	cd_close(a);
}

static void test_refuses_symlink(void **state)
{
	(void)state;
	char link[300];
	snprintf(link, sizeof link, "%s.link", path);
	unlink(link);
	assert_int_equal(symlink("/tmp", link), 0);
	cd_store *a;
	char err[256];
	assert_int_equal(cd_open(link, &a, err, sizeof err), -1);
	assert_non_null(strstr(err, "symlink"));
	unlink(link);
	assert_null(cd_get(NULL, 1, 0).until_ms ? (void *)1 : NULL);
	assert_int_equal(cd_record(NULL, 1, 0, false, 1, 1, -1, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_k_failures_in_a_row_cool),
		cmocka_unit_test(test_retry_after_is_the_cooldown),
		cmocka_unit_test(test_keys_differ_and_are_never_zero),
		cmocka_unit_test_setup_teardown(test_file_shared_between_stores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_survives_deletion_truncation_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_symlink, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
