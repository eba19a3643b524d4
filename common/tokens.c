/* tokens.c: a tokenizer-like count of text, close enough to cl100k for usage figures */
#include "tokens.h"

#include <string.h>

#include "utf8.h"

static int is_letter(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of the run at s[i..n) whose bytes satisfy pred. */
static size_t run_len(const char *s, size_t i, size_t n, int (*pred)(unsigned char))
{
	size_t j = i;
	while (j < n && pred((unsigned char)s[j]))
		j++;
	return j - i;
}

long tok_count(const char *s, size_t n)
{
	long tokens = 0;
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k;
		if (is_space(c)) {
			k = run_len(s, i, n, is_space);
			if (i + k == n)
				tokens++;
		} else if (is_letter(c)) {
			k = run_len(s, i, n, is_letter);
			tokens += (long)((k + 3) / 4);
		} else if (is_digit(c)) {
			k = run_len(s, i, n, is_digit);
			tokens += (long)((k + 2) / 3);
		} else if (c >= 0x80) {
			k = utf8_seq_len(s + i, n - i);
			if (k == 0)
				k = 1;
			tokens++;
		} else {
			k = 1;
			tokens++;
		}
		i += k;
	}
	return tokens;
}

long tok_prompt(const struct chat_request *req)
{
	long tokens = 3;
	for (size_t i = 0; i < req->n_messages; i++) {
		const struct chat_message *m = &req->messages[i];
		tokens += 3 + tok_count(m->text ? m->text : "", m->text ? m->text_len : 0);
		if (m->name)
			tokens += tok_count(m->name, strlen(m->name)) + 1;
	}
	return tokens;
}
