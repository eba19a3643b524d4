/* request.c: the one request context, from the first CGI variable to the access log */
#include "request.h"

#include <assert.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "log.h"
#include "rand.h"
#include "routes.h"
#include "usage.h"
#include "utf8.h"

#define MAX_HEADER_VALUE 8192  /* longer header values get 431 */

int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "req_" and 24 random hex digits, as snprintf("req_%016llx%08llx") would
 * write them, for a tenth of its instructions. */
static void random_id(char out[29])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t a = rand_u64(), b = rand_u64() & 0xffffffffu;
	memcpy(out, "req_", 4);
	for (int i = 0; i < 16; i++)
		out[4 + i] = hex[(a >> (60 - 4 * i)) & 15];
	for (int i = 0; i < 8; i++)
		out[20 + i] = hex[(b >> (28 - 4 * i)) & 15];
	out[28] = '\0';
}

/* A client's X-Request-Id is kept when it is short and plain. */
static bool sane_request_id(const char *v)
{
	size_t n = 0;
	for (; v[n]; n++) {
		char c = v[n];
		if (n >= 64 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				 c == '-' || c == '_' || c == '.'))
			return false;
	}
	return n > 0;
}

static const char *const cgi_names[CGI_COUNT] = {
	[CGI_REQUEST_METHOD] = "REQUEST_METHOD", [CGI_REQUEST_URI] = "REQUEST_URI",
	[CGI_SCRIPT_NAME] = "SCRIPT_NAME", [CGI_PATH_INFO] = "PATH_INFO",
	[CGI_CONTENT_LENGTH] = "CONTENT_LENGTH", [CGI_CONTENT_TYPE] = "CONTENT_TYPE",
	[CGI_HTTP_AUTHORIZATION] = "HTTP_AUTHORIZATION", [CGI_HTTP_ORIGIN] = "HTTP_ORIGIN",
	[CGI_HTTP_X_REQUEST_ID] = "HTTP_X_REQUEST_ID",
	[CGI_HTTP_ACCESS_CONTROL_REQUEST_HEADERS] = "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
	[CGI_HTTP_USER_AGENT] = "HTTP_USER_AGENT", [CGI_REMOTE_ADDR] = "REMOTE_ADDR",
	[CGI_SERVER_SOFTWARE] = "SERVER_SOFTWARE",
};

/* "NAME=value" is name's: its value, else NULL. */
static const char *value_of(const char *var, const char *name)
{
	while (*name && *name == *var) {
		name++;
		var++;
	}
	return !*name && *var == '=' ? var + 1 : NULL;
}

/* The names by their first letter, after "HTTP_" for the headers:
 * [header?][letter - 'A'], CGI_COUNT after the last. Made once. */
#define CGI_SAME_LETTER 3
static unsigned char cgi_by_letter[2][26][CGI_SAME_LETTER + 1];
static pthread_once_t cgi_index_once = PTHREAD_ONCE_INIT;

static bool is_header(const char *name)
{
	return strncmp(name, "HTTP_", 5) == 0;
}

static void cgi_index(void)
{
	memset(cgi_by_letter, CGI_COUNT, sizeof cgi_by_letter);
	for (int i = 0; i < CGI_COUNT; i++) {
		bool h = is_header(cgi_names[i]);
		unsigned char *slot = cgi_by_letter[h][cgi_names[i][h ? 5 : 0] - 'A'];
		int k = 0;
		while (slot[k] != CGI_COUNT)
			k++;
		assert(k < CGI_SAME_LETTER);
		slot[k] = (unsigned char)i;
	}
}

/* Fills req->cgi in one walk of the variables, each compared only with the
 * names of its first letter: a request asks for a dozen names among some
 * thirty variables, and asking for each walked them a dozen times (6% of a
 * chat request's instructions). The first of a name given twice wins, as
 * with getenv. Through io->param by name when the carrier has no vars. */
static void read_vars(struct request *req, const struct req_io *io)
{
	memset(req->cgi, 0, sizeof req->cgi);
	char **vars = io->vars ? io->vars(io->ctx) : NULL;
	if (!vars) {
		for (int i = 0; i < CGI_COUNT; i++)
			req->cgi[i] = io->param(io->ctx, cgi_names[i]);
		return;
	}
	pthread_once(&cgi_index_once, cgi_index);
	for (; *vars; vars++) {
		const char *e = *vars;
		bool h = is_header(e);
		unsigned letter = (unsigned char)e[h ? 5 : 0] - 'A';
		if (letter >= 26)
			continue;
		for (const unsigned char *id = cgi_by_letter[h][letter]; *id != CGI_COUNT; id++) {
			const char *v;
			if (!req->cgi[*id] && (v = value_of(e, cgi_names[*id])) != NULL) {
				req->cgi[*id] = v;
				break;
			}
		}
	}
}

