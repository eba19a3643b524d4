/* rand.c: a fast per-thread generator for ids that must be unique, not secret */
#include "rand.h"

#include <stdint.h>
#include <sys/random.h>
#include <time.h>

uint64_t rand_u64(void)
{
	static _Thread_local uint64_t s;
	if (s == 0) {
		if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s || s == 0) {
			/* unique, not secret: the clock and the stack will do */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			s = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&ts;
			s |= 1;
		}
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}
