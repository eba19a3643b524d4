/* config_members.h: every member of the config file's groups (models, keys, upstreams...) as one table each */
#ifndef OAF_CONFIG_MEMBERS_H
#define OAF_CONFIG_MEMBERS_H
#include <stddef.h>

/* The kind of value a member takes. MK_CHOICE is a string among choices,
 * stored as its index; MK_GROUP is a { ... } whose members are in group. */
enum member_kind { MK_STRING, MK_INT, MK_BOOL, MK_GROUP, MK_LIST, MK_CHOICE };

/* One member a config-file group may have. A row with a size is read by
 * cfg_read_members() (config_loader.h) into the target struct at offset:
 * an integer of that size within [min, max], a bool, or a choice's index.
 * A row without one (size 0) is read by hand by its loader; the table
 * still says its kind, default and meaning, for validation and the docs. */
struct member {
	const char *name;
	enum member_kind kind;
	long long min, max;              /* MK_INT */
	const char *choices;             /* MK_CHOICE: "mock|upstream" */
	const char *def;                 /* the default as written in the file; NULL: none */
	size_t offset, size;             /* in the target struct; size 0: read by hand */
	const struct member *group;      /* MK_GROUP: its members, read into the same target */
	const char *doc;                 /* one line, as conf/openai-fcgi.conf explains it */
};

/* The tables; each ends with a row whose name is NULL. */
extern const struct member cfg_model_members[];      /* models[i] */
extern const struct member cfg_mock_members[];       /* models[i].mock */
extern const struct member cfg_key_members[];        /* keys[i] */
extern const struct member cfg_upstream_members[];   /* upstreams[i] (and a model's own upstream), name aside */
extern const struct member cfg_upstream_list_members[];  /* what upstreams[i] adds: its name */
extern const struct member cfg_timeout_members[];    /* an upstream's timeouts */
extern const struct member cfg_deployment_members[]; /* models[i].deployments[j] */

/* Every table above with the group it describes ("models", "keys[].",
 * "upstreams[].timeouts"), for the docs' tests; ends with a NULL table. */
struct member_table {
	const char *group;
	const struct member *members;
};
extern const struct member_table cfg_member_tables[];

/* Sets every member of t (and of its groups) that has a size and a
 * default to that default, in target. Pure. */
void cfg_member_defaults(const struct member *t, void *target);
/* Stores v into m's field of target (m->size > 0): a bool, an int or
 * enum, or a long or long long, by the field's size. Pure. */
void cfg_member_store(void *target, const struct member *m, long long v);
/* The index of v among the |-separated choices (case-sensitive), or -1. Pure. */
int cfg_member_choice(const char *choices, const char *v);

#endif
