/* relay_ceiling.c: the least a libfcgi + libcurl responder can do per relayed chat request, the relay's ceiling */
/*
 * Reads the body, POSTs it as it is to the upstream with libcurl (one easy
 * handle per thread, so its connection is kept and reused), and answers
 * the upstream's bytes with its status. No parse of either side, no auth,
 * no limiter, no failover, no log: whatever openai-fcgi's relay costs
 * beyond this is the price of its features; what this costs beyond
 * ceiling.c is the price of relaying through libcurl at all. Its
 * connection is closed as openai-fcgi closes one read to its end (shut,
 * drained, closed at once), not by libfcgi's close, which waits for the
 * front to close first: a ceiling is the least, not libfcgi's default.
 *
 *   relay_ceiling URL KEY [THREADS]   (the socket on fd 0, as spawn-fcgi hands it over)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

static const char *url, *key;

struct buf {
	char *p;
	size_t len, cap;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;
	size_t len = size * n;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			return 0;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return len;
}

static void serve(FCGX_Request *r, CURL *c, struct buf *in, struct buf *out)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	long n = cl ? atol(cl) : 0;
	if (n < 0 || (size_t)n > in->cap) {
		FCGX_FPrintF(r->out, "Status: 413 Payload Too Large\r\n\r\n");
		return;
	}
	int got = n > 0 ? FCGX_GetStr(in->p, (int)n, r->in) : 0;
	out->len = 0;
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, in->p);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(got > 0 ? got : 0));
	long status = 0;
	if (curl_easy_perform(c) != CURLE_OK || curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
		FCGX_FPrintF(r->out, "Status: 502 Bad Gateway\r\n\r\n");
		return;
	}
	char head[128];
	int hl = snprintf(head, sizeof head, "Status: %ld\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\n\r\n", status, out->len);
	FCGX_PutStr(head, hl, r->out);
	FCGX_PutStr(out->p, (int)out->len, r->out);
}

/* FCGX_Finish_r(r) without its close, then the connection shut, drained
 * and closed (fcgi/io_fcgx.c does the same). */
static void finish(FCGX_Request *r)
{
	r->keepConnection = 1;
	FCGX_Finish_r(r);
	if (r->ipcFd >= 0) {
		char trash[1024];
		if (shutdown(r->ipcFd, SHUT_WR) == 0)
			for (int i = 0; i < 64 && recv(r->ipcFd, trash, sizeof trash, MSG_DONTWAIT) > 0; i++)
				;
		close(r->ipcFd);
	}
	r->ipcFd = -1;
	r->keepConnection = 0;
}

static void *worker(void *arg)
{
	(void)arg;
	FCGX_Request r;
	struct buf in = { malloc(1 << 20), 0, 1 << 20 }, out = { NULL, 0, 0 };
	char auth[256];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, auth);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	FCGX_InitRequest(&r, 0, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		serve(&r, c, &in, &out);
		finish(&r);
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(in.p);
	free(out.p);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 3 ? atoi(argv[3]) : 1;
	if (argc < 3 || threads < 1 || threads > 256 || FCGX_Init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 64;
	url = argv[1];
	key = argv[2];
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	for (int i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	worker(NULL);
	for (int i = 1; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	return 0;
}
