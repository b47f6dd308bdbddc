/*
 * scarf-gateway: the FastCGI program (SPEC §14.1, §15).
 *
 * A thin front end (fcgi.h lists its files): an event loop accepts on
 * the listening socket and holds the idle connections (conn.c); N worker
 * threads read each request with FCGX_Accept_r() (within
 * --request-timeout) and run it through the exchange every front end
 * shares (common/exchange.h, serve.c), proxied answers go on to
 * transfer threads (transfer.c); the main thread owns
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

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "fcgi.h"
#include "gateway.h"
#include "logsink.h"
#include "image.h"
#include "msource.h"
#include "report.h"

struct fcgi_global g = {
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
	source_init();

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
	msource_free(&g.src);
	curl_global_cleanup();
	return rc;
}
