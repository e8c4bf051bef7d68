import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KiteError } from '@kite/common';
import { EmbeddedMetaStore, type MetaStore, type WatchEvent, type WatchHandlers } from '@kite/metastore';
import { codecs, keys, type CollectionMeta } from '@kite/segment';
import { MetaCache } from './metacache';

const ROOT = 'cache-test';

/** A store whose watch deliveries can be held back (as a slow watch stream would) and released later. */
class HeldWatches {
  hold = false;
  private readonly queued: (() => void)[] = [];
  readonly store: MetaStore;

  constructor(inner: MetaStore) {
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'watchPrefix' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
        return (prefix: string, from: number, handlers: WatchHandlers) =>
          (v as MetaStore['watchPrefix']).call(target, prefix, from, {
            ...handlers,
            onEvents: (evs: WatchEvent[]) => {
              if (this.hold) this.queued.push(() => handlers.onEvents(evs));
              else handlers.onEvents(evs);
            },
          });
      },
    }) as MetaStore;
  }

  release(): void {
    this.hold = false;
    for (const deliver of this.queued.splice(0)) deliver();
  }
}

function collection(id: number, name: string): CollectionMeta {
  return {
    collectionID: id, name, description: '', fields: [], enableDynamicField: false, shardsNum: 1, topic: `t${id}`,
    partitions: [], indexes: [], consistencyLevel: 'Bounded', properties: {}, createdTs: '0',
  };
}

