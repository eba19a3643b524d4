/* rand.c: SplitMix64 over one atomic counter per process, for ids that must be unique, not secret */
#include "rand.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ULL

static _Atomic uint64_t counter;  /* 0: not seeded yet */

static uint64_t seed(void)
{
	uint64_t s;
	if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) {
		/* unique, not secret: the clock and the stack will do */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		s = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&ts;
	}
	return s | 1;
}

uint64_t rand_u64(void)
{
	uint64_t z = atomic_load_explicit(&counter, memory_order_relaxed);
	if (z == 0) {
		/* the first caller's seed wins; a loser's is dropped */
		uint64_t expected = 0;
		atomic_compare_exchange_strong(&counter, &expected, seed());
	}
	z = atomic_fetch_add_explicit(&counter, GOLDEN_GAMMA, memory_order_relaxed) + GOLDEN_GAMMA;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
