#!/bin/sh
# The whole test suite, as CI runs it (.ci/run).  As root on a fresh Debian
# (or Ubuntu) machine:
#
#   sudo sh tests/run-all.sh
#
# 1. installs the build and test dependencies with apt-get (skipped when
#    they are all installed already; then root is not needed);
# 2. ./autogen.sh;
# 3. builds in _build/ with --enable-werror and runs `make check`;
#    then runs the conformance cases through the CGI program under valgrind
#    (VALGRIND=0 skips that);
# 4. builds in _build-asan/ with --enable-sanitizers and runs `make check`
#    with ASAN_OPTIONS=detect_leaks=1;
# 4b. builds in _build-tsan/ with --enable-tsan (ThreadSanitizer) and runs
#    the tests that set the FastCGI program's threads against each other
#    (TSAN_TESTS); a ThreadSanitizer report fails the stage (TSAN=0 skips
#    it);
# 5. prints "N passed, M failed", counted from the TAP results, and exits
#    non-zero when anything failed (a build failure counts as a failure).
#
# JOBS=N sets make's parallelism (default: the number of CPUs).
set -u
cd "$(dirname "$0")/.." || exit 1
SRCDIR=$(pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
PACKAGES="build-essential autoconf automake pkg-config libfcgi-dev \
libfcgi-bin libcjson-dev libcurl4-openssl-dev libpcre2-dev lighttpd \
spawn-fcgi curl wget python3 python3-venv python3-pip valgrind clang \
nginx caddy apache2-bin libapache2-mod-fcgid systemd skopeo podman \
docker-registry openssl apache2-utils strace mmdebstrap runc \
python3-yaml zlib1g-dev chromium time python3-prometheus-client wrk"

say() { printf '%s\n' "run-all: $*"; }

# --- 1. packages ------------------------------------------------------------
missing=
for p in $PACKAGES; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		say "missing packages:$missing"
		say "run as root on Debian (sudo sh $0) to install them"
		echo "0 passed, 1 failed"
		exit 1
	fi
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get -qq update >/dev/null; then
		say "apt-get update failed and packages are missing:$missing"
		echo "0 passed, 1 failed"
		exit 1
	fi
	# The server packages start system services on ports 80 and 5000
	# when installed; the tests run their own private instances, so a
	# policy-rc.d keeps the system ones from starting during the install.
	made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	# shellcheck disable=SC2086
	apt-get -qq -o Dpkg::Use-Pty=0 install -y $PACKAGES >/dev/null
	rc=$?
	[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
	if [ $rc != 0 ]; then
		say "apt-get install failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
else
	say "all packages installed"
fi

# --- 2. autogen ---------------------------------------------------------------
build_failures=0
build_failed=
if ! ./autogen.sh >autogen.log 2>&1; then
	cat autogen.log
	say "./autogen.sh failed"
	echo "0 passed, 1 failed"
	exit 1
fi
rm -f autogen.log
if [ -f config.status ]; then
	# An in-tree configure blocks out-of-tree builds.
	say "the source tree is configured in place: make distclean"
	make distclean >/dev/null 2>&1 || rm -f config.status
fi

# --- 3./4. build and check ------------------------------------------------------
# build DIR CONFIGURE-FLAGS...: configure, make, make check in DIR.
build() {
	dir=$1
	shift
	say "== $dir: configure $*"
	mkdir -p "$dir"
	rm -f "$dir"/test-suite.log
	find "$dir" -name '*.trs' -exec rm -f {} + 2>/dev/null
	if ! (cd "$dir" && "$SRCDIR/configure" --quiet "$@" >/dev/null); then
		say "$dir: configure failed (see $dir/config.log)"
		build_failures=$((build_failures + 1))
		build_failed="$build_failed $dir(configure)"
		return
	fi
	if ! (cd "$dir" && make -s -j"$JOBS" >make.log 2>&1); then
		cat "$dir/make.log"
		say "$dir: build failed"
		build_failures=$((build_failures + 1))
		build_failed="$build_failed $dir(make)"
		return
	fi
	say "== $dir: make check"
	# Passing test points are only listed in $dir/check.log.
	(cd "$dir" && make -s -j"$JOBS" check VERBOSE=1 >check.log 2>&1)
	rc=$?
	grep -v '^PASS: ' "$dir/check.log"
	if [ $rc != 0 ]; then
		say "$dir: make check failed"
		# make check failing without any failed test (a driver or
		# build problem) still counts.
		if [ -z "$(find "$dir" -name '*.trs' -exec grep -lE \
		    '^:test-result: (FAIL|XPASS|ERROR)' {} + 2>/dev/null)" ]
		then
			build_failures=$((build_failures + 1))
			build_failed="$build_failed $dir(make-check)"
		fi
	fi
}

build _build --enable-werror
# The conformance cases once more, the CGI program under valgrind (memory
# errors and leaks fail the case); VALGRIND=0 skips this.
if [ "${VALGRIND:-1}" != 0 ] && [ -x _build/cgi/scarf-gateway.cgi ] &&
    command -v valgrind >/dev/null 2>&1; then
	say "== _build: conformance cases under valgrind"
	rm -f _build/conformance-valgrind.trs
	# Results go to the .trs file counted below; show all but the passes.
	env AM_TAP_AWK=awk sh build-aux/tap-driver.sh \
	    --test-name conformance-valgrind \
	    --log-file _build/conformance-valgrind.log \
	    --trs-file _build/conformance-valgrind.trs \
	    --color-tests no --enable-hard-errors yes --expect-failure no -- \
	    python3 tests/conformance/run.py --builddir _build \
	    --program cgi --valgrind |
	    grep -v '^PASS: ' || :
	if grep -qE '^:test-result: (FAIL|XPASS|ERROR)' \
	    _build/conformance-valgrind.trs 2>/dev/null; then
		grep '^#' _build/conformance-valgrind.log
	fi
fi
# The proxy fault tests once more with the CGI program under valgrind.
if [ "${VALGRIND:-1}" != 0 ] && [ -x _build/cgi/scarf-gateway.cgi ] &&
    command -v valgrind >/dev/null 2>&1; then
	say "== _build: proxy fault tests under valgrind"
	rm -f _build/proxy-faults-valgrind.trs
	top_builddir="$SRCDIR/_build" top_srcdir="$SRCDIR" \
	PROXY_FAULTS_VALGRIND=1 \
	env AM_TAP_AWK=awk sh build-aux/tap-driver.sh \
	    --test-name proxy-faults-valgrind \
	    --log-file _build/proxy-faults-valgrind.log \
	    --trs-file _build/proxy-faults-valgrind.trs \
	    --color-tests no --enable-hard-errors yes --expect-failure no -- \
	    bash tests/e2e/proxy_faults.sh | grep -v '^PASS: ' || :
fi
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    build _build-asan --enable-sanitizers

# --- 4b. ThreadSanitizer: the FastCGI program's threads in the tests that
# run them against each other: a reload under load (reload.sh) and the
# limits (limits.sh: 64 requests at once, slow peers, the descriptors),
# kept-alive connections moving between the event loop and the workers
# (keepalive.sh, nginx only, 5 s) and proxied transfers on their own
# threads beside redirects (transfers.sh).
# The reports go to _build-tsan/tsan.PID (log_path), so that a test that
# does not look at the program's stderr cannot miss one; any such file
# fails the stage.  TSAN=0 skips it.
TSAN_TESTS="tests/e2e/reload.sh tests/e2e/limits.sh tests/e2e/keepalive.sh \
tests/e2e/transfers.sh"
if [ "${TSAN:-1}" != 0 ]; then
	say "== _build-tsan: configure --enable-tsan"
	mkdir -p _build-tsan
	rm -f _build-tsan/tsan.* _build-tsan/*.trs
	if ! (cd _build-tsan && "$SRCDIR/configure" --quiet --enable-tsan \
	    >/dev/null); then
		say "_build-tsan: configure failed (see _build-tsan/config.log)"
		build_failures=$((build_failures + 1))
		build_failed="$build_failed _build-tsan(configure)"
	elif ! (cd _build-tsan && make -s -j"$JOBS" >make.log 2>&1); then
		cat _build-tsan/make.log
		say "_build-tsan: build failed"
		build_failures=$((build_failures + 1))
		build_failed="$build_failed _build-tsan(make)"
	else
		for t in $TSAN_TESTS; do
			n=tsan-$(basename "$t" .sh)
			say "== _build-tsan: $t"
			KEEPALIVE_SECS=5 KEEPALIVE_SERVERS=nginx \
			top_builddir="$SRCDIR/_build-tsan" top_srcdir="$SRCDIR" \
			TSAN_OPTIONS="log_path=$SRCDIR/_build-tsan/tsan exitcode=66 halt_on_error=0 ${TSAN_OPTIONS:-}" \
			env AM_TAP_AWK=awk sh build-aux/tap-driver.sh \
			    --test-name "$n" --log-file "_build-tsan/$n.log" \
			    --trs-file "_build-tsan/$n.trs" \
			    --color-tests no --enable-hard-errors yes \
			    --expect-failure no -- bash "$t" |
			    grep -v '^PASS: ' || :
		done
		if ls _build-tsan/tsan.* >/dev/null 2>&1; then
			cat _build-tsan/tsan.*
			say "_build-tsan: ThreadSanitizer reported (above)"
			build_failures=$((build_failures + 1))
			build_failed="$build_failed _build-tsan(reports)"
		fi
	fi
fi

# --- fuzzing: a short libFuzzer run of every parser target (FUZZ_SECONDS
# each, default 20; 0 skips).  A crash counts as a failure; its input is
# left in tests/fuzz/crashes/.
if [ "${FUZZ_SECONDS:-20}" != 0 ] && command -v clang >/dev/null 2>&1; then
	say "== _build-fuzz: ${FUZZ_SECONDS:-20} s per fuzz target"
	if FUZZ_BUILD="$SRCDIR/_build-fuzz" sh tests/fuzz/run.sh \
	    "${FUZZ_SECONDS:-20}" >_build-fuzz.log 2>&1; then
		grep '^Done' _build-fuzz.log | sed 's/^/run-all: fuzz: /'
	else
		cat _build-fuzz.log
		say "fuzzing failed"
		build_failures=$((build_failures + 1))
		build_failed="$build_failed _build-fuzz"
	fi
fi

# --- 5. summary -------------------------------------------------------------------
trs=$(find _build _build-asan _build-tsan -name '*.trs' 2>/dev/null)
count() {
	[ -n "$trs" ] || { echo 0; return; }
	# shellcheck disable=SC2086
	cat $trs | grep -cE "^:test-result: ($1)"
}
passed=$(count 'PASS|XFAIL')
failed=$(count 'FAIL|XPASS|ERROR')
skipped=$(count 'SKIP')
failed=$((failed + build_failures))
if [ "$failed" != 0 ]; then
	say "failures:"
	for b in $build_failed; do
		say "  $b: failed before any test result (see above)"
	done
	for f in $trs; do
		grep -qE '^:test-result: (FAIL|XPASS|ERROR)' "$f" &&
		    say "  ${f%.trs}.log"
	done
fi
[ "$skipped" = 0 ] || say "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
