/**
 * EtcdMetaStore against a real etcd (Debian's etcd-server, started by the test harness): the MetaStore contract,
 * then what only a real server can show — etcd restarting or disappearing under watches and leases.
 */
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, makeTestCerts, removeTempDir, startEtcd, startTcpProxy, type EtcdServer, type TestCerts } from '../../../test/harness';
import { Etcd3, Range } from 'etcd3';
import { metaStoreContract } from './contract';
import { EtcdMetaStore, prefixRangeEnd } from './etcd';
import type { KeyValue, RangeResult, WatchEvent } from './types';

jest.setTimeout(60_000);

let etcd: EtcdServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = makeTempDir('etcd');
  etcd = await startEtcd({ dataDir });
});

afterAll(async () => {
  await etcd?.stop();
  if (dataDir) removeTempDir(dataDir);
});

const open = (): EtcdMetaStore => new EtcdMetaStore({ endpoints: etcd.endpoints });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const uniquePrefix = (name: string): string => `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}/`;

metaStoreContract('etcd', async () => {
  let store = open();
  return {
    get store() {
      return store;
    },
    cleanup: () => store.close(),
    reopen: async () => {
      await store.close();
      store = open();
      return store;
    },
  };
});

describe('prefixRangeEnd', () => {
  it('increments the last byte that can be incremented', () => {
    expect(prefixRangeEnd('a/')).toEqual(Buffer.from('a0'));
    expect(prefixRangeEnd('a\u00ff')).toEqual(Buffer.from([0x61, 0xc3, 0xc0]));
    expect(prefixRangeEnd('')).toEqual(Buffer.from([0]));
  });
});

