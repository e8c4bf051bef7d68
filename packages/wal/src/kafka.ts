/**
 * KafkaWal: the cluster WAL, over Kafka 3.x through `kafkajs`. A topic per collection, a partition per shard; a
 * channel's offsets are Kafka's offsets (increasing, with gaps where transaction markers sit).
 *
 * Appends: one idempotent producer (acks = all). kafkajs has no linger or batch size, and its idempotent producer
 * sends one request per broker at a time anyway, so appends queue here and every send carries all that queued
 * meanwhile (up to `maxBatchBytes`), each channel's messages as one record batch. A message's offset is the batch's
 * base offset plus its index, as offsets within one record batch are contiguous.
 *
 * Deleted topics: kafkajs clients keep asking for metadata of every topic they ever used, and fail as a whole once
 * one of them is deleted; the clients here are built over a cluster that drops deleted topics (kafka-internals.ts),
 * so a collection dropped by one process does not break appends and reads of other collections in the others.
 *
 * Reads: no consumer groups (they join, rebalance and commit; a new group waits `group.initial.rebalance.delay.ms`).
 * A subscription fetches its one partition from its own offset over a connection of its own, with a long-poll that
 * the broker ends as soon as records arrive, and fetches again only after the handler's promise settled.
 */
import { KiteError, silentLogger, type Logger } from '@kite/common';
import {
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type logCreator as KafkaLogCreator,
  type Producer,
  type RecordMetadata,
  type TopicMessages,
} from 'kafkajs';
import { FetchOffsetOutOfRange, PartitionFetcher, type FetchResult } from './kafka-fetch';
import { newAdmin, newProducer, type ClusterOptions, type KafkaCluster, type KafkaSasl, type KafkaSsl } from './kafka-internals';
export type { KafkaSasl, KafkaSsl } from './kafka-internals';
import { channelName, type ChannelRef, type SubscribeOptions, type Subscription, type Wal, type WalMessage, type WalRecord } from './types';

export interface KafkaWalOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  clientId?: string;
  /** Replicas of each created topic; -1 takes the broker's `default.replication.factor`. */
  replicationFactor?: number;
  /** `max.message.bytes` of created topics: the largest record batch (a big insert) the topic accepts. */
  maxMessageBytes?: number;
  /** Queued appends share one produce request up to this many bytes (a larger single append goes alone). */
  maxBatchBytes?: number;
  /** How long a tailing fetch waits at the broker for new records; arriving records end the wait at once. */
  tailWaitMs?: number;
  /** Most bytes one fetch returns (Kafka still returns a first record batch that is larger). */
  maxFetchBytes?: number;
  /** Records per handler call when `subscribe` is not given `maxBatch`. */
  defaultMaxBatch?: number;
  /** Pause before a subscription retries after a failed fetch or handler. */
  retryDelayMs?: number;
  /** kafkajs's own attempts of one produce request (leader changes), 100 ms to 1 s apart. */
  sendRetries?: number;
  /**
   * How long an append keeps retrying while the brokers are unreachable (a restart) before it fails. Retries resend
   * the same record batch with the same producer sequence, so the broker drops a copy it already has.
   */
  appendTimeoutMs?: number;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** kafkajs's own log level (its messages go to `logger`). */
  kafkaLogLevel?: KafkaLogLevel;
  /** TLS to the brokers: true for the system CAs, or the CA, client certificate and key (PEM); plaintext when omitted. */
  ssl?: KafkaSsl;
  /** SASL PLAIN or SCRAM user and password on every broker connection; none when omitted. */
  sasl?: KafkaSasl;
  /** The configuration keys of the SASL user and password, named when the brokers refuse them. */
  saslSettings?: string;
  logger?: Logger;
}

