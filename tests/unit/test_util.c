/* Unit tests for common/util.c, buf.c, request.c, the response helpers and
 * arena.c: the pieces of SPEC §0, §2.1, §2.2 and the header-safety rule. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../tap.h"
#include "arena.h"
#include "buf.h"
#include "gateway.h"
#include "handlers.h"
#include "util.h"
#include "xmalloc.h"

static const struct {
	int		 line;
	const char	*in, *host, *authority;
} host_tests[] = {
	{ __LINE__, "Example.COM", "example.com", "example.com" },
	{ __LINE__, "example.com:8080", "example.com", "example.com:8080" },
	{ __LINE__, "example.com.", "example.com", "example.com" },
	{ __LINE__, "example.com.:443", "example.com", "example.com:443" },
	{ __LINE__, "[::1]:8080", "[::1]", "[::1]:8080" },
	{ __LINE__, "[::1]", "[::1]", "[::1]" },
	{ __LINE__, "", "", "" },
	{ __LINE__, "127.0.0.1:81", "127.0.0.1", "127.0.0.1:81" },
};

static const struct {
	int		 line;
	const char	*raw;
	const char	*want;	/* key=value|key|... ('~' = missing value) */
} query_tests[] = {
	{ __LINE__, "", "" },
	{ __LINE__, "a=1&b=2", "a=1|b=2|" },
	{ __LINE__, "a=1;b=2", "a=1|b=2|" },
	{ __LINE__, "a&&b=", "a~|b=|" },
	{ __LINE__, "x+y=%41+b", "x y=A b|" },
	{ __LINE__, "k=a=b", "k=a=b|" },
	{ __LINE__, "%zz=1", "%zz=1|" },
	{ __LINE__, "a=1&a=2", "a=1|a=2|" },
};

static const struct {
	int		 line;
	const char	*url;
	int		 want;
} url_tests[] = {
	{ __LINE__, "https://example.com/x", 1 },
	{ __LINE__, "HTTP://example.com", 1 },
	{ __LINE__, "https://u:p@example.com:8/x", 1 },
	{ __LINE__, "https:///x", 0 },
	{ __LINE__, "https://", 0 },
	{ __LINE__, "ftp://example.com", 0 },
	{ __LINE__, "/relative", 0 },
	{ __LINE__, "https://exa mple.com", 0 },
	{ __LINE__, "https://example.com/\x7f", 0 },
	{ __LINE__, "https://example.com/a\"", 1 },
	{ __LINE__, "https://:80/", 0 },
};

struct rtest {
	int		 line;
	const char	*uri;
	const char	*host;
	int		 bad;
	const char	*path, *query;
};
static const struct rtest req_tests[] = {
	{ __LINE__, "/a/b?x=1", "h.example", 0, "/a/b", "x=1" },
	{ __LINE__, "/a%2Fb//c?", "h.example", 0, "/a%2Fb//c", "" },
	{ __LINE__, "/a?b?c", "h.example", 0, "/a", "b?c" },
	{ __LINE__, "/a%zz", "h.example", 1, "/a%zz", "" },
	{ __LINE__, "/a%4", "h.example", 1, "/a%4", "" },
	{ __LINE__, "/a?q=%zz", "h.example", 0, "/a", "q=%zz" },
	{ __LINE__, "a/b", "h.example", 1, "a/b", "" },
	{ __LINE__, "/a b", "h.example", 1, "/a b", "" },
	{ __LINE__, "/a?b c", "h.example", 1, "/a", "b c" },
	{ __LINE__, "/a\x7f", "h.example", 1, "/a\x7f", "" },
	{ __LINE__, "/\xc3\xa9", "h.example", 0, "/\xc3\xa9", "" },
	{ __LINE__, "/", "bad host", 1, "/", "" },
	{ __LINE__, "/", "h.example\r\nX: y", 1, "/", "" },
	{ __LINE__, "/", "[::1]:80", 0, "/", "" },
	/* Host: RFC 3986 host[:port], nothing after the port (README) */
	{ __LINE__, "/", "py.test:[evil.test]", 1, "/", "" },
	{ __LINE__, "/", "py.test:8443", 0, "/", "" },
	{ __LINE__, "/", "Py.Test.:8443", 0, "/", "" },
	{ __LINE__, "/", "py.test:", 1, "/", "" },
	{ __LINE__, "/", "py.test:80:81", 1, "/", "" },
	{ __LINE__, "/", "py.test:8a", 1, "/", "" },
	{ __LINE__, "/", ":80", 1, "/", "" },
	{ __LINE__, "/", "::1", 1, "/", "" },
	{ __LINE__, "/", "[evil.test]", 1, "/", "" },
	{ __LINE__, "/", "[::1]x", 1, "/", "" },
	{ __LINE__, "/", "[::1]:", 1, "/", "" },
	{ __LINE__, "/", "[::ffff:127.0.0.1]:8080", 0, "/", "" },
	{ __LINE__, "/", "a[::1]", 1, "/", "" },
	{ __LINE__, "/", "..", 1, "/", "" },
	{ __LINE__, "/", "xn--bcher-kva.example", 0, "/", "" },
	{ __LINE__, "/", "192.0.2.1:80", 0, "/", "" },
	{ __LINE__, "/", "", 0, "/", "" },
};

