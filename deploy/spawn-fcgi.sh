#!/bin/sh
# Starts the scarf-gateway FastCGI program under spawn-fcgi, for web servers
# that only connect to a FastCGI socket (nginx, Caddy, Apache
# mod_proxy_fcgi) when systemd is not used (see deploy/systemd/ otherwise).
#
# spawn-fcgi creates the listening socket, puts it on the program's fd 0
# and executes the program, which serves that socket with --threads worker
# threads.  Two ways to run it:
#
#   SPAWN_FOREGROUND=1 sh spawn-fcgi.sh
#       spawn-fcgi -n: no fork.  The script, spawn-fcgi and the program are
#       one process (each execs the next), so the pid a supervisor
#       (daemontools, runit, s6, a systemd Type=exec service, a test) gets
#       is the program's own; SIGTERM to it finishes the running requests
#       and exits 0.
#
#   SPAWN_CHILDREN=2 SPAWN_PIDFILE=/run/scarf-gateway/pids sh spawn-fcgi.sh
#       spawn-fcgi -F N -P FILE: forks N copies sharing ONE socket (the
#       kernel hands each new connection to one of them), writes their
#       pids to FILE, one a line, and exits.  Stop them by those pids
#       (kill -TERM $(cat FILE)); a stopping copy never shuts the shared
#       socket down, so the others keep serving.  Prefer threads in one
#       process (--threads) unless you want the isolation.
#
# Settings (environment):
#   GATEWAY_BIN         the program (default /usr/local/bin/scarf-gateway)
#   SPAWN_SOCKET        Unix socket path (default
#                       /run/scarf-gateway/scarf-gateway.sock); its
#                       directory must exist
#   SPAWN_TCP           HOST:PORT to listen on instead, e.g. 127.0.0.1:9000
#                       (never expose a FastCGI port beyond loopback)
#   SPAWN_SOCKET_MODE   socket mode (default 0660): the web server's
#                       workers must be able to connect
#   SPAWN_SOCKET_USER   socket owner, SPAWN_SOCKET_GROUP its group (root
#                       only; e.g. group www-data for nginx and Apache)
#   SPAWN_USER          run the program as this user, SPAWN_GROUP this group
#                       (root only; never run it as root in production)
#   SPAWN_CHILDREN      number of processes sharing the socket (default 1)
#   SPAWN_PIDFILE       file for their pids (without SPAWN_FOREGROUND)
#   SPAWN_FOREGROUND=1  do not fork (see above)
#
# The program reads its own settings from the environment, which spawn-fcgi
# passes on: GATEWAY_MANIFEST (required: manifest path or URL), GATEWAY_LOG
# (event log; default stderr), GATEWAY_THREADS (default here 16: see the
# keepalive sizing in deploy/nginx.conf), GATEWAY_PUBLIC_SCHEME,
# GATEWAY_UPSTREAM_TIMEOUT, ... (scarf-gateway --help).  Example:
#
#   GATEWAY_MANIFEST=/etc/scarf-gateway/manifest.json \
#   GATEWAY_LOG=/var/log/scarf-gateway/events.log \
#   SPAWN_SOCKET_GROUP=www-data SPAWN_USER=scarf-gateway \
#   SPAWN_FOREGROUND=1 sh deploy/spawn-fcgi.sh
set -eu

GATEWAY_BIN=${GATEWAY_BIN:-/usr/local/bin/scarf-gateway}
SPAWN_SOCKET=${SPAWN_SOCKET:-/run/scarf-gateway/scarf-gateway.sock}
SPAWN_TCP=${SPAWN_TCP:-}
SPAWN_SOCKET_MODE=${SPAWN_SOCKET_MODE:-0660}
SPAWN_CHILDREN=${SPAWN_CHILDREN:-1}
SPAWN_FOREGROUND=${SPAWN_FOREGROUND:-0}
GATEWAY_THREADS=${GATEWAY_THREADS:-16}
export GATEWAY_THREADS

die() {
	printf 'spawn-fcgi.sh: %s\n' "$*" >&2
	exit 1
}

command -v spawn-fcgi >/dev/null 2>&1 ||
    die "spawn-fcgi not found (Debian package spawn-fcgi)"
[ -x "$GATEWAY_BIN" ] || die "$GATEWAY_BIN: not an executable program"
[ -n "${GATEWAY_MANIFEST:-}" ] || die "GATEWAY_MANIFEST is not set"
export GATEWAY_MANIFEST

set --
if [ -n "$SPAWN_TCP" ]; then
	# -a: spawn-fcgi would bind to 0.0.0.0 without it
	set -- -a "${SPAWN_TCP%:*}" -p "${SPAWN_TCP##*:}"
else
	set -- -s "$SPAWN_SOCKET" -M "$SPAWN_SOCKET_MODE"
	[ -n "${SPAWN_SOCKET_USER:-}" ] && set -- "$@" -U "$SPAWN_SOCKET_USER"
	[ -n "${SPAWN_SOCKET_GROUP:-}" ] && set -- "$@" -G "$SPAWN_SOCKET_GROUP"
fi
[ -n "${SPAWN_USER:-}" ] && set -- "$@" -u "$SPAWN_USER"
[ -n "${SPAWN_GROUP:-}" ] && set -- "$@" -g "$SPAWN_GROUP"
if [ "$SPAWN_FOREGROUND" = 1 ]; then
	[ "$SPAWN_CHILDREN" = 1 ] ||
	    die "SPAWN_FOREGROUND=1 runs one process; unset SPAWN_CHILDREN"
	set -- "$@" -n
else
	set -- "$@" -F "$SPAWN_CHILDREN"
	[ -n "${SPAWN_PIDFILE:-}" ] && set -- "$@" -P "$SPAWN_PIDFILE"
fi
# No --listen: the program serves the socket it finds on fd 0.
unset GATEWAY_LISTEN
exec spawn-fcgi "$@" -- "$GATEWAY_BIN"
