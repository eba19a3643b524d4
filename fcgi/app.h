/* app.h: what every worker thread shares, built once at start and read-only after */
#ifndef OAF_APP_H
#define OAF_APP_H
#include "auth.h"
#include "config.h"
#include "limiter.h"
#include "ratelimit.h"
#include "stream_lease.h"
#include "usage.h"

struct request;

struct app {
	struct config cfg;
	struct auth_keyring keys;    /* digests of cfg.tokens, same order */
	lim_store *limits;           /* request and token limits: the file, or Redis (STATE_BACKEND) */
	sl_store *streams;           /* RATE_LIMIT_FILE.streams; NULL when no key has max_streams */
	struct auth_keyring metrics_keys;  /* METRICS_TOKEN alone; empty when unset */
	um_store *usage;             /* the shared usage counters (USAGE_FILE); NULL in unit tests */
	/* Called by a stream's thread when the stream will hold it for its
	 * length: as its head goes out (not on a fiber), or when the wait
	 * loop is full (main.c adds threads). NULL: nothing. */
	void (*stream_began)(void);
	/* A chat_sink's wait (backend.h) for a request on a fiber
	 * (req->fiber): held in the wait loop, so that the stream keeps no
	 * thread while it waits. NULL: no loop. */
	int (*stream_wait)(struct request *req, int fd, long ms);
	/* A chat_sink's waits_in_loop: has req waited in the loop? NULL: no loop. */
	bool (*waits_in_loop)(struct request *req);
};

/* The config file's entry of the key at index i of cfg.tokens, or NULL for
 * a key from API_AUTH_TOKENS alone (no policy of its own). Borrowed. */
const struct key_cfg *app_key(const struct app *app, size_t key_index);

/* The limit of the key at index i of cfg.tokens: its keys[] override, else
 * RATE_LIMIT_PER_MINUTE. */
long app_key_limit(const struct app *app, size_t key_index);

/* The token limit of that key: its tokens_per_minute, else
 * RATE_LIMIT_TOKENS_PER_MINUTE; 0 when none applies. */
long app_key_token_limit(const struct app *app, size_t key_index);

/* Does any configured key set max_streams (so the lease file is needed)? */
bool app_needs_stream_leases(const struct config *cfg);

#endif
