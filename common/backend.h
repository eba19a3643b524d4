/* backend.h: what answers a chat request (the mock model, an upstream server) */
#ifndef OAF_BACKEND_H
#define OAF_BACKEND_H
#include <stdbool.h>
#include <stddef.h>

#include "chat_request.h"
#include "openai_error.h"

struct model_cfg;
struct js_member;

struct chat_usage {
	long prompt_tokens;
	long completion_tokens;
	long total_tokens;
};

/* Where a backend puts its answer, piece by piece. The handler supplies
 * either a sink that accumulates one chat.completion body or one that sends
 * each piece as an SSE chunk (chat_response.h). Every callback returns 0, or
 * -1 when the client has gone away: the backend then stops at once and
 * returns -1 itself. Strings are borrowed for the duration of the call. */
struct chat_sink {
	void *ctx;
	/* Text for choice `index`; role is non-NULL only on the first delta of
	 * a choice ("assistant"). content may be NULL with role set. */
	int (*delta)(void *ctx, int index, const char *role, const char *content, size_t len);
	/* A complete tool call for choice index (tc_index-th call of it). */
	int (*tool_call)(void *ctx, int index, int tc_index, const char *id,
			 const char *name, const char *arguments);
	/* Choice index is done: "stop", "length", "tool_calls", "function_call". */
	int (*finish)(void *ctx, int index, const char *finish_reason);
	/* Token counts, once, after every choice finished. */
	int (*usage)(void *ctx, const struct chat_usage *u);
	/* An upstream's own answer, parsed: the whole chat.completion, or one
	 * chat.completion.chunk (or any event object) of a stream. The sink
	 * puts the client's model name in it (it may change obj) and keeps it
	 * as the answer or sends it as one event. Backends that build answers
	 * from the calls above never use it; those that use it use only it. */
	int (*relay)(void *ctx, struct json_object *obj);
	/* Optional, NULL when unset: an upstream's whole answer, or one event
	 * of its stream (a streaming sink's), as its bytes (len of them,
	 * strictly valid JSON, UTF-8 repaired, no line break) with its
	 * top-level members ms[0..n) (json_span.h) and the usage it reported
	 * (NULL: none), for a sink that keeps the answer as it came with the
	 * client's model name put in, with no tree parsed or serialised. The
	 * backend uses it, when set, for answers and events with no error
	 * member; all else goes through relay(). Returns as relay() does. */
	int (*relay_bytes)(void *ctx, const char *json, size_t len, const struct js_member *ms, int n,
			   const struct chat_usage *usage);
	/* NULL for a whole answer: sends the client a comment that carries
	 * nothing (an SSE keep-alive), which is also how a stream finds out that
	 * its client left while the backend has nothing else to send. */
	int (*keepalive)(void *ctx);
	/* Optional, NULL when unset: a header the client should get with the
	 * error the backend is about to return (an upstream's retry-after).
	 * Set by the handler; hctx is its own. */
	void (*header)(void *hctx, const char *name, const char *value);
	void *hctx;
	/* Optional, NULL when unset: has the client gone away? Asked now and
	 * then by a backend that may wait long with nothing to send (an
	 * upstream that sends bytes but no event), so that a departed client
	 * does not hold it. Takes hctx; cheap, never blocks. */
	bool (*gone)(void *hctx);
	/* Optional, NULL when unset: the deployment ("<upstream>/<model>")
	 * whose answer or error the client gets, said once, before any byte
	 * of it goes out (so that it can travel as a header). Takes hctx. */
	void (*deployment)(void *hctx, const char *name);
	/* How often (ms) a silent stream must write to find out that its
	 * client left, when what carries the request cannot tell without a
	 * write (lighttpd, Apache, CGI); 0 when it can (nginx closes the
	 * FastCGI connection). Set by the handler. */
	long probe_ms;
	/* Optional, NULL when unset: waits until fd is readable (or hung up)
	 * or ms have passed, for a backend with nothing to do before either
	 * (fd -1: the time alone). 0 once waited; -1 when it cannot (the
	 * backend then waits itself). A stream's waits are where it spends
	 * its minutes: the handler may hold them in a wait loop rather than
	 * on a thread (wait_loop.h), and the call may return on another
	 * thread. ms < 0: fd is waited for no more (its owner is about to
	 * close or reuse it); returns 0 at once. Takes hctx. */
	int (*wait)(void *hctx, int fd, long ms);
	/* Optional, NULL when unset: are the request's waits already held by
	 * that loop (it has waited there once)? Then a backend must make
	 * every wait through wait(): the thread it runs on is the loop's. */
	bool (*waits_in_loop)(void *hctx);
};

/* A backend. chat() answers req through sink and returns an oa_result
 * (openai_error.h): OA_DONE; OA_CLIENT_GONE when a sink callback said the
 * client is gone (or, for a sink that refuses what it is given, that it
 * refused: its owner knows which); OA_ERROR when the backend failed, err
 * saying how (502/504 ... for upstream trouble, 400 for a schema the mock
 * cannot answer within its bounds). */
struct backend_ops {
	const char *name;
	enum oa_result (*chat)(const struct model_cfg *model, const struct chat_request *req,
			       const struct chat_sink *sink, oa_error *err);
	/* Optional (NULL: the backend only answers chat): sends body (borrowed,
	 * the client's own) to the server's endpoint ("responses",
	 * "completions", "embeddings") as it came, model mapped, and hands
	 * every answer object or event to sink->relay. Returns as chat() does. */
	enum oa_result (*forward)(const struct model_cfg *model, const char *endpoint, json_object *body,
				  bool stream, const struct chat_sink *sink, oa_error *err);
};

extern const struct backend_ops backend_mock;
extern const struct backend_ops backend_upstream;

#endif
