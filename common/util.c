#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "xmalloc.h"

int
is_unreserved(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

int
is_reserved(int c)
{
	return c != '\0' && strchr(":/?#[]@!$&'()*+,;=", c) != NULL;
}

int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
lower_hex(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

size_t
pct_decode(struct buf *out, const char *s, size_t n, int plus_space)
{
	size_t	 i, start = out->n;
	int	 h, l;

	buf_reserve(out, n);
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    (h = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (l = hexval((unsigned char)s[i + 2])) >= 0) {
			buf_addc(out, h * 16 + l);
			i += 2;
		} else if (plus_space && s[i] == '+')
			buf_addc(out, ' ');
		else
			buf_addc(out, s[i]);
	}
	return out->n - start;
}

/* A %XX triplet at s[i] that encodes a byte >= 0x80. */
static int
is_triplet_hi(const char *s, size_t i, size_t n)
{
	return i + 2 < n && hexval((unsigned char)s[i + 1]) >= 8 &&
	    hexval((unsigned char)s[i + 2]) >= 0;
}

int
pct_valid(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] == '%') {
			if (i + 2 >= n)
				return 0;
			if (hexval((unsigned char)s[i + 1]) < 0 ||
			    hexval((unsigned char)s[i + 2]) < 0)
				return 0;
			i += 2;
		}
	return 1;
}

void
query_encode(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c))
			buf_addc(out, c);
		else {
			buf_addc(out, '%');
			buf_addc(out, hex[c >> 4]);
			buf_addc(out, hex[c & 15]);
		}
	}
}

/*
 * Linear in n: the items are counted first, so the array is allocated
 * once, and each key and value is decoded straight into its own copy.
 * (Growing the array one item at a time made a 16,000-item query cost
 * 0.15 s on -O2 and minutes under ASan.)  The request's query is capped
 * before it gets here (gw_request_init, GW_QUERY_MAX_*).
 */
void
query_parse(struct query *q, const char *raw, size_t n)
{
	struct buf	 tmp = BUF_INIT;
	size_t		 i, start, eq, items;
	struct qparam	*p;

	q->v = NULL;
	q->n = 0;
	items = query_count(raw, n);
	if (items == 0)
		return;
	q->v = xreallocarray(NULL, items, sizeof(*q->v));
	for (start = 0; start <= n; start = i + 1) {
		for (i = start; i < n && raw[i] != '&' && raw[i] != ';'; i++)
			;
		if (i == start)
			continue;
		for (eq = start; eq < i && raw[eq] != '='; eq++)
			;
		p = &q->v[q->n++];
		buf_reset(&tmp);
		pct_decode(&tmp, raw + start, eq - start, 1);
		p->keylen = tmp.n;
		p->key = xstrndup(buf_cstr(&tmp), tmp.n);
		if (eq < i) {
			buf_reset(&tmp);
			pct_decode(&tmp, raw + eq + 1, i - eq - 1, 1);
			p->vallen = tmp.n;
			p->val = xstrndup(buf_cstr(&tmp), tmp.n);
		} else {
			p->val = NULL;
			p->vallen = 0;
		}
	}
	buf_free(&tmp);
}

size_t
query_count(const char *raw, size_t n)
{
	size_t	 i, items = 0;
	int	 in_item = 0;

	for (i = 0; i < n; i++) {
		if (raw[i] == '&' || raw[i] == ';')
			in_item = 0;
		else if (!in_item) {
			in_item = 1;
			items++;
		}
	}
	return items;
}

void
query_free(struct query *q)
{
	size_t	 i;

	for (i = 0; i < q->n; i++) {
		free(q->v[i].key);
		free(q->v[i].val);
	}
	free(q->v);
	q->v = NULL;
	q->n = 0;
}

