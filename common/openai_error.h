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

/* An error on its way to the client. Every string is copied in, so an
 * upstream's own type and code can pass through; an empty param or code
 * means JSON null. Extra headers an error needs (Allow, Retry-After,
 * WWW-Authenticate) are the responder's business. */
typedef struct oa_error {
	int status;          /* HTTP status, 0 while no error is set */
	char type[64];
	char code[64];
	char param[128];
	char message[512];
} oa_error;

/* Fills e. code and param may be NULL (JSON null); fmt is printf-style. Always
 * returns -1, so that a failing function can `return oa_error_set(...)`. */
int oa_error_set(oa_error *e, int status, const char *type, const char *code,
		 const char *param, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Shorthand for the common 400 invalid_request_error; returns -1. */
int oa_invalid(oa_error *e, const char *code, const char *param, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Appends {"error":{"message","type","param","code"}} to out: every key
 * always present, param and code null where they have no value. */
void oa_error_json(const oa_error *e, strbuf *out);

/* The reason phrase for an HTTP status ("Not Found"), never NULL. */
const char *http_reason(int status);

#endif
