/* config_loader.h: what config.c and config_upstream.c share while loading (not public) */
#ifndef OAF_CONFIG_LOADER_H
#define OAF_CONFIG_LOADER_H
#include <stddef.h>

#include <libconfig.h>

#include "config.h"
#include "settings.h"

/* One setting's winning value and where it came from. */
struct raw_value {
	char *value;          /* owned; NULL: not set anywhere but the default */
	char origin[320];     /* "environment", ".env:3", "/etc/x.conf:12" */
};

struct loader {
	const struct config_paths *paths;
	struct config *cfg;
	struct config_report *rep;
	struct raw_value raw[64];     /* one per row of settings_table, with room to grow */
	size_t upstream_cap;  /* cfg->upstreams is allocated once: models point into it */
};

/* Appends one line to sb (an error or a warning of the report). */
void cfg_report(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string member name of a libconfig group, or NULL. */
const char *cfg_mem_str(const config_setting_t *group, const char *name);
/* "file:line" of a libconfig setting, into buf. */
void cfg_file_origin(char *buf, size_t n, const char *file, const config_setting_t *st);
size_t cfg_setting_index(const struct setting *s);

/* config_upstream.c: the upstreams list, a model's upstream fields, the
 * UPSTREAM_* settings, and the key variables once the environment is known. */
/* Allocates room for n upstreams once: models point into the array. */
void cfg_reserve_upstreams(struct loader *ld, size_t n);
void cfg_load_upstreams(struct loader *ld, const char *file, const config_setting_t *list);
int cfg_load_model_upstream(struct loader *ld, struct model_cfg *mc, const config_setting_t *m, int i,
			    const char *id, const char *where);
void cfg_resolve_upstream_env(struct loader *ld);
void cfg_resolve_upstream_keys(struct loader *ld);
/* Gives every upstream the UPSTREAM_TOTAL_TIMEOUT_S its file did not
 * override, and the UPSTREAM_MAX_*_BYTES bounds. */
void cfg_resolve_upstream_limits(struct loader *ld);

#endif
