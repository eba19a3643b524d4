/* test_curl_api.c: libcurl is mapped only once an upstream needs it, and every function the backend calls is found */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backend_upstream.h"
#include "config.h"
#include "curl_api.h"

/* Is a file whose name contains what mapped into this process? */
static bool mapped(const char *what)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;
	assert_non_null(f);
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* These first two tests must run before anything loads libcurl: cmocka
 * runs them in the order of the table below. */
static void test_not_linked_not_mapped_at_start(void **state)
{
	(void)state;
	assert_false(mapped("libcurl"));
}

static void test_mock_only_config_does_not_load(void **state)
{
	(void)state;
	struct model_cfg model = { .id = "m", .backend = BACKEND_MOCK };
	struct upstream_cfg up = { .name = "u", .base_url = "http://127.0.0.1:1/v1", .discover = false };
	struct config cfg = { .models = &model, .n_models = 1, .upstreams = &up, .n_upstreams = 1 };
	char err[256] = "";
	assert_false(upstream_in_use(&cfg));
	assert_int_equal(upstream_preload(&cfg, err, sizeof err), 0);
	assert_false(mapped("libcurl"));
}

static void test_upstream_model_or_discovery_needs_it(void **state)
{
	(void)state;
	struct upstream_cfg up = { .name = "u", .base_url = "http://127.0.0.1:1/v1" };
	struct model_cfg models[2] = { { .id = "m", .backend = BACKEND_MOCK },
				       { .id = "u", .backend = BACKEND_UPSTREAM, .upstream = { &up, "x" } } };
	struct config cfg = { .models = models, .n_models = 2, .upstreams = &up, .n_upstreams = 1 };
	assert_true(upstream_in_use(&cfg));
	cfg.n_models = 1;
	up.discover = true;
	assert_true(upstream_in_use(&cfg));

	char err[256] = "";
	assert_int_equal(upstream_preload(&cfg, err, sizeof err), 0);
	assert_true(mapped("libcurl"));
}

static void test_load_finds_every_function(void **state)
{
	(void)state;
	struct curl_api api;
	char err[256] = "";
	memset(&api, 0, sizeof api);
	assert_int_equal(curl_api_load(CURL_API_SONAME, &api, err, sizeof err), 0);
	void *slots[sizeof api / sizeof(void *)];
	memcpy(slots, &api, sizeof api);
	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
		assert_non_null(slots[i]);
	assert_string_equal(api.easy_strerror(CURLE_COULDNT_CONNECT), "Couldn't connect to server");
	/* an upstream's URL parsed once, as the relay hands it to CURLOPT_CURLU */
	CURLU *u = api.url();
	assert_non_null(u);
	assert_int_equal(api.url_set(u, CURLUPART_URL, "http://127.0.0.1:1/v1/chat/completions",
				     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME), CURLUE_OK);
	assert_int_not_equal(api.url_set(u, CURLUPART_URL, "http://[::1/v1", 0), CURLUE_OK);
	api.url_cleanup(u);
}

static void test_missing_library_is_named(void **state)
{
	(void)state;
	struct curl_api api;
	char err[256] = "";
	assert_int_equal(curl_api_load("libcurl-missing.so.99", &api, err, sizeof err), -1);
	assert_non_null(strstr(err, "libcurl-missing.so.99"));
}

/* A library that loads but is not libcurl names the first function missing. */
static void test_missing_function_is_named(void **state)
{
	(void)state;
	struct curl_api api;
	char err[256] = "";
	assert_int_equal(curl_api_load("libc.so.6", &api, err, sizeof err), -1);
	assert_non_null(strstr(err, "curl_global_init"));
}

static void test_process_table_is_shared_and_usable(void **state)
{
	(void)state;
	const struct curl_api *a = curl_api();
	assert_non_null(a);
	assert_ptr_equal(curl_api(), a);
	assert_string_equal(curl_api_error(), "");
	assert_int_equal(a->global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	CURL *c = a->easy_init();
	assert_non_null(c);
	assert_int_equal(a->easy_setopt(c, CURLOPT_URL, "http://127.0.0.1:1/"), CURLE_OK);
	struct curl_slist *h = a->slist_append(NULL, "Accept: application/json");
	assert_non_null(h);
	a->slist_free_all(h);
	a->easy_cleanup(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_linked_not_mapped_at_start),
		cmocka_unit_test(test_mock_only_config_does_not_load),
		cmocka_unit_test(test_upstream_model_or_discovery_needs_it),
		cmocka_unit_test(test_load_finds_every_function),
		cmocka_unit_test(test_missing_library_is_named),
		cmocka_unit_test(test_missing_function_is_named),
		cmocka_unit_test(test_process_table_is_shared_and_usable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
