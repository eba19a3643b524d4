/* json_guard.h: refuses bodies json-c would accept too kindly, then parses them strictly */
#ifndef OAF_JSON_GUARD_H
#define OAF_JSON_GUARD_H
#include <stddef.h>

#include <json-c/json.h>

#include "openai_error.h"

#define JSON_GUARD_MAX_DEPTH 64       /* nested arrays/objects */
#define JSON_GUARD_MAX_ARRAY 100000   /* elements in one array */
#define JSON_GUARD_MAX_KEY   256      /* bytes in one object key, decoded */

/* What OpenAI answers (param and code null) for a body that is not JSON. */
extern const char json_guard_not_json[];

/* One O(n) pass over the n bytes at p (need not be NUL-terminated), before
 * any parse: refuses invalid UTF-8 (in strings too, and lone surrogates
 * from \u escapes), nesting deeper than JSON_GUARD_MAX_DEPTH, duplicate
 * keys in one object (json-c would silently keep the last), arrays longer
 * than JSON_GUARD_MAX_ARRAY, keys longer than JSON_GUARD_MAX_KEY or holding
 * \u0000, integer literals beyond int64 (json-c would clamp them; refused
 * as OpenAI does, integer_above_max_value / integer_below_min_value with
 * the value's path as param). It does not check the grammar fully:
 * json_guard_parse() does.
 * Returns 0, or -1 with a 400 in err. */
int json_guard_check(const char *p, size_t n, oa_error *err);

/* json_guard_check(), then a strict json-c parse that must consume all n
 * bytes (trailing whitespace aside). Returns 0 and sets *out to a new
 * reference the caller releases with json_object_put(); or -1, *out NULL
 * and a 400 in err. */
int json_guard_parse(const char *p, size_t n, json_object **out, oa_error *err);

#endif
