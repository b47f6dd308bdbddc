/*
 * scarf-gateway.cgi: the plain CGI program (SPEC §14.2).
 *
 * One request per process: settings from the GATEWAY_* environment only,
 * the manifest loaded from GATEWAY_MANIFEST (a file path) or the
 * compiled-in default, the request from environ and stdin, the response
 * to stdout.  The event line goes to GATEWAY_LOG, never to stdout, after
 * stdout has been closed so the web server can finish the response first.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "gateway.h"
#include "logsink.h"
#include "image.h"
#include "manifest.h"
#include "metrics.h"
#include "proxy.h"
#include "proxy_module.h"
#include "xmalloc.h"

#define PROG		"scarf-gateway.cgi"
#define DRAIN_MAX	(16LL * 1024 * 1024)	/* unread body we discard */

extern char **environ;

struct cgi_body {
	long long	 left;
};

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

/* The client side of a proxied response (proxy.h), over stdout. */
struct cgi_out {
	int	 aborted;
	int	 werr;		/* errno of the first failed write */
};

static int
cgi_out_write(void *arg, const void *p, size_t n)
{
	struct cgi_out	*o = arg;

	if (o->aborted)
		return -1;
	if (cgi_put(p, n) == n)
		return 0;
	if (o->werr == 0)
		o->werr = errno;
	return -1;
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

static int
is_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 ||
	    strncasecmp(s, "https://", 8) == 0;
}

/* The first line of a diagnostics buffer; caller frees. */
static char *
first_line(const struct buf *b, const char *dflt)
{
	const char	*nl;

	if (b->n == 0)
		return xstrdup(dflt);
	nl = memchr(b->p, '\n', b->n);
	return xstrndup(b->p, nl != NULL ? (size_t)(nl - b->p) : b->n);
}

/*
 * Loads the manifest (§14.2).  Returns it with one reference, or NULL with
 * *why (caller frees) for §2.4; every diagnostic also goes to stderr,
 * which web servers put into their error log.
 */
static struct manifest *
load_manifest(const struct gw_config *cfg, char **why)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;

	*why = NULL;
	if (is_url(cfg->manifest)) {
		*why = xstrdup("GATEWAY_MANIFEST must be a file path in the "
		    "CGI build");
		fprintf(stderr, PROG ": %s\n", *why);
		return NULL;
	}
	memset(&d, 0, sizeof(d));
	if (manifest_load_file(cfg->manifest, &m, &d) != 0) {
		if (d.errors.n > 0)
			fprintf(stderr, PROG ": %s", buf_cstr(&d.errors));
		*why = first_line(&d.errors, "manifest could not be loaded");
		manifest_unref(m);
		m = NULL;
	}
	manifest_diag_free(&d);
	return m;
}

