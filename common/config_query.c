/* config_query.c: what the rest of the program asks of a loaded config (the loaders ask it too) */
#include "config.h"

#include <stdbool.h>
#include <string.h>

static const char *const env_names[] = { "development", "test", "staging", "production" };

const struct model_cfg *config_find_model(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_models; i++)
		if (cfg->models[i].id && strcmp(cfg->models[i].id, id) == 0)
			return &cfg->models[i];
	return NULL;
}

const char *config_env_name(enum environment env)
{
	return (unsigned)env < 4 ? env_names[env] : "development";
}

bool config_strict(const struct config *cfg)
{
	return cfg->env == ENV_STAGING || cfg->env == ENV_PRODUCTION;
}

bool config_docs_enabled(const struct config *cfg)
{
	if (cfg->docs == DOCS_ON)
		return true;
	if (cfg->docs == DOCS_OFF)
		return false;
	return !config_strict(cfg);
}
