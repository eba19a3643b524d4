/* upstream.c: the pure parts of talking to an OpenAI-compatible upstream (bodies, errors, timers) */
#include "upstream.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_span.h"
#include "utf8.h"

void up_request_body(const struct chat_request *req, const char *upstream_model, strbuf *out)
{
	up_body_from_raw(req->body, req->body_len, req->root, upstream_model, req->stream, out);
}

/* Members of a request body we splice into without a tree; more, and the
 * tree does it. */
#define SPLICE_MEMBERS 64

void up_body_from_raw(const char *raw, size_t len, json_object *root, const char *upstream_model, bool ask_usage,
		      strbuf *out)
{
	struct js_member ms[SPLICE_MEMBERS];
	int n = raw && !ask_usage ? js_members(raw, len, ms, SPLICE_MEMBERS) : -1;
	if (n < 0) {
		up_body_with_model(root, upstream_model, ask_usage, out);
		return;
	}
	js_replace_value(raw, len, ms, n, "model", upstream_model, out);
}

void up_body_with_model(json_object *root, const char *upstream_model, bool ask_usage, strbuf *out)
{
	json_object *copy = NULL;
	if (json_object_deep_copy(root, &copy, NULL) != 0 || !copy) {
		/* only allocation can fail here, and allocation failure is fatal */
		sb_puts(out, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
		return;
	}
	json_object_object_add(copy, "model", json_object_new_string(upstream_model));
	if (ask_usage) {
		/* the usage chunk settles the key's tokens; the sink drops it when
		 * the client did not ask for it */
		json_object *opts = NULL;
		if (!json_object_object_get_ex(copy, "stream_options", &opts) ||
		    !json_object_is_type(opts, json_type_object)) {
			opts = json_object_new_object();
			json_object_object_add(copy, "stream_options", opts);
		}
		json_object_object_add(opts, "include_usage", json_object_new_boolean(1));
	}
	sb_puts(out, json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(copy);
}

int up_fail(oa_error *err, enum up_failure f)
{
	switch (f) {
	case UP_UNREACHABLE:
		return oa_error_set(err, 502, OA_SERVER, "upstream_unreachable", NULL,
				    "The model's upstream server could not be reached. Please try again later.");
	case UP_TIMEOUT:
		return oa_error_set(err, 504, OA_SERVER, "upstream_timeout", NULL,
				    "The model's upstream server took too long to answer. Please try again later.");
	case UP_BROKEN:
		return oa_error_set(err, 502, OA_SERVER, "upstream_error", NULL,
				    "The model's upstream server ended its answer before it was complete.");
	case UP_TOO_LARGE:
		return oa_error_set(err, 502, OA_SERVER, "upstream_error", NULL,
				    "The model's upstream server sent an answer larger than this server accepts.");
	case UP_MALFORMED:
		break;
	}
	return oa_error_set(err, 502, OA_SERVER, "upstream_error", NULL,
			    "The model's upstream server sent an answer that could not be understood.");
}

/* A string member of o, or NULL. */
static const char *str_member(json_object *o, const char *name)
{
	json_object *v;
	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int up_error_object(json_object *obj, int status, oa_error *err)
{
	json_object *e;
	if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, "error", &e) ||
	    !json_object_is_type(e, json_type_object))
		return 0;
	const char *msg = str_member(e, "message");
	const char *type = str_member(e, "type");
	json_object *code_v = NULL;
	const char *code = NULL;
	char code_num[24];
	if (json_object_object_get_ex(e, "code", &code_v) && code_v) {
		if (json_object_is_type(code_v, json_type_int)) {
			snprintf(code_num, sizeof code_num, "%lld", (long long)json_object_get_int64(code_v));
			code = code_num;
		} else {
			code = str_member(e, "code");
		}
	}
	const char *param = str_member(e, "param");
	oa_error_set(err, status, type ? type : OA_SERVER, code, param, "%s",
		     msg ? msg : "The model's upstream server reported an error.");
	return -1;
}

int up_map_status(long status, const char *body, size_t len, oa_error *err)
{
	if (status == 401)
		return oa_error_set(err, 502, OA_SERVER, "upstream_auth_failed", NULL,
				    "The model's upstream server refused this server's credentials.");
	if (status < 400 || status > 499)
		return oa_error_set(err, 502, OA_SERVER, "upstream_error", NULL,
				    "The model's upstream server had an error (HTTP %ld).", status);
	json_object *obj = NULL;
	if (body && len) {
		json_tokener *tok = json_tokener_new();
		obj = json_tokener_parse_ex(tok, body, (int)(len > 1 << 20 ? 1 << 20 : len));
		json_tokener_free(tok);
	}
	int rc = obj ? up_error_object(obj, (int)status, err) : 0;
	json_object_put(obj);
	if (rc != 0)
		return -1;
	if (status == 429)
		return oa_error_set(err, 429, OA_RATE_LIMIT, "rate_limit_exceeded", NULL,
				    "The model's upstream server is rate limiting requests. Please try again later.");
	return oa_error_set(err, (int)status, OA_INVALID_REQUEST, "upstream_rejected", NULL,
			    "The model's upstream server rejected the request (HTTP %ld).", status);
}

bool up_header_value(const char *line, size_t len, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	out[0] = '\0';
	if ((size_t)(end - v) >= n)
		return true;
	for (const char *p = v; p < end; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return true;
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
	return true;
}

/* Digits only, at least one; the value, saturated at max. */
static bool parse_count(const char *s, long max, long *out)
{
	long v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v > (max - (*s - '0')) / 10 ? max : v * 10 + (*s - '0');
	}
	*out = v;
	return true;
}

/* An HTTP-date (RFC 9110 5.6.7) in seconds from now_s, 0 when past. */
static bool parse_http_date(const char *s, time_t now_s, long *out)
{
	static const char *const formats[] = {
		"%a, %d %b %Y %H:%M:%S GMT",   /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		"%A, %d-%b-%y %H:%M:%S GMT",   /* RFC 850 */
		"%a %b %e %H:%M:%S %Y",        /* asctime */
	};
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(s, formats[i], &tm);
		if (!end || *end)
			continue;
		time_t t = timegm(&tm);
		if (t == (time_t)-1)
			return false;
		long long d = (long long)t - (long long)now_s;
		*out = d <= 0 ? 0 : d > UP_RETRY_MAX_S ? UP_RETRY_MAX_S : (long)d;
		return true;
	}
	return false;
}

