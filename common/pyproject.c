/* pyproject.c: reads the [project] name, version, description and license from a pyproject.toml */
#include "pyproject.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

/* Deeper bracket nesting in a skipped value is refused rather than tracked. */
#define MAX_DEPTH 64

static const char *const wanted[] = { "name", "version", "description", "license" };
enum { LICENSE = 3 };

struct reader {
	const char *p, *end, *name;
	int line;
	char *err;
	size_t errlen;
	bool in_table, in_project, project_seen;
	unsigned fields_seen;   /* bit i: wanted[i] was already read */
	struct pyproject *out;
};

/* The first two parts of a dotted key (a quoted part without its quotes)
 * and how many parts it had. */
struct key {
	const char *part[2];
	size_t len[2];
	int nparts;
};

/* Always -1, so that callers can `return fail(r, line, ...)`. */
static int __attribute__((format(printf, 3, 4)))
fail(struct reader *r, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!r->err || r->errlen == 0)
		return -1;
	n = snprintf(r->err, r->errlen, "%s:%d: ", r->name, line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < r->errlen)
		vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* The next byte, or '\0' at the end (a NUL byte in the text is refused
 * wherever it matters, as nothing expects it). */
static char peek(const struct reader *r)
{
	return r->p < r->end ? *r->p : '\0';
}

static bool looking_at(const struct reader *r, const char *s)
{
	return (size_t)(r->end - r->p) >= strlen(s) && !memcmp(r->p, s, strlen(s));
}

/* A CR counts as a blank, so that CRLF files read as LF ones. */
static void skip_blanks(struct reader *r)
{
	while (peek(r) == ' ' || peek(r) == '\t' || peek(r) == '\r')
		r->p++;
}

/* After a key/value pair or a table header: blanks, a comment, a line end. */
static int end_of_line(struct reader *r)
{
	skip_blanks(r);
	if (peek(r) == '#')
		while (r->p < r->end && *r->p != '\n')
			r->p++;
	if (r->p == r->end)
		return 0;
	if (*r->p != '\n')
		return fail(r, r->line, "expected the end of the line");
	r->p++;
	r->line++;
	return 0;
}

