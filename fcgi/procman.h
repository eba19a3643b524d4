/* procman.h: the master of --processes N: forks the workers, replaces the dead, passes stops on, reloads on SIGHUP */
#ifndef OAF_PROCMAN_H
#define OAF_PROCMAN_H
#include <stdbool.h>
#include <stddef.h>

/* What the master needs from the program it manages. */
struct procman_hooks {
	/* SIGHUP: reads and checks the settings again, logging any refusal
	 * exactly as start-up does. 0 when they were accepted (new workers will
	 * start with them), -1 when refused (the running workers stay). */
	int (*reload_settings)(void);
	/* Runs in a freshly forked worker: reads the settings, serves until
	 * stopped, and calls procman_worker_ready() once it accepts requests.
	 * Returns the worker's exit status (78 when its settings are refused). */
	int (*run_worker)(void);
};

/* Runs the master for processes (1..256) workers sharing the listening
 * socket the process holds, until SIGTERM or SIGINT (passed on to every
 * worker, which finishes its requests first). The master holds no request
 * state: no rate-limit mapping, no libcurl, no threads. Returns the exit
 * status for the master: 0 after a stop, 78 when every worker was refused
 * its settings at start, 70 when the master itself could not run. */
int procman_run(size_t processes, const struct procman_hooks *hooks);

/* In a worker: tells the master that this process accepts requests (a
 * reload stops an old worker only then). Does nothing outside a master. */
void procman_worker_ready(void);

/* True in a worker started by procman_run(): SIGHUP is the master's then. */
bool procman_in_worker(void);

#endif
