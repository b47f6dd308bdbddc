/*
 * The report's text, CSV and JSON writers.  The CSV and JSON schemas are
 * documented in README ("Download analytics", "Export schema"); a column
 * or key is only ever added, never renamed or removed, and the "schema"
 * key of the JSON names the version.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "util.h"
#include "xmalloc.h"

static const char *const type_names[RT__COUNT] = {
	"none", "docker", "npm", "file", "python", "pixel", "telemetry",
	"catch-all", "reserved",
};

/* The JSON/CSV names of the kinds, plural. */
static const char *const kind_cols[RK__COUNT] = {
	"downloads", "views", "checks", "follows", "blobs", "hits", "errors",
	"other",
};

static const char *const ru_names[RU__COUNT] = {
	"all", "docker", "npm", "file", "python",
};

uint64_t
report_sum(const struct rcounts *c, enum rkind k)
{
	uint64_t	 n = 0;
	int		 t;

	for (t = 0; t < RT__COUNT; t++)
		n += c[t].kind[k];
	return n;
}

double
report_unique(const struct rperiod *p, int which)
{
	return p->hll[which] != NULL ? report_hll_count(p->hll[which]) : 0;
}

static long long
unique_of(const struct rhll *h)
{
	return h != NULL ? llround(report_hll_count(h)) : 0;
}

/* ------------------------------------------------------------------ */
/* Sorting                                                              */

static const struct report *sort_r;

static int
cmp_id(uint32_t a, uint32_t b)
{
	return a == b ? 0 : strcmp(strtab_get(&sort_r->str, a),
	    strtab_get(&sort_r->str, b));
}

static int
cmp_rows(const void *a, const void *b)
{
	const struct rrow_key	*x, *y;
	int			 c;

	x = fmap_key(&sort_r->rows, *(const size_t *)a);
	y = fmap_key(&sort_r->rows, *(const size_t *)b);
	if (x->period != y->period)
		return x->period < y->period ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if ((c = cmp_id(x->host, y->host)) != 0 ||
	    (c = cmp_id(x->pkgid, y->pkgid)) != 0 ||
	    (c = cmp_id(x->pkg, y->pkg)) != 0)
		return c;
	return cmp_id(x->ver, y->ver);
}

size_t *
report_sorted_rows(const struct report *r)
{
	size_t	*ix = xcalloc(r->rows.n + 1, sizeof(*ix)), i;

	for (i = 0; i < r->rows.n; i++)
		ix[i] = i;
	sort_r = r;
	qsort(ix, r->rows.n, sizeof(*ix), cmp_rows);
	return ix;
}

static int
cmp_periods(const void *a, const void *b)
{
	int32_t	 x = *(const int32_t *)fmap_key(&sort_r->periods,
		    *(const size_t *)a);
	int32_t	 y = *(const int32_t *)fmap_key(&sort_r->periods,
		    *(const size_t *)b);

	return x < y ? -1 : x > y;
}

size_t *
report_sorted_periods(const struct report *r)
{
	size_t	*ix = xcalloc(r->periods.n + 1, sizeof(*ix)), i;

	for (i = 0; i < r->periods.n; i++)
		ix[i] = i;
	sort_r = r;
	qsort(ix, r->periods.n, sizeof(*ix), cmp_periods);
	return ix;
}

static int
cmp_top(const void *a, const void *b)
{
	const struct rtop	*x = a, *y = b;
	int			 c;

	if (x->c.kind[RK_DOWNLOAD] != y->c.kind[RK_DOWNLOAD])
		return x->c.kind[RK_DOWNLOAD] > y->c.kind[RK_DOWNLOAD] ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if ((c = cmp_id(x->pkg, y->pkg)) != 0)
		return c;
	return cmp_id(x->ver, y->ver);
}

