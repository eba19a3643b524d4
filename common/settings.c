/* settings.c: the table of settings (name, type, bounds, default, rule per environment) */
#include "settings.h"

#include <stddef.h>
#include <string.h>

#include "config.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/share/openai-fcgi"
#endif

#define F(field) offsetof(struct config, field)

/* Every row of settings_list.h, at its id's index. */
const struct setting settings_table[] = {
#define SETTING(id, ...) [S_##id] = { #id, __VA_ARGS__ },
#include "settings_list.h"
#undef SETTING
	[S_COUNT] = { NULL, 0, 0, 0, NULL, NULL, 0, 0, 0, NULL },
};

size_t settings_count(void)
{
	return S_COUNT;
}

const struct setting *settings_find(const char *name)
{
	for (const struct setting *s = settings_table; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}
