/* main.c: start-up, signals, and the accept loop of FastCGI worker threads (or one CGI request) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "backend_upstream.h"
#include "io.h"
#include "log.h"
#include "relocate.h"
#include "routes.h"
#include "usage.h"
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
	bool check_config;
	bool usage;             /* --usage: print the usage table, exit */
	bool usage_json;        /* --json */
	const char *usage_since;  /* --since YYYY-MM-DD, NULL: every day kept */
	const char *argv0;      /* how we were started: a relocatable build without /proc goes by it */
};

static struct app app;
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

static int parse_options(int argc, char **argv, struct options *o, bool *version)
{
	o->argv0 = argv[0];
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "usage", no_argument, NULL, 'U' },
		{ "since", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:l:t:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_file = optarg; break;
		case 'l': o->listen = optarg; break;
		case 't': {
			char *end;
			o->threads = strtol(optarg, &end, 10);
			if (*end || o->threads < 1 || o->threads > 256) {
				fprintf(stderr, "openai-fcgi: --threads takes a number from 1 to 256\n");
				return -1;
			}
			break;
		}
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

static int app_init(const struct options *o)
{
	struct config_paths paths = { o->config_file, NULL, environ, NULL };
#ifdef OAF_RELOCATABLE
	/* the static file uploaded to cgi-bin: config and state beside it */
	static char exe[4096];
	if (reloc_exe_path(o->argv0, exe, sizeof exe) == 0)
		paths.program_path = exe;
#endif
	struct config_report rep;
	int rc = config_load(&paths, &app.cfg, &rep);
	if (rc == 0) {
		log_setup(app.cfg.log_level, app.cfg.log_format == 1);
		if (app.cfg.log_file && log_redirect(app.cfg.log_file) != 0)
			log_msg(LOG_WARNING, __FILE__, __LINE__, "config: LOG_FILE: cannot append to %s; "
				"logging to stderr", app.cfg.log_file);
	}
	log_lines(LOG_WARNING, &rep.warnings);
	log_lines(LOG_CRITICAL, &rep.errors);
	config_report_free(&rep);
	if (rc != 0)
		return -1;

	char err[256];
	if (auth_keyring_init(&app.keys, app.cfg.tokens, app.cfg.n_tokens, err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: API_AUTH_TOKENS: %s", err);
		return -1;
	}
	if (rl_open(app.cfg.rate_limit_file, &app.rl, err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: RATE_LIMIT_FILE (%s): %s",
			app.cfg.rate_limit_file, err);
		return -1;
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
	/* libcurl is loaded here, before any request, only when a model needs
	 * it: without it, a mock-only process starts ~15 ms sooner and maps
	 * ~6 MiB less, and with it missing, start-up fails, not each request. */
	if (upstream_preload(&app.cfg, err, sizeof err) != 0) {
		log_msg(LOG_CRITICAL, __FILE__, __LINE__, "config: upstream models: %s", err);
		return -1;
	}
	return 0;
}

/* ---- FastCGI workers ---- */

/* Waits until fd is readable or the process is stopping; true if readable. */
static bool wait_readable(int fd)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { stop_pipe[0], POLLIN, 0 } };
	for (;;) {
		if (atomic_load(&stopping))
			return false;
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (p[1].revents & POLLIN))
			return false;
		if (p[0].revents)
			return true;
	}
}

/* Each worker accepts its own connections so that a stop can wake it: it
 * polls the (non-blocking) listening socket and a stop pipe, accepts, and
 * hands the connection to libfcgi through FCGX_Request.ipcFd. libfcgi's own
 * FCGX_ShutdownPending() would also break requests in flight, which a
 * graceful stop must let finish. The request's listen_sock is -1 so that
 * libfcgi never blocks in accept() itself. */
static void *worker(void *unused)
{
	FCGX_Request r;
	struct req_io io;
	struct request req;
	(void)unused;
	memset(&req, 0, sizeof req);
	FCGX_InitRequest(&r, -1, 0);
	io_fcgx_bind(&io, &r);

	while (!atomic_load(&stopping)) {
		if (r.ipcFd < 0) {
			pthread_mutex_lock(&accept_lock);
			bool ready = wait_readable(listen_fd);
			int fd = ready ? accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC) : -1;
			pthread_mutex_unlock(&accept_lock);
			if (!ready)
				break;
			if (fd < 0)
				continue; /* another process took it, or the client left */
			r.ipcFd = fd;
		} else if (!wait_readable(r.ipcFd)) {
			break; /* a kept-alive connection, idle while we stop */
		}
		r.keepConnection = 1; /* stops FCGX_Accept_r from closing the fd we just set */
		if (FCGX_Accept_r(&r) < 0) {
			r.ipcFd = -1;
			continue;
		}
		request_begin(&req, &app, &io);
		route_dispatch(&req);
		request_end(&req);
		FCGX_Finish_r(&r);
	}
	if (r.ipcFd >= 0)
		close(r.ipcFd);
	request_free(&req);
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

static int serve_fastcgi(const struct options *o)
{
	long nthreads = o->threads ? o->threads : app.cfg.threads;
	pthread_t *tids = xcalloc((size_t)nthreads, sizeof *tids);
	sigset_t set;

	if (pipe2(stop_pipe, O_CLOEXEC) != 0)
		return EX_SOFTWARE_;
	int fl = fcntl(listen_fd, F_GETFL);
	fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&tids[i], NULL, worker, NULL) != 0) {
			log_msg(LOG_CRITICAL, __FILE__, __LINE__, "cannot start worker thread %ld", i);
			return EX_SOFTWARE_;
		}
	log_info("%s %s serving FastCGI with %ld threads (%s)", app.cfg.project_name, app.cfg.project_version,
		 nthreads, config_env_name(app.cfg.env));

	int sig = 0;
	sigwait(&set, &sig);
	log_info("signal %d: finishing requests in flight, then exiting", sig);
	atomic_store(&stopping, 1);
	(void)!write(stop_pipe[1], "x", 1);
	for (long i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return EX_OK_;
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
	if (app_init(&o) != 0) {
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
		rc = serve_fastcgi(&o);
	} else if (!o.listen && getenv("GATEWAY_INTERFACE")) {
		rc = serve_cgi();
	} else {
		char addr[300];
		if (o.listen)
			snprintf(addr, sizeof addr, "%s", o.listen);
		else
			snprintf(addr, sizeof addr, "%s:%ld", app.cfg.host, app.cfg.port);
		listen_fd = open_listener(addr);
		rc = listen_fd < 0 ? EX_CONFIG_ : serve_fastcgi(&o);
	}
	rl_close(app.rl);
	um_close(app.usage);
	auth_keyring_free(&app.metrics_keys);
	auth_keyring_free(&app.keys);
	config_free(&app.cfg);
	return rc;
}
