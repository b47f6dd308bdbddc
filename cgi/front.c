/*
 * The CGI program's side of the exchange (front.h): the request body from
 * stdin, the response to stdout, the proxy module for proxied plans.
 */
#include "config.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exchange.h"
#include "front.h"
#include "proxy_module.h"

#define DRAIN_MAX	(16LL * 1024 * 1024)	/* unread body we discard */

/* gw_read_fn over stdin, at most CONTENT_LENGTH bytes (RFC 3875 §4.2). */
static ssize_t
cgi_read_body(void *arg, char *buf, size_t n)
{
	struct cgi_body	*b = arg;
	ssize_t		 r;

	if (b->left <= 0 || n == 0)
		return 0;
	if ((long long)n > b->left)
		n = (size_t)b->left;
	do
		r = read(STDIN_FILENO, buf, n);
	while (r == -1 && errno == EINTR);
	if (r <= 0) {
		b->left = 0;
		return r;
	}
	b->left -= r;
	return r;
}

/*
 * Reads and discards what is left of the request body (at most DRAIN_MAX).
 * A CGI program that leaves its body unread breaks the response under
 * Apache mod_cgid: stdin and stdout are one Unix socket there, closing it
 * with unread data resets it, and the server loses the response it had
 * not read yet (AH00574, "Connection reset by peer").  A server that is
 * still writing a large body would also block, so this runs before the
 * response is written.
 */
static void
cgi_drain_body(struct cgi_body *b)
{
	char		 buf[16384];
	long long	 left = DRAIN_MAX;
	ssize_t		 r;

	while (b->left > 0 && left > 0 &&
	    (r = cgi_read_body(b, buf, sizeof(buf))) > 0)
		left -= r;
}

/* Writes n bytes to stdout; returns the number written before an error. */
static size_t
cgi_put(const char *p, size_t n)
{
	size_t	 done = 0;
	ssize_t	 w;

	while (done < n) {
		if ((w = write(STDOUT_FILENO, p + done, n - done)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)w;
	}
	return done;
}


static size_t
cgi_out_put(void *arg, const void *p, size_t n)
{
	struct cgi_out	*o = arg;
	size_t		 done;

	if (o->aborted)
		return 0;
	if ((done = cgi_put(p, n)) < n && o->werr == 0)
		o->werr = errno;
	return done;
}

/*
 * gw_out.put_file: a page of the mapped manifest image, sent from the
 * image file with sendfile(2), so that the program does not copy it
 * into the pipe (or mod_cgid's socket) itself; write(2) of p for what
 * sendfile cannot take (an old kernel, an odd stdout).
 */
static size_t
cgi_out_put_file(void *arg, const void *p, size_t n, int fd, long long off)
{
	struct cgi_out	*o = arg;
	off_t		 at = (off_t)off;
	size_t		 done = 0;
	ssize_t		 w;

	if (o->aborted)
		return 0;
	while (done < n) {
		w = sendfile(STDOUT_FILENO, fd, &at, n - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EINVAL || errno == ENOSYS) &&
		    done == 0)
			return cgi_out_put(arg, p, n);
		if (w == 0)
			errno = EIO;	/* the file is shorter than said */
		if (o->werr == 0)
			o->werr = errno;
		break;
	}
	return done;
}

static int
cgi_out_write(void *arg, const void *p, size_t n)
{
	return cgi_out_put(arg, p, n) == n ? 0 : -1;
}

static int
cgi_out_flush(void *arg)
{
	struct cgi_out	*o = arg;

	/* nothing to push: every write went to write(2) */
	return o->aborted || o->werr != 0 ? -1 : 0;
}

/*
 * An upstream died mid-body.  A CGI response has no end marker of its own
 * but EOF, so there is no way to say "incomplete" beyond the Content-Length
 * already sent; shut a socket stdout (mod_cgid) down hard, write nothing
 * more, and exit with status 1 after the event line.
 */
