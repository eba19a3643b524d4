/* test_procman_plan.c: the process manager's bookkeeping: backoff, replacement, reload hand-over, giving up */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "procman_plan.h"

static struct pm_plan plan;

/* Starts whatever the plan asks for at now, numbering pids from *next_pid. */
static size_t start_due(int64_t now, pid_t *next_pid)
{
	size_t started = 0;
	for (;;) {
		struct pm_action a = pm_next(&plan, now);
		if (a.kind == PM_NOTHING)
			return started;
		pm_started(&plan, &a, (*next_pid)++, now);
		started++;
	}
}

/* n slots whose workers (pids 100, 101, ...) all serve; returns the next pid. */
static pid_t serving(size_t n)
{
	pid_t next = 100;
	pm_init(&plan, n, 0);
	start_due(0, &next);
	for (pid_t p = 100; p < next; p++)
		pm_ready(&plan, p);
	return next;
}

static void test_backoff_doubles_to_the_cap(void **state)
{
	(void)state;
	assert_int_equal(pm_backoff_ms(1), 100);
	assert_int_equal(pm_backoff_ms(2), 200);
	assert_int_equal(pm_backoff_ms(3), 400);
	assert_int_equal(pm_backoff_ms(7), 6400);
	assert_int_equal(pm_backoff_ms(8), PM_BACKOFF_MAX_MS);
	assert_int_equal(pm_backoff_ms(1000), PM_BACKOFF_MAX_MS);
}

static void test_starts_every_slot_then_waits(void **state)
{
	(void)state;
	pid_t next = 100;
	pm_init(&plan, 3, 0);
	assert_int_equal(start_due(0, &next), 3);
	assert_int_equal(pm_count(&plan), 3);
	struct pm_action a = pm_next(&plan, 0);
	assert_int_equal(a.kind, PM_NOTHING);
	assert_int_equal(a.wait_ms, -1);
}

static void test_a_long_lived_worker_is_replaced_at_once(void **state)
{
	(void)state;
	serving(2);
	struct pm_exit e = pm_exited(&plan, 101, -1, PM_STABLE_MS + 5);
	assert_int_equal(e.kind, PM_EXIT_RESTART);
	assert_int_equal(e.restart_in_ms, 0);
	assert_false(e.refused);
	struct pm_action a = pm_next(&plan, PM_STABLE_MS + 5);
	assert_int_equal(a.kind, PM_START_SLOT);
	assert_int_equal(a.slot, 1);
}

static void test_quick_deaths_back_off_and_a_stable_run_resets(void **state)
{
	(void)state;
	pid_t next = 100;
	int64_t now = 0;
	pm_init(&plan, 1, now);
	start_due(now, &next);
	long want[] = { 100, 200, 400, 800, 1600 };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		pid_t pid = plan.slots[0].w.pid;
		pm_ready(&plan, pid);
		now += 50; /* dies 50 ms after it started */
		struct pm_exit e = pm_exited(&plan, pid, -1, now);
		assert_int_equal(e.kind, PM_EXIT_RESTART);
		assert_int_equal(e.restart_in_ms, want[i]);
		/* nothing before the delay, the restart once it is over */
		struct pm_action a = pm_next(&plan, now + want[i] - 1);
		assert_int_equal(a.kind, PM_NOTHING);
		assert_int_equal(a.wait_ms, 1);
		now += want[i];
		assert_int_equal(start_due(now, &next), 1);
	}
	/* this one stays up: its death restarts at once and resets the streak */
	pid_t pid = plan.slots[0].w.pid;
	pm_ready(&plan, pid);
	now += PM_STABLE_MS;
	assert_int_equal(pm_exited(&plan, pid, 0, now).restart_in_ms, 0);
	start_due(now, &next);
	pid = plan.slots[0].w.pid;
	assert_int_equal(pm_exited(&plan, pid, 1, now + 10).restart_in_ms, 100);
}

static void test_each_slot_has_its_own_backoff(void **state)
{
	(void)state;
	pid_t next = 100;
	pm_init(&plan, 2, 0);
	start_due(0, &next);
	pm_exited(&plan, 100, -1, 10);
	start_due(110, &next);
	assert_int_equal(pm_exited(&plan, 102, -1, 120).restart_in_ms, 200);
	/* slot 1 never died: its first quick death starts the schedule */
	assert_int_equal(pm_exited(&plan, 101, -1, 130).restart_in_ms, 100);
}

