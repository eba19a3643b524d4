/* main.c: start-up, signals, and the accept loop of FastCGI worker threads (or one CGI request) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "backend_upstream.h"
#include "fiber.h"
#include "io.h"
#include "log.h"
#include "procman.h"
#include "relocate.h"
#include "routes.h"
#include "usage.h"
#include "wait_loop.h"
#include "xalloc.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_SOFTWARE_ 70
#define EX_CONFIG_ 78

extern char **environ;

struct options {
	const char *config_file;
	const char *listen;
	long threads;           /* 0: the THREADS setting */
	long processes;         /* 0: no master, this process serves */
	bool check_config;
	bool usage;             /* --usage: print the usage table, exit */
	bool usage_json;        /* --json */
	const char *usage_since;  /* --since YYYY-MM-DD, NULL: every day kept */
	const char *argv0;      /* how we were started: a relocatable build without /proc goes by it */
};

static struct app app;
static struct options opts;   /* the master's hooks start workers with them */
static int listen_fd = -1;
static int stop_pipe[2] = { -1, -1 };  /* readable once stopping: wakes every poller */
static atomic_int stopping;
/* One worker at a time waits for a new connection: with every idle worker
 * polling the listening socket, each connection woke them all (256 threads
 * for 256 streams) and all but one found nothing to accept. */
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: openai-fcgi [OPTIONS]\n"
		"An OpenAI-compatible API server for FastCGI and CGI.\n\n"
		"  -c, --config FILE     libconfig settings file (else $OPENAI_FCGI_CONFIG,\n"
		"                        else " SYSCONFDIR "/openai-fcgi/openai-fcgi.conf)\n"
		"  -l, --listen ADDR     listen on HOST:PORT or /path/to.sock instead of a\n"
		"                        socket handed over on fd 0 (spawn-fcgi, web server)\n"
		"  -t, --threads N       worker threads per process (default: THREADS setting)\n"
		"  -p, --processes N     run a master that keeps N worker processes serving\n"
		"                        the socket: replaces dead ones, SIGHUP reloads\n"
		"      --check-config    validate the settings, print them (keys masked), exit\n"
		"                        0 when valid or 78 when start-up would be refused\n"
		"      --usage           print requests and tokens per UTC day, key and model\n"
		"                        from USAGE_FILE, exit; --since YYYY-MM-DD from that\n"
		"                        day on, --json as one JSON array\n"
		"  -V, --version         print name and version (from pyproject.toml)\n"
		"  -h, --help            print this help\n\n"
		"Modes: a listening socket on fd 0 (spawn-fcgi, web servers) is served with\n"
		"threads; without one, GATEWAY_INTERFACE in the environment means plain CGI\n"
		"(one request, then exit); otherwise --listen or HOST:PORT is listened on.\n"
		"Settings come from defaults < config file < ./.env < the environment.\n");
}