struct rtop *
report_top(const struct report *r, int by_version, size_t *n)
{
	struct fmap		 m;
	const struct rrow_key	*k;
	const struct rcounts	*c;
	struct rcounts		*d;
	struct rtop		*t, key;
	size_t			 i;
	int			 j;

	fmap_init(&m, 3 * sizeof(uint32_t), sizeof(struct rcounts));
	for (i = 0; i < r->rows.n; i++) {
		k = fmap_key(&r->rows, i);
		c = fmap_val(&r->rows, i);
		memset(&key, 0, sizeof(key));
		key.type = k->type;
		key.pkg = k->pkg;
		key.ver = by_version ? k->ver : 0;
		d = fmap_get(&m, &key);
		for (j = 0; j < RK__COUNT; j++)
			d->kind[j] += c->kind[j];
		d->redirected += c->redirected;
		d->proxied += c->proxied;
		d->proxied_bytes += c->proxied_bytes;
	}
	t = xcalloc(m.n + 1, sizeof(*t));
	for (i = 0; i < m.n; i++) {
		memcpy(&t[i], fmap_key(&m, i), 3 * sizeof(uint32_t));
		t[i].c = *(struct rcounts *)fmap_val(&m, i);
	}
	sort_r = r;
	qsort(t, m.n, sizeof(*t), cmp_top);
	*n = m.n;
	fmap_free(&m);
	return t;
}

static int
cmp_mix(const void *a, const void *b)
{
	const struct rmix	*x = a, *y = b;
	int			 c;

	if (x->downloads != y->downloads)
		return x->downloads > y->downloads ? -1 : 1;
	if (x->requests != y->requests)
		return x->requests > y->requests ? -1 : 1;
	if ((c = strcmp(x->family, y->family)) != 0)
		return c;
	return x->major < y->major ? -1 : x->major > y->major;
}

struct rmix *
report_client_mix(const struct report *r, size_t *n)
{
	struct fmap		 m;
	struct rclient_key	 key;
	const struct rreq	*src;
	struct rreq		*q;
	struct rmix		*out;
	size_t			 i;

	fmap_init(&m, sizeof(key), sizeof(struct rreq));
	for (i = 0; i < r->clients.n; i++) {
		key = *(const struct rclient_key *)fmap_key(&r->clients, i);
		key.period = 0;
		src = fmap_val(&r->clients, i);
		q = fmap_get(&m, &key);
		q->requests += src->requests;
		q->downloads += src->downloads;
	}
	out = xcalloc(m.n + 1, sizeof(*out));
	for (i = 0; i < m.n; i++) {
		key = *(const struct rclient_key *)fmap_key(&m, i);
		q = fmap_val(&m, i);
		out[i].family = strtab_get(&r->str, key.family);
		out[i].major = key.major;
		out[i].requests = q->requests;
		out[i].downloads = q->downloads;
	}
	qsort(out, m.n, sizeof(*out), cmp_mix);
	*n = m.n;
	fmap_free(&m);
	return out;
}

/* ------------------------------------------------------------------ */
/* Escaping                                                             */

void
report_json_str(FILE *f, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), i = 0, l;

	putc('"', f);
	while (i < n) {
		if (p[i] == '"' || p[i] == '\\') {
			putc('\\', f);
			putc(p[i++], f);
		} else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(f, "\\u%04x", p[i++]);
		else if (p[i] < 0x80)
			putc(p[i++], f);
		else if ((l = utf8_seq_len(p + i, n - i)) == 0) {
			/* not UTF-8 (the gateway never writes such bytes,
			 * a damaged log may): U+FFFD keeps the output JSON */
			fputs("\\ufffd", f);
			i++;
		} else {
			fwrite(p + i, 1, l, f);
			i += l;
		}
	}
	putc('"', f);
}

/* RFC 4180: quoted when it holds a comma, quote, CR or LF; bytes that are
 * not UTF-8 become U+FFFD. */
