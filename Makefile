# Two commands: `make run` builds the sample vault into dist/, `make test` runs every test.
# Both create or update .venv from pyproject.toml first; only python3 is needed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/exporter build --vault notes -o dist

test: $(STAMP)
	$(BIN)/ruff check exporter tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check exporter tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/bundle.py
	$(BIN)/python bench/pdf.py
	$(BIN)/python bench/epub.py

clean:
	rm -rf dist $(VENV) .pytest_cache .mypy_cache .ruff_cache
