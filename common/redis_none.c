/* redis_none.c: rs_* for a build without hiredis (configure --without-redis): STATE_BACKEND=redis is refused */
#include "redis_store.h"

#include <stdio.h>

int rs_open(const struct rs_options *o, rs_store **out, char *errbuf, size_t errlen)
{
	(void)o;
	(void)out;
	snprintf(errbuf, errlen, "this build has no Redis support (configured --without-redis); "
		 "use STATE_BACKEND=file or a build with libhiredis-dev");
	return -1;
}

void rs_close(rs_store *s)
{
	(void)s;
}

int rs_gcra(rs_store *s, const char *key, size_t keylen, long per_minute,
	    const struct rp_gcra_op *op, struct rl_result *r, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "no Redis support in this build");
	return -1;
}

int rs_ping(rs_store *s, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "no Redis support in this build");
	return -1;
}

int rs_usage_add(rs_store *s, const struct um_row *rows, size_t n, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "no Redis support in this build");
	return -1;
}

int rs_usage_read(rs_store *s, struct um_row *rows, size_t n, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "no Redis support in this build");
	return -1;
}

int rs_usage_all(rs_store *s, struct um_row **rows, size_t *n, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "no Redis support in this build");
	return -1;
}

int rs_cooldown_get(rs_store *s, uint64_t key, struct cd_state *out, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "no Redis support in this build");
	return -1;
}

int rs_cooldown_update(rs_store *s, uint64_t key, bool (*apply)(struct cd_state *st, void *arg), void *arg,
		       int64_t ttl_ms, struct cd_state *out, char *errbuf, size_t errlen)
{
	snprintf(errbuf, errlen, "no Redis support in this build");
	return -1;
}
