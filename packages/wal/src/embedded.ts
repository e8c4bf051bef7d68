/**
 * EmbeddedWal: the standalone WAL. Each channel (topic partition) is a directory of segment files holding
 * CRC-framed records; an append resolves once its records are fsync'd, and appends that arrive while a write is in
 * flight go out together in the next write and fsync (group commit). Offsets are dense from 0 per channel.
 *
 * Files under `dir`:
 *   LOCK                                         pid of the process that has the WAL open
 *   topics.json                                  `{"topics": {"<topic>": {"partitions": n}}}`, replaced atomically
 *   channels/<topic>/<partition>/<base>.seg      records with offsets base, base+1, ...; base is 20 digits
 * A record is `u32 bodyLength | u32 crc32(body) | body`, body = `u32 offsetLow | u32 offsetHigh | i32 keyLength
 * (-1: no key) | key (UTF-8) | value`, little endian. Opening scans every segment, checks each record's checksum and
 * offset, and builds the in-memory index (offset → file position); a torn tail in a channel's newest segment (a
 * crash mid-write, never acknowledged) is truncated away. Damage anywhere else refuses the open.
 *
 * Readers (read, subscribe, endOffset) see a record only once it is durable. Subscribers are woken by the append
 * itself, so tailing has no polling delay.
 *
 * An append writes each record's 20-byte head and the caller's value buffer with one vectored write (the value is not
 * copied into a frame; the checksum runs over head and value in turn). While a channel has subscribers, its newest
 * durable records stay in memory (up to `tailBytes` per channel, dropped once every subscriber has passed them), and
 * a read within them is served from memory: a subscriber that keeps up never reads the file back or checks the
 * checksum of what this process has just written. Records served that way hold the appended buffers themselves, so
 * a caller must not change a value buffer after appending it, and a reader must not change a record's value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32, fsyncDir, KiteError, lockDir, silentLogger, writeFileAtomic, type Logger } from '@kite/common';
import { writevAll } from './files';
import {
  channelName,
  type ChannelRef,
  type SubscribeOptions,
  type Subscription,
  type Wal,
  type WalMessage,
  type WalRecord,
} from './types';

export interface EmbeddedWalOptions {
  /** A channel starts a new segment file once the current one reaches this size. */
  segmentBytes?: number;
  /** Most bytes one `read` (or one subscriber batch) loads; at least one record is returned whatever its size. */
  maxReadBytes?: number;
  /** Records per subscriber batch when the subscriber does not say. */
  defaultMaxBatch?: number;
  /** Wait before a subscription retries after its read or its handler failed. */
  retryDelayMs?: number;
  /**
   * Most bytes of a channel's newest records kept in memory for its subscribers (0: none, every read goes to the
   * file). Memory held per subscribed channel against a file read and a checksum pass per record and subscriber.
   */
  tailBytes?: number;
  logger?: Logger;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_BATCH = 1000;
export const DEFAULT_RETRY_DELAY_MS = 200;
export const DEFAULT_TAIL_BYTES = 32 * 1024 * 1024;
/** Largest single record; larger messages are refused. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

export interface EmbeddedWalStats {
  /** fsyncs of segment files since open (one per group commit). */
  syncs: number;
  /** Records appended since open. */
  records: number;
  /** Records found on open. */
  recovered: number;
  /** Records reads returned from the in-memory tail (not read back from a file). */
  fromMemory: number;
}

const FRAME_HEADER = 8;
const BODY_FIXED = 12;
const SEG_RE = /^(\d{20})\.seg$/;
const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
const SCAN_CHUNK = 4 * 1024 * 1024;

interface Segment {
  base: number;
  file: string;
  /** positions[i]: file position of record base + i. */
  positions: Uint32Array;
  count: number;
  /** Bytes of durable records. */
  size: number;
  reader?: Promise<fs.promises.FileHandle>;
}

interface PendingAppend {
  /** Head and value of each record in turn (and the key between them when there is one). */
  parts: Buffer[];
  /** The records, in memory for the tail once durable. */
  records: WalRecord[];
  bytes: number;
  sizes: number[];
  base: number;
  resolve: (offsets: number[]) => void;
  reject: (err: Error) => void;
}

