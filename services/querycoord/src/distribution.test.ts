import { silentLogger } from '@kite/common';
import { DistributionManager } from './distribution';
import { FakeCluster } from './testing/fakes';

test('node states: joining, healthy, suspect on a failed or hung pull, healthy again, stopping, gone; each with the time it changed', async () => {
  let clock = 1000;
  const fakes = new FakeCluster();
  const dm = new DistributionManager(fakes, { pullTimeoutMs: 100, now: () => clock }, silentLogger);
  const s1 = fakes.queryNodeSession(1);
  expect(dm.join(s1)).toBe(true);
  expect(dm.join(s1)).toBe(false);
  expect(dm.join({ ...s1, serverID: 9, role: 'proxy' })).toBe(false);
  expect(dm.members('querynode')).toEqual([{ id: 1, state: 'joining', stopping: false }]);

  clock = 2000;
  let snap = await dm.pull();
  expect(snap.nodes.get(1)).toMatchObject({ state: 'healthy', since: 2000, failures: 0 });
  const first = snap;
  fakes.qn(1).segments.push({ collection_id: 1, segment_id: 5, replica_id: 11, num_rows: 3, channel: 'c#0' });

  clock = 3000;
  fakes.qn(1).GetDistribution = () => new Promise(() => undefined);
  snap = await dm.pull();
  expect(snap.nodes.get(1)).toMatchObject({ state: 'suspect', since: 3000, failures: 1 });
  // Snapshots are read-only and not changed by later pulls.
  expect(first.nodes.get(1)!.state).toBe('healthy');
  expect(Object.isFrozen(snap.nodes.get(1))).toBe(true);

  clock = 4000;
  delete (fakes.qn(1) as { GetDistribution?: unknown }).GetDistribution;
  snap = await dm.pull();
  expect(snap.nodes.get(1)).toMatchObject({ state: 'healthy', since: 4000, failures: 0 });
  expect(snap.nodes.get(1)!.dist!.segments.map((s) => s.segment_id)).toEqual([5]);
  expect(snap.seq).toBe(first.seq + 2);

  clock = 5000;
  dm.update({ ...s1, stopping: true });
  snap = await dm.pull(() => ({ ...s1, stopping: true }));
  expect(snap.nodes.get(1)).toMatchObject({ state: 'stopping', since: 5000, stopping: true });

  clock = 6000;
  expect(dm.leave(s1)).toBe(true);
  expect(dm.queryNode(1)).toBeUndefined();
  // Shown gone at once, before the next pull.
  expect(dm.snapshot().nodes.get(1)).toMatchObject({ state: 'gone', since: 6000 });
  snap = await dm.pull();
  expect(snap.nodes.has(1)).toBe(false);
  // It may come back.
  expect(dm.join(s1)).toBe(true);
});

// A query node nobody can reach (a network partition) but whose session lives: every pull of it hangs until the
// pull timeout. Each reconcile pass used to wait that long for it, so the whole cluster's reconciliation (moving
// its work elsewhere included) ran one pass per pullTimeoutMs instead of per checkIntervalMs.
test('a suspect node holds one pass for the pull timeout, not every pass; once it answers again it is pulled as usual', async () => {
  const fakes = new FakeCluster();
  let answered = 0;
  const dm = new DistributionManager(fakes, { pullTimeoutMs: 400, suspectWaitMs: 20, onSuspectAnswered: () => answered++ }, silentLogger);
  dm.join(fakes.queryNodeSession(1));
  dm.join(fakes.queryNodeSession(2));
  await dm.pull();
  let release: (() => void) | undefined;
  fakes.qn(2).GetDistribution = () => new Promise((resolve) => (release = () => resolve({ status: { code: 0, error_code: 'Success', reason: '' }, node_id: 2, channels: [], segments: [], indexing_segments: [] } as never)));
  let t0 = Date.now();
  let snap = await dm.pull();
  expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
  expect(snap.nodes.get(2)).toMatchObject({ state: 'suspect', failures: 1 });
  // Later passes wait 20 ms for it, or not at all while its pull is still out.
  for (let i = 0; i < 3; i++) {
    t0 = Date.now();
    snap = await dm.pull();
    expect(Date.now() - t0).toBeLessThan(200);
    expect(snap.nodes.get(1)!.state).toBe('healthy');
    expect(snap.nodes.get(2)!.state).toBe('suspect');
  }
  // The pull still out answers: the next pass pulls it and it is healthy.
  release!();
  await new Promise((r) => setTimeout(r, 10));
  expect(answered).toBe(1);
  delete (fakes.qn(2) as { GetDistribution?: unknown }).GetDistribution;
  snap = await dm.pull();
  expect(snap.nodes.get(2)).toMatchObject({ state: 'healthy', failures: 0 });
});
