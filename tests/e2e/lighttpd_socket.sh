#!/usr/bin/env bash
# lighttpd with deploy/lighttpd-fastcgi-socket.conf as shipped: the FastCGI
# program runs on its own under spawn-fcgi (as the config's comment says)
# and lighttpd only connects to its socket.  Renders the config into a
# private directory with a free port, runs the web-server checks
# (checks.py), then stops lighttpd and the program by their pids: stopping
# lighttpd must leave the program running, and SIGTERM then ends it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

LIGHTTPD=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
[ -x "$LIGHTTPD" ] || skip_all "lighttpd not installed"
command -v spawn-fcgi >/dev/null || skip_all "spawn-fcgi not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not found"

port=$(free_port)
manifest=$E2E/manifest.json
lighttpd_render lighttpd-fastcgi-socket.conf "$top_builddir/fcgi" "$port"
ok "the config names the socket the program is started on" \
    grep -q "\"socket\" *=> \"$T/scarf-gateway.sock\"" "$T/lighttpd.conf"

# the program first, as the config's comment shows (-n: spawn-fcgi execs
# the program, so this pid is the program's)
start_bg gateway spawn-fcgi -n -s "$T/scarf-gateway.sock" -M 0660 -- \
    "$FCGI" --manifest "$manifest" --log "$T/events.log"
gpid=$(pid_of gateway)
ok "the program listens on its socket" wait_socket "$T/scarf-gateway.sock" 200

lighttpd_start "$port"
lpid=$LPID
is "$(child_pids "$lpid")" "" "lighttpd spawned no process"

run_checks lighttpd-socket "http://127.0.0.1:$port" "$T/events.log"

stop_pid "$lpid" 15
is "$?" 0 "lighttpd exits 0 on SIGTERM"
ok "the program outlives lighttpd" alive "$gpid"
stop_pid "$gpid" 15
is "$?" 0 "the program exits 0 on SIGTERM"
like "$(cat "$T/gateway.err")" 'serving' "the program started normally"

done_testing
