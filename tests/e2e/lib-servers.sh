# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154
# Helpers for the launcher tests that put a web server in front of the
# gateway (nginx.sh, caddy.sh, spawn_fcgi.sh, systemd.sh).  Source it after
# ../lib.sh:
#
#	. "$(dirname "$0")/../lib.sh"
#	. "$(dirname "$0")/lib-servers.sh"
#
# Not a test itself.

E2E=$top_srcdir/tests/e2e
DEPLOY=$top_srcdir/deploy

# render SRC DST NAME=VALUE...: a shipped deploy/ file with every @NAME@
# replaced by VALUE (values must not contain `|` or `&`).  Fails when a
# placeholder is left over.
render() {
	local src=$1 dst=$2 kv
	local args=()
	shift 2
	for kv in "$@"; do
		args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
	done
	sed "${args[@]}" "$src" >"$dst" || return 1
	if grep -En '@[A-Z_]+@' "$dst" >"$dst.left"; then
		diag "placeholders left in $dst:" "$(cat "$dst.left")"
		return 1
	fi
}

# run_checks NAME URL LOG: runs tests/e2e/checks.py against the web server
# at URL (the gateway logging to LOG) and folds its test points into this
# script's TAP; one more point checks that its whole plan ran.
run_checks() {
	local name=$1 url=$2 log=$3 line n=0 plan=none rc
	python3 "$E2E/checks.py" --url "$url" --log "$log" --name "$name" \
	    >"$T/checks.out" 2>&1
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok "*)		pass "${line#ok * - }"; n=$((n + 1)) ;;
		"not ok "*)	fail "${line#not ok * - }"; n=$((n + 1)) ;;
		1..*)		plan=${line#1..} ;;
		"#"*)		echo "$line" ;;
		*)		diag "$line" ;;
		esac
	done <"$T/checks.out"
	# exit 1 = some check failed (reported above); anything else broke
	[ "$rc" -le 1 ] || diag "checks.py exited $rc"
	is "$plan" "$n" "[$name] checks.py ran its whole plan"
}

# child_pids PID: the pids of PID's direct children, one a line
child_pids() {
	local stat
	for stat in /proc/[0-9]*/stat; do
		# field 4 is the parent; the name (field 2) may hold spaces
		sed -n 's/^\([0-9]*\) (.*) [A-Za-z] \([0-9]*\) .*/\1 \2/p' \
		    "$stat" 2>/dev/null
	done | awk -v p="$1" '$2 == p { print $1 }'
}

# conn_sockets PID [FD]: the sockets PID holds open other than its
# listening socket on FD (default 0), as socket:[inode], sorted: for the
# gateway, its connections from the web server.
conn_sockets() {
	local fd skip=${2:-0}
	for fd in "/proc/$1/fd/"*; do
		[ "${fd##*/}" = "$skip" ] && continue
		readlink "$fd"
	done 2>/dev/null | grep '^socket:' | sort
}

# none_alive PID...: true when none of the processes is running
none_alive() {
	local pid
	for pid in "$@"; do
		if alive "$pid"; then
			diag "pid $pid is still running"
			return 1
		fi
	done
}

# descendants PID: every live process below PID, one pid a line (from
# /proc, by parent pid; never by name)
descendants() {
	local k
	for k in $(child_pids "$1"); do
		alive "$k" || continue
		echo "$k"
		descendants "$k"
	done
}

# still_alive PID...: those of the PIDs still running (zombies excluded)
still_alive() {
	local k
	for k in "$@"; do
		alive "$k" && echo "$k"
	done
	return 0
}

# gone PID...: waits up to 5 s for every PID to be gone (a server may exit
# before the children it signalled have finished), then none_alive
gone() {
	local i=0
	while [ -n "$(still_alive "$@")" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	none_alive "$@"
}

# skopeo_mismatches DIR: the files of a skopeo dir: layout that do not
# match their digests (manifest.json against $PUSHED, every blob against
# its name), space-separated; empty when all match
skopeo_mismatches() {
	local f bad=
	for f in "$1"/*; do
		case ${f##*/} in
		manifest.json)
			[ "sha256:$(sha "$f")" = "$PUSHED" ] ||
			    bad="$bad manifest" ;;
		version) ;;
		*)	[ "$(sha "$f")" = "${f##*/}" ] ||
			    bad="$bad ${f##*/}" ;;
		esac
	done
	echo "$bad"
}

