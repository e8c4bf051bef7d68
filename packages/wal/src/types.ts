/**
 * WAL: the log every data change travels through. A *topic* holds a collection's changes and has one partition per
 * shard; a *channel* is one (topic, partition) and is what a data node or a delegator consumes. Offsets are per
 * channel, dense from 0 in the embedded log and Kafka's offsets in a cluster (monotonic, maybe with gaps).
 */

export interface ChannelRef {
  topic: string;
  partition: number;
}

/** The printable name of a channel, `<topic>#<partition>`; used in metadata and metrics. */
export function channelName(ref: ChannelRef): string {
  return `${ref.topic}#${ref.partition}`;
}

export function parseChannel(name: string): ChannelRef {
  const i = name.lastIndexOf('#');
  const partition = Number(name.slice(i + 1));
  if (i <= 0 || !Number.isInteger(partition) || partition < 0) {
    throw new Error(`invalid channel name "${name}": expected <topic>#<partition>`);
  }
  return { topic: name.slice(0, i), partition };
}

export interface WalMessage {
  /** Routing/compaction key (e.g. the primary-key hash); informational for the embedded log. */
  key?: string;
  value: Buffer;
}

export interface WalRecord {
  offset: number;
  key?: string;
  value: Buffer;
}

export interface Subscription {
  /** Stops delivery; resolves after the handler's current batch (if any) finished. */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** Most records in one handler call. */
  maxBatch?: number;
  /**
   * Called when reading fails or the handler throws; the subscription keeps retrying unless closed. After a
   * handler failure the same records are delivered again (a failed batch is never skipped).
   */
  onError?: (err: Error) => void;
}

export interface Wal {
  /** Creates a topic with `partitions` partitions; a no-op when it exists with that many. */
  createTopic(topic: string, partitions: number): Promise<void>;
  deleteTopic(topic: string): Promise<void>;
  /**
   * Appends messages to one channel in order and resolves once they are durable (fsync'd locally, or acknowledged
   * by all in-sync replicas). Returns the offset of each message.
   */
  append(channel: ChannelRef, messages: WalMessage[]): Promise<number[]>;
  /** The offset the next appended message will get (Kafka's high watermark). */
  endOffset(channel: ChannelRef): Promise<number>;
  /** Reads up to `max` records with offset >= from; an empty array when there are none yet. */
  read(channel: ChannelRef, from: number, max: number): Promise<WalRecord[]>;
  /**
   * Delivers every record with offset >= from, then tails the channel with low latency. The next batch waits for
   * the handler's promise, so a slow handler applies back-pressure instead of buffering without bound.
   */
  subscribe(
    channel: ChannelRef,
    from: number,
    handler: (records: WalRecord[]) => Promise<void>,
    options?: SubscribeOptions,
  ): Subscription;
  close(): Promise<void>;
}
