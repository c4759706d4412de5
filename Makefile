# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo-out

.PHONY: install demo test fuzz fuzz-cov bench lint clean go-toolchains chromium

# Go 1.23-1.27 record the real traces the end-to-end tests import (tests/test_go_releases.py).
# They come from Debian through a private apt source list: golang-1.23-go from
# bookworm-backports, 1.24 from trixie, 1.25-1.27 from trixie-backports. Each depends only on
# its own -src package, and the system's sources are left alone, so no upgrade can pull
# trixie packages in. Installed when missing and possible (root + apt); otherwise those tests
# skip and say why.
GO_RELEASES := 1.23 1.24 1.25 1.26 1.27
GO_PKGS := golang-1.23-go/bookworm-backports golang-1.24-go/trixie \
           golang-1.25-go/trixie-backports golang-1.26-go/trixie-backports \
           golang-1.27-go/trixie-backports
APT_DIR := $(CURDIR)/.apt-goalloc
APT_OPTS := -o Dir::Etc::SourceList=$(APT_DIR)/sources.list -o Dir::Etc::SourceParts=/nonexistent \
            -o Dir::State::Lists=$(APT_DIR)/lists
DEBIAN_KEYRING := /usr/share/keyrings/debian-archive-keyring.gpg

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# After installing, the numba kernels are compiled once (about half a minute on 2 cores, two
# processes side by side; goalloc/warm.py), so the first goalloc command after install loads
# them instead of compiling. numba caches them under $XDG_CACHE_HOME/goalloc (goalloc/jit.py).
WARM := --replay traces/go127-http-clientserver.msgpack --replay traces/go-parser.msgpack \
        --replay traces/c-python-json.msgpack --gotrace tests/data/gotrace-tiny.trace \
        --mtrace tests/data/mtrace-git-version.txt --heaptrack tests/data/heaptrack-git-version.raw.zst

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m goalloc.warm $(WARM)
	touch $@

install: $(STAMP)

# The main job on a shipped real trace: net/http client/server benchmark, Go 1.27, 4 Ps.
demo: install
	$(BIN)/goalloc replay traces/go127-http-clientserver.msgpack

test: install go-toolchains chromium
	$(BIN)/python -m pytest -q

go-toolchains:
	@missing=0; for v in $(GO_RELEASES); do [ -x /usr/lib/go-$$v/bin/go ] || missing=1; done; \
	if [ $$missing = 1 ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  mkdir -p $(APT_DIR)/lists/partial && \
	  printf 'deb [signed-by=%s] http://deb.debian.org/debian %s main\n' \
	    $(DEBIAN_KEYRING) bookworm-backports $(DEBIAN_KEYRING) trixie \
	    $(DEBIAN_KEYRING) trixie-backports > $(APT_DIR)/sources.list && \
	  (apt-get $(APT_OPTS) update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get $(APT_OPTS) install -y -qq --no-install-recommends $(GO_PKGS)) >/dev/null 2>&1 \
	    || echo "note: could not install Go $(GO_RELEASES) from Debian; their end-to-end tests will skip"; \
	fi

# Debian's Chromium: the HTML report tests open the pages in it (headless). Installed when
# missing and possible (root + apt); otherwise those tests skip and say why.
chromium:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	    || echo "note: could not install chromium; the HTML report browser tests will skip"; \
	fi

# The fuzz suite at any size (issue #18): N cases per format from seed SEED; FORMATS picks some
# (msgpack,jsonl,gotrace,mtrace,heaptrack,table,table-json,report). Failing cases are copied to
# fuzz-failures/ with the command that reproduces each.
N ?= 1000
SEED ?= 2
FORMATS ?= msgpack,jsonl,gotrace,mtrace,heaptrack,table,table-json,report
fuzz: install
	$(BIN)/python tests/fuzz.py -n $(N) --seed $(SEED) --formats $(FORMATS) --keep fuzz-failures

# Coverage-guided fuzzing of the parsers with atheris (issue #18, tests/fuzz_cov.py): each
# TARGET for FUZZ_SECONDS (msgpack, jsonl, gotrace, mtrace, heaptrack, table, report), called as a
# library; corpora grow in fuzz-cov-corpus/, findings land in fuzz-cov-findings/ (crash-*,
# oom-*, timeout-* inputs with atheris' report on stderr). Not in make test.
FUZZ_SECONDS ?= 60
TARGETS ?= msgpack,jsonl,gotrace,mtrace,heaptrack,table,report
fuzz-cov: install
	$(BIN)/python -m pip install -q -e '.[fuzz]'
	mkdir -p fuzz-cov-findings
	status=0; for t in $$(echo $(TARGETS) | tr , ' '); do \
	  $(BIN)/python tests/fuzz_cov.py $$t --seconds $(FUZZ_SECONDS) \
	    -artifact_prefix=fuzz-cov-findings/$$t- || status=1; \
	done; exit $$status

bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check goalloc tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache $(APT_DIR)
