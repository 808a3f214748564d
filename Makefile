# Everything goes through .venv, created on first use. uv (installed into the venv by pip)
# resolves and installs this dependency set in seconds where pip takes about a minute.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
SPEEDUPS := $(VENV)/.speedups

.PHONY: venv system-deps peers clients run test test-fast bench lint proto clean audit sanitize fuzz fuzz-long

venv: $(STAMP) $(SPEEDUPS)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --python $(PY) -e '.[dev]'
	touch $(STAMP)

## the compiled fast paths (Cython + the C compiler); without them the Python paths run
$(SPEEDUPS): $(STAMP) $(wildcard workbench/speedups/*.pyx workbench/speedups/*.pxi)
	$(PY) -m workbench.speedups.build
	touch $(SPEEDUPS)

## the main job: the quickstart on embedded defaults
run: venv
	$(PY) -m workbench run scenarios/quickstart.yaml

## system packages the tests use for real (zstd, chromium, rsyslog); apt-get when root
system-deps:
	bash .ci/system-deps.sh

## the third-party receivers of scenarios/peers.yaml: rsyslog (apt) and syslog-ng with loggen (unpacked into peers/)
peers: system-deps

## the real Node.js clients the protocol tests drive (OpenTelemetry JS, winston-loki), from the lock file
CLIENTS := tests/clients/node/node_modules/.package-lock.json
clients: $(CLIENTS)
$(CLIENTS): tests/clients/node/package.json tests/clients/node/package-lock.json
	npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error
	touch $(CLIENTS)

## the whole test suite, slow end-to-end tests included
test: system-deps venv clients
	$(PY) -m ruff check workbench tests bench
	$(PY) -m pytest -q
	bash .ci/audit.sh $(PY)

## known vulnerabilities of the installed dependencies (pip-audit); a note, not a failure, when offline
audit: venv
	bash .ci/audit.sh $(PY)

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

## benchmarks (not tests): codec speeds, generator into the blackhole, ingestor per format
bench: venv
	$(PY) bench/codecs.py
	$(PY) bench/generator.py
	$(PY) bench/ingest.py

## the compiled fast paths under ASan + UBSan (clang): tests/fuzz/ drives this build
sanitize: system-deps venv
	$(PY) -m workbench.speedups.build --sanitize

## the sanitizer suite: findings, the systematic pass, libFuzzer 60 s per target (CI gives 10 s)
fuzz: sanitize
	WORKBENCH_FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(PY) -m pytest -q -s tests/reliability/test_sanitizers.py

## libFuzzer 600 s per target (FUZZ_SECONDS=N for another budget)
fuzz-long: sanitize
	WORKBENCH_FUZZ_SECONDS=$${FUZZ_SECONDS:-600} $(PY) -m pytest -q -s -m fuzz tests/reliability/test_sanitizers.py

lint: venv
	$(PY) -m ruff check workbench tests bench
	$(PY) -m ruff format --check workbench tests bench
	$(PY) -m mypy

## regenerate the protobuf classes from schemas/log.proto (a test checks they are current)
proto: venv
	$(PY) -m grpc_tools.protoc -Ischemas --python_out=workbench/_generated --pyi_out=workbench/_generated schemas/log.proto

## Docker (docs/docker.md). `docker compose up --build` needs none of these; the offline build
## (no image registry, no HTTPS from containers) is `make image`, then `docker compose up`
DOCKER ?= docker
IMAGE ?= workbench:latest
BASE_TAG ?= workbench-base:bookworm
BUILD_TAG ?= workbench-build:bookworm

## local Debian bookworm base images (debootstrap + docker import, as root); a no-op when current
image-base:
	BASE_TAG=$(BASE_TAG) BUILD_TAG=$(BUILD_TAG) DOCKER=$(DOCKER) bash docker/base-image.sh

## docker/wheelhouse/: the wheels the image installs, fetched by this host's pip at .venv's versions
wheelhouse: venv
	bash docker/wheelhouse.sh $(PY) docker/wheelhouse

## the services' image from the local bases and the wheelhouse, with no network; the build
## stage is tagged so that its cached layers survive, and the images an earlier build left
## untagged are pruned (each final image holds a ~900 MB venv)
image: image-base wheelhouse
	$(DOCKER) build --quiet --build-arg BASE_IMAGE=$(BASE_TAG) --build-arg BUILD_IMAGE=$(BUILD_TAG) --build-arg OFFLINE=1 -t $(IMAGE) .
	$(DOCKER) build --quiet --build-arg BASE_IMAGE=$(BASE_TAG) --build-arg BUILD_IMAGE=$(BUILD_TAG) --build-arg OFFLINE=1 --target build -t $(IMAGE)-build-stage . >/dev/null
	$(DOCKER) image prune --force --filter label=org.workbench.stage=services >/dev/null
	$(DOCKER) image prune --force --filter label=org.workbench.stage=build >/dev/null
	@$(DOCKER) image inspect -f '$(IMAGE): {{ .Size }} bytes' $(IMAGE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis workbench/speedups/build workbench/speedups/*.so
