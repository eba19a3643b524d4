/* test_redis_proto.c: REDIS_URL parsing, the limiter's key names and arguments, decoding the script's reply */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "redis_proto.h"

#define NOW 1764590000123LL

/* ---- REDIS_URL ---- */

struct good_url {
	const char *url;
	const char *host, *path, *user, *password;
	int port, db;
};

static const struct good_url good_urls[] = {
	{ "redis://127.0.0.1:6380/2", "127.0.0.1", "", "", "", 6380, 2 },
	{ "redis://localhost", "localhost", "", "", "", 6379, 0 },
	{ "redis://localhost/", "localhost", "", "", "", 6379, 0 },
	{ "redis://:s3cret@10.0.0.5:7000/15", "10.0.0.5", "", "", "s3cret", 7000, 15 },
	{ "redis://app:p%40ss%3Aword@h:1/0", "h", "", "app", "p@ss:word", 1, 0 },
	{ "redis://onlypass@h", "h", "", "", "onlypass", 6379, 0 },
	{ "redis://[::1]:6379/3", "::1", "", "", "", 6379, 3 },
	{ "redis://[fe80::1]", "fe80::1", "", "", "", 6379, 0 },
	{ "unix:///run/redis/redis.sock", "", "/run/redis/redis.sock", "", "", 6379, 0 },
	{ "unix:///tmp/r.sock?db=4", "", "/tmp/r.sock", "", "", 6379, 4 },
	{ "unix://:pw@/tmp/r.sock", "", "/tmp/r.sock", "", "pw", 6379, 0 },
	{ "unix://u:pw@/tmp/r.sock", "", "/tmp/r.sock", "u", "pw", 6379, 0 },
};

static void test_url_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof good_urls / sizeof *good_urls; i++) {
		const struct good_url *g = &good_urls[i];
		struct rp_url u;
		char err[256] = "";
		if (rp_parse_url(g->url, &u, err, sizeof err) != 0)
			fail_msg("%s refused: %s", g->url, err);
		assert_string_equal(u.host, g->host);
		assert_string_equal(u.path, g->path);
		assert_string_equal(u.user, g->user);
		assert_string_equal(u.password, g->password);
		assert_int_equal(u.port, g->port);
		assert_int_equal(u.db, g->db);
	}
}

/* Each refused for its own rule; none may quote the password back. */
static const char *const bad_urls[] = {
	"", "127.0.0.1:6379", "http://h:6379", "redis://", "redis://:pw@", "redis://h:0",
	"redis://h:65536", "redis://h:port", "redis://h:63799999999", "redis://h/x", "redis://h/1?x=y",
	"redis://h?db=1", "redis://[::1", "redis://[::1]x", "redis://h /1", "redis://h\n",
	"rediss://h", "unix://", "unix://relative.sock", "unix://host/tmp/r.sock", "unix:///",
	"unix:///tmp/r.sock?x=1", "unix:///tmp/r.sock?db=", "redis://:bad%zzescape@h", "redis://:nul%00@h",
	"redis://h:6379/-1",
};

static void test_url_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
		struct rp_url u;
		char err[256] = "";
		if (rp_parse_url(bad_urls[i], &u, err, sizeof err) == 0)
			fail_msg("\"%s\" accepted", bad_urls[i]);
		assert_non_null(strstr(err, "REDIS_URL"));
		assert_null(strstr(err, "zzescape"));
		assert_null(strstr(err, "pw@"));
	}
}

static void test_url_too_long(void **state)
{
	(void)state;
	char url[RP_MAX_URL + 64], err[256];
	struct rp_url u;
	snprintf(url, sizeof url, "redis://h/");
	memset(url + 10, '1', sizeof url - 11);
	url[sizeof url - 1] = '\0';
	assert_int_equal(rp_parse_url(url, &u, err, sizeof err), -1);
	/* a path longer than sun_path */
	char sock[300] = "unix:///";
	memset(sock + 8, 'a', 200);
	sock[208] = '\0';
	assert_int_equal(rp_parse_url(sock, &u, err, sizeof err), -1);
	/* a password longer than its field */
	char pw[600] = "redis://:";
	memset(pw + 9, 'p', 400);
	strcpy(pw + 409, "@h");
	assert_int_equal(rp_parse_url(pw, &u, err, sizeof err), -1);
}

