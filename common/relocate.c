/* relocate.c: where a relocatable (static, uploaded) build keeps its config and state: beside the binary, outside the web root */
#include "relocate.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The parent of an absolute path without a trailing slash: "/a/b" -> "/a",
 * "/a" -> "/", "/" -> "/". */
static int parent(const char *path, char *out, size_t n)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return -1;
	size_t len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= n)
		return -1;
	memcpy(out, path, len);
	out[len] = '\0';
	return 0;
}

/* Is path at or below dir? Both absolute; dir may end in one slash. */
static bool under(const char *path, const char *dir)
{
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len == 1 && dir[0] == '/')
		return path[0] == '/';
	return strncmp(path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

int reloc_exe_dir(const char *exe, char *out, size_t n)
{
	if (!exe || exe[0] != '/')
		return -1;
	return parent(exe, out, n);
}

int reloc_home(const char *exe, const char *document_root, char *out, size_t n)
{
	char dir[4096];
	if (reloc_exe_dir(exe, dir, sizeof dir) != 0)
		return -1;
	if (document_root && document_root[0] == '/' && under(dir, document_root)) {
		char root[4096];
		size_t len = strlen(document_root);
		while (len > 1 && document_root[len - 1] == '/')
			len--;
		if (len >= sizeof root)
			return -1;
		memcpy(root, document_root, len);
		root[len] = '\0';
		return parent(root, out, n);
	}
	return parent(dir, out, n);
}

int reloc_join(const char *dir, const char *name, char *out, size_t n)
{
	bool root = strcmp(dir, "/") == 0;
	int w = snprintf(out, n, "%s%s%s", root ? "" : dir, "/", name);
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

int reloc_exe_path(const char *argv0, char *out, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", out, n - 1);
	if (len > 0 && out[0] == '/') {
		out[len] = '\0';
		return 0;
	}
	if (!argv0 || !strchr(argv0, '/'))
		return -1;  /* found through PATH: no directory to go by */
	if (argv0[0] == '/') {
		int w = snprintf(out, n, "%s", argv0);
		return w < 0 || (size_t)w >= n ? -1 : 0;
	}
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return -1;
	while (argv0[0] == '.' && argv0[1] == '/')
		argv0 += 2;
	return reloc_join(cwd, argv0, out, n);
}