/* host_port_valid (RFC 3986 §3.2.2, §3.2.3) on its own. */
static const struct {
	int		 line;
	const char	*s;
	int		 want;
} hostport_tests[] = {
	{ __LINE__, "example.com", 1 },
	{ __LINE__, "EXAMPLE.com.", 1 },
	{ __LINE__, "example.com:443", 1 },
	{ __LINE__, "example.com:", 0 },
	{ __LINE__, "", 0 },
	{ __LINE__, ":443", 0 },
	{ __LINE__, "a..b", 0 },
	{ __LINE__, ".a", 0 },
	{ __LINE__, "a.", 1 },
	{ __LINE__, "u@example.com", 0 },
	{ __LINE__, "u:p@example.com", 0 },
	{ __LINE__, "example.com:1@evil", 0 },
	{ __LINE__, "example.com/x", 0 },
	{ __LINE__, "example.com\\x", 0 },
	{ __LINE__, "example.com?", 0 },
	{ __LINE__, "example.com#", 0 },
	{ __LINE__, "a%2Eb", 0 },
	{ __LINE__, "a%2fb", 0 },
	{ __LINE__, "a%40b", 0 },
	{ __LINE__, "b%C3%BCcher.example", 1 },
	{ __LINE__, "b%c3%bccher.example", 1 },
	{ __LINE__, "a%C", 0 },
	{ __LINE__, "a%", 0 },
	{ __LINE__, "xn--bcher-kva.example", 1 },
	{ __LINE__, "a!$&'()*+,;=~_-.b", 1 },
	{ __LINE__, "a b", 0 },
	{ __LINE__, "a\"b", 0 },
	{ __LINE__, "[::1]", 1 },
	{ __LINE__, "[::1]:8080", 1 },
	{ __LINE__, "[2001:db8::1]", 1 },
	{ __LINE__, "[::1", 0 },
	{ __LINE__, "[]", 0 },
	{ __LINE__, "[v1.x]", 0 },
	{ __LINE__, "[fe80::1%25eth0]", 0 },
	{ __LINE__, "[evil.test]", 0 },
	{ __LINE__, "[::1]evil", 0 },
	{ __LINE__, "[::1]:80x", 0 },
	{ __LINE__, "::1", 0 },
	{ __LINE__, "1.2.3.4:0", 1 },
};

static void
test_request(const struct rtest *t)
{
	struct gw_request	 req;
	struct gw_config	 cfg;
	char			*params[8];
	struct buf		 b = BUF_INIT;
	size_t			 n = 0, i;

	buf_printf(&b, "REQUEST_URI=%s", t->uri);
	params[n++] = buf_steal(&b);
	buf_printf(&b, "HTTP_HOST=%s", t->host);
	params[n++] = buf_steal(&b);
	params[n++] = xstrdup("REQUEST_METHOD=GET");
	params[n++] = xstrdup("REMOTE_ADDR=192.0.2.1");
	params[n] = NULL;
	gw_config_defaults(&cfg);
	gw_request_init(&req, params, &cfg);
	is_int_at(t->line, req.bad, t->bad, "request %s bad", t->uri);
	is_str_at(t->line, req.raw_path, t->path, "raw path of %s", t->uri);
	is_str_at(t->line, req.raw_query, t->query, "raw query of %s", t->uri);
	gw_request_free(&req);
	for (i = 0; i < n; i++)
		free(params[i]);
}

