#!/usr/bin/env bash
# Proxy throughput benchmark (issue 4): large blobs from a local
# docker-registry, fetched with curl three ways in one run, alternating:
#
#   direct      curl -> docker-registry
#   proxy_pass  curl -> nginx proxy_pass -> docker-registry (the reference;
#               unbuffered, like the gateway's server block)
#   gateway     curl -> nginx (deploy/nginx.conf) -> FastCGI -> scarf-gateway
#               -> docker-registry (the gateway proxies: curl is not a
#               redirect-capable User-Agent, SPEC §3.3)
#   offload     (not by default) as gateway, but a second gateway started with
#               --offload-prefix answers X-Accel-Redirect and nginx fetches
#               the registry itself (deploy/nginx-offload.conf)
#   gateway_copy
#               (not by default) as gateway, but a third gateway started
#               with GATEWAY_SPLICE=0 copies every body byte through user
#               space instead of splicing
#   gateway_tcp as gateway, but over TCP: a fourth gateway under
#               deploy/spawn-fcgi.sh listens on 127.0.0.1:PORT
#               (SPAWN_TCP) and deploy/nginx.conf's upstream is that
#               address, as for a gateway on another host or container
#
# and prints a markdown report: per blob size, the median (best)
# throughput of each way, the gateway to proxy_pass ratio, the gateway's
# peak RSS, and the CPU time of each process per GiB.  Not part
# of `make check`; see tests/bench/README.md.  Everything runs on
# 127.0.0.1; the blobs (random data) are pushed once into a registry
# storage directory kept in BENCH_CACHE and reused by later runs.
#
# Settings (environment):
#   BENCH_SIZES    blob sizes in MiB (default "10 256 1024")
#   BENCH_ROUNDS   rounds per size, each fetching the blob once every way,
#                  in rotating order (default 5)
#   BENCH_CACHE    blob cache (default ${XDG_CACHE_HOME:-~/.cache}/
#                  scarf-gateway-bench); delete it to start over
#   BENCH_VERIFY   1 (default): fetch each blob once more through the
#                  gateway, untimed, and check the sha256 of the body
#   BENCH_THREADS  the gateway's --threads (default 4)
#   BENCH_WAYS     the ways to compare (default "direct proxy_pass gateway
#                  gateway_tcp"; also: proxy_pass_buffered, offload,
#                  gateway_copy)
#   BENCH_OUT      also write the report to this file
#   BENCH_PERF     record `perf record -g` of the gateway and the nginx
#                  worker during the fetches into this file
#   BENCH_STRACE   1: after the timed rounds, one more fetch of the last
#                  size each way (untimed) with `strace -c -f` on the
#                  nginx worker and on that way's gateway; the report
#                  gains their system calls per MiB
#   top_builddir   where fcgi/scarf-gateway is (default: the source tree)
#
# Stopped by pid, like the tests: nginx, the gateway and the registry are
# started here and nothing is left running.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/lib-servers.sh"

SIZES=${BENCH_SIZES:-10 256 1024}
ROUNDS=${BENCH_ROUNDS:-5}
CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scarf-gateway-bench}
VERIFY=${BENCH_VERIFY:-1}
THREADS=${BENCH_THREADS:-4}
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
REGISTRY=$(command -v docker-registry 2>/dev/null)
REPO=bench/blob
WAYS=${BENCH_WAYS:-direct proxy_pass gateway gateway_tcp}

die() {
	echo "proxy_bench: $*" >&2
	exit 1
}
say() {
	echo "proxy_bench: $*" >&2
}

[ -x "$FCGI" ] || die "$FCGI not built (set top_builddir)"
[ -x "$NGINX" ] || die "nginx not installed"
[ -f /etc/nginx/fastcgi_params ] || die "/etc/nginx/fastcgi_params missing"
[ -n "$REGISTRY" ] || die "docker-registry not installed"
for t in curl spawn-fcgi python3 sha256sum; do
	command -v $t >/dev/null || die "$t not installed"
