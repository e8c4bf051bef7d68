import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '@kite/common';
import { EmbeddedMetaStore, type MetaStore } from '@kite/metastore';

type Store = Pick<MetaStore, 'getPrefix' | 'compact'>;
import { HistoryCompactor } from './meta-history';

let dir = '';
let meta: EmbeddedMetaStore;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-history-'));
  meta = await EmbeddedMetaStore.open(dir);
});

afterEach(async () => {
  await meta.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('compacts to the retained revisions behind the head, once per advance; a failure is reported and retried later', async () => {
  let head = 0;
  for (let i = 0; i < 50; i++) head = await meta.put('k', String(i));
  const compacted: number[] = [];
  const store: Store = { getPrefix: (p) => meta.getPrefix(p), compact: async (rev) => { compacted.push(rev); await meta.compact(rev); } };
  const h = new HistoryCompactor(store, { intervalSeconds: 60, retainRevisions: 10, probeKey: 'k' }, silentLogger);
  expect(await h.compactOnce()).toBe(head - 10);
  // Nothing new: nothing to do.
  expect(await h.compactOnce()).toBeUndefined();
  for (let i = 0; i < 5; i++) head = await meta.put('k', `x${i}`);
  expect(await h.compactOnce()).toBe(head - 10);
  expect(compacted).toEqual([head - 15, head - 10]);

  const failing: Store = { getPrefix: (p) => meta.getPrefix(p), compact: () => Promise.reject(new Error('etcd unavailable')) };
  const f = new HistoryCompactor(failing, { intervalSeconds: 60, retainRevisions: 10, probeKey: 'k' }, silentLogger);
  expect(await f.compactOnce()).toBeUndefined();
});

test('a store without history compaction, or an interval of 0, starts no schedule', () => {
  const noCompact: Store = { getPrefix: (p) => meta.getPrefix(p) };
  const a = new HistoryCompactor(noCompact, { intervalSeconds: 1, retainRevisions: 10, probeKey: 'k' }, silentLogger);
  a.start();
  expect((a as unknown as { timer?: unknown }).timer).toBeUndefined();
  const b = new HistoryCompactor(meta, { intervalSeconds: 0, retainRevisions: 10, probeKey: 'k' }, silentLogger);
  b.start();
  expect((b as unknown as { timer?: unknown }).timer).toBeUndefined();
  const c = new HistoryCompactor(meta, { intervalSeconds: 1, retainRevisions: 10, probeKey: 'k' }, silentLogger);
  c.start();
  expect((c as unknown as { timer?: unknown }).timer).toBeDefined();
  c.stop();
});
