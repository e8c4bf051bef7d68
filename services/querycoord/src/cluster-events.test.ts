import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, silentLogger } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import type { CollectionMeta } from '@kite/segment';
import { Reconciler } from './reconciler';
import { FakeCluster, collection, segment } from './testing/fakes';

const ROOT = 'kite';

let dir = '';
let meta: EmbeddedMetaStore;
let fakes: FakeCluster;
let colls: CollectionMeta[];
let rec: Reconciler;

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-qc-events-'));
  meta = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
  fakes = new FakeCluster();
  colls = [];
  // The timer never fires: the test runs passes itself.
  const cfg = loadConfig({ env: {}, overrides: { querycoord: { checkIntervalMs: 3_600_000, pullTimeoutMs: 300, taskRetryMs: 2000, loadTimeoutMs: 1000 } } });
  rec = new Reconciler(cfg.querycoord, meta, ROOT, { all: () => colls }, fakes, silentLogger);
  await rec.start();
});

afterEach(async () => {
  await rec?.stop();
  await meta.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

/** Passes until the scheduler holds nothing for two passes in a row. */
async function settle(maxPasses = 60): Promise<void> {
  let idle = 0;
  for (let i = 0; i < maxPasses; i++) {
    await rec.pass();
    for (let j = 0; j < 3; j++) await new Promise((r) => setImmediate(r));
    idle = rec.scheduler.size === 0 ? idle + 1 : 0;
    if (idle >= 2) return;
  }
  throw new Error(`not settled after ${maxPasses} passes`);
}

test('the event ring records joins, the collection loaded, a node lost, and each of its segments and delegators moved', async () => {
  const c = collection(1, 2, 1);
  colls.push(c);
  let segID = 100;
  for (let sh = 0; sh < 2; sh++) {
    for (let i = 0; i < 3; i++) {
      const s = segment(c, ++segID, sh, i * 100, 100);
      fakes.addSegment(s);
      rec.targets.put(s);
    }
  }
  rec.nodeUp(fakes.dataNodeSession(50));
  for (const id of [1, 2]) rec.nodeUp(fakes.queryNodeSession(id));
  await settle();
  expect(rec.loadInfo(c).progress).toBe(100);
  const kinds = (): string[] => rec.events.recent().map((e) => e.kind);
  expect(kinds().filter((k) => k === 'node-joined')).toHaveLength(3);
  expect(kinds()).toContain('collection-loaded');
  // First loads are no moves.
  expect(kinds()).not.toContain('segment-moved');
  const held = fakes.qn(2).held();
  const delegating = fakes.qn(2).delegating();
  expect(held.length).toBeGreaterThan(0);
  expect(delegating.length).toBeGreaterThan(0);

  fakes.qn(2).down = true;
  rec.nodeDown(fakes.queryNodeSession(2));
  await settle();
  expect(fakes.qn(1).held()).toEqual([101, 102, 103, 104, 105, 106]);
  const events = rec.events.recent();
  const lost = events.find((e) => e.kind === 'node-lost');
  expect(lost).toMatchObject({ nodeId: 2 });
  expect(lost!.message).toContain(`held ${held.length} segment(s) and ${delegating.length} channel(s)`);
  const moved = events.filter((e) => e.kind === 'segment-moved');
  expect(moved.map((e) => Number(/segment (\d+)/.exec(e.message)![1])).sort()).toEqual(held);
  for (const e of moved) {
    expect(e).toMatchObject({ nodeId: 1, collectionId: 1 });
    expect(e.message).toMatch(/moved from node 2 \(lost\) to node 1/);
    expect(e.seq).toBeGreaterThan(lost!.seq);
  }
  const rebuilt = events.filter((e) => e.kind === 'delegator-rebuilt');
  expect(rebuilt.map((e) => /delegator of (\S+)/.exec(e.message)![1]).sort()).toEqual([...delegating].sort());
});
