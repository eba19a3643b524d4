/* wait_loop.h: one thread where fibers wait for a descriptor or a time, so that a long wait holds no thread of its own */
#ifndef OAF_WAIT_LOOP_H
#define OAF_WAIT_LOOP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fiber.h"

/* A stream spends minutes waiting for its upstream's next event (or the
 * mock's next word) and microseconds relaying it. A thread per stream
 * kept ~100 KiB a stream (its stack and malloc's per-thread cache); in the
 * loop, a waiting stream keeps its fiber's few frames and its own data.
 * The loop resumes each fiber when what it waits for comes, and runs it
 * until it waits again or is done. */
struct wait_loop;

/* What one fiber waits for. The owner's struct, the loop's from
 * wl_adopt() until done() (below) is called with it. */
struct wl_wait {
	struct fiber *fiber;
	int fd;              /* ready for events (or hung up) wakes the fiber; -1: only the time */
	unsigned events;     /* EPOLLIN or EPOLLOUT; 0: EPOLLIN */
	int64_t due_ms;      /* ... as does wl_now_ms() reaching this */
	/* the loop's own */
	int armed_fd;        /* fd as registered with the loop's epoll, or -1 */
	unsigned armed_events;
	size_t heap_i;       /* its place in the loop's timer heap; SIZE_MAX: none */
	struct wl_wait *next; /* in the loop's inbox */
};

/* CLOCK_MONOTONIC in ms: the clock of due_ms. */
int64_t wl_now_ms(void);

/* Starts the loop's thread; at most max_waiters fibers at once
 * (wl_reserve). done(w, ctx) is called on the loop's thread with each
 * adopted fiber whose function has returned: its owner frees it then.
 * NULL, with the reason in err, when the thread or its epoll cannot be
 * made. */
struct wait_loop *wl_start(size_t max_waiters, void (*done)(struct wl_wait *w, void *ctx), void *ctx,
			   char *err, size_t errlen);

/* Takes one of the loop's places for a fiber about to wait in it. false:
 * the loop is full (or stopping), and the fiber should wait on its own
 * thread instead. A place taken is given back when done() is called. */
bool wl_reserve(struct wait_loop *l);

/* Hands over w, whose fiber has reserved a place and yielded, with fd
 * and due_ms set: the loop resumes it when either comes. From any thread. */
void wl_adopt(struct wait_loop *l, struct wl_wait *w);

/* From w's fiber, running in the loop: w's descriptor is watched no
 * more, from now (its owner is about to close it, or hand it on). */
void wl_forget(struct wait_loop *l, struct wl_wait *w);

/* Fibers in the loop (places reserved) now. */
size_t wl_waiting(struct wait_loop *l);

/* Lets the fibers in the loop finish, then ends its thread and frees l.
 * Call once, after every thread that could adopt has stopped. */
void wl_stop(struct wait_loop *l);

#endif
