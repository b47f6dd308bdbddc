/*
 * One request: the gateway's answer to a request read by libfcgi, written
 * back as FastCGI records, then its event line and counters.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "exchange.h"
#include "fcgi.h"
#include "gateway.h"
#include "proxy.h"
#include "proxy_module.h"
#include "record.h"
#include "relay.h"
#include "util.h"

/* SO_RCVTIMEO: a blocking read of fd fails with EAGAIN after ms. */
void
conn_read_limit(int fd, long long ms)
{
	struct timeval	 tv;

	if (ms < 1)
		ms = 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}


/*
 * gw_read_fn over the FastCGI stdin stream, at most CONTENT_LENGTH, and
 * no later than --request-timeout after the request's first byte (see
 * worker.c): each read may wait only for what is left of that.
 */
static ssize_t
fcgi_read_body(void *arg, char *buf, size_t n)
{
	struct fcgi_body	*b = arg;
	long long		 left_ms;
	int			 got;

	if (b->left <= 0 || n == 0)
		return 0;
	left_ms = g.config.request_timeout * 1000LL - mono_elapsed_ms(&b->first);
	if (left_ms <= 0) {
		b->left = 0;
		return -1;
	}
	conn_read_limit(b->fd, left_ms);
	if ((long long)n > b->left)
		n = (size_t)b->left;
	if (n > INT_MAX)
		n = INT_MAX;
	got = FCGX_GetStr(buf, (int)n, b->in);
	if (got <= 0) {
		b->left = 0;
		return FCGX_GetError(b->in) != 0 ? -1 : 0;
	}
	b->left -= got;
	return got;
}

/* (struct fcgi_sink, fcgi.h, says how the bytes are counted.) */

/* Pushes what libfcgi holds to the connection.  0 or -1. */
static int
fcgi_flush(struct fcgi_sink *s)
{
	if (FCGX_FFlush(s->r->out) != 0)
		return -1;
	s->pending = 0;
	return 0;
}

/*
 * Writes n bytes into libfcgi's buffer, flushing it whenever it is full;
 * returns the number accepted before any error.  The room left is the
 * writer's stop minus its wrNext (fcgiapp.h: "writer: last free byte
 * + 1", "first free byte"): a write that fits is a copy, never a flush.
 */
static size_t
fcgi_put(struct fcgi_sink *s, const char *p, size_t n)
{
	FCGX_Stream	*out = s->r->out;
	size_t		 done = 0, room;

	while (done < n) {
		room = out->stop > out->wrNext ?
		    (size_t)(out->stop - out->wrNext) : 0;
		if (room == 0) {
			if (fcgi_flush(s) == -1 || out->stop <= out->wrNext)
				break;
			continue;
		}
		if (room > n - done)
			room = n - done;
		if (room > INT_MAX)
			room = INT_MAX;
		if (FCGX_PutStr(p + done, (int)room, out) != (int)room)
			break;
		done += room;
		s->pending += (long long)room;
	}
	return done;
}

/*
 * The web server's connection of a request.  ipcFd is a "do not use"
 * field of FCGX_Request (fcgiapp.h): this is the one place that reads it.
 */
static int
fcgi_conn_fd(const FCGX_Request *r)
{
	return r->ipcFd;
}

/*
 * Large proxied bodies bypass libfcgi's 8 KiB stream buffer (record.h):
 * what it holds is flushed first (as whole records), then the bytes go
 * out as FCGI_STDOUT records straight from the caller's buffer.  The
 * same bytes on the wire as libfcgi would write, with one copy less and
 * an eighth of the system calls.  Measured through deploy/nginx.conf on
 * a 256 MiB blob: about 0.85 of the throughput of nginx's own proxy_pass
 * through libfcgi, about 1.0 this way.  Smaller writes (headers, small
 * bodies) take libfcgi's buffer.
 */
/* the tail of a body (proxy.h) must take libfcgi's buffer, so that
 * END_REQUEST leaves in the same write as the last body bytes */
