#!/usr/bin/env bash
# Installs the Debian packages Kite needs, only when missing (idempotent; runs as root on CI).
set -euo pipefail
need=()
for pkg in libfaiss-dev libopenblas-dev g++ make python3 python3-venv etcd-server openjdk-17-jre-headless maven prometheus chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
