/*
 * The reserved endpoints (§12): /-/ping, /-/health, /-/metrics.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "handlers.h"
#include "manifest.h"
#include "metrics.h"
#include "xmalloc.h"

/*
 * Parses "a.b.c.d/n" or "v6/n" (a bare address means a single host).
 * Returns the address family, or -1.
 */
static int
cidr_parse(const char *s, size_t n, unsigned char addr[16], int *bits)
{
	char	 tmp[64];
	char	*slash;
	int	 af, max;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if ((slash = strchr(tmp, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, tmp, addr) == 1) {
		af = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, tmp, addr) == 1) {
		af = AF_INET6;
		max = 128;
	} else
		return -1;
	*bits = max;
	if (slash != NULL) {
		char *end;
		long b = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || b < 0 || b > max)
			return -1;
		*bits = (int)b;
	}
	return af;
}

static int
prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int	 i;

	for (i = 0; i < bits / 8; i++)
		if (a[i] != b[i])
			return 0;
	if (bits % 8) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
		if ((a[i] & mask) != (b[i] & mask))
			return 0;
	}
	return 1;
}

int
cidr_list_contains(const char *list, const char *ip)
{
	unsigned char	 a[16], net[16];
	int		 af, naf, bits;
	const char	*s, *e;

	if (inet_pton(AF_INET, ip, a) == 1)
		af = AF_INET;
	else if (inet_pton(AF_INET6, ip, a) == 1) {
		af = AF_INET6;
		/* an IPv4-mapped address is compared as IPv4 */
		if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memmove(a, a + 12, 4);
			af = AF_INET;
		}
	} else
		return 0;
	for (s = list; s != NULL && *s; s = *e ? e + 1 : e) {
		while (*s == ' ')
			s++;
		for (e = s; *e && *e != ','; e++)
			;
		naf = cidr_parse(s, (size_t)(e - s), net, &bits);
		if (naf == af && prefix_match(a, net, bits))
			return 1;
	}
	return 0;
}

static void
metrics_body(const struct gw_ctx *ctx, struct buf *b)
{
	static const char *const kinds[] = { "connect", "timeout" };
	const struct gw_stats	*st = ctx->stats;
	unsigned long		 v;
	long long		 ok;
	size_t			 t, c;

	buf_adds(b, "# HELP gateway_requests_total Requests answered.\n"
	    "# TYPE gateway_requests_total counter\n");
	for (t = 0; st != NULL && t < GW_T__COUNT; t++)
		for (c = 0; c < GW_NCODES; c++) {
			if ((v = atomic_load(&st->requests[t][c])) == 0)
				continue;
			if (gw_stat_codes[c] == 0)
				buf_printf(b, "gateway_requests_total{type=\"%s\","
				    "status=\"other\"} %lu\n",
				    gw_type_name((enum gw_type)t), v);
			else
				buf_printf(b, "gateway_requests_total{type=\"%s\","
				    "status=\"%d\"} %lu\n",
				    gw_type_name((enum gw_type)t),
				    gw_stat_codes[c], v);
		}
	buf_adds(b, "# HELP gateway_request_duration_seconds Time from a "
	    "request's intake to its event line.\n"
	    "# TYPE gateway_request_duration_seconds histogram\n");
	for (t = 0; st != NULL && t < GW_T__COUNT; t++) {
		unsigned long	 cum = 0;

		for (c = 0; c < GW_NBUCKETS; c++)
			cum += atomic_load(&st->dur_bucket[t][c]);
		if (cum == 0)
			continue;
		cum = 0;
		for (c = 0; c < GW_NBUCKETS; c++) {
			cum += atomic_load(&st->dur_bucket[t][c]);
			if (c < GW_NBUCKETS - 1)
				buf_printf(b, "gateway_request_duration_seconds"
				    "_bucket{type=\"%s\",le=\"%g\"} %lu\n",
				    gw_type_name((enum gw_type)t),
				    (double)gw_dur_buckets[c] / 1e6, cum);
			else
				buf_printf(b, "gateway_request_duration_seconds"
				    "_bucket{type=\"%s\",le=\"+Inf\"} %lu\n",
				    gw_type_name((enum gw_type)t), cum);
		}
		buf_printf(b, "gateway_request_duration_seconds_sum"
		    "{type=\"%s\"} %.6f\n", gw_type_name((enum gw_type)t),
		    (double)atomic_load(&st->dur_sum_us[t]) / 1e6);
		buf_printf(b, "gateway_request_duration_seconds_count"
		    "{type=\"%s\"} %lu\n", gw_type_name((enum gw_type)t),
		    cum);
	}
	buf_adds(b, "# HELP gateway_inflight_requests Requests being served "
	    "now, by every process of the gateway.\n"
	    "# TYPE gateway_inflight_requests gauge\n");
	buf_printf(b, "gateway_inflight_requests %ld\n",
	    metrics_inflight_sum(st));
	buf_adds(b, "# HELP gateway_upstream_errors_total Upstream failures.\n"
	    "# TYPE gateway_upstream_errors_total counter\n");
	for (t = 0; t < 2; t++)
		buf_printf(b, "gateway_upstream_errors_total{kind=\"%s\"} %lu\n",
		    kinds[t], st == NULL ? 0UL : atomic_load(t == 0 ?
		    &st->upstream_connect_errors : &st->upstream_timeouts));
	buf_adds(b, "# HELP gateway_npm_cache_total npm document cache "
	    "lookups.\n# TYPE gateway_npm_cache_total counter\n");
	buf_printf(b, "gateway_npm_cache_total{result=\"hit\"} %lu\n",
	    st ? atomic_load(&st->npm_cache_hits) : 0UL);
	buf_printf(b, "gateway_npm_cache_total{result=\"miss\"} %lu\n",
	    st ? atomic_load(&st->npm_cache_misses) : 0UL);
	buf_adds(b, "# HELP gateway_proxy_body_bytes_total Body bytes of "
	    "streamed proxied answers: spliced or copied.\n"
	    "# TYPE gateway_proxy_body_bytes_total counter\n");
	buf_printf(b, "gateway_proxy_body_bytes_total{path=\"splice\"} %lu\n",
	    st ? atomic_load(&st->proxy_bytes_spliced) : 0UL);
	buf_printf(b, "gateway_proxy_body_bytes_total{path=\"copy\"} %lu\n",
	    st ? atomic_load(&st->proxy_bytes_copied) : 0UL);
	buf_adds(b, "# HELP gateway_manifest_reloads_total Manifest reloads.\n"
	    "# TYPE gateway_manifest_reloads_total counter\n");
	buf_printf(b, "gateway_manifest_reloads_total{result=\"ok\"} %lu\n",
	    st ? atomic_load(&st->reloads_ok) : 0UL);
	buf_printf(b, "gateway_manifest_reloads_total{result=\"error\"} %lu\n",
	    st ? atomic_load(&st->reloads_error) : 0UL);
	buf_adds(b, "# HELP gateway_manifest_rules Rules in the served "
	    "manifest.\n# TYPE gateway_manifest_rules gauge\n");
	buf_printf(b, "gateway_manifest_rules %lu\n", ctx->manifest ?
	    (unsigned long)ctx->manifest->nrules : 0UL);
	buf_adds(b, "# HELP gateway_manifest_age_seconds Seconds since the "
	    "served manifest was loaded.\n"
	    "# TYPE gateway_manifest_age_seconds gauge\n");
	buf_printf(b, "gateway_manifest_age_seconds %ld\n", ctx->manifest ?
	    (long)(ctx->now - ctx->manifest->loaded_at) : 0L);
	/* extensions (README "Running a fleet"): is the served manifest
	 * still what the source holds? */
	ok = ctx->manifest ? (long long)ctx->manifest->loaded_at : 0;
	if (st != NULL && atomic_load(&st->manifest_confirmed) > ok)
		ok = atomic_load(&st->manifest_confirmed);
	buf_adds(b, "# HELP gateway_manifest_last_success_timestamp_seconds "
	    "When the manifest source last gave (or confirmed) the served "
	    "manifest.\n"
	    "# TYPE gateway_manifest_last_success_timestamp_seconds gauge\n");
	buf_printf(b, "gateway_manifest_last_success_timestamp_seconds %lld\n",
	    ok);
	buf_adds(b, "# HELP gateway_manifest_stale 1 when the last load of "
	    "the manifest failed and an older one is served.\n"
	    "# TYPE gateway_manifest_stale gauge\n");
	buf_printf(b, "gateway_manifest_stale %d\n", ctx->manifest != NULL &&
	    ctx->last_reload_error != NULL);
}

