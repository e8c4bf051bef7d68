#!/usr/bin/env bash
# Runs the pymilvus end-to-end tests (test/python) against Kite standalone.
# Creates a virtualenv under .cache/venv once (KITE_TEST_VENV overrides the path), installs
# test/python/requirements.txt when it changed, then each optional set test/python/requirements-<name>.txt
# (milvus-lite for the differential tests, LangChain, LlamaIndex) when it changed, constrained to the pins of
# requirements.txt so pymilvus stays the version every test uses. An optional set that pip cannot install does not stop
# the run: pip's error goes to $VENV/.install-errors/<name>.txt and the tests that need it skip naming it; the set is
# tried again on the next run. Then runs pytest.
# Exits with pytest's code; "no tests collected" (pytest's 5) is a failure too. Extra arguments go to pytest.
# Needs the built server (make build): the tests start `node bin/kite standalone` themselves.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KITE_TEST_VENV:-$ROOT/.cache/venv}"
REQ_DIR="$ROOT/test/python"
REQ="$REQ_DIR/requirements.txt"
PYTHON="${PYTHON:-python3}"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  "${PIP[@]}" -r "$REQ"
  echo "$WANT" > "$STAMP"
fi

ERRORS="$VENV/.install-errors"
mkdir -p "$ERRORS"
for opt in "$REQ_DIR"/requirements-*.txt; do
  [ -e "$opt" ] || continue
  name="$(basename "$opt" .txt)"
  name="${name#requirements-}"
  stamp="$VENV/.requirements-$name.sha256"
  # The stamp covers the core pins too: they constrain this set.
  want="$(cat "$REQ" "$opt" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    continue
  fi
  started=$SECONDS
  if out="$("${PIP[@]}" -c "$REQ" -r "$opt" 2>&1)"; then
    echo "$want" > "$stamp"
    rm -f "$ERRORS/$name.txt"
    echo "test-python: installed $(basename "$opt") in $((SECONDS - started)) s"
  else
    printf '%s\n' "$out" > "$ERRORS/$name.txt"
    rm -f "$stamp"
    echo "test-python: pip could not install $(basename "$opt"); the tests that need it will be skipped:" >&2
    printf '%s\n' "$out" | tail -n 5 >&2
  fi
done

cd "$ROOT"
set +e
"$VENV/bin/python" -m pytest test/python -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test-python: pytest collected no tests; treating that as a failure" >&2
fi
exit "$rc"
