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
	buf_free(&ev->warnings);
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

/*
 * `,"k":"v"` for a string field of the line (null for NULL).  Request data
 * need not be UTF-8, and JSON strings must be: buf_add_jstr writes each
 * byte that is not part of valid UTF-8 as U+FFFD, which is lossy, so such
 * a value gets a second field `,"k-raw":"..."` with its exact bytes, every
 * byte outside 0x21-0x7E and every '%' written %XX (upper-case hex).  A
 * reader decodes k-raw with any percent-decoder (Python:
 * urllib.parse.unquote_to_bytes) and never mistakes an invalid byte for
 * the Latin-1 character of the same value, as a "\u00XX" escape would
 * have it (README "Event log").
 */
static void
field_str(struct buf *out, const char *k, const char *v, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf	 raw = BUF_INIT;
	const unsigned char *u = (const unsigned char *)v;
	size_t		 i;

	buf_addc(out, ',');
	buf_add_jstrz(out, k);
	buf_addc(out, ':');
	if (v == NULL) {
		buf_adds(out, "null");
		return;
	}
	buf_add_jstr(out, v, n);
	if (utf8_valid(v, n))
		return;
	for (i = 0; i < n; i++)
		if (u[i] < 0x21 || u[i] > 0x7e || u[i] == '%') {
			buf_addc(&raw, '%');
			buf_addc(&raw, hex[u[i] >> 4]);
			buf_addc(&raw, hex[u[i] & 15]);
		} else
			buf_addc(&raw, u[i]);
	buf_printf(out, ",\"%s-raw\":", k);
	buf_add_jstr(out, raw.p != NULL ? raw.p : "", raw.n);
	buf_free(&raw);
}

static void
field_strz(struct buf *out, const char *k, const char *v)
{
	field_str(out, k, v, v != NULL ? strlen(v) : 0);
}

void
event_str(struct gw_event *ev, const char *key, const char *val)
{
	field_strz(&ev->extra, key, val);
}

void
event_strn(struct gw_event *ev, const char *key, const char *val, size_t n)
{
	field_str(&ev->extra, key, val, n);
}

void
event_warn(struct gw_event *ev, int rule_index, const char *field,
    const char *message)
{
	if (ev->warnings.n > 0)
		buf_addc(&ev->warnings, ',');
	buf_printf(&ev->warnings, "{\"rule-index\":%d,\"field\":",
	    rule_index);
	buf_add_jstrz(&ev->warnings, field);
	buf_adds(&ev->warnings, ",\"message\":");
	buf_add_jstrz(&ev->warnings, message);
	buf_addc(&ev->warnings, '}');
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
	field_strz(out, "host", req->host ? req->host : "");
	field_strz(out, "method", req->method ? req->method : "");
	field_strz(out, "path", req->raw_path ? req->raw_path : "");
	field_strz(out, "query", req->raw_query ? req->raw_query : "");
	key(out, "status");
	buf_printf(out, "%d", ev->status);
	key(out, "type");
	buf_add_jstrz(out, gw_type_name(ev->type));
	key(out, "rule-index");
	if (ev->rule_index < 0)
		buf_adds(out, "null");
	else
		buf_printf(out, "%d", ev->rule_index);
	field_strz(out, "package-id", ev->package_id);
	field_strz(out, "rule-id", ev->rule_id);
	field_strz(out, "location", ev->location);
	key(out, "proxied");
	buf_adds(out, ev->proxied ? "true" : "false");
	key(out, "bytes");
	buf_printf(out, "%lld", ev->bytes);
	key(out, "duration_ms");
	buf_printf(out, "%lld", ev->duration_ms);
	field_strz(out, "user-agent", gw_param(req, "HTTP_USER_AGENT"));
	field_strz(out, "referer", gw_param(req, "HTTP_REFERER"));
	field_strz(out, "client-ip", req->client_ip ? req->client_ip : "");
	field_strz(out, "error", ev->error);
	if (ev->extra.n)
		buf_add(out, ev->extra.p, ev->extra.n);
	if (ev->warnings.n) {
		key(out, "warnings");
		buf_addc(out, '[');
		buf_add(out, ev->warnings.p, ev->warnings.n);
		buf_addc(out, ']');
	}
	buf_adds(out, "}\n");
}
