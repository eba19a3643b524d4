/* test_wait_loop.c: fibers in the wait loop wake by their descriptor or their time, in order, within its bound */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fiber.h"
#include "wait_loop.h"

static struct wait_loop *loop;

/* One waiter: a fiber that waits (fd, ms) `rounds` times in the loop and
 * records what woke it. */
struct waiter {
	struct wl_wait w;
	int fd;
	unsigned events;      /* 0: readable */
	long ms;
	int rounds;
	int woke;
	int64_t woke_ms[4];
	long later_ms;        /* the waits after the first, when set */
	bool forget;          /* forget fd after the first wake */
	atomic_int done;
};

static atomic_int order_n;
static int order[8];

static void waiter_main(void *arg)
{
	struct waiter *x = arg;
	for (int i = 0; i < x->rounds; i++) {
		x->w.fd = x->fd;
		x->w.events = x->events;
		x->w.due_ms = wl_now_ms() + (i && x->later_ms ? x->later_ms : x->ms);
		fiber_yield(x->w.fiber);
		x->woke_ms[x->woke++] = wl_now_ms();
		if (x->forget && i == 0) {
			wl_forget(loop, &x->w);
			x->fd = -1;
		}
	}
	order[atomic_fetch_add(&order_n, 1) % 8] = (int)x->ms;
}

static void on_done(struct wl_wait *w, void *ctx)
{
	(void)ctx;
	struct waiter *x = (struct waiter *)((char *)w - offsetof(struct waiter, w));
	fiber_free(w->fiber);
	atomic_store(&x->done, 1);
}

/* Starts x's fiber here, as a worker would, and hands it to the loop at
 * its first wait. */
static void start(struct waiter *x)
{
	assert_true(wl_reserve(loop));
	x->w.fiber = fiber_new(waiter_main, x);
	assert_false(fiber_resume(x->w.fiber));
	wl_adopt(loop, &x->w);
}

static void wait_done(struct waiter *x)
{
	for (int i = 0; i < 5000 && !atomic_load(&x->done); i++)
		usleep(1000);
	assert_true(atomic_load(&x->done));
}

static int setup(void **state)
{
	(void)state;
	char err[128];
	loop = wl_start(3, on_done, NULL, err, sizeof err);
	return loop ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	wl_stop(loop);
	return 0;
}

static void test_readable_descriptor_wakes_before_the_time(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct waiter x = { .fd = p[0], .ms = 60000, .rounds = 1 };
	int64_t t0 = wl_now_ms();
	start(&x);
	usleep(20000);
	assert_false(atomic_load(&x.done));  /* nothing to read yet: still waiting */
	assert_int_equal(write(p[1], "x", 1), 1);
	wait_done(&x);
	assert_true(x.woke_ms[0] - t0 < 30000);
	close(p[0]);
	close(p[1]);
}

static void test_times_wake_in_their_order(void **state)
{
	(void)state;
	atomic_store(&order_n, 0);
	struct waiter a = { .fd = -1, .ms = 60, .rounds = 1 }, b = { .fd = -1, .ms = 20, .rounds = 1 },
		      c = { .fd = -1, .ms = 40, .rounds = 1 };
	int64_t t0 = wl_now_ms();
	start(&a);
	start(&b);
	start(&c);
	wait_done(&a);
	wait_done(&b);
	wait_done(&c);
	assert_int_equal(order[0], 20);
	assert_int_equal(order[1], 40);
	assert_int_equal(order[2], 60);
	assert_true(b.woke_ms[0] - t0 >= 20);  /* never before its time */
	assert_true(a.woke_ms[0] - t0 >= 60);
}

static void test_places_are_bounded_and_given_back(void **state)
{
	(void)state;
	struct waiter w[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){ .fd = -1, .ms = 30, .rounds = 2 };
		start(&w[i]);
	}
	assert_int_equal(wl_waiting(loop), 3);
	assert_false(wl_reserve(loop));  /* full: the next stream keeps its thread */
	for (int i = 0; i < 3; i++) {
		wait_done(&w[i]);
		assert_int_equal(w[i].woke, 2);  /* waited again, in the loop */
	}
	for (int i = 0; i < 100 && wl_waiting(loop); i++)
		usleep(1000);
	assert_int_equal(wl_waiting(loop), 0);
	assert_true(wl_reserve(loop));
	/* give the place back through a fiber that ends at once */
	struct waiter x = { .fd = -1, .ms = 0, .rounds = 1 };
	x.w.fiber = fiber_new(waiter_main, &x);
	assert_false(fiber_resume(x.w.fiber));
	wl_adopt(loop, &x.w);
	wait_done(&x);
}

static void test_a_forgotten_descriptor_wakes_no_more(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	/* its second wait: the time alone, though the pipe has more */
	struct waiter x = { .fd = p[0], .ms = 60000, .later_ms = 200, .rounds = 2, .forget = true };
	start(&x);
	assert_int_equal(write(p[1], "x", 1), 1);
	for (int i = 0; i < 5000 && x.woke < 1; i++)
		usleep(1000);
	assert_int_equal(x.woke, 1);
	assert_int_equal(write(p[1], "y", 1), 1);
	wait_done(&x);
	assert_true(x.woke_ms[1] - x.woke_ms[0] >= 150);
	close(p[0]);
	close(p[1]);
}

/* A client that reads slowly: its stream waits for room in the loop
 * while the others go on; room wakes it. */
static void test_a_full_connection_waits_without_holding_the_others(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	char chunk[1024] = { 0 };
	while (send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT) > 0)
		;
	struct waiter full = { .fd = sv[0], .events = EPOLLOUT, .ms = 60000, .rounds = 1 };
	struct waiter other = { .fd = -1, .ms = 20, .rounds = 3 };
	start(&full);
	start(&other);
	wait_done(&other);  /* three waits of its own while the full one waits */
	assert_false(atomic_load(&full.done));
	char sink[65536];
	while (recv(sv[1], sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	wait_done(&full);
	assert_true(full.woke_ms[0] < other.woke_ms[2] + 30000);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readable_descriptor_wakes_before_the_time),
		cmocka_unit_test(test_times_wake_in_their_order),
		cmocka_unit_test(test_places_are_bounded_and_given_back),
		cmocka_unit_test(test_a_forgotten_descriptor_wakes_no_more),
		cmocka_unit_test(test_a_full_connection_waits_without_holding_the_others),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