const struct qparam *
query_get(const struct query *q, const char *key)
{
	size_t	 i, kl = strlen(key);

	for (i = 0; i < q->n; i++)
		if (q->v[i].keylen == kl && memcmp(q->v[i].key, key, kl) == 0)
			return &q->v[i];
	return NULL;
}

/* tolower(3) of the C locale (util.h, strcaseprefix) */
static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

char *
host_normalise(char *out, const char *in)
{
	size_t	 n, i;
	char	*close;

	n = strlen(in);
	for (i = 0; i < n; i++)
		out[i] = (char)ascii_lower((unsigned char)in[i]);
	out[n] = '\0';
	if (out[0] == '[') {
		if ((close = strchr(out, ']')) != NULL)
			close[1] = '\0';
	} else {
		char *colon = strchr(out, ':');
		/* A bare IPv6 address without brackets has several colons;
		 * only a single colon is a port separator. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL)
			*colon = '\0';
	}
	n = strlen(out);
	if (n > 0 && out[n - 1] == '.')
		out[n - 1] = '\0';
	return out;
}

int
host_chars_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
		    !(c >= 'A' && c <= 'Z') && c != '-' && c != '_' &&
		    c != '.' && c != ':' && c != '[' && c != ']')
			return 0;
	}
	return 1;
}

int
host_port_valid(const char *s, size_t n)
{
	char	 v6[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	size_t	 i, h;
	unsigned char c;

	if (n > 0 && s[0] == '[') {
		for (h = 1; h < n && s[h] != ']'; h++)
			;
		if (h == n || h - 1 >= sizeof(v6))
			return 0;
		memcpy(v6, s + 1, h - 1);
		v6[h - 1] = '\0';
		if (inet_pton(AF_INET6, v6, &a6) != 1)
			return 0;
		h++;
	} else {
		for (h = 0; h < n && s[h] != ':'; h++) {
			c = (unsigned char)s[h];
			if (c == '%') {
				if (!is_triplet_hi(s, h, n))
					return 0;
				h += 2;
			} else if (c == '.' && (h == 0 || s[h - 1] == '.'))
				return 0;	/* an empty label */
			else if (!is_unreserved(c) &&
			    strchr("!$&'()*+,;=", c) == NULL)
				return 0;
		}
		if (h == 0)
			return 0;
	}
	if (h == n)
		return 1;
	if (s[h] != ':' || h + 1 == n)
		return 0;
	for (i = h + 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

char *
host_authority(const char *in)
{
	char	*out, *port;
	size_t	 i, n;

	out = xstrdup(in);
	for (i = 0; out[i]; i++)
		out[i] = (char)ascii_lower((unsigned char)out[i]);
	/* find the port separator (after a ']' for IPv6 literals) */
	if (out[0] == '[') {
		port = strchr(out, ']');
		port = port ? strchr(port, ':') : NULL;
	} else {
		port = strchr(out, ':');
		if (port != NULL && strchr(port + 1, ':') != NULL)
			port = NULL;
	}
	n = port ? (size_t)(port - out) : strlen(out);
	if (n > 0 && out[n - 1] == '.')
		memmove(out + n - 1, out + n, strlen(out + n) + 1);
	return out;
}

char *
url_escape_ctl(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf	 b = BUF_INIT;
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x21 || *p > 0x7e) {
			buf_addc(&b, '%');
			buf_addc(&b, hex[*p >> 4]);
			buf_addc(&b, hex[*p & 15]);
		} else
			buf_addc(&b, *p);
	return buf_steal(&b);
}

int
url_authority(const char *url, size_t *off, size_t *len)
{
	size_t	 start, i;

	if (strcaseprefix(url, "http://"))
		start = 7;
	else if (strcaseprefix(url, "https://"))
		start = 8;
	else
		return -1;
	for (i = start; url[i] && url[i] != '/' && url[i] != '?' &&
	    url[i] != '#'; i++)
		;
	*off = start;
	*len = i - start;
	return 0;
}

