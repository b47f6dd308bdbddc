# Helpers for the Apache e2e scripts (bash).  Source it after tests/lib.sh
# and tests/e2e/lib-servers.sh:
#
#	. "$(dirname "$0")/../lib.sh"
#	. "$(dirname "$0")/lib-servers.sh"
#	. "$(dirname "$0")/apachelib.sh"
#	apache_init fcgid alias          # modules beyond the base set
#	apache_stage "$FCGI"             # program, manifest, event log in $T
#	apache_site deploy/apache-fcgid.conf "$port"
#	apache_start "$port" || done_testing
#	...
#	apache_stop
#
# A private instance: tests/e2e/apache-httpd.conf rendered into $T, which
# includes the shipped deploy file rendered as $T/site.conf.  Run as root,
# Apache's children run as www-data (Apache will not run them as root), so
# everything they use is placed under $T, made 0755: a copy of the program
# in $T/bin, a copy of the manifest, and an event log they may append to.
# The copies keep the test independent of where the build tree lives (a
# 0700 home directory would be out of www-data's reach).

APACHE=$(command -v apache2 2>/dev/null || echo /usr/sbin/apache2)
APACHE_MODDIR=/usr/lib/apache2/modules

# apache_init MODULE...: skips the whole script unless apache2 and every
# module are installed; writes $T/httpd.conf and $T/modules.conf.  The
# base set (mpm_event, authz_core) is always loaded; log_config is built
# in.
apache_init() {
	local m f
	[ -x "$APACHE" ] || skip_all "apache2 not installed"
	command -v python3 >/dev/null || skip_all "python3 not found"
	: >"$T/modules.conf.new"
	for m in mpm_event authz_core "$@"; do
		f=$APACHE_MODDIR/mod_$m.so
		[ -e "$f" ] || skip_all "Apache module $m not installed ($f)"
		echo "LoadModule ${m}_module $f" >>"$T/modules.conf.new"
	done
	if [ "$(id -u)" = 0 ]; then
		id www-data >/dev/null 2>&1 ||
		    skip_all "no www-data user for Apache's children"
		APACHE_USER=www-data
		APACHE_GROUP=www-data
	else
		APACHE_USER=$(id -un)
		APACHE_GROUP=$(id -gn)
	fi
	# Unix socket paths (at most 107 bytes) are made under $T: mod_cgid's
	# $T/run/cgid.sock.PID, mod_fcgid's $T/fcgid/PID.N
	[ "${#T}" -le 80 ] || skip_all "\$T too long for socket paths: $T"
	# the children must reach $T (mktemp made it 0700)
	chmod 0755 "$T"
	mkdir -p "$T/run" "$T/htdocs" "$T/bin"
	mv "$T/modules.conf.new" "$T/modules.conf"
	sed -e "s|@STATEDIR@|$T|g" -e "s|@USER@|$APACHE_USER|g" \
	    -e "s|@GROUP@|$APACHE_GROUP|g" \
	    "$top_srcdir/tests/e2e/apache-httpd.conf" >"$T/httpd.conf"
	if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null &&
	    ! runuser -u "$APACHE_USER" -- test -x "$T" 2>/dev/null; then
		skip_all "$APACHE_USER cannot reach $T (set TMPDIR)"
	fi
}

# apache_stage PROGRAM...: copies the programs (and the CGI program's
# proxy module beside it) into $T/bin and the
# manifest to $T/manifest.json, and creates $T/events.log and $T/state
# (GATEWAY_STATE_DIR of deploy/apache-fcgid.conf), writable by Apache's
# children (they write them themselves under mod_fcgid and CGI)
# shellcheck disable=SC2120
apache_stage() {
	local p
	for p in "$@"; do
		install -m 0755 "$p" "$T/bin/"
		# the CGI program's proxy module goes beside it, where the
		# program looks first (README, "Programs")
		if [ -f "${p%/*}/scarf-gateway-proxy.so" ]; then
			install -m 0755 "${p%/*}/scarf-gateway-proxy.so" \
			    "$T/bin/"
		fi
	done
	install -m 0644 "$top_srcdir/tests/e2e/manifest.json" \
	    "$T/manifest.json"
	: >"$T/events.log"
	chmod 0666 "$T/events.log"
	mkdir -p "$T/state"
	chmod 0700 "$T/state"
	[ "$(id -u)" = 0 ] && chown "$APACHE_USER:$APACHE_GROUP" \
	    "$T/events.log" "$T/state"
	return 0
}

