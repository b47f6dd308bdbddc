/*
 * Resource limits of the request path: the query caps of gw_request_init
 * (GW_QUERY_MAX_BYTES, GW_QUERY_MAX_ITEMS, answered 414) and the cost of
 * the queries just under them, through gw_serve() and the event line.
 *
 * Timing asserts, on purpose (the only ones in the unit tests): a query
 * parser that grew its array one item at a time took 0.15 s for a 1 MiB
 * query on -O2 and minutes under ASan, and a 16,000-item query cost
 * 540 MiB.  Each request below must be answered within QUERY_BUDGET_MS:
 * 50 ms on a plain build, 2 s under AddressSanitizer.  Measured on the
 * 2-vCPU test VM with both cores busy: about 1-3 ms (plain) and 20-60 ms
 * (ASan) each, so the budgets leave a margin of 15-30 times for a slow or
 * loaded machine, while a quadratic parser misses them by far.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tap.h"
#include "gateway.h"
#include "manifest.h"
#include "util.h"
#include "xmalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN	1
#endif
#endif
#ifdef UNDER_ASAN
#define QUERY_BUDGET_MS	2000
#else
#define QUERY_BUDGET_MS	50
#endif

static const char manifest_text[] =
"{\"rules\":["
"{\"type\":\"file-v1\",\"domain\":\"f.test\",\"package-id\":\"f\","
" \"incoming-path\":\"/dl/{file}{?a,b}\","
" \"outgoing-url\":\"https://files.example/{file}?t=1\"}"
"]}";

static double
ms_since(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Serves GET http://f.test/dl/x?<query>; returns the status, the time it
 * took (request intake, routing, answer and event line) in *ms, the
 * Location's length in *loclen and the event line's in *evlen.
 */
