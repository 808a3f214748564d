#!/usr/bin/env bash
# System packages the tests drive for real: Node.js and npm (the OpenTelemetry JS and Loki clients), the zstd tool (checks our .zst files), clang (the
# sanitizer build that the fuzz targets run), Debian's
# Chromium (dashboards and pages, through Playwright: never a downloaded browser), rsyslog and
# syslog-ng (the third-party receivers of scenarios/peers.yaml; loggen, syslog-ng's load
# generator, comes with it). Installed with apt-get when missing and we are root; otherwise says
# what is missing, and the tests that need it fail with that name.
#
# rsyslog and syslog-ng-core conflict as Debian packages (both provide system-log-daemon), so
# rsyslog is installed and syslog-ng-core is unpacked (apt-get download + dpkg -x) into peers/,
# which git ignores; its shared libraries are installed by apt. The runner finds it there.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS_DIR="${WORKBENCH_PEERS_DIR:-$PWD/peers}"
SYSLOG_NG_LIBS=(libivykis0 libnet1 libjson-c5 libwrap0 libpcre3 libglib2.0-0 libcap2)
need=()
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)  # compiles workbench/speedups
command -v clang >/dev/null 2>&1 || need+=(clang libclang-rt-14-dev)  # the sanitizer build of workbench/speedups (tests/fuzz)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog rsyslog-gnutls)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)  # the Node.js clients of the protocol tests (tests/clients/node)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)  # Docker's logging drivers as real senders (tests/docker_engine.py starts dockerd)
[ -x /bin/busybox ] || need+=(busybox-static)  # the one-file image those containers run
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || [ -e /usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so ] \
    || [[ " ${need[*]-} " == *" rsyslog-gnutls "* ]] || need+=(rsyslog-gnutls)
for lib in "${SYSLOG_NG_LIBS[@]}"; do
    dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
done
root=0
[ "$(id -u)" = 0 ] && root=1
if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ $root = 1 ]; then
        echo "installing system packages: ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "note: missing system packages (install them to run every test): ${need[*]}" >&2
    fi
fi
if [ ! -x "$PEERS_DIR/syslog-ng/usr/sbin/syslog-ng" ] && command -v apt-get >/dev/null 2>&1; then
    echo "unpacking syslog-ng-core into $PEERS_DIR/syslog-ng"
    tmp=$(mktemp -d)
    chmod 777 "$tmp"  # apt-get download runs as the _apt user when it can
    if (cd "$tmp" && apt-get download -qq syslog-ng-core 2>/dev/null || { [ $root = 1 ] && apt-get update -qq && apt-get download -qq syslog-ng-core; }); then
        mkdir -p "$PEERS_DIR/syslog-ng"
        dpkg -x "$tmp"/syslog-ng-core_*.deb "$PEERS_DIR/syslog-ng"
    else
        echo "note: could not download syslog-ng-core; the syslog-ng target and loggen are unavailable" >&2
    fi
    rm -rf "$tmp"
fi