# apache_site DEPLOYFILE PORT [NAME=VALUE...]: the shipped deploy file
# rendered as $T/site.conf (BINDIR $T/bin, MANIFEST $T/manifest.json,
# STATEDIR $T, BIND 127.0.0.1, PORT, and any more given), as a test point
# (render fails when a placeholder is left)
apache_site() {
	local src=$1 port=$2
	shift 2
	ok "${src##*/} renders" render "$src" "$T/site.conf" BINDIR="$T/bin" \
	    MANIFEST="$T/manifest.json" STATEDIR="$T" BIND=127.0.0.1 \
	    PORT="$port" "$@"
}

# apache_start PORT: checks the config (apache2 -t), starts Apache in the
# foreground and waits for PORT; sets APACHE_PID.  Returns 1 (after a
# failed test point) when it does not come up.
apache_start() {
	local port=$1
	if "$APACHE" -d "$T" -f "$T/httpd.conf" -t >"$T/configtest.out" 2>&1
	then
		pass "apache2 -t accepts the config"
	else
		fail "apache2 -t accepts the config"
		diag "$(cat "$T/configtest.out")"
		return 1
	fi
	start_bg server "$APACHE" -d "$T" -f "$T/httpd.conf" -DFOREGROUND
	APACHE_PID=$(pid_of server)
	if ! wait_port "$port" 200; then
		fail "Apache listens on $port"
		diag "$(cat "$T/server.err" "$T/apache-error.log" 2>/dev/null)"
		return 1
	fi
	pass "Apache listens on $port"
}

# apache_stop: SIGTERM to the parent, which stops its children (and, with
# mod_fcgid, the programs they spawned) first; never SIGKILL (stop_pid
# only does so after 15 s, and says so)
apache_stop() {
	stop_pid "$APACHE_PID" 15
	is "$?" 0 "Apache exits 0 on SIGTERM"
}

# pids_of_exe EXE: every live process on the machine running EXE (an
# executable under $T, so only ours), by /proc, never by name
pids_of_exe() {
	local exe f pid
	exe=$(readlink -f "$1")
	for f in /proc/[0-9]*; do
		pid=${f#/proc/}
		[ "$(readlink "$f/exe" 2>/dev/null)" = "$exe" ] &&
		    alive "$pid" && echo "$pid"
	done
	return 0
}


# below PID ANCESTOR: true when ANCESTOR is PID's parent, grandparent, ...
below() {
	local pid=$1 ppid
	while [ "$pid" -gt 1 ]; do
		ppid=$(sed -n 's/^[0-9]* (.*) [A-Za-z] \([0-9]*\) .*/\1/p' \
		    "/proc/$pid/stat" 2>/dev/null)
		[ -n "$ppid" ] || return 1
		[ "$ppid" = "$2" ] && return 0
		pid=$ppid
	done
	return 1
}


# http_code [CURL ARGS...]: the status code curl gets
http_code() {
	curl -sS -o /dev/null -w '%{http_code}' --max-time 20 "$@" 2>&1
}

# apache_path_checks PORT: a few checks beyond checks.py, run after it
# (they add event lines): "/" and a query reach the program, the raw path
# and query are logged, and the Host keeps its port (python-v1's 301 to the
# canonical URL shows it)
apache_path_checks() {
	local url=http://127.0.0.1:$1
	is "$(http_code -H 'Host: unknown.e2e.test' "$url/")" 404 \
	    "/ is answered by the program (unknown host: 404)"
	is "$(http_code -H 'Host: dl.e2e.test' "$url/tool/v1/a%2Fb?x=1")" \
	    307 "a %2F path with a query: 307"
	ok "the event log shows the raw path and the query" \
	    wait_grep "$T/events.log" \
	    '"path":"/tool/v1/a%2Fb".*"query":"x=1"|"query":"x=1".*"path":"/tool/v1/a%2Fb"'
	is "$(curl -s -o /dev/null -w '%{redirect_url}' --max-time 20 \
	    -H "Host: py.e2e.test:$1" "$url/simple/demo-pkg")" \
	    "https://py.e2e.test:$1/simple/demo-pkg/" \
	    "HTTP_HOST keeps the port (the 301 Location has it)"
}

# apache_error_log_clean [IGNORE]: a test point that Apache logged no
# error (lines at level error or worse, a crash of a child, a sanitizer
# report from the program, whose stderr is that log), except lines
# matching the regex IGNORE
# shellcheck disable=SC2120
apache_error_log_clean() {
	local bad
	bad=$(grep -E '\[[a-z_]+:(error|crit|alert|emerg)\]|exit signal|Sanitizer|runtime error:' \
	    "$T/apache-error.log" 2>/dev/null | grep -Ev -- "${1:-^\$}")
	is "$bad" "" "Apache's error log has no error"
}
