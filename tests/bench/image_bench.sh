#!/usr/bin/env bash
# The FastCGI program with a large manifest (issue 10): 100,000 rules on
# 10,000 hosts (tests/bench/make_bench_manifest.py fleet: file-v1,
# docker-v2, npm-v1 and python-v1 hosts), next to a 10-rule manifest (the
# same ten rules of the host dl.example.test, which the timed request
# matches), in one run:
#
#  1. time to the first answer from the start of the process, and its
#     private memory then, with the manifest image cold (the cache
#     directory empty), warm (the image present) and off
#     (GATEWAY_CACHE_DIR=none); BENCH_STARTS starts of each, alternating
#  2. throughput through nginx (deploy/nginx.conf in one nginx worker) with
#     wrk, the 100k gateway against the 10-rule one, BENCH_ROUNDS rounds of
#     BENCH_DURATION seconds, alternating; private memory of both gateways
#     before and after
#  3. spawn-fcgi -F 8 with the 100k manifest, the image warm (then off):
#     the sum of the eight processes' Pss next to one process's
#
#	tests/bench/image_bench.sh
#
# From a built tree (out-of-tree builds: set top_builddir).  Needs nginx,
# wrk, spawn-fcgi, python3 (Debian: nginx wrk spawn-fcgi python3).  Root is
# not needed; it uses only 127.0.0.1 and Unix sockets in its temporary
# directory, and stops what it starts by pid.  Settings (environment):
#
#   BENCH_RULES, BENCH_HOSTS  the large manifest (100000, 10000)
#   BENCH_STARTS      starts per image way in part 1 (3)
#   BENCH_ROUNDS      wrk rounds per manifest (3), BENCH_DURATION seconds
#                     each (5), BENCH_CONNS connections (16)
#   BENCH_THREADS     the gateways' --threads (4)
#   BENCH_PROCS       processes in part 3 (8)
#   BENCH_WRK_CPUS    taskset -c list for wrk, BENCH_SERVER_CPUS for
#                     nginx and the gateways (default: not pinned)
#   BENCH_LOG         the gateways' GATEWAY_LOG (default: a file each in
#                     the temporary directory, as deployed; "none")
#   BENCH_PARTS       which parts to run ("start wrk procs")
#   BENCH_OUT         also write the report to this file
#
# Prints a Markdown report; the issue's targets (throughput >= 0.95x of the
# 10-rule manifest, Private_Dirty and Anonymous < 64 MiB, first answer
# < 0.3 s warm and < 1 s without an image, the sum of 8 Pss < 2x one) are
# each said met or MISSED.  Memory figures are /proc/PID/smaps_rollup.
set -u
: "${KEEP_TMP:=}"
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/lib-servers.sh"

RULES=${BENCH_RULES:-100000}
HOSTS=${BENCH_HOSTS:-10000}
STARTS=${BENCH_STARTS:-3}
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-5}
CONNS=${BENCH_CONNS:-16}
THREADS=${BENCH_THREADS:-4}
PROCS=${BENCH_PROCS:-8}
PARTS=${BENCH_PARTS:-start wrk procs}
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
PROBE=$top_srcdir/tests/bench/image_probe.py
HOST=dl.example.test
URI=/t10/1.2.3/tool-1.2.3.tar.gz

die() {
	echo "image_bench: $*" >&2
	exit 1
}
say() {
	echo "image_bench: $*" >&2
}
[ -x "$FCGI" ] || die "$FCGI not built (set top_builddir)"
for t in python3 wrk spawn-fcgi curl; do
	command -v $t >/dev/null || die "$t not installed"
done
[ -x "$NGINX" ] || die "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || die "/etc/nginx/fastcgi_params missing"
chmod 0711 "$T"
WRKPIN=()
SRVPIN=()
[ -z "${BENCH_WRK_CPUS:-}" ] || WRKPIN=(taskset -c "$BENCH_WRK_CPUS")
[ -z "${BENCH_SERVER_CPUS:-}" ] || SRVPIN=(taskset -c "$BENCH_SERVER_CPUS")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

gen=$top_srcdir/tests/bench/make_bench_manifest.py
say "generating the manifests"
python3 "$gen" files 10 >"$T/small.json" || die "cannot generate"
python3 "$gen" fleet "$RULES" "$HOSTS" >"$T/big.json" || die "cannot generate"
BIGSIZE=$(stat -c %s "$T/big.json")
mkdir "$T/cache" "$T/cache-small" || exit 1