bool up_retry_headers(const char *retry_after, const char *retry_after_ms, time_t now_s, long *secs, long *ms)
{
	long s = 0, m = 0;
	bool have_s = retry_after && (parse_count(retry_after, UP_RETRY_MAX_S, &s) ||
				      parse_http_date(retry_after, now_s, &s));
	bool have_ms = retry_after_ms && parse_count(retry_after_ms, UP_RETRY_MAX_S * 1000, &m);
	if (!have_s && !have_ms)
		return false;
	*secs = have_s ? s : (m + 999) / 1000;
	*ms = have_ms ? m : s * 1000;
	return true;
}

static bool json_nonfinite(json_object *v)
{
	return json_object_is_type(v, json_type_double) && !isfinite(json_object_get_double(v));
}

size_t up_json_finite(json_object *o)
{
	size_t n = 0;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0, len = json_object_array_length(o); i < len; i++) {
			json_object *e = json_object_array_get_idx(o, i);
			if (json_nonfinite(e)) {
				json_object_array_put_idx(o, i, NULL);
				n++;
			} else {
				n += up_json_finite(e);
			}
		}
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, v) {
			if (json_nonfinite(v)) {
				json_object_object_add(o, key, NULL);  /* a key replaced keeps its place */
				n++;
			} else {
				n += up_json_finite(v);
			}
		}
	}
	return n;  /* the depth is json-c's parse depth: every caller parsed o */
}

bool up_env_has_proxy(char *(*get)(const char *name))
{
	static const char *const names[] = { "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (get(names[i]))
			return true;
	return false;
}

size_t up_utf8_repair(const char *s, size_t n, strbuf *out)
{
	if (utf8_valid(s, n))
		return 0;
	size_t bad = 0, i = 0;
	while (i < n) {
		size_t k = (unsigned char)s[i] < 0x80 ? 1 : utf8_seq_len(s + i, n - i);
		if (k == 0) {
			sb_append(out, "\xef\xbf\xbd", 3);
			bad++;
			i++;
		} else {
			sb_append(out, s + i, k);
			i += k;
		}
	}
	return bad;
}

void up_clock_start(struct up_clock *c, int64_t now_ms)
{
	c->start_ms = c->last_ms = now_ms;
	c->got_byte = false;
}

void up_clock_byte(struct up_clock *c, int64_t now_ms)
{
	if (!c->got_byte)
		c->last_ms = now_ms;
	c->got_byte = true;
}

void up_clock_progress(struct up_clock *c, int64_t now_ms)
{
	c->last_ms = now_ms;
	c->got_byte = true;
}

enum up_limit up_clock_expired(const struct up_clock *c, const struct upstream_cfg *up, int64_t now_ms)
{
	if (up->total_ms > 0 && now_ms - c->start_ms >= up->total_ms)
		return UP_LIMIT_TOTAL;
	if (!c->got_byte)
		return up->first_byte_ms > 0 && now_ms - c->start_ms >= up->first_byte_ms ? UP_LIMIT_FIRST_BYTE
											  : UP_LIMIT_NONE;
	return up->idle_ms > 0 && now_ms - c->last_ms >= up->idle_ms ? UP_LIMIT_IDLE : UP_LIMIT_NONE;
}

int64_t up_clock_next_ms(const struct up_clock *c, const struct upstream_cfg *up)
{
	int64_t next = INT64_MAX;
	if (up->total_ms > 0)
		next = c->start_ms + up->total_ms;
	int64_t other = !c->got_byte ? (up->first_byte_ms > 0 ? c->start_ms + up->first_byte_ms : INT64_MAX)
				     : (up->idle_ms > 0 ? c->last_ms + up->idle_ms : INT64_MAX);
	return other < next ? other : next;
}

const char *up_limit_name(enum up_limit l)
{
	static const char *const names[] = { "none", "first byte", "idle", "total" };
	return (unsigned)l < 4 ? names[l] : "?";
}
