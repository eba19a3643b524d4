/* key_policy.h: what a configured key may do: its validity in time, its models, its token reservation */
#ifndef OAF_KEY_POLICY_H
#define OAF_KEY_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pure functions over plain data: the clock is passed in. Functions that
 * can fail return 0 on success and -1 on failure. */

/* "No bound": a key without expires / not_before. */
#define KP_NO_EXPIRY     INT64_MAX
#define KP_NO_NOT_BEFORE INT64_MIN

/* Parses an ISO 8601 time into Unix seconds: "2027-01-31" (midnight UTC),
 * "2027-01-31T18:00Z", "2027-01-31T18:00:05.25+01:00", "...-0130"; 'T' may
 * be ' ', seconds and fractions are optional (fractions are dropped). A time
 * with hours needs its zone (Z or an offset): "18:00" alone is ambiguous. */
int kp_parse_time(const char *s, int64_t *out);

/* Formats t (Unix seconds) as "2027-01-31T18:00:00Z"; n >= 21. */
void kp_format_time(int64_t t, char *buf, size_t n);

enum kp_validity { KP_VALID, KP_NOT_YET_VALID, KP_EXPIRED };

/* Where now lies against [not_before, expires): a key is valid from
 * not_before on and expired from expires on. */
enum kp_validity kp_validity_at(int64_t not_before, int64_t expires, int64_t now);

/* May a key whose models list is models[0..n) use id? n == 0 means every
 * model. Compared exactly, as model ids are. */
bool kp_model_allowed(char *const *models, size_t n, const char *id);

/* The tokens to reserve for a request before it is answered: its prompt's
 * estimate plus, for each of its n choices, its own output bound
 * (max_tokens, max_completion_tokens, max_output_tokens; -1 when it gives
 * none) or else default_output. Saturates at LONG_MAX. */
long kp_reservation(long prompt_tokens, long max_output, int n, long default_output);

#endif