static void
test_forwarded(void)
{
	static char p0[] = "REQUEST_URI=/", p1[] = "HTTP_HOST=Real.Example:8443",
	    p2[] = "HTTP_X_FORWARDED_HOST=evil.example, other",
	    p3[] = "HTTP_X_FORWARDED_FOR=203.0.113.9, 10.0.0.1",
	    p4[] = "HTTP_X_FORWARDED_PROTO=http", p5[] = "REMOTE_ADDR=127.0.0.1",
	    p6[] = "HTTPS=on";
	char *params[] = { p0, p1, p2, p3, p4, p5, p6, NULL };
	struct gw_request	 req;
	struct gw_config	 cfg;

	gw_config_defaults(&cfg);
	gw_request_init(&req, params, &cfg);
	is_str(req.host, "real.example", "untrusted: Host is used");
	is_str(req.authority, "real.example:8443", "authority keeps the port");
	is_str(req.client_ip, "127.0.0.1", "untrusted: REMOTE_ADDR");
	is_str(req.scheme, "https", "default public scheme https");
	gw_request_free(&req);

	cfg.trust_forwarded = 1;
	cfg.public_scheme = SCHEME_AUTO;
	gw_request_init(&req, params, &cfg);
	is_str(req.host, "evil.example", "trusted: X-Forwarded-Host");
	is_str(req.client_ip, "203.0.113.9", "trusted: X-Forwarded-For");
	is_str(req.scheme, "http", "trusted X-Forwarded-Proto wins");
	gw_request_free(&req);

	cfg.trust_forwarded = 0;
	gw_request_init(&req, params, &cfg);
	is_str(req.scheme, "https", "auto: HTTPS=on");
	gw_request_free(&req);
}

static void
test_response(void)
{
	struct gw_response	 resp;
	struct buf		 b = BUF_INIT;

	gw_response_init(&resp);
	resp_redirect(&resp, 307, "https://x.example/a b\r\nSet-Cookie: x=1\xc3");
	is_str(resp_get_header(&resp, "Location"),
	    "https://x.example/a%20b%0D%0ASet-Cookie:%20x=1%C3",
	    "Location bytes outside 0x21-0x7E are encoded");
	resp_header(&resp, "X-Test", "a\r\nb\tc\x01");
	is_str(resp_get_header(&resp, "X-Test"), "ab c",
	    "control bytes never reach a header");
	resp_format_head(&resp, &b);
	is_str(buf_cstr(&b), "Status: 307 Temporary Redirect\r\n"
	    "Location: https://x.example/a%20b%0D%0ASet-Cookie:%20x=1%C3\r\n"
	    "X-Test: ab c\r\nContent-Length: 0\r\n\r\n", "CGI head");
	gw_response_free(&resp);
	buf_free(&b);

	gw_response_init(&resp);
	resp_plain(&resp, 413);
	resp_format_head(&resp, &b);
	is_str(buf_cstr(&b), "Status: 413 Content Too Large\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 17\r\n\r\n",
	    "plain error head");
	is_str(buf_cstr(&resp.body), "Content Too Large", "plain error body");
	gw_response_free(&resp);
	buf_free(&b);
}

/*
 * Reason phrases (RFC 9110 §15): every status the programs write.  The
 * gateway's own: 200 204 206 301 302 303 304 307 308 400 401 403 404 405
 * 413 414 500 502 503 504 (grep resp_plain, resp_json, resp_redirect and
 * the handlers' statuses); and whatever a registry answers, passed through
 * by the proxy: npm's 410 for an unpublished package was written
 * "410 Unknown" when two tables disagreed.
 */
static const struct {
	int		 line;
	int		 code;
	const char	*phrase;
} reason_tests[] = {
	{ __LINE__, 200, "OK" }, { __LINE__, 204, "No Content" },
	{ __LINE__, 206, "Partial Content" },
	{ __LINE__, 301, "Moved Permanently" }, { __LINE__, 302, "Found" },
	{ __LINE__, 303, "See Other" }, { __LINE__, 304, "Not Modified" },
	{ __LINE__, 307, "Temporary Redirect" },
	{ __LINE__, 308, "Permanent Redirect" },
	{ __LINE__, 400, "Bad Request" }, { __LINE__, 401, "Unauthorized" },
	{ __LINE__, 403, "Forbidden" }, { __LINE__, 404, "Not Found" },
	{ __LINE__, 405, "Method Not Allowed" },
	{ __LINE__, 413, "Content Too Large" },
	{ __LINE__, 414, "URI Too Long" },
	{ __LINE__, 500, "Internal Server Error" },
	{ __LINE__, 502, "Bad Gateway" },
	{ __LINE__, 503, "Service Unavailable" },
	{ __LINE__, 504, "Gateway Timeout" },
	/* passed through from a registry */
	{ __LINE__, 201, "Created" }, { __LINE__, 409, "Conflict" },
	{ __LINE__, 410, "Gone" }, { __LINE__, 416, "Range Not Satisfiable" },
	{ __LINE__, 422, "Unprocessable Content" },
	{ __LINE__, 429, "Too Many Requests" },
	{ __LINE__, 505, "HTTP Version Not Supported" },
	/* codes RFC 9110 does not define: their class */
	{ __LINE__, 103, "Informational" }, { __LINE__, 299, "Success" },
	{ __LINE__, 399, "Redirection" }, { __LINE__, 451, "Client Error" },
	{ __LINE__, 499, "Client Error" }, { __LINE__, 599, "Server Error" },
	{ __LINE__, 99, "Unknown" }, { __LINE__, 600, "Unknown" },
	{ __LINE__, -1, "Unknown" },
};

