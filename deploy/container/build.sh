#!/bin/bash
# Builds the scarf-gateway container image from Debian packages only.
#
#   deploy/container/build.sh [BINARY]
#
# BINARY is a scarf-gateway FastCGI program built on this machine (default:
# _build/fcgi/scarf-gateway); it must be built against the same Debian
# release as the image (the host's, see SUITE), and not with sanitizers.
#
# 1. mmdebstrap makes a root filesystem of the packages in packages.txt
#    (no build tools), with an unprivileged user (uid/gid 10001), from the
#    apt sources configured on this machine; the tarball is cached, keyed
#    by the package list, the suite and the sources, so a second build
#    skips this step;
# 2. podman imports it as localhost/scarf-gateway-base:KEY;
# 3. podman build (Containerfile, no network needed) adds the program,
#    the entry point, nginx's configuration and the example manifest,
#    and tags the result IMAGE;
# 4. the program is run once inside the image (--version) to check that
#    its libraries are there.
#
# Environment:
#   IMAGE      tag of the result (default localhost/scarf-gateway:latest)
#   SUITE      Debian release (default: the host's VERSION_CODENAME)
#   SOURCES    apt sources for mmdebstrap: a .sources/.list file (default:
#              /etc/apt/sources.list.d/debian.sources, else
#              /etc/apt/sources.list, else http://deb.debian.org/debian)
#   CACHE_DIR  where the root filesystem tarball is kept (default
#              /var/cache/scarf-gateway-container as root, else
#              ~/.cache/scarf-gateway-container)
#   REBUILD=1  ignore the cached tarball
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${1:-$top/_build/fcgi/scarf-gateway}
IMAGE=${IMAGE:-localhost/scarf-gateway:latest}
say() { printf 'build.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for c in mmdebstrap podman sha256sum; do
	command -v "$c" >/dev/null || die "$c not installed"
done
[ -x "$bin" ] || die "$bin: no such program (build it first, or pass one)"
if ldd "$bin" 2>/dev/null | grep -Eq 'lib(a|ub|t)san'; then
	die "$bin is a sanitizer build; use a plain one"
fi

if [ -z "${SUITE:-}" ]; then
	# shellcheck disable=SC1091
	SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$SUITE" ] || die "cannot tell the host's release: set SUITE"
fi
if [ -z "${SOURCES:-}" ]; then
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		SOURCES=/etc/apt/sources.list.d/debian.sources
	elif [ -s /etc/apt/sources.list ]; then
		SOURCES=/etc/apt/sources.list
	else
		SOURCES=http://deb.debian.org/debian
	fi
fi
if [ -z "${CACHE_DIR:-}" ]; then
	if [ "$(id -u)" = 0 ]; then
		CACHE_DIR=/var/cache/scarf-gateway-container
	else
		CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/scarf-gateway-container
	fi
fi

pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt" |
    tr -d ' \t' | sort -u | paste -sd, -)
[ -n "$pkgs" ] || die "packages.txt lists no package"
# v1: bump when the mmdebstrap options below change
key=$( {
	echo v1 "$SUITE" "$(dpkg --print-architecture)" "$pkgs"
	if [ -f "$SOURCES" ]; then grep -v '^#' "$SOURCES"; else echo "$SOURCES"; fi
} | sha256sum | cut -c1-16)
rootfs=$CACHE_DIR/rootfs-$key.tar
base=localhost/scarf-gateway-base:$key

mkdir -p "$CACHE_DIR"
if [ -n "${REBUILD:-}" ] || [ ! -s "$rootfs" ]; then
	say "mmdebstrap $SUITE: $pkgs"
	rm -f "$rootfs.tmp"
	# No documentation or translations; an unprivileged user for the
	# image (USER 10001 in the Containerfile); apt's lists and caches
	# are not kept (the image has no apt at all: variant essential).
	# The hooks' $1 (the root directory) is mmdebstrap's, not ours.
	# shellcheck disable=SC2016
	mmdebstrap --quiet --variant=essential --include="$pkgs" \
	    --format=tar \
	    --dpkgopt='path-exclude=/usr/share/man/*' \
	    --dpkgopt='path-exclude=/usr/share/locale/*' \
	    --dpkgopt='path-exclude=/usr/share/doc/*' \
	    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
	    --customize-hook='echo "scarf-gateway:x:10001:10001::/nonexistent:/usr/sbin/nologin" >>"$1/etc/passwd"' \
	    --customize-hook='echo "scarf-gateway:x:10001:" >>"$1/etc/group"' \
	    --customize-hook='rm -f "$1"/etc/nginx/sites-enabled/default' \
	    "$SUITE" "$rootfs.tmp" "$SOURCES" >&2
	mv "$rootfs.tmp" "$rootfs"
else
	say "cached root filesystem: $rootfs"
fi

if ! podman image exists "$base"; then
	say "podman import $rootfs as $base"
	podman import --quiet "$rootfs" "$base" >/dev/null
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/scarf-gateway-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
install -m 0755 -s "$bin" "$ctx/scarf-gateway" 2>/dev/null ||
    install -m 0755 "$bin" "$ctx/scarf-gateway"
install -m 0755 "$here/entrypoint.sh" "$ctx/entrypoint.sh"
install -m 0644 "$here/nginx-main.conf" "$ctx/nginx-main.conf"
install -m 0644 "$top/deploy/nginx.conf" "$ctx/nginx-site.conf.in"
install -m 0644 "$top/deploy/examples/manifest.json" "$ctx/manifest.json"
install -m 0644 "$here/Containerfile" "$ctx/Containerfile"

say "podman build $IMAGE"
podman build --quiet --pull=never --format docker --network none \
    --build-arg BASE="$base" -t "$IMAGE" -f "$ctx/Containerfile" "$ctx" >&2
# The check runs the program once in a container; where podman's default
# runtime cannot start one (some sandboxes refuse crun's cgroup setup or
# raising a resource limit), runc with lower limits is tried.
check() {
	podman "$@" --rm --network none --health-interval=disable \
	    --entrypoint /usr/bin/scarf-gateway "$IMAGE" --version \
	    >/dev/null 2>"$ctx/check.err"
}
if ! check run; then
	# plenty for nginx and the gateway (1024 connections, 16 threads)
	nofile=8192
	nproc=4096
	if command -v runc >/dev/null &&
	    check --runtime runc run --ulimit "nofile=$nofile:$nofile" \
	    --ulimit "nproc=$nproc:$nproc"; then
		say "podman's default runtime fails here; this works:" \
		    "podman --runtime runc run --ulimit nofile=$nofile:$nofile" \
		    "--ulimit nproc=$nproc:$nproc ..."
	else
		grep -v 'level=error' "$ctx/check.err" >&2
		die "the program does not run inside $IMAGE"
	fi
fi
say "built $IMAGE"
echo "$IMAGE"
