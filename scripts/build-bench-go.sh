#!/usr/bin/env bash
# Builds the Go load generator of `make bench-vs-milvus` (test/bench/go: the official Milvus Go SDK,
# github.com/milvus-io/milvus/client/v2, pinned in its go.mod/go.sum) into .cache/bin/bench-vs-milvus. Idempotent:
# the go command fetches the modules once from the module proxy into its module cache and rebuilds only on change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${KITE_BENCH_GO_BIN:-$ROOT/.cache/bin/bench-vs-milvus}"
command -v go >/dev/null || { echo "build-bench-go: no go command on PATH (the load generator needs Go >= 1.24)" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
cd "$ROOT/test/bench/go"
GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" go build -o "$OUT" .
echo "build-bench-go: $OUT ($(go version | cut -d' ' -f3))"
