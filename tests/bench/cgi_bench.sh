#!/usr/bin/env bash
# The cost of one CGI request (issue 10): the CGI program answering a file
# redirect from a 10-rule manifest, and the project page of a 2,065-file
# python-v1 manifest (1.7 MB), next to a trivial C CGI that writes a fixed
# 307 (tests/bench/trivial_cgi.c, compiled here with -O2), in one
# hyperfine run; the ratio of their means is the figure.  Each request is
# timed with the manifest image warm (the image in GATEWAY_CACHE_DIR),
# cold (the cache directory emptied before every run: hyperfine
# --prepare) and off (GATEWAY_CACHE_DIR=none).
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
#   BENCH_PY_RUNS the same for the python page (default 90; warm-up 5)
#   BENCH_PYTHON  0: leave the python page out
#   BENCH_IMAGE   0: time only the default way (no cache directory set),
#                 as before the manifest image
#   BENCH_PROXY   1: also time a proxied HEAD of a docker manifest against
#                 a local stub registry (tests/e2e/fixtures/bad_upstream.py),
#                 for each program
#   BENCH_LOG     the programs' GATEWAY_LOG (default: a file in the
#                 temporary directory, as deployed; "none" leaves it out)
#   BENCH_COPY    0: time the programs where they are, not copies of
#                 them as installed (see below)
#   BENCH_OUT     also write the report to this file
#
# Prints a Markdown table per request and image way: wall-clock mean ±
# standard deviation, median, the ratio to the trivial CGI of the means
# (in brackets, of the medians), and the CPU time (user + system) with its
# ratio, which the load of a shared machine moves less; then the issue's
# targets (warm: redirect <= 1.3x, python page <= 2.0x), met or missed by
# the median and the CPU time.
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

# The programs are timed as installed: copies, as make install or a
# package writes them (BENCH_COPY=0: where they are).  On Linux 6.x the
# file the linker wrote costs every run of a program this size one more
# page fault than a copy of it (64.4 against 63.3 for a warm redirect,
# about 2 % of its CPU time; presumably its page cache comes in smaller
# folios, of which fault-around maps fewer); the trivial program's 16 KB
# show no difference.  The proxy module goes along (it is looked for
# next to the program).
if [ "${BENCH_COPY:-1}" = 1 ]; then
	mkdir "$T/after" || exit 2
	cp "$CGI" "$T/after/scarf-gateway.cgi" || exit 2
	[ ! -f "$(dirname "$CGI")/scarf-gateway-proxy.so" ] ||
	    cp "$(dirname "$CGI")/scarf-gateway-proxy.so" "$T/after/"
	CGI=$T/after/scarf-gateway.cgi
	if [ -n "$BEFORE" ]; then
		mkdir "$T/before" || exit 2
		cp "$BEFORE" "$T/before/scarf-gateway.cgi" || exit 2
		[ ! -f "$(dirname "$BEFORE")/scarf-gateway-proxy.so" ] ||
		    cp "$(dirname "$BEFORE")/scarf-gateway-proxy.so" \
		    "$T/before/"
		BEFORE=$T/before/scarf-gateway.cgi
	fi
fi

${CC:-cc} -std=gnu11 -O2 -o "$T/trivial.cgi" \
    "$top_srcdir/tests/bench/trivial_cgi.c" || exit 2
# the same, linked with the shared libraries the CGI program loads at
# start (ldd: libcjson, libpcre2 ...): what loading them costs alone
LIBS=$(ldd "$CGI" | awk '$2 == "=>" && $3 ~ /^\// && $1 !~ /^libc\.so/ { print $3 }')
# shellcheck disable=SC2086
${CC:-cc} -std=gnu11 -O2 -o "$T/trivial-libs.cgi" \
    "$top_srcdir/tests/bench/trivial_cgi.c" -Wl,--no-as-needed $LIBS || exit 2

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
python3 "$top_srcdir/tests/bench/make_bench_manifest.py" python \
    >"$T/python.json" || exit 2
