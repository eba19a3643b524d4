/* stream_lease.c: a key's concurrent streams, counted across processes with kernel-held locks */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_OFD_SETLK */
#endif
#include "stream_lease.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "xalloc.h"

#define SEED_BYTES crypto_shorthash_KEYBYTES
/* A key's bytes start at hash * SPAN, SPAN > SL_MAX_STREAMS; 40 bits of
 * hash keep the offsets within off_t and two keys apart but for a
 * 1-in-10^12 collision. The seed keeps the offsets, which /proc/locks shows
 * to everyone, from saying anything about the key. */
#define SPAN       16384
#define HASH_BITS  40

_Static_assert(SPAN > SL_MAX_STREAMS, "a key's leases fit its span");

struct sl_store {
	char *path;
	unsigned char seed[SEED_BYTES];
};

static int open_file(const char *path)
{
	return open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* Reads the seed, writing one first when the file is new; under flock so
 * that processes racing to create it agree on one. */
static int load_seed(int fd, unsigned char seed[SEED_BYTES])
{
	int rc = -1;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -1;
	ssize_t got = pread(fd, seed, SEED_BYTES, 0);
	if (got == SEED_BYTES) {
		rc = 0;
	} else if (got >= 0 && getrandom(seed, SEED_BYTES, 0) == SEED_BYTES &&
		   ftruncate(fd, 0) == 0 && pwrite(fd, seed, SEED_BYTES, 0) == SEED_BYTES) {
		rc = 0;
	}
	flock(fd, LOCK_UN);
	return rc;
}

int sl_open(const char *path, sl_store **out, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd = open_file(path);
	if (fd < 0) {
		snprintf(errbuf, errlen, "stream lease file %s: %s", path,
			 errno == ELOOP ? "is a symlink, refused" : strerror(errno));
		return -1;
	}
	sl_store *s = xcalloc(1, sizeof *s);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "stream lease file %s: not a regular file", path);
	} else if (st.st_uid != geteuid()) {
		/* whoever owns it could lock every slot, or read the seed */
		snprintf(errbuf, errlen, "stream lease file %s: owned by uid %ld, not by us (%ld), refused",
			 path, (long)st.st_uid, (long)geteuid());
	} else if (load_seed(fd, s->seed) < 0) {
		snprintf(errbuf, errlen, "stream lease file %s: cannot read or write its seed: %s", path,
			 strerror(errno));
	} else {
		close(fd);
		s->path = xstrdup(path);
		*out = s;
		return 0;
	}
	close(fd);
	free(s);
	return -1;
}

void sl_close(sl_store *s)
{
	if (!s)
		return;
	free(s->path);
	free(s);
}

static off_t key_base(const sl_store *s, const char *key, size_t keylen)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;
	crypto_shorthash(h, (const unsigned char *)key, keylen, s->seed);
	memcpy(&v, h, sizeof v);
	/* past the seed's bytes, which no lease may cover */
	return (off_t)((v >> (64 - HASH_BITS)) + 1) * SPAN;
}

static int try_lock(int fd, off_t at, short type, int cmd)
{
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = at;
	fl.l_len = 1;
	fl.l_pid = 0;  /* must be 0 for OFD locks */
	return fcntl(fd, cmd, &fl) == 0 ? (cmd == F_OFD_GETLK ? fl.l_type : 0) : -1;
}

enum sl_outcome sl_acquire(sl_store *s, const char *key, size_t keylen, long max_streams, int *lease)
{
	if (max_streams < 1 || max_streams > SL_MAX_STREAMS)
		return SL_ERROR;
	/* a descriptor per stream: its own open file description, its own locks */
	int fd = open_file(s->path);
	if (fd < 0) {
		log_error("stream lease file %s: %s", s->path, strerror(errno));
		return SL_ERROR;
	}
	off_t base = key_base(s, key, keylen);
	for (long i = 0; i < max_streams; i++) {
		if (try_lock(fd, base + i, F_WRLCK, F_OFD_SETLK) == 0) {
			*lease = fd;
			return SL_HELD;
		}
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			log_error("stream lease file %s: lock: %s", s->path, strerror(errno));
			close(fd);
			return SL_ERROR;
		}
	}
	close(fd);
	return SL_FULL;
}

void sl_release(int lease)
{
	if (lease >= 0)
		close(lease);
}

long sl_count(sl_store *s, const char *key, size_t keylen, long max_streams)
{
	int fd = open_file(s->path);
	long held = 0;
	if (fd < 0)
		return -1;
	off_t base = key_base(s, key, keylen);
	for (long i = 0; i < max_streams; i++) {
		int t = try_lock(fd, base + i, F_WRLCK, F_OFD_GETLK);
		if (t < 0) {
			held = -1;
			break;
		}
		held += t != F_UNLCK;
	}
	close(fd);
	return held;
}
