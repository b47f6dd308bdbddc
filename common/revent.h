/*
 * The parts of the report (report.h) that its modules share: events read
 * back from the log (report_event.c), client families (report_ua.c) and
 * the HyperLogLog counter (report_hll.c).  report_int.h builds on these
 * without depending on the report program itself.
 */
#ifndef REVENT_H
#define REVENT_H

#include <stddef.h>
#include <stdint.h>

/* A (pointer, length) slice; p is NULL when the key was absent or null. */
struct rslice {
	const char	*p;
	size_t		 n;
};

/* The event types of SPEC §13, in the order of event.c. */
enum rtype {
	RT_NONE, RT_DOCKER, RT_NPM, RT_FILE, RT_PYTHON, RT_PIXEL,
	RT_TELEMETRY, RT_CATCHALL, RT_RESERVED, RT__COUNT
};

/*
 * One parsed event line.  The slices point into the line or into the
 * parser's scratch buffer (strings with escapes); both live until the next
 * report_parse_line() call on the same parser.
 */
struct revent {
	long long	 time_ms;	/* ms since 1970-01-01T00:00Z */
	int		 status;
	enum rtype	 type;
	int		 proxied;	/* 0 when absent */
	long long	 bytes;		/* 0 when absent */
	struct rslice	 host, method, path, package_id, user_agent, referer,
			 client_ip, image, reference, package, version,
			 file_name, var_version;	/* variables.version */
};

/* Why a line was skipped. */
enum rbad {
	RB_OK, RB_NOT_JSON, RB_WRONG_TYPE, RB_MISSING, RB_UNKNOWN_TYPE,
	RB_TRUNCATED, RB_TOO_LONG, RB__COUNT
};
const char	*report_bad_name(enum rbad);

struct rparser {
	char	*scratch;	/* unescaped strings; owned */
	size_t	 cap, used;
};
void		 report_parser_init(struct rparser *);
void		 report_parser_free(struct rparser *);
/*
 * Parses one event line s[0..n) (without its LF) into ev.  The line must
 * be one JSON object; keys of SPEC §13 with the wrong JSON type, a missing
 * time, status or type, or a type this version does not know make it bad.
 * Unknown keys are skipped (newer versions), missing optional keys read
 * as absent (older versions).  Never reads outside s[0..n).
 */
enum rbad	 report_parse_line(struct rparser *, const char *s, size_t n,
		    struct revent *ev);

/*
 * What an event is for the counts — the single definition of a download
 * (README, "What counts as a download").  An event answered 4xx/5xx is
 * RK_ERROR whatever it asked for.
 */
enum rkind {
	RK_DOWNLOAD,	/* docker manifest GET, python file, npm tarball,
			 * file rule */
	RK_VIEW,	/* python index page, npm packument */
	RK_CHECK,	/* docker HEAD of a manifest */
	RK_FOLLOW,	/* docker manifest GET that belongs to a counted pull */
	RK_BLOB,	/* docker blob */
	RK_HIT,		/* pixel, telemetry */
	RK_ERROR,	/* 4xx, 5xx */
	RK_OTHER,	/* everything else (catch-all, reserved, /v2/, 1xx) */
	RK__COUNT
};
const char	*report_kind_name(enum rkind);
/*
 * Classifies ev.  For docker manifests, *is_digest says whether the
 * reference is a digest (then the caller may attribute it to a tag, see
 * report.c, "pull attribution"); RK_DOWNLOAD is returned for every 2xx/3xx
 * manifest GET, RK_CHECK for a HEAD.
 */
enum rkind	 report_classify(const struct revent *ev, int *is_manifest,
		    int *is_digest);

/* Client families recognised from the User-Agent (report_ua.c). */
struct rua {
	const char	*family;	/* static: "pip", "docker", "other" */
	int		 major;		/* -1 when unknown */
	const char	*ci;		/* static CI name, "ci", or NULL */
};
void		 report_ua_parse(const char *ua, size_t n, struct rua *out);

/*
 * HyperLogLog (Flajolet et al. 2007, with the small-range correction of
 * Heule et al. 2013's linear counting): 2^RHLL_P one-byte registers,
 * relative standard error 1.04 / sqrt(2^RHLL_P), 1.63 % for p = 12.
 */
#define RHLL_P		12
#define RHLL_M		(1u << RHLL_P)
#define RHLL_ERROR	0.0163
struct rhll {
	uint8_t	 reg[RHLL_M];
};
void		 report_hll_add(struct rhll *, uint64_t hash);
double		 report_hll_count(const struct rhll *);
/* 64-bit hash of s[0..n), seeded: FNV-1a then a splitmix64 finaliser. */
uint64_t	 report_hash(const void *s, size_t n, uint64_t seed);

/* Days since 1970-01-01 of a proleptic Gregorian date (report_event.c). */
long long	 report_days_from_civil(long long y, unsigned m, unsigned d);

#endif
