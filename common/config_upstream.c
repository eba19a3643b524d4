/* config_upstream.c: upstream servers in the config: the upstreams list, models on them, UPSTREAM_* */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_loader.h"
#include "failover.h"
#include "xalloc.h"

#define UPSTREAM_ENV_URLS   8       /* URLs UPSTREAM_BASE_URL may list */

int config_check_url(const char *url, char *why, size_t n)
{
	const char *host;
	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else {
		snprintf(why, n, "must start with http:// or https://, got \"%.80s\"", url);
		return -1;
	}
	size_t hlen = strcspn(host, "/");
	if (hlen == 0 || host[0] == ':') {
		snprintf(why, n, "has no host: \"%.80s\"", url);
		return -1;
	}
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, n, "must not contain spaces or control characters");
			return -1;
		}
		if (*p == '?' || *p == '#') {
			snprintf(why, n, "must not have a query or fragment: \"%.80s\"", url);
			return -1;
		}
	}
	if (memchr(host, '@', hlen)) {
		snprintf(why, n, "must not carry credentials (use api_key_env)");
		return -1;
	}
	const char *colon = memchr(host, ':', hlen);
	if (colon && host[0] != '[') {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || end != host + hlen || port < 1 || port > 65535) {
			snprintf(why, n, "has a bad port: \"%.80s\"", url);
			return -1;
		}
	}
	return 0;
}

