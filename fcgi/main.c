/*
 * scarf-gateway: the FastCGI program (SPEC §14.1, §15).
 *
 * A thin front end: N worker threads accept on one listening socket,
 * read each request with FCGX_Accept_r() (conn_next: within
 * --request-timeout) and hand it to gw_serve(); the main thread owns
 * every signal (one sigtimedwait() loop) and the manifest: it polls the
 * file or URL, reloads it on SIGHUP and swaps it in atomically.  Signals
 * are blocked in every thread before any starts, so no libfcgi read or
 * write sees EINTR (libfcgi does not retry), and SIGUSR1 (libfcgi's own
 * "finish and exit") can mean "reopen the log" (cmd_serve).
 *
 * Only the FCGX_* API is used, never fcgi_stdio.h: that one replaces
 * stdio and environ, and is not thread-safe.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif

#include <curl/curl.h>
#include <fcgiapp.h>

#include "buf.h"
#include "gateway.h"
#include "logsink.h"
#include "image.h"
#include "manifest.h"
#include "metrics.h"
#include "proxy.h"
#include "report.h"
#include "sha256.h"
#include "xmalloc.h"

#define PROG		"scarf-gateway"
#define BACKLOG		1024
#define STACK_SIZE	(1024 * 1024)	/* proxying runs libcurl+TLS here */
#define MANIFEST_MAX	(256L * 1024 * 1024)	/* a fetched manifest */
#define DRAIN_EXTRA	10	/* seconds to wait beyond --upstream-timeout */
#define IDLE_GRACE	500	/* ms for idle workers to leave at shutdown */

/* Where the manifest comes from, and what it looked like last time. */
struct msource {
	const char	*where;		/* path or URL (borrowed) */
	int		 is_url;
	/* file: identity at the last load attempt (§15) */
	int		 have_id;
	int		 id_ok;		/* stat() succeeded */
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtim;
	/* URL: validators of the last successful fetch (§15) */
	char		*etag;
	char		*last_modified;
	/* URL: digest of the last 200 body, for servers that never say 304 */
	int		 have_digest;
	unsigned char	 digest[32];
	/* the last load attempt that read the source found a valid
	 * manifest: an unchanged source then confirms the served one */
	int		 last_valid;
};

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

enum load_result {
	LOAD_OK = 0,		/* same values as manifest_load_file() */
	LOAD_INVALID = 1,
	LOAD_UNREADABLE = 2,
	LOAD_UNCHANGED = 3	/* 304 from a manifest URL */
};

/*
 * What the main thread watches of a worker reading a request's params
 * (conn_next): a duplicate of the connection, so that the descriptor
 * stays the same socket however libfcgi closes its own, and when the
 * request started.  fd is -1 when there is nothing to watch.
 */
struct watch {
	pthread_mutex_t	 mu;
	int		 fd;
	struct timespec	 deadline;	/* CLOCK_MONOTONIC */
};

static struct {
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
} g = {
	.stats = &g.own,
	.listen_fd = -1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " [options]\n"
	    "       " PROG " [options] --check\n"
	    "       " PROG " [options] explain METHOD HOST PATH "
	    "[NAME:VALUE ...]\n"
	    "       " PROG " report [--help] [options] [LOG...]\n"
	    "\n"
	    "options (each also read from the environment variable shown):\n"
	    "  --manifest PATH|URL       GATEWAY_MANIFEST\n"
	    "  --listen unix:PATH|tcp:HOST:PORT\n"
	    "                            GATEWAY_LISTEN (default: the socket "
	    "on fd 0,\n"
	    "                            or systemd's LISTEN_FDS)\n"
	    "  --threads N               GATEWAY_THREADS (default: CPUs)\n"
	    "  --log PATH|stderr|stdout|syslog|none\n"
	    "                            GATEWAY_LOG (default: stderr)\n"
	    "  --trust-forwarded-host    GATEWAY_TRUST_FORWARDED_HOST=1\n"
	    "  --public-scheme https|http|auto\n"
	    "                            GATEWAY_PUBLIC_SCHEME (default: "
	    "https)\n"
	    "  --metrics-allow CIDR[,CIDR...]\n"
	    "                            GATEWAY_METRICS_ALLOW\n"
	    "  --upstream-timeout SECONDS\n"
	    "                            GATEWAY_UPSTREAM_TIMEOUT (default: "
	    "60)\n"
	    "  --request-timeout SECONDS GATEWAY_REQUEST_TIMEOUT: a request's "
	    "records\n"
	    "                            must arrive within (default: 30)\n"
	    "  --poll SECONDS            GATEWAY_POLL (default: 5, 0 = off)\n"
	    "  --offload-prefix PATH     GATEWAY_OFFLOAD_PREFIX (nginx "
	    "X-Accel-Redirect,\n"
	    "                            deploy/nginx-offload.conf; default: "
	    "off)\n"
	    "  --splice 1|0              GATEWAY_SPLICE (default: 1: large "
	    "plain-http\n"
	    "                            proxied bodies move with splice(2))\n"
	    "  --abort-mode reset|end    GATEWAY_ABORT_MODE: how an answer cut "
	    "short\n"
	    "                            ends (default: reset; end for "
	    "mod_fcgid)\n"
	    "  --log-client-ip full|truncate|hash|hash:FILE|none\n"
	    "                            GATEWAY_LOG_CLIENT_IP: the client "
	    "address in\n"
	    "                            the event log (default: full)\n"
	    "  --state-dir DIR           GATEWAY_STATE_DIR: the processes "
	    "using DIR\n"
	    "                            share their /-/metrics counters "
	    "(default:\n"
	    "                            those serving the same socket)\n"
	    "  --cache-dir DIR|none      GATEWAY_CACHE_DIR: compiled manifest "
	    "images\n"
	    "                            (default: " IMAGE_CACHE_DEFAULT
	    " if usable)\n"
	    "  --check                   validate the manifest and exit\n"
	    "  --version, --help\n");
}

