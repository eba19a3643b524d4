/* openai_error.c: OpenAI error objects and the one builder of the error envelope */
#include "openai_error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void set_fields(oa_error *e, int status, const char *type, const char *code, const char *param)
{
	e->status = status;
	e->headers[0] = '\0';
	if (status == 401)
		oa_error_header(e, "WWW-Authenticate", "Bearer");
	snprintf(e->type, sizeof e->type, "%s", type ? type : OA_SERVER);
	snprintf(e->code, sizeof e->code, "%s", code ? code : "");
	snprintf(e->param, sizeof e->param, "%s", param ? param : "");
}

int oa_error_set(oa_error *e, int status, const char *type, const char *code,
		 const char *param, const char *fmt, ...)
{
	va_list ap;
	set_fields(e, status, type, code, param);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}

int oa_invalid(oa_error *e, const char *code, const char *param, const char *fmt, ...)
{
	va_list ap;
	set_fields(e, 400, OA_INVALID_REQUEST, code, param);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}

int oa_error_header(oa_error *e, const char *name, const char *fmt, ...)
{
	size_t used = strnlen(e->headers, sizeof e->headers);
	size_t room = sizeof e->headers - used;
	char *line = e->headers + used;
	int n = snprintf(line, room, "%s: ", name);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < room)
		n += vsnprintf(line + n, room - (size_t)n, fmt, ap);
	va_end(ap);
	bool ok = n > 0 && (size_t)n + 2 < room;
	for (int i = 0; ok && i < n; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			ok = false;
	if (!ok) {
		*line = '\0';
		return -1;
	}
	memcpy(line + n, "\r\n", 3);
	return 0;
}

void oa_error_json(const oa_error *e, strbuf *out)
{
	sb_puts(out, "{\"error\":{\"message\":");
	sb_json_str(out, e->message, strlen(e->message));
	sb_puts(out, ",\"type\":");
	const char *type = e->type[0] ? e->type : OA_SERVER;
	sb_json_str(out, type, strlen(type));
	sb_puts(out, ",\"param\":");
	if (e->param[0])
		sb_json_str(out, e->param, strlen(e->param));
	else
		sb_puts(out, "null");
	sb_puts(out, ",\"code\":");
	if (e->code[0])
		sb_json_str(out, e->code, strlen(e->code));
	else
		sb_puts(out, "null");
	sb_puts(out, "}}");
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
	}
}
