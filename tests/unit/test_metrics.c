/*
 * The shared counter area (common/metrics.c): what it refuses to trust
 * (a symbolic link, another owner, wrong size, bad magic, a group-writable
 * file, a second link, a FIFO), that two processes add into one area, that
 * a dead process's in-flight requests stop counting, and that the last
 * process of a socket's area removes it.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "metrics.h"
#include "../tap.h"

static char	 dir[] = "/tmp/test_metrics.XXXXXX";

/* dir/name, in one of two static buffers (two may be in use at once). */
static char *
path_of(const char *name)
{
	static char	 p[2][256];
	static int	 k;

	k = !k;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

/* Writes n bytes of byte c to a new file (mode 0600). */
static void
make_file(const char *p, size_t n, int c)
{
	char	*b = malloc(n + 1);
	int	 fd;

	memset(b, c, n);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, b, n) != (ssize_t)n)
		perror(p);
	close(fd);
	free(b);
}

/* The size of a good area: attach once to a fresh file and look. */
static off_t
area_size(void)
{
	struct stat	 st;
	const char	*err;

	if (metrics_attach(path_of("sizer"), 0, &err) == NULL)
		return 0;
	metrics_detach();
	if (stat(path_of("sizer"), &st) == -1)
		return 0;
	return st.st_size;
}

/* Attach must fail with an error containing want; a warning, no crash. */
static void
refused(int line, const char *p, const char *want, const char *name)
{
	struct gw_stats	*st;
	const char	*err = NULL;

	st = metrics_attach(p, 0, &err);
	ok_at(line, st == NULL && err != NULL && strstr(err, want) != NULL,
	    "%s: refused (%s)", name, err != NULL ? err : "accepted");
	if (st != NULL)
		metrics_detach();
}

