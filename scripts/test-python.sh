#!/usr/bin/env bash
# Runs the pymilvus end-to-end tests (test/python) against Kite standalone.
#
# Virtualenvs (created once, reinstalled only when their requirements change, so reruns are quick):
# - .cache/venv (KITE_TEST_VENV overrides the path): test/python/requirements.txt (pymilvus 2.6, pytest), then the
#   optional sets requirements-milvus-lite.txt (milvus-lite 3.x for the differential tests),
#   requirements-llamaindex.txt and requirements-bulk-writer.txt (pymilvus's BulkWriter, for test_import.py),
#   constrained to the pins of requirements.txt so pymilvus stays the version every
#   test uses;
# - .cache/venv-langchain (KITE_TEST_LANGCHAIN_VENV): requirements-langchain.txt. langchain-milvus 0.4 needs pymilvus
#   3, and 0.3.x does not work with pymilvus 2.6.17 (it looks the client up in the ORM connection registry, which
#   MilvusClient no longer fills), so LangChain runs in its own environment, with pymilvus 3.
# An optional set that pip cannot install does not stop the run: pip's output goes to
# .cache/venv/.install-errors/<name>.txt, the tests that need the set skip with a message naming it and that error,
# and the set is tried again on the next run.
#
# Then runs pytest on test/python in .cache/venv (only the files in KITE_PYTHON_TESTS, when set) and on test/python/test_langchain.py in .cache/venv-langchain
# (in .cache/venv, where it skips naming the error, if that environment could not be set up).
# Exits non-zero if either run fails; "no tests collected" (pytest's 5) in both runs is a failure too. Extra
# arguments go to both pytest runs. Needs the built server (make build): the tests start `node bin/kite standalone`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KITE_TEST_VENV:-$ROOT/.cache/venv}"
LC_VENV="${KITE_TEST_LANGCHAIN_VENV:-$ROOT/.cache/venv-langchain}"
REQ_DIR="$ROOT/test/python"
REQ="$REQ_DIR/requirements.txt"
PYTHON="${PYTHON:-python3}"
ERRORS="$VENV/.install-errors"

pip_install() { # venv, pip arguments...
  local venv="$1"
  shift
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  pip_install "$VENV" -r "$REQ"
  echo "$WANT" > "$STAMP"
fi
mkdir -p "$ERRORS"

# optional_set NAME VENV PIP-ARGS...: installs requirements-NAME.txt into VENV unless already done for these files;
# returns non-zero (after recording pip's output) if pip fails.
optional_set() {
  local name="$1" venv="$2"
  shift 2
  local req="$REQ_DIR/requirements-$name.txt"
  local stamp="$venv/.requirements-$name.sha256"
  local want
  want="$(cat "$REQ" "$req" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  local started=$SECONDS out
  if out="$(
    { [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"; } 2>&1 && pip_install "$venv" "$@" -r "$req" 2>&1
  )"; then
    echo "$want" > "$stamp"
    rm -f "$ERRORS/$name.txt"
    echo "test-python: installed $(basename "$req") in $((SECONDS - started)) s"
  else
    printf '%s\n' "$out" > "$ERRORS/$name.txt"
    rm -f "$stamp"
    echo "test-python: pip could not install $(basename "$req"); the tests that need it will be skipped:" >&2
    printf '%s\n' "$out" | tail -n 5 >&2
    return 1
  fi
}

optional_set milvus-lite "$VENV" -c "$REQ" || true
optional_set llamaindex "$VENV" -c "$REQ" || true
optional_set bulk-writer "$VENV" -c "$REQ" || true
LC_PYTHON="$VENV/bin/python"
if optional_set langchain "$LC_VENV"; then
  LC_PYTHON="$LC_VENV/bin/python"
fi

cd "$ROOT"
# KITE_PYTHON_TESTS: run only these test files in .cache/venv (e.g. make test-vs-milvus), not the whole directory.
if [ -n "${KITE_PYTHON_TESTS:-}" ]; then
  # shellcheck disable=SC2086 # a space-separated list of paths
  exec "$VENV/bin/python" -m pytest $KITE_PYTHON_TESTS -p no:cacheprovider "$@"
fi
set +e
"$VENV/bin/python" -m pytest test/python --ignore=test/python/test_langchain.py \
  --ignore=test/python/test_vs_milvus.py --ignore=test/python/test_array_vs_milvus.py -p no:cacheprovider "$@"
rc=$?
"$LC_PYTHON" -m pytest test/python/test_langchain.py -p no:cacheprovider "$@"
rc_lc=$?
set -e
if [ "$rc" -eq 5 ] && [ "$rc_lc" -eq 5 ]; then
  echo "test-python: pytest collected no tests; treating that as a failure" >&2
  exit 5
fi
[ "$rc" -eq 5 ] && rc=0
[ "$rc_lc" -eq 5 ] && rc_lc=0
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
exit "$rc_lc"
