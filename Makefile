# Plateaux developer commands.
#
#   make run        create the virtualenv if needed, migrate, load the demo data, serve on
#                   http://127.0.0.1:8000 (SQLite, in-process event bus and jobs)
#   make test       start or install the test services, lint, type-check, then the test
#                   suite on PostgreSQL and again on SQLite
#   make bench      run every bench/*.py (each prints JSON)
#   make lint       ruff
#   make typecheck  mypy
#   make clean      remove build artifacts and caches (`make distclean` also drops the
#                   virtualenv and the local data in var/)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# The recipes depend on running in order (services before the suite, install before use).
.NOTPARALLEL:

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
# pip runs again only when pyproject.toml is newer than these stamps.
STAMP_RUN := $(VENV)/.installed-runtime
STAMP_DEV := $(VENV)/.installed-dev

PYTEST := $(VENV)/bin/pytest
PYTEST_ARGS ?=
# Test files run in parallel processes (pytest-xdist), each with its own database, job
# queue, Redis key prefix, ports and servers; TEST_PROCESSES=0 runs them in this process.
# Tests marked `alone` (floors of server processes timed by their clients) run after them,
# by themselves.
TEST_PROCESSES ?= 4
PYTEST_PARALLEL := -n $(TEST_PROCESSES) --dist loadfile

.PHONY: help run test test-services bench lint typecheck clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

$(VPY):
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3-venv" >&2; \
	  rm -rf $(VENV); exit 1; }
	$(VPY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(VPY)
	$(VPY) -m pip install -e .
	@touch $@

# The dev install includes the runtime one, so it refreshes both stamps.
$(STAMP_DEV): pyproject.toml | $(VPY)
	$(VPY) -m pip install -e '.[dev]'
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(VENV)/bin/plateaux migrate
	$(VENV)/bin/plateaux demo
	$(VENV)/bin/plateaux serve

test-services:
	scripts/ensure-test-services

# Prerequisites are made left to right: services first, then the dev install.
test: test-services $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	scripts/typecheck
	PLATEAUX_TEST_DATABASE=postgresql $(PYTEST) -m "not alone" $(PYTEST_PARALLEL) $(PYTEST_ARGS)
	PLATEAUX_TEST_DATABASE=postgresql $(PYTEST) -m alone $(PYTEST_ARGS)
	PLATEAUX_TEST_DATABASE=sqlite $(PYTEST) -m "not postgres_only" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

bench: $(STAMP_DEV)
	@shopt -s nullglob; benches=(bench/*.py); \
	if (( $${#benches[@]} == 0 )); then echo "no benchmarks in bench/" >&2; fi; \
	for bench in "$${benches[@]}"; do \
	  echo "# $$bench" >&2; \
	  $(VPY) "$$bench"; \
	done

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP_DEV)
	scripts/typecheck

clean:
	rm -rf build dist ./*.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -path ./.git -prune -o -name node_modules -prune -o \
	  -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) var