class Channel {
  readonly name: string;
  segments: Segment[] = [];
  writer: fs.promises.FileHandle | undefined;
  /** The offset the next append gets. */
  nextOffset = 0;
  /** Offsets below this are durable and visible. */
  durableEnd = 0;
  pending: PendingAppend[] = [];
  flushing: Promise<void> | undefined;
  failure: Error | undefined;
  closed = false;
  /** Subscribers waiting for records; called (and dropped) whenever durableEnd moves or the channel closes. */
  readonly waiters = new Set<() => void>();
  /** The newest durable records, offsets tail[0].offset .. durableEnd - 1 (see tailBytes). */
  tail: WalRecord[] = [];
  tailStart = 0;
  tailBytes = 0;

  constructor(
    readonly ref: ChannelRef,
    readonly dir: string,
  ) {
    this.name = channelName(ref);
  }

  wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

function segmentFile(dir: string, base: number): string {
  return path.join(dir, `${String(base).padStart(20, '0')}.seg`);
}

function pushPosition(seg: Segment, pos: number): void {
  if (seg.count === seg.positions.length) {
    const grown = new Uint32Array(Math.max(1024, seg.positions.length * 2));
    grown.set(seg.positions);
    seg.positions = grown;
  }
  seg.positions[seg.count++] = pos;
}

function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || !TOPIC_RE.test(topic) || topic === '.' || topic === '..') {
    throw new KiteError(
      'ParameterInvalid',
      `invalid topic name "${topic}": use 1-249 characters from [A-Za-z0-9._-] (Kafka's rule), not "." or ".."`,
    );
  }
}

/**
 * Encodes messages as consecutive records starting at offset `base`: per record a head (frame header, offset, key
 * length, key) followed by the value itself, not copied; the checksum covers the body (head after the frame header,
 * then the value), so the bytes written are those of one contiguous frame.
 */
function encode(base: number, messages: WalMessage[]): Omit<PendingAppend, 'base' | 'resolve' | 'reject'> {
  const parts: Buffer[] = [];
  const records: WalRecord[] = [];
  const sizes: number[] = [];
  let bytes = 0;
  for (const [i, m] of messages.entries()) {
    if (!Buffer.isBuffer(m.value)) {
      throw new KiteError('ParameterInvalid', `message ${i}: value must be a Buffer`);
    }
    const key = m.key === undefined ? undefined : Buffer.from(m.key, 'utf8');
    const size = FRAME_HEADER + BODY_FIXED + (key?.length ?? 0) + m.value.length;
    if (size > MAX_RECORD_BYTES) {
      throw new KiteError('RequestTooLarge', `message ${i} is ${size} bytes; the WAL takes records up to ${MAX_RECORD_BYTES}`);
    }
    const offset = base + i;
    const head = Buffer.allocUnsafe(FRAME_HEADER + BODY_FIXED + (key?.length ?? 0));
    head.writeUInt32LE(size - FRAME_HEADER, 0);
    head.writeUInt32LE(offset >>> 0, 8);
    head.writeUInt32LE(Math.floor(offset / 0x1_0000_0000), 12);
    head.writeInt32LE(key === undefined ? -1 : key.length, 16);
    if (key) key.copy(head, FRAME_HEADER + BODY_FIXED);
    head.writeUInt32LE(crc32(m.value, crc32(head.subarray(FRAME_HEADER))), 4);
    parts.push(head, m.value);
    records.push(m.key === undefined ? { offset, value: m.value } : { offset, key: m.key, value: m.value });
    sizes.push(size);
    bytes += size;
  }
  return { parts, records, bytes, sizes };
}

/** Decodes one record whose frame starts at `pos` in `buf`; the caller has checked the frame fits. */
function decode(buf: Buffer, pos: number, bodyLen: number): WalRecord {
  const b = pos + FRAME_HEADER;
  const offset = buf.readUInt32LE(b) + buf.readUInt32LE(b + 4) * 0x1_0000_0000;
  const keyLen = buf.readInt32LE(b + 8);
  const keyStart = b + BODY_FIXED;
  const valueStart = keyStart + Math.max(0, keyLen);
  const value = buf.subarray(valueStart, b + bodyLen);
  return keyLen < 0 ? { offset, value } : { offset, key: buf.toString('utf8', keyStart, valueStart), value };
}

