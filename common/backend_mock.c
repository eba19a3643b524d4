/* backend_mock.c: the mock model: canned or echoed text, tool calls and JSON shaped by the request */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* memmem */
#endif
#include "backend.h"
#include "backend_mock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "chat_response.h"
#include "config.h"
#include "mock_schema.h"
#include "sse.h"
#include "strbuf.h"
#include "tokens.h"

#define CANNED_TEXT "THIS IS THE MOCKED CHAT RESPONSE FROM OPENAI API BLUEPRINT. " \
	"If you see this message, your chat endpoint is working correctly!"
#define CALL_ID_CHARS 24

/* ---- the text of the answer ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Where the piece starting at i ends: its leading whitespace, then one
 * word. Pieces concatenate back to the text, and their token counts add up
 * to the text's (see tokens.h). */
static size_t piece_end(const char *s, size_t i, size_t n)
{
	while (i < n && is_space(s[i]))
		i++;
	while (i < n && !is_space(s[i]))
		i++;
	return i;
}

static int is_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* Backs len off to the start of a UTF-8 character, so a cut never splits
 * one; stray continuation bytes (invalid, a token each) are left alone. */
static size_t char_floor(const char *s, size_t len, size_t n)
{
	if (len >= n || !is_continuation(s[len]))
		return len;
	size_t k = len;
	while (k > 0 && len - k < 3 && is_continuation(s[k]))
		k--;
	return is_continuation(s[k]) ? len : k;
}

/* The longest prefix of s[0..n) of at most max tokens, cut between
 * characters. The count only grows with whole characters added, so a
 * binary search finds it without rescanning a long word for each byte. */
static size_t fitting_prefix(const char *s, size_t n, long max)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		if (tok_count(s, char_floor(s, mid, n)) <= max)
			lo = mid;
		else
			hi = mid - 1;
	}
	return char_floor(s, lo, n);
}

/* How much of s fits in max tokens, cut at a word boundary; only when not
 * even the first word fits is a word cut. */
static size_t cut_to_tokens(const char *s, size_t n, long max)
{
	if (max >= 0 && n <= (size_t)max)
		return n;  /* a token is at least a byte (tokens.h): all of it fits */
	long used = 0;
	size_t i = 0;
	while (i < n) {
		size_t e = piece_end(s, i, n);
		long t = tok_count(s + i, e - i);
		if (used + t > max)
			return i ? i : fitting_prefix(s, e, max);
		used += t;
		i = e;
	}
	return n;
}

/* Where the first occurrence of any stop string begins, or n. */
static size_t stop_at(const struct chat_request *req, const char *s, size_t n)
{
	size_t cut = n;
	for (int k = 0; k < req->n_stop; k++) {
		const char *stop = req->stop[k];
		if (!stop || !*stop)
			continue;
		const char *hit = memmem(s, n, stop, strlen(stop));
		if (hit && (size_t)(hit - s) < cut)
			cut = (size_t)(hit - s);
	}
	return cut;
}

/* The last user message, or as much of it as an answer can hold: a
 * megabyte more would be cut anyway, and copying it would not be free. */
static void last_user_text(const struct chat_request *req, strbuf *out)
{
	for (size_t i = req->n_messages; i-- > 0;) {
		const struct chat_message *m = &req->messages[i];
		if (m->role == ROLE_USER) {
			size_t n = m->text_len;
			if (n > MOCK_MAX_ANSWER_BYTES + 1)
				n = MOCK_MAX_ANSWER_BYTES + 1;
			if (m->text)
				sb_append(out, m->text, n);
			return;
		}
	}
}

/* OpenAI's wording for a schema it refuses, naming where it is. */
static int schema_refused(oa_error *err, const char *what, const char *name, const char *code,
			  const char *param)
{
	return oa_error_set(err, 400, OA_INVALID_REQUEST, code, param,
			    "Invalid schema for %s '%.64s': no value of it fits in %d bytes. Recursion "
			    "through $ref must be optional, and minItems, minLength and the numeric "
			    "bounds must be satisfiable within that size.",
			    what, name ? name : "", MOCK_SCHEMA_MAX_BYTES);
}

/* The whole answer before any cut: the model's text, shaped by
 * response_format. 0, or -1 with err set (a 400) when the json_schema has
 * no value within the bounds. */
static int answer_text(const struct model_cfg *model, const struct chat_request *req,
		       strbuf *out, oa_error *err)
{
	if (req->response_format == RF_JSON_SCHEMA) {
		if (mock_schema_instance(req->json_schema, MOCK_SCHEMA_MAX_BYTES, out) == 0)
			return 0;
		return schema_refused(err, "response_format", req->json_schema_name, "invalid_json_schema",
				      "response_format.json_schema.schema");
	}
	strbuf text = STRBUF_INIT;
	if (model && model->mock.mode == MOCK_ECHO)
		last_user_text(req, &text);
	else
		sb_puts(&text, CANNED_TEXT);
	if (req->response_format == RF_JSON_OBJECT) {
		sb_puts(out, "{\"message\":");
		sb_json_str(out, sb_str(&text), text.len);
		sb_putc(out, '}');
	} else {
		sb_append(out, sb_str(&text), text.len);
	}
	sb_free(&text);
	return 0;
}