int
main(void)
{
	struct gw_stats	*st, *st2;
	const char	*err;
	struct stat	 sb;
	off_t		 size;
	pid_t		 pid;
	int		 fds[2], status, fd;
	char		 c, *p;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	size = area_size();
	ok(size > 0, "a new area is created with its size (%lld)",
	    (long long)size);
	ok(stat(path_of("sizer"), &sb) == 0 && (sb.st_mode & 0777) == 0600,
	    "created 0600");

	/* --- what is not trusted ------------------------------------- */
	make_file(path_of("target"), (size_t)size, 0);
	symlink(path_of("target"), path_of("link"));
	refused(__LINE__, path_of("link"), "symbolic link", "symlink");
	make_file(path_of("short"), 100, 0);
	refused(__LINE__, path_of("short"), "wrong size", "wrong size");
	make_file(path_of("long"), (size_t)size + 4096, 0);
	refused(__LINE__, path_of("long"), "wrong size", "too long");
	make_file(path_of("magic"), (size_t)size, 0x5a);
	refused(__LINE__, path_of("magic"), "bad magic", "bad magic");
	make_file(path_of("gw"), (size_t)size, 0);
	chmod(path_of("gw"), 0660);
	refused(__LINE__, path_of("gw"), "writable by group",
	    "group-writable");
	make_file(path_of("owner"), (size_t)size, 0);
	if (geteuid() == 0) {
		if (chown(path_of("owner"), 4242, 4242) == -1)
			perror("chown");
		refused(__LINE__, path_of("owner"), "another user",
		    "wrong owner");
	} else
		ok(1, "# SKIP wrong owner: needs root to give a file away");
	make_file(path_of("hard"), (size_t)size, 0);
	link(path_of("hard"), path_of("hard2"));
	refused(__LINE__, path_of("hard"), "more than one link", "hard link");
	mkfifo(path_of("fifo"), 0600);
	refused(__LINE__, path_of("fifo"), "not a regular file", "FIFO");
	refused(__LINE__, dir, "", "a directory");
	/* after all that, a good one still works */
	st = metrics_attach(path_of("good"), 0, &err);
	ok(st != NULL, "a good area attaches after refusals");

	/* --- two processes, one area --------------------------------- */
	gw_stats_count(st, GW_T_FILE, 307);
	metrics_inflight(st, 1);
	metrics_observe(st, GW_T_FILE, 3000);	/* 3 ms: the first bucket */
	metrics_observe(st, GW_T_FILE, 20000000);	/* 20 s: +Inf */
	if (pipe(fds) == -1)
		return 99;
	if ((pid = fork()) == 0) {
		/* the child is a process of its own: a fresh attach */
		metrics_detach();
		st2 = metrics_attach(path_of("good"), 0, &err);
		if (st2 == NULL)
			_exit(1);
		gw_stats_count(st2, GW_T_FILE, 307);
		gw_stats_count(st2, GW_T_DOCKER, 200);
		metrics_inflight(st2, 2);
		(void)!write(fds[1], "x", 1);
		pause();	/* killed below: never detaches */
		_exit(0);
	}
	close(fds[1]);
	ok(read(fds[0], &c, 1) == 1, "the child attached and counted");
	is_int(atomic_load(&st->requests[GW_T_FILE][3]), 2,
	    "both processes' 307s in one counter");
	ok(gw_stat_codes[3] == 307, "slot 3 counts 307");
	is_int(atomic_load(&st->requests[GW_T_DOCKER][0]), 1,
	    "the child's docker 200");
	is_int(metrics_inflight_sum(st), 3, "in flight: 1 here + 2 there");
	is_int(atomic_load(&st->dur_bucket[GW_T_FILE][0]), 1,
	    "3 ms in the 5 ms bucket");
	is_int(atomic_load(&st->dur_bucket[GW_T_FILE][GW_NBUCKETS - 1]), 1,
	    "20 s in +Inf");
	is_int(atomic_load(&st->dur_sum_us[GW_T_FILE]), 20003000,
	    "duration sum in microseconds");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	is_int(metrics_inflight_sum(st), 1,
	    "a killed process's in-flight requests no longer count");
	is_int(atomic_load(&st->requests[GW_T_FILE][3]), 2,
	    "its counts stay");
	metrics_inflight(st, -1);
	metrics_detach();
	ok(access(path_of("good"), F_OK) == 0,
	    "a state directory's area stays after the last detach");
	st = metrics_attach(path_of("good"), 0, &err);
	is_int(st != NULL ? (long long)atomic_load(
	    &st->requests[GW_T_FILE][3]) : -1, 2,
	    "a restarted process finds the totals");
	metrics_detach();

	/* --- a socket's area goes with its last process --------------- */
	st = metrics_attach(path_of("sock"), 1, &err);
	ok(st != NULL, "a socket's area attaches");
	if ((pid = fork()) == 0) {
		metrics_detach();
		if (metrics_attach(path_of("sock"), 1, &err) == NULL)
			_exit(1);
		metrics_detach();	/* not the last: the file stays */
		_exit(access(path_of("sock"), F_OK) == 0 ? 0 : 2);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a process that is not the last leaves the file");
	metrics_detach();
	ok(access(path_of("sock"), F_OK) == -1,
	    "the last one removes it");

	/* --- a corrupt counter area never crashes a reader ------------ */
	fd = open(path_of("good"), O_RDWR);
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	if (p != MAP_FAILED) {
		/* garbage in the slots: pids and counts of nobody */
		memset(p + size - 4096, 0x7f, 4096);
		munmap(p, (size_t)size);
	}
	close(fd);
	/* (attaching resets the slot it takes, whatever it held) */
	st = metrics_attach(path_of("good"), 0, &err);
	is_int(metrics_inflight_sum(st), 0,
	    "slots nobody holds do not count, whatever they say");
	metrics_detach();

	/* private counters when there is no area */
	{
		static struct gw_stats	 own;

		metrics_inflight(&own, 1);
		is_int(metrics_inflight_sum(&own), 1, "private in-flight");
	}
	if (fork() == 0)
		execlp("rm", "rm", "-rf", dir, (char *)NULL);
	wait(&status);
	return done_testing();
}
