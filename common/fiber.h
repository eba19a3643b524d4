/* fiber.h: a stack of its own for a request that may wait long, so that its wait can leave the thread it started on */
#ifndef OAF_FIBER_H
#define OAF_FIBER_H
#include <stdbool.h>

/* A fiber runs one function on a stack of its own. It runs on the thread
 * that resumes it, until it yields or the function returns; then that
 * thread goes on from fiber_resume(). The next resume may come from
 * another thread: a stream started by a worker thread waits in the wait
 * loop's thread (wait_loop.h) with only the frames it waits in, and no
 * thread of its own. One thread at a time runs a fiber. Code on a fiber
 * must not hold a lock or a thread-local across a yield, nor keep the
 * address of one: the compiler may ask errno's address or pthread_self()
 * once for a whole function (they are declared const). */
struct fiber;
typedef void fiber_fn(void *arg);

/* A fiber that runs fn(arg) from its first fiber_resume(), or NULL (no
 * memory; logged). The caller owns it until fiber_free(). Its stack comes
 * from a pool the module owns: a fiber that does not yield costs a
 * context switch in and one out, no system call but the switches'. */
struct fiber *fiber_new(fiber_fn *fn, void *arg);

/* Runs f on this thread from where it stopped, until it yields (false)
 * or its function has returned (true: f is done; resume it no more). */
bool fiber_resume(struct fiber *f);

/* From f's own function: back to whoever resumed it. Returns when f is
 * resumed next, perhaps on another thread. */
void fiber_yield(struct fiber *f);

/* Gives back the pages of a yielded f's stack below the frames it waits
 * in: what deeper calls touched before is needed again only when they run
 * again, and a thousand waiting streams would keep ~20 KiB each. */
void fiber_trim(struct fiber *f);

/* Frees f, done or never resumed (NULL: nothing); its stack goes back to
 * the pool. */
void fiber_free(struct fiber *f);

#endif
