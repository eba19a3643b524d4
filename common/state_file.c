/* state_file.c: what the host's state files (limits, usage, cooldowns) share: opening one safely, whole reads and writes */
#include "state_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* O_CREAT without O_EXCL is what makes creation race-free between
 * processes: the kernel creates the name once and every racer gets that
 * one inode, whose build each store then serialises with its lock. */
int sf_open(const char *path, const char *what, struct stat *st, char *err, size_t errlen)
{
	struct stat own;
	if (!st)
		st = &own;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, errno == ELOOP ? "is a symlink, refused" : strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
	} else if (st->st_uid != geteuid()) {
		snprintf(err, errlen, "%s %s: owned by uid %ld, not by us (%ld), refused", what, path,
			 (long)st->st_uid, (long)geteuid());
	} else {
		sf_keep_private(fd, st, what, path);
		return fd;
	}
	close(fd);
	return -1;
}

void sf_keep_private(int fd, const struct stat *st, const char *what, const char *path)
{
	if ((st->st_mode & 077) && fchmod(fd, 0600) == 0)
		log_warn("%s %s: was readable by others, now 0600", what, path);
}

int sf_read_all(int fd, void *p, size_t n, off_t off)
{
	while (n) {
		ssize_t got = pread(fd, p, n, off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p = (char *)p + got;
		n -= (size_t)got;
		off += got;
	}
	return 0;
}

int sf_write_all(int fd, const void *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}
