/*
 * The report as one self-contained HTML page: inline CSS and SVG, no
 * script, nothing fetched.  The markup is also well-formed XML (XHTML
 * syntax: every element closed, only the five XML entities), so a plain
 * XML parser can check it, and every string from the log goes through
 * report_html_str(), which also replaces what XML 1.0 forbids (control
 * bytes, invalid UTF-8).
 *
 * Layout: summary tiles, then cards in a grid that collapses to one
 * column on a phone.  Charts are SVG with a viewBox, drawn at 600 units
 * wide with 15-unit text, so on a 360 px phone the labels stay about
 * 9 px; legends and bar lists are HTML so they wrap instead of shrinking.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "util.h"
#include "xmalloc.h"

#define NSERIES		6	/* packages drawn over time, then "others" */
#define TEXT_MAX	90	/* longer strings are cut with an ellipsis */

static const char *const palette[] = {
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
	"#edc948", "#9c755f", "#ff9da7", "#8c8c8c",
};
#define NPAL	(sizeof(palette) / sizeof(palette[0]))

static const char *const type_names[RT__COUNT] = {
	"none", "docker", "npm", "file", "python", "pixel", "telemetry",
	"catch-all", "reserved",
};

/* XML-safe text: the five entities escaped, control bytes and invalid
 * UTF-8 as U+FFFD, at most max code points (0: all), then an ellipsis. */
static void
html_strn(FILE *f, const char *s, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), i = 0, l, cps = 0;

	while (i < n) {
		if (max > 0 && cps++ >= max) {
			fputs("\xe2\x80\xa6", f);
			return;
		}
		switch (p[i]) {
		case '&': fputs("&amp;", f); i++; continue;
		case '<': fputs("&lt;", f); i++; continue;
		case '>': fputs("&gt;", f); i++; continue;
		case '"': fputs("&quot;", f); i++; continue;
		case '\'': fputs("&#39;", f); i++; continue;
		}
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n') {
			fputs("\xef\xbf\xbd", f);
			i++;
			continue;
		}
		if (p[i] < 0x80) {
			putc(p[i++], f);
			continue;
		}
		l = utf8_seq_len(p + i, n - i);
		if (l == 0 || (l == 3 && p[i] == 0xef && p[i + 1] == 0xbf &&
		    p[i + 2] >= 0xbe)) {
			fputs("\xef\xbf\xbd", f);
			i++;
			continue;
		}
		fwrite(p + i, 1, l, f);
		i += l;
	}
}

void
report_html_str(FILE *f, const char *s)
{
	html_strn(f, s, 0);
}

/* 1234567 -> "1,234,567" */
static void
num(FILE *f, unsigned long long v)
{
	char	 b[32];
	int	 n, i;

	n = snprintf(b, sizeof(b), "%llu", v);
	for (i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			putc(',', f);
		putc(b[i], f);
	}
}

static void
short_num(char *b, size_t sz, double v)
{
	if (v >= 1e9)
		snprintf(b, sz, "%.3gG", v / 1e9);
	else if (v >= 1e6)
		snprintf(b, sz, "%.3gM", v / 1e6);
	else if (v >= 1e4)
		snprintf(b, sz, "%.3gk", v / 1e3);
	else
		snprintf(b, sz, "%.0f", v);
}

