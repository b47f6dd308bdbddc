#!/usr/bin/env bash
# The CGI program with the compiled manifest image (issue 10): the same
# requests with GATEWAY_CACHE_DIR unset, set to none (off), to an empty
# directory (cold: the request compiles and writes the image) and again
# (warm: the request loads it) must give byte-identical responses and
# events (but for the time and duration); a changed or replaced manifest must be
# served as changed on the warm path; an unusable cache directory must
# never fail a request.  The checks of the image files themselves (one
# written cold, none rewritten warm) apply once the program's --help
# names GATEWAY_CACHE_DIR; before that they are skipped.
. "$(dirname "$0")/../lib.sh"

[ -x "$CGI" ] || skip_all "cgi/scarf-gateway.cgi not built"
command -v python3 >/dev/null || skip_all "python3 not found"

case $CGI in /*) ;; *) CGI=$PWD/$CGI ;; esac	# (this test runs in $T)
case $top_srcdir in /*) ;; *) top_srcdir=$PWD/$top_srcdir ;; esac
cd "$T" || exit 99
mkdir cache
chmod 0700 cache
aware=0
"$CGI" --help 2>&1 | grep -q GATEWAY_CACHE_DIR && aware=1

python3 "$top_srcdir/tests/bench/make_bench_manifest.py" files 10 >m.json ||
    exit 99
python3 "$top_srcdir/tests/bench/make_bench_manifest.py" python 40 >py.json ||
    exit 99

# cgi NAME CACHE MANIFEST HOST URI [NAME=VALUE...]: one GET; the response
# in NAME.out, stderr in NAME.err, the event (time removed) in NAME.ev.
# CACHE "-" leaves GATEWAY_CACHE_DIR unset.
cgi() {
	local name=$1 cache=$2 m=$3 host=$4 uri=$5
	shift 5
	local c=()
	[ "$cache" = - ] || c=(GATEWAY_CACHE_DIR="$cache")
	: >"$name.log"
	env -i GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
	    REMOTE_ADDR=127.0.0.1 GATEWAY_MANIFEST="$m" \
	    GATEWAY_LOG="$T/$name.log" REQUEST_METHOD=GET HTTP_HOST="$host" \
	    REQUEST_URI="$uri" "${c[@]}" "$@" "$CGI" >"$name.out" \
	    2>"$name.err" </dev/null
	sed -e 's/"time":"[^"]*"//' -e 's/"duration_ms":[0-9]*//' \
	    "$name.log" >"$name.ev"
}
# files: name inode mtime size of every file of the cache directory
files() {
	find cache -type f -printf '%f %i %T@ %s\n' | sort
}

# one redirect, four ways
R=/t10/1.2.3/tool-1.2.3.tar.gz
cgi plain - m.json dl.example.test "$R"
is "$(status <plain.out)" 307 "a redirect without GATEWAY_CACHE_DIR"
is "$(header Location <plain.out)" \
    "https://files.example.net/t10/v1.2.3/tool-1.2.3.tar.gz" "its Location"
cgi off none m.json dl.example.test "$R"
ok "GATEWAY_CACHE_DIR=none: the same response" cmp -s plain.out off.out
ok "GATEWAY_CACHE_DIR=none: the same event" cmp -s plain.ev off.ev
is "$(cat off.err)" "" "GATEWAY_CACHE_DIR=none: nothing on stderr"
cgi cold "$T/cache" m.json dl.example.test "$R"
ok "cold: the same response" cmp -s plain.out cold.out
ok "cold: the same event" cmp -s plain.ev cold.ev
is "$(cat cold.err)" "" "cold: nothing on stderr"
if [ $aware = 1 ]; then
	ok "cold: an image is written" test -n "$(files)"
else
	skip "no image path in this build (--help names no GATEWAY_CACHE_DIR)"
fi
before=$(files)
cgi warm "$T/cache" m.json dl.example.test "$R"
ok "warm: the same response" cmp -s plain.out warm.out
ok "warm: the same event" cmp -s plain.ev warm.ev
is "$(cat warm.err)" "" "warm: nothing on stderr"
is "$(files)" "$before" "warm: no file of the cache directory is written"
for i in 1 2 3; do
	cgi warm$i "$T/cache" m.json dl.example.test "/t$i/0.1/tool-0.1.tar.gz"
	cgi off$i none m.json dl.example.test "/t$i/0.1/tool-0.1.tar.gz"
	ok "warm: rule $i answers as without the image" cmp -s off$i.out warm$i.out
