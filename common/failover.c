/* failover.c: the order a model's deployments are tried in, and which failures move on to the next (pure) */
#include "failover.h"

/* splitmix64: a few good bits per draw from one seed, no global state */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Appends the deployments of one priority group that are not cooling, in
 * a weighted random order: each draw picks among those left with odds
 * proportional to their weights. */
static size_t add_group(const struct deployment_cfg *deps, size_t n, const bool *cooling, long priority,
			uint64_t *seed, size_t order[], size_t count)
{
	size_t pool[FO_MAX_DEPLOYMENTS], left = 0;
	for (size_t i = 0; i < n; i++)
		if (deps[i].priority == priority && !cooling[i])
			pool[left++] = i;
	while (left) {
		uint64_t total = 0;
		for (size_t j = 0; j < left; j++)
			total += (uint64_t)(deps[pool[j]].weight > 0 ? deps[pool[j]].weight : 1);
		uint64_t r = next_random(seed) % total;
		size_t j = 0;
		for (;; j++) {
			uint64_t w = (uint64_t)(deps[pool[j]].weight > 0 ? deps[pool[j]].weight : 1);
			if (r < w)
				break;
			r -= w;
		}
		order[count++] = pool[j];
		pool[j] = pool[--left];
	}
	return count;
}

size_t fo_order(const struct deployment_cfg *deps, size_t n, const bool *cooling, const int64_t *until_ms,
		uint64_t seed, size_t order[])
{
	if (n > FO_MAX_DEPLOYMENTS)
		n = FO_MAX_DEPLOYMENTS;
	size_t count = 0;
	long done = -1;  /* groups below or at this priority are in */
	for (;;) {
		long next = -1;
		for (size_t i = 0; i < n; i++)
			if (deps[i].priority > done && (next < 0 || deps[i].priority < next))
				next = deps[i].priority;
		if (next < 0)
			break;
		count = add_group(deps, n, cooling, next, &seed, order, count);
		done = next;
	}
	if (count == 0 && n > 0) {
		size_t soonest = 0;
		for (size_t i = 1; i < n; i++)
			if (until_ms[i] < until_ms[soonest])
				soonest = i;
		order[count++] = soonest;
	}
	return count;
}

bool fo_counts_as_failure(const struct fo_outcome *o)
{
	if (o->ok || o->client_gone)
		return false;
	return o->unreachable || o->before_first_byte || o->status == 429 || (o->status >= 500 && o->status <= 599);
}

bool fo_should_retry(const struct fo_outcome *o)
{
	return !o->sent_to_client && fo_counts_as_failure(o);
}
