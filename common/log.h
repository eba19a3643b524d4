/* log.h: leveled logging to stderr (which the web server keeps), text or JSON lines */
#ifndef OAF_LOG_H
#define OAF_LOG_H
#include <stdbool.h>

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
 * threads and processes never interleave. */
void log_msg(enum log_level l, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Writes an already formatted line (the access log) as one write(2). */
void log_raw(const char *line, unsigned long len);

#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