/*
 * The arena: aligned, zeroed, NULL-safe copies, strings packed without
 * padding, big allocations in chunks of their own without losing the
 * head's free space, and reusable after arena_free.
 */
static void
test_arena(void)
{
	struct arena	 a = ARENA_INIT;
	char		*s, *t, *big, *after;
	long double	*ld;
	size_t		 i, total;
	int		 aligned = 1, zero = 1;

	ok(arena_strdup(&a, NULL) == NULL, "arena_strdup(NULL)");
	s = arena_strdup(&a, "hello");
	t = arena_strndup(&a, "worldwide", 5);
	is_str(s, "hello", "arena_strdup");
	is_str(t, "world", "arena_strndup cuts and terminates");
	is_int(t - s, 6, "strings are packed, no padding");
	for (i = 0; i < 100; i++) {
		ld = arena_alloc(&a, sizeof(*ld) * 3);
		if ((uintptr_t)ld % _Alignof(max_align_t) != 0)
			aligned = 0;
		if (ld[0] != 0 || ld[2] != 0)
			zero = 0;
		ld[0] = ld[1] = ld[2] = 1;
		(void)arena_strdup(&a, "x");	/* misaligns the next */
	}
	ok(aligned, "arena_alloc aligns for any type");
	ok(zero, "arena_alloc zeroes");
	ok(arena_alloc(&a, 0) != NULL, "arena_alloc(0) is not NULL");
	total = a.total;
	big = arena_alloc(&a, 4 * 1024 * 1024);
	big[4 * 1024 * 1024 - 1] = 'z';
	ok(a.total >= total + 4 * 1024 * 1024, "a big block has its chunk");
	after = arena_strdup(&a, "after");
	ok(a.total == total + 4 * 1024 * 1024 && strcmp(after, "after") == 0,
	    "the head's free space is kept after a big block");
	for (i = 0; i < 20000; i++)
		(void)arena_strdup(&a, "a string of some forty bytes, or so..");
	is_str(s, "hello", "early strings stay put as the arena grows");
	arena_free(&a);
	ok(a.head == NULL && a.total == 0, "arena_free empties");
	is_str(arena_strdup(&a, "again"), "again", "reusable after free");
	arena_free(&a);
}

/* utc_fields against the C library's gmtime_r over four centuries and
 * both sides of the epoch, a second before and after each midnight */
static void
test_utc_fields(void)
{
	static const long long starts[] = { -62135596800LL /* 0001-01-01 */,
	    -2208988800LL /* 1900 */, -86400, 0, 951782400 /* 2000-02-29 */,
	    4102444800LL /* 2100 */, 253402300799LL /* 9999-12-31T23:59:59 */ };
	struct tm	 a, b;
	long long	 t, bad = 0, n = 0;
	size_t		 i;
	int		 d;

	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		for (d = -400; d < 400; d++)
			for (t = starts[i] + d * 86400LL - 1;
			    t <= starts[i] + d * 86400LL + 1; t++) {
				time_t tt = (time_t)t;

				n++;
				utc_fields(tt, &a);
				if (gmtime_r(&tt, &b) == NULL ||
				    a.tm_year != b.tm_year ||
				    a.tm_mon != b.tm_mon ||
				    a.tm_mday != b.tm_mday ||
				    a.tm_hour != b.tm_hour ||
				    a.tm_min != b.tm_min || a.tm_sec != b.tm_sec)
					bad++;
			}
	for (t = 0; t < 200LL * 366 * 86400; t += 86399 * 7 + 13) {
		time_t tt = (time_t)t;

		n++;
		utc_fields(tt, &a);
		gmtime_r(&tt, &b);
		if (a.tm_year != b.tm_year || a.tm_mon != b.tm_mon ||
		    a.tm_mday != b.tm_mday || a.tm_hour != b.tm_hour ||
		    a.tm_min != b.tm_min || a.tm_sec != b.tm_sec)
			bad++;
	}
	is_int(bad, 0, "utc_fields agrees with gmtime_r (%lld times)", n);
	utc_fields(1796400000, &a);	/* 2026-12-04T16:00:00Z */
	is_int(a.tm_year * 10000 + a.tm_mon * 100 + a.tm_mday, 1261104,
	    "utc_fields: 2026-12-04");
	is_int(a.tm_hour * 3600 + a.tm_min * 60 + a.tm_sec, 16 * 3600,
	    "utc_fields: 16:00:00");
}

