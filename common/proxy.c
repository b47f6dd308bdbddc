/*
 * Upstream exchanges with libcurl: the docker proxy (SPEC §3.5) and the
 * buffered GET behind npm documents (§4.4).
 *
 * One struct proxy per worker thread holds one CURL easy handle, reused for
 * every exchange of that thread.  curl_easy_reset() between exchanges keeps
 * the handle's connection cache, so each worker keeps its connections to
 * the registries alive (curl_easy_reset() keeps the connection, DNS
 * and TLS session caches of the handle).  DNS answers and TLS sessions
 * are shared by all workers through one CURLSH; connections are not, since
 * curl's shared connection pool is not meant for concurrent threads.
 *
 * proxy_serve() streams.  The upstream's status and allowed headers are
 * written when the first body bytes arrive, or when the exchange ends
 * without a body (HEAD, 304, empty bodies).  After that every chunk libcurl
 * hands over is written and flushed at once, never accumulated.  When the
 * web server does not read, the write blocks, libcurl stops reading the
 * upstream, and TCP pushes back on the registry.  (nginx with
 * fastcgi_buffering on, and lighttpd with stream-response-body 0 or 1,
 * absorb the answer into their own memory or disk instead; Apache and
 * Caddy stream through with this backpressure.)
 * Until the head is written a failure can still be answered cleanly with a
 * 502 or 504.  After that the only honest signal left is to abort the
 * client's connection, so that a client that was promised a Content-Length
 * sees a truncated transfer and never a complete short one (§10.3).
 *
 * Redirects and the SSRF policy (SPEC §3.5, §4.4; where we differ).  The
 * gateway sends requests only to hosts the manifest names: the first URL
 * of an exchange is always the rule's registry base + a path built from
 * the request (docker: the raw path under /v2/; npm: the validated name
 * and version, npm.c), so no request can steer it elsewhere, and libcurl's
 * own redirect following is off, so each upstream redirect is judged here
 * (proxy_redirect_decide, in_scope).  The proxy follows a redirect, with
 * the same method and forwarded headers (Authorization included), only
 * when it stays inside the scope gw_serve() set: the same scheme, the host
 * written exactly as the rule's registry writes it (ASCII case aside; no
 * userinfo, no backslash, so "0x7f000001", "127.1", "//evil", "reg@evil"
 * and the like never qualify), the same port, and a path under the same
 * repository ("/v2/<name>/" for docker, "/v2" alone for the API root; the
 * registry's path prefix for npm) with no segment that decodes to "." or
 * "..".  Every other Location goes to the client as a 307 and the proxy
 * never contacts it, so the client's Authorization reaches no host but
 * the registry the rule names.
 *
 * SPEC §3.5 says a Location under /v2 is followed on any host, with the
 * forwarded headers; that let a registry (or whoever can answer for it)
 * aim the gateway at internal addresses (169.254.169.254, loopback
 * services) and read the answer, with the client's credentials attached.
 * A registry that moves its API to another host now sends the client
 * there itself, as it does for a CDN blob; docker clients follow a 307.
 * npm documents (proxy_fetch_scoped) follow the same rule: libcurl used to
 * follow any http(s) Location and the body came back to the client.
 * Control bytes, spaces and non-ASCII bytes of a Location are %XX-escaped
 * before it is read (SPEC §0), so they no longer fail the exchange.
 *
 * Timeouts.  CURLOPT_TIMEOUT would cut long downloads, so the progress
 * callback measures instead: no complete header block within the upstream
 * timeout of the request (or of a redirect hop) gives 504, and no body
 * byte for that long while streaming aborts the response.  Connecting
 * (TCP and TLS) is bounded by the same value through
 * CURLOPT_CONNECTTIMEOUT.
 *
 * Splicing.  A large body of known length from a plain-http upstream need
 * not pass through user space at all: once libcurl has handed over every
 * byte it read from the connection, the rest moves from the upstream
 * socket to the web server's connection with splice(2) (relay.h), and the
 * last PROXY_TAIL bytes are read and written as usual.  libcurl is then
 * told the transfer failed, so it closes that connection (its idea of
 * where the response ends is stale); the next request opens a new one.
 * See splice_rest() for when it applies.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "gateway.h"
#include "proxy.h"
#include "relay.h"
#include "util.h"
#include "xmalloc.h"

#ifndef CURL_WRITEFUNC_ERROR		/* libcurl < 7.87 */
#define CURL_WRITEFUNC_ERROR	0
#endif

/*
 * libcurl's receive buffer: the most it hands to one write callback.  The
 * default 16 KiB means four times as many callbacks (and flushes) for a
 * large blob.  A callback of at least RECORD_RAW_MIN (fcgi/record.h)
 * bypasses libfcgi's 8 KiB stream buffer and goes out as one FCGI_STDOUT
 * record of up to RECORD_MAX in a writev(): 64 KiB is one whole record per
 * callback, the largest a FastCGI record holds (65,535 bytes).
 */
#define PROXY_BUFSIZE	(64L * 1024)
#define PROXY_MAXHOPS	10		/* redirects followed (§3.5) */
/* The upstream's header block, all lines together: beyond is garbage. */
#define PROXY_HDRMAX	(64 * 1024)
/*
 * The head we write must fit the web server's header buffer: nginx answers
 * 502 "upstream sent too big header" beyond fastcgi_buffer_size, 16k in
 * deploy/nginx.conf and 4k or 8k (one page) by default.
 */
#define PROXY_HEADMAX	(12 * 1024)
/* A redirect's body is read (and dropped) up to this size, so that its
 * connection can be reused; beyond, the connection is given up. */
#define PROXY_SKIPMAX	(256 * 1024)
/*
 * Bodies from this size on are spliced.  Taking over costs the upstream
 * connection (libcurl drops it) and a pipe; a 1 MiB body repays that.
 */
#define PROXY_SPLICE_MIN	(1024L * 1024)
/* libcurl's sockets a worker tracks (it keeps at most 5 connections). */
#define PROXY_NSOCKS	16

#define BODY_502	"{\"errors\":[{\"code\":\"UNAVAILABLE\"," \
			"\"detail\":{},\"message\":\"upstream registry " \
			"unreachable\"}]}"
#define BODY_504	"{\"errors\":[{\"code\":\"UNAVAILABLE\"," \
			"\"detail\":{},\"message\":\"upstream registry " \
			"timed out\"}]}"

struct proxy {
	CURL		*curl;
	long		 timeout;		/* seconds */
	char		*cainfo;		/* SSL_CERT_FILE, or NULL */
	char		*capath;		/* SSL_CERT_DIR, or NULL */
	char		 errbuf[CURL_ERROR_SIZE];
	int		 splice;		/* may splice (proxy_new) */
	int		 socks[PROXY_NSOCKS];	/* libcurl's open sockets */
	int		 nsocks;
};

