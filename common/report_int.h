/*
 * The report's aggregates, shared by the reader (report.c) and the
 * writers (report_out.c: text, csv, json; report_html.c).  Every table is
 * keyed by interned strings and small integers, so memory grows with the
 * number of distinct keys, never with the number of lines.
 */
#ifndef REPORT_INT_H
#define REPORT_INT_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "revent.h"

/* Interned strings: id 0 is the empty string (and absent values). */
struct strtab {
	struct buf	 arena;		/* NUL-terminated strings */
	uint32_t	*off;		/* by id */
	uint32_t	*len;
	uint32_t	*slot;		/* open addressing: id + 1, 0 empty */
	size_t		 n, cap, nslot;
};
void		 strtab_init(struct strtab *);
void		 strtab_free(struct strtab *);
uint32_t	 strtab_intern(struct strtab *, const char *, size_t);
const char	*strtab_get(const struct strtab *, uint32_t);

/* A map from fixed-size keys (zero their padding) to fixed-size values. */
struct fmap {
	size_t		 ksz, vsz;
	size_t		 koff, isz;	/* value offset, item size: 8-aligned */
	unsigned char	*items;		/* n entries of key then value */
	uint32_t	*slot;		/* index + 1, 0 empty */
	size_t		 n, cap, nslot;
};
void		 fmap_init(struct fmap *, size_t ksz, size_t vsz);
void		 fmap_free(struct fmap *);
/* The value for key, created zeroed when absent; valid until the next
 * insertion. */
void		*fmap_get(struct fmap *, const void *key);
static inline void *
fmap_key(const struct fmap *m, size_t i)
{
	return m->items + i * m->isz;
}
static inline void *
fmap_val(const struct fmap *m, size_t i)
{
	return m->items + i * m->isz + m->koff;
}

enum rby { RBY_DAY, RBY_WEEK, RBY_MONTH };

/* Types with downloads, the index of their unique-client counters. */
enum { RU_ALL, RU_DOCKER, RU_NPM, RU_FILE, RU_PYTHON, RU__COUNT };

struct rcounts {
	uint64_t	 kind[RK__COUNT];
	uint64_t	 redirected;	/* 3xx answers */
	uint64_t	 proxied;	/* answers from an upstream */
	uint64_t	 proxied_bytes;
};

/* rows: one per period x type x host x package-id x package x version */
struct rrow_key {
	int32_t		 period;	/* first day of the period */
	uint32_t	 type, host, pkgid, pkg, ver;
};
struct rperiod {
	struct rcounts	 c[RT__COUNT];
	uint64_t	 status_class[6];	/* [s / 100] */
	struct rhll	*hll[RU__COUNT];	/* downloads; NULL: none */
};
struct rclient_key {
	int32_t		 period;
	uint32_t	 family;	/* strtab id */
	int32_t		 major;		/* -1 unknown */
};
struct rci_key {
	int32_t		 period;
	uint32_t	 ci;
};
struct rreq {			/* client mix and CI values */
	uint64_t	 requests, downloads;
};
struct rstatus_key {
	uint32_t	 type, status;
};
struct rfile_key {
	uint32_t	 type, pkgid, pkg, ver, file;
};
struct rref_key {
	uint32_t	 pkgid, referer;
};

struct rbadloc {
	const char	*file;
	unsigned long	 line;
	enum rbad	 why;
};
#define RBADLOC_MAX	5

struct report {
	/* options */
	enum rby	 by;
	long long	 since_ms, until_ms;	/* [since, until) */
	const char	*host, *package;
	int		 top;			/* rows in top-N lists */
	const char	*table;			/* csv/text: which table */

	/* input */
	unsigned long	 lines, events, filtered;
	unsigned long	 bad[RB__COUNT];
	struct rbadloc	 badloc[RBADLOC_MAX];
	size_t		 nbadloc;
	long long	 first_ms, last_ms;	/* of counted events */

	struct strtab	 str;
	struct fmap	 rows, periods, clients, ci, status, files, referers;
	struct rcounts	 total[RT__COUNT];
	struct rhll	*range_hll[RU__COUNT];

	/* docker pull attribution (report.c) */
	struct rpull	*pull;
};

/* A report with the default options (by day, no filters, top 10); free
 * with report_free().  report_add() counts one parsed event. */
void		 report_init(struct report *);
void		 report_free(struct report *);
void		 report_add(struct report *, const struct revent *);

/* Period label ("2025-03-01", or "2025-03" by month) into b (>= 11). */
void		 report_period_label(const struct report *, int32_t, char *);
/* Sorted row indices (period, type, host, package-id, package, version). */
size_t		*report_sorted_rows(const struct report *);
/* Period indices sorted by period. */
size_t		*report_sorted_periods(const struct report *);
double		 report_unique(const struct rperiod *, int which);
/* Sum of a kind over types. */
uint64_t	 report_sum(const struct rcounts *c, enum rkind k);

/* Downloads summed over periods and hosts, by (type, package) or, with
 * by_version, (type, package, version); sorted by downloads, most
 * first.  Caller frees. */
struct rtop {
	uint32_t	 type, pkg, ver;
	struct rcounts	 c;
};
struct rtop	*report_top(const struct report *, int by_version, size_t *n);

/* The client mix over the whole range, most downloads first.  Caller
 * frees; the family strings belong to the report. */
struct rmix {
	const char	*family;
	int		 major;
	uint64_t	 requests, downloads;
};
struct rmix	*report_client_mix(const struct report *, size_t *n);

int		 report_write_text(struct report *, FILE *);
int		 report_write_csv(struct report *, FILE *);
int		 report_write_json(struct report *, FILE *);
int		 report_write_html(struct report *, FILE *);

/* Escaping shared by the writers. */
void		 report_json_str(FILE *, const char *);
void		 report_html_str(FILE *, const char *);

#endif
