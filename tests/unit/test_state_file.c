/* test_state_file.c: opening a state file safely, and its whole reads and writes */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state_file.h"

static char dir[] = "/tmp/oaf-test-state-file.XXXXXX";

static void at(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

/* A missing file is made 0600; one that others could read is taken back to 0600. */
static void test_creates_and_tightens(void **state)
{
	(void)state;
	char path[PATH_MAX], err[256];
	struct stat st;
	at(path, "fresh");
	int fd = sf_open(path, "test file", &st, err, sizeof err);
	assert_true(fd >= 0);
	assert_true(S_ISREG(st.st_mode));
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(chmod(path, 0644), 0);
	fd = sf_open(path, "test file", NULL, err, sizeof err);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* A symlink (even to a good file) and a directory are refused, saying why and naming the file. */
static void test_refuses_what_is_not_a_plain_file(void **state)
{
	(void)state;
	char path[PATH_MAX], link[PATH_MAX], sub[PATH_MAX], err[256];
	at(path, "target");
	int fd = sf_open(path, "usage file", NULL, err, sizeof err);
	assert_true(fd >= 0);
	close(fd);
	at(link, "link");
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(sf_open(link, "usage file", NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "usage file"));
	assert_non_null(strstr(err, "is a symlink, refused"));
	at(sub, "subdir");
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(sf_open(sub, "cooldown file", NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "cooldown file"));
}

/* Whole writes and reads at an offset; a read past the end fails rather than return part. */
static void test_read_write_all(void **state)
{
	(void)state;
	char path[PATH_MAX], err[256];
	at(path, "rw");
	int fd = sf_open(path, "test file", NULL, err, sizeof err);
	assert_true(fd >= 0);
	static char big[1 << 20], back[1 << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7 + 3);
	assert_int_equal(sf_write_all(fd, big, sizeof big, 4096), 0);
	assert_int_equal(sf_read_all(fd, back, sizeof back, 4096), 0);
	assert_memory_equal(big, back, sizeof big);
	char tail[16];
	assert_int_equal(sf_read_all(fd, tail, sizeof tail, 4096 + (off_t)sizeof big - 8), -1);
	assert_int_equal(sf_read_all(fd, tail, 0, 1 << 30), 0);  /* nothing asked: nothing to fail */
	close(fd);
	assert_int_equal(sf_write_all(fd, big, 1, 0), -1);  /* a closed descriptor */
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creates_and_tightens),
		cmocka_unit_test(test_refuses_what_is_not_a_plain_file),
		cmocka_unit_test(test_read_write_all),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
