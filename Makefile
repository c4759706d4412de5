# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo-out

.PHONY: install demo test fuzz bench lint clean go-toolchain

# Go 1.23 (bookworm-backports) records the real traces the end-to-end tests import. Installed
# when missing and possible (root + apt); otherwise those tests skip and say why.
GO_DEB := golang-1.23-go
GO_BIN := /usr/lib/go-1.23/bin/go

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

# The main job on a shipped real trace: net/http client/server benchmark, Go 1.23, 4 Ps.
# The first replay after install compiles the engine once (about a minute here).
demo: install
	$(BIN)/goalloc replay traces/go-http-clientserver.msgpack

test: install go-toolchain
	$(BIN)/python -m pytest -q

# The fuzz suite at any size (issue #18): N cases per format from seed SEED; FORMATS picks some
# (msgpack,jsonl,gotrace,mtrace,heaptrack,table,table-json,report). Failing cases are copied to
# fuzz-failures/ with the command that reproduces each.
N ?= 1000
SEED ?= 2
FORMATS ?= msgpack,jsonl,gotrace,mtrace,heaptrack,table,table-json,report
fuzz: install
	$(BIN)/python tests/fuzz.py -n $(N) --seed $(SEED) --formats $(FORMATS) --keep fuzz-failures

go-toolchain:
	@if [ ! -x $(GO_BIN) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/ || \
	    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	      > /etc/apt/sources.list.d/goalloc-backports.sources; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(GO_DEB)) >/dev/null 2>&1 \
	    || echo "note: could not install $(GO_DEB); Go end-to-end tests will skip"; \
	fi

bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check goalloc tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