/* ---- key names and arguments ---- */

static void test_key_and_args(void **state)
{
	(void)state;
	char name[RP_MAX_KEY], args[3][24];
	const char key[] = { 'k', ':', 'a', '\0', 'b' };  /* opaque bytes, a NUL among them */
	int n = rp_gcra_key("oaf:", key, sizeof key, 10, name, sizeof name);
	assert_int_equal(n, 10 + (int)sizeof key);
	assert_memory_equal(name, "oaf:rl:10:k:a\0b", (size_t)n);
	/* the limit is part of the name: a new limit starts fresh, as in the file */
	char other[RP_MAX_KEY];
	rp_gcra_key("oaf:", key, sizeof key, 11, other, sizeof other);
	assert_string_not_equal(name, other);
	/* too long for the buffer: refused, not cut */
	char big[300];
	memset(big, 'x', sizeof big);
	assert_int_equal(rp_gcra_key("oaf:", big, sizeof big, 10, name, sizeof name), -1);

	struct rp_gcra_op check = { .settle = false, .amount = 7 };
	rp_gcra_args(1000000, &check, args);
	assert_string_equal(args[0], "1000000");
	assert_string_equal(args[1], "c");
	assert_string_equal(args[2], "7");
	struct rp_gcra_op settle = { .settle = true, .amount = -250 };
	rp_gcra_args(60, &settle, args);
	assert_string_equal(args[1], "s");
	assert_string_equal(args[2], "-250");
}

/* ---- the script's reply ---- */

/* A reply built the way the script computes it: tat - now before, from
 * the file's own arithmetic on the same history, so decoding it must give
 * what rl_gcra_cost() gives the file store. */
static void test_decode_matches_file_store(void **state)
{
	(void)state;
	const long n = 10;
	int64_t tat = 0;  /* the file's state of the same key */
	for (int i = 0; i < 14; i++) {
		int64_t now = NOW + i * 100;
		struct rl_result want, got;
		/* the script's view: a fresh key is -burst, else tat - now (clamped) */
		long long rel = tat == 0 ? -60000LL * n : tat - now * n;
		if (rel < -60000LL * n)
			rel = -60000LL * n;
		bool admitted = rl_gcra(&tat, now, n, &want);
		long long v[3] = { admitted, rel, now };
		struct rp_gcra_op op = { .settle = false, .amount = 1 };
		assert_int_equal(rp_gcra_decode(v, 3, n, &op, &got), 0);
		assert_int_equal(got.allowed, want.allowed);
		assert_int_equal(got.remaining, want.remaining);
		assert_int_equal(got.used, want.used);
		assert_int_equal(got.reset_ms, want.reset_ms);
		assert_int_equal(got.retry_after_ms, want.retry_after_ms);
		assert_int_equal(got.allowed, i < 10);
	}
}

