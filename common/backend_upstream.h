/* backend_upstream.h: what the upstream backend offers besides chat: the upstream's own model list */
#ifndef OAF_BACKEND_UPSTREAM_H
#define OAF_BACKEND_UPSTREAM_H
#include "config.h"
#include "strbuf.h"

/* For every upstream of cfg with discover set, appends to out the models
 * its GET /models lists, each as ",{model object}", skipping ids that cfg
 * already has. A list is fetched at most once per discover_ttl_s per
 * process (shared by its threads); an upstream that cannot be asked adds
 * nothing (the failure is logged). now_s: a monotonic clock in seconds. */
void upstream_discover(const struct config *cfg, long now_s, strbuf *out);

#endif
