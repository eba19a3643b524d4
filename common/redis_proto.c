/* redis_proto.c: the pure half of the Redis store: REDIS_URL, key names, the GCRA script and its answer */
#include "redis_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/*
 * The script keeps ratelimit.c's state, a tat in ticks of 1/per_minute ms,
 * as two numbers: m, whole ms, and t, the ticks past m (0 <= t < n). Lua's
 * numbers are doubles, exact below 2^53, and a tat in ticks (ms * n) is
 * not; relative to now it is within a minute's burst (60000 * n ticks, at
 * most 6e10), so every sum below is exact. A state older than a minute is
 * read as -burst: what a fresh key is in the file (any tat at or below
 * now - burst answers the same). The key expires a minute after its tat,
 * when it cannot matter any more, so Redis holds only live keys.
 *
 * redis.replicate_commands(): Redis 3.2-4 refuse a write after TIME in a
 * script unless its effects are replicated (the default from 5 on).
 */
const char rp_gcra_script[] =
	"if redis.replicate_commands then redis.replicate_commands() end\n"
	"local n = tonumber(ARGV[1])\n"
	"local amount = tonumber(ARGV[3])\n"
	"local time = redis.call('TIME')\n"
	"local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)\n"
	"local burst = 60000 * n\n"
	"local state = redis.call('HMGET', KEYS[1], 'm', 't')\n"
	"local cur = -burst\n"
	"if state[1] and state[2] then\n"
	"  cur = (tonumber(state[1]) - now) * n + tonumber(state[2])\n"
	"  if cur > burst then cur = burst elseif cur < -burst then cur = -burst end\n"
	"end\n"
	"local nxt\n"
	"if ARGV[2] == 'c' then\n"
	"  if amount == 0 then return {1, cur, now} end\n"
	"  nxt = math.max(cur, 0) + 60000 * amount\n"
	"  if nxt > burst then return {0, cur, now} end\n"
	"else\n"
	"  if not state[1] then return {1, cur, now} end\n"
	"  local d = math.min(math.max(amount, -n), n)\n"
	"  nxt = math.min(math.max(cur + 60000 * d, -burst), burst)\n"
	"end\n"
	"local q = math.floor(nxt / n)\n"
	"local t = nxt - q * n\n"
	"if t < 0 then q = q - 1; t = t + n elseif t >= n then q = q + 1; t = t - n end\n"
	"redis.call('HSET', KEYS[1], 'm', now + q, 't', t)\n"
	"redis.call('PEXPIRE', KEYS[1], math.max(q, 0) + 60001)\n"
	"return {1, cur, now}\n";

/* ---- REDIS_URL ---- */

/* Percent-decodes s[0..len) into out (size n, NUL-terminated); -1 when
 * it does not fit, an escape is broken, or it decodes to a NUL. */
static int pct_decode(const char *s, size_t len, char *out, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (len - i < 3 || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0)
				return -1;
			c = hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]);
			i += 2;
			if (c == 0)
				return -1;
		}
		if (k + 1 >= n)
			return -1;
		out[k++] = (char)c;
	}
	out[k] = '\0';
	return 0;
}

/* A whole decimal number in [lo, hi] from s[0..len); -1 otherwise. */
static int parse_number(const char *s, size_t len, long lo, long hi, int *out)
{
	long v = 0;
	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int url_fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "REDIS_URL: %s (redis://[user:password@]host:port/db or unix:///path.sock)", why);
	return -1;
}

