# One command each, from a fresh clone. Everything runs inside .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv browser node test test-long check lint typecheck demo console bench sandbox clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# The console's browser test drives Debian's chromium through chromedriver. Installed when
# missing (CI runs as root on a fresh machine); if it can't be, make fails here, loudly.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing chromium and chromium-driver for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-ipafont-gothic; }

# The Node SDK cross-check (tests/sandbox/test_node_sdk.py) runs Smartpay's official SDK
# against the sandbox: Node.js and npm, installed the same way when missing.
node:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
		echo "installing nodejs and npm for the Node SDK cross-check"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }

test: venv browser node
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

console: venv
	$(BIN)/batch-refunds serve --sandbox

bench: venv
	$(BIN)/python -m bench

sandbox: venv
	$(BIN)/batch-refunds sandbox --generate 100 --csv-out reports/sandbox-returns.csv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
