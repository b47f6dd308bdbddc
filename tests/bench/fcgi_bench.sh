#!/usr/bin/env bash
# The cost of one FastCGI request (issue 11): wrk through one nginx (one
# worker, deploy/nginx-standalone.conf) to five server blocks, in one run,
# the order rotating every round:
#
#   trivial    a trivial libfcgi responder (tests/bench/trivial_fcgi.c,
#              compiled here with -O2: FCGX_Accept_r in THREADS threads,
#              a fixed 307), one connection per request
#   percon     the gateway, one connection per request (fastcgi_keep_conn
#              off, no upstream keepalive), answering a file redirect
#              from a 10-rule manifest (the request matches the last rule)
#   keepalive  the gateway behind deploy/nginx.conf's own settings
#              (fastcgi_keep_conn on, upstream keepalive), the upstream's
#              keepalive raised to the client count so that no connection
#              is opened per request
#   trivial_ka the trivial responder with the same keep-alive settings
#   return     nginx itself: `return 307` with the same Location
#
# Each gateway is its own process (--threads THREADS, event log on), so
# that kept-alive connections, which pin a gateway thread today, do not
# take threads from the per-connection one.  Every way is checked to
# answer 307 first.  The report: requests/s of each way (median and best
# of the rounds), the ratios percon / trivial (target >= 1.0) and
# keepalive / return (target >= 0.35), each also as the median of the
# per-round ratios; then the system calls per request of each gateway
# mode: `strace -c -f` attached to the gateway while ab sends
# BENCH_SYSCALL_N requests through nginx, divided by the requests the
# gateway logged meanwhile.
#
#	tests/bench/fcgi_bench.sh
#
# From a built tree (out-of-tree builds: set top_builddir).  Needs nginx,
# wrk, ab (apache2-utils), strace, a C compiler and libfcgi-dev.
# Settings (environment):
#
#   BENCH_SECS         seconds per wrk run (default 5)
#   BENCH_ROUNDS       rounds (default 3)
#   BENCH_CONNS        wrk connections (default 16), also the upstream
#                      keepalive of the keep-alive blocks
#   BENCH_WRK_THREADS  wrk threads (default 2)
#   BENCH_THREADS      threads of each gateway and of the trivial
#                      responder (default 16, the shipped --threads)
#   BENCH_WAYS         default "trivial percon keepalive trivial_ka return"
#   BENCH_SYSCALL_N    requests under strace (default 2000; 0: skip)
#   BENCH_OUT          also write the report to this file
#
# Every process is started here and stopped by its pid.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/lib-servers.sh"

SECS=${BENCH_SECS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-16}
WTHREADS=${BENCH_WRK_THREADS:-2}
THREADS=${BENCH_THREADS:-16}
WAYS=${BENCH_WAYS:-trivial percon keepalive trivial_ka return}
SYSN=${BENCH_SYSCALL_N:-2000}
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)

die() {
	echo "fcgi_bench: $*" >&2
	exit 1
}
say() {
	echo "fcgi_bench: $*" >&2
}

[ -x "$FCGI" ] || die "$FCGI not built (set top_builddir)"
[ -x "$NGINX" ] || die "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || die "/etc/nginx/fastcgi_params missing"
for t in wrk curl python3 ${CC:-cc}; do
	command -v "$t" >/dev/null || die "$t not installed"
done
[ "$SYSN" = 0 ] || for t in ab strace; do
	command -v "$t" >/dev/null || die "$t not installed (or BENCH_SYSCALL_N=0)"
done
chmod 0711 "$T"
START=$(date +%s)

${CC:-cc} -std=gnu11 -O2 -o "$T/trivial_fcgi" \
    "$top_srcdir/tests/bench/trivial_fcgi.c" -lfcgi -lpthread ||
    die "cannot build trivial_fcgi.c (libfcgi-dev)"

# ten file rules on one host; the request matches the last
LOC=https://files.example.net/t10/v1.2.3/tool-1.2.3.tar.gz
PATH_Q=/t10/1.2.3/tool-1.2.3.tar.gz
{
	printf '{"rules": [\n'
	for i in $(seq 1 10); do
		printf ' {"type": "file-v1", "domain": "dl.example.test", '
		printf '"package-id": "tool-%d", "incoming-path": ' "$i"
		printf '"/t%d/{version}/tool-{version}.tar.gz", ' "$i"
		printf '"outgoing-url": "https://files.example.net/t%d/' "$i"
		printf 'v{version}/tool-{version}.tar.gz"}'
		[ "$i" -lt 10 ] && printf ',\n'
	done
	printf '\n]}\n'
} >"$T/manifest.json"