static void
bytes(FILE *f, unsigned long long b)
{
	static const char *const u[] = { "B", "kB", "MB", "GB", "TB", "PB" };
	double	 v = (double)b;
	int	 i = 0;

	while (v >= 1000 && i < 5) {
		v /= 1000;
		i++;
	}
	fprintf(f, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* A "nice" axis maximum and step (1, 2, 5 x 10^k) for values up to max. */
static void
nice_axis(double max, double *top, double *step)
{
	double	 raw, mag, r;

	if (max <= 0)
		max = 1;
	raw = max / 4;
	mag = pow(10, floor(log10(raw)));
	r = raw / mag;
	*step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
	if (*step < 1)
		*step = 1;
	*top = ceil(max / *step) * *step;
}

/* An axis label: "Mar 1" for days and weeks (their Monday), "2026-03"
 * for months; the full dates are in the page's subtitle. */
static void
short_label(const struct report *r, int32_t p, char *out)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char	 b[16];
	int	 m, d;

	report_period_label(r, p, b);
	if (r->by == RBY_MONTH || sscanf(b + 5, "%d-%d", &m, &d) != 2 ||
	    m < 1 || m > 12) {
		memcpy(out, b, 16);
		return;
	}
	snprintf(out, 16, "%s %d", mon[m - 1], d);
}

/* ------------------------------------------------------------------ */
/* Charts                                                               */

/*
 * Each chart is drawn twice, wide (600 x 280 units, about 7 x labels) and
 * narrow (360 x 300, about 4), and the CSS shows one or the other by the
 * page width: text in an SVG scales with it, and a 600-unit chart on a
 * phone would have 9 px labels.  Set by chart_form().
 */
static double		 cw = 600, ch = 280;
static size_t		 xlabels = 7;
static const char	*form = "w";

static void
chart_form(int narrow)
{
	cw = narrow ? 360 : 600;
	ch = narrow ? 300 : 280;
	xlabels = narrow ? 4 : 7;
	form = narrow ? "n" : "w";
}
#define ML	58.0	/* margins */
#define MR	14.0
#define MT	14.0
#define MB	44.0

/* Axes, grid and x labels; returns the y scale via *top. */
static void
chart_frame(FILE *f, size_t nper, char (*labels)[16], double max,
    double *top, const char *title)
{
	double	 step, y, x, pw = (cw - ML - MR) / (double)nper, prev, half,
		 left, lastleft;
	size_t	 i, every;
	int	 end;
	char	 b[32];

	nice_axis(max, top, &step);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "
	    "%.0f %.0f\" role=\"img\" aria-label=\"", cw, ch);
	report_html_str(f, title);
	fprintf(f, "\" class=\"chart %s\">\n", form);
	for (y = 0; y <= *top + step / 2; y += step) {
		double	 py = MT + (ch - MT - MB) * (1 - y / *top);

		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" "
		    "y1=\"%.1f\" y2=\"%.1f\"/>", ML, cw - MR, py, py);
		short_num(b, sizeof(b), y);
		fprintf(f, "<text class=\"yl\" x=\"%.1f\" y=\"%.1f\">%s"
		    "</text>\n", ML - 8, py + 5, b);
	}
	/* at most about xlabels x labels, evenly thinned, the last one
	 * always; a label that would overlap the one before or the last is
	 * left out (widths estimated at 10 units a character of 17-unit
	 * text); one cut off at the right edge ends at the edge */
	every = (nper + xlabels - 1) / xlabels;
	if (every == 0)
		every = 1;
	x = ML + pw * ((double)(nper - 1) + 0.5);
	half = 5 * (double)strlen(labels[nper - 1]);
	lastleft = x + half + 2 > cw ? cw - 2 - 2 * half : x - half;
	for (i = 0, prev = -1e9; i < nper; i++) {
		if (i % every != 0 && i != nper - 1)
			continue;
		x = ML + pw * ((double)i + 0.5);
		half = 5 * (double)strlen(labels[i]);
		end = x + half + 2 > cw;
		left = end ? cw - 2 - 2 * half : x - half;
		if (left < prev + 8 ||
		    (i != nper - 1 && x + half + 8 > lastleft))
			continue;
		prev = end ? cw - 2 : x + half;
		fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\">%s"
		    "</text>", end ? "xe" : "xl", end ? cw - 2 : x,
		    ch - MB + 22, labels[i]);
	}
	fprintf(f, "\n<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" "
	    "y1=\"%.1f\" y2=\"%.1f\"/>\n", ML, cw - MR, ch - MB, ch - MB);
}