# sha FILE: its sha256, hex
sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# pattern N: fixtures/bad_upstream.py's body of N bytes (?size=N, N other
# than 13), to stdout
pattern() {
	python3 -c 'import sys
n = int(sys.argv[1])
p = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"
sys.stdout.buffer.write((p * (n // len(p) + 1))[:n])' "$1"
}

# fetch ID PATH [CURL ARGS...]: GET $URL$PATH with Host $FETCH_HOST
# (default reg.test) and id=ID added to the query, at most $FETCH_MAX
# seconds (default 20); sets CODE, RC (curl's exit status), SIZE (body
# bytes) and SECS; the body is $T/ID.body, the response head $T/ID.head
fetch() {
	local id=$1 path=$2 sep='?' out
	shift 2
	case $path in *\?*) sep='&' ;; esac
	out=$(curl -s -m "${FETCH_MAX:-20}" -o "$T/$id.body" \
	    -D "$T/$id.head" -w '%{http_code} %{size_download} %{time_total}' \
	    -H "Host: ${FETCH_HOST:-reg.test}" "$@" "$URL$path${sep}id=$id")
	RC=$?
	read -r CODE SIZE SECS <<<"$out"
}

# sha_of N: the sha256 of fixtures/bad_upstream.py's body of N bytes
sha_of() {
	pattern "$1" | sha256sum | cut -d' ' -f1
}

# jfield KEY: a field of the JSON object on stdin (strings bare)
jfield() {
	python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# count_events LOG EXPR: the number of event lines e (also: ua, the
# User-Agent or "") for which the Python expression EXPR is true
count_events() {
	python3 -c 'import json, sys
n = 0
for line in open(sys.argv[1]):
    if line.strip():
        e = json.loads(line)
        ua = e.get("user-agent") or ""
        n += bool(eval("(" + sys.argv[2] + ")"))
print(n)' "$1" "$2" 2>/dev/null || echo error
}

# lines FILE: its line count (0 when missing)
lines() {
	if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# events LOG FROM EXPR: how many event lines after line FROM of LOG make the
# Python expression EXPR (over the event e, its user agent ua) true
events() {
	python3 -c 'import json, sys
n = 0
for i, line in enumerate(open(sys.argv[1])):
    if i >= int(sys.argv[2]) and line.strip():
        e = json.loads(line)
        ua = e.get("user-agent") or ""
        n += bool(eval("(" + sys.argv[3] + ")"))
print(n)' "$1" "$2" "$3" 2>&1
}

# need_nginx_gateway NAME: true when nginx (with /etc/nginx/fastcgi_params)
# and spawn-fcgi are installed, else one skip for [NAME]; sets NGINX
need_nginx_gateway() {
	NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
	if [ ! -x "$NGINX" ] || [ ! -f /etc/nginx/fastcgi_params ]; then
		skip "[$1] nginx not installed"
		return 1
	fi
	if ! command -v spawn-fcgi >/dev/null; then
		skip "[$1] spawn-fcgi not installed"
		return 1
	fi
}

# start_nginx_gateway NAME DIR PORT HOOK [VAR=value ...]: the gateway ($FCGI,
# manifest $T/manifest.json, log DIR/events.log, 8 threads, extra env VARs)
# under deploy/spawn-fcgi.sh on DIR/scarf-gateway.sock, and nginx (NGINX,
# see need_nginx_gateway) on PORT with deploy/nginx.conf +
# nginx-standalone.conf rendered in DIR; HOOK (a command, `:` for none) runs
# with NAME DIR after DIR/nginx-site.conf renders.  Test points "[NAME] deploy/nginx.conf
# renders", "[NAME] starts".  Sets NGINX_PID and NGINX_GW; on failure stops
# both and returns 1.
start_nginx_gateway() {
	local n=$1 d=$2 port=$3 hook=$4
	shift 4
	mkdir -p "$d"
	chmod 0711 "$d"
	start_bg "$n-gateway" env GATEWAY_BIN="$FCGI" \
	    GATEWAY_MANIFEST="$T/manifest.json" GATEWAY_LOG="$d/events.log" \
	    GATEWAY_THREADS=8 SPAWN_SOCKET="$d/scarf-gateway.sock" \
	    SPAWN_SOCKET_MODE=0666 SPAWN_FOREGROUND=1 "$@" \
	    sh "$DEPLOY/spawn-fcgi.sh"
	NGINX_GW=$(pid_of "$n-gateway")
	ok "[$n] deploy/nginx.conf renders" render "$DEPLOY/nginx.conf" \
	    "$d/nginx-site.conf" BIND=127.0.0.1 PORT="$port" \
	    UPSTREAM="unix:$d/scarf-gateway.sock"
	$hook "$n" "$d"
	render "$DEPLOY/nginx-standalone.conf" "$d/nginx.conf" STATEDIR="$d"
	cp /etc/nginx/fastcgi_params "$d/"
	start_bg "$n-server" "$NGINX" -c "$d/nginx.conf"
	NGINX_PID=$(pid_of "$n-server")
	if ! wait_socket "$d/scarf-gateway.sock" || ! wait_port "$port" 200
	then
		fail "[$n] starts"
		diag "$(cat "$T/$n-server.err" "$d/nginx-error.log" \
		    "$T/$n-gateway.err" 2>/dev/null)"
		stop_pid "$NGINX_PID" 5
		stop_pid "$NGINX_GW" 5
		return 1
	fi
	pass "[$n] starts"
}

# lighttpd_render CONF BINDIR PORT: deploy/CONF rendered into
# $T/lighttpd.conf (manifest $E2E/manifest.json, state in $T with $T/www)
# and accepted by $LIGHTTPD -tt: two test points
lighttpd_render() {
	mkdir -p "$T/www"
	ok "the shipped config renders" render "$DEPLOY/$1" \
	    "$T/lighttpd.conf" BINDIR="$2" MANIFEST="$E2E/manifest.json" \
	    STATEDIR="$T" BIND=127.0.0.1 PORT="$3"
	ok "lighttpd -tt accepts the config" "$LIGHTTPD" -tt -f "$T/lighttpd.conf"
}

# lighttpd_start PORT: $LIGHTTPD -D on $T/lighttpd.conf, listening on PORT
# (one test point; ends the test when it does not); sets LPID
lighttpd_start() {
	# (not named "lighttpd": $T/lighttpd.pid is lighttpd's own pid file)
	start_bg server "$LIGHTTPD" -D -f "$T/lighttpd.conf"
	LPID=$(pid_of server)
	if ! wait_port "$1" 200; then
		fail "lighttpd listens on $1"
		diag "$(cat "$T/server.err" "$T/lighttpd-error.log" 2>/dev/null)"
		done_testing
	fi
	pass "lighttpd listens on $1"
}

# nginx_start PORT: $NGINX on $T/nginx.conf, listening on PORT (no test
# point when it does; "nginx listens" fails and ends the test when it does
# not); sets NG
nginx_start() {
	# not "nginx": start_bg's $T/nginx.pid is the path nginx-standalone.conf
	# gives nginx for its own pid file, which nginx truncates and rewrites
	# while starting (NG was once read empty)
	start_bg nginx-master "$NGINX" -c "$T/nginx.conf"
	NG=$(pid_of nginx-master)
	if ! wait_port "$1"; then
		fail "nginx listens"
		diag "$(cat "$T/nginx-master.err" "$T/nginx-error.log" \
		    2>/dev/null)"
		done_testing
	fi
}

# nginx_front SOCK: deploy/nginx.conf inside deploy/nginx-standalone.conf,
# rendered in $T in front of the gateway's Unix socket SOCK, and nginx
# started on a free port (nginx_start); sets PORT, URL and NG
nginx_front() {
	PORT=$(free_port)
	render "$DEPLOY/nginx.conf" "$T/nginx-site.conf" BIND=127.0.0.1 \
	    PORT="$PORT" UPSTREAM="unix:$1"
	render "$DEPLOY/nginx-standalone.conf" "$T/nginx.conf" STATEDIR="$T"
	cp /etc/nginx/fastcgi_params "$T/"
	nginx_start "$PORT"
	URL=http://127.0.0.1:$PORT
}

# in_session NAME CMD...: runs CMD in the foreground in a new session
# (setsid), output in $T/NAME.out/.err; returns its status.  $T/NAME.sid
# holds the session id: no process may be left in it afterwards.
in_session() {
	local name=$1
	shift
	setsid -w bash -c 'echo $$ >"$0"; exec "$@"' "$T/$name.sid" "$@" \
	    >"$T/$name.out" 2>"$T/$name.err" </dev/null
}

# session_left NAME: the pids still in the session of in_session NAME
session_left() {
	local sid f line pid
	sid=$(cat "$T/$1.sid" 2>/dev/null) || return 0
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		pid=${line%% *}
		# after "(comm) ": state ppid pgrp session ...
		# shellcheck disable=SC2086
		set -- ${line##*) }
		[ "$4" = "$sid" ] && alive "$pid" && echo "$pid"
	done
	return 0
}

# upstream_count LOG FROM EXPR: how many JSON lines after line FROM of an
# upstream fixture's request log make the Python expression EXPR (over the
# entry r) true
upstream_count() {
	python3 -c 'import json, sys
n = 0
for i, line in enumerate(open(sys.argv[1])):
    if i >= int(sys.argv[2]) and line.strip():
        r = json.loads(line)
        n += bool(eval("(" + sys.argv[3] + ")"))
print(n)' "$1" "$2" "$3" 2>&1
}