mkdir "$T/cache" "$T/cache-before" || exit 2

# the request, as a web server passes it (RFC 3875 §4.1); hyperfine runs
# the programs without a shell, under env -i with these variables
ENV="env -i GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
REMOTE_ADDR=127.0.0.1 GATEWAY_LOG=${BENCH_LOG:-$T/events.log} \
NO_PROXY=127.0.0.1 no_proxy=127.0.0.1"
redir="GATEWAY_MANIFEST=$T/manifest.json SERVER_NAME=dl.example.test \
REQUEST_METHOD=GET HTTP_HOST=dl.example.test \
REQUEST_URI=/t10/1.2.3/tool-1.2.3.tar.gz"
prox="GATEWAY_MANIFEST=$T/manifest.json SERVER_NAME=reg.test \
REQUEST_METHOD=HEAD HTTP_HOST=reg.test REQUEST_URI=/v2/ok/x/manifests/latest"
# pip's Accept would choose JSON (SPEC §7.5); without one the page is the
# HTML of the issue: one <a> per file
pyreq="GATEWAY_MANIFEST=$T/python.json SERVER_NAME=pypi.example.test \
REQUEST_METHOD=GET HTTP_HOST=pypi.example.test REQUEST_URI=/simple/numpy/"
# the image ways: warm and cold share the directory (cold empties it
# before each of its runs, warm's warm-up runs fill it again)
WARM="GATEWAY_CACHE_DIR=$T/cache"
OFF="GATEWAY_CACHE_DIR=none"
COLD_PREP="find $T/cache -mindepth 1 -delete"

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
check "$CGI" 307 "$redir $WARM"
check "$CGI" 307 "$redir $WARM"
check "$CGI" 307 "$redir $OFF"
[ -z "$BEFORE" ] || check "$BEFORE" 307 "$redir"
if [ -n "$UP" ]; then
	check "$CGI" 200 "$prox"
	[ -z "$BEFORE" ] || check "$BEFORE" 200 "$prox"
fi
PYTHON=${BENCH_PYTHON:-1}
if [ "$PYTHON" = 1 ]; then
	for v in "" "$WARM" "$WARM" "$OFF"; do
		check "$CGI" 200 "$pyreq $v"
	done
	# shellcheck disable=SC2086
	n=$($ENV $pyreq $WARM "$CGI" </dev/null | grep -c '^<a href="/simple/numpy/')
	[ "$n" = 2065 ] || { echo "the python page has $n links, not 2065" >&2; exit 1; }
fi
IMAGE=${BENCH_IMAGE:-1}
if [ "$IMAGE" = 1 ]; then
	# once the program has the image path, the warm way must have left one
	if "$CGI" --help 2>&1 | grep -q -- 'CACHE_DIR' &&
	    [ -z "$(ls -A "$T/cache")" ]; then
		echo "GATEWAY_CACHE_DIR=$T/cache: no image written" >&2
		exit 1
	fi
fi

