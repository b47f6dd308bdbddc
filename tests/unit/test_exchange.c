/*
 * gw_exchange_run() (common/exchange.c) over a test front end: what reaches
 * the output for each plan, the order of the front end's hooks, the
 * event line (status, bytes, error after a failed delivery), and the
 * counters.  The upstream exchanges are stand-ins in a proxy_module table,
 * as the CGI program's module or the FastCGI program's proxy_linked.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "exchange.h"
#include "gateway.h"
#include "logsink.h"
#include "manifest.h"
#include "mparse.h"
#include "xmalloc.h"

#include "../tap.h"

static const char manifest_text[] =
"{\"rules\":["
"{\"type\":\"docker-v1\",\"domain\":\"d.test\",\"package-id\":\"p1\","
" \"repository-name\":\"library/hello\",\"registry\":\"docker.io\"},"
"{\"type\":\"docker-v1\",\"domain\":\"p.test\",\"package-id\":\"p2\","
" \"repository-name\":\"library/hello\",\"registry\":\"docker.io\","
" \"always-proxy\":true},"
"{\"type\":\"npm-v1\",\"domain\":\"n.test\",\"package-id\":\"n\","
" \"package-name\":\"*\",\"registry\":\"https://r.test/npm/\"}]}";

/* The test front end: everything in memory, every call recorded. */
struct tfront {
	struct buf	 out;		/* what was written */
	struct buf	 calls;		/* the hooks, in order */
	int		 fail_after;	/* writes accepted before a failure;
					 * -1: none fails */
	int		 no_proxy;	/* proxy_get finds none */
	const char	*finish_why;	/* finish's answer */
	long long	 finish_lost;
	size_t		 at_served;	/* out.n when served ran */
};

static size_t
t_put(void *arg, const void *p, size_t n)
{
	struct tfront	*t = arg;

	buf_adds(&t->calls, "put ");
	if (t->fail_after == 0)
		return 0;
	if (t->fail_after > 0)
		t->fail_after--;
	buf_add(&t->out, p, n);
	return n;
}

static int
t_write(void *arg, const void *p, size_t n)
{
	return t_put(arg, p, n) == n ? 0 : -1;
}

static int
t_flush(void *arg)
{
	struct tfront	*t = arg;

	buf_adds(&t->calls, "flush ");
	return 0;
}

static void
t_abort(void *arg)
{
	struct tfront	*t = arg;

	buf_adds(&t->calls, "abort ");
}

static void
t_begin(void *arg, struct gw_request *req)
{
	struct tfront	*t = arg;

	(void)req;
	buf_adds(&t->calls, "begin ");
}

static void
t_served(void *arg, const struct gw_response *resp)
{
	struct tfront	*t = arg;

	buf_printf(&t->calls, "served(%d) ", (int)resp->plan);
	t->at_served = t->out.n;
}

/* Stand-ins for proxy_serve and npm_doc_serve: a fixed answer. */
static void
fake_answer(const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev, struct gw_out *out, const char *body)
{
	resp_clear(resp);
	resp->status = 200;
	buf_adds(&resp->body, body);
	ev->proxied = 1;
	(void)gw_out_response(out, req, resp, resp->body.p, resp->body.n, 1,
	    ev);
}

static void
fake_proxy_serve(struct proxy *px, const struct gw_ctx *ctx,
    const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev, struct gw_out *out)
{
	(void)ctx;
	fake_answer(req, resp, ev, out, px != NULL && resp->upstream != NULL ?
	    resp->upstream : "?");
}

static void
fake_npm_doc_serve(struct proxy *px, const struct gw_ctx *ctx,
    const struct gw_request *req, struct gw_response *resp,
    struct gw_event *ev, struct gw_out *out)
{
	struct buf	 b = BUF_INIT;

	(void)ctx;
	buf_printf(&b, "doc %d %s %s", (int)resp->npm_kind,
	    resp->npm_name != NULL ? resp->npm_name : "?",
	    px != NULL ? "px" : "-");
	fake_answer(req, resp, ev, out, buf_cstr(&b));
	buf_free(&b);
}

static const struct proxy_module fake_module = {
	PACKAGE_VERSION, PROXY_MODULE_ABI, NULL, NULL, fake_proxy_serve,
	fake_npm_doc_serve, NULL, NULL
};
static char fake_px;	/* a proxy's address, never dereferenced */

static const struct proxy_module *
t_proxy_get(void *arg, struct proxy **px, const char **why)
{
	struct tfront	*t = arg;

	buf_adds(&t->calls, "proxy_get ");
	if (t->no_proxy) {
		*why = "not here";
		return NULL;
	}
	*px = (struct proxy *)(void *)&fake_px;
	return &fake_module;
}