void request_begin(struct request *req, const struct app *app, const struct req_io *io)
{
	req->app = app;
	req->io = io;
	req->start_us = now_us();
	read_vars(req, io);
	req->method = req->cgi[CGI_REQUEST_METHOD];
	if (!req->method)
		req->method = "GET";
	req->path[0] = '\0';
	req->parsed = 0;
	req->path_arg = NULL;
	strcpy(req->key_fp, "-");
	req->key_name = req->key_fp;
	req->key_index = 0;
	req->key = NULL;
	req->authenticated = false;
	req->route = NULL;
	req->has_rl = false;
	req->limits_unchecked = false;
	req->has_tpm = false;
	req->tpm_reserved = 0;
	req->tpm_settled = false;
	memset(&req->usage, 0, sizeof req->usage);
	req->has_usage = false;
	req->stream_lease = -1;
	req->model_id = NULL;
	req->upstream_name = NULL;
	req->first_byte_us = 0;
	req->in_flight_counted = false;
	req->stream_counted = false;
	sb_reset(&req->body);
	sb_reset(&req->out);
	sb_reset(&req->head);
	sb_reset(&req->scratch);
	req->status = 0;
	req->bytes_sent = 0;
	req->head_sent = false;
	req->client_gone = false;
	memset(&req->err, 0, sizeof req->err);
	req->deployment[0] = '\0';

	const char *cid = req->cgi[CGI_HTTP_X_REQUEST_ID];
	if (cid && sane_request_id(cid))
		snprintf(req->id, sizeof req->id, "%s", cid);
	else
		random_id(req->id);
	log_set_request_id(req->id);
}

/* Appends the percent-decoded form of [p, end) to out (size cap); -1 on a
 * bad escape, a NUL, or no room. */
