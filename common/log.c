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
#include "utf8.h"

static enum log_level min_level = LOG_INFO;
static bool json_lines;
/* The id of the request this thread serves, put in every line it logs.
 * One of the two thread-locals of the program (the other is ratelimit.c's
 * SIGBUS recovery point), and for errno's reason: a line may come from any
 * depth of a request (a store, a backend) and a log call takes no context,
 * so the id is the thread's, set by request_begin and cleared at its end. */
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

static const char hex[] = "0123456789abcdef";

void log_escape_text(strbuf *out, const char *s, size_t n, bool field)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : utf8_seq_len(s + i, n - i);
		if (k > 1) {
			sb_append(out, s + i, k);
			i += k;
			continue;
		}
		i++;
		if (c >= 0x20 && c < 0x7f && c != '\\' && !(field && (c == ' ' || c == '"'))) {
			sb_putc(out, (char)c);
		} else if (c == '\n') {
			sb_append(out, "\\n", 2);
		} else if (c == '\r') {
			sb_append(out, "\\r", 2);
		} else if (c == '\t') {
			sb_append(out, "\\t", 2);
		} else if (c == '\\') {
			sb_append(out, "\\\\", 2);
		} else {
			char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
			sb_append(out, esc, 4);
		}
	}
}

/* Is there a byte in line that would end it early or garble a terminal? */
static bool needs_escape(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && !(c == '\n' && i == len - 1)) || c == 0x7f)
			return true;
	}
	return false;
}

void log_raw(const char *line, unsigned long len)
{
	strbuf safe = STRBUF_INIT;
	if (needs_escape(line, len) || len == 0 || line[len - 1] != '\n') {
		size_t body = len && line[len - 1] == '\n' ? len - 1 : len;
		for (size_t i = 0; i < body; i++) {
			unsigned char c = (unsigned char)line[i];
			if (c >= 0x20 && c != 0x7f) {
				sb_putc(&safe, (char)c);
			} else if (c == '\n' || c == '\r' || c == '\t') {
				char esc[2] = { '\\', c == '\n' ? 'n' : c == '\r' ? 'r' : 't' };
				sb_append(&safe, esc, 2);
			} else if (json_lines) {
				/* a JSON line keeps JSON's escape, a text line a C one */
				char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
				sb_append(&safe, esc, 6);
			} else {
				char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
				sb_append(&safe, esc, 4);
			}
		}
		sb_putc(&safe, '\n');
		line = safe.buf;
		len = safe.len;
	}
	/* One write per line: O_APPEND-free pipes keep writes under PIPE_BUF whole. */
	(void)!write(STDERR_FILENO, line, len);
	sb_free(&safe);
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
		sb_puts(&sb, ": ");
		log_escape_text(&sb, msg, strlen(msg), false);
		sb_putc(&sb, '\n');
	}
	log_raw(sb.buf, sb.len);
	sb_free(&sb);
}