/* [user:password@] of an authority that ends at end; moves *p past it. */
static int parse_userinfo(const char **p, const char *end, struct rp_url *u, char *err, size_t errlen)
{
	const char *at = NULL;
	for (const char *q = *p; q < end; q++)
		if (*q == '@')
			at = q;
	if (!at)
		return 0;
	const char *colon = memchr(*p, ':', (size_t)(at - *p));
	const char *user_end = colon ? colon : at;
	if (pct_decode(*p, (size_t)(user_end - *p), u->user, sizeof u->user) < 0)
		return url_fail(err, errlen, "the user name is too long or badly escaped");
	if (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), u->password, sizeof u->password) < 0)
		return url_fail(err, errlen, "the password is too long or badly escaped");
	if (!colon && u->user[0]) {
		/* redis://secret@host: the one word is the password, as redis-cli reads it */
		memcpy(u->password, u->user, sizeof u->password < sizeof u->user ? sizeof u->password : sizeof u->user);
		u->user[0] = '\0';
	}
	*p = at + 1;
	return 0;
}

static int parse_tcp(const char *s, struct rp_url *u, char *err, size_t errlen)
{
	const char *end = s + strcspn(s, "/?#");
	const char *p = s;
	if (parse_userinfo(&p, end, u, err, errlen) < 0)
		return -1;
	const char *host_end, *port = NULL;
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t)(end - p));
		if (!host_end)
			return url_fail(err, errlen, "an IPv6 address lacks its ]");
		p++;
		if (host_end + 1 < end) {
			if (host_end[1] != ':')
				return url_fail(err, errlen, "something follows the IPv6 address");
			port = host_end + 2;
		}
	} else {
		host_end = memchr(p, ':', (size_t)(end - p));
		if (host_end)
			port = host_end + 1;
		else
			host_end = end;
	}
	size_t hlen = (size_t)(host_end - p);
	if (hlen == 0)
		return url_fail(err, errlen, "no host");
	if (hlen >= sizeof u->host)
		return url_fail(err, errlen, "the host is too long");
	memcpy(u->host, p, hlen);
	u->host[hlen] = '\0';
	if (port && parse_number(port, (size_t)(end - port), 1, 65535, &u->port) < 0)
		return url_fail(err, errlen, "the port is not a number from 1 to 65535");
	if (*end == '/' && end[1] && parse_number(end + 1, strcspn(end + 1, "?#"), 0, 1000000, &u->db) < 0)
		return url_fail(err, errlen, "the database is not a number");
	if (*end == '/' && end[1] && end[1 + strcspn(end + 1, "?#")])
		return url_fail(err, errlen, "query parameters are not supported after the database");
	if (*end == '?' || *end == '#')
		return url_fail(err, errlen, "query parameters are not supported");
	return 0;
}

static int parse_unix(const char *s, struct rp_url *u, char *err, size_t errlen)
{
	const char *end = s + strlen(s);
	const char *slash = strchr(s, '/');
	const char *p = s;
	if (!slash)
		return url_fail(err, errlen, "a unix socket needs an absolute path");
	if (parse_userinfo(&p, slash, u, err, errlen) < 0)
		return -1;
	if (p != slash)
		return url_fail(err, errlen, "a unix socket URL has no host (unix:///path)");
	const char *q = strchr(slash, '?');
	const char *path_end = q ? q : end;
	size_t plen = (size_t)(path_end - slash);
	if (plen < 2)
		return url_fail(err, errlen, "a unix socket needs an absolute path");
	if (plen >= sizeof u->path)
		return url_fail(err, errlen, "the socket path is too long");
	memcpy(u->path, slash, plen);
	u->path[plen] = '\0';
	if (q && (strncmp(q, "?db=", 4) != 0 || parse_number(q + 4, strlen(q + 4), 0, 1000000, &u->db) < 0))
		return url_fail(err, errlen, "only ?db=N may follow the socket path");
	return 0;
}

