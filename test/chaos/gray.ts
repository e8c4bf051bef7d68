/**
 * The gray-failure measurement (test/chaos/gray.test.ts asserts on it, test/bench/gray-bench.ts prints it): one
 * cluster, 2 query nodes, a collection loaded with 2 replicas (one on each node), and two proxies in front of it:
 * the cluster's own with the default configuration ("on": hedged reads and outlier detection) and a second one
 * started with both off (KITE_PROXY_HEDGE_ENABLED=false, KITE_PROXY_OUTLIER_ENABLED=false). The same load goes to
 * both proxies at the same time, so both meet the same machine load and the very same stalls:
 *
 *   warm-up → (steady block → fault block) x rounds → after
 *
 * A steady block has no fault; in a fault block one query node is SIGSTOPped for `stallMs` of every second (each
 * stall cycle ends with the rest of its second clean, so a stall does not reach into the next steady block). The
 * blocks alternate so that the steady and the fault phase (their blocks pooled) meet the same drift of the load of
 * a shared machine; measured back to back, a burst of other work during one phase decides the ratio.
 *
 * The load is open-loop: each proxy gets one search every `intervalMs` on a fixed schedule (the two schedules half
 * an interval apart), whether or not earlier searches have answered (up to `maxOutstanding` in flight), and each
 * latency runs from that search's own send. A closed loop (N clients, each waiting for its answer) would send fewer
 * searches while a node stalls, so fewer searches would meet the stall and the p99 would hide it.
 *
 * The ratio of a proxy is its fault-phase p99 over the steady-phase p99 of both proxies together (nearest rank):
 * without a fault the two proxies do the same (hedges are rare and ejections rarer), so the steady searches of both
 * are one sample of the cluster's steady latency, twice as large as either alone, and both ratios share it. The
 * after phase is printed to show the return of the stalled node to routing; it is not part of the ratio (the on
 * proxy may still have the node out of routing then).
 */
import os from 'node:os';
import { ConsistencyLevelEnum, MilvusClient } from '@zilliz/milvus2-sdk-node';
import { sleep } from '../harness/util';
import { ChaosCluster, type ComponentEntry } from './chaos';
import { setupCollection, type Fixture } from './scenarios';

export interface GrayOptions {
  /** Searches per proxy in the steady and in the fault phase, sent in `rounds` blocks of each. */
  requests: number;
  /** Steady and fault blocks alternate this many times (steady first), so that both phases meet the same drift of the machine load. */
  rounds: number;
  /** Searches per proxy in the after phase. */
  afterRequests: number;
  /** One search per proxy every this many ms. */
  intervalMs: number;
  maxOutstanding: number;
  /** The query node is stopped this long in every second of the fault phase. */
  stallMs: number;
  warmupMs: number;
  /** Client deadline of a search (no SDK retries). */
  timeoutMs: number;
  /** How long the stalled node may stay out of the on proxy's routing after the fault before that is reported. */
  returnTimeoutMs: number;
  /** Extra environment of every component (e.g. KITE_PROXY_* keys to try other settings on the on proxy). */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

export const GRAY_DEFAULTS: GrayOptions = {
  requests: 1200,
  rounds: 6,
  afterRequests: 600,
  intervalMs: 40,
  maxOutstanding: 64,
  stallMs: 300,
  warmupMs: 10_000,
  timeoutMs: 10_000,
  returnTimeoutMs: 120_000,
};

export interface PhaseStats {
  /** Latencies (ms) of the searches that answered correctly. */
  latencies: number[];
  failed: number;
  /** Searches not sent because maxOutstanding were in flight. */
  skipped: number;
  errors: string[];
  ms: number;
  /** 1-minute load average of the machine at the end of each block of the phase. */
  loads: number[];
}

export interface ProxyRun {
  label: 'on' | 'off';
  address: string;
  metricsPort: number;
  steady: PhaseStats;
  fault: PhaseStats;
  after: PhaseStats;
  /** Hedge outcomes counted by the proxy during the fault phase (hedge_won, primary_won, failed, budget_exhausted). */
  hedges: Record<string, number>;
  /** The same during the steady phase. */
  steadyHedges: Record<string, number>;
  /** Outlier ejections by the proxy during the steady and the fault phase. */
  steadyEjections: number;
  faultEjections: number;
  /** Times a node was held back from new reads after losing a hedge race (proxy.outlierHoldMs), per phase. */
  steadyHolds: number;
  faultHolds: number;
  /** The steady-phase p99 of both proxies together, the reference of the ratios. */
  steadyP99: number;
  /** Per round: the p99 of its fault block over the p99 of the round's steady block of both proxies together. */
  roundRatios: number[];
}

export interface GrayResult {
  victim: ComponentEntry;
  cycles: number;
  on: ProxyRun;
  off: ProxyRun;
  /** Seconds from the end of the fault until the on proxy had no query node out of routing (undefined: not in time). */
  returnedAfterS?: number;
  options: GrayOptions;
  /** Seconds for `cluster up`, and for the second proxy, the collection (insert, flush, index, load) and clients. */
  clusterUpS: number;
  setupS: number;
}

/** Nearest-rank quantile. */
export function quantile(latencies: number[], q: number): number {
  if (!latencies.length) return NaN;
  const s = [...latencies].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export const p99 = (x: PhaseStats): number => quantile(x.latencies, 0.99);
export const p50 = (x: PhaseStats): number => quantile(x.latencies, 0.5);
export const ratio = (r: ProxyRun): number => p99(r.fault) / r.steadyP99;

/**
 * The median of a proxy's per-round ratios. The pooled p99 of a phase is decided by its slowest 1%: on a shared
 * machine a burst of other work of a few seconds in any block can put hundreds of ms there in both phases and hide
 * the fault (or the lack of defence). Each round's steady and fault blocks are seconds apart, so their ratio
 * compares like with like, and the median over the rounds is not moved by a burst in one or two of them.
 */
export function roundRatio(r: ProxyRun): number {
  const s = [...r.roundRatios].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function metricsText(port: number): Promise<string> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 5000);
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: ac.signal })).text();
  } finally {
    clearTimeout(t);
  }
}

