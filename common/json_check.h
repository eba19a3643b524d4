/* json_check.h: request bodies judged against a schema written as C tables, with OpenAI's wording and param paths */
#ifndef OAF_JSON_CHECK_H
#define OAF_JSON_CHECK_H
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "openai_error.h"

/*
 * The schema as data. Each node says which JSON types a value may have and,
 * per type, its bounds: a union of a string and an object (tool_choice) is
 * one node whose enums judge the string and whose props judge the object.
 * Tables mirror OpenAI's published request schemas (chat_request.c,
 * responses_request.c, completions_request.c).
 */
enum {
	T_NULL = 1, T_BOOL = 2, T_INT = 4, T_DEC = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64
};
#define T_NUM (T_INT | T_DEC)

enum {
	F_MIN = 1,    /* numbers: min applies */
	F_MAX = 2,    /* numbers: max applies */
	F_OPEN = 4,   /* objects: any content (JSON Schemas, free-form) */
	F_MAP = 8,    /* objects: any keys, every value judged by items */
	F_NAME = 16   /* strings: ^[a-zA-Z0-9_-]+$ */
};

struct vctx;
struct vnode;

struct vprop {
	const char *name;
	const struct vnode *node;
	bool required;
};

/* One branch of a union of objects told apart by one key ("type", "role"). */
struct vvariant {
	const char *value;
	const struct vnode *node;
};

struct vnode {
	unsigned types;
	unsigned flags;
	double min, max;              /* numbers */
	size_t min_items, max_items;  /* arrays; max 0: unbounded */
	size_t max_len;               /* strings, in characters; 0: unbounded */
	size_t max_props;             /* maps; 0: unbounded */
	const char *const *enums;     /* strings: the allowed values */
	const struct vprop *props;    /* objects */
	const struct vnode *items;    /* array items, map values */
	const char *disc;             /* objects: the key choosing a variant */
	const char *disc_default;     /* the variant when disc is absent; NULL: required */
	const struct vvariant *variants;
	int (*key_check)(struct vctx *c, const char *key);  /* maps */
};

/* Validation state: where we are, for param and messages. */
struct vctx {
	oa_error *err;
	char path[256];
	size_t len;
};

#define ENUM(...)     ((const char *const[]){ __VA_ARGS__, NULL })
#define PROPS(...)    ((const struct vprop[]){ __VA_ARGS__, { NULL, NULL, false } })
#define VARIANTS(...) ((const struct vvariant[]){ __VA_ARGS__, { NULL, NULL } })
#define NODE(...)     (&(const struct vnode){ __VA_ARGS__ })
#define STR_ENUM(...) NODE(.types = T_STR, .enums = ENUM(__VA_ARGS__))
#define STR_ENUM_NULL(...) NODE(.types = T_STR | T_NULL, .enums = ENUM(__VA_ARGS__))
#define RANGE(t, lo, hi) NODE(.types = (t), .flags = F_MIN | F_MAX, .min = (lo), .max = (hi))
#define REQ true
#define OPT false

/* The plain nodes every request schema uses: a string, a boolean, an
 * integer (each possibly null), any object, a function-style name. */
extern const struct vnode jc_n_str, jc_n_str_null, jc_n_bool, jc_n_bool_null, jc_n_int_null;
extern const struct vnode jc_n_free_obj, jc_n_free_obj_null, jc_n_name;

/* Judges o against n, c->path being where o is ("" for the body). Returns
 * 0, or -1 with c->err filled: a 400 invalid_request_error whose param is
 * the path of the first offending value and whose message is OpenAI's. */
int jc_check(struct vctx *c, json_object *o, const struct vnode *n);

/* json_guard_parse(), then the body must be an object that satisfies
 * schema. 0 and *root (the caller's reference), or -1, *root NULL and a
 * 400 in err. */
int jc_parse_body(const char *body, size_t len, const struct vnode *schema, json_object **root, oa_error *err);

/* Map key checks shared by the request schemas: logit_bias keys are token
 * ids (decimal digits), metadata keys at most 64 characters. */
int jc_logit_bias_key(struct vctx *c, const char *key);
int jc_metadata_key(struct vctx *c, const char *key);

/* The T_* bit of o's JSON type, and how OpenAI names it ("an integer"). */
unsigned jc_type_bit(json_object *o);
const char *jc_type_article(unsigned bit);
/* Characters, as OpenAI counts string lengths; s must be valid UTF-8. */
size_t jc_utf8_chars(const char *s, size_t len);

/* The member key of o, or NULL when o is not an object, the member is
 * absent or JSON null (OpenAI treats both alike). Borrowed from o. */
json_object *jc_field(json_object *o, const char *key);
/* That member's string, or NULL; true when it is the boolean true. */
const char *jc_str(json_object *o, const char *key);
bool jc_true(json_object *o, const char *key);

#endif