/* buf_addll, buf_addzd and buf_printf against snprintf(3) */
static void
test_buf_numbers(void)
{
	static const long long v[] = { 0, 1, -1, 9, 10, -10, 99, 100, 307,
	    1000000, -2147483648LL, 2147483647, 9223372036854775807LL,
	    -9223372036854775807LL - 1 };
	struct buf	 b = BUF_INIT, w = BUF_INIT;
	char		 s[64], big[300];
	size_t		 i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		buf_addll(&b, v[i]);
		buf_addc(&b, ' ');
		snprintf(s, sizeof(s), "%lld ", v[i]);
		buf_adds(&w, s);
	}
	is_str(buf_cstr(&b), buf_cstr(&w), "buf_addll writes %%lld");
	buf_reset(&b);
	buf_addull(&b, 18446744073709551615ULL);
	buf_addc(&b, ' ');
	buf_addull(&b, 0);
	is_str(buf_cstr(&b), "18446744073709551615 0", "buf_addull writes "
	    "%%llu");
	buf_reset(&b);
	buf_addzd(&b, 7, 3);
	buf_addzd(&b, 2026, 4);
	buf_addzd(&b, 0, 2);
	buf_addzd(&b, 5, 1);
	is_str(buf_cstr(&b), "0072026005", "buf_addzd pads with zeros");
	/* a text longer than the room buf_printf tries first */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_reset(&b);
	buf_adds(&b, "ab");
	buf_printf(&b, "<%s|%d>", big, 42);
	ok(b.n == 2 + 1 + 299 + 4 && strncmp(b.p, "ab<xxx", 6) == 0 &&
	    strcmp(b.p + b.n - 4, "|42>") == 0 && b.p[b.n] == '\0',
	    "buf_printf: a long text whole");
	buf_printf(&b, "%s", "");
	is_int((long long)b.n, 2 + 1 + 299 + 4, "buf_printf: an empty text "
	    "adds nothing");
	buf_free(&b);
	buf_free(&w);
}

/* the ASCII case folding of util.h, against strncasecmp(3) and
 * strcasecmp(3) in the C locale, every byte pair */
static void
test_case_fold(void)
{
	char	 a[2], b[2];
	int	 x, y, bad = 0;

	a[1] = b[1] = '\0';
	for (x = 1; x < 256; x++)
		for (y = 1; y < 256; y++) {
			a[0] = (char)x;
			b[0] = (char)y;
			if (strcaseprefix(a, b) !=
			    (strncasecmp(a, b, 1) == 0) ||
			    strcaseeq(a, b) != (strcasecmp(a, b) == 0))
				bad++;
		}
	is_int(bad, 0, "strcaseprefix and strcaseeq agree with the C library");
	ok(strcaseprefix("HTTPS://x", "https://") &&
	    !strcaseprefix("http", "https://") && strcaseprefix("x", ""),
	    "strcaseprefix");
	ok(strcaseeq("Content-Length", "content-length") &&
	    !strcaseeq("Content-Length", "Content-Lengt") &&
	    !strcaseeq("a", "ab") && strcaseeq("", ""), "strcaseeq");
	ok(host_chars_ok("Ab-9_.x:[::1]") && !host_chars_ok("a b") &&
	    !host_chars_ok("caf\xc3\xa9"), "host_chars_ok: ASCII only");
}

