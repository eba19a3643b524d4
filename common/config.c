/* config.c: the effective settings, from defaults < config file < .env < environment */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "auth.h"
#include "config_loader.h"
#include "dotenv.h"
#include "embeddings.h"
#include "key_policy.h"
#include "pyproject.h"
#include "ratelimit.h"
#include "redis_proto.h"
#include "relocate.h"
#include "settings.h"
#include "xalloc.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PKGDATADIR
#define PKGDATADIR "/usr/share/openai-fcgi"
#endif

#define MIN_TOKEN_LEN AUTH_TOKEN_MIN_STRICT
#define TEST_TOKEN "test_key"


/* The blueprint's three mock models, and a mock embedding model, used when
 * the config file lists none. */
static const struct { const char *id; unsigned endpoints; } default_models[] = {
	{ "blueprint-standard", EP_CHAT_FAMILY }, { "blueprint-advanced", EP_CHAT_FAMILY },
	{ "blueprint-experimental", EP_CHAT_FAMILY }, { "blueprint-embedding", EP_EMBEDDINGS },
};
#define N_DEFAULT_MODELS (sizeof default_models / sizeof default_models[0])

static void set_raw(struct loader *ld, const struct setting *s, const char *value, const char *origin)
{
	struct raw_value *rv = &ld->raw[cfg_setting_index(s)];
	free(rv->value);
	rv->value = xstrdup(value);
	snprintf(rv->origin, sizeof rv->origin, "%s", origin);
}

/* ---- the config file (libconfig) ---- */

/* Edit distance (insertions, deletions, substitutions; a swap of two
 * neighbours counts once), case-insensitive: "owned_bby" is 1 from
 * "owned_by", "requests_per_minit" 1 from "requests_per_minute". */
static char *setting_text(const config_setting_t *st)
{
	strbuf sb = STRBUF_INIT;
	switch (config_setting_type(st)) {
	case CONFIG_TYPE_STRING:
		sb_puts(&sb, config_setting_get_string(st));
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		sb_printf(&sb, "%lld", config_setting_get_int64(st));
		break;
	case CONFIG_TYPE_FLOAT:
		sb_printf(&sb, "%g", config_setting_get_float(st));
		break;
	case CONFIG_TYPE_BOOL:
		sb_puts(&sb, config_setting_get_bool(st) ? "true" : "false");
		break;
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		for (int i = 0; i < config_setting_length(st); i++) {
			const char *v = config_setting_get_string_elem(st, i);
			if (!v) {
				sb_free(&sb);
				return NULL;
			}
			if (i)
				sb_putc(&sb, ',');
			sb_puts(&sb, v);
		}
		break;
	default:
		return NULL;
	}
	char *out = xstrdup(sb_str(&sb));
	sb_free(&sb);
	return out;
}

static const char *const endpoint_names[] = { "chat", "responses", "completions", "embeddings" };

const char *config_endpoint_name(enum model_endpoint ep)
{
	for (unsigned i = 0; i < 4; i++)
		if (ep == (1u << i))
			return endpoint_names[i];
	return "unknown";
}

/* What a model answers: `kind` ("chat": chat, responses and completions;
 * "embedding": embeddings), or an explicit `endpoints` list; 0 when neither
 * (resolve_models() gives the chat family then). */
static unsigned load_model_endpoints(struct loader *ld, const config_setting_t *m, int i, const char *where)
{
	const char *kind = cfg_mem_str(m, "kind");
	const config_setting_t *list = config_setting_get_member(m, "endpoints");
	unsigned eps = 0;
	/* cfg_model_members' row has refused any other kind */
	if (kind)
		eps = strcmp(kind, "embedding") == 0 ? EP_EMBEDDINGS : EP_CHAT_FAMILY;
	if (!list)
		return eps;
	if (!config_setting_is_array(list) && !config_setting_is_list(list)) {
		cfg_report(&ld->rep->errors, "models[%d].endpoints (%s): must be a list of names", i, where);
		return eps;
	}
	eps = 0;
	for (int k = 0; k < config_setting_length(list); k++) {
		const char *name = config_setting_get_string_elem(list, k);
		unsigned bit = 0;
		for (unsigned e = 0; name && e < 4; e++)
			if (strcmp(name, endpoint_names[e]) == 0)
				bit = 1u << e;
		if (!bit)
			cfg_report(&ld->rep->errors, "models[%d].endpoints (%s): unknown endpoint \"%s\" "
				   "(known: chat, responses, completions, embeddings)", i, where, name ? name : "?");
		eps |= bit;
	}
	if (!eps)
		cfg_report(&ld->rep->errors, "models[%d].endpoints (%s): must name at least one endpoint", i, where);
	return eps;
}

/* An ISO 8601 member into *out (left alone when absent); -1 after
 * reporting one that does not parse. */
static int key_time(struct loader *ld, const config_setting_t *k, const char *name, int i,
		    const char *where, int64_t *out)
{
	const char *v = cfg_mem_str(k, name);
	if (!v)
		return 0;
	if (kp_parse_time(v, out) != 0) {
		cfg_report(&ld->rep->errors, "keys[%d].%s (%s): \"%.64s\" is not an ISO 8601 time "
			   "(2027-01-31, or 2027-01-31T18:00:00Z with a zone)", i, name, where, v);
		return -1;
	}
	return 0;
}

