import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KiteError, silentLogger } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import type { CollectionMeta } from '@kite/segment';
import { Session, type MetaCache } from '@kite/session';
import { collectionArrival, waitForHandOver } from './waits';

const ROOT = 'kite';
let dir = '';
let store: EmbeddedMetaStore;
const sessions: Session[] = [];

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-qn-waits-'));
  store = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
});
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.revoke();
  await store.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

async function queryNode(address: string): Promise<Session> {
  const s = new Session(store, ROOT, 10, { role: 'querynode', address, metricsAddress: '' }, silentLogger);
  sessions.push(s);
  await s.register();
  return s;
}

/** A stopping node (`self`) with work, a peer, and the hand-over wait started; returns its controls. */
async function stopping(graceMs: number): Promise<{ peer: Session; work: EventEmitter; release(): void; outcome: Promise<string>; t0: number }> {
  const self = await queryNode('127.0.0.1:1');
  await self.markStopping();
  const peer = await queryNode('127.0.0.1:2');
  const work = new EventEmitter();
  let held = 2;
  const t0 = Date.now();
  const outcome = waitForHandOver({ store, root: ROOT, self: self.serverID, hasWork: () => held > 0, work, deadline: t0 + graceMs, log: silentLogger });
  return {
    peer,
    work,
    release: () => {
      held--;
      work.emit('changed');
    },
    outcome,
    t0,
  };
}

test('the wait ends the moment the last piece of work is released, not at a polling tick', async () => {
  const s = await stopping(10_000);
  await new Promise((r) => setTimeout(r, 50));
  s.release();
  let settled = false;
  void s.outcome.then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  expect(settled).toBe(false);
  const t = Date.now();
  s.release();
  expect(await s.outcome).toBe('done');
  expect(Date.now() - t).toBeLessThan(100);
  expect(s.work.listenerCount('changed')).toBe(0);
});

test('the wait ends when the last peer leaves or is stopping itself: nowhere for the work to go', async () => {
  const a = await stopping(10_000);
  await a.peer.revoke();
  expect(await a.outcome).toBe('no-peers');
  expect(Date.now() - a.t0).toBeLessThan(5_000);

  const b = await stopping(10_000);
  await b.peer.markStopping();
  expect(await b.outcome).toBe('no-peers');
});

test('with no peer at all it does not wait; with work that never moves it ends at the deadline', async () => {
  const self = await queryNode('127.0.0.1:1');
  const t0 = Date.now();
  const alone = await waitForHandOver({ store, root: ROOT, self: self.serverID, hasWork: () => true, work: new EventEmitter(), deadline: t0 + 10_000, log: silentLogger });
  expect(alone).toBe('no-peers');
  expect(Date.now() - t0).toBeLessThan(5_000);

  const s = await stopping(300);
  expect(await s.outcome).toBe('timeout');
  expect(Date.now() - s.t0).toBeGreaterThanOrEqual(290);
});

/** A stand-in for the MetaCache: its `collection` event and lookups. */
function fakeCache(): MetaCache & { put(c: CollectionMeta): void } {
  const e = new EventEmitter();
  const colls = new Map<number, CollectionMeta>();
  return Object.assign(e, {
    byID: (id: number) => colls.get(id),
    mustByID: (id: number) => {
      const c = colls.get(id);
      if (!c) throw new KiteError('CollectionNotFound', `collection not found[collectionID=${id}]`);
      return c;
    },
    put(c: CollectionMeta) {
      colls.set(c.collectionID, c);
      e.emit('collection', c, c.collectionID);
    },
  }) as unknown as MetaCache & { put(c: CollectionMeta): void };
}

test('a collection not yet in the cache is taken from its watch event as soon as it arrives', async () => {
  const cache = fakeCache();
  const coll = { collectionID: 7 } as CollectionMeta;
  const t0 = Date.now();
  const got = collectionArrival(cache, 7, 5_000);
  setTimeout(() => cache.put({ collectionID: 8 } as CollectionMeta), 20);
  setTimeout(() => cache.put(coll), 400);
  expect(await got).toBe(coll);
  // Past a fixed 200 ms sleep, well before the deadline.
  expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
  expect(Date.now() - t0).toBeLessThan(4_000);
  expect(cache.listenerCount('collection')).toBe(0);
  expect(await collectionArrival(cache, 7, 1)).toBe(coll);
});

test('a collection that never arrives fails at the deadline as CollectionNotFound', async () => {
  const cache = fakeCache();
  const t0 = Date.now();
  await expect(collectionArrival(cache, 9, 150)).rejects.toMatchObject({ kind: 'CollectionNotFound' });
  expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  expect(cache.listenerCount('collection')).toBe(0);
});