_Static_assert(PROXY_TAIL < RECORD_RAW_MIN, "PROXY_TAIL below RAW_MIN");
/* the relay frames spliced records with record_header()'s 8 bytes */
_Static_assert(FCGI_HEADER_LEN <= RELAY_HDRMAX,
    "a FastCGI header fits RELAY_HDRMAX");

/*
 * A proxied answer may be large: the web server's connection gets a send
 * buffer of FCGI_SNDBUF (the kernel doubles it; net.core.wmem_max caps
 * it, 208 KiB on a stock Linux, 4 MiB on this project's test machines).
 * With the default (net.core.wmem_default, 208 KiB) nginx's worker spent
 * 0.6-0.7 CPU seconds per GiB relaying the records of a spliced body;
 * with 1 MiB, 0.41-0.48 (as much as for its own proxy_pass), and the
 * throughput rose from 0.74-0.92x to 0.88-1.07x of proxy_pass
 * (tests/bench/proxy_bench.sh, README "Performance").  It is a limit, not
 * an allocation: a small answer costs nothing more.
 */
#define FCGI_SNDBUF	(1024 * 1024)

static void
fcgi_sndbuf_grow(const FCGX_Request *r)
{
	int	 v = FCGI_SNDBUF;

	(void)setsockopt(fcgi_conn_fd(r), SOL_SOCKET, SO_SNDBUF, &v,
	    sizeof(v));
}

/*
 * The client side of the exchange (gwout.h), over r->out.  Every hook of
 * the front end (struct gw_front, exchange.h) gets the struct exchange.
 */
static struct fcgi_sink *
sink_of(void *arg)
{
	return &((struct exchange *)arg)->sink;
}

/* gw_out.put: generated answers, through libfcgi's buffer. */
static size_t
fcgi_out_put(void *arg, const void *p, size_t n)
{
	return fcgi_put(sink_of(arg), p, n);
}

static int
fcgi_out_write(void *arg, const void *p, size_t n)
{
	struct fcgi_sink	*s = sink_of(arg);

	if (n < RECORD_RAW_MIN)
		return fcgi_put(s, p, n) == n ? 0 : -1;
	if (fcgi_flush(s) != 0)
		return -1;
	return record_write_stdout(fcgi_conn_fd(s->r), s->r->requestId, p,
	    n);
}

/* relay_frame_fn: each spliced piece is one FCGI_STDOUT record. */
static size_t
fcgi_frame(void *arg, size_t len, unsigned char hdr[RELAY_HDRMAX])
{
	const FCGX_Request	*r = arg;
	FCGI_Header		 h;

	record_header(&h, FCGI_STDOUT, r->requestId, len);
	memcpy(hdr, &h, sizeof(h));
	return sizeof(h);
}

/*
 * gw_out.relay: the upstream's bytes go into FCGI_STDOUT records on the
 * web server's connection by splice(2), framed like record_write_stdout()
 * frames them (record.h), after what libfcgi holds.
 */
static long long
fcgi_out_relay(void *arg, int fd, long long n, int timeout_ms,
    enum relay_end *end)
{
	struct fcgi_sink	*s = sink_of(arg);
	struct relay_to		 to;

	if (fcgi_flush(s) != 0) {
		*end = RELAY_CLIENT;
		return 0;
	}
	to.fd = fcgi_conn_fd(s->r);
	to.rec_max = RECORD_MAX;
	to.frame = fcgi_frame;
	to.arg = s->r;
	return relay_splice(fd, &to, n, timeout_ms, end);
}

static int
fcgi_out_flush(void *arg)
{
	return fcgi_flush(sink_of(arg));
}

