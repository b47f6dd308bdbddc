#!/usr/bin/env bash
# The compiled manifest image through the CGI program (README, "Compiled
# manifest image"): the first request writes an image and its index into
# GATEWAY_CACHE_DIR; a warm request only stats the manifest and mmaps the
# image (strace: the JSON file is never opened); every answer is the same
# with images on, off and cold; an untrusted image is rebuilt with one
# warning; a missing cache directory gives one warning and answers;
# --check writes nothing; a changed manifest replaces its image.
. "$(dirname "$0")/../lib.sh"

[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
[ -x "$FCGI" ] || skip_all "fcgi/scarf-gateway not built"
command -v strace >/dev/null || skip_all "strace not found"

cd "$T" || exit 99
mkdir -m 700 cache
{
	printf '{"settings": {"npm-cache-ttl": 30},\n "rules": [\n'
	for i in $(seq 1 40); do
		printf ' {"type": "python-v1", "domain": "py.test", '
		printf '"package-id": "p", '
		printf '"package-name": "Proj_%d", ' $((i % 4))
		printf '"file-name": "proj-%d.tar.gz", ' "$i"
		printf '"version": "%d", ' "$i"
		printf '"backend-url": '
		printf '"https://files.example/proj-%d.tar.gz", ' "$i"
		printf '"hash-value": {"type": "sha256", '
		printf '"hash": "%064d"}},\n' "$i"
	done
	printf ' {"type": "file-v1", "domain": "*.dl.test", '
	printf '"package-id": "t", "incoming-path": "/t/{v}/{f}", '
	printf '"outgoing-url": "https://files.example/t/{v}/{f}"},\n'
	printf ' {"type": "file-v2", "domain": "dl.test", '
	printf '"package-id": "r", "incoming-path": "^/r/(?<v>[0-9]+)$", '
	printf '"outgoing-url": "https://files.example/r/{v}"},\n'
	printf ' {"type": "catch-all-v1", "domain": "dl.test", '
	printf '"package-id": "c"},\n'
	printf ' {"type": "catch-all-v1", "domain": "dl.test", '
	printf '"package-id": "dup"}\n]}\n'
} >manifest.json

# cgi ID HOST URI [NAME=VALUE...]: one GET with exactly these variables,
# under $WRAP if set; stdout in ID.out, stderr in ID.err
cgi() {
	local id=$1 host=$2 uri=$3
	shift 3
	env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 \
	    SERVER_PROTOCOL=HTTP/1.1 REQUEST_METHOD=GET HTTP_HOST="$host" \
	    REQUEST_URI="$uri" REMOTE_ADDR=127.0.0.1 \
	    GATEWAY_MANIFEST="$T/manifest.json" GATEWAY_LOG=none "$@" \
	    timeout 30 ${WRAP:-} "$CGI" >"$id.out" 2>"$id.err" </dev/null
}

REQS='py.test /simple/
py.test /simple/proj-1/
py.test /simple/Proj_2
a.dl.test /t/1.0/x.tgz?y=1
dl.test /r/42
dl.test /r/x
dl.test /other
nope.test /'

# answers NAME [NAME=VALUE...]: every request of REQS, the outputs
# concatenated into NAME.all
answers() {
	local name=$1 h u n=0
	shift
	: >"$name.all"
	while read -r h u; do
		n=$((n + 1))
		cgi "$name.$n" "$h" "$u" "$@"
		cat "$name.$n.out" >>"$name.all"
	done <<<"$REQS"
}

CD=GATEWAY_CACHE_DIR=$T/cache
answers off GATEWAY_CACHE_DIR=none
like "$(head -c 300 off.all)" 'Status: 200' "the requests answer"
ok "images off: nothing written" test -z "$(ls cache)"
answers cold "$CD"
is "$(cat cold.*.err)" "" "cold: no warning"
is "$(ls cache | grep -c '\.img$')" 1 "cold: one image"
is "$(ls cache | grep -c '\.idx$')" 1 "cold: one index"
ok "cold: the same answers as without images" cmp -s off.all cold.all
answers warm "$CD"
is "$(cat warm.*.err)" "" "warm: no warning"
ok "warm: the same answers" cmp -s off.all warm.all
like "$(cat warm.1.out)" 'proj-1' "the python index page"

# strace: the warm path stats the manifest, maps the image, reads no JSON
# (LeakSanitizer cannot run under ptrace)
WRAP="strace -f -o $T/w.strace -e trace=%file,mmap,read" \
    cgi w py.test /simple/proj-1/ "$CD" ASAN_OPTIONS=detect_leaks=0
ok "warm under strace: same page" cmp -s w.out warm.2.out
mf=$(grep -F "\"$T/manifest.json\"" w.strace)
like "$mf" 'stat' "the manifest is stat'ed"
unlike "$mf" 'open' "the manifest is never opened"
like "$(grep -E 'openat\(.*\.img"' w.strace)" 'O_NOFOLLOW' \
    "the image is opened without following links"
img_fd=$(sed -n 's/.*openat(.*\.img".* = \([0-9]*\)$/\1/p' w.strace | head -1)
like "$(grep -E "mmap\(NULL, [0-9]+, PROT_READ, MAP_SHARED, $img_fd, 0\)" \
    w.strace)" 'mmap' "the image is mmap'ed read-only, shared"
unlike "$(grep -E ' read\(' w.strace)" 'SGWIMG' \
    "the image is not read(2) into memory"
unlike "$(grep -E ' read\(' w.strace)" 'settings' \
    "no JSON is read"

# an untrusted image: rebuilt, one warning
img=$(ls cache/*.img)
chmod g+w "$img"
cgi untrusted py.test /simple/proj-1/ "$CD"
ok "group-writable image: the same page" cmp -s untrusted.out warm.2.out
is "$(wc -l <untrusted.err)" 1 "one warning"
like "$(cat untrusted.err)" 'writable by group or others; rebuilding' \
    "it says why"
is "$(stat -c %a "$img")" 644 "rebuilt 0644"
WRAP="strace -f -o $T/w2.strace -e trace=%file" \
    cgi w2 py.test /simple/proj-1/ "$CD" ASAN_OPTIONS=detect_leaks=0
unlike "$(grep -F "\"$T/manifest.json\"" w2.strace)" 'open' \
    "warm again after the rebuild"
is "$(cat w2.err)" "" "without warning"

# a missing cache directory: one warning, the answer as ever
cgi missing py.test /simple/proj-1/ GATEWAY_CACHE_DIR="$T/nonexistent"
ok "missing cache dir: the same page" cmp -s missing.out warm.2.out
is "$(wc -l <missing.err)" 1 "one warning"
like "$(cat missing.err)" 'compiled in memory' "it says so"

# --check writes nothing
mkdir -m 700 cache2
"$FCGI" --check --manifest "$T/manifest.json" --cache-dir "$T/cache2" \
    >check.out 2>&1
is "$?" 0 "--check: valid"
like "$(cat check.out)" 'duplicate of rules\[42\]' "--check: its warnings"
is "$(ls -A cache2)" "" "--check: nothing written"
# explain uses the image, and repeats the warnings the load had
"$FCGI" --manifest "$T/manifest.json" --cache-dir "$T/cache2" explain \
    GET dl.test /r/42 >explain.out 2>explain.err
like "$(cat explain.out)" '"location":"https://files.example/r/42"' \
    "explain (cold)"
"$FCGI" --manifest "$T/manifest.json" --cache-dir "$T/cache2" explain \
    GET dl.test /r/42 >explain2.out 2>explain2.err
ok "explain (warm): the same" cmp -s explain.out explain2.out
ok "explain (warm): the same load warnings" cmp -s explain.err explain2.err

# the FastCGI program without an image: it answers from the parsed
# manifest at once and writes the image after it has started, then
# serves from it (a restart finds it)
mkdir -m 700 cache3
start_bg fcold "$FCGI" --listen "unix:$T/fcold.sock" --manifest \
    "$T/manifest.json" --cache-dir "$T/cache3" --log none --threads 2
wait_socket "$T/fcold.sock"
out=$(timeout 20 python3 "$top_srcdir/tests/e2e/fixtures/fcgi_client.py" \
    "unix:$T/fcold.sock" get dl.test /r/42)
like "$out" '"status": 307' "FastCGI, cold: it answers (307)"
tries=100
while [ "$tries" -gt 0 ] && ! ls cache3/*.img >/dev/null 2>&1; do
	tries=$((tries - 1))
	sleep 0.1
done
is "$(ls cache3 | grep -c '\.img$')" 1 "FastCGI, cold: the image is written after the start"
out=$(timeout 20 python3 "$top_srcdir/tests/e2e/fixtures/fcgi_client.py" \
    "unix:$T/fcold.sock" get dl.test /r/43)
like "$out" '"status": 307' "FastCGI, cold: it answers after the image (307)"
like "$(cat "$T/fcold.err")" 'serving' "FastCGI, cold: it started"
unlike "$(cat "$T/fcold.err")" 'reload' "FastCGI, cold: no reload reported"
kill "$(pid_of fcold)"

# a changed manifest: a new image, the old one removed
old=$(ls cache/*.img)
sed -i 's/"npm-cache-ttl": 30/"npm-cache-ttl": 31/' manifest.json
cgi changed dl.test /r/7 "$CD"
like "$(cat changed.out)" 'files.example/r/7' "changed manifest answers"
ok "the old image is gone" test ! -e "$old"
is "$(ls cache | grep -c '\.img$')" 1 "one image again"
# a bad one: the CGI answers 500, the image of the good one stays
printf '{"rules": 1}' >manifest.json
cgi bad dl.test /r/7 "$CD"
like "$(head -1 bad.out)" 'Status: 500' "invalid manifest: 500"
is "$(ls cache | grep -c '\.img$')" 1 "its image was not replaced"

done_testing
