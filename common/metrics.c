/* metrics.c: the usage rows and gauges as Prometheus' text exposition format (version 0.0.4) */
#include "metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Which labels a family groups by. */
enum { L_ROUTE = 1, L_MODEL = 2, L_STATUS = 4, L_KEY = 8, L_UPSTREAM = 16, L_REASON = 32 };

static int cmp_labels(const struct um_row *x, const struct um_row *y, unsigned mask)
{
	int c = 0;
	if (!c && (mask & L_ROUTE))
		c = strcmp(x->route, y->route);
	if (!c && (mask & L_MODEL))
		c = strcmp(x->model, y->model);
	if (!c && (mask & L_STATUS))
		c = x->status < y->status ? -1 : x->status > y->status;
	if (!c && (mask & L_KEY))
		c = strcmp(x->key, y->key);
	if (!c && (mask & L_UPSTREAM))
		c = strcmp(x->upstream, y->upstream);
	if (!c && (mask & L_REASON))
		c = strcmp(x->reason, y->reason);
	return c;
}

/* qsort_r's comparator: ctx is the group's label mask */
static int by_group(const void *a, const void *b, void *ctx)
{
	return cmp_labels(*(const struct um_row *const *)a, *(const struct um_row *const *)b,
			  *(const unsigned *)ctx);
}

static void sum_into(struct um_row *acc, const struct um_row *r)
{
	acc->requests += r->requests;
	acc->prompt_tokens += r->prompt_tokens;
	acc->completion_tokens += r->completion_tokens;
	acc->duration_us_sum += r->duration_us_sum;
	acc->ttft_us_sum += r->ttft_us_sum;
	acc->ttft_count += r->ttft_count;
	for (int i = 0; i < UM_NBUCKETS; i++) {
		acc->duration_bucket[i] += r->duration_bucket[i];
		acc->ttft_bucket[i] += r->ttft_bucket[i];
	}
}

typedef void (*emit_fn)(strbuf *out, const struct um_row *sum, const void *arg);
typedef bool (*keep_fn)(const struct um_row *r);

/* Sorts sel (k rows) by mask and calls emit once per group with its sums;
 * the labels of the sum are its group's. Rows keep() refuses are skipped. */
static void for_groups(const struct um_row **sel, size_t k, unsigned mask, keep_fn keep, emit_fn emit,
		       const void *arg, strbuf *out)
{
	struct um_row acc;
	bool open = false;
	qsort_r(sel, k, sizeof *sel, by_group, &mask);
	for (size_t i = 0; i < k; i++) {
		const struct um_row *r = sel[i];
		if (keep && !keep(r))
			continue;
		if (open && cmp_labels(&acc, r, mask) != 0) {
			emit(out, &acc, arg);
			open = false;
		}
		if (!open) {
			acc = *r;
			acc.requests = acc.prompt_tokens = acc.completion_tokens = 0;
			acc.duration_us_sum = acc.ttft_us_sum = acc.ttft_count = 0;
			memset(acc.duration_bucket, 0, sizeof acc.duration_bucket);
			memset(acc.ttft_bucket, 0, sizeof acc.ttft_bucket);
			open = true;
		}
		sum_into(&acc, r);
	}
	if (open)
		emit(out, &acc, arg);
}

void metrics_label_value(strbuf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			sb_puts(out, "\\\\");
		else if (*s == '"')
			sb_puts(out, "\\\"");
		else if (*s == '\n')
			sb_puts(out, "\\n");
		else
			sb_putc(out, *s);
	}
}

static void label(strbuf *out, bool *first, const char *name, const char *value)
{
	sb_puts(out, *first ? "{" : ",");
	sb_puts(out, name);
	sb_puts(out, "=\"");
	metrics_label_value(out, value);
	sb_putc(out, '"');
	*first = false;
}