/* The models member: a list of non-empty strings, each one listed once. */
static int key_models(struct loader *ld, const config_setting_t *k, int i, const char *where,
		      struct key_cfg *kc)
{
	const config_setting_t *list = config_setting_get_member(k, "models");
	if (!list)
		return 0;
	int n = config_setting_length(list);
	if (n == 0) {
		cfg_report(&ld->rep->errors, "keys[%d].models (%s): an empty list would allow no model; "
			   "leave it out to allow every model", i, where);
		return -1;
	}
	kc->models = xcalloc((size_t)n, sizeof *kc->models);
	for (int j = 0; j < n; j++) {
		const char *id = config_setting_get_string_elem(list, j);
		if (!id || !*id) {
			cfg_report(&ld->rep->errors, "keys[%d].models[%d] (%s): must be a non-empty string", i, j, where);
			return -1;
		}
		if (kc->n_models && kp_model_allowed(kc->models, kc->n_models, id)) {
			cfg_report(&ld->rep->errors, "keys[%d].models (%s): \"%.64s\" is listed twice", i, where, id);
			return -1;
		}
		kc->models[kc->n_models++] = xstrdup(id);
	}
	return 0;
}

static void key_cfg_free(struct key_cfg *kc)
{
	free(kc->token);
	free(kc->name);
	for (size_t j = 0; j < kc->n_models; j++)
		free(kc->models[j]);
	free(kc->models);
	memset(kc, 0, sizeof *kc);
}

static void load_models(struct loader *ld, const char *file, const config_setting_t *list)
{
	struct config *cfg = ld->cfg;
	char where[320];
	int n = config_setting_length(list);
	cfg_file_origin(where, sizeof where, file, list);
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_report(&ld->rep->errors, "models (%s): must be a list of groups ( { id = ...; }, ... )", where);
		return;
	}
	cfg->models = xcalloc((size_t)n, sizeof *cfg->models);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(list, (unsigned)i);
		struct model_cfg *mc = &cfg->models[cfg->n_models];
		char what[32];
		cfg_file_origin(where, sizeof where, file, m);
		snprintf(what, sizeof what, "models[%d]", i);
		const char *id = config_setting_is_group(m) ? cfg_mem_str(m, "id") : NULL;
		if (!id || !*id) {
			cfg_report(&ld->rep->errors, "models[%d] (%s): needs a non-empty string id", i, where);
			continue;
		}
		memset(mc, 0, sizeof *mc);
		cfg_member_defaults(cfg_model_members, mc);
		if (cfg_read_members(ld, file, m, what, cfg_model_members, mc, cfg_upstream_members))
			continue;
		if (config_find_model(cfg, id)) {
			cfg_report(&ld->rep->errors, "models[%d] (%s): model \"%s\" is listed twice", i, where, id);
			continue;
		}
		mc->endpoints = load_model_endpoints(ld, m, i, where);
		if (mc->backend == BACKEND_UPSTREAM && cfg_load_model_upstream(ld, mc, file, m, i, id, where) != 0)
			continue;
		const char *owner = cfg_mem_str(m, "owned_by");
		mc->id = xstrdup(id);
		mc->owned_by = xstrdup(owner && *owner ? owner : MODEL_DEFAULT_OWNER);
		cfg->n_models++;
	}
}

static void load_keys(struct loader *ld, const char *file, const config_setting_t *list)
{
	struct config *cfg = ld->cfg;
	char where[320];
	int n = config_setting_length(list);
	cfg_file_origin(where, sizeof where, file, list);
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_report(&ld->rep->errors, "keys (%s): must be a list of groups ( { token = ...; }, ... )", where);
		return;
	}
	cfg->keys = xcalloc((size_t)n, sizeof *cfg->keys);
	for (int i = 0; i < n; i++) {
		const config_setting_t *k = config_setting_get_elem(list, (unsigned)i);
		cfg_file_origin(where, sizeof where, file, k);
		const char *tok = config_setting_is_group(k) ? cfg_mem_str(k, "token") : NULL;
		if (!tok || !*tok) {
			cfg_report(&ld->rep->errors, "keys[%d] (%s): needs a non-empty string token", i, where);
			continue;
		}
		char what[32];
		snprintf(what, sizeof what, "keys[%d]", i);
		struct key_cfg *kc = &cfg->keys[cfg->n_keys];
		const char *name = cfg_mem_str(k, "name");
		kc->not_before = KP_NO_NOT_BEFORE;
		kc->expires = KP_NO_EXPIRY;
		cfg_member_defaults(cfg_key_members, kc);
		int bad = cfg_read_members(ld, file, k, what, cfg_key_members, kc, NULL) ? -1 : 0;
		if (!bad)
			bad = key_time(ld, k, "expires", i, where, &kc->expires) |
			      key_time(ld, k, "not_before", i, where, &kc->not_before) |
			      key_models(ld, k, i, where, kc);
		if (name && !auth_token_wellformed(name)) {
			/* it goes into log lines and messages as it is */
			cfg_report(&ld->rep->errors, "keys[%d].name (%s): must be 1 to %d characters of "
				   "[A-Za-z0-9_.-]", i, where, AUTH_TOKEN_MAX);
			bad = -1;
		}
		if (!bad && kc->expires <= kc->not_before) {
			cfg_report(&ld->rep->errors, "keys[%d].expires (%s): must be after its not_before", i, where);
			bad = -1;
		}
		if (bad) {
			key_cfg_free(kc);
			continue;
		}
		kc->token = xstrdup(tok);
		kc->name = name ? xstrdup(name) : NULL;
		cfg->n_keys++;
	}
}

