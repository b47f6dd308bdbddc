/*
 * Connections from the web server, and the event loop where they wait.
 *
 * A web server keeps FastCGI connections open between requests
 * (FCGI_KEEP_CONN: nginx `fastcgi_keep_conn on` with `keepalive N` per
 * worker, lighttpd, mod_proxy_fcgi `enablereuse=on`).  Until this loop,
 * each such connection held a worker thread for as long as it was open,
 * so a gateway with --threads 4 behind nginx with 4 workers x
 * `keepalive 64` stalled new requests until a keep-alive timeout (256
 * clients for 20 s: 72 client time-outs, p99 2.1 s).  Now one thread
 * (conn_loop) watches the listening socket and every connection that is
 * not in a request with epoll(7); a worker takes a connection only once
 * its next request has begun (conn_take) and gives it back after
 * END_REQUEST (conn_keep), so the threads follow the requests in
 * progress, not the connections open.  (Idle workers waiting on the
 * epoll set themselves, with no thread of the loop's own, made fewer
 * system calls but answered about a fifth fewer requests a second:
 * README, "Thread count".)
 *
 * Timeouts, as before the loop (worker.c has the ones of a request):
 *   - a new connection must begin its request within --request-timeout
 *     (web servers connect when they have a request to send);
 *   - a kept one may stay idle for KEEPALIVE_IDLE seconds: nginx keeps
 *     its idle FastCGI connections for keepalive_timeout (60 s by
 *     default) and would fail a request sent on one the gateway had just
 *     closed, so the limit is longer than that.
 * Each list below gets one timeout added to the time an entry joined it,
 * so its entries are in deadline order and the sweep looks at the heads
 * (but for a lingering close that keeps its first deadline when it is
 * watched again: it may be closed up to LINGER seconds late).
 *
 * libfcgi's buffered input: FCGX_Finish_r() frees the request's reader
 * with whatever it held, and the loop watches the kernel's buffer only,
 * so a connection may go back to the loop only if no byte of the next
 * request can be in libfcgi's buffer.  That holds: the web server sends
 * a connection's next request only after the END_REQUEST of the one
 * before (libfcgi does not multiplex: it answers FCGI_GET_VALUES with
 * FCGI_MPXS_CONNS 0, FastCGI 1.0 §4.1, and no web server in deploy/
 * multiplexes), and serve.c sends END_REQUEST as the last thing it
 * writes, after which libfcgi reads nothing more.  (The same held when the worker itself
 * waited with poll(2) on the connection.)
 */
#include "config.h"

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgi.h"
#include "util.h"
#include "xmalloc.h"

#define KEEPALIVE_IDLE	300	/* s a kept connection may idle */
#define LOOP_TICK	250	/* ms between sweeps */
#define ACCEPT_PAUSE	100	/* ms not accepting after EMFILE */
#define ACCEPT_BURST	64	/* accepts per wake-up */
#define EVENTS_MAX	64
#define LINGER		2	/* s to wait for the peer's close */

/* A list in deadline order (see above). */
struct conn_list {
	struct conn	*head, *tail;
};

