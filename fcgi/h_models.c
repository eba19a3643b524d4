/* h_models.c: GET /v1/models and GET /v1/models/{id}: the configured models and those upstreams list */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend_upstream.h"

#include "app.h"
#include "key_policy.h"
#include "models.h"
#include "response.h"
#include "routes.h"

static long mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

/* May this request's key use model id? Every key may, but one with a
 * models list. */
static bool key_may_use(const struct request *req, const char *id)
{
	return !req->key || kp_model_allowed(req->key->models, req->key->n_models, id);
}

struct listing {
	struct request *req;
	strbuf *b;
	size_t listed;
};

static void list_one(struct listing *l, const char *id, long created, const char *owned_by)
{
	if (!key_may_use(l->req, id))
		return;
	if (l->listed++)
		sb_putc(l->b, ',');
	model_object_json(l->b, id, created, owned_by);
}

static void list_discovered(void *ctx, const struct discovered_model *m)
{
	list_one(ctx, m->id, m->created, m->owned_by);
}

enum oa_result h_models_list(struct request *req)
{
	const struct config *cfg = &req->app->cfg;
	struct listing l = { req, &req->out, 0 };
	sb_reset(l.b);
	sb_puts(l.b, "{\"object\":\"list\",\"data\":[");
	for (size_t i = 0; i < cfg->n_models; i++)
		list_one(&l, cfg->models[i].id, cfg->models[i].created, cfg->models[i].owned_by);
	upstream_discover(cfg, mono_s(), list_discovered, &l);
	sb_puts(l.b, "]}");
	resp_json(req, 200, l.b->buf, l.b->len);
	return OA_DONE;
}

const struct model_cfg *models_lookup(struct request *req, const char *id)
{
	const struct config *cfg = &req->app->cfg;
	/* a model outside the key's list is, to this key, a model that does
	 * not exist (OpenAI's answer too) */
	if (!key_may_use(req, id))
		return NULL;
	const struct model_cfg *m = config_find_model(cfg, id);
	if (m)
		return m;
	struct discovered_model *d = &req->discovered.found;
	if (upstream_discovered(cfg, id, mono_s(), d) != 0)
		return NULL;
	/* served by the upstream that lists it, by the name it lists, for
	 * whatever it is asked: the upstream says what it does not do */
	struct deployment_cfg *dep = &req->discovered.deployment;
	snprintf(req->discovered.deployment_name, sizeof req->discovered.deployment_name, "%s/%s", d->up->name, d->id);
	memset(dep, 0, sizeof *dep);
	dep->up = d->up;
	dep->model = d->id;
	dep->name = req->discovered.deployment_name;
	dep->weight = 1;
	struct model_cfg *mc = &req->discovered.model;
	memset(mc, 0, sizeof *mc);
	mc->id = d->id;
	mc->owned_by = d->owned_by;
	mc->created = d->created;
	mc->backend = BACKEND_UPSTREAM;
	mc->upstream.up = d->up;
	mc->upstream.model = d->id;
	mc->upstream.deployments = dep;
	mc->upstream.n_deployments = 1;
	mc->upstream.retries = 0;
	mc->ping_ms = cfg->stream_ping_s * 1000;
	mc->endpoints = EP_CHAT_FAMILY | EP_EMBEDDINGS;
	return mc;
}

enum oa_result h_models_get(struct request *req)
{
	const struct model_cfg *m = models_lookup(req, req->path_arg);
	if (!m)
		return oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "model_not_found", "model",
				    "The model '%.200s' does not exist or you do not have access to it.",
				    req->path_arg);
	sb_reset(&req->out);
	model_object_json(&req->out, m->id, m->created, m->owned_by);
	resp_json(req, 200, req->out.buf, req->out.len);
	return OA_DONE;
}