/** Checks a frame at `pos`: undefined when it is whole and valid, else why not. `avail` bytes follow `pos`. */
function frameProblem(buf: Buffer, pos: number, avail: number, expectedOffset: number): string | undefined {
  if (avail < FRAME_HEADER) return 'partial record header';
  const len = buf.readUInt32LE(pos);
  if (len < BODY_FIXED || len > MAX_RECORD_BYTES) return `bad record length ${len}`;
  if (avail < FRAME_HEADER + len) return 'record runs past the end of the file';
  const body = buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + len);
  if (crc32(body) !== buf.readUInt32LE(pos + 4)) return 'checksum mismatch';
  const offset = body.readUInt32LE(0) + body.readUInt32LE(4) * 0x1_0000_0000;
  if (offset !== expectedOffset) return `record holds offset ${offset}, expected ${expectedOffset}`;
  const keyLen = body.readInt32LE(8);
  if (keyLen < -1 || BODY_FIXED + Math.max(0, keyLen) > len) return `bad key length ${keyLen}`;
  return undefined;
}

interface ScanResult {
  seg: Segment;
  /** Why the scan stopped before the end of the file, if it did. */
  torn?: string;
  fileSize: number;
}

async function scanSegment(file: string, base: number): Promise<ScanResult> {
  const seg: Segment = { base, file, positions: new Uint32Array(1024), count: 0, size: 0 };
  const fh = await fs.promises.open(file, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    let carry = Buffer.alloc(0);
    let carryAt = 0; // file position of carry[0]
    let readAt = 0;
    while (readAt < fileSize || carry.length > 0) {
      let data = carry;
      if (readAt < fileSize) {
        const want = Math.min(SCAN_CHUNK, fileSize - readAt);
        const chunk = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(chunk, 0, want, readAt);
        if (bytesRead === 0) {
          seg.size = carryAt;
          return { seg, torn: `file ended at byte ${readAt} while being read`, fileSize };
        }
        readAt += bytesRead;
        data = carry.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      }
      let p = 0;
      for (;;) {
        const avail = data.length - p;
        if (avail === 0) break;
        const problem = frameProblem(data, p, avail, base + seg.count);
        if (problem === undefined) {
          pushPosition(seg, carryAt + p);
          p += FRAME_HEADER + data.readUInt32LE(p);
          continue;
        }
        const needMore = problem === 'partial record header' || problem === 'record runs past the end of the file';
        if (needMore && readAt < fileSize) break;
        seg.size = carryAt + p;
        return { seg, torn: `${problem} at byte ${carryAt + p}`, fileSize };
      }
      carryAt += p;
      carry = data.subarray(p);
      if (readAt >= fileSize && carry.length === 0) break;
    }
    seg.size = carryAt;
    return { seg, fileSize };
  } finally {
    await fh.close();
  }
}

export class EmbeddedWal implements Wal {
  private readonly topics = new Map<string, Channel[]>();
  private readonly subscriptions = new Set<TailSubscription>();
  private metaChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private syncs = 0;
  private records = 0;
  private recovered = 0;
  private fromMemory = 0;

  private constructor(
    private readonly dir: string,
    private readonly unlock: () => Promise<void>,
    private readonly opts: Required<Omit<EmbeddedWalOptions, 'logger'>>,
    private readonly log: Logger,
  ) {}

  static async open(dir: string, options: EmbeddedWalOptions = {}): Promise<EmbeddedWal> {
    const opts = {
      segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      maxReadBytes: options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES,
      defaultMaxBatch: options.defaultMaxBatch ?? DEFAULT_MAX_BATCH,
      retryDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
      tailBytes: options.tailBytes ?? DEFAULT_TAIL_BYTES,
    };
    if (!(opts.segmentBytes >= 1 && opts.segmentBytes <= 1024 * 1024 * 1024)) {
      throw new KiteError('ParameterInvalid', `segmentBytes must be from 1 to 1 GiB, got ${opts.segmentBytes}`);
    }
    const log = (options.logger ?? silentLogger).child({ component: 'embedded-wal', dir });
    await fs.promises.mkdir(path.join(dir, 'channels'), { recursive: true });
    const unlock = await lockDir(dir, 'WAL');
    const wal = new EmbeddedWal(dir, unlock, opts, log);
    try {
      await wal.recover();
    } catch (e) {
      await wal.closeChannels();
      await unlock();
      throw e;
    }
    return wal;
  }

  private get channelsDir(): string {
    return path.join(this.dir, 'channels');
  }

