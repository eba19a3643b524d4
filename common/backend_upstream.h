/* backend_upstream.h: what the upstream backend offers besides chat: the upstream's own model list */
#ifndef OAF_BACKEND_UPSTREAM_H
#define OAF_BACKEND_UPSTREAM_H
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "strbuf.h"

/* For every upstream of cfg with discover set, appends to out the models
 * its GET /models lists, each as ",{model object}", skipping ids that cfg
 * already has. A list is fetched at most once per discover_ttl_s per
 * process (shared by its threads); an upstream that cannot be asked adds
 * nothing (the failure is logged). now_s: a monotonic clock in seconds. */
void upstream_discover(const struct config *cfg, long now_s, strbuf *out);

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

#endif