/* A relocatable build's home (common/relocate.h) into buf, or NULL when
 * the build is not relocatable (no program_path). */
static const char *relocated_home(const struct config_paths *p, char *buf, size_t n)
{
	const char *docroot = NULL;
	char real[PATH_MAX];
	for (char **e = p->environ; e && *e; e++)
		if (strncmp(*e, "DOCUMENT_ROOT=", 14) == 0)
			docroot = *e + 14;
	/* program_path has its links resolved (/proc/self/exe); a web root
	 * named through a link (/home -> /home2) must be too, to compare */
	if (docroot && *docroot && realpath(docroot, real))
		docroot = real;
	if (!p->program_path || reloc_home(p->program_path, docroot, buf, n) != 0)
		return NULL;
	return buf;
}

/* The relocatable rule: home/openai-fcgi.conf (outside the web root), else
 * openai-fcgi.conf beside the binary; never the host's SYSCONFDIR. */
static const char *default_config_file(const struct config_paths *p, bool *explicit, char *buf, size_t n)
{
	*explicit = true;
	if (p->config_file)
		return p->config_file;
	for (char **e = p->environ; e && *e; e++)
		if (strncmp(*e, "OPENAI_FCGI_CONFIG=", 19) == 0 && (*e)[19])
			return *e + 19;
	*explicit = false;
	char home[PATH_MAX], beside[PATH_MAX];
	if (!relocated_home(p, home, sizeof home))
		return SYSCONFDIR "/openai-fcgi/openai-fcgi.conf";
	if (reloc_join(home, "openai-fcgi.conf", buf, n) == 0 && access(buf, F_OK) == 0)
		return buf;
	if (reloc_exe_dir(p->program_path, beside, sizeof beside) == 0 &&
	    reloc_join(beside, "openai-fcgi.conf", buf, n) == 0 && access(buf, F_OK) == 0)
		return buf;
	return "";  /* neither: the compiled defaults */
}

static void load_file(struct loader *ld)
{
	bool explicit;
	char buf[300];  /* a relocatable build's config path; fits the 320 of an origin "file:line" */
	const char *file = default_config_file(ld->paths, &explicit, buf, sizeof buf);
	if (access(file, F_OK) != 0 && !explicit)
		return; /* no installed config: compiled defaults */

	config_t lc;
	config_init(&lc);
	if (config_read_file(&lc, file) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			cfg_report(&ld->rep->errors, "config file %s: cannot be read", file);
		else
			cfg_report(&ld->rep->errors, "config file %s:%d: %s", config_error_file(&lc) ? config_error_file(&lc) : file,
			       config_error_line(&lc), config_error_text(&lc));
		config_destroy(&lc);
		return;
	}
	const config_setting_t *root = config_root_setting(&lc);
	/* upstreams first, so that models can name them wherever they stand */
	const config_setting_t *ups = config_setting_get_member(root, "upstreams");
	const config_setting_t *mods = config_setting_get_member(root, "models");
	cfg_reserve_upstreams(ld, (size_t)(ups ? config_setting_length(ups) : 0) +
			  (size_t)(mods ? config_setting_length(mods) : 0));
	if (ups)
		cfg_load_upstreams(ld, file, ups);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *st = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(st);
		char where[320];
		cfg_file_origin(where, sizeof where, file, st);
		if (strcmp(name, "models") == 0) {
			load_models(ld, file, st);
			continue;
		}
		if (strcmp(name, "keys") == 0) {
			load_keys(ld, file, st);
			continue;
		}
		if (strcmp(name, "upstreams") == 0)
			continue;
		const struct setting *s = settings_find(name);
		if (!s) {
			const char *names[64] = { "models", "keys", "upstreams" };
			size_t n_names = 3;
			for (const struct setting *t = settings_table; t->name && n_names < 64; t++)
				names[n_names++] = t->name;
			const char *near = cfg_nearest_name(name, names, n_names);
			cfg_report(&ld->rep->errors, "%s (%s): unknown setting `%s`%s%s%s", name, where, name,
				   near ? "; did you mean `" : "", near ? near : "", near ? "`?" : "");
			continue;
		}
		char *text = setting_text(st);
		if (!text) {
			cfg_report(&ld->rep->errors, "%s (%s): must be a string, a number or a list of strings", name, where);
			continue;
		}
		set_raw(ld, s, text, where);
		free(text);
	}
	config_destroy(&lc);
}

/* ---- .env and the environment ---- */

static void load_dotenv(struct loader *ld)
{
	const char *path = ld->paths->dotenv_file ? ld->paths->dotenv_file : ".env";
	struct dotenv de;
	char err[256];
	if (dotenv_load(path, &de, err, sizeof err) != 0) {
		cfg_report(&ld->rep->errors, "%s", err);
		return;
	}
	for (size_t i = 0; i < de.n; i++) {
		const struct setting *s = settings_find(de.v[i].key);
		char where[320];
		if (!s)
			continue;
		snprintf(where, sizeof where, "%s:%d", path, de.v[i].line);
		set_raw(ld, s, de.v[i].value, where);
	}
	dotenv_free(&de);
}

