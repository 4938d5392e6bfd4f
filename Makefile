# dockyard: `make repro` runs the pipeline, `make test` runs the test suite.
# Both create .venv on first use. The torch build is chosen before anything else is
# installed, because an unpinned torch can pull a multi-GB CUDA build onto a CPU machine:
#   CPU (default)  make repro
#   GPU            make repro TORCH="torch==2.13.0" TORCH_PIP_ARGS="--index-url <your CUDA wheel index>"
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PIP := $(BIN)/python -m pip --disable-pip-version-check
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"

.PHONY: repro test lint check bench clean-venv help

help:
	@echo "make repro   install into $(VENV) if needed, then dvc repro"
	@echo "make test    install into $(VENV) with the dev extra if needed, then run the tests"
	@echo "make lint    ruff check"
	@echo "make check   lint, params.yaml freshness, tests (what CI runs)"
	@echo "make bench   the benchmark suite (benchmarks/README.md): ratios against same-run"
	@echo "             baselines, written to benchmarks/results.json;"
	@echo "             BENCH_ARGS=\"--cases 1,3\" runs some cases"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(PIP) install $(TORCH_PIP_ARGS) "$(TORCH)"
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[dev]"
	@touch $@ $(VENV)/.installed

repro: $(VENV)/.installed
	$(RUN) dvc repro

# Mermaid's own parser checks the charts of the PR comment (tests/mermaid_parse.mjs); a dev
# step like pip's, skipped with a note where npm is missing (those tests then say why).
MERMAID_DIR := .cache/mermaid
$(MERMAID_DIR)/.installed:
	@if command -v npm >/dev/null; then \
		npm install --prefix $(MERMAID_DIR) --no-audit --no-fund mermaid@11 jsdom@26 && touch $@ \
		|| echo "npm install failed: the Mermaid parser tests will be skipped"; \
	else echo "npm not found: the Mermaid parser tests will be skipped"; fi

# The shared-study tests start a private PostgreSQL cluster (tests/pg_server.py) from Debian's
# `postgresql` package: installed here when missing and apt-get can, else those tests skip.
PG_STAMP := .cache/postgresql.checked
$(PG_STAMP):
	@mkdir -p .cache
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y --no-install-recommends postgresql \
		 || (apt-get update && apt-get install -y --no-install-recommends postgresql)) >/dev/null \
		|| echo "apt-get install postgresql failed: the shared-study tests will be skipped"; \
	else echo "PostgreSQL not found: the shared-study tests will be skipped"; fi
	@touch $@

# The data profile page is opened in a real headless browser (tests/test_profile.py), Debian's
# `chromium`: installed here when missing and apt-get can, else that test skips.
CHROMIUM_STAMP := .cache/chromium.checked
$(CHROMIUM_STAMP):
	@mkdir -p .cache
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get install -y --no-install-recommends chromium \
		 || (apt-get update && apt-get install -y --no-install-recommends chromium)) >/dev/null \
		|| echo "apt-get install chromium failed: the profile page's browser test will be skipped"; \
	else echo "chromium not found: the profile page's browser test will be skipped"; fi
	@touch $@

# One pytest worker per core, each given whole test modules (tests/conftest.py);
# PYTEST_ARGS="-n 0" runs everything in one process.
PYTEST_ARGS ?= -n auto
test: $(VENV)/.installed-dev $(MERMAID_DIR)/.installed $(PG_STAMP) $(CHROMIUM_STAMP)
	$(RUN) python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(RUN) ruff check src tests benchmarks

bench: $(VENV)/.installed-dev
	$(RUN) python benchmarks/bench.py $(BENCH_ARGS)

check: lint
	$(RUN) dockyard compose --check
	$(MAKE) test

clean-venv:
	rm -rf $(VENV)
