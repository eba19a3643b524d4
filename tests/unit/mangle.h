/* mangle.h: test helper: a JSON body with each of its values replaced in turn, for validators' robustness tests */
#ifndef OAF_TEST_MANGLE_H
#define OAF_TEST_MANGLE_H
#include <stdbool.h>
#include <string.h>

#include "strbuf.h"

/* Calls fn(ctx, mangled, len) for every value of body (every member after a
 * ':') replaced by null, 7, {}, [] and "" in turn. */
static inline void mangle_each_value(const char *body, void (*fn)(void *ctx, const char *b, size_t len), void *ctx)
{
	static const char *const values[] = { "null", "7", "{}", "[]", "\"\"" };
	size_t n = strlen(body);
	for (size_t i = 0; i < n; i++) {
		if (body[i] != ':')
			continue;
		/* the value after this colon: up to the next , } or ] at its depth */
		size_t start = i + 1, end = start;
		int depth = 0;
		bool in_str = false;
		for (; end < n; end++) {
			char ch = body[end];
			if (in_str) {
				if (ch == '\\')
					end++;
				else if (ch == '"')
					in_str = false;
			} else if (ch == '"') {
				in_str = true;
			} else if (ch == '{' || ch == '[') {
				depth++;
			} else if (ch == '}' || ch == ']' || ch == ',') {
				if (depth == 0)
					break;
				if (ch != ',')
					depth--;
			}
		}
		for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
			strbuf b = STRBUF_INIT;
			sb_append(&b, body, start);
			sb_puts(&b, values[v]);
			sb_append(&b, body + end, n - end);
			fn(ctx, b.buf, b.len);
			sb_free(&b);
		}
	}
}

#endif
