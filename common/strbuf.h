/* strbuf.h: a growable byte buffer, always NUL-terminated, for building answers */
#ifndef OAF_STRBUF_H
#define OAF_STRBUF_H
#include <stdarg.h>
#include <stddef.h>

/* A strbuf owns buf; sb_free() releases it. STRBUF_INIT is an empty buffer
 * that allocates on first use. Appending never fails (allocation failure is
 * fatal, see xalloc.h), so these functions return nothing. */
typedef struct strbuf {
	char *buf;   /* NUL-terminated when cap > 0; NULL before first append */
	size_t len;
	size_t cap;
} strbuf;

#define STRBUF_INIT { NULL, 0, 0 }

void sb_grow(strbuf *sb, size_t extra);
void sb_append(strbuf *sb, const char *p, size_t n);
void sb_puts(strbuf *sb, const char *s);
void sb_putc(strbuf *sb, char c);
void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(strbuf *sb, const char *fmt, va_list ap);
/* Appends n in decimal, without a printf call (response heads, the log). */
void sb_put_int(strbuf *sb, long long n);
/* Appends code point cp (at most U+10FFFF) encoded as UTF-8. */
void sb_put_utf8(strbuf *sb, unsigned long cp);
/* Appends s (n bytes) as a JSON string literal, quotes included. Bytes that
 * are not valid UTF-8 are replaced by U+FFFD so the output is always JSON. */
void sb_json_str(strbuf *sb, const char *s, size_t n);
/* Appends the whole file at path. 0, or -1 with errno set (sb keeps what
 * it had plus anything already read). */
int sb_read_file(strbuf *sb, const char *path);
/* The value of hex digit c (either case), or -1. */
int hex_digit(char c);
/* Empties the buffer but keeps its memory, for reuse across requests. */
void sb_reset(strbuf *sb);
/* Empties the buffer, keeping its memory only when that is at most keep
 * bytes: a buffer reused across requests then holds a small allocation,
 * not the largest it ever needed. Returns 1 when memory was freed, else 0. */
int sb_reset_capped(strbuf *sb, size_t keep);
/* Frees the memory; the buffer is STRBUF_INIT again afterwards. */
void sb_free(strbuf *sb);
/* The contents as a C string ("" for a never-used buffer); borrowed. */
const char *sb_str(const strbuf *sb);

#endif