/* ------------------------------------------------------------------ */
/* Manifest sources: a file or an http(s) URL                           */
/* ------------------------------------------------------------------ */

static int
is_url(const char *s)
{
	return strncasecmp(s, "http://", 7) == 0 ||
	    strncasecmp(s, "https://", 8) == 0;
}

/* Records the file's identity (§15: modification time, size, inode). */
static void
source_stat(struct msource *src)
{
	struct stat	 st;

	src->have_id = 1;
	src->id_ok = stat(src->where, &st) == 0;
	if (!src->id_ok)
		return;
	src->dev = st.st_dev;
	src->ino = st.st_ino;
	src->size = st.st_size;
	src->mtim = st.st_mtim;
}

/*
 * 1 when the file looks different from the last load attempt.  A file
 * that cannot be stat()ed counts as a change once (the reload reports
 * it), not on every poll.
 */
static int
source_changed(const struct msource *src)
{
	struct stat	 st;
	int		 ok;

	if (src->is_url || !src->have_id)
		return 1;
	ok = stat(src->where, &st) == 0;
	if (ok != src->id_ok)
		return 1;
	if (!ok)
		return 0;
	return st.st_dev != src->dev || st.st_ino != src->ino ||
	    st.st_size != src->size ||
	    st.st_mtim.tv_sec != src->mtim.tv_sec ||
	    st.st_mtim.tv_nsec != src->mtim.tv_nsec;
}

/*
 * Fetches a manifest URL with the proxy module's buffered GET (its redirect
 * and protocol limits apply).  With `conditional`, sends the validators of
 * the last successful fetch (§15).  Returns LOAD_OK with the text in
 * up->body, LOAD_UNCHANGED on 304, or LOAD_UNREADABLE with a line in
 * d->errors.  Runs on the main thread only, which owns g.fetcher.
 */
static enum load_result
source_fetch(struct msource *src, int conditional, struct upstream_resp *up,
    struct manifest_diag *d)
{
	static const char *const why[] = {
		[UP_OK] = "", [UP_CONNECT] = "cannot connect",
		[UP_TIMEOUT] = "timed out", [UP_TOO_BIG] = "larger than 256 MiB",
		[UP_PROTOCOL] = "invalid HTTP response",
	};
	struct buf	 inm = BUF_INIT, ims = BUF_INIT;
	char		*hdrs[3];
	size_t		 n = 0;
	enum load_result res = LOAD_UNREADABLE;

	if (g.fetcher == NULL)
		g.fetcher = proxy_new(&g.config);
	if (conditional && src->etag != NULL) {
		buf_printf(&inm, "If-None-Match: %s", src->etag);
		hdrs[n++] = inm.p;
	}
	if (conditional && src->last_modified != NULL) {
		buf_printf(&ims, "If-Modified-Since: %s", src->last_modified);
		hdrs[n++] = ims.p;
	}
	hdrs[n] = NULL;
	if (proxy_fetch(g.fetcher, src->where, hdrs, MANIFEST_MAX, up) == -1) {
		const char *e = proxy_last_error(g.fetcher);
		buf_printf(&d->errors, "%s: cannot fetch: %s\n", src->where,
		    up->err != UP_TOO_BIG && *e ? e : why[up->err]);
	} else if (up->status == 304 && conditional)
		res = LOAD_UNCHANGED;
	else if (up->status != 200)
		buf_printf(&d->errors, "%s: cannot fetch: HTTP status %d\n",
		    src->where, up->status);
	else {
		/* a 200 sets the validators even if the text is invalid:
		 * a broken manifest is reported once, not on every poll */
		free(src->etag);
		free(src->last_modified);
		src->etag = up->etag;
		src->last_modified = up->last_modified;
		up->etag = up->last_modified = NULL;
		res = LOAD_OK;
	}
	buf_free(&inm);
	buf_free(&ims);
	return res;
}

/*
 * Loads the manifest from its source.  `conditional` only matters for a
 * URL.  Returns a load_result; on LOAD_OK *out holds one reference.
 */
