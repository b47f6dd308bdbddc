/*
 * libFuzzer target for the authority check of outgoing-url expansions
 * (tmpl_expand_url, common/tmpl.c; README "Where we differ").
 *
 * Input: "template LF value LF value ...".  The template is parsed; the
 * n-th distinct variable name in its text gets the n-th value (the last
 * value when there are fewer lines, "" when there are none), and it is
 * expanded with tmpl_expand_url().  Then, with a URL parser of its own
 * that reads the authority the way WHATWG URL parsers do (up to the first
 * '/', '\', '?' or '#'; userinfo up to the last '@'):
 *
 *  - an expansion refused (-2) comes from a template --check warns about
 *    (tmpl_authority_reach), so the two never disagree;
 *  - an accepted one starts with the template's literal "scheme://", and
 *    its authority either is the one the template's first literal run
 *    spells out, or has no userinfo, is a host[:port], and ends with the
 *    tail of one of the template's literal runs (up to the run's end or to
 *    a '/', '?', '#' in it) that starts at a label boundary and holds a
 *    whole label: a variable can prefix labels, never choose the host's
 *    end;
 *  - query forwarding (§5.5) does not change the authority.
 *
 * So the target finds wrong answers, not only crashes.
 *
 *	./fuzz_tmpl_authority tests/fuzz/corpus/tmpl_authority
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "filerule.h"
#include "tmpl.h"
#include "util.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAXRUNS	300

static void
fail(const char *why, const char *src, const char *u, size_t n)
{
	fprintf(stderr, "%s\ntemplate: %s\nexpanded: %.*s\n", why, src,
	    (int)n, u);
	abort();
}

/* Authority of an http(s) URL, WHATWG style: [*off, *off + *len). */
static int
authority(const char *u, size_t n, size_t *off, size_t *len)
{
	size_t	 a, i;

	if (n >= 7 && strncasecmp(u, "http://", 7) == 0)
		a = 7;
	else if (n >= 8 && strncasecmp(u, "https://", 8) == 0)
		a = 8;
	else
		return -1;
	for (i = a; i < n && strchr("/\\?#", u[i]) == NULL; i++)
		;
	*off = a;
	*len = i - a;
	return 0;
}

/*
 * The template's literal runs as expansion writes them (non-ASCII bytes as
 * %XX), each NUL-terminated in out; run 0 is what precedes the first '{'.
 * Returns the number of runs.
 */
static size_t
literal_runs(const char *src, struct buf *out, size_t *starts)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t	 nrun = 0;
	const char *s = src;

	starts[nrun++] = 0;
	for (; *s != '\0'; s++) {
		if (*s == '{') {
			buf_addc(out, '\0');
			if ((s = strchr(s, '}')) == NULL)
				break;
			if (nrun == MAXRUNS)
				break;
			starts[nrun++] = out->n;
			continue;
		}
		if ((unsigned char)*s >= 0x80) {
			buf_addc(out, '%');
			buf_addc(out, hex[(unsigned char)*s >> 4]);
			buf_addc(out, hex[*s & 15]);
		} else
			buf_addc(out, *s);
	}
	buf_addc(out, '\0');
	return nrun;
}

/* 1 when a[0..n) ends with a literal tail that fixes the host's end. */
static int
ends_in_literal(const char *a, size_t n, const struct buf *runs,
    const size_t *starts, size_t nrun)
{
	const char	*r, *t;
	size_t		 k, j, e, tl, hl, lab;

	for (k = 0; k < nrun; k++) {
		r = runs->p + starts[k];
		for (j = 0; r[j] != '\0'; j++) {
			for (e = j; r[e] != '\0' && strchr("/?#", r[e]) ==
			    NULL; e++)
				;
			t = r + j;
			tl = e - j;
			if (tl == 0 || tl > n || memcmp(a + n - tl, t, tl) != 0)
				continue;
			/* a label boundary where the tail starts */
			if (t[0] != '.' && tl < n && a[n - tl - 1] != '.')
				continue;
			/* and a whole, non-empty label in its host part */
			for (hl = 0; hl < tl && t[hl] != ':'; hl++)
				;
			lab = t[0] == '.' ? 1 : 0;
			if (lab < hl && t[lab] != '.')
				return 1;
		}
	}
	return 0;
}

