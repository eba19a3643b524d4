/* procman.c: the master of --processes N: forks the workers, replaces the dead, passes stops on, reloads on SIGHUP */
#include "procman.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "procman_plan.h"

#define EX_SOFTWARE_ 70

/* The master's plan is large (room for every slot and retiring worker):
 * static, as there is one master per process. */
static struct pm_plan plan;
static int ready_pipe[2] = { -1, -1 };  /* workers write their pid here once serving */
static int signal_fd = -1;
static bool in_worker;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool procman_in_worker(void)
{
	return in_worker;
}

void procman_worker_ready(void)
{
	if (ready_pipe[1] < 0)
		return;
	pid_t self = getpid();
	/* One write of a few bytes into a pipe is atomic: records from
	 * several workers never mix. */
	if (write(ready_pipe[1], &self, sizeof self) != (ssize_t)sizeof self)
		log_warn("master: cannot tell the master this worker is ready: %s", strerror(errno));
	close(ready_pipe[1]);
	ready_pipe[1] = -1;
}

/* The child side of a fork: a worker that dies with the master, so that
 * nothing is orphaned when the master is killed. */
static void become_worker(pid_t master, const struct procman_hooks *h)
{
	/* SIGTERM, as from the master: the worker finishes its requests. It
	 * stays blocked (as in the master) until the worker waits for it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != master)
		_exit(0); /* the master died between fork() and prctl() */
	in_worker = true;
	close(signal_fd);
	close(ready_pipe[0]);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	exit(h->run_worker());
}

static void start_workers(const struct procman_hooks *h, pid_t master)
{
	for (;;) {
		int64_t now = now_ms();
		struct pm_action a = pm_next(&plan, now);
		if (a.kind == PM_NOTHING)
			return;
		pid_t pid = fork();
		if (pid == 0)
			become_worker(master, h);
		if (pid < 0) {
			log_error("master: cannot start a worker: %s", strerror(errno));
			pm_start_failed(&plan, &a, now);
			continue;
		}
		pm_started(&plan, &a, pid, now);
		if (a.kind == PM_START_SUCCESSOR)
			log_info("master: reload: started worker %d to take over from worker %d",
				 (int)pid, (int)plan.slots[a.slot].w.pid);
	}
}

static void stop_all(void)
{
	pid_t pids[PM_MAX_PROCESSES + 1 + PM_MAX_RETIRING];
	size_t n = pm_stop(&plan, pids);
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
}

static void reap(void)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		char how[96];
		pm_describe_status(st, how, sizeof how);
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		struct pm_exit e = pm_exited(&plan, pid, code, now_ms());
		switch (e.kind) {
		case PM_EXIT_RETIRED:
			if (code == 0)
				log_info("master: worker %d %s after finishing its requests", (int)pid, how);
			else
				log_warn("master: worker %d %s while it was stopping", (int)pid, how);
			break;
		case PM_EXIT_RESTART:
			if (e.refused)
				log_error("master: worker %d %s: its settings were refused at start; "
					  "trying again in %ld ms", (int)pid, how, e.restart_in_ms);
			else if (e.restart_in_ms)
				log_error("master: worker %d %s; it died soon after starting, so the next "
					  "one starts in %ld ms", (int)pid, how, e.restart_in_ms);
			else
				log_error("master: worker %d %s; starting another now", (int)pid, how);
			break;
		case PM_EXIT_RELOAD_FAILED:
			log_error("master: reload abandoned: the new worker %d %s before it was ready%s; "
				  "the running workers keep serving", (int)pid, how,
				  e.refused ? " (its settings were refused)" : "");
			break;
		case PM_EXIT_UNKNOWN:
			break;
		}
	}
	if (plan.gave_up && !plan.stopping) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "master: every worker was refused its settings "
			"at start (exit 78); stopping instead of retrying");
		stop_all();
	}
}

static void read_ready(void)
{
	pid_t pids[64];
	ssize_t got;
	while ((got = read(ready_pipe[0], pids, sizeof pids)) > 0) {
		for (size_t i = 0; i < (size_t)got / sizeof pids[0]; i++) {
			pid_t old = pm_ready(&plan, pids[i]);
			if (old) {
				log_info("master: reload: worker %d is serving; worker %d stops once its "
					 "requests are done", (int)pids[i], (int)old);
				kill(old, SIGTERM);
			}
		}
	}
}

static void on_signal(const struct signalfd_siginfo *si, const struct procman_hooks *h)
{
	int sig = (int)si->ssi_signo;
	if (sig == SIGCHLD) {
		reap();
	} else if (plan.stopping) {
		/* already stopping: the workers have been told */
	} else if (sig == SIGHUP) {
		if (h->reload_settings() == 0) {
			pm_reload(&plan);
			log_info("master: SIGHUP: settings accepted; replacing the workers one by one");
		} else {
			log_error("master: SIGHUP: the settings were refused (see above); the running "
				  "workers keep serving with the previous ones");
		}
	} else {
		log_info("master: SIG%s: the workers finish their requests in flight, then stop",
			 pm_signal_name(sig) ? pm_signal_name(sig) : "?");
		stop_all();
	}
}

int procman_run(size_t processes, const struct procman_hooks *h)
{
	pid_t master = getpid();
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0 || pipe2(ready_pipe, O_CLOEXEC) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "master: cannot set up: %s", strerror(errno));
		return EX_SOFTWARE_;
	}
	fcntl(ready_pipe[0], F_SETFL, fcntl(ready_pipe[0], F_GETFL) | O_NONBLOCK);
	pm_init(&plan, processes, now_ms());
	log_info("master: managing %zu worker processes", plan.n);

	for (;;) {
		start_workers(h, master);
		if (plan.stopping && pm_count(&plan) == 0)
			break;
		struct pm_action next = pm_next(&plan, now_ms());
		struct pollfd p[2] = { { signal_fd, POLLIN, 0 }, { ready_pipe[0], POLLIN, 0 } };
		int n = poll(p, 2, next.wait_ms < 0 ? -1 : (int)(next.wait_ms + 1));
		if (n < 0 && errno != EINTR) {
			log_msg(LOG_CRITICAL, __FILE__, __LINE__, "master: poll: %s", strerror(errno));
			stop_all();
			continue;
		}
		if (n > 0 && (p[1].revents & POLLIN))
			read_ready();
		struct signalfd_siginfo si;
		while (read(signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
			on_signal(&si, h);
	}
	int rc = plan.gave_up ? PM_EXIT_CONFIG : 0;
	log_info("master: every worker has stopped; exiting %d", rc);
	close(signal_fd);
	close(ready_pipe[0]);
	close(ready_pipe[1]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
