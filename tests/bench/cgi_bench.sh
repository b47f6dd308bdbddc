#!/usr/bin/env bash
# The cost of one CGI request (issue 10): the CGI program answering a file
# redirect from a 10-rule manifest, next to a trivial C CGI that writes a
# fixed 307 (tests/bench/trivial_cgi.c, compiled here with -O2), in one
# hyperfine run; the ratio of their means is the figure.
#
#	tests/bench/cgi_bench.sh
#
# From a built tree (out-of-tree builds: set top_builddir).  Needs
# hyperfine, a C compiler, python3.  Settings (environment):
#
#   BENCH_BEFORE  another build's scarf-gateway.cgi (say, of main before
#                 a change), measured in the same run
#   BENCH_RUNS    runs per command (default 300), after BENCH_WARMUP (30)
#                 in each of BENCH_ROUNDS rounds (3, the order rotating)
#   BENCH_PROXY   1: also time a proxied HEAD of a docker manifest against
#                 a local stub registry (tests/e2e/fixtures/bad_upstream.py),
#                 for each program
#   BENCH_LOG     the programs' GATEWAY_LOG (default: a file in the
#                 temporary directory, as deployed; "none" leaves it out)
#   BENCH_OUT     also write the report to this file
#
# Prints a Markdown table: wall-clock mean ± standard deviation, median,
# the ratio to the trivial CGI of the means (in brackets, of the medians),
# and the CPU time (user + system) with its ratio, which the load of a
# shared machine moves less.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CGI=$top_builddir/cgi/scarf-gateway.cgi
BEFORE=${BENCH_BEFORE:-}
RUNS=${BENCH_RUNS:-300}
WARMUP=${BENCH_WARMUP:-30}
[ -x "$CGI" ] || { echo "no $CGI: build first" >&2; exit 2; }
[ -z "$BEFORE" ] || [ -x "$BEFORE" ] ||
    { echo "BENCH_BEFORE=$BEFORE is not a program" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/gw-cgibench.XXXXXX") || exit 2
UPID=
cleanup() {
	[ -n "$UPID" ] && kill "$UPID" 2>/dev/null && wait "$UPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

${CC:-cc} -std=gnu11 -O2 -o "$T/trivial.cgi" \
    "$top_srcdir/tests/bench/trivial_cgi.c" || exit 2

UP=
if [ "${BENCH_PROXY:-0}" = 1 ]; then
	python3 "$top_srcdir/tests/e2e/fixtures/bad_upstream.py" \
	    --port-file "$T/up.port" --log /dev/null >/dev/null 2>&1 &
	UPID=$!
	for _ in $(seq 100); do
		[ -s "$T/up.port" ] && break
		sleep 0.05
	done
	UP=$(cat "$T/up.port")
fi

# ten file rules on one host; the request matches the last
{
	printf '{"rules": [\n'
	for i in $(seq 1 10); do
		printf ' {"type": "file-v1", "domain": "dl.example.test", '
		printf '"package-id": "tool-%d", "incoming-path": ' "$i"
		printf '"/t%d/{version}/tool-{version}.tar.gz", ' "$i"
		printf '"outgoing-url": "https://files.example.net/t%d/' "$i"
		printf 'v{version}/tool-{version}.tar.gz"}'
		[ "$i" -lt 10 ] || [ -n "$UP" ] && printf ',\n'
	done
	[ -z "$UP" ] || printf ' {"type": "docker-v2", "domain": "reg.test", "rule-id": "r", %s' \
	    "\"registry\": \"http://127.0.0.1:$UP\", \"pattern\": \"*/*\"}"
	printf '\n]}\n'
} >"$T/manifest.json"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
    "$T/manifest.json" || { echo "bad manifest" >&2; exit 2; }

# the request, as a web server passes it (RFC 3875 §4.1); hyperfine runs
# the programs without a shell, under env -i with these variables
ENV="env -i GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
REMOTE_ADDR=127.0.0.1 SERVER_NAME=dl.example.test \
GATEWAY_MANIFEST=$T/manifest.json GATEWAY_LOG=${BENCH_LOG:-$T/events.log} \
NO_PROXY=127.0.0.1 no_proxy=127.0.0.1"
redir="REQUEST_METHOD=GET HTTP_HOST=dl.example.test REQUEST_URI=/t10/1.2.3/tool-1.2.3.tar.gz"
prox="REQUEST_METHOD=HEAD HTTP_HOST=reg.test REQUEST_URI=/v2/ok/x/manifests/latest"

# check that each program answers what it is timed on
check() {	# check PROGRAM WANT-STATUS VARS
	local got
	# shellcheck disable=SC2086
	got=$($ENV $3 "$1" </dev/null | head -n 1 | tr -d '\r')
	case $got in
	"Status: $2 "*) ;;
	*) echo "$1: '$got', not $2" >&2; exit 1 ;;
	esac
}
check "$T/trivial.cgi" 307 "$redir"
check "$CGI" 307 "$redir"
[ -z "$BEFORE" ] || check "$BEFORE" 307 "$redir"
if [ -n "$UP" ]; then
	check "$CGI" 200 "$prox"
	[ -z "$BEFORE" ] || check "$BEFORE" 200 "$prox"
