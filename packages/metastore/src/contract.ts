/**
 * The MetaStore contract: behaviour every backend (embedded, etcd) must show, as jest `describe`/`it` blocks.
 * A backend's test file calls `metaStoreContract('etcd', make)`. The suite uses jest's globals (no import of
 * '@jest/globals'), so importing this module outside jest is harmless as long as the function is not called.
 *
 * Every test works under its own random key prefix, so a shared etcd (or leftovers of another run) does not
 * disturb it, and asserts only what etcd guarantees too: revisions increase (not by exactly one), watch batches
 * are not assumed to hold one revision each, leased keys are not assumed gone right after a reopen.
 */
import type { Compare, KeyValue, Lease, MetaStore, RangeResult, WatchEvent } from './types';

export interface MetaStoreHarness {
  store: MetaStore;
  /** Closes whichever store instance is current (after `reopen`, the new one) and removes the test's data. */
  cleanup(): Promise<void>;
  /**
   * Closes the current store and opens a new instance over the same data (for embedded stores: the same directory;
   * for etcd: a new client). Omit when the backend cannot be reopened; the persistence test is skipped then.
   */
  reopen?(): Promise<MetaStore>;
}

export type MetaStoreFactory = () => Promise<MetaStoreHarness>;

export interface MetaStoreContractOptions {
  /** TTL used in lease tests. etcd needs about 2 s; the embedded store accepts 1 s. Default 2. */
  leaseTtlSeconds?: number;
  /** Whether the store implements `compact` (the resync-after-compaction test is skipped otherwise). Default true. */
  compact?: boolean;
  /** Per-test timeout for tests that do not wait on leases, ms. Default 20000. */
  timeoutMs?: number;
  /** Whether the harness offers `reopen` (the persistence test is skipped otherwise). Default true. */
  reopen?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface Collector {
  events: WatchEvent[];
  batches: WatchEvent[][];
  resyncs: RangeResult[];
  errors: Error[];
}

function collector(): Collector & {
  handlers: { onEvents(e: WatchEvent[]): void; onResync(s: RangeResult): void; onError(e: Error): void };
} {
  const c: Collector = { events: [], batches: [], resyncs: [], errors: [] };
  return {
    ...c,
    handlers: {
      onEvents: (e) => {
        c.batches.push(e);
        c.events.push(...e);
      },
      onResync: (s) => c.resyncs.push(s),
      onError: (e) => c.errors.push(e),
    },
    get events() {
      return c.events;
    },
    get batches() {
      return c.batches;
    },
    get resyncs() {
      return c.resyncs;
    },
    get errors() {
      return c.errors;
    },
  };
}

/** A compact, comparable form of an event: `put <key>=<value>@<rev>` or `delete <key>@<rev>`. */
function describeEvent(e: WatchEvent, prefix: string): string {
  return e.type === 'put'
    ? `put ${e.kv.key.slice(prefix.length)}=${e.kv.value}@${e.kv.modRevision}`
    : `delete ${e.key.slice(prefix.length)}@${e.modRevision}`;
}

function eventRevision(e: WatchEvent): number {
  return e.type === 'put' ? e.kv.modRevision : e.modRevision;
}

export function metaStoreContract(name: string, make: MetaStoreFactory, options: MetaStoreContractOptions = {}): void {
  const ttl = options.leaseTtlSeconds ?? 2;
  const timeout = options.timeoutMs ?? 20_000;
  const leaseTimeout = ttl * 1000 * 4 + 15_000;

  describe(`MetaStore contract: ${name}`, () => {
    let harness: MetaStoreHarness;
    let store: MetaStore;
    /** This test's key prefix. */
    let p: string;

    beforeEach(async () => {
      harness = await make();
      store = harness.store;
      p = `contract-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}/`;
    });

    afterEach(async () => {
      try {
        await store.deletePrefix(p);
      } catch {
        // the store may be closed already; cleanup removes the data anyway
      }
      await harness.cleanup();
    });

    describe('keys', () => {
      it(
        'put, get and delete a key, tracking version and revisions',
        async () => {
          const k = `${p}k`;
          expect(await store.get(k)).toBeUndefined();
          const r1 = await store.put(k, 'v1');
          expect(r1).toBeGreaterThan(0);
          const kv1 = (await store.get(k)) as KeyValue;
          expect(kv1).toMatchObject({ key: k, value: 'v1', version: 1, createRevision: r1, modRevision: r1 });
          expect(kv1.lease).toBeUndefined();

          const r2 = await store.put(k, 'v2');
          expect(r2).toBeGreaterThan(r1);
          expect(await store.get(k)).toMatchObject({ value: 'v2', version: 2, createRevision: r1, modRevision: r2 });

          expect(await store.delete(k)).toBe(true);
          expect(await store.get(k)).toBeUndefined();
          expect(await store.delete(k)).toBe(false);

          const r3 = await store.put(k, 'v3');
          expect(r3).toBeGreaterThan(r2);
          expect(await store.get(k)).toMatchObject({ value: 'v3', version: 1, createRevision: r3, modRevision: r3 });
        },
        timeout,
      );

      it(
        'stores values byte for byte (unicode, empty, large)',
        async () => {
          const values = { a: '', b: 'ünïcødé ✓ 漢字 \u0000 nul', c: JSON.stringify({ x: 'y'.repeat(100_000) }) };
          for (const [k, v] of Object.entries(values)) await store.put(`${p}${k}`, v);
          for (const [k, v] of Object.entries(values)) expect((await store.get(`${p}${k}`))?.value).toBe(v);
        },
        timeout,
      );

      it(
        'getPrefix returns exactly the keys under the prefix, sorted, with the read revision',
        async () => {
          for (const k of ['b', 'a', 'c/1', 'ab', 'c/0']) await store.put(`${p}${k}`, k);
          const last = await store.put(`${p.slice(0, -1)}-sibling`, 'outside');
          try {
            const res = await store.getPrefix(p);
            expect(res.kvs.map((kv) => kv.key.slice(p.length))).toEqual(['a', 'ab', 'b', 'c/0', 'c/1']);
            expect(res.kvs.map((kv) => kv.value)).toEqual(['a', 'ab', 'b', 'c/0', 'c/1']);
            expect(res.revision).toBeGreaterThanOrEqual(last);
            expect((await store.getPrefix(`${p}c/`)).kvs.map((kv) => kv.value)).toEqual(['c/0', 'c/1']);
            const none = await store.getPrefix(`${p}zzz/`);
            expect(none.kvs).toEqual([]);
            expect(none.revision).toBeGreaterThanOrEqual(last);
          } finally {
            await store.delete(`${p.slice(0, -1)}-sibling`);
          }
        },
        timeout,
      );

      it(
        'deletePrefix removes only the keys under the prefix and counts them',
        async () => {
          for (const k of ['x/1', 'x/2', 'x/3', 'xy', 'y']) await store.put(`${p}${k}`, k);
          expect(await store.deletePrefix(`${p}x/`)).toBe(3);
          expect((await store.getPrefix(p)).kvs.map((kv) => kv.value)).toEqual(['xy', 'y']);
          expect(await store.deletePrefix(`${p}x/`)).toBe(0);
        },
        timeout,
      );

      it(
        'revisions increase monotonically, also under concurrent writes',
        async () => {
          let last = (await store.getPrefix(p)).revision;
          const step = (r: number): void => {
            expect(r).toBeGreaterThan(last);
            last = r;
          };
          step(await store.put(`${p}a`, '1'));
          step(await store.put(`${p}b`, '1'));
          await store.delete(`${p}a`);
          const afterDelete = (await store.getPrefix(p)).revision;
          step(afterDelete);
          step((await store.txn([], [{ type: 'put', key: `${p}c`, value: '1' }])).revision);

          const revs = await Promise.all(Array.from({ length: 25 }, (_, i) => store.put(`${p}n${i}`, String(i))));
          expect(new Set(revs).size).toBe(revs.length);
          for (const r of revs) expect(r).toBeGreaterThan(last);
          const res = await store.getPrefix(p);
          expect(res.revision).toBeGreaterThanOrEqual(Math.max(...revs));
          for (let i = 0; i < 25; i++) {
            expect(res.kvs.find((kv) => kv.key === `${p}n${i}`)?.modRevision).toBe(revs[i]);
          }
        },
        timeout,
      );
    });

    describe('transactions', () => {
      it(
        'create-if-absent: version == 0 holds only for a missing key; the failure branch runs otherwise',
        async () => {
          const k = `${p}lock`;
          const first = await store.txn(
            [{ key: k, target: 'version', op: '==', value: 0 }],
            [{ type: 'put', key: k, value: 'owner-1' }],
            [{ type: 'put', key: `${p}loser`, value: '1' }],
          );
          expect(first.succeeded).toBe(true);
          expect(await store.get(k)).toMatchObject({ value: 'owner-1', modRevision: first.revision });
          expect(await store.get(`${p}loser`)).toBeUndefined();

          const second = await store.txn(
            [{ key: k, target: 'createRevision', op: '==', value: 0 }],
            [{ type: 'put', key: k, value: 'owner-2' }],
            [{ type: 'put', key: `${p}loser`, value: '2' }],
          );
          expect(second.succeeded).toBe(false);
          expect(second.revision).toBeGreaterThan(first.revision);
          expect((await store.get(k))?.value).toBe('owner-1');
          expect((await store.get(`${p}loser`))?.value).toBe('2');
        },
        timeout,
      );

      it(
        'compare-and-swap on value and modRevision; stale compares fail and change nothing',
        async () => {
          const k = `${p}cas`;
          const r1 = await store.put(k, 'v1');
          const ok = await store.txn(
            [
              { key: k, target: 'value', op: '==', value: 'v1' },
              { key: k, target: 'modRevision', op: '==', value: r1 },
            ],
            [{ type: 'put', key: k, value: 'v2' }],
          );
          expect(ok.succeeded).toBe(true);
          const stale = await store.txn([{ key: k, target: 'value', op: '==', value: 'v1' }], [{ type: 'put', key: k, value: 'v3' }]);
          expect(stale.succeeded).toBe(false);
          expect(stale.revision).toBeGreaterThanOrEqual(ok.revision);
          const staleRev = await store.txn([{ key: k, target: 'modRevision', op: '==', value: r1 }], [{ type: 'delete', key: k }]);
          expect(staleRev.succeeded).toBe(false);
          expect(await store.get(k)).toMatchObject({ value: 'v2', version: 2, modRevision: ok.revision });

          expect((await store.txn([{ key: k, target: 'value', op: '!=', value: 'v1' }], [])).succeeded).toBe(true);
          expect((await store.txn([{ key: k, target: 'version', op: '>', value: 1 }], [])).succeeded).toBe(true);
          expect((await store.txn([{ key: k, target: 'version', op: '<', value: 2 }], [])).succeeded).toBe(false);
          expect((await store.txn([{ key: k, target: 'modRevision', op: '<', value: ok.revision + 1 }], [])).succeeded).toBe(true);
          expect((await store.txn([{ key: k, target: 'createRevision', op: '!=', value: r1 }], [])).succeeded).toBe(false);
        },
        timeout,
      );

      it(
        'compares on a missing key: numbers read 0, value compares fail with either operator',
        async () => {
          const k = `${p}missing`;
          const t = (c: Compare): Promise<boolean> => store.txn([c], []).then((r) => r.succeeded);
          expect(await t({ key: k, target: 'version', op: '==', value: 0 })).toBe(true);
          expect(await t({ key: k, target: 'modRevision', op: '==', value: 0 })).toBe(true);
          expect(await t({ key: k, target: 'createRevision', op: '<', value: 1 })).toBe(true);
          expect(await t({ key: k, target: 'version', op: '>', value: 0 })).toBe(false);
          expect(await t({ key: k, target: 'value', op: '==', value: '' })).toBe(false);
          expect(await t({ key: k, target: 'value', op: '!=', value: 'x' })).toBe(false);
        },
        timeout,
      );

      it(
        'applies every op of a branch atomically at one revision',
        async () => {
          await store.put(`${p}old/1`, '1');
          await store.put(`${p}old/2`, '2');
          await store.put(`${p}gone`, 'g');
          const res = await store.txn(
            [],
            [
              { type: 'put', key: `${p}a`, value: 'A' },
              { type: 'put', key: `${p}b`, value: 'B' },
              { type: 'delete', key: `${p}gone` },
              { type: 'deletePrefix', prefix: `${p}old/` },
            ],
          );
          expect(res.succeeded).toBe(true);
          const kvs = (await store.getPrefix(p)).kvs;
          expect(kvs.map((kv) => [kv.key.slice(p.length), kv.value, kv.modRevision])).toEqual([
            ['a', 'A', res.revision],
            ['b', 'B', res.revision],
          ]);
        },
        timeout,
      );

      it(
        'concurrent compare-and-swap increments never lose an update',
        async () => {
          const k = `${p}counter`;
          await store.put(k, '0');
          const workers = 8;
          const perWorker = 5;
          const inc = async (): Promise<void> => {
            for (;;) {
              const cur = (await store.get(k)) as KeyValue;
              const res = await store.txn(
                [{ key: k, target: 'modRevision', op: '==', value: cur.modRevision }],
                [{ type: 'put', key: k, value: String(Number(cur.value) + 1) }],
              );
              if (res.succeeded) return;
            }
          };
          await Promise.all(
            Array.from({ length: workers }, async () => {
              for (let i = 0; i < perWorker; i++) await inc();
            }),
          );
          const final = (await store.get(k)) as KeyValue;
          expect(final.value).toBe(String(workers * perWorker));
          expect(final.version).toBe(workers * perWorker + 1);
        },
        timeout,
      );
    });

    describe('watch', () => {
      it(
        'a watch from a revision sees exactly the later changes under its prefix, in order, then live ones',
        async () => {
          const r1 = await store.put(`${p}k1`, 'a');
          const r2 = await store.put(`${p}k2`, 'b');
          await store.put(`${p.slice(0, -1)}-other`, 'not mine');
          const r3 = (await store.txn([], [{ type: 'delete', key: `${p}k1` }])).revision;
          const t = await store.txn(
            [],
            [
              { type: 'put', key: `${p}k3`, value: 'c' },
              { type: 'put', key: `${p}k2`, value: 'b2' },
            ],
          );
          const c = collector();
          const w = await store.watchPrefix(p, r2, c.handlers);
          try {
            await waitFor(() => c.events.length >= 4, 5000, 'history events');
            const r5 = await store.put(`${p}k4`, 'd');
            await store.delete(`${p.slice(0, -1)}-other`);
            const r6 = await store.txn([], [{ type: 'deletePrefix', prefix: `${p}k` }]);
            await waitFor(() => c.events.length >= 8, 5000, 'live events');
            await sleep(150);
            expect(c.resyncs).toEqual([]);
            expect(c.events.map((e) => describeEvent(e, p))).toEqual([
              `put k2=b@${r2}`,
              `delete k1@${r3}`,
              `put k3=c@${t.revision}`,
              `put k2=b2@${t.revision}`,
              `put k4=d@${r5}`,
              `delete k2@${r6.revision}`,
              `delete k3@${r6.revision}`,
              `delete k4@${r6.revision}`,
            ]);
            expect(r1).toBeLessThan(r2);
            const revs = c.events.map(eventRevision);
            expect([...revs].sort((a, b) => a - b)).toEqual(revs);
            const put = c.events[3] as Extract<WatchEvent, { type: 'put' }>;
            expect(put.kv).toMatchObject({ key: `${p}k2`, version: 2, createRevision: r2 });
            // prevValue is optional, but when a backend gives it, it must be right.
            const prev = c.events.map((e) => e.prevValue);
            const expected = [undefined, 'a', undefined, 'b', undefined, 'b2', 'c', 'd'];
            prev.forEach((v, i) => v === undefined || expect(v).toBe(expected[i]));
          } finally {
            await w.close();
          }
        },
        timeout,
      );

      it(
        'getPrefix then watch from its revision + 1 misses nothing, even with writes in between',
        async () => {
          await store.put(`${p}before`, '0');
          const snap = await store.getPrefix(p);
          const written: string[] = [];
          for (let i = 0; i < 10; i++) {
            await store.put(`${p}n${i}`, String(i));
            written.push(`n${i}`);
          }
          const c = collector();
          const w = await store.watchPrefix(p, snap.revision + 1, c.handlers);
          try {
            const live = Array.from({ length: 10 }, (_, i) => store.put(`${p}m${i}`, String(i)));
            await Promise.all(live);
            await waitFor(() => c.events.length >= 20, 5000, '20 events');
            await sleep(100);
            const keys = c.events.map((e) => (e.type === 'put' ? e.kv.key.slice(p.length) : 'DELETE'));
            expect(keys.slice(0, 10)).toEqual(written);
            expect(new Set(keys.slice(10))).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `m${i}`)));
            expect(keys).toHaveLength(20);
            const revs = c.events.map(eventRevision);
            expect(revs[0]).toBeGreaterThan(snap.revision);
            for (let i = 1; i < revs.length; i++) expect(revs[i]).toBeGreaterThan(revs[i - 1] as number);
          } finally {
            await w.close();
          }
        },
        timeout,
      );

      it(
        'a closed watcher gets no more events',
        async () => {
          const c = collector();
          const start = (await store.getPrefix(p)).revision + 1;
          const w = await store.watchPrefix(p, start, c.handlers);
          await store.put(`${p}a`, '1');
          await waitFor(() => c.events.length === 1, 5000, 'first event');
          await w.close();
          await store.put(`${p}b`, '2');
          await sleep(300);
          expect(c.events).toHaveLength(1);
        },
        timeout,
      );

      (options.compact === false ? it.skip : it)(
        'a watch from a compacted revision resyncs with a full listing, then streams later changes',
        async () => {
          const r1 = await store.put(`${p}a`, '1');
          await store.put(`${p}b`, '2');
          await store.put(`${p}a`, '3');
          await store.delete(`${p}b`);
          const rc = await store.put(`${p}c`, '4');
          expect(store.compact).toBeDefined();
          await store.compact?.(rc);
          const c = collector();
          const w = await store.watchPrefix(p, r1, c.handlers);
          try {
            await waitFor(() => c.resyncs.length === 1, 5000, 'resync');
            const snap = c.resyncs[0] as RangeResult;
            expect(snap.revision).toBeGreaterThanOrEqual(rc);
            expect(snap.kvs.map((kv) => [kv.key.slice(p.length), kv.value])).toEqual([
              ['a', '3'],
              ['c', '4'],
            ]);
            const r = await store.put(`${p}d`, '5');
            await waitFor(() => c.events.length >= 1, 5000, 'event after resync');
            await sleep(100);
            expect(c.events.map((e) => describeEvent(e, p))).toEqual([`put d=5@${r}`]);
            expect(r).toBeGreaterThan(snap.revision);
            expect(c.resyncs).toHaveLength(1);
          } finally {
            await w.close();
          }
        },
        timeout,
      );
    });

