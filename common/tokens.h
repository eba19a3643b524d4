/* tokens.h: a tokenizer-like count of text, close enough to cl100k for usage figures */
#ifndef OAF_TOKENS_H
#define OAF_TOKENS_H
#include <stddef.h>

#include "chat_request.h"

/* The rule, chosen to land near OpenAI's cl100k_base on English text and
 * code without shipping its 100k-entry vocabulary:
 *   - a run of ASCII letters costs one token per started 4 letters
 *     ("the" 1, "token" 2, "mocked" 2);
 *   - a run of ASCII digits costs one token per started 3 digits
 *     ("2024" 2);
 *   - every other ASCII character (punctuation, symbols, control) is one
 *     token;
 *   - a non-ASCII UTF-8 character is one token, and so is each byte that
 *     is not valid UTF-8;
 *   - whitespace is free: it folds into the token that follows it, as
 *     cl100k's " word" tokens do. Whitespace that ends the text has nothing
 *     to fold into and counts as one token.
 * The count is additive over pieces that each start with whitespace (or
 * the text's start) and end with non-whitespace, so a text streamed word
 * by word costs the sum of its words. A token is at least a byte: the
 * count is never more than n (so a text of at most N bytes fits N tokens
 * without being counted). */
long tok_count(const char *s, size_t n);

/* The prompt's token count, after OpenAI's cookbook: 3 per message, plus
 * the tokens of its text, plus tok_count(name) + 1 when it has a name, plus
 * 3 priming the reply. req is borrowed. */
long tok_prompt(const struct chat_request *req);

#endif
