/*
 * A minimal TAP producer for automake's tap-driver.sh.  Header-only.
 *
 *	ok(cond, "name %d", i);		one test point
 *	is_str(got, want, "name");	compares C strings (NULL allowed)
 *	is_int(got, want, "name");
 *	return done_testing();
 *
 * Failures print the caller's file:line, the expected and the actual value.
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static int
tap_ok(int cond, const char *file, int line, const char *name)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

/* (not every test compares strings) */
static int __attribute__((unused))
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *name)
{
	int	 cond;

	cond = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);
	if (!tap_ok(cond, file, line, name)) {
		printf("#   expected: %s%s%s\n", want ? "'" : "",
		    want ? want : "NULL", want ? "'" : "");
		printf("#        got: %s%s%s\n", got ? "'" : "",
		    got ? got : "NULL", got ? "'" : "");
	}
	return cond;
}

static int __attribute__((unused))
tap_is_int(long long got, long long want, const char *file, int line,
    const char *name)
{
	if (!tap_ok(got == want, file, line, name)) {
		printf("#   expected: %lld\n#        got: %lld\n", want, got);
		return 0;
	}
	return 1;
}

static char tap_name[512];
#define TAP_NAME(...) (snprintf(tap_name, sizeof(tap_name), __VA_ARGS__), tap_name)
#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, TAP_NAME(__VA_ARGS__))
#define is_str(got, want, ...) \
	tap_is_str((got), (want), __FILE__, __LINE__, TAP_NAME(__VA_ARGS__))
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
	    TAP_NAME(__VA_ARGS__))
/* For table rows: report the row's own line. */
#define ok_at(line, cond, ...) \
	tap_ok(!!(cond), __FILE__, (line), TAP_NAME(__VA_ARGS__))
#define is_str_at(line, got, want, ...) \
	tap_is_str((got), (want), __FILE__, (line), TAP_NAME(__VA_ARGS__))
#define is_int_at(line, got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, (line), \
	    TAP_NAME(__VA_ARGS__))

static int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# %d of %d tests failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

#endif
