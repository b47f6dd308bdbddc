/*
 * Program settings (SPEC §14): defaults, the GATEWAY_* environment
 * variables, and one setter that both the environment and the FastCGI
 * program's flags go through, so that a value means the same thing
 * whichever way it arrives.
 */
#include "config.h"

#include <arpa/inet.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gwconfig.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PACKAGE_DIR
#define PACKAGE_DIR "scarf-gateway"
#endif

#define THREADS_MAX	1024

/* The variables gw_config_from_env() reads, in the order it reads them. */
static const char *const env_names[] = {
	"GATEWAY_MANIFEST",
	"GATEWAY_LISTEN",
	"GATEWAY_THREADS",
	"GATEWAY_LOG",
	"GATEWAY_TRUST_FORWARDED_HOST",
	"GATEWAY_PUBLIC_SCHEME",
	"GATEWAY_METRICS_ALLOW",
	"GATEWAY_UPSTREAM_TIMEOUT",
	"GATEWAY_REQUEST_TIMEOUT",
	"GATEWAY_POLL",
	"GATEWAY_OFFLOAD_PREFIX",
	"GATEWAY_SPLICE",
	"GATEWAY_ABORT_MODE",
	"GATEWAY_LOG_CLIENT_IP",
	"GATEWAY_STATE_DIR",
	"GATEWAY_CACHE_DIR",
};

/*
 * One thread per CPU this process may run on (its affinity mask: taskset,
 * cgroup cpusets), from 1 to THREADS_MAX.  One system call, where
 * sysconf(_SC_NPROCESSORS_ONLN) reads a file under /sys; asked only by
 * the FastCGI program when it starts its workers, not by the defaults
 * every CGI request sets.
 */
int
gw_config_threads(void)
{
	cpu_set_t	 set;
	long		 ncpu;

	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		return 1;
	ncpu = CPU_COUNT(&set);
	return ncpu < 1 ? 1 : ncpu > THREADS_MAX ? THREADS_MAX : (int)ncpu;
}

void
gw_config_defaults(struct gw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->manifest = SYSCONFDIR "/" PACKAGE_DIR "/manifest.json";
	cfg->listen = NULL;
	cfg->threads = 0;	/* gw_config_threads() */
	cfg->log = "stderr";
	cfg->trust_forwarded = 0;
	cfg->public_scheme = SCHEME_HTTPS;
	cfg->metrics_allow = NULL;
	cfg->upstream_timeout = 60;
	cfg->request_timeout = 30;
	cfg->poll = 5;
	cfg->splice = 1;
}

/* A decimal integer in [min, max], nothing else (no sign, no spaces). */
static int
parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* 1, true, yes, on / 0, false, no, off, and "" for off. */
static int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "", "0", "false", "no", "off" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	return -1;
}

/*
 * One CIDR ("10.0.0.0/8", "::1/128") or a bare address (a host route).
 * Only the syntax is checked here; the reserved endpoint matches.
 */
static int
cidr_valid(const char *s, size_t n)
{
	char		 addr[INET6_ADDRSTRLEN + 8];
	unsigned char	 bin[16];
	const char	*slash;
	size_t		 alen;
	long		 bits, max;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	slash = memchr(s, '/', n);
	alen = slash != NULL ? (size_t)(slash - s) : n;
	if (alen == 0 || alen >= sizeof(addr))
		return 0;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		max = 128;
	else
		return 0;
	if (slash == NULL)
		return 1;
	alen = n - alen - 1;
	if (alen == 0 || alen > 3)
		return 0;
	memcpy(addr, slash + 1, alen);
	addr[alen] = '\0';
	return parse_long(addr, 0, max, &bits) == 0;
}

/* A comma-separated list of at least one valid CIDR. */
static int
cidr_list_valid(const char *s)
{
	const char	*e;

	for (;;) {
		e = strchr(s, ',');
		if (!cidr_valid(s, e != NULL ? (size_t)(e - s) : strlen(s)))
			return 0;
		if (e == NULL)
			return 1;
		s = e + 1;
	}
}

/*
 * "unix:PATH" (absolute or relative, at most sun_path) or
 * "tcp:HOST:PORT" (HOST may be a bracketed IPv6 address).
 */
static int
listen_valid(const char *s)
{
	const char	*port;
	long		 p;

	if (strncmp(s, "unix:", 5) == 0)
		return s[5] != '\0' && strlen(s + 5) < 108;
	if (strncmp(s, "tcp:", 4) != 0)
		return 0;
	s += 4;
	if ((port = strrchr(s, ':')) == NULL || port == s)
		return 0;
	if (*s == '[' && port[-1] != ']')
		return 0;
	return parse_long(port + 1, 1, 65535, &p) == 0;
}

/*
 * An offload prefix: "/" then at least one byte of [A-Za-z0-9._~/-], not
 * ending in "/" (the gateway appends "/SCHEME/HOST..." to it).
 */
static int
prefix_valid(const char *s)
{
	size_t	 n = strlen(s);

	if (n < 2 || s[0] != '/' || s[n - 1] == '/')
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._~/-") == n;
}

/*
 * Sets one setting from its environment variable name and a value (the
 * FastCGI program maps its flags onto the same names).  The value is
 * borrowed and must live as long as the config (argv and environ do).
 * Returns 0, or -1 with *err, a static message that does not name the
 * variable.
 */