let dir = '';
let inner: EmbeddedMetaStore;
let held: HeldWatches;
let cache: MetaCache;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-metacache-'));
  inner = await EmbeddedMetaStore.open(dir);
  held = new HeldWatches(inner);
  cache = new MetaCache(held.store, ROOT, false);
  await cache.start();
});
afterEach(async () => {
  held.release();
  await cache.close();
  await inner.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const soon = (ms = 10_000): number => Date.now() + ms;

test('waitForRevision resolves only once the watch delivered the change made before that revision', async () => {
  held.hold = true;
  await inner.put(keys.collection(ROOT, 7), codecs.collection.encode(collection(7, 'c7')));
  const rev = await cache.storeRevision();
  let done = false;
  const wait = cache.waitForRevision(rev, soon()).then(() => (done = true));
  // The read the cache makes shows a key the watch has not delivered: it must wait for the event, not give up.
  await new Promise((r) => setImmediate(r));
  await inner.get(keys.collection(ROOT, 7));
  expect(done).toBe(false);
  expect(cache.find('c7', 'default')).toBeUndefined();
  held.release();
  await wait;
  expect(cache.find('c7', 'default')?.collectionID).toBe(7);
  expect(cache.revision).toBeGreaterThanOrEqual(rev);
});

test('a drop is waited for too: the deleted key is gone from the cache once waitForRevision resolves', async () => {
  await inner.put(keys.collection(ROOT, 8), codecs.collection.encode(collection(8, 'c8')));
  await cache.waitForRevision(await cache.storeRevision(), soon());
  expect(cache.find('c8', 'default')).toBeDefined();
  held.hold = true;
  await inner.delete(keys.collection(ROOT, 8));
  const wait = cache.waitForRevision(await cache.storeRevision(), soon());
  setImmediate(() => held.release());
  await wait;
  expect(cache.find('c8', 'default')).toBeUndefined();
});

test('quiet prefixes: changes elsewhere in the store need no event from the cache watches', async () => {
  await inner.put(keys.alias(ROOT, 'a1'), 'c1');
  await cache.waitForRevision(await cache.storeRevision(), soon());
  const before = cache.revision;
  // Keys the cache does not watch move the store's revision on; no event will ever reach the cache for them.
  for (let i = 0; i < 5; i++) await inner.put(keys.checkpoint(ROOT, 1, `ch${i}`), codecs.checkpoint.encode({ channel: `ch${i}`, offset: i, ts: '0' }));
  const rev = await cache.storeRevision();
  expect(rev).toBeGreaterThan(before);
  held.hold = true; // nothing is queued: every watched prefix is quiet
  await cache.waitForRevision(rev, soon(2000));
  expect(cache.revision).toBeGreaterThanOrEqual(rev);
});

test('fails with a retriable DeadlineExceeded when the watch does not deliver by the deadline', async () => {
  held.hold = true;
  await inner.put(keys.alias(ROOT, 'late'), 'c1');
  const rev = await cache.storeRevision();
  const started = Date.now();
  const err = await cache.waitForRevision(rev, Date.now() + 300).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KiteError);
  expect((err as KiteError).kind).toBe('DeadlineExceeded');
  expect((err as KiteError).retriable).toBe(true);
  expect((err as KiteError).message).toContain(`revision ${rev}`);
  expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  held.release();
  await cache.waitForRevision(rev, soon());
  expect(cache.allAliases('default')).toEqual([['late', 'c1']]);
});

test('concurrent waiters all resolve on one delivery', async () => {
  held.hold = true;
  await inner.put(keys.collection(ROOT, 9), codecs.collection.encode(collection(9, 'c9')));
  const rev = await cache.storeRevision();
  const waits = Array.from({ length: 5 }, () => cache.waitForRevision(rev, soon()));
  setImmediate(() => held.release());
  await Promise.all(waits);
  expect(cache.find('c9', 'default')).toBeDefined();
});

test('a dropped segment or alias key leaves the cache, read back from the key through the layout', async () => {
  const segs = new MetaCache(inner, ROOT);
  await segs.start();
  try {
    const seg = {
      segmentID: 448000000000002, collectionID: 448000000000001, channel: 't#0', startOffset: 0, endOffset: 1, numRows: 1,
      dataKey: 'd', deltaKey: '', numDeletes: 0, indexes: [], maxTs: '1', createdAt: 0,
    };
    await inner.put(keys.segment(ROOT, seg.collectionID, seg.segmentID), codecs.segment.encode(seg));
    await inner.put(keys.alias(ROOT, 'books_v2'), 'books');
    await segs.waitForRevision(await segs.storeRevision(), soon());
    expect(segs.segment(seg.collectionID, seg.segmentID)?.numRows).toBe(1);
    expect(segs.allAliases('default')).toEqual([['books_v2', 'books']]);
    const events: unknown[][] = [];
    segs.on('segment', (...args: unknown[]) => events.push(args));
    await inner.delete(keys.segment(ROOT, seg.collectionID, seg.segmentID));
    await inner.delete(keys.alias(ROOT, 'books_v2'));
    await segs.waitForRevision(await segs.storeRevision(), soon());
    expect(segs.segment(seg.collectionID, seg.segmentID)).toBeUndefined();
    expect(events).toEqual([[undefined, seg.collectionID, seg.segmentID]]);
    expect(segs.allAliases('default')).toEqual([]);
  } finally {
    await segs.close();
  }
});

test('databases scope collections and aliases: the same name in two databases is two collections', async () => {
  expect(cache.allDatabases().map((d) => d.name)).toEqual(['default']);
  await inner.put(keys.database(ROOT, 'shop'), codecs.database.encode({ name: 'shop', id: 20, createdTs: '5', properties: {} }));
  // A collection stored before databases existed has no dbName: it belongs to "default".
  await inner.put(keys.collection(ROOT, 11), codecs.collection.encode(collection(11, 'books')));
  await inner.put(keys.collection(ROOT, 12), codecs.collection.encode({ ...collection(12, 'books'), dbName: 'shop' }));
  await inner.put(keys.alias(ROOT, 'b', 'shop'), 'books');
  await inner.put(keys.alias(ROOT, 'b'), 'books');
  await cache.waitForRevision(await cache.storeRevision(), soon());
  expect(cache.allDatabases().map((d) => d.name)).toEqual(['default', 'shop']);
  expect(cache.database('shop')?.id).toBe(20);
  expect(cache.database('nope')).toBeUndefined();
  expect(cache.find('books', 'default')?.collectionID).toBe(11);
  expect(cache.find('books', 'shop')?.collectionID).toBe(12);
  expect(cache.find('b', 'shop')?.collectionID).toBe(12);
  expect(cache.find('b', 'default')?.collectionID).toBe(11);
  expect(cache.find('books', 'nope')).toBeUndefined();
  expect(cache.all('shop').map((c) => c.collectionID)).toEqual([12]);
  expect(cache.allAliases('shop')).toEqual([['b', 'books']]);
  await inner.delete(keys.alias(ROOT, 'b', 'shop'));
  await inner.delete(keys.database(ROOT, 'shop'));
  await cache.waitForRevision(await cache.storeRevision(), soon());
  expect(cache.allAliases('shop')).toEqual([]);
  expect(cache.allAliases('default')).toEqual([['b', 'books']]);
  expect(cache.database('shop')).toBeUndefined();
});
