/* test_key_policy.c: ISO 8601 times, a key's validity window, its models and its token reservation */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "key_policy.h"

static int64_t parsed(const char *s)
{
	int64_t t = 0;
	if (kp_parse_time(s, &t) != 0)
		fail_msg("refused: %s", s);
	return t;
}

static void test_times_accepted(void **state)
{
	(void)state;
	static const struct { const char *text; int64_t t; } ok[] = {
		{ "1970-01-01", 0 },
		{ "2027-01-31", 1801353600 },
		{ "2027-01-31T00:00:00Z", 1801353600 },
		{ "2027-01-31T18:00Z", 1801353600 + 18 * 3600 },
		{ "2027-01-31 18:00:05z", 1801353600 + 18 * 3600 + 5 },
		{ "2027-01-31T18:00:05.999Z", 1801353600 + 18 * 3600 + 5 },   /* fractions dropped */
		{ "2027-01-31T18:00:05,5Z", 1801353600 + 18 * 3600 + 5 },
		{ "2027-01-31T19:00:00+01:00", 1801353600 + 18 * 3600 },
		{ "2027-01-31T16:30:00-0130", 1801353600 + 18 * 3600 },
		{ "2027-02-01T02:00:00+08", 1801353600 + 18 * 3600 },
		{ "2028-02-29T12:00:00Z", 1835438400 },                      /* a leap day */
		{ "2000-02-29", 951782400 },
		{ "1969-12-31T23:59:59Z", -1 },
		{ "2026-12-31T23:59:60Z", 1798761600 },                      /* a leap second */
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		int64_t t = parsed(ok[i].text);
		if (t != ok[i].t)
			fail_msg("%s: %lld, not %lld", ok[i].text, (long long)t, (long long)ok[i].t);
	}
}

static void test_times_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "2027", "2027-1-31", "2027-01-32", "2027-13-01", "2027-00-10", "2027-02-29",
		"1900-02-29", "2027-04-31", "2027-01-31T18:00", "2027-01-31T18:00:00",  /* no zone */
		"2027-01-31T24:00Z", "2027-01-31T18:60Z", "2027-01-31T18:00:61Z", "2027-01-31T18Z",
		"2027-01-31T18:00:00.Z", "2027-01-31T18:00:00+25:00", "2027-01-31T18:00:00+01:60",
		"2027-01-31T18:00:00+1", "2027-01-31T18:00:00 Z", "2027-01-31X18:00Z", "2027-01-31Z",
		"2027-01-31T18:00:00ZZ", "next tuesday", "27-01-31", "2027/01/31", " 2027-01-31",
	};
	int64_t t = 42;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (kp_parse_time(bad[i], &t) == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
	assert_int_equal(kp_parse_time(NULL, &t), -1);
	assert_int_equal(t, 42);  /* untouched on failure */
}

static void test_format_round_trip(void **state)
{
	(void)state;
	char buf[32];
	kp_format_time(1801353600 + 18 * 3600 + 5, buf, sizeof buf);
	assert_string_equal(buf, "2027-01-31T18:00:05Z");
	assert_int_equal(parsed(buf), 1801353600 + 18 * 3600 + 5);
}

static void test_validity(void **state)
{
	(void)state;
	assert_int_equal(kp_validity_at(KP_NO_NOT_BEFORE, KP_NO_EXPIRY, 0), KP_VALID);
	assert_int_equal(kp_validity_at(100, 200, 99), KP_NOT_YET_VALID);
	assert_int_equal(kp_validity_at(100, 200, 100), KP_VALID);   /* from not_before on */
	assert_int_equal(kp_validity_at(100, 200, 199), KP_VALID);
	assert_int_equal(kp_validity_at(100, 200, 200), KP_EXPIRED); /* expired at expires */
	assert_int_equal(kp_validity_at(KP_NO_NOT_BEFORE, 200, INT64_MAX), KP_EXPIRED);
	assert_int_equal(kp_validity_at(100, KP_NO_EXPIRY, INT64_MIN), KP_NOT_YET_VALID);
}

static void test_models(void **state)
{
	(void)state;
	char *models[] = { "gpt-4o-mini", "blueprint-standard" };
	assert_true(kp_model_allowed(NULL, 0, "anything"));
	assert_true(kp_model_allowed(models, 2, "gpt-4o-mini"));
	assert_true(kp_model_allowed(models, 2, "blueprint-standard"));
	assert_false(kp_model_allowed(models, 2, "gpt-4o"));          /* a prefix is another model */
	assert_false(kp_model_allowed(models, 2, "gpt-4o-mini-2024"));
	assert_false(kp_model_allowed(models, 2, "GPT-4o-mini"));     /* ids are exact */
	assert_false(kp_model_allowed(models, 2, ""));
	assert_false(kp_model_allowed(models, 1, "blueprint-standard"));
}

static void test_reservation(void **state)
{
	(void)state;
	assert_int_equal(kp_reservation(12, 100, 1, 256), 112);
	assert_int_equal(kp_reservation(12, -1, 1, 256), 268);       /* no bound: the default */
	assert_int_equal(kp_reservation(12, 0, 1, 256), 12);         /* max_tokens 0 is a bound */
	assert_int_equal(kp_reservation(12, 100, 3, 256), 312);      /* each choice may use it */
	assert_int_equal(kp_reservation(12, -1, 2, 0), 12);
	assert_int_equal(kp_reservation(LONG_MAX - 5, 100, 1, 0), LONG_MAX);
	assert_int_equal(kp_reservation(1, LONG_MAX / 2, 3, 0), LONG_MAX);
	assert_int_equal(kp_reservation(-3, 10, 0, 0), 10);          /* nonsense clamped */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_times_accepted),
		cmocka_unit_test(test_times_refused),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_models),
		cmocka_unit_test(test_reservation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
