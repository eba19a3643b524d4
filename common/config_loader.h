/* config_loader.h: what config.c and config_upstream.c share while loading (config_loader.c; not public) */
#ifndef OAF_CONFIG_LOADER_H
#define OAF_CONFIG_LOADER_H
#include <stddef.h>

#include <libconfig.h>

#include "config.h"
#include "config_members.h"
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
	struct raw_value *raw;  /* one per row of settings_table; owned */
	size_t upstream_cap;  /* cfg->upstreams is allocated once: models point into it */
};

/* Appends one line to sb (an error or a warning of the report). */
void cfg_report(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string member name of a libconfig group, or NULL. */
const char *cfg_mem_str(const config_setting_t *group, const char *name);
/* "file:line" of a libconfig setting, into buf. */
void cfg_file_origin(char *buf, size_t n, const char *file, const config_setting_t *st);
size_t cfg_setting_index(const struct setting *s);

/* Reads every member of group against known (config_members.h): a name in
 * neither known nor others (each ends with a NULL name; others may be
 * NULL) is reported with file:line and the nearest known name, a value of
 * the wrong kind or out of its row's bounds is reported, and each of
 * known's rows with a size is stored in target (whose defaults the caller
 * set with cfg_member_defaults()). others are members another reader
 * takes from the same group: only their kind is checked here. what names
 * the group ("models[2]"). Returns the number of problems reported. */
int cfg_read_members(struct loader *ld, const char *file, const config_setting_t *group, const char *what,
		     const struct member *known, void *target, const struct member *others);
/* The known name nearest to name by edit distance, or NULL when none is
 * close enough to be a likely typo. names holds n_names entries. Pure. */
const char *cfg_nearest_name(const char *name, const char *const *names, size_t n_names);

/* config_upstream.c: the upstreams list, a model's upstream fields, the
 * UPSTREAM_* settings, and the key variables once the environment is known. */
/* Allocates room for n upstreams once: models point into the array. */
void cfg_reserve_upstreams(struct loader *ld, size_t n);
void cfg_load_upstreams(struct loader *ld, const char *file, const config_setting_t *list);
int cfg_load_model_upstream(struct loader *ld, struct model_cfg *mc, const char *file, const config_setting_t *m,
			    int i, const char *id, const char *where);
void cfg_resolve_upstream_env(struct loader *ld);
/* Frees a model's deployments (and their strings). */
void cfg_free_deployments(struct model_cfg *mc);
void cfg_resolve_upstream_keys(struct loader *ld);
/* Gives every upstream the UPSTREAM_TOTAL_TIMEOUT_S its file did not
 * override, and the UPSTREAM_MAX_*_BYTES bounds. */
void cfg_resolve_upstream_limits(struct loader *ld);

#endif
