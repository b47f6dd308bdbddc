#!/bin/sh
# Quick start on a fresh Debian (or Ubuntu) machine, as root:
#
#   sudo sh deploy/quickstart.sh
#
# installs the build dependencies and lighttpd, builds the gateway, renders
# deploy/lighttpd-fastcgi.conf into a private state directory and starts
# lighttpd in the background on 127.0.0.1:8081 with the example manifest,
# then prints curl commands to try and how to stop it.
#
# Settings (environment):
#   STATE=DIR       state directory (default /tmp/scarf-gateway-quickstart)
#   PORT=N          port (default 8081)
#   BIND=ADDR       listen address (default 127.0.0.1; 0.0.0.0 for all)
#   MANIFEST=FILE   manifest (default deploy/examples/manifest.json)
#   BUILDDIR=DIR    build directory (default _build-quickstart in the source
#                   tree); with SKIP_BUILD=1 the already built programs
#                   there are used
#   SKIP_APT=1      do not install packages (then root is not needed)
#   SKIP_BUILD=1    do not build
set -eu

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
STATE=${STATE:-/tmp/scarf-gateway-quickstart}
PORT=${PORT:-8081}
BIND=${BIND:-127.0.0.1}
MANIFEST=${MANIFEST:-$SRCDIR/deploy/examples/manifest.json}
BUILDDIR=${BUILDDIR:-$SRCDIR/_build-quickstart}
SKIP_APT=${SKIP_APT:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
PACKAGES="build-essential autoconf automake pkg-config libfcgi-dev \
libfcgi-bin libcjson-dev libcurl4-openssl-dev libpcre2-dev lighttpd \
spawn-fcgi curl python3"

say() { printf '%s\n' "quickstart: $*" >&2; }
die() { say "error: $*"; exit 1; }

# --- 1. packages ------------------------------------------------------------
if [ "$SKIP_APT" != 1 ]; then
	[ "$(id -u)" = 0 ] ||
	    die "run as root (sudo sh $0), or set SKIP_APT=1 if the packages are installed"
	command -v apt-get >/dev/null 2>&1 ||
	    die "apt-get not found: install by hand: $PACKAGES"
	say "installing packages"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! apt-get -qq update >/dev/null; then
		dpkg -s $PACKAGES >/dev/null 2>&1 ||
		    die "apt-get update failed and packages are missing"
		say "apt-get update failed; the packages are already installed"
	fi
	# shellcheck disable=SC2086
	apt-get -qq install -y --no-install-recommends $PACKAGES >/dev/null
fi
command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] ||
    die "lighttpd not installed"
LIGHTTPD=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)

# --- 2. build -----------------------------------------------------------------
if [ "$SKIP_BUILD" != 1 ]; then
	say "building in $BUILDDIR"
	(cd "$SRCDIR" && ./autogen.sh >/dev/null 2>&1) ||
	    die "./autogen.sh failed (run it by hand to see why)"
	mkdir -p "$BUILDDIR"
	(cd "$BUILDDIR" && "$SRCDIR/configure" --quiet && make -s) ||
	    die "build failed"
fi
GATEWAY=$BUILDDIR/fcgi/scarf-gateway
[ -x "$GATEWAY" ] || die "$GATEWAY not built"
"$GATEWAY" --manifest "$MANIFEST" --check ||
    die "the manifest $MANIFEST does not load"

# --- 3. configuration ---------------------------------------------------------
mkdir -p "$STATE/www"
PIDFILE=$STATE/lighttpd.pid
if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
	say "stopping the previous quick-start lighttpd (pid $(cat "$PIDFILE"))"
	kill "$(cat "$PIDFILE")"
	i=0
	while kill -0 "$(cat "$PIDFILE" 2>/dev/null || echo 0)" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || die "previous lighttpd did not stop"
		sleep 0.1
	done
fi
rm -f "$PIDFILE"
# '|' is the sed delimiter: escape it and '&' and '\' in the values.
esc() { printf '%s' "$1" | sed -e 's/[|&\\]/\\&/g'; }
sed -e "s|@BINDIR@|$(esc "$(cd "$(dirname "$GATEWAY")" && pwd)")|g" \
    -e "s|@MANIFEST@|$(esc "$(cd "$(dirname "$MANIFEST")" && pwd)/$(basename "$MANIFEST")")|g" \
    -e "s|@STATEDIR@|$(esc "$(cd "$STATE" && pwd)")|g" \
    -e "s|@BIND@|$(esc "$BIND")|g" \
    -e "s|@PORT@|$(esc "$PORT")|g" \
    "$SRCDIR/deploy/lighttpd-fastcgi.conf" >"$STATE/lighttpd.conf"
"$LIGHTTPD" -tt -f "$STATE/lighttpd.conf" >/dev/null ||
    die "lighttpd rejects $STATE/lighttpd.conf"

# --- 4. start -------------------------------------------------------------------
say "starting lighttpd on $BIND:$PORT"
"$LIGHTTPD" -f "$STATE/lighttpd.conf" ||
    die "lighttpd did not start; see $STATE/lighttpd-error.log"
URL=http://127.0.0.1:$PORT
[ "$BIND" = 127.0.0.1 ] || [ "$BIND" = 0.0.0.0 ] || URL=http://$BIND:$PORT
i=0
until [ -s "$PIDFILE" ] &&
    curl -sf -o /dev/null -H 'Host: localhost' "$URL/-/ping"; do
	i=$((i + 1))
	if [ $i -ge 100 ]; then
		[ -s "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null
		tail -n 20 "$STATE/lighttpd-error.log" >&2 2>/dev/null || :
		die "lighttpd did not answer on $URL within 10 s"
	fi
	sleep 0.1
done

# --- 5. what to try ---------------------------------------------------------------
cat <<EOF

scarf-gateway is running behind lighttpd on $URL (pid $(cat "$PIDFILE")),
manifest $MANIFEST.

A file-v1 release download redirects to GitHub:

  curl -sI -H 'Host: dl.example.com' '$URL/tool/1.4.2/tool-1.4.2-linux-amd64.tar.gz'
  # -> 307, Location: https://github.com/example-org/tool/releases/download/v1.4.2/tool-1.4.2-linux-amd64.tar.gz

The Python simple index page of a project (pip --index-url $URL/simple/):

  curl -s -H 'Host: py.example.com' '$URL/simple/example-tool/'
  # -> 200, Content-Type: text/html, contains: <a href="/simple/example-tool/example_tool-1.4.2-py3-none-any.whl#sha256=

A Docker client is redirected to the registry:

  curl -sI -H 'Host: get.example.com' -A 'docker/27.3.1 go/go1.22.7 os/linux arch/amd64' '$URL/v2/example-org/tool/manifests/1.4.2'
  # -> 307, Location: https://ghcr.io/v2/example-org/tool/manifests/1.4.2

Every request is logged as one JSON line:

  tail -f $STATE/events.log

Stop it:

  kill \$(cat $PIDFILE)

EOF
