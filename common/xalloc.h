/* xalloc.h: allocation that never returns NULL; out of memory is fatal, as in redis */
#ifndef OAF_XALLOC_H
#define OAF_XALLOC_H
#include <stddef.h>

/* Each returns memory the caller owns and frees with free(); on failure the
 * process logs and aborts, so callers never test for NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
