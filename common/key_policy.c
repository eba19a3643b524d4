/* key_policy.c: what a configured key may do: its validity in time, its models, its token reservation */
#include "key_policy.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Reads exactly `digits` decimal digits at *p into *v and advances. */
static bool digits_at(const char **p, int digits, int *v)
{
	int x = 0;
	for (int i = 0; i < digits; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*p += digits;
	*v = x;
	return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): no timegm(), no TZ. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* The zone at *p: "Z", "+HH:MM", "+HHMM", "+HH"; its offset in seconds. */
static bool zone_at(const char *p, int64_t *offset)
{
	int hh, mm = 0;
	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
		*offset = 0;
		return true;
	}
	if (p[0] != '+' && p[0] != '-')
		return false;
	int sign = p[0] == '-' ? -1 : 1;
	p++;
	if (!digits_at(&p, 2, &hh) || hh > 23)
		return false;
	if (*p == ':')
		p++;
	if (*p && (!digits_at(&p, 2, &mm) || mm > 59))
		return false;
	if (*p)
		return false;
	*offset = sign * (int64_t)(hh * 3600 + mm * 60);
	return true;
}

int kp_parse_time(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t offset = 0;

	if (!s || !digits_at(&p, 4, &y) || *p++ != '-' || !digits_at(&p, 2, &mo) || *p++ != '-' ||
	    !digits_at(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*p) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -1;
		p++;
		if (!digits_at(&p, 2, &h) || *p++ != ':' || !digits_at(&p, 2, &mi) || h > 23 || mi > 59)
			return -1;
		if (*p == ':') {
			p++;
			/* 60: a leap second, read as the next one */
			if (!digits_at(&p, 2, &sec) || sec > 60)
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				if (*p < '0' || *p > '9')
					return -1;
				while (*p >= '0' && *p <= '9')
					p++;
			}
		}
		if (!zone_at(p, &offset))
			return -1;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
	return 0;
}

void kp_format_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, n, "%lld", (long long)t);
}

enum kp_validity kp_validity_at(int64_t not_before, int64_t expires, int64_t now)
{
	if (now < not_before)
		return KP_NOT_YET_VALID;
	if (now >= expires)
		return KP_EXPIRED;
	return KP_VALID;
}

bool kp_model_allowed(char *const *models, size_t n, const char *id)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(models[i], id) == 0)
			return true;
	return false;
}

long kp_reservation(long prompt_tokens, long max_output, int n, long default_output)
{
	long per_choice = max_output >= 0 ? max_output : default_output;
	if (prompt_tokens < 0)
		prompt_tokens = 0;
	if (per_choice < 0)
		per_choice = 0;
	if (n < 1)
		n = 1;
	if (per_choice > (LONG_MAX - prompt_tokens) / n)
		return LONG_MAX;
	return prompt_tokens + per_choice * n;
}
