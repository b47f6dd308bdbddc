/*
 * Worker threads.  A worker takes a connection whose next request has
 * begun from the event loop (conn.c), reads the request with
 * FCGX_Accept_r(), serves it (serve.c) and gives the connection back; a
 * proxied answer goes to a transfer thread instead (transfer.c), so that
 * redirects and generated pages never wait behind proxied transfers.
 *
 * Slow and stuck peers.  libfcgi reads a request's records with blocking
 * reads and no time limit, so a peer that sent one byte and stopped would
 * hold a worker for ever.  libfcgi is therefore given no listening
 * socket: the loop accepts, and a worker hands a connection to
 * FCGX_Accept_r() only once a request has begun, its first byte waiting,
 * with SO_RCVTIMEO set to --request-timeout: no read of its params waits
 * longer (FCGX_Accept_r() then drops the connection, and the worker takes
 * the next one), the main thread ends params that are still coming in
 * after that time (watch_check), and fcgi_read_body() stops at the same
 * deadline counted from the first byte.  ipcFd and keepConnection are
 * "do not use" fields of FCGX_Request (fcgiapp.h): with ipcFd set,
 * FCGX_Accept_r() reads from it instead of accepting, and keepConnection
 * keeps the FCGX_Finish_r() it starts with from closing it; the request's
 * FCGI_BEGIN_REQUEST then sets it anew.  (libfcgi's own accept also
 * honoured FCGI_WEB_SERVER_ADDRS, a list of peer addresses allowed on a
 * TCP listener; no configuration in deploy/ sets it, and it no longer
 * applies: listen on loopback or a Unix socket.)
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi.h"
#include "xmalloc.h"

static struct exchange *
exchange_new(void)
{
	struct exchange	*ex;

	ex = xcalloc(1, sizeof(*ex));
	/* no listening socket: the loop hands over each connection */
	FCGX_InitRequest(&ex->r, -1, 0);
	return ex;
}

/*
 * After the answer: FCGX_Finish_r() frees what libfcgi held for the
 * request, and closes the connection if it is no longer sound; else a
 * connection the web server asked to keep (FCGI_KEEP_CONN) goes back to
 * the loop, and one it did not is closed by the loop (conn_linger),
 * not by libfcgi, whose lingering close would hold this thread.  On any
 * thread.
 */
void
exchange_end(struct exchange *ex)
{
	int	 keep = ex->r.keepConnection;

	ex->r.keepConnection = 1;
	FCGX_Finish_r(&ex->r);
	if (ex->r.ipcFd < 0)
		conn_lost(ex->conn);	/* libfcgi closed it */
	else if (keep)
		conn_keep(ex->conn);
	else
		conn_linger(ex->conn);
	ex->r.ipcFd = -1;
	ex->conn = NULL;
	atomic_fetch_sub(&g.busy, 1);
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
	struct exchange	*ex;
	struct conn	*c;
	struct watch	*w = arg;
	int		 rc;

	ex = exchange_new();
	while ((c = conn_take()) != NULL) {
		ex->conn = c;
		ex->r.ipcFd = c->fd;
		ex->r.keepConnection = 1;
		clock_gettime(CLOCK_MONOTONIC, &ex->first);
		conn_read_limit(c->fd, g.config.request_timeout * 1000LL);
		watch_arm(w, c->fd, &ex->first);
		rc = FCGX_Accept_r(&ex->r);
		watch_disarm(w);
		if (rc < 0) {
			/* a failure (a read timed out, the peer left, a
			 * protocol error) has closed the connection */
			ex->r.ipcFd = -1;
			conn_lost(c);
			continue;
		}
		atomic_fetch_add(&g.busy, 1);
		if (serve_begin(ex) == 0) {
			exchange_end(ex);
			continue;
		}
		/* a proxied transfer: a transfer thread's from here on */
		if (transfer_submit(ex) == 0) {
			ex = exchange_new();
			continue;
		}
		serve_transfer(ex);
		exchange_end(ex);
	}
	FCGX_Free(&ex->r, 0);
	free(ex);
	atomic_fetch_sub(&g.alive, 1);
	return NULL;
}
