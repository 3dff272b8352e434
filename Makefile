# Certkeeper: developer and CI entry points. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Written after a successful install; pip runs again only when pyproject.toml or the lock changes.
STAMP := $(VENV)/.certkeeper-installed
# The lock: every package with its version and hashes. `make lock` writes both files from
# pyproject.toml (the image installs runtime.txt; the virtualenv installs dev.txt).
LOCK_DEV := requirements/dev.txt
LOCK_RUNTIME := requirements/runtime.txt
# The build backend (pyproject's [build-system] requires), so Certkeeper itself is built
# from pinned, hashed packages too.
LOCK_BUILD := requirements/build.txt
# `make lock UPGRADE=--upgrade` moves every pin to the newest release allowed by pyproject.toml;
# without it, pins already in the lock are kept and only what changed is resolved.
UPGRADE ?=
UV_COMPILE = $(BIN)/uv pip compile --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' --quiet $(UPGRADE)
BUILD_REQUIRES = $(BIN)/python -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'

# Debian packages for the demo and the test suites (servers run as throwaway instances;
# systemd for `systemd-analyze verify` of the example units).
SYSTEM_PACKAGES ?= pebble bind9 redis-server postgresql python3-venv curl systemd

# The test runner; override to run a subset, e.g.
#   make test PYTEST='.venv/bin/pytest -q -x' TESTS=tests/unit
PYTEST ?= $(BIN)/pytest -n 2 --dist loadfile -q
TESTS ?= tests

# Options of `make bench`, e.g. BENCH_ARGS='--total 100000 --only issuance,api'.
BENCH_ARGS ?=

# Examples per API operation for `make fuzz` (the suite runs 20).
FUZZ_EXAMPLES ?= 200

.PHONY: help install system-packages venv lock lint test fuzz bench bench-issuance bench-renewer bench-api bench-acme-client \
	run demo demo-stop \
	clean distclean openapi

help:
	@echo "make install    Debian packages (only missing ones) + $(VENV) from $(LOCK_DEV)"
	@echo "make demo       start Pebble + certkeeper all-in-one and issue a certificate"
	@echo "make demo-stop  stop the processes 'make demo' started"
	@echo "make test       lint, type-check, then the test suites ($(PYTEST) $(TESTS))"
	@echo "make lock       re-resolve the locks in requirements/ from pyproject.toml"
	@echo "make lint       ruff check + mypy (strict)"
	@echo "make openapi    write docs/openapi.json from the app (commit it with API changes)"
	@echo "make fuzz       fuzz the live API (schemathesis) with $(FUZZ_EXAMPLES) examples per operation"
	@echo "make bench      every benchmark of issue 12 in one table (BENCH_ARGS='--help' lists options)"
	@echo "make bench-issuance  issuance latency and throughput, vs a raw acme client and certbot"
	@echo "make bench-renewer  one renewer pass over 100,000 certificates in Postgres, vs raw SQL"
	@echo "make bench-api  the certificate list over 1,000,000 certificates, 50 clients, vs raw asyncpg"
	@echo "make bench-acme-client  CPU per ACME request and JWS, Certkeeper's client vs certbot's acme"
	@echo "make run        certkeeper all-in-one with embedded defaults (SQLite in ./data)"
	@echo "make clean      stop the demo, remove ./data/demo and caches"
	@echo "make distclean  clean + remove $(VENV)"

install: system-packages venv

system-packages:
	@scripts/install-system-packages.sh $(SYSTEM_PACKAGES)

venv: $(STAMP)

$(STAMP): pyproject.toml $(LOCK_DEV) $(LOCK_BUILD) agent/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "pip install -r $(LOCK_DEV) + certkeeper + its agent into $(VENV) (log: $(VENV)/pip-install.log)"
	@{ $(BIN)/python -m pip install --disable-pip-version-check --require-hashes --no-deps \
			--only-binary :all: -r $(LOCK_BUILD) -r $(LOCK_DEV) \
		&& $(BIN)/python -m pip install --disable-pip-version-check --no-deps \
			--no-build-isolation -e . -e ./agent ; } \
		>$(VENV)/pip-install.log 2>&1 || { tail -n 40 $(VENV)/pip-install.log; exit 1; }
	@touch $@

# Needs uv, which the dev lock installs; on a merge conflict in a lock file, take either side
# and run this again.
lock: venv
	$(UV_COMPILE) pyproject.toml --extra dev -o $(LOCK_DEV)
	$(UV_COMPILE) pyproject.toml -c $(LOCK_DEV) -o $(LOCK_RUNTIME)
	$(BUILD_REQUIRES) | $(UV_COMPILE) - -o $(LOCK_BUILD)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy --strict shared services agent/certkeeper_agent bench

test: install lint
	$(PYTEST) $(TESTS)

openapi: venv
	$(BIN)/python -m services.api.openapi_export docs/openapi.json

fuzz: install
	CERTKEEPER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/e2e/test_fuzz_api.py

bench: install
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

bench-issuance: install
	$(BIN)/python -m bench.issuance

bench-renewer: install
	$(BIN)/python -m bench.renewer_pass

bench-api: install
	$(BIN)/python -m bench.api_scale

bench-acme-client: install
	$(BIN)/python -m bench.acme_client

run: venv
	$(BIN)/certkeeper all-in-one

demo:
	@scripts/demo.sh

demo-stop:
	@scripts/demo.sh stop

clean:
	@if [ -d data/demo ]; then scripts/demo.sh stop; fi
	rm -rf data/demo build *.egg-info .mypy_cache .ruff_cache .pytest_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
