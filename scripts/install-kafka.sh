#!/usr/bin/env bash
# Installs an Apache Kafka 3.9 broker (KRaft, no ZooKeeper) for Kite's cluster mode and integration tests.
# The broker's runtime classpath is resolved from Maven Central with scripts/kafka/pom.xml into
# $KITE_KAFKA_HOME/libs (default .cache/kafka/libs); nothing else is downloaded. Idempotent: does nothing when the
# libs for this pom are there. Then builds a class-data-sharing archive ($KITE_KAFKA_HOME/kafka.jsa) by starting
# the broker once, which takes a few hundred ms off every later broker start. Run scripts/kafka-server.sh to start one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${KITE_KAFKA_HOME:-$root/.cache/kafka}"
pom="$root/scripts/kafka/pom.xml"

# Java 17+ and Maven from Debian when missing (a fresh machine; we run as root there).
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# One installer at a time (parallel test workers may all find the broker missing).
mkdir -p "$home"
exec 9>"$home/.install.lock"
flock 9

stamp="$(sha256sum "$pom" | cut -c1-16)-$(java -version 2>&1 | head -1 | tr -cd '[:alnum:]._-')"
if [ -f "$home/libs/.installed" ] && [ "$(cat "$home/libs/.installed")" = "$stamp" ] && [ -f "$home/kafka.jsa" ]; then
  exit 0
fi

if [ ! -f "$home/libs/.installed" ] || [ "$(cat "$home/libs/.installed")" != "$stamp" ]; then
  echo "resolving the Kafka broker from Maven Central into $home/libs"
  tmp="$(mktemp -d "$home/libs.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # -q prints only errors; strip the colour codes Debian's Maven emits even in batch mode.
  mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g'
  ls "$tmp"/kafka_2.13-*.jar >/dev/null
  echo "$stamp" >"$tmp/.installed"
  rm -rf "$home/libs" "$home/kafka.jsa"
  chmod 755 "$tmp"
  mv "$tmp" "$home/libs"
  trap - EXIT
fi

# Class-data-sharing archive: start a throwaway broker with -XX:ArchiveClassesAtExit, stop it once it serves.
if [ ! -f "$home/kafka.jsa" ]; then
  echo "building the broker's class-data-sharing archive"
  work="$(mktemp -d)"
  trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  cport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  KITE_KAFKA_CDS_DUMP="$home/kafka.jsa.tmp" bash "$root/scripts/kafka-server.sh" \
    --data-dir "$work" --port "$port" --controller-port "$cport" >"$work/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 120); do
    grep -q "Kafka Server started" "$work/server.log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/out.log"; echo "kafka failed to start" >&2; exit 1; }
    sleep 0.5
  done
  kill -TERM "$pid"; wait "$pid" || true
  if [ -s "$home/kafka.jsa.tmp" ]; then mv "$home/kafka.jsa.tmp" "$home/kafka.jsa"; else
    echo "warning: no class-data-sharing archive was written; the broker starts without one" >&2
    : >"$home/kafka.jsa"
  fi
fi
