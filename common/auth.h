/* auth.h: Bearer authentication against a keyring of SHA-256 digests */
#ifndef OAF_AUTH_H
#define OAF_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openai_error.h"
#include <sodium.h>

/* Functions returning int here return 0 on success and -1 on failure. */

#define AUTH_TOKEN_MAX        512  /* longer presented tokens are malformed */
#define AUTH_TOKEN_MIN_STRICT 16   /* shortest token production/staging accept */
#define AUTH_DIGEST_PREFIX    "sha256:"
#define AUTH_FP_LEN           12   /* "key_" + 8 hex digits */
#define AUTH_MASK_LEN         15   /* longest auth_mask() output */

/* The configured keys, as digests only: authentication compares digests,
 * never tokens (the plain tokens stay in struct config, which logs and
 * config_describe() only ever show masked). Built once at start and
 * read-only afterwards, so threads share it freely. */
struct auth_keyring {
	uint8_t (*digest)[crypto_hash_sha256_BYTES];  /* n digests, owned */
	size_t n;
};

/* Builds kr from n configured tokens (tokens may be NULL when n is 0).
 * Each is a plain token, or "sha256:" and 64 hex digits (either case)
 * giving the digest of one. tokens are only read; kr keeps no pointer into
 * them. On -1 (a malformed "sha256:" entry) errbuf says which entry, by
 * its position counted from 1, never its value, and kr is left empty.
 * Either way, auth_keyring_free() releases kr. */
int auth_keyring_init(struct auth_keyring *kr, char *const *tokens, size_t n,
		      char *errbuf, size_t errlen);
/* Wipes and frees the digests; kr is empty afterwards. */
void auth_keyring_free(struct auth_keyring *kr);

/* Checks the raw Authorization header value (NULL when the header is
 * absent) against kr. strict adds the minimum length of production and
 * staging. On 0, *key_index (if key_index is not NULL) is the position of
 * the matching key in the tokens given to auth_keyring_init(). On -1, err
 * is a 401 authentication_error whose code is missing_api_key,
 * invalid_auth_format, invalid_key_format, invalid_key_length or
 * invalid_key; the caller adds WWW-Authenticate: Bearer. The comparison
 * with the keys takes the same time whichever key, if any, matches. */
int auth_check(const struct auth_keyring *kr, const char *authorization, bool strict,
	       size_t *key_index, oa_error *err);

/* True when tok is a token a client could present: 1 to AUTH_TOKEN_MAX
 * characters, all of [A-Za-z0-9_.-]. False for NULL. */
bool auth_token_wellformed(const char *tok);
/* True when tok is a "sha256:" entry (well-formed or not), which the config
 * loader must not hold to the plain-token rules. */
bool auth_token_is_digest(const char *tok);

/* A name for a key that is safe to log: "key_" and the first 8 hex digits
 * of its SHA-256. The first form hashes n bytes of token; the second
 * reads the stored digest of key index (< kr->n), so a "sha256:" entry and
 * its plain token have the same fingerprint. out is NUL-terminated. */
void auth_fingerprint(const char *token, size_t n, char out[AUTH_FP_LEN + 1]);
void auth_fingerprint_key(const struct auth_keyring *kr, size_t index,
			  char out[AUTH_FP_LEN + 1]);

/* The token as it may be shown back: the first 3 and last 4 characters
 * around "***" when n >= AUTH_TOKEN_MIN_STRICT, else one '*' per
 * character. out is NUL-terminated. */
void auth_mask(const char *token, size_t n, char out[AUTH_MASK_LEN + 1]);

#endif