static void load_environ(struct loader *ld)
{
	for (char **e = ld->paths->environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		char name[64];
		if (!eq || (size_t)(eq - *e) >= sizeof name)
			continue;
		memcpy(name, *e, (size_t)(eq - *e));
		name[eq - *e] = '\0';
		const struct setting *s = settings_find(name);
		if (s)
			set_raw(ld, s, eq + 1, "environment");
	}
}

/* ---- conversion, one setting at a time, driven by the table ---- */

static void trim(char **b, char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

static void split_list(const char *text, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	const char *p = text;
	while (*p) {
		const char *comma = strchr(p, ',');
		char *b = (char *)p, *e = (char *)(comma ? comma : p + strlen(p));
		trim(&b, &e);
		if (e > b) {
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			(*out)[(*n)++] = xstrndup(b, (size_t)(e - b));
		}
		if (!comma)
			break;
		p = comma + 1;
	}
}

static int choice_index(const char *choices, const char *v)
{
	int idx = 0;
	size_t vl = strlen(v);
	for (const char *p = choices; *p; idx++) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);
		if (l == vl && strncasecmp(p, v, l) == 0)
			return idx;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

/* Converts text into the field of cfg that s names. 0, or -1 with a
 * description of what is wrong in why. */
static int convert(const struct setting *s, const char *text, struct config *cfg, char *why, size_t wn)
{
	char *field = (char *)cfg + s->offset;
	switch (s->type) {
	case ST_STRING:
		if (!*text) {
			snprintf(why, wn, "must not be empty");
			return -1;
		}
		*(char **)field = xstrdup(text);
		return 0;
	case ST_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (!*text || *end || errno) {
			snprintf(why, wn, "must be an integer, got \"%.40s\"", text);
			return -1;
		}
		if (v < s->min || v > s->max) {
			snprintf(why, wn, "must be from %ld to %ld, got %lld", s->min, s->max, v);
			return -1;
		}
		*(long *)field = (long)v;
		return 0;
	}
	case ST_LIST:
		split_list(text, (char ***)field, (size_t *)((char *)cfg + s->count_offset));
		return 0;
	case ST_LOGLEVEL:
		if (log_level_parse(text, (enum log_level *)field) != 0) {
			snprintf(why, wn, "must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got \"%.40s\"", text);
			return -1;
		}
		return 0;
	case ST_CHOICE: {
		int i = choice_index(s->choices, text);
		if (i < 0) {
			snprintf(why, wn, "must be one of %s, got \"%.40s\"", s->choices, text);
			return -1;
		}
		*(int *)field = i;
		return 0;
	}
	}
	return -1;
}

static void resolve_environment(struct loader *ld)
{
	const struct setting *s = &settings_table[S_ENVIRONMENT];
	struct raw_value *rv = &ld->raw[S_ENVIRONMENT];
	char why[128];
	ld->cfg->env = ENV_DEVELOPMENT;
	if (rv->value && convert(s, rv->value, ld->cfg, why, sizeof why) != 0)
		cfg_report(&ld->rep->warnings, "ENVIRONMENT (%s): unknown environment \"%.40s\"; using development",
		       rv->origin, rv->value);
}

static void resolve_settings(struct loader *ld)
{
	bool strict = config_strict(ld->cfg);
	for (const struct setting *s = settings_table; s->name; s++) {
		if (s == &settings_table[S_ENVIRONMENT])
			continue;
		struct raw_value *rv = &ld->raw[cfg_setting_index(s)];
		char why[160];
		if (!rv->value) {
			/* Missing secrets (the tokens) are judged by resolve_tokens(),
			 * which also counts the config file's keys. */
			if (strict && (s->flags & SET_REQUIRED_STRICT) && !(s->flags & SET_SECRET)) {
				cfg_report(&ld->rep->errors, "%s (not set): required in %s", s->name,
				       config_env_name(ld->cfg->env));
				continue;
			}
			if (s->def && convert(s, s->def, ld->cfg, why, sizeof why) != 0)
				cfg_report(&ld->rep->errors, "%s (default): %s", s->name, why);
			continue;
		}
		if (convert(s, rv->value, ld->cfg, why, sizeof why) != 0) {
			if (s->flags & SET_SECRET)
				snprintf(why, sizeof why, "is invalid");
			cfg_report(&ld->rep->errors, "%s (%s): %s%s", s->name, rv->origin, why,
			       strict ? "" : " (optional here: remove it to use the default)");
		}
	}
}

/* ---- rules that span settings ---- */

static int ensure_dir(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
		return -1;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return access(path, W_OK | X_OK);
}

/* The state directory must exist and be ours to write. Outside the strict
 * environments a per-user directory stands in, with a warning. */
