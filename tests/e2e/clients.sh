#!/usr/bin/env bash
# Real clients through the gateway behind real web servers (issue 3, item
# 2), everything on 127.0.0.1 and offline:
#
#   upstreams   a docker-registry holding an image this script builds as an
#               OCI layout (fixtures/make_oci.py) and pushes with skopeo; a
#               static PEP 503/691 index with wheels it builds
#               (fixtures/make_pypi.py) and a release file, served by
#               fixtures/static_server.py;
#   manifest    docker-v1 for the image (skopeo and podman marked
#               redirect-capable in settings), python-v1 for the wheels with
#               their sha256, file-v1 for the release file;
#   servers     lighttpd (deploy/lighttpd-fastcgi.conf), nginx
#               (deploy/nginx.conf + nginx-standalone.conf, the gateway under
#               deploy/spawn-fcgi.sh), Caddy (deploy/Caddyfile) and Apache
#               mod_fcgid (deploy/apache-fcgid.conf), each skipped when the
#               server or its shipped file is missing;
#   clients     skopeo copy and podman pull (digests checked against what was
#               pushed), pip install (pip checks the hash; a wrong hash in
#               the manifest must make it fail), curl -L and wget (sha256 of
#               the file checked); the event log must show the gateway
#               answering each with its 307s.
#
# Every process is started here and stopped by its pid; podman runs in a
# session of its own, which must be empty when it returns.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-servers.sh"

FIX=$E2E/fixtures
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not installed"
command -v curl >/dev/null || skip_all "curl not installed"
cd "$T" || exit 99
# Let unprivileged web-server workers (nginx, Apache run as root drop to
# nobody/www-data) through $T to the sockets and files below it.
chmod 0711 "$T"

# --- tools ---------------------------------------------------------------
# Each client is skipped, with its reason, when it cannot run here.
REGISTRY=$(command -v docker-registry 2>/dev/null)
no_docker=
command -v skopeo >/dev/null || no_docker="skopeo not installed"
[ -n "$REGISTRY" ] || no_docker="docker-registry not installed"
no_podman=$no_docker
[ -n "$no_podman" ] || command -v podman >/dev/null ||
    no_podman="podman not installed"
no_wget=
command -v wget >/dev/null || no_wget="wget not installed"
no_pip=

# --- fixtures ------------------------------------------------------------
mkdir -p up/files/1.2.0
python3 "$FIX/make_pypi.py" "$T/up" tinypkg 0.1.0 upstreampkg 0.2.0 \
    badpkg 1.0 >pypi.json
python3 -c 'import random, sys
r = random.Random(1234)
sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(300000)))' \
    >up/files/1.2.0/tool-1.2.0-linux-amd64.tar.gz
REL_SHA=$(sha up/files/1.2.0/tool-1.2.0-linux-amd64.tar.gz)
TINY_SHA=$(jfield tinypkg.sha256 <pypi.json)
ok "fixtures: wheels and a release file built" \
    test -n "$TINY_SHA" -a -n "$REL_SHA"

# the static upstream (index, wheels, files)
start_bg static python3 "$FIX/static_server.py" --root "$T/up" \
    --log "$T/static.log" --port-file "$T/static.port" --pep691