done
chmod 0711 "$T"
mkdir -p "$CACHE/registry" || die "cannot create $CACHE"
START=$(date +%s)

# --- the registry, on the cached storage -------------------------------------
REGPORT=$(free_port)
cat >"$T/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $CACHE/registry
http:
  addr: 127.0.0.1:$REGPORT
  secret: bench-not-secret
EOF
start_bg registry "$REGISTRY" serve "$T/registry.yml"
wait_port "$REGPORT" 200 || die "docker-registry does not start: $(tail -n 3 "$T/registry.err")"
REG=http://127.0.0.1:$REGPORT

# push SIZE: a random blob of SIZE MiB into the registry, once; its digest
# is kept in $CACHE/blobs (lines "SIZE sha256:...")
push() {
	local size=$1 f=$CACHE/tmp.bin dg loc code
	say "making and pushing a $size MiB blob (once; cached in $CACHE)"
	head -c "${size}M" /dev/urandom >"$f" || return 1
	dg=sha256:$(sha256sum "$f" | cut -d' ' -f1)
	loc=$(curl -s -o /dev/null -w '%{redirect_url}' -X POST \
	    "$REG/v2/$REPO/blobs/uploads/")
	[ -n "$loc" ] || loc=$(curl -s -D - -o /dev/null -X POST \
	    "$REG/v2/$REPO/blobs/uploads/" | tr -d '\r' |
	    sed -n 's/^Location: //Ip')
	case $loc in
	http*) ;;
	*) loc=$REG$loc ;;
	esac
	case $loc in
	*\?*) loc="$loc&digest=$dg" ;;
	*) loc="$loc?digest=$dg" ;;
	esac
	code=$(curl -s -o "$T/push.out" -w '%{http_code}' -X PUT \
	    -H 'Content-Type: application/octet-stream' -T "$f" "$loc")
	rm -f "$f"
	[ "$code" = 201 ] || {
		say "push of $size MiB failed: $code $(cat "$T/push.out")"
		return 1
	}
	echo "$size $dg" >>"$CACHE/blobs"
}

# digest SIZE: the cached blob's digest, when the registry still has it
digest() {
	local dg
	dg=$(awk -v s="$1" '$1 == s { d = $2 } END { print d }' \
	    "$CACHE/blobs" 2>/dev/null)
	[ -n "$dg" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -I \
	    "$REG/v2/$REPO/blobs/$dg")" = 200 ] && echo "$dg"
}

declare -A DIGEST
for s in $SIZES; do
	DIGEST[$s]=$(digest "$s")
	if [ -z "${DIGEST[$s]}" ]; then
		push "$s" || die "cannot push the $s MiB blob"
		DIGEST[$s]=$(digest "$s")
		[ -n "${DIGEST[$s]}" ] || die "the $s MiB blob is not in the registry"
	fi
done

# --- the gateway and nginx ----------------------------------------------------
PORT=$(free_port)	# nginx -> gateway (the shipped deploy/nginx.conf)
REFPORT=$(free_port)	# nginx proxy_pass -> registry (the reference)
BUFPORT=$(free_port)	# the same, with nginx's default buffering
SOCK=$T/gw.sock
cat >"$T/manifest.json" <<EOF
{"rules": [{"type": "docker-v1", "domain": "127.0.0.1",
  "package-id": "bench", "repository-name": "$REPO",
  "registry": "$REG"}]}
