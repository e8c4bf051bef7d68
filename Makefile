# Kite's entry points. `make test` and `make run` set up a fresh Debian machine (as root) and are idempotent.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PNPM_VERSION := 9.15.9
DATA_DIR ?= $(CURDIR)/.kite/data

.PHONY: help setup deps system-deps node-deps build test test-unit test-integration run bench-faiss lint

help:
	@echo "make run          set up and start Kite standalone on :19530 (data under $(DATA_DIR))"
	@echo "make test         set up and run every test"
	@echo "make bench-faiss  faiss binding vs C++ benchmark"

# Debian packages: libfaiss-dev (the vector index), build tools for the N-API addon, etcd.
system-deps:
	@bash scripts/install-system-deps.sh

node-deps:
	@command -v pnpm >/dev/null && [ "$$(pnpm --version)" = "$(PNPM_VERSION)" ] || npm install -g pnpm@$(PNPM_VERSION)
	pnpm install --frozen-lockfile

setup deps: system-deps node-deps build

build:
	pnpm -r --filter @kite/faiss run build:native
	pnpm run build

test: setup
	pnpm exec jest --ci

run: setup
	bin/kite standalone --data-dir $(DATA_DIR)

bench-faiss: setup
	pnpm --filter @kite/faiss run bench
