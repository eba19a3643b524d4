/* fiber.c: stacks of their own for requests that may wait long, switched without a system call */
#include "fiber.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* Under valgrind (bench/run's callgrind and massif), a stack it is not
 * told of reads as a wild stack pointer: each is registered, when its
 * header is there. Outside valgrind the requests cost a few instructions. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define FIBER_VALGRIND 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif

#ifdef FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
/* ASan's redzones triple a frame; and it must be told of each switch of
 * stacks, or it takes the other stack for a corrupt one */
#define STACK_BYTES (2L << 20)
#else
/* as an added worker thread's: a request touches ~24 KiB of it */
#define STACK_BYTES (256L << 10)
#endif
#define POOL_MAX 64   /* idle stacks kept: a burst of streams is not mapped again */

/* ---- switching ---- */

/* On x86-64, a switch saves the callee-saved registers on the stack it
 * leaves and takes the other's: a few instructions. glibc's swapcontext
 * also saves and sets the signal mask, a system call each way: two for
 * every request on a route that may stream, two for every event of a
 * waiting stream. Elsewhere, ucontext. */
#if defined(__x86_64__) && !defined(FIBER_UCONTEXT)  /* FIBER_UCONTEXT: the other way, on x86-64 too */
struct context {
	void *sp;
};
void oaf_fiber_switch(void **save_sp, void *to_sp);
void oaf_fiber_start(void);
__asm__(".text\n"
	".globl oaf_fiber_switch\n.hidden oaf_fiber_switch\n.type oaf_fiber_switch, @function\n"
	"oaf_fiber_switch:\n"
	"\tpushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n"
	"\tret\n"
	".size oaf_fiber_switch, .-oaf_fiber_switch\n"
	/* a new fiber's first switch returns here, r13 its function, r12 its argument */
	".globl oaf_fiber_start\n.hidden oaf_fiber_start\n.type oaf_fiber_start, @function\n"
	"oaf_fiber_start:\n"
	"\tmovq %r12, %rdi\n"
	"\tcallq *%r13\n"
	"\tud2\n"
	".size oaf_fiber_start, .-oaf_fiber_start\n");

#define switch_context(from, to) oaf_fiber_switch(&(from)->sp, (to)->sp)

/* A context that, switched to, calls fn(arg) on the stack [lo, hi). */
static int make_context(struct context *c, char *lo, char *hi, void (*fn)(void *), void *arg)
{
	(void)lo;
	/* the return slot 16-aligned + 8, so that fn is entered as if called */
	void **sp = (void **)(((uintptr_t)hi & ~(uintptr_t)15) - 24);
	*sp = (void *)oaf_fiber_start;
	sp -= 6;
	sp[0] = sp[1] = sp[4] = sp[5] = NULL;  /* r15, r14, rbx, rbp */
	sp[2] = (void *)fn;                    /* r13 */
	sp[3] = arg;                           /* r12 */
	c->sp = sp;
	return 0;
}
#else
#include <ucontext.h>  /* musl has none: a static build is x86-64 */

struct context {
	ucontext_t uc;
};

/* swapcontext, but not ASan's: its interceptor warns once per process
 * that it may err, and the switches are told to ASan here anyway. */
#ifdef FIBER_ASAN
__attribute__((noinline)) static void switch_uc(ucontext_t *from, ucontext_t *to)
{
	volatile bool back = false;
	getcontext(from);
	if (!back) {
		back = true;
		setcontext(to);
	}
}
#define switch_context(from, to) switch_uc(&(from)->uc, &(to)->uc)
#else
#define switch_context(from, to) swapcontext(&(from)->uc, &(to)->uc)
#endif

static void (*start_fn)(void *);

/* makecontext passes ints: the argument's address in two halves */
static void uc_entry(unsigned hi, unsigned lo)
{
	start_fn((void *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo));
}

/* Apart, so that getcontext (which returns twice) clobbers no caller's
 * variables. */
__attribute__((noinline)) static int make_context(struct context *c, char *lo, char *hi, void (*fn)(void *),
						  void *arg)
{
	if (getcontext(&c->uc) != 0)
		return -1;
	c->uc.uc_stack.ss_sp = lo;
	c->uc.uc_stack.ss_size = (size_t)(hi - lo);
	c->uc.uc_link = NULL;
	start_fn = fn;  /* always the same: entry() */
	uintptr_t p = (uintptr_t)arg;
	makecontext(&c->uc, (void (*)(void))uc_entry, 2, (unsigned)(p >> 16 >> 16), (unsigned)(p & 0xffffffffu));
	return 0;
}
#endif

/* One mapping per fiber: a guard page, the stack, and this struct at its
 * top, so that a fiber is one mmap (and none when the pool has one). */
