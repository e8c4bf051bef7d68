#!/usr/bin/env bash
# Installs MinIO, the S3-compatible server the object-store tests run against (test/harness/s3.ts), into
# $KITE_MINIO_HOME/bin/minio (default .cache/minio). MinIO publishes no package on the registries this project
# reaches, so it is built from source with the Go toolchain, its modules coming from the Go module proxy (about
# 5 minutes on two idle cores, 1.5 GB of module cache; the binary is ~100 MB). Idempotent: does nothing when the
# binary for this version and Go toolchain is there. Needs Go >= 1.24 (on the machine image; Debian's is too old).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${KITE_MINIO_HOME:-$root/.cache/minio}"
# The last MinIO commit published (the repository tags releases as RELEASE.*, so Go sees pseudo-versions).
version="v0.0.0-20260212201848-7aac2a2c5b7c"

if ! command -v go >/dev/null; then
  for d in /usr/local/go/bin /usr/lib/go/bin; do [ -x "$d/go" ] && PATH="$d:$PATH" && break; done
fi
command -v go >/dev/null || { echo "install-s3-server: Go 1.24+ is needed to build MinIO (go: command not found)" >&2; exit 1; }

# One installer at a time (parallel test workers may all find the server missing).
mkdir -p "$home"
exec 9>"$home/.install.lock"
flock 9

stamp="$version $(go env GOVERSION)"
if [ -x "$home/bin/minio" ] && [ -f "$home/bin/.installed" ] && [ "$(cat "$home/bin/.installed")" = "$stamp" ]; then
  exit 0
fi

echo "building MinIO $version with $(go env GOVERSION) into $home/bin (a few minutes)"
tmp="$(mktemp -d "$home/bin.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
GOBIN="$tmp" GOTOOLCHAIN=local go install -ldflags "-s -w" "github.com/minio/minio@$version"
"$tmp/minio" --version >/dev/null
echo "$stamp" >"$tmp/.installed"
rm -rf "$home/bin"
chmod 755 "$tmp"
mv "$tmp" "$home/bin"
trap - EXIT
echo "MinIO installed: $home/bin/minio"