/* ------------------------------------------------------------------ */
/* The DNS and TLS session caches the workers share                     */
/* ------------------------------------------------------------------ */

static struct {
	pthread_mutex_t	 mu;		/* guards refs and sh */
	int		 refs;		/* live struct proxy */
	CURLSH		*sh;
	pthread_mutex_t	 locks[CURL_LOCK_DATA_LAST];
} shared = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void
share_lock(CURL *c, curl_lock_data d, curl_lock_access a, void *u)
{
	(void)c;
	(void)a;
	(void)u;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&shared.locks[d]);
}

static void
share_unlock(CURL *c, curl_lock_data d, void *u)
{
	(void)c;
	(void)u;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&shared.locks[d]);
}

/* The share with one more user, or NULL when libcurl has none to give. */
static CURLSH *
share_get(void)
{
	CURLSH	*sh;
	int	 i;

	pthread_mutex_lock(&shared.mu);
	if (shared.refs == 0) {
		for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_init(&shared.locks[i], NULL);
		if ((shared.sh = curl_share_init()) != NULL) {
			curl_share_setopt(shared.sh, CURLSHOPT_LOCKFUNC,
			    share_lock);
			curl_share_setopt(shared.sh, CURLSHOPT_UNLOCKFUNC,
			    share_unlock);
			curl_share_setopt(shared.sh, CURLSHOPT_SHARE,
			    CURL_LOCK_DATA_DNS);
			curl_share_setopt(shared.sh, CURLSHOPT_SHARE,
			    CURL_LOCK_DATA_SSL_SESSION);
		}
	}
	shared.refs++;
	sh = shared.sh;
	pthread_mutex_unlock(&shared.mu);
	return sh;
}

/* Drops a user; the last one frees the share (no handle uses it now). */
static void
share_put(void)
{
	int	 i;

	pthread_mutex_lock(&shared.mu);
	if (--shared.refs == 0) {
		if (shared.sh != NULL)
			curl_share_cleanup(shared.sh);
		shared.sh = NULL;
		for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&shared.locks[i]);
	}
	pthread_mutex_unlock(&shared.mu);
}

static int
env_set(const char *name)
{
	const char	*v = getenv(name);

	return v != NULL && *v != '\0';
}

/*
 * A proxy for one thread.  curl_global_init() must have run.  The upstream
 * timeout comes from the config; SSL_CERT_FILE and SSL_CERT_DIR (read here,
 * once: OpenSSL's names, which libcurl itself does not read) replace or
 * extend the system trust store.  Aborts when libcurl cannot make a handle
 * (it only fails for lack of memory).
 */
struct proxy *
proxy_new(const struct gw_config *cfg)
{
	struct proxy	*px;
	CURLSH		*sh;
	const char	*v;

	px = xcalloc(1, sizeof(*px));
	if ((px->curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "scarf-gateway: curl_easy_init failed\n");
		abort();
	}
	px->timeout = cfg != NULL && cfg->upstream_timeout > 0 ?
	    cfg->upstream_timeout : 60;
	if ((v = getenv("SSL_CERT_FILE")) != NULL && *v != '\0')
		px->cainfo = xstrdup(v);
	if ((v = getenv("SSL_CERT_DIR")) != NULL && *v != '\0')
		px->capath = xstrdup(v);
	/*
	 * Through a proxy from the environment the connection may be TLS
	 * to the proxy (an https:// proxy URL) even for an http:// upstream:
	 * only direct connections are spliced.
	 */
	px->splice = cfg == NULL || cfg->splice;
	if (env_set("http_proxy") || env_set("all_proxy") ||
	    env_set("ALL_PROXY"))
		px->splice = 0;
	/* kept across curl_easy_reset(), so set once */
	if ((sh = share_get()) != NULL)
		curl_easy_setopt(px->curl, CURLOPT_SHARE, sh);
	return px;
}

const char *
proxy_last_error(const struct proxy *px)
{
	return px != NULL ? px->errbuf : "";
}

void
proxy_free(struct proxy *px)
{
	if (px == NULL)
		return;
	curl_easy_cleanup(px->curl);
	share_put();
	free(px->cainfo);
	free(px->capath);
	free(px);
}

/* ------------------------------------------------------------------ */
/* Pure pieces                                                          */
/* ------------------------------------------------------------------ */

static const char *const allowed_headers[] = {
	"Content-Type", "Content-Length", "Content-Encoding", "Content-Range",
	"Accept-Ranges", "Docker-Content-Digest",
	"Docker-Distribution-Api-Version", "ETag", "Last-Modified",
	"Cache-Control", "WWW-Authenticate", "Link", "Retry-After", "Warning",
	"OCI-Subject", "OCI-Filters-Applied",
};

const char *
proxy_header_allowed(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof(allowed_headers) / sizeof(*allowed_headers);
	    i++)
		if (strlen(allowed_headers[i]) == len &&
		    strncasecmp(allowed_headers[i], name, len) == 0)
			return allowed_headers[i];
	return NULL;
}

/* 1 when v may go into a request header line (no CR or LF). */
static int
value_ok(const char *v)
{
	return strpbrk(v, "\r\n") == NULL;
}

static void
headers_add(char ***v, size_t *n, const char *name, const char *value)
{
	struct buf	 b = BUF_INIT;

	buf_printf(&b, "%s: %s", name, value);
	*v = xreallocarray(*v, *n + 2, sizeof(**v));
	(*v)[(*n)++] = buf_steal(&b);
	(*v)[*n] = NULL;
}

char **
proxy_request_headers(const struct gw_request *req)
{
	static const struct {
		const char	*name;
		const char	*param;
	} once[] = {
		{ "Authorization", "HTTP_AUTHORIZATION" },
		{ "Range", "HTTP_RANGE" },
		{ "If-None-Match", "HTTP_IF_NONE_MATCH" },
		{ "User-Agent", "HTTP_USER_AGENT" },
	};
	char		**v;
	const char	 *val;
	size_t		  n = 0, i;

	v = xcalloc(1, sizeof(*v));
	/* every Accept: skopeo sends six lines on a manifest GET, and a
	 * registry that sees only one answers "manifest unknown" */
	for (i = 0; (val = gw_param_nth(req, "HTTP_ACCEPT", i)) != NULL; i++)
		if (*val != '\0' && value_ok(val))
			headers_add(&v, &n, "Accept", val);
	/* an empty value counts as absent (§3.5) */
	for (i = 0; i < sizeof(once) / sizeof(*once); i++)
		if ((val = gw_header(req, once[i].param)) != NULL &&
		    value_ok(val))
			headers_add(&v, &n, once[i].name, val);
	return v;
}

