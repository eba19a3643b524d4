/* thread_cost.c: what one more worker thread costs the server core, as the pool adds one a stream */
/*
 * Creates N threads the way fcgi/main.c's pool_grow() does (detached,
 * STACK_KIB of stack), each touching TOUCH_KIB of its stack (what a
 * stream's thread touches, read by bench/run from the app's smaps) and
 * then waiting; prints the CPU time per thread, the creating and the
 * created threads' together (user + system: clone, the stack's mapping
 * and its page faults), as one RESULT line. A cold burst of streams pays
 * this once per stream beyond THREADS, on the core that also runs the
 * front and every started stream.
 *
 *   thread_cost N STACK_KIB TOUCH_KIB
 */
#include <alloca.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static long n_threads, touch_bytes;
static long started;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_started = PTHREAD_COND_INITIALIZER;

static void *idle_thread(void *unused)
{
	(void)unused;
	char *stack = alloca((size_t)touch_bytes + 1);
	memset(stack, 1, (size_t)touch_bytes + 1);
	__asm__ volatile("" : : "r"(stack) : "memory");  /* the pages stay touched */
	pthread_mutex_lock(&lock);
	if (++started == n_threads)
		pthread_cond_signal(&all_started);
	pthread_mutex_unlock(&lock);
	for (;;)
		pause();  /* the process's exit ends it */
	return NULL;
}

static double cpu_us(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: thread_cost N STACK_KIB TOUCH_KIB\n");
		return 2;
	}
	n_threads = atol(argv[1]);
	long stack_bytes = atol(argv[2]) << 10;
	touch_bytes = atol(argv[3]) << 10;
	if (n_threads <= 0 || stack_bytes < 16384 || touch_bytes < 0 || touch_bytes > stack_bytes / 2) {
		fprintf(stderr, "thread_cost: N > 0, STACK_KIB >= 16, TOUCH_KIB <= STACK_KIB / 2\n");
		return 2;
	}
	double c0 = cpu_us();
	for (long i = 0; i < n_threads; i++) {
		pthread_attr_t attr;
		pthread_t t;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, (size_t)stack_bytes);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, idle_thread, NULL) != 0) {
			fprintf(stderr, "thread_cost: pthread_create failed after %ld threads\n", i);
			return 1;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_lock(&lock);
	while (started < n_threads)
		pthread_cond_wait(&all_started, &lock);
	pthread_mutex_unlock(&lock);
	double per = (cpu_us() - c0) / (double)n_threads;
	printf("RESULT threads=%ld stack_kib=%ld touch_kib=%ld us_per_thread=%.1f total_ms=%.1f\n", n_threads,
	       stack_bytes >> 10, touch_bytes >> 10, per, per * (double)n_threads / 1000);
	return 0;
}
