# Thin wrappers over scripts/setup.sh and the `synthrec` CLI. `make help` lists targets.
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= mini
export HF_HUB_OFFLINE ?= 1

.PHONY: help all setup run book test test-fast bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

all: setup run book  ## fresh machine -> the whole mini profile -> the HTML book

setup:  ## venv, pinned packages, apt packages, npm data, Jupyter kernel (idempotent)
	@bash scripts/setup.sh

run:  ## execute every notebook under PROFILE (default mini) with papermill
	$(BIN)/synthrec run --profile $(PROFILE)

book:  ## build the Jupyter Book from the executed notebooks
	$(BIN)/synthrec book --profile $(PROFILE)

test: setup  ## set up, then run all tests (unit, component, nbval, browser)
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env $(PYTEST_ARGS)

test-fast:  ## unit tests only (no notebooks, no book)
	$(BIN)/python -m pytest tests -m "not slow and not notebook and not book"

bench:  ## performance ratio benchmarks -> results/bench/*.json
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove build outputs (keeps caches and the venv)
	rm -rf _build book/generated