done
cgi warm404 "$T/cache" m.json dl.example.test /nothing/here
cgi off404 none m.json dl.example.test /nothing/here
is "$(status <warm404.out)" 404 "warm: no rule, 404"
ok "warm: the same 404 as without the image" cmp -s off404.out warm404.out

# the python page of a 40-file project (SPEC §7.3), HTML and JSON
for accept in text/html application/vnd.pypi.simple.v1+json; do
	cgi pyoff none py.json pypi.example.test /simple/numpy/ \
	    HTTP_ACCEPT="$accept"
	cgi pycold "$T/cache" py.json pypi.example.test /simple/numpy/ \
	    HTTP_ACCEPT="$accept"
	cgi pywarm "$T/cache" py.json pypi.example.test /simple/numpy/ \
	    HTTP_ACCEPT="$accept"
	is "$(status <pywarm.out)" 200 "warm: the python page ($accept)"
	ok "cold: the same page ($accept)" cmp -s pyoff.out pycold.out
	ok "warm: the same page, ETag and all ($accept)" \
	    cmp -s pyoff.out pywarm.out
done
cgi pyhtml "$T/cache" py.json pypi.example.test /simple/numpy/
is "$(grep -c '^<a href=' pyhtml.out)" 40 "the page lists the 40 files"

# a warm page is sent from the image file (sendfile(2)); stdout is a
# pipe under lighttpd's mod_cgi and most servers, a Unix socket under
# Apache's mod_cgid, a regular file above: the same bytes each way
python3 "$top_srcdir/tests/bench/make_bench_manifest.py" python >big.json ||
    exit 99
cgi bigoff none big.json pypi.example.test /simple/numpy/
cgi bigcold "$T/cache" big.json pypi.example.test /simple/numpy/
ok "the 2,065-file page, cold: the same" cmp -s bigoff.out bigcold.out
for way in pipe socket; do
	env -i GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
	    REMOTE_ADDR=127.0.0.1 GATEWAY_MANIFEST=big.json \
	    GATEWAY_LOG="$T/big$way.log" REQUEST_METHOD=GET \
	    HTTP_HOST=pypi.example.test REQUEST_URI=/simple/numpy/ \
	    GATEWAY_CACHE_DIR="$T/cache" python3 -c '
import os, socket, subprocess, sys
way, prog, out = sys.argv[1:4]
if way == "pipe":
    r, w = os.pipe()
else:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    r, w = a.detach(), b.detach()
p = subprocess.Popen([prog], stdin=subprocess.DEVNULL, stdout=w)
os.close(w)
with open(out, "wb") as f:
    while True:
        d = os.read(r, 65536)
        if not d:
            break
        f.write(d)
sys.exit(p.wait())' "$way" "$CGI" "big$way.out" 2>"big$way.err"
	ok "warm, stdout a $way: the same page" cmp -s bigoff.out "big$way.out"
	is "$(grep -c '"bytes":889603,' "big$way.log")" 1 \
	    "warm, stdout a $way: the event counts the page's bytes"
done

