# Two commands a user needs: `make test` and (once the engine lands) `make demo`.
# Each creates or reuses its virtual environment and installs what it needs.

PYTHON ?= python3.11
VENV ?= .venv
# The Lambda runtime's Python, for the pure-Python suite (pyenv: PYENV_VERSION=3.13.0).
PYTHON_LAMBDA ?= python3.13
VENV_LAMBDA ?= .venv-py313

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: help venv test test-lambda-runtime lint format typecheck ci clean

help:
	@echo "make test                 run the whole test suite (creates .venv)"
	@echo "make test-lambda-runtime  run the pure-Python suite under Python 3.13"
	@echo "make lint                 ruff check, ruff format --check, mypy"
	@echo "make format               apply ruff format and fixes"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

$(VENV_LAMBDA)/.installed-dev: pyproject.toml
	@test -x $(VENV_LAMBDA)/bin/python || PYENV_VERSION=3.13.0 $(PYTHON_LAMBDA) -m venv $(VENV_LAMBDA)
	$(VENV_LAMBDA)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_LAMBDA)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

test-lambda-runtime: $(VENV_LAMBDA)/.installed-dev
	$(VENV_LAMBDA)/bin/python -m pytest tests/unit tests/integration

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) $(VENV_LAMBDA) .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
