/* procman_plan.c: the process manager's bookkeeping, pure: which worker to start or stop, and when */
#include "procman_plan.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

void pm_init(struct pm_plan *plan, size_t n, int64_t now_ms)
{
	memset(plan, 0, sizeof *plan);
	plan->n = n > PM_MAX_PROCESSES ? PM_MAX_PROCESSES : n;
	for (size_t i = 0; i < plan->n; i++)
		plan->slots[i].due_ms = now_ms;
}

long pm_backoff_ms(unsigned streak)
{
	long ms = PM_BACKOFF_FIRST_MS;
	for (unsigned i = 1; i < streak && ms < PM_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms > PM_BACKOFF_MAX_MS ? PM_BACKOFF_MAX_MS : ms;
}

/* The first slot whose ready worker predates the last reload: the next one
 * SIGHUP replaces. Workers still starting are replaced once they are ready,
 * so that a reload never stops a worker that has not served yet. */
static bool stale_slot(const struct pm_plan *plan, size_t *slot)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct pm_worker *w = &plan->slots[i].w;
		if (w->pid && w->ready && w->gen != plan->gen) {
			*slot = i;
			return true;
		}
	}
	return false;
}

struct pm_action pm_next(const struct pm_plan *plan, int64_t now_ms)
{
	struct pm_action a = { PM_NOTHING, 0, -1 };
	if (plan->stopping || plan->gave_up)
		return a;
	for (size_t i = 0; i < plan->n; i++) {
		const struct pm_slot *s = &plan->slots[i];
		if (s->w.pid || (plan->successor.pid && plan->successor_slot == i))
			continue;
		if (s->due_ms <= now_ms) {
			a.kind = PM_START_SLOT;
			a.slot = i;
			return a;
		}
		long wait = (long)(s->due_ms - now_ms);
		if (a.wait_ms < 0 || wait < a.wait_ms)
			a.wait_ms = wait;
	}
	size_t slot;
	if (!plan->successor.pid && plan->abandoned_gen != plan->gen &&
	    plan->n_retiring < PM_MAX_RETIRING && stale_slot(plan, &slot)) {
		a.kind = PM_START_SUCCESSOR;
		a.slot = slot;
		a.wait_ms = -1;
	}
	return a;
}

void pm_started(struct pm_plan *plan, const struct pm_action *a, pid_t pid, int64_t now_ms)
{
	struct pm_worker w = { pid, false, plan->gen, now_ms };
	if (a->kind == PM_START_SLOT) {
		plan->slots[a->slot].w = w;
	} else if (a->kind == PM_START_SUCCESSOR) {
		plan->successor = w;
		plan->successor_slot = a->slot;
	}
}

void pm_start_failed(struct pm_plan *plan, const struct pm_action *a, int64_t now_ms)
{
	if (a->kind == PM_START_SLOT)
		plan->slots[a->slot].due_ms = now_ms + PM_BACKOFF_MAX_MS;
	else if (a->kind == PM_START_SUCCESSOR)
		plan->abandoned_gen = plan->gen;
}

static void retire(struct pm_plan *plan, pid_t pid)
{
	/* pm_next() starts no successor while the list is full, so there is room. */
	if (plan->n_retiring < PM_MAX_RETIRING)
		plan->retiring[plan->n_retiring++] = pid;
}

pid_t pm_ready(struct pm_plan *plan, pid_t pid)
{
	if (plan->successor.pid == pid) {
		struct pm_slot *s = &plan->slots[plan->successor_slot];
		pid_t old = s->w.pid;
		s->w = plan->successor;
		s->w.ready = true;
		s->refused = false;
		memset(&plan->successor, 0, sizeof plan->successor);
		if (old)
			retire(plan, old);
		return old;
	}
	for (size_t i = 0; i < plan->n; i++)
		if (plan->slots[i].w.pid == pid) {
			plan->slots[i].w.ready = true;
			plan->slots[i].refused = false;
		}
	return 0;
}

/* Has every slot's last worker been refused, with none serving? Then the
 * settings cannot work and restarting would only loop. */
