/* relocate.h: where a relocatable (static, uploaded) build keeps its config and state: beside the binary, outside the web root */
#ifndef OAF_RELOCATE_H
#define OAF_RELOCATE_H
#include <stddef.h>

/* Returns 0, or -1 when the answer does not fit or cannot be known. */

/* The directory that holds a relocatable build's state directory
 * ("openai-fcgi-state") and its config file ("openai-fcgi.conf"): the
 * parent of the web root when the binary lies inside it, else the parent
 * of the binary's own directory. Either way it is the same for every
 * request and, on a usual host (~/public_html/cgi-bin/x or ~/cgi-bin/x),
 * is the account's home: outside the web root, so the web server never
 * serves the key or the state as files.
 * exe: the binary's absolute path. document_root: the CGI DOCUMENT_ROOT,
 * or NULL or "" when unknown (FastCGI at start). Writes a path without a
 * trailing slash ("/" alone for the root) into out (n bytes). */
int reloc_home(const char *exe, const char *document_root, char *out, size_t n);

/* The directory of exe (absolute), into out: "/a/b/x" gives "/a/b". */
int reloc_exe_dir(const char *exe, char *out, size_t n);

/* dir + "/" + name into out, without doubling the slash after "/". */
int reloc_join(const char *dir, const char *name, char *out, size_t n);

/* The running binary's absolute path, into out: /proc/self/exe, else
 * (no /proc, as in a bare chroot) argv0 if it names a path, made absolute
 * against the working directory. -1 if neither gives one. */
int reloc_exe_path(const char *argv0, char *out, size_t n);

#endif
