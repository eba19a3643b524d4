/* fuzz_chat.c: libFuzzer harness: the JSON guard, the chat request parser and the mock answering it */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "chat_request.h"
#include "chat_response.h"
#include "config.h"
#include "json_guard.h"
#include "strbuf.h"

/* A client that reads this much and leaves: the mock's output is not yet
 * bounded (issue 12), and a harness run must stay fast whatever it asks. */
#define OUTPUT_CAP (256 * 1024)

/* Forwards to the real sink until OUTPUT_CAP bytes of content went by,
 * then says the client is gone, as a departing reader would. */
struct capped {
	const struct chat_sink *inner;
	size_t bytes;
};

static int over_cap(struct capped *c, size_t n)
{
	c->bytes += n;
	return c->bytes > OUTPUT_CAP;
}

static int capped_delta(void *ctx, int index, const char *role, const char *content, size_t len)
{
	struct capped *c = ctx;
	if (over_cap(c, len))
		return -1;
	return c->inner->delta(c->inner->ctx, index, role, content, len);
}

static int capped_tool_call(void *ctx, int index, int tc_index, const char *id,
			    const char *name, const char *arguments)
{
	struct capped *c = ctx;
	if (over_cap(c, strlen(name) + strlen(arguments)))
		return -1;
	return c->inner->tool_call(c->inner->ctx, index, tc_index, id, name, arguments);
}

static int capped_finish(void *ctx, int index, const char *finish_reason)
{
	struct capped *c = ctx;
	return c->inner->finish(c->inner->ctx, index, finish_reason);
}

static int capped_usage(void *ctx, const struct chat_usage *u)
{
	struct capped *c = ctx;
	return c->inner->usage(c->inner->ctx, u);
}

static int capped_relay(void *ctx, struct json_object *obj)
{
	struct capped *c = ctx;
	return c->inner->relay(c->inner->ctx, obj);
}

/* The streamed answer goes to memory, up to the same cap. */
static int mem_write(void *ctx, const char *p, size_t n)
{
	strbuf *sb = ctx;
	if (sb->len + n > 2 * OUTPUT_CAP)
		return -1;
	sb_append(sb, p, n);
	return 0;
}

static int mem_flush(void *ctx)
{
	(void)ctx;
	return 0;
}

static void answer(const struct model_cfg *model, const struct chat_request *req)
{
	struct chat_meta meta;
	struct chat_sink real;
	oa_error err;
	memset(&err, 0, sizeof err);
	chat_meta_init(&meta, req->model, 1700000000);
	if (req->stream) {
		strbuf out = STRBUF_INIT;
		const body_writer w = { &out, mem_write, mem_flush };
		struct chat_stream st;
		chat_stream_init(&st, &meta, &w, req->include_usage, req->legacy_functions);
		chat_stream_sink(&st, &real);
		struct capped c = { &real, 0 };
		struct chat_sink sink = { .ctx = &c, .delta = capped_delta, .tool_call = capped_tool_call,
					  .finish = capped_finish, .usage = capped_usage, .relay = capped_relay };
		if (backend_mock.chat(model, req, &sink, &err) == 0)
			chat_stream_end(&st);
		chat_stream_free(&st);
		sb_free(&out);
	} else {
		struct chat_accum acc;
		chat_accum_init(&acc, &meta, req->n, req->legacy_functions);
		chat_accum_sink(&acc, &real);
		struct capped c = { &real, 0 };
		struct chat_sink sink = { .ctx = &c, .delta = capped_delta, .tool_call = capped_tool_call,
					  .finish = capped_finish, .usage = capped_usage, .relay = capped_relay };
		if (backend_mock.chat(model, req, &sink, &err) == 0) {
			strbuf out = STRBUF_INIT;
			chat_accum_json(&acc, &out);
			sb_free(&out);
		}
		chat_accum_free(&acc);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	oa_error err;
	memset(&err, 0, sizeof err);
	json_object *root = NULL;
	if (json_guard_parse(body, size, &root, &err) == 0)
		json_object_put(root);

	struct chat_request req;
	memset(&req, 0, sizeof req);
	memset(&err, 0, sizeof err);
	if (chat_request_parse(body, size, &req, &err) != 0)
		return 0;
	/* Both of the mock's modes, chosen by the input so both get explored. */
	struct model_cfg model;
	memset(&model, 0, sizeof model);
	model.id = (char *)"mock";
	model.owned_by = (char *)"fuzz";
	model.backend = BACKEND_MOCK;
	model.mock.mode = size % 2 ? MOCK_ECHO : MOCK_CANNED;
	model.mock.delay_ms = 0;
	answer(&model, &req);
	chat_request_free(&req);
	return 0;
}
