/* mock_schema.c: a small JSON value valid for a JSON Schema, within bounds, for the mock's tool arguments and json_schema answers */
#include "mock_schema.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* How generating one schema's value ended. NO lets the caller try
 * something else (another branch or type, leaving an optional property
 * out, an empty array); OVER means a bound of the whole attempt ran out. */
enum gen_rc { GEN_OK, GEN_NO, GEN_OVER };

struct gen {
	json_object *root;       /* what "#" means in $ref */
	strbuf *out;
	size_t start;            /* out->len before the value */
	size_t max_bytes;
	long visits_left;
	bool minimal;            /* required properties only, the fewest items */
	int depth;
	json_object *path[MOCK_SCHEMA_MAX_DEPTH];  /* the schemas being generated, outermost first */
};

static json_object *member(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static size_t room(const struct gen *g)
{
	size_t used = g->out->len - g->start;
	return used < g->max_bytes ? g->max_bytes - used : 0;
}

/* Takes back what was appended since out->len was mark. */
static void rollback(struct gen *g, size_t mark)
{
	g->out->len = mark;
	if (g->out->buf)
		g->out->buf[mark] = '\0';
}

static enum gen_rc put(struct gen *g, const char *s, size_t n)
{
	if (n > room(g))
		return GEN_OVER;
	sb_append(g->out, s, n);
	return GEN_OK;
}

/* A value given by the schema itself (const, enum): it fits or it does not. */
static enum gen_rc put_value(struct gen *g, json_object *v)
{
	const char *s = json_object_to_json_string_ext(v,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	return n > g->max_bytes ? GEN_NO : put(g, s, n);
}

static enum gen_rc put_key(struct gen *g, const char *key, bool first)
{
	if (!first && put(g, ",", 1) != GEN_OK)
		return GEN_OVER;
	/* keys are at most JSON_GUARD_MAX_KEY bytes: escaping them first is cheap */
	sb_json_str(g->out, key, strlen(key));
	if (g->out->len - g->start > g->max_bytes)
		return GEN_OVER;
	return put(g, ":", 1);
}

/* Work that is not a visit (scanning a list) costs visits too, so that
 * the time an attempt takes stays bounded whatever the schema's shape. */
static bool charge(struct gen *g, size_t n)
{
	g->visits_left -= n > (size_t)LONG_MAX / 2 ? LONG_MAX / 2 : (long)n;
	return g->visits_left >= 0;
}

/* Follows a local reference ("#/$defs/x", JSON Pointer escapes ~0 ~1);
 * NULL when it leads nowhere, or when following it ran out of visits. */
static json_object *resolve_ref(struct gen *g, const char *ref)
{
	if (ref[0] != '#')
		return NULL;
	json_object *at = g->root;
	const char *p = ref + 1;
	while (at && *p == '/') {
		if (!charge(g, 1))
			return NULL;
		p++;
		size_t len = strcspn(p, "/");
		char key[320];
		size_t k = 0;
		for (size_t i = 0; i < len && k + 1 < sizeof(key); i++) {
			if (p[i] == '~' && i + 1 < len && (p[i + 1] == '0' || p[i + 1] == '1')) {
				key[k++] = p[i + 1] == '1' ? '/' : '~';
				i++;
			} else {
				key[k++] = p[i];
			}
		}
		key[k] = '\0';
		at = member(at, key);
		p += len;
	}
	return at;
}

/* minItems, maxLength...: a count, whatever number the client wrote there
 * (1e300, -5, 2.5). Absent or not a number: dflt. */
static long count_member(json_object *s, const char *key, long dflt)
{
	json_object *v = member(s, key);
	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return dflt;
	double d = json_object_get_double(v);
	if (!(d >= 0))       /* negative, or NaN */
		return 0;
	if (d >= 9.0e18)     /* beyond long: converting would be undefined */
		return LONG_MAX;
	return (long)ceil(d);
}

/* A finite numeric bound, or false. */
static bool bound(json_object *s, const char *key, double *out)
{
	json_object *v = member(s, key);
	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return false;
	double d = json_object_get_double(v);
	if (!isfinite(d))
		return false;
	*out = d;
	return true;
}

static bool is_true(json_object *s, const char *key)
{
	json_object *v = member(s, key);
	return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* The interval the bounds allow, exclusive bounds made inclusive; for an
 * integer the integral part of it. Draft 4's boolean exclusiveMinimum
 * applies to minimum; later drafts' number is a bound of its own. */
static void number_range(json_object *s, bool integer, double *lo_out, double *hi_out)
{
	double lo = -INFINITY, hi = INFINITY, d;
	bool lo_x = is_true(s, "exclusiveMinimum"), hi_x = is_true(s, "exclusiveMaximum");
	if (bound(s, "minimum", &d))
		lo = d;
	if (bound(s, "exclusiveMinimum", &d) && d >= lo) {
		lo = d;
		lo_x = true;
	}
	if (bound(s, "maximum", &d))
		hi = d;
	if (bound(s, "exclusiveMaximum", &d) && d <= hi) {
		hi = d;
		hi_x = true;
	}
	double L, H;
	if (integer) {
		L = lo_x ? floor(lo) + 1 : ceil(lo);
		H = hi_x ? ceil(hi) - 1 : floor(hi);
	} else {
		L = lo;
		H = hi;
	}
	/* past 2^53 adding 1 changes nothing: step to the next double */
	if (lo_x && !(L > lo))
		L = nextafter(lo, INFINITY);
	if (hi_x && !(H < hi))
		H = nextafter(hi, -INFINITY);
	*lo_out = L;
	*hi_out = H;
}

/* 1 when the bounds allow it, else the bound nearest to it, then moved to
 * a multiple of multipleOf; NO when no such number exists (or none we can
 * write: infinities, overflow). */
static enum gen_rc gen_number(struct gen *g, json_object *s, bool integer)
{
	double lo, hi, m;
	number_range(s, integer, &lo, &hi);
	if (!(lo <= hi))
		return GEN_NO;
	double v = 1;
	if (v < lo)
		v = lo;
	if (v > hi)
		v = hi;
	if (bound(s, "multipleOf", &m) && m > 0) {
		double k = ceil(v / m), w = k * m;
		if (!(w <= hi)) {
			k = floor(hi / m);
			w = k * m;
		}
		/* an integer that is a multiple of a fraction: a few steps find one */
		for (int i = 0; integer && i < 8 && isfinite(w) && w != floor(w); i++)
			w = ++k * m;
		if (!isfinite(w) || w < lo || w > hi || (integer && w != floor(w)))
			w = 0;  /* a multiple of everything, when the bounds allow it */
		if (w < lo || w > hi)
			return GEN_NO;
		v = w;
	}
	if (!isfinite(v))
		return GEN_NO;
	char buf[400];  /* "%.0f" of the largest double is 309 digits */
	int n;
	if (fabs(v) < 1e15 && v == floor(v))
		n = snprintf(buf, sizeof buf, integer ? "%lld" : "%lld.0", (long long)v);
	else
		n = snprintf(buf, sizeof buf, integer ? "%.0f" : "%.17g", v);
	return n > 0 && (size_t)n < sizeof buf ? put(g, buf, (size_t)n) : GEN_NO;
}

static enum gen_rc gen_string(struct gen *g, json_object *s)
{
	static const struct { const char *format, *example; } formats[] = {
		{ "date-time", "2024-01-01T00:00:00Z" }, { "date", "2024-01-01" },
		{ "time", "00:00:00Z" }, { "email", "user@example.com" },
		{ "uri", "https://example.com/" }, { "url", "https://example.com/" },
		{ "uuid", "00000000-0000-4000-8000-000000000000" },
	};
	const char *format = json_object_get_string(member(s, "format"));
	for (size_t i = 0; format && i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(format, formats[i].format) != 0)
			continue;
		size_t n = strlen(formats[i].example);
		if (n + 2 > room(g))
			return GEN_OVER;
		sb_json_str(g->out, formats[i].example, n);
		return GEN_OK;
	}
	long min = count_member(s, "minLength", 0);
	long max = count_member(s, "maxLength", LONG_MAX);
	if (min > max || (size_t)min > g->max_bytes)
		return GEN_NO;
	size_t len = strlen("example");
	if (len < (size_t)min)
		len = (size_t)min;
	if (len > (size_t)max)
		len = (size_t)max;
	if (len + 2 > room(g))
		return GEN_OVER;
	sb_grow(g->out, len + 2);
	char *p = g->out->buf + g->out->len;
	*p++ = '"';
	memcpy(p, "example", len < 7 ? len : 7);
	if (len > 7)
		memset(p + 7, 'x', len - 7);  /* minLength: padded, all ASCII, so bytes are characters */
	p[len] = '"';
	g->out->len += len + 2;
	g->out->buf[g->out->len] = '\0';
	return GEN_OK;
}

static enum gen_rc gen_schema(struct gen *g, json_object *s);

/* 1 when s requires key, 0 when not, -1 when the scan ran out of visits. */
static int is_required(struct gen *g, json_object *s, const char *key)
{
	json_object *req = member(s, "required");
	if (!req || !json_object_is_type(req, json_type_array))
		return 0;
	size_t n = json_object_array_length(req);
	if (!charge(g, n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *r = json_object_get_string(json_object_array_get_idx(req, i));
		if (r && strcmp(r, key) == 0)
			return 1;
	}
	return 0;
}

/* A property: its key and value, or nothing (NO, out unchanged). */
static enum gen_rc gen_property(struct gen *g, const char *key, json_object *sub, bool *first)
{
	size_t mark = g->out->len;
	enum gen_rc rc = put_key(g, key, *first);
	if (rc == GEN_OK)
		rc = gen_schema(g, sub);
	if (rc == GEN_OK)
		*first = false;
	else
		rollback(g, mark);
	return rc;
}

/* Every property (leaving out the optional ones that cannot be made), or
 * in the minimal pass the required ones only. */
static enum gen_rc gen_object(struct gen *g, json_object *s)
{
	if (put(g, "{", 1) != GEN_OK)
		return GEN_OVER;
	json_object *props = member(s, "properties");
	if (props && !json_object_is_type(props, json_type_object))
		props = NULL;
	bool first = true;
	enum gen_rc rc = GEN_OK;
	if (props && !g->minimal) {
		json_object_object_foreach(props, key, sub) {
			rc = gen_property(g, key, sub, &first);
			if (rc == GEN_NO) {
				int required = is_required(g, s, key);
				if (required != 0)
					return required < 0 ? GEN_OVER : GEN_NO;
				continue;  /* optional: left out */
			}
			if (rc != GEN_OK)
				return rc;
		}
	} else if (props) {
		json_object *req = member(s, "required");
		size_t n = req && json_object_is_type(req, json_type_array) ? json_object_array_length(req) : 0;
		for (size_t i = 0; i < n; i++) {
			const char *key = json_object_get_string(json_object_array_get_idx(req, i));
			json_object *sub;
			if (!key || !json_object_object_get_ex(props, key, &sub))
				continue;
			/* a name listed twice is one property: JSON keys must not repeat */
			if (!charge(g, i))
				return GEN_OVER;
			bool seen = false;
			for (size_t k = 0; k < i && !seen; k++) {
				const char *before = json_object_get_string(json_object_array_get_idx(req, k));
				seen = before && strcmp(before, key) == 0;
			}
			if (!seen && (rc = gen_property(g, key, sub, &first)) != GEN_OK)
				return rc;
		}
	}
	return put(g, "}", 1);
}

/* minItems items (at least one in the full pass), all alike: the first is
 * generated, the others are copies of it. */
static enum gen_rc gen_array(struct gen *g, json_object *s)
{
	long min = count_member(s, "minItems", 0);
	long max = count_member(s, "maxItems", LONG_MAX);
	if (min > max || (size_t)min > g->max_bytes / 2)  /* each item takes a byte and a comma */
		return GEN_NO;
	long n = g->minimal || min > 1 ? min : 1;
	if (n > max)
		n = max;
	if (put(g, "[", 1) != GEN_OK)
		return GEN_OVER;
	if (n > 0) {
		size_t item = g->out->len;
		enum gen_rc rc = gen_schema(g, member(s, "items"));
		if (rc == GEN_NO && min == 0)
			n = 0;  /* an item cannot be made (recursion): an empty array will do */
		else if (rc != GEN_OK)
			return rc;
		size_t item_len = g->out->len - item;
		if (n > 1) {
			size_t copies = (size_t)(n - 1);
			if (copies > room(g) / (item_len + 1))
				return GEN_OVER;
			sb_grow(g->out, copies * (item_len + 1));
			for (size_t i = 0; i < copies; i++) {
				g->out->buf[g->out->len++] = ',';
				memcpy(g->out->buf + g->out->len, g->out->buf + item, item_len);
				g->out->len += item_len;
			}
			g->out->buf[g->out->len] = '\0';
		}
	}
	return put(g, "]", 1);
}

static enum gen_rc gen_typed(struct gen *g, json_object *s, const char *type)
{
	if (strcmp(type, "object") == 0)
		return gen_object(g, s);
	if (strcmp(type, "array") == 0)
		return gen_array(g, s);
	if (strcmp(type, "string") == 0)
		return gen_string(g, s);
	if (strcmp(type, "integer") == 0)
		return gen_number(g, s, true);
	if (strcmp(type, "number") == 0)
		return gen_number(g, s, false);
	if (strcmp(type, "boolean") == 0)
		return put(g, "true", 4);
	if (strcmp(type, "null") == 0)
		return put(g, "null", 4);
	return put(g, "{}", 2);  /* a type we do not know: anything */
}

static bool is_null_type(const char *type)
{
	return type && strcmp(type, "null") == 0;
}

static bool is_null_schema(json_object *s)
{
	return is_null_type(json_object_get_string(member(s, "type")));
}

/* type: [...]: the listed types in order, "null" last (first in the
 * minimal pass, being the smallest), until one can be made. */
static enum gen_rc gen_type_list(struct gen *g, json_object *s, json_object *types)
{
	size_t n = json_object_array_length(types);
	if (!charge(g, 2 * n))
		return GEN_OVER;
	for (int round = 0; round < 2; round++) {
		bool nulls = (round == 0) == g->minimal;
		for (size_t i = 0; i < n; i++) {
			const char *t = json_object_get_string(json_object_array_get_idx(types, i));
			if (!t || is_null_type(t) != nulls)
				continue;
			size_t mark = g->out->len;
			enum gen_rc rc = gen_typed(g, s, t);
			if (rc != GEN_NO)
				return rc;
			rollback(g, mark);
		}
	}
	return GEN_NO;
}

/* anyOf/oneOf/allOf: the first branch that can be made, those that are not
 * null first (last in the minimal pass). allOf too is answered by one
 * branch: right for its common use, a one-branch wrapper of a $ref. */
static enum gen_rc gen_branches(struct gen *g, json_object *s, bool *had)
{
	static const char *const keys[] = { "anyOf", "oneOf", "allOf" };
	for (size_t k = 0; k < 3; k++) {
		json_object *list = member(s, keys[k]);
		if (!list || !json_object_is_type(list, json_type_array) || json_object_array_length(list) == 0)
			continue;
		*had = true;
		size_t n = json_object_array_length(list);
		if (!charge(g, 2 * n))
			return GEN_OVER;
		for (int round = 0; round < 2; round++) {
			bool nulls = (round == 0) == g->minimal;
			for (size_t i = 0; i < n; i++) {
				json_object *b = json_object_array_get_idx(list, i);
				if (is_null_schema(b) != nulls)
					continue;
				size_t mark = g->out->len;
				enum gen_rc rc = gen_schema(g, b);
				if (rc != GEN_NO)
					return rc;
				rollback(g, mark);
			}
		}
		return GEN_NO;
	}
	return GEN_NO;
}

static enum gen_rc gen_keywords(struct gen *g, json_object *s)
{
	json_object *v;
	if (json_object_object_get_ex(s, "const", &v))
		return put_value(g, v);  /* NULL is the JSON null */
	if ((v = member(s, "enum")) && json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) > 0)
		return put_value(g, json_object_array_get_idx(v, 0));
	if ((v = member(s, "$ref")) && json_object_is_type(v, json_type_string))
		return gen_schema(g, resolve_ref(g, json_object_get_string(v)));
	v = member(s, "type");
	if (v && json_object_is_type(v, json_type_string))
		return gen_typed(g, s, json_object_get_string(v));
	if (v && json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
		return gen_type_list(g, s, v);
	if (member(s, "properties"))
		return gen_object(g, s);
	if (member(s, "items"))
		return gen_array(g, s);
	bool had = false;
	enum gen_rc rc = gen_branches(g, s, &had);
	return had ? rc : gen_object(g, s);
}

/* How often s already is on the path being generated. */
static int times_on_path(const struct gen *g, json_object *s)
{
	int n = 0;
	for (int i = 0; i < g->depth; i++)
		n += g->path[i] == s;
	return n;
}

/* Appends a value valid for s. A schema met again inside itself ($ref
 * recursion) is made once more, then refused (NO), so that its caller
 * leaves it out where it may; out is unchanged after a NO. */
static enum gen_rc gen_schema(struct gen *g, json_object *s)
{
	if (--g->visits_left < 0)
		return GEN_OVER;
	if (s && json_object_is_type(s, json_type_boolean))
		return json_object_get_boolean(s) ? put(g, "{}", 2) : GEN_NO;
	if (!s || !json_object_is_type(s, json_type_object))
		return put(g, "{}", 2);
	if (g->depth == MOCK_SCHEMA_MAX_DEPTH || times_on_path(g, s) >= MOCK_SCHEMA_MAX_REENTRY)
		return GEN_NO;
	size_t mark = g->out->len;
	g->path[g->depth++] = s;
	enum gen_rc rc = gen_keywords(g, s);
	g->depth--;
	if (rc == GEN_NO)
		rollback(g, mark);
	return rc;
}

int mock_schema_instance(json_object *schema, size_t max_bytes, strbuf *out)
{
	struct gen g = { .root = schema, .out = out, .start = out->len, .max_bytes = max_bytes };
	for (int pass = 0; pass < 2; pass++) {
		g.minimal = pass == 1;
		g.visits_left = MOCK_SCHEMA_MAX_VISITS;
		g.depth = 0;
		if (gen_schema(&g, schema) == GEN_OK)
			return 0;
		rollback(&g, g.start);
	}
	return -1;
}
