#!/usr/bin/env bash
# Memory of large manifests (issue 9): peak resident set of
# `scarf-gateway --check` on a generated manifest of RULES rules
# (tests/e2e/fixtures/make_manifest.py), and the resident set of a serving
# process before, during and after a reload to it and back to a small one.
#
#	tests/bench/manifest_mem.sh [RULES] [INDENT]	(defaults 160000, 4)
#
# From a built tree; out-of-tree builds set top_builddir (and top_srcdir
# when not run from the source tree).  Needs python3 and GNU time
# (/usr/bin/time) for the peak; prints Markdown lines for README.md.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
FCGI=$top_builddir/fcgi/scarf-gateway
RULES=${1:-160000}
INDENT=${2:-4}
[ -x "$FCGI" ] || { echo "no $FCGI: build first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (GNU time)" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/gw-mem.XXXXXX") || exit 2
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

gen=$top_srcdir/tests/e2e/fixtures/make_manifest.py
python3 "$gen" "$RULES" --indent "$INDENT" >"$T/big.json" || exit 2
python3 "$gen" 4 >"$T/small.json" || exit 2
size=$(stat -c %s "$T/big.json")

# peak of --check (KiB), and its time
/usr/bin/time -f '%M %e' -o "$T/time" "$FCGI" --manifest "$T/big.json" \
    --check >/dev/null 2>"$T/check.err" || {
	echo "--check failed:" >&2
	head -n 5 "$T/check.err" >&2
	exit 1
}
read -r peak secs <"$T/time"

rss() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}
wait_line() {		# wait_line FILE TEXT: up to 120 s
	local i=0
	while ! grep -qF -- "$2" "$1" && [ $i -lt 1200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

cp "$T/small.json" "$T/m.json"
"$FCGI" --manifest "$T/m.json" --listen "unix:$T/gw.sock" --log none \
    --poll 0 --threads 4 2>"$T/gw.err" &
PID=$!
wait_line "$T/gw.err" "serving"
small=$(rss "$PID")
cp "$T/big.json" "$T/m.new" && mv "$T/m.new" "$T/m.json"
t0=$(date +%s.%N)
kill -HUP "$PID"
wait_line "$T/gw.err" "$RULES rules"
t1=$(date +%s.%N)
big=$(rss "$PID")
cp "$T/small.json" "$T/m.new" && mv "$T/m.new" "$T/m.json"
kill -HUP "$PID"
wait_line "$T/gw.err" ", 4 rules"
sleep 2
back=$(rss "$PID")

mib() {
	python3 -c "print('%.1f' % ($1 / 1024))"
}
ratio=$(python3 -c "print('%.1f' % ($peak * 1024 / $size))")
reload=$(python3 -c "print('%.1f' % ($t1 - $t0))")
echo "| rules | JSON | --check peak RSS | peak / JSON | --check time | serving: small | big (reload ${reload} s) | back to small |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $RULES | $(python3 -c "print('%.1f MB' % ($size / 1e6))") |" \
    "$(mib "$peak") MiB | ${ratio}× | ${secs} s | $(mib "$small") MiB |" \
    "$(mib "$big") MiB | $(mib "$back") MiB |"