struct fiber {
	struct context self;    /* where the fiber stands while it is not running */
	struct context caller;  /* who resumed it last */
	fiber_fn *fn;
	void *arg;
	bool done;
	char *base;          /* the mapping: guard page, then the stack */
	char *stack_lo;      /* the stack: [stack_lo, this struct) */
	size_t stack_bytes;
	char *sp;            /* about where a yielded fiber's stack ends */
	unsigned valgrind_id;  /* its registration with valgrind */
#ifdef FIBER_ASAN
	void *fake_stack;
	const void *caller_bottom;
	size_t caller_size;
#endif
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static char *pool[POOL_MAX];   /* idle mappings; guarded by pool_lock */
static int n_pool;             /* guarded by pool_lock */

static size_t page_bytes(void)
{
	static long page;
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	return (size_t)page;
}

static size_t map_bytes(void)
{
	return STACK_BYTES + page_bytes();
}

/* A mapping for one fiber: from the pool, else a new one. NULL: none. */
static char *map_get(void)
{
	pthread_mutex_lock(&pool_lock);
	char *m = n_pool ? pool[--n_pool] : NULL;
	pthread_mutex_unlock(&pool_lock);
	if (m)
		return m;
	m = mmap(NULL, map_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		 -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m, page_bytes(), PROT_NONE) != 0) {  /* an overflow faults, never writes past */
		munmap(m, map_bytes());
		return NULL;
	}
	return m;
}

static void map_put(char *m)
{
	pthread_mutex_lock(&pool_lock);
	if (n_pool < POOL_MAX) {
		pool[n_pool++] = m;
		m = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (m)
		munmap(m, map_bytes());
}

static void start_switch(struct fiber *f, void **save, const void *bottom, size_t size)
{
#ifdef FIBER_ASAN
	__sanitizer_start_switch_fiber(save, bottom, size);
#endif
	(void)f; (void)save; (void)bottom; (void)size;
}

static void finish_switch(struct fiber *f, void *save, const void **bottom, size_t *size)
{
#ifdef FIBER_ASAN
	__sanitizer_finish_switch_fiber(save, bottom, size);
#endif
	(void)f; (void)save; (void)bottom; (void)size;
}

/* Where every fiber starts: its function, then back for good. */
static void entry(void *arg)
{
	struct fiber *f = arg;
#ifdef FIBER_ASAN
	finish_switch(f, NULL, &f->caller_bottom, &f->caller_size);
#endif
	f->fn(f->arg);
	f->done = true;
#ifdef FIBER_ASAN
	start_switch(f, NULL, f->caller_bottom, f->caller_size);  /* NULL: this stack is done */
#endif
	switch_context(&f->self, &f->caller);
}

struct fiber *fiber_new(fiber_fn *fn, void *arg)
{
	char *m = map_get();
	if (!m) {
		log_warn("fiber: cannot map a stack of %ld KiB", STACK_BYTES >> 10);
		return NULL;
	}
	/* the struct at the top of the mapping, aligned; the stack below it */
	uintptr_t top = ((uintptr_t)m + map_bytes() - sizeof(struct fiber)) & ~(uintptr_t)63;
	struct fiber *f = (struct fiber *)top;
	memset(f, 0, sizeof *f);
	f->fn = fn;
	f->arg = arg;
	f->base = m;
	f->stack_lo = m + page_bytes();
	f->stack_bytes = (size_t)((char *)f - f->stack_lo);
#ifdef FIBER_ASAN
	/* a fiber that ended left its last frame's redzones poisoned */
	__asan_unpoison_memory_region(f->stack_lo, f->stack_bytes);
#endif
	if (make_context(&f->self, f->stack_lo, (char *)f, entry, f) != 0) {
		map_put(m);
		return NULL;
	}
#ifdef FIBER_VALGRIND
	f->valgrind_id = VALGRIND_STACK_REGISTER(m + page_bytes(), (char *)f);
#endif
	return f;
}

bool fiber_resume(struct fiber *f)
{
	void *save = NULL;
	start_switch(f, &save, f->stack_lo, f->stack_bytes);
	switch_context(&f->caller, &f->self);
	finish_switch(f, save, NULL, NULL);
	return f->done;
}

void fiber_yield(struct fiber *f)
{
	char here;
	f->sp = &here;
#ifdef FIBER_ASAN
	start_switch(f, &f->fake_stack, f->caller_bottom, f->caller_size);
#endif
	switch_context(&f->self, &f->caller);
#ifdef FIBER_ASAN
	finish_switch(f, f->fake_stack, &f->caller_bottom, &f->caller_size);
#endif
}

void fiber_trim(struct fiber *f)
{
#ifndef FIBER_ASAN
	/* below sp: the rest of fiber_yield and swapcontext (a few hundred bytes), then dead frames */
	char *lo = f->base + page_bytes();
	uintptr_t hi = ((uintptr_t)f->sp - 512) & ~(uintptr_t)(page_bytes() - 1);
	if (f->sp && hi > (uintptr_t)lo)
		madvise(lo, hi - (uintptr_t)lo, MADV_DONTNEED);
#else
	(void)f;  /* ASan keeps its own records of the stack's frames */
#endif
}

void fiber_free(struct fiber *f)
{
	if (!f)
		return;
#ifdef FIBER_VALGRIND
	VALGRIND_STACK_DEREGISTER(f->valgrind_id);
#endif
	map_put(f->base);
}
