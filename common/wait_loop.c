/* wait_loop.c: one thread where fibers wait for a descriptor or a time, with epoll and a timer heap */
#include "wait_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

#define EVENTS 64   /* taken from epoll per pass */
/* A fiber that may wait this long keeps only the stack pages of the
 * frames it waits in; one back sooner (the mock's next word) keeps its
 * pages, which trimming would cost a system call and faults an event. */
#define TRIM_AFTER_MS 50

struct wait_loop {
	int ep;                  /* epoll: the fibers' descriptors (edge-triggered) and wake */
	int wake;                /* eventfd: the inbox has something, or a stop */
	pthread_t thread;
	void (*done)(struct wl_wait *w, void *ctx);
	void *ctx;
	size_t max;
	atomic_size_t reserved;  /* places taken (wl_reserve) and not yet given back */
	atomic_bool stopping;
	pthread_mutex_t inbox_lock;
	struct wl_wait *inbox;   /* adopted, not yet armed; guarded by inbox_lock */
	/* the loop thread's alone */
	struct wl_wait **heap;   /* min-heap on due_ms */
	size_t n_heap, heap_cap;
};

int64_t wl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the timer heap ---- */

static void heap_set(struct wait_loop *l, size_t i, struct wl_wait *w)
{
	l->heap[i] = w;
	w->heap_i = i;
}

static void heap_up(struct wait_loop *l, size_t i)
{
	struct wl_wait *w = l->heap[i];
	while (i > 0 && l->heap[(i - 1) / 2]->due_ms > w->due_ms) {
		heap_set(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(l, i, w);
}

static void heap_down(struct wait_loop *l, size_t i)
{
	struct wl_wait *w = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->n_heap)
			break;
		if (c + 1 < l->n_heap && l->heap[c + 1]->due_ms < l->heap[c]->due_ms)
			c++;
		if (l->heap[c]->due_ms >= w->due_ms)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, w);
}

static void heap_push(struct wait_loop *l, struct wl_wait *w)
{
	if (l->n_heap == l->heap_cap) {
		l->heap_cap = l->heap_cap ? 2 * l->heap_cap : 64;
		l->heap = xrealloc(l->heap, l->heap_cap * sizeof *l->heap);
	}
	heap_set(l, l->n_heap++, w);
	heap_up(l, w->heap_i);
}

static void heap_remove(struct wait_loop *l, struct wl_wait *w)
{
	size_t i = w->heap_i;
	if (i == SIZE_MAX)
		return;
	w->heap_i = SIZE_MAX;
	struct wl_wait *last = l->heap[--l->n_heap];
	if (i == l->n_heap)
		return;
	heap_set(l, i, last);
	heap_up(l, i);
	heap_down(l, last->heap_i);
}

/* ---- waiting ---- */

/* Registers what w waits for now: its descriptor, when it changed (a
 * descriptor closed is out of the epoll already, and one reused by another
 * fiber is registered only after this fiber's change, on this thread), and
 * its time. Each registration stays until the fiber waits for another or
 * is done, so that waiting again costs no system call. */
static void arm(struct wait_loop *l, struct wl_wait *w)
{
	unsigned events = w->events ? w->events : EPOLLIN;
	if (w->fd != w->armed_fd || events != w->armed_events) {
		if (w->armed_fd >= 0)
			epoll_ctl(l->ep, EPOLL_CTL_DEL, w->armed_fd, NULL);
		w->armed_fd = -1;
		if (w->fd >= 0) {
			struct epoll_event ev = { .events = events | EPOLLRDHUP | EPOLLET, .data.ptr = w };
			if (epoll_ctl(l->ep, EPOLL_CTL_ADD, w->fd, &ev) == 0) {
				w->armed_fd = w->fd;
				w->armed_events = events;
			} else {  /* its time still wakes it, and the fiber looks itself */
				log_warn("wait loop: cannot watch descriptor %d: %s", w->fd, strerror(errno));
			}
		}
	}
	heap_push(l, w);
	if (w->due_ms - wl_now_ms() >= TRIM_AFTER_MS)
		fiber_trim(w->fiber);
}

