/* json_guard.c: refuses bodies json-c would accept too kindly, then parses them strictly */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r */
#endif
#include "json_guard.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

const char json_guard_not_json[] =
	"We could not parse the JSON body of your request. (HINT: This likely means you aren't "
	"using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
	"sent was not valid JSON. If you have trouble figuring out how to fix this, please "
	"contact us through our help center at help.openai.com.)";

/* One open array or object. Keys of open objects sit on a stack (keys[],
 * their decoded bytes in keybytes) so that an object's own keys are the
 * top of the stack when it closes. */
struct frame {
	char kind;          /* '{' or '[' */
	bool expect_key;    /* objects: the next string is a key */
	size_t count;       /* arrays: commas seen */
	size_t keys_base;   /* objects: first of its entries in keys[] */
};

struct key_span {
	size_t off, len;    /* in keybytes */
};

struct scan {
	const char *p;
	size_t n, i;
	oa_error *err;
	struct frame stack[JSON_GUARD_MAX_DEPTH];
	int depth;
	strbuf keybytes;
	struct key_span *keys;
	size_t nkeys, capkeys;
};

static int not_json(struct scan *s)
{
	return oa_invalid(s->err, NULL, NULL, "%s", json_guard_not_json);
}

static int hex4(const char *p, size_t avail, unsigned *out)
{
	unsigned v = 0;
	if (avail < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* A \uXXXX escape at s->i (the backslash); a high surrogate must be
 * followed by an escaped low one, since a lone one decodes to no UTF-8. */
static int scan_u_escape(struct scan *s, strbuf *key)
{
	unsigned cp, lo;
	if (hex4(s->p + s->i + 2, s->n - s->i - 2, &cp))
		return not_json(s);
	s->i += 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return not_json(s);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (s->n - s->i < 6 || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u'
		    || hex4(s->p + s->i + 2, s->n - s->i - 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return not_json(s);
		s->i += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (key) {
		/* json-c keys are C strings: "a\u0000b" would become "a" */
		if (cp == 0)
			return oa_invalid(s->err, "invalid_value", NULL,
					  "Invalid body: an object key contains \\u0000.");
		sb_put_utf8(key, cp);
	}
	return 0;
}

static int scan_escape(struct scan *s, strbuf *key)
{
	static const char simple[] = "\"\\/bfnrt";
	static const char decoded[] = "\"\\/\b\f\n\r\t";
	if (s->n - s->i < 2)
		return not_json(s);
	char c = s->p[s->i + 1];
	if (c == 'u')
		return scan_u_escape(s, key);
	const char *at = memchr(simple, c, sizeof simple - 1);
	if (!at)
		return not_json(s);
	if (key)
		sb_putc(key, decoded[at - simple]);
	s->i += 2;
	return 0;
}

/* The string opening at s->i; when key is not NULL its decoded bytes are
 * appended there, and its length is capped as it grows. */
static int scan_string(struct scan *s, strbuf *key)
{
	size_t key_start = key ? key->len : 0;
	s->i++;
	for (;;) {
		if (key && key->len - key_start > JSON_GUARD_MAX_KEY)
			return oa_invalid(s->err, "invalid_value", NULL,
					  "Invalid body: an object key is longer than %d bytes.",
					  JSON_GUARD_MAX_KEY);
		if (s->i >= s->n)
			return not_json(s);
		unsigned char c = (unsigned char)s->p[s->i];
		if (c == '"') {
			s->i++;
			return 0;
		}
		if (c < 0x20)
			return not_json(s);
		if (c == '\\') {
			if (scan_escape(s, key))
				return -1;
			continue;
		}
		size_t len = c < 0x80 ? 1 : utf8_seq_len(s->p + s->i, s->n - s->i);
		if (len == 0)
			return not_json(s);
		if (key)
			sb_append(key, s->p + s->i, len);
		s->i += len;
	}
}

/* bytes is sb_str() of the key buffer, never NULL: empty keys append
 * nothing, so a buffer holding only empty keys was never allocated, and
 * NULL + 0 or memcmp(NULL, NULL, 0) is undefined. */
static int cmp_keys(const void *a, const void *b, void *bytes)
{
	const struct key_span *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->len == 0)
		return 0;
	return memcmp((const char *)bytes + x->off, (const char *)bytes + y->off, x->len);
}

/* Sorting the closing object's keys keeps objects with many keys at
 * O(k log k); small objects cost next to nothing either way. */
static int check_duplicates(struct scan *s, size_t base)
{
	size_t k = s->nkeys - base;
	/* no key yet in any object: keys was never allocated (NULL + 0 is UB) */
	struct key_span *v = k ? s->keys + base : NULL;
	size_t first_off = k ? v[0].off : s->keybytes.len;
	if (k > 1) {
		const char *bytes = sb_str(&s->keybytes);
		qsort_r(v, k, sizeof *v, cmp_keys, (void *)bytes);
		for (size_t j = 1; j < k; j++) {
			if (cmp_keys(&v[j - 1], &v[j], (void *)bytes) == 0)
				return oa_invalid(s->err, "invalid_value", NULL,
						  "Invalid body: duplicate key '%.*s' in one object.",
						  (int)(v[j].len > 64 ? 64 : v[j].len),
						  bytes + v[j].off);
		}
	}
	s->nkeys = base;
	s->keybytes.len = first_off;
	if (s->keybytes.buf)
		s->keybytes.buf[first_off] = '\0';
	return 0;
}

static int scan_key(struct scan *s)
{
	size_t off = s->keybytes.len;
	if (scan_string(s, &s->keybytes))
		return -1;
	if (s->nkeys == s->capkeys) {
		s->capkeys = s->capkeys ? 2 * s->capkeys : 32;
		s->keys = xrealloc(s->keys, s->capkeys * sizeof *s->keys);
	}
	s->keys[s->nkeys].off = off;
	s->keys[s->nkeys].len = s->keybytes.len - off;
	s->nkeys++;
	return 0;
}

static int open_container(struct scan *s, char kind)
{
	if (s->depth == JSON_GUARD_MAX_DEPTH)
		return oa_invalid(s->err, "invalid_value", NULL,
				  "Invalid body: nested deeper than %d levels.", JSON_GUARD_MAX_DEPTH);
	struct frame *f = &s->stack[s->depth++];
	f->kind = kind;
	f->expect_key = kind == '{';
	f->count = 0;
	f->keys_base = s->nkeys;
	s->i++;
	return 0;
}

static int close_container(struct scan *s, char kind)
{
	if (s->depth == 0 || s->stack[s->depth - 1].kind != kind)
		return not_json(s);
	struct frame *f = &s->stack[--s->depth];
	s->i++;
	return kind == '{' ? check_duplicates(s, f->keys_base) : 0;
}

static int comma(struct scan *s)
{
	s->i++;
	if (s->depth == 0)
		return not_json(s);
	struct frame *f = &s->stack[s->depth - 1];
	if (f->kind == '{') {
		f->expect_key = true;
		return 0;
	}
	if (++f->count >= JSON_GUARD_MAX_ARRAY)
		return oa_invalid(s->err, "invalid_value", NULL,
				  "Invalid body: an array has more than %d elements.",
				  JSON_GUARD_MAX_ARRAY);
	return 0;
}

static int scan_string_token(struct scan *s)
{
	struct frame *f = s->depth ? &s->stack[s->depth - 1] : NULL;
	if (f && f->kind == '{' && f->expect_key) {
		f->expect_key = false;
		return scan_key(s);
	}
	return scan_string(s, NULL);
}

static bool is_digit(const struct scan *s)
{
	return s->i < s->n && s->p[s->i] >= '0' && s->p[s->i] <= '9';
}

static void skip_digits(struct scan *s)
{
	while (is_digit(s))
		s->i++;
}

static bool accept(struct scan *s, char c)
{
	if (s->i < s->n && s->p[s->i] == c) {
		s->i++;
		return true;
	}
	return false;
}

/* Where the value being scanned sits, as OpenAI writes a param
 * ("logit_bias.50256", "messages[2].content"), into buf (NUL-terminated,
 * truncated to fit n >= 1). An open object's current key is the last one
 * it pushed: the one before the next frame's first, or the top of keys[]. */
static void value_path(const struct scan *s, char *buf, size_t n)
{
	const char *bytes = sb_str(&s->keybytes);
	size_t len = 0;

	buf[0] = '\0';
	for (int d = 0; d < s->depth && len < n - 1; d++) {
		const struct frame *f = &s->stack[d];
		size_t end = d + 1 < s->depth ? s->stack[d + 1].keys_base : s->nkeys;
		int w;
		if (f->kind == '[') {
			w = snprintf(buf + len, n - len, "[%zu]", f->count);
		} else {
			if (end == f->keys_base)
				break;
			const struct key_span *k = &s->keys[end - 1];
			w = snprintf(buf + len, n - len, "%s%.*s", len ? "." : "",
				     (int)k->len, bytes + k->off);
		}
		if (w < 0)
			break;
		len += (size_t)w < n - len ? (size_t)w : n - 1 - len;
	}
}

/* Whether the integer literal [p, p + len) (an optional '-', then digits
 * without leading zeros) lies within int64. */
static bool int64_literal_fits(const char *p, size_t len)
{
	bool neg = len && p[0] == '-';
	const char *bound = neg ? "9223372036854775808" : "9223372036854775807";
	size_t digits = len - neg;

	if (digits != 19)
		return digits < 19;
	return memcmp(p + neg, bound, 19) <= 0;
}

/* json-c keeps an integer beyond int64 by clamping it (to INT64_MIN, or
 * to INT64_MAX through uint64), so "seed": 9223372036854775808 would be
 * read as another number. Refused here, where the digits still are, with
 * the error OpenAI gives for an integer out of its range. */
static int integer_out_of_range(struct scan *s, size_t start)
{
	char param[sizeof s->err->param];
	const char *p = s->p + start;
	size_t len = s->i - start;
	bool neg = p[0] == '-';

	value_path(s, param, sizeof param);
	return oa_invalid(s->err, neg ? "integer_below_min_value" : "integer_above_max_value",
			  param[0] ? param : NULL,
			  "Invalid '%s': integer %s value. Expected a value %s %s, but got %.*s instead.",
			  param, neg ? "below minimum" : "above maximum", neg ? ">=" : "<=",
			  neg ? "-9223372036854775808" : "9223372036854775807",
			  (int)(len > 40 ? 40 : len), p);
}

/* RFC 8259 numbers only: json-c alone lets "[NaN]", "[+1]" and the like
 * through even in strict mode. */
static int scan_number(struct scan *s)
{
	size_t start = s->i;
	bool integer = true;

	accept(s, '-');
	if (!is_digit(s))
		return not_json(s);
	if (!accept(s, '0'))
		skip_digits(s);
	if (accept(s, '.')) {
		if (!is_digit(s))
			return not_json(s);
		skip_digits(s);
		integer = false;
	}
	if (accept(s, 'e') || accept(s, 'E')) {
		if (!accept(s, '+'))
			accept(s, '-');
		if (!is_digit(s))
			return not_json(s);
		skip_digits(s);
		integer = false;
	}
	if (integer && !int64_literal_fits(s->p + start, s->i - start))
		return integer_out_of_range(s, start);
	return 0;
}

static int scan_literal(struct scan *s)
{
	static const char *const words[] = { "true", "false", "null" };
	for (size_t k = 0; k < sizeof words / sizeof *words; k++) {
		size_t len = strlen(words[k]);
		if (s->n - s->i >= len && memcmp(s->p + s->i, words[k], len) == 0) {
			s->i += len;
			return 0;
		}
	}
	return not_json(s);
}

/* Anything but structure, strings, numbers, literals, ':' and blanks is
 * refused here, since json-c's strict mode still takes 'single quotes'. */
static int scan_other(struct scan *s)
{
	unsigned char c = (unsigned char)s->p[s->i];
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(s);
	if (c == 't' || c == 'f' || c == 'n')
		return scan_literal(s);
	if (c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
		s->i++;
		return 0;
	}
	return not_json(s);
}

static int scan_all(struct scan *s)
{
	while (s->i < s->n) {
		unsigned char c = (unsigned char)s->p[s->i];
		int rc;
		switch (c) {
		case '{': case '[':
			rc = open_container(s, (char)c);
			break;
		case '}':
			rc = close_container(s, '{');
			break;
		case ']':
			rc = close_container(s, '[');
			break;
		case ',':
			rc = comma(s);
			break;
		case '"':
			rc = scan_string_token(s);
			break;
		default:
			rc = scan_other(s);
		}
		if (rc)
			return -1;
	}
	return s->depth ? not_json(s) : 0;
}

int json_guard_check(const char *p, size_t n, oa_error *err)
{
	struct scan s = { .p = p, .n = n, .err = err, .keybytes = STRBUF_INIT };
	int rc = scan_all(&s);
	sb_free(&s.keybytes);
	free(s.keys);
	return rc;
}

static bool only_blanks(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", p[i]) || p[i] == '\0')
			return false;
	return true;
}

/* A tokener made for each parse, not kept per thread: json_tokener_new_ex
 * and _free cost 0.03-0.16 us beside a 3 us parse of a small chat body
 * (measured on this machine), and a fresh one never keeps the buffer of a
 * large body from one request to the next. Not JSON_TOKENER_VALIDATE_UTF8:
 * json-c checks only a sequence's shape, taking overlongs, encoded
 * surrogates and code points past U+10FFFF, so json_guard_check()'s strict
 * pass does it all (test_json_guard pins json-c's leniency). */
static json_tokener *new_tokener(void)
{
	json_tokener *tok = json_tokener_new_ex(JSON_GUARD_MAX_DEPTH);
	if (tok)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	return tok;
}

int json_guard_parse(const char *p, size_t n, json_object **out, oa_error *err)
{
	*out = NULL;
	if (n > INT_MAX)
		return oa_invalid(err, NULL, NULL, "%s", json_guard_not_json);
	if (json_guard_check(p, n, err))
		return -1;
	json_tokener *tok = new_tokener();
	if (!tok)
		return oa_error_set(err, 500, OA_SERVER, NULL, NULL, "The server is out of memory.");
	json_object *obj = json_tokener_parse_ex(tok, p, (int)n);
	size_t end = json_tokener_get_parse_end(tok);
	/* a bare top-level number or literal waits for a delimiter */
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, " ", 1);
		end = n;
	}
	bool ok = obj && json_tokener_get_error(tok) == json_tokener_success
		&& only_blanks(p + end, n - end);
	json_tokener_free(tok);
	if (!ok) {
		json_object_put(obj);
		return oa_invalid(err, NULL, NULL, "%s", json_guard_not_json);
	}
	*out = obj;
	return 0;
}
