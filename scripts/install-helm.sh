#!/usr/bin/env bash
# Builds the Helm 3 CLI from source through the Go module proxy into .cache/bin/helm (no prebuilt binary can be
# fetched here). Used by the chart test (test/helm) to run `helm lint` and `helm template` on helm/kite.
# Idempotent: does nothing when .cache/bin/helm already reports the pinned version. The first build takes a few
# minutes on two cores; later runs reuse Go's module and build caches.
set -euo pipefail
HELM_VERSION="v3.22.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="${KITE_HELM_BIN_DIR:-$root/.cache/bin}"
helm="$bindir/helm"

installed_version() {
  [ -x "$helm" ] && "$helm" version --template '{{.Version}}' 2>/dev/null || true
}

if [ "$(installed_version)" = "$HELM_VERSION" ]; then
  exit 0
fi

command -v go >/dev/null || { echo "install-helm: Go is needed to build Helm (go install); install Go 1.26+" >&2; exit 1; }

# One builder at a time (parallel test workers or make targets may all find helm missing).
mkdir -p "$bindir"
exec 9>"$bindir/.helm-install.lock"
flock 9
if [ "$(installed_version)" = "$HELM_VERSION" ]; then
  exit 0
fi

echo "building helm $HELM_VERSION from the Go module proxy into $bindir (takes a few minutes the first time)"
start=$(date +%s)
mod="helm.sh/helm/v3@$HELM_VERSION"
# The release Makefile stamps the version and the Kubernetes version helm reports to templates
# (.Capabilities.KubeVersion) from the client-go it is built with; do the same so `helm version` names the pin.
go mod download "$mod"
moddir="$(go env GOMODCACHE)/helm.sh/helm/v3@$HELM_VERSION"
clientgo="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$moddir/go.mod")"   # e.g. v0.37.0
k8s_minor="$(echo "$clientgo" | cut -d. -f2)"
ldflags="-w -s -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"

tmp="$(mktemp -d "$bindir/helm.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
mv -f "$tmp/helm" "$helm"
got="$(installed_version)"
[ "$got" = "$HELM_VERSION" ] || { echo "install-helm: built helm reports '$got', expected $HELM_VERSION" >&2; exit 1; }
echo "helm $HELM_VERSION installed at $helm in $(( $(date +%s) - start ))s"
