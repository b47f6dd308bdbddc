/*
 * The counters behind /-/metrics, shared by the processes of one gateway.
 *
 * A launcher may run several copies of the FastCGI program (spawn-fcgi -F,
 * lighttpd max-procs, mod_fcgid) and the CGI program runs one process per
 * request; /-/metrics must give the same totals whichever process answers.
 * So struct gw_stats (below) lives in a small file that every process
 * of the gateway maps (MAP_SHARED) and adds into with lock-free atomics.
 * The file, its trust rules and its lifetime are described at
 * metrics_attach() in metrics.c and in README.md ("Metrics").
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdatomic.h>
#include <sys/types.h>

/* Event types counted (enum gw_type, event.h, checked there). */
#define GW_NTYPES 10
/* Status codes counted one by one, and the slot of every other. */
#define GW_NCODES 16
/* gateway_request_duration_seconds: Prometheus's default buckets (upper
 * bounds in microseconds, metrics.c), the last slot counting the rest. */
#define GW_NBUCKETS 12
extern const long long gw_dur_buckets[GW_NBUCKETS - 1];
/*
 * Plain data, no pointers: metrics.c maps it into a file that every
 * process of the gateway shares, so its layout is part of the
 * file's format (METRICS_FILE's version).
 */
struct gw_stats {
	atomic_ulong	 requests[GW_NTYPES][GW_NCODES];	/* [type][code slot] */
	/* [type][bucket], not cumulative; sums in microseconds */
	atomic_ulong	 dur_bucket[GW_NTYPES][GW_NBUCKETS];
	atomic_ullong	 dur_sum_us[GW_NTYPES];
	/* in-flight requests of a process counting privately (the shared
	 * area keeps them per process, metrics.c) */
	atomic_long	 inflight;
	atomic_ulong	 upstream_connect_errors;
	atomic_ulong	 upstream_timeouts;
	atomic_ulong	 reloads_ok;
	atomic_ulong	 reloads_error;
	atomic_ulong	 npm_cache_hits;
	atomic_ulong	 npm_cache_misses;
	atomic_ulong	 proxy_bytes_spliced;	/* body bytes, relay.h */
	atomic_ulong	 proxy_bytes_copied;	/* through libcurl */
	/* when the source last confirmed the served manifest unchanged
	 * (a 304, the same body, an unchanged file): Unix seconds, or 0;
	 * /-/metrics reports the later of this and the manifest's load */
	atomic_llong	 manifest_confirmed;
};


/* The file name inside a state directory; the number is the layout's. */
#define METRICS_FILE	"metrics.v1"

/*
 * Maps the shared area at path, creating it (0600) when missing, and
 * takes a slot for this process's in-flight count.  unlink_last: the file
 * is removed when the last process attached to it detaches (the area of a
 * listening socket, which lives in /dev/shm); 0 for a state directory.
 * Returns the shared counters (valid until metrics_detach()), or NULL with
 * a static *err when the file cannot be trusted or used: the caller then
 * counts privately and warns once.  One area per process.
 */
struct gw_stats	*metrics_attach(const char *path, int unlink_last,
		    const char **err);
/*
 * Gives up the slot (and removes the file when unlink_last and nobody
 * else is attached); the counters stay mapped.  For a clean exit; a
 * process that dies just loses its slot, which the kernel releases with
 * its lock.
 */
void		 metrics_detach(void);
/*
 * The area's path for the FastCGI listening socket on fd: the socket
 * object's identity (st_dev, st_ino), which every process serving the
 * same socket shares, in /dev/shm, or NULL when fd is not a socket.
 * Owned by the caller.
 */
char		*metrics_socket_path(int fd);

/*
 * The counters a program should use: the area of state_dir (NULL: none,
 * --state-dir), else
 * that of the listening socket listen_fd (-1: none, CGI), else priv.
 * When the area cannot be used, one warning on stderr (prefixed with
 * prog) and priv.
 */
struct gw_stats	*metrics_open(const char *state_dir, int listen_fd,
		    struct gw_stats *priv, const char *prog);

/* A request begins (+1) or ends (-1): gateway_inflight_requests. */
void		 metrics_inflight(struct gw_stats *, int delta);
/* The in-flight requests of every live process of the area (or of st). */
long		 metrics_inflight_sum(const struct gw_stats *);
/* Records a finished request's duration in the histogram of its type. */
void		 metrics_observe(struct gw_stats *, int type, long long us);

#endif