/*
 * An upstream died mid-body: the client must see a truncated transfer,
 * never a complete short one.  FastCGI has no "abort" record from the
 * application, and what each web server makes of the alternatives differs
 * Measured with deploy/'s configurations, client
 * promised a Content-Length (curl: 18 = partial transfer):
 *
 *	                   nginx      lighttpd   Caddy   mod_proxy_fcgi
 *	END_REQUEST        18         18 after   18      0: complete, short
 *	                              6 s
 *	shutdown() only    hangs to   18         18      18 after 5 s
 *	                   the client's
 *	                   timeout
 *	bad record +       18         18         18      18 after 5 s
 *	shutdown()
 *
 * nginx takes a connection that ends without END_REQUEST for the end of
 * the response and keeps the client waiting, so the last row: push out
 * what libfcgi holds (whole records), write one record header of FastCGI
 * version 0, which every server must refuse as a protocol error, then
 * shut the connection down.  Every later write fails, so libfcgi never
 * sends END_REQUEST, and FCGX_Finish_r() closes the connection instead of
 * keeping it for a next request.  (mod_proxy_fcgi: the program's
 * Content-Length reaches the client only with ap_trust_cgilike_cl set,
 * deploy/apache-proxy-fcgi.conf; without it the answer is chunked.)
 *
 * mod_fcgid is the exception (tests/e2e/proxy_servers.sh): on a protocol
 * error or a closed connection it appends Apache's 571-byte "500 Internal
 * Server Error" page to the 200 body under way, so the client gets
 * foreign bytes, and a complete corrupted body when fewer than 571 were
 * missing.  Given END_REQUEST it keeps the connection open, short of the
 * Content-Length, until its KeepAliveTimeout (5 s): curl 18 then, and
 * only the body's own bytes.  --abort-mode end (GATEWAY_ABORT_MODE, set
 * in deploy/apache-fcgid.conf) selects that: flush, and let
 * FCGX_FClose() send END_REQUEST.
 */
static void
fcgi_out_abort(void *arg)
{
	/* a header of FastCGI version 0: a protocol error to every
	 * web server */
	static const FCGI_Header	 bad;
	struct fcgi_sink		*s = sink_of(arg);
	int				 fd = fcgi_conn_fd(s->r);

	if (g.config.abort_end) {
		/* END_REQUEST follows from FCGX_FClose() */
		(void)fcgi_flush(s);
		return;
	}
	if (fcgi_flush(s) == 0)
		(void)!write(fd, &bad, sizeof(bad));
	shutdown(fd, SHUT_RDWR);
}

/*
 * Proxies (libcurl handles with their connection caches) are pooled, not
 * kept one per worker: each held its cached upstream connections and the
 * two descriptors of libcurl's wake-up socket pair for as long as the
 * worker lived, so 256 threads that had all proxied once came near the
 * default limit of 1,024 descriptors (and past it, libfcgi's select()
 * on a descriptor over 1,023 aborts).  A request takes the proxy put back
 * last (its connection to the registry most likely still open) or makes
 * one; at most POOL_IDLE wait between requests, the rest are freed, so
 * the descriptors follow the number of proxied requests running, not the
 * number of threads.  Each proxy still tracks the sockets it opened, so
 * proxy.c's splicing finds the upstream connection as before.
 */
#define POOL_IDLE	8

