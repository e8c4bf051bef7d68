import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, silentLogger } from '@kite/common';
import { EmbeddedMetaStore, type MetaStore } from '@kite/metastore';
import type { CollectionMeta } from '@kite/segment';
import { Reconciler } from './reconciler';
import type { Task } from './tasks';
import { FakeCluster, collection, segment } from './testing/fakes';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ROOT = 'kite';

let dir = '';
let meta: EmbeddedMetaStore;
let fakes: FakeCluster;
let colls: CollectionMeta[];
let rec: Reconciler;
/** Every task the scheduler accepted, in order. */
let planned: Task[];

async function reconciler(overrides: Record<string, unknown> = {}, store: MetaStore = meta): Promise<Reconciler> {
  // The timer never fires: the tests run passes themselves.
  const cfg = loadConfig({ env: {}, overrides: { querycoord: { checkIntervalMs: 3_600_000, pullTimeoutMs: 300, taskRetryMs: 2000, loadTimeoutMs: 1000, ...overrides } } });
  const r = new Reconciler(cfg.querycoord, store, ROOT, { all: () => colls }, fakes, silentLogger);
  const submit = r.scheduler.submit.bind(r.scheduler);
  r.scheduler.submit = (tasks) => {
    const accepted = submit(tasks);
    planned.push(...accepted);
    return accepted;
  };
  await r.start();
  return r;
}

beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'kite-qc-rec-'));
  meta = await EmbeddedMetaStore.open(path.join(dir, 'meta'));
  fakes = new FakeCluster();
  colls = [];
  planned = [];
});

