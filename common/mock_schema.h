/* mock_schema.h: a small JSON value valid for a JSON Schema, within bounds, for the mock's tool arguments and json_schema answers */
#ifndef OAF_MOCK_SCHEMA_H
#define OAF_MOCK_SCHEMA_H
#include <stddef.h>

#include <json-c/json.h>

#include "strbuf.h"

/* Every bound a schema's instance lives within, whatever the schema says:
 * a client's 2 KB schema can otherwise describe an instance of gigabytes
 * ({"$ref":"#"} under many properties, minItems 1e300). */
#define MOCK_SCHEMA_MAX_BYTES (64 * 1024)  /* the instance itself */
#define MOCK_SCHEMA_MAX_DEPTH 64           /* schemas nested on one path ($ref and anyOf steps too) */
#define MOCK_SCHEMA_MAX_VISITS 200000      /* schemas visited per attempt: bounds the time */
#define MOCK_SCHEMA_MAX_REENTRY 2          /* times one schema may be on one path: recursion shown once */

/* Appends to out a JSON value valid for schema, at most max_bytes long.
 * A NULL or empty schema allows anything; {} is given. "$ref" is resolved
 * against schema itself (local "#/..." pointers; one that leads nowhere
 * allows anything). The value has every property the schema lists, when
 * that fits; otherwise it is retried with only the required properties and
 * the fewest items, so that optional recursion ends small.
 *
 * Returns 0; or -1 when no value fits the bounds above (recursion that is
 * required, sizes like minItems/minLength beyond max_bytes, bounds no
 * number satisfies), out then unchanged. schema is borrowed; out is the
 * caller's. */
int mock_schema_instance(json_object *schema, size_t max_bytes, strbuf *out);

#endif