static void resolve_state_dir(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const struct raw_value *rv = &ld->raw[S_STATE_DIR];
	char home[PATH_MAX], dir[PATH_MAX];
	if (!rv->value && relocated_home(ld->paths, home, sizeof home) &&
	    reloc_join(home, "openai-fcgi-state", dir, sizeof dir) == 0) {
		free(cfg->state_dir);  /* the table's LOCALSTATEDIR default */
		cfg->state_dir = xstrdup(dir);
	}
	if (!cfg->state_dir)
		return;
	if (ensure_dir(cfg->state_dir) != 0) {
		if (config_strict(cfg)) {
			cfg_report(&ld->rep->errors, "STATE_DIR (%s): cannot create or write %s",
			       rv->value ? rv->origin : "default", cfg->state_dir);
			return;
		}
		char fallback[PATH_MAX];
		const char *base = getenv("XDG_RUNTIME_DIR");
		snprintf(fallback, sizeof fallback, "%s/openai-fcgi-%u", base && *base ? base : "/tmp",
			 (unsigned)geteuid());
		cfg_report(&ld->rep->warnings, "STATE_DIR (%s): cannot create or write %s; using %s instead",
		       rv->value ? rv->origin : "default", cfg->state_dir, fallback);
		free(cfg->state_dir);
		cfg->state_dir = xstrdup(fallback);
		if (ensure_dir(cfg->state_dir) != 0) {
			cfg_report(&ld->rep->errors, "STATE_DIR: cannot create or write %s either", fallback);
			return;
		}
	}
	if (!cfg->rate_limit_file) {
		strbuf sb = STRBUF_INIT;
		sb_printf(&sb, "%s/ratelimit", cfg->state_dir);
		cfg->rate_limit_file = xstrdup(sb_str(&sb));
		sb_free(&sb);
	}
	if (!cfg->usage_file) {
		strbuf sb = STRBUF_INIT;
		sb_printf(&sb, "%s/usage", cfg->state_dir);
		cfg->usage_file = xstrdup(sb_str(&sb));
		sb_free(&sb);
	}
}

/* STATE_BACKEND=redis needs a REDIS_URL that parses; it is checked here
 * so that a typo refuses start-up with the setting's name, not each
 * request. */
static void check_state_backend(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	const struct raw_value *rv = &ld->raw[S_REDIS_URL];
	struct rp_url url;
	char err[256];
	if (cfg->state_backend != 1)
		return;
	if (!cfg->redis_url) {
		cfg_report(&ld->rep->errors, "STATE_BACKEND=redis needs REDIS_URL (redis://host:port/db or unix:///path.sock)");
		return;
	}
	if (rp_parse_url(cfg->redis_url, &url, err, sizeof err) != 0)
		cfg_report(&ld->rep->errors, "%s (%s)", err, rv->value ? rv->origin : "default");
	/* every key name must fit RP_MAX_KEY with its longest key after it */
	if (strlen(cfg->redis_key_prefix) > RP_MAX_PREFIX)
		cfg_report(&ld->rep->errors, "REDIS_KEY_PREFIX: longer than %d bytes", RP_MAX_PREFIX);
}

/* The development key: random, made once and kept in the state directory
 * so that every worker process and CGI invocation accepts the same one. */
static char *dev_token(struct loader *ld, bool *created)
{
	char path[PATH_MAX], tok[80];
	*created = false;
	snprintf(path, sizeof path, "%s/dev-token", ld->cfg->state_dir);
	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, tok, sizeof tok - 1);
			close(fd);
			if (n >= 20 && strncmp(tok, "dev_", 4) == 0) {
				tok[n] = '\0';
				tok[strcspn(tok, "\r\n")] = '\0';
				if (auth_token_wellformed(tok))
					return xstrdup(tok);
			}
			unlink(path); /* damaged: make a new one */
		}
		unsigned char rnd[24];
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			return NULL;
		strcpy(tok, "dev_");
		for (size_t i = 0; i < sizeof rnd; i++)
			snprintf(tok + 4 + 2 * i, 3, "%02x", rnd[i]);
		/* O_EXCL: when two processes race, one file wins and the loser reads it. */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return NULL;
		}
		size_t len = strlen(tok);
		tok[len] = '\n';
		ssize_t w = write(fd, tok, len + 1);
		close(fd);
		tok[len] = '\0';
		if (w != (ssize_t)len + 1)
			return NULL;
		*created = true;
		return xstrdup(tok);
	}
	return NULL;
}

static void add_token(struct config *cfg, const char *tok)
{
	cfg->tokens = xrealloc(cfg->tokens, (cfg->n_tokens + 1) * sizeof *cfg->tokens);
	cfg->tokens[cfg->n_tokens++] = xstrdup(tok);
}

/* A key listed in API_AUTH_TOKENS and in the config file's keys would match
 * its API_AUTH_TOKENS entry first and get the global limit. What an
 * operator means by a keys entry is that key's own settings, so that entry
 * wins: the API_AUTH_TOKENS copy is dropped with a warning naming the key's
 * fingerprint. The same key twice in keys has no such answer (which limit?)
 * and is refused. Compared by digest, so "sha256:<hex>" and its plain token
 * are the same key. Afterwards each key is in cfg->tokens once and the
 * keys stay the last n_keys entries, in order, which app_key_limit()
 * relies on. kr is the keyring of cfg->tokens as they were. */