void
proxy_headers_free(char **v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static int
is_redirect_status(int status)
{
	return status == 301 || status == 302 || status == 303 ||
	    status == 307 || status == 308;
}

/*
 * The written parts of a URL reference (RFC 3986 §4.1), without decoding
 * anything: the scheme when there is one, and the authority when it is
 * written ("scheme://auth..." or the network-path form "//auth...").
 * Returns 1 with the authority, 0 for a reference without one (a path, a
 * query, a fragment), -1 for a scheme not followed by "//" ("http:/x",
 * which libcurl reads as the host "x").
 */
static int
ref_parts(const char *s, const char **scheme, size_t *slen,
    const char **auth, size_t *alen)
{
	const char	*p = s, *a;

	*scheme = NULL;
	*slen = 0;
	if (isalpha((unsigned char)*p)) {
		for (p++; isalnum((unsigned char)*p) || *p == '+' ||
		    *p == '-' || *p == '.'; p++)
			;
		if (*p == ':') {
			*scheme = s;
			*slen = (size_t)(p - s);
			p++;
		} else
			p = s;
	}
	if (p[0] != '/' || p[1] != '/')
		return *scheme != NULL ? -1 : 0;
	a = p + 2;
	for (p = a; *p != '\0' && *p != '/' && *p != '?' && *p != '#'; p++)
		;
	*auth = a;
	*alen = (size_t)(p - a);
	return 1;
}

/* The default port of http and https, or -1. */
static long
default_port(const char *scheme, size_t n)
{
	if (n == 4 && strncasecmp(scheme, "http", 4) == 0)
		return 80;
	if (n == 5 && strncasecmp(scheme, "https", 5) == 0)
		return 443;
	return -1;
}

/*
 * The authority a[0..n) as written, split into host and port (-1: none
 * written).  Returns -1 when a holds userinfo or a backslash, when the
 * host is empty or the port is not 1-5 digits.
 */
static int
auth_split(const char *a, size_t n, const char **host, size_t *hlen,
    long *port)
{
	const char	*e = a + n, *colon = NULL, *p;
	long		 v = 0;

	if (memchr(a, '@', n) != NULL || memchr(a, '\\', n) != NULL)
		return -1;
	if (n > 0 && a[0] == '[') {
		if ((p = memchr(a, ']', n)) == NULL)
			return -1;
		if (p + 1 < e && p[1] != ':')
			return -1;
		colon = p + 1 < e ? p + 1 : NULL;
	} else
		colon = memchr(a, ':', n);
	*host = a;
	*hlen = colon != NULL ? (size_t)(colon - a) : n;
	*port = -1;
	if (*hlen == 0)
		return -1;
	/* "host:" is the default port (RFC 3986 §3.2.3) */
	if (colon != NULL && colon + 1 < e) {
		if (e - colon - 1 > 5)
			return -1;
		for (p = colon + 1; p < e; p++) {
			if (!isdigit((unsigned char)*p))
				return -1;
			v = v * 10 + (*p - '0');
		}
		*port = v;
	}
	return 0;
}

/*
 * Whether the decoded path p climbs: a segment that is "." or ".." once
 * every %XX is decoded, segments split at '/' and '\' (%2F and %5C
 * included, since a server may decode them before it splits).
 */
static int
path_has_dots(const char *p)
{
	size_t	 seg = 0, dots = 0;
	int	 c, h, l, end;

	for (;; p++) {
		end = *p == '\0';
		c = (unsigned char)*p;
		if (c == '%' && (h = hexval((unsigned char)p[1])) >= 0 &&
		    (l = hexval((unsigned char)p[2])) >= 0) {
			c = h * 16 + l;
			p += 2;
		}
		if (end || c == '/' || c == '\\') {
			if (seg > 0 && seg == dots && dots <= 2)
				return 1;
			if (end)
				return 0;
			seg = dots = 0;
			continue;
		}
		seg++;
		if (c == '.')
			dots++;
	}
}

/*
 * The SSRF policy of the proxy (see the comment at the top): whether the
 * resolved redirect target u, written as ref (the Location with control
 * bytes escaped), stays in scope.  Same scheme, the same host written the
 * same way (ASCII case aside) and the same port, no userinfo, no
 * backslash, and a path inside the scope's path without dot segments.
 * Both the Location as written and libcurl's reading of it must agree:
 * libcurl turns "0x7f000001" and "127.1" into "127.0.0.1" and reads
 * "http:/x" as the host "x", so neither alone is enough.
 */
static int
in_scope(CURLU *u, const char *ref, const char *scope)
{
	const char	*ss, *sa, *sh, *sp, *rs, *ra, *rh, *p;
	size_t		 ssn, san, shn, spn, rsn, ran, rhn, pn;
	long		 sport, rport;
	char		*v = NULL;
	int		 rc, yes = 0;

	/* the scope: "scheme://[userinfo@]host[:port]/path" from the
	 * manifest (an npm registry may carry its credentials) */
	if (ref_parts(scope, &ss, &ssn, &sa, &san) != 1 || ss == NULL ||
	    default_port(ss, ssn) == -1)
		return 0;
	sp = sa + san;
	spn = strcspn(sp, "?#");
	for (p = sa + san; p > sa; p--)
		if (p[-1] == '@') {
			san -= (size_t)(p - sa);
			sa = p;
			break;
		}
	if (auth_split(sa, san, &sh, &shn, &sport) == -1)
		return 0;
	if (sport == -1)
		sport = default_port(ss, ssn);

	/* the Location as written */
	if (strchr(ref, '\\') != NULL ||
	    (rc = ref_parts(ref, &rs, &rsn, &ra, &ran)) == -1)
		return 0;
	if (rs != NULL && (rsn != ssn || strncasecmp(rs, ss, ssn) != 0))
		return 0;
	if (rc == 1) {
		if (auth_split(ra, ran, &rh, &rhn, &rport) == -1 ||
		    rhn != shn || strncasecmp(rh, sh, shn) != 0)
			return 0;
		if (rport == -1)
			rport = default_port(ss, ssn);
		if (rport != sport)
			return 0;
	}

	/* libcurl's reading of the resolved URL (a relative Location keeps
	 * the registry's own userinfo, if any) */
	if (rc == 1 && (curl_url_get(u, CURLUPART_USER, &v, 0) !=
	    CURLUE_NO_USER || curl_url_get(u, CURLUPART_PASSWORD, &v, 0) !=
	    CURLUE_NO_PASSWORD))
		goto done;
	if (curl_url_get(u, CURLUPART_SCHEME, &v, 0) != CURLUE_OK ||
	    strlen(v) != ssn || strncasecmp(v, ss, ssn) != 0)
		goto done;
	curl_free(v);
	v = NULL;
	if (curl_url_get(u, CURLUPART_HOST, &v, 0) != CURLUE_OK ||
	    strlen(v) != shn || strncasecmp(v, sh, shn) != 0)
		goto done;
	curl_free(v);
	v = NULL;
	if (curl_url_get(u, CURLUPART_PORT, &v, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK || strtol(v, NULL, 10) != sport)
		goto done;
	curl_free(v);
	v = NULL;
	if (curl_url_get(u, CURLUPART_PATH, &v, 0) != CURLUE_OK)
		goto done;

	/*
	 * The path: a scope path ending in '/' is a prefix ("/v2/lib/a/":
	 * that repository); any other must be matched exactly, with or
	 * without a final '/' ("/v2": the API root only).
	 */
	pn = strlen(v);
	if (spn > 0 && sp[spn - 1] == '/') {
		if (!(strncmp(v, sp, spn) == 0 ||
		    (pn == spn - 1 && strncmp(v, sp, pn) == 0)))
			goto done;
	} else if (!((pn == spn || (pn == spn + 1 && v[spn] == '/')) &&
	    strncmp(v, sp, spn) == 0))
		goto done;
	yes = !path_has_dots(v);
done:
	curl_free(v);
	return yes;
}

/*
 * proxy.h.  The Location is escaped first (SPEC §0: any byte outside
 * 0x21-0x7E as %XX), so that a control byte, a space or a non-ASCII byte
 * from the upstream ends in the 307 escaped instead of failing the
 * exchange.  A Location handed back that is already absolute
 * ("scheme://...") goes to the client as the registry wrote it, not as
 * libcurl rewrites it ("0x7f000001" stays, dot segments stay): the client
 * judges it for itself.  A relative or scheme-relative one is resolved.
 */
enum proxy_redirect
proxy_redirect_decide(int status, const char *base, const char *location,
    const char *scope, char **target)
{
	CURLU			*u;
	char			*url = NULL, *esc;
	const char		*sch, *auth;
	size_t			 schn, authn;
	enum proxy_redirect	 res = PROXY_REDIR_BAD;

	*target = NULL;
	if (!is_redirect_status(status) || location == NULL ||
	    *location == '\0')
		return PROXY_REDIR_NONE;
	if ((u = curl_url()) == NULL)
		return PROXY_REDIR_BAD;
	esc = url_escape_ctl(location);
	/* setting a relative URL on a handle that has one resolves it
	 * (RFC 3986 §5.2), dot segments included */
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, esc, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto done;
	if (scope != NULL && in_scope(u, esc, scope)) {
		res = PROXY_REDIR_FOLLOW;
		*target = url_escape_ctl(url);
	} else if (ref_parts(esc, &sch, &schn, &auth, &authn) == 1 &&
	    sch != NULL) {
		res = PROXY_REDIR_CLIENT;
		*target = xstrdup(esc);
	} else {
		/* resolved against the registry's URL, whose userinfo (npm
		 * registry credentials in the manifest) the client must not
		 * see */
		res = PROXY_REDIR_CLIENT;
		if (ref_parts(esc, &sch, &schn, &auth, &authn) == 0) {
			curl_url_set(u, CURLUPART_USER, NULL, 0);
			curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
			curl_free(url);
			url = NULL;
			if (curl_url_get(u, CURLUPART_URL, &url, 0) !=
			    CURLUE_OK) {
				res = PROXY_REDIR_BAD;
				goto done;
			}
		}
		*target = url_escape_ctl(url);
	}
done:
	free(esc);
	curl_free(url);
	curl_url_cleanup(u);
	return res;
}

/* ------------------------------------------------------------------ */
/* One exchange                                                         */
/* ------------------------------------------------------------------ */

static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum body_use {
	BODY_STREAM,		/* to the client */
	BODY_SKIP,		/* a redirect's: dropped */
	BODY_KEEP		/* proxy_fetch: into keep->body */
};

/* The state of one upstream request (one redirect hop of proxy_serve, or
 * a whole proxy_fetch). */
struct xfer {
	struct proxy		*px;
	const char		*url;		/* base of a Location */
	/* redirects followed only inside it (in_scope); NULL: none */
	const char		*scope;
	int			 curl_follows;	/* proxy_fetch without scope */
	/* the answer being received */
	int			 status;
	int			 hdr_done;	/* final header block in */
	size_t			 hdr_bytes;
	struct buf		 head;		/* allowed "Name: value\r\n" */
	char			*location;
	enum body_use		 body;
	enum proxy_redirect	 redir;
	char			*target;	/* of FOLLOW or CLIENT */
	/* streaming (proxy_serve) */
	struct gw_out		*out;
	int			 head_sent;
	long long		 clen;		/* Content-Length, or -1 */
	long long		 bytes;		/* body bytes the client took */
	long long		 spliced;	/* of which by relay_splice() */
	int			 chunked;	/* Transfer-Encoding seen */
	int			 splice_ok;	/* may still take over */
	int			 relay_done;	/* relay_splice() finished it */
	long long		 relay_short;	/* bytes missing at its EOF */
	size_t			 skipped;
	/* buffering (proxy_fetch) */
	struct upstream_resp	*keep;
	size_t			 max_body;
	/* timing (CLOCK_MONOTONIC, ms) */
	long long		 t_wait;	/* waiting for headers since */
	long long		 t_data;	/* last body progress */
	curl_off_t		 dl_seen;
	/* why it ended early */
	int			 client_gone;
	int			 timed_out;	/* no headers in time */
	int			 stalled;	/* no body bytes in time */
	int			 hdr_overflow;
	int			 bad_status;
	int			 too_big;
};

static void
xfer_init(struct xfer *x, struct proxy *px, const char *url)
{
	memset(x, 0, sizeof(*x));
	x->px = px;
	x->url = url;
	x->clen = -1;
	x->t_wait = now_ms();
}

static void
xfer_free(struct xfer *x)
{
	buf_free(&x->head);
	free(x->location);
	free(x->target);
	x->location = x->target = NULL;
}

/* value of "Name: value\r\n" without the surrounding blanks */
static void
header_value(const char *p, size_t n, const char **v, size_t *vlen)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' ||
	    p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*v = p;
	*vlen = n;
}

/*
 * Appends "Name: value\r\n" to b.  Control bytes cannot come through
 * libcurl's header parser except as obs-text oddities; any left are
 * dropped (a tab becomes a space) so that no header line can be split.
 */
static void
head_add(struct buf *b, const char *name, const char *v, size_t n)
{
	size_t	 i;

	buf_adds(b, name);
	buf_adds(b, ": ");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '\t')
			buf_addc(b, ' ');
		else if (c >= 0x20 && c != 0x7f)
			buf_addc(b, c);
	}
	buf_adds(b, "\r\n");
}

