# cacop — `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help demo test lint check bench dist clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) ## set up, then show the bundled kb/ at work
	@bash scripts/demo.sh

# Tests run in JOBS processes (pytest-xdist), one a core on CI's 2 cores; JOBS=0: in this one.
JOBS ?= 2

test: $(STAMP) ## set up, then run the whole test suite
	$(BIN)/python -m pytest -n $(JOBS) --dist worksteal

lint: $(STAMP) ## ruff check and format check; no call Windows or macOS lacks
	$(BIN)/ruff check cacop_cli tests scripts
	$(BIN)/ruff format --check cacop_cli tests scripts
	$(BIN)/python scripts/platform_check.py

check: lint test ## what CI runs

bench: $(STAMP) ## benchmarks on generated knowledge bases (slow)
	$(BIN)/python scripts/bench.py

dist: $(STAMP) ## build the release: sdist and wheel in dist/, checked by twine
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .cacop .pytest_cache .ruff_cache dist
