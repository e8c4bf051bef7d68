#!/usr/bin/env bash
# Runs a single-node Kafka 3.9 broker+controller (KRaft) on loopback, in the foreground (the java process replaces
# this shell, so its pid is the broker's). Needs scripts/install-kafka.sh first.
#
#   scripts/kafka-server.sh --data-dir DIR --port PORT --controller-port PORT [--heap 512m] [--fast-start]
#
# --fast-start trades throughput for start time (tests): the JIT stops at C1, which starts the broker ~0.5 s sooner
# but serves about a third of the appends per second under load.
# DIR gets server.properties, log4j.properties, the KRaft storage (DIR/kraft, formatted on first start with a new
# cluster id) and the broker's log (DIR/server.log); warnings and errors also go to stdout. Environment:
#   KITE_KAFKA_HOME      where install-kafka.sh put libs/ (default <repo>/.cache/kafka)
#   KITE_KAFKA_JVM_OPTS  extra JVM flags, appended
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${KITE_KAFKA_HOME:-$root/.cache/kafka}"
data="" port="" cport="" heap="512m" fast=0
while (($#)); do
  case "$1" in
    --data-dir) data="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --controller-port) cport="$2"; shift 2 ;;
    --heap) heap="$2"; shift 2 ;;
    --fast-start) fast=1; shift ;;
    *) echo "kafka-server.sh: unknown argument $1 (expected --data-dir, --port, --controller-port, --heap, --fast-start)" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$port" ] || [ -z "$cport" ]; then
  echo "usage: kafka-server.sh --data-dir DIR --port PORT --controller-port PORT [--heap 512m] [--fast-start]" >&2; exit 2
fi
if [ ! -f "$home/libs/.installed" ]; then
  echo "kafka-server.sh: no Kafka in $home/libs; run scripts/install-kafka.sh first" >&2; exit 1
fi
mkdir -p "$data"
data="$(cd "$data" && pwd)"

# Rewritten on every start so a restart may change ports; the storage (and so the cluster id) is kept.
cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/kraft
# One node: every internal topic has one replica, and one partition where that is allowed.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
# Kite creates its topics explicitly (one per collection, a partition per shard).
auto.create.topics.enable=false
num.partitions=1
delete.topic.enable=true
auto.leader.rebalance.enable=false
group.initial.rebalance.delay.ms=0
# After a crash the controller refuses the restarted broker until the old session expires (9 s by default).
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# Large WAL messages (big inserts) fit; the client splits batches below this.
message.max.bytes=67108864
replica.fetch.max.bytes=67108864
socket.request.max.bytes=134217728
# Small footprint for a laptop or a 2-core CI machine.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.cleaner.io.buffer.size=524288
log.segment.bytes=134217728
log.retention.hours=168
PROPS

cat >"$data/log4j.properties" <<PROPS
log4j.rootLogger=INFO, stdout, file
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.Threshold=WARN
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$data/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.clients=WARN
PROPS

cp="$home/libs/*"
# A small JVM that starts fast: serial GC (one broker, small heap), class-data sharing (an AppCDS archive when
# install-kafka.sh made one), no perf-data file.
jvm=(-Xmx"$heap" -Xms64m -Xss512k -XX:+UseSerialGC -XX:-UsePerfData
  -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Dlog4j.configuration="file:$data/log4j.properties")
if ((fast)); then jvm+=(-XX:TieredStopAtLevel=1); fi
if [ -n "${KITE_KAFKA_CDS_DUMP:-}" ]; then
  jvm+=(-XX:ArchiveClassesAtExit="$KITE_KAFKA_CDS_DUMP")
elif [ -s "$home/kafka.jsa" ]; then
  jvm+=(-XX:SharedArchiveFile="$home/kafka.jsa" -Xshare:auto)
fi
# shellcheck disable=SC2206
jvm+=(${KITE_KAFKA_JVM_OPTS:-})

if [ ! -f "$data/kraft/meta.properties" ]; then
  cluster_id=""
  while [ -z "$cluster_id" ] || [ "${cluster_id:0:1}" = "-" ]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  java "${jvm[@]/-XX:ArchiveClassesAtExit=*/-Xshare:auto}" -cp "$cp" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$data/server.properties" --ignore-formatted
fi
exec java "${jvm[@]}" -cp "$cp" kafka.Kafka "$data/server.properties"