static void
keep_reset(struct upstream_resp *k)
{
	free(k->content_type);
	free(k->etag);
	free(k->last_modified);
	k->content_type = k->etag = k->last_modified = NULL;
	buf_reset(&k->body);
}

/* A status line starts a header block: 1xx, redirects and the final
 * answer each have one. */
static int
block_start(struct xfer *x, const char *p, size_t n)
{
	const char	*e = p + n, *s;

	x->status = 0;
	x->hdr_done = 0;
	x->clen = -1;
	x->chunked = 0;
	buf_reset(&x->head);
	free(x->location);
	x->location = NULL;
	if (x->keep != NULL)
		keep_reset(x->keep);
	for (s = p; s < e && *s != ' '; s++)
		;
	while (s < e && *s == ' ')
		s++;
	if (e - s < 3 || s[0] < '1' || s[0] > '5' || s[1] < '0' ||
	    s[1] > '9' || s[2] < '0' || s[2] > '9' ||
	    (e - s > 3 && s[3] != ' ' && s[3] != '\r' && s[3] != '\n')) {
		x->bad_status = 1;
		return -1;
	}
	x->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	return 0;
}

/* The blank line ending a header block. */
static int
block_end(struct xfer *x)
{
	if (x->status < 200) {
		/* interim (100, 103): the real answer follows */
		x->t_wait = now_ms();
		return 0;
	}
	if (x->keep != NULL && x->curl_follows) {
		/* manifest URLs: libcurl follows redirects itself; waiting
		 * for the next hop's headers starts now */
		if (is_redirect_status(x->status) && x->location != NULL) {
			x->t_wait = now_ms();
			return 0;
		}
		x->hdr_done = 1;
		x->t_data = now_ms();
		return 0;
	}
	x->hdr_done = 1;
	x->t_data = now_ms();
	x->dl_seen = 0;
	x->redir = proxy_redirect_decide(x->status, x->url, x->location,
	    x->scope, &x->target);
	if (x->redir == PROXY_REDIR_BAD)
		return -1;
	if (x->keep != NULL) {
		/* a redirect's body is no document */
		if (x->redir != PROXY_REDIR_NONE)
			x->body = BODY_SKIP;
		return 0;
	}
	x->body = x->redir == PROXY_REDIR_NONE ? BODY_STREAM : BODY_SKIP;
	if (x->body == BODY_STREAM && x->head.n > PROXY_HEADMAX) {
		x->hdr_overflow = 1;
		return -1;
	}
	x->splice_ok = x->body == BODY_STREAM && x->px->splice &&
	    x->out != NULL && x->out->relay != NULL && !x->chunked &&
	    x->clen >= PROXY_SPLICE_MIN &&
	    strncasecmp(x->url, "http://", 7) == 0;
	return 0;
}

