/* test_pyproject.c: the [project] metadata reader, the TOML it skips and the TOML it refuses */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "pyproject.h"

static struct pyproject parse_ok(const char *text)
{
	struct pyproject p;
	char err[256] = "";

	if (pyproject_parse(NULL, text, strlen(text), &p, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	return p;
}

static void assert_parse_error(const char *text, const char *want)
{
	struct pyproject p;
	char err[256] = "";

	assert_int_equal(pyproject_parse(NULL, text, strlen(text), &p, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	assert_null(p.name);
	assert_null(p.version);
	assert_null(p.description);
	assert_null(p.license);
}

static const char normal[] =
	"# The blueprint's metadata\n"
	"[build-system]\n"
	"requires = [\"hatchling\"]\n"
	"build-backend = \"hatchling.build\"\n"
	"\n"
	"[project]\n"
	"name = \"openai-api-blueprint\"  # the distribution name\n"
	"version = '0.3.1'\n"
	"description = \"An OpenAI-compatible API \\\"blueprint\\\"\"\n"
	"readme = \"README.md\"\n"
	"requires-python = \">=3.12\"\n"
	"license = {text = \"MIT\"}\n"
	"authors = [\n"
	"    { name = \"A. Person\", email = \"a@example.com\" },\n"
	"]\n"
	"dependencies = [\n"
	"    \"fastapi>=0.110\",  # web framework, has a ] in the comment\n"
	"    \"pydantic[email]>=2\",\n"
	"    # version = \"9.9\" in a comment\n"
	"]\n"
	"classifiers = ['Programming Language :: Python :: 3']\n"
	"\n"
	"[project.optional-dependencies]\n"
	"dev = [\"pytest\", \"ruff\"]\n"
	"\n"
	"[project.urls]\n"
	"Homepage = \"https://example.com\"\n"
	"\n"
	"[tool.poetry]\n"
	"name = \"not-this-one\"\n"
	"version = \"0.0.0\"\n"
	"\n"
	"[[tool.mypy.overrides]]\n"
	"module = \"x.*\"\n"
	"ignore_missing_imports = true\n"
	"\n"
	"[tool.ruff]\n"
	"line-length = 100\n"
	"target-version = \"py312\"\n";

static void test_normal_file(void **state)
{
	struct pyproject p = parse_ok(normal);

	(void)state;
	assert_string_equal(p.name, "openai-api-blueprint");
	assert_string_equal(p.version, "0.3.1");
	assert_string_equal(p.description, "An OpenAI-compatible API \"blueprint\"");
	assert_string_equal(p.license, "MIT");
	pyproject_free(&p);
	assert_null(p.name);
}

static void test_name_version_missing(void **state)
{
	struct pyproject p = parse_ok("[project]\ndescription = \"d\"\n[tool.x]\nname = \"n\"\n");

	(void)state;
	assert_null(p.name);
	assert_null(p.version);
	assert_null(p.license);
	assert_string_equal(p.description, "d");
	pyproject_free(&p);
}

static void test_empty_strings_kept(void **state)
{
	struct pyproject p = parse_ok("[project]\nname = \"\"\nversion = ''\n");

	(void)state;
	assert_non_null(p.name);
	assert_string_equal(p.name, "");
	assert_string_equal(p.version, "");
	pyproject_free(&p);
}

static void test_project_absent(void **state)
{
	struct pyproject p = parse_ok("[tool.setuptools]\nname = \"x\"\nversion = \"1\"\n");

	(void)state;
	assert_null(p.name);
	assert_null(p.version);
	assert_null(p.description);
	assert_null(p.license);
	pyproject_free(&p);

	p = parse_ok("");
	assert_null(p.name);
	pyproject_free(&p);
}

static void test_other_tables_before_and_after(void **state)
{
	struct pyproject p = parse_ok("[tool.a]\nversion = \"wrong-before\"\n"
				      "[ project ]   # spaced header\nname = \"n\"\n"
				      "[tool.b]\nversion = \"wrong-after\"\n"
				      "[project.urls]\nversion = \"wrong-sub\"\n");

	(void)state;
	assert_string_equal(p.name, "n");
	assert_null(p.version);
	pyproject_free(&p);
}

static void test_version_elsewhere_not_taken(void **state)
{
	struct pyproject p = parse_ok("[project]\nname = \"n\"\n"
				      "dynamic = [\"version\"]\n"
				      "[[project.x]]\nversion = \"array-table\"\n"
				      "[\"project.y\"]\nversion = \"quoted-dot\"\n"
				      "[tool.hatch.version]\npath = \"v.py\"\n"
				      "[tool.z]\nproject = {version = \"inline\"}\n");

	(void)state;
	assert_string_equal(p.name, "n");
	assert_null(p.version);
	pyproject_free(&p);
}

static void test_comments(void **state)
{
	struct pyproject p = parse_ok("# top\n  # indented\n[project] # after header\n"
				      "# name = \"commented\"\n"
				      "name = \"has # hash\" # trailing\n"
				      "version = \"1.0\"#tight\n");

	(void)state;
	assert_string_equal(p.name, "has # hash");
	assert_string_equal(p.version, "1.0");
	pyproject_free(&p);
}

static void test_license_both_ways(void **state)
{
	struct pyproject a = parse_ok("[project]\nlicense = \"Apache-2.0\"\n");
	struct pyproject b = parse_ok("[project]\nlicense = { text = 'BSD-3-Clause' }\n");
	struct pyproject c = parse_ok("[project]\nlicense = {file = \"LICENSE\"}\n");

	(void)state;
	assert_string_equal(a.license, "Apache-2.0");
	assert_string_equal(b.license, "BSD-3-Clause");
	assert_null(c.license);   /* a file reference is not a license name */
	pyproject_free(&a);
	pyproject_free(&b);
	pyproject_free(&c);
	/* license = { text = "ISC" } spelled as a dotted key: refused, not followed */
	assert_parse_error("[project]\nlicense.text = \"ISC\"\n",
			   "pyproject.toml:2: dotted key license.text is not understood");
}

static void test_crlf(void **state)
{
	struct pyproject p = parse_ok("[tool.x]\r\nlist = [\r\n  1,\r\n  2, # c\r\n]\r\n"
				      "doc = \"\"\"\r\n[project]\r\n\"\"\"\r\n"
				      "[project]\r\nname = \"n\"\r\nversion = '2' # c\r\n"
				      "description = \"d\"\r\n");

	(void)state;
	assert_string_equal(p.name, "n");
	assert_string_equal(p.version, "2");
	assert_string_equal(p.description, "d");
	pyproject_free(&p);
}

static void test_string_escapes(void **state)
{
	struct pyproject p = parse_ok("[project]\n"
				      "name = \"tab\\there\\\\ \\u00e9 \\U0001F600\"\n"
				      "version = 'C:\\path\\no\\escapes'\n"
				      "description = \"q\\\"b\\b\\f\\n\\r\\e\"\n");

	(void)state;
	assert_string_equal(p.name, "tab\there\\ \xc3\xa9 \xf0\x9f\x98\x80");
	assert_string_equal(p.version, "C:\\path\\no\\escapes");
	assert_string_equal(p.description, "q\"b\b\f\n\r\x1b");
	pyproject_free(&p);
}

/* Multi-line strings are followed wherever they are skipped, so that text
 * in them that looks like a header or a key is never read as one; a kept
 * field written as one is refused. */
static void test_multiline_strings(void **state)
{
	struct pyproject p = parse_ok("[tool.x]\ndoc = \"\"\"\n[project]\nname = \"fake\"\n\"\"\"\n"
				      "lit = '''\n[project]\n'''\n"
				      "esc = \"\"\"still \\\"\"\" in \\\\\n[project]\n\"\"\"\"\n"
				      "lit2 = '''a\\''''\n"
				      "[project]\n"
				      "readme = \"\"\"\n[tool.y]\nversion = \"fake\"\n\"\"\"\n"
				      "version = \"real\"\n"
				      "notes = '''\nname = \"fake\"'''\n");

	(void)state;
	assert_null(p.name);
	assert_string_equal(p.version, "real");
	pyproject_free(&p);

	assert_parse_error("[project]\ndescription = \"\"\"\\\n    joined\"\"\"\n",
			   "pyproject.toml:2: description: multi-line strings are not understood");
	assert_parse_error("[project]\nname = '''\nraw'''\n",
			   "pyproject.toml:2: name: multi-line strings are not understood");
}

static void test_other_values_skipped(void **state)
{
	struct pyproject p = parse_ok("[project]\n"
				      "a = 1\nb = true\nc = 1979-05-27T07:32:00Z\nd = 3.14\n"
				      "c2 = 1979-05-27 07:32:00 # space-separated\n"
				      "c3 = [1979-05-27 07:32:00, 1979-05-27]\n"
				      "e = [[1, 2], [\"]\", '[']]\n"
				      "f = { x = [1, { y = \"}\" }], z = 'w' }\n"
				      "g = []\n"
				      "dotted.key = \"x\"\n"
				      "\"quoted key\" = 1\n"
				      "h = [ # a comment with ] and \" in it\n"
				      "  \"x\", # name = \"no\"\n"
				      "  { i = \"\\\"]\" },\n"
				      "]\n"
				      "version = \"ok\"\n");

	(void)state;
	assert_string_equal(p.version, "ok");
	assert_null(p.name);
	pyproject_free(&p);
}

/* A key before the first header is a top-level key, and there
 * `project.name = "x"` would set the name without a [project] header. */
static void test_top_level_keys_refused(void **state)
{
	(void)state;
	assert_parse_error("project.name = \"dotted\"\n[tool.x]\nproject.name = \"no\"\n",
			   "pyproject.toml:1: keys before the first table are not understood");
	assert_parse_error("# c\n\nname = \"top\"\n[project]\nname = \"n\"\n",
			   "pyproject.toml:3: keys before the first table are not understood");
}

/* Each way TOML has of giving a field a value we do not read is refused,
 * naming the line, rather than read as absent or as something else. */
static void test_refusals(void **state)
{
	(void)state;
	assert_parse_error("[project]\nversion = 1\n", "pyproject.toml:2: version: expected a one-line string");
	assert_parse_error("[project]\nname = [\"a\"]\n", "pyproject.toml:2: name: expected a one-line string");
	assert_parse_error("[project]\ndescription = { text = \"d\" }\n",
			   "pyproject.toml:2: description: expected a one-line string");
	assert_parse_error("[project]\nname = \"a\"\n\nname = \"b\"\n",
			   "pyproject.toml:4: name appears twice in [project]");
	assert_parse_error("[project]\nlicense = {file = \"L\"}\nlicense = \"MIT\"\n",
			   "pyproject.toml:3: license appears twice in [project]");
	assert_parse_error("[project]\nname = \"a\"\n[tool.x]\n[project]\nversion = \"1\"\n",
			   "pyproject.toml:4: [project] appears twice");
	assert_parse_error("[project]\nname = \"a\"\n[project.license]\ntext = \"MIT\"\n",
			   "pyproject.toml:3: table project.license is not understood");
	assert_parse_error("[tool.x]\n[ project . version ]\n",
			   "pyproject.toml:2: table project.version is not understood");
	assert_parse_error("[project]\nversion.major = \"1\"\n",
			   "pyproject.toml:2: dotted key version.major is not understood");
	assert_parse_error("[project]\n\"na\\u006de\" = \"x\"\n",
			   "pyproject.toml:2: a quoted key must be one line without escapes");
	assert_parse_error("[\"proj\\u0065ct\"]\nname = \"x\"\n",
			   "pyproject.toml:1: a quoted key must be one line without escapes");
	assert_parse_error("[project]\nlicense = { text = \"MIT\", file = \"L\" }\n",
			   "pyproject.toml:2: license: expected '}' after the string");
	assert_parse_error("[project]\nlicense = { files = \"L\" }\n",
			   "pyproject.toml:2: license: only { text = \"...\" } or { file = \"...\" } is understood");
	assert_parse_error("[project]\nlicense = { text.x = \"L\" }\n",
			   "pyproject.toml:2: license: only { text = \"...\" } or { file = \"...\" } is understood");
	assert_parse_error("[project]\nlicense = { text = 1 }\n",
			   "pyproject.toml:2: license: expected a one-line string");
}

/* A quoted key or table name without escapes is exactly its text, so it is
 * followed, not refused. */
static void test_quoted_keys(void **state)
{
	struct pyproject p = parse_ok("['project']\n\"name\" = \"q\"\n'version' = \"1\"\n"
				      "\"a=b#[c]\" = \"x\"\n[tool.\"x]y\"]\nname = \"no\"\n");

	(void)state;
	assert_string_equal(p.name, "q");
	assert_string_equal(p.version, "1");
	pyproject_free(&p);
}

static void test_errors_name_the_line(void **state)
{
	(void)state;
	assert_parse_error("[project]\nname = \"open\n", "pyproject.toml:2: unterminated string");
	assert_parse_error("[project]\n\nversion\n", "pyproject.toml:3: expected '=' after the key");
	assert_parse_error("[project\nname = \"x\"\n",
			   "pyproject.toml:1: expected ']' after the table name");
	assert_parse_error("[project]\nname = \"x\" y\n", "pyproject.toml:2: expected the end of the line");
	assert_parse_error("[tool.x]\na = [\n1,\n2\n", "pyproject.toml:2: unterminated array");
	assert_parse_error("[tool.x]\na = [1, {b = 2]}\n", "pyproject.toml:2: unexpected ']'");
	assert_parse_error("[tool.x]\na = 1 }\n", "pyproject.toml:2: unexpected '}'");
	assert_parse_error("[project]\nname = \"\\q\"\n", "pyproject.toml:2: invalid escape in string");
	assert_parse_error("[project]\nname = \"\\uD800\"\n", "pyproject.toml:2: invalid unicode escape");
	assert_parse_error("[project]\nname = \"\\u12\"\n", "pyproject.toml:2: invalid unicode escape");
	assert_parse_error("[project]\nname = \"\\U00110000\"\n", "pyproject.toml:2: invalid unicode escape");
	assert_parse_error("[tool.x]\nx = 1\na = \"\"\"\nnever closed\n",
			   "pyproject.toml:3: unterminated multi-line string");
	assert_parse_error("[tool.x]\na = 'open\n", "pyproject.toml:2: unterminated string");
	assert_parse_error("[tool.x]\na = \"ends in a backslash\\\n\"\n",
			   "pyproject.toml:2: unterminated string");
	assert_parse_error("[tool.x]\na =\n", "pyproject.toml:2: expected a value");
	assert_parse_error("[tool.x]\na = # nothing\n", "pyproject.toml:2: expected a value");
}

static void test_deep_nesting_refused(void **state)
{
	char text[1024];

	(void)state;
	memset(text, '[', sizeof(text) - 1);
	memcpy(text, "[x]\na = ", 8);
	text[sizeof(text) - 1] = '\0';
	assert_parse_error(text, "pyproject.toml:2: nesting too deep");
}

static void test_nul_byte_refused(void **state)
{
	static const char text[] = "[project]\nname = \"a\"\0\nversion = \"1\"\n";
	struct pyproject p;
	char err[256] = "";

	(void)state;
	assert_int_equal(pyproject_parse(NULL, text, sizeof(text) - 1, &p, err, sizeof(err)), -1);
	assert_string_equal(err, "pyproject.toml:2: expected the end of the line");
	assert_null(p.name);
}

static void test_load(void **state)
{
	char path[] = "/tmp/test_pyproject.XXXXXX";
	struct pyproject p;
	char err[256] = "";
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[project]\nname = \"f\"\nversion = \"2\"\n", 35), 35);
	close(fd);
	assert_int_equal(pyproject_load(path, &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "f");
	assert_string_equal(p.version, "2");
	pyproject_free(&p);

	/* a version that is not a string is refused, with the path and line */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[project]\nname = \"f\"\nversion = 1\n", 33), 33);
	close(fd);
	assert_int_equal(pyproject_load(path, &p, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_string_equal(err + strlen(path), ":3: version: expected a one-line string");
	assert_null(p.name);
	unlink(path);

	assert_int_equal(pyproject_load(path, &p, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_non_null(strstr(err, "No such file"));
	assert_null(p.name);
}

/* Our own pyproject.toml, the one configure and the program read. */
static void test_own_file(void **state)
{
	struct pyproject p;
	char err[256] = "";
	const char *srcdir = getenv("top_srcdir");
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/pyproject.toml", srcdir ? srcdir : ".");
	if (pyproject_load(path, &p, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(p.name, "openai-fcgi");
	assert_non_null(p.version);
	assert_true(*p.version);
	assert_string_equal(p.license, "MIT");
	pyproject_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normal_file),
		cmocka_unit_test(test_name_version_missing),
		cmocka_unit_test(test_empty_strings_kept),
		cmocka_unit_test(test_project_absent),
		cmocka_unit_test(test_other_tables_before_and_after),
		cmocka_unit_test(test_version_elsewhere_not_taken),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_license_both_ways),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_string_escapes),
		cmocka_unit_test(test_multiline_strings),
		cmocka_unit_test(test_other_values_skipped),
		cmocka_unit_test(test_top_level_keys_refused),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_quoted_keys),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_deep_nesting_refused),
		cmocka_unit_test(test_nul_byte_refused),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_own_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
