/*
 * The gateway core: one request in, one response and one event out.
 *
 * The front ends (fcgi/, cgi/) build a struct gw_request from their CGI
 * parameters with gw_request_init(), call gw_serve(), write the struct
 * gw_response, fill in the transport facts of the event (status, bytes,
 * duration) and hand it to the event log.  Nothing in here does I/O except
 * through the body-reading callback of the request.
 */
#ifndef GATEWAY_H
#define GATEWAY_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "metrics.h"
#include "util.h"

struct manifest;
struct ruleset;

/* Settings shared by both programs (SPEC §14). */
struct gw_config {
	const char	*manifest;		/* path or URL */
	const char	*listen;		/* fcgi only */
	int		 threads;
	const char	*log;			/* file path, stderr, syslog, none */
	int		 trust_forwarded;
	enum { SCHEME_HTTPS, SCHEME_HTTP, SCHEME_AUTO } public_scheme;
	char		*metrics_allow;		/* CIDR list, or NULL */
	long		 upstream_timeout;	/* seconds */
	/* FastCGI: from a request's first byte until its params and body
	 * have arrived (fcgi/main.c conn_next) */
	long		 request_timeout;	/* seconds */
	long		 poll;			/* seconds, 0 = off */
	/* Docker GET/HEAD proxying handed to the web server with
	 * X-Accel-Redirect under this path (nginx), or NULL: stream. */
	const char	*offload_prefix;
	/* Large plain-http proxied bodies relayed with splice(2) (relay.h);
	 * 0: every byte copied through libcurl. */
	int		 splice;
	/* FastCGI: an answer cut short ends with END_REQUEST (mod_fcgid),
	 * not with a broken connection (fcgi/main.c fcgi_out_abort). */
	int		 abort_end;
	/* What the event log keeps of the client address (README, "Event
	 * log"): GW_IP_FULL, _TRUNCATE (/24, /48), _HASH (keyed, the key
	 * rotating daily), _NONE; ip_key_file: hash:FILE's FILE or NULL. */
	enum { GW_IP_FULL, GW_IP_TRUNCATE, GW_IP_HASH, GW_IP_NONE } log_ip;
	const char	*ip_key_file;
	/* Where the processes of one gateway share their counters
	 * (metrics.h), or NULL: FastCGI shares by listening socket, CGI
	 * counts per process. */
	const char	*state_dir;
	/* Compiled manifest images (image.h): a directory, "none", or
	 * NULL for the default */
	const char	*cache_dir;
};
void	 gw_config_defaults(struct gw_config *);
/* Reads GATEWAY_* from the environment. Returns -1 with *err on a bad value. */
int	 gw_config_from_env(struct gw_config *, const char **err);
/*
 * Sets one setting by its variable name ("GATEWAY_THREADS") from a borrowed
 * string that outlives the config; the FastCGI flags map onto these names.
 * Returns -1 with *err (static, without the name) on a bad value.
 */
int	 gw_config_set(struct gw_config *, const char *name, const char *value,
	    const char **err);

/* Process-wide state the reserved endpoints report (SPEC §12). */
/* Status codes counted one by one (GW_NCODES, metrics.h); the last slot
 * counts every other. */
extern const int gw_stat_codes[GW_NCODES];

/* Request body reader: returns bytes read, 0 at the end, -1 on error. */
typedef ssize_t (*gw_read_fn)(void *ctx, char *buf, size_t n);

struct gw_request {
	char		*method;	/* owned */
	char		*raw_path;	/* owned, SPEC §0 */
	char		*raw_query;	/* owned, "" when none */
	char		*host_value;	/* owned, the Host value chosen (§2.2) */
	char		*host;		/* owned, normalised */
	char		*authority;	/* owned, for the public base URL */
	const char	*scheme;	/* "https" or "http" */
	char		*client_ip;	/* owned */
	char *const	*params;	/* borrowed NAME=value vector */
	long long	 content_length;	/* -1 when unknown */
	gw_read_fn	 read_body;	/* may be NULL: no body */
	void		*body_ctx;
	int		 is_head;
	int		 is_get_or_head;
	int		 bad;		/* SPEC §2.1 failed: answer 400 */
	int		 too_long;	/* query over GW_QUERY_MAX_*: 414 */
	struct timespec	 start;		/* CLOCK_REALTIME at intake */
	struct timespec	 mono;		/* CLOCK_MONOTONIC at intake */
};