/*
 * CURLOPT_HEADERFUNCTION: one header line at a time, status lines and the
 * blank lines that end each block included.  Restarts on every status line:
 * 1xx interim answers and followed redirects each deliver a block of
 * their own, and only the last one describes the body.  Returning less
 * than n aborts the transfer.
 */
static size_t
on_header(char *p, size_t sz, size_t nmemb, void *arg)
{
	struct xfer	*x = arg;
	size_t		 n = sz * nmemb, nlen, vlen;
	const char	*colon, *name, *v;

	if ((x->hdr_bytes += n) > PROXY_HDRMAX) {
		x->hdr_overflow = 1;
		return 0;
	}
	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
		return block_start(x, p, n) == -1 ? 0 : n;
	if (x->hdr_done || x->status == 0)
		return n;		/* trailers after the body */
	if (n <= 2 && (p[0] == '\r' || p[0] == '\n'))
		return block_end(x) == -1 ? 0 : n;
	if (p[0] == ' ' || p[0] == '\t')
		return n;		/* obsolete line folding: dropped */
	if ((colon = memchr(p, ':', n)) == NULL)
		return n;
	nlen = (size_t)(colon - p);
	header_value(colon + 1, n - nlen - 1, &v, &vlen);
	if (nlen == 8 && strncasecmp(p, "Location", 8) == 0) {
		free(x->location);
		x->location = xstrndup(v, vlen);
	}
	if (x->keep != NULL) {
		char **slot = NULL;
		if (nlen == 12 && strncasecmp(p, "Content-Type", 12) == 0)
			slot = &x->keep->content_type;
		else if (nlen == 4 && strncasecmp(p, "ETag", 4) == 0)
			slot = &x->keep->etag;
		else if (nlen == 13 && strncasecmp(p, "Last-Modified", 13) == 0)
			slot = &x->keep->last_modified;
		if (slot != NULL) {
			free(*slot);
			*slot = xstrndup(v, vlen);
		}
		return n;
	}
	if (nlen == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0)
		x->chunked = 1;
	if ((name = proxy_header_allowed(p, nlen)) == NULL)
		return n;
	if (strcmp(name, "Content-Length") == 0) {
		/* no body, so no length of one (RFC 9110 §8.6, §15.4.5) */
		if (x->status == 204 || x->status == 304)
			return n;
		/* libcurl has checked it: digits only, one value */
		x->clen = strtoll(v, NULL, 10);
	}
	head_add(&x->head, name, v, vlen);
	return n;
}

/* Writes "Status:" and the allowed headers.  0, or -1: client gone. */
static int
head_send(struct xfer *x)
{
	struct buf	 b = BUF_INIT;
	int		 rc;

	buf_printf(&b, "Status: %d %s\r\n", x->status,
	    http_reason(x->status));
	buf_add(&b, x->head.p != NULL ? x->head.p : "", x->head.n);
	buf_adds(&b, "\r\n");
	x->head_sent = 1;
	rc = x->out->write(x->out->ctx, b.p, b.n);
	buf_free(&b);
	return rc;
}

/*
 * CURLOPT_OPENSOCKETFUNCTION and CURLOPT_CLOSESOCKETFUNCTION: libcurl's
 * own way of making and closing sockets, noting which are open, so that
 * conn_fd() can find the one a response arrives on.
 */
static curl_socket_t
on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct proxy	*px = arg;
	int		 fd;

	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd == -1)
		return CURL_SOCKET_BAD;
	if (purpose == CURLSOCKTYPE_IPCXN && px->nsocks < PROXY_NSOCKS)
		px->socks[px->nsocks++] = fd;
	return fd;
}

static int
on_close(void *arg, curl_socket_t fd)
{
	struct proxy	*px = arg;
	int		 i;

	for (i = 0; i < px->nsocks; i++)
		if (px->socks[i] == fd) {
			px->socks[i] = px->socks[--px->nsocks];
			break;
		}
	return close(fd);
}

