/* settings.h: the table of settings (name, type, bounds, default, rule per environment) */
#ifndef OAF_SETTINGS_H
#define OAF_SETTINGS_H
#include <stddef.h>

enum setting_type {
	ST_STRING,   /* char *, non-empty */
	ST_INT,      /* long within [min, max] */
	ST_LIST,     /* comma-separated: char ** + size_t count */
	ST_LOGLEVEL, /* enum log_level */
	ST_CHOICE,   /* one of choices (|-separated), stored as its index (int) */
};

#define SET_REQUIRED_STRICT 0x1  /* must be set explicitly in production/staging */
#define SET_SECRET          0x2  /* masked by --check-config, never echoed */
#define SET_OPTIONAL        0x4  /* no default: absent is fine */

struct setting {
	const char *name;
	enum setting_type type;
	long min, max;           /* ST_INT */
	const char *choices;     /* ST_CHOICE: "text|json" */
	const char *def;         /* compiled default as text; NULL with SET_OPTIONAL */
	unsigned flags;
	size_t offset;           /* into struct config */
	size_t count_offset;     /* ST_LIST: the size_t count */
	const char *doc;
};

/* Each setting's id: settings_table[S_STATE_DIR] is STATE_DIR's row, and
 * a loader's raw values are indexed the same way. */
enum setting_id {
#define SETTING(id, ...) S_##id,
#include "settings_list.h"
#undef SETTING
	S_COUNT
};

/* The table: S_COUNT rows, then one whose name is NULL. */
extern const struct setting settings_table[];

/* The row named name (a config file's, .env's or the environment's
 * spelling), NULL when there is none. Code refers to a setting by its id. */
const struct setting *settings_find(const char *name);
/* The number of rows of settings_table (the terminator aside). */
size_t settings_count(void);

#endif
