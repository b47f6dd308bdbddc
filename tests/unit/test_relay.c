/*
 * relay_splice() and relay_read() (common/relay.h) over real loopback TCP
 * connections: a writer thread plays the upstream, a reader thread the
 * web server, and the bytes and record framing that arrive are checked.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "relay.h"
#include "../tap.h"

/* The pattern byte at offset i: not periodic in any power of two. */
static unsigned char
pat(long long i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

/* A connected loopback TCP pair: *up is what the writer sends on, *down
 * what the relay reads (blocking, as a fresh socket is). */
static int
tcp_pair(int *up, int *down)
{
	struct sockaddr_in	 a;
	socklen_t		 len = sizeof(a);
	int			 l, one = 1;

	if ((l = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&a, &len) == -1 ||
	    (*up = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(*up, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    (*down = accept(l, NULL, NULL)) == -1) {
		close(l);
		return -1;
	}
	setsockopt(*up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
	return 0;
}

/* --- the upstream ------------------------------------------------------ */

struct writer {
	int		 fd;
	long long	 n;		/* pattern bytes to send */
	long long	 extra;		/* then this many more (next message) */
	int		 hold_ms;	/* then wait before closing */
	int		 reset;		/* close with RST instead of FIN */
	pthread_t	 t;
};

static void *
writer_main(void *arg)
{
	struct writer	*w = arg;
	unsigned char	 b[32768];
	long long	 i = 0, total = w->n + w->extra;
	size_t		 k, c;
	ssize_t		 s;

	while (i < total) {
		c = total - i > (long long)sizeof(b) ? sizeof(b) :
		    (size_t)(total - i);
		for (k = 0; k < c; k++)
			b[k] = pat(i + (long long)k);
		if ((s = write(w->fd, b, c)) <= 0)
			break;
		i += s;
	}
	if (w->hold_ms > 0) {
		struct timespec ts = { w->hold_ms / 1000,
		    (w->hold_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (w->reset) {
		struct linger lg = { 1, 0 };
		setsockopt(w->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(w->fd);
	return NULL;
}

static void
writer_start(struct writer *w, int fd, long long n, long long extra,
    int hold_ms)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->n = n;
	w->extra = extra;
	w->hold_ms = hold_ms;
	pthread_create(&w->t, NULL, writer_main, w);
}

/* --- the web server ---------------------------------------------------- */

struct reader {
	int		 fd;
	unsigned char	*got;
	size_t		 n, cap;
	long long	 stop_after;	/* close after this many bytes; -1 */
	pthread_t	 t;
};

static void *
reader_main(void *arg)
{
	struct reader	*r = arg;
	ssize_t		 s;

	for (;;) {
		if (r->n + 65536 > r->cap) {
			r->cap = r->cap * 2 + 65536;
			r->got = realloc(r->got, r->cap);
		}
		if ((s = read(r->fd, r->got + r->n, 65536)) <= 0)
			break;
		r->n += (size_t)s;
		if (r->stop_after >= 0 && (long long)r->n >= r->stop_after)
			break;
	}
	close(r->fd);
	return NULL;
}

static void
reader_start(struct reader *r, int fd, long long stop_after)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->stop_after = stop_after;
	pthread_create(&r->t, NULL, reader_main, r);
}

/* --- framing ----------------------------------------------------------- */

static size_t
frame8(void *arg, size_t len, unsigned char hdr[RELAY_HDRMAX])
{
	(void)arg;
	memcpy(hdr, "REC", 3);
	hdr[3] = (unsigned char)(len >> 24);
	hdr[4] = (unsigned char)(len >> 16);
	hdr[5] = (unsigned char)(len >> 8);
	hdr[6] = (unsigned char)len;
	hdr[7] = ';';
	return 8;
}

/*
 * Unframes b[0..n) (frame8 records) into the content; returns its
 * length, or -1 when a record is malformed, longer than rec_max, or cut
 * short (a header whose content did not all arrive).
 */
static long long
unframe(const unsigned char *b, size_t n, size_t rec_max, unsigned char *out,
    int *records)
{
	size_t		 i = 0, len;
	long long	 o = 0;

	*records = 0;
	while (i < n) {
		if (n - i < 8 || memcmp(b + i, "REC", 3) != 0 ||
		    b[i + 7] != ';')
			return -1;
		len = (size_t)b[i + 3] << 24 | (size_t)b[i + 4] << 16 |
		    (size_t)b[i + 5] << 8 | b[i + 6];
		if (len == 0 || len > rec_max || n - i - 8 < len)
			return -1;
		memcpy(out + o, b + i + 8, len);
		o += (long long)len;
		i += 8 + len;
		(*records)++;
	}
	return o;
}

/* Is b[0..n) the pattern from offset off on? */
static int
is_pattern(const unsigned char *b, long long n, long long off)
{
	long long	 i;

	for (i = 0; i < n; i++)
		if (b[i] != pat(off + i))
			return 0;
	return 1;
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


/*
 * relay_peer_took_all() after a peer that closes.  A pair of kind
 * "unix" or "tcp"; `sent` bytes written to the peer first; the peer
 * reads `read` of them, then closes; then, unless late is 0, `late`
 * more bytes go out and whatever write fails is what the function is
 * asked about (errno of the first failed write, tried for 2 s; EPIPE
 * when none fails).  Returns relay_peer_took_all()'s verdict.
 */
static int
took_all_after(int tcp, size_t sent, size_t read_n, size_t late, int *werr)
{
	static char	 buf[65536];
	int		 sp[2], i, verdict;
	size_t		 got = 0;
	ssize_t		 r;

	/* sp[0], the writer, is the accepted end, as the gateway's is */
	if (tcp ? tcp_pair(&sp[1], &sp[0]) == -1 :
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return -1;
	memset(buf, 'x', sizeof(buf));
	if (sent > 0 && write(sp[0], buf, sent) != (ssize_t)sent)
		return -1;
	while (got < read_n &&
	    (r = read(sp[1], buf, read_n - got)) > 0)
		got += (size_t)r;
	if (!tcp || read_n == sent)
		usleep(20000);	/* what is in flight arrives */
	close(sp[1]);
	usleep(20000);		/* the FIN or the reset arrives */
	*werr = EPIPE;
	for (i = 0; late > 0 && i < 200; i++) {
		if (write(sp[0], buf, late) == -1) {
			*werr = errno;
			break;
		}
		usleep(10000);
	}
	verdict = relay_peer_took_all(sp[0], *werr);
	close(sp[0]);
	return verdict;
}

#define MiB	(1024LL * 1024)
#define REC	65528

int
main(void)
{
	struct writer	 w;
	struct reader	 r;
	struct relay_to	 to;
	enum relay_end	 end;
	unsigned char	*content, tail[1000];
	long long	 got, n;
	double		 t0;
	int		 up, down, sp[2], pp[2], records, fd;
	char		 path[] = "/tmp/test_relay.XXXXXX";

	signal(SIGPIPE, SIG_IGN);
	content = malloc(8 * MiB);

	/* 1. 5 MiB framed, exactly, with the next message right behind:
	 * not one byte of it is taken */
	n = 5 * MiB + 12345;
	if (tcp_pair(&up, &down) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1) {
		printf("Bail out! no loopback sockets: %s\n", strerror(errno));
		return 1;
	}
	writer_start(&w, up, n, sizeof(tail), 0);
	reader_start(&r, sp[1], -1);
	to.fd = sp[0];
	to.rec_max = REC;
	to.frame = frame8;
	to.arg = NULL;
	got = relay_splice(down, &to, n, 5000, &end);
	is_int(got, n, "framed: every byte relayed");
	is_int(end, RELAY_DONE, "framed: RELAY_DONE");
	ok(relay_read(down, (char *)tail, sizeof(tail), 5000, &end) ==
	    (long long)sizeof(tail) && end == RELAY_DONE &&
	    is_pattern(tail, sizeof(tail), n),
	    "framed: the bytes after n are still in the socket, in order");
	close(sp[0]);
	pthread_join(r.t, NULL);
	pthread_join(w.t, NULL);
	is_int(unframe(r.got, r.n, REC, content, &records), n,
	    "framed: whole records of at most rec_max bytes, nothing else");
	ok(is_pattern(content, n, 0), "framed: the content is the upstream's");
	ok(records >= (int)(n / REC), "framed: %d records", records);
	close(down);
	free(r.got);

	/* 2. the upstream closes after 3 MiB of 6: RELAY_UPSTREAM, and what
	 * went out is whole records of the right bytes */
	n = 6 * MiB;
	if (tcp_pair(&up, &down) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return 1;
	writer_start(&w, up, 3 * MiB, 0, 0);
	reader_start(&r, sp[1], -1);
	to.fd = sp[0];
	got = relay_splice(down, &to, n, 5000, &end);
	is_int(end, RELAY_UPSTREAM, "upstream EOF: RELAY_UPSTREAM");
	is_int(got, 3 * MiB, "upstream EOF: all it sent went out");
	close(sp[0]);
	pthread_join(r.t, NULL);
	pthread_join(w.t, NULL);
	is_int(unframe(r.got, r.n, REC, content, &records), 3 * MiB,
	    "upstream EOF: no record cut short");
	ok(is_pattern(content, 3 * MiB, 0), "upstream EOF: the right bytes");
	close(down);
	free(r.got);

	/* 3. a reset instead of a FIN */
	if (tcp_pair(&up, &down) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return 1;
	memset(&w, 0, sizeof(w));
	w.fd = up;
	w.n = 2 * MiB;
	w.reset = 1;
	w.hold_ms = 100;
	pthread_create(&w.t, NULL, writer_main, &w);
	reader_start(&r, sp[1], -1);
	got = relay_splice(down, &to, 4 * MiB, 5000, &end);
	is_int(end, RELAY_UPSTREAM, "upstream reset: RELAY_UPSTREAM");
	ok(got <= 2 * MiB, "upstream reset: no more than was sent (%lld)",
	    got);
	close(sp[0]);
	pthread_join(r.t, NULL);
	pthread_join(w.t, NULL);
	is_int(unframe(r.got, r.n, REC, content, &records), got,
	    "upstream reset: whole records, as many bytes as returned");
	close(down);
	free(r.got);

	/* 4. the upstream goes silent after 100000 bytes: RELAY_STALL
	 * after the timeout (300 ms), not at the writer's close (2 s) */
	if (tcp_pair(&up, &down) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return 1;
	writer_start(&w, up, 100000, 0, 2000);
	reader_start(&r, sp[1], -1);
	t0 = now_s();
	got = relay_splice(down, &to, 2 * MiB, 300, &end);
	t0 = now_s() - t0;
	is_int(end, RELAY_STALL, "silent upstream: RELAY_STALL");
	is_int(got, 100000, "silent upstream: what came went out");
	ok(t0 < 1.5, "silent upstream: ended by the timeout (%.2f s)", t0);
	ok(fcntl(down, F_GETFL) & O_NONBLOCK,
	    "a blocking upstream socket was made non-blocking for poll()");
	close(sp[0]);
	pthread_join(r.t, NULL);
	close(down);
	pthread_join(w.t, NULL);
	free(r.got);

	/* 5. the web server goes away after 1 MiB: RELAY_CLIENT, EPIPE
	 * or ECONNRESET, and the relay stops reading the upstream */
	if (tcp_pair(&up, &down) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return 1;
	writer_start(&w, up, 8 * MiB, 0, 0);
	reader_start(&r, sp[1], MiB);
	got = relay_splice(down, &to, 8 * MiB, 5000, &end);
	is_int(end, RELAY_CLIENT, "reader gone: RELAY_CLIENT");
	ok(errno == EPIPE || errno == ECONNRESET,
	    "reader gone: errno says why (%s)", strerror(errno));
	ok(got < 8 * MiB, "reader gone: stopped early (%lld bytes)", got);
	close(sp[0]);
	close(down);		/* the writer's next write fails */
	pthread_join(r.t, NULL);
	pthread_join(w.t, NULL);
	free(r.got);

	/* 6. no framing, into a pipe */
	if (tcp_pair(&up, &down) == -1 || pipe(pp) == -1)
		return 1;
	writer_start(&w, up, 3 * MiB, 0, 0);
	reader_start(&r, pp[0], -1);
	to.fd = pp[1];
	to.rec_max = 0;
	to.frame = NULL;
	got = relay_splice(down, &to, 3 * MiB, 5000, &end);
	is_int(got, 3 * MiB, "unframed into a pipe: every byte");
	close(pp[1]);
	pthread_join(r.t, NULL);
	pthread_join(w.t, NULL);
	ok(r.n == 3 * MiB && is_pattern(r.got, 3 * MiB, 0),
	    "unframed into a pipe: the same bytes, nothing added");
	close(down);
	free(r.got);

	/* 7. into a file opened O_APPEND, which splice(2) refuses: copied */
	if ((fd = mkstemp(path)) == -1 || tcp_pair(&up, &down) == -1)
		return 1;
	close(fd);
	fd = open(path, O_WRONLY | O_APPEND);
	writer_start(&w, up, 2 * MiB, 0, 0);
	to.fd = fd;
	got = relay_splice(down, &to, 2 * MiB, 5000, &end);
	is_int(got, 2 * MiB, "O_APPEND file: every byte (copied)");
	is_int(end, RELAY_DONE, "O_APPEND file: RELAY_DONE");
	close(fd);
	pthread_join(w.t, NULL);
	close(down);
	fd = open(path, O_RDONLY);
	ok(read(fd, content, 3 * MiB) == 2 * MiB &&
	    is_pattern(content, 2 * MiB, 0), "O_APPEND file: the same bytes");
	close(fd);
	unlink(path);

	/* 8. relay_read: short and silent upstreams */
	if (tcp_pair(&up, &down) == -1)
		return 1;
	writer_start(&w, up, 500, 0, 0);
	got = relay_read(down, (char *)tail, sizeof(tail), 5000, &end);
	ok(got == 500 && end == RELAY_UPSTREAM && is_pattern(tail, 500, 0),
	    "relay_read: EOF after 500 of 1000: 500, RELAY_UPSTREAM");
	pthread_join(w.t, NULL);
	close(down);
	if (tcp_pair(&up, &down) == -1)
		return 1;
	writer_start(&w, up, 10, 0, 1000);
	got = relay_read(down, (char *)tail, sizeof(tail), 200, &end);
	ok(got == 10 && end == RELAY_STALL,
	    "relay_read: silence after 10 bytes: 10, RELAY_STALL");
	close(down);
	pthread_join(w.t, NULL);

	free(content);
	/* relay_peer_took_all(): the web server closed after the whole
	 * answer, or with some of it unread */
	{
		int	 e = 0, v;

		v = took_all_after(0, 5000, 5000, 8, &e);
		is_int(v, 1,
		    "unix: peer read all, then closed: took all (errno %d)",
		    e);
		v = took_all_after(0, 5000, 1000, 8, &e);
		is_int(v, 0,
		    "unix: peer closed with 4,000 bytes unread: not all "
		    "(errno %d)", e);
		v = took_all_after(0, 0, 0, 8, &e);
		is_int(v, 1,
		    "unix: nothing sent, peer closed: nothing lost");
		v = took_all_after(1, 5000, 5000, 0, &e);
		is_int(v, 1,
		    "tcp: peer read all, then closed: took all");
		v = took_all_after(1, 5000, 1000, 8, &e);
		is_int(v, 0,
		    "tcp: peer closed with 4,000 bytes unread: not all "
		    "(errno %d)", e);
		v = took_all_after(1, 0, 0, 1000, &e);
		is_int(v, 0,
		    "tcp: 1,000 bytes sent after the peer closed: not all "
		    "(errno %d)", e);
		is_int(relay_peer_took_all(-1, EPIPE), 0,
		    "a bad descriptor: cannot tell, so no");
	}

	return done_testing();
}
