/* utf8.h: strict UTF-8 checks (no overlongs, no surrogates, nothing above U+10FFFF) */
#ifndef OAF_UTF8_H
#define OAF_UTF8_H
#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s (at most n bytes), or 0 if
 * the bytes there are not valid UTF-8. */
size_t utf8_seq_len(const char *s, size_t n);
/* True when all n bytes of s are valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

#endif