static void test_every_worker_refused_gives_up(void **state)
{
	(void)state;
	pid_t next = 100;
	pm_init(&plan, 3, 0);
	start_due(0, &next);
	struct pm_exit e = pm_exited(&plan, 100, PM_EXIT_CONFIG, 5);
	assert_true(e.refused);
	assert_false(plan.gave_up);
	pm_exited(&plan, 101, PM_EXIT_CONFIG, 6);
	assert_false(plan.gave_up);
	/* slot 0 is being retried when the last one is refused: still give up */
	start_due(200, &next);
	pm_exited(&plan, 102, PM_EXIT_CONFIG, 210);
	assert_true(plan.gave_up);
	assert_int_equal(pm_next(&plan, 10000).kind, PM_NOTHING);
}

static void test_refusals_with_one_serving_do_not_give_up(void **state)
{
	(void)state;
	pid_t next = 100;
	pm_init(&plan, 2, 0);
	start_due(0, &next);
	pm_ready(&plan, 100);
	pm_exited(&plan, 101, PM_EXIT_CONFIG, 5);
	assert_false(plan.gave_up);
	/* a 78 after it served is a crash like any other, not a refusal */
	struct pm_exit e = pm_exited(&plan, 100, PM_EXIT_CONFIG, 6);
	assert_false(e.refused);
	assert_false(plan.gave_up);
}

static void test_reload_replaces_one_by_one(void **state)
{
	(void)state;
	serving(2);
	pm_reload(&plan);

	/* one new worker first; nothing is stopped before it is ready */
	struct pm_action a = pm_next(&plan, 1);
	assert_int_equal(a.kind, PM_START_SUCCESSOR);
	assert_int_equal(a.slot, 0);
	pm_started(&plan, &a, 200, 1);
	assert_int_equal(pm_next(&plan, 1).kind, PM_NOTHING);
	assert_int_equal(pm_count(&plan), 3);
	assert_int_equal(pm_ready(&plan, 200), 100);   /* now stop 100 */
	assert_int_equal(plan.slots[0].w.pid, 200);

	/* the next slot, while 100 still finishes its requests */
	a = pm_next(&plan, 2);
	assert_int_equal(a.kind, PM_START_SUCCESSOR);
	assert_int_equal(a.slot, 1);
	pm_started(&plan, &a, 201, 2);
	assert_int_equal(pm_exited(&plan, 100, 0, 3).kind, PM_EXIT_RETIRED);
	assert_int_equal(pm_ready(&plan, 201), 101);
	assert_int_equal(pm_exited(&plan, 101, 0, 4).kind, PM_EXIT_RETIRED);
	assert_int_equal(pm_next(&plan, 5).kind, PM_NOTHING);
	assert_int_equal(pm_count(&plan), 2);
}

static void test_reload_waits_for_a_starting_worker(void **state)
{
	(void)state;
	pid_t next = 100;
	pm_init(&plan, 1, 0);
	start_due(0, &next);
	pm_reload(&plan);
	/* 100 has not served yet: it is replaced once it has */
	assert_int_equal(pm_next(&plan, 1).kind, PM_NOTHING);
	pm_ready(&plan, 100);
	assert_int_equal(pm_next(&plan, 2).kind, PM_START_SUCCESSOR);
}

static void test_a_failed_successor_abandons_the_reload(void **state)
{
	(void)state;
	serving(2);
	pm_reload(&plan);
	struct pm_action a = pm_next(&plan, 1);
	pm_started(&plan, &a, 200, 1);
	struct pm_exit e = pm_exited(&plan, 200, PM_EXIT_CONFIG, 2);
	assert_int_equal(e.kind, PM_EXIT_RELOAD_FAILED);
	assert_true(e.refused);
	/* the old workers stay, and this reload is not retried in a loop */
	assert_int_equal(plan.slots[0].w.pid, 100);
	assert_int_equal(plan.slots[1].w.pid, 101);
	assert_int_equal(pm_next(&plan, 3).kind, PM_NOTHING);
	assert_false(plan.gave_up);
	/* the next SIGHUP tries again */
	pm_reload(&plan);
	assert_int_equal(pm_next(&plan, 4).kind, PM_START_SUCCESSOR);
}