static int decode_into(char *out, size_t cap, size_t *len, const char *p, const char *end)
{
	while (p < end) {
		char c = *p++;
		if (c == '%') {
			int hi = p < end ? hex_digit(p[0]) : -1;
			int lo = p + 1 < end ? hex_digit(p[1]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			p += 2;
		}
		if (c == '\0' || *len + 1 >= cap)
			return -1;
		out[(*len)++] = c;
	}
	out[*len] = '\0';
	return 0;
}

static int resolve_path(struct request *req)
{
	const char *uri = req_var(req, CGI_REQUEST_URI);
	size_t len = 0;
	int rc;
	if (uri && *uri) {
		const char *end = uri + strcspn(uri, "?#");
		rc = decode_into(req->path, sizeof req->path, &len, uri, end);
	} else {
		/* Some CGI setups give no REQUEST_URI: SCRIPT_NAME + PATH_INFO
		 * (both already decoded by the server). */
		const char *sn = req_var(req, CGI_SCRIPT_NAME);
		const char *pi = req_var(req, CGI_PATH_INFO);
		rc = snprintf(req->path, sizeof req->path, "%s%s", sn ? sn : "", pi ? pi : "")
			     >= (int)sizeof req->path ? -1 : 0;
		len = strlen(req->path);
	}
	if (rc != 0 || !utf8_valid(req->path, len))
		return oa_invalid(&req->err, "invalid_path", NULL,
				  "The request path is not valid: it must be UTF-8 of at most %zu bytes "
				  "without NUL bytes or broken %%-escapes.", sizeof req->path - 1);
	if (len == 0)
		strcpy(req->path, "/");
	return 0;
}

/* Header values the front let through but that no client needs this long. */
static int check_headers(struct request *req)
{
	static const enum cgi_var names[] = {
		CGI_HTTP_AUTHORIZATION, CGI_HTTP_ORIGIN, CGI_HTTP_X_REQUEST_ID, CGI_CONTENT_TYPE,
		CGI_HTTP_ACCESS_CONTROL_REQUEST_HEADERS, CGI_HTTP_USER_AGENT, CGI_CONTENT_LENGTH,
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v = req_var(req, names[i]);
		if (v && strlen(v) > MAX_HEADER_VALUE)
			return oa_error_set(&req->err, 431, OA_INVALID_REQUEST, "header_too_large", NULL,
					    "A request header is too large (more than %d bytes).", MAX_HEADER_VALUE);
	}
	return 0;
}

int request_parse(struct request *req)
{
	if (req->parsed == 0)
		req->parsed = resolve_path(req) == 0 && check_headers(req) == 0 ? 1 : -1;
	return req->parsed > 0 ? 0 : -1;
}

int request_read_body(struct request *req)
{
	long max = req->app->cfg.max_body_bytes;
	const char *cl = req_var(req, CGI_CONTENT_LENGTH);
	char *end;
	if (!cl || !*cl)
		return oa_error_set(&req->err, 400, OA_INVALID_REQUEST, "missing_content_length", NULL,
				    "A request body is required and must come with a Content-Length header.");
	errno = 0;
	long long n = strtoll(cl, &end, 10);
	if (*cl < '0' || *cl > '9' || *end || errno)
		return oa_error_set(&req->err, 400, OA_INVALID_REQUEST, "invalid_content_length", NULL,
				    "The Content-Length header is not a valid length.");
	if (n > max)
		return oa_error_set(&req->err, 413, OA_INVALID_REQUEST, "request_too_large", NULL,
				    "Request too large: the body may be at most %ld bytes.", max);
	sb_grow(&req->body, (size_t)n);
	while (req->body.len < (size_t)n) {
		long got = req->io->read(req->io->ctx, req->body.buf + req->body.len, (size_t)n - req->body.len);
		if (got <= 0)
			return oa_error_set(&req->err, 400, OA_INVALID_REQUEST, "incomplete_body", NULL,
					    "The request body is shorter than its Content-Length of %lld bytes.", n);
		req->body.len += (size_t)got;
	}
	req->body.buf[req->body.len] = '\0';
	if (req->io->body_read)
		req->io->body_read(req->io->ctx);
	return 0;
}

static bool is_json_type(const char *ct)
{
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

int request_read_json_body(struct request *req)
{
	const char *ct = req_var(req, CGI_CONTENT_TYPE);
	if (ct && *ct && !is_json_type(ct))
		return oa_error_set(&req->err, 415, OA_INVALID_REQUEST, "unsupported_media_type", NULL,
				    "Unsupported Content-Type: the request body must be JSON (application/json).");
	return request_read_body(req);
}

/* The access log's timestamp, formatted once per second by each context
 * (it outlives its requests, like the buffers): gmtime_r and strftime cost
 * more than the rest of the line. */
static const char *log_time(struct request *req, int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	if (!req->log_time[0] || t != req->log_time_s) {
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(req->log_time, sizeof req->log_time, "%Y-%m-%dT%H:%M:%SZ", &tm);
		req->log_time_s = t;
	}
	return req->log_time;
}

/* Appends a duration of us >= 0 µs as milliseconds with three decimals. */
static void put_ms(strbuf *sb, long long us)
{
	char frac[3] = { (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10) };
	sb_put_int(sb, us / 1000);
	sb_putc(sb, '.');
	sb_append(sb, frac, 3);
}

/* Counts the finished request in the usage file: once, whatever its
 * outcome, so --usage and /metrics see every answer. */
static void record_usage(struct request *req, int64_t end_us)
{
	um_store *s = req->app->usage;
	if (!s)
		return;
	struct um_event ev = {
		.key = req->authenticated ? req->key_name : "",
		.model = req->model_id,
		.route = req->route ? req->route->path : "",
		.upstream = req->upstream_name,
		.reason = req->status == 429 ? req->err.type : req->limits_unchecked ? "limits_unchecked" : NULL,
		/* nothing sent: the client left first (nginx's 499), else our fault */
		.status = req->status ? req->status : req->client_gone ? 499 : 500,
		.prompt_tokens = req->has_usage ? req->usage.prompt_tokens : 0,
		.completion_tokens = req->has_usage ? req->usage.completion_tokens : 0,
		.duration_us = end_us - req->start_us,
		.ttft_us = req->first_byte_us ? req->first_byte_us - req->start_us : -1,
		.now_s = end_us / 1000000,
		/* the gauges' -1s in the same lock cycle as the counts */
		.in_flight_delta = req->in_flight_counted ? -1 : 0,
		.streams_delta = req->stream_counted ? -1 : 0,
	};
	um_record(s, &ev);
}

/* A worker keeps its buffers from one request to the next, but not the
 * megabytes of one large body or answer: those go back to the system
 * (malloc_trim, since glibc keeps freed memory in the thread's arena). */
static void release_buffers(struct request *req)
{
	int freed = sb_reset_capped(&req->body, REQUEST_BUFFER_KEEP);
	freed |= sb_reset_capped(&req->out, REQUEST_BUFFER_KEEP);
	freed |= sb_reset_capped(&req->head, REQUEST_BUFFER_KEEP);
	freed |= sb_reset_capped(&req->scratch, REQUEST_BUFFER_KEEP);
#ifdef __GLIBC__
	if (freed)
		malloc_trim(0);
#else
	(void)freed;
#endif
}

void request_end(struct request *req)
{
	record_usage(req, now_us());
	release_buffers(req);  /* the answer is out: only the log line is left */
	if (!log_enabled(LOG_INFO)) {
		log_set_request_id(NULL);
		return;
	}
	const char *path = req->path[0] ? req->path : "-";
	long long dur_us = (long long)(now_us() - req->start_us);
	if (dur_us < 0)
		dur_us = 0;
	const char *ts = log_time(req, req->start_us);
	/* nginx's code for a client that closed before its answer was sent */
	int status = req->client_gone && !req->head_sent ? 499 : req->status;
	strbuf *line = &req->scratch;
	sb_reset(line);
	if (log_json()) {
		sb_puts(line, "{\"time\":\"");
		sb_puts(line, ts);
		sb_puts(line, "\",\"level\":\"INFO\",\"type\":\"access\",\"request_id\":");
		sb_json_str(line, req->id, strlen(req->id));
		sb_puts(line, ",\"method\":");
		sb_json_str(line, req->method, strlen(req->method));
		sb_puts(line, ",\"path\":");
		sb_json_str(line, path, strlen(path));
		sb_puts(line, ",\"status\":");
		sb_put_int(line, status);
		sb_puts(line, ",\"bytes\":");
		sb_put_int(line, (long long)req->bytes_sent);
		sb_puts(line, ",\"duration_ms\":");
		put_ms(line, dur_us);
		sb_puts(line, ",\"key\":\"");
		sb_puts(line, req->key_name);
		sb_putc(line, '"');
		if (req->deployment[0]) {
			sb_puts(line, ",\"deployment\":");
			sb_json_str(line, req->deployment, strlen(req->deployment));
		}
		sb_puts(line, ",\"prompt_tokens\":");
		sb_put_int(line, req->usage.prompt_tokens);
		sb_puts(line, ",\"completion_tokens\":");
		sb_put_int(line, req->usage.completion_tokens);
		sb_puts(line, req->client_gone ? ",\"client_gone\":true}\n" : "}\n");
	} else {
		sb_puts(line, ts);
		sb_puts(line, " access ");
		sb_puts(line, req->id);
		sb_putc(line, ' ');
		/* The method and the path are the client's (a CGI server may pass
		 * any REQUEST_METHOD): escaped, so a line stays one line. */
		log_escape_text(line, req->method, strlen(req->method), true);
		sb_putc(line, ' ');
		sb_json_str(line, path, strlen(path));
		sb_putc(line, ' ');
		sb_put_int(line, status);
		sb_putc(line, ' ');
		sb_put_int(line, (long long)req->bytes_sent);
		sb_putc(line, ' ');
		put_ms(line, dur_us);
		sb_puts(line, "ms key=");
		sb_puts(line, req->key_name);
		sb_puts(line, " tokens=");
		sb_put_int(line, req->usage.prompt_tokens);
		sb_putc(line, '+');
		sb_put_int(line, req->usage.completion_tokens);
		if (req->deployment[0]) {
			/* a config's names, but escaped like everything else */
			sb_puts(line, " deployment=");
			log_escape_text(line, req->deployment, strlen(req->deployment), true);
		}
		sb_puts(line, req->client_gone ? " client_gone\n" : "\n");
	}
	log_raw(line->buf, line->len);
	log_set_request_id(NULL);
}

void request_free(struct request *req)
{
	sb_free(&req->body);
	sb_free(&req->out);
	sb_free(&req->head);
	sb_free(&req->scratch);
}
