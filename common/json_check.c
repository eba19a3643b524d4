/* json_check.c: request bodies judged against a schema written as C tables, with OpenAI's wording and param paths */
#include "json_check.h"

#include <stdio.h>
#include <string.h>

#include "json_guard.h"
#include "strbuf.h"

const struct vnode jc_n_str = { .types = T_STR };
const struct vnode jc_n_str_null = { .types = T_STR | T_NULL };
const struct vnode jc_n_bool = { .types = T_BOOL };
const struct vnode jc_n_bool_null = { .types = T_BOOL | T_NULL };
const struct vnode jc_n_int_null = { .types = T_INT | T_NULL };
const struct vnode jc_n_free_obj = { .types = T_OBJ, .flags = F_OPEN };
const struct vnode jc_n_free_obj_null = { .types = T_OBJ | T_NULL, .flags = F_OPEN };
const struct vnode jc_n_name = { .types = T_STR, .flags = F_NAME, .max_len = 64 };

/* ---- the walker ---- */

/* Appends to the path, truncating as snprintf would. The walker pushes a
 * key or an index for every value of every body, so no printf here. */
static void path_put(struct vctx *c, const char *s, size_t n)
{
	size_t room = sizeof c->path - 1 - c->len;
	if (n > room)
		n = room;
	memcpy(c->path + c->len, s, n);
	c->len += n;
	c->path[c->len] = '\0';
}

static size_t path_push_key(struct vctx *c, const char *key)
{
	size_t old = c->len;
	if (c->len)
		path_put(c, ".", 1);
	path_put(c, key, strlen(key));
	return old;
}

static size_t path_push_index(struct vctx *c, size_t i)
{
	size_t old = c->len;
	char d[24];
	size_t k = sizeof d;
	d[--k] = ']';
	do
		d[--k] = (char)('0' + i % 10);
	while ((i /= 10) && k > 1);
	d[--k] = '[';
	path_put(c, d + k, sizeof d - k);
	return old;
}

static void path_pop(struct vctx *c, size_t old)
{
	c->len = old;
	c->path[old] = '\0';
}

unsigned jc_type_bit(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null: return T_NULL;
	case json_type_boolean: return T_BOOL;
	case json_type_int: return T_INT;
	case json_type_double: return T_DEC;
	case json_type_string: return T_STR;
	case json_type_array: return T_ARR;
	case json_type_object: return T_OBJ;
	}
	return T_NULL;
}

const char *jc_type_article(unsigned bit)
{
	switch (bit) {
	case T_BOOL: return "a boolean";
	case T_INT: return "an integer";
	case T_DEC: return "a decimal";
	case T_STR: return "a string";
	case T_ARR: return "an array";
	case T_OBJ: return "an object";
	default: return "null";
	}
}

/* "a string", or "one of a string or an array"; null goes unmentioned. */
static void describe_types(unsigned types, strbuf *out)
{
	static const unsigned order[] = { T_STR, T_INT, T_DEC, T_BOOL, T_ARR, T_OBJ };
	unsigned want[6];
	size_t n = 0;
	if (types & T_DEC)
		types &= ~(unsigned)T_INT;  /* an integer is a decimal too */
	for (size_t i = 0; i < 6; i++)
		if (types & order[i])
			want[n++] = order[i];
	if (n > 1)
		sb_puts(out, "one of ");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_puts(out, i + 1 == n ? " or " : ", ");
		sb_puts(out, jc_type_article(want[i]));
	}
}

static int type_error(struct vctx *c, unsigned types, json_object *o)
{
	strbuf want = STRBUF_INIT;
	describe_types(types, &want);
	oa_invalid(c->err, "invalid_type", c->path,
		   "Invalid type for '%s': expected %s, but got %s instead.",
		   c->path, sb_str(&want), jc_type_article(jc_type_bit(o)));
	sb_free(&want);
	return -1;
}

static int missing(struct vctx *c, const char *name)
{
	size_t old = path_push_key(c, name);
	oa_invalid(c->err, "missing_required_parameter", c->path,
		   "Missing required parameter: '%s'.", c->path);
	path_pop(c, old);
	return -1;
}

/* "Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'." */
static int enum_error(struct vctx *c, const char *s, size_t len, const char *const *allowed)
{
	strbuf list = STRBUF_INIT;
	size_t n = 0;
	while (allowed[n])
		n++;
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_puts(&list, n == 2 ? " and " : i + 1 == n ? ", and " : ", ");
		sb_printf(&list, "'%s'", allowed[i]);
	}
	oa_invalid(c->err, "invalid_value", c->path,
		   "Invalid value: '%.*s'. Supported values are: %s.",
		   (int)(len > 100 ? 100 : len), s, sb_str(&list));
	sb_free(&list);
	return -1;
}

