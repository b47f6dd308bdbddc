#!/bin/sh
# Conformance cases (the shared cases/ and our cases-local/) through the CGI
# and the FastCGI program (TAP).
# make check sets top_srcdir and top_builddir; by hand:
#   top_builddir=_build sh tests/conformance/run.sh --only 031 --verbose
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
if ! command -v python3 >/dev/null 2>&1; then
	echo "1..0 # SKIP python3 not installed"
	exit 0
fi
exec python3 "$top_srcdir/tests/conformance/run.py" --builddir "$top_builddir" \
    --cases "$top_srcdir/tests/conformance/cases" \
    --cases "$top_srcdir/tests/conformance/cases-local" "$@"
