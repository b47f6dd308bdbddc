/*
 * The event line (SPEC §13): one JSON object per request.  The common keys
 * are always written, in a fixed order; type-specific keys follow from the
 * pre-serialised `extra` buffer.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "gwconfig.h"
#include "request.h"
#include "sha256.h"
#include "util.h"
#include "xmalloc.h"

/* Set once by event_ip_setup() before any thread logs. */
static int		 ip_mode = GW_IP_FULL;
static unsigned char	 ip_secret[32];

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

/* ------------------------------------------------------------------ */
/* Client address privacy                                               */

/*
 * hash: the logged value is "h:" and 16 hex digits of
 * HMAC-SHA256(K_day, address) (RFC 2104), K_day = SHA-256(secret ||
 * "YYYY-MM-DD") for the UTC day the request started.  The same address
 * gives the same value all day, so the report's unique clients still work
 * per day; the next day it gives another, and without the secret no value
 * leads back to an address (the secret has 256 bits, the hash is one-way).
 * The secret is hash:FILE's content (at least 16 bytes, e.g. from
 * "head -c 32 /dev/urandom > FILE"), or with plain "hash" 32 random bytes
 * drawn at start-up: then values also change when the FastCGI program
 * restarts, and the CGI program, a new process per request, needs FILE.
 */
int
event_ip_setup(const struct gw_config *cfg, const char **err)
{
	unsigned char	 buf[4096];
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	ip_mode = cfg->log_ip;
	if (ip_mode != GW_IP_HASH)
		return 0;
	fd = open(cfg->ip_key_file != NULL ? cfg->ip_key_file :
	    "/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		*err = "cannot open the hash key file";
		return -1;
	}
	while (got < (cfg->ip_key_file != NULL ? sizeof(buf) : 32)) {
		n = read(fd, buf + got, (cfg->ip_key_file != NULL ?
		    sizeof(buf) : 32) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got < 16) {
		*err = "the hash key file must hold at least 16 bytes";
		return -1;
	}
	sha256(buf, got, ip_secret);
	memset(buf, 0, sizeof(buf));
	return 0;
}

static void
hmac_sha256(const unsigned char key[32], const void *msg, size_t n,
    unsigned char out[32])
{
	struct sha256	 c;
	unsigned char	 pad[64], inner[32];
	int		 i;

	for (i = 0; i < 64; i++)
		pad[i] = (unsigned char)((i < 32 ? key[i] : 0) ^ 0x36);
	sha256_init(&c);
	sha256_update(&c, pad, 64);
	sha256_update(&c, msg, n);
	sha256_final(&c, inner);
	for (i = 0; i < 64; i++)
		pad[i] = (unsigned char)((i < 32 ? key[i] : 0) ^ 0x5c);
	sha256_init(&c);
	sha256_update(&c, pad, 64);
	sha256_update(&c, inner, 32);
	sha256_final(&c, out);
}

void
event_ip_value(const char *ip, time_t t, char *out, size_t outsz)
{
	unsigned char	 a[16], kd[32], h[32];
	char		 day[48];
	struct tm	 tm;
	struct sha256	 c;
	int		 i;

	if (ip == NULL)
		ip = "";
	switch (ip_mode) {
	case GW_IP_NONE:
		*out = '\0';
		return;
	case GW_IP_TRUNCATE:
		/* IPv4 /24, IPv6 /48; anything else is not logged */
		*out = '\0';
		if (inet_pton(AF_INET, ip, a) == 1) {
			a[3] = 0;
			inet_ntop(AF_INET, a, out, (socklen_t)outsz);
		} else if (inet_pton(AF_INET6, ip, a) == 1) {
			memset(a + 6, 0, 10);
			inet_ntop(AF_INET6, a, out, (socklen_t)outsz);
		}
		return;
	case GW_IP_HASH:
		utc_fields(t, &tm);
		snprintf(day, sizeof(day), "%04d-%02d-%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday);
		sha256_init(&c);
		sha256_update(&c, ip_secret, sizeof(ip_secret));
		sha256_update(&c, day, strlen(day));
		sha256_final(&c, kd);
		hmac_sha256(kd, ip, strlen(ip), h);
		if (outsz < 19) {
			*out = '\0';
			return;
		}
		out[0] = 'h';
		out[1] = ':';
		for (i = 0; i < 8; i++)
			snprintf(out + 2 + 2 * i, 3, "%02x", h[i]);
		return;
	default:
		snprintf(out, outsz, "%s", ip);
	}
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
	time_t		 t = req->start.tv_sec;

	/* neither gmtime_r(3) nor strftime(3): glibc's load the time zone
	 * (/etc/localtime), a cost every CGI request would pay for a UTC
	 * stamp (util.h, utc_fields) */
	utc_fields(t, &tm);
	/* "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", without stdio (buf.h) */
	buf_adds(out, "{\"time\":\"");
	if (tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999)
		buf_addzd(out, (unsigned)(tm.tm_year + 1900), 4);
	else
		buf_addll(out, tm.tm_year + 1900L);
	buf_addc(out, '-');
	buf_addzd(out, (unsigned)(tm.tm_mon + 1), 2);
	buf_addc(out, '-');
	buf_addzd(out, (unsigned)tm.tm_mday, 2);
	buf_addc(out, 'T');
	buf_addzd(out, (unsigned)tm.tm_hour, 2);
	buf_addc(out, ':');
	buf_addzd(out, (unsigned)tm.tm_min, 2);
	buf_addc(out, ':');
	buf_addzd(out, (unsigned)tm.tm_sec, 2);
	buf_addc(out, '.');
	buf_addzd(out, (unsigned long)(req->start.tv_nsec / 1000000L), 3);
	buf_adds(out, "Z\"");
	field_strz(out, "host", req->host ? req->host : "");
	field_strz(out, "method", req->method ? req->method : "");
	field_strz(out, "path", req->raw_path ? req->raw_path : "");
	if (req->raw_query != NULL && req->too_long &&
	    strlen(req->raw_query) > GW_QUERY_MAX_BYTES) {
		/* a 414: the line stays bounded (the first bytes say enough) */
		key(out, "query");
		buf_add_jstr(out, req->raw_query, GW_QUERY_MAX_BYTES);
	} else
		field_strz(out, "query", req->raw_query ? req->raw_query : "");
	key(out, "status");
	buf_addll(out, ev->status);
	key(out, "type");
	buf_add_jstrz(out, gw_type_name(ev->type));
	key(out, "rule-index");
	if (ev->rule_index < 0)
		buf_adds(out, "null");
	else
		buf_addll(out, ev->rule_index);
	field_strz(out, "package-id", ev->package_id);
	field_strz(out, "rule-id", ev->rule_id);
	field_strz(out, "location", ev->location);
	key(out, "proxied");
	buf_adds(out, ev->proxied ? "true" : "false");
	key(out, "bytes");
	buf_addll(out, ev->bytes);
	key(out, "duration_ms");
	buf_addll(out, ev->duration_ms);
	field_strz(out, "user-agent", gw_param(req, "HTTP_USER_AGENT"));
	field_strz(out, "referer", gw_param(req, "HTTP_REFERER"));
	if (ip_mode == GW_IP_FULL)
		field_strz(out, "client-ip",
		    req->client_ip ? req->client_ip : "");
	else {
		char	 ipv[INET6_ADDRSTRLEN + 16];

		event_ip_value(req->client_ip, t, ipv, sizeof(ipv));
		field_strz(out, "client-ip", ipv);
	}
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