static void drop_listed_twice(struct loader *ld, const struct auth_keyring *kr, const char *origin)
{
	struct config *cfg = ld->cfg;
	size_t first_key = cfg->n_tokens - cfg->n_keys, kept = 0;
	bool *drop = xcalloc(cfg->n_tokens ? cfg->n_tokens : 1, sizeof *drop);
	char fp[AUTH_FP_LEN + 1];

	for (size_t j = first_key; j < cfg->n_tokens; j++) {
		bool warned = false;
		for (size_t i = 0; i < j; i++) {
			if (memcmp(kr->digest[i], kr->digest[j], sizeof kr->digest[j]) != 0)
				continue;
			auth_fingerprint_key(kr, j, fp);
			if (i >= first_key) {
				cfg_report(&ld->rep->errors, "keys[%zu] and keys[%zu] (config file keys): the same key "
				       "(%s) twice; keep one entry", i - first_key, j - first_key, fp);
			} else if (!drop[i]) {
				drop[i] = true;
				if (warned)
					continue;
				warned = true;
				long rpm = cfg->keys[j - first_key].requests_per_minute;
				if (rpm > 0)
					cfg_report(&ld->rep->warnings, "API_AUTH_TOKENS (%s): key %s is also in the config "
					       "file's keys[%zu]; that entry applies (%ld requests per minute)",
					       origin, fp, j - first_key, rpm);
				else
					cfg_report(&ld->rep->warnings, "API_AUTH_TOKENS (%s): key %s is also in the config "
					       "file's keys[%zu]; that entry applies", origin, fp, j - first_key);
			}
		}
	}
	for (size_t i = 0; i < cfg->n_tokens; i++) {
		if (drop[i])
			free(cfg->tokens[i]);
		else
			cfg->tokens[kept++] = cfg->tokens[i];
	}
	cfg->n_tokens = kept;
	free(drop);
}

static void resolve_tokens(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const struct raw_value *rv = &ld->raw[S_API_AUTH_TOKENS];
	const char *origin = rv->value ? rv->origin : "not set";
	bool strict = config_strict(cfg);

	for (size_t i = 0; i < cfg->n_keys; i++)
		add_token(cfg, cfg->keys[i].token);

	if (cfg->n_tokens == 0) {
		if (strict) {
			cfg_report(&ld->rep->errors, "API_AUTH_TOKENS (%s): required in %s: at least one token",
			       origin, config_env_name(cfg->env));
			return;
		}
		if (cfg->env == ENV_TEST) {
			add_token(cfg, TEST_TOKEN);
			cfg_report(&ld->rep->warnings, "API_AUTH_TOKENS (%s): no token given; test environment uses \"%s\"",
			       origin, TEST_TOKEN);
			return;
		}
		bool created;
		char *tok = cfg->state_dir ? dev_token(ld, &created) : NULL;
		if (!tok) {
			cfg_report(&ld->rep->errors, "API_AUTH_TOKENS (%s): no token given and no development key could be "
			       "stored in STATE_DIR", origin);
			return;
		}
		add_token(cfg, tok);
		cfg_report(&ld->rep->warnings, "API_AUTH_TOKENS (%s): no token given; development key: %s "
		       "(kept in %s/dev-token; set API_AUTH_TOKENS before deploying)", origin, tok, cfg->state_dir);
		free(tok);
		return;
	}
	for (size_t i = 0; i < cfg->n_tokens; i++) {
		const char *t = cfg->tokens[i];
		size_t len = strlen(t);
		const char *src = i < cfg->n_tokens - cfg->n_keys ? origin : "config file keys";
		if (auth_token_is_digest(t))
			continue; /* its format is checked by auth_keyring_init() below */
		if (!auth_token_wellformed(t)) {
			cfg_report(strict ? &ld->rep->errors : &ld->rep->warnings,
			       "API_AUTH_TOKENS (%s): token %zu has characters outside [A-Za-z0-9_.-] and can never be accepted",
			       src, i + 1);
			continue;
		}
		if (len < MIN_TOKEN_LEN)
			cfg_report(strict ? &ld->rep->errors : &ld->rep->warnings,
			       "API_AUTH_TOKENS (%s): token %zu is %zu characters; %s requires at least %d", src, i + 1, len,
			       strict ? config_env_name(cfg->env) : "production", MIN_TOKEN_LEN);
	}
	struct auth_keyring kr;
	char err[200];
	if (auth_keyring_init(&kr, cfg->tokens, cfg->n_tokens, err, sizeof err) != 0) {
		cfg_report(&ld->rep->errors, "API_AUTH_TOKENS (%s): %s", origin, err);
		return;
	}
	drop_listed_twice(ld, &kr, origin);
	auth_keyring_free(&kr);
}

