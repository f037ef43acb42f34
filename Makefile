# One task runner for developers and CI. Every target installs what it needs.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROTOS  := $(wildcard proto/arrears/v1/*.proto)

.PHONY: help install demo test test-fast lint proto proto-check lock bench interop-deps clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

DEPS    := $(VENV)/.deps

$(DEPS): requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $(DEPS)

# arrears itself, editable in strict mode (a tree of links under build/, which mypy can follow).
# Strict mode does not see new modules until reinstalled, so reinstall when the file list changes.
$(STAMP): $(DEPS) pyproject.toml FORCE
	@files=$$(find ledger server client proto -name '*.py' -o -name '*.proto' | sort | sha256sum); \
	if [ ! -f $(STAMP) ] || [ "$$(cat $(STAMP))" != "$$files" ] || [ pyproject.toml -nt $(STAMP) ]; then \
	  $(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
	    --config-settings editable_mode=strict -e . && echo "$$files" > $(STAMP); fi

FORCE:

install: $(STAMP)  ## create .venv with the locked dependencies and arrears (editable)

demo: $(STAMP)  ## the main job: a full run on embedded SQLite in a temporary directory
	$(BIN)/python -m arrears.server.demo

test: $(STAMP) interop-deps  ## the whole test suite (SQLite, PostgreSQL, Go interop, crash loops)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## unit tests only
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP) proto-check  ## ruff + mypy strict on our code; generated code must be fresh
	$(BIN)/ruff check ledger server client tests bench
	$(BIN)/ruff format --check ledger server client tests bench
	$(BIN)/mypy -p arrears.ledger -p arrears.server -p arrears.client

# The one pinned command that produces the generated code beside its .proto.
proto: $(STAMP)  ## regenerate proto/arrears/v1/*_pb2*.py from the .proto files
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto --grpc_python_out=proto $(PROTOS)

proto-check: $(STAMP)  ## fail when the committed generated code is stale
	@tmp=$$(mktemp -d) && \
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS) && \
	for f in $$tmp/arrears/v1/*; do \
	  cmp -s $$f proto/arrears/v1/$$(basename $$f) || { echo "stale generated code: proto/arrears/v1/$$(basename $$f) (run 'make proto')"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated code is fresh"

lock:  ## re-resolve requirements.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

bench: $(STAMP)  ## speed and size figures, each printed beside its target
	$(BIN)/python -m bench

# Independent tools the tests check our output with: Go's golang.org/x/mod/sumdb/note and
# sumdb/tlog (the interop tests) and Chromium (the audit report is rendered in a real browser).
# Installed from Debian when missing and we are allowed to; otherwise those tests skip and say why.
interop-deps:
	@missing=""; \
	command -v go >/dev/null && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] || missing="golang-go golang-golang-x-mod-dev"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $$missing for the interop and report tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "could not install $$missing: the tests that need them will skip"; \
	  else echo "$$missing not installed and cannot install: the tests that need them will skip"; fi; \
	fi

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
