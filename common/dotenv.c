/* dotenv.c: reads a .env file (KEY=VALUE lines) the way python-dotenv does in the common cases */
#include "dotenv.h"

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

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_key_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_key_char(char c)
{
	return is_key_start(c) || (c >= '0' && c <= '9') || c == '.';
}

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

/* One line being parsed: [p, end), without its line end. */
struct line {
	const char *p;
	const char *end;
};

/* What is left of the line; never negative, which GCC cannot see alone. */
static size_t rest(const struct line *l)
{
	return l->end > l->p ? (size_t)(l->end - l->p) : 0;
}

static void skip_blanks(struct line *l)
{
	while (l->p < l->end && is_blank(*l->p))
		l->p++;
}

/* After a closing quote only blanks and a comment may follow. */
static const char *check_tail(struct line *l)
{
	skip_blanks(l);
	if (l->p < l->end && *l->p != '#')
		return "unexpected text after the closing quote";
	return NULL;
}

static const char *single_quoted(struct line *l, strbuf *val)
{
	const char *close = memchr(l->p, '\'', rest(l));

	if (!close)
		return "unterminated single quote";
	sb_append(val, l->p, close - l->p);
	l->p = close + 1;
	return check_tail(l);
}

static char unescape(char c)
{
	switch (c) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case '"': return '"';
	case '\\': return '\\';
	case '\'': return '\'';
	default: return 0;
	}
}

static const char *double_quoted(struct line *l, strbuf *val)
{
	while (l->p < l->end && *l->p != '"') {
		char c = *l->p++;
		char u;

		if (c == '\\' && l->p < l->end && (u = unescape(*l->p))) {
			sb_putc(val, u);
			l->p++;
		} else {
			sb_putc(val, c);
		}
	}
	if (l->p == l->end)
		return "unterminated double quote";
	l->p++;
	return check_tail(l);
}

/* The value runs to the line end or to a '#' that follows a blank (the
 * blanks after '=' count, so "KEY= # note" is empty), then is trimmed. */
static void unquoted(struct line *l, strbuf *val)
{
	const char *start = l->p, *stop = l->end;
	const char *q;

	/* start[-1] is '=' or a blank, so q[-1] is always inside the line */
	for (q = start; q < l->end; q++) {
		if (*q == '#' && is_blank(q[-1])) {
			stop = q;
			break;
		}
	}
	while (start < stop && is_blank(*start))
		start++;
	while (stop > start && is_blank(stop[-1]))
		stop--;
	sb_append(val, start, stop - start);
}

/* Parses one line. Returns 1 with *key and val filled, 0 for a blank or
 * comment line, -1 with *why set (a static string without the value). */
static int parse_line(struct line *l, char **key, strbuf *val, const char **why)
{
	const char *k;

	if (memchr(l->p, '\0', rest(l))) {
		*why = "NUL byte in line";
		return -1;
	}
	skip_blanks(l);
	if (l->p == l->end || *l->p == '#')
		return 0;
	if (rest(l) > 7 && !memcmp(l->p, "export", 6) && is_blank(l->p[6])) {
		l->p += 6;
		skip_blanks(l);
	}
	k = l->p;
	if (l->p < l->end && is_key_start(*l->p))
		while (l->p < l->end && is_key_char(*l->p))
			l->p++;
	if (l->p == k) {
		*why = "expected a key ([A-Za-z_][A-Za-z0-9_.]*)";
		return -1;
	}
	*key = xstrndup(k, l->p - k);
	skip_blanks(l);
	if (l->p == l->end || *l->p != '=') {
		*why = memchr(l->p, '=', rest(l)) ? "invalid character in the key"
							: "missing '=' after the key";
		goto fail;
	}
	l->p++;
	skip_blanks(l);
	*why = NULL;
	if (l->p < l->end && *l->p == '\'') {
		l->p++;
		*why = single_quoted(l, val);
	} else if (l->p < l->end && *l->p == '"') {
		l->p++;
		*why = double_quoted(l, val);
	} else {
		unquoted(l, val);
	}
	if (*why)
		goto fail;
	return 1;
fail:
	free(*key);
	*key = NULL;
	return -1;
}

/* Takes ownership of key and value; a repeated key keeps its slot. */
static void put(struct dotenv *d, char *key, char *value, int line)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (!strcmp(d->v[i].key, key)) {
			free(key);
			free(d->v[i].value);
			d->v[i].value = value;
			d->v[i].line = line;
			return;
		}
	}
	d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
	d->v[d->n].key = key;
	d->v[d->n].value = value;
	d->v[d->n].line = line;
	d->n++;
}

int dotenv_parse(const char *name, const char *text, size_t len,
		 struct dotenv *out, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	strbuf val = STRBUF_INIT;
	int lineno = 0;

	out->v = NULL;
	out->n = 0;
	if (!name)
		name = ".env";
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		struct line l = { p, nl ? nl : end };
		const char *why = NULL;
		char *key = NULL;
		int r;

		lineno++;
		p = nl ? nl + 1 : end;
		if (l.end > l.p && l.end[-1] == '\r')
			l.end--;
		sb_reset(&val);
		r = parse_line(&l, &key, &val, &why);
		if (r < 0) {
			set_err(err, errlen, "%s:%d: %s", name, lineno, why);
			sb_free(&val);
			dotenv_free(out);
			return -1;
		}
		if (r > 0)
			put(out, key, xstrndup(sb_str(&val), val.len), lineno);
	}
	sb_free(&val);
	return 0;
}

/* Reads the whole file into buf. Returns 0, 1 when it does not exist, or
 * -1 with err set. */
/* Reads path into buf: 0, 1 when the file does not exist, or -1 with err. */
static int read_file(const char *path, strbuf *buf, char *err, size_t errlen)
{
	if (sb_read_file(buf, path) == 0)
		return 0;
	if (errno == ENOENT)
		return 1;
	set_err(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

int dotenv_load(const char *path, struct dotenv *out, char *err, size_t errlen)
{
	strbuf buf = STRBUF_INIT;
	int r;

	out->v = NULL;
	out->n = 0;
	r = read_file(path, &buf, err, errlen);
	if (r == 0)
		r = dotenv_parse(path, sb_str(&buf), buf.len, out, err, errlen);
	else if (r == 1)
		r = 0;
	sb_free(&buf);
	return r;
}

const struct dotenv_entry *dotenv_get(const struct dotenv *d, const char *key)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].key, key))
			return &d->v[i];
	return NULL;
}

void dotenv_free(struct dotenv *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->v[i].key);
		free(d->v[i].value);
	}
	free(d->v);
	d->v = NULL;
	d->n = 0;
}