  private async recover(): Promise<void> {
    let meta: { topics: Record<string, { partitions: number }> } = { topics: {} };
    try {
      meta = JSON.parse(await fs.promises.readFile(path.join(this.dir, 'topics.json'), 'utf8')) as typeof meta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const [topic, { partitions }] of Object.entries(meta.topics)) {
      const channels: Channel[] = [];
      for (let p = 0; p < partitions; p++) {
        channels.push(await this.recoverChannel({ topic, partition: p }));
      }
      this.topics.set(topic, channels);
    }
    // Directories of topics missing from topics.json are left from an interrupted create or delete.
    for (const name of await fs.promises.readdir(this.channelsDir)) {
      if (!this.topics.has(name)) {
        this.log.info({ topic: name }, 'removing files of a topic not in topics.json');
        await fs.promises.rm(path.join(this.channelsDir, name), { recursive: true, force: true });
      }
    }
    for (const name of await fs.promises.readdir(this.dir)) {
      if (name.includes('.tmp-')) await fs.promises.rm(path.join(this.dir, name), { force: true });
    }
  }

  private async recoverChannel(ref: ChannelRef): Promise<Channel> {
    const ch = new Channel(ref, path.join(this.channelsDir, ref.topic, String(ref.partition)));
    await fs.promises.mkdir(ch.dir, { recursive: true });
    const bases = (await fs.promises.readdir(ch.dir))
      .map((n) => SEG_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const [i, base] of bases.entries()) {
      const file = segmentFile(ch.dir, base);
      if (base !== ch.durableEnd) {
        throw new KiteError('IoFailed', `WAL segment ${file} starts at offset ${base}, expected ${ch.durableEnd}`, {
          retriable: false,
        });
      }
      const { seg, torn, fileSize } = await scanSegment(file, base);
      if (torn !== undefined) {
        if (i !== bases.length - 1) {
          throw new KiteError('IoFailed', `WAL segment ${file} is damaged before its end (${torn})`, { retriable: false });
        }
        this.log.warn({ file, reason: torn, dropped: fileSize - seg.size }, 'truncating torn WAL tail');
        await fs.promises.truncate(file, seg.size);
      }
      ch.segments.push(seg);
      ch.durableEnd += seg.count;
    }
    ch.nextOffset = ch.durableEnd;
    this.recovered += ch.durableEnd;
    const last = ch.segments[ch.segments.length - 1];
    if (last) ch.writer = await fs.promises.open(last.file, 'a');
    return ch;
  }

  // ---- topics ----

