/**
 * The kafkajs internals the Kafka WAL builds on (`kafkajs/src/...`). They are pinned by the `kafkajs` 2.2.x
 * dependency, and every use of them is in this file.
 *
 * - The cluster/broker layer, which kafkajs's consumer is built on: a WAL reader knows exactly which channel and
 *   offset it wants and sends Fetch requests itself (kafka-fetch.ts), without a consumer group.
 * - The producer and admin client, built here over a cluster this module creates, rather than by `new Kafka()`,
 *   which keeps each one's cluster private. That cluster is a `TopicTrackingCluster` (below).
 *
 * Why the cluster is replaced: a kafkajs cluster remembers every topic its client ever used (`targetTopics`) and
 * names all of them in each metadata request, and kafkajs fails the whole response when any one topic in it has an
 * error. Once any process deletes a topic (DropCollection), every other client that had touched it — the proxy's
 * producer, the lag metrics' end-offset reads, a one-shot reader — gets `UNKNOWN_TOPIC_OR_PARTITION` ("This server
 * does not host this topic-partition") from every later metadata refresh, including the one that adds a new
 * collection's topic, so appends and end-offset reads of the new topic fail until the process restarts (kafkajs
 * issues #651, #1146, #1622, open). `TopicTrackingCluster` drops deleted topics from `targetTopics` when that
 * happens and asks again.
 */
import type { Admin, logCreator as KafkaLogCreator, logLevel as KafkaLogLevel, Producer } from 'kafkajs';

/* eslint-disable @typescript-eslint/no-require-imports */
const ClusterBase = require('kafkajs/src/cluster') as new (options: Record<string, unknown>) => InternalCluster;
const createProducer = require('kafkajs/src/producer') as (options: Record<string, unknown>) => Producer;
const createAdmin = require('kafkajs/src/admin') as (options: Record<string, unknown>) => Admin;
const InstrumentationEventEmitter = require('kafkajs/src/instrumentation/emitter') as new () => unknown;
export const BatchCtor = require('kafkajs/src/consumer/batch') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: InternalPartitionData,
) => InternalBatch;
const { createLogger } = require('kafkajs/src/loggers') as {
  createLogger(options: { level: KafkaLogLevel; logCreator: KafkaLogCreator }): InternalLogger;
};
const socketFactory = require('kafkajs/src/network/socketFactory') as () => unknown;
export const ISOLATION_LEVEL = require('kafkajs/src/protocol/isolationLevel') as { READ_COMMITTED: number };
/* eslint-enable @typescript-eslint/no-require-imports */

/** kafkajs's default `metadataMaxAge` of a producer (5 minutes): its metadata is refreshed at least this often. */
const PRODUCER_METADATA_MAX_AGE_MS = 300_000;

export interface InternalMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  isControlRecord?: boolean;
}

export interface InternalPartitionData {
  partition: number;
  errorCode: number;
  highWatermark: string;
  messages: InternalMessage[];
}

export interface InternalBatch {
  /** Records at or after the fetched offset, control records and aborted transactions removed. */
  messages: InternalMessage[];
  /** Everything at or after the fetched offset, control records included. */
  messagesWithinOffset: InternalMessage[];
  rawMessages: InternalMessage[];
}

interface InternalMetadata {
  topicMetadata: Array<{ topic: string }>;
}

export interface InternalBroker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{ responses: Array<{ topicName: string; partitions: InternalPartitionData[] }> }>;
  /** Metadata of the named topics; of every topic when `topics` is empty. */
  metadata(topics: string[]): Promise<InternalMetadata>;
}

interface InternalLogger {
  namespace(name: string): { info(message: string, extra?: Record<string, unknown>): void };
}

export interface InternalCluster {
  /** Every topic named in this cluster's metadata requests. */
  targetTopics: Set<string>;
  brokerPool: {
    /** Runs `callback` on the first broker that answers it; null when none does. */
    withBroker<T>(callback: (b: { broker: InternalBroker }) => Promise<T>): Promise<T | null>;
  };
  isConnected(): boolean;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(options: { nodeId: string }): Promise<InternalBroker>;
}

export interface ClusterOptions {
  brokers: string[];
  clientId: string;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  logLevel: KafkaLogLevel;
  logCreator: KafkaLogCreator;
  /** kafkajs's retries of one request inside the cluster (metadata, connects). */
  retry: { retries: number; initialRetryTime: number; maxRetryTime: number };
  /** Requests in flight per broker connection; unlimited when omitted. */
  maxInFlightRequests?: number;
  isolationLevel?: number;
  /** How long metadata is reused before a refresh; 0 (kafkajs's default outside producers) refreshes every time. */
  metadataMaxAgeMs?: number;
  /** TLS to the brokers: true for the system CAs, or Node's TLS options (ca, cert, key); plaintext when omitted. */
  ssl?: KafkaSsl;
  /** SASL authentication on every broker connection; none when omitted. */
  sasl?: KafkaSasl;
}

