/* pyproject.c: reads the [project] name, version, description and license from a pyproject.toml */
#include "pyproject.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strbuf.h"
#include "xalloc.h"

/* Separates the parts of a key path, so that a quoted key holding a '.'
 * ("a.b") can never pass for a dotted one (a.b). */
#define SEP "\x1f"

/* Deeper nesting than this is refused rather than risking the stack. */
#define MAX_DEPTH 64

struct parser {
	const char *p, *end;
	int line;
	const char *name;
	char *err;
	size_t errlen;
	struct pyproject *out;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Always -1, so that callers can `return fail(ps, line, "...")`. */
static int fail(struct parser *ps, int line, const char *why)
{
	set_err(ps->err, ps->errlen, "%s:%d: %s", ps->name, line, why);
	return -1;
}

static bool at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static bool looking_at(const struct parser *ps, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, s, n);
}

/* Consumes a line end (LF or CRLF) if one is next. */
static bool take_newline(struct parser *ps)
{
	if (looking_at(ps, "\r\n"))
		ps->p++;
	if (at_end(ps) || *ps->p != '\n')
		return false;
	ps->p++;
	ps->line++;
	return true;
}

static void skip_blanks(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static void skip_comment(struct parser *ps)
{
	if (at_end(ps) || *ps->p != '#')
		return;
	while (!at_end(ps) && *ps->p != '\n' && !looking_at(ps, "\r\n"))
		ps->p++;
}

/* Skips blanks, comments and line ends: the space between array items. */
static void skip_space(struct parser *ps)
{
	for (;;) {
		skip_blanks(ps);
		skip_comment(ps);
		if (!take_newline(ps))
			return;
	}
}

/* After a key/value pair or a table header: blanks, a comment, a line end. */
static int end_of_line(struct parser *ps)
{
	skip_blanks(ps);
	skip_comment(ps);
	if (at_end(ps) || take_newline(ps))
		return 0;
	return fail(ps, ps->line, "expected the end of the line");
}

static int unicode_escape(struct parser *ps, int digits, strbuf *val)
{
	unsigned long cp = 0;
	int i, h;

	for (i = 0; i < digits; i++) {
		if (at_end(ps) || (h = hex_digit(*ps->p)) < 0)
			return fail(ps, ps->line, "invalid unicode escape");
		cp = cp * 16 + (unsigned long)h;
		ps->p++;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(ps, ps->line, "invalid unicode escape");
	sb_put_utf8(val, cp);
	return 0;
}

/* ps->p is just past a backslash inside a basic string. */
static int escape(struct parser *ps, strbuf *val)
{
	static const char from[] = "btnfr\"\\e";
	static const char to[] = "\b\t\n\f\r\"\\\x1b";
	const char *hit;
	char c;

	if (at_end(ps))
		return fail(ps, ps->line, "unterminated string");
	c = *ps->p++;
	if (c == 'u')
		return unicode_escape(ps, 4, val);
	if (c == 'U')
		return unicode_escape(ps, 8, val);
	hit = c ? strchr(from, c) : NULL;
	if (!hit)
		return fail(ps, ps->line, "invalid escape in string");
	sb_putc(val, to[hit - from]);
	return 0;
}

/* A line-ending backslash in a """string""" swallows the line end and all
 * blanks and line ends after it. Returns false when the backslash is an
 * ordinary escape instead. */
static bool line_ending_backslash(struct parser *ps)
{
	const char *q = ps->p;

	while (q < ps->end && (*q == ' ' || *q == '\t'))
		q++;
	if (q == ps->end || (*q != '\n' && *q != '\r'))
		return false;
	ps->p = q;
	for (;;) {
		skip_blanks(ps);
		if (!take_newline(ps))
			return true;
	}
}

/* Reads the closing delimiter of a multi-line string: up to two more
 * quotes right before it belong to the content (""""a"""" is "a"). */
static void close_multiline(struct parser *ps, char quote, strbuf *val)
{
	int extra = 0;

	ps->p += 3;
	while (extra < 2 && !at_end(ps) && *ps->p == quote) {
		sb_putc(val, quote);
		ps->p++;
		extra++;
	}
}

/* ps->p is at the opening """ or '''. */
static int multiline_string(struct parser *ps, strbuf *val)
{
	char quote = *ps->p;
	const char *delim = quote == '"' ? "\"\"\"" : "'''";
	int start = ps->line;

	ps->p += 3;
	take_newline(ps);       /* a line end right after the opening is dropped */
	while (!at_end(ps)) {
		if (looking_at(ps, delim)) {
			close_multiline(ps, quote, val);
			return 0;
		}
		if (take_newline(ps)) {
			sb_putc(val, '\n');
		} else if (quote == '"' && *ps->p == '\\') {
			ps->p++;
			if (!line_ending_backslash(ps) && escape(ps, val) < 0)
				return -1;
		} else {
			sb_putc(val, *ps->p++);
		}
	}
	return fail(ps, start, "unterminated multi-line string");
}

/* ps->p is at the opening quote of a one-line "basic" or 'literal' string. */
static int oneline_string(struct parser *ps, strbuf *val)
{
	char quote = *ps->p++;

	while (!at_end(ps) && *ps->p != quote && *ps->p != '\n') {
		if (quote == '"' && *ps->p == '\\') {
			ps->p++;
			if (escape(ps, val) < 0)
				return -1;
		} else {
			sb_putc(val, *ps->p++);
		}
	}
	if (at_end(ps) || *ps->p != quote)
		return fail(ps, ps->line, "unterminated string");
	ps->p++;
	return 0;
}

static int string(struct parser *ps, strbuf *val)
{
	if (looking_at(ps, "\"\"\"") || looking_at(ps, "'''"))
		return multiline_string(ps, val);
	return oneline_string(ps, val);
}

static bool is_bare_key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Appends a (possibly dotted) key to path, each part after SEP when path
 * is not empty. */
static int key(struct parser *ps, strbuf *path)
{
	for (;;) {
		const char *start;

		skip_blanks(ps);
		if (path->len)
			sb_puts(path, SEP);
		if (!at_end(ps) && (*ps->p == '"' || *ps->p == '\'')) {
			if (oneline_string(ps, path) < 0)
				return -1;
		} else {
			start = ps->p;
			while (!at_end(ps) && is_bare_key_char(*ps->p))
				ps->p++;
			if (ps->p == start)
				return fail(ps, ps->line, "expected a key");
			sb_append(path, start, ps->p - start);
		}
		skip_blanks(ps);
		if (at_end(ps) || *ps->p != '.')
			return 0;
		ps->p++;
	}
}

/* Keeps a string found at one of the paths we want. */
static void capture(struct parser *ps, const strbuf *path, const strbuf *val)
{
	static const struct {
		const char *path;
		size_t field;
	} wanted[] = {
		{ "project" SEP "name", offsetof(struct pyproject, name) },
		{ "project" SEP "version", offsetof(struct pyproject, version) },
		{ "project" SEP "description", offsetof(struct pyproject, description) },
		{ "project" SEP "license", offsetof(struct pyproject, license) },
		{ "project" SEP "license" SEP "text", offsetof(struct pyproject, license) },
	};
	size_t i;

	for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		if (!strcmp(sb_str(path), wanted[i].path)) {
			char **field = (char **)((char *)ps->out + wanted[i].field);

			free(*field);
			*field = xstrndup(sb_str(val), val->len);
			return;
		}
	}
}

static int value(struct parser *ps, const strbuf *path, int depth);

static int array(struct parser *ps, int depth)
{
	int start = ps->line;

	ps->p++;
	for (;;) {
		skip_space(ps);
		if (!at_end(ps) && *ps->p == ']')
			break;
		if (value(ps, NULL, depth + 1) < 0)
			return -1;
		skip_space(ps);
		if (!at_end(ps) && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (at_end(ps))
			return fail(ps, start, "unterminated array");
		if (*ps->p != ']')
			return fail(ps, ps->line, "expected ',' or ']' in array");
		break;
	}
	ps->p++;
	return 0;
}

/* {k = v, ...}; keys extend path (NULL: nothing inside is kept). */
static int inline_table(struct parser *ps, const strbuf *path, int depth)
{
	strbuf sub = STRBUF_INIT;
	int r = -1;

	ps->p++;
	skip_space(ps);
	if (!at_end(ps) && *ps->p == '}')
		goto done;
	for (;;) {
		sb_reset(&sub);
		if (path)
			sb_append(&sub, path->buf, path->len);
		if (key(ps, &sub) < 0)
			goto out;
		if (at_end(ps) || *ps->p != '=') {
			fail(ps, ps->line, "expected '=' after the key");
			goto out;
		}
		ps->p++;
		skip_blanks(ps);
		if (value(ps, path ? &sub : NULL, depth + 1) < 0)
			goto out;
		skip_space(ps);
		if (!at_end(ps) && *ps->p == ',') {
			ps->p++;
			skip_space(ps);
			continue;
		}
		if (at_end(ps) || *ps->p != '}') {
			fail(ps, ps->line, "expected ',' or '}' in inline table");
			goto out;
		}
		break;
	}
done:
	ps->p++;
	r = 0;
out:
	sb_free(&sub);
	return r;
}

static void skip_token(struct parser *ps)
{
	while (!at_end(ps) && *ps->p && !strchr(" \t,]}#\r\n", *ps->p))
		ps->p++;
}

/* Numbers, booleans, dates: skipped up to what ends a value. A date may
 * be followed by a blank and a time (1979-05-27 07:32:00). */
static int scalar(struct parser *ps)
{
	const char *start = ps->p;

	skip_token(ps);
	if (ps->p == start)
		return fail(ps, ps->line, "expected a value");
	if (ps->p - start == 10 && start[4] == '-' && start[7] == '-' &&
	    ps->end - ps->p > 1 && ps->p[0] == ' ' && ps->p[1] >= '0' && ps->p[1] <= '9') {
		ps->p++;
		skip_token(ps);
	}
	return 0;
}

/* Reads one value; path is where it sits (NULL inside arrays). */
static int value(struct parser *ps, const strbuf *path, int depth)
{
	strbuf val = STRBUF_INIT;
	int r;

	if (depth > MAX_DEPTH)
		return fail(ps, ps->line, "nesting too deep");
	if (at_end(ps))
		return fail(ps, ps->line, "expected a value");
	switch (*ps->p) {
	case '"':
	case '\'':
		r = string(ps, &val);
		if (r == 0 && path)
			capture(ps, path, &val);
		sb_free(&val);
		return r;
	case '[':
		return array(ps, depth);
	case '{':
		return inline_table(ps, path, depth);
	default:
		return scalar(ps);
	}
}

/* [a.b] or [[a.b]]; an array table never names [project] itself. */
static int table_header(struct parser *ps, strbuf *table, bool *is_array)
{
	*is_array = looking_at(ps, "[[");
	ps->p += *is_array ? 2 : 1;
	sb_reset(table);
	if (key(ps, table) < 0)
		return -1;
	if (!looking_at(ps, *is_array ? "]]" : "]"))
		return fail(ps, ps->line, "expected ']' after the table name");
	ps->p += *is_array ? 2 : 1;
	return end_of_line(ps);
}

static int document(struct parser *ps)
{
	strbuf table = STRBUF_INIT, path = STRBUF_INIT;
	bool array_table = false;
	int r = 0;

	while (r == 0) {
		skip_space(ps);
		if (at_end(ps))
			break;
		if (*ps->p == '[') {
			r = table_header(ps, &table, &array_table);
			continue;
		}
		sb_reset(&path);
		sb_append(&path, table.buf, table.len);
		r = key(ps, &path);
		if (r == 0 && (at_end(ps) || *ps->p != '='))
			r = fail(ps, ps->line, "expected '=' after the key");
		if (r == 0) {
			ps->p++;
			skip_blanks(ps);
			r = value(ps, array_table ? NULL : &path, 0);
		}
		if (r == 0)
			r = end_of_line(ps);
	}
	sb_free(&table);
	sb_free(&path);
	return r;
}

int pyproject_parse(const char *name, const char *text, size_t len,
		    struct pyproject *out, char *err, size_t errlen)
{
	struct parser ps = {
		.p = text, .end = text + len, .line = 1,
		.name = name ? name : "pyproject.toml",
		.err = err, .errlen = errlen, .out = out,
	};

	memset(out, 0, sizeof(*out));
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		ps.p += 3;
	if (document(&ps) < 0) {
		pyproject_free(out);
		return -1;
	}
	return 0;
}

static int read_file(const char *path, strbuf *buf, char *err, size_t errlen)
{
	if (sb_read_file(buf, path) == 0)
		return 0;
	set_err(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

int pyproject_load(const char *path, struct pyproject *out, char *err, size_t errlen)
{
	strbuf buf = STRBUF_INIT;
	int r;

	memset(out, 0, sizeof(*out));
	r = read_file(path, &buf, err, errlen);
	if (r == 0)
		r = pyproject_parse(path, sb_str(&buf), buf.len, out, err, errlen);
	sb_free(&buf);
	return r;
}

void pyproject_free(struct pyproject *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->version);
	free(p->description);
	free(p->license);
	memset(p, 0, sizeof(*p));
}