static struct {
	pthread_mutex_t	 mu;
	struct proxy	*idle[POOL_IDLE];
	int		 n;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct proxy *
pool_get(void)
{
	struct proxy	*px = NULL;

	pthread_mutex_lock(&pool.mu);
	if (pool.n > 0)
		px = pool.idle[--pool.n];
	pthread_mutex_unlock(&pool.mu);
	return px != NULL ? px : proxy_new(&g.config);
}

static void
pool_put(struct proxy *px)
{
	pthread_mutex_lock(&pool.mu);
	if (pool.n < POOL_IDLE) {
		pool.idle[pool.n++] = px;
		px = NULL;
	}
	pthread_mutex_unlock(&pool.mu);
	proxy_free(px);
}

/* At exit, after the workers. */
void
pool_free(void)
{
	while (pool.n > 0)
		proxy_free(pool.idle[--pool.n]);
}

/* gw_front.begin: the body from the FastCGI stdin stream. */
static void
fcgi_begin(void *arg, struct gw_request *req)
{
	struct exchange	*ex = arg;

	ex->body.in = ex->r.in;
	ex->body.fd = fcgi_conn_fd(&ex->r);
	ex->body.first = ex->first;
	ex->body.left = req->content_length >= 0 ? req->content_length :
	    LLONG_MAX;
	req->read_body = fcgi_read_body;
	req->body_ctx = &ex->body;
}

/* gw_front.proxy_get: the linked exchanges, a proxy from the pool, and a
 * send buffer for a large answer. */
static const struct proxy_module *
fcgi_proxy_get(void *arg, struct proxy **px, const char **why)
{
	struct exchange	*ex = arg;

	(void)why;
	*px = pool_get();
	fcgi_sndbuf_grow(&ex->r);
	return &proxy_linked;
}

static void
fcgi_proxy_put(void *arg, struct proxy *px)
{
	(void)arg;
	pool_put(px);
}

/*
 * gw_front.finish: ends the response (both output streams closed, which
 * sends END_REQUEST).  Nothing is held back: the write that ends the
 * response carries only the end records, and a web server that already
 * had the whole answer may have closed before them (nginx after a HEAD's
 * head, lighttpd at Content-Length): delivered, unless the connection
 * says bytes were lost (relay_peer_took_all).  What libfcgi still held
 * then never reached the web server.
 */
static const char *
fcgi_finish(void *arg, long long *lost)
{
	struct exchange	*ex = arg;
	FCGX_Request	*r = &ex->r;
	long long	 held;
	int		 err;

	held = ex->sink.pending;
	FCGX_FClose(r->err);	/* err first: no empty stderr record */
	FCGX_FClose(r->out);
	*lost = ex->sink.pending;
	if ((err = FCGX_GetError(r->out)) == 0 || (held == 0 &&
	    relay_peer_took_all(fcgi_conn_fd(r), err)))
		return NULL;
	return err > 0 ? strerror(err) : "FastCGI protocol error";
}

/*
 * Serves the request ex->r read (worker.c), through the exchange every
 * front end shares (exchange.h), as far as it can without a proxied
 * transfer.  The response is completed towards the web server before the
 * event is formatted and logged; FCGX_Finish_r() comes after that
 * (exchange_end), because it frees r->envp, which the event line still
 * reads (User-Agent, Referer).  Returns 0 when the request is done (the
 * caller ends the exchange), 1 when the answer is a proxied transfer
 * still to run, by serve_transfer(), on any thread.
 */
int
serve_begin(struct exchange *ex)
{
	struct gw_ctx	*ctx = &ex->ctx;
	struct gw_front	*fe = &ex->fe;

	ex->sink.r = &ex->r;
	ex->sink.pending = 0;
	ex->st = state_get();
	memset(ctx, 0, sizeof(*ctx));
	ctx->manifest = ex->st->manifest;
	ctx->last_reload_error = ex->st->reload_error;
	ctx->config = &g.config;
	ctx->stats = g.stats;

	memset(fe, 0, sizeof(*fe));
	fe->out.ctx = ex;
	fe->out.write = fcgi_out_write;
	fe->out.put = fcgi_out_put;
	fe->out.flush = fcgi_out_flush;
	fe->out.abort = fcgi_out_abort;
	fe->out.relay = fcgi_out_relay;
	fe->log = g.log;
	fe->begin = fcgi_begin;
	fe->proxy_get = fcgi_proxy_get;
	fe->proxy_put = fcgi_proxy_put;
	fe->finish = fcgi_finish;
	if (gw_exchange_begin(&ex->x, ctx, ex->r.envp, fe) == 1)
		return 1;
	state_put(ex->st);
	ex->st = NULL;
	return 0;
}

/* The proxied answer of a request serve_begin() left. */
void
serve_transfer(struct exchange *ex)
{
	gw_exchange_transfer(&ex->x);
	state_put(ex->st);
	ex->st = NULL;
}
