/*
 * Connections from the web server, and the event loop where they wait.
 *
 * A web server keeps FastCGI connections open between requests
 * (FCGI_KEEP_CONN: nginx `fastcgi_keep_conn on` with `keepalive N` per
 * worker, lighttpd, mod_proxy_fcgi `enablereuse=on`).  Until this loop,
 * each such connection held a worker thread for as long as it was open,
 * so a gateway with --threads 4 behind nginx with 4 workers x
 * `keepalive 64` stalled new requests until a keep-alive timeout (256
 * clients for 20 s: 72 client time-outs, p99 2.1 s).  Now the listening
 * socket and every connection that is not in a request are in one
 * epoll(7) set, and the idle workers wait on it (conn_take): the one
 * woken takes a connection only once its next request has begun, and
 * gives it back after END_REQUEST (conn_keep), so the threads follow the
 * requests in progress, not the connections open.  Every connection is
 * watched with EPOLLONESHOT, so one event goes to one worker; a worker
 * woken by the listener accepts (conn_accept) and serves the first new
 * connection whose request is there already.  There is no thread of the
 * loop's own: a request costs one epoll_wait() and one epoll_ctl() more
 * than a blocking poll() on a connection did, and no hand-over between
 * threads (measured with one: about 3 more system calls a request, most
 * of them futex(2)).  The main thread sweeps the deadlines every second
 * (conn_sweep).
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
#define LOOP_TICK	250	/* ms between looks at stopping */
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
	pthread_mutex_t	 mu;		/* the lists and `paused` */
	struct conn_list fresh;		/* new: --request-timeout */
	struct conn_list kept;		/* idle after a request */
	struct conn_list closing;	/* lingering close */
	atomic_int	 paused;	/* the listener, after EMFILE */
	struct timespec	 resume;	/* when to listen again */
} cl = {
	.epfd = -1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
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
 * Puts c in list l, due `secs` from now (secs < 0: its deadline stays),
 * and asks epoll for its next readable byte, once (EPOLLONESHOT: one
 * event goes to one thread, and no thread sees c while another has it).
 * Takes cl.mu for the list only, not across epoll_ctl(): the workers
 * would queue on it.  -1 when stopping or epoll refused: the caller
 * closes c.
 */
static int
conn_watch(struct conn *c, struct conn_list *l, long long secs)
{
	struct epoll_event	 ev;
	int			 op, ok;

	if (secs >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &c->deadline);
		c->deadline.tv_sec += (time_t)secs;
	}
	op = c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	pthread_mutex_lock(&cl.mu);
	if ((ok = !atomic_load(&g.stopping))) {
		list_append(l, c);
		c->in_epoll = 1;
	}
	pthread_mutex_unlock(&cl.mu);
	if (!ok)
		return -1;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.ptr = c;
	if (epoll_ctl(cl.epfd, op, c->fd, &ev) == 0)
		return 0;
	pthread_mutex_lock(&cl.mu);
	list_remove(c);
	c->in_epoll = op == EPOLL_CTL_MOD;
	pthread_mutex_unlock(&cl.mu);
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
 * A connection in lingering close sent something (taken out of its
 * list): read it, and wait for more until its first deadline, so that a
 * peer sending a byte now and then cannot keep it open; conn_sweep()
 * closes it then.
 */
static void
conn_linger_more(struct conn *c)
{
	if (conn_drain(c->fd) || conn_watch(c, &cl.closing, -1) == -1)
		conn_close(c);
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

/*
 * Out of descriptors (or memory): the listener pauses for ACCEPT_PAUSE
 * ms, as OpenBSD httpd does, rather than spin or die.
 */
static void
listener_pause(void)
{
	pthread_mutex_lock(&cl.mu);
	if (!atomic_load(&cl.paused)) {
		listener_arm(0);
		clock_gettime(CLOCK_MONOTONIC, &cl.resume);
		cl.resume.tv_nsec += ACCEPT_PAUSE * 1000000L;
		if (cl.resume.tv_nsec >= 1000000000L) {
			cl.resume.tv_sec++;
			cl.resume.tv_nsec -= 1000000000L;
		}
		atomic_store(&cl.paused, 1);
	}
	pthread_mutex_unlock(&cl.mu);
}

static void
listener_resume(void)
{
	struct timespec	 now;

	if (!atomic_load(&cl.paused))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&cl.mu);
	if (atomic_load(&cl.paused) && time_reached(&now, &cl.resume)) {
		listener_arm(EPOLLIN);
		atomic_store(&cl.paused, 0);
	}
	pthread_mutex_unlock(&cl.mu);
}

/*
 * Accepts what the listener has, up to ACCEPT_BURST.  Returns the first
 * new connection whose request is there already (a web server connecting
 * for a request writes it at once), for the caller to serve; the others
 * go into the epoll set, where other workers find them.  NULL when there
 * is none.
 */
static struct conn *
conn_accept(void)
{
	struct conn	*c, *mine = NULL;
	int		 fd, i;

	for (i = 0; i < ACCEPT_BURST; i++) {
		/* blocking, as libfcgi wants it: only its reads wait */
		fd = accept4(g.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				listener_pause();
			else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED &&
			    errno != EPROTO && !atomic_load(&g.stopping))
				fprintf(stderr, PROG ": accept failed: %s\n",
				    strerror(errno));
			break;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		if (mine == NULL && conn_readable(fd)) {
			mine = c;
			continue;
		}
		if (conn_watch(c, &cl.fresh, g.config.request_timeout) == -1)
			conn_close(c);
	}
	return mine;
}

/* Closes the connections of l whose deadline has passed (under cl.mu). */
static void
conn_sweep_list(struct conn_list *l, const struct timespec *now)
{
	struct conn	*c;

	while ((c = l->head) != NULL && time_reached(now, &c->deadline)) {
		list_remove(c);
		conn_close(c);
	}
}

/*
 * The main thread, every second: closes the connections past their
 * deadline (see above).  A connection being closed here is in no worker's
 * hands: it is in a list, so no event of it is pending (EPOLLONESHOT),
 * and close() takes it out of the epoll set.
 */
void
conn_sweep(void)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&cl.mu);
	conn_sweep_list(&cl.fresh, &now);
	conn_sweep_list(&cl.kept, &now);
	conn_sweep_list(&cl.closing, &now);
	pthread_mutex_unlock(&cl.mu);
	listener_resume();
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

