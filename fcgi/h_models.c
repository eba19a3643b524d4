/* h_models.c: GET /v1/models and GET /v1/models/{id}, from the configured models */
#include <string.h>
#include <time.h>

#include "backend_upstream.h"

#include "app.h"
#include "key_policy.h"
#include "response.h"
#include "routes.h"

static void model_json(strbuf *b, const struct model_cfg *m)
{
	sb_puts(b, "{\"id\":");
	sb_json_str(b, m->id, strlen(m->id));
	sb_printf(b, ",\"object\":\"model\",\"created\":%ld,\"owned_by\":", m->created);
	sb_json_str(b, m->owned_by, strlen(m->owned_by));
	sb_putc(b, '}');
}

/* May this request's key use model id? Every key may, but one with a
 * models list. */
static bool key_may_use(const struct request *req, const char *id)
{
	return !req->key || kp_model_allowed(req->key->models, req->key->n_models, id);
}

int h_models_list(struct request *req)
{
	const struct config *cfg = &req->app->cfg;
	strbuf *b = &req->out;
	size_t listed = 0;
	sb_reset(b);
	sb_puts(b, "{\"object\":\"list\",\"data\":[");
	for (size_t i = 0; i < cfg->n_models; i++) {
		if (!key_may_use(req, cfg->models[i].id))
			continue;
		if (listed++)
			sb_putc(b, ',');
		model_json(b, &cfg->models[i]);
	}
	if (req->key && req->key->n_models) {
		/* its list names what it may use: an upstream's own models are
		 * not among them unless configured */
		sb_puts(b, "]}");
		resp_json(req, 200, b->buf, b->len);
		return 0;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	size_t before = b->len;
	upstream_discover(cfg, (long)ts.tv_sec, b);
	if (cfg->n_models == 0 && b->len > before) {
		/* each discovered model came with its comma: the first needs none */
		memmove(b->buf + before, b->buf + before + 1, b->len - before);
		b->len--;
	}
	sb_puts(b, "]}");
	resp_json(req, 200, b->buf, b->len);
	return 0;
}

int h_models_get(struct request *req)
{
	const struct model_cfg *m = key_may_use(req, req->path_arg) ?
		config_find_model(&req->app->cfg, req->path_arg) : NULL;
	if (!m)
		return oa_error_set(&req->err, 404, OA_INVALID_REQUEST, "model_not_found", "model",
				    "The model '%.200s' does not exist or you do not have access to it.",
				    req->path_arg);
	sb_reset(&req->out);
	model_json(&req->out, m);
	resp_json(req, 200, req->out.buf, req->out.len);
	return 0;
}
