#!/usr/bin/env bash
# lighttpd with deploy/lighttpd-fastcgi.conf as shipped: lighttpd spawns the
# FastCGI program itself (bin-path).  Renders the config into a private
# directory with a free port, runs the web-server checks (checks.py), then
# stops lighttpd by its pid and checks that the program it spawned is gone
# too.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

LIGHTTPD=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
[ -x "$LIGHTTPD" ] || skip_all "lighttpd not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not found"

port=$(free_port)
lighttpd_render lighttpd-fastcgi.conf "$top_builddir/fcgi" "$port"

lighttpd_start "$port"
lpid=$LPID

# the program lighttpd spawned, on its socket (named <socket>-0)
ok "lighttpd spawned the program on its socket" \
    wait_socket "$T/scarf-gateway.sock-0" 200
kids=$(child_pids "$lpid")
gw=
for k in $kids; do
	[ "$(readlink "/proc/$k/exe")" = "$(readlink -f "$FCGI")" ] && gw="$gw $k"
done
like "$gw" '^ [0-9]+$' "one gateway process, a child of lighttpd"

run_checks lighttpd-binpath "http://127.0.0.1:$port" "$T/events.log"

stop_pid "$lpid" 15
is "$?" 0 "lighttpd exits 0 on SIGTERM"
# (lighttpd does not wait for the processes it signals: give them time)
# shellcheck disable=SC2086
for _ in $(seq 100); do
	none_alive $kids >/dev/null && break
	sleep 0.05
done
# shellcheck disable=SC2086
ok "no process lighttpd spawned is left" none_alive $kids
ok "the program's socket is removed" test ! -e "$T/scarf-gateway.sock-0"
like "$(cat "$T/server.err")" 'serving' "the program started normally"
unlike "$(cat "$T/server.err")" 'shared metrics' \
    "no warning about the shared metrics area"
ok "its counters are in GATEWAY_STATE_DIR, kept after it stopped" \
    test -s "$T/metrics.v1"

done_testing
