# OpenBand — quick start: `make run`, then `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: install run test lint format compat-deps bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  (echo "OpenBand needs Python 3.11 or newer" >&2; exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

run: install
	$(BIN)/openband serve

# The official Bandwidth SDKs used by tests/compat (each Python SDK in its own venv: their pins clash).
compat-deps:
	bash tests/compat/install.sh

# pytest runs even when lint fails, so the test summary is always printed; any failure (lint,
# tests, or pytest's exit code 5 "no tests collected") makes the target fail.
# --dist loadfile, not loadgroup: with pytest 9.2, xdist 3.8's loadgroup silently ignores
# xdist_group marks (it rewrites item._nodeid, which pytest 9 no longer reads), so tests sharing a
# module-scoped live server were split across workers and ran it twice.
PYTEST_ARGS ?= -q -n 2 --dist loadfile --durations=10
test: install compat-deps
	@status=0; \
	$(BIN)/ruff check src tests bench scripts || status=1; \
	$(BIN)/ruff format --check src tests bench scripts || status=1; \
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	if [ $$rc -ne 0 ]; then status=$$rc; fi; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (status $$status)" >&2; fi; \
	exit $$status

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

format: install
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

bench: install
	$(BIN)/python bench/inventory.py

clean:
	rm -rf $(VENV) .venv-compat-* tests/compat/node_modules var
