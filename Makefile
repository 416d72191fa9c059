# aigc-gateway — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip --disable-pip-version-check -q
PACKAGES := common gateway generators moderation provenance ledger review_ui
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint typecheck unit unit-postgres bench browser-deps models clean

## make run: install, build the small local models, and serve on $(HOST):$(PORT)
run: install
	$(BIN)/aigc-gateway models init
	$(BIN)/aigc-gateway serve --host $(HOST) --port $(PORT)

## make test: install, then lint, type-check, and run the suite on SQLite and PostgreSQL
test: install browser-deps lint typecheck unit unit-postgres

install: $(STAMP)

# torch goes first and exactly pinned: the CPU wheel lies on these machines' disk; an
# unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(PIP) install "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
	$(PIP) install -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import torch, gateway; assert torch.__version__.startswith('2.13.0')"
	@if command -v npm >/dev/null 2>&1; then echo "installing the local chain (anvil, pinned in package-lock.json)"; npm ci --no-audit --no-fund --loglevel=error; else echo "Node.js not found: the gateway will fall back to an in-process chain that does not survive a restart"; fi
	touch $(STAMP)

# Browser tests drive Debian's Chromium; never a downloaded browser.
browser-deps:
	@command -v chromium >/dev/null && fc-list | grep -qi "wenquanyi" || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	AIGC_TEST_DB=sqlite $(BIN)/pytest -q

unit-postgres: install
	AIGC_TEST_DB=postgres $(BIN)/pytest -q -m "db"

models: install
	$(BIN)/aigc-gateway models init

## make bench: every benchmark, full size (minutes); tables go to stdout
bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
