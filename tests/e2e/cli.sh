#!/usr/bin/env bash
# The FastCGI program's command line (SPEC §14.1): --version, --help, bad
# flags, --check exit codes and messages, explain, and a start-up with an
# invalid manifest.  No sockets are opened.
. "$(dirname "$0")/../lib.sh"

[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v python3 >/dev/null || skip_all "python3 not found"

cd "$T" || exit 99
# keep the environment from leaking settings into the program
for v in MANIFEST LISTEN THREADS LOG TRUST_FORWARDED_HOST PUBLIC_SCHEME \
    METRICS_ALLOW UPSTREAM_TIMEOUT POLL; do
	unset "GATEWAY_$v"
done

cat >good.json <<'EOF'
{
  "rules": [
    {"type": "catch-all-v1", "domain": "dl.example.test",
     "package-id": "p-catch", "redirect-target-domain": "mirror.example.net"},
    {"type": "python-v1", "domain": "py.example.test", "package-name": "numpy",
     "file-name": "numpy-1.3.0.tar.gz", "version": "1.3.0",
     "backend-url": "https://files.example.net/numpy-1.3.0.tar.gz",
     "package-id": "p-py"},
    {"type": "docker-v1", "domain": "cr.example.test",
     "repository-name": "library/proxy", "registry": "ghcr.io",
     "package-id": "p-always", "always-proxy": true},
    {"type": "docker-v1", "domain": "cr.example.test",
     "repository-name": "library/hello", "registry": "ghcr.io",
     "package-id": "p-hello"}
  ]
}
EOF
cat >warn.json <<'EOF'
{
  "rules": [
    {"type": "catch-all-v1", "domain": "dl.example.test", "package-id": "p1"}
  ],
  "settings": {"no-such-setting": 1}
}
EOF
cat >bad.json <<'EOF'
{
  "rules": [
    {"type": "catch-all-v1", "domain": "dl.example.test"}
  ]
}
EOF

# run OUT ERR ARGS...: runs the program, sets $rc
run() {
	local out=$1 err=$2
	shift 2
	"$FCGI" "$@" >"$out" 2>"$err" </dev/null
	rc=$?
}

# --version, --help
run out err --version
is "$rc" 0 "--version exits 0"
like "$(cat out)" '^scarf-gateway [0-9]+\.[0-9]+' "--version prints the version"
run out err --help
is "$rc" 0 "--help exits 0"
like "$(cat out)" '--manifest' "--help lists the flags"

# bad flags: usage on stderr, exit 2
run out err --no-such-flag
is "$rc" 2 "an unknown flag exits 2"
like "$(cat err)" '^usage:' "an unknown flag prints the usage"
run out err --threads many
is "$rc" 2 "a bad flag value exits 2"
like "$(cat err)" 'threads' "a bad flag value is named"
run out err --manifest good.json --check extra-argument
is "$rc" 2 "a stray argument exits 2"
run out err --manifest good.json explain GET
is "$rc" 2 "explain without HOST and PATH exits 2"
GATEWAY_POLL=soon run out err --manifest good.json --check
is "$rc" 2 "a bad environment value exits 2"
like "$(cat err)" 'GATEWAY_POLL' "a bad environment value is named"
GATEWAY_POLL=soon run out err --manifest good.json --poll 3 --check
is "$rc" 2 "environment values are checked even when a flag overrides them"
run out err --manifest good.json --splice maybe --check
is "$rc" 2 "--splice maybe: exits 2"
like "$(cat err)" '--splice maybe: must be 1 or 0' "--splice maybe: says what it takes"
GATEWAY_SPLICE=off run out err --manifest good.json --check
is "$rc" 0 "GATEWAY_SPLICE=off: taken"
run out err --manifest good.json --abort-mode close --check
is "$rc" 2 "--abort-mode close: exits 2"
like "$(cat err)" '--abort-mode close: must be reset or end' \
    "--abort-mode close: says what it takes"
GATEWAY_ABORT_MODE=end run out err --manifest good.json --check
is "$rc" 0 "GATEWAY_ABORT_MODE=end: taken"

# --check (§1.5, §14.1)
run out err --manifest good.json --check
is "$rc" 0 "--check: a valid manifest exits 0"
is "$(cat err)" "" "--check: nothing to say about a clean manifest"
run out err --manifest warn.json --check
is "$rc" 0 "--check: warnings alone exit 0"
like "$(cat err)" '^warn\.json: settings: .*no-such-setting' \
    "--check: the warning is printed"
run out err --manifest bad.json --check
is "$rc" 1 "--check: an invalid manifest exits 1"
want='bad.json: rules[0] (catch-all-v1): "package-id": '
want+='required field is missing'
is "$(cat err)" "$want" "--check: the exact error line"
run out err --manifest missing.json --check
is "$rc" 2 "--check: a missing file exits 2"
like "$(cat err)" '^missing\.json: ' "--check: the unreadable file is named"
GATEWAY_MANIFEST=bad.json run out err --check
is "$rc" 1 "--check reads GATEWAY_MANIFEST"
GATEWAY_MANIFEST=bad.json run out err --manifest good.json --check
is "$rc" 0 "--manifest overrides GATEWAY_MANIFEST"

# explain (§14.1): one JSON object on stdout
run out err --manifest good.json explain GET dl.example.test '/a/b?c=1'
is "$rc" 0 "explain: exits 0"
is "$(wc -l <out | tr -d ' ')" 1 "explain: one line"
is "$(jget type out)" '"catch-all"' "explain redirect: type"
is "$(jget status out)" 307 "explain redirect: status"
is "$(jget location out)" '"https://mirror.example.net/a/b?c=1"' \
    "explain redirect: location"
is "$(jget rule-index out)" 0 "explain redirect: rule-index"
is "$(jget proxy out)" false "explain redirect: proxy"
is "$(jget upstream out)" null "explain redirect: upstream"

run out err --manifest good.json explain GET py.example.test /simple/numpy/
is "$(jget type out)" '"python"' "explain python page: type"
is "$(jget status out)" 200 "explain python page: status"
is "$(jget rule-index out)" 1 "explain python page: rule-index"
is "$(jget location out)" null "explain python page: no location"
is "$(jget proxy out)" false "explain python page: not proxied"

run out err --manifest good.json explain GET cr.example.test \
    /v2/library/proxy/manifests/latest
is "$(jget type out)" '"docker"' "explain docker proxy: type"
is "$(jget proxy out)" true "explain docker proxy: proxy"
is "$(jget upstream out)" \
    '"https://ghcr.io/v2/library/proxy/manifests/latest"' \
    "explain docker proxy: upstream"
is "$(jget rule-index out)" 2 "explain docker proxy: rule-index"

run out err --manifest good.json explain GET cr.example.test \
    /v2/library/hello/manifests/latest 'User-Agent: docker/24.0.7'
is "$(jget status out)" 307 "explain with a header: docker client redirected"
is "$(jget location out)" \
    '"https://ghcr.io/v2/library/hello/manifests/latest"' \
    "explain with a header: location"
run out err --manifest good.json explain GET cr.example.test \
    /v2/library/hello/manifests/latest
is "$(jget proxy out)" true "explain without the header: proxied"

run out err --manifest good.json explain GET unknown.example.test /x
is "$(jget status out)" 404 "explain: unknown host"
is "$(jget type out)" '"none"' "explain: unknown host has type none"

run out err --manifest bad.json explain GET dl.example.test /
is "$rc" 1 "explain with an invalid manifest exits 1"

# start-up with an invalid or missing manifest: exit 1 before serving
port=$(free_port)
run out err --manifest bad.json --listen "tcp:127.0.0.1:$port"
is "$rc" 1 "start-up with an invalid manifest exits 1"
like "$(cat err)" 'required field is missing' \
    "start-up with an invalid manifest prints the error"
run out err --manifest missing.json --listen "tcp:127.0.0.1:$port"
is "$rc" 1 "start-up with a missing manifest exits 1"
# fd 0 is /dev/null: not a FastCGI socket, and no --listen
run out err --manifest good.json
is "$rc" 1 "start-up without a socket exits 1"
like "$(cat err)" 'listen' "start-up without a socket says why"

done_testing
