/* test_json_span.c: top-level members found in an object's bytes, the strict check under it, and the value splice */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "json_span.h"

#define MAX 16

static int members(const char *s, struct js_member *ms)
{
	return js_members(s, strlen(s), ms, MAX);
}

/* What a strict json-c parse says of s: an object, whole? */
static bool json_c_object(const char *s)
{
	json_tokener *tok = json_tokener_new_ex(JS_MAX_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
	size_t end = json_tokener_get_parse_end(tok);
	while (o && end < strlen(s) && strchr(" \t\r\n", s[end]))
		end++;
	bool ok = o && json_object_is_type(o, json_type_object) && end == strlen(s);
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

static void test_members_and_spans(void **state)
{
	(void)state;
	struct js_member ms[MAX];
	const char *s = " {\"id\" : \"x\",\"model\":\"gpt\\n\", \"n\":[1,{\"a\":null}],\"u\":{\"t\":-3}}\r\n";
	assert_int_equal(members(s, ms), 4);
	assert_true(js_is(&ms[0], "id"));
	assert_false(js_is(&ms[0], "i"));
	assert_true(js_is(&ms[1], "model"));
	assert_int_equal(ms[1].val_len, strlen("\"gpt\\n\""));
	assert_memory_equal(ms[1].val, "\"gpt\\n\"", ms[1].val_len);
	assert_memory_equal(ms[2].val, "[1,{\"a\":null}]", ms[2].val_len);
	assert_memory_equal(ms[3].val, "{\"t\":-3}", ms[3].val_len);
	assert_int_equal(members("{}", ms), 0);
	assert_int_equal(members(" { } ", ms), 0);
}

/* Each byte value in a string, at each offset of a long plain run, is
 * taken or refused as it should be (what is taken, strict json-c takes
 * too), and the string's end is found where it is. The run is long enough
 * for two 16-byte steps of the plain-run scan and a tail after them. */
static void test_string_bytes_at_every_offset(void **state)
{
	(void)state;
	struct js_member ms[MAX];
	char s[80];
	static const char xs[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	const size_t run = sizeof xs - 1;
	for (int b = 0; b < 256; b++) {
		for (size_t at = 0; at < run; at++) {
			int len;
			if (b == '"')  /* it ends the first string: the rest is a second key */
				len = snprintf(s, sizeof s, "{\"a\":\"%.*s\",\"%.*s\":1}", (int)at, xs, (int)(run - at), xs);
			else {
				len = snprintf(s, sizeof s, "{\"a\":\"%s\"}", xs);
				s[6 + at] = (char)b;
			}
			/* raw control bytes and a backslash before an x are refused; all else taken */
			bool want = b >= 0x20 && b != '\\';
			int n = js_members(s, (size_t)len, ms, MAX);
			if (want != (n >= 0))
				fail_msg("byte 0x%02x at %zu: %s, js_members %d", b, at, want ? "valid" : "invalid", n);
			if (n < 0)
				continue;
			assert_true(json_c_object(s));
			assert_int_equal(n, b == '"' ? 2 : 1);
			assert_int_equal(ms[0].val_len, b == '"' ? at + 2 : run + 2);
		}
	}
}

/* Valid JSON objects of every kind of value: both accept. */
static void test_accepts_what_json_accepts(void **state)
{
	(void)state;
	static const char *valid[] = {
		"{\"a\":0}", "{\"a\":-0.5e+10}", "{\"a\":1E-2}", "{\"a\":123456789012345678901234567890}",
		"{\"a\":\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", "{\"a\":\"h\xc3\xa9\"}",
		"{\"a\":[],\"b\":{},\"c\":[[]],\"d\":true,\"e\":false,\"f\":null}",
		"{\"a\":[1, 2 ,3],\"b\" :\t{\"c\" :\n[\"d\"]}}",
		"{\"a\":1,\"a\":2}",
		"{\"a\":\"\x7f del, \xe2\x80\xa8 and \\\\ at the end\\\\\"}", "{\"\":\"\"}",
	};
	struct js_member ms[MAX];
	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
		assert_true(json_c_object(valid[i]));
		if (members(valid[i], ms) < 0)
			fail_msg("refused valid %s", valid[i]);
	}
}

/* Whatever it accepts a strict parser accepts: a lenient one's extras,
 * broken grammar and non-objects are refused (the caller then takes the
 * slow path). */
static void test_refuses_what_is_not_strict_json(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", " ", "[]", "\"s\"", "1", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}",
		"{'a':1}", "{\"a\":'x'}", "{\"a\":1,}", "{,}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":1}{}",
		"{\"a\":1} x", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":-Infinity}", "{\"a\":01}", "{\"a\":1.}",
		"{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":True}", "{\"a\":nul}",
		"{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"tab\there\"}",
		"{\"a\":\"nl\nhere\"}", "{\"a\":\"open}", "{\"a\":1 /* c */}", "{\"a\":1} // c", "{\"a\":[1}",
		"{\"a\":{\"b\":1]}", "{\"a\":\"x\"\"y\"}",
		"{\"a\":\"\\\"}", "{\"a\":\"x\\", "{\"a\":\"\\u00e\"}", "{\"a\":\"\\U00e9\"}", "{\"a\":\"\x1f\"}",
	};
	struct js_member ms[MAX];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (members(bad[i], ms) >= 0)
			fail_msg("accepted %s", bad[i]);
}