static void test_a_slot_that_died_during_reload_gets_the_successor(void **state)
{
	(void)state;
	serving(1);
	pm_reload(&plan);
	struct pm_action a = pm_next(&plan, 1);
	pm_started(&plan, &a, 200, 1);
	pm_exited(&plan, 100, -1, 2);
	/* the successor will fill the slot: no second worker for it */
	assert_int_equal(pm_next(&plan, 1000).kind, PM_NOTHING);
	assert_int_equal(pm_ready(&plan, 200), 0);
	assert_int_equal(plan.slots[0].w.pid, 200);
	assert_int_equal(pm_count(&plan), 1);
}

static void test_stop_lists_every_worker_and_starts_nothing(void **state)
{
	(void)state;
	pid_t next = 100;
	pid_t pids[8];
	pm_init(&plan, 2, 0);
	start_due(0, &next);
	pm_ready(&plan, 100);
	pm_ready(&plan, 101);
	pm_reload(&plan);
	struct pm_action a = pm_next(&plan, 1);
	pm_started(&plan, &a, 200, 1);
	pm_ready(&plan, 200);                 /* 100 retiring */
	a = pm_next(&plan, 2);
	pm_started(&plan, &a, 201, 2);        /* successor for slot 1 */
	size_t n = pm_stop(&plan, pids);
	assert_int_equal(n, 4);
	assert_int_equal(pm_exited(&plan, 101, 0, 3).kind, PM_EXIT_RETIRED);
	assert_int_equal(pm_exited(&plan, 201, 0, 3).kind, PM_EXIT_RETIRED);
	assert_int_equal(pm_exited(&plan, 100, 0, 3).kind, PM_EXIT_RETIRED);
	assert_int_equal(pm_exited(&plan, 200, -1, 3).kind, PM_EXIT_RETIRED);
	assert_int_equal(pm_count(&plan), 0);
	assert_int_equal(pm_next(&plan, 100000).kind, PM_NOTHING);
	assert_int_equal(pm_exited(&plan, 999, 0, 4).kind, PM_EXIT_UNKNOWN);
}

static void test_describe_status(void **state)
{
	(void)state;
	char buf[96];
	pm_describe_status(3 << 8, buf, sizeof buf);
	assert_string_equal(buf, "exited with status 3");
	pm_describe_status(SIGKILL, buf, sizeof buf);
	assert_string_equal(buf, "was killed by signal 9 (SIGKILL)");
	pm_describe_status(SIGSEGV | 0x80, buf, sizeof buf);
	assert_string_equal(buf, "was killed by signal 11 (SIGSEGV), core dumped");
}

/* Named without glibc's sigabbrev_np, which the static (musl) build lacks. */
static void test_signal_names(void **state)
{
	(void)state;
	assert_string_equal(pm_signal_name(SIGKILL), "KILL");
	assert_string_equal(pm_signal_name(SIGTERM), "TERM");
	assert_string_equal(pm_signal_name(SIGSEGV), "SEGV");
	assert_string_equal(pm_signal_name(SIGHUP), "HUP");
	assert_null(pm_signal_name(0));
	assert_null(pm_signal_name(SIGRTMIN + 3));
	char out[96];
	pm_describe_status(SIGKILL, out, sizeof out);  /* a status as waitpid() gives it for SIGKILL */
	assert_string_equal(out, "was killed by signal 9 (SIGKILL)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_names),
		cmocka_unit_test(test_backoff_doubles_to_the_cap),
		cmocka_unit_test(test_starts_every_slot_then_waits),
		cmocka_unit_test(test_a_long_lived_worker_is_replaced_at_once),
		cmocka_unit_test(test_quick_deaths_back_off_and_a_stable_run_resets),
		cmocka_unit_test(test_each_slot_has_its_own_backoff),
		cmocka_unit_test(test_every_worker_refused_gives_up),
		cmocka_unit_test(test_refusals_with_one_serving_do_not_give_up),
		cmocka_unit_test(test_reload_replaces_one_by_one),
		cmocka_unit_test(test_reload_waits_for_a_starting_worker),
		cmocka_unit_test(test_a_failed_successor_abandons_the_reload),
		cmocka_unit_test(test_a_slot_that_died_during_reload_gets_the_successor),
		cmocka_unit_test(test_stop_lists_every_worker_and_starts_nothing),
		cmocka_unit_test(test_describe_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
