#!/bin/sh
# A long fuzzing campaign: runs each target for RUNS executions (default
# 10,000,000) from its committed corpus, then merges into
# tests/fuzz/corpus/<target>/ only the inputs that add coverage
# (libFuzzer -merge=1), so the corpus stays small and replay.sh (make
# check) replays what the campaign found.  Crashers land in
# tests/fuzz/crashes/.  One line per target is appended to
# tests/fuzz/campaigns.txt: date, target, runs, seconds, corpus size.
# MAXLEN= sets libFuzzer's -max_len (default 4096); FUZZ_PLAIN=1 builds
# the targets without AddressSanitizer and UBSan (several times faster;
# replay.sh under --enable-sanitizers then checks the corpus it leaves);
# use its own FUZZ_BUILD directory.  A campaign resumes
# from the inputs a stopped one left in $FUZZ_BUILD/campaign-<target>/.
#   sh tests/fuzz/campaign.sh [RUNS [TARGET...]]
set -e
runs=${1:-10000000}
[ $# -gt 0 ] && shift
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$src/_build-fuzz}
targets=${*:-$(cd "$src/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
mkdir -p "$build" "$src/tests/fuzz/crashes"
cd "$build"
[ -f Makefile ] || "$src/configure" CC=clang --enable-fuzzing >/dev/null
# shellcheck disable=SC2086
san=
[ "${FUZZ_PLAIN:-0}" = 1 ] &&
    san="SAN_CFLAGS=-fsanitize=fuzzer-no-link -fno-omit-frame-pointer"
make -j2 ${san:+"$san"} \
    $(for t in $targets; do echo "tests/fuzz/fuzz_$t"; done) >/dev/null
for t in $targets; do
	mkdir -p "campaign-$t"
	cp "$src/tests/fuzz/corpus/$t"/* "campaign-$t/" 2>/dev/null || true
	start=$(date +%s)
	"./tests/fuzz/fuzz_$t" -runs="$runs" -max_len="${MAXLEN:-4096}" \
	    -artifact_prefix="$src/tests/fuzz/crashes/$t-" "campaign-$t" \
	    2>"campaign_$t.log" || { tail -40 "campaign_$t.log"; exit 1; }
	secs=$(($(date +%s) - start))
	"./tests/fuzz/fuzz_$t" -merge=1 "$src/tests/fuzz/corpus/$t" \
	    "campaign-$t" 2>"campaign_$t.merge.log"
	n=$(ls "$src/tests/fuzz/corpus/$t" | wc -l)
	line="$(date -u +%Y-%m-%d) fuzz_$t runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "campaign_$t.log") seconds=$secs max_len=${MAXLEN:-4096} sanitizers=$([ "${FUZZ_PLAIN:-0}" = 1 ] && echo none || echo address,undefined) corpus=$n"
	echo "$line"
	echo "$line" >>"$src/tests/fuzz/campaigns.txt"
done