static void test_nesting_bounded_like_json_c(void **state)
{
	(void)state;
	struct js_member ms[MAX];
	char deep[256];
	for (int depth = 1; depth < 40; depth++) {
		/* {"a": then depth-1 arrays */
		int n = snprintf(deep, sizeof deep, "{\"a\":");
		for (int i = 1; i < depth; i++)
			deep[n++] = '[';
		deep[n++] = '1';
		for (int i = 1; i < depth; i++)
			deep[n++] = ']';
		deep[n++] = '}';
		deep[n] = '\0';
		/* never more than a json-c parse takes */
		if (members(deep, ms) >= 0)
			assert_true(json_c_object(deep));
	}
	/* the top-level object, 30 arrays and the 1 in them: json-c's 32 levels */
	strcpy(deep, "{\"a\":");
	for (int i = 0; i < 30; i++)
		strcat(deep, "[");
	strcat(deep, "1");
	for (int i = 0; i < 30; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	assert_int_equal(members(deep, ms), 1);
}

/* A key whose bytes are not its name, or more members than room: refused. */
static void test_escaped_key_and_room(void **state)
{
	(void)state;
	struct js_member ms[MAX];
	assert_int_equal(members("{\"mod\\u0065l\":1}", ms), -1);
	assert_int_equal(members("{\"a\":{\"k\\n\":1}}", ms), 1);  /* below the top level: fine */
	assert_int_equal(js_members("{\"a\":1,\"b\":2}", 13, ms, 1), -1);
	assert_int_equal(js_members("{\"a\":1,\"b\":2}", 13, ms, 2), 2);
	/* the length given is the text: a NUL or what follows is not read */
	assert_int_equal(js_members("{\"a\":1}garbage", 7, ms, 2), 1);
}

static void test_int(void **state)
{
	(void)state;
	int64_t v;
	assert_true(js_int("42", 2, &v));
	assert_int_equal(v, 42);
	assert_true(js_int("-7", 2, &v));
	assert_int_equal(v, -7);
	assert_true(js_int("9223372036854775807", 19, &v));
	assert_false(js_int("9223372036854775808", 19, &v));
	assert_false(js_int("1.0", 3, &v));
	assert_false(js_int("1e3", 3, &v));
	assert_false(js_int("\"1\"", 3, &v));
	assert_false(js_int("null", 4, &v));
	assert_false(js_int("", 0, &v));
}

static void test_replace_value(void **state)
{
	(void)state;
	struct js_member ms[MAX];
	const char *cases[][2] = {
		{ "{\"model\":\"up\",\"x\":1}", "{\"model\":\"fast \\\"q\\\"\",\"x\":1}" },
		{ "{ \"x\" : 1 , \"model\" : null }", "{ \"x\" : 1 , \"model\" : \"fast \\\"q\\\"\" }" },
		/* every top-level one (json-c would keep the last), none below */
		{ "{\"model\":1,\"o\":{\"model\":2},\"model\":3}",
		  "{\"model\":\"fast \\\"q\\\"\",\"o\":{\"model\":2},\"model\":\"fast \\\"q\\\"\"}" },
		{ "{\"x\":\"model\"}", "{\"x\":\"model\"}" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		strbuf out = STRBUF_INIT;
		int n = members(cases[i][0], ms);
		assert_true(n >= 0);
		js_replace_value(cases[i][0], strlen(cases[i][0]), ms, n, "model", "fast \"q\"", &out);
		assert_string_equal(sb_str(&out), cases[i][1]);
		assert_true(json_c_object(sb_str(&out)));
		sb_free(&out);
	}
}

/* An array's elements as spans, however spaced; what is not an array, or
 * has more elements than room, is refused. */
static void test_items(void **state)
{
	(void)state;
	struct js_member ms[MAX], it[4];
	const char *s = "{\"c\": [ {\"i\":0} , \"x\",[1,2], null ]}";
	assert_int_equal(members(s, ms), 1);
	assert_int_equal(js_items(ms[0].val, ms[0].val_len, it, 4), 4);
	assert_memory_equal(it[0].val, "{\"i\":0}", it[0].val_len);
	assert_memory_equal(it[1].val, "\"x\"", it[1].val_len);
	assert_memory_equal(it[2].val, "[1,2]", it[2].val_len);
	assert_memory_equal(it[3].val, "null", it[3].val_len);
	assert_null(it[0].key);
	assert_int_equal(js_items("[ ]", 3, it, 4), 0);
	assert_int_equal(js_items("[1,2,3,4,5]", 11, it, 4), -1);
	assert_int_equal(js_items("{\"a\":1}", 7, it, 4), -1);
}

/* A member left out wherever it stands (first, middle, last, alone, twice),
 * model replaced in the same pass; no drop leaves the bytes as they came.
 * Every result is an object json-c accepts. */
static void test_replace_drop(void **state)
{
	(void)state;
	static const char *cases[][2] = {
		{ "{\"usage\":{\"a\":1},\"model\":\"m\",\"x\":[]}", "{\"model\":\"M\",\"x\":[]}" },
		{ " { \"model\" : \"m\" , \"usage\" : null , \"x\" : 1 } ", " { \"model\":\"M\",\"x\":1} " },
		{ "{\"x\":1,\"usage\":null}", "{\"x\":1}" },
		{ "{\"usage\":null}", "{}" },
		{ "{\"usage\":1,\"x\":{\"model\":\"in\"},\"usage\":2}", "{\"x\":{\"model\":\"in\"}}" },
		{ "{ \"model\" : \"m\" }", "{ \"model\" : \"M\" }" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct js_member ms[MAX];
		int n = members(cases[i][0], ms);
		assert_true(n > 0);
		strbuf out = STRBUF_INIT;
		js_replace_drop(cases[i][0], strlen(cases[i][0]), ms, n, "model", "M", "usage", &out);
		assert_string_equal(sb_str(&out), cases[i][1]);
		assert_true(json_c_object(sb_str(&out)));
		sb_free(&out);
	}
	strbuf out = STRBUF_INIT;
	struct js_member ms[MAX];
	const char *s = "{\"a\": 1}";
	js_replace_drop(s, strlen(s), ms, members(s, ms), "model", "M", NULL, &out);
	assert_string_equal(sb_str(&out), s);
	sb_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_members_and_spans),
		cmocka_unit_test(test_string_bytes_at_every_offset),
		cmocka_unit_test(test_accepts_what_json_accepts),
		cmocka_unit_test(test_refuses_what_is_not_strict_json),
		cmocka_unit_test(test_nesting_bounded_like_json_c),
		cmocka_unit_test(test_escaped_key_and_room),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_replace_value),
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_replace_drop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