/*
 * The most query a request may carry: bytes after the '?', and items
 * (split on '&' and ';', SPEC §0).  Over either, the answer is 414 URI Too
 * Long (RFC 9110 §15.5.15), before any rule looks at it: the code nginx
 * gives a request line over its large_client_header_buffers (8 KiB by
 * default), which no legitimate artifact URL needs.  The caps bound the
 * work and memory every later pass over the query costs (parsing,
 * template matching, forwarding a query to a file target, the event line).
 */
#define GW_QUERY_MAX_BYTES	65536
#define GW_QUERY_MAX_ITEMS	1000

/*
 * Builds the request from a CGI parameter vector (FastCGI params or
 * environ).  The vector must outlive the request.  Never fails: problems
 * mark the request bad (§2.1).
 */
void	 gw_request_init(struct gw_request *, char *const *params,
	    const struct gw_config *);
void	 gw_request_free(struct gw_request *);
/* First value of a parameter ("HTTP_USER_AGENT"), or NULL.  Borrowed. */
const char *gw_param(const struct gw_request *, const char *name);
/* The i-th value of a repeated parameter, or NULL past the last. */
const char *gw_param_nth(const struct gw_request *, const char *name,
	    size_t i);
/* Like gw_param, but an empty value counts as absent (SPEC §3.5). */
const char *gw_header(const struct gw_request *, const char *name);

#define GW_MAXHDR 24

struct gw_header {
	const char	*name;		/* static string */
	char		*value;		/* owned */
};

struct gw_response {
	int		 status;
	size_t		 nhdr;
	struct gw_header hdr[GW_MAXHDR];
	struct buf	 body;		/* the GET body, also built for HEAD */
	int		 no_length;	/* do not send Content-Length */
	/* A proxied answer (docker §3.5, npm §4.4): the front end has
	 * proxy_serve() (proxy.h) produce the response. */
	int		 proxy;
	char		*upstream;	/* owned: the URL to fetch */
	/* owned: "scheme://host[:port]/path" of the registry the rule
	 * names; the proxy follows only redirects inside it (proxy.c,
	 * "Redirects"), NULL: none */
	char		*upstream_scope;
};

void	 gw_response_init(struct gw_response *);
void	 gw_response_free(struct gw_response *);
/* Adds a header; the value is copied with control bytes removed. */
void	 resp_header(struct gw_response *, const char *name, const char *value);
/* Sets status and a plain body that is the reason phrase (SPEC §0). */
void	 resp_plain(struct gw_response *, int status);
/* Sets a redirect: status, Location (bytes outside 0x21-0x7E as %XX). */
void	 resp_redirect(struct gw_response *, int status, const char *location);
/* Sets status, Content-Type: application/json and the given body. */
void	 resp_json(struct gw_response *, int status, const char *body);
/* Drops what gw_serve may have put into resp (status, headers, body). */
void	 resp_clear(struct gw_response *);
const char *resp_get_header(const struct gw_response *, const char *name);
/*
 * Writes the CGI response head ("Status: ...\r\n", headers, Content-Length
 * unless no_length, blank line) into out.
 */
void	 resp_format_head(const struct gw_response *, struct buf *out);

/* Event types (SPEC §13). */
enum gw_type {
	GW_T_NONE, GW_T_DOCKER, GW_T_NPM, GW_T_FILE, GW_T_PYTHON, GW_T_PIXEL,
	GW_T_TELEMETRY, GW_T_CATCH_ALL, GW_T_RESERVED, GW_T__COUNT
};
/* struct gw_stats has room for 10 types */
_Static_assert(GW_T__COUNT <= GW_NTYPES, "struct gw_stats counts GW_NTYPES types");
const char *gw_type_name(enum gw_type);

