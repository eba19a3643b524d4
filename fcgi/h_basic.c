/* h_basic.c: GET /health and GET /v1, the answers that need no model */
#include <string.h>

#include "app.h"
#include "response.h"
#include "routes.h"

enum oa_result h_health(struct request *req)
{
	static const char body[] = "{\"status\":\"ok\"}";
	resp_json(req, 200, body, sizeof body - 1);
	return OA_DONE;
}

enum oa_result h_v1_root(struct request *req)
{
	strbuf *b = &req->out;
	const struct config *cfg = &req->app->cfg;
	sb_reset(b);
	sb_puts(b, "{\"message\":");
	strbuf msg = STRBUF_INIT;
	sb_printf(&msg, "Welcome to %s %s - Version 1", cfg->project_name, cfg->project_version);
	sb_json_str(b, msg.buf, msg.len);
	sb_free(&msg);
	sb_putc(b, '}');
	resp_json(req, 200, b->buf, b->len);
	return OA_DONE;
}
