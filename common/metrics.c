/*
 * The shared counter area (metrics.h): a file of fixed size holding a
 * header, struct gw_stats and one slot per attached process, mapped
 * MAP_SHARED by every process of the gateway.
 *
 * Counters are lock-free atomics (atomic_ulong must be lock-free, hence
 * address-free, for atomics in memory two processes map: C11 7.17.5,
 * checked below).  Liveness of a process's slot is an open file
 * description lock (F_OFD_SETLK) on the slot's bytes: the kernel drops it
 * when the process dies, however it dies, so a reader counts the in-flight
 * requests of live processes only, and a crashed process never leaves a
 * stuck gauge.  Attaching and the last detach run under flock(LOCK_EX) on
 * the file, so a process that creates, initialises or removes the file
 * never races another.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "xmalloc.h"

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
    "the shared area needs lock-free (address-free) atomics");

/* Prometheus's default buckets (client_golang DefBuckets), microseconds. */
const long long gw_dur_buckets[GW_NBUCKETS - 1] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
	2500000, 5000000, 10000000
};

#define AREA_MAGIC	0x5343524647574d31ULL	/* "SCRFGWM1" */
#define AREA_VERSION	1
#define AREA_SLOTS	1024	/* processes attached at once */

struct slot {
	atomic_long	 pid;		/* the owner's, while it lives */
	atomic_long	 inflight;
};

struct area {
	uint64_t	 magic;		/* AREA_MAGIC once initialised */
	uint32_t	 version;	/* AREA_VERSION */
	uint32_t	 size;		/* sizeof(struct area) */
	char		 boot_id[40];	/* /proc/sys/kernel/random/boot_id */
	atomic_llong	 created;	/* Unix seconds */
	struct gw_stats	 stats;
	struct slot	 slots[AREA_SLOTS];
};

/* This process's attachment: at most one. */
static struct {
	struct area	*map;
	int		 fd;
	int		 slot;
	int		 unlink_last;
	char		*path;
	pid_t		 pid;		/* the process that attached */
} me = { NULL, -1, -1, 0, NULL, 0 };

/* The kernel's boot id, or "" (not Linux, no /proc). */
static void
boot_id(char out[40])
{
	ssize_t	 n = 0;
	int	 fd;

	memset(out, 0, 40);
	if ((fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, out, 39);
	close(fd);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\0'))
		out[--n] = '\0';
	if (n < 0)
		out[0] = '\0';
}

/* Sets (F_WRLCK) or clears (F_UNLCK) our OFD lock on slot i's bytes with
 * cmd F_OFD_SETLK: 0, or -1 when another process holds it. */
static int
slot_lock(int fd, int i, int cmd, short type)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)(offsetof(struct area, slots) +
	    (size_t)i * sizeof(struct slot));
	fl.l_len = sizeof(struct slot);
	return fcntl(fd, cmd, &fl);
}

/*
 * 1 when another open file description (another process) holds slot i,
 * or any slot when i is -1.
 */
static int
slot_taken(int fd, int i)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)(offsetof(struct area, slots) +
	    (size_t)(i < 0 ? 0 : i) * sizeof(struct slot));
	fl.l_len = (off_t)((i < 0 ? AREA_SLOTS : 1) * sizeof(struct slot));
	if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
		return 0;
	return fl.l_type != F_UNLCK;
}

/*
 * Trust rules, checked on the open descriptor (never on the name again):
 * a regular file, owned by our effective user, writable by nobody else,
 * one link (not a hard link to something of ours planted by a user who
 * can write the directory), and the exact size of this layout or empty
 * (just created).  The name itself was opened with O_NOFOLLOW.
 */
static const char *
area_check(int fd, struct stat *st)
{
	if (fstat(fd, st) == -1)
		return "cannot stat the file";
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != geteuid())
		return "owned by another user";
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	if (st->st_nlink != 1)
		return "has more than one link";
	if (st->st_size != 0 && st->st_size != (off_t)sizeof(struct area))
		return "wrong size (another version or corrupt)";
	return NULL;
}

