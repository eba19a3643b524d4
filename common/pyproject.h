/* pyproject.h: reads the [project] name, version, description and license from a pyproject.toml */
#ifndef OAF_PYPROJECT_H
#define OAF_PYPROJECT_H
#include <stddef.h>

/*
 * A line-oriented reader of what openai-fcgi needs, not a TOML parser; it
 * refuses, with "<name>:LINE: ...", whatever it cannot follow soundly, so
 * that it never takes a wrong value:
 * - Table headers [a.b] and [[a.b]] of bare or quoted parts (quoted ones
 *   without escapes, so "project" is project). Only [project] itself is
 *   read; [project] twice, [project.name] and the like, and keys before the
 *   first header (project.name = "x") are refused.
 * - In [project], name, version and description are one-line basic strings
 *   (TOML's escapes) or literal strings, license one too or
 *   { text = "..." } ({ file = "..." } leaves it NULL). Any other value
 *   for them, a dotted key (license.text) or a key given twice is refused.
 * - Every other value, in any table, is skipped by following its strings
 *   (all four kinds, multi-line ones included) and its brackets across
 *   lines, so that nothing inside an array or a multi-line string can pass
 *   for a header or a key; unbalanced brackets are refused. What a skipped
 *   value holds is not checked further.
 * Lines may end in LF or CRLF.
 *
 * Every function returns 0 on success and -1 on failure, with a message in
 * err (errlen bytes, always NUL-terminated when errlen > 0).
 */

/* Each field is an owned NUL-terminated string, or NULL when absent (an
 * empty string in the file stays ""). */
struct pyproject {
	char *name;
	char *version;
	char *description;
	char *license;
};

/* Parses len bytes of text; name (e.g. the path, NULL for
 * "pyproject.toml") prefixes error messages: "<name>:12: ...". A file
 * without [project] is not an error: every field is NULL. On success the
 * caller frees *out with pyproject_free(); on failure every field is NULL.
 * Whatever *out held before is overwritten, not freed. */
int pyproject_parse(const char *name, const char *text, size_t len,
		    struct pyproject *out, char *err, size_t errlen);

/* Reads and parses the file at path. A file that cannot be read (missing
 * included) is an error: "<path>: <strerror>". */
int pyproject_load(const char *path, struct pyproject *out, char *err, size_t errlen);

/* Frees the strings and sets them to NULL. NULL is allowed. */
void pyproject_free(struct pyproject *p);

#endif