# a damaged image (issue 10: anything wrong is rebuilt from the JSON,
# with one warning).  A warm request checks the header at open and each
# 16 KiB chunk of the image when it first reads from it (README,
# "Compiled manifest image"): a byte flipped in the middle of the
# 890 KB page of the 2,065-file project is found when the page is sent,
# and the request is answered again from the JSON.
if [ $aware = 1 ]; then
	img=$(ls -t cache/*.img | head -n 1)
	python3 - "$img" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    b = f.read()
    at = b.index(b"<h1>numpy</h1>")
    at = (at + b.index(b"</body>", at)) // 2
    f.seek(at)
    f.write(bytes([b[at] ^ 0x20]))
PY
	cp "$img" damaged.img
	cgi bigdmg "$T/cache" big.json pypi.example.test /simple/numpy/
	ok "a damaged page in the image: the right page all the same" \
	    cmp -s bigoff.out bigdmg.out
	ok "and the same event" cmp -s bigoff.ev bigdmg.ev
	is "$(wc -l <bigdmg.err)" 1 "and one warning"
	like "$(cat bigdmg.err)" "image of .*big.json is damaged" \
	    "which says the image is damaged"
	ok "the damaged image was replaced" \
	    test "$(cksum <damaged.img)" != "$(cksum <"$img")"
	cgi bigwarm "$T/cache" big.json pypi.example.test /simple/numpy/
	ok "the next request: the same page, from a new image" \
	    cmp -s bigoff.out bigwarm.out
	is "$(cat bigwarm.err)" "" "with nothing on stderr"
	ok "a new image was written" test -n "$(ls cache/*.img)"
else
	for _ in 1 2 3 4 5 6 7 8; do
		skip "no image path in this build"
	done
fi

# a changed manifest, same path: the warm path must not serve the old one
sed 's|https://files.example.net/t10/|https://other.example.net/t10/|' \
    m.json >m.new
cp m.new m.json		# the same inode, new bytes and size
cgi changed "$T/cache" m.json dl.example.test "$R"
is "$(header Location <changed.out)" \
    "https://other.example.net/t10/v1.2.3/tool-1.2.3.tar.gz" \
    "a manifest changed in place is served as changed"
cgi changed2 "$T/cache" m.json dl.example.test "$R"
ok "and again (warm)" cmp -s changed.out changed2.out
# the same size: one byte changed, a new mtime
sed 's|https://other.example.net/t10/|https://otheR.example.net/t10/|' \
    m.json >m.new
cp m.new m.json
cgi samesize "$T/cache" m.json dl.example.test "$R"
is "$(header Location <samesize.out)" \
    "https://otheR.example.net/t10/v1.2.3/tool-1.2.3.tar.gz" \
    "a change of the same size is served as changed"
# replaced by rename (a new inode), as deploy tools do
sed 's|https://otheR.example.net/t10/|https://third.example.net/t10/|' \
    m.json >m.new
mv m.new m.json
cgi renamed "$T/cache" m.json dl.example.test "$R"
is "$(header Location <renamed.out)" \
    "https://third.example.net/t10/v1.2.3/tool-1.2.3.tar.gz" \
    "a manifest replaced by rename is served as the new one"
# an invalid manifest is §2.4's 500 whatever the cache holds
printf '{"rules": [{"type": "catch-all-v1", "domain": "x.test"}]}\n' >m.new
mv m.new m.json
cgi invalid "$T/cache" m.json dl.example.test "$R"
is "$(status <invalid.out)" 500 "an invalid manifest: 500 on the image path"
# ten more versions: old images must go (issue 10: the directory never
# grows without bound); two manifests' images, with whatever index files,
# stay well under twelve files
for i in $(seq 1 10); do
	python3 "$top_srcdir/tests/bench/make_bench_manifest.py" files \
	    $((10 + i)) >m.new
	mv m.new m.json
	cgi "v$i" "$T/cache" m.json dl.example.test "$R"
done
is "$(status <v10.out)" 307 "ten more versions of the manifest, warm"
if [ $aware = 1 ]; then
	n=$(find cache -type f | wc -l)
	ok "the cache directory does not grow with every manifest ($n files)" \
	    test "$n" -le 6
else
	skip "no image path in this build"
fi

# an unusable cache directory never fails a request
python3 "$top_srcdir/tests/bench/make_bench_manifest.py" files 10 >m.json
cgi missing "$T/no/such/dir" m.json dl.example.test "$R"
ok "a missing cache directory: the same response" cmp -s plain.out missing.out
if [ $aware = 1 ]; then
	is "$(wc -l <missing.err)" 1 "a missing cache directory: one warning"
else
	skip "no image path in this build"
fi
if [ "$(id -u)" != 0 ]; then
	mkdir ro
	chmod 0500 ro
	cgi ro "$T/ro" m.json dl.example.test "$R"
	ok "a read-only cache directory: the same response" \
	    cmp -s plain.out ro.out
else
	skip "a read-only directory is writable for root"
fi
# group-writable: not trusted (issue 10), but still answered
mkdir gw
chmod 0770 gw
cgi gw1 "$T/gw" m.json dl.example.test "$R"
cgi gw2 "$T/gw" m.json dl.example.test "$R"
ok "a group-writable cache directory: the same response" \
    cmp -s plain.out gw2.out
if [ $aware = 1 ]; then
	is "$(wc -l <gw2.err)" 1 "a group-writable cache directory: one warning"
	is "$(find gw -type f | wc -l)" 0 "nothing is written into it"
else
	skip "no image path in this build"
	skip "no image path in this build"
fi

done_testing
