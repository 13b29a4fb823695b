# Two commands a user needs: `make demo` and `make test`.
# Each creates or reuses its virtual environment and installs what it needs.

PYTHON ?= python3.11
VENV ?= .venv
# The Lambda runtime's Python, for the pure-Python suite (pyenv: PYENV_VERSION=3.13.0).
PYTHON_LAMBDA ?= python3.13
VENV_LAMBDA ?= .venv-py313
# aws-sam-cli and cfn-lint (pyproject.toml's `tools` dependency group).
VENV_TOOLS ?= .venv-tools

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
TOOLS_BIN := $(VENV_TOOLS)/bin
TOOLS_STAMP := $(VENV_TOOLS)/.installed-tools
BUILD_DIR := .aws-sam/build/ReconstructFunction
export SAM_CLI_TELEMETRY := 0

.PHONY: bench demo help soak venv test test-lambda-runtime lint format typecheck ci clean \
	tools requirements requirements-check template-check build build-check

help:
	@echo "make demo                 the whole pipeline offline on sample photos, into demo-output/"
	@echo "make soak                 the pipeline under faults on loopback (300 subjects, < 10 min); fails"
	@echo "                          if an invariant breaks; ARGS='--subjects 50 --seed 2' (--help: all)"
	@echo "make bench                every benchmark against its baseline in the same run (docs/performance.md)"
	@echo "make test                 run the whole test suite (creates .venv with the dev and engine extras)"
	@echo "make test-lambda-runtime  run the pure-Python suite under Python 3.13"
	@echo "make lint                 ruff check, ruff format --check, mypy, import contracts"
	@echo "make format               apply ruff format and fixes"
	@echo "make requirements         regenerate src/requirements.txt from pyproject.toml"
	@echo "make requirements-check   fail if src/requirements.txt is out of date"
	@echo "make template-check       cfn-lint, sam validate --lint and checkov on template.yaml (creates .venv-tools)"
	@echo "make build                sam build: the Lambda package (python3.13, arm64) in .aws-sam/build"
	@echo "make build-check          build, then check the package holds the function and its dependencies only"
	@echo "                          deploy afterwards with: $(TOOLS_BIN)/sam deploy [--guided]"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,engine]'
	@touch $@

venv: $(STAMP)

# Then the before/after picture of a turned face (README's engine section), which needs git
# history, the head scan and OpenGL: where one is missing it says so in one line and is skipped.
demo: $(STAMP)
	$(BIN)/face3d demo --output demo-output
	$(BIN)/python -m tools.turned_face_picture demo-output/turned-face.jpg \
		--skip-if-unavailable --log demo-output/engine.log

# Every benchmark against its baseline in the same run: a table of ratios and targets, and
# bench/results.json (git-ignored). About 15 minutes; `python -m bench.run --help` for parts.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# A bounded soak under faults on loopback (tools/soak); exit 1 when an invariant breaks.
soak: $(STAMP)
	$(BIN)/python -m tools.soak $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

$(VENV_LAMBDA)/.installed-dev: pyproject.toml
	@test -x $(VENV_LAMBDA)/bin/python || PYENV_VERSION=3.13.0 $(PYTHON_LAMBDA) -m venv $(VENV_LAMBDA)
	$(VENV_LAMBDA)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_LAMBDA)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

test-lambda-runtime: $(VENV_LAMBDA)/.installed-dev
	$(VENV_LAMBDA)/bin/python -m pytest tests/unit tests/integration

$(TOOLS_STAMP): pyproject.toml
	@test -x $(TOOLS_BIN)/python || $(PYTHON) -m venv $(VENV_TOOLS)
	$(TOOLS_BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(TOOLS_BIN)/python -m pip install --quiet --group tools
	@touch $@

tools: $(TOOLS_STAMP)

# src/requirements.txt is committed (plain `sam build` works from a clone) and generated.
requirements:
	$(PYTHON) tools/lambda_requirements.py

requirements-check:
	$(PYTHON) tools/lambda_requirements.py --check

# checkov judges the template once per value of each parameter that decides which resources
# exist (tools/template_variants.py); a check the template skips says why in its Metadata.
# --skip-download and BC_SKIP_MAPPING keep it offline (no Prisma Cloud account is involved).
template-check: $(TOOLS_STAMP)
	$(TOOLS_BIN)/cfn-lint template.yaml
	$(TOOLS_BIN)/sam validate --lint
	@variants=$$(mktemp -d) && $(PYTHON) tools/template_variants.py $$variants && \
	BC_SKIP_MAPPING=TRUE $(TOOLS_BIN)/checkov --directory $$variants --framework cloudformation \
		--skip-download --compact --quiet; status=$$?; rm -rf $$variants; exit $$status

# sam build runs src/Makefile (BuildMethod: makefile): the function's code only, and arm64 wheels
# for Python 3.13 fetched by pip with --platform, so no python3.13 is needed on PATH.
# `make build-check` after `rm -rf .aws-sam` is what CI does.
build: $(TOOLS_STAMP) requirements-check
	$(TOOLS_BIN)/sam build

build-check: build
	$(PYTHON) tools/check_lambda_package.py $(BUILD_DIR)

lint: $(STAMP)
	$(BIN)/ruff check src tests tools bench
	$(BIN)/ruff format --check src tests tools bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests tools bench
	$(BIN)/ruff check --fix src tests tools bench

clean:
	rm -rf $(VENV) $(VENV_LAMBDA) $(VENV_TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