int
gw_config_set(struct gw_config *cfg, const char *name, const char *value,
    const char **err)
{
	long	 v;

	if (strcmp(name, "GATEWAY_MANIFEST") == 0) {
		if (*value == '\0') {
			*err = "must be a file path or an http(s) URL";
			return -1;
		}
		cfg->manifest = value;
	} else if (strcmp(name, "GATEWAY_LISTEN") == 0) {
		if (!listen_valid(value)) {
			*err = "must be unix:PATH or tcp:HOST:PORT";
			return -1;
		}
		cfg->listen = value;
	} else if (strcmp(name, "GATEWAY_THREADS") == 0) {
		if (parse_long(value, 1, THREADS_MAX, &v) == -1) {
			*err = "must be an integer from 1 to 1024";
			return -1;
		}
		cfg->threads = (int)v;
	} else if (strcmp(name, "GATEWAY_LOG") == 0) {
		if (*value == '\0') {
			*err = "must be a file path, stderr, syslog or none";
			return -1;
		}
		cfg->log = value;
	} else if (strcmp(name, "GATEWAY_TRUST_FORWARDED_HOST") == 0) {
		if (parse_bool(value, &cfg->trust_forwarded) == -1) {
			*err = "must be 1 or 0";
			return -1;
		}
	} else if (strcmp(name, "GATEWAY_PUBLIC_SCHEME") == 0) {
		if (strcmp(value, "https") == 0)
			cfg->public_scheme = SCHEME_HTTPS;
		else if (strcmp(value, "http") == 0)
			cfg->public_scheme = SCHEME_HTTP;
		else if (strcmp(value, "auto") == 0)
			cfg->public_scheme = SCHEME_AUTO;
		else {
			*err = "must be https, http or auto";
			return -1;
		}
	} else if (strcmp(name, "GATEWAY_METRICS_ALLOW") == 0) {
		if (*value == '\0')
			cfg->metrics_allow = NULL;
		else if (!cidr_list_valid(value)) {
			*err = "must be a comma-separated list of CIDRs";
			return -1;
		} else
			/* borrowed: the field is not const for history's
			 * sake, nothing writes through it */
			cfg->metrics_allow = (char *)(uintptr_t)value;
	} else if (strcmp(name, "GATEWAY_UPSTREAM_TIMEOUT") == 0) {
		if (parse_long(value, 1, 86400, &v) == -1) {
			*err = "must be a number of seconds from 1 to 86400";
			return -1;
		}
		cfg->upstream_timeout = v;
	} else if (strcmp(name, "GATEWAY_REQUEST_TIMEOUT") == 0) {
		if (parse_long(value, 1, 86400, &v) == -1) {
			*err = "must be a number of seconds from 1 to 86400";
			return -1;
		}
		cfg->request_timeout = v;
	} else if (strcmp(name, "GATEWAY_POLL") == 0) {
		if (parse_long(value, 0, 86400, &v) == -1) {
			*err = "must be a number of seconds from 0 to 86400";
			return -1;
		}
		cfg->poll = v;
	} else if (strcmp(name, "GATEWAY_OFFLOAD_PREFIX") == 0) {
		if (*value == '\0')
			cfg->offload_prefix = NULL;
		else if (!prefix_valid(value)) {
			*err = "must be a path such as /_gw_offload";
			return -1;
		} else
			cfg->offload_prefix = value;
	} else if (strcmp(name, "GATEWAY_SPLICE") == 0) {
		if (parse_bool(value, &cfg->splice) == -1) {
			*err = "must be 1 or 0";
			return -1;
		}
	} else if (strcmp(name, "GATEWAY_ABORT_MODE") == 0) {
		if (strcmp(value, "reset") == 0)
			cfg->abort_end = 0;
		else if (strcmp(value, "end") == 0)
			cfg->abort_end = 1;
		else {
			*err = "must be reset or end";
			return -1;
		}
	} else if (strcmp(name, "GATEWAY_LOG_CLIENT_IP") == 0) {
		cfg->ip_key_file = NULL;
		if (strcmp(value, "full") == 0)
			cfg->log_ip = GW_IP_FULL;
		else if (strcmp(value, "truncate") == 0)
			cfg->log_ip = GW_IP_TRUNCATE;
		else if (strcmp(value, "none") == 0)
			cfg->log_ip = GW_IP_NONE;
		else if (strcmp(value, "hash") == 0)
			cfg->log_ip = GW_IP_HASH;
		else if (strncmp(value, "hash:", 5) == 0 && value[5] != '\0') {
			cfg->log_ip = GW_IP_HASH;
			cfg->ip_key_file = value + 5;
		} else {
			*err = "must be full, truncate, hash, hash:FILE or "
			    "none";
			return -1;
		}
	} else if (strcmp(name, "GATEWAY_STATE_DIR") == 0) {
		if (*value != '/') {
			*err = "must be an absolute directory path";
			return -1;
		}
		cfg->state_dir = value;
	} else if (strcmp(name, "GATEWAY_CACHE_DIR") == 0) {
		if (*value != '/' && strcmp(value, "none") != 0) {
			*err = "must be an absolute directory path or none";
			return -1;
		}
		cfg->cache_dir = value;
	} else {
		*err = "unknown setting";
		return -1;
	}
	return 0;
}

/*
 * Applies every GATEWAY_* variable that is set and not empty (an empty
 * one counts as unset, as systemd's "Environment=NAME=" means).  On a bad
 * value, returns -1 and *err points to "NAME: reason" in a static buffer
 * (start-up only, not thread-safe).
 */
int
gw_config_from_env(struct gw_config *cfg, const char **err)
{
	static char	 msg[160];
	const char	*v, *why;
	size_t		 i;

	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		if ((v = getenv(env_names[i])) == NULL || *v == '\0')
			continue;
		if (gw_config_set(cfg, env_names[i], v, &why) == -1) {
			snprintf(msg, sizeof(msg), "%s: %s", env_names[i], why);
			*err = msg;
			return -1;
		}
	}
	return 0;
}
