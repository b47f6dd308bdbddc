/*
 * Worker threads: each takes a connection whose next request has begun,
 * reads the request with libfcgi and serves it (serve.c).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi.h"
#include "util.h"

/* accept() errors worth waiting out instead of giving up the thread. */
static int
accept_transient(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM ||
	    e == EINTR || e == EAGAIN || e == ECONNABORTED || e == EPROTO;
}

/*
 * Slow and stuck peers.  libfcgi reads a request's records with blocking
 * reads and no time limit, so a peer that sent one byte and stopped held
 * a worker for ever.  The workers therefore accept the connections
 * themselves (libfcgi is given no listening socket) and hand one to
 * FCGX_Accept_r() only once a request has begun, its first byte waiting,
 * with SO_RCVTIMEO set to --request-timeout: no read of its params waits
 * longer (FCGX_Accept_r() then drops the connection, and the worker
 * accepts the next one), the main thread ends params that are still
 * coming in after that time (watch_check), and fcgi_read_body() stops at
 * the same deadline counted from the first byte.
 *
 * A connection kept alive between requests (FCGI_KEEP_CONN) is not cut
 * by that limit: nginx keeps its idle FastCGI connections for
 * keepalive_timeout (60 s by default) and would fail a request sent on
 * one the gateway had just closed.  One idle for KEEPALIVE_IDLE seconds,
 * longer than that, is closed, as it is at shutdown, and its thread
 * serves others.  A new connection must start its request within
 * --request-timeout: web servers connect when they have one to send.
 */
#define KEEPALIVE_IDLE	300		/* seconds */
#define WAIT_SLICE	500		/* ms between looks at g.stopping */

/*
 * Waits up to ms for fd to become readable (or to fail: FCGX_Accept_r()
 * then finds out).  1 when it did, 0 on timeout or when stopping.
 */
static int
conn_wait(int fd, long long ms)
{
	struct pollfd	 pfd;
	struct timespec	 t0;
	long long	 left;
	int		 rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (atomic_load(&g.stopping))
			return 0;
		if ((left = ms - mono_elapsed_ms(&t0)) <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = poll(&pfd, 1, left > WAIT_SLICE ? WAIT_SLICE : (int)left);
		if (rc > 0 || (rc == -1 && errno != EINTR))
			return 1;
	}
}

/* Closes the connection r holds, without libfcgi's lingering close. */
static void
conn_drop(FCGX_Request *r)
{
	close(r->ipcFd);
	r->ipcFd = -1;
}

/*
 * Gives r a connection whose next request has begun (see above): the one
 * it kept alive, or a new one from the listener.  *first is when its
 * first byte was seen.  Returns 0, or -1 when the worker should stop.
 * ipcFd and keepConnection are "do not use" fields of FCGX_Request
 * (fcgiapp.h): with ipcFd set, FCGX_Accept_r() reads from it instead of
 * accepting, and keepConnection keeps the FCGX_Finish_r() it starts with
 * from closing it; the request's FCGI_BEGIN_REQUEST then sets it anew.
 * (libfcgi's own accept also honoured FCGI_WEB_SERVER_ADDRS, a list of
 * peer addresses allowed on a TCP listener; no configuration in deploy/
 * sets it, and it no longer applies: listen on loopback or a Unix socket.)
 */
static int
conn_next(FCGX_Request *r, struct timespec *first)
{
	struct timespec	 pause = { 0, 100 * 1000000L };
	int		 fd;

	for (;;) {
		if (atomic_load(&g.stopping)) {
			if (r->ipcFd >= 0)
				conn_drop(r);
			return -1;
		}
		if (r->ipcFd >= 0) {
			if (conn_wait(r->ipcFd, KEEPALIVE_IDLE * 1000LL))
				break;
			conn_drop(r);
			continue;
		}
		if ((fd = accept4(g.listen_fd, NULL, NULL, SOCK_CLOEXEC)) ==
		    -1) {
			if (atomic_load(&g.stopping))
				return -1;
			if (accept_transient(errno)) {
				/* out of descriptors: pause, as OpenBSD
				 * httpd does, rather than spin or die */
				nanosleep(&pause, NULL);
				continue;
			}
			fprintf(stderr, PROG ": worker: accept failed: %s\n",
			    strerror(errno));
			return -1;
		}
		r->ipcFd = fd;
		r->keepConnection = 1;
		if (conn_wait(fd, g.config.request_timeout * 1000LL))
			break;
		conn_drop(r);
	}
	clock_gettime(CLOCK_MONOTONIC, first);
	conn_read_limit(r->ipcFd, g.config.request_timeout * 1000LL);
	return 0;
}

/*
 * SO_RCVTIMEO bounds each read of the params, not their sum: a peer that
 * sends a byte every second would pass it for ever.  So a worker also
 * arms its watch while FCGX_Accept_r() reads the params, and the main
 * thread (watch_check, every second) shuts a connection whose deadline
 * passed down: libfcgi's read returns at once, it drops the connection,
 * and the worker takes the next.  The body is bounded by
 * fcgi_read_body() itself.
 */
static void
watch_arm(struct watch *w, int fd, const struct timespec *first)
{
	pthread_mutex_lock(&w->mu);
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	w->deadline = *first;
	w->deadline.tv_sec += (time_t)g.config.request_timeout;
	pthread_mutex_unlock(&w->mu);
}

static void
watch_disarm(struct watch *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	pthread_mutex_unlock(&w->mu);
}

/* The main thread: ends the params reads that are past their deadline. */
void
watch_check(void)
{
	struct timespec	 now;
	struct watch	*w;
	int		 i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < g.config.threads; i++) {
		w = &g.watch[i];
		pthread_mutex_lock(&w->mu);
		if (w->fd != -1 && (now.tv_sec > w->deadline.tv_sec ||
		    (now.tv_sec == w->deadline.tv_sec &&
		    now.tv_nsec >= w->deadline.tv_nsec)))
			shutdown(w->fd, SHUT_RDWR);
		pthread_mutex_unlock(&w->mu);
	}
}

void *
worker_main(void *arg)
{
	FCGX_Request		 r;
	struct timespec		 first;
	struct watch		*w = arg;
	int			 rc;

	/* no listening socket: conn_next() hands over each connection */
	FCGX_InitRequest(&r, -1, 0);
	while (conn_next(&r, &first) == 0) {
		watch_arm(w, r.ipcFd, &first);
		rc = FCGX_Accept_r(&r);
		watch_disarm(w);
		/* a failure (a read timed out, the peer left, a protocol
		 * error) has closed the connection: take the next one */
		if (rc < 0)
			continue;
		atomic_fetch_add(&g.busy, 1);
		serve_fcgi(&r, &first);
		FCGX_Finish_r(&r);
		atomic_fetch_sub(&g.busy, 1);
	}
	FCGX_Free(&r, 1);
	atomic_fetch_sub(&g.alive, 1);
	return NULL;
}