static int
serve(const struct gw_ctx *ctx, const char *query, double *ms,
    size_t *loclen, size_t *evlen)
{
	static char method[] = "REQUEST_METHOD=GET", host[] = "HTTP_HOST=f.test",
	    ra[] = "REMOTE_ADDR=127.0.0.1";
	char *params[] = { method, NULL, host, ra, NULL };
	struct gw_request	 req;
	struct gw_response	 resp;
	struct gw_event		 ev;
	struct buf		 b = BUF_INIT;
	struct timespec		 t0;
	const char		*loc;
	int			 status;

	buf_adds(&b, "REQUEST_URI=/dl/x?");
	buf_adds(&b, query);
	params[1] = buf_steal(&b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	gw_request_init(&req, params, ctx->config);
	gw_serve(ctx, &req, &resp, &ev);
	ev.status = resp.status;
	event_format(&ev, &req, &b);
	*ms = ms_since(&t0);
	status = resp.status;
	loc = resp_get_header(&resp, "Location");
	*loclen = loc != NULL ? strlen(loc) : 0;
	*evlen = b.n;
	buf_free(&b);
	gw_event_free(&ev);
	gw_response_free(&resp);
	gw_request_free(&req);
	free(params[1]);
	return status;
}

/* `items` distinct items k0=v&k1=v&..., padded with `pad` bytes of 'p'. */
static char *
make_query(size_t items, size_t pad)
{
	struct buf	 b = BUF_INIT;
	size_t		 i;

	for (i = 0; i < items; i++)
		buf_printf(&b, "%sk%zu=v", i > 0 ? "&" : "", i);
	if (pad > 0) {
		buf_adds(&b, items > 0 ? "&p=" : "p=");
		for (i = 0; i < pad; i++)
			buf_addc(&b, 'p');
	}
	return buf_steal(&b);
}

static const struct {
	int		 line;
	const char	*raw;
	size_t		 items;
} count_rows[] = {
	{ __LINE__, "", 0 },
	{ __LINE__, "&&;;&", 0 },
	{ __LINE__, "a", 1 },
	{ __LINE__, "a=1&b=2;c", 3 },
	{ __LINE__, "&a&&b&", 2 },
	{ __LINE__, "=&=", 2 },
};

int
main(void)
{
	struct manifest_diag	 d;
	struct manifest		*m = NULL;
	struct gw_config	 cfg;
	struct gw_stats		 stats;
	struct gw_ctx		 ctx;
	struct query		 q;
	char			*s;
	double			 ms;
	size_t			 i, loclen, evlen;

	for (i = 0; i < sizeof(count_rows) / sizeof(count_rows[0]); i++) {
		const char *raw = count_rows[i].raw;

		is_int_at(count_rows[i].line, query_count(raw, strlen(raw)),
		    count_rows[i].items, "query_count(\"%s\")", raw);
		query_parse(&q, raw, strlen(raw));
		is_int_at(count_rows[i].line, q.n, count_rows[i].items,
		    "query_parse(\"%s\") items", raw);
		query_free(&q);
	}

	memset(&d, 0, sizeof(d));
	if (!ok(manifest_parse("t.json", manifest_text,
	    sizeof(manifest_text) - 1, &m, &d) == 0, "test manifest loads: %s",
	    buf_cstr(&d.errors)))
		return done_testing();
	manifest_diag_free(&d);
	gw_config_defaults(&cfg);
	memset(&stats, 0, sizeof(stats));
	memset(&ctx, 0, sizeof(ctx));
	ctx.manifest = m;
	ctx.config = &cfg;
	ctx.stats = &stats;

	/* a plain request, for the figures below */
	is_int(serve(&ctx, "a=1&b=2&c=3", &ms, &loclen, &evlen), 307,
	    "small query: 307");
	is_int(loclen, strlen("https://files.example/x?t=1&a=1&b=2&c=3"),
	    "small query forwarded");

	/* a 1 MiB query: 414, quickly, and a bounded event line */
	s = make_query(0, 1024 * 1024);
	is_int(serve(&ctx, s, &ms, &loclen, &evlen), 414, "1 MiB query: 414");
	ok(ms < QUERY_BUDGET_MS, "1 MiB query answered in %.1f ms (< %d)", ms,
	    QUERY_BUDGET_MS);
	ok(evlen < GW_QUERY_MAX_BYTES + 4096, "1 MiB query: event line of "
	    "%zu bytes", evlen);
	free(s);

	/* 16,000 items (about 150 KB): 414, quickly */
	s = make_query(16000, 0);
	is_int(serve(&ctx, s, &ms, &loclen, &evlen), 414,
	    "16,000 items: 414");
	ok(ms < QUERY_BUDGET_MS, "16,000 items answered in %.1f ms (< %d)", ms,
	    QUERY_BUDGET_MS);
	free(s);

	/* 16,000 empty-valued items in 32 KB: over the item cap alone */
	{
		struct buf b = BUF_INIT;

		for (i = 0; i < 16000; i++)
			buf_adds(&b, "a&");
		is_int(serve(&ctx, buf_cstr(&b), &ms, &loclen, &evlen), 414,
		    "16,000 items in 32 KB: 414");
		ok(ms < QUERY_BUDGET_MS, "16,000 short items answered in "
		    "%.1f ms (< %d)", ms, QUERY_BUDGET_MS);
		buf_free(&b);
	}

	/* at both caps: 1,000 items, 64 KiB, every one forwarded */
	{
		char *base = make_query(GW_QUERY_MAX_ITEMS - 1, 0);
		size_t pad = GW_QUERY_MAX_BYTES - strlen(base) - 3;

		free(base);
		s = make_query(GW_QUERY_MAX_ITEMS - 1, pad);
	}
	is_int(strlen(s), GW_QUERY_MAX_BYTES, "the query at the caps is "
	    "64 KiB");
	is_int(query_count(s, strlen(s)), GW_QUERY_MAX_ITEMS,
	    "the query at the caps has 1,000 items");
	is_int(serve(&ctx, s, &ms, &loclen, &evlen), 307,
	    "query at the caps: 307");
	ok(loclen > GW_QUERY_MAX_BYTES, "query at the caps: all forwarded "
	    "(%zu)", loclen);
	ok(ms < QUERY_BUDGET_MS, "query at the caps answered in %.1f ms "
	    "(< %d)", ms, QUERY_BUDGET_MS);
	free(s);

	/* one byte or one item over */
	s = make_query(0, GW_QUERY_MAX_BYTES - 1);
	is_int(strlen(s), GW_QUERY_MAX_BYTES + 1, "65,537 bytes");
	is_int(serve(&ctx, s, &ms, &loclen, &evlen), 414,
	    "one byte over: 414");
	free(s);
	s = make_query(GW_QUERY_MAX_ITEMS + 1, 0);
	is_int(serve(&ctx, s, &ms, &loclen, &evlen), 414,
	    "one item over: 414");
	free(s);
	s = make_query(GW_QUERY_MAX_ITEMS, 0);
	is_int(serve(&ctx, s, &ms, &loclen, &evlen), 307,
	    "1,000 items: 307");
	free(s);

	manifest_unref(m);
	return done_testing();
}
