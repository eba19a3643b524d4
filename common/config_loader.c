/* config_loader.c: what loading the settings and the groups share: reports, member tables, origins */
#include "config_loader.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

size_t cfg_setting_index(const struct setting *s)
{
	return (size_t)(s - settings_table);
}

void cfg_report(strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(sb, fmt, ap);
	va_end(ap);
	sb_putc(sb, '\n');
}

static size_t edit_distance(const char *a, const char *b)
{
	enum { MAXLEN = 64 };
	size_t la = strlen(a), lb = strlen(b);
	if (la > MAXLEN || lb > MAXLEN)
		return SIZE_MAX;
	size_t d[MAXLEN + 1][MAXLEN + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			size_t best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *cfg_nearest_name(const char *name, const char *const *names, size_t n_names)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; i < n_names; i++) {
		size_t d = edit_distance(name, names[i]);
		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	/* a third of the name, at least 2: close enough to be a typo */
	size_t limit = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
	return best_d <= limit ? best : NULL;
}

static bool kind_matches(enum member_kind k, const config_setting_t *st)
{
	switch (k) {
	case MK_STRING:
	case MK_CHOICE: return config_setting_type(st) == CONFIG_TYPE_STRING;
	case MK_INT: return config_setting_type(st) == CONFIG_TYPE_INT || config_setting_type(st) == CONFIG_TYPE_INT64;
	case MK_BOOL: return config_setting_type(st) == CONFIG_TYPE_BOOL;
	case MK_GROUP: return config_setting_is_group(st);
	case MK_LIST: return config_setting_is_list(st) || config_setting_is_array(st);
	}
	return false;
}

static const char *const kind_names[] = { "a string", "an integer", "true or false", "a group { ... }",
					  "a list [ ... ] or ( ... )", "a string" };

static const struct member *find_member(const struct member *t, const char *name)
{
	for (; t && t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* libconfig 1.5 reads an integer literal past 32 bits without an L suffix
 * as a 32-bit int, silently wrapped (5000000000 becomes 705032704). A
 * budget is where such numbers are written, so the literal is read again
 * from its line: true (and *text the number written) when it differs. */
static bool int_literal_wrapped(const config_setting_t *st, const char *name, long long got, long long *text)
{
	const char *file = config_setting_source_file(st);
	unsigned line = config_setting_source_line(st);
	char buf[1024];
	bool wrapped = false;
	FILE *f = file && line ? fopen(file, "r") : NULL;
	if (!f || config_setting_type(st) != CONFIG_TYPE_INT) {
		if (f)
			fclose(f);
		return false;
	}
	for (unsigned n = 1; fgets(buf, sizeof buf, f); n++) {
		if (n != line)
			continue;
		for (char *p = strstr(buf, name); p; p = strstr(p + 1, name)) {
			char *v = p + strlen(name);
			v += strspn(v, " \t");
			if (*v != '=' && *v != ':')
				continue;
			v++;
			errno = 0;
			long long value = strtoll(v, NULL, 0);
			if (errno == ERANGE || value != got) {
				*text = value;
				wrapped = true;
			}
			break;
		}
		break;
	}
	fclose(f);
	return wrapped;
}

/* "a|b|c" as "\"a\", \"b\" or \"c\"", into buf. */
static void choices_text(const char *choices, char *buf, size_t n)
{
	size_t len = 0;
	for (const char *p = choices; *p && len < n;) {
		size_t l = strcspn(p, "|");
		bool last = !p[l];
		int w = snprintf(buf + len, n - len, "%s\"%.*s\"", p == choices ? "" : last ? " or " : ", ", (int)l, p);
		len += w > 0 ? (size_t)w : 0;
		p += l + !last;
	}
}

/* One member's value, m being its row: judged by the row and, when the row
 * has a size, stored in target. 0, or 1 after reporting what is wrong. */
static int read_member(struct loader *ld, const char *file, const config_setting_t *st, const char *what,
		       const struct member *m, void *target)
{
	char where[320], sub[96];
	cfg_file_origin(where, sizeof where, file, st);
	switch (m->kind) {
	case MK_INT: {
		long long v = config_setting_get_int64(st), written;
		/* bounds within 32 bits cannot be met by a wrapped literal's intent */
		if (m->max > INT32_MAX && int_literal_wrapped(st, m->name, v, &written)) {
			cfg_report(&ld->rep->errors, "%s.%s (%s): %lld does not fit libconfig's 32-bit integers; "
				   "write it with an L: %lldL", what, m->name, where, written, written);
			return 1;
		}
		if (v < m->min || v > m->max) {
			cfg_report(&ld->rep->errors, "%s.%s (%s): must be from %lld to %lld", what, m->name, where,
				   m->min, m->max);
			return 1;
		}
		if (m->size)
			cfg_member_store(target, m, v);
		return 0;
	}
	case MK_BOOL:
		if (m->size)
			cfg_member_store(target, m, config_setting_get_bool(st));
		return 0;
	case MK_CHOICE: {
		const char *v = config_setting_get_string(st);
		int i = cfg_member_choice(m->choices, v);
		if (i < 0) {
			char allowed[160];
			choices_text(m->choices, allowed, sizeof allowed);
			cfg_report(&ld->rep->errors, "%s.%s (%s): must be %s (unknown %s \"%.64s\")", what, m->name,
				   where, allowed, m->name, v);
			return 1;
		}
		if (m->size)
			cfg_member_store(target, m, i);
		return 0;
	}
	case MK_GROUP:
		snprintf(sub, sizeof sub, "%s.%s", what, m->name);
		return m->group ? cfg_read_members(ld, file, st, sub, m->group, target, NULL) > 0 : 0;
	case MK_STRING:
	case MK_LIST:
		return 0;  /* read by hand */
	}
	return 0;
}

int cfg_read_members(struct loader *ld, const char *file, const config_setting_t *group, const char *what,
		     const struct member *known, void *target, const struct member *others)
{
	enum { MAX_NAMES = 64 };
	const char *names[MAX_NAMES];
	size_t n_names = 0;
	int problems = 0;
	for (const struct member *k = known; k->name && n_names < MAX_NAMES; k++)
		names[n_names++] = k->name;
	for (const struct member *k = others; k && k->name && n_names < MAX_NAMES; k++)
		names[n_names++] = k->name;
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *st = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(st);
		const struct member *k = find_member(known, name);
		const struct member *other = k ? NULL : find_member(others, name);
		char where[320];
		cfg_file_origin(where, sizeof where, file, st);
		if (!k && !other) {
			const char *near = cfg_nearest_name(name, names, n_names);
			cfg_report(&ld->rep->errors, "%s.%s (%s): unknown setting `%s`%s%s%s", what, name, where, name,
				   near ? "; did you mean `" : "", near ? near : "", near ? "`?" : "");
			problems++;
		} else if (!kind_matches((k ? k : other)->kind, st)) {
			cfg_report(&ld->rep->errors, "%s.%s (%s): must be %s", what, name, where,
				   kind_names[(k ? k : other)->kind]);
			problems++;
		} else if (k) {
			problems += read_member(ld, file, st, what, k, target);
		}
	}
	return problems;
}

const char *cfg_mem_str(const config_setting_t *group, const char *name)
{
	const char *v = NULL;
	return config_setting_lookup_string(group, name, &v) ? v : NULL;
}

void cfg_file_origin(char *buf, size_t n, const char *file, const config_setting_t *st)
{
	snprintf(buf, n, "%s:%u", file, config_setting_source_line(st));
}
