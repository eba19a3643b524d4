/* redis_store.c: the Redis half of the shared state: one connection per thread, timeouts, backoff */
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

struct rs_store {
	struct rp_url url;
	char *prefix;
	struct timeval connect_tv, command_tv;
	uint64_t id;               /* tells a thread's connection which store it belongs to */
	pthread_mutex_t sha_lock;  /* guards sha */
	char sha[41];              /* the loaded script's SHA1; "" until loaded */
};

/* This thread's connection. */
struct rs_conn {
	uint64_t store_id;         /* 0: none yet */
	redisContext *c;
	int64_t retry_at_ms;       /* backing off: no attempt before this */
	long backoff_ms;
};

static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static pthread_key_t conn_key;
static _Thread_local struct rs_conn conn;
static uint64_t next_store_id = 1;  /* atomic */

static void conn_free(void *p)
{
	struct rs_conn *k = p;
	if (k->c)
		redisFree(k->c);
	k->c = NULL;
}

static void conn_key_init(void)
{
	pthread_key_create(&conn_key, conn_free);
}

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
	s->id = __atomic_fetch_add(&next_store_id, 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&s->sha_lock, NULL);
	*out = s;
	return 0;
}

void rs_close(rs_store *s)
{
	if (!s)
		return;
	if (conn.store_id == s->id)
		conn_free(&conn);
	pthread_mutex_destroy(&s->sha_lock);
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

static void conn_drop(void)
{
	if (conn.c)
		redisFree(conn.c);
	conn.c = NULL;
}

/* The thread waits before its next attempt, longer each time. */
static void conn_fail(void)
{
	conn_drop();
	conn.backoff_ms = conn.backoff_ms ? conn.backoff_ms * 2 : BACKOFF_MIN_MS;
	if (conn.backoff_ms > BACKOFF_MAX_MS)
		conn.backoff_ms = BACKOFF_MAX_MS;
	conn.retry_at_ms = mono_ms() + conn.backoff_ms;
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

/* This thread's connection to s, connecting when it has none and is not
 * backing off. *fresh says it was just made. NULL with the reason. */
static redisContext *conn_get(rs_store *s, bool *fresh, char *errbuf, size_t errlen)
{
	pthread_once(&conn_once, conn_key_init);
	if (conn.store_id != s->id) {
		conn_drop();
		conn.store_id = s->id;
		conn.backoff_ms = 0;
		conn.retry_at_ms = 0;
		pthread_setspecific(conn_key, &conn);
	}
	*fresh = false;
	if (conn.c)
		return conn.c;
	if (conn.retry_at_ms && mono_ms() < conn.retry_at_ms) {
		char at[300];
		snprintf(errbuf, errlen, "%s unreachable, next attempt in %lld ms", where(s, at, sizeof at),
			 (long long)(conn.retry_at_ms - mono_ms()));
		return NULL;
	}
	errbuf[0] = '\0';
	conn.c = conn_open(s, errbuf, errlen);
	if (!conn.c) {
		conn_fail();
		return NULL;
	}
	*fresh = true;
	return conn.c;
}

/* Did the command fail because the connection was already closed (the
 * server restarted since the last use), not because it is slow? */
static bool closed_under_us(const redisContext *c, int err_no)
{
	return c->err == REDIS_ERR_EOF ||
	       (c->err == REDIS_ERR_IO && (err_no == ECONNRESET || err_no == EPIPE || err_no == ENOTCONN));
}

/* One command on this thread's connection; a connection found closed is
 * replaced once. The reply (never an I/O failure: NULL then) is the
 * caller's to free. */
static redisReply *call(rs_store *s, int argc, const char **argv, const size_t *lens,
			char *errbuf, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh;
		redisContext *c = conn_get(s, &fresh, errbuf, errlen);
		if (!c)
			return NULL;
		errno = 0;
		redisReply *r = redisCommandArgv(c, argc, argv, lens);
		if (r) {
			conn.backoff_ms = 0;
			conn.retry_at_ms = 0;
			return r;
		}
		int err_no = errno;
		char at[300];
		bool retry = !fresh && attempt == 0 && closed_under_us(c, err_no);
		io_reason(c, err_no, where(s, at, sizeof at), errbuf, errlen);
		if (!retry) {
			conn_fail();
			return NULL;
		}
		conn_drop();
	}
	return NULL;
}

static void sha_get(rs_store *s, char out[41])
{
	pthread_mutex_lock(&s->sha_lock);
	memcpy(out, s->sha, 41);
	pthread_mutex_unlock(&s->sha_lock);
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
		pthread_mutex_lock(&s->sha_lock);
		memcpy(s->sha, out, 41);
		pthread_mutex_unlock(&s->sha_lock);
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
