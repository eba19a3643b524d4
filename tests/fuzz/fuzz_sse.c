/* fuzz_sse.c: libFuzzer harness: the incremental SSE parser fed in chunks, and framing read back */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "openai_error.h"
#include "sse.h"
#include "strbuf.h"
#include "upstream.h"

/* What the upstream backend does with an event (backend_upstream.c's
 * on_event): parse its data as JSON and look for an error member. */
static int on_event(void *ctx, const struct sse_msg *m)
{
	size_t *events = ctx;
	if (m->data[m->data_len] != '\0' || !m->event || !m->id)
		abort();  /* the parser broke its own promise */
	(*events)++;
	if (m->data_len == 6 && memcmp(m->data, "[DONE]", 6) == 0)
		return 0;
	json_tokener *tok = json_tokener_new();
	json_object *obj = json_tokener_parse_ex(tok, m->data, (int)(m->data_len > 1 << 20 ? 1 << 20 : m->data_len));
	json_tokener_free(tok);
	if (obj) {
		oa_error err;
		memset(&err, 0, sizeof err);
		up_error_object(obj, 502, &err);
		json_object_put(obj);
	}
	return 0;
}

/* Counts what a whole-buffer feed produced, to compare with chunked feeds. */
static size_t parse(const char *p, size_t n, size_t chunk)
{
	size_t events = 0;
	struct sse_parser ps;
	sse_parser_init(&ps, on_event, &events);
	for (size_t off = 0; off < n; off += chunk)
		if (sse_parser_feed(&ps, p + off, n - off < chunk ? n - off : chunk) != 0)
			break;
	sse_parser_free(&ps);
	return events;
}

static int collect(void *ctx, const struct sse_msg *m)
{
	strbuf *sb = ctx;
	sb_append(sb, m->data, m->data_len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	/* The first byte picks a chunk size: a stream cut anywhere, a CRLF
	 * split between two reads included, must give the same events. */
	size_t chunk = size ? (size_t)(data[0] % 17) + 1 : 1;
	size_t whole = parse(p, size, size ? size : 1);
	if (parse(p, size, chunk) != whole)
		abort();
	/* One byte at a time too, where that costs little: the short inputs,
	 * which is where the fuzzer finds its line-end cases anyway. */
	if (size <= 512 && parse(p, size, 1) != whole)
		abort();

	/* Framing: one event of any data read back gives the data, its line
	 * ends (LF, CRLF, CR) all turned into LF. */
	strbuf framed = STRBUF_INIT, back = STRBUF_INIT, want = STRBUF_INIT;
	sse_event(&framed, p, size);
	struct sse_parser ps;
	sse_parser_init(&ps, collect, &back);
	sse_parser_feed(&ps, framed.buf, framed.len);
	sse_parser_free(&ps);
	for (size_t i = 0; i < size; i++) {
		if (p[i] == '\r') {
			sb_putc(&want, '\n');
			if (i + 1 < size && p[i + 1] == '\n')
				i++;
		} else {
			sb_putc(&want, p[i]);
		}
	}
	if (back.len != want.len || memcmp(sb_str(&back), sb_str(&want), want.len) != 0)
		abort();
	sb_free(&framed);
	sb_free(&back);
	sb_free(&want);
	return 0;
}
