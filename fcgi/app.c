/* app.c: what every worker thread shares: the per-key limits read from it */
#include "app.h"

/* The config keys are the last n_keys tokens, in order, and no key is in
 * cfg.tokens twice: config_load() drops the API_AUTH_TOKENS copy of a key
 * that keys[] lists too, which would otherwise match first and get the
 * global limit. */
const struct key_cfg *app_key(const struct app *a, size_t key_index)
{
	size_t first_key = a->cfg.n_tokens - a->cfg.n_keys;
	if (key_index >= first_key && key_index < a->cfg.n_tokens)
		return &a->cfg.keys[key_index - first_key];
	return NULL;
}

long app_key_limit(const struct app *a, size_t key_index)
{
	size_t first_key = a->cfg.n_tokens - a->cfg.n_keys;
	if (key_index >= first_key && key_index < a->cfg.n_tokens) {
		long rpm = a->cfg.keys[key_index - first_key].requests_per_minute;
		if (rpm > 0)
			return rpm;
	}
	return a->cfg.rate_limit_per_minute;
}
