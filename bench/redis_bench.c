/* redis_bench.c: limit checks per second and per-check latency, the state file against Redis on loopback */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limiter.h"

/*
 * Usage: redis_bench FILE REDIS_URL CHECKS THREADS
 * One line per store: the latency of one check (each of 20,000 timed
 * alone: median, p99), then CHECKS checks by one thread and by THREADS
 * threads (each its own connection) over 64 keys: the same lim_check() a
 * request makes, so the median is the latency Redis adds to a request
 * (a key with a token limit makes one more check).
 */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct job {
	lim_store *s;
	long n;
	int id;
	long failed;
};

static long check(lim_store *s, long i, int id)
{
	char key[32];
	struct rl_result r;
	int len = snprintf(key, sizeof key, "k:bench%d-%ld", id, i % 64);
	return lim_check(s, key, (size_t)len, 1000000, 1, 1700000000000LL + i / 1000, &r) == LIM_COUNTED ? 0 : 1;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	for (long i = 0; i < j->n; i++)
		j->failed += check(j->s, i, j->id);
	return NULL;
}

/* checks/s of threads threads, n checks in all; *failed adds those not counted */
static double throughput(lim_store *s, long n, int threads, long *failed)
{
	pthread_t tid[64];
	struct job jobs[64];
	double t0 = now_s();
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct job){ s, n / threads, t, 0 };
		pthread_create(&tid[t], NULL, worker, &jobs[t]);
	}
	for (int t = 0; t < threads; t++) {
		pthread_join(tid[t], NULL);
		*failed += jobs[t].failed;
	}
	return (double)(n / threads * threads) / (now_s() - t0);
}

static void measure(const char *name, lim_store *s, long n, int threads)
{
	long lat_n = n < 20000 ? n : 20000;
	double *lat = malloc((size_t)lat_n * sizeof *lat);
	long failed = 0;
	for (long i = 0; i < lat_n; i++) {
		double t0 = now_s();
		failed += check(s, i, 99);
		lat[i] = (now_s() - t0) * 1e6;
	}
	qsort(lat, (size_t)lat_n, sizeof *lat, cmp_double);
	double one = throughput(s, n, 1, &failed);
	double many = throughput(s, n, threads, &failed);
	printf("%-8s %9.1f us %9.1f us %14.0f %14.0f %8ld\n", name, lat[lat_n / 2], lat[lat_n * 99 / 100], one, many,
	       failed);
	free(lat);
}

int main(int argc, char **argv)
{
	char err[256];
	lim_store *file, *redis;
	if (argc != 5) {
		fprintf(stderr, "usage: redis_bench FILE REDIS_URL CHECKS THREADS\n");
		return 2;
	}
	long n = atol(argv[3]);
	int threads = atoi(argv[4]);
	if (threads < 1 || threads > 64 || n < threads) {
		fprintf(stderr, "redis_bench: 1..64 threads, at least one check each\n");
		return 2;
	}
	struct lim_options fo = { .backend = LIM_FILE, .file = argv[1] };
	struct lim_options ro = { .backend = LIM_REDIS,
				  .redis = { .url = argv[2], .prefix = "bench:", .connect_ms = 1000, .timeout_ms = 1000 } };
	if (lim_open(&fo, &file, err, sizeof err) != 0 || lim_open(&ro, &redis, err, sizeof err) != 0) {
		fprintf(stderr, "redis_bench: %s\n", err);
		return 1;
	}
	char many[32];
	snprintf(many, sizeof many, "checks/s x%d", threads);
	printf("%-8s %12s %12s %14s %14s %8s\n", "store", "median", "p99", "checks/s x1", many, "failed");
	measure("file", file, n, threads);
	measure("redis", redis, n, threads);
	lim_close(file);
	lim_close(redis);
	return 0;
}