/* Lines, one per series, over nper periods; v[s * nper + i]. */
static void
line_chart(FILE *f, size_t nper, char (*labels)[16], size_t ns,
    const double *v, const char *const *colors, const int *dashed,
    const char *title)
{
	double	 max = 0, top, pw = (cw - ML - MR) / (double)nper, x, y;
	size_t	 s, i;

	for (i = 0; i < ns * nper; i++)
		if (v[i] > max)
			max = v[i];
	chart_frame(f, nper, labels, max, &top, title);
	for (s = ns; s-- > 0;) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
		    "stroke-width=\"2.5\" stroke-linejoin=\"round\"%s "
		    "points=\"", colors[s], dashed[s] ?
		    " stroke-dasharray=\"6 4\"" : "");
		for (i = 0; i < nper; i++) {
			x = ML + pw * ((double)i + 0.5);
			y = MT + (ch - MT - MB) * (1 - v[s * nper + i] / top);
			fprintf(f, "%s%.1f,%.1f", i ? " " : "", x, y);
		}
		fputs("\"/>\n", f);
		if (nper <= 20)
			for (i = 0; i < nper; i++) {
				x = ML + pw * ((double)i + 0.5);
				y = MT + (ch - MT - MB) *
				    (1 - v[s * nper + i] / top);
				fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" "
				    "r=\"3.2\" fill=\"%s\"><title>%s: %.0f"
				    "</title></circle>", x, y, colors[s],
				    labels[i], v[s * nper + i]);
			}
	}
	fputs("</svg>\n", f);
}

/* Stacked bars over nper periods; v[s * nper + i]. */
static void
bar_chart(FILE *f, size_t nper, char (*labels)[16], size_t ns,
    const double *v, const char *const *colors, const char *title)
{
	double	 max = 0, top, pw = (cw - ML - MR) / (double)nper, x, y, h,
		 sum, bw;
	size_t	 s, i;

	for (i = 0; i < nper; i++) {
		for (sum = 0, s = 0; s < ns; s++)
			sum += v[s * nper + i];
		if (sum > max)
			max = sum;
	}
	chart_frame(f, nper, labels, max, &top, title);
	bw = pw * 0.7;
	if (bw > 48)
		bw = 48;
	for (i = 0; i < nper; i++) {
		x = ML + pw * ((double)i + 0.5) - bw / 2;
		y = ch - MB;
		for (s = 0; s < ns; s++) {
			if (v[s * nper + i] <= 0)
				continue;
			h = (ch - MT - MB) * v[s * nper + i] / top;
			y -= h;
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"%s\"><title>%s: %.0f"
			    "</title></rect>", x, y, bw, h, colors[s],
			    labels[i], v[s * nper + i]);
		}
		putc('\n', f);
	}
	fputs("</svg>\n", f);
}

static void
legend(FILE *f, size_t n, const char *const *names, const char *const *colors,
    const int *dashed)
{
	size_t	 i;

	fputs("<ul class=\"legend\">", f);
	for (i = 0; i < n; i++) {
		fprintf(f, "<li><span class=\"sw%s\" style=\"background:%s\">"
		    "</span>", dashed != NULL && dashed[i] ? " dash" : "",
		    colors[i]);
		html_strn(f, names[i], 48);
		fputs("</li>", f);
	}
	fputs("</ul>\n", f);
}

/* ------------------------------------------------------------------ */
/* Page                                                                 */

