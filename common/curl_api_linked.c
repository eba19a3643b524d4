/* curl_api_linked.c: the libcurl table filled at link time, for the static build where there is no dlopen */
#include "curl_api.h"

/* The same functions curl_api.c looks up by name, bound by the linker:
 * a static executable has no dynamic loader to open libcurl.so with. */
static const struct curl_api linked = {
	.global_init = curl_global_init,
	.easy_init = curl_easy_init,
	.easy_cleanup = curl_easy_cleanup,
	.easy_reset = curl_easy_reset,
	.easy_setopt = curl_easy_setopt,
	.easy_perform = curl_easy_perform,
	.easy_strerror = curl_easy_strerror,
	.slist_append = curl_slist_append,
	.slist_free_all = curl_slist_free_all,
	.multi_init = curl_multi_init,
	.multi_cleanup = curl_multi_cleanup,
	.multi_add_handle = curl_multi_add_handle,
	.multi_remove_handle = curl_multi_remove_handle,
	.multi_perform = curl_multi_perform,
	.multi_wait = curl_multi_wait,
	.multi_info_read = curl_multi_info_read,
	.multi_timeout = curl_multi_timeout,
	.url = curl_url,
	.url_cleanup = curl_url_cleanup,
	.url_set = curl_url_set,
	.url_get = curl_url_get,
	.free = curl_free,
	.easy_getinfo = curl_easy_getinfo,
	.easy_send = curl_easy_send,
	.easy_recv = curl_easy_recv,
};
/* Every member bound: a new one in curl_api.h must be added here too (a
 * NULL one would crash the static build's first upstream request). */
_Static_assert(sizeof linked == 25 * sizeof(void (*)(void)), "curl_api.h has members curl_api_linked.c does not bind");

const struct curl_api *curl_api(void)
{
	return &linked;
}

const char *curl_api_error(void)
{
	return "";
}
