/* failover.h: the order a model's deployments are tried in, and which failures move on to the next (pure) */
#ifndef OAF_FAILOVER_H
#define OAF_FAILOVER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The most deployments a model may have. */
#define FO_MAX_DEPLOYMENTS 32

/* Fills order with the indexes of the n deployments (n <= FO_MAX_DEPLOYMENTS)
 * to try, best first, and returns how many: every deployment not cooling
 * (cooling[i] false), the lowest priority number first, in a weighted random
 * order inside a priority group (a deployment of weight 2 goes first twice as
 * often as one of weight 1) drawn from seed; when every one is cooling, the
 * one whose cooldown ends first (until_ms), alone: a model is never refused
 * without one try. deps, cooling and until_ms are borrowed. */
size_t fo_order(const struct deployment_cfg *deps, size_t n, const bool *cooling, const int64_t *until_ms,
		uint64_t seed, size_t order[]);

/* How an attempt ended, as the retry rule sees it. */
struct fo_outcome {
	bool ok;               /* answered (the client has it, or has part of it) */
	bool client_gone;
	bool sent_to_client;   /* any byte of this answer went to the client */
	bool unreachable;      /* no connection */
	bool before_first_byte; /* a timeout before the upstream's first byte (or the connect) */
	long status;           /* the upstream's HTTP status, 0 when none came */
};

/* Does this failure count against the deployment (towards its cooldown)?
 * A connect failure, a timeout before the first byte, a 429 or a 5xx. */
bool fo_counts_as_failure(const struct fo_outcome *o);

/* Should the request move on to the next deployment? Only for a failure
 * that counts, never once a byte went to the client, never for a client
 * that left. */
bool fo_should_retry(const struct fo_outcome *o);

#endif
