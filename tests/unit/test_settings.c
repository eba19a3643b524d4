/* test_settings.c: the settings table is well-formed and documented where users read it */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "strbuf.h"

static char *read_source(const char *rel)
{
	const char *top = getenv("top_srcdir");
	char path[1024];
	strbuf sb = STRBUF_INIT;
	snprintf(path, sizeof path, "%s/%s", top && *top ? top : ".", rel);
	if (sb_read_file(&sb, path) != 0)
		fail_msg("cannot read %s (top_srcdir=%s)", path, top ? top : "(unset)");
	return sb.buf;
}

/* Is name in text as a whole word (not part of a longer NAME_LIKE word)? */
static bool has_word(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
		bool left = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		bool right = !(isalnum((unsigned char)p[n]) || p[n] == '_');
		if (left && right)
			return true;
	}
	return false;
}

static void test_table_well_formed(void **state)
{
	size_t n = settings_count();
	assert_true(n > 10);
	for (size_t i = 0; i < n; i++) {
		const struct setting *s = &settings_table[i];
		assert_ptr_equal(settings_find(s->name), s);  /* names are unique */
		assert_non_null(s->doc);
		assert_true(strlen(s->doc) > 10);
		if (!(s->flags & SET_OPTIONAL) && s->type != ST_LIST)
			assert_non_null(s->def);
		if (s->type == ST_INT)
			assert_true(s->min <= s->max);
		if (s->type == ST_CHOICE)
			assert_non_null(s->choices);
		for (const char *c = s->name; *c; c++)
			assert_true(isupper((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_');
	}
}

/* The README's settings table (the rows after "| setting | default | rule |")
 * lists every setting, and only settings that exist. */
static void test_readme_table_matches(void **state)
{
	char *readme = read_source("README.md");
	char *start = strstr(readme, "| setting | default | rule |");
	assert_non_null(start);
	start = strchr(start, '\n') + 1;   /* the |---| line */
	start = strchr(start, '\n') + 1;
	bool seen[256] = { false };
	assert_true(settings_count() <= 256);
	for (char *line = start; *line == '|'; ) {
		char *end = strchr(line, '\n');
		char *cell_end = strchr(line + 1, '|');
		assert_non_null(end);
		assert_non_null(cell_end);
		/* the first cell: one name or several, comma-separated */
		for (char *p = line + 1; p < cell_end; ) {
			while (p < cell_end && (*p == ' ' || *p == ',' || *p == '`'))
				p++;
			char *q = p;
			while (q < cell_end && *q != ',' && *q != ' ' && *q != '`')
				q++;
			if (q > p) {
				char name[64];
				snprintf(name, sizeof name, "%.*s", (int)(q - p), p);
				const struct setting *s = settings_find(name);
				if (!s)
					fail_msg("README's settings table has %s, which is no setting", name);
				seen[s - settings_table] = true;
			}
			p = q;
		}
		line = end + 1;
	}
	for (size_t i = 0; i < settings_count(); i++)
		if (!seen[i])
			fail_msg("%s is missing from the README's settings table", settings_table[i].name);
	free(readme);
}

/* conf/openai-fcgi.conf, the annotated example, names every setting. */
static void test_example_conf_names_every_setting(void **state)
{
	char *conf = read_source("conf/openai-fcgi.conf");
	for (size_t i = 0; i < settings_count(); i++)
		if (!has_word(conf, settings_table[i].name))
			fail_msg("%s is not documented in conf/openai-fcgi.conf", settings_table[i].name);
	free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_well_formed),
		cmocka_unit_test(test_readme_table_matches),
		cmocka_unit_test(test_example_conf_names_every_setting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
