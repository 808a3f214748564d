#!/usr/bin/env bash
# The host side of the Docker build and its test (tests/e2e/test_compose.py): Debian's engine
# (docker.io: dockerd, containerd, runc, docker-init), Debian's compose (docker-compose, v1;
# `docker compose` v2 is used instead where its plugin is installed) and debootstrap for
# `make image-base`. Installed with apt-get when missing and we are root, as .ci/system-deps.sh
# does; otherwise says what is missing. No systemd here: the test starts dockerd itself when
# none answers (tests/docker_engine.py) and stops it after.
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
[ ${#need[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Docker host packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    echo "note: missing Docker host packages (install them to build the image and run its test): ${need[*]}" >&2
fi