static bool str_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static bool in_enum(const char *const *allowed, const char *s, size_t len)
{
	for (; *allowed; allowed++)
		if (str_is(s, len, *allowed))
			return true;
	return false;
}

/* Characters, as OpenAI counts string lengths; the guard vouched for UTF-8. */
size_t jc_utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static bool name_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
		      || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static int v_string(struct vctx *c, json_object *o, const struct vnode *n)
{
	const char *s = json_object_get_string(o);
	size_t len = (size_t)json_object_get_string_len(o);
	if (n->enums && !in_enum(n->enums, s, len))
		return enum_error(c, s, len, n->enums);
	size_t chars = n->max_len ? jc_utf8_chars(s, len) : 0;
	if (chars > n->max_len)
		return oa_invalid(c->err, "string_above_max_length", c->path,
				  "Invalid '%s': string too long. Expected a string with maximum "
				  "length %zu, but got a string with length %zu instead.",
				  c->path, n->max_len, chars);
	if ((n->flags & F_NAME) && !name_ok(s, len))
		return oa_invalid(c->err, "invalid_value", c->path,
				  "Invalid '%s': string does not match pattern. Expected a string "
				  "that matches the pattern '^[a-zA-Z0-9_-]+$'.", c->path);
	return 0;
}

static int v_number(struct vctx *c, json_object *o, const struct vnode *n)
{
	bool dec = n->types & T_DEC;
	const char *kind = dec ? "decimal" : "integer";
	double v = json_object_get_double(o);
	if ((n->flags & F_MAX) && v > n->max)
		return oa_invalid(c->err, dec ? "decimal_above_max_value" : "integer_above_max_value",
				  c->path, "Invalid '%s': %s above maximum value. Expected a value "
				  "<= %g, but got %s instead.",
				  c->path, kind, n->max, json_object_to_json_string(o));
	if ((n->flags & F_MIN) && v < n->min)
		return oa_invalid(c->err, dec ? "decimal_below_min_value" : "integer_below_min_value",
				  c->path, "Invalid '%s': %s below minimum value. Expected a value "
				  ">= %g, but got %s instead.",
				  c->path, kind, n->min, json_object_to_json_string(o));
	return 0;
}

int jc_check(struct vctx *c, json_object *o, const struct vnode *n);

static int v_array(struct vctx *c, json_object *o, const struct vnode *n)
{
	size_t len = json_object_array_length(o);
	if (len == 0 && n->min_items)
		return oa_invalid(c->err, "empty_array", c->path,
				  "Invalid '%s': empty array. Expected an array with minimum length "
				  "%zu, but got an empty array instead.", c->path, n->min_items);
	if (len < n->min_items)
		return oa_invalid(c->err, "array_below_min_length", c->path,
				  "Invalid '%s': array too short. Expected an array with minimum "
				  "length %zu, but got an array with length %zu instead.",
				  c->path, n->min_items, len);
	if (n->max_items && len > n->max_items)
		return oa_invalid(c->err, "array_above_max_length", c->path,
				  "Invalid '%s': array too long. Expected an array with maximum "
				  "length %zu, but got an array with length %zu instead.",
				  c->path, n->max_items, len);
	if (!n->items)
		return 0;
	for (size_t i = 0; i < len; i++) {
		size_t old = path_push_index(c, i);
		int rc = jc_check(c, json_object_array_get_idx(o, i), n->items);
		path_pop(c, old);
		if (rc)
			return -1;
	}
	return 0;
}

static int v_map(struct vctx *c, json_object *o, const struct vnode *n)
{
	size_t count = (size_t)json_object_object_length(o);
	if (n->max_props && count > n->max_props)
		return oa_invalid(c->err, "object_above_max_properties", c->path,
				  "Invalid '%s': too many properties. Expected an object with at "
				  "most %zu properties, but got an object with %zu properties instead.",
				  c->path, n->max_props, count);
	json_object_object_foreach(o, key, val) {
		size_t old = path_push_key(c, key);
		int rc = (n->key_check && n->key_check(c, key)) || jc_check(c, val, n->items);
		path_pop(c, old);
		if (rc)
			return -1;
	}
	return 0;
}