# --- the responders -------------------------------------------------------------
# gateway NAME: a gateway on $T/NAME.sock logging to $T/NAME.log
gateway() {
	start_bg "$1" "$FCGI" --manifest "$T/manifest.json" \
	    --listen "unix:$T/$1.sock" --log "$T/$1.log" --threads "$THREADS"
	wait_socket "$T/$1.sock" >/dev/null ||
	    die "the $1 gateway does not start: $(cat "$T/$1.err")"
	chmod 0666 "$T/$1.sock"
}
gateway gw_percon
gateway gw_ka
start_bg trivial "$T/trivial_fcgi" "$T/trivial.sock" "$THREADS"
wait_socket "$T/trivial.sock" >/dev/null || die "trivial_fcgi does not start"
chmod 0666 "$T/trivial.sock"

# --- nginx --------------------------------------------------------------------------
# block NAME PORT SOCK KEEPALIVE: deploy/nginx.conf rendered for SOCK, its
# upstream renamed; KEEPALIVE 0 turns keep-alive off (no upstream
# keepalive, fastcgi_keep_conn off), else it is the upstream's keepalive
block() {
	render "$DEPLOY/nginx.conf" "$T/$1.conf.in" BIND=127.0.0.1 PORT="$2" \
	    UPSTREAM="unix:$3" || die "deploy/nginx.conf does not render"
	if [ "$4" = 0 ]; then
		sed -e '/^ *keepalive/d' \
		    -e 's/fastcgi_keep_conn on;/fastcgi_keep_conn off;/'
	else
		sed -e "s/^\( *\)keepalive [0-9]*;/\1keepalive $4;/"
	fi <"$T/$1.conf.in" | sed -e "s/scarf_gateway/up_$1/g" \
	    -e 's/ default_server;/;/' >>"$T/nginx-site.conf"
}
declare -A PORTS
for w in trivial percon keepalive trivial_ka return; do
	PORTS[$w]=$(free_port)
done
: >"$T/nginx-site.conf"
block trivial "${PORTS[trivial]}" "$T/trivial.sock" 0
block percon "${PORTS[percon]}" "$T/gw_percon.sock" 0
block keepalive "${PORTS[keepalive]}" "$T/gw_ka.sock" "$CONNS"
block trivial_ka "${PORTS[trivial_ka]}" "$T/trivial.sock" "$CONNS"
cat >>"$T/nginx-site.conf" <<EOF
server {
    listen 127.0.0.1:${PORTS[return]};
    location / {
        return 307 $LOC;
    }
}
EOF
grep -q 'fastcgi_keep_conn on' "$T/keepalive.conf.in" ||
    die "deploy/nginx.conf no longer keeps FastCGI connections alive"
render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" STATEDIR="$T" ||
    die "deploy/nginx-standalone.conf does not render"
cp /etc/nginx/fastcgi_params "$T/"
start_bg nginx "$NGINX" -c "$T/nginx.conf"
NG=$(pid_of nginx)
for w in "${!PORTS[@]}"; do
	wait_port "${PORTS[$w]}" >/dev/null ||
	    die "nginx does not start: $(cat "$T/nginx.err" "$T/nginx-error.log")"
done

url() {
	echo "http://127.0.0.1:${PORTS[$1]}$PATH_Q"
}
for w in $WAYS; do
	[ -n "${PORTS[$w]:-}" ] || die "unknown way $w"
	got=$(curl -s -o /dev/null -H 'Host: dl.example.test' \
	    -w '%{http_code} %{redirect_url}' "$(url "$w")")
	[ "$got" = "307 $LOC" ] || die "$w answers '$got', not 307 $LOC"
done

