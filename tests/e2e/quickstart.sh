#!/bin/sh
# TAP: deploy/quickstart.sh with the programs already built, on a free port
# and a private state directory; then runs the curl commands it printed and
# checks that each answers what the script claims; then stops lighttpd by
# its pid.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

LIGHTTPD=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
if [ ! -x "$LIGHTTPD" ]; then
	echo "1..0 # SKIP lighttpd not installed"
	exit 0
fi
for tool in curl python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool not installed"
		exit 0
	fi
done
if [ ! -x "$top_builddir/fcgi/scarf-gateway" ]; then
	echo "1..0 # SKIP fcgi/scarf-gateway not built"
	exit 0
fi

mkdir -p "$top_builddir/tests/tmp"
T=$(mktemp -d "$top_builddir/tests/tmp/quickstart.XXXXXX")
STATE=$T/state
PIDFILE=$STATE/lighttpd.pid
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
	shift
	for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
}
diag_file() { [ -f "$1" ] && sed 's/^/#   | /' "$1"; }

stop_lighttpd() {
	[ -s "$PIDFILE" ] || return 0
	pid=$(cat "$PIDFILE")
	kill -0 "$pid" 2>/dev/null || return 0
	kill "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		i=$((i + 1)); sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		return 1
	fi
	return 0
}
cleanup() {
	stop_lighttpd
	if [ "$failed" = 0 ]; then rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "1..6"

# 1. the script itself
if STATE=$STATE PORT=$PORT BIND=127.0.0.1 SKIP_APT=1 SKIP_BUILD=1 \
    BUILDDIR=$top_builddir sh "$top_srcdir/deploy/quickstart.sh" \
    >"$T/out" 2>"$T/err"; then
	pass "quickstart.sh starts lighttpd on port $PORT"
else
	fail "quickstart.sh starts lighttpd on port $PORT" "exit status $?" \
	    "stdout:" "$(cat "$T/out")" "stderr:" "$(cat "$T/err")" \
	    "lighttpd error log:" "$(cat "$STATE/lighttpd-error.log" 2>/dev/null)"
	for i in 2 3 4 5 6; do echo "not ok $i - skipped: quickstart failed"; done
	failed=$((failed + 5))
	exit 1
fi

# 2-4. every printed command: "  curl ..." followed by "  # -> claim"
awk '/^  curl /{cmd=$0; next} cmd!="" && /^  # -> /{print cmd; print $0; cmd=""}' \
    "$T/out" >"$T/pairs"
if [ "$(wc -l <"$T/pairs")" -ne 6 ]; then
	fail "quickstart.sh prints three curl commands with claims" \
	    "$(cat "$T/out")"
fi
k=0
while IFS= read -r cmd && IFS= read -r claim; do
	k=$((k + 1))
	claim=${claim#  \# -> }
	want_status=${claim%%,*}
	rm -f "$T/h" "$T/b"
	# The printed command, with the headers and body captured.
	eval "$cmd -D '$T/h' -o '$T/b'" 2>"$T/curl.err"
	rc=$?
	got_status=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' "$T/h" 2>/dev/null)
	hdr() { tr -d '\r' <"$T/h" | sed -n "s/^$1: *//Ip" | head -n 1; }
	problems=
	[ "$rc" = 0 ] || problems="curl exit status $rc: $(cat "$T/curl.err")"
	[ "$got_status" = "$want_status" ] ||
	    problems="$problems; status $got_status, expected $want_status"
	case $claim in
	*"Location: "*)
		want=${claim#*Location: }
		got=$(hdr Location)
		[ "$got" = "$want" ] ||
		    problems="$problems; Location '$got', expected '$want'"
		;;
	esac
	case $claim in
	*"Content-Type: "*)
		want=${claim#*Content-Type: }; want=${want%%,*}
		got=$(hdr Content-Type)
		[ "$got" = "$want" ] ||
		    problems="$problems; Content-Type '$got', expected '$want'"
		;;
	esac
	case $claim in
	*"contains: "*)
		want=${claim#*contains: }
		grep -qF -- "$want" "$T/b" ||
		    problems="$problems; body lacks '$want'"
		;;
	esac
	if [ -z "$problems" ]; then
		pass "printed command $k answers: $claim"
	else
		fail "printed command $k answers: $claim" "$cmd" "${problems#; }" \
		    "headers:" "$(cat "$T/h" 2>/dev/null)" \
		    "body:" "$(head -c 2000 "$T/b" 2>/dev/null)"
	fi
done <"$T/pairs"
while [ $k -lt 3 ]; do
	k=$((k + 1))
	fail "printed command $k (missing)"
done

# 5. the event log got one line per request, with the right types
# (lines are written after the response: allow a moment)
i=0
while :; do
	types=$(python3 - "$STATE/events.log" <<'EOF'
import json, sys
try:
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
    print(" ".join(str(json.loads(l).get("type")) for l in lines))
except (OSError, ValueError) as e:
    print("unreadable: %s" % e)
EOF
)
	case $types in *"file python docker") break ;; esac
	i=$((i + 1))
	[ $i -lt 20 ] || break
	sleep 0.1
done
case $types in
*"file python docker")
	pass "event log: $types" ;;
*)
	fail "event log has file, python and docker lines" "got: $types" \
	    "$(cat "$STATE/events.log" 2>/dev/null)" ;;
esac

# 6. stop by pid (the printed "kill $(cat pidfile)")
pid=$(cat "$PIDFILE" 2>/dev/null)
if grep -qF "kill \$(cat $PIDFILE)" "$T/out" && stop_lighttpd &&
    ! kill -0 "$pid" 2>/dev/null; then
	pass "lighttpd (pid $pid) stops on SIGTERM"
else
	fail "lighttpd (pid $pid) stops on SIGTERM" \
	    "printed stop command: $(grep -F kill "$T/out")"
fi

[ "$failed" = 0 ]