static const char css[] =
":root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#5d6676;"
"--line:#e3e6eb;--grid:#eceef2;--accent:#4e79a7;--bad:#e15759}\n"
"@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1d2128;"
"--ink:#e8ebf0;--mute:#9aa3b2;--line:#2e343e;--grid:#282d35}}\n"
"*{box-sizing:border-box}\n"
"body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 "
"system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif}\n"
"header,main,footer{max-width:1240px;margin:0 auto;padding:0 16px}\n"
"header{padding-top:22px}\n"
"h1{font-size:1.5rem;margin:0 0 2px}\n"
"h2{font-size:1.02rem;margin:0 0 10px}\n"
".sub{color:var(--mute);margin:0 0 16px}\n"
".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,"
"1fr));gap:12px;margin-bottom:14px}\n"
".tile{background:var(--card);border:1px solid var(--line);"
"border-radius:10px;padding:12px 14px}\n"
".tile b{display:block;font-size:1.65rem;line-height:1.2;"
"font-variant-numeric:tabular-nums}\n"
".tile span{color:var(--mute);font-size:.86rem}\n"
".tile.bad b{color:var(--bad)}\n"
".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,"
"460px),1fr));gap:14px}\n"
".card{background:var(--card);border:1px solid var(--line);"
"border-radius:10px;padding:14px 16px;margin-bottom:14px;min-width:0}\n"
".wide{grid-column:1/-1}\n"
".note{color:var(--mute);font-size:.84rem;margin:6px 0 0}\n"
"svg.chart{width:100%;height:auto;max-height:400px;display:block;"
"font-size:17px}\n"
"svg.chart.n{display:none}\n"
"svg .grid{stroke:var(--grid);stroke-width:1}\n"
"svg .axis{stroke:var(--mute);stroke-width:1}\n"
"svg text{fill:var(--mute)}\n"
"svg .yl{text-anchor:end}\n"
"svg .xl{text-anchor:middle}\n"
"svg .xe{text-anchor:end}\n"
".legend{list-style:none;padding:0;margin:8px 0 0;display:flex;"
"flex-wrap:wrap;gap:4px 16px;font-size:.88rem}\n"
".legend li{display:flex;align-items:center;gap:6px;min-width:0;"
"overflow-wrap:anywhere}\n"
".sw{display:inline-block;width:14px;height:4px;border-radius:2px;"
"flex:none}\n"
".sw.dash{height:3px;opacity:.75}\n"
"table{width:100%;border-collapse:collapse;font-size:.9rem}\n"
"th,td{text-align:left;padding:5px 6px;border-bottom:1px solid "
"var(--line);vertical-align:middle}\n"
"th{color:var(--mute);font-weight:600;font-size:.8rem;"
"text-transform:uppercase;letter-spacing:.03em}\n"
"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;"
"white-space:nowrap}\n"
"td.t{overflow-wrap:anywhere;min-width:7em}\n"
".bar{height:8px;border-radius:4px;background:var(--accent);"
"min-width:2px}\n"
"td.b{width:24%}\n"
".tag{display:inline-block;font-size:.74rem;padding:0 6px;"
"border-radius:8px;border:1px solid var(--line);color:var(--mute)}\n"
"footer{color:var(--mute);font-size:.84rem;padding-bottom:28px}\n"
"@media (max-width:560px){body{font-size:14px}.tile b{font-size:1.35rem}"
"th.b,td.b{display:none}th.h,td.h{display:none}.card{padding:12px}"
"svg.chart.w{display:none}svg.chart.n{display:block}}\n";

static void
tile(FILE *f, const char *cls, const char *label, const char *value)
{
	fprintf(f, "<div class=\"tile%s\"><b>%s</b><span>%s</span></div>\n",
	    cls, value, label);
}

static const char *
by_word(enum rby by)
{
	return by == RBY_WEEK ? "week" : by == RBY_MONTH ? "month" : "day";
}

/* A table row with a proportional bar. */
static void
bar_row(FILE *f, const char *kind, const char *name, const char *sub,
    unsigned long long v, unsigned long long max, unsigned long long all,
    const char *color)
{
	fputs("<tr>", f);
	if (kind != NULL)
		fprintf(f, "<td><span class=\"tag\">%s</span></td>", kind);
	fputs("<td class=\"t\">", f);
	html_strn(f, name[0] ? name : "(none)", TEXT_MAX);
	if (sub != NULL) {
		fputs(" <span class=\"tag\">", f);
		html_strn(f, sub[0] ? sub : "(none)", 40);
		fputs("</span>", f);
	}
	fprintf(f, "</td><td class=\"n\">");
	num(f, v);
	fprintf(f, "</td><td class=\"n h\">%.1f %%</td><td class=\"b\"><div "
	    "class=\"bar\" style=\"width:%.1f%%;background:%s\"></div></td>"
	    "</tr>\n", all ? 100.0 * (double)v / (double)all : 0,
	    max ? 100.0 * (double)v / (double)max : 0, color);
}

