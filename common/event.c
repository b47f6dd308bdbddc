/*
 * The event line (SPEC §13): one JSON object per request.  The common keys
 * are always written, in a fixed order; type-specific keys follow from the
 * pre-serialised `extra` buffer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "xmalloc.h"

static const char *const type_names[GW_T__COUNT] = {
	"none", "docker", "npm", "file", "python", "pixel", "telemetry",
	"catch-all", "reserved",
};

const char *
gw_type_name(enum gw_type t)
{
	return (unsigned)t < GW_T__COUNT ? type_names[t] : "none";
}

void
gw_event_init(struct gw_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = GW_T_NONE;
	ev->rule_index = -1;
}

void
gw_event_free(struct gw_event *ev)
{
	free(ev->package_id);
	free(ev->rule_id);
	free(ev->location);
	free(ev->error);
	buf_free(&ev->extra);
	memset(ev, 0, sizeof(*ev));
	ev->rule_index = -1;
}

static void
extra_key(struct gw_event *ev, const char *key)
{
	buf_addc(&ev->extra, ',');
	buf_add_jstrz(&ev->extra, key);
	buf_addc(&ev->extra, ':');
}

void
event_str(struct gw_event *ev, const char *key, const char *val)
{
	extra_key(ev, key);
	buf_add_jstrz(&ev->extra, val);
}

void
event_strn(struct gw_event *ev, const char *key, const char *val, size_t n)
{
	extra_key(ev, key);
	buf_add_jstr(&ev->extra, val, n);
}

void
event_raw(struct gw_event *ev, const char *key, const char *json)
{
	extra_key(ev, key);
	buf_adds(&ev->extra, json);
}

void
event_bool(struct gw_event *ev, const char *key, int v)
{
	event_raw(ev, key, v ? "true" : "false");
}

void
event_rule(struct gw_event *ev, int rule_index, const char *package_id,
    const char *rule_id)
{
	ev->rule_index = rule_index;
	free(ev->package_id);
	free(ev->rule_id);
	ev->package_id = xstrdup_null(package_id);
	ev->rule_id = xstrdup_null(rule_id);
}

static void
key(struct buf *out, const char *k)
{
	buf_addc(out, ',');
	buf_add_jstrz(out, k);
	buf_addc(out, ':');
}

void
event_format(const struct gw_event *ev, const struct gw_request *req,
    struct buf *out)
{
	struct tm	 tm;
	char		 ts[40];
	time_t		 t = req->start.tv_sec;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_adds(out, "{\"time\":");
	buf_printf(out, "\"%s.%03ldZ\"", ts, req->start.tv_nsec / 1000000L);
	key(out, "host");
	buf_add_jstrz(out, req->host ? req->host : "");
	key(out, "method");
	buf_add_jstrz(out, req->method ? req->method : "");
	key(out, "path");
	buf_add_jstrz(out, req->raw_path ? req->raw_path : "");
	key(out, "query");
	if (req->raw_query == NULL)
		buf_add_jstrz(out, "");
	else if (req->too_long && strlen(req->raw_query) > GW_QUERY_MAX_BYTES)
		/* a 414: the line stays bounded (the first bytes say enough) */
		buf_add_jstr(out, req->raw_query, GW_QUERY_MAX_BYTES);
	else
		buf_add_jstrz(out, req->raw_query);
	key(out, "status");
	buf_printf(out, "%d", ev->status);
	key(out, "type");
	buf_add_jstrz(out, gw_type_name(ev->type));
	key(out, "rule-index");
	if (ev->rule_index < 0)
		buf_adds(out, "null");
	else
		buf_printf(out, "%d", ev->rule_index);
	key(out, "package-id");
	buf_add_jstrz(out, ev->package_id);
	key(out, "rule-id");
	buf_add_jstrz(out, ev->rule_id);
	key(out, "location");
	buf_add_jstrz(out, ev->location);
	key(out, "proxied");
	buf_adds(out, ev->proxied ? "true" : "false");
	key(out, "bytes");
	buf_printf(out, "%lld", ev->bytes);
	key(out, "duration_ms");
	buf_printf(out, "%lld", ev->duration_ms);
	key(out, "user-agent");
	buf_add_jstrz(out, gw_param(req, "HTTP_USER_AGENT"));
	key(out, "referer");
	buf_add_jstrz(out, gw_param(req, "HTTP_REFERER"));
	key(out, "client-ip");
	buf_add_jstrz(out, req->client_ip ? req->client_ip : "");
	key(out, "error");
	buf_add_jstrz(out, ev->error);
	if (ev->extra.n)
		buf_add(out, ev->extra.p, ev->extra.n);
	buf_adds(out, "}\n");
}
