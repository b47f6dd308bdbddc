/*
 * Zero-copy relay (relay.h): upstream socket -> pipe -> client side, with
 * splice(2).  Linux only; elsewhere relay_splice() reports "no pipe" and
 * the proxy copies as before.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/tcp.h>		/* struct tcp_info with tcpi_bytes_acked */
#endif

#include "relay.h"

#if defined(__linux__) && defined(SPLICE_F_MOVE)
#define HAVE_SPLICE	1
#endif

/*
 * The pipe between the two splices: each splice from the socket takes
 * what has arrived, up to this much, and sends it on as records of at
 * most 64 KiB.  1 MiB is what an unprivileged process may have
 * (/proc/sys/fs/pipe-max-size, by default); when it is refused (the
 * per-user pipe-user-pages-soft limit), the default 64 KiB pipe works
 * too.  The pages are the socket buffers' own, not copies: kernel memory
 * that the upstream's TCP window would hold anyway.  Against 256 KiB, one
 * paired run of tests/bench/proxy_bench.sh gave 1.10-1.16x of nginx
 * proxy_pass instead of 0.97-1.10x: within the noise, and no worse.
 */
#define RELAY_PIPE	(1024 * 1024)

/* Waits for upstream data: 1 ready (or EOF/error to read), 0 timeout. */
static int
wait_in(int fd, int timeout_ms)
{
	struct pollfd	 p;
	int		 rc;

	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc == -1 && errno == EINTR);
	return rc == 0 ? 0 : 1;
}

/* The waits are poll()'s, with the timeout. */
static void
nonblock(int fd)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) != -1 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* All of p[0..n) to a blocking fd; 0 or -1. */
static int
put_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

#ifdef HAVE_SPLICE
/*
 * Moves n bytes from the pipe's read end to fd; returns how many moved.
 * Where fd takes no splice (EINVAL: a file opened O_APPEND, a terminal),
 * they are copied through a buffer, and *copy says so for the next time.
 */
static size_t
drain(int pr, int fd, size_t n, int more, int *copy)
{
	unsigned char	 b[16 * 1024];
	size_t		 done = 0;
	ssize_t		 s;

	while (done < n) {
		if (!*copy) {
			s = splice(pr, NULL, fd, NULL, n - done,
			    SPLICE_F_MOVE | (more ? SPLICE_F_MORE : 0));
			if (s == -1 && errno == EINVAL && done == 0) {
				*copy = 1;
				continue;
			}
		} else {
			s = read(pr, b, n - done < sizeof(b) ? n - done :
			    sizeof(b));
			if (s > 0 && put_all(fd, b, (size_t)s) == -1)
				break;	/* what was read is lost: client
					 * side failed anyway */
		}
		if (s == -1 && errno == EINTR)
			continue;
		if (s <= 0)
			break;
		done += (size_t)s;
	}
	return done;
}

long long
relay_splice(int from, const struct relay_to *to, long long n,
    int timeout_ms, enum relay_end *end)
{
	unsigned char	 hdr[RELAY_HDRMAX];
	long long	 out = 0;
	ssize_t		 got;
	size_t		 cap, want, c, h, moved;
	int		 p[2], rc, copy = 0, e;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	rc = fcntl(p[1], F_SETPIPE_SZ, RELAY_PIPE);
	cap = rc > 0 ? (size_t)rc : 64 * 1024;
	nonblock(from);
	*end = RELAY_DONE;
	while (out < n) {
		want = n - out > (long long)cap ? cap : (size_t)(n - out);
		got = splice(from, NULL, p[1], NULL, want,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1 && errno == EAGAIN) {
			if (!wait_in(from, timeout_ms)) {
				*end = RELAY_STALL;
				break;
			}
			continue;
		}
		if (got <= 0) {
			*end = RELAY_UPSTREAM;
			break;
		}
		/* the pipe holds got bytes: out as whole records */
		while (got > 0) {
			c = to->rec_max > 0 && (size_t)got > to->rec_max ?
			    to->rec_max : (size_t)got;
			h = to->frame != NULL ? to->frame(to->arg, c, hdr) : 0;
			if (h > 0 && put_all(to->fd, hdr, h) == -1) {
				*end = RELAY_CLIENT;
				goto done;
			}
			moved = drain(p[0], to->fd, c,
			    out + (long long)c < n, &copy);
			out += (long long)moved;
			got -= (ssize_t)moved;
			if (moved < c) {
				*end = RELAY_CLIENT;
				goto done;
			}
		}
	}
done:
	e = errno;		/* the caller's to report */
	close(p[0]);
	close(p[1]);
	errno = e;
	return out;
}
#else
long long
relay_splice(int from, const struct relay_to *to, long long n,
    int timeout_ms, enum relay_end *end)
{
	(void)from;
	(void)to;
	(void)n;
	(void)timeout_ms;
	*end = RELAY_CLIENT;
	(void)put_all;
	return -1;
}
#endif

long long
relay_read(int from, char *buf, size_t n, int timeout_ms,
    enum relay_end *end)
{
	size_t	 done = 0;
	ssize_t	 r;

	*end = RELAY_DONE;
	nonblock(from);
	while (done < n) {
		r = read(from, buf + done, n - done);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN) {
			if (!wait_in(from, timeout_ms)) {
				*end = RELAY_STALL;
				break;
			}
			continue;
		}
		if (r <= 0) {
			*end = RELAY_UPSTREAM;
			break;
		}
		done += (size_t)r;
	}
	return (long long)done;
}

/*
 * relay.h.  How a peer that closed is told from one that dropped bytes
 * (Linux):
 *
 * Unix socket: a peer that closes with unread bytes in its receive queue
 * sets ECONNRESET as the pending error of this end (af_unix.c,
 * unix_release_sock); one that read everything leaves none.  The write
 * that failed reports EPIPE either way (this end is shut down first),
 * and leaves the pending error for SO_ERROR.
 *
 * TCP: a peer that closes with unread bytes sends a reset instead of a
 * FIN (RFC 2525 §2.17), and the next write fails with ECONNRESET.  One
 * that closed cleanly answers later bytes with a reset too, and the write
 * after that fails with EPIPE, so EPIPE alone does not tell whether those
 * later bytes were the END_REQUEST or part of the answer: the connection's
 * counters do (RFC 4898 tcpEStatsAppHCThruOctetsAcked and
 * tcpEStatsPerfHCDataOctetsOut): every byte sent was acknowledged by the
 * peer, which then read them all, or it would have reset.  A byte sent
 * twice (a retransmission) counts twice in bytes_sent: the answer is then
 * called undelivered, the old, safe verdict.  On the end that connected,
 * bytes_acked also counts its SYN (measured: 1 more): fd must be an
 * accepted connection, as the gateway's are.
 */
int
relay_peer_took_all(int fd, int err)
{
#ifdef __linux__
	struct sockaddr_storage	 ss;
	struct tcp_info		 ti;
	socklen_t		 len;
	int			 soerr = 0;

	if (err != EPIPE)
		return 0;
	len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1 ||
	    soerr == ECONNRESET)
		return 0;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_UNIX)
		return 1;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return 0;
	memset(&ti, 0, sizeof(ti));
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_sent) +
	    sizeof(ti.tcpi_bytes_sent))
		return 0;
	return ti.tcpi_bytes_acked == ti.tcpi_bytes_sent;
#else
	(void)fd;
	(void)err;
	return 0;
#endif
}
