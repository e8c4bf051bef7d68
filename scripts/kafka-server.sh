#!/usr/bin/env bash
# Runs a Kafka 3.9 broker+controller (KRaft) on loopback, in the foreground (the java process replaces this shell,
# so its pid is the broker's): a single node by default, or one node of a replicated cluster. Needs
# scripts/install-kafka.sh first.
#
#   scripts/kafka-server.sh --data-dir DIR --port PORT --controller-port PORT [--heap 512m] [--fast-start]
#                           [--node-id N --voters 1@127.0.0.1:P1,2@127.0.0.1:P2,... --cluster-id ID --replicas R]
#                           [--sasl-port PORT --sasl-user NAME --sasl-password PW]
#                           [--ssl-port PORT --ssl-keystore PEM --ssl-truststore PEM [--ssl-client-auth]]
#
# --sasl-port adds a SASL_PLAINTEXT listener beside the PLAINTEXT one, with mechanisms PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512 for one user (its SCRAM credentials are written when the storage is first formatted).
# --ssl-port adds an SSL (TLS) listener: --ssl-keystore is one PEM file with the broker's private key (unencrypted
# PKCS#8) and certificate, --ssl-truststore the CA's PEM; --ssl-client-auth requires client certificates.
#
# --voters makes this node one of several combined broker+controller nodes: every node gets the same --voters (the
# controller quorum), the same --cluster-id (its storage is formatted with it) and its own --node-id. --replicas R
# (default 1) is the replication factor of the topics the brokers create (default.replication.factor, so also Kite's
# WAL topics) and of the internal ones; with R >= 3, min.insync.replicas is 2, so an acks=all append is on two
# brokers before it is acknowledged and one broker may fail without losing it or stopping appends.
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
data="" port="" cport="" node=1 voters="" cluster_id="" replicas=1 heap="512m" fast=0 sport="" suser="" spass="" tport="" tkeystore="" ttrust="" tclient=none
while (($#)); do
  case "$1" in
    --data-dir) data="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --controller-port) cport="$2"; shift 2 ;;
    --heap) heap="$2"; shift 2 ;;
    --node-id) node="$2"; shift 2 ;;
    --voters) voters="$2"; shift 2 ;;
    --cluster-id) cluster_id="$2"; shift 2 ;;
    --replicas) replicas="$2"; shift 2 ;;
    --fast-start) fast=1; shift ;;
    --sasl-port) sport="$2"; shift 2 ;;
    --sasl-user) suser="$2"; shift 2 ;;
    --sasl-password) spass="$2"; shift 2 ;;
    --ssl-port) tport="$2"; shift 2 ;;
    --ssl-keystore) tkeystore="$2"; shift 2 ;;
    --ssl-truststore) ttrust="$2"; shift 2 ;;
    --ssl-client-auth) tclient=required; shift ;;
    *) echo "kafka-server.sh: unknown argument $1 (expected --data-dir, --port, --controller-port, --heap, --node-id, --voters, --cluster-id, --replicas, --fast-start, --sasl-port, --sasl-user, --sasl-password, --ssl-port, --ssl-keystore, --ssl-truststore, --ssl-client-auth)" >&2; exit 2 ;;
  esac
done
if [ -z "$data" ] || [ -z "$port" ] || [ -z "$cport" ]; then
  echo "usage: kafka-server.sh --data-dir DIR --port PORT --controller-port PORT [--heap 512m] [--fast-start]" >&2; exit 2
fi
if [ ! -f "$home/libs/.installed" ]; then
  echo "kafka-server.sh: no Kafka in $home/libs; run scripts/install-kafka.sh first" >&2; exit 1
fi
if [ -n "$sport" ] && { [ -z "$suser" ] || [ -z "$spass" ]; }; then
  echo "kafka-server.sh: --sasl-port needs --sasl-user and --sasl-password" >&2; exit 2
fi
if [ -n "$voters" ] && [ -z "$cluster_id" ]; then
  echo "kafka-server.sh: --voters needs --cluster-id (the same for every node)" >&2; exit 2
fi
if ! [[ "$node" =~ ^[0-9]+$ ]] || ! [[ "$replicas" =~ ^[1-9][0-9]*$ ]]; then
  echo "kafka-server.sh: --node-id must be a number >= 0 and --replicas a number >= 1" >&2; exit 2
fi
# Several controllers: a lost active controller is noticed after 1 s without its answer (2 s by default) and the
# next is elected within 0.5–1 s (1–2 s), so the partitions it led move sooner; a busy machine may see a spurious
# election now and then, which costs a moment of appends, nothing more. One node has no one to elect.
quorum_props=""
if [ -n "$voters" ]; then
  quorum_props="controller.quorum.fetch.timeout.ms=1000
controller.quorum.election.timeout.ms=500"
fi
voters="${voters:-$node@127.0.0.1:$cport}"
# Two in-sync replicas once there are three: one broker may be lost without refusing acks=all appends.
min_isr=1
if ((replicas >= 3)); then min_isr=2; fi
mkdir -p "$data"
data="$(cd "$data" && pwd)"

if [ -n "$tport" ] && { [ -z "$tkeystore" ] || [ -z "$ttrust" ]; }; then
  echo "kafka-server.sh: --ssl-port needs --ssl-keystore and --ssl-truststore" >&2; exit 2
fi
listeners="PLAINTEXT://127.0.0.1:$port"
sasl_props=""
ssl_props=""
if [ -n "$tport" ]; then
  listeners="$listeners,SSL://127.0.0.1:$tport"
  ssl_props="listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$tkeystore
listener.name.ssl.ssl.truststore.type=PEM
listener.name.ssl.ssl.truststore.location=$ttrust
listener.name.ssl.ssl.client.auth=$tclient"
fi
if [ -n "$sport" ]; then
  listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sport"
  sasl_props="sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$suser=\"$spass\";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
fi

# Rewritten on every start so a restart may change ports; the storage (and so the cluster id) is kept.
cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$voters
$quorum_props
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT
$sasl_props
$ssl_props
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/kraft
# --replicas replicas of every topic (one on a single node), and one partition where that is allowed.
default.replication.factor=$replicas
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_isr
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
  while [ -z "$cluster_id" ] || [ "${cluster_id:0:1}" = "-" ]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  scram=()
  if [ -n "$sport" ]; then
    scram=(--add-scram "SCRAM-SHA-256=[name=$suser,password=$spass]" --add-scram "SCRAM-SHA-512=[name=$suser,password=$spass]")
  fi
  java "${jvm[@]/-XX:ArchiveClassesAtExit=*/-Xshare:auto}" -cp "$cp" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$data/server.properties" --ignore-formatted "${scram[@]}"
fi
exec java "${jvm[@]}" -cp "$cp" kafka.Kafka "$data/server.properties"