  async createTopic(topic: string, partitions: number): Promise<void> {
    this.checkOpen();
    checkTopic(topic);
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 4096) {
      throw new KiteError('ParameterInvalid', `partitions of topic ${topic} must be an integer from 1 to 4096, got ${partitions}`);
    }
    await this.withMeta(async () => {
      const existing = this.topics.get(topic);
      if (existing) {
        if (existing.length === partitions) return;
        throw new KiteError(
          'ParameterInvalid',
          `topic ${topic} exists with ${existing.length} partitions, not ${partitions}: delete it first or use ${existing.length}`,
        );
      }
      const channels: Channel[] = [];
      for (let p = 0; p < partitions; p++) {
        const ch = new Channel({ topic, partition: p }, path.join(this.channelsDir, topic, String(p)));
        await fs.promises.mkdir(ch.dir, { recursive: true });
        channels.push(ch);
      }
      await fsyncDir(this.channelsDir);
      this.topics.set(topic, channels);
      await this.writeMeta();
    });
  }

  async deleteTopic(topic: string): Promise<void> {
    this.checkOpen();
    checkTopic(topic);
    await this.withMeta(async () => {
      const channels = this.topics.get(topic);
      if (!channels) return;
      this.topics.delete(topic);
      for (const ch of channels) await this.closeChannel(ch);
      await this.writeMeta();
      await fs.promises.rm(path.join(this.channelsDir, topic), { recursive: true, force: true });
    });
  }

  private withMeta<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.metaChain.then(fn, fn);
    this.metaChain = run.catch(() => undefined);
    return run;
  }

  private async writeMeta(): Promise<void> {
    const topics: Record<string, { partitions: number }> = {};
    for (const [name, channels] of this.topics) topics[name] = { partitions: channels.length };
    await writeFileAtomic(path.join(this.dir, 'topics.json'), Buffer.from(JSON.stringify({ topics }, null, 2)));
  }

  // ---- append ----

  async append(ref: ChannelRef, messages: WalMessage[]): Promise<number[]> {
    const ch = this.channel(ref);
    if (ch.failure) {
      throw new KiteError('IoFailed', `WAL channel ${ch.name} failed a write earlier (${ch.failure.message}): reopen the WAL`, {
        retriable: false,
      });
    }
    if (messages.length === 0) return [];
    const base = ch.nextOffset;
    const encoded = encode(base, messages);
    ch.nextOffset += messages.length;
    const done = new Promise<number[]>((resolve, reject) => ch.pending.push({ ...encoded, base, resolve, reject }));
    if (!ch.flushing) ch.flushing = this.flushLoop(ch);
    return done;
  }

  private async flushLoop(ch: Channel): Promise<void> {
    let batch: PendingAppend[] = [];
    try {
      // Let appenders woken in this same turn of the event loop (e.g. by the previous fsync) join this write.
      await new Promise((resolve) => setImmediate(resolve));
      while (ch.pending.length > 0) {
        batch = ch.pending;
        ch.pending = [];
        let seg = ch.segments[ch.segments.length - 1];
        const bytes = batch.reduce((n, b) => n + b.bytes, 0);
        // Positions are 32-bit: a segment never grows past 4 GiB, whatever segmentBytes says.
        const full = seg !== undefined && seg.count > 0 && (seg.size >= this.opts.segmentBytes || seg.size + bytes > 0xffff_ffff);
        if (!seg || !ch.writer || full) seg = await this.roll(ch);
        const writer = ch.writer as fs.promises.FileHandle;
        await writevAll(writer, batch.flatMap((b) => b.parts));
        await writer.datasync();
        this.syncs++;
        let pos = seg.size;
        let count = 0;
        for (const b of batch) {
          for (const s of b.sizes) {
            pushPosition(seg, pos);
            pos += s;
          }
          count += b.sizes.length;
        }
        seg.size = pos;
        ch.durableEnd += count;
        this.records += count;
        if (this.opts.tailBytes > 0 && this.lowestSubscriber(ch) !== undefined) {
          for (const b of batch) this.keepTail(ch, b.records, b.sizes);
        }
        for (const b of batch) b.resolve(b.sizes.map((_, i) => b.base + i));
        batch = [];
        ch.wake();
      }
    } catch (e) {
      const err = e as Error;
      this.log.error({ channel: ch.name, err: err.message }, 'WAL write failed; the channel refuses further appends');
      ch.failure = err;
      const failed = [...batch, ...ch.pending];
      ch.pending = [];
      const wrapped = new KiteError('IoFailed', `WAL append to ${ch.name} failed: ${err.message}`, { cause: err });
      for (const b of failed) b.reject(wrapped);
    } finally {
      ch.flushing = undefined;
    }
  }

  /** Adds durable records to the channel's in-memory tail, dropping the oldest beyond tailBytes. */
  private keepTail(ch: Channel, records: WalRecord[], sizes: number[]): void {
    const first = records[0];
    if (first === undefined) return;
    if (ch.tail.length === 0 || ch.tailStart + ch.tail.length !== first.offset) {
      ch.tail = [];
      ch.tailStart = first.offset;
      ch.tailBytes = 0;
    }
    for (const [i, r] of records.entries()) {
      ch.tail.push(r);
      ch.tailBytes += sizes[i] as number;
    }
    let drop = 0;
    while (drop < ch.tail.length - 1 && ch.tailBytes > this.opts.tailBytes) ch.tailBytes -= frameBytes(ch.tail[drop++] as WalRecord);
    if (ch.tailBytes > this.opts.tailBytes) {
      drop = ch.tail.length;
      ch.tailBytes = 0;
    }
    this.dropTail(ch, drop);
  }

  private dropTail(ch: Channel, n: number): void {
    if (n <= 0) return;
    ch.tail = ch.tail.slice(n);
    ch.tailStart += n;
  }

  /** The lowest next offset of the channel's subscriptions; undefined when it has none. */
  private lowestSubscriber(ch: Channel): number | undefined {
    let low: number | undefined;
    for (const s of this.subscriptions) {
      if (s.ref.topic === ch.ref.topic && s.ref.partition === ch.ref.partition) low = Math.min(low ?? Infinity, s.position);
    }
    return low;
  }

  /** @internal A subscriber of the channel moved to `next` (or left): drops tail records every subscriber passed. */
  released(ref: ChannelRef): void {
    const ch = this.topics.get(ref.topic)?.[ref.partition];
    if (!ch) return;
    const low = this.lowestSubscriber(ch);
    if (low === undefined) {
      ch.tail = [];
      ch.tailBytes = 0;
      return;
    }
    let n = 0;
    while (n < ch.tail.length && ch.tailStart + n < low) ch.tailBytes -= frameBytes(ch.tail[n++] as WalRecord);
    this.dropTail(ch, n);
  }

  /** Starts a new segment at the channel's durable end. */
  private async roll(ch: Channel): Promise<Segment> {
    const base = ch.durableEnd;
    const seg: Segment = { base, file: segmentFile(ch.dir, base), positions: new Uint32Array(1024), count: 0, size: 0 };
    const writer = await fs.promises.open(seg.file, 'a');
    await fsyncDir(ch.dir);
    const old = ch.writer;
    ch.writer = writer;
    ch.segments.push(seg);
    await old?.close();
    return seg;
  }

  // ---- read ----

  async endOffset(ref: ChannelRef): Promise<number> {
    return this.channel(ref).durableEnd;
  }

  async read(ref: ChannelRef, from: number, max: number): Promise<WalRecord[]> {
    const ch = this.channel(ref);
    if (!Number.isInteger(from) || from < 0) {
      throw new KiteError('ParameterInvalid', `read offset must be an integer >= 0, got ${from}`);
    }
    if (!Number.isInteger(max) || max < 1) {
      throw new KiteError('ParameterInvalid', `read max must be an integer >= 1, got ${max}`);
    }
    const end = Math.min(ch.durableEnd, from + max);
    const out: WalRecord[] = [];
    let off = from;
    let budget = this.opts.maxReadBytes;
    if (off >= ch.tailStart && off < ch.tailStart + ch.tail.length) {
      // In memory: the same records (and the same byte budget) a file read would give.
      const stop = Math.min(end, ch.tailStart + ch.tail.length);
      while (off < stop && budget > 0) {
        const r = ch.tail[off - ch.tailStart] as WalRecord;
        const n = frameBytes(r);
        if (out.length > 0 && n > budget) break;
        out.push(r);
        budget -= n;
        off++;
      }
      this.fromMemory += out.length;
      return out;
    }
    while (off < end && budget > 0) {
      const seg = findSegment(ch.segments, off);
      const i = off - seg.base;
      let j = Math.min(end - seg.base, seg.count);
      const start = seg.positions[i] as number;
      const posOf = (k: number): number => (k < seg.count ? (seg.positions[k] as number) : seg.size);
      if (posOf(j) - start > budget) {
        // Largest j > i whose bytes fit the budget; at least one record.
        let lo = i + 1;
        let hi = j;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (posOf(mid) - start <= budget) lo = mid;
          else hi = mid - 1;
        }
        j = lo;
      }
      const stop = posOf(j);
      const buf = Buffer.allocUnsafe(stop - start);
      const fh = await (seg.reader ??= fs.promises.open(seg.file, 'r'));
      let got = 0;
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
        if (bytesRead === 0) throw new KiteError('IoFailed', `WAL segment ${seg.file} is shorter than its index`);
        got += bytesRead;
      }
      let p = 0;
      for (let k = i; k < j; k++) {
        const problem = frameProblem(buf, p, buf.length - p, seg.base + k);
        if (problem !== undefined) {
          throw new KiteError('IoFailed', `WAL segment ${seg.file} damaged at byte ${start + p}: ${problem}`, {
            retriable: false,
          });
        }
        const len = buf.readUInt32LE(p);
        out.push(decode(buf, p, len));
        p += FRAME_HEADER + len;
      }
      budget -= buf.length;
      off = seg.base + j;
    }
    return out;
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
    const sub = new TailSubscription(this, ref, from, handler, {
      maxBatch: options.maxBatch ?? this.opts.defaultMaxBatch,
      onError: options.onError,
      retryDelayMs: this.opts.retryDelayMs,
    });
    this.subscriptions.add(sub);
    sub.start(() => {
      this.subscriptions.delete(sub);
      this.released(ref);
    });
    return sub;
  }

  /** @internal Resolves at the next durable append on the channel (or its close), or at once if `offset` is there. */
  waitForRecords(ref: ChannelRef, offset: number, cancel: { wake?: () => void }): Promise<void> {
    const ch = this.channel(ref);
    if (ch.durableEnd > offset) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        ch.waiters.delete(wake);
        cancel.wake = undefined;
        resolve();
      };
      ch.waiters.add(wake);
      cancel.wake = wake;
    });
  }

  // ---- lifecycle ----

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.metaChain;
    await this.closeChannels();
    await this.unlock();
  }

  stats(): EmbeddedWalStats {
    return { syncs: this.syncs, records: this.records, recovered: this.recovered, fromMemory: this.fromMemory };
  }

  private async closeChannels(): Promise<void> {
    for (const channels of this.topics.values()) for (const ch of channels) await this.closeChannel(ch);
  }

  private async closeChannel(ch: Channel): Promise<void> {
    ch.closed = true;
    while (ch.flushing) await ch.flushing;
    await ch.writer?.close();
    ch.writer = undefined;
    for (const seg of ch.segments) {
      const reader = seg.reader;
      seg.reader = undefined;
      if (reader) await (await reader).close();
    }
    ch.wake();
  }

  private checkOpen(): void {
    if (this.closed) throw new KiteError('ServiceNotReady', 'WAL is closed');
  }

  private channel(ref: ChannelRef): Channel {
    this.checkOpen();
    const ch = this.topics.get(ref.topic)?.[ref.partition];
    if (!ch || ch.closed) {
      const n = this.topics.get(ref.topic)?.length;
      throw new KiteError(
        'ParameterInvalid',
        n === undefined
          ? `WAL topic ${ref.topic} does not exist: create it first`
          : `WAL channel ${channelName(ref)} does not exist: topic ${ref.topic} has partitions 0..${n - 1}`,
      );
    }
    return ch;
  }
}