static enum load_result
source_load(struct msource *src, int conditional, struct manifest **out,
    struct manifest_diag *d)
{
	struct upstream_resp	 f;
	enum load_result	 res;
	unsigned char		 digest[32];

	*out = NULL;
	if (!src->is_url) {
		/* before reading: a write during the read shows up as one
		 * more change at the next poll */
		source_stat(src);
		res = (enum load_result)manifest_load_file(src->where, out, d);
		src->last_valid = res == LOAD_OK;
		return res;
	}
	memset(&f, 0, sizeof(f));
	res = source_fetch(src, conditional, &f, d);
	if (res == LOAD_OK) {
		sha256(f.body.p != NULL ? f.body.p : "", f.body.n, digest);
		if (conditional && src->have_digest &&
		    memcmp(digest, src->digest, sizeof(digest)) == 0)
			res = LOAD_UNCHANGED;
		memcpy(src->digest, digest, sizeof(digest));
		src->have_digest = 1;
	}
	if (res == LOAD_OK && image_parse_cached(src->where, f.body.p ?
	    f.body.p : "", f.body.n, out, d) == -1)
		res = LOAD_INVALID;
	if (res == LOAD_OK || res == LOAD_INVALID)
		src->last_valid = res == LOAD_OK;
	upstream_resp_free(&f);
	return res;
}

/* Prints a diagnostics buffer (lines) to stderr. */
static void
print_lines(const struct buf *b)
{
	if (b->n == 0)
		return;
	fwrite(b->p, 1, b->n, stderr);
	if (b->p[b->n - 1] != '\n')
		fputc('\n', stderr);
}

/* The first line of the errors, for /-/health; caller frees. */
static char *
first_line(const struct buf *b)
{
	const char	*nl;

	if (b->n == 0)
		return xstrdup("manifest could not be loaded");
	nl = memchr(b->p, '\n', b->n);
	return xstrndup(b->p, nl != NULL ? (size_t)(nl - b->p) : b->n);
}

/* ------------------------------------------------------------------ */
/* Published state                                                      */
/* ------------------------------------------------------------------ */

static struct gw_state *
state_new(struct manifest *m, char *reload_error)
{
	struct gw_state	*st;

	st = xcalloc(1, sizeof(*st));
	st->refs = 1;
	st->manifest = m;
	st->reload_error = reload_error;
	return st;
}

/* The current state, with a reference the caller drops by state_put. */
static struct gw_state *
state_get(void)
{
	struct gw_state	*st;

	pthread_mutex_lock(&g.mu);
	st = g.cur;
	st->refs++;
	pthread_mutex_unlock(&g.mu);
	return st;
}

static void
state_put(struct gw_state *st)
{
	int	 last;

	if (st == NULL)
		return;
	pthread_mutex_lock(&g.mu);
	last = --st->refs == 0;
	pthread_mutex_unlock(&g.mu);
	if (!last)
		return;
	manifest_unref(st->manifest);
	free(st->reload_error);
	free(st);
	atomic_store(&g.trim, 1);
}

/*
 * Gives the memory of freed manifests back to the system.  glibc keeps
 * freed memory for reuse: after a reload from a 160,000-rule manifest
 * (390 MiB) to a small one the process kept its size for good.
 * malloc_trim(0) returns every free page of every arena (glibc 2.8 and
 * later).  On the main thread, after the last request holding the old
 * state let go of it (state_put), so that no request waits for it; the
 * control loop calls this every second.
 */
static void
memory_trim(void)
{
	if (!atomic_exchange(&g.trim, 0))
		return;
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
}

/* Publishes st (its reference moves to g.cur) and drops the old one. */
static void
state_publish(struct gw_state *st)
{
	struct gw_state	*old;

	pthread_mutex_lock(&g.mu);
	old = g.cur;
	g.cur = st;
	pthread_mutex_unlock(&g.mu);
	state_put(old);
}

/*
 * The source still holds the served manifest (a 304, the same body, an
 * unchanged file): recorded for /-/metrics; an error left by an earlier
 * failed fetch (the server was down) no longer applies and is cleared.
 */
static void
manifest_confirmed(void)
{
	struct gw_state	*cur;

	atomic_store(&g.stats->manifest_confirmed, (long long)time(NULL));
	cur = state_get();
	if (cur->reload_error != NULL) {
		fprintf(stderr, PROG ": %s: the source holds the served "
		    "manifest again\n", g.src.where);
		manifest_ref(cur->manifest);
		state_publish(state_new(cur->manifest, NULL));
	}
	state_put(cur);
}

/*
 * Reloads the manifest (§15): parse and validate it completely, then swap
 * it in; running requests keep theirs.  A bad manifest is reported on
 * stderr, counted, and kept as last-reload-error; the old one stays.
 * A successful reload clears the error.
 */
