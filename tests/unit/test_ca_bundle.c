/* test_ca_bundle.c: the CA bundle lookup: CA_BUNDLE first, else the first usual place a host has */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ca_bundle.h"

/* The host the test pretends to be: the paths it has. */
static const char *const *present;

static bool fake_usable(const char *path)
{
	for (const char *const *p = present; p && *p; p++)
		if (strcmp(*p, path) == 0)
			return true;
	return false;
}

static const char *pick_on(const char *const *host, const char *configured)
{
	present = host;
	return ca_bundle_pick(configured, ca_bundle_system_paths, fake_usable);
}

static void test_each_distribution_found(void **state)
{
	(void)state;
	static const struct {
		const char *distribution, *path;
	} hosts[] = {
		{ "Debian/Ubuntu", "/etc/ssl/certs/ca-certificates.crt" },
		{ "RHEL/CloudLinux/AlmaLinux", "/etc/pki/tls/certs/ca-bundle.crt" },
		{ "RHEL with only ca-trust", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem" },
		{ "Alpine", "/etc/ssl/cert.pem" },
		{ "SUSE", "/etc/ssl/ca-bundle.pem" },
	};
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		const char *host[] = { hosts[i].path, NULL };
		const char *got = pick_on(host, NULL);
		if (!got || strcmp(got, hosts[i].path) != 0)
			fail_msg("%s: picked %s, not %s", hosts[i].distribution, got ? got : "nothing", hosts[i].path);
	}
}

static void test_order_when_several(void **state)
{
	(void)state;
	/* a RHEL host has both of its paths (one a link to the other): the first */
	const char *rhel[] = { "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/pki/tls/certs/ca-bundle.crt", NULL };
	assert_string_equal(pick_on(rhel, NULL), "/etc/pki/tls/certs/ca-bundle.crt");
	/* a host with Debian's file and a stray SUSE one: Debian's comes first */
	const char *mixed[] = { "/etc/ssl/ca-bundle.pem", "/etc/ssl/certs/ca-certificates.crt", NULL };
	assert_string_equal(pick_on(mixed, NULL), "/etc/ssl/certs/ca-certificates.crt");
}

static void test_setting_wins(void **state)
{
	(void)state;
	const char *debian[] = { "/etc/ssl/certs/ca-certificates.crt", NULL };
	assert_string_equal(pick_on(debian, "/home/u/ca.pem"), "/home/u/ca.pem");
	/* the setting is taken as given: whether it can be read is the caller's check */
	const char *none[] = { NULL };
	assert_string_equal(pick_on(none, "/nowhere/ca.pem"), "/nowhere/ca.pem");
	/* an empty setting is no setting */
	assert_string_equal(pick_on(debian, ""), "/etc/ssl/certs/ca-certificates.crt");
}

static void test_nothing_found(void **state)
{
	(void)state;
	const char *none[] = { NULL };
	assert_null(pick_on(none, NULL));
	const char *elsewhere[] = { "/opt/certs/ca.pem", NULL };
	assert_null(pick_on(elsewhere, NULL));
	assert_null(ca_bundle_pick(NULL, NULL, fake_usable));
}

static void test_readable(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_ca_bundle.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char file[64];
	snprintf(file, sizeof file, "%s/ca.pem", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\n", f);
	fclose(f);
	assert_true(ca_bundle_readable(file));
	assert_false(ca_bundle_readable(dir));  /* a directory is not a bundle */
	char missing[80];
	snprintf(missing, sizeof missing, "%s/none.pem", dir);
	assert_false(ca_bundle_readable(missing));
	unlink(file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_distribution_found),
		cmocka_unit_test(test_order_when_several),
		cmocka_unit_test(test_setting_wins),
		cmocka_unit_test(test_nothing_found),
		cmocka_unit_test(test_readable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
