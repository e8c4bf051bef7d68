/**
 * Fetching one Kafka partition from an offset, without a consumer group.
 *
 * kafkajs's public consumer always joins a group (JoinGroup/SyncGroup, a rebalance delay of up to
 * `group.initial.rebalance.delay.ms`, 3 s on a stock broker) and cannot be assigned a partition by hand. A WAL reader
 * knows exactly which channel and offset it wants, so this module uses kafkajs's own cluster/broker layer, which
 * the consumer is built on, to send Fetch requests directly (through kafka-internals.ts, which holds every use of
 * kafkajs internals).
 */
import { BatchCtor, ISOLATION_LEVEL, newCluster, type ClusterOptions, type InternalBroker, type InternalMessage, type KafkaCluster } from './kafka-internals';
import type { WalRecord } from './types';

export type FetcherOptions = Pick<ClusterOptions, 'brokers' | 'clientId' | 'connectionTimeoutMs' | 'requestTimeoutMs' | 'logLevel' | 'logCreator' | 'ssl' | 'sasl'>;

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
  private readonly cluster: KafkaCluster;

  constructor(options: FetcherOptions) {
    this.cluster = newCluster({
      ...options,
      isolationLevel: ISOLATION_LEVEL.READ_COMMITTED,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  async fetch(topic: string, partition: number, from: number, maxWaitMs: number, maxBytes: number): Promise<FetchResult> {
    if (!this.cluster.isConnected()) await this.cluster.connect();
    // Again after the topic was forgotten (deleted, see kafka-internals.ts): a no-op when it is a target already.
    if (!this.cluster.targetTopics.has(topic)) await this.cluster.addTargetTopic(topic);
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

  /** Stops naming `topic` in metadata requests: it was deleted. */
  forgetTopic(topic: string): void {
    this.cluster.forgetTopic(topic);
  }

  async close(): Promise<void> {
    await this.cluster.disconnect().catch(() => undefined);
  }
}