int rp_parse_url(const char *url, struct rp_url *out, char *err, size_t errlen)
{
	struct rp_url u;
	int rc;
	memset(&u, 0, sizeof u);
	u.port = 6379;
	if (!url || !*url)
		return url_fail(err, errlen, "empty");
	if (strlen(url) > RP_MAX_URL)
		return url_fail(err, errlen, "longer than 1024 bytes");
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return url_fail(err, errlen, "it holds a space or a control character");
	if (strncmp(url, "redis://", 8) == 0)
		rc = parse_tcp(url + 8, &u, err, errlen);
	else if (strncmp(url, "unix://", 7) == 0)
		rc = parse_unix(url + 7, &u, err, errlen);
	else if (strncmp(url, "rediss://", 9) == 0)
		return url_fail(err, errlen, "TLS (rediss://) is not supported; reach Redis on loopback, a private network or a tunnel");
	else
		return url_fail(err, errlen, "it must start with redis:// or unix://");
	if (rc < 0)
		return -1;
	*out = u;
	return 0;
}

/* ---- the script's key, arguments and reply ---- */

int rp_gcra_key(const char *prefix, const char *key, size_t keylen, long per_minute,
		char *buf, size_t n)
{
	int head = snprintf(buf, n, "%srl:%ld:", prefix, per_minute);
	if (head < 0 || (size_t)head + keylen + 1 > n)
		return -1;
	memcpy(buf + head, key, keylen);
	buf[head + keylen] = '\0';
	return head + (int)keylen;
}

void rp_gcra_args(long per_minute, const struct rp_gcra_op *op, char args[3][24])
{
	snprintf(args[0], 24, "%ld", per_minute);
	snprintf(args[1], 24, "%s", op->settle ? "s" : "c");
	snprintf(args[2], 24, "%ld", op->amount);
}

int rp_gcra_decode(const long long *v, size_t n, long per_minute, const struct rp_gcra_op *op,
		   struct rl_result *r)
{
	const long long burst = 60000LL * per_minute;
	struct rl_result res;
	if (n != 3 || (v[0] != 0 && v[0] != 1) || v[1] < -burst || v[1] > burst ||
	    v[2] < 0 || v[2] > RL_MAX_NOW_MS || per_minute < 1 || per_minute > RL_MAX_PER_MINUTE)
		return -1;
	int64_t now_ms = v[2];
	int64_t tat = now_ms * per_minute + v[1];
	if (op->settle) {
		rl_gcra_settle(&tat, now_ms, per_minute, op->amount, &res);
	} else {
		if (op->amount < 0 || op->amount > per_minute)
			return -1;
		rl_gcra_cost(&tat, now_ms, per_minute, op->amount, &res);
	}
	/* The script decided; the same arithmetic must agree, or the reply
	 * is not of our script (another one under its SHA). */
	if (res.allowed != (v[0] == 1))
		return -1;
	*r = res;
	return 0;
}

/* ---- usage counters ---- */

static const char *const usage_fields[RP_USAGE_FIELDS] = {
	"r", "p", "c", "ds", "ts", "tc",
	"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11",
	"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10", "t11",
};
_Static_assert(UM_NBUCKETS == 12, "one field name per histogram bucket");

static uint64_t *usage_counter(struct um_row *row, size_t i)
{
	uint64_t *scalars[6] = { &row->requests, &row->prompt_tokens, &row->completion_tokens,
				 &row->duration_us_sum, &row->ttft_us_sum, &row->ttft_count };
	if (i < 6)
		return scalars[i];
	if (i < 6 + UM_NBUCKETS)
		return &row->duration_bucket[i - 6];
	return &row->ttft_bucket[i - 6 - UM_NBUCKETS];
}

const char *rp_usage_field(size_t i)
{
	return usage_fields[i];
}

uint64_t rp_usage_get(const struct um_row *row, size_t i)
{
	return *usage_counter((struct um_row *)row, i);
}

void rp_usage_set(struct um_row *row, const char *field, size_t flen, const char *value, size_t vlen)
{
	uint64_t v = 0;
	if (vlen == 0 || vlen > 19)
		return;
	for (size_t k = 0; k < vlen; k++) {
		if (value[k] < '0' || value[k] > '9')
			return;
		v = v * 10 + (uint64_t)(value[k] - '0');
	}
	for (size_t i = 0; i < RP_USAGE_FIELDS; i++)
		if (strlen(usage_fields[i]) == flen && memcmp(usage_fields[i], field, flen) == 0) {
			*usage_counter(row, i) = v;
			return;
		}
}

