/* json_span.c: an object's top-level members found in its bytes, the whole strictly checked, for relaying JSON without a tree */
#include "json_span.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct scan {
	const char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes a string's plain run stops at: the quote, the backslash and the
 * control bytes, which are not allowed raw. */
static const unsigned char string_stop[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/* The first byte at or after q that ends a string's plain run, or end.
 * Sixteen bytes a step where SSE2 is (every x86-64): an answer's bytes are
 * mostly string bodies, and byte by byte they were most of what checking
 * one cost; the table takes the last few. */
static const unsigned char *plain_run(const unsigned char *q, const unsigned char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
	while (end - q >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
		/* max(v, 0x1f) == 0x1f: v is a control byte (unsigned, so not >= 0x80) */
		__m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
					    _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
		int mask = _mm_movemask_epi8(stop);
		if (mask)
			return q + __builtin_ctz((unsigned)mask);
		q += 16;
	}
#endif
	while (q < end && !string_stop[*q])
		q++;
	return q;
}

/* A string from its opening quote; *escaped says whether it held an
 * escape. */
static bool scan_string(struct scan *s, bool *escaped)
{
	const unsigned char *q = (const unsigned char *)s->p + 1, *end = (const unsigned char *)s->end;
	bool esc = false;
	for (;;) {
		q = plain_run(q, end);
		if (q >= end || *q < 0x20)
			return false;
		if (*q == '"')
			break;
		esc = true;  /* a backslash */
		if (++q >= end)
			return false;
		if (*q == 'u') {
			if (end - q < 5 || !is_hex((char)q[1]) || !is_hex((char)q[2]) || !is_hex((char)q[3]) ||
			    !is_hex((char)q[4]))
				return false;
			q += 5;
		} else if (*q == '"' || *q == '\\' || *q == '/' || *q == 'b' || *q == 'f' || *q == 'n' ||
			   *q == 'r' || *q == 't') {
			q++;
		} else {
			return false;
		}
	}
	s->p = (const char *)q + 1;
	*escaped = esc;
	return true;
}

static bool digits(struct scan *s)
{
	const char *start = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static bool scan_number(struct scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	return true;
}

static bool literal(struct scan *s, const char *word, size_t len)
{
	if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
		return false;
	s->p += len;
	return true;
}

static bool scan_value(struct scan *s, int depth);

/* An object or array from its opening bracket, depth its nesting. */
static bool scan_container(struct scan *s, int depth)
{
	char close = *s->p == '{' ? '}' : ']';
	bool object = close == '}', escaped;
	/* json-c counts the top-level object and the innermost value as levels too */
	if (depth >= JS_MAX_DEPTH - 1)
		return false;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return true;
	}
	for (;;) {
		if (object) {
			if (s->p >= s->end || *s->p != '"' || !scan_string(s, &escaped))
				return false;
			skip_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return false;
			skip_ws(s);
		}
		if (!scan_value(s, depth))
			return false;
		skip_ws(s);
		if (s->p >= s->end)
			return false;
		char c = *s->p++;
		if (c == close)
			return true;
		if (c != ',')
			return false;
		skip_ws(s);
	}
}

static bool scan_value(struct scan *s, int depth)
{
	bool escaped;
	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '{':
	case '[':
		return scan_container(s, depth + 1);
	case '"':
		return scan_string(s, &escaped);
	case 't':
		return literal(s, "true", 4);
	case 'f':
		return literal(s, "false", 5);
	case 'n':
		return literal(s, "null", 4);
	default:
		return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && scan_number(s);
	}
}