# bench GROUP VARS NAME PROGRAM PREPARE [NAME PROGRAM PREPARE...]:
# BENCH_ROUNDS hyperfine runs of these programs under the request VARS,
# each BENCH_RUNS / BENCH_ROUNDS times after PREPARE (a command run before
# every run, untimed), in an order that rotates: on a shared machine the
# load drifts, and a program timed only at the start or at the end of a
# run would carry that drift.  Results in $T/GROUP.R.json.
bench() {
	local group=$1 vars=$2 r i j n rot
	shift 2
	local progs=("$@")
	n=$((${#progs[@]} / 3))
	for r in $(seq 0 $((ROUNDS - 1))); do
		rot=()
		for i in $(seq 0 $((n - 1))); do
			j=$(((i + r) % n))
			rot+=(--prepare "${progs[$((j * 3 + 2))]}")
		done
		for i in $(seq 0 $((n - 1))); do
			j=$(((i + r) % n))
			rot+=(-n "${progs[$((j * 3))]}" "${progs[$((j * 3 + 1))]}")
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
TRIV=(trivial "$T/trivial.cgi" true)
progs=("${TRIV[@]}")
[ -z "$BEFORE" ] || progs+=("before: redirect" "$BEFORE" true)
if [ "$IMAGE" = 1 ]; then
	bench redirect "$redir $WARM" "${progs[@]}" \
	    "redirect, image warm" "$CGI" true \
	    "redirect, image cold" "$CGI" "$COLD_PREP"
	bench redirect-off "$redir $OFF" "${TRIV[@]}" \
	    "redirect, image off" "$CGI" true
else
	bench redirect "$redir" "${progs[@]}" "redirect" "$CGI" true
fi
if [ "$PYTHON" = 1 ]; then
	RUNS=${BENCH_PY_RUNS:-90}
	WARMUP=5
	if [ "$IMAGE" = 1 ]; then
		bench python "$pyreq $WARM" "${TRIV[@]}" \
		    "python page, image warm" "$CGI" true \
		    "python page, image cold" "$CGI" "$COLD_PREP"
		bench python-off "$pyreq $OFF" "${TRIV[@]}" \
		    "python page, image off" "$CGI" true
	else
		bench python "$pyreq" "${TRIV[@]}" "python page" "$CGI" true
	fi
	RUNS=${BENCH_RUNS:-300}
	WARMUP=${BENCH_WARMUP:-30}
fi
if [ -n "$UP" ]; then
	progs=("${TRIV[@]}")
	[ -z "$BEFORE" ] || progs+=("before: proxied HEAD" "$BEFORE" true)
	progs+=("proxied HEAD" "$CGI" true)
	bench proxied "$prox" "${progs[@]}"
fi

# The same programs once more, interleaved run by run (interleave.py), each
# run's CPU time from wait4(2): on a loaded machine the hyperfine blocks
# of one program and the next see different loads, these do not.
# ispec NAME PROGRAM PREPARE VARS: one entry of the list in $T/spec
ispec() {
	# shellcheck disable=SC2086
	python3 -c 'import json, sys
name, prog, prep = sys.argv[1:4]
env = dict(kv.split("=", 1) for kv in sys.argv[4:])
print(json.dumps({"name": name, "argv": [prog], "env": env,
                  "prepare": None if prep == "true" else prep.split()}))' \
	    "$1" "$2" "$3" $ENV_VARS $4 >>"$T/spec.lines"
}
ENV_VARS=${ENV#env -i }
# interleave GROUP VARS RUNS NAME PROGRAM PREPARE VARS2 [...]: results in
# $T/GROUP.inter (the table, then a JSON line of the ratios)
interleave() {
	local group=$1 vars=$2 runs=$3
	shift 3
	: >"$T/spec.lines"
	while [ $# -gt 0 ]; do
		ispec "$1" "$2" "$3" "$vars $4"
		shift 4
	done
	python3 -c 'import json, sys
print(json.dumps([json.loads(l) for l in open(sys.argv[1])]))' \
	    "$T/spec.lines" >"$T/spec.json"
	python3 "$top_srcdir/tests/bench/interleave.py" "$T/spec.json" \
	    "$runs" >"$T/$group.inter" || exit 1
}
if [ "${BENCH_INTERLEAVE:-1}" = 1 ]; then
	iprogs=(trivial "$T/trivial.cgi" true ""
	    "trivial + the program's libraries" "$T/trivial-libs.cgi" true "")
	# warm, as in hyperfine's table, from a directory of its own: the
	# cold way's preparation empties $T/cache before each of its runs
	[ -z "$BEFORE" ] || iprogs+=("before: redirect" "$BEFORE" true \
	    "$([ "$IMAGE" = 1 ] && echo "GATEWAY_CACHE_DIR=$T/cache-before")")
	if [ "$IMAGE" = 1 ]; then
		iprogs+=("redirect, image warm" "$CGI" true "$WARM"
		    "redirect, image cold" "$CGI" "$COLD_PREP" "$WARM"
		    "redirect, image off" "$CGI" true "$OFF")
	else
		iprogs+=("redirect" "$CGI" true "")
	fi
	interleave redirect "$redir" "$RUNS" "${iprogs[@]}"
	if [ "$PYTHON" = 1 ]; then
		iprogs=(trivial "$T/trivial.cgi" true "")
		if [ "$IMAGE" = 1 ]; then
			iprogs+=("python page, image warm" "$CGI" true "$WARM"
			    "python page, image cold" "$CGI" "$COLD_PREP" "$WARM"
			    "python page, image off" "$CGI" true "$OFF")
		else
			iprogs+=("python page" "$CGI" true "")
		fi
		interleave python "$pyreq" "${BENCH_PY_RUNS:-90}" "${iprogs[@]}"
	fi
fi

# the command that reproduces this run, with the settings it was given
CMD="top_builddir=$top_builddir"
for v in BENCH_BEFORE BENCH_RUNS BENCH_ROUNDS BENCH_WARMUP BENCH_PY_RUNS \
    BENCH_PYTHON BENCH_IMAGE BENCH_INTERLEAVE BENCH_PROXY BENCH_LOG \
    BENCH_COPY; do
	[ -z "${!v:-}" ] || CMD="$CMD $v=${!v}"
done
CMD="$CMD tests/bench/cgi_bench.sh"
{
	echo "$CMD"
	echo
} >"$T/report.md"
python3 - "$RUNS" "$ROUNDS" "$T" "${BENCH_PY_RUNS:-90}" >>"$T/report.md" <<'PY'
import glob, json, os, platform, statistics, sys
runs, rounds, tdir, pyruns = sys.argv[1:5]
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
print("%s, %s, %d CPUs, load average %s; %s runs per program (%s for the "
      "python page) in %s rounds (hyperfine -N)" % (
          platform.platform(), cpu, os.cpu_count(),
          open("/proc/loadavg").read().split()[0], runs, pyruns, rounds))
# issue 10's targets: the warm way's ratio to the trivial CGI
targets = {"redirect, image warm": 1.3, "python page, image warm": 2.0}
verdicts = []
for group in ("redirect", "redirect-off", "python", "python-off",
              "proxied"):
    files = sorted(glob.glob(os.path.join(tdir, group + ".[0-9]*.json")))
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
        if name in targets:
            t = targets[name]
            verdicts.append("%s: mean %.2f×, median %.2f×, CPU %.2f× of "
                            "trivial; target ≤ %.1f×: %s" % (
                                name, m / bm, med / bmed, cm / bc, t,
                                "met" if max(med / bmed, cm / bc) <= t
                                else "MISSED"))
inter = {}
for group in ("redirect", "python"):
    path = os.path.join(tdir, group + ".inter")
    if not os.path.exists(path):
        continue
    lines = open(path).read().splitlines()
    print()
    for l in lines[:-1]:
        print(l)
    inter.update(json.loads(lines[-1]))
if verdicts:
    print("\nIssue 10's targets (hyperfine: met when the ratios of the "
          "median wall time and of the CPU time are both within; the mean "
          "moves with the outliers of a loaded machine; interleaved: the "
          "ratio of the median CPU time per run):\n")
    for v in verdicts:
        print("- " + v)
    for name, t in targets.items():
        if name in inter:
            c = inter[name]["cpu"]
            print("- %s, interleaved: CPU %.2f× (per round %.2f×), wall "
                  "%.2f× of trivial; target ≤ %.1f×: %s" % (
                      name, c, inter[name]["per_round"],
                      inter[name]["wall"], t,
                      "met" if c <= t else "MISSED"))
PY
cat "$T/report.md"
[ -z "${BENCH_OUT:-}" ] || cp "$T/report.md" "$BENCH_OUT"