static bool all_refused(const struct pm_plan *plan)
{
	if (plan->successor.pid && plan->successor.ready)
		return false;
	for (size_t i = 0; i < plan->n; i++)
		if (!plan->slots[i].refused || (plan->slots[i].w.pid && plan->slots[i].w.ready))
			return false;
	return true;
}

struct pm_exit pm_exited(struct pm_plan *plan, pid_t pid, int code, int64_t now_ms)
{
	struct pm_exit e = { PM_EXIT_UNKNOWN, 0, false };
	for (size_t i = 0; i < plan->n_retiring; i++)
		if (plan->retiring[i] == pid) {
			plan->retiring[i] = plan->retiring[--plan->n_retiring];
			e.kind = PM_EXIT_RETIRED;
			return e;
		}
	if (plan->successor.pid == pid) {
		e.kind = plan->stopping ? PM_EXIT_RETIRED : PM_EXIT_RELOAD_FAILED;
		e.refused = code == PM_EXIT_CONFIG;
		memset(&plan->successor, 0, sizeof plan->successor);
		plan->abandoned_gen = plan->gen;
		return e;
	}
	for (size_t i = 0; i < plan->n; i++) {
		struct pm_slot *s = &plan->slots[i];
		if (s->w.pid != pid)
			continue;
		if (plan->stopping) {
			e.kind = PM_EXIT_RETIRED;
		} else {
			e.kind = PM_EXIT_RESTART;
			e.refused = !s->w.ready && code == PM_EXIT_CONFIG;
			s->refused = e.refused;
			if (now_ms - s->w.started_ms >= PM_STABLE_MS) {
				s->streak = 0;
			} else {
				s->streak++;
				e.restart_in_ms = pm_backoff_ms(s->streak);
			}
			s->due_ms = now_ms + e.restart_in_ms;
		}
		memset(&s->w, 0, sizeof s->w);
		if (e.refused && all_refused(plan))
			plan->gave_up = true;
		return e;
	}
	return e;
}

void pm_reload(struct pm_plan *plan)
{
	plan->gen++;
}

size_t pm_count(const struct pm_plan *plan)
{
	size_t n = plan->n_retiring + (plan->successor.pid != 0);
	for (size_t i = 0; i < plan->n; i++)
		n += plan->slots[i].w.pid != 0;
	return n;
}

size_t pm_stop(struct pm_plan *plan, pid_t *pids)
{
	size_t n = 0;
	plan->stopping = true;
	for (size_t i = 0; i < plan->n; i++)
		if (plan->slots[i].w.pid)
			pids[n++] = plan->slots[i].w.pid;
	if (plan->successor.pid)
		pids[n++] = plan->successor.pid;
	for (size_t i = 0; i < plan->n_retiring; i++)
		pids[n++] = plan->retiring[i];
	return n;
}

const char *pm_signal_name(int sig)
{
	/* glibc's sigabbrev_np() is not in musl (the static build): the
	 * signals a worker dies of or a master is sent, by name */
	static const struct { int sig; const char *name; } names[] = {
		{ SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGILL, "ILL" },
		{ SIGTRAP, "TRAP" }, { SIGABRT, "ABRT" }, { SIGBUS, "BUS" }, { SIGFPE, "FPE" },
		{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" }, { SIGSEGV, "SEGV" }, { SIGUSR2, "USR2" },
		{ SIGPIPE, "PIPE" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" }, { SIGCHLD, "CHLD" },
		{ SIGXCPU, "XCPU" }, { SIGXFSZ, "XFSZ" }, { SIGSYS, "SYS" },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].sig == sig)
			return names[i].name;
	return NULL;
}

void pm_describe_status(int wstatus, char *out, size_t n)
{
	if (WIFEXITED(wstatus)) {
		snprintf(out, n, "exited with status %d", WEXITSTATUS(wstatus));
	} else if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		const char *name = pm_signal_name(sig);
		snprintf(out, n, "was killed by signal %d (SIG%s)%s", sig, name ? name : "?",
			 WCOREDUMP(wstatus) ? ", core dumped" : "");
	} else {
		snprintf(out, n, "ended with wait status 0x%x", (unsigned)wstatus);
	}
}
