import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { walContract } from './contract';
import { EmbeddedWal, type EmbeddedWalOptions } from './embedded';
import { crashValue } from './testing/crash-child';
import type { WalRecord } from './types';

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-wal-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const d of tmpDirs) await fs.promises.rm(d, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const msg = (s: string): { value: Buffer } => ({ value: Buffer.from(s) });
const text = (r: WalRecord): string => r.value.toString();

walContract('embedded', async () => {
  const dir = await tmpDir();
  let wal = await EmbeddedWal.open(dir);
  return {
    wal,
    cleanup: async () => {
      await wal.close();
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
    reopen: async () => {
      await wal.close();
      wal = await EmbeddedWal.open(dir);
      return wal;
    },
  };
});

describe('EmbeddedWal', () => {
  let dir: string;
  let wal: EmbeddedWal;
  const ch = { topic: 't', partition: 0 };
  const open = async (opts?: EmbeddedWalOptions): Promise<EmbeddedWal> => {
    wal = await EmbeddedWal.open(dir, opts);
    return wal;
  };
  const segments = async (partition = 0): Promise<string[]> =>
    (await fs.promises.readdir(path.join(dir, 'channels', 't', String(partition)))).filter((f) => f.endsWith('.seg')).sort();

  beforeEach(async () => {
    dir = await tmpDir();
  });
  afterEach(async () => {
    await wal?.close();
  });

  it('numbers offsets densely from 0 per channel', async () => {
    await open();
    await wal.createTopic('t', 2);
    expect(await wal.append(ch, [msg('a')])).toEqual([0]);
    expect(await wal.append(ch, [msg('b'), msg('c')])).toEqual([1, 2]);
    expect(await wal.append({ topic: 't', partition: 1 }, [msg('x')])).toEqual([0]);
    expect(await wal.endOffset(ch)).toBe(3);
    expect((await wal.read(ch, 0, 100)).map(text)).toEqual(['a', 'b', 'c']);
    expect((await wal.read(ch, 1, 1)).map((r) => [r.offset, text(r)])).toEqual([[1, 'b']]);
  });

  it('group commit: concurrent appends on a channel share fsyncs', async () => {
    await open();
    await wal.createTopic('t', 1);
    const before = wal.stats().syncs;
    const offsets = await Promise.all(Array.from({ length: 64 }, (_, i) => wal.append(ch, [msg(`m${i}`)])));
    expect(offsets.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    // Offsets follow call order: append i was called i-th.
    expect(offsets.map((o) => o[0])).toEqual(Array.from({ length: 64 }, (_, i) => i));
    const syncs = wal.stats().syncs - before;
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(16);
  });

  it('rolls segments, reads across them, and keeps them across a reopen', async () => {
    await open({ segmentBytes: 4096 });
    await wal.createTopic('t', 1);
    for (let i = 0; i < 100; i++) await wal.append(ch, [msg(`r${i}-${'p'.repeat(200)}`)]);
    expect((await segments()).length).toBeGreaterThan(4);
    const all = await wal.read(ch, 0, 1000);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect((await wal.read(ch, 37, 30)).map((r) => r.offset)).toEqual(Array.from({ length: 30 }, (_, i) => 37 + i));
    await wal.close();
    await open({ segmentBytes: 4096 });
    expect(wal.stats().recovered).toBe(100);
    expect(await wal.endOffset(ch)).toBe(100);
    expect((await wal.read(ch, 0, 1000)).map(text)).toEqual(all.map(text));
    expect(await wal.append(ch, [msg('next')])).toEqual([100]);
  });

  it('writes each record as one contiguous frame: length, crc32 of the body, offset, key length, key, value', async () => {
    // The frame as a plain reference encoder builds it (body in one buffer, crc32 over it), byte for byte.
    const frame = (offset: number, key: string | undefined, value: Buffer): Buffer => {
      const k = key === undefined ? Buffer.alloc(0) : Buffer.from(key, 'utf8');
      const fixed = Buffer.alloc(12);
      fixed.writeUInt32LE(offset % 0x1_0000_0000, 0);
      fixed.writeUInt32LE(Math.floor(offset / 0x1_0000_0000), 4);
      fixed.writeInt32LE(key === undefined ? -1 : k.length, 8);
      const body = Buffer.concat([fixed, k, value]);
      const head = Buffer.alloc(8);
      head.writeUInt32LE(body.length, 0);
      head.writeUInt32LE(zlib.crc32(body) >>> 0, 4);
      return Buffer.concat([head, body]);
    };
    await open();
    await wal.createTopic('t', 1);
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const msgs = [{ value: Buffer.from('plain') }, { key: 'kéy', value: big.subarray(3, 200_003) }, { key: '', value: Buffer.alloc(0) }];
    await wal.append(ch, msgs.slice(0, 1));
    await Promise.all([wal.append(ch, msgs.slice(1, 2)), wal.append(ch, msgs.slice(2))]);
    const [seg] = await segments();
    const bytes = await fs.promises.readFile(path.join(dir, 'channels', 't', '0', seg as string));
    expect(bytes.equals(Buffer.concat(msgs.map((m, i) => frame(i, m.key, m.value))))).toBe(true);
    await wal.close();
    await open();
    expect(wal.stats().recovered).toBe(3);
    const back = await wal.read(ch, 0, 10);
    expect(back.map((r) => r.key)).toEqual([undefined, 'kéy', '']);
    expect(back.map((r) => r.value.equals(msgs[r.offset]!.value))).toEqual([true, true, true]);
  });

  it('serves subscribers from memory the records a read of the file gives, bounded by tailBytes', async () => {
    for (const tailBytes of [64 * 1024 * 1024, 0, 3000]) {
      dir = await tmpDir();
      await open({ tailBytes, maxReadBytes: 2500 });
      await wal.createTopic('t', 1);
      const seen: WalRecord[] = [];
      const sub = wal.subscribe(ch, 0, async (records) => {
        seen.push(...records);
      });
      const sent: Buffer[] = [];
      for (let i = 0; i < 20; i++) {
        const batch = Array.from({ length: 1 + (i % 3) }, (_, j) => Buffer.alloc(100 + 300 * j + i, i));
        sent.push(...batch);
        await Promise.all(batch.map((value, j) => wal.append(ch, [j % 2 === 0 ? { value } : { key: `k${i}`, value }])));
      }
      const deadline = Date.now() + 10_000;
      while (seen.length < sent.length && Date.now() < deadline) await sleep(5);
      await sub.close();
      const fromMemory = wal.stats().fromMemory;
      if (tailBytes === 0) expect(fromMemory).toBe(0);
      else if (tailBytes > 1_000_000) expect(fromMemory).toBe(sent.length);
      else expect(fromMemory).toBeGreaterThan(0);
      expect(seen.map((r) => r.offset)).toEqual(sent.map((_, i) => i));
      expect(seen.every((r, i) => r.value.equals(sent[i]!))).toBe(true);
      // A plain read (from memory where the tail holds the records) matches the file after a reopen.
      const before = await wal.read(ch, 0, 1000);
      const tailRead = await wal.read(ch, sent.length - 2, 10);
      await wal.close();
      await open({ tailBytes, maxReadBytes: 2500 });
      const after = await wal.read(ch, 0, 1000);
      expect(after.map((r) => [r.offset, r.key, r.value.toString('hex')])).toEqual(before.map((r) => [r.offset, r.key, r.value.toString('hex')]));
      const fileRead = await wal.read(ch, sent.length - 2, 10);
      expect(tailRead.map((r) => [r.offset, r.key, r.value.toString('hex')])).toEqual(fileRead.map((r) => [r.offset, r.key, r.value.toString('hex')]));
      await wal.close();
    }
  });

  it('caps a read by bytes but always returns at least one record', async () => {
    await open({ maxReadBytes: 1000 });
    await wal.createTopic('t', 1);
    await wal.append(ch, [{ value: Buffer.alloc(5000, 1) }, msg('small'), msg('small2')]);
    const first = await wal.read(ch, 0, 10);
    expect(first.map((r) => r.value.length)).toEqual([5000]);
    expect((await wal.read(ch, 1, 10)).map(text)).toEqual(['small', 'small2']);
  });

  it('drops a torn tail on open and continues from the last whole record', async () => {
    await open();
    await wal.createTopic('t', 1);
    for (let i = 0; i < 10; i++) await wal.append(ch, [msg(`r${i}`)]);
    await wal.close();
    const [seg] = await segments();
    const file = path.join(dir, 'channels', 't', '0', seg as string);
    await fs.promises.truncate(file, (await fs.promises.stat(file)).size - 3);

    await open();
    expect(await wal.endOffset(ch)).toBe(9);
    expect((await wal.read(ch, 0, 100)).map(text)).toEqual(Array.from({ length: 9 }, (_, i) => `r${i}`));
    expect(await wal.append(ch, [msg('again')])).toEqual([9]);
    await wal.close();
    await open();
    expect((await wal.read(ch, 8, 100)).map(text)).toEqual(['r8', 'again']);
  });

  it('drops a tail record with a bad checksum, and garbage after the last record', async () => {
    await open();
    await wal.createTopic('t', 1);
    await wal.append(ch, [msg('aaaa'), msg('bbbb'), msg('cccc')]);
    await wal.close();
    const [seg] = await segments();
    const file = path.join(dir, 'channels', 't', '0', seg as string);
    const buf = await fs.promises.readFile(file);
    buf.writeUInt8(buf.readUInt8(buf.length - 2) ^ 0x55, buf.length - 2);
    await fs.promises.writeFile(file, buf);
    await open();
    expect((await wal.read(ch, 0, 10)).map(text)).toEqual(['aaaa', 'bbbb']);
    await wal.close();

    await fs.promises.appendFile(file, Buffer.from([20, 0, 0, 0, 9, 9, 9, 9, 1, 2]));
    await open();
    expect(await wal.endOffset(ch)).toBe(2);
    expect(await wal.append(ch, [msg('dddd')])).toEqual([2]);
    expect((await wal.read(ch, 0, 10)).map(text)).toEqual(['aaaa', 'bbbb', 'dddd']);
  });

  it('refuses to open when a segment other than the newest is damaged', async () => {
    await open({ segmentBytes: 256 });
    await wal.createTopic('t', 1);
    for (let i = 0; i < 20; i++) await wal.append(ch, [msg(`r${i}-${'x'.repeat(100)}`)]);
    await wal.close();
    const segs = await segments();
    expect(segs.length).toBeGreaterThan(2);
    const file = path.join(dir, 'channels', 't', '0', segs[0] as string);
    const buf = await fs.promises.readFile(file);
    buf.writeUInt8(buf.readUInt8(20) ^ 0xff, 20);
    await fs.promises.writeFile(file, buf);
    await expect(EmbeddedWal.open(dir)).rejects.toMatchObject({ kind: 'IoFailed', message: /damaged before its end/ });
    // The failed open released the lock.
    await fs.promises.writeFile(file, Buffer.alloc(0));
    await expect(EmbeddedWal.open(dir)).rejects.toMatchObject({ kind: 'IoFailed', message: /starts at offset/ });
  });

  it('validates topics and channels', async () => {
    await open();
    await expect(wal.createTopic('../evil', 1)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(wal.createTopic('..', 1)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(wal.createTopic('ok', 0)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await wal.createTopic('t', 2);
    await expect(wal.createTopic('t', 3)).rejects.toThrow(/exists with 2 partitions/);
    await expect(wal.append({ topic: 'nope', partition: 0 }, [msg('x')])).rejects.toThrow(/does not exist/);
    await expect(wal.append({ topic: 't', partition: 2 }, [msg('x')])).rejects.toThrow(/partitions 0\.\.1/);
    await expect(wal.append(ch, [{ value: 'not a buffer' as unknown as Buffer }])).rejects.toMatchObject({
      kind: 'ParameterInvalid',
    });
    await expect(wal.read(ch, -1, 10)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    expect(await wal.endOffset(ch)).toBe(0);
  });

  it('persists topics; deleteTopic removes the files and a new topic of that name starts at 0', async () => {
    await open();
    await wal.createTopic('t', 3);
    await wal.createTopic('keep', 1);
    await wal.append(ch, [msg('a'), msg('b')]);
    await wal.close();
    await open();
    await wal.createTopic('t', 3); // no-op: same count
    await expect(wal.createTopic('t', 1)).rejects.toThrow(/exists with 3/);
    expect(await wal.endOffset(ch)).toBe(2);
    await wal.deleteTopic('t');
    await wal.deleteTopic('t'); // deleting a missing topic is a no-op
    expect(fs.existsSync(path.join(dir, 'channels', 't'))).toBe(false);
    await expect(wal.endOffset(ch)).rejects.toThrow(/does not exist/);
    await wal.createTopic('t', 1);
    expect(await wal.append(ch, [msg('fresh')])).toEqual([0]);
    await wal.close();
    await open();
    expect((await wal.read(ch, 0, 10)).map(text)).toEqual(['fresh']);
    expect(await wal.endOffset({ topic: 'keep', partition: 0 })).toBe(0);
  });

  it('removes files of a topic missing from topics.json on open', async () => {
    await open();
    await wal.createTopic('t', 1);
    await wal.close();
    await fs.promises.mkdir(path.join(dir, 'channels', 'orphan', '0'), { recursive: true });
    await open();
    expect(fs.existsSync(path.join(dir, 'channels', 'orphan'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'channels', 't'))).toBe(true);
  });

  it('a subscription to a missing topic reports onError and starts once the topic exists', async () => {
    await open({ retryDelayMs: 20 });
    const errors: Error[] = [];
    const got: string[] = [];
    const sub = wal.subscribe(ch, 0, async (r) => void got.push(...r.map(text)), { onError: (e) => errors.push(e) });
    await sleep(100);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]?.message).toMatch(/does not exist/);
    await wal.createTopic('t', 1);
    await wal.append(ch, [msg('hello')]);
    for (let i = 0; i < 100 && got.length === 0; i++) await sleep(10);
    expect(got).toEqual(['hello']);
    await sub.close();
  });

  it('tails with low latency: a subscriber sees an append within milliseconds', async () => {
    await open();
    await wal.createTopic('t', 1);
    const latencies: number[] = [];
    let sentAt = 0;
    let seen = 0;
    const sub = wal.subscribe(ch, 0, async (r) => {
      seen += r.length;
      latencies.push(performance.now() - sentAt);
    });
    for (let i = 0; i < 50; i++) {
      sentAt = performance.now();
      await wal.append(ch, [msg(`m${i}`)]);
      while (seen <= i) await new Promise((r) => setImmediate(r));
    }
    await sub.close();
    latencies.sort((a, b) => a - b);
    // Appends resolve after fsync; delivery follows at once, with no poll interval.
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(20);
  });

  it('refuses a second open of the same directory and rejects calls after close', async () => {
    await open();
    await expect(EmbeddedWal.open(dir)).rejects.toThrow(/in use by process/);
    await wal.createTopic('t', 1);
    await wal.close();
    await expect(wal.append(ch, [msg('x')])).rejects.toMatchObject({ kind: 'ServiceNotReady' });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await fs.promises.writeFile(path.join(dir, 'LOCK'), String(dead));
    await open();
    expect(await wal.endOffset(ch)).toBe(0);
  });

  it('loses no acknowledged record when the process is killed with SIGKILL mid-stream', async () => {
    const runner = path.join(__dirname, '..', '..', '..', 'scripts', 'run-ts.js');
    const childFile = path.join(__dirname, 'testing', 'crash-child.ts');
    for (const segmentBytes of [64 * 1024 * 1024, 256 * 1024]) {
      const crashDir = await tmpDir();
      const child = spawn(process.execPath, [runner, childFile, crashDir, String(segmentBytes)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let started = 0;
      let lines = 0;
      let err = '';
      let killed = false;
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)));
      child.stdout.on('data', (d: Buffer) => {
        const chunk = d.toString();
        out += chunk;
        lines += chunk.split('\n').length - 1;
        if (started === 0 && out.startsWith('ready\n')) started = Date.now();
        const acks = lines - 1; // after the `ready` line
        // Kill after 1500 acks, or after 1 s of writing on a slow (busy) machine.
        if (!killed && (acks >= 1500 || (acks >= 50 && started > 0 && Date.now() - started > 1000))) {
          killed = true;
          child.kill('SIGKILL');
        }
      });
      expect(await exited).toBe('SIGKILL');
      expect(err).toBe('');
      const acks = out
        .split('\n')
        .filter((l) => l.startsWith('ack '))
        .map((l) => l.split(' ').slice(1).map(Number) as [number, number, number, number]);
      expect(acks.length).toBeGreaterThanOrEqual(50);

      const recovered = await EmbeddedWal.open(crashDir);
      try {
        for (const partition of [0, 1]) {
          const c = { topic: 'crash', partition };
          const end = await recovered.endOffset(c);
          const records: WalRecord[] = [];
          while (records.length < end) records.push(...(await recovered.read(c, records.length, 10_000)));
          expect(records.map((r) => r.offset)).toEqual(Array.from({ length: end }, (_, i) => i));
          const lost: string[] = [];
          for (const [p, first, count, id] of acks) {
            if (p !== partition) continue;
            for (let j = 0; j < count; j++) {
              const r = records[first + j];
              if (!r || r.key !== `k${id}` || !r.value.equals(crashValue(id, j))) lost.push(`${p}@${first + j}`);
            }
          }
          expect(lost).toEqual([]);
        }
      } finally {
        await recovered.close();
      }
    }
  }, 60_000);
});
