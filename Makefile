# Certkeeper: developer and CI entry points. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Written after a successful `pip install`; pip runs again only when pyproject.toml changes.
STAMP := $(VENV)/.certkeeper-installed

# Debian packages for the demo and the test suites (servers run as throwaway instances).
SYSTEM_PACKAGES ?= pebble bind9 redis-server postgresql python3-venv curl

# The test runner; override to run a subset, e.g.
#   make test PYTEST='.venv/bin/pytest -q -x' TESTS=tests/unit
PYTEST ?= $(BIN)/pytest -n 2 --dist loadfile -q
TESTS ?= tests

# Examples per API operation for `make fuzz` (the suite runs 20).
FUZZ_EXAMPLES ?= 200

.PHONY: help install system-packages venv lint test fuzz bench run demo demo-stop clean distclean

help:
	@echo "make install    Debian packages (only missing ones) + $(VENV) with certkeeper[dev]"
	@echo "make demo       start Pebble + certkeeper all-in-one and issue a certificate"
	@echo "make demo-stop  stop the processes 'make demo' started"
	@echo "make test       lint, type-check, then the test suites ($(PYTEST) $(TESTS))"
	@echo "make lint       ruff check + mypy (strict)"
	@echo "make fuzz       fuzz the live API (schemathesis) with $(FUZZ_EXAMPLES) examples per operation"
	@echo "make bench      issuance latency and throughput against Pebble, vs a raw acme client"
	@echo "make run        certkeeper all-in-one with embedded defaults (SQLite in ./data)"
	@echo "make clean      stop the demo, remove ./data/demo and caches"
	@echo "make distclean  clean + remove $(VENV)"

install: system-packages venv

system-packages:
	@scripts/install-system-packages.sh $(SYSTEM_PACKAGES)

venv: $(STAMP)

$(STAMP): pyproject.toml agent/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "pip install -e '.[dev]' into $(VENV) (log: $(VENV)/pip-install.log)"
	@$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]' -e ./agent \
		>$(VENV)/pip-install.log 2>&1 || { tail -n 40 $(VENV)/pip-install.log; exit 1; }
	@touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy --strict shared services agent/certkeeper_agent

test: install lint
	$(PYTEST) $(TESTS)

fuzz: install
	CERTKEEPER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/e2e/test_fuzz_api.py

bench: install
	$(BIN)/python -m bench.issuance

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
