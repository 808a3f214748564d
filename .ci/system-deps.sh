#!/usr/bin/env bash
# System packages the tests drive for real: the zstd tool (checks our .zst files), Debian's
# Chromium (dashboards and pages, through Playwright: never a downloaded browser) and rsyslog
# (the external target of scenarios). Installed with apt-get when missing and we are root;
# otherwise says what is missing, and the tests that need it fail with that name.
set -euo pipefail
need=()
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog rsyslog-gnutls)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || [ -e /usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so ] \
    || [[ " ${need[*]-} " == *" rsyslog-gnutls "* ]] || need+=(rsyslog-gnutls)
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    echo "note: missing system packages (install them to run every test): ${need[*]}" >&2
fi