/* ---- bounding it ---- */

static int choices(const struct chat_request *req)
{
	return req->n > 0 ? req->n : 1;
}

/* The most tokens one choice may have: the request's max_tokens, within
 * the model's max_output_tokens. */
static long token_limit(const struct model_cfg *model, const struct chat_request *req)
{
	long cap = model && model->max_output_tokens > 0 ? model->max_output_tokens
							  : MODEL_DEFAULT_MAX_OUTPUT_TOKENS;
	return req->max_tokens >= 1 && req->max_tokens < cap ? req->max_tokens : cap;
}

/* How much of s fits in max bytes, cut at a word boundary; only when not
 * even the first word fits is a word cut (between characters). */
static size_t cut_to_bytes(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t i = 0;
	for (;;) {
		size_t e = piece_end(s, i, n);
		if (e > max)
			return i ? i : char_floor(s, max, n);
		i = e;
	}
}

/* How much of s[0..n) one choice may say: within its tokens and its share
 * of the answer's bytes. *cut tells whether anything was left out. */
static size_t bounded_length(const struct model_cfg *model, const struct chat_request *req,
			     const char *s, size_t n, bool *cut)
{
	size_t fit = cut_to_bytes(s, n, (size_t)MOCK_MAX_ANSWER_BYTES / (size_t)choices(req));
	fit = cut_to_tokens(s, fit, token_limit(model, req));
	*cut = fit < n;
	return fit;
}

/* ---- sending it ---- */

/* Through the sink when it can hold the wait (a stream on a fiber waits
 * in the wait loop, with no thread), else asleep on this thread. */