struct gw_event {
	enum gw_type	 type;
	int		 rule_index;	/* -1 = null */
	char		*package_id;	/* owned or NULL */
	char		*rule_id;	/* owned or NULL */
	char		*location;	/* owned or NULL */
	int		 proxied;
	int		 status;
	long long	 bytes;
	long long	 duration_ms;
	char		*error;		/* owned or NULL */
	/* Type-specific fields, already serialised as `,"key":value` runs. */
	struct buf	 extra;
	/* Rules refused on the way (event_warn): `{...}` objects joined by
	 * commas, logged as "warnings" whichever rule answers. */
	struct buf	 warnings;
};

void	 gw_event_init(struct gw_event *);
void	 gw_event_free(struct gw_event *);
void	 event_str(struct gw_event *, const char *key, const char *val);
void	 event_strn(struct gw_event *, const char *key, const char *val,
	    size_t n);
void	 event_raw(struct gw_event *, const char *key, const char *json);
void	 event_bool(struct gw_event *, const char *key, int);
/*
 * Records that rule rule_index was refused for a reason an operator should
 * see (an outgoing-url expansion that would leave its host): the event gets
 * "warnings":[{"rule-index":N,"field":F,"message":M},...], kept whichever
 * rule then answers, the 404 of §11 included.
 */
void	 event_warn(struct gw_event *, int rule_index, const char *field,
	    const char *message);
/* Sets the rule-related common fields (index, package-id, rule-id). */
void	 event_rule(struct gw_event *, int rule_index, const char *package_id,
	    const char *rule_id);
/*
 * Sets what event_format() writes as client-ip, from the configuration;
 * reads hash:FILE's secret or draws a random one.  Call once, before any
 * thread formats an event.  Returns -1 with a static *err.
 */
int	 event_ip_setup(const struct gw_config *, const char **err);
/* The client-ip value as event_format() writes it for a request that
 * started at unix time t, into out (>= 48 bytes). */
void	 event_ip_value(const char *ip, time_t t, char *out, size_t outsz);
/* One JSON line, LF-terminated, appended to out (SPEC §13). */
void	 event_format(const struct gw_event *, const struct gw_request *,
	    struct buf *out);

/* Everything gw_serve needs besides the request. */
struct gw_ctx {
	struct manifest		*manifest;	/* NULL: none loaded (§2.4) */
	const char		*manifest_error;	/* why, when NULL */
	const char		*last_reload_error;	/* or NULL */
	const struct gw_config	*config;
	struct gw_stats		*stats;
	time_t			 now;
};

/*
 * Answers one request (SPEC §2.3).  Fills resp and ev; the caller sends the
 * response, then sets ev->status/bytes/duration and logs it.  When
 * resp->proxy is set, the caller is responsible for the proxied exchange.
 */
void	 gw_serve(const struct gw_ctx *, struct gw_request *,
	    struct gw_response *, struct gw_event *);

/* Counts a finished request in the metrics. */
void	 gw_stats_count(struct gw_stats *, enum gw_type, int status);

/*
 * "explain METHOD HOST PATH [NAME:VALUE...]" (SPEC §14.1): routes a synthetic
 * request and writes one JSON object to out.  Never contacts an upstream.
 */
void	 gw_explain(const struct gw_ctx *, const char *method,
	    const char *host, const char *target, char *const *headers,
	    size_t nheaders, struct buf *out);

extern const char gw_version[];

/*
 * The raw path's decoded segments (SPEC §0): "/simple/" gives
 * ["simple", ""], "/" gives [].  Free with gw_free_path().
 */
size_t	 gw_split_path(const char *path, char ***segs, size_t **lens);
void	 gw_free_path(char **segs, size_t *lens, size_t n);

#endif