struct gw_stats *
metrics_attach(const char *path, int unlink_last, const char **err)
{
	struct area	*a = MAP_FAILED;
	struct stat	 st, named;
	char		 boot[40];
	int		 fd = -1, i, tries;

	if (me.map != NULL) {
		*err = "already attached";
		return NULL;
	}
	for (tries = 0; ; tries++) {
		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
		    O_NONBLOCK, 0600);
		if (fd == -1) {
			*err = errno == ELOOP ? "is a symbolic link" :
			    strerror(errno);
			return NULL;
		}
		if (flock(fd, LOCK_EX) == -1) {
			*err = strerror(errno);
			goto fail;
		}
		/* the last process of the area may have removed the name
		 * between our open and our lock: open it again */
		if (lstat(path, &named) == 0 && fstat(fd, &st) == 0 &&
		    named.st_dev == st.st_dev && named.st_ino == st.st_ino)
			break;
		close(fd);
		fd = -1;
		if (tries == 3) {
			*err = "the file keeps changing";
			return NULL;
		}
	}
	if ((*err = area_check(fd, &st)) != NULL)
		goto fail;
	if (st.st_size == 0 && ftruncate(fd, sizeof(struct area)) == -1) {
		*err = strerror(errno);
		goto fail;
	}
	a = mmap(NULL, sizeof(struct area), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	if (a == MAP_FAILED) {
		*err = strerror(errno);
		goto fail;
	}
	boot_id(boot);
	if (a->magic == 0) {
		/* new (or a creator died before it finished): set it up; we
		 * hold the lock, and nobody attaches to an unset area */
		memset(a, 0, sizeof(*a));
		a->version = AREA_VERSION;
		a->size = sizeof(struct area);
		memcpy(a->boot_id, boot, sizeof(a->boot_id));
		atomic_store(&a->created, (long long)time(NULL));
		atomic_thread_fence(memory_order_release);
		a->magic = AREA_MAGIC;
	} else if (a->magic != AREA_MAGIC || a->version != AREA_VERSION ||
	    a->size != sizeof(struct area)) {
		*err = "bad magic, version or size";
		goto fail;
	} else if (memcmp(a->boot_id, boot, sizeof(a->boot_id)) != 0 &&
	    !slot_taken(fd, -1)) {
		/* counted before the machine restarted: the gateway of that
		 * boot is gone, start again from zero */
		memset(&a->stats, 0, sizeof(a->stats));
		memset(a->slots, 0, sizeof(a->slots));
		memcpy(a->boot_id, boot, sizeof(a->boot_id));
		atomic_store(&a->created, (long long)time(NULL));
	}
	/* a slot: start where our pid points, to spread the search */
	me.slot = -1;
	for (i = 0; i < AREA_SLOTS; i++) {
		int k = (int)(((unsigned)getpid() + (unsigned)i) % AREA_SLOTS);

		if (slot_lock(fd, k, F_OFD_SETLK, F_WRLCK) == 0) {
			/* a dead owner's count goes with it */
			atomic_store(&a->slots[k].inflight, 0);
			atomic_store(&a->slots[k].pid, (long)getpid());
			me.slot = k;
			break;
		}
	}
	flock(fd, LOCK_UN);
	me.map = a;
	me.fd = fd;
	me.unlink_last = unlink_last;
	me.path = xstrdup(path);
	me.pid = getpid();
	return &a->stats;
fail:
	if (a != MAP_FAILED)
		munmap(a, sizeof(struct area));
	close(fd);
	return NULL;
}

