/* json_span.h: an object's top-level members found in its bytes, the whole strictly checked, for relaying JSON without a tree */
#ifndef OAF_JSON_SPAN_H
#define OAF_JSON_SPAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Nesting allowed below the top-level object: json-c's default depth, so
 * that what this refuses a json-c parse would refuse too. */
#define JS_MAX_DEPTH 32

/* One top-level member: its key (the bytes between the quotes, no escape
 * in them) and its value's bytes, both pointing into the checked text. */
struct js_member {
	const char *key;
	size_t key_len;
	const char *val;
	size_t val_len;
};

/* Checks that the n bytes at p are one JSON object and nothing else but
 * whitespace, by RFC 8259 strictly (no comments, no trailing comma, no NaN,
 * no control byte inside a string, every escape well formed, nesting at
 * most JS_MAX_DEPTH), and fills out[0..max) with its top-level members in
 * order. UTF-8 is not checked here: the caller repairs it first.
 * Returns how many members, or -1: not such an object, a top-level key
 * holding an escape (its bytes are not its name), or more than max
 * members. out is borrowed; its spans point into p. */
int js_members(const char *p, size_t n, struct js_member *out, int max);

/* Is m's key the NUL-terminated name? */
bool js_is(const struct js_member *m, const char *name);

/* A value that is an integer literal (no fraction, no exponent) within
 * int64: true and *out set; anything else: false. */
bool js_int(const char *val, size_t len, int64_t *out);

/* Appends the n bytes at p to out with the value of each member whose key
 * is name replaced by the JSON string of value (NUL-terminated). ms[0..nm)
 * are p's members as js_members() found them. */
void js_replace_value(const char *p, size_t n, const struct js_member *ms, int nm, const char *name,
		      const char *value, strbuf *out);

/* Fills out[0..max) with the elements of val (len bytes: an array that
 * js_members() already checked, as one of its values), key NULL and val
 * each element's bytes. Returns how many, or -1: not an array, or more
 * than max elements. out is borrowed; its spans point into val. */
int js_items(const char *val, size_t len, struct js_member *out, int max);

/* Appends the n bytes at p to out as js_replace_value() does, and with
 * every member whose key is drop left out (drop NULL: none). With a member
 * left out the separators between members are written anew ("," and ":"
 * without spaces); the values keep their bytes. */
void js_replace_drop(const char *p, size_t n, const struct js_member *ms, int nm, const char *name,
		     const char *value, const char *drop, strbuf *out);

#endif
