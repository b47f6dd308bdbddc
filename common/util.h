/*
 * Small pure helpers shared by every module: percent-encoding, UTF-8,
 * query strings (SPEC §0), host names (SPEC §2.2), status reasons.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "utf8.h"

/* Character classes of RFC 3986 / RFC 6570. */
int	 is_unreserved(int c);	/* A-Z a-z 0-9 - . _ ~ */
int	 is_reserved(int c);	/* : / ? # [ ] @ ! $ & ' ( ) * + , ; = */
int	 hexval(int c);		/* 0..15, or -1 */
/* 1 when s[0..n) are all lower-case hex digits (0-9, a-f). */
int	 lower_hex(const char *s, size_t n);

/*
 * Percent-decodes s[0..n) into out (appended).  With plus_space, '+' becomes
 * ' ' (query strings).  An invalid '%' triplet is kept literally.  Returns
 * the number of bytes appended.
 */
size_t	 pct_decode(struct buf *out, const char *s, size_t n, int plus_space);
/* 1 when every '%' in s[0..n) starts a valid %XX triplet. */
int	 pct_valid(const char *s, size_t n);

/* SPEC §0 query encoding: keep unreserved, %XX (upper-case) for the rest. */
void	 query_encode(struct buf *out, const char *s, size_t n);

/* SPEC §0 parsed query: items split on & and ;, decoded, order kept. */
struct qparam {
	char	*key;		/* decoded, owned */
	char	*val;		/* decoded, owned; NULL when the value is missing */
	size_t	 keylen, vallen;
};
struct query {
	struct qparam	*v;
	size_t		 n;
};
void	 query_parse(struct query *, const char *raw, size_t n);
/* The number of items query_parse() would make of raw[0..n). */
size_t	 query_count(const char *raw, size_t n);
void	 query_free(struct query *);
/* First parameter with that decoded key, or NULL. */
const struct qparam *query_get(const struct query *, const char *key);

/*
 * SPEC §2.2 host normalisation into out (owned by the caller, must hold
 * strlen(in)+1): lower-case, strip ":port" (keeping "[v6]"), strip one
 * trailing dot.  Returns out.
 */
char	*host_normalise(char *out, const char *in);
/* SPEC §2.1: only letters, digits, - _ . : [ ] */
int	 host_chars_ok(const char *);
/*
 * RFC 3986 §3.2.2-§3.2.3: 1 when s[0..n) is host [ ":" port ] with host a
 * bracketed IPv6 address (RFC 4291 text form, no zone), or a non-empty
 * reg-name (IPv4 addresses are reg-names too) of unreserved, sub-delims and
 * %XX triplets of bytes >= 0x80 only (an encoded ASCII byte such as %2E or
 * %40 has no business in a host name) without an empty label (a leading
 * ".", or ".."; one trailing dot is the DNS root), and port one or more
 * digits.  So no
 * userinfo, no '/', '\', '?', '#', nothing after the port.  The empty
 * string is not valid.
 */
int	 host_port_valid(const char *s, size_t n);
/* SPEC §0: authority for public URLs: lower-case, port kept, one trailing
 * dot (before any port) removed.  Caller frees. */
char	*host_authority(const char *in);

/* SPEC §0 header safety: s with every byte outside 0x21-0x7E written as
 * %XX (upper-case hex).  Caller frees. */
char	*url_escape_ctl(const char *s);

/* SPEC §0 URL check. */
int	 url_check(const char *);
/* Start and length of the host[:port] part of an http(s) URL; -1 if none. */
int	 url_authority(const char *url, size_t *off, size_t *len);

/*
 * The reason phrase of a status (RFC 9110 §15: "Temporary Redirect"); for
 * a code it does not define, its class ("Client Error" for 499), and
 * "Unknown" outside 100-599.  Static.
 */
const char *http_reason(int status);

/*
 * 1 when s starts with prefix, ASCII letters in any case.  As
 * strncasecmp(3) in the C locale (the programs set no other), without its
 * locale table, one more page of libc for every CGI request to fault in;
 * host_normalise and host_chars_ok likewise do without <ctype.h>.
 */
int	 strcaseprefix(const char *s, const char *prefix);
int	 strcaseeq(const char *a, const char *b);	/* whole strings */

/* Microseconds and milliseconds since a CLOCK_MONOTONIC time. */
long long	 mono_elapsed_us(const struct timespec *since);
long long	 mono_elapsed_ms(const struct timespec *since);
/*
 * t (seconds since the epoch) as UTC calendar fields in *tm (year, month,
 * day, hour, minute, second; the rest zero), as gmtime_r(3) would give
 * them, without glibc's gmtime_r loading the time zone first (it opens
 * /etc/localtime: three system calls every CGI request would pay).
 */
void	 utc_fields(time_t t, struct tm *tm);

#endif
