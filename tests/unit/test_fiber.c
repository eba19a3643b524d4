/* test_fiber.c: fibers run to their yields, resume on any thread, and give back the stack below their waits */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fiber.h"

struct steps {
	struct fiber *f;
	int n;               /* steps taken */
	long ran_on[4];      /* the kernel's thread ids */
};

/* Not pthread_self(): it is declared const, and the compiler may ask it
 * once for the three steps, as it may take errno's address once. */
static long thread_id(void)
{
	return (long)syscall(SYS_gettid);
}

static void three_steps(void *arg)
{
	struct steps *s = arg;
	for (int i = 0; i < 3; i++) {
		s->ran_on[s->n++] = thread_id();
		if (i < 2)
			fiber_yield(s->f);
	}
}

static void test_runs_to_each_yield_then_ends(void **state)
{
	(void)state;
	struct steps s = { 0 };
	s.f = fiber_new(three_steps, &s);
	assert_non_null(s.f);
	assert_int_equal(s.n, 0);  /* nothing runs before the first resume */
	assert_false(fiber_resume(s.f));
	assert_int_equal(s.n, 1);
	assert_false(fiber_resume(s.f));
	assert_int_equal(s.n, 2);
	assert_true(fiber_resume(s.f));
	assert_int_equal(s.n, 3);
	fiber_free(s.f);
}

static long resumer_id;

static void *resume_here(void *arg)
{
	resumer_id = thread_id();
	fiber_resume(arg);
	return NULL;
}

/* A stream begun on a worker waits in the loop's thread: the same fiber,
 * its frames and locals intact, runs on whichever thread resumes it. */
static void test_resumes_on_another_thread(void **state)
{
	(void)state;
	struct steps s = { 0 };
	s.f = fiber_new(three_steps, &s);
	assert_false(fiber_resume(s.f));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, resume_here, s.f), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ran_on[1], resumer_id);
	assert_int_not_equal(s.ran_on[0], resumer_id);
	assert_true(fiber_resume(s.f));
	assert_int_equal(s.ran_on[2], thread_id());
	fiber_free(s.f);
}

/* Many at once, each with its own stack: 1,000 streams waiting. */
#define MANY 1000
struct counter {
	struct fiber *f;
	int id;
	int seen;
};

static void count_twice(void *arg)
{
	struct counter *c = arg;
	int mine = c->id * 7;  /* a local that must survive the yield */
	fiber_yield(c->f);
	c->seen = mine;
}

static void test_many_fibers_keep_their_own_frames(void **state)
{
	(void)state;
	static struct counter cs[MANY];
	for (int i = 0; i < MANY; i++) {
		cs[i].id = i;
		cs[i].f = fiber_new(count_twice, &cs[i]);
		assert_non_null(cs[i].f);
		assert_false(fiber_resume(cs[i].f));
	}
	for (int i = MANY - 1; i >= 0; i--) {  /* in another order than they began */
		assert_true(fiber_resume(cs[i].f));
		assert_int_equal(cs[i].seen, i * 7);
		fiber_free(cs[i].f);
	}
}

/* ---- trimming ---- */

struct deep {
	struct fiber *f;
	uintptr_t deep_page;  /* a page the deep call touched */
};

__attribute__((noinline)) static void go_deep(struct deep *d, int depth)
{
	volatile char frame[4096];
	frame[0] = (char)depth;
	frame[4095] = 1;
	if (depth == 0)
		d->deep_page = (uintptr_t)frame;
	else
		go_deep(d, depth - 1);
	(void)frame[0];
}

static void deep_then_wait(void *arg)
{
	struct deep *d = arg;
	go_deep(d, 24);  /* ~100 KiB below the frames it then waits in */
	fiber_yield(d->f);
}

static bool resident(uintptr_t p)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char v = 0;
	void *at = (void *)(p & ~(uintptr_t)(page - 1));
	assert_int_equal(mincore(at, (size_t)page, &v), 0);
	return v & 1;
}

static void test_trim_gives_back_the_pages_below_the_wait(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();  /* ASan keeps its records of the frames: fiber_trim leaves them */
#endif
	struct deep d = { 0 };
	d.f = fiber_new(deep_then_wait, &d);
	assert_false(fiber_resume(d.f));
	assert_true(resident(d.deep_page));
	fiber_trim(d.f);
	assert_false(resident(d.deep_page));
	assert_true(fiber_resume(d.f));  /* its own frames were kept: it returns as usual */
	fiber_free(d.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_to_each_yield_then_ends),
		cmocka_unit_test(test_resumes_on_another_thread),
		cmocka_unit_test(test_many_fibers_keep_their_own_frames),
		cmocka_unit_test(test_trim_gives_back_the_pages_below_the_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
