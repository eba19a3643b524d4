/* test_relocate.c: where a relocatable build puts its state and finds its config: beside the binary, outside the web root */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "relocate.h"

static void assert_home(const char *exe, const char *docroot, const char *want)
{
	char out[256];
	if (reloc_home(exe, docroot, out, sizeof out) != 0)
		fail_msg("%s (DOCUMENT_ROOT %s): refused", exe, docroot ? docroot : "unset");
	if (strcmp(out, want) != 0)
		fail_msg("%s (DOCUMENT_ROOT %s): %s, not %s", exe, docroot ? docroot : "unset", out, want);
}

static void test_home_outside_web_root(void **state)
{
	(void)state;
	/* cPanel-style: cgi-bin inside the web root: the web root's parent */
	assert_home("/home/u/public_html/cgi-bin/openai-fcgi", "/home/u/public_html", "/home/u");
	assert_home("/home/u/public_html/cgi-bin/openai-fcgi", "/home/u/public_html/", "/home/u");
	/* the binary straight in the web root, or deeper (an .htaccess front) */
	assert_home("/home/u/public_html/openai-fcgi", "/home/u/public_html", "/home/u");
	assert_home("/var/www/site/htdocs/api/v1/openai-fcgi", "/var/www/site/htdocs", "/var/www/site");
	/* cgi-bin beside the web root: the parent of the binary's directory */
	assert_home("/home/u/cgi-bin/openai-fcgi", "/home/u/public_html", "/home/u");
	/* a web root that only shares a prefix is not the binary's */
	assert_home("/home/u/www2/cgi-bin/openai-fcgi", "/home/u/www", "/home/u/www2");
}

static void test_home_without_web_root(void **state)
{
	(void)state;
	/* FastCGI at start, or a shell: no DOCUMENT_ROOT */
	assert_home("/home/u/cgi-bin/openai-fcgi", NULL, "/home/u");
	assert_home("/home/u/cgi-bin/openai-fcgi", "", "/home/u");
	assert_home("/srv/bin/openai-fcgi", "relative/ignored", "/srv");
	/* an empty root holding the binary and nothing else */
	assert_home("/openai-fcgi", NULL, "/");
	assert_home("/bin/openai-fcgi", NULL, "/");
	assert_home("/openai-fcgi", "/", "/");
}

static void test_refusals(void **state)
{
	(void)state;
	char out[16];
	assert_int_equal(reloc_home("openai-fcgi", NULL, out, sizeof out), -1);   /* not absolute */
	assert_int_equal(reloc_home(NULL, NULL, out, sizeof out), -1);
	assert_int_equal(reloc_home("/a-very-long-directory-name/x/openai-fcgi", NULL, out, sizeof out), -1);
	assert_int_equal(reloc_exe_dir("x", out, sizeof out), -1);
	assert_int_equal(reloc_join("/a-long-directory", "openai-fcgi.conf", out, sizeof out), -1);
}

static void test_exe_dir_and_join(void **state)
{
	(void)state;
	char out[128];
	assert_int_equal(reloc_exe_dir("/home/u/cgi-bin/x", out, sizeof out), 0);
	assert_string_equal(out, "/home/u/cgi-bin");
	assert_int_equal(reloc_exe_dir("/x", out, sizeof out), 0);
	assert_string_equal(out, "/");
	assert_int_equal(reloc_join("/home/u", "openai-fcgi-state", out, sizeof out), 0);
	assert_string_equal(out, "/home/u/openai-fcgi-state");
	assert_int_equal(reloc_join("/", "openai-fcgi-state", out, sizeof out), 0);
	assert_string_equal(out, "/openai-fcgi-state");
}

static void test_exe_path(void **state)
{
	(void)state;
	char out[4096];
	/* /proc is there in this test: the real path, whatever argv0 says */
	assert_int_equal(reloc_exe_path("anything", out, sizeof out), 0);
	assert_int_equal(out[0], '/');
	assert_non_null(strstr(out, "test_relocate"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_home_outside_web_root),
		cmocka_unit_test(test_home_without_web_root),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_exe_dir_and_join),
		cmocka_unit_test(test_exe_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
