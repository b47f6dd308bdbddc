#!/bin/sh
# Writes fuzz_image's seeds: the manifest images the CGI program writes
# for the e2e manifest (tests/e2e/manifest.json), for the "manifest"
# member of every conformance case (tests/conformance/cases/*.json and
# cases-local/*.json; a JSON object, or a string taken as the manifest's
# text) and for three small manifests of tests/bench/make_bench_manifest.py
# (several hosts and types; a python project).  Each is one GET through
# the CGI program with GATEWAY_CACHE_DIR set to an empty 0700 directory
# (the cold path compiles the manifest and writes its image there); a
# manifest the gateway rejects writes none.  The images of at most 4096
# bytes (the campaigns' -max_len) are copied to DIR named by their SHA-1,
# as libFuzzer names corpus files; a larger one is left out and counted.
#
# Run it when the image format changes (common/image.c, image_int.h):
# the old seeds are then rejected at the version check and test nothing,
# so remove them first (git rm -q tests/fuzz/corpus/image/*), then run a
# campaign from the new seeds (campaign.sh 5000000 image) to grow the
# corpus again.  The manifest is given to the program by a relative name
# (manifest.json) so the image (its source, its warnings) does not depend
# on the temporary directory; it does hold the build identity, so another
# build writes the same images under other names (the fuzz target and
# replay.sh seal every input with their own build's identity anyway).
#   sh tests/fuzz/image_seeds.sh [CGI [DIR]]
# CGI defaults to _build/cgi/scarf-gateway.cgi, DIR to
# tests/fuzz/corpus/image/.
set -e
src=$(cd "$(dirname "$0")/../.." && pwd)
cgi=${1:-$src/_build/cgi/scarf-gateway.cgi}
out=${2:-$src/tests/fuzz/corpus/image}
case $cgi in /*) ;; *) cgi=$PWD/$cgi ;; esac
[ -x "$cgi" ] || { echo "$0: $cgi: not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$0: python3 not found" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$out" "$T/m"

# the manifests, one file each in $T/m
cp "$src/tests/e2e/manifest.json" "$T/m/e2e.json"
python3 - "$T/m" "$src"/tests/conformance/cases/*.json \
    "$src"/tests/conformance/cases-local/*.json <<'EOF'
import json, os, sys
for f in sys.argv[2:]:
    with open(f, encoding="utf-8") as fp:
        m = json.load(fp).get("manifest")
    if m is None:
        continue
    name = os.path.join(sys.argv[1], os.path.basename(os.path.dirname(f)) +
        "-" + os.path.basename(f))
    with open(name, "w", encoding="utf-8") as fp:
        fp.write(m if isinstance(m, str) else json.dumps(m, indent=2))
EOF
bench=$src/tests/bench/make_bench_manifest.py
python3 "$bench" fleet 4 4 >"$T/m/bench-fleet.json"
python3 "$bench" python 2 >"$T/m/bench-python.json"
python3 "$bench" files 4 >"$T/m/bench-files.json"

n=0 new=0 big=0 none=0
for m in "$T"/m/*.json; do
	n=$((n + 1))
	rm -rf "$T/run"
	mkdir -m 0700 "$T/run" "$T/run/cache"
	cp "$m" "$T/run/manifest.json"
	(cd "$T/run" && env -i GATEWAY_INTERFACE=CGI/1.1 \
	    SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
	    GATEWAY_MANIFEST=manifest.json GATEWAY_LOG=/dev/null \
	    GATEWAY_CACHE_DIR="$T/run/cache" REQUEST_METHOD=GET \
	    HTTP_HOST=seed.invalid REQUEST_URI=/ "$cgi" \
	    >/dev/null 2>&1 </dev/null) || true
	found=0
	for img in "$T"/run/cache/*.img; do
		[ -f "$img" ] || continue
		found=1
		if [ "$(wc -c <"$img")" -gt 4096 ]; then
			big=$((big + 1))
			continue
		fi
		h=$(sha1sum "$img" | cut -d' ' -f1)
		[ -e "$out/$h" ] || new=$((new + 1))
		cp "$img" "$out/$h"
	done
	[ $found = 1 ] || none=$((none + 1))
done
echo "$n manifests: $new new seeds in $out, $big images over 4096 bytes" \
    "left out, $none manifests without an image"