static void
manifest_reload(const char *why, int conditional)
{
	struct manifest_diag	 d;
	struct manifest		*m, *old;
	struct gw_state		*cur;
	enum load_result	 res;

	memset(&d, 0, sizeof(d));
	res = source_load(&g.src, conditional, &m, &d);
	if (res == LOAD_UNCHANGED) {
		if (g.src.last_valid)
			manifest_confirmed();
		goto done;
	}
	print_lines(&d.warnings);
	if (res == LOAD_OK) {
		fprintf(stderr, PROG ": manifest reloaded (%s): %s, %zu "
		    "rules\n", why, g.src.where, m->nrules);
		atomic_fetch_add(&g.stats->reloads_ok, 1);
		state_publish(state_new(m, NULL));
		goto done;
	}
	fprintf(stderr, PROG ": manifest reload (%s) failed, the previous "
	    "manifest stays in use:\n", why);
	print_lines(&d.errors);
	atomic_fetch_add(&g.stats->reloads_error, 1);
	cur = state_get();
	old = cur->manifest;
	manifest_ref(old);
	state_put(cur);
	state_publish(state_new(old, first_line(&d.errors)));
done:
	manifest_diag_free(&d);
}

/* ------------------------------------------------------------------ */
/* Listening socket                                                     */
/* ------------------------------------------------------------------ */

static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	}
	return 0;
}

/*
 * unix:PATH.  A stale socket file (nobody accepts on it) is replaced; a
 * live one or any other file is an error.  The socket is created 0666
 * (umask 0111 around bind, so it never exists with another mode; we are
 * still single-threaded): restrict who may connect with the permissions
 * of its directory.
 */
static int
listen_unix(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, probe, rc;
	mode_t			 old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, PROG ": --listen unix:%s: path too long\n",
		    path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, PROG ": --listen unix:%s: exists and "
			    "is not a socket\n", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0) {
			close(probe);
			fprintf(stderr, PROG ": --listen unix:%s: another "
			    "process is listening on it\n", path);
			return -1;
		}
		if (probe != -1)
			close(probe);
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return -1;
	}
	old = umask(0111);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		fprintf(stderr, PROG ": --listen unix:%s: %s\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	g.unix_path = xstrdup(path);
	if (listen(fd, BACKLOG) == -1) {
		fprintf(stderr, PROG ": --listen unix:%s: %s\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* tcp:HOST:PORT, HOST a name, an IPv4 address or a bracketed IPv6 one. */
static int
listen_tcp(const char *spec)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		*host, *port;
	int		 fd = -1, on = 1, rc, saved = 0;

	host = xstrdup(spec);
	port = strrchr(host, ':');
	*port++ = '\0';
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, PROG ": --listen tcp:%s: %s\n", spec,
		    gai_strerror(rc));
		goto done;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, BACKLOG) == 0) {
			if (!is_loopback(ai->ai_addr))
				fprintf(stderr, PROG ": warning: tcp:%s is "
				    "not a loopback address; never expose "
				    "the FastCGI port\n", spec);
			break;
		}
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		fprintf(stderr, PROG ": --listen tcp:%s: %s\n", spec,
		    strerror(saved));
done:
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	return fd;
}

/*
 * Chooses the listening socket: --listen; else
 * systemd socket activation (fd 3); else fd 0 when it is a listening
 * socket (mod_fcgid, lighttpd bin-path, spawn-fcgi, cgi-fcgi -start: each
 * puts the socket on fd 0 and execs us; mod_fcgid and lighttpd with
 * max-procs give every process a socket of its own, spawn-fcgi -F N and
 * cgi-fcgi -start one shared by all).
 * Returns the fd, or -1 after printing why.
 */