static struct {
	int		 epfd;
	pthread_t	 tid;
	int		 started;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;		/* ready has one, or down */
	struct conn_list fresh;		/* new: --request-timeout */
	struct conn_list kept;		/* idle after a request */
	struct conn_list ready;		/* a request has begun */
	struct conn_list closing;	/* lingering close */
	int		 down;		/* the loop has ended */
} cl = {
	.epfd = -1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

static void
list_append(struct conn_list *l, struct conn *c)
{
	c->list = l;
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

static void
list_remove(struct conn *c)
{
	struct conn_list	*l = c->list;

	if (l == NULL)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	c->list = NULL;
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	free(c);
}

/* 1 when a is at or past b. */
static int
time_reached(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/*
 * Puts c in list l (under cl.mu), due `secs` from now, and asks epoll for
 * its next readable byte, once (EPOLLONESHOT: the loop's thread and the
 * workers never see one connection at the same time).  -1 when epoll
 * refused.
 */
static int
conn_watch(struct conn *c, struct conn_list *l, long long secs)
{
	struct epoll_event	 ev;

	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += (time_t)secs;
	list_append(l, c);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.ptr = c;
	if (epoll_ctl(cl.epfd, c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    c->fd, &ev) == 0) {
		c->in_epoll = 1;
		return 0;
	}
	list_remove(c);
	return -1;
}

/* 1 when fd has a byte to read now (or has failed). */
static int
conn_readable(int fd)
{
	char	 b;

	return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != -1 ||
	    (errno != EAGAIN && errno != EWOULDBLOCK);
}

/*
 * A connection in lingering close became readable: reads what the peer
 * still sent, without waiting.  1 when it is done (end of file or an
 * error), 0 when it may send more.
 */
static int
conn_drain(int fd)
{
	char	 b[4096];
	ssize_t	 n;

	while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR);
}

/*
 * A connection in lingering close sent something (under cl.mu): read it,
 * and wait for more until its first deadline, so that a peer sending a
 * byte now and then cannot keep it open; the sweep closes it then.
 */
static void
conn_linger_more(struct conn *c)
{
	struct timespec	 deadline = c->deadline;

	list_remove(c);
	if (conn_drain(c->fd) || conn_watch(c, &cl.closing, LINGER) == -1) {
		conn_close(c);
		return;
	}
	c->deadline = deadline;
}

/*
 * Accepts what the listener has, up to ACCEPT_BURST.  1 when it ran out
 * of descriptors (or memory): the caller pauses the listener, as OpenBSD
 * httpd does, rather than spin or die.
 */
static int
conn_accept(void)
{
	struct conn	*c;
	int		 fd, i;

	for (i = 0; i < ACCEPT_BURST; i++) {
		/* blocking, as libfcgi wants it: only its reads wait */
		fd = accept4(g.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				return 1;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED &&
			    errno != EPROTO && !atomic_load(&g.stopping))
				fprintf(stderr, PROG ": accept failed: %s\n",
				    strerror(errno));
			return 0;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		pthread_mutex_lock(&cl.mu);
		if (conn_readable(fd)) {
			/* the request is there already (a web server
			 * connecting per request writes it at once): no
			 * round through epoll */
			list_append(&cl.ready, c);
			pthread_cond_signal(&cl.cv);
		} else if (conn_watch(c, &cl.fresh, g.config.request_timeout) ==
		    -1) {
			fprintf(stderr, PROG ": epoll_ctl: %s\n",
			    strerror(errno));
			conn_close(c);
		}
		pthread_mutex_unlock(&cl.mu);
	}
	return 0;
}

/* Closes the connections of l whose deadline has passed (under cl.mu). */
static void
conn_sweep(struct conn_list *l, const struct timespec *now)
{
	struct conn	*c;

	while ((c = l->head) != NULL && time_reached(now, &c->deadline)) {
		list_remove(c);
		conn_close(c);
	}
}

static void
conn_close_all(struct conn_list *l)
{
	struct conn	*c;

	while ((c = l->head) != NULL) {
		list_remove(c);
		conn_close(c);
	}
}

/* Listens (events) or not (0) on the listening socket. */
static void
listener_arm(uint32_t events)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = NULL;
	(void)epoll_ctl(cl.epfd, EPOLL_CTL_MOD, g.listen_fd, &ev);
}

static void *
conn_loop(void *arg)
{
	struct epoll_event	 evs[EVENTS_MAX];
	struct timespec		 now, resume = { 0, 0 };
	struct conn		*c;
	int			 i, n, paused = 0;

	(void)arg;
	while (!atomic_load(&g.stopping)) {
		n = epoll_wait(cl.epfd, evs, EVENTS_MAX, LOOP_TICK);
		for (i = 0; i < n; i++) {
			if ((c = evs[i].data.ptr) == NULL) {
				if (!paused && conn_accept()) {
					paused = 1;
					listener_arm(0);
					clock_gettime(CLOCK_MONOTONIC,
					    &resume);
					resume.tv_nsec += ACCEPT_PAUSE *
					    1000000L;
					if (resume.tv_nsec >= 1000000000L) {
						resume.tv_sec++;
						resume.tv_nsec -= 1000000000L;
					}
				}
				continue;
			}
			pthread_mutex_lock(&cl.mu);
			if (c->list == &cl.closing) {
				conn_linger_more(c);
				pthread_mutex_unlock(&cl.mu);
				continue;
			}
			list_remove(c);
			if (evs[i].events & EPOLLIN) {
				/* a request has begun (or the peer left:
				 * the worker's read finds out) */
				list_append(&cl.ready, c);
				pthread_cond_signal(&cl.cv);
			} else
				conn_close(c);	/* EPOLLERR, EPOLLHUP */
			pthread_mutex_unlock(&cl.mu);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (paused && time_reached(&now, &resume)) {
			paused = 0;
			listener_arm(EPOLLIN);
		}
		pthread_mutex_lock(&cl.mu);
		conn_sweep(&cl.fresh, &now);
		conn_sweep(&cl.kept, &now);
		conn_sweep(&cl.closing, &now);
		pthread_mutex_unlock(&cl.mu);
	}
	/* stopping: idle connections are closed, and so are those whose
	 * request no worker took yet (as before the loop) */
	pthread_mutex_lock(&cl.mu);
	cl.down = 1;
	conn_close_all(&cl.fresh);
	conn_close_all(&cl.kept);
	conn_close_all(&cl.ready);
	conn_close_all(&cl.closing);
	pthread_cond_broadcast(&cl.cv);
	pthread_mutex_unlock(&cl.mu);
	return NULL;
}

int
conn_loop_start(void)
{
	struct epoll_event	 ev;
	int			 fl;

	if ((cl.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		fprintf(stderr, PROG ": epoll_create1: %s\n", strerror(errno));
		return -1;
	}
	/*
	 * Non-blocking, so that the loop never waits in accept(): a
	 * listener shared by several processes (spawn-fcgi -F, systemd)
	 * wakes each of them for one connection.  The flag is the shared
	 * socket's: the other processes are gateways like this one.
	 */
	if ((fl = fcntl(g.listen_fd, F_GETFL)) == -1 ||
	    fcntl(g.listen_fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		fprintf(stderr, PROG ": listening socket: %s\n",
		    strerror(errno));
		return -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(cl.epfd, EPOLL_CTL_ADD, g.listen_fd, &ev) == -1) {
		fprintf(stderr, PROG ": listening socket: epoll_ctl: %s\n",
		    strerror(errno));
		return -1;
	}
	if ((errno = pthread_create(&cl.tid, NULL, conn_loop, NULL)) != 0) {
		fprintf(stderr, PROG ": cannot start the connection loop: "
		    "%s\n", strerror(errno));
		return -1;
	}
	cl.started = 1;
	return 0;
}

/* After g.stopping is set: waits for the loop to end. */
void
conn_loop_join(void)
{
	if (cl.started)
		pthread_join(cl.tid, NULL);
	cl.started = 0;
	if (cl.epfd != -1)
		close(cl.epfd);
	cl.epfd = -1;
}

/* Wakes the workers waiting in conn_take() at shutdown. */
void
conn_wake_all(void)
{
	pthread_mutex_lock(&cl.mu);
	pthread_cond_broadcast(&cl.cv);
	pthread_mutex_unlock(&cl.mu);
}

struct conn *
conn_take(void)
{
	struct conn	*c;

	pthread_mutex_lock(&cl.mu);
	while (cl.ready.head == NULL && !cl.down &&
	    !atomic_load(&g.stopping))
		pthread_cond_wait(&cl.cv, &cl.mu);
	c = cl.ready.head;
	if (c != NULL && !atomic_load(&g.stopping))
		list_remove(c);
	else
		c = NULL;
	pthread_mutex_unlock(&cl.mu);
	return c;
}

void
conn_keep(struct conn *c)
{
	int	 ok = 0;

	pthread_mutex_lock(&cl.mu);
	if (!cl.down && !atomic_load(&g.stopping))
		ok = conn_watch(c, &cl.kept, KEEPALIVE_IDLE) == 0;
	pthread_mutex_unlock(&cl.mu);
	if (!ok)
		conn_close(c);
}

/*
 * Closes c after an answer the web server did not ask to keep it for.
 * libfcgi would close it lingering: shut the sending side down, then read
 * until the peer closes (at most 2 s), so that a byte the web server sent
 * late does not turn the close into a reset that could destroy the
 * answer still in its receive buffer.  That wait held the worker; here
 * the loop does it, and the worker is free at once.
 */
void
conn_linger(struct conn *c)
{
	int	 ok = 0;

	if (shutdown(c->fd, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	pthread_mutex_lock(&cl.mu);
	if (!cl.down && !atomic_load(&g.stopping))
		ok = conn_watch(c, &cl.closing, LINGER) == 0;
	pthread_mutex_unlock(&cl.mu);
	if (!ok)
		conn_close(c);
}

void
conn_lost(struct conn *c)
{
	free(c);
}

void
conn_drop(struct conn *c)
{
	conn_close(c);
}
