/* test_rand.c: ids from rand_u64 never repeat within a process, from any thread */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rand.h"

#define THREADS 8
#define PER_THREAD 50000

static uint64_t drawn[THREADS][PER_THREAD];

static void *draw(void *arg)
{
	uint64_t *out = arg;
	for (int i = 0; i < PER_THREAD; i++)
		out[i] = rand_u64();
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* 400,000 values drawn by 8 threads at once: all different (the process'
 * one counter goes through a bijection; per-thread generators could meet). */
static void test_unique_across_threads(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, draw, drawn[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	uint64_t *all = &drawn[0][0];
	size_t n = (size_t)THREADS * PER_THREAD;
	qsort(all, n, sizeof *all, cmp_u64);
	for (size_t i = 1; i < n; i++)
		assert_true(all[i] != all[i - 1]);
}

/* The bits look random: each of the 64 is set in about half of the draws,
 * and the low hex digit (what ids end with) takes all 16 values evenly. */
static void test_bits_balanced(void **state)
{
	(void)state;
	enum { N = 100000 };
	long ones[64] = { 0 }, digit[16] = { 0 };
	for (int i = 0; i < N; i++) {
		uint64_t v = rand_u64();
		for (int b = 0; b < 64; b++)
			ones[b] += (long)((v >> b) & 1);
		digit[v & 15]++;
	}
	for (int b = 0; b < 64; b++)
		assert_in_range(ones[b], N / 2 - 1500, N / 2 + 1500);
	for (int d = 0; d < 16; d++)
		assert_in_range(digit[d], N / 16 - 600, N / 16 + 600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unique_across_threads),
		cmocka_unit_test(test_bits_balanced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
