/* upstream.h: the pure parts of talking to an OpenAI-compatible upstream (bodies, errors, timers) */
#ifndef OAF_UPSTREAM_H
#define OAF_UPSTREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "chat_request.h"
#include "config.h"
#include "openai_error.h"
#include "strbuf.h"

/* Functions that fail return -1 with err filled, 0 otherwise. */

/* Appends to out the body to send upstream: the client's request as it
 * came, with model replaced by upstream_model, and for a stream
 * stream_options.include_usage set, so that the real usage can settle the
 * key's tokens (chat_response.c drops it for a client that did not ask).
 * req->body must still be the bytes req->root was parsed from. */
void up_request_body(const struct chat_request *req, const char *upstream_model, strbuf *out);
/* The same from the client's bytes (raw, len; NULL: none) when they are
 * at hand: with no include_usage to add, only the model's value changes
 * in them (no tree copied, nothing re-serialised); otherwise, or when
 * they are not a plain object (json_span.h), as up_body_with_model(). */
void up_body_from_raw(const char *raw, size_t len, json_object *root, const char *upstream_model, bool ask_usage,
		      strbuf *out);
/* The same for any body (root is borrowed): /responses, /completions,
 * /embeddings; stream_options.include_usage only when ask_usage (a chat
 * completions stream: other endpoints' bodies may not have it). */
void up_body_with_model(json_object *root, const char *upstream_model, bool ask_usage, strbuf *out);

/* How an exchange with the upstream failed before any answer was usable. */
enum up_failure {
	UP_UNREACHABLE,   /* no connection: DNS, refused, TLS */
	UP_TIMEOUT,       /* connect, first byte, idle or total limit */
	UP_BROKEN,        /* the connection ended in the middle of the answer */
	UP_MALFORMED,     /* not the JSON (or SSE) an OpenAI server sends */
	UP_TOO_LARGE,     /* an event or an answer past our bounds */
};

/* Fills err for f (502, or 504 for a timeout); detail goes to the log by the
 * caller, never to the client. Returns -1. */
int up_fail(oa_error *err, enum up_failure f);

/* Maps an upstream's non-2xx answer (status, body of len bytes) to the
 * error the client sees: a 4xx keeps its status and, when the body is
 * OpenAI's {"error":{...}}, its message, type, code and param (401 turns
 * into 502: our upstream key, not the client's, was refused); 5xx and
 * anything else become 502. Returns -1. type and code may point into
 * thread-local storage valid until the next call on the same thread. */
int up_map_status(long status, const char *body, size_t len, oa_error *err);

/* Fills err from an {"error":{...}} object (a mid-stream error event or
 * a 200 answer carrying one) with the given status. Returns -1, or 0
 * (err untouched) when obj carries no error member. */
int up_error_object(json_object *obj, int status, oa_error *err);

/* If the header line (len bytes, "Name: value\r\n") is name, copies its
 * trimmed value into out (n bytes) and returns true. Case-insensitive. A
 * value with a control byte inside (CR, LF, NUL...) or too long for out is
 * given as "": nothing cut or injected is ever passed on. */
bool up_header_value(const char *line, size_t len, const char *name, char *out, size_t n);

/* Would libcurl take a proxy from the environment (get: getenv, or a
 * test's) for an http or https upstream? It looks at http_proxy,
 * https_proxy, HTTPS_PROXY, all_proxy and ALL_PROXY (never HTTP_PROXY,
 * which a CGI request's Proxy: header could set). false only when none is
 * set: the relay then tells libcurl "no proxy" once, where libcurl would
 * read five variables of an environment of any size on every transfer. */
bool up_env_has_proxy(char *(*get)(const char *name));

/* The longest wait we pass on from an upstream's Retry-After. */
#define UP_RETRY_MAX_S 86400L

/* The retry headers the client gets with an upstream's 429 or 503, made by
 * us from the upstream's values (either may be "" or NULL): Retry-After as
 * delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 or asctime, read
 * against now_s), retry-after-ms as milliseconds. What is neither is
 * dropped; each header is derived from the other when only one is valid.
 * Fills secs and ms (integers, at most UP_RETRY_MAX_S s) and returns true,
 * or returns false when the upstream gave nothing usable. */
bool up_retry_headers(const char *retry_after, const char *retry_after_ms, time_t now_s, long *secs, long *ms);

/* Invalid UTF-8 from an upstream is replaced, not relayed: when s (n
 * bytes) holds any, appends s to out with each invalid byte turned into
 * U+FFFD and returns how many there were; returns 0 (out untouched) when
 * s is valid. */
size_t up_utf8_repair(const char *s, size_t n, strbuf *out);

/* json-c's lenient parse takes NaN, Infinity and numbers past a double's
 * range, and would write them back as `NaN` or `Infinity`, which no JSON
 * parser of a client takes. Replaces each such number in the tree o
 * (modified in place; NULL is a no-op) by null and returns how many there
 * were. */
size_t up_json_finite(json_object *o);

/* The clock of one exchange; times in milliseconds of a monotonic clock,
 * passed in so that tests need no real time. Idle is measured between
 * progress: for a stream, complete events and keep-alive comment lines
 * (a model may think for minutes behind keep-alives; the total limit
 * bounds that), never bytes of an unfinished line; for a whole answer,
 * which has nothing smaller, its bytes. */
struct up_clock {
	int64_t start_ms;
	int64_t last_ms;       /* the first byte, then the last progress */
	bool got_byte;
};

enum up_limit { UP_LIMIT_NONE, UP_LIMIT_FIRST_BYTE, UP_LIMIT_IDLE, UP_LIMIT_TOTAL };

void up_clock_start(struct up_clock *c, int64_t now_ms);
/* Any byte of the answer: ends the wait for the first one, nothing more. */
void up_clock_byte(struct up_clock *c, int64_t now_ms);
/* Progress (see above): starts the idle time anew. */
void up_clock_progress(struct up_clock *c, int64_t now_ms);
/* Which of up's limits (a 0 limit is none) has run out at now_ms. */
enum up_limit up_clock_expired(const struct up_clock *c, const struct upstream_cfg *up, int64_t now_ms);
const char *up_limit_name(enum up_limit l);
/* When (ms, the clock of now_ms) the next of up's limits would run out,
 * as the clock stands: the earliest of those that apply; INT64_MAX when
 * none does (every limit 0). A wait need not wake before it for them. */
int64_t up_clock_next_ms(const struct up_clock *c, const struct upstream_cfg *up);

#endif
