/*
 * scarf-gateway report: download analytics from event logs (README,
 * "Download analytics").  Reads plain or gzip-compressed logs (zlib reads
 * both), in the order of their first event, or standard input; counts each
 * event as report_classify() says (report_event.c) into tables keyed by
 * interned strings; hands the tables to a writer (report_out.c,
 * report_html.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "report.h"
#include "report_int.h"
#include "xmalloc.h"

#define PROG		"scarf-gateway report"
#define LINE_MAX_LEN	(1024 * 1024)	/* longer lines are skipped */
#define READ_CHUNK	(256 * 1024)
#define KEY_MAX		512		/* longer strings are cut in keys */

/* ------------------------------------------------------------------ */
/* Interned strings and fixed-key maps                                   */

static uint32_t
mix32(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

void
strtab_init(struct strtab *t)
{
	memset(t, 0, sizeof(*t));
	strtab_intern(t, "", 0);
}

void
strtab_free(struct strtab *t)
{
	buf_free(&t->arena);
	free(t->off);
	free(t->len);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static void
strtab_rehash(struct strtab *t)
{
	size_t	 i, j, mask;

	free(t->slot);
	t->nslot = t->nslot ? t->nslot * 2 : 1024;
	t->slot = xcalloc(t->nslot, sizeof(*t->slot));
	mask = t->nslot - 1;
	for (i = 0; i < t->n; i++) {
		j = mix32(report_hash(t->arena.p + t->off[i], t->len[i], 0)) &
		    mask;
		while (t->slot[j] != 0)
			j = (j + 1) & mask;
		t->slot[j] = (uint32_t)i + 1;
	}
}

/* The id of s[0..n), cut at KEY_MAX bytes (on a UTF-8 boundary). */
uint32_t
strtab_intern(struct strtab *t, const char *s, size_t n)
{
	size_t	 j, mask;
	uint32_t id;

	if (n > KEY_MAX) {
		n = KEY_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (t->n * 2 >= t->nslot)
		strtab_rehash(t);
	mask = t->nslot - 1;
	j = mix32(report_hash(s, n, 0)) & mask;
	while ((id = t->slot[j]) != 0) {
		id--;
		if (t->len[id] == n && memcmp(t->arena.p + t->off[id], s, n)
		    == 0)
			return id;
		j = (j + 1) & mask;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		t->off = xreallocarray(t->off, t->cap, sizeof(*t->off));
		t->len = xreallocarray(t->len, t->cap, sizeof(*t->len));
	}
	t->off[t->n] = (uint32_t)t->arena.n;
	t->len[t->n] = (uint32_t)n;
	buf_add(&t->arena, s, n);
	buf_addc(&t->arena, '\0');
	t->slot[j] = (uint32_t)t->n + 1;
	return (uint32_t)t->n++;
}

const char *
strtab_get(const struct strtab *t, uint32_t id)
{
	return id < t->n ? t->arena.p + t->off[id] : "";
}

void
fmap_init(struct fmap *m, size_t ksz, size_t vsz)
{
	memset(m, 0, sizeof(*m));
	m->ksz = ksz;
	m->vsz = vsz;
	/* values hold uint64_t and pointers: keep them 8-aligned */
	m->koff = (ksz + 7) & ~(size_t)7;
	m->isz = m->koff + ((vsz + 7) & ~(size_t)7);
}

void
fmap_free(struct fmap *m)
{
	free(m->items);
	free(m->slot);
	m->items = NULL;
	m->slot = NULL;
	m->n = m->cap = m->nslot = 0;
}

static void
fmap_rehash(struct fmap *m)
{
	size_t	 i, j, mask;

	free(m->slot);
	m->nslot = m->nslot ? m->nslot * 2 : 256;
	m->slot = xcalloc(m->nslot, sizeof(*m->slot));
	mask = m->nslot - 1;
	for (i = 0; i < m->n; i++) {
		j = mix32(report_hash(fmap_key(m, i), m->ksz, 1)) & mask;
		while (m->slot[j] != 0)
			j = (j + 1) & mask;
		m->slot[j] = (uint32_t)i + 1;
	}
}

void *
fmap_get(struct fmap *m, const void *key)
{
	size_t	 j, mask;
	uint32_t i;

	if (m->n * 2 >= m->nslot)
		fmap_rehash(m);
	mask = m->nslot - 1;
	j = mix32(report_hash(key, m->ksz, 1)) & mask;
	while ((i = m->slot[j]) != 0) {
		if (memcmp(fmap_key(m, i - 1), key, m->ksz) == 0)
			return fmap_val(m, i - 1);
		j = (j + 1) & mask;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->items = xreallocarray(m->items, m->cap, m->isz);
	}
	memcpy(fmap_key(m, m->n), key, m->ksz);
	memset(fmap_val(m, m->n), 0, m->vsz);
	m->slot[j] = (uint32_t)m->n + 1;
	return fmap_val(m, m->n++);
}

/* ------------------------------------------------------------------ */
/* Periods                                                              */

static void
civil_from_days(long long z, int *y, unsigned *m, unsigned *d)
{
	long long	 era, yy;
	unsigned	 doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (long long)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static long long
floordiv(long long a, long long b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The first day of the period holding ms: the day, the Monday of its ISO
 * 8601 week, or the first of its month. */
static int32_t
period_of(enum rby by, long long ms)
{
	long long	 day = floordiv(ms, 86400000LL);
	int		 y;
	unsigned	 m, d;

	switch (by) {
	case RBY_WEEK:
		/* 1970-01-01 was a Thursday: Monday is (day + 3) % 7 == 0 */
		return (int32_t)(day - (day + 3 - floordiv(day + 3, 7) * 7));
	case RBY_MONTH:
		civil_from_days(day, &y, &m, &d);
		return (int32_t)report_days_from_civil(y, m, 1);
	default:
		return (int32_t)day;
	}
}

void
report_period_label(const struct report *r, int32_t p, char *b)
{
	int		 y;
	unsigned	 m, d;

	civil_from_days(p, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = 0;
	if (r->by == RBY_MONTH)
		snprintf(b, 11, "%04d-%02u", y, m);
	else
		snprintf(b, 11, "%04d-%02u-%02u", y, m, d);
}

/* ------------------------------------------------------------------ */
/* Docker pull attribution                                              */

/*
 * docker and containerd pull by asking HEAD /v2/<image>/manifests/<tag>
 * and then GET /v2/<image>/manifests/<digest>; a multi-platform image adds
 * a second GET by digest for the platform's manifest.  Counting every
 * manifest GET would count one pull two or three times and file it under
 * a digest nobody recognises.  So:
 *
 * - a HEAD or GET of a tag, answered 2xx/3xx, remembers (client, image)
 *   -> tag, where the client is the (client-ip, User-Agent) pair;
 * - a GET by digest within PULL_WINDOW_MS after that, from the same
 *   client for the same image, is the pull of that tag: the first such GET
 *   after a HEAD counts one download of the tag, later ones in the window
 *   (and any after a GET by tag, which was itself counted) are "follow"
 *   fetches of the same pull, not downloads;
 * - a GET by digest with no such tag is a download of the digest.
 *
 * The memory is a 4-way set-associative table of PULL_SETS sets, the
 * least recently used entry of a full set replaced: bounded whatever the
 * log holds.  An entry lost that way (more than 4 clients of one set
 * pulling within a minute, about 16,000 at once overall) turns that
 * client's pull into a download of the digest, never into a lost count.
 */
#define PULL_WINDOW_MS	60000
#define PULL_SETS	4096
#define PULL_WAYS	4

struct rpull {
	uint64_t	 key;		/* 0: free */
	long long	 time_ms;
	uint32_t	 tag;
	int		 counted;
};

static struct rpull *
pull_find(struct report *r, uint64_t key, long long now, int create)
{
	struct rpull	*set, *e, *old;
	int		 w;

	if (key == 0)
		key = 1;
	set = r->pull + (key % PULL_SETS) * PULL_WAYS;
	old = set;
	for (w = 0; w < PULL_WAYS; w++) {
		e = set + w;
		if (e->key == key && now - e->time_ms <= PULL_WINDOW_MS &&
		    e->time_ms - now <= PULL_WINDOW_MS)
			return e;
		if (e->key == 0 || e->time_ms < old->time_ms ||
		    (old->key != 0 && now - e->time_ms > PULL_WINDOW_MS))
			old = e;
	}
	if (!create)
		return NULL;
	memset(old, 0, sizeof(*old));
	old->key = key;
	return old;
}

/* ------------------------------------------------------------------ */
/* Counting                                                             */

static uint32_t
intern(struct report *r, const struct rslice *s)
{
	return s->p != NULL ? strtab_intern(&r->str, s->p, s->n) : 0;
}

static int
slice_eq(const struct rslice *s, const char *z)
{
	return s->p != NULL && strlen(z) == s->n && memcmp(s->p, z, s->n) == 0;
}

static int
slice_caseeq(const struct rslice *s, const char *z)
{
	return s->p != NULL && strlen(z) == s->n &&
	    strncasecmp(s->p, z, s->n) == 0;
}

/* The last path segment: a file rule's file name. */
static struct rslice
basename_of(const struct rslice *path)
{
	struct rslice	 b = { NULL, 0 };
	size_t		 i;

	if (path->p == NULL)
		return b;
	for (i = path->n; i > 0 && path->p[i - 1] != '/'; i--)
		;
	b.p = path->p + i;
	b.n = path->n - i;
	return b;
}

/* The image of a docker event: its "image" key, else (older lines) from
 * the path "/v2/<image>/<manifests|blobs>/<ref>". */
static struct rslice
docker_image(const struct revent *ev)
{
	struct rslice	 s = ev->image;
	const char	*p = ev->path.p;
	size_t		 i;
	int		 k;

	if (s.p != NULL && s.n > 0)
		return s;
	s.p = NULL;
	s.n = 0;
	if (p == NULL || ev->path.n < 5 || memcmp(p, "/v2/", 4) != 0)
		return s;
	i = ev->path.n;
	for (k = 0; k < 2; k++) {	/* drop the last two segments */
		while (i > 4 && p[i - 1] != '/')
			i--;
		if (i <= 4)
			return s;
		i--;
	}
	if (i > 4) {
		s.p = p + 4;
		s.n = i - 4;
	}
	return s;
}

static void
add_hll(struct rhll **h, uint64_t x)
{
	if (*h == NULL)
		*h = xcalloc(1, sizeof(**h));
	report_hll_add(*h, x);
}

static int
type_slot(enum rtype t)
{
	switch (t) {
	case RT_DOCKER: return RU_DOCKER;
	case RT_NPM: return RU_NPM;
	case RT_FILE: return RU_FILE;
	case RT_PYTHON: return RU_PYTHON;
	default: return -1;
	}
}

static void
count(struct rcounts *c, enum rkind k, const struct revent *ev)
{
	c->kind[k]++;
	if (ev->status >= 300 && ev->status < 400)
		c->redirected++;
	if (ev->proxied) {
		c->proxied++;
		c->proxied_bytes += (uint64_t)ev->bytes;
	}
}

static int
wanted(const struct report *r, const struct revent *ev)
{
	struct rslice	 img;

	if (ev->time_ms < r->since_ms || ev->time_ms >= r->until_ms)
		return 0;
	if (r->host != NULL && !slice_caseeq(&ev->host, r->host))
		return 0;
	if (r->package != NULL) {
		img = ev->type == RT_DOCKER ? docker_image(ev) : ev->package;
		if (!slice_eq(&ev->package_id, r->package) &&
		    !slice_eq(&img, r->package))
			return 0;
	}
	return 1;
}

/* Counts one parsed event. */
void
report_add(struct report *r, const struct revent *ev)
{
	struct rrow_key		 rk;
	struct rclient_key	 ck;
	struct rci_key		 ik;
	struct rstatus_key	 sk;
	struct rfile_key	 fk;
	struct rref_key		 refk;
	struct rperiod		*per;
	struct rreq		*q;
	struct rpull		*pe;
	struct rslice		 name, ver, file;
	struct rua		 ua;
	enum rkind		 kind;
	uint64_t		 client, *np;
	int			 is_manifest, is_digest, slot;

	if (!wanted(r, ev)) {
		r->filtered++;
		return;
	}
	r->events++;
	if (r->events == 1 || ev->time_ms < r->first_ms)
		r->first_ms = ev->time_ms;
	if (r->events == 1 || ev->time_ms > r->last_ms)
		r->last_ms = ev->time_ms;
	kind = report_classify(ev, &is_manifest, &is_digest);

	memset(&rk, 0, sizeof(rk));
	rk.period = period_of(r->by, ev->time_ms);
	rk.type = ev->type;
	name = ev->package;
	ver = ev->version;
	file = ev->file_name;
	switch (ev->type) {
	case RT_DOCKER:
		name = docker_image(ev);
		ver = ev->reference;
		if (ver.p == NULL && name.p != NULL)	/* an older line */
			ver = basename_of(&ev->path);
		if (kind == RK_BLOB)
			ver.p = NULL;
		file.p = NULL;
		break;
	case RT_FILE:
		name = ev->package_id;
		ver = ev->var_version;
		file = basename_of(&ev->path);
		break;
	case RT_PIXEL:
	case RT_TELEMETRY:
		name = ev->package_id;
		ver.p = NULL;
		file.p = NULL;
		break;
	default:
		break;
	}

	/* a docker manifest GET by digest after a tag: see rpull above */
	client = report_hash(ev->client_ip.p, ev->client_ip.n, 7) ^
	    report_hash(ev->user_agent.p, ev->user_agent.n, 11);
	if (is_manifest && (kind == RK_DOWNLOAD || kind == RK_CHECK)) {
		uint64_t pk = client ^ report_hash(name.p, name.n, 13);

		if (!is_digest) {
			pe = pull_find(r, pk, ev->time_ms, 1);
			pe->time_ms = ev->time_ms;
			pe->tag = intern(r, &ver);
			pe->counted = kind == RK_DOWNLOAD;
		} else if (kind == RK_DOWNLOAD &&
		    (pe = pull_find(r, pk, ev->time_ms, 0)) != NULL) {
			if (pe->counted)
				kind = RK_FOLLOW;
			pe->counted = 1;
			pe->time_ms = ev->time_ms;
			rk.ver = pe->tag;
			goto attributed;
		}
	}
	rk.ver = intern(r, &ver);
attributed:
	rk.host = intern(r, &ev->host);
	rk.pkgid = intern(r, &ev->package_id);
	rk.pkg = intern(r, &name);

	count(&r->total[ev->type], kind, ev);
	per = fmap_get(&r->periods, &rk.period);
	count(&per->c[ev->type], kind, ev);
	per->status_class[ev->status / 100 < 6 ? ev->status / 100 : 0]++;
	if (ev->type != RT_NONE && ev->type != RT_CATCHALL &&
	    ev->type != RT_RESERVED)
		count(fmap_get(&r->rows, &rk), kind, ev);

	memset(&sk, 0, sizeof(sk));
	sk.type = ev->type;
	sk.status = (uint32_t)ev->status;
	np = fmap_get(&r->status, &sk);
	(*np)++;

	report_ua_parse(ev->user_agent.p, ev->user_agent.n, &ua);
	memset(&ck, 0, sizeof(ck));
	ck.period = rk.period;
	ck.family = strtab_intern(&r->str, ua.family, strlen(ua.family));
	ck.major = ua.major;
	q = fmap_get(&r->clients, &ck);
	q->requests++;
	q->downloads += kind == RK_DOWNLOAD;
	if (ua.ci != NULL) {
		memset(&ik, 0, sizeof(ik));
		ik.period = rk.period;
		ik.ci = strtab_intern(&r->str, ua.ci, strlen(ua.ci));
		q = fmap_get(&r->ci, &ik);
		q->requests++;
		q->downloads += kind == RK_DOWNLOAD;
	}
	if (kind != RK_DOWNLOAD)
		return;

	/* unique clients: distinct (client-ip, User-Agent) pairs */
	client = report_hash(ev->client_ip.p, ev->client_ip.n, 3);
	client = report_hash(ev->user_agent.p, ev->user_agent.n, client);
	add_hll(&per->hll[RU_ALL], client);
	add_hll(&r->range_hll[RU_ALL], client);
	if ((slot = type_slot(ev->type)) >= 0) {
		add_hll(&per->hll[slot], client);
		add_hll(&r->range_hll[slot], client);
	}
	if (file.p != NULL && file.n > 0) {
		memset(&fk, 0, sizeof(fk));
		fk.type = rk.type;
		fk.pkgid = rk.pkgid;
		fk.pkg = rk.pkg;
		fk.ver = rk.ver;
		fk.file = intern(r, &file);
		np = fmap_get(&r->files, &fk);
		(*np)++;
	}
	if (ev->type == RT_FILE && ev->referer.p != NULL &&
	    ev->referer.n > 0) {
		memset(&refk, 0, sizeof(refk));
		refk.pkgid = rk.pkgid;
		refk.referer = intern(r, &ev->referer);
		np = fmap_get(&r->referers, &refk);
		(*np)++;
	}
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

struct rinput {
	const char	*name;		/* "-" for standard input */
	long long	 first_ms;	/* of its first event; for ordering */
};

static void
note_bad(struct report *r, const char *file, unsigned long line,
    enum rbad why)
{
	r->bad[why]++;
	if (r->nbadloc < RBADLOC_MAX) {
		r->badloc[r->nbadloc].file = file;
		r->badloc[r->nbadloc].line = line;
		r->badloc[r->nbadloc].why = why;
		r->nbadloc++;
	}
}

static gzFile
input_open(const char *name)
{
	gzFile	 z;
	int	 fd;

	if (strcmp(name, "-") == 0)
		fd = dup(STDIN_FILENO);
	else
		fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	if ((z = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		return NULL;
	}
	gzbuffer(z, READ_CHUNK);
	return z;
}

/*
 * Feeds every line of one input to r (or, with probe, only parses lines
 * until the first good one and stores its time in *first_ms).  A line
 * longer than LINE_MAX_LEN is skipped up to its end; a last line without
 * its LF that does not parse is "truncated" (a crash mid-write).
 * Returns 0, or -1 on a read error (reported).
 */
static int
input_read(struct report *r, struct rparser *p, const char *name,
    int probe, long long *first_ms)
{
	gzFile		 z;
	char		*buf, *nl, *line;
	size_t		 have = 0, cap = READ_CHUNK + LINE_MAX_LEN, start, len;
	unsigned long	 lineno = 0;
	int		 got, skipping = 0, eof = 0, rc = 0, zerr;
	struct revent	 ev;
	enum rbad	 b;

	if ((z = input_open(name)) == NULL) {
		if (!probe)	/* said once, when it is read */
			fprintf(stderr, PROG ": %s: %s\n", name,
			    strerror(errno));
		return -1;
	}
	buf = xmalloc(cap + 1);
	while (!eof) {
		got = gzread(z, buf + have, (unsigned)(cap - have));
		if (got < 0) {
			fprintf(stderr, PROG ": %s: %s\n", name,
			    gzerror(z, &zerr));
			rc = -1;
			break;
		}
		if (got == 0)
			eof = 1;
		have += (size_t)got;
		start = 0;
		for (;;) {
			nl = memchr(buf + start, '\n', have - start);
			if (nl == NULL) {
				if (!eof && have - start < LINE_MAX_LEN)
					break;
				if (have == start)
					break;
				/* a line without LF: too long, or last */
				len = have - start;
				nl = buf + have;
			} else
				len = (size_t)(nl - (buf + start));
			line = buf + start;
			start = (size_t)(nl - buf) + (nl < buf + have);
			if (skipping) {
				skipping = nl == buf + have;
				continue;
			}
			lineno++;
			if (!probe)
				r->lines++;
			if ((nl == buf + have && !eof) || len > LINE_MAX_LEN) {
				/* the same verdict however the reads fell */
				skipping = nl == buf + have && !eof;
				if (!probe)
					note_bad(r, name, lineno, RB_TOO_LONG);
				continue;
			}
			if (len > 0 && line[len - 1] == '\r')
				len--;
			if (len == 0)
				continue;
			b = report_parse_line(p, line, len, &ev);
			if (b == RB_NOT_JSON && nl == buf + have)
				b = RB_TRUNCATED;
			if (probe) {
				if (b == RB_OK) {
					*first_ms = ev.time_ms;
					goto done;
				}
				continue;
			}
			if (b != RB_OK)
				note_bad(r, name, lineno, b);
			else
				report_add(r, &ev);
		}
		memmove(buf, buf + start, have - start);
		have -= start;
	}
done:
	free(buf);
	gzclose(z);
	return rc;
}

static int
cmp_input(const void *a, const void *b)
{
	const struct rinput	*x = a, *y = b;

	if (x->first_ms != y->first_ms)
		return x->first_ms < y->first_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: scarf-gateway report [--since DATE] [--until DATE] "
	    "[--host H]\n"
	    "           [--package P] [--by day|week|month] "
	    "[--format text|html|csv|json]\n"
	    "           [--table NAME] [--top N] [-o FILE] [LOG...]\n"
	    "  LOG: event logs, plain or gzip (no LOG: standard input)\n"
	    "  DATE: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC), today, "
	    "yesterday or -Nd\n"
	    "        (N days ago); --since is inclusive, --until exclusive "
	    "(a day: up to\n"
	    "        its end)\n"
	    "  --table (csv): rows (default), periods, totals, clients, ci, "
	    "status,\n"
	    "        files, referers\n"
	    "  --top N: rows in the top-N lists of text and html "
	    "(default 10)\n");
}

/* DATE as ms; a bare date given with end set means the next midnight. */
static int
parse_date(const char *s, int end, long long *ms)
{
	int		 y, m, d, h = 0, mi = 0, se = 0, n = 0;
	size_t		 len = strlen(s);
	long long	 today = floordiv((long long)time(NULL), 86400), ago;
	char		*e;

	/* today, yesterday, -Nd: whole UTC days, for cron and timers */
	ago = -1;
	if (strcmp(s, "today") == 0)
		ago = 0;
	else if (strcmp(s, "yesterday") == 0)
		ago = 1;
	else if (s[0] == '-' && s[1] >= '0' && s[1] <= '9') {
		ago = strtol(s + 1, &e, 10);
		if (strcmp(e, "d") != 0 || ago > 100000)
			return -1;
	}
	if (ago >= 0) {
		*ms = (today - ago + (end ? 1 : 0)) * 86400000LL;
		return 0;
	}

	if (len == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 &&
	    n == 10) {
		if (m < 1 || m > 12 || d < 1 || d > 31)
			return -1;
		*ms = report_days_from_civil(y, (unsigned)m, (unsigned)d) *
		    86400000LL + (end ? 86400000LL : 0);
		return 0;
	}
	if (len == 20 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &m, &d,
	    &h, &mi, &se, &n) == 6 && n == 20) {
		if (m < 1 || m > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
		    se > 60)
			return -1;
		*ms = (report_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 +
		    h * 3600 + mi * 60 + se) * 1000LL;
		return 0;
	}
	return -1;
}

void
report_init(struct report *r)
{
	memset(r, 0, sizeof(*r));
	r->since_ms = -0x7fffffffffffffffLL;
	r->until_ms = 0x7fffffffffffffffLL;
	r->top = 10;
	r->table = "rows";
	strtab_init(&r->str);
	fmap_init(&r->rows, sizeof(struct rrow_key), sizeof(struct rcounts));
	fmap_init(&r->periods, sizeof(int32_t), sizeof(struct rperiod));
	fmap_init(&r->clients, sizeof(struct rclient_key),
	    sizeof(struct rreq));
	fmap_init(&r->ci, sizeof(struct rci_key), sizeof(struct rreq));
	fmap_init(&r->status, sizeof(struct rstatus_key), sizeof(uint64_t));
	fmap_init(&r->files, sizeof(struct rfile_key), sizeof(uint64_t));
	fmap_init(&r->referers, sizeof(struct rref_key), sizeof(uint64_t));
	r->pull = xcalloc(PULL_SETS * PULL_WAYS, sizeof(*r->pull));
}

void
report_free(struct report *r)
{
	size_t		 i;
	int		 k;
	struct rperiod	*p;

	for (i = 0; i < r->periods.n; i++) {
		p = fmap_val(&r->periods, i);
		for (k = 0; k < RU__COUNT; k++)
			free(p->hll[k]);
	}
	for (k = 0; k < RU__COUNT; k++)
		free(r->range_hll[k]);
	strtab_free(&r->str);
	fmap_free(&r->rows);
	fmap_free(&r->periods);
	fmap_free(&r->clients);
	fmap_free(&r->ci);
	fmap_free(&r->status);
	fmap_free(&r->files);
	fmap_free(&r->referers);
	free(r->pull);
}

int
report_main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "host", required_argument, NULL, 'H' },
		{ "package", required_argument, NULL, 'p' },
		{ "by", required_argument, NULL, 'b' },
		{ "format", required_argument, NULL, 'f' },
		{ "table", required_argument, NULL, 't' },
		{ "top", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const tables[] = { "rows", "periods", "totals",
	    "clients", "ci", "status", "files", "referers" };
	struct report	 r;
	struct rparser	 p;
	struct rinput	*in;
	const char	*format = "text", *out = NULL;
	char		*tmp = NULL, *end;
	FILE		*f;
	size_t		 nin, i, k;
	int		 ch, rc = 0, readerr = 0;
	long		 v;

	report_init(&r);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
		case 'u':
			if (parse_date(optarg, ch == 'u', ch == 's' ?
			    &r.since_ms : &r.until_ms) == -1) {
				fprintf(stderr, PROG ": bad date: %s\n",
				    optarg);
				goto usage;
			}
			break;
		case 'H':
			r.host = optarg;
			break;
		case 'p':
			r.package = optarg;
			break;
		case 'b':
			if (strcmp(optarg, "day") == 0)
				r.by = RBY_DAY;
			else if (strcmp(optarg, "week") == 0)
				r.by = RBY_WEEK;
			else if (strcmp(optarg, "month") == 0)
				r.by = RBY_MONTH;
			else {
				fprintf(stderr, PROG ": --by day, week or "
				    "month\n");
				goto usage;
			}
			break;
		case 'f':
			if (strcmp(optarg, "text") != 0 &&
			    strcmp(optarg, "csv") != 0 &&
			    strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "html") != 0) {
				fprintf(stderr, PROG ": --format text, html, "
				    "csv or json\n");
				goto usage;
			}
			format = optarg;
			break;
		case 't':
			for (k = 0; k < sizeof(tables) / sizeof(tables[0]);
			    k++)
				if (strcmp(optarg, tables[k]) == 0)
					break;
			if (k == sizeof(tables) / sizeof(tables[0])) {
				fprintf(stderr, PROG ": unknown table: %s\n",
				    optarg);
				goto usage;
			}
			r.table = tables[k];
			break;
		case 'n':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > 1000) {
				fprintf(stderr, PROG ": --top 1 to 1000\n");
				goto usage;
			}
			r.top = (int)v;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			usage(stdout);
			report_free(&r);
			return 0;
		default:
			goto usage;
		}
	}
	if (r.since_ms >= r.until_ms) {
		fprintf(stderr, PROG ": --since must be before --until\n");
		goto usage;
	}

	/* inputs in the order of their first event, so that a pull whose
	 * lines straddle a rotation is read in order */
	report_parser_init(&p);
	nin = argc > optind ? (size_t)(argc - optind) : 1;
	in = xcalloc(nin, sizeof(*in));
	for (i = 0; i < nin; i++) {
		in[i].name = argc > optind ? argv[optind + (int)i] : "-";
		in[i].first_ms = 0x7fffffffffffffffLL;
		if (nin > 1 && strcmp(in[i].name, "-") != 0)
			(void)input_read(&r, &p, in[i].name, 1,
			    &in[i].first_ms);
	}
	qsort(in, nin, sizeof(*in), cmp_input);
	for (i = 0; i < nin; i++)
		if (input_read(&r, &p, in[i].name, 0, NULL) == -1)
			readerr = 1;
	free(in);
	report_parser_free(&p);

	k = 0;
	for (i = 0; i < RB__COUNT; i++)
		k += r.bad[i];
	if (k > 0) {
		fprintf(stderr, PROG ": %zu of %lu lines skipped (", k,
		    r.lines);
		for (i = 1, ch = 0; i < RB__COUNT; i++)
			if (r.bad[i] > 0)
				fprintf(stderr, "%s%lu %s", ch++ ? ", " : "",
				    r.bad[i], report_bad_name((enum rbad)i));
		fprintf(stderr, "), first at");
		for (i = 0; i < r.nbadloc; i++)
			fprintf(stderr, "%s %s:%lu", i ? "," : "",
			    r.badloc[i].file, r.badloc[i].line);
		fprintf(stderr, "\n");
	}

	/* write to a temporary file beside -o, renamed when complete */
	if (out != NULL && strcmp(out, "-") != 0) {
		int	 fd;

		tmp = xmalloc(strlen(out) + 16);
		sprintf(tmp, "%s.tmpXXXXXX", out);
		if ((fd = mkstemp(tmp)) == -1 ||
		    (f = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, PROG ": %s: %s\n", out,
			    strerror(errno));
			free(tmp);
			report_free(&r);
			return 1;
		}
		(void)fchmod(fd, 0644);
	} else
		f = stdout;
	if (strcmp(format, "json") == 0)
		rc = report_write_json(&r, f);
	else if (strcmp(format, "csv") == 0)
		rc = report_write_csv(&r, f);
	else if (strcmp(format, "html") == 0)
		rc = report_write_html(&r, f);
	else
		rc = report_write_text(&r, f);
	if (fflush(f) != 0 || ferror(f))
		rc = -1;
	if (f != stdout) {
		if (fclose(f) != 0)
			rc = -1;
		if (rc == 0 && rename(tmp, out) == -1)
			rc = -1;
		if (rc != 0) {
			fprintf(stderr, PROG ": %s: %s\n", out,
			    strerror(errno));
			unlink(tmp);
		}
		free(tmp);
	} else if (rc != 0)
		fprintf(stderr, PROG ": write error\n");
	report_free(&r);
	return rc != 0 ? 1 : readerr ? 2 : 0;

usage:
	usage(stderr);
	report_free(&r);
	return 2;
}
