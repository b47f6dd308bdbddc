/*
 * Event log destinations (SPEC §13).
 *
 * A file is opened with O_APPEND and every line goes out in one write(2),
 * so lines from concurrent workers (and from several processes sharing
 * the file, as under mod_fcgid or spawn-fcgi -F) never interleave.  A
 * reopen (log rotation) swaps the descriptor under a write lock while
 * writers hold the read lock: writers never serialise against each other,
 * and none can write to a descriptor that is being closed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "logsink.h"
#include "xmalloc.h"

enum logsink_kind {
	LOGSINK_FILE,
	LOGSINK_STDERR,
	LOGSINK_STDOUT,
	LOGSINK_SYSLOG,
	LOGSINK_NONE
};

struct logsink {
	enum logsink_kind	 kind;
	char			*path;		/* FILE */
	int			 fd;		/* all but SYSLOG, NONE */
	pthread_rwlock_t	 lock;		/* guards fd */
};

static int
logsink_open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/*
 * Opens a destination: "stderr", "stdout", "syslog", "none" or a file path
 * (created 0640 when missing).  Returns the sink (the caller closes it), or
 * NULL with *err pointing to a static description of the failure.
 */
struct logsink *
logsink_open(const char *dest, const char **err)
{
	struct logsink	*ls;
	int		 fd = -1;
	enum logsink_kind kind;

	if (dest == NULL || *dest == '\0') {
		*err = "empty log destination";
		return NULL;
	}
	if (strcmp(dest, "stderr") == 0) {
		kind = LOGSINK_STDERR;
		fd = STDERR_FILENO;
	} else if (strcmp(dest, "stdout") == 0) {
		/* containers: the runtime collects fd 1; reopening
		 * /dev/stdout fails for a non-root user (the pipe belongs
		 * to the runtime) */
		kind = LOGSINK_STDOUT;
		fd = STDOUT_FILENO;
	} else if (strcmp(dest, "syslog") == 0)
		kind = LOGSINK_SYSLOG;
	else if (strcmp(dest, "none") == 0)
		kind = LOGSINK_NONE;
	else {
		kind = LOGSINK_FILE;
		if ((fd = logsink_open_file(dest)) == -1) {
			*err = strerror(errno);
			return NULL;
		}
	}
	ls = xcalloc(1, sizeof(*ls));
	ls->kind = kind;
	ls->fd = fd;
	ls->path = kind == LOGSINK_FILE ? xstrdup(dest) : NULL;
	/* the initializer, not pthread_rwlock_init(): that reads its
	 * default attributes from a page of libc a CGI request need not
	 * fault in */
	ls->lock = (pthread_rwlock_t)PTHREAD_RWLOCK_INITIALIZER;
	if (kind == LOGSINK_SYSLOG)
		openlog("scarf-gateway", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	return ls;
}

/*
 * write(2) until done.  A regular file opened with O_APPEND takes the
 * whole line in one call; the loop only matters for pipes and ttys
 * (stderr) and for EINTR.
 */
static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return;		/* nowhere left to report it */
		}
		p += w;
		n -= (size_t)w;
	}
}

/*
 * Writes one line (ending in LF).  Thread-safe.  Errors are dropped: a
 * full disk must not take requests down with it.
 */
void
logsink_write(struct logsink *ls, const char *line, size_t n)
{
	if (ls == NULL || n == 0)
		return;
	switch (ls->kind) {
	case LOGSINK_FILE:
		pthread_rwlock_rdlock(&ls->lock);
		if (ls->fd != -1)
			write_all(ls->fd, line, n);
		pthread_rwlock_unlock(&ls->lock);
		break;
	case LOGSINK_STDERR:
	case LOGSINK_STDOUT:
		/* a pipe takes at most PIPE_BUF bytes atomically: one writer
		 * at a time, so that long lines never interleave */
		pthread_rwlock_wrlock(&ls->lock);
		write_all(ls->fd, line, n);
		pthread_rwlock_unlock(&ls->lock);
		break;
	case LOGSINK_SYSLOG:
		/* one message per line, without its LF */
		if (line[n - 1] == '\n')
			n--;
		if (n > 0x7fffffff)
			n = 0x7fffffff;
		syslog(LOG_INFO, "%.*s", (int)n, line);
		break;
	case LOGSINK_NONE:
		break;
	}
}

/*
 * Reopens a file destination after rotation: the new file is opened
 * first, so a failure (the directory went away) keeps the old descriptor
 * and returns -1 with errno set.  A no-op returning 0 for the others.
 */
int
logsink_reopen(struct logsink *ls)
{
	int	 fd, old;

	if (ls == NULL || ls->kind != LOGSINK_FILE)
		return 0;
	if ((fd = logsink_open_file(ls->path)) == -1)
		return -1;
	pthread_rwlock_wrlock(&ls->lock);
	old = ls->fd;
	ls->fd = fd;
	pthread_rwlock_unlock(&ls->lock);
	if (old != -1)
		close(old);
	return 0;
}

/* Closes the sink; no writer may be running.  NULL is allowed. */
void
logsink_close(struct logsink *ls)
{
	if (ls == NULL)
		return;
	if (ls->kind == LOGSINK_FILE && ls->fd != -1)
		close(ls->fd);
	if (ls->kind == LOGSINK_SYSLOG)
		closelog();
	pthread_rwlock_destroy(&ls->lock);
	free(ls->path);
	free(ls);
}