int
main(int argc, char *argv[])
{
	static struct gw_stats	 own;	/* without GATEWAY_STATE_DIR (§12) */
	struct gw_stats		*stats;
	struct gw_config	 cfg;
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct gw_ctx		 ctx;
	struct cgi_body		 body;
	struct logsink		*log;
	struct manifest		*m = NULL;
	struct buf		 out = BUF_INIT;
	struct gw_out		 pout;
	struct cgi_out		 cout;
	struct proxy		*px = NULL;
	const struct proxy_module *pm = NULL;
	const char		*err;
	char			*why = NULL;
	size_t			 sent = 0;
	int			 werr = 0, help;
	sigset_t		 late;

	/* Under a web server argv is not ours: for a query without '=' some
	 * servers pass its words as arguments (RFC 3875 §4.4). */
	if (getenv("GATEWAY_INTERFACE") == NULL &&
	    getenv("REQUEST_METHOD") == NULL) {
		if (argc > 1 && strcmp(argv[1], "--version") == 0) {
			printf(PROG " %s\n", gw_version);
			return 0;
		}
		help = argc > 1 && strcmp(argv[1], "--help") == 0;
		fprintf(help ? stdout : stderr, "usage: " PROG " (run by a web "
		    "server as a CGI program)\n"
		    "settings: GATEWAY_MANIFEST, GATEWAY_LOG, "
		    "GATEWAY_TRUST_FORWARDED_HOST,\n"
		    "  GATEWAY_PUBLIC_SCHEME, GATEWAY_METRICS_ALLOW, "
		    "GATEWAY_UPSTREAM_TIMEOUT,\n"
		    "  GATEWAY_LOG_CLIENT_IP, GATEWAY_STATE_DIR, "
		    "GATEWAY_CACHE_DIR\n");
		return help ? 0 : 2;
	}
	/* A client that goes away must not kill us before the log line. */
	signal(SIGPIPE, SIG_IGN);

	gw_config_defaults(&cfg);
	if (gw_config_from_env(&cfg, &err) == -1) {
		/* answer 500 (§2.4) rather than nothing at all */
		fprintf(stderr, PROG ": %s\n", err);
		why = xstrdup(err);
		gw_config_defaults(&cfg);
	}
	if (why == NULL && event_ip_setup(&cfg, &err) == -1) {
		fprintf(stderr, PROG ": GATEWAY_LOG_CLIENT_IP: %s\n", err);
		why = xstrdup(err);
	}
	/* stdout carries the response: never the event log */
	if (strcmp(cfg.log, "stdout") == 0) {
		log = NULL;
		err = "stdout carries the CGI response";
	} else
		log = logsink_open(cfg.log, &err);
	if (log == NULL) {
		fprintf(stderr, PROG ": GATEWAY_LOG %s: %s; logging to "
		    "stderr\n", cfg.log, err);
		log = logsink_open("stderr", &err);
	}
	if (why == NULL) {
		image_cache_set(cfg.cache_dir);
		m = load_manifest(&cfg, &why);
	}

	gw_request_init(&req, environ, &cfg);
	/* CGI has no end-of-body marker: without CONTENT_LENGTH there is
	 * no body (RFC 3875 §4.2). */
	body.left = req.content_length >= 0 ? req.content_length : 0;
	req.read_body = cgi_read_body;
	req.body_ctx = &body;

	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.manifest_error = why;
	ctx.config = &cfg;
	/* shared with the other processes of GATEWAY_STATE_DIR (metrics.h) */
	stats = metrics_open(cfg.state_dir, -1, &own, PROG);
	metrics_inflight(stats, 1);
	ctx.stats = stats;
	ctx.now = time(NULL);
	gw_serve(&ctx, &req, &resp, &ev);

	cgi_drain_body(&body);
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
	memset(&cout, 0, sizeof(cout));
	/* libcurl comes with the module, for the requests that need it */
	if (resp.proxy && (pm = proxy_module_load(&err)) == NULL) {
		fprintf(stderr, PROG ": %s\n", err);
		proxy_module_fail(&resp, &ev, err);
	}
	if (resp.proxy) {
		/* fills ev.status, ev.bytes and ev.error itself */
		px = pm->proxy_new(&cfg);
		memset(&pout, 0, sizeof(pout));
		pout.ctx = &cout;
		pout.write = cgi_out_write;
		pout.flush = cgi_out_flush;
		pout.abort = cgi_out_abort;
		pout.relay = cgi_out_relay;
		pm->proxy_serve(px, &ctx, &req, &resp, &ev, &pout);
		werr = cout.werr;
	} else {
		resp_format_head(&resp, &out);
		if (cgi_put(out.p, out.n) < out.n)
			werr = errno;
		else if (!req.is_head && resp.status != 304 &&
		    resp.body.n > 0 &&
		    (sent = cgi_put(resp.body.p, resp.body.n)) < resp.body.n)
			werr = errno;
		ev.status = resp.status;
		ev.bytes = (long long)sent;
	}
	/* EOF ends the response for the web server; a socket shared with
	 * stdin (mod_cgid) needs an explicit FIN for that */
	if (!cout.aborted)
		shutdown(STDOUT_FILENO, SHUT_WR);
	if (close(STDOUT_FILENO) == -1 && werr == 0 && errno != EINTR &&
	    !cout.aborted)
		werr = errno;
	if (werr != 0 && ev.error == NULL) {
		buf_reset(&out);
		buf_printf(&out, "response not delivered: %s", strerror(werr));
		ev.error = buf_steal(&out);
	}

	ev.duration_ms = mono_elapsed_ms(&req.mono);
	buf_reset(&out);
	event_format(&ev, &req, &out);
	/* counted before it is logged, as in the FastCGI program */
	gw_stats_count(stats, ev.type, ev.status);
	metrics_observe(stats, ev.type, mono_elapsed_us(&req.mono));
	metrics_inflight(stats, -1);
	metrics_detach();
	logsink_write(log, out.p, out.n);

	buf_free(&out);
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	manifest_unref(m);
	free(why);
	logsink_close(log);
	if (px != NULL) {
		pm->proxy_free(px);
		pm->cleanup();
	}
	return cout.aborted ? 1 : 0;
}
