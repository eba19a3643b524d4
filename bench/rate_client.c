/* rate_client.c: an open-loop HTTP/1.1 load at a fixed request rate, latency measured from each request's due time */
/*
 * wrk sends the next request when the last answer came (a closed loop), so it
 * cannot hold a rate: a slow answer delays the requests behind it and hides
 * their wait. Here request i is due at start + i / RATE, whatever happened
 * before; it goes out on the first idle connection of a fixed pool (CONNS
 * keep-alive connections, one request in flight on each), and its latency
 * runs from its due time to the last byte of its answer, so time spent
 * waiting for a free connection counts (no coordinated omission). A
 * timerfd with absolute deadlines wakes the client at the due time with
 * microsecond resolution.
 *
 *   rate_client HOST PORT PATH RATE SECONDS CONNS [BODY_FILE [TOKEN]]
 *
 * POSTs BODY_FILE (application/json) when given, else GETs. Prints one line:
 *   RESULT requests=N rps=R p50_ms=X p99_ms=Y errors=E late=L
 * where errors are non-2xx answers, broken connections and requests still
 * unanswered 2 s after the last one was due, and late the requests that
 * waited for a connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   256
#define RESP_BYTES  (256 << 10)   /* the largest answer this bench expects */

struct conn {
	int fd;
	bool busy;
	int64_t due_ns;     /* of the request in flight */
	size_t sent, len;   /* of the request being written */
	char resp[RESP_BYTES];
	size_t got;
};

