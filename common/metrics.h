/* metrics.h: the usage rows and gauges as Prometheus' text exposition format (version 0.0.4) */
#ifndef OAF_METRICS_H
#define OAF_METRICS_H
#include <stddef.h>

#include "strbuf.h"
#include "usage.h"

/* The Content-Type of what metrics_render() writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends to out every openai_fcgi_* family, summed over the days of rows
 * (n of them, borrowed; only UM_DETAIL rows are read) and the gauges g:
 * requests by route, model, status and key; prompt and completion tokens
 * by model and key; request duration and time-to-first-token histograms
 * by route; requests in flight and open streams; 429s by kind; upstream
 * errors (answers of 500 and above from a request sent to an upstream) by
 * upstream. Label values are escaped; a family with no series still has
 * its HELP and TYPE lines. */
void metrics_render(const struct um_row *rows, size_t n, const struct um_gauges *g, strbuf *out);

/* Appends s as a label value: backslash, double quote and newline escaped. */
void metrics_label_value(strbuf *out, const char *s);

#endif
