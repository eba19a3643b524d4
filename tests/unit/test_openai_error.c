/* test_openai_error.c: the one builder of OpenAI's error envelope */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <json-c/json.h>

#include "openai_error.h"

/* Builds e's envelope, checks it is JSON with exactly error.{message,
 * type,param,code}, and returns the parsed "error" object (put it away
 * with json_object_put on the returned root). */
static json_object *envelope(const oa_error *e, json_object **root)
{
	strbuf sb = STRBUF_INIT;
	oa_error_json(e, &sb);
	*root = json_tokener_parse(sb_str(&sb));
	if (!*root)
		fail_msg("not JSON: %s", sb_str(&sb));
	sb_free(&sb);
	assert_int_equal(json_object_object_length(*root), 1);
	json_object *err;
	assert_true(json_object_object_get_ex(*root, "error", &err));
	assert_int_equal(json_object_object_length(err), 4);
	static const char *const keys[] = { "message", "type", "param", "code" };
	for (size_t i = 0; i < 4; i++)
		if (!json_object_object_get_ex(err, keys[i], NULL))
			fail_msg("key %s missing", keys[i]);
	return err;
}

static json_object *member(json_object *o, const char *k)
{
	json_object *v = NULL;
	json_object_object_get_ex(o, k, &v);
	return v;
}

static void test_all_four_keys_with_values(void **state)
{
	oa_error e;
	json_object *root;
	(void)state;
	assert_int_equal(oa_error_set(&e, 404, OA_INVALID_REQUEST, "model_not_found", "model",
				      "The model '%s' does not exist", "gpt-x"), -1);
	assert_int_equal(e.status, 404);
	json_object *err = envelope(&e, &root);
	assert_string_equal(json_object_get_string(member(err, "message")), "The model 'gpt-x' does not exist");
	assert_string_equal(json_object_get_string(member(err, "type")), "invalid_request_error");
	assert_string_equal(json_object_get_string(member(err, "param")), "model");
	assert_string_equal(json_object_get_string(member(err, "code")), "model_not_found");
	json_object_put(root);
}

static void test_null_param_and_code(void **state)
{
	oa_error e;
	json_object *root;
	(void)state;
	oa_error_set(&e, 500, OA_SERVER, NULL, NULL, "boom");
	json_object *err = envelope(&e, &root);
	assert_true(json_object_is_type(member(err, "param"), json_type_null));
	assert_true(json_object_is_type(member(err, "code"), json_type_null));
	assert_string_equal(json_object_get_string(member(err, "type")), "server_error");
	json_object_put(root);

	/* an empty param is null too, not "" */
	oa_error_set(&e, 400, OA_INVALID_REQUEST, "x", "", "m");
	err = envelope(&e, &root);
	assert_true(json_object_is_type(member(err, "param"), json_type_null));
	json_object_put(root);
}

static void test_exact_text(void **state)
{
	oa_error e;
	strbuf sb = STRBUF_INIT;
	(void)state;
	oa_error_set(&e, 401, OA_AUTHENTICATION, "invalid_key", NULL, "Invalid API key");
	oa_error_json(&e, &sb);
	assert_string_equal(sb_str(&sb), "{\"error\":{\"message\":\"Invalid API key\",\"type\":"
			    "\"authentication_error\",\"param\":null,\"code\":\"invalid_key\"}}");
	sb_free(&sb);
}

static void test_invalid_shorthand(void **state)
{
	oa_error e;
	json_object *root;
	(void)state;
	assert_int_equal(oa_invalid(&e, "bad", "messages[0].role", "n=%d", 3), -1);
	assert_int_equal(e.status, 400);
	json_object *err = envelope(&e, &root);
	assert_string_equal(json_object_get_string(member(err, "type")), "invalid_request_error");
	assert_string_equal(json_object_get_string(member(err, "param")), "messages[0].role");
	assert_string_equal(json_object_get_string(member(err, "message")), "n=3");
	json_object_put(root);
}

