/*
 * scarf-gateway, the FastCGI program: what its files share.
 *
 *	main.c		command line, start and stop
 *	control.c	the main thread: serving, signals, manifest
 *			polling, drain
 *	source.c	the manifest's source (common/msource.c), the
 *			published state and its reloads (§15), --check,
 *			explain
 *	listen.c	the listening socket (--listen, systemd, fd 0)
 *	conn.c		connections: the event loop where idle ones wait
 *	worker.c	worker threads: read a request, serve or hand over
 *	transfer.c	transfer threads: proxied answers (README "Thread
 *			count")
 *	serve.c		one request: the exchange (common/exchange.h)
 *			over FastCGI records
 *	record.c	the FastCGI records the program frames itself
 */
#ifndef FCGI_FCGI_H
#define FCGI_FCGI_H

#include <sys/types.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include <fcgiapp.h>

#include "exchange.h"
#include "gateway.h"
#include "msource.h"

#define PROG		"scarf-gateway"
#define STACK_SIZE	(1024 * 1024)	/* proxying runs libcurl+TLS here */

struct buf;
struct logsink;
struct manifest;
struct manifest_diag;
struct proxy;

/*
 * What a request runs with: the manifest and the reload error that
 * /-/health reports.  Immutable once published; a reload publishes a new
 * one.  Reference-counted under g.mu, so that a request keeps the state
 * (and through it the manifest) it started with.
 */
struct gw_state {
	int		 refs;		/* under g.mu */
	struct manifest	*manifest;	/* one reference held */
	char		*reload_error;	/* owned or NULL */
};


/*
 * What the main thread watches of a worker reading a request's params
 * (worker.c): a duplicate of the connection, so that the descriptor
 * stays the same socket however libfcgi closes its own, and when the
 * request started.  fd is -1 when there is nothing to watch.
 */
struct watch {
	pthread_mutex_t	 mu;
	int		 fd;
	struct timespec	 deadline;	/* CLOCK_MONOTONIC */
};

/* A connection from the web server (conn.c). */
struct conn_list;
struct conn {
	int			 fd;
	struct timespec		 deadline;	/* CLOCK_MONOTONIC */
	struct conn		*prev, *next;
	struct conn_list	*list;		/* the loop's list */
	int			 in_epoll;	/* registered */
};

/* The request body as gw_read_fn reads it (serve.c). */
struct fcgi_body {
	FCGX_Stream	*in;
	long long	 left;
	int		 fd;		/* the connection */
	struct timespec	 first;		/* the request's first byte */
};

/*
 * The response side of a request.  libfcgi's stream buffers small writes
 * (8 KiB); `pending` counts the bytes it holds that have not yet gone out
 * in a successful flush, so that the event's `bytes` leaves out what never
 * reached the web server's connection when a flush fails (the web server
 * hung up).  For that, every byte must leave through fcgi_flush():
 * fcgi_put() fills libfcgi's buffer only up to its end and flushes it
 * itself, so libfcgi never empties it on its own.
 */
struct fcgi_sink {
	FCGX_Request	*r;
	long long	 pending;
};

/*
 * One request from the moment a worker takes its connection to the end
 * of its answer: the worker reads and serves it, and hands it to a
 * transfer thread when the answer is a proxied transfer (transfer.c).
 * Everything a request refers to lives here, so that it can change
 * threads.
 */
struct exchange {
	FCGX_Request		 r;
	struct conn		*conn;
	struct timespec		 first;		/* its first byte, seen */
	struct gw_exchange	 x;		/* exchange.h */
	struct gw_front		 fe;		/* over this exchange */
	struct gw_ctx		 ctx;
	struct gw_state		*st;		/* one reference */
	struct fcgi_body	 body;
	struct fcgi_sink	 sink;
	struct exchange		*next;		/* transfer.c's queue */
};

/* The process's state, shared by the files of fcgi/. */
struct fcgi_global {
	struct gw_config	 config;
	struct gw_stats		 own;		/* when not shared */
	struct gw_stats		*stats;		/* metrics.h */
	struct logsink		*log;
	struct msource		 src;
	struct proxy		*fetcher;	/* manifest URLs; main thread */
	int			 listen_fd;
	int			 own_listener;	/* ours: may be shut down */
	char			*unix_path;	/* ours to unlink at exit */
	pthread_mutex_t		 mu;
	struct gw_state		*cur;		/* under mu */
	atomic_int		 stopping;
	atomic_int		 busy;		/* requests being served */
	atomic_int		 alive;		/* worker threads running */
	atomic_int		 trim;		/* a state was freed */
	struct watch		*watch;		/* one per worker */
};

extern struct fcgi_global g;

/* source.c */
void		 source_init(void);
struct gw_state	*state_new(struct manifest *, char *);
struct gw_state	*state_get(void);
void		 state_put(struct gw_state *);
void		 memory_trim(void);
void		 manifest_confirmed(void);
void		 manifest_reload(const char *, int);
int		 cmd_check(void);
int		 cmd_explain(char *const *, size_t);
struct manifest	*load_startup(int *pending);
void		 image_complete(void);

/* listen.c */
int		 listener_open(void);

/* conn.c */
int		 conn_loop_start(void);
void		 conn_loop_join(void);
void		 conn_wake_all(void);
struct conn	*conn_take(void);
void		 conn_keep(struct conn *);
void		 conn_lost(struct conn *);
void		 conn_drop(struct conn *);
void		 conn_linger(struct conn *);

/* serve.c */
void		 conn_read_limit(int, long long);
int		 serve_begin(struct exchange *);
void		 serve_transfer(struct exchange *);
void		 pool_free(void);

/* worker.c */
void		*worker_main(void *);
void		 watch_check(void);
void		 exchange_end(struct exchange *);

/* transfer.c */
int		 transfer_submit(struct exchange *);
int		 transfer_running(void);
void		 transfer_wake_all(void);

/* control.c */
int		 signals_setup(sigset_t *);
void		 control_loop(const sigset_t *);
int		 drain(const sigset_t *);
int		 cmd_serve(void);

#endif /* FCGI_FCGI_H */