export const DEFAULT_KAFKA_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Big enough to carry many small appends per request, small enough not to delay the ones queued behind. */
export const DEFAULT_KAFKA_MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Idle tailing subscriptions poll twice a second; records are delivered as soon as the broker has them. */
export const DEFAULT_KAFKA_TAIL_WAIT_MS = 500;
export const DEFAULT_KAFKA_MAX_FETCH_BYTES = 4 * 1024 * 1024;
export const DEFAULT_KAFKA_MAX_BATCH = 1000;
export const DEFAULT_KAFKA_RETRY_DELAY_MS = 200;
export const DEFAULT_KAFKA_SEND_RETRIES = 5;
/** Rides over a broker restart or a controller election; callers see an error after this. */
export const DEFAULT_KAFKA_APPEND_TIMEOUT_MS = 30_000;

const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
/** Kafka's text for UNKNOWN_TOPIC_OR_PARTITION, as kafkajs logs it. */
const UNKNOWN_TOPIC_MESSAGE = 'This server does not host this topic-partition';
/** Record overhead estimate for batching (Kafka's per-record header is a few varints). */
const RECORD_OVERHEAD_BYTES = 32;

type Resolved = Required<Omit<KafkaWalOptions, 'logger' | 'replicationFactor' | 'ssl' | 'sasl' | 'saslSettings'>> & { replicationFactor: number };

interface PendingAppend {
  ref: ChannelRef;
  messages: WalMessage[];
  bytes: number;
  resolve(offsets: number[]): void;
  reject(err: Error): void;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || !TOPIC_RE.test(topic) || topic === '.' || topic === '..') {
    throw new KiteError(
      'ParameterInvalid',
      `invalid topic name "${topic}": use 1-249 characters from [A-Za-z0-9._-] (Kafka's rule), not "." or ".."`,
    );
  }
}

/** Whether any error in the chain is one Kafka marks non-retriable (kafkajs sets `retriable` on protocol errors). */
function isRetriable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const x = e as { name?: string; retriable?: boolean; type?: string; cause?: unknown; originalError?: unknown };
    if (x.name === 'KafkaJSProtocolError' && x.retriable === false) return false;
    if (x.name === 'KafkaJSSASLAuthenticationError') return false;
    if (x.type === 'MESSAGE_TOO_LARGE' || x.type === 'RECORD_LIST_TOO_LARGE' || x.type === 'INVALID_RECORD') return false;
    e = x.cause ?? x.originalError;
  }
  return true;
}

/** kafkajs log lines into our logger. */
function logCreatorFor(log: Logger): KafkaLogCreator {
  return () => ({ namespace, level, log: entry }) => {
    const { message, ...extra } = entry;
    // Kite bounds the producer's retries on purpose (see `sendRetries`); the warning about it is noise.
    if (/Limiting retries for the idempotent producer/.test(message)) return;
    const fields = { kafkajs: namespace, ...extra };
    // A metadata request naming a topic another process deleted fails once per client; the cluster drops the topic
    // and asks again (kafka-internals.ts). Callers still report a topic that is really missing.
    if (/^Response Metadata/.test(message) && (extra as { error?: unknown }).error === UNKNOWN_TOPIC_MESSAGE) log.debug(fields, message);
    else if (level === KafkaLogLevel.ERROR) log.error(fields, message);
    else if (level === KafkaLogLevel.WARN) log.warn(fields, message);
    else if (level === KafkaLogLevel.INFO) log.info(fields, message);
    else log.debug(fields, message);
  };
}

export class KafkaWal implements Wal {
  private readonly opts: Resolved;
  private readonly log: Logger;
  private readonly logCreator: KafkaLogCreator;
  private readonly producer: Producer;
  private readonly producerCluster: KafkaCluster;
  private readonly admin: Admin;
  /** One-shot reads: never long-polls, so reads don't queue behind each other. */
  private readonly reader: PartitionFetcher;
  private connecting: Promise<void> | undefined;
  /** Partition counts of topics known to exist (created here or seen in metadata). */
  private readonly partitionCounts = new Map<string, number>();
  private readonly queue: PendingAppend[] = [];
  private flushing: Promise<void> | undefined;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closed = false;
  private readonly security: Pick<ClusterOptions, 'ssl' | 'sasl'>;
  private readonly saslSettings: string;