static void test_escaping(void **state)
{
	oa_error e;
	json_object *root;
	(void)state;
	/* what a client sent comes back in messages: quotes, newlines, control
	 * bytes and broken UTF-8 must all leave valid JSON */
	oa_error_set(&e, 400, OA_INVALID_REQUEST, NULL, "a\"b\\c", "model '%s'", "x\"y\n\x01\xff");
	json_object *err = envelope(&e, &root);
	assert_string_equal(json_object_get_string(member(err, "message")), "model 'x\"y\n\x01\xef\xbf\xbd'");
	assert_string_equal(json_object_get_string(member(err, "param")), "a\"b\\c");
	json_object_put(root);
}

static void test_no_type_means_server_error(void **state)
{
	oa_error e;
	json_object *root;
	(void)state;
	memset(&e, 0, sizeof e);
	json_object *err = envelope(&e, &root);
	assert_string_equal(json_object_get_string(member(err, "type")), "server_error");
	assert_string_equal(json_object_get_string(member(err, "message")), "");
	json_object_put(root);
}

static void test_long_message_truncated_safely(void **state)
{
	oa_error e;
	char big[2000];
	json_object *root;
	(void)state;
	memset(big, 'm', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	oa_error_set(&e, 400, OA_INVALID_REQUEST, NULL, big, "%s", big);
	assert_int_equal(strlen(e.message), sizeof e.message - 1);
	assert_int_equal(strlen(e.param), sizeof e.param - 1);
	envelope(&e, &root);
	json_object_put(root);
}

static void test_reasons(void **state)
{
	(void)state;
	assert_string_equal(http_reason(404), "Not Found");
	assert_string_equal(http_reason(405), "Method Not Allowed");
	assert_string_equal(http_reason(413), "Payload Too Large");
	assert_string_equal(http_reason(415), "Unsupported Media Type");
	assert_string_equal(http_reason(429), "Too Many Requests");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(418), "Bad Request");
	assert_string_equal(http_reason(599), "Internal Server Error");
}

/* The headers that go with an error travel in it: in order, each a line;
 * a new error drops the old one's; every 401 says WWW-Authenticate; a value
 * that would split the head, or a line that does not fit, is left out. */
static void test_error_headers(void **state)
{
	(void)state;
	oa_error e = { 0 };
	assert_int_equal(oa_error_set(&e, 429, OA_RATE_LIMIT, "rate_limit_exceeded", NULL, "slow down"), OA_ERROR);
	assert_string_equal(e.headers, "");
	assert_int_equal(oa_error_header(&e, "Retry-After", "%d", 2), 0);
	assert_int_equal(oa_error_header(&e, "retry-after-ms", "%d", 1500), 0);
	assert_string_equal(e.headers, "Retry-After: 2\r\nretry-after-ms: 1500\r\n");
	assert_int_equal(oa_error_header(&e, "X-Bad", "a\r\nSet-Cookie: x"), -1);
	assert_int_equal(oa_error_header(&e, "X-Bad", "a\x7f"), -1);
	assert_string_equal(e.headers, "Retry-After: 2\r\nretry-after-ms: 1500\r\n");
	char big[OA_ERROR_HEADERS];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(oa_error_header(&e, "X-Big", "%s", big), -1);
	assert_string_equal(e.headers, "Retry-After: 2\r\nretry-after-ms: 1500\r\n");

	oa_invalid(&e, NULL, NULL, "another error");
	assert_string_equal(e.headers, "");
	oa_error_set(&e, 401, OA_AUTHENTICATION, "invalid_key", NULL, "no");
	assert_string_equal(e.headers, "WWW-Authenticate: Bearer\r\n");
	oa_error_set(&e, 405, OA_INVALID_REQUEST, "method_not_allowed", NULL, "no");
	assert_int_equal(oa_error_header(&e, "Allow", "%s", "OPTIONS, GET"), 0);
	assert_string_equal(e.headers, "Allow: OPTIONS, GET\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_four_keys_with_values),
		cmocka_unit_test(test_null_param_and_code),
		cmocka_unit_test(test_exact_text),
		cmocka_unit_test(test_invalid_shorthand),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_no_type_means_server_error),
		cmocka_unit_test(test_long_message_truncated_safely),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_error_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
