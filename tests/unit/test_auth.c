/* test_auth.c: Bearer parsing, the error table, digests and masking for auth.c */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "auth.h"

#define KEY_A  "sk-test-0123456789abcdef"
#define KEY_B  "prod_key_BBBBBBBBBBBBBBBB"
#define KEY_C  "prod_key_CCCCCCCCCCCCCCCC"
#define HASH_A "c871f067542d565c57ebb8b54f99afe326644dceeb5c05fc2209a8161a52875e"
#define SHORT  "short_key"

static int setup_keyring(void **state)
{
	static struct auth_keyring kr;
	char *tokens[] = { KEY_A, KEY_B, KEY_C, SHORT };
	char err[128];

	if (auth_keyring_init(&kr, tokens, 4, err, sizeof err) < 0)
		return -1;
	*state = &kr;
	return 0;
}

static int teardown_keyring(void **state)
{
	auth_keyring_free(*state);
	return 0;
}

/* Asserts that header fails with code, a 401 authentication_error whose
 * param is null, and returns the message for further checks. */
static const char *expect_fail(const struct auth_keyring *kr, const char *header,
			       bool strict, const char *code)
{
	static oa_error err;
	size_t idx = 99;

	memset(&err, 0, sizeof err);
	assert_int_equal(auth_check(kr, header, strict, &idx, &err), -1);
	assert_int_equal(err.status, 401);
	assert_string_equal(err.type, "authentication_error");
	assert_true(err.code[0] != '\0');
	assert_string_equal(err.code, code);
	assert_string_equal(err.param, "");
	assert_int_equal(idx, 99);
	return err.message;
}

static size_t expect_ok(const struct auth_keyring *kr, const char *header, bool strict)
{
	oa_error err;
	size_t idx = 99;

	memset(&err, 0, sizeof err);
	assert_int_equal(auth_check(kr, header, strict, &idx, &err), 0);
	assert_int_equal(err.status, 0);
	return idx;
}

static void test_missing(void **state)
{
	const char *msg;

	msg = expect_fail(*state, NULL, true, "missing_api_key");
	assert_string_equal(msg, "You didn't provide an API key. You need to provide your "
		"API key in an Authorization header using Bearer auth (i.e. Authorization: "
		"Bearer YOUR_KEY).");
	expect_fail(*state, "", false, "missing_api_key");
	expect_fail(*state, "  \t ", false, "missing_api_key");
}