static void resolve_project(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const char *path = cfg->pyproject_path;
	if (!path && ld->paths->program_path) {
		/* one uploaded file: the name and version configure took from
		 * pyproject.toml are compiled in, and no file is needed beside it */
		cfg->project_name = xstrdup(PACKAGE_NAME);
		cfg->project_version = xstrdup(PACKAGE_VERSION);
		return;
	}
	if (!path)
		path = access(PKGDATADIR "/pyproject.toml", R_OK) == 0 ? PKGDATADIR "/pyproject.toml" : "pyproject.toml";
	struct pyproject pp;
	char err[320];
	strbuf *sink = config_strict(cfg) ? &ld->rep->errors : &ld->rep->warnings;
	if (pyproject_load(path, &pp, err, sizeof err) != 0) {
		cfg_report(sink, "PYPROJECT_PATH: %s", err);
	} else {
		if (pp.name && *pp.name && pp.version && *pp.version) {
			cfg->project_name = xstrdup(pp.name);
			cfg->project_version = xstrdup(pp.version);
			if (path != cfg->pyproject_path) {
				free(cfg->pyproject_path);
				cfg->pyproject_path = xstrdup(path);
			}
		} else {
			cfg_report(sink, "PYPROJECT_PATH: %s: [project] name and version must both be set and non-empty", path);
		}
		pyproject_free(&pp);
	}
	if (!cfg->project_name) {
		cfg->project_name = xstrdup(PACKAGE_NAME);
		cfg->project_version = xstrdup(PACKAGE_VERSION);
	}
}

static void resolve_models(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	if (cfg->n_models == 0 && !cfg->models) {
		cfg->models = xcalloc(N_DEFAULT_MODELS, sizeof *cfg->models);
		for (size_t i = 0; i < N_DEFAULT_MODELS; i++) {
			struct model_cfg *m = &cfg->models[cfg->n_models++];
			cfg_member_defaults(cfg_model_members, m);  /* the mock, canned, 100 ms apart */
			m->id = xstrdup(default_models[i].id);
			m->endpoints = default_models[i].endpoints;
			m->owned_by = xstrdup(MODEL_DEFAULT_OWNER);
			m->created = 1700000000;
		}
	}
	for (size_t i = 0; i < cfg->n_models; i++) {
		struct model_cfg *m = &cfg->models[i];
		if (!m->endpoints)  /* dimensions alone say an embedding model */
			m->endpoints = m->dimensions ? EP_EMBEDDINGS : EP_CHAT_FAMILY;
		if ((m->endpoints & EP_EMBEDDINGS) && !m->dimensions)
			m->dimensions = EMB_DEFAULT_DIMENSIONS;
	}
	if (cfg->mock_stream_delay_ms >= 0)
		for (size_t i = 0; i < cfg->n_models; i++)
			cfg->models[i].mock.delay_ms = cfg->mock_stream_delay_ms;
	/* every model's streams, the mock's too: a long delay is a silence as well */
	for (size_t i = 0; i < cfg->n_models; i++)
		cfg->models[i].ping_ms = cfg->stream_ping_s * 1000;
}

/* A key's models entry that names no configured model allows nothing: a
 * typo, most likely, said at start rather than found as 404s. A warning,
 * not a refusal: the model may be on its way into the config. */
static void check_key_models(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	for (size_t i = 0; i < cfg->n_keys; i++)
		for (size_t j = 0; j < cfg->keys[i].n_models; j++)
			if (!config_find_model(cfg, cfg->keys[i].models[j]))
				cfg_report(&ld->rep->warnings, "keys[%zu].models (config file keys): no model \"%.64s\" "
					   "is configured; the key cannot use it", i, cfg->keys[i].models[j]);
}

int config_load(const struct config_paths *paths, struct config *cfg, struct config_report *rep)
{
	struct loader ld;
	memset(&ld, 0, sizeof ld);
	memset(cfg, 0, sizeof *cfg);
	memset(rep, 0, sizeof *rep);
	cfg->mock_stream_delay_ms = -1;
	cfg->upstream_timeout_s = -1;
	ld.paths = paths;
	ld.cfg = cfg;
	ld.rep = rep;
	ld.raw = xcalloc(settings_count(), sizeof *ld.raw);

	load_file(&ld);
	load_dotenv(&ld);
	load_environ(&ld);
	resolve_environment(&ld);
	resolve_settings(&ld);
	if (rep->errors.len == 0)
		resolve_state_dir(&ld);
	check_state_backend(&ld);
	resolve_tokens(&ld);
	resolve_project(&ld);
	cfg_resolve_upstream_env(&ld);
	cfg_resolve_upstream_keys(&ld);
	cfg_resolve_upstream_limits(&ld);
	resolve_models(&ld);
	check_key_models(&ld);

	for (size_t i = 0; i < settings_count(); i++)
		free(ld.raw[i].value);
	free(ld.raw);
	if (rep->errors.len) {
		config_free(cfg);
		return -1;
	}
	return 0;
}

