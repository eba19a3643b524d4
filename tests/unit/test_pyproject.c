/* test_pyproject.c: the [project] metadata reader and the TOML it must skip */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	struct pyproject p = parse_ok("name = \"top\"\nversion = \"1\"\n"
				      "[tool.setuptools]\nname = \"x\"\n");

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
	struct pyproject d = parse_ok("[project]\nlicense.text = \"ISC\"\n");

	(void)state;
	assert_string_equal(a.license, "Apache-2.0");
	assert_string_equal(b.license, "BSD-3-Clause");
	assert_null(c.license);   /* a file reference is not a license name */
	assert_string_equal(d.license, "ISC");
	pyproject_free(&a);
	pyproject_free(&b);
	pyproject_free(&c);
	pyproject_free(&d);
}

static void test_crlf(void **state)
{
	struct pyproject p = parse_ok("[tool.x]\r\nlist = [\r\n  1,\r\n  2, # c\r\n]\r\n"
				      "[project]\r\nname = \"n\"\r\nversion = '2' # c\r\n"
				      "description = \"\"\"\r\nline1\r\nline2\"\"\"\r\n");

	(void)state;
	assert_string_equal(p.name, "n");
	assert_string_equal(p.version, "2");
	assert_string_equal(p.description, "line1\nline2");
	pyproject_free(&p);
}

static void test_string_escapes(void **state)
{
	struct pyproject p = parse_ok("[project]\n"
				      "name = \"tab\\there\\\\ \\u00e9 \\U0001F600\"\n"
				      "version = 'C:\\path\\no\\escapes'\n");

	(void)state;
	assert_string_equal(p.name, "tab\there\\ \xc3\xa9 \xf0\x9f\x98\x80");
	assert_string_equal(p.version, "C:\\path\\no\\escapes");
	pyproject_free(&p);
}

static void test_multiline_strings(void **state)
{
	struct pyproject p = parse_ok("[tool.x]\ndoc = \"\"\"\n[project]\nname = \"fake\"\n\"\"\"\n"
				      "lit = '''\n[project]\n'''\n"
				      "[project]\n"
				      "description = \"\"\"\\\n    joined \\\n    words\"\"\"\n"
				      "name = '''\nraw \\n'''\n"
				      "version = \"\"\"q\"\"\"\"\"\n");

	(void)state;
	assert_string_equal(p.description, "joined words");
	assert_string_equal(p.name, "raw \\n");
	assert_string_equal(p.version, "q\"\"");
	pyproject_free(&p);
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
				      "version = \"ok\"\n");

	(void)state;
	assert_string_equal(p.version, "ok");
	assert_null(p.name);
	pyproject_free(&p);
}

static void test_top_level_dotted_keys(void **state)
{
	struct pyproject p = parse_ok("project.name = \"dotted\"\n[tool.x]\nproject.name = \"no\"\n");

	(void)state;
	assert_string_equal(p.name, "dotted");
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
	assert_parse_error("a = [\n1,\n2\n", "pyproject.toml:1: unterminated array");
	assert_parse_error("a = [1 2]\n", "pyproject.toml:1: expected ',' or ']' in array");
	assert_parse_error("a = \"\\q\"\n", "pyproject.toml:1: invalid escape in string");
	assert_parse_error("a = \"\\uD800\"\n", "pyproject.toml:1: invalid unicode escape");
	assert_parse_error("x = 1\na = \"\"\"\nnever closed\n",
			   "pyproject.toml:2: unterminated multi-line string");
	assert_parse_error("a =\n", "pyproject.toml:1: expected a value");
}

static void test_deep_nesting_refused(void **state)
{
	char text[1024];

	(void)state;
	memset(text, '[', sizeof(text) - 1);
	memcpy(text, "a = ", 4);
	text[sizeof(text) - 1] = '\0';
	assert_parse_error(text, "pyproject.toml:1: nesting too deep");
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
	assert_int_equal(write(fd, "[project]\nname = \"f\"\nversion = 1\n", 33), 33);
	close(fd);
	assert_int_equal(pyproject_load(path, &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "f");
	assert_null(p.version);     /* not a string */
	pyproject_free(&p);
	unlink(path);

	assert_int_equal(pyproject_load(path, &p, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_non_null(strstr(err, "No such file"));
	assert_null(p.name);
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
		cmocka_unit_test(test_top_level_dotted_keys),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_deep_nesting_refused),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
