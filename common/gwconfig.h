/*
 * The settings of a gateway (SPEC §14): from GATEWAY_* variables and the
 * FastCGI program's flags (config.c).
 */
#ifndef GWCONFIG_H
#define GWCONFIG_H

/* Settings shared by both programs (SPEC §14). */
struct gw_config {
	const char	*manifest;		/* path or URL */
	const char	*listen;		/* fcgi only */
	int		 threads;		/* 0: gw_config_threads() */
	const char	*log;			/* file path, stderr, syslog, none */
	int		 trust_forwarded;
	enum { SCHEME_HTTPS, SCHEME_HTTP, SCHEME_AUTO } public_scheme;
	char		*metrics_allow;		/* CIDR list, or NULL */
	long		 upstream_timeout;	/* seconds */
	/* FastCGI: from a request's first byte until its params and body
	 * have arrived (fcgi/conn.c, conn_watch) */
	long		 request_timeout;	/* seconds */
	long		 poll;			/* seconds, 0 = off */
	/* Docker GET/HEAD proxying handed to the web server with
	 * X-Accel-Redirect under this path (nginx), or NULL: stream. */
	const char	*offload_prefix;
	/* Large plain-http proxied bodies relayed with splice(2) (relay.h);
	 * 0: every byte copied through libcurl. */
	int		 splice;
	/* FastCGI: an answer cut short ends with END_REQUEST (mod_fcgid),
	 * not with a broken connection (fcgi/serve.c fcgi_out_abort). */
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
/* The default thread count: one per CPU the process may run on. */
int	 gw_config_threads(void);
/* Reads GATEWAY_* from the environment. Returns -1 with *err on a bad value. */
int	 gw_config_from_env(struct gw_config *, const char **err);
/*
 * Sets one setting by its variable name ("GATEWAY_THREADS") from a borrowed
 * string that outlives the config; the FastCGI flags map onto these names.
 * Returns -1 with *err (static, without the name) on a bad value.
 */
int	 gw_config_set(struct gw_config *, const char *name, const char *value,
	    const char **err);

#endif
