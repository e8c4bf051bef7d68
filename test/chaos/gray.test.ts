/**
 * Gray failure: a query node that answers slowly instead of failing. Two query nodes, a collection loaded with two
 * replicas (one on each node), searches through the Node SDK at a moderate paced rate. A steady phase measures the
 * p99 of search latency; then one query node is stopped (SIGSTOP) for 300 ms of every second while the same load
 * runs. With hedged reads and outlier detection in the proxy (router.ts, hedge.ts), the p99 of the fault phase must
 * stay within 2x the steady p99, with no failed search, and the proxy must report hedges.
 *
 * Each phase runs for at least its duration and at least MIN_REQUESTS searches, so the p99 rests on the slowest
 * several requests rather than one. The figures print at the end (docs/failover.md, "Gray failures", quotes them);
 * KITE_PROXY_HEDGE_ENABLED=false KITE_PROXY_OUTLIER_ENABLED=false in the environment runs the same test on a
 * proxy without these defences, to see it fail the goal.
 */
import { ConsistencyLevelEnum, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { sleep } from '../harness/util';
import { ChaosCluster } from './chaos';
import { setupCollection, type Fixture } from './scenarios';

jest.setTimeout(300_000);

/** Searches per phase at least; the p99 is then the 4th-slowest of 400 or more. */
const MIN_REQUESTS = 400;
const STEADY_MS = 8_000;
const FAULT_MS = 15_000;
/** Concurrent search loops, each pacing itself to one search every PACE_MS (about 100 searches/s in all). */
const WORKERS = 4;
const PACE_MS = 40;
/** The goal: fault-phase p99 within this factor of the steady p99. */
const P99_FACTOR = 2;

let chaos: ChaosCluster;
let admin: MilvusClient;
let fx: Fixture;
const report: string[] = [];

beforeAll(async () => {
  chaos = await ChaosCluster.start({ querynodes: 2, datanodes: 1, proxies: 1 });
  admin = new MilvusClient({ address: `127.0.0.1:${chaos.info.proxy.grpc}`, timeout: 60_000, logLevel: 'error' });
  await admin.connectPromise;
  fx = await setupCollection(chaos, admin, 'chaos_gray', { rows: 3000, shards: 2, replicas: 2, seed: 303 });
}, 420_000);

afterAll(async () => {
  console.log(report.join('\n'));
  await admin?.closeConnection().catch(() => undefined);
  if (chaos) {
    for (const qn of chaos.components('querynode')) chaos.resume(qn);
    await chaos.dispose();
  }
}, 180_000);

interface Phase {
  latencies: number[];
  failed: number;
  errors: string[];
}

function p(latencies: number[], q: number): number {
  const s = [...latencies].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** Paced searches for known rows from WORKERS loops, for at least `ms` and MIN_REQUESTS searches. */
async function phase(client: MilvusClient, ms: number): Promise<Phase> {
  const out: Phase = { latencies: [], failed: 0, errors: [] };
  const until = Date.now() + ms;
  let i = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < until || out.latencies.length + out.failed < MIN_REQUESTS) {
      const row = fx.probes[i++ % fx.probes.length]!;
      const t0 = Date.now();
      try {
        const res = await client.search({
          collection_name: fx.name, data: [row.vector], anns_field: 'vector', limit: 5, params: { ef: 64 }, output_fields: ['id'],
          consistency_level: ConsistencyLevelEnum.Eventually,
        });
        const ms = Date.now() - t0;
        if (res.status.error_code !== 'Success') throw new Error(res.status.reason);
        if (!(res.results as { id: string }[]).some((h) => Number(h.id) === row.id)) throw new Error(`row ${row.id} not found by its vector`);
        out.latencies.push(ms);
      } catch (e) {
        out.failed++;
        if (out.errors.length < 5) out.errors.push((e as Error).message);
      }
      const left = PACE_MS - (Date.now() - t0);
      if (left > 0) await sleep(left);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  return out;
}

/** The proxy's counters of `name` summed by their `outcome` label. */
async function counterByOutcome(name: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${chaos.info.proxy.metrics}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}\\{[^}]*outcome="([^"]+)"[^}]*\\} (\\S+)$`).exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

async function proxyMetric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${chaos.info.proxy.metrics}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

const describePhase = (what: string, x: Phase): string =>
  `  ${what}: ${x.latencies.length} ok, ${x.failed} failed; p50 ${p(x.latencies, 0.5)} ms, p95 ${p(x.latencies, 0.95)} ms, p99 ${p(x.latencies, 0.99)} ms, max ${Math.max(...x.latencies)} ms`;

test('one query node stopped 300 ms of every second: search p99 within 2x steady, no failures, hedges counted', async () => {
  const client = new MilvusClient({ address: `127.0.0.1:${chaos.info.proxy.grpc}`, timeout: 10_000, maxRetries: 0, logLevel: 'error' });
  await client.connectPromise;
  try {
    // Warm-up: connections, caches, the proxy's latency windows.
    await phase(client, 2_000);
    const steady = await phase(client, STEADY_MS);
    const hedgesBefore = await counterByOutcome('kite_proxy_hedged_requests_total');
    const ejectionsBefore = await proxyMetric('kite_proxy_outlier_ejections_total');

    const victim = chaos.components('querynode')[0]!;
    let stopping = true;
    let cycles = 0;
    const pauser = (async () => {
      while (stopping) {
        const t0 = Date.now();
        chaos.pause(victim);
        await sleep(300);
        chaos.resume(victim);
        cycles++;
        await sleep(Math.max(0, 1000 - (Date.now() - t0)));
      }
    })();
    let fault: Phase;
    try {
      fault = await phase(client, FAULT_MS);
    } finally {
      stopping = false;
      await pauser;
      chaos.resume(victim);
    }
    const hedgesAfter = await counterByOutcome('kite_proxy_hedged_requests_total');
    const hedged = Object.fromEntries(Object.entries(hedgesAfter).map(([k, v]) => [k, v - (hedgesBefore[k] ?? 0)]));
    const hedgedTotal = (hedged.hedge_won ?? 0) + (hedged.primary_won ?? 0) + (hedged.failed ?? 0);
    const ejections = await proxyMetric('kite_proxy_outlier_ejections_total');

    const steadyP99 = p(steady.latencies, 0.99);
    const faultP99 = p(fault.latencies, 0.99);
    report.push(
      `gray failure (querynode-${victim.serverID} SIGSTOP 300 ms every 1 s, ${cycles} cycles; ${WORKERS} loops x 1 search / ${PACE_MS} ms)`,
      describePhase('steady', steady),
      describePhase('fault ', fault),
      `  fault p99 / steady p99 = ${(faultP99 / steadyP99).toFixed(2)} (goal <= ${P99_FACTOR}); hedges in the fault phase ${JSON.stringify(hedged)}; outlier ejections ${ejectionsBefore} before the fault, ${ejections - ejectionsBefore} during it`,
    );
    expect(steady.latencies.length).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(fault.latencies.length + fault.failed).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(cycles).toBeGreaterThanOrEqual(10);
    expect(steady.errors).toEqual([]);
    expect(fault.errors).toEqual([]);
    expect(fault.failed).toBe(0);
    expect(hedgedTotal).toBeGreaterThan(0);
    expect(faultP99).toBeLessThanOrEqual(P99_FACTOR * steadyP99);
  } finally {
    await client.closeConnection().catch(() => undefined);
  }
});