EOF
# start_gateway NAME SOCK LOG [NAME=VALUE...]: a gateway under the shipped
# deploy/spawn-fcgi.sh on the Unix socket SOCK, with these settings
start_gateway() {
	local name=$1 sock=$2 log=$3
	shift 3
	start_bg "$name" env GATEWAY_BIN="$FCGI" \
	    GATEWAY_MANIFEST="$T/manifest.json" GATEWAY_LOG="$log" \
	    GATEWAY_THREADS="$THREADS" GATEWAY_POLL=0 "$@" \
	    SPAWN_SOCKET="$sock" SPAWN_SOCKET_MODE=0666 \
	    SPAWN_FOREGROUND=1 sh "$DEPLOY/spawn-fcgi.sh"
	wait_socket "$sock" >/dev/null ||
	    die "the $name gateway does not start: $(cat "$T/$name.err")"
}
start_gateway gateway "$SOCK" "$T/events.log"
GW=$(pid_of gateway)
# way offload: a second gateway, handing its proxied GETs to nginx
OFFPORT=$(free_port)
OFFSOCK=$T/gw-offload.sock
GW2=
case " $WAYS " in
*" offload "*)
	start_gateway gateway2 "$OFFSOCK" "$T/events2.log" \
	    GATEWAY_OFFLOAD_PREFIX=/_gw_offload
	GW2=$(pid_of gateway2)
	;;
esac
# way gateway_copy: a third gateway with splicing off (GATEWAY_SPLICE=0),
# every body byte copied through libcurl and libfcgi's records
COPYPORT=$(free_port)
COPYSOCK=$T/gw-copy.sock
GW3=
case " $WAYS " in
*" gateway_copy "*)
	start_gateway gateway3 "$COPYSOCK" "$T/events3.log" GATEWAY_SPLICE=0
	GW3=$(pid_of gateway3)
	;;
esac
# way gateway_tcp: a fourth gateway, on a TCP socket
TCPPORT=$(free_port)	# nginx -> gateway over TCP
GWTCP=$(free_port)	# where that gateway listens
GW4=
case " $WAYS " in
*" gateway_tcp "*)
	start_bg gateway4 env GATEWAY_BIN="$FCGI" \
	    GATEWAY_MANIFEST="$T/manifest.json" GATEWAY_LOG="$T/events4.log" \
	    GATEWAY_THREADS="$THREADS" GATEWAY_POLL=0 \
	    SPAWN_TCP="127.0.0.1:$GWTCP" SPAWN_FOREGROUND=1 \
	    sh "$DEPLOY/spawn-fcgi.sh"
	wait_port "$GWTCP" >/dev/null ||
	    die "the gateway4 gateway does not start: $(cat "$T/gateway4.err")"
	GW4=$(pid_of gateway4)
	;;
esac

render "$DEPLOY/nginx.conf" "$T/nginx-site.conf" BIND=127.0.0.1 \
    PORT="$PORT" UPSTREAM="unix:$SOCK" || die "deploy/nginx.conf does not render"
# The reference: nginx's own reverse proxy, as one would configure it for
# a registry (HTTP/1.1 keep-alive to the upstream), in the same nginx and
# worker as the gateway's server block, with the buffer settings
# deploy/nginx.conf gives the gateway (unbuffered, one 16 KiB buffer).
# That is also the fastest of nginx's variants here: with nginx's default
# buffering (way proxy_pass_buffered, not run by default), the 64 KiB of
# proxy_buffers fill up and the rest of the body goes through a temporary
# file, which costs more CPU and varies much more from run to run.
cat >>"$T/nginx-site.conf" <<EOF

upstream bench_registry {
    server 127.0.0.1:$REGPORT;
    keepalive 4;
}
server {
    listen 127.0.0.1:$REFPORT;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$http_host;
    proxy_read_timeout 300s;
    location / {
        proxy_pass http://bench_registry;
        proxy_buffering off;
        proxy_buffer_size 16k;
        proxy_buffers 8 16k;
    }
}
server {
    listen 127.0.0.1:$BUFPORT;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$http_host;
    proxy_read_timeout 300s;
    location / {
        proxy_pass http://bench_registry;
    }
}
EOF
if [ -n "$GW2" ]; then
	# deploy/nginx.conf once more (its upstream renamed) with
	# deploy/nginx-offload.conf included in its server block
	render "$DEPLOY/nginx-offload.conf" "$T/nginx-offload.conf" \
	    PREFIX=/_gw_offload RESOLVER=127.0.0.1 \
	    CA_FILE=/etc/ssl/certs/ca-certificates.crt ||
	    die "deploy/nginx-offload.conf does not render"
	render "$DEPLOY/nginx.conf" "$T/nginx-off.conf.in" BIND=127.0.0.1 \
	    PORT="$OFFPORT" UPSTREAM="unix:$OFFSOCK" ||
	    die "deploy/nginx.conf does not render"
	sed -e 's/scarf_gateway/scarf_gateway_offload/g' \
	    -e 's/ default_server;/;/' \
	    -e "s|^\( *\)client_max_body_size .*|&\n\1include $T/nginx-offload.conf;|" \
	    "$T/nginx-off.conf.in" >>"$T/nginx-site.conf"