/* A count option from 1 to 256: 0, or -1 with the message printed. */
static int parse_count(const char *option, const char *arg, long *out)
{
	char *end;
	*out = strtol(arg, &end, 10);
	if (*end || end == arg || *out < 1 || *out > 256) {
		fprintf(stderr, "openai-fcgi: %s takes a number from 1 to 256\n", option);
		return -1;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o, bool *version)
{
	o->argv0 = argv[0];
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "processes", required_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "usage", no_argument, NULL, 'U' },
		{ "since", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:l:t:p:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_file = optarg; break;
		case 'l': o->listen = optarg; break;
		case 't':
			if (parse_count("--threads", optarg, &o->threads) != 0)
				return -1;
			break;
		case 'p':
			if (parse_count("--processes", optarg, &o->processes) != 0)
				return -1;
			break;
		case 'C': o->check_config = true; break;
		case 'U': o->usage = true; break;
		case 'S': o->usage_since = optarg; break;
		case 'J': o->usage_json = true; break;
		case 'V': *version = true; break;
		case 'h': usage(stdout); exit(EX_OK_);
		default: usage(stderr); return -1;
		}
	}
	int32_t day;
	if ((o->usage_since || o->usage_json) && !o->usage) {
		fprintf(stderr, "openai-fcgi: --since and --json go with --usage\n");
		return -1;
	}
	if (o->usage_since && um_parse_day(o->usage_since, &day) != 0) {
		fprintf(stderr, "openai-fcgi: --since takes a date, YYYY-MM-DD\n");
		return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "openai-fcgi: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* Prints each line of a config report through the log. */
static void log_lines(enum log_level level, const strbuf *sb)
{
	const char *p = sb_str(sb);
	while (*p) {
		size_t n = strcspn(p, "\n");
		log_msg(level, __FILE__, __LINE__, "config: %.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

/* Reads the settings into *cfg and sets the log up from them, logging
 * every warning and refusal. 0, or -1 (refused; *cfg is empty). */
static int load_settings(const struct options *o, struct config *cfg)
{
	struct config_paths paths = { o->config_file, NULL, environ, NULL };
#ifdef OAF_RELOCATABLE
	/* the static file uploaded to cgi-bin: config and state beside it */
	static char exe[4096];
	if (reloc_exe_path(o->argv0, exe, sizeof exe) == 0)
		paths.program_path = exe;
#endif
	struct config_report rep;
	int rc = config_load(&paths, cfg, &rep);
	if (rc == 0) {
		log_setup(cfg->log_level, cfg->log_format == 1);
		if (cfg->log_file && log_redirect(cfg->log_file) != 0)
			log_msg(LOG_WARNING, __FILE__, __LINE__, "config: LOG_FILE: cannot append to %s; "
				"logging to stderr", cfg->log_file);
	}
	log_lines(LOG_WARNING, &rep.warnings);
	log_lines(LOG_CRITICAL, &rep.errors);
	config_report_free(&rep);
	if (rc != 0)
		return -1;
	/* The keys are checked here too, so that a master refuses what its
	 * workers would. */
	struct auth_keyring keys;
	char err[256];
	if (auth_keyring_init(&keys, cfg->tokens, cfg->n_tokens, err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: API_AUTH_TOKENS: %s", err);
		config_free(cfg);
		return -1;
	}
	auth_keyring_free(&keys);
	return 0;
}

/* What serving needs beyond the settings in app.cfg: the key digests, the
 * rate-limit mapping, libcurl. A master never opens these, so that a fault
 * in the state file or libcurl cannot take it down. 0, or -1 (logged). */
static int open_state(void)
{
	char err[256];
	if (auth_keyring_init(&app.keys, app.cfg.tokens, app.cfg.n_tokens, err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: API_AUTH_TOKENS: %s", err);
		return -1;
	}
	if (lim_open_config(&app.cfg, &app.limits, err, sizeof err) != 0) {
		if (app.cfg.state_backend == LIM_REDIS)
			log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: STATE_BACKEND=redis: %s", err);
		else
			log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: RATE_LIMIT_FILE (%s): %s",
				app.cfg.rate_limit_file, err);
		return -1;
	}
	if (app_needs_stream_leases(&app.cfg)) {
		char path[4096];
		snprintf(path, sizeof path, "%s.streams", app.cfg.rate_limit_file);
		if (sl_open(path, &app.streams, err, sizeof err) != 0) {
			log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: keys[].max_streams: %s", err);
			return -1;
		}
	}
	if (auth_keyring_init(&app.metrics_keys, &app.cfg.metrics_token, app.cfg.metrics_token ? 1 : 0,
			      err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: METRICS_TOKEN: %s", err);
		return -1;
	}
	if (um_open(app.cfg.usage_file, &app.usage, err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: USAGE_FILE (%s): %s", app.cfg.usage_file, err);
		return -1;
	}
	if (lim_redis(app.limits))
		um_share(app.usage, lim_redis(app.limits));  /* every host's usage adds up there */
	/* libcurl is loaded here, before any request, only when a model needs
	 * it: without it, a mock-only process starts ~15 ms sooner and maps
	 * ~6 MiB less, and with it missing, start-up fails, not each request. */
	if (upstream_preload(&app.cfg, err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: upstream models: %s", err);
		return -1;
	}
	if (upstream_in_use(&app.cfg)) {
		strbuf path = STRBUF_INIT;
		sb_printf(&path, "%s/upstream-cooldown", app.cfg.state_dir);
		if (upstream_cooldowns_open(sb_str(&path), err, sizeof err) != 0)
			log_warn("%s: deployments' failures are not remembered between requests", err);
		else if (lim_redis(app.limits))
			upstream_cooldowns_share(lim_redis(app.limits));  /* every host leaves it alone */
		sb_free(&path);
	}
	return 0;
}

static void close_state(void)
{
	lim_close(app.limits);
	app.limits = NULL;
	sl_close(app.streams);
	app.streams = NULL;
	um_close(app.usage);
	app.usage = NULL;
	auth_keyring_free(&app.metrics_keys);
	auth_keyring_free(&app.keys);
}

/* ---- tasks: requests whose waits leave their worker ---- */

/* A request on a route that may stream runs on a fiber, with its FastCGI
 * request and context in a task on the heap. The first time its stream
 * waits (app.stream_wait: an upstream's next event, the mock's next word),
 * the fiber yields to its worker, which hands the task to the wait loop
 * and takes a new one for the next connection. The loop resumes the fiber
 * whenever what it waits for comes, and it ends the request there: so a
 * stream holds a thread only while it has something to do, and a waiting
 * one costs its data and a few stack pages (bench/results.md). A request
 * that never waits (every answer that is not a stream) costs the two
 * context switches. */
struct task {
	FCGX_Request r;
	struct req_io io;
	struct request req;
	struct wl_wait wait;   /* wait.fiber: the fiber req runs on */
	struct fcgx_lean lean; /* its answer once in the loop, without libfcgi's buffers */
	bool in_loop;          /* it has waited in the loop: the loop's from then on */
	bool holds_thread;     /* the loop had no room: it waits on its thread */
};
static struct wait_loop *loop;  /* NULL: every stream holds a thread (LOOP_STREAMS 0, CGI) */

#define TASK_OF(p, member) ((struct task *)((char *)(p) - offsetof(struct task, member)))

/* Tasks done with, their buffers kept (request_end() trims them): the
 * reserve takes one per request it accepts, and a stream's worker one per
 * stream, which would otherwise each allocate a context and every buffer
 * of it anew. */
#define TASK_CACHE 16
static pthread_mutex_t task_lock = PTHREAD_MUTEX_INITIALIZER;
static struct task *task_cache[TASK_CACHE];  /* guarded by task_lock */
static int n_task_cache;                      /* guarded by task_lock */

static struct task *task_new(void)
{
	pthread_mutex_lock(&task_lock);
	struct task *t = n_task_cache ? task_cache[--n_task_cache] : NULL;
	pthread_mutex_unlock(&task_lock);
	if (!t)
		t = xcalloc(1, sizeof *t);
	FCGX_InitRequest(&t->r, -1, 0);
	io_fcgx_bind(&t->io, &t->r);
	t->wait.fiber = t->req.fiber = NULL;
	t->in_loop = t->holds_thread = false;
	return t;
}

/* Frees t, its connection closed; its buffers stay when it is cached. */
static void task_free(struct task *t)
{
	if (t->r.ipcFd >= 0)
		close(t->r.ipcFd);
	pthread_mutex_lock(&task_lock);
	if (n_task_cache < TASK_CACHE) {
		task_cache[n_task_cache++] = t;
		t = NULL;
	}
	pthread_mutex_unlock(&task_lock);
	if (t) {
		request_free(&t->req);
		free(t);
	}
}

/* At exit: what the cache holds. */
static void task_cache_free(void)
{
	while (n_task_cache > 0) {
		struct task *t = task_cache[--n_task_cache];
		request_free(&t->req);
		free(t);
	}
}

/* The fiber's function: the request, and once in the loop, its end. */
static void task_serve(void *arg)
{
	struct task *t = arg;
	route_dispatch(&t->req);
	if (t->in_loop) {
		request_end(&t->req);
		io_fcgx_lean_finish(&t->lean);  /* closes: no worker takes the connection back */
	}
}

static int task_wait_out(void *ctx, int fd, long ms);

/* app.stream_wait, on the request's fiber: the first wait takes a place
 * in the loop and leaves the worker (serve_task() hands the task over); each
 * one yields to the loop until fd or the time comes. -1: no place, the
 * backend waits on this thread. */
static int task_wait(struct request *req, int fd, long ms)
{
	struct task *t = TASK_OF(req, req);
	if (ms < 0) {
		if (t->in_loop && t->wait.fd == fd)
			wl_forget(loop, &t->wait);
		return 0;
	}
	if (!t->in_loop) {
		if (!wl_reserve(loop)) {
			/* the loop is full: this stream holds its thread */
			if (!t->holds_thread && app.stream_began)
				app.stream_began();
			t->holds_thread = true;
			return -1;
		}
		t->in_loop = true;
		io_fcgx_lean(&t->io, &t->lean, &t->r, task_wait_out, t);
	}
	t->wait.fd = fd;
	t->wait.events = EPOLLIN;
	t->wait.due_ms = wl_now_ms() + ms;
	fiber_yield(req->fiber);
	log_set_request_id(req->id);  /* perhaps another thread's now */
	return 0;
}

/* app.waits_in_loop: has the request on this fiber waited in the loop? */
static bool task_in_loop(struct request *req)
{
	return TASK_OF(req, req)->in_loop;
}

/* The lean writer's wait for a client that reads slowly: in the loop,
 * so that it holds up no other stream. */
static int task_wait_out(void *ctx, int fd, long ms)
{
	struct task *t = ctx;
	t->wait.fd = fd;
	t->wait.events = EPOLLOUT;
	t->wait.due_ms = wl_now_ms() + ms;
	fiber_yield(t->wait.fiber);
	log_set_request_id(t->req.id);
	return 0;
}

/* The loop's done(): a task that ended in it. */
static void task_done(struct wl_wait *w, void *ctx)
{
	struct task *t = TASK_OF(w, wait);
	(void)ctx;
	fiber_free(w->fiber);
	task_free(t);
}

/* Serves the request begun in t: on a fiber when it may stream and the
 * process has a loop. true: it went on waiting in the loop, which owns t
 * now; false: it is answered, and t is the caller's to end and reuse. */
static bool serve_task(struct task *t)
{
	struct fiber *f = loop && route_may_stream(&t->req) ? fiber_new(task_serve, t) : NULL;
	if (!f) {
		route_dispatch(&t->req);
		return false;
	}
	t->wait.fiber = t->req.fiber = f;
	t->in_loop = t->holds_thread = false;
	if (!fiber_resume(f)) {
		wl_adopt(loop, &t->wait);
		return true;
	}
	fiber_free(f);
	t->wait.fiber = t->req.fiber = NULL;
	return false;
}

/* ---- the reserve: /health while every worker streams ---- */

/* Each worker thread may hold a stream for minutes, and /health (a load
 * balancer's probe, the image's HEALTHCHECK) must still answer then. One
 * more thread per process, the reserve, accepts only while every worker is
 * in a request: it answers itself whatever does not hold a thread (every
 * route without R_MAY_STREAM: /health, /v1/models, errors) and parks the
 * rest for the next worker that is free, adding workers (below) while it
 * may, so that one takes it at once. So THREADS + STREAM_THREADS is the number
 * of streams a process runs, nothing is refused, and a probe never waits
 * behind a stream. Only with that many streams running and THREADS more
 * parked does the reserve itself wait for room. */
static long n_workers;              /* worker threads alive, THREADS and the added ones */
static long max_workers;            /* THREADS + STREAM_THREADS */
static long busy_workers;           /* worker threads inside a request */
static size_t park_room;            /* THREADS */
static struct task **parked;        /* park_room places, FIFO */
static size_t n_parked, park_head;
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;  /* every worker busy, a place freed, a stop */
static int park_pipe[2] = { -1, -1 };  /* one byte per parked request: wakes a polling worker */
/* guarded by park_lock, as the counts above: */
static unsigned long all_busy_count;  /* times every worker became busy (a worker that
				       * leaves a request and takes the next counts anew) */
static bool reserve_asleep;           /* the reserve waits on park_cond for all_busy_count */

/* Every worker busy is a moment under load (16 connections on 4 workers
 * relaying: most requests end one), a shortage only when it lasts. The
 * reserve sleeps until the first such moment, then looks every
 * RESERVE_LOOK_MS while they keep coming, and takes connections only when
 * no worker left a request in a whole look. Woken at every moment, it
 * cost a relayed request a futex wake, a context switch and ~9 µs
 * (bench/run's relay point). */
#define RESERVE_LOOK_MS 10
static void busy_change(long delta)
{
	pthread_mutex_lock(&park_lock);
	busy_workers += delta;
	if (delta > 0 && busy_workers >= n_workers) {
		all_busy_count++;
		if (reserve_asleep)
			pthread_cond_broadcast(&park_cond);
	}
	pthread_mutex_unlock(&park_lock);
}

/* Parks c for a worker; false when there is no room and we are stopping
 * (the caller answers it itself then). Waits for room otherwise. */
static bool park_push(struct task *c)
{
	pthread_mutex_lock(&park_lock);
	while (n_parked == park_room && !atomic_load(&stopping))
		pthread_cond_wait(&park_cond, &park_lock);
	bool room = n_parked < park_room;
	if (room) {
		parked[(park_head + n_parked++) % park_room] = c;
		(void)!write(park_pipe[1], "p", 1);
	}
	pthread_mutex_unlock(&park_lock);
	return room;
}

/* The oldest parked request, or NULL. */
static struct task *park_pop(void)
{
	struct task *c = NULL;
	pthread_mutex_lock(&park_lock);
	if (n_parked) {
		char b;
		c = parked[park_head];
		park_head = (park_head + 1) % park_room;
		n_parked--;
		(void)!read(park_pipe[0], &b, 1);
		pthread_cond_broadcast(&park_cond);
	}
	pthread_mutex_unlock(&park_lock);
	return c;
}

/* Answers a request the reserve accepted and began in t (ours), and
 * closes its connection: no worker waits on it for the next. */
static void serve_parked(struct task *t, bool counts_as_busy)
{
	if (counts_as_busy)
		busy_change(1);
	log_set_request_id(t->req.id);
	if (!serve_task(t)) {
		request_end(&t->req);
		t->r.keepConnection = 0;
		io_fcgx_finish(&t->r);
		task_free(t);
	}
	if (counts_as_busy)
		busy_change(-1);
}

/* ---- added workers: the pool grows with the streams ---- */

/* A stream waits for minutes with almost nothing to do, so a thread per
 * stream is cheap as long as the thread is: what it touches of its stack
 * (a few pages; the rest is address space), its struct request and its
 * libcurl handles. When a worker starts a stream and fewer than
 * ADDED_SPARE others are left waiting for a connection, it starts more (up
 * to THREADS + STREAM_THREADS), so that a new stream never queues behind
 * running ones; an added worker idle for ADDED_IDLE_S ends. Short requests
 * never grow the pool: THREADS serve them as before. Why a thread per
 * stream rather than one event loop for all: bench/results.md. */
#if defined(__SANITIZE_ADDRESS__)
#define ADDED_STACK_BYTES (2L << 20)   /* ASan's redzones triple the frames */
#else
#define ADDED_STACK_BYTES (256L << 10) /* a stream touches ~24 KiB of it (bench/run) */
#endif
#define ADDED_IDLE_S 10
#define ADDED_SPARE 4   /* workers kept waiting for a connection while the pool may grow */

static long n_added;                 /* added workers alive */
static pthread_cond_t added_ended = PTHREAD_COND_INITIALIZER;

static void *worker(void *added);

/* app.stream_began: when fewer than ADDED_SPARE workers are waiting for a
 * connection, starts more, so that a burst of new streams does not wait
 * for threads one by one. */
static void pool_grow(void)
{
	pthread_mutex_lock(&park_lock);
	long spare = n_workers - busy_workers;
	for (; spare < ADDED_SPARE && n_workers < max_workers; spare++) {
		pthread_attr_t attr;
		pthread_t t;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, ADDED_STACK_BYTES);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&t, &attr, worker, (void *)1);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			log_warn("cannot add a worker thread (%ld running): requests wait for one", n_workers);
			break;
		}
		n_workers++;
		n_added++;
	}
	pthread_mutex_unlock(&park_lock);
}

/* An added worker idle for ADDED_IDLE_S, or stopping, leaves the pool. */
static void pool_leave(void)
{
	pthread_mutex_lock(&park_lock);
	n_workers--;
	n_added--;
	pthread_cond_broadcast(&park_cond);
	pthread_cond_broadcast(&added_ended);
	pthread_mutex_unlock(&park_lock);
}

/* At a stop: the added workers finish what they serve, then end. */
static void pool_join_added(void)
{
	pthread_mutex_lock(&park_lock);
	while (n_added > 0)
		pthread_cond_wait(&added_ended, &park_lock);
	pthread_mutex_unlock(&park_lock);
}

/* ---- FastCGI workers ---- */

enum wake { WAKE_READABLE, WAKE_PARKED, WAKE_STOP, WAKE_IDLE };

/* Waits until fd is readable, a request is parked or the process is
 * stopping; WAKE_IDLE after timeout_ms (-1: never). */
static enum wake wait_readable(int fd, int timeout_ms)
{
	struct pollfd p[3] = { { fd, POLLIN, 0 }, { stop_pipe[0], POLLIN, 0 }, { park_pipe[0], POLLIN, 0 } };
	for (;;) {
		if (atomic_load(&stopping))
			return WAKE_STOP;
		int n = poll(p, 3, timeout_ms);
		if (n == 0)
			return WAKE_IDLE;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (p[1].revents & POLLIN))
			return WAKE_STOP;
		if (p[2].revents & POLLIN)
			return WAKE_PARKED;
		if (p[0].revents)
			return WAKE_READABLE;
	}
}

/* Each worker accepts its own connections so that a stop can wake it: it
 * polls the (non-blocking) listening socket and a stop pipe, accepts, and
 * hands the connection to libfcgi through FCGX_Request.ipcFd. libfcgi's own
 * FCGX_ShutdownPending() would also break requests in flight, which a
 * graceful stop must let finish. The request's listen_sock is -1 so that
 * libfcgi never blocks in accept() itself. A request the reserve parked
 * comes first. added: NULL for the THREADS workers, which run until the
 * stop; an added one (pool_grow) ends once idle for ADDED_IDLE_S. */
static void *worker(void *added)
{
	struct task *t = task_new();
	struct task *c;
	int idle_ms = added ? ADDED_IDLE_S * 1000 : -1;
	bool idle_end = false;

	while (!atomic_load(&stopping)) {
		if ((c = park_pop())) {
			serve_parked(c, true);
			continue;
		}
		if (t->r.ipcFd < 0) {
			if (added) {
				struct timespec until;
				clock_gettime(CLOCK_REALTIME, &until);
				until.tv_sec += ADDED_IDLE_S;
				if (pthread_mutex_timedlock(&accept_lock, &until) != 0) {
					idle_end = true;
					break;
				}
			} else {
				pthread_mutex_lock(&accept_lock);
			}
			enum wake w = wait_readable(listen_fd, idle_ms);
			int fd = w == WAKE_READABLE ? accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC) : -1;
			pthread_mutex_unlock(&accept_lock);
			if (w == WAKE_STOP)
				break;
			if (w == WAKE_IDLE) {
				idle_end = true;
				break;
			}
			if (fd < 0)
				continue; /* parked, another process took it, or the client left */
			t->r.ipcFd = fd;
		} else {
			enum wake w = wait_readable(t->r.ipcFd, -1);
			if (w == WAKE_STOP)
				break; /* a kept-alive connection, idle while we stop */
			if (w == WAKE_PARKED)
				continue;
		}
		t->r.keepConnection = 1; /* stops FCGX_Accept_r from closing the fd we just set */
		if (FCGX_Accept_r(&t->r) < 0) {
			t->r.ipcFd = -1;
			continue;
		}
		busy_change(1);
		request_begin(&t->req, &app, &t->io);
		if (serve_task(t)) {
			t = task_new();  /* the old one waits in the loop, with its connection */
		} else {
			request_end(&t->req);
			io_fcgx_finish(&t->r);
		}
		busy_change(-1);
	}
	/* What the reserve parked before the stop is in flight too. */
	while (!idle_end && (c = park_pop()))
		serve_parked(c, true);
	task_free(t);
	if (added)
		pool_leave();
	return NULL;
}

static void *reserve(void *unused)
{
	(void)unused;
	unsigned long seen = 0;  /* all_busy_count at the last look */
	while (!atomic_load(&stopping)) {
		pthread_mutex_lock(&park_lock);
		if (all_busy_count == seen) {  /* none since the last look: sleep until one */
			reserve_asleep = true;
			while (busy_workers < n_workers && !atomic_load(&stopping))
				pthread_cond_wait(&park_cond, &park_lock);
			reserve_asleep = false;
		}
		seen = all_busy_count;
		pthread_mutex_unlock(&park_lock);
		/* A look later: a worker that left a request meanwhile took (or
		 * will take) the next connection itself. */
		struct pollfd stop = { stop_pipe[0], POLLIN, 0 };
		if (poll(&stop, 1, RESERVE_LOOK_MS) != 0)
			continue;
		pthread_mutex_lock(&park_lock);
		/* held: all still busy, and none left a request to take another */
		bool stuck = busy_workers >= n_workers && all_busy_count == seen;
		pthread_mutex_unlock(&park_lock);
		if (!stuck)
			continue;
		/* Every worker is held: take the next connection, but look again
		 * every 100 ms whether one is free (it then accepts as usual). */
		struct pollfd p[2] = { { listen_fd, POLLIN, 0 }, { stop_pipe[0], POLLIN, 0 } };
		if (poll(p, 2, 100) <= 0 || (p[1].revents & POLLIN))
			continue;
		/* A worker freed while we polled takes the connection itself:
		 * parked, it would cost a hand-over and a wake for nothing. */
		pthread_mutex_lock(&park_lock);
		bool all_busy = busy_workers >= n_workers;
		pthread_mutex_unlock(&park_lock);
		if (!all_busy)
			continue;
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct task *t = task_new();
		t->r.ipcFd = fd;
		t->r.keepConnection = 1;
		if (FCGX_Accept_r(&t->r) < 0) {
			t->r.ipcFd = -1;
			task_free(t);
			continue;
		}
		request_begin(&t->req, &app, &t->io);
		/* Parked, not a reason to grow: the route may stream, but most
		 * requests on it do not, and every worker being busy with short
		 * answers is a moment, not a shortage (the pool grows when a
		 * stream's head goes out, app.stream_began). */
		if (route_may_stream(&t->req) && park_push(t))
			continue;
		serve_parked(t, false);
	}
	return NULL;
}

static int open_listener(const char *addr)
{
	/* FCGX_OpenSocket takes ":port", "host:port" or a path; it only binds
	 * loopback for ":port", so pass what the user wrote. */
	int fd = FCGX_OpenSocket(addr, 1024);
	if (fd < 0)
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "cannot listen on %s", addr);
	return fd;
}

/* A stream holds its FastCGI connection, an upstream socket and libcurl's
 * wake-up pair: the soft limit on descriptors (often 1024) goes up towards
 * the hard one when `requests` of them could need more. */
static void raise_fd_limit(long requests)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)requests * 5 + 64;  /* and the epoll of its libcurl handles */
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warn("open files limited to %lu: fewer than %ld concurrent requests may fit",
			 (unsigned long)rl.rlim_cur, requests);
}