int
reserved_handle(const struct gw_ctx *ctx, const struct gw_request *req,
    struct gw_response *resp, struct gw_event *ev)
{
	const char	*p = req->raw_path;
	const char	*allow;
	struct buf	*b = &resp->body;

	if (strcmp(p, "/-/ping") != 0 && strcmp(p, "/-/health") != 0 &&
	    strcmp(p, "/-/metrics") != 0)
		return 0;
	ev->type = GW_T_RESERVED;
	if (!req->is_get_or_head) {
		resp_plain(resp, 405);
		resp_header(resp, "Cache-Control", "no-store");
		return 1;
	}
	if (strcmp(p, "/-/ping") == 0) {
		resp_json(resp, 200, "{}");
	} else if (strcmp(p, "/-/health") == 0) {
		if (ctx->manifest != NULL) {
			resp_json(resp, 200, "");
			buf_printf(b, "{\"status\":\"ok\",\"manifest-loaded\":true,"
			    "\"rules\":%lu,\"manifest-age-seconds\":%ld,"
			    "\"manifest-stale\":%s,\"last-reload-error\":",
			    (unsigned long)ctx->manifest->nrules,
			    (long)(ctx->now - ctx->manifest->loaded_at),
			    ctx->last_reload_error != NULL ? "true" : "false");
		} else {
			resp_json(resp, 503, "");
			buf_adds(b, "{\"status\":\"unavailable\","
			    "\"manifest-loaded\":false,\"rules\":0,"
			    "\"manifest-age-seconds\":null,"
			    "\"manifest-stale\":null,\"last-reload-error\":");
		}
		buf_add_jstrz(b, ctx->last_reload_error ?
		    ctx->last_reload_error : ctx->manifest == NULL ?
		    ctx->manifest_error : NULL);
		buf_adds(b, ",\"version\":");
		buf_add_jstrz(b, gw_version);
		buf_addc(b, '}');
	} else {
		/* metrics: loopback or an allowed network only; the check
		 * uses REMOTE_ADDR, never a forwarded address */
		allow = gw_param(req, "REMOTE_ADDR");
		if (allow == NULL || (!cidr_list_contains("127.0.0.0/8,::1",
		    allow) && (ctx->config == NULL ||
		    ctx->config->metrics_allow == NULL ||
		    !cidr_list_contains(ctx->config->metrics_allow, allow)))) {
			resp_plain(resp, 403);
		} else {
			resp->status = 200;
			resp_header(resp, "Content-Type",
			    "text/plain; version=0.0.4");
			metrics_body(ctx, b);
		}
	}
	resp_header(resp, "Cache-Control", "no-store");
	return 1;
}
