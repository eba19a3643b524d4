/* backend_upstream.c: chat completions answered by an OpenAI-compatible server, relayed event by event */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend.h"
#include "backend_upstream.h"
#include "ca_bundle.h"
#include "config.h"
#include "cooldown.h"
#include "curl_api.h"
#include "failover.h"
#include "http1.h"
#include "json_span.h"
#include "log.h"
#include "rand.h"
#include "sse.h"
#include "upstream.h"
#include "xalloc.h"

#define ERROR_BODY_BYTES (64L << 10)   /* of a non-2xx answer: enough for any error object */
#define CLIENT_CHECK_MS  200           /* how often a waiting transfer asks if the client is still there */
#define WAIT_SLICE_MS    CLIENT_CHECK_MS /* the longest our transfer loop sleeps between looks */
/* A stream's receive buffer: its events come a few hundred bytes at a
 * time, and libcurl's own 16 KiB, one per stream, were ~12 MiB of 1,000
 * streams' memory. A whole answer keeps libcurl's default. */
#define STREAM_BUFFER_BYTES 1024  /* libcurl's least */

/* An easy handle and the multi handle it runs in, kept from one transfer
 * to the next in a pool the module owns, so that the multi's connection
 * cache keeps upstream connections (and their TLS sessions and DNS
 * answers) alive from one request to the next, whichever thread asks. A
 * transfer takes the pair returned last (its connections are the warmest)
 * and gives it back; at most IDLE_HANDLES wait idle, so that the pairs of
 * a burst of streams are closed when it is over. */
#define IDLE_HANDLES 64
/* URLs parsed for CURLOPT_CURLU, kept with the pair: a model's few
 * deployments and endpoints. */
#define PARSED_URLS 4
struct parsed_url {
	char *url;   /* owned; NULL: a free slot */
	CURLU *uh;   /* owned: url, parsed */
};

/* A connection of our own to one upstream, for whole answers: libcurl
 * makes it (CONNECT_ONLY: the name, the connect and TLS, their timeouts)
 * and keeps it while the easy handle stays in the connection's own multi;
 * each exchange on it is written and read by http1.h. */
#define DIRECT_CONNS 4
struct direct_conn {
	const struct upstream_cfg *up;  /* whom it is for; NULL: a free slot */
	CURL *easy;       /* owned, with multi and ep; NULL: none made yet. Kept
			   * across connections: its TLS sessions resume */
	CURLM *multi;
	int ep;           /* an epoll of the connection's socket, as a pair's */
	bool connected;   /* easy is in multi, its connection open */
	curl_socket_t fd; /* the connection's socket, while connected */
	char *url;        /* owned: the URL head was made for; NULL: none yet */
	bool unfit;       /* url is not one for a connection of our own (below) */
	strbuf head;      /* a POST's head to url, all but its Content-Length */
};

struct handles {
	CURL *easy;
	CURLM *multi;
	/* an epoll of every socket libcurl opens for this pair (on_socket,
	 * on_close): readable when one of them is, so that a stream waiting
	 * in the handler's wait loop (chat_sink.wait) is woken by one
	 * descriptor that stays the same while connections come and go */
	int ep;
	long buffer_bytes;  /* CURLOPT_BUFFERSIZE set now; 0: libcurl's own */
	struct parsed_url urls[PARSED_URLS];
	/* the request headers of the last transfer (request_headers), owned,
	 * kept for the next one to the same upstream the same way: an
	 * upstream_cfg lives as long as the process (a reload replaces the
	 * process), so its address names it */
	struct curl_slist *headers;
	const struct upstream_cfg *headers_up;
	bool headers_stream;
	unsigned next_url;  /* the slot the next new URL takes */
	struct direct_conn conns[DIRECT_CONNS];
	unsigned next_conn; /* the slot the next new upstream takes */
	char *rbuf;         /* owned, RBUF_BYTES: what a direct exchange reads; NULL until one does */
};
#define RBUF_BYTES CURL_MAX_WRITE_SIZE
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handles *idle[IDLE_HANDLES];  /* guarded by pool_lock */
static int n_idle;                           /* guarded by pool_lock */
static const struct curl_api *curl;  /* NULL: libcurl could not be loaded */
static const char *ca_file;          /* CURLOPT_CAINFO, set by upstream_preload; NULL: libcurl's own */
static bool proxied;                 /* the environment names a proxy: libcurl makes every exchange */
static cd_store *cooldowns;          /* NULL: each deployment's failures are not remembered */

/* Closes dc's connection, if it has one; dc keeps the rest for the next. */
static void direct_close(struct direct_conn *dc)
{
	if (!dc->connected)
		return;
	curl->multi_remove_handle(dc->multi, dc->easy);  /* closes a CONNECT_ONLY connection */
	dc->connected = false;
	dc->fd = CURL_SOCKET_BAD;
}

static void direct_free(struct direct_conn *dc)
{
	direct_close(dc);
	if (dc->easy) {
		curl->easy_cleanup(dc->easy);
		curl->multi_cleanup(dc->multi);
		close(dc->ep);
	}
	free(dc->url);
	sb_free(&dc->head);
	memset(dc, 0, sizeof *dc);
}

static void handles_free(struct handles *h)
{
	for (size_t i = 0; i < DIRECT_CONNS; i++)
		direct_free(&h->conns[i]);
	free(h->rbuf);
	curl->easy_cleanup(h->easy);
	curl->slist_free_all(h->headers);
	curl->multi_cleanup(h->multi);
	close(h->ep);  /* after the cleanups: they close the sockets through on_close */
	for (size_t i = 0; i < PARSED_URLS; i++) {
		free(h->urls[i].url);
		if (h->urls[i].uh)
			curl->url_cleanup(h->urls[i].uh);
	}
	free(h);
}

static void init_once(void)
{
	/* under the once: curl_global_init is not thread-safe before 7.84 */
	curl = curl_api();
	proxied = up_env_has_proxy(getenv);
	if (curl && curl->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("upstream: curl_global_init failed: no upstream can be asked");
		curl = NULL;
	}
}

static void setup_once(struct handles *h);

/* An easy handle, a multi of its own to run it in and an epoll for its
 * sockets: 0, or -1 (no memory, no descriptor) with none of them left. */
static int easy_new(int *ep, CURLM **multi, CURL **easy)
{
	*ep = epoll_create1(EPOLL_CLOEXEC);
	*multi = *ep >= 0 ? curl->multi_init() : NULL;
	*easy = *multi ? curl->easy_init() : NULL;
	if (*easy)
		return 0;
	if (*multi)
		curl->multi_cleanup(*multi);
	if (*ep >= 0)
		close(*ep);
	*multi = NULL;
	return -1;
}

/* A pair for one transfer, the caller's until handles_put(), or NULL (no
 * libcurl, or no memory). Its easy handle keeps the options every transfer
 * shares (setup_once); setup() sets all the others each time. */
static struct handles *handles_get(void)
{
	pthread_once(&once, init_once);
	if (!curl)
		return NULL;
	pthread_mutex_lock(&pool_lock);
	struct handles *h = n_idle ? idle[--n_idle] : NULL;
	pthread_mutex_unlock(&pool_lock);
	if (h)
		return h;
	h = calloc(1, sizeof *h);
	if (!h || easy_new(&h->ep, &h->multi, &h->easy) != 0) {
		free(h);
		return NULL;
	}
	setup_once(h);
	return h;
}

