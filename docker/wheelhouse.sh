#!/usr/bin/env bash
# `make wheelhouse`: every wheel the image installs, fetched by this host's pip (which reaches the
# package index; inside a container HTTPS to it may not verify, and an air-gapped site has none),
# so that `docker build --build-arg OFFLINE=1` needs no network at all.
#
# What: docker/requirements.py (pyproject's runtime dependencies, less what the image leaves out,
# and the build tools). At which versions: those .venv runs, the ones the tests passed with
# (`uv pip freeze` as constraints). The wheels are for this host's CPython 3.11 on glibc, as the
# base images are (python:3.11-slim or Debian bookworm's python3); a dependency published only
# as an sdist is built into a wheel here, so the image build compiles nothing but our speedups.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
OUT="${2:-docker/wheelhouse}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 docker/requirements.py >"$tmp/requirements.txt"
python3 docker/requirements.py --build >>"$tmp/requirements.txt"
"$(dirname "$PY")/uv" pip freeze --python "$PY" --exclude-editable >"$tmp/constraints.txt"
mkdir -p "$OUT"
rm -f "$OUT"/*.whl
"$PY" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$OUT" \
    -r "$tmp/requirements.txt" -c "$tmp/constraints.txt"
echo "wheelhouse: $(find "$OUT" -name '*.whl' | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT"
