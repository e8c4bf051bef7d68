#!/usr/bin/env bash
# Builds faiss with AVX2 (FAISS_OPT_LEVEL=avx2) from Debian's source of the installed libfaiss-dev, once, into
# .cache/faiss-avx2/<Debian source version>/{lib/libfaiss_avx2.a,include/faiss/...}. packages/faiss/binding.gyp
# links that archive when it is there and the CPU has AVX2, FMA, F16C and POPCNT (scripts/faiss-link.js), and
# Debian's generic libfaiss otherwise.
#
# Idempotent, and never fails the caller: on a CPU without AVX2, with KITE_FAISS_SIMD=off, or when any step fails
# (source download, cmake, compile, timeout), it prints a warning and exits 0, and the addon links Debian's generic
# library. A failure leaves .cache/faiss-avx2/build-<version>.failed, and later runs only warn until it is removed.
# Static library only: no tests, no Python, no GPU, no C API. faiss 1.7.3 has no AVX-512 code paths (its
# CMakeLists knows "generic" and "avx2"), so AVX2 is the best level it offers.
#
# Environment: KITE_FAISS_SIMD (auto | off; default auto), KITE_FAISS_SIMD_TIMEOUT (seconds for the compile,
# default 2400), KITE_FAISS_SIMD_JOBS (parallel compile jobs, default: cores).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
warn() { echo "WARNING: faiss AVX2 build: $*; the faiss addon links Debian's generic libfaiss (slower searches and builds)" >&2; }

if [ "${KITE_FAISS_SIMD:-auto}" = off ]; then
  echo "faiss AVX2 build: skipped (KITE_FAISS_SIMD=off); the faiss addon links Debian's generic libfaiss"
  exit 0
fi
for flag in avx2 fma f16c popcnt; do
  if ! grep -qw "$flag" /proc/cpuinfo; then
    echo "faiss AVX2 build: skipped, this CPU has no $flag; the faiss addon links Debian's generic libfaiss"
    exit 0
  fi
done
version="$(dpkg-query -W -f='${source:Version}' libfaiss-dev 2>/dev/null)"
if [ -z "$version" ]; then
  warn "libfaiss-dev is not installed (run scripts/install-system-deps.sh first)"
  exit 0
fi
dest="$root/.cache/faiss-avx2/$version"
if [ -f "$dest/lib/libfaiss_avx2.a" ]; then
  exit 0
fi

# A failed build is not retried on every `make build` (it costs minutes): remove the marker to try again.
failed="$root/.cache/faiss-avx2/build-$version.failed"
if [ -f "$failed" ]; then
  warn "an earlier build failed ($(cat "$failed"); remove that file to retry)"
  exit 0
fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
work="$root/.cache/faiss-avx2/build-$version"
log="$root/.cache/faiss-avx2/build-$version.log"
mkdir -p "$root/.cache/faiss-avx2"
echo "faiss AVX2 build: building faiss $version from Debian's source into $dest (a one-off of several minutes; log: $log)"

build() {
  set -e
  # Build-only tools: cmake, and dpkg-dev for `apt-get source` (dpkg-source).
  local need=()
  for pkg in cmake dpkg-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  local updated=0
  if ((${#need[@]})); then
    $SUDO apt-get update -qq
    updated=1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  fi
  # Source entries (deb-src) for Debian's archive, added once; the machine's sources may list binaries only.
  if ! grep -rqsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    local codename
    codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"
    printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' "Suites: $codename $codename-updates" \
      'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
      $SUDO tee /etc/apt/sources.list.d/kite-debian-src.sources >/dev/null
    updated=0
  fi
  ((updated)) || $SUDO apt-get update -qq
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  # The exact source version of the installed package, with Debian's patches applied.
  apt-get source -qq "faiss=$version"
  local src
  src="$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'faiss-*' | head -n1)"
  [ -n "$src" ]
  local t0=$SECONDS jobs="${KITE_FAISS_SIMD_JOBS:-$(nproc)}"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DFAISS_OPT_LEVEL=avx2 \
    -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=OFF -DBUILD_TESTING=OFF \
    -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBLA_VENDOR=OpenBLAS
  timeout "${KITE_FAISS_SIMD_TIMEOUT:-2400}" cmake --build "$work/build" --target faiss_avx2 -j "$jobs"
  local seconds=$((SECONDS - t0))
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/lib" "$dest.tmp/include"
  cp "$work/build/faiss/libfaiss_avx2.a" "$dest.tmp/lib/"
  (cd "$src" && find faiss -name '*.h' -not -path 'faiss/gpu/*' -not -path 'faiss/python/*' -exec cp --parents {} "$dest.tmp/include/" \;)
  printf 'faiss %s, FAISS_OPT_LEVEL=avx2 (-mavx2 -mfma -mf16c -mpopcnt), CMAKE_BUILD_TYPE=Release, %s jobs, %s s\n' \
    "$version" "$jobs" "$seconds" >"$dest.tmp/BUILD-INFO"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "faiss AVX2 build: done in ${seconds} s ($dest)"
}

# Not `if (build)`: bash ignores `set -e` inside a command whose status a condition tests.
(build) >"$log" 2>&1
status=$?
if [ "$status" = 0 ] && [ -f "$dest/lib/libfaiss_avx2.a" ]; then
  tail -n1 "$log"
  rm -rf "$work"
else
  tail -n 20 "$log" >&2
  echo "$(date -u +%FT%TZ), status $status, log $log" >"$failed"
  warn "it failed with status $status (full log: $log; it is not retried while $failed exists)"
  rm -rf "$work" "$dest.tmp" "$dest"
fi
exit 0
