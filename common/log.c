/* log.c: leveled logging to stderr (which the web server keeps), text or JSON lines */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

static enum log_level min_level = LOG_INFO;
static bool json_lines;
static _Thread_local char request_id[64];

static const char *const level_names[] = { "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" };

void log_setup(enum log_level min, bool json)
{
	min_level = min;
	json_lines = json;
}

int log_redirect(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -1;
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_CRITICAL; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "WARN") == 0) {
		*out = LOG_WARNING;
		return 0;
	}
	return -1;
}

const char *log_level_name(enum log_level l)
{
	return (l >= LOG_DEBUG && l <= LOG_CRITICAL) ? level_names[l] : "INFO";
}

bool log_enabled(enum log_level l)
{
	return l >= min_level;
}

bool log_json(void)
{
	return json_lines;
}

void log_set_request_id(const char *id)
{
	/* twice per request: a copy, not a snprintf */
	size_t n = id ? strnlen(id, sizeof request_id - 1) : 0;
	memcpy(request_id, id ? id : "", n);
	request_id[n] = '\0';
}

void log_raw(const char *line, unsigned long len)
{
	/* One write per line: O_APPEND-free pipes keep writes under PIPE_BUF whole. */
	(void)!write(STDERR_FILENO, line, len);
}

static void timestamp(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000L);
}

void log_msg(enum log_level l, const char *file, int line, const char *fmt, ...)
{
	if (!log_enabled(l))
		return;
	char ts[40], msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	timestamp(ts, sizeof ts);

	strbuf sb = STRBUF_INIT;
	if (json_lines) {
		sb_printf(&sb, "{\"time\":\"%s\",\"level\":\"%s\"", ts, log_level_name(l));
		if (request_id[0]) {
			sb_puts(&sb, ",\"request_id\":");
			sb_json_str(&sb, request_id, strlen(request_id));
		}
		if (min_level == LOG_DEBUG)
			sb_printf(&sb, ",\"src\":\"%s:%d\"", file, line);
		sb_puts(&sb, ",\"msg\":");
		sb_json_str(&sb, msg, strlen(msg));
		sb_puts(&sb, "}\n");
	} else {
		sb_printf(&sb, "%s openai-fcgi[%d] %s", ts, (int)getpid(), log_level_name(l));
		if (request_id[0])
			sb_printf(&sb, " [%s]", request_id);
		if (min_level == LOG_DEBUG)
			sb_printf(&sb, " %s:%d", file, line);
		sb_printf(&sb, ": %s\n", msg);
	}
	log_raw(sb.buf, sb.len);
	sb_free(&sb);
}
