/* fuzz_http1.c: libFuzzer harness: an upstream's answer read by http1.c, whole and cut into pieces, must read the same */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "strbuf.h"

/* What the reader handed on: every header line and the body, with a
 * bound on the body as backend_upstream.c's on_body has one. */
struct seen {
	strbuf heads;
	size_t body;
};

static size_t on_head(char *p, size_t one, size_t len, void *ctx)
{
	struct seen *s = ctx;
	if (one != 1 || len > H1_LINE_BYTES + 32)
		abort();  /* longer than a line the reader passes on */
	sb_append(&s->heads, p, len);
	sb_putc(&s->heads, '\n');
	return len;
}

static size_t on_body(char *p, size_t one, size_t len, void *ctx)
{
	struct seen *s = ctx;
	(void)p;
	if (s->body + len > (1u << 16))
		return 0;
	s->body += len;
	return len;
}

/* Feeds data in pieces of cut bytes, then the end of the connection; the
 * pieces after a complete answer too, as the look before the connection's
 * next exchange would find them. */
static int read_all(const uint8_t *data, size_t size, size_t cut, struct seen *s, bool *keep)
{
	struct h1_reader r;
	h1_reader_init(&r, on_head, on_body, s);
	int rc = 0;
	for (size_t off = 0; off < size && rc >= 0; off += cut)
		rc = h1_feed(&r, (const char *)data + off, size - off < cut ? size - off : cut);
	if (rc == 0)
		rc = h1_feed(&r, NULL, 0);
	if (rc == 0)
		abort();  /* the end of the connection always ends the reading */
	*keep = h1_keep_alive(&r);
	/* refused: how much of a broken head went out before the break
	 * depends on where it was cut (a line is passed once the next begins) */
	return rc < 0 && !r.early && !r.stopped ? -2 : rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cut = 1 + data[0] % 64;
	data++;
	size--;
	struct seen whole = { STRBUF_INIT, 0 }, cuts = { STRBUF_INIT, 0 };
	bool keep_whole, keep_cuts;
	int a = read_all(data, size, size ? size : 1, &whole, &keep_whole);
	int b = read_all(data, size, cut, &cuts, &keep_cuts);
	/* the same answer however it came, and the same refusal */
	if (a != b || (a != -2 && (whole.body != cuts.body || whole.heads.len != cuts.heads.len ||
				   (whole.heads.len && memcmp(whole.heads.buf, cuts.heads.buf, whole.heads.len) != 0))) ||
	    (a == 1 && keep_whole != keep_cuts))
		abort();
	sb_free(&whole.heads);
	sb_free(&cuts.heads);
	return 0;
}