static void
check(const char *src, const struct tmpl *t, const struct buf *u)
{
	struct buf	 runs = BUF_INIT, fwd = BUF_INIT;
	size_t		 starts[MAXRUNS], nrun, off, len, foff, flen, i;
	const char	*r0;

	nrun = literal_runs(src, &runs, starts);
	r0 = runs.p;
	if (authority(u->p, u->n, &off, &len) == -1)
		fail("accepted: not an http(s) URL", src, u->p, u->n);
	if (strlen(r0) < off || strncmp(r0, u->p, off) != 0)
		fail("accepted: the scheme is not the template's", src, u->p,
		    u->n);
	if (len == 0)
		fail("accepted: empty host", src, u->p, u->n);
	if (authority(r0, strlen(r0), &foff, &flen) == 0 && flen == len &&
	    memcmp(r0 + foff, u->p + off, len) == 0)
		goto forward;	/* the template's own authority */
	if (memchr(u->p + off, '@', len) != NULL)
		fail("accepted: userinfo from a variable", src, u->p, u->n);
	if (!host_port_valid(u->p + off, len))
		fail("accepted: not a host[:port]", src, u->p, u->n);
	if (!ends_in_literal(u->p + off, len, &runs, starts, nrun))
		fail("accepted: the host's end is not the template's", src,
		    u->p, u->n);
forward:
	buf_add(&fwd, u->p, u->n);
	url_forward_query(&fwd, "fz=1&a%40b=c%2Fd");
	if (authority(fwd.p, fwd.n, &foff, &flen) == -1 || foff != off ||
	    flen != len || memcmp(fwd.p + off, u->p + off, len) != 0)
		fail("query forwarding changed the authority", src, fwd.p,
		    fwd.n);
	for (i = 0; i < fwd.n; i++)
		if ((unsigned char)fwd.p[i] < 0x21 ||
		    (unsigned char)fwd.p[i] > 0x7e)
			fail("a byte outside 0x21-0x7E", src, fwd.p, fwd.n);
	(void)t;
	buf_free(&runs);
	buf_free(&fwd);
}

/*
 * Gives the n-th distinct variable name of the template text the n-th
 * line of vals (names read as fuzz_tmpl.c's set_all does).
 */
static void
assign(const struct tmpl *t, const char *src, const char *vals, size_t vlen,
    struct tmpl_vars *vs)
{
	const char	*s = src, *e, *v = vals, *nl;
	char		 name[256];
	size_t		 n, l;

	vs->n = 0;
	l = (nl = memchr(v, '\n', vlen)) != NULL ? (size_t)(nl - v) : vlen;
	while ((s = strchr(s, '{')) != NULL) {
		s++;
		if (*s != '\0' && strchr("+#./;?&", *s) != NULL)
			s++;
		for (;;) {
			n = strcspn(s, ",}:*");
			if (n < sizeof(name)) {
				memcpy(name, s, n);
				name[n] = '\0';
				if (tmpl_uses(t, name) &&
				    tmpl_vars_get(vs, name, NULL) == NULL) {
					tmpl_vars_set(vs, name, v, l);
					if (nl != NULL) {
						vlen -= (size_t)(nl - v) + 1;
						v = nl + 1;
						l = (nl = memchr(v, '\n',
						    vlen)) != NULL ?
						    (size_t)(nl - v) : vlen;
					}
				}
			}
			s += n;
			if (*s == ':' || *s == '*')
				s += strcspn(s, ",}");
			if (*s != ',')
				break;
			s++;
		}
		if ((e = strchr(s, '}')) == NULL)
			break;
		s = e + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *nl, *why;
	char		*src, msg[512];
	size_t		 srclen, vlen;
	struct tmpl	*t;
	struct tmpl_vars vs;
	struct buf	 u = BUF_INIT;
	char		 err[128];
	int		 rc;

	nl = memchr(p, '\n', size);
	srclen = nl != NULL ? (size_t)(nl - p) : size;
	src = strndup(p, srclen);
	vlen = nl != NULL ? size - srclen - 1 : 0;
	if (tmpl_parse(src, &t, err, sizeof(err)) == -1) {
		free(src);
		return 0;
	}
	assign(t, src, nl != NULL ? nl + 1 : "", vlen, &vs);
	rc = tmpl_expand_url(t, &vs, &u, &why);
	if (rc == -2 && (why == NULL || !tmpl_authority_reach(t, msg,
	    sizeof(msg))))
		fail("refused, but --check would not warn", src, u.p, u.n);
	if (rc == 0 && tmpl_has_exprs(t))
		check(src, t, &u);
	buf_free(&u);
	tmpl_vars_free(&vs);
	tmpl_free(t);
	free(src);
	return 0;
}