afterEach(async () => {
  await rec?.stop();
  await meta.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

/** One pass, then lets the RPCs it started answer. */
async function pass(): Promise<void> {
  await rec.pass();
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** Passes until the scheduler holds nothing for two passes in a row (the cluster matches the target). */
async function settle(maxPasses = 60): Promise<void> {
  let idle = 0;
  for (let i = 0; i < maxPasses; i++) {
    await pass();
    idle = rec.scheduler.size === 0 ? idle + 1 : 0;
    if (idle >= 2) return;
  }
  throw new Error(`not settled after ${maxPasses} passes; pending: ${rec.scheduler.pending().map((p) => `${p.key}@${p.task.node}:${p.state}`).join(', ')}`);
}

/** A loaded collection with one channel per shard and `perShard` segments of `rows` rows on each. */
function loadedCollection(id: number, shards: number, replicas: number, perShard: number, rows = 100): CollectionMeta {
  const c = collection(id, shards, replicas);
  colls.push(c);
  let segID = id * 100;
  for (let sh = 0; sh < shards; sh++) {
    for (let i = 0; i < perShard; i++) {
      const s = segment(c, ++segID, sh, i * rows, rows);
      fakes.addSegment(s);
      rec.targets.put(s);
    }
  }
  return c;
}

const replicasOf = (c: CollectionMeta): number[][] => (rec.replicas.get(c.collectionID) ?? []).map((r) => [...r.nodes].sort((a, b) => a - b));
const loadsTo = (node: number): number[] => planned.flatMap((t) => (t.kind === 'load' && t.node === node ? [t.segment] : []));

test('node lost mid-load: its segments and delegators go to the other node of the replica, and tasks to it are dropped', async () => {
  rec = await reconciler();
  const c = loadedCollection(1, 1, 1, 4);
  rec.nodeUp(fakes.dataNodeSession(50));
  for (const id of [1, 2]) rec.nodeUp(fakes.queryNodeSession(id));
  fakes.qn(2).modes.set('LoadSegments', 'hang');
  for (let i = 0; i < 5; i++) await pass();
  expect(replicasOf(c)).toEqual([[1, 2]]);
  // Placement alternates on rows: 101 and 103 to node 1 (loaded), 102 and 104 to node 2 (hanging, sent once each).
  expect(loadsTo(1)).toEqual([101, 103]);
  expect(loadsTo(2)).toEqual([102, 104]);
  expect(fakes.qn(2).callsOf('LoadSegments')).toHaveLength(2);
  expect(fakes.qn(1).held()).toEqual([101, 103]);
  // The data node consumes the channel; no delegator yet: the channel's segments are still loading.
  expect(fakes.dataNodes.get(50)!.channels.map((ch) => ch.channel)).toEqual(['kite-dml-1#0']);
  expect(fakes.qn(1).delegating()).toEqual([]);

  fakes.qn(2).down = true;
  rec.nodeDown(fakes.queryNodeSession(2));
  expect(replicasOf(c)).toEqual([[1]]);
  await pass();
  expect(rec.scheduler.pending().filter((p) => p.task.node === 2)).toEqual([]);
  expect(loadsTo(1)).toEqual([101, 103, 102, 104]);
  await settle();
  expect(fakes.qn(1).held()).toEqual([101, 102, 103, 104]);
  expect(fakes.qn(1).delegating()).toEqual(['kite-dml-1#0']);
  const told = fakes.qn(1).told.get(`${rec.replicas.get(1)![0]!.replicaID}/kite-dml-1#0`)!;
  expect(told.sealed.map((p) => [p.segment_id, p.node_id])).toEqual([[101, 1], [102, 1], [103, 1], [104, 1]]);
  expect(told.watermark).toBe(400);
  expect(rec.loadInfo(c).progress).toBe(100);
  expect(fakes.qn(2).callsOf('LoadSegments')).toHaveLength(2);

  // Node back (restarted, empty): it rejoins the replica and the next balance moves segments to it, one at a time.
  fakes.qn(2).down = false;
  fakes.qn(2).modes.clear();
  rec.nodeUp(fakes.queryNodeSession(2));
  await settle();
  expect(replicasOf(c)).toEqual([[1, 2]]);
  const moves = planned.filter((t) => t.kind === 'load' && t.why === 'balance');
  expect(moves.map((t) => [t.node, (t as Extract<Task, { kind: 'load' }>).segment])).toEqual([
    [2, 101],
    [2, 103],
  ]);
  expect(fakes.qn(1).held()).toEqual([102, 104]);
  expect(fakes.qn(2).held()).toEqual([101, 103]);
  // Each copy left behind was released only after the move showed.
  expect(fakes.qn(1).callsOf('ReleaseSegments').map((c) => (c.req as { segment_ids: number[] }).segment_ids)).toEqual([[101], [103]]);
  const after = fakes.qn(1).told.get(`${rec.replicas.get(1)![0]!.replicaID}/kite-dml-1#0`)!;
  expect(after.sealed.map((p) => [p.segment_id, p.node_id])).toEqual([[101, 2], [102, 1], [103, 2], [104, 1]]);
});

test('replicas get disjoint node sets; each replica holds every segment once and a delegator per channel on its own nodes', async () => {
  rec = await reconciler();
  const c = loadedCollection(1, 2, 2, 3);
  for (const id of [1, 2, 3, 4]) rec.nodeUp(fakes.queryNodeSession(id));
  await settle();
  const reps = rec.replicas.get(1)!;
  expect(reps.map((r) => r.replicaID)).toEqual([11, 12]);
  expect(replicasOf(c)).toEqual([[1, 3], [2, 4]]);
  const target = rec.targets.next(c).segments.map((s) => s.segmentID);
  for (const r of reps) {
    const members = r.nodes.map((id) => fakes.qn(id));
    const held = members.flatMap((n) => n.held(r.replicaID)).sort((a, b) => a - b);
    expect(held).toEqual(target);
    expect(members.flatMap((n) => n.delegating(r.replicaID)).sort()).toEqual(['kite-dml-1#0', 'kite-dml-1#1']);
    const others = [...fakes.queryNodes.values()].filter((n) => !r.nodes.includes(n.id));
    expect(others.flatMap((n) => [...n.held(r.replicaID), ...n.delegating(r.replicaID)])).toEqual([]);
  }
  expect(rec.leaders(c).map((r) => [r.replica_id, r.shards.map((s) => s.node_id).sort()])).toEqual([
    [11, [1, 3]],
    [12, [2, 4]],
  ]);
  expect(rec.loadInfo(c)).toMatchObject({ state: 'Loaded', progress: 100 });
});

test('graceful stop: a stopping node keeps serving while its work moves, gets no new work, and is released only after', async () => {
  rec = await reconciler({ loadTimeoutMs: 400 });
  const c = loadedCollection(1, 1, 1, 4);
  for (const id of [1, 2]) rec.nodeUp(fakes.queryNodeSession(id));
  await settle();
  expect(fakes.qn(1).held()).toEqual([101, 103]);
  expect(fakes.qn(2).held()).toEqual([102, 104]);
  const replica = rec.replicas.get(1)![0]!.replicaID;
  const channel = 'kite-dml-1#0';
  const delegatorNode = fakes.qn(1).delegating().length ? 1 : 2;
  expect(delegatorNode).toBe(1);

  // Node 1 announces it is stopping; node 2 cannot take segments yet (its loads hang, then time out).
  fakes.qn(2).modes.set('LoadSegments', 'hang');
  const callsBefore = fakes.qn(1).calls.length;
  rec.nodeUpdated(fakes.queryNodeSession(1, true));
  for (let i = 0; i < 6; i++) await pass();
  // Still a member; still holds and serves its segments: node 2's delegator routes them to node 1.
  expect(replicasOf(c)).toEqual([[1, 2]]);
  expect(fakes.qn(1).held()).toEqual([101, 103]);
  expect(fakes.qn(2).delegating()).toEqual([channel]);
  expect(fakes.qn(2).told.get(`${replica}/${channel}`)!.sealed.map((p) => [p.segment_id, p.node_id])).toEqual([[101, 1], [102, 2], [103, 1], [104, 2]]);
  expect(rec.leaders(c)[0]!.shards).toEqual([{ channel, node_id: 2, address: 'fake:2', serviceable: true }]);
  expect(fakes.qn(1).callsOf('ReleaseSegments')).toEqual([]);

  fakes.qn(2).modes.clear();
  const deadline = Date.now() + 10_000;
  while (fakes.qn(1).held().length > 0) {
    if (Date.now() > deadline) throw new Error(`node 1 still holds ${fakes.qn(1).held().join(',')}`);
    await pass();
    // Never fewer than every segment served somewhere in the replica.
    expect([...new Set([...fakes.qn(1).held(), ...fakes.qn(2).held()])].sort()).toEqual([101, 102, 103, 104]);
    await sleep(20);
  }
  await settle();
  expect(fakes.qn(2).held()).toEqual([101, 102, 103, 104]);
  expect(fakes.qn(1).delegating()).toEqual([]);
  // Node 1 got releases and unwatches only after it said it was stopping.
  expect([...new Set(fakes.qn(1).calls.slice(callsBefore).map((c) => c.method))].sort()).toEqual(['ReleaseSegments', 'UnwatchChannel']);
  // Both moves were planned once while node 2 hung, and once more after those loads timed out (loadTimeoutMs).
  const moved = planned.filter((t) => t.kind === 'load' && t.why === 'moving off a stopping node');
  expect(moved.every((t) => t.node === 2)).toBe(true);
  expect(moved.map((t) => (t as Extract<Task, { kind: 'load' }>).segment).sort()).toEqual([101, 101, 103, 103]);
});

test('a load whose RPC returns OK but never shows in a pull is not sent again until taskRetryMs has passed, then retried', async () => {
  rec = await reconciler({ taskRetryMs: 1500 });
  loadedCollection(1, 1, 1, 1);
  rec.nodeUp(fakes.queryNodeSession(1));
  fakes.qn(1).modes.set('LoadSegments', 'swallow');
  const t0 = Date.now();
  await pass();
  await pass();
  expect(fakes.qn(1).callsOf('LoadSegments')).toHaveLength(1);
  // Passes inside the retry time see the task waiting (returned, not done) and send nothing new.
  while (Date.now() - t0 < 1000) {
    await pass();
    await sleep(50);
  }
  expect(fakes.qn(1).callsOf('LoadSegments')).toHaveLength(1);
  expect(rec.scheduler.pending().map((p) => [p.key, p.state])).toEqual([['load/11/101', 'waiting']]);
  const deadline = Date.now() + 10_000;
  while (fakes.qn(1).callsOf('LoadSegments').length < 2) {
    if (Date.now() > deadline) throw new Error('the load was never retried');
    await pass();
    await sleep(50);
  }
  expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
  fakes.qn(1).modes.clear();
  await sleep(1600);
  await settle();
  expect(fakes.qn(1).held()).toEqual([101]);
  expect(fakes.qn(1).callsOf('LoadSegments')).toHaveLength(3);
});

test('a pass never hangs: a pull that hangs makes its node suspect, a hung meta store call fails the pass, and the next pass recovers', async () => {
  let hangPuts = false;
  const store = new Proxy(meta, {
    get: (target, prop, receiver) => {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'put') return (...a: unknown[]) => (hangPuts ? new Promise(() => undefined) : (v as (...x: unknown[]) => unknown).apply(target, a));
      return (v as (...x: unknown[]) => unknown).bind(target);
    },
  }) as MetaStore;
  rec = await reconciler({ pullTimeoutMs: 200, metaTimeoutMs: 300 }, store);
  const c = loadedCollection(1, 1, 1, 2);
  rec.nodeUp(fakes.queryNodeSession(1));
  rec.nodeUp(fakes.queryNodeSession(2));
  fakes.qn(2).GetDistribution = () => new Promise(() => undefined);
  hangPuts = true;
  const t0 = Date.now();
  await expect(rec.pass()).rejects.toThrow(/within 300 ms/);
  expect(Date.now() - t0).toBeLessThan(3000);
  expect(rec.dist.snapshot().nodes.get(2)!.state).toBe('suspect');
  hangPuts = false;
  await settle();
  expect(replicasOf(c)).toEqual([[1, 2]]);
  // Node 2 never answered: everything is on node 1.
  expect(fakes.qn(1).held()).toEqual([101, 102]);
  expect(rec.loadInfo(c).progress).toBe(100);
});