  constructor(options: KafkaWalOptions) {
    if (!options.brokers || options.brokers.length === 0) {
      throw new KiteError('ParameterInvalid', 'Kafka brokers are empty: give at least one host:port, e.g. 127.0.0.1:9092');
    }
    this.opts = {
      brokers: options.brokers,
      clientId: options.clientId ?? 'kite',
      replicationFactor: options.replicationFactor ?? -1,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_KAFKA_MAX_MESSAGE_BYTES,
      maxBatchBytes: options.maxBatchBytes ?? DEFAULT_KAFKA_MAX_BATCH_BYTES,
      tailWaitMs: options.tailWaitMs ?? DEFAULT_KAFKA_TAIL_WAIT_MS,
      maxFetchBytes: options.maxFetchBytes ?? DEFAULT_KAFKA_MAX_FETCH_BYTES,
      defaultMaxBatch: options.defaultMaxBatch ?? DEFAULT_KAFKA_MAX_BATCH,
      retryDelayMs: options.retryDelayMs ?? DEFAULT_KAFKA_RETRY_DELAY_MS,
      sendRetries: options.sendRetries ?? DEFAULT_KAFKA_SEND_RETRIES,
      appendTimeoutMs: options.appendTimeoutMs ?? DEFAULT_KAFKA_APPEND_TIMEOUT_MS,
      connectionTimeoutMs: options.connectionTimeoutMs ?? 3000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      kafkaLogLevel: options.kafkaLogLevel ?? KafkaLogLevel.WARN,
    };
    this.log = (options.logger ?? silentLogger).child({ component: 'kafka-wal' });
    this.logCreator = logCreatorFor(this.log);
    if (options.sasl && (!options.sasl.username || !options.sasl.password)) {
      throw new KiteError('ParameterInvalid', `Kafka SASL needs a user name and a password: set ${options.saslSettings ?? 'both'}`);
    }
    this.security = {
      ...(options.ssl !== undefined && options.ssl !== false ? { ssl: options.ssl } : {}),
      ...(options.sasl ? { sasl: options.sasl } : {}),
    };
    this.saslSettings = options.saslSettings ?? 'the SASL user name and password';
    const cluster: ClusterOptions = {
      ...this.security,
      clientId: this.opts.clientId,
      brokers: this.opts.brokers,
      connectionTimeoutMs: this.opts.connectionTimeoutMs,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      logLevel: this.opts.kafkaLogLevel,
      logCreator: this.logCreator,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    };
    const p = newProducer(
      { ...cluster, maxInFlightRequests: 1 },
      {
        createPartitioner: Partitioners.DefaultPartitioner, // unused: every message names its partition
        idempotent: true,
        retry: { retries: this.opts.sendRetries, initialRetryTime: 100, maxRetryTime: 1000 },
      },
    );
    this.producer = p.producer;
    this.producerCluster = p.cluster;
    this.admin = newAdmin(cluster).admin;
    this.reader = this.newFetcher();
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    checkTopic(topic);
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 4096) {
      throw new KiteError('ParameterInvalid', `partitions of topic ${topic} must be an integer from 1 to 4096, got ${partitions}`);
    }
    await this.ready();
    const created = await this.call(`create topic ${topic}`, () =>
      this.admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: partitions,
            replicationFactor: this.opts.replicationFactor,
            configEntries: [{ name: 'max.message.bytes', value: String(this.opts.maxMessageBytes) }],
          },
        ],
      }),
    );
    if (!created) {
      const existing = await this.partitionCount(topic, true);
      if (existing !== partitions) {
        throw new KiteError(
          'ParameterInvalid',
          `WAL topic ${topic} exists with ${existing} partitions, not ${partitions}: delete it first or use ${existing}`,
        );
      }
    }
    this.partitionCounts.set(topic, partitions);
    // Answered only once the broker leads every partition (retried until then), so appends and reads work at once.
    await this.call(`offsets of new topic ${topic}`, () => this.admin.fetchTopicOffsets(topic));
  }

  async deleteTopic(topic: string): Promise<void> {
    checkTopic(topic);
    await this.ready();
    this.partitionCounts.delete(topic);
    const topics = await this.call('list topics', () => this.admin.listTopics());
    if (topics.includes(topic)) await this.call(`delete topic ${topic}`, () => this.admin.deleteTopics({ topics: [topic] }));
    // kafkajs's admin forgets the topic itself; the producer and the reader learn of it here rather than from a failed
    // metadata request. Subscriptions to it are their owners' to close.
    this.producerCluster.forgetTopic(topic);
    this.reader.forgetTopic(topic);
  }

  async append(ref: ChannelRef, messages: WalMessage[]): Promise<number[]> {
    this.checkOpen();
    let bytes = 0;
    messages.forEach((m, i) => {
      if (!Buffer.isBuffer(m.value)) throw new KiteError('ParameterInvalid', `message ${i}: value must be a Buffer`);
      bytes += m.value.length + (m.key === undefined ? 0 : Buffer.byteLength(m.key)) + RECORD_OVERHEAD_BYTES;
    });
    if (bytes > this.opts.maxMessageBytes) {
      throw new KiteError(
        'RequestTooLarge',
        `append of ${messages.length} messages (${bytes} bytes) to ${channelName(ref)} exceeds the topic's max.message.bytes ${this.opts.maxMessageBytes}: split it`,
      );
    }
    await this.checkChannel(ref);
    if (messages.length === 0) return [];
    return new Promise<number[]>((resolve, reject) => {
      this.queue.push({ ref, messages, bytes, resolve, reject });
      if (!this.flushing) this.flushing = this.flush().finally(() => (this.flushing = undefined));
    });
  }

  async endOffset(ref: ChannelRef): Promise<number> {
    await this.checkChannel(ref);
    const offsets = await this.call(`end offset of ${channelName(ref)}`, () => this.admin.fetchTopicOffsets(ref.topic));
    const entry = offsets.find((o) => o.partition === ref.partition);
    if (!entry) throw new KiteError('ParameterInvalid', `WAL channel ${channelName(ref)} does not exist`);
    return Number(entry.high);
  }

  async read(ref: ChannelRef, from: number, max: number): Promise<WalRecord[]> {
    if (!Number.isInteger(from) || from < 0) throw new KiteError('ParameterInvalid', `read offset must be an integer >= 0, got ${from}`);
    if (!Number.isInteger(max) || max < 1) throw new KiteError('ParameterInvalid', `read max must be an integer >= 1, got ${max}`);
    await this.checkChannel(ref);
    let next = from;
    // Control records (transaction markers) can fill a fetch with nothing to return: step over them.
    for (let i = 0; i < 100; i++) {
      const res = await this.fetchWithRetries(ref, next);
      if (res.records.length > 0) return res.records.slice(0, max);
      if (res.next === next) return [];
      next = res.next;
    }
    return [];
  }

  subscribe(
    ref: ChannelRef,
    from: number,
    handler: (records: WalRecord[]) => Promise<void>,
    options: SubscribeOptions = {},
  ): Subscription {
    this.checkOpen();
    if (!Number.isInteger(from) || from < 0) {
      throw new KiteError('ParameterInvalid', `subscribe offset must be an integer >= 0, got ${from}`);
    }
    const maxBatch = options.maxBatch ?? this.opts.defaultMaxBatch;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new KiteError('ParameterInvalid', `subscribe maxBatch must be an integer >= 1, got ${maxBatch}`);
    }
    const sub = new KafkaSubscription(this, this.newFetcher(), ref, from, handler, {
      maxBatch,
      onError: options.onError,
      retryDelayMs: this.opts.retryDelayMs,
      tailWaitMs: this.opts.tailWaitMs,
    });
    this.subscriptions.add(sub);
    sub.start(() => this.subscriptions.delete(sub));
    return sub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.flushing;
    const closedErr = new KiteError('ServiceNotReady', 'WAL is closed');
    for (const p of this.queue.splice(0)) p.reject(closedErr);
    await Promise.all([
      this.producer.disconnect().catch(() => undefined),
      this.admin.disconnect().catch(() => undefined),
      this.reader.close(),
    ]);
  }

  /** A one-shot fetch, retried like an admin call (a partition without a leader for a moment, a reconnect). */
  private async fetchWithRetries(ref: ChannelRef, from: number): Promise<FetchResult> {
    const deadline = Date.now() + this.opts.appendTimeoutMs;
    let delay = 100;
    for (;;) {
      try {
        return await this.fetchFrom(this.reader, ref, from, 0);
      } catch (err) {
        const cause = err instanceof KiteError ? err.cause : err;
        if (this.closed || !isRetriable(cause) || Date.now() + delay > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  /** @internal One fetch from a channel; offsets before the log start are skipped to it, with a warning. */
  async fetchFrom(fetcher: PartitionFetcher, ref: ChannelRef, from: number, maxWaitMs: number): Promise<FetchResult> {
    try {
      return await fetcher.fetch(ref.topic, ref.partition, from, maxWaitMs, this.opts.maxFetchBytes);
    } catch (err) {
      if (!(err instanceof FetchOffsetOutOfRange)) {
        throw new KiteError('ServiceUnavailable', `Kafka: fetch ${channelName(ref)} at ${from} failed: ${errorMessage(err)}`, {
          cause: err,
        });
      }
      const offsets = await this.call(`offsets of ${ref.topic}`, () => this.admin.fetchTopicOffsets(ref.topic));
      const entry = offsets.find((o) => o.partition === ref.partition);
      const low = Number(entry?.low ?? 0);
      const high = Number(entry?.high ?? 0);
      if (from >= high) return { records: [], next: from, highWatermark: high };
      if (from < low) {
        this.log.warn({ channel: channelName(ref), from, logStart: low }, 'records before the log start were deleted by retention; reading from the log start');
        return fetcher.fetch(ref.topic, ref.partition, low, maxWaitMs, this.opts.maxFetchBytes);
      }
      throw new KiteError('ServiceUnavailable', `Kafka: offset ${from} of ${channelName(ref)} is out of range`, { cause: err });
    }
  }

  private newFetcher(): PartitionFetcher {
    return new PartitionFetcher({
      ...this.security,
      brokers: this.opts.brokers,
      clientId: `${this.opts.clientId}-reader`,
      connectionTimeoutMs: this.opts.connectionTimeoutMs,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      logLevel: this.opts.kafkaLogLevel,
      logCreator: this.logCreator,
    });
  }

  /** Sends everything queued, one produce request at a time, until the queue is empty. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || bytes + (this.queue[n] as PendingAppend).bytes <= this.opts.maxBatchBytes)) {
        bytes += (this.queue[n] as PendingAppend).bytes;
        n++;
      }
      const batch = this.queue.splice(0, n);
      await this.send(batch);
    }
  }

  private async send(batch: PendingAppend[]): Promise<void> {
    // Per channel, the appends in queue order; each append's first index within its channel's record batch.
    const byTopic = new Map<string, Array<{ partition: number; key?: string; value: Buffer }>>();
    const perChannelCount = new Map<string, number>();
    const starts: number[] = [];
    for (const p of batch) {
      const name = channelName(p.ref);
      const start = perChannelCount.get(name) ?? 0;
      starts.push(start);
      perChannelCount.set(name, start + p.messages.length);
      let list = byTopic.get(p.ref.topic);
      if (!list) byTopic.set(p.ref.topic, (list = []));
      for (const m of p.messages) list.push({ partition: p.ref.partition, ...(m.key !== undefined ? { key: m.key } : {}), value: m.value });
    }
    const topicMessages = [...byTopic.entries()].map(([topic, messages]) => ({ topic, messages }));
    try {
      const results = await this.sendWithRetries(topicMessages);
      const base = new Map<string, number>();
      for (const r of results) {
        if (r.baseOffset === undefined) continue;
        base.set(channelName({ topic: r.topicName, partition: r.partition }), Number(r.baseOffset));
      }
      batch.forEach((p, i) => {
        const b = base.get(channelName(p.ref));
        if (b === undefined) {
          p.reject(new KiteError('Internal', `Kafka returned no offset for ${channelName(p.ref)}`));
          return;
        }
        const first = b + (starts[i] as number);
        p.resolve(p.messages.map((_, j) => first + j));
      });
    } catch (err) {
      const wrapped = new KiteError(
        'ServiceUnavailable',
        `Kafka: append to ${[...perChannelCount.keys()].join(', ')} failed (it may still have been written): ${errorMessage(err)}`,
        { cause: err },
      );
      this.log.warn({ err: errorMessage(err), appends: batch.length }, 'Kafka append failed');
      for (const p of batch) p.reject(wrapped);
    }
  }

  /**
   * kafkajs gives up at once when no broker accepts a connection (a broker restarting), so retry here with backoff
   * until `appendTimeoutMs`; errors Kafka calls non-retriable (a record too large, a bad topic) fail at once.
   */
  private async sendWithRetries(topicMessages: TopicMessages[]): Promise<RecordMetadata[]> {
    const deadline = Date.now() + this.opts.appendTimeoutMs;
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ready();
        return await this.producer.sendBatch({ acks: -1, topicMessages });
      } catch (err) {
        if (this.closed || !isRetriable(err) || Date.now() + delay > deadline) throw err;
        if (attempt === 1) this.log.warn({ err: errorMessage(err) }, 'Kafka append failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  private ready(): Promise<void> {
    this.checkOpen();
    if (!this.connecting) {
      this.connecting = Promise.all([this.producer.connect(), this.admin.connect()]).then(
        () => undefined,
        (err: unknown) => {
          this.connecting = undefined;
          throw this.connectError(err);
        },
      );
    }
    return this.connecting;
  }

  /**
   * Connects the producer and admin clients now rather than on first use. Rejects with the connect error (refused
   * SASL credentials are not retriable); later calls connect again after a failure.
   */
  connect(): Promise<void> {
    return this.ready();
  }

  /** A failed connect as a KiteError: refused SASL credentials name their settings and are not retriable. */
  private connectError(err: unknown): KiteError {
    const brokers = this.opts.brokers.join(',');
    const sasl = this.security.sasl;
    if (!isRetriable(err) && sasl) {
      return new KiteError(
        'ServiceUnavailable',
        `Kafka at ${brokers} refused the SASL ${sasl.mechanism.toUpperCase()} login of user "${sasl.username}": check ${this.saslSettings} (${errorMessage(err)})`,
        { cause: err, retriable: false },
      );
    }
    // A SASL or TLS listener closes a plaintext connection without an answer: say which settings could be missing.
    const hint = sasl && this.security.ssl ? '' : '; if the brokers want SASL or TLS, set wal.kafkaSecurityProtocol and the SASL/TLS settings';
    return new KiteError('ServiceUnavailable', `Kafka: cannot connect to ${brokers}: ${errorMessage(err)}${hint}`, { cause: err });
  }

  /** The channel's topic must exist and have the partition; checked against metadata once per topic. */
  private async checkChannel(ref: ChannelRef): Promise<void> {
    checkTopic(ref.topic);
    let count = this.partitionCounts.get(ref.topic);
    if (count === undefined || ref.partition >= count) count = await this.partitionCount(ref.topic, false);
    if (count === 0) throw new KiteError('ParameterInvalid', `WAL topic ${ref.topic} does not exist: create it first`);
    if (!Number.isInteger(ref.partition) || ref.partition < 0 || ref.partition >= count) {
      throw new KiteError(
        'ParameterInvalid',
        `WAL channel ${channelName(ref)} does not exist: topic ${ref.topic} has partitions 0..${count - 1}`,
      );
    }
  }

  /**
   * Partitions of a topic per broker metadata, 0 when it does not exist. With `mustExist` (the broker said the topic
   * exists, e.g. a create retried after a first attempt that did create it), the broker answering may not have the
   * topic in its metadata yet (with several brokers it reaches each one a moment later): its list is asked again with
   * backoff for up to `appendTimeoutMs` before giving up.
   */
  private async partitionCount(topic: string, mustExist: boolean): Promise<number> {
    await this.ready();
    const deadline = Date.now() + this.opts.appendTimeoutMs;
    let delay = 50;
    for (;;) {
      const topics = await this.call('list topics', () => this.admin.listTopics());
      if (topics.includes(topic)) break;
      if (!mustExist) return 0;
      if (Date.now() + delay > deadline) throw new KiteError('ServiceUnavailable', `Kafka: topic ${topic} exists but its metadata is missing; retry`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 1000);
      this.checkOpen();
    }
    const meta = await this.call(`metadata of ${topic}`, () => this.admin.fetchTopicMetadata({ topics: [topic] }));
    const count = meta.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    if (count > 0) this.partitionCounts.set(topic, count);
    return count;
  }

  /**
   * An admin call, retried with backoff on retriable errors for up to `appendTimeoutMs`: right after a topic is
   * created, or after a broker restart, the broker may not lead its partitions yet (NOT_LEADER_OR_FOLLOWER).
   */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.opts.appendTimeoutMs;
    let delay = 100;
    for (;;) {
      this.checkOpen();
      try {
        return await fn();
      } catch (err) {
        if (err instanceof KiteError) throw err;
        if (this.closed || !isRetriable(err) || Date.now() + delay > deadline) {
          throw new KiteError('ServiceUnavailable', `Kafka: ${what} failed: ${errorMessage(err)}`, { cause: err });
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new KiteError('ServiceNotReady', 'WAL is closed');
  }
}

interface SubscriptionSettings {
  maxBatch: number;
  onError: ((err: Error) => void) | undefined;
  retryDelayMs: number;
  tailWaitMs: number;
}

/**
 * Fetch, hand to the handler in slices of `maxBatch`, wait for it, fetch again. A handler that throws gets the same
 * records again after `retryDelayMs`; a failed fetch is reported and retried the same way.
 */
class KafkaSubscription implements Subscription {
  private closed = false;
  private running: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(
    private readonly wal: KafkaWal,
    private readonly fetcher: PartitionFetcher,
    private readonly ref: ChannelRef,
    private next: number,
    private readonly handler: (records: WalRecord[]) => Promise<void>,
    private readonly settings: SubscriptionSettings,
  ) {}

  start(onDone: () => void): void {
    this.running = this.loop().finally(async () => {
      await this.fetcher.close(); // again: a fetch racing close() may have reconnected
      onDone();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return this.running;
    this.closed = true;
    this.wake?.();
    // Ends a pending long-poll at once; a running handler is awaited below.
    await this.fetcher.close();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let res: FetchResult;
      try {
        res = await this.wal.fetchFrom(this.fetcher, this.ref, this.next, this.settings.tailWaitMs);
      } catch (err) {
        if (this.closed) break;
        this.report(err);
        await this.pause();
        continue;
      }
      if (this.closed) break;
      let failed = false;
      for (let i = 0; i < res.records.length && !this.closed; i += this.settings.maxBatch) {
        const slice = res.records.slice(i, i + this.settings.maxBatch);
        try {
          await this.handler(slice);
        } catch (err) {
          this.report(err);
          failed = true;
          break;
        }
        this.next = (slice[slice.length - 1] as WalRecord).offset + 1;
      }
      if (failed) {
        await this.pause();
        continue;
      }
      // Past trailing control records too (and an empty fetch leaves `next` where it was).
      this.next = Math.max(this.next, res.next);
      if (res.records.length === 0 && res.next === this.next && res.highWatermark >= 0 && this.next > res.highWatermark) {
        // Beyond the end (the broker answered at once, out of range): don't spin.
        await this.pause();
      }
    }
  }

  private report(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    try {
      this.settings.onError?.(e);
    } catch {
      // an onError that throws must not stop the subscription
    }
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.settings.retryDelayMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
