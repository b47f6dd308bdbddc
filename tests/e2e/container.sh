#!/usr/bin/env bash
# The container image (deploy/container/): builds it with the shipped
# build.sh (mmdebstrap + podman; the root filesystem tarball is cached, see
# build.sh), runs it with podman on a published 127.0.0.1 port with a
# mounted manifest, and checks a redirect through nginx and the gateway in
# the container, the health check, the event line on the container's
# stdout, the client IP taken from X-Forwarded-For (REAL_IP_FROM), the
# unprivileged user, and a clean stop.
#
# Skipped, with the reason, where podman or mmdebstrap is missing, where
# podman cannot run a container at all, and in a sanitizer build (the
# image carries the plain program; the _build run covers it).  Not
# skipped when the Debian archive cannot be reached: that fails.
. "$(dirname "$0")/../lib.sh"

command -v podman >/dev/null || skip_all "podman not installed"
command -v mmdebstrap >/dev/null || skip_all "mmdebstrap not installed"
command -v curl >/dev/null || skip_all "curl not installed"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
if ldd "$FCGI" 2>/dev/null | grep -Eq 'lib(a|ub|t)san'; then
	skip_all "sanitizer build: the image takes a plain build's program"
fi

IMAGE=localhost/scarf-gateway-test:$$
NAME=scarf-gateway-test-$$
made_image=
made_ctr=
RUNTIME=()
RUNARGS=()
cleanup_podman() {
	[ -n "$made_ctr" ] &&
	    podman "${RUNTIME[@]}" rm -f -t 0 "$NAME" >/dev/null 2>&1
	[ -n "$made_image" ] && podman rmi -f "$IMAGE" >/dev/null 2>&1
	t_cleanup
}
trap cleanup_podman EXIT

# --- build -----------------------------------------------------------------
start=$(date +%s)
if IMAGE=$IMAGE bash "$top_srcdir/deploy/container/build.sh" "$FCGI" \
    >"$T/build.out" 2>"$T/build.err"; then
	made_image=1
	pass "build.sh built the image ($(($(date +%s) - start)) s)"
else
	made_image=1
	fail "build.sh built the image"
	diag "$(tail -n 30 "$T/build.err")"
	done_testing
fi
is "$(cat "$T/build.out")" "$IMAGE" "build.sh prints the image's name"
grep -E 'mmdebstrap|cached root filesystem' "$T/build.err" | sed 's/^/# /'

# --- can podman run a container here? -------------------------------------
# The default runtime first; then runc with limits below the current ones
# (some sandboxes refuse crun's cgroup setup, or raising a limit).
probe() {
	podman "${RUNTIME[@]}" run --rm --network none \
	    --health-interval=disable "${RUNARGS[@]}" \
	    --entrypoint /usr/bin/scarf-gateway "$IMAGE" --version \
	    >"$T/probe.out" 2>"$T/probe.err"
}
if ! probe; then
	diag "podman run with the defaults failed:" \
	    "$(grep -v 'level=error' "$T/probe.err" | tail -n 3)"
	RUNTIME=(--runtime runc)
	# as build.sh does
	RUNARGS=(--ulimit nofile=8192:8192 --ulimit nproc=4096:4096)
	if ! command -v runc >/dev/null || ! probe; then
		skip_all "podman cannot run a container here: $(grep -v \
		    'level=error' "$T/probe.err" | tail -n 1)"
	fi
	diag "using: podman ${RUNTIME[*]} run ${RUNARGS[*]}"
fi
like "$(cat "$T/probe.out")" '^scarf-gateway [0-9]' \
    "the program runs inside the image (its libraries are there)"

# --- the image's configuration ---------------------------------------------
cfg=$(podman image inspect --format \
    '{{.Config.User}}|{{json .Config.ExposedPorts}}|{{json .Config.Entrypoint}}' \
    "$IMAGE")
is "${cfg%%|*}" "10001:10001" "the image runs as an unprivileged user"
like "$cfg" '"8080/tcp"' "the image exposes 8080"
hc=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" \
    2>/dev/null)
like "$hc" '/-/health' "the image's health check asks /-/health"

