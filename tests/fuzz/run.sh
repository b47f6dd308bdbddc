#!/bin/sh
# Builds the libFuzzer targets with clang in their own build directory and
# runs each for SECONDS (default 60).  Crashers land in tests/fuzz/crashes/;
# copy a fixed one into tests/fuzz/corpus/<target>/ so replay.sh keeps it.
#   sh tests/fuzz/run.sh [SECONDS]
set -e
secs=${1:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$src/_build-fuzz}
mkdir -p "$build" "$src/tests/fuzz/crashes"
cd "$build"
[ -f Makefile ] || "$src/configure" CC=clang --enable-fuzzing >/dev/null
# the targets: one tests/fuzz/fuzz_<name>.c each (Makefile.am builds them)
targets=$(cd "$src/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
# shellcheck disable=SC2086
make -j2 $(for t in $targets; do echo "tests/fuzz/fuzz_$t"; done)
for t in $targets; do
	mkdir -p "work-$t"
	cp "$src/tests/fuzz/corpus/$t"/* "work-$t/" 2>/dev/null || true
	echo "fuzz_$t: $secs s"
	"./tests/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=4096 \
	    -artifact_prefix="$src/tests/fuzz/crashes/$t-" "work-$t" \
	    2>"fuzz_$t.log" || { tail -40 "fuzz_$t.log"; exit 1; }
	tail -1 "fuzz_$t.log"
done