R=$T/report.md
CMD="top_builddir=$top_builddir"
for v in BENCH_RULES BENCH_HOSTS BENCH_STARTS BENCH_ROUNDS BENCH_DURATION \
    BENCH_CONNS BENCH_THREADS BENCH_PROCS BENCH_WRK_CPUS BENCH_SERVER_CPUS \
    BENCH_LOG BENCH_PARTS; do
	[ -z "${!v:-}" ] || CMD="$CMD $v=${!v}"
done
{
	echo "$CMD tests/bench/image_bench.sh"
	echo
	printf '%s, %s, %d CPUs; %s rules on %s hosts (%s MB of JSON) ' \
	    "$(uname -sr)" "$(sed -n 's/^model name[[:space:]]*: //p' \
	    /proc/cpuinfo | head -n 1)" "$(nproc)" "$RULES" "$HOSTS" \
	    "$(python3 -c "print('%.1f' % ($BIGSIZE / 1e6))")"
	echo "against 10; --threads $THREADS; load average at the start $LOAD0"
} >"$R"
VERDICTS=()
# verdict TEXT: one line of the targets' summary
verdict() {
	VERDICTS+=("$1")
}
mib() {
	python3 -c "print('%.1f' % ($1 / 1024))"
}
# field JSON KEY...: a value out of a JSON object (nested keys)
field() {
	python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$@"
}