int js_members(const char *p, size_t n, struct js_member *out, int max)
{
	struct scan s = { p, p + n };
	int count = 0;
	bool escaped;
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return -1;
	s.p++;
	skip_ws(&s);
	if (s.p < s.end && *s.p == '}') {
		s.p++;
	} else {
		for (;;) {
			if (s.p >= s.end || *s.p != '"' || count >= max)
				return -1;
			const char *key = s.p + 1;
			if (!scan_string(&s, &escaped) || escaped)
				return -1;
			out[count].key = key;
			out[count].key_len = (size_t)(s.p - 1 - key);
			skip_ws(&s);
			if (s.p >= s.end || *s.p++ != ':')
				return -1;
			skip_ws(&s);
			out[count].val = s.p;
			if (!scan_value(&s, 0))
				return -1;
			out[count].val_len = (size_t)(s.p - out[count].val);
			count++;
			skip_ws(&s);
			if (s.p >= s.end)
				return -1;
			char c = *s.p++;
			if (c == '}')
				break;
			if (c != ',')
				return -1;
			skip_ws(&s);
		}
	}
	skip_ws(&s);
	return s.p == s.end ? count : -1;
}

bool js_is(const struct js_member *m, const char *name)
{
	return strlen(name) == m->key_len && memcmp(m->key, name, m->key_len) == 0;
}

bool js_int(const char *val, size_t len, int64_t *out)
{
	char buf[24];
	if (len == 0 || len >= sizeof buf)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((val[i] >= '0' && val[i] <= '9') || (i == 0 && val[i] == '-')))
			return false;
	memcpy(buf, val, len);
	buf[len] = '\0';
	errno = 0;
	long long v = strtoll(buf, NULL, 10);
	if (errno == ERANGE)
		return false;
	*out = v;
	return true;
}

void js_replace_value(const char *p, size_t n, const struct js_member *ms, int nm, const char *name,
		      const char *value, strbuf *out)
{
	const char *from = p;
	for (int i = 0; i < nm; i++) {
		if (!js_is(&ms[i], name))
			continue;
		sb_append(out, from, (size_t)(ms[i].val - from));
		sb_json_str(out, value, strlen(value));
		from = ms[i].val + ms[i].val_len;
	}
	sb_append(out, from, (size_t)(p + n - from));
}

int js_items(const char *val, size_t len, struct js_member *out, int max)
{
	struct scan s = { val, val + len };
	int count = 0;
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '[')
		return -1;
	s.p++;
	skip_ws(&s);
	if (s.p < s.end && *s.p == ']')
		return 0;
	for (;;) {
		if (count >= max)
			return -1;
		out[count].key = NULL;
		out[count].key_len = 0;
		out[count].val = s.p;
		/* depth 1: the array is a member's value, checked already */
		if (!scan_value(&s, 1))
			return -1;
		out[count].val_len = (size_t)(s.p - out[count].val);
		count++;
		skip_ws(&s);
		if (s.p >= s.end)
			return -1;
		char c = *s.p++;
		if (c == ']')
			return count;
		if (c != ',')
			return -1;
		skip_ws(&s);
	}
}

void js_replace_drop(const char *p, size_t n, const struct js_member *ms, int nm, const char *name,
		     const char *value, const char *drop, strbuf *out)
{
	bool dropping = false;
	for (int i = 0; drop && i < nm && !dropping; i++)
		dropping = js_is(&ms[i], drop);
	if (!dropping) {
		js_replace_value(p, n, ms, nm, name, value, out);
		return;
	}
	/* what stands before the first key's quote ("{" and spaces) and after
	 * the last value (spaces and "}") stays as it came */
	const char *tail = p + n;
	while (tail > p && tail[-1] != '}')
		tail--;
	sb_append(out, p, (size_t)(ms[0].key - 1 - p));
	bool first = true;
	for (int i = 0; i < nm; i++) {
		if (js_is(&ms[i], drop))
			continue;
		if (!first)
			sb_putc(out, ',');
		first = false;
		sb_append(out, ms[i].key - 1, ms[i].key_len + 2);
		sb_putc(out, ':');
		if (js_is(&ms[i], name))
			sb_json_str(out, value, strlen(value));
		else
			sb_append(out, ms[i].val, ms[i].val_len);
	}
	sb_append(out, tail - 1, (size_t)(p + n - (tail - 1)));
}
