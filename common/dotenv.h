/* dotenv.h: reads a .env file (KEY=VALUE lines) the way python-dotenv does in the common cases */
#ifndef OAF_DOTENV_H
#define OAF_DOTENV_H
#include <stddef.h>

/*
 * The syntax accepted, one entry per line:
 *   blank lines and lines starting with '#' are ignored; a UTF-8 BOM at the
 *   very start is skipped; lines may end in LF or CRLF, the last one may
 *   have no line end;
 *   [export ]KEY = VALUE, the key matching [A-Za-z_][A-Za-z0-9_.]*, with
 *   spaces or tabs allowed around '=';
 *   VALUE unquoted: leading and trailing blanks trimmed, and it ends where a
 *     blank is followed by '#' (an inline comment), so "a#b" keeps its '#';
 *   VALUE 'single quoted': taken literally;
 *   VALUE "double quoted": \n \t \r \" \\ and \' are decoded, any other
 *     backslash is kept as is; a quoted value stays on one line;
 *   after a quoted value only blanks and a '#' comment may follow;
 *   KEY= and KEY="" give the empty string.
 * A key given twice keeps its first position and its last value.
 *
 * Every function returns 0 on success and -1 on failure, with a message in
 * err (errlen bytes, always NUL-terminated when errlen > 0). Messages name
 * the file and line but never a value, which may be a secret.
 */

struct dotenv_entry {
	char *key;
	char *value;
	int line;        /* 1-based line the value came from */
};

/* An empty struct dotenv is { NULL, 0 }. */
struct dotenv {
	struct dotenv_entry *v;
	size_t n;
};

/* Parses len bytes of text; name (e.g. the path, NULL for ".env") only
 * prefixes error messages: "<name>:7: ...". On success *out holds the
 * entries and the caller frees them with dotenv_free(); on failure *out is
 * left empty. *out must not hold entries on entry (they would leak). */
int dotenv_parse(const char *name, const char *text, size_t len,
		 struct dotenv *out, char *err, size_t errlen);

/* Reads and parses the file at path. A file that does not exist is not an
 * error: it returns 0 with an empty *out, since a .env is optional. A file
 * that exists but cannot be read is an error naming path and the reason. */
int dotenv_load(const char *path, struct dotenv *out, char *err, size_t errlen);

/* The entry for key, or NULL; borrowed from d, valid until dotenv_free(). */
const struct dotenv_entry *dotenv_get(const struct dotenv *d, const char *key);

/* Frees every entry; d is empty afterwards. NULL is allowed. */
void dotenv_free(struct dotenv *d);

#endif
