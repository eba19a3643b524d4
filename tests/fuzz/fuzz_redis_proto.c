/* fuzz_redis_proto.c: libFuzzer harness: REDIS_URL parsing, and the usage hash names and counter values that come back from Redis */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis_proto.h"
#include "usage.h"

#define PREFIX "openai-fcgi:"

/* A parsed URL is whole: one of TCP or a socket, each string terminated. */
static void check_url(const char *s)
{
	struct rp_url u;
	char err[256];
	if (rp_parse_url(s, &u, err, sizeof err) != 0) {
		if (!memchr(err, '\0', sizeof err))
			abort();
		return;
	}
	if (!memchr(u.host, '\0', sizeof u.host) || !memchr(u.path, '\0', sizeof u.path) ||
	    !memchr(u.user, '\0', sizeof u.user) || !memchr(u.password, '\0', sizeof u.password))
		abort();
	if ((u.host[0] == '\0') == (u.path[0] == '\0'))
		abort();  /* exactly one of them */
	if (u.host[0] && (u.port < 1 || u.port > 65535))
		abort();
	if (u.db < 0)
		abort();
}

/* A name Redis hands back that parses is one rp_usage_name() writes again
 * the same way, and its counters take any value without harm. */
static void check_usage(const char *p, size_t n)
{
	struct um_row row, again;
	char name[RP_MAX_USAGE_NAME];
	const char *sep = memchr(p, '\n', n);
	size_t name_len = sep ? (size_t)(sep - p) : n;
	if (rp_usage_parse_name(PREFIX, p, name_len, &row) == 0) {
		int len = rp_usage_name(PREFIX, &row, name, sizeof name);
		if (len < 0 || rp_usage_parse_name(PREFIX, name, (size_t)len, &again) != 0 ||
		    memcmp(&row, &again, sizeof row) != 0)
			abort();
	} else {
		memset(&row, 0, sizeof row);
	}
	/* the rest: "field value" lines, as HGETALL's pairs */
	while (sep) {
		const char *line = sep + 1, *end = p + n;
		sep = memchr(line, '\n', (size_t)(end - line));
		const char *stop = sep ? sep : end;
		const char *space = memchr(line, ' ', (size_t)(stop - line));
		if (space)
			rp_usage_set(&row, line, (size_t)(space - line), space + 1, (size_t)(stop - space - 1));
	}
	for (size_t i = 0; i < RP_USAGE_FIELDS; i++)
		(void)rp_usage_get(&row, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	char *s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1)
		check_url(s);
	else
		check_usage(s, size - 1);
	free(s);
	return 0;
}
