/* sha256.h: SHA-256 (FIPS 180-4), self-contained, for hashing API keys */
#ifndef OAF_SHA256_H
#define OAF_SHA256_H
#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN  64

/* Hashing state; lives wherever the caller puts it, holds no pointers, so
 * it needs no freeing. sha256_final() wipes it. */
typedef struct sha256_ctx {
	uint32_t h[8];
	uint64_t nbytes;                     /* message length so far */
	uint8_t block[SHA256_BLOCK_LEN];     /* bytes not yet compressed */
	size_t used;                         /* how many of block[] are filled */
} sha256_ctx;

/* These cannot fail and return nothing. data may be NULL when n is 0. */
void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Writes the digest to out and wipes c; init again to reuse it. */
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);
/* One-shot digest of n bytes at data. */
void sha256(const void *data, size_t n, uint8_t out[SHA256_DIGEST_LEN]);
/* Lower-case hex of a digest into out (65 bytes, NUL-terminated). */
void sha256_hex(const uint8_t d[SHA256_DIGEST_LEN], char out[2 * SHA256_DIGEST_LEN + 1]);

#endif
