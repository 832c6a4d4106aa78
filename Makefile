# One set of commands for people, CI (.ci/run) and the container build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install check test demo sandbox check-config bench s3-server s3-server-stop clean

$(BIN)/genesys-reports: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/genesys-reports

# Lint, format, types and the Dockerfile.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# The README's test command: every check, then the test suite.
test: check
	$(BIN)/pytest

# The README's first command: both example reports, end to end, on the embedded sandbox.
demo: install
	$(BIN)/genesys-reports run

sandbox: install
	$(BIN)/genesys-reports sandbox --port 8089

check-config: install
	$(BIN)/genesys-reports check-config

# Benchmarks (not part of the tests): figures and ratios against the tutorial's approach.
bench: install
	$(BIN)/python -m tests.benchmarks.bench_fetch
	$(BIN)/python -m tests.benchmarks.bench_lookback
	$(BIN)/python -m tests.benchmarks.bench_process
	$(BIN)/python -m tests.benchmarks.bench_windows
	$(BIN)/python -m tests.benchmarks.bench_html
	$(BIN)/python -m tests.benchmarks.bench_dataset

# ministack, the S3 test server, from its own .venv-s3 (the tests start one themselves when
# GR_S3_ENDPOINT is not set).
s3-server:
	$(PYTHON) scripts/s3-test-server start

s3-server-stop:
	$(PYTHON) scripts/s3-test-server stop

clean:
	-$(PYTHON) scripts/s3-test-server stop
	rm -rf $(VENV) .venv-s3 .mypy_cache .pytest_cache .ruff_cache
