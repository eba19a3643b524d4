/* rand.h: a fast per-thread generator for ids that must be unique, not secret */
#ifndef OAF_RAND_H
#define OAF_RAND_H
#include <stdint.h>

/* 64 random bits from a per-thread xorshift generator seeded once per
 * thread from getrandom(2): request ids, chatcmpl- ids, tool-call ids.
 * Not for secrets (the development key uses getrandom directly). */
uint64_t rand_u64(void);

#endif
