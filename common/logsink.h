/*
 * Event log destinations (SPEC §13): a file (O_APPEND, one write per line,
 * reopened on request), stderr, stdout (FastCGI program only), syslog
 * (facility daemon) or none.
 */
#ifndef LOGSINK_H
#define LOGSINK_H

#include <stddef.h>

struct logsink;

/*
 * dest: a path, "stderr", "stdout", "syslog" or "none".  Returns NULL with
 * *err.
 */
struct logsink *logsink_open(const char *dest, const char **err);
/* Writes one line (which ends in LF) atomically.  Thread-safe. */
void	 logsink_write(struct logsink *, const char *line, size_t n);
/* Reopens a file destination (log rotation); no-op for the others. */
int	 logsink_reopen(struct logsink *);
void	 logsink_close(struct logsink *);

#endif