export type KafkaSsl = boolean | { ca?: Buffer; cert?: Buffer; key?: Buffer };
export interface KafkaSasl {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/** Whether any error in the chain is Kafka's UNKNOWN_TOPIC_OR_PARTITION (kafkajs wraps it in retry errors). */
export function isUnknownTopic(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const x = e as { type?: string; cause?: unknown; originalError?: unknown };
    if (x.type === 'UNKNOWN_TOPIC_OR_PARTITION') return true;
    e = x.cause ?? x.originalError;
  }
  return false;
}

/**
 * A kafkajs cluster whose metadata requests survive the deletion of a topic it had used: when a refresh fails with
 * UNKNOWN_TOPIC_OR_PARTITION, the topics this cluster had seen exist and the broker no longer lists are dropped
 * from `targetTopics` and the refresh is asked again. Topics never seen to exist (one just created, not yet in
 * this broker's metadata) are kept, so that error still reaches the caller, which retries.
 */
class TopicTrackingCluster extends ClusterBase {
  /**
   * Target topics a metadata refresh has returned: they existed once. Never shrinks (kafkajs may put a dropped
   * topic back into `targetTopics` when the request that added another one fails), one entry per topic used.
   */
  private readonly confirmed = new Set<string>();
  private dropping: Promise<boolean> | undefined;

  constructor(
    options: Record<string, unknown>,
    private readonly log: ReturnType<InternalLogger['namespace']>,
  ) {
    super(options);
  }

  override async refreshMetadata(): Promise<void> {
    await this.healing(() => super.refreshMetadata());
  }

  override async refreshMetadataIfNecessary(): Promise<void> {
    await this.healing(() => super.refreshMetadataIfNecessary());
  }

  /** Stops naming `topic` in metadata requests (it was deleted through this process). */
  forgetTopic(topic: string): void {
    this.targetTopics.delete(topic);
  }

  private async healing(refresh: () => Promise<void>): Promise<void> {
    try {
      await refresh();
    } catch (err) {
      if (!isUnknownTopic(err)) throw err;
      // Concurrent refreshes that failed together share one listing.
      this.dropping ??= this.dropDeletedTopics().finally(() => (this.dropping = undefined));
      if (!(await this.dropping)) throw err;
      await refresh();
    }
    for (const t of this.targetTopics) this.confirmed.add(t);
  }

  /** Removes the target topics that were seen to exist and are no longer listed; true when there were any. */
  private async dropDeletedTopics(): Promise<boolean> {
    const all = await this.brokerPool.withBroker(({ broker }) => broker.metadata([]));
    if (!all) return false;
    const listed = new Set(all.topicMetadata.map((t) => t.topic));
    const gone = [...this.targetTopics].filter((t) => this.confirmed.has(t) && !listed.has(t));
    for (const t of gone) this.forgetTopic(t);
    if (gone.length > 0) this.log.info('deleted topics dropped from metadata requests', { topics: gone });
    return gone.length > 0;
  }
}

export type KafkaCluster = TopicTrackingCluster;

/** A cluster for one client; `instrumentationEmitter` is the client's own (kafkajs's producer and admin pass one). */
export function newCluster(options: ClusterOptions, instrumentationEmitter?: unknown): KafkaCluster {
  const logger = createLogger({ level: options.logLevel, logCreator: options.logCreator });
  return new TopicTrackingCluster(
    {
      logger,
      socketFactory: socketFactory(),
      brokers: options.brokers,
      clientId: options.clientId,
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      enforceRequestTimeout: true,
      metadataMaxAge: options.metadataMaxAgeMs ?? 0,
      allowAutoTopicCreation: false,
      maxInFlightRequests: options.maxInFlightRequests ?? null,
      isolationLevel: options.isolationLevel,
      instrumentationEmitter: instrumentationEmitter ?? null,
      retry: options.retry,
      ...(options.ssl !== undefined ? { ssl: options.ssl } : {}),
      ...(options.sasl !== undefined ? { sasl: options.sasl } : {}),
    },
    logger.namespace('Cluster'),
  );
}

/** kafkajs's producer over a cluster of its own; returns both. Never creates topics. */
export function newProducer(
  options: ClusterOptions,
  producer: {
    idempotent: boolean;
    retry: { retries: number; initialRetryTime: number; maxRetryTime: number };
    createPartitioner: unknown;
  },
): { producer: Producer; cluster: KafkaCluster } {
  const emitter = new InstrumentationEventEmitter();
  const cluster = newCluster({ metadataMaxAgeMs: PRODUCER_METADATA_MAX_AGE_MS, ...options }, emitter);
  return {
    cluster,
    producer: createProducer({
      cluster,
      logger: createLogger({ level: options.logLevel, logCreator: options.logCreator }),
      retry: { ...options.retry, ...producer.retry },
      idempotent: producer.idempotent,
      createPartitioner: producer.createPartitioner,
      instrumentationEmitter: emitter,
    }),
  };
}

/** kafkajs's admin client over a cluster of its own; returns both. */
export function newAdmin(options: ClusterOptions): { admin: Admin; cluster: KafkaCluster } {
  const emitter = new InstrumentationEventEmitter();
  const cluster = newCluster(options, emitter);
  return {
    cluster,
    admin: createAdmin({
      cluster,
      logger: createLogger({ level: options.logLevel, logCreator: options.logCreator }),
      retry: options.retry,
      instrumentationEmitter: emitter,
    }),
  };
}