static void
t_proxy_put(void *arg, struct proxy *px)
{
	struct tfront	*t = arg;

	buf_printf(&t->calls, "proxy_put(%s) ",
	    px == (struct proxy *)(void *)&fake_px ? "px" : "?");
}

static const char *
t_finish(void *arg, long long *lost)
{
	struct tfront	*t = arg;

	buf_adds(&t->calls, "finish");
	*lost = t->finish_lost;
	return t->finish_why;
}

/* What one exchange produced. */
struct got {
	struct buf	 out, calls, event;
	size_t		 at_served;
};

static void
got_free(struct got *g)
{
	buf_free(&g->out);
	buf_free(&g->calls);
	buf_free(&g->event);
}

static const char *logpath;

/* One request through gw_exchange_run(); t's settings as given. */
static void
run(struct gw_ctx *ctx, struct tfront *t, const char *method,
    const char *host, const char *uri, struct got *g)
{
	struct gw_front	 fe;
	struct logsink	*log;
	struct buf	 b1 = BUF_INIT, b2 = BUF_INIT, b3 = BUF_INIT;
	char		*params[6];
	const char	*err;
	FILE		*f;
	char		 line[4096];

	buf_printf(&b1, "REQUEST_METHOD=%s", method);
	buf_printf(&b2, "REQUEST_URI=%s", uri);
	buf_printf(&b3, "HTTP_HOST=%s", host);
	params[0] = b1.p;
	params[1] = b2.p;
	params[2] = b3.p;
	params[3] = (char *)(uintptr_t)"REMOTE_ADDR=127.0.0.1";
	params[4] = (char *)(uintptr_t)"HTTP_USER_AGENT=docker/27.0";
	params[5] = NULL;

	memset(&fe, 0, sizeof(fe));
	fe.out.ctx = t;
	fe.out.write = t_write;
	fe.out.put = t_put;
	fe.out.flush = t_flush;
	fe.out.abort = t_abort;
	fe.begin = t_begin;
	fe.served = t_served;
	fe.proxy_get = t_proxy_get;
	fe.proxy_put = t_proxy_put;
	fe.finish = t_finish;
	unlink(logpath);
	if ((log = logsink_open(logpath, &err)) == NULL) {
		ok(0, "log %s: %s", logpath, err);
		exit(1);
	}
	fe.log = log;
	gw_exchange_run(ctx, params, &fe);
	logsink_close(log);

	memset(g, 0, sizeof(*g));
	g->out = t->out;
	g->calls = t->calls;
	g->at_served = t->at_served;
	memset(&t->out, 0, sizeof(t->out));
	memset(&t->calls, 0, sizeof(t->calls));
	if ((f = fopen(logpath, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			buf_adds(&g->event, line);
		fclose(f);
	}
	buf_free(&b1);
	buf_free(&b2);
	buf_free(&b3);
}

static int
has(const struct got *g, const char *s)
{
	return strstr(buf_cstr((struct buf *)(uintptr_t)&g->event), s) !=
	    NULL;
}

int
main(void)
{
	static struct gw_stats	 stats;
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	struct gw_config	 cfg;
	struct gw_ctx		 ctx;
	struct tfront		 t;
	struct got		 g;
	char			 path[] = "/tmp/test_exchange.XXXXXX";
	char			 lp[64];
	size_t			 i;
	int			 fd;

	if ((fd = mkstemp(path)) == -1)
		return 1;
	close(fd);
	unlink(path);
	snprintf(lp, sizeof(lp), "%s.log", path);
	logpath = lp;

	memset(&d, 0, sizeof(d));
	if (!ok(manifest_parse("t.json", manifest_text,
	    sizeof(manifest_text) - 1, &m, &d) == 0, "manifest: %s",
	    buf_cstr(&d.errors)))
		return done_testing();
	manifest_diag_free(&d);
	gw_config_defaults(&cfg);
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	ctx.stats = &stats;
	memset(&t, 0, sizeof(t));
	t.fail_after = -1;

	/* --- an answer: written whole, no flush, then finished --- */
	run(&ctx, &t, "GET", "d.test", "/v2/library/hello/manifests/1.0", &g);
	is_str(buf_cstr(&g.out), "Status: 307 Temporary Redirect\r\n"
	    "Location: https://registry-1.docker.io/v2/library/hello/"
	    "manifests/1.0\r\nContent-Length: 0\r\n\r\n", "answer: the response");
	is_str(buf_cstr(&g.calls), "begin served(0) put finish",
	    "answer: hooks in order, head only (empty body), no flush");
	is_int(g.at_served, 0, "answer: nothing written before served");
	ok(has(&g, "\"status\":307,") && has(&g, "\"bytes\":0,") &&
	    has(&g, "\"error\":null"), "answer: the event (%s)", g.event.p);
	for (i = 0; i < GW_NCODES - 1 && gw_stat_codes[i] != 307; i++)
		continue;
	is_int(atomic_load(&stats.requests[GW_T_DOCKER][i]), 1,
	    "answer: counted once, as docker 307");
	is_int(atomic_load(&stats.inflight), 0, "answer: no longer in flight");
	got_free(&g);

	/* --- a body; HEAD leaves it out, bytes 0 --- */
	run(&ctx, &t, "GET", "d.test", "/-/ping", &g);
	ok(strstr(g.out.p, "\r\n\r\n") != NULL &&
	    strstr(g.out.p, "\r\n\r\n")[4] != '\0', "ping: a body written");
	ok(has(&g, "\"bytes\":0,") == 0, "ping: bytes counted (%s)",
	    g.event.p);
	is_str(buf_cstr(&g.calls), "begin served(0) put put finish",
	    "ping: head and body");
	got_free(&g);
	run(&ctx, &t, "HEAD", "d.test", "/-/ping", &g);
	is_str(buf_cstr(&g.calls), "begin served(0) put finish",
	    "HEAD: no body written");
	ok(has(&g, "\"bytes\":0,"), "HEAD: bytes 0");
	got_free(&g);

	/* --- the delivery fails at finish: error and bytes taken off --- */
	t.finish_why = "Broken pipe";
	t.finish_lost = 1;
	run(&ctx, &t, "GET", "d.test", "/-/ping", &g);
	ok(has(&g, "\"error\":\"response not delivered: Broken pipe\""),
	    "finish failed: the event says so (%s)", g.event.p);
	ok(has(&g, "\"bytes\":1,"), "finish failed: the lost byte taken "
	    "off");
	t.finish_lost = 1000000;
	got_free(&g);
	run(&ctx, &t, "GET", "d.test", "/-/ping", &g);
	ok(has(&g, "\"bytes\":0,"), "finish failed: bytes never below 0");
	t.finish_why = NULL;
	t.finish_lost = 0;
	got_free(&g);

	/* --- a write that fails: bytes what the stream took --- */
	t.fail_after = 1;
	run(&ctx, &t, "GET", "d.test", "/-/ping", &g);
	ok(has(&g, "\"bytes\":0,"), "body refused: bytes 0 (%s)", g.event.p);
	t.fail_after = -1;
	got_free(&g);

	/* --- a proxied blob: the table's proxy_serve with the proxy --- */
	run(&ctx, &t, "GET", "p.test", "/v2/library/hello/manifests/1.0", &g);
	is_str(buf_cstr(&g.calls), "begin served(1) proxy_get put put flush "
	    "proxy_put(px) finish", "proxy: hooks in order");
	ok(strstr(buf_cstr(&g.out), "\r\n\r\nhttps://registry-1.docker.io/"
	    "v2/library/hello/manifests/1.0") != NULL,
	    "proxy: proxy_serve answered for the upstream URL");
	ok(has(&g, "\"proxied\":true") && has(&g, "\"status\":200,"),
	    "proxy: the event (%s)", g.event.p);
	got_free(&g);

	/* --- an npm document: npm_doc_serve with kind and name --- */
	run(&ctx, &t, "GET", "n.test", "/@s%2fp/1.0.0", &g);
	ok(strstr(buf_cstr(&g.out), "\r\n\r\ndoc 1 @s/p px") != NULL,
	    "npm document: kind VERSION, name @s/p, the proxy (%s)",
	    buf_cstr(&g.out));
	is_str(buf_cstr(&g.calls), "begin served(2) proxy_get put put flush "
	    "proxy_put(px) finish", "npm document: hooks in order");
	got_free(&g);
	run(&ctx, &t, "GET", "n.test", "/-/package/left-pad/dist-tags", &g);
	ok(strstr(buf_cstr(&g.out), "\r\n\r\ndoc 2 left-pad px") != NULL,
	    "dist-tags: kind PLAIN (%s)", buf_cstr(&g.out));
	got_free(&g);

	/* --- no upstream exchanges: 502 of its kind, written as an
	 * answer, the reason in the event --- */
	t.no_proxy = 1;
	run(&ctx, &t, "GET", "n.test", "/left-pad", &g);
	ok(strncmp(buf_cstr(&g.out), "Status: 502 Bad Gateway\r\n", 25) == 0,
	    "no module: 502 (%s)", buf_cstr(&g.out));
	is_str(buf_cstr(&g.calls), "begin served(2) proxy_get put put finish",
	    "no module: no proxy_put");
	ok(has(&g, "\"error\":\"proxy module: not here\"") &&
	    has(&g, "\"proxied\":false"), "no module: the event (%s)",
	    g.event.p);
	got_free(&g);
	t.no_proxy = 0;

	is_int(atomic_load(&stats.inflight), 0, "nothing left in flight");
	unlink(logpath);
	manifest_unref(m);
	buf_free(&t.out);
	buf_free(&t.calls);
	return done_testing();
}