fi

# bench GROUP VARS NAME PROGRAM [NAME PROGRAM...]: BENCH_ROUNDS hyperfine
# runs of these programs under the request VARS, each BENCH_RUNS /
# BENCH_ROUNDS times, in an order that rotates: on a shared machine the
# load drifts, and a program timed only at the start or at the end of a
# run would carry that drift.  Results in $T/GROUP.R.json.
bench() {
	local group=$1 vars=$2 r i j n rot
	shift 2
	local progs=("$@")
	n=$((${#progs[@]} / 2))
	for r in $(seq 0 $((ROUNDS - 1))); do
		rot=()
		for i in $(seq 0 $((n - 1))); do
			j=$(((i + r) % n))
			rot+=(-n "${progs[$((j * 2))]}" "${progs[$((j * 2 + 1))]}")
		done
		# shellcheck disable=SC2086
		$ENV $vars "$(command -v hyperfine)" -N --style none \
		    --warmup "$WARMUP" --runs $((RUNS / ROUNDS)) \
		    --export-json "$T/$group.$r.json" "${rot[@]}" \
		    >"$T/hyperfine.out" 2>&1 || {
			cat "$T/hyperfine.out" >&2
			exit 1
		}
	done
}
ROUNDS=${BENCH_ROUNDS:-3}
progs=(trivial "$T/trivial.cgi")
[ -z "$BEFORE" ] || progs+=("before: redirect" "$BEFORE")
progs+=("redirect" "$CGI")
bench redirect "$redir" "${progs[@]}"
if [ -n "$UP" ]; then
	progs=(trivial "$T/trivial.cgi")
	[ -z "$BEFORE" ] || progs+=("before: proxied HEAD" "$BEFORE")
	progs+=("proxied HEAD" "$CGI")
	bench proxied "$prox" "${progs[@]}"
fi

python3 - "$RUNS" "$ROUNDS" "$T" >"$T/report.md" <<'PY'
import glob, json, os, platform, statistics, sys
runs, rounds, tdir = sys.argv[1:4]
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
print("%s, %s, %d CPUs, load average %s; %s runs per program in %s "
      "rounds (hyperfine -N)" % (platform.platform(), cpu, os.cpu_count(),
      open("/proc/loadavg").read().split()[0], runs, rounds))
for group in ("redirect", "proxied"):
    files = sorted(glob.glob(os.path.join(tdir, group + ".*.json")))
    if not files:
        continue
    data, order = {}, []
    for f in files:
        for r in json.load(open(f))["results"]:
            d = data.setdefault(r["command"], {"wall": [], "cpu": []})
            if r["command"] not in order:
                order.append(r["command"])
            d["wall"] += r["times"]
            # hyperfine keeps only the means of user and system time
            d["cpu"] += [r["user"] + r["system"]] * len(r["times"])
    print("\n| %s | wall: mean ± sd | median | ratio to trivial: mean "
          "(median) | CPU: user+sys | CPU ratio |" % group)
    print("|---|---|---|---|---|---|")
    b = data["trivial"]
    bm, bmed = statistics.mean(b["wall"]), statistics.median(b["wall"])
    bc = statistics.mean(b["cpu"])
    for name in ["trivial"] + [n for n in order if n != "trivial"]:
        w, c = data[name]["wall"], data[name]["cpu"]
        m, med, cm = statistics.mean(w), statistics.median(w), \
            statistics.mean(c)
        print("| %s | %.2f ± %.2f ms | %.2f ms | %.2f× (%.2f×) | %.2f ms | "
              "%.2f× |" % (name, m * 1e3, statistics.stdev(w) * 1e3,
                           med * 1e3, m / bm, med / bmed, cm * 1e3, cm / bc))
PY
cat "$T/report.md"
[ -z "${BENCH_OUT:-}" ] || cp "$T/report.md" "$BENCH_OUT"
