/* openai_error.h: OpenAI error objects and the one builder of the error envelope */
#ifndef OAF_OPENAI_ERROR_H
#define OAF_OPENAI_ERROR_H
#include "strbuf.h"

/* Error types OpenAI uses in error.type. */
#define OA_INVALID_REQUEST "invalid_request_error"
#define OA_AUTHENTICATION  "authentication_error"
#define OA_PERMISSION      "permission_error"
#define OA_NOT_FOUND       "not_found_error"
#define OA_RATE_LIMIT      "requests"
#define OA_SERVER          "server_error"

/* What a step that answers a request did, the one convention of request
 * handlers (fcgi/routes.h) and backends (backend.h): OA_ERROR means the
 * oa_error given to it holds the error, status set, nothing of it sent;
 * OA_CLIENT_GONE means the client left, so nothing more is to be sent.
 * OA_ERROR is -1, what oa_error_set() returns. */
enum oa_result { OA_DONE = 0, OA_ERROR = -1, OA_CLIENT_GONE = -2 };

#define OA_ERROR_HEADERS 256  /* bytes of header lines one error may carry */

/* An error on its way to the client. Every string is copied in, so an
 * upstream's own type and code can pass through; an empty param or code
 * means JSON null. The headers that go with it (Allow, Retry-After,
 * WWW-Authenticate) travel in it, written with it by the one writer of
 * errors. */
typedef struct oa_error {
	int status;          /* HTTP status, 0 while no error is set */
	char type[64];
	char code[64];
	char param[128];
	char message[512];
	char headers[OA_ERROR_HEADERS];  /* "Name: value\r\n" lines, in order */
} oa_error;

/* Fills e, dropping the headers of any error it held before; a 401 gets
 * WWW-Authenticate: Bearer, as every 401 must. code and param may be NULL
 * (JSON null); fmt is printf-style. Always returns -1 (OA_ERROR), so that
 * a failing function can `return oa_error_set(...)`. */
int oa_error_set(oa_error *e, int status, const char *type, const char *code,
		 const char *param, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Shorthand for the common 400 invalid_request_error; returns -1. */
int oa_invalid(oa_error *e, const char *code, const char *param, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Adds a header to the error e holds (after oa_error_set(): that drops
 * them). A value holding a control byte (it would split the head) or a
 * line that does not fit in OA_ERROR_HEADERS is left out; -1 then, else 0. */
int oa_error_header(oa_error *e, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends {"error":{"message","type","param","code"}} to out: every key
 * always present, param and code null where they have no value. */
void oa_error_json(const oa_error *e, strbuf *out);

/* The reason phrase for an HTTP status ("Not Found"), never NULL. */
const char *http_reason(int status);

#endif