static int serve_fastcgi(const struct options *o)
{
	long nthreads = o->threads ? o->threads : app.cfg.threads;
	pthread_t *tids = xcalloc((size_t)nthreads + 1, sizeof *tids);
	sigset_t set;

	n_workers = nthreads;
	max_workers = nthreads + app.cfg.stream_threads;
	app.stream_began = pool_grow;
	park_room = (size_t)nthreads;
	parked = xcalloc((size_t)nthreads, sizeof *parked);
	raise_fd_limit(max_workers + app.cfg.loop_streams);
	if (pipe2(stop_pipe, O_CLOEXEC) != 0 || pipe2(park_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return EX_SOFTWARE_;
	int fl = fcntl(listen_fd, F_GETFL);
	fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Under a master SIGHUP is the master's reload, which replaces this
	 * process; one sent to the whole process group must not stop it. */
	if (procman_in_worker())
		signal(SIGHUP, SIG_IGN);
	else
		sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (app.cfg.loop_streams > 0) {
		char err[256];
		loop = wl_start((size_t)app.cfg.loop_streams, task_done, NULL, err, sizeof err);
		if (!loop)
			log_warn("%s: every stream holds a thread", err);
		else {
			app.stream_wait = task_wait;
			app.waits_in_loop = task_in_loop;
		}
	}
	for (long i = 0; i <= nthreads; i++)
		if (pthread_create(&tids[i], NULL, i < nthreads ? worker : reserve, NULL) != 0) {
			log_msg(LOG_CRITICAL, __FILE__, __LINE__, "cannot start worker thread %ld", i);
			return EX_SOFTWARE_;
		}
	log_info("%s %s serving FastCGI with %ld threads (up to %ld more for streams), a reserve and "
		 "a wait loop for %ld streams (%s)",
		 app.cfg.project_name, app.cfg.project_version, nthreads, max_workers - nthreads,
		 loop ? app.cfg.loop_streams : 0L, config_env_name(app.cfg.env));
	procman_worker_ready();

	int sig = 0;
	sigwait(&set, &sig);
	log_info("signal %d: finishing requests in flight, then exiting", sig);
	atomic_store(&stopping, 1);
	(void)!write(stop_pipe[1], "x", 1);
	pthread_mutex_lock(&park_lock);
	pthread_cond_broadcast(&park_cond);
	pthread_mutex_unlock(&park_lock);
	/* The reserve first: what it parks while the workers run is theirs. */
	pthread_join(tids[nthreads], NULL);
	for (long i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	pool_join_added();
	wl_stop(loop);  /* its streams end as the workers' did */
	loop = NULL;
	app.stream_wait = NULL;
	app.waits_in_loop = NULL;
	for (struct task *t; (t = park_pop());)
		serve_parked(t, false);
	task_cache_free();
	free(parked);
	free(tids);
	return EX_OK_;
}

/* The master's hooks (procman.h). */
static int master_reload_settings(void)
{
	struct config cfg;
	if (load_settings(&opts, &cfg) != 0)
		return -1;
	config_free(&app.cfg);
	app.cfg = cfg;
	return 0;
}

static int master_run_worker(void)
{
	/* The worker reads the settings itself, so that a reload's new
	 * workers run with the file as it is now. */
	config_free(&app.cfg);
	memset(&app.cfg, 0, sizeof app.cfg);
	if (load_settings(&opts, &app.cfg) != 0 || open_state() != 0)
		return EX_CONFIG_;
	int rc = serve_fastcgi(&opts);
	close_state();
	config_free(&app.cfg);
	return rc;
}

/* FastCGI on listen_fd: this process with its threads, or a master of
 * --processes workers. */
static int serve(const struct options *o)
{
	if (!o->processes)
		return serve_fastcgi(o);
	static const struct procman_hooks hooks = { master_reload_settings, master_run_worker };
	return procman_run((size_t)o->processes, &hooks);
}

static int serve_cgi(void)
{
	struct req_io io;
	struct request req;
	memset(&req, 0, sizeof req);
	io_cgi_bind(&io);
	request_begin(&req, &app, &io);
	route_dispatch(&req);
	fflush(stdout);
	request_end(&req);
	request_free(&req);
	return EX_OK_;
}

/* --usage: the table of the usage file, from --since on. */
static int print_usage(const struct options *o)
{
	struct um_row *rows;
	size_t n;
	struct um_gauges g;
	int32_t since = INT32_MIN;
	if (o->usage_since)
		um_parse_day(o->usage_since, &since);  /* checked by parse_options */
	if (um_snapshot(app.usage, &rows, &n, &g) != 0)
		return EX_SOFTWARE_;
	strbuf sb = STRBUF_INIT;
	um_report(rows, n, since, o->usage_json, &sb);
	fputs(sb_str(&sb), stdout);
	sb_free(&sb);
	free(rows);
	return EX_OK_;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	bool version = false;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (parse_options(argc, argv, &o, &version) != 0)
		return EX_USAGE_;
	opts = o;
	/* A master only checks the settings; its workers open the state. */
	bool master = o.processes && !version && !o.check_config;
	if (load_settings(&o, &app.cfg) != 0 || (!master && open_state() != 0)) {
		if (!version)
			return EX_CONFIG_;
		/* configure took the same name and version from pyproject.toml */
		printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return EX_OK_;
	}
	if (version) {
		printf("%s %s\n", app.cfg.project_name, app.cfg.project_version);
		rc = EX_OK_;
	} else if (o.check_config) {
		strbuf sb = STRBUF_INIT;
		config_describe(&app.cfg, &sb);
		fputs(sb_str(&sb), stdout);
		sb_free(&sb);
		rc = EX_OK_;
	} else if (o.usage) {
		rc = print_usage(&o);
	} else if (FCGX_Init() != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "libfcgi failed to initialise");
		rc = EX_SOFTWARE_;
	} else if (!o.listen && !FCGX_IsCGI()) {
		listen_fd = 0; /* spawn-fcgi or the web server handed us the socket */
		rc = serve(&o);
	} else if (!o.listen && getenv("GATEWAY_INTERFACE")) {
		/* --processes means nothing for one CGI request */
		rc = master && open_state() != 0 ? EX_CONFIG_ : serve_cgi();
	} else {
		char addr[300];
		if (o.listen)
			snprintf(addr, sizeof addr, "%s", o.listen);
		else
			snprintf(addr, sizeof addr, "%s:%ld", app.cfg.host, app.cfg.port);
		listen_fd = open_listener(addr);
		rc = listen_fd < 0 ? EX_CONFIG_ : serve(&o);
	}
	close_state();
	config_free(&app.cfg);
	return rc;
}
