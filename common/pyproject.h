/* pyproject.h: reads the [project] name, version, description and license from a pyproject.toml */
#ifndef OAF_PYPROJECT_H
#define OAF_PYPROJECT_H
#include <stddef.h>

/*
 * A TOML subset reader, enough for real pyproject.toml files: tables
 * [a] and [a.b], array tables [[a]], bare, quoted and dotted keys, basic
 * and literal strings (single and multi-line, with TOML escapes), arrays
 * (multi-line, nested), inline tables, other scalars (numbers, booleans,
 * dates) and comments. Only string values at project.name,
 * project.version, project.description and project.license (or
 * project.license.text, as in license = {text = "MIT"}) are kept; the rest
 * is read only to be skipped correctly. Lines may end in LF or CRLF.
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
