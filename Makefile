# make demo: the organization's story on a fresh SQLite ledger.
# make test: the test suite (PostgreSQL tests run when ACCORD_TEST_POSTGRES is set).
# make bench: speed figures, each next to a baseline measured in the same run.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

PREFIX ?= $(HOME)/.local

.PHONY: setup install demo test bench typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# make install: a link to .venv's accord in $(PREFIX)/bin (default ~/.local/bin), so that it is on PATH.
install: setup
	mkdir -p $(PREFIX)/bin
	ln -sf $(abspath $(BIN))/accord $(PREFIX)/bin/accord
	@echo "accord -> $(PREFIX)/bin/accord"

demo: setup
	rm -rf demo-out
	$(BIN)/accord demo demo-out

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench

typecheck: setup
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache
