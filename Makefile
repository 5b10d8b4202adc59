# Two commands set up a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench e2e bench-workers clean

# The runtime alone (what `make demo` needs); the dev extras (pytest, ruff, mypy, Playwright,
# schemathesis: most of the download) come on top for `make test`. pip prints each package it
# fetches, so a first install shows progress instead of minutes of silence.
$(BIN)/.runtime: pyproject.toml
	@echo "==> creating the virtualenv $(VENV) (first run: a few minutes; later runs skip this)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> installing triage and its runtime dependencies into $(VENV)"
	$(BIN)/python -m pip install --progress-bar off -e .
	touch $@

$(BIN)/.installed: $(BIN)/.runtime
	@echo "==> installing the development tools (pytest, ruff, mypy, ...) into $(VENV)"
	$(BIN)/python -m pip install --progress-bar off -e ".[dev]"
	touch $@

demo: $(BIN)/.runtime  ## replay the bundled incident offline and print the findings
	@echo "==> replaying the bundled incident (checkout breaks after a deploy), offline"
	$(BIN)/triage demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

# One pytest worker per core (pytest-xdist); a test file stays on one worker, so the servers a
# module starts (PostgreSQL, Prometheus, Elasticsearch) start once. The slowest 25 are listed.
test: lint  ## lint, type-check and run the whole test suite
	$(BIN)/python -m pytest -n auto --dist loadfile

bench: $(BIN)/.installed
	$(BIN)/python bench/ingest.py

e2e: $(BIN)/.installed  ## Prometheus -> Alertmanager -> triage serve, real binaries (apt: prometheus prometheus-alertmanager)
	$(BIN)/python -m pytest -v tests/infra/test_alertmanager_e2e.py

bench-workers: $(BIN)/.installed  ## throughput and latency of 1, 2, 4 workers on one PostgreSQL queue
	$(BIN)/python bench/workers.py

clean:
	rm -rf $(VENV) .triage .pytest_cache .mypy_cache .ruff_cache