void config_report_free(struct config_report *rep)
{
	sb_free(&rep->errors);
	sb_free(&rep->warnings);
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void config_free(struct config *cfg)
{
	free(cfg->host);
	free(cfg->log_file);
	free_list(cfg->tokens, cfg->n_tokens);
	free_list(cfg->cors_origins, cfg->n_cors_origins);
	free(cfg->state_dir);
	free(cfg->rate_limit_file);
	free(cfg->usage_file);
	free(cfg->redis_url);
	free(cfg->redis_key_prefix);
	free(cfg->metrics_token);
	free(cfg->pyproject_path);
	free(cfg->docs_dir);
	free(cfg->project_name);
	free(cfg->project_version);
	for (size_t i = 0; i < cfg->n_models; i++) {
		free(cfg->models[i].id);
		free(cfg->models[i].owned_by);
		cfg_free_deployments(&cfg->models[i]);
	}
	free(cfg->models);
	for (size_t i = 0; i < cfg->n_upstreams; i++) {
		struct upstream_cfg *up = &cfg->upstreams[i];
		free(up->name);
		free(up->base_url);
		free(up->api_key_env);
		free(up->api_key);
		free_list(up->headers, up->n_headers);
	}
	free(cfg->upstreams);
	free(cfg->upstream_base_url);
	free(cfg->upstream_api_key);
	free(cfg->ca_bundle);
	free_list(cfg->upstream_models, cfg->n_upstream_models);
	for (size_t i = 0; i < cfg->n_keys; i++)
		key_cfg_free(&cfg->keys[i]);
	free(cfg->keys);
	memset(cfg, 0, sizeof *cfg);
}

/* One line per configured key: its policy, never its token. */
static void describe_key(strbuf *out, size_t i, const struct key_cfg *k)
{
	char t[32];
	sb_printf(out, "key %zu: name %s", i, k->name ? k->name : "-");
	if (k->requests_per_minute)
		sb_printf(out, ", %ld requests/min", k->requests_per_minute);
	if (k->tokens_per_minute)
		sb_printf(out, ", %ld tokens/min", k->tokens_per_minute);
	if (k->max_streams)
		sb_printf(out, ", %ld streams", k->max_streams);
	if (k->not_before != KP_NO_NOT_BEFORE) {
		kp_format_time(k->not_before, t, sizeof t);
		sb_printf(out, ", from %s", t);
	}
	if (k->expires != KP_NO_EXPIRY) {
		kp_format_time(k->expires, t, sizeof t);
		sb_printf(out, ", until %s", t);
	}
	for (size_t j = 0; j < k->n_models; j++)
		sb_printf(out, "%s%s", j ? "," : ", models ", k->models[j]);
	sb_putc(out, '\n');
}

static void describe_token(strbuf *out, const char *t)
{
	size_t len = strlen(t);
	if (strncmp(t, "sha256:", 7) == 0)
		sb_printf(out, "sha256:%.8s…", t + 7);
	else if (len >= MIN_TOKEN_LEN)
		sb_printf(out, "%.4s…(%zu chars)", t, len);
	else
		sb_printf(out, "****(%zu chars)", len);
}

void config_describe(const struct config *cfg, strbuf *out)
{
	sb_printf(out, "project: %s %s (from %s)\n", cfg->project_name, cfg->project_version,
		  cfg->pyproject_path ? cfg->pyproject_path : "built-in defaults");
	for (const struct setting *s = settings_table; s->name; s++) {
		const char *field = (const char *)cfg + s->offset;
		sb_printf(out, "%s=", s->name);
		switch (s->type) {
		case ST_STRING: {
			const char *v = *(char *const *)field;
			if (v && (s->flags & SET_SECRET))
				describe_token(out, v);
			else
				sb_puts(out, v ? v : "");
			break;
		}
		case ST_INT: {
			long v = *(const long *)field;
			if (v >= 0)
				sb_printf(out, "%ld", v);
			break;
		}
		case ST_LIST: {
			char *const *v = *(char **const *)field;
			size_t n = *(const size_t *)((const char *)cfg + s->count_offset);
			for (size_t i = 0; i < n; i++) {
				if (i)
					sb_putc(out, ',');
				if (s->flags & SET_SECRET)
					describe_token(out, v[i]);
				else
					sb_puts(out, v[i]);
			}
			break;
		}
		case ST_LOGLEVEL:
			sb_puts(out, log_level_name(*(const enum log_level *)field));
			break;
		case ST_CHOICE: {
			int idx = *(const int *)field;
			const char *p = s->choices;
			for (int i = 0; i < idx && p; i++) {
				p = strchr(p, '|');
				if (p)
					p++;
			}
			if (p)
				sb_append(out, p, strcspn(p, "|"));
			break;
		}
		}
		sb_putc(out, '\n');
	}
	for (size_t i = 0; i < cfg->n_models; i++) {
		const struct model_cfg *m = &cfg->models[i];
		sb_printf(out, "model %s: backend %s, owned_by %s, max_output_tokens %ld", m->id,
			  m->backend == BACKEND_MOCK ? "mock" : "upstream", m->owned_by, m->max_output_tokens);
		for (size_t d = 0; m->backend == BACKEND_UPSTREAM && d < m->upstream.n_deployments; d++) {
			const struct deployment_cfg *dep = &m->upstream.deployments[d];
			sb_printf(out, "%s %s at %s (key %s%s", d ? ";" : ",", dep->model, dep->up->base_url,
				  dep->up->api_key ? "set" : "none", dep->up->responses_native ? ", responses native" : "");
			if (m->upstream.n_deployments > 1)
				sb_printf(out, ", priority %ld, weight %ld", dep->priority, dep->weight);
			sb_putc(out, ')');
		}
		sb_puts(out, ", answers");
		for (unsigned e = EP_CHAT; e <= EP_EMBEDDINGS; e <<= 1)
			if (m->endpoints & e)
				sb_printf(out, " %s", config_endpoint_name((enum model_endpoint)e));
		sb_putc(out, '\n');
	}
	for (size_t i = 0; i < cfg->n_keys; i++)
		describe_key(out, i, &cfg->keys[i]);
}
