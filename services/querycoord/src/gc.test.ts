import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '@kite/common';
import { EmbeddedMetaStore } from '@kite/metastore';
import { LocalObjectStore } from '@kite/objectstore';
import type { DistributionResponse } from '@kite/rpc';
import { codecs, keys, type CompactionPlanRecord, type SegmentMeta } from '@kite/segment';
import type { DistSnapshot, NodeView } from './distribution';
import { distributionKnown, GarbageCollector, segmentPrefix, sourceVerdict } from './gc';

const ROOT = 'gc-test';
const COLL = 7;

function seg(id: number, over: Partial<SegmentMeta> = {}): SegmentMeta {
  const prefix = `collections/${COLL}/segments/${id}`;
  return {
    segmentID: id, collectionID: COLL, channel: 'c#0', startOffset: 0, endOffset: 10, numRows: 5, dataKey: `${prefix}/data.kcb`, deltaKey: '',
    numDeletes: 0, indexes: [{ fieldName: 'v', indexID: 1, key: `${prefix}/index-1.faiss`, bytes: 3 }], maxTs: '1', createdAt: 0, ...over,
  };
}

function qn(id: number, segments: number[], state: NodeView['state'] = 'healthy'): NodeView {
  const dist: DistributionResponse = { node_id: id, channels: [], indexing_segments: [], segments: segments.map((s) => ({ collection_id: COLL, segment_id: s, replica_id: 1, num_rows: 5, channel: 'c#0' })) };
  return { id, role: 'querynode', address: '', state, since: 0, stopping: false, failures: 0, dist: state === 'joining' ? undefined : dist };
}

function snapshot(nodes: NodeView[], startedAt: number): DistSnapshot {
  return { seq: 1, startedAt, nodes: new Map(nodes.map((n) => [n.id, n])) };
}

describe('sourceVerdict: whether a compaction source is still referenced', () => {
  const live = new Map([[20, seg(20)]]);
  test('a source whose record is live (failed or no-op plan) is live, never garbage', () => {
    expect(sourceVerdict(COLL, 20, { live, served: new Set() })).toBe('live');
  });
  test('a source a query node still serves is referenced', () => {
    expect(sourceVerdict(COLL, 10, { live, served: new Set([10]) })).toBe('referenced');
  });
  test('a source under whose prefix a live record names a file is referenced', () => {
    const odd = new Map([[21, seg(21, { deltaKey: `${segmentPrefix(COLL, 10)}delta.kcb` })]]);
    expect(sourceVerdict(COLL, 10, { live: odd, served: new Set() })).toBe('referenced');
  });
  test('a source nobody names or serves is garbage; a longer id sharing its digits does not protect it', () => {
    expect(sourceVerdict(COLL, 10, { live, served: new Set([11]) })).toBe('garbage');
    const longer = new Map([[100, seg(100)]]);
    expect(sourceVerdict(COLL, 10, { live: longer, served: new Set() })).toBe('garbage');
  });
});

test('distributionKnown: every query node with a session has answered a pull', () => {
  const snap = snapshot([qn(1, []), qn(2, [], 'suspect')], 0);
  expect(distributionKnown(snap, [{ id: 1, state: 'healthy' }])).toBe(true);
  expect(distributionKnown(snap, [{ id: 1, state: 'healthy' }, { id: 2, state: 'suspect' }])).toBe(false);
  expect(distributionKnown(snap, [{ id: 1, state: 'healthy' }, { id: 3, state: 'joining' }])).toBe(false);
  expect(distributionKnown(snap, [{ id: 1, state: 'healthy' }, { id: 2, state: 'gone' }])).toBe(true);
});

