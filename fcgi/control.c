/*
 * The main thread once the workers run: every signal is taken here, by
 * sigtimedwait(), the manifest is polled, stuck params reads are ended
 * (watch_check), and at SIGTERM the running requests are let finish.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi.h"
#include "logsink.h"
#include "metrics.h"
#include "proxy.h"
#include "util.h"
#include "xmalloc.h"

#define DRAIN_EXTRA	10	/* seconds to wait beyond --upstream-timeout */


/*
 * Signals caught by a handler instead of sigtimedwait(): only possible
 * when a thread we did not create (a sanitizer's, a library's) leaves
 * them unblocked and the kernel picks it.  Without a handler of ours,
 * libfcgi's would take SIGTERM and SIGUSR1 there, and we would never
 * hear of them.  Lock-free atomics are async-signal-safe (C11 7.14.1.1).
 */
static atomic_int	 caught_term, caught_hup, caught_usr1;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		atomic_store(&caught_hup, 1);
	else if (sig == SIGUSR1)
		atomic_store(&caught_usr1, 1);
	else
		atomic_store(&caught_term, 1);
}

/*
 * Before FCGX_Init and before any thread: blocked in every thread, these
 * are only ever taken by sigtimedwait() on the main thread, so no libfcgi
 * read or write sees EINTR (it does not retry).  Our handlers replace
 * libfcgi's as a fallback (on_signal).  *set gets the signals for
 * control_loop() and drain().  Returns 0, or -1 when FCGX_Init fails.
 */
int
signals_setup(sigset_t *set)
{
	struct sigaction sa;

	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	if (FCGX_Init() != 0) {
		fprintf(stderr, PROG ": FCGX_Init failed\n");
		return -1;
	}
	/* after FCGX_Init, which installs its own */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	return 0;
}

/* The next signal, waiting at most `timeout`; 0 when none came. */
static int
signal_next(const sigset_t *set, const struct timespec *timeout)
{
	int	 sig;

	if ((sig = sigtimedwait(set, NULL, timeout)) > 0)
		return sig;
	if (atomic_exchange(&caught_term, 0))
		return SIGTERM;
	if (atomic_exchange(&caught_hup, 0))
		return SIGHUP;
	if (atomic_exchange(&caught_usr1, 0))
		return SIGUSR1;
	return 0;
}

static void
log_reopen(void)
{
	if (logsink_reopen(g.log) == -1)
		fprintf(stderr, PROG ": cannot reopen the log %s: %s\n",
		    g.config.log, strerror(errno));
}