static const char *environ_get(char **env, const char *name)
{
	size_t n = strlen(name);
	for (char **e = env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static struct upstream_cfg *new_upstream(struct loader *ld, const char *name)
{
	struct config *cfg = ld->cfg;
	if (cfg->n_upstreams == ld->upstream_cap)
		return NULL;  /* sized for every possible one: cannot happen */
	struct upstream_cfg *up = &cfg->upstreams[cfg->n_upstreams++];
	up->name = xstrdup(name);
	cfg_member_defaults(cfg_upstream_members, up);
	up->total_ms = -1;  /* UPSTREAM_TOTAL_TIMEOUT_S, once the settings are known */
	return up;
}

void cfg_reserve_upstreams(struct loader *ld, size_t n)
{
	ld->upstream_cap = n + UPSTREAM_ENV_URLS;  /* + those from UPSTREAM_BASE_URL */
	ld->cfg->upstreams = xcalloc(ld->upstream_cap, sizeof *ld->cfg->upstreams);
}

static void set_base_url(struct loader *ld, struct upstream_cfg *up, const char *url, const char *what,
			 const char *where)
{
	char why[160];
	if (!url || !*url) {
		cfg_report(&ld->rep->errors, "%s.base_url (%s): required", what, where);
		return;
	}
	if (config_check_url(url, why, sizeof why) != 0) {
		cfg_report(&ld->rep->errors, "%s.base_url (%s): %s", what, where, why);
		return;
	}
	size_t len = strlen(url);
	while (len && url[len - 1] == '/')
		len--;
	up->base_url = xstrndup(url, len);
}

/* The key is read at start, from the variable the config file names: the
 * file itself never holds it. Whether a missing one is fatal is judged by
 * cfg_resolve_upstream_keys(), once the environment is known. */
static void set_api_key(struct loader *ld, struct upstream_cfg *up, const char *var)
{
	if (!var)
		return;
	up->api_key_env = xstrdup(var);
	const char *key = environ_get(ld->paths->environ, var);
	if (key && *key)
		up->api_key = xstrdup(key);
}

void cfg_resolve_upstream_keys(struct loader *ld)
{
	bool strict = config_strict(ld->cfg);
	for (size_t i = 0; i < ld->cfg->n_upstreams; i++) {
		const struct upstream_cfg *up = &ld->cfg->upstreams[i];
		if (up->api_key_env && !up->api_key)
			cfg_report(strict ? &ld->rep->errors : &ld->rep->warnings,
			       "api_key_env (upstream \"%s\"): environment variable %s is not set%s", up->name,
			       up->api_key_env, strict ? "" : "; no key is sent");
	}
}

void cfg_resolve_upstream_limits(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	for (size_t i = 0; i < cfg->n_upstreams; i++) {
		struct upstream_cfg *up = &cfg->upstreams[i];
		if (up->total_ms < 0)
			up->total_ms = cfg->upstream_total_timeout_s * 1000;
		up->max_event_bytes = cfg->upstream_max_event_bytes;
		up->max_body_bytes = cfg->upstream_max_body_bytes;
		up->failures = cfg->upstream_failures;
		up->cooldown_ms = cfg->upstream_cooldown_s * 1000;
	}
	for (size_t i = 0; i < cfg->n_models; i++)
		cfg->models[i].upstream.retries = cfg->upstream_retries;
}

static void load_headers(struct loader *ld, struct upstream_cfg *up, const config_setting_t *list,
			 const char *what, const char *where)
{
	int n = config_setting_length(list);
	up->headers = xcalloc((size_t)n + 1, sizeof *up->headers);
	for (int i = 0; i < n; i++) {
		const char *h = config_setting_get_string_elem(list, i);
		const char *colon = h ? strchr(h, ':') : NULL;
		if (!colon || colon == h || strpbrk(h, "\r\n")) {
			cfg_report(&ld->rep->errors, "%s.headers[%d] (%s): must be a string \"Name: value\" on one line",
			       what, i, where);
			continue;
		}
		up->headers[up->n_headers++] = xstrdup(h);
	}
}

/* Fills up from a group with base_url, api_key_env, timeouts, headers,
 * discover: an upstreams entry, or a model that has its own (the group's
 * other members, others, are read by its own loader). */
static void load_upstream_group(struct loader *ld, struct upstream_cfg *up, const char *file,
				const config_setting_t *g, const char *what, const char *where,
				const struct member *others)
{
	set_base_url(ld, up, cfg_mem_str(g, "base_url"), what, where);
	set_api_key(ld, up, cfg_mem_str(g, "api_key_env"));
	if (cfg_read_members(ld, file, g, what, cfg_upstream_members, up, others))
		return;
	const config_setting_t *h = config_setting_get_member(g, "headers");
	if (h)
		load_headers(ld, up, h, what, where);
}

static const struct upstream_cfg *find_upstream(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_upstreams; i++)
		if (strcmp(cfg->upstreams[i].name, name) == 0)
			return &cfg->upstreams[i];
	return NULL;
}

void cfg_load_upstreams(struct loader *ld, const char *file, const config_setting_t *list)
{
	char where[320], what[64];
	cfg_file_origin(where, sizeof where, file, list);
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_report(&ld->rep->errors, "upstreams (%s): must be a list of groups ( { name = ...; base_url = ...; }, ... )",
		       where);
		return;
	}
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		const char *name = config_setting_is_group(g) ? cfg_mem_str(g, "name") : NULL;
		cfg_file_origin(where, sizeof where, file, g);
		snprintf(what, sizeof what, "upstreams[%d]", i);
		if (!name || !*name) {
			cfg_report(&ld->rep->errors, "%s (%s): needs a non-empty string name", what, where);
			continue;
		}
		if (find_upstream(ld->cfg, name)) {
			cfg_report(&ld->rep->errors, "%s (%s): upstream \"%s\" is listed twice", what, where, name);
			continue;
		}
		load_upstream_group(ld, new_upstream(ld, name), file, g, what, where, cfg_upstream_list_members);
	}
}

/* Adds a deployment to mc (model is copied); deployments[0] is also the
 * model's upstream.up and upstream.model. */
static void add_deployment(struct model_cfg *mc, const struct upstream_cfg *up, const char *model, long priority,
			   long weight)
{
	mc->upstream.deployments = xrealloc(mc->upstream.deployments,
					    (mc->upstream.n_deployments + 1) * sizeof *mc->upstream.deployments);
	struct deployment_cfg *d = &mc->upstream.deployments[mc->upstream.n_deployments++];
	strbuf name = STRBUF_INIT;
	sb_printf(&name, "%s/%s", up->name, model);
	d->up = up;
	d->model = xstrdup(model);
	d->name = xstrdup(sb_str(&name));
	d->priority = priority;
	d->weight = weight;
	sb_free(&name);
	mc->upstream.up = mc->upstream.deployments[0].up;
	mc->upstream.model = mc->upstream.deployments[0].model;
}

void cfg_free_deployments(struct model_cfg *mc)
{
	for (size_t i = 0; i < mc->upstream.n_deployments; i++) {
		free(mc->upstream.deployments[i].model);
		free(mc->upstream.deployments[i].name);
	}
	free(mc->upstream.deployments);
	mc->upstream.deployments = NULL;
	mc->upstream.n_deployments = 0;
}