int
conn_setup(void)
{
	struct epoll_event	 ev;
	int			 fl;

	if ((cl.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		fprintf(stderr, PROG ": epoll_create1: %s\n", strerror(errno));
		return -1;
	}
	/*
	 * Non-blocking, so that no worker waits in accept(): all the idle
	 * ones may be woken for one connection, and a listener shared by
	 * several processes (spawn-fcgi -F, systemd) wakes each of them.
	 * The flag is the shared socket's: the other processes are
	 * gateways like this one.
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
	return 0;
}

/*
 * After the workers ended: the connections still open (idle ones, and
 * those in lingering close) are closed.
 */
void
conn_shutdown(void)
{
	pthread_mutex_lock(&cl.mu);
	conn_close_all(&cl.fresh);
	conn_close_all(&cl.kept);
	conn_close_all(&cl.closing);
	pthread_mutex_unlock(&cl.mu);
	if (cl.epfd != -1)
		close(cl.epfd);
	cl.epfd = -1;
}

/*
 * A worker: waits for a connection whose next request has begun (or
 * whose peer left: the worker's read finds out).  NULL when stopping.
 */
struct conn *
conn_take(void)
{
	struct epoll_event	 ev;
	struct conn		*c;
	int			 n, lingering;

	while (!atomic_load(&g.stopping)) {
		listener_resume();
		n = epoll_wait(cl.epfd, &ev, 1, LOOP_TICK);
		if (n <= 0)
			continue;
		if ((c = ev.data.ptr) == NULL) {
			if ((c = conn_accept()) != NULL)
				return c;
			continue;
		}
		pthread_mutex_lock(&cl.mu);
		lingering = c->list == &cl.closing;
		list_remove(c);
		pthread_mutex_unlock(&cl.mu);
		if (lingering)
			conn_linger_more(c);
		else if (ev.events & EPOLLIN)
			return c;
		else
			conn_close(c);	/* EPOLLERR, EPOLLHUP */
	}
	return NULL;
}

void
conn_keep(struct conn *c)
{
	if (conn_watch(c, &cl.kept, KEEPALIVE_IDLE) == -1)
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
	if (shutdown(c->fd, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	if (conn_watch(c, &cl.closing, LINGER) == -1)
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
