/* models.c: the model object as GET /v1/models shows it, one renderer for configured and discovered models */
#include "models.h"

#include <string.h>

void model_object_json(strbuf *b, const char *id, long created, const char *owned_by)
{
	sb_puts(b, "{\"id\":");
	sb_json_str(b, id, strlen(id));
	sb_puts(b, ",\"object\":\"model\",\"created\":");
	sb_put_int(b, created);
	sb_puts(b, ",\"owned_by\":");
	sb_json_str(b, owned_by, strlen(owned_by));
	sb_putc(b, '}');
}
