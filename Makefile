# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo-out

.PHONY: install demo test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

demo: install
	@mkdir -p $(DEMO)
	$(BIN)/goalloc synth steady -n 1000000 --procs 4 --seed 1 -o $(DEMO)/steady.msgpack --force
	$(BIN)/goalloc info $(DEMO)/steady.msgpack

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check goalloc tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
