import { ConfigSchema, KiteError, silentLogger, type KiteConfig } from '@kite/common';
import type { MetaStore } from '@kite/metastore';
import { registry } from '@kite/observe';
import type { Client, QueryNodeApi } from '@kite/rpc';
import type { CollectionMeta } from '@kite/segment';
import type { Coordinator } from './coordinator';
import { Router, type Leader } from './router';

/**
 * The router's hedging over fake query nodes: each node answers a call after its `delayMs` (or never, -1), or
 * fails with `fail`; calls record whether they were cancelled.
 */
interface FakeNode {
  delayMs: number;
  fail?: KiteError;
  calls: number;
  cancelled: number;
}

const coll = { collectionID: 7, name: 'c' } as unknown as CollectionMeta;
const leader = (address: string, replica: number): Leader => ({ channel: 'ch0', node_id: replica, address, serviceable: true, replica_id: replica });

function router(proxy: Partial<KiteConfig['proxy']>, nodes: Record<string, FakeNode>): Router {
  const cfg = ConfigSchema.parse({ proxy }) as KiteConfig;
  const r = new Router(cfg, {} as MetaStore, {} as Coordinator, silentLogger);
  const internals = r as unknown as { leaders: Map<number, Leader[][]>; node: (a: string) => unknown };
  internals.leaders.set(7, Object.keys(nodes).map((a, i) => [leader(a, i + 1)]));
  internals.node = (address: string) => ({ address, Search: (_req: unknown, o: { signal?: AbortSignal }) => call(nodes[address]!, o.signal) });
  return r;
}

function call(n: FakeNode, signal: AbortSignal | undefined): Promise<string> {
  n.calls++;
  return new Promise((resolve, reject) => {
    signal?.addEventListener('abort', () => {
      n.cancelled++;
      reject(new KiteError('NodeOffline', 'cancelled'));
    });
    if (n.fail) return reject(n.fail);
    if (n.delayMs >= 0) setTimeout(() => resolve(`answer after ${n.delayMs}`), n.delayMs);
  });
}

const search = (r: Router, deadline = Date.now() + 5000): Promise<unknown> =>
  r.onChannel(coll, 'ch0', deadline, (n: Client<QueryNodeApi>) => (n as unknown as { Search: (r: unknown, o: unknown) => Promise<unknown> }).Search({}, { timeoutMs: 1000 }));