static void
cgi_out_abort(void *arg)
{
	struct cgi_out	*o = arg;

	o->aborted = 1;
	shutdown(STDOUT_FILENO, SHUT_RDWR);
}

/* gw_out.relay: straight onto stdout, which needs no framing. */
static long long
cgi_out_relay(void *arg, int fd, long long n, int timeout_ms,
    enum relay_end *end)
{
	static const struct relay_to	 to = { STDOUT_FILENO, 0, NULL, NULL };
	struct cgi_out			*o = arg;
	long long			 got;

	if (o->aborted || o->werr != 0) {
		*end = RELAY_CLIENT;
		return 0;
	}
	got = relay_splice(fd, &to, n, timeout_ms, end);
	if (got != -1 && *end == RELAY_CLIENT)
		o->werr = errno != 0 ? errno : EPIPE;
	return got;
}

/* gw_front.begin: the body from stdin, at most CONTENT_LENGTH. */
static void
cgi_begin(void *arg, struct gw_request *req)
{
	struct cgi_out	*o = arg;

	/* CGI has no end-of-body marker: without CONTENT_LENGTH there is
	 * no body (RFC 3875 §4.2). */
	o->body.left = req->content_length >= 0 ? req->content_length : 0;
	req->read_body = cgi_read_body;
	req->body_ctx = &o->body;
}

/* gw_front.served: before the response is written. */
static void
cgi_served(void *arg, const struct gw_response *resp)
{
	struct cgi_out	*o = arg;
	sigset_t	 late;

	(void)resp;
	cgi_drain_body(&o->body);
	/*
	 * lighttpd's mod_cgi sends SIGTERM to a CGI process that is still
	 * running once it has the whole response (all Content-Length bytes,
	 * or EOF): hold it off until the event line is written, the process
	 * exits right after anyway.
	 */
	sigemptyset(&late);
	sigaddset(&late, SIGTERM);
	sigaddset(&late, SIGINT);
	sigaddset(&late, SIGHUP);
	sigprocmask(SIG_BLOCK, &late, NULL);
}

/* gw_front.proxy_get: libcurl comes with the module, for the requests
 * that need it; the proxy is freed at exit (main). */
static const struct proxy_module *
cgi_proxy_get(void *arg, struct proxy **px, const char **why)
{
	struct cgi_out	*o = arg;

	if ((o->pm = proxy_module_load(why)) == NULL) {
		fprintf(stderr, "%s: %s\n", o->prog, *why);
		return NULL;
	}
	*px = o->px = o->pm->proxy_new(o->cfg);
	return o->pm;
}

/* gw_front.finish: EOF on stdout. */
static const char *
cgi_finish(void *arg, long long *lost)
{
	struct cgi_out	*o = arg;

	*lost = 0;
	/* EOF ends the response for the web server; a socket shared with
	 * stdin (mod_cgid) needs an explicit FIN for that */
	if (!o->aborted)
		shutdown(STDOUT_FILENO, SHUT_WR);
	if (close(STDOUT_FILENO) == -1 && o->werr == 0 && errno != EINTR &&
	    !o->aborted)
		o->werr = errno;
	return o->werr != 0 ? strerror(o->werr) : NULL;
}

void
cgi_front_init(struct gw_front *fe, struct cgi_out *o, const char *prog,
    const struct gw_config *cfg, struct logsink *log)
{
	memset(o, 0, sizeof(*o));
	o->prog = prog;
	o->cfg = cfg;
	memset(fe, 0, sizeof(*fe));
	fe->out.ctx = o;
	fe->out.write = cgi_out_write;
	fe->out.put = cgi_out_put;
	fe->out.put_file = cgi_out_put_file;
	fe->out.flush = cgi_out_flush;
	fe->out.abort = cgi_out_abort;
	fe->out.relay = cgi_out_relay;
	fe->log = log;
	fe->begin = cgi_begin;
	fe->served = cgi_served;
	fe->proxy_get = cgi_proxy_get;
	fe->finish = cgi_finish;
}
