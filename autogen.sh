#!/bin/sh
# Generates configure and Makefile.in; run once after a fresh clone.
set -e
cd "$(dirname "$0")"
exec autoreconf --force --install --verbose "$@"