/* deployments = ( { upstream = "a"; model = "m"; priority = 0; weight = 2; }, ... ) */
static int load_deployments(struct loader *ld, struct model_cfg *mc, const char *file, const config_setting_t *list,
			    const char *model_what, const char *id)
{
	char what[96], where[320];
	int n = config_setting_length(list);
	cfg_file_origin(where, sizeof where, file, list);
	if ((!config_setting_is_list(list) && !config_setting_is_array(list)) || n < 1 || n > FO_MAX_DEPLOYMENTS) {
		cfg_report(&ld->rep->errors, "%s.deployments (%s): must be a list of 1 to %d groups "
			   "( { upstream = \"<name>\"; model = \"...\"; priority = 0; weight = 1; }, ... )",
			   model_what, where, FO_MAX_DEPLOYMENTS);
		return -1;
	}
	int bad = 0;
	for (int j = 0; j < n; j++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)j);
		snprintf(what, sizeof what, "%s.deployments[%d]", model_what, j);
		cfg_file_origin(where, sizeof where, file, g);
		if (!config_setting_is_group(g)) {
			cfg_report(&ld->rep->errors, "%s (%s): must be a group { upstream = ...; }", what, where);
			bad++;
			continue;
		}
		struct deployment_cfg d = { 0 };
		cfg_member_defaults(cfg_deployment_members, &d);
		if (cfg_read_members(ld, file, g, what, cfg_deployment_members, &d, NULL)) {
			bad++;
			continue;
		}
		const char *name = cfg_mem_str(g, "upstream");
		const char *remote = cfg_mem_str(g, "model");
		const struct upstream_cfg *up = name ? find_upstream(ld->cfg, name) : NULL;
		if (!up) {
			cfg_report(&ld->rep->errors, "%s.upstream (%s): %s%s%s", what, where,
				   name ? "no upstream named \"" : "required: the name of one in upstreams",
				   name ? name : "", name ? "\" in upstreams" : "");
			bad++;
			continue;
		}
		add_deployment(mc, up, remote && *remote ? remote : id, d.priority, d.weight);
	}
	return bad ? -1 : 0;
}

/* backend = "upstream": upstream = "<name>" shares one from the upstreams
 * list; a base_url of its own makes a private one; deployments lists
 * several. 0, or -1 (reported). */
int cfg_load_model_upstream(struct loader *ld, struct model_cfg *mc, const char *file, const config_setting_t *m,
			    int i, const char *id, const char *where)
{
	char what[64];
	const char *shared = cfg_mem_str(m, "upstream");
	const char *remote = cfg_mem_str(m, "upstream_model");
	const config_setting_t *deps = config_setting_get_member(m, "deployments");
	const struct upstream_cfg *up = NULL;
	snprintf(what, sizeof what, "models[%d]", i);
	if (deps && (shared || config_setting_get_member(m, "base_url"))) {
		cfg_report(&ld->rep->errors, "%s (%s): deployments, or upstream / base_url: not both", what, where);
		return -1;
	}
	if (deps) {
		if (load_deployments(ld, mc, file, deps, what, id) != 0) {
			cfg_free_deployments(mc);
			return -1;
		}
		return 0;
	}
	if (shared) {
		up = find_upstream(ld->cfg, shared);
		if (!up) {
			cfg_report(&ld->rep->errors, "%s.upstream (%s): no upstream named \"%s\" in upstreams", what, where,
			       shared);
			return -1;
		}
	} else if (config_setting_get_member(m, "base_url")) {
		struct upstream_cfg *own = new_upstream(ld, id);
		load_upstream_group(ld, own, file, m, what, where, cfg_model_members);
		up = own;
	} else {
		cfg_report(&ld->rep->errors, "%s (%s): backend \"upstream\" needs upstream = \"<name>\", a base_url "
			   "or deployments", what, where);
		return -1;
	}
	add_deployment(mc, up, remote && *remote ? remote : id, 0, 1);
	return 0;
}

/* UPSTREAM_BASE_URL with UPSTREAM_MODELS: models on one upstream, for
 * containers and the common case, without a config file. */
