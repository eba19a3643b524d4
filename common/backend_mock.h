/* backend_mock.h: the mock model's bounds, and how it paces a stream within them */
#ifndef OAF_BACKEND_MOCK_H
#define OAF_BACKEND_MOCK_H
#include <stddef.h>

/* What one answer may cost, whatever the request asks. A choice is cut at
 * its model's max_output_tokens (config.h), but tokens bound neither bytes
 * (whitespace is free, see tokens.h) nor, with n up to 128, the events and
 * time of a stream; these do. What they cut ends with finish_reason
 * "length". */
#define MOCK_MAX_ANSWER_BYTES (1L << 20)  /* the text of all choices together */
#define MOCK_MAX_STREAM_EVENTS 8192      /* content events of one stream, all choices together */
#define MOCK_MAX_STREAM_MS 30000         /* the pauses of one stream, all together */

struct mock_pace {
	size_t words_per_event;  /* at least 1 */
	long pause_ms;           /* between two events */
};

/* How a stream of `words` words for `choices` choices, delay_ms apart,
 * goes out: a word per event delay_ms apart when that fits the bounds
 * above; otherwise several words per event and shorter pauses. Pure. */
struct mock_pace mock_stream_pace(size_t words, int choices, long delay_ms);

#endif
