/* models.h: the model object as GET /v1/models shows it, one renderer for configured and discovered models */
#ifndef OAF_MODELS_H
#define OAF_MODELS_H
#include "strbuf.h"

/* Appends {"id","object":"model","created","owned_by"} to b. Strings are
 * borrowed for the call. */
void model_object_json(strbuf *b, const char *id, long created, const char *owned_by);

#endif