/* Does the socket address sa hold the address text ip and port? */
static int
addr_is(const struct sockaddr_storage *sa, const char *ip, long port)
{
	unsigned char	 bin[16];

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		return inet_pton(AF_INET, ip, bin) == 1 &&
		    memcmp(bin, &s4->sin_addr, 4) == 0 &&
		    ntohs(s4->sin_port) == port;
	}
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		return inet_pton(AF_INET6, ip, bin) == 1 &&
		    memcmp(bin, &s6->sin6_addr, 16) == 0 &&
		    ntohs(s6->sin6_port) == port;
	}
	return 0;
}

/*
 * The socket of the connection the current response arrives on: the one
 * open socket whose two ends are libcurl's CURLINFO_LOCAL_* and
 * CURLINFO_PRIMARY_* (CURLINFO_ACTIVESOCKET answers only after a
 * transfer).  -1 when none or more than one matches.
 */
static int
conn_fd(struct proxy *px)
{
	struct sockaddr_storage	 me, peer;
	socklen_t		 len;
	char			*pip = NULL, *lip = NULL;
	long			 pport = 0, lport = 0;
	int			 i, fd = -1;

	if (curl_easy_getinfo(px->curl, CURLINFO_PRIMARY_IP, &pip) !=
	    CURLE_OK || curl_easy_getinfo(px->curl, CURLINFO_PRIMARY_PORT,
	    &pport) != CURLE_OK || curl_easy_getinfo(px->curl,
	    CURLINFO_LOCAL_IP, &lip) != CURLE_OK || curl_easy_getinfo(
	    px->curl, CURLINFO_LOCAL_PORT, &lport) != CURLE_OK ||
	    pip == NULL || lip == NULL)
		return -1;
	for (i = 0; i < px->nsocks; i++) {
		len = sizeof(me);
		if (getsockname(px->socks[i], (struct sockaddr *)&me,
		    &len) == -1 || !addr_is(&me, lip, lport))
			continue;
		len = sizeof(peer);
		if (getpeername(px->socks[i], (struct sockaddr *)&peer,
		    &len) == -1 || !addr_is(&peer, pip, pport))
			continue;
		if (fd != -1)
			return -1;
		fd = px->socks[i];
	}
	return fd;
}

/*
 * Takes the rest of the body over from libcurl (Splicing, above), if it
 * can.  libcurl must have no byte of the connection left that it has not
 * handed over: its download counter (dl) equals what this response's
 * write callbacks got (which takes the identity encoding: no
 * Transfer-Encoding).  Both callbacks ask.  libcurl 7.88 counts a batch
 * of reads before it writes it (measured), so in the write callback the
 * two are equal right after the batch's last piece: the earliest moment,
 * before more is read.  A libcurl that counts after writing never matches
 * there, but by the progress callback, which comes after every batch, any
 * version has written what it read.  Then the socket must be found and
 * the front end must offer a relay.  Returns 0 when it did not take over
 * (the caller copies on), 1 when the response is finished: complete
 * (relay_done), or cut short with the reason set (client_gone, stalled,
 * relay_short).
 */
static int
splice_rest(struct xfer *x, curl_off_t dl)
{
	char		 tail[PROXY_TAIL];
	long long	 got;
	enum relay_end	 end;
	int		 fd, ms = (int)(x->px->timeout * 1000);

	if (!x->splice_ok || !x->head_sent || dl != x->bytes ||
	    x->clen - x->bytes < PROXY_SPLICE_MIN)
		return 0;
	if ((fd = conn_fd(x->px)) == -1 ||
	    (got = x->out->relay(x->out->ctx, fd,
	    x->clen - x->bytes - PROXY_TAIL, ms, &end)) == -1) {
		x->splice_ok = 0;
		return 0;
	}
	x->bytes += got;
	x->spliced = got;
	if (end == RELAY_DONE) {
		got = relay_read(fd, tail, PROXY_TAIL, ms, &end);
		if (got > 0 && x->out->write(x->out->ctx, tail, (size_t)got) ==
		    -1)
			end = RELAY_CLIENT;
		else
			x->bytes += got;
	}
	switch (end) {
	case RELAY_DONE:
		x->relay_done = 1;
		break;
	case RELAY_CLIENT:
		x->client_gone = 1;
		break;
	case RELAY_STALL:
		x->stalled = 1;
		break;
	case RELAY_UPSTREAM:
		x->relay_short = x->clen - x->bytes;
		break;
	}
	return 1;
}

/* CURLOPT_WRITEFUNCTION: the body, as it arrives. */
static size_t
on_body(char *p, size_t sz, size_t nmemb, void *arg)
{
	struct xfer	*x = arg;
	size_t		 n = sz * nmemb, tail = 0;
	curl_off_t	 dl;
	int		 last;

	switch (x->body) {
	case BODY_SKIP:
		/* the decision is taken; past the cap, closing the
		 * connection is cheaper than reading on */
		return (x->skipped += n) > PROXY_SKIPMAX ? 0 : n;
	case BODY_KEEP:
		if (n > x->max_body - x->keep->body.n) {
			x->too_big = 1;
			return 0;
		}
		buf_add(&x->keep->body, p, n);
		x->t_data = now_ms();
		return n;
	case BODY_STREAM:
		break;
	}
	if (!x->head_sent && head_send(x) == -1)
		goto gone;
	/* the end of a body of known length: see PROXY_TAIL */
	if ((last = x->clen >= 0 && x->bytes + (long long)n >= x->clen))
		tail = n < PROXY_TAIL ? n : PROXY_TAIL;
	if (n > tail && x->out->write(x->out->ctx, p, n - tail) == -1)
		goto gone;
	if (tail > 0 && x->out->write(x->out->ctx, p + n - tail, tail) == -1)
		goto gone;
	x->bytes += (long long)n;
	if (!last && x->out->flush(x->out->ctx) == -1)
		goto gone;
	/* time spent blocked on a slow client is no upstream stall */
	x->t_data = now_ms();
	if (x->splice_ok && curl_easy_getinfo(x->px->curl,
	    CURLINFO_SIZE_DOWNLOAD_T, &dl) == CURLE_OK && splice_rest(x, dl))
		/* done, one way or the other: libcurl lets go of the
		 * connection, whose response it has not seen end */
		return CURL_WRITEFUNC_ERROR;
	return n;
gone:
	/* stop reading the upstream now: curl closes the connection */
	x->client_gone = 1;
	return CURL_WRITEFUNC_ERROR;
}

/* CURLOPT_XFERINFOFUNCTION: libcurl calls it at least once a second. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer	*x = arg;
	long long	 now = now_ms(), limit = x->px->timeout * 1000LL;

	(void)dltotal;
	(void)ultotal;
	(void)ulnow;
	if (!x->hdr_done) {
		if (now - x->t_wait >= limit) {
			x->timed_out = 1;
			return 1;
		}
		return 0;
	}
	if (dlnow != x->dl_seen) {
		x->dl_seen = dlnow;
		x->t_data = now;
	} else if (now - x->t_data >= limit) {
		x->stalled = 1;
		return 1;
	}
	/* (as in on_body) */
	if (splice_rest(x, dlnow))
		return 1;
	return 0;
}