describe('GarbageCollector passes over a meta store and an object store', () => {
  let dir = '';
  let meta: EmbeddedMetaStore;
  let objects: LocalObjectStore;
  let now = 0;
  let snap: DistSnapshot;
  let members: { id: number; state: NodeView['state'] }[];

  const planKey = (p: CompactionPlanRecord): string => keys.compactionPlan(ROOT, p.compactionID, p.planID);

  async function writeSegment(s: SegmentMeta, live: boolean): Promise<void> {
    for (const k of [s.dataKey, ...s.indexes.map((i) => i.key)]) await objects.put(k, Buffer.alloc(100));
    if (live) await meta.put(keys.segment(ROOT, COLL, s.segmentID), codecs.segment.encode(s));
  }

  async function writePlan(p: Partial<CompactionPlanRecord> & { planID: number; sources: number[] }): Promise<CompactionPlanRecord> {
    const plan: CompactionPlanRecord = { compactionID: 1, collectionID: COLL, channel: 'c#0', type: 'mix', state: 'completed', results: [30], createdAt: 0, updatedAt: 1000, ...p };
    await meta.put(planKey(plan), codecs.compactionPlan.encode(plan));
    return plan;
  }

  const gc = (): GarbageCollector =>
    new GarbageCollector({ gcGraceSeconds: 10, gcIntervalSeconds: 60 }, { store: meta, objects, root: ROOT, metaTimeoutMs: 5000, snapshot: () => snap, queryNodes: () => members, log: silentLogger, now: () => now });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-gc-'));
    meta = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
    objects = await LocalObjectStore.open(path.join(dir, 'objects'));
    members = [{ id: 1, state: 'healthy' }];
    await writeSegment(seg(10), false);
    await writeSegment(seg(11), false);
    await writeSegment(seg(30), true);
    await meta.put(keys.compaction(ROOT, 1), codecs.compaction.encode({ compactionID: 1, collectionID: COLL, clustering: false, trigger: 'manual', planIDs: [2], createdAt: 1000 }));
  });

  afterEach(async () => {
    await meta.close();
    await objects.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('within the grace period, or while a source is served or the distribution is unknown, nothing goes', async () => {
    await writePlan({ planID: 2, sources: [10, 11] });
    now = 5000;
    snap = snapshot([qn(1, [30])], now);
    expect(await gc().pass()).toMatchObject({ files: 0, records: 0 });

    now = 20_000;
    snap = snapshot([qn(1, [11, 30])], now);
    expect(await gc().pass()).toMatchObject({ files: 0, records: 0, waiting: 1 });

    snap = snapshot([qn(1, [30])], now);
    members = [{ id: 1, state: 'healthy' }, { id: 2, state: 'joining' }];
    expect(await gc().pass()).toMatchObject({ files: 0, records: 0, waiting: 1 });

    // A snapshot taken before the grace period ended may predate the release: wait for a later one.
    members = [{ id: 1, state: 'healthy' }];
    snap = snapshot([qn(1, [30])], 10_000);
    expect(await gc().pass()).toMatchObject({ files: 0, records: 0, waiting: 1 });
    expect((await objects.list(`collections/${COLL}/`)).length).toBe(6);
  });

  test('past the grace period and released: the sources\' files, the plan and the compaction go; live files stay; a second pass does nothing', async () => {
    const p = await writePlan({ planID: 2, sources: [10, 11] });
    now = 20_000;
    snap = snapshot([qn(1, [30])], now);
    const first = await gc().pass();
    expect(first).toEqual({ segments: 2, files: 4, bytes: 400, records: 2, waiting: 0 });
    expect((await objects.list(`collections/${COLL}/`)).map((o) => o.key)).toEqual([`collections/${COLL}/segments/30/data.kcb`, `collections/${COLL}/segments/30/index-1.faiss`]);
    expect(await meta.get(planKey(p))).toBeUndefined();
    expect(await meta.get(keys.compaction(ROOT, 1))).toBeUndefined();
    expect(await meta.get(keys.segment(ROOT, COLL, 30))).toBeDefined();
    expect(await gc().pass()).toEqual({ segments: 0, files: 0, bytes: 0, records: 0, waiting: 0 });
  });

  test('a failed plan keeps its sources (live records) and loses only its record; an executing plan is left alone', async () => {
    await writeSegment(seg(12), true);
    const failed = await writePlan({ planID: 2, sources: [12], state: 'failed', results: [] });
    const executing = await writePlan({ planID: 3, sources: [10, 11], state: 'executing', results: [] });
    now = 20_000;
    snap = snapshot([qn(1, [12, 30])], now);
    expect(await gc().pass()).toMatchObject({ files: 0, records: 1 });
    expect(await meta.get(planKey(failed))).toBeUndefined();
    expect(await meta.get(planKey(executing))).toBeDefined();
    expect(await meta.get(keys.compaction(ROOT, 1))).toBeDefined();
    expect((await objects.list(segmentPrefix(COLL, 12))).length).toBe(2);
    expect((await objects.list(segmentPrefix(COLL, 10))).length).toBe(2);
  });
});