/* Appends "<len>:<bytes>" of a NUL-padded label. */
static int put_part(char *buf, size_t n, size_t *at, const char *label, size_t cap)
{
	size_t len = strnlen(label, cap);
	int w = snprintf(buf + *at, n - *at, "%zu:", len);
	if (w < 0 || *at + (size_t)w + len + 1 > n)
		return -1;
	*at += (size_t)w;
	memcpy(buf + *at, label, len);
	*at += len;
	buf[*at] = '\0';
	return 0;
}

int rp_usage_name(const char *prefix, const struct um_row *row, char *buf, size_t n)
{
	int w = snprintf(buf, n, "%su:%u:%d:%d:", prefix, (unsigned)row->kind, (int)row->day, (int)row->status);
	if (w < 0 || (size_t)w >= n)
		return -1;
	size_t at = (size_t)w;
	if (put_part(buf, n, &at, row->key, sizeof row->key) < 0 ||
	    put_part(buf, n, &at, row->model, sizeof row->model) < 0 ||
	    put_part(buf, n, &at, row->route, sizeof row->route) < 0 ||
	    put_part(buf, n, &at, row->upstream, sizeof row->upstream) < 0 ||
	    put_part(buf, n, &at, row->reason, sizeof row->reason) < 0)
		return -1;
	return (int)at;
}

/* A decimal integer (optionally negative) up to ':' at *p; moves past it. */
static int take_int(const char **p, const char *end, long *out)
{
	const char *q = *p;
	bool neg = q < end && *q == '-';
	long v = 0;
	if (neg)
		q++;
	if (q >= end || *q < '0' || *q > '9')
		return -1;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (v > 100000000)
			return -1;
		v = v * 10 + (*q - '0');
	}
	if (q >= end || *q != ':')
		return -1;
	*p = q + 1;
	*out = neg ? -v : v;
	return 0;
}

static int take_part(const char **p, const char *end, char *dst, size_t cap)
{
	long len;
	if (take_int(p, end, &len) < 0 || len < 0 || (size_t)len >= cap || (size_t)(end - *p) < (size_t)len)
		return -1;
	memset(dst, 0, cap);
	memcpy(dst, *p, (size_t)len);
	if (memchr(dst, '\0', (size_t)len))
		return -1;
	*p += len;
	return 0;
}

int rp_usage_parse_name(const char *prefix, const char *name, size_t len, struct um_row *row)
{
	size_t plen = strlen(prefix);
	const char *end = name + len, *p = name + plen + 2;
	long kind, day, status;
	if (len < plen + 2 || memcmp(name, prefix, plen) != 0 || memcmp(name + plen, "u:", 2) != 0)
		return -1;
	memset(row, 0, sizeof *row);
	if (take_int(&p, end, &kind) < 0 || take_int(&p, end, &day) < 0 || take_int(&p, end, &status) < 0 ||
	    (kind != UM_DETAIL && kind != UM_KEY_DAY && kind != UM_KEY_MONTH) ||
	    take_part(&p, end, row->key, sizeof row->key) < 0 ||
	    take_part(&p, end, row->model, sizeof row->model) < 0 ||
	    take_part(&p, end, row->route, sizeof row->route) < 0 ||
	    take_part(&p, end, row->upstream, sizeof row->upstream) < 0 ||
	    take_part(&p, end, row->reason, sizeof row->reason) < 0 || p != end)
		return -1;
	row->kind = (uint32_t)kind;
	row->day = (int32_t)day;
	row->status = (int32_t)status;
	return 0;
}

long rp_usage_ttl(const struct um_row *row)
{
	return row->kind == UM_KEY_MONTH ? 400L * 86400 : 62L * 86400;
}