# flush DIR: writes back the files of DIR (sync FILE: fsync).  An image a
# cold start has just written stays dirty in the page cache until the
# kernel writes it back (up to 30 s), and a process mapping it meanwhile
# counts those pages as its Private_Dirty although they are no memory of
# its own; warm starts are measured with the image written back, as it is
# in service.
flush() {
	local f
	for f in "$1"/*; do
		[ -f "$f" ] && sync "$f"
	done
	return 0
}

# --- 1. time to the first answer ---------------------------------------------
# start WAY MANIFEST CACHEDIR: one start through image_probe.py; its JSON
start() {
	local way=$1 m=$2 cache=$3 out
	rm -f "$T/probe.sock"
	[ "$way" != cold ] || find "$cache" -mindepth 1 -delete
	[ "$way" != warm ] || flush "$cache"
	[ "$way" = off ] && cache=none
	out=$(env GATEWAY_CACHE_DIR="$cache" "${SRVPIN[@]}" python3 "$PROBE" \
	    first "$T/probe.sock" "$HOST" "$URI" "$T/probe.err" -- \
	    "$FCGI" --manifest "$m" --listen "unix:$T/probe.sock" \
	    --log none --poll 0 --threads "$THREADS") ||
	    die "$way start failed: $out $(tail -n 3 "$T/probe.err")"
	[ "$(field "$out" status)" = 307 ] ||
	    die "$way start: not a 307: $out"
	echo "$out"
}
case " $PARTS " in
*" start "*)
	say "part 1: starts ($STARTS per way)"
	# the small manifest once each way, for scale
	declare -A SECS CPUS PD AN PSS
	for way in cold warm off; do
		SECS[$way]=""
		out=$(start "$way" "$T/small.json" "$T/cache-small") || exit 1
		SECS[small-$way]=$(field "$out" seconds)
	done
	for i in $(seq 1 "$STARTS"); do
		# warm follows a cold start (which wrote the image) and the
		# order rotates
		case $((i % 3)) in
		1) ways="cold warm off" ;;
		2) ways="off cold warm" ;;
		0) ways="cold off warm" ;;
		esac
		for way in $ways; do
			out=$(start "$way" "$T/big.json" "$T/cache") || exit 1
			SECS[$way]="${SECS[$way]} $(field "$out" seconds)"
			CPUS[$way]="${CPUS[$way]:-} $(field "$out" cpu)"
			PD[$way]=$(field "$out" smaps Private_Dirty)
			AN[$way]=$(field "$out" smaps Anonymous)
			PSS[$way]=$(field "$out" smaps Pss)
		done
	done
	med() {
		python3 -c 'import statistics, sys
v = [float(x) for x in sys.argv[1:]]
print("%.3f %.3f %.3f" % (statistics.median(v), min(v), max(v)))' "$@"
	}
	{
		echo
		echo "| first answer | image | median s (min–max) of $STARTS | its CPU s: median (min–max) | 10 rules | Private_Dirty | Anonymous | Pss |"
		echo "|---|---|---|---|---|---|---|---|"
		for way in warm cold off; do
			# shellcheck disable=SC2086
			read -r m lo hi <<<"$(med ${SECS[$way]})"
			# shellcheck disable=SC2086
			read -r cm clo chi <<<"$(med ${CPUS[$way]})"
			echo "| $RULES rules | $way | $m ($lo–$hi) |" \
			    "$cm ($clo–$chi) |" \
			    "${SECS[small-$way]} s | $(mib "${PD[$way]}") MiB |" \
			    "$(mib "${AN[$way]}") MiB | $(mib "${PSS[$way]}") MiB |"
			eval "MED_$way=$m"
		done
		echo
		echo "(memory of the last start of each way, right after its first answer; a cold start's Private_Dirty includes the image it has just written, still dirty in the page cache)"
	} >>"$R"
	# shellcheck disable=SC2154
	verdict "first answer, image present: median ${MED_warm} s; target < 0.3 s: $(python3 -c "print('met' if $MED_warm < 0.3 else 'MISSED')")"
	# shellcheck disable=SC2154
	verdict "first answer without an image (cold): median ${MED_cold} s; target < 1 s: $(python3 -c "print('met' if $MED_cold < 1 else 'MISSED')")"
	;;
esac

# --- 2. throughput through nginx ---------------------------------------------
mem_line() {	# mem_line NAME PID: a Markdown row of its smaps_rollup
	local out
	out=$(python3 "$PROBE" smaps "$2") || return 1
	echo "| $1 | $(mib "$(field "$out" sum Private_Dirty)") MiB |" \
	    "$(mib "$(field "$out" sum Anonymous)") MiB |" \
	    "$(mib "$(field "$out" sum Pss)") MiB |" \
	    "$(mib "$(field "$out" sum Rss)") MiB |"
	# for the verdicts: the larger of the two private fields, KiB
	python3 -c 'import json, sys
s = json.loads(sys.argv[1])["sum"]
print(max(s["Private_Dirty"], s["Anonymous"]))' "$out" >"$T/mem.last"
}
case " $PARTS " in
*" wrk "*)
	say "part 2: wrk, $ROUNDS rounds of ${DURATION} s per manifest"
	# start_gw NAME MANIFEST CACHE: a gateway on $T/NAME.sock
	start_gw() {
		local log=${BENCH_LOG:-$T/$1.events.log}
		start_bg "$1" env GATEWAY_CACHE_DIR="$3" "${SRVPIN[@]}" \
		    "$FCGI" --manifest "$2" --listen "unix:$T/$1.sock" \
		    --log "$log" --poll 0 --threads "$THREADS"
		wait_socket "$T/$1.sock" 1200 >/dev/null ||
		    die "gateway $1 does not start: $(cat "$T/$1.err")"
	}
	# the big one starts with its image present (part 1 left it, or
	# this first start writes it)
	start_gw gw-small "$T/small.json" "$T/cache-small"
	start_gw gw-big "$T/big.json" "$T/cache"
	flush "$T/cache"
	SMALL=$(pid_of gw-small)
	BIG=$(pid_of gw-big)
	PORT_S=$(free_port)
	PORT_B=$(free_port)
	: >"$T/nginx-site.conf"
	for w in small:$PORT_S big:$PORT_B; do
		render "$DEPLOY/nginx.conf" "$T/site-${w%%:*}.conf" \
		    BIND=127.0.0.1 PORT="${w#*:}" \
		    UPSTREAM="unix:$T/gw-${w%%:*}.sock" ||
		    die "deploy/nginx.conf does not render"
		sed "s/scarf_gateway/gw_${w%%:*}/g" "$T/site-${w%%:*}.conf" \
		    >>"$T/nginx-site.conf"
	done
	render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" STATEDIR="$T" ||
	    die "deploy/nginx-standalone.conf does not render"
	# no access log: it would be the same cost for both, and disk
	sed -i 's|^\( *access_log\).*|\1 off;|' "$T/nginx.conf"
	cp /etc/nginx/fastcgi_params "$T/"
	start_bg nginx "${SRVPIN[@]}" "$NGINX" -c "$T/nginx.conf"
	if ! wait_port "$PORT_S" 200 >/dev/null ||
	    ! wait_port "$PORT_B" 200 >/dev/null; then
		die "nginx does not start: $(cat "$T/nginx.err" "$T/nginx-error.log")"
	fi
	for p in "$PORT_S" "$PORT_B"; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" \
		    "http://127.0.0.1:$p$URI")
		[ "$code" = 307 ] || die "port $p answers $code, not 307"
	done
	{
		echo
		echo "| gateway memory | Private_Dirty | Anonymous | Pss | Rss |"
		echo "|---|---|---|---|---|"
		mem_line "10 rules, after start" "$SMALL"
		mem_line "$RULES rules, after start" "$BIG"
	} >>"$R"
	START_KB=$(cat "$T/mem.last")
	# cputicks PID: its user + system time so far, in clock ticks
	cputicks() {
		awk '{ print $14 + $15 }' "/proc/$1/stat"
	}
	TCK=$(getconf CLK_TCK)
	# wrk_run PORT PID: one wrk run against the gateway PID behind PORT;
	# its requests per second, and the gateway's CPU time per request
	# (µs, /proc/PID/stat), which the load of the machine moves less
	wrk_run() {
		local c0 c1 n
		c0=$(cputicks "$2")
		"${WRKPIN[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
		    -H "Host: $HOST" "http://127.0.0.1:$1$URI" >"$T/wrk.out" 2>&1 ||
		    die "wrk failed: $(cat "$T/wrk.out")"
		c1=$(cputicks "$2")
		grep -q 'Socket errors' "$T/wrk.out" &&
		    say "wrk: $(grep 'Socket errors' "$T/wrk.out")"
		n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$T/wrk.out")
		echo "$(awk '/^Requests\/sec:/ { print $2 }' "$T/wrk.out")" \
		    "$(python3 -c "print('%.1f' % (($c1 - $c0) * 1e6 / $TCK / $n))")"
	}
	wrk_run "$PORT_S" "$SMALL" >/dev/null	# warm-up, both
	wrk_run "$PORT_B" "$BIG" >/dev/null
	RS=() RB=() CS=() CB=()
	for r in $(seq 1 "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then
			read -r rs cs <<<"$(wrk_run "$PORT_S" "$SMALL")"
			read -r rb cb <<<"$(wrk_run "$PORT_B" "$BIG")"
		else
			read -r rb cb <<<"$(wrk_run "$PORT_B" "$BIG")"
			read -r rs cs <<<"$(wrk_run "$PORT_S" "$SMALL")"
		fi
		RS+=("$rs") RB+=("$rb") CS+=("$cs") CB+=("$cb")
		say "round $r: 10 rules $rs/s ($cs µs CPU a request)," \
		    "$RULES rules $rb/s ($cb µs)"
	done
	{
		mem_line "10 rules, after wrk" "$SMALL"
		mem_line "$RULES rules, after wrk" "$BIG"
	} >>"$R"
	AFTER_KB=$(cat "$T/mem.last")
	python3 - "${RS[*]}" "${RB[*]}" "$DURATION" "$CONNS" "$RULES" \
	    "${CS[*]}" "${CB[*]}" >>"$R" <<'PY'
import statistics, sys
rs = [float(x) for x in sys.argv[1].split()]
rb = [float(x) for x in sys.argv[2].split()]
cs = [float(x) for x in sys.argv[6].split()]
cb = [float(x) for x in sys.argv[7].split()]
print("\n| wrk -t1 -c%s -d%ss, round | 10 rules req/s | %s rules req/s | "
      "ratio | gateway CPU µs a request: 10 rules | %s rules | CPU ratio |"
      % (sys.argv[4], sys.argv[3], sys.argv[5], sys.argv[5]))
print("|---|---|---|---|---|---|---|")
for i, (a, b, c, d) in enumerate(zip(rs, rb, cs, cb), 1):
    print("| %d | %.0f | %.0f | %.3f× | %.1f | %.1f | %.2f× |" % (
        i, a, b, b / a, c, d, d / c))
ms, mb = statistics.median(rs), statistics.median(rb)
mc, md = statistics.median(cs), statistics.median(cb)
print("| median | %.0f | %.0f | %.3f× (median of the rounds' ratios "
      "%.3f×) | %.1f | %.1f | %.2f× |" % (
          ms, mb, mb / ms,
          statistics.median(b / a for a, b in zip(rs, rb)), mc, md, md / mc))
PY
	CPURATIO=$(python3 -c 'import statistics, sys
print("%.2f" % (statistics.median(float(x) for x in sys.argv[2].split()) /
                statistics.median(float(x) for x in sys.argv[1].split())))' \
	    "${CS[*]}" "${CB[*]}")
	RATIO=$(python3 -c 'import statistics, sys
rs = [float(x) for x in sys.argv[1].split()]
rb = [float(x) for x in sys.argv[2].split()]
print("%.3f" % (statistics.median(rb) / statistics.median(rs)))' "${RS[*]}" "${RB[*]}")
	verdict "throughput, $RULES rules / 10 rules: ${RATIO}× (medians); target >= 0.95×: $(python3 -c "print('met' if $RATIO >= 0.95 else 'MISSED')") (the gateway's CPU time a request: ${CPURATIO}× the 10-rule one's)"
	verdict "private memory of the $RULES-rule process (the larger of Private_Dirty and Anonymous): $(mib "$START_KB") MiB after start, $(mib "$AFTER_KB") MiB after wrk; target < 64 MiB: $(python3 -c "print('met' if max($START_KB, $AFTER_KB) < 64 * 1024 else 'MISSED')")"
	stop nginx
	stop gw-small
	stop gw-big
	;;
esac

# --- 3. eight processes on one socket ----------------------------------------
# threads_up PID...: how many of these have more than THREADS threads
threads_up() {
	local pid n=0
	for pid in "$@"; do
		[ "$(awk '$1 == "Threads:" { print $2 }' "/proc/$pid/status" \
		    2>/dev/null || echo 0)" -gt "$THREADS" ] && n=$((n + 1))
	done
	echo "$n"
}
# spawn N WAY: spawn-fcgi -F N with the big manifest; prints the summed
# smaps_rollup JSON once all N serve, and stops them
spawn() {
	local n=$1 cache=$T/cache pids out i
	[ "$2" = off ] && cache=none
	rm -f "$T/procs.sock" "$T/procs.pids" "$T/procs.err"
	env GATEWAY_BIN="$FCGI" GATEWAY_MANIFEST="$T/big.json" \
	    GATEWAY_CACHE_DIR="$cache" GATEWAY_LOG=none GATEWAY_POLL=0 \
	    GATEWAY_THREADS="$THREADS" SPAWN_SOCKET="$T/procs.sock" \
	    SPAWN_SOCKET_MODE=0600 SPAWN_CHILDREN="$n" \
	    SPAWN_PIDFILE="$T/procs.pids" "${SRVPIN[@]}" \
	    sh "$DEPLOY/spawn-fcgi.sh" >/dev/null 2>"$T/procs.err" ||
	    die "spawn-fcgi failed: $(cat "$T/procs.err")"
	pids=$(cat "$T/procs.pids")
	for pid in $pids; do
		T_PIDS+=("$pid")
	done
	# spawn-fcgi's children do not keep its stderr: a process is serving
	# once it has started its worker threads, after loading the manifest
	i=0
	# shellcheck disable=SC2086
	while [ "$(threads_up $pids)" -lt "$n" ] && [ $i -lt 1200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	[ "$(threads_up $pids)" -ge "$n" ] ||
	    die "$n processes did not all start"
	sleep 0.5
	# shellcheck disable=SC2086
	out=$(python3 "$PROBE" smaps $pids)
	for pid in $pids; do
		stop_pid "$pid" 20
	done
	echo "$out"
}
case " $PARTS " in
*" procs "*)
	say "part 3: $PROCS processes on one socket"
	# the image present: a first process writes it if part 1 did not
	spawn 1 warm >/dev/null
	flush "$T/cache"
	{
		echo
		echo "| spawn-fcgi -F N, $RULES rules | image | sum of Pss | per process | sum / one | sum of Private_Dirty | sum of Anonymous |"
		echo "|---|---|---|---|---|---|---|"
	} >>"$R"
	for way in warm off; do
		one=$(spawn 1 "$way") || exit 1
		all=$(spawn "$PROCS" "$way") || exit 1
		p1=$(field "$one" sum Pss)
		pn=$(field "$all" sum Pss)
		ratio=$(python3 -c "print('%.2f' % ($pn / $p1))")
		for x in "1:$one" "$PROCS:$all"; do
			j=${x#*:}
			echo "| ${x%%:*} | $way | $(mib "$(field "$j" sum Pss)") MiB |" \
			    "$(mib "$(($(field "$j" sum Pss) / ${x%%:*}))") MiB |" \
			    "$( [ "${x%%:*}" = 1 ] && echo 1 || echo "${ratio}×")" \
			    "| $(mib "$(field "$j" sum Private_Dirty)") MiB |" \
			    "$(mib "$(field "$j" sum Anonymous)") MiB |" >>"$R"
		done
		[ "$way" = warm ] && verdict "$PROCS processes, image present: sum of Pss ${ratio}× one process's; target < 2×: $(python3 -c "print('met' if $pn < 2 * $p1 else 'MISSED')")"
	done
	;;
esac

{
	echo
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (at the start $LOAD0)."
	echo
	echo "Issue 10's targets:"
	echo
	for v in "${VERDICTS[@]}"; do
		echo "- $v"
	done
} >>"$R"
cat "$R"
[ -z "${BENCH_OUT:-}" ] || cp "$R" "$BENCH_OUT"