/* Options of one upstream request, on a freshly reset handle. */
static void
xfer_setup(struct xfer *x, const char *url, struct curl_slist *hdrs,
    int nobody, int follow)
{
	struct proxy	*px = x->px;
	CURL		*c = px->curl;

	curl_easy_reset(c);	/* keeps connections, caches and the share */
	px->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, (long)follow);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)PROXY_MAXHOPS);
	/* the raw path as received (SPEC §0): no dot-segment squashing */
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	/* bytes are relayed as they are: never decoded, and no
	 * CURLOPT_ACCEPT_ENCODING (libcurl would decode, and the forwarded
	 * Content-Encoding and Content-Length would be wrong) */
	curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, px->timeout);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, PROXY_BUFSIZE);
	curl_easy_setopt(c, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, px->errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, px);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, px);
	if (px->cainfo != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, px->cainfo);
	if (px->capath != NULL)
		curl_easy_setopt(c, CURLOPT_CAPATH, px->capath);
	if (hdrs != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (nobody)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
}

/* A libcurl result that means the upstream could not be reached. */
static int
is_connect_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return 1;
	default:
		return 0;
	}
}

/* Why an exchange failed, for the event's error field; caller frees. */
static char *
xfer_why(const struct xfer *x, CURLcode rc, const char *what)
{
	struct buf	 b = BUF_INIT;

	buf_printf(&b, "%s: ", what);
	if (x->timed_out)
		buf_printf(&b, "no response headers within %ld s",
		    x->px->timeout);
	else if (x->stalled)
		buf_printf(&b, "no data for %ld s", x->px->timeout);
	else if (x->hdr_overflow)
		buf_adds(&b, "response header block too large");
	else if (x->bad_status)
		buf_adds(&b, "malformed status line");
	else if (x->redir == PROXY_REDIR_BAD)
		buf_adds(&b, "unusable Location in a redirect");
	else if (x->relay_short > 0)
		/* libcurl's words for the same end of a copied body */
		buf_printf(&b, "transfer closed with %lld bytes remaining "
		    "to read", x->relay_short);
	else if (x->px->errbuf[0] != '\0')
		buf_adds(&b, x->px->errbuf);
	else
		buf_adds(&b, curl_easy_strerror(rc));
	return buf_steal(&b);
}

static int
is_timeout(const struct xfer *x, CURLcode rc)
{
	return x->timed_out || x->stalled || rc == CURLE_OPERATION_TIMEDOUT;
}

static void
upstream_count(const struct gw_ctx *ctx, int timeout)
{
	if (ctx == NULL || ctx->stats == NULL)
		return;
	atomic_fetch_add(timeout ? &ctx->stats->upstream_timeouts :
	    &ctx->stats->upstream_connect_errors, 1);
}

/*
 * Sends a whole small response (gwout.h): status, one header (or none)
 * and body, not for HEAD.
 */
static void
answer(struct gw_out *out, const struct gw_request *req,
    struct gw_event *ev, int status, const char *hname, const char *hvalue,
    const char *body)
{
	struct gw_response	 r;

	gw_response_init(&r);
	r.status = status;
	if (hname != NULL)
		resp_header(&r, hname, hvalue);
	buf_adds(&r.body, body);
	(void)gw_out_response(out, req, &r, r.body.p, r.body.n, 1, ev);
	gw_response_free(&r);
}

/* 502 or 504 with the OCI error body (§3.5); counted and logged. */
static void
answer_failure(struct gw_out *out, const struct gw_ctx *ctx,
    const struct gw_request *req, struct gw_event *ev, int timeout,
    char *why)
{
	upstream_count(ctx, timeout);
	free(ev->error);
	ev->error = why;
	answer(out, req, ev, timeout ? 504 : 502, "Content-Type",
	    "application/json", timeout ? BODY_504 : BODY_502);
}

static struct curl_slist *
slist_from(char *const *v)
{
	struct curl_slist	*l = NULL, *t;
	size_t			 i;

	for (i = 0; v != NULL && v[i] != NULL; i++) {
		if ((t = curl_slist_append(l, v[i])) == NULL) {
			fprintf(stderr, "scarf-gateway: out of memory\n");
			abort();
		}
		l = t;
	}
	return l;
}

/*
 * proxy.h: "PREFIX/SCHEME/" then the upstream URL after "SCHEME://",
 * escaped for a header line; NULL unless upstream is http(s) with a host
 * and a path.
 */
