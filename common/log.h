/* log.h: leveled logging to stderr (which the web server keeps), text or JSON lines */
#ifndef OAF_LOG_H
#define OAF_LOG_H
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL };

/* Sets the threshold and the format (json: one JSON object per line). Safe
 * to call again after the configuration is read. */
void log_setup(enum log_level min, bool json);
/* Sends the log (and anything else written to stderr) to path, appended
 * to: stderr is redirected there. 0, or -1 with errno. */
int log_redirect(const char *path);
/* Parses DEBUG/INFO/WARNING/WARN/ERROR/CRITICAL (any case); 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level l);
bool log_enabled(enum log_level l);
bool log_json(void);

/* The request id that log lines of this thread carry (NULL: none); the
 * string is copied. */
void log_set_request_id(const char *id);

/* One line per call, written with a single write(2) so lines from several
 * threads and processes never interleave. Whatever the arguments hold (an
 * upstream's body, a client's method), the line stays one line: the
 * message is escaped for the format (log_escape_text, or a JSON string). */
void log_msg(enum log_level l, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Appends s (n bytes) for a text log line: control bytes, DEL, backslash
 * and invalid UTF-8 become \n, \r, \t, \\ or \xNN, so no value can end
 * the line or fake another. With field set, spaces and quotes are escaped
 * too (\x20, \x22), for a value that stands as one field of the line. */
void log_escape_text(strbuf *out, const char *s, size_t n, bool field);

/* Writes an already formatted line (the access log) as one write(2). Its
 * values should be escaped by the caller (log_escape_text, sb_json_str);
 * as a last defence any control byte but the final newline is escaped
 * here, and a missing final newline is added. */
void log_raw(const char *line, unsigned long len);

#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
