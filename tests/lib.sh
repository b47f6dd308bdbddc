# Shared helpers for the shell tests (bash).  Source it first thing:
#
#	. "$(dirname "$0")/../lib.sh"
#
# `make check` exports top_builddir and top_srcdir; run by hand, both
# default to the source tree.  Every test gets a private directory ($T),
# removed at exit with every process started through start_bg (stopped by
# pid, never by name).  Set KEEP_TMP=1 to keep $T for a post-mortem.
# Output is TAP: ok/is/like print test points, done_testing the plan.

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
FCGI=$top_builddir/fcgi/scarf-gateway
CGI=$top_builddir/cgi/scarf-gateway.cgi
DATA=$top_srcdir/tests/data

T=$(mktemp -d "${TMPDIR:-/tmp}/gw-test.XXXXXX") || exit 99
T_PIDS=()
T_N=0
T_FAIL=0

# --- TAP ----------------------------------------------------------------

# diag MSG...: a TAP comment (every line prefixed with "# ")
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# pass NAME / fail NAME
pass() {
	T_N=$((T_N + 1))
	echo "ok $T_N - $1"
}
fail() {
	T_N=$((T_N + 1))
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_N - $1"
	t_where
}

# t_where: "#   at FILE line N" for the innermost caller outside this file
t_where() {
	local i f
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		f=${BASH_SOURCE[$i]}
		if [ "$f" != "${BASH_SOURCE[0]}" ]; then
			echo "#   at ${f##*/} line ${BASH_LINENO[$((i - 1))]}"
			return
		fi
	done
}

# ok NAME CMD...: passes when CMD exits 0
ok() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# is GOT WANT NAME: string equality
is() {
	if [ "$1" = "$2" ]; then
		pass "$3"
	else
		fail "$3"
		diag "     got: '$1'" "expected: '$2'"
	fi
}

# like GOT REGEX NAME: grep -E on the text
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3"
		diag "     got: '$1'" "expected to match: $2"
	fi
}

# unlike GOT REGEX NAME
unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		fail "$3"
		diag "     got: '$1'" "expected not to match: $2"
	else
		pass "$3"
	fi
}

# skip REASON: one skipped test point
skip() {
	T_N=$((T_N + 1))
	echo "ok $T_N # SKIP $*"
}

# skip_all REASON: the whole script is skipped
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# done_testing: prints the plan; exit status 1 when anything failed
done_testing() {
	echo "1..$T_N"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

# --- processes ------------------------------------------------------------

# free_port: a TCP port on 127.0.0.1 that was free a moment ago
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_bg NAME CMD...: runs CMD in the background, stdout in $T/NAME.out,
# stderr in $T/NAME.err, pid in $T/NAME.pid (and in T_PIDS for cleanup)
start_bg() {
	local name=$1
	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	echo $! >"$T/$name.pid"
	T_PIDS+=($!)
}

# pid_of NAME
pid_of() {
	cat "$T/$1.pid"
}

# wait_port PORT [TRIES]: until something accepts on 127.0.0.1:PORT
wait_port() {
	local port=$1 tries=${2:-100}
	while [ "$tries" -gt 0 ]; do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		tries=$((tries - 1))
		sleep 0.05
	done
	diag "port $port never opened"
	return 1
}

# wait_socket PATH [TRIES]: until something accepts on the unix socket PATH
wait_socket() {
	local path=$1 tries=${2:-100}
	while [ "$tries" -gt 0 ]; do
		python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$path" 2>/dev/null && return 0
		tries=$((tries - 1))
		sleep 0.05
	done
	diag "socket $path never appeared"
	return 1
}

# wait_grep FILE REGEX [TRIES]: until FILE has a line matching REGEX
wait_grep() {
	local file=$1 re=$2 tries=${3:-100}
	while [ "$tries" -gt 0 ]; do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		tries=$((tries - 1))
		sleep 0.05
	done
	diag "$file: never matched $re"
	return 1
}

# alive PID: exists and is not a zombie waiting to be reaped.  Bash reaps
# its children whenever SIGCHLD comes, so /proc/PID can vanish between
# two looks: a missing file means dead, never "state unknown, alive".
alive() {
	local st
	if [ -d /proc/self ]; then
		st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
		[ -n "$st" ] && [ "$st" != Z ]
	else
		kill -0 "$1" 2>/dev/null
	fi
}

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 10), SIGKILL
# as a last resort, then reap.  Returns the process's exit status (128+N
# when killed by signal N), or 255 when it had to be killed.
stop_pid() {
	local pid=$1 secs=${2:-10} i=0 rc killed=0
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		while alive "$pid" && [ "$i" -lt $((secs * 20)) ]; do
			sleep 0.05
			i=$((i + 1))
		done
		if alive "$pid"; then
			diag "pid $pid ignored SIGTERM for $secs s, killing it"
			kill -KILL "$pid" 2>/dev/null
			killed=1
		fi
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	[ "$killed" -eq 1 ] && rc=255
	return "$rc"
}

# wait_exit PID [SECONDS]: waits (without signalling) for PID to exit,
# reaps it and returns its status; 254 if it is still running after
# SECONDS (default 10; it is left to the cleanup)
wait_exit() {
	local pid=$1 secs=${2:-10} i=0
	while alive "$pid" && [ "$i" -lt $((secs * 20)) ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if alive "$pid"; then
		diag "pid $pid still running after $secs s"
		return 254
	fi
	wait "$pid" 2>/dev/null
}

# stop NAME [SECONDS]: stop_pid on the pid recorded by start_bg
stop() {
	stop_pid "$(pid_of "$1")" "${2:-10}"
}

t_cleanup() {
	local pid
	for pid in "${T_PIDS[@]}"; do
		alive "$pid" && stop_pid "$pid" 5
	done
	if [ -n "$KEEP_TMP" ]; then
		echo "# kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# --- FastCGI requests -------------------------------------------------------

# fcgi_req ADDR METHOD HOST URI [NAME=VALUE...]: one request through
# cgi-fcgi, which passes its whole environment as parameters, hence env -i.
# The raw CGI response (Status line, headers, body) goes to stdout.
fcgi_req() {
	local addr=$1 method=$2 host=$3 uri=$4 query=
	shift 4
	case $uri in *\?*) query=${uri#*\?} ;; esac
	env -i REQUEST_METHOD="$method" HTTP_HOST="$host" REQUEST_URI="$uri" \
	    QUERY_STRING="$query" REMOTE_ADDR=127.0.0.1 \
	    SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 "$@" \
	    cgi-fcgi -bind -connect "$addr"
}

# header NAME: the value of a header in a CGI response read from stdin
header() {
	tr -d '\r' | sed -n "/^\$/q; s/^$1: //Ip" | head -n 1
}

# status: the Status code of a CGI response read from stdin
status() {
	tr -d '\r' | sed -n 's/^Status: \([0-9]*\).*/\1/p' | head -n 1
}

# body: everything after the blank line of a CGI response read from stdin
body() {
	tr -d '\r' | sed '1,/^$/d'
}

# jget KEY [FILE]: a top-level value of the JSON object in FILE (or
# stdin), printed as JSON (strings with quotes, null, true)
jget() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin)
print(json.dumps(d.get(sys.argv[1], "<absent>")))' "$@"
}
