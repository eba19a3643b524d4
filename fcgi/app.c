/* app.c: what every worker thread shares: the per-key policy and limits read from it */
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
	const struct key_cfg *k = app_key(a, key_index);
	return k && k->requests_per_minute > 0 ? k->requests_per_minute : a->cfg.rate_limit_per_minute;
}

long app_key_token_limit(const struct app *a, size_t key_index)
{
	const struct key_cfg *k = app_key(a, key_index);
	return k && k->tokens_per_minute > 0 ? k->tokens_per_minute : a->cfg.rate_limit_tokens_per_minute;
}

bool app_needs_stream_leases(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_keys; i++)
		if (cfg->keys[i].max_streams > 0)
			return true;
	return false;
}
