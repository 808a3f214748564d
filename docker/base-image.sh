#!/usr/bin/env bash
# `make image-base`: the two local base images of the offline build, made without any image
# registry. Debian's debootstrap installs a minimal bookworm (its python3 is 3.11) into a folder,
# `docker import` turns the folder into an image:
#
#   workbench-base:bookworm   python3 on minbase, docs and apt lists stripped: the final stage
#   workbench-build:bookworm  the same plus python3-dev, python3-venv, gcc: the build stage
#
# Both stages must see one Python at one path (the venv the build stage makes is copied into
# the final one), which is why the build image is the runtime tree plus packages, not a second
# debootstrap. The host needs root, debootstrap and a Debian mirror (MIRROR=, default
# deb.debian.org; a local mirror works for air-gapped sites); the image build after it needs no
# network. Downloaded .debs stay in DEBOOTSTRAP_CACHE for the next run, and the images carry a
# label with the hash of this script and its settings: when both are current (that key, and
# younger than WORKBENCH_BASE_MAX_AGE_DAYS, 30, so Debian's security updates get in) this does
# nothing; WORKBENCH_BASE_REBUILD=1 rebuilds anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
BASE_TAG="${BASE_TAG:-workbench-base:$SUITE}"
BUILD_TAG="${BUILD_TAG:-workbench-build:$SUITE}"
CACHE="${DEBOOTSTRAP_CACHE:-/var/cache/workbench-debootstrap}"
DOCKER="${DOCKER:-docker}"
RUNTIME_PACKAGES="python3"
BUILD_PACKAGES="python3-dev python3-venv gcc libc6-dev"
LABEL=org.workbench.base-key

key=$( { cat "$0"; echo "$SUITE $MIRROR $RUNTIME_PACKAGES $BUILD_PACKAGES"; } | sha256sum | cut -c1-16)
MAX_AGE_DAYS="${WORKBENCH_BASE_MAX_AGE_DAYS:-30}"
current() {
    [ "$("$DOCKER" image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null)" = "$key" ] || return 1
    # older than MAX_AGE_DAYS: rebuilt, so that Debian's security updates get in
    created=$(date -d "$("$DOCKER" image inspect -f '{{ .Created }}' "$1")" +%s)
    [ $(( $(date +%s) - created )) -lt $(( MAX_AGE_DAYS * 86400 )) ]
}
if [ "${WORKBENCH_BASE_REBUILD:-0}" != 1 ] && current "$BASE_TAG" && current "$BUILD_TAG"; then
    echo "base images $BASE_TAG and $BUILD_TAG are current (key $key)"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "image-base: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "image-base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/workbench-base.XXXXXX)
cleanup() {
    umount "$work/build/proc" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$CACHE"

echo "debootstrap $SUITE ($RUNTIME_PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="${RUNTIME_PACKAGES// /,}" --cache-dir="$CACHE" \
    "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

# the build tree: the runtime tree as debootstrap left it, plus the compiler and headers
cp -a "$work/rootfs" "$work/build"
mount -t proc proc "$work/build/proc"
echo "adding $BUILD_PACKAGES for the build image"
chroot "$work/build" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends $BUILD_PACKAGES" \
    >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log" >&2; exit 1; }
umount "$work/build/proc"

strip_tree() {
    # nothing in the images reads docs, man pages, translations or apt's lists and caches
    rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/* \
        "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/cache/debconf/*-old "$1"/var/log/*.log \
        "$1"/tmp/* "$1"/root/.cache
    # a container gets its own name resolution; the host's files must not ship
    : >"$1/etc/resolv.conf"
    : >"$1/etc/hostname"
}
strip_tree "$work/rootfs"
strip_tree "$work/build"

import() {
    tar -C "$2" --numeric-owner -c . | "$DOCKER" import \
        --change "LABEL $LABEL=$key" \
        --change "LABEL org.opencontainers.image.description=\"$3\"" \
        --change "ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change 'CMD ["python3"]' \
        - "$1" >/dev/null
    echo "imported $1 ($("$DOCKER" image inspect -f '{{ .Size }}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'))"
}
import "$BASE_TAG" "$work/rootfs" "Debian $SUITE minbase with python3 (workbench runtime base)"
import "$BUILD_TAG" "$work/build" "Debian $SUITE minbase with python3, its headers and gcc (workbench build base)"
