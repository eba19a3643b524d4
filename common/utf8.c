/* utf8.c: strict UTF-8 checks (no overlongs, no surrogates, nothing above U+10FFFF) */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

size_t utf8_seq_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	if (n == 0)
		return 0;
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

/* The ASCII bytes from s[0] on, eight at a time: a model's answer is
 * mostly ASCII, and a byte at a time was ~6 instructions for every byte of
 * every answer and stream event relayed. */
static size_t ascii_run(const char *s, size_t n)
{
	size_t i = 0;
	for (uint64_t w; i + sizeof w <= n; i += sizeof w) {
		memcpy(&w, s + i, sizeof w);  /* no alignment assumed */
		if (w & 0x8080808080808080ull)
			break;
	}
	return i;
}

bool utf8_valid(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		i += ascii_run(s + i, n - i);
		if (i >= n)
			break;
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq_len(s + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}
