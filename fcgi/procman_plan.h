/* procman_plan.h: the process manager's bookkeeping, pure: which worker to start or stop, and when */
#ifndef OAF_PROCMAN_PLAN_H
#define OAF_PROCMAN_PLAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A worker that dies sooner than PM_STABLE_MS after it started is
 * restarted after a delay that doubles from PM_BACKOFF_FIRST_MS up to
 * PM_BACKOFF_MAX_MS; one that ran longer is restarted at once. */
#define PM_BACKOFF_FIRST_MS 100
#define PM_BACKOFF_MAX_MS   10000
#define PM_STABLE_MS        10000

#define PM_MAX_PROCESSES 256
/* Old workers still finishing their requests after SIGHUP replaced them;
 * a reload waits for some to end rather than keep more. */
#define PM_MAX_RETIRING (2 * PM_MAX_PROCESSES)

/* The exit status of a worker whose settings were refused (EX_CONFIG). */
#define PM_EXIT_CONFIG 78

struct pm_worker {
	pid_t pid;          /* 0: none */
	bool ready;         /* it said it accepts requests */
	unsigned gen;       /* the configuration generation it was started in */
	int64_t started_ms;
};

/* One of the N places a serving worker fills. */
struct pm_slot {
	struct pm_worker w;
	int64_t due_ms;     /* no worker: when to start the next one */
	unsigned streak;    /* deaths in a row, each soon after its start */
	bool refused;       /* the last worker here exited 78 before it was ready */
};

struct pm_plan {
	size_t n;
	struct pm_slot slots[PM_MAX_PROCESSES];
	unsigned gen;                 /* bumped by each accepted reload */
	unsigned abandoned_gen;       /* a reload whose new worker failed: not retried */
	struct pm_worker successor;   /* SIGHUP: the new worker that will take over successor_slot */
	size_t successor_slot;
	pid_t retiring[PM_MAX_RETIRING];  /* told to stop; their end is expected */
	size_t n_retiring;
	bool stopping;
	bool gave_up;                 /* every slot's last worker was refused */
};

enum pm_action_kind {
	PM_NOTHING,         /* wait: wait_ms (-1: until an event) */
	PM_START_SLOT,      /* fork a worker for slot, then pm_started() */
	PM_START_SUCCESSOR, /* fork the reload's new worker, then pm_started() */
};

struct pm_action {
	enum pm_action_kind kind;
	size_t slot;
	long wait_ms;
};

/* What a worker's end meant, for the log line and the master's next move. */
enum pm_exit_kind {
	PM_EXIT_UNKNOWN,      /* not a pid of ours */
	PM_EXIT_RETIRED,      /* one we asked to stop (reload or stop) */
	PM_EXIT_RESTART,      /* a serving worker died: restart_in_ms says when */
	PM_EXIT_RELOAD_FAILED,/* the reload's new worker died before it was ready */
};

struct pm_exit {
	enum pm_exit_kind kind;
	long restart_in_ms;
	bool refused;         /* it exited 78 before it was ready */
};

/* Resets plan for n (1..PM_MAX_PROCESSES) slots, all due at now_ms. */
void pm_init(struct pm_plan *plan, size_t n, int64_t now_ms);

/* The delay before restarting after the streak-th quick death in a row
 * (streak >= 1): 100 ms, 200 ms, ... capped at PM_BACKOFF_MAX_MS. */
long pm_backoff_ms(unsigned streak);

/* The next thing the master should do at now_ms. Call again after doing
 * it (and recording it with pm_started()) until it says PM_NOTHING. */
struct pm_action pm_next(const struct pm_plan *plan, int64_t now_ms);

/* Records that the worker for action a was forked as pid. */
void pm_started(struct pm_plan *plan, const struct pm_action *a, pid_t pid, int64_t now_ms);

/* The worker for action a could not be forked: a slot is tried again
 * after PM_BACKOFF_MAX_MS, a reload is abandoned. */
void pm_start_failed(struct pm_plan *plan, const struct pm_action *a, int64_t now_ms);

/* Records that pid accepts requests. Returns the pid of an old worker the
 * master must now stop gracefully (SIGHUP's hand-over), or 0. */
pid_t pm_ready(struct pm_plan *plan, pid_t pid);

/* Records that pid ended with exit status code (or by a signal: code -1). */
struct pm_exit pm_exited(struct pm_plan *plan, pid_t pid, int code, int64_t now_ms);

/* An accepted reload: every worker started before it gets replaced, one by one. */
void pm_reload(struct pm_plan *plan);

/* Stopping: nothing more is started. Fills pids (room for pm_count())
 * with every worker to signal and returns how many. */
size_t pm_stop(struct pm_plan *plan, pid_t *pids);

/* The name of signal sig without its "SIG" ("KILL", "TERM"), or NULL for
 * one it does not know. */
const char *pm_signal_name(int sig);

/* Writes how a worker ended, from waitpid()'s status, into out (n bytes):
 * "exited with status 3", "was killed by signal 9 (SIGKILL)". */
void pm_describe_status(int wstatus, char *out, size_t n);

/* How many workers are alive (serving, starting, successor, retiring). */
size_t pm_count(const struct pm_plan *plan);

#endif
