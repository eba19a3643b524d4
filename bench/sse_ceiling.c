/* sse_ceiling.c: the least a libfcgi program can do per streamed event, the bench's streaming ceiling */
/*
 * Answers every request with the same SSE events as openai-fcgi's mock (a
 * file of them, captured from the mock by bench/run), on the same timer:
 * the first event at once, a pause of DELAY_MS before each following one
 * except the last TAIL (the mock sends its finish chunk and [DONE] right
 * after the last word). Each event is written and flushed as one FastCGI
 * record. A thread per stream, as libfcgi's own threaded example does. No
 * parsing, no auth, no log: whatever openai-fcgi's streams cost beyond this
 * per event is the price of its features.
 *
 *   sse_ceiling THREADS EVENTS_FILE DELAY_MS TAIL   (socket on fd 0, as spawn-fcgi hands it over)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#define MAX_EVENTS 1024

static const char *events[MAX_EVENTS];
static size_t event_len[MAX_EVENTS];
static size_t n_events;
static long delay_ms, tail;

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *serve(void *unused)
{
	FCGX_Request r;
	char sink[4096];
	(void)unused;
	FCGX_InitRequest(&r, 0, 0);
	while (FCGX_Accept_r(&r) == 0) {
		while (FCGX_GetStr(sink, sizeof sink, r.in) > 0)
			;
		FCGX_PutS("Status: 200 OK\r\nContent-Type: text/event-stream\r\n"
			  "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n", r.out);
		for (size_t i = 0; i < n_events; i++) {
			if (i > 0 && i + (size_t)tail < n_events)
				pause_ms(delay_ms);
			if (FCGX_PutStr(events[i], (int)event_len[i], r.out) < 0 || FCGX_FFlush(r.out) < 0)
				break;
		}
		FCGX_Finish_r(&r);
	}
	return NULL;
}

/* Splits the file into events, each with its blank line. */
static int load_events(const char *path)
{
	FILE *f = fopen(path, "rb");
	static char buf[1 << 20];
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	for (size_t i = 0; i < n && n_events < MAX_EVENTS;) {
		char *end = strstr(buf + i, "\n\n");
		size_t e = end ? (size_t)(end - buf) + 2 : n;
		events[n_events] = buf + i;
		event_len[n_events++] = e - i;
		i = e;
	}
	return n_events ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 5 || load_events(argv[2]) != 0) {
		fprintf(stderr, "usage: sse_ceiling THREADS EVENTS_FILE DELAY_MS TAIL\n");
		return 64;
	}
	int n = atoi(argv[1]);
	delay_ms = atol(argv[3]);
	tail = atol(argv[4]);
	FCGX_Init();
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_t t;
	for (int i = 1; i < n; i++)
		pthread_create(&t, &attr, serve, NULL);
	serve(NULL);
	return 0;
}
