/*
 * The listening socket: --listen unix:PATH or tcp:HOST:PORT, systemd's
 * socket activation, or the socket a launcher put on fd 0.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "fcgi.h"
#include "xmalloc.h"

#define BACKLOG		1024


static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
	}
	return 0;
}

/*
 * unix:PATH.  A stale socket file (nobody accepts on it) is replaced; a
 * live one or any other file is an error.  The socket is created 0666
 * (umask 0111 around bind, so it never exists with another mode; we are
 * still single-threaded): restrict who may connect with the permissions
 * of its directory.
 */
static int
listen_unix(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd, probe, rc;
	mode_t			 old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, PROG ": --listen unix:%s: path too long\n",
		    path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, PROG ": --listen unix:%s: exists and "
			    "is not a socket\n", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0) {
			close(probe);
			fprintf(stderr, PROG ": --listen unix:%s: another "
			    "process is listening on it\n", path);
			return -1;
		}
		if (probe != -1)
			close(probe);
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return -1;
	}
	old = umask(0111);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		fprintf(stderr, PROG ": --listen unix:%s: %s\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	g.unix_path = xstrdup(path);
	if (listen(fd, BACKLOG) == -1) {
		fprintf(stderr, PROG ": --listen unix:%s: %s\n", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* tcp:HOST:PORT, HOST a name, an IPv4 address or a bracketed IPv6 one. */
static int
listen_tcp(const char *spec)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		*host, *port;
	int		 fd = -1, on = 1, rc, saved = 0;

	host = xstrdup(spec);
	port = strrchr(host, ':');
	*port++ = '\0';
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(stderr, PROG ": --listen tcp:%s: %s\n", spec,
		    gai_strerror(rc));
		goto done;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, BACKLOG) == 0) {
			if (!is_loopback(ai->ai_addr))
				fprintf(stderr, PROG ": warning: tcp:%s is "
				    "not a loopback address; never expose "
				    "the FastCGI port\n", spec);
			break;
		}
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		fprintf(stderr, PROG ": --listen tcp:%s: %s\n", spec,
		    strerror(saved));
done:
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	return fd;
}

/*
 * Chooses the listening socket: --listen; else
 * systemd socket activation (fd 3); else fd 0 when it is a listening
 * socket (mod_fcgid, lighttpd bin-path, spawn-fcgi, cgi-fcgi -start: each
 * puts the socket on fd 0 and execs us; mod_fcgid and lighttpd with
 * max-procs give every process a socket of its own, spawn-fcgi -F N and
 * cgi-fcgi -start one shared by all).
 * Returns the fd, or -1 after printing why.
 */
int
listener_open(void)
{
	const char	*pid, *nfds;
	int		 fd;

	if (g.config.listen != NULL) {
		g.own_listener = 1;
		if (strncmp(g.config.listen, "unix:", 5) == 0)
			return listen_unix(g.config.listen + 5);
		return listen_tcp(g.config.listen + 4);
	}
	pid = getenv("LISTEN_PID");
	nfds = getenv("LISTEN_FDS");
	if (pid != NULL && nfds != NULL && atol(pid) == (long)getpid() &&
	    atoi(nfds) >= 1) {
		fd = 3;		/* SD_LISTEN_FDS_START */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		return fd;
	}
	if (!FCGX_IsCGI())
		return 0;
	fprintf(stderr, PROG ": no socket to serve on: fd 0 is not a "
	    "listening socket; use --listen, spawn-fcgi or a web server that "
	    "starts FastCGI programs (see --help)\n");
	return -1;
}
