import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KiteError, silentLogger } from '@kite/common';
import { EmbeddedMetaStore, type Lease, type MetaStore } from '@kite/metastore';
import { Session, SessionView } from './index';

/**
 * A meta store that can be taken down (every call fails with a retriable error, as etcd3 does while etcd is
 * unreachable) and whose leases can be declared lost, as a keep-alive that outlived the TTL would.
 */
class OutageStore {
  down = false;
  attempts = 0;
  private readonly leases: { lease: Lease; listeners: ((r: string) => void)[] }[] = [];
  readonly store: MetaStore;

  constructor(inner: EmbeddedMetaStore) {
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          this.attempts++;
          if (this.down) return Promise.reject(new KiteError('ServiceUnavailable', 'meta store unreachable (test outage)'));
          if (prop === 'grantLease') return (v as (...a: unknown[]) => Promise<Lease>).apply(target, args).then((l) => this.wrap(l));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as unknown as MetaStore;
  }

  private wrap(lease: Lease): Lease {
    const entry = { lease, listeners: [] as ((r: string) => void)[] };
    this.leases.push(entry);
    return {
      id: lease.id,
      ttlSeconds: lease.ttlSeconds,
      onLost: (l) => entry.listeners.push(l),
      isAlive: () => lease.isAlive(),
      revoke: () => lease.revoke(),
    } as Lease;
  }

  /** Every lease granted so far is gone: its keys are deleted and its holders are told. */
  async loseAll(reason: string): Promise<void> {
    for (const { lease, listeners } of this.leases.splice(0)) {
      await lease.revoke();
      for (const l of listeners) l(reason);
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

let dir = '';
let inner: EmbeddedMetaStore;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-session-'));
  inner = await EmbeddedMetaStore.open(dir);
});
afterEach(async () => {
  await inner.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const base = { role: 'querynode' as const, address: '127.0.0.1:1', metricsAddress: '' };

test('a session lost during a meta store outage registers again (new serverID) once the store is back', async () => {
  const outage = new OutageStore(inner);
  const session = new Session(outage.store, '/kite', 10, base, silentLogger);
  const lost: string[] = [];
  session.on('lost', (r: string) => {
    lost.push(r);
    void session.rejoin();
  });
  const first = await session.register();
  expect(session.live).toBe(true);

  outage.down = true;
  await outage.loseAll('keep-alive failed past the TTL');
  expect(lost).toEqual(['keep-alive failed past the TTL']);
  expect(session.live).toBe(false);
  // Attempts keep coming while the store is down (backoff from 250 ms, with jitter, up to 5 s).
  const before = outage.attempts;
  await waitFor(() => outage.attempts - before >= 3, 8000, 'three attempts during the outage');
  expect(session.live).toBe(false);

  outage.down = false;
  await waitFor(() => session.live, 10_000, 'rejoin');
  expect(session.info!.serverID).toBeGreaterThan(first.serverID);
  const view = new SessionView(inner, '/kite');
  await view.start();
  expect(view.byRole('querynode').map((s) => s.serverID)).toEqual([session.info!.serverID]);
  await view.close();
  await session.revoke();
});

test('concurrent rejoins share one registration, and revoke() ends a rejoin that is still retrying', async () => {
  const outage = new OutageStore(inner);
  const session = new Session(outage.store, '/kite', 10, base, silentLogger);
  await session.register();
  outage.down = true;
  await outage.loseAll('lost');
  const a = session.rejoin();
  const b = session.rejoin();
  expect(a).toBe(b);
  await sleep(300);
  await session.revoke();
  await expect(a).resolves.toBeUndefined();
  outage.down = false;
  const attempts = outage.attempts;
  await sleep(1500);
  expect(outage.attempts).toBe(attempts);
  expect(session.live).toBe(false);
});
