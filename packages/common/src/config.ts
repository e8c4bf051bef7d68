import * as fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { KiteError } from './errors';

/**
 * Unknown keys are errors (a misspelt key would otherwise be ignored silently).
 *
 * Kite's configuration: one schema, one documented default per key. Sources, later wins:
 * defaults < YAML file (--config) < KITE_* environment variables < command-line flags.
 * An environment variable names a key by its path, upper snake case: `proxy.port` is `KITE_PROXY_PORT`,
 * `datanode.segmentMaxRows` is `KITE_DATANODE_SEGMENT_MAX_ROWS`.
 */
const port = z.number().int().min(0).max(65535);

export const ConfigSchema = z
  .object({
    common: z
      .object({
        /** Prefix of every meta store key; two clusters can share one etcd with different roots. */
        rootPath: z.string().min(1).default('kite'),
        /** Where embedded backends, logs and local object storage live. */
        dataDir: z.string().min(1).default('./.kite/data'),
        /** Session lease TTL. Short means fast failure detection; too short and GC pauses look like death. */
        sessionTtlSeconds: z.number().int().min(2).max(300).default(5),
        /** Address other processes use to reach this one. Loopback unless deployed. */
        advertiseHost: z.string().default('127.0.0.1'),
        /**
         * Address the public Milvus port binds to (the proxy's gRPC server). 127.0.0.1 answers only this machine;
         * 0.0.0.0 (the container image, the Helm chart) every interface. Internal ports bind internal.listenHost,
         * the HTTP server for /metrics /healthz /ready binds common.metricsListenHost.
         */
        listenHost: z.string().default('127.0.0.1'),
        /**
         * Address the HTTP server for /metrics /healthz /ready binds to, apart from the public port: loopback keeps
         * metrics on this machine; a scraper or a probe from elsewhere needs an interface it reaches (the pod IP or
         * 0.0.0.0 in the chart and the image).
         */
        metricsListenHost: z.string().default('127.0.0.1'),
        /**
         * How long a graceful stop (SIGTERM/SIGINT) may take in all: components hand their work over, revoke their
         * sessions and close their servers within it; what overruns is left to the process exit (which is then
         * non-zero). Longer gives a query node more time to see its segments move; keep it below the orchestrator's
         * kill deadline (helm's terminationGracePeriodSeconds, 60 s) so the process exits on its own terms.
         */
        stopTimeoutMs: z.number().int().min(1000).default(50000),
        /**
         * How long undoing a failed start may take in all (sessions revoked, stores closed and unlocked) before the
         * process exits anyway. Shorter exits sooner; too short and a store lock can be left for the next start.
         */
        startUnwindTimeoutMs: z.number().int().min(100).default(15000),
      })
      .strict()
      .default({}),
    internal: z
      .object({
        /**
         * Address the internal gRPC ports (coordinator, query and data nodes) bind to. Loopback for standalone and
         * for a cluster on one machine; in a cluster spread over hosts, the address other components dial
         * (common.advertiseHost, the pod IP in the chart), never the public interface: these ports are not for
         * clients.
         */
        listenHost: z.string().default('127.0.0.1'),
        /**
         * Cluster secret: sent with every internal call and compared (constant time) by every internal server,
         * which refuses a call without it (UNAUTHENTICATED). All processes of a cluster need the same value (from a
         * Secret in the chart). Empty: standalone uses a random secret of its own; a cluster role accepts internal
         * calls from anyone who reaches its port (a warning at start) - set it for any deployment beyond one host.
         */
        secret: z.string().default(''),
        /**
         * Standalone: calls between the components of the one process (proxy to query node, query node to query
         * node, proxy and nodes to the coordinator) go straight to the called component's handler, with the
         * deadlines, errors and metrics of a gRPC call but without HTTP/2 and protobuf, which cost more than half
         * the CPU of a small read. false: they go over loopback gRPC as in a cluster (e.g. to compare). A cluster
         * process always calls the others over gRPC.
         */
        inProcessCalls: z.boolean().default(true),
      })
      .strict()
      .default({}),
    tls: z
      .object({
        /**
         * TLS on the public Milvus port (Milvus's tls.mode): 0 plaintext; 1 one-way TLS (the server presents
         * tls.serverPemPath/serverKeyPath); 2 mutual TLS (clients must also present a certificate signed by the CA
         * in tls.caPemPath, others are refused). Internal ports are unaffected (see internal.secret).
         */
        mode: z.number().int().min(0).max(2).default(0),
        /** Server certificate chain (PEM) for tls.mode 1 and 2. */
        serverPemPath: z.string().default(''),
        /** Server private key (PEM) for tls.mode 1 and 2. */
        serverKeyPath: z.string().default(''),
        /** CA certificate(s) (PEM) that client certificates must be signed by, for tls.mode 2. */
        caPemPath: z.string().default(''),
      })
      .strict()
      .superRefine((t, ctx) => {
        const need = (key: 'serverPemPath' | 'serverKeyPath' | 'caPemPath', why: string): void => {
          if (t[key] === '') ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: `tls.mode ${t.mode} ${why}: set tls.${key} (env ${envName(`tls.${key}`)})` });
        };
        if (t.mode >= 1) {
          need('serverPemPath', 'needs the server certificate');
          need('serverKeyPath', 'needs the server private key');
        }
        if (t.mode === 2) need('caPemPath', 'needs the CA that signs client certificates');
      })
      .default({}),
    meta: z
      .object({
        /** `embedded` (a file-backed store under dataDir, one process) or `etcd`. */
        type: z.enum(['embedded', 'etcd']).default('embedded'),
        /** etcd endpoints when type is `etcd`. */
        etcdEndpoints: z.array(z.string()).default(['http://127.0.0.1:2379']),
        /**
         * etcd user (Milvus's etcd.auth.userName) when etcd has auth enabled; empty connects without a user. The
         * password goes in etcdPassword, best from a Secret through KITE_META_ETCD_PASSWORD rather than the file.
         */
        etcdUserName: z.string().default(''),
        /** Password of etcdUserName (Milvus's etcd.auth.password); empty when etcdUserName is empty. */
        etcdPassword: z.string().default(''),
        /**
         * CA certificate (PEM file) that signed etcd's server certificate, for `https://` endpoints with a private CA
         * (Milvus's etcd.ssl.tlsCACert); empty trusts the system CAs. Setting it, or a client cert, requires https.
         */
        etcdCaPemPath: z.string().default(''),
        /** Client certificate (PEM file) for etcd's `--client-cert-auth` (Milvus's etcd.ssl.tlsCert); with etcdKeyPemPath. */
        etcdCertPemPath: z.string().default(''),
        /** Private key (PEM file) of etcdCertPemPath (Milvus's etcd.ssl.tlsKey). */
        etcdKeyPemPath: z.string().default(''),
        /**
         * The active coordinator compacts etcd's revision history this often (0: never; then etcd's own
         * --auto-compaction-* must bound it). Without compaction etcd keeps every old value of every key until its
         * backend quota (quota-backend-bytes) fills and it refuses writes. The embedded store bounds its own
         * history; the schedule trims it too.
         */
        etcdCompactionIntervalSeconds: z.number().int().min(0).default(300),
        /**
         * Revisions kept behind the current one at each compaction. A watcher that falls further behind (a process
         * paused or cut off that long) re-lists its prefix instead of resuming; more keeps more history in etcd.
         */
        etcdCompactionRetainRevisions: z.number().int().min(1).default(10000),
      })
      .strict()
      .default({}),
    wal: z
      .object({
        /** `embedded` (a file log per channel under dataDir) or `kafka`. */
        type: z.enum(['embedded', 'kafka']).default('embedded'),
        /** Kafka bootstrap brokers when type is `kafka`. */
        kafkaBrokers: z.array(z.string()).default(['127.0.0.1:9092']),
        /**
         * How Kite talks to the brokers (Milvus's kafka.securityProtocol): PLAINTEXT, SASL_PLAINTEXT (user and
         * password, unencrypted), SSL (TLS) or SASL_SSL (both; what managed Kafka services want). The listener the
         * brokers expose decides; PLAINTEXT keeps today's behaviour.
         */
        kafkaSecurityProtocol: z.enum(['PLAINTEXT', 'SASL_PLAINTEXT', 'SSL', 'SASL_SSL']).default('PLAINTEXT'),
        /**
         * SASL mechanism for SASL_* protocols (Milvus's kafka.saslMechanisms): PLAIN sends the password (only safe over
         * TLS); SCRAM-SHA-256/512 prove it without sending it, but the user must be created as a SCRAM user.
         */
        kafkaSaslMechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).default('PLAIN'),
        /** SASL user (Milvus's kafka.saslUsername), required by the SASL_* protocols. */
        kafkaSaslUsername: z.string().default(''),
        /** SASL password (Milvus's kafka.saslPassword), best from a Secret through KITE_WAL_KAFKA_SASL_PASSWORD. */
        kafkaSaslPassword: z.string().default(''),
        /** CA certificate (PEM file) of the brokers for SSL/SASL_SSL with a private CA; empty trusts the system CAs. */
        kafkaCaPemPath: z.string().default(''),
        /** Client certificate (PEM file) for brokers that require one (ssl.client.auth=required); with kafkaKeyPemPath. */
        kafkaCertPemPath: z.string().default(''),
        /** Private key (PEM file) of kafkaCertPemPath. */
        kafkaKeyPemPath: z.string().default(''),
        /**
         * How often each subscription's lag (kite_wal_consume_lag_messages) is refreshed: one end-offset read per
         * subscribed channel each time. Shorter shows lag sooner; longer asks the broker less.
         */
        lagIntervalMs: z.number().int().min(100).default(5000),
      })
      .strict()
      .default({}),
    storage: z
      .object({
        /** `local` (a directory) or `s3`. */
        type: z.enum(['local', 's3']).default('local'),
        /** Directory for `local`; defaults to `<dataDir>/objects` when empty. */
        path: z.string().default(''),
        /**
         * Prefix of every object key (Milvus's minio.rootPath), e.g. `kite-a`: objects live under `<rootPath>/` in the
         * bucket (or in that sub-directory of `path`), so several clusters can share one bucket and one cluster's
         * drops never touch another's objects. Empty (the default) keeps the layout of earlier versions, keys at the
         * top of the bucket; changing it on a cluster with data hides that data (move the objects first).
         */
        rootPath: z.string().default(''),
        s3: z
          .object({
            endpoint: z.string().default('http://127.0.0.1:9000'),
            bucket: z.string().default('kite'),
            region: z.string().default('us-east-1'),
            accessKeyId: z.string().default(''),
            secretAccessKey: z.string().default(''),
            forcePathStyle: z.boolean().default(true),
            /**
             * CA certificate (PEM file) for an `https://` endpoint signed by a private CA; empty trusts the system CAs.
             * TLS itself is on when the endpoint starts with https:// (Milvus's minio.useSSL).
             */
            caPemPath: z.string().default(''),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    proxy: z
      .object({
        /** Milvus's public gRPC port. */
        port: port.default(19530),
        /** HTTP port for /metrics, /healthz, /ready. */
        metricsPort: port.default(9091),
        /**
         * Largest gRPC request accepted (Milvus's proxy.grpc.serverMaxRecvSize, 64 MiB): big enough for inserts of
         * tens of thousands of rows, small enough that one request cannot hold gigabytes; larger ones are refused by gRPC.
         */
        maxMessageBytes: z.number().int().min(1 << 20).default(64 << 20),
        /** Largest gRPC response sent (Milvus's serverMaxSendSize, 256 MiB): a query returning more fails instead. */
        maxSendMessageBytes: z.number().int().min(1 << 20).default(256 << 20),
        /**
         * Server-side bound on a search or query (and statistics, which query): the call answers within this long, or
         * the client's own deadline when that is sooner. Longer lets big reads finish; shorter frees clients sooner.
         */
        defaultTimeoutMs: z.number().int().min(100).default(30000),
        /**
         * Server-side bound on every other call (writes, DDL, flush): it answers within this long (or the client's
         * deadline), with a retriable error naming what did not answer (e.g. the WAL channel) when out of time.
         */
        writeTimeoutMs: z.number().int().min(100).default(60000),
        /**
         * Most hits one search may return, nq x (limit + offset): bounds the memory and time a single request can take
         * (about 3 s of proxy and node CPU and 8 MB of reply per million hits with ids alone, more with output fields;
         * vectors in the output are bounded by maxSendMessageBytes). The default admits nq 16384 x limit 16 or nq 1 x
         * limit 16384. Milvus bounds nq and topk at 16384 each, not their product.
         */
        maxSearchResults: z.number().int().min(16384).default(1 << 18),
        /**
         * Longest filter expression (the `expr`/`filter` of Search, Query, Delete), in characters; a longer one is
         * refused before it is parsed. Parsing runs on the proxy's event loop, about 0.3-0.5 µs per character for
         * `id in [...]` lists and 1-2 µs for other expressions, and every other request waits meanwhile: 1 MiB holds
         * them for up to a second or two, and admits id lists of some 60,000 int64 keys (what the SDKs write for
         * delete/get by ids). Longer lists fit as template parameters (`id in {ids}`), which skip the parser. Milvus
         * has no separate limit: only its gRPC message size bounds the filter.
         */
        maxFilterLength: z.number().int().min(1024).default(1 << 20),
        /**
         * Filters the proxy keeps parsed and checked, least recently used first out, keyed by the filter text, the
         * collection's schema and the names and kinds of its template parameters (their values are bound per
         * request). A hit skips the parser (0.1-0.2 ms of the proxy's event loop for a short filter, more for
         * long ones); a schema change (add, alter or rename a field) keys new entries. Filters longer than 4096
         * characters are not kept; an entry takes about 3 KB of heap for a short filter and up to about 50 KB
         * for a 4096-character id list, so the default bounds the cache at about 50 MB. 0: no cache.
         */
        filterCacheSize: z.number().int().min(0).default(1000),
        /**
         * Timestamps the proxy asks the coordinator's timestamp oracle for at once, and hands out to writes from its
         * cache. 1 is one coordinator call per write (insert, upsert, delete, flush). Larger saves those calls under
         * load; what bounds how old a cached timestamp may get is timestampMaxAgeMs.
         */
        timestampBatchSize: z.number().int().min(1).max(100000).default(1000),
        /**
         * How long a cached range of timestamps is used after it was asked for. 0 (the default): each write gets a
         * timestamp asked for after it arrived, so writes are ordered as they were acknowledged across every proxy;
         * writes arriving together still share one oracle call. Above 0, a cached timestamp is still below every
         * timestamp the oracle hands out later (one proxy's writes stay ordered, Strong reads see them), but a write
         * through this proxy can get a timestamp up to this much older than one another proxy took a moment before:
         * a delete through one proxy and then an insert of the same key through another, within this window, can be
         * ordered the other way round and the insert hidden. Raise it only with one proxy (standalone, or
         * proxy.replicas 1), where it saves one oracle call per write for sequential writers.
         */
        timestampMaxAgeMs: z.number().int().min(0).max(60000).default(0),
        /**
         * Per-query-node circuit breaker (reads): it opens when at least breakerVolumeThreshold calls in the last
         * breakerWindowMs failed with a retriable error and breakerErrorPercent of them failed; while open, reads go to
         * other replicas at once. Lower thresholds move away from a failing node sooner, but also from one that had a
         * brief hiccup.
         */
        breakerErrorPercent: z.number().int().min(1).max(100).default(50),
        breakerVolumeThreshold: z.number().int().min(1).default(3),
        breakerWindowMs: z.number().int().min(100).default(10000),
        /** How long an open breaker stays open before it lets one probe call through (half-open). */
        breakerResetMs: z.number().int().min(10).default(2000),
        /**
         * Backoff between retries of a read on a channel (after every replica failed) and of a coordinator call on the
         * data path (timestamps, ids, shard leaders): starts here and doubles up to retryMaxDelayMs, until the request's
         * deadline. Shorter recovers sooner from a brief failover; longer loads a recovering component less.
         */
        retryInitialDelayMs: z.number().int().min(1).default(50),
        retryMaxDelayMs: z.number().int().min(1).default(1000),
        /**
         * The least time a coordinator call is given when the request is about out of time (its timeout is otherwise
         * what the request has left), so a last attempt can still answer rather than fail at once.
         */
        coordinatorMinTimeoutMs: z.number().int().min(1).default(50),
        /** The same floor for a search or query sent to a query node. */
        nodeMinTimeoutMs: z.number().int().min(1).default(100),
        /**
         * Hedged reads: when a search or query sent to one replica of a shard has not answered after the hedge delay,
         * the same call goes to another replica too and the first answer wins (the other is cancelled). Only reads are
         * hedged (writes go to the WAL, never through this path). Off: a slow (not failed) replica delays every read it
         * gets. Costs at most hedgeBudgetPercent more node calls.
         */
        hedgeEnabled: z.boolean().default(true),
        /**
         * The hedge delay is this quantile of the shard's recent call latencies (the last hedgeWindowSize answered
         * calls). Lower hedges sooner and more often (more load); higher hedges only the far tail.
         */
        hedgeQuantile: z.number().gt(0.5).lt(1).default(0.95),
        /** Floor of the hedge delay: no hedge sooner than this, however fast the shard is (bounds the extra load). */
        hedgeMinDelayMs: z.number().int().min(1).default(10),
        /** Cap of the hedge delay (and the delay while a shard has fewer than 20 samples): a stalled call waits no longer. */
        hedgeMaxDelayMs: z.number().int().min(1).default(500),
        /** Latencies per shard the hedge delay is computed from: more is steadier, fewer follows changes sooner. */
        hedgeWindowSize: z.number().int().min(20).max(10000).default(200),
        /**
         * Most hedges, as a percentage of reads (a token bucket): when every replica is slow, hedging cannot more than
         * add this share of calls. Higher covers more of a gray failure before outlier detection ejects the node.
         */
        hedgeBudgetPercent: z.number().min(0).max(100).default(30),
        /**
         * Hedges the budget holds at most (the token bucket's size): how many reads can be hedged at once, before the
         * hedgeBudgetPercent rate applies. A query node that stalls for a few hundred ms, or a burst of slow answers on
         * a busy machine, needs a hedge for every read sent to it meanwhile; a small bucket then runs dry and those
         * reads wait out the stall. Larger absorbs longer bursts; the long-run share stays hedgeBudgetPercent.
         */
        hedgeBudgetBurst: z.number().int().min(0).max(100000).default(50),
        /**
         * Outlier detection: a query node whose share of slow calls (slower than the shard's hedge delay, or beaten by
         * a hedge) over the last outlierWindowMs is at least outlierSlowRatio times its peers' median share and at
         * least outlierMinSlowPercent, or whose share of retriable failures is at least outlierErrorPercent (and twice
         * its peers'), leaves read routing for outlierEjectMs (doubling on each repeated ejection up to
         * outlierMaxEjectMs), then gets reads again. Never the last replica of a channel: reads fall back to it.
         */
        outlierEnabled: z.boolean().default(true),
        /** Shorter reacts sooner; longer needs more evidence and ejects less on a brief hiccup. */
        outlierWindowMs: z.number().int().min(100).default(2000),
        /** Calls a node (and a peer) must have in the window before it is judged. */
        outlierMinSamples: z.number().int().min(1).default(20),
        outlierSlowRatio: z.number().min(1).default(3),
        outlierMinSlowPercent: z.number().min(1).max(100).default(20),
        outlierErrorPercent: z.number().min(1).max(100).default(50),
        /** First back-off of an ejected node; longer keeps a flapping node out longer, shorter probes it sooner. */
        outlierEjectMs: z.number().int().min(100).default(5000),
        outlierMaxEjectMs: z.number().int().min(100).default(60000),
        /**
         * After a hedge to another replica answered before a call to a node, that node gets no new reads for this long
         * while another replica of the channel is in routing (the calls already sent to it run on). A stalled node
         * then costs one hedge delay per stall instead of one per read until outlier detection ejects it. Longer
         * covers longer stalls but moves more reads away after a single slow answer; 0 turns it off. Part of outlier
         * detection (off with outlierEnabled).
         */
        outlierHoldMs: z.number().int().min(0).max(10000).default(250),
      })
      .strict()
      .default({}),
    querycoord: z
      .object({
        port: port.default(19531),
        metricsPort: port.default(9092),
        /** How often checkers compare targets with the distribution. Shorter: faster reaction, more pulls per node. */
        checkIntervalMs: z.number().int().min(10).default(500),
        /**
         * Deadline of one distribution pull from a node. A node that misses it is suspect (out of placement and
         * routing) until a pull succeeds. Shorter: a hung node leaves routing sooner; a busy node is dropped sooner.
         */
        pullTimeoutMs: z.number().int().min(10).default(3000),
        /** Default deadline of the coordinator's other node RPCs (release, unwatch, sync, data-node watch). */
        nodeRpcTimeoutMs: z.number().int().min(10).default(10000),
        /** Deadline of a LoadSegments call (the node reads the segment from object storage). */
        loadTimeoutMs: z.number().int().min(10).default(120000),
        /** Deadline of a query-node WatchChannel call (the delegator replays the channel before it answers). */
        watchTimeoutMs: z.number().int().min(10).default(60000),
        /**
         * Deadline of a BuildIndexes call, and how long after it returns the index file may take to show in the
         * segment's meta before the build is asked again. Longer: fewer duplicate builds of big segments.
         */
        indexTimeoutMs: z.number().int().min(10).default(600000),
        /**
         * How long a task whose RPC returned may take to show in a distribution pull before it is given up and
         * planned again. Shorter: a lost effect is redone sooner; too short re-sends work still settling.
         */
        taskRetryMs: z.number().int().min(10).default(10000),
        /** A task entry older than this is forgotten whatever its state (a safety net; the gauge counts the rest). */
        taskRetentionMs: z.number().int().min(10).default(600000),
        /**
         * Tasks (loads, delegator and data-node watches, index builds) started but not yet seen done, per node.
         * Releases, unwatches and sealed-segment syncs are not capped. Lower: gentler on a node; higher: faster loads.
         */
        maxTasksPerNode: z.number().int().min(1).default(16),
        /** Deadline of each meta store call a reconcile pass makes; a pass that misses it is retried next tick. */
        metaTimeoutMs: z.number().int().min(10).default(10000),
        /**
         * First wait before a coordinator retries its campaign for the active session after a meta store failure; each
         * further retry waits about twice as long (with jitter), up to campaignRetryMaxMs. Shorter: a standby or a
         * fenced coordinator takes over sooner once the store is back; longer: fewer calls to a struggling store.
         */
        campaignRetryInitialMs: z.number().int().min(1).default(250),
        /**
         * Longest wait between campaign retries. Shorter: the coordinator notices a recovered meta store sooner after a
         * long outage; longer: fewer calls (from every standby) while the store is down.
         */
        campaignRetryMaxMs: z.number().int().min(1).default(5000),
        /**
         * How far ahead of the timestamps it issues the timestamp oracle reserves physical time in the meta store (one
         * write per window). After a restart or a fail-over the oracle starts past the reservation, so timestamps never
         * go back. Longer: fewer meta store writes; timestamps jump further ahead of the clock after a fail-over.
         */
        tsoWindowMs: z.number().int().min(1).default(3000),
        /**
         * The oracle reserves the next window once the timestamps it issues come within this of the reserved end.
         * Larger: renewed earlier; at or above tsoWindowMs every allocation writes the meta store.
         */
        tsoRenewBeforeMs: z.number().int().min(0).default(500),
        /**
         * Ids (collections, partitions, segments, indexes, auto primary keys) the coordinator reserves in the meta store
         * at once and hands out from memory. Larger: fewer meta store writes; up to this many ids go unused at each
         * coordinator restart or fail-over.
         */
        idBatchSize: z.number().int().min(1).default(100000),
      })
      .strict()
      .default({}),
    querynode: z
      .object({
        port: port.default(19532),
        metricsPort: port.default(9093),
        /**
         * Graceful stop: how long a stopping query node waits for the coordinator to move its segments and channels
         * to other live query nodes (it keeps serving meanwhile). Longer avoids a gap in coverage on a busy cluster;
         * shorter stops sooner. Bounded by common.stopTimeoutMs.
         */
        gracefulStopMs: z.number().int().min(0).default(30000),
        /**
         * Bound on a search or query that arrives without a timeout of its own (the proxy always sends one), and on
         * the calls a delegator makes to the nodes holding its sealed segments for such a request.
         */
        defaultRequestTimeoutMs: z.number().int().min(100).default(10000),
        /** Default timeout of calls to other query nodes (the delegator's fan-out) that carry none of their own. */
        peerCallTimeoutMs: z.number().int().min(100).default(30000),
        /**
         * How long a channel or segment assignment for a collection this node has not seen yet waits for the
         * collection's record to arrive through the meta store watch. Longer tolerates a slow watch; shorter fails
         * the assignment (the coordinator retries it) sooner.
         */
        collectionWaitMs: z.number().int().min(1).default(200),
        /**
         * Sealed-segment loads (data file and prebuilt index files read from the object store, decoded) a query node
         * runs at once, e.g. when a failed node's segments are reassigned to it. Higher: a node's share is back sooner
         * while the object store has bandwidth to spare; lower: less CPU taken from searches meanwhile.
         */
        loadConcurrency: z.number().int().min(1).default(4),
        /**
         * Estimated bytes (rows x row width from the schema, plus the index files) of the loads in flight at once.
         * Bounds the memory a reassignment holds beyond what it keeps; a single segment larger than this still
         * loads, alone. Higher: more loads overlap; lower: a smaller peak.
         */
        loadMemoryBytes: z.number().int().min(1).default(1073741824),
        /**
         * A channel's delete set on a query node (the union of its sealed segments' delete logs) is pruned to the
         * deletes whose keys the node's segments hold once it reaches this many entries (then each time it doubles).
         * Lower: less memory under a steady delete load, more pruning passes and, after a prune, the delete logs read
         * again when a segment is loaded; higher: the reverse.
         */
        deletePruneMinSize: z.number().int().min(1).default(10000),
        /**
         * Filters whose result bits each sealed segment keeps (least recently used out first), so the same filter
         * sent again is not evaluated again over every row; each costs one bit per row of the segment (12.5 KB per
         * 100,000 rows). 0 evaluates every filter every time. Deletes, partitions and TTL apply per request.
         */
        filterCacheEntries: z.number().int().min(0).default(8),
      })
      .strict()
      .default({}),
    security: z
      .object({
        /**
         * Milvus's common.security.authorizationEnabled: every call but GetVersion, CheckHealth and Connect must carry
         * a user's credentials (the `authorization` metadata) and is refused without valid ones. Off keeps the quick
         * start open to any client; a deployment reachable by others turns it on.
         */
        authorizationEnabled: z.boolean().default(false),
        /**
         * The password the `root` user gets when the cluster first starts (Milvus's common.security.defaultRootPassword).
         * Used once: change it with UpdateCredential right after the first start; later changes to this key do nothing.
         */
        defaultRootPassword: z.string().min(6).max(256).default('Milvus'),
        /**
         * bcrypt cost of stored password hashes (2^cost rounds). Higher makes a stolen meta store slower to crack and
         * every first login (and password change) slower: 10 is about 60-100 ms of proxy CPU per hash here. Proxies
         * remember a verified password in memory, so later calls do not pay it.
         */
        passwordHashCost: z.number().int().min(4).max(15).default(10),
        /**
         * Failed logins allowed per user and client address within loginFailureWindowMs; beyond them that user is
         * refused from that address (even with the right password) until the window passes. Lower slows password
         * guessing more; higher forgives more typos.
         */
        maxLoginFailures: z.number().int().min(1).default(5),
        /** The window in which failed logins count towards maxLoginFailures, and how long a locked-out pair waits. */
        loginFailureWindowMs: z.number().int().min(1000).default(60000),
      })
      .strict()
      .default({}),
    compaction: z
      .object({
        /**
         * Automatic compaction: the coordinator plans merges and purges every checkIntervalMs. Off leaves only
         * ManualCompaction; on costs a rewrite of the segments it picks (read, filter, index build) on a data node.
         */
        enabled: z.boolean().default(true),
        /** How often automatic compaction looks for work (and executing plans are (re)dispatched). */
        checkIntervalMs: z.number().int().min(100).default(10000),
        /**
         * A segment is rewritten when the deletes that may hit it (those consumed since its start) reach this share of
         * its rows, or when this share of its rows has expired by the collection TTL (estimated from its timestamp
         * range). Lower purges sooner and rewrites more often.
         */
        deleteRatio: z.number().gt(0).max(1).default(0.2),
        /** A segment with fewer rows than this counts as small: contiguous small segments are merged. */
        smallSegmentRows: z.number().int().min(1).default(10000),
        /** Automatic merging starts once a channel has this many contiguous small segments (fewer segments per search). */
        minSmallSegments: z.number().int().min(2).default(4),
        /** Most rows in one merged result segment; a larger merge writes several. Bigger: fewer segments, longer builds. */
        maxSegmentRows: z.number().int().min(1).default(1000000),
        /**
         * Clustering compaction writes key-range segments of about this many rows: smaller ranges let a filter on the
         * clustering key skip more, at the price of more segments per search.
         */
        clusteringSegmentRows: z.number().int().min(1).default(100000),
        /** Bound of one plan's execution on a data node (reads, index builds, commit); a plan that exceeds it is retried. */
        planTimeoutMs: z.number().int().min(1000).default(600000),
        /**
         * After a replica serves a compaction's results, its query nodes keep the source segments this long before
         * releasing them, so that reads already fanned out to the sources finish. Longer holds memory longer.
         */
        sourceReleaseGraceMs: z.number().int().min(0).default(10000),
        /**
         * Garbage collection of compaction's sources: their files (data, delete log, indexes) are removed, with the
         * plan's record, this long after the plan completed and once no query node serves them. Longer keeps the
         * old files for reads that started on them, for a backup taken by copying the bucket, or for diagnosis, at
         * the price of storage (up to a second copy of everything compacted in that window); shorter frees it sooner.
         */
        gcGraceSeconds: z.number().int().min(0).default(3600),
        /** How often the coordinator looks for garbage; a pass reads the plans and one collection's segments at a time. */
        gcIntervalSeconds: z.number().int().min(1).default(60),
      })
      .strict()
      .default({}),
    datanode: z
      .object({
        port: port.default(19533),
        metricsPort: port.default(9094),
        /** A growing segment is sealed and flushed when it reaches this many rows. */
        segmentMaxRows: z.number().int().min(1).default(100000),
        /** A growing segment with no new rows for this long is sealed and flushed. */
        sealIdleMs: z.number().int().min(100).default(10000),
        /**
         * Longest interval between checks for an idle growing segment (a shorter sealIdleMs checks that often).
         * Shorter seals closer to sealIdleMs; longer wakes the node less.
         */
        sealCheckIntervalMs: z.number().int().min(10).default(1000),
        /** Default timeout of calls to the coordinator (id allocation while sealing). */
        coordCallTimeoutMs: z.number().int().min(100).default(30000),
      })
      .strict()
      .default({}),
    bulkImport: z
      .object({
        /**
         * How often the coordinator looks for import tasks to send to a data node (new ones, and those whose data
         * node died). Shorter starts an import sooner after Import returns; longer reads the task list less often.
         */
        checkIntervalMs: z.number().int().min(50).default(1000),
        /**
         * Bound of one run of an import task on a data node (read, check, write and index every row, commit); a run
         * that exceeds it, or whose data node dies, is sent again, up to maxAttempts runs, then the task fails.
         * Longer lets bigger imports finish in one run; shorter notices a stuck node sooner.
         */
        taskTimeoutMs: z.number().int().min(1000).default(3600000),
        /** Runs of one task before it is marked failed (each starts over from its files). */
        maxAttempts: z.number().int().min(1).default(3),
        /** Most rows in one imported segment; a shard with more gets several. Bigger: fewer segments, longer index builds. */
        segmentMaxRows: z.number().int().min(1).default(1000000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

export type KiteConfig = z.infer<typeof ConfigSchema>;

function camelToSnake(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The environment variable that overrides a key given by its path: `proxy.metricsPort` is `KITE_PROXY_METRICS_PORT`. */
export function envName(key: string): string {
  return ['KITE', ...key.split('.').map(camelToSnake)].join('_');
}

/** Applies KITE_* variables onto a raw config object, guided by the shape of the defaults. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const defaults = ConfigSchema.parse({}) as Record<string, unknown>;
  const walk = (shape: Record<string, unknown>, target: Record<string, unknown>, prefix: string): void => {
    for (const [key, def] of Object.entries(shape)) {
      const name = `${prefix}_${camelToSnake(key)}`;
      if (def !== null && typeof def === 'object' && !Array.isArray(def)) {
        const sub = (target[key] ??= {}) as Record<string, unknown>;
        walk(def as Record<string, unknown>, sub, name);
        continue;
      }
      const value = env[name];
      if (value === undefined) continue;
      if (typeof def === 'number') target[key] = Number(value);
      else if (typeof def === 'boolean') target[key] = value === 'true' || value === '1';
      else if (Array.isArray(def)) target[key] = value.split(',').map((s) => s.trim()).filter(Boolean);
      else target[key] = value;
    }
  };
  walk(defaults, raw, 'KITE');
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const sub = (into[k] ??= {}) as Record<string, unknown>;
      deepMerge(sub, v as Record<string, unknown>);
    } else into[k] = v;
  }
}

/** Loads and validates the configuration. A bad key names its path and the rule it broke. */
export function loadConfig(options: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Record<string, unknown>;
} = {}): KiteConfig {
  const raw: Record<string, unknown> = {};
  if (options.file) {
    let text: string;
    try {
      text = fs.readFileSync(options.file, 'utf8');
    } catch (e) {
      throw new KiteError('ParameterInvalid', `config file ${options.file} cannot be read: ${(e as Error).message}`);
    }
    const parsed: unknown = YAML.parse(text) ?? {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new KiteError('ParameterInvalid', `config file ${options.file} must hold a YAML mapping`);
    }
    deepMerge(raw, parsed as Record<string, unknown>);
  }
  applyEnv(raw, options.env ?? process.env);
  if (options.overrides) deepMerge(raw, options.overrides);
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new KiteError('ParameterInvalid', `invalid configuration: ${issues}`);
  }
  return result.data;
}

/**
 * KITE_* environment variables that are not configuration keys, in one table: what Kite's processes read besides
 * the config (log level, the faiss addon's search threads) and what its scripts and tests read. `kite` warns about
 * any other KITE_* variable, which is most likely a misspelt key that would otherwise be ignored silently.
 */
export const OTHER_KITE_ENV: Readonly<Record<string, string>> = {
  KITE_LOG_LEVEL: 'log level of every process (pino: fatal error warn info debug trace silent); --log-level overrides it',
  KITE_FAISS_SEARCH_THREADS: 'faiss addon: search threads (default: cores), read when the addon loads',
  KITE_FAISS_SEARCH_SPIN_US: 'faiss addon: how long an idle search thread spins before it sleeps',
  KITE_FAISS_SEARCH_POLL_US: 'faiss addon: how long the event loop polls for a pending search',
  KITE_KAFKA_HOME: 'scripts/kafka-server.sh, install-kafka.sh: where the Kafka libs are',
  KITE_KAFKA_JVM_OPTS: 'scripts/kafka-server.sh: extra JVM flags',
  KITE_KAFKA_CDS_DUMP: 'scripts/kafka-server.sh: write a class-data-sharing archive',
  KITE_ETCD_BIN: 'tests: the etcd binary',
  KITE_MINIO_BIN: 'tests: the MinIO binary',
  KITE_MINIO_HOME: 'tests, scripts/install-s3-server.sh: where MinIO is installed',
  KITE_HELM: 'tests: the helm binary',
  KITE_HELM_BIN_DIR: 'scripts/install-helm.sh: where helm is installed',
  KITE_PROMTOOL_BIN: 'tests: the promtool binary',
  KITE_PROMETHEUS_BIN: 'tests: the prometheus binary',
  KITE_KEEP_TEST_DATA: 'tests: keep data and logs of a test run',
  KITE_CHAOS: 'tests: run the fault-injection suite',
  KITE_PYTHON_TESTS: 'tests: the pymilvus suite',
  KITE_TEST_TARGET: 'pymilvus tests: the server under test',
  KITE_TEST_VENV: 'pymilvus tests: the Python environment',
  KITE_TEST_LANGCHAIN_VENV: 'pymilvus tests: the LangChain environment',
  KITE_MILVUS_VENV: 'differential tests: the Milvus environment',
  KITE_MILVUS_URI: 'differential tests: the Milvus server',
  KITE_VS_MILVUS: 'differential tests: run them',
  KITE_ARRAY_DIFF_OUT: 'differential tests: where to write the array report',
};

/** Every KITE_* variable that sets a config key, mapped to the key's path. */
export function configEnvNames(): Map<string, string> {
  const names = new Map<string, string>();
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      const p = prefix ? `${prefix}.${key}` : key;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) walk(value as Record<string, unknown>, p);
      else names.set(envName(p), p);
    }
  };
  walk(ConfigSchema.parse({}) as Record<string, unknown>, '');
  return names;
}

/** Levenshtein distance (insertions, deletions, substitutions), for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * One warning per KITE_* variable in `env` that Kite does not know (neither a config key's variable nor one of
 * OTHER_KITE_ENV), with the closest known name when one is near (edit distance at most a third of the name).
 */
export function unknownKiteEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = [...configEnvNames().keys(), ...Object.keys(OTHER_KITE_ENV)];
  const knownSet = new Set(known);
  const warnings: string[] = [];
  for (const name of Object.keys(env).filter((n) => n.startsWith('KITE_')).sort()) {
    if (knownSet.has(name)) continue;
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const k of known) {
      const d = editDistance(name, k);
      if (d < bestDistance) [best, bestDistance] = [k, d];
    }
    const hint = best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean ${best}?` : '';
    warnings.push(`${name} is not a Kite configuration variable and is ignored${hint}`);
  }
  return warnings;
}