fi
if [ -n "$GW3" ]; then
	render "$DEPLOY/nginx.conf" "$T/nginx-copy.conf.in" BIND=127.0.0.1 \
	    PORT="$COPYPORT" UPSTREAM="unix:$COPYSOCK" ||
	    die "deploy/nginx.conf does not render"
	sed -e 's/scarf_gateway/scarf_gateway_copy/g' \
	    -e 's/ default_server;/;/' \
	    "$T/nginx-copy.conf.in" >>"$T/nginx-site.conf"
fi
if [ -n "$GW4" ]; then
	render "$DEPLOY/nginx.conf" "$T/nginx-tcp.conf.in" BIND=127.0.0.1 \
	    PORT="$TCPPORT" UPSTREAM="127.0.0.1:$GWTCP" ||
	    die "deploy/nginx.conf does not render"
	sed -e 's/scarf_gateway/scarf_gateway_tcp/g' \
	    -e 's/ default_server;/;/' \
	    "$T/nginx-tcp.conf.in" >>"$T/nginx-site.conf"
fi
render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" STATEDIR="$T" ||
    die "deploy/nginx-standalone.conf does not render"
cp /etc/nginx/fastcgi_params "$T/"
start_bg nginx "$NGINX" -c "$T/nginx.conf"
NG=$(pid_of nginx)
wait_port "$PORT" >/dev/null && wait_port "$REFPORT" >/dev/null &&
    wait_port "$BUFPORT" >/dev/null ||
    die "nginx does not start: $(cat "$T/nginx.err" "$T/nginx-error.log")"
# the worker (one: nginx-standalone.conf), whose CPU time is counted
for ((i = 0; i < 100; i++)); do
	NGW=$(child_pids "$NG")
	[ -z "$NGW" ] || break
	sleep 0.05
done
[ "$(printf '%s\n' "$NGW" | grep -c .)" = 1 ] ||
    die "expected one nginx worker, found: $NGW"

# url WAY DIGEST
url() {
	case $1 in
	direct)		echo "$REG/v2/$REPO/blobs/$2" ;;
	proxy_pass)	echo "http://127.0.0.1:$REFPORT/v2/$REPO/blobs/$2" ;;
	proxy_pass_buffered)
			echo "http://127.0.0.1:$BUFPORT/v2/$REPO/blobs/$2" ;;
	gateway)	echo "http://127.0.0.1:$PORT/v2/$REPO/blobs/$2" ;;
	offload)	echo "http://127.0.0.1:$OFFPORT/v2/$REPO/blobs/$2" ;;
	gateway_copy)	echo "http://127.0.0.1:$COPYPORT/v2/$REPO/blobs/$2" ;;
	gateway_tcp)	echo "http://127.0.0.1:$TCPPORT/v2/$REPO/blobs/$2" ;;
	esac
}

# Does this build proxy?
case " $WAYS " in
*" gateway "*)
	code=$(curl -s -o "$T/probe" -w '%{http_code}' \
	    "$(url gateway "${DIGEST[${SIZES%% *}]}")")
	[ "$code" = 200 ] ||
	    die "the gateway does not proxy: $code $(head -c 200 "$T/probe")"
	;;
esac
case " $WAYS " in
*" offload "*)
	code=$(curl -s -o "$T/probe" -w '%{http_code}' \
	    "$(url offload "${DIGEST[${SIZES%% *}]}")")
	[ "$code" = 200 ] && grep -q '"offloaded":true' "$T/events2.log" ||
	    die "the gateway does not offload: $code $(head -c 200 "$T/probe")"
	;;