    describe('leases', () => {
      it(
        'revoke deletes the bound keys at once and ends the lease without calling onLost',
        async () => {
          const lease = await store.grantLease(ttl);
          const lost: string[] = [];
          lease.onLost((r) => lost.push(r));
          expect(lease.ttlSeconds).toBe(ttl);
          expect(await lease.isAlive()).toBe(true);
          await store.put(`${p}s1`, 'x', { lease: lease.id });
          await store.txn([], [{ type: 'put', key: `${p}s2`, value: 'y', lease: lease.id }]);
          await store.put(`${p}plain`, 'z');
          // A put without the lease detaches the key from it.
          await store.put(`${p}moved`, 'm', { lease: lease.id });
          await store.put(`${p}moved`, 'm2');
          expect((await store.get(`${p}s1`))?.lease).toBe(lease.id);
          expect((await store.get(`${p}moved`))?.lease).toBeUndefined();

          await lease.revoke();
          expect(await store.get(`${p}s1`)).toBeUndefined();
          expect(await store.get(`${p}s2`)).toBeUndefined();
          expect((await store.get(`${p}plain`))?.value).toBe('z');
          expect((await store.get(`${p}moved`))?.value).toBe('m2');
          expect(await lease.isAlive()).toBe(false);
          await expect(store.put(`${p}late`, 'x', { lease: lease.id })).rejects.toThrow();
          expect(await store.get(`${p}late`)).toBeUndefined();
          await sleep(200);
          expect(lost).toEqual([]);
          await lease.revoke(); // revoking twice is harmless
        },
        timeout,
      );

      it(
        'a lease without keep-alive expires after its TTL (keys deleted, onLost called); a kept-alive one lives on',
        async () => {
          const start = (await store.getPrefix(p)).revision + 1;
          const c = collector();
          const w = await store.watchPrefix(p, start, c.handlers);
          const granted = Date.now();
          const dying = await store.grantLease(ttl, { keepAlive: false });
          const kept = await store.grantLease(ttl);
          const lost: string[] = [];
          dying.onLost((r) => lost.push(r));
          const keptLost: string[] = [];
          kept.onLost((r) => keptLost.push(r));
          try {
            await store.put(`${p}dying`, '1', { lease: dying.id });
            await store.put(`${p}kept`, '1', { lease: kept.id });
            await waitFor(async () => (await store.get(`${p}dying`)) === undefined, ttl * 1000 + 10_000, 'expiry');
            expect(Date.now() - granted).toBeGreaterThanOrEqual(ttl * 1000 - 100);
            await waitFor(() => lost.length > 0, 10_000, 'onLost');
            expect(lost).toHaveLength(1);
            expect(typeof lost[0]).toBe('string');
            expect(await dying.isAlive()).toBe(false);
            const late: string[] = [];
            dying.onLost((r) => late.push(r));
            await waitFor(() => late.length === 1, 2000, 'onLost added after the loss');
            await waitFor(
              () => c.events.some((e) => e.type === 'delete' && e.key === `${p}dying`),
              5000,
              'watch to see the delete',
            );

            const aliveFor = ttl * 1000 * 2.5 - (Date.now() - granted);
            if (aliveFor > 0) await sleep(aliveFor);
            expect((await store.get(`${p}kept`))?.lease).toBe(kept.id);
            expect(await kept.isAlive()).toBe(true);
            expect(keptLost).toEqual([]);
          } finally {
            await w.close();
            await kept.revoke();
          }
          expect(await store.get(`${p}kept`)).toBeUndefined();
        },
        leaseTimeout,
      );

      it(
        'leases are independent: revoking one leaves the other and its keys',
        async () => {
          const leases: Lease[] = await Promise.all([store.grantLease(ttl), store.grantLease(ttl)]);
          const [a, b] = leases as [Lease, Lease];
          expect(a.id).not.toBe(b.id);
          await store.put(`${p}a`, '1', { lease: a.id });
          await store.put(`${p}b`, '1', { lease: b.id });
          await a.revoke();
          expect(await store.get(`${p}a`)).toBeUndefined();
          expect((await store.get(`${p}b`))?.lease).toBe(b.id);
          expect(await b.isAlive()).toBe(true);
          await b.revoke();
          expect(await store.get(`${p}b`)).toBeUndefined();
        },
        timeout,
      );
    });