async function hedgeCount(outcome: string): Promise<number> {
  const m = await registry.getSingleMetricAsString('kite_proxy_hedged_requests_total');
  const line = m.split('\n').find((l) => l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The next read goes to node `a` (the first replica) first: the round-robin counter is even. */
function aFirst(r: Router): void {
  (r as unknown as { rr: number }).rr = 0;
}

describe('hedged reads', () => {
  test('a call that has not answered after the hedge delay goes to the other replica; the first answer wins and the slow call is cancelled', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: 0, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    const r = router({ hedgeMinDelayMs: 20, hedgeMaxDelayMs: 50, outlierEnabled: false }, nodes);
    const won = await hedgeCount('hedge_won');
    // a never answers; a read that starts on a is hedged to b after the delay (the cap, 50 ms: no samples yet).
    aFirst(r);
    nodes.a!.delayMs = -1;
    const t0 = Date.now();
    await expect(search(r)).resolves.toBe('answer after 0');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(nodes.a!.cancelled).toBe(1);
    expect(await hedgeCount('hedge_won')).toBe(won + 1);
    await r.close();
  });

  test('the call that answered is not aborted afterwards (only calls still running are cancelled)', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: 0, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    const r = router({ outlierEnabled: false }, nodes);
    const signals: AbortSignal[] = [];
    const internals = r as unknown as { node: (a: string) => unknown };
    internals.node = (address: string) => ({
      address,
      Search: (_req: unknown, o: { signal?: AbortSignal }) => (signals.push(o.signal!), call(nodes[address]!, o.signal)),
    });
    for (let i = 0; i < 5; i++) await expect(search(r)).resolves.toBe('answer after 0');
    expect(signals).toHaveLength(5);
    expect(signals.filter((s) => s.aborted)).toHaveLength(0);
    expect(nodes.a!.cancelled + nodes.b!.cancelled).toBe(0);
    await r.close();
  });

  test('with hedging off the read waits for the slow replica', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: 0, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    const r = router({ hedgeEnabled: false, outlierEnabled: false }, nodes);
    aFirst(r);
    nodes.a!.delayMs = 300;
    const t0 = Date.now();
    await expect(search(r)).resolves.toBe('answer after 300');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(nodes.b!.calls).toBe(0);
    await r.close();
  });

  test('no hedge when the delay would pass the deadline; an error that is not retriable ends the read at once', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: 0, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    const r = router({ hedgeMinDelayMs: 200, hedgeMaxDelayMs: 200, outlierEnabled: false }, nodes);
    aFirst(r);
    nodes.a!.delayMs = 150;
    const bCalls = nodes.b!.calls;
    await expect(search(r, Date.now() + 180)).resolves.toBe('answer after 150');
    expect(nodes.b!.calls).toBe(bCalls);
    nodes.a!.fail = new KiteError('ExpressionInvalid', 'bad filter');
    nodes.b!.fail = new KiteError('ExpressionInvalid', 'bad filter');
    await expect(search(r)).rejects.toThrow('bad filter');
    await r.close();
  });

  // A proxy cut off from one replica's node: its calls hang. With the hedge budget spent, a call used to wait for
  // its deadline (one refusal ended its hedging); now the hedge is asked again after each delay, and goes without
  // budget once the node is out of routing.
  test('a hedge the budget refused is asked again; away from a node ejected meanwhile it needs no budget', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: -1, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    // No hold after the first hedge wins (outlierHoldMs), so the second read goes to a first again.
    const r = router({ hedgeMinDelayMs: 20, hedgeMaxDelayMs: 30, outlierHoldMs: 0 }, nodes);
    const internals = r as unknown as { budget: { tokens: number }; outliers: { state: (n: string) => { ejectedUntil: number } } };
    const hung = (ms: number): Promise<string> => new Promise((resolve) => setTimeout(() => resolve('still waiting'), ms));
    const refused = await hedgeCount('budget_exhausted');
    // Budget spent; tokens come back after 150 ms.
    internals.budget.tokens = 0;
    aFirst(r);
    const first = search(r);
    setTimeout(() => (internals.budget.tokens = 100), 150);
    await expect(Promise.race([first, hung(1500)])).resolves.toBe('answer after 0');
    expect(await hedgeCount('budget_exhausted')).toBe(refused + 1);
    // Budget spent for good; the node is ejected after 150 ms: the hedge goes anyway.
    internals.budget.tokens = 0;
    aFirst(r);
    const second = search(r);
    setTimeout(() => (internals.outliers.state('a').ejectedUntil = Date.now() + 60_000), 150);
    await expect(Promise.race([second, hung(1500)])).resolves.toBe('answer after 0');
    expect(nodes.a!.cancelled).toBe(2);
    await r.close();
  });

  // The other replica failed once (its delegator moving, say) and the last candidate left was the unresponsive
  // node: the read used to wait its whole deadline on it (1 of 145 searches failed at 10 s in the partition test).
  test('a call to a node ejected as unresponsive gets one outlier window, then the round ends and the others are tried again', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: -1, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    const r = router({ hedgeMinDelayMs: 20, hedgeMaxDelayMs: 30, outlierWindowMs: 200, retryInitialDelayMs: 10, breakerVolumeThreshold: 1000 }, nodes);
    const internals = r as unknown as { outliers: { state: (n: string) => { ejectedUntil: number; reason: string } }; shardLeaders: () => Promise<Leader[][]> };
    // A refresh of the leaders finds the same ones.
    internals.shardLeaders = () => Promise.resolve([[leader('a', 1)], [leader('b', 2)]]);
    const st = internals.outliers.state('a');
    st.ejectedUntil = Date.now() + 60_000;
    st.reason = 'unresponsive';
    nodes.b!.fail = new KiteError('ChannelNotAvailable', 'delegator moving');
    setTimeout(() => delete nodes.b!.fail, 50);
    const hung = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 2000));
    const t0 = Date.now();
    await expect(Promise.race([search(r), hung])).resolves.toBe('answer after 0');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(nodes.a!.calls).toBeGreaterThanOrEqual(1);
    // Back in routing after its back-off but silent still: on probation, the same bound.
    st.ejectedUntil = Date.now() - 1;
    nodes.b!.fail = new KiteError('ChannelNotAvailable', 'delegator moving');
    setTimeout(() => delete nodes.b!.fail, 50);
    const t1 = Date.now();
    await expect(Promise.race([search(r), new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 2000))])).resolves.toBe('answer after 0');
    expect(Date.now() - t1).toBeGreaterThanOrEqual(190);
  });

  test('a node whose call a hedge beat gets no new reads for outlierHoldMs, then gets them again', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: 0, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    const r = router({ hedgeMinDelayMs: 20, hedgeMaxDelayMs: 20, outlierHoldMs: 300 }, nodes);
    // a stalls: the first read to it is hedged to b after 20 ms...
    nodes.a!.delayMs = -1;
    aFirst(r);
    await expect(search(r)).resolves.toBe('answer after 0');
    expect(nodes.a!.calls).toBe(1);
    // ...and the next reads, also those whose turn it is to start on a, go to b alone (no hedge delay to wait).
    const won = await hedgeCount('hedge_won');
    for (let i = 0; i < 4; i++) await expect(search(r)).resolves.toBe('answer after 0');
    expect(nodes.a!.calls).toBe(1);
    expect(await hedgeCount('hedge_won')).toBe(won);
    // After the hold a gets reads again (it answers again by then).
    nodes.a!.delayMs = 0;
    await new Promise((res) => setTimeout(res, 320));
    aFirst(r);
    await search(r);
    expect(nodes.a!.calls).toBe(2);
    await r.close();
  });

  test('proxy.hedgeBudgetBurst hedges are sent at once; then reads wait for the budget (hedgeBudgetPercent of reads)', async () => {
    const nodes: Record<string, FakeNode> = { a: { delayMs: 100, calls: 0, cancelled: 0 }, b: { delayMs: 0, calls: 0, cancelled: 0 } };
    const r = router({ hedgeMinDelayMs: 20, hedgeMaxDelayMs: 20, hedgeBudgetPercent: 0, hedgeBudgetBurst: 2, outlierEnabled: false }, nodes);
    const exhausted = await hedgeCount('budget_exhausted');
    const answers: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      aFirst(r);
      answers.push(await search(r));
    }
    expect(answers).toEqual(['answer after 0', 'answer after 0', 'answer after 100']);
    expect(await hedgeCount('budget_exhausted')).toBe(exhausted + 1);
    await r.close();
  });
});
