#!/usr/bin/env bash
# Installs real Milvus 2.3.5 (the `milvus` PyPI package: an embedded standalone server) into a virtualenv for the
# differential tests (test/python/test_vs_milvus.py, started by test/python/milvus_ref.py). Idempotent: skips when
# the virtualenv already holds it. KITE_MILVUS_VENV overrides the path (default .cache/milvus-venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KITE_MILVUS_VENV:-$ROOT/.cache/milvus-venv}"
PYTHON="${PYTHON:-python3}"
WANT="milvus==2.3.5"

installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("milvus") == "2.3.5" else 1)
PY
}

if installed; then
  echo "install-milvus-venv: $WANT already in $VENV"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$WANT"
installed || { echo "install-milvus-venv: $WANT did not install into $VENV" >&2; exit 1; }
echo "install-milvus-venv: installed $WANT in $VENV"