static struct sockaddr_in addr;
static char *request;
static size_t request_len;
static int64_t *lat_ns;
static size_t n_lat, n_errors, n_late;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int open_conn(int ep, struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	c->busy = false;
	c->got = 0;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void send_request(struct conn *c, int64_t due)
{
	c->busy = true;
	c->due_ns = due;
	c->got = 0;
	c->sent = 0;
	/* a request is far smaller than the socket buffer: one write sends it */
	ssize_t w = write(c->fd, request, request_len);
	if (w != (ssize_t)request_len)
		c->sent = (size_t)-1;  /* counted when the answer does not come */
}

/* Does the head of c's answer (up to end) say the server closes the
 * connection after it? lighttpd does after server.max-keep-alive-requests
 * (1000) on one connection, and this client sends most requests on its
 * first idle one: a request sent there after such an answer met a closed
 * connection, an error of the client's, not the server's. */
static bool closes_after(const struct conn *c, const char *end)
{
	for (const char *l = strstr(c->resp, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Connection:", 11) == 0) {
			const char *v = l + 13;
			while (*v == ' ')
				v++;
			return strncasecmp(v, "close", 5) == 0;
		}
	return false;
}

/* Is c's answer complete? 1 yes (status in *status), 2 yes and the server
 * closes the connection after it, 0 not yet, -1 cannot tell. */
static int answer_complete(struct conn *c, int *status)
{
	c->resp[c->got < RESP_BYTES ? c->got : RESP_BYTES - 1] = '\0';
	char *end = strstr(c->resp, "\r\n\r\n");
	if (!end)
		return c->got >= RESP_BYTES - 1 ? -1 : 0;
	*status = c->got > 12 ? atoi(c->resp + 9) : 0;
	size_t head = (size_t)(end + 4 - c->resp);
	for (char *l = strstr(c->resp, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
			return c->got < head + strtoul(l + 17, NULL, 10) ? 0 : closes_after(c, end) ? 2 : 1;
		if (strncasecmp(l + 2, "Transfer-Encoding:", 18) == 0 && strstr(l, "chunked") &&
		    strstr(l, "chunked") < end)
			/* JSON never holds this sequence: the last chunk */
			return c->got < head + 5 || memcmp(c->resp + c->got - 5, "0\r\n\r\n", 5) != 0 ? 0 :
			       closes_after(c, end) ? 2 : 1;
	}
	return -1;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: rate_client HOST PORT PATH RATE SECONDS CONNS [BODY_FILE [TOKEN]]\n");
		return 2;
	}
	double rate = atof(argv[4]), secs = atof(argv[5]);
	int nconns = atoi(argv[6]);
	if (rate <= 0 || secs <= 0 || nconns < 1 || nconns > MAX_CONNS) {
		fprintf(stderr, "rate_client: RATE, SECONDS > 0, 1 <= CONNS <= %d\n", MAX_CONNS);
		return 2;
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &addr.sin_addr);

	char *body = NULL;
	size_t body_len = 0;
	if (argc > 7) {
		FILE *f = fopen(argv[7], "rb");
		if (!f) {
			perror(argv[7]);
			return 2;
		}
		body = malloc(1 << 20);
		body_len = fread(body, 1, 1 << 20, f);
		fclose(f);
	}
	request = malloc(body_len + 1024);
	request_len = (size_t)sprintf(request, "%s %s HTTP/1.1\r\nHost: %s:%s\r\n%s%s%s%s", body ? "POST" : "GET",
				      argv[3], argv[1], argv[2], argc > 8 ? "Authorization: Bearer " : "",
				      argc > 8 ? argv[8] : "", argc > 8 ? "\r\n" : "",
				      body ? "Content-Type: application/json\r\n" : "");
	request_len += (size_t)sprintf(request + request_len, "Content-Length: %zu\r\n\r\n", body_len);
	if (body)
		memcpy(request + request_len, body, body_len);
	request_len += body_len;

	size_t total = (size_t)(rate * secs);
	lat_ns = calloc(total + 1, sizeof *lat_ns);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	static struct conn conns[MAX_CONNS];
	for (int i = 0; i < nconns; i++)
		if (open_conn(ep, &conns[i]) != 0) {
			perror("rate_client: connect");
			return 1;
		}
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

	int64_t period = (int64_t)(1e9 / rate), start = now_ns() + 10000000;
	size_t next = 0;       /* the next request to become due */
	size_t issued = 0;     /* requests handed to a connection */
	size_t done = 0;
	int64_t give_up = start + (int64_t)(secs * 1e9) + 2000000000;
	while (done < total && now_ns() < give_up) {
		int64_t now = now_ns();
		while (next < total && start + (int64_t)next * period <= now)
			next++;
		/* due requests go to idle connections, oldest first */
		for (int i = 0; i < nconns && issued < next; i++)
			if (!conns[i].busy && conns[i].fd >= 0) {
				int64_t due = start + (int64_t)issued * period;
				if (now - due > period)
					n_late++;
				send_request(&conns[i], due);
				issued++;
			}
		if (next < total) {
			int64_t at = start + (int64_t)next * period;
			struct itimerspec its = { .it_value = { at / 1000000000, at % 1000000000 } };
			timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		struct epoll_event evs[MAX_CONNS + 1];
		int n = epoll_wait(ep, evs, MAX_CONNS + 1, 100);
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			if (!c) {
				uint64_t x;
				(void)!read(tfd, &x, sizeof x);
				continue;
			}
			ssize_t r = read(c->fd, c->resp + c->got, RESP_BYTES - 1 - c->got);
			if (r < 0 && errno == EAGAIN)
				continue;
			int status = 0, complete = r > 0 ? (c->got += (size_t)r, answer_complete(c, &status)) : -1;
			if (complete == 0)
				continue;
			if (c->busy) {
				done++;
				if (complete > 0 && status / 100 == 2)
					lat_ns[n_lat++] = now_ns() - c->due_ns;
				else
					n_errors++;
			}
			c->busy = false;
			c->got = 0;
			if (complete != 1) {  /* closed, closing or unreadable: a fresh connection */
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				if (open_conn(ep, c) != 0)
					c->fd = -1;
			}
		}
	}
	n_errors += total - done;
	qsort(lat_ns, n_lat, sizeof *lat_ns, cmp64);
	double p50 = n_lat ? lat_ns[n_lat / 2] / 1e6 : 0, p99 = n_lat ? lat_ns[(size_t)(n_lat * 0.99)] / 1e6 : 0;
	printf("RESULT requests=%zu rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%zu late=%zu\n", n_lat, n_lat / secs, p50,
	       p99, n_errors, n_late);
	return 0;
}
