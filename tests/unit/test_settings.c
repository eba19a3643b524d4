/* test_settings.c: the settings and member tables are well-formed and documented where users read them */
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

#include "config_members.h"
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

/* Every member table: documented rows, unique names, a default that its
 * own rules accept, and a field only for the kinds the reader stores. */
static void test_member_tables_well_formed(void **state)
{
	(void)state;
	for (const struct member_table *t = cfg_member_tables; t->members; t++) {
		for (const struct member *m = t->members; m->name; m++) {
			if (!m->doc || strlen(m->doc) <= 10)
				fail_msg("%s.%s: no documentation line", t->group, m->name);
			for (const struct member *o = m + 1; o->name; o++)
				if (strcmp(o->name, m->name) == 0)
					fail_msg("%s.%s: listed twice", t->group, m->name);
			for (const char *c = m->name; *c; c++)
				assert_true(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_');
			if (m->size)
				assert_true(m->kind == MK_INT || m->kind == MK_BOOL || m->kind == MK_CHOICE);
			assert_true((m->kind == MK_GROUP) == (m->group != NULL));
			if (m->kind == MK_INT) {
				assert_true(m->min <= m->max);
				if (m->def) {
					long long d = strtoll(m->def, NULL, 10);
					if (d < m->min || d > m->max)
						fail_msg("%s.%s: default %s outside %lld..%lld", t->group, m->name,
							 m->def, m->min, m->max);
				}
			}
			if (m->kind == MK_CHOICE) {
				assert_non_null(m->choices);
				if (!m->def || cfg_member_choice(m->choices, m->def) < 0)
					fail_msg("%s.%s: default not among %s", t->group, m->name, m->choices);
			}
			if (m->kind == MK_BOOL)
				assert_true(m->def && (!strcmp(m->def, "true") || !strcmp(m->def, "false")));
		}
	}
}

/* conf/openai-fcgi.conf, the annotated example, names every member too. */
static void test_example_conf_names_every_member(void **state)
{
	(void)state;
	char *conf = read_source("conf/openai-fcgi.conf");
	for (const struct member_table *t = cfg_member_tables; t->members; t++)
		for (const struct member *m = t->members; m->name; m++)
			if (!has_word(conf, m->name))
				fail_msg("%s.%s is not documented in conf/openai-fcgi.conf", t->group, m->name);
	free(conf);
}

/* n with a comma every three digits, as the README writes bounds. */
static void with_commas(long long n, char *buf, size_t len)
{
	char digits[32];
	int k = snprintf(digits, sizeof digits, "%lld", n), o = 0;
	for (int i = 0; i < k && (size_t)o + 2 < len; i++) {
		if (i && (k - i) % 3 == 0 && digits[0] != '-')
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

/* The README's table of keys' members (the rows after "| member | meaning |")
 * lists each member of cfg_key_members, and only those, and gives each
 * integer member the bounds the table holds ("1–10,000"). */
static void test_readme_key_members_match(void **state)
{
	(void)state;
	char *readme = read_source("README.md");
	char *start = strstr(readme, "| member | meaning |");
	assert_non_null(start);
	start = strchr(strchr(start, '\n') + 1, '\n') + 1;  /* past the |---| line */
	bool seen[64] = { false };
	for (char *line = start; *line == '|';) {
		char *end = strchr(line, '\n');
		char *cell_end = strchr(line + 1, '|');
		assert_non_null(end);
		assert_non_null(cell_end);
		for (char *p = strchr(line, '`'); p && p < cell_end; p = strchr(p + 1, '`')) {
			char *q = strchr(p + 1, '`');
			char name[64];
			assert_non_null(q);
			snprintf(name, sizeof name, "%.*s", (int)(q - p - 1), p + 1);
			size_t i = 0;
			while (cfg_key_members[i].name && strcmp(cfg_key_members[i].name, name) != 0)
				i++;
			const struct member *m = &cfg_key_members[i];
			if (!m->name)
				fail_msg("README's keys table has %s, which is no member of keys", name);
			seen[i] = true;
			if (m->kind == MK_INT) {
				char lo[32], hi[32], bounds[80];
				with_commas(m->min, lo, sizeof lo);
				with_commas(m->max, hi, sizeof hi);
				snprintf(bounds, sizeof bounds, "%s\u2013%s", lo, hi);
				*end = '\0';
				if (!strstr(cell_end, bounds))
					fail_msg("README's keys table: %s should say %s", name, bounds);
				*end = '\n';
			}
			p = q;
		}
		line = end + 1;
	}
	for (size_t i = 0; cfg_key_members[i].name; i++)
		if (!seen[i])
			fail_msg("keys' %s is missing from the README's table of members", cfg_key_members[i].name);
	free(readme);
}

/* One member as a row of the README's generated tables. */
static void member_row(strbuf *out, const struct member *m)
{
	sb_printf(out, "| `%s` | ", m->name);
	switch (m->kind) {
	case MK_INT:
		if (m->min == INT64_MIN && m->max == INT64_MAX) {
			sb_puts(out, "integer");
		} else {
			char lo[32], hi[32];
			with_commas(m->min, lo, sizeof lo);
			with_commas(m->max, hi, sizeof hi);
			sb_printf(out, "integer %s\u2013%s", lo, hi);
		}
		break;
	case MK_BOOL:
		sb_puts(out, "`true` or `false`");
		break;
	case MK_CHOICE:
		for (const char *c = m->choices; *c;) {
			size_t l = strcspn(c, "|");
			sb_printf(out, "%s`%.*s`", c == m->choices ? "" : c[l] ? ", " : " or ", (int)l, c);
			c += l + (c[l] == '|');
		}
		break;
	case MK_STRING:
		sb_puts(out, "string");
		break;
	case MK_LIST:
		sb_puts(out, "list");
		break;
	case MK_GROUP:
		sb_puts(out, "group, below");
		break;
	}
	sb_puts(out, " | ");
	if (m->def)
		sb_printf(out, "`%s`", m->def);
	else
		sb_puts(out, "\u2014");
	sb_puts(out, " | ");
	for (const char *c = m->doc; *c; c++)
		sb_puts(out, *c == '|' ? "\\|" : (char[2]){ *c, 0 });
	sb_puts(out, " |\n");
}

/* The README's tables of models', upstreams' and their groups' members,
 * as the member tables make them (keys[] has its own, longer table, which
 * test_readme_key_members_match checks). */
static void member_tables_markdown(strbuf *out)
{
	const char *open = NULL;
	for (const struct member_table *t = cfg_member_tables; t->members; t++) {
		if (strcmp(t->group, "keys[]") == 0)
			continue;
		if (!open || strcmp(open, t->group) != 0) {
			sb_printf(out, "%s**`%s`**\n\n| member | value | default | meaning |\n|---|---|---|---|\n",
				  open ? "\n" : "", t->group);
			open = t->group;
		}
		for (const struct member *m = t->members; m->name; m++)
			member_row(out, m);
	}
}

/* The README's block between its two member-table markers is exactly what
 * the tables make: a member added, renamed, rebounded or redocumented in
 * common/config_members.c fails here until the README says so too (the
 * expected block is written to member-tables.md to paste in). */
static void test_readme_member_tables_generated(void **state)
{
	(void)state;
	static const char begin[] = "<!-- member tables: made by tests/unit/test_settings.c from common/config_members.c -->\n";
	static const char end[] = "<!-- end of member tables -->";
	char *readme = read_source("README.md");
	char *b = strstr(readme, begin), *e = b ? strstr(b, end) : NULL;
	strbuf want = STRBUF_INIT;
	member_tables_markdown(&want);
	bool same = b && e && (size_t)(e - b - (sizeof begin - 1)) == want.len &&
		    memcmp(b + sizeof begin - 1, want.buf, want.len) == 0;
	if (!same) {
		FILE *f = fopen("member-tables.md", "w");
		if (f) {
			fwrite(want.buf, 1, want.len, f);
			fclose(f);
		}
	}
	sb_free(&want);
	free(readme);
	if (!same)
		fail_msg("README.md's member tables differ from common/config_members.c: put "
			 "member-tables.md (in the build directory) between the README's markers");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_well_formed),
		cmocka_unit_test(test_readme_table_matches),
		cmocka_unit_test(test_example_conf_names_every_setting),
		cmocka_unit_test(test_member_tables_well_formed),
		cmocka_unit_test(test_example_conf_names_every_member),
		cmocka_unit_test(test_readme_key_members_match),
		cmocka_unit_test(test_readme_member_tables_generated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
