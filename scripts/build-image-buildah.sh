#!/usr/bin/env bash
# Builds deploy/Dockerfile with buildah (Debian's package: no Docker engine, no daemon; vfs storage and chroot
# isolation, so it also works inside a container without overlayfs or user namespaces), then checks the image:
# `kite --version`, and `kite standalone` answering /healthz. Run as root from anywhere; needs `apt-get install
# buildah mmdebstrap` (Debian bookworm).
#
#   bash scripts/build-image-buildah.sh [base] [build] [smoke]     (no argument: all three)
#
# base:  for hosts that cannot reach Docker Hub, a stand-in for node:20-bookworm and node:20-bookworm-slim made here:
#        Debian bookworm (mmdebstrap, minbase, from the apt mirror) with this host's Node 20 placed as the official
#        images place it (/usr/local/bin/node, headers in /usr/local/include/node, npm) and their `node` user
#        (1000:1000). The host's extra CA certificates (/usr/local/share/ca-certificates) go in too, and
#        NODE_EXTRA_CA_CERTS points Node at the system bundle, for networks that inspect TLS. Skip this step where
#        Docker Hub is reachable: the build then pulls the real images.
# build: buildah bud of deploy/Dockerfile into $KITE_IMAGE (default localhost/kite:local), never pulling when a
#        local base exists (--pull=never after `base`).
# smoke: the image's `kite --version`, then `kite standalone` on loopback ports until /healthz answers 200.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${KITE_IMAGE:-localhost/kite:local}"
NODE_MAJOR="${NODE_MAJOR:-20}"
MIRROR="${KITE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${KITE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
SMOKE_PORT="${KITE_SMOKE_PORT:-29530}"
SMOKE_METRICS_PORT="${KITE_SMOKE_METRICS_PORT:-29091}"
bah=(buildah --storage-driver vfs)
export BUILDAH_ISOLATION=chroot

log() { echo "[$(date -u +%H:%M:%S)] $*"; }

step_base() {
  command -v mmdebstrap >/dev/null || { echo "build-image-buildah: mmdebstrap missing (apt-get install mmdebstrap)" >&2; exit 1; }
  local node; node="$(command -v node)"
  [ "$("$node" -p 'process.versions.node.split(".")[0]')" = "$NODE_MAJOR" ] || { echo "build-image-buildah: host node is not Node $NODE_MAJOR" >&2; exit 1; }
  local prefix; prefix="$(dirname "$(dirname "$(readlink -f "$node")")")"   # /usr for Debian/NodeSource packages
  [ -f "$prefix/include/node/node.h" ] || { echo "build-image-buildah: no Node headers in $prefix/include/node" >&2; exit 1; }
  [ -d "$prefix/lib/node_modules/npm" ] || { echo "build-image-buildah: no npm in $prefix/lib/node_modules" >&2; exit 1; }
  local work; work="$(mktemp -d)"
  log "base: mmdebstrap bookworm (minbase) with Node $("$node" --version) from $prefix"
  mmdebstrap --variant=minbase --include=ca-certificates --format=tar \
    --customize-hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/usr/local/include\" \"\$1/usr/local/lib/node_modules\"" \
    --customize-hook="cp -a '$prefix/bin/node' \"\$1/usr/local/bin/node\"" \
    --customize-hook="cp -a '$prefix/include/node' \"\$1/usr/local/include/node\"" \
    --customize-hook="cp -a '$prefix/lib/node_modules/npm' \"\$1/usr/local/lib/node_modules/npm\"" \
    --customize-hook="ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\"" \
    --customize-hook="ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\"" \
    --customize-hook="chroot \"\$1\" groupadd --gid 1000 node" \
    --customize-hook="chroot \"\$1\" useradd --uid 1000 --gid node --shell /bin/bash --create-home node" \
    --customize-hook="if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then cp /usr/local/share/ca-certificates/*.crt \"\$1/usr/local/share/ca-certificates/\" && chroot \"\$1\" update-ca-certificates; fi" \
    bookworm "$work/rootfs.tar" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" "deb $SECURITY_MIRROR bookworm-security main"
  log "base: importing into buildah (vfs)"
  local ctr; ctr="$("${bah[@]}" from scratch)"
  "${bah[@]}" add "$ctr" "$work/rootfs.tar" /
  rm -rf "$work"
  "${bah[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd node "$ctr"
  "${bah[@]}" commit --rm "$ctr" "docker.io/library/node:$NODE_MAJOR-bookworm" >/dev/null
  "${bah[@]}" tag "docker.io/library/node:$NODE_MAJOR-bookworm" "docker.io/library/node:$NODE_MAJOR-bookworm-slim"
  log "base: docker.io/library/node:$NODE_MAJOR-bookworm and -slim are local stand-ins"
}

step_build() {
  log "build: buildah bud -f deploy/Dockerfile -t $IMAGE"
  "${bah[@]}" bud --pull=never --layers=false --network host \
    -f "$root/deploy/Dockerfile" --ignorefile "$root/deploy/Dockerfile.dockerignore" -t "$IMAGE" "$root"
  log "build: done"
  "${bah[@]}" images "$IMAGE"
}

step_smoke() {
  local ctr; ctr="$("${bah[@]}" from --pull=never "$IMAGE")"
  log "smoke: kite --version"
  "${bah[@]}" run "$ctr" -- node /opt/kite/bin/kite --version
  log "smoke: kite standalone on 127.0.0.1:$SMOKE_PORT, /healthz on :$SMOKE_METRICS_PORT"
  "${bah[@]}" run --network host --env KITE_PROXY_PORT="$SMOKE_PORT" --env KITE_PROXY_METRICS_PORT="$SMOKE_METRICS_PORT" \
    --env KITE_COMMON_LISTEN_HOST=127.0.0.1 --env KITE_COMMON_METRICS_LISTEN_HOST=127.0.0.1 \
    "$ctr" -- node /opt/kite/bin/kite standalone >"${TMPDIR:-/tmp}/kite-image-smoke.log" 2>&1 &
  local pid=$! ok=0 deadline=$((SECONDS + 120))
  while ((SECONDS < deadline)); do
    if curl -fsS "http://127.0.0.1:$SMOKE_METRICS_PORT/healthz"; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  echo
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # The server this step started, should it outlive buildah's process: found by its port, stopped by its pid.
  local left; left="$(ss -ltnpH "sport = :$SMOKE_METRICS_PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)"
  if [ -n "$left" ]; then kill -TERM "$left"; fi
  "${bah[@]}" rm "$ctr" >/dev/null
  if ((ok)); then
    log "smoke: /healthz answered"
  else
    echo "build-image-buildah: standalone did not answer /healthz; its log:" >&2
    cat "${TMPDIR:-/tmp}/kite-image-smoke.log" >&2
    exit 1
  fi
}

steps=("$@")
((${#steps[@]})) || steps=(base build smoke)
for s in "${steps[@]}"; do
  start=$SECONDS
  case "$s" in
    base) step_base ;;
    build) step_build ;;
    smoke) step_smoke ;;
    *) echo "build-image-buildah: unknown step $s (base, build, smoke)" >&2; exit 2 ;;
  esac
  log "$s took $((SECONDS - start))s"
done