static void handles_put(struct handles *h)
{
	pthread_mutex_lock(&pool_lock);
	if (n_idle < IDLE_HANDLES) {
		idle[n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (h)
		handles_free(h);
}

/* url parsed, for CURLOPT_CURLU: libcurl parses a CURLOPT_URL string and
 * prints it back whole on every transfer (~10,000 instructions of a
 * relayed request), and only copies a CURLU. Kept with h (the oldest of
 * PARSED_URLS makes room); NULL when url does not
 * parse or there is no memory: libcurl then takes the string, and says
 * what is wrong with it, as before. */
static CURLU *parsed_url(struct handles *h, const char *url)
{
	for (size_t i = 0; i < PARSED_URLS; i++)
		if (h->urls[i].url && strcmp(h->urls[i].url, url) == 0)
			return h->urls[i].uh;
	CURLU *uh = curl->url();
	char *copy = uh ? strdup(url) : NULL;
	/* the flags libcurl parses a CURLOPT_URL string with */
	if (!copy || curl->url_set(uh, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		free(copy);
		if (uh)
			curl->url_cleanup(uh);
		return NULL;
	}
	struct parsed_url *slot = &h->urls[h->next_url++ % PARSED_URLS];
	free(slot->url);
	if (slot->uh)
		curl->url_cleanup(slot->uh);
	slot->url = copy;
	slot->uh = uh;
	return uh;
}

struct xfer;
static int wait_ms(const struct xfer *x);

/* A transfer's wait through the sink (below), and its end. */
static bool wait_in_sink(struct xfer *x, CURLM *m, int fd, bool *parked, long *thread_ms);
static void wait_over(const struct xfer *x, int fd);

/* Runs the transfer on c to its end through m, waking when the upstream
 * sends (ep: an epoll of m's sockets), or when x has something due
 * (wait_ms), so that on_progress (called on every pass) sees the limits
 * and a departed client in time. c stays in m: a connection made for
 * CONNECT_ONLY lives only as long as it is there. */
static CURLcode run(CURLM *m, CURL *c, int ep, struct xfer *x)
{
	if (curl->multi_add_handle(m, c) != CURLM_OK)
		return CURLE_OUT_OF_MEMORY;
	CURLcode cc = CURLE_OK;
	int running = 1;
	bool parked = false;
	while (running) {
		if (curl->multi_perform(m, &running) != CURLM_OK) {
			cc = CURLE_RECV_ERROR;
			break;
		}
		long thread_ms;
		if (!running || wait_in_sink(x, m, ep, &parked, &thread_ms))
			continue;
		if (curl->multi_wait(m, NULL, 0, (int)thread_ms, NULL) != CURLM_OK) {
			cc = CURLE_RECV_ERROR;
			break;
		}
	}
	if (parked)
		wait_over(x, ep);
	int left;
	for (CURLMsg *msg; (msg = curl->multi_info_read(m, &left)) != NULL;)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
			cc = msg->data.result;
	return cc;
}

/* A transfer on h's own easy handle, through h's multi, to its end. */
static CURLcode perform(struct handles *h, struct xfer *x)
{
	CURLcode cc = run(h->multi, h->easy, h->ep, x);
	curl->multi_remove_handle(h->multi, h->easy);
	return cc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one exchange ---- */

struct xfer {
	const struct upstream_cfg *up;
	const struct chat_sink *sink;
	oa_error *err;
	bool stream;
	const char *whole_member;  /* what a whole answer must have: "choices", "output" */
	long status;            /* of the last status line */
	bool is_sse;            /* Content-Type: text/event-stream */
	strbuf body;            /* a whole answer, or an error body */
	struct sse_parser sse;
	size_t events;          /* relayed so far */
	bool done;              /* data: [DONE] seen */
	bool finished;          /* a chunk with a finish_reason seen */
	bool client_gone;
	bool failed;            /* err was set while reading */
	bool too_big;           /* a whole 2xx answer past max_body_bytes */
	bool error_cut;         /* a non-2xx body cut at ERROR_BODY_BYTES: its start is enough */
	enum up_limit limit;    /* which limit stopped the transfer */
	struct up_clock clock;
	int64_t client_checked_ms;
	int64_t client_heard_ms;  /* the last event or keep-alive we sent the client */
	unsigned long comments; /* keep-alive lines seen so far */
	long keepalive_ms;      /* how long the client may hear nothing (0: no keep-alives) */
	bool pinged;            /* a keep-alive went to the client */
	bool sent;              /* the whole request is on the wire: what is left is to read */
	int unsent_wait_ms;     /* the last timed wait while it was not (see wait_in_sink) */
	const char *deployment; /* its name, said to the sink before the first byte; NULL: none */
	bool announced;
	char retry_after[32];
	char retry_after_ms[32];
};

/* Tells the sink which deployment answers, once, before anything goes out. */
static void announce(struct xfer *x)
{
	if (x->announced || !x->deployment || !x->sink || !x->sink->deployment)
		return;
	x->announced = true;
	x->sink->deployment(x->sink->hctx, x->deployment);
}

/* The bounds of up, or the built-in defaults for an upstream that was not
 * made by config_load() (the settings table has the same). */
static size_t max_event(const struct upstream_cfg *up)
{
	return up->max_event_bytes > 0 ? (size_t)up->max_event_bytes : 1u << 20;
}

static size_t max_body(const struct upstream_cfg *up)
{
	return up->max_body_bytes > 0 ? (size_t)up->max_body_bytes : 16u << 20;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	char ct[256];
	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new status line (after a 100 Continue, say) starts over */
		x->status = 0;
		x->is_sse = false;
		x->retry_after[0] = x->retry_after_ms[0] = '\0';
		const char *sp = memchr(p, ' ', len);
		if (sp)
			x->status = strtol(sp + 1, NULL, 10);
	} else if (up_header_value(p, len, "content-type", ct, sizeof ct)) {
		x->is_sse = strncasecmp(ct, "text/event-stream", 17) == 0;
	} else if (x->status / 100 != 2) {
		/* a success's wait is nobody's: only a 429's or 503's is passed on */
		if (!up_header_value(p, len, "retry-after", x->retry_after, sizeof x->retry_after))
			up_header_value(p, len, "retry-after-ms", x->retry_after_ms, sizeof x->retry_after_ms);
	}
	return len;
}

/* Does obj end the answer: a choice with its finish_reason (chat,
 * completions), or the Responses API's last event? */
static bool has_finish_reason(json_object *obj)
{
	json_object *choices, *fr, *type;
	if (json_object_object_get_ex(obj, "type", &type) && json_object_is_type(type, json_type_string)) {
		const char *t = json_object_get_string(type);
		if (strcmp(t, "response.completed") == 0 || strcmp(t, "response.incomplete") == 0 ||
		    strcmp(t, "response.failed") == 0)
			return true;
	}
	if (!json_object_object_get_ex(obj, "choices", &choices) || !json_object_is_type(choices, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(choices); i++) {
		json_object *c = json_object_array_get_idx(choices, i);
		if (json_object_object_get_ex(c, "finish_reason", &fr) && json_object_is_type(fr, json_type_string))
			return true;
	}
	return false;
}

/* Parses an upstream's JSON, invalid UTF-8 replaced by U+FFFD first and
 * numbers JSON cannot hold by null after (the client must get valid JSON;
 * a broken byte or number in a model's answer is not worth the answer).
 * what names it in the warning. */
static json_object *parse_json(const struct upstream_cfg *up, const char *what, const char *s, size_t len)
{
	strbuf fixed = STRBUF_INIT;
	size_t bad = up_utf8_repair(s, len, &fixed);
	if (bad) {
		log_warn("upstream %s: %zu invalid UTF-8 bytes in %s replaced by U+FFFD", up->name, bad, what);
		s = fixed.buf;
		len = fixed.len;
	}
	json_tokener *tok = json_tokener_new();
	json_object *obj = len <= INT32_MAX ? json_tokener_parse_ex(tok, s, (int)len) : NULL;
	if (obj && json_tokener_get_parse_end(tok) != len) {
		json_object_put(obj);  /* trailing garbage */
		obj = NULL;
	}
	json_tokener_free(tok);
	sb_free(&fixed);
	size_t nonfinite = up_json_finite(obj);
	if (nonfinite)
		log_warn("upstream %s: %zu numbers that JSON cannot hold (NaN, Infinity) in %s replaced by null",
			 up->name, nonfinite, what);
	return obj;
}

static bool read_members(const struct js_member *ms, int n, const char *must, bool *has,
			 struct chat_usage *usage, bool *have_usage);

/* Top-level members of an event or a whole answer relayed without a tree,
 * and choices of an event; one with more takes the tree. */
#define ANSWER_MEMBERS 64
#define EVENT_CHOICES  16

/* Does the event (its members ms[0..n)) end the answer, as
 * has_finish_reason() reads a tree? -1: the bytes cannot say (a choice
 * this cannot read, an escape in "type"): the tree must. */
static int finish_in_bytes(const struct js_member *ms, int n)
{
	struct js_member choices[EVENT_CHOICES], cm[ANSWER_MEMBERS];
	static const char *const last_types[] = {
		"\"response.completed\"", "\"response.incomplete\"", "\"response.failed\""
	};
	for (int i = 0; i < n; i++) {
		if (js_is(&ms[i], "type") && *ms[i].val == '"') {
			if (memchr(ms[i].val, '\\', ms[i].val_len))
				return -1;
			for (size_t t = 0; t < sizeof last_types / sizeof last_types[0]; t++)
				if (ms[i].val_len == strlen(last_types[t]) &&
				    memcmp(ms[i].val, last_types[t], ms[i].val_len) == 0)
					return 1;
		}
	}
	/* json-c keeps the last of two members with one name */
	const struct js_member *ch = NULL;
	for (int i = 0; i < n; i++)
		if (js_is(&ms[i], "choices"))
			ch = &ms[i];
	if (!ch || *ch->val != '[')
		return 0;
	int nc = js_items(ch->val, ch->val_len, choices, EVENT_CHOICES);
	if (nc < 0)
		return -1;
	for (int c = 0; c < nc; c++) {
		if (*choices[c].val != '{')
			continue;
		int k = js_members(choices[c].val, choices[c].val_len, cm, ANSWER_MEMBERS);
		if (k < 0)
			return -1;
		const struct js_member *fr = NULL;
		for (int j = 0; j < k; j++)
			if (js_is(&cm[j], "finish_reason"))
				fr = &cm[j];
		if (fr && *fr->val == '"')
			return 1;
	}
	return 0;
}

/* An event of a stream relayed as its bytes (s: UTF-8 repaired, no line
 * break outside its strings): a strictly valid object with no error member,
 * read for what the transfer and the accounting need. Sets *rc and returns
 * true when it went (or the client left); false leaves the event to the
 * tree (NaN, an error event, what the bytes cannot read). json-c's parse
 * and re-serialisation of every event were most of what relaying one cost. */
static bool event_bytes(struct xfer *x, const char *s, size_t len, int *rc)
{
	struct js_member ms[ANSWER_MEMBERS];
	struct chat_usage usage;
	bool have_usage;
	if (!x->sink->relay_bytes)
		return false;
	int n = js_members(s, len, ms, ANSWER_MEMBERS);
	if (n < 0 || !read_members(ms, n, NULL, NULL, &usage, &have_usage))
		return false;
	int finished = finish_in_bytes(ms, n);
	if (finished < 0)
		return false;
	if (finished)
		x->finished = true;
	announce(x);
	*rc = x->sink->relay_bytes(x->sink->ctx, s, len, ms, n, have_usage ? &usage : NULL);
	return true;
}

/* The event's bytes as the bytes path takes them: invalid UTF-8 replaced
 * (as parse_json does), and the line breaks of an event sent over several
 * data: lines made spaces: a strict object has them only between tokens,
 * and the client's event must be one line. NULL: the event as it came. */
static const char *event_text(struct xfer *x, const struct sse_msg *m, strbuf *fixed, size_t *len)
{
	const char *s = m->data;
	*len = m->data_len;
	size_t bad = up_utf8_repair(s, *len, fixed);
	if (bad) {
		log_warn("upstream %s: %zu invalid UTF-8 bytes in a stream event replaced by U+FFFD", x->up->name, bad);
		s = fixed->buf;
		*len = fixed->len;
	}
	if (!memchr(s, '\n', *len) && !memchr(s, '\r', *len))
		return s;
	if (!bad)
		sb_append(fixed, s, *len);
	for (size_t i = 0; i < fixed->len; i++)
		if (fixed->buf[i] == '\n' || fixed->buf[i] == '\r')
			fixed->buf[i] = ' ';
	return fixed->buf;
}

/* What the sink's rc for an event means: the client left, or one more
 * event went and the client heard from us now. */
static int event_sent(struct xfer *x, int rc)
{
	if (rc < 0) {
		x->client_gone = true;
		return -1;
	}
	x->events++;
	x->client_heard_ms = mono_ms();
	return 0;
}

/* One complete SSE event of a 200 stream: relay it, now. */
static int on_event(void *ctx, const struct sse_msg *m)
{
	struct xfer *x = ctx;
	if (x->done)
		return 0;  /* nothing counts after [DONE] */
	if (m->data_len == 6 && memcmp(m->data, "[DONE]", 6) == 0) {
		x->done = true;
		return 0;
	}
	up_clock_progress(&x->clock, mono_ms());
	if (x->sink->relay_bytes) {
		strbuf fixed = STRBUF_INIT;
		size_t len;
		const char *s = event_text(x, m, &fixed, &len);
		int rc = 0;
		bool went = event_bytes(x, s, len, &rc);
		sb_free(&fixed);
		if (went)
			return event_sent(x, rc);
	}
	json_object *obj = parse_json(x->up, "a stream event", m->data, m->data_len);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		log_warn("upstream %s: stream event is not a JSON object: %.120s", x->up->name, m->data);
		json_object_put(obj);
		up_fail(x->err, UP_MALFORMED);
		x->failed = true;
		return -1;
	}
	if (up_error_object(obj, 502, x->err) != 0) {
		log_warn("upstream %s: error event: %.200s", x->up->name, x->err->message);
		json_object_put(obj);
		x->failed = true;
		return -1;
	}
	if (has_finish_reason(obj))
		x->finished = true;
	announce(x);
	int rc = x->sink->relay(x->sink->ctx, obj);
	json_object_put(obj);
	return event_sent(x, rc);
}

/* Bytes of a 200 stream, through the bounded parser. */
static size_t feed_stream(struct xfer *x, const char *p, size_t len)
{
	if (sse_parser_feed(&x->sse, p, len) != 0) {
		if (x->sse.failure == SSE_LINE_TOO_LONG || x->sse.failure == SSE_EVENT_TOO_BIG) {
			log_warn("upstream %s: stream %s larger than %zu bytes after %zu events", x->up->name,
				 x->sse.failure == SSE_LINE_TOO_LONG ? "line" : "event", max_event(x->up), x->events);
			up_fail(x->err, UP_TOO_LARGE);
			x->failed = true;
		}
		return 0;
	}
	if (x->sse.comments != x->comments) {
		x->comments = x->sse.comments;
		up_clock_progress(&x->clock, mono_ms());  /* a keep-alive */
	}
	return len;
}

/* Returning less than asked makes curl stop the transfer at once: that is
 * how a gone client, a bad event or a bound passed aborts the upstream
 * request. */
static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	up_clock_byte(&x->clock, mono_ms());
	if (x->stream && x->status / 100 == 2 && x->is_sse)
		return feed_stream(x, p, len);
	/* a whole answer has nothing smaller than a byte to call progress */
	up_clock_progress(&x->clock, mono_ms());
	if (x->status / 100 != 2 && x->body.len + len > ERROR_BODY_BYTES) {
		sb_append(&x->body, p, ERROR_BODY_BYTES - x->body.len);
		x->error_cut = true;
		return 0;
	}
	if (x->body.len + len > max_body(x->up)) {
		x->too_big = true;
		return 0;
	}
	sb_append(&x->body, p, len);
	return len;
}

/* Is the stream ours to keep? The upstream answered 200 with events or
 * keep-alives of its own: our head may go out, and no other deployment
 * will be tried. */
static bool ours_to_keep(const struct xfer *x)
{
	return x->stream && x->is_sse && x->status / 100 == 2 && (x->events || x->comments);
}

/* Is the client of this stream due a keep-alive? Only once the stream
 * is ours to keep, and after keepalive_ms of silence
 * (sse_keepalive_period). */
static bool keepalive_due(const struct xfer *x, int64_t now)
{
	return ours_to_keep(x) && x->sink->keepalive && x->keepalive_ms > 0 &&
	       now - x->client_heard_ms >= x->keepalive_ms;
}

/* Where a transfer waits. On its thread first: most answers come within
 * milliseconds, and a wait in the handler's wait loop (the sink's wait)
 * costs a hand-over to the loop's thread. Through the sink once the wait
 * has lasted THREAD_WAIT_MS (a model that thinks, or writes a whole answer
 * token by token, takes seconds to minutes), once the stream is ours to
 * keep (its events come for as long as it lasts), and whenever the
 * request already waits in the loop (its thread is the loop's). Until the
 * request is all on the wire (a connect, a TLS handshake, a body larger
 * than the socket takes), libcurl may wait to write, which h's epoll does
 * not watch (an idle socket is always writable): those waits in the loop
 * are timed, 1 ms and doubling to UNSENT_WAIT_MS. true: waited through
 * the sink, or nothing to wait for; false: the caller waits on this
 * thread, at most *thread_ms. */
#define THREAD_WAIT_MS 10
#define UNSENT_WAIT_MS 16
static bool wait_in_sink(struct xfer *x, CURLM *m, int fd, bool *parked, long *thread_ms)
{
	*thread_ms = wait_ms(x);
	if (!x->sink || !x->sink->wait)
		return false;
	long waited = (long)(mono_ms() - x->clock.start_ms);
	bool loop_held = x->sink->waits_in_loop && x->sink->waits_in_loop(x->sink->hctx);
	if (!loop_held && !ours_to_keep(x) && waited < THREAD_WAIT_MS) {
		if (THREAD_WAIT_MS - waited < *thread_ms)
			*thread_ms = THREAD_WAIT_MS - waited;
		return false;
	}
	long ms = *thread_ms, curl_ms = -1;
	if (m)
		curl->multi_timeout(m, &curl_ms);
	if (curl_ms >= 0 && curl_ms < ms)
		ms = curl_ms;
	if (!x->sent) {
		x->unsent_wait_ms = x->unsent_wait_ms ? x->unsent_wait_ms * 2 : 1;
		if (x->unsent_wait_ms > UNSENT_WAIT_MS)
			x->unsent_wait_ms = UNSENT_WAIT_MS;
		if (x->unsent_wait_ms < ms)
			ms = x->unsent_wait_ms;
	}
	if (ms <= 0)
		return true;
	if (x->sink->wait(x->sink->hctx, fd, ms) != 0)
		return false;  /* the loop has no room: this thread waits */
	*parked = true;
	return true;
}

/* fd (an epoll of the pool's) goes back to the pool: the sink waits for
 * it no more. */
static void wait_over(const struct xfer *x, int fd)
{
	x->sink->wait(x->sink->hctx, fd, -1);
}

/* How long perform() may sleep: until the next look for the client
 * (CLIENT_CHECK_MS after the last, which is also when a keep-alive may be
 * due) or the next limit, at most WAIT_SLICE_MS. A stream waking every
 * 100 ms for nothing cost 1,000 streams 10,000 passes a second. */
static int wait_ms(const struct xfer *x)
{
	int64_t now = mono_ms();
	int64_t due = up_clock_next_ms(&x->clock, x->up);
	if (x->sink && x->client_checked_ms + CLIENT_CHECK_MS < due)
		due = x->client_checked_ms + CLIENT_CHECK_MS;
	/* past due and still not looked at (curl may skip a pass's
	 * progress call): the slice, never a spin of 1 ms waits */
	if (due <= now || due - now > WAIT_SLICE_MS)
		return WAIT_SLICE_MS;
	return (int)(due - now);
}

/* curl calls this on every pass of perform()'s loop (at least every
 * WAIT_SLICE_MS while waiting) and after reads: the limits are checked here, and whether the client is still there, since
 * an upstream may keep sending for long without an event to relay (the
 * only other moment a gone client is seen): asked of what carries the
 * request, and by a keep-alive to a stream's client. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = ctx;
	(void)dt; (void)dn;
	if (ut > 0 && un >= ut)
		x->sent = true;  /* the body is counted once sent, after the head */
	int64_t now = mono_ms();
	x->limit = up_clock_expired(&x->clock, x->up, now);
	if (x->limit != UP_LIMIT_NONE)
		return 1;
	if (!x->sink || now - x->client_checked_ms < CLIENT_CHECK_MS)
		return 0;
	x->client_checked_ms = now;
	bool gone = x->sink->gone && x->sink->gone(x->sink->hctx);
	if (!gone && keepalive_due(x, now)) {
		announce(x);
		gone = x->sink->keepalive(x->sink->ctx) < 0;
		x->pinged = true;
		x->client_heard_ms = now;
	}
	x->client_gone = gone;
	return gone;
}

/* The headers of a request to up, h's (kept for the next transfer to up
 * that streams or not alike); NULL only when there is no memory. No Accept
 * on a whole answer, not even libcurl's own any-type one: libcurl 7.88
 * prints its request head a byte at a time, ~100 instructions a byte, and
 * an upstream reads a missing Accept as any type, its JSON included. */
static struct curl_slist *request_headers(struct handles *h, const struct upstream_cfg *up, bool stream)
{
	if (h->headers && h->headers_up == up && h->headers_stream == stream)
		return h->headers;
	curl->slist_free_all(h->headers);
	struct curl_slist *l = NULL;
	strbuf auth = STRBUF_INIT;
	l = curl->slist_append(l, "Content-Type: application/json");
	l = curl->slist_append(l, stream ? "Accept: text/event-stream" : "Accept:");
	l = curl->slist_append(l, "Expect:");  /* no 100-continue round trip for big bodies */
	if (up->api_key) {
		sb_printf(&auth, "Authorization: Bearer %s", up->api_key);
		l = curl->slist_append(l, sb_str(&auth));
		sb_free(&auth);
	}
	for (size_t i = 0; i < up->n_headers; i++)
		l = curl->slist_append(l, up->headers[i]);
	h->headers = l;
	h->headers_up = up;
	h->headers_stream = stream;
	return l;
}

/* Each socket libcurl opens for a pair (or a direct connection) joins its
 * epoll (ctx: the epoll's descriptor); each it closes leaves it first. */
static int on_socket(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	const int *ep = ctx;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
	(void)purpose;
	if (epoll_ctl(*ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		log_warn("upstream: cannot watch socket %d: %s; a stream on it wakes only by time", fd,
			 strerror(errno));
	return CURL_SOCKOPT_OK;
}

static int on_close(void *ctx, curl_socket_t fd)
{
	const int *ep = ctx;
	epoll_ctl(*ep, EPOLL_CTL_DEL, fd, NULL);
	return close(fd);
}

/* How every easy handle connects, a pair's and a direct connection's
 * alike (ep: the epoll its sockets join), set once when it is made. */
static void setup_connection(CURL *c, int *ep)
{
	curl->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl->easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl->easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl->easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_socket);
	curl->easy_setopt(c, CURLOPT_SOCKOPTDATA, ep);
	curl->easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl->easy_setopt(c, CURLOPT_CLOSESOCKETDATA, ep);
	if (!up_env_has_proxy(getenv)) {
		/* none: libcurl need not read the environment again per transfer */
		curl->easy_setopt(c, CURLOPT_PROXY, "");
		curl->easy_setopt(c, CURLOPT_NOPROXY, "");
	}
	if (ca_file)
		curl->easy_setopt(c, CURLOPT_CAINFO, ca_file);
}

/* What every transfer of a pair shares, set once when the pair is made:
 * a curl_easy_reset() and all of these again on every request cost the
 * relay ~6,500 instructions a request for nothing. */
static void setup_once(struct handles *h)
{
	CURL *c = h->easy;
	setup_connection(c, &h->ep);
	curl->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}

/* Everything that differs from one transfer to the next, each of them set
 * every time so that nothing of the last transfer carries over: the URL,
 * up's limits, x as the callbacks' state, the headers, and the method
 * (body NULL: a GET; else POSTed, borrowed until the transfer ends). */
static void setup(struct handles *h, struct xfer *x, const char *url, struct curl_slist *headers,
		  const strbuf *body)
{
	CURL *c = h->easy;
	/* the string too: libcurl's messages and state name it; the CURLU
	 * (or NULL, never the last transfer's) is what it connects to */
	curl->easy_setopt(c, CURLOPT_URL, url);
	curl->easy_setopt(c, CURLOPT_CURLU, parsed_url(h, url));
	curl->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, x->up->connect_ms > 0 ? x->up->connect_ms : 0L);
	curl->easy_setopt(c, CURLOPT_TIMEOUT_MS, x->up->total_ms > 0 ? x->up->total_ms : 0L);
	curl->easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl->easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl->easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl->easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	/* set only when it changes: a set may free or resize the buffer */
	long buffer_bytes = x->stream ? STREAM_BUFFER_BYTES : 0;
	if (h->buffer_bytes != buffer_bytes) {
		curl->easy_setopt(c, CURLOPT_BUFFERSIZE, buffer_bytes ? buffer_bytes : (long)CURL_MAX_WRITE_SIZE);
		h->buffer_bytes = buffer_bytes;
	}
	if (body) {
		curl->easy_setopt(c, CURLOPT_POSTFIELDS, body->buf ? body->buf : "");
		curl->easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	} else {
		curl->easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
}

/* ---- a whole answer on a connection of our own (http1.h) ---- */

/* dc->head made for url (up's), once: 0, or -1 when url is not one for a
 * connection of our own (not http or https, a user in it, or libcurl
 * cannot say its parts), which libcurl then asks itself. */
static int direct_head(struct handles *h, struct direct_conn *dc, const char *url)
{
	if (dc->url && strcmp(dc->url, url) == 0)
		return dc->unfit ? -1 : 0;
	CURLU *uh = parsed_url(h, url);
	char *scheme = NULL, *user = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	CURLUcode qc = CURLUE_OK, pc = CURLUE_OK;
	bool fit = uh && curl->url_get(uh, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		   (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
		   curl->url_get(uh, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
		   curl->url_get(uh, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		   curl->url_get(uh, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
		   ((qc = curl->url_get(uh, CURLUPART_QUERY, &query, 0)) == CURLUE_OK || qc == CURLUE_NO_QUERY) &&
		   ((pc = curl->url_get(uh, CURLUPART_PORT, &port, 0)) == CURLUE_OK || pc == CURLUE_NO_PORT);
	sb_reset(&dc->head);
	if (fit) {
		strbuf target = STRBUF_INIT, hostport = STRBUF_INIT;
		sb_puts(&target, path);
		if (query) {
			sb_putc(&target, '?');
			sb_puts(&target, query);
		}
		/* the Host line libcurl would send: the port only when not the scheme's own */
		sb_puts(&hostport, host);
		if (port && strcmp(port, strcmp(scheme, "https") == 0 ? "443" : "80") != 0) {
			sb_putc(&hostport, ':');
			sb_puts(&hostport, port);
		}
		h1_head_start(&dc->head, sb_str(&target), sb_str(&hostport), dc->up->api_key, dc->up->headers,
			      dc->up->n_headers);
		sb_free(&target);
		sb_free(&hostport);
	}
	char *parts[] = { scheme, user, host, port, path, query };
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		curl->free(parts[i]);
	free(dc->url);
	dc->url = xstrdup(url);
	dc->unfit = !fit;
	return fit ? 0 : -1;
}

/* h's connection to up, for a POST to url: kept from an earlier exchange,
 * or a slot (the oldest of DIRECT_CONNS makes room) that will connect;
 * NULL when url is not for one (direct_head), or there is no memory. */
static struct direct_conn *direct_conn_for(struct handles *h, const struct upstream_cfg *up, const char *url)
{
	struct direct_conn *dc = NULL;
	for (size_t i = 0; i < DIRECT_CONNS && !dc; i++)
		if (h->conns[i].up == up)
			dc = &h->conns[i];
	if (!dc) {
		dc = &h->conns[h->next_conn++ % DIRECT_CONNS];
		direct_close(dc);
		free(dc->url);
		dc->url = NULL;
		dc->up = up;
	}
	if (!dc->easy) {
		if (easy_new(&dc->ep, &dc->multi, &dc->easy) != 0)
			return NULL;
		setup_connection(dc->easy, &dc->ep);
		curl->easy_setopt(dc->easy, CURLOPT_CONNECT_ONLY, 1L);
	}
	return direct_head(h, dc, url) == 0 ? dc : NULL;
}

/* Connects dc to url through its multi, x's limits and client looked at
 * as in any transfer. */
static CURLcode direct_connect(struct handles *h, struct direct_conn *dc, struct xfer *x, const char *url)
{
	CURL *c = dc->easy;
	curl->easy_setopt(c, CURLOPT_URL, url);
	curl->easy_setopt(c, CURLOPT_CURLU, parsed_url(h, url));
	curl->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, x->up->connect_ms > 0 ? x->up->connect_ms : 0L);
	curl->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl->easy_setopt(c, CURLOPT_XFERINFODATA, x);
	CURLcode cc = run(dc->multi, c, dc->ep, x);
	/* x is gone once this exchange is: no callback may see it later */
	curl->easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
	curl_socket_t fd = CURL_SOCKET_BAD;
	if (cc == CURLE_OK && (cc = curl->easy_getinfo(c, CURLINFO_ACTIVESOCKET, &fd)) == CURLE_OK &&
	    fd == CURL_SOCKET_BAD)
		cc = CURLE_COULDNT_CONNECT;
	if (cc != CURLE_OK) {
		curl->multi_remove_handle(dc->multi, c);
		return cc;
	}
	dc->connected = true;
	dc->fd = fd;
	return CURLE_OK;
}

/* One wait of a direct exchange for its socket to take (POLLOUT) or give
 * (POLLIN) bytes: x's limits and client looked at first, as libcurl's
 * progress calls do, then as wait_in_sink() says, or on this thread. */
static CURLcode direct_wait(struct direct_conn *dc, struct xfer *x, short events, bool *parked)
{
	long thread_ms;
	if (on_progress(x, 0, 0, 0, 0) != 0)
		return CURLE_ABORTED_BY_CALLBACK;
	if (wait_in_sink(x, NULL, dc->ep, parked, &thread_ms))
		return CURLE_OK;
	struct pollfd pfd = { .fd = dc->fd, .events = events };
	if (poll(&pfd, 1, (int)thread_ms) < 0 && errno != EINTR)
		return CURLE_RECV_ERROR;
	return CURLE_OK;
}

static CURLcode direct_send(struct direct_conn *dc, struct xfer *x, const strbuf *req, bool *parked)
{
	for (size_t off = 0; off < req->len;) {
		size_t n = 0;
		CURLcode cc = curl->easy_send(dc->easy, req->buf + off, req->len - off, &n);
		if (cc == CURLE_OK)
			off += n;
		else if (cc != CURLE_AGAIN)
			return CURLE_SEND_ERROR;
		else if ((cc = direct_wait(dc, x, POLLOUT, parked)) != CURLE_OK)
			return cc;
	}
	x->sent = true;
	return CURLE_OK;
}

/* Reads the answer into x through r, the way libcurl's callbacks would
 * have it; *heard: a byte of it came. The codes are libcurl's for the
 * same ends: CURLE_RECV_ERROR when nothing came (the connection ended or
 * broke first), CURLE_WRITE_ERROR when a callback stopped it. */
static CURLcode direct_read(struct handles *h, struct direct_conn *dc, struct xfer *x, struct h1_reader *r,
			    bool *parked, bool *heard)
{
	h1_reader_init(r, on_header, on_body, x);
	bool wait = true;  /* the request has just gone: nothing can have come */
	for (;;) {
		CURLcode cc;
		if (wait && (cc = direct_wait(dc, x, POLLIN, parked)) != CURLE_OK)
			return cc;
		if (!wait && on_progress(x, 0, 0, 0, 0) != 0)
			return CURLE_ABORTED_BY_CALLBACK;  /* an answer that keeps coming meets the limits too */
		size_t n = 0;
		cc = curl->easy_recv(dc->easy, h->rbuf, RBUF_BYTES, &n);
		wait = cc == CURLE_AGAIN;
		if (wait)
			continue;
		if (cc != CURLE_OK)
			return CURLE_RECV_ERROR;
		if (n) {
			*heard = true;
			up_clock_byte(&x->clock, mono_ms());
		}
		int done = h1_feed(r, h->rbuf, n);
		if (done > 0)
			return CURLE_OK;
		if (done < 0) {
			if (r->stopped)
				return CURLE_WRITE_ERROR;
			if (!*heard)
				return CURLE_RECV_ERROR;
			log_warn("upstream %s: the answer cannot be read as HTTP/1.1: %s", x->up->name, h1_error(r));
			return r->early ? CURLE_PARTIAL_FILE : CURLE_WEIRD_SERVER_REPLY;
		}
	}
}

/* A POST of body to url on dc, read into x as perform() would: the
 * request written whole (its head made once per URL, not printed a byte
 * at a time), the answer parsed as it comes, the connection kept when the
 * answer allows. A kept connection that the upstream closed while it was
 * idle is made again: at once when that shows before the request goes,
 * else (the send fails, or it ends without a byte) with the request sent
 * once more, as libcurl does. */
/* Apart from the exchange (as conclude() is): its reader's ~600 bytes
 * inlined there were a second stack page for every stream waiting. */
__attribute__((noinline)) static CURLcode perform_direct(struct handles *h, struct direct_conn *dc,
							 struct xfer *x, const char *url, const strbuf *body)
{
	if (!h->rbuf && !(h->rbuf = malloc(RBUF_BYTES)))
		return CURLE_OUT_OF_MEMORY;
	strbuf req = STRBUF_INIT;
	sb_append(&req, dc->head.buf, dc->head.len);
	h1_head_end(&req, body->len);
	sb_append(&req, body->buf ? body->buf : "", body->len);
	struct h1_reader r;
	bool parked = false;
	CURLcode cc;
	for (int attempt = 0;; attempt++) {
		/* a kept connection with something to read before we asked has
		 * been closed by the upstream, or carries what no exchange of ours
		 * is owed: as libcurl's look before it reuses one */
		struct pollfd pfd = { .fd = dc->fd, .events = POLLIN };
		if (dc->connected && poll(&pfd, 1, 0) != 0)
			direct_close(dc);
		bool kept = dc->connected, heard = false;
		cc = kept ? CURLE_OK : direct_connect(h, dc, x, url);
		if (cc == CURLE_OK)
			cc = direct_send(dc, x, &req, &parked);
		if (cc == CURLE_OK)
			cc = direct_read(h, dc, x, &r, &parked, &heard);
		if (cc == CURLE_OK && h1_keep_alive(&r))
			break;
		direct_close(dc);
		if (cc == CURLE_OK || !kept || heard || attempt > 0 || (cc != CURLE_SEND_ERROR && cc != CURLE_RECV_ERROR))
			break;
		x->sent = false;
	}
	if (parked)
		wait_over(x, dc->ep);
	sb_free(&req);
	return cc;
}

/* Hands the upstream's wait on with its 429 (or 503): as headers we make
 * from its values once they parse, never its bytes. */
static void pass_retry(const struct xfer *x)
{
	long secs, ms;
	char v[24];
	if (!x->sink->header)
		return;
	if (!up_retry_headers(x->retry_after, x->retry_after_ms, time(NULL), &secs, &ms)) {
		if (x->retry_after[0] || x->retry_after_ms[0] || x->status == 429)
			log_warn("upstream %s: HTTP %ld without a usable Retry-After: none passed on", x->up->name,
				 x->status);
		return;
	}
	snprintf(v, sizeof v, "%ld", secs);
	x->sink->header(x->sink->hctx, "Retry-After", v);
	snprintf(v, sizeof v, "%ld", ms);
	x->sink->header(x->sink->hctx, "retry-after-ms", v);
}

/* The usage object's counts (val, len: its bytes), as relayed_usage() in
 * chat_response.c reads them from a tree: integers only, others 0. false
 * when val is not an object this can read. */
static bool usage_of(const char *val, size_t len, struct chat_usage *u)
{
	struct js_member ms[ANSWER_MEMBERS];
	int n = js_members(val, len, ms, ANSWER_MEMBERS);
	int64_t v;
	if (n < 0)
		return false;
	memset(u, 0, sizeof *u);
	for (int i = 0; i < n; i++)
		if (js_is(&ms[i], "prompt_tokens") && js_int(ms[i].val, ms[i].val_len, &v))
			u->prompt_tokens = (long)v;
		else if (js_is(&ms[i], "completion_tokens") && js_int(ms[i].val, ms[i].val_len, &v))
			u->completion_tokens = (long)v;
	u->total_tokens = u->prompt_tokens + u->completion_tokens;
	return true;
}

/* What relaying an object's bytes reads of its members ms[0..n): false
 * when it has an error member or a usage this cannot read (the tree then
 * says what is wrong); else *have_usage and *usage say the usage it
 * reported, and *has (when must is not NULL) whether it has a member named
 * must. */
static bool read_members(const struct js_member *ms, int n, const char *must, bool *has,
			 struct chat_usage *usage, bool *have_usage)
{
	const struct js_member *usage_m = NULL;
	if (must)
		*has = false;
	for (int i = 0; i < n; i++) {
		if (js_is(&ms[i], "error"))
			return false;
		if (must && js_is(&ms[i], must))
			*has = true;
		else if (js_is(&ms[i], "usage"))
			usage_m = &ms[i];  /* the last, as a tree keeps it */
	}
	*have_usage = usage_m && *usage_m->val == '{';
	return !*have_usage || usage_of(usage_m->val, usage_m->val_len, usage);
}

/* The common whole answer, relayed as its bytes: a strictly valid object
 * with what it must have and no error member. Sets *rc and returns true
 * when it was (or the client left); false leaves the answer to the tree,
 * which says what is wrong with it. Nothing is parsed into objects and
 * nothing re-serialised: json-c's parse and re-serialisation of an answer
 * were most of what relaying it cost. */
static bool finish_whole_bytes(struct xfer *x, const char *s, size_t len, int *rc)
{
	struct js_member ms[ANSWER_MEMBERS];
	struct chat_usage usage;
	bool has_whole, have_usage;
	if (!x->sink->relay_bytes || x->stream)
		return false;
	int n = js_members(s, len, ms, ANSWER_MEMBERS);
	if (n < 0 || !read_members(ms, n, x->whole_member, &has_whole, &usage, &have_usage) || !has_whole)
		return false;
	announce(x);
	*rc = 0;
	if (x->sink->relay_bytes(x->sink->ctx, s, len, ms, n, have_usage ? &usage : NULL) < 0) {
		x->client_gone = true;
		*rc = -1;
	}
	return true;
}

/* The answer parsed into a tree: one the bytes could not take, and what
 * is wrong with the others (s: UTF-8 already repaired). */
static int finish_whole_tree(struct xfer *x, const char *s, size_t len)
{
	json_object *obj = parse_json(x->up, "the answer", s, len);
	int rc = -1;
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		log_warn("upstream %s: answer is not a JSON object: %.120s", x->up->name, sb_str(&x->body));
		up_fail(x->err, UP_MALFORMED);
	} else if (up_error_object(obj, 502, x->err) != 0) {
		log_warn("upstream %s: error in a 200 answer: %.200s", x->up->name, x->err->message);
	} else if (x->stream || !json_object_object_get_ex(obj, x->whole_member, NULL)) {
		log_warn("upstream %s: %s", x->up->name, x->stream ? "a stream was asked for, JSON came" :
			 "the answer lacks what it must have");
		up_fail(x->err, UP_MALFORMED);
	} else if ((announce(x), x->sink->relay(x->sink->ctx, obj)) < 0) {
		x->client_gone = true;
	} else {
		rc = 0;
	}
	json_object_put(obj);
	return rc;
}

/* A whole JSON answer: a 200 of a non-streaming request, or a stream
 * request that the upstream answered without streaming. */
static int finish_whole(struct xfer *x)
{
	strbuf fixed = STRBUF_INIT;
	const char *s = x->body.buf ? x->body.buf : "";
	size_t len = x->body.len;
	size_t bad = up_utf8_repair(s, len, &fixed);
	if (bad) {
		log_warn("upstream %s: %zu invalid UTF-8 bytes in the answer replaced by U+FFFD", x->up->name, bad);
		s = fixed.buf;
		len = fixed.len;
	}
	int rc = -1;
	bool done = finish_whole_bytes(x, s, len, &rc);
	if (!done)
		rc = finish_whole_tree(x, s, len);
	sb_free(&fixed);
	return rc;
}

/* What the transfer's end means for the client. */
/* Apart from the exchange, so that its answer-reading frames are not on
 * the stack a stream waits with. */
__attribute__((noinline)) static int conclude(struct xfer *x, CURLcode cc)
{
	if (x->client_gone)
		return -1;
	if (x->failed)
		return -1;
	if (x->limit != UP_LIMIT_NONE || cc == CURLE_OPERATION_TIMEDOUT) {
		log_warn("upstream %s: %s timeout after %lld ms", x->up->name,
			 x->limit != UP_LIMIT_NONE ? up_limit_name(x->limit) : "connect or total",
			 (long long)(mono_ms() - x->clock.start_ms));
		return up_fail(x->err, UP_TIMEOUT);
	}
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
	    cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_UNSUPPORTED_PROTOCOL) {
		log_warn("upstream %s: %s", x->up->name, curl->easy_strerror(cc));
		return up_fail(x->err, UP_UNREACHABLE);
	}
	if (x->too_big) {
		log_warn("upstream %s: answer larger than %zu bytes", x->up->name, max_body(x->up));
		return up_fail(x->err, UP_TOO_LARGE);
	}
	if (cc == CURLE_WEIRD_SERVER_REPLY && x->status)
		return up_fail(x->err, UP_MALFORMED);  /* a head that began as HTTP, then was not */
	if (cc != CURLE_OK && !(x->stream && x->done) && !x->error_cut) {
		log_warn("upstream %s: %s after %zu events", x->up->name, curl->easy_strerror(cc), x->events);
		return up_fail(x->err, x->status ? UP_BROKEN : UP_UNREACHABLE);
	}
	if (x->status / 100 != 2) {
		log_warn("upstream %s: HTTP %ld: %.200s", x->up->name, x->status, sb_str(&x->body));
		return up_map_status(x->status, x->body.buf, x->body.len, x->err);
	}
	if (!x->stream || !x->is_sse)
		return finish_whole(x);
	if (!x->done && !x->finished) {
		log_warn("upstream %s: stream ended without [DONE] after %zu events", x->up->name, x->events);
		return up_fail(x->err, UP_BROKEN);
	}
	return 0;
}

/* With no status line: no HTTP server there to answer (a failure that
 * counts, fo_counts_as_failure). Not HTTP at all is one: libcurl says
 * CURLE_UNSUPPORTED_PROTOCOL (HTTP/0.9), a direct exchange
 * CURLE_WEIRD_SERVER_REPLY. */
static bool unreachable_code(CURLcode cc)
{
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
	       cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_UNSUPPORTED_PROTOCOL ||
	       cc == CURLE_WEIRD_SERVER_REPLY;
}

/* What one request asks of its deployments: the body (root, its model
 * replaced by each deployment's name for it) POSTed to endpoint. */
struct ask {
	const char *endpoint;      /* "chat/completions", "responses", "completions", "embeddings" */
	json_object *root;
	bool stream;
	const char *raw;           /* the bytes root was parsed from; NULL: not at hand */
	size_t raw_len;
};

/* One exchange with one deployment. Fills *o for the retry rule and x's
 * retry values; returns what conclude() says. */
static int exchange(const struct deployment_cfg *dep, const struct model_cfg *model, const struct ask *ask,
		    const struct chat_sink *sink, oa_error *err, struct xfer *x, struct fo_outcome *o)
{
	const struct upstream_cfg *up = dep->up;
	memset(o, 0, sizeof *o);
	memset(x, 0, sizeof *x);
	x->up = up;
	x->sink = sink;
	x->err = err;
	x->stream = ask->stream;
	x->deployment = dep->name;
	/* what tells an answer from anything else an upstream might send */
	x->whole_member = strcmp(ask->endpoint, "responses") == 0 ? "output"
			: strcmp(ask->endpoint, "embeddings") == 0 ? "data" : "choices";
	struct handles *h = handles_get();
	if (!h) {
		o->unreachable = true;
		return up_fail(err, UP_UNREACHABLE);
	}
	x->keepalive_ms = sse_keepalive_period(model->ping_ms, sink->probe_ms);
	sse_parser_init(&x->sse, on_event, x);
	/* a line may be one whole event, with its "data: " */
	sse_parser_limit(&x->sse, max_event(up) + 64, max_event(up));

	strbuf url = STRBUF_INIT, body = STRBUF_INIT;
	sb_printf(&url, "%s/%s", up->base_url, ask->endpoint);
	up_body_from_raw(ask->raw, ask->raw_len, ask->root, dep->model,
			 ask->stream && strcmp(ask->endpoint, "chat/completions") == 0, &body);
	/* a whole answer on a connection of our own, when the environment
	 * names no proxy for libcurl to go through */
	struct direct_conn *dc = !ask->stream && !proxied ? direct_conn_for(h, up, sb_str(&url)) : NULL;
	if (!dc)
		setup(h, x, sb_str(&url), request_headers(h, up, ask->stream), &body);

	up_clock_start(&x->clock, mono_ms());
	x->client_heard_ms = x->clock.start_ms;
	/* the client was there a moment ago: the first look is due
	 * CLIENT_CHECK_MS into the wait, not at once (a poll(2) on the
	 * front's connection that every quick answer paid for nothing) */
	x->client_checked_ms = x->clock.start_ms;
	CURLcode cc = dc ? perform_direct(h, dc, x, sb_str(&url), &body) : perform(h, x);
	handles_put(h);
	int rc = conclude(x, cc);

	o->ok = rc == 0;
	o->client_gone = x->client_gone;
	o->sent_to_client = x->events > 0 || x->pinged || x->announced;
	o->unreachable = !x->status && unreachable_code(cc);
	o->before_first_byte = !x->clock.got_byte && (x->limit == UP_LIMIT_FIRST_BYTE ||
						       (x->limit == UP_LIMIT_NONE && cc == CURLE_OPERATION_TIMEDOUT));
	o->status = x->status;

	sb_free(&url);
	sb_free(&body);
	sb_free(&x->body);
	sse_parser_free(&x->sse);
	return rc;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the attempt teaches the shared record of its deployment: a failure
 * that counts (an upstream's 429 with its Retry-After as the wait), or a
 * success after failures. A success with no failures writes nothing. */
static void remember(const struct deployment_cfg *dep, uint64_t key, const struct cd_state *before,
		     const struct xfer *x, const struct fo_outcome *o)
{
	int64_t now = wall_ms();
	if (o->ok) {
		if (before->failures || before->until_ms)
			cd_record(cooldowns, key, now, true, 0, 0, -1, NULL);
		return;
	}
	if (!fo_counts_as_failure(o))
		return;
	long secs, ms;
	int64_t retry_ms = -1;
	if (o->status == 429 && up_retry_headers(x->retry_after, x->retry_after_ms, time(NULL), &secs, &ms))
		retry_ms = ms;
	struct cd_state after;
	if (cd_record(cooldowns, key, now, false, dep->up->failures, dep->up->cooldown_ms, retry_ms, &after) == 0 &&
	    cd_cooling(&after, now) && !cd_cooling(before, now))
		log_warn("deployment %s: cooling down for %lld ms (%u failures in a row%s)", dep->name,
			 (long long)(after.until_ms - now), after.failures, retry_ms >= 0 ? ", its Retry-After" : "");
}

/* Tries the model's deployments in fo_order(), moving on after a failure
 * that fo_should_retry() allows, at most 1 + retries times. The client
 * gets the first answer, or the last failure. */
static enum oa_result ask_deployments(const struct model_cfg *model, const struct ask *ask,
				      const struct chat_sink *sink, oa_error *err)
{
	size_t n = model->upstream.n_deployments;
	if (n > FO_MAX_DEPLOYMENTS)
		n = FO_MAX_DEPLOYMENTS;
	if (n == 0)
		return up_fail(err, UP_UNREACHABLE);
	pthread_once(&once, init_once);
	uint64_t keys[FO_MAX_DEPLOYMENTS];
	struct cd_state states[FO_MAX_DEPLOYMENTS];
	bool cooling[FO_MAX_DEPLOYMENTS];
	int64_t until[FO_MAX_DEPLOYMENTS];
	size_t order[FO_MAX_DEPLOYMENTS];
	int64_t now = wall_ms();
	for (size_t i = 0; i < n; i++) {
		const struct deployment_cfg *d = &model->upstream.deployments[i];
		keys[i] = cd_key(d->up->base_url, d->model);
		states[i] = cd_get(cooldowns, keys[i], now);
		cooling[i] = cd_cooling(&states[i], now);
		until[i] = states[i].until_ms;
	}
	size_t count = fo_order(model->upstream.deployments, n, cooling, until, rand_u64(), order);
	size_t budget = 1 + (size_t)(model->upstream.retries > 0 ? model->upstream.retries : 0);
	if (count > budget)
		count = budget;
	struct xfer x;
	struct fo_outcome o;
	int rc = -1;
	for (size_t a = 0; a < count; a++) {
		const struct deployment_cfg *d = &model->upstream.deployments[order[a]];
		rc = exchange(d, model, ask, sink, err, &x, &o);
		remember(d, keys[order[a]], &states[order[a]], &x, &o);
		if (rc == 0 || !fo_should_retry(&o))
			break;
		if (a + 1 < count)
			log_warn("deployment %s failed (%s, HTTP %ld): trying %s", d->name, err->code[0] ? err->code : "-",
				 o.status, model->upstream.deployments[order[a + 1]].name);
	}
	if (rc == 0) {
		memset(err, 0, sizeof *err);  /* a failure we moved on from is no error of the answer */
		return OA_DONE;
	}
	announce(&x);  /* the log says whom a departed client was waiting for */
	if (x.client_gone)
		return OA_CLIENT_GONE;
	if (x.status == 429 || x.status == 503)
		pass_retry(&x);
	return OA_ERROR;
}

/* POSTs body to the model's deployments' endpoint and relays what comes back. */
static enum oa_result forward(const struct model_cfg *model, const char *endpoint, json_object *root, bool stream,
			      const struct chat_sink *sink, oa_error *err)
{
	const struct ask ask = { endpoint, root, stream, NULL, 0 };
	return ask_deployments(model, &ask, sink, err);
}

static enum oa_result upstream_chat(const struct model_cfg *model, const struct chat_request *req,
				    const struct chat_sink *sink, oa_error *err)
{
	const struct ask ask = { "chat/completions", req->root, req->stream, req->body, req->body_len };
	return ask_deployments(model, &ask, sink, err);
}

const struct backend_ops backend_upstream = {
	.name = "upstream",
	.chat = upstream_chat,
	.forward = forward,
};

/* ---- GET /models of upstreams with discover = true ---- */

#define MAX_CACHED 16          /* upstreams with discover = true */
#define MAX_DISCOVERED 1024    /* models kept of one upstream's list */

struct model_cache {
	const struct upstream_cfg *up;
	long fetched_s;
	bool fetched;              /* a fetch has ended, well or not */
	bool fetching;             /* a thread is asking the upstream now */
	struct discovered_model *list;  /* owned; the last good list */
	size_t n;
};

/* Guards cache[]; never held across a network call. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct model_cache cache[MAX_CACHED];

/* The models of an upstream's /models answer: *out (owned, *n of them). */
static void parse_models(const struct upstream_cfg *up, json_object *list, struct discovered_model **out,
			 size_t *n)
{
	json_object *data, *v;
	*out = NULL;
	*n = 0;
	if (!json_object_object_get_ex(list, "data", &data) || !json_object_is_type(data, json_type_array))
		return;
	size_t len = json_object_array_length(data);
	if (len > MAX_DISCOVERED)
		len = MAX_DISCOVERED;
	*out = xcalloc(len ? len : 1, sizeof **out);
	for (size_t i = 0; i < len; i++) {
		json_object *m = json_object_array_get_idx(data, i);
		if (!json_object_object_get_ex(m, "id", &v) || !json_object_is_type(v, json_type_string))
			continue;
		const char *id = json_object_get_string(v);
		struct discovered_model *d = &(*out)[*n];
		if (!*id || strlen(id) >= sizeof d->id)
			continue;
		const char *owner = json_object_object_get_ex(m, "owned_by", &v) &&
			json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "upstream";
		d->up = up;
		snprintf(d->id, sizeof d->id, "%s", id);
		snprintf(d->owned_by, sizeof d->owned_by, "%s", owner);
		d->created = json_object_object_get_ex(m, "created", &v) ? (long)json_object_get_int64(v) : 0;
		(*n)++;
	}
}

/* Asks up for its /models: 0 and the list in *out (owned), or -1. */
static int fetch_models(const struct upstream_cfg *up, struct discovered_model **out, size_t *n)
{
	struct handles *h = handles_get();
	if (!h)
		return -1;
	struct xfer x;
	oa_error err;
	memset(&x, 0, sizeof x);
	x.up = up;
	x.err = &err;
	strbuf url = STRBUF_INIT;
	sb_printf(&url, "%s/models", up->base_url);
	setup(h, &x, sb_str(&url), request_headers(h, up, false), NULL);
	up_clock_start(&x.clock, mono_ms());
	CURLcode cc = perform(h, &x);
	handles_put(h);
	json_object *list = NULL;
	if (cc == CURLE_OK && x.status == 200)
		list = parse_json(up, "its model list", sb_str(&x.body), x.body.len);
	int rc = -1;
	if (list) {
		parse_models(up, list, out, n);
		json_object_put(list);
		rc = 0;
	} else {
		log_warn("upstream %s: GET /models failed: %s, HTTP %ld", up->name, curl->easy_strerror(cc),
			 x.status);
	}
	sb_free(&url);
	sb_free(&x.body);
	return rc;
}

static struct model_cache *cache_slot(const struct upstream_cfg *up)
{
	for (size_t i = 0; i < MAX_CACHED; i++)
		if (cache[i].up == up || !cache[i].up) {
			cache[i].up = up;
			return &cache[i];
		}
	return NULL;
}

/* Refreshes up's list when its time is up: one thread asks the upstream,
 * outside the lock, while the others go on with the last list (a slow or
 * down upstream slows only the one request that asks it). A failure keeps
 * the last list and is not retried before the time is up again. */
static void refresh(const struct upstream_cfg *up, long now_s)
{
	pthread_mutex_lock(&cache_lock);
	struct model_cache *slot = cache_slot(up);
	bool mine = slot && !slot->fetching && (!slot->fetched || now_s - slot->fetched_s >= up->discover_ttl_s);
	if (mine)
		slot->fetching = true;
	pthread_mutex_unlock(&cache_lock);
	if (!mine)
		return;
	struct discovered_model *list = NULL;
	size_t n = 0;
	int rc = fetch_models(up, &list, &n);
	pthread_mutex_lock(&cache_lock);
	if (rc == 0) {
		free(slot->list);
		slot->list = list;
		slot->n = n;
		list = NULL;
	}
	slot->fetched = true;
	slot->fetched_s = now_s;
	slot->fetching = false;
	pthread_mutex_unlock(&cache_lock);
	free(list);
}

/* Has an earlier discover upstream (before slot) already listed id? */
static bool listed_before(const struct model_cache *slot, const char *id)
{
	for (const struct model_cache *c = cache; c < slot; c++)
		for (size_t i = 0; i < c->n; i++)
			if (strcmp(c->list[i].id, id) == 0)
				return true;
	return false;
}

/* Calls each, under cache_lock, for every discovered model that cfg does
 * not configure and no earlier upstream listed; stops when each says so. */
static void walk(const struct config *cfg, long now_s, bool (*each)(void *ctx, const struct discovered_model *m),
		 void *ctx)
{
	for (size_t i = 0; i < cfg->n_upstreams; i++)
		if (cfg->upstreams[i].discover && cfg->upstreams[i].base_url)
			refresh(&cfg->upstreams[i], now_s);
	pthread_mutex_lock(&cache_lock);
	for (size_t k = 0; k < MAX_CACHED && cache[k].up; k++) {
		const struct model_cache *slot = &cache[k];
		for (size_t i = 0; i < slot->n; i++) {
			const struct discovered_model *m = &slot->list[i];
			if (config_find_model(cfg, m->id) || listed_before(slot, m->id))
				continue;
			if (!each(ctx, m))
				goto done;
		}
	}
done:
	pthread_mutex_unlock(&cache_lock);
}

struct list_ctx {
	void (*each)(void *ctx, const struct discovered_model *m);
	void *ctx;
};

static bool list_one(void *ctx, const struct discovered_model *m)
{
	struct list_ctx *l = ctx;
	l->each(l->ctx, m);
	return true;
}

void upstream_discover(const struct config *cfg, long now_s,
		       void (*each)(void *ctx, const struct discovered_model *m), void *ctx)
{
	struct list_ctx l = { each, ctx };
	walk(cfg, now_s, list_one, &l);
}

struct find_ctx {
	const char *id;
	struct discovered_model *out;
	bool found;
};

static bool find_one(void *ctx, const struct discovered_model *m)
{
	struct find_ctx *f = ctx;
	if (strcmp(m->id, f->id) != 0)
		return true;
	*f->out = *m;
	f->found = true;
	return false;
}

int upstream_discovered(const struct config *cfg, const char *id, long now_s, struct discovered_model *out)
{
	struct find_ctx f = { id, out, false };
	walk(cfg, now_s, find_one, &f);
	return f.found ? 0 : -1;
}

int upstream_cooldowns_open(const char *path, char *err, size_t errlen)
{
	cd_store *s;
	if (cd_open(path, &s, err, errlen) != 0)
		return -1;
	cd_close(cooldowns);
	cooldowns = s;
	return 0;
}

void upstream_cooldowns_share(struct rs_store *r)
{
	cd_share(cooldowns, r);
}

bool upstream_in_use(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_models; i++)
		if (cfg->models[i].backend == BACKEND_UPSTREAM)
			return true;
	for (size_t i = 0; i < cfg->n_upstreams; i++)
		if (cfg->upstreams[i].discover && cfg->upstreams[i].base_url)
			return true;
	return false;
}

int upstream_preload(const struct config *cfg, char *err, size_t errlen)
{
	if (!upstream_in_use(cfg))
		return 0;
	if (cfg->ca_bundle && !ca_bundle_readable(cfg->ca_bundle)) {
		snprintf(err, errlen, "CA_BUNDLE: %s is not a file this process can read", cfg->ca_bundle);
		return -1;
	}
#ifdef OAF_CURL_LINKED
	/* our libcurl knows no CA path: take the host's, wherever its
	 * distribution keeps it (HTTP-only upstreams need none) */
	ca_file = ca_bundle_pick(cfg->ca_bundle, ca_bundle_system_paths, ca_bundle_readable);
	bool https = false;
	for (size_t i = 0; i < cfg->n_upstreams; i++)
		https |= cfg->upstreams[i].base_url && strncmp(cfg->upstreams[i].base_url, "https:", 6) == 0;
	if (!ca_file && https)
		log_warn("upstream: no CA certificates in any usual place (%s, ...): HTTPS upstreams "
			 "will be refused; set CA_BUNDLE", ca_bundle_system_paths[0]);
#else
	ca_file = cfg->ca_bundle;
#endif
	if (curl_api())
		return 0;
	snprintf(err, errlen, "%s cannot be loaded (%s): install the Debian package libcurl4",
		 CURL_API_SONAME, curl_api_error());
	return -1;
}
