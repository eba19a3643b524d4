/* stream_lease.h: a key's concurrent streams, counted across processes with kernel-held locks */
#ifndef OAF_STREAM_LEASE_H
#define OAF_STREAM_LEASE_H
#include <stddef.h>
#include <stdint.h>

/*
 * A stream holds a lease: a write lock on one byte of a shared file, taken
 * with an open-file-description lock (F_OFD_SETLK) on a descriptor of its
 * own. A key with max_streams N owns N bytes of the file (their offset is a
 * keyed hash of the key); a stream takes the first byte of its key that is
 * free, and a key whose N bytes are all locked is full.
 *
 * Why locks and not counters: the kernel drops a lock when the last
 * descriptor of its open file description is closed, and a process that
 * dies (SIGKILL, a crash, an OOM kill) has all its descriptors closed. So
 * a killed worker can never leak a slot, there is no PID to check (and no
 * PID reuse to get wrong), no expiry to guess, and nothing to clean up.
 * OFD locks, unlike POSIX record locks, belong to the descriptor and not to
 * the process, so two threads of one process conflict as two processes do,
 * and closing some other descriptor of the file drops nothing. The file
 * itself stays 16 bytes long: locks may lie past the end of a file.
 *
 * Functions return 0 on success and -1 on failure, except sl_acquire().
 */

typedef struct sl_store sl_store;

/* Opens (creating it, mode 0600) the lease file at path, whose first 16
 * bytes are the random seed every process hashes keys with. Refuses a
 * symlink, a non-regular file and a file another user owns. On success
 * *out is released with sl_close() and is shared by all threads. On
 * failure errbuf says why. */
int sl_open(const char *path, sl_store **out, char *errbuf, size_t errlen);
void sl_close(sl_store *s);

#define SL_MAX_STREAMS 10000

enum sl_outcome { SL_HELD, SL_FULL, SL_ERROR };

/* Takes one of the max_streams (1..SL_MAX_STREAMS) leases of key (keylen
 * opaque bytes). SL_HELD: *lease is a descriptor the caller passes to
 * sl_release() when the stream ends (the lease also ends with the process).
 * SL_FULL: every lease of the key is held. SL_ERROR: the file could not be
 * opened or locked (logged); the caller decides whether that admits. */
enum sl_outcome sl_acquire(sl_store *s, const char *key, size_t keylen, long max_streams, int *lease);

/* Ends a lease sl_acquire() gave; -1 is a no-op. */
void sl_release(int lease);

/* How many of the key's max_streams leases are held now, by anyone. For
 * tests and diagnostics: the answer may be stale at once. -1 on error. */
long sl_count(sl_store *s, const char *key, size_t keylen, long max_streams);

#endif