static void test_bad_format(void **state)
{
	static const char *const bad[] = {
		"Basic x", "Basic " KEY_A, "Bearer", "Bearer ", "Bearer a b",
		"Bearer " KEY_A " " KEY_B, "Bearertoken", "Bearer" KEY_A,
		"Bearer\t" KEY_A, "Token " KEY_A, KEY_A, "Bearer " KEY_A "\tx",
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_fail(*state, bad[i], false, "invalid_auth_format");
}

static void test_scheme_case_and_spaces(void **state)
{
	assert_int_equal(expect_ok(*state, "Bearer " KEY_A, true), 0);
	assert_int_equal(expect_ok(*state, "bearer " KEY_A, true), 0);
	assert_int_equal(expect_ok(*state, "BEARER " KEY_A, true), 0);
	assert_int_equal(expect_ok(*state, "bEaReR " KEY_A, true), 0);
	assert_int_equal(expect_ok(*state, "Bearer    " KEY_A, true), 0);
	/* Whitespace around the whole value is not part of it in HTTP. */
	assert_int_equal(expect_ok(*state, "  Bearer " KEY_A " \t", true), 0);
}

static void test_bad_key_chars(void **state)
{
	char long_tok[7 + AUTH_TOKEN_MAX + 2];

	expect_fail(*state, "Bearer sk-test:0123456789abcdef", false, "invalid_key_format");
	expect_fail(*state, "Bearer sk+test/0123456789abcdef", false, "invalid_key_format");
	expect_fail(*state, "Bearer sk-test\"0123456789abcdef", false, "invalid_key_format");
	expect_fail(*state, "Bearer \xc3\xa9t\xc3\xa9", false, "invalid_key_format");
	expect_fail(*state, "Bearer sha256:" HASH_A, false, "invalid_key_format");

	/* The character rule comes before the length rule. */
	expect_fail(*state, "Bearer a,b", true, "invalid_key_format");

	memcpy(long_tok, "Bearer ", 7);
	memset(long_tok + 7, 'k', AUTH_TOKEN_MAX + 1);
	long_tok[7 + AUTH_TOKEN_MAX + 1] = '\0';
	expect_fail(*state, long_tok, false, "invalid_key_format");
	/* Exactly the maximum is well-formed: it only fails to match. */
	long_tok[7 + AUTH_TOKEN_MAX] = '\0';
	expect_fail(*state, long_tok, true, "invalid_key");
}

static void test_short_key_strict_only(void **state)
{
	/* SHORT is configured: outside production/staging it is accepted. */
	assert_int_equal(expect_ok(*state, "Bearer " SHORT, false), 3);
	expect_fail(*state, "Bearer " SHORT, true, "invalid_key_length");
	/* 15 characters fails, 16 passes the length rule. */
	expect_fail(*state, "Bearer 123456789012345", true, "invalid_key_length");
	expect_fail(*state, "Bearer 1234567890123456", true, "invalid_key");
}

static void test_wrong_key(void **state)
{
	/* Same length as KEY_A, last character differs. */
	const char *msg = expect_fail(*state, "Bearer sk-test-0123456789abcdeg", true,
				      "invalid_key");

	assert_string_equal(msg, "Incorrect API key provided: sk-***cdeg.");
	assert_null(strstr(msg, "0123456789"));
	msg = expect_fail(*state, "Bearer nope", false, "invalid_key");
	assert_string_equal(msg, "Incorrect API key provided: ****.");
}

static void test_index_of_each_key(void **state)
{
	assert_int_equal(expect_ok(*state, "Bearer " KEY_A, true), 0);
	assert_int_equal(expect_ok(*state, "Bearer " KEY_B, true), 1);
	assert_int_equal(expect_ok(*state, "Bearer " KEY_C, true), 2);
}

static void test_null_index_allowed(void **state)
{
	oa_error err;
	assert_int_equal(auth_check(*state, "Bearer " KEY_B, true, NULL, &err), 0);
}

static void test_sha256_config(void **state)
{
	struct auth_keyring kr;
	char upper[] = "sha256:" HASH_A;
	char *tokens[] = { KEY_B, upper };
	char err[128], fp_plain[AUTH_FP_LEN + 1], fp_key[AUTH_FP_LEN + 1];
	size_t i;
	(void)state;

	/* Hex digits in either case name the same digest. */
	for (i = 7; upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	assert_int_equal(auth_keyring_init(&kr, tokens, 2, err, sizeof err), 0);
	assert_int_equal(expect_ok(&kr, "Bearer " KEY_A, true), 1);
	assert_int_equal(expect_ok(&kr, "Bearer " KEY_B, true), 0);
	/* The digest itself is not a key. */
	expect_fail(&kr, "Bearer " HASH_A, true, "invalid_key");

	auth_fingerprint(KEY_A, strlen(KEY_A), fp_plain);
	auth_fingerprint_key(&kr, 1, fp_key);
	assert_string_equal(fp_plain, "key_c871f067");
	assert_string_equal(fp_key, fp_plain);
	auth_fingerprint_key(&kr, 0, fp_key);
	assert_string_not_equal(fp_key, fp_plain);
	auth_keyring_free(&kr);
	assert_null(kr.digest);
	assert_int_equal(kr.n, 0);
}

static void test_bad_sha256_config(void **state)
{
	static const char *const bad[] = {
		"sha256:",
		"sha256:c871f067",                                    /* short */
		"sha256:" HASH_A "0",                                 /* long */
		"sha256:g871f067542d565c57ebb8b54f99afe326644dceeb5c05fc2209a8161a52875e",
		"sha256:c871f067542d565c57ebb8b54f99afe326644dceeb5c05fc2209a8161a52875 ",
	};
	struct auth_keyring kr;
	char err[128];
	size_t i;
	(void)state;

	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *tokens[] = { KEY_A, KEY_B, (char *)bad[i] };
		err[0] = '\0';
		assert_int_equal(auth_keyring_init(&kr, tokens, 3, err, sizeof err), -1);
		assert_non_null(strstr(err, "API token 3"));
		/* Never the value, not even its beginning. */
		assert_null(strstr(err, "871f"));
		assert_null(kr.digest);
		auth_keyring_free(&kr);
	}
}

static void test_empty_keyring(void **state)
{
	struct auth_keyring kr;
	char err[16];
	(void)state;

	assert_int_equal(auth_keyring_init(&kr, NULL, 0, err, sizeof err), 0);
	expect_fail(&kr, "Bearer " KEY_A, true, "invalid_key");
	auth_keyring_free(&kr);
}

static void test_wellformed(void **state)
{
	char max[AUTH_TOKEN_MAX + 2];
	(void)state;

	assert_true(auth_token_wellformed(KEY_A));
	assert_true(auth_token_wellformed("a"));
	assert_true(auth_token_wellformed("A-z_0.9"));
	assert_false(auth_token_wellformed(NULL));
	assert_false(auth_token_wellformed(""));
	assert_false(auth_token_wellformed("with space"));
	assert_false(auth_token_wellformed("a,b"));
	assert_false(auth_token_wellformed("sha256:" HASH_A));
	memset(max, 'x', AUTH_TOKEN_MAX);
	max[AUTH_TOKEN_MAX] = '\0';
	assert_true(auth_token_wellformed(max));
	max[AUTH_TOKEN_MAX] = 'x';
	max[AUTH_TOKEN_MAX + 1] = '\0';
	assert_false(auth_token_wellformed(max));

	assert_true(auth_token_is_digest("sha256:" HASH_A));
	assert_true(auth_token_is_digest("sha256:nonsense"));
	assert_false(auth_token_is_digest(KEY_A));
	assert_false(auth_token_is_digest(NULL));
}

static void test_mask(void **state)
{
	char out[AUTH_MASK_LEN + 1];
	(void)state;

	auth_mask("sk-abcdefghijklwxyz", 19, out);
	assert_string_equal(out, "sk-***wxyz");
	auth_mask("0123456789abcdef", 16, out);
	assert_string_equal(out, "012***cdef");
	auth_mask("0123456789abcde", 15, out);
	assert_string_equal(out, "***************");
	auth_mask("abc", 3, out);
	assert_string_equal(out, "***");
	auth_mask("", 0, out);
	assert_string_equal(out, "");
	/* Only n bytes are read: the token may sit inside a larger header. */
	auth_mask("0123456789abcdefTAIL", 16, out);
	assert_string_equal(out, "012***cdef");
}

static void test_fingerprint_shape(void **state)
{
	char a[AUTH_FP_LEN + 1], b[AUTH_FP_LEN + 1];
	(void)state;

	auth_fingerprint(KEY_A, strlen(KEY_A), a);
	assert_int_equal(strlen(a), AUTH_FP_LEN);
	assert_null(strstr(a, "sk-"));
	/* n bytes, not up to the NUL. */
	auth_fingerprint(KEY_A "junk", strlen(KEY_A), b);
	assert_string_equal(a, b);
	auth_fingerprint(KEY_B, strlen(KEY_B), b);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_bad_format),
		cmocka_unit_test(test_scheme_case_and_spaces),
		cmocka_unit_test(test_bad_key_chars),
		cmocka_unit_test(test_short_key_strict_only),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_index_of_each_key),
		cmocka_unit_test(test_null_index_allowed),
		cmocka_unit_test(test_sha256_config),
		cmocka_unit_test(test_bad_sha256_config),
		cmocka_unit_test(test_empty_keyring),
		cmocka_unit_test(test_wellformed),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_fingerprint_shape),
	};
	return cmocka_run_group_tests(tests, setup_keyring, teardown_keyring);
}
