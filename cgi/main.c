/*
 * scarf-gateway.cgi: the plain CGI program (SPEC §14.2).
 *
 * One request per process: settings from the GATEWAY_* environment only,
 * the manifest loaded from GATEWAY_MANIFEST (a file path) or the
 * compiled-in default, the request from environ and stdin, the response
 * to stdout (front.c), through the exchange every front end shares
 * (exchange.h).  The event line goes to GATEWAY_LOG, never to stdout,
 * after stdout has been closed so the web server can finish the response
 * first.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "exchange.h"
#include "front.h"
#include "gateway.h"
#include "logsink.h"
#include "image.h"
#include "manifest.h"
#include "metrics.h"
#include "mparse.h"
#include "msource.h"
#include "xmalloc.h"

#define PROG		"scarf-gateway.cgi"

extern char **environ;

/* The manifest at exit, still reachable (main). */
static struct manifest *volatile kept;

/*
 * Loads the manifest (§14.2).  Returns it with one reference, or NULL with
 * *why (caller frees) for §2.4; every diagnostic also goes to stderr,
 * which web servers put into their error log.
 */
static struct manifest *
load_manifest(const struct gw_config *cfg, char **why)
{
	struct manifest_diag	 d;
	struct msource		 src;
	struct manifest		*m = NULL;

	*why = NULL;
	if (msource_is_url(cfg->manifest)) {
		*why = xstrdup("GATEWAY_MANIFEST must be a file path in the "
		    "CGI build");
		fprintf(stderr, PROG ": %s\n", *why);
		return NULL;
	}
	memset(&d, 0, sizeof(d));
	msource_init(&src, cfg->manifest, NULL, NULL);
	if (msource_load(&src, 0, &m, &d) != MSOURCE_OK) {
		if (d.errors.n > 0)
			fprintf(stderr, PROG ": %s", buf_cstr(&d.errors));
		*why = msource_first_line(&d.errors,
		    "manifest could not be loaded");
		manifest_unref(m);
		m = NULL;
	}
	msource_free(&src);
	manifest_diag_free(&d);
	return m;
}

/*
 * The image the manifest was opened from failed a check after it was
 * opened (image.h, image_open_lazy()): one warning, the image removed,
 * and the answer made again from the manifest's JSON, which writes a new
 * image for the next request.
 */
static struct manifest *volatile fresh;

static struct manifest *
cgi_damaged(void *ctx, struct manifest *m)
{
	const struct cgi_out	*o = ctx;
	char			*why = NULL;

	fprintf(stderr, PROG ": the manifest image of %s is damaged; "
	    "answering from the manifest and rebuilding the image\n",
	    o->cfg->manifest);
	image_discard(m);
	m = load_manifest(o->cfg, &why);
	free(why);
	/* reachable at exit, for the leak checkers (kept) */
	fresh = m;
	return m;
}

int
main(int argc, char *argv[])
{
	static struct gw_stats	 own;	/* without GATEWAY_STATE_DIR (§12) */
	struct gw_config	 cfg;
	struct gw_ctx		 ctx;
	struct gw_front		 fe;
	struct cgi_out		 cout;
	struct logsink		*log;
	struct manifest		*m = NULL;
	const char		*err;
	char			*why = NULL;
	int			 help;

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
		/* one request reads little of the image: check that */
		image_cache_lazy(1);
		m = load_manifest(&cfg, &why);
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.manifest_error = why;
	ctx.config = &cfg;
	/* shared with the other processes of GATEWAY_STATE_DIR (metrics.h) */
	ctx.stats = metrics_open(cfg.state_dir, -1, &own, PROG);

	cgi_front_init(&fe, &cout, PROG, &cfg, log);
	fe.damaged = cgi_damaged;
	gw_exchange_run(&ctx, environ, &fe);
	metrics_detach();

	/* The process ends here: exit(2) unmaps the image and frees the
	 * manifest faster than unref would, rule by rule (README,
	 * "Performance").  Kept reachable, for the leak checkers. */
	kept = m;
	free(why);
	logsink_close(log);
	if (cout.px != NULL) {
		cout.pm->proxy_free(cout.px);
		cout.pm->cleanup();
	}
	return cout.aborted ? 1 : 0;
}