/** Samples of metric `name` (summed over their labels), grouped by the value of `label` ('' groups all). */
export async function metricBy(port: number, name: string, label = ''): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await metricsText(port)).split('\n')) {
    if (!(line.startsWith(`${name}{`) || line.startsWith(`${name} `))) continue;
    const key = label ? (new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '') : '';
    out[key] = (out[key] ?? 0) + Number(line.split(' ').pop());
  }
  return out;
}

const total = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.keys({ ...a, ...b }).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));

const add = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.keys({ ...a, ...b }).map((k) => [k, (a[k] ?? 0) + (b[k] ?? 0)]));

const emptyPhase = (): PhaseStats => ({ latencies: [], failed: 0, skipped: 0, errors: [], ms: 0, loads: [] });

/** Adds the searches of one block to its phase. */
function merge(into: PhaseStats, x: PhaseStats): void {
  into.latencies.push(...x.latencies);
  into.failed += x.failed;
  into.skipped += x.skipped;
  into.errors.push(...x.errors.slice(0, Math.max(0, 5 - into.errors.length)));
  into.ms += x.ms;
  into.loads.push(...x.loads);
}

interface Target {
  label: 'on' | 'off';
  client: MilvusClient;
  address: string;
  metricsPort: number;
}

/**
 * Open-loop searches for known rows through `t`: one every intervalMs from `offsetMs` on, until at least `n` were
 * sent and `minMs` passed; resolves when every sent search has ended.
 */
