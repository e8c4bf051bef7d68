import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, physicalMs } from '@kite/common';
import { EmbeddedMetaStore, type MetaStore } from '@kite/metastore';
import { keys } from '@kite/segment';
import { IdAllocator, Tso } from './tso';

const ROOT = 'tso-test';

/** The store, counting the writes made to the oracle's and the id allocator's keys. */
function counted(inner: MetaStore): { store: MetaStore; writes: { tso: number; ids: number } } {
  const writes = { tso: 0, ids: 0 };
  const store = new Proxy(inner, {
    get: (target, prop, receiver) => {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'put') {
        return (key: string, ...rest: unknown[]) => {
          if (key === keys.tso(ROOT)) writes.tso++;
          return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      }
      if (prop === 'txn') {
        return (...args: unknown[]) => {
          writes.ids++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  }) as MetaStore;
  return { store, writes };
}

let dir = '';
let meta: EmbeddedMetaStore;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-tso-'));
  meta = await EmbeddedMetaStore.open(dir);
});
afterEach(async () => {
  await meta.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

test('the defaults are the oracle window, renewal margin and id batch the coordinator always used', () => {
  const qc = loadConfig({ env: {} }).querycoord;
  expect({ tsoWindowMs: qc.tsoWindowMs, tsoRenewBeforeMs: qc.tsoRenewBeforeMs, idBatchSize: qc.idBatchSize }).toEqual({ tsoWindowMs: 3000, tsoRenewBeforeMs: 500, idBatchSize: 100000 });
  expect({ initial: qc.campaignRetryInitialMs, max: qc.campaignRetryMaxMs }).toEqual({ initial: 250, max: 5000 });
});

test('the oracle reserves tsoWindowMs ahead, and a restarted oracle starts past the reservation', async () => {
  const before = Date.now();
  const tso = new Tso(meta, ROOT, { windowMs: 60_000, renewBeforeMs: 500 });
  await tso.start();
  const first = await tso.alloc(1);
  const reserved = Number((await meta.get(keys.tso(ROOT)))!.value);
  // Reserved at start, from the clock then: at least a window past `before`, at most a window past the first timestamp.
  expect(reserved).toBeGreaterThanOrEqual(before + 60_000);
  expect(reserved).toBeLessThanOrEqual(physicalMs(first) + 60_000);
  const again = new Tso(meta, ROOT, { windowMs: 60_000, renewBeforeMs: 500 });
  await again.start();
  expect(physicalMs(await again.alloc(1))).toBeGreaterThan(reserved);
});

test('the oracle writes the next reservation only within tsoRenewBeforeMs of the reserved end', async () => {
  const far = counted(meta);
  const tso = new Tso(far.store, ROOT, { windowMs: 60_000, renewBeforeMs: 0 });
  await tso.start();
  for (let i = 0; i < 20; i++) await tso.alloc(1);
  expect(far.writes.tso).toBe(1); // the start's reservation covers them all
  const always = counted(meta);
  const eager = new Tso(always.store, ROOT, { windowMs: 1000, renewBeforeMs: 1000 });
  await eager.start();
  for (let i = 0; i < 20; i++) await eager.alloc(1);
  expect(always.writes.tso).toBe(21); // a margin of the whole window renews at every allocation
});

test('ids are reserved idBatchSize at a time', async () => {
  const c = counted(meta);
  const ids = new IdAllocator(c.store, ROOT, 10);
  const got: number[] = [];
  for (let i = 0; i < 25; i++) got.push(await ids.alloc(1));
  expect(new Set(got).size).toBe(25);
  expect(got).toEqual([...got].sort((a, b) => a - b));
  expect(c.writes.ids).toBe(3);
  expect(Number((await meta.get(keys.idAllocator(ROOT)))!.value)).toBe(got[0]! + 30);
  // A request larger than the batch gets all its ids from one reservation.
  const start = await ids.alloc(50);
  expect(Number((await meta.get(keys.idAllocator(ROOT)))!.value)).toBe(start + 50);
});
