# Two commands set up a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench e2e bench-workers clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed  ## replay the bundled incident offline and print the findings
	$(BIN)/triage demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint  ## lint, type-check and run the whole test suite
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/ingest.py

e2e: $(BIN)/.installed  ## Prometheus -> Alertmanager -> triage serve, real binaries (apt: prometheus prometheus-alertmanager)
	$(BIN)/python -m pytest -v tests/infra/test_alertmanager_e2e.py

bench-workers: $(BIN)/.installed  ## throughput and latency of 1, 2, 4 workers on one PostgreSQL queue
	$(BIN)/python bench/workers.py

clean:
	rm -rf $(VENV) .triage .pytest_cache .mypy_cache .ruff_cache
