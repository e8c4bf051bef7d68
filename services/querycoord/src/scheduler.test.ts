import { silentLogger } from '@kite/common';
import type { DistributionResponse } from '@kite/rpc';
import type { DistSnapshot, NodeStateName, NodeView } from './distribution';
import { Scheduler, type SchedulerOptions } from './scheduler';
import { effectOf, type Task } from './tasks';

/** A scheduler on a hand-driven clock whose RPCs resolve when the test says. */
function setup(opts: Partial<SchedulerOptions> = {}) {
  let clock = 1000;
  const runs: Task[] = [];
  const answers: (() => void)[] = [];
  const s = new Scheduler(
    { maxTasksPerNode: 16, retryMs: 10000, retentionMs: 600000, now: () => clock, ...opts },
    {
      run: (t) => {
        runs.push(t);
        return new Promise<void>((resolve) => answers.push(resolve));
      },
      effect: (t, snap) => effectOf(t, snap, () => false),
    },
    silentLogger,
  );
  let seq = 0;
  const snapshot = (nodes: Record<number, { segments?: [number, number][]; state?: NodeStateName }>): DistSnapshot => {
    const m = new Map<number, NodeView>();
    for (const [id, n] of Object.entries(nodes)) {
      const dist: DistributionResponse = {
        node_id: Number(id),
        channels: [],
        segments: (n.segments ?? []).map(([replica, seg]) => ({ collection_id: 1, segment_id: seg, replica_id: replica, num_rows: 10, channel: 'c#0' })),
        indexing_segments: [],
      };
      m.set(Number(id), { id: Number(id), role: 'querynode', address: `n${id}`, state: n.state ?? 'healthy', since: 0, stopping: false, failures: 0, dist });
    }
    return { seq: ++seq, startedAt: clock, nodes: m };
  };
  return {
    s,
    runs,
    /** Lets every RPC started so far return OK. */
    answerAll: async () => {
      for (const a of answers.splice(0)) a();
      await new Promise((r) => setImmediate(r));
    },
    advance: (ms: number) => (clock += ms),
    snapshot,
  };
}

const load = (node: number, segment: number, replica = 11): Task => ({ kind: 'load', node, collection: 1, replica, segment, rows: 10, why: 'test' });

test('a task with the key of a pending one is dropped: one (replica, segment) load at a time, whatever node a later pass picks', () => {
  const { s, runs } = setup();
  expect(s.submit([load(1, 100)])).toHaveLength(1);
  expect(s.submit([load(1, 100), load(2, 100)])).toHaveLength(0);
  // Another replica's copy of the same segment is a different task.
  expect(s.submit([load(2, 100, 12)])).toHaveLength(1);
  s.dispatch();
  s.dispatch();
  expect(runs.map((t) => [t.node, (t as Extract<Task, { kind: 'load' }>).replica])).toEqual([
    [1, 11],
    [2, 12],
  ]);
});

test('per-node cap: at most maxTasksPerNode loads in flight on a node, highest priority first; syncs and releases are not held back', async () => {
  const { s, runs, answerAll, advance, snapshot } = setup({ maxTasksPerNode: 2 });
  s.submit([load(1, 100), load(1, 101), load(1, 102), load(1, 103), load(2, 200)]);
  s.submit([{ kind: 'release', node: 1, collection: 1, replica: 11, segments: [999] }]);
  s.submit([{ kind: 'watch', node: 1, collection: 1, replica: 11, channel: 'c#0', from: 0, why: 'test' }]);
  s.dispatch();
  // The watch outranks loads; two capped tasks on node 1 (watch, load 100), the release beside them, one on node 2.
  expect(runs.map((t) => `${t.kind}@${t.node}${t.kind === 'load' ? `:${t.segment}` : ''}`)).toEqual(['watch@1', 'load@1:100', 'load@2:200', 'release@1']);
  // Returning is not enough to free a slot: the effect must show in a later snapshot.
  await answerAll();
  s.dispatch();
  expect(runs).toHaveLength(4);
  advance(10);
  s.observe(snapshot({ 1: { segments: [[11, 100]] }, 2: {} }));
  s.dispatch();
  expect(runs.map((t) => (t.kind === 'load' ? t.segment : t.kind))).toEqual(['watch', 100, 200, 'release', 101]);
  expect(s.pending().filter((p) => p.task.node === 1 && p.state !== 'queued' && p.task.kind !== 'release').map((p) => p.key).sort()).toEqual(['load/11/101', 'watch/11/c#0']);
  // The release took effect (segment 999 is not on node 1), so it is done.
  expect(s.has('release/11/1/999')).toBe(false);
});

test('a task is done only when a later snapshot shows it; one whose RPC returned OK but never shows is planned again after taskRetryMs', async () => {
  const { s, runs, answerAll, advance, snapshot } = setup({ retryMs: 10000 });
  s.submit([load(1, 100)]);
  s.dispatch();
  // A snapshot from before the task started shows nothing about it.
  advance(5);
  await answerAll();
  s.observe(snapshot({ 1: {} }));
  expect(s.pending().map((p) => [p.key, p.state])).toEqual([['load/11/100', 'waiting']]);
  // While it waits, the same load planned again is a duplicate.
  advance(9000);
  s.observe(snapshot({ 1: {} }));
  expect(s.submit([load(1, 100)])).toHaveLength(0);
  // Past the retry time with no effect: given up, so the next plan is accepted and sent again.
  advance(1001);
  s.observe(snapshot({ 1: {} }));
  expect(s.size).toBe(0);
  expect(s.submit([load(1, 100)])).toHaveLength(1);
  s.dispatch();
  expect(runs.filter((t) => t.kind === 'load')).toHaveLength(2);
  await answerAll();
  advance(5);
  s.observe(snapshot({ 1: { segments: [[11, 100]] } }));
  expect(s.size).toBe(0);
  expect(s.submit([load(1, 100)])).toHaveLength(1); // the key is free again (the checkers would not plan it)
});

test('tasks to a node that is gone or suspect are dropped, running ones too; other nodes keep theirs', async () => {
  const { s, advance, snapshot, answerAll } = setup({ maxTasksPerNode: 1 });
  s.submit([load(1, 100), load(1, 101), load(2, 200)]);
  s.dispatch();
  advance(5);
  s.observe(snapshot({ 1: { state: 'gone' }, 2: {} }));
  expect(s.pending().map((p) => p.key)).toEqual(['load/11/200']);
  // The dropped RPC returning later changes nothing.
  await answerAll();
  expect(s.pending().map((p) => [p.key, p.state])).toEqual([['load/11/200', 'waiting']]);
  advance(5);
  s.observe(snapshot({ 2: { state: 'suspect' } }));
  expect(s.size).toBe(0);
});

test('a sync with other content replaces the pending one for the same delegator', () => {
  const { s, runs } = setup();
  const sync = (watermark: number): Task => ({ kind: 'sync', node: 1, req: { collection_id: 1, channel: 'c#0', replica_id: 11, sealed: [], watermark } });
  s.submit([sync(10)]);
  s.dispatch();
  expect(s.submit([sync(10)])).toHaveLength(0);
  expect(s.submit([sync(20)])).toHaveLength(1);
  s.dispatch();
  expect(runs.map((t) => (t.kind === 'sync' ? t.req.watermark : -1))).toEqual([10, 20]);
  expect(s.pending()).toHaveLength(1);
});
