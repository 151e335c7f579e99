# callrec - every target creates .venv and installs the pinned requirements when they change.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WARM := $(VENV)/.warm
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
export SAM_CLI_TELEMETRY := 0
# Parsed state machine programs, kept across runs (callrec.engine.interpreter): the install's warm-up deployment parses
# template.yaml's workflows once, and every test worker, `make demo` and `make serve` load them (RecordingSession:
# 0.7-1 s of CPU to parse, 6 ms to load).
export CALLREC_PROGRAM_STORE := $(CURDIR)/$(VENV)/programs
PYTEST_ARGS ?=
# The three virtual environments (project, SAM CLI, checkov) install side by side; recipes stay in order.
MAKEFLAGS += --jobs=3

.PHONY: help demo test test-load lint serve bench speech build deploy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

# uv (pinned in requirements/uv.txt, put in .venv-uv by pip) installs the environments, from the same pins as pip
# would (measured from a clean clone here: 63 s -> 35 s, and half the CPU). The environments are made without pip
# (making one with it took 4.6 s); .venv gets its pinned pip from uv. No environment's bytecode is compiled whole: the
# SAM CLI's and checkov's is written as they first run, and .venv's, before the tests' first run, by one process for
# what they import ($(WARM): collecting them, then deploying template.yaml once in-process, `python -m callrec.runtime`).
# Counted over a whole `.ci/run` (every process's compiles, through sys.audit): compiling .venv whole at install (uv,
# 98 MB of source, 12 s and 22 CPU-s) compiled 131 MB in all; this way 76 MB (the warm-up 24 MB, cfn-lint's first run
# 17 MB, the test workers 1 MB). With nothing compiled before them, the four workers each compiled the same modules.
$(UV): requirements/uv.txt
	$(PYTHON) -m pip install --quiet --upgrade --target $(UV_VENV) -r requirements/uv.txt
	touch $(UV)

UV_INSTALL = $(UV) pip install --quiet
WRITE_BYTECODE = env -u PYTHONDONTWRITEBYTECODE

$(STAMP): pyproject.toml requirements/runtime.txt requirements/test.txt requirements/constraints.txt $(UV)
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	$(UV_INSTALL) --python $(BIN)/python -r requirements/test.txt -c requirements/constraints.txt
	$(UV_INSTALL) --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m compileall -q callrec layer/python functions tests
	rm -f $(WARM)
	touch $(STAMP)

# One process writes the bytecode the test workers will import, and pytest's rewritten test modules, before they start
# (5.9 s and 4.7 s of one core on a clean clone here): `make test` runs lint beside it, on the other core.
$(WARM): $(STAMP)
	$(WRITE_BYTECODE) $(BIN)/python -m pytest --collect-only -q -p no:cacheprovider > /dev/null
	$(WRITE_BYTECODE) $(BIN)/python -m callrec.runtime
	touch $(WARM)

$(SAM): requirements/sam.txt $(UV)
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv --without-pip $(SAM_VENV)
	$(UV_INSTALL) --python $(SAM_VENV)/bin/python -r requirements/sam.txt
	touch $(SAM)

$(CHECKOV): requirements/checkov.txt $(UV)
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv --without-pip $(CHECKOV_VENV)
	$(UV_INSTALL) --python $(CHECKOV_VENV)/bin/python -r requirements/checkov.txt
	touch $(CHECKOV)

demo: $(STAMP) ## play the demo calls through the embedded local stack and print their timelines
	$(BIN)/callrec demo

# Two workers per core: many tests spend their time waiting on a call's real-time steps (a provider slow on
# purpose, a deadline passing), and a second worker per core uses that time (measured: 3 min 27 s against
# 4 min 25 s with one per core, on 2 cores).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')

# Lint runs beside the tests (they share nothing; lint is 25-30 s of one core): the target fails if either does, and
# lint's report follows the tests'. It starts before the first run's warm-up ($(WARM)), which uses one core, so that
# lint has the other: a clean clone's install leaves one core idle for those 10 s. Bytecode is used and written even
# where PYTHONDONTWRITEBYTECODE is set: the project's is compiled as it installs, and the warm-up writes that of the
# dependencies' modules the tests import and pytest's rewritten test modules. Each worker imports every module, and
# compiling (and pytest rewriting the test modules, 1.5 s of CPU) again in each one cost seconds of CPU per worker.
# Compiled beforehand, nothing is written beside the sources while the build tests copy them.
test: $(STAMP) $(SAM) $(CHECKOV) ## lint and every test tier side by side, two workers per core (pytest-xdist; tiers: docs/engine.md)
	@lint_log=$$(mktemp); \
	$(MAKE) --no-print-directory lint > "$$lint_log" 2>&1 & lint=$$!; \
	$(MAKE) --no-print-directory $(WARM) && \
	$(WRITE_BYTECODE) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS); \
	tested=$$?; \
	wait $$lint; linted=$$?; \
	echo "--- make lint"; cat "$$lint_log"; rm -f "$$lint_log"; \
	if [ $$linted -ne 0 ]; then echo "make test: lint failed (exit $$linted)"; fi; \
	if [ $$tested -ne 0 ]; then exit $$tested; fi; exit $$linted

test-load: $(STAMP) ## 200 calls at once through the local API (make test plays 50)
	CALLREC_LOAD_SESSIONS=200 $(BIN)/python -m pytest tests/local_stack/test_load.py $(PYTEST_ARGS)

# cfn-lint runs once: `sam validate --lint` only calls cfn-lint's API (the same version, bundled with the SAM CLI) on
# the same template, which took 7-10 s of CPU more for the same findings.
lint: $(STAMP) $(CHECKOV) ## ruff, mypy (strict, the layer), cfn-lint, checkov (skips: .checkov.yaml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(WRITE_BYTECODE) $(BIN)/mypy
	$(WRITE_BYTECODE) $(BIN)/cfn-lint template.yaml
	$(WRITE_BYTECODE) $(CHECKOV) --config-file .checkov.yaml

serve: $(STAMP) ## the local AWS endpoint on http://127.0.0.1:8083 with template.yaml deployed
	$(BIN)/callrec serve

speech: ## install espeak-ng (Debian's package), the real speech the DTMF benchmark talks over
	@command -v espeak-ng >/dev/null || { apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; } \
	  || echo "espeak-ng could not be installed (not root?): the DTMF benchmark uses the simulator's voice"

bench: $(STAMP) speech ## run benchmarks/, print the figures, write benchmarks/RESULTS.md
	$(BIN)/python benchmarks/report.py

build: $(SAM) ## sam build: the functions and the layer for Lambda (arm64, python3.11), in .aws-sam/build
	$(SAM) build

deploy: build ## sam deploy --guided (needs AWS credentials)
	$(SAM) deploy --guided

clean: ## remove the virtual environments, build output and local logs
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(UV_VENV) .aws-sam .callrec .pytest_cache
