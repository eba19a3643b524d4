/* redis_store.c: the Redis half of the shared state: a pool of connections, timeouts, backoff */
#include "redis_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "xalloc.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
#define IDLE_MAX 64   /* connections kept between uses; one returned past that is closed */

struct rs_store {
	struct rp_url url;
	char *prefix;
	struct timeval connect_tv, command_tv;
	pthread_mutex_t lock;      /* guards the members below */
	char sha[41];              /* the loaded script's SHA1; "" until loaded */
	redisContext *idle[IDLE_MAX]; /* connections no call is using; the last returned on top */
	int n_idle;
	int64_t retry_at_ms;       /* backing off: no new connection before this */
	long backoff_ms;           /* the wait after the next failure; 0 when healthy */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_tv(long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	return tv;
}

int rs_open(const struct rs_options *o, rs_store **out, char *errbuf, size_t errlen)
{
	struct rp_url u;
	if (rp_parse_url(o->url, &u, errbuf, errlen) != 0)
		return -1;
	rs_store *s = xcalloc(1, sizeof *s);
	s->url = u;
	s->prefix = xstrdup(o->prefix ? o->prefix : "");
	s->connect_tv = ms_tv(o->connect_ms);
	s->command_tv = ms_tv(o->timeout_ms);
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void rs_close(rs_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n_idle; i++)
		redisFree(s->idle[i]);
	pthread_mutex_destroy(&s->lock);
	explicit_bzero(s->url.password, sizeof s->url.password);
	free(s->prefix);
	free(s);
}

static const char *where(const rs_store *s, char *buf, size_t n)
{
	if (s->url.path[0])
		snprintf(buf, n, "unix:%s", s->url.path);
	else
		snprintf(buf, n, "%s:%d", s->url.host, s->url.port);
	return buf;
}

/* The store waits before its next new connection, longer each time. */
static void back_off(rs_store *s)
{
	pthread_mutex_lock(&s->lock);
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
	s->retry_at_ms = mono_ms() + s->backoff_ms;
	pthread_mutex_unlock(&s->lock);
}

/* c failed: it is closed (a late answer must not be read as the next
 * call's), and the store backs off. */
static void conn_fail(rs_store *s, redisContext *c)
{
	redisFree(c);
	back_off(s);
}

/* c answered: it goes back to the pool (closed when the pool is full),
 * and the store is healthy again. */
static void conn_put(rs_store *s, redisContext *c)
{
	pthread_mutex_lock(&s->lock);
	s->backoff_ms = 0;
	s->retry_at_ms = 0;
	if (s->n_idle < IDLE_MAX) {
		s->idle[s->n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (c)
		redisFree(c);
}

/* Closes every idle connection: one was found closed by the server (it
 * restarted), so the others were too. */
static void pool_drain(rs_store *s)
{
	redisContext *old[IDLE_MAX];
	pthread_mutex_lock(&s->lock);
	int n = s->n_idle;
	memcpy(old, s->idle, (size_t)n * sizeof *old);
	s->n_idle = 0;
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < n; i++)
		redisFree(old[i]);
}

/* Why a command got no reply: hiredis' words, and ours for a timeout. */
static void io_reason(const redisContext *c, int err_no, const char *what, char *errbuf, size_t errlen)
{
	bool timeout = c->err == REDIS_ERR_IO && (err_no == EAGAIN || err_no == EWOULDBLOCK);
	snprintf(errbuf, errlen, "%s: %s", what, timeout ? "no answer in time (REDIS_TIMEOUT_MS, "
		 "REDIS_CONNECT_TIMEOUT_MS while connecting)" : c->errstr);
}

/* A command whose answer must be +OK (AUTH, SELECT); -1 with the reason. */
static int expect_ok(redisContext *c, int argc, const char **argv, const char *what,
		     char *errbuf, size_t errlen)
{
	errno = 0;
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);
	int rc = -1;
	if (!r)
		io_reason(c, errno, what, errbuf, errlen);
	else if (r->type == REDIS_REPLY_ERROR)
		snprintf(errbuf, errlen, "%s refused: %.120s", what, r->str);
	else
		rc = 0;
	if (r)
		freeReplyObject(r);
	return rc;
}

/* Connects, authenticates and selects the database, within the connect
 * timeout; then sets the command timeout. */
static redisContext *conn_open(rs_store *s, char *errbuf, size_t errlen)
{
	char at[300];
	redisContext *c = s->url.path[0] ? redisConnectUnixWithTimeout(s->url.path, s->connect_tv)
					 : redisConnectWithTimeout(s->url.host, s->url.port, s->connect_tv);
	if (!c || c->err) {
		snprintf(errbuf, errlen, "cannot connect to %s: %s", where(s, at, sizeof at),
			 c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	/* the handshake under the connect timeout, the commands under theirs */
	if (redisSetTimeout(c, s->connect_tv) != REDIS_OK) {
		snprintf(errbuf, errlen, "%s: cannot set a timeout: %s", where(s, at, sizeof at), c->errstr);
		redisFree(c);
		return NULL;
	}
	char db[16];
	snprintf(db, sizeof db, "%d", s->url.db);
	const char *auth_user[] = { "AUTH", s->url.user, s->url.password };
	const char *auth[] = { "AUTH", s->url.password };
	const char *select[] = { "SELECT", db };
	if ((s->url.password[0] &&
	     (s->url.user[0] ? expect_ok(c, 3, auth_user, "AUTH", errbuf, errlen)
			     : expect_ok(c, 2, auth, "AUTH", errbuf, errlen)) != 0) ||
	    (s->url.db && expect_ok(c, 2, select, "SELECT", errbuf, errlen) != 0) ||
	    redisSetTimeout(c, s->command_tv) != REDIS_OK) {
		if (!errbuf[0])
			snprintf(errbuf, errlen, "cannot set a timeout: %s", c->errstr);
		redisFree(c);
		return NULL;
	}
	return c;
}

/* A connection of s for one call, the caller's until conn_put() or
 * conn_fail(): an idle one, or a new one when none is idle and s is not
 * backing off. *fresh says it was just made. NULL with the reason. */
static redisContext *conn_get(rs_store *s, bool *fresh, char *errbuf, size_t errlen)
{
	*fresh = false;
	pthread_mutex_lock(&s->lock);
	redisContext *c = s->n_idle ? s->idle[--s->n_idle] : NULL;
	int64_t retry_at = s->retry_at_ms;
	pthread_mutex_unlock(&s->lock);
	if (c)
		return c;
	int64_t now = mono_ms();
	if (retry_at && now < retry_at) {
		char at[300];
		snprintf(errbuf, errlen, "%s unreachable, next attempt in %lld ms", where(s, at, sizeof at),
			 (long long)(retry_at - now));
		return NULL;
	}
	errbuf[0] = '\0';
	c = conn_open(s, errbuf, errlen);
	if (!c) {
		back_off(s);
		return NULL;
	}
	*fresh = true;
	return c;
}

/* Did the command fail because the connection was already closed (the
 * server restarted since the last use), not because it is slow? */
static bool closed_under_us(const redisContext *c, int err_no)
{
	return c->err == REDIS_ERR_EOF ||
	       (c->err == REDIS_ERR_IO && (err_no == ECONNRESET || err_no == EPIPE || err_no == ENOTCONN));
}

/* One command of a pipeline. */
struct rs_cmd {
	int argc;
	const char **argv;
	const size_t *lens;  /* NULL: C strings */
};

/* Sends n commands in one round trip on one connection and
 * reads their n replies into out (each the caller's to free with
 * freeReplyObject; an error reply is a reply). A connection found closed
 * is replaced once. -1 (nothing in out to free) when any reply is lost. */
static int pipeline(rs_store *s, size_t n, const struct rs_cmd *cmds, redisReply **out,
		    char *errbuf, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh;
		redisContext *c = conn_get(s, &fresh, errbuf, errlen);
		if (!c)
			return -1;
		size_t got = 0;
		errno = 0;
		for (size_t i = 0; i < n; i++)
			redisAppendCommandArgv(c, cmds[i].argc, cmds[i].argv, cmds[i].lens);
		for (; got < n; got++) {
			void *r = NULL;
			if (redisGetReply(c, &r) != REDIS_OK || !r)
				break;
			out[got] = r;
		}
		if (got == n) {
			conn_put(s, c);
			return 0;
		}
		int err_no = errno;
		for (size_t i = 0; i < got; i++)
			freeReplyObject(out[i]);
		char at[300];
		bool retry = !fresh && attempt == 0 && got == 0 && closed_under_us(c, err_no);
		io_reason(c, err_no, where(s, at, sizeof at), errbuf, errlen);
		if (!retry) {
			conn_fail(s, c);
			return -1;
		}
		redisFree(c);
		pool_drain(s);
	}
	return -1;
}

/* One command; its reply (never an I/O failure: NULL then) is the
 * caller's to free. */
static redisReply *call(rs_store *s, int argc, const char **argv, const size_t *lens,
			char *errbuf, size_t errlen)
{
	struct rs_cmd cmd = { argc, argv, lens };
	redisReply *r;
	return pipeline(s, 1, &cmd, &r, errbuf, errlen) == 0 ? r : NULL;
}

static void sha_get(rs_store *s, char out[41])
{
	pthread_mutex_lock(&s->lock);
	memcpy(out, s->sha, 41);
	pthread_mutex_unlock(&s->lock);
}

/* SCRIPT LOAD: the SHA Redis computed goes to s->sha and out. */
static int script_load(rs_store *s, char out[41], char *errbuf, size_t errlen)
{
	const char *argv[] = { "SCRIPT", "LOAD", rp_gcra_script };
	redisReply *r = call(s, 3, argv, NULL, errbuf, errlen);
	if (!r)
		return -1;
	int rc = -1;
	if (r->type == REDIS_REPLY_STRING && r->len == 40) {
		memcpy(out, r->str, 40);
		out[40] = '\0';
		pthread_mutex_lock(&s->lock);
		memcpy(s->sha, out, 41);
		pthread_mutex_unlock(&s->lock);
		rc = 0;
	} else {
		snprintf(errbuf, errlen, "SCRIPT LOAD: %.120s",
			 r->type == REDIS_REPLY_ERROR ? r->str : "an answer that is not a SHA1");
	}
	freeReplyObject(r);
	return rc;
}

static bool is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

int rs_gcra(rs_store *s, const char *key, size_t keylen, long per_minute,
	    const struct rp_gcra_op *op, struct rl_result *r, char *errbuf, size_t errlen)
{
	char name[RP_MAX_KEY], args[3][24], sha[41];
	int nlen = rp_gcra_key(s->prefix, key, keylen, per_minute, name, sizeof name);
	if (nlen < 0) {
		snprintf(errbuf, errlen, "a rate-limit key name longer than %d bytes", RP_MAX_KEY);
		return -1;
	}
	rp_gcra_args(per_minute, op, args);
	sha_get(s, sha);
	if (!sha[0] && script_load(s, sha, errbuf, errlen) != 0)
		return -1;
	const char *argv[] = { "EVALSHA", sha, "1", name, args[0], args[1], args[2] };
	size_t lens[] = { 7, 40, 1, (size_t)nlen, strlen(args[0]), strlen(args[1]), strlen(args[2]) };
	redisReply *rep = call(s, 7, argv, lens, errbuf, errlen);
	if (rep && is_noscript(rep)) {
		freeReplyObject(rep);
		if (script_load(s, sha, errbuf, errlen) != 0)
			return -1;
		rep = call(s, 7, argv, lens, errbuf, errlen);
	}
	if (!rep)
		return -1;
	long long v[3];
	size_t n = 0;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3)
		for (; n < 3 && rep->element[n]->type == REDIS_REPLY_INTEGER; n++)
			v[n] = rep->element[n]->integer;
	int rc = rp_gcra_decode(v, n, per_minute, op, r);
	if (rc != 0)
		snprintf(errbuf, errlen, "EVALSHA: %.120s",
			 rep->type == REDIS_REPLY_ERROR ? rep->str : "an answer that is not the limiter script's");
	freeReplyObject(rep);
	return rc;
}

int rs_ping(rs_store *s, char *errbuf, size_t errlen)
{
	const char *argv[] = { "PING" };
	redisReply *r = call(s, 1, argv, NULL, errbuf, errlen);
	if (!r)
		return -1;
	int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
	if (rc)
		snprintf(errbuf, errlen, "PING: %.120s", r->str);
	freeReplyObject(r);
	return rc;
}

/* ---- usage counters ---- */

static void free_replies(redisReply **r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		freeReplyObject(r[i]);
}

static void index_name(const rs_store *s, char *buf, size_t n)
{
	snprintf(buf, n, "%su:index", s->prefix);
}

int rs_usage_add(rs_store *s, const struct um_row *rows, size_t n, char *errbuf, size_t errlen)
{
	const size_t per_row = RP_USAGE_FIELDS + 2;  /* HINCRBYs, EXPIRE, SADD */
	if (n > 8)
		n = 8;  /* a request adds 3 */
	size_t max = 2 + n * per_row, k = 0;
	struct rs_cmd *cmds = xcalloc(max, sizeof *cmds);
	const char **argv = xcalloc(max * 4, sizeof *argv);
	size_t *lens = xcalloc(max * 4, sizeof *lens);
	char (*names)[RP_MAX_USAGE_NAME] = xcalloc(n, sizeof *names);
	char (*nums)[24] = xcalloc(n * (RP_USAGE_FIELDS + 1), sizeof *nums);
	int nlen[8];
	char idx[RP_MAX_KEY];
	static const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
	int rc = -1;

	index_name(s, idx, sizeof idx);
	cmds[k++] = (struct rs_cmd){ 1, multi, NULL };
	for (size_t r = 0; r < n; r++) {
		nlen[r] = rp_usage_name(s->prefix, &rows[r], names[r], sizeof names[r]);
		if (nlen[r] < 0) {
			snprintf(errbuf, errlen, "a usage row's labels are too long for a key name");
			goto out;
		}
		for (size_t f = 0; f < RP_USAGE_FIELDS + 1; f++) {
			uint64_t v = f < RP_USAGE_FIELDS ? rp_usage_get(&rows[r], f) : 0;
			const char **a = argv + 4 * k;
			size_t *l = lens + 4 * k;
			char *num = nums[r * (RP_USAGE_FIELDS + 1) + f];
			if (f < RP_USAGE_FIELDS && v == 0)
				continue;
			if (f < RP_USAGE_FIELDS) {
				snprintf(num, 24, "%llu", (unsigned long long)v);
				a[0] = "HINCRBY", a[2] = rp_usage_field(f), a[3] = num;
			} else {
				snprintf(num, 24, "%ld", rp_usage_ttl(&rows[r]));
				a[0] = "EXPIRE", a[2] = num, a[3] = NULL;
			}
			a[1] = names[r];
			l[0] = strlen(a[0]), l[1] = (size_t)nlen[r], l[2] = strlen(a[2]), l[3] = a[3] ? strlen(a[3]) : 0;
			cmds[k] = (struct rs_cmd){ a[3] ? 4 : 3, a, l };
			k++;
		}
		const char **a = argv + 4 * k;
		size_t *l = lens + 4 * k;
		a[0] = "SADD", a[1] = idx, a[2] = names[r];
		l[0] = 4, l[1] = strlen(idx), l[2] = (size_t)nlen[r];
		cmds[k++] = (struct rs_cmd){ 3, a, l };
	}
	cmds[k++] = (struct rs_cmd){ 1, exec, NULL };
	redisReply **replies = xcalloc(k, sizeof *replies);
	if (pipeline(s, k, cmds, replies, errbuf, errlen) == 0) {
		redisReply *last = replies[k - 1];
		if (last->type == REDIS_REPLY_ARRAY)
			rc = 0;
		else
			snprintf(errbuf, errlen, "EXEC: %.120s",
				 last->type == REDIS_REPLY_ERROR ? last->str : "the transaction was not run");
		free_replies(replies, k);
	}
	free(replies);
out:
	free(cmds);
	free(argv);
	free(lens);
	free(names);
	free(nums);
	return rc;
}

/* An HGETALL reply's fields into row's counters. */
static void hash_into(const redisReply *r, struct um_row *row)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *v = r->element[i + 1];
		if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
			rp_usage_set(row, f->str, f->len, v->str, v->len);
	}
}