static void test_decode_settle_and_tokens(void **state)
{
	(void)state;
	const long n = 1000;
	struct rl_result r;
	/* 600 tokens held (600 units of 60 ms), 200 refunded: 400 held after */
	long long held[3] = { 1, 600LL * 60000 - 60000LL * n, NOW };
	struct rp_gcra_op refund = { .settle = true, .amount = -200 };
	assert_int_equal(rp_gcra_decode(held, 3, n, &refund, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(r.used, 0);
	/* a key holding 600 of 1000: 400 more fit, 401 do not */
	long long cur = 600LL * 60000;  /* tat - now for 600 tokens outstanding */
	long long fits[3] = { 1, cur, NOW };
	struct rp_gcra_op take400 = { .settle = false, .amount = 400 };
	assert_int_equal(rp_gcra_decode(fits, 3, n, &take400, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(r.remaining, 0);
	assert_int_equal(r.used, 600);
	long long denied[3] = { 0, cur, NOW };
	struct rp_gcra_op take401 = { .settle = false, .amount = 401 };
	assert_int_equal(rp_gcra_decode(denied, 3, n, &take401, &r), 0);
	assert_false(r.allowed);
	assert_int_equal(r.used, 600);
	assert_true(r.retry_after_ms > 0);
	/* a settlement of a key gone from Redis: full */
	long long gone[3] = { 1, -60000LL * n, NOW };
	struct rp_gcra_op over = { .settle = true, .amount = 50 };
	assert_int_equal(rp_gcra_decode(gone, 3, n, &over, &r), 0);
	assert_int_equal(r.remaining, n);
}

/* Anything that is not the script's answer is refused, not believed. */
static void test_decode_refuses(void **state)
{
	(void)state;
	const long n = 10;
	struct rl_result r;
	struct rp_gcra_op one = { .settle = false, .amount = 1 };
	long long fresh_denied[3] = { 0, -600000, NOW };  /* a fresh key cannot be denied */
	assert_int_equal(rp_gcra_decode(fresh_denied, 3, n, &one, &r), -1);
	long long full_admitted[3] = { 1, 600000, NOW };  /* a full key cannot admit */
	assert_int_equal(rp_gcra_decode(full_admitted, 3, n, &one, &r), -1);
	long long ok[3] = { 1, -600000, NOW };
	assert_int_equal(rp_gcra_decode(ok, 2, n, &one, &r), -1);
	assert_int_equal(rp_gcra_decode(ok, 4, n, &one, &r), -1);
	long long bad_flag[3] = { 2, -600000, NOW };
	assert_int_equal(rp_gcra_decode(bad_flag, 3, n, &one, &r), -1);
	long long far[3] = { 1, -600001, NOW };
	assert_int_equal(rp_gcra_decode(far, 3, n, &one, &r), -1);
	long long ahead[3] = { 0, 600001, NOW };
	assert_int_equal(rp_gcra_decode(ahead, 3, n, &one, &r), -1);
	long long neg_now[3] = { 1, -600000, -1 };
	assert_int_equal(rp_gcra_decode(neg_now, 3, n, &one, &r), -1);
	long long late[3] = { 1, -600000, RL_MAX_NOW_MS + 1 };
	assert_int_equal(rp_gcra_decode(late, 3, n, &one, &r), -1);
	assert_int_equal(rp_gcra_decode(ok, 3, 0, &one, &r), -1);
	assert_int_equal(rp_gcra_decode(ok, 3, RL_MAX_PER_MINUTE + 1, &one, &r), -1);
	struct rp_gcra_op too_big = { .settle = false, .amount = 11 };
	assert_int_equal(rp_gcra_decode(ok, 3, n, &too_big, &r), -1);
}

/* The script reads its clock from Redis and its state relative to it;
 * these are what makes it one atomic, clock-independent round trip. */
static void test_script_shape(void **state)
{
	(void)state;
	assert_non_null(strstr(rp_gcra_script, "redis.call('TIME')"));
	assert_non_null(strstr(rp_gcra_script, "KEYS[1]"));
	assert_non_null(strstr(rp_gcra_script, "PEXPIRE"));
	assert_null(strstr(rp_gcra_script, "ARGV[4]"));  /* no clock passed in */
}

/* ---- usage rows ---- */

static void test_usage_name_round_trip(void **state)
{
	(void)state;
	struct um_row row, back;
	char name[RP_MAX_USAGE_NAME];
	memset(&row, 0, sizeof row);
	row.kind = UM_DETAIL;
	row.day = 20788;
	row.status = 429;
	strcpy(row.key, "team:a|b");             /* separators inside labels */
	strcpy(row.model, "3:x:");
	strcpy(row.route, "/v1/models/{}");
	strcpy(row.reason, "tokens");
	int n = rp_usage_name("oaf:", &row, name, sizeof name);
	assert_true(n > 0);
	assert_int_equal(rp_usage_parse_name("oaf:", name, (size_t)n, &back), 0);
	assert_int_equal(back.kind, UM_DETAIL);
	assert_int_equal(back.day, 20788);
	assert_int_equal(back.status, 429);
	assert_string_equal(back.key, "team:a|b");
	assert_string_equal(back.model, "3:x:");
	assert_string_equal(back.route, "/v1/models/{}");
	assert_string_equal(back.upstream, "");
	assert_string_equal(back.reason, "tokens");
	/* labels at their full width still fit a name */
	memset(row.key, 'k', sizeof row.key - 1);
	memset(row.model, 'm', sizeof row.model - 1);
	assert_true(rp_usage_name("a-long-prefix-for-this-deployment:", &row, name, sizeof name) > 0);
}

static void test_usage_name_refuses(void **state)
{
	(void)state;
	struct um_row row;
	const char *const bad[] = {
		"oaf:rl:10:k:x", "other:u:1:1:200:0:0:0:0:0:", "oaf:u:9:1:200:0:0:0:0:0:",
		"oaf:u:1:1:200:5:ab:0:0:0:0:", "oaf:u:1:1:200:0:0:0:0:0:extra", "oaf:u:1:1:200:0:0:0:0:",
		"oaf:u:1:x:200:0:0:0:0:0:", "oaf:u:1:1:200:99:k:0:0:0:0:", "oaf:u:",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (rp_usage_parse_name("oaf:", bad[i], strlen(bad[i]), &row) == 0)
			fail_msg("%s parsed", bad[i]);
	assert_int_equal(rp_usage_parse_name("oaf:", "oaf:u:2:5:0:1:k0:0:0:0:", 23, &row), 0);
	assert_int_equal(row.kind, UM_KEY_DAY);
	assert_string_equal(row.key, "k");
	/* a NUL inside a label is not ours */
	assert_int_equal(rp_usage_parse_name("oaf:", "oaf:u:2:5:0:1:\0" "0:0:0:0:", 23, &row), -1);
}

static void test_usage_fields(void **state)
{
	(void)state;
	struct um_row row;
	memset(&row, 0, sizeof row);
	for (size_t i = 0; i < RP_USAGE_FIELDS; i++) {
		char v[24];
		const char *f = rp_usage_field(i);
		snprintf(v, sizeof v, "%zu", 1000 + i);
		rp_usage_set(&row, f, strlen(f), v, strlen(v));
		assert_int_equal(rp_usage_get(&row, i), 1000 + i);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(rp_usage_field(j), f);
	}
	assert_int_equal(row.requests, 1000);
	assert_int_equal(row.completion_tokens, 1002);
	assert_int_equal(row.duration_bucket[0], 1006);
	assert_int_equal(row.ttft_bucket[UM_NBUCKETS - 1], 1000 + RP_USAGE_FIELDS - 1);
	/* not counters: ignored */
	rp_usage_set(&row, "r", 1, "-5", 2);
	rp_usage_set(&row, "r", 1, "12x", 3);
	rp_usage_set(&row, "r", 1, "123456789012345678901", 21);
	rp_usage_set(&row, "zz", 2, "5", 1);
	assert_int_equal(row.requests, 1000);
	row.kind = UM_KEY_MONTH;
	assert_true(rp_usage_ttl(&row) > 366L * 86400);
	row.kind = UM_KEY_DAY;
	assert_true(rp_usage_ttl(&row) >= 31L * 86400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_good),
		cmocka_unit_test(test_url_bad),
		cmocka_unit_test(test_url_too_long),
		cmocka_unit_test(test_key_and_args),
		cmocka_unit_test(test_decode_matches_file_store),
		cmocka_unit_test(test_decode_settle_and_tokens),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_script_shape),
		cmocka_unit_test(test_usage_name_round_trip),
		cmocka_unit_test(test_usage_name_refuses),
		cmocka_unit_test(test_usage_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