describe('EtcdMetaStore', () => {
  let store: EtcdMetaStore;
  beforeEach(() => {
    store = open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('a watch from revision 0 starts at the next change', async () => {
    const p = uniquePrefix('from-now');
    await store.put(`${p}old`, '1');
    const events: WatchEvent[] = [];
    const w = await store.watchPrefix(p, 0, { onEvents: (e) => events.push(...e), onResync: () => undefined });
    try {
      const r = await store.put(`${p}new`, '2');
      await waitFor(() => events.length === 1, 5000, 'one event');
      expect(events[0]).toMatchObject({ type: 'put', kv: { key: `${p}new`, modRevision: r } });
    } finally {
      await w.close();
    }
  });

  it('reports a missing lease on put as a non-retriable MetaFailed error', async () => {
    await expect(store.put(uniquePrefix('x'), 'v', { lease: '12345' })).rejects.toMatchObject({
      kind: 'MetaFailed',
      retriable: false,
      message: expect.stringContaining('lease not found'),
    });
  });

  it('rejects calls after close with ServiceNotReady', async () => {
    const s = open();
    await s.close();
    await expect(s.get('k')).rejects.toMatchObject({ kind: 'ServiceNotReady' });
  });

  it('measures put and txn latency', async () => {
    const p = uniquePrefix('latency');
    const measure = async (op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> => {
      for (let i = 0; i < 20; i++) await op(i); // warm up
      const ms: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t0 = performance.now();
        await op(i);
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      return { p50: ms[100] as number, p99: ms[198] as number };
    };
    const put = await measure((i) => store.put(`${p}k${i % 10}`, 'x'.repeat(100)));
    const txn = await measure(async (i) => {
      const cur = await store.get(`${p}cas`);
      const res = await store.txn(
        [{ key: `${p}cas`, target: 'modRevision', op: '==', value: cur?.modRevision ?? 0 }],
        [{ type: 'put', key: `${p}cas`, value: String(i) }],
      );
      if (!res.succeeded) throw new Error('uncontended compare-and-swap failed');
    });
    console.log(
      `etcd latency: put p50 ${put.p50.toFixed(2)} ms p99 ${put.p99.toFixed(2)} ms; ` +
        `get+CAS txn p50 ${txn.p50.toFixed(2)} ms p99 ${txn.p99.toFixed(2)} ms`,
    );
    expect(put.p50).toBeLessThan(100);
  });

  it('compacting to an already compacted revision is a no-op; a future revision is refused', async () => {
    const r = await store.put(uniquePrefix('compact'), 'v');
    await store.compact(r);
    await store.compact(r);
    await expect(store.compact(r + 1000)).rejects.toMatchObject({ kind: 'ParameterInvalid' });
  });
});

describe('EtcdMetaStore when etcd restarts or disappears', () => {
  it('a watch resumes after an etcd crash and restart without losing or repeating events', async () => {
    const watcherStore = open();
    const writer = open();
    const p = uniquePrefix('restart-watch');
    const events: WatchEvent[] = [];
    const resyncs: RangeResult[] = [];
    try {
      const start = (await writer.getPrefix(p)).revision + 1;
      const w = await watcherStore.watchPrefix(p, start, {
        onEvents: (e) => events.push(...e),
        onResync: (s) => resyncs.push(s),
      });
      for (let i = 0; i < 5; i++) await writer.put(`${p}a${i}`, String(i));
      await waitFor(() => events.length === 5, 5000, 'events before the crash');

      await etcd.kill();
      await etcd.start();
      // Written as soon as etcd is back, most likely before the watcher reconnected: it must replay them.
      for (let i = 0; i < 5; i++) await writer.put(`${p}b${i}`, String(i));
      await writer.delete(`${p}a0`);
      await waitFor(() => events.length === 11, 15_000, 'events after the restart');
      await sleep(200);

      expect(resyncs).toEqual([]);
      const seen = events.map((e) => (e.type === 'put' ? `put ${e.kv.key.slice(p.length)}` : `delete ${e.key.slice(p.length)}`));
      expect(seen).toEqual([
        ...[0, 1, 2, 3, 4].map((i) => `put a${i}`),
        ...[0, 1, 2, 3, 4].map((i) => `put b${i}`),
        'delete a0',
      ]);
      const revs = events.map((e) => (e.type === 'put' ? e.kv.modRevision : e.modRevision));
      for (let i = 1; i < revs.length; i++) expect(revs[i]).toBeGreaterThan(revs[i - 1] as number);
      await w.close();
    } finally {
      await watcherStore.close();
      await writer.close();
    }
  });

  it('a lease survives a quick etcd restart or is reported lost, never silently gone', async () => {
    const store = open();
    const checker = open();
    const p = uniquePrefix('restart-lease');
    try {
      const lease = await store.grantLease(2);
      const lost: string[] = [];
      lease.onLost((r) => lost.push(r));
      await store.put(`${p}session`, 'me', { lease: lease.id });

      await etcd.restart();
      // Three TTLs later the holder's belief and etcd's state must agree.
      await sleep(6_000);
      const kv: KeyValue | undefined = await checker.get(`${p}session`);
      if (lost.length === 0) {
        expect(await lease.isAlive()).toBe(true);
        expect(kv?.lease).toBe(lease.id);
      } else {
        expect(kv).toBeUndefined();
      }
      await lease.revoke();
    } finally {
      await store.close();
      await checker.close();
    }
  });

  it('a lease is reported lost about one TTL after etcd became unreachable, while etcd is still down', async () => {
    const store = open();
    const p = uniquePrefix('down-lease');
    try {
      const ttl = 2;
      const lease = await store.grantLease(ttl);
      await store.put(`${p}session`, 'me', { lease: lease.id });
      let lostAt = 0;
      let reason = '';
      lease.onLost((r) => {
        lostAt = Date.now();
        reason = r;
      });
      await sleep(1000);
      const downAt = Date.now();
      await etcd.kill();
      try {
        await waitFor(() => lostAt > 0, ttl * 1000 + 3000, 'onLost while etcd is down');
        // Lost no later than one TTL (+ a keep-alive interval and scheduling slack) after the last keep-alive.
        expect(lostAt - downAt).toBeLessThanOrEqual(ttl * 1000 + 1000);
        expect(reason).toMatch(/keep-alive/);
      } finally {
        await etcd.start();
      }
      // Once etcd is back, the lease is not kept alive any more: etcd expires it and the key goes.
      const checker = open();
      try {
        await waitFor(async () => (await checker.get(`${p}session`)) === undefined, ttl * 3000 + 5000, 'the key to expire');
        expect(await lease.isAlive()).toBe(false);
      } finally {
        await checker.close();
      }
    } finally {
      await store.close();
    }
  });

  it('a watch cut off from etcd catches up on every change made meanwhile, once, in order', async () => {
    const proxy = await startTcpProxy({ targetPort: Number(new URL(etcd.endpoints[0] as string).port) });
    const watcherStore = new EtcdMetaStore({ endpoints: [`http://${proxy.address}`] });
    const writer = open();
    const p = uniquePrefix('cut-watch');
    const events: WatchEvent[] = [];
    const resyncs: RangeResult[] = [];
    try {
      const start = (await writer.getPrefix(p)).revision + 1;
      const w = await watcherStore.watchPrefix(p, start, {
        onEvents: (e) => events.push(...e),
        onResync: (s) => resyncs.push(s),
      });
      await writer.put(`${p}before`, '1');
      await waitFor(() => events.length === 1, 5000, 'the event before the cut');
      await proxy.cut();
      for (let i = 0; i < 5; i++) await writer.put(`${p}during${i}`, String(i));
      await writer.txn([], [{ type: 'delete', key: `${p}before` }, { type: 'put', key: `${p}during0`, value: 'x' }]);
      await sleep(500);
      expect(events).toHaveLength(1);
      await proxy.restore();
      await writer.put(`${p}after`, '1');
      await waitFor(() => events.length === 9, 15_000, 'the missed and later events');
      await sleep(200);
      expect(resyncs).toEqual([]);
      expect(events.map((e) => (e.type === 'put' ? `put ${e.kv.key.slice(p.length)}` : `delete ${e.key.slice(p.length)}`))).toEqual([
        'put before',
        ...[0, 1, 2, 3, 4].map((i) => `put during${i}`),
        'delete before',
        'put during0',
        'put after',
      ]);
      await w.close();
    } finally {
      await watcherStore.close();
      await writer.close();
      await proxy.close();
    }
  });

  it('a lease behind a black-holed connection is reported lost within about one TTL; etcd expires it', async () => {
    const proxy = await startTcpProxy({ targetPort: Number(new URL(etcd.endpoints[0] as string).port) });
    const store = new EtcdMetaStore({ endpoints: [`http://${proxy.address}`] });
    const checker = open();
    const p = uniquePrefix('blackhole-lease');
    const ttl = 2;
    try {
      const lease = await store.grantLease(ttl);
      await store.put(`${p}session`, 'me', { lease: lease.id });
      let lostAt = 0;
      lease.onLost(() => (lostAt = Date.now()));
      await sleep(1000);
      const cutAt = Date.now();
      proxy.blackhole();
      await waitFor(() => lostAt > 0, ttl * 1000 + 3000, 'onLost');
      expect(lostAt - cutAt).toBeLessThanOrEqual(ttl * 1000 + 500);
      // The holder gave up no later than etcd: the key may still be there for a moment, then it is gone.
      await waitFor(async () => (await checker.get(`${p}session`)) === undefined, ttl * 1000 + 3000, 'etcd to expire the key');
    } finally {
      await store.close();
      await checker.close();
      await proxy.close();
    }
  });

  it('a lease whose connection is cut for less than its TTL stays alive', async () => {
    const proxy = await startTcpProxy({ targetPort: Number(new URL(etcd.endpoints[0] as string).port) });
    const store = new EtcdMetaStore({ endpoints: [`http://${proxy.address}`] });
    const p = uniquePrefix('short-cut-lease');
    try {
      const lease = await store.grantLease(3);
      const lost: string[] = [];
      lease.onLost((r) => lost.push(r));
      await store.put(`${p}session`, 'me', { lease: lease.id });
      await proxy.cut();
      await sleep(1200);
      await proxy.restore();
      await sleep(4000);
      expect(lost).toEqual([]);
      expect(await lease.isAlive()).toBe(true);
      expect((await store.get(`${p}session`))?.lease).toBe(lease.id);
      await lease.revoke();
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('calls made while etcd restarts succeed once it is back', async () => {
    const store = open();
    const p = uniquePrefix('retry');
    try {
      await store.put(`${p}k`, '0');
      const restarting = etcd.restart();
      const puts = Array.from({ length: 5 }, (_, i) => store.put(`${p}k`, String(i + 1)));
      await restarting;
      await Promise.all(puts);
      // Every put took effect. A put whose answer was lost in the restart is retried and may apply twice
      // (at-least-once), so the version is at least 6, not exactly 6.
      const kv = await store.get(`${p}k`);
      expect(kv?.version).toBeGreaterThanOrEqual(6);
      expect(kv?.value).toMatch(/^[1-5]$/);
    } finally {
      await store.close();
    }
  });
});

describe('EtcdMetaStore against etcd with authentication enabled', () => {
  let secured: EtcdServer;
  let securedDir: string;
  const stores: EtcdMetaStore[] = [];
  const openAs = (auth?: { username: string; password: string }): EtcdMetaStore => {
    const store = new EtcdMetaStore({ endpoints: secured.endpoints, callAttempts: 1, ...(auth ? { auth: { ...auth, settings: 'meta.etcdUserName and meta.etcdPassword' } } : {}) });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    securedDir = makeTempDir('etcd-auth');
    secured = await startEtcd({ dataDir: securedDir });
    // What `etcdctl user add root; etcdctl auth enable` does, plus a user limited to the prefix `kite/`.
    const admin = new Etcd3({ hosts: secured.endpoints });
    try {
      await admin.role('root').create();
      await admin.user('root').create('root-pw');
      await admin.user('root').addRole('root');
      await admin.role('kite-rw').create();
      await admin.role('kite-rw').grant({ permission: 'Readwrite', range: new Range('kite/', prefixRangeEnd('kite/')) });
      await admin.user('kite').create('kite-pw');
      await admin.user('kite').addRole('kite-rw');
      await admin.auth.authEnable();
    } finally {
      admin.close();
    }
  });

  afterAll(async () => {
    for (const s of stores) await s.close();
    await secured?.stop();
    if (securedDir) removeTempDir(securedDir);
  });

  it('works with the right user and password: reads, writes, watches and leases', async () => {
    const store = openAs({ username: 'kite', password: 'kite-pw' });
    const seen: WatchEvent[] = [];
    const watcher = await store.watchPrefix('kite/w/', 0, { onEvents: (events) => seen.push(...events), onResync: () => undefined });
    const lease = await store.grantLease(5);
    await store.put('kite/w/a', '1', { lease: lease.id });
    expect((await store.get('kite/w/a'))?.value).toBe('1');
    await waitFor(() => seen.length === 1, 10_000, 'the watch event');
    expect(seen[0]).toMatchObject({ type: 'put', kv: { key: 'kite/w/a', value: '1' } });
    await lease.revoke();
    await watcher.close();
  });

  it('refuses a wrong password with a non-retriable MetaFailed naming the settings', async () => {
    const err = await openAs({ username: 'kite', password: 'wrong' }).get('kite/x').then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ kind: 'MetaFailed', retriable: false });
    expect((err as Error).message).toContain('refused the user name or password');
    expect((err as Error).message).toContain('meta.etcdPassword');
  });

  it('refuses a client without a user, saying that etcd needs one', async () => {
    const err = await openAs().put('kite/x', '1').then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ kind: 'MetaFailed', retriable: false });
    expect((err as Error).message).toContain('needs a user');
    expect((err as Error).message).toContain('meta.etcdUserName');
  });

  it('reports a key outside the user\'s permissions as permission denied', async () => {
    const err = await openAs({ username: 'kite', password: 'kite-pw' }).put('other/x', '1').then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ kind: 'MetaFailed', retriable: false });
    expect((err as Error).message).toContain('permission denied');
  });

  it('keeps its watches and leases across an etcd restart, which forgets every auth token', async () => {
    const store = openAs({ username: 'kite', password: 'kite-pw' });
    const seen: WatchEvent[] = [];
    const watcher = await store.watchPrefix('kite/r/', 0, { onEvents: (events) => seen.push(...events), onResync: () => undefined });
    const lease = await store.grantLease(5);
    let lost: string | undefined;
    lease.onLost((reason) => (lost = reason));
    // Restart, then make no call of this store's own: only its streams (watch, keep-alive) reconnect, with the
    // token etcd no longer knows.
    await secured.restart();
    await sleep(12_000); // over two lease TTLs: a keep-alive stuck on a dead token loses the lease within one
    expect(lost).toBeUndefined();
    const other = openAs({ username: 'kite', password: 'kite-pw' });
    await other.put('kite/r/after', '1');
    await waitFor(() => seen.some((e) => e.type === 'put' && e.kv.key === 'kite/r/after'), 10_000, 'the watch to deliver after the restart');
    await lease.revoke();
    await watcher.close();
  });

  it('refuses a user without a password before connecting', () => {
    expect(() => new EtcdMetaStore({ endpoints: secured.endpoints, auth: { username: 'kite', password: '' } })).toThrow(/set together/);
  });
});