/** Bytes of a record's frame in the file. */
function frameBytes(r: WalRecord): number {
  return FRAME_HEADER + BODY_FIXED + (r.key === undefined ? 0 : Buffer.byteLength(r.key, 'utf8')) + r.value.length;
}

function findSegment(segments: Segment[], offset: number): Segment {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((segments[mid] as Segment).base <= offset) lo = mid;
    else hi = mid - 1;
  }
  return segments[lo] as Segment;
}

interface TailOptions {
  maxBatch: number;
  onError: ((err: Error) => void) | undefined;
  retryDelayMs: number;
}

/**
 * One subscriber: read a batch, await the handler, repeat; when caught up, sleep until the next durable append.
 * A failed read or handler is reported to onError and retried after a pause, from the same offset, so a batch is
 * redelivered until its handler succeeds (no gaps, no skips). `close()` waits for a running handler, so a handler
 * must not await its own subscription's close (call it without awaiting instead).
 */
class TailSubscription implements Subscription {
  private closed = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly waiting: { wake?: () => void } = {};
  private sleepTimer: NodeJS.Timeout | undefined;
  private sleepResolve: (() => void) | undefined;

  constructor(
    private readonly wal: EmbeddedWal,
    readonly ref: ChannelRef,
    private next: number,
    private readonly handler: (records: WalRecord[]) => Promise<void>,
    private readonly opts: TailOptions,
  ) {}

  /** The next offset this subscription will deliver. */
  get position(): number {
    return this.next;
  }

  start(onEnd: () => void): void {
    this.loop = this.run().finally(onEnd);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.waiting.wake?.();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.sleepResolve?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      let records: WalRecord[];
      try {
        records = await this.wal.read(this.ref, this.next, this.opts.maxBatch);
        if (records.length === 0) {
          await this.wal.waitForRecords(this.ref, this.next, this.waiting);
          continue;
        }
      } catch (e) {
        if (this.closed) return;
        this.report(e);
        await this.pause();
        continue;
      }
      if (this.closed) return;
      try {
        await this.handler(records);
      } catch (e) {
        this.report(e);
        await this.pause();
        continue;
      }
      this.next = (records[records.length - 1] as WalRecord).offset + 1;
      this.wal.released(this.ref);
    }
  }

  private report(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    try {
      this.opts.onError?.(err);
    } catch {
      // an onError that throws must not end the subscription
    }
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      this.sleepResolve = resolve;
      this.sleepTimer = setTimeout(resolve, this.opts.retryDelayMs);
    });
  }
}