    describe('persistence', () => {
      (options.reopen === false ? it.skip : it)(
        'a reopened store keeps every acknowledged change and continues the revision sequence',
        async () => {
          if (!harness.reopen) throw new Error('the harness has no reopen(): pass { reopen: false } to skip this test');
          await store.put(`${p}a`, '1');
          await store.put(`${p}a`, '2');
          await store.put(`${p}gone`, 'x');
          await store.delete(`${p}gone`);
          const t = await store.txn(
            [{ key: `${p}b`, target: 'version', op: '==', value: 0 }],
            [
              { type: 'put', key: `${p}b`, value: 'B' },
              { type: 'put', key: `${p}c`, value: 'C' },
            ],
          );
          await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`${p}n/${String(i).padStart(2, '0')}`, String(i))));
          const before = await store.getPrefix(p);

          store = await harness.reopen();
          const after = await store.getPrefix(p);
          expect(after.revision).toBeGreaterThanOrEqual(before.revision);
          expect(after.kvs).toEqual(before.kvs);
          expect(await store.get(`${p}a`)).toMatchObject({ value: '2', version: 2 });
          expect(await store.get(`${p}c`)).toMatchObject({ value: 'C', modRevision: t.revision });
          expect(await store.get(`${p}gone`)).toBeUndefined();
          const r = await store.put(`${p}a`, '3');
          expect(r).toBeGreaterThan(before.revision);
          expect(await store.get(`${p}a`)).toMatchObject({ value: '3', version: 3 });
        },
        timeout,
      );
    });
  });
}
