/* rand.h: a fast generator for ids that must be unique, not secret */
#ifndef OAF_RAND_H
#define OAF_RAND_H
#include <stdint.h>

/* 64 random bits: request ids, chatcmpl- ids, tool-call ids, the weighted
 * pick among deployments. SplitMix64 over one counter per process, seeded
 * once from getrandom(2): every call of the process gets a different value
 * (the output is a bijection of the counter), from any thread, lock-free.
 * Not for secrets (the development key uses getrandom directly). */
uint64_t rand_u64(void);

#endif