static const struct vprop *find_prop(const struct vprop *p, const char *name)
{
	for (; p && p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static int v_props(struct vctx *c, json_object *o, const struct vprop *props)
{
	json_object_object_foreach(o, key, val) {
		const struct vprop *p = find_prop(props, key);
		size_t old = path_push_key(c, key);
		int rc = p ? jc_check(c, val, p->node)
			   : oa_invalid(c->err, "unknown_parameter", c->path,
					"Unknown parameter: '%s'.", c->path);
		path_pop(c, old);
		if (rc)
			return -1;
	}
	for (const struct vprop *p = props; p && p->name; p++)
		if (p->required && !json_object_object_get_ex(o, p->name, NULL))
			return missing(c, p->name);
	return 0;
}

static int v_object(struct vctx *c, json_object *o, const struct vnode *n);

static int v_variant(struct vctx *c, json_object *o, const struct vnode *n)
{
	json_object *d;
	const char *s = n->disc_default;
	size_t len = s ? strlen(s) : 0;
	bool present = json_object_object_get_ex(o, n->disc, &d);
	if (!present && !s)
		return missing(c, n->disc);
	size_t old = path_push_key(c, n->disc);
	if (present && !json_object_is_type(d, json_type_string)) {
		type_error(c, T_STR, d);
		path_pop(c, old);
		return -1;
	}
	if (present) {
		s = json_object_get_string(d);
		len = (size_t)json_object_get_string_len(d);
	}
	const struct vvariant *v;
	for (v = n->variants; v->value; v++)
		if (str_is(s, len, v->value))
			break;
	if (!v->value) {
		const char *names[16];
		size_t k = 0;
		for (const struct vvariant *w = n->variants; w->value && k < 15; w++)
			names[k++] = w->value;
		names[k] = NULL;
		enum_error(c, s, len, names);
		path_pop(c, old);
		return -1;
	}
	path_pop(c, old);
	/* a variant may itself be a union told apart by another key */
	return v_object(c, o, v->node);
}

static int v_object(struct vctx *c, json_object *o, const struct vnode *n)
{
	if (n->flags & F_OPEN)
		return 0;
	if (n->flags & F_MAP)
		return v_map(c, o, n);
	if (n->disc)
		return v_variant(c, o, n);
	return v_props(c, o, n->props);
}

int jc_check(struct vctx *c, json_object *o, const struct vnode *n)
{
	unsigned t = jc_type_bit(o);
	unsigned allowed = n->types;
	if (allowed & T_DEC)
		allowed |= T_INT;
	if (!(allowed & t))
		return type_error(c, n->types, o);
	switch (t) {
	case T_STR: return v_string(c, o, n);
	case T_INT: case T_DEC: return v_number(c, o, n);
	case T_ARR: return v_array(c, o, n);
	case T_OBJ: return v_object(c, o, n);
	default: return 0;
	}
}
json_object *jc_field(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v)
	    || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

const char *jc_str(json_object *o, const char *key)
{
	json_object *v = jc_field(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

bool jc_true(json_object *o, const char *key)
{
	json_object *v = jc_field(o, key);
	return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

int jc_parse_body(const char *body, size_t len, const struct vnode *schema, json_object **root, oa_error *err)
{
	*root = NULL;
	json_object *o;
	if (json_guard_parse(body, len, &o, err))
		return -1;
	if (!json_object_is_type(o, json_type_object)) {
		oa_invalid(err, "invalid_type", NULL, "Invalid type for body: expected an object, but got %s instead.",
			   jc_type_article(jc_type_bit(o)));
		json_object_put(o);
		return -1;
	}
	struct vctx c = { .err = err };
	if (jc_check(&c, o, schema)) {
		json_object_put(o);
		return -1;
	}
	*root = o;
	return 0;
}

/* Token ids are what the tokenizer numbers: decimal digits only. */
int jc_logit_bias_key(struct vctx *c, const char *key)
{
	size_t len = strlen(key);
	bool ok = len > 0 && len <= 10;
	for (size_t i = 0; ok && i < len; i++)
		ok = key[i] >= '0' && key[i] <= '9';
	if (ok)
		return 0;
	return oa_invalid(c->err, "invalid_value", c->path,
			  "Invalid key in 'logit_bias': '%.64s'. Keys must be token IDs "
			  "(non-negative integers).", key);
}

int jc_metadata_key(struct vctx *c, const char *key)
{
	size_t chars = jc_utf8_chars(key, strlen(key));
	if (chars <= 64)
		return 0;
	return oa_invalid(c->err, "string_above_max_length", c->path,
			  "Invalid 'metadata': key too long. Expected a key with maximum "
			  "length 64, but got a key with length %zu instead.", chars);
}
