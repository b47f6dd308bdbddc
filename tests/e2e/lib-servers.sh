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

# sha FILE: its sha256, hex
sha() {
	sha256sum "$1" | cut -d' ' -f1
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