static void pause_ms(const struct chat_sink *sink, long ms)
{
	if (sink->wait && sink->wait(sink->hctx, -1, ms) == 0)
		return;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The pause between two words, with a keep-alive comment to the client
 * every STREAM_PING_S of it (a long delay is a silence like any other).
 * The probe period is not used: the mock's silence is its own and ends
 * with the next word, whose write finds a departed client. 0, or -1 when
 * the client is gone. */
static int pause_pinging(const struct model_cfg *model, const struct chat_sink *sink, long ms)
{
	long every = sink->keepalive ? sse_keepalive_period(model->ping_ms, 0) : 0;
	while (every > 0 && ms > every) {
		pause_ms(sink, every);
		ms -= every;
		if (sink->keepalive(sink->ctx) < 0)
			return -1;
	}
	pause_ms(sink, ms);
	return 0;
}

static size_t count_pieces(const char *s, size_t n)
{
	size_t pieces = 0;
	for (size_t i = 0; i < n; i = piece_end(s, i, n))
		pieces++;
	return pieces;
}

struct mock_pace mock_stream_pace(size_t words, int choices, long delay_ms)
{
	size_t max_events = MOCK_MAX_STREAM_EVENTS / (size_t)(choices > 0 ? choices : 1);
	struct mock_pace p = { 1, delay_ms > 0 ? delay_ms : 0 };
	if (max_events == 0)
		max_events = 1;
	if (words > max_events)
		p.words_per_event = (words + max_events - 1) / max_events;
	size_t events = (words + p.words_per_event - 1) / p.words_per_event;
	if (events > 1 && (long long)p.pause_ms * (long long)(events - 1) > MOCK_MAX_STREAM_MS)
		p.pause_ms = (long)(MOCK_MAX_STREAM_MS / (long long)(events - 1));
	return p;
}

/* Every choice gets the same text: word by word when streaming, pausing
 * between words as a model would, else in one piece; long answers at the
 * pace mock_stream_pace() allows. */
static enum oa_result send_text(const struct model_cfg *model, const struct chat_request *req,
				const struct chat_sink *sink, const char *s, size_t n)
{
	int nc = choices(req);
	if (!req->stream || n == 0) {
		for (int c = 0; c < nc; c++)
			if (sink->delta(sink->ctx, c, "assistant", s, n) < 0)
				return OA_CLIENT_GONE;
		return OA_DONE;
	}
	struct mock_pace pace = mock_stream_pace(count_pieces(s, n), nc, model ? model->mock.delay_ms : 0);
	for (size_t i = 0; i < n;) {
		size_t e = i;
		for (size_t w = 0; w < pace.words_per_event && e < n; w++)
			e = piece_end(s, e, n);
		for (int c = 0; c < nc; c++)
			if (sink->delta(sink->ctx, c, i == 0 ? "assistant" : NULL, s + i, e - i) < 0)
				return OA_CLIENT_GONE;
		i = e;
		if (i < n && pace.pause_ms > 0 && pause_pinging(model, sink, pace.pause_ms) < 0)
			return OA_CLIENT_GONE;
	}
	return OA_DONE;
}

static enum oa_result answer_with_text(const struct model_cfg *model, const struct chat_request *req,
				       const struct chat_sink *sink, long *completion, oa_error *err)
{
	strbuf text = STRBUF_INIT;
	if (answer_text(model, req, &text, err) != 0) {
		sb_free(&text);
		return OA_ERROR;
	}
	bool cut;
	size_t n = stop_at(req, sb_str(&text), text.len);
	n = bounded_length(model, req, sb_str(&text), n, &cut);
	const char *finish = cut ? "length" : "stop";
	enum oa_result rc = send_text(model, req, sink, sb_str(&text), n);
	for (int c = 0; rc == OA_DONE && c < choices(req); c++)
		rc = sink->finish(sink->ctx, c, finish) < 0 ? OA_CLIENT_GONE : OA_DONE;
	*completion = tok_count(sb_str(&text), n) * choices(req);
	sb_free(&text);
	return rc;
}

/* A tool call is the answer when the client demands one, unless the last
 * message is a tool's result: then the call was made, and answering it with
 * another would never let a client's tool loop end. */
static const struct chat_tool *tool_to_call(const struct chat_request *req)
{
	if (req->n_tools == 0)
		return NULL;
	if (req->tool_choice != TOOL_CHOICE_REQUIRED && req->tool_choice != TOOL_CHOICE_NAMED)
		return NULL;
	if (req->n_messages > 0) {
		enum chat_role last = req->messages[req->n_messages - 1].role;
		if (last == ROLE_TOOL || last == ROLE_FUNCTION)
			return NULL;
	}
	if (req->tool_choice == TOOL_CHOICE_NAMED && req->tool_choice_name) {
		for (size_t i = 0; i < req->n_tools; i++)
			if (req->tools[i].name && strcmp(req->tools[i].name, req->tool_choice_name) == 0)
				return &req->tools[i];
	}
	return &req->tools[0];
}

/* The arguments are cut like text when they exceed the limits, as
 * OpenAI's are: finish_reason "length", arguments no longer whole JSON. */
static enum oa_result answer_with_call(const struct model_cfg *model, const struct chat_request *req,
				       const struct chat_tool *tool, const struct chat_sink *sink,
				       long *completion, oa_error *err)
{
	const char *name = tool->name ? tool->name : "";
	strbuf args = STRBUF_INIT;
	if (mock_schema_instance(tool->parameters, MOCK_SCHEMA_MAX_BYTES, &args) != 0) {
		char param[64];
		snprintf(param, sizeof param, req->legacy_functions ? "functions[%zu].parameters"
				: "tools[%zu].function.parameters", tool->index);
		sb_free(&args);
		return schema_refused(err, "function", name, "invalid_function_parameters", param);
	}
	bool cut;
	size_t n = bounded_length(model, req, sb_str(&args), args.len, &cut);
	args.buf[n] = '\0';
	args.len = n;
	const char *finish = cut ? "length" : req->legacy_functions ? "function_call" : "tool_calls";
	int rc = 0;
	*completion = 0;
	for (int c = 0; rc == 0 && c < choices(req); c++) {
		char id[5 + CALL_ID_CHARS + 1] = "call_";
		chat_random_alnum(id + 5, CALL_ID_CHARS);
		rc = sink->delta(sink->ctx, c, "assistant", NULL, 0);
		if (rc == 0)
			rc = sink->tool_call(sink->ctx, c, 0, id, name, sb_str(&args));
		if (rc == 0)
			rc = sink->finish(sink->ctx, c, finish);
		*completion += tok_count(name, strlen(name)) + tok_count(sb_str(&args), args.len);
	}
	sb_free(&args);
	return rc == 0 ? OA_DONE : OA_CLIENT_GONE;  /* rc: the sink's, -1 when the client left */
}

/* A bad schema is the one failure the mock has (a 400, before anything is
 * sent); otherwise only the client can go away. */
static enum oa_result mock_chat(const struct model_cfg *model, const struct chat_request *req,
				const struct chat_sink *sink, oa_error *err)
{
	long completion = 0;
	const struct chat_tool *tool = tool_to_call(req);
	enum oa_result rc = tool ? answer_with_call(model, req, tool, sink, &completion, err)
				 : answer_with_text(model, req, sink, &completion, err);
	if (rc != OA_DONE)
		return rc;
	struct chat_usage u = { tok_prompt(req), completion, 0 };
	u.total_tokens = u.prompt_tokens + u.completion_tokens;
	return sink->usage(sink->ctx, &u) < 0 ? OA_CLIENT_GONE : OA_DONE;
}

const struct backend_ops backend_mock = {
	.name = "mock",
	.chat = mock_chat,
};
