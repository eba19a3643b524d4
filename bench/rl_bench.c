/* rl_bench.c: rate limiter checks per second, one thread and several processes */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ratelimit.h"

#define NOW0 1700000000000LL

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rl_store *open_or_die(const char *path)
{
	char err[256];
	rl_store *s;
	if (rl_open(path, &s, err, sizeof err) != 0) {
		fprintf(stderr, "rl_bench: %s\n", err);
		exit(1);
	}
	return s;
}

/* n checks spread over nkeys keys (1: everyone on one key), the clock
 * moving 1 ms every 1000 checks; returns the number admitted. */
static long run(rl_store *s, long n, int nkeys, int salt)
{
	char keys[1024][24];
	size_t lens[1024];
	struct rl_result r;
	long admitted = 0;

	for (int k = 0; k < nkeys; k++)
		lens[k] = (size_t)snprintf(keys[k], sizeof keys[k], "k:%d:%d", salt, k);
	for (long i = 0; i < n; i++) {
		int k = (int)(i % nkeys);
		if (rl_check(s, keys[k], lens[k], 600, NOW0 + i / 1000, &r) == 0)
			admitted += r.allowed;
	}
	return admitted;
}

static void one_thread(const char *path, long n, int nkeys)
{
	rl_store *s = open_or_die(path);
	double t = seconds();
	long ok = run(s, n, nkeys, 0);
	t = seconds() - t;
	printf("1 thread,    %4d keys: %10.0f checks/s (%ld admitted of %ld)\n",
	       nkeys, (double)n / t, ok, n);
	rl_close(s);
}

static void processes(const char *path, int procs, long n, int nkeys, bool shared)
{
	double t = seconds();
	for (int p = 0; p < procs; p++) {
		if (fork() == 0) {
			rl_store *s = open_or_die(path);
			run(s, n, nkeys, shared ? 0 : p + 1);
			rl_close(s);
			_exit(0);
		}
	}
	for (int p = 0; p < procs; p++)
		wait(NULL);
	t = seconds() - t;
	printf("%d processes, %4d keys%s: %10.0f checks/s in total\n", procs, nkeys,
	       shared ? " shared" : " each  ", (double)n * procs / t);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/rl_bench.db";
	long n = argc > 2 ? atol(argv[2]) : 4000000;

	unlink(path);
	one_thread(path, n, 1);
	one_thread(path, n, 1000);
	for (int procs = 2; procs <= 4; procs *= 2) {
		processes(path, procs, n, 1, true);
		processes(path, procs, n, 1000, false);
	}
	unlink(path);
	return 0;
}