int
url_check(const char *url)
{
	size_t	 off, len, i, hs;
	const unsigned char *u = (const unsigned char *)url;

	if (url_authority(url, &off, &len) == -1)
		return 0;
	for (i = 0; u[i]; i++)
		if (u[i] < 0x21 || u[i] == 0x7f)
			return 0;
	/* the host is what remains after any userinfo and before any port */
	hs = off;
	for (i = off; i < off + len; i++)
		if (url[i] == '@')
			hs = i + 1;
	if (hs >= off + len || url[hs] == ':')
		return 0;
	return 1;
}

/*
 * Every status code RFC 9110 §15 defines, with its reason phrase, plus 429
 * (RFC 6585 §4).  One table for every Status line and plain body the
 * programs write: the gateway's own answers and the upstream statuses the
 * proxy passes through (any of these may come from a registry).
 */
static const struct {
	int		 code;
	const char	*phrase;
} http_reasons[] = {
	{ 100, "Continue" }, { 101, "Switching Protocols" },
	{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
	{ 203, "Non-Authoritative Information" }, { 204, "No Content" },
	{ 205, "Reset Content" }, { 206, "Partial Content" },
	{ 300, "Multiple Choices" }, { 301, "Moved Permanently" },
	{ 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" },
	{ 305, "Use Proxy" }, { 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" },
	{ 402, "Payment Required" }, { 403, "Forbidden" },
	{ 404, "Not Found" }, { 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" }, { 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
	{ 411, "Length Required" }, { 412, "Precondition Failed" },
	{ 413, "Content Too Large" }, { 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
	{ 417, "Expectation Failed" }, { 421, "Misdirected Request" },
	{ 422, "Unprocessable Content" }, { 426, "Upgrade Required" },
	{ 429, "Too Many Requests" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
};

const char *
http_reason(int status)
{
	/* RFC 9110 §15: a client treats an unknown code as the x00 of its
	 * class; the phrase says as much */
	static const char *const generic[] = { "Informational", "Success",
	    "Redirection", "Client Error", "Server Error" };
	size_t	 i;

	for (i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]); i++)
		if (http_reasons[i].code == status)
			return http_reasons[i].phrase;
	if (status >= 100 && status <= 599)
		return generic[status / 100 - 1];
	return "Unknown";
}

int
strcaseprefix(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (ascii_lower((unsigned char)*s) !=
		    ascii_lower((unsigned char)*prefix))
			return 0;
	return 1;
}

int
strcaseeq(const char *a, const char *b)
{
	for (; ascii_lower((unsigned char)*a) ==
	    ascii_lower((unsigned char)*b); a++, b++)
		if (*a == '\0')
			return 1;
	return 0;
}

long long
mono_elapsed_us(const struct timespec *since)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - since->tv_sec) * 1000000 +
	    (now.tv_nsec - since->tv_nsec) / 1000;
}

long long
mono_elapsed_ms(const struct timespec *since)
{
	return mono_elapsed_us(since) / 1000;
}

/*
 * util.h.  The civil date of a day number: H. Hinnant's civil_from_days
 * ("chrono-Compatible Low-Level Date Algorithms"), proleptic Gregorian,
 * eras of 400 years so that every division is of a non-negative number.
 */
void
utc_fields(time_t t, struct tm *tm)
{
	long long	 days, secs, era, doe, yoe, doy, mp, y;

	days = (long long)t / 86400;
	secs = (long long)t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468;			/* from 1970-01-01 to 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;			/* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);	/* [0, 365] */
	mp = (5 * doy + 2) / 153;			/* [0, 11], from March */
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->tm_mon = (int)(mp < 10 ? mp + 2 : mp - 10);
	tm->tm_year = (int)(y + (tm->tm_mon <= 1) - 1900);
	tm->tm_hour = (int)(secs / 3600);
	tm->tm_min = (int)(secs / 60 % 60);
	tm->tm_sec = (int)(secs % 60);
}