char *
proxy_offload_target(const char *prefix, const char *upstream)
{
	struct buf	 b = BUF_INIT;
	const char	*rest, *p;
	size_t		 slen;

	if (strncmp(upstream, "https://", 8) == 0)
		slen = 5;
	else if (strncmp(upstream, "http://", 7) == 0)
		slen = 4;
	else
		return NULL;
	rest = upstream + slen + 3;
	if (*rest == '/' || *rest == '\0' || strchr(rest, '/') == NULL)
		return NULL;
	buf_adds(&b, prefix);
	buf_addc(&b, '/');
	buf_add(&b, upstream, slen);
	buf_addc(&b, '/');
	for (p = rest; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			buf_printf(&b, "%%%02X", (unsigned char)*p);
		else
			buf_addc(&b, *p);
	return buf_steal(&b);
}

/*
 * Offload mode (--offload-prefix): instead of streaming, answer 200 with
 * an X-Accel-Redirect to the web server's internal location, which
 * fetches the registry itself (deploy/nginx-offload.conf).  The gateway
 * sees none of the bytes: the event says "offloaded", status 200 as
 * handed over, bytes 0; nginx's access log has the real ones.  Returns 0,
 * or -1 when upstream has no offloadable form (the caller streams).
 */
static int
offload_answer(const struct gw_ctx *ctx, struct gw_response *resp,
    struct gw_event *ev, struct gw_out *out)
{
	struct buf	 b = BUF_INIT;
	char		*target;

	if (resp->upstream == NULL || (target = proxy_offload_target(
	    ctx->config->offload_prefix, resp->upstream)) == NULL)
		return -1;
	ev->proxied = 1;
	event_bool(ev, "offloaded", 1);
	buf_printf(&b, "Status: 200 OK\r\nX-Accel-Redirect: %s\r\n"
	    "Content-Length: 0\r\n\r\n", target);
	ev->status = 200;
	ev->bytes = 0;
	resp->status = 200;
	/* no flush: the front end sends the head with the end of the
	 * response, which nginx may not wait for once it has the head */
	if (out->write(out->ctx, b.p, b.n) == -1) {
		free(ev->error);
		ev->error = xstrdup("client went away");
	}
	free(target);
	buf_free(&b);
	return 0;
}

/*
 * §3.5.  Every outcome ends in exactly one of: a complete response
 * (upstream answer, 307, 502, 504), a response cut short with out->abort
 * (upstream failure mid-body), or a client that went away.
 */
void
proxy_serve(struct proxy *px, const struct gw_ctx *ctx,
    const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev, struct gw_out *out)
{
	struct xfer		 x;
	struct curl_slist	*hdrs;
	char			**vec, *url;
	CURLcode		 rc;
	size_t			 i;
	int			 hop, t;

	if (ctx->config != NULL && ctx->config->offload_prefix != NULL &&
	    ev->type == GW_T_DOCKER && req->is_get_or_head &&
	    offload_answer(ctx, resp, ev, out) == 0)
		return;
	ev->proxied = 1;
	vec = proxy_request_headers(req);
	hdrs = slist_from(vec);
	/* without one, libcurl would add an Accept of its own (any
	 * type); only what the client sent is forwarded */
	for (i = 0; vec[i] != NULL; i++)
		if (strncmp(vec[i], "Accept:", 7) == 0)
			break;
	if (vec[i] == NULL)
		hdrs = curl_slist_append(hdrs, "Accept:");
	url = xstrdup(resp->upstream != NULL ? resp->upstream : "");

	for (hop = 0; ; hop++) {
		xfer_init(&x, px, url);
		x.out = out;
		x.scope = resp->upstream_scope;
		xfer_setup(&x, url, hdrs, req->is_head, 0);
		rc = curl_easy_perform(px->curl);

		if (x.client_gone) {
			free(ev->error);
			ev->error = xstrdup("client went away");
			ev->status = x.status;
			break;
		}
		if (x.head_sent) {
			ev->status = x.status;
			if (rc != CURLE_OK && !x.relay_done) {
				/* the client was promised more: cut */
				t = is_timeout(&x, rc);
				out->abort(out->ctx);
				upstream_count(ctx, t);
				free(ev->error);
				ev->error = xfer_why(&x, rc, t ?
				    "upstream stalled mid-body" :
				    "upstream failed mid-body");
			}
			break;
		}
		if (x.hdr_done && x.redir == PROXY_REDIR_FOLLOW) {
			if (hop == PROXY_MAXHOPS) {
				answer_failure(out, ctx, req, ev, 0, xstrdup(
				    "upstream: more than 10 redirects"));
				break;
			}
			free(url);
			url = x.target;
			x.target = NULL;
			xfer_free(&x);
			continue;
		}
		if (x.hdr_done && x.redir == PROXY_REDIR_CLIENT) {
			/* a signed blob URL or the like: the client goes
			 * there itself; no upstream header comes along */
			answer(out, req, ev, 307, "Location", x.target, "");
			free(ev->location);
			ev->location = xstrdup(x.target);
			break;
		}
		if (rc != CURLE_OK || !x.hdr_done) {
			t = is_timeout(&x, rc);
			answer_failure(out, ctx, req, ev, t,
			    xfer_why(&x, rc, "upstream"));
			break;
		}
		/* complete without a body byte: HEAD, 304, empty */
		ev->status = x.status;
		if (head_send(&x) == -1 || out->flush(out->ctx) == -1) {
			free(ev->error);
			ev->error = xstrdup("client went away");
		}
		break;
	}
	ev->bytes += x.bytes;
	if (ctx != NULL && ctx->stats != NULL && x.bytes > 0) {
		atomic_fetch_add(&ctx->stats->proxy_bytes_spliced,
		    (unsigned long)x.spliced);
		atomic_fetch_add(&ctx->stats->proxy_bytes_copied,
		    (unsigned long)(x.bytes - x.spliced));
	}
	resp->status = ev->status;
	xfer_free(&x);
	free(url);
	curl_slist_free_all(hdrs);
	proxy_headers_free(vec);
}

/* ------------------------------------------------------------------ */
/* Buffered GET                                                         */
/* ------------------------------------------------------------------ */

void
upstream_resp_free(struct upstream_resp *r)
{
	if (r == NULL)
		return;
	free(r->content_type);
	free(r->etag);
	free(r->last_modified);
	free(r->location);
	buf_free(&r->body);
	memset(r, 0, sizeof(*r));
}

/*
 * proxy.h.  Without a scope (manifest URLs, which the operator names)
 * libcurl follows redirects itself, at most 10, http and https only, and
 * does not send a custom Authorization header to another host on the
 * way.  With a scope (npm documents, §4.4) each redirect is judged as in
 * proxy_serve: followed inside the scope, handed back otherwise.
 */
int
proxy_fetch_scoped(struct proxy *px, const char *url, const char *scope,
    char *const *headers, size_t max_body, struct upstream_resp *out)
{
	struct xfer		 x;
	struct curl_slist	*hdrs;
	CURLcode		 rc;
	char			*cur;
	int			 hop;

	memset(out, 0, sizeof(*out));
	hdrs = slist_from(headers);
	cur = xstrdup(url);
	for (hop = 0; ; hop++) {
		xfer_init(&x, px, cur);
		x.keep = out;
		x.max_body = max_body;
		x.body = BODY_KEEP;
		x.scope = scope;
		x.curl_follows = scope == NULL;
		xfer_setup(&x, cur, hdrs, 0, scope == NULL);
		rc = curl_easy_perform(px->curl);
		/* (a redirect's skipped body may have ended it early) */
		if (x.hdr_done && x.redir == PROXY_REDIR_FOLLOW &&
		    hop < PROXY_MAXHOPS) {
			free(cur);
			cur = x.target;
			x.target = NULL;
			xfer_free(&x);
			continue;
		}
		break;
	}
	curl_slist_free_all(hdrs);
	free(cur);
	if (x.hdr_done && x.redir == PROXY_REDIR_CLIENT) {
		keep_reset(out);
		out->status = x.status;
		out->location = x.target;
		x.target = NULL;
		out->err = UP_OK;
		xfer_free(&x);
		return 0;
	}
	xfer_free(&x);
	if (rc == CURLE_OK && x.hdr_done && x.redir == PROXY_REDIR_NONE) {
		out->status = x.status;
		out->err = UP_OK;
		return 0;
	}
	if (x.too_big)
		out->err = UP_TOO_BIG;
	else if (is_timeout(&x, rc))
		out->err = UP_TIMEOUT;
	else if (is_connect_error(rc))
		out->err = UP_CONNECT;
	else
		/* garbage, an unusable Location, an eleventh redirect */
		out->err = UP_PROTOCOL;
	keep_reset(out);
	return -1;
}

int
proxy_fetch(struct proxy *px, const char *url, char *const *headers,
    size_t max_body, struct upstream_resp *out)
{
	return proxy_fetch_scoped(px, url, NULL, headers, max_body, out);
}
