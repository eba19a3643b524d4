/* curl_api.h: libcurl opened with dlopen on first use, so that a process without upstream models never maps it */
#ifndef OAF_CURL_API_H
#define OAF_CURL_API_H
#include <stddef.h>

#include <curl/curl.h>

/* The library the Debian package libcurl4 installs. */
#define CURL_API_SONAME "libcurl.so.4"

/* The libcurl functions backend_upstream.c calls, typed from curl.h so a
 * call through the table is checked as a direct call would be (except
 * curl_easy_setopt's variadic value, which only curl's own macro checks). */
struct curl_api {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_reset) *easy_reset;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	/* a transfer is driven by our own loop, so that it wakes often enough
	 * to see a departed client (curl_easy_perform waits up to 1 s) */
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
	__typeof__(curl_multi_add_handle) *multi_add_handle;
	__typeof__(curl_multi_remove_handle) *multi_remove_handle;
	__typeof__(curl_multi_perform) *multi_perform;
	__typeof__(curl_multi_wait) *multi_wait;
	__typeof__(curl_multi_info_read) *multi_info_read;
	/* how long a transfer waiting in the wait loop may sleep, by curl's own timers */
	__typeof__(curl_multi_timeout) *multi_timeout;
	/* an upstream's URL parsed once (CURLOPT_CURLU), not on every transfer */
	__typeof__(curl_url) *url;
	__typeof__(curl_url_cleanup) *url_cleanup;
	__typeof__(curl_url_set) *url_set;
	/* a whole answer's exchange on a connection libcurl made (CONNECT_ONLY),
	 * its head written and read by http1.h, and the URL's parts for it */
	__typeof__(curl_url_get) *url_get;
	__typeof__(curl_free) *free;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_send) *easy_send;
	__typeof__(curl_easy_recv) *easy_recv;
};

/* Returns 0 or -1 (the loader); the process's table is a pointer or NULL.
 * Two implementations, chosen by configure --with-curl: curl_api.c
 * (dlopen, the default) and curl_api_linked.c (libcurl linked in, for the
 * static build; it has no loader). */

#ifndef OAF_CURL_LINKED
/* Opens soname and looks up every function of the table into api: 0, or
 * -1 with the reason (dlerror's, naming the file or the symbol) in err.
 * The library is never closed; api owns nothing. No curl_global_init. */
int curl_api_load(const char *soname, struct curl_api *api, char *err, size_t errlen);
#endif

/* The process's libcurl: loaded by the first call, from whichever thread,
 * once. NULL if it could not be, on that call and every later one. The
 * table lives until exit. curl_global_init is the caller's: it starts
 * OpenSSL (~10 ms), which a process should pay only when it first asks. */
const struct curl_api *curl_api(void);

/* Why curl_api() returned NULL; "" when it did not, or was never called. */
const char *curl_api_error(void);

#endif
