#!/usr/bin/env bash
# Report benchmark (issue 12): realistic event lines (mixed types, 10k
# packages, make_events.py --bench) read in one run by
#
#   report    scarf-gateway report --format json FILE
#   goaccess  goaccess FILE with a JSON --log-format, -o json (GoAccess 1.7)
#   jq        jq -r '[day, package-id] | @tsv' | sort | uniq -c: per-package
#             daily counts (jq 1.6's `reduce inputs` into one object is
#             quadratic here: 20,000 lines took 5.9 s, so the stream)
#
# each BENCH_ROUNDS times, alternating; prints a markdown table of the
# median wall time, lines/s, peak RSS (/usr/bin/time -v) and the ratio to
# the report.  Not part of `make check`; see tests/bench/README.md.
#
#   tests/bench/report_bench.sh            # 200 MB of events
#   tests/bench/report_bench.sh --1g       # 1 GB (the issue's size)
#
# Settings (environment):
#   BENCH_BYTES   size of the event file (default 200000000; --1g: 10^9)
#   BENCH_ROUNDS  runs per tool (default 3)
#   BENCH_CACHE   where the generated file is kept (default
#                 ${XDG_CACHE_HOME:-~/.cache}/scarf-gateway-bench)
#   BENCH_TOOLS   default "report goaccess jq"
#   BENCH_OUT     also write the table to this file
#   top_builddir  where fcgi/scarf-gateway is (default: the source tree)
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
: "${top_builddir:=$src}"
BIN=$top_builddir/fcgi/scarf-gateway
BYTES=${BENCH_BYTES:-200000000}
[ "${1:-}" = "--1g" ] && BYTES=1000000000
ROUNDS=${BENCH_ROUNDS:-3}
CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scarf-gateway-bench}
TOOLS=${BENCH_TOOLS:-report goaccess jq}
[ -x "$BIN" ] || { echo "build fcgi/scarf-gateway first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian: time)" >&2
	exit 1; }

mkdir -p "$CACHE"
LOG=$CACHE/events-$BYTES.log
if [ ! -s "$LOG" ]; then
	echo "generating $BYTES bytes of events into $LOG" >&2
	python3 "$src/tests/e2e/fixtures/make_events.py" --bench "$LOG.tmp" \
		--bytes "$BYTES" --packages 10000 && mv "$LOG.tmp" "$LOG" ||
		exit 1
fi
LINES=$(wc -l <"$LOG")
SIZE=$(stat -c %s "$LOG")
W=$(mktemp -d "${TMPDIR:-/tmp}/report-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT

GAFMT='{"time":"%dT%t.%^","host":"%v","method":"%m","path":"%U","status":"%s","bytes":"%b","user-agent":"%u","referer":"%R","client-ip":"%h"}'
JQPROG='[.time[0:10], (."package-id" // "-")] | @tsv'

# run TOOL ROUND: one timed run; appends "TOOL SECONDS RSS_KB" to $W/res
run() {
	local out=$W/out-$1 tv=$W/time-$1-$2
	case $1 in
	report) /usr/bin/time -v -o "$tv" "$BIN" report --format json \
		-o "$out.json" "$LOG" 2>/dev/null ;;
	goaccess) /usr/bin/time -v -o "$tv" goaccess "$LOG" --no-global-config \
		--log-format="$GAFMT" --date-format=%Y-%m-%d \
		--time-format=%H:%M:%S -o "$out.json" >/dev/null 2>&1 ;;
	jq) LC_ALL=C /usr/bin/time -v -o "$tv" sh -c 'jq -r "$1" "$2" |
		sort | uniq -c' sh "$JQPROG" "$LOG" >"$out.txt" 2>/dev/null ;;
	esac
	awk -v t="$1" '
	/Elapsed \(wall clock\)/ { n = split($NF, a, ":"); s = 0
		for (i = 1; i <= n; i++) s = s * 60 + a[i] }
	/Maximum resident set size/ { r = $NF }
	END { print t, s, r }' "$tv" >>"$W/res"
}

for ((i = 0; i < ROUNDS; i++)); do
	for t in $TOOLS; do
		command -v "$t" >/dev/null || [ "$t" = report ] || continue
		run "$t" "$i"
	done
done

{
	echo "$(date -u +%F), $(nproc) CPUs, $(uname -m); $LINES lines, $SIZE bytes"
	echo "($(awk '{n++} END {printf "%d", n}' "$LOG" 2>/dev/null) lines" \
		"of mixed docker/python/npm/file/pixel/telemetry events," \
		"10,000 packages, 7 days); median of $ROUNDS runs"
	echo
	echo "| tool | wall s | lines/s | MB/s | peak RSS MiB | report speed-up |"
	echo "|---|---|---|---|---|---|"
	rep=$(awk '$1 == "report" { print $2 }' "$W/res" | sort -g |
		awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	for t in $TOOLS; do
		grep -q "^$t " "$W/res" || continue
		awk -v t="$t" -v lines="$LINES" -v size="$SIZE" -v rep="$rep" '
		$1 == t { s[++n] = $2; r[n] = $3 }
		END {
			# medians (n is small: insertion sort)
			for (i = 2; i <= n; i++) for (j = i; j > 1 &&
			    s[j-1] > s[j]; j--) { x = s[j]; s[j] = s[j-1];
			    s[j-1] = x }
			for (i = 2; i <= n; i++) for (j = i; j > 1 &&
			    r[j-1] > r[j]; j--) { x = r[j]; r[j] = r[j-1];
			    r[j-1] = x }
			m = s[int((n + 1) / 2)]; rr = r[int((n + 1) / 2)]
			if (m <= 0) m = 0.01
			printf "| %s | %.2f | %.0f | %.1f | %.1f | %s |\n", t, m,
			    lines / m, size / m / 1e6, rr / 1024,
			    t == "report" ? "1" : sprintf("%.1fx", m / rep)
		}' "$W/res"
	done
	echo
	echo "Versions: $("$BIN" --version 2>&1 | head -1);" \
		"$(goaccess --version 2>/dev/null | head -1);" \
		"$(jq --version 2>/dev/null)"
} | tee ${BENCH_OUT:+"$BENCH_OUT"}
