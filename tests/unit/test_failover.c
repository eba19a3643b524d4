/* test_failover.c: failover.c: the order deployments are tried in, and which failures move on */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "failover.h"

static struct deployment_cfg dep(long priority, long weight)
{
	struct deployment_cfg d;
	memset(&d, 0, sizeof d);
	d.priority = priority;
	d.weight = weight;
	return d;
}

/* Priority groups in order, every healthy one once, whatever the seed. */
static void test_order_groups_first_then_next(void **state)
{
	(void)state;
	struct deployment_cfg deps[] = { dep(2, 1), dep(0, 1), dep(1, 5), dep(0, 3), dep(1, 1) };
	bool cooling[5] = { false };
	int64_t until[5] = { 0 };
	for (uint64_t seed = 0; seed < 200; seed++) {
		size_t order[FO_MAX_DEPLOYMENTS];
		assert_int_equal(fo_order(deps, 5, cooling, until, seed, order), 5);
		long last = -1;
		bool seen[5] = { false };
		for (size_t i = 0; i < 5; i++) {
			assert_true(deps[order[i]].priority >= last);
			last = deps[order[i]].priority;
			assert_false(seen[order[i]]);
			seen[order[i]] = true;
		}
		assert_int_equal(order[4], 0);  /* the only one of priority 2 */
	}
}

/* Within a group, a weight of 3 goes first about three times as often. */
static void test_order_weights_within_group(void **state)
{
	(void)state;
	struct deployment_cfg deps[] = { dep(0, 1), dep(0, 3) };
	bool cooling[2] = { false, false };
	int64_t until[2] = { 0, 0 };
	int first_heavy = 0;
	for (uint64_t seed = 0; seed < 4000; seed++) {
		size_t order[FO_MAX_DEPLOYMENTS];
		fo_order(deps, 2, cooling, until, seed, order);
		first_heavy += order[0] == 1;
	}
	assert_in_range(first_heavy, 2800, 3200);  /* 3000 expected */
}

/* Cooling ones are skipped; with all cooling, the one ending first, alone. */
static void test_order_skips_cooling_and_probes_soonest(void **state)
{
	(void)state;
	struct deployment_cfg deps[] = { dep(0, 1), dep(0, 1), dep(1, 1) };
	bool cooling[3] = { true, false, false };
	int64_t until[3] = { 5000, 0, 0 };
	size_t order[FO_MAX_DEPLOYMENTS];
	assert_int_equal(fo_order(deps, 3, cooling, until, 7, order), 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	bool all[3] = { true, true, true };
	int64_t ends[3] = { 9000, 7000, 8000 };
	assert_int_equal(fo_order(deps, 3, all, ends, 7, order), 1);
	assert_int_equal(order[0], 1);
}

static void test_which_failures_move_on(void **state)
{
	(void)state;
	const struct {
		struct fo_outcome o;
		bool counts, retry;
	} cases[] = {
		{ { .ok = true, .status = 200 }, false, false },
		{ { .unreachable = true }, true, true },
		{ { .before_first_byte = true }, true, true },
		{ { .status = 429 }, true, true },
		{ { .status = 500 }, true, true },
		{ { .status = 503 }, true, true },
		{ { .status = 599 }, true, true },
		{ { .status = 400 }, false, false },
		{ { .status = 404 }, false, false },
		{ { .status = 401 }, false, false },
		{ { .status = 200 }, false, false },             /* malformed, broken mid-answer, idle */
		{ { .status = 0 }, false, false },               /* the connection closed with nothing: maybe done */
		{ { .status = 502, .sent_to_client = true }, true, false },
		{ { .status = 200, .sent_to_client = true, .before_first_byte = false }, false, false },
		{ { .unreachable = true, .client_gone = true }, false, false },
		{ { .status = 429, .sent_to_client = true }, true, false },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(fo_counts_as_failure(&cases[i].o), cases[i].counts);
		assert_int_equal(fo_should_retry(&cases[i].o), cases[i].retry);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_groups_first_then_next),
		cmocka_unit_test(test_order_weights_within_group),
		cmocka_unit_test(test_order_skips_cooling_and_probes_soonest),
		cmocka_unit_test(test_which_failures_move_on),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
