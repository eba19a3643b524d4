/* curl_api.c: libcurl and its ~30 dependent libraries are mapped only by a process that talks to an upstream */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "curl_api.h"

/* dlsym hands back a data pointer; POSIX guarantees it can hold a
 * function's address, and the copy below relies on the sizes agreeing. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit in void *");

#define SYM(f) { "curl_" #f, offsetof(struct curl_api, f) }
static const struct {
	const char *name;
	size_t offset;
} symbols[] = {
	SYM(global_init), SYM(easy_init), SYM(easy_cleanup), SYM(easy_reset), SYM(easy_setopt),
	SYM(easy_perform), SYM(easy_strerror), SYM(slist_append), SYM(slist_free_all),
	SYM(multi_init), SYM(multi_cleanup), SYM(multi_add_handle), SYM(multi_remove_handle),
	SYM(multi_perform), SYM(multi_wait), SYM(multi_info_read), SYM(multi_timeout),
	SYM(url), SYM(url_cleanup), SYM(url_set),
	SYM(url_get), SYM(free), SYM(easy_getinfo), SYM(easy_send), SYM(easy_recv),
};

int curl_api_load(const char *soname, struct curl_api *api, char *err, size_t errlen)
{
	/* RTLD_NOW: a missing symbol fails here, not in the middle of a
	 * request; RTLD_LOCAL: curl's dependencies stay out of our namespace */
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, errlen, "%s", dlerror());
		return -1;
	}
	for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
		void *fn = dlsym(lib, symbols[i].name);
		if (!fn) {
			snprintf(err, errlen, "%s: no %s", soname, symbols[i].name);
			dlclose(lib);
			return -1;
		}
		memcpy((char *)api + symbols[i].offset, &fn, sizeof fn);
	}
	return 0;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct curl_api loaded;
static const struct curl_api *table;  /* &loaded once it is usable */
static char why[256];

static void load_once(void)
{
	if (curl_api_load(CURL_API_SONAME, &loaded, why, sizeof why) == 0)
		table = &loaded;
}

const struct curl_api *curl_api(void)
{
	pthread_once(&once, load_once);
	return table;
}

const char *curl_api_error(void)
{
	return why;
}