static void family(strbuf *out, const char *name, const char *type, const char *help)
{
	sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void emit_requests(strbuf *out, const struct um_row *s, const void *arg)
{
	char status[16];
	bool first = true;
	(void)arg;
	snprintf(status, sizeof status, "%d", s->status);
	sb_puts(out, "openai_fcgi_requests_total");
	label(out, &first, "route", s->route);
	label(out, &first, "model", s->model);
	label(out, &first, "status", status);
	label(out, &first, "key", s->key);
	sb_printf(out, "} %llu\n", (unsigned long long)s->requests);
}

static void emit_tokens(strbuf *out, const struct um_row *s, const void *arg)
{
	const char *which = arg;
	bool first = true;
	sb_printf(out, "openai_fcgi_%s_tokens_total", which);
	label(out, &first, "model", s->model);
	label(out, &first, "key", s->key);
	sb_printf(out, "} %llu\n", (unsigned long long)(strcmp(which, "prompt") == 0 ? s->prompt_tokens
										: s->completion_tokens));
}

static void emit_histogram(strbuf *out, const char *name, const char *route, const uint64_t *bucket,
			   uint64_t count, uint64_t sum_us)
{
	uint64_t cumulative = 0;
	for (int i = 0; i <= UM_NBUCKETS; i++) {
		bool first = true;
		char le[32];
		if (i < UM_NBUCKETS) {
			cumulative += bucket[i];
			snprintf(le, sizeof le, "%g", um_buckets[i]);
		} else {
			snprintf(le, sizeof le, "+Inf");
		}
		sb_printf(out, "%s_bucket", name);
		label(out, &first, "route", route);
		label(out, &first, "le", le);
		sb_printf(out, "} %llu\n", (unsigned long long)(i < UM_NBUCKETS ? cumulative : count));
	}
	bool first = true;
	sb_printf(out, "%s_sum", name);
	label(out, &first, "route", route);
	sb_printf(out, "} %llu.%06llu\n", (unsigned long long)(sum_us / 1000000),
		  (unsigned long long)(sum_us % 1000000));
	first = true;
	sb_printf(out, "%s_count", name);
	label(out, &first, "route", route);
	sb_printf(out, "} %llu\n", (unsigned long long)count);
}

static void emit_duration(strbuf *out, const struct um_row *s, const void *arg)
{
	(void)arg;
	emit_histogram(out, "openai_fcgi_request_duration_seconds", s->route, s->duration_bucket, s->requests,
		       s->duration_us_sum);
}

static void emit_ttft(strbuf *out, const struct um_row *s, const void *arg)
{
	(void)arg;
	if (s->ttft_count)
		emit_histogram(out, "openai_fcgi_time_to_first_token_seconds", s->route, s->ttft_bucket,
			       s->ttft_count, s->ttft_us_sum);
}

static void emit_one_label(strbuf *out, const struct um_row *s, const void *arg)
{
	const char *const *names = arg;  /* metric, label */
	bool first = true;
	sb_puts(out, names[0]);
	label(out, &first, names[1], strcmp(names[1], "kind") == 0 ? s->reason : s->upstream);
	sb_printf(out, "} %llu\n", (unsigned long long)s->requests);
}

static bool is_429(const struct um_row *r)
{
	return r->status == 429;
}

static bool is_unchecked(const struct um_row *r)
{
	return r->status != 429 && strcmp(r->reason, "limits_unchecked") == 0;
}

static void emit_requests_by_status(strbuf *out, const struct um_row *s, const void *arg)
{
	(void)arg;
	sb_printf(out, "openai_fcgi_limits_unchecked_total{status=\"%d\"} %llu\n", s->status,
		  (unsigned long long)s->requests);
}

static bool is_upstream_error(const struct um_row *r)
{
	return r->status >= 500 && r->upstream[0];
}

void metrics_render(const struct um_row *rows, size_t n, const struct um_gauges *g, strbuf *out)
{
	const struct um_row **sel = xmalloc((n ? n : 1) * sizeof *sel);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (rows[i].kind == UM_DETAIL)
			sel[k++] = &rows[i];

	family(out, "openai_fcgi_requests_total", "counter", "Requests answered, by route, model, status and key.");
	for_groups(sel, k, L_ROUTE | L_MODEL | L_STATUS | L_KEY, NULL, emit_requests, NULL, out);
	family(out, "openai_fcgi_prompt_tokens_total", "counter", "Prompt tokens of the answers, by model and key.");
	for_groups(sel, k, L_MODEL | L_KEY, NULL, emit_tokens, "prompt", out);
	family(out, "openai_fcgi_completion_tokens_total", "counter",
	       "Completion tokens of the answers, by model and key.");
	for_groups(sel, k, L_MODEL | L_KEY, NULL, emit_tokens, "completion", out);
	family(out, "openai_fcgi_request_duration_seconds", "histogram",
	       "Time from a request's arrival to the end of its answer, by route.");
	for_groups(sel, k, L_ROUTE, NULL, emit_duration, NULL, out);
	family(out, "openai_fcgi_time_to_first_token_seconds", "histogram",
	       "Time from a request's arrival to the first byte of its answer, by route.");
	for_groups(sel, k, L_ROUTE, NULL, emit_ttft, NULL, out);
	family(out, "openai_fcgi_requests_in_flight", "gauge", "Requests being answered now, every process of the host.");
	sb_printf(out, "openai_fcgi_requests_in_flight %ld\n", g->in_flight);
	family(out, "openai_fcgi_open_streams", "gauge", "Streamed answers open now, every process of the host.");
	sb_printf(out, "openai_fcgi_open_streams %ld\n", g->streams);
	static const char *const limited[] = { "openai_fcgi_rate_limited_total", "kind" };
	family(out, limited[0], "counter",
	       "429 answers by kind (requests, tokens, insufficient_quota; an upstream's own 429 by its type).");
	for_groups(sel, k, L_REASON, is_429, emit_one_label, limited, out);
	family(out, "openai_fcgi_limits_unchecked_total", "counter",
	       "Requests whose limits could not be counted (STATE_BACKEND=redis unreachable: admitted when "
	       "REDIS_ON_FAILURE=open, else refused with 503), by status.");
	for_groups(sel, k, L_STATUS, is_unchecked, emit_requests_by_status, NULL, out);
	static const char *const upstream[] = { "openai_fcgi_upstream_errors_total", "upstream" };
	family(out, upstream[0], "counter", "Answers of 500 and above to requests sent to an upstream, by upstream.");
	for_groups(sel, k, L_UPSTREAM, is_upstream_error, emit_one_label, upstream, out);
	free(sel);
}
