/* backend_upstream.h: what the upstream backend offers besides chat: the upstream's own model list */
#ifndef OAF_BACKEND_UPSTREAM_H
#define OAF_BACKEND_UPSTREAM_H
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "strbuf.h"

/* A model that an upstream with discover = true lists in its GET /models. */
struct discovered_model {
	const struct upstream_cfg *up;  /* borrowed from the config */
	char id[128];
	char owned_by[64];
	long created;
};

/* Calls each(ctx, m) for every model the discover upstreams of cfg list
 * and cfg does not configure itself, in upstream order, each id once (the
 * first upstream that lists it); m is valid for the call only, and each
 * must not call back in here. A list is fetched at most once per
 * discover_ttl_s per process: one thread asks the upstream, outside any
 * lock, while the others use the last list; an upstream that cannot be
 * asked keeps its last list (the failure is logged). now_s: a monotonic
 * clock in seconds. */
void upstream_discover(const struct config *cfg, long now_s,
		       void (*each)(void *ctx, const struct discovered_model *m), void *ctx);

/* The discovered model named id, as upstream_discover() would list it:
 * 0 and *out filled, or -1 when no discover upstream lists it. */
int upstream_discovered(const struct config *cfg, const char *id, long now_s, struct discovered_model *out);

/* Will cfg ever ask an upstream (a model forwarded to one, or a model
 * list to discover)? Only then does the process need libcurl. */
bool upstream_in_use(const struct config *cfg);

/* Loads libcurl at start-up when cfg uses an upstream, so that a missing
 * library refuses start-up rather than failing each request: 0 (loaded, or
 * not needed), or -1 with the reason, naming the package, in err. */
int upstream_preload(const struct config *cfg, char *err, size_t errlen);

/* Opens the file (in STATE_DIR) where every process of the host keeps
 * which deployments failed in a row and which cool down (cooldown.h):
 * call once at start-up, before the first request. 0, or -1 with the
 * reason in err; without it each request tries deployments afresh. */
int upstream_cooldowns_open(const char *path, char *err, size_t errlen);

struct rs_store;
/* STATE_BACKEND=redis: the cooldowns opened above are kept in r instead,
 * shared by every host (cd_share); r is borrowed and outlives them. */
void upstream_cooldowns_share(struct rs_store *r);

#endif