static int
listener_open(void)
{
	const char	*pid, *nfds;
	int		 fd;

	if (g.config.listen != NULL) {
		g.own_listener = 1;
		if (strncmp(g.config.listen, "unix:", 5) == 0)
			return listen_unix(g.config.listen + 5);
		return listen_tcp(g.config.listen + 4);
	}
	pid = getenv("LISTEN_PID");
	nfds = getenv("LISTEN_FDS");
	if (pid != NULL && nfds != NULL && atol(pid) == (long)getpid() &&
	    atoi(nfds) >= 1) {
		fd = 3;		/* SD_LISTEN_FDS_START */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		return fd;
	}
	if (!FCGX_IsCGI())
		return 0;
	fprintf(stderr, PROG ": no socket to serve on: fd 0 is not a "
	    "listening socket; use --listen, spawn-fcgi or a web server that "
	    "starts FastCGI programs (see --help)\n");
	return -1;
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */
/* ------------------------------------------------------------------ */

/* SO_RCVTIMEO: a blocking read of fd fails with EAGAIN after ms. */
static void
conn_read_limit(int fd, long long ms)
{
	struct timeval	 tv;

	if (ms < 1)
		ms = 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

struct fcgi_body {
	FCGX_Stream	*in;
	long long	 left;
	int		 fd;		/* the connection */
	struct timespec	 first;		/* the request's first byte */
};


/*
 * gw_read_fn over the FastCGI stdin stream, at most CONTENT_LENGTH, and
 * no later than --request-timeout after the request's first byte (see
 * conn_next): each read may wait only for what is left of that.
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
 * Large proxied bodies bypass libfcgi's 8 KiB stream buffer: what it holds
 * is flushed first (as whole records), then the bytes go out as
 * FCGI_STDOUT records (FastCGI 1.0 §5.3) straight from the caller's
 * buffer, several records per writev().  The same bytes on the wire as
 * libfcgi would write, with one copy less and an eighth of the system
 * calls.  Measured through deploy/nginx.conf on a 256 MiB blob: about 0.85
 * of the throughput of nginx's own proxy_pass through libfcgi, about 1.0
 * this way.  Smaller writes (headers, small bodies) take libfcgi's buffer.
 */
#define RAW_MIN		(16 * 1024)
#define RAW_RECORD	65528	/* content per record: the maximum, 65535,
				 * rounded down to a multiple of 8 (no
				 * padding needed) */
#define RAW_BATCH	16	/* records per writev() */
#define FCGI_STDOUT_T	6
/* a record's content length is 16 bits (FastCGI 1.0 §3.3), and a whole
 * number of 8-byte units needs no padding */
_Static_assert(RAW_RECORD <= 0xffff && RAW_RECORD % 8 == 0,
    "RAW_RECORD fits one FCGI_STDOUT record without padding");
/* the tail of a body (proxy.h) must take libfcgi's buffer, so that
 * END_REQUEST leaves in the same write as the last body bytes */
_Static_assert(PROXY_TAIL < RAW_MIN, "PROXY_TAIL below RAW_MIN");
/* the relay frames spliced records with fcgi_record_header()'s 8 bytes */
_Static_assert(8 <= RELAY_HDRMAX, "a FastCGI header fits RELAY_HDRMAX");

/* The header of an FCGI_STDOUT record of c (<= RAW_RECORD) bytes. */
static void
fcgi_record_header(const FCGX_Request *r, size_t c, unsigned char *hdr)
{
	hdr[0] = 1;		/* FCGI_VERSION_1 */
	hdr[1] = FCGI_STDOUT_T;
	hdr[2] = (unsigned char)(r->requestId >> 8);
	hdr[3] = (unsigned char)r->requestId;
	hdr[4] = (unsigned char)(c >> 8);
	hdr[5] = (unsigned char)c;
	hdr[6] = 0;		/* padding */
	hdr[7] = 0;
}

/* Writes p[0..n) as FCGI_STDOUT records of request r.  0 or -1. */
static int
fcgi_put_records(FCGX_Request *r, const char *p, size_t n)
{
	unsigned char	 hdr[RAW_BATCH][8];
	struct iovec	 iov[2 * RAW_BATCH], *v;
	size_t		 k, c;
	ssize_t		 w;
	int		 niov, fd = fcgi_conn_fd(r);

	while (n > 0) {
		niov = 0;
		for (k = 0; k < RAW_BATCH && n > 0; k++) {
			c = n > RAW_RECORD ? RAW_RECORD : n;
			fcgi_record_header(r, c, hdr[k]);
			iov[niov].iov_base = hdr[k];
			iov[niov++].iov_len = 8;
			iov[niov].iov_base = (void *)(uintptr_t)p;
			iov[niov++].iov_len = c;
			p += c;
			n -= c;
		}
		for (v = iov; niov > 0; ) {
			if ((w = writev(fd, v, niov)) == -1) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			for (; niov > 0 && (size_t)w >= v->iov_len; niov--)
				w -= (ssize_t)(v++)->iov_len;
			if (niov > 0) {
				v->iov_base = (char *)v->iov_base + w;
				v->iov_len -= (size_t)w;
			}
		}
	}
	return 0;
}

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

/* The client side of a proxied response (proxy.h), over r->out. */
static int
fcgi_out_write(void *arg, const void *p, size_t n)
{
	struct fcgi_sink	*s = arg;

	if (n < RAW_MIN)
		return fcgi_put(s, p, n) == n ? 0 : -1;
	if (fcgi_flush(s) != 0)
		return -1;
	return fcgi_put_records(s->r, p, n);
}

/* relay_frame_fn: each spliced piece is one FCGI_STDOUT record. */
static size_t
fcgi_frame(void *arg, size_t len, unsigned char hdr[RELAY_HDRMAX])
{
	fcgi_record_header(arg, len, hdr);
	return 8;
}

/*
 * gw_out.relay: the upstream's bytes go into FCGI_STDOUT records on the
 * web server's connection by splice(2), framed like fcgi_put_records()
 * frames them, after what libfcgi holds.
 */
static long long
fcgi_out_relay(void *arg, int fd, long long n, int timeout_ms,
    enum relay_end *end)
{
	struct fcgi_sink	*s = arg;
	struct relay_to		 to;

	if (fcgi_flush(s) != 0) {
		*end = RELAY_CLIENT;
		return 0;
	}
	to.fd = fcgi_conn_fd(s->r);
	to.rec_max = RAW_RECORD;
	to.frame = fcgi_frame;
	to.arg = s->r;
	return relay_splice(fd, &to, n, timeout_ms, end);
}

static int
fcgi_out_flush(void *arg)
{
	return fcgi_flush(arg);
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
	static const unsigned char	 bad[8];	/* version 0 */
	struct fcgi_sink		*s = arg;
	int				 fd = fcgi_conn_fd(s->r);

	if (g.config.abort_end) {
		/* END_REQUEST follows from FCGX_FClose() */
		(void)fcgi_flush(s);
		return;
	}
	if (fcgi_flush(s) == 0)
		(void)!write(fd, bad, sizeof(bad));
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
static void
pool_free(void)
{
	while (pool.n > 0)
		proxy_free(pool.idle[--pool.n]);
}

/*
 * Serves one accepted request.  The response is completed towards the
 * web server (both output streams closed, which sends END_REQUEST)
 * before the event is formatted and logged; FCGX_Finish_r() comes after
 * that, because it frees r->envp, which the event line still reads
 * (User-Agent, Referer).  A proxied answer is streamed by proxy_serve()
 * with a proxy from the pool (pool_get).
 */
static void
serve_fcgi(FCGX_Request *r, const struct timespec *first)
{
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct gw_ctx		 ctx;
	struct gw_state		*st;
	struct fcgi_body	 body;
	struct fcgi_sink	 sink = { r, 0 };
	struct proxy		*px;
	struct gw_out		 pout;
	struct buf		 out = BUF_INIT;
	size_t			 sent = 0;
	long long		 held;
	int			 err;

	metrics_inflight(g.stats, 1);
	gw_request_init(&req, r->envp, &g.config);
	body.in = r->in;
	body.fd = fcgi_conn_fd(r);
	body.first = *first;
	body.left = req.content_length >= 0 ? req.content_length : LLONG_MAX;
	req.read_body = fcgi_read_body;
	req.body_ctx = &body;

	st = state_get();
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = st->manifest;
	ctx.last_reload_error = st->reload_error;
	ctx.config = &g.config;
	ctx.stats = g.stats;
	ctx.now = time(NULL);

	gw_serve(&ctx, &req, &resp, &ev);

	if (resp.proxy) {
		/* fills ev.status, ev.bytes and ev.error itself */
		px = pool_get();
		fcgi_sndbuf_grow(r);
		memset(&pout, 0, sizeof(pout));
		pout.ctx = &sink;
		pout.write = fcgi_out_write;
		pout.flush = fcgi_out_flush;
		pout.abort = fcgi_out_abort;
		pout.relay = fcgi_out_relay;
		proxy_serve(px, &ctx, &req, &resp, &ev, &pout);
		pool_put(px);
	} else {
		/* `sent` counts what the stream took; a failure at the
		 * final flush shows up as ev.error below. */
		resp_format_head(&resp, &out);
		if (fcgi_put(&sink, out.p, out.n) == out.n &&
		    !req.is_head && resp.status != 304 && resp.body.n > 0)
			sent = fcgi_put(&sink, resp.body.p, resp.body.n);
		ev.status = resp.status;
		ev.bytes = (long long)sent;
	}
	/* nothing held back: the write that ends the response carries only
	 * the end records, and a web server that already had the whole
	 * answer may have closed before them (nginx after a HEAD's head,
	 * lighttpd at Content-Length): delivered, unless the connection
	 * says bytes were lost (relay_peer_took_all) */
	held = sink.pending;
	FCGX_FClose(r->err);	/* err first: no empty stderr record */
	FCGX_FClose(r->out);
	if ((err = FCGX_GetError(r->out)) != 0 && (held != 0 ||
	    !relay_peer_took_all(fcgi_conn_fd(r), err))) {
		/* what libfcgi still held never reached the web server: the
		 * last bytes written, so the body's last ones */
		ev.bytes -= ev.bytes < sink.pending ? ev.bytes : sink.pending;
		if (ev.error == NULL) {
			buf_reset(&out);
			buf_printf(&out, "response not delivered: %s", err > 0 ?
			    strerror(err) : "FastCGI protocol error");
			ev.error = buf_steal(&out);
		}
	}

	ev.duration_ms = mono_elapsed_ms(&req.mono);
	buf_reset(&out);
	event_format(&ev, &req, &out);
	/* counted before it is logged: a request in the log is in
	 * /-/metrics too (tests/e2e/metrics.sh waits on the log) */
	gw_stats_count(g.stats, ev.type, ev.status);
	metrics_observe(g.stats, ev.type, mono_elapsed_us(&req.mono));
	metrics_inflight(g.stats, -1);
	logsink_write(g.log, out.p, out.n);

	state_put(st);
	buf_free(&out);
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
}

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
static void
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

static void *
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

/* ------------------------------------------------------------------ */
/* Commands                                                             */
/* ------------------------------------------------------------------ */

/* --check (§14.1): 0 valid, 1 invalid, 2 unreadable. */
static int
cmd_check(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	enum load_result	 res;

	memset(&d, 0, sizeof(d));
	res = source_load(&g.src, 0, &m, &d);
	print_lines(&d.errors);
	print_lines(&d.warnings);
	manifest_unref(m);
	manifest_diag_free(&d);
	return res == LOAD_OK ? 0 : res == LOAD_INVALID ? 1 : 2;
}

/* Loads the manifest at start-up; prints why and returns -1 on failure. */
static struct manifest *
load_startup(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;

	memset(&d, 0, sizeof(d));
	if (source_load(&g.src, 0, &m, &d) != LOAD_OK) {
		print_lines(&d.errors);
		manifest_unref(m);
		m = NULL;
	}
	print_lines(&d.warnings);
	manifest_diag_free(&d);
	return m;
}

/* explain METHOD HOST PATH [NAME:VALUE...]: one JSON object on stdout. */
static int
cmd_explain(char *const *av, size_t ac)
{
	struct gw_ctx	 ctx;
	struct manifest	*m;
	struct buf	 out = BUF_INIT;

	if ((m = load_startup()) == NULL)
		return 1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &g.config;
	ctx.stats = g.stats;
	ctx.now = time(NULL);
	gw_explain(&ctx, av[0], av[1], av[2], av + 3, ac - 3, &out);
	fwrite(out.p, 1, out.n, stdout);
	if (out.n > 0 && out.p[out.n - 1] != '\n')
		putchar('\n');
	buf_free(&out);
	manifest_unref(m);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* Serving                                                              */
/* ------------------------------------------------------------------ */

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
 * SIGTERM/SIGINT (§15): stop accepting, let running
 * requests finish, exit 0.  An own listener is shut down, which wakes
 * every worker blocked in accept() (EINVAL on Linux), so usually all of
 * them can be joined.  An inherited one (fd 0, systemd) may be shared with
 * sibling processes and is left alone: its idle workers stay in accept()
 * and end with the process.  (Workers waiting on a kept-alive
 * web-server connection close it within WAIT_SLICE, conn_next.)  Hence
 * the wait is for `busy` to reach 0, plus a short grace
 * for idle workers to leave.  A second signal, or the deadline, ends the
 * wait early.  Returns 1 when every worker has ended (they can be joined).
 */
/* (Observed with libfcgi's own handlers: SIGTERM ran a flag-setting
 * handler on the main thread and the workers stayed blocked in accept(),
 * the process alive; hence one thread taking every signal and this.) */
static int
drain(const sigset_t *set)
{
	struct timespec	 tick = { 0, 50 * 1000000L }, start, idle;
	long long	 limit = (g.config.upstream_timeout + DRAIN_EXTRA) *
			    1000LL;
	int		 sig, was_idle = 0;

	atomic_store(&g.stopping, 1);
	FCGX_ShutdownPending();
	if (g.own_listener)
		shutdown(g.listen_fd, SHUT_RDWR);
	now_mono(&start);
	for (;;) {
		if (atomic_load(&g.alive) == 0)
			return 1;
		if (atomic_load(&g.busy) == 0) {
			if (!was_idle) {
				was_idle = 1;
				now_mono(&idle);
			}
			if (!g.own_listener || mono_elapsed_ms(&idle) > IDLE_GRACE)
				return 0;
		} else
			was_idle = 0;
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
	}
}

/*
 * The main thread after the workers started: every signal is handled
 * here, synchronously, and the manifest is polled every --poll seconds.
 * Returns when the process should stop.
 */
static void
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
			if (source_changed(&g.src))
				manifest_reload("changed", 1);
			else if (g.src.last_valid)
				manifest_confirmed();
			now_mono(&last);
		}
	}
}

static int
cmd_serve(void)
{
	sigset_t	 set;
	struct sigaction sa;
	pthread_attr_t	 attr;
	pthread_t	*tids;
	struct manifest	*m;
	const char	*err;
	int		 i, n, all_joined;

	/* Before FCGX_Init and before any thread: blocked in every thread,
	 * these are only ever taken by sigtimedwait() in this one, so no
	 * libfcgi read or write sees EINTR (it does not retry).  Our
	 * handlers replace libfcgi's as a fallback (on_signal). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (FCGX_Init() != 0) {
		fprintf(stderr, PROG ": FCGX_Init failed\n");
		return 1;
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

	if ((m = load_startup()) == NULL)
		return 1;
	g.cur = state_new(m, NULL);
	if ((g.log = logsink_open(g.config.log, &err)) == NULL) {
		fprintf(stderr, PROG ": --log %s: %s\n", g.config.log, err);
		return 1;
	}
	if ((g.listen_fd = listener_open()) == -1)
		return 1;
	g.stats = metrics_open(g.config.state_dir, g.listen_fd, &g.own, PROG);

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

	control_loop(&set);
	all_joined = drain(&set);
	metrics_detach();
	if (g.unix_path != NULL)
		unlink(g.unix_path);
	if (!all_joined)
		exit(0);	/* idle workers end with the process */
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

/* ------------------------------------------------------------------ */

/* Flags and the variables they override (§14.1). */
static const struct {
	struct option	 opt;
	const char	*env;
} flags[] = {
	{ { "manifest", required_argument, NULL, 0 }, "GATEWAY_MANIFEST" },
	{ { "listen", required_argument, NULL, 0 }, "GATEWAY_LISTEN" },
	{ { "threads", required_argument, NULL, 0 }, "GATEWAY_THREADS" },
	{ { "log", required_argument, NULL, 0 }, "GATEWAY_LOG" },
	{ { "trust-forwarded-host", no_argument, NULL, 0 },
	    "GATEWAY_TRUST_FORWARDED_HOST" },
	{ { "public-scheme", required_argument, NULL, 0 },
	    "GATEWAY_PUBLIC_SCHEME" },
	{ { "metrics-allow", required_argument, NULL, 0 },
	    "GATEWAY_METRICS_ALLOW" },
	{ { "upstream-timeout", required_argument, NULL, 0 },
	    "GATEWAY_UPSTREAM_TIMEOUT" },
	{ { "request-timeout", required_argument, NULL, 0 },
	    "GATEWAY_REQUEST_TIMEOUT" },
	{ { "poll", required_argument, NULL, 0 }, "GATEWAY_POLL" },
	{ { "offload-prefix", required_argument, NULL, 0 },
	    "GATEWAY_OFFLOAD_PREFIX" },
	{ { "splice", required_argument, NULL, 0 }, "GATEWAY_SPLICE" },
	{ { "abort-mode", required_argument, NULL, 0 },
	    "GATEWAY_ABORT_MODE" },
	{ { "log-client-ip", required_argument, NULL, 0 },
	    "GATEWAY_LOG_CLIENT_IP" },
	{ { "state-dir", required_argument, NULL, 0 }, "GATEWAY_STATE_DIR" },
	{ { "cache-dir", required_argument, NULL, 0 }, "GATEWAY_CACHE_DIR" },
	{ { "check", no_argument, NULL, 'c' }, NULL },
	{ { "version", no_argument, NULL, 'V' }, NULL },
	{ { "help", no_argument, NULL, 'h' }, NULL },
};
#define NFLAGS	(sizeof(flags) / sizeof(flags[0]))

int
main(int argc, char *argv[])
{
	struct option	 longopts[NFLAGS + 1];
	const char	*setv[NFLAGS], *err;
	int		 ch, idx, check = 0, rc;
	size_t		 i;

	/* report [options] [LOG...]: its own flags (common/report.c) */
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);

	memset(longopts, 0, sizeof(longopts));
	memset(setv, 0, sizeof(setv));
	for (i = 0; i < NFLAGS; i++)
		longopts[i] = flags[i].opt;
	while ((ch = getopt_long(argc, argv, "hV", longopts, &idx)) != -1) {
		switch (ch) {
		case 0:
			setv[idx] = optarg != NULL ? optarg : "1";
			break;
		case 'c':
			check = 1;
			break;
		case 'V':
			printf(PROG " %s\n", gw_version);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if ((argc > 0 && (check || strcmp(argv[0], "explain") != 0)) ||
	    (argc > 0 && argc < 4)) {
		if (argc > 0 && strcmp(argv[0], "explain") == 0 && !check)
			fprintf(stderr, PROG ": explain needs METHOD HOST "
			    "PATH\n");
		else
			fprintf(stderr, PROG ": unexpected argument: %s\n",
			    argv[0]);
		usage(stderr);
		return 2;
	}

	/* Flags override the environment (§14.1). */
	gw_config_defaults(&g.config);
	if (gw_config_from_env(&g.config, &err) == -1) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	for (i = 0; i < NFLAGS; i++)
		if (setv[i] != NULL && gw_config_set(&g.config, flags[i].env,
		    setv[i], &err) == -1) {
			fprintf(stderr, PROG ": --%s %s: %s\n",
			    flags[i].opt.name, setv[i], err);
			usage(stderr);
			return 2;
		}
	if (event_ip_setup(&g.config, &err) == -1) {
		fprintf(stderr, PROG ": --log-client-ip %s\n", err);
		return 2;
	}
	g.src.where = g.config.manifest;
	g.src.is_url = is_url(g.src.where);

	curl_global_init(CURL_GLOBAL_DEFAULT);	/* before any thread */
	if (!check)		/* --check writes nothing */
		image_cache_set(g.config.cache_dir);
	if (check)
		rc = cmd_check();
	else if (argc > 0)
		rc = cmd_explain(argv + 1, (size_t)argc - 1);
	else
		rc = cmd_serve();

	state_put(g.cur);
	logsink_close(g.log);
	free(g.unix_path);
	free(g.src.etag);
	free(g.src.last_modified);
	curl_global_cleanup();
	return rc;
}