void cfg_resolve_upstream_env(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const char *url_origin = ld->raw[S_UPSTREAM_BASE_URL].origin;
	const char *models_origin = ld->raw[S_UPSTREAM_MODELS].origin;
	if (!cfg->upstream_base_url) {
		if (cfg->n_upstream_models)
			cfg_report(&ld->rep->errors, "UPSTREAM_MODELS (%s): needs UPSTREAM_BASE_URL", models_origin);
		return;
	}
	if (!cfg->n_upstream_models) {
		cfg_report(&ld->rep->errors, "UPSTREAM_BASE_URL (%s): needs UPSTREAM_MODELS (name or alias=upstream-name, ...)",
		       url_origin);
		return;
	}
	if (!cfg->upstreams)
		cfg_reserve_upstreams(ld, 0);
	/* "url1,url2": one upstream each, same key and timeouts, tried in
	 * that order (each its own priority group) */
	const struct upstream_cfg *ups[UPSTREAM_ENV_URLS];
	size_t n_ups = 0;
	char why[160];
	for (const char *p = cfg->upstream_base_url; *p;) {
		size_t len = strcspn(p, ",");
		char *url = xstrndup(p, len);
		char *u = url;
		while (*u == ' ')
			u++;
		for (size_t e = strlen(u); e && u[e - 1] == ' '; e--)
			u[e - 1] = '\0';
		p += len + (p[len] == ',');
		if (n_ups == UPSTREAM_ENV_URLS) {
			cfg_report(&ld->rep->errors, "UPSTREAM_BASE_URL (%s): at most %d URLs", url_origin, UPSTREAM_ENV_URLS);
			free(url);
			return;
		}
		if (config_check_url(u, why, sizeof why) != 0) {
			cfg_report(&ld->rep->errors, "UPSTREAM_BASE_URL (%s): %s%s", url_origin,
				   strchr(cfg->upstream_base_url, ',') ? "one of the URLs " : "", why);
			free(url);
			return;
		}
		char name[16];
		snprintf(name, sizeof name, n_ups ? "env%zu" : "env", n_ups + 1);
		struct upstream_cfg *up = new_upstream(ld, name);
		set_base_url(ld, up, u, "UPSTREAM", url_origin);
		free(url);
		if (cfg->upstream_api_key)
			up->api_key = xstrdup(cfg->upstream_api_key);
		if (cfg->upstream_timeout_s > 0)
			up->first_byte_ms = up->idle_ms = cfg->upstream_timeout_s * 1000;
		up->responses_native = cfg->upstream_responses == 1;
		ups[n_ups++] = up;
	}
	if (n_ups == 0) {
		cfg_report(&ld->rep->errors, "UPSTREAM_BASE_URL (%s): %s", url_origin, "has no URL");
		return;
	}
	if (!cfg->upstream_api_key && config_strict(cfg))
		cfg_report(&ld->rep->errors, "UPSTREAM_API_KEY (not set): required in %s with UPSTREAM_BASE_URL",
		       config_env_name(cfg->env));
	cfg->models = xrealloc(cfg->models, (cfg->n_models + cfg->n_upstream_models) * sizeof *cfg->models);
	for (size_t i = 0; i < cfg->n_upstream_models; i++) {
		const char *entry = cfg->upstream_models[i];
		const char *eq = strchr(entry, '=');
		char *id = eq ? xstrndup(entry, (size_t)(eq - entry)) : xstrdup(entry);
		const char *remote = eq ? eq + 1 : entry;
		if (!*id || !*remote || config_find_model(cfg, id)) {
			cfg_report(&ld->rep->errors, "UPSTREAM_MODELS (%s): \"%s\" is %s", models_origin, entry,
			       *id && *remote ? "already a model" : "not name or alias=upstream-name");
			free(id);
			continue;
		}
		struct model_cfg *mc = &cfg->models[cfg->n_models++];
		memset(mc, 0, sizeof *mc);
		mc->id = id;
		mc->owned_by = xstrdup(MODEL_DEFAULT_OWNER);
		mc->created = 1700000000;
		mc->backend = BACKEND_UPSTREAM;
		for (size_t k = 0; k < n_ups; k++)
			add_deployment(mc, ups[k], remote, (long)k, 1);
		/* the upstream knows what each of its models does: every endpoint
		 * is passed on, and it answers what it does not serve */
		mc->endpoints = EP_CHAT_FAMILY | EP_EMBEDDINGS;
	}
}