void
metrics_detach(void)
{
	struct stat	 st, named;

	if (me.map == NULL)
		return;
	/* a forked child shares the parent's open file description, and
	 * with it the slot's lock: it only lets go of its mapping */
	if (getpid() != me.pid)
		goto unmap;
	flock(me.fd, LOCK_EX);
	if (me.slot >= 0) {
		atomic_store(&me.map->slots[me.slot].inflight, 0);
		atomic_store(&me.map->slots[me.slot].pid, 0);
		slot_lock(me.fd, me.slot, F_OFD_SETLK, F_UNLCK);
	}
	if (me.unlink_last && !slot_taken(me.fd, -1) &&
	    lstat(me.path, &named) == 0 && fstat(me.fd, &st) == 0 &&
	    named.st_dev == st.st_dev && named.st_ino == st.st_ino)
		unlink(me.path);
	/* explicitly: the mapping below keeps the open file description,
	 * and with it the lock, alive after close() */
	flock(me.fd, LOCK_UN);
unmap:
	/* The mapping stays: a thread of a stopping FastCGI program may
	 * still count a request into it (fcgi/control.c exits without joining
	 * idle workers).  Its in-flight changes then go to the area's unused
	 * private field, never to a slot someone else may hold. */
	close(me.fd);
	free(me.path);
	me.map = NULL;
	me.fd = me.slot = -1;
	me.path = NULL;
}

char *
metrics_socket_path(int fd)
{
	struct stat	 st;
	char		 p[128];

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return NULL;
	snprintf(p, sizeof(p), "/dev/shm/scarf-gateway.%lu.%lx.%lu."
	    METRICS_FILE, (unsigned long)geteuid(), (unsigned long)st.st_dev,
	    (unsigned long)st.st_ino);
	return xstrdup(p);
}

struct gw_stats *
metrics_open(const char *state_dir, int listen_fd,
    struct gw_stats *priv, const char *prog)
{
	struct gw_stats	*st;
	const char	*err;
	char		*path;
	size_t		 n;
	int		 unlink_last;

	if (state_dir != NULL) {
		n = strlen(state_dir) + sizeof("/" METRICS_FILE);
		path = xmalloc(n);
		snprintf(path, n, "%s/" METRICS_FILE, state_dir);
		/* 0700: nobody else needs it; an existing one is kept */
		if (mkdir(state_dir, 0700) == -1 && errno != EEXIST)
			fprintf(stderr, "%s: warning: --state-dir %s: %s\n",
			    prog, state_dir, strerror(errno));
		unlink_last = 0;
	} else if (listen_fd >= 0 &&
	    (path = metrics_socket_path(listen_fd)) != NULL)
		unlink_last = 1;
	else
		return priv;
	if ((st = metrics_attach(path, unlink_last, &err)) == NULL) {
		fprintf(stderr, "%s: warning: shared metrics %s: %s; this "
		    "process counts on its own\n", prog, path, err);
		st = priv;
	}
	free(path);
	return st;
}

static int
is_shared(const struct gw_stats *st)
{
	return me.map != NULL && st == &me.map->stats;
}

void
metrics_inflight(struct gw_stats *st, int delta)
{
	if (st == NULL)
		return;
	if (is_shared(st)) {
		if (me.slot >= 0)
			atomic_fetch_add(&me.map->slots[me.slot].inflight,
			    delta);
	} else
		atomic_fetch_add(&st->inflight, delta);
}

long
metrics_inflight_sum(const struct gw_stats *st)
{
	long	 n = 0, v;
	int	 i;

	if (st == NULL)
		return 0;
	if (!is_shared(st))
		return atomic_load(&st->inflight);
	for (i = 0; i < AREA_SLOTS; i++) {
		if ((v = atomic_load(&me.map->slots[i].inflight)) == 0)
			continue;
		/* a slot whose owner died keeps its count until reused */
		if (i == me.slot || slot_taken(me.fd, i))
			n += v;
	}
	return n < 0 ? 0 : n;
}

void
metrics_observe(struct gw_stats *st, int t, long long us)
{
	size_t	 b;

	if (st == NULL || t < 0 || t >= GW_NTYPES)
		return;
	if (us < 0)
		us = 0;
	for (b = 0; b < GW_NBUCKETS - 1; b++)
		if (us <= gw_dur_buckets[b])
			break;
	atomic_fetch_add(&st->dur_bucket[t][b], 1);
	atomic_fetch_add(&st->dur_sum_us[t], (unsigned long long)us);
}
