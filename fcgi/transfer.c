/*
 * Transfer threads: they stream proxied answers (serve_transfer), so that
 * a slow download never holds a worker, and redirects and generated pages
 * never wait behind one (README "Thread count").
 *
 * A proxied transfer blocks its thread for as long as the upstream and
 * the client take: libcurl's easy interface, and splice(2) between the
 * two sockets (relay.c).  With one pool for everything, --threads 16 and
 * 200 concurrent 10 s downloads ran 12 at a time (p50 79 s, p99 150 s),
 * and redirects waited 136-139 s behind them.  Here a worker hands the
 * exchange over (transfer_submit) and goes back to the loop at once; a
 * thread is made for a transfer when none is idle, up to TRANSFER_MAX,
 * and one idle for TRANSFER_LINGER seconds ends.  Past TRANSFER_MAX, the
 * transfers queue for the next free thread: the limit bounds memory and
 * descriptors (each transfer holds the client connection, the upstream
 * socket, a pipe for splice and the proxy's libcurl handle), not the
 * requests that are not transfers.
 *
 * (The other way, transfers as libcurl multi handles in the event loop,
 * would cost no thread per transfer but give up the blocking splice(2)
 * relay and its sendfile-like throughput, and rewrite proxy.c; threads
 * cost about 1 MiB of address space and a few KiB of memory each.)
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi.h"

#define TRANSFER_MAX	512	/* threads */
#define TRANSFER_LINGER	30	/* s an idle thread waits for work */

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct exchange	*head, *tail;	/* waiting for a thread */
	int		 queued;
	int		 threads;	/* running */
	int		 idle;		/* of which waiting for work */
} tx = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

static void *
transfer_main(void *arg)
{
	struct exchange	*ex;
	struct timespec	 until;
	int		 rc;

	(void)arg;
	pthread_mutex_lock(&tx.mu);
	for (;;) {
		rc = 0;
		while (tx.head == NULL && rc != ETIMEDOUT &&
		    !atomic_load(&g.stopping)) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += TRANSFER_LINGER;
			tx.idle++;
			rc = pthread_cond_timedwait(&tx.cv, &tx.mu, &until);
			tx.idle--;
		}
		if ((ex = tx.head) == NULL)
			break;
		tx.head = ex->next;
		if (tx.head == NULL)
			tx.tail = NULL;
		tx.queued--;
		pthread_mutex_unlock(&tx.mu);
		serve_transfer(ex);
		exchange_end(ex);
		free(ex);
		pthread_mutex_lock(&tx.mu);
	}
	tx.threads--;
	pthread_mutex_unlock(&tx.mu);
	return NULL;
}

/*
 * Queues ex (serve_begin() said it is a proxied transfer) for a transfer
 * thread, which serves it, ends it (exchange_end) and frees it.  0, or
 * -1 when there is no thread and none could be made: the caller then
 * runs the transfer itself.
 */
int
transfer_submit(struct exchange *ex)
{
	pthread_attr_t	 attr;
	pthread_t	 tid;
	int		 rc = 0;

	pthread_mutex_lock(&tx.mu);
	ex->next = NULL;
	if (tx.tail != NULL)
		tx.tail->next = ex;
	else
		tx.head = ex;
	tx.tail = ex;
	tx.queued++;
	if (tx.idle >= tx.queued)
		pthread_cond_signal(&tx.cv);
	else if (tx.threads < TRANSFER_MAX) {
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, STACK_SIZE);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if ((errno = pthread_create(&tid, &attr, transfer_main,
		    NULL)) == 0)
			tx.threads++;
		else if (tx.threads == 0) {
			/* take it back: nobody would run it */
			tx.head = tx.tail = NULL;
			tx.queued = 0;
			rc = -1;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&tx.mu);
	return rc;
}

/* Transfer threads running (busy or idle). */
int
transfer_running(void)
{
	int	 n;

	pthread_mutex_lock(&tx.mu);
	n = tx.threads;
	pthread_mutex_unlock(&tx.mu);
	return n;
}

/* At shutdown: idle transfer threads end (after the queue is empty). */
void
transfer_wake_all(void)
{
	pthread_mutex_lock(&tx.mu);
	pthread_cond_broadcast(&tx.cv);
	pthread_mutex_unlock(&tx.mu);
}
