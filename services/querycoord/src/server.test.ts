import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KiteError, loadConfig, silentLogger, type KiteConfig } from '@kite/common';
import { EmbeddedMetaStore, type Lease, type MetaStore } from '@kite/metastore';
import { LocalObjectStore } from '@kite/objectstore';
import { connect } from '@kite/rpc';
import { EmbeddedWal } from '@kite/wal';
import { QueryCoordServer } from './server';

/** One process's view of a shared meta store whose leases the test can declare lost (as an etcd outage would). */
function losable(inner: MetaStore): { store: MetaStore; lose(): Promise<void> } {
  const leases: { lease: Lease; listeners: ((r: string) => void)[] }[] = [];
  const store = new Proxy(inner, {
    get: (target, prop, receiver) => {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop !== 'grantLease') return (v as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        const lease = await (v as (...a: unknown[]) => Promise<Lease>).apply(target, args);
        const entry = { lease, listeners: [] as ((r: string) => void)[] };
        leases.push(entry);
        return { id: lease.id, ttlSeconds: lease.ttlSeconds, onLost: (l: (r: string) => void) => entry.listeners.push(l), isAlive: () => lease.isAlive(), revoke: () => lease.revoke() };
      };
    },
  }) as MetaStore;
  return {
    store,
    async lose() {
      for (const { lease, listeners } of leases.splice(0)) {
        await lease.revoke();
        for (const l of listeners) l('keep-alive failed past the TTL (test)');
      }
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

let dir = '';
let meta: EmbeddedMetaStore;
let wal: EmbeddedWal;
let objects: LocalObjectStore;
let cfg: KiteConfig;
const servers: QueryCoordServer[] = [];

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-qc-'));
  meta = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
  wal = await EmbeddedWal.open(path.join(dir, 'wal'));
  objects = await LocalObjectStore.open(path.join(dir, 'objects'));
  cfg = loadConfig({ env: {}, overrides: { common: { listenHost: '127.0.0.1', advertiseHost: '127.0.0.1' } } });
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  await wal.close();
  await meta.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

test('an active coordinator that loses its lease steps down at once, the standby takes over, and it stands by itself', async () => {
  const a = losable(meta);
  const fenced: number[] = [];
  const A = new QueryCoordServer(cfg, a.store, wal, objects, silentLogger, () => fenced.push(Date.now()));
  servers.push(A);
  await A.start(0);
  expect(A.coordinator).toBeDefined();
  const B = new QueryCoordServer(cfg, meta, wal, objects, silentLogger);
  servers.push(B);
  const bStarted = B.start(0);
  await sleep(300);
  expect(B.coordinator).toBeUndefined();

  const clientA = connect('QueryCoord', A.address, 5000);
  try {
    const before = BigInt((await clientA.AllocTimestamp({ count: 1 })).start);
    await a.lose();
    // Fencing is synchronous with the loss: A answers "not ready" from now on.
    expect(fenced).toHaveLength(1);
    expect(A.coordinator).toBeUndefined();
    const err = await clientA.AllocTimestamp({ count: 1 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KiteError);
    expect((err as KiteError).retriable).toBe(true);
    expect((err as KiteError).message).toMatch(/not the active one/);

    await bStarted;
    expect(B.coordinator).toBeDefined();
    const clientB = connect('QueryCoord', B.address, 5000);
    const after = BigInt((await clientB.AllocTimestamp({ count: 1 })).start);
    expect(after).toBeGreaterThan(before);
    clientB.close();

    // A campaigned again (new session) and now stands by; when B stops, A becomes active without a restart.
    await sleep(300);
    expect(A.coordinator).toBeUndefined();
    await B.stop();
    servers.splice(servers.indexOf(B), 1);
    await waitFor(() => A.coordinator !== undefined, 10_000, 'A active again');
    const again = BigInt((await clientA.AllocTimestamp({ count: 1 })).start);
    expect(again).toBeGreaterThan(after);
  } finally {
    clientA.close();
  }
}, 30_000);