esac

# cpu PID: its user+system CPU time in clock ticks
cpu() {
	local line
	read -r line <"/proc/$1/stat" || die "process $1 is gone"
	# shellcheck disable=SC2086
	set -- ${line##*) }
	echo $((${12} + ${13}))
}

# hwm PID: peak resident set size (kB)
hwm() {
	sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

# timed_fetch WAY SIZE: one timed download to /dev/null; prints bytes and
# seconds.  The status, the length and the registry's Docker-Content-Digest
# are checked.
timed_fetch() {
	local way=$1 size=$2 dg=${DIGEST[$2]} out code len secs hd
	out=$(curl -s -o /dev/null -D "$T/h" --max-time 240 \
	    -w '%{http_code} %{size_download} %{time_total}' \
	    "$(url "$way" "$dg")")
	read -r code len secs <<<"$out"
	hd=$(tr -d '\r' <"$T/h" | sed -n 's/^Docker-Content-Digest: //Ip' |
	    tail -n 1)
	if [ "$code" != 200 ] || [ "$len" != $((size * 1048576)) ] ||
	    [ "$hd" != "$dg" ]; then
		say "$way $size MiB: status $code, $len bytes, digest '$hd'"
		return 1
	fi
	echo "$len $secs"
}

# cpus WAY: CPU ticks of the registry, the nginx worker and the gateway
# (the offloading one for way offload, the copying one for gateway_copy,
# the one on TCP for gateway_tcp)
cpus() {
	local g=$GW
	[ "$1" != offload ] || g=$GW2
	[ "$1" != gateway_copy ] || g=$GW3
	[ "$1" != gateway_tcp ] || g=$GW4
	echo "$(cpu "$(pid_of registry)") $(cpu "$NGW") $(cpu "$g")"
}

# One line per fetch in samples: SIZE WAY BYTES SECONDS and the CPU ticks
# each process spent meanwhile (registry, nginx worker, gateway); one line
# per size in rss: SIZE VmHWM-kB VERIFY.
ERRORS=0
: >"$T/samples"
: >"$T/rss"
if [ -n "${BENCH_PERF:-}" ]; then
	start_bg perf perf record -q -g -o "$BENCH_PERF" -p "$GW,$NGW"
	sleep 1
fi
for s in $SIZES; do
	# warm the page cache, untimed
	curl -s -o /dev/null "$(url direct "${DIGEST[$s]}")"
	# VmHWM from here on (Linux >= 4.0)
	echo 5 >"/proc/$GW/clear_refs" 2>/dev/null || say "cannot reset VmHWM"
	for ((r = 0; r < ROUNDS; r++)); do
		# shellcheck disable=SC2086
		set -- $WAYS
		# rotate the order each round
		for ((i = 0; i < r % $#; i++)); do set -- "${@:2}" "$1"; done
		for w in "$@"; do
			read -r a0 b0 c0 <<<"$(cpus "$w")"
			if v=$(timed_fetch "$w" "$s"); then
				read -r a1 b1 c1 <<<"$(cpus "$w")"
				echo "$s $w $v $((a1 - a0)) $((b1 - b0)) $((c1 - c0)) $r" \
				    >>"$T/samples"
				say "$s MiB round $((r + 1)) $w: $(awk -v b="${v% *}" \
				    -v t="${v#* }" 'BEGIN { printf "%.0f", b / t / 1e6 }') MB/s"
			else
				ERRORS=$((ERRORS + 1))
			fi
		done
	done
	ver=-
	if [ "$VERIFY" = 1 ] && [[ " $WAYS " == *" gateway "* ]]; then
		got=sha256:$(curl -s "$(url gateway "${DIGEST[$s]}")" |
		    sha256sum | cut -d' ' -f1)
		if [ "$got" = "${DIGEST[$s]}" ]; then
			ver=ok
		else
			ver=MISMATCH
			ERRORS=$((ERRORS + 1))
		fi
	fi
	echo "$s $(hwm "$GW") $ver" >>"$T/rss"
done
if [ -n "${BENCH_PERF:-}" ]; then
	kill -INT "$(pid_of perf)"
	wait_exit "$(pid_of perf)" 30
	say "perf data in $BENCH_PERF (perf report -i $BENCH_PERF)"
fi

# strace_way WAY SIZE: one fetch under strace -c -f of the nginx worker and
# the way's gateway (if any), into $T/strace.WAY.nginx and .gateway
: >"$T/straced"
strace_way() {
	local w=$1 s=$2 g=
	case $w in
	gateway)	g=$GW ;;
	gateway_copy)	g=$GW3 ;;
	gateway_tcp)	g=$GW4 ;;
	offload)	g=$GW2 ;;
	esac
	start_bg "st-$w-nginx" strace -c -f -p "$NGW" -o "$T/strace.$w.nginx"
	[ -z "$g" ] || start_bg "st-$w-gw" strace -c -f -p "$g" \
	    -o "$T/strace.$w.gateway"
	sleep 1
	timed_fetch "$w" "$s" >/dev/null || ERRORS=$((ERRORS + 1))
	sleep 0.5
	kill -INT "$(pid_of "st-$w-nginx")"
	wait_exit "$(pid_of "st-$w-nginx")" 30
	if [ -n "$g" ]; then
		kill -INT "$(pid_of "st-$w-gw")"
		wait_exit "$(pid_of "st-$w-gw")" 30
	fi
	echo "$w $s" >>"$T/straced"
}
if [ "${BENCH_STRACE:-0}" = 1 ]; then
	for w in $WAYS; do
		[ "$w" = direct ] || strace_way "$w" "${SIZES##* }"
	done
fi

# --- the report ---------------------------------------------------------------
{
	echo "Proxy benchmark, $(date -u +%Y-%m-%d), $(uname -srm)," \
	    "$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' \
	    /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ { print $2 }')" \
	    "GiB RAM, $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')," \
	    "$(curl --version | head -n 1 | cut -d' ' -f1,2)," \
	    "$("$REGISTRY" --version | cut -d' ' -f2,3);" \
	    "$ROUNDS rounds, gateway --threads $THREADS."
	echo
	python3 - "$T/samples" "$T/rss" "$(getconf CLK_TCK)" "$WAYS" <<'PY'
import statistics
import sys

samples, rss, tick, ways = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    sys.argv[4].split()
NAMES = {"direct": "direct", "proxy_pass": "nginx proxy_pass",
         "proxy_pass_buffered": "nginx proxy_pass buffered",
         "gateway": "nginx + gateway",
         "gateway_copy": "nginx + gateway, copying",
         "gateway_tcp": "nginx + gateway over TCP",
         "offload": "nginx + gateway offload"}
mbps, cpu, nbytes, sizes, byround = {}, {}, {}, [], {}
for line in open(samples):
    s, w, b, t, ra, ng, gw, r = line.split()
    s, b, t = int(s), int(b), float(t)
    if s not in sizes:
        sizes.append(s)
    mbps.setdefault((s, w), []).append(b / t / 1e6)
    byround[(s, w, int(r))] = b / t / 1e6
    c = cpu.setdefault((s, w), [0, 0, 0])
    for i, v in enumerate((ra, ng, gw)):
        c[i] += int(v)
    nbytes[(s, w)] = nbytes.get((s, w), 0) + b
hwm, ver = {}, {}
for line in open(rss):
    s, k, v = line.split()
    hwm[int(s)], ver[int(s)] = int(k), v


def med(s, w):
    v = mbps.get((s, w))
    return statistics.median(v) if v else None


def cell(s, w):
    v = mbps.get((s, w))
    if not v:
        return "-"
    return "%.0f (%.0f)" % (statistics.median(v), max(v))


def ratio(a, b):
    return "%.2fx" % (a / b) if a and b else "-"


def paired(s, w, ref="proxy_pass"):
    # the median of the per-round ratios: each round fetched both ways
    # back to back, so slow drifts of the machine's load cancel out
    v = [byround[k] / byround[(s, ref, k[2])] for k in byround
         if k[0] == s and k[1] == w and (s, ref, k[2]) in byround]
    return "%.2fx" % statistics.median(v) if v else "-"


extra = [w for w in ("gateway_tcp", "gateway_copy", "offload")
         if w in ways]
print("| blob | " + " | ".join(NAMES[w] + " MB/s" for w in ways) +
      " | gateway / proxy_pass | gateway / direct |" +
      "".join(" %s / proxy_pass |" % w for w in extra) +
      " gateway peak RSS |")
print("|---" * (len(ways) + 4 + len(extra)) + "|")
for s in sizes:
    g = med(s, "gateway")
    print("| %d MiB | " % s + " | ".join(cell(s, w) for w in ways) +
          " | %s (%s) | %s |" % (
              ratio(g, med(s, "proxy_pass")), paired(s, "gateway"),
              ratio(g, med(s, "direct"))) +
          "".join(" %s (%s) |" % (ratio(med(s, w), med(s, "proxy_pass")),
                                  paired(s, w))
                  for w in extra) +
          " %s |" % ("%.1f MiB" % (hwm[s] / 1024) if g else "-"))
print()
print("Median (best) of the rounds; MB = 10^6 bytes; curl -o /dev/null.  "
      "Ratios: of the medians (in brackets: the median of the per-round "
      "ratios).  Peak RSS: the gateway's VmHWM while that size was "
      "fetched.")
print()
print("CPU seconds per GiB fetched, by process (registry / nginx worker / "
      "gateway):")
print()
print("| blob | " + " | ".join(NAMES[w] for w in ways) + " |")
print("|---" * (len(ways) + 1) + "|")
for s in sizes:
    row = []
    for w in ways:
        c, b = cpu.get((s, w)), nbytes.get((s, w))
        if not b:
            row.append("-")
            continue
        f = 2**30 / b / tick
        row.append(" / ".join("%.2f" % (x * f) for x in c))
    print("| %d MiB | " % s + " | ".join(row) + " |")
print()
import os
import re
rows = [l.split() for l in open(samples.replace("samples", "straced"))]
if rows:
    print("System calls per MiB fetched (strace -c -f, one untimed fetch "
          "of %s MiB each way), the most frequent first:" % rows[0][1])
    print()
    print("| way | nginx worker | gateway |")
    print("|---|---|---|")
for w, s in rows:
    cells = []
    for who in ("nginx", "gateway"):
        f = samples.replace("samples", "strace.%s.%s" % (w, who))
        if not os.path.exists(f):
            cells.append("-")
            continue
        top, total = [], 0
        for line in open(f):
            x = line.split()
            if len(x) >= 5 and re.match(r"^[0-9.]+$", x[0]):
                if x[-1] == "total":
                    total = int(x[3])
                else:
                    top.append((int(x[3]), x[-1]))
        top.sort(reverse=True)
        cells.append("%.0f: " % (total / int(s)) + ", ".join(
            "%s %.1f" % (n, c / int(s)) for c, n in top[:4]))
    print("| %s | %s |" % (NAMES[w], " | ".join(cells)))
if rows:
    print()
for s in sizes:
    if ver.get(s, "-") != "-":
        print("sha256 of the %d MiB body through the gateway: %s" %
              (s, ver[s]))
PY
	echo "Every fetch: status 200, full length, Docker-Content-Digest as" \
	    "pushed.  Run time: $(($(date +%s) - START)) s; errors: $ERRORS."
} >"$T/report.md"
cat "$T/report.md"
[ -z "${BENCH_OUT:-}" ] || cp "$T/report.md" "$BENCH_OUT"

stop_pid "$NG"
stop_pid "$GW"
[ -z "$GW2" ] || stop_pid "$GW2"
[ -z "$GW3" ] || stop_pid "$GW3"
[ -z "$GW4" ] || stop_pid "$GW4"
stop registry
[ "$ERRORS" -eq 0 ]