describe('EtcdMetaStore against etcd over TLS with client certificates', () => {
  let secured: EtcdServer;
  let securedDir: string;
  let certs: TestCerts;
  const stores: EtcdMetaStore[] = [];
  const openTls = (tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }, endpoints = secured.endpoints): EtcdMetaStore => {
    const store = new EtcdMetaStore({ endpoints, tls, callAttempts: 1, callTimeoutMs: 5_000 });
    stores.push(store);
    return store;
  };
  const read = (file: string): Buffer => fs.readFileSync(file);

  beforeAll(async () => {
    securedDir = makeTempDir('etcd-tls');
    certs = makeTestCerts(path.join(securedDir, 'certs'));
    secured = await startEtcd({
      dataDir: securedDir,
      tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, clientCertAuth: true, clientCert: certs.clientCert, clientKey: certs.clientKey },
    });
  });

  afterAll(async () => {
    for (const s of stores) await s.close();
    await secured?.stop();
    if (securedDir) removeTempDir(securedDir);
  });

  it('works with the CA and a client certificate: reads, writes and watches', async () => {
    expect(secured.endpoints[0]).toMatch(/^https:\/\//);
    const store = openTls({ ca: read(certs.ca), cert: read(certs.clientCert), key: read(certs.clientKey) });
    const seen: WatchEvent[] = [];
    const watcher = await store.watchPrefix('tls/', 0, { onEvents: (events) => seen.push(...events), onResync: () => undefined });
    await store.put('tls/a', '1');
    expect((await store.get('tls/a'))?.value).toBe('1');
    await waitFor(() => seen.length === 1, 10_000, 'the watch event over TLS');
    await watcher.close();
  });

  it('fails without a client certificate, and when the server is not signed by the given CA', async () => {
    await expect(openTls({ ca: read(certs.ca) }).get('tls/a')).rejects.toMatchObject({ kind: 'MetaFailed' });
    const otherCa = makeTestCerts(path.join(securedDir, 'other'), 'other');
    await expect(openTls({ ca: read(otherCa.ca), cert: read(certs.clientCert), key: read(certs.clientKey) }).get('tls/a')).rejects.toMatchObject({
      kind: 'MetaFailed',
    });
  });

  it('refuses TLS options with an http:// endpoint, and a certificate without its key', () => {
    const plain = secured.endpoints.map((e) => e.replace('https://', 'http://'));
    expect(() => openTls({ ca: read(certs.ca) }, plain)).toThrow(/not https:\/\/.*meta.etcdEndpoints/);
    expect(() => openTls({ ca: read(certs.ca), cert: read(certs.clientCert) })).toThrow(/meta.etcdCertPemPath and meta.etcdKeyPemPath/);
  });
});