# --- the wrk rounds -------------------------------------------------------------
: >"$T/samples"
ERRORS=0
for ((r = 0; r < ROUNDS; r++)); do
	# shellcheck disable=SC2086
	set -- $WAYS
	for ((i = 0; i < r % $#; i++)); do set -- "${@:2}" "$1"; done
	for w in "$@"; do
		wrk -t "$WTHREADS" -c "$CONNS" -d "${SECS}s" \
		    -H 'Host: dl.example.test' "$(url "$w")" >"$T/wrk.out" 2>&1
		rps=$(sed -n 's/^Requests\/sec: *//p' "$T/wrk.out")
		bad=$(sed -n 's/.*Non-2xx or 3xx responses: *//p;
		    s/.*Socket errors: .*timeout \([0-9]*\).*/\1/p' "$T/wrk.out" |
		    awk '{ s += $1 } END { print s + 0 }')
		[ -n "$rps" ] || die "wrk failed: $(cat "$T/wrk.out")"
		[ "$bad" = 0 ] || ERRORS=$((ERRORS + bad))
		echo "$w $r $rps" >>"$T/samples"
		say "round $((r + 1)) $w: $rps req/s"
	done
done

# --- system calls per request -------------------------------------------------------
# syscalls NAME PID WAY: strace -c -f on PID while ab sends $SYSN requests
# (keep-alive to nginx, 4 at a time) through WAY; $T/NAME.strace, and one
# line in $T/syscalls: NAME REQUESTS CALLS, the requests counted from the
# gateway's event log (the trivial responder has none: ab's count of
# complete requests, 0 when any failed)
syscalls() {
	local n=$1 pid=$2 w=$3 before after calls
	before=$(lines "$T/$n.log")
	start_bg "strace-$n" strace -c -f -p "$pid" -o "$T/$n.strace"
	sleep 1		# attached to every thread
	ab -q -k -n "$SYSN" -c 4 -H 'Host: dl.example.test' "$(url "$w")" \
	    >"$T/ab-$n.out" 2>&1
	sleep 0.5
	kill -INT "$(pid_of "strace-$n")"
	wait_exit "$(pid_of "strace-$n")" 20
	after=$(lines "$T/$n.log")
	if [ "$n" = trivial ]; then
		before=0
		after=$(sed -n 's/^Complete requests: *//p' "$T/ab-$n.out")
		grep -q '^Failed requests: *0$' "$T/ab-$n.out" || after=0
	fi
	calls=$(awk '$NF == "total" { print $4 }' "$T/$n.strace")
	echo "$n $((after - before)) ${calls:-0}" >>"$T/syscalls"
}
: >"$T/syscalls"
if [ "$SYSN" != 0 ]; then
	syscalls trivial "$(pid_of trivial)" trivial
	syscalls gw_percon "$(pid_of gw_percon)" percon
	syscalls gw_ka "$(pid_of gw_ka)" keepalive
fi

# --- the report -----------------------------------------------------------------------
{
	echo "FastCGI benchmark, $(date -u +%Y-%m-%d), $(uname -srm)," \
	    "$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' \
	    /proc/cpuinfo | head -n 1)), $("$NGINX" -v 2>&1 |
	    sed 's/^nginx version: //') (one worker), wrk -t $WTHREADS" \
	    "-c $CONNS -d ${SECS}s, $ROUNDS rounds; gateways and trivial" \
	    "responder with $THREADS threads; load average at the start:" \
	    "$(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	python3 - "$T/samples" "$T/syscalls" "$WAYS" "$T" <<'PY'
import re
import statistics
import sys

samples, sysf, ways, tdir = sys.argv[1], sys.argv[2], sys.argv[3].split(), \
    sys.argv[4]
NAMES = {"trivial": "trivial libfcgi, per connection",
         "percon": "gateway, per connection",
         "keepalive": "gateway, keep-alive",
         "trivial_ka": "trivial libfcgi, keep-alive",
         "return": "nginx return 307"}
rps, byround = {}, {}
for line in open(samples):
    w, r, v = line.split()
    rps.setdefault(w, []).append(float(v))
    byround[(w, int(r))] = float(v)


def med(w):
    return statistics.median(rps[w]) if w in rps else None


def paired(a, b):
    v = [byround[k] / byround[(b, k[1])] for k in byround
         if k[0] == a and (b, k[1]) in byround]
    return statistics.median(v) if v else None


print("| way | requests/s, median (best) |")
print("|---|---|")
for w in ways:
    print("| %s | %.0f (%.0f) |" % (NAMES[w], med(w), max(rps[w])))
print()
for a, b, target in (("percon", "trivial", 1.0),
                     ("keepalive", "return", 0.35),
                     ("keepalive", "trivial_ka", None),
                     ("keepalive", "percon", None)):
    if med(a) and med(b):
        print("- %s / %s: %.2fx (per round: %.2fx)%s" % (
            a, b, med(a) / med(b), paired(a, b),
            "; target >= %.2fx" % target if target else ""))
print()
rows = [l.split() for l in open(sysf)]
if rows:
    print("System calls per request (strace -c -f on the gateway):")
    print()
    print("| gateway | requests | calls | per request | the most frequent, "
          "per request |")
    print("|---|---|---|---|---|")
    for n, reqs, calls in rows:
        reqs, calls = int(reqs), int(calls)
        top = []
        for line in open("%s/%s.strace" % (tdir, n)):
            f = line.split()
            if len(f) >= 5 and re.match(r"^[0-9.]+$", f[0]) and \
                    f[-1] != "total" and f[-1] != "------":
                top.append((int(f[3]), f[-1]))
        top.sort(reverse=True)
        per = ", ".join("%s %.2f" % (s, c / reqs) for c, s in top[:6]) \
            if reqs else "-"
        print("| %s | %d | %d | %s | %s |" % (
            n, reqs, calls, "%.1f" % (calls / reqs) if reqs else "-", per))
PY
	echo
	echo "Run time: $(($(date +%s) - START)) s; wrk errors (non-3xx," \
	    "timeouts): $ERRORS."
} >"$T/report.md"
cat "$T/report.md"
[ -z "${BENCH_OUT:-}" ] || cp "$T/report.md" "$BENCH_OUT"

stop_pid "$NG"
stop gw_percon
stop gw_ka
# (libfcgi's SIGTERM handler only flags a shutdown for its accept loop)
{
	kill -KILL "$(pid_of trivial)"
	wait "$(pid_of trivial)"
} 2>/dev/null
[ "$ERRORS" -eq 0 ]
