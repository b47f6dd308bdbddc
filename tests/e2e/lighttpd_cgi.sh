#!/usr/bin/env bash
# lighttpd with deploy/lighttpd-cgi.conf as shipped: mod_cgi runs the CGI
# build (cgi/scarf-gateway.cgi) for every path of every Host.  Renders the
# config into a private directory with a free port, runs the web-server
# checks (checks.py), then stops lighttpd by its pid and checks that no CGI
# process is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

LIGHTTPD=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
[ -x "$LIGHTTPD" ] || skip_all "lighttpd not installed"
[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
command -v python3 >/dev/null || skip_all "python3 not found"
command -v curl >/dev/null || skip_all "curl not found"
# mod_cgi is a loadable module (Debian: in the lighttpd package)
[ -e /usr/lib/lighttpd/mod_cgi.so ] || skip_all "lighttpd has no mod_cgi"

port=$(free_port)
lighttpd_render lighttpd-cgi.conf "$top_builddir/cgi" "$port"

lighttpd_start "$port"
lpid=$LPID

run_checks lighttpd-cgi "http://127.0.0.1:$port" "$T/events.log"

# the root path and a query reach the program too (the rewrite covers "/")
out=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Host: dl.e2e.test' \
    "http://127.0.0.1:$port/-/ping?x=1" 2>&1)
is "$out" 200 "/-/ping?x=1 answered by the program"
out=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Host: unknown.e2e.test' \
    "http://127.0.0.1:$port/" 2>&1)
is "$out" 404 "/ answered by the program (unknown host: 404)"
ok "the event log shows /-/ping with its query" \
    wait_grep "$T/events.log" '"path":"/-/ping","query":"x=1"' 40

kids=$(child_pids "$lpid")
stop_pid "$lpid" 15
is "$?" 0 "lighttpd exits 0 on SIGTERM"
# (lighttpd does not wait for the processes it signals: give them time)
# shellcheck disable=SC2086
for _ in $(seq 100); do
	none_alive $kids >/dev/null && break
	sleep 0.05
done
# shellcheck disable=SC2086
ok "no CGI process is left" none_alive $kids
unlike "$(cat "$T/lighttpd-error.log")" 'scarf-gateway' \
    "the program wrote nothing to lighttpd's error log"

done_testing
