/* fuzz_json_span.c: libFuzzer harness: what js_members accepts a strict json-c parse accepts, and a splice stays JSON */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_span.h"
#include "strbuf.h"

#define MAX_MEMBERS 64

/* A strict json-c parse of the n bytes at p: an object, and nothing after
 * it but whitespace? */
static bool strict_object(const char *p, size_t n)
{
	json_tokener *tok = json_tokener_new_ex(JS_MAX_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, p, (int)n);
	size_t end = json_tokener_get_parse_end(tok);
	while (o && end < n && strchr(" \t\r\n", p[end]) && p[end])
		end++;
	bool ok = o && json_object_is_type(o, json_type_object) && end == n;
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	/* json-c stops at a NUL: give it what js_members sees only without one */
	const char *p = (const char *)data;
	if (memchr(p, '\0', size))
		return 0;
	struct js_member ms[MAX_MEMBERS];
	int n = js_members(p, size, ms, MAX_MEMBERS);
	if (n < 0)
		return 0;
	if (!strict_object(p, size))
		abort();  /* accepted what a strict parser refuses */
	for (int i = 0; i < n; i++)
		if (ms[i].key < p || ms[i].val < p || ms[i].val + ms[i].val_len > p + size || ms[i].val_len == 0)
			abort();  /* a span outside the text */
	strbuf out = STRBUF_INIT;
	js_replace_value(p, size, ms, n, "model", "fuzz \"model\"", &out);
	if (!strict_object(out.buf ? out.buf : "", out.len))
		abort();  /* the splice broke the JSON */
	sb_free(&out);
	return 0;
}
