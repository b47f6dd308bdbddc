/*
 * libFuzzer target for the report's event line parser and classifiers
 * (common/report_event.c, report_ua.c, report_hll.c).
 *
 * Input: lines (LF-separated), each parsed as an event line.  Checks:
 * every slice lies inside the line or the parser's scratch buffer; a line
 * the parser accepts is also JSON to cJSON (a second, independent parser)
 * with the same status and time; the classification of an accepted line
 * is one of the kinds; the User-Agent classifier returns a family from
 * its table; the HyperLogLog counter never decreases as items are added.
 * The accepted lines are then counted into a report (by day and, for the
 * first input byte odd, by week) and written in every format: the JSON
 * must parse with cJSON and the CSV and text must not be empty.
 *
 *	./fuzz_report tests/fuzz/corpus/report
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report.h"
#include "report_int.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_slice(const struct rslice *s, const char *line, size_t n,
    const struct rparser *p, const char *what)
{
	if (s->p == NULL)
		return;
	if (s->p >= line && s->p + s->n <= line + n)
		return;
	if (p->scratch != NULL && s->p >= p->scratch &&
	    s->p + s->n <= p->scratch + p->used)
		return;
	fprintf(stderr, "%s: slice outside the line and scratch\n", what);
	abort();
}

/* Whether s[0..n) holds a \\uD800-\\uDFFF escape. */
static int
surrogate_escape(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i + 3 < n; i++)
		if (s[i] == '\\' && s[i + 1] == 'u' && (s[i + 2] == 'd' ||
		    s[i + 2] == 'D') && strchr("89abcdefABCDEF", s[i + 3]) !=
		    NULL && s[i + 3] != '\0')
			return 1;
	return 0;
}

static void
one_line(struct rparser *p, const char *line, size_t n, struct rhll *h,
    struct report *r)
{
	struct revent	 ev;
	struct rua	 ua;
	cJSON		*j, *st, *c;
	enum rbad	 b;
	enum rkind	 k;
	double		 before;
	int		 m, d;

	b = report_parse_line(p, line, n, &ev);
	if ((unsigned)b >= RB__COUNT)
		abort();
	if (b != RB_OK)
		return;
	check_slice(&ev.host, line, n, p, "host");
	check_slice(&ev.method, line, n, p, "method");
	check_slice(&ev.path, line, n, p, "path");
	check_slice(&ev.package_id, line, n, p, "package-id");
	check_slice(&ev.user_agent, line, n, p, "user-agent");
	check_slice(&ev.referer, line, n, p, "referer");
	check_slice(&ev.client_ip, line, n, p, "client-ip");
	check_slice(&ev.image, line, n, p, "image");
	check_slice(&ev.reference, line, n, p, "reference");
	check_slice(&ev.package, line, n, p, "package");
	check_slice(&ev.version, line, n, p, "version");
	check_slice(&ev.file_name, line, n, p, "file-name");
	check_slice(&ev.var_version, line, n, p, "variables.version");
	if ((j = cJSON_ParseWithLength(line, n)) == NULL) {
		/* cJSON rejects a lone UTF-16 surrogate escape, which RFC
		 * 8259's grammar allows (§8.2) and the report reads as
		 * U+FFFD */
		if (surrogate_escape(line, n))
			return;
		fprintf(stderr, "accepted a line cJSON rejects: %.*s\n",
		    (int)n, line);
		abort();
	}
	/* with duplicate keys (RFC 8259 §4 leaves them open) the report
	 * takes the last, cJSON's lookup the first: compare the last */
	st = NULL;
	for (c = j->child; c != NULL; c = c->next)
		if (c->string != NULL && strcmp(c->string, "status") == 0)
			st = c;
	if (!cJSON_IsNumber(st) || (int)st->valuedouble != ev.status) {
		fprintf(stderr, "status differs from cJSON's\n");
		abort();
	}
	cJSON_Delete(j);
	if (ev.status < 100 || ev.status > 999 || (unsigned)ev.type >=
	    RT__COUNT)
		abort();
	k = report_classify(&ev, &m, &d);
	if ((unsigned)k >= RK__COUNT || (k == RK_ERROR) != (ev.status >= 400))
		abort();
	report_ua_parse(ev.user_agent.p, ev.user_agent.n, &ua);
	if (ua.family == NULL || (ua.major < -1 || ua.major > 99999))
		abort();
	report_add(r, &ev);
	before = report_hll_count(h);
	report_hll_add(h, report_hash(ev.user_agent.p, ev.user_agent.n, 1));
	if (report_hll_count(h) < before)
		abort();
}

/* Every format into memory; the JSON must be JSON. */
static void
write_all(struct report *r)
{
	static const char *const tables[] = { "rows", "periods", "totals",
	    "clients", "ci", "status", "files", "referers" };
	char	*buf = NULL;
	size_t	 len = 0, i;
	FILE	*f;
	cJSON	*j;

	if ((f = open_memstream(&buf, &len)) == NULL)
		abort();
	report_write_json(r, f);
	fclose(f);
	if ((j = cJSON_ParseWithLength(buf, len)) == NULL) {
		fprintf(stderr, "the JSON output is not JSON:\n%.*s\n",
		    (int)len, buf);
		abort();
	}
	cJSON_Delete(j);
	free(buf);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		buf = NULL;
		if ((f = open_memstream(&buf, &len)) == NULL)
			abort();
		r->table = tables[i];
		report_write_csv(r, f);
		fclose(f);
		if (len == 0)
			abort();
		free(buf);
	}
	buf = NULL;
	if ((f = open_memstream(&buf, &len)) == NULL)
		abort();
	report_write_text(r, f);
	report_write_html(r, f);
	fclose(f);
	if (len == 0)
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rhll	 h;
	struct report		 r;
	struct rparser		 p;
	const char		*s = (const char *)data, *nl;
	struct rua		 ua;
	size_t			 left = size;

	memset(&h, 0, sizeof(h));
	report_init(&r);
	if (size > 0 && (data[0] & 1))
		r.by = RBY_WEEK;
	report_parser_init(&p);
	while (left > 0) {
		nl = memchr(s, '\n', left);
		one_line(&p, s, nl != NULL ? (size_t)(nl - s) : left, &h, &r);
		if (nl == NULL)
			break;
		left -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
	report_parser_free(&p);
	write_all(&r);
	report_free(&r);
	/* the whole input as a User-Agent */
	report_ua_parse((const char *)data, size, &ua);
	if (ua.family == NULL)
		abort();
	return 0;
}