static void
csv_str(FILE *f, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), i = 0, l;
	int			 q = strpbrk(s, ",\"\r\n") != NULL;

	if (q)
		putc('"', f);
	while (i < n) {
		if (p[i] < 0x80) {
			if (p[i] == '"')
				putc('"', f);
			putc(p[i++], f);
		} else if ((l = utf8_seq_len(p + i, n - i)) == 0) {
			fputs("\xef\xbf\xbd", f);
			i++;
		} else {
			fwrite(p + i, 1, l, f);
			i += l;
		}
	}
	if (q)
		putc('"', f);
}

/* For a terminal: control bytes shown as '?', cut at max bytes. */
static void
text_str(FILE *f, const char *s, int width)
{
	int	 n = 0;

	for (; *s && (width <= 0 || n < width); s++, n++)
		putc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
	for (; n < width; n++)
		putc(' ', f);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */

static void
json_counts(FILE *f, const struct rcounts *c)
{
	int	 k;

	for (k = 0; k < RK__COUNT; k++)
		fprintf(f, ",\"%s\":%llu", kind_cols[k],
		    (unsigned long long)c->kind[k]);
	fprintf(f, ",\"redirected\":%llu,\"proxied\":%llu,"
	    "\"proxied-bytes\":%llu", (unsigned long long)c->redirected,
	    (unsigned long long)c->proxied,
	    (unsigned long long)c->proxied_bytes);
}

static void
sum_counts(struct rcounts *dst, const struct rcounts *src)
{
	int	 k;

	for (k = 0; k < RK__COUNT; k++)
		dst->kind[k] += src->kind[k];
	dst->redirected += src->redirected;
	dst->proxied += src->proxied;
	dst->proxied_bytes += src->proxied_bytes;
}

/* "2026-03-01T12:00:00.123Z" into b (>= 32 bytes). */
static void
fmt_time(long long ms, char *b)
{
	char	 d[16];

	report_period_label(&(struct report){ .by = RBY_DAY },
	    (int32_t)(ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000),
	    d);
	snprintf(b, 32, "%sT%02lld:%02lld:%02lld.%03lldZ", d,
	    ((ms / 3600000) % 24 + 24) % 24, ((ms / 60000) % 60 + 60) % 60,
	    ((ms / 1000) % 60 + 60) % 60, (ms % 1000 + 1000) % 1000);
}

static void
json_time(FILE *f, long long ms, int have)
{
	char	 b[32];

	if (!have) {
		fputs("null", f);
		return;
	}
	fmt_time(ms, b);
	fprintf(f, "\"%s\"", b);
}

static const char *
by_name(enum rby by)
{
	return by == RBY_WEEK ? "week" : by == RBY_MONTH ? "month" : "day";
}

int
report_write_json(struct report *r, FILE *f)
{
	static const char *const bad_keys[RB__COUNT] = {
		"ok", "not-json", "wrong-type", "missing-key", "unknown-type",
		"truncated", "too-long",
	};
	struct rcounts		 all;
	const struct rrow_key	*rk;
	const struct rperiod	*p;
	size_t			*ix, i, skipped = 0;
	char			 lab[16];
	int			 t, k, first;

	fprintf(f, "{\"schema\":\"scarf-gateway-report/1\",\"by\":\"%s\"",
	    by_name(r->by));
	fputs(",\"first-event\":", f);
	json_time(f, r->first_ms, r->events > 0);
	fputs(",\"last-event\":", f);
	json_time(f, r->last_ms, r->events > 0);
	for (k = 1; k < RB__COUNT; k++)
		skipped += r->bad[k];
	fprintf(f, ",\"input\":{\"lines\":%lu,\"events\":%lu,"
	    "\"filtered\":%lu,\"skipped\":%zu", r->lines, r->events,
	    r->filtered, skipped);
	for (k = 1; k < RB__COUNT; k++)
		fprintf(f, ",\"%s\":%lu", bad_keys[k], r->bad[k]);
	fprintf(f, "},\"unique-clients-error\":%.4f", RHLL_ERROR);

	memset(&all, 0, sizeof(all));
	fputs(",\"totals\":[", f);
	for (t = 0, first = 1; t < RT__COUNT; t++) {
		sum_counts(&all, &r->total[t]);
		fprintf(f, "%s{\"type\":\"%s\"", first ? "" : ",",
		    type_names[t]);
		first = 0;
		json_counts(f, &r->total[t]);
		for (k = 1; k < RU__COUNT; k++)
			if (strcmp(ru_names[k], type_names[t]) == 0)
				fprintf(f, ",\"unique-clients\":%lld",
				    unique_of(r->range_hll[k]));
		putc('}', f);
	}
	fputs("],\"all\":{\"type\":\"all\"", f);
	json_counts(f, &all);
	fprintf(f, ",\"unique-clients\":%lld}",
	    unique_of(r->range_hll[RU_ALL]));

	fputs(",\"periods\":[", f);
	ix = report_sorted_periods(r);
	for (i = 0; i < r->periods.n; i++) {
		p = fmap_val(&r->periods, ix[i]);
		report_period_label(r, *(int32_t *)fmap_key(&r->periods,
		    ix[i]), lab);
		memset(&all, 0, sizeof(all));
		for (t = 0; t < RT__COUNT; t++)
			sum_counts(&all, &p->c[t]);
		fprintf(f, "%s{\"period\":\"%s\"", i ? "," : "", lab);
		json_counts(f, &all);
		fprintf(f, ",\"status-2xx\":%llu,\"status-3xx\":%llu,"
		    "\"status-4xx\":%llu,\"status-5xx\":%llu",
		    (unsigned long long)p->status_class[2],
		    (unsigned long long)p->status_class[3],
		    (unsigned long long)p->status_class[4],
		    (unsigned long long)p->status_class[5]);
		fprintf(f, ",\"unique-clients\":%lld",
		    unique_of(p->hll[RU_ALL]));
		for (k = 1; k < RU__COUNT; k++)
			fprintf(f, ",\"unique-clients-%s\":%lld", ru_names[k],
			    unique_of(p->hll[k]));
		putc('}', f);
	}
	free(ix);

	fputs("],\"rows\":[", f);
	ix = report_sorted_rows(r);
	for (i = 0; i < r->rows.n; i++) {
		rk = fmap_key(&r->rows, ix[i]);
		report_period_label(r, rk->period, lab);
		fprintf(f, "%s\n{\"period\":\"%s\",\"type\":\"%s\",\"host\":",
		    i ? "," : "", lab, type_names[rk->type]);
		report_json_str(f, strtab_get(&r->str, rk->host));
		fputs(",\"package-id\":", f);
		report_json_str(f, strtab_get(&r->str, rk->pkgid));
		fputs(",\"package\":", f);
		report_json_str(f, strtab_get(&r->str, rk->pkg));
		fputs(",\"version\":", f);
		report_json_str(f, strtab_get(&r->str, rk->ver));
		json_counts(f, fmap_val(&r->rows, ix[i]));
		putc('}', f);
	}
	free(ix);

	fputs("],\"files\":[", f);
	for (i = 0; i < r->files.n; i++) {
		const struct rfile_key *fk = fmap_key(&r->files, i);

		fprintf(f, "%s\n{\"type\":\"%s\",\"package-id\":",
		    i ? "," : "", type_names[fk->type]);
		report_json_str(f, strtab_get(&r->str, fk->pkgid));
		fputs(",\"package\":", f);
		report_json_str(f, strtab_get(&r->str, fk->pkg));
		fputs(",\"version\":", f);
		report_json_str(f, strtab_get(&r->str, fk->ver));
		fputs(",\"file\":", f);
		report_json_str(f, strtab_get(&r->str, fk->file));
		fprintf(f, ",\"downloads\":%llu}", (unsigned long long)
		    *(uint64_t *)fmap_val(&r->files, i));
	}
	fputs("],\"clients\":[", f);
	for (i = 0; i < r->clients.n; i++) {
		const struct rclient_key *ck = fmap_key(&r->clients, i);
		const struct rreq *q = fmap_val(&r->clients, i);

		report_period_label(r, ck->period, lab);
		fprintf(f, "%s\n{\"period\":\"%s\",\"family\":\"%s\","
		    "\"major\":", i ? "," : "", lab,
		    strtab_get(&r->str, ck->family));
		if (ck->major < 0)
			fputs("null", f);
		else
			fprintf(f, "%d", ck->major);
		fprintf(f, ",\"requests\":%llu,\"downloads\":%llu}",
		    (unsigned long long)q->requests,
		    (unsigned long long)q->downloads);
	}
	fputs("],\"ci\":[", f);
	for (i = 0; i < r->ci.n; i++) {
		const struct rci_key *ik = fmap_key(&r->ci, i);
		const struct rreq *q = fmap_val(&r->ci, i);

		report_period_label(r, ik->period, lab);
		fprintf(f, "%s\n{\"period\":\"%s\",\"ci\":\"%s\","
		    "\"requests\":%llu,\"downloads\":%llu}", i ? "," : "", lab,
		    strtab_get(&r->str, ik->ci),
		    (unsigned long long)q->requests,
		    (unsigned long long)q->downloads);
	}
	fputs("],\"status\":[", f);
	for (i = 0; i < r->status.n; i++) {
		const struct rstatus_key *sk = fmap_key(&r->status, i);

		fprintf(f, "%s\n{\"type\":\"%s\",\"status\":%u,\"count\":%llu}",
		    i ? "," : "", type_names[sk->type], sk->status,
		    (unsigned long long)*(uint64_t *)fmap_val(&r->status, i));
	}
	fputs("],\"referers\":[", f);
	for (i = 0; i < r->referers.n; i++) {
		const struct rref_key *fk = fmap_key(&r->referers, i);

		fprintf(f, "%s\n{\"package-id\":", i ? "," : "");
		report_json_str(f, strtab_get(&r->str, fk->pkgid));
		fputs(",\"referer\":", f);
		report_json_str(f, strtab_get(&r->str, fk->referer));
		fprintf(f, ",\"downloads\":%llu}", (unsigned long long)
		    *(uint64_t *)fmap_val(&r->referers, i));
	}
	fputs("]}\n", f);
	return 0;
}

/* ------------------------------------------------------------------ */
/* CSV                                                                  */

static void
csv_counts_head(FILE *f)
{
	int	 k;

	for (k = 0; k < RK__COUNT; k++)
		fprintf(f, ",%s", kind_cols[k]);
	fputs(",redirected,proxied,proxied-bytes", f);
}

static void
csv_counts(FILE *f, const struct rcounts *c)
{
	int	 k;

	for (k = 0; k < RK__COUNT; k++)
		fprintf(f, ",%llu", (unsigned long long)c->kind[k]);
	fprintf(f, ",%llu,%llu,%llu", (unsigned long long)c->redirected,
	    (unsigned long long)c->proxied,
	    (unsigned long long)c->proxied_bytes);
}

int
report_write_csv(struct report *r, FILE *f)
{
	const struct rrow_key	*rk;
	const struct rperiod	*p;
	struct rcounts		 all;
	size_t			*ix, i;
	char			 lab[16];
	int			 t, k;
	const char		*tb = r->table;

	if (strcmp(tb, "rows") == 0) {
		fputs("period,type,host,package-id,package,version", f);
		csv_counts_head(f);
		fputs("\r\n", f);
		ix = report_sorted_rows(r);
		for (i = 0; i < r->rows.n; i++) {
			rk = fmap_key(&r->rows, ix[i]);
			report_period_label(r, rk->period, lab);
			fprintf(f, "%s,%s,", lab, type_names[rk->type]);
			csv_str(f, strtab_get(&r->str, rk->host));
			putc(',', f);
			csv_str(f, strtab_get(&r->str, rk->pkgid));
			putc(',', f);
			csv_str(f, strtab_get(&r->str, rk->pkg));
			putc(',', f);
			csv_str(f, strtab_get(&r->str, rk->ver));
			csv_counts(f, fmap_val(&r->rows, ix[i]));
			fputs("\r\n", f);
		}
		free(ix);
	} else if (strcmp(tb, "periods") == 0) {
		fputs("period", f);
		csv_counts_head(f);
		fputs(",status-2xx,status-3xx,status-4xx,status-5xx,"
		    "unique-clients", f);
		for (k = 1; k < RU__COUNT; k++)
			fprintf(f, ",unique-clients-%s", ru_names[k]);
		fputs("\r\n", f);
		ix = report_sorted_periods(r);
		for (i = 0; i < r->periods.n; i++) {
			p = fmap_val(&r->periods, ix[i]);
			report_period_label(r, *(int32_t *)fmap_key(
			    &r->periods, ix[i]), lab);
			memset(&all, 0, sizeof(all));
			for (t = 0; t < RT__COUNT; t++)
				sum_counts(&all, &p->c[t]);
			fputs(lab, f);
			csv_counts(f, &all);
			for (k = 2; k < 6; k++)
				fprintf(f, ",%llu", (unsigned long long)
				    p->status_class[k]);
			for (k = 0; k < RU__COUNT; k++)
				fprintf(f, ",%lld", unique_of(p->hll[k]));
			fputs("\r\n", f);
		}
		free(ix);
	} else if (strcmp(tb, "totals") == 0) {
		fputs("type", f);
		csv_counts_head(f);
		fputs(",unique-clients\r\n", f);
		memset(&all, 0, sizeof(all));
		for (t = 0; t < RT__COUNT; t++) {
			fputs(type_names[t], f);
			csv_counts(f, &r->total[t]);
			sum_counts(&all, &r->total[t]);
			putc(',', f);
			for (k = 1; k < RU__COUNT; k++)
				if (strcmp(ru_names[k], type_names[t]) == 0)
					fprintf(f, "%lld",
					    unique_of(r->range_hll[k]));
			fputs("\r\n", f);
		}
		fputs("all", f);
		csv_counts(f, &all);
		fprintf(f, ",%lld\r\n", unique_of(r->range_hll[RU_ALL]));
	} else if (strcmp(tb, "clients") == 0 || strcmp(tb, "ci") == 0) {
		int	 isci = strcmp(tb, "ci") == 0;
		struct fmap *m = isci ? &r->ci : &r->clients;

		fputs(isci ? "period,ci,requests,downloads\r\n" :
		    "period,family,major,requests,downloads\r\n", f);
		for (i = 0; i < m->n; i++) {
			const struct rreq *q = fmap_val(m, i);

			if (isci) {
				const struct rci_key *ik = fmap_key(m, i);

				report_period_label(r, ik->period, lab);
				fprintf(f, "%s,%s", lab,
				    strtab_get(&r->str, ik->ci));
			} else {
				const struct rclient_key *ck = fmap_key(m, i);

				report_period_label(r, ck->period, lab);
				fprintf(f, "%s,%s,", lab,
				    strtab_get(&r->str, ck->family));
				if (ck->major >= 0)
					fprintf(f, "%d", ck->major);
			}
			fprintf(f, ",%llu,%llu\r\n",
			    (unsigned long long)q->requests,
			    (unsigned long long)q->downloads);
		}
	} else if (strcmp(tb, "status") == 0) {
		fputs("type,status,count\r\n", f);
		for (i = 0; i < r->status.n; i++) {
			const struct rstatus_key *sk = fmap_key(&r->status, i);

			fprintf(f, "%s,%u,%llu\r\n", type_names[sk->type],
			    sk->status, (unsigned long long)
			    *(uint64_t *)fmap_val(&r->status, i));
		}
	} else if (strcmp(tb, "files") == 0) {
		fputs("type,package-id,package,version,file,downloads\r\n", f);
		for (i = 0; i < r->files.n; i++) {
			const struct rfile_key *fk = fmap_key(&r->files, i);

			fprintf(f, "%s,", type_names[fk->type]);
			csv_str(f, strtab_get(&r->str, fk->pkgid));
			putc(',', f);
			csv_str(f, strtab_get(&r->str, fk->pkg));
			putc(',', f);
			csv_str(f, strtab_get(&r->str, fk->ver));
			putc(',', f);
			csv_str(f, strtab_get(&r->str, fk->file));
			fprintf(f, ",%llu\r\n", (unsigned long long)
			    *(uint64_t *)fmap_val(&r->files, i));
		}
	} else {
		fputs("package-id,referer,downloads\r\n", f);
		for (i = 0; i < r->referers.n; i++) {
			const struct rref_key *fk = fmap_key(&r->referers, i);

			csv_str(f, strtab_get(&r->str, fk->pkgid));
			putc(',', f);
			csv_str(f, strtab_get(&r->str, fk->referer));
			fprintf(f, ",%llu\r\n", (unsigned long long)
			    *(uint64_t *)fmap_val(&r->referers, i));
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Text                                                                 */

static const char *
human_bytes(uint64_t b, char *out)
{
	static const char *const u[] = { "B", "kB", "MB", "GB", "TB", "PB" };
	double	 v = (double)b;
	int	 i = 0;

	while (v >= 1000 && i < 5) {
		v /= 1000;
		i++;
	}
	snprintf(out, 24, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return out;
}

int
report_write_text(struct report *r, FILE *f)
{
	struct rtop		*top;
	const struct rperiod	*p;
	struct rcounts		 all, pc;
	struct rmix		*mix;
	size_t			*ix, n, i;
	char			 lab[16], hb[40], lab2[32];
	int			 t;

	memset(&all, 0, sizeof(all));
	for (t = 0; t < RT__COUNT; t++)
		sum_counts(&all, &r->total[t]);
	fprintf(f, "scarf-gateway download report, by %s\n", by_name(r->by));
	if (r->events > 0) {
		fmt_time(r->first_ms, lab2);
		fmt_time(r->last_ms, hb);
		fprintf(f, "events from %s to %s\n", lab2, hb);
	}
	fprintf(f, "\n%-30s %12llu\n%-30s %12lld  (\xc2\xb1%.1f %%)\n",
	    "downloads", (unsigned long long)all.kind[RK_DOWNLOAD],
	    "unique clients (estimate)", unique_of(r->range_hll[RU_ALL]),
	    RHLL_ERROR * 100);
	fprintf(f, "%-30s %12llu\n%-30s %12llu\n%-30s %12llu\n",
	    "views (index, packument)", (unsigned long long)all.kind[RK_VIEW],
	    "pixel and telemetry hits", (unsigned long long)all.kind[RK_HIT],
	    "errors (4xx, 5xx)", (unsigned long long)all.kind[RK_ERROR]);
	fprintf(f, "%-30s %12llu\n%-30s %12llu  (%s)\n", "redirected (3xx)",
	    (unsigned long long)all.redirected, "proxied",
	    (unsigned long long)all.proxied,
	    human_bytes(all.proxied_bytes, hb));
	fprintf(f, "%-30s %12lu  (%lu outside the filters)\n",
	    "events", r->events + r->filtered, r->filtered);
	for (t = 1, n = 0; t < RB__COUNT; t++)
		n += r->bad[t];
	fprintf(f, "%-30s %12zu\n", "lines skipped (see stderr)", n);

	fprintf(f, "\n%-12s %10s %10s %8s %8s %8s\n", "TYPE", "DOWNLOADS",
	    "VIEWS", "HITS", "ERRORS", "OTHER");
	for (t = 0; t < RT__COUNT; t++) {
		if (r->total[t].kind[RK_DOWNLOAD] + r->total[t].kind[RK_VIEW] +
		    r->total[t].kind[RK_HIT] + r->total[t].kind[RK_ERROR] +
		    r->total[t].kind[RK_OTHER] == 0)
			continue;
		fprintf(f, "%-12s %10llu %10llu %8llu %8llu %8llu\n",
		    type_names[t],
		    (unsigned long long)r->total[t].kind[RK_DOWNLOAD],
		    (unsigned long long)r->total[t].kind[RK_VIEW],
		    (unsigned long long)r->total[t].kind[RK_HIT],
		    (unsigned long long)r->total[t].kind[RK_ERROR],
		    (unsigned long long)r->total[t].kind[RK_OTHER]);
	}

	fprintf(f, "\n%-10s %10s %10s %8s\n", "PERIOD", "DOWNLOADS", "CLIENTS",
	    "ERRORS");
	ix = report_sorted_periods(r);
	for (i = 0; i < r->periods.n; i++) {
		p = fmap_val(&r->periods, ix[i]);
		report_period_label(r, *(int32_t *)fmap_key(&r->periods,
		    ix[i]), lab);
		memset(&pc, 0, sizeof(pc));
		for (t = 0; t < RT__COUNT; t++)
			sum_counts(&pc, &p->c[t]);
		fprintf(f, "%-10s %10llu %10lld %8llu\n", lab,
		    (unsigned long long)pc.kind[RK_DOWNLOAD],
		    unique_of(p->hll[RU_ALL]),
		    (unsigned long long)pc.kind[RK_ERROR]);
	}
	free(ix);

	for (t = 0; t < 2; t++) {
		top = report_top(r, t, &n);
		fprintf(f, "\n%-8s %-40s %-20s %10s\n", "TYPE",
		    t ? "TOP VERSIONS" : "TOP PACKAGES", t ? "VERSION" : "",
		    "DOWNLOADS");
		for (i = 0; i < n && i < (size_t)r->top; i++) {
			if (top[i].c.kind[RK_DOWNLOAD] == 0)
				break;
			fprintf(f, "%-8s ", type_names[top[i].type]);
			text_str(f, strtab_get(&r->str, top[i].pkg), 40);
			putc(' ', f);
			text_str(f, t ? strtab_get(&r->str, top[i].ver) : "",
			    20);
			fprintf(f, " %10llu\n", (unsigned long long)
			    top[i].c.kind[RK_DOWNLOAD]);
		}
		free(top);
	}

	/* client mix over the whole range */
	mix = report_client_mix(r, &n);
	fprintf(f, "\n%-24s %10s %10s\n", "CLIENT", "DOWNLOADS", "REQUESTS");
	for (i = 0; i < n && i < (size_t)r->top * 2; i++) {
		if (mix[i].major >= 0)
			snprintf(hb, sizeof(hb), "%s/%d", mix[i].family,
			    mix[i].major);
		else
			snprintf(hb, sizeof(hb), "%s", mix[i].family);
		fprintf(f, "%-24s %10llu %10llu\n", hb,
		    (unsigned long long)mix[i].downloads,
		    (unsigned long long)mix[i].requests);
	}
	free(mix);

	fprintf(f, "\n%-10s %-8s %10s\n", "TYPE", "STATUS", "COUNT");
	for (i = 0; i < r->status.n; i++) {
		const struct rstatus_key *sk = fmap_key(&r->status, i);

		if (sk->status < 400)
			continue;
		fprintf(f, "%-10s %-8u %10llu\n", type_names[sk->type],
		    sk->status, (unsigned long long)
		    *(uint64_t *)fmap_val(&r->status, i));
	}
	return 0;
}