static void
now_mono(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

/*
 * SIGTERM/SIGINT (§15): stop accepting, let running requests finish,
 * exit 0.  An own listener is shut down, so that new connections are
 * refused at once; an inherited one (fd 0, systemd) may be shared with
 * sibling processes and is left alone.  The event loop closes the idle
 * connections (conn.c), idle workers and transfer threads leave, and the
 * wait is for the requests in progress (`busy`, transfers included).  A
 * second signal, or the deadline, ends the wait early.  Returns 1 when
 * every worker and transfer thread has ended (the workers can be
 * joined).
 */
/* (Observed with libfcgi's own handlers: SIGTERM ran a flag-setting
 * handler on the main thread and the workers stayed blocked in accept(),
 * the process alive; hence one thread taking every signal and this.) */
int
drain(const sigset_t *set)
{
	struct timespec	 tick = { 0, 50 * 1000000L }, start;
	long long	 limit = (g.config.upstream_timeout + DRAIN_EXTRA) *
			    1000LL;
	int		 sig;

	atomic_store(&g.stopping, 1);
	FCGX_ShutdownPending();
	if (g.own_listener)
		shutdown(g.listen_fd, SHUT_RDWR);
	conn_wake_all();
	transfer_wake_all();
	now_mono(&start);
	for (;;) {
		if (atomic_load(&g.alive) == 0 && transfer_running() == 0)
			return 1;
		if (mono_elapsed_ms(&start) > limit) {
			fprintf(stderr, PROG ": %d requests still running "
			    "after %lld s, exiting\n", atomic_load(&g.busy),
			    limit / 1000);
			return 0;
		}
		sig = signal_next(set, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			fprintf(stderr, PROG ": second signal, exiting with "
			    "%d requests running\n", atomic_load(&g.busy));
			return 0;
		}
		if (sig == SIGHUP || sig == SIGUSR1)
			log_reopen();
		/* params still coming in are cut at their deadline */
		watch_check();
	}
}

/*
 * The main thread after the workers started: every signal is handled
 * here, synchronously, and the manifest is polled every --poll seconds.
 * Returns when the process should stop.
 */
void
control_loop(const sigset_t *set)
{
	struct timespec	 tick = { 1, 0 }, last;
	int		 sig;

	now_mono(&last);
	for (;;) {
		sig = signal_next(set, &tick);
		switch (sig) {
		case SIGTERM:
		case SIGINT:
			return;
		case SIGHUP:
			manifest_reload("SIGHUP", 0);
			log_reopen();
			now_mono(&last);
			break;
		case SIGUSR1:
			log_reopen();
			break;
		default:
			break;
		}
		memory_trim();
		watch_check();
		if (atomic_load(&g.alive) == 0) {
			fprintf(stderr, PROG ": every worker has stopped, "
			    "exiting\n");
			exit(1);
		}
		if (g.config.poll > 0 &&
		    mono_elapsed_ms(&last) >= g.config.poll * 1000LL) {
			if (msource_changed(&g.src))
				manifest_reload("changed", 1);
			else if (g.src.last_valid)
				manifest_confirmed();
			now_mono(&last);
		}
	}
}

/*
 * Raises the soft limit on open descriptors to the hard one.  Every
 * connection the web server keeps open now costs a descriptor and no
 * thread (conn.c), and every proxied transfer three or four more
 * (transfer.c): a stock soft limit of 1,024 would be the first to run
 * out.  (libfcgi's lingering close polls with poll(2), not select(2),
 * so descriptors past FD_SETSIZE are safe with it; the program never
 * calls libfcgi's accept, which selects.)
 */
static void
nofile_raise(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Serves until a signal says stop (§15). */
int
cmd_serve(void)
{
	sigset_t	 set;
	pthread_attr_t	 attr;
	pthread_t	*tids;
	struct manifest	*m;
	const char	*err;
	int		 i, n, all_joined, pending = 0;

	if (signals_setup(&set) == -1)
		return 1;

	if ((m = load_startup(&pending)) == NULL)
		return 1;
	g.cur = state_new(m, NULL);
	if ((g.log = logsink_open(g.config.log, &err)) == NULL) {
		fprintf(stderr, PROG ": --log %s: %s\n", g.config.log, err);
		return 1;
	}
	if ((g.listen_fd = listener_open()) == -1)
		return 1;
	g.stats = metrics_open(g.config.state_dir, g.listen_fd, &g.own, PROG);
	nofile_raise();
	if (conn_loop_start() == -1)
		return 1;

	if (g.config.threads == 0)
		g.config.threads = gw_config_threads();
	n = g.config.threads;
	tids = xcalloc((size_t)n, sizeof(*tids));
	g.watch = xcalloc((size_t)n, sizeof(*g.watch));
	for (i = 0; i < n; i++) {
		pthread_mutex_init(&g.watch[i].mu, NULL);
		g.watch[i].fd = -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	for (i = 0; i < n; i++) {
		atomic_fetch_add(&g.alive, 1);
		if ((errno = pthread_create(&tids[i], &attr, worker_main,
		    &g.watch[i])) != 0) {
			fprintf(stderr, PROG ": cannot start a worker: %s\n",
			    strerror(errno));
			exit(1);
		}
	}
	pthread_attr_destroy(&attr);
	fprintf(stderr, PROG " %s: serving %s with %d threads\n", gw_version,
	    g.src.where, n);
	if (pending)
		image_complete();	/* answering meanwhile */

	control_loop(&set);
	all_joined = drain(&set);
	metrics_detach();
	if (g.unix_path != NULL)
		unlink(g.unix_path);
	if (!all_joined)
		exit(0);	/* requests cut short end with the process */
	conn_loop_join();
	for (i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	for (i = 0; i < n; i++)
		pthread_mutex_destroy(&g.watch[i].mu);
	free(g.watch);
	pool_free();
	proxy_free(g.fetcher);
	return 0;
}