async function openLoop(t: Target, fx: Fixture, o: GrayOptions, n: number, minMs: number, offsetMs: number): Promise<PhaseStats> {
  const out = emptyPhase();
  const t0 = Date.now();
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let next = t0 + offsetMs;
  const one = async (i: number): Promise<void> => {
    const row = fx.probes[i % fx.probes.length]!;
    const s0 = performance.now();
    try {
      const res = await t.client.search({
        collection_name: fx.name, data: [row.vector], anns_field: 'vector', limit: 5, params: { ef: 64 }, output_fields: ['id'],
        consistency_level: ConsistencyLevelEnum.Eventually,
      });
      const ms = performance.now() - s0;
      if (res.status.error_code !== 'Success') throw new Error(res.status.reason);
      if (!(res.results as { id: string }[]).some((h) => Number(h.id) === row.id)) throw new Error(`row ${row.id} not found by its vector`);
      out.latencies.push(ms);
    } catch (e) {
      out.failed++;
      if (out.errors.length < 5) out.errors.push(`${t.label}: ${(e as Error).message}`);
    }
  };
  while (sent < n || Date.now() - t0 < minMs) {
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    // A late timer does not send a burst to catch up: the schedule moves on from now.
    next = Math.max(next + o.intervalMs, Date.now());
    if (pending.size >= o.maxOutstanding) {
      out.skipped++;
      continue;
    }
    const p = one(sent++).finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  out.ms = Date.now() - t0;
  out.loads.push(os.loadavg()[0]!);
  return out;
}

/** One phase through both proxies at once; the off proxy's schedule is half an interval after the on proxy's. */
async function both(targets: Target[], fx: Fixture, o: GrayOptions, n: number, minMs = 0): Promise<PhaseStats[]> {
  return Promise.all(targets.map((t, i) => openLoop(t, fx, o, n, minMs, (i * o.intervalMs) / 2)));
}

export class GrayBench {
  private admin: MilvusClient | undefined;
  private clients: MilvusClient[] = [];
  private paused: ComponentEntry | undefined;

  private constructor(
    readonly chaos: ChaosCluster,
    private readonly o: GrayOptions,
    private readonly clusterUpS: number,
  ) {}

  /** Starts the cluster (2 query nodes, 1 data node, the on proxy), the off proxy, and loads the collection. */
  static async start(options: Partial<GrayOptions> = {}): Promise<GrayBench> {
    const o = { ...GRAY_DEFAULTS, ...options };
    const t0 = Date.now();
    const chaos = await ChaosCluster.start({ querynodes: 2, datanodes: 1, proxies: 1, env: o.env });
    return new GrayBench(chaos, o, (Date.now() - t0) / 1000);
  }

  private log(line: string): void {
    this.o.log?.(`[gray] ${new Date().toISOString()} ${line}`);
  }

  async run(): Promise<GrayResult> {
    const o = this.o;
    const chaos = this.chaos;
    const setup0 = Date.now();
    const onProxy = chaos.components('proxy')[0]!;
    const offProxy = await chaos.addComponent('proxy', 'ready', 120_000, undefined, { KITE_PROXY_HEDGE_ENABLED: 'false', KITE_PROXY_OUTLIER_ENABLED: 'false' });
    this.admin = new MilvusClient({ address: chaos.address(onProxy), timeout: 60_000, logLevel: 'error' });
    await this.admin.connectPromise;
    const fx = await setupCollection(chaos, this.admin, 'chaos_gray', { rows: 3000, shards: 2, replicas: 2, seed: 303 });
    const targets: Target[] = [];
    for (const [label, p] of [['on', onProxy], ['off', offProxy]] as const) {
      const client = new MilvusClient({ address: chaos.address(p), timeout: o.timeoutMs, maxRetries: 0, logLevel: 'error' });
      this.clients.push(client);
      await client.connectPromise;
      targets.push({ label, client, address: chaos.address(p), metricsPort: p.metrics });
    }
    const setupS = (Date.now() - setup0) / 1000;
    const [on, off] = targets as [Target, Target];
    const hedgeCounts = (t: Target): Promise<Record<string, number>> => metricBy(t.metricsPort, 'kite_proxy_hedged_requests_total', 'outcome');
    const ejectionCount = async (t: Target): Promise<number> => total(await metricBy(t.metricsPort, 'kite_proxy_outlier_ejections_total'));
    const holdCount = async (t: Target): Promise<number> => total(await metricBy(t.metricsPort, 'kite_proxy_outlier_holds_total'));

    this.log(`warm-up ${o.warmupMs} ms through both proxies`);
    await both(targets, fx, o, 0, o.warmupMs);

    const victim = chaos.components('querynode')[0]!;
    const blockN = Math.ceil(o.requests / o.rounds);
    const phases = { steady: targets.map(emptyPhase), fault: targets.map(emptyPhase) };
    const hedgesIn = { steady: targets.map(() => ({}) as Record<string, number>), fault: targets.map(() => ({}) as Record<string, number>) };
    const ejectionsIn = { steady: targets.map(() => 0), fault: targets.map(() => 0) };
    const holdsIn = { steady: targets.map(() => 0), fault: targets.map(() => 0) };
    const roundRatios: number[][] = targets.map(() => []);
    let steadyBlockP99 = NaN;
    let cycles = 0;
    for (let round = 1; round <= o.rounds; round++) {
      for (const kind of ['steady', 'fault'] as const) {
        const h0 = await Promise.all(targets.map(hedgeCounts));
        const e0 = await Promise.all(targets.map(ejectionCount));
        const o0 = await Promise.all(targets.map(holdCount));
        this.log(`round ${round}/${o.rounds} ${kind}: ${blockN} searches per proxy${kind === 'fault' ? `; querynode-${victim.serverID} (pid ${victim.pid}) stopped ${o.stallMs} ms of every second` : ''}`);
        let block: PhaseStats[];
        if (kind === 'steady') block = await both(targets, fx, o, blockN);
        else {
          let stalling = true;
          const staller = (async () => {
            while (stalling) {
              const c0 = Date.now();
              this.paused = victim;
              chaos.pause(victim);
              await sleep(o.stallMs);
              chaos.resume(victim);
              this.paused = undefined;
              cycles++;
              // The rest of the second runs clean, so the next block starts at least that long after a stall.
              await sleep(Math.max(0, 1000 - (Date.now() - c0)));
            }
          })();
          try {
            block = await both(targets, fx, o, blockN);
          } finally {
            stalling = false;
            await staller;
            chaos.resume(victim);
          }
        }
        const h1 = await Promise.all(targets.map(hedgeCounts));
        const e1 = await Promise.all(targets.map(ejectionCount));
        const o1 = await Promise.all(targets.map(holdCount));
        const q = (x: PhaseStats, v: number): string => quantile(x.latencies, v).toFixed(0);
        this.log(`round ${round}/${o.rounds} ${kind} done: ${targets.map((t, i) => `${t.label} p50 ${q(block[i]!, 0.5)} p99 ${q(block[i]!, 0.99)} ms`).join(', ')}; load ${os.loadavg()[0]!.toFixed(1)}`);
        if (kind === 'steady') steadyBlockP99 = quantile(block.flatMap((x) => x.latencies), 0.99);
        targets.forEach((_, i) => {
          if (kind === 'fault') roundRatios[i]!.push(p99(block[i]!) / steadyBlockP99);
          merge(phases[kind][i]!, block[i]!);
          hedgesIn[kind][i] = add(hedgesIn[kind][i]!, diff(h0[i]!, h1[i]!));
          ejectionsIn[kind][i]! += e1[i]! - e0[i]!;
          holdsIn[kind][i]! += o1[i]! - o0[i]!;
        });
      }
    }
    const faultEnd = Date.now();

    this.log(`after: ${o.afterRequests} searches per proxy`);
    let returnedAt: number | undefined;
    let watching = true;
    const watcher = (async () => {
      while (watching && Date.now() - faultEnd < o.returnTimeoutMs) {
        const ejected = total(await metricBy(on.metricsPort, 'kite_proxy_node_ejected').catch(() => ({ x: 1 })));
        if (ejected === 0) {
          returnedAt = Date.now();
          return;
        }
        await sleep(100);
      }
    })();
    const after = await both(targets, fx, o, o.afterRequests);
    // The gauge turns 0 when the next read after the back-off routes; keep a light load until then.
    while (returnedAt === undefined && Date.now() - faultEnd < o.returnTimeoutMs) await both([on], fx, { ...o, intervalMs: 100 }, 10);
    watching = false;
    await watcher;

    const proxyRun = (t: Target, i: number): ProxyRun => ({
      label: t.label, address: t.address, metricsPort: t.metricsPort,
      steady: phases.steady[i]!, fault: phases.fault[i]!, after: after[i]!,
      steadyHedges: hedgesIn.steady[i]!, hedges: hedgesIn.fault[i]!,
      steadyEjections: ejectionsIn.steady[i]!, faultEjections: ejectionsIn.fault[i]!,
      steadyHolds: holdsIn.steady[i]!, faultHolds: holdsIn.fault[i]!,
      roundRatios: roundRatios[i]!,
      steadyP99: quantile([...phases.steady[0]!.latencies, ...phases.steady[1]!.latencies], 0.99),
    });
    return {
      victim, cycles, on: proxyRun(on, 0), off: proxyRun(off, 1), options: o, clusterUpS: this.clusterUpS, setupS,
      returnedAfterS: returnedAt === undefined ? undefined : (returnedAt - faultEnd) / 1000,
    };
  }

  async dispose(): Promise<void> {
    if (this.paused) this.chaos.resume(this.paused);
    for (const qn of this.chaos.components('querynode')) this.chaos.resume(qn);
    for (const c of [...this.clients, this.admin]) await c?.closeConnection().catch(() => undefined);
    await this.chaos.dispose();
  }
}

const loadRange = (x: PhaseStats): string => {
  const lo = Math.min(...x.loads);
  const hi = Math.max(...x.loads);
  return lo.toFixed(1) === hi.toFixed(1) ? lo.toFixed(1) : `${lo.toFixed(1)}-${hi.toFixed(1)}`;
};
const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');

/** The result as a Markdown table, one row per phase and proxy, and a line of notes. */
export function grayTable(r: GrayResult): string {
  const rows: string[][] = [['phase', 'proxy', 'searches', 'failed', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'p99 / steady p99 (both)', 'goal <= 2', 'hedges won / sent', 'ejections / holds', 'load avg']];
  const hedgeCell = (h: Record<string, number>): string => `${h.hedge_won ?? 0} / ${(h.hedge_won ?? 0) + (h.primary_won ?? 0) + (h.failed ?? 0)}${h.budget_exhausted ? ` (+${h.budget_exhausted} over budget)` : ''}`;
  for (const run of [r.off, r.on]) {
    const name = run.label === 'on' ? 'hedging + outliers on' : 'hedging + outliers off';
    const line = (phase: string, x: PhaseStats, extra: string[]): void => {
      rows.push([phase, name, String(x.latencies.length + x.failed), String(x.failed), f0(p50(x)), f0(quantile(x.latencies, 0.95)), f0(p99(x)), f0(Math.max(...x.latencies)), ...extra, loadRange(x)]);
    };
    line('steady', run.steady, [f2(p99(run.steady) / run.steadyP99), '', hedgeCell(run.steadyHedges), `${run.steadyEjections} / ${run.steadyHolds}`]);
    const rt = ratio(run);
    line(`fault (SIGSTOP ${r.options.stallMs} ms/s)`, run.fault, [f2(rt), rt <= 2 ? 'met' : 'not met', hedgeCell(run.hedges), `${run.faultEjections} / ${run.faultHolds}`]);
    line('after', run.after, [f2(p99(run.after) / run.steadyP99), '', '', '']);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((x) => (x[c] ?? '').length)));
  const fmt = (x: string[]): string => `| ${x.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  const lines = [fmt(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(fmt)];
  const over = (run: ProxyRun): string => {
    const n = run.fault.latencies.filter((ms) => ms > 2 * run.steadyP99).length;
    return `${n} of ${run.fault.latencies.length} (${((100 * n) / run.fault.latencies.length).toFixed(1)}%)`;
  };
  lines.push(
    '',
    `steady p99 of both proxies together (the reference): ${f0(r.on.steadyP99)} ms over ${r.on.steady.latencies.length + r.off.steady.latencies.length} searches.`,
    ...[r.off, r.on].map((run) => `${run.label === 'on' ? 'on ' : 'off'} proxy, fault p99 / steady p99 per round (${r.options.requests / r.options.rounds} searches over 2 x ${r.options.requests / r.options.rounds} steady ones): ${run.roundRatios.map(f2).join(', ')}; median ${f2(roundRatio(run))}`),
    `fault-phase searches slower than 2 x the steady p99: off ${over(r.off)}, on ${over(r.on)}.`,
    `searches not sent because ${r.options.maxOutstanding} were in flight (the open loop saturated): ${[r.off, r.on].map((run) => `${run.label} ${run.steady.skipped + run.fault.skipped + run.after.skipped}`).join(', ')}.`,
    `querynode-${r.victim.serverID} stopped ${r.options.stallMs} ms of every second for ${r.cycles} cycles; open-loop load: 1 search / ${r.options.intervalMs} ms per proxy ` +
      `(both proxies at once), top 5, Eventually, no SDK retries; ${r.options.requests} searches per proxy and phase (after: ${r.options.afterRequests}).`,
    `on proxy: no query node out of routing ${r.returnedAfterS === undefined ? `still not ${r.options.returnTimeoutMs / 1000} s` : `${r.returnedAfterS.toFixed(1)} s`} after the fault ended; cluster up ${r.clusterUpS.toFixed(0)} s, setup ${r.setupS.toFixed(0)} s; ${os.cpus().length} cores.`,
  );
  return lines.join('\n');
}