/* Runs w's fiber until it waits again (armed anew) or is done. */
static void run(struct wait_loop *l, struct wl_wait *w)
{
	heap_remove(l, w);
	if (!fiber_resume(w->fiber)) {
		arm(l, w);
		return;
	}
	if (w->armed_fd >= 0)
		epoll_ctl(l->ep, EPOLL_CTL_DEL, w->armed_fd, NULL);
	w->armed_fd = -1;
	l->done(w, l->ctx);
	atomic_fetch_sub(&l->reserved, 1);
}

static void take_inbox(struct wait_loop *l)
{
	uint64_t n;
	(void)!read(l->wake, &n, sizeof n);
	pthread_mutex_lock(&l->inbox_lock);
	struct wl_wait *w = l->inbox;
	l->inbox = NULL;
	pthread_mutex_unlock(&l->inbox_lock);
	while (w) {
		struct wl_wait *next = w->next;
		arm(l, w);
		w = next;
	}
}

static void *loop_main(void *arg)
{
	struct wait_loop *l = arg;
	struct epoll_event evs[EVENTS];
	for (;;) {
		if (atomic_load(&l->stopping) && atomic_load(&l->reserved) == 0)
			break;
		int timeout = -1;
		if (l->n_heap) {
			int64_t wait = l->heap[0]->due_ms - wl_now_ms();
			timeout = wait <= 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
		}
		int n = epoll_wait(l->ep, evs, EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("wait loop: epoll_wait: %s", strerror(errno));
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				take_inbox(l);
			else
				run(l, evs[i].data.ptr);
		}
		int64_t now = wl_now_ms();
		while (l->n_heap && l->heap[0]->due_ms <= now)
			run(l, l->heap[0]);
	}
	return NULL;
}

struct wait_loop *wl_start(size_t max_waiters, void (*done)(struct wl_wait *w, void *ctx), void *ctx,
			   char *err, size_t errlen)
{
	struct wait_loop *l = xcalloc(1, sizeof *l);
	l->done = done;
	l->ctx = ctx;
	l->max = max_waiters;
	pthread_mutex_init(&l->inbox_lock, NULL);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (l->ep < 0 || l->wake < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &ev) != 0 ||
	    pthread_create(&l->thread, NULL, loop_main, l) != 0) {
		snprintf(err, errlen, "cannot start the wait loop: %s", strerror(errno));
		if (l->ep >= 0)
			close(l->ep);
		if (l->wake >= 0)
			close(l->wake);
		free(l);
		return NULL;
	}
	return l;
}

bool wl_reserve(struct wait_loop *l)
{
	if (!l || atomic_load(&l->stopping))
		return false;
	size_t n = atomic_load(&l->reserved);
	do {
		if (n >= l->max)
			return false;
	} while (!atomic_compare_exchange_weak(&l->reserved, &n, n + 1));
	return true;
}

void wl_adopt(struct wait_loop *l, struct wl_wait *w)
{
	w->armed_fd = -1;
	w->heap_i = SIZE_MAX;
	pthread_mutex_lock(&l->inbox_lock);
	w->next = l->inbox;
	l->inbox = w;
	pthread_mutex_unlock(&l->inbox_lock);
	uint64_t one = 1;
	(void)!write(l->wake, &one, sizeof one);
}

void wl_forget(struct wait_loop *l, struct wl_wait *w)
{
	if (w->armed_fd >= 0)
		epoll_ctl(l->ep, EPOLL_CTL_DEL, w->armed_fd, NULL);
	w->armed_fd = -1;
	w->fd = -1;
}

size_t wl_waiting(struct wait_loop *l)
{
	return l ? atomic_load(&l->reserved) : 0;
}

void wl_stop(struct wait_loop *l)
{
	if (!l)
		return;
	atomic_store(&l->stopping, true);
	uint64_t one = 1;
	(void)!write(l->wake, &one, sizeof one);
	pthread_join(l->thread, NULL);
	close(l->ep);
	close(l->wake);
	pthread_mutex_destroy(&l->inbox_lock);
	free(l->heap);
	free(l);
}