int
report_write_html(struct report *r, FILE *f)
{
	struct rcounts		 all;
	struct rtop		*top, *vtop;
	struct rmix		*mix;
	const struct rperiod	*p;
	const struct rrow_key	*rk;
	const struct rcounts	*rc;
	size_t			*pix, np, ntop, nvtop, nmix, i, j, s, ns;
	char			(*labels)[16], b[64], b2[64], first[16],
				 last[16];
	const char		*names[NSERIES + 1], *cols[NSERIES + 1];
	int			 dashed[NSERIES + 1], t;
	double			*v, errs;
	unsigned long long	 mx, dl, skipped = 0;
	int32_t			*pkeys;

	memset(&all, 0, sizeof(all));
	for (t = 0; t < RT__COUNT; t++) {
		int	 k;

		for (k = 0; k < RK__COUNT; k++)
			all.kind[k] += r->total[t].kind[k];
		all.redirected += r->total[t].redirected;
		all.proxied += r->total[t].proxied;
		all.proxied_bytes += r->total[t].proxied_bytes;
	}
	for (t = 1; t < RB__COUNT; t++)
		skipped += r->bad[t];
	dl = all.kind[RK_DOWNLOAD];

	pix = report_sorted_periods(r);
	np = r->periods.n;
	labels = xcalloc(np + 1, sizeof(*labels));
	pkeys = xcalloc(np + 1, sizeof(*pkeys));
	for (i = 0; i < np; i++) {
		pkeys[i] = *(int32_t *)fmap_key(&r->periods, pix[i]);
		short_label(r, pkeys[i], labels[i]);
	}

	if (np > 0) {
		report_period_label(r, pkeys[0], first);
		report_period_label(r, pkeys[np - 1], last);
	}
	fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
	    "lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta "
	    "name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\"/>\n<title>Downloads", f);
	if (np > 0)
		fprintf(f, " %s to %s", first, last);
	fprintf(f, " \xe2\x80\x94 scarf-gateway</title>\n<style>\n%s</style>\n"
	    "</head>\n<body>\n<header>\n<h1>Downloads</h1>\n<p class=\"sub\">",
	    css);
	if (np > 0)
		fprintf(f, "%s to %s, by %s", first, last, by_word(r->by));
	else
		fputs("no events", f);
	if (r->host != NULL) {
		fputs(" \xc2\xb7 host ", f);
		report_html_str(f, r->host);
	}
	if (r->package != NULL) {
		fputs(" \xc2\xb7 package ", f);
		report_html_str(f, r->package);
	}
	fputs("</p>\n</header>\n<main>\n<div class=\"tiles\">\n", f);
	snprintf(b, sizeof(b), "%llu", dl);
	short_num(b, sizeof(b), (double)dl);
	tile(f, "", "downloads", b);
	short_num(b, sizeof(b), r->range_hll[RU_ALL] != NULL ?
	    round(report_hll_count(r->range_hll[RU_ALL])) : 0);
	snprintf(b2, sizeof(b2), "unique clients (\xc2\xb1%.1f %%)",
	    RHLL_ERROR * 100);
	tile(f, "", b2, b);
	short_num(b, sizeof(b), (double)all.kind[RK_VIEW]);
	tile(f, "", "index and packument views", b);
	short_num(b, sizeof(b), (double)all.kind[RK_HIT]);
	tile(f, "", "pixel and telemetry hits", b);
	errs = r->events ? 100.0 * (double)all.kind[RK_ERROR] /
	    (double)r->events : 0;
	snprintf(b, sizeof(b), "%.1f %%", errs);
	snprintf(b2, sizeof(b2), "errors (%llu of %lu requests)",
	    (unsigned long long)all.kind[RK_ERROR], r->events);
	tile(f, errs >= 5 ? " bad" : "", b2, b);
	{
		char	 bb[32];
		FILE	*m = fmemopen(bb, sizeof(bb), "w");

		if (m != NULL) {
			bytes(m, all.proxied_bytes);
			fclose(m);
		} else
			snprintf(bb, sizeof(bb), "?");
		snprintf(b2, sizeof(b2), "proxied (%llu answers)",
		    (unsigned long long)all.proxied);
		tile(f, "", b2, bb);
	}
	fputs("</div>\n<div class=\"grid2\">\n", f);

	/* downloads over time, top packages */
	top = report_top(r, 0, &ntop);
	ns = 0;
	for (i = 0; i < ntop && ns < NSERIES; i++)
		if (top[i].c.kind[RK_DOWNLOAD] > 0)
			ns++;
	v = xcalloc((ns + 1) * (np + 1), sizeof(*v));
	for (i = 0; i < r->rows.n; i++) {
		rk = fmap_key(&r->rows, i);
		rc = fmap_val(&r->rows, i);
		if (rc->kind[RK_DOWNLOAD] == 0)
			continue;
		for (j = 0; j < np && pkeys[j] != rk->period; j++)
			;
		for (s = 0; s < ns; s++)
			if (top[s].type == rk->type && top[s].pkg == rk->pkg)
				break;
		v[s * np + j] += (double)rc->kind[RK_DOWNLOAD];
	}
	for (s = 0; s < ns; s++) {
		names[s] = strtab_get(&r->str, top[s].pkg);
		cols[s] = palette[s % NPAL];
		dashed[s] = 0;
	}
	names[ns] = "other packages";
	cols[ns] = "#8c8c8c";
	dashed[ns] = 1;
	for (i = 0, j = 0; i < np; i++)
		j |= v[ns * np + i] > 0;
	fputs("<section class=\"card\">\n<h2>Downloads over time, top "
	    "packages</h2>\n", f);
	if (np > 0 && dl > 0) {
		for (t = 0; t < 2; t++) {
			chart_form(t);
			line_chart(f, np, labels, ns + (j != 0), v, cols,
			    dashed, "downloads per period by package");
		}
		legend(f, ns + (j != 0), names, cols, dashed);
	} else
		fputs("<p class=\"note\">No downloads in this range.</p>\n", f);
	fputs("</section>\n", f);
	free(v);

	/* top packages and versions */
	fputs("<section class=\"card\">\n<h2>Top packages</h2>\n<table>"
	    "<thead><tr><th>type</th><th>package</th><th class=\"n\">"
	    "downloads</th><th class=\"n h\">share</th><th class=\"b\">"
	    "</th></tr></thead><tbody>\n", f);
	mx = ntop ? top[0].c.kind[RK_DOWNLOAD] : 0;
	for (i = 0; i < ntop && i < (size_t)r->top; i++) {
		if (top[i].c.kind[RK_DOWNLOAD] == 0)
			break;
		bar_row(f, type_names[top[i].type], strtab_get(&r->str,
		    top[i].pkg), NULL, top[i].c.kind[RK_DOWNLOAD], mx, dl,
		    palette[i < NSERIES ? i : NPAL - 1]);
	}
	fputs("</tbody></table>\n</section>\n", f);
	free(top);

	/* downloads by type, unique clients */
	{
		static const int dtypes[] = { RT_DOCKER, RT_PYTHON, RT_NPM,
		    RT_FILE };
		const char	*tn[4], *tc[4];

		v = xcalloc(4 * (np + 1), sizeof(*v));
		for (i = 0; i < np; i++) {
			p = fmap_val(&r->periods, pix[i]);
			for (s = 0; s < 4; s++)
				v[s * np + i] = (double)
				    p->c[dtypes[s]].kind[RK_DOWNLOAD];
		}
		for (s = 0; s < 4; s++) {
			tn[s] = type_names[dtypes[s]];
			tc[s] = palette[s];
		}
		fputs("<section class=\"card\">\n<h2>Downloads by type</h2>\n",
		    f);
		if (np > 0) {
			for (t = 0; t < 2; t++) {
				chart_form(t);
				bar_chart(f, np, labels, 4, v, tc,
				    "downloads per period by type");
			}
			legend(f, 4, tn, tc, NULL);
		}
		fputs("</section>\n", f);
		for (i = 0; i < np; i++) {
			p = fmap_val(&r->periods, pix[i]);
			v[i] = round(report_unique(p, RU_ALL));
		}
		fprintf(f, "<section class=\"card\">\n<h2>Unique clients per "
		    "%s</h2>\n", by_word(r->by));
		if (np > 0) {
			tc[0] = "#76b7b2";
			for (t = 0; t < 2; t++) {
				chart_form(t);
				bar_chart(f, np, labels, 1, v, tc,
				    "unique clients per period");
			}
		}
		fprintf(f, "<p class=\"note\">Distinct (address, User-Agent) "
		    "pairs that downloaded, estimated (\xc2\xb1%.1f %%, one "
		    "standard error). With hashed addresses they are counted "
		    "per day; by week or month a client counts once per "
		    "day.</p>\n</section>\n", RHLL_ERROR * 100);
		free(v);
	}

	vtop = report_top(r, 1, &nvtop);
	fputs("<section class=\"card\">\n<h2>Top versions</h2>\n<table>"
	    "<thead><tr><th>type</th><th>package and version</th><th "
	    "class=\"n\">downloads</th><th class=\"n h\">share</th><th "
	    "class=\"b\"></th></tr></thead><tbody>\n", f);
	mx = nvtop ? vtop[0].c.kind[RK_DOWNLOAD] : 0;
	for (i = 0; i < nvtop && i < (size_t)r->top; i++) {
		if (vtop[i].c.kind[RK_DOWNLOAD] == 0)
			break;
		bar_row(f, type_names[vtop[i].type], strtab_get(&r->str,
		    vtop[i].pkg), strtab_get(&r->str, vtop[i].ver),
		    vtop[i].c.kind[RK_DOWNLOAD], mx, dl, "#4e79a7");
	}
	fputs("</tbody></table>\n</section>\n", f);
	free(vtop);

	/* client mix */
	mix = report_client_mix(r, &nmix);
	fputs("<section class=\"card\">\n<h2>Client tools</h2>\n<table>"
	    "<thead><tr><th>client</th><th class=\"n\">downloads</th><th "
	    "class=\"n h\">share</th><th class=\"b\"></th></tr></thead>"
	    "<tbody>\n", f);
	mx = nmix ? mix[0].downloads : 0;
	for (i = 0; i < nmix && i < (size_t)r->top + 4; i++) {
		if (mix[i].major >= 0)
			snprintf(b, sizeof(b), "%s %d", mix[i].family,
			    mix[i].major);
		else
			snprintf(b, sizeof(b), "%s", mix[i].family);
		if (mix[i].downloads == 0)
			break;
		bar_row(f, NULL, b, NULL, mix[i].downloads, mx, dl,
		    "#f28e2b");
	}
	fputs("</tbody></table>\n", f);
	{
		unsigned long long	 ci = 0, cid = 0;

		for (i = 0; i < r->ci.n; i++) {
			ci += ((struct rreq *)fmap_val(&r->ci, i))->requests;
			cid += ((struct rreq *)fmap_val(&r->ci, i))->downloads;
		}
		fprintf(f, "<p class=\"note\">Downloads by client family and "
		    "major version, from the User-Agent. CI systems that say "
		    "so: ");
		num(f, ci);
		fputs(" requests, ", f);
		num(f, cid);
		fputs(" downloads.</p>\n</section>\n", f);
	}
	free(mix);

	/* errors */
	fputs("<section class=\"card\">\n<h2>Errors</h2>\n", f);
	v = xcalloc(2 * (np + 1), sizeof(*v));
	for (i = 0; i < np; i++) {
		p = fmap_val(&r->periods, pix[i]);
		v[i] = (double)p->status_class[4];
		v[np + i] = (double)p->status_class[5];
	}
	if (np > 0 && all.kind[RK_ERROR] > 0) {
		const char *en[2] = { "4xx", "5xx" };
		const char *ec[2] = { "#edc948", "#e15759" };

		for (t = 0; t < 2; t++) {
			chart_form(t);
			bar_chart(f, np, labels, 2, v, ec,
			    "errors per period");
		}
		legend(f, 2, en, ec, NULL);
	}
	free(v);
	fputs("<table><thead><tr><th>type</th><th>status</th><th class=\"n\">"
	    "answers</th></tr></thead><tbody>\n", f);
	{
		size_t	*ord = xcalloc(r->status.n + 1, sizeof(*ord)), ne = 0;

		/* the error statuses, most frequent first */
		for (i = 0; i < r->status.n; i++)
			if (((const struct rstatus_key *)fmap_key(&r->status,
			    i))->status >= 400)
				ord[ne++] = i;
		for (i = 1; i < ne; i++)
			for (j = i; j > 0 && *(uint64_t *)fmap_val(&r->status,
			    ord[j - 1]) < *(uint64_t *)fmap_val(&r->status,
			    ord[j]); j--) {
				s = ord[j];
				ord[j] = ord[j - 1];
				ord[j - 1] = s;
			}
		for (i = 0; i < ne && i < (size_t)r->top; i++) {
			const struct rstatus_key *sk = fmap_key(&r->status,
			    ord[i]);

			fprintf(f, "<tr><td><span class=\"tag\">%s</span></td>"
			    "<td>%u</td><td class=\"n\">",
			    type_names[sk->type], sk->status);
			num(f, *(uint64_t *)fmap_val(&r->status, ord[i]));
			fputs("</td></tr>\n", f);
		}
		free(ord);
	}
	fputs("</tbody></table>\n<p class=\"note\">4xx and 5xx answers are "
	    "never downloads.</p>\n</section>\n", f);

	/* delivery and referers */
	fputs("<section class=\"card\">\n<h2>Delivery</h2>\n<table><tbody>\n"
	    "<tr><td>redirected (3xx)</td><td class=\"n\">", f);
	num(f, all.redirected);
	fputs("</td></tr>\n<tr><td>proxied from an upstream</td><td "
	    "class=\"n\">", f);
	num(f, all.proxied);
	fputs("</td></tr>\n<tr><td>proxied bytes</td><td class=\"n\">", f);
	bytes(f, all.proxied_bytes);
	fputs("</td></tr>\n<tr><td>docker layer (blob) fetches</td><td "
	    "class=\"n\">", f);
	num(f, all.kind[RK_BLOB]);
	fputs("</td></tr>\n</tbody></table>\n", f);
	if (r->referers.n > 0) {
		size_t		*ord = xcalloc(r->referers.n, sizeof(*ord));
		uint64_t	 a, bv;

		for (i = 0; i < r->referers.n; i++)
			ord[i] = i;
		/* insertion sort, most first: referer lists are short */
		for (i = 1; i < r->referers.n; i++)
			for (j = i; j > 0; j--) {
				a = *(uint64_t *)fmap_val(&r->referers,
				    ord[j - 1]);
				bv = *(uint64_t *)fmap_val(&r->referers,
				    ord[j]);
				if (a >= bv)
					break;
				s = ord[j];
				ord[j] = ord[j - 1];
				ord[j - 1] = s;
			}
		fputs("<h2 style=\"margin-top:16px\">Top referers (file "
		    "rules)</h2>\n<table><thead><tr><th>referer</th><th>"
		    "package-id</th><th class=\"n\">downloads</th></tr>"
		    "</thead><tbody>\n", f);
		for (i = 0; i < r->referers.n && i < (size_t)r->top; i++) {
			const struct rref_key *k = fmap_key(&r->referers,
			    ord[i]);

			fputs("<tr><td class=\"t\">", f);
			html_strn(f, strtab_get(&r->str, k->referer),
			    TEXT_MAX);
			fputs("</td><td class=\"t\">", f);
			html_strn(f, strtab_get(&r->str, k->pkgid), 40);
			fputs("</td><td class=\"n\">", f);
			num(f, *(uint64_t *)fmap_val(&r->referers, ord[i]));
			fputs("</td></tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
		free(ord);
	}
	fputs("</section>\n</div>\n</main>\n<footer>\n<p>", f);
	num(f, r->lines);
	fputs(" lines read, ", f);
	num(f, r->events);
	fputs(" events counted, ", f);
	num(f, r->filtered);
	fputs(" outside the filters, ", f);
	num(f, skipped);
	fputs(" skipped as unreadable. A download is a docker manifest GET "
	    "(a pull by tag counted once), a python distribution file, an "
	    "npm tarball or a file-rule answer, each answered 2xx or 3xx "
	    "(README, \xe2\x80\x9c" "Download analytics\xe2\x80\x9d).</p>\n"
	    "<p>scarf-gateway report</p>\n</footer>\n</body>\n</html>\n", f);
	free(labels);
	free(pkeys);
	free(pix);
	return 0;
}
