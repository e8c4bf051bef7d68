/**
 * Fetching one Kafka partition from an offset, without a consumer group.
 *
 * kafkajs's public consumer always joins a group (JoinGroup/SyncGroup, a rebalance delay of up to
 * `group.initial.rebalance.delay.ms`, 3 s on a stock broker) and cannot be assigned a partition by hand. A WAL reader
 * knows exactly which channel and offset it wants, so this module uses kafkajs's own cluster/broker layer, which
 * the consumer is built on, to send Fetch requests directly. These are kafkajs internals (`kafkajs/src/...`): they
 * are pinned by the `kafkajs` 2.2.x dependency, and every use of them is in this file.
 */
import { logLevel as KafkaLogLevel, type logCreator as KafkaLogCreator } from 'kafkajs';
import type { WalRecord } from './types';

/* eslint-disable @typescript-eslint/no-require-imports */
const ClusterCtor = require('kafkajs/src/cluster') as new (options: Record<string, unknown>) => InternalCluster;
const BatchCtor = require('kafkajs/src/consumer/batch') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: InternalPartitionData,
) => InternalBatch;
const { createLogger } = require('kafkajs/src/loggers') as {
  createLogger(options: { level: KafkaLogLevel; logCreator: KafkaLogCreator }): unknown;
};
const socketFactory = require('kafkajs/src/network/socketFactory') as () => unknown;
const ISOLATION_LEVEL = require('kafkajs/src/protocol/isolationLevel') as { READ_COMMITTED: number };
/* eslint-enable @typescript-eslint/no-require-imports */

interface InternalMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  isControlRecord?: boolean;
}

interface InternalPartitionData {
  partition: number;
  errorCode: number;
  highWatermark: string;
  messages: InternalMessage[];
}

interface InternalBatch {
  /** Records at or after the fetched offset, control records and aborted transactions removed. */
  messages: InternalMessage[];
  /** Everything at or after the fetched offset, control records included. */
  messagesWithinOffset: InternalMessage[];
  rawMessages: InternalMessage[];
}

interface InternalBroker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{ responses: Array<{ topicName: string; partitions: InternalPartitionData[] }> }>;
}

interface InternalCluster {
  isConnected(): boolean;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(options: { nodeId: string }): Promise<InternalBroker>;
}

export interface FetcherOptions {
  brokers: string[];
  clientId: string;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  logLevel: KafkaLogLevel;
  logCreator: KafkaLogCreator;
}

export interface FetchResult {
  records: WalRecord[];
  /** Where the next fetch starts: past the last record (or control record) returned, else `from`. */
  next: number;
  highWatermark: number;
}

/** Thrown when `from` is outside [log start, high watermark]. */
export class FetchOffsetOutOfRange extends Error {}

/**
 * Fetches from partitions over one connection per broker. A fetch that waits for records (`maxWaitMs` > 0) holds
 * its connection until records arrive or the wait ends (Kafka answers requests on a connection in order), so every
 * tailing subscription has a Fetcher of its own and one-shot reads share another that never waits.
 */
export class PartitionFetcher {
  private readonly cluster: InternalCluster;
  private readonly topics = new Set<string>();

  constructor(options: FetcherOptions) {
    this.cluster = new ClusterCtor({
      logger: createLogger({ level: options.logLevel, logCreator: options.logCreator }),
      socketFactory: socketFactory(),
      brokers: options.brokers,
      clientId: options.clientId,
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      enforceRequestTimeout: true,
      allowAutoTopicCreation: false,
      isolationLevel: ISOLATION_LEVEL.READ_COMMITTED,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  async fetch(topic: string, partition: number, from: number, maxWaitMs: number, maxBytes: number): Promise<FetchResult> {
    if (!this.cluster.isConnected()) await this.cluster.connect();
    if (!this.topics.has(topic)) {
      await this.cluster.addTargetTopic(topic);
      this.topics.add(topic);
    }
    const leaders = this.cluster.findLeaderForPartitions(topic, [partition]);
    const nodeId = Object.keys(leaders)[0];
    if (nodeId === undefined) {
      await this.cluster.refreshMetadata().catch(() => undefined);
      throw new Error(`no leader known for ${topic}#${partition} (does the topic exist with that partition?)`);
    }
    let response: Awaited<ReturnType<InternalBroker['fetch']>>;
    try {
      const broker = await this.cluster.findBroker({ nodeId });
      response = await broker.fetch({
        isolationLevel: ISOLATION_LEVEL.READ_COMMITTED,
        maxWaitTime: maxWaitMs,
        minBytes: 1,
        maxBytes,
        topics: [{ topic, partitions: [{ partition, fetchOffset: String(from), maxBytes }] }],
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'KafkaJSOffsetOutOfRange') {
        throw new FetchOffsetOutOfRange(`offset ${from} is out of range for ${topic}#${partition}`);
      }
      // A moved leader, a deleted topic or a broken connection: the next attempt starts from fresh metadata.
      await this.cluster.refreshMetadata().catch(() => undefined);
      throw err;
    }
    const data = response.responses
      .find((r) => r.topicName === topic)
      ?.partitions.find((p) => p.partition === partition);
    if (!data) return { records: [], next: from, highWatermark: -1 };
    const batch = new BatchCtor(topic, String(from), data);
    const records: WalRecord[] = batch.messages.map((m) => {
      const record: WalRecord = { offset: Number(m.offset), value: m.value ?? Buffer.alloc(0) };
      if (m.key !== null && m.key !== undefined) record.key = m.key.toString('utf8');
      return record;
    });
    const within = batch.messagesWithinOffset;
    let next = from;
    if (within.length > 0) next = Number((within[within.length - 1] as InternalMessage).offset) + 1;
    // Only records before `from` came back (compacted away around it): step over the gap.
    else if (batch.rawMessages.length > 0) next = from + 1;
    return { records, next, highWatermark: Number(data.highWatermark) };
  }

  async close(): Promise<void> {
    await this.cluster.disconnect().catch(() => undefined);
  }
}