i=0
while [ ! -s static.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
SPORT=$(cat static.port 2>/dev/null)
ok "the static upstream listens" wait_port "${SPORT:-0}"

# the registry, holding the image pushed with skopeo
if [ -z "$no_docker" ]; then
	python3 "$FIX/make_oci.py" "$T/oci" latest >oci.json
	REGPORT=$(free_port)
	mkdir -p registry
	cat >registry.yml <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $T/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGPORT
  secret: e2e-not-secret
EOF
	start_bg registry "$REGISTRY" serve "$T/registry.yml"
	# (the tools are there: a registry that does not work is a failure)
	if ! wait_port "$REGPORT" 200; then
		fail "docker-registry starts"
		diag "$(tail -n 5 registry.err)"
		no_docker="no registry"
	elif ! skopeo --insecure-policy copy --dest-tls-verify=false \
	    --digestfile "$T/pushed.digest" "oci:$T/oci:latest" \
	    "docker://127.0.0.1:$REGPORT/e2e/hello:latest" \
	    >push.out 2>&1; then
		fail "skopeo pushes the image to the registry"
		diag "$(tail -n 5 push.out)"
		no_docker="no image in the registry"
	else
		PUSHED=$(cat pushed.digest)
		is "$PUSHED" "$(jfield manifest <oci.json)" \
		    "the registry holds the image as built (manifest digest)"
		CONFIG=$(jfield config <oci.json)
		LAYER=$(jfield layer <oci.json)
		DIFF_ID=$(jfield diff_id <oci.json)
	fi
	[ -z "$no_docker" ] || no_podman=$no_docker
else
	skip "docker upstream: $no_docker"
fi

# podman: can it run here at all?  One pull straight from the registry,
# with private storage, tells (and is not counted against the gateway).
# podman refuses a --runroot longer than 50 characters: its stores live in
# short directories, under /tmp if $T is too long.
PODDIR=$T/pod
if [ ${#PODDIR} -gt 36 ]; then
	PODDIR=$(mktemp -d /tmp/gw-pod.XXXXXX) || exit 99
	trap 'rm -rf "$PODDIR"; t_cleanup' EXIT
fi
PODN=0
podman_args() {
	echo --root "$1/root" --runroot "$1/runroot" --tmpdir "$1/tmp" \
	    --network-config-dir "$1/net" --storage-driver vfs \
	    --cgroup-manager cgroupfs --events-backend file --log-level error
}
if [ -z "$no_podman" ]; then
	# shellcheck disable=SC2046
	if ! in_session podman-direct podman $(podman_args "$PODDIR/p0") \
	    pull --tls-verify=false "127.0.0.1:$REGPORT/e2e/hello:latest"; then
		no_podman="podman cannot pull here even from the registry"
		no_podman+=" directly: $(tail -n 2 podman-direct.err | tr '\n' ' ')"
	fi
	left=$(session_left podman-direct)
	[ -z "$left" ] || {
		diag "podman left processes behind: $left"
		# shellcheck disable=SC2206
		T_PIDS+=($left)
	}
fi

# pip, in a virtual environment of its own.  --system-site-packages
# --without-pip borrows the system's pip, which takes a second where
# ensurepip takes ten; a full venv is the fallback.
if python3 -m venv --without-pip --system-site-packages venv \
    >venv.out 2>&1 && venv/bin/python -m pip --version >>venv.out 2>&1; then
	:
elif rm -rf venv && python3 -m venv venv >venv.out 2>&1 &&
    venv/bin/python -m pip --version >>venv.out 2>&1; then
	:
else
	no_pip="no pip for a venv (python3-venv, python3-pip): $(tail -n 1 venv.out)"
fi
PY=$T/venv/bin/python

# --- the manifest ------------------------------------------------------------
# Everything on the host 127.0.0.1: docker clients send the registry
# address as the Host.  skopeo sends "skopeo/1.9.3", podman (and buildah)
# "containers/5.23.1 (github.com/containers/image)".
BAD_SHA=0000000000000000000000000000000000000000000000000000000000000000
REL=tool-1.2.0-linux-amd64.tar.gz
cat >manifest.json <<EOF
{
  "settings": {
    "docker-redirect-user-agents": [
      {"prefix": "skopeo/"},
      {"prefix": "containers/"}
    ]
  },
  "rules": [
    {"type": "docker-v1", "domain": "127.0.0.1", "package-id": "e2e-hello",
     "repository-name": "e2e/hello",
     "registry": "http://127.0.0.1:${REGPORT:-9}"},
    {"type": "python-v1", "domain": "127.0.0.1", "package-id": "e2e-tinypkg",
     "package-name": "TinyPkg", "version": "0.1.0",
     "file-name": "tinypkg-0.1.0-py3-none-any.whl",
     "backend-url": "http://127.0.0.1:$SPORT/packages/tinypkg-0.1.0-py3-none-any.whl",
     "hash-value": {"type": "sha256", "hash": "$TINY_SHA"},
     "backend-simple-index-url": "http://127.0.0.1:$SPORT/simple/"},
    {"type": "python-v1", "domain": "127.0.0.1", "package-id": "e2e-badpkg",
     "package-name": "badpkg", "version": "1.0",
     "file-name": "badpkg-1.0-py3-none-any.whl",
     "backend-url": "http://127.0.0.1:$SPORT/packages/badpkg-1.0-py3-none-any.whl",
     "hash-value": {"type": "sha256", "hash": "$BAD_SHA"}},
    {"type": "file-v1", "domain": "127.0.0.1", "package-id": "e2e-tool",
     "incoming-path": "/releases/{version}/{file}",
     "outgoing-url": "http://127.0.0.1:$SPORT/files/{version}/{file}"}
  ]
}
EOF
ok "the gateway accepts the test manifest" \
    "$FCGI" --manifest "$T/manifest.json" --check

# --- the clients ---------------------------------------------------------------
# clients NAME PORT LOG: every client through the web server NAME on PORT,
# whose gateway logs to LOG
clients() {
	local n=$1 port=$2 log=$3 d=$T/$1 out m f pd
	local base=127.0.0.1:$2
	mkdir -p "$d"

	# skopeo: the image into a dir: layout, then every digest checked
	if [ -n "$no_docker" ]; then
		skip "[$n] skopeo: $no_docker"
	elif in_session "$n-skopeo" skopeo --insecure-policy copy \
	    --src-tls-verify=false "docker://$base/e2e/hello:latest" \
	    "dir:$d/skopeo"; then
		pass "[$n] skopeo copy through the gateway"
		is "$(skopeo_mismatches "$d/skopeo")" "" \
		    "[$n] skopeo: manifest and blobs match their digests"
		ok "[$n] skopeo: the config and the layer as pushed" \
		    test -f "$d/skopeo/${CONFIG#sha256:}" -a \
		    -f "$d/skopeo/${LAYER#sha256:}"
		is "$(count_events "$log" 'ua.startswith("skopeo/") and
		    e["type"] == "docker" and e["status"] == 307 and
		    e["image"] == "e2e/hello" and
		    "/manifests/latest" in e["path"] and
		    e["location"] == "http://127.0.0.1:'"$REGPORT"'" + e["path"]')" 1 \
		    "[$n] skopeo: the manifest was a 307 to the registry"
		is "$(count_events "$log" 'ua.startswith("skopeo/") and
		    e["status"] == 307 and "/blobs/sha256:" in e["path"] and
		    e["location"].startswith("http://127.0.0.1:'"$REGPORT"'/v2/e2e/hello/blobs/")')" 2 \
		    "[$n] skopeo: both blobs were 307s to the registry"
	else
		fail "[$n] skopeo copy through the gateway"
		diag "$(tail -n 5 "$T/$n-skopeo.err")"
	fi
	is "$(session_left "$n-skopeo")" "" "[$n] skopeo left no process"

	# podman: a private store per server (else the layers are cached)
	if [ -n "$no_podman" ]; then
		skip "[$n] podman: $no_podman"
	else
		PODN=$((PODN + 1))
		pd=$PODDIR/p$PODN
		# shellcheck disable=SC2046
		if in_session "$n-podman" podman $(podman_args "$pd") \
		    pull --tls-verify=false "$base/e2e/hello:latest"; then
			pass "[$n] podman pull through the gateway"
			# shellcheck disable=SC2046
			out=$(podman $(podman_args "$pd") image inspect \
			    "$base/e2e/hello:latest" 2>&1 | python3 -c '
import json, sys
i = json.load(sys.stdin)[0]
print(i["Digest"], ",".join(i["RootFS"]["Layers"]))' 2>&1)
			is "$out" "$PUSHED $DIFF_ID" \
			    "[$n] podman: the image digest and layer as pushed"
			is "$(count_events "$log" 'ua.startswith("containers/") and
			    e["status"] == 307 and e["type"] == "docker" and
			    ("/manifests/latest" in e["path"] or
			     "/blobs/sha256:" in e["path"])')" 3 \
			    "[$n] podman: manifest and both blobs were 307s"
		else
			fail "[$n] podman pull through the gateway"
			diag "$(tail -n 5 "$T/$n-podman.err")"
		fi
		is "$(session_left "$n-podman")" "" "[$n] podman left no process"
	fi

	# pip: the wheel from the gateway's index (hash checked by pip), and
	# one found only upstream (the gateway sends pip to the static index)
	if [ -n "$no_pip" ]; then
		skip "[$n] pip: $no_pip"
	else
		if "$PY" -m pip install --no-cache-dir --isolated \
		    --disable-pip-version-check --no-input \
		    --index-url "http://$base/simple/" tinypkg upstreampkg \
		    >"$d/pip.out" 2>&1; then
			pass "[$n] pip install through the gateway"
		else
			fail "[$n] pip install through the gateway"
			diag "$(tail -n 8 "$d/pip.out")"
		fi
		is "$("$PY" -c 'import tinypkg, upstreampkg
print(tinypkg.hello(), upstreampkg.hello())' 2>&1)" \
		    "hello from tinypkg hello from upstreampkg" \
		    "[$n] pip: both packages import"
		"$PY" -m pip uninstall -y --isolated --disable-pip-version-check \
		    tinypkg upstreampkg >/dev/null 2>&1
		is "$(count_events "$log" 'ua.startswith("pip/") and
		    e["type"] == "python" and e["status"] == 200 and
		    e["path"] == "/simple/tinypkg/"')" 1 \
		    "[$n] pip: the gateway served the project page"
		is "$(count_events "$log" 'ua.startswith("pip/") and
		    e["status"] == 307 and
		    e["path"] == "/simple/tinypkg/tinypkg-0.1.0-py3-none-any.whl" and
		    e["location"] == "http://127.0.0.1:'"$SPORT"'/packages/tinypkg-0.1.0-py3-none-any.whl"')" 1 \
		    "[$n] pip: the wheel was a 307 to the upstream"
		is "$(count_events "$log" 'ua.startswith("pip/") and
		    e["status"] == 307 and e["path"] == "/simple/upstreampkg/" and
		    e["location"] == "http://127.0.0.1:'"$SPORT"'/simple/upstreampkg/"')" 1 \
		    "[$n] pip: an unknown project was a 307 to the upstream index"
		# the manifest's hash is what pip checks
		if "$PY" -m pip install --no-cache-dir --isolated \
		    --disable-pip-version-check --no-input \
		    --index-url "http://$base/simple/" badpkg \
		    >"$d/pip-bad.out" 2>&1; then
			fail "[$n] pip refuses a wheel whose hash differs from the manifest's"
			"$PY" -m pip uninstall -y --isolated badpkg >/dev/null 2>&1
		else
			like "$(cat "$d/pip-bad.out")" 'DO NOT MATCH THE HASHES' \
			    "[$n] pip refuses a wheel whose hash differs from the manifest's"
		fi
	fi

	# curl -L and wget: a file-v1 template
	if curl -sS -L -o "$d/curl.bin" \
	    "http://$base/releases/1.2.0/$REL" 2>"$d/curl.err"; then
		is "$(sha "$d/curl.bin")" "$REL_SHA" "[$n] curl -L: the file, intact"
	else
		fail "[$n] curl -L: the file, intact"
		diag "$(cat "$d/curl.err")"
	fi
	if [ -n "$no_wget" ]; then
		skip "[$n] wget: $no_wget"
	elif wget -q -O "$d/wget.bin" "http://$base/releases/1.2.0/$REL" \
	    2>"$d/wget.err"; then
		is "$(sha "$d/wget.bin")" "$REL_SHA" "[$n] wget: the file, intact"
	else
		fail "[$n] wget: the file, intact"
		diag "$(cat "$d/wget.err")"
	fi
	m='e["type"] == "file" and e["status"] == 307 and
	    e["path"] == "/releases/1.2.0/'"$REL"'" and
	    e["location"] == "http://127.0.0.1:'"$SPORT"'/files/1.2.0/'"$REL"'"'
	is "$(count_events "$log" "ua.startswith('curl/') and $m")" 1 \
	    "[$n] curl: the download was a 307 to the upstream"
	[ -n "$no_wget" ] ||
	    is "$(count_events "$log" "ua.startswith('Wget/') and $m")" 1 \
	    "[$n] wget: the download was a 307 to the upstream"
	is "$(count_events "$log" 'e["status"] >= 400')" 0 \
	    "[$n] the gateway answered no request with an error"
}

# --- the web servers ---------------------------------------------------------------
# Each: render the shipped file(s) into $T/NAME, start, clients, stop by
# pid, and check that nothing the server started is left.

# proc_state PID: its state letter and name from /proc (for diagnostics)
proc_state() {
	local line comm
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	comm=${line#*(}
	comm=${comm%)*}
	# shellcheck disable=SC2086
	set -- ${line##*) }
	echo "$1 $comm"
}

# stop_logged PID SECS: stop_pid, but when PID outlives SIGTERM by SECS
# its signal state goes into a diagnostic before it is killed
stop_logged() {
	local pid=$1 secs=$2 i=0 rc
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		while alive "$pid" && [ $i -lt $((secs * 20)) ]; do
			sleep 0.05
			i=$((i + 1))
		done
		if alive "$pid"; then
			diag "pid $pid ($(proc_state "$pid")) outlived SIGTERM" \
			    "$(grep -E '^(State|Threads|Sig|ShdPnd)' \
			    "/proc/$pid/status" 2>/dev/null)"
			stop_pid "$pid" 1
			return 255
		fi
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	return $rc
}

# stop_server NAME PID KIDS...: stops the server by its pid; none of KIDS
# (its processes, gateway included, taken while it ran) may be left
stop_server() {
	local n=$1 pid=$2
	shift 2
	stop_logged "$pid" 15
	is "$?" 0 "[$n] the server exits 0 on SIGTERM"
	ok "[$n] no process it started is left" gone "$@"
}

# lighttpd, spawning the gateway itself (bin-path)
run_lighttpd() {
	local d=$T/lighttpd port pid kids lighttpd
	lighttpd=$(command -v lighttpd 2>/dev/null || echo /usr/sbin/lighttpd)
	if [ ! -x "$lighttpd" ]; then
		skip "[lighttpd] lighttpd not installed"
		return
	fi
	port=$(free_port)
	mkdir -p "$d/www"
	ok "[lighttpd] deploy/lighttpd-fastcgi.conf renders" \
	    render "$DEPLOY/lighttpd-fastcgi.conf" "$d/lighttpd.conf" \
	    BINDIR="$top_builddir/fcgi" MANIFEST="$T/manifest.json" \
	    STATEDIR="$d" BIND=127.0.0.1 PORT="$port"
	start_bg lighttpd-server "$lighttpd" -D -f "$d/lighttpd.conf"
	pid=$(pid_of lighttpd-server)
	if ! wait_port "$port" 200 || ! wait_socket "$d/scarf-gateway.sock-0"
	then
		fail "[lighttpd] starts"
		diag "$(cat "$T/lighttpd-server.err" "$d/lighttpd-error.log" 2>/dev/null)"
		stop_pid "$pid" 5
		return
	fi
	pass "[lighttpd] starts"
	kids=$(descendants "$pid")
	clients lighttpd "$port" "$d/events.log"
	kids="$kids $(descendants "$pid")"
	# shellcheck disable=SC2086
	stop_server lighttpd "$pid" $kids
}

# nginx, the gateway under deploy/spawn-fcgi.sh (as tests/e2e/nginx.sh)
run_nginx() {
	local d=$T/nginx port gw pid kids
	need_nginx_gateway nginx || return
	for f in nginx.conf nginx-standalone.conf spawn-fcgi.sh; do
		if [ ! -f "$DEPLOY/$f" ]; then
			skip "[nginx] deploy/$f missing"
			return
		fi
	done
	port=$(free_port)
	start_nginx_gateway nginx "$d" "$port" : || return
	pid=$NGINX_PID gw=$NGINX_GW
	kids=$(descendants "$pid")
	clients nginx "$port" "$d/events.log"
	# shellcheck disable=SC2086
	stop_server nginx "$pid" $kids
	stop_logged "$gw" 15
	is "$?" 0 "[nginx] the gateway exits 0 on SIGTERM"
}

# Caddy, the gateway on its own TCP socket (as tests/e2e/caddy.sh)
run_caddy() {
	local d=$T/caddy port gport gw pid kids caddy rc
	caddy=$(command -v caddy 2>/dev/null || echo /usr/bin/caddy)
	if [ ! -x "$caddy" ]; then
		skip "[caddy] caddy not installed"
		return
	fi
	if [ ! -f "$DEPLOY/Caddyfile" ]; then
		skip "[caddy] deploy/Caddyfile missing"
		return
	fi
	port=$(free_port)
	gport=$(free_port)
	mkdir -p "$d/home" "$d/data" "$d/config"
	start_bg caddy-gateway "$FCGI" --manifest "$T/manifest.json" \
	    --listen "tcp:127.0.0.1:$gport" --log "$d/events.log" --threads 4
	gw=$(pid_of caddy-gateway)
	ok "[caddy] deploy/Caddyfile renders" render "$DEPLOY/Caddyfile" \
	    "$d/Caddyfile" BIND=127.0.0.1 PORT="$port" \
	    UPSTREAM="127.0.0.1:$gport" STATEDIR="$d"
	# Caddy keeps autosave.json and its data under these
	start_bg caddy-server env HOME="$d/home" XDG_DATA_HOME="$d/data" \
	    XDG_CONFIG_HOME="$d/config" "$caddy" run \
	    --config "$d/Caddyfile" --adapter caddyfile
	pid=$(pid_of caddy-server)
	if ! wait_port "$gport" 200 || ! wait_port "$port" 200; then
		fail "[caddy] starts"
		diag "$(tail -n 20 "$T/caddy-server.err" "$T/caddy-gateway.err" 2>/dev/null)"
		stop_pid "$pid" 5
		stop_pid "$gw" 5
		return
	fi
	pass "[caddy] starts"
	kids=$(descendants "$pid")
	clients caddy "$port" "$d/events.log"
	stop_logged "$pid" 15
	rc=$?
	# (Caddy 2.6 exits 1 on SIGTERM after a clean shutdown)
	ok "[caddy] stops on SIGTERM (status $rc)" test "$rc" -ne 255 ||
	    diag "$(tail -n 15 "$T/caddy-server.err")"
	# shellcheck disable=SC2086
	ok "[caddy] no process it started is left" gone "$pid" $kids
	stop_logged "$gw" 15
	is "$?" 0 "[caddy] the gateway exits 0 on SIGTERM"
}

# Apache with mod_fcgid spawning the gateway, a private instance as in
# tests/e2e/apache_fcgid.sh (apachelib.sh), in $T/apache
run_apache_fcgid() {
	local T=$T/apache port kids m
	if [ ! -f "$DEPLOY/apache-fcgid.conf" ] ||
	    [ ! -f "$E2E/apachelib.sh" ]; then
		skip "[apache-fcgid] deploy/apache-fcgid.conf missing"
		return
	fi
	# apachelib's apache_init skips the whole script when something is
	# missing: look first
	. "$E2E/apachelib.sh"
	if [ ! -x "$APACHE" ]; then
		skip "[apache-fcgid] apache2 not installed"
		return
	fi
	for m in mpm_event authz_core alias fcgid; do
		if [ ! -e "$APACHE_MODDIR/mod_$m.so" ]; then
			skip "[apache-fcgid] Apache module $m not installed"
			return
		fi
	done
	if [ "$(id -u)" = 0 ] && ! id www-data >/dev/null 2>&1; then
		skip "[apache-fcgid] no www-data user for Apache's children"
		return
	fi
	mkdir -p "$T"
	apache_init alias fcgid
	apache_stage "$FCGI"
	# our manifest instead of the check list's
	install -m 0644 "$T/../manifest.json" "$T/manifest.json"
	port=$(free_port)
	apache_site "$DEPLOY/apache-fcgid.conf" "$port"
	if ! apache_start "$port"; then
		stop_pid "$APACHE_PID" 15
		return
	fi
	clients apache-fcgid "$port" "$T/events.log"
	kids=$(descendants "$APACHE_PID")
	like "$(pids_of_exe "$T/bin/scarf-gateway")" '^[0-9]+' \
	    "[apache-fcgid] mod_fcgid spawned the gateway"
	apache_stop
	# shellcheck disable=SC2086
	ok "[apache-fcgid] no process Apache started is left" gone $kids
	is "$(pids_of_exe "$T/bin/scarf-gateway")" "" \
	    "[apache-fcgid] no gateway process is left"
	apache_error_log_clean
}

run_lighttpd
run_nginx
run_caddy
run_apache_fcgid

# --- upstreams down -------------------------------------------------------------
# They are not under test: one that has to be killed is shown (with its
# signal state) but does not fail the script.
if [ -f registry.pid ]; then
	stop_logged "$(pid_of registry)" 10
	# (docker-registry dies of the signal: 143)
	ok "docker-registry is stopped (status $?)" none_alive "$(pid_of registry)"
fi
stop_logged "$(pid_of static)" 10
ok "the static upstream is stopped (status $?)" none_alive "$(pid_of static)"

done_testing