int
main(void)
{
	char		 out[256];
	char		*h;
	struct buf	 b = BUF_INIT;
	struct query	 q;
	size_t		 i, k;

	for (i = 0; i < sizeof(host_tests) / sizeof(host_tests[0]); i++) {
		is_str_at(host_tests[i].line, host_normalise(out,
		    host_tests[i].in), host_tests[i].host, "normalise '%s'",
		    host_tests[i].in);
		h = host_authority(host_tests[i].in);
		is_str_at(host_tests[i].line, h, host_tests[i].authority,
		    "authority '%s'", host_tests[i].in);
		free(h);
	}
	for (i = 0; i < sizeof(hostport_tests) / sizeof(hostport_tests[0]);
	    i++)
		is_int_at(hostport_tests[i].line, host_port_valid(
		    hostport_tests[i].s, strlen(hostport_tests[i].s)),
		    hostport_tests[i].want, "host_port_valid '%s'",
		    hostport_tests[i].s);
	for (i = 0; i < sizeof(query_tests) / sizeof(query_tests[0]); i++) {
		query_parse(&q, query_tests[i].raw, strlen(query_tests[i].raw));
		buf_reset(&b);
		for (k = 0; k < q.n; k++) {
			buf_adds(&b, q.v[k].key);
			if (q.v[k].val == NULL)
				buf_addc(&b, '~');
			else
				buf_printf(&b, "=%s", q.v[k].val);
			buf_addc(&b, '|');
		}
		is_str_at(query_tests[i].line, buf_cstr(&b), query_tests[i].want,
		    "parse query '%s'", query_tests[i].raw);
		query_free(&q);
	}
	for (i = 0; i < sizeof(url_tests) / sizeof(url_tests[0]); i++)
		is_int_at(url_tests[i].line, url_check(url_tests[i].url),
		    url_tests[i].want, "url_check '%s'", url_tests[i].url);

	buf_reset(&b);
	query_encode(&b, "a b+c/~\xc3\xa9", 9);
	is_str(buf_cstr(&b), "a%20b%2Bc%2F~%C3%A9", "query encoding");
	buf_reset(&b);
	pct_decode(&b, "a%2fb%zz%4", 10, 0);
	is_str(buf_cstr(&b), "a/b%zz%4", "decode keeps bad triplets");
	ok(pct_valid("/a%2Fb", 6) && !pct_valid("/a%2", 4) &&
	    !pct_valid("%g0", 3), "pct_valid");
	ok(utf8_valid("\xc3\xa9", 2) && !utf8_valid("\xc3", 1) &&
	    !utf8_valid("\xed\xa0\x80", 3) && !utf8_valid("\xc0\x80", 2),
	    "utf8_valid");
	buf_reset(&b);
	buf_add_jstr(&b, "a\"\\\n\x01\xff\xc3\xa9", 8);
	is_str(buf_cstr(&b), "\"a\\\"\\\\\\n\\u0001\xef\xbf\xbd\xc3\xa9\"",
	    "JSON string escaping: an invalid byte is U+FFFD, not \\u00XX");
	buf_free(&b);

	ok(cidr_list_contains("127.0.0.0/8,::1", "127.1.2.3"), "cidr v4");
	ok(cidr_list_contains("127.0.0.0/8,::1", "::1"), "cidr v6 host");
	ok(cidr_list_contains("127.0.0.0/8", "::ffff:127.0.0.1"),
	    "cidr v4-mapped");
	ok(!cidr_list_contains("127.0.0.0/8,::1", "10.0.0.1"), "cidr miss");
	ok(cidr_list_contains("10.1.0.0/16, 192.0.2.0/25", "192.0.2.100"),
	    "cidr list with spaces");
	ok(!cidr_list_contains("192.0.2.0/25", "192.0.2.200"), "cidr bits");
	ok(!cidr_list_contains("garbage", "192.0.2.1"), "cidr garbage");

	for (i = 0; i < sizeof(req_tests) / sizeof(req_tests[0]); i++)
		test_request(&req_tests[i]);
	test_forwarded();
	test_response();
	test_arena();
	for (i = 0; i < sizeof(reason_tests) / sizeof(reason_tests[0]); i++)
		is_str_at(reason_tests[i].line,
		    http_reason(reason_tests[i].code), reason_tests[i].phrase,
		    "reason of %d", reason_tests[i].code);
	for (i = 100; i < 600; i++)
		if (strcmp(http_reason((int)i), "Unknown") == 0 ||
		    *http_reason((int)i) == '\0')
			break;
	is_int(i, 600, "every code from 100 to 599 has a phrase");
	test_utc_fields();
	test_buf_numbers();
	test_case_fold();
	return done_testing();
}
