/* state_file.h: what the host's state files (limits, usage, cooldowns) share: opening one safely, whole reads and writes */
#ifndef OAF_STATE_FILE_H
#define OAF_STATE_FILE_H
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * Each state file in STATE_DIR is shared by every process of the host and
 * holds fingerprints or names nobody else should read. These return 0 or
 * a descriptor, and -1 on failure.
 */

/* Opens (creating, mode 0600) the state file at path for reading and
 * writing: refuses a symlink, anything but a regular file and a file
 * owned by another user; takes a mode that lets others read back to
 * 0600, with a warning. what names the file in messages ("usage file").
 * Fills *st (may be NULL) and returns the descriptor (the caller's), or
 * -1 with a one-line reason in err. */
int sf_open(const char *path, const char *what, struct stat *st, char *err, size_t errlen);

/* Takes the mode of the open state file fd (st its fstat) back to 0600
 * when others may read it, with a warning: for a descriptor kept open,
 * whose file anyone may chmod after sf_open(). */
void sf_keep_private(int fd, const struct stat *st, const char *what, const char *path);

/* pread()/pwrite() of all n bytes at off, again after EINTR or a short
 * transfer; -1 on an error or the end of the file. */
int sf_read_all(int fd, void *p, size_t n, off_t off);
int sf_write_all(int fd, const void *p, size_t n, off_t off);

#endif
