import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KiteError } from '@kite/common';
import { metaStoreContract } from './contract';
import { EmbeddedMetaStore, type EmbeddedMetaStoreOptions } from './embedded';
import type { RangeResult, WatchEvent } from './types';

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-meta-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const d of tmpDirs) await fs.promises.rm(d, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

metaStoreContract(
  'embedded',
  async () => {
    const dir = await tmpDir();
    let store = await EmbeddedMetaStore.open(dir);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await fs.promises.rm(dir, { recursive: true, force: true });
      },
      reopen: async () => {
        await store.close();
        store = await EmbeddedMetaStore.open(dir);
        return store;
      },
    };
  },
  { leaseTtlSeconds: 1 },
);

describe('EmbeddedMetaStore', () => {
  let dir: string;
  let store: EmbeddedMetaStore;
  const open = async (opts?: EmbeddedMetaStoreOptions): Promise<EmbeddedMetaStore> => {
    store = await EmbeddedMetaStore.open(dir, opts);
    return store;
  };

  beforeEach(async () => {
    dir = await tmpDir();
  });
  afterEach(async () => {
    await store?.close();
  });

  const logFiles = async (): Promise<string[]> =>
    (await fs.promises.readdir(dir)).filter((f) => f.endsWith('.log')).sort();

  it('numbers revisions densely from 1; no-op writes do not bump the revision', async () => {
    await open();
    expect((await store.getPrefix('')).revision).toBe(0);
    expect(await store.put('a', '1')).toBe(1);
    expect(await store.put('b', '1')).toBe(2);
    expect(await store.delete('missing')).toBe(false);
    expect(await store.deletePrefix('nothing/')).toBe(0);
    expect((await store.txn([{ key: 'a', target: 'value', op: '==', value: 'x' }], [])).revision).toBe(2);
    expect((await store.txn([], [{ type: 'delete', key: 'a' }, { type: 'put', key: 'c', value: '' }])).revision).toBe(3);
    expect(store.stats()).toMatchObject({ revision: 3, durableRevision: 3, keys: 2 });
  });

  it('group commit: concurrent writes share fsyncs', async () => {
    await open();
    await Promise.all(Array.from({ length: 64 }, (_, i) => store.put(`k${i}`, String(i))));
    const stats = store.stats();
    expect(stats.logRecords).toBe(64);
    expect(stats.logSyncs).toBeLessThan(16);
    expect(stats.logSyncs).toBeGreaterThanOrEqual(1);
  });

  it('rejects a txn branch that changes one key twice, like etcd', async () => {
    await open();
    await expect(
      store.txn([], [
        { type: 'put', key: 'a', value: '1' },
        { type: 'put', key: 'a', value: '2' },
      ]),
    ).rejects.toThrow(/twice/);
    await expect(
      store.txn([], [], [
        { type: 'put', key: 'p/a', value: '1' },
        { type: 'deletePrefix', prefix: 'p/' },
      ]),
    ).rejects.toThrow(/puts and deletes/);
    expect((await store.getPrefix('')).revision).toBe(0);
  });

  it('drops a torn tail record on open and keeps everything before it', async () => {
    await open();
    for (let i = 0; i < 10; i++) await store.put(`k${i}`, `v${i}`);
    await store.close();
    const [log] = await logFiles();
    const file = path.join(dir, log as string);
    const size = (await fs.promises.stat(file)).size;
    await fs.promises.truncate(file, size - 5);

    await open();
    expect((await store.getPrefix('')).kvs.map((kv) => kv.key)).toEqual(
      ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'].sort(),
    );
    expect(store.stats().revision).toBe(9);
    // The torn bytes are gone from the file, so new records follow valid ones.
    expect(await store.put('k9', 'again')).toBe(10);
    await store.close();
    await open();
    expect((await store.get('k9'))?.value).toBe('again');
    expect(store.stats().revision).toBe(10);
  });

  it('drops a tail record whose checksum does not match, and garbage after the last record', async () => {
    await open();
    for (let i = 0; i < 5; i++) await store.put(`k${i}`, `value-${i}`);
    await store.close();
    const [log] = await logFiles();
    const file = path.join(dir, log as string);
    const buf = await fs.promises.readFile(file);
    buf.writeUInt8(buf.readUInt8(buf.length - 3) ^ 0xff, buf.length - 3); // flip a byte inside the last record's payload
    await fs.promises.writeFile(file, buf);

    await open();
    expect((await store.getPrefix('')).kvs.map((kv) => kv.value)).toEqual(['value-0', 'value-1', 'value-2', 'value-3']);
    await store.close();

    await fs.promises.appendFile(file, Buffer.from([0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
    await open();
    expect(store.stats().revision).toBe(4);
    expect(await store.put('k4', 'new')).toBe(5);
  });

  it('deletes keys bound to leases of the previous run on open, in one revision that watchers see', async () => {
    await open();
    const lease = await store.grantLease(30);
    await store.put('s/1', 'a', { lease: lease.id });
    await store.put('s/2', 'b', { lease: lease.id });
    const last = await store.put('plain', 'c');
    await store.close();

    await open();
    expect(await store.get('s/1')).toBeUndefined();
    expect(await store.get('s/2')).toBeUndefined();
    expect((await store.get('plain'))?.value).toBe('c');
    expect(store.stats().revision).toBe(last + 1);
    await expect(store.put('s/3', 'x', { lease: lease.id })).rejects.toThrow(KiteError);

    const events: WatchEvent[] = [];
    const resyncs: RangeResult[] = [];
    const w = await store.watchPrefix('s/', last, { onEvents: (e) => events.push(...e), onResync: (s) => resyncs.push(s) });
    await sleep(50);
    await w.close();
    expect(resyncs).toEqual([]);
    expect(events.map((e) => (e.type === 'delete' ? `${e.key}@${e.modRevision}` : 'put'))).toEqual([
      `s/1@${last + 1}`,
      `s/2@${last + 1}`,
    ]);
  });

  it('writes snapshots, drops old logs, and recovers from snapshot plus log', async () => {
    await open({ snapshotLogBytes: 4096 });
    for (let i = 0; i < 300; i++) {
      await store.put(`k/${i % 50}`, `v${i}`);
      if (i % 7 === 0) await store.delete(`k/${(i * 3) % 50}`);
    }
    const lease = await store.grantLease(30);
    await store.put('leased', 'x', { lease: lease.id });
    const before = await store.getPrefix('k/');
    const rev = store.stats().revision;
    await sleep(50); // let the background snapshot finish deleting old files
    expect(store.stats().snapshots).toBeGreaterThan(0);
    await store.close();
    const files = await fs.promises.readdir(dir);
    expect(files.filter((f) => f.endsWith('.snap'))).toHaveLength(1);
    expect(files.filter((f) => f.endsWith('.log')).length).toBeLessThanOrEqual(2);

    await open({ snapshotLogBytes: 4096 });
    const after = await store.getPrefix('k/');
    expect(after.kvs).toEqual(before.kvs);
    // The leased key is deleted on open: one more revision.
    expect(after.revision).toBe(rev + 1);
    expect(await store.get('leased')).toBeUndefined();

    // History before the snapshot is gone: a watch from revision 1 resyncs.
    const resyncs: RangeResult[] = [];
    const w = await store.watchPrefix('k/', 1, { onEvents: () => undefined, onResync: (s) => resyncs.push(s) });
    await sleep(50);
    await w.close();
    expect(resyncs).toHaveLength(1);
    expect(resyncs[0]?.kvs).toEqual(before.kvs);
  });

  it('keeps bounded history: a watch older than it resyncs, a recent one replays', async () => {
    await open({ historyRevisions: 10 });
    for (let i = 1; i <= 30; i++) await store.put(`h/${i}`, String(i));
    expect(store.stats().historyFrom).toBe(21);
    const old = { events: [] as WatchEvent[], resyncs: [] as RangeResult[] };
    const recent = { events: [] as WatchEvent[], resyncs: [] as RangeResult[] };
    const w1 = await store.watchPrefix('h/', 5, { onEvents: (e) => old.events.push(...e), onResync: (s) => old.resyncs.push(s) });
    const w2 = await store.watchPrefix('h/', 25, { onEvents: (e) => recent.events.push(...e), onResync: (s) => recent.resyncs.push(s) });
    await store.put('h/31', '31');
    await sleep(50);
    await w1.close();
    await w2.close();
    expect(old.resyncs).toHaveLength(1);
    expect(old.resyncs[0]?.revision).toBe(30);
    expect(old.resyncs[0]?.kvs).toHaveLength(30);
    expect(old.events.map((e) => (e.type === 'put' ? e.kv.modRevision : 0))).toEqual([31]);
    expect(recent.resyncs).toEqual([]);
    expect(recent.events.map((e) => (e.type === 'put' ? e.kv.modRevision : 0))).toEqual([25, 26, 27, 28, 29, 30, 31]);
  });

  it('bounds history by bytes too', async () => {
    await open({ historyBytes: 10_000 });
    for (let i = 1; i <= 20; i++) await store.put('big', 'x'.repeat(1000));
    const from = store.stats().historyFrom;
    expect(from).toBeGreaterThan(10);
    expect(from).toBeLessThanOrEqual(20);
  });

  it('refuses a second open of the same directory, and takes over a lock left by a dead process', async () => {
    await open();
    await expect(EmbeddedMetaStore.open(dir)).rejects.toThrow(/in use by process/);
    await store.close();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await fs.promises.writeFile(path.join(dir, 'LOCK'), String(dead));
    await open();
    expect(await store.put('a', '1')).toBe(1);
  });

  it('after close, calls reject and watchers hear onError', async () => {
    await open();
    const errors: Error[] = [];
    await store.watchPrefix('', 0, { onEvents: () => undefined, onResync: () => undefined, onError: (e) => errors.push(e) });
    const lease = await store.grantLease(5);
    await store.close();
    expect(errors).toHaveLength(1);
    await expect(store.get('a')).rejects.toMatchObject({ kind: 'ServiceNotReady' });
    await expect(store.put('a', '1')).rejects.toMatchObject({ kind: 'ServiceNotReady' });
    expect(await lease.isAlive()).toBe(false);
  });

  it('rejects lease TTLs below the minimum', async () => {
    await open();
    await expect(store.grantLease(0.5)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
    await expect(store.grantLease(Number.NaN)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
  });

  it('loses no acknowledged txn when the process is killed with SIGKILL mid-stream', async () => {
    const runner = path.join(__dirname, '..', '..', '..', 'scripts', 'run-ts.js');
    const childFile = path.join(__dirname, 'testing', 'crash-child.ts');
    for (const snapshotLogBytes of [16 * 1024 * 1024, 64 * 1024]) {
      const crashDir = await tmpDir();
      const child = spawn(process.execPath, [runner, childFile, crashDir, String(snapshotLogBytes)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let started = 0;
      let lines = 0;
      let err = '';
      let killedAt = -1;
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)));
      child.stdout.on('data', (d: Buffer) => {
        const chunk = d.toString();
        out += chunk;
        lines += chunk.split('\n').length - 1;
        if (started === 0 && out.startsWith('ready\n')) started = Date.now();
        const acks = lines - 1; // after the `ready` line
        // Kill after 1500 acks, or after 1 s of writing on a slow (busy) machine.
        if (killedAt < 0 && (acks >= 1500 || (acks >= 50 && started > 0 && Date.now() - started > 1000))) {
          killedAt = Date.now();
          child.kill('SIGKILL');
        }
      });
      const signal = await exited;
      expect(err).toBe('');
      expect(signal).toBe('SIGKILL');
      const acked = out
        .split('\n')
        .filter((l) => l.startsWith('ack '))
        .map((l) => Number(l.slice(4)));
      expect(acked.length).toBeGreaterThanOrEqual(50);

      const recovered = await EmbeddedMetaStore.open(crashDir);
      try {
        const a = new Map((await recovered.getPrefix('a/')).kvs.map((kv) => [kv.key.slice(2), kv]));
        const b = new Map((await recovered.getPrefix('b/')).kvs.map((kv) => [kv.key.slice(2), kv]));
        const lost = acked.filter((n) => {
          const v = `value-${n}-${'x'.repeat(n % 200)}`;
          return a.get(String(n))?.value !== v || b.get(String(n))?.value !== v;
        });
        expect(lost).toEqual([]);
        // Each txn is all or nothing, one revision each, and revisions are dense.
        expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
        expect([...a].filter(([n, kv]) => b.get(n)?.modRevision !== kv.modRevision)).toEqual([]);
        expect(recovered.stats().revision).toBe(a.size);
        expect(new Set([...a.values()].map((kv) => kv.modRevision)).size).toBe(a.size);
      } finally {
        await recovered.close();
      }
    }
  }, 60_000);
});
