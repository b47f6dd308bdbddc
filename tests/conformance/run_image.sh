#!/bin/sh
# The conformance cases again, through compiled manifest images (README,
# "Compiled manifest image"): both programs get GATEWAY_CACHE_DIR, so a
# case's first request writes the image and the others load it.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
dir=$(mktemp -d "${TMPDIR:-/tmp}/gw-conformance-cache.XXXXXX") || exit 99
chmod 700 "$dir"
GATEWAY_CACHE_DIR=$dir sh "$top_srcdir/tests/conformance/run.sh" "$@"
rc=$?
n=$(ls "$dir" | grep -c '\.img$')
echo "# $n images in the cache at the end"
rm -rf "$dir"
exit $rc
