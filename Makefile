# One command each, from a fresh clone. Everything runs inside .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-long check lint typecheck demo bench sandbox clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest

test-long: venv
	$(BIN)/python -m pytest -m long

lint: venv
	$(BIN)/ruff check batch_refunds tests bench
	$(BIN)/ruff format --check batch_refunds tests bench

typecheck: venv
	$(BIN)/mypy --strict batch_refunds

check: lint typecheck test

demo: venv
	$(BIN)/batch-refunds demo

bench: venv
	$(BIN)/python -m bench

sandbox: venv
	$(BIN)/batch-refunds sandbox --generate 100 --csv-out reports/sandbox-returns.csv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
