/* auth.c: Bearer authentication against a keyring of SHA-256 digests */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

#define MISSING_MSG "You didn't provide an API key. You need to provide your API key " \
	"in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."

/* Reads exactly 2 * crypto_hash_sha256_BYTES hex digits and nothing after. */
static int parse_digest(const char *hex, uint8_t out[crypto_hash_sha256_BYTES])
{
	size_t n = 0;
	if (strlen(hex) != 2 * crypto_hash_sha256_BYTES)
		return -1;
	if (sodium_hex2bin(out, crypto_hash_sha256_BYTES, hex, 2 * crypto_hash_sha256_BYTES, NULL, &n, NULL) != 0)
		return -1;
	return n == crypto_hash_sha256_BYTES ? 0 : -1;
}

static void sha256(const char *s, size_t n, uint8_t out[crypto_hash_sha256_BYTES])
{
	crypto_hash_sha256(out, (const unsigned char *)s, n);
}

bool auth_token_is_digest(const char *tok)
{
	return tok && !strncmp(tok, AUTH_DIGEST_PREFIX, strlen(AUTH_DIGEST_PREFIX));
}

int auth_keyring_init(struct auth_keyring *kr, char *const *tokens, size_t n,
		      char *errbuf, size_t errlen)
{
	size_t i;

	if (sodium_init() < 0) {
		snprintf(errbuf, errlen, "libsodium cannot be initialised");
		return -1;
	}
	kr->digest = n ? xcalloc(n, sizeof *kr->digest) : NULL;
	kr->n = n;
	for (i = 0; i < n; i++) {
		const char *t = tokens[i];
		if (!auth_token_is_digest(t)) {
			sha256(t, strlen(t), kr->digest[i]);
			continue;
		}
		if (parse_digest(t + strlen(AUTH_DIGEST_PREFIX), kr->digest[i]) < 0) {
			/* The position only: the value may be a secret pasted wrongly. */
			snprintf(errbuf, errlen, "API token %zu: \"%s\" must be followed "
				 "by exactly 64 hex digits", i + 1, AUTH_DIGEST_PREFIX);
			auth_keyring_free(kr);
			return -1;
		}
	}
	return 0;
}

void auth_keyring_free(struct auth_keyring *kr)
{
	if (kr->digest) {
		explicit_bzero(kr->digest, kr->n * sizeof *kr->digest);
		free(kr->digest);
	}
	kr->digest = NULL;
	kr->n = 0;
}

static bool token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool token_chars_ok(const char *tok, size_t n)
{
	size_t i;

	if (n == 0 || n > AUTH_TOKEN_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!token_char(tok[i]))
			return false;
	return true;
}

bool auth_token_wellformed(const char *tok)
{
	return tok && token_chars_ok(tok, strlen(tok));
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Narrows [*v, *end) to the header value without the optional whitespace
 * around it, which HTTP does not count as part of a field value (RFC 9110
 * 5.5). */
static void trim_ows(const char **v, const char **end)
{
	while (*v < *end && is_ows(**v))
		(*v)++;
	while (*end > *v && is_ows((*end)[-1]))
		(*end)--;
}

/* Finds the token in the value [v, end) "Bearer <token>": the scheme in any
 * case, one or more spaces (RFC 7235 credentials), then one run of
 * non-blanks and nothing after it. */
static int parse_bearer(const char *v, const char *end, const char **tok, size_t *len)
{
	const char *p;

	if (end - v < 7 || strncasecmp(v, "Bearer", 6) || v[6] != ' ')
		return -1;
	for (p = v + 6; p < end && *p == ' '; p++)
		;
	*tok = p;
	while (p < end && !is_ows(*p))
		p++;
	*len = (size_t)(p - *tok);
	return *len && p == end ? 0 : -1;
}

/* Compares against every digest (crypto_verify_32 takes the same time
 * whatever the bytes), with no branch or early exit that depends on the
 * result, so the time taken says nothing about which key (if any) is close
 * to the token. Returns the index of the first match, or kr->n. */
static size_t find_digest(const struct auth_keyring *kr, const uint8_t d[crypto_hash_sha256_BYTES])
{
	size_t match = 0, i;
	unsigned found = 0;

	for (i = 0; i < kr->n; i++) {
		unsigned eq = (unsigned)(crypto_verify_32(d, kr->digest[i]) + 1);  /* 1 iff equal */
		size_t take = (size_t)0 - (size_t)(eq & ~found & 1);
		match |= i & take;
		found |= eq;
	}
	return found ? match : kr->n;
}

static int unauthorized(oa_error *err, const char *code, const char *msg)
{
	return oa_error_set(err, 401, OA_AUTHENTICATION, code, NULL, "%s", msg);
}

int auth_check(const struct auth_keyring *kr, const char *authorization, bool strict,
	       size_t *key_index, oa_error *err)
{
	const char *v = authorization ? authorization : "";
	const char *end = v + strlen(v), *tok;
	size_t len, idx;
	uint8_t d[crypto_hash_sha256_BYTES];
	char masked[AUTH_MASK_LEN + 1];

	trim_ows(&v, &end);
	if (v == end)
		return unauthorized(err, "missing_api_key", MISSING_MSG);
	if (parse_bearer(v, end, &tok, &len) < 0)
		return unauthorized(err, "invalid_auth_format",
			"Invalid Authorization header format. Expected: Authorization: Bearer YOUR_KEY.");
	if (!token_chars_ok(tok, len))
		return unauthorized(err, "invalid_key_format",
			"Invalid API key format. An API key has at most 512 characters, "
			"each a letter, a digit, '_', '.' or '-'.");
	if (strict && len < AUTH_TOKEN_MIN_STRICT)
		return unauthorized(err, "invalid_key_length",
			"Invalid API key length. An API key has at least 16 characters.");
	sha256(tok, len, d);
	idx = find_digest(kr, d);
	if (idx == kr->n) {
		auth_mask(tok, len, masked);
		return oa_error_set(err, 401, OA_AUTHENTICATION, "invalid_key", NULL,
				    "Incorrect API key provided: %s.", masked);
	}
	if (key_index)
		*key_index = idx;
	return 0;
}

/* "key_" and the first 8 hex digits of the digest; on every authenticated
 * request, so written out by hand. */
static void fingerprint_digest(const uint8_t d[crypto_hash_sha256_BYTES], char out[AUTH_FP_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, "key_", 4);
	for (int i = 0; i < 4; i++) {
		out[4 + 2 * i] = hex[d[i] >> 4];
		out[5 + 2 * i] = hex[d[i] & 15];
	}
	out[AUTH_FP_LEN] = '\0';
}

void auth_fingerprint(const char *token, size_t n, char out[AUTH_FP_LEN + 1])
{
	uint8_t d[crypto_hash_sha256_BYTES];

	sha256(token, n, d);
	fingerprint_digest(d, out);
}

void auth_fingerprint_key(const struct auth_keyring *kr, size_t index,
			  char out[AUTH_FP_LEN + 1])
{
	fingerprint_digest(kr->digest[index], out);
}

void auth_mask(const char *token, size_t n, char out[AUTH_MASK_LEN + 1])
{
	if (n >= AUTH_TOKEN_MIN_STRICT) {
		snprintf(out, AUTH_MASK_LEN + 1, "%.3s***%.4s", token, token + n - 4);
		return;
	}
	memset(out, '*', n);
	out[n] = '\0';
}