/* HGETALL of n names (lens given) in one round trip; replies to out. */
static int hgetall(rs_store *s, size_t n, const char **names, const size_t *nlens, redisReply **out,
		   char *errbuf, size_t errlen)
{
	struct rs_cmd *cmds = xcalloc(n ? n : 1, sizeof *cmds);
	const char **argv = xcalloc(2 * (n ? n : 1), sizeof *argv);
	size_t *lens = xcalloc(2 * (n ? n : 1), sizeof *lens);
	for (size_t i = 0; i < n; i++) {
		argv[2 * i] = "HGETALL", lens[2 * i] = 7;
		argv[2 * i + 1] = names[i], lens[2 * i + 1] = nlens[i];
		cmds[i] = (struct rs_cmd){ 2, argv + 2 * i, lens + 2 * i };
	}
	int rc = pipeline(s, n, cmds, out, errbuf, errlen);
	free(cmds);
	free(argv);
	free(lens);
	return rc;
}

int rs_usage_read(rs_store *s, struct um_row *rows, size_t n, char *errbuf, size_t errlen)
{
	char names[8][RP_MAX_USAGE_NAME];
	const char *np[8] = { 0 };
	size_t nl[8] = { 0 };
	redisReply *rep[8] = { 0 };
	if (n > 8)
		n = 8;
	for (size_t i = 0; i < n; i++) {
		int l = rp_usage_name(s->prefix, &rows[i], names[i], sizeof names[i]);
		if (l < 0) {
			snprintf(errbuf, errlen, "a usage row's labels are too long for a key name");
			return -1;
		}
		np[i] = names[i];
		nl[i] = (size_t)l;
	}
	if (hgetall(s, n, np, nl, rep, errbuf, errlen) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		hash_into(rep[i], &rows[i]);
	free_replies(rep, n);
	return 0;
}

#define USAGE_CHUNK 512

int rs_usage_all(rs_store *s, struct um_row **rows, size_t *n, char *errbuf, size_t errlen)
{
	char idx[RP_MAX_KEY];
	index_name(s, idx, sizeof idx);
	const char *argv[] = { "SMEMBERS", idx };
	*rows = NULL;
	*n = 0;
	redisReply *members = call(s, 2, argv, NULL, errbuf, errlen);
	if (!members)
		return -1;
	if (members->type != REDIS_REPLY_ARRAY) {
		snprintf(errbuf, errlen, "SMEMBERS: %.120s", members->type == REDIS_REPLY_ERROR ? members->str : "not a set");
		freeReplyObject(members);
		return -1;
	}
	size_t total = members->elements < RS_USAGE_MAX_ROWS ? members->elements : RS_USAGE_MAX_ROWS;
	struct um_row *out = xcalloc(total ? total : 1, sizeof *out);
	const char *np[USAGE_CHUNK];
	size_t nl[USAGE_CHUNK], used = 0;
	redisReply *rep[USAGE_CHUNK];
	int rc = 0;
	for (size_t at = 0; at < total && rc == 0; at += USAGE_CHUNK) {
		size_t m = total - at < USAGE_CHUNK ? total - at : USAGE_CHUNK;
		for (size_t i = 0; i < m; i++) {
			np[i] = members->element[at + i]->str ? members->element[at + i]->str : "";
			nl[i] = members->element[at + i]->len;
		}
		if (hgetall(s, m, np, nl, rep, errbuf, errlen) != 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < m; i++) {
			struct um_row *r = &out[used];
			if (rep[i]->type == REDIS_REPLY_ARRAY && rep[i]->elements == 0) {
				/* expired: off the index (a failure here only leaves it for next time) */
				const char *srem[] = { "SREM", idx, np[i] };
				size_t sl[] = { 4, strlen(idx), nl[i] };
				char ignored[64];
				redisReply *x = call(s, 3, srem, sl, ignored, sizeof ignored);
				if (x)
					freeReplyObject(x);
				continue;
			}
			if (rp_usage_parse_name(s->prefix, np[i], nl[i], r) == 0) {
				hash_into(rep[i], r);
				used++;
			}
		}
		free_replies(rep, m);
	}
	freeReplyObject(members);
	if (rc != 0 || used == 0) {
		free(out);
		return rc;
	}
	*rows = out;
	*n = used;
	return 0;
}

/* ---- upstream cooldowns ---- */

#define COOLDOWN_TRIES 8

static int cooldown_name(const rs_store *s, uint64_t key, char *buf, size_t n)
{
	return snprintf(buf, n, "%scd:%016llx", s->prefix, (unsigned long long)key);
}

/* An HMGET f u reply into *st (zeros for a missing or foreign record). */
static void cooldown_from(const redisReply *r, struct cd_state *st)
{
	st->failures = 0;
	st->until_ms = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return;
	for (size_t i = 0; i < 2; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING)
			return;
	st->failures = (uint32_t)strtoul(r->element[0]->str, NULL, 10);
	st->until_ms = strtoll(r->element[1]->str, NULL, 10);
	if (st->until_ms < 0)
		st->until_ms = 0;
}

int rs_cooldown_get(rs_store *s, uint64_t key, struct cd_state *out, char *errbuf, size_t errlen)
{
	char name[RP_MAX_KEY];
	cooldown_name(s, key, name, sizeof name);
	const char *argv[] = { "HMGET", name, "f", "u" };
	redisReply *r = call(s, 4, argv, NULL, errbuf, errlen);
	if (!r)
		return -1;
	cooldown_from(r, out);
	freeReplyObject(r);
	return 0;
}

int rs_cooldown_update(rs_store *s, uint64_t key, bool (*apply)(struct cd_state *st, void *arg), void *arg,
		       int64_t ttl_ms, struct cd_state *out, char *errbuf, size_t errlen)
{
	char name[RP_MAX_KEY], f[24], u[24], ttl[24];
	cooldown_name(s, key, name, sizeof name);
	snprintf(ttl, sizeof ttl, "%lld", (long long)(ttl_ms > 0 ? ttl_ms : 1));
	const char *watch[] = { "WATCH", name }, *get[] = { "HMGET", name, "f", "u" };
	const char *multi[] = { "MULTI" }, *set[] = { "HSET", name, "f", f, "u", u };
	const char *expire[] = { "PEXPIRE", name, ttl }, *exec[] = { "EXEC" }, *unwatch[] = { "UNWATCH" };
	for (int tries = 0; tries < COOLDOWN_TRIES; tries++) {
		struct rs_cmd read[] = { { 2, watch, NULL }, { 4, get, NULL } };
		redisReply *rr[2];
		struct cd_state st;
		if (pipeline(s, 2, read, rr, errbuf, errlen) != 0)
			return -1;
		cooldown_from(rr[1], &st);
		free_replies(rr, 2);
		if (!apply(&st, arg)) {
			redisReply *x = call(s, 1, unwatch, NULL, errbuf, errlen);
			if (x)
				freeReplyObject(x);
			*out = st;
			return x ? 0 : -1;
		}
		snprintf(f, sizeof f, "%u", (unsigned)st.failures);
		snprintf(u, sizeof u, "%lld", (long long)st.until_ms);
		struct rs_cmd write[] = { { 1, multi, NULL }, { 6, set, NULL }, { 3, expire, NULL }, { 1, exec, NULL } };
		redisReply *wr[4];
		if (pipeline(s, 4, write, wr, errbuf, errlen) != 0)
			return -1;
		bool done = wr[3]->type == REDIS_REPLY_ARRAY;  /* nil: another host wrote first */
		bool failed = wr[3]->type == REDIS_REPLY_ERROR;
		if (failed)
			snprintf(errbuf, errlen, "EXEC: %.120s", wr[3]->str);
		free_replies(wr, 4);
		if (failed)
			return -1;
		if (done) {
			*out = st;
			return 0;
		}
	}
	snprintf(errbuf, errlen, "a cooldown record kept changing under %d tries", COOLDOWN_TRIES);
	return -1;
}