/* One escape of a basic string; r->p is at the byte after the backslash. */
static int escape(struct reader *r, strbuf *val)
{
	static const char from[] = "btnfr\"\\e", to[] = "\b\t\n\f\r\"\\\x1b";
	char c = peek(r);
	const char *hit = c ? strchr(from, c) : NULL;
	int digits = c == 'u' ? 4 : c == 'U' ? 8 : 0, h;
	unsigned long cp = 0;

	if (!hit && !digits)
		return fail(r, r->line, "invalid escape in string");
	r->p++;
	if (hit) {
		sb_putc(val, to[hit - from]);
		return 0;
	}
	while (digits-- > 0 && (h = hex_digit(peek(r))) >= 0) {
		cp = cp * 16 + (unsigned long)h;
		r->p++;
	}
	if (digits >= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(r, r->line, "invalid unicode escape");
	sb_put_utf8(val, cp);
	return 0;
}

/* Reads the string at r->p, of any of TOML's four kinds, into val, or skips
 * it when val is NULL; only skipped ones may be multi-line. A backslash in a
 * basic string always escapes the byte after it, so \" and \\ can never
 * pass for the closing quote. */
static int string(struct reader *r, strbuf *val)
{
	char quote = *r->p;
	const char *delim = quote == '"' ? "\"\"\"" : "'''";
	bool multi = looking_at(r, delim);
	int start = r->line, extra;

	r->p += multi ? 3 : 1;
	while (multi ? !looking_at(r, delim) : peek(r) != quote) {
		if (r->p == r->end || (!multi && *r->p == '\n'))
			return fail(r, start, multi ? "unterminated multi-line string" : "unterminated string");
		if (*r->p == '\\' && quote == '"' && val) {
			r->p++;
			if (escape(r, val) < 0)
				return -1;
			continue;
		}
		if (*r->p == '\\' && quote == '"' && r->p + 1 < r->end && (multi || r->p[1] != '\n'))
			r->p++;
		if (val)
			sb_putc(val, *r->p);
		if (*r->p++ == '\n')
			r->line++;
	}
	r->p += multi ? 3 : 1;
	/* up to two more quotes belong to a multi-line string (""""a"""" is "a") */
	for (extra = 0; multi && extra < 2 && peek(r) == quote; extra++)
		r->p++;
	return 0;
}

static bool in_key_part(const struct reader *r, char quote)
{
	char c = peek(r);

	if (quote)
		return r->p < r->end && c != quote && c != '\n' && !(quote == '"' && c == '\\');
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Reads a dotted key of bare or quoted parts. Escapes in quoted parts are
 * refused, so that a part's text is exactly its name ("proj\u0065ct"). */
static int read_key(struct reader *r, struct key *k)
{
	for (k->nparts = 0;; r->p++) {
		const char *s;
		char quote;

		skip_blanks(r);
		quote = peek(r) == '"' || peek(r) == '\'' ? *r->p++ : '\0';
		for (s = r->p; in_key_part(r, quote); r->p++)
			;
		if (k->nparts < 2) {
			k->part[k->nparts] = s;
			k->len[k->nparts] = (size_t)(r->p - s);
		}
		if (quote ? peek(r) != quote : r->p == s)
			return fail(r, r->line, quote ? "a quoted key must be one line without escapes"
					       : "expected a key");
		r->p += quote ? 1 : 0;
		k->nparts++;
		skip_blanks(r);
		if (peek(r) != '.')
			return 0;
	}
}

static bool part_is(const struct key *k, int i, const char *name)
{
	return k->len[i] == strlen(name) && !memcmp(k->part[i], name, k->len[i]);
}

/* The index in wanted[] of part i of k, or -1. */
static int wanted_index(const struct key *k, int i)
{
	int w = LICENSE;

	while (w >= 0 && !part_is(k, i, wanted[w]))
		w--;
	return w;
}

/* [a.b] or [[a.b]]. Only [project] itself is read; [project.name] and the
 * like would set a field another way, so they are refused. */
static int table_header(struct reader *r)
{
	bool array = looking_at(r, "[["), project;
	int line = r->line, i;
	struct key k;

	r->p += array ? 2 : 1;
	if (read_key(r, &k) < 0)
		return -1;
	if (!looking_at(r, array ? "]]" : "]"))
		return fail(r, line, "expected ']' after the table name");
	r->p += array ? 2 : 1;
	project = part_is(&k, 0, "project");
	if (project && k.nparts == 2 && (i = wanted_index(&k, 1)) >= 0)
		return fail(r, line, "table project.%s is not understood", wanted[i]);
	project = project && k.nparts == 1 && !array;
	if (project && r->project_seen)
		return fail(r, line, "[project] appears twice");
	r->project_seen |= project;
	r->in_project = project;
	r->in_table = true;
	return end_of_line(r);
}

/* Skips a value that is not kept, following its strings and brackets over
 * as many lines as they span, so that nothing inside an array or a
 * multi-line string can pass for a table header or a key. */
static int skip_value(struct reader *r)
{
	char closers[MAX_DEPTH], c;
	const char *first = r->p;
	int depth = 0, start = r->line;

	while (r->p < r->end && (((c = *r->p) != '\n' && c != '#') || depth > 0)) {
		if (c == '#') {
			while (r->p < r->end && *r->p != '\n')
				r->p++;
		} else if (c == '"' || c == '\'') {
			if (string(r, NULL) < 0)
				return -1;
		} else if (c == '[' || c == '{') {
			if (depth == MAX_DEPTH)
				return fail(r, r->line, "nesting too deep");
			closers[depth++] = c == '[' ? ']' : '}';
			r->p++;
		} else if (c == ']' || c == '}') {
			if (depth == 0 || closers[--depth] != c)
				return fail(r, r->line, "unexpected '%c'", c);
			r->p++;
		} else if (*r->p++ == '\n') {
			r->line++;
		}
	}
	if (depth > 0)
		return fail(r, start, "unterminated array");
	if (r->p == first)
		return fail(r, r->line, "expected a value");
	return end_of_line(r);
}

/* Reads wanted[i]: a one-line string or, for license, { text = "..." }
 * (kept) or { file = "..." } (a file is not a license name: stays NULL). */
static int read_field(struct reader *r, int i)
{
	char **fields[] = { &r->out->name, &r->out->version, &r->out->description, &r->out->license };
	bool table = i == LICENSE && peek(r) == '{', keep = true;
	strbuf val = STRBUF_INIT;
	struct key k;
	int rc = 0;

	if (table) {
		r->p++;
		rc = read_key(r, &k);
		keep = part_is(&k, 0, "text");
		if (rc == 0 && (k.nparts != 1 || !(keep || part_is(&k, 0, "file")) || peek(r) != '='))
			rc = fail(r, r->line, "license: only { text = \"...\" } or { file = \"...\" } is understood");
		r->p += rc == 0 ? 1 : 0;
		skip_blanks(r);
	}
	if (rc == 0 && peek(r) != '"' && peek(r) != '\'')
		rc = fail(r, r->line, "%s: expected a one-line string", wanted[i]);
	else if (rc == 0 && (looking_at(r, "\"\"\"") || looking_at(r, "\'\'\'")))
		rc = fail(r, r->line, "%s: multi-line strings are not understood", wanted[i]);
	else if (rc == 0)
		rc = string(r, &val);
	skip_blanks(r);
	if (rc == 0 && table && peek(r) != '}')
		rc = fail(r, r->line, "license: expected '}' after the string");
	r->p += rc == 0 && table ? 1 : 0;
	if (rc == 0 && keep)
		*fields[i] = xstrndup(sb_str(&val), val.len);
	sb_free(&val);
	return rc;
}

static int key_value(struct reader *r)
{
	struct key k;
	int i;

	if (read_key(r, &k) < 0)
		return -1;
	if (peek(r) != '=')
		return fail(r, r->line, "expected '=' after the key");
	r->p++;
	skip_blanks(r);
	i = r->in_project ? wanted_index(&k, 0) : -1;
	if (i < 0)
		return skip_value(r);
	if (k.nparts > 1)
		return fail(r, r->line, "dotted key %s.%.*s is not understood", wanted[i],
			    (int)k.len[1], k.part[1]);
	if (r->fields_seen & (1u << i))
		return fail(r, r->line, "%s appears twice in [project]", wanted[i]);
	r->fields_seen |= 1u << i;
	return read_field(r, i) < 0 ? -1 : end_of_line(r);
}

int pyproject_parse(const char *name, const char *text, size_t len,
		    struct pyproject *out, char *err, size_t errlen)
{
	struct reader r = {
		.p = text, .end = text + len, .line = 1, .name = name ? name : "pyproject.toml",
		.err = err, .errlen = errlen, .out = out,
	};
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (looking_at(&r, "\xef\xbb\xbf"))
		r.p += 3;
	while (rc == 0 && r.p < r.end) {
		skip_blanks(&r);
		if (peek(&r) == '[')
			rc = table_header(&r);
		else if (r.p == r.end || *r.p == '\n' || *r.p == '#')
			rc = end_of_line(&r);
		else if (!r.in_table) /* project.name = "x" would set the name */
			rc = fail(&r, r.line, "keys before the first table are not understood");
		else
			rc = key_value(&r);
	}
	if (rc < 0)
		pyproject_free(out);
	return rc;
}

int pyproject_load(const char *path, struct pyproject *out, char *err, size_t errlen)
{
	strbuf buf = STRBUF_INIT;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (sb_read_file(&buf, path) == 0)
		rc = pyproject_parse(path, sb_str(&buf), buf.len, out, err, errlen);
	else if (err && errlen)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	sb_free(&buf);
	return rc;
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
