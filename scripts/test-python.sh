#!/usr/bin/env bash
# Runs the pymilvus end-to-end tests (test/python) against Kite standalone.
# Creates a virtualenv under .cache/venv once, installs test/python/requirements.txt when it changed, runs pytest.
# Exits with pytest's code; "no tests collected" (pytest's 5) is a failure too. Extra arguments go to pytest.
# Needs the built server (make build): the tests start `node bin/kite standalone` themselves.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.cache/venv"
REQ="$ROOT/test/python/requirements.txt"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$WANT" > "$STAMP"
fi

cd "$ROOT"
set +e
"$VENV/bin/python" -m pytest test/python -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test-python: pytest collected no tests; treating that as a failure" >&2
fi
exit "$rc"
