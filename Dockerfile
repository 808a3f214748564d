# One image for every service: `docker run IMAGE ingest|registry|generate|collect|dashboard ...`.
# compose.yaml starts them as the original system did; docs/docker.md has both ways to build:
#
#   docker compose up --build              python:3.11-slim and PyPI (a machine that reaches both)
#   make image && docker compose up        offline: local Debian base images and a wheelhouse made
#                                          on the host (BASE_IMAGE, BUILD_IMAGE, OFFLINE=1)
#
# The build stage needs a compiler and Python's headers; the final stage gets only the venv.
# Both stages must have one Python at one path, so BUILD_IMAGE is BASE_IMAGE plus build tools.
ARG BASE_IMAGE=python:3.11-slim
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS build
# `make image` prunes the stages an earlier build left untagged, by these labels
LABEL org.workbench.stage=build
# 1: pip reads only docker/wheelhouse/ (make wheelhouse); 0: the package index, the wheelhouse first
ARG OFFLINE=0
# python:3.11-slim has the headers but no compiler; the offline build image has both
RUN if ! command -v gcc >/dev/null 2>&1; then \
        if [ "$OFFLINE" = 1 ]; then echo "OFFLINE=1: BUILD_IMAGE has no gcc (make image-base makes one)" >&2; exit 1; fi; \
        apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY docker/wheelhouse/ /wheelhouse/
COPY docker/requirements.py docker/
COPY pyproject.toml ./
# the dependencies first, in a layer of their own: a change of the source alone reuses it.
# The build tools (hatchling, Cython, setuptools) get a venv of their own, left behind.
RUN set -eu; \
    if [ "$OFFLINE" = 1 ]; then index=--no-index; else index=; fi; \
    pip="--no-cache-dir --disable-pip-version-check --quiet $index --find-links /wheelhouse"; \
    python3 docker/requirements.py >/tmp/requirements.txt; \
    python3 docker/requirements.py --build >/tmp/build-tools.txt; \
    python3 -m venv /opt/build-tools; \
    /opt/build-tools/bin/pip install $pip -r /tmp/build-tools.txt; \
    python3 -m venv /opt/workbench; \
    /opt/workbench/bin/pip install $pip -r /tmp/requirements.txt; \
    # the packages' own test suites and JavaScript source maps: 130 MB nothing runs or serves
    site=$(/opt/workbench/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    find "$site" -depth -type d \( -name tests -o -name test \) -exec rm -rf {} +; \
    find "$site" -name '*.js.map' -delete
COPY README.md ./
COPY schemas schemas/
COPY workbench workbench/
# the project as a wheel (no dependencies: they are in), then the compiled speedups in place,
# built against this Python; --strict fails the build rather than ship the slow paths
RUN set -eu; \
    /opt/build-tools/bin/pip wheel --no-cache-dir --disable-pip-version-check --quiet --no-deps \
        --no-build-isolation --wheel-dir /tmp/dist .; \
    /opt/workbench/bin/pip install --no-cache-dir --disable-pip-version-check --quiet --no-deps /tmp/dist/*.whl; \
    site=$(/opt/workbench/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    tools=$(/opt/build-tools/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
    PYTHONPATH="$tools" /opt/workbench/bin/python -m workbench.speedups.build --strict; \
    rm -rf "$site/workbench/speedups/build"; \
    /opt/workbench/bin/python -c 'import sys, workbench.speedups as s; a = s.available(); print("speedups", a); sys.exit(not all(a.values()))'

FROM ${BASE_IMAGE}
LABEL org.workbench.stage=services \
      org.opencontainers.image.title="workbench services" \
      org.opencontainers.image.description="log ingestor, schema registry, generator, collector and dashboard"
# one unprivileged user; the folders the volumes mount on belong to it, so a new named volume
# (which takes the ownership of the folder it covers) is writable by the services
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/workbench --shell /usr/sbin/nologin workbench \
    && mkdir -p /data/tls /logs /var/lib/workbench/registry /var/lib/workbench/collector \
    && chown -R workbench:workbench /data /logs /var/lib/workbench
COPY --from=build /opt/workbench /opt/workbench
COPY docker/healthcheck.py /usr/local/bin/workbench-healthcheck
ENV PATH=/opt/workbench/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER workbench
WORKDIR /var/lib/workbench
# TLS TCP and UDP ingestion, ingestor HTTP, registry, collector HTTP, dashboard
EXPOSE 3001 3002/udp 8080 8081 8082 5006
# the service's own /healthz (generators: their connection), found from its command line
HEALTHCHECK --interval=5s --timeout=5s --start-period=90s --retries=3 CMD ["workbench-healthcheck"]
# SIGTERM must reach Python, which drains and flushes: run with an init (compose: init: true;
# docker run --init), never a shell in between
ENTRYPOINT ["workbench"]
CMD ["--help"]