# --- run it ------------------------------------------------------------------
cat >"$T/manifest.json" <<'JSON'
{"rules": [{"type": "file-v1", "domain": "dl.container.test",
  "package-id": "ctr-tool", "incoming-path": "/tool/{version}/{file}",
  "outgoing-url": "https://releases.example/tool/{version}/{file}"}]}
JSON
chmod 0644 "$T/manifest.json"
chmod 0755 "$T"
PORT=$(free_port)
made_ctr=1
# --read-only (a tmpfs on /tmp), as deploy/kubernetes runs it
if ! podman "${RUNTIME[@]}" run -d --name "$NAME" --health-interval=disable \
    "${RUNARGS[@]}" --read-only -p "127.0.0.1:$PORT:8080" \
    -v "$T/manifest.json:/etc/manifest/manifest.json:ro" \
    -e GATEWAY_MANIFEST=/etc/manifest/manifest.json \
    -e REAL_IP_FROM=0.0.0.0/0 \
    "$IMAGE" >"$T/run.out" 2>"$T/run.err"; then
	fail "podman run -d"
	diag "$(grep -v 'level=error' "$T/run.err")"
	done_testing
fi
pass "podman run -d"
up=
for _ in $(seq 100); do
	if curl -fs -o /dev/null "http://127.0.0.1:$PORT/-/ping"; then
		up=1
		break
	fi
	sleep 0.1
done
ok "the container answers on 127.0.0.1:$PORT" test -n "$up"
[ -n "$up" ] || diag "$(podman logs "$NAME" 2>&1 | tail -n 20)"

curl -s -o /dev/null -D "$T/h" -H 'Host: dl.container.test' \
    -H 'X-Forwarded-For: 203.0.113.9' -A container-test/1 \
    "http://127.0.0.1:$PORT/tool/1.2/tool-1.2.tgz"
is "$(head -n 1 "$T/h" | tr -d '\r')" "HTTP/1.1 307 Temporary Redirect" \
    "a redirect through the container"
is "$(header Location <"$T/h")" \
    "https://releases.example/tool/1.2/tool-1.2.tgz" "its Location"
health=$(curl -s "http://127.0.0.1:$PORT/-/health")
is "$(printf '%s' "$health" | jget status)" '"ok"' "/-/health: ok"
is "$(printf '%s' "$health" | jget rules)" 1 "/-/health: the mounted manifest"
if podman "${RUNTIME[@]}" healthcheck run "$NAME" >"$T/hc.out" 2>&1; then
	pass "podman healthcheck run: healthy"
else
	fail "podman healthcheck run: healthy"
	diag "$(cat "$T/hc.out")"
fi

# the event line, on stdout (podman logs keeps the streams apart)
line=
for _ in $(seq 50); do
	podman logs "$NAME" >"$T/stdout" 2>"$T/stderr"
	line=$(grep -F '"path":"/tool/1.2/tool-1.2.tgz"' "$T/stdout")
	[ -n "$line" ] && break
	sleep 0.1
done
like "$line" '^\{.*"status":307' "the event line is on the container's stdout"
is "$(printf '%s' "$line" | jget client-ip)" '"203.0.113.9"' \
    "client-ip from X-Forwarded-For (REAL_IP_FROM)"
is "$(printf '%s' "$line" | jget user-agent)" '"container-test/1"' \
    "the event's user-agent"
bad=$(grep -cv '^{' "$T/stdout")
is "$bad" 0 "stdout holds only JSON lines"
like "$(cat "$T/stderr")" 'serving /etc/manifest/manifest.json' \
    "diagnostics go to stderr"
unlike "$(cat "$T/stderr")" '\[(alert|emerg|crit|error)\]' \
    "nginx reports no error (read-only root filesystem)"
users=$(podman "${RUNTIME[@]}" top "$NAME" user 2>/dev/null | sed 1d |
    sort -u | tr '\n' ' ')
is "$users" "scarf-gateway " "every process runs as the image's user"

# --- stop ----------------------------------------------------------------------
podman "${RUNTIME[@]}" stop -t 10 "$NAME" >/dev/null 2>&1
is "$(podman inspect --format '{{.State.ExitCode}}' "$NAME" 2>/dev/null)" 0 \
    "podman stop: the entry point exits 0"

done_testing
